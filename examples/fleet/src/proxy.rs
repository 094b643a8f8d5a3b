//! A counting TCP proxy in front of each server: requests per 100 ms, open connections, and their peak.
//!
//! Devices only know the proxies' addresses (the servers advertise them), so every connection a
//! device opens to a server passes here and is counted. The proxy forwards bytes unchanged (TLS
//! passes through). While its server is killed or stopped cleanly, the proxy's port is closed too,
//! so devices are refused by the kernel as they would be by the dead server's port (and those
//! refused connections are not counted: the series counts what reached a server). A stopped
//! (SIGSTOP) server keeps its proxy open, as its own port stays open. Proxy ports are taken below
//! the kernel's ephemeral range, so that no outgoing connection takes a closed proxy's port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

/// Width of one bucket of the request series.
pub const BUCKET: Duration = Duration::from_millis(100);

/// Longest run the request series covers; later requests land in the last bucket.
const MAX_BUCKETS: usize = 30 * 60 * 10;

/// Longest wait for the server to accept the proxy's connection.
const UPSTREAM_CONNECT: Duration = Duration::from_secs(10);

/// What one server's proxy counted.
pub struct Traffic {
    t0: Instant,
    buckets: Vec<AtomicU32>,
    total: AtomicU64,
    open: AtomicI64,
    peak: AtomicI64,
}

impl Traffic {
    fn new(t0: Instant) -> Traffic {
        Traffic {
            t0,
            buckets: (0..MAX_BUCKETS).map(|_| AtomicU32::new(0)).collect(),
            total: AtomicU64::new(0),
            open: AtomicI64::new(0),
            peak: AtomicI64::new(0),
        }
    }

    fn count(&self) {
        let i = ((self.t0.elapsed().as_millis() / BUCKET.as_millis()) as usize).min(MAX_BUCKETS - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(open, Ordering::Relaxed);
    }

    /// Requests (connections) so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Most connections open at once so far.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed).max(0) as u64
    }

    /// Requests per bucket from the start up to `until` (time since the start).
    pub fn series(&self, until: Duration) -> Vec<u32> {
        let n = ((until.as_millis() / BUCKET.as_millis()) as usize + 1).min(MAX_BUCKETS);
        self.buckets[..n].iter().map(|b| b.load(Ordering::Relaxed)).collect()
    }
}

/// Counts a connection as open until dropped.
struct OpenGuard<'a>(&'a Traffic);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One server's proxy.
struct Entry {
    addr: SocketAddr,
    traffic: Arc<Traffic>,
    upstream: Arc<OnceLock<SocketAddr>>,
    /// The accept loop while the port is open.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The proxies of a cluster, on a tokio runtime of their own; stopped when dropped.
pub struct Proxies {
    runtime: tokio::runtime::Runtime,
    entries: Vec<Entry>,
}

/// Connections the kernel may queue for a proxy (capped by `net.core.somaxconn`), as deep as the
/// reference server's, so that the proxy adds no drops of its own to a storm.
const BACKLOG: i32 = 4096;

/// Binds `addr` with a deep backlog and `SO_REUSEADDR` (as the standard library does).
fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Lowest port tried for a proxy.
const FIRST_PORT: u16 = 20000;

/// Binds a loopback listener on a free port below the ephemeral range (from `FIRST_PORT` on).
fn bind_below_ephemeral(start: u16) -> std::io::Result<std::net::TcpListener> {
    let low = ephemeral_low().unwrap_or(32768);
    let mut last = std::io::Error::other("no port left below the ephemeral range");
    for port in start.max(1024)..low.max(start) {
        match bind(SocketAddr::from(([127, 0, 0, 1], port))) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The first port of the kernel's ephemeral range (`net.ipv4.ip_local_port_range`).
fn ephemeral_low() -> Option<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl Proxies {
    /// Binds `k` proxies on free loopback ports; they accept once [`Proxies::forward`] names their server.
    pub fn bind(k: usize, t0: Instant) -> std::io::Result<Proxies> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fleet-proxy")
            .enable_io()
            .enable_time()
            .build()?;
        let mut proxies = Proxies {
            runtime,
            entries: Vec::with_capacity(k),
        };
        // A random start, so that runs side by side rarely try the same ports.
        let mut next = FIRST_PORT + fastrand::u16(..8000);
        for _ in 0..k {
            let listener = bind_below_ephemeral(next)?;
            let addr = listener.local_addr()?;
            next = addr.port() + 1;
            proxies.entries.push(Entry {
                addr,
                traffic: Arc::new(Traffic::new(t0)),
                upstream: Arc::new(OnceLock::new()),
                task: Mutex::new(None),
            });
            proxies.listen(proxies.entries.len() - 1, listener)?;
        }
        Ok(proxies)
    }

    fn listen(&self, i: usize, listener: std::net::TcpListener) -> std::io::Result<()> {
        listener.set_nonblocking(true)?;
        let e = &self.entries[i];
        let listener = {
            let _guard = self.runtime.enter();
            TcpListener::from_std(listener)?
        };
        let task = self
            .runtime
            .spawn(serve(listener, Arc::clone(&e.traffic), Arc::clone(&e.upstream)));
        *e.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok(())
    }

    /// The address devices use for server `i`.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.entries[i].addr
    }

    /// Makes proxy `i` forward to `server`.
    pub fn forward(&self, i: usize, server: SocketAddr) {
        let _ = self.entries[i].upstream.set(server);
    }

    /// What proxy `i` counted.
    pub fn traffic(&self, i: usize) -> &Traffic {
        &self.entries[i].traffic
    }

    /// Closes proxy `i`'s port (its server is gone): new connections are refused.
    pub fn close(&self, i: usize) {
        if let Some(task) = self.entries[i].task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
            // The listener is dropped with the aborted task, on a runtime thread: wait for it.
            let _ = self.runtime.block_on(task);
        }
    }

    /// Opens proxy `i`'s port again on the same address (its server is back).
    pub fn open(&self, i: usize) -> std::io::Result<()> {
        let addr = self.entries[i].addr;
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match bind(addr) {
                Ok(l) => break l,
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        self.listen(i, listener)
    }

    /// Stops every proxy and drops its connections.
    pub fn shutdown(self) {
        self.runtime.shutdown_timeout(Duration::from_secs(1));
    }
}

async fn serve(listener: TcpListener, traffic: Arc<Traffic>, upstream: Arc<OnceLock<SocketAddr>>) {
    loop {
        let Ok((down, _)) = listener.accept().await else {
            // Out of descriptors, say: wait a little rather than spin.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        traffic.count();
        let traffic = Arc::clone(&traffic);
        let upstream = upstream.get().copied();
        tokio::spawn(async move {
            let _open = OpenGuard(&traffic);
            relay(down, upstream).await;
        });
    }
}

/// Forwards one connection both ways; resets it when the server does not take the connection.
async fn relay(mut down: TcpStream, upstream: Option<SocketAddr>) {
    let _ = down.set_nodelay(true);
    let up = match upstream {
        Some(addr) => tokio::time::timeout(UPSTREAM_CONNECT, TcpStream::connect(addr)).await,
        None => Ok(Err(std::io::ErrorKind::NotConnected.into())),
    };
    match up {
        Ok(Ok(mut up)) => {
            let _ = up.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
        }
        _ => {
            // A zero linger makes the close a reset, as a closed port refuses.
            let _ = socket2::SockRef::from(&down).set_linger(Some(Duration::ZERO));
        }
    }
}
