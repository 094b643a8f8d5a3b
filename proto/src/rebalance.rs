//! The opt-in rebalance (behaviour.md, "Rebalance"): when a list shows a server lighter than the
//! device's own, whether this device moves, where to, and when; pure, the uniform draws passed in.
//!
//! With a `load` on every entry, each server's fair share of the devices is its weight's part of
//! the total load. The own server's excess is what it serves beyond its share; each of its devices
//! moves with probability excess / load, so the expected number of movers is the excess, to a
//! lighter server chosen in proportion to its deficit. The moment is uniform in a window of at
//! least `rebalance.window_ms`, long enough that the expected arrivals at any server (its deficit)
//! come at no more than [`PLANNED_SHARE_OF_RATE`] of `rebalance.rate` per second. Without loads,
//! a device with a `device_id` moves when it is not on the top server of its (weighted)
//! rendezvous ranking, within the window.

use std::time::Duration;

pub use crate::config::RebalancePolicy;
pub use crate::connected::Plan;
use crate::order::spread_weight;
use crate::server::Server;
use crate::server_list::{ServerEntry, ServerList};

/// The part of `rebalance.rate` the moves into one server are planned at, on average: the
/// headroom keeps the busiest seconds of random moments under the cap (behaviour.md, "Rebalance").
pub const PLANNED_SHARE_OF_RATE: f64 = 0.75;

/// The longest window of a move, whatever loads a list claims (behaviour.md, "Rebalance").
pub const MAX_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// The window of a move when `arrivals` devices are expected at the busiest receiving server:
/// `window_ms`, or longer so that they come at [`PLANNED_SHARE_OF_RATE`] of `rate` per second,
/// but at most [`MAX_WINDOW`].
pub fn window(policy: &RebalancePolicy, arrivals: f64) -> Duration {
    let rate = f64::from(policy.rate.max(1)) * PLANNED_SHARE_OF_RATE;
    let stretched = Duration::try_from_secs_f64(arrivals.max(0.0) / rate).unwrap_or(MAX_WINDOW);
    policy.window.max(stretched.min(MAX_WINDOW))
}

/// The two uniform draws in [0, 1) a rebalance decision takes: whether this device moves (and
/// where), and when.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Draws {
    /// Decides whether the device moves, and to which lighter server.
    pub pick: f64,
    /// Decides the moment within the window.
    pub when: f64,
}

/// Why a device does not move; for logs and vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stay {
    /// The own server is not in the list.
    NotListed,
    /// The own server is not above its share (by load), or is the top of the ranking (by spread).
    Balanced,
    /// This device's draw kept it where it is (others of its server move).
    NotDrawn,
    /// Neither loads on every entry nor a `device_id`: nothing says which server is lighter.
    NoHint,
    /// Every entry of the list is marked draining: there is nowhere to go.
    AllDraining,
}

impl Stay {
    /// The reason as a short name.
    pub fn name(self) -> &'static str {
        match self {
            Stay::NotListed => "not_listed",
            Stay::Balanced => "balanced",
            Stay::NotDrawn => "not_drawn",
            Stay::NoHint => "no_hint",
            Stay::AllDraining => "all_draining",
        }
    }
}

/// Whether the device on `own` moves, given `list` (with its load hints), for `draws`
/// (behaviour.md, "Rebalance").
pub fn plan(
    list: &ServerList,
    own: &Server,
    device_id: Option<&str>,
    policy: &RebalancePolicy,
    draws: Draws,
) -> Result<Plan, Stay> {
    let Draws { pick, when } = draws;
    let entries = list.entries();
    let Some(own_index) = entries.iter().position(|e| &e.server == own) else {
        return Err(Stay::NotListed);
    };
    if entries.iter().all(|e| e.draining) {
        return Err(Stay::AllDraining);
    }
    let pick = pick.clamp(0.0, 1.0);
    let (to, arrivals) = if list.has_loads() {
        by_load(entries, own_index, pick)?
    } else {
        let device_id = device_id.ok_or(Stay::NoHint)?;
        let top = spread_top(device_id, entries);
        if top == own_index {
            return Err(Stay::Balanced);
        }
        (top, 0.0)
    };
    let window = window(policy, arrivals);
    let when = when.clamp(0.0, 1.0);
    Ok(Plan {
        from: own.clone(),
        to: entries[to].server.clone(),
        after: window.mul_f64(when),
        window,
    })
}

/// By load: the target's index and the largest deficit (the expected arrivals at one server).
/// Draining entries have no share and are never a target; a device on a draining server counts
/// itself in its load (at least 1), so it always finds a deficit to go to.
fn by_load(entries: &[ServerEntry], own: usize, pick: f64) -> Result<(usize, f64), Stay> {
    let load = |i: usize| {
        let l = entries[i].load.unwrap_or(0) as f64;
        if i == own && entries[i].draining { l.max(1.0) } else { l }
    };
    let weight = |e: &ServerEntry| {
        if e.draining {
            0.0
        } else {
            f64::from(e.weight_or_default())
        }
    };
    let total_weight: f64 = entries.iter().map(weight).sum();
    let total_load: f64 = (0..entries.len()).map(load).sum();
    let share = |e: &ServerEntry| total_load * weight(e) / total_weight;
    let own_load = load(own);
    let excess = own_load - share(&entries[own]);
    if own_load <= 0.0 || excess <= 0.0 {
        return Err(Stay::Balanced);
    }
    let deficits: Vec<(usize, f64)> = entries
        .iter()
        .enumerate()
        .filter(|(i, e)| *i != own && !e.draining)
        .map(|(i, e)| (i, share(e) - load(i)))
        .filter(|(_, d)| *d > 0.0)
        .collect();
    let total_deficit: f64 = deficits.iter().map(|(_, d)| d).sum();
    let p = excess / own_load;
    if deficits.is_empty() || pick >= p {
        return Err(Stay::NotDrawn);
    }
    // The draw below p, stretched over [0, 1), picks the target in proportion to its deficit.
    let mut left = pick / p * total_deficit;
    let mut to = deficits[deficits.len() - 1].0;
    for (i, d) in &deficits {
        if left < *d {
            to = *i;
            break;
        }
        left -= d;
    }
    let largest = deficits.iter().map(|(_, d)| *d).fold(0.0, f64::max);
    Ok((to, largest))
}

/// The index of the top server that does not drain in the device's rendezvous ranking, weighted
/// by the entries' `weight` (the failover order's "spread" ranking when no entry has one).
fn spread_top(device_id: &str, entries: &[ServerEntry]) -> usize {
    let hashes: Vec<u64> = entries.iter().map(|e| spread_weight(device_id, &e.server)).collect();
    let key = |i: usize| -> (f64, u64) {
        if entries.iter().all(|e| e.weight.is_none()) {
            return (0.0, hashes[i]);
        }
        // Weighted rendezvous: w / -ln(u), u the hash in (0, 1).
        let u = (hashes[i] as f64 + 1.0) / (u64::MAX as f64 + 2.0);
        (f64::from(entries[i].weight_or_default()) / -u.ln(), hashes[i])
    };
    (0..entries.len())
        .filter(|&i| !entries[i].draining)
        .max_by(|&a, &b| {
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| entries[b].server.to_string().cmp(&entries[a].server.to_string()))
        })
        .unwrap_or(0)
}
