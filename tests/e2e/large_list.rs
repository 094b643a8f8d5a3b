//! `candidates`, `lost`, `servers` and `status` with a cached list at the 4,096-entry limit: the
//! output names every entry, in the right order, with the right id and mark (text and `--json`).
//! How long they take is measured by `benches/commands.rs`, not here.

use std::process::Command;

use serde_json::{Value, json};

use scoutlb_testkit::big_list::{self, DEFAULT_INDEX, ENTRIES, SEED, address, failover_order, id, port};

/// Run `scoutlb --config CONFIG ARGS...`; its stdout, after checking that it succeeded quietly.
fn scoutlb(device: &big_list::Device, args: &[&str]) -> String {
    let out = Command::new(scoutlb_testkit::cli::scoutlb_bin())
        .arg("--config")
        .arg(&device.config)
        .args(args)
        .output()
        .expect("run scoutlb");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scoutlb {args:?}: {}: {stderr}", out.status);
    assert!(stderr.is_empty(), "scoutlb {args:?} wrote on stderr: {stderr}");
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Compare line by line, so that a failure names the first wrong line instead of 4,000 of them.
fn assert_same_text(command: &str, got: &str, want: &str) {
    for (n, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "`{command}`, line {}", n + 1);
    }
    assert_eq!(
        got.lines().count(),
        want.lines().count(),
        "`{command}`: number of lines"
    );
    assert_eq!(got, want, "`{command}`: the whole text");
}

/// Compare JSON arrays entry by entry first, for the same reason.
fn assert_same_json(command: &str, got: &Value, want: &Value) {
    for key in ["candidates", "servers"] {
        if let (Some(g), Some(w)) = (got[key].as_array(), want[key].as_array()) {
            for (n, (g, w)) in g.iter().zip(w).enumerate() {
                assert_eq!(g, w, "`{command}`: {key}[{n}]");
            }
            assert_eq!(g.len(), w.len(), "`{command}`: length of {key}");
        }
    }
    assert_eq!(got, want, "`{command}`: the whole document");
}

/// Entry `i` (`None`: the seed) as the JSON of every command.
fn server_json(i: Option<usize>) -> Value {
    match i {
        Some(i) => json!({"host": "127.0.0.1", "port": port(i), "address": address(i), "id": id(i)}),
        None => json!({"host": "127.0.0.1", "port": 19999, "address": SEED, "id": null}),
    }
}

/// Entry `i` as text: the address, and the id in parentheses when it has one.
fn named(i: Option<usize>) -> String {
    match i.map(|i| (address(i), id(i))) {
        Some((addr, Some(id))) => format!("{addr} ({id})"),
        Some((addr, None)) => addr,
        None => SEED.to_owned(),
    }
}

fn source(i: Option<usize>) -> &'static str {
    match i {
        Some(DEFAULT_INDEX) => "default",
        Some(_) => "list",
        None => "seed",
    }
}

/// The candidates of `candidates` and of `lost` with `"probe": "none"`, as JSON.
fn order_json(command: &str) -> Value {
    let candidates: Vec<Value> = failover_order()
        .into_iter()
        .map(|i| {
            let mut v = server_json(i);
            v["source"] = source(i).into();
            v
        })
        .collect();
    json!({"command": command, "candidates": candidates, "default_server": server_json(Some(DEFAULT_INDEX)), "state_dropped": null})
}

/// The same order as text, under `heading`.
fn order_text(heading: &str) -> String {
    let mut text = format!("{heading}\n");
    for (n, i) in failover_order().into_iter().enumerate() {
        let why = match source(i) {
            "default" => "default server",
            "seed" => "seed server",
            _ => "server list",
        };
        text += &format!("  {}. {}  ({why})\n", n + 1, named(i));
    }
    text
}

/// The cached list as text, `*` marking the default server.
fn list_text() -> String {
    let mut text = format!("server list from {}, {ENTRIES} servers:\n", named(Some(0)));
    for i in 0..ENTRIES {
        let mark = if i == DEFAULT_INDEX { "*" } else { " " };
        let id = id(i).map(|id| format!("  {id}")).unwrap_or_default();
        text += &format!("  {mark} {}{id}\n", address(i));
    }
    text
}

fn list_json() -> Value {
    Value::Array((0..ENTRIES).map(|i| server_json(Some(i))).collect())
}

#[test]
fn the_order_names_every_entry_and_the_seed_after_the_first_8() {
    let dir = tempfile::tempdir().unwrap();
    let device = big_list::write(dir.path());
    assert_eq!(failover_order().len(), ENTRIES + 1);
    for (command, heading) in [
        ("candidates", "start-up order:"),
        ("lost", "connection lost; try these servers in this order:"),
    ] {
        assert_same_text(command, &scoutlb(&device, &[command]), &order_text(heading));
        let got: Value = serde_json::from_str(&scoutlb(&device, &["--json", command])).unwrap();
        assert_same_json(command, &got, &order_json(command));
    }
}

#[test]
fn servers_and_status_list_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let device = big_list::write(dir.path());

    assert_same_text("servers", &scoutlb(&device, &["servers"]), &list_text());
    let got: Value = serde_json::from_str(&scoutlb(&device, &["--json", "servers"])).unwrap();
    let want = json!({
        "command": "servers",
        "servers": list_json(),
        "servers_from": server_json(Some(0)),
        "default_server": server_json(Some(DEFAULT_INDEX)),
        "state_dropped": null,
    });
    assert_same_json("servers", &got, &want);

    let state = device.state.display();
    let head = format!(
        "default server:      {}\nstate file:          {state}\nseed servers:        {SEED}\n\
         ManagerLoadBalancer: not set\nfailover_order:      \"list\"\n",
        named(Some(DEFAULT_INDEX))
    );
    assert_same_text("status", &scoutlb(&device, &["status"]), &(head + &list_text()));
    let got: Value = serde_json::from_str(&scoutlb(&device, &["--json", "status"])).unwrap();
    let want = json!({
        "command": "status",
        "default_server": server_json(Some(DEFAULT_INDEX)),
        "servers": list_json(),
        "servers_from": server_json(Some(0)),
        "state_file": device.state,
        "seed_servers": [SEED],
        "manager_load_balancer": null,
        "failover_order": "list",
        "device_id": null,
        "dhcp_first_contact": null,
        "state_dropped": null,
        "relocation": null,
    });
    assert_same_json("status", &got, &want);
}
