//! A FUSE file system that loses everything not fsynced when told "power cut now".
//!
//! Modelled on LazyFS: file data written through the mount stays in a page cache (memory) until
//! `fsync` copies it to the "disk" (memory too); a power cut throws the page cache away, so every
//! file goes back to its last fsynced contents. Names (create, rename, unlink, mkdir) reach the disk
//! at once, as LazyFS passes them through, so a file renamed over another without an fsync of its
//! data comes back empty. After [`PowerCutFs::cut`] every operation fails with `EIO` (the machine is
//! off) until [`PowerCutFs::restart`]; handles opened before the cut stay dead.
//!
//! It can also make the next write, rename or fsync fail with an error of choice
//! ([`PowerCutFs::fail_next`]), to test that a failed save is reported. The `powercut-fs` binary of
//! this crate offers the same from a shell, C or Python test (commands on stdin).
//!
//! Mounting needs `/dev/fuse` and `fusermount3` (Debian package `fuse3`) or root.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    FileAttr, FileType, Filesystem, MountOption, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow,
};

/// Attributes and names are never cached by the kernel: after a cut it must ask again.
const TTL: Duration = Duration::ZERO;
const ROOT: u64 = fuser::FUSE_ROOT_ID;

/// A file-system operation that [`PowerCutFs::fail_next`] can make fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Creating a file (`open` with `O_CREAT`).
    Create,
    /// Writing data into a file.
    Write,
    /// Renaming a file.
    Rename,
    /// `fsync` / `fdatasync` of a file.
    Fsync,
    /// `fsync` of a folder.
    FsyncDir,
}

impl Op {
    /// The operation named `create`, `write`, `rename`, `fsync` or `fsyncdir`.
    pub fn from_name(name: &str) -> Option<Op> {
        Some(match name {
            "create" => Op::Create,
            "write" => Op::Write,
            "rename" => Op::Rename,
            "fsync" => Op::Fsync,
            "fsyncdir" => Op::FsyncDir,
            _ => return None,
        })
    }
}

/// Counts of what the file system saw, for tests that check their own reach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Write calls that succeeded.
    pub writes: u64,
    /// File fsyncs that succeeded.
    pub fsyncs: u64,
    /// Folder fsyncs that succeeded.
    pub dir_fsyncs: u64,
    /// Renames that succeeded.
    pub renames: u64,
    /// Power cuts so far.
    pub cuts: u64,
    /// Bytes of page cache thrown away by the cuts.
    pub bytes_lost: u64,
    /// Operations failed on purpose ([`PowerCutFs::fail_next`]).
    pub injected_failures: u64,
}

struct Inode {
    kind: FileType,
    perm: u16,
    /// What readers see: the page cache.
    data: Vec<u8>,
    /// What survives a power cut: the last fsynced contents.
    synced: Vec<u8>,
    children: BTreeMap<OsString, u64>,
    parent: u64,
    nlink: u32,
    mtime: SystemTime,
}

impl Inode {
    fn new(kind: FileType, perm: u16, parent: u64) -> Self {
        Inode {
            kind,
            perm,
            data: Vec::new(),
            synced: Vec::new(),
            children: BTreeMap::new(),
            parent,
            nlink: if kind == FileType::Directory { 2 } else { 1 },
            mtime: SystemTime::now(),
        }
    }
}

struct Disk {
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    /// Open file handles: handle number → inode. Cleared by a cut.
    handles: HashMap<u64, u64>,
    next_fh: u64,
    off: bool,
    faults: Vec<(Op, i32)>,
    stats: Stats,
}

