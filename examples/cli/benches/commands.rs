//! Times `scoutlb candidates`, `lost`, `servers` and `status` (text and `--json`) as processes,
//! with a cached list at the 4,096-entry limit: `cargo bench -p scoutlb-cli --bench commands`.
//!
//! Each command runs once to warm the page cache, then [`RUNS`] times; the bench prints the
//! median wall time (start to exit, stdout read through a pipe) and the median CPU time of the
//! process (user + system, from `getrusage(RUSAGE_CHILDREN)`), which a busy machine disturbs less.
//! The target is [`TARGET_MS`] per command. Nothing listens on the listed ports: the
//! configuration says `"probe": "none"`, so `lost` prints the failover order.
//!
//! `SCOUTLB_BENCH_BIN=/path/to/scoutlb` times another build instead (an older commit, say).

use scoutlb_testkit::big_list;

use std::process::Command;
use std::time::{Duration, Instant};

/// Timed runs per command.
const RUNS: usize = 21;
/// What a command may take at 4,096 entries, in milliseconds.
const TARGET_MS: f64 = 20.0;

fn main() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let device = big_list::write(dir.path());
    let bin = std::env::var("SCOUTLB_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_scoutlb").to_owned());
    let bin = bin.as_str();
    println!(
        "scoutlb with a cached list of {} entries: median of {RUNS} runs per command, as processes",
        big_list::ENTRIES
    );
    println!("binary: {bin}; load average at the start: {}", load_average());
    println!();
    println!("| command | wall (median) | CPU (median) | wall / {TARGET_MS} ms target |");
    println!("|---|---|---|---|");
    let mut slowest = 0.0_f64;
    for command in ["candidates", "lost", "servers", "status"] {
        for json in [false, true] {
            let mut args = vec!["--config", device.config.to_str().expect("UTF-8 path")];
            if json {
                args.push("--json");
            }
            args.push(command);
            run(bin, &args); // warm-up
            let mut wall = Vec::with_capacity(RUNS);
            let mut cpu = Vec::with_capacity(RUNS);
            for _ in 0..RUNS {
                let cpu_before = children_cpu();
                let start = Instant::now();
                run(bin, &args);
                wall.push(start.elapsed());
                cpu.push(children_cpu().saturating_sub(cpu_before));
            }
            let (wall, cpu) = (ms(median(&mut wall)), ms(median(&mut cpu)));
            slowest = slowest.max(wall);
            let label = if json {
                format!("{command} --json")
            } else {
                command.to_owned()
            };
            println!("| `{label}` | {wall:.1} ms | {cpu:.1} ms | {:.2} |", wall / TARGET_MS);
        }
    }
    println!();
    let verdict = if slowest <= TARGET_MS { "within" } else { "OVER" };
    println!("slowest median: {slowest:.1} ms, {verdict} the {TARGET_MS} ms target");
}

/// Run `scoutlb ARGS`, reading its stdout; panics unless it succeeds with a full list.
fn run(bin: &str, args: &[&str]) {
    let out = Command::new(bin).args(args).output().expect("run scoutlb");
    assert!(
        out.status.success(),
        "scoutlb {args:?}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Every command prints each of the 4,096 entries: at least 20 bytes each.
    assert!(
        out.stdout.len() > 20 * big_list::ENTRIES,
        "scoutlb {args:?}: short output"
    );
}

/// CPU time (user + system) of every waited-for child process so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given, which is zeroed and ours.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0, "getrusage");
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` gives them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
