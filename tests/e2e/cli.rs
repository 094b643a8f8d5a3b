//! Tests of the `scoutlb` binary against tiny loopback HTTP servers: commands, output, exit codes.

use std::net::TcpListener;

use scoutlb_testkit::free_port;
use serde_json::json;

use scoutlb_testkit::cli::{Device, addresses, scoutlb};
use scoutlb_testkit::{Behaviour, TestServer, indexed_list_body};

/// Three tiny servers that all hand out the list of the three, each naming itself.
fn trio() -> (Vec<TestServer>, Vec<String>) {
    // Bind the three first, so that every server can hand out the whole list.
    let listeners: Vec<TcpListener> = (0..3).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let addrs: Vec<String> = listeners.iter().map(|l| l.local_addr().unwrap().to_string()).collect();
    let servers = listeners
        .into_iter()
        .enumerate()
        .map(|(i, l)| TestServer::on(l, Behaviour::Fixed(200, indexed_list_body(&addrs, i))))
        .collect();
    (servers, addrs)
}

#[test]
fn help_and_version_exit_zero() {
    let help = scoutlb(&["--help"]);
    assert_eq!(help.code, 0);
    for word in [
        "connect",
        "candidates",
        "lost",
        "servers",
        "status",
        "--json",
        "Exit codes",
    ] {
        assert!(help.stdout.contains(word), "help lacks {word}: {}", help.stdout);
    }
    let version = scoutlb(&["--version"]);
    assert_eq!(version.code, 0);
    assert!(
        version
            .stdout
            .starts_with(&format!("scoutlb {}", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn usage_mistakes_exit_two_on_stderr() {
    for args in [
        &[][..],
        &["conect"],
        &["--frobnicate", "status"],
        &["status", "--config"],
    ] {
        let run = scoutlb(args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
        assert!(run.stderr.contains("scoutlb: "), "{args:?}: {run:?}");
    }
}

#[test]
fn configuration_errors_exit_two_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let run = scoutlb(&["--config", missing.to_str().unwrap(), "status"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("missing.json"), "{run:?}");

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"servers": ["127.0.0.1:1"], "conect_timeout_ms": 5}"#).unwrap();
    let run = scoutlb(&["--config", bad.to_str().unwrap(), "--json", "status"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty());
    let err: serde_json::Value = serde_json::from_str(&run.stderr).expect("JSON error on stderr");
    assert_eq!(err["exit_code"], 2);
    assert!(err["message"].as_str().unwrap().contains("conect_timeout_ms"), "{err}");

    std::fs::write(&bad, r#"{"failover_order": "spread"}"#).unwrap();
    let run = scoutlb(&["--config", bad.to_str().unwrap(), "status"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("device_id"), "{run:?}");
}

#[test]
fn all_failed_exits_one_and_lists_every_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let (p1, p2) = (free_port(), free_port());
    let device = Device::new(
        dir.path(),
        "d",
        json!({"servers": [format!("127.0.0.1:{p1}"), format!("127.0.0.1:{p2}")]}),
    );
    let run = device.run(&["connect"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    let err: serde_json::Value = serde_json::from_str(&run.stderr).expect("JSON error on stderr");
    assert_eq!(err["error"], "all_failed");
    let attempts = err["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{err}");
    assert!(attempts.iter().all(|a| a["reason"] == "refused"), "{err}");

    // The text form names both servers too.
    let config = device.config.to_str().unwrap();
    let run = scoutlb(&["--config", config, "lost"]);
    assert_eq!(run.code, 1, "{run:?}");
    for p in [p1, p2] {
        assert!(
            run.stderr.contains(&format!("127.0.0.1:{p}: connection refused")),
            "{run:?}"
        );
    }
}

#[test]
fn unresolvable_names_exit_four() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(
        dir.path(),
        "d",
        // The tcp probe; the http probe reports a failed lookup as a DNS failure too (core tests).
        json!({"servers": ["scoutlb-test.invalid"], "probe": "tcp"}),
    );
    let run = device.run(&["connect"]);
    assert_eq!(run.code, 4, "{run:?}");
    let err: serde_json::Value = serde_json::from_str(&run.stderr).expect("JSON error on stderr");
    assert_eq!(err["attempts"][0]["reason"], "dns", "{err}");
}

#[test]
fn state_file_problems_exit_three() {
    let dir = tempfile::tempdir().unwrap();
    // The state file's folder would have to be inside a regular file.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let config = dir.path().join("c.json");
    let state = file.join("state.json");
    std::fs::write(&config, json!({"state_file": state}).to_string()).unwrap();
    let run = scoutlb(&["--config", config.to_str().unwrap(), "status"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("state file"), "{run:?}");

    // A state file of a newer format is refused and left untouched.
    let state = dir.path().join("state.json");
    let newer = r#"{"format": 99, "default_server": null}"#;
    std::fs::write(&state, newer).unwrap();
    std::fs::write(&config, json!({"state_file": state}).to_string()).unwrap();
    let run = scoutlb(&["--config", config.to_str().unwrap(), "servers"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("format 99"), "{run:?}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), newer);
}

#[test]
fn connect_caches_the_list_and_status_reads_it_back() {
    let (_servers, addrs) = trio();
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(dir.path(), "d", json!({"servers": [addrs[1]]}));

    let before = device.run(&["status"]).ok_json();
    assert!(before["default_server"].is_null(), "{before}");
    assert_eq!(addresses(&before["servers"]), Vec::<String>::new());

    let c = device.run(&["connect"]).ok_json();
    assert_eq!(c["server"]["address"], addrs[1].as_str());
    assert_eq!(c["server"]["id"], "s1");
    assert_eq!(c["via_balancer"], false);
    assert_eq!(addresses(&c["servers"]), addrs);

    // A new process (a restart) reads the same from the state file.
    let s = device.run(&["servers"]).ok_json();
    assert_eq!(addresses(&s["servers"]), addrs);
    assert_eq!(s["default_server"]["address"], addrs[1].as_str());
    let st = device.run(&["status"]).ok_json();
    assert_eq!(st["state_file"], device.state.to_str().unwrap());
    assert_eq!(st["failover_order"], "list");
    assert_eq!(device.state_file()["default_server"]["port"], c["server"]["port"]);

    // Text output: the default is marked in the list.
    let config = device.config.to_str().unwrap();
    let text = scoutlb(&["--config", config, "servers"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert!(text.stdout.contains(&format!("* {}  s1", addrs[1])), "{text:?}");
}

#[test]
fn lost_moves_to_the_next_server_and_candidates_put_the_balancer_first() {
    let (mut servers, addrs) = trio();
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(dir.path(), "d", json!({"servers": [addrs[1]], "attempt_delay_ms": 0}));
    device.run(&["connect"]).ok_json();

    // The default server goes away: `lost` tries it again, then the next entry.
    drop(servers.remove(1));
    let lost = device.run(&["lost"]).ok_json();
    assert_eq!(lost["server"]["address"], addrs[2].as_str(), "{lost}");
    let failed: Vec<&str> = lost["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["server"]["address"].as_str().unwrap())
        .collect();
    assert_eq!(failed, [addrs[1].as_str()]);
    assert_eq!(lost["failed"][0]["reason"], "refused");

    // With a balancer entry: it comes first, then the default, then the rest of the list.
    device.configure(json!({"servers": [addrs[1]], "manager_load_balancer": addrs[0]}));
    let cand = device.run(&["candidates"]).ok_json();
    let order: Vec<(String, String)> = cand["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["address"].as_str().unwrap().to_owned(),
                c["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (addrs[0].clone(), "balancer".to_owned()),
            (addrs[2].clone(), "default".to_owned()),
            (addrs[1].clone(), "list".to_owned()),
        ]
    );
    let via = device.run(&["-v", "connect"]);
    let c = via.ok_json();
    assert_eq!(c["server"]["address"], addrs[0].as_str());
    assert_eq!(c["via_balancer"], true);
    // --verbose --json: one JSON event per line on stderr.
    let kinds: Vec<String> = via
        .stderr
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("event JSON")["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(kinds.contains(&"balancer_resolved".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"attempt_succeeded".to_owned()), "{kinds:?}");
}

#[test]
fn lost_without_a_probe_prints_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let device = Device::new(dir.path(), "d", json!({"servers": [a, b], "probe": "none"}));
    let lost = device.run(&["lost"]).ok_json();
    assert_eq!(addresses(&lost["candidates"]), [a.clone(), b.clone()]);
    // `connect` needs a probe: a configuration error.
    let run = device.run(&["connect"]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn a_garbage_answer_is_a_failed_attempt_and_keeps_the_cached_list() {
    let (servers, addrs) = trio();
    let garbage = TestServer::start(Behaviour::Fixed(200, "this is not JSON".into()));
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(dir.path(), "d", json!({"servers": [addrs[0]]}));
    device.run(&["connect"]).ok_json();
    drop(servers);
    device.configure(json!({"servers": [addrs[0]], "manager_load_balancer": garbage.addr.to_string()}));
    let run = device.run(&["connect"]);
    assert_eq!(run.code, 1, "{run:?}");
    let err: serde_json::Value = serde_json::from_str(&run.stderr).unwrap();
    assert_eq!(err["attempts"][0]["reason"], "invalid_list", "{err}");
    let s = device.run(&["servers"]).ok_json();
    assert_eq!(addresses(&s["servers"]), addrs);
}

#[test]
fn a_slow_but_working_default_keeps_the_device_and_answer_delay_ms_is_checked() {
    // The default answers in 300 ms, the next server at once: the restart stays on the default.
    let listeners: Vec<TcpListener> = (0..2).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let addrs: Vec<String> = listeners.iter().map(|l| l.local_addr().unwrap().to_string()).collect();
    let mut listeners = listeners.into_iter();
    let slow_body = std::sync::Arc::new(std::sync::Mutex::new(indexed_list_body(&addrs, 0)));
    let slow = TestServer::on(
        listeners.next().unwrap(),
        Behaviour::Slow(std::time::Duration::from_millis(300), slow_body),
    );
    let next = TestServer::on(
        listeners.next().unwrap(),
        Behaviour::Fixed(200, indexed_list_body(&addrs, 1)),
    );
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(dir.path(), "d", json!({"servers": addrs}));
    let connected = device.run(&["connect"]).ok_json();
    assert_eq!(connected["server"]["address"], addrs[0].as_str(), "{connected}");
    assert_eq!(
        next.hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the next server got a request"
    );
    assert_eq!(slow.hits.load(std::sync::atomic::Ordering::SeqCst), 1);

    // With less patience than the default needs, the device moves on.
    device.configure(json!({"servers": addrs, "answer_delay_ms": 100}));
    let moved = device.run(&["connect"]).ok_json();
    assert_eq!(moved["server"]["address"], addrs[1].as_str(), "{moved}");
    assert_eq!(moved["failed"][0]["reason"], "out_of_patience", "{moved}");

    device.configure(json!({"servers": addrs, "answer_delay_ms": "soon"}));
    let run = device.run(&["status"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("answer_delay_ms"), "{run:?}");
}

/// A tmpfs of 64 KiB mounted at `dir` and filled up: files can be created, not written. Unmounted
/// when dropped. `None` where mounting is not allowed (not root).
struct FullDisk(std::path::PathBuf);

impl FullDisk {
    fn mount(dir: &std::path::Path) -> Option<FullDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
        let disk = FullDisk(dir.to_path_buf());
        let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
        let block = [0u8; 4096];
        while std::io::Write::write_all(&mut filler, &block).is_ok() {}
        Some(disk)
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_save_that_fails_during_connect_is_reported_without_verbose() {
    let (_servers, addrs) = trio();
    let dir = tempfile::tempdir().unwrap();
    let Some(_disk) = FullDisk::mount(&dir.path().join("full")) else {
        scoutlb_testkit::skip("cannot mount a tmpfs (needs root) to make the state file's disk full");
        return;
    };
    let config = dir.path().join("config.json");
    let state = dir.path().join("full").join("state.json");
    std::fs::write(&config, json!({"servers": [addrs[0]], "state_file": state}).to_string()).unwrap();

    let run = scoutlb(&["--config", config.to_str().unwrap(), "--json", "connect"]);
    assert_eq!(run.code, 0, "{run:?}");
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["server"]["address"], addrs[0].as_str(), "{doc}");
    assert_eq!(doc["saved"], false, "{doc}");
    assert!(doc["save_error"].as_str().unwrap().contains("state.json"), "{doc}");
    let warning: serde_json::Value = serde_json::from_str(run.stderr.trim()).expect("one JSON warning on stderr");
    assert_eq!(warning["warning"], "state_file_not_saved", "{run:?}");

    let run = scoutlb(&["--config", config.to_str().unwrap(), "connect"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("warning: connected, but the state file was not saved"),
        "{run:?}"
    );
    assert!(!state.exists(), "nothing was saved, nothing torn");
}

#[test]
fn candidates_of_a_hundred_thousand_seeds_come_in_failover_order() {
    // behaviour.md, Failover order: with no cached list the seeds are L; the default's place
    // starts the order and it wraps around. The CLI names each candidate's source in linear time
    // (the time itself is a benchmark figure, `cargo bench -p scoutlb-cli --bench commands`).
    const SEEDS: usize = 100_000;
    const DEFAULT: usize = 60_000;
    let seed = |i: usize| format!("10.{}.{}.{}:{}", i >> 16, (i >> 8) & 255, i & 255, 1000 + i % 50_000);
    let seeds: Vec<String> = (0..SEEDS).map(seed).collect();
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(dir.path(), "d", json!({"servers": seeds, "probe": "none"}));
    let (host, port) = seed(DEFAULT)
        .rsplit_once(':')
        .map(|(h, p)| (h.to_owned(), p.parse::<u16>().unwrap()))
        .unwrap();
    std::fs::write(
        &device.state,
        json!({"format": 1, "default_server": {"host": host, "port": port}, "servers": null,
               "servers_from": null, "updated_at": "2026-01-01T00:00:00.000Z"})
        .to_string(),
    )
    .unwrap();
    let cand = device.run(&["candidates"]).ok_json();
    let want: Vec<String> = (DEFAULT..SEEDS).chain(0..DEFAULT).map(seed).collect();
    assert_eq!(addresses(&cand["candidates"]), want);
    let sources: Vec<&str> = cand["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources[0], "default");
    assert!(sources[1..].iter().all(|s| *s == "seed"), "{:?}", &sources[..5]);
}
