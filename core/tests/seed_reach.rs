//! A long dead cached list never starves the seed (behaviour.md, "Failover order"): 200 loopback
//! entries whose SYNs are dropped, a working seed, and the device reaches the seed on connect,
//! reconnect and connect_with_retry, also after a start in which every server stayed unreachable.

use scoutlb::{Client, Config, FailReason, SEEDS_AFTER, Server};
use scoutlb_testkit::{TestServer, refused, unreachable_many};

/// Defaults, except a deadline shorter than 200 unreachable entries need one after another
/// (200 x 250 ms), and short attempts so that abandoned ones end soon.
fn config(seed: &Server, state: &std::path::Path) -> Config {
    let mut c = Config::from_json(&format!(
        r#"{{"servers": ["{seed}"], "deadline_ms": 10000, "connect_timeout_ms": 3000}}"#
    ))
    .unwrap();
    c.state_file = Some(state.to_path_buf());
    c
}

#[test]
fn two_hundred_unreachable_entries_do_not_keep_the_seed_out() {
    let dead = unreachable_many(200);
    let list: Vec<Server> = dead.iter().map(|(s, _)| s.clone()).collect();
    let seed = TestServer::live("seed");
    // The seed hands out itself only; the device is given the dead list as if from an earlier answer.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let client = Client::new(config(&seed.server(), &state)).unwrap();
    client
        .update_server_list_servers(list.clone(), Some(&seed.server()))
        .unwrap();
    client.report_success(&list[0]).unwrap();
    assert_eq!(client.candidates()[SEEDS_AFTER], seed.server(), "the seed comes 9th");

    let check = |c: scoutlb::Connected, what: &str| {
        assert_eq!(c.server, seed.server(), "{what}");
        assert!(c.failed.len() <= SEEDS_AFTER, "{what}: {} failed first", c.failed.len());
        assert!(
            c.failed
                .iter()
                .all(|a| list.contains(&a.server) && matches!(a.reason, FailReason::OutOfPatience { .. })),
            "{what}: {:?}",
            c.failed
        );
    };
    check(client.reconnect().unwrap(), "reconnect");

    // A restart whose default is a dead entry again, with the cached dead list.
    let client = Client::new(config(&seed.server(), &state)).unwrap();
    client.report_success(&list[0]).unwrap();
    client
        .update_server_list_servers(list.clone(), Some(&seed.server()))
        .unwrap();
    check(client.connect().unwrap(), "connect");
    client.report_success(&list[5]).unwrap();
    check(client.connect_with_retry().unwrap(), "connect_with_retry");
}

#[test]
fn a_start_where_everything_stayed_unreachable_does_not_keep_the_seed_out_next_time() {
    let dead = unreachable_many(200);
    let list: Vec<Server> = dead.iter().map(|(s, _)| s.clone()).collect();
    let seed_down = refused();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut cfg = config(&seed_down, &state);
    cfg.deadline = std::time::Duration::from_millis(4000);
    let client = Client::new(cfg).unwrap();
    client.update_server_list_servers(list.clone(), None).unwrap();
    client.report_success(&list[0]).unwrap();
    let err = client.connect().unwrap_err();
    assert!(
        err.attempts()
            .iter()
            .any(|a| a.server == seed_down && a.reason == FailReason::Refused),
        "the seed was tried: {err}"
    );
    drop(client);

    // The seed's address now answers (the device's seed came back); the next start reaches it.
    let listener = std::net::TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 1], seed_down.port())))
        .expect("the refused port is free again");
    let seed = TestServer::on(listener, scoutlb_testkit::Behaviour::Fixed(200, seed_body(&seed_down)));
    let client = Client::new(config(&seed.server(), &state)).unwrap();
    assert_eq!(client.server_list(), list, "the dead list is still cached");
    let c = client.connect().unwrap();
    assert_eq!(c.server, seed.server());
}

fn seed_body(seed: &Server) -> String {
    scoutlb_testkit::list_body(&[(seed, "seed")], Some("seed"))
}
