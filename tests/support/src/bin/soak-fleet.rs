//! Loopback Scout Servers that die and come back, for the soak bench (`tests/soak/run.sh`).
//!
//! ```text
//! soak-fleet SERVERS PERIOD_MS SECONDS
//! ```
//! Prints `ports P1 P2 ...` once every port is bound, then every `PERIOD_MS` moves each server to
//! its next state, in turn: up (answers `GET /scout/v1/servers` with the fleet's list), down (port
//! closed: refused), silent (listening with a full backlog and never accepting: a connect hangs)
//! hung (accepts, reads the request, never answers), silent again. Server `i` starts at state `i`,
//! so with five servers exactly one is up at a time and the up one moves back one place per period:
//! a reconnect finds its default down and walks past silent and hung servers to the live one. Exits after `SECONDS`, or when its stdin closes.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::FromRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
enum Mode {
    Up,
    Down,
    Silent,
    Hung,
}

/// The states in turn; with five servers exactly one is up at any time.
const MODES: [Mode; 5] = [Mode::Up, Mode::Down, Mode::Silent, Mode::Hung, Mode::Silent];

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let [servers, period_ms, seconds] = args[..] else {
        eprintln!("usage: soak-fleet SERVERS PERIOD_MS SECONDS");
        std::process::exit(2);
    };
    let ports: Vec<u16> = (0..servers)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port())
        .collect();
    let body = Arc::new(
        serde_json::json!({"servers": ports.iter().map(|p| serde_json::json!({"host": "127.0.0.1", "port": p})).collect::<Vec<_>>()})
            .to_string(),
    );
    let done = Arc::new(AtomicBool::new(false));
    {
        let done = done.clone();
        // End when the driver closes our stdin (it died or finished).
        thread::spawn(move || {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            done.store(true, Ordering::SeqCst);
        });
    }
    let end = Instant::now() + Duration::from_secs(seconds);
    let period = Duration::from_millis(period_ms);
    let workers: Vec<_> = ports
        .iter()
        .enumerate()
        .map(|(i, &port)| {
            let (body, done) = (body.clone(), done.clone());
            thread::spawn(move || serve(port, i, period, end, &body, &done))
        })
        .collect();
    println!(
        "ports {}",
        ports.iter().map(u16::to_string).collect::<Vec<_>>().join(" ")
    );
    std::io::stdout().flush().unwrap();
    for w in workers {
        w.join().unwrap();
    }
}

/// Run one server through its states until `end`.
fn serve(port: u16, first: usize, period: Duration, end: Instant, body: &str, done: &AtomicBool) {
    let mut tick = first;
    while Instant::now() < end && !done.load(Ordering::SeqCst) {
        let until = (Instant::now() + period).min(end);
        match MODES[tick % MODES.len()] {
            Mode::Up => up(port, until, body, done),
            Mode::Down => wait(until, done),
            Mode::Silent => silent(port, until, done),
            Mode::Hung => hung(port, until, done),
        }
        tick += 1;
    }
}

fn wait(until: Instant, done: &AtomicBool) {
    while Instant::now() < until && !done.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(20));
    }
}

fn listener(port: u16) -> Option<TcpListener> {
    let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).ok()?;
    l.set_nonblocking(true).ok()?;
    Some(l)
}

fn up(port: u16, until: Instant, body: &str, done: &AtomicBool) {
    let Some(l) = listener(port) else {
        return wait(until, done);
    };
    while Instant::now() < until && !done.load(Ordering::SeqCst) {
        match l.accept() {
            Ok((stream, _)) => {
                let body = body.to_string();
                thread::spawn(move || answer(stream, &body));
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Read the request head and answer with the server list.
fn answer(mut stream: TcpStream, body: &str) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Listen with a backlog of 0 and fill it ourselves: further SYNs are dropped, so a connect hangs.
fn silent(port: u16, until: Instant, done: &AtomicBool) {
    // SAFETY: plain socket calls on a descriptor owned by the TcpListener built from it.
    let l = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return wait(until, done);
        }
        let l = TcpListener::from_raw_fd(fd);
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be(),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len) != 0 || libc::listen(fd, 0) != 0 {
            return wait(until, done);
        }
        l
    };
    // Fill the queue (a backlog of 0 holds one connection) with connections nobody accepts.
    let fillers: Vec<TcpStream> = (0..2)
        .filter_map(|_| {
            TcpStream::connect_timeout(
                &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into(),
                Duration::from_millis(200),
            )
            .ok()
        })
        .collect();
    wait(until, done);
    drop(fillers);
    drop(l);
}

/// Accept and read, never answer; the connections are closed when the state ends.
fn hung(port: u16, until: Instant, done: &AtomicBool) {
    let Some(l) = listener(port) else {
        return wait(until, done);
    };
    let mut held = Vec::new();
    while Instant::now() < until && !done.load(Ordering::SeqCst) {
        match l.accept() {
            Ok((stream, _)) => held.push(stream),
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}
