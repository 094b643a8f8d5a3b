//! What the commands print: readable text, or one JSON document per run with `--json`.

use serde_json::{Value, json};

use scoutlb::{Client, Connected, Error, Event, OrderMode, Server, State};

use crate::Failure;

/// Prints results on stdout and errors on stderr, as text or JSON.
pub struct Printer {
    /// One JSON document instead of text.
    pub json: bool,
}

/// The id the cached list gives `server`, if any.
fn id_of<'a>(state: &'a State, server: &Server) -> Option<&'a str> {
    state
        .list
        .as_ref()?
        .entries()
        .iter()
        .find(|e| &e.server == server)
        .and_then(|e| e.id.as_deref())
}

/// `127.0.0.1:22123 (srv-a)`, or the bare address when no id is known.
fn named(state: &State, server: &Server) -> String {
    match id_of(state, server) {
        Some(id) => format!("{server} ({id})"),
        None => server.to_string(),
    }
}

/// `{"host": ..., "port": ..., "address": "host:port", "id": ...}`.
fn server_json(state: &State, server: &Server) -> Value {
    json!({
        "host": server.host(),
        "port": server.port(),
        "address": server.to_string(),
        "id": id_of(state, server),
    })
}

fn opt_server_json(state: &State, server: Option<&Server>) -> Value {
    server.map_or(Value::Null, |s| server_json(state, s))
}

fn list_json(state: &State) -> Value {
    Value::Array(
        state
            .list
            .as_ref()
            .map(|l| l.servers())
            .unwrap_or_default()
            .iter()
            .map(|s| server_json(state, s))
            .collect(),
    )
}

fn state_file(client: &Client) -> Value {
    client
        .config()
        .state_file
        .as_ref()
        .map_or(Value::Null, |p| Value::String(p.display().to_string()))
}

/// Where a candidate comes from, for the reader of `candidates` and `lost`.
fn source(client: &Client, state: &State, balancer: &[Server], server: &Server) -> &'static str {
    if balancer.contains(server) {
        "balancer"
    } else if state.default_server.as_ref() == Some(server) {
        "default"
    } else if state.list.as_ref().is_some_and(|l| l.servers().contains(server)) {
        "list"
    } else if client.seeds().contains(server) {
        "seed"
    } else {
        "other"
    }
}

impl Printer {
    /// Print a JSON document on stdout.
    pub fn emit(&self, doc: &Value) {
        println!("{doc}");
    }

    /// The outcome of `connect` or `lost`.
    pub fn connected(&self, command: &str, client: &Client, c: &Connected) {
        let state = client.state();
        if self.json {
            let failed: Vec<Value> = c
                .failed
                .iter()
                .map(|a| {
                    json!({
                        "server": server_json(&state, &a.server),
                        "reason": a.reason.kind(),
                        "message": a.reason.to_string(),
                    })
                })
                .collect();
            self.emit(&json!({
                "command": command,
                "server": server_json(&state, &c.server),
                "reached": server_json(&state, &c.reached),
                "via_balancer": c.via_balancer,
                "failed": failed,
                "default_server": opt_server_json(&state, state.default_server.as_ref()),
                "servers": list_json(&state),
                "state_file": state_file(client),
            }));
            return;
        }
        println!("connected to {}", named(&state, &c.server));
        if c.via_balancer {
            println!("  through the ManagerLoadBalancer entry ({})", c.reached);
        } else if c.reached != c.server {
            println!("  reached at {}", c.reached);
        }
        for a in &c.failed {
            println!("  not reachable first: {}: {}", named(&state, &a.server), a.reason);
        }
        if let Some(d) = &state.default_server {
            println!("default server: {}", named(&state, d));
        }
        self.list_text(&state);
    }

    /// The ordered candidates of `candidates`, or of `lost` without a probe.
    pub fn order(&self, command: &str, client: &Client, order: &[Server], balancer: &[Server]) {
        let state = client.state();
        if self.json {
            let items: Vec<Value> = order
                .iter()
                .map(|s| {
                    let mut v = server_json(&state, s);
                    v["source"] = source(client, &state, balancer, s).into();
                    v
                })
                .collect();
            self.emit(&json!({
                "command": command,
                "candidates": items,
                "default_server": opt_server_json(&state, state.default_server.as_ref()),
            }));
            return;
        }
        if command == "lost" {
            println!("connection lost; try these servers in this order:");
        } else {
            println!("start-up order:");
        }
        for (i, s) in order.iter().enumerate() {
            let why = match source(client, &state, balancer, s) {
                "balancer" => "  (ManagerLoadBalancer)",
                "default" => "  (default server)",
                "seed" => "  (seed server)",
                _ => "",
            };
            println!("  {}. {}{why}", i + 1, named(&state, s));
        }
    }

    /// The cached list, `*` marking the default server.
    pub fn servers(&self, client: &Client) {
        let state = client.state();
        if self.json {
            self.emit(&json!({
                "command": "servers",
                "servers": list_json(&state),
                "servers_from": opt_server_json(&state, state.servers_from.as_ref()),
                "default_server": opt_server_json(&state, state.default_server.as_ref()),
            }));
            return;
        }
        self.list_text(&state);
    }

    fn list_text(&self, state: &State) {
        let Some(list) = &state.list else {
            println!("no server list cached yet");
            return;
        };
        let from = state
            .servers_from
            .as_ref()
            .map(|s| format!(" from {}", named(state, s)))
            .unwrap_or_default();
        let n = list.entries().len();
        println!("server list{from}, {n} server{}:", if n == 1 { "" } else { "s" });
        for e in list.entries() {
            let mark = if state.default_server.as_ref() == Some(&e.server) {
                "*"
            } else {
                " "
            };
            let id = e.id.as_deref().map(|id| format!("  {id}")).unwrap_or_default();
            println!("  {mark} {}{id}", e.server);
        }
    }

    /// Default server, list, state file and the configuration that decides the order.
    pub fn status(&self, client: &Client) {
        let state = client.state();
        let config = client.config();
        let balancer = config.manager_load_balancer.as_ref().map(ToString::to_string);
        let order = match config.failover_order {
            OrderMode::Spread => "spread",
            _ => "list",
        };
        if self.json {
            self.emit(&json!({
                "command": "status",
                "default_server": opt_server_json(&state, state.default_server.as_ref()),
                "servers": list_json(&state),
                "servers_from": opt_server_json(&state, state.servers_from.as_ref()),
                "state_file": state_file(client),
                "seed_servers": client.seeds().iter().map(ToString::to_string).collect::<Vec<_>>(),
                "manager_load_balancer": balancer,
                "failover_order": order,
                "device_id": config.device_id,
            }));
            return;
        }
        match &state.default_server {
            Some(d) => println!("default server:      {}", named(&state, d)),
            None => println!("default server:      none yet (never connected)"),
        }
        match &config.state_file {
            Some(p) => println!("state file:          {}", p.display()),
            None => println!("state file:          none (kept in memory only)"),
        }
        let seeds: Vec<String> = client.seeds().iter().map(ToString::to_string).collect();
        println!("seed servers:        {}", seeds.join(", "));
        println!("ManagerLoadBalancer: {}", balancer.as_deref().unwrap_or("not set"));
        match &config.device_id {
            Some(id) => println!("failover order:      {order} (device id {id})"),
            None => println!("failover order:      {order}"),
        }
        self.list_text(&state);
    }

    /// Report a failure on stderr.
    pub fn error(&self, failure: &Failure, code: u8) {
        let (kind, message, attempts) = match failure {
            Failure::Usage(m) => ("usage", m.clone(), Vec::new()),
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
