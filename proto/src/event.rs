//! Events reported to the embedding agent, and the sink that receives them.
//!
//! The driver logs every event with the `log` crate under the target `scoutlb` at the level its
//! [`Severity`] maps to (behaviour.md, "Surfaces"); this crate only names them.

use std::fmt;
use std::path::PathBuf;

use std::time::Duration;

use crate::attempt::FailReason;
use crate::race::Stage;
use crate::server::Server;

/// Something that happened inside a client, for the agent to log or act on.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// An attempt on a server began.
    AttemptStarted {
        /// The server tried.
        server: Server,
    },
    /// An attempt failed.
    AttemptFailed {
        /// The server tried.
        server: Server,
        /// Why.
        reason: FailReason,
    },
    /// An attempt succeeded and won the race: this server is the one in use.
    AttemptSucceeded {
        /// The server reached.
        server: Server,
    },
    /// An attempt answered, but is held: a more preferred server is still within its patience.
    AttemptHeld {
        /// The server that answered.
        server: Server,
        /// The more preferred server it waits for.
        preferred: Server,
    },
    /// An attempt (or the ManagerLoadBalancer lookup) ran out of patience: it goes on, and the
    /// next candidate starts beside it. Not a failure.
    PatienceRanOut {
        /// The server tried (the balancer entry for its lookup).
        server: Server,
        /// How far it got.
        stage: Stage,
        /// The patience it had at that stage (`attempt_delay` or `answer_delay`).
        patience: Duration,
    },
    /// A new server list was accepted and cached.
    ServerListUpdated {
        /// The server that sent it, when known.
        from: Option<Server>,
        /// The new list.
        servers: Vec<Server>,
    },
    /// A server list was refused; the cached list is kept.
    ServerListRejected {
        /// The server that sent it, when known.
        from: Option<Server>,
        /// Why it was refused.
        reason: String,
    },
    /// The keys adopted from signed lists changed (behaviour.md, "Signed lists", key rotation).
    ListKeysChanged {
        /// The keys adopted now, in base64.
        adopted: Vec<String>,
    },
    /// The default server changed.
    DefaultChanged {
        /// The previous default, if any.
        old: Option<Server>,
        /// The new default.
        new: Server,
    },
    /// The state file had a problem; the client carries on as described.
    StateFileProblem {
        /// The state file.
        path: PathBuf,
        /// What happened and what was done about it.
        message: String,
    },
    /// The ManagerLoadBalancer entry resolved to these addresses.
    BalancerResolved {
        /// The entry as configured.
        entry: String,
        /// Its addresses, in the order they are tried.
        servers: Vec<Server>,
    },
    /// The ManagerLoadBalancer entry did not resolve or none of its addresses connected; the failover order takes over.
    BalancerFailed {
        /// The entry as configured.
        entry: String,
        /// Why (NXDOMAIN, SERVFAIL, timed out, ...).
        reason: String,
    },
    /// DHCP option 222 named first-contact servers (behaviour.md, "First contact from DHCP").
    DhcpFirstContact {
        /// The lease (or hook) file it came from.
        lease: PathBuf,
        /// The servers it names, tried before `ScoutSrv`.
        servers: Vec<Server>,
        /// The destination OU it names, when one.
        ou: Option<String>,
    },
    /// A lease file could not be read, or part of its option 222 was not usable; the others are still read.
    DhcpLeaseProblem {
        /// The lease file.
        lease: PathBuf,
        /// What is wrong and what was done about it.
        message: String,
    },
    /// No lease carried option 222: first contact goes through `ScoutSrv`.
    DhcpFallback {
        /// Why (which leases were read and what they held).
        reason: String,
    },
    /// A server refused this device; the call ended without trying another server.
    DeviceRefused {
        /// The server that refused.
        server: Server,
        /// Its reason.
        reason: String,
    },
    /// A server asked this device to move to `to` at its next start-up; saved until then.
    RelocationPending {
        /// The server that asked.
        from: Option<Server>,
        /// Where the device belongs.
        to: Server,
    },
    /// The device moved where a server relocated it: `to` is its default server now.
    Relocated {
        /// The server it belongs on.
        to: Server,
    },
    /// A relocation was not followed (its target is not in the list, or did not win the race).
    RelocationFailed {
        /// The target, when one was named.
        to: Option<Server>,
        /// Why.
        reason: String,
    },
    /// A list showed a lighter server: the device plans to move there (behaviour.md, "Rebalance").
    RebalancePlanned {
        /// The server it is on.
        from: Server,
        /// The lighter server.
        to: Server,
        /// When, counted from the connect that planned it.
        after: Duration,
    },
    /// A planned move was made: `to` is the default server now.
    Rebalanced {
        /// The server it left.
        from: Server,
        /// The server it is on now.
        to: Server,
    },
    /// A planned move was not made (the target did not answer, or drains); nothing changed.
    RebalanceFailed {
        /// The target.
        to: Server,
        /// Why.
        reason: String,
    },
    /// This connect call's https attempts check no certificate (`tls_verify` `"none"`,
    /// behaviour.md, "TLS"): reported before the first attempt of every call.
    TlsUnverified,
}

