//! A device whose state file caches a server list at the 4,096-entry limit, for the large-list
//! test (`tests/e2e/large_list.rs`) and the command bench (`examples/cli/benches/commands.rs`).
//!
//! The servers are `127.0.0.1:20000` to `127.0.0.1:24095` (nothing needs to listen: the
//! configuration says `"probe": "none"`); every seventh one has no id, the others are `srv-N`.
//! The default server is entry [`DEFAULT_INDEX`], the list came from entry 0, and the one seed
//! server is not in the list, so the failover order names all 4,096 entries and then the seed.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Entries in the cached list: the core's limit.
pub const ENTRIES: usize = 4096;
/// Port of entry 0; entry `i` listens (or not) on `FIRST_PORT + i`.
pub const FIRST_PORT: u16 = 20000;
/// The default server's index in the list.
pub const DEFAULT_INDEX: usize = 100;
/// The configured seed server, not in the list.
pub const SEED: &str = "127.0.0.1:19999";

/// `127.0.0.1:port` of entry `i`.
pub fn address(i: usize) -> String {
    format!("127.0.0.1:{}", port(i))
}

/// The port of entry `i`.
pub fn port(i: usize) -> u16 {
    FIRST_PORT + u16::try_from(i).expect("entry index fits a port")
}

/// The id of entry `i`: none for every seventh entry.
pub fn id(i: usize) -> Option<String> {
    (i % 7 != 3).then(|| format!("srv-{i}"))
}

/// The failover order from the default server (behaviour.md, "Failover order"): the default and the entries after it,
/// then the entries before it, with the seed moved up to follow the first 8; as list indexes, `None` for the seed.
pub fn failover_order() -> Vec<Option<usize>> {
    let mut order: Vec<Option<usize>> = (DEFAULT_INDEX..ENTRIES).chain(0..DEFAULT_INDEX).map(Some).collect();
    order.insert(8, None);
    order
}

/// A configuration and its state file in a folder.
pub struct Device {
    /// The configuration file (`--config`).
    pub config: PathBuf,
    /// The state file it names.
    pub state: PathBuf,
}

/// Write the configuration and the state file of the 4,096-entry device into `dir`.
pub fn write(dir: &Path) -> Device {
    let config = dir.join("device.json");
    let state = dir.join("state.json");
    let entry = |i: usize| {
        let mut e = json!({"host": "127.0.0.1", "port": port(i)});
        if let Some(id) = id(i) {
            e["id"] = Value::String(id);
        }
        e
    };
    let doc = json!({
        "format": 1,
        "default_server": {"host": "127.0.0.1", "port": port(DEFAULT_INDEX)},
        "servers": (0..ENTRIES).map(entry).collect::<Vec<_>>(),
        "servers_from": {"host": "127.0.0.1", "port": port(0)},
    });
    std::fs::write(&state, doc.to_string()).expect("write the state file");
    let cfg = json!({"servers": [SEED], "state_file": state, "probe": "none"});
    std::fs::write(&config, cfg.to_string()).expect("write the configuration");
    Device { config, state }
}
