//! What a device remembers (behaviour.md, "State file"): the default server and the cached list, as a JSON document.
//!
//! Layout: `{"format": 1, "default_server": {...}, "servers": [...], "servers_from": {...},
//! "updated_at": "RFC 3339"}`, with `list_version`, `adopted_keys` and `failing_since` when set. Reading and writing the file is the driver's (`scoutlb::StateFile`).

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::list_key::PublicKey;
use crate::server::Server;
use crate::server_list::{ServerList, entry_to_json, parse_entry, server_to_json};

/// The newest state-file format this version reads and the one it writes.
pub const FORMAT: u64 = 1;

/// What a device remembers between restarts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    /// The server last connected to successfully.
    pub default_server: Option<Server>,
    /// The cached server list.
    pub list: Option<ServerList>,
    /// The server that handed out the cached list.
    pub servers_from: Option<Server>,
    /// The version of the last verified signed list (behaviour.md, "Signed lists").
    pub list_version: Option<u64>,
    /// Keys adopted from signed lists for a key rotation.
    pub adopted_keys: Vec<PublicKey>,
    /// An online relocation waiting for the next start-up (behaviour.md, "Servers that steer devices").
    pub relocation: Option<Server>,
    /// When the retrying calls' first try failed with no success since, under the handshake
    /// profile with permanent retries (behaviour.md, "All fail").
    pub failing_since: Option<SystemTime>,
}

impl State {
    /// The state as the JSON document of the state file, stamped `updated_at`.
    pub fn to_json(&self, updated_at: SystemTime) -> Value {
        let mut doc = json!({
            "format": FORMAT,
            "default_server": self.default_server.as_ref().map(server_to_json),
            "servers": self.list.as_ref().map(|l| l.entries().iter().map(entry_to_json).collect::<Vec<_>>()),
            "servers_from": self.servers_from.as_ref().map(server_to_json),
            "updated_at": humantime::format_rfc3339_millis(updated_at).to_string(),
        });
        // Only when signing is in use, so the files of unsigned fleets stay as they were.
        if let Some(version) = self.list_version {
            doc["list_version"] = version.into();
        }
        if let Some(to) = &self.relocation {
            doc["relocation"] = server_to_json(to);
        }
        if let Some(since) = self.failing_since {
            doc["failing_since"] = humantime::format_rfc3339_millis(since).to_string().into();
        }
        if !self.adopted_keys.is_empty() {
            doc["adopted_keys"] = self
                .adopted_keys
                .iter()
                .map(PublicKey::to_base64)
                .collect::<Vec<_>>()
                .into();
        }
        doc
    }

    /// Parse a state document, telling a corrupt one from a newer format.
    pub fn from_json(text: &[u8]) -> std::result::Result<Self, Parsed> {
        let v: Value = serde_json::from_slice(text).map_err(|e| Parsed::Corrupt(format!("not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| Parsed::Corrupt("not a JSON object".into()))?;
        match obj.get("format") {
            None | Some(Value::Null) => return Err(Parsed::Corrupt("no `format` field".into())),
            // Only the integers this version wrote are known; anything else (2, 2.0, 1e400, "2")
            // may be a newer scoutlb's and is left alone.
            Some(v) if v.as_u64().is_none_or(|f| !(1..=FORMAT).contains(&f)) => {
                return Err(Parsed::Newer(format_text(v)));
            }
            Some(_) => {}
        }
        let server = |key: &str| -> std::result::Result<Option<Server>, Parsed> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => parse_entry(v)
                    .map(|e| Some(e.server))
                    .map_err(|m| Parsed::Corrupt(format!("`{key}`: {m}"))),
            }
        };
        let list = match obj.get("servers") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let arr = v
                    .as_array()
                    .ok_or_else(|| Parsed::Corrupt("`servers` is not an array".into()))?;
                let entries = arr
                    .iter()
                    .map(|e| parse_entry(e).map_err(|m| Parsed::Corrupt(format!("`servers`: {m}"))))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Some(ServerList::new(entries, None, None).map_err(|e| Parsed::Corrupt(e.to_string()))?)
            }
        };
        let list_version = match obj.get("list_version") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| Parsed::Corrupt("`list_version` is not a non-negative integer".into()))?,
            ),
        };
        let adopted_keys = match obj.get("adopted_keys") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => v
                .as_array()
                .ok_or_else(|| Parsed::Corrupt("`adopted_keys` is not an array".into()))?
                .iter()
                .map(|k| {
                    k.as_str()
                        .ok_or_else(|| "not a string".to_string())
                        .and_then(PublicKey::from_base64)
                        .map_err(|m| Parsed::Corrupt(format!("`adopted_keys`: {m}")))
                })
                .collect::<std::result::Result<_, _>>()?,
        };
        let failing_since = match obj.get("failing_since") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_str()
                    .and_then(|t| humantime::parse_rfc3339(t).ok())
                    // To the millisecond, as it is written: what is saved reads back the same.
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .map(|d| SystemTime::UNIX_EPOCH + Duration::from_millis(d.as_millis() as u64))
                    .ok_or_else(|| {
                        Parsed::Corrupt(
                            "`failing_since` is not an RFC 3339 time in UTC (such as 2026-01-01T00:00:00.000Z)".into(),
                        )
                    })?,
            ),
        };
        Ok(State {
            default_server: server("default_server")?,
            list,
            servers_from: server("servers_from")?,
            list_version,
            adopted_keys,
            relocation: server("relocation")?,
            failing_since,
        })
    }
}

/// Why a state document was not taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// It cannot be parsed: move it aside and start from the seeds.
    Corrupt(String),
    /// Its `format` is not a known integer (a newer scoutlb's, as JSON text): refuse it and leave
    /// it untouched.
    Newer(String),
}

/// A `format` value as short printable JSON text, for the error message.
fn format_text(v: &Value) -> String {
    let text = v.to_string();
    let short: String = text.chars().take(40).collect();
    let short = if short.len() < text.len() { short + "..." } else { short };
    crate::printable::printable(&short).into_owned()
}
