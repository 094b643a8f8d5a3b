//! The start-up vectors (`tests/vectors/startup.json`, its `about` says what each field means), run
//! against the real client with a callback probe that answers as each step says.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scoutlb::{Client, Config, Event, FailReason, Probe, Reached, Server, ServerList};
use serde_json::{Value, json};

/// The answers of the current step, shared with the probe.
type Answers = Arc<Mutex<HashMap<String, Value>>>;

struct ScriptedProbe(Answers);

impl Probe for ScriptedProbe {
    fn probe(&self, server: &Server, _: Duration) -> Result<Reached, FailReason> {
        let answer = self.0.lock().unwrap().get(&server.to_string()).cloned();
        match answer {
            Some(Value::String(s)) if s == "ok" => Ok(Reached::default()),
            Some(Value::String(s)) => Err(FailReason::Callback(s)),
            Some(Value::Object(o)) => {
                let body = serde_json::to_vec(&o["list"]).unwrap();
                let list = ServerList::from_json(&body).map_err(|e| FailReason::InvalidList(e.0))?;
                Ok(Reached { list: Some(list) })
            }
            _ => Err(FailReason::Callback("not in the answers".into())),
        }
    }
}

fn event_text(e: &Event) -> Option<String> {
    let kind = e.kind();
    let server = match e {
        Event::DefaultChanged { new, .. } => Some(new.clone()),
        Event::ServerListUpdated { from, .. } | Event::ServerListRejected { from, .. } => from.clone(),
        Event::StateFileProblem { .. } | Event::BalancerResolved { .. } | Event::BalancerFailed { .. } => None,
        _ => return None,
    };
    Some(match server {
        Some(s) => format!("{kind} {s}"),
        None => kind.to_string(),
    })
}

/// The state file's `default_server` and `servers` as texts, or null when the file is missing.
fn state_summary(path: &Path) -> Value {
    let Ok(text) = fs::read(path) else { return Value::Null };
    let doc: Value = serde_json::from_slice(&text).unwrap();
    let server = |v: &Value| format!("{}:{}", v["host"].as_str().unwrap(), v["port"]);
    json!({
        "default_server": if doc["default_server"].is_null() { Value::Null } else { json!(server(&doc["default_server"])) },
        "servers": match doc["servers"].as_array() {
            None => Value::Null,
            Some(list) => json!(list.iter().map(server).collect::<Vec<_>>()),
        },
    })
}

fn run_case(case: &Value) {
    let name = case["name"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state_dir: PathBuf = dir.path().join("state");
    fs::create_dir(&state_dir).unwrap();
    let path = state_dir.join("scoutlb.json");
    if !case["state"].is_null() {
        fs::write(&path, serde_json::to_vec(&case["state"]).unwrap()).unwrap();
    }
    let mut config = case["config"].as_object().unwrap().clone();
    config.insert("probe".into(), json!("callback"));
    config.insert("attempt_delay_ms".into(), json!(0));
    config.insert("answer_delay_ms".into(), json!(0));
    config.insert("state_file".into(), json!(path.to_str().unwrap()));
    let answers: Answers = Arc::default();
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = Arc::clone(&events);
    let client = Client::builder(Config::from_json(&Value::Object(config).to_string()).unwrap())
        .probe(ScriptedProbe(Arc::clone(&answers)))
        .events(move |e: &Event| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let aside = dir.path().join("state.aside");
    for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
        let at = format!("{name}, step {i} ({})", step["call"]);
        let expect = &step["expect"];
        *answers.lock().unwrap() = step["answers"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        events.lock().unwrap().clear();
        let server_arg = || client.parse_server(step["server"].as_str().unwrap()).unwrap();
        let outcome: Result<Option<scoutlb::Connected>, scoutlb::Error> = match step["call"].as_str().unwrap() {
            "connect" => client.connect().map(Some),
            "reconnect" => client.reconnect().map(Some),
            "report_success" => client.report_success(&server_arg()).map(|()| None),
            "update_server_list" => {
                let from = step["from"].as_str().map(|s| client.parse_server(s).unwrap());
                let body = serde_json::to_vec(&step["body"]).unwrap();
                client.update_server_list_json(&body, from.as_ref()).map(|()| None)
            }
            "break_state_dir" => {
                fs::rename(&state_dir, &aside).unwrap();
                fs::write(&state_dir, b"not a folder").unwrap();
                Ok(None)
            }
            "repair_state_dir" => {
                fs::remove_file(&state_dir).unwrap();
                fs::rename(&aside, &state_dir).unwrap();
                Ok(None)
            }
            other => panic!("{at}: unknown call {other}"),
        };
        let result = match &outcome {
            Ok(Some(_)) => "connected",
            Ok(None) => "ok",
            Err(scoutlb::Error::AllFailed(_)) => "all_failed",
            Err(_) => "error",
        };
        assert_eq!(result, expect["result"].as_str().unwrap(), "{at}: {outcome:?}");
        let seen = events.lock().unwrap().clone();
        if let Some(want) = expect.get("tried") {
            let tried: Vec<String> = seen
                .iter()
                .filter_map(|e| match e {
                    Event::AttemptStarted { server } => Some(server.to_string()),
                    _ => None,
                })
                .collect();
            assert_eq!(json!(tried), *want, "{at}: tried");
        }
        if let Some(want) = expect.get("events") {
            let got: Vec<String> = seen.iter().filter_map(event_text).collect();
            assert_eq!(json!(got), *want, "{at}: events");
        }
        if let Ok(Some(c)) = &outcome {
            if let Some(want) = expect.get("server") {
                assert_eq!(json!(c.server.to_string()), *want, "{at}: server");
            }
            if let Some(want) = expect.get("via_balancer") {
                assert_eq!(json!(c.via_balancer), *want, "{at}: via_balancer");
            }
            if let Some(want) = expect.get("saved") {
                assert_eq!(json!(c.saved), *want, "{at}: saved ({:?})", c.save_error);
            }
        }
        if let (Some(want), Err(e)) = (expect.get("failed"), &outcome) {
            let got: Vec<Value> = e
                .attempts()
                .iter()
                .map(|a| json!([a.server.to_string(), a.reason.kind()]))
                .collect();
            assert_eq!(json!(got), *want, "{at}: failed");
        }
        if let Some(want) = expect.get("state_file") {
            assert_eq!(state_summary(&path), *want, "{at}: state file");
        }
    }
}

#[test]
fn startup_vectors() {
    let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/startup.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 10, "{} cases", cases.len());
    for case in cases {
        run_case(case);
    }
}
