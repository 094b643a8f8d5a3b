//! The ManagerLoadBalancer entry: an address or an SRV name to try before the failover order.

use std::fmt;

use crate::attempt::Attempt;
use crate::connected::Connected;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::server::Server;

/// The preferred manager address, evaluated afresh on every restart.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManagerLoadBalancer {
    /// An IP literal, or a host name (DNS entry or dedicated load balancer), with its port.
    Address(Server),
    /// A DNS SRV name such as `_scout._tcp.corp`, looked up with RFC 2782 priority and weight.
    Srv(String),
}

impl ManagerLoadBalancer {
    /// Parse `10.0.0.5`, `lb.corp`, `lb.corp:8443`, `[fd00::5]:8443` or `srv:_scout._tcp.corp`.
    pub fn parse(input: &str, default_port: u16) -> Result<Self> {
        let bad = |reason: String| Error::config("manager_load_balancer", format!("`{input}` is not valid: {reason}"));
        // `srv:8443` is the host `srv` with a port (as the entry prints), not an SRV name.
        if let Some(name) = input.strip_prefix("srv:")
            && (name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()))
        {
            // An SRV name is a host name whose first two labels start with `_`.
            let server = Server::new(name, 1).map_err(|e| bad(e.to_string()))?;
            let labels: Vec<&str> = server.host().split('.').collect();
            if labels.len() < 3 || !labels[0].starts_with('_') || !labels[1].starts_with('_') {
                return Err(bad("an SRV name has the form `srv:_service._proto.domain`".into()));
            }
            return Ok(ManagerLoadBalancer::Srv(server.host().to_string()));
        }
        Server::parse(input, default_port)
            .map(ManagerLoadBalancer::Address)
            .map_err(|e| bad(e.to_string()))
    }
}

impl ManagerLoadBalancer {
    /// The name to look up: the host of an address, or the SRV name.
    pub fn name(&self) -> &str {
        match self {
            ManagerLoadBalancer::Address(s) => s.host(),
            ManagerLoadBalancer::Srv(name) => name,
        }
    }
}

impl ManagerLoadBalancer {
    /// The name the certificates of the entry's addresses must hold at `tls_verify` `"full"`
    /// (behaviour.md, "TLS"): a host name itself, an SRV name's domain; `None` for an IP literal,
    /// whose address is its own name.
    pub fn tls_name(&self) -> Option<&str> {
        match self {
            ManagerLoadBalancer::Address(s) if s.ip().is_some() => None,
            ManagerLoadBalancer::Address(s) => Some(s.host()),
            // Parsed as `_service._proto.domain`: the domain follows the second label.
            ManagerLoadBalancer::Srv(name) => name.splitn(3, '.').nth(2),
        }
    }
}

impl fmt::Display for ManagerLoadBalancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManagerLoadBalancer::Address(s) => s.fmt(f),
            ManagerLoadBalancer::Srv(name) => write!(f, "srv:{name}"),
        }
    }
}

/// The entry as evaluated at one client's start-up: done once per client, so once per restart.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The addresses to try first, in order; empty when the entry did not resolve.
    pub servers: Vec<Server>,
    /// The failed lookup, as an attempt to name in the outcome of the connect.
    pub failure: Option<Attempt>,
}

/// The entry named as a server, for events and attempts: its address, or the SRV name with the
/// default port.
pub fn as_server(entry: &ManagerLoadBalancer, default_port: u16) -> Server {
    match entry {
        ManagerLoadBalancer::Address(server) => server.clone(),
        // An SRV name was checked to be a valid host name when the entry was parsed.
        ManagerLoadBalancer::Srv(name) => Server::new(name, default_port).unwrap_or_else(|_| {
            unreachable!("the SRV name `{name}` was validated as a host name by ManagerLoadBalancer::parse")
        }),
    }
}

/// Finish a start-up connect: report when the balancer's addresses were not the ones used, and
/// name its failed lookup first among the failed attempts.
pub fn settle(
    entry: &ManagerLoadBalancer,
    evaluation: &Evaluation,
    result: Result<Connected>,
    emit: &mut dyn FnMut(Event),
) -> Result<Connected> {
    let failed = match &result {
        Ok(connected) if connected.via_balancer => None,
        Ok(connected) => Some(connected.failed.as_slice()),
        Err(Error::AllFailed(attempts)) => Some(attempts.as_slice()),
        Err(_) => None,
    };
    if let Some(failed) = failed
        && !evaluation.servers.is_empty()
    {
        let outcomes: Vec<String> = evaluation
            .servers
            .iter()
            .map(|s| match failed.iter().find(|a| &a.server == s) {
                Some(a) => a.to_string(),
                None => format!("{s}: abandoned, another server answered first"),
            })
            .collect();
        emit(Event::BalancerFailed {
            entry: entry.to_string(),
            reason: format!("none of its addresses connected ({})", outcomes.join("; ")),
        });
    }
    let Some(dns_failure) = evaluation.failure.clone() else {
        return result;
    };
    match result {
        Ok(mut connected) => {
            connected.failed.insert(0, dns_failure);
            Ok(connected)
        }
        Err(Error::AllFailed(mut attempts)) => {
            attempts.insert(0, dns_failure);
            Err(Error::AllFailed(attempts))
        }
        Err(other) => Err(other),
    }
}
