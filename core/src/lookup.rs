//! Evaluating the ManagerLoadBalancer entry at a start-up: its DNS lookup (behaviour.md, "Start-up").

use crate::Attempt;
use crate::dns;
use crate::{Config, DnsFailure, DnsFailureKind, Error, Evaluation, Event, FailReason, ManagerLoadBalancer, balancer};

/// Resolve `entry` afresh and report the outcome (`BalancerResolved` or `BalancerFailed`).
pub(crate) fn evaluate(
    entry: &ManagerLoadBalancer,
    config: &Config,
    seed: u64,
    emit: &mut dyn FnMut(Event),
) -> Evaluation {
    evaluation_of(entry, config, dns::resolve_balancer_with(entry, config, seed), emit)
}

/// Keep `evaluation` for this restart: the device's, and the TLS names of the balancer's
/// addresses (behaviour.md, "TLS"); the evaluation kept (the first one, when two raced).
pub(crate) fn keep(
    evaluation: Evaluation,
    names: &crate::https::BalancerNames,
    device: &crate::fork_lock::ForkLock<crate::Device>,
) -> Evaluation {
    names.resolved(&evaluation.servers);
    device.lock().balancer_evaluated(evaluation).clone()
}

/// The evaluation of `entry` from the `outcome` of its lookup, reported as [`evaluate`] does.
pub(crate) fn evaluation_of(
    entry: &ManagerLoadBalancer,
    config: &Config,
    outcome: Result<Vec<crate::Server>, Error>,
    emit: &mut dyn FnMut(Event),
) -> Evaluation {
    match outcome {
        Ok(servers) if !servers.is_empty() => {
            emit(Event::BalancerResolved {
                entry: entry.to_string(),
                servers: servers.clone(),
            });
            Evaluation { servers, failure: None }
        }
        outcome => {
            let failure = match outcome {
                Err(Error::Dns { failure, .. }) => failure,
                Err(other) => DnsFailure::new(DnsFailureKind::Other, other.to_string()),
                Ok(_) => DnsFailure::new(DnsFailureKind::NoRecords, "the name has no address"),
            };
            emit(Event::BalancerFailed {
                entry: entry.to_string(),
                reason: format!("DNS lookup failed: {failure}"),
            });
            Evaluation {
                servers: Vec::new(),
                failure: Some(Attempt {
                    server: balancer::as_server(entry, config.default_port),
                    reason: FailReason::Dns(failure.context(format_args!("ManagerLoadBalancer `{entry}`"))),
                }),
            }
        }
    }
}
