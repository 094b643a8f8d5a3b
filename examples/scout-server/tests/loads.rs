//! End-to-end tests of the loads and weights servers publish (behaviour.md, "Reference cluster",
//! "Loads and weights"): real processes on one SQLite file (and PostgreSQL when the testkit can
//! start one), devices that check in with plain HTTP requests, and a `scoutlb::Client` that
//! rebalances by the loads.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use scoutlb_testkit::{PostgresServer, ScoutServerProcess as Server, wait_until};
use serde_json::Value;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_scout-server");

/// A fresh SQLite path in a temp dir that lives as long as the returned guard.
fn sqlite_db() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scout.sqlite").to_str().unwrap().to_owned();
    (dir, path)
}

/// `GET /scout/v1/servers` as the device `device` (none: no header); the status.
fn check_in(server: &Server, device: Option<&str>) -> u16 {
    let mut stream = TcpStream::connect_timeout(&server.addr, Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let header = device.map(|d| format!("Scout-Device-Id: {d}\r\n")).unwrap_or_default();
    write!(
        stream,
        "GET /scout/v1/servers HTTP/1.1\r\nHost: x\r\n{header}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    raw.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line")
}

/// The `load` of each entry of `server`'s list, by id (`None`: the entry has none).
fn loads(server: &Server) -> Vec<(String, Option<u64>)> {
    field(&server.servers(), "load")
}

/// [`loads`] asked as the device `device` (a check-in), for a server that refuses requests
/// without a device id.
fn loads_as(server: &Server, device: &str) -> Vec<(String, Option<u64>)> {
    let mut stream = TcpStream::connect_timeout(&server.addr, Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        stream,
        "GET /scout/v1/servers HTTP/1.1\r\nHost: x\r\nScout-Device-Id: {device}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let body = &raw[raw.find("\r\n\r\n").expect("a head") + 4..];
    field(&serde_json::from_str(body).unwrap(), "load")
}

/// The value of `key` (a whole number) of each entry of `list`, by id.
fn field(list: &Value, key: &str) -> Vec<(String, Option<u64>)> {
    list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_str().unwrap().to_owned(), e[key].as_u64()))
        .collect()
}

/// `[(id, Some(n))...]` for comparing with [`loads`].
fn expect(pairs: &[(&str, u64)]) -> Vec<(String, Option<u64>)> {
    pairs.iter().map(|(id, n)| ((*id).to_owned(), Some(*n))).collect()
}

