//! The event-loop driver against the blocking calls, on loopback (issue "Event-loop drivers",
//! item 7). Prints:
//! - the fixed cost of reaching the live server (a plain TCP connect and one HTTP GET of the list
//!   on this thread), then a connect with 0 and 9 refused servers ahead, blocking and on the
//!   loop, as medians, as ratios to the fixed cost and to the call alone, and what each refusal
//!   adds;
//! - the threads a connect adds to the process while ten attempts run (blocking: one per
//!   attempt; loop: 0);
//! - memory per call in flight: RSS before and after 1,000 event-loop calls waiting on a silent
//!   server in one loop, and how many calls one thread keeps in flight.
//!
//! Run: `cargo bench -p scoutlb --bench event_loop` (a few seconds). The machine is shared: the
//! figures are medians of many runs, read with their ratios. Unpinned, they swing with the CPU the
//! test server's thread runs on; `taskset -c 1 cargo bench ...` keeps every thread on one CPU.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use scoutlb::{Client, Config, Server};
use scoutlb_testkit::{TestServer, refused, unreachable_many};

const RUNS: usize = 201;

fn config(servers: &[Server], extra: &str) -> Config {
    let list: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    Config::from_json(&format!(r#"{{"servers": [{}]{extra}}}"#, list.join(","))).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A line of /proc/self/status, as a number (kB for the memory lines).
fn status(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// One plain connect and GET of the list, as a hand-written agent would make it.
fn fixed_cost(live: &Server) -> Duration {
    let start = Instant::now();
    let mut s = TcpStream::connect((live.host(), live.port())).unwrap();
    write!(
        s,
        "GET /scout/v1/servers HTTP/1.1\r\nHost: {live}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    start.elapsed()
}

fn blocking(servers: &[Server]) -> Duration {
    let client = Client::new(config(servers, "")).unwrap();
    let start = Instant::now();
    client.connect().unwrap();
    start.elapsed()
}

fn looped(servers: &[Server]) -> Duration {
    let client = Client::new(config(servers, "")).unwrap();
    let start = Instant::now();
    let mut call = client.start_connect().unwrap();
    call.wait();
    client.finish(call).unwrap();
    start.elapsed()
}

fn times() {
    let live = TestServer::live("live");
    let ahead: Vec<Server> = (0..9).map(|_| refused()).collect();
    let with_ahead: Vec<Server> = ahead.iter().cloned().chain([live.server()]).collect();
    let alone = [live.server()];
    // Warm up: the first calls read the hosts file, build TLS settings, fault pages in.
    for _ in 0..20 {
        fixed_cost(&live.server());
        blocking(&alone);
        looped(&alone);
    }
    let fixed = median((0..RUNS).map(|_| fixed_cost(&live.server())).collect());
    println!(
        "time to reach the live server, median of {RUNS} (fixed cost: one plain connect + GET, {:.3} ms)",
        ms(fixed)
    );
    // A call alone and one with refusals ahead take turns, so that a change of the machine's
    // load falls on both; the blocking calls run first, apart, as the threads of their attempts
    // end after them.
    let pair = |call: fn(&[Server]) -> Duration| {
        let (mut none, mut nine) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            none.push(call(&alone));
            nine.push(call(&with_ahead));
        }
        (median(none), median(nine))
    };
    let (b0, b9) = pair(blocking);
    std::thread::sleep(Duration::from_millis(100));
    let (l0, l9) = pair(looped);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "{:>12} {:>10} {:>8} {:>8} {:>12} {:>8} {:>8}",
        "ahead", "blocking", "× fixed", "× alone", "event loop", "× fixed", "× alone"
    );
    for (name, b, l) in [("none", b0, l0), ("9 refused", b9, l9)] {
        println!(
            "{name:>12} {:>7.3} ms {:>7.2}× {:>7.2}× {:>9.3} ms {:>7.2}× {:>7.2}×",
            ms(b),
            ratio(b, fixed),
            ratio(b, b0),
            ms(l),
            ratio(l, fixed),
            ratio(l, l0)
        );
    }
    let per = |with: Duration, without: Duration| with.saturating_sub(without).as_secs_f64() * 1e6 / 9.0;
    println!(
        "each refusal costs: blocking {:.1} µs, event loop {:.1} µs",
        per(b9, b0),
        per(l9, l0)
    );
}

fn threads_per_connect() {
    // Ten servers whose SYNs are dropped, attempts staggered by 10 ms: after 100 ms the call has
    // ten attempts connecting. The event-loop call is measured first, so that no thread of the
    // blocking call (ending after its cancel) is left to count.
    let dead = unreachable_many(10);
    let servers: Vec<Server> = dead.iter().map(|(s, _)| s.clone()).collect();
    let extra = r#", "attempt_delay_ms": 10, "connect_timeout_ms": 3000"#;
    let client = Client::new(config(&servers, extra)).unwrap();
    let before_loop = status("Threads:");
    let mut call = client.start_connect().unwrap();
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
        call.process();
    }
    let (loop_peak, loop_watches) = (status("Threads:"), call.watches().len());
    call.cancel();
    let _ = client.finish(call);
    let client = Client::new(config(&servers, extra)).unwrap();
    let before = status("Threads:");
    let blocking_peak = std::thread::scope(|s| {
        let call = s.spawn(|| client.connect());
        std::thread::sleep(Duration::from_millis(300));
        let peak = status("Threads:");
        client.canceller().cancel();
        let _ = call.join();
        // Not counting the scoped thread that makes the call.
        peak - 1
    });
    println!();
    println!("threads a connect adds while 10 attempts connect to servers that drop SYNs");
    println!(
        "  blocking: +{}   event loop: +{} ({loop_watches} sockets watched)",
        blocking_peak.saturating_sub(before),
        loop_peak.saturating_sub(before_loop)
    );
}

fn memory_in_flight() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let servers = [Server::from(silent.local_addr().unwrap())];
    let extra = r#", "connect_timeout_ms": 20000"#;
    let clients: Vec<Client> = (0..1000)
        .map(|_| Client::new(config(&servers, extra)).unwrap())
        .collect();
    // One call first, so that what every call shares is not counted per call.
    let mut first = clients[0].start_connect().unwrap();
    first.process();
    let before = status("VmRSS:");
    let mut calls: Vec<_> = clients[1..].iter().map(|c| c.start_connect().unwrap()).collect();
    for c in &mut calls {
        c.process();
    }
    let after = status("VmRSS:");
    let in_flight = calls.iter().filter(|c| !c.is_done()).count() + usize::from(!first.is_done());
    let per_call = (after.saturating_sub(before)) as f64 / calls.len() as f64;
    println!();
    println!(
        "memory: {} event-loop calls in flight on one thread, RSS +{} kB ({per_call:.1} kB per call; peak RSS {} kB)",
        in_flight,
        after.saturating_sub(before),
        status("VmHWM:")
    );
    for (c, call) in clients[1..].iter().zip(calls) {
        let _ = c.finish(call);
    }
    let _ = clients[0].finish(first);
}

fn main() {
    times();
    threads_per_connect();
    memory_in_flight();
}
