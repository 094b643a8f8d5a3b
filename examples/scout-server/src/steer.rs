//! Steering devices (behaviour.md, "Servers that steer devices"): draining (`503` with
//! `Retry-After`, "use another server for now"), refusing the devices that `--known-devices` does
//! not name (`403 {"refused": ...}`), relocating the devices the admin endpoint named (the
//! `relocate` module), and the counters the admin endpoint reports.
//!
//! A draining server answers the drain even to a device it would refuse: it is on its way out,
//! and its file may be the old one in a rolling restart that brings a new one, so the device goes
//! on to a server whose word on refusal counts.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde_json::json;

use crate::http::Reply;
use crate::relocate::{Move, Relocating, Relocations};

pub use scoutlb::DEVICE_ID_HEADER;

/// `Retry-After` of a drain when none is given (`--retry-after`), in seconds: the drain a device
/// assumes when a `503` names no time.
pub const DEFAULT_RETRY_AFTER: u64 = scoutlb::steer::DRAIN_DEFAULT.as_secs();

/// Longest `Retry-After` taken, in seconds: devices take no longer one.
pub const MAX_RETRY_AFTER: u64 = scoutlb::steer::DRAIN_MAX.as_secs();

/// How a request for the list is answered.
pub enum Verdict {
    /// With the list.
    Serve,
    /// With this reply: the drain's `503` or a refusal's `403`.
    Steer(Arc<Reply>),
    /// With the list and this `relocate` (the admin endpoint relocated the device).
    Relocate(Move),
}

/// A drain under way, with its replies made once.
#[derive(Debug)]
struct Drain {
    /// Seconds sent in `Retry-After`.
    retry_after: u64,
    /// The answer to `GET /scout/v1/servers`.
    servers: Arc<Reply>,
    /// The answer to `GET /scout/v1/health`.
    health: Arc<Reply>,
}

/// Whether this server drains and whom it refuses; shared by every connection.
#[derive(Debug)]
pub struct Steering {
    self_id: String,
    default_retry_after: u64,
    drain: RwLock<Option<Arc<Drain>>>,
    /// A drain that keeps the devices: served as usual, the entry marked draining.
    keep: AtomicBool,
    /// Set once a stop signal started the drain before the stop (`--drain-on-stop`).
    stopping: AtomicBool,
    known: Option<KnownDevices>,
    relocations: Arc<Relocations>,
    served: AtomicU64,
    relocated: AtomicU64,
    refused: AtomicU64,
    drained: AtomicU64,
}

impl Steering {
    /// Serves every device (or those of `known`), not draining; a drain without a time sends
    /// `Retry-After: default_retry_after`.
    pub fn new(self_id: &str, default_retry_after: u64, known: Option<KnownDevices>) -> Self {
        Steering {
            self_id: self_id.to_owned(),
            default_retry_after,
            drain: RwLock::new(None),
            keep: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            known,
            relocations: Arc::new(Relocations::new(self_id)),
            served: AtomicU64::new(0),
            relocated: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            drained: AtomicU64::new(0),
        }
    }

    /// How to answer a request for the list from `device` (the value of [`DEVICE_ID_HEADER`]),
    /// counted.
    pub fn admit(&self, device: Option<&str>) -> Verdict {
        if let Some(drain) = self.current_drain() {
            self.drained.fetch_add(1, Ordering::Relaxed);
            return Verdict::Steer(Arc::clone(&drain.servers));
        }
        if let Some(known) = &self.known {
            let reason = match device {
                None => Some(format!("the device sent no {DEVICE_ID_HEADER}")),
                Some(id) if !known.contains(id) => Some(format!("device {id} is not known to this cluster")),
                Some(_) => None,
            };
            if let Some(reason) = reason {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Verdict::Steer(Arc::new(refusal(&reason)));
            }
        }
        self.served.fetch_add(1, Ordering::Relaxed);
        if let Some(Relocating::To(to)) = device.map(|id| self.relocations.check(id)) {
            self.relocated.fetch_add(1, Ordering::Relaxed);
            return Verdict::Relocate(to);
        }
        Verdict::Serve
    }

    /// The devices the admin endpoint relocated, shared by the cluster through the database.
    pub fn relocations(&self) -> &Arc<Relocations> {
        &self.relocations
    }

    /// The answer to the health check while draining; `None` when not draining.
    pub fn health(&self) -> Option<Arc<Reply>> {
        self.current_drain().map(|d| Arc::clone(&d.health))
    }

    /// Starts a drain that keeps the devices (behaviour.md, "Servers that steer devices"): every
    /// device is served as usual and this server's entry is marked draining; a plain drain under
    /// way ends (but the one before a stop).
    pub fn drain_keeping(&self) {
        if !self.stopping() {
            *self.drain.write().unwrap_or_else(|e| e.into_inner()) = None;
        }
        self.keep.store(true, Ordering::SeqCst);
    }

