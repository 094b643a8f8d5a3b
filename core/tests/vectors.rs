//! The conformance cases of `tests/vectors/`: the failover order and the seeds' bound in it
//! (through the pure function and the agent-driven client API), server addresses, server lists,
//! configuration errors and state files. The attempt race has its own runner (`race.rs`).

use scoutlb::{Client, Config, DEFAULT_PORT, Error, ProbeKind, Ranking, Server, ServerList, failover_order};
use serde_json::{Value, json};

fn vector_cases(file: &str) -> Vec<Value> {
    let path = format!("{}/../tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

fn servers(v: &Value) -> Option<Vec<Server>> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().parse().unwrap()).collect())
}

fn cases() -> Vec<Value> {
    vector_cases("failover_order.json")
}

/// The one seed of a device that configures none (behaviour.md, Words).
fn first_contact() -> Server {
    "scoutsrv:22123".parse().unwrap()
}

fn run_pure_function(cases: Vec<Value>) {
    for case in cases {
        let list = servers(&case["list"]);
        let mut seeds = servers(&case["seeds"]).unwrap();
        let default = case["default"].as_str().map(|s| s.parse::<Server>().unwrap());
        let expected = servers(&case["expected"]).unwrap();
        if seeds.is_empty() && expected.contains(&first_contact()) {
            seeds.push(first_contact());
        }
        let got = failover_order(list.as_deref(), &seeds, default.as_ref(), Ranking::List);
        assert_eq!(got, expected, "case {}", case["name"]);
    }
}

#[test]
fn vectors_pure_function() {
    let cases = cases();
    assert!(cases.len() >= 12);
    run_pure_function(cases);
}

#[test]
fn seed_reach_vectors_pure_function() {
    let cases = vector_cases("seed_reach.json");
    assert!(cases.len() >= 10);
    run_pure_function(cases);
}

#[test]
fn seed_reach_vectors_through_the_client() {
    run_through_the_client(vector_cases("seed_reach.json"));
}

#[test]
fn vectors_through_the_client() {
    run_through_the_client(cases());
}

fn run_through_the_client(cases: Vec<Value>) {
    for case in cases {
        let mut config = Config::default();
        config.servers = servers(&case["seeds"]).unwrap();
        config.probe = ProbeKind::None;
        let client = Client::new(config).unwrap();
        if let Some(list) = servers(&case["list"]) {
            client
                .update_server_list(ServerList::from_servers(list).unwrap(), None)
                .unwrap();
        }
        if let Some(d) = case["default"].as_str() {
            client.report_success(&d.parse().unwrap()).unwrap();
        }
        let expected = servers(&case["expected"]).unwrap();
        let name = case["name"].as_str().unwrap();
        if case["seeds"].as_array().unwrap().is_empty() && !expected.contains(&first_contact()) {
            // No seeds configured means the one seed `ScoutSrv` (behaviour.md, Words), named last.
            let mut with_first_contact = expected.clone();
            with_first_contact.push(first_contact());
            assert_eq!(client.candidates(), with_first_contact, "case {name}");
        } else {
            assert_eq!(client.candidates(), expected, "case {name}");
        }
    }
}

#[test]
fn server_address_vectors() {
    let cases = vector_cases("server_address.json");
    assert!(cases.len() >= 20);
    for case in cases {
        let input = case["input"].as_str().unwrap();
        let port = case["default_port"].as_u64().map_or(DEFAULT_PORT, |p| p as u16);
        match (Server::parse(input, port), case["canonical"].as_str()) {
            (Ok(server), Some(canonical)) => {
                assert_eq!(server.to_string(), canonical, "{input:?}");
                // The canonical text parses back to the same server.
                assert_eq!(Server::parse(canonical, 1).unwrap(), server, "{input:?}");
            }
            (Err(e), None) => {
                let want = case["error_contains"].as_str().unwrap();
                let e = Error::from(e);
                assert!(matches!(e, Error::InvalidServer { .. }), "{input:?}: {e:?}");
                assert!(e.to_string().contains(want), "{input:?}: {e} lacks {want:?}");
            }
            (got, _) => panic!("{input:?}: unexpected {got:?}"),
        }
    }
}

