//! behaviour.md, "TLS": what each `tls_verify` level checks, the roots of `ca_file` and `ca_dir`,
//! the name each kind of candidate is checked against, and TLS 1.2 as the oldest version.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scoutlb::{Client, Config, Error, ErrorKind, Event, FailReason, TlsFailureKind};
use scoutlb_testkit::dns::{Dnsmasq, ZONE};
use scoutlb_testkit::{Behaviour, Recorder, TestPki, TestServer, free_port, skip};

/// An https server with `pki`'s certificate that answers with a list of itself.
fn https_server(pki: &TestPki) -> TestServer {
    TestServer::live_tls("t", pki)
}

/// A client of `json` (an object's inner text) with https and a recorder of its events.
fn client(json: &str) -> Result<(Client, Recorder), Error> {
    let config = Config::from_json(&format!(
        r#"{{"scheme": "https", "connect_timeout_ms": 2000, "attempt_delay_ms": 0, {json}}}"#
    ))?;
    let events = Recorder::default();
    let client = Client::builder(config).events(events.sink()).build()?;
    Ok((client, events))
}

/// The TLS failure kind of every attempt of a failed connect.
fn tls_kinds(err: &Error) -> Vec<TlsFailureKind> {
    err.attempts()
        .iter()
        .map(|a| match &a.reason {
            FailReason::Tls(t) => t.kind,
            other => panic!("expected a TLS failure, got {other:?} in {err}"),
        })
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

#[test]
fn each_level_checks_what_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = TestPki::for_names(&["scout.example"]);
    let ca = write(dir.path(), "ca.pem", trusted.ca_pem.as_bytes());
    let wrong_name = https_server(&trusted);
    let stranger = https_server(&TestPki::new());
    let expired = TestPki::expired();
    let ca_expired = write(dir.path(), "expired-ca.pem", expired.ca_pem.as_bytes());
    let expired = https_server(&expired);
    // (server, its CA file, what full / chain say; none always connects)
    let cases = [
        (&wrong_name, &ca, Some(TlsFailureKind::WrongName), None),
        (
            &stranger,
            &ca,
            Some(TlsFailureKind::UnknownIssuer),
            Some(TlsFailureKind::UnknownIssuer),
        ),
        (
            &expired,
            &ca_expired,
            Some(TlsFailureKind::Expired),
            Some(TlsFailureKind::Expired),
        ),
    ];
    for (server, ca, full, chain) in cases {
        for (level, want) in [("full", full), ("chain", chain), ("none", None)] {
            let json = format!(
                r#""servers": ["{}"], "ca_file": "{ca}", "tls_verify": "{level}""#,
                server.server()
            );
            let (c, _) = client(&json).unwrap();
            match (c.connect(), want) {
                (Ok(connected), None) => assert_eq!(connected.server, server.server()),
                (Err(e), Some(kind)) => assert_eq!(tls_kinds(&e), [kind], "{level}: {e}"),
                (got, want) => panic!("{level} against {}: want {want:?}, got {got:?}", server.server()),
            }
        }
    }
}

