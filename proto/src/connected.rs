//! The outcome of a successful connect.

use std::time::Duration;

use crate::attempt::Attempt;
use crate::server::Server;

/// The outcome of a successful connect.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Connected {
    /// The server now in use, persisted as the default (the real server behind a balancer when
    /// the server named itself with `self`) unless the default drains (behaviour.md, "Servers
    /// that steer devices").
    pub server: Server,
    /// The address that answered the probe.
    pub reached: Server,
    /// Whether the address came from the ManagerLoadBalancer entry.
    pub via_balancer: bool,
    /// The attempts that did not win: those that failed, and those still running after their
    /// patience ran out ([`crate::FailReason::OutOfPatience`]).
    pub failed: Vec<Attempt>,
    /// Whether the new state reached the state file (also true when nothing had to be saved or
    /// there is no state file). A failed save does not undo the connection.
    pub saved: bool,
    /// Why the save failed, when `saved` is false (also reported as a `StateFileProblem` event).
    pub save_error: Option<String>,
    /// Why the state file was not used when the client was created (it could not be parsed and
    /// was moved aside); `None` when it was used or absent (behaviour.md, "State file").
    pub state_dropped: Option<String>,
    /// Why a server list that came in this call was refused (the first one), when one was
    /// (behaviour.md, "Signed lists"); the saved list was kept.
    pub list_problem: Option<String>,
    /// The move to a lighter server this connect planned, when `rebalance` is enabled and the
    /// list showed one (behaviour.md, "Rebalance"); carry it out with the client's `rebalance`
    /// once `after` has passed.
    pub rebalance: Option<Plan>,
}

impl Connected {
    /// The outcome of a connect that reached `reached`, now using `server`; saved until the
    /// driver says otherwise.
    pub fn new(server: Server, reached: Server, via_balancer: bool, failed: Vec<Attempt>) -> Self {
        Connected {
            server,
            reached,
            via_balancer,
            failed,
            saved: true,
            save_error: None,
            state_dropped: None,
            list_problem: None,
            rebalance: None,
        }
    }
}

/// A planned move: to which server, and how long after the connect that planned it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Plan {
    /// The server the device is on now (its default).
    pub from: Server,
    /// The lighter server it moves to.
    pub to: Server,
    /// When, counted from the connect that planned it.
    pub after: Duration,
    /// The window the moment was drawn in (at least `rebalance.window_ms`).
    pub window: Duration,
}
