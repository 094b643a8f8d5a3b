//! `scout-server --tls-cert --tls-key`: a device (`scoutlb::Client` over HTTPS, trusting the
//! server's self-signed certificate through `ca_file`) fetches the list by the server's name.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;

use scoutlb::{Client, Config, Server};
use serde_json::json;

use scoutlb_testkit::DEADLINE;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_scout-server");

/// A server process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `scout-server` with `args` and returns it with its ready line.
fn start(db: &Path, args: &[&str]) -> (Process, String) {
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn scout-server");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let process = Process(child);
    let line = rx.recv_timeout(DEADLINE).expect("scout-server did not come up");
    (process, line.trim_end().to_owned())
}

/// A client for `server` with these extra configuration keys.
fn client(server: &str, extra: serde_json::Value) -> Client {
    let mut config = json!({"servers": [server], "connect_timeout_ms": 3000, "deadline_ms": 5000});
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    Client::new(Config::from_json(&config.to_string()).unwrap()).unwrap()
}

#[test]
fn a_device_fetches_the_list_over_https_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();

    let (_server, ready) = start(
        &dir.path().join("scout.sqlite"),
        &[
            "--id",
            "secure",
            "--tls-cert",
            cert_file.to_str().unwrap(),
            "--tls-key",
            key_file.to_str().unwrap(),
        ],
    );
    let addr: SocketAddr = ready
        .strip_prefix("scout-server secure listening on https://")
        .unwrap_or_else(|| panic!("ready line: {ready:?}"))
        .parse()
        .unwrap();
    let by_name = format!("localhost:{}", addr.port());

    let device = client(&by_name, json!({"scheme": "https", "ca_file": cert_file}));
    let connected = device.connect().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(connected.reached, Server::new("localhost", addr.port()).unwrap());
    // The list names the server by its bound address and `self` points there.
    assert_eq!(connected.server, Server::new("127.0.0.1", addr.port()).unwrap());
    assert_eq!(device.server_list(), [Server::new("127.0.0.1", addr.port()).unwrap()]);

    // A device that does not trust the certificate, or speaks plain HTTP, gets nothing.
    let untrusting = client(&by_name, json!({"scheme": "https"}));
    let err = untrusting.connect().unwrap_err().to_string();
    assert!(
        err.contains("tls") || err.contains("TLS") || err.contains("certificate"),
        "{err}"
    );
    assert!(client(&by_name, json!({"scheme": "http"})).connect().is_err());
    // The server is unharmed by both.
    assert!(device.connect().is_ok());
}

#[test]
fn bad_tls_files_stop_the_server_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let output = Command::new(BIN)
        .arg("--db")
        .arg(dir.path().join("scout.sqlite"))
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--tls-cert") && stderr.contains("missing.pem"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn tls_files_set_up_a_device_the_scout_way() {
    // behaviour.md, "TLS": `tls-files` makes the CA a Scout device keeps in its cacerts folder
    // and the server's pair; TlsVerifyOption=3 checks the chain and the name.
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("tls");
    std::fs::create_dir(&files).unwrap();
    let out = Command::new(BIN).arg("tls-files").arg(&files).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3, "{out:?}");
    let again = Command::new(BIN).arg("tls-files").arg(&files).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    let cacerts = dir.path().join("cacerts");
    std::fs::create_dir(&cacerts).unwrap();
    std::fs::copy(files.join("ca.pem"), cacerts.join("scout-ca.pem")).unwrap();
    let (_server, ready) = start(
        &dir.path().join("scout.sqlite"),
        &[
            "--id",
            "tls",
            "--tls-cert",
            files.join("server.pem").to_str().unwrap(),
            "--tls-key",
            files.join("server.key").to_str().unwrap(),
        ],
    );
    let addr = ready.rsplit("https://").next().unwrap().to_owned();
    let ini = dir.path().join("terminal.ini");
    std::fs::write(
        &ini,
        format!("[Scout]\r\nServerList={addr}\r\n[Security]\r\nTlsVerifyOption=3\r\n"),
    )
    .unwrap();
    let device = client(
        "127.0.0.9:1",
        json!({"scheme": "https", "ca_dir": cacerts, "scout_ini": [ini]}),
    );
    let connected = device.connect().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(connected.server.to_string(), addr);
    // A device whose cacerts folder holds another CA reaches nothing.
    std::fs::remove_file(cacerts.join("scout-ca.pem")).unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    assert!(
        Command::new(BIN)
            .arg("tls-files")
            .arg(&other)
            .status()
            .unwrap()
            .success()
    );
    std::fs::copy(other.join("ca.pem"), cacerts.join("other.crt")).unwrap();
    let device = client(
        "127.0.0.9:1",
        json!({"scheme": "https", "ca_dir": cacerts, "scout_ini": [ini]}),
    );
    let err = device.connect().unwrap_err().to_string();
    assert!(err.contains("TLS"), "{err}");
}
