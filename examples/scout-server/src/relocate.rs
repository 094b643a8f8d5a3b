//! Relocating given devices (behaviour.md, "Reference cluster"): the admin endpoint stores "device
//! D belongs on server T" in the shared database (`scout_relocations`), every server of the
//! cluster reads the table and answers D's list with `"relocate": {"to": T, "mode": ...}`, and
//! the instruction is dropped once D asks T itself.
//!
//! Requests never wait for the database: a thread of each server reads the table every
//! [`POLL`] into memory, and deletes the rows of the devices that reached this server.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::db::{self, Database, Relocation};
use crate::http::{Cluster, Reply};
use crate::steer::Steering;

/// How often the relocation table is read (and arrivals deleted).
pub const POLL: Duration = Duration::from_millis(100);

/// How often, at most, a continuing database failure is logged again.
const REPEAT_LOG: Duration = Duration::from_secs(5);

/// The modes of the wire format's `relocate.mode`.
pub const MODES: [&str; 2] = ["online", "offline"];

/// Where one device belongs, as answered to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    /// The id of its target server.
    pub to: String,
    /// `online` or `offline`.
    pub mode: String,
}

impl Move {
    /// The wire format's `relocate` value.
    pub fn to_json(&self) -> Value {
        json!({"to": self.to, "mode": self.mode})
    }
}

/// The relocations this server knows of, shared by every connection.
#[derive(Debug)]
pub struct Relocations {
    self_id: String,
    moves: RwLock<Arc<HashMap<String, Move>>>,
    /// Devices that asked this server since the table was last read and were not sent on: those
    /// whose row names this server reached their target (also the ones that came before this
    /// server read their row), and their rows are deleted.
    seen: Mutex<HashSet<String>>,
}

/// What this server answers a device about relocation.
#[derive(Debug, PartialEq, Eq)]
pub enum Relocating {
    /// Nothing: no instruction names it, or it reached its target.
    No,
    /// With its list and this `relocate`.
    To(Move),
}

