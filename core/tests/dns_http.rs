//! The http probe with configured name servers: names resolve through them, while the request and
//! the HTTPS certificate check keep the host name; a name that does not resolve is a DNS failure;
//! a balancer record that points at something other than a Scout Server costs one attempt.

use std::sync::{Arc, Mutex};

use scoutlb::{Client, Config, DnsFailureKind, FailReason, Server};
use scoutlb_testkit::dns::{Dnsmasq, ZONE};
use scoutlb_testkit::{Behaviour, Recorder, TestPki, TestServer, list_body};

#[test]
fn https_to_a_name_from_the_configured_dns_checks_the_certificate_against_the_name() {
    let name = format!("tls.{ZONE}");
    let Some(dns) = Dnsmasq::start(&format!("127.0.0.1 {name}\n"), &[]) else {
        return;
    };
    let pki = TestPki::for_names(&[&name]);
    let body = Arc::new(Mutex::new(String::new()));
    let tls = TestServer::start_tls(Behaviour::Body(body.clone()), Some(pki.server_config.clone()));
    let by_name = Server::new(&name, tls.addr.port()).unwrap();
    *body.lock().unwrap() = list_body(&[(&by_name, "t")], Some("t"));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let config = |server: &Server| {
        Config::from_json(&format!(
            r#"{{"servers": ["{server}"], "scheme": "https", "ca_file": "{}", "nameservers": ["{}"]}}"#,
            ca.display(),
            dns.addr()
        ))
        .unwrap()
    };
    let connected = Client::new(config(&by_name)).unwrap().connect().unwrap();
    assert_eq!(connected.server, by_name);

    // The same server by its address: the certificate names only the host name.
    let err = Client::new(config(&tls.server())).unwrap().connect().unwrap_err();
    assert_eq!(err.attempts()[0].reason.kind(), "tls", "{err}");
}

#[test]
fn an_unknown_name_is_a_dns_failure_with_its_response_code() {
    let Some(dns) = Dnsmasq::start("", &[]) else {
        return;
    };
    let config = Config::from_json(&format!(
        r#"{{"servers": ["missing.{ZONE}:1"], "nameservers": ["{}"]}}"#,
        dns.addr()
    ))
    .unwrap();
    let err = Client::new(config).unwrap().connect().unwrap_err();
    match &err.attempts()[0].reason {
        FailReason::Dns(f) => {
            assert!(f.detail.contains("NXDOMAIN"), "{f}");
            assert_eq!(f.kind, DnsFailureKind::NoSuchName);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_lying_balancer_record_costs_one_attempt_and_nothing_else() {
    // The DNS entry points at something that is not a Scout Server (it answers garbage).
    let Some(dns) = Dnsmasq::start(&format!("127.0.0.1 lb.{ZONE}\n"), &[]) else {
        return;
    };
    let impostor = TestServer::start(Behaviour::Garbage);
    let live = TestServer::live("real");
    let events = Recorder::default();
    let config = Config::from_json(&format!(
        r#"{{"servers": ["{}"], "manager_load_balancer": "lb.{ZONE}:{}", "nameservers": ["{}"]}}"#,
        live.server(),
        impostor.addr.port(),
        dns.addr()
    ))
    .unwrap();
    let client = Client::builder(config).events(events.sink()).build().unwrap();
    let connected = client.connect().unwrap();
    assert_eq!(connected.server, live.server());
    assert!(!connected.via_balancer);
    assert_eq!(connected.failed[0].server, impostor.server());
    assert_eq!(connected.failed[0].reason.kind(), "invalid_list");
    assert_eq!(
        client.server_list(),
        vec![live.server()],
        "the garbage never became the list"
    );
    let failed: Vec<String> = events
        .events()
        .iter()
        .filter_map(|e| match e {
            scoutlb::Event::BalancerFailed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("bad response"), "{failed:?}");
}

#[test]
fn the_system_resolvers_failure_is_a_typed_dns_failure_of_the_http_probe() {
    // No `nameservers`: ureq resolves with getaddrinfo; its failure arrives typed, by where it
    // happened, not by its text.
    let config = Config::from_json(r#"{"servers": ["scoutlb-test.invalid:1"]}"#).unwrap();
    let err = Client::new(config).unwrap().connect().unwrap_err();
    assert!(err.is_all_dns(), "{err}");
    match &err.attempts()[0].reason {
        FailReason::Dns(f) => assert_ne!(f.kind, DnsFailureKind::TimedOut, "{f}"),
        other => panic!("{other:?}"),
    }
}
