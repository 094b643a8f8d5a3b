//! The event-loop driver of the device state machine (behaviour.md, "Event loops"): one connect
//! call as a [`PendingCall`] whose sockets the agent's own loop watches.
//!
//! The built-in probes (`tcp`, `http` with or without TLS) run on non-blocking sockets on the
//! caller's thread; no thread is started. The agent asks [`PendingCall::watches`] which sockets to
//! wait for and [`PendingCall::timeout`] until when, waits (poll, epoll, GLib, asyncio, ...), then
//! calls [`PendingCall::process`]; once [`PendingCall::is_done`], [`crate::Client::finish`] applies
//! the outcome to the device and returns the result of a blocking call.
//!
//! HTTP is ureq-proto's state machine ([`exchange`]), TLS rustls' `ClientConnection`, DNS
//! hickory-proto's messages on the driver's own sockets ([`dns`], [`names`]).

mod agent_probe;
mod attempt;
mod dns;
mod exchange;
mod names;

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scoutlb_proto::race::Id;
use scoutlb_proto::{Connect, Device, Step};

use rustix::event::{PollFd, PollFlags, Timespec};

use crate::cancel::{Canceller, SLICE};
use crate::emit::emit;
use crate::fork_lock::ForkLock;
use crate::https::{BalancerNames, TlsConnector};
use crate::{Config, DEVICE_ID_HEADER, EventSink, FailReason, Scheme, Server, ServerList};
use agent_probe::AgentProbes;
pub use agent_probe::ProbeRequest;
use attempt::{Attempt, Kind};

/// What a socket waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Interest {
    /// Data to read (or the peer closed).
    Read,
    /// Room to write (or a connect ended).
    Write,
}

/// One socket of a pending call and what to wait for on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Watch {
    /// The file descriptor; it stays open until the next [`PendingCall::process`] at least.
    pub fd: RawFd,
    /// What to wait for.
    pub interest: Interest,
}

