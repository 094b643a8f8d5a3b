//! One question asked of every name server, on non-blocking sockets: over UDP, over TCP when
//! the answer is truncated or none has come after half of the lookup's time.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use hickory_resolver::proto::op::{Query, ResponseCode};
use hickory_resolver::proto::rr::RData;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{Fds, Setup};
use crate::dns::{Unread, no_records, other, timed_out};
use crate::event_loop::Interest;
use crate::{DnsFailure, DnsFailureKind};

/// A non-blocking connect that goes on, or an operation that must wait for the socket.
fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error())
}

/// The question over UDP to one name server.
struct Udp {
    socket: UdpSocket,
    sent: bool,
}

/// The question over TCP to one name server: connecting, writing (so far), reading (so far).
enum Tcp {
    Connecting(Socket),
    Writing(TcpStream, usize),
    Reading(TcpStream, Vec<u8>),
}

/// Where a TCP question went in one step.
enum TcpStep {
    /// On to the next step at once.
    Again(Tcp),
    /// Waiting for the socket.
    Wait(Tcp),
    /// The server answered.
    Heard(Heard),
    /// The connection failed or broke.
    Broke(io::Error),
}

/// One name server asked one question.
struct Asking {
    udp_addr: Option<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    udp: Option<Udp>,
    tcp: Option<Tcp>,
    tcp_tried: bool,
    /// The question was truncated over UDP: a TCP failure is this server's failure.
    truncated: bool,
}

impl Asking {
    fn idle(&self) -> bool {
        self.udp.is_none() && self.tcp.is_none()
    }
}

/// What one answer of a name server says.
enum Heard {
    /// Nothing decisive (yet): keep waiting for this server.
    Nothing,
    /// The server failed (not the name): the other servers may still answer.
    Failed(DnsFailure),
    /// The answer for the question: its records of the asked type, or the name's failure.
    Answer(Result<Vec<RData>, DnsFailure>),
}

/// What an answer says for the question.
enum Hearing {
    /// The records of the asked type, or the name's failure.
    Answer(Result<Vec<RData>, DnsFailure>),
    /// Too large for UDP: to be asked over TCP.
    Truncated,
    /// Not the response to the query: ignored, and why.
    Ignored(DnsFailure),
}

/// One question asked of every name server: over UDP, over TCP when the answer is truncated or
/// when none has come after half of the lookup's time; the first decisive answer counts.
pub(super) struct Ask {
    question: Query,
    id: u16,
    bytes: Vec<u8>,
    servers: Vec<Asking>,
    /// When the name servers are also asked over TCP.
    tcp_at: Instant,
    until: Instant,
    /// The lookup's limit, named by a timeout.
    limit: Duration,
    /// The failures of the name servers, first first.
    failures: Vec<DnsFailure>,
    /// Why the first answer that was not the response to the query was ignored.
    ignored: Option<DnsFailure>,
    /// The answer once there is one: the records of the asked type, or the failure.
    pub(super) outcome: Option<Result<Vec<RData>, DnsFailure>>,
}

impl Ask {
    /// Ask `question` of the servers of `setup`, within `limit` from `start` (until `until`).
    pub(super) fn new(setup: &Setup, question: Query, start: Instant, limit: Duration, until: Instant) -> Self {
        let mut ask = Ask {
            question,
            id: 0,
            bytes: Vec::new(),
            servers: Vec::new(),
            tcp_at: start + limit / 2,
            until,
            limit,
            failures: Vec::new(),
            ignored: None,
            outcome: None,
        };
        let servers = match &setup.servers {
            Ok(servers) => servers,
            Err(failure) => {
                ask.outcome = Some(Err(failure.clone()));
                return ask;
            }
        };
        if servers.addrs.is_empty() {
            ask.outcome = Some(Err(other(
                "no name server to ask (neither `nameservers` nor /etc/resolv.conf names one)".into(),
            )));
            return ask;
        }
        match crate::dns::query(&ask.question) {
            Ok((id, bytes)) => (ask.id, ask.bytes) = (id, bytes),
            Err(failure) => {
                ask.outcome = Some(Err(failure));
                return ask;
            }
        }
        for (udp_addr, tcp_addr) in &servers.addrs {
            let mut asking = Asking {
                udp_addr: *udp_addr,
                tcp_addr: *tcp_addr,
                udp: None,
                tcp: None,
                tcp_tried: false,
                truncated: false,
            };
            match udp_addr {
                Some(addr) => match udp_socket(*addr) {
                    Ok(socket) => asking.udp = Some(Udp { socket, sent: false }),
                    Err(e) => ask.failures.push(unreachable_udp(*addr, &e)),
                },
                // Asked over TCP only.
                None => ask.start_tcp(&mut asking),
            }
            ask.servers.push(asking);
        }
        ask
    }

