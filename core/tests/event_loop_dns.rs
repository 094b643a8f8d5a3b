//! DNS in the event-loop driver (behaviour.md, "Event loops", "Names"): server and balancer names
//! looked up on the driver's own sockets against a dnsmasq on loopback (or a name server of the
//! test's that is silent or lies), giving what the blocking call gives.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use scoutlb::race::Stage;
use scoutlb::{Client, Config, Connected, DnsFailureKind, Event, FailReason, Server};
use scoutlb_testkit::dns::{Dnsmasq, ServFailServer, ZONE};
use scoutlb_testkit::event_loop::drive;
use scoutlb_testkit::ports::silent_nameserver;
use scoutlb_testkit::{Recorder, TestServer, refused};

/// A client of `json` (an object's keys, without braces) with its events recorded.
fn client(json: &str) -> (Client, Recorder) {
    let recorder = Recorder::default();
    let client = Client::builder(Config::from_json(&format!("{{{json}}}")).unwrap())
        .events(recorder.sink())
        .build()
        .unwrap();
    (client, recorder)
}

fn event_loop_connect(client: &Client) -> scoutlb::Result<Connected> {
    let mut call = client.start_connect()?;
    drive(&mut call);
    client.finish(call)
}

/// The servers of the `balancer_resolved` events, and the reasons of the `balancer_failed` ones.
fn balancer_events(recorder: &Recorder) -> (Vec<Vec<Server>>, Vec<String>) {
    let (mut resolved, mut failed) = (Vec::new(), Vec::new());
    for event in recorder.events() {
        match event {
            Event::BalancerResolved { servers, .. } => resolved.push(servers),
            Event::BalancerFailed { reason, .. } => failed.push(reason),
            _ => {}
        }
    }
    (resolved, failed)
}

/// Run the same configuration as an event-loop call and as a blocking call: both results and
/// both recorders, the event-loop's first.
fn both(
    json: &str,
) -> (
    (scoutlb::Result<Connected>, Recorder),
    (scoutlb::Result<Connected>, Recorder),
) {
    let (looped, rec_loop) = client(json);
    let (blocking, rec_block) = client(json);
    let l = event_loop_connect(&looped);
    let b = blocking.connect();
    ((l, rec_loop), (b, rec_block))
}

fn dns_failure(reason: &FailReason) -> (DnsFailureKind, String) {
    match reason {
        FailReason::Dns(f) => (f.kind, f.detail.clone()),
        other => panic!("expected a DNS failure, got {other:?}"),
    }
}

/// `srv` and `lb` in the zone, each with an A and an AAAA address on loopback.
fn loopback_hosts() -> String {
    format!("127.0.0.1 srv.{ZONE}\n::1 srv.{ZONE}\n127.0.0.1 lb.{ZONE}\n::1 lb.{ZONE}\n")
}

#[test]
fn a_server_name_gives_its_a_and_aaaa_addresses_as_the_blocking_call_finds_them() {
    let live = TestServer::live("a");
    let Some(dns) = Dnsmasq::start(&loopback_hosts(), &[]) else {
        return;
    };
    let by_name = Server::new(&format!("srv.{ZONE}"), live.server().port()).unwrap();
    let json = format!(
        r#""servers": ["nosuch.{ZONE}:1", "{by_name}"], "nameservers": ["{}"], "probe": "tcp""#,
        dns.addr()
    );
    let ((l, rec_loop), (b, rec_block)) = both(&json);
    let (l, b) = (l.unwrap(), b.unwrap());
    assert_eq!(l.server, by_name);
    assert_eq!((&l.server, &l.failed), (&b.server, &b.failed));
    let (kind, detail) = dns_failure(&l.failed[0].reason);
    assert_eq!(kind, DnsFailureKind::NoSuchName, "{detail}");
    assert!(detail.contains("NXDOMAIN"), "{detail}");
    assert_eq!(rec_loop.kinds(), rec_block.kinds());
}

#[test]
fn a_balancer_host_name_gives_a_then_aaaa_first_in_the_race() {
    let live = TestServer::live("a");
    let Some(dns) = Dnsmasq::start(&loopback_hosts(), &[]) else {
        return;
    };
    let port = live.server().port();
    let json = format!(
        r#""servers": ["{}"], "manager_load_balancer": "lb.{ZONE}:{port}", "nameservers": ["{}"], "probe": "tcp""#,
        refused(),
        dns.addr()
    );
    let ((l, rec_loop), (b, rec_block)) = both(&json);
    let (l, b) = (l.unwrap(), b.unwrap());
    assert!(l.via_balancer);
    assert_eq!((&l.server, &l.failed), (&b.server, &b.failed));
    let expected: Vec<Server> = vec![
        format!("127.0.0.1:{port}").parse().unwrap(),
        format!("[::1]:{port}").parse().unwrap(),
    ];
    assert_eq!(balancer_events(&rec_loop), (vec![expected], vec![]));
    assert_eq!(balancer_events(&rec_loop), balancer_events(&rec_block));
    assert_eq!(rec_loop.kinds(), rec_block.kinds());
}