/// What the attempts of a client's event-loop calls share: how to probe, built once.
pub(crate) struct LoopProbe {
    /// `http` or `tcp`.
    http: bool,
    /// `callback`: the agent runs each attempt (behaviour.md, "Event loops").
    agent: bool,
    scheme: Scheme,
    tls: Option<TlsConnector>,
    names: Arc<BalancerNames>,
    /// The extra request headers (the device id), built once for every attempt.
    headers: Arc<[(&'static str, String)]>,
    lookup: names::Settings,
}

impl LoopProbe {
    /// The probe of `config`, or why the event-loop driver cannot run it.
    pub(crate) fn new(config: &Config, names: Arc<BalancerNames>) -> crate::Result<Self> {
        let (http, agent) = match config.probe {
            crate::ProbeKind::Http => (true, false),
            crate::ProbeKind::Tcp => (false, false),
            crate::ProbeKind::Callback => (false, true),
            other => {
                return Err(crate::Error::Unsupported(format!(
                    "the event-loop driver runs the built-in probes (\"http\", \"tcp\") and the agent's own (\"callback\"), not {:?}",
                    other
                )));
            }
        };
        let tls = match (http, config.scheme) {
            (true, Scheme::Https) => Some(TlsConnector::new(config, Arc::clone(&names))?),
            _ => None,
        };
        Ok(LoopProbe {
            http,
            agent,
            scheme: config.scheme,
            tls,
            names,
            headers: config
                .device_id
                .iter()
                .map(|id| (DEVICE_ID_HEADER, id.clone()))
                .collect(),
            lookup: names::Settings::of(config),
        })
    }

    /// How to try `server`.
    fn kind(&self, server: &Server) -> Result<Kind, FailReason> {
        if !self.http {
            return Ok(Kind::Tcp);
        }
        let tls = match &self.tls {
            None => None,
            Some(connector) => Some(connector.session(server)?),
        };
        Ok(Kind::Http {
            scheme: self.scheme.name(),
            tls,
            server: server.clone(),
            headers: Arc::clone(&self.headers),
        })
    }
}

/// An attempt waiting for its server's addresses.
struct Resolving {
    id: Id,
    lookup: names::ServerLookup,
    kind: Kind,
    timeout: Duration,
    /// When the attempt started (its time limit counts from there).
    started: Instant,
}

/// One connect call driven by the agent's event loop; see the module docs.
pub struct PendingCall {
    /// The client that started it, so that only it finishes the call.
    pub(crate) owner: u64,
    pub(crate) connect: Connect,
    start: Instant,
    attempts: Vec<(Id, Attempt)>,
    /// The attempts the agent runs (probe `callback`).
    agent: AgentProbes,
    /// Attempts whose server's addresses are being looked up.
    resolving: Vec<Resolving>,
    /// The ManagerLoadBalancer's lookup, while it runs.
    balancer: Option<names::BalancerLookup>,
    /// The random numbers of the SRV weights.
    seed: u64,
    probe: Arc<LoopProbe>,
    sink: Option<Arc<dyn EventSink>>,
    canceller: Canceller,
    device: Arc<ForkLock<Device>>,
    /// When the call must be decided (`deadline_ms`).
    pub(crate) until: Instant,
}

impl std::fmt::Debug for PendingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCall")
            .field("attempts", &self.attempts.len())
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}

impl PendingCall {
    /// A call of `connect`, begun now: its first [`PendingCall::process`] is made here, so its
    /// first attempts have started (and on loopback it may already be done). An SRV balancer's
    /// weights are drawn from `seed`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        owner: u64,
        connect: Connect,
        probe: Arc<LoopProbe>,
        sink: Option<Arc<dyn EventSink>>,
        canceller: Canceller,
        device: Arc<ForkLock<Device>>,
        deadline: Duration,
        seed: u64,
    ) -> Self {
        let start = Instant::now();
        let mut call = PendingCall {
            owner,
            connect,
            start,
            attempts: Vec::new(),
            agent: AgentProbes::default(),
            resolving: Vec::new(),
            balancer: None,
            seed,
            probe,
            sink,
            canceller,
            device,
            until: start + deadline,
        };
        call.process();
        call
    }

    /// The sockets to watch now, each with what to wait for.
    pub fn watches(&self) -> Vec<Watch> {
        let lookups = self.lookup_fds().into_iter().map(|(fd, interest)| Watch {
            fd: fd.as_raw_fd(),
            interest,
        });
        self.attempts
            .iter()
            .filter_map(|(_, a)| a.watch())
            .chain(lookups)
            .chain(self.agent.watches())
            .collect()
    }

