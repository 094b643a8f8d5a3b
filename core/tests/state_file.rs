//! The state file (behaviour.md, "State file"): persistence, corrupt and newer files, unwritable folders, and
//! crash safety under SIGKILL with one and with two writer processes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use scoutlb::{Client, Config, Error, Event, Server, ServerList, State, StateFile};
use scoutlb_testkit::Recorder;

fn config(path: &Path) -> Config {
    let mut c = Config::from_json(r#"{"servers": ["seed1:1", "seed2:1"], "probe": "none"}"#).unwrap();
    c.state_file = Some(path.to_path_buf());
    c
}

fn s(text: &str) -> Server {
    text.parse().unwrap()
}

#[test]
fn default_and_list_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    {
        let c = Client::new(config(&path)).unwrap();
        c.update_server_list_json(
            br#"{"servers": [{"host": "a", "port": 1, "id": "A"}, {"host": "b", "port": 1}]}"#,
            Some(&s("seed1:1")),
        )
        .unwrap();
        c.report_success(&s("b:1")).unwrap();
    }
    let c = Client::new(config(&path)).unwrap();
    assert_eq!(c.default_server(), Some(s("b:1")));
    assert_eq!(c.server_list(), vec![s("a:1"), s("b:1")]);
    assert_eq!(c.candidates(), vec![s("b:1"), s("a:1"), s("seed1:1"), s("seed2:1")]);
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["format"], 1);
    assert_eq!(doc["default_server"], serde_json::json!({"host": "b", "port": 1}));
    assert_eq!(doc["servers"][0]["id"], "A");
    assert_eq!(doc["servers_from"], serde_json::json!({"host": "seed1", "port": 1}));
    assert!(humantime::parse_rfc3339(doc["updated_at"].as_str().unwrap()).is_ok());
}

#[test]
fn nothing_is_written_when_the_default_did_not_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let c = Client::new(config(&path)).unwrap();
    c.report_success(&s("a:1")).unwrap();
    let before = std::fs::read(&path).unwrap();
    std::fs::write(&path, &before).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    c.report_success(&s("a:1")).unwrap();
    c.update_server_list_json(br#"{"servers": [{"host": "a", "port": 1}]}"#, None)
        .unwrap();
    let after_list = std::fs::metadata(&path).unwrap().modified().unwrap();
    assert_ne!(after_list, mtime, "a new list is written");
    c.report_success(&s("a:1")).unwrap();
    c.update_server_list_json(br#"{"servers": [{"host": "a", "port": 1}]}"#, None)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        after_list,
        "same default and list: no write"
    );
}

#[test]
fn self_makes_the_real_server_the_default() {
    let c = Client::new(Config::from_json(r#"{"servers": ["lb:1"], "probe": "none"}"#).unwrap()).unwrap();
    c.report_success(&s("lb:1")).unwrap();
    c.update_server_list_json(
        br#"{"servers": [{"host": "a", "port": 1, "id": "A"}, {"host": "b", "port": 1, "id": "B"}], "self": "B"}"#,
        None,
    )
    .unwrap();
    assert_eq!(c.default_server(), Some(s("b:1")));
    assert_eq!(c.connection_lost(), vec![s("b:1"), s("a:1"), s("lb:1")]);
}

#[test]
fn a_corrupt_file_is_moved_aside_with_a_warning() {
    for content in [
        &b""[..],
        b"{\"format\": 1, \"default_server\": {\"host\": ",
        b"\x00\xff garbage",
        b"[]",
        br#"{"format": 1, "servers": [{"host": "a", "port": 0}]}"#,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, content).unwrap();
        let events = Recorder::default();
        let c = Client::builder(config(&path)).events(events.sink()).build().unwrap();
        assert_eq!(
            c.candidates(),
            vec![s("seed1:1"), s("seed2:1")],
            "starts from the seeds"
        );
        let aside: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("state.json.corrupt-")
            })
            .collect();
        assert_eq!(aside.len(), 1, "moved aside");
        assert_eq!(std::fs::read(&aside[0]).unwrap(), content, "nothing lost");
        assert!(!path.exists());
        let events = events.events();
        assert!(matches!(&events[0], Event::StateFileProblem { message, .. } if message.contains("moved aside")));
        // Reported without an event sink too (behaviour.md, "State file").
        let dropped = c.state_dropped().expect("the dropped file is named");
        assert!(
            dropped.contains(&path.display().to_string()) && dropped.contains("moved aside"),
            "{dropped}"
        );
    }
}

