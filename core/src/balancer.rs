//! The ManagerLoadBalancer entry: an address or an SRV name to try before the failover order.

use std::fmt;

use crate::error::{Error, Result};
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
        if let Some(name) = input.strip_prefix("srv:") {
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

impl fmt::Display for ManagerLoadBalancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManagerLoadBalancer::Address(s) => s.fmt(f),
            ManagerLoadBalancer::Srv(name) => write!(f, "srv:{name}"),
        }
    }
}
