//! Reference Scout Server: several processes share one SQL database (a SQLite file or
//! PostgreSQL); each registers itself, heartbeats, and serves the list of live servers
//! (`GET /scout/v1/servers`, behaviour.md, "Wire format") over HTTP or HTTPS, from memory, on many
//! connections at once. It can drain and refuse devices (behaviour.md, "Servers that steer
//! devices"), driven by signals and a loopback admin endpoint. See the README next to this crate.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Writes one log line to stderr (see [`logging::write`]).
macro_rules! note {
    ($($arg:tt)*) => { $crate::logging::write(format_args!($($arg)*)) };
}

mod admin;
mod cli;
mod db;
mod http;
mod listener;
mod listing;
mod load;
mod logging;
mod postgres;
mod refresh;
mod relocate;
mod signing;
mod sqlite;
mod steer;
mod tls;

use db::{Beat, Database, Member};
use listing::Listing;
use load::{CheckIns, Counter};
use refresh::Refresher;
use steer::{KnownDevices, Steering};

/// Longest wait before a failed database operation is tried again.
const RETRY: Duration = Duration::from_millis(250);

/// How long a stopping server keeps trying to delete its row.
const DEREGISTER_FOR: Duration = Duration::from_secs(2);

/// How often, at most, a continuing database failure is logged again.
const REPEAT_LOG: Duration = Duration::from_secs(5);

/// How often the main loop looks at the stop flag.
const TICK: Duration = Duration::from_millis(50);

/// How long a server that joins a cluster, or leaves it, gives its peers to see the change (they
/// look every [`refresh::POLL`]) before it says it is ready, or before it exits; it answers
/// requests meanwhile.
const SETTLE: Duration = Duration::from_millis(250);

