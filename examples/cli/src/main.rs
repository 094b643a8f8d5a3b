//! `scoutlb`: the command-line device agent for scripts, built on the scoutlb core.
//!
//! Every run is one "restart" of the device: the client is created from the configuration and the
//! state file, does one thing, and exits. Results go to stdout (text or `--json`), errors and
//! `--verbose` events to stderr, and the exit code says what kind of failure happened.

mod args;
mod config;
mod output;

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use scoutlb::{Client, Error, ErrorKind, ProbeKind};

use args::{
    Args, Command, EXIT_ALL_FAILED, EXIT_CANCELLED, EXIT_DNS, EXIT_OTHER, EXIT_REFUSED, EXIT_STATE_FILE, EXIT_USAGE,
    Parsed,
};
use output::Printer;

/// Why a run failed: the configuration, the library's error, or stdout could not be written.
enum Failure {
    /// The configuration could not be read or is wrong; the key, when one is to blame.
    Config {
        message: String,
        key: Option<String>,
    },
    Library(Error),
    Output(std::io::Error),
    /// Anything else, in words.
    Other(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Library(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Output(e)
    }
}

fn main() -> ExitCode {
    let args = match args::parse(std::env::args_os()) {
        Parsed::Run(args) => args,
        Parsed::Help(text) => {
            // A reader that stops early (`scoutlb --help | head`) is no error.
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            return ExitCode::SUCCESS;
        }
        Parsed::Usage(message) => {
            eprint!("{message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let printer = Printer { json: args.json };
    let result = match args.command {
        Some(command) if !args.version => run(command, &args, &printer),
        _ => version(&printer).map_err(Failure::Output),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let code = exit_code(&failure);
            printer.error(&failure, code);
            ExitCode::from(code)
        }
    }
}

/// `--version`: this program's version and the library's.
fn version(printer: &Printer) -> std::io::Result<()> {
    if printer.json {
        printer.emit(&serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "library_version": scoutlb::VERSION,
        }))
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "scoutlb {} (library {})",
            env!("CARGO_PKG_VERSION"),
            scoutlb::VERSION
        )?;
        out.flush()
    }
}

/// Run a command: every one needs a client.
fn run(command: Command, args: &Args, printer: &Printer) -> Result<(), Failure> {
    let config = config::load(args)?;
    let (json, verbose) = (args.json, args.verbose);
    let warned = AtomicBool::new(false);
    let client = Client::builder(config)
        .events(move |event: &scoutlb::Event| {
            // behaviour.md, "TLS": unchecked certificates are said once per run, `-v` or not.
            if *event == scoutlb::Event::TlsUnverified && !warned.swap(true, Ordering::Relaxed) {
                output::warn_event(event, json);
            }
            if verbose {
                output::print_event(event, json);
            }
        })
        .build()?;
    output::warn_dropped(&client, args.json);
    match command {
        Command::Connect { retry, rebalance } => {
            let connected = if retry {
                client.connect_with_retry_until(&stop_on_signal()?)?
            } else {
                client.connect()?
            };
            let at = Instant::now();
            printer.connected("connect", &client, &connected)?;
            output::warn_connected(&connected, args.json);
            if rebalance {
                move_when_planned(&client, at, printer, args.json)?;
            }
        }
        Command::Candidates => {
            let balancer = client.balancer_addresses();
            printer.order("candidates", &client, &client.candidates(), &balancer)?;
        }
        Command::Lost { retry } => {
            if client.config().probe == ProbeKind::None {
                printer.order("lost", &client, &client.connection_lost(), &[])?;
            } else {
                let connected = if retry {
                    client.reconnect_with_retry_until(&stop_on_signal()?)?
                } else {
                    client.reconnect()?
                };
                printer.connected("lost", &client, &connected)?;
                output::warn_connected(&connected, args.json);
            }
        }
        Command::Servers => printer.servers(&client)?,
        Command::Status => printer.status(&client)?,
    }
    Ok(())
}

/// `connect --rebalance`: the planned move at its moment (counted from `at`, when the connect
/// ended), its result printed as a second connect; a failed move is a warning, since the device
/// stays connected where it was (behaviour.md, "Rebalance").
fn move_when_planned(client: &Client, at: Instant, printer: &Printer, json: bool) -> Result<(), Failure> {
    let Some(plan) = client.rebalance_plan() else {
        return Ok(());
    };
    let stop = stop_on_signal()?;
    while at.elapsed() < plan.after {
        if stop() {
            return Err(Failure::Library(Error::Cancelled));
        }
        std::thread::sleep((plan.after - at.elapsed()).min(Duration::from_millis(50)));
    }
    match client.rebalance() {
        Ok(Some(moved)) => {
            printer.connected("rebalance", client, &moved)?;
            output::warn_connected(&moved, json);
        }
        Ok(None) => {}
        Err(e) => output::warn_rebalance_failed(&plan, &e, json),
    }
    Ok(())
}

/// Set by the first SIGTERM or SIGINT while `connect --retry` runs.
static STOP: AtomicBool = AtomicBool::new(false);

/// The handler of SIGTERM and SIGINT during `connect --retry`: the first asks the retry to stop,
/// a second exits at once.
extern "C" fn on_stop_signal(_: libc::c_int) {
    if STOP.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe and takes a plain integer.
        unsafe { libc::_exit(i32::from(EXIT_CANCELLED)) }
    }
}

/// A stop condition for `connect --retry` that turns true at the first SIGTERM or SIGINT; a
/// second signal exits at once. A try in progress ends too, within 50 ms (behaviour.md, "Cancel").
///
/// A plain `sigaction` handler on an atomic: signal-hook would cost the CLI ~30 KB of its 3 MiB.
fn stop_on_signal() -> Result<impl Fn() -> bool, Failure> {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: an all-zero sigaction (no flags, empty mask) is a valid value to fill in.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the action is initialised; the handler only touches an atomic and calls _exit.
        if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(Failure::Other(format!("cannot catch SIGTERM and SIGINT: {e}")));
        }
    }
    Ok(|| STOP.load(Ordering::SeqCst))
}

/// The documented exit code of a failure.
fn exit_code(failure: &Failure) -> u8 {
    match failure {
        Failure::Config { .. } => EXIT_USAGE,
        Failure::Output(_) | Failure::Other(_) => EXIT_OTHER,
        Failure::Library(e) if e.is_all_dns() => EXIT_DNS,
        Failure::Library(e) => match e.kind() {
            ErrorKind::AllFailed => EXIT_ALL_FAILED,
            ErrorKind::DeviceRefused => EXIT_REFUSED,
            ErrorKind::Config | ErrorKind::InvalidServer | ErrorKind::Unsupported => EXIT_USAGE,
            ErrorKind::StateFile | ErrorKind::StateFormat => EXIT_STATE_FILE,
            ErrorKind::Cancelled => EXIT_CANCELLED,
            _ => EXIT_OTHER,
        },
    }
}
