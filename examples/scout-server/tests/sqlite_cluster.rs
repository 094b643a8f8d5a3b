//! End-to-end tests of `scout-server` processes sharing one SQLite file.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use scoutlb_testkit::{ScoutServerProcess as Server, http_request, listed_ids as ids, wait_until};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_scout-server");

/// Flags that keep heartbeat-driven tests fast.
const FAST: [&str; 4] = ["--heartbeat-ms", "200", "--window-ms", "1500"];

/// A fresh SQLite path in a temp dir that lives as long as the returned guard.
fn sqlite_db() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scout.sqlite").to_str().unwrap().to_owned();
    (dir, path)
}

#[test]
fn one_server_lists_itself() {
    let (_dir, db) = sqlite_db();
    let server = Server::launch(&db, &["--id", "solo"]);
    assert_eq!(server.id, "solo");
    let list = server.servers();
    assert_eq!(list["self"], "solo");
    assert!(list["generation"].is_i64(), "{list}");
    assert_eq!(
        list["servers"],
        // A load of 0: no device has asked yet (docs/behaviour.md, "Reference cluster").
        serde_json::json!([{"host": "127.0.0.1", "port": server.addr.port(), "id": "solo", "load": 0}])
    );
}

#[test]
fn default_id_and_advertised_address() {
    let (_dir, db) = sqlite_db();
    let plain = Server::launch(&db, &[]);
    assert_eq!(plain.id, format!("127.0.0.1-{}", plain.addr.port()));
    let behind_nat = Server::launch(&db, &["--advertise", "scout2.corp.example:22123"]);
    assert_eq!(behind_nat.id, "scout2.corp.example-22123");
    let list = plain.servers();
    assert_eq!(list["servers"][1]["host"], "scout2.corp.example");
    assert_eq!(list["servers"][1]["port"], 22123);
}

