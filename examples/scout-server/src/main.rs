//! Reference Scout Server: several processes share one SQL database (a SQLite file or
//! PostgreSQL); each registers itself, heartbeats, and serves the list of live servers
//! (`GET /scout/v1/servers`, behaviour.md, "Wire format") over HTTP or HTTPS, from memory, on many
//! connections at once. See the README next to this crate.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};

/// Writes one log line to stderr (see [`logging::write`]).
macro_rules! note {
    ($($arg:tt)*) => { $crate::logging::write(format_args!($($arg)*)) };
}

mod cli;
mod db;
mod http;
mod listener;
mod listing;
mod logging;
mod postgres;
mod refresh;
mod signing;
mod sqlite;
mod tls;

use db::{Beat, Database, Member};
use listing::Listing;
use refresh::Refresher;

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

fn main() -> ExitCode {
    let options = match cli::parse(std::env::args().skip(1)) {
        Ok(cli::Command::Run(options)) => *options,
        Ok(cli::Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(cli::Command::Keygen(file)) => return print_key(signing::keygen(&file)),
        Ok(cli::Command::PublicKey(file)) => return print_key(signing::read_key(&file).map(|k| k.public_key())),
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

/// Runs the server until SIGTERM or SIGINT.
fn run(options: cli::Options) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGTERM, SIGINT] {
        // A second signal while stopping exits at once; the first one asks for a clean stop.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
            .map_err(|e| format!("cannot install a signal handler: {e}"))?;
    }

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
    let listing = Arc::new(Listing::new(&id, signer));
    let service = Arc::new(http::Service::new(Arc::clone(&listing), options.garbage));
    listener::start(listener, service, tls)?;

    let mut db = Database::new(&options.db);
    let Some(me) = register(&mut db, &id, &host, port, retry, &stop) else {
        note!("stopped before registering");
        return Ok(());
    };
    note!(
        "registered as {host}:{port} in {}{}{}",
        redact(&options.db),
        if signed { " (signed lists)" } else { "" },
        if options.garbage {
            " (--garbage: /scout/v1/servers answers garbage)"
        } else {
            ""
        }
    );

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

    heartbeat_until_stopped(&mut db, &me, window_ms, heartbeat, retry, &stop);

    deregister(&mut db, &me.id, retry);
    if listing.has_peers() {
        // Keep answering (with a list without this server) until the peers have seen it leave.
        thread::sleep(SETTLE);
    }
    Ok(())
}

/// Registers this server, retrying until it works or a stop is asked for.
fn register(db: &mut Database, id: &str, host: &str, port: u16, retry: Duration, stop: &AtomicBool) -> Option<Member> {
    let mut failures = Failures::default();
    while !stop.load(Ordering::SeqCst) {
        match db.register_new(id, host, port) {
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

/// Heartbeats every `period` (retrying sooner after a failure) until a stop is asked for.
fn heartbeat_until_stopped(
    db: &mut Database,
    me: &Member,
    window_ms: i64,
    period: Duration,
    retry: Duration,
    stop: &AtomicBool,
) {
    let mut failures = Failures::default();
    let mut next = Instant::now() + period;
    while !stop.load(Ordering::SeqCst) {
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
