//! The server list that servers hand out (behaviour.md, "Wire format"): parsing, limits and `self`.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::list_key::Proof;
use crate::server::{MAX_HOST_LEN, Server};

/// Largest accepted response body, in bytes.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Largest accepted number of entries.
pub const MAX_ENTRIES: usize = 4096;

/// Largest accepted `weight` hint of an entry (behaviour.md, "Wire format").
pub const MAX_WEIGHT: u64 = 1_000_000;

/// One entry of a server list: the endpoint, the server's optional id and its load hint.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerEntry {
    /// The endpoint.
    pub server: Server,
    /// The server's id in the cluster, if it gave one.
    pub id: Option<String>,
    /// The server's relative capacity (`weight`, 1 to [`MAX_WEIGHT`]), if it gave one; absent = 1.
    pub weight: Option<u32>,
    /// How many devices the server serves now (`load`), if it said; a snapshot, never cached.
    pub load: Option<u64>,
    /// Whether the server marks itself draining while it keeps its devices (`"draining": true`);
    /// a snapshot, never cached.
    pub draining: bool,
}

impl ServerEntry {
    /// An entry for `server` with `id` and no load hint.
    pub fn new(server: Server, id: Option<String>) -> Self {
        ServerEntry {
            server,
            id,
            weight: None,
            load: None,
            draining: false,
        }
    }

    /// The weight the rebalance reckons with: the hint, or 1 without one.
    pub fn weight_or_default(&self) -> u32 {
        self.weight.unwrap_or(1)
    }
}

/// Why a server list was refused (behaviour.md, "Wire format"); the cached list is kept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("server list refused: {}", crate::printable(.0))]
pub struct ListError(pub String);

/// A validated, de-duplicated server list as received from a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerList {
    entries: Vec<ServerEntry>,
    self_id: Option<String>,
    generation: Option<u64>,
    /// The answer's `signed` field as received, not yet checked (behaviour.md, "Signed lists").
    signed: Option<Box<Value>>,
    /// Set by [`crate::signed_list::Trust::check`] only: what the verified payload said.
    proof: Option<Box<Proof>>,
    /// The answer's `relocate` field as received (behaviour.md, "Servers that steer devices");
    /// never cached.
    relocate: Option<Box<Value>>,
}

impl ServerList {
    /// Build a list from entries; duplicates keep the first; an empty list is refused.
    pub fn new(entries: Vec<ServerEntry>, self_id: Option<String>, generation: Option<u64>) -> Result<Self, ListError> {
        if entries.is_empty() {
            return Err(ListError("the list is empty".into()));
        }
        if entries.len() > MAX_ENTRIES {
            return Err(ListError(format!(
                "{} entries, more than the limit of {MAX_ENTRIES}",
                entries.len()
            )));
        }
        // A set, not a scan of the kept entries: at the 4,096-entry limit a scan costs milliseconds
        // on every load of the state file.
        let first: Vec<bool> = {
            let mut seen = HashSet::with_capacity(entries.len());
            entries.iter().map(|e| seen.insert(&e.server)).collect()
        };
        let kept = entries
            .into_iter()
            .zip(first)
            .filter_map(|(e, first)| first.then_some(e))
            .collect();
        Ok(ServerList {
            entries: kept,
            self_id,
            generation,
            signed: None,
            proof: None,
            relocate: None,
        })
    }

    /// Build a list of plain servers, without ids.
    pub fn from_servers(servers: impl IntoIterator<Item = Server>) -> Result<Self, ListError> {
        Self::new(
            servers
                .into_iter()
                .map(|server| ServerEntry::new(server, None))
                .collect(),
            None,
            None,
        )
    }