impl Disk {
    fn new() -> Self {
        let mut inodes = HashMap::new();
        inodes.insert(ROOT, Inode::new(FileType::Directory, 0o755, ROOT));
        Disk {
            inodes,
            next_ino: ROOT + 1,
            handles: HashMap::new(),
            next_fh: 1,
            off: false,
            faults: Vec::new(),
            stats: Stats::default(),
        }
    }

    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let n = self.inodes.get(&ino)?;
        Some(FileAttr {
            ino,
            size: n.data.len() as u64,
            blocks: (n.data.len() as u64).div_ceil(512),
            atime: n.mtime,
            mtime: n.mtime,
            ctime: n.mtime,
            crtime: n.mtime,
            kind: n.kind,
            perm: n.perm,
            nlink: n.nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    /// The error injected for `op`, consumed, if one is pending.
    fn injected(&mut self, op: Op) -> Option<i32> {
        let i = self.faults.iter().position(|(o, _)| *o == op)?;
        self.stats.injected_failures += 1;
        Some(self.faults.remove(i).1)
    }

    fn child(&self, parent: u64, name: &OsStr) -> Option<u64> {
        self.inodes.get(&parent)?.children.get(name).copied()
    }

    fn add(&mut self, parent: u64, name: &OsStr, kind: FileType, perm: u16) -> Result<u64, i32> {
        let dir = self.inodes.get_mut(&parent).ok_or(libc::ENOENT)?;
        if dir.kind != FileType::Directory {
            return Err(libc::ENOTDIR);
        }
        if dir.children.contains_key(name) {
            return Err(libc::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        dir.children.insert(name.to_os_string(), ino);
        dir.mtime = SystemTime::now();
        if kind == FileType::Directory {
            dir.nlink += 1;
        }
        self.inodes.insert(ino, Inode::new(kind, perm, parent));
        Ok(ino)
    }

    /// Drop one name of `ino`; the inode itself stays while handles may use it.
    fn drop_link(&mut self, ino: u64) {
        if let Some(n) = self.inodes.get_mut(&ino) {
            n.nlink = n.nlink.saturating_sub(1);
        }
    }

    fn open_handle(&mut self, ino: u64) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(fh, ino);
        fh
    }

    /// The inode behind a live handle; `EIO` for a handle from before a power cut.
    fn handle(&self, fh: u64, ino: u64) -> Result<u64, i32> {
        match self.handles.get(&fh) {
            Some(&i) if i == ino => Ok(i),
            _ => Err(libc::EIO),
        }
    }

    fn cut(&mut self) {
        self.off = true;
        self.handles.clear();
        self.faults.clear();
        self.stats.cuts += 1;
        for n in self.inodes.values_mut() {
            if n.kind == FileType::RegularFile && n.data != n.synced {
                self.stats.bytes_lost += n.data.len() as u64;
                n.data = n.synced.clone();
            }
        }
    }
}

/// The FUSE side: every operation takes the one lock, so a cut falls between two operations.
struct Fs(Arc<Mutex<Disk>>);

impl Fs {
    /// The disk, or `EIO` while the power is off.
    fn disk(&self) -> Result<MutexGuard<'_, Disk>, i32> {
        let d = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if d.off { Err(libc::EIO) } else { Ok(d) }
    }
}

macro_rules! disk_or {
    ($self:ident, $reply:ident) => {
        match $self.disk() {
            Ok(d) => d,
            Err(e) => return $reply.error(e),
        }
    };
}

impl Filesystem for Fs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let d = disk_or!(self, reply);
        match d.child(parent, name).and_then(|ino| d.attr(ino)) {
            Some(attr) => reply.entry(&TTL, &attr, 0),
            None => reply.error(libc::ENOENT),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        let d = disk_or!(self, reply);
        match d.attr(ino) {
            Some(attr) => reply.attr(&TTL, &attr),
            None => reply.error(libc::ENOENT),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let mut d = disk_or!(self, reply);
        let Some(n) = d.inodes.get_mut(&ino) else {
            return reply.error(libc::ENOENT);
        };
        if let Some(size) = size {
            n.data.resize(size as usize, 0);
            n.mtime = SystemTime::now();
        }
        if let Some(mode) = mode {
            n.perm = (mode & 0o7777) as u16;
        }
        let attr = d.attr(ino).expect("the inode exists");
        reply.attr(&TTL, &attr);
    }

    fn mkdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, mode: u32, _umask: u32, reply: ReplyEntry) {
        let mut d = disk_or!(self, reply);
        match d.add(parent, name, FileType::Directory, (mode & 0o7777) as u16) {
            Ok(ino) => reply.entry(&TTL, &d.attr(ino).expect("just added"), 0),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let mut d = disk_or!(self, reply);
        let Some(ino) = d.child(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        if d.inodes[&ino].kind == FileType::Directory {
            return reply.error(libc::EISDIR);
        }
        d.inodes.get_mut(&parent).expect("parent exists").children.remove(name);
        d.drop_link(ino);
        reply.ok();
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let mut d = disk_or!(self, reply);
        let Some(ino) = d.child(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        let n = &d.inodes[&ino];
        if n.kind != FileType::Directory {
            return reply.error(libc::ENOTDIR);
        }
        if !n.children.is_empty() {
            return reply.error(libc::ENOTEMPTY);
        }
        let dir = d.inodes.get_mut(&parent).expect("parent exists");
        dir.children.remove(name);
        dir.nlink -= 1;
        d.inodes.remove(&ino);
        reply.ok();
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let mut d = disk_or!(self, reply);
        if let Some(e) = d.injected(Op::Rename) {
            return reply.error(e);
        }
        if flags != 0 {
            return reply.error(libc::EINVAL);
        }
        let Some(ino) = d.child(parent, name) else {
            return reply.error(libc::ENOENT);
        };
        if !d.inodes.get(&newparent).is_some_and(|n| n.kind == FileType::Directory) {
            return reply.error(libc::ENOENT);
        }
        if let Some(old) = d.child(newparent, newname) {
            if old == ino {
                return reply.ok();
            }
            let (old_kind, new_kind) = (d.inodes[&old].kind, d.inodes[&ino].kind);
            if old_kind == FileType::Directory || new_kind == FileType::Directory {
                return reply.error(libc::EISDIR);
            }
            d.drop_link(old);
        }
        d.inodes.get_mut(&parent).expect("parent exists").children.remove(name);
        let target = d.inodes.get_mut(&newparent).expect("checked above");
        target.children.insert(newname.to_os_string(), ino);
        target.mtime = SystemTime::now();
        d.inodes.get_mut(&ino).expect("exists").parent = newparent;
        d.stats.renames += 1;
        reply.ok();
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let mut d = disk_or!(self, reply);
        let Some(n) = d.inodes.get_mut(&ino) else {
            return reply.error(libc::ENOENT);
        };
        if flags & libc::O_TRUNC != 0 && n.kind == FileType::RegularFile {
            n.data.clear();
        }
        let fh = d.open_handle(ino);
        // Direct I/O: no kernel page cache over ours, so a cut is seen by the next read.
        reply.opened(fh, fuser::consts::FOPEN_DIRECT_IO);
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut d = disk_or!(self, reply);
        if let Some(e) = d.injected(Op::Create) {
            return reply.error(e);
        }
        let ino = match d.child(parent, name) {
            Some(_) if flags & libc::O_EXCL != 0 => return reply.error(libc::EEXIST),
            Some(ino) => {
                if flags & libc::O_TRUNC != 0 {
                    d.inodes.get_mut(&ino).expect("exists").data.clear();
                }
                ino
            }
            None => match d.add(parent, name, FileType::RegularFile, (mode & 0o7777) as u16) {
                Ok(ino) => ino,
                Err(e) => return reply.error(e),
            },
        };
        let fh = d.open_handle(ino);
        let attr = d.attr(ino).expect("exists");
        reply.created(&TTL, &attr, 0, fh, fuser::consts::FOPEN_DIRECT_IO);
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let d = disk_or!(self, reply);
        if let Err(e) = d.handle(fh, ino) {
            return reply.error(e);
        }
        let data = &d.inodes[&ino].data;
        let start = (offset.max(0) as usize).min(data.len());
        let end = start.saturating_add(size as usize).min(data.len());
        reply.data(&data[start..end]);
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let mut d = disk_or!(self, reply);
        if let Err(e) = d.handle(fh, ino) {
            return reply.error(e);
        }
        if let Some(e) = d.injected(Op::Write) {
            return reply.error(e);
        }
        let n = d.inodes.get_mut(&ino).expect("a handle's inode exists");
        let start = offset.max(0) as usize;
        if n.data.len() < start + data.len() {
            n.data.resize(start + data.len(), 0);
        }
        n.data[start..start + data.len()].copy_from_slice(data);
        n.mtime = SystemTime::now();
        d.stats.writes += 1;
        reply.written(data.len() as u32);
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lock_owner: u64, reply: ReplyEmpty) {
        // close() does not make data durable; only fsync does.
        let _d = disk_or!(self, reply);
        reply.ok();
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).handles.remove(&fh);
        reply.ok();
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, fh: u64, _datasync: bool, reply: ReplyEmpty) {
        let mut d = disk_or!(self, reply);
        if let Err(e) = d.handle(fh, ino) {
            return reply.error(e);
        }
        if let Some(e) = d.injected(Op::Fsync) {
            return reply.error(e);
        }
        let n = d.inodes.get_mut(&ino).expect("a handle's inode exists");
        n.synced = n.data.clone();
        d.stats.fsyncs += 1;
        reply.ok();
    }

    fn opendir(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        let mut d = disk_or!(self, reply);
        if !d.inodes.contains_key(&ino) {
            return reply.error(libc::ENOENT);
        }
        let fh = d.open_handle(ino);
        reply.opened(fh, 0);
    }

    fn readdir(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, offset: i64, mut reply: ReplyDirectory) {
        let d = disk_or!(self, reply);
        let Some(dir) = d.inodes.get(&ino) else {
            return reply.error(libc::ENOENT);
        };
        let mut entries = vec![
            (ino, FileType::Directory, OsString::from(".")),
            (dir.parent, FileType::Directory, OsString::from("..")),
        ];
        entries.extend(
            dir.children
                .iter()
                .map(|(name, &i)| (i, d.inodes[&i].kind, name.clone())),
        );
        for (i, (child, kind, name)) in entries.into_iter().enumerate().skip(offset.max(0) as usize) {
            if reply.add(child, (i + 1) as i64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(&mut self, _req: &Request<'_>, _ino: u64, fh: u64, _flags: i32, reply: ReplyEmpty) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).handles.remove(&fh);
        reply.ok();
    }

    fn fsyncdir(&mut self, _req: &Request<'_>, ino: u64, fh: u64, _datasync: bool, reply: ReplyEmpty) {
        let mut d = disk_or!(self, reply);
        if let Err(e) = d.handle(fh, ino) {
            return reply.error(e);
        }
        if let Some(e) = d.injected(Op::FsyncDir) {
            return reply.error(e);
        }
        d.stats.dir_fsyncs += 1;
        reply.ok();
    }

    fn access(&mut self, _req: &Request<'_>, _ino: u64, _mask: i32, reply: ReplyEmpty) {
        let _d = disk_or!(self, reply);
        reply.ok();
    }
}

/// A mounted power-cut file system on a fresh temporary folder; unmounted when dropped.
pub struct PowerCutFs {
    disk: Arc<Mutex<Disk>>,
    session: Option<fuser::BackgroundSession>,
    mountpoint: PathBuf,
    _dir: tempfile::TempDir,
}

impl PowerCutFs {
    /// Why this machine cannot mount it (no `/dev/fuse`, no `fusermount3` when not root), if so.
    pub fn unavailable() -> Option<String> {
        if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/fuse") {
            return Some(format!(
                "cannot open /dev/fuse ({e}): FUSE is not available here (load the fuse module; in a container, pass --device /dev/fuse and CAP_SYS_ADMIN)"
            ));
        }
        // SAFETY: geteuid takes no arguments, touches no memory and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let fusermount = ["fusermount3", "fusermount"].iter().any(|f| {
            std::process::Command::new(f)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
        if !root && !fusermount {
            return Some("fusermount3 is not installed (Debian package fuse3) and this is not root".into());
        }
        None
    }

    /// Mount an empty file system on a new temporary folder.
    pub fn mount() -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("scoutlb-powercut-")
            .tempdir()
            .map_err(|e| format!("cannot create a mount point: {e}"))?;
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).map_err(|e| format!("cannot create {}: {e}", mountpoint.display()))?;
        let disk = Arc::new(Mutex::new(Disk::new()));
        let mut options = vec![MountOption::FSName("scoutlb-powercut".into())];
        // Unmounted by fusermount3 even if this process is killed; that needs `allow_root`, which
        // fusermount3 grants to root only unless /etc/fuse.conf says `user_allow_other`.
        // SAFETY: geteuid takes no arguments, touches no memory and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            options.extend([MountOption::AutoUnmount, MountOption::AllowRoot]);
        }
        let session = fuser::spawn_mount2(Fs(disk.clone()), &mountpoint, &options).map_err(|e| {
            format!(
                "cannot mount the power-cut file system on {}: {e}",
                mountpoint.display()
            )
        })?;
        let fs = PowerCutFs {
            disk,
            session: Some(session),
            mountpoint,
            _dir: dir,
        };
        fs.wait_mounted()?;
        Ok(fs)
    }

    /// Whether the kernel lists the mount point in `/proc/self/mounts`.
    fn is_mounted(&self) -> bool {
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let here = self.mountpoint.to_string_lossy();
        mounts.lines().any(|l| l.split(' ').nth(1) == Some(&here))
    }

    /// Wait until the kernel routes the mount point to this file system.
    fn wait_mounted(&self) -> Result<(), String> {
        if crate::within(Duration::from_secs(10), || self.is_mounted()) {
            Ok(())
        } else {
            Err(format!(
                "{} did not show up in /proc/self/mounts",
                self.mountpoint.display()
            ))
        }
    }

    /// Detach the mount and wait (a bounded time) until the kernel no longer lists it.
    ///
    /// Dropping fuser's session alone only asks `fusermount3` to unmount later and detaches the
    /// serving thread: a test process that exits right after left the mount behind, with its
    /// daemon gone ("Transport endpoint is not connected").
    fn unmount(&self) {
        if !self.is_mounted() {
            return;
        }
        // SAFETY: geteuid takes no arguments, touches no memory and cannot fail.
        let detached = if unsafe { libc::geteuid() } == 0 {
            let path = std::ffi::CString::new(self.mountpoint.as_os_str().as_encoded_bytes());
            // SAFETY: `path` is a NUL-terminated string that lives across the call.
            path.is_ok_and(|p| unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) } == 0)
        } else {
            ["fusermount3", "fusermount"].iter().any(|f| {
                std::process::Command::new(f)
                    .args(["-u", "-z"])
                    .arg(&self.mountpoint)
                    .status()
                    .is_ok_and(|s| s.success())
            })
        };
        if !detached || !crate::within(Duration::from_secs(5), || !self.is_mounted()) {
            eprintln!(
                "warning: could not unmount the power-cut file system on {}; run `fusermount3 -u -z` on it",
                self.mountpoint.display()
            );
        }
    }

    /// The mounted folder.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        self.disk.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Power cut now: everything not fsynced is gone and every operation fails with `EIO`.
    pub fn cut(&self) {
        self.lock().cut();
    }

    /// Power back on: the files are what was fsynced before the cut; old handles stay dead.
    pub fn restart(&self) {
        self.lock().off = false;
    }

    /// Make the next `op` fail with `errno` (such as `libc::EIO` or `libc::ENOSPC`), once.
    pub fn fail_next(&self, op: Op, errno: i32) {
        self.lock().faults.push((op, errno));
    }

    /// What the file system has seen so far.
    pub fn stats(&self) -> Stats {
        self.lock().stats
    }
}

impl Drop for PowerCutFs {
    fn drop(&mut self) {
        self.lock().off = false;
        self.unmount();
        drop(self.session.take());
    }
}
