//! End-to-end tests: scout-server clusters on a shared database (SQLite, then PostgreSQL) and devices
//! (the `scoutlb` CLI, or threads using the core crate) living through the seed's story.
//!
//! Every scenario runs once on a SQLite file and once on a PostgreSQL database of a throw-away
//! PostgreSQL that the test starts on loopback. Missing prerequisites print `SKIPPED: ...`, or fail
//! when `SCOUTLB_TEST_REQUIRE=1` (set by the test command).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use scoutlb_testkit::{PostgresServer, ScoutServerProcess};

use scoutlb_testkit::cli::{DEADLINE, Device, addresses, finish};
use scoutlb_testkit::wait_until;

/// Heartbeat and window of the servers: short, so that a crash is noticed quickly.
const FLAGS: &[&str] = &["--heartbeat-ms", "200", "--window-ms", "1500"];

/// The window given to the servers.
const WINDOW: Duration = Duration::from_millis(1500);

/// Number of devices of the fleet scenario.
const FLEET: usize = 50;

/// A shared database and a folder for the devices of one scenario.
struct Cluster {
    bin: PathBuf,
    db: String,
    dir: PathBuf,
    label: String,
}

impl Cluster {
    /// Starts server `id` of this cluster.
    fn start(&self, id: &str) -> ScoutServerProcess {
        self.start_with(id, &[])
    }

    /// Starts a server that answers garbage to `/scout/v1/servers`.
    fn start_garbage(&self, id: &str) -> ScoutServerProcess {
        self.start_with(id, &["--garbage"])
    }

    /// Starts server `id` of this cluster with `extra` flags.
    fn start_with(&self, id: &str, extra: &[&str]) -> ScoutServerProcess {
        let args = [&["--id", id], FLAGS, extra].concat();
        ScoutServerProcess::start(&self.bin, &self.db, &args, DEADLINE)
    }

    /// A CLI device seeded with `servers`, in a folder of its own.
    fn device(&self, name: &str, servers: &[&ScoutServerProcess]) -> Device {
        let seeds: Vec<String> = servers.iter().map(|s| s.address()).collect();
        Device::new(&self.dir, name, json!({"servers": seeds, "connect_timeout_ms": 2000}))
    }
}

/// The addresses of `servers`, in the given order.
fn addrs(servers: &[&ScoutServerProcess]) -> Vec<String> {
    servers.iter().map(|s| s.address()).collect()
}

