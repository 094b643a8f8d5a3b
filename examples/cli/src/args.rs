//! The command line (clap derive): commands, options, the help text and the exit codes.
//!
//! `examples/gen-assets.rs` includes this file too, to generate the man page and the shell
//! completions from the same definition.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{ArgAction, CommandFactory, Parser, Subcommand, ValueHint};

/// Exit code: no server could be reached.
pub const EXIT_ALL_FAILED: u8 = 1;
/// Exit code: bad command line or configuration.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the state file cannot be read or written.
pub const EXIT_STATE_FILE: u8 = 3;
/// Exit code: every attempt failed on DNS.
pub const EXIT_DNS: u8 = 4;
/// Exit code: any other error.
pub const EXIT_OTHER: u8 = 5;
/// Exit code: `connect --retry` was stopped by SIGTERM or SIGINT.
pub const EXIT_CANCELLED: u8 = 6;
/// Exit code: a server refused this device (behaviour.md, "Servers that steer devices").
pub const EXIT_REFUSED: u8 = 7;

/// The environment variable naming the configuration file when `--config` is not given.
pub const CONFIG_ENV: &str = "SCOUTLB_CONFIG";

/// Every exit code and what it means, for `--help` and the man page.
pub const EXIT_CODES: [(u8, &str); 8] = [
    (0, "success"),
    (
        EXIT_ALL_FAILED,
        "no server could be reached (every attempt is listed on stderr)",
    ),
    (EXIT_USAGE, "bad command line or configuration"),
    (EXIT_STATE_FILE, "the state file cannot be read or written"),
    (
        EXIT_DNS,
        "no server could be reached and every attempt failed on DNS (or the balancer name did not resolve)",
    ),
    (EXIT_OTHER, "any other error"),
    (
        EXIT_CANCELLED,
        "stopped by SIGTERM or SIGINT while connect --retry waited for a server",
    ),
    (
        EXIT_REFUSED,
        "a server refused this device (its reason on stderr); no other server was tried",
    ),
];

/// The first line of `--help`: the name, then what the program is for.
const HELP_TEMPLATE: &str = "{name} - {about-with-newline}\n{usage-heading} {usage}\n\n{all-args}{after-help}";

/// The parsed command line.
#[derive(Clone, Debug, PartialEq, Eq, Parser)]
#[command(
    name = "scoutlb",
    version,
    about = "choose the Scout Server a device talks to (FailureLoadBalancing, ManagerLoadBalancing)",
    override_usage = "scoutlb [OPTIONS] <COMMAND>",
    help_template = HELP_TEMPLATE,
    after_help = exit_codes_text(),
    disable_version_flag = true,
    disable_help_flag = true
)]
pub struct Args {
    /// The subcommand; `None` only with `--version`.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Configuration as JSON (behaviour.md, "Configuration keys"); `-` reads it from stdin.
    /// Without it, the file named by $SCOUTLB_CONFIG; without both, every key has its default
    /// (seed server `ScoutSrv`, no state file)
    #[arg(
        verbatim_doc_comment,
        short,
        long,
        value_name = "FILE",
        value_hint = ValueHint::FilePath,
        global = true,
        value_parser = non_empty_path
    )]
    pub config: Option<PathBuf>,

    /// Override one configuration key for this run: VALUE is JSON (text that is not JSON is
    /// taken as a string); `retry.base_ms=500` sets one field of `retry`; may be repeated
    #[arg(
        verbatim_doc_comment,
        long = "set",
        value_name = "KEY=VALUE",
        global = true,
        value_parser = key_value
    )]
    pub set: Vec<(String, String)>,

    /// Read a Scout-style INI file when the client is created (behaviour.md, "Scout INI files"),
    /// after any of the `scout_ini` key; its entries win over the configuration; may be repeated
    #[arg(
        verbatim_doc_comment,
        long = "ini",
        value_name = "FILE",
        value_hint = ValueHint::FilePath,
        global = true,
        value_parser = non_empty_path
    )]
    pub ini: Vec<PathBuf>,

    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,

    /// Report every event (attempts, list updates, default changes) on stderr
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Print the version
    #[arg(short = 'V', long, global = true)]
    pub version: bool,

    /// Print this help
    #[arg(short, long, global = true, action = ArgAction::Help)]
    help: Option<bool>,
}

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Start-up: try the ManagerLoadBalancer, then the failover order; the server
    /// that answers becomes the default and its server list is cached
    #[command(verbatim_doc_comment)]
    Connect {
        /// When every server fails, wait (the `retry` key's profile: backoff with full jitter, or
        /// Scout's handshake schedule) and start again, until one answers, the profile's limit of
        /// tries is reached, or SIGTERM/SIGINT
        #[arg(long, verbatim_doc_comment)]
        retry: bool,
        /// With "rebalance": {"enabled": true}, when the answer shows a lighter server, wait
        /// until the planned moment and move there (behaviour.md, "Rebalance")
        #[arg(long, verbatim_doc_comment)]
        rebalance: bool,
    },
    /// Print the start-up order of candidates, without trying them
    Candidates,
    /// The connection was lost: rerun the failover order from the default server
    /// and reconnect (with "probe": "none", print that order instead)
    #[command(verbatim_doc_comment)]
    Lost {
        /// When every server fails, wait (the `retry` key's profile: backoff with full jitter, or
        /// Scout's handshake schedule) and run the failover order again, until one answers, the
        /// profile's limit of tries is reached, or SIGTERM/SIGINT
        #[arg(long, verbatim_doc_comment)]
        retry: bool,
    },
    /// Print the cached server list (* marks the default server)
    Servers,
    /// Print the default server, the cached list and the state file's path
    Status,
}

