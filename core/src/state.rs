//! The state file (behaviour.md, "State file"): default server and cached list, replaced atomically under a lock.
//!
//! Layout: `{"format": 1, "default_server": {...}, "servers": [...], "servers_from": {...},
//! "updated_at": "RFC 3339"}`. A write goes to a temporary file in the same folder, is fsynced,
//! renamed over the state file, and the folder is fsynced. Writers (and the reader that may move
//! a corrupt file aside) hold an exclusive advisory lock on `<name>.lock` beside the file, so two
//! processes sharing a state file never interleave.
//!
//! The folder is another user's playground when it is writable by others, so (behaviour.md, "State
//! file") it must exist (it is never created), belong to this user or root, and not be writable by
//! every user without the sticky bit. Temporary files are created exclusively (`O_EXCL`) under
//! random names, and the state and lock files are opened without following a symbolic link and
//! without blocking, so a link, FIFO, socket or device planted in their place is refused at once.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::fork_lock::{ForkGuard, ForkLock};
use crate::{Error, Result};
use crate::{Parsed, STATE_FORMAT as FORMAT, State};

/// Largest state file read; a larger one is treated as corrupt (a real one is far smaller).
pub const MAX_STATE_BYTES: u64 = 16 << 20;

/// Read at most one byte more than [`MAX_STATE_BYTES`], so that a huge file costs no memory.
fn read_capped(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_regular(path, OFlags::RDONLY)?
        .take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Refuse anything at `path` but a regular file (a link, FIFO, socket, device or folder); a
/// missing file is fine. Its own error: opening a socket fails with a less helpful one.
fn check_not_special(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) => check_kind(meta.file_type()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The error for a symbolic link where the state or lock file should be.
fn link_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "it is a symbolic link, which scoutlb does not follow (a save would replace the link anyway); name the real file",
    )
}

/// Refuse a file type other than a regular file, naming what it is.
fn check_kind(kind: fs::FileType) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_symlink() {
        return Err(link_error());
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "something other"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("it is {what}, not a regular file; remove it"),
    ))
}

/// Open `path` without following a symbolic link and without blocking (a FIFO would block a
/// plain open for ever), and refuse anything but a regular file.
fn open_regular(path: &Path, flags: OFlags) -> io::Result<File> {
    check_not_special(path)?;
    let flags = flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    // Checked again on what was opened: something may have been put there in between.
    let fd = rustix::fs::open(path, flags, Mode::from_raw_mode(0o666)).map_err(|e| match e {
        // With O_NOFOLLOW: a link was put there since the check.
        rustix::io::Errno::LOOP => link_error(),
        e => io::Error::from(e),
    })?;
    let file = File::from(fd);
    check_kind(file.metadata()?.file_type())?;
    Ok(file)
}

/// The longest file name most Linux file systems take (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// The name of a file beside the state file: `lead` + `name` + `suffix`, with `reserve` bytes
/// left for what is appended later. When that would be longer than [`NAME_MAX`], the name is cut
/// and `~` and a hash of the whole name stand in for the rest, so any legal name has its own.
fn related_name(name: &OsStr, lead: &str, suffix: &str, reserve: usize) -> OsString {
    let bytes = name.as_bytes();
    let room = NAME_MAX.saturating_sub(lead.len() + suffix.len() + reserve);
    let mut out = lead.as_bytes().to_vec();
    if bytes.len() <= room {
        out.extend_from_slice(bytes);
    } else {
        let hash = format!("~{:016x}", xxhash_rust::xxh3::xxh3_64(bytes));
        out.extend_from_slice(&bytes[..room.saturating_sub(hash.len())]);
        out.extend_from_slice(hash.as_bytes());
    }
    out.extend_from_slice(suffix.as_bytes());
    OsString::from_vec(out)
}

/// Random characters in a temporary file's name.
const TMP_RANDOM: usize = 12;

