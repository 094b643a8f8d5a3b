//! A `scout-server` process started by a test.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// Upper bound of every wait of a test on a `scout-server`.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The ids of a parsed `/scout/v1/servers` body, in order.
pub fn listed_ids(list: &serde_json::Value) -> Vec<String> {
    list["servers"]
        .as_array()
        .expect("servers array")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect()
}

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

    /// Starts the workspace's built `scout-server` ([`crate::built_binary`]) like [`Self::start`],
    /// every wait bounded by [`DEADLINE`].
    pub fn launch(db: &str, args: &[&str]) -> ScoutServerProcess {
        let bin = crate::built_binary("scout-server").unwrap_or_else(|e| panic!("{e}"));
        Self::start(&bin, db, args, DEADLINE)
    }

    /// `GET path`: status, content type, body.
    pub fn get(&self, path: &str) -> (u16, String, String) {
        crate::http_request(self.addr, "GET", path).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `GET /scout/v1/servers`, which must be 200 JSON: the parsed body.
    pub fn servers(&self) -> serde_json::Value {
        let (status, content_type, body) = self.get("/scout/v1/servers");
        assert_eq!(status, 200, "body: {body}\nlog:\n{}", self.log());
        assert_eq!(content_type, "application/json");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
    }

    /// The ids listed by `/scout/v1/servers`, in order.
    pub fn listed_ids(&self) -> Vec<String> {
        listed_ids(&self.servers())
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

    /// Waits (at most `limit`) for the process to exit by itself, such as after a signal sent with
    /// its [`Self::pid`]; its exit status, or `None` when it still runs after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.as_mut()?.try_wait().ok().flatten() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
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
