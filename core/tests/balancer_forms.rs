//! The forms of the ManagerLoadBalancer entry, and malformed entries named in a configuration error.

use scoutlb::{Config, Error, ManagerLoadBalancer, Server};

fn address(entry: &str, port: u16) -> Server {
    match ManagerLoadBalancer::parse(entry, port).unwrap() {
        ManagerLoadBalancer::Address(s) => s,
        other => panic!("{entry}: expected an address, got {other:?}"),
    }
}

#[test]
fn every_form_parses() {
    assert_eq!(address("10.0.0.5", 22123).to_string(), "10.0.0.5:22123");
    assert_eq!(address("10.0.0.5:8443", 22123).to_string(), "10.0.0.5:8443");
    assert_eq!(address("fd00::5", 7).to_string(), "[fd00::5]:7");
    assert_eq!(address("[fd00::5]:8443", 7).to_string(), "[fd00::5]:8443");
    assert_eq!(address("LB.Corp", 9).to_string(), "lb.corp:9");
    assert_eq!(address("lb.corp:8443", 9).to_string(), "lb.corp:8443");
    assert_eq!(address("lb", 9).to_string(), "lb:9");
    assert_eq!(
        ManagerLoadBalancer::parse("srv:_Scout._TCP.corp", 1).unwrap(),
        ManagerLoadBalancer::Srv("_scout._tcp.corp".into())
    );
    // A balancer host named `srv` with a port (found by the fuzz target `server_address`).
    assert_eq!(address("srv:8443", 9).to_string(), "srv:8443");
    assert_eq!(address("srv", 9).to_string(), "srv:9");
    for entry in [
        "10.0.0.5:1",
        "[fd00::5]:2",
        "lb.corp:3",
        "srv:_scout._tcp.corp",
        "srv:8443",
    ] {
        assert_eq!(ManagerLoadBalancer::parse(entry, 22123).unwrap().to_string(), entry);
    }
}

#[test]
fn the_configuration_takes_the_default_port() {
    let c = Config::from_json(r#"{"default_port": 4000, "manager_load_balancer": "lb.corp"}"#).unwrap();
    assert_eq!(c.manager_load_balancer.unwrap().to_string(), "lb.corp:4000");
    let c = Config::builder()
        .default_port(5000)
        .manager_load_balancer("[::1]")
        .build()
        .unwrap();
    assert_eq!(c.manager_load_balancer.unwrap().to_string(), "[::1]:5000");
}

#[test]
fn malformed_entries_are_configuration_errors_naming_the_entry() {
    for bad in [
        "",
        "lb.corp:",
        "lb.corp:0",
        "lb.corp:65536",
        "lb.corp:http",
        "fd00::5:8443x",
        "[fd00::5",
        "[fd00::5]8443",
        "[lb.corp]:80",
        "lb..corp",
        "-lb.corp",
        "lb corp",
        "999.0.0.1",
        "srv:",
        "srv:scout.corp",
        "srv:_scout.corp",
        "srv:_scout.tcp.corp",
        "srv:_scout._tcp.corp:80",
        "srv:_scout._tcp..corp",
    ] {
        let json = format!(
            r#"{{"manager_load_balancer": {}}}"#,
            serde_json::to_string(bad).unwrap()
        );
        let err = Config::from_json(&json).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, Error::Config { key, .. } if key == "manager_load_balancer"),
            "{bad:?}: {err:?}"
        );
        assert!(text.contains(&format!("`{bad}`")), "{bad:?} is not named in: {text}");
        let built = Config::builder().manager_load_balancer(bad).build().unwrap_err();
        assert!(built.to_string().contains(&format!("`{bad}`")), "{bad:?}: {built}");
    }
}

#[test]
fn a_wrong_type_is_named() {
    let err = Config::from_json(r#"{"manager_load_balancer": 5}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("manager_load_balancer") && err.contains("a string"),
        "{err}"
    );
}
