//! What the commands print: readable text, or one JSON document per run with `--json`.
//!
//! Every command looks servers up in the cached list (up to 4,096 entries) once per printed
//! server, so the list is indexed once per run ([`Known`]) and stdout is written through one buffer.
//!
//! Servers supply text (entry ids, and what error messages quote): every line of text passes
//! through [`scoutlb::printable`] and JSON is written by [`Safe`], so that no control character or
//! bidi control reaches the terminal (behaviour.md, "Surfaces").

use std::collections::{HashMap, HashSet};
use std::io::{self, BufWriter, StdoutLock, Write};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Value, json};

use scoutlb::{Client, Connected, Error, ErrorKind, Event, OrderMode, Plan, Server, State};

use crate::Failure;

/// Write one line of text with every unprintable character escaped (a server's id cannot
/// forge a line, clear the screen or reorder what is shown).
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, "{}", scoutlb::printable(&format!($($arg)*)))
    };
}

/// The same on stderr.
macro_rules! tell {
    ($($arg:tt)*) => {
        eprintln!("{}", scoutlb::printable(&format!($($arg)*)))
    };
}

/// serde_json's compact output, with the characters it leaves raw that [`scoutlb::is_unprintable`]
/// names (DEL, C1 controls, bidi controls, line separators) written as `\uXXXX` escapes too:
/// the same JSON value, safe on a terminal.
pub struct Safe;

impl serde_json::ser::Formatter for Safe {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if scoutlb::is_unprintable(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                // Every such character is in the Basic Multilingual Plane: one \uXXXX.
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// `value` as one line of safe JSON.
fn json_text(value: &impl Serialize) -> String {
    let mut bytes = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut bytes, Safe);
    value.serialize(&mut ser).expect("a JSON value always serialises");
    String::from_utf8(bytes).expect("serde_json writes UTF-8")
}

/// Prints results on stdout and errors on stderr, as text or JSON.
pub struct Printer {
    /// One JSON document instead of text.
    pub json: bool,
}

/// Buffered stdout: one write per buffer-full instead of one per line.
type Out = BufWriter<StdoutLock<'static>>;

fn stdout() -> Out {
    BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

/// The cached list indexed by server: each entry's id, and whether a server is in the list.
struct Known<'a> {
    ids: HashMap<&'a Server, Option<&'a str>>,
}

impl<'a> Known<'a> {
    /// Index the cached list of `state` (empty when none is cached).
    fn new(state: &'a State) -> Self {
        let entries = state.list.as_ref().map(|l| l.entries()).unwrap_or_default();
        let mut ids = HashMap::with_capacity(entries.len());
        for e in entries {
            // The list is de-duplicated already; keep the first entry anyway, as a scan would.
            ids.entry(&e.server).or_insert(e.id.as_deref());
        }
        Known { ids }
    }

    /// The id the cached list gives `server`, if any.
    fn id(&self, server: &Server) -> Option<&'a str> {
        self.ids.get(server).copied().flatten()
    }

    /// Whether `server` is in the cached list.
    fn listed(&self, server: &Server) -> bool {
        self.ids.contains_key(server)
    }

    /// `127.0.0.1:22123 (srv-a)`, or the bare address when no id is known.
    fn named(&self, server: &Server) -> String {
        match self.id(server) {
            Some(id) => format!("{server} ({id})"),
            None => server.to_string(),
        }
    }

