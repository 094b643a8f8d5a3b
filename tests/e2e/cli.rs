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

/// Runs `scoutlb ARGS` with `stdin` as its input and `env` set (SCOUTLB_CONFIG and such).
fn scoutlb_with(args: &[&str], stdin: &str, env: &[(&str, &std::ffi::OsStr)]) -> scoutlb_testkit::cli::Run {
    use std::io::Write as _;
    let mut child = std::process::Command::new(scoutlb_testkit::cli::scoutlb_bin())
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn scoutlb");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    scoutlb_testkit::cli::finish(child)
}

#[test]
fn the_configuration_comes_from_stdin_the_environment_and_set() {
    let (_servers, addrs) = trio();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let config = json!({"servers": [addrs[1]], "state_file": state}).to_string();

    // `-c -` reads stdin.
    let run = scoutlb_with(&["-c", "-", "--json", "connect"], &config, &[]);
    assert_eq!(run.ok_json()["server"]["address"], addrs[1].as_str(), "{run:?}");

    // SCOUTLB_CONFIG names the file when --config is not given; --config wins over it.
    let file = dir.path().join("device.json");
    std::fs::write(&file, &config).unwrap();
    let status = scoutlb_with(&["--json", "status"], "", &[("SCOUTLB_CONFIG", file.as_os_str())]).ok_json();
    assert_eq!(status["state_file"], state.to_str().unwrap(), "{status}");
    assert_eq!(status["default_server"]["address"], addrs[1].as_str());
    let other = dir.path().join("other.json");
    std::fs::write(&other, json!({"servers": [addrs[2]]}).to_string()).unwrap();
    let status = scoutlb_with(
        &["--config", other.to_str().unwrap(), "--json", "status"],
        "",
        &[("SCOUTLB_CONFIG", file.as_os_str())],
    )
    .ok_json();
    assert!(status["state_file"].is_null(), "{status}");

    // A wrong SCOUTLB_CONFIG is an error, never the defaults.
    let missing = dir.path().join("missing.json");
    for value in [missing.as_os_str(), std::ffi::OsStr::new("")] {
        let run = scoutlb_with(&["--json", "status"], "", &[("SCOUTLB_CONFIG", value)]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
        let err: serde_json::Value = serde_json::from_str(&run.stderr).unwrap();
        assert_eq!(err["error"], "config", "{err}");
        assert!(err["message"].as_str().unwrap().contains("SCOUTLB_CONFIG"), "{err}");
    }

    // --set overrides a key for this run, as JSON of the same key; `retry.x` one field of retry.
    let run = scoutlb_with(
        &[
            "--config",
            file.to_str().unwrap(),
            "--set",
            "state_file=null",
            "--set",
            &format!(r#"servers=["{}"]"#, addrs[0]),
            "--set",
            "retry.base_ms=10",
            "--json",
            "connect",
        ],
        "",
        &[],
    );
    assert_eq!(run.ok_json()["server"]["address"], addrs[0].as_str(), "{run:?}");
    assert!(run.json()["state_file"].is_null(), "{run:?}");
    // Text that is not JSON is a string: a path here.
    let elsewhere = dir.path().join("elsewhere.json");
    let st = scoutlb_with(
        &[
            "-c",
            "-",
            "--set",
            &format!("state_file={}", elsewhere.display()),
            "--json",
            "status",
        ],
        &config,
        &[],
    )
    .ok_json();
    assert_eq!(st["state_file"], elsewhere.to_str().unwrap());
    // A wrong override is a configuration error that names the key.
    let run = scoutlb_with(
        &["-c", "-", "--set", "connect_timeout_ms=soon", "--json", "status"],
        &config,
        &[],
    );
    assert_eq!(run.code, 2, "{run:?}");
    let err: serde_json::Value = serde_json::from_str(&run.stderr).unwrap();
    assert_eq!(err["key"], "connect_timeout_ms", "{err}");
}

#[test]
fn a_configuration_error_is_config_with_its_key_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"conect_timeout_ms": 5}"#).unwrap();
    let run = scoutlb(&["--config", bad.to_str().unwrap(), "--json", "status"]);
    assert_eq!(run.code, 2, "{run:?}");
    let err: serde_json::Value = serde_json::from_str(&run.stderr).unwrap();
    assert_eq!(err["error"], "config", "{err}");
    assert_eq!(err["key"], "conect_timeout_ms", "{err}");
    std::fs::write(&bad, "not JSON").unwrap();
    let run = scoutlb(&["--config", bad.to_str().unwrap(), "--json", "status"]);
    let err: serde_json::Value = serde_json::from_str(&run.stderr).unwrap();
    assert_eq!(
        (err["error"].as_str(), err["exit_code"].as_u64()),
        (Some("config"), Some(2)),
        "{err}"
    );
    assert!(err["key"].is_null(), "{err}");
}

