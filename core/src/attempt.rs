//! Attempts: the threads and the clock around the attempt race of [`crate::race`].
//!
//! Each attempt runs its probe on its own short-lived thread, bounded by the per-attempt timeout,
//! and reports "transport up" and its outcome over a channel; the race decides what starts when
//! and which success wins. When the race is decided the call returns at once; the attempts still
//! running are abandoned: their results are dropped unread, and their threads end within their
//! own timeout.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::dns::DnsFailure;
use crate::event::Event;
use crate::probe::{Probe, Reached, TransportUp};
use crate::race::{Action, Id, Race, Stage, Timing};
use crate::server::Server;
use crate::tls_failure::TlsFailure;

/// Why one attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailReason {
    /// The connection was refused.
    Refused,
    /// No answer within the time limit.
    TimedOut(Duration),
    /// The host name did not resolve.
    Dns(DnsFailure),
    /// The TLS handshake or certificate check failed.
    Tls(TlsFailure),
    /// The server answered with an HTTP status other than 200.
    HttpStatus(u16),
    /// The server's answer was not a valid server list.
    InvalidList(String),
    /// Another network or operating-system error.
    Io {
        /// The operating system's kind of error.
        kind: io::ErrorKind,
        /// The error in words.
        message: String,
    },
    /// The agent's callback probe said no, with its message.
    Callback(String),
    /// The agent reported the failure itself.
    Reported(String),
    /// The call's overall deadline passed before this candidate was tried or answered.
    Deadline,
    /// Still running when another candidate won: its patience had run out at this stage.
    OutOfPatience {
        /// How far it got.
        stage: Stage,
        /// The patience it had at that stage.
        patience: Duration,
    },
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailReason::Refused => f.write_str("connection refused"),
            FailReason::TimedOut(d) => write!(f, "timed out after {} ms", d.as_millis()),
            FailReason::Dns(m) => write!(f, "DNS lookup failed: {m}"),
            FailReason::Tls(m) => write!(f, "TLS failed: {m}"),
            FailReason::HttpStatus(s) => write!(f, "HTTP status {s}"),
            FailReason::InvalidList(m) => write!(f, "bad response: {}", crate::printable(m)),
            FailReason::Io { message, .. } => f.write_str(message),
            FailReason::Callback(m) => write!(f, "probe callback said no: {m}"),
            FailReason::Reported(m) => write!(f, "reported by the agent: {m}"),
            FailReason::Deadline => f.write_str("overall deadline passed first"),
            FailReason::OutOfPatience { stage, patience } => {
                let ms = patience.as_millis();
                match stage {
                    Stage::Resolving => write!(f, "no DNS answer within {ms} ms; another server answered first"),
                    Stage::Connecting => write!(f, "still connecting after {ms} ms; another server answered first"),
                    Stage::Answering => {
                        write!(
                            f,
                            "connected, but no answer within {ms} ms; another server answered first"
                        )
                    }
                }
            }
        }
    }
}

impl FailReason {
    /// A short stable name of the reason, such as `refused` or `timed_out`.
    pub fn kind(&self) -> &'static str {
        match self {
            FailReason::Refused => "refused",
            FailReason::TimedOut(_) => "timed_out",
            FailReason::Dns(_) => "dns",
            FailReason::Tls(_) => "tls",
            FailReason::HttpStatus(_) => "http_status",
            FailReason::InvalidList(_) => "invalid_list",
            FailReason::Io { .. } => "io",
            FailReason::Callback(_) => "callback",
            FailReason::Reported(_) => "reported",
            FailReason::Deadline => "deadline",
            FailReason::OutOfPatience { .. } => "out_of_patience",
        }
    }
}

/// One failed attempt: the server and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The server tried.
    pub server: Server,
    /// Why it failed.
    pub reason: FailReason,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.server, self.reason)
    }
}

