//! A `scout-server` process started by a test.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// A running `scout-server`, killed when dropped; its stderr is kept and shown if a test fails.
pub struct ScoutServerProcess {
    child: Option<Child>,
    bin: PathBuf,
    args: Vec<String>,
    deadline: Duration,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its id (`self`), as its ready line names it.
    pub id: String,
    log: Arc<Mutex<String>>,
}

impl ScoutServerProcess {
    /// Starts `bin --db DB --listen 127.0.0.1:0 ARGS` and waits until it is registered; every wait is bounded by `deadline`.
    pub fn start(bin: &Path, db: &str, args: &[&str], deadline: Duration) -> ScoutServerProcess {
        let mut server = ScoutServerProcess {
            child: None,
            bin: bin.to_owned(),
            args: [&["--db", db][..], args]
                .concat()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            deadline,
            addr: "127.0.0.1:0".parse().unwrap(),
            id: String::new(),
            log: Arc::new(Mutex::new(String::new())),
        };
        server.spawn();
        server
    }

    /// Starts the server again, with the same arguments on the same address, after a stop.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is still running", self.id);
        self.spawn();
    }

    /// Spawns the process on `self.addr` and waits for its ready line.
    fn spawn(&mut self) {
        let mut child = Command::new(&self.bin)
            .args(["--listen", &self.addr.to_string()])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn scout-server");
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&self.log);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        self.child = Some(child);
        // "scout-server <id> listening on http://<addr>" (https:// with --tls-cert)
        let line = rx
            .recv_timeout(self.deadline)
            .unwrap_or_else(|_| panic!("scout-server {:?} did not come up; its log:\n{}", self.args, self.log()));
        let rest = line.strip_prefix("scout-server ").expect("ready line");
        let (id, url) = rest.split_once(" listening on ").expect("ready line");
        let addr = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .expect("ready line");
        self.addr = addr.parse().unwrap();
        self.id = id.to_owned();
    }

    /// `host:port` of the server, as devices name it.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// What the server wrote on stderr so far (over all its runs).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The process id while it runs (to send it signals the helpers here do not, such as SIGSTOP).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Sends SIGTERM (a clean stop: the server leaves the list at once) and waits (bounded) for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.as_ref().expect("server running").id();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + self.deadline;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit; log:\n{}",
                self.id,
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGKILL (a crash: the server drops out when its heartbeat ages) and reaps the process.
    pub fn kill(&mut self) {
        let child = self.child.as_mut().expect("server running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        self.child = None;
    }
}

impl Drop for ScoutServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!(
                "--- log of scout-server {} ({}) ---\n{}",
                self.id,
                self.addr,
                self.log()
            );
        }
    }
}
