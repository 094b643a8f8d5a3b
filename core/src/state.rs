//! The state file (behaviour.md, "State file"): default server and cached list, replaced atomically under a lock.
//!
//! Layout: `{"format": 1, "default_server": {...}, "servers": [...], "servers_from": {...},
//! "updated_at": "RFC 3339"}`. A write goes to a temporary file in the same folder, is fsynced,
//! renamed over the state file, and the folder is fsynced. Writers (and the reader that may move
//! a corrupt file aside) hold an exclusive advisory lock on `<name>.lock` beside the file, so two
//! processes sharing a state file never interleave.
//!
//! The lock is fork-safe (behaviour.md, "State file"): it is a POSIX record lock (`fcntl`
//! `F_SETLKW`) on a lock file opened afresh (close-on-exec) for each save, which a child made by
//! `fork` does not inherit, and the threads of one process take turns through [`Claim`], an atomic
//! word holding the process id of its holder rather than a mutex, so a child forked while another
//! thread was saving finds the claim held by a process that is not itself and takes it over.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::error::{Error, Result};
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
}

impl State {
    /// The state as the JSON document of the state file.
    pub fn to_json(&self) -> Value {
        json!({
            "format": FORMAT,
            "default_server": self.default_server.as_ref().map(server_to_json),
            "servers": self.list.as_ref().map(|l| l.entries().iter().map(entry_to_json).collect::<Vec<_>>()),
            "servers_from": self.servers_from.as_ref().map(server_to_json),
            "updated_at": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        })
    }

    /// Parse a state document, telling a corrupt one from a newer format.
    fn from_json(text: &[u8]) -> std::result::Result<Self, Parsed> {
        let v: Value = serde_json::from_slice(text).map_err(|e| Parsed::Corrupt(format!("not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| Parsed::Corrupt("not a JSON object".into()))?;
        let format = obj
            .get("format")
            .and_then(Value::as_u64)
            .ok_or_else(|| Parsed::Corrupt("no numeric `format` field".into()))?;
        if format > FORMAT {
            return Err(Parsed::Newer(format));
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
        Ok(State {
            default_server: server("default_server")?,
            list,
            servers_from: server("servers_from")?,
        })
    }
}

enum Parsed {
    Corrupt(String),
    Newer(u64),
}

/// Largest state file read; a larger one is treated as corrupt (a real one is far smaller).
pub const MAX_STATE_BYTES: u64 = 16 << 20;

/// Read at most one byte more than [`MAX_STATE_BYTES`], so that a huge file costs no memory.
fn read_capped(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(MAX_STATE_BYTES + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// What loading found.
#[derive(Debug)]
pub struct Loaded {
    /// The state to start from (empty when there was none or it was corrupt).
    pub state: State,
    /// A problem that was worked around, such as a corrupt file moved aside.
    pub warning: Option<String>,
}

/// A state file on disk, with its lock file beside it.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    dir: PathBuf,
    lock_path: PathBuf,
    /// The number of the newest snapshot written by [`StateFile::save_numbered`].
    written: AtomicU64,
}

/// The process id of the process whose thread holds the state-file lock, or 0.
///
/// Record locks belong to a process, not a thread, and closing any descriptor of the lock file
/// drops them: the threads of a process must take turns before they lock. A mutex would stay
/// locked for ever in a child forked while another thread held it; this word names the holder's
/// process instead, and a process that finds another process named knows the holder is a thread
/// that was not copied by fork.
static CLAIM: AtomicU32 = AtomicU32::new(0);

/// This process's turn at the state-file lock, released when dropped.
struct Claim;

impl Claim {
    /// Wait for the other threads of this process to finish their turn.
    fn take() -> Claim {
        let me = std::process::id();
        let mut wait = Duration::from_micros(50);
        loop {
            let holder = match CLAIM.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Claim,
                Err(holder) => holder,
            };
            // Held by the process this one was forked from: that thread does not exist here.
            if holder != me
                && CLAIM
                    .compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return Claim;
            }
            std::thread::sleep(wait);
            wait = (wait * 2).min(Duration::from_millis(5));
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        CLAIM.store(0, Ordering::Release);
    }
}

/// The exclusive lock on the lock file: the file (closed last) and this process's turn.
struct Locked {
    _file: File,
    _claim: Claim,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl StateFile {
    /// Prepare the state file at `path`: the folder is created if missing and must be writable.
    pub fn open(path: &Path) -> Result<Self> {
        let err = |action, source| Error::StateFile {
            path: path.to_path_buf(),
            action,
            source,
        };
        let name = path.file_name().ok_or_else(|| {
            err(
                "use the path",
                io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
            )
        })?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(|e| err("create its folder", e))?;
        let mut lock_name = name.to_os_string();
        lock_name.push(".lock");
        let sf = StateFile {
            path: path.to_path_buf(),
            lock_path: dir.join(lock_name),
            dir,
            written: AtomicU64::new(0),
        };
        // Prove now that the folder takes new files, rather than losing the state later.
        let probe = sf.tmp_path();
        File::create(&probe).map_err(|e| err("write in its folder", e))?;
        let _ = fs::remove_file(&probe);
        sf.lock()?;
        Ok(sf)
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, action: &'static str, source: io::Error) -> Error {
        Error::StateFile {
            path: self.path.clone(),
            action,
            source,
        }
    }

    fn tmp_path(&self) -> PathBuf {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()))
    }

    /// Take the exclusive advisory lock (see the module docs); released when the result is dropped.
    fn lock(&self) -> Result<Locked> {
        let claim = Claim::take();
        // std opens with O_CLOEXEC: a program the agent executes never holds the lock file.
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| self.err("open the lock file", e))?;
        rustix::fs::fcntl_lock(&f, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| self.err("lock", e.into()))?;
        Ok(Locked {
            _file: f,
            _claim: claim,
        })
    }

    /// Read the state; a missing file is an empty state, a corrupt one is moved aside with a warning.
    pub fn load(&self) -> Result<Loaded> {
        let _lock = self.lock()?;
        self.remove_stale_temp_files();
        let bytes = match read_capped(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Loaded {
                    state: State::default(),
                    warning: None,
                });
            }
            Err(e) => return Err(self.err("read", e)),
        };
        let parsed = if bytes.len() as u64 > MAX_STATE_BYTES {
            Err(Parsed::Corrupt(format!("larger than {MAX_STATE_BYTES} bytes")))
        } else {
            State::from_json(&bytes)
        };
        match parsed {
            Ok(state) => Ok(Loaded { state, warning: None }),
            Err(Parsed::Newer(found)) => Err(Error::StateFormat {
                path: self.path.clone(),
                found,
                known: FORMAT,
            }),
            Err(Parsed::Corrupt(why)) => {
                let aside = self.aside_path();
                fs::rename(&self.path, &aside).map_err(|e| self.err("move the corrupt file aside", e))?;
                Ok(Loaded {
                    state: State::default(),
                    warning: Some(format!(
                        "could not be parsed ({why}); moved aside to {} and starting from the seed servers",
                        aside.display()
                    )),
                })
            }
        }
    }

