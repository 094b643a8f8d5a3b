//! Process limits the fleet runs into: open descriptors, threads, and the peak memory it used.

use std::sync::atomic::{AtomicU64, Ordering};

/// Descriptors one device can hold at once in a storm: its socket, the proxy's two, a state-file write.
pub const DESCRIPTORS_PER_DEVICE: u64 = 4;

/// The open-file limits before and after raising them.
#[derive(Clone, Copy, Debug)]
pub struct Descriptors {
    /// Soft limit found at start.
    pub before: u64,
    /// Hard limit found at start.
    pub hard_before: u64,
    /// Soft limit now.
    pub now: u64,
    /// Hard limit now.
    pub hard: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to `wanted` (or the hard limit, when that is more), and the
/// hard limit too when it is below `wanted` and the process may (root; at most `fs.nr_open`).
pub fn raise_descriptor_limit(wanted: u64) -> std::io::Result<Descriptors> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let (before, hard_before) = (lim.rlim_cur, lim.rlim_max);
    let most = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(lim.rlim_max);
    if lim.rlim_max < wanted.min(most) {
        let higher = libc::rlimit {
            rlim_cur: wanted.min(most),
            rlim_max: wanted.min(most),
        };
        // SAFETY: setrlimit reads the struct we own. Without the privilege it fails: the hard
        // limit stays.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &higher) } == 0 {
            lim = higher;
        }
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(Descriptors {
        before,
        hard_before,
        now: lim.rlim_cur,
        hard: lim.rlim_max,
    })
}

/// Descriptors the process keeps for itself besides the devices' (servers' pipes, files, epoll).
const DESCRIPTORS_RESERVE: u64 = 256;

/// Descriptors a fleet of `devices` needs when every device is in flight at once.
pub fn descriptors_needed(devices: usize) -> u64 {
    devices as u64 * DESCRIPTORS_PER_DEVICE + DESCRIPTORS_RESERVE
}

/// Most devices in flight at once that `descriptors` (the soft open-file limit) allow.
pub fn calls_at_once(descriptors: u64) -> usize {
    usize::try_from(descriptors.saturating_sub(DESCRIPTORS_RESERVE) / DESCRIPTORS_PER_DEVICE).unwrap_or(usize::MAX)
}

/// A number of `/proc/self/status`, such as `VmHWM` (in KiB) or `Threads`.
fn status_figure(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Peak resident memory of this process in KiB (`VmHWM` of `/proc/self/status`).
pub fn peak_rss_kib() -> Option<u64> {
    status_figure("VmHWM")
}

/// Threads of this process now (`Threads` of `/proc/self/status`).
pub fn threads_now() -> Option<u64> {
    status_figure("Threads")
}

/// Most threads this process had at once since [`watch_threads`] began.
static PEAK_THREADS: AtomicU64 = AtomicU64::new(0);

/// How often [`watch_threads`] looks.
const THREAD_SAMPLE: std::time::Duration = std::time::Duration::from_millis(20);

/// Starts (once per process) a thread, counted too, that notes the process's thread count every
/// 20 ms, for [`peak_threads`]; it runs until the process ends.
pub fn watch_threads() -> std::io::Result<()> {
    static STARTED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    STARTED
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("fleet-threads".into())
                .spawn(|| {
                    loop {
                        if let Some(n) = threads_now() {
                            PEAK_THREADS.fetch_max(n, Ordering::Relaxed);
                        }
                        std::thread::sleep(THREAD_SAMPLE);
                    }
                })
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(std::io::Error::other)
}

/// Most threads this process had at once (sampled every 20 ms), if [`watch_threads`] runs.
pub fn peak_threads() -> Option<u64> {
    Some(PEAK_THREADS.load(Ordering::Relaxed)).filter(|&n| n > 0)
}

/// Sends `signal` to process `pid`.
pub fn signal(pid: u32, signal: libc::c_int) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(std::io::Error::other)?;
    // SAFETY: kill takes plain integers.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The machine's load average over the last minute (`/proc/loadavg`): how busy the shared machine was.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether process `pid` is stopped (state `T` in `/proc/<pid>/stat`).
pub fn is_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| rest.starts_with('T')))
        .unwrap_or(false)
}

/// Threads one device in flight may need on the thread driver: its own, the core's attempt thread, and the resolver
/// thread ureq starts for a lookup of a host name with a time limit (none for an IP literal).
pub const THREADS_PER_DEVICE: u64 = 3;

/// Memory mappings one thread costs: its stack and guard page, its signal stack and guard page.
const MAPS_PER_THREAD: u64 = 4;

/// Most devices that can be in flight at once in this process on the thread driver, from the machine's limits on
/// threads (`kernel.pid_max`, `kernel.threads-max`) and memory mappings (`vm.max_map_count`).
pub fn devices_at_once() -> Option<u64> {
    let read = |path: &str| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    let pids = read("/proc/sys/kernel/pid_max")?.min(read("/proc/sys/kernel/threads-max")?);
    let maps = read("/proc/sys/vm/max_map_count")?;
    // Leave room for the other processes' threads and this process's own mappings.
    let threads = pids
        .saturating_sub(4096)
        .min(maps.saturating_sub(8192) / MAPS_PER_THREAD);
    Some(threads / THREADS_PER_DEVICE)
}

/// An error when `n` devices acting at once would exceed [`devices_at_once`].
pub fn check_at_once(n: usize, what: &str) -> Result<(), String> {
    match devices_at_once() {
        Some(most) if n as u64 > most => Err(format!(
            "{what} has {n} devices in flight at once, which needs about {} threads ({THREADS_PER_DEVICE} per device) and {} memory mappings; this machine allows about {most} devices at once in one process (kernel.pid_max, vm.max_map_count): use --devices {most} or fewer",
            n as u64 * THREADS_PER_DEVICE,
            n as u64 * THREADS_PER_DEVICE * MAPS_PER_THREAD,
        )),
        _ => Ok(()),
    }
}

/// CPU time (user + system) this process has used so far.
pub fn cpu_time() -> std::time::Duration {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return std::time::Duration::ZERO;
    }
    let tv = |t: libc::timeval| std::time::Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}
