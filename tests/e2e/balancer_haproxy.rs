//! A dedicated load balancer: a real HAProxy in front of two reference Scout Servers (behaviour.md, "Wire format").
//!
//! The device comes in through HAProxy; the answering server's `self` makes the real server its
//! default; with HAProxy stopped, the next restart (new client, same state file) reaches that
//! server directly.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scoutlb::{Client, Config, Event, Server};
use scoutlb_testkit::ports::closed_port;
use scoutlb_testkit::{HaProxy, skip, wait_until};

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The reference server binary, built beforehand with the workspace.
fn scout_server() -> Option<PathBuf> {
    scoutlb_testkit::built_binary("scout-server")
        .inspect_err(|why| skip(why))
        .ok()
}

/// One GET over plain HTTP/1.1; the status and body, or None when nothing answers.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    scoutlb_testkit::http_request(addr, "GET", path)
        .ok()
        .map(|(status, _, body)| (status, body))
}

fn start_scout_server(binary: &Path, db: &Path, addr: SocketAddr, id: &str) -> Running {
    let child = Command::new(binary)
        .arg("--db")
        .arg(db)
        .args(["--listen", &addr.to_string(), "--id", id, "--heartbeat-ms", "200"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start scout-server");
    Running(child)
}

#[test]
fn through_haproxy_then_directly_to_the_real_server() {
    let Some(binary) = scout_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    let ips = [Ipv4Addr::new(127, 0, 0, 81), Ipv4Addr::new(127, 0, 0, 82)];
    let backends: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::from((*ip, closed_port(*ip)))).collect();
    let _a = start_scout_server(&binary, &db, backends[0], "srv-a");
    let _b = start_scout_server(&binary, &db, backends[1], "srv-b");
    for addr in &backends {
        wait_until("both servers in the list", || {
            get(*addr, "/scout/v1/servers")
                .is_some_and(|(s, body)| s == 200 && body.contains("srv-a") && body.contains("srv-b"))
        });
    }
    let lb_ip = Ipv4Addr::new(127, 0, 0, 80);
    let front = SocketAddr::from((lb_ip, closed_port(lb_ip)));
    let Some(mut proxy) = HaProxy::start(front, &backends) else {
        return;
    };
    wait_until("haproxy", || {
        get(front, "/scout/v1/health").is_some_and(|(s, _)| s == 200)
    });

    // A seed that refuses, so that nothing but the balancer and the cached list can answer.
    let seed_ip = Ipv4Addr::new(127, 0, 0, 83);
    let seed = format!("{seed_ip}:{}", closed_port(seed_ip));
    let state = dir.path().join("device.json");
    let config = format!(
        r#"{{"manager_load_balancer": "{front}", "servers": ["{seed}"], "state_file": "{}", "attempt_delay_ms": 0}}"#,
        state.display()
    );
    let real: Vec<Server> = backends.iter().map(|a| Server::from(*a)).collect();

    let first = Client::new(Config::from_json(&config).unwrap()).unwrap();
    let c = first.connect().unwrap();
    assert_eq!(c.reached, Server::from(front));
    assert!(c.via_balancer);
    assert!(real.contains(&c.server), "default {} is not a real server", c.server);
    assert_eq!(first.default_server(), Some(c.server.clone()));
    let mut list = first.server_list();
    list.sort();
    assert_eq!(list, real);
    let default = c.server;
    drop(first);

    // HAProxy goes away; the device restarts with the same state file.
    proxy.stop();
    assert!(TcpStream::connect_timeout(&front, Duration::from_millis(300)).is_err());

    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = Arc::clone(&events);
    let second = Client::builder(Config::from_json(&config).unwrap())
        .events(move |e: &Event| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    assert_eq!(second.default_server(), Some(default.clone()));
    let c = second.connect().unwrap();
    assert_eq!(c.reached, default);
    assert_eq!(c.server, default);
    assert!(!c.via_balancer);
    assert_eq!(c.failed.first().map(|a| a.server.clone()), Some(Server::from(front)));
    let events = events.lock().unwrap();
    assert!(
        events.iter().any(
            |e| matches!(e, Event::BalancerFailed { reason, .. } if reason.contains("none of its addresses connected"))
        ),
        "{events:?}"
    );
}