/// Waits until every one of `servers` publishes `want` as its loads.
#[track_caller]
fn wait_for_loads(servers: &[&Server], want: &[(&str, u64)]) {
    let want = expect(want);
    for server in servers {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = loads(server);
            if got == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} publishes {got:?}, not {want:?}; its log:\n{}",
                server.id,
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn each_device_counts_at_the_server_it_asked_last() {
    let (_dir, db) = sqlite_db();
    let a = Server::launch(&db, &["--id", "a", "--weight", "3"]);
    let b = Server::launch(&db, &["--id", "b"]);
    let c = Server::launch(&db, &["--id", "c"]);
    // Before any device: a load of 0 in every entry.
    wait_for_loads(&[&a, &b, &c], &[("a", 0), ("b", 0), ("c", 0)]);
    // The weight is in every server's list, for a only.
    for server in [&a, &b, &c] {
        let weights = field(&server.servers(), "weight");
        assert_eq!(
            weights,
            [("a".into(), Some(3)), ("b".into(), None), ("c".into(), None)],
            "{}",
            server.id
        );
    }

    for device in ["d1", "d2", "d3"] {
        assert_eq!(check_in(&a, Some(device)), 200);
    }
    assert_eq!(check_in(&b, Some("d4")), 200);
    // Without a device id: served, not counted.
    for _ in 0..5 {
        assert_eq!(check_in(&a, None), 200);
    }
    wait_for_loads(&[&a, &b, &c], &[("a", 3), ("b", 1), ("c", 0)]);
    let generation = a.servers()["generation"].clone();

    // d1 moves to b (and asks again, twice): it counts on b only.
    assert_eq!(check_in(&b, Some("d1")), 200);
    assert_eq!(check_in(&b, Some("d1")), 200);
    wait_for_loads(&[&a, &b, &c], &[("a", 2), ("b", 2), ("c", 0)]);
    // A list that differs only by its loads keeps its generation.
    assert_eq!(a.servers()["generation"], generation);
}

#[test]
fn a_check_in_counts_for_the_load_window_only() {
    let (_dir, db) = sqlite_db();
    let a = Server::launch(&db, &["--id", "a", "--load-window", "2"]);
    assert_eq!(check_in(&a, Some("d1")), 200);
    wait_for_loads(&[&a], &[("a", 1)]);
    let seen = Instant::now();
    wait_for_loads(&[&a], &[("a", 0)]);
    assert!(seen.elapsed() >= Duration::from_millis(900), "{:?}", seen.elapsed());
}

#[test]
fn a_drained_or_refused_device_is_not_counted() {
    let (dir, db) = sqlite_db();
    let known = dir.path().join("known");
    std::fs::write(&known, "d1\nd2\n").unwrap();
    let admin = format!("127.0.0.1:{}", scoutlb_testkit::free_port());
    let a = Server::launch(
        &db,
        &[
            "--id",
            "a",
            "--known-devices",
            known.to_str().unwrap(),
            "--admin",
            &admin,
        ],
    );
    assert_eq!(check_in(&a, Some("stranger")), 403);
    assert_eq!(check_in(&a, Some("d1")), 200);
    let drained = Command::new(BIN).args(["drain", &admin]).output().unwrap();
    assert!(drained.status.success(), "{drained:?}");
    assert_eq!(check_in(&a, Some("d2")), 503);
    let undrained = Command::new(BIN).args(["undrain", &admin]).output().unwrap();
    assert!(undrained.status.success(), "{undrained:?}");
    // Asked as d1, counted already.
    wait_until("d1 is counted", || loads_as(&a, "d1") == expect(&[("a", 1)]));
    // The status names the load too.
    let status = Command::new(BIN).args(["status", &admin]).output().unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["load"], 1, "{status}");
    // Another tick or two: still only d1.
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(loads_as(&a, "d1"), expect(&[("a", 1)]));
}

#[test]
fn a_server_that_does_not_count_hides_every_load() {
    let (_dir, db) = sqlite_db();
    let a = Server::launch(&db, &["--id", "a"]);
    assert_eq!(check_in(&a, Some("d1")), 200);
    wait_for_loads(&[&a], &[("a", 1)]);
    // A server of the version before the loads: its row has no load_window_ms.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         INSERT INTO scout_servers (id, host, port, started_at, heartbeat_at)
             VALUES ('old', '127.0.0.1', 9, 9999999999999, 9999999999999);
         UPDATE scout_generation SET value = value + 1;
         COMMIT;",
    )
    .unwrap();
    wait_until("the old server is listed", || {
        a.servers()["servers"].as_array().unwrap().len() == 2
    });
    assert_eq!(loads(&a), [("a".into(), None), ("old".into(), None)]);
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         DELETE FROM scout_servers WHERE id = 'old';
         UPDATE scout_generation SET value = value + 1;
         COMMIT;",
    )
    .unwrap();
    wait_for_loads(&[&a], &[("a", 1)]);
}