#[test]
fn srv_targets_come_in_rfc2782_order_and_the_first_that_answers_wins() {
    let (live, dead) = (TestServer::live("a"), refused());
    let hosts = format!("127.0.0.1 one.{ZONE}\n127.0.0.1 two.{ZONE}\n127.0.0.1 three.{ZONE}\n");
    let records = [
        format!(
            "--srv-host=_scout._tcp.{ZONE},two.{ZONE},{},20,10",
            live.server().port()
        ),
        format!("--srv-host=_scout._tcp.{ZONE},one.{ZONE},{},10,10", dead.port()),
        format!("--srv-host=_scout._tcp.{ZONE},three.{ZONE},0,15,10"),
    ];
    let Some(dns) = Dnsmasq::start(&hosts, &records) else {
        return;
    };
    let json = format!(
        r#""servers": ["{}"], "manager_load_balancer": "srv:_scout._tcp.{ZONE}", "nameservers": ["{}"], "probe": "tcp""#,
        refused(),
        dns.addr()
    );
    let ((l, rec_loop), (b, rec_block)) = both(&json);
    let (l, b) = (l.unwrap(), b.unwrap());
    assert_eq!(l.server, live.server());
    assert!(l.via_balancer);
    assert_eq!((&l.server, &l.failed), (&b.server, &b.failed));
    // Priority 10 before 20; the target with port 0 is left out.
    assert_eq!(
        balancer_events(&rec_loop),
        (
            vec![vec![
                Server::from(SocketAddr::from(([127, 0, 0, 1], dead.port()))),
                live.server()
            ]],
            vec![]
        )
    );
    assert_eq!(balancer_events(&rec_loop), balancer_events(&rec_block));
}

#[test]
fn unknown_names_and_servfail_fail_as_the_blocking_call_names_them() {
    let live = TestServer::live("a");
    let Some(dns) = Dnsmasq::start("", &[]) else { return };
    let servfail = ServFailServer::start();
    for (nameserver, entry, kind, words) in [
        (
            dns.addr(),
            format!("srv:_scout._tcp.{ZONE}"),
            DnsFailureKind::NoSuchName,
            "NXDOMAIN",
        ),
        (
            dns.addr(),
            format!("nosuch.{ZONE}"),
            DnsFailureKind::NoSuchName,
            "NXDOMAIN",
        ),
        (
            servfail.addr(),
            format!("lb.{ZONE}"),
            DnsFailureKind::ServerFailure,
            "SERVFAIL",
        ),
    ] {
        let json = format!(
            r#""servers": ["{}"], "manager_load_balancer": "{entry}", "nameservers": ["{nameserver}"], "attempt_delay_ms": 0"#,
            live.server()
        );
        let ((l, rec_loop), (b, rec_block)) = both(&json);
        let (l, b) = (l.unwrap(), b.unwrap());
        assert_eq!(l.server, live.server());
        assert!(!l.via_balancer);
        assert_eq!(l.failed, b.failed, "{entry}");
        assert_eq!(dns_failure(&l.failed[0].reason).0, kind, "{entry}");
        let (_, failed) = balancer_events(&rec_loop);
        assert!(failed.len() == 1 && failed[0].contains(words), "{entry}: {failed:?}");
        assert_eq!(balancer_events(&rec_loop), balancer_events(&rec_block), "{entry}");
    }
}

#[test]
fn a_silent_name_server_holds_the_failover_order_back_for_attempt_delay_only() {
    let live = TestServer::live("a");
    let silent = silent_nameserver();
    let json = format!(
        r#""servers": ["{}"], "manager_load_balancer": "srv:_scout._tcp.{ZONE}", "nameservers": ["{}"],
            "dns_timeout_ms": 5000, "probe": "tcp""#,
        live.server(),
        silent.local_addr().unwrap()
    );
    let (looped, rec_loop) = client(&json);
    let started = Instant::now();
    let mut call = looped.start_connect().unwrap();
    assert!(!call.watches().is_empty(), "the lookup's socket is watched");
    let timeout = call.timeout().unwrap();
    assert!(
        timeout <= Duration::from_millis(250),
        "the race wakes the loop: {timeout:?}"
    );
    drive(&mut call);
    let l = looped.finish(call).unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2000),
        "the silent name server held the call for {took:?}"
    );
    assert_eq!(l.server, live.server());
    assert_eq!(
        l.failed[0].reason,
        FailReason::OutOfPatience {
            stage: Stage::Resolving,
            patience: Duration::from_millis(250)
        }
    );
    let (blocking, rec_block) = client(&json);
    let b = blocking.connect().unwrap();
    assert_eq!((&l.server, &l.failed), (&b.server, &b.failed));
    assert_eq!(balancer_events(&rec_loop), balancer_events(&rec_block));
}