/// Check that `dir` is an existing folder that no other user can plant files in.
fn check_folder(dir: &Path) -> io::Result<()> {
    let meta = fs::metadata(dir).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "the folder {} does not exist; scoutlb does not create folders: create it (owned by the agent's user, mode 0700 or 0755)",
                dir.display()
            ),
        ),
        _ => e,
    })?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a folder", dir.display()),
        ));
    }
    let mode = meta.permissions().mode();
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the folder {} is writable by every user and has no sticky bit (mode {:04o}), so another user could replace the state file; remove that permission (chmod o-w) or use another folder",
                dir.display(),
                mode & 0o7777
            ),
        ));
    }
    let me = rustix::process::geteuid().as_raw();
    let owner = meta.uid();
    if owner != me && owner != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the folder {} belongs to user id {owner}, neither this user (id {me}) nor root, so that user could replace the state file; run as its owner or use another folder",
                dir.display()
            ),
        ));
    }
    Ok(())
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
    /// The turn of this process's threads at this lock file (shared by every client of it).
    claim: Arc<ForkLock<()>>,
}

/// For each lock file of this process: the turn of this process's threads at its record lock
/// (behaviour.md, "State file": fork).
///
/// Record locks belong to a process, not a thread, and closing any descriptor of the lock file
/// drops them, so the threads of a process take turns at each lock file before they lock it,
/// through a [`ForkLock`], which a child forked while another thread held it takes over. One per
/// lock file, so the clients of different state files (a fleet in one process) never wait for
/// each other.
fn claim_word(lock_path: &Path) -> Arc<ForkLock<()>> {
    // A BTreeMap, whose nodes Valgrind sees as reachable (a hash table's pointer points inside
    // its block, which Valgrind reports as "possibly lost" at exit).
    static WORDS: OnceLock<ForkLock<BTreeMap<PathBuf, Arc<ForkLock<()>>>>> = OnceLock::new();
    let key = lock_path
        .parent()
        .and_then(|d| d.canonicalize().ok())
        .zip(lock_path.file_name())
        .map(|(d, n)| d.join(n))
        .unwrap_or_else(|| lock_path.to_path_buf());
    let words = WORDS.get_or_init(|| ForkLock::new(BTreeMap::new()));
    Arc::clone(words.lock().entry(key).or_insert_with(|| Arc::new(ForkLock::new(()))))
}

/// The exclusive lock on the lock file: the file (its record lock) and this process's turn.
struct Locked<'a> {
    _file: File,
    _claim: ForkGuard<'a, ()>,
}

/// The longest the state file's lock is waited for when another process holds it; a save that
/// cannot get it is deferred (behaviour.md, "State file").
pub const STATE_LOCK_WAIT: Duration = Duration::from_secs(1);

impl StateFile {
    /// Prepare the state file at `path`: its folder must exist, be safe (see the module docs) and
    /// take new files, and the lock file beside it is created.
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
        check_folder(&dir).map_err(|e| err("use its folder", e))?;
        // Before anything is created beside it.
        check_not_special(path).map_err(|e| err("use the path", e))?;
        let sf = StateFile {
            path: path.to_path_buf(),
            claim: claim_word(&dir.join(related_name(name, "", ".lock", 0))),
            lock_path: dir.join(related_name(name, "", ".lock", 0)),
            dir,
        };
        // Prove now that the folder takes new files, rather than losing the state later.
        drop(sf.temp_file().map_err(|e| err("write in its folder", e))?);
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

    /// The start of every temporary file's name: `.<name>.tmp-`, cut for a long name.
    fn temp_prefix(&self) -> OsString {
        let name = self.path.file_name().unwrap_or_default();
        related_name(name, ".", ".tmp-", TMP_RANDOM)
    }