#[test]
fn three_servers_list_all_three_in_registration_order() {
    let (_dir, db) = sqlite_db();
    // Ids in reverse alphabetical order: the order must come from registration, not the id.
    let servers: Vec<Server> = ["c", "b", "a"]
        .iter()
        .map(|id| Server::launch(&db, &["--id", id]))
        .collect();
    for server in &servers {
        let list = server.servers();
        assert_eq!(ids(&list), ["c", "b", "a"], "as seen by {}", server.id);
        assert_eq!(list["self"], server.id.as_str());
        let ports: Vec<_> = list["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["port"].clone())
            .collect();
        let expected: Vec<_> = servers.iter().map(|s| serde_json::json!(s.addr.port())).collect();
        assert_eq!(ports, expected);
    }
    let generations: Vec<_> = servers.iter().map(|s| s.servers()["generation"].clone()).collect();
    assert!(generations.windows(2).all(|w| w[0] == w[1]), "{generations:?}");
}

#[test]
fn sigterm_removes_the_row_at_once() {
    let (_dir, db) = sqlite_db();
    let stays = Server::launch(&db, &["--id", "stays"]);
    let mut leaves = Server::launch(&db, &["--id", "leaves"]);
    let before = stays.servers();
    assert_eq!(ids(&before), ["stays", "leaves"]);

    let status = leaves.terminate();
    assert!(status.success(), "{status:?}");
    assert!(leaves.log().contains("deregistered"), "{}", leaves.log());
    // No waiting for a window: the very next read no longer lists it.
    let after = stays.servers();
    assert_eq!(ids(&after), ["stays"]);
    assert_ne!(after["generation"], before["generation"]);
}

#[test]
fn sigkill_drops_out_after_the_window() {
    let (_dir, db) = sqlite_db();
    let survivor = Server::launch(&db, &[&["--id", "survivor"][..], &FAST].concat());
    let mut victim = Server::launch(&db, &[&["--id", "victim"][..], &FAST].concat());
    let before = survivor.servers();
    assert_eq!(ids(&before), ["survivor", "victim"]);

    victim.kill();
    let killed = Instant::now();
    wait_until("the killed server is no longer listed", || {
        survivor.listed_ids() == ["survivor"]
    });
    let gone_after = killed.elapsed();
    // Its last heartbeat was at most one period (200 ms) before the kill.
    assert!(
        gone_after >= Duration::from_millis(1300 - 200),
        "dropped out after {gone_after:?}"
    );
    assert_ne!(survivor.servers()["generation"], before["generation"]);
}

#[test]
fn health_answers_ok_and_anything_else_is_404() {
    let (_dir, db) = sqlite_db();
    let server = Server::launch(&db, &[]);
    let (status, _, body) = server.get("/scout/v1/health");
    assert_eq!((status, body.as_str()), (200, "ok"));
    for path in ["/", "/scout/v1", "/scout/v1/servers/extra", "/scout/v2/servers"] {
        assert_eq!(server.get(path).0, 404, "{path}");
    }
    assert_eq!(http_request(server.addr, "POST", "/scout/v1/servers").unwrap().0, 404);
    // A query string does not change the route.
    assert_eq!(server.get("/scout/v1/servers?probe=1").0, 200);
}

#[test]
fn garbage_mode_answers_200_with_a_body_that_is_not_json() {
    let (_dir, db) = sqlite_db();
    let honest = Server::launch(&db, &["--id", "honest"]);
    let liar = Server::launch(&db, &["--id", "liar", "--garbage"]);
    let (status, content_type, body) = liar.get("/scout/v1/servers");
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    assert!(serde_json::from_str::<serde_json::Value>(&body).is_err(), "{body}");
    assert_eq!(liar.get("/scout/v1/health").0, 200);
    // It is still a member of the cluster: the others list it.
    assert_eq!(honest.listed_ids(), ["honest", "liar"]);
}

#[test]
fn a_briefly_locked_database_does_not_kill_the_server() {
    let (_dir, db) = sqlite_db();
    let mut server = Server::launch(&db, &["--id", "patient", "--heartbeat-ms", "200"]);
    let generation = server.servers()["generation"].clone();

    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let locked = Instant::now();
    while locked.elapsed() < Duration::from_secs(2) {
        assert!(server.is_running(), "server died; log:\n{}", server.log());
        // Readers are not blocked in WAL mode, and the last list is kept anyway.
        assert_eq!(server.listed_ids(), ["patient"]);
        thread::sleep(Duration::from_millis(100));
    }
    conn.execute_batch("COMMIT").unwrap();
    drop(conn);

    assert!(
        server.log().contains("heartbeat failed"),
        "lock not felt:\n{}",
        server.log()
    );
    wait_until("the heartbeat recovers", || server.log().contains("available again"));
    assert!(server.is_running());
    let list = server.servers();
    assert_eq!(ids(&list), ["patient"]);
    assert_eq!(list["generation"], generation);
}

#[test]
fn many_open_connections_are_answered_at_once() {
    let (_dir, db) = sqlite_db();
    let server = Server::launch(&db, &["--id", "busy"]);
    // Each keep-alive connection holds a thread: far more than the threads started at first.
    let mut connections: Vec<TcpStream> = (0..100)
        .map(|_| {
            let stream = TcpStream::connect(server.addr).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            stream
        })
        .collect();
    for round in 0..2 {
        for stream in &mut connections {
            write!(stream, "GET /scout/v1/servers HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        }
        for (i, stream) in connections.iter_mut().enumerate() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                let n = stream
                    .read(&mut byte)
                    .unwrap_or_else(|e| panic!("connection {i}, round {round}: {e}"));
                assert_eq!(n, 1, "connection {i} closed in round {round}");
                head.push(byte[0]);
            }
            let head = String::from_utf8(head).unwrap();
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .expect("Content-Length")
                .parse()
                .unwrap();
            let mut body = vec![0u8; length];
            stream.read_exact(&mut body).unwrap();
            assert_eq!(ids(&serde_json::from_slice(&body).unwrap()), ["busy"]);
        }
    }
}

#[test]
fn help_and_bad_arguments() {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--db",
        "--listen",
        "--id",
        "--advertise",
        "--heartbeat-ms",
        "--window-ms",
        "--tls-cert",
        "--tls-key",
        "--garbage",
        "--retry-after",
        "--drain-on-stop",
        "--known-devices",
        "--admin",
    ] {
        assert!(text.contains(flag), "help lacks {flag}");
    }
    let bad = Command::new(BIN).args(["--db", "x", "--nope"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--nope"));
    let no_db = Command::new(BIN).output().unwrap();
    assert_eq!(no_db.status.code(), Some(2));
}