#[test]
fn a_locked_database_keeps_the_last_loads_and_the_check_ins() {
    let (_dir, db) = sqlite_db();
    let mut a = Server::launch(&db, &["--id", "a"]);
    assert_eq!(check_in(&a, Some("d1")), 200);
    wait_for_loads(&[&a], &[("a", 1)]);

    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let locked = Instant::now();
    assert_eq!(check_in(&a, Some("d2")), 200);
    while locked.elapsed() < Duration::from_secs(3) {
        assert!(a.is_running(), "server died; log:\n{}", a.log());
        // The last loads stay served.
        assert_eq!(loads(&a), expect(&[("a", 1)]));
        std::thread::sleep(Duration::from_millis(100));
    }
    conn.execute_batch("COMMIT").unwrap();
    drop(conn);
    assert!(
        a.log().contains("loads: writing the check-ins of 1 devices failed"),
        "lock not felt:\n{}",
        a.log()
    );
    // d2's check-in was kept, and is written once the database is back.
    wait_for_loads(&[&a], &[("a", 2)]);
    wait_until("the recovery is logged", || {
        a.log().contains("loads: database available again")
    });
}

#[test]
fn a_bad_weight_is_refused() {
    for (bad, why) in [
        ("0", "--weight wants a whole number from 1 to 1000000"),
        ("1000001", "--weight wants a whole number from 1 to 1000000"),
        ("2.5", "--weight wants a whole number from 1 to 1000000"),
    ] {
        let out = Command::new(BIN)
            .args(["--db", "x.sqlite", "--weight", bad])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains(why), "{bad}: {stderr}");
    }
}

#[test]
fn a_client_on_an_overloaded_server_plans_the_move_to_the_lighter_one() {
    let (dir, db) = sqlite_db();
    let heavy = Server::launch(&db, &["--id", "heavy"]);
    // Its weight makes its share almost all: a device of `heavy` moves with probability 1 − 10⁻⁶.
    let light = Server::launch(&db, &["--id", "light", "--weight", "1000000"]);
    for i in 0..5 {
        assert_eq!(check_in(&heavy, Some(&format!("d{i}"))), 200);
    }
    wait_for_loads(&[&heavy, &light], &[("heavy", 5), ("light", 0)]);

    let state = dir.path().join("state.json");
    let config = serde_json::json!({
        "servers": [heavy.address()],
        "device_id": "dev-rebalancing",
        "attempt_delay_ms": 0,
        "state_file": state,
        "rebalance": {"enabled": true, "window_ms": 0, "rate": 1000},
    });
    let client = scoutlb::Client::new(scoutlb::Config::from_json(&config.to_string()).unwrap()).unwrap();
    let connected = client.connect().unwrap();
    let (heavy_addr, light_addr) = (
        scoutlb::Server::new("127.0.0.1", heavy.addr.port()).unwrap(),
        scoutlb::Server::new("127.0.0.1", light.addr.port()).unwrap(),
    );
    assert_eq!(connected.server, heavy_addr);
    let plan = connected.rebalance.clone().expect("a planned move");
    assert_eq!((plan.from.clone(), plan.to.clone()), (heavy_addr, light_addr.clone()));
    std::thread::sleep(plan.after);
    let moved = client.rebalance().unwrap().expect("the move is made");
    assert_eq!(moved.server, light_addr);
    assert_eq!(client.default_server(), Some(light_addr));
    // The device asked heavy, then light: it counts on light.
    wait_for_loads(&[&heavy, &light], &[("heavy", 5), ("light", 1)]);
}

