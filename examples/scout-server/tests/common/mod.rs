//! Helpers shared by the integration tests: spawning servers, plain HTTP GETs, bounded polling.

#![allow(dead_code)] // each test file uses a different part

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use scoutlb_testkit::ScoutServerProcess;

/// Upper bound of every wait in the tests.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_scout-server");

/// A running `scout-server` of these tests, with plain HTTP GETs against it.
pub struct Server(ScoutServerProcess);

impl Server {
    /// Starts a server on a free loopback port and waits until it is registered.
    pub fn start(db: &str, extra: &[&str]) -> Server {
        Server(ScoutServerProcess::start(Path::new(BIN), db, extra, DEADLINE))
    }

    /// `GET path`: status, content type, body.
    pub fn get(&self, path: &str) -> (u16, String, String) {
        request(self.addr, "GET", path)
    }

    /// `GET /scout/v1/servers`, which must be 200 JSON: the parsed body.
    pub fn servers(&self) -> serde_json::Value {
        let (status, content_type, body) = self.get("/scout/v1/servers");
        assert_eq!(status, 200, "body: {body}\nlog:\n{}", self.log());
        assert_eq!(content_type, "application/json");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
    }

    /// The ids listed by `/scout/v1/servers`, in order.
    pub fn listed_ids(&self) -> Vec<String> {
        ids(&self.servers())
    }
}

impl Deref for Server {
    type Target = ScoutServerProcess;

    fn deref(&self) -> &ScoutServerProcess {
        &self.0
    }
}

impl DerefMut for Server {
    fn deref_mut(&mut self) -> &mut ScoutServerProcess {
        &mut self.0
    }
}

/// The ids of a parsed `/scout/v1/servers` body, in order.
pub fn ids(list: &serde_json::Value) -> Vec<String> {
    list["servers"]
        .as_array()
        .expect("servers array")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect()
}

/// A minimal HTTP/1.1 request with `Connection: close`: status, content type, body.
pub fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

/// Polls `check` until it holds; panics with `what` after [`DEADLINE`].
pub fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(50));
    }
}
