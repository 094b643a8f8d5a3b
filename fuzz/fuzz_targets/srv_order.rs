//! The RFC 2782 order of arbitrary SRV records: every record comes out exactly once, priorities
//! ascend, and the same random seed gives the same order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scoutlb::fuzzing::{SrvRecord, rfc2782_order};

fuzz_target!(|input: (u64, Vec<(u16, u16, u16)>)| {
    let (seed, raw) = input;
    // Distinct targets so that "exactly once" is checkable; the fields are the fuzzer's.
    let records: Vec<SrvRecord> = raw
        .iter()
        .enumerate()
        .map(|(i, &(priority, weight, port))| SrvRecord {
            priority,
            weight,
            port,
            target: format!("t{i}.example"),
        })
        .collect();
    let order = rfc2782_order(records.clone(), &mut fastrand::Rng::with_seed(seed));
    assert_eq!(order.len(), records.len());
    let mut seen = vec![false; records.len()];
    for r in &order {
        let i: usize = r.target[1..r.target.len() - ".example".len()].parse().unwrap();
        assert!(!seen[i], "{} twice", r.target);
        seen[i] = true;
        assert_eq!(r, &records[i], "a record was changed");
    }
    assert!(
        order.windows(2).all(|w| w[0].priority <= w[1].priority),
        "priorities out of order: {:?}",
        order.iter().map(|r| r.priority).collect::<Vec<_>>()
    );
    assert_eq!(rfc2782_order(records, &mut fastrand::Rng::with_seed(seed)), order);
});