    /// Parse the JSON body of `GET /scout/v1/servers`, applying every rejection rule of the wire format (behaviour.md).
    pub fn from_json(body: &[u8]) -> Result<Self, ListError> {
        let bad = ListError;
        if body.len() > MAX_BODY_BYTES {
            return Err(bad(format!(
                "body of {} bytes exceeds the limit of {MAX_BODY_BYTES}",
                body.len()
            )));
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let Value::Object(mut obj) = value else {
            return Err(bad("not a JSON object".into()));
        };
        let mut list = parse_list_object(&obj)?;
        list.signed = obj.remove("signed").filter(|v| !v.is_null()).map(Box::new);
        list.relocate = obj.remove("relocate").filter(|v| !v.is_null()).map(Box::new);
        Ok(list)
    }

    /// The answer's `relocate` field, when it had one (unchecked).
    pub fn relocate(&self) -> Option<&Value> {
        self.relocate.as_deref()
    }

    /// This list with the `relocate` field of `answer` (a checked list keeps its answer's).
    pub(crate) fn with_relocate_of(mut self, answer: &ServerList) -> Self {
        self.relocate = answer.relocate.clone();
        self
    }

    /// The answer's `signed` field, when it had one (unchecked).
    pub fn signed(&self) -> Option<&Value> {
        self.signed.as_deref()
    }

    /// What the verified payload said, when this list passed [`crate::signed_list::Trust::check`].
    pub fn proof(&self) -> Option<&Proof> {
        self.proof.as_deref()
    }

    pub(crate) fn set_proof(&mut self, proof: Proof) {
        self.generation = Some(proof.version);
        self.proof = Some(Box::new(proof));
    }

    /// The entries, in list order.
    pub fn entries(&self) -> &[ServerEntry] {
        &self.entries
    }

    /// The servers, in list order.
    pub fn servers(&self) -> Vec<Server> {
        self.entries.iter().map(|e| e.server.clone()).collect()
    }

    /// The id of the server that sent this list, as it said.
    pub fn self_id(&self) -> Option<&str> {
        self.self_id.as_deref()
    }

    /// The list's generation number, if the server gave one.
    pub fn generation(&self) -> Option<u64> {
        self.generation
    }

    /// The entry that the sending server named as itself, if it is in the list.
    pub fn self_server(&self) -> Option<&Server> {
        let id = self.self_id.as_deref()?;
        self.entries
            .iter()
            .find(|e| e.id.as_deref() == Some(id))
            .map(|e| &e.server)
    }

    /// This list without the entries' `load` hints and draining marks: what is cached (they are
    /// snapshots of the moment they were sent; behaviour.md, "Wire format").
    pub fn without_snapshots(mut self) -> Self {
        for e in &mut self.entries {
            e.load = None;
            e.draining = false;
        }
        self
    }

    /// Whether every entry carries a `load` hint (the rebalance then reckons by load).
    pub fn has_loads(&self) -> bool {
        self.entries.iter().all(|e| e.load.is_some())
    }

    /// The list as the JSON value of behaviour.md, "Wire format" (also used by the state file).
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert(
            "servers".into(),
            Value::Array(self.entries.iter().map(entry_to_json).collect()),
        );
        if let Some(s) = &self.self_id {
            obj.insert("self".into(), Value::String(s.clone()));
        }
        if let Some(g) = self.generation {
            obj.insert("generation".into(), g.into());
        }
        if let Some(signed) = &self.signed {
            obj.insert("signed".into(), (**signed).clone());
        }
        Value::Object(obj)
    }
}

/// The list of a JSON object with `servers`, `self` and `generation` (the wire format's rules).
pub(crate) fn parse_list_object(obj: &Map<String, Value>) -> Result<ServerList, ListError> {
    let bad = ListError;
    let servers = obj
        .get("servers")
        .ok_or_else(|| bad("no `servers` field".into()))?
        .as_array()
        .ok_or_else(|| bad("`servers` is not an array".into()))?;
    if servers.len() > MAX_ENTRIES {
        return Err(bad(format!(
            "{} entries, more than the limit of {MAX_ENTRIES}",
            servers.len()
        )));
    }
    let entries = servers
        .iter()
        .enumerate()
        .map(|(i, v)| parse_entry(v).map_err(|m| bad(format!("entry {i}: {m}"))))
        .collect::<Result<Vec<_>, ListError>>()?;
    let self_id = optional_string(obj, "self").map_err(bad)?;
    let generation = match obj.get("generation") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| bad("`generation` is not a non-negative integer".into()))?,
        ),
    };
    ServerList::new(entries, self_id, generation)
}

/// One entry as a JSON object `{"host","port","id"?,"weight"?,"load"?,"draining"?}`.
pub(crate) fn entry_to_json(e: &ServerEntry) -> Value {
    let mut obj = server_to_json(&e.server);
    if let Value::Object(o) = &mut obj {
        if let Some(id) = &e.id {
            o.insert("id".into(), Value::String(id.clone()));
        }
        if let Some(weight) = e.weight {
            o.insert("weight".into(), weight.into());
        }
        if let Some(load) = e.load {
            o.insert("load".into(), load.into());
        }
        if e.draining {
            o.insert("draining".into(), true.into());
        }
    }
    obj
}

/// A server as a JSON object `{"host","port"}`.
pub(crate) fn server_to_json(s: &Server) -> Value {
    serde_json::json!({"host": s.host(), "port": s.port()})
}

/// Parse one `{"host","port","id"?,"weight"?,"load"?,"draining"?}` object; unknown fields are ignored, a
/// malformed hint refuses the entry (behaviour.md, "Wire format").
pub(crate) fn parse_entry(v: &Value) -> std::result::Result<ServerEntry, String> {
    let obj = v.as_object().ok_or("not an object")?;
    let host = obj
        .get("host")
        .and_then(Value::as_str)
        .ok_or("`host` is missing or not a string")?;
    if host.len() > MAX_HOST_LEN {
        return Err(format!("host of {} bytes is longer than {MAX_HOST_LEN}", host.len()));
    }
    let port = obj
        .get("port")
        .and_then(Value::as_u64)
        .ok_or("`port` is missing or not a number")?;
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or(format!("port {port} is outside 1-65535"))?;
    let server = Server::new(host, port).map_err(|e| e.to_string())?;
    let id = optional_string(obj, "id")?;
    let weight = match obj.get("weight") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|w| (1..=MAX_WEIGHT).contains(w))
                .and_then(|w| u32::try_from(w).ok())
                .ok_or(format!("`weight` is not a whole number from 1 to {MAX_WEIGHT}"))?,
        ),
    };
    let load = match obj.get("load") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or("`load` is not a non-negative integer")?),
    };
    let draining = match obj.get("draining") {
        None | Some(Value::Null) => false,
        Some(v) => v.as_bool().ok_or("`draining` is not true or false")?,
    };
    Ok(ServerEntry {
        server,
        id,
        weight,
        load,
        draining,
    })
}

fn optional_string(obj: &Map<String, Value>, key: &str) -> std::result::Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{key}` is not a string")),
    }
}