#[test]
fn a_dropped_state_file_is_named_in_every_connect_result() {
    let live = scoutlb_testkit::TestServer::live("a");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(&path, b"not json").unwrap();
    let mut cfg = Config::from_json(&format!(r#"{{"servers": ["{}"]}}"#, live.server())).unwrap();
    cfg.state_file = Some(path.clone());
    let client = Client::new(cfg.clone()).unwrap();
    let c = client.connect().unwrap();
    assert!(
        c.state_dropped.as_deref().is_some_and(|m| m.contains("moved aside")),
        "{c:?}"
    );
    assert_eq!(c.state_dropped.as_deref(), client.state_dropped());
    // The next restart uses the file it saved: nothing dropped.
    let c = Client::new(cfg).unwrap().connect().unwrap();
    assert_eq!(c.state_dropped, None);
}

#[test]
fn a_corrupt_file_with_any_legal_name_is_moved_aside_and_saves_work() {
    for len in [200, 233, 234, 240, 245, 250, 251, 255] {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("{}.json", "s".repeat(len - 5));
        assert_eq!(name.len(), len);
        let path = dir.path().join(&name);
        std::fs::write(&path, b"corrupt").unwrap();
        let c = Client::new(config(&path)).unwrap_or_else(|e| panic!("name of {len} bytes: {e}"));
        assert!(c.state_dropped().is_some(), "{len}");
        assert!(!path.exists(), "{len}: moved aside");
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1, "{len}: {aside:?}");
        assert_eq!(std::fs::read(dir.path().join(&aside[0])).unwrap(), b"corrupt", "{len}");
        c.report_success(&s("a:1")).unwrap();
        assert_eq!(
            Client::new(config(&path)).unwrap().default_server(),
            Some(s("a:1")),
            "{len}"
        );
        // A second corrupt file of the same name keeps the first.
        std::fs::write(&path, b"again").unwrap();
        Client::new(config(&path)).unwrap();
        let count = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(".corrupt-"))
            .count();
        assert_eq!(count, 2, "{len}");
    }
}

#[test]
fn a_missing_folder_is_an_error_that_names_it_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("no").join("such");
    let err = Client::new(config(&folder.join("state.json"))).unwrap_err();
    assert!(matches!(err, Error::StateFile { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&folder.display().to_string()) && text.contains("does not exist"),
        "{text}"
    );
    assert!(!dir.path().join("no").exists(), "no folder is created");
}

#[test]
fn planted_links_at_temporary_names_are_never_followed() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let folder = dir.path().join("state");
    std::fs::create_dir(&folder).unwrap();
    // Links under every name an earlier scheme would have predicted for this process.
    for n in 0..2000 {
        symlink(
            &victim,
            folder.join(format!(".state.json.tmp-{}-{n}", std::process::id())),
        )
        .unwrap();
    }
    let path = folder.join("state.json");
    let c = Client::new(config(&path)).unwrap();
    c.report_success(&s("a:1")).unwrap();
    c.report_success(&s("b:1")).unwrap();
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"precious",
        "the victim was written through a link"
    );
    assert_eq!(Client::new(config(&path)).unwrap().default_server(), Some(s("b:1")));

    // A link in place of the lock file: refused, and nothing created or locked through it.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let missing = dir.path().join("created-through-the-link");
    symlink(&missing, other.join("state.json.lock")).unwrap();
    let err = Client::new(config(&other.join("state.json"))).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(!missing.exists(), "a file was created through the link");
}

