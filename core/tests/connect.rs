//! Connecting on loopback (behaviour.md, "Probes"): probes, staggered attempts, errors, events, retry, list refresh.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use scoutlb::race::Stage;
use scoutlb::{Client, Config, Error, FailReason, ProbeKind, Server, TlsFailureKind};
use scoutlb_testkit::{Behaviour, Recorder, TestPki, TestServer, list_body, refused};

fn config(servers: &[Server], extra: &str) -> Config {
    let list: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    let sep = if extra.is_empty() { "" } else { "," };
    Config::from_json(&format!(r#"{{"servers": [{}]{sep}{extra}}}"#, list.join(","))).unwrap()
}

fn reasons(err: &Error) -> Vec<(Server, &'static str)> {
    err.attempts()
        .iter()
        .map(|a| (a.server.clone(), a.reason.kind()))
        .collect()
}

#[test]
fn http_probe_reaches_a_live_server_and_caches_its_list() {
    let live = TestServer::live("srv-a");
    let client = Client::new(config(&[live.server()], "")).unwrap();
    let c = client.connect().unwrap();
    assert_eq!(c.server, live.server());
    assert!(c.failed.is_empty() && !c.via_balancer);
    assert_eq!(client.default_server(), Some(live.server()));
    assert_eq!(client.server_list(), vec![live.server()]);
}

#[test]
fn refused_moves_on_at_once_and_the_next_becomes_the_default() {
    let (dead, live) = (refused(), TestServer::live("b"));
    let rec = Recorder::default();
    // A long stagger delay: only a refusal, not the delay, can start the second attempt early.
    let client = Client::builder(config(&[dead.clone(), live.server()], r#""attempt_delay_ms": 5000"#))
        .events(rec.sink())
        .build()
        .unwrap();
    let start = Instant::now();
    let c = client.connect().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "a refusal must not wait for the stagger delay"
    );
    assert_eq!(c.server, live.server());
    assert_eq!(c.failed.len(), 1);
    assert_eq!(c.failed[0].reason, FailReason::Refused);
    let kinds: Vec<&str> = rec.kinds().iter().map(|k| k.0).collect();
    assert_eq!(
        kinds,
        [
            "attempt_started",
            "attempt_failed",
            "attempt_started",
            "attempt_succeeded",
            "default_changed",
            "server_list_updated"
        ]
    );
}

#[test]
fn every_failure_is_named_in_one_error() {
    let pki = TestPki::new();
    let dead = refused();
    let servers = [
        TestServer::start(Behaviour::Garbage),
        TestServer::start(Behaviour::Status(500)),
        TestServer::start(Behaviour::Oversized),
        TestServer::start(Behaviour::Silent),
        TestServer::start(Behaviour::Drip),
        TestServer::start_tls(Behaviour::Garbage, Some(pki.server_config.clone())),
    ];
    let list: Vec<Server> = std::iter::once(dead)
        .chain(servers.iter().map(TestServer::server))
        .collect();
    let client = Client::new(config(&list, r#""connect_timeout_ms": 800, "attempt_delay_ms": 0"#)).unwrap();
    let err = client.connect().unwrap_err();
    let kinds: Vec<&str> = reasons(&err).iter().map(|r| r.1).collect();
    // The TLS server speaks TLS to a plain HTTP request: a bad response, not a success.
    assert_eq!(
        kinds,
        [
            "refused",
            "invalid_list",
            "http_status",
            "invalid_list",
            "timed_out",
            "timed_out",
            "io"
        ][..kinds.len()]
    );
    assert_eq!(kinds.len(), 7);
    let text = err.to_string();
    assert!(text.contains("7 tried"), "{text}");
    assert!(text.contains(&format!("{}: connection refused", list[0])), "{text}");
    assert!(text.contains("HTTP status 500"), "{text}");
    assert!(text.contains("exceeds the limit"), "{text}");
    assert!(text.contains("timed out after 800 ms"), "{text}");
    assert_eq!(client.default_server(), None, "nothing connected, nothing changed");
}

#[test]
fn garbage_does_not_cost_the_cached_list() {
    let live = TestServer::live("a");
    let bad = TestServer::start(Behaviour::Garbage);
    let client = Client::new(config(&[live.server(), bad.server()], r#""attempt_delay_ms": 0"#)).unwrap();
    client.connect().unwrap();
    let cached = client.server_list();
    client.report_success(&bad.server()).unwrap();
    // The default now answers garbage: the live one is reached, the cached list survives the garbage.
    let c = client.reconnect().unwrap();
    assert_eq!(c.failed[0].reason.kind(), "invalid_list");
    assert_eq!(client.server_list(), cached);
}

#[test]
fn https_verifies_against_the_configured_ca() {
    let pki = TestPki::new();
    let tls = TestServer::live_tls("t", &pki);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let extra = format!(
        r#""scheme": "https", "ca_file": "{}", "connect_timeout_ms": 2000"#,
        ca.display()
    );
    let client = Client::new(config(&[tls.server()], &extra)).unwrap();
    assert_eq!(client.connect().unwrap().server, tls.server());

    // Another CA: the certificate is not trusted.
    let other = TestPki::new();
    std::fs::write(&ca, &other.ca_pem).unwrap();
    let client = Client::new(config(&[tls.server()], &extra)).unwrap();
    let err = client.connect().unwrap_err();
    assert_eq!(reasons(&err)[0].1, "tls", "{err}");
    assert!(err.to_string().contains("TLS"), "{err}");
    assert_eq!(tls_kind(&err), TlsFailureKind::UnknownIssuer, "{err}");

    // The system roots do not know the test CA either.
    let client = Client::new(config(
        &[tls.server()],
        r#""scheme": "https", "connect_timeout_ms": 2000"#,
    ))
    .unwrap();
    let err = client.connect().unwrap_err();
    assert_eq!(reasons(&err)[0].1, "tls");
    assert_eq!(tls_kind(&err), TlsFailureKind::UnknownIssuer, "{err}");
}

/// The kind of the TLS failure of the first attempt.
fn tls_kind(err: &Error) -> TlsFailureKind {
    match &err.attempts()[0].reason {
        FailReason::Tls(t) => t.kind,
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

#[test]
fn tls_failures_keep_their_kind() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let https = |server: Server| {
        let extra = format!(
            r#""scheme": "https", "ca_file": "{}", "connect_timeout_ms": 2000"#,
            ca.display()
        );
        Client::new(config(&[server], &extra)).unwrap().connect().unwrap_err()
    };
    let cases = [
        (TestPki::for_names(&["scout.example"]), TlsFailureKind::WrongName),
        (TestPki::expired(), TlsFailureKind::Expired),
    ];
    for (pki, kind) in cases {
        std::fs::write(&ca, &pki.ca_pem).unwrap();
        let tls = TestServer::start_tls(Behaviour::Status(200), Some(pki.server_config.clone()));
        let err = https(tls.server());
        assert_eq!(tls_kind(&err), kind, "{err}");
        let FailReason::Tls(failure) = &err.attempts()[0].reason else {
            unreachable!()
        };
        assert!(err.to_string().contains(&failure.detail), "{err}");
    }
    // A port that answers plain HTTP at once where TLS was expected.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let plain = std::thread::spawn(move || {
        use std::io::Write;
        let (mut stream, _) = listener.accept().unwrap();
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    let err = https(Server::new("127.0.0.1", port).unwrap());
    plain.join().unwrap();
    assert_eq!(tls_kind(&err), TlsFailureKind::Handshake, "{err}");
    assert_eq!(TlsFailureKind::Handshake.name(), "handshake");
}

#[test]
fn a_bad_ca_file_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    for path in [ca.clone(), dir.path().join("missing.pem")] {
        let c = config(
            &[refused()],
            &format!(r#""scheme": "https", "ca_file": "{}""#, path.display()),
        );
        match Client::new(c) {
            Err(Error::Config { key, .. }) => assert_eq!(key, "ca_file"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn redirects_are_not_followed() {
    let r = TestServer::start(Behaviour::Status(302));
    let err = Client::new(config(&[r.server()], "")).unwrap().connect().unwrap_err();
    assert_eq!(reasons(&err)[0].1, "http_status");
}

#[test]
fn a_slow_candidate_is_overtaken_and_its_late_answer_never_reported() {
    let silent = TestServer::start(Behaviour::Silent);
    let live = TestServer::live("b");
    let rec = Recorder::default();
    let extra = r#""attempt_delay_ms": 100, "answer_delay_ms": 100, "connect_timeout_ms": 600"#;
    let client = Client::builder(config(&[silent.server(), live.server()], extra))
        .events(rec.sink())
        .build()
        .unwrap();
    let c = client.connect().unwrap();
    assert_eq!(c.server, live.server());
    // The abandoned attempt is not a failure: it is named as one that ran out of patience.
    assert_eq!(c.failed.len(), 1, "{:?}", c.failed);
    assert_eq!(c.failed[0].server, silent.server());
    assert_eq!(
        c.failed[0].reason,
        FailReason::OutOfPatience {
            stage: Stage::Answering,
            patience: Duration::from_millis(100)
        }
    );
    std::thread::sleep(Duration::from_millis(900)); // past the silent attempt's own timeout
    let kinds = rec.kinds();
    assert!(
        kinds.iter().all(|(k, s)| !(k.starts_with("attempt_")
            && *k != "attempt_started"
            && s.as_ref() == Some(&silent.server()))),
        "{kinds:?}"
    );
    assert_eq!(client.default_server(), Some(live.server()));
}

#[test]
fn abandoned_attempts_end_within_their_timeout() {
    let running = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&running);
    let probe = move |s: &Server, timeout: Duration| -> Result<(), String> {
        r.fetch_add(1, Ordering::SeqCst);
        let slow = s.host() == "slow.test";
        if slow {
            std::thread::sleep(timeout);
        }
        r.fetch_sub(1, Ordering::SeqCst);
        if slow { Err("too slow".into()) } else { Ok(()) }
    };
    let mut cfg = Config::from_json(r#"{"servers": ["slow.test", "slow.test:2", "fast.test"], "probe": "callback", "attempt_delay_ms": 50, "connect_timeout_ms": 400}"#).unwrap();
    cfg.probe = ProbeKind::Callback;
    let client = Client::builder(cfg).probe(probe).build().unwrap();
    let c = client.connect().unwrap();
    assert_eq!(c.server.host(), "fast.test");
    assert!(
        running.load(Ordering::SeqCst) >= 1,
        "slow attempts still running right after the win"
    );
    let until = Instant::now() + Duration::from_millis(1500);
    while running.load(Ordering::SeqCst) > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        running.load(Ordering::SeqCst),
        0,
        "abandoned attempts outlived their timeout"
    );
}

#[test]
fn the_deadline_bounds_the_call() {
    let silent: Vec<TestServer> = (0..3).map(|_| TestServer::start(Behaviour::Silent)).collect();
    let list: Vec<Server> = silent.iter().map(TestServer::server).collect();
    let client = Client::new(config(
        &list,
        r#""deadline_ms": 300, "connect_timeout_ms": 5000, "attempt_delay_ms": 0"#,
    ))
    .unwrap();
    let start = Instant::now();
    let err = client.connect().unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "returned after {:?}",
        start.elapsed()
    );
    let kinds: Vec<&str> = reasons(&err).iter().map(|r| r.1).collect();
    assert_eq!(kinds.len(), 3, "every candidate is named: {err}");
    assert!(kinds.iter().all(|k| *k == "timed_out" || *k == "deadline"), "{kinds:?}");
}

#[test]
fn callback_probe_messages_are_kept() {
    let mut cfg = config(
        &["a:1".parse().unwrap(), "b:1".parse().unwrap()],
        r#""probe": "callback""#,
    );
    cfg.attempt_delay = Duration::ZERO;
    let client = Client::builder(cfg)
        .probe(|s: &Server, _: Duration| {
            if s.host() == "b" {
                Ok(())
            } else {
                Err(format!("{} said no", s.host()))
            }
        })
        .build()
        .unwrap();
    let c = client.connect().unwrap();
    assert_eq!(c.server.host(), "b");
    assert_eq!(c.failed[0].reason, FailReason::Callback("a said no".into()));
    assert!(matches!(
        Client::new(config(&[], r#""probe": "callback""#)),
        Err(Error::Config { .. })
    ));
    // A callback with another probe kind is a contradiction, not a silent override.
    let given = Client::builder(config(&[], r#""probe": "tcp""#))
        .probe(|_: &Server, _: Duration| Ok(()))
        .build();
    assert!(matches!(given, Err(Error::Config { key, .. }) if key == "probe"));
}

#[test]
fn tcp_probe_accepts_any_listener() {
    let silent = TestServer::start(Behaviour::Silent);
    let client = Client::new(config(&[refused(), silent.server()], r#""probe": "tcp""#)).unwrap();
    let c = client.connect().unwrap();
    assert_eq!(c.server, silent.server());
    assert_eq!(client.server_list(), Vec::<Server>::new(), "tcp fetches no list");
}

#[test]
fn probe_none_refuses_connect_but_serves_the_agent() {
    let client = Client::new(config(&["a:1".parse().unwrap()], r#""probe": "none""#)).unwrap();
    assert!(matches!(client.connect(), Err(Error::Unsupported(_))));
    assert_eq!(client.candidates(), vec!["a:1".parse().unwrap()]);
}

#[test]
fn connection_lost_retries_the_default_then_the_next() {
    let (a, b) = (TestServer::live("a"), TestServer::live("b"));
    let both = list_body(&[(&a.server(), "a"), (&b.server(), "b")], Some("a"));
    a.set_body(both.clone());
    let client = Client::new(config(&[a.server()], r#""attempt_delay_ms": 0"#)).unwrap();
    assert_eq!(client.connect().unwrap().server, a.server());
    assert_eq!(client.connection_lost(), vec![a.server(), b.server()]);
    let a_addr = a.server();
    drop(a);
    // a is gone (refused): the next of the list takes over and becomes the default.
    let c = client.reconnect().unwrap();
    assert_eq!(c.server, b.server());
    assert_eq!(c.failed[0].server, a_addr);
    assert_eq!(client.connection_lost()[0], b.server());
}

#[test]
fn a_list_change_reaches_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let a = TestServer::live("a");
    let extra = format!(r#""state_file": "{}""#, state.display());
    let client = Client::new(config(&[a.server()], &extra)).unwrap();
    client.connect().unwrap();
    let other: Server = "scout9.corp:22123".parse().unwrap();
    a.set_body(list_body(&[(&a.server(), "a"), (&other, "z")], Some("a")));
    client.reconnect().unwrap();
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let hosts: Vec<&str> = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["127.0.0.1", "scout9.corp"]);
    assert_eq!(doc["servers_from"]["port"], a.addr.port());
    // A new client (a restart) starts from that list.
    let again = Client::new(config(&[a.server()], &extra)).unwrap();
    assert_eq!(again.server_list(), vec![a.server(), other]);
}

#[test]
fn retry_backs_off_with_full_jitter_and_stops_after_max_tries() {
    let rec = Recorder::default();
    let extra = r#""retry": {"base_ms": 10, "factor": 2.0, "cap_ms": 40, "max_tries": 3}"#;
    let client = Client::builder(config(&[refused(), refused()], extra))
        .events(rec.sink())
        .seed(42)
        .build()
        .unwrap();
    let err = client.connect_with_retry().unwrap_err();
    assert!(matches!(err, Error::AllFailed(_)));
    let starts = rec.kinds().iter().filter(|k| k.0 == "attempt_started").count();
    assert_eq!(starts, 6, "3 tries of 2 servers");
    // Full jitter: uniform in [0, min(cap, base * factor^n)], the same for the same seed.
    let twin = Client::builder(config(&[refused()], extra)).seed(7).build().unwrap();
    let other = Client::builder(config(&[refused()], extra)).seed(7).build().unwrap();
    let mut seen = Vec::new();
    for n in 0..200u32 {
        let (d, e) = (twin.backoff(n % 6), other.backoff(n % 6));
        assert_eq!(d, e, "seeded jitter is reproducible");
        let ceiling = Duration::from_millis((10u64 << (n % 6)).min(40));
        assert!(d <= ceiling, "{d:?} > {ceiling:?}");
        seen.push(d);
    }
    let small = seen.iter().filter(|d| **d < Duration::from_millis(5)).count();
    assert!(
        small > 10 && small < 150,
        "jitter spreads over the whole range ({small})"
    );
}

#[test]
fn retry_succeeds_once_a_server_comes_back() {
    let listener_addr = refused();
    let addr: std::net::SocketAddr = listener_addr.to_string().parse().unwrap();
    let extra = r#""probe": "tcp", "retry": {"base_ms": 50, "cap_ms": 100, "max_tries": 50}"#;
    let client = Client::new(config(std::slice::from_ref(&listener_addr), extra)).unwrap();
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let l = std::net::TcpListener::bind(addr).unwrap();
        std::thread::sleep(Duration::from_secs(3));
        drop(l);
    });
    assert_eq!(client.connect_with_retry().unwrap().server, listener_addr);
    opener.join().unwrap();
}

#[test]
fn a_retrying_connect_can_be_cancelled() {
    let extra = r#""retry": {"base_ms": 60000, "cap_ms": 60000, "max_tries": 0}"#;
    let client = Client::builder(config(&[refused()], extra)).seed(1).build().unwrap();
    let asked = AtomicUsize::new(0);
    let start = Instant::now();
    // Stop on the third question: after the first try, during the (long) first wait.
    let err = client
        .connect_with_retry_until(&|| asked.fetch_add(1, Ordering::SeqCst) >= 2)
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "cancelled within the wait, not after it"
    );
    assert!(matches!(
        client.connect_with_retry_until(&|| true),
        Err(Error::Cancelled)
    ));
}