    /// `server` as JSON, written straight to the output.
    fn doc(&self, server: &'a Server) -> ServerDoc<'a> {
        ServerDoc {
            server,
            id: self.id(server),
            source: None,
        }
    }

    /// The same as a JSON value, for the few places that build one.
    fn server_json(&self, server: &'a Server) -> Value {
        serde_json::to_value(self.doc(server)).unwrap_or(Value::Null)
    }

    fn opt_doc(&self, server: Option<&'a Server>) -> Field<'a> {
        Field::Server(server.map(|s| self.doc(s)))
    }

    /// The cached list in list order.
    fn list(&self, state: &'a State) -> Field<'a> {
        let entries = state.list.as_ref().map(|l| l.entries()).unwrap_or_default();
        Field::Servers(entries.iter().map(|e| self.doc(&e.server)).collect())
    }
}

/// A server as `{"address": "host:port", "host": ..., "id": ..., "port": ...}`, plus `"source"`
/// for a candidate; serialised without building a `serde_json::Value` (4,096 of them add up).
struct ServerDoc<'a> {
    server: &'a Server,
    id: Option<&'a str>,
    source: Option<&'static str>,
}

impl Serialize for ServerDoc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Keys in sorted order, as serde_json's own maps print them.
        let mut map = serializer.serialize_map(Some(if self.source.is_some() { 5 } else { 4 }))?;
        map.serialize_key("address")?;
        map.serialize_value(&Address(self.server))?;
        map.serialize_entry("host", self.server.host())?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("port", &self.server.port())?;
        if let Some(source) = self.source {
            map.serialize_entry("source", source)?;
        }
        map.end()
    }
}

/// `host:port` as a JSON string, without an intermediate `String`.
struct Address<'a>(&'a Server);

impl Serialize for Address<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

/// One field of a printed JSON document.
enum Field<'a> {
    /// A small value.
    Json(Value),
    /// A server, or `null`.
    Server(Option<ServerDoc<'a>>),
    /// A list of servers.
    Servers(Vec<ServerDoc<'a>>),
}

impl Serialize for Field<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Json(v) => v.serialize(serializer),
            Field::Server(s) => s.serialize(serializer),
            Field::Servers(list) => list.serialize(serializer),
        }
    }
}

impl From<Value> for Field<'_> {
    fn from(v: Value) -> Self {
        Field::Json(v)
    }
}

/// A JSON document printed by a command: its fields in sorted key order, like a `Value` object.
struct Document<'a>(Vec<(&'static str, Field<'a>)>);

impl<'a> Document<'a> {
    fn new<const N: usize>(fields: [(&'static str, Field<'a>); N]) -> Self {
        let mut fields = Vec::from(fields);
        fields.sort_by_key(|(key, _)| *key);
        Document(fields)
    }
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

fn state_file(client: &Client) -> Value {
    client
        .config()
        .state_file
        .as_ref()
        .map_or(Value::Null, |p| Value::String(p.display().to_string()))
}

/// Where each candidate comes from, for the reader of `candidates` and `lost`; hashed, so that a
/// long seed or balancer list costs linear time.
struct Sources<'a> {
    balancer: HashSet<&'a Server>,
    default: Option<&'a Server>,
    known: &'a Known<'a>,
    seeds: HashSet<&'a Server>,
}

impl<'a> Sources<'a> {
    fn new(client: &'a Client, state: &'a State, known: &'a Known<'a>, balancer: &'a [Server]) -> Self {
        Sources {
            balancer: balancer.iter().collect(),
            default: state.default_server.as_ref(),
            known,
            seeds: client.seeds().iter().collect(),
        }
    }

    /// `balancer`, `default`, `list`, `seed` or `other`, in that precedence.
    fn of(&self, server: &Server) -> &'static str {
        if self.balancer.contains(server) {
            "balancer"
        } else if self.default == Some(server) {
            "default"
        } else if self.known.listed(server) {
            "list"
        } else if self.seeds.contains(server) {
            "seed"
        } else {
            "other"
        }
    }
}

impl Printer {
    /// Print a JSON document on stdout.
    pub fn emit(&self, doc: &impl Serialize) -> io::Result<()> {
        let mut out = stdout();
        doc.serialize(&mut serde_json::Serializer::with_formatter(&mut out, Safe))
            .map_err(io::Error::from)?;
        writeln!(out)?;
        out.flush()
    }

