//! Test helpers: a real dnsmasq on a loopback port with records the test writes, and small DNS tools.
//!
//! A test that cannot start dnsmasq writes "SKIPPED: ..." to stderr (bypassing the capture) and
//! returns early; under the test command (`SCOUTLB_TEST_REQUIRE=1`) it fails instead.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The zone every test uses; dnsmasq answers it from local data only (unknown names: NXDOMAIN).
pub const ZONE: &str = "test.example";

/// Find an executable in the PATH or the usual sbin folders.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A dnsmasq child serving [`ZONE`] from a hosts file (reloaded on change) and command-line records.
pub struct Dnsmasq {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    records: Vec<String>,
}

impl Dnsmasq {
    /// Start dnsmasq with `hosts` (hosts-file lines) and extra records (`--srv-host=...`, `--cname=...`).
    pub fn start(hosts: &str, records: &[String]) -> Option<Self> {
        Self::launch(hosts, records, 5, || {
            SocketAddr::from((Ipv4Addr::LOCALHOST, crate::free_port()))
        })
    }

    /// Start dnsmasq as [`Dnsmasq::start`] does, on the fixed loopback address `addr` (such as
    /// `127.0.0.153:53`, for the system resolver, whose `resolv.conf` names no port).
    pub fn start_on(addr: SocketAddr, hosts: &str, records: &[String]) -> Option<Self> {
        Self::launch(hosts, records, 1, || addr)
    }

    /// Up to `tries` starts, each on the address `next` gives.
    fn launch(hosts: &str, records: &[String], tries: usize, mut next: impl FnMut() -> SocketAddr) -> Option<Self> {
        let Some(program) = find_program("dnsmasq") else {
            crate::skip("dnsmasq is not installed (apt-get install -y dnsmasq-base)");
            return None;
        };
        let mut dir = tempfile::tempdir().expect("temporary folder");
        // dnsmasq may drop its privileges to `nobody`: it must still read the hosts file on reload.
        set_mode(dir.path(), 0o755);
        let hosts_file = dir.path().join("hosts");
        std::fs::write(&hosts_file, hosts).expect("write the hosts file");
        set_mode(&hosts_file, 0o644);
        for _ in 0..tries {
            let addr = next();
            let child = spawn(&program, dir.path(), addr, records);
            let mut d = Dnsmasq {
                child,
                dir,
                addr,
                records: records.to_vec(),
            };
            if d.wait_ready() {
                return Some(d);
            }
            let _ = d.child.kill();
            let _ = d.child.wait();
            let log = std::fs::read_to_string(d.dir.path().join("log")).unwrap_or_default();
            eprintln!("dnsmasq did not start on {addr}: {log}");
            dir = std::mem::replace(&mut d.dir, tempfile::tempdir().expect("temporary folder"));
        }
        panic!("dnsmasq does not start (see the messages above)");
    }

    /// The address to put in `nameservers`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn hosts_path(&self) -> PathBuf {
        self.dir.path().join("hosts")
    }

    fn write_hosts(&self, hosts: &str) {
        let path = self.hosts_path();
        std::fs::write(&path, hosts).expect("write the hosts file");
        set_mode(&path, 0o644);
    }

    fn set_hosts_unchecked(&self, hosts: &str) {
        self.write_hosts(hosts);
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -HUP dnsmasq failed");
    }

    /// Replace the hosts-file records and make dnsmasq reload them (SIGHUP); wait until `name` answers `ip`.
    pub fn set_hosts(&self, hosts: &str, name: &str, ip: Ipv4Addr) {
        self.set_hosts_unchecked(hosts);
        let deadline = Instant::now() + Duration::from_secs(5);
        while query_a(self.addr(), name).as_deref() != Some(&[ip][..]) {
            assert!(Instant::now() < deadline, "dnsmasq did not reload {name} -> {ip}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Replace the command-line records: dnsmasq is restarted on the same port.
    pub fn set_records(&mut self, records: &[String]) {
        self.records = records.to_vec();
        self.restart();
    }

    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let program = find_program("dnsmasq").expect("dnsmasq found before");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.child = spawn(&program, self.dir.path(), self.addr, &self.records);
            if self.wait_ready() {
                return;
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            assert!(
                Instant::now() < deadline,
                "dnsmasq does not start on {}: {}",
                self.addr,
                std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if query(self.addr(), &format!("ready.{ZONE}"), 1, Duration::from_millis(200)).is_some() {
                return true;
            }
        }
        false
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn spawn(program: &Path, dir: &Path, addr: SocketAddr, records: &[String]) -> Child {
    Command::new(program)
        .arg(format!("--port={}", addr.port()))
        .arg(format!("--listen-address={}", addr.ip()))
        .args([
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--log-queries",
        ])
        .arg(format!("--local=/{ZONE}/"))
        .arg(format!("--addn-hosts={}", dir.join("hosts").display()))
        .arg(format!("--log-facility={}", dir.join("log").display()))
        .args(records)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dnsmasq")
}

/// Send one DNS query of `qtype` over UDP; the answer's response code and its A records.
pub fn query(server: SocketAddr, name: &str, qtype: u16, timeout: Duration) -> Option<(u8, Vec<Ipv4Addr>)> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket.set_read_timeout(Some(timeout)).ok()?;
    let id: u16 = fastrand::u16(..);
    let mut packet = Vec::new();
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&[0, 1]);
    socket.send_to(&packet, server).ok()?;
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).ok()?;
    let msg = &buf[..n];
    if n < 12 || msg[..2] != id.to_be_bytes() {
        return None;
    }
    let rcode = msg[3] & 0x0f;
    let answers = u16::from_be_bytes([msg[6], msg[7]]);
    let mut at = skip_name(msg, 12)? + 4;
    let mut out = Vec::new();
    for _ in 0..answers {
        at = skip_name(msg, at)?;
        let rtype = u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]);
        let len = u16::from_be_bytes([*msg.get(at + 8)?, *msg.get(at + 9)?]) as usize;
        let data = msg.get(at + 10..at + 10 + len)?;
        if rtype == 1 && len == 4 {
            out.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += 10 + len;
    }
    Some((rcode, out))
}

/// The A records of `name`, or None when the server gives none.
pub fn query_a(server: SocketAddr, name: &str) -> Option<Vec<Ipv4Addr>> {
    query(server, name, 1, Duration::from_millis(500))
        .map(|(_, a)| a)
        .filter(|a| !a.is_empty())
}

fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        if len == 0 {
            return Some(at + 1);
        }
        if len & 0xc0 == 0xc0 {
            return Some(at + 2);
        }
        at += 1 + len as usize;
    }
}

/// A UDP "name server" that answers every query with SERVFAIL, until dropped.
pub struct ServFailServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl ServFailServer {
    /// Bind on a free loopback port and answer in a thread.
    pub fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    if n < 12 {
                        continue;
                    }
                    // The query echoed back as a response: QR set, RD kept, RA set, RCODE 2.
                    let mut reply = buf[..n].to_vec();
                    reply[2] = 0x80 | (buf[2] & 0x01);
                    reply[3] = 0x80 | 2;
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        ServFailServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ServFailServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