    /// A free `<name>.corrupt-<unix milliseconds>[-n]` path: an earlier corrupt file is never overwritten.
    fn aside_path(&self) -> PathBuf {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        (0..)
            .map(|n| {
                let mut aside = self.path.clone().into_os_string();
                aside.push(format!(".corrupt-{millis}"));
                if n > 0 {
                    aside.push(format!("-{n}"));
                }
                PathBuf::from(aside)
            })
            .find(|p| !p.exists())
            .expect("an unbounded range always finds a free name")
    }

    /// Remove temporary files left by writers that died mid-write (called under the lock).
    fn remove_stale_temp_files(&self) {
        let Some(name) = self.path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return;
        };
        let prefix = format!(".{name}.tmp-");
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Save snapshot number `number` of a client's state unless a newer one was written already.
    ///
    /// A client numbers its snapshots in the order its state changed and saves them without
    /// holding its own lock, so two of its threads may save out of order: the older one is skipped.
    pub fn save_numbered(&self, state: &State, number: u64) -> Result<()> {
        let _lock = self.lock()?;
        if number <= self.written.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.write(state)?;
        self.written.store(number, Ordering::SeqCst);
        Ok(())
    }

    /// Replace the state atomically: temp file, fsync, rename, fsync of the folder.
    pub fn save(&self, state: &State) -> Result<()> {
        let _lock = self.lock()?;
        self.write(state)
    }

    /// The write of [`StateFile::save`], under the lock.
    fn write(&self, state: &State) -> Result<()> {
        let tmp = self.tmp_path();
        let text = serde_json::to_vec_pretty(&state.to_json()).expect("a JSON value always serialises");
        let write = || -> io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&text)?;
            f.write_all(b"\n")?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(self.err("write", e));
        }
        if let Err(e) = fs::rename(&tmp, &self.path) {
            let _ = fs::remove_file(&tmp);
            return Err(self.err("replace", e));
        }
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.err("sync its folder", e))
    }
}