#[test]
fn a_signed_list_signs_the_loads() {
    let (dir, db) = sqlite_db();
    let key = dir.path().join("list.key");
    let out = Command::new(BIN).arg("keygen").arg(&key).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let public = scoutlb::PublicKey::from_base64(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let a = Server::launch(&db, &["--id", "a", "--list-key", key.to_str().unwrap()]);
    let b = Server::launch(&db, &["--id", "b", "--list-key", key.to_str().unwrap()]);
    assert_eq!(check_in(&a, Some("d1")), 200);
    assert_eq!(check_in(&a, Some("d2")), 200);
    wait_for_loads(&[&a, &b], &[("a", 2), ("b", 0)]);
    // What a device with list_keys takes: the signed payload, with the loads in it.
    let (_, _, body) = b.get("/scout/v1/servers");
    let list = scoutlb::ServerList::from_json(body.as_bytes()).unwrap();
    let trust = scoutlb::Trust {
        keys: vec![public],
        min_version: 0,
        now: std::time::SystemTime::now(),
    };
    let checked = trust.check(&list).unwrap();
    let signed: Vec<_> = checked.entries().iter().map(|e| e.load).collect();
    assert_eq!(signed, [Some(2), Some(0)]);
    // The version is the membership generation, loads or not.
    assert_eq!(Some(checked.proof().unwrap().version), list.generation());
}

/// Sends `GET /scout/v1/servers` as each of `devices` on one keep-alive connection (pipelined,
/// the last with `Connection: close`); how many answers were `200`.
fn pipelined_check_ins(server: &Server, devices: Vec<String>) -> usize {
    let mut stream = TcpStream::connect_timeout(&server.addr, Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let last = devices.len() - 1;
        let mut out = Vec::new();
        for (i, device) in devices.iter().enumerate() {
            let close = if i == last { "Connection: close\r\n" } else { "" };
            write!(
                out,
                "GET /scout/v1/servers HTTP/1.1\r\nHost: x\r\nScout-Device-Id: {device}\r\n{close}\r\n"
            )
            .unwrap();
        }
        writer.write_all(&out).unwrap();
    });
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    sender.join().unwrap();
    raw.matches("HTTP/1.1 200 OK\r\n").count()
}

/// 10,000 devices ask server `a` of two on `db` at once; both servers count them all.
fn boot_storm(db: &str, ids: [&str; 2]) {
    const DEVICES: usize = 10_000;
    const CONNECTIONS: usize = 8;
    let a = Server::launch(db, &["--id", ids[0]]);
    let b = Server::launch(db, &["--id", ids[1]]);
    let start = Instant::now();
    let served: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CONNECTIONS)
            .map(|c| {
                let devices = (c..DEVICES)
                    .step_by(CONNECTIONS)
                    .map(|i| format!("dev-{i:05}"))
                    .collect();
                let a = &a;
                scope.spawn(move || pipelined_check_ins(a, devices))
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let asked = start.elapsed();
    assert_eq!(served, DEVICES);
    wait_for_loads(&[&a, &b], &[(ids[0], DEVICES as u64), (ids[1], 0)]);
    // Figures for the README, shown with --nocapture.
    println!(
        "{db}: {DEVICES} devices asked in {asked:.2?} on {CONNECTIONS} connections; counted by both servers after {:.2?}",
        start.elapsed()
    );
    let log = a.log();
    let writes: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("written in one transaction"))
        .collect();
    assert!(!writes.is_empty(), "{log}");
    println!("{}", writes.join("\n"));
}

#[test]
fn a_boot_storm_of_10000_devices_is_counted() {
    let (_dir, db) = sqlite_db();
    boot_storm(&db, ["a", "b"]);
}

#[test]
fn postgres_servers_publish_loads_and_weights() {
    if !PostgresServer::installed() {
        return;
    }
    let pg = PostgresServer::start().unwrap_or_else(|e| panic!("{e}"));
    let url = pg.url();
    let mut a = Server::launch(&url, &["--id", "pg-a", "--weight", "2"]);
    let mut b = Server::launch(&url, &["--id", "pg-b"]);
    for device in ["d1", "d2", "d3"] {
        assert_eq!(check_in(&a, Some(device)), 200);
    }
    // d3 moves: a moment later, as a device that changes servers does (check-ins at two servers
    // a millisecond apart may count at either, by the precision of the clocks).
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(check_in(&b, Some("d3")), 200);
    assert_eq!(check_in(&b, None), 200);
    wait_for_loads(&[&a, &b], &[("pg-a", 2), ("pg-b", 1)]);
    assert_eq!(
        field(&b.servers(), "weight"),
        [("pg-a".into(), Some(2)), ("pg-b".into(), None)]
    );
    // A clean stop leaves the list at once; a storm on a new pair (other ids, other loads).
    assert!(a.terminate().success() && b.terminate().success());
    boot_storm(&url, ["pg-c", "pg-d"]);
}