/// The message of an all-failed error: every attempt and its reason.
pub(crate) fn describe_failures(attempts: &[Attempt]) -> String {
    if attempts.is_empty() {
        return "no server could be reached: there was no server to try".into();
    }
    let list: Vec<String> = attempts.iter().map(Attempt::to_string).collect();
    format!(
        "no server could be reached ({} tried): {}",
        attempts.len(),
        list.join("; ")
    )
}

/// The winner of a run: the candidate that answered and what its probe learned.
#[derive(Debug)]
pub(crate) struct Won {
    pub server: Server,
    pub reached: Reached,
    pub failed: Vec<Attempt>,
}

/// A name lookup that takes part in the race at the top rank (the ManagerLoadBalancer entry).
pub(crate) struct Lookup {
    /// The entry, named as a server in events and failed attempts.
    pub server: Server,
    /// Runs the lookup on its own thread: the addresses, and the events to report on the caller's.
    pub run: Box<dyn FnOnce() -> (Vec<Server>, Vec<Event>) + Send>,
}

/// What the race saw of its lookup.
#[derive(Debug, Default)]
pub(crate) struct LookupSeen {
    /// Whether its answer came before the race was decided.
    pub answered: bool,
}

/// What one thread of the run tells the caller.
enum Message {
    Up(Id),
    Done(Id, Result<Reached, FailReason>),
    Lookup(Vec<Server>, Vec<Event>),
}

