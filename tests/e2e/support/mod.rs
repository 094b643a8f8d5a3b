//! Helpers of the end-to-end and CLI tests: scout-server processes, a throw-away PostgreSQL, the
//! `scoutlb` binary, a tiny loopback HTTP server, bounded polling, and prerequisite checks.

#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Upper bound of every wait in the tests.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// The `scoutlb` binary under test.
pub const SCOUTLB: &str = env!("CARGO_BIN_EXE_scoutlb");

/// Whether missing prerequisites fail the test instead of skipping it (`SCOUTLB_E2E_REQUIRE=1`,
/// set by `tests/e2e/run.sh`, which installs them).
pub fn required() -> bool {
    std::env::var("SCOUTLB_E2E_REQUIRE").is_ok_and(|v| v == "1")
}

/// Report a missing prerequisite: `SKIPPED: ...` on stderr, or a failure when prerequisites are required.
pub fn skip(why: &str) {
    assert!(!required(), "prerequisite missing (SCOUTLB_E2E_REQUIRE=1): {why}");
    eprintln!("SKIPPED: {why}");
}

/// The `scout-server` binary: `$SCOUT_SERVER_BIN`, else beside `scoutlb` in the target folder.
pub fn scout_server_bin() -> Result<PathBuf, String> {
    let path = match std::env::var_os("SCOUT_SERVER_BIN") {
        Some(p) => PathBuf::from(p),
        None => Path::new(SCOUTLB).with_file_name("scout-server"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found (cargo build -p scout-server, or set SCOUT_SERVER_BIN)",
            path.display()
        ))
    }
}

/// A running `scout-server`, killed when dropped; its stderr is kept and shown if a test fails.
pub struct ScoutServer {
    child: Option<Child>,
    bin: PathBuf,
    db: String,
    flags: Vec<String>,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its id (`self`).
    pub id: String,
    log: Arc<Mutex<String>>,
}

impl ScoutServer {
    /// Starts server `id` on a free loopback port and waits until it is registered.
    pub fn start(bin: &Path, db: &str, id: &str, flags: &[&str]) -> ScoutServer {
        let mut server = ScoutServer {
            child: None,
            bin: bin.to_owned(),
            db: db.to_owned(),
            flags: flags.iter().map(|s| s.to_string()).collect(),
            addr: "127.0.0.1:0".parse().unwrap(),
            id: id.to_owned(),
            log: Arc::new(Mutex::new(String::new())),
        };
        server.spawn();
        server
    }

    /// Starts the server again on the same address after a stop.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is still running", self.id);
        self.spawn();
    }

    fn spawn(&mut self) {
        let mut child = Command::new(&self.bin)
            .args(["--db", &self.db, "--id", &self.id, "--listen", &self.addr.to_string()])
            .args(&self.flags)
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
        // "scout-server <id> listening on http://<addr>"
        let line = rx
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("scout-server {} did not come up; its log:\n{}", self.id, self.log()));
        let (_, addr) = line.split_once(" listening on http://").expect("ready line");
        self.addr = addr.parse().unwrap();
    }

    /// `host:port` of the server, as devices name it.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// What the server wrote on stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM (a clean stop: the server leaves the list at once) and waits for the exit.
    pub fn terminate(&mut self) {
        let mut child = self.child.take().expect("server running");
        signal(child.id(), "TERM");
        let deadline = Instant::now() + DEADLINE;
        while child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "{} did not stop; log:\n{}",
                self.id,
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGKILL (a crash: the server drops out when its heartbeat ages) and reaps it.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("server running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }
}

impl Drop for ScoutServer {
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

/// Sends `kill -<sig> <pid>`.
pub fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {pid} failed");
}

/// The result of one `scoutlb` run.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`-1` when killed by a signal).
    pub code: i32,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Run {
    /// The stdout parsed as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// The stdout JSON, asserting exit code 0.
    pub fn ok_json(&self) -> Value {
        assert_eq!(self.code, 0, "scoutlb failed: {self:?}");
        self.json()
    }
}

/// Waits for a `scoutlb` started by [`Device::spawn`].
pub fn finish(child: Child) -> Run {
    let out = child.wait_with_output().expect("wait for scoutlb");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `scoutlb ARGS` and waits (bounded by the configuration's own deadline).
pub fn scoutlb(args: &[&str]) -> Run {
    let out: Output = Command::new(SCOUTLB)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run scoutlb");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A device run by the CLI: its configuration file and state file in a folder of its own.
pub struct Device {
    /// The configuration file.
    pub config: PathBuf,
    /// The state file.
    pub state: PathBuf,
}

impl Device {
    /// A device in its own folder `dir/name`, with configuration `config` (its state file key is set).
    pub fn new(dir: &Path, name: &str, config: Value) -> Device {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        let device = Device {
            config: folder.join("config.json"),
            state: folder.join("state.json"),
        };
        device.configure(config);
        device
    }

    /// Rewrites the configuration (the state file key is added).
    pub fn configure(&self, mut config: Value) {
        config["state_file"] = self.state.display().to_string().into();
        std::fs::write(&self.config, config.to_string()).unwrap();
    }

    /// Runs `scoutlb --config <config> --json ARGS`.
    pub fn run(&self, args: &[&str]) -> Run {
        let config = self.config.display().to_string();
        let mut all = vec!["--config", &config, "--json"];
        all.extend_from_slice(args);
        scoutlb(&all)
    }

    /// Starts `scoutlb --config <config> --json ARGS` without waiting; see [`finish`].
    pub fn spawn(&self, args: &[&str]) -> Child {
        Command::new(SCOUTLB)
            .arg("--config")
            .arg(&self.config)
            .arg("--json")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn scoutlb")
    }

    /// The state file, parsed.
    pub fn state_file(&self) -> Value {
        let text = std::fs::read_to_string(&self.state).expect("read the state file");
        serde_json::from_str(&text).expect("state file is JSON")
    }
}

/// The `address` fields of a JSON array of servers.
pub fn addresses(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|s| s["address"].as_str().expect("address").to_owned())
        .collect()
}

/// Polls `check` until it holds; panics with `what` after [`DEADLINE`]. Returns the time it took.
pub fn wait_until(what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

/// A loopback port with nothing listening on it (bound, then released).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A tiny HTTP server on loopback that answers every request with one fixed response; stopped when dropped.
pub struct TinyHttp {
    /// Its address.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TinyHttp {
    /// Serves `status` with `body` as `application/json`.
    pub fn start(status: u16, body: &str) -> TinyHttp {
        Self::serve(TcpListener::bind("127.0.0.1:0").unwrap(), status, body)
    }

    /// Serves `status` with `body` on a listener bound by the caller.
    pub fn serve(listener: TcpListener, status: u16, body: &str) -> TinyHttp {
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let _ = stream.write_all(response.as_bytes());
            }
        });
        TinyHttp {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// A SPEC §3 list body naming `servers` (as `host:port`) with ids `s0`, `s1`, ...
    pub fn list_body(servers: &[String], self_index: usize) -> String {
        let entries: Vec<Value> = servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (host, port) = s.rsplit_once(':').unwrap();
                serde_json::json!({"host": host, "port": port.parse::<u16>().unwrap(), "id": format!("s{i}")})
            })
            .collect();
        serde_json::json!({"servers": entries, "self": format!("s{self_index}")}).to_string()
    }
}

impl Drop for TinyHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A PostgreSQL instance in a temp dir, stopped (`-m immediate`) when dropped.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// Run the tools as the `postgres` user (PostgreSQL refuses to run as root).
    as_postgres: bool,
}

