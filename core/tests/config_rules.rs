//! Every configuration rule (behaviour.md, "Configuration keys"): defaults, types, unknown keys, and the builder.

use std::time::Duration;

use scoutlb::{Config, Error, KEYS, ManagerLoadBalancer, OrderMode, ProbeKind, Scheme};

fn key_error(json: &str) -> (String, String) {
    match Config::from_json(json) {
        Err(Error::Config { key, message }) => (key, message),
        other => panic!("{json}: expected a configuration error, got {other:?}"),
    }
}

#[test]
fn defaults_match_the_spec() {
    let c = Config::from_json("{}").unwrap();
    assert_eq!(c, Config::default());
    assert!(c.servers.is_empty() && c.manager_load_balancer.is_none() && c.state_file.is_none());
    assert_eq!(c.default_port, 22123);
    assert_eq!(
        (c.probe, c.scheme, c.failover_order),
        (ProbeKind::Http, Scheme::Http, OrderMode::List)
    );
    assert_eq!(c.connect_timeout, Duration::from_millis(3000));
    assert_eq!(c.attempt_delay, Duration::from_millis(250));
    assert_eq!(c.answer_delay, Duration::from_millis(1000));
    assert_eq!(c.deadline, Duration::from_millis(30000));
    assert_eq!(c.dns_timeout, Duration::from_millis(2000));
    assert_eq!(
        (c.retry.base, c.retry.factor, c.retry.cap, c.retry.max_tries),
        (Duration::from_secs(1), 2.0, Duration::from_secs(60), 0)
    );
    assert!(c.nameservers.is_empty() && c.search_domains.is_empty() && c.device_id.is_none() && c.ca_file.is_none());
    assert!(c.list_keys.is_empty());
    assert_eq!((c.tls_verify, c.ca_dir), (scoutlb::TlsVerify::Full, None));
}

#[test]
fn the_spec_example_parses_with_every_key() {
    let json = r#"{"servers": ["a", "b:1", "[fd00::1]:2"], "manager_load_balancer": "srv:_scout._tcp.corp",
        "state_file": "/tmp/x.json", "default_port": 9000, "probe": "tcp", "scheme": "https", "ca_file": "/ca.pem",
        "ca_dir": "/setup/cacerts/scoutsrv", "tls_verify": "chain", "connect_timeout_ms": 1, "attempt_delay_ms": 0, "answer_delay_ms": 0, "deadline_ms": 5, "dns_timeout_ms": 7,
        "nameservers": ["127.0.0.1:5353", "::1"], "search_domains": ["corp"],
        "retry": {"base_ms": 10, "factor": 1.5, "cap_ms": 20, "max_tries": 3},
        "failover_order": "spread", "device_id": "dev-1", "list_keys": ["vHy8tWNjdfodgkNNRmck2SN39TuYBpXdSdJtDOEiBaU="],
        "dhcp_leases": ["auto", "/var/lib/dhcp/x.leases"], "scout_ini": ["/setup/terminal.ini"],
        "rebalance": {"enabled": true, "window_ms": 30000, "rate": 10}}"#;
    let c = Config::from_json(json).unwrap();
    assert!(c.rebalance.enabled);
    assert_eq!((c.rebalance.window, c.rebalance.rate), (Duration::from_secs(30), 10));
    assert_eq!(
        c.dhcp_leases,
        [std::path::PathBuf::from("auto"), "/var/lib/dhcp/x.leases".into()]
    );
    for key in KEYS {
        assert!(json.contains(&format!("\"{key}\"")), "example misses {key}");
    }
    assert_eq!(c.servers[0].to_string(), "a:9000");
    assert_eq!(c.servers[2].to_string(), "[fd00::1]:2");
    assert_eq!(
        c.manager_load_balancer,
        Some(ManagerLoadBalancer::Srv("_scout._tcp.corp".into()))
    );
    assert_eq!(c.nameservers[1].to_string(), "[::1]:53");
    assert_eq!(c.retry.max_tries, 3);
    assert_eq!(c.failover_order, OrderMode::Spread);
    assert_eq!((c.attempt_delay, c.answer_delay), (Duration::ZERO, Duration::ZERO));
    assert_eq!(c.list_keys.len(), 1);
}