    /// Whether this server drains keeping its devices (its entry marked draining).
    pub fn keeps_devices(&self) -> bool {
        self.keep.load(Ordering::SeqCst)
    }

    /// Starts draining with `Retry-After: retry_after` (the default when `None`), or changes the
    /// time of the drain under way.
    pub fn drain(&self, retry_after: Option<u64>) {
        let retry_after = retry_after.unwrap_or(self.default_retry_after);
        let body = json!({"draining": true, "retry_after": retry_after, "self": self.self_id});
        let drain = Drain {
            retry_after,
            servers: Arc::new(Reply::json_with(503, body.to_string().into_bytes()).retry_after(retry_after)),
            health: Arc::new(Reply::text(503, "draining").retry_after(retry_after)),
        };
        *self.drain.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(drain));
        self.keep.store(false, Ordering::SeqCst);
    }

    /// Ends a drain (nothing when not draining); refused while stopping.
    pub fn undrain(&self) -> Result<(), String> {
        if self.stopping() {
            return Err("this server is stopping: it drains until it exits".into());
        }
        *self.drain.write().unwrap_or_else(|e| e.into_inner()) = None;
        self.keep.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Starts the drain before a stop: it cannot be ended (but by the stop); the time of a drain
    /// already under way is kept.
    pub fn drain_for_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if self.current_drain().is_none() {
            self.drain(None);
        }
    }

    /// Whether the drain before a stop has begun.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Whether this server drains now (answering `503`, or keeping its devices).
    pub fn draining(&self) -> bool {
        self.current_drain().is_some() || self.keeps_devices()
    }

    /// The `--known-devices` list, when there is one.
    pub fn known(&self) -> Option<&KnownDevices> {
        self.known.as_ref()
    }

    /// What `GET /scout/v1/admin/status` answers.
    pub fn status(&self) -> serde_json::Value {
        let drain = self.current_drain();
        json!({
            "self": self.self_id,
            "draining": drain.is_some() || self.keeps_devices(),
            "keep": self.keeps_devices(),
            "stopping": self.stopping(),
            "retry_after": drain.map_or(self.default_retry_after, |d| d.retry_after),
            "known_devices": self.known.as_ref().map(KnownDevices::len),
            "served": self.served.load(Ordering::Relaxed),
            "refused": self.refused.load(Ordering::Relaxed),
            "drained": self.drained.load(Ordering::Relaxed),
            "relocated": self.relocated.load(Ordering::Relaxed),
            "relocations_pending": self.relocations.pending(),
        })
    }

    fn current_drain(&self) -> Option<Arc<Drain>> {
        self.drain.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The `403` of a refusal: `{"refused": reason}`.
fn refusal(reason: &str) -> Reply {
    Reply::json_with(403, json!({ "refused": reason }).to_string().into_bytes())
}

/// The device ids of a `--known-devices` file, read again when the file changes (or on SIGHUP).
#[derive(Debug)]
pub struct KnownDevices {
    path: PathBuf,
    ids: RwLock<Arc<HashSet<String>>>,
    /// What the file looked like when it was last read (or failed to be).
    stamp: Mutex<Option<Stamp>>,
}

/// What tells one version of a file from the next: device, inode, size, change and modification
/// times (a rewrite in place and a rename over it both change one of them).
type Stamp = (u64, u64, u64, i64, i64, i64, i64);

/// The stamp of the file at `path`.
fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    Ok((
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

impl KnownDevices {
    /// Reads the file at `path`; an error says why it cannot be used.
    pub fn load(path: &Path) -> Result<Self, String> {
        let before = stamp(path).ok();
        let ids = read_ids(path)?;
        Ok(KnownDevices {
            path: path.to_owned(),
            ids: RwLock::new(Arc::new(ids)),
            stamp: Mutex::new(before),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file names `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.read().unwrap_or_else(|e| e.into_inner()).contains(id)
    }

    /// How many ids the file names.
    pub fn len(&self) -> usize {
        self.ids.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Reads the file again if it changed since it was last read; see [`KnownDevices::reload`].
    pub fn reload_if_changed(&self) {
        let now = stamp(&self.path).ok();
        let changed = *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) != now;
        if changed {
            self.reload("the file changed");
        }
    }

    /// Reads the file again (`why` goes into the log); a file that cannot be read leaves the ids
    /// read before in force.
    pub fn reload(&self, why: &str) {
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = stamp(&self.path).ok();
        match read_ids(&self.path) {
            Ok(ids) => {
                let count = ids.len();
                *self.ids.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ids);
                note!(
                    "known devices read again ({why}): {count} ids in {}",
                    self.path.display()
                );
            }
            Err(e) => note!("{e} ({why}); keeping the {} ids read before", self.len()),
        }
    }
}

/// The ids of a known-devices file: one a line, surrounding blanks dropped, `#` starts a comment.
fn read_ids(path: &Path) -> Result<HashSet<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the known devices file {}: {e}", path.display()))?;
    Ok(parse_ids(&text))
}

/// The ids of a file of device ids, in their order: one a line, surrounding blanks dropped, `#`
/// starts a comment (the format of `--known-devices`).
pub fn parse_id_lines(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// The ids of a known-devices file's text.
fn parse_ids(text: &str) -> HashSet<String> {
    parse_id_lines(text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(verdict: Verdict) -> (u16, Option<u64>, String) {
        match verdict {
            Verdict::Serve => (200, None, String::new()),
            Verdict::Relocate(m) => (200, None, m.to_json().to_string()),
            Verdict::Steer(r) => (r.status, r.retry_after, String::from_utf8(r.body.clone()).unwrap()),
        }
    }

    #[test]
    fn ids_comments_and_blanks() {
        let ids = parse_ids("# fleet\n  dev-1  \n\ndev-2 # the lab\n#dev-3\n\tdev 4\r\n");
        let mut ids: Vec<_> = ids.into_iter().collect();
        ids.sort();
        assert_eq!(ids, ["dev 4", "dev-1", "dev-2"]);
    }

    #[test]
    fn refusals_and_drain() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known");
        std::fs::write(&file, "dev-1\n").unwrap();
        let steering = Steering::new("a", 30, Some(KnownDevices::load(&file).unwrap()));
        assert_eq!(body(steering.admit(Some("dev-1"))).0, 200);
        assert_eq!(
            body(steering.admit(Some("dev-\"2"))),
            (
                403,
                None,
                r#"{"refused":"device dev-\"2 is not known to this cluster"}"#.into()
            )
        );
        assert_eq!(
            body(steering.admit(None)),
            (403, None, r#"{"refused":"the device sent no Scout-Device-Id"}"#.into())
        );
        steering.drain(Some(7));
        // A draining server drains every device, known or not.
        let (status, retry_after, text) = body(steering.admit(Some("dev-2")));
        assert_eq!((status, retry_after), (503, Some(7)));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            json!({"draining": true, "retry_after": 7, "self": "a"})
        );
        assert_eq!(steering.health().unwrap().status, 503);
        let status = steering.status();
        assert_eq!(
            (status["served"].as_u64(), status["refused"].as_u64()),
            (Some(1), Some(2))
        );
        assert_eq!(
            (status["drained"].as_u64(), status["known_devices"].as_u64()),
            (Some(1), Some(1))
        );
        steering.undrain().unwrap();
        assert!(steering.health().is_none());
        steering.drain_for_stop();
        assert_eq!(steering.status()["retry_after"], 30);
        assert!(steering.undrain().unwrap_err().contains("stopping"));
        assert!(steering.draining());
    }

    #[test]
    fn a_drain_that_keeps_the_devices_serves_them_and_marks_the_server() {
        let steering = Steering::new("a", 30, None);
        steering.drain(Some(9));
        steering.drain_keeping();
        assert!(steering.keeps_devices() && steering.draining());
        assert_eq!(body(steering.admit(Some("dev-1"))).0, 200, "served as usual");
        assert!(steering.health().is_none(), "the health check stays 200");
        let status = steering.status();
        assert_eq!(
            (status["draining"].as_bool(), status["keep"].as_bool()),
            (Some(true), Some(true))
        );
        assert_eq!(status["drained"], 0);
        // A plain drain replaces it; undrain ends either.
        steering.drain(None);
        assert!(!steering.keeps_devices());
        assert_eq!(body(steering.admit(Some("dev-1"))).0, 503);
        steering.drain_keeping();
        steering.undrain().unwrap();
        assert!(!steering.draining() && !steering.keeps_devices());
        // A stop signal turns it into a plain drain.
        steering.drain_keeping();
        steering.drain_for_stop();
        assert!(!steering.keeps_devices());
        assert_eq!(body(steering.admit(None)).0, 503);
    }

    #[test]
    fn reload_keeps_the_old_ids_when_the_file_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known");
        std::fs::write(&file, "a\nb\n").unwrap();
        let known = KnownDevices::load(&file).unwrap();
        known.reload_if_changed();
        assert_eq!(known.len(), 2);
        std::fs::write(&file, "c\n").unwrap();
        known.reload_if_changed();
        assert!(known.contains("c") && !known.contains("a"));
        std::fs::remove_file(&file).unwrap();
        known.reload_if_changed();
        assert!(known.contains("c"));
        let missing = KnownDevices::load(&dir.path().join("nope")).unwrap_err();
        assert!(missing.starts_with("cannot read the known devices file "), "{missing}");
    }
}
