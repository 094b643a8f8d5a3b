//! Scout INI files (behaviour.md, "Scout INI files"): read when the client is created, entries win
//! over JSON keys, bad values refused naming file, line, section and entry.

use std::io::Write;

use scoutlb::{Client, Config, Error};

fn ini(text: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text).unwrap();
    f
}

fn config_with(files: &[&tempfile::NamedTempFile], extra: &str) -> Config {
    let paths: Vec<String> = files.iter().map(|f| f.path().display().to_string()).collect();
    Config::from_json(&format!(
        r#"{{"scout_ini": {}, "probe": "none"{extra}}}"#,
        serde_json::json!(paths)
    ))
    .unwrap()
}

#[test]
fn entries_set_their_keys_and_win_over_json() {
    let f = ini(b"\xEF\xBB\xBF[Scout]\r\nManagerLoadBalancer=lb.corp\r\n; comment\r\n[Other]\r\nX=1\r\n[scout]\r\nserverlist = 127.0.0.1:7, 127.0.0.2\r\n[Security]\r\nTlsVerifyOption=3\r\n");
    let config = config_with(&[&f], r#", "servers": ["127.0.0.9"], "default_port": 22125"#);
    let client = Client::new(config).unwrap();
    let c = client.config();
    assert_eq!(c.manager_load_balancer.as_ref().unwrap().to_string(), "lb.corp:22125");
    let servers: Vec<String> = c.servers.iter().map(ToString::to_string).collect();
    assert_eq!(servers, ["127.0.0.1:7", "127.0.0.2:22125"]);
    assert_eq!(c.tls_verify, scoutlb::TlsVerify::Full);
}

#[test]
fn a_later_file_wins_over_an_earlier_one() {
    let a = ini(b"[Scout]\nManagerLoadBalancer=a.corp\n");
    let b = ini(b"[Scout]\nManagerLoadBalancer=b.corp\n");
    let client = Client::new(config_with(&[&a, &b], "")).unwrap();
    assert_eq!(
        client.config().manager_load_balancer.as_ref().unwrap().to_string(),
        "b.corp:22123"
    );
}

#[test]
fn a_bad_value_names_file_line_section_and_entry() {
    let f = ini(b"[Scout]\n\nServerList=127.0.0.1:99999\n");
    match Client::new(config_with(&[&f], "")) {
        Err(Error::Config { key, message }) => {
            assert_eq!(key, "scout_ini");
            let want = format!("{} line 3, section [Scout], entry ServerList: ", f.path().display());
            assert!(message.starts_with(&want), "{message}");
            assert!(message.contains("99999"), "{message}");
        }
        other => panic!("expected a scout_ini error, got {other:?}"),
    }
    let f = ini(b"[Security]\nTlsVerifyOption=2\n");
    let Err(e) = Client::new(config_with(&[&f], "")) else {
        panic!("level 2 is refused")
    };
    assert!(
        e.to_string()
            .contains("entry TlsVerifyOption: expected 0 (no check), 1 (chain) or 3 (chain and name)"),
        "{e}"
    );
}

#[test]
fn a_missing_file_is_an_error_that_names_it() {
    let config = Config::from_json(r#"{"scout_ini": ["/nonexistent/terminal.ini"], "probe": "none"}"#).unwrap();
    let Err(e) = Client::new(config) else {
        panic!("a missing file is refused")
    };
    assert!(e.to_string().contains("cannot read /nonexistent/terminal.ini"), "{e}");
}

#[test]
fn an_empty_path_is_refused_by_the_key() {
    match Config::from_json(r#"{"scout_ini": [""]}"#) {
        Err(Error::Config { key, .. }) => assert_eq!(key, "scout_ini"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn handshake_entries_select_the_handshake_profile_and_keep_the_other_retry_fields() {
    let f = ini(b"[ScoutHandshake]\nMaxRetries=3\nRetryTimer=7\nPermanentRetriesAfterDays=2\n");
    let config = config_with(&[&f], r#", "retry": {"base_ms": 20, "max_tries": 4, "max_retries": 9}"#);
    let client = Client::new(config).unwrap();
    let r = &client.config().retry;
    assert_eq!(r.profile, scoutlb::RetryProfile::Handshake);
    assert_eq!(
        (r.max_retries, r.timer, r.permanent_after_days),
        (3, std::time::Duration::from_secs(7), 2)
    );
    assert_eq!((r.base, r.max_tries), (std::time::Duration::from_millis(20), 4));
    // A timer longer than a day is refused by the key, naming the INI entry.
    let f = ini(b"[ScoutHandshake]\nRetryTimer=86401\n");
    match Client::new(config_with(&[&f], "")) {
        Err(Error::Config { key, message }) => {
            assert_eq!(key, "scout_ini");
            let want = format!(
                "{} line 2, section [ScoutHandshake], entry RetryTimer: ",
                f.path().display()
            );
            assert!(message.starts_with(&want), "{message}");
            assert!(message.contains("more than a day"), "{message}");
        }
        other => panic!("expected a scout_ini error, got {other:?}"),
    }
}
