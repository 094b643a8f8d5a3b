//! What the commands print: readable text, or one JSON document per run with `--json`.
//!
//! Every command looks servers up in the cached list (up to 4,096 entries) once per printed
//! server, so the list is indexed once per run ([`Known`]) and stdout is written through one buffer.

use std::collections::HashMap;
use std::io::{self, BufWriter, StdoutLock, Write};

use serde_json::{Value, json};

use scoutlb::{Client, Connected, Error, Event, OrderMode, Server, State};

use crate::Failure;

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

    /// `{"host": ..., "port": ..., "address": "host:port", "id": ...}`.
    fn server_json(&self, server: &Server) -> Value {
        object([
            ("host", server.host().into()),
            ("port", server.port().into()),
            ("address", server.to_string().into()),
            ("id", self.id(server).into()),
        ])
    }

    fn opt_server_json(&self, server: Option<&Server>) -> Value {
        server.map_or(Value::Null, |s| self.server_json(s))
    }

    /// The cached list in list order, as JSON.
    fn list_json(&self, state: &State) -> Value {
        let entries = state.list.as_ref().map(|l| l.entries()).unwrap_or_default();
        Value::Array(entries.iter().map(|e| self.server_json(&e.server)).collect())
    }
}

/// A JSON object of these fields; unlike `json!`, the values are moved in, not copied.
fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn state_file(client: &Client) -> Value {
    client
        .config()
        .state_file
        .as_ref()
        .map_or(Value::Null, |p| Value::String(p.display().to_string()))
}

/// Where a candidate comes from, for the reader of `candidates` and `lost`.
fn source(client: &Client, state: &State, known: &Known, balancer: &[Server], server: &Server) -> &'static str {
    if balancer.contains(server) {
        "balancer"
    } else if state.default_server.as_ref() == Some(server) {
        "default"
    } else if known.listed(server) {
        "list"
    } else if client.seeds().contains(server) {
        "seed"
    } else {
        "other"
    }
}