/// The addresses of the failed attempts of a connect result.
fn failed(result: &Value) -> Vec<String> {
    result["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["server"]["address"].as_str().unwrap().to_owned())
        .collect()
}

/// The `scout-server` binary, or `None` after reporting the skip.
fn server_bin() -> Option<PathBuf> {
    scoutlb_testkit::built_binary_or_skip("scout-server")
}

// ----------------------------------------------------------------------------------------------
// Scenarios, each given a fresh database.

/// Servers joining and leaving (cleanly and by a crash) appear in the device's list within the window.
fn membership(c: &Cluster) {
    let a = c.start("a");
    let mut b = c.start("b");
    let device = c.device("membership", &[&a]);
    let first = device.run(&["connect"]).ok_json();
    assert_eq!(addresses(&first["servers"]), addrs(&[&a, &b]));

    let device = &device;
    let list_is = |want: Vec<String>| move || addresses(&device.run(&["connect"]).ok_json()["servers"]) == want;
    let mut cs = c.start("c");
    let joined = wait_until("c joins the list", list_is(addrs(&[&a, &b, &cs])));
    b.terminate();
    let left = wait_until("b leaves the list", list_is(addrs(&[&a, &cs])));
    cs.kill();
    let crashed = wait_until("crashed c drops out", list_is(addrs(&[&a])));
    println!(
        "[{}] membership: join seen after {} ms, clean stop after {} ms, crash after {} ms (window {} ms)",
        c.label,
        joined.as_millis(),
        left.as_millis(),
        crashed.as_millis(),
        WINDOW.as_millis()
    );
    assert!(joined < WINDOW, "a new server took {joined:?} to appear");
    assert!(left < WINDOW, "a stopped server took {left:?} to leave");
    assert!(crashed < WINDOW * 3, "a crashed server took {crashed:?} to drop out");
}

/// The demo's story, asserted: first contact, failover, restarts, ManagerLoadBalancer, dead target.
fn story(c: &Cluster) {
    let mut a = c.start("a");
    let b = c.start("b");
    let mut cs = c.start("c");
    let device = c.device("story", &[&a]);

    // First contact: the seed answers and hands out the whole list.
    let r = device.run(&["connect"]).ok_json();
    assert_eq!(r["server"]["address"], a.address());
    assert_eq!(r["server"]["id"], "a");
    assert_eq!(addresses(&r["servers"]), addrs(&[&a, &b, &cs]));
    let state = device.state_file();
    assert_eq!(state["default_server"]["port"], a.addr.port());
    assert_eq!(state["servers"].as_array().unwrap().len(), 3);

    // The device's server stops: the device tries it again, then the next one, which becomes its default.
    a.terminate();
    let r = device.run(&["lost"]).ok_json();
    assert_eq!(r["server"]["address"], b.address());
    assert_eq!(failed(&r), [a.address()]);
    assert_eq!(r["failed"][0]["reason"], "refused");
    assert_eq!(device.state_file()["default_server"]["port"], b.addr.port());

    // Restart: straight to the new default, nothing tried before it.
    let r = device.run(&["connect"]).ok_json();
    assert_eq!(r["server"]["address"], b.address());
    assert_eq!(failed(&r), Vec::<String>::new());

    // A comes back and joins the end of the list.
    a.restart();
    let r = device.run(&["connect"]).ok_json();
    assert_eq!(addresses(&r["servers"]), addrs(&[&b, &cs, &a]));

    // A ManagerLoadBalancer entry pointing at C: the next restart goes there.
    device.configure(json!({"servers": [a.address()], "manager_load_balancer": cs.address()}));
    let r = device.run(&["connect"]).ok_json();
    assert_eq!(r["server"]["address"], cs.address());
    assert_eq!(r["via_balancer"], true);
    assert_eq!(device.state_file()["default_server"]["port"], cs.addr.port());

    // The balancer's target crashes: FailureLoadBalancing goes to the next entry after C, which is A.
    cs.kill();
    let r = device.run(&["lost"]).ok_json();
    assert_eq!(r["server"]["address"], a.address());
    assert_eq!(failed(&r), [cs.address()]);
    // Restart: the entry is tried first again, then the default.
    let r = device.run(&["connect"]).ok_json();
    assert_eq!(r["server"]["address"], a.address());
    assert_eq!(r["via_balancer"], false);
    assert_eq!(failed(&r), [cs.address()]);
    assert_eq!(device.state_file()["default_server"]["port"], a.addr.port());
}

/// A server that answers garbage is a failed attempt; the device keeps its cached list.
fn garbage(c: &Cluster) {
    let mut a = c.start("a");
    let g = c.start_garbage("g");
    let mut b = c.start("b");
    let device = c.device("garbage", &[&a]);
    let r = device.run(&["connect"]).ok_json();
    assert_eq!(addresses(&r["servers"]), addrs(&[&a, &g, &b]));

    // A stops: the device tries A, then G (garbage, skipped), then B.
    a.terminate();
    let r = device.run(&["lost"]).ok_json();
    assert_eq!(r["server"]["address"], b.address());
    assert_eq!(failed(&r), addrs(&[&a, &g]));
    assert_eq!(r["failed"][1]["reason"], "invalid_list", "{r}");
    assert_eq!(addresses(&r["servers"]), addrs(&[&g, &b]));

    // B stops too: only garbage answers. The call fails, the cached list and default stay.
    b.terminate();
    let run = device.run(&["lost"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("invalid_list"), "{run:?}");
    let cached = device.run(&["servers"]).ok_json();
    assert_eq!(addresses(&cached["servers"]), addrs(&[&g, &b]));
    assert_eq!(cached["default_server"]["address"], b.address());
    assert_eq!(device.state_file()["servers"].as_array().unwrap().len(), 2);

    // B comes back: the device reaches it again.
    b.restart();
    let r = device.run(&["lost"]).ok_json();
    assert_eq!(r["server"]["address"], b.address());
}

/// One fleet run: 50 devices (processes of the CLI, each with its own state file) on the middle
/// server of three; that server is killed and every device reconnects (`lost`). Returns the
/// devices per server id, before and after.
fn fleet(c: &Cluster, mode: &str) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let mut servers = [c.start("a"), c.start("b"), c.start("c")];
    let seed = servers[1].address();
    let devices: Vec<Device> = (0..FLEET)
        .map(|i| {
            let id = format!("device-{i:02}");
            let config =
                json!({"servers": [seed], "failover_order": mode, "device_id": id, "connect_timeout_ms": 2000});
            Device::new(&c.dir, &id, config)
        })
        .collect();
    // Every device runs `command` at the same time; the server id each one reached, counted.
    let all = |command: &str, servers: &[ScoutServerProcess]| -> BTreeMap<String, usize> {
        let children: Vec<_> = devices.iter().map(|d| d.spawn(&[command])).collect();
        let mut table: BTreeMap<String, usize> = servers.iter().map(|s| (s.id.clone(), 0)).collect();
        for (i, child) in children.into_iter().enumerate() {
            let run = finish(child);
            let reached = run.ok_json();
            let id = reached["server"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("device {i}: {reached}"));
            *table.entry(id.to_owned()).or_default() += 1;
            if command == "connect" {
                assert_eq!(reached["servers"].as_array().unwrap().len(), 3, "device {i}: {reached}");
            }
        }
        table
    };
    let before = all("connect", &servers);
    servers[1].kill();
    let start = Instant::now();
    let after = all("lost", &servers);
    println!(
        "[{}] fleet ({mode}): {FLEET} devices reconnected in {} ms",
        c.label,
        start.elapsed().as_millis()
    );
    (before, after)
}

/// The fleet in `list` and in `spread` mode, each on a fresh database; prints the distribution table.
fn fleets(make: &mut dyn FnMut(&str) -> Cluster) {
    let mut rows = Vec::new();
    for mode in ["list", "spread"] {
        let cluster = make(&format!("fleet-{mode}"));
        let (before, after) = fleet(&cluster, mode);
        assert_eq!(before.values().sum::<usize>(), FLEET);
        assert_eq!(before["b"], FLEET, "every device starts on its seed, b: {before:?}");
        assert_eq!(
            after.values().sum::<usize>(),
            FLEET,
            "every device reconnected: {after:?}"
        );
        assert_eq!(after["b"], 0, "nobody is on the killed server: {after:?}");
        if mode == "list" {
            // The seed's behaviour: the next entry of the list takes all of them.
            assert_eq!(after["c"], FLEET, "list mode: {after:?}");
        } else {
            // Rendezvous hashing: roughly even over the two survivors (each side is Binomial(50, 1/2)).
            assert!(after["a"] >= 12 && after["c"] >= 12, "spread mode is uneven: {after:?}");
        }
        rows.push((mode, cluster.label.clone(), before, after));
    }
    println!("\nFleet of {FLEET} devices on servers a, b, c; b is killed (SIGKILL); devices per server:");
    println!(
        "  {:<8} {:<22} {:>5} {:>5} {:>5}   {:>5} {:>5} {:>5}",
        "mode", "database", "a", "b", "c", "a", "b", "c"
    );
    println!("  {:<8} {:<22} {:^17}   {:^17}", "", "", "before", "after");
    for (mode, label, before, after) in rows {
        println!(
            "  {:<8} {:<22} {:>5} {:>5} {:>5}   {:>5} {:>5} {:>5}",
            mode, label, before["a"], before["b"], before["c"], after["a"], after["b"], after["c"]
        );
    }
}

// ----------------------------------------------------------------------------------------------
// SQLite: one file per scenario, in a temp dir.

/// A cluster on a fresh SQLite file under `dir`.
fn sqlite(bin: &Path, dir: &Path, name: &str) -> Cluster {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    Cluster {
        bin: bin.to_owned(),
        db: folder.join("scout.sqlite").display().to_string(),
        dir: folder,
        label: format!("sqlite {name}"),
    }
}

/// Runs `scenario` on a fresh SQLite cluster.
fn on_sqlite(name: &str, scenario: fn(&Cluster)) {
    let Some(bin) = server_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    scenario(&sqlite(&bin, dir.path(), name));
}

#[test]
fn sqlite_membership() {
    on_sqlite("membership", membership);
}

#[test]
fn sqlite_story() {
    on_sqlite("story", story);
}

#[test]
fn sqlite_garbage() {
    on_sqlite("garbage", garbage);
}

#[test]
fn sqlite_fleet() {
    let Some(bin) = server_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    fleets(&mut |name| sqlite(&bin, dir.path(), name));
}

// ----------------------------------------------------------------------------------------------
// PostgreSQL: one throw-away server for all scenarios, one database per scenario.

#[test]
fn postgres_all_scenarios() {
    let Some(bin) = server_bin() else { return };
    if !PostgresServer::installed() {
        return;
    }
    let pg = PostgresServer::start().unwrap_or_else(|e| panic!("{e}"));
    let devices = tempfile::tempdir().unwrap();
    let mut make = |name: &str| {
        let folder = devices.path().join(name);
        std::fs::create_dir_all(&folder).unwrap();
        Cluster {
            bin: bin.clone(),
            db: pg.create_database(&name.replace('-', "_")),
            dir: folder,
            label: format!("postgres {name}"),
        }
    };
    membership(&make("membership"));
    story(&make("story"));
    garbage(&make("garbage"));
    fleets(&mut make);
}
