//! Time to reach the one live server with k refused or silent servers ahead of it, with the
//! default stagger (250 ms) and strictly sequential (`attempt_delay_ms = 0`). Prints a table.
//!
//! Run: `cargo bench -p scoutlb --bench connect` (the sequential silent rows take ~40 s).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Behaviour, TestServer, refused};
use scoutlb::{Client, Config, Server};

fn time_to_connect(ahead: &[Server], live: &Server, delay_ms: u64) -> Duration {
    let mut servers: Vec<String> = ahead.iter().map(|s| format!("\"{s}\"")).collect();
    servers.push(format!("\"{live}\""));
    let json = format!(
        r#"{{"servers": [{}], "attempt_delay_ms": {delay_ms}}}"#,
        servers.join(",")
    );
    let client = Client::new(Config::from_json(&json).unwrap()).unwrap();
    let start = Instant::now();
    let c = client.connect().unwrap();
    let took = start.elapsed();
    assert_eq!(&c.server, live);
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let live = TestServer::live("live");
    let silent: Vec<TestServer> = (0..9).map(|_| TestServer::start(Behaviour::Silent)).collect();
    println!("time to reach the live server (default connect timeout 3 s; median of 5 runs, 1 run where marked *)");
    println!(
        "{:<8} {:>3} {:>22} {:>26}",
        "ahead", "k", "default (250 ms stagger)", "sequential (delay 0)"
    );
    for kind in ["refused", "silent"] {
        for k in [0usize, 1, 3, 9] {
            let ahead: Vec<Server> = match kind {
                "refused" => (0..k).map(|_| refused()).collect(),
                _ => silent[..k].iter().map(TestServer::server).collect(),
            };
            let staggered = median((0..5).map(|_| time_to_connect(&ahead, &live.server(), 250)).collect());
            let slow = kind == "silent" && k > 0;
            let runs = if slow { 1 } else { 5 };
            let sequential = median((0..runs).map(|_| time_to_connect(&ahead, &live.server(), 0)).collect());
            println!(
                "{kind:<8} {k:>3} {:>19.1} ms {:>21.1} ms{}",
                staggered.as_secs_f64() * 1e3,
                sequential.as_secs_f64() * 1e3,
                if slow { " *" } else { "" }
            );
        }
    }
}