#[test]
fn candidates_label_every_entry_and_status_names_the_failover_order_key() {
    let (_servers, addrs) = trio();
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(dir.path(), "d", json!({"servers": [addrs[1]]}));
    device.run(&["connect"]).ok_json();
    device.configure(json!({"servers": [addrs[1]], "manager_load_balancer": "127.0.0.1:9"}));
    let config = device.config.to_str().unwrap();
    let text = scoutlb(&["--config", config, "candidates"]);
    assert_eq!(text.code, 0, "{text:?}");
    let lines: Vec<&str> = text.stdout.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "  1. 127.0.0.1:9  (ManagerLoadBalancer)".to_owned(),
            format!("  2. {} (s1)  (default server)", addrs[1]),
            format!("  3. {} (s2)  (server list)", addrs[2]),
            format!("  4. {} (s0)  (server list)", addrs[0]),
        ],
        "{text:?}"
    );
    let status = scoutlb(&["--config", config, "status"]);
    assert!(status.stdout.contains("failover_order:      \"list\"\n"), "{status:?}");
    assert!(!status.stdout.contains("failover order"), "{status:?}");
}

#[test]
fn verbose_json_events_carry_their_time() {
    let (_servers, addrs) = trio();
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(dir.path(), "d", json!({"servers": [addrs[0]]}));
    let run = device.run(&["-v", "connect"]);
    run.ok_json();
    let events: Vec<serde_json::Value> = run.stderr.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!events.is_empty(), "{run:?}");
    for e in &events {
        // RFC 3339 in UTC with milliseconds: 2026-12-02T05:10:00.123Z
        let time = e["time"].as_str().unwrap_or_else(|| panic!("no time: {e}"));
        assert!(
            time.len() == 24 && time.ends_with('Z') && &time[10..11] == "T" && &time[19..20] == ".",
            "{time}"
        );
    }
}

#[test]
fn an_unresolvable_name_exits_four_with_the_http_probe_too() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(dir.path(), "d", json!({"servers": ["scoutlb-test.invalid"]}));
    let run = device.run(&["connect"]);
    assert_eq!(run.code, 4, "{run:?}");
    let err: serde_json::Value = serde_json::from_str(&run.stderr).unwrap();
    assert_eq!(err["attempts"][0]["reason"], "dns", "{err}");
    let message = err["attempts"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("DNS lookup failed: "), "{message}");
    assert!(
        !message.contains("io:"),
        "the message leaks ureq's variant name: {message}"
    );
}

