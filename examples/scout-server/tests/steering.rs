//! End-to-end tests of servers that steer devices (behaviour.md, "Servers that steer devices"):
//! the drain (through the admin endpoint, and before a stop with `--drain-on-stop`) and the
//! refusal of devices `--known-devices` does not name; real processes on loopback ports.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use scoutlb_testkit::{ScoutServerProcess as Server, free_port, wait_until};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_scout-server");

/// The header devices name themselves in.
const DEVICE_ID: &str = "Scout-Device-Id";

/// A fresh SQLite path in a temp dir that lives as long as the returned guard.
fn sqlite_db() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scout.sqlite").to_str().unwrap().to_owned();
    (dir, path)
}

/// One answer, as a raw client sees it.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    /// The value of the header `name`, if sent.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// One HTTP/1.1 request with `Connection: close` and the extra `headers`; the answer is parsed
/// with httparse.
fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let mut parsed = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut parsed);
    let httparse::Status::Complete(len) = response.parse(&raw).unwrap() else {
        panic!("a partial answer: {}", String::from_utf8_lossy(&raw));
    };
    Answer {
        status: response.code.unwrap(),
        headers: response
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
            .collect(),
        body: String::from_utf8_lossy(&raw[len..]).into_owned(),
    }
}

/// `GET /scout/v1/servers` as the device `device` (none: no header).
fn servers_as(server: &Server, device: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = device.map(|d| (DEVICE_ID, d)).into_iter().collect();
    request(server.addr, "GET", "/scout/v1/servers", &headers)
}

/// Sends `signal` (`TERM`, `HUP`, ...) to the server without waiting.
fn send(server: &Server, signal: &str) {
    let pid = server.pid().expect("running").to_string();
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Runs `scout-server ARGS` to its end: exit code, stdout, stderr.
fn scout_server(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_admin_endpoint_drains_and_undrains() {
    let (_dir, db) = sqlite_db();
    let admin = format!("127.0.0.1:{}", free_port());
    let peer = Server::launch(&db, &["--id", "peer"]);
    let server = Server::launch(&db, &["--id", "drained", "--admin", &admin]);
    let admin_addr: SocketAddr = admin.parse().unwrap();
    // The log is read by a thread of its own: it may come a little after the ready line.
    wait_until("the log names the admin endpoint", || {
        server.log().contains(&format!("admin endpoint on http://{admin}/"))
    });

    let status = request(admin_addr, "GET", "/scout/v1/admin/status", &[]);
    assert_eq!(status.status, 200, "{status:?}");
    let status = status.json();
    assert_eq!(
        (status["draining"].as_bool(), status["retry_after"].as_u64()),
        (Some(false), Some(30))
    );
    assert_eq!(status["known_devices"], serde_json::Value::Null);
    assert_eq!(servers_as(&server, Some("dev-1")).status, 200);

    // The subcommand a script uses, and its answer: the status.
    let (code, stdout, stderr) = scout_server(&["drain", &admin, "--retry-after", "7"]);
    assert_eq!(code, Some(0), "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (status["draining"].as_bool(), status["retry_after"].as_u64()),
        (Some(true), Some(7))
    );

    let answer = servers_as(&server, Some("dev-1"));
    assert_eq!(
        (answer.status, answer.header("Retry-After")),
        (503, Some("7")),
        "{answer:?}"
    );
    assert_eq!(answer.header("Content-Type"), Some("application/json"));
    assert_eq!(
        answer.json(),
        serde_json::json!({"draining": true, "retry_after": 7, "self": "drained"})
    );
    let health = request(server.addr, "GET", "/scout/v1/health", &[]);
    assert_eq!((health.status, health.body.as_str()), (503, "draining"));
    assert_eq!(health.header("Retry-After"), Some("7"));
    // A draining server keeps its place in the list its peers serve.
    assert_eq!(peer.listed_ids(), ["peer", "drained"]);

    // Over HTTP, with another time: the drain goes on with it.
    let again = request(admin_addr, "POST", "/scout/v1/admin/drain?retry_after=90", &[]);
    assert_eq!((again.status, again.json()["retry_after"].as_u64()), (200, Some(90)));
    assert_eq!(servers_as(&server, None).header("Retry-After"), Some("90"));
    let bad = request(admin_addr, "POST", "/scout/v1/admin/drain?retry_after=0", &[]);
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.json()["error"].as_str().unwrap().contains("1 to 3600"), "{bad:?}");

    let undrained = request(admin_addr, "POST", "/scout/v1/admin/undrain", &[]);
    assert_eq!(
        (undrained.status, undrained.json()["draining"].as_bool()),
        (200, Some(false))
    );
    let answer = servers_as(&server, Some("dev-1"));
    assert_eq!((answer.status, answer.header("Retry-After")), (200, None), "{answer:?}");
    assert_eq!(request(server.addr, "GET", "/scout/v1/health", &[]).status, 200);

    let (code, stdout, _) = scout_server(&["status", &admin]);
    assert_eq!(code, Some(0));
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (
            status["served"].as_u64(),
            status["drained"].as_u64(),
            status["refused"].as_u64()
        ),
        (Some(2), Some(2), Some(0)),
        "{status}"
    );
    let (code, _, stderr) = scout_server(&["undrain", &admin]);
    assert_eq!(code, Some(0), "{stderr}");

    // The admin paths are not on the devices' port, nor the list on the admin port.
    assert_eq!(request(server.addr, "POST", "/scout/v1/admin/drain", &[]).status, 404);
    assert_eq!(request(admin_addr, "GET", "/scout/v1/servers", &[]).status, 404);
    assert_eq!(request(admin_addr, "GET", "/scout/v1/admin/drain", &[]).status, 405);
}

