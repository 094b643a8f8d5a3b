//! The `scoutlb` command-line agent run by the tests: one run and its output, and a device (its
//! configuration and state file in a folder of its own).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

/// Upper bound of every wait in the tests.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// The `scoutlb` binary under test, built with the workspace ([`crate::built_binary`]).
pub fn scoutlb_bin() -> PathBuf {
    crate::built_binary("scoutlb").unwrap_or_else(|e| panic!("{e}"))
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
    Command::new(scoutlb_bin())
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
        Command::new(scoutlb_bin())
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
