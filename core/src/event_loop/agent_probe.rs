//! Attempts of the `callback` probe in the event-loop driver: the call hands each one to the
//! agent, whose own probe runs it on the agent's loop and reports back (behaviour.md, "Event
//! loops"). Which attempts the agent runs, which sockets they wait on, and which the call gave up.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use scoutlb_proto::race::Id;

use super::Watch;
use crate::Server;

/// An attempt the call asks the agent's own probe to run (probe `callback`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeRequest {
    /// The attempt's number in this call, for the reports on it.
    pub attempt: u64,
    /// The server to try.
    pub server: Server,
    /// How long the attempt may take.
    pub timeout: Duration,
}

/// One attempt the agent runs.
struct Running {
    id: Id,
    until: Instant,
    watch: Option<Watch>,
}

/// The agent-run attempts of one call.
#[derive(Default)]
pub(crate) struct AgentProbes {
    /// Started, not yet taken by the agent.
    requests: VecDeque<ProbeRequest>,
    running: Vec<Running>,
    /// Given up by the call (past their time, or the call was decided), not yet told to the agent.
    abandoned: VecDeque<u64>,
}

impl AgentProbes {
    /// Hand attempt `id` on `server` to the agent.
    pub(crate) fn start(&mut self, id: Id, server: Server, timeout: Duration, now: Instant) {
        self.requests.push_back(ProbeRequest {
            attempt: id as u64,
            server,
            timeout,
        });
        self.running.push(Running {
            id,
            until: now + timeout,
            watch: None,
        });
    }

    /// The next attempt for the agent to run, once.
    pub(crate) fn next_request(&mut self) -> Option<ProbeRequest> {
        self.requests.pop_front()
    }

    /// The next attempt the call gave up, once: the agent stops its probe.
    pub(crate) fn next_abandoned(&mut self) -> Option<u64> {
        self.abandoned.pop_front()
    }

    /// The race's id of a running attempt numbered `attempt`, if the call still waits for it.
    pub(crate) fn id_of(&self, attempt: u64) -> Option<Id> {
        self.running.iter().find(|r| r.id as u64 == attempt).map(|r| r.id)
    }

    /// Set (or with `None` clear) the socket attempt `attempt` waits on.
    pub(crate) fn set_watch(&mut self, attempt: u64, watch: Option<Watch>) -> bool {
        match self.running.iter_mut().find(|r| r.id as u64 == attempt) {
            Some(r) => {
                r.watch = watch;
                true
            }
            None => false,
        }
    }

    /// Attempt `id` reported its end: the call waits for it no more.
    pub(crate) fn ended(&mut self, id: Id) {
        self.running.retain(|r| r.id != id);
        self.requests.retain(|r| r.attempt != id as u64);
    }

    /// Give up the attempts past their time (the race counts them as timed out by itself).
    pub(crate) fn expire(&mut self, now: Instant) {
        // The built-in probes' calls have none: nothing to sort, at every drive.
        if self.running.is_empty() {
            return;
        }
        let (gone, kept): (Vec<_>, Vec<_>) = self.running.drain(..).partition(|r| now >= r.until);
        self.running = kept;
        self.give_up(gone);
    }

    /// Give up every attempt: the call is decided.
    pub(crate) fn abandon_all(&mut self) {
        let gone = std::mem::take(&mut self.running);
        self.give_up(gone);
    }

    fn give_up(&mut self, gone: Vec<Running>) {
        for r in gone {
            let attempt = r.id as u64;
            // One the agent never took is simply dropped.
            let before = self.requests.len();
            self.requests.retain(|q| q.attempt != attempt);
            if self.requests.len() == before {
                self.abandoned.push_back(attempt);
            }
        }
    }

    /// The sockets the agent's attempts wait on.
    pub(crate) fn watches(&self) -> impl Iterator<Item = Watch> + '_ {
        self.running.iter().filter_map(|r| r.watch)
    }

    /// When the first running attempt runs out of time.
    pub(crate) fn next_until(&self) -> Option<Instant> {
        self.running.iter().map(|r| r.until).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Server {
        Server::new("127.0.0.1", 1).unwrap()
    }

    #[test]
    fn a_request_is_taken_once_and_its_end_forgets_it() {
        let now = Instant::now();
        let mut p = AgentProbes::default();
        p.start(3, server(), Duration::from_secs(1), now);
        assert_eq!(p.next_request().map(|r| r.attempt), Some(3));
        assert_eq!(p.next_request(), None);
        assert_eq!(p.id_of(3), Some(3));
        p.ended(3);
        assert_eq!(p.id_of(3), None);
        p.abandon_all();
        assert_eq!(p.next_abandoned(), None);
    }

    #[test]
    fn expired_and_decided_attempts_are_abandoned_unless_never_taken() {
        let now = Instant::now();
        let mut p = AgentProbes::default();
        p.start(0, server(), Duration::from_millis(10), now);
        p.start(1, server(), Duration::from_secs(10), now);
        p.start(2, server(), Duration::from_secs(10), now);
        p.next_request();
        p.next_request();
        p.expire(now + Duration::from_millis(20));
        assert_eq!(p.next_abandoned(), Some(0));
        assert_eq!(p.next_until(), Some(now + Duration::from_secs(10)));
        p.abandon_all();
        // 2 was never taken: dropped without a word.
        assert_eq!(p.next_abandoned(), Some(1));
        assert_eq!(p.next_abandoned(), None);
        assert_eq!(p.next_request(), None);
    }

    #[test]
    fn watches_are_those_set_on_running_attempts() {
        let now = Instant::now();
        let mut p = AgentProbes::default();
        p.start(5, server(), Duration::from_secs(1), now);
        let w = Watch {
            fd: 7,
            interest: super::super::Interest::Read,
        };
        assert!(p.set_watch(5, Some(w)));
        assert!(!p.set_watch(6, Some(w)));
        assert_eq!(p.watches().collect::<Vec<_>>(), vec![w]);
        p.ended(5);
        assert_eq!(p.watches().count(), 0);
    }
}
