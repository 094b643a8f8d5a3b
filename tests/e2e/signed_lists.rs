//! Signed server lists end to end (behaviour.md, "Signed lists"): a reference cluster signing
//! with a key from `scout-server keygen`, devices run by the `scoutlb` command, and real attackers
//! on loopback: a man in the middle that rewrites the list, a rogue server replaying an old signed
//! list, and one signing with its own key. Each leaves the device's state file byte for byte as it
//! was. Then a key rotation under a running fleet, without a failed connect.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

use scoutlb_testkit::cli::{DEADLINE, Device};
use scoutlb_testkit::signed::{far_future, key_rogue, list_of, signed_body};
use scoutlb_testkit::{Behaviour, ScoutServerProcess, TestServer, free_port, wait_until};

/// Heartbeat and window of the servers: short, so that membership changes are quick.
const FLAGS: &[&str] = &["--heartbeat-ms", "200", "--window-ms", "1500"];

/// The exit code of `scoutlb` when no server could be reached.
const EXIT_ALL_FAILED: i32 = 1;

fn server_bin() -> Option<PathBuf> {
    scoutlb_testkit::built_binary_or_skip("scout-server")
}

/// `scout-server keygen FILE`: the public key it prints.
fn keygen(bin: &Path, file: &Path) -> String {
    let out = Command::new(bin).arg("keygen").arg(file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let public = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let again = Command::new(bin).arg("public-key").arg(file).output().unwrap();
    assert_eq!(String::from_utf8(again.stdout).unwrap().trim(), public);
    public
}

/// A server `id` of the cluster on `db`, started with `extra` flags (such as `--list-key`).
fn server(bin: &Path, db: &str, id: &str, extra: &[&str]) -> ScoutServerProcess {
    let args = [&["--id", id], FLAGS, extra].concat();
    ScoutServerProcess::start(bin, db, &args, DEADLINE)
}

/// A man in the middle on loopback: forwards each request to `upstream` and rewrites the signed
/// payload of the answer (the first server's port becomes 1), keeping its signatures.
struct Rewriter {
    addr: String,
    rewrites: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Rewriter {
    fn start(upstream: String) -> Rewriter {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (rewrites, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (count, done) = (Arc::clone(&rewrites), Arc::clone(&stop));
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        if Self::relay(client, &upstream).is_ok() {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Rewriter { addr, rewrites, stop }
    }

    fn relay(mut client: TcpStream, upstream: &str) -> std::io::Result<()> {
        client.set_nonblocking(false)?;
        client.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = client.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            request.extend_from_slice(&buf[..n]);
        }
        let mut server = TcpStream::connect(upstream)?;
        server.set_read_timeout(Some(Duration::from_secs(5)))?;
        server.write_all(&request)?;
        // Read the head, then the body by its Content-Length (the server may keep the connection).
        let mut response = Vec::new();
        let split = loop {
            if let Some(at) = response.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = server.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            response.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or(std::io::ErrorKind::InvalidData)?;
        while response.len() < split + length {
            let n = server.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            response.extend_from_slice(&buf[..n]);
        }
        let mut answer: Value = serde_json::from_slice(&response[split..])?;
        let payload = scoutlb_testkit::signed::decode_payload(&answer);
        let mut payload: Value = serde_json::from_slice(&payload)?;
        payload["servers"][0]["port"] = 1.into();
        payload["version"] = 1_000_000.into();
        scoutlb_testkit::signed::replace_payload(&mut answer, &serde_json::to_vec(&payload)?);
        let body = answer.to_string();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        client.write_all(head.as_bytes())?;
        client.write_all(body.as_bytes())
    }
}

impl Drop for Rewriter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The attempts of a failed `scoutlb --json connect` (its error line on stderr): (address, kind).
fn attempts(run: &scoutlb_testkit::cli::Run) -> Vec<(String, String)> {
    let line = run.stderr.lines().last().unwrap_or_default();
    let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {run:?}"));
    doc["attempts"]
        .as_array()
        .unwrap_or_else(|| panic!("no attempts: {run:?}"))
        .iter()
        .map(|a| {
            (
                a["server"].as_str().unwrap().to_string(),
                a["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn attackers_leave_the_state_file_as_it_was() {
    let Some(bin) = server_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.sqlite").display().to_string();
    let key = dir.path().join("list.key");
    let public = keygen(&bin, &key);
    let key_arg = key.display().to_string();
    // The server advertises an address nobody listens on, so that the device's default (the
    // server's `self` entry) is dead afterwards and the attackers get their turn.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let advertise = format!("127.0.0.3:{port}");
    let a = server(
        &bin,
        &db,
        "a",
        &["--listen", &listen, "--advertise", &advertise, "--list-key", &key_arg],
    );
    let old_body = a.get("/scout/v1/servers").2;
    // Another server joins and leaves: the generation, and so the list's version, goes up.
    let mut b = server(&bin, &db, "b", &["--list-key", &key_arg]);
    b.terminate();
    let newer = |body: &str| {
        serde_json::from_str::<Value>(body).unwrap()["generation"]
            .as_u64()
            .unwrap()
    };
    let old_version = newer(&old_body);
    wait_until("the generation goes up", || {
        newer(&a.get("/scout/v1/servers").2) > old_version
    });

    let device = Device::new(
        dir.path(),
        "device",
        json!({"servers": [listen], "list_keys": [public], "attempt_delay_ms": 0, "connect_timeout_ms": 2000}),
    );
    let first = device.run(&["connect"]).ok_json();
    assert!(first["list_problem"].is_null(), "{first}");
    let saved = device.state_file();
    assert_eq!(saved["default_server"]["host"], "127.0.0.3", "{saved}");
    assert!(saved["list_version"].as_u64().unwrap() > old_version, "{saved}");
    let before = std::fs::read(&device.state).unwrap();

    let mitm = Rewriter::start(listen.clone());
    let replayer = TestServer::start(Behaviour::Fixed(200, old_body));
    let rogue_list = list_of(&["127.0.0.66:22123"], Some(0));
    let rogue = TestServer::start(Behaviour::Fixed(
        200,
        signed_body(&rogue_list, u64::MAX, far_future(), &[], &[&key_rogue()]),
    ));
    for (name, attacker, why) in [
        ("man in the middle", mitm.addr.clone(), "does not verify"),
        (
            "old signed list",
            replayer.addr.to_string(),
            "older than the saved list's version",
        ),
        ("rogue key", rogue.addr.to_string(), "unknown key"),
    ] {
        device.configure(
            json!({"servers": [attacker], "list_keys": [public], "attempt_delay_ms": 0, "connect_timeout_ms": 2000}),
        );
        let run = device.run(&["connect"]);
        assert_eq!(run.code, EXIT_ALL_FAILED, "{name}: {run:?}");
        let tried = attempts(&run);
        assert!(
            tried.contains(&(attacker.clone(), "untrusted_list".into())),
            "{name}: {tried:?}"
        );
        assert!(run.stderr.contains(why), "{name}: {}", run.stderr);
        assert_eq!(
            std::fs::read(&device.state).unwrap(),
            before,
            "{name}: the state file changed"
        );
    }
    assert!(
        mitm.rewrites.load(Ordering::Relaxed) >= 1,
        "the man in the middle was asked"
    );

    // A liar first, the real server next: the real one wins; the refusal is a warning and a field.
    device
        .configure(json!({"servers": [rogue.addr.to_string(), listen], "list_keys": [public], "attempt_delay_ms": 0}));
    std::fs::remove_file(&device.state).unwrap();
    let run = device.run(&["connect"]);
    let doc = run.ok_json();
    assert!(doc["list_problem"].as_str().unwrap().contains("unknown key"), "{doc}");
    assert!(
        run.stderr.contains("\"warning\":\"server_list_refused\""),
        "{}",
        run.stderr
    );
}

#[test]
fn keys_rotate_under_a_running_fleet_without_a_failed_connect() {
    let Some(bin) = server_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.sqlite").display().to_string();
    let (k1, k2) = (dir.path().join("k1.key"), dir.path().join("k2.key"));
    let (p1, p2) = (keygen(&bin, &k1), keygen(&bin, &k2));
    let (k1, k2) = (k1.display().to_string(), k2.display().to_string());
    let ports = [free_port(), free_port()];
    let listen: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let start = |i: usize, keys: &[&str]| {
        let mut args = vec!["--listen", &listen[i]];
        args.extend(keys);
        server(&bin, &db, &format!("s{i}"), &args)
    };
    let phase1 = ["--list-key", k1.as_str()];
    let mut servers = [start(0, &phase1), start(1, &phase1)];
    let fleet: Vec<Device> = (0..12)
        .map(|i| {
            Device::new(
                dir.path(),
                &format!("d{i}"),
                json!({"servers": listen, "list_keys": [p1], "attempt_delay_ms": 0, "connect_timeout_ms": 2000,
                       "failover_order": "spread", "device_id": format!("d{i}")}),
            )
        })
        .collect();
    let all_connect = |phase: &str| {
        for (i, d) in fleet.iter().enumerate() {
            let run = d.run(&["connect"]);
            let doc = run.ok_json();
            assert!(doc["list_problem"].is_null(), "{phase}, device {i}: {doc}");
        }
    };
    let adopted = |d: &Device| d.state_file()["adopted_keys"].clone();
    all_connect("signed by K1");
    // Each phase is a rolling restart: one server at a time, the fleet connecting in between.
    let phases: [(&str, Vec<&str>); 3] = [
        ("K1 naming K2", vec!["--list-key", &k1, "--next-list-key", &p2]),
        ("K2 and K1", vec!["--list-key", &k2, "--list-key", &k1]),
        ("K2 alone", vec!["--list-key", &k2]),
    ];
    for (phase, flags) in phases {
        for (i, running) in servers.iter_mut().enumerate() {
            running.terminate();
            all_connect(&format!("{phase}, s{i} down"));
            *running = start(i, &flags);
            all_connect(&format!("{phase}, s{i} back"));
        }
        if phase == "K1 naming K2" {
            assert!(
                fleet.iter().all(|d| adopted(d) == json!([p2])),
                "every device adopted K2"
            );
        }
    }
    assert!(
        fleet.iter().all(|d| adopted(d) == json!([p2])),
        "K2 stays adopted: it signs"
    );
    // A device that was off through the rotation trusts only K1, and says so.
    let late = Device::new(
        dir.path(),
        "late",
        json!({"servers": listen, "list_keys": [p1], "attempt_delay_ms": 0}),
    );
    let run = late.run(&["connect"]);
    assert_eq!(run.code, EXIT_ALL_FAILED, "{run:?}");
    assert!(run.stderr.contains("unknown key"), "{}", run.stderr);
}