#[test]
fn sigterm_with_drain_on_stop_drains_then_leaves_the_list() {
    let (_dir, db) = sqlite_db();
    let stays = Server::launch(&db, &["--id", "stays"]);
    let mut leaves = Server::launch(
        &db,
        &[
            "--id",
            "leaves",
            "--drain-on-stop",
            "2",
            "--retry-after",
            "5",
            "--heartbeat-ms",
            "200",
            "--window-ms",
            "1000",
        ],
    );
    assert_eq!(servers_as(&leaves, None).status, 200);

    send(&leaves, "TERM");
    let signalled = Instant::now();
    wait_until("the stopping server drains", || servers_as(&leaves, None).status == 503);
    let answer = servers_as(&leaves, Some("dev-1"));
    assert_eq!(answer.header("Retry-After"), Some("5"), "{answer:?}");
    assert_eq!(answer.json()["draining"], true);
    // Longer than the window (1 s): it heartbeats on, so its peers keep listing it.
    while signalled.elapsed() < Duration::from_millis(1600) {
        assert!(leaves.is_running(), "stopped before its drain ended:\n{}", leaves.log());
        assert_eq!(stays.listed_ids(), ["stays", "leaves"]);
        thread::sleep(Duration::from_millis(100));
    }
    wait_until("the server stops after its drain", || !leaves.is_running());
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "{:?}",
        signalled.elapsed()
    );
    wait_until("the whole log is read", || {
        leaves.log().contains("deregistered; stopped")
    });
    let log = leaves.log();
    assert!(log.contains("stopping: draining for 2 s"), "{log}");
    assert!(log.contains("deregistered; stopped"), "{log}");
    assert_eq!(stays.listed_ids(), ["stays"]);
}

#[test]
fn a_second_signal_ends_the_drain_and_stops_at_once() {
    let (_dir, db) = sqlite_db();
    let admin = format!("127.0.0.1:{}", free_port());
    let stays = Server::launch(&db, &["--id", "stays"]);
    let mut leaves = Server::launch(&db, &["--id", "leaves", "--drain-on-stop", "60", "--admin", &admin]);
    send(&leaves, "INT");
    wait_until("the stopping server drains", || servers_as(&leaves, None).status == 503);
    // A drain before a stop is not ended by the admin endpoint.
    let undrain = request(admin.parse().unwrap(), "POST", "/scout/v1/admin/undrain", &[]);
    assert_eq!(undrain.status, 409, "{undrain:?}");
    assert!(undrain.json()["error"].as_str().unwrap().contains("stopping"));
    assert_eq!(servers_as(&leaves, None).status, 503);

    send(&leaves, "TERM");
    let second = Instant::now();
    wait_until("the server stops", || !leaves.is_running());
    assert!(second.elapsed() < Duration::from_secs(5), "{:?}", second.elapsed());
    wait_until("the whole log is read", || {
        leaves.log().contains("deregistered; stopped")
    });
    let log = leaves.log();
    assert!(log.contains("second signal: ending the drain"), "{log}");
    assert!(log.contains("deregistered; stopped"), "{log}");
    assert_eq!(stays.listed_ids(), ["stays"]);
}