#[test]
fn none_is_reported_before_every_call_and_the_others_never() {
    let pki = TestPki::new();
    let server = https_server(&pki);
    let (c, events) = client(&format!(r#""servers": ["{}"], "tls_verify": "none""#, server.server())).unwrap();
    c.connect().unwrap();
    c.reconnect().unwrap();
    c.connect_with_retry().unwrap();
    let kinds: Vec<&str> = events.kinds().into_iter().map(|(k, _)| k).collect();
    let calls: Vec<usize> = kinds
        .iter()
        .enumerate()
        .filter(|(_, k)| **k == "tls_unverified")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(calls.len(), 3, "{kinds:?}");
    for i in calls {
        assert_eq!(kinds.get(i + 1), Some(&"attempt_started"), "{kinds:?}");
    }
    let event = Event::TlsUnverified;
    assert_eq!(event.severity(), scoutlb::Severity::Warning);
    assert!(event.to_string().contains("not checked"), "{event}");

    // Checking levels, and plain http, say nothing of the kind.
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", pki.ca_pem.as_bytes());
    for extra in [r#""tls_verify": "full""#, r#""tls_verify": "chain""#] {
        let (c, events) = client(&format!(
            r#""servers": ["{}"], "ca_file": "{ca}", {extra}"#,
            server.server()
        ))
        .unwrap();
        c.connect().unwrap();
        assert!(!events.kinds().iter().any(|(k, _)| *k == "tls_unverified"), "{extra}");
    }
    let plain = TestServer::start(Behaviour::Status(200));
    let config = Config::from_json(&format!(
        r#"{{"servers": ["{}"], "tls_verify": "none"}}"#,
        plain.server()
    ))
    .unwrap();
    let events = Recorder::default();
    let c = Client::builder(config).events(events.sink()).build().unwrap();
    let _ = c.connect();
    assert!(!events.kinds().iter().any(|(k, _)| *k == "tls_unverified"));
}

#[test]
fn ca_dir_trusts_every_certificate_file_in_it() {
    let (one, two) = (TestPki::new(), TestPki::new());
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "one.pem", one.ca_pem.as_bytes());
    write(dir.path(), "two.CER", &two.ca_der);
    write(dir.path(), "README", b"not a certificate, and not named like one");
    std::fs::create_dir(dir.path().join("old.crt")).unwrap();
    let servers = [https_server(&one), https_server(&two)];
    for server in &servers {
        let json = format!(
            r#""servers": ["{}"], "ca_dir": "{}""#,
            server.server(),
            dir.path().display()
        );
        let (c, _) = client(&json).unwrap();
        assert_eq!(c.connect().unwrap().server, server.server());
    }
    // Only the folder's roots: a server of a third CA is not trusted.
    let third = https_server(&TestPki::new());
    let json = format!(
        r#""servers": ["{}"], "ca_dir": "{}""#,
        third.server(),
        dir.path().display()
    );
    let err = client(&json).unwrap().0.connect().unwrap_err();
    assert_eq!(tls_kinds(&err), [TlsFailureKind::UnknownIssuer]);
}

#[test]
fn a_ca_dir_without_a_root_or_with_a_bad_file_is_refused_at_creation() {
    let refused = |json: String| match client(&json) {
        Err(Error::Config { key, message }) => (key, message),
        other => panic!("{json}: expected a configuration error, got {:?}", other.map(|_| ())),
    };
    let empty = tempfile::tempdir().unwrap();
    write(empty.path(), "notes.txt", b"no certificate here");
    let at = format!(r#""ca_dir": "{}""#, empty.path().display());
    let (key, message) = refused(at.clone());
    assert_eq!(key, "ca_dir");
    assert!(
        message.contains("holds no certificate") && message.contains("could reach none"),
        "{message}"
    );
    // Checking nothing needs no root; plain http reads no TLS setting of the kind.
    client(&format!(r#"{at}, "tls_verify": "none""#)).unwrap();
    Client::new(Config::from_json(&format!("{{{at}}}")).unwrap()).unwrap();

    let bad = tempfile::tempdir().unwrap();
    let file = write(
        bad.path(),
        "broken.crt",
        b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    );
    let (key, message) = refused(format!(r#""ca_dir": "{}""#, bad.path().display()));
    assert_eq!(key, "ca_dir");
    assert!(message.contains(&file), "{message}");
    let garbage = tempfile::tempdir().unwrap();
    let file = write(garbage.path(), "garbage.cer", b"\x30\x03\x02\x01\x00");
    let (_, message) = refused(format!(r#""ca_dir": "{}""#, garbage.path().display()));
    assert!(
        message.contains(&file) && message.contains("not a CA certificate"),
        "{message}"
    );
    let (key, message) = refused(r#""ca_dir": "/nonexistent/cacerts""#.into());
    assert_eq!(key, "ca_dir");
    assert!(message.contains("/nonexistent/cacerts"), "{message}");
}

#[test]
fn scout_ini_levels_map_onto_tls_verify_and_take_scouts_roots() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = TestPki::for_names(&["scout.example"]);
    let ca = write(dir.path(), "ca.pem", trusted.ca_pem.as_bytes());
    let server = https_server(&trusted);
    let ini = |level: &str| {
        write(
            dir.path(),
            &format!("t{level}.ini"),
            format!("[Security]\r\nTlsVerifyOption={level}\r\n").as_bytes(),
        )
    };
    let base = format!(r#""servers": ["{}"], "ca_file": "{ca}""#, server.server());
    // The files win over the JSON key: 1 takes the wrong name, 3 refuses it, 0 checks nothing.
    let (c, _) = client(&format!(
        r#"{base}, "tls_verify": "full", "scout_ini": ["{}"]"#,
        ini("1")
    ))
    .unwrap();
    c.connect().unwrap();
    let (c, _) = client(&format!(
        r#"{base}, "tls_verify": "chain", "scout_ini": ["{}"]"#,
        ini("3")
    ))
    .unwrap();
    assert_eq!(tls_kinds(&c.connect().unwrap_err()), [TlsFailureKind::WrongName]);
    let (c, events) = client(&format!(r#"{base}, "scout_ini": ["{}"]"#, ini("0"))).unwrap();
    c.connect().unwrap();
    assert_eq!(events.kinds()[0].0, "tls_unverified");
    // With no roots configured, a checking level takes Scout's folder (absent on this machine).
    let json = format!(r#""servers": ["{}"], "scout_ini": ["{}"]"#, server.server(), ini("3"));
    match client(&json) {
        Err(Error::Config { key, message }) => {
            assert_eq!(key, "ca_dir");
            assert!(message.contains(scoutlb::SCOUT_CA_DIR), "{message}");
        }
        other => panic!("expected Scout's folder of roots, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_balancer_name_is_checked_for_every_address_it_resolves_to() {
    // A certificate for the name only: as a balancer `localhost` it connects, as a list entry
    // the address does not.
    let pki = TestPki::for_names(&["localhost"]);
    let server = https_server(&pki);
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", pki.ca_pem.as_bytes());
    let port = server.server().port();
    let (c, _) = client(&format!(
        r#""manager_load_balancer": "localhost:{port}", "ca_file": "{ca}""#
    ))
    .unwrap();
    let connected = c.connect().unwrap();
    assert!(connected.via_balancer, "{connected:?}");
    let (c, _) = client(&format!(r#""servers": ["127.0.0.1:{port}"], "ca_file": "{ca}""#)).unwrap();
    assert_eq!(tls_kinds(&c.connect().unwrap_err()), [TlsFailureKind::WrongName]);
}

#[test]
fn an_srv_balancer_is_checked_against_its_domain_not_the_targets_of_the_answer() {
    let target = format!("srv-a.{ZONE}");
    // One port, two servers one after the other: the listener is bound by the test server.
    for (names, want) in [
        (vec![ZONE], None),
        (vec![target.as_str()], Some(TlsFailureKind::WrongName)),
    ] {
        let pki = TestPki::for_names(&names);
        let server = https_server(&pki);
        let port = server.server().port();
        let Some(dns) = Dnsmasq::start(
            &format!("127.0.0.1 {target}\n"),
            &[format!("--srv-host=_scout._tcp.{ZONE},{target},{port}")],
        ) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let ca = write(dir.path(), "ca.pem", pki.ca_pem.as_bytes());
        let json = format!(
            r#""manager_load_balancer": "srv:_scout._tcp.{ZONE}", "nameservers": ["{}"], "ca_file": "{ca}""#,
            dns.addr()
        );
        let (c, _) = client(&json).unwrap();
        match (c.connect(), want) {
            (Ok(connected), None) => assert!(connected.via_balancer),
            (Err(e), Some(kind)) => {
                // The SRV target's address first; then `ScoutSrv`, which this zone does not have.
                let first = &e.attempts()[0];
                assert_eq!(first.server, server.server(), "{e}");
                assert!(matches!(&first.reason, FailReason::Tls(t) if t.kind == kind), "{e}");
            }
            (got, want) => panic!("certificate for {names:?}: want {want:?}, got {got:?}"),
        }
    }
}

/// `openssl s_server` speaking TLS 1.1 at most, with a throw-away certificate (its files kept
/// in the folder until the server stops).
struct OldTlsServer(Child, u16, #[allow(dead_code)] tempfile::TempDir);

impl OldTlsServer {
    fn start() -> Option<Self> {
        if Command::new("openssl").arg("version").output().is_err() {
            skip("openssl is not installed (apt-get install -y openssl)");
            return None;
        }
        let pki = TestPki::new();
        let dir = tempfile::tempdir().unwrap();
        let cert = write(dir.path(), "cert.pem", pki.cert_pem.as_bytes());
        let key = write(dir.path(), "key.pem", pki.key_pem.as_bytes());
        let port = free_port();
        let child = Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-www",
                "-tls1_1",
                "-cipher",
                "DEFAULT:@SECLEVEL=0",
            ])
            .args(["-accept", &format!("127.0.0.1:{port}"), "-cert", &cert, "-key", &key])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(Instant::now() < deadline, "openssl s_server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(OldTlsServer(child, port, dir))
    }
}

impl Drop for OldTlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_server_older_than_tls_1_2_is_refused_even_unchecked() {
    let Some(old) = OldTlsServer::start() else { return };
    let (c, _) = client(&format!(r#""servers": ["127.0.0.1:{}"], "tls_verify": "none""#, old.1)).unwrap();
    let err = c.connect().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AllFailed);
    assert_eq!(tls_kinds(&err), [TlsFailureKind::Handshake], "{err}");
}

#[test]
fn tls_verify_is_a_checked_key() {
    let err = Config::from_json(r#"{"tls_verify": "strict"}"#).unwrap_err();
    assert!(err.to_string().contains(r#""full", "chain" or "none""#), "{err}");
    let c = Config::from_json(r#"{"tls_verify": "chain", "ca_dir": "/setup/cacerts/scoutsrv"}"#).unwrap();
    assert_eq!(c.tls_verify, scoutlb::TlsVerify::Chain);
    assert!(Config::from_json(r#"{"ca_dir": ""}"#).is_err());
    assert_eq!(scoutlb::SCOUT_TLS_PORT, 22125);
}
