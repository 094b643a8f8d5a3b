//! Cancelling calls and deadlines that hold (behaviour.md, "Cancel", "State file"): every phase a
//! call can wait in ends soon after a cancel, with `Error::Cancelled`; a held state-file lock
//! defers the save, not the connect; another thread's lookup never holds up a connect.
//!
//! The bounds asserted here are far above the 50 ms the contract promises (the machine is shared):
//! they tell "ends at the cancel" from "ends at its timeout". `benches/cancel.rs` measures the figures.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use scoutlb::{Client, Config, Error, Server};
use scoutlb_testkit::ports::silent_nameserver;
use scoutlb_testkit::{Behaviour, Recorder, TestServer, refused};

/// Generous bound on "soon after the cancel", far below every timeout of these tests (10 s and more).
const SOON: Duration = Duration::from_millis(1500);

fn config(json: &str) -> Config {
    Config::from_json(json).unwrap()
}

/// Run `call` on `client`, cancel it after `after`, and return its result and how long it took past the cancel.
fn cancel_after<T: Send + 'static>(
    client: &Arc<Client>,
    after: Duration,
    call: impl FnOnce(&Client) -> T + Send + 'static,
) -> (T, Duration) {
    let canceller = client.canceller();
    let c = Arc::clone(client);
    let worker = thread::spawn(move || {
        let out = call(&c);
        (out, Instant::now())
    });
    thread::sleep(after);
    let cancelled_at = Instant::now();
    canceller.cancel();
    let (out, ended) = worker.join().unwrap();
    (out, ended.saturating_duration_since(cancelled_at))
}

#[test]
fn a_connect_waiting_for_an_answer_ends_at_the_cancel() {
    let hung = TestServer::start(Behaviour::Silent);
    let client = Arc::new(
        Client::new(config(&format!(
            r#"{{"servers": ["{}"], "connect_timeout_ms": 20000, "answer_delay_ms": 0, "attempt_delay_ms": 0}}"#,
            hung.server()
        )))
        .unwrap(),
    );
    let (result, late) = cancel_after(&client, Duration::from_millis(300), |c| c.connect());
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert!(late < SOON, "ended {late:?} after the cancel");
    // Cancelled stays cancelled until reset: a later call is refused at once.
    assert!(matches!(client.reconnect(), Err(Error::Cancelled)));
    client.canceller().reset();
    assert!(!client.canceller().is_cancelled());
}

#[test]
fn a_connect_whose_callback_probe_hangs_ends_at_the_cancel() {
    let cfg = config(r#"{"servers": ["10.0.0.1:1"], "probe": "callback", "connect_timeout_ms": 20000}"#);
    let client = Arc::new(
        Client::builder(cfg)
            .probe(|_: &Server, _: Duration| -> Result<(), String> {
                thread::sleep(Duration::from_secs(5));
                Ok(())
            })
            .build()
            .unwrap(),
    );
    let (result, late) = cancel_after(&client, Duration::from_millis(200), |c| c.connect());
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert!(late < SOON, "ended {late:?} after the cancel");
}

#[test]
fn a_balancer_lookup_ends_at_the_cancel_in_connect_and_in_candidates() {
    let silent = silent_nameserver();
    let ns = silent.local_addr().unwrap();
    let json = format!(
        r#"{{"servers": ["10.0.0.1:1"], "probe": "callback", "manager_load_balancer": "srv:_scout._tcp.hang.test",
            "nameservers": ["{ns}"], "dns_timeout_ms": 20000, "attempt_delay_ms": 0, "connect_timeout_ms": 20000}}"#
    );
    let hang = |_: &Server, _: Duration| -> Result<(), String> {
        thread::sleep(Duration::from_secs(5));
        Err("hung".into())
    };
    let client = Arc::new(Client::builder(config(&json)).probe(hang).build().unwrap());
    let (result, late) = cancel_after(&client, Duration::from_millis(300), |c| c.connect());
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert!(late < SOON, "connect ended {late:?} after the cancel");

    let client = Arc::new(Client::builder(config(&json)).probe(hang).build().unwrap());
    let (candidates, late) = cancel_after(&client, Duration::from_millis(300), |c| c.candidates());
    assert!(late < SOON, "candidates ended {late:?} after the cancel");
    assert_eq!(
        candidates,
        client.failover_order(),
        "a given-up lookup leaves the failover order"
    );
}

