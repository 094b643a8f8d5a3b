//! `Config::from_json` on arbitrary text: a configuration that parses passes `validate`, and
//! written back as configuration JSON (behaviour.md, "Configuration keys"; every key, by the
//! encoder below, and every field of the keys that have fields) it parses to an equal one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scoutlb::{Config, KEYS, NESTED_KEYS, OrderMode, ProbeKind, RetryProfile, Scheme};
use serde_json::{Value, json};

fuzz_target!(|text: &str| {
    let Ok(config) = Config::from_json(text) else { return };
    config.validate().expect("a parsed configuration is valid");
    let encoded = encode(&config);
    // The encoder spells out every key, so a key it forgets cannot hide a difference.
    for key in KEYS {
        assert!(encoded.get(key).is_some(), "the encoder misses `{key}`");
    }
    for (parent, fields) in NESTED_KEYS {
        for key in *fields {
            assert!(encoded[parent].get(key).is_some(), "the encoder misses `{parent}.{key}`");
        }
    }
    let again = encoded.to_string();
    match Config::from_json(&again) {
        Ok(reparsed) => assert_eq!(reparsed, config, "written back as {again}"),
        Err(e) => panic!("written back as {again}, refused: {e}"),
    }
});

/// The configuration as the JSON text of behaviour.md, "Configuration keys", every key spelled out.
fn encode(c: &Config) -> Value {
    let ms = |d: std::time::Duration| d.as_millis() as u64;
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.to_str().expect("parsed from UTF-8").to_string());
    json!({
        "servers": c.servers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "manager_load_balancer": c.manager_load_balancer.as_ref().map(ToString::to_string),
        "state_file": path(&c.state_file),
        "default_port": c.default_port,
        "probe": match c.probe {
            ProbeKind::Http => "http",
            ProbeKind::Tcp => "tcp",
            ProbeKind::Callback => "callback",
            ProbeKind::None => "none",
            other => panic!("probe kind {other:?} has no JSON name in this encoder"),
        },
        "scheme": match c.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
            other => panic!("scheme {other:?} has no JSON name in this encoder"),
        },
        "ca_file": path(&c.ca_file),
        "ca_dir": path(&c.ca_dir),
        "tls_verify": c.tls_verify.name(),
        "connect_timeout_ms": ms(c.connect_timeout),
        "attempt_delay_ms": ms(c.attempt_delay),
        "answer_delay_ms": ms(c.answer_delay),
        "deadline_ms": ms(c.deadline),
        "dns_timeout_ms": ms(c.dns_timeout),
        "nameservers": c.nameservers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "search_domains": c.search_domains,
        "retry": {
            "profile": match c.retry.profile {
                RetryProfile::Backoff => "backoff",
                RetryProfile::Handshake => "handshake",
                other => panic!("retry profile {other:?} has no JSON name in this encoder"),
            },
            "base_ms": ms(c.retry.base),
            "factor": c.retry.factor,
            "cap_ms": ms(c.retry.cap),
            "max_tries": c.retry.max_tries,
            "timer_ms": ms(c.retry.timer),
            "max_retries": c.retry.max_retries,
            "permanent_after_days": c.retry.permanent_after_days,
        },
        "failover_order": match c.failover_order {
            OrderMode::List => "list",
            OrderMode::Spread => "spread",
            other => panic!("order mode {other:?} has no JSON name in this encoder"),
        },
        "device_id": c.device_id,
        "dhcp_leases": c.dhcp_leases.iter().map(|p| p.to_str().expect("JSON paths are UTF-8")).collect::<Vec<_>>(),
        "scout_ini": c.scout_ini.iter().map(|p| p.to_str().expect("parsed from UTF-8")).collect::<Vec<_>>(),
        "list_keys": c.list_keys.iter().map(|k| k.to_base64()).collect::<Vec<_>>(),
        "rebalance": {
            "enabled": c.rebalance.enabled,
            "window_ms": ms(c.rebalance.window),
            "rate": c.rebalance.rate,
        },
    })
}
