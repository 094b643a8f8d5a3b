//! The retry-schedule vectors (`tests/vectors/retry_schedule.json`) through a real client: a
//! probe that always fails counts the tries, the state file holds `failing_since` (behaviour.md,
//! "All fail", "State file").

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use scoutlb::{Client, Config, Error, Server};
use serde_json::{Value, json};

/// A call still retrying after this many tries is stopped: it counts as never giving up.
const BOUND: u32 = 20;

fn time(v: &Value) -> Option<SystemTime> {
    v.as_str().map(|t| humantime::parse_rfc3339(t).unwrap())
}

#[test]
fn a_client_makes_the_tries_of_the_vectors_and_records_the_failure() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/retry_schedule.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for case in doc["cases"].as_array().unwrap() {
        let Some(expected) = case.get("tries") else { continue };
        let name = case["name"].as_str().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let state_path = dir.path().join("state.json");
        let now = time(&case["now"]).unwrap();
        // The vector's failing_since, as far before the real now as before the vector's.
        let since = time(&case["failing_since"]).map(|t| match now.duration_since(t) {
            Ok(ago) => SystemTime::now() - ago,
            Err(ahead) => SystemTime::now() + ahead.duration(),
        });
        if let Some(t) = since {
            let text = json!({"format": 1, "failing_since": humantime::format_rfc3339_millis(t).to_string()});
            std::fs::write(&state_path, text.to_string()).unwrap();
        }
        let mut retry = case["retry"].clone();
        for fast in ["timer_ms", "base_ms", "cap_ms"] {
            retry[fast] = 1.into();
        }
        let config = json!({"servers": ["a.test:1"], "probe": "callback", "retry": retry,
                            "state_file": state_path});
        let tries = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&tries);
        let client = Client::builder(Config::from_json(&config.to_string()).unwrap())
            .probe(move |_: &Server, _: Duration| -> Result<(), String> {
                counted.fetch_add(1, Ordering::SeqCst);
                Err("down".into())
            })
            .build()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let result = client.connect_with_retry_until(&|| tries.load(Ordering::SeqCst) >= BOUND);
        let made = tries.load(Ordering::SeqCst);
        match expected.as_u64() {
            Some(n) => {
                assert!(matches!(result, Err(Error::AllFailed(_))), "{name}: {result:?}");
                assert_eq!(u64::from(made), n, "{name}: tries");
            }
            None => {
                assert!(matches!(result, Err(Error::Cancelled)), "{name}: {result:?}");
                assert!(made >= BOUND, "{name}: {made} tries");
            }
        }
        let file = std::fs::read_to_string(&state_path).ok();
        let recorded = file
            .as_deref()
            .map(|t| serde_json::from_str::<Value>(t).unwrap()["failing_since"].clone())
            .and_then(|v| time(&v));
        match (since, case["records"].as_bool().unwrap()) {
            (Some(t), _) => assert_eq!(
                recorded.map(humantime::format_rfc3339_millis).map(|t| t.to_string()),
                Some(humantime::format_rfc3339_millis(t).to_string()),
                "{name}: a recorded failure stays"
            ),
            (None, true) => assert!(recorded.is_some(), "{name}: the first failure is recorded"),
            (None, false) => assert_eq!(recorded, None, "{name}: nothing recorded"),
        }
    }
}

#[test]
fn a_success_removes_failing_since_from_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(&path, r#"{"format": 1, "failing_since": "2026-01-01T00:00:00.000Z"}"#).unwrap();
    let config = json!({"servers": ["a.test:1"], "probe": "none", "state_file": path,
                        "retry": {"profile": "handshake", "permanent_after_days": 1}});
    let client = Client::new(Config::from_json(&config.to_string()).unwrap()).unwrap();
    client.report_success(&"a.test:1".parse().unwrap()).unwrap();
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc.get("failing_since"), None, "{doc}");
    assert_eq!(doc["format"], 1);
}
