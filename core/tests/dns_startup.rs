//! Start-up with a ManagerLoadBalancer (behaviour.md, "Start-up" steps 2-4) and first contact through `ScoutSrv`,
//! against a real dnsmasq and loopback listeners: fresh evaluation on every restart, and the
//! fallback to the failover order when the name does not resolve or no address connects.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use scoutlb::race::Stage;
use scoutlb::{Client, Config, Connected, Error, Event, FailReason, Server};
use scoutlb_testkit::dns::{Dnsmasq, ServFailServer, ZONE};
use scoutlb_testkit::ports::{closed_port, listener, silent_nameserver};

type Events = Arc<Mutex<Vec<Event>>>;

fn client(config: &str) -> (Client, Events) {
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let client = Client::builder(Config::from_json(config).unwrap())
        .events(move |e: &Event| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    (client, events)
}

fn balancer_failures(events: &Events) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::BalancerFailed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn server(ip: Ipv4Addr, port: u16) -> Server {
    Server::from(SocketAddr::from((ip, port)))
}

/// Two listeners on the same port of two loopback addresses.
fn pair(a: Ipv4Addr, b: Ipv4Addr) -> (TcpListener, TcpListener, u16) {
    for _ in 0..20 {
        let (first, port) = listener(a);
        if let Ok(second) = TcpListener::bind((b, port)) {
            return (first, second, port);
        }
    }
    panic!("no port free on both {a} and {b}");
}

#[test]
fn each_restart_resolves_afresh_and_follows_a_changed_record() {
    let (a, b) = (Ipv4Addr::new(127, 0, 0, 51), Ipv4Addr::new(127, 0, 0, 52));
    let Some(dns) = Dnsmasq::start(&format!("{a} lb.{ZONE}\n"), &[]) else {
        return;
    };
    let (_la, _lb, port) = pair(a, b);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let seed = server(Ipv4Addr::new(127, 0, 0, 59), closed_port(Ipv4Addr::new(127, 0, 0, 59)));
    let config = format!(
        r#"{{"manager_load_balancer": "lb.{ZONE}:{port}", "nameservers": ["{}"], "probe": "tcp",
            "servers": ["{seed}"], "state_file": "{}", "attempt_delay_ms": 0}}"#,
        dns.addr(),
        state.display()
    );

    let (first, _) = client(&config);
    let c = first.connect().unwrap();
    assert_eq!((c.reached.clone(), c.via_balancer), (server(a, port), true));

    dns.set_hosts(&format!("{b} lb.{ZONE}\n"), &format!("lb.{ZONE}"), b);
    // The running client keeps its evaluation until it is re-created (behaviour.md, "Connection lost": not re-evaluated).
    assert_eq!(first.balancer_addresses(), [server(a, port)]);
    assert_eq!(first.reconnect().unwrap().reached, server(a, port));
    drop(first);

    let (second, events) = client(&config);
    let c = second.connect().unwrap();
    assert_eq!((c.reached.clone(), c.via_balancer), (server(b, port), true));
    assert_eq!(second.default_server(), Some(server(b, port)));
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::BalancerResolved { servers, .. } if servers == &[server(b, port)]))
    );
}

/// Connect with a balancer `entry` that fails, through `nameserver`; the seed listener must win.
fn falls_back(entry: &str, nameserver: SocketAddr, dns_timeout_ms: u64) -> (Connected, Vec<String>) {
    falls_back_with(entry, nameserver, dns_timeout_ms, 250)
}

fn falls_back_with(
    entry: &str,
    nameserver: SocketAddr,
    dns_timeout_ms: u64,
    attempt_delay_ms: u64,
) -> (Connected, Vec<String>) {
    let ip = Ipv4Addr::new(127, 0, 0, 61);
    let (_seed, port) = listener(ip);
    let (c, events) = client(&format!(
        r#"{{"manager_load_balancer": "{entry}", "nameservers": ["{nameserver}"], "probe": "tcp",
            "servers": ["{ip}:{port}"], "dns_timeout_ms": {dns_timeout_ms},
            "attempt_delay_ms": {attempt_delay_ms}}}"#
    ));
    let connected = c.connect().unwrap();
    assert_eq!(connected.reached, server(ip, port));
    assert!(!connected.via_balancer);
    (connected, balancer_failures(&events))
}

fn dns_failure(connected: &Connected) -> String {
    match &connected.failed.first().expect("the balancer's lookup is named").reason {
        FailReason::Dns(f) => f.to_string(),
        other => panic!("expected a DNS failure, got {other:?}"),
    }
}

#[test]
fn nxdomain_falls_back_to_the_failover_order() {
    let Some(dns) = Dnsmasq::start("", &[]) else { return };
    let (connected, failures) = falls_back(&format!("nosuch.{ZONE}"), dns.addr(), 2000);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("NXDOMAIN"), "{failures:?}");
    assert!(dns_failure(&connected).contains("NXDOMAIN"));
}

#[test]
fn servfail_falls_back_to_the_failover_order() {
    let upstream = ServFailServer::start();
    let (connected, failures) = falls_back(&format!("lb.{ZONE}"), upstream.addr(), 2000);
    assert!(failures.len() == 1 && failures[0].contains("SERVFAIL"), "{failures:?}");
    assert!(dns_failure(&connected).contains("SERVFAIL"));
}

