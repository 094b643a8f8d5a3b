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

/// The man page's EXAMPLES: a command line and what it does.
const EXAMPLES: [(&str, &str); 4] = [
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
];

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
    }
    roff.control("TP", []);
    roff.text([bold("help")]);
    roff.text([roman("Print the help, or the help of the given command")]);

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