#[test]
fn known_devices_are_served_others_refused_and_the_file_is_read_again() {
    let (dir, db) = sqlite_db();
    let file = dir.path().join("known-devices");
    std::fs::write(&file, "# the fleet\ndev-1\n  dev-3  # the lab\n").unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let file_arg = file.to_str().unwrap();
    let server = Server::launch(&db, &["--id", "picky", "--known-devices", file_arg, "--admin", &admin]);
    // The log is read by a thread of its own: it may come a little after the ready line.
    wait_until("the log names the file", || {
        server.log().contains("serving only the 2 devices named in")
    });

    let allowed = servers_as(&server, Some("dev-1"));
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(allowed.json()["self"], "picky");
    assert_eq!(servers_as(&server, Some("dev-3")).status, 200);
    let refused = servers_as(&server, Some("dev-2"));
    assert_eq!(
        (refused.status, refused.header("Content-Type")),
        (403, Some("application/json"))
    );
    assert_eq!(
        refused.json(),
        serde_json::json!({"refused": "device dev-2 is not known to this cluster"})
    );
    let anonymous = servers_as(&server, None);
    assert_eq!(anonymous.status, 403);
    assert_eq!(
        anonymous.json(),
        serde_json::json!({"refused": "the device sent no Scout-Device-Id"})
    );
    // The health check names no device.
    assert_eq!(request(server.addr, "GET", "/scout/v1/health", &[]).status, 200);

    // A change of the file is seen without a signal.
    std::fs::write(&file, "dev-1\ndev-2\n").unwrap();
    wait_until("the changed file is read again", || {
        servers_as(&server, Some("dev-2")).status == 200
    });
    assert_eq!(servers_as(&server, Some("dev-3")).status, 403);

    // SIGHUP reads it at once, even when it looks unchanged.
    send(&server, "HUP");
    wait_until("SIGHUP reads the file again", || {
        server.log().contains("read again (SIGHUP): 2 ids")
    });
    // A file that cannot be read leaves the ids read before in force.
    std::fs::remove_file(&file).unwrap();
    send(&server, "HUP");
    wait_until("the failed read is logged", || {
        server.log().contains("keeping the 2 ids read before")
    });
    assert_eq!(servers_as(&server, Some("dev-2")).status, 200);

    let status = request(admin.parse().unwrap(), "GET", "/scout/v1/admin/status", &[]).json();
    assert_eq!(status["known_devices"], 2);
    // dev-2 and the anonymous device, dev-3 after the change, and dev-2 while the change was not seen yet.
    assert!(status["refused"].as_u64().unwrap() >= 3, "{status}");
}

