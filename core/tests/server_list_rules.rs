//! Every rejection rule and limit of the wire format (behaviour.md), and the client keeping its cached list.

use scoutlb::{Client, Config, Event, ListError, MAX_BODY_BYTES, MAX_ENTRIES, ProbeKind, ServerList};
use std::sync::{Arc, Mutex};

fn rejected(body: &[u8]) -> String {
    match ServerList::from_json(body) {
        Err(ListError(m)) => m,
        other => panic!("{}: expected a refusal, got {other:?}", String::from_utf8_lossy(body)),
    }
}

fn entries(n: usize) -> String {
    (0..n)
        .map(|i| format!(r#"{{"host":"h{i}.corp","port":1}}"#))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn accepts_the_spec_example() {
    let l = ServerList::from_json(
        br#"{"servers": [{"host": "10.0.0.11", "port": 22123, "id": "srv-a"},
             {"host": "scout2.corp.example", "port": 22123, "id": "srv-b"}],
             "self": "srv-b", "generation": 17, "extra": {"ignored": true}}"#,
    )
    .unwrap();
    assert_eq!(l.servers().len(), 2);
    assert_eq!(l.self_server().unwrap().to_string(), "scout2.corp.example:22123");
    assert_eq!(l.generation(), Some(17));
    assert_eq!(ServerList::from_json(l.to_json().to_string().as_bytes()).unwrap(), l);
}

#[test]
fn rejection_rules() {
    assert!(rejected(b"not json").contains("not valid JSON"));
    assert!(rejected(b"\xff\xfe").contains("not valid JSON"));
    assert!(rejected(b"[]").contains("not a JSON object"));
    assert!(rejected(br#"{"server": []}"#).contains("no `servers`"));
    assert!(rejected(br#"{"servers": {}}"#).contains("not an array"));
    assert!(rejected(br#"{"servers": []}"#).contains("empty"));
    let too_many = format!(r#"{{"servers": [{}]}}"#, entries(MAX_ENTRIES + 1));
    assert!(rejected(too_many.as_bytes()).contains("more than the limit of 4096"));
    let long = format!(r#"{{"servers": [{{"host": "{}", "port": 1}}]}}"#, "a".repeat(254));
    assert!(rejected(long.as_bytes()).contains("longer than 253"));
    assert!(rejected(br#"{"servers": [{"host": "bad host", "port": 1}]}"#).contains("bad host"));
    assert!(rejected(br#"{"servers": [{"host": "a", "port": 0}]}"#).contains("outside 1-65535"));
    assert!(rejected(br#"{"servers": [{"host": "a", "port": 65536}]}"#).contains("outside 1-65535"));
    assert!(rejected(br#"{"servers": [{"host": "a", "port": "1"}]}"#).contains("`port`"));
    assert!(rejected(br#"{"servers": [{"port": 1}]}"#).contains("`host`"));
    assert!(rejected(br#"{"servers": [{"host": "a", "port": 1}], "self": 3}"#).contains("`self`"));
    assert!(rejected(br#"{"servers": [{"host": "a", "port": 1}], "generation": -1}"#).contains("`generation`"));
    let mut big = br#"{"servers": [{"host": "a", "port": 1}], "pad": ""#.to_vec();
    big.resize(MAX_BODY_BYTES + 1, b'x');
    big.extend_from_slice(b"\"}");
    assert!(rejected(&big).contains("exceeds the limit"));
}

#[test]
fn limits_are_inclusive_and_duplicates_keep_the_first() {
    let max = format!(r#"{{"servers": [{}]}}"#, entries(MAX_ENTRIES));
    assert_eq!(
        ServerList::from_json(max.as_bytes()).unwrap().servers().len(),
        MAX_ENTRIES
    );
    let host = format!(
        "{}.{}.{}.{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61)
    );
    assert_eq!(host.len(), 253);
    assert!(ServerList::from_json(format!(r#"{{"servers": [{{"host": "{host}", "port": 1}}]}}"#).as_bytes()).is_ok());
    let l = ServerList::from_json(
        br#"{"servers": [{"host": "A", "port": 1, "id": "first"}, {"host": "a", "port": 1, "id": "second"}]}"#,
    )
    .unwrap();
    assert_eq!(l.entries().len(), 1);
    assert_eq!(l.entries()[0].id.as_deref(), Some("first"));
}

#[test]
fn a_rejected_list_never_replaces_the_cached_one() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let mut config = Config::default();
    config.probe = ProbeKind::None;
    let client = Client::builder(config)
        .events(move |e: &Event| seen.lock().unwrap().push(e.kind()))
        .build()
        .unwrap();
    client
        .update_server_list_json(br#"{"servers": [{"host": "a", "port": 1}]}"#, None)
        .unwrap();
    for bad in [
        &b"garbage"[..],
        br#"{"servers": []}"#,
        br#"{"servers": [{"host": "a", "port": 0}]}"#,
    ] {
        assert!(client.update_server_list_json(bad, None).is_err());
        assert_eq!(client.server_list(), vec!["a:1".parse().unwrap()]);
    }
    let kinds = events.lock().unwrap().clone();
    assert_eq!(kinds.iter().filter(|k| **k == "server_list_rejected").count(), 3);
}

#[test]
fn server_text_in_messages_is_escaped_and_raw_in_typed_fields() {
    // A refused host is quoted in the message: escaped (behaviour.md, "Surfaces").
    let body = br#"{"servers": [{"host": "a\u001b[2J\r\nb\u202e", "port": 1}]}"#;
    let err = ServerList::from_json(body).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("a\\u{1b}[2J\\u{d}\\u{a}b\\u{202e}"), "{text}");
    assert!(!text.chars().any(scoutlb::is_unprintable), "{text:?}");
    // An accepted id keeps its raw value in the typed field.
    let list = ServerList::from_json(br#"{"servers": [{"host": "a", "port": 1, "id": "x\u001by"}]}"#).unwrap();
    assert_eq!(list.entries()[0].id.as_deref(), Some("x\u{1b}y"));
    let reason = scoutlb::FailReason::InvalidList("bad \u{7} bell".into());
    assert_eq!(reason.to_string(), "bad response: bad \\u{7} bell");
}