#[test]
fn a_silent_name_server_times_a_lookup_out_within_dns_timeout() {
    let live = TestServer::live("a");
    let silent = silent_nameserver();
    let json = format!(
        r#""servers": ["srv.{ZONE}:{}", "{}"], "nameservers": ["{}"], "dns_timeout_ms": 300,
            "attempt_delay_ms": 0, "probe": "tcp""#,
        live.server().port(),
        live.server(),
        silent.local_addr().unwrap()
    );
    let ((l, _), (b, _)) = both(&json);
    let (l, b) = (l.unwrap(), b.unwrap());
    assert_eq!(l.server, live.server());
    assert_eq!(l.failed, b.failed);
    let (kind, detail) = dns_failure(&l.failed[0].reason);
    assert_eq!(kind, DnsFailureKind::TimedOut);
    assert!(detail.contains("timed out after 300 ms"), "{detail}");
}

#[test]
fn an_answer_too_large_for_udp_is_asked_again_over_tcp() {
    let live = TestServer::live("a");
    let port = live.server().port();
    // 100 A records (1.6 KB) do not fit the 512 bytes of a UDP answer: dnsmasq truncates it.
    let hosts: String = std::iter::once(format!("127.0.0.1 big.{ZONE}\n"))
        .chain((1..100).map(|i| format!("127.2.0.{i} big.{ZONE}\n")))
        .collect();
    let Some(dns) = Dnsmasq::start(&hosts, &[]) else {
        return;
    };
    let json = format!(
        r#""servers": ["{}"], "manager_load_balancer": "big.{ZONE}:{port}", "nameservers": ["{}"],
            "probe": "tcp", "attempt_delay_ms": 0"#,
        refused(),
        dns.addr()
    );
    let ((l, rec_loop), (b, rec_block)) = both(&json);
    let (l, b) = (l.unwrap(), b.unwrap());
    assert!(l.via_balancer && b.via_balancer);
    let sorted = |rec: &Recorder| {
        let (mut resolved, failed) = balancer_events(rec);
        resolved.iter_mut().for_each(|s| s.sort_by_key(ToString::to_string));
        (resolved, failed)
    };
    let (resolved, failed) = sorted(&rec_loop);
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(resolved[0].len(), 100);
    assert_eq!(sorted(&rec_loop), sorted(&rec_block));
}

#[test]
fn a_thousand_srv_records_are_read_although_dnsmasqs_tcp_answer_is_malformed() {
    // As the blocking lookup's test: the answer section of the TCP answer is used.
    let live = TestServer::live("a");
    let hosts: String = (0..1000)
        .map(|i| format!("127.1.{}.{} s{i}.{ZONE}\n", i / 250, i % 250 + 1))
        .collect();
    let records: Vec<String> = (0..1000)
        .map(|i| format!("--srv-host=_big._tcp.{ZONE},s{i}.{ZONE},{},1,1", 7000 + i))
        .collect();
    let Some(dns) = Dnsmasq::start(&hosts, &records) else {
        return;
    };
    let json = format!(
        r#""servers": ["{}"], "manager_load_balancer": "srv:_big._tcp.{ZONE}", "nameservers": ["{}"],
            "probe": "tcp", "attempt_delay_ms": 0, "dns_timeout_ms": 3000, "connect_timeout_ms": 500"#,
        live.server(),
        dns.addr()
    );
    let (looped, rec_loop) = client(&json);
    assert_eq!(event_loop_connect(&looped).unwrap().server, live.server());
    let (resolved, failed) = balancer_events(&rec_loop);
    // The balancer fails only as its addresses are refused, not in its lookup.
    assert!(failed.iter().all(|f| !f.contains("DNS")), "{:?}", &failed[0][..200]);
    assert_eq!(resolved.len(), 1);
    let mut ports: Vec<u16> = resolved[0].iter().map(Server::port).collect();
    ports.sort_unstable();
    assert_eq!(ports, (7000..8000).collect::<Vec<u16>>());
}

