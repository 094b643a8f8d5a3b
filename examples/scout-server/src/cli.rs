//! Command-line options, parsed with the standard library.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::steer::{DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER};

/// Text printed by `--help`.
pub const USAGE: &str = "\
scout-server: reference Scout Server; serves the list of live servers sharing one SQL database

USAGE:
    scout-server --db <PATH | postgres://URL> [OPTIONS]
    scout-server keygen <FILE>       write a new list-signing key to FILE, print its public key
    scout-server public-key <FILE>   print the public key of a list-signing key file
    scout-server tls-files <DIR> [NAME...]
                           make a test CA and a server certificate for the NAMEs (DNS names or IP
                           addresses) [default: 127.0.0.1 localhost]: DIR/ca.pem (the devices' root,
                           for ca_file or a ca_dir such as /setup/cacerts/scoutsrv), DIR/server.pem
                           and DIR/server.key (for --tls-cert and --tls-key); never over a file
    scout-server drain <ADMIN ADDR:PORT> [--retry-after <S> | --keep]
                           make the server whose --admin is ADDR:PORT drain (--keep: serve its
                           devices as usual, its entry marked draining, so that devices with the
                           rebalance on move away at their pace); prints its status
    scout-server undrain <ADMIN ADDR:PORT>
                           end its drain (not one started by a stop signal); prints its status
    scout-server status <ADMIN ADDR:PORT>
                           print its status (JSON)
    scout-server relocate <ADMIN ADDR:PORT> --to <ID> [--mode online|offline]
                          [--devices-file <FILE>] [DEVICE...]
                           make every server of the cluster answer these devices (ids, or a file
                           of one id a line, # comments) with \"relocate\" to the server of id ID
                           until each reaches it [default mode: online]; prints the answer

OPTIONS:
    --db <PATH|URL>        SQLite file (created if missing) or postgres://user@host:port/db (required)
    --listen <ADDR:PORT>   address to listen on [default: 127.0.0.1:22123]; port 0 picks a free one
    --id <ID>              unique id of this server [default: <advertised host>-<port>]
    --advertise <HOST:PORT>
                           address devices should use, [v6]:port for IPv6 [default: the bound address]
    --heartbeat-ms <MS>    heartbeat period [default: 1000]
    --window-ms <MS>       a server whose heartbeat is this old is dead [default: 5000]
    --tls-cert <FILE>      serve HTTPS with this PEM certificate chain (needs --tls-key)
    --tls-key <FILE>       the PEM private key of --tls-cert
    --list-key <FILE>      sign the server list with this key (repeat: sign with each, for a
                           rotation); every server of a cluster the same key
    --next-list-key <KEY>  a public key (base64) that devices adopt for a rotation (repeatable)
    --list-lifetime <S>    seconds a signed list is taken after it was signed [default: 604800]
    --retry-after <S>      Retry-After of a drain, seconds, 1 to 3600 [default: 30]
    --drain-on-stop <S>    on SIGTERM or SIGINT drain for S seconds, then stop (a second signal
                           stops at once) [default: 0: stop at once]
    --known-devices <FILE> serve only the devices this file names (one id a line, # comments);
                           others get 403; read again when it changes and on SIGHUP
    --admin <ADDR:PORT>    admin endpoint (drain, undrain, status, relocate) on this loopback address
    --weight <N>           this server's capacity relative to its peers', 1 to 1000000, published as
                           its \"weight\" in every server's list [default: none, which devices take as 1]
    --load-window <S>      seconds a device's check-in counts in the \"load\" of the server it asked;
                           every server of a cluster the same [default: 600]
    --garbage              test aid: answer /scout/v1/servers with 200 and a body that is not JSON
    -h, --help             print this help

ENDPOINTS (HTTP, or HTTPS with --tls-cert):
    GET /scout/v1/servers  200 {\"generation\":N,\"self\":ID,
                           \"servers\":[{\"host\",\"id\",\"port\",\"load\",\"weight\"}...]}
                           503 {\"draining\":true,...} + Retry-After while draining;
                           403 {\"refused\":REASON} to a device --known-devices does not name;
                           the list and \"relocate\":{\"to\",\"mode\"} to a relocated device
    GET /scout/v1/health   200 ok; 503 draining + Retry-After while draining

ADMIN ENDPOINT (HTTP, on --admin only):
    POST /scout/v1/admin/drain[?retry_after=S]   start draining (or change S); 200 status
    POST /scout/v1/admin/drain?keep=true         drain keeping the devices: served as usual,
                           the entry marked \"draining\": true in every server's list
    POST /scout/v1/admin/undrain                 stop draining; 200 status (409 while stopping)
    POST /scout/v1/admin/relocate                body {\"to\",\"mode\",\"devices\":[...]}: relocate
                                                 them (cluster-wide, in the database); 200
    GET  /scout/v1/admin/status                  200 {\"draining\",\"retry_after\",
                           \"known_devices\",\"served\",\"refused\",\"drained\",...}
";

/// Everything the server is told on its command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// SQLite file path or PostgreSQL URL.
    pub db: String,
    /// Address to bind; `host:port`, port 0 picks a free port.
    pub listen: String,
    /// Id of this server; `None` means `<advertised host>-<port>`.
    pub id: Option<String>,
    /// Host and port to publish; `None` means the bound address.
    pub advertise: Option<(String, u16)>,
    /// Heartbeat period in milliseconds.
    pub heartbeat_ms: u64,
    /// Age in milliseconds after which a heartbeat counts as dead.
    pub window_ms: u64,
    /// Fault injection: serve garbage instead of the list.
    pub garbage: bool,
    /// HTTPS: the PEM certificate chain and private key; `None` serves plain HTTP.
    pub tls: Option<Tls>,
    /// Key files that sign the list (behaviour.md, "Signed lists"); empty = unsigned.
    pub list_keys: Vec<PathBuf>,
    /// Public keys (base64) named as `next_keys` in signed lists.
    pub next_list_keys: Vec<String>,
    /// Seconds a signed list is valid.
    pub list_lifetime_s: u64,
    /// `Retry-After` of a drain that names no time, in seconds.
    pub retry_after_s: u64,
    /// Seconds to drain after a stop signal before stopping; 0 stops at once.
    pub drain_on_stop_s: u64,
    /// The file of the devices served; `None` serves every device.
    pub known_devices: Option<PathBuf>,
    /// Loopback address of the admin endpoint; `None` has none.
    pub admin: Option<SocketAddr>,
    /// The server's `weight` in the list; `None` publishes none.
    pub weight: Option<u32>,
    /// Seconds a check-in counts in a server's load.
    pub load_window_s: u64,
}

/// The files of `--tls-cert` and `--tls-key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls {
    /// PEM certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// PEM private key of that certificate.
    pub key: PathBuf,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the server.
    Run(Box<Options>),
    /// Print the help text and exit.
    Help,
    /// Write a new list-signing key to this file and print its public key.
    Keygen(PathBuf),
    /// Print the public key of this key file.
    PublicKey(PathBuf),
    /// Write a test CA and a server certificate for these names into this folder.
    TlsFiles(PathBuf, Vec<String>),
    /// Call the admin endpoint at this address.
    Admin(String, AdminCall),
}

/// What `scout-server drain`, `undrain`, `status` and `relocate` ask the admin endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminCall {
    /// Start draining, with this `Retry-After` (the server's default when `None`).
    Drain(Option<u64>),
    /// Start a drain that keeps the devices (`--keep`).
    DrainKeeping,
    /// End the drain.
    Undrain,
    /// Read the status.
    Status,
    /// Relocate `devices` and those of `file` to the server `to`, moving `mode`.
    Relocate {
        /// The target server's id.
        to: String,
        /// `online` or `offline`.
        mode: String,
        /// Device ids given on the command line.
        devices: Vec<String>,
        /// A file of device ids, one a line.
        file: Option<PathBuf>,
    },
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter().peekable();
    if args.peek().is_some_and(|a| a == "tls-files") {
        args.next();
        let dir = match args.next() {
            Some(dir) if !dir.is_empty() && !dir.starts_with('-') => PathBuf::from(dir),
            _ => return Err("tls-files takes a folder, then the names of the server (optional)".into()),
        };
        let names: Vec<String> = args.collect();
        if let Some(bad) = names.iter().find(|n| n.is_empty() || n.starts_with('-')) {
            return Err(format!("tls-files: {bad:?} is not a DNS name or IP address"));
        }
        return Ok(Command::TlsFiles(dir, names));
    }
    if let Some(verb) = args
        .peek()
        .filter(|a| matches!(a.as_str(), "drain" | "undrain" | "status" | "relocate"))
        .cloned()
    {
        args.next();
        let addr = match args.next() {
            Some(addr) if !addr.is_empty() && !addr.starts_with('-') => addr,
            _ => return Err(format!("{verb} takes the address of the server's --admin endpoint")),
        };
        let rest: Vec<String> = args.collect();
        if verb == "relocate" {
            return Ok(Command::Admin(addr, parse_relocate(rest)?));
        }
        let call = match (verb.as_str(), rest.as_slice()) {
            ("drain", []) => AdminCall::Drain(None),
            ("drain", [flag, value]) if flag == "--retry-after" => AdminCall::Drain(Some(parse_retry_after(value)?)),
            ("drain", [flag]) if flag.starts_with("--retry-after=") => {
                AdminCall::Drain(Some(parse_retry_after(&flag["--retry-after=".len()..])?))
            }
            ("drain", [flag]) if flag == "--keep" => AdminCall::DrainKeeping,
            ("undrain", []) => AdminCall::Undrain,
            ("status", []) => AdminCall::Status,
            _ => return Err(format!("{verb}: unexpected arguments {rest:?}")),
        };
        return Ok(Command::Admin(addr, call));
    }
    if let Some(verb) = args
        .peek()
        .filter(|a| matches!(a.as_str(), "keygen" | "public-key"))
        .cloned()
    {
        args.next();
        let file = match (args.next(), args.next()) {
            (Some(file), None) if !file.is_empty() && !file.starts_with('-') => PathBuf::from(file),
            _ => return Err(format!("{verb} takes one argument: the key file")),
        };
        return Ok(if verb == "keygen" {
            Command::Keygen(file)
        } else {
            Command::PublicKey(file)
        });
    }
    let mut db = None;
    let mut listen = "127.0.0.1:22123".to_owned();
    let mut id = None;
    let mut advertise = None;
    let mut heartbeat_ms = 1000;
    let mut window_ms = 5000;
    let mut garbage = false;
    let mut tls_cert = None;
    let mut tls_key = None;
    let mut list_keys = Vec::new();
    let mut next_list_keys = Vec::new();
    let mut list_lifetime_s = crate::signing::DEFAULT_LIFETIME.as_secs();
    let mut retry_after_s = DEFAULT_RETRY_AFTER;
    let mut drain_on_stop_s = 0;
    let mut known_devices = None;
    let mut admin = None;
    let mut weight = None;
    let mut load_window_s = crate::load::DEFAULT_WINDOW.as_secs();

    while let Some(arg) = args.next() {
        let (flag, inline) = split_flag(&arg);
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--db" => db = Some(value()?),
            "--listen" => listen = value()?,
            "--id" => id = Some(non_empty("--id", value()?)?),
            "--advertise" => advertise = Some(parse_host_port(&value()?)?),
            "--heartbeat-ms" => heartbeat_ms = parse_ms("--heartbeat-ms", &value()?)?,
            "--window-ms" => window_ms = parse_ms("--window-ms", &value()?)?,
            "--tls-cert" => tls_cert = Some(PathBuf::from(non_empty("--tls-cert", value()?)?)),
            "--tls-key" => tls_key = Some(PathBuf::from(non_empty("--tls-key", value()?)?)),
            "--list-key" => list_keys.push(PathBuf::from(non_empty("--list-key", value()?)?)),
            "--next-list-key" => next_list_keys.push(non_empty("--next-list-key", value()?)?),
            "--list-lifetime" => list_lifetime_s = parse_positive("--list-lifetime", "seconds", &value()?)?,
            "--retry-after" => retry_after_s = parse_retry_after(&value()?)?,
            "--drain-on-stop" => {
                let v = value()?;
                drain_on_stop_s = v
                    .parse()
                    .map_err(|_| format!("--drain-on-stop wants a whole number of seconds, not {v:?}"))?;
            }
            "--known-devices" => known_devices = Some(PathBuf::from(non_empty("--known-devices", value()?)?)),
            "--admin" => admin = Some(parse_admin(&value()?)?),
            "--weight" => weight = Some(parse_weight(&value()?)?),
            "--load-window" => load_window_s = parse_positive("--load-window", "seconds", &value()?)?,
            "--garbage" if inline.is_none() => garbage = true,
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    let db = non_empty("--db", db.ok_or("--db is required")?)?;
    let tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some(Tls { cert, key }),
        (None, None) => None,
        (Some(_), None) => return Err("--tls-cert needs --tls-key".into()),
        (None, Some(_)) => return Err("--tls-key needs --tls-cert".into()),
    };
    if window_ms <= heartbeat_ms {
        return Err(format!(
            "--window-ms ({window_ms}) must be longer than --heartbeat-ms ({heartbeat_ms})"
        ));
    }
    let unspecified = listen
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.ip().is_unspecified());
    if unspecified && advertise.is_none() {
        return Err(format!(
            "--listen {listen} needs --advertise HOST:PORT (devices cannot use it)"
        ));
    }
    Ok(Command::Run(Box::new(Options {
        db,
        listen,
        id,
        advertise,
        heartbeat_ms,
        window_ms,
        garbage,
        tls,
        list_keys,
        next_list_keys,
        list_lifetime_s,
        retry_after_s,
        drain_on_stop_s,
        known_devices,
        admin,
        weight,
        load_window_s,
    })))
}

/// A `--flag=value` argument as the flag and its value; any other argument as itself, no value.
fn split_flag(arg: &str) -> (String, Option<String>) {
    match arg.split_once('=') {
        Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
        _ => (arg.to_owned(), None),
    }
}

/// The arguments of `relocate` after its address.
fn parse_relocate(rest: Vec<String>) -> Result<AdminCall, String> {
    let (mut to, mut mode, mut file, mut devices) = (None, "online".to_owned(), None, Vec::new());
    let mut rest = rest.into_iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = split_flag(&arg);
        let mut value = || {
            inline
                .clone()
                .or_else(|| rest.next())
                .ok_or_else(|| format!("relocate: {flag} needs a value"))
        };
        match flag.as_str() {
            "--to" => to = Some(non_empty("--to", value()?)?),
            "--mode" => {
                mode = value()?;
                if !crate::relocate::MODES.contains(&mode.as_str()) {
                    return Err(format!("relocate: --mode is online or offline, not {mode:?}"));
                }
            }
            "--devices-file" => file = Some(PathBuf::from(non_empty("--devices-file", value()?)?)),
            other if other.starts_with('-') => return Err(format!("relocate: unknown option {other}")),
            _ => devices.push(arg),
        }
    }
    let to = to.ok_or("relocate: --to <ID> names the server the devices belong on")?;
    if devices.is_empty() && file.is_none() {
        return Err("relocate: name the devices (ids, or --devices-file FILE)".into());
    }
    Ok(AdminCall::Relocate {
        to,
        mode,
        devices,
        file,
    })
}

/// Parses a `Retry-After` in seconds: 1 to [`MAX_RETRY_AFTER`].
fn parse_retry_after(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if (1..=MAX_RETRY_AFTER).contains(&n) => Ok(n),
        _ => Err(format!(
            "--retry-after wants a whole number of seconds from 1 to {MAX_RETRY_AFTER} \
             (devices take no longer one), not {value:?}"
        )),
    }
}

/// Parses a `--weight`: a whole number from 1 to [`scoutlb::MAX_WEIGHT`], as devices take it.
fn parse_weight(value: &str) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(n) if n >= 1 && u64::from(n) <= scoutlb::MAX_WEIGHT => Ok(n),
        _ => Err(format!(
            "--weight wants a whole number from 1 to {} (this server's capacity relative to its \
             peers'; devices refuse a list with any other weight), not {value:?}",
            scoutlb::MAX_WEIGHT
        )),
    }
}

