//! Writes the man page and the shell completions of `scoutlb`, generated from its clap definition.
//!
//! `cargo run -p scoutlb-cli --example gen-assets -- OUTDIR` (what `gen-assets.sh` runs) writes
//! `OUTDIR/scoutlb.1`, `OUTDIR/scoutlb.bash`, `OUTDIR/_scoutlb` (zsh) and `OUTDIR/scoutlb.fish`.
//! It is an example, not part of the `scoutlb` binary, so the shipped binary carries no generator.

#[path = "../src/args.rs"]
#[allow(dead_code)] // the parser's entry points are the binary's business
mod args;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

/// The man page's DESCRIPTION: what `--help` has no room for.
const DESCRIPTION: &str = "\
scoutlb lets shell scripts and vendor scripting tools act as a Scout device. Every run is one \
\"restart\" of the device: it reads the configuration (JSON) and the state file named there, does \
one thing, persists what changed, and exits.

Results go to stdout, as text or, with --json, as one JSON document. Errors go to stderr; with \
--json they are one JSON object {\"error\", \"message\", \"exit_code\", \"attempts\"} and nothing is \
printed on stdout. Options may be given before or after the command.";

/// The behaviour contract, whose "Configuration keys" table gives each key's default and meaning.
const BEHAVIOUR: &str = include_str!("../../../docs/behaviour.md");

/// The man page's EXAMPLES: a command line and what it does.
const EXAMPLES: [(&str, &str); 6] = [
    (
        "scoutlb --config /etc/scout/device.json connect",
        "Start-up: the ManagerLoadBalancer entry first, then the failover order.",
    ),
    (
        "scoutlb --config /etc/scout/device.json lost",
        "The connection was lost: fail over from the default server.",
    ),
    (
        "scoutlb --config /etc/scout/device.json --json servers",
        "The cached server list as JSON.",
    ),
    (
        "scoutlb --config /etc/scout/device.json candidates",
        "The order in which connect would try the servers, and why each is there.",
    ),
    (
        "scoutlb --config /etc/scout/device.json connect --retry",
        "Start-up, again and again with backoff and full jitter until a server answers.",
    ),
    (
        "SCOUTLB_CONFIG=/etc/scout/device.json scoutlb --set connect_timeout_ms=500 status",
        "The configuration file from the environment, one key changed for this run.",
    ),
];

/// One row of the configuration keys: the key, its default, its meaning (Markdown code marks removed).
struct Key {
    name: String,
    default: String,
    meaning: String,
}

/// The rows of behaviour.md's "Configuration keys" table, checked against `scoutlb::KEYS`: the
/// same keys in the same order, or an error that says what differs.
fn config_keys() -> io::Result<Vec<Key>> {
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, format!("docs/behaviour.md: {why}"));
    let section = BEHAVIOUR
        .split("\n## Configuration keys\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .ok_or_else(|| invalid("no section \"Configuration keys\"".into()))?;
    // Without Markdown's code marks, and in ASCII where groff would need an escape.
    let unmark = |cell: &str| {
        cell.trim()
            .replace('`', "")
            .replace('≥', ">=")
            .replace('≤', "<=")
            .replace('—', "-")
    };
    let keys: Vec<Key> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim().trim_matches('|').split(" | ").collect();
            match cells[..] {
                [name, default, meaning] => Ok(Key {
                    name: unmark(name),
                    default: unmark(default),
                    meaning: unmark(meaning),
                }),
                _ => Err(invalid(format!(
                    "a row of the keys' table is not | key | default | meaning |: {l}"
                ))),
            }
        })
        .collect::<io::Result<_>>()?;
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    if names != scoutlb::KEYS {
        return Err(invalid(format!(
            "the table of configuration keys lists {names:?}, but scoutlb::KEYS (proto/src/config.rs) is {:?}",
            scoutlb::KEYS
        )));
    }
    Ok(keys)
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: gen-assets OUTDIR");
        return ExitCode::from(2);
    };
    match write_all(Path::new(&out)) {
        Ok(written) => {
            for path in written {
                println!("{}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-assets: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Write every asset into `out` (created if missing); the paths written.
fn write_all(out: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", out.display())))?;
    let mut written = vec![write_file(&out.join("scoutlb.1"), man_page)?];
    for (shell, name) in [
        (Shell::Bash, "scoutlb.bash"),
        (Shell::Zsh, "_scoutlb"),
        (Shell::Fish, "scoutlb.fish"),
    ] {
        written.push(write_file(&out.join(name), |w| {
            clap_complete::generate(shell, &mut args::Args::command(), "scoutlb", w);
            Ok(())
        })?);
    }
    Ok(written)
}

/// Create `path` and fill it with `fill`; errors name the file.
fn write_file(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<PathBuf> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()));
    let mut w = BufWriter::new(File::create(path).map_err(named)?);
    fill(&mut w).and_then(|()| w.flush()).map_err(named)?;
    Ok(path.to_owned())
}

/// The man page: clap_mangen's sections, with COMMANDS, EXIT STATUS and EXAMPLES of our own.
fn man_page(w: &mut dyn Write) -> io::Result<()> {
    let cmd = args::Args::command().long_about(DESCRIPTION);
    let man = Man::new(cmd.clone())
        .title("SCOUTLB")
        .date(page_date())
        .manual("scoutlb manual");
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;

    let mut roff = Roff::new();
    // clap_mangen names each command as a page of its own (scoutlb-connect(1)); these have no
    // options of their own, so one section describes them all.
    roff.control("SH", ["COMMANDS"]);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        roff.control("TP", []);
        roff.text([bold(sub.get_name())]);
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        for line in about.lines() {
            roff.text([roman(line)]);
        }
        // A command's own options (the global ones are under OPTIONS).
        for arg in sub
            .get_arguments()
            .filter(|a| !a.is_global_set() && a.get_long().is_some())
        {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            roff.control("RS", []);
            roff.control("TP", []);
            roff.text([bold(format!("--{}", arg.get_long().unwrap_or_default()))]);
            roff.text([roman(help.replace('\n', " "))]);
            roff.control("RE", []);
        }
    }
    roff.control("TP", []);
    roff.text([bold("help")]);
    roff.text([roman("Print the help, or the help of the given command")]);

    roff.control("SH", ["CONFIGURATION"]);
    roff.text([roman(
        "The configuration is one JSON object; every key may be left out and then has its default. \
         An unknown key or a wrong type is an error that names the key (exit status 2). Durations are \
         whole milliseconds up to one day. The keys are the same in every scoutlb surface (the Rust \
         crate, the C library, the Python wheel); the full contract is docs/behaviour.md in the source.",
    )]);
    for key in config_keys()? {
        roff.control("TP", []);
        roff.text([bold(key.name)]);
        roff.text([roman(format!(
            "{} (default: {})",
            capitalised(&key.meaning),
            key.default
        ))]);
    }

    roff.control("SH", ["ENVIRONMENT"]);
    roff.control("TP", []);
    roff.text([bold(args::CONFIG_ENV)]);
    roff.text([roman(
        "The configuration file when --config is not given. Set but empty, or naming a file that \
         cannot be read, it is an error (exit status 2), never the defaults.",
    )]);

    roff.control("SH", ["SIGNALS"]);
    roff.text([roman(format!(
        "connect --retry stops at SIGTERM or SIGINT with exit status {}: a try in progress ends \
         first (within deadline_ms), a second signal exits at once. The other commands keep the \
         default action of these signals.",
        args::EXIT_CANCELLED
    ))]);

    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in args::EXIT_CODES {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(capitalised(meaning))]);
    }

    roff.control("SH", ["EXAMPLES"]);
    for (command, what) in EXAMPLES {
        roff.control("TP", []);
        roff.text([bold(command)]);
        roff.text([roman(what)]);
    }
    roff.to_writer(w)?;
    man.render_version_section(w)
}

/// The page's date, `YYYY-MM-DD`: `$SOURCE_DATE_EPOCH` when set (reproducible builds), else today.
fn page_date() -> String {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(now);
    let (y, m, d) = civil_from_days(secs / 86_400);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// `success` → `Success`.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