#[test]
fn bad_steering_options_are_clear_errors() {
    let (dir, db) = sqlite_db();
    let (code, _, stderr) = scout_server(&["--db", &db, "--listen", "127.0.0.1:0", "--admin", "0.0.0.0:22200"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--admin 0.0.0.0:22200 is not a loopback address"),
        "{stderr}"
    );
    let (code, _, stderr) = scout_server(&["--db", &db, "--admin", "scout.corp.example:22200"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("such as 127.0.0.1:22200"), "{stderr}");

    let missing = dir.path().join("no-such-file");
    let (code, _, stderr) = scout_server(&[
        "--db",
        &db,
        "--listen",
        "127.0.0.1:0",
        "--known-devices",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot read the known devices file"), "{stderr}");

    let (code, _, stderr) = scout_server(&["--db", &db, "--retry-after", "3601"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("from 1 to 3600"), "{stderr}");

    // Nothing listens there: the subcommand says so and fails.
    let nobody = format!("127.0.0.1:{}", free_port());
    let (code, _, stderr) = scout_server(&["drain", &nobody]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
}

/// A `scoutlb` device with `device_id` (none: no id) whose seeds are `servers`, in that order.
fn device(servers: &[&Server], device_id: Option<&str>) -> scoutlb::Client {
    device_with(servers, device_id, None)
}

/// A device as [`device`] makes, with its state in `state_file` when given.
fn device_with(servers: &[&Server], device_id: Option<&str>, state_file: Option<&std::path::Path>) -> scoutlb::Client {
    let mut config = serde_json::json!({
        "servers": servers.iter().map(|s| s.address()).collect::<Vec<_>>(),
        "attempt_delay_ms": 0,
        "connect_timeout_ms": 3000,
        "deadline_ms": 5000,
    });
    if let Some(id) = device_id {
        config["device_id"] = id.into();
    }
    if let Some(path) = state_file {
        config["state_file"] = path.to_str().unwrap().into();
    }
    scoutlb::Client::new(scoutlb::Config::from_json(&config.to_string()).unwrap()).unwrap()
}

#[test]
fn a_scoutlb_device_goes_to_a_peer_of_a_draining_server_and_a_refused_one_stops() {
    let (dir, db) = sqlite_db();
    let file = dir.path().join("known-devices");
    std::fs::write(&file, "dev-1\n").unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let known = ["--known-devices", file.to_str().unwrap()];
    let a = Server::launch(&db, &[&["--id", "a", "--admin", &admin][..], &known].concat());
    let b = Server::launch(&db, &[&["--id", "b"][..], &known].concat());
    let sa: scoutlb::Server = a.address().parse().unwrap();
    let sb: scoutlb::Server = b.address().parse().unwrap();

    let dev1 = device(&[&a, &b], Some("dev-1"));
    assert_eq!(dev1.connect().unwrap().server, sa);

    let (code, _, stderr) = scout_server(&["drain", &admin, "--retry-after", "120"]);
    assert_eq!(code, Some(0), "{stderr}");
    let connected = dev1.reconnect().unwrap();
    assert_eq!(connected.server, sb);
    assert_eq!(connected.failed[0].server, sa);
    assert_eq!(
        connected.failed[0].reason,
        scoutlb::FailReason::Draining(Duration::from_secs(120))
    );
    // The draining server is still the device's default and in the list it took from b.
    assert_eq!(dev1.default_server(), Some(sa.clone()));
    assert!(dev1.server_list().contains(&sa), "{:?}", dev1.server_list());

    // Refused by every server: the call ends at the first, with its reason.
    for (id, reason) in [
        (Some("dev-2"), "device dev-2 is not known to this cluster"),
        (None, "the device sent no Scout-Device-Id"),
    ] {
        match device(&[&b, &a], id).connect() {
            Err(scoutlb::Error::DeviceRefused { server, reason: got }) => {
                assert_eq!((server, got.as_str()), (sb.clone(), reason));
            }
            other => panic!("{id:?}: expected a refusal, got {other:?}"),
        }
    }
}

#[test]
fn a_rolling_restart_brings_each_device_back_to_its_own_server() {
    let (dir, db) = sqlite_db();
    let admin = format!("127.0.0.1:{}", free_port());
    let mut a = Server::launch(&db, &["--id", "a", "--admin", &admin]);
    let b = Server::launch(&db, &["--id", "b"]);
    let sa: scoutlb::Server = a.address().parse().unwrap();
    let state = dir.path().join("device-state.json");
    // A device at its start-up: a new client on the same state file.
    let at_start = |a: &Server, b: &Server| device_with(&[a, b], Some("dev-1"), Some(&state));
    assert_eq!(at_start(&a, &b).connect().unwrap().server, sa);

    // The README's recipe: drain, wait, stop, start.
    let (code, _, stderr) = scout_server(&["drain", &admin, "--retry-after", "60"]);
    assert_eq!(code, Some(0), "{stderr}");
    let meanwhile = at_start(&a, &b).connect().unwrap();
    assert_eq!(meanwhile.server.to_string(), b.address(), "sent to b while a drains");
    let status = a.terminate();
    assert!(status.success(), "{status:?}");
    assert_eq!(b.listed_ids(), ["b"]);
    a.restart();
    assert_eq!(b.listed_ids(), ["b", "a"]);
    let (_, stdout, _) = scout_server(&["status", &admin]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["draining"],
        false
    );

    // At its next start-up the device is back on a: a stayed its default all along.
    let back = at_start(&a, &b).connect().unwrap();
    assert_eq!(back.server, sa, "{back:?}");
    assert!(back.failed.is_empty(), "{back:?}");
}

/// The `relocate` field `server` answers `device`, if any.
fn relocate_of(server: &Server, device: &str) -> serde_json::Value {
    let answer = servers_as(server, Some(device));
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()["relocate"].clone()
}

/// The admin status of the server whose admin endpoint is `admin`.
fn admin_status(admin: &str) -> serde_json::Value {
    let (code, stdout, stderr) = scout_server(&["status", admin]);
    assert_eq!(code, Some(0), "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn relocated_devices_move_online_and_offline_and_the_instruction_goes_when_they_arrive() {
    let (dir, db) = sqlite_db();
    // A database made before the relocation table: the table is added when a server opens it.
    drop(Server::launch(&db, &["--id", "old"]));
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DROP TABLE scout_relocations")
        .unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let a = Server::launch(&db, &["--id", "a", "--admin", &admin]);
    let b = Server::launch(&db, &["--id", "b"]);
    let c = Server::launch(&db, &["--id", "c"]);
    let (sa, sb): (scoutlb::Server, scoutlb::Server) = (a.address().parse().unwrap(), b.address().parse().unwrap());
    let file = dir.path().join("devices");
    std::fs::write(&file, "# moved in the first wave\ndev-2\n").unwrap();

    let (code, stdout, stderr) = scout_server(&[
        "relocate",
        &admin,
        "--to",
        "b",
        "--devices-file",
        file.to_str().unwrap(),
        "dev-1",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let answer: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (answer["relocating"].as_u64(), answer["mode"].as_str()),
        (Some(2), Some("online"))
    );
    let online = serde_json::json!({"to": "b", "mode": "online"});
    assert_eq!(relocate_of(&a, "dev-1"), online);
    assert_eq!(
        relocate_of(&a, "dev-9"),
        serde_json::Value::Null,
        "only the devices named"
    );
    // Every server of the cluster relocates them: the instruction is in the shared database.
    wait_until("c reads the relocation", || relocate_of(&c, "dev-2") == online);

    // Online: the device learns it now and moves at its next start-up.
    let state = dir.path().join("dev-1.json");
    let kinds = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = std::sync::Arc::clone(&kinds);
    let mut config = serde_json::json!({
        "servers": [a.address(), b.address()],
        "attempt_delay_ms": 0, "deadline_ms": 5000, "device_id": "dev-1",
        "state_file": state.to_str().unwrap(),
    });
    let start_up = |config: &serde_json::Value| {
        let seen = std::sync::Arc::clone(&seen);
        scoutlb::Client::builder(scoutlb::Config::from_json(&config.to_string()).unwrap())
            .events(move |e: &scoutlb::Event| seen.lock().unwrap().push(e.kind().to_string()))
            .build()
            .unwrap()
    };
    assert_eq!(start_up(&config).connect().unwrap().server, sa);
    assert!(
        kinds.lock().unwrap().contains(&"relocation_pending".to_string()),
        "{kinds:?}"
    );
    assert_eq!(start_up(&config).connect().unwrap().server, sb, "moved at the restart");
    assert!(kinds.lock().unwrap().contains(&"relocated".to_string()), "{kinds:?}");
    // b was its target: the instruction goes, for every server.
    wait_until("a drops dev-1's relocation", || relocate_of(&a, "dev-1").is_null());
    assert_eq!(relocate_of(&c, "dev-2"), online, "dev-2 has not moved yet");

    // Offline: the default changes at once; the device moves at its next connect.
    let (code, _, stderr) = scout_server(&["relocate", &admin, "--to", "b", "--mode", "offline", "dev-3"]);
    assert_eq!(code, Some(0), "{stderr}");
    config["device_id"] = "dev-3".into();
    config["state_file"] = dir.path().join("dev-3.json").to_str().unwrap().into();
    let dev3 = start_up(&config);
    assert_eq!(dev3.connect().unwrap().server, sa);
    assert_eq!(dev3.default_server(), Some(sb.clone()));
    assert_eq!(dev3.reconnect().unwrap().server, sb);
    wait_until("a drops dev-3's relocation", || relocate_of(&a, "dev-3").is_null());
    let status = admin_status(&admin);
    assert_eq!(status["relocations_pending"].as_u64(), Some(1), "{status}");
    assert!(status["relocated"].as_u64() >= Some(2), "{status}");
}

#[test]
fn a_relocation_names_a_live_server_and_devices() {
    let (_dir, db) = sqlite_db();
    let admin = format!("127.0.0.1:{}", free_port());
    let _a = Server::launch(&db, &["--id", "a", "--admin", &admin]);
    let (code, _, stderr) = scout_server(&["relocate", &admin, "--to", "nowhere", "dev-1"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("no live server of the list has the id \"nowhere\" (the list names a)"),
        "{stderr}"
    );
    let (code, _, stderr) = scout_server(&["relocate", &admin, "--to", "a"]);
    assert_eq!(code, Some(2), "a usage error");
    assert!(stderr.contains("name the devices"), "{stderr}");
    let admin_addr: SocketAddr = admin.parse().unwrap();
    let bad = request(admin_addr, "POST", "/scout/v1/admin/relocate", &[]);
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.json()["error"].as_str().unwrap().contains("not JSON"), "{bad:?}");
    assert_eq!(request(admin_addr, "GET", "/scout/v1/admin/relocate", &[]).status, 405);
}

/// The `draining` mark of each entry of `server`'s list, by id, as `device` is answered.
fn marks_of(server: &Server, device: &str) -> Vec<(String, bool)> {
    let answer = servers_as(server, Some(device));
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_str().unwrap().to_owned(), e["draining"] == true))
        .collect()
}

#[test]
fn a_drain_that_keeps_the_devices_marks_the_server_everywhere_and_rebalancing_devices_leave() {
    let (_dir, db) = sqlite_db();
    let admin = format!("127.0.0.1:{}", free_port());
    let a = Server::launch(&db, &["--id", "a", "--admin", &admin]);
    let b = Server::launch(&db, &["--id", "b"]);
    wait_until("both list both", || {
        b.listed_ids() == ["a", "b"] && a.listed_ids() == ["a", "b"]
    });
    let unmarked = vec![("a".to_owned(), false), ("b".to_owned(), false)];
    assert_eq!(marks_of(&a, "dev-1"), unmarked);

    let (code, stdout, stderr) = scout_server(&["drain", &admin, "--keep"]);
    assert_eq!(code, Some(0), "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (status["draining"].clone(), status["keep"].clone()),
        (true.into(), true.into())
    );
    // Within the next read of the loads (1 s) both servers mark a; a still serves its devices.
    let marked = vec![("a".to_owned(), true), ("b".to_owned(), false)];
    wait_until("a and b mark a draining", || {
        marks_of(&a, "dev-1") == marked && marks_of(&b, "dev-2") == marked
    });
    assert_eq!(request(a.addr, "GET", "/scout/v1/health", &[]).status, 200);
    assert_eq!(admin_status(&admin)["drained"], 0, "no 503 was sent");

    // A device of a with the rebalance on plans its move to b and makes it.
    let sa: scoutlb::Server = a.address().parse().unwrap();
    let sb: scoutlb::Server = b.address().parse().unwrap();
    let config = scoutlb::Config::from_json(
        &serde_json::json!({
            "servers": [a.address(), b.address()],
            "device_id": "dev-3",
            "rebalance": {"enabled": true, "window_ms": 0, "rate": 1000},
        })
        .to_string(),
    )
    .unwrap();
    let device = scoutlb::Client::new(config).unwrap();
    let on_a = device.connect().unwrap();
    assert_eq!(on_a.server, sa, "a keeps serving its devices");
    let plan = on_a.rebalance.expect("a move away from the draining server is planned");
    assert_eq!(plan.to, sb);
    assert_eq!(device.rebalance().unwrap().map(|c| c.server), Some(sb));

    // undrain clears the mark everywhere.
    let (code, _, stderr) = scout_server(&["undrain", &admin]);
    assert_eq!(code, Some(0), "{stderr}");
    wait_until("the mark is gone", || {
        marks_of(&a, "dev-1") == unmarked && marks_of(&b, "dev-2") == unmarked
    });
    assert_eq!(admin_status(&admin)["keep"], false);
    let bad = request(admin.parse().unwrap(), "POST", "/scout/v1/admin/drain?keep=maybe", &[]);
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.body.contains("keep=true"), "{bad:?}");
}
