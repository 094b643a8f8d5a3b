//! Cancel latency and deadline overrun (behaviour.md, "Cancel", "State file"), on loopback.
//!
//! - Cancel latency per phase: a call waits in one phase (the balancer's DNS with a silent name
//!   server, a callback probe still connecting, an http attempt whose server never answers, a
//!   backoff wait, a save waiting for a held state-file lock); another thread cancels at a random
//!   moment; the figure is the time from the cancel to the call's return. Target: at most 50 ms.
//! - Deadline overrun: 16 threads call `connect` on one client at once, against servers that never
//!   answer, with `deadline_ms` 500, while a 17th thread resolves the balancer through a silent name
//!   server and a held state-file lock makes every save wait; the figure is how far past 500 ms
//!   each call returned. Target: at most 50 ms.
//!
//! Run: `cargo bench -p scoutlb --bench cancel` (about a minute). Prints medians and maxima.

use std::cell::RefCell;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use scoutlb::{Client, Config, Error, Server};
use scoutlb_testkit::ports::silent_nameserver;
use scoutlb_testkit::{Behaviour, LockHolder, TestServer};

const RUNS: usize = 15;

fn client(json: &str) -> Client {
    Client::new(Config::from_json(json).unwrap()).unwrap()
}

fn hang(_: &Server, _: Duration) -> Result<(), String> {
    thread::sleep(Duration::from_secs(5));
    Err("hung".into())
}

/// Time from a cancel at a random moment 50-250 ms into `call` to its return, over RUNS runs.
fn latencies(make: &dyn Fn() -> Client, call: fn(&Client) -> bool) -> Vec<Duration> {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..RUNS)
        .map(|_| {
            let client = Arc::new(make());
            let c = Arc::clone(&client);
            let worker = thread::spawn(move || {
                let ended_by_cancel = call(&c);
                (ended_by_cancel, Instant::now())
            });
            thread::sleep(Duration::from_millis(rng.u64(50..250)));
            let at = Instant::now();
            client.canceller().cancel();
            let (by_cancel, ended) = worker.join().unwrap();
            assert!(by_cancel, "the call did not end as cancelled");
            ended.saturating_duration_since(at)
        })
        .collect()
}

fn cancelled(r: scoutlb::Result<scoutlb::Connected>) -> bool {
    matches!(r, Err(Error::Cancelled))
}

fn median_max(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(v[v.len() / 2]), ms(*v.last().unwrap()))
}

fn main() {
    let silent = silent_nameserver();
    let ns = silent.local_addr().unwrap();
    let hung = TestServer::start(Behaviour::Silent);
    let live = TestServer::live("a");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let lock = dir.path().join("state.json.lock");
    // Another process's lock (a writer stopped mid-save), taken after each client is made.
    let holder: RefCell<Option<LockHolder>> = RefCell::new(None);

    println!("cancel latency: time from the cancel to the call's return ({RUNS} runs each)");
    println!("{:<46} {:>10} {:>10}", "phase", "p50 ms", "max ms");
    let dns = format!(
        r#"{{"servers": ["10.0.0.1:1"], "probe": "callback", "manager_load_balancer": "srv:_scout._tcp.hang.test",
            "nameservers": ["{ns}"], "dns_timeout_ms": 20000, "attempt_delay_ms": 0}}"#
    );
    let rows: Vec<(&str, Vec<Duration>)> = vec![
        (
            "DNS (balancer lookup, silent name server)",
            latencies(
                &|| {
                    Client::builder(Config::from_json(&dns).unwrap())
                        .probe(hang)
                        .build()
                        .unwrap()
                },
                |c| cancelled(c.connect()),
            ),
        ),
        (
            "connecting (callback probe still running)",
            latencies(
                &|| {
                    Client::builder(
                        Config::from_json(
                            r#"{"servers": ["10.0.0.1:1"], "probe": "callback", "connect_timeout_ms": 20000}"#,
                        )
                        .unwrap(),
                    )
                    .probe(hang)
                    .build()
                    .unwrap()
                },
                |c| cancelled(c.connect()),
            ),
        ),
        (
            "answering (http server that never answers)",
            latencies(
                &|| {
                    client(&format!(
                        r#"{{"servers": ["{}"], "connect_timeout_ms": 20000, "attempt_delay_ms": 0, "answer_delay_ms": 0}}"#,
                        hung.server()
                    ))
                },
                |c| cancelled(c.connect()),
            ),
        ),
        (
            "backoff wait (connect_with_retry)",
            latencies(
                &|| {
                    client(&format!(
                        r#"{{"servers": ["{}"], "probe": "tcp", "retry": {{"base_ms": 20000, "cap_ms": 20000}}}}"#,
                        scoutlb_testkit::refused()
                    ))
                },
                |c| cancelled(c.connect_with_retry()),
            ),
        ),
        ("state lock held by another writer (a save)", {
            let v = latencies(
                // The client is made while the lock is free (creating one waits for it too), then
                // another writer takes it.
                &|| {
                    holder.borrow_mut().take();
                    let c = client(&format!(
                        r#"{{"servers": ["{}"], "state_file": "{}"}}"#,
                        live.server(),
                        state.display()
                    ));
                    *holder.borrow_mut() = Some(LockHolder::hold(&lock));
                    c
                },
                // The connection stands; the save is deferred at the cancel.
                |c| c.connect().is_ok_and(|c| !c.saved),
            );
            holder.borrow_mut().take();
            v
        }),
    ];
    for (phase, v) in rows {
        let (p50, max) = median_max(v);
        println!("{phase:<46} {p50:>10.1} {max:>10.1}");
    }

    println!();
    println!("deadline overrun: 16 threads call connect on one client at once (deadline_ms 500)");
    let shared = Arc::new(
        Client::new(
            Config::from_json(&format!(
                r#"{{"servers": ["{}"], "manager_load_balancer": "srv:_scout._tcp.hang.test", "nameservers": ["{ns}"],
                    "dns_timeout_ms": 5000, "deadline_ms": 500, "attempt_delay_ms": 100, "connect_timeout_ms": 3000,
                    "state_file": "{}"}}"#,
                hung.server(),
                state.display()
            ))
            .unwrap(),
        )
        .unwrap(),
    );
    let held = LockHolder::hold(&lock);
    let resolver = {
        let c = Arc::clone(&shared);
        thread::spawn(move || c.candidates())
    };
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let c = Arc::clone(&shared);
            thread::spawn(move || {
                (0..4)
                    .map(|_| {
                        let start = Instant::now();
                        let _ = c.connect();
                        start.elapsed().saturating_sub(Duration::from_millis(500))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let overruns: Vec<Duration> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    drop(held);
    let _ = resolver.join();
    let calls = overruns.len();
    let (p50, max) = median_max(overruns);
    println!("{:<46} {:>10} {:>10}", "calls", "p50 ms", "max ms");
    println!(
        "{:<46} {p50:>10.1} {max:>10.1}",
        format!("{calls} connects past their deadline")
    );
}