#[test]
fn a_folder_others_could_plant_files_in_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("shared");
    std::fs::create_dir(&folder).unwrap();
    let path = folder.join("state.json");
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = Client::new(config(&path)).unwrap_err();
    assert!(matches!(err, Error::StateFile { .. }), "{err}");
    assert!(err.to_string().contains("sticky bit"), "{err}");
    // World-writable with the sticky bit (like /tmp): others cannot replace this user's files.
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o1777)).unwrap();
    Client::new(config(&path)).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A folder that belongs to another user (not root): refused. Only root can give it away.
    let chown = Command::new("chown").arg("54321").arg(&folder).status();
    if !chown.is_ok_and(|s| s.success()) {
        scoutlb_testkit::skip("cannot chown a folder to another user (needs root)");
        return;
    }
    let err = Client::new(config(&path)).unwrap_err();
    assert!(err.to_string().contains("54321"), "{err}");
}

/// Create a client on another thread: `Err` when it did not return within 10 s (it blocked).
fn create_within(path: &Path) -> Result<scoutlb::Result<Client>, ()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let cfg = config(path);
    std::thread::spawn(move || {
        let _ = tx.send(Client::new(cfg));
    });
    rx.recv_timeout(Duration::from_secs(10)).map_err(|_| ())
}

#[test]
fn a_fifo_socket_link_or_folder_in_place_of_the_state_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.json");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let socket = dir.path().join("socket.json");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let target = dir.path().join("target.json");
    std::fs::write(&target, br#"{"format": 1}"#).unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let folder = dir.path().join("folder.json");
    std::fs::create_dir(&folder).unwrap();
    for (path, what) in [
        (&fifo, "a FIFO"),
        (&socket, "a socket"),
        (&link, "symbolic link"),
        (&folder, "a folder"),
        (&PathBuf::from("/dev/null"), "a device"),
    ] {
        let made = create_within(path).unwrap_or_else(|()| panic!("creating a client on {what} blocked"));
        let err = made.expect_err(what);
        assert!(matches!(err, Error::StateFile { .. }), "{what}: {err}");
        assert!(err.to_string().contains(what), "{what}: {err}");
    }
    assert!(
        fifo.exists() && socket.exists() && link.exists(),
        "nothing was moved aside"
    );
    // A FIFO in place of the lock file is refused at once too.
    let lock_fifo = dir.path().join("x.json.lock");
    assert!(Command::new("mkfifo").arg(&lock_fifo).status().unwrap().success());
    let made = create_within(&dir.path().join("x.json")).expect("creating a client blocked on a FIFO lock file");
    assert!(made.is_err());
}

#[test]
fn an_oversized_file_is_moved_aside_and_two_corrupt_files_both_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let huge = std::fs::File::create(&path).unwrap();
    huge.set_len(scoutlb::MAX_STATE_BYTES + 10).unwrap(); // sparse: costs no disk
    drop(huge);
    let events = Recorder::default();
    let c = Client::builder(config(&path)).events(events.sink()).build().unwrap();
    assert_eq!(c.candidates(), vec![s("seed1:1"), s("seed2:1")]);
    assert!(matches!(&events.events()[0], Event::StateFileProblem { message, .. } if message.contains("larger than")));
    std::fs::write(&path, b"second corrupt file").unwrap();
    Client::new(config(&path)).unwrap();
    let aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(".corrupt-"))
        .count();
    assert_eq!(aside, 2, "no corrupt file overwrites another");
}

#[test]
fn a_newer_format_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let newer = br#"{"format": 2, "something": "new"}"#;
    std::fs::write(&path, newer).unwrap();
    let err = Client::new(config(&path)).unwrap_err();
    assert!(
        matches!(&err, Error::StateFormat { found, known: 1, .. } if found == "2"),
        "{err}"
    );
    assert!(err.to_string().contains("newer"));
    assert_eq!(std::fs::read(&path).unwrap(), newer);
}

