//! The signed-list checks (`Trust::check`, behaviour.md "Signed lists") on arbitrary input, two
//! ways: the bytes as a whole answer (almost never signed right: the envelope parser), and the
//! bytes as a payload that the cluster's key signs (the payload parser behind a valid signature).
//! A list that passes is signed by a trusted key, not expired, not older than the saved one, within
//! the wire format's limits, and checking it again gives the same list.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use scoutlb::signed_list::envelope;
use scoutlb::{MAX_ENTRIES, ServerList, SigningKey, Trust};

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_seed(&[0xA1; 32]))
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let trust = Trust {
        keys: vec![key().public_key()],
        min_version: u64::from(mode >> 4),
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    };
    let body = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let answer =
            serde_json::json!({"servers": [{"host": "a.test", "port": 1}], "signed": envelope(rest, &[key()])});
        serde_json::to_vec(&answer).expect("a JSON value serialises")
    };
    let Ok(received) = ServerList::from_json(&body) else {
        return;
    };
    let Ok(list) = trust.check(&received) else { return };
    let proof = list.proof().expect("a checked list carries its proof");
    assert!(proof.signers.iter().all(|k| trust.keys.contains(k)) && !proof.signers.is_empty());
    assert!(proof.version >= trust.min_version && proof.expires >= trust.now);
    assert!(!list.entries().is_empty() && list.entries().len() <= MAX_ENTRIES);
    assert_eq!(list.generation(), Some(proof.version));
    assert_eq!(
        trust.check(&received).ok().as_ref(),
        Some(&list),
        "the check is deterministic"
    );
});