/// How much an event matters, mapped onto `log` levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Routine detail.
    Debug,
    /// A notable change.
    Info,
    /// A problem the client worked around.
    Warning,
}

impl Event {
    /// How much the event matters.
    pub fn severity(&self) -> Severity {
        match self {
            Event::AttemptStarted { .. }
            | Event::ServerListUpdated { .. }
            | Event::BalancerResolved { .. }
            | Event::AttemptHeld { .. } => Severity::Debug,
            Event::DhcpFirstContact { .. } | Event::DhcpFallback { .. } => Severity::Info,
            Event::PatienceRanOut { .. } => Severity::Info,
            Event::AttemptSucceeded { .. } | Event::DefaultChanged { .. } | Event::ListKeysChanged { .. } => {
                Severity::Info
            }
            Event::AttemptFailed { .. }
            | Event::ServerListRejected { .. }
            | Event::StateFileProblem { .. }
            | Event::BalancerFailed { .. }
            | Event::DhcpLeaseProblem { .. }
            | Event::TlsUnverified
            | Event::DeviceRefused { .. }
            | Event::RelocationFailed { .. }
            | Event::RebalanceFailed { .. } => Severity::Warning,
            Event::RelocationPending { .. } | Event::Relocated { .. } => Severity::Info,
            Event::RebalancePlanned { .. } | Event::Rebalanced { .. } => Severity::Info,
        }
    }

    /// A short stable name of the kind of event, such as `attempt_failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::AttemptStarted { .. } => "attempt_started",
            Event::AttemptFailed { .. } => "attempt_failed",
            Event::AttemptSucceeded { .. } => "attempt_succeeded",
            Event::AttemptHeld { .. } => "attempt_held",
            Event::PatienceRanOut { .. } => "patience_ran_out",
            Event::ServerListUpdated { .. } => "server_list_updated",
            Event::ServerListRejected { .. } => "server_list_rejected",
            Event::DefaultChanged { .. } => "default_changed",
            Event::ListKeysChanged { .. } => "list_keys_changed",
            Event::StateFileProblem { .. } => "state_file_problem",
            Event::BalancerResolved { .. } => "balancer_resolved",
            Event::BalancerFailed { .. } => "balancer_failed",
            Event::DhcpFirstContact { .. } => "dhcp_first_contact",
            Event::DhcpLeaseProblem { .. } => "dhcp_lease_problem",
            Event::DhcpFallback { .. } => "dhcp_fallback",
            Event::TlsUnverified => "tls_unverified",
            Event::DeviceRefused { .. } => "device_refused",
            Event::RelocationPending { .. } => "relocation_pending",
            Event::Relocated { .. } => "relocated",
            Event::RelocationFailed { .. } => "relocation_failed",
            Event::RebalancePlanned { .. } => "rebalance_planned",
            Event::Rebalanced { .. } => "rebalanced",
            Event::RebalanceFailed { .. } => "rebalance_failed",
        }
    }

    /// The server the event is about, if one.
    pub fn server(&self) -> Option<&Server> {
        match self {
            Event::AttemptStarted { server }
            | Event::AttemptFailed { server, .. }
            | Event::AttemptSucceeded { server }
            | Event::AttemptHeld { server, .. }
            | Event::PatienceRanOut { server, .. }
            | Event::DeviceRefused { server, .. }
            | Event::RelocationPending { to: server, .. }
            | Event::Relocated { to: server }
            | Event::RebalancePlanned { to: server, .. }
            | Event::Rebalanced { to: server, .. }
            | Event::RebalanceFailed { to: server, .. } => Some(server),
            Event::RelocationFailed { to, .. } => to.as_ref(),
            Event::DefaultChanged { new, .. } => Some(new),
            Event::ServerListUpdated { from, .. } | Event::ServerListRejected { from, .. } => from.as_ref(),
            _ => None,
        }
    }
}