    /// Whether the question is decided.
    pub(super) fn done(&self) -> bool {
        self.outcome.is_some()
    }

    /// The sockets to wait for.
    pub(super) fn fds<'a>(&'a self, out: &mut Fds<'a>) {
        if self.done() {
            return;
        }
        for server in &self.servers {
            if let Some(udp) = &server.udp {
                let interest = if udp.sent { Interest::Read } else { Interest::Write };
                out.push((udp.socket.as_fd(), interest));
            }
            match &server.tcp {
                Some(Tcp::Connecting(s)) => out.push((s.as_fd(), Interest::Write)),
                Some(Tcp::Writing(s, _)) => out.push((s.as_fd(), Interest::Write)),
                Some(Tcp::Reading(s, _)) => out.push((s.as_fd(), Interest::Read)),
                None => {}
            }
        }
    }

    /// When this question must be looked at again without a socket becoming ready.
    pub(super) fn wake(&self, now: Instant) -> Option<Instant> {
        if self.done() {
            return None;
        }
        let tcp = self
            .servers
            .iter()
            .any(|s| s.udp.is_some() && !s.tcp_tried && s.tcp_addr.is_some());
        Some(if tcp && now < self.tcp_at {
            self.tcp_at
        } else {
            self.until
        })
    }

    /// Do what the sockets allow now.
    pub(super) fn drive(&mut self, now: Instant) {
        if self.done() {
            return;
        }
        let mut servers = std::mem::take(&mut self.servers);
        for server in servers.iter_mut() {
            let heard = match self.drive_udp(server) {
                Heard::Nothing => self.drive_tcp(server),
                decided => decided,
            };
            if self.settle(server, heard) {
                break;
            }
        }
        if self.outcome.is_none() && now >= self.tcp_at {
            for server in servers.iter_mut() {
                if server.udp.is_some() && !server.tcp_tried {
                    self.start_tcp(server);
                    let heard = self.drive_tcp(server);
                    if self.settle(server, heard) {
                        break;
                    }
                }
            }
        }
        self.servers = servers;
        if self.outcome.is_some() {
            // The sockets close now.
            self.servers.clear();
        } else if self.servers.iter().all(Asking::idle) || now >= self.until {
            self.outcome = Some(Err(self.unanswered()));
            self.servers.clear();
        }
    }

    /// The failure of a question no answer decided: what a name server's answer said, when one
    /// said something; else a timeout, naming the answers that were ignored.
    fn unanswered(&self) -> DnsFailure {
        if let Some(first) = self.failures.first() {
            return first.clone();
        }
        let timeout = timed_out(self.limit);
        match &self.ignored {
            Some(why) => DnsFailure::new(timeout.kind, format!("{timeout}; {why}")),
            None => timeout,
        }
    }

    /// Take in what `server` said; whether it decided the question.
    fn settle(&mut self, server: &mut Asking, heard: Heard) -> bool {
        match heard {
            Heard::Nothing => false,
            Heard::Failed(failure) => {
                server.udp = None;
                server.tcp = None;
                self.failures.push(failure);
                false
            }
            Heard::Answer(outcome) => {
                self.outcome = Some(outcome);
                true
            }
        }
    }

    fn drive_udp(&mut self, server: &mut Asking) -> Heard {
        let Some(udp) = &mut server.udp else {
            return Heard::Nothing;
        };
        let Some(addr) = server.udp_addr else {
            return Heard::Nothing;
        };
        if !udp.sent {
            match udp.socket.send(&self.bytes) {
                Ok(_) => udp.sent = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Heard::Nothing,
                Err(e) => return Heard::Failed(unreachable_udp(addr, &e)),
            }
        }
        let mut buf = [0u8; 4096];
        loop {
            let n = match udp.socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Heard::Nothing,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Heard::Failed(unreachable_udp(addr, &e)),
            };
            match self.heard(&buf[..n], addr, false) {
                Ok(Hearing::Answer(answer)) => return Heard::Answer(answer),
                Ok(Hearing::Truncated) => {
                    // Asked again over TCP.
                    server.udp = None;
                    server.truncated = true;
                    self.start_tcp(server);
                    return Heard::Nothing;
                }
                // The right answer may still come.
                Ok(Hearing::Ignored(why)) => {
                    self.ignored.get_or_insert(why);
                }
                Err(failure) => return Heard::Failed(failure),
            }
        }
    }

    /// Begin asking `server` over TCP (once).
    fn start_tcp(&self, server: &mut Asking) {
        if server.tcp_tried {
            return;
        }
        server.tcp_tried = true;
        let Some(addr) = server.tcp_addr else { return };
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).and_then(|socket| {
            socket.set_nonblocking(true)?;
            match socket.connect(&SockAddr::from(addr)) {
                Err(e) if !would_block(&e) => Err(e),
                _ => Ok(socket),
            }
        });
        match socket {
            Ok(socket) => server.tcp = Some(Tcp::Connecting(socket)),
            Err(e) => log::debug!(target: "scoutlb", "name server {addr} over TCP: {e}"),
        }
    }

    fn drive_tcp(&mut self, server: &mut Asking) -> Heard {
        let Some(addr) = server.tcp_addr else {
            return Heard::Nothing;
        };
        while let Some(tcp) = server.tcp.take() {
            match self.tcp_step(tcp, addr) {
                TcpStep::Again(tcp) => server.tcp = Some(tcp),
                TcpStep::Wait(tcp) => {
                    server.tcp = Some(tcp);
                    return Heard::Nothing;
                }
                // A TCP connection gives one answer: after a truncated UDP answer, one that said
                // nothing for the question is this server's failure.
                TcpStep::Heard(Heard::Nothing) if server.truncated => {
                    return Heard::Failed(other(format!(
                        "name server {addr}: the answer is too large for UDP, and the TCP answer is not the response to the query"
                    )));
                }
                TcpStep::Heard(heard) => return heard,
                TcpStep::Broke(e) => {
                    log::debug!(target: "scoutlb", "name server {addr} over TCP: {e}");
                    // After a truncated UDP answer, TCP was this server's only way left.
                    if server.truncated {
                        return Heard::Failed(other(format!(
                            "name server {addr}: the answer is too large for UDP, and TCP fails: {e}"
                        )));
                    }
                }
            }
        }
        Heard::Nothing
    }

    /// One step of a TCP question.
    fn tcp_step(&mut self, tcp: Tcp, addr: SocketAddr) -> TcpStep {
        match tcp {
            Tcp::Connecting(socket) => match socket.take_error() {
                Ok(Some(e)) | Err(e) => TcpStep::Broke(e),
                Ok(None) => match socket.peer_addr() {
                    Ok(_) => TcpStep::Again(Tcp::Writing(TcpStream::from(socket), 0)),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => TcpStep::Wait(Tcp::Connecting(socket)),
                    Err(e) => TcpStep::Broke(e),
                },
            },
            Tcp::Writing(mut stream, written) => {
                let len = u16::try_from(self.bytes.len()).unwrap_or(u16::MAX);
                let mut framed = len.to_be_bytes().to_vec();
                framed.extend_from_slice(&self.bytes);
                match stream.write(&framed[written..]) {
                    Ok(n) if written + n >= framed.len() => TcpStep::Again(Tcp::Reading(stream, Vec::new())),
                    Ok(n) => TcpStep::Again(Tcp::Writing(stream, written + n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => TcpStep::Wait(Tcp::Writing(stream, written)),
                    Err(e) => TcpStep::Broke(e),
                }
            }
            Tcp::Reading(mut stream, mut got) => {
                let mut buf = [0u8; 16 * 1024];
                match stream.read(&mut buf) {
                    Ok(0) => {
                        return TcpStep::Broke(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the name server closed the connection before its answer was whole",
                        ));
                    }
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return TcpStep::Wait(Tcp::Reading(stream, got)),
                    Err(e) => return TcpStep::Broke(e),
                }
                // The answer comes after its length, two bytes.
                let len = match got.get(..2) {
                    Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
                    _ => return TcpStep::Again(Tcp::Reading(stream, got)),
                };
                let Some(answer) = got.get(2..2 + len) else {
                    return TcpStep::Again(Tcp::Reading(stream, got));
                };
                TcpStep::Heard(match self.heard(answer, addr, true) {
                    Ok(Hearing::Answer(answer)) => Heard::Answer(answer),
                    // Only a UDP answer is truncated.
                    Ok(Hearing::Truncated) => Heard::Nothing,
                    // The connection's one answer was not ours: UDP may still answer.
                    Ok(Hearing::Ignored(why)) => {
                        self.ignored.get_or_insert(why);
                        Heard::Nothing
                    }
                    Err(failure) => Heard::Failed(failure),
                })
            }
        }
    }

    /// Read the answer `buf` of `server`: what it says for the question, or the failure of this
    /// server.
    fn heard(&self, buf: &[u8], server: SocketAddr, tcp: bool) -> Result<Hearing, DnsFailure> {
        let over = if tcp { "over TCP" } else { "over UDP" };
        let answers = match crate::dns::read(buf, self.id, &self.question) {
            Ok(answers) => answers,
            // Ignored, as hickory ignores it for the blocking lookup (a forged answer must not
            // end a lookup); named if the lookup times out.
            Err(Unread::NotOurs(failure)) => {
                log::debug!(target: "scoutlb", "name server {server} {over}: {failure}; ignored");
                return Ok(Hearing::Ignored(
                    failure.context(format_args!("name server {server} {over}")),
                ));
            }
            // The name does not exist: the answer for every server.
            Err(Unread::Failed(failure)) if failure.kind == DnsFailureKind::NoSuchName => {
                return Ok(Hearing::Answer(Err(failure)));
            }
            // A response code is named as the blocking lookup names it; an answer that cannot
            // be read names its name server.
            Err(Unread::Failed(failure)) if failure.kind == DnsFailureKind::Other => {
                return Err(failure.context(format_args!("name server {server} {over}")));
            }
            Err(Unread::Failed(failure)) => return Err(failure),
        };
        if answers.truncated && !tcp {
            return Ok(Hearing::Truncated);
        }
        let rtype = self.question.query_type();
        if let Some(why) = &answers.unreadable
            && !answers.records.is_empty()
        {
            log::warn!(target: "scoutlb",
                "name server {server}: the answer to {} {rtype} cannot be decoded after its answer section ({why}); \
                 using its {} answer records", self.question.name(), answers.records.len());
        }
        let data: Vec<RData> = answers
            .records
            .into_iter()
            .map(|r| r.data)
            .filter(|d| d.record_type() == rtype)
            .collect();
        if data.is_empty() {
            return Ok(Hearing::Answer(Err(no_records(rtype, ResponseCode::NoError))));
        }
        Ok(Hearing::Answer(Ok(data)))
    }
}

/// A UDP socket connected to `addr`, non-blocking.
fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let local = match addr {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(addr)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn unreachable_udp(addr: SocketAddr, e: &io::Error) -> DnsFailure {
    other(format!("cannot reach the name server {addr} over UDP: {e}"))
}
