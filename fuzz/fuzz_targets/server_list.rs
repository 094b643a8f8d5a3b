//! `ServerList::from_json` on arbitrary bytes: a list that parses is within the limits, has no
//! duplicate server, and re-serialises (`to_json`) into a body that parses to the same list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scoutlb::{MAX_ENTRIES, Server, ServerList};

fuzz_target!(|body: &[u8]| {
    let Ok(list) = ServerList::from_json(body) else { return };
    let entries = list.entries();
    assert!(
        !entries.is_empty() && entries.len() <= MAX_ENTRIES,
        "{} entries",
        entries.len()
    );
    for (i, e) in entries.iter().enumerate() {
        assert!(
            entries[..i].iter().all(|earlier| earlier.server != e.server),
            "duplicate {}",
            e.server
        );
        // The text form of every server parses back to it, whatever the default port.
        assert_eq!(Server::parse(&e.server.to_string(), 1).ok().as_ref(), Some(&e.server));
    }
    if let Some(s) = list.self_server() {
        assert!(
            entries
                .iter()
                .any(|e| &e.server == s && e.id.as_deref() == list.self_id())
        );
    }
    let again = serde_json::to_vec(&list.to_json()).expect("a JSON value serialises");
    match ServerList::from_json(&again) {
        Ok(reparsed) => assert_eq!(reparsed, list, "re-serialised as {}", String::from_utf8_lossy(&again)),
        Err(e) => panic!("re-serialised list {} is refused: {e}", String::from_utf8_lossy(&again)),
    }
});