/// How often the `--known-devices` file is looked at for a change.
const KNOWN_POLL: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let options = match cli::parse(std::env::args().skip(1)) {
        Ok(cli::Command::Run(options)) => *options,
        Ok(cli::Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(cli::Command::Keygen(file)) => return print_key(signing::keygen(&file)),
        Ok(cli::Command::PublicKey(file)) => return print_key(signing::read_key(&file).map(|k| k.public_key())),
        Ok(cli::Command::Admin(addr, call)) => {
            return match admin::call(&addr, call) {
                Ok(status) => {
                    println!("{status}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("scout-server: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Ok(cli::Command::TlsFiles(dir, names)) => {
            return match tls::make_files(&dir, &names) {
                Ok(written) => {
                    for path in written {
                        println!("{}", path.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("scout-server: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Err(e) => {
            eprintln!("scout-server: {e}\nTry 'scout-server --help'.");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            note!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Print a public key for `list_keys` on stdout, or the error.
fn print_key(key: Result<scoutlb::PublicKey, String>) -> ExitCode {
    match key {
        Ok(key) => {
            println!("{}", key.to_base64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scout-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the server until SIGTERM or SIGINT (and the drain of `--drain-on-stop` after it).
fn run(options: cli::Options) -> Result<(), String> {
    // Taken now, handled once the server has a name (a signal meanwhile waits).
    let signals =
        Signals::new([SIGTERM, SIGINT, SIGHUP]).map_err(|e| format!("cannot install a signal handler: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let hurry = Arc::new(AtomicBool::new(false));

    let tls = match &options.tls {
        Some(files) => Some(tls::server_config(&files.cert, &files.key)?),
        None => None,
    };
    let listener = listener::bind(&options.listen)?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("the listener has no address: {e}"))?;
    let (host, port) = match options.advertise.clone() {
        Some(advertise) => advertise,
        None if bound.ip().is_unspecified() => {
            return Err(format!("listening on {bound} needs --advertise HOST:PORT"));
        }
        None => (bound.ip().to_string(), bound.port()),
    };
    let id = options.id.clone().unwrap_or_else(|| format!("{host}-{port}"));
    logging::set_name(&id);
    let window_ms = i64::try_from(options.window_ms).map_err(|_| "--window-ms is too large")?;
    let load_window_ms = options
        .load_window_s
        .checked_mul(1000)
        .and_then(|ms| i64::try_from(ms).ok())
        .ok_or("--load-window is too large")?;
    let heartbeat = Duration::from_millis(options.heartbeat_ms);
    let retry = RETRY.min(heartbeat);

    // Requests are answered from here on: `503` until the list is read, after registering.
    let scheme = if tls.is_some() { "https" } else { "http" };
    let signer = if options.list_keys.is_empty() {
        None
    } else {
        let next = options
            .next_list_keys
            .iter()
            .map(|k| scoutlb::PublicKey::from_base64(k).map_err(|e| format!("--next-list-key: {e}")))
            .collect::<Result<_, _>>()?;
        Some(signing::ListSigner::load(
            &options.list_keys,
            next,
            Duration::from_secs(options.list_lifetime_s),
        )?)
    };
    let signed = signer.is_some();
    let known = options.known_devices.as_deref().map(KnownDevices::load).transpose()?;
    let steering = Arc::new(Steering::new(&id, options.retry_after_s, known));
    let listing = Arc::new(Listing::new(&id, signer));
    let admin = match options.admin {
        Some(addr) => {
            let admin = listener::bind(&addr.to_string()).map_err(|e| format!("--admin: {e}"))?;
            let bound = admin
                .local_addr()
                .map_err(|e| format!("the admin listener has no address: {e}"))?;
            let cluster = http::Cluster {
                db: options.db.clone(),
                listing: Arc::clone(&listing),
            };
            let service = http::Service::admin(Arc::clone(&steering), Some(cluster));
            listener::start(admin, Arc::new(service), None)?;
            Some(bound)
        }
        None => None,
    };
    handle_signals(signals, &steering, &stop, &hurry, options.drain_on_stop_s)?;
    if steering.known().is_some() {
        let watched = Arc::clone(&steering);
        thread::Builder::new()
            .name("known-devices".into())
            .spawn(move || {
                loop {
                    thread::sleep(KNOWN_POLL);
                    if let Some(known) = watched.known() {
                        known.reload_if_changed();
                    }
                }
            })
            .map_err(|e| format!("cannot start the thread that reads --known-devices: {e}"))?;
    }
    let check_ins = Arc::new(CheckIns::default());
    let service = Arc::new(http::Service::new(
        Arc::clone(&listing),
        options.garbage,
        Arc::clone(&steering),
        Arc::clone(&check_ins),
    ));
    listener::start(listener, service, tls)?;

    let mut db = Database::new(&options.db);
    let me = Member {
        id: id.clone(),
        host: host.clone(),
        port,
        started_at: 0,
        weight: options.weight,
        load_window_ms: Some(load_window_ms),
    };
    let Some(me) = register(&mut db, me, retry, &stop) else {
        note!("stopped before registering");
        return Ok(());
    };
    note!(
        "registered as {host}:{port} in {}{}{}{}",
        redact(&options.db),
        options.weight.map(|w| format!(" (weight {w})")).unwrap_or_default(),
        if signed { " (signed lists)" } else { "" },
        if options.garbage {
            " (--garbage: /scout/v1/servers answers garbage)"
        } else {
            ""
        }
    );
    if let Some(known) = steering.known() {
        note!(
            "serving only the {} devices named in {} (others get 403)",
            known.len(),
            known.path().display()
        );
    }
    if let Some(admin) = admin {
        note!("admin endpoint on http://{admin}/scout/v1/admin/");
    }

    // The list is read once now, then kept up to date by a thread of its own.
    let mut refresher = Refresher::new(Database::new(&options.db), window_ms, Arc::clone(&listing));
    refresher.refresh();
    if let Err(e) = thread::Builder::new()
        .name("refresh".into())
        .spawn(move || refresher.run(retry))
    {
        deregister(&mut db, &me.id, retry);
        return Err(format!("cannot start the thread that reads the list: {e}"));
    }
    if let Err(e) = steering.relocations().start(Database::new(&options.db)) {
        deregister(&mut db, &me.id, retry);
        return Err(e);
    }
    // The loads too: read once now, so that the first lists carry them.
    let mut counter = Counter::new(
        Database::new(&options.db),
        &id,
        load_window_ms,
        check_ins,
        Arc::clone(&listing),
        Arc::clone(&steering),
    );
    counter.tick();
    if let Err(e) = counter.start() {
        deregister(&mut db, &me.id, retry);
        return Err(e);
    }
    if listing.has_peers() {
        // Peers list this server once they have looked again; say it is up after that.
        sleep_unless_stopped(SETTLE, &stop);
    }

    if !stop.load(Ordering::SeqCst) {
        // The one line on stdout: tests and scripts wait for it to know the server is up.
        // Ignore a closed stdout: nobody waiting for the line is no reason to stop.
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "scout-server {id} listening on {scheme}://{bound}").and_then(|()| stdout.flush());
    }

    heartbeat_while(&mut db, &me, window_ms, heartbeat, retry, || {
        !stop.load(Ordering::SeqCst)
    });

    if options.drain_on_stop_s > 0 && !hurry.load(Ordering::SeqCst) {
        // Still listed and heartbeating: devices keep this server in their lists and come back
        // to it once it runs again (behaviour.md, "Servers that steer devices").
        let end = Instant::now() + Duration::from_secs(options.drain_on_stop_s);
        note!(
            "stopping: draining for {} s (503, Retry-After: {}), then leaving the list; a second signal stops at once",
            options.drain_on_stop_s,
            steering.status()["retry_after"]
        );
        heartbeat_while(&mut db, &me, window_ms, heartbeat, retry, || {
            !hurry.load(Ordering::SeqCst) && Instant::now() < end
        });
    }

    deregister(&mut db, &me.id, retry);
    if listing.has_peers() {
        // Keep answering (with a list without this server) until the peers have seen it leave.
        thread::sleep(SETTLE);
    }
    Ok(())
}

/// Registers this server, `me`, retrying until it works or a stop is asked for.
fn register(db: &mut Database, me: Member, retry: Duration, stop: &AtomicBool) -> Option<Member> {
    let mut failures = Failures::default();
    while !stop.load(Ordering::SeqCst) {
        match db.register_new(me.clone()) {
            Ok(me) => {
                failures.recovered();
                return Some(me);
            }
            Err(e) => failures.failed(&format!("registering failed: {}", db::describe(&e))),
        }
        sleep_unless_stopped(retry, stop);
    }
    None
}

/// Starts the thread that takes the signals: SIGTERM and SIGINT stop the server (after the drain
/// of `drain_on_stop_s` seconds, which a second signal cuts short; one more exits at once, with
/// 130), SIGHUP reads `--known-devices` again.
fn handle_signals(
    mut signals: Signals,
    steering: &Arc<Steering>,
    stop: &Arc<AtomicBool>,
    hurry: &Arc<AtomicBool>,
    drain_on_stop_s: u64,
) -> Result<(), String> {
    let (steering, stop, hurry) = (Arc::clone(steering), Arc::clone(stop), Arc::clone(hurry));
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGHUP {
                    match steering.known() {
                        Some(known) => known.reload("SIGHUP"),
                        None => note!("SIGHUP: nothing to read again (no --known-devices)"),
                    }
                } else if !stop.swap(true, Ordering::SeqCst) {
                    if drain_on_stop_s > 0 {
                        steering.drain_for_stop();
                    }
                } else if steering.stopping() && !hurry.swap(true, Ordering::SeqCst) {
                    note!("second signal: ending the drain, stopping now");
                } else {
                    note!("signal while stopping: exiting at once");
                    std::process::exit(130);
                }
            }
        })
        .map(drop)
        .map_err(|e| format!("cannot start the thread that takes signals: {e}"))
}

/// Heartbeats every `period` (retrying sooner after a failure) while `go_on` says so.
fn heartbeat_while(
    db: &mut Database,
    me: &Member,
    window_ms: i64,
    period: Duration,
    retry: Duration,
    go_on: impl Fn() -> bool,
) {
    let mut failures = Failures::default();
    let mut next = Instant::now() + period;
    while go_on() {
        let now = Instant::now();
        if now < next {
            thread::sleep((next - now).min(TICK));
            continue;
        }
        match db.heartbeat(me, window_ms) {
            Ok(beat) => {
                failures.recovered();
                if beat == Beat::Reregistered {
                    note!("my row had been removed (heartbeat too old); registered again");
                }
                next = now + period;
            }
            Err(e) => {
                failures.failed(&format!("heartbeat failed: {}", db::describe(&e)));
                next = now + retry;
            }
        }
    }
}

/// Deletes this server's row so that it leaves the list at once; gives up after a while (the
/// row then ages out of the window like a crashed server's).
fn deregister(db: &mut Database, id: &str, retry: Duration) {
    let deadline = Instant::now() + DEREGISTER_FOR;
    loop {
        match db.deregister(id) {
            Ok(()) => {
                note!("deregistered; stopped");
                return;
            }
            Err(e) if Instant::now() >= deadline => {
                note!(
                    "could not deregister ({}); the row will age out of the window",
                    db::describe(&e)
                );
                return;
            }
            Err(_) => thread::sleep(retry),
        }
    }
}

/// Sleeps for `time`, waking early when a stop is asked for.
fn sleep_unless_stopped(time: Duration, stop: &AtomicBool) {
    let end = Instant::now() + time;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= end {
            break;
        }
        thread::sleep((end - now).min(TICK));
    }
}

/// Logs a run of database failures without flooding: the first one, then one every few seconds,
/// then the recovery.
#[derive(Default)]
struct Failures {
    since: Option<Instant>,
    last_log: Option<Instant>,
}

impl Failures {
    /// Records (and maybe logs) one failure.
    fn failed(&mut self, what: &str) {
        let now = Instant::now();
        self.since.get_or_insert(now);
        if self.last_log.is_none_or(|t| now - t >= REPEAT_LOG) {
            note!("{what}; retrying");
            self.last_log = Some(now);
        }
    }

    /// Records a success, logging the end of a run of failures.
    fn recovered(&mut self) {
        if let Some(since) = self.since.take() {
            note!("heartbeat: database available again after {:.1?}", since.elapsed());
            self.last_log = None;
        }
    }
}

/// The database target without a password, for logs.
fn redact(target: &str) -> String {
    if !db::is_postgres_url(target) {
        return target.to_owned();
    }
    match target
        .split_once("://")
        .and_then(|(s, rest)| Some((s, rest.split_once('@')?)))
    {
        Some((scheme, (user, host))) => {
            let user = user.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}")
        }
        None => target.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(redact("postgres://u:secret@h:5/db"), "postgres://u@h:5/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("/tmp/a:b@c"), "/tmp/a:b@c");
    }
}