    /// The sockets of the lookups, borrowed, each with what to wait for.
    fn lookup_fds(&self) -> dns::Fds<'_> {
        let mut fds = dns::Fds::new();
        self.resolving.iter().for_each(|r| r.lookup.fds(&mut fds));
        if let Some(balancer) = &self.balancer {
            balancer.fds(&mut fds);
        }
        fds
    }

    /// How long the loop may wait at most before calling [`PendingCall::process`] again, when no
    /// socket becomes ready; `None` once the call is done.
    pub fn timeout(&self) -> Option<Duration> {
        if self.is_done() {
            return None;
        }
        let now = Instant::now();
        let race = self.connect.next_wake().map(|at| self.start + at);
        let attempts = self.attempts.iter().map(|(_, a)| a.until).min();
        let lookups = self
            .resolving
            .iter()
            .filter_map(|r| r.lookup.wake(now).map(|at| at.min(r.started + r.timeout)))
            .chain(self.balancer.as_ref().and_then(|b| b.wake(now)))
            .min();
        let at = [race, attempts, lookups, self.agent.next_until()]
            .into_iter()
            .flatten()
            .min()?;
        Some(at.saturating_duration_since(now))
    }

    /// Whether the call is decided: hand it to [`crate::Client::finish`].
    pub fn is_done(&self) -> bool {
        self.connect.is_decided()
    }

    /// End the call now as cancelled; its sockets are closed.
    pub fn cancel(&mut self) {
        self.connect.cancel();
        self.process();
    }

    /// With the `callback` probe: the next attempt for the agent's own probe to run, once. Look
    /// after the start and after every [`PendingCall::process`] or report.
    pub fn next_probe_request(&mut self) -> Option<ProbeRequest> {
        self.agent.next_request()
    }

    /// With the `callback` probe: the next attempt the call gave up (past its time, or the call
    /// was decided), once; the agent stops that probe, and reports on it are ignored.
    pub fn next_abandoned_probe(&mut self) -> Option<u64> {
        self.agent.next_abandoned()
    }

    /// The socket the agent's probe of `attempt` waits on, watched with the call's own
    /// (`None`: none); false when the call no longer waits for that attempt.
    pub fn probe_watch(&mut self, attempt: u64, watch: Option<Watch>) -> bool {
        self.agent.set_watch(attempt, watch)
    }

    /// The agent's probe of `attempt` has its transport up: it is granted `answer_delay_ms`.
    pub fn probe_up(&mut self, attempt: u64) {
        if let Some(id) = self.agent.id_of(attempt) {
            let at = self.start.elapsed();
            self.connect.transport_up(id, at);
            self.process();
        }
    }

    /// The agent's probe of `attempt` ended: reached (with the list the server sent, if it
    /// fetched one) or failed. A report on an attempt the call gave up is ignored.
    pub fn probe_done(&mut self, attempt: u64, outcome: Result<Option<ServerList>, FailReason>) {
        if let Some(id) = self.agent.id_of(attempt) {
            self.agent.ended(id);
            let at = self.start.elapsed();
            match outcome {
                Ok(list) => self.connect.succeeded(id, list, at),
                Err(reason) => self.connect.failed(id, reason, at),
            }
            self.process();
        }
    }

    /// Do everything that can be done now: read and write the sockets that are ready, start the
    /// next attempts, end those past their time, report events. Call it whenever a watched socket
    /// is ready or the timeout passed (a call too many does no harm).
    pub fn process(&mut self) {
        if self.canceller.is_cancelled() {
            self.connect.cancel();
        }
        // Each pass may start attempts (which may end at once, on loopback); bounded by the
        // number of candidates, as every pass that goes on started or ended one.
        loop {
            let now = Instant::now();
            let at = now.saturating_duration_since(self.start);
            let mut changed = self.drive_attempts(now, at);
            changed |= self.drive_lookups(now, at);
            while let Some(step) = self.connect.poll(at) {
                changed = true;
                match step {
                    Step::Resolve(entry) => {
                        self.balancer = Some(names::BalancerLookup::new(&entry, &self.probe.lookup, self.seed, now));
                        self.drive_balancer(now, at);
                    }
                    Step::Start { id, server, timeout } if self.probe.agent => {
                        self.agent.start(id, server, timeout, now);
                    }
                    Step::Start { id, server, timeout } => self.start_attempt(id, &server, timeout, now, at),
                    Step::Emit(event) => emit(self.sink.as_deref(), event),
                    Step::Decided => {
                        // The attempts and lookups still running are abandoned: their sockets
                        // close now, and the agent is told to stop its own.
                        self.attempts.clear();
                        self.resolving.clear();
                        self.balancer = None;
                        self.agent.abandon_all();
                    }
                    _ => {}
                }
            }
            if !changed || self.is_done() {
                return;
            }
        }
    }

    /// Drive the call to its end on this thread, waiting with poll(2): a blocking call without
    /// threads. The client's canceller is looked at every 25 ms.
    pub fn wait(&mut self) {
        while !self.is_done() {
            let timeout = self.timeout().unwrap_or_default().min(SLICE);
            let mut fds: Vec<PollFd<'_>> = self
                .attempts
                .iter()
                .filter_map(|(_, a)| a.poll_fd())
                .chain(self.lookup_fds())
                .map(|(fd, interest)| {
                    let flags = match interest {
                        Interest::Read => PollFlags::IN,
                        Interest::Write => PollFlags::OUT,
                    };
                    PollFd::from_borrowed_fd(fd, flags)
                })
                .collect();
            let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
                tv_sec: 0,
                tv_nsec: 25_000_000,
            });
            // An interrupted or failed poll only means another look now.
            let _ = rustix::event::poll(&mut fds, Some(&timeout));
            drop(fds);
            self.process();
        }
    }

    /// Start attempt `id` on `server`: at once when its addresses are known without DNS, after
    /// its lookup otherwise.
    fn start_attempt(&mut self, id: Id, server: &Server, timeout: Duration, now: Instant, at: Duration) {
        let kind = match self.probe.kind(server) {
            Ok(kind) => kind,
            Err(reason) => return self.connect.failed(id, reason, at),
        };
        // An IP literal is its own address, as its lookup would give it at once.
        if let Some(ip) = server.ip() {
            let addrs = vec![SocketAddr::new(ip, server.port())];
            return self.attempts.push((id, Attempt::new(kind, addrs, timeout, now)));
        }
        let mut lookup = names::ServerLookup::new(server, &self.probe.lookup, timeout, now);
        match lookup.drive(now) {
            Some(Ok(addrs)) => self.attempts.push((id, Attempt::new(kind, addrs, timeout, now))),
            Some(Err(reason)) => self.connect.failed(id, reason, at),
            None => self.resolving.push(Resolving {
                id,
                lookup,
                kind,
                timeout,
                started: now,
            }),
        }
    }

    /// Drive the lookups; whether any of them ended.
    fn drive_lookups(&mut self, now: Instant, at: Duration) -> bool {
        let mut changed = self.drive_balancer(now, at);
        let mut i = 0;
        while i < self.resolving.len() {
            let resolving = &mut self.resolving[i];
            let outcome = resolving.lookup.drive(now);
            // Past its time the race counts the attempt as timed out by itself.
            if outcome.is_none() && now >= resolving.started + resolving.timeout {
                self.resolving.swap_remove(i);
                continue;
            }
            let Some(outcome) = outcome else {
                i += 1;
                continue;
            };
            changed = true;
            let Resolving {
                id,
                kind,
                timeout,
                started,
                ..
            } = self.resolving.swap_remove(i);
            match outcome {
                // The attempt keeps the time limit it started with.
                Ok(addrs) => self.attempts.push((id, Attempt::new(kind, addrs, timeout, started))),
                Err(reason) => self.connect.failed(id, reason, at),
            }
        }
        changed
    }

    /// Drive the balancer's lookup; whether it ended (its answer is then the race's).
    fn drive_balancer(&mut self, now: Instant, at: Duration) -> bool {
        let Some(balancer) = &mut self.balancer else {
            return false;
        };
        let Some((evaluation, events)) = balancer.drive(now, &self.probe, &self.device) else {
            return false;
        };
        self.balancer = None;
        self.connect.lookup_done(evaluation, events, at);
        true
    }

    /// Drive every attempt; whether any of them came up or ended.
    fn drive_attempts(&mut self, now: Instant, at: Duration) -> bool {
        self.agent.expire(now);
        let mut changed = false;
        let mut i = 0;
        while i < self.attempts.len() {
            let (id, attempt) = &mut self.attempts[i];
            let id = *id;
            let progress = attempt.drive();
            if progress.up {
                changed = true;
                self.connect.transport_up(id, at);
            }
            // Past its time the race counts it as timed out (or the call is past its deadline)
            // by itself: only its socket is left to close.
            if progress.done.is_none() && now >= attempt.until {
                self.attempts.swap_remove(i);
                continue;
            }
            match progress.done {
                None => i += 1,
                Some(outcome) => {
                    changed = true;
                    self.attempts.swap_remove(i);
                    match outcome {
                        Ok(reached) => self.connect.succeeded(id, reached.list, at),
                        Err(reason) => self.connect.failed(id, reason, at),
                    }
                }
            }
        }
        changed
    }
}