#[test]
fn a_silent_dns_server_lets_the_failover_order_start_after_attempt_delay() {
    let silent = silent_nameserver();
    // Had it waited for the 5 s DNS timeout, the lookup would be named as a DNS failure.
    let (connected, failures) = falls_back("srv:_scout._tcp.test.example", silent.local_addr().unwrap(), 5000);
    assert!(
        failures.len() == 1 && failures[0].contains("no DNS answer within 250 ms"),
        "{failures:?}"
    );
    assert_eq!(
        connected.failed[0].reason,
        FailReason::OutOfPatience {
            stage: Stage::Resolving,
            patience: Duration::from_millis(250)
        }
    );
    assert_eq!(connected.failed[0].server.host(), "_scout._tcp.test.example");
}

#[test]
fn a_dns_timeout_falls_back_to_the_failover_order() {
    // With `attempt_delay_ms` 0 the failover order waits until the lookup ends.
    let silent = silent_nameserver();
    let (connected, failures) = falls_back_with("srv:_scout._tcp.test.example", silent.local_addr().unwrap(), 300, 0);
    assert!(
        failures.len() == 1 && failures[0].contains("timed out after 300 ms"),
        "{failures:?}"
    );
    assert!(dns_failure(&connected).contains("timed out"));
}

#[test]
fn a_balancer_whose_addresses_refuse_falls_back_and_says_so() {
    let lb = Ipv4Addr::new(127, 0, 0, 62);
    let Some(dns) = Dnsmasq::start(&format!("{lb} lb.{ZONE}\n"), &[]) else {
        return;
    };
    let refused = closed_port(lb);
    let (connected, failures) = falls_back(&format!("lb.{ZONE}:{refused}"), dns.addr(), 2000);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains("none of its addresses connected")
            && failures[0].contains(&format!("{lb}:{refused}: connection refused")),
        "{failures:?}"
    );
    assert_eq!(connected.failed[0].server, server(lb, refused));
    assert_eq!(connected.failed[0].reason, FailReason::Refused);
}

#[test]
fn when_everything_fails_the_error_names_the_dns_failure_and_each_attempt() {
    let Some(dns) = Dnsmasq::start("", &[]) else { return };
    let ip = Ipv4Addr::new(127, 0, 0, 63);
    let refused = closed_port(ip);
    let (c, _) = client(&format!(
        r#"{{"manager_load_balancer": "srv:_scout._tcp.{ZONE}", "nameservers": ["{}"], "probe": "tcp",
            "servers": ["{ip}:{refused}"]}}"#,
        dns.addr()
    ));
    let err = c.connect().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::AllFailed(_)));
    assert_eq!(err.attempts().len(), 2, "{text}");
    assert!(
        text.contains("ManagerLoadBalancer `srv:_scout._tcp.test.example`: NXDOMAIN")
            && text.contains("connection refused"),
        "{text}"
    );
}

/// Serve wire-format answers naming `self_host:port` as the server itself, for `n` requests.
fn scout_like_server(ip: Ipv4Addr, n: usize) -> (u16, thread::JoinHandle<()>) {
    let l = TcpListener::bind((ip, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        for stream in l.incoming().take(n) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let body = format!(r#"{{"servers": [{{"host": "{ip}", "port": {port}, "id": "a"}}], "self": "a"}}"#);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, handle)
}

#[test]
fn first_contact_finds_scoutsrv_through_the_configured_search_domain() {
    let ip = Ipv4Addr::new(127, 0, 0, 71);
    let Some(dns) = Dnsmasq::start(&format!("{ip} scoutsrv.{ZONE}\n"), &[]) else {
        return;
    };
    let (_l, port) = listener(ip);
    let (c, _) = client(&format!(
        r#"{{"default_port": {port}, "nameservers": ["{}"], "search_domains": ["{ZONE}"], "probe": "tcp"}}"#,
        dns.addr()
    ));
    assert_eq!(c.seeds(), [Server::new("ScoutSrv", port).unwrap()]);
    let connected = c.connect().unwrap();
    // The device keeps the name: it is resolved afresh on each attempt.
    assert_eq!(connected.server, Server::new("scoutsrv", port).unwrap());
    assert_eq!(c.default_server(), Some(Server::new("scoutsrv", port).unwrap()));
}

#[test]
fn first_contact_over_http_takes_the_server_list_and_its_self() {
    let ip = Ipv4Addr::new(127, 0, 0, 72);
    let Some(dns) = Dnsmasq::start(&format!("{ip} scoutsrv.{ZONE}\n"), &[]) else {
        return;
    };
    let (port, server_thread) = scout_like_server(ip, 1);
    let (c, _) = client(&format!(
        r#"{{"default_port": {port}, "nameservers": ["{}"], "search_domains": ["{ZONE}"]}}"#,
        dns.addr()
    ));
    let connected = c.connect().unwrap();
    assert_eq!(connected.reached, Server::new("scoutsrv", port).unwrap());
    assert_eq!(connected.server, server(ip, port));
    assert_eq!(c.server_list(), [server(ip, port)]);
    server_thread.join().unwrap();
}

#[test]
fn first_contact_without_the_search_domain_is_a_dns_failure() {
    let ip = Ipv4Addr::new(127, 0, 0, 73);
    let Some(dns) = Dnsmasq::start(&format!("{ip} scoutsrv.{ZONE}\n"), &[]) else {
        return;
    };
    let (_l, port) = listener(ip);
    let (c, _) = client(&format!(
        r#"{{"default_port": {port}, "nameservers": ["{}"], "search_domains": ["elsewhere.example"], "probe": "tcp"}}"#,
        dns.addr()
    ));
    let err = c.connect().unwrap_err();
    assert!(matches!(err.attempts()[0].reason, FailReason::Dns(_)), "{err}");
}