impl Postgres {
    /// Finds `initdb` and `pg_ctl`: `$SCOUT_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
    pub fn find_bin() -> Result<PathBuf, String> {
        let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
        if let Some(dir) = std::env::var_os("SCOUT_PG_BIN") {
            let dir = PathBuf::from(dir);
            return if has_tools(&dir) {
                Ok(dir)
            } else {
                Err(format!("SCOUT_PG_BIN={} has no initdb and pg_ctl", dir.display()))
            };
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("/usr/lib/postgresql: {e} (apt-get install postgresql)"))?
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
            .filter(|(_, bin)| has_tools(bin))
            .collect();
        versions.sort();
        versions
            .pop()
            .map(|(_, bin)| bin)
            .ok_or_else(|| "no initdb/pg_ctl under /usr/lib/postgresql/*/bin".to_owned())
    }

    /// Creates a cluster in `dir` with trust authentication and starts it on a free loopback port.
    pub fn start_in(dir: &Path) -> Result<Postgres, String> {
        let bin = Self::find_bin()?;
        let as_postgres = output(Command::new("id").arg("-u"))?.trim() == "0";
        if as_postgres {
            output(Command::new("chown").args(["-R", "postgres:"]).arg(dir))
                .map_err(|e| format!("running as root needs a `postgres` user: {e}"))?;
        }
        let port = closed_port();
        let pg = Postgres {
            bin,
            dir: dir.to_owned(),
            port,
            as_postgres,
        };
        output(pg.tool("initdb").arg("-D").arg(pg.dir.join("data")).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]))
        .map_err(|e| format!("initdb failed: {e}"))?;
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} -c fsync=off",
            pg.port,
            pg.dir.display()
        );
        output(
            pg.tool("pg_ctl")
                .arg("-D")
                .arg(pg.dir.join("data"))
                .arg("-l")
                .arg(pg.dir.join("postgres.log"))
                .args(["-w", "-t", "30", "-o", &options, "start"]),
        )
        .map_err(|e| {
            let log = std::fs::read_to_string(pg.dir.join("postgres.log")).unwrap_or_default();
            format!("pg_ctl start failed: {e}\n{log}")
        })?;
        Ok(pg)
    }

    /// A command running one of the PostgreSQL tools as the right user.
    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    }

    /// Creates database `name` and returns the URL the scout servers are given.
    pub fn create_database(&self, name: &str) -> String {
        let port = self.port.to_string();
        output(
            self.tool("createdb")
                .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name]),
        )
        .unwrap_or_else(|e| panic!("createdb {name}: {e}"));
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ =
            output(
                self.tool("pg_ctl")
                    .arg("-D")
                    .arg(self.dir.join("data"))
                    .args(["-w", "-m", "immediate", "stop"]),
            );
    }
}

/// Runs `cmd`; its stdout, or an error with its output.
pub fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