    /// The outcome of `connect` or `lost`.
    pub fn connected(&self, command: &str, client: &Client, c: &Connected) -> io::Result<()> {
        let state = client.state();
        let known = Known::new(&state);
        if self.json {
            let failed: Vec<Value> = c
                .failed
                .iter()
                .map(|a| {
                    json!({
                        "server": known.server_json(&a.server),
                        "reason": a.reason.kind(),
                        "message": a.reason.to_string(),
                    })
                })
                .collect();
            return self.emit(&Document::new([
                ("command", json!(command).into()),
                ("server", known.opt_doc(Some(&c.server))),
                ("reached", known.opt_doc(Some(&c.reached))),
                ("via_balancer", json!(c.via_balancer).into()),
                ("failed", Value::Array(failed).into()),
                ("saved", json!(c.saved).into()),
                ("save_error", json!(c.save_error).into()),
                ("list_problem", json!(c.list_problem).into()),
                ("rebalance", rebalance_json(c.rebalance.as_ref(), &known)),
                ("default_server", known.opt_doc(state.default_server.as_ref())),
                ("servers", known.list(&state)),
                ("state_file", state_file(client).into()),
                ("state_dropped", json!(client.state_dropped()).into()),
            ]));
        }
        let mut out = stdout();
        say!(out, "connected to {}", known.named(&c.server))?;
        if c.via_balancer {
            say!(out, "  through the ManagerLoadBalancer entry ({})", c.reached)?;
        } else if c.reached != c.server {
            say!(out, "  reached at {}", c.reached)?;
        }
        for a in &c.failed {
            say!(out, "  not reachable first: {}: {}", known.named(&a.server), a.reason)?;
        }
        if let Some(plan) = &c.rebalance {
            say!(
                out,
                "  a lighter server: {}, a move planned in {} ms (connect --rebalance makes it)",
                known.named(&plan.to),
                plan.after.as_millis()
            )?;
        }
        if let Some(d) = &state.default_server {
            say!(out, "default server: {}", known.named(d))?;
        }
        list_text(&mut out, &state, &known)?;
        out.flush()
    }

    /// The ordered candidates of `candidates`, or of `lost` without a probe.
    pub fn order(&self, command: &str, client: &Client, order: &[Server], balancer: &[Server]) -> io::Result<()> {
        let state = client.state();
        let known = Known::new(&state);
        let sources = Sources::new(client, &state, &known, balancer);
        if self.json {
            let items = order
                .iter()
                .map(|s| ServerDoc {
                    source: Some(sources.of(s)),
                    ..known.doc(s)
                })
                .collect();
            return self.emit(&Document::new([
                ("command", json!(command).into()),
                ("candidates", Field::Servers(items)),
                ("default_server", known.opt_doc(state.default_server.as_ref())),
                ("state_dropped", json!(client.state_dropped()).into()),
            ]));
        }
        let mut out = stdout();
        if command == "lost" {
            say!(out, "connection lost; try these servers in this order:")?;
        } else {
            say!(out, "start-up order:")?;
        }
        for (i, s) in order.iter().enumerate() {
            let why = match sources.of(s) {
                "balancer" => "ManagerLoadBalancer",
                "default" => "default server",
                "list" => "server list",
                "seed" => "seed server",
                _ => "other",
            };
            say!(out, "  {}. {}  ({why})", i + 1, known.named(s))?;
        }
        out.flush()
    }

    /// The cached list, `*` marking the default server.
    pub fn servers(&self, client: &Client) -> io::Result<()> {
        let state = client.state();
        let known = Known::new(&state);
        if self.json {
            return self.emit(&Document::new([
                ("command", json!("servers").into()),
                ("servers", known.list(&state)),
                ("servers_from", known.opt_doc(state.servers_from.as_ref())),
                ("default_server", known.opt_doc(state.default_server.as_ref())),
                ("state_dropped", json!(client.state_dropped()).into()),
            ]));
        }
        let mut out = stdout();
        list_text(&mut out, &state, &known)?;
        out.flush()
    }

