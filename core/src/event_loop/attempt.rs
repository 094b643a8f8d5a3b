//! One attempt on non-blocking sockets: connect to each address in turn, then (http) the TLS
//! handshake and the list request. No thread, no wait: [`Attempt::drive`] does what the socket
//! allows now, [`Attempt::watch`] says what to wait for.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConnection;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::exchange::Exchange;
use super::{Interest, Watch};
use crate::probe::{Reached, fail_from_io, judge};
use crate::tls::tls_failure;
use crate::{DnsFailure, DnsFailureKind, FailReason, Server};

/// What an attempt tries, and how.
#[derive(Clone)]
pub(crate) enum Kind {
    /// A TCP connection is accepted.
    Tcp,
    /// `GET` the list, through TLS when `tls` is set, sending `headers`.
    Http {
        /// `http` or `https`.
        scheme: &'static str,
        /// The TLS configuration and the name the certificate must hold.
        tls: Option<(Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>)>,
        /// The server, whose `host:port` the request names.
        server: Server,
        /// Extra request headers.
        headers: Arc<[(&'static str, String)]>,
    },
}

/// Where the attempt is.
enum Stage {
    /// Connecting to the front address of `addrs`.
    Connecting(Socket),
    /// TCP is up; TLS is being set up.
    Handshake(TcpStream, Box<ClientConnection>),
    /// Sending the request and reading the answer.
    Exchange(TcpStream, Option<Box<ClientConnection>>, Box<Exchange>),
    /// Nothing more to do.
    Over,
}

/// What [`Attempt::drive`] found.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// The transport came up in this drive.
    pub up: bool,
    /// The attempt ended.
    pub done: Option<Result<Reached, FailReason>>,
}

/// One attempt; see the module docs.
pub(crate) struct Attempt {
    kind: Kind,
    addrs: VecDeque<SocketAddr>,
    stage: Stage,
    /// The attempt's time limit, for the reasons it gives.
    timeout: Duration,
    /// When it must have ended.
    pub until: Instant,
    /// Why the last address failed, reported when none is left.
    last: Option<FailReason>,
}

/// A non-blocking connect that goes on, or an operation that must wait for the socket.
fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error())
}

/// A non-blocking TCP socket for `addr`; where the socket type takes `SOCK_NONBLOCK`, made so at
/// its creation (one system call, not three).
fn nonblocking_socket(addr: SocketAddr) -> io::Result<Socket> {
    let domain = Domain::for_address(addr);
    #[cfg(any(
        target_os = "android",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "fuchsia",
        target_os = "illumos",
        target_os = "linux",
        target_os = "netbsd",
        target_os = "openbsd",
    ))]
    let socket = Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP))?;
    #[cfg(not(any(
        target_os = "android",
        target_os = "dragonfly",
        target_os = "freebsd",
        target_os = "fuchsia",
        target_os = "illumos",
        target_os = "linux",
        target_os = "netbsd",
        target_os = "openbsd",
    )))]
    let socket = {
        let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        socket
    };
    Ok(socket)
}

impl Attempt {
    /// An attempt of `kind` on `addrs`, within `timeout` from `now`.
    pub(crate) fn new(kind: Kind, addrs: Vec<SocketAddr>, timeout: Duration, now: Instant) -> Self {
        Attempt {
            kind,
            addrs: addrs.into(),
            stage: Stage::Over,
            timeout,
            until: now + timeout,
            last: None,
        }
    }

    /// The socket to watch, and for what; `None` once it is over.
    pub(crate) fn watch(&self) -> Option<Watch> {
        self.poll_fd().map(|(fd, interest)| Watch {
            fd: fd.as_raw_fd(),
            interest,
        })
    }

    /// The socket to watch, borrowed (for a poll(2) of its own), and for what.
    pub(crate) fn poll_fd(&self) -> Option<(BorrowedFd<'_>, Interest)> {
        Some(match &self.stage {
            Stage::Connecting(s) => (s.as_fd(), Interest::Write),
            Stage::Handshake(s, tls) | Stage::Exchange(s, Some(tls), _) => (s.as_fd(), tls_interest(tls)),
            Stage::Exchange(s, None, exchange) if exchange.is_reading() => (s.as_fd(), Interest::Read),
            Stage::Exchange(s, None, _) => (s.as_fd(), Interest::Write),
            Stage::Over => return None,
        })
    }