impl Relocations {
    /// No relocations yet, for server `self_id`.
    pub fn new(self_id: &str) -> Self {
        Relocations {
            self_id: self_id.to_owned(),
            moves: RwLock::new(Arc::new(HashMap::new())),
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// What to tell `device`; a device served here is noted, so that its instruction is dropped
    /// when this server is its target.
    pub fn check(&self, device: &str) -> Relocating {
        let moves = Arc::clone(&self.moves.read().unwrap_or_else(|e| e.into_inner()));
        match moves.get(device) {
            Some(m) if m.to != self.self_id => Relocating::To(m.clone()),
            _ => {
                self.seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(device.to_owned());
                Relocating::No
            }
        }
    }

    /// How many devices are still to move.
    pub fn pending(&self) -> usize {
        self.moves.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Stores in `db` that `devices` belong on `to`, moving `mode`, and serves it at once.
    pub fn ask(&self, db: &mut Database, devices: &[String], to: &str, mode: &str) -> Result<(), String> {
        let rows: Vec<Relocation> = devices
            .iter()
            .map(|d| Relocation {
                device: d.clone(),
                target: to.to_owned(),
                mode: mode.to_owned(),
            })
            .collect();
        db.relocate(&rows)
            .map_err(|e| format!("cannot store the relocation: {}", db::describe(&e)))?;
        let mut moves = (**self.moves.read().unwrap_or_else(|e| e.into_inner())).clone();
        moves.extend(rows.into_iter().map(|r| {
            (
                r.device,
                Move {
                    to: r.target,
                    mode: r.mode,
                },
            )
        }));
        *self.moves.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(moves);
        Ok(())
    }

    /// Reads the table again, and deletes the rows of the devices that reached this server.
    fn sync(&self, db: &mut Database) -> db::DbResult<()> {
        let seen = std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()));
        let result = self.sync_seen(db, &seen);
        if result.is_err() {
            // Tried again at the next poll, with the devices seen meanwhile.
            self.seen.lock().unwrap_or_else(|e| e.into_inner()).extend(seen);
        }
        result
    }

    /// [`Relocations::sync`] with the devices `seen` since the last one.
    fn sync_seen(&self, db: &mut Database, seen: &HashSet<String>) -> db::DbResult<()> {
        let mut rows = db.relocations()?;
        let arrived: Vec<String> = rows
            .iter()
            .filter(|r| r.target == self.self_id && seen.contains(&r.device))
            .map(|r| r.device.clone())
            .collect();
        if !arrived.is_empty() {
            let n = db.arrived(&arrived, &self.self_id)?;
            note!("relocation: {n} devices reached this server");
            rows.retain(|r| !(r.target == self.self_id && seen.contains(&r.device)));
        }
        let moves = rows
            .into_iter()
            .map(|r| {
                (
                    r.device,
                    Move {
                        to: r.target,
                        mode: r.mode,
                    },
                )
            })
            .collect();
        *self.moves.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(moves);
        Ok(())
    }

    /// Keeps the relocations in step with `db` from a thread of its own, for the life of the process.
    pub fn start(self: &Arc<Self>, mut db: Database) -> Result<(), String> {
        let me = Arc::clone(self);
        thread::Builder::new()
            .name("relocations".into())
            .spawn(move || {
                let mut last_log: Option<Instant> = None;
                loop {
                    if let Err(e) = me.sync(&mut db)
                        && last_log.is_none_or(|t| t.elapsed() >= REPEAT_LOG)
                    {
                        note!("reading the relocations failed: {}", db::describe(&e));
                        last_log = Some(Instant::now());
                    }
                    thread::sleep(POLL);
                }
            })
            .map(|_| ())
            .map_err(|e| format!("cannot start the thread that reads the relocations: {e}"))
    }
}

/// `reply` (the list, `200`) with `"relocate": to` beside the list; any other reply as it is.
pub fn with_relocate(reply: &Reply, to: &Move) -> Reply {
    if reply.status != 200 {
        return reply.clone();
    }
    match serde_json::from_slice::<serde_json::Map<String, Value>>(&reply.body) {
        Ok(mut answer) => {
            answer.insert("relocate".into(), to.to_json());
            Reply::json(Value::Object(answer).to_string().into_bytes())
        }
        Err(_) => reply.clone(),
    }
}

/// Answers `POST /scout/v1/admin/relocate` with `body`: stores the instruction for the cluster,
/// or says why not (`400` a bad body, `409` a target that is not a live server of the list,
/// `503` the database failed).
pub fn admin(steering: &Steering, cluster: &Cluster, body: &[u8]) -> Result<Reply, Reply> {
    let ask = Ask::parse(body).map_err(|why| Reply::error(400, &why))?;
    let published = cluster.listing.current();
    let ids: Vec<&str> = published
        .snapshot
        .as_ref()
        .map(|s| s.servers.iter().map(|m| m.id.as_str()).collect())
        .unwrap_or_default();
    if !ids.contains(&ask.to.as_str()) {
        let why = format!(
            "no live server of the list has the id {:?} (the list names {})",
            ask.to,
            if ids.is_empty() {
                "none yet".to_owned()
            } else {
                ids.join(", ")
            }
        );
        return Err(Reply::error(409, &why));
    }
    let relocations = steering.relocations();
    relocations
        .ask(&mut Database::new(&cluster.db), &ask.devices, &ask.to, &ask.mode)
        .map_err(|why| Reply::error(503, &why))?;
    note!(
        "admin: {} devices relocated to {} ({})",
        ask.devices.len(),
        ask.to,
        ask.mode
    );
    let answer = json!({
        "relocating": ask.devices.len(),
        "to": ask.to,
        "mode": ask.mode,
        "relocations_pending": relocations.pending(),
    });
    Ok(Reply::json(answer.to_string().into_bytes()))
}

/// The admin request body of a relocation: `{"to": ID, "mode": "online"|"offline", "devices": [...]}`.
#[derive(Debug, PartialEq, Eq)]
pub struct Ask {
    /// The target server's id.
    pub to: String,
    /// `online` (the default) or `offline`.
    pub mode: String,
    /// The device ids.
    pub devices: Vec<String>,
}

impl Ask {
    /// Parses the body; the error says what is wrong with it.
    pub fn parse(body: &[u8]) -> Result<Ask, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
        let to = value
            .get("to")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or("the body has no \"to\" (the id of the target server)")?;
        let mode = match value.get("mode") {
            None => "online",
            Some(m) => m
                .as_str()
                .filter(|m| MODES.contains(m))
                .ok_or("\"mode\" is neither \"online\" nor \"offline\"")?,
        };
        let devices: Vec<String> = value
            .get("devices")
            .and_then(Value::as_array)
            .ok_or("the body has no \"devices\" (a list of device ids)")?
            .iter()
            .map(|d| d.as_str().map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or("\"devices\" holds something other than non-empty strings")?;
        if devices.is_empty() {
            return Err("\"devices\" is empty".into());
        }
        Ok(Ask {
            to: to.to_owned(),
            mode: mode.to_owned(),
            devices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ask_names_a_target_a_mode_and_devices() {
        assert_eq!(
            Ask::parse(br#"{"to": "b", "devices": ["d1", " d2 "]}"#),
            Ok(Ask {
                to: "b".into(),
                mode: "online".into(),
                devices: vec!["d1".into(), "d2".into()]
            })
        );
        assert_eq!(
            Ask::parse(br#"{"to": "b", "mode": "offline", "devices": ["d"]}"#)
                .unwrap()
                .mode,
            "offline"
        );
        for bad in [
            &b"nope"[..],
            br#"{"devices": ["d"]}"#,
            br#"{"to": "b", "mode": "later", "devices": ["d"]}"#,
            br#"{"to": "b", "devices": []}"#,
            br#"{"to": "b", "devices": [1]}"#,
            br#"{"to": "b", "devices": [""]}"#,
        ] {
            assert!(Ask::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_device_is_relocated_until_it_reaches_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let path = path.to_str().unwrap();
        let (a, b) = (Relocations::new("a"), Relocations::new("b"));
        let mut db_b = Database::new(path);
        // d2 reaches b before b read its instruction.
        assert_eq!(b.check("d2"), Relocating::No);
        let devices = ["d1".to_owned(), "d2".to_owned()];
        a.ask(&mut Database::new(path), &devices, "b", "offline").unwrap();
        let want = Relocating::To(Move {
            to: "b".into(),
            mode: "offline".into(),
        });
        assert_eq!(a.check("d1"), want);
        assert_eq!(a.check("d3"), Relocating::No);
        // Another server of the cluster learns it from the database; d2 is there already.
        b.sync(&mut db_b).unwrap();
        assert_eq!(b.pending(), 1);
        // At its target, the device is served, and the instruction goes.
        assert_eq!(b.check("d1"), Relocating::No);
        b.sync(&mut db_b).unwrap();
        assert_eq!(b.pending(), 0);
        a.sync(&mut Database::new(path)).unwrap();
        assert_eq!(a.check("d1"), Relocating::No);
        assert_eq!(a.pending(), 0);
    }
}
