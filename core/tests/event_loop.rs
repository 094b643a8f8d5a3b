//! The event-loop driver (behaviour.md, "Event loops"): a call driven by the caller's own poll(2)
//! loop gives what the blocking call gives, on loopback.

use std::time::{Duration, Instant};

use scoutlb::{Client, Config, Connected, Error, FailReason, FnProbe, PendingCall, Server};
use scoutlb_testkit::dns::{Dnsmasq, ZONE};
use scoutlb_testkit::event_loop::{drive, poll};
use scoutlb_testkit::{Behaviour, Recorder, SteerServer, TestPki, TestServer, refused};

fn config(servers: &[Server], extra: &str) -> Config {
    let list: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    let sep = if extra.is_empty() { "" } else { "," };
    Config::from_json(&format!(r#"{{"servers": [{}]{sep}{extra}}}"#, list.join(","))).unwrap()
}

fn event_loop_connect(client: &Client) -> scoutlb::Result<Connected> {
    let mut call = client.start_connect()?;
    drive(&mut call);
    client.finish(call)
}

fn kinds(err: &Error) -> Vec<&'static str> {
    err.attempts().iter().map(|a| a.reason.kind()).collect()
}

#[test]
fn a_live_server_is_reached_and_its_list_cached_with_the_blocking_calls_events() {
    let (dead, live) = (refused(), TestServer::live("b"));
    let servers = [dead.clone(), live.server()];
    let (rec_loop, rec_block) = (Recorder::default(), Recorder::default());
    let looped = Client::builder(config(&servers, ""))
        .events(rec_loop.sink())
        .build()
        .unwrap();
    let blocking = Client::builder(config(&servers, ""))
        .events(rec_block.sink())
        .build()
        .unwrap();
    let c = event_loop_connect(&looped).unwrap();
    let b = blocking.connect().unwrap();
    assert_eq!(
        (c.server.clone(), c.failed.clone()),
        (b.server.clone(), b.failed.clone())
    );
    assert_eq!(c.server, live.server());
    assert_eq!(c.failed[0].reason, FailReason::Refused);
    assert_eq!(looped.default_server(), Some(live.server()));
    assert_eq!(looped.server_list(), vec![live.server()]);
    assert_eq!(rec_loop.kinds(), rec_block.kinds());
}

#[test]
fn every_failure_is_named_as_the_blocking_call_names_it() {
    let pki = TestPki::new();
    let servers = [
        TestServer::start(Behaviour::Garbage),
        TestServer::start(Behaviour::Status(500)),
        TestServer::start(Behaviour::Oversized),
        TestServer::start(Behaviour::Silent),
        TestServer::start(Behaviour::Drip),
        TestServer::start_tls(Behaviour::Garbage, Some(pki.server_config.clone())),
    ];
    let list: Vec<Server> = std::iter::once(refused())
        .chain(servers.iter().map(TestServer::server))
        .collect();
    let extra = r#""connect_timeout_ms": 800, "attempt_delay_ms": 0"#;
    let looped = event_loop_connect(&Client::new(config(&list, extra)).unwrap()).unwrap_err();
    let blocking = Client::new(config(&list, extra)).unwrap().connect().unwrap_err();
    assert_eq!(kinds(&looped), kinds(&blocking));
    assert_eq!(
        kinds(&looped),
        [
            "refused",
            "invalid_list",
            "http_status",
            "invalid_list",
            "timed_out",
            "timed_out",
            "io"
        ]
    );
    let text = looped.to_string();
    assert!(text.contains("exceeds the limit"), "{text}");
    assert!(text.contains("timed out after 800 ms"), "{text}");
}

#[test]
fn a_slow_default_within_its_patience_is_kept_over_a_faster_server() {
    let slow = TestServer::live_after("a", Duration::from_millis(300));
    let fast = TestServer::live("b");
    let client = Client::new(config(
        &[slow.server(), fast.server()],
        r#""attempt_delay_ms": 50, "answer_delay_ms": 2000"#,
    ))
    .unwrap();
    let c = event_loop_connect(&client).unwrap();
    assert_eq!(c.server, slow.server(), "the most preferred available server wins");
}

#[test]
fn https_checks_the_certificate_on_the_event_loop_too() {
    let pki = TestPki::new();
    let tls = TestServer::live_tls("t", &pki);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let https = format!(r#""scheme": "https", "ca_file": "{}""#, ca.display());
    let c = event_loop_connect(&Client::new(config(&[tls.server()], &https)).unwrap()).unwrap();
    assert_eq!(c.server, tls.server());
    // Another CA: the certificate is refused as TLS, not as some I/O error.
    let other = TestPki::new();
    std::fs::write(&ca, &other.ca_pem).unwrap();
    let err = event_loop_connect(&Client::new(config(&[tls.server()], &https)).unwrap()).unwrap_err();
    assert_eq!(kinds(&err), ["tls"]);
}

#[test]
fn a_drain_moves_on_and_keeps_the_default_and_a_refusal_ends_the_call() {
    let (a, b) = (SteerServer::live("a"), SteerServer::live("b"));
    let servers = [a.server.server(), b.server.server()];
    let client = Client::new(config(&servers, r#""device_id": "dev-7""#)).unwrap();
    event_loop_connect(&client).unwrap();
    assert_eq!(client.default_server(), Some(servers[0].clone()));
    a.answer(503, &["Retry-After: 60"], "");
    let c = event_loop_connect(&client).unwrap();
    assert_eq!(c.server, servers[1]);
    assert_eq!(c.failed[0].reason.kind(), "draining");
    assert_eq!(
        client.default_server(),
        Some(servers[0].clone()),
        "a drain keeps the default"
    );
    assert!(
        a.requests().iter().any(|r| r.contains("scout-device-id: dev-7")),
        "the device id is sent"
    );
    b.answer(403, &[], r#"{"refused": "unknown device"}"#);
    a.answer(403, &[], r#"{"refused": "unknown device"}"#);
    let err = event_loop_connect(&client).unwrap_err();
    assert!(matches!(err, Error::DeviceRefused { .. }), "{err}");
}

#[test]
fn the_tcp_probe_and_a_name_from_the_hosts_file() {
    let live = TestServer::live("a");
    let by_name = Server::new("localhost", live.server().port()).unwrap();
    let client = Client::new(config(std::slice::from_ref(&by_name), r#""probe": "tcp""#)).unwrap();
    assert_eq!(event_loop_connect(&client).unwrap().server, by_name);
    // Over http the server names itself (`self`), by its address: that entry is the one kept.
    let http = Client::new(config(std::slice::from_ref(&by_name), "")).unwrap();
    assert_eq!(event_loop_connect(&http).unwrap().server, live.server());
}

#[test]
fn a_cancel_ends_the_call_and_changes_nothing() {
    let silent = TestServer::start(Behaviour::Silent);
    let client = Client::new(config(&[silent.server()], "")).unwrap();
    let mut call = client.start_connect().unwrap();
    call.process();
    assert!(!call.is_done() && !call.watches().is_empty());
    call.cancel();
    assert!(
        call.is_done() && call.watches().is_empty(),
        "a cancelled call closes its sockets"
    );
    assert!(matches!(client.finish(call), Err(Error::Cancelled)));
    assert_eq!(client.default_server(), None);
    // The client's canceller reaches a call at its next process.
    let mut call = client.start_connect().unwrap();
    client.canceller().cancel();
    call.process();
    assert!(matches!(client.finish(call), Err(Error::Cancelled)));
    assert!(matches!(client.start_connect(), Err(Error::Cancelled)));
}

#[test]
fn the_deadline_ends_a_call_whose_servers_never_answer() {
    let silent = TestServer::start(Behaviour::Silent);
    let client = Client::new(config(&[silent.server()], r#""deadline_ms": 300"#)).unwrap();
    let start = Instant::now();
    let err = event_loop_connect(&client).unwrap_err();
    assert_eq!(kinds(&err), ["deadline"]);
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
}

#[test]
fn a_call_is_finished_only_by_its_client_and_unfinished_calls_are_cancelled() {
    let live = TestServer::live("a");
    let (one, two) = (
        Client::new(config(&[live.server()], "")).unwrap(),
        Client::new(config(&[live.server()], "")).unwrap(),
    );
    let call = one.start_connect().unwrap();
    assert!(matches!(two.finish(call), Err(Error::Unsupported(_))));
    let silent = TestServer::start(Behaviour::Silent);
    let client = Client::new(config(&[silent.server()], "")).unwrap();
    let call = client.start_connect().unwrap();
    assert!(matches!(client.finish(call), Err(Error::Cancelled)));
}

#[test]
fn a_reconnect_and_wait_run_the_same_call() {
    let (a, b) = (TestServer::live("a"), TestServer::live("b"));
    let client = Client::new(config(&[a.server(), b.server()], "")).unwrap();
    let mut call = client.start_connect().unwrap();
    call.wait();
    assert_eq!(client.finish(call).unwrap().server, a.server());
    drop(a);
    let mut call = client.start_reconnect().unwrap();
    call.wait();
    assert_eq!(client.finish(call).unwrap().server, b.server());
}

#[test]
fn agent_driven_probes_are_refused_with_a_reason() {
    let client = Client::new(Config::from_json(r#"{"probe": "none"}"#).unwrap()).unwrap();
    let err = client.start_connect().unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported(m) if m.contains("event-loop")),
        "{err}"
    );
}

/// A client whose probe is the agent's own (`callback`); the blocking callback answers as `answer` does.
fn agent_client(
    servers: &[Server],
    extra: &str,
    answer: fn(&Server) -> Result<(), FailReason>,
    rec: &Recorder,
) -> Client {
    let extra = if extra.is_empty() {
        r#""probe": "callback""#.to_string()
    } else {
        format!(r#""probe": "callback", {extra}"#)
    };
    Client::builder(config(servers, &extra))
        .probe(FnProbe(move |s: &Server, _: Duration| answer(s)))
        .events(rec.sink())
        .build()
        .unwrap()
}

#[test]
fn the_agent_runs_each_attempt_the_call_hands_over_as_the_blocking_callback_would() {
    let servers = [
        Server::new("127.0.0.1", 1).unwrap(),
        Server::new("127.0.0.1", 2).unwrap(),
    ];
    fn answer(s: &Server) -> Result<(), FailReason> {
        if s.port() == 1 {
            Err(FailReason::Refused)
        } else {
            Ok(())
        }
    }
    let (rec_loop, rec_block) = (Recorder::default(), Recorder::default());
    let looped = agent_client(&servers, "", answer, &rec_loop);
    let blocking = agent_client(&servers, "", answer, &rec_block);
    let mut call = looped.start_connect().unwrap();
    let mut asked = Vec::new();
    let until = Instant::now() + Duration::from_secs(10);
    while !call.is_done() && Instant::now() < until {
        while let Some(request) = call.next_probe_request() {
            asked.push(request.server.clone());
            call.probe_done(request.attempt, answer(&request.server).map(|()| None));
        }
        poll(
            &call.watches(),
            &[],
            call.timeout().unwrap_or_default().min(Duration::from_millis(20)),
        );
        call.process();
    }
    let c = looped.finish(call).unwrap();
    let b = blocking.connect().unwrap();
    assert_eq!(asked, servers);
    assert_eq!((c.server.clone(), c.failed.clone()), (b.server, b.failed));
    assert_eq!(c.server, servers[1]);
    assert_eq!(rec_loop.kinds(), rec_block.kinds());
    assert_eq!(looped.default_server(), Some(servers[1].clone()));
}

#[test]
fn a_slow_default_that_reports_its_transport_up_keeps_its_device() {
    // The default answers after 300 ms, beyond attempt_delay_ms (100): reported up at once, it is
    // granted answer_delay_ms and the next server is never asked.
    let servers = [
        Server::new("127.0.0.1", 1).unwrap(),
        Server::new("127.0.0.1", 2).unwrap(),
    ];
    let rec = Recorder::default();
    let extra = r#""attempt_delay_ms": 100, "answer_delay_ms": 5000"#;
    let client = agent_client(&servers, extra, |_| Ok(()), &rec);
    let mut call = client.start_connect().unwrap();
    let mut asked = Vec::new();
    let mut answer_at = None;
    let until = Instant::now() + Duration::from_secs(10);
    while !call.is_done() && Instant::now() < until {
        while let Some(request) = call.next_probe_request() {
            asked.push(request.server.clone());
            call.probe_up(request.attempt);
            answer_at = Some((request.attempt, Instant::now() + Duration::from_millis(300)));
        }
        if let Some((attempt, _)) = answer_at.filter(|(_, at)| Instant::now() >= *at) {
            call.probe_done(attempt, Ok(None));
            answer_at = None;
        }
        poll(
            &[],
            &[],
            call.timeout().unwrap_or_default().min(Duration::from_millis(10)),
        );
        call.process();
    }
    assert_eq!(client.finish(call).unwrap().server, servers[0]);
    assert_eq!(asked, servers[..1]);
}

#[test]
fn the_agent_is_told_which_attempts_were_given_up_and_late_reports_are_ignored() {
    let servers = [
        Server::new("127.0.0.1", 1).unwrap(),
        Server::new("127.0.0.1", 2).unwrap(),
    ];
    let rec = Recorder::default();
    let client = agent_client(&servers, r#""attempt_delay_ms": 50"#, |_| Ok(()), &rec);
    let mut call = client.start_connect().unwrap();
    let first = call.next_probe_request().unwrap();
    assert_eq!(first.server, servers[0]);
    // Its socket is watched with the call's own; not so for an attempt the call does not run.
    let watch = scoutlb::Watch {
        fd: 0,
        interest: scoutlb::Interest::Read,
    };
    assert!(call.probe_watch(first.attempt, Some(watch)));
    assert!(!call.probe_watch(first.attempt + 100, Some(watch)));
    assert_eq!(call.watches(), vec![watch]);
    // The first never answers; the second, started after attempt_delay_ms, is reached.
    let until = Instant::now() + Duration::from_secs(10);
    while !call.is_done() && Instant::now() < until {
        while let Some(request) = call.next_probe_request() {
            call.probe_done(request.attempt, Ok(None));
        }
        poll(
            &[],
            &[],
            call.timeout().unwrap_or_default().min(Duration::from_millis(10)),
        );
        call.process();
    }
    assert_eq!(call.next_abandoned_probe(), Some(first.attempt));
    assert_eq!(call.next_abandoned_probe(), None);
    assert!(call.watches().is_empty());
    call.probe_done(first.attempt, Err(FailReason::Refused));
    assert_eq!(client.finish(call).unwrap().server, servers[1]);
}

#[test]
fn many_calls_share_one_loop() {
    // 50 devices in one loop on one thread, each its own client and call.
    let live = TestServer::live("a");
    let clients: Vec<Client> = (0..50)
        .map(|_| Client::new(config(&[refused(), live.server()], "")).unwrap())
        .collect();
    let mut calls: Vec<PendingCall> = clients.iter().map(|c| c.start_connect().unwrap()).collect();
    let until = Instant::now() + Duration::from_secs(30);
    while calls.iter().any(|c| !c.is_done()) {
        assert!(Instant::now() < until);
        let watches: Vec<_> = calls.iter().flat_map(PendingCall::watches).collect();
        let timeout = calls.iter().filter_map(PendingCall::timeout).min().unwrap_or_default();
        poll(&watches, &[], timeout);
        // Calls whose sockets were not ready may still have a timer due: process them all.
        calls.iter_mut().for_each(PendingCall::process);
    }
    for (client, call) in clients.iter().zip(calls) {
        assert_eq!(client.finish(call).unwrap().server, live.server());
    }
}

#[test]
fn names_outside_the_hosts_file_and_srv_entries_are_asked_of_dns() {
    // The driver asks the name servers itself (event_loop_dns.rs has the rest): a name that does
    // not exist and an SRV entry without records fail as the blocking call's do.
    let live = TestServer::live("a");
    let Some(dns) = Dnsmasq::start("", &[]) else { return };
    let unknown = Server::new(&format!("no-such-host.{ZONE}"), 22123).unwrap();
    let extra = format!(
        r#""manager_load_balancer": "srv:_scout._tcp.{ZONE}", "nameservers": ["{}"], "attempt_delay_ms": 0"#,
        dns.addr()
    );
    let servers = [unknown.clone(), live.server()];
    let c = event_loop_connect(&Client::new(config(&servers, &extra)).unwrap()).unwrap();
    let b = Client::new(config(&servers, &extra)).unwrap().connect().unwrap();
    assert_eq!(c.server, live.server());
    assert!(!c.via_balancer);
    assert_eq!(c.failed, b.failed);
    assert_eq!(kinds_of(&c.failed), ["dns", "dns"]);
    assert_eq!(c.failed[1].server, unknown);
    for attempt in &c.failed {
        assert!(attempt.reason.to_string().contains("NXDOMAIN"), "{}", attempt.reason);
    }
}

fn kinds_of(failed: &[scoutlb::Attempt]) -> Vec<&'static str> {
    failed.iter().map(|a| a.reason.kind()).collect()
}

#[test]
fn finish_saves_the_state_file_as_a_blocking_call_does() {
    let live = TestServer::live("a");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let extra = format!(r#""state_file": "{}""#, state.display());
    let client = Client::new(config(&[live.server()], &extra)).unwrap();
    assert!(event_loop_connect(&client).unwrap().saved);
    let restarted = Client::new(config(&[live.server()], &extra)).unwrap();
    assert_eq!(restarted.default_server(), Some(live.server()));
    assert_eq!(restarted.server_list(), vec![live.server()]);
}
