//! Name resolution of the ManagerLoadBalancer entry.
//!
//! Evaluated afresh for every client: nothing resolved by one client is reused by the next.

use std::net::ToSocketAddrs;

use crate::balancer::ManagerLoadBalancer;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::server::Server;

/// Resolve the balancer entry into the addresses to try first, in order.
pub fn resolve_balancer(entry: &ManagerLoadBalancer, _config: &Config) -> Result<Vec<Server>> {
    match entry {
        ManagerLoadBalancer::Address(server) if server.ip().is_some() => Ok(vec![server.clone()]),
        ManagerLoadBalancer::Address(server) => {
            let addrs = (server.host(), server.port())
                .to_socket_addrs()
                .map_err(|e| Error::Dns {
                    name: server.host().to_string(),
                    reason: e.to_string(),
                })?;
            let mut out: Vec<Server> = Vec::new();
            for a in addrs.map(Server::from) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
            Ok(out)
        }
        ManagerLoadBalancer::Srv(name) => Err(Error::Dns {
            name: name.clone(),
            reason: "SRV lookups are not available yet".into(),
        }),
    }
}