#[test]
fn nulls_mean_defaults() {
    assert_eq!(
        Config::from_json(r#"{"state_file": null, "device_id": null}"#).unwrap(),
        Config::default()
    );
}

#[test]
fn unknown_keys_are_named() {
    let (key, msg) = key_error(r#"{"server": ["a"]}"#);
    assert_eq!(key, "server");
    assert!(msg.contains("unknown key") && msg.contains("servers"));
    assert_eq!(key_error(r#"{"retry": {"bse_ms": 1}}"#).0, "retry.bse_ms");
}

#[test]
fn wrong_types_name_the_key_and_the_expectation() {
    let cases = [
        (r#"{"servers": "a"}"#, "servers", "an array of strings"),
        (r#"{"servers": [1]}"#, "servers", "an array of strings"),
        (r#"{"default_port": "1"}"#, "default_port", "non-negative integer"),
        (r#"{"default_port": 70000}"#, "default_port", "1-65535"),
        (r#"{"default_port": 0}"#, "default_port", "1-65535"),
        (
            r#"{"connect_timeout_ms": -1}"#,
            "connect_timeout_ms",
            "non-negative integer",
        ),
        (
            r#"{"connect_timeout_ms": 1.5}"#,
            "connect_timeout_ms",
            "non-negative integer",
        ),
        (r#"{"connect_timeout_ms": 0}"#, "connect_timeout_ms", "at least 1"),
        (r#"{"deadline_ms": 0}"#, "deadline_ms", "at least 1"),
        (r#"{"dns_timeout_ms": 0}"#, "dns_timeout_ms", "at least 1"),
        (r#"{"attempt_delay_ms": true}"#, "attempt_delay_ms", "got a boolean"),
        (r#"{"answer_delay_ms": -1}"#, "answer_delay_ms", "non-negative integer"),
        (r#"{"answer_delay_ms": 86400001}"#, "answer_delay_ms", "more than a day"),
        (r#"{"probe": "udp"}"#, "probe", "\"udp\""),
        (r#"{"scheme": "ftp"}"#, "scheme", "\"https\""),
        (r#"{"failover_order": "random"}"#, "failover_order", "\"spread\""),
        (r#"{"failover_order": "spread"}"#, "device_id", "required"),
        (
            r#"{"failover_order": "spread", "device_id": ""}"#,
            "device_id",
            "required",
        ),
        (r#"{"state_file": 3}"#, "state_file", "a string"),
        (r#"{"state_file": ""}"#, "state_file", "empty"),
        (r#"{"ca_file": []}"#, "ca_file", "a string"),
        (r#"{"nameservers": ["dns.corp"]}"#, "nameservers", "not an IP"),
        (r#"{"search_domains": ["bad domain"]}"#, "search_domains", "bad domain"),
        (r#"{"retry": 5}"#, "retry", "an object"),
        (r#"{"retry": {"factor": 0.5}}"#, "retry.factor", "at least 1.0"),
        (r#"{"retry": {"factor": "2"}}"#, "retry.factor", "a number"),
        (r#"{"retry": {"base_ms": 10, "cap_ms": 5}}"#, "retry.cap_ms", "smaller"),
        (r#"{"device_id": 7}"#, "device_id", "a string"),
        (r#"{"manager_load_balancer": "lb:0"}"#, "manager_load_balancer", "lb:0"),
        (
            r#"{"manager_load_balancer": "srv:scout.corp"}"#,
            "manager_load_balancer",
            "_service._proto",
        ),
        (r#"{"manager_load_balancer": 5}"#, "manager_load_balancer", "a string"),
        (r#"{"servers": ["a:99999"]}"#, "servers", "a:99999"),
    ];
    for (json, key, fragment) in cases {
        let (k, m) = key_error(json);
        assert_eq!(k, key, "{json}");
        assert!(m.contains(fragment), "{json}: `{m}` lacks `{fragment}`");
        let shown = Config::from_json(json).unwrap_err().to_string();
        assert!(shown.contains(&format!("`{key}`")), "{shown}");
    }
}

#[test]
fn malformed_json_is_a_clear_error() {
    for bad in ["", "{", "[1]", "null", "{\"servers\": [\"a\",]}"] {
        assert!(matches!(Config::from_json(bad), Err(Error::ConfigJson(_))), "{bad}");
    }
}

#[test]
fn the_builder_makes_the_same_config() {
    let built = Config::builder()
        .default_port(9000)
        .server("a")
        .manager_load_balancer("lb.corp:8443")
        .probe(ProbeKind::Tcp)
        .attempt_delay(Duration::ZERO)
        .answer_delay(Duration::from_millis(700))
        .failover_order(OrderMode::Spread)
        .device_id("d")
        .build()
        .unwrap();
    let parsed = Config::from_json(
        r#"{"default_port": 9000, "servers": ["a"], "manager_load_balancer": "lb.corp:8443", "probe": "tcp",
            "attempt_delay_ms": 0, "answer_delay_ms": 700, "failover_order": "spread", "device_id": "d"}"#,
    )
    .unwrap();
    assert_eq!(built, parsed);
    assert!(
        Config::builder()
            .server("a:0")
            .build()
            .unwrap_err()
            .to_string()
            .contains("a:0")
    );
    assert!(Config::builder().failover_order(OrderMode::Spread).build().is_err());
}

#[test]
fn a_retry_factor_reads_as_the_nearest_double_and_survives_writing_back() {
    // serde_json's fast float parser can be one unit in the last place off; the fuzzer found this one.
    let text = r#"{"retry": {"factor": 1.5333333333333366}}"#;
    let c = Config::from_json(text).unwrap();
    assert_eq!(c.retry.factor, 1.533_333_333_333_336_6_f64);
    let again = format!(r#"{{"retry": {{"factor": {}}}}}"#, serde_json::json!(c.retry.factor));
    assert_eq!(
        Config::from_json(&again).unwrap().retry.factor,
        c.retry.factor,
        "{again}"
    );
}

#[test]
fn parse_keys_checks_each_key_but_leaves_the_rules_between_keys_to_validate() {
    let map = |json: &str| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json).unwrap();
    // Spread without a device id, a cap below the base: each key is fine on its own.
    let lenient = map(r#"{"failover_order": "spread", "retry": {"base_ms": 100, "cap_ms": 10}}"#);
    let config = Config::parse_keys(&lenient).unwrap();
    assert!(config.validate().is_err());
    assert!(Config::from_map(&lenient).is_err());
    // A wrong key or value is refused by both, naming the key.
    for json in [
        r#"{"conect_timeout_ms": 1}"#,
        r#"{"servers": ["a:99999"]}"#,
        r#"{"retry": {"bogus": 1}}"#,
    ] {
        let err = Config::parse_keys(&map(json)).unwrap_err();
        assert!(matches!(err, scoutlb::Error::Config { .. }), "{json}: {err}");
    }
    assert_eq!(
        scoutlb::RETRY_KEYS,
        [
            "profile",
            "base_ms",
            "factor",
            "cap_ms",
            "max_tries",
            "timer_ms",
            "max_retries",
            "permanent_after_days"
        ]
    );
}

#[test]
fn the_builder_refuses_what_the_json_refuses() {
    use scoutlb::Config;
    let named = |built: scoutlb::Result<Config>| match built {
        Err(scoutlb::Error::Config { key, .. }) => key,
        other => panic!("expected a configuration error, got {other:?}"),
    };
    assert_eq!(named(Config::builder().state_file("").build()), "state_file");
    assert_eq!(named(Config::from_json(r#"{"state_file": ""}"#)), "state_file");
    assert_eq!(named(Config::builder().ca_file("").build()), "ca_file");
    assert_eq!(named(Config::builder().default_port(0).build()), "default_port");
    assert_eq!(named(Config::from_json(r#"{"default_port": 0}"#)), "default_port");
    assert_eq!(
        named(Config::builder().search_domain("bad domain!").build()),
        "search_domains"
    );
    assert_eq!(
        named(Config::from_json(r#"{"search_domains": ["bad domain!"]}"#)),
        "search_domains"
    );
    assert!(
        Config::builder()
            .search_domain("Corp.Example")
            .state_file("/tmp/x.json")
            .build()
            .is_ok()
    );
}

/// The one table of keys (`scoutlb::KEY_TABLE`) is what behaviour.md documents and what
/// `Config::default` holds: each default written there parses to the default configuration.
#[test]
fn the_key_table_is_the_documented_one_and_its_defaults_are_the_defaults() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/behaviour.md")).unwrap();
    let section = doc.split("## Configuration keys").nth(1).unwrap();
    let rows: Vec<(String, String)> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let unquote = |c: &str| c.trim_matches(|ch| ch == '|' || ch == ' ' || ch == '`').to_string();
            (unquote(cells[0]), unquote(cells[1]))
        })
        .collect();
    let table: Vec<(String, String)> = scoutlb::KEY_TABLE
        .iter()
        .map(|k| (k.name.to_string(), k.default.to_string()))
        .collect();
    assert_eq!(
        rows, table,
        "behaviour.md's table of keys and scoutlb::KEY_TABLE differ"
    );
    assert_eq!(
        scoutlb::KEYS,
        scoutlb::KEY_TABLE.iter().map(|k| k.name).collect::<Vec<_>>().as_slice()
    );
    for key in scoutlb::KEY_TABLE {
        let text = format!(r#"{{"{}": {}}}"#, key.name, key.default);
        assert_eq!(Config::from_json(&text).unwrap(), Config::default(), "{text}");
        assert!(!key.meaning.is_empty());
    }
}

/// The handshake retry profile's fields (behaviour.md, "All fail") are read like the others, and an
/// old `retry` object means what it meant: the backoff profile, its fields as given.
#[test]
fn the_retry_profile_fields_are_read_and_old_retry_objects_keep_their_meaning() {
    use scoutlb::RetryProfile;
    let c = Config::from_json(
        r#"{"retry": {"profile": "handshake", "timer_ms": 7000, "max_retries": 3, "permanent_after_days": 2}}"#,
    )
    .unwrap();
    assert_eq!(c.retry.profile, RetryProfile::Handshake);
    assert_eq!(c.retry.timer, Duration::from_secs(7));
    assert_eq!((c.retry.max_retries, c.retry.permanent_after_days), (3, 2));
    let old = Config::from_json(r#"{"retry": {"base_ms": 10, "factor": 3.0, "cap_ms": 100, "max_tries": 4}}"#).unwrap();
    assert_eq!(old.retry.profile, RetryProfile::Backoff);
    assert_eq!((old.retry.base, old.retry.max_tries), (Duration::from_millis(10), 4));
    let mut handshake = old.retry.clone();
    handshake.profile = RetryProfile::Handshake;
    let built = Config::builder().retry(handshake).build().unwrap();
    assert_eq!(built.retry.profile, RetryProfile::Handshake);
    match Config::from_json(r#"{"retry": {"profile": "scout"}}"#) {
        Err(scoutlb::Error::Config { key, message }) => {
            assert_eq!(key, "retry.profile");
            assert!(
                message.contains(r#"expected "backoff" or "handshake", got "scout""#),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}