/// The body of a server-list case: its `body`, or the one its `generate` describes.
fn list_body(case: &Value) -> Vec<u8> {
    if let Some(body) = case["body"].as_str() {
        return body.as_bytes().to_vec();
    }
    let generate = &case["generate"];
    if let Some(n) = generate["entries"].as_u64() {
        let entries: Vec<String> = (0..n).map(|i| format!(r#"{{"host":"h{i}.test","port":1}}"#)).collect();
        return format!(r#"{{"servers":[{}]}}"#, entries.join(",")).into_bytes();
    }
    let n = generate["bytes"].as_u64().expect("a body, entries or bytes") as usize;
    let mut body = br#"{"servers":[{"host":"a.test","port":1}],"pad":""#.to_vec();
    body.resize(n - 2, b'x');
    body.extend_from_slice(b"\"}");
    body
}

#[test]
fn server_list_vectors() {
    let cases = vector_cases("server_list.json");
    assert!(cases.len() >= 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let body = list_body(&case);
        match (ServerList::from_json(&body), case["error_contains"].as_str()) {
            (Ok(list), None) => {
                let got: Vec<String> = list.servers().iter().map(Server::to_string).collect();
                match case["servers"].as_array() {
                    Some(want) => assert_eq!(got, *want, "{name}"),
                    None => assert_eq!(got.len() as u64, case["servers_count"].as_u64().unwrap(), "{name}"),
                }
                assert_eq!(
                    list.self_server().map(Server::to_string).as_deref(),
                    case["self"].as_str(),
                    "{name}"
                );
                assert_eq!(list.generation(), case["generation"].as_u64(), "{name}");
                if let Some(hints) = case["hints"].as_array() {
                    let got: Vec<Value> = list.entries().iter().map(|e| json!([e.weight, e.load])).collect();
                    assert_eq!(got, *hints, "{name}");
                    // A load is a snapshot: what is cached (and written) has none; the weight stays.
                    let cached = list.clone().without_snapshots();
                    assert!(cached.entries().iter().all(|e| e.load.is_none()), "{name}");
                    let again = ServerList::from_json(cached.to_json().to_string().as_bytes()).unwrap();
                    let weights: Vec<_> = again.entries().iter().map(|e| e.weight).collect();
                    assert_eq!(
                        weights,
                        list.entries().iter().map(|e| e.weight).collect::<Vec<_>>(),
                        "{name}"
                    );
                }
                if let Some(marks) = case["draining"].as_array() {
                    let got: Vec<Value> = list.entries().iter().map(|e| json!(e.draining)).collect();
                    assert_eq!(got, *marks, "{name}");
                    // A mark is a snapshot too: what is cached (and written) has none.
                    let cached =
                        ServerList::from_json(list.clone().without_snapshots().to_json().to_string().as_bytes());
                    assert!(cached.unwrap().entries().iter().all(|e| !e.draining), "{name}");
                    let written = list.to_json().to_string();
                    assert_eq!(
                        written.matches("\"draining\":true").count(),
                        marks.iter().filter(|m| m == &&json!(true)).count(),
                        "{name}"
                    );
                }
            }
            (Err(e), Some(want)) => {
                let e = Error::from(e);
                assert!(matches!(e, Error::InvalidServerList(_)), "{name}: {e:?}");
                assert!(e.to_string().contains(want), "{name}: {e} lacks {want:?}");
            }
            (got, _) => panic!("{name}: unexpected {:?}", got.map(|l| l.servers())),
        }
    }
}

#[test]
fn config_error_vectors() {
    let cases = vector_cases("config_errors.json");
    assert!(cases.len() >= 30);
    for case in cases {
        let text = match case["text"].as_str() {
            Some(text) => text.to_string(),
            None => case["config"].to_string(),
        };
        match (
            Config::from_json(&text),
            case["key"].as_str(),
            case["error_contains"].as_str(),
        ) {
            (Ok(_), None, None) => {}
            (Err(Error::Config { key, message }), Some(want), None) => {
                assert_eq!(key, want, "{text}: {message}");
            }
            (Err(e @ Error::ConfigJson(_)), None, Some(want)) => {
                assert!(e.to_string().contains(want), "{text}: {e} lacks {want:?}");
            }
            (got, _, _) => panic!("{text}: unexpected {got:?}"),
        }
    }
}

#[test]
fn state_file_vectors() {
    let cases = vector_cases("state_file.json");
    assert!(cases.len() >= 25);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let text = case["text"].as_str().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, text).unwrap();
        let mut config = Config::default();
        config.servers = vec!["seed.test:1".parse().unwrap()];
        config.probe = ProbeKind::None;
        config.state_file = Some(path.clone());
        let made = Client::new(config);
        let aside: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("state.json.corrupt-"))
            .collect();
        match (case["outcome"].as_str().unwrap(), made) {
            ("loaded", Ok(client)) => {
                let want = case["default_server"].as_str().map(|s| s.parse::<Server>().unwrap());
                assert_eq!(client.default_server(), want, "{name}");
                let list = servers(&case["servers"]).unwrap_or_default();
                assert_eq!(client.server_list(), list, "{name}");
                assert_eq!(client.state_dropped(), None, "{name}");
                assert!(aside.is_empty(), "{name}");
            }
            ("moved_aside", Ok(client)) => {
                assert_eq!(
                    client.candidates(),
                    vec!["seed.test:1".parse::<Server>().unwrap()],
                    "{name}"
                );
                assert!(client.state_dropped().is_some(), "{name}");
                assert!(!path.exists(), "{name}");
                assert_eq!(aside.len(), 1, "{name}");
                assert_eq!(std::fs::read(&aside[0]).unwrap(), text.as_bytes(), "{name}");
            }
            ("refused", Err(e @ Error::StateFormat { .. })) => {
                let want = case["error_contains"].as_str().unwrap();
                assert!(e.to_string().contains(want), "{name}: {e} lacks {want:?}");
                assert_eq!(std::fs::read(&path).unwrap(), text.as_bytes(), "{name}: touched");
                assert!(aside.is_empty(), "{name}");
            }
            (outcome, got) => panic!("{name}: expected {outcome}, got {got:?}"),
        }
    }
}