/// A UDP name server of the test's that answers each query with what `answer` makes of it.
struct Liar {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Liar {
    fn start(answer: fn(&[u8]) -> Vec<u8>) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf)
                    && n >= 12
                {
                    let _ = socket.send_to(&answer(&buf[..n]), from);
                }
            }
        });
        Liar {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Liar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The query turned into an answer with one record whose data runs past the message.
fn garbage(query: &[u8]) -> Vec<u8> {
    let mut reply = query.to_vec();
    reply[2] = 0x81;
    reply[3] = 0x80;
    reply[7] = 1; // one answer record
    reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 200, 127]);
    reply
}

/// A well-formed answer, to a query of another id.
fn wrong_id(query: &[u8]) -> Vec<u8> {
    let mut reply = query.to_vec();
    reply[0] ^= 0xff;
    reply[2] = 0x81;
    reply[3] = 0x80;
    reply
}

/// A client asking `liar` for the balancer `lb` and the server `srv` ahead of `live`.
fn lied_to(liar: &Liar, live: &TestServer, dns_timeout_ms: u64) -> String {
    format!(
        r#""servers": ["srv.{ZONE}:1", "{}"], "manager_load_balancer": "lb.{ZONE}", "nameservers": ["{}"],
            "dns_timeout_ms": {dns_timeout_ms}, "attempt_delay_ms": 0, "probe": "tcp""#,
        live.server(),
        liar.addr
    )
}

#[test]
fn a_garbled_answer_is_a_clear_dns_failure_at_once() {
    let live = TestServer::live("a");
    let liar = Liar::start(garbage);
    let json = lied_to(&liar, &live, 5000);
    let (looped, rec_loop) = client(&json);
    let started = Instant::now();
    let l = event_loop_connect(&looped).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(l.server, live.server());
    let (_, failed) = balancer_events(&rec_loop);
    assert!(
        failed.len() == 1 && failed[0].contains("cannot be decoded"),
        "{failed:?}"
    );
    assert!(
        failed[0].contains(&liar.addr.to_string()),
        "the name server is named: {failed:?}"
    );
    assert_eq!(l.failed.len(), 2, "the balancer and srv.{ZONE}: {:?}", l.failed);
    // The blocking call fails alike (hickory's words for the decoding error).
    let b = client(&json).0.connect().unwrap();
    assert_eq!(b.failed.len(), 2, "{:?}", b.failed);
    for (l, b) in l.failed.iter().zip(&b.failed) {
        assert_eq!(l.server, b.server);
        let (kind, detail) = dns_failure(&l.reason);
        assert_eq!(kind, DnsFailureKind::Other, "{detail}");
        assert!(detail.contains("cannot be decoded"), "{detail}");
        assert_eq!(dns_failure(&b.reason).0, DnsFailureKind::Other);
    }
}

/// The query turned into an answer to another question: its name's first letter changed.
fn other_question(query: &[u8]) -> Vec<u8> {
    let mut reply = wrong_id(query);
    reply[0] ^= 0xff;
    reply[13] ^= 0x01;
    reply
}

#[test]
fn an_answer_to_another_query_is_ignored_and_named_when_the_lookup_times_out() {
    // A forged answer must not end a lookup: it is ignored, as hickory ignores it for the
    // blocking call, and the timeout says what came instead.
    let live = TestServer::live("a");
    for (answer, words) in [
        (wrong_id as fn(&[u8]) -> Vec<u8>, "not the response to the query"),
        (other_question, "the answer to another question"),
    ] {
        let liar = Liar::start(answer);
        let json = lied_to(&liar, &live, 400);
        let ((l, rec_loop), (b, _)) = both(&json);
        let (l, b) = (l.unwrap(), b.unwrap());
        assert_eq!(l.server, live.server());
        let (_, failed) = balancer_events(&rec_loop);
        assert!(failed.len() == 1 && failed[0].contains(words), "{failed:?}");
        let kinds =
            |c: &Connected| -> Vec<DnsFailureKind> { c.failed.iter().map(|a| dns_failure(&a.reason).0).collect() };
        assert_eq!(kinds(&l), [DnsFailureKind::TimedOut, DnsFailureKind::TimedOut]);
        assert_eq!(kinds(&l), kinds(&b), "{:?}", b.failed);
        let (_, detail) = dns_failure(&l.failed[1].reason);
        assert!(
            detail.contains("timed out after 400 ms") && detail.contains(words),
            "{detail}"
        );
    }
}

