//! behaviour.md, "Servers that steer devices": the device id header, drain with Retry-After, and
//! the refusal of a device, against loopback servers.

use std::time::{Duration, Instant};

use scoutlb::{Client, Config, Error, FailReason, Server};
use scoutlb_testkit::{Recorder, SteerServer, TestServer};

fn client(servers: &[&Server], extra: &str) -> (Client, Recorder) {
    let list: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    let config = Config::from_json(&format!(
        r#"{{"servers": [{}], "attempt_delay_ms": 0, "connect_timeout_ms": 2000{extra}}}"#,
        list.join(",")
    ))
    .unwrap();
    let events = Recorder::default();
    let client = Client::builder(config).events(events.sink()).build().unwrap();
    (client, events)
}

#[test]
fn the_device_id_is_sent_only_when_configured() {
    let a = SteerServer::live("a");
    client(&[&a.server.server()], r#", "device_id": "dev-7""#)
        .0
        .connect()
        .unwrap();
    client(&[&a.server.server()], "").0.connect().unwrap();
    let heads = a.requests();
    assert_eq!(heads.len(), 2);
    // HTTP header names are case-insensitive (ureq writes them in lower case).
    let header = format!("{}: dev-7\r\n", scoutlb::DEVICE_ID_HEADER).to_ascii_lowercase();
    assert!(heads[0].to_ascii_lowercase().contains(&header), "{}", heads[0]);
    assert!(
        !heads[1].to_ascii_lowercase().contains("scout-device-id"),
        "{}",
        heads[1]
    );
}

#[test]
fn a_draining_default_stays_the_default_and_is_tried_last_until_retry_after() {
    let (a, b) = (SteerServer::live("a"), SteerServer::live("b"));
    let (sa, sb) = (a.server.server(), b.server.server());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let extra = format!(r#", "state_file": "{}""#, state.display());
    let (c, _) = client(&[&sa, &sb], &extra);
    assert_eq!(c.connect().unwrap().server, sa);

    a.answer(503, &["Retry-After: 1"], "{}");
    let connected = c.reconnect().unwrap();
    assert_eq!(
        (connected.server.clone(), connected.reached.clone()),
        (sb.clone(), sb.clone())
    );
    assert_eq!(connected.failed[0].reason, FailReason::Draining(Duration::from_secs(1)));
    assert_eq!(connected.failed[0].reason.kind(), "draining");
    assert_eq!(c.default_server(), Some(sa.clone()), "the draining default stays");
    // Within its Retry-After the drained server comes last: B answers, A is not asked.
    let asked = a.requests().len();
    assert_eq!(c.reconnect().unwrap().server, sb);
    assert_eq!(a.requests().len(), asked);
    // A restarted device does not remember the drain (memory only) and asks A first again.
    let (restarted, _) = client(&[&sa, &sb], &extra);
    assert_eq!(restarted.default_server(), Some(sa.clone()));
    assert_eq!(restarted.connect().unwrap().server, sb);
    assert_eq!(a.requests().len(), asked + 1);

    // After the Retry-After, back to its own server.
    a.answer(200, &[], &scoutlb_testkit::list_body(&[(&sa, "a")], Some("a")));
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(c.reconnect().unwrap().server, sa);
}

#[test]
fn a_drain_without_a_usable_retry_after_lasts_30_seconds() {
    let (a, b) = (SteerServer::live("a"), TestServer::live("b"));
    for header in [&[][..], &["Retry-After: Wed, 21 Oct 2026 07:28:00 GMT"][..]] {
        a.answer(503, header, "");
        let (c, _) = client(&[&a.server.server(), &b.server()], "");
        let connected = c.connect().unwrap();
        assert_eq!(
            connected.failed[0].reason,
            FailReason::Draining(scoutlb::steer::DRAIN_DEFAULT)
        );
    }
}

#[test]
fn a_refused_device_tries_no_other_server_and_changes_nothing() {
    let (a, b) = (SteerServer::live("a"), TestServer::live("b"));
    let (sa, sb) = (a.server.server(), b.server());
    let (c, events) = client(&[&sa, &sb], r#", "device_id": "dev-9""#);
    a.answer(403, &[], r#"{"refused": "device dev-9 is not known\u001b[31m"}"#);
    let err = c.connect().unwrap_err();
    match &err {
        Error::DeviceRefused { server, reason } => {
            assert_eq!(server, &sa);
            assert_eq!(reason, "device dev-9 is not known\u{1b}[31m");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(err.kind(), scoutlb::ErrorKind::DeviceRefused);
    assert!(
        err.to_string().contains("refuses this device") && !err.to_string().contains('\u{1b}'),
        "{err}"
    );
    assert_eq!(b.hits.load(std::sync::atomic::Ordering::SeqCst), 0, "no failover to B");
    assert!(
        events
            .kinds()
            .iter()
            .any(|(k, s)| *k == "device_refused" && s.as_ref() == Some(&sa))
    );
    assert_eq!(c.default_server(), None);
    assert!(c.server_list().is_empty());

    // A 403 without the refusal body is an ordinary failure: the next server is tried.
    a.answer(403, &[], "forbidden");
    let connected = c.connect().unwrap();
    assert_eq!(connected.server, sb);
    assert_eq!(connected.failed[0].reason, FailReason::HttpStatus(403));
}

#[test]
fn a_retrying_call_waits_at_least_half_the_cap_after_a_refusal() {
    let a = SteerServer::live("a");
    a.answer(403, &[], r#"{"refused": "no"}"#);
    let retry = r#", "retry": {"base_ms": 1, "cap_ms": 300, "max_tries": 3}"#;
    let (c, _) = client(&[&a.server.server()], retry);
    let started = Instant::now();
    let err = c.connect_with_retry().unwrap_err();
    assert!(matches!(err, Error::DeviceRefused { .. }), "{err:?}");
    assert_eq!(a.requests().len(), 3, "max_tries counts refusals");
    // Two waits of at least cap / 2 each (a plain failure would wait about 1-2 ms).
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

/// A list body naming `servers` as ids a, b, c... with `self`, and a `relocate` field.
fn relocating(servers: &[&Server], self_id: &str, relocate: serde_json::Value) -> String {
    let entries: Vec<serde_json::Value> = servers
        .iter()
        .zip(["a", "b", "c"])
        .map(|(s, id)| serde_json::json!({"host": s.host(), "port": s.port(), "id": id}))
        .collect();
    serde_json::json!({"servers": entries, "self": self_id, "relocate": relocate}).to_string()
}

#[test]
fn an_online_relocation_survives_a_restart_in_the_state_file_and_moves_the_device() {
    let (a, b) = (SteerServer::live("a"), SteerServer::live("b"));
    let (sa, sb) = (a.server.server(), b.server.server());
    a.answer(200, &[], &relocating(&[&sa, &sb], "a", serde_json::json!({"to": "b"})));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let extra = format!(r#", "state_file": "{}""#, state.display());
    let (c, events) = client(&[&sa, &sb], &extra);
    assert_eq!(c.connect().unwrap().server, sa);
    assert!(
        events
            .kinds()
            .iter()
            .any(|(k, s)| *k == "relocation_pending" && s.as_ref() == Some(&sb))
    );
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["relocation"]["port"], sb.port(), "{saved}");
    drop(c);

    // The next start-up (a new client on the same state file) tries B first and stays there.
    let (c, events) = client(&[&sa, &sb], &extra);
    let asked = a.requests().len();
    let connected = c.connect().unwrap();
    assert_eq!(
        (connected.server.clone(), c.default_server()),
        (sb.clone(), Some(sb.clone()))
    );
    assert_eq!(a.requests().len(), asked, "A was not asked");
    assert!(events.kinds().iter().any(|(k, _)| *k == "relocated"));
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(saved.get("relocation").is_none(), "{saved}");
}

#[test]
fn an_offline_relocation_changes_the_default_and_an_outsider_is_never_followed() {
    let (a, b) = (SteerServer::live("a"), SteerServer::live("b"));
    let (sa, sb) = (a.server.server(), b.server.server());
    let (c, events) = client(&[&sa, &sb], "");
    a.answer(
        200,
        &[],
        &relocating(
            &[&sa, &sb],
            "a",
            serde_json::json!({"to": "127.0.0.1:1", "mode": "offline"}),
        ),
    );
    assert_eq!(c.connect().unwrap().server, sa);
    assert_eq!(c.default_server(), Some(sa.clone()));
    assert!(events.kinds().iter().any(|(k, _)| *k == "relocation_failed"));
    a.answer(
        200,
        &[],
        &relocating(&[&sa, &sb], "a", serde_json::json!({"to": "b", "mode": "offline"})),
    );
    assert_eq!(c.connect().unwrap().server, sa, "this connection stays where it is");
    assert_eq!(c.default_server(), Some(sb.clone()));
    assert_eq!(c.reconnect().unwrap().server, sb);
}

#[test]
fn the_wait_after_a_refusal_ends_at_a_cancel() {
    // The wait after a refusal is at least cap / 2 = 30 s; a stop ends it as any retry wait.
    let a = SteerServer::live("a");
    a.answer(403, &[], r#"{"refused": "no"}"#);
    let (c, _) = client(&[&a.server.server()], "");
    let started = Instant::now();
    let stop_at = started + Duration::from_millis(300);
    let err = c.connect_with_retry_until(&|| Instant::now() >= stop_at).unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert_eq!(a.requests().len(), 1, "stopped during the wait, before a second try");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

/// What the callback probe of the tests below answers for `a.example` (b.example always answers).
#[derive(Clone, Copy)]
enum Own {
    Up,
    Drains,
    Refuses,
}

/// What the probe answers for a.example, and the hosts it was asked about.
type Shared = std::sync::Arc<std::sync::Mutex<(Own, Vec<String>)>>;

/// A client whose `FnProbe` answers for `a.example` as `own` says and counts the calls per host.
fn own_protocol_client() -> (Client, Shared) {
    use std::sync::{Arc, Mutex};
    let shared = Arc::new(Mutex::new((Own::Up, Vec::new())));
    let seen = Arc::clone(&shared);
    let mut config = Config::from_json(r#"{"servers": ["a.example:1", "b.example:1"], "probe": "callback"}"#).unwrap();
    config.attempt_delay = Duration::ZERO;
    let probe = scoutlb::FnProbe(move |s: &Server, _: Duration| {
        let mut seen = seen.lock().unwrap();
        seen.1.push(s.host().to_string());
        match (s.host(), seen.0) {
            ("a.example", Own::Drains) => Err(FailReason::Draining(Duration::from_secs(7200))),
            ("a.example", Own::Refuses) => Err(FailReason::DeviceRefused("dev-9 is not known".into())),
            _ => Ok(()),
        }
    });
    (Client::builder(config).probe(probe).build().unwrap(), shared)
}

#[test]
fn a_callback_probe_that_drains_the_default_keeps_it_and_uses_the_next() {
    let (c, shared) = own_protocol_client();
    let a: Server = "a.example:1".parse().unwrap();
    assert_eq!(c.connect().unwrap().server, a);
    shared.lock().unwrap().0 = Own::Drains;
    let connected = c.reconnect().unwrap();
    assert_eq!(connected.server.host(), "b.example");
    // The reason keeps what the probe said; the drain it starts is capped at an hour (proto).
    assert_eq!(
        connected.failed[0].reason,
        FailReason::Draining(Duration::from_secs(7200))
    );
    assert_eq!(c.default_server(), Some(a.clone()), "the draining default stays");
    shared.lock().unwrap().1.clear();
    assert_eq!(c.reconnect().unwrap().server.host(), "b.example");
    assert_eq!(
        shared.lock().unwrap().1,
        ["b.example"],
        "the drained default comes last"
    );
}

#[test]
fn a_callback_probe_that_refuses_the_device_ends_the_call_without_failover() {
    let (c, shared) = own_protocol_client();
    shared.lock().unwrap().0 = Own::Refuses;
    match c.connect() {
        Err(Error::DeviceRefused { server, reason }) => {
            assert_eq!((server.host(), reason.as_str()), ("a.example", "dev-9 is not known"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(shared.lock().unwrap().1, ["a.example"], "no other server was asked");
    assert_eq!(c.default_server(), None);
}
