//! Another process that holds a state file's lock (a writer stopped mid-save, say), as the state
//! file takes it: a POSIX record lock (`fcntl`), which only another process can hold against us.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A child process holding the record lock of a file until it is released or dropped.
pub struct LockHolder {
    child: Option<Child>,
}

impl LockHolder {
    /// Lock `path` (created if missing) from a child process; returns once the lock is held.
    pub fn hold(path: &Path) -> Self {
        let script = "import fcntl, sys\nf = open(sys.argv[1], 'a')\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\nsys.stdin.read()\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3 to hold the lock");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked", "the lock holder did not take the lock");
        LockHolder { child: Some(child) }
    }

    /// Let go of the lock: the child ends.
    pub fn release(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        self.release();
    }
}
