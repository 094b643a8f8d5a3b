//! Staggered attempts (SPEC §2): start the next candidate when the current one is slow, first success wins.
//!
//! Each attempt runs on its own short-lived thread, bounded by the per-attempt timeout. When an
//! attempt succeeds the call returns at once; the attempts still running are abandoned: their
//! results are dropped unread and never reported, and their threads end within their own timeout.

use std::fmt;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::probe::{Probe, Reached};
use crate::server::Server;

/// Why one attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailReason {
    /// The connection was refused.
    Refused,
    /// No answer within the time limit.
    TimedOut(Duration),
    /// The host name did not resolve.
    Dns(String),
    /// The TLS handshake or certificate check failed.
    Tls(String),
    /// The server answered with an HTTP status other than 200.
    HttpStatus(u16),
    /// The server's answer was not a valid server list.
    InvalidList(String),
    /// Another network or operating-system error.
    Io(String),
    /// The agent's callback probe said no, with its message.
    Callback(String),
    /// The agent reported the failure itself.
    Reported(String),
    /// The call's overall deadline passed before this candidate was tried or answered.
    Deadline,
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailReason::Refused => f.write_str("connection refused"),
            FailReason::TimedOut(d) => write!(f, "timed out after {} ms", d.as_millis()),
            FailReason::Dns(m) => write!(f, "DNS lookup failed: {m}"),
            FailReason::Tls(m) => write!(f, "TLS failed: {m}"),
            FailReason::HttpStatus(s) => write!(f, "HTTP status {s}"),
            FailReason::InvalidList(m) => write!(f, "bad response: {m}"),
            FailReason::Io(m) => write!(f, "{m}"),
            FailReason::Callback(m) => write!(f, "probe callback said no: {m}"),
            FailReason::Reported(m) => write!(f, "reported by the agent: {m}"),
            FailReason::Deadline => f.write_str("overall deadline passed first"),
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
            FailReason::Io(_) => "io",
            FailReason::Callback(_) => "callback",
            FailReason::Reported(_) => "reported",
            FailReason::Deadline => "deadline",
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

/// The time limits of one connect call.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Limit of one attempt.
    pub timeout: Duration,
    /// Delay after which the next candidate starts in parallel; zero = sequential.
    pub delay: Duration,
    /// Limit of the whole call.
    pub deadline: Duration,
}

/// The winner of a run: the candidate that answered and what its probe learned.
#[derive(Debug)]
pub(crate) struct Won {
    pub server: Server,
    pub reached: Reached,
    pub failed: Vec<Attempt>,
}

/// Try `candidates` in order with staggered starts; the first success wins.
pub(crate) fn run(
    candidates: &[Server],
    probe: &Arc<dyn Probe>,
    schedule: Schedule,
    emit: &mut dyn FnMut(Event),
) -> Result<Won, Vec<Attempt>> {
    type Outcome = (usize, Result<Reached, FailReason>);
    let (tx, rx) = mpsc::channel::<Outcome>();
    let start = Instant::now();
    let deadline = start + schedule.deadline;
    let mut outcomes: Vec<Option<FailReason>> = vec![None; candidates.len()];
    let mut next = 0;
    let mut in_flight = 0usize;
    let mut last_start = start;
    let failed = |outcomes: Vec<Option<FailReason>>, upto: usize| -> Vec<Attempt> {
        outcomes
            .into_iter()
            .zip(candidates)
            .take(upto.max(1).min(candidates.len()))
            .map(|(r, s)| Attempt {
                server: s.clone(),
                reason: r.unwrap_or(FailReason::Deadline),
            })
            .collect()
    };
    loop {
        let now = Instant::now();
        let stagger_due = !schedule.delay.is_zero() && now >= last_start + schedule.delay;
        if next < candidates.len() && now < deadline && (in_flight == 0 || stagger_due) {
            let server = candidates[next].clone();
            emit(Event::AttemptStarted { server: server.clone() });
            let timeout = schedule.timeout.min(deadline - now);
            let (tx, probe, index) = (tx.clone(), Arc::clone(probe), next);
            let spawned = thread::Builder::new().name("scoutlb-attempt".into()).spawn(move || {
                let outcome = probe.probe(&server, timeout);
                // The receiver is gone when another attempt won: the result is dropped.
                let _ = tx.send((index, outcome));
            });
            match spawned {
                Ok(_) => in_flight += 1,
                Err(e) => {
                    let reason = FailReason::Io(format!("cannot start an attempt thread: {e}"));
                    emit(Event::AttemptFailed {
                        server: candidates[next].clone(),
                        reason: reason.clone(),
                    });
                    outcomes[next] = Some(reason);
                }
            }
            next += 1;
            last_start = now;
            continue;
        }
        if in_flight == 0 {
            // Nothing running and nothing left to start (or the deadline passed).
            let tried = if now >= deadline { candidates.len() } else { next };
            return Err(failed(outcomes, tried));
        }
        let wake = if next < candidates.len() && !schedule.delay.is_zero() {
            (last_start + schedule.delay).min(deadline)
        } else {
            deadline
        };
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok((i, Ok(reached))) => {
                let server = candidates[i].clone();
                emit(Event::AttemptSucceeded { server: server.clone() });
                let tried: Vec<Attempt> = failed(outcomes, next)
                    .into_iter()
                    .filter(|a| a.reason != FailReason::Deadline)
                    .collect();
                return Ok(Won {
                    server,
                    reached,
                    failed: tried,
                });
            }
            Ok((i, Err(reason))) => {
                in_flight -= 1;
                emit(Event::AttemptFailed {
                    server: candidates[i].clone(),
                    reason: reason.clone(),
                });
                outcomes[i] = Some(reason);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if Instant::now() >= deadline {
                    return Err(failed(outcomes, candidates.len()));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("the sender `tx` is held by this loop"),
        }
    }
}
