//! The signed-list vectors (`tests/vectors/signed_list.json`) run through the pure device at the
//! vector's `now`: verify, then the version, then what is saved (behaviour.md, "Signed lists").

use std::fs;
use std::path::Path;

use scoutlb_proto::{Config, Device, Draws, Effect, Event, Parsed, ServerList, State};
use serde_json::{Value, json};

#[test]
fn the_pure_device_takes_and_refuses_as_the_vectors_say() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/signed_list.json");
    let doc: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let now = humantime::parse_rfc3339(doc["now"].as_str().unwrap()).unwrap();
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let config = json!({"probe": "none", "list_keys": case["list_keys"], "state_file": "/nonexistent/state.json"});
        let config = Config::from_json(&config.to_string()).unwrap();
        let state = match &case["state"] {
            Value::Null => State::default(),
            v => State::from_json(v.to_string().as_bytes()).unwrap_or_else(|e: Parsed| panic!("{name}: {e:?}")),
        };
        let mut device = Device::new(&config, state).unwrap();
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let at = format!("{name}, step {i}");
            let expect = &step["expect"];
            let before = device.to_save();
            let list = ServerList::from_json(step["body"].as_str().unwrap().as_bytes()).map_err(Into::into);
            let (result, effects) = device.list_received(list, None, now);
            if expect["taken"].as_bool().unwrap() {
                result.unwrap_or_else(|e| panic!("{at}: {e}"));
                let state = device.state();
                let servers: Vec<String> = state
                    .list
                    .as_ref()
                    .unwrap()
                    .servers()
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                let adopted: Vec<String> = state.adopted_keys.iter().map(|k| k.to_base64()).collect();
                assert_eq!(json!(servers), expect["servers"], "{at}");
                assert_eq!(json!(state.list_version), expect["list_version"], "{at}");
                assert_eq!(json!(adopted), expect["adopted_keys"], "{at}");
            } else {
                let e = result.expect_err(&at);
                assert!(e.to_string().contains(expect["error"].as_str().unwrap()), "{at}: {e}");
                assert_eq!(device.to_save(), before, "{at}: a refused list changed the state");
                assert!(
                    !effects.contains(&Effect::Save),
                    "{at}: a refused list asked for a save"
                );
                assert!(
                    effects
                        .iter()
                        .any(|e| matches!(e, Effect::Emit(Event::ServerListRejected { .. }))),
                    "{at}: no server_list_rejected event"
                );
            }
        }
    }
}

/// Drive one connect call by hand: each server answers at once with the body `answer` gives.
fn run_connect(
    device: &mut Device,
    now: std::time::SystemTime,
    answer: impl Fn(&str) -> String,
) -> scoutlb_proto::Finished {
    use scoutlb_proto::{Call, Step};
    use std::time::Duration;
    let mut connect = device.start(Call::Startup, now);
    let t = Duration::ZERO;
    while let Some(step) = connect.poll(t) {
        match step {
            Step::Start { id, server, .. } => {
                let list = ServerList::from_json(answer(&server.to_string()).as_bytes()).unwrap();
                connect.succeeded(id, Some(list), t);
            }
            Step::Decided => break,
            _ => {}
        }
    }
    device.finish(&connect, Draws { pick: 0.5, when: 0.5 })
}

#[test]
fn a_server_whose_list_is_refused_fails_its_attempt_and_the_next_one_wins() {
    use scoutlb_proto::FailReason;
    let doc: Value = serde_json::from_str(
        &fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/signed_list.json")).unwrap(),
    )
    .unwrap();
    let now = humantime::parse_rfc3339(doc["now"].as_str().unwrap()).unwrap();
    // The first case's body is a valid list signed by A; the forged case's body is refused.
    let case = |n: &str| {
        doc["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"].as_str().unwrap().starts_with(n))
            .unwrap()
            .clone()
    };
    let good = case("a list signed")["steps"][0]["body"].as_str().unwrap().to_string();
    let forged = case("forged")["steps"][0]["body"].as_str().unwrap().to_string();
    let config = json!({"servers": ["10.1.0.1", "10.1.0.2"], "attempt_delay_ms": 0, "answer_delay_ms": 0,
                        "list_keys": [doc["keys"]["A"]], "state_file": "/nonexistent/state.json"});
    let config = Config::from_json(&config.to_string()).unwrap();
    let mut device = Device::new(&config, State::default()).unwrap();
    let finished = run_connect(&mut device, now, |s| {
        if s.starts_with("10.1.0.1") {
            forged.clone()
        } else {
            good.clone()
        }
    });
    let connected = finished.result.unwrap();
    assert_eq!(connected.reached.to_string(), "10.1.0.2:22123");
    assert_eq!(connected.failed.len(), 1);
    assert!(
        matches!(connected.failed[0].reason, FailReason::UntrustedList(_)),
        "{:?}",
        connected.failed
    );
    assert_eq!(connected.failed[0].reason.kind(), "untrusted_list");
    let problem = connected.list_problem.expect("list_problem");
    assert!(
        problem.contains("10.1.0.1") && problem.contains("does not verify"),
        "{problem}"
    );
    assert_eq!(device.state().list_version, Some(17));
    // Every server lies: the call fails, and nothing is taken.
    let mut device = Device::new(&config, State::default()).unwrap();
    let finished = run_connect(&mut device, now, |_| forged.clone());
    let e = finished.result.unwrap_err();
    assert!(e.attempts().iter().all(|a| a.reason.kind() == "untrusted_list"), "{e}");
    assert_eq!(device.state(), &State::default());
}
