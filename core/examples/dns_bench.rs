//! Balancer resolution latency: scoutlb (hickory-resolver, a fresh resolver per lookup as on every
//! restart) beside the system resolver (glibc `getaddrinfo` through std `ToSocketAddrs`), both
//! asking the same local dnsmasq for the same name, A and AAAA.
//!
//! The system resolver reads `/etc/resolv.conf`, which names no port: dnsmasq listens on
//! 127.0.0.153:53, and the std lookups run in a child inside a private mount namespace
//! (`unshare -m`) where a resolv.conf naming that address is bind-mounted over `/etc/resolv.conf`.
//! dnsmasq is the testkit's ([`Dnsmasq::start_on`]). Needs root, `unshare` and dnsmasq.
//! Run: `cargo run --release -p scoutlb --example dns_bench`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::Command;
use std::time::Instant;

use scoutlb_testkit::dns::Dnsmasq;

const NAME: &str = "bench.test.example";
const DNS_IP: &str = "127.0.0.153";
const LOOKUPS: usize = 1000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--std-only") {
        let name = args.get(2).cloned().unwrap_or_else(|| NAME.into());
        let (median, p90, n) = measure(|| {
            let addrs: Vec<SocketAddr> = (name.as_str(), 22123).to_socket_addrs().expect("std lookup").collect();
            assert!(!addrs.is_empty());
            addrs.len()
        });
        println!("{median} {p90} {n}");
        return;
    }
    let hosts = format!("127.0.0.154 {NAME}\n::1 {NAME}\n");
    let addr: SocketAddr = format!("{DNS_IP}:53").parse().unwrap();
    let Some(dns) = Dnsmasq::start_on(addr, &hosts, &[]) else {
        return; // dnsmasq is missing: the testkit said so
    };
    let dir = tempfile::tempdir().unwrap();

    let config = scoutlb::Config::from_json(&format!(
        r#"{{"manager_load_balancer": "{NAME}", "nameservers": ["{}"]}}"#,
        dns.addr()
    ))
    .unwrap();
    let entry = config.manager_load_balancer.clone().unwrap();
    let (lib_median, lib_p90, lib_n) = measure(|| {
        let servers = scoutlb::resolve_balancer(&entry, &config).expect("library lookup");
        servers.len()
    });

    let rc = dir.path().join("resolv.conf");
    std::fs::write(&rc, format!("nameserver {DNS_IP}\noptions attempts:1\n")).unwrap();
    let me = std::env::current_exe().unwrap();
    let script = format!(
        "mount --bind '{}' /etc/resolv.conf && exec '{}' --std-only {NAME}",
        rc.display(),
        me.display()
    );
    let std_run = Command::new("unshare").args(["-m", "sh", "-c", &script]).output();
    drop(dns);

    println!("balancer resolution of {NAME} (A + AAAA) against dnsmasq on {DNS_IP}:53, {LOOKUPS} lookups each");
    println!(
        "  scoutlb (hickory, fresh resolver per lookup): median {lib_median} us, p90 {lib_p90} us, {lib_n} addresses"
    );
    match std_run {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let f: Vec<&str> = text.split_whitespace().collect();
            println!(
                "  std ToSocketAddrs (glibc getaddrinfo, resolv.conf bind-mounted in a mount namespace): median {} us, p90 {} us, {} addresses",
                f[0], f[1], f[2]
            );
        }
        Ok(out) => println!(
            "  std ToSocketAddrs: not measured (unshare/mount failed: {})",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => println!("  std ToSocketAddrs: not measured (cannot run unshare: {e})"),
    }
}

/// Run `lookup` LOOKUPS times (after 20 warm-up runs); median and 90th percentile in microseconds.
fn measure(mut lookup: impl FnMut() -> usize) -> (u128, u128, usize) {
    let mut n = 0;
    for _ in 0..20 {
        n = lookup();
    }
    let mut times: Vec<u128> = (0..LOOKUPS)
        .map(|_| {
            let start = Instant::now();
            n = lookup();
            start.elapsed().as_micros()
        })
        .collect();
    times.sort_unstable();
    (times[LOOKUPS / 2], times[LOOKUPS * 9 / 10], n)
}
