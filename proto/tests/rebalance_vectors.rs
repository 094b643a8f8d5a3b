//! Runs `tests/vectors/rebalance.json` on the pure rebalance decision (behaviour.md, "Rebalance").

use std::time::Duration;

use scoutlb_proto::rebalance::{Draws, RebalancePolicy, plan};
use scoutlb_proto::{Config, Server, ServerList};
use serde_json::{Value, json};

fn cases() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/rebalance.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

/// The `rebalance` key of a case over its defaults, read by the configuration's own reader.
fn policy(case: &Value) -> RebalancePolicy {
    let mut fields = case["rebalance"].as_object().cloned().unwrap_or_default();
    fields.insert("enabled".into(), true.into());
    Config::from_json(&json!({ "rebalance": fields }).to_string())
        .unwrap()
        .rebalance
}

#[test]
fn rebalance_vectors() {
    let cases = cases();
    assert!(cases.len() >= 12);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let list = ServerList::from_json(case["list"].to_string().as_bytes()).unwrap();
        let own: Server = case["own"].as_str().unwrap().parse().unwrap();
        let draws = Draws {
            pick: case["draws"][0].as_f64().unwrap(),
            when: case["draws"][1].as_f64().unwrap(),
        };
        let got = plan(&list, &own, case["device_id"].as_str(), &policy(&case), draws);
        let got = match got {
            Ok(p) => {
                assert_eq!(p.from, own, "{name}");
                json!({
                    "to": p.to.to_string(),
                    "after_ms": p.after.as_millis() as u64,
                    "window_ms": p.window.as_millis() as u64,
                })
            }
            Err(stay) => json!({ "stay": stay.name() }),
        };
        assert_eq!(got, case["expect"], "{name}");
        if let Some(window) = case["expect"]["window_ms"].as_u64() {
            assert!(window >= policy(&case).window.as_millis() as u64, "{name}");
            assert!(Duration::from_millis(window) >= Duration::ZERO);
        }
    }
}

#[test]
fn loads_too_large_for_any_window_plan_the_longest_window_instead_of_panicking() {
    // A lying server's loads: the deficit of d (all the weight, no load) is about 3 × 2⁶⁴
    // devices, whose window at 3/4 of 1 per second does not fit in a Duration.
    let max = u64::MAX;
    let list = ServerList::from_json(
        json!({"servers": [
            {"host": "a", "port": 1, "load": max},
            {"host": "b", "port": 1, "load": max},
            {"host": "c", "port": 1, "load": max},
            {"host": "d", "port": 1, "load": 0, "weight": scoutlb_proto::MAX_WEIGHT},
        ]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let own: Server = "a:1".parse().unwrap();
    let mut policy = RebalancePolicy::default();
    policy.enabled = true;
    policy.rate = 1;
    for when in [0.0, 0.5, 0.999_999, 1.0] {
        let p = plan(&list, &own, None, &policy, Draws { pick: 0.0, when }).expect("a planned move");
        assert_eq!(p.to.to_string(), "d:1");
        assert_eq!(p.window, scoutlb_proto::rebalance::MAX_WINDOW);
        assert!(p.after <= p.window);
    }
}