#[test]
fn an_unwritable_folder_is_an_error_at_creation() {
    // procfs takes no new files, even for root; a regular file cannot be a folder.
    let file = tempfile::NamedTempFile::new().unwrap();
    for path in [
        PathBuf::from("/proc/scoutlb-test/state.json"),
        file.path().join("state.json"),
    ] {
        let err = Client::new(config(&path)).unwrap_err();
        assert!(matches!(err, Error::StateFile { .. }), "{err}");
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    }
}

#[test]
fn no_path_means_memory_only() {
    let dir = tempfile::tempdir().unwrap();
    let cwd_files = std::fs::read_dir(dir.path()).unwrap().count();
    let mut c = config(Path::new("unused"));
    c.state_file = None;
    let client = Client::new(c).unwrap();
    client.report_success(&s("a:1")).unwrap();
    assert_eq!(client.default_server(), Some(s("a:1")));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), cwd_files);
}

/// The state written as version `n` by the writer processes.
fn version(n: u64, writer: u64) -> State {
    let list: Vec<Server> = (0..(n % 7 + 1))
        .map(|i| Server::new(&format!("w{writer}-h{i}.corp"), (n % 60000 + 1) as u16).unwrap())
        .collect();
    State {
        default_server: Some(list[0].clone()),
        list: Some(ServerList::from_servers(list).unwrap()),
        servers_from: Some(Server::new(&format!("from{n}"), 1).unwrap()),
        ..State::default()
    }
}

/// Decode which version a state is, if it is one of the written versions.
fn which_version(state: &State) -> Option<(u64, u64)> {
    let from = state.servers_from.as_ref()?.host().strip_prefix("from")?.parse().ok()?;
    let writer = state
        .default_server
        .as_ref()?
        .host()
        .strip_prefix('w')?
        .split('-')
        .next()?
        .parse()
        .ok()?;
    (version(from, writer) == *state).then_some((from, writer))
}

/// Not a test of its own: the writer process of the crash tests, started by them.
#[test]
#[ignore = "run as a child process by the crash-safety tests"]
fn child_writer() {
    let Ok(path) = std::env::var("SCOUTLB_CHILD_STATE") else {
        return;
    };
    let writer: u64 = std::env::var("SCOUTLB_CHILD_WRITER").unwrap().parse().unwrap();
    let file = StateFile::open(Path::new(&path)).unwrap();
    for n in 0.. {
        file.save(&version(n, writer)).unwrap();
    }
}

