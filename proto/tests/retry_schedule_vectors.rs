//! The retry-schedule vectors (`tests/vectors/retry_schedule.json`) run through the pure
//! functions at the vector's `now` (behaviour.md, "All fail").

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use scoutlb_proto::{Config, Device, Effect, State};
use serde_json::{Value, json};

/// Tries after which a call that has not given up counts as retrying forever.
const FOREVER: u32 = 1000;

fn time(v: &Value) -> Option<SystemTime> {
    v.as_str().map(|t| humantime::parse_rfc3339(t).unwrap())
}

#[test]
fn the_pure_schedule_waits_and_gives_up_as_the_vectors_say() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/retry_schedule.json");
    let doc: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let now = time(&case["now"]).unwrap();
        let config = json!({"retry": case["retry"], "state_file": "/nonexistent/state.json"});
        let config = Config::from_json(&config.to_string()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let retry = &config.retry;
        let failing_since = time(&case["failing_since"]);
        for w in case["waits"].as_array().into_iter().flatten() {
            let (n, unit) = (w["n"].as_u64().unwrap() as u32, w["unit"].as_f64().unwrap());
            let ms = (retry.wait(n, unit).as_secs_f64() * 1000.0).round() as u64;
            assert_eq!(ms, w["ms"].as_u64().unwrap(), "{name}: wait {n} at {unit}");
        }
        if let Some(expected) = case.get("tries") {
            let mut tries = 1;
            while tries < FOREVER && retry.retries_again(tries, failing_since, now) {
                tries += 1;
            }
            let got = (tries < FOREVER).then_some(tries);
            assert_eq!(got.map(u64::from), expected.as_u64(), "{name}: tries");
        }
        // The device records the first failure in its state (and asks for a save) when it should.
        let state = State {
            failing_since,
            ..State::default()
        };
        let mut device = Device::new(&config, state).unwrap();
        let (_, effects) = device.try_failed(1, now);
        let records = case["records"].as_bool().unwrap();
        let expected = match failing_since {
            None if records => Some(now),
            other => other,
        };
        assert_eq!(device.state().failing_since, expected, "{name}: failing_since");
        assert_eq!(
            effects.contains(&Effect::Save),
            records && failing_since.is_none(),
            "{name}: save"
        );
        // A success ends the stretch.
        assert!(
            device
                .report_success(&"a.test:1".parse().unwrap())
                .contains(&Effect::Save)
        );
        assert_eq!(device.state().failing_since, None, "{name}: after a success");
    }
}