/// Parses the address of `--admin`: a loopback IP address (or `localhost`) and a port.
fn parse_admin(value: &str) -> Result<SocketAddr, String> {
    let addr = match value.strip_prefix("localhost:") {
        Some(port) => port
            .parse()
            .ok()
            .map(|port| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)),
        None => value.parse::<SocketAddr>().ok(),
    };
    match addr {
        Some(addr) if addr.ip().is_loopback() => Ok(addr),
        Some(_) => Err(format!(
            "--admin {value} is not a loopback address: the admin endpoint lets anyone who reaches \
             it drain this server, so it listens on 127.0.0.1 or [::1] only"
        )),
        None => Err(format!(
            "--admin wants a loopback address and port such as 127.0.0.1:22200, not {value:?}"
        )),
    }
}

/// Rejects an empty value for `flag`.
fn non_empty(flag: &str, value: String) -> Result<String, String> {
    if value.is_empty() {
        Err(format!("{flag} must not be empty"))
    } else {
        Ok(value)
    }
}

/// Parses a positive number of milliseconds.
fn parse_ms(flag: &str, value: &str) -> Result<u64, String> {
    parse_positive(flag, "milliseconds", value)
}

/// Parses a positive number of `unit`.
fn parse_positive(flag: &str, unit: &str, value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag} wants a positive number of {unit}, not {value:?}")),
    }
}

