//! A server whose SYNs are dropped, and a name that does not resolve: a network namespace with an iptables DROP rule, made by the test.
//! Where the namespace cannot be made (not root, no `ip`/`iptables`), the test prints why and is skipped;
//! under the test command (`SCOUTLB_TEST_REQUIRE=1`) that is a failure.

use std::process::Command;
use std::time::Duration;

use scoutlb::{Client, Config, FailReason, Server};
use scoutlb_testkit::TestServer;

/// The port whose SYNs the namespace drops.
const DROPPED_PORT: u16 = 9;

fn run(cmd: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .map_err(|e| format!("{}: {e}", cmd[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.0]);
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.0));
    }
}

fn make_namespace() -> Result<Namespace, String> {
    let ns = Namespace(format!("scoutlb-syn-{}", std::process::id()));
    run(&["ip", "netns", "add", &ns.0])?;
    // `ip netns exec` mounts this over /etc/resolv.conf: name lookups stay on the namespace's loopback.
    let etc = format!("/etc/netns/{}", ns.0);
    std::fs::create_dir_all(&etc).map_err(|e| format!("{etc}: {e}"))?;
    std::fs::write(format!("{etc}/resolv.conf"), "nameserver 127.0.0.1\n").map_err(|e| format!("{etc}: {e}"))?;
    run(&["ip", "netns", "exec", &ns.0, "ip", "link", "set", "lo", "up"])?;
    let port = DROPPED_PORT.to_string();
    run(&[
        "ip", "netns", "exec", &ns.0, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", &port, "-j", "DROP",
    ])?;
    Ok(ns)
}

#[test]
fn dropped_syns_time_out_and_the_next_server_wins() {
    let ns = match make_namespace() {
        Ok(ns) => ns,
        Err(why) => {
            scoutlb_testkit::skip(&format!(
                "dropped_syns_time_out_and_the_next_server_wins: cannot make a network namespace: {why}"
            ));
            return;
        }
    };
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "in_namespace",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SCOUTLB_IN_NAMESPACE", &ns.0)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the check inside the namespace failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "the check inside the namespace did not run:\n{text}"
    );
}

/// Not a test of its own: runs inside the namespace, started by the test above.
#[test]
#[ignore = "run inside a network namespace by dropped_syns_time_out_and_the_next_server_wins"]
fn in_namespace() {
    assert!(
        std::env::var("SCOUTLB_IN_NAMESPACE").is_ok(),
        "run only by the namespace test"
    );
    let dropped = Server::new("127.0.0.1", DROPPED_PORT).unwrap();
    // The rule works: a plain connect neither succeeds nor is refused, it times out.
    let err =
        std::net::TcpStream::connect_timeout(&"127.0.0.1:9".parse().unwrap(), Duration::from_millis(300)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    let live = TestServer::live("live");
    let cfg = Config::from_json(&format!(
        r#"{{"servers": ["{dropped}", "{}"], "connect_timeout_ms": 500, "attempt_delay_ms": 0}}"#,
        live.server()
    ))
    .unwrap();
    let client = Client::new(cfg).unwrap();
    let c = client.connect().unwrap();
    assert_eq!(c.server, live.server());
    assert_eq!(c.failed.len(), 1);
    assert_eq!(c.failed[0].server, dropped);
    assert_eq!(c.failed[0].reason, FailReason::TimedOut(Duration::from_millis(500)));

    // A name that does not resolve (no DNS server answers on this loopback) is a DNS failure.
    let client = Client::new(Config::from_json(r#"{"servers": ["scout.invalid"]}"#).unwrap()).unwrap();
    let err = client.connect().unwrap_err();
    assert_eq!(err.attempts()[0].reason.kind(), "dns", "{err}");
}
