//! The herd figure of the two retry profiles (behaviour.md, "All fail"), from the pure schedule:
//! N devices lose their servers at the same instant (an outage; each notices at once and its first
//! try fails then), every try while the servers are down fails at once, and at T the servers are
//! back and the next try of each device succeeds. Prints, for each profile with its defaults and
//! for two outages, the peak of tries per second the servers see after the comeback, the peak
//! during the outage, the median, p99 and maximum time from the comeback until a device is
//! connected, and how many devices gave up (their profile's limit of tries); each figure the median
//! of 5 runs (seeds). No network and no clock: `RetryPolicy::wait` and `retries_again` only, so
//! the figures are the schedule's, not the machine's (the fleet tool's `outage --retry-profile`
//! measures real processes).
//!
//! Run: `cargo bench -p scoutlb --bench retry_herd` (DEVICES=10000 by default; a few seconds).

use std::time::{Duration, SystemTime};

use scoutlb::{Config, RetryPolicy};

/// How many tries one device makes at most in the model (a bound on the loop).
const MAX_TRIES: u32 = 100_000;

/// What one run of one profile gave.
struct Figures {
    peak_after: f64,
    peak_during: f64,
    p50: f64,
    p99: f64,
    max: f64,
    gave_up: f64,
}

fn policy(json: &str) -> RetryPolicy {
    Config::from_json(&format!(r#"{{"retry": {json}}}"#)).unwrap().retry
}

/// One outage of `outage` for `devices` devices on `retry`, draws from `seed`; `draw` None = a
/// uniform draw per wait, Some(u) = every draw u (no jitter at all).
fn run(retry: &RetryPolicy, devices: usize, outage: Duration, seed: u64, draw: Option<f64>) -> Figures {
    let mut rng = fastrand::Rng::with_seed(seed);
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let t_back = outage.as_secs_f64();
    let seconds = (t_back as usize) * 4 + 7200;
    let mut per_second = vec![0u32; seconds];
    let mut back = Vec::with_capacity(devices);
    let mut gave_up = 0;
    for _ in 0..devices {
        let mut t = 0.0f64;
        per_second[0] += 1;
        let mut tries = 1;
        loop {
            let now = start + Duration::from_secs_f64(t);
            if tries >= MAX_TRIES || !retry.retries_again(tries, Some(start), now) {
                gave_up += 1;
                break;
            }
            let unit = draw.unwrap_or_else(|| rng.f64());
            t += retry.wait(tries - 1, unit).as_secs_f64();
            tries += 1;
            if let Some(slot) = per_second.get_mut(t as usize) {
                *slot += 1;
            }
            if t >= t_back {
                back.push(t - t_back);
                break;
            }
        }
    }
    back.sort_by(f64::total_cmp);
    let at = |q: f64| back.get(((back.len() as f64 * q) as usize).min(back.len().saturating_sub(1)));
    let from = t_back as usize;
    Figures {
        peak_after: f64::from(per_second[from..].iter().copied().max().unwrap_or(0)),
        peak_during: f64::from(per_second[1..from].iter().copied().max().unwrap_or(0)),
        p50: at(0.5).copied().unwrap_or(f64::NAN),
        p99: at(0.99).copied().unwrap_or(f64::NAN),
        max: back.last().copied().unwrap_or(f64::NAN),
        gave_up: f64::from(gave_up),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let devices: usize = std::env::var("DEVICES")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(10_000);
    let profiles = [
        (
            "backoff (default: 1 s, factor 2, cap 60 s, full jitter)",
            policy(r#"{"profile": "backoff"}"#),
            None,
        ),
        (
            "handshake (default: 5 s doubled, 8 retries, ± 10 %)",
            policy(r#"{"profile": "handshake"}"#),
            None,
        ),
        (
            "handshake without the ± 10 % (for reference)",
            policy(r#"{"profile": "handshake"}"#),
            Some(0.5),
        ),
    ];
    println!("{devices} devices, every server down from the same instant; medians of 5 runs");
    for outage in [
        Duration::from_secs(60),
        Duration::from_secs(300),
        Duration::from_secs(1800),
    ] {
        println!();
        println!(
            "outage {} | peak tries/s after the comeback | peak tries/s during the outage | to connected after the comeback: median | p99 | max | gave up",
            humantime::format_duration(outage)
        );
        for (name, retry, draw) in &profiles {
            let runs: Vec<Figures> = (1..=5).map(|seed| run(retry, devices, outage, seed, *draw)).collect();
            let m = |f: fn(&Figures) -> f64| median(runs.iter().map(f).collect());
            println!(
                "{name} | {:.0} | {:.0} | {:.1} s | {:.1} s | {:.1} s | {:.0}",
                m(|f| f.peak_after),
                m(|f| f.peak_during),
                m(|f| f.p50),
                m(|f| f.p99),
                m(|f| f.max),
                m(|f| f.gave_up)
            );
        }
    }
}