#[test]
fn connect_retry_waits_until_a_server_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(
        dir.path(),
        "d",
        json!({"servers": [addr], "retry": {"base_ms": 100, "cap_ms": 200}}),
    );
    let child = device.spawn(&["connect", "--retry"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _server = TestServer::on(
        TcpListener::bind(&addr).unwrap(),
        Behaviour::Fixed(200, indexed_list_body(std::slice::from_ref(&addr), 0)),
    );
    let run = scoutlb_testkit::cli::finish(child);
    assert_eq!(run.ok_json()["server"]["address"], addr.as_str(), "{run:?}");

    // With retry.max_tries, it gives up: exit 1 as a plain connect.
    let fresh = Device::new(
        dir.path(),
        "e",
        json!({"servers": [format!("127.0.0.1:{}", free_port())], "retry": {"base_ms": 1, "cap_ms": 1, "max_tries": 3}}),
    );
    let run = fresh.run(&["-v", "connect", "--retry"]);
    assert_eq!(run.code, 1, "{run:?}");
    let tries = run.stderr.lines().filter(|l| l.contains("\"attempt_failed\"")).count();
    assert_eq!(tries, 3, "{run:?}");

    // The handshake profile set with --set (behaviour.md, "All fail"): max_retries + 1 tries.
    let scout = Device::new(
        dir.path(),
        "f",
        json!({"servers": [format!("127.0.0.1:{}", free_port())]}),
    );
    let run = scout.run(&[
        "--set",
        r#"retry.profile="handshake""#,
        "--set",
        "retry.timer_ms=1",
        "--set",
        "retry.max_retries=2",
        "-v",
        "connect",
        "--retry",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let tries = run.stderr.lines().filter(|l| l.contains("\"attempt_failed\"")).count();
    assert_eq!(tries, 3, "{run:?}");
    let run = scout.run(&["--set", "retry.profile=scout", "status"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("`retry.profile`"), "{run:?}");
}

#[test]
fn connect_retry_stops_on_sigterm_and_sigint_with_exit_six() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(
        dir.path(),
        "d",
        json!({"servers": [format!("127.0.0.1:{}", free_port())], "retry": {"base_ms": 60000, "cap_ms": 60000}}),
    );
    for signal in ["TERM", "INT"] {
        let mut child = device.spawn(&["-v", "connect", "--retry"]);
        // The first attempt's event: the handler is in place by then.
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        assert!(line.contains("\"event\""), "{line}");
        let sent = std::time::Instant::now();
        let kill = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
        assert_eq!(out.status.code(), Some(6), "SIG{signal}: {rest}");
        assert!(
            sent.elapsed() < std::time::Duration::from_secs(5),
            "SIG{signal} took {:?}",
            sent.elapsed()
        );
        let last: serde_json::Value = serde_json::from_str(rest.lines().last().unwrap()).unwrap();
        assert_eq!(last["error"], "cancelled", "{rest}");
        assert!(out.stdout.is_empty());
    }
}

/// Characters a hostile server's text must never bring to the terminal as they are.
fn raw_control(text: &str) -> Option<char> {
    text.chars()
        .find(|&c| (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
}

#[test]
fn server_supplied_text_is_escaped_in_every_output() {
    // One server whose id carries ESC sequences, CR/LF, BEL, a C1 CSI and a bidi override.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let evil = "x\u{1b}[2J\r\ndefault server: 6.6.6.6:1\u{7}\u{9b}31m\u{202e}kcah";
    let body = json!({"servers": [{"host": "127.0.0.1", "port": addr.port(), "id": evil}], "self": evil}).to_string();
    let _server = TestServer::on(listener, Behaviour::Fixed(200, body));
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(dir.path(), "d", json!({"servers": [addr.to_string()]}));
    let config = device.config.to_str().unwrap();
    let mut runs = vec![("connect", scoutlb(&["--config", config, "connect"]))];
    for command in ["servers", "status", "candidates", "lost"] {
        runs.push((command, scoutlb(&["--config", config, "-v", command])));
    }
    for (command, run) in runs {
        assert_eq!(run.code, 0, "{command}: {run:?}");
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert_eq!(raw_control(text), None, "{command} {stream}: {text:?}");
            assert!(
                !text.lines().any(|l| l.starts_with("default server: 6.6.6.6")),
                "{command} {stream} has a forged line: {text}"
            );
        }
        assert!(
            run.stdout.contains("\\u{1b}[2J"),
            "{command}: the id is shown escaped: {run:?}"
        );
    }
    // JSON: the same value, with nothing raw on the terminal.
    let run = scoutlb(&["--config", config, "--json", "-v", "servers"]);
    assert_eq!(raw_control(&run.stdout), None, "{run:?}");
    assert_eq!(raw_control(&run.stderr), None, "{run:?}");
    assert_eq!(run.ok_json()["servers"][0]["id"], evil);
}

#[test]
fn a_dropped_state_file_is_reported_without_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(dir.path(), "d", json!({"servers": ["127.0.0.1:1"], "probe": "none"}));
    std::fs::write(&device.state, "{\"format\": 1, \"default_server\": {\"host\": ").unwrap();
    let run = device.run(&["status"]);
    let doc = run.ok_json();
    assert!(doc["state_dropped"].as_str().unwrap().contains("moved aside"), "{doc}");
    let warning: serde_json::Value = serde_json::from_str(run.stderr.trim()).expect("one JSON warning on stderr");
    assert_eq!(warning["warning"], "state_file_dropped", "{run:?}");

    std::fs::write(&device.state, "garbage").unwrap();
    let run = scoutlb(&["--config", device.config.to_str().unwrap(), "servers"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("scoutlb: warning: state file"), "{run:?}");
    assert!(run.stderr.contains("moved aside"), "{run:?}");

    // A state file that was used: no warning, and the field is null.
    let run = device.run(&["status"]);
    assert!(run.stderr.is_empty(), "{run:?}");
    assert!(run.ok_json()["state_dropped"].is_null());
}

#[test]
fn a_missing_state_folder_is_an_error_that_names_it_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("typo").join("dir");
    let config = dir.path().join("c.json");
    std::fs::write(&config, json!({"state_file": folder.join("state.json")}).to_string()).unwrap();
    let run = scoutlb(&["--config", config.to_str().unwrap(), "status"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains(&folder.display().to_string()), "{run:?}");
    assert!(run.stderr.contains("does not exist"), "{run:?}");
    assert!(!dir.path().join("typo").exists(), "no folder is created");
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

/// `--ini FILE` (behaviour.md, "Scout INI files"): its entries set the candidates and win over the
/// configuration; a bad entry exits 2 naming file, line, section and entry.
#[test]
fn an_ini_file_sets_the_balancer_and_servers_and_a_bad_one_exits_two() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let ini = dir.path().join("terminal.ini");
    std::fs::write(
        &ini,
        format!("[Scout]\r\nManagerLoadBalancer={a}\r\nServerList={b}\r\n[Security]\r\nTlsVerifyOption=3\r\n"),
    )
    .unwrap();
    let device = Device::new(dir.path(), "d", json!({"servers": ["127.0.0.9:1"], "probe": "none"}));
    let ini_arg = ini.to_str().unwrap();
    let lost = device.run(&["--ini", ini_arg, "candidates"]).ok_json();
    assert_eq!(addresses(&lost["candidates"]), [a.clone(), b.clone()], "{lost}");

    std::fs::write(&ini, "[Security]\nTlsVerifyOption=7\n").unwrap();
    let run = device.run(&["--ini", ini_arg, "candidates"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("{ini_arg} line 2, section [Security], entry TlsVerifyOption")),
        "{run:?}"
    );
}

#[test]
fn tls_levels_from_an_ini_file_and_an_unchecked_connect_is_warned_once() {
    // behaviour.md, "TLS": a certificate for another name, from the configured CA.
    let pki = scoutlb_testkit::TestPki::for_names(&["scout.example"]);
    let body = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let server = TestServer::start_tls(Behaviour::Body(body.clone()), Some(pki.server_config.clone()));
    *body.lock().unwrap() = scoutlb_testkit::list_body(&[(&server.server(), "t")], Some("t"));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let ini = dir.path().join("terminal.ini");
    let device = Device::new(
        dir.path(),
        "d",
        json!({"servers": [server.server().to_string()], "scheme": "https", "ca_file": ca}),
    );
    let ini_arg = ini.to_str().unwrap();
    let level = |option: &str| {
        std::fs::write(&ini, format!("[Security]\r\nTlsVerifyOption={option}\r\n")).unwrap();
        device.run(&["--ini", ini_arg, "connect"])
    };
    let run = level("3");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("wrong_name") || run.stderr.contains("not valid for name"),
        "{run:?}"
    );
    let run = level("1");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
    let run = level("0");
    assert_eq!(run.code, 0, "{run:?}");
    let warning: serde_json::Value = serde_json::from_str(run.stderr.trim()).expect("one JSON warning on stderr");
    assert_eq!(warning["warning"], "tls_unverified", "{run:?}");

    // Once per run, `-v` or not, however many tries; none from a checking level.
    let run = device.run(&["--set", r#"tls_verify="none""#, "-v", "connect"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stderr.matches(r#""warning":"tls_unverified""#).count(),
        1,
        "{run:?}"
    );
    assert_eq!(run.stderr.matches(r#""event":"tls_unverified""#).count(), 1, "{run:?}");
    let run = device.run(&["--set", r#"tls_verify="chain""#, "-v", "connect"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("not checked"), "{run:?}");
}

#[test]
fn a_refused_device_exits_seven_and_tries_no_other_server() {
    // behaviour.md, "Servers that steer devices".
    let refusing = TestServer::start(Behaviour::Fixed(403, r#"{"refused": "device d is not known"}"#.into()));
    let (servers, addrs) = trio();
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(
        dir.path(),
        "d",
        json!({"servers": [refusing.server().to_string(), addrs[0]], "device_id": "d", "attempt_delay_ms": 0}),
    );
    let run = device.run(&["connect"]);
    assert_eq!(run.code, 7, "{run:?}");
    let error: serde_json::Value = serde_json::from_str(run.stderr.trim()).expect("one JSON error on stderr");
    assert_eq!(error["error"], "device_refused", "{run:?}");
    assert!(run.stderr.contains("device d is not known"), "{run:?}");
    assert_eq!(
        servers[0].hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no failover"
    );
    let help = scoutlb(&["--help"]);
    assert!(help.stdout.contains("a server refused this device"), "{help:?}");
}

#[test]
fn status_shows_a_pending_relocation() {
    let (_servers, addrs) = trio();
    let target: scoutlb::Server = addrs[1].parse().unwrap();
    let relocating = TestServer::start(Behaviour::Fixed(
        200,
        json!({"servers": [{"host": target.host(), "port": target.port(), "id": "s1"}], "relocate": {"to": "s1"}})
            .to_string(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let device = Device::new(dir.path(), "d", json!({"servers": [relocating.server().to_string()]}));
    assert_eq!(device.run(&["connect"]).code, 0);
    let status = device.run(&["status"]).ok_json();
    assert_eq!(status["relocation"]["address"], addrs[1].as_str(), "{status}");
    let run = device.run(&["connect"]);
    assert_eq!(run.json()["server"]["address"], addrs[1].as_str(), "{run:?}");
    assert!(device.run(&["status"]).ok_json()["relocation"].is_null());
}

/// A list where `b` is far lighter than `a` (load 0, weight 10⁶): a device of `a` plans the move.
fn lopsided(a: &str, b: &str) -> String {
    let (ha, pa) = a.rsplit_once(':').unwrap();
    let (hb, pb) = b.rsplit_once(':').unwrap();
    json!({"servers": [
        {"host": ha, "port": pa.parse::<u16>().unwrap(), "id": "a", "load": 10},
        {"host": hb, "port": pb.parse::<u16>().unwrap(), "id": "b", "load": 0, "weight": 1_000_000}
    ], "self": "a"})
    .to_string()
}

#[test]
fn connect_rebalance_moves_to_a_lighter_server_and_a_failed_move_is_a_warning() {
    let (la, lb) = (
        TcpListener::bind("127.0.0.1:0").unwrap(),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    );
    let (a, b) = (
        la.local_addr().unwrap().to_string(),
        lb.local_addr().unwrap().to_string(),
    );
    let _sa = TestServer::on(la, Behaviour::Fixed(200, lopsided(&a, &b)));
    let sb = TestServer::on(
        lb,
        Behaviour::Fixed(200, indexed_list_body(std::slice::from_ref(&b), 0)),
    );
    let dir = tempfile::tempdir().unwrap();
    let on = json!({"enabled": true, "window_ms": 0, "rate": 1000});
    let device = Device::new(dir.path(), "d", json!({"servers": [a], "rebalance": on}));
    // Without --rebalance the plan is shown, not made.
    let run = device.run(&["connect"]);
    let doc = run.ok_json();
    assert_eq!(doc["server"]["address"], a.as_str(), "{run:?}");
    assert_eq!(doc["rebalance"]["to"]["address"], b.as_str(), "{run:?}");
    assert!(doc["rebalance"]["window_ms"].as_u64().unwrap() <= 14, "{run:?}");
    // With it, a second document tells the move.
    let run = device.run(&["connect", "--rebalance"]);
    assert_eq!(run.code, 0, "{run:?}");
    let docs: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(docs.len(), 2, "{run:?}");
    assert_eq!(
        (docs[1]["command"].as_str(), docs[1]["server"]["address"].as_str()),
        (Some("rebalance"), Some(b.as_str()))
    );
    assert_eq!(
        device.run(&["status"]).ok_json()["default_server"]["address"],
        b.as_str()
    );
    // b gone: the move fails, the device stays on a, exit 0 with a warning.
    drop(sb);
    let other = Device::new(dir.path(), "e", json!({"servers": [a], "rebalance": on}));
    let run = other.run(&["connect", "--rebalance"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.lines().count(), 1, "{run:?}");
    assert!(run.stderr.contains("\"rebalance_failed\""), "{run:?}");
    assert_eq!(
        other.run(&["status"]).ok_json()["default_server"]["address"],
        a.as_str()
    );
}

#[test]
fn connect_rebalance_leaves_a_server_marked_draining() {
    let (la, lb) = (
        TcpListener::bind("127.0.0.1:0").unwrap(),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    );
    let (a, b) = (
        la.local_addr().unwrap().to_string(),
        lb.local_addr().unwrap().to_string(),
    );
    let (ha, pa) = a.rsplit_once(':').unwrap();
    let (hb, pb) = b.rsplit_once(':').unwrap();
    // Even loads: only a's mark (a drain that keeps its devices) sends the device away.
    let marked = json!({"servers": [
        {"host": ha, "port": pa.parse::<u16>().unwrap(), "id": "a", "load": 5, "draining": true},
        {"host": hb, "port": pb.parse::<u16>().unwrap(), "id": "b", "load": 5}
    ], "self": "a"})
    .to_string();
    let _sa = TestServer::on(la, Behaviour::Fixed(200, marked));
    let _sb = TestServer::on(
        lb,
        Behaviour::Fixed(200, indexed_list_body(std::slice::from_ref(&b), 0)),
    );
    let dir = tempfile::tempdir().unwrap();
    let on = json!({"enabled": true, "window_ms": 0, "rate": 1000});
    let device = Device::new(dir.path(), "d", json!({"servers": [a], "rebalance": on}));
    let run = device.run(&["connect", "--rebalance"]);
    assert_eq!(run.code, 0, "{run:?}");
    let docs: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(docs[0]["rebalance"]["to"]["address"], b.as_str(), "{run:?}");
    assert_eq!(
        docs.get(1).and_then(|d| d["server"]["address"].as_str()),
        Some(b.as_str()),
        "{run:?}"
    );
}
