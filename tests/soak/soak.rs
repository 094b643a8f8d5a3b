//! The Rust side of the soak bench (`tests/soak/run.sh`): one client in one process, a
//! connect / lost / reconnect cycle against the flapping fleet, and its resident memory, threads
//! and open descriptors after the warm-up and at the end.
//!
//! ```text
//! soak CONFIG_JSON_FILE WARMUP_S RUN_S COOLDOWN_S
//! ```
//! Prints `baseline rss_kb=N threads=N fds=N` after the warm-up and `end rss_kb=N threads=N fds=N
//! cycles=N ok=N failed=N attempts_failed=N` after the run and a cool-down without calls (attempts time out).

use std::time::{Duration, Instant};

/// Resident memory in KiB, threads and open descriptors of this process.
fn usage() -> (u64, u64, usize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir("/proc/self/fd").unwrap().count() - 1; // the read_dir's own
    (field("VmRSS:"), field("Threads:"), fds)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, config, warmup, run, cooldown] = args.as_slice() else {
        eprintln!("usage: soak CONFIG_JSON_FILE WARMUP_S RUN_S COOLDOWN_S");
        std::process::exit(2);
    };
    let secs = |s: &str| Duration::from_secs(s.parse().expect("seconds"));
    let text = std::fs::read_to_string(config).expect("the configuration file");
    let client = scoutlb::Client::new(scoutlb::Config::from_json(&text).expect("a valid configuration")).unwrap();
    let (mut cycles, mut ok, mut failed, mut attempts_failed) = (0u64, 0u64, 0u64, 0usize);
    let mut cycle = |client: &scoutlb::Client| {
        // connect at start-up, then: the connection is lost, reconnect.
        let outcome = if cycles == 0 {
            client.connect()
        } else {
            client.reconnect()
        };
        match outcome {
            Ok(connected) => {
                ok += 1;
                attempts_failed += connected.failed.len();
            }
            Err(_) => failed += 1,
        }
        client.connection_lost();
        cycles += 1;
        std::thread::sleep(Duration::from_millis(50));
    };
    let start = Instant::now();
    while start.elapsed() < secs(warmup) {
        cycle(&client);
    }
    let (rss, threads, fds) = usage();
    println!("baseline rss_kb={rss} threads={threads} fds={fds}");
    let start = Instant::now();
    while start.elapsed() < secs(run) {
        cycle(&client);
    }
    std::thread::sleep(secs(cooldown));
    let (rss, threads, fds) = usage();
    println!(
        "end rss_kb={rss} threads={threads} fds={fds} cycles={cycles} ok={ok} failed={failed} attempts_failed={attempts_failed}"
    );
}
