//! The state file (behaviour.md, "State file"): default server and cached list, replaced atomically under a lock.
//!
//! The document is [`State`]'s. A write goes to a temporary file in the same folder, is fsynced,
//! renamed over the state file, and the folder is fsynced. Writers (and the reader that may move
//! a corrupt file aside) hold an exclusive advisory lock on `<name>.lock` beside the file, so two
//! processes sharing a state file never interleave.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{Error, Result};
use crate::{Parsed, STATE_FORMAT as FORMAT, State};

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
}

/// The longest the state file's lock is waited for (held by another process or another call of
/// this client); a save that cannot get it is deferred (behaviour.md, "State file").
pub const STATE_LOCK_WAIT: Duration = Duration::from_secs(1);

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

    /// Take the exclusive advisory lock within [`STATE_LOCK_WAIT`]; it is released when the returned file is dropped.
    fn lock(&self) -> Result<File> {
        self.lock_within(STATE_LOCK_WAIT, &|| false)
    }

    /// Take the exclusive advisory lock, waiting at most `wait` and not after `stop` says to stop.
    fn lock_within(&self, wait: Duration, stop: &dyn Fn() -> bool) -> Result<File> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| self.err("open the lock file", e))?;
        let until = Instant::now() + wait;
        loop {
            match f.try_lock() {
                Ok(()) => return Ok(f),
                Err(TryLockError::Error(e)) => return Err(self.err("lock", e)),
                Err(TryLockError::WouldBlock) if stop() => {
                    return Err(self.err(
                        "lock",
                        io::Error::new(io::ErrorKind::Interrupted, "cancelled while waiting for the lock"),
                    ));
                }
                Err(TryLockError::WouldBlock) if Instant::now() >= until => return Err(self.locked_error(wait)),
                Err(TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }

    /// The error of a lock that another writer held for longer than `wait`.
    pub fn locked_error(&self, wait: Duration) -> Error {
        let message = format!(
            "{} is held by another writer (another process, or another call of this client) for over {} ms",
            self.lock_path.display(),
            wait.as_millis()
        );
        self.err("lock", io::Error::new(io::ErrorKind::WouldBlock, message))
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

    /// Replace the state atomically: temp file, fsync, rename, fsync of the folder; the lock is
    /// waited for at most [`STATE_LOCK_WAIT`].
    pub fn save(&self, state: &State) -> Result<()> {
        self.save_within(state, STATE_LOCK_WAIT, &|| false)
    }

    /// [`StateFile::save`] that waits for the lock at most `wait`, and not after `stop` says to stop.
    pub fn save_within(&self, state: &State, wait: Duration, stop: &dyn Fn() -> bool) -> Result<()> {
        let _lock = self.lock_within(wait, stop)?;
        let tmp = self.tmp_path();
        let text =
            serde_json::to_vec_pretty(&state.to_json(SystemTime::now())).expect("a JSON value always serialises");
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
