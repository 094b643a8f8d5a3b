//! First contact from DHCP option 222 (behaviour.md, "First contact from DHCP"): lease files read
//! at creation, their servers before `ScoutSrv`, every problem reported and the fallback kept.

use std::sync::{Arc, Mutex};

use scoutlb::{Client, Config, Event, Server};

/// A real ISC dhclient 4.4.3 lease, as written for dnsmasq's `--dhcp-option=222,…`.
const DHCLIENT_LEASE: &str = r#"lease {
  interface "dxc0";
  fixed-address 10.222.0.51;
  option subnet-mask 255.255.255.0;
  option scout-servers "10.222.0.1:22123, 10.222.0.2;ou=Berlin/Floor 2";
  option routers 10.222.0.1;
  option dhcp-lease-time 3600;
  renew 3 2026/12/02 12:08:27;
  expire 3 2026/12/02 12:45:37;
}
"#;

fn client(leases: &[&std::path::Path], servers: &[&str]) -> (Client, Vec<Event>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut b = Config::builder().probe(scoutlb::ProbeKind::None);
    for s in servers {
        b = b.server(s);
    }
    for l in leases {
        b = b.dhcp_lease(*l);
    }
    let config = b.build().unwrap();
    let c = Client::builder(config)
        .events(move |e: &Event| seen.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    let events = events.lock().unwrap().clone();
    (c, events)
}

fn seeds(c: &Client) -> Vec<String> {
    c.seeds().iter().map(Server::to_string).collect()
}

#[test]
fn option_222_servers_come_before_scout_srv() {
    let dir = tempfile::tempdir().unwrap();
    let lease = dir.path().join("dhclient.leases");
    std::fs::write(&lease, DHCLIENT_LEASE).unwrap();
    let (c, events) = client(&[&lease], &[]);
    assert_eq!(seeds(&c), ["10.222.0.1:22123", "10.222.0.2:22123", "scoutsrv:22123"]);
    let (from, contact) = c.dhcp_first_contact().unwrap();
    assert_eq!(from, lease);
    assert_eq!(contact.ou.as_deref(), Some("Berlin/Floor 2"));
    assert!(matches!(&events[..], [Event::DhcpFirstContact { .. }]), "{events:?}");
    // The failover order with nothing cached is the seeds.
    assert_eq!(c.failover_order()[0].to_string(), "10.222.0.1:22123");
}

#[test]
fn configured_servers_win_and_no_lease_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let lease = dir.path().join("dhclient.leases");
    std::fs::write(&lease, DHCLIENT_LEASE).unwrap();
    let (c, events) = client(&[&lease], &["seed.corp"]);
    assert_eq!(seeds(&c), ["seed.corp:22123"]);
    assert!(events.is_empty() && c.dhcp_first_contact().is_none());
}

#[test]
fn no_option_corrupt_and_missing_leases_fall_back_to_scout_srv_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.leases");
    std::fs::write(&plain, "lease {\n  option routers 10.0.0.1;\n}\n").unwrap();
    let cut = dir.path().join("cut.leases");
    std::fs::write(&cut, &DHCLIENT_LEASE[..120]).unwrap();
    let missing = dir.path().join("missing.leases");
    let (c, events) = client(&[&cut, &missing, &plain], &[]);
    assert_eq!(seeds(&c), ["scoutsrv:22123"]);
    let text: Vec<String> = events.iter().map(ToString::to_string).collect();
    assert_eq!(events.len(), 3, "{text:?}");
    assert!(
        text[0].contains("cut.leases") && text[0].contains("not a readable ISC dhclient lease"),
        "{text:?}"
    );
    assert!(
        text[1].contains("missing.leases") && text[1].contains("cannot read it"),
        "{text:?}"
    );
    assert!(
        text[2].starts_with("no DHCP option 222, first contact through ScoutSrv")
            && text[2].contains("plain.leases (no option 222)"),
        "{text:?}"
    );
}

#[test]
fn a_later_lease_is_read_when_an_earlier_one_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad");
    std::fs::write(&bad, b"\x00\x01garbage").unwrap();
    let good = dir.path().join("good.leases");
    std::fs::write(&good, DHCLIENT_LEASE).unwrap();
    let (c, events) = client(&[&bad, &good], &[]);
    assert_eq!(seeds(&c).len(), 3);
    assert!(
        matches!(
            &events[..],
            [Event::DhcpLeaseProblem { .. }, Event::DhcpFirstContact { .. }]
        ),
        "{events:?}"
    );
}

/// A real dhcpcd 9.4.1 lease (the DHCP message from dnsmasq 2.90 with option 222), as the DHCP suite took it.
#[test]
fn a_real_dhcpcd_lease_is_read() {
    let lease = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dhcpcd-9.4.1.lease"));
    let (c, _) = client(&[lease], &[]);
    assert_eq!(seeds(&c), ["10.222.15.9:22123", "10.222.15.2:22123", "scoutsrv:22123"]);
    assert_eq!(c.dhcp_first_contact().unwrap().1.ou.as_deref(), Some("Berlin/Floor 2"));
}