    /// A new temporary file beside the state file, created exclusively (`O_EXCL`, so never
    /// through a planted link) under a random name; removed when dropped unless persisted.
    fn temp_file(&self) -> io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix(&self.temp_prefix())
            .rand_bytes(TMP_RANDOM)
            .permissions(fs::Permissions::from_mode(0o666))
            .tempfile_in(&self.dir)
    }

    /// Take the exclusive lock within [`STATE_LOCK_WAIT`]; it is released when the result is dropped.
    fn lock(&self) -> Result<Locked<'_>> {
        self.lock_within(STATE_LOCK_WAIT, STATE_LOCK_WAIT, &|| false)
    }

    /// Take the exclusive lock: this process's turn within `claim_wait` (another thread of this
    /// process may be saving), then the record lock within `lock_wait` (another process may hold
    /// it); not after `stop` says to stop.
    fn lock_within(&self, claim_wait: Duration, lock_wait: Duration, stop: &dyn Fn() -> bool) -> Result<Locked<'_>> {
        let cancelled = || {
            self.err(
                "lock",
                io::Error::new(io::ErrorKind::Interrupted, "cancelled while waiting for the lock"),
            )
        };
        let claim = self
            .claim
            .lock_within(Instant::now() + claim_wait, stop)
            .ok_or_else(|| {
                if stop() {
                    cancelled()
                } else {
                    self.locked_error(claim_wait)
                }
            })?;
        let f = open_regular(&self.lock_path, OFlags::WRONLY | OFlags::CREATE)
            .map_err(|e| self.err("open the lock file", e))?;
        let until = Instant::now() + lock_wait;
        loop {
            match rustix::fs::fcntl_lock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {
                    return Ok(Locked {
                        _file: f,
                        _claim: claim,
                    });
                }
                Err(e) if e != Errno::WOULDBLOCK && e != Errno::AGAIN && e != Errno::ACCESS => {
                    return Err(self.err("lock", e.into()));
                }
                Err(_) if stop() => return Err(cancelled()),
                Err(_) if Instant::now() >= until => return Err(self.locked_error(lock_wait)),
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
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

    /// A free `<name>.corrupt-<unix milliseconds>[-n]` path (the name cut for a long one): an
    /// earlier corrupt file is never overwritten.
    fn aside_path(&self) -> PathBuf {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let name = self.path.file_name().unwrap_or_default();
        (0..)
            .map(|n| {
                let suffix = match n {
                    0 => format!(".corrupt-{millis}"),
                    n => format!(".corrupt-{millis}-{n}"),
                };
                self.dir.join(related_name(name, "", &suffix, 0))
            })
            .find(|p| fs::symlink_metadata(p).is_err())
            .expect("an unbounded range always finds a free name")
    }

    /// Remove temporary files left by writers that died mid-write (called under the lock).
    fn remove_stale_temp_files(&self) {
        let prefix = self.temp_prefix();
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            if entry.file_name().as_bytes().starts_with(prefix.as_bytes()) {
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
        let _lock = self.lock_within(wait, wait, stop)?;
        self.write(state)
    }

    /// Save what `snapshot` gives, asked under the lock (None: nothing left to write, another
    /// save covered it); returns whether anything was written. This process's turn is waited for
    /// at most `claim_wait`, another process's lock at most `lock_wait`.
    pub fn save_snapshot(
        &self,
        snapshot: &mut dyn FnMut() -> Option<State>,
        claim_wait: Duration,
        lock_wait: Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<bool> {
        let _lock = self.lock_within(claim_wait, lock_wait, stop)?;
        match snapshot() {
            None => Ok(false),
            Some(state) => self.write(&state).map(|()| true),
        }
    }

    /// Replace the state atomically (under the lock): temp file, fsync, rename, fsync of the folder.
    fn write(&self, state: &State) -> Result<()> {
        let text =
            serde_json::to_vec_pretty(&state.to_json(SystemTime::now())).expect("a JSON value always serialises");
        // A temporary file that fails on the way is removed when dropped.
        let write = || -> io::Result<tempfile::NamedTempFile> {
            let mut tmp = self.temp_file()?;
            tmp.write_all(&text)?;
            tmp.write_all(b"\n")?;
            tmp.as_file().sync_all()?;
            Ok(tmp)
        };
        let tmp = write().map_err(|e| self.err("write", e))?;
        tmp.persist(&self.path).map_err(|e| self.err("replace", e.error))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.err("sync its folder", e))
    }
}