#[test]
fn a_backoff_wait_ends_at_the_cancel_for_both_retrying_calls() {
    let dead = refused();
    let json = format!(r#"{{"servers": ["{dead}"], "probe": "tcp", "retry": {{"base_ms": 20000, "cap_ms": 20000}}}}"#);
    for reconnect in [false, true] {
        let client = Arc::new(Client::builder(config(&json)).seed(7).build().unwrap());
        let (result, late) = cancel_after(&client, Duration::from_millis(400), move |c| {
            if reconnect {
                c.reconnect_with_retry()
            } else {
                c.connect_with_retry()
            }
        });
        assert!(
            matches!(result, Err(Error::Cancelled)),
            "reconnect={reconnect}: {result:?}"
        );
        assert!(late < SOON, "reconnect={reconnect}: ended {late:?} after the cancel");
    }
}

#[test]
fn the_stop_of_a_retrying_call_is_asked_during_a_try() {
    let hung = TestServer::start(Behaviour::Silent);
    let client = Client::new(config(&format!(
        r#"{{"servers": ["{}"], "connect_timeout_ms": 20000, "answer_delay_ms": 0, "attempt_delay_ms": 0}}"#,
        hung.server()
    )))
    .unwrap();
    let start = Instant::now();
    let result = client.reconnect_with_retry_until(&|| start.elapsed() > Duration::from_millis(300));
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert!(
        start.elapsed() < Duration::from_millis(300) + SOON,
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn reconnect_with_retry_retries_the_failover_order_without_the_balancer() {
    let port = scoutlb_testkit::free_port();
    let balancer = refused();
    let rec = Recorder::default();
    let client = Client::builder(config(&format!(
        r#"{{"servers": ["127.0.0.1:{port}"], "probe": "tcp", "manager_load_balancer": "{balancer}",
            "retry": {{"base_ms": 50, "cap_ms": 100}}}}"#
    )))
    .events(rec.sink())
    .build()
    .unwrap();
    // The server comes up after a few tries.
    let up = thread::spawn(move || {
        thread::sleep(Duration::from_millis(400));
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap()
    });
    let connected = client.reconnect_with_retry().unwrap();
    let _listener = up.join().unwrap();
    assert_eq!(connected.server.port(), port);
    let tried: Vec<Server> = rec
        .kinds()
        .into_iter()
        .filter(|(k, _)| *k == "attempt_started")
        .filter_map(|(_, s)| s)
        .collect();
    assert!(tried.len() >= 2, "retried: {tried:?}");
    assert!(
        !tried.contains(&balancer),
        "a reconnect never tries the balancer: {tried:?}"
    );
}

#[test]
fn a_held_state_lock_defers_the_save_not_the_connect() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let live = TestServer::live("a");
    let rec = Recorder::default();
    let client = Client::builder(config(&format!(
        r#"{{"servers": ["{}"], "state_file": "{}", "deadline_ms": 20000}}"#,
        live.server(),
        path.display()
    )))
    .events(rec.sink())
    .build()
    .unwrap();
    // Another writer holds the lock (a process stopped mid-save, say).
    let mut held = scoutlb_testkit::LockHolder::hold(&dir.path().join("state.json.lock"));
    let start = Instant::now();
    let connected = client.connect().unwrap();
    let took = start.elapsed();
    assert!(!connected.saved, "the save cannot have been made under a held lock");
    assert!(
        connected
            .save_error
            .as_deref()
            .unwrap()
            .contains("held by another writer"),
        "{connected:?}"
    );
    assert!(took < scoutlb::STATE_LOCK_WAIT + SOON, "the connect waited {took:?}");
    assert!(rec.kinds().iter().any(|(k, _)| *k == "state_file_problem"));
    assert!(!path.exists(), "nothing was written");
    // The lock is released: the save is made at the next chance, though nothing changed.
    held.release();
    client.report_success(&live.server()).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&live.server().port().to_string()), "{text}");
}

#[test]
fn a_connect_keeps_its_deadline_while_another_thread_resolves_the_balancer() {
    let silent = silent_nameserver();
    let ns = silent.local_addr().unwrap();
    let live = TestServer::live("a");
    let client = Arc::new(
        Client::new(config(&format!(
            r#"{{"servers": ["{}"], "probe": "tcp", "manager_load_balancer": "srv:_scout._tcp.hang.test",
                "nameservers": ["{ns}"], "dns_timeout_ms": 5000, "deadline_ms": 1500, "attempt_delay_ms": 0}}"#,
            live.server()
        )))
        .unwrap(),
    );
    let c = Arc::clone(&client);
    let resolving = thread::spawn(move || c.candidates());
    thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    let result = client.connect();
    let took = start.elapsed();
    // attempt_delay 0: the failover order waits for the lookup until the deadline.
    assert!(
        took < Duration::from_millis(1500) + SOON,
        "connect took {took:?} with deadline_ms 1500"
    );
    assert!(
        result.is_err() || result.as_ref().unwrap().server == live.server(),
        "{result:?}"
    );
    resolving.join().unwrap();
}