fn join(servers: &[Server]) -> String {
    servers.iter().map(Server::to_string).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::AttemptStarted { server } => write!(f, "trying {server}"),
            Event::AttemptFailed { server, reason } => write!(f, "{server} failed: {reason}"),
            Event::AttemptSucceeded { server } => write!(f, "connected to {server}"),
            Event::AttemptHeld { server, preferred } => {
                write!(
                    f,
                    "{server} answered; held while {preferred} is still within its patience"
                )
            }
            Event::PatienceRanOut {
                server,
                stage,
                patience,
            } => {
                let ms = patience.as_millis();
                match stage {
                    Stage::Resolving => write!(
                        f,
                        "no DNS answer for {server} within {ms} ms; trying the next server beside it"
                    ),
                    Stage::Connecting => write!(
                        f,
                        "{server} still connecting after {ms} ms; trying the next server beside it"
                    ),
                    Stage::Answering => write!(
                        f,
                        "{server} connected but has not answered within {ms} ms; trying the next server beside it"
                    ),
                }
            }
            Event::ServerListUpdated {
                from: Some(from),
                servers,
            } => {
                write!(f, "server list from {from}: {}", join(servers))
            }
            Event::ServerListUpdated { from: None, servers } => write!(f, "server list: {}", join(servers)),
            Event::ServerListRejected {
                from: Some(from),
                reason,
            } => {
                write!(f, "server list from {from} refused, cached list kept: {reason}")
            }
            Event::ServerListRejected { from: None, reason } => {
                write!(f, "server list refused, cached list kept: {reason}")
            }
            Event::ListKeysChanged { adopted } if adopted.is_empty() => {
                f.write_str("no list-signing key adopted now: only the configured list_keys are trusted")
            }
            Event::ListKeysChanged { adopted } => {
                write!(f, "list-signing keys adopted from the cluster: {}", adopted.join(", "))
            }
            Event::DefaultChanged { old: Some(old), new } => write!(f, "default server is now {new} (was {old})"),
            Event::DefaultChanged { old: None, new } => write!(f, "default server is now {new}"),
            Event::StateFileProblem { path, message } => write!(f, "state file {}: {message}", path.display()),
            Event::BalancerResolved { entry, servers } => {
                write!(f, "ManagerLoadBalancer {entry} resolved to {}", join(servers))
            }
            Event::BalancerFailed { entry, reason } => {
                write!(
                    f,
                    "ManagerLoadBalancer {entry} not usable, using the failover order: {reason}"
                )
            }
            Event::DhcpFirstContact { lease, servers, ou } => {
                write!(
                    f,
                    "DHCP option 222 in {}: first contact {}",
                    lease.display(),
                    join(servers)
                )?;
                match ou {
                    Some(ou) => write!(f, ", destination OU {}", crate::printable(ou)),
                    None => Ok(()),
                }
            }
            Event::DhcpLeaseProblem { lease, message } => {
                write!(f, "DHCP lease {}: {}", lease.display(), crate::printable(message))
            }
            Event::DhcpFallback { reason } => write!(f, "no DHCP option 222, first contact through ScoutSrv: {reason}"),
            Event::RelocationPending { from: Some(from), to } => {
                write!(
                    f,
                    "{from} relocates this device to {to}: tried first at the next start-up"
                )
            }
            Event::RelocationPending { from: None, to } => {
                write!(f, "this device is relocated to {to}: tried first at the next start-up")
            }
            Event::Relocated { to } => write!(f, "relocated: {to} is the default server now"),
            Event::RelocationFailed { to: Some(to), reason } => write!(f, "relocation to {to} not made: {reason}"),
            Event::RelocationFailed { to: None, reason } => write!(f, "relocation not followed: {reason}"),
            Event::RebalancePlanned { from, to, after } => write!(
                f,
                "rebalance: {to} is lighter than {from}; moving there in {} ms",
                after.as_millis()
            ),
            Event::Rebalanced { from, to } => {
                write!(f, "rebalanced: moved from {from} to {to}, the default server now")
            }
            Event::RebalanceFailed { to, reason } => write!(f, "rebalance to {to} not made: {reason}"),
            Event::DeviceRefused { server, reason } => {
                write!(
                    f,
                    "{server} refuses this device: {}; no other server is tried",
                    crate::printable(reason)
                )
            }
            Event::TlsUnverified => f.write_str(
                "TLS certificates are not checked (tls_verify \"none\"): anyone on the path can pose as a server",
            ),
        }
    }
}

/// Receives a client's events; called on the thread that made the call that caused the event.
pub trait EventSink: Send + Sync {
    /// Handle one event; must not call back into the same client.
    fn event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync> EventSink for F {
    fn event(&self, event: &Event) {
        self(event)
    }
}