    /// Default server, list, state file and the configuration that decides the order.
    pub fn status(&self, client: &Client) -> io::Result<()> {
        let state = client.state();
        let known = Known::new(&state);
        let config = client.config();
        let balancer = config.manager_load_balancer.as_ref().map(ToString::to_string);
        let order = match config.failover_order {
            OrderMode::Spread => "spread",
            _ => "list",
        };
        if self.json {
            return self.emit(&Document::new([
                ("command", json!("status").into()),
                ("default_server", known.opt_doc(state.default_server.as_ref())),
                ("servers", known.list(&state)),
                ("servers_from", known.opt_doc(state.servers_from.as_ref())),
                ("state_file", state_file(client).into()),
                (
                    "seed_servers",
                    json!(client.seeds().iter().map(ToString::to_string).collect::<Vec<_>>()).into(),
                ),
                ("manager_load_balancer", json!(balancer).into()),
                ("failover_order", json!(order).into()),
                ("device_id", json!(config.device_id).into()),
                (
                    "dhcp_first_contact",
                    json!(client.dhcp_first_contact().map(|(lease, c)| json!({
                        "lease": lease.to_string_lossy(),
                        "servers": c.servers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "ou": c.ou,
                    })))
                    .into(),
                ),
                ("state_dropped", json!(client.state_dropped()).into()),
                ("relocation", known.opt_doc(state.relocation.as_ref())),
            ]));
        }
        let mut out = stdout();
        match &state.default_server {
            Some(d) => say!(out, "default server:      {}", known.named(d))?,
            None => say!(out, "default server:      none yet (never connected)")?,
        }
        match &config.state_file {
            Some(p) => say!(out, "state file:          {}", p.display())?,
            None => say!(out, "state file:          none (kept in memory only)")?,
        }
        let seeds: Vec<String> = client.seeds().iter().map(ToString::to_string).collect();
        say!(out, "seed servers:        {}", seeds.join(", "))?;
        if let Some((lease, c)) = client.dhcp_first_contact() {
            let ou = c.ou.as_deref().map(|ou| format!(", OU {ou}")).unwrap_or_default();
            say!(out, "DHCP option 222:     from {}{ou}", lease.display())?;
        }
        say!(out, "ManagerLoadBalancer: {}", balancer.as_deref().unwrap_or("not set"))?;
        if let Some(to) = &state.relocation {
            say!(
                out,
                "relocation:          to {}, tried first at the next start-up",
                known.named(to)
            )?;
        }
        match &config.device_id {
            Some(id) => say!(out, "failover_order:      \"{order}\" (device id {id})")?,
            None => say!(out, "failover_order:      \"{order}\"")?,
        }
        list_text(&mut out, &state, &known)?;
        out.flush()
    }

    /// Report a failure on stderr.
    pub fn error(&self, failure: &Failure, code: u8) {
        let (kind, message, attempts) = match failure {
            Failure::Config { message, .. } => ("config", message.clone(), Vec::new()),
            Failure::Output(e) => ("output", format!("cannot write the output: {e}"), Vec::new()),
            Failure::Other(m) => ("other", m.clone(), Vec::new()),
            Failure::Library(e) => (error_kind(e), e.to_string(), e.attempts().to_vec()),
        };
        let key = match failure {
            Failure::Config { key, .. } => key.clone(),
            Failure::Library(Error::Config { key, .. }) => Some(key.clone()),
            _ => None,
        };
        if self.json {
            let attempts: Vec<Value> = attempts
                .iter()
                .map(|a| {
                    json!({
                        "server": a.server.to_string(),
                        "reason": a.reason.kind(),
                        "message": a.reason.to_string(),
                    })
                })
                .collect();
            let mut doc = json!({"error": kind, "message": message, "exit_code": code, "attempts": attempts});
            if kind == "config" {
                doc["key"] = json!(key);
            }
            eprintln!("{}", json_text(&doc));
        } else if attempts.is_empty() {
            tell!("scoutlb: error: {message}");
            if kind == "config" {
                eprintln!("The configuration keys: `man scoutlb`, section CONFIGURATION.");
            }
        } else {
            tell!("scoutlb: error: no server could be reached ({} tried):", attempts.len());
            for a in &attempts {
                tell!("  {}: {}", a.server, a.reason);
            }
        }
    }
}

