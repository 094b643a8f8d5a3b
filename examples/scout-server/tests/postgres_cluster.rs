//! End-to-end test of `scout-server` processes sharing one PostgreSQL database, including a
//! PostgreSQL restart and a drain that keeps its devices (the mark written and read there). The test runs its own throw-away PostgreSQL (Debian's `postgresql`
//! package); without its binaries it prints `SKIPPED: ...` and returns.

use std::thread;
use std::time::{Duration, Instant};

use scoutlb_testkit::{PostgresServer, ScoutServerProcess as Server, wait_until};

#[test]
fn two_servers_share_postgres_and_survive_its_restart() {
    if !PostgresServer::installed() {
        return;
    }
    let pg = PostgresServer::start().unwrap_or_else(|e| panic!("{e}"));
    let url = pg.url();
    let flags = |id: &'static str| ["--id", id, "--heartbeat-ms", "200", "--window-ms", "5000"];

    let mut a = Server::launch(&url, &flags("pg-a"));
    let mut b = Server::launch(&url, &flags("pg-b"));
    for server in [&a, &b] {
        let list = server.servers();
        assert_eq!(scoutlb_testkit::listed_ids(&list), ["pg-a", "pg-b"]);
        assert_eq!(list["self"], server.id.as_str());
    }

    pg.stop("fast").unwrap();
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(2) {
        for server in [&mut a, &mut b] {
            assert!(server.is_running(), "{} died; log:\n{}", server.id, server.log());
            // The last list read is served while the database is away.
            assert_eq!(server.listed_ids(), ["pg-a", "pg-b"]);
        }
        thread::sleep(Duration::from_millis(200));
    }
    pg.start_again().unwrap_or_else(|e| panic!("{e}"));

    for server in [&a, &b] {
        assert!(
            server.log().contains("heartbeat failed"),
            "outage not felt:\n{}",
            server.log()
        );
        wait_until("the heartbeat recovers", || server.log().contains("available again"));
    }
    // A newcomer shows up in both lists: they read the database again, not their cache.
    let mut c = Server::launch(&url, &flags("pg-c"));
    for server in [&a, &b, &c] {
        wait_until("all three are listed", || {
            server.listed_ids() == ["pg-a", "pg-b", "pg-c"]
        });
    }
    assert!(c.terminate().success());
    assert_eq!(a.listed_ids(), ["pg-a", "pg-b"]);
    assert!(a.is_running() && b.is_running());

    // A drain that keeps its devices is marked in the peers' lists through the database.
    let admin = format!("127.0.0.1:{}", scoutlb_testkit::free_port());
    let mut d = Server::launch(&url, &["--id", "pg-d", "--admin", &admin]);
    wait_until("pg-d is listed", || a.listed_ids().contains(&"pg-d".to_owned()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scout-server"))
        .args(["drain", &admin, "--keep"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let marked = |server: &Server| {
        server.servers()["servers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["draining"] == true)
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    wait_until("pg-a marks pg-d draining", || marked(&a) == ["pg-d"]);
    assert_eq!(marked(&d), ["pg-d"]);
    assert!(d.terminate().success());
}