#[test]
fn search_domains_complete_short_names_as_for_the_blocking_call() {
    let live = TestServer::live("a");
    let Some(dns) = Dnsmasq::start(&loopback_hosts(), &[]) else {
        return;
    };
    let port = live.server().port();
    let json = format!(
        r#""servers": ["srv:{port}"], "manager_load_balancer": "lb:{port}", "nameservers": ["{}"],
            "search_domains": ["nosuch.example", "{ZONE}"], "probe": "tcp", "attempt_delay_ms": 0"#,
        dns.addr()
    );
    let ((l, rec_loop), (b, rec_block)) = both(&json);
    let (l, b) = (l.unwrap(), b.unwrap());
    assert!(l.via_balancer);
    assert_eq!((&l.server, &l.failed), (&b.server, &b.failed));
    assert_eq!(balancer_events(&rec_loop).0[0][0], live.server());
    assert_eq!(balancer_events(&rec_loop), balancer_events(&rec_block));
    // Without the balancer, the short server name is found the same way.
    let json = format!(
        r#""servers": ["srv:{port}"], "nameservers": ["{}"], "search_domains": ["{ZONE}"], "probe": "tcp""#,
        dns.addr()
    );
    let ((l, _), (b, _)) = both(&json);
    assert_eq!(l.unwrap().server, b.unwrap().server);
}

/// A name server whose UDP port never answers and whose TCP port relays to `upstream` over TCP.
struct TcpOnly {
    addr: SocketAddr,
    _udp: UdpSocket,
}

impl TcpOnly {
    fn start(upstream: SocketAddr) -> Self {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let udp = UdpSocket::bind(addr).unwrap();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut relay = || -> std::io::Result<()> {
                    let mut up = std::net::TcpStream::connect(upstream)?;
                    let mut len = [0u8; 2];
                    conn.read_exact(&mut len)?;
                    let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    conn.read_exact(&mut query)?;
                    up.write_all(&len)?;
                    up.write_all(&query)?;
                    up.read_exact(&mut len)?;
                    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    up.read_exact(&mut answer)?;
                    conn.write_all(&len)?;
                    conn.write_all(&answer)
                };
                let _ = relay();
            }
        });
        TcpOnly { addr, _udp: udp }
    }
}

#[test]
fn a_name_server_silent_over_udp_is_asked_over_tcp_after_half_the_dns_timeout() {
    let live = TestServer::live("a");
    let Some(dns) = Dnsmasq::start(&loopback_hosts(), &[]) else {
        return;
    };
    let relay = TcpOnly::start(dns.addr());
    let port = live.server().port();
    let json = format!(
        r#""servers": ["{}"], "manager_load_balancer": "lb.{ZONE}:{port}", "nameservers": ["{}"],
            "dns_timeout_ms": 1000, "attempt_delay_ms": 0, "probe": "tcp""#,
        refused(),
        relay.addr
    );
    let (looped, rec_loop) = client(&json);
    let started = Instant::now();
    let l = event_loop_connect(&looped).unwrap();
    let took = started.elapsed();
    assert!(l.via_balancer, "{:?}", l.failed);
    assert_eq!(l.server, live.server());
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_millis(1000),
        "TCP is asked after half the DNS timeout: {took:?}"
    );
    assert_eq!(balancer_events(&rec_loop).0[0][0], live.server());
}

#[test]
fn wait_drives_a_lookup_and_cancel_closes_its_sockets() {
    let live = TestServer::live("a");
    let Some(dns) = Dnsmasq::start(&loopback_hosts(), &[]) else {
        return;
    };
    let port = live.server().port();
    let json = format!(
        r#""servers": ["{}"], "manager_load_balancer": "lb.{ZONE}:{port}", "nameservers": ["{}"], "probe": "tcp""#,
        refused(),
        dns.addr()
    );
    let (looped, _) = client(&json);
    let mut call = looped.start_connect().unwrap();
    call.wait();
    assert!(looped.finish(call).unwrap().via_balancer);
    // With `attempt_delay_ms` 0 nothing starts beside the lookup of a silent name server.
    let silent = silent_nameserver();
    let json = format!(
        r#""servers": ["{}"], "manager_load_balancer": "lb.{ZONE}", "nameservers": ["{}"], "attempt_delay_ms": 0"#,
        live.server(),
        silent.local_addr().unwrap()
    );
    let (looped, _) = client(&json);
    let mut call = looped.start_connect().unwrap();
    call.process();
    assert_eq!(call.watches().len(), 2, "A and AAAA, one UDP socket each");
    call.cancel();
    assert!(call.is_done() && call.watches().is_empty());
    assert!(matches!(looped.finish(call), Err(scoutlb::Error::Cancelled)));
}