    /// Do what the sockets allow now.
    pub(crate) fn drive(&mut self) -> Progress {
        let mut progress = Progress::default();
        loop {
            match self.step(&mut progress) {
                Ok(true) => continue,
                Ok(false) => return progress,
                Err(reason) => {
                    // Only a failed connect moves on to the next address.
                    if matches!(self.stage, Stage::Connecting(_)) && !self.addrs.is_empty() {
                        self.last = Some(reason);
                        self.stage = Stage::Over;
                        continue;
                    }
                    self.stage = Stage::Over;
                    self.addrs.clear();
                    progress.done = Some(Err(reason));
                    return progress;
                }
            }
        }
    }

    /// One step; `Ok(true)` = call again, `Ok(false)` = wait for the socket.
    fn step(&mut self, progress: &mut Progress) -> Result<bool, FailReason> {
        let timeout = self.timeout;
        let io = |e: io::Error| fail_from_io(&e, timeout);
        match &mut self.stage {
            Stage::Over => {
                if progress.done.is_some() {
                    return Ok(false);
                }
                let Some(addr) = self.addrs.pop_front() else {
                    let reason = self.last.take().unwrap_or_else(|| {
                        FailReason::Dns(DnsFailure::new(DnsFailureKind::NoRecords, "the name has no address"))
                    });
                    progress.done = Some(Err(reason));
                    return Ok(false);
                };
                self.addrs.push_front(addr);
                let socket = nonblocking_socket(addr).map_err(io)?;
                match socket.connect(&SockAddr::from(addr)) {
                    Ok(()) => {}
                    Err(e) if would_block(&e) => {}
                    Err(e) => {
                        self.addrs.pop_front();
                        return Err(io(e));
                    }
                }
                self.stage = Stage::Connecting(socket);
                Ok(true)
            }
            Stage::Connecting(socket) => {
                if let Some(e) = socket.take_error().map_err(io)? {
                    self.addrs.pop_front();
                    return Err(io(e));
                }
                match socket.peer_addr() {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
                    Err(e) => return Err(io(e)),
                }
                self.addrs.clear();
                let Stage::Connecting(socket) = std::mem::replace(&mut self.stage, Stage::Over) else {
                    unreachable!()
                };
                if let Kind::Tcp = self.kind {
                    progress.up = true;
                    progress.done = Some(Ok(Reached::default()));
                    return Ok(false);
                }
                // Set once connected: a refused connect makes no call for it, and nothing was
                // sent before.
                let _ = socket.set_tcp_nodelay(true);
                let stream = TcpStream::from(socket);
                self.stage = match &self.kind {
                    Kind::Tcp => unreachable!("a tcp attempt ends once connected"),
                    Kind::Http {
                        tls: Some((config, name)),
                        ..
                    } => {
                        let conn = ClientConnection::new(Arc::clone(config), name.clone())
                            .map_err(|e| FailReason::Tls(tls_failure(&e)))?;
                        Stage::Handshake(stream, Box::new(conn))
                    }
                    Kind::Http { .. } => {
                        progress.up = true;
                        Stage::Exchange(stream, None, Box::new(self.exchange()?))
                    }
                };
                Ok(true)
            }
            Stage::Handshake(stream, tls) => {
                let moved = tls_io(stream, tls, self.timeout)?;
                if tls.is_handshaking() {
                    return Ok(moved);
                }
                progress.up = true;
                let exchange = self.exchange()?;
                let Stage::Handshake(stream, tls) = std::mem::replace(&mut self.stage, Stage::Over) else {
                    unreachable!()
                };
                self.stage = Stage::Exchange(stream, Some(tls), Box::new(exchange));
                Ok(true)
            }
            Stage::Exchange(stream, tls, exchange) => {
                let answer = match tls {
                    None => plain_exchange(stream, exchange, self.timeout)?,
                    Some(tls) => tls_exchange(stream, tls, exchange, self.timeout)?,
                };
                match answer {
                    Some(answer) => {
                        self.stage = Stage::Over;
                        progress.done = Some(judge(answer));
                        Ok(false)
                    }
                    None => Ok(false),
                }
            }
        }
    }

