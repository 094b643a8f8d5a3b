//! A real HAProxy in front of servers: the dedicated load balancer of a ManagerLoadBalancer entry.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// An `haproxy` child balancing HTTP round-robin from one front address to backends; killed
/// when dropped.
pub struct HaProxy {
    child: Child,
    _dir: tempfile::TempDir,
}

impl HaProxy {
    /// Start HAProxy on `front` in front of `backends`; `None` (a [`crate::skip`]) when it is not
    /// installed.
    pub fn start(front: SocketAddr, backends: &[SocketAddr]) -> Option<HaProxy> {
        let Some(program) = crate::dns::find_program("haproxy") else {
            crate::skip("haproxy is not installed (tests/install-deps.sh installs it)");
            return None;
        };
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, a)| format!("    server s{i} {a}\n"))
            .collect();
        let config = format!(
            "global\n    maxconn 64\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
             frontend device\n    bind {front}\n    default_backend scout\n\
             backend scout\n    balance roundrobin\n{servers}"
        );
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("write haproxy.cfg");
        let child = Command::new(program)
            .arg("-f")
            .arg(&path)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        Some(HaProxy { child, _dir: dir })
    }

    /// Stop it now (the balancer goes away).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        self.stop();
    }
}
