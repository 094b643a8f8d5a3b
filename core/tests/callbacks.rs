//! Events callbacks that wait for another thread's call of the same client (behaviour.md,
//! Surfaces): no client lock is held while the callback runs, so the other call goes through.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use scoutlb::{Client, Config, Event, Server};

#[test]
fn a_callback_that_waits_for_another_threads_call_does_not_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::from_json(r#"{"servers": ["a:1", "b:2"], "probe": "none"}"#).unwrap();
    config.state_file = Some(dir.path().join("state.json"));
    let shared: Arc<OnceLock<Arc<Client>>> = Arc::new(OnceLock::new());
    let outcomes: Arc<Mutex<Vec<bool>>> = Arc::default();
    let (client_slot, seen) = (Arc::clone(&shared), Arc::clone(&outcomes));
    let sink = move |event: &Event| {
        let Event::DefaultChanged { new, .. } = event else {
            return;
        };
        if new.port() != 1 {
            return;
        }
        // Wait (bounded) for a read and a save of the same client on another thread.
        let client = Arc::clone(client_slot.get().expect("the client is set"));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let list = client.failover_order();
            let saved = client.report_success(&"b:2".parse::<Server>().unwrap()).is_ok();
            let _ = tx.send(!list.is_empty() && saved);
        });
        seen.lock()
            .unwrap()
            .push(rx.recv_timeout(Duration::from_secs(10)).unwrap_or(false));
    };
    let client = Arc::new(Client::builder(config).events(sink).build().unwrap());
    shared.set(Arc::clone(&client)).ok().unwrap();
    client.report_success(&"a:1".parse().unwrap()).unwrap();
    assert_eq!(
        *outcomes.lock().unwrap(),
        [true],
        "the other thread's calls waited for the callback"
    );
    // Both saves happened; the newer state (b:2, saved by the other thread) is the one on disk.
    assert_eq!(client.default_server(), Some("b:2".parse().unwrap()));
}
