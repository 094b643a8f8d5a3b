//! The command line: subcommand, options and the help text.

use std::ffi::OsString;
use std::path::PathBuf;

/// The help text printed by `--help`.
pub const HELP: &str = "\
scoutlb - choose the Scout Server a device talks to (FailureLoadBalancing, ManagerLoadBalancing)

Usage: scoutlb [OPTIONS] <COMMAND>

Commands:
  connect      start-up: try the ManagerLoadBalancer, then the failover order; the server that
               answers becomes the default and its server list is cached
  candidates   print the start-up order of candidates, without trying them
  lost         the connection was lost: rerun the failover order from the default server and
               reconnect (with \"probe\": \"none\", print that order instead)
  servers      print the cached server list (* marks the default server)
  status       print the default server, the cached list and the state file's path
  help         print this help

Options:
  -c, --config FILE  configuration as JSON (SPEC section 5); without it every key has its default
                     (seed server `ScoutSrv`, no state file)
      --json         print one JSON document on stdout instead of text
  -v, --verbose      report every event (attempts, list updates, default changes) on stderr
  -h, --help         print this help
  -V, --version      print the version

Exit codes:
  0  success
  1  no server could be reached (every attempt is listed on stderr)
  2  bad command line or configuration
  3  the state file cannot be read or written
  4  no server could be reached and every attempt failed on DNS (or the balancer name did not resolve)
  5  any other error
";

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Start-up connect.
    Connect,
    /// Print the start-up candidates.
    Candidates,
    /// Connection lost: reconnect from the default server.
    Lost,
    /// Print the cached server list.
    Servers,
    /// Print the default server, list and state file.
    Status,
    /// Print the help.
    Help,
    /// Print the version.
    Version,
}

/// The parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// The subcommand.
    pub command: Command,
    /// The configuration file, if given.
    pub config: Option<PathBuf>,
    /// Machine-readable output.
    pub json: bool,
    /// Events on stderr.
    pub verbose: bool,
}

/// Parse the arguments after the program name; the error is a message for stderr.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Args, String> {
    let mut command = None;
    let mut config = None;
    let mut json = false;
    let mut verbose = false;
    let mut help = false;
    let mut version = false;
    let mut args = args.into_iter();
    while let Some(raw) = args.next() {
        let arg = raw
            .to_str()
            .ok_or_else(|| format!("argument {raw:?} is not valid UTF-8"))?
            .to_owned();
        if let Some(path) = arg.strip_prefix("--config=") {
            config = Some(non_empty(path)?);
            continue;
        }
        match arg.as_str() {
            "-c" | "--config" => {
                let value = args.next().ok_or_else(|| format!("{arg} needs a file name"))?;
                config = Some(non_empty(
                    value.to_str().ok_or_else(|| format!("{value:?} is not valid UTF-8"))?,
                )?);
            }
            "--json" => json = true,
            "-v" | "--verbose" => verbose = true,
            "-h" | "--help" => help = true,
            "-V" | "--version" => version = true,
            other if other.starts_with('-') && other != "-" => {
                return Err(format!("unknown option `{other}`"));
            }
            name => {
                let parsed = match name {
                    "connect" => Command::Connect,
                    "candidates" => Command::Candidates,
                    "lost" => Command::Lost,
                    "servers" => Command::Servers,
                    "status" => Command::Status,
                    "help" => Command::Help,
                    other => return Err(format!("unknown command `{other}`")),
                };
                if let Some(previous) = command {
                    return Err(format!("one command at a time (got {previous:?} and `{name}`)"));
                }
                command = Some(parsed);
            }
        }
    }
    let command = if help {
        Command::Help
    } else if version {
        Command::Version
    } else {
        command.ok_or_else(|| "no command given".to_owned())?
    };
    Ok(Args {
        command,
        config,
        json,
        verbose,
    })
}

fn non_empty(path: &str) -> Result<PathBuf, String> {
    if path.is_empty() {
        Err("--config needs a file name".into())
    } else {
        Ok(PathBuf::from(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Args, String> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn options_go_before_or_after_the_command() {
        let a = parse_str(&["--config", "c.json", "connect", "--json"]).unwrap();
        assert_eq!(a.command, Command::Connect);
        assert_eq!(a.config, Some(PathBuf::from("c.json")));
        assert!(a.json && !a.verbose);
        let b = parse_str(&["lost", "-v", "--config=d.json"]).unwrap();
        assert_eq!(b.command, Command::Lost);
        assert_eq!(b.config, Some(PathBuf::from("d.json")));
        assert!(b.verbose && !b.json);
    }

    #[test]
    fn help_and_version_win_over_a_command() {
        assert_eq!(parse_str(&["status", "--help"]).unwrap().command, Command::Help);
        assert_eq!(parse_str(&["-V"]).unwrap().command, Command::Version);
        assert_eq!(parse_str(&["help"]).unwrap().command, Command::Help);
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(parse_str(&[]).unwrap_err(), "no command given");
        assert!(parse_str(&["conect"]).unwrap_err().contains("`conect`"));
        assert!(parse_str(&["--jsn", "status"]).unwrap_err().contains("`--jsn`"));
        assert!(parse_str(&["status", "--config"]).unwrap_err().contains("needs a file"));
        assert!(
            parse_str(&["status", "--config="])
                .unwrap_err()
                .contains("needs a file")
        );
        assert!(parse_str(&["status", "servers"]).unwrap_err().contains("one command"));
    }
}
