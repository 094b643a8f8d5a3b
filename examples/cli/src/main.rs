//! `scoutlb`: the command-line device agent for scripts, built on the scoutlb core.
//!
//! Every run is one "restart" of the device: the client is created from the configuration and the
//! state file, does one thing, and exits. Results go to stdout (text or `--json`), errors and
//! `--verbose` events to stderr, and the exit code says what kind of failure happened.

mod args;
mod output;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use scoutlb::{Client, Config, Error, ErrorKind, ProbeKind};

use args::{Args, Command, EXIT_ALL_FAILED, EXIT_DNS, EXIT_OTHER, EXIT_STATE_FILE, EXIT_USAGE, Parsed};
use output::Printer;

/// Why a run failed: a message of our own, the library's error, or stdout could not be written.
enum Failure {
    Usage(String),
    Library(Error),
    Output(std::io::Error),
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
    let config = load_config(args.config.as_deref())?;
    let mut builder = Client::builder(config);
    if args.verbose {
        let json = args.json;
        builder = builder.events(move |event: &scoutlb::Event| output::print_event(event, json));
    }
    let client = builder.build()?;
    output::warn_dropped(&client, args.json);
    match command {
        Command::Connect => {
            let connected = client.connect()?;
            printer.connected("connect", &client, &connected)?;
            output::warn_unsaved(&connected, args.json);
        }
        Command::Candidates => {
            let balancer = client.balancer_addresses();
            printer.order("candidates", &client, &client.candidates(), &balancer)?;
        }
        Command::Lost => {
            if client.config().probe == ProbeKind::None {
                printer.order("lost", &client, &client.connection_lost(), &[])?;
            } else {
                let connected = client.reconnect()?;
                printer.connected("lost", &client, &connected)?;
                output::warn_unsaved(&connected, args.json);
            }
        }
        Command::Servers => printer.servers(&client)?,
        Command::Status => printer.status(&client)?,
    }
    Ok(())
}

/// Read the configuration file, or take every default when none is given.
fn load_config(path: Option<&Path>) -> Result<Config, Failure> {
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Usage(format!("cannot read the configuration {}: {e}", path.display())))?;
    Config::from_json(&text).map_err(|e| Failure::Usage(format!("configuration {}: {e}", path.display())))
}

/// The documented exit code of a failure.
fn exit_code(failure: &Failure) -> u8 {
    match failure {
        Failure::Usage(_) => EXIT_USAGE,
        Failure::Output(_) => EXIT_OTHER,
        Failure::Library(e) if e.is_all_dns() => EXIT_DNS,
        Failure::Library(e) => match e.kind() {
            ErrorKind::AllFailed => EXIT_ALL_FAILED,
            ErrorKind::Config | ErrorKind::InvalidServer | ErrorKind::Unsupported => EXIT_USAGE,
            ErrorKind::StateFile | ErrorKind::StateFormat => EXIT_STATE_FILE,
            _ => EXIT_OTHER,
        },
    }
}