fn spawn_writer(path: &Path, writer: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SCOUTLB_CHILD_STATE", path)
        .env("SCOUTLB_CHILD_WRITER", writer.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn crash_loop(writers: u64, rounds: u32) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut rng = fastrand::Rng::with_seed(7);
    let mut seen_versions = 0;
    for round in 0..rounds {
        let mut children: Vec<Child> = (0..writers).map(|w| spawn_writer(&path, w)).collect();
        std::thread::sleep(Duration::from_micros(rng.u64(1_000..25_000)));
        for c in &mut children {
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
        }
        if !path.exists() {
            continue; // killed before its first rename: nothing was ever replaced
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.is_empty(), "round {round}: empty state file");
        let file = StateFile::open(&path).unwrap();
        let loaded = file.load().unwrap();
        assert!(
            loaded.warning.is_none(),
            "round {round}: torn file: {:?}",
            loaded.warning
        );
        assert!(
            which_version(&loaded.state).is_some(),
            "round {round}: not a written version: {:?}",
            loaded.state
        );
        seen_versions += 1;
    }
    assert!(
        seen_versions > rounds / 2,
        "the writers wrote too rarely to test anything ({seen_versions})"
    );
}

#[test]
fn crash_safety_one_writer_killed_200_times() {
    crash_loop(1, 200);
}

#[test]
fn crash_safety_two_writers_killed_200_times() {
    crash_loop(2, 200);
}

#[test]
fn one_client_from_four_threads_keeps_a_consistent_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let client = Arc::new(Client::new(config(&path)).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let c = Arc::clone(&client);
            std::thread::spawn(move || {
                for i in 0..50 {
                    let server = s(&format!("t{t}-{i}:1"));
                    c.report_success(&server).unwrap();
                    c.update_server_list_json(
                        format!(r#"{{"servers": [{{"host": "t{t}-{i}", "port": 1}}]}}"#).as_bytes(),
                        None,
                    )
                    .unwrap();
                    assert!(!c.candidates().is_empty());
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let last = client.state();
    let reloaded = Client::new(config(&path)).unwrap().state();
    assert_eq!(reloaded.default_server, last.default_server);
    assert_eq!(reloaded.list, last.list);
}

#[test]
fn a_save_that_fails_during_connect_is_reported_in_the_result_and_as_an_event() {
    let live = scoutlb_testkit::TestServer::live("a");
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("state");
    std::fs::create_dir(&folder).unwrap();
    let path = folder.join("state.json");
    let mut cfg = Config::from_json(&format!(r#"{{"servers": ["{}"]}}"#, live.server())).unwrap();
    cfg.state_file = Some(path.clone());
    let rec = Recorder::default();
    let client = Client::builder(cfg).events(rec.sink()).build().unwrap();
    // The folder goes away after the client was created: the save of the connect fails.
    std::fs::remove_dir_all(&folder).unwrap();
    let c = client.connect().unwrap();
    assert_eq!(c.server, live.server());
    assert!(!c.saved);
    let why = c.save_error.expect("the failed save is named");
    assert!(why.contains(&path.display().to_string()), "{why}");
    assert!(
        rec.events().iter().any(|e| matches!(e, Event::StateFileProblem { .. })),
        "{:?}",
        rec.kinds()
    );

    // With the folder back, the next connect saves what was lost, although nothing changed.
    std::fs::create_dir(&folder).unwrap();
    let c = client.reconnect().unwrap();
    assert!(c.saved && c.save_error.is_none(), "{c:?}");
    let saved = StateFile::open(&path).unwrap().load().unwrap().state;
    assert_eq!(saved.default_server, Some(live.server()));
}

#[test]
fn a_failed_save_event_names_the_state_file_once() {
    let live = scoutlb_testkit::TestServer::live("a");
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("state");
    std::fs::create_dir(&folder).unwrap();
    let path = folder.join("state.json");
    let mut cfg = Config::from_json(&format!(r#"{{"servers": ["{}"]}}"#, live.server())).unwrap();
    cfg.state_file = Some(path.clone());
    let rec = Recorder::default();
    let client = Client::builder(cfg).events(rec.sink()).build().unwrap();
    std::fs::remove_dir_all(&folder).unwrap();
    assert!(!client.connect().unwrap().saved);
    let text = rec
        .events()
        .iter()
        .find(|e| matches!(e, Event::StateFileProblem { .. }))
        .map(ToString::to_string)
        .expect("a state_file_problem event");
    assert!(
        text.starts_with(&format!("state file {}: cannot ", path.display())),
        "{text}"
    );
    assert_eq!(text.matches("state file").count(), 1, "the prefix is repeated: {text}");
}

#[test]
fn failing_since_survives_a_restart_and_a_save_and_keeps_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(
        &path,
        r#"{"format": 1, "default_server": {"host": "seed1", "port": 1}, "failing_since": "2026-01-02T03:04:05.678Z"}"#,
    )
    .unwrap();
    let c = Client::new(config(&path)).unwrap();
    // A list update saves the state: the failure recorded stays, the format stays 1.
    c.update_server_list_json(br#"{"servers": [{"host": "seed1", "port": 1}]}"#, None)
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["format"], 1);
    assert_eq!(doc["failing_since"], "2026-01-02T03:04:05.678Z");
}
