//! What the fuzz targets share.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The scratch folders of this process, removed when the fuzzer exits.
static SCRATCH: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

extern "C" fn remove_scratch() {
    for dir in SCRATCH.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A scratch folder for this fuzz process named after `what`, on a RAM-backed file system when
/// there is one; anything left there by an earlier process of the same id is removed first, and
/// the folder is removed when the fuzzer exits (not after a crash: it may help to reproduce it).
pub fn scratch_dir(what: &str) -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("scoutlb-fuzz-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut scratch = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    if scratch.is_empty() {
        // SAFETY: remove_scratch is an `extern "C" fn()` that lives as long as the process.
        unsafe { libc::atexit(remove_scratch) };
    }
    scratch.push(dir.clone());
    dir
}
