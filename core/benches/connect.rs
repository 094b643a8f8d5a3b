//! The attempt race on loopback, with default settings (attempt_delay 250 ms, answer_delay 1 s,
//! connect timeout 3 s) against strictly sequential attempts (both delays 0). Prints tables:
//! - where a device goes when its default answers slowly and the next server at once, and how
//!   many requests the next server got;
//! - time to reach the one live server with k servers ahead that refuse, drop SYNs
//!   (unreachable) or accept and never answer (hung);
//! - time to reach the default server when the ManagerLoadBalancer's DNS server is silent.
//!
//! Run: `cargo bench -p scoutlb --bench connect` (about two minutes; the sequential rows wait for
//! the 3 s timeouts).

use std::net::UdpSocket;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use scoutlb::{Client, Config, Connected, Server};
use scoutlb_testkit::{Behaviour, TestServer, refused, unreachable};

const SEQUENTIAL: &str = r#""attempt_delay_ms": 0, "answer_delay_ms": 0"#;

fn connect(servers: &[Server], extra: &str) -> (Connected, Duration) {
    let list: Vec<String> = servers.iter().map(|s| format!("\"{s}\"")).collect();
    let sep = if extra.is_empty() { "" } else { ", " };
    let json = format!(r#"{{"servers": [{}]{sep}{extra}}}"#, list.join(","));
    let client = Client::new(Config::from_json(&json).unwrap()).unwrap();
    let start = Instant::now();
    let c = client.connect().unwrap();
    (c, start.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median time to reach `live` with `ahead` in front, over `runs` runs.
fn time_to_live(ahead: &[Server], live: &Server, extra: &str, runs: usize) -> Duration {
    let servers: Vec<Server> = ahead.iter().cloned().chain([live.clone()]).collect();
    median(
        (0..runs)
            .map(|_| {
                let (c, took) = connect(&servers, extra);
                assert_eq!(&c.server, live);
                took
            })
            .collect(),
    )
}

fn slow_default_table() {
    println!("a default answering slowly, the next server answering at once (5 restarts each, default settings)");
    println!(
        "{:>22} {:>16} {:>26} {:>14}",
        "default answers in", "device goes to", "requests to the next server", "median time"
    );
    for delay in [100u64, 300, 600, 900, 1500] {
        let slow = TestServer::live_after("default", Duration::from_millis(delay));
        let next = TestServer::live("next");
        let mut kept = 0;
        let mut times = Vec::new();
        for _ in 0..5 {
            let (c, took) = connect(&[slow.server(), next.server()], "");
            kept += usize::from(c.server == slow.server());
            times.push(took);
        }
        let goes = if kept == 5 {
            "default (5/5)".to_string()
        } else {
            format!("next ({}/5)", 5 - kept)
        };
        println!(
            "{:>19} ms {:>16} {:>26} {:>11.1} ms",
            delay,
            goes,
            next.hits.load(Ordering::SeqCst),
            ms(median(times))
        );
    }
}

fn ahead_table() {
    let live = TestServer::live("live");
    let hung: Vec<TestServer> = (0..3).map(|_| TestServer::start(Behaviour::Silent)).collect();
    let dropped: Vec<_> = (0..9).map(|_| unreachable()).collect();
    println!();
    println!("time to reach the live server with k servers ahead (median of 5 runs; * = 1 run)");
    println!(
        "{:<12} {:>3} {:>18} {:>24}",
        "ahead", "k", "default settings", "sequential (delays 0)"
    );
    let rows: [(&str, &[usize]); 3] = [
        ("refused", &[0, 1, 3, 9]),
        ("unreachable", &[1, 3, 9]),
        ("hung", &[1, 3]),
    ];
    for (kind, ks) in rows {
        for &k in ks {
            let ahead: Vec<Server> = match kind {
                "refused" => (0..k).map(|_| refused()).collect(),
                "unreachable" => dropped[..k].iter().map(|d| d.0.clone()).collect(),
                _ => hung[..k].iter().map(TestServer::server).collect(),
            };
            let staggered = time_to_live(&ahead, &live.server(), "", 5);
            let slow = kind != "refused";
            let sequential = time_to_live(&ahead, &live.server(), SEQUENTIAL, if slow { 1 } else { 5 });
            println!(
                "{kind:<12} {k:>3} {:>15.1} ms {:>21.1} ms{}",
                ms(staggered),
                ms(sequential),
                if slow { " *" } else { "" }
            );
        }
    }
}

fn silent_dns_table() {
    let live = TestServer::live("default");
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns = silent.local_addr().unwrap();
    let extra =
        format!(r#""manager_load_balancer": "lb.scoutlb.test", "nameservers": ["{dns}"], "dns_timeout_ms": 2000"#);
    let took = median(
        (0..5)
            .map(|_| {
                let (c, took) = connect(&[live.server()], &extra);
                assert_eq!(c.server, live.server());
                took
            })
            .collect(),
    );
    println!();
    println!("a ManagerLoadBalancer whose DNS server is silent (dns_timeout_ms 2000), median of 5:");
    println!("  default server reached in {:.1} ms", ms(took));
}

fn main() {
    slow_default_table();
    ahead_table();
    silent_dns_table();
}
