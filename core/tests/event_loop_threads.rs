//! The event-loop driver starts no thread (behaviour.md, "Event loops"): one thread runs a
//! loopback server and a device call past a balancer looked up in DNS, nine refused servers and
//! a server found by name in the same poll(2) loop, and the process's thread count never grows. Its own binary, so no other test's threads are counted.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use scoutlb::{Client, Config, Server};
use scoutlb_testkit::dns::{Dnsmasq, ZONE};
use scoutlb_testkit::event_loop::poll;
use scoutlb_testkit::{list_body, refused};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// A one-thread HTTP server: answers each request with `body`, on the caller's loop.
struct LoopServer {
    listener: TcpListener,
    conns: Vec<(TcpStream, Vec<u8>)>,
    body: String,
}

impl LoopServer {
    fn serve(&mut self) {
        while let Ok((conn, _)) = self.listener.accept() {
            conn.set_nonblocking(true).unwrap();
            self.conns.push((conn, Vec::new()));
        }
        let body = &self.body;
        self.conns.retain_mut(|(conn, seen)| {
            let mut buf = [0u8; 4096];
            match conn.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
            if !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                return true;
            }
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            // Small enough to fit the socket buffer at once.
            let _ = conn.write_all(answer.as_bytes());
            false
        });
    }
}

#[test]
fn a_connect_past_nine_refused_servers_starts_no_thread() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let live = Server::from(listener.local_addr().unwrap());
    let mut server = LoopServer {
        listener,
        conns: Vec::new(),
        body: list_body(&[(&live, "live")], Some("live")),
    };
    // The balancer's name and a server's name are asked of a dnsmasq (another process): the
    // lookups run on the loop's thread too. Without dnsmasq (skipped), the refused servers only.
    let dns = Dnsmasq::start(&format!("127.0.0.1 lb.{ZONE}\n127.0.0.1 by-name.{ZONE}\n"), &[]);
    let mut servers: Vec<String> = (0..9).map(|_| format!("\"{}\"", refused())).collect();
    let mut json = String::new();
    if let Some(dns) = &dns {
        servers.push(format!("\"by-name.{ZONE}:{}\"", refused().port()));
        json = format!(
            r#", "manager_load_balancer": "lb.{ZONE}:{}", "nameservers": ["{}"]"#,
            refused().port(),
            dns.addr()
        );
    }
    servers.push(format!("\"{live}\""));
    let config = Config::from_json(&format!(r#"{{"servers": [{}]{json}}}"#, servers.join(","))).unwrap();
    let client = Client::new(config).unwrap();
    let before = threads();
    let mut call = client.start_connect().unwrap();
    let mut most = threads();
    let until = Instant::now() + Duration::from_secs(30);
    while !call.is_done() {
        assert!(Instant::now() < until, "the call never ended");
        let timeout = call.timeout().unwrap().min(Duration::from_millis(20));
        let mut server_fds = vec![server.listener.as_raw_fd()];
        server_fds.extend(server.conns.iter().map(|(c, _)| c.as_raw_fd()));
        poll(&call.watches(), &server_fds, timeout);
        server.serve();
        call.process();
        most = most.max(threads());
    }
    let connected = client.finish(call).unwrap();
    assert_eq!(connected.server, live);
    // The balancer's address, nine refused servers and the one found by name.
    let ahead = if dns.is_some() { 11 } else { 9 };
    assert_eq!(connected.failed.len(), ahead, "{:?}", connected.failed);
    assert!(
        connected
            .failed
            .iter()
            .all(|a| a.reason == scoutlb::FailReason::Refused),
        "{:?}",
        connected.failed
    );
    assert_eq!(
        most, before,
        "threads before the call: {before}, at most during it: {most}"
    );
}