impl Printer {
    /// Print a JSON document on stdout.
    pub fn emit(&self, doc: &Value) -> io::Result<()> {
        let mut out = stdout();
        writeln!(out, "{doc}")?;
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
            return self.emit(&object([
                ("command", command.into()),
                ("server", known.server_json(&c.server)),
                ("reached", known.server_json(&c.reached)),
                ("via_balancer", c.via_balancer.into()),
                ("failed", Value::Array(failed)),
                ("default_server", known.opt_server_json(state.default_server.as_ref())),
                ("servers", known.list_json(&state)),
                ("state_file", state_file(client)),
            ]));
        }
        let mut out = stdout();
        writeln!(out, "connected to {}", known.named(&c.server))?;
        if c.via_balancer {
            writeln!(out, "  through the ManagerLoadBalancer entry ({})", c.reached)?;
        } else if c.reached != c.server {
            writeln!(out, "  reached at {}", c.reached)?;
        }
        for a in &c.failed {
            writeln!(out, "  not reachable first: {}: {}", known.named(&a.server), a.reason)?;
        }
        if let Some(d) = &state.default_server {
            writeln!(out, "default server: {}", known.named(d))?;
        }
        list_text(&mut out, &state, &known)?;
        out.flush()
    }

    /// The ordered candidates of `candidates`, or of `lost` without a probe.
    pub fn order(&self, command: &str, client: &Client, order: &[Server], balancer: &[Server]) -> io::Result<()> {
        let state = client.state();
        let known = Known::new(&state);
        if self.json {
            let items: Vec<Value> = order
                .iter()
                .map(|s| {
                    let mut v = known.server_json(s);
                    v["source"] = source(client, &state, &known, balancer, s).into();
                    v
                })
                .collect();
            return self.emit(&object([
                ("command", command.into()),
                ("candidates", Value::Array(items)),
                ("default_server", known.opt_server_json(state.default_server.as_ref())),
            ]));
        }
        let mut out = stdout();
        if command == "lost" {
            writeln!(out, "connection lost; try these servers in this order:")?;
        } else {
            writeln!(out, "start-up order:")?;
        }
        for (i, s) in order.iter().enumerate() {
            let why = match source(client, &state, &known, balancer, s) {
                "balancer" => "  (ManagerLoadBalancer)",
                "default" => "  (default server)",
                "seed" => "  (seed server)",
                _ => "",
            };
            writeln!(out, "  {}. {}{why}", i + 1, known.named(s))?;
        }
        out.flush()
    }

    /// The cached list, `*` marking the default server.
    pub fn servers(&self, client: &Client) -> io::Result<()> {
        let state = client.state();
        let known = Known::new(&state);
        if self.json {
            return self.emit(&object([
                ("command", "servers".into()),
                ("servers", known.list_json(&state)),
                ("servers_from", known.opt_server_json(state.servers_from.as_ref())),
                ("default_server", known.opt_server_json(state.default_server.as_ref())),
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
            return self.emit(&object([
                ("command", "status".into()),
                ("default_server", known.opt_server_json(state.default_server.as_ref())),
                ("servers", known.list_json(&state)),
                ("servers_from", known.opt_server_json(state.servers_from.as_ref())),
                ("state_file", state_file(client)),
                ("seed_servers", client.seeds().iter().map(ToString::to_string).collect()),
                ("manager_load_balancer", balancer.clone().into()),
                ("failover_order", order.into()),
                ("device_id", config.device_id.clone().into()),
            ]));
        }
        let mut out = stdout();
        match &state.default_server {
            Some(d) => writeln!(out, "default server:      {}", known.named(d))?,
            None => writeln!(out, "default server:      none yet (never connected)")?,
        }
        match &config.state_file {
            Some(p) => writeln!(out, "state file:          {}", p.display())?,
            None => writeln!(out, "state file:          none (kept in memory only)")?,
        }
        let seeds: Vec<String> = client.seeds().iter().map(ToString::to_string).collect();
        writeln!(out, "seed servers:        {}", seeds.join(", "))?;
        writeln!(out, "ManagerLoadBalancer: {}", balancer.as_deref().unwrap_or("not set"))?;
        match &config.device_id {
            Some(id) => writeln!(out, "failover order:      {order} (device id {id})")?,
            None => writeln!(out, "failover order:      {order}")?,
        }
        list_text(&mut out, &state, &known)?;
        out.flush()
    }

    /// Report a failure on stderr.
    pub fn error(&self, failure: &Failure, code: u8) {
        let (kind, message, attempts) = match failure {
            Failure::Usage(m) => ("usage", m.clone(), Vec::new()),
            Failure::Output(e) => ("output", format!("cannot write the output: {e}"), Vec::new()),
            Failure::Library(e) => (error_kind(e), e.to_string(), e.attempts().to_vec()),
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
            eprintln!(
                "{}",
                json!({"error": kind, "message": message, "exit_code": code, "attempts": attempts})
            );
        } else if attempts.is_empty() {
            eprintln!("scoutlb: error: {message}");
            if matches!(failure, Failure::Usage(_)) {
                eprintln!("Run `scoutlb --help` for the usage.");
            }
        } else {
            eprintln!("scoutlb: error: no server could be reached ({} tried):", attempts.len());
            for a in &attempts {
                eprintln!("  {}: {}", a.server, a.reason);
            }
        }
    }
}

/// The cached list as text, `*` marking the default server.
fn list_text(out: &mut Out, state: &State, known: &Known) -> io::Result<()> {
    let Some(list) = &state.list else {
        return writeln!(out, "no server list cached yet");
    };
    let from = state
        .servers_from
        .as_ref()
        .map(|s| format!(" from {}", known.named(s)))
        .unwrap_or_default();
    let n = list.entries().len();
    writeln!(out, "server list{from}, {n} server{}:", if n == 1 { "" } else { "s" })?;
    for e in list.entries() {
        let mark = if state.default_server.as_ref() == Some(&e.server) {
            "*"
        } else {
            " "
        };
        match &e.id {
            Some(id) => writeln!(out, "  {mark} {}  {id}", e.server)?,
            None => writeln!(out, "  {mark} {}", e.server)?,
        }
    }
    Ok(())
}

/// A short stable name of an error, for `--json`.
fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::AllFailed(_) => "all_failed",
        Error::Config { .. } | Error::ConfigJson(_) | Error::InvalidServer { .. } => "config",
        Error::Unsupported(_) => "unsupported",
        Error::StateFile { .. } | Error::StateFormat { .. } => "state_file",
        Error::Dns { .. } => "dns",
        _ => "other",
    }
}

/// Print one event on stderr (`--verbose`).
pub fn print_event(event: &Event, json: bool) {
    if json {
        eprintln!(
            "{}",
            json!({
                "event": event.kind(),
                "severity": format!("{:?}", event.severity()).to_lowercase(),
                "server": event.server().map(ToString::to_string),
                "message": event.to_string(),
            })
        );
    } else {
        eprintln!("scoutlb: {event}");
    }
}
