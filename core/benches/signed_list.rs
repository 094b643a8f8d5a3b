//! What a signed list costs a device (behaviour.md, "Signed lists"): the time to take a list at
//! the 4,096-entry limit, signed against plain, and the Ed25519 check on its own.
//!
//! - a plain answer: `ServerList::from_json` (what every device does today);
//! - a signed answer: `ServerList::from_json` plus `Trust::check` (parse the plain fields, decode
//!   the envelope, verify, parse the payload, check expiry and version); then `Trust::check` of an
//!   answer already parsed; then its first step alone, `Trust::verify` (base64 and Ed25519).
//!
//! Target: verifying a list takes at most 1 ms. Run: `cargo bench -p scoutlb --bench signed_list`
//! (seconds). Prints medians over 201 runs, and the ratio signed / plain.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use scoutlb::{MAX_ENTRIES, Server, ServerEntry, ServerList, Signable, SigningKey, Trust};

const RUNS: usize = 201;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn time(f: &dyn Fn()) -> Duration {
    for _ in 0..10 {
        f();
    }
    median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let key = SigningKey::from_seed(&[0xA1; 32]);
    let entries = (0..MAX_ENTRIES)
        .map(|i| {
            ServerEntry::new(
                Server::new(&format!("scout{i}.site{}.corp.example", i % 17), 22123).unwrap(),
                Some(format!("srv-{i}")),
            )
        })
        .collect();
    let list = ServerList::new(entries, Some("srv-0".into()), Some(17)).unwrap();
    let now = SystemTime::now();
    let plain = serde_json::to_vec(&list.to_json()).unwrap();
    let signed = Signable {
        list: &list,
        version: 17,
        expires: now + Duration::from_secs(3600),
        next_keys: &[],
    }
    .answer(&[&key]);
    let signed = serde_json::to_vec(&signed).unwrap();
    let trust = Trust {
        keys: vec![key.public_key()],
        min_version: 17,
        now,
    };
    let taken = trust.check(&ServerList::from_json(&signed).unwrap()).unwrap();
    assert_eq!(taken.entries().len(), MAX_ENTRIES);

    let received = ServerList::from_json(&signed).unwrap();
    let plain_t = time(&|| {
        black_box(ServerList::from_json(black_box(&plain)).unwrap());
    });
    let signed_t = time(&|| {
        let received = ServerList::from_json(black_box(&signed)).unwrap();
        black_box(trust.check(&received).unwrap());
    });
    let check_t = time(&|| {
        black_box(trust.check(black_box(&received)).unwrap());
    });
    let verify_t = time(&|| {
        black_box(trust.verify(black_box(received.signed().unwrap())).unwrap());
    });
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "a list of {MAX_ENTRIES} entries: plain answer {} bytes, signed answer {} bytes (the list twice: plain fields and payload)",
        plain.len(),
        signed.len()
    );
    println!(
        "  take a plain answer (parse):                    median {:7.0} µs",
        us(plain_t)
    );
    println!(
        "  take a signed answer (parse, verify, check):    median {:7.0} µs  ({:.2} x plain)",
        us(signed_t),
        signed_t.as_secs_f64() / plain_t.as_secs_f64()
    );
    println!(
        "    of which the checks of a parsed answer:       median {:7.0} µs",
        us(check_t)
    );
    println!(
        "      of which the signature (base64, Ed25519):   median {:7.0} µs  (target: at most 1000 µs)",
        us(verify_t)
    );
}