    fn exchange(&self) -> Result<Exchange, FailReason> {
        let Kind::Http {
            scheme,
            server,
            headers,
            ..
        } = &self.kind
        else {
            unreachable!("only http attempts exchange")
        };
        Exchange::new(scheme, &server.to_string(), headers)
    }
}

fn tls_interest(tls: &ClientConnection) -> Interest {
    if tls.wants_write() {
        Interest::Write
    } else {
        Interest::Read
    }
}

/// Move TLS records both ways as far as the socket allows; whether anything moved.
fn tls_io(stream: &mut TcpStream, tls: &mut ClientConnection, timeout: Duration) -> Result<bool, FailReason> {
    let mut moved = false;
    loop {
        if tls.wants_write() {
            match tls.write_tls(stream) {
                Ok(_) => {
                    moved = true;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(fail_from_io(&e, timeout)),
            }
        }
        if !tls.wants_read() {
            return Ok(moved);
        }
        match tls.read_tls(stream) {
            Ok(0) => {
                return Err(FailReason::Io {
                    kind: io::ErrorKind::UnexpectedEof,
                    message: "the server closed the connection during the TLS handshake".into(),
                });
            }
            Ok(_) => {
                moved = true;
                tls.process_new_packets()
                    .map_err(|e| FailReason::Tls(tls_failure(&e)))?;
                if !tls.is_handshaking() {
                    return Ok(true);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(moved),
            Err(e) => return Err(fail_from_io(&e, timeout)),
        }
    }
}

/// The request and answer on a plain socket.
fn plain_exchange(
    stream: &mut TcpStream,
    exchange: &mut Exchange,
    timeout: Duration,
) -> Result<Option<crate::probe::Answer>, FailReason> {
    while !exchange.to_send().is_empty() {
        match stream.write(exchange.to_send()) {
            Ok(n) => exchange.sent(n)?,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(fail_from_io(&e, timeout)),
        }
    }
    read_answer(stream, exchange, timeout)
}

thread_local! {
    /// What the answers of this thread's attempts are read into: made (and zeroed) once per
    /// thread, not at every read, and held by no call in flight.
    static READ_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; 16 * 1024].into_boxed_slice());
}

/// Hand what `reader` holds now to the exchange (an end of stream as the server's close); the
/// answer once it is whole.
fn read_answer(
    reader: &mut impl Read,
    exchange: &mut Exchange,
    timeout: Duration,
) -> Result<Option<crate::probe::Answer>, FailReason> {
    READ_BUF.with_borrow_mut(|buf| {
        loop {
            let n = match reader.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                // A TLS server that closed without close_notify: the answer ends with the connection.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(fail_from_io(&e, timeout)),
            };
            if let Some(answer) = exchange.received(&buf[..n])? {
                return Ok(Some(answer));
            }
            if n == 0 {
                return Ok(None);
            }
        }
    })
}

/// The request and answer inside TLS.
fn tls_exchange(
    stream: &mut TcpStream,
    tls: &mut ClientConnection,
    exchange: &mut Exchange,
    timeout: Duration,
) -> Result<Option<crate::probe::Answer>, FailReason> {
    if !exchange.to_send().is_empty() {
        let n = tls
            .writer()
            .write(exchange.to_send())
            .map_err(|e| fail_from_io(&e, timeout))?;
        exchange.sent(n)?;
    }
    loop {
        while tls.wants_write() {
            match tls.write_tls(stream) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(fail_from_io(&e, timeout)),
            }
        }
        // What was decrypted already.
        if let Some(answer) = read_answer(&mut tls.reader(), exchange, timeout)? {
            return Ok(Some(answer));
        }
        match tls.read_tls(stream) {
            Ok(0) => return exchange.received(&[]),
            Ok(_) => {
                tls.process_new_packets()
                    .map_err(|e| FailReason::Tls(tls_failure(&e)))?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(fail_from_io(&e, timeout)),
        }
    }
}