/// Run the race over `candidates` (after `lookup`, if any) with threads and the real clock.
pub(crate) fn run(
    candidates: Vec<Server>,
    lookup: Option<Lookup>,
    probe: &Arc<dyn Probe>,
    timing: Timing,
    emit: &mut dyn FnMut(Event),
) -> (Result<Won, Vec<Attempt>>, LookupSeen) {
    let (tx, rx) = mpsc::channel::<Message>();
    let start = Instant::now();
    let mut seen = LookupSeen::default();
    let (mut race, lookup_id, lookup_server) = match lookup {
        Some(lookup) => {
            let (race, id) = Race::with_lookup(candidates, timing);
            let tx = tx.clone();
            let spawned = thread::Builder::new().name("scoutlb-lookup".into()).spawn(move || {
                let (servers, events) = (lookup.run)();
                let _ = tx.send(Message::Lookup(servers, events));
            });
            if let Err(e) = spawned {
                log::warn!(target: "scoutlb", "cannot start the lookup thread: {e}");
            }
            (race, Some(id), Some(lookup.server))
        }
        None => (Race::new(candidates, timing), None, None),
    };
    let mut outcomes: HashMap<Id, FailReason> = HashMap::new();
    let mut reached: HashMap<Id, Reached> = HashMap::new();
    let mut order: Vec<Id> = Vec::new();
    let server_of = |race: &Race<Server>, id: Id| -> Server {
        race.candidate(id)
            .or(lookup_server.as_ref())
            .cloned()
            .expect("every id of the race is a candidate or the lookup")
    };
    loop {
        let now = start.elapsed();
        while let Some(action) = race.poll(now) {
            match action {
                Action::Start(id) => {
                    let server = server_of(&race, id);
                    order.push(id);
                    emit(Event::AttemptStarted { server: server.clone() });
                    let timeout = timing.timeout.min(timing.deadline.saturating_sub(now));
                    let (up_tx, done_tx, probe) = (tx.clone(), tx.clone(), Arc::clone(probe));
                    let up = TransportUp::new(move || {
                        let _ = up_tx.send(Message::Up(id));
                    });
                    let spawned = thread::Builder::new().name("scoutlb-attempt".into()).spawn(move || {
                        let outcome = probe.probe_signalling(&server, timeout, &up);
                        // The receiver is gone when the race was decided: the result is dropped.
                        let _ = done_tx.send(Message::Done(id, outcome));
                    });
                    if let Err(e) = spawned {
                        let reason = FailReason::Io {
                            kind: e.kind(),
                            message: format!("cannot start an attempt thread: {e}"),
                        };
                        race.failed(id, now);
                        emit(Event::AttemptFailed {
                            server: server_of(&race, id),
                            reason: reason.clone(),
                        });
                        outcomes.insert(id, reason);
                    }
                }
                Action::PatienceRanOut { id, stage } => {
                    let patience = match stage {
                        Stage::Resolving | Stage::Connecting => timing.attempt_delay,
                        Stage::Answering => timing.answer_delay,
                    };
                    emit(Event::PatienceRanOut {
                        server: server_of(&race, id),
                        stage,
                        patience,
                    });
                    outcomes.insert(id, FailReason::OutOfPatience { stage, patience });
                }
                Action::TimedOut(id) => {
                    let reason = FailReason::TimedOut(timing.timeout);
                    emit(Event::AttemptFailed {
                        server: server_of(&race, id),
                        reason: reason.clone(),
                    });
                    outcomes.insert(id, reason);
                }
                Action::Held { id, behind } => emit(Event::AttemptHeld {
                    server: server_of(&race, id),
                    preferred: server_of(&race, behind),
                }),
                Action::Won(id) => {
                    let server = server_of(&race, id);
                    emit(Event::AttemptSucceeded { server: server.clone() });
                    let failed = attempts(&race, &order, lookup_id, &mut outcomes, &server_of, false);
                    let reached = reached.remove(&id).unwrap_or_default();
                    return (
                        Ok(Won {
                            server,
                            reached,
                            failed,
                        }),
                        seen,
                    );
                }
                Action::AllFailed | Action::DeadlinePassed => {
                    let deadline = action == Action::DeadlinePassed;
                    let failed = attempts(&race, &order, lookup_id, &mut outcomes, &server_of, deadline);
                    return (Err(failed), seen);
                }
            }
        }
        let wake = race.next_wake().unwrap_or(now);
        let message = match rx.recv_timeout(wake.saturating_sub(now)) {
            Ok(message) => message,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("the sender `tx` is held by this loop"),
        };
        let now = start.elapsed();
        match message {
            Message::Up(id) => race.transport_up(id, now),
            Message::Done(id, Ok(answer)) => {
                if race.succeeded(id, now) {
                    reached.insert(id, answer);
                }
            }
            Message::Done(id, Err(reason)) => {
                if race.failed(id, now) {
                    emit(Event::AttemptFailed {
                        server: server_of(&race, id),
                        reason: reason.clone(),
                    });
                    outcomes.insert(id, reason);
                }
            }
            Message::Lookup(servers, events) => {
                let Some(id) = lookup_id else { continue };
                seen.answered = true;
                events.into_iter().for_each(&mut *emit);
                if servers.is_empty() {
                    race.failed(id, now);
                } else {
                    race.lookup_answered(id, now, servers);
                }
                outcomes.remove(&id);
            }
        }
    }
}

/// The attempts that did not win, in the order they started; with `deadline`, the candidates
/// never started are named too.
fn attempts(
    race: &Race<Server>,
    order: &[Id],
    lookup: Option<Id>,
    outcomes: &mut HashMap<Id, FailReason>,
    server_of: &dyn Fn(&Race<Server>, Id) -> Server,
    deadline: bool,
) -> Vec<Attempt> {
    let mut ids: Vec<Id> = lookup.into_iter().chain(order.iter().copied()).collect();
    if deadline {
        ids.extend(race.waiting());
    }
    ids.into_iter()
        .filter_map(|id| {
            let reason = match outcomes.remove(&id) {
                // Cut off by the deadline, whether or not its patience had run out.
                _ if deadline && (race.is_running(id) || race.is_waiting(id)) => FailReason::Deadline,
                Some(reason) => reason,
                None => return None,
            };
            Some(Attempt {
                server: server_of(race, id),
                reason,
            })
        })
        .collect()
}
