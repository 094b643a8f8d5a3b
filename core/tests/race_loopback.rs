//! The attempt race on loopback, with servers the test starts: a slow but working default keeps
//! the device and the next server gets no request; a default slower than `answer_delay`, an
//! unreachable one (SYNs dropped) and a hung one (accepts, never answers) lose it.

use std::thread;
use std::time::Duration;

use scoutlb::race::Stage;
use scoutlb::{Client, Config, Connected, FailReason, Server};
use scoutlb_testkit::{Behaviour, Recorder, TestServer, unreachable};

fn connect(servers: &[Server], extra: &str, rec: &Recorder) -> Connected {
    let list: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    let json = format!(
        r#"{{"servers": [{}]{}{extra}}}"#,
        list.join(","),
        if extra.is_empty() { "" } else { ", " }
    );
    let client = Client::builder(Config::from_json(&json).unwrap())
        .events(rec.sink())
        .build()
        .unwrap();
    client.connect().unwrap()
}

#[test]
fn a_default_answering_in_300_600_or_900_ms_keeps_the_device_and_the_next_server_gets_no_request() {
    let runs: Vec<_> = [300u64, 600, 900]
        .into_iter()
        .map(|ms| {
            thread::spawn(move || {
                let slow = TestServer::live_after("slow", Duration::from_millis(ms));
                let next = TestServer::live("next");
                let rec = Recorder::default();
                let c = connect(&[slow.server(), next.server()], "", &rec);
                (
                    ms,
                    c,
                    slow.server(),
                    next.hits.load(std::sync::atomic::Ordering::SeqCst),
                )
            })
        })
        .collect();
    for run in runs {
        let (ms, c, slow, next_hits) = run.join().unwrap();
        assert_eq!(c.server, slow, "a default answering in {ms} ms lost the device");
        assert!(c.failed.is_empty(), "{ms} ms: {:?}", c.failed);
        assert_eq!(
            next_hits, 0,
            "a default answering in {ms} ms cost the next server a request"
        );
    }
}

#[test]
fn a_default_slower_than_answer_delay_loses_the_device() {
    let slow = TestServer::live_after("slow", Duration::from_millis(1500));
    let next = TestServer::live("next");
    let rec = Recorder::default();
    let c = connect(&[slow.server(), next.server()], r#""answer_delay_ms": 300"#, &rec);
    assert_eq!(c.server, next.server());
    assert_eq!(c.failed.len(), 1, "{:?}", c.failed);
    assert_eq!(
        c.failed[0].reason,
        FailReason::OutOfPatience {
            stage: Stage::Answering,
            patience: Duration::from_millis(300)
        }
    );
    assert!(
        rec.kinds().contains(&("patience_ran_out", Some(slow.server()))),
        "{:?}",
        rec.kinds()
    );
}

#[test]
fn an_unreachable_default_loses_the_device_after_attempt_delay() {
    let (dropped, _guard) = unreachable();
    let next = TestServer::live("next");
    let rec = Recorder::default();
    let c = connect(&[dropped.clone(), next.server()], "", &rec);
    assert_eq!(c.server, next.server());
    assert_eq!(
        c.failed[0].reason,
        FailReason::OutOfPatience {
            stage: Stage::Connecting,
            patience: Duration::from_millis(250)
        }
    );
    let events = rec.events();
    let ran_out = events
        .iter()
        .find(|e| e.kind() == "patience_ran_out")
        .expect("a patience event");
    assert!(
        ran_out.to_string().contains("still connecting after 250 ms"),
        "{ran_out}"
    );
}

#[test]
fn a_hung_default_loses_the_device_after_answer_delay() {
    let hung = TestServer::start(Behaviour::Silent);
    let next = TestServer::live("next");
    let rec = Recorder::default();
    let c = connect(&[hung.server(), next.server()], r#""answer_delay_ms": 200"#, &rec);
    assert_eq!(c.server, next.server());
    assert_eq!(
        c.failed[0].reason,
        FailReason::OutOfPatience {
            stage: Stage::Answering,
            patience: Duration::from_millis(200)
        }
    );
}

#[test]
fn with_both_delays_zero_the_attempts_are_strictly_sequential() {
    // The hung default is waited for until its own timeout; the next server is tried only then.
    let hung = TestServer::start(Behaviour::Silent);
    let next = TestServer::live("next");
    let rec = Recorder::default();
    let extra = r#""attempt_delay_ms": 0, "answer_delay_ms": 0, "connect_timeout_ms": 400"#;
    let c = connect(&[hung.server(), next.server()], extra, &rec);
    assert_eq!(c.server, next.server());
    assert_eq!(c.failed[0].reason, FailReason::TimedOut(Duration::from_millis(400)));
    let kinds: Vec<&str> = rec.kinds().iter().map(|k| k.0).collect();
    assert!(!kinds.contains(&"patience_ran_out"), "{kinds:?}");
}
