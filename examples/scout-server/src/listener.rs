//! The listening socket and the threads that answer it: each open connection has a thread of its
//! own, taken from a pool that grows when every thread is busy (up to [`MAX_THREADS`]) and
//! shrinks when many are idle, so that a steady load starts no threads at all.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};
use socket2::{Domain, Protocol, Socket, Type};

use crate::http::{End, Service};

/// Connections waiting to be accepted that the kernel may queue (capped by `net.core.somaxconn`).
const BACKLOG: i32 = 4096;

/// Threads started at once.
const FIRST_THREADS: usize = 4;

/// Most threads, hence most connections answered at the same time; more wait in the backlog.
const MAX_THREADS: usize = 512;

/// Idle threads beyond this many end.
const MAX_IDLE: usize = 64;

/// Stack of one thread: parsing and a TLS session need little.
const STACK: usize = 256 * 1024;

/// How long a connection may stay silent (between requests, or inside one) before it is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a closing connection is drained of input the client still sends, so that the last
/// response is not destroyed by a reset.
const LINGER: Duration = Duration::from_secs(1);

/// How often, at most, a connection-level problem is logged.
const REPEAT_LOG: Duration = Duration::from_secs(5);

/// Binds `listen` (`host:port`; port 0 picks a free one) with a deep backlog.
pub fn bind(listen: &str) -> Result<TcpListener, String> {
    let addresses: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?
        .collect();
    let mut last = None;
    for address in addresses {
        match bind_one(address) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => format!("cannot listen on {listen}: {e}"),
        None => format!("cannot listen on {listen}: it names no address"),
    })
}

/// Binds one address, with `SO_REUSEADDR` like the standard library.
fn bind_one(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Starts answering `listener` with `service`, over TLS when `tls` is given; the threads run for
/// the life of the process.
pub fn start(listener: TcpListener, service: Arc<Service>, tls: Option<Arc<ServerConfig>>) -> Result<(), String> {
    let pool = Arc::new(Pool {
        listener,
        service,
        tls,
        threads: AtomicUsize::new(0),
        idle: AtomicUsize::new(0),
        last_log: Mutex::new(None),
    });
    for _ in 0..FIRST_THREADS {
        pool.spawn()
            .map_err(|e| format!("cannot start a thread to answer requests: {e}"))?;
    }
    Ok(())
}

/// The shared state of the answering threads.
struct Pool {
    listener: TcpListener,
    service: Arc<Service>,
    tls: Option<Arc<ServerConfig>>,
    /// Threads alive.
    threads: AtomicUsize,
    /// Threads waiting in `accept`.
    idle: AtomicUsize,
    /// When a connection-level problem was last logged.
    last_log: Mutex<Option<Instant>>,
}

impl Pool {
    /// Starts one more thread, counted as idle.
    fn spawn(self: &Arc<Self>) -> io::Result<()> {
        self.threads.fetch_add(1, Ordering::SeqCst);
        self.idle.fetch_add(1, Ordering::SeqCst);
        let pool = Arc::clone(self);
        let started = thread::Builder::new()
            .name("http".into())
            .stack_size(STACK)
            .spawn(move || pool.work());
        if started.is_err() {
            self.threads.fetch_sub(1, Ordering::SeqCst);
            self.idle.fetch_sub(1, Ordering::SeqCst);
        }
        started.map(drop)
    }

    /// One thread: accept a connection, answer it to its end, again; ends when too many idle.
    fn work(self: Arc<Self>) {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors or memory: wait for connections to close.
                    self.log(format_args!("cannot accept a connection: {e}"));
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            let was_idle = self.idle.fetch_sub(1, Ordering::SeqCst);
            if was_idle == 1 && self.threads.load(Ordering::SeqCst) < MAX_THREADS {
                // This was the last thread waiting: start another before answering.
                if let Err(e) = self.spawn() {
                    self.log(format_args!("cannot start another thread: {e}"));
                }
            }
            self.answer(stream);
            if self.idle.load(Ordering::SeqCst) >= MAX_IDLE {
                self.threads.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            self.idle.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Answers one connection until it ends.
    fn answer(&self, stream: TcpStream) {
        let peer = stream.peer_addr().ok();
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
        let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
        match &self.tls {
            None => {
                let mut stream = stream;
                if let Ok(End::ByServer { unread: true }) = self.service.serve(&mut stream) {
                    drain(&mut stream);
                }
            }
            Some(config) => {
                let session = match ServerConnection::new(Arc::clone(config)) {
                    Ok(session) => session,
                    Err(e) => return self.log(format_args!("cannot start a TLS session: {e}")),
                };
                let mut tls = StreamOwned::new(session, stream);
                match self.service.serve(&mut tls) {
                    Ok(end) => {
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                        if end == (End::ByServer { unread: true }) {
                            drain(&mut tls.sock);
                        }
                    }
                    // A client that does not trust the certificate, or speaks plain HTTP.
                    Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                        let peer = peer.map_or("?".into(), |p| p.to_string());
                        self.log(format_args!("TLS with {peer} failed: {e}"));
                    }
                    Err(_) => {}
                }
            }
        }
    }

    /// Logs a connection-level problem, at most once every [`REPEAT_LOG`].
    fn log(&self, message: std::fmt::Arguments<'_>) {
        let mut last = self.last_log.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= REPEAT_LOG) {
            *last = Some(Instant::now());
            note!("{message} (problems like this are logged at most every {REPEAT_LOG:?})");
        }
    }
}

/// Closes the sending side and reads what the client still sends, for at most [`LINGER`].
fn drain(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER));
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
