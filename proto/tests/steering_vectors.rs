//! The steering vectors (`tests/vectors/steering.json`): drain and refusal decided by the pure
//! `Device` and `Connect` on a simulated clock (behaviour.md, "Servers that steer devices").

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use scoutlb_proto::{Call, Config, Connect, Device, Draws, Effect, Error, Event, FailReason, Server, ServerList, Step};
use serde_json::{Value, json};

/// Run one call to its decision, answering each attempt as `answers` says; the servers tried,
/// and the events of the call.
fn run(connect: &mut Connect, answers: &Value, at: &str) -> (Vec<String>, Vec<Event>) {
    let mut tried = Vec::new();
    let mut events = Vec::new();
    let now = Duration::ZERO;
    while let Some(step) = connect.poll(now) {
        let (id, server) = match step {
            Step::Start { id, server, .. } => (id, server),
            Step::Emit(event) => {
                events.push(event);
                continue;
            }
            _ => continue,
        };
        let name = server.to_string();
        let answer = answers
            .get(&name)
            .unwrap_or_else(|| panic!("{at}: {name} must not be tried"));
        tried.push(name);
        match answer {
            Value::String(s) if s == "ok" => connect.succeeded(id, None, now),
            Value::Object(o) if o.contains_key("ok") => {
                let list = ServerList::from_json(o["ok"].as_str().unwrap().as_bytes()).unwrap();
                connect.succeeded(id, Some(list), now);
            }
            Value::String(s) if s == "down" => connect.failed(id, FailReason::Refused, now),
            Value::Object(o) if o.contains_key("drain") => {
                let secs = o["drain"].as_u64().unwrap();
                connect.failed(id, FailReason::Draining(Duration::from_secs(secs)), now);
            }
            Value::Object(o) if o.contains_key("refused") => {
                let reason = o["refused"].as_str().unwrap().to_string();
                connect.failed(id, FailReason::DeviceRefused(reason), now);
            }
            other => panic!("{at}: unknown answer {other}"),
        }
    }
    assert!(connect.is_decided(), "{at}: the call did not decide");
    (tried, events)
}

fn text(server: Option<&Server>) -> Value {
    server.map_or(Value::Null, |s| json!(s.to_string()))
}

#[test]
fn the_pure_device_steers_as_the_vectors_say() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/steering.json");
    let doc: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut config = case["config"].clone();
        config["attempt_delay_ms"] = json!(0);
        config["answer_delay_ms"] = json!(0);
        let config = Config::from_json(&config.to_string()).unwrap();
        let mut device = Device::new(&config, Default::default()).unwrap();
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let at = format!("{name}, step {i}");
            let expect = &step["expect"];
            let now = base + Duration::from_secs(step["at"].as_u64().unwrap());
            let call = match step["call"].as_str().unwrap() {
                "restart" => {
                    device = Device::new(&config, device.to_save().0).unwrap();
                    assert_eq!(text(device.state().default_server.as_ref()), expect["default"], "{at}");
                    continue;
                }
                "connect" => Call::Startup,
                "reconnect" => Call::Reconnect,
                other => panic!("{at}: unknown call {other}"),
            };
            let mut connect = device.start(call, now);
            let (tried, mut events) = run(&mut connect, &step["answers"], &at);
            let finished = device.finish(&connect, Draws { pick: 0.5, when: 0.5 });
            events.extend(finished.effects.iter().filter_map(|e| match e {
                Effect::Emit(event) => Some(event.clone()),
                _ => None,
            }));
            if let Some(want) = expect.get("events") {
                let got: Vec<&str> = events
                    .iter()
                    .map(Event::kind)
                    .filter(|k| k.starts_with("relocat"))
                    .collect();
                assert_eq!(json!(got), *want, "{at}: events");
            }
            assert_eq!(json!(tried), expect["tried"], "{at}: tried");
            let failed = match &finished.result {
                Ok(c) => c.failed.clone(),
                Err(Error::AllFailed(a)) => a.clone(),
                Err(_) => Vec::new(),
            };
            let failed: Vec<Value> = failed
                .iter()
                .map(|a| json!([a.server.to_string(), a.reason.kind()]))
                .collect();
            assert_eq!(
                json!(failed),
                expect.get("failed").cloned().unwrap_or(json!([])),
                "{at}: failed"
            );
            match (&finished.result, expect["result"].as_str().unwrap()) {
                (Ok(c), "connected") => assert_eq!(json!(c.server.to_string()), expect["server"], "{at}: server"),
                (Err(Error::AllFailed(_)), "all_failed") => {}
                (Err(Error::DeviceRefused { server, reason }), "device_refused") => {
                    assert_eq!(json!(server.to_string()), expect["refused_by"], "{at}");
                    assert_eq!(json!(reason), expect["reason"], "{at}");
                }
                (got, want) => panic!("{at}: want {want}, got {got:?}"),
            }
            assert_eq!(
                text(device.state().default_server.as_ref()),
                expect["default"],
                "{at}: default"
            );
        }
    }
}
