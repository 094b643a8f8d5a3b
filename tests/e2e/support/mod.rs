//! Helpers of the end-to-end and CLI tests: the `scoutlb` binary, a tiny loopback HTTP server, bounded
//! polling, and prerequisite checks. Processes both these tests and scout-server's need are in
//! `scoutlb-testkit`.

#![allow(dead_code)] // each test file uses a different part

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::Value;

/// Upper bound of every wait in the tests.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// The `scoutlb` binary under test.
pub const SCOUTLB: &str = env!("CARGO_BIN_EXE_scoutlb");

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

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Waits for a `scoutlb` started by [`Device::spawn`].
pub fn finish(child: Child) -> Run {
    child.wait_with_output().expect("wait for scoutlb").into()
}

/// Runs `scoutlb ARGS` and waits (bounded by the configuration's own deadline).
pub fn scoutlb(args: &[&str]) -> Run {
    Command::new(SCOUTLB)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run scoutlb")
        .into()
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

/// A tiny HTTP server on loopback that answers every request with one fixed response; stopped when dropped.
pub struct TinyHttp {
    /// Its address.
    pub addr: SocketAddr,
    /// The requests it answered.
    pub hits: Arc<AtomicUsize>,
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
        Self::serve_after(listener, status, body, Duration::ZERO)
    }

    /// Serves `status` with `body`, each answer `delay` after the request was read (one at a time).
    pub fn serve_after(listener: TcpListener, status: u16, body: &str, delay: Duration) -> TinyHttp {
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let (flag, counter) = (Arc::clone(&stop), Arc::clone(&hits));
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
                counter.fetch_add(1, Ordering::SeqCst);
                thread::sleep(delay);
                let _ = stream.write_all(response.as_bytes());
            }
        });
        TinyHttp {
            addr,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    /// A wire-format list body naming `servers` (as `host:port`) with ids `s0`, `s1`, ...
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