/// The cached list as text, `*` marking the default server.
fn list_text(out: &mut Out, state: &State, known: &Known) -> io::Result<()> {
    let Some(list) = &state.list else {
        return say!(out, "no server list cached yet");
    };
    let from = state
        .servers_from
        .as_ref()
        .map(|s| format!(" from {}", known.named(s)))
        .unwrap_or_default();
    let n = list.entries().len();
    say!(out, "server list{from}, {n} server{}:", if n == 1 { "" } else { "s" })?;
    for e in list.entries() {
        let mark = if state.default_server.as_ref() == Some(&e.server) {
            "*"
        } else {
            " "
        };
        match &e.id {
            Some(id) => say!(out, "  {mark} {}  {id}", e.server)?,
            None => say!(out, "  {mark} {}", e.server)?,
        }
    }
    Ok(())
}

/// A short stable name of an error, for `--json`.
fn error_kind(e: &Error) -> &'static str {
    match e.kind() {
        ErrorKind::AllFailed => "all_failed",
        ErrorKind::Config | ErrorKind::InvalidServer => "config",
        ErrorKind::Unsupported => "unsupported",
        ErrorKind::StateFile | ErrorKind::StateFormat => "state_file",
        ErrorKind::Dns => "dns",
        ErrorKind::Cancelled => "cancelled",
        ErrorKind::DeviceRefused => "device_refused",
        _ => "other",
    }
}

/// Warn on stderr, `-v` or not, what a connect that stands worked around: a state that was not
/// saved, a server list that was refused.
pub fn warn_connected(c: &Connected, json: bool) {
    if !c.saved {
        let why = c.save_error.as_deref().unwrap_or("the save failed");
        warn(
            json,
            "state_file_not_saved",
            &format!("connected, but the state file was not saved: {why}"),
            why,
        );
    }
    if let Some(why) = &c.list_problem {
        warn(
            json,
            "server_list_refused",
            &format!("connected, but {why}; the saved list is kept"),
            why,
        );
    }
}

/// The planned move of `connect --rebalance` failed: the device stays where it was.
pub fn warn_rebalance_failed(plan: &Plan, e: &Error, json: bool) {
    let why = e.to_string();
    warn(
        json,
        "rebalance_failed",
        &format!(
            "the move to {} failed, the device stays on {}: {why}",
            plan.to, plan.from
        ),
        &why,
    );
}

/// The planned move of a connect in JSON, or null.
fn rebalance_json<'a>(plan: Option<&'a Plan>, known: &Known<'a>) -> Field<'a> {
    match plan {
        None => Value::Null.into(),
        Some(p) => json!({
            "from": known.server_json(&p.from),
            "to": known.server_json(&p.to),
            "after_ms": u64::try_from(p.after.as_millis()).unwrap_or(u64::MAX),
            "window_ms": u64::try_from(p.window.as_millis()).unwrap_or(u64::MAX),
        })
        .into(),
    }
}

/// One warning line on stderr: `text` for people, or JSON with `kind` and `message`.
fn warn(json: bool, kind: &str, text: &str, message: &str) {
    if json {
        eprintln!("{}", json_text(&json!({"warning": kind, "message": message})));
    } else {
        tell!("scoutlb: warning: {text}");
    }
}

/// Warn on stderr, `-v` or not, that the state file could not be used and was moved aside.
pub fn warn_dropped(client: &Client, json: bool) {
    let Some(why) = client.state_dropped() else { return };
    warn(json, "state_file_dropped", why, why);
}

/// Warn on stderr about `event`, named by its kind.
pub fn warn_event(event: &Event, json: bool) {
    let text = event.to_string();
    warn(json, event.kind(), &text, &text);
}

/// Print one event on stderr (`--verbose`); in JSON with its time (RFC 3339, UTC, milliseconds).
pub fn print_event(event: &Event, json: bool) {
    if json {
        eprintln!(
            "{}",
            json_text(&json!({
                "time": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
                "event": event.kind(),
                "severity": format!("{:?}", event.severity()).to_lowercase(),
                "server": event.server().map(ToString::to_string),
                "message": event.to_string(),
            }))
        );
    } else {
        tell!("scoutlb: {event}");
    }
}
