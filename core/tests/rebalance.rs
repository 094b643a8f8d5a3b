//! behaviour.md, "Rebalance": a connect plans the move to a lighter server, `Client::rebalance`
//! makes it or reports why not, against loopback servers.

use scoutlb::{Client, Config, Error, Server};
use scoutlb_testkit::{Recorder, SteerServer};

/// A list of `a` (load 10, weight 1) and `b` (load 0, weight 1,000,000): a device on `a` moves to
/// `b` with probability 1 − 10⁻⁶ (its share is almost nothing).
fn lopsided(a: &Server, b: &Server) -> String {
    format!(
        r#"{{"servers": [{{"host": "{}", "port": {}, "id": "a", "load": 10}},
                         {{"host": "{}", "port": {}, "id": "b", "load": 0, "weight": 1000000}}], "self": "a"}}"#,
        a.host(),
        a.port(),
        b.host(),
        b.port()
    )
}

fn client(a: &Server, extra: &str, state: &std::path::Path) -> (Client, Recorder) {
    let config = Config::from_json(&format!(
        r#"{{"servers": ["{a}"], "attempt_delay_ms": 0, "connect_timeout_ms": 2000, "state_file": "{}"{extra}}}"#,
        state.display()
    ))
    .unwrap();
    let events = Recorder::default();
    let client = Client::builder(config).events(events.sink()).build().unwrap();
    (client, events)
}

const ON: &str = r#", "rebalance": {"enabled": true, "window_ms": 0, "rate": 1000}"#;

fn saved_default(state: &std::path::Path) -> String {
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    saved["default_server"]["port"].to_string()
}

#[test]
fn a_connect_plans_the_move_and_rebalance_makes_it() {
    let (a, b) = (SteerServer::live("a"), SteerServer::live("b"));
    let (sa, sb) = (a.server.server(), b.server.server());
    a.answer(200, &[], &lopsided(&sa, &sb));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (c, events) = client(&sa, ON, &state);
    let connected = c.connect().unwrap();
    assert_eq!(connected.server, sa);
    let plan = connected.rebalance.clone().expect("a planned move");
    assert_eq!((plan.from.clone(), plan.to.clone()), (sa.clone(), sb.clone()));
    // b's deficit (10 × 10⁶ / (10⁶ + 1), just under 10 arrivals) at 3/4 of 1000 per second: 13.33 ms.
    assert_eq!(plan.window.as_micros(), 13333);
    assert!(plan.after <= plan.window);
    assert_eq!(c.rebalance_plan(), Some(plan));
    // The load is not cached: the state file's list has none.
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(!saved.contains("\"load\""), "{saved}");
    assert!(saved.contains("\"weight\": 1000000"), "{saved}");

    let moved = c.rebalance().unwrap().expect("a move was planned");
    assert_eq!(moved.server, sb);
    assert_eq!(c.default_server(), Some(sb.clone()));
    assert_eq!(saved_default(&state), sb.port().to_string(), "saved");
    let kinds: Vec<&str> = events.kinds().into_iter().map(|(k, _)| k).collect();
    assert!(kinds.contains(&"rebalance_planned"), "{kinds:?}");
    assert!(kinds.contains(&"rebalanced"), "{kinds:?}");
    // b's own list names only itself: nothing lighter, nothing planned, nothing to do.
    assert_eq!(c.rebalance_plan(), None);
    assert!(c.rebalance().unwrap().is_none());
}

#[test]
fn a_failed_move_changes_nothing_and_is_reported() {
    let (a, b) = (SteerServer::live("a"), SteerServer::live("b"));
    let (sa, sb) = (a.server.server(), b.server.server());
    a.answer(200, &[], &lopsided(&sa, &sb));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (c, events) = client(&sa, ON, &state);
    assert!(c.connect().unwrap().rebalance.is_some());
    b.answer(503, &["Retry-After: 5"], "{}");
    match c.rebalance() {
        Err(Error::AllFailed(attempts)) => {
            assert_eq!(attempts.len(), 1);
            assert_eq!(attempts[0].server, sb);
            assert_eq!(attempts[0].reason.kind(), "draining");
        }
        other => panic!("expected the move to fail, got {other:?}"),
    }
    assert_eq!(c.default_server(), Some(sa.clone()), "the default stays");
    assert_eq!(saved_default(&state), sa.port().to_string(), "the state file too");
    let failed: Vec<_> = events
        .kinds()
        .into_iter()
        .filter(|(k, _)| *k == "rebalance_failed")
        .collect();
    assert_eq!(failed, vec![("rebalance_failed", Some(sb.clone()))]);
    // The plan is spent; the next connect decides afresh.
    assert!(c.rebalance().unwrap().is_none());
    assert!(c.connect().unwrap().rebalance.is_some());
}

#[test]
fn without_the_key_nothing_is_planned() {
    let (a, b) = (SteerServer::live("a"), SteerServer::live("b"));
    let (sa, sb) = (a.server.server(), b.server.server());
    a.answer(200, &[], &lopsided(&sa, &sb));
    let dir = tempfile::tempdir().unwrap();
    let (c, events) = client(&sa, "", &dir.path().join("state.json"));
    assert!(c.connect().unwrap().rebalance.is_none());
    assert!(c.rebalance().unwrap().is_none());
    assert!(!events.kinds().iter().any(|(k, _)| k.starts_with("rebalanc")));
    assert_eq!(b.requests().len(), 0);
}

#[test]
fn the_event_loop_makes_the_planned_move_as_rebalance_does() {
    let (a, b) = (SteerServer::live("a"), SteerServer::live("b"));
    let (sa, sb) = (a.server.server(), b.server.server());
    a.answer(200, &[], &lopsided(&sa, &sb));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let (c, events) = client(&sa, ON, &state);
    assert!(c.start_rebalance().unwrap().is_none(), "nothing planned yet");
    assert!(c.connect().unwrap().rebalance.is_some());
    let mut call = c.start_rebalance().unwrap().expect("a move was planned");
    call.wait();
    let moved = c.finish(call).unwrap();
    assert_eq!(moved.server, sb);
    assert_eq!(saved_default(&state), sb.port().to_string(), "saved");
    let kinds: Vec<&str> = events.kinds().into_iter().map(|(k, _)| k).collect();
    assert!(kinds.contains(&"rebalanced"), "{kinds:?}");
    // The plan is spent.
    assert!(c.start_rebalance().unwrap().is_none());
}