/// What `main` does after parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Run a command, or print the version.
    Run(Args),
    /// Print this text on stdout and exit 0 (`--help`, `help`).
    Help(String),
    /// Print this message on stderr and exit [`EXIT_USAGE`].
    Usage(String),
}

/// Parse a whole command line (program name first).
pub fn parse<I, T>(args: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let argv: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    match Args::try_parse_from(&argv).map(|mut args| {
        args.set = every_set(&argv);
        args
    }) {
        Ok(args) if args.command.is_none() && !args.version => {
            let error = Args::command().error(ErrorKind::MissingSubcommand, "no command given");
            Parsed::Usage(usage_message(&error))
        }
        Ok(args) => Parsed::Run(args),
        Err(e) if e.kind() == ErrorKind::DisplayHelp => {
            let mut text = e.render().to_string();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            Parsed::Help(text)
        }
        Err(e) => Parsed::Usage(usage_message(&e)),
    }
}

/// `scoutlb: error: ...`, with clap's usage line and hint below it.
fn usage_message(error: &clap::Error) -> String {
    format!("scoutlb: {}", error.render())
}

/// The "Exit codes" section at the end of `--help`.
pub fn exit_codes_text() -> String {
    let mut text = String::from("Exit codes:\n");
    for (code, meaning) in EXIT_CODES {
        let _ = writeln!(text, "  {code}  {meaning}");
    }
    text
}

/// Every `--set` of a command line that clap accepted, in order. clap keeps only the values given
/// after the command when a global option is given both before and after it; every `--set` counts.
fn every_set(argv: &[std::ffi::OsString]) -> Vec<(String, String)> {
    let mut set = Vec::new();
    let mut words = argv.iter().skip(1).map(|w| w.to_str().unwrap_or_default());
    while let Some(word) = words.next() {
        let value = match word {
            "--" => break,
            "--set" => words.next(),
            _ => word.strip_prefix("--set="),
        };
        set.extend(value.and_then(|v| key_value(v).ok()));
    }
    set
}

/// `KEY=VALUE` of `--set`: a non-empty key, then `=`, then the value (which may be empty).
fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not KEY=VALUE, such as connect_timeout_ms=500")),
    }
}

