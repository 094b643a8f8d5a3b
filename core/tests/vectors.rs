//! The conformance cases of `tests/vectors/failover_order.json`, run through the pure function
//! and through the agent-driven client API.

use scoutlb::{Client, Config, ProbeKind, Ranking, Server, ServerList, failover_order};
use serde_json::Value;

fn servers(v: &Value) -> Option<Vec<Server>> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().parse().unwrap()).collect())
}

fn cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/failover_order.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

#[test]
fn vectors_pure_function() {
    let cases = cases();
    assert!(cases.len() >= 12);
    for case in cases {
        let list = servers(&case["list"]);
        let seeds = servers(&case["seeds"]).unwrap();
        let default = case["default"].as_str().map(|s| s.parse::<Server>().unwrap());
        let expected = servers(&case["expected"]).unwrap();
        let got = failover_order(list.as_deref(), &seeds, default.as_ref(), Ranking::List);
        assert_eq!(got, expected, "case {}", case["name"]);
    }
}

#[test]
fn vectors_through_the_client() {
    for case in cases() {
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
        if case["seeds"].as_array().unwrap().is_empty() {
            // No seeds configured means the one seed `ScoutSrv` (SPEC §1), named last.
            let mut with_first_contact = expected.clone();
            with_first_contact.push("scoutsrv:22123".parse().unwrap());
            assert_eq!(client.candidates(), with_first_contact, "case {name}");
        } else {
            assert_eq!(client.candidates(), expected, "case {name}");
        }
    }
}
