//! Names in the event-loop driver: IP literals as they are, host names from the hosts file
//! (read with hickory's parser), and the ManagerLoadBalancer's evaluation.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use hickory_resolver::Hosts;
use hickory_resolver::proto::op::Query;
use hickory_resolver::proto::rr::{Name, RecordType};

use super::LoopProbe;
use crate::fork_lock::ForkLock;
use crate::lookup::{evaluation_of, keep};
use crate::{
    Config, Device, DnsFailure, DnsFailureKind, Error, Evaluation, Event, FailReason, ManagerLoadBalancer, Server,
};

/// How the driver resolves names.
pub(crate) struct Settings {
    /// The system's hosts file, read when the client's first event-loop call started.
    hosts: Hosts,
    config: Config,
}

impl Settings {
    /// The settings of `config`.
    pub(crate) fn of(config: &Config) -> Self {
        Settings {
            hosts: Hosts::from_system().unwrap_or_default(),
            config: config.clone(),
        }
    }

    /// The addresses of `host` in the hosts file, IPv4 first.
    fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, DnsFailure> {
        let name = Name::from_str(host).map_err(|e| DnsFailure::new(DnsFailureKind::Other, e.to_string()))?;
        let mut ips = Vec::new();
        for kind in [RecordType::A, RecordType::AAAA] {
            if let Some(found) = self.hosts.lookup_static_host(&Query::query(name.clone(), kind)) {
                ips.extend(found.answers().iter().filter_map(|r| r.data.ip_addr()));
            }
        }
        if ips.is_empty() {
            return Err(DnsFailure::new(
                DnsFailureKind::NoRecords,
                format!("`{host}` is not in the hosts file, and the event-loop driver does not ask DNS"),
            ));
        }
        Ok(ips)
    }
}

/// The socket addresses of `server`.
pub(crate) fn addresses(server: &Server, settings: &Settings) -> Result<Vec<SocketAddr>, FailReason> {
    let ips = match server.ip() {
        Some(ip) => vec![ip],
        None => settings.lookup(server.host()).map_err(FailReason::Dns)?,
    };
    Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, server.port())).collect())
}

/// Evaluate the ManagerLoadBalancer entry of a start-up, keep it for this client, and report it.
pub(crate) fn evaluate_balancer(
    entry: &ManagerLoadBalancer,
    probe: &LoopProbe,
    device: &ForkLock<Device>,
) -> (Evaluation, Vec<Event>) {
    let settings = &probe.lookup;
    let outcome = match entry {
        ManagerLoadBalancer::Address(server) => match server.ip() {
            Some(_) => Ok(vec![server.clone()]),
            None => settings
                .lookup(server.host())
                .map(|ips| {
                    ips.into_iter()
                        .map(|ip| Server::from(SocketAddr::new(ip, server.port())))
                        .collect()
                })
                .map_err(|failure| Error::Dns {
                    name: entry.to_string(),
                    failure,
                }),
        },
        srv => Err(Error::Dns {
            name: entry.to_string(),
            failure: DnsFailure::new(
                DnsFailureKind::Other,
                format!("SRV name `{}`: the event-loop driver does not ask DNS", srv.name()),
            ),
        }),
    };
    let mut events = Vec::new();
    let evaluation = evaluation_of(entry, &settings.config, outcome, &mut |e| events.push(e));
    (keep(evaluation, &probe.names, device), events)
}