/// Parses `host:port` or `[v6]:port` into the host (without brackets) and a non-zero port.
pub fn parse_host_port(value: &str) -> Result<(String, u16), String> {
    let bad = || format!("expected HOST:PORT or [V6]:PORT, not {value:?}");
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (host, port) = rest.split_once("]:").ok_or_else(bad)?;
        (host, port)
    } else {
        let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
        if host.contains(':') {
            return Err(bad());
        }
        (host, port)
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Command::Run(o) => Ok(*o),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn defaults() {
        let o = run(&["--db", "x.sqlite"]).unwrap();
        assert_eq!(o.listen, "127.0.0.1:22123");
        assert_eq!((o.heartbeat_ms, o.window_ms, o.garbage), (1000, 5000, false));
        assert_eq!((o.id, o.advertise), (None, None));
        assert_eq!(o.tls, None);
    }

    #[test]
    fn every_flag() {
        let o = run(&[
            "--db=postgres://p@h/d",
            "--listen",
            "0.0.0.0:22123",
            "--id",
            "a",
            "--advertise",
            "[::1]:9",
            "--heartbeat-ms",
            "200",
            "--window-ms=1500",
            "--garbage",
            "--tls-cert",
            "c.pem",
            "--tls-key=k.pem",
        ])
        .unwrap();
        assert_eq!(o.db, "postgres://p@h/d");
        assert_eq!(o.listen, "0.0.0.0:22123");
        assert_eq!(o.id.as_deref(), Some("a"));
        assert_eq!(o.advertise, Some(("::1".into(), 9)));
        assert_eq!((o.heartbeat_ms, o.window_ms, o.garbage), (200, 1500, true));
        let tls = o.tls.unwrap();
        assert_eq!((tls.cert.to_str(), tls.key.to_str()), (Some("c.pem"), Some("k.pem")));
    }

    #[test]
    fn errors() {
        assert!(run(&[]).unwrap_err().contains("--db"));
        assert!(run(&["--db"]).unwrap_err().contains("needs a value"));
        assert!(run(&["--db", "x", "--bogus"]).unwrap_err().contains("unknown"));
        assert!(
            run(&["--db", "x", "--window-ms", "100"])
                .unwrap_err()
                .contains("longer")
        );
        assert!(run(&["--db", "x", "--heartbeat-ms", "0"]).is_err());
        assert!(run(&["--db", "x", "--garbage=1"]).is_err());
        assert!(
            run(&["--db", "x", "--tls-cert", "c.pem"])
                .unwrap_err()
                .contains("--tls-key")
        );
        assert!(
            run(&["--db", "x", "--tls-key", "k.pem"])
                .unwrap_err()
                .contains("--tls-cert")
        );
        assert!(
            run(&["--db", "x", "--listen", "[::]:80"])
                .unwrap_err()
                .contains("--advertise")
        );
        assert_eq!(parse(["--help".to_string()]), Ok(Command::Help));
        let words = |w: &[&str]| parse(w.iter().map(|s| s.to_string()));
        assert_eq!(words(&["keygen", "k"]), Ok(Command::Keygen("k".into())));
        assert_eq!(words(&["public-key", "k"]), Ok(Command::PublicKey("k".into())));
        assert!(words(&["keygen"]).unwrap_err().contains("one argument"));
        assert!(words(&["keygen", "a", "b"]).is_err());
        assert_eq!(
            words(&["tls-files", "d", "a.corp", "10.0.0.1"]),
            Ok(Command::TlsFiles("d".into(), vec!["a.corp".into(), "10.0.0.1".into()]))
        );
        assert_eq!(
            words(&["tls-files", "d"]),
            Ok(Command::TlsFiles("d".into(), Vec::new()))
        );
        assert!(words(&["tls-files"]).is_err());
        assert!(words(&["tls-files", "d", "--x"]).is_err());
        let o = run(&[
            "--db",
            "x",
            "--list-key",
            "a",
            "--list-key=b",
            "--next-list-key",
            "K",
            "--list-lifetime",
            "60",
        ])
        .unwrap();
        assert_eq!(o.list_keys, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!((o.next_list_keys, o.list_lifetime_s), (vec!["K".to_string()], 60));
        assert!(
            run(&["--db", "x", "--list-lifetime", "0"])
                .unwrap_err()
                .contains("seconds")
        );
    }

    #[test]
    fn the_help_states_the_retry_after_limits() {
        let line = format!("1 to {MAX_RETRY_AFTER} [default: {DEFAULT_RETRY_AFTER}]");
        assert!(USAGE.contains(&line), "{line}");
    }

    #[test]
    fn steering_flags() {
        let o = run(&["--db", "x"]).unwrap();
        assert_eq!((o.retry_after_s, o.drain_on_stop_s), (30, 0));
        assert_eq!((o.known_devices, o.admin), (None, None));
        let o = run(&[
            "--db",
            "x",
            "--retry-after",
            "5",
            "--drain-on-stop=20",
            "--known-devices",
            "k.txt",
            "--admin",
            "[::1]:9",
        ])
        .unwrap();
        assert_eq!((o.retry_after_s, o.drain_on_stop_s), (5, 20));
        assert_eq!(o.known_devices, Some(PathBuf::from("k.txt")));
        assert_eq!(o.admin, Some("[::1]:9".parse().unwrap()));
        let admin = |a: &str| run(&["--db", "x", "--admin", a]).map(|o| o.admin.unwrap());
        assert_eq!(admin("localhost:7"), Ok("127.0.0.1:7".parse().unwrap()));
        assert_eq!(admin("127.0.0.2:7"), Ok("127.0.0.2:7".parse().unwrap()));
        assert!(admin("0.0.0.0:7").unwrap_err().contains("not a loopback address"));
        assert!(admin("10.1.2.3:7").unwrap_err().contains("not a loopback address"));
        assert!(admin("scout.corp:7").unwrap_err().contains("such as 127.0.0.1"));
        for bad in ["0", "3601", "x"] {
            assert!(
                run(&["--db", "x", "--retry-after", bad])
                    .unwrap_err()
                    .contains("1 to 3600")
            );
        }
        assert!(run(&["--db", "x", "--drain-on-stop", "-1"]).is_err());
        let words = |w: &[&str]| parse(w.iter().map(|s| s.to_string()));
        assert_eq!(
            words(&["drain", "127.0.0.1:9"]),
            Ok(Command::Admin("127.0.0.1:9".into(), AdminCall::Drain(None)))
        );
        assert_eq!(
            words(&["drain", "127.0.0.1:9", "--retry-after", "60"]),
            Ok(Command::Admin("127.0.0.1:9".into(), AdminCall::Drain(Some(60))))
        );
        assert_eq!(
            words(&["drain", "h:9", "--keep"]),
            Ok(Command::Admin("h:9".into(), AdminCall::DrainKeeping))
        );
        assert!(words(&["drain", "h:9", "--keep", "--retry-after", "5"]).is_err());
        assert_eq!(
            words(&["undrain", "h:9"]),
            Ok(Command::Admin("h:9".into(), AdminCall::Undrain))
        );
        assert_eq!(
            words(&["status", "h:9"]),
            Ok(Command::Admin("h:9".into(), AdminCall::Status))
        );
        assert!(words(&["drain"]).unwrap_err().contains("--admin"));
        assert!(words(&["undrain", "h:9", "x"]).is_err());
        assert!(words(&["drain", "h:9", "--retry-after", "0"]).is_err());
    }

    #[test]
    fn weight_and_load_window() {
        let o = run(&["--db", "x"]).unwrap();
        assert_eq!((o.weight, o.load_window_s), (None, 600));
        let o = run(&["--db", "x", "--weight", "3", "--load-window=60"]).unwrap();
        assert_eq!((o.weight, o.load_window_s), (Some(3), 60));
        assert_eq!(
            run(&["--db", "x", "--weight", "1000000"]).unwrap().weight,
            Some(1_000_000)
        );
        for bad in ["0", "1000001", "-1", "1.5", "x", ""] {
            let why = run(&["--db", "x", "--weight", bad]).unwrap_err();
            assert!(why.contains("from 1 to 1000000"), "{bad}: {why}");
        }
        assert!(
            run(&["--db", "x", "--load-window", "0"])
                .unwrap_err()
                .contains("--load-window wants a positive number of seconds")
        );
    }

    #[test]
    fn host_port() {
        assert_eq!(parse_host_port("a.example:80"), Ok(("a.example".into(), 80)));
        assert_eq!(parse_host_port("[fe80::1]:80"), Ok(("fe80::1".into(), 80)));
        assert!(parse_host_port("fe80::1:80").is_err());
        assert!(parse_host_port("a:0").is_err());
        assert!(parse_host_port(":80").is_err());
        assert!(parse_host_port("a").is_err());
    }

    #[test]
    fn relocate_takes_a_target_a_mode_and_devices() {
        let words = |w: &[&str]| parse(w.iter().map(|s| s.to_string()));
        assert_eq!(
            words(&["relocate", "127.0.0.1:9", "--to", "b", "--mode=offline", "d1", "d2"]),
            Ok(Command::Admin(
                "127.0.0.1:9".into(),
                AdminCall::Relocate {
                    to: "b".into(),
                    mode: "offline".into(),
                    devices: vec!["d1".into(), "d2".into()],
                    file: None
                }
            ))
        );
        for bad in [
            &["relocate", "127.0.0.1:9", "d1"][..],
            &["relocate", "127.0.0.1:9", "--to", "b"],
            &["relocate", "127.0.0.1:9", "--to", "b", "--mode", "soon", "d"],
            &["relocate", "127.0.0.1:9", "--to"],
        ] {
            assert!(words(bad).is_err(), "{bad:?}");
        }
    }
}