/// Refuse `--config=` with nothing after it.
fn non_empty_path(value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        Err("--config needs a file name".into())
    } else {
        Ok(PathBuf::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Args {
        match parse(std::iter::once("scoutlb").chain(args.iter().copied())) {
            Parsed::Run(a) => a,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn usage(args: &[&str]) -> String {
        match parse(std::iter::once("scoutlb").chain(args.iter().copied())) {
            Parsed::Usage(message) => message,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn the_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn options_go_before_or_after_the_command() {
        let a = run(&["--config", "c.json", "connect", "--json"]);
        assert_eq!(
            a.command,
            Some(Command::Connect {
                retry: false,
                rebalance: false
            })
        );
        assert_eq!(a.config, Some(PathBuf::from("c.json")));
        assert!(a.json && !a.verbose);
        let b = run(&["lost", "-v", "--config=d.json"]);
        assert_eq!(b.command, Some(Command::Lost { retry: false }));
        assert_eq!(b.config, Some(PathBuf::from("d.json")));
        assert!(b.verbose && !b.json);
        let c = run(&["-c", "e.json", "--json", "-v", "candidates"]);
        assert_eq!(c.command, Some(Command::Candidates));
        assert_eq!(c.config, Some(PathBuf::from("e.json")));
        assert!(c.json && c.verbose);
    }

    #[test]
    fn set_takes_key_value_pairs_and_connect_takes_retry() {
        let a = run(&[
            "--set",
            "connect_timeout_ms=500",
            "connect",
            "--retry",
            "--set=state_file=",
        ]);
        assert_eq!(
            a.command,
            Some(Command::Connect {
                retry: true,
                rebalance: false
            })
        );
        assert_eq!(
            a.set,
            [
                ("connect_timeout_ms".to_owned(), "500".to_owned()),
                ("state_file".to_owned(), String::new())
            ]
        );
        assert_eq!(run(&["-c", "-", "status"]).config, Some(PathBuf::from("-")));
        assert!(usage(&["--set", "novalue", "status"]).contains("is not KEY=VALUE"));
        assert!(usage(&["--set", "=1", "status"]).contains("is not KEY=VALUE"));
        assert!(usage(&["status", "--retry"]).contains("'--retry'"));
    }

    #[test]
    fn help_and_version_need_no_command() {
        for args in [&["--help"][..], &["-h"], &["help"], &["status", "--help"]] {
            match parse(std::iter::once("scoutlb").chain(args.iter().copied())) {
                Parsed::Help(text) => assert!(text.contains("Usage: scoutlb"), "{args:?}: {text}"),
                other => panic!("{args:?}: {other:?}"),
            }
        }
        assert!(run(&["-V"]).version);
        assert!(run(&["status", "--version"]).version);
    }

    #[test]
    fn the_help_lists_commands_options_and_exit_codes() {
        let Parsed::Help(text) = parse(["scoutlb", "--help"]) else {
            panic!("no help")
        };
        assert!(text.starts_with("scoutlb - choose the Scout Server"), "{text}");
        for word in [
            "connect",
            "candidates",
            "lost",
            "servers",
            "status",
            "--config <FILE>",
            "--set <KEY=VALUE>",
            "SCOUTLB_CONFIG",
            "--json",
            "--verbose",
            "--version",
            "--help",
        ] {
            assert!(text.contains(word), "help lacks {word}: {text}");
        }
        for (code, meaning) in EXIT_CODES {
            assert!(
                text.contains(&format!("  {code}  {meaning}\n")),
                "help lacks exit code {code}: {text}"
            );
        }
    }

    #[test]
    fn mistakes_are_named() {
        assert!(usage(&[]).contains("no command given"));
        let typo = usage(&["conect"]);
        assert!(
            typo.starts_with("scoutlb: error:") && typo.contains("'conect'"),
            "{typo}"
        );
        assert!(typo.contains("'connect'"), "suggests the command: {typo}");
        assert!(usage(&["--jsn", "status"]).contains("'--jsn'"));
        assert!(usage(&["status", "--config"]).contains("--config <FILE>"));
        assert!(usage(&["status", "--config="]).contains("needs a file name"));
        assert!(usage(&["status", "servers"]).contains("'servers'"));
    }
}
