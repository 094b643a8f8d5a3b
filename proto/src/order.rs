//! The failover order (behaviour.md, "Failover order"): which servers to try, in which order.
//!
//! `list` mode: starting at the default server's place in the list and wrapping around.
//! `spread` mode: the default server first, then the list ranked by rendezvous hashing
//! (highest random weight) on the device id. In both, the seeds come after at most
//! [`SEEDS_AFTER`] other servers, however long the list.
//!
//! The spread weight of a server for a device is `xxh3_64(device_id ++ [0u8] ++ server)`, where
//! `server` is the server's canonical text (`host:port`, `[v6]:port`, host names lower case) and
//! XXH3 is the 64-bit XXH3 of the xxHash specification with seed 0. Servers are ranked by weight,
//! highest first, ties by canonical text. The ranking is the same on every platform and version;
//! a test pins known weights so that it cannot change by accident.

use std::collections::HashSet;

use crate::config::OrderMode;
use crate::server::Server;

/// The rendezvous weight of `server` for the device `device_id`.
pub fn spread_weight(device_id: &str, server: &Server) -> u64 {
    let text = server.to_string();
    let mut bytes = Vec::with_capacity(device_id.len() + 1 + text.len());
    bytes.extend_from_slice(device_id.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(text.as_bytes());
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// How to rank the list after the default server.
#[derive(Clone, Copy, Debug)]
pub enum Ranking<'a> {
    /// List order, wrapping around from the default server.
    List,
    /// Rendezvous ranking for this device id.
    Spread(&'a str),
}

impl<'a> Ranking<'a> {
    /// The ranking a configuration asks for.
    pub fn new(mode: OrderMode, device_id: Option<&'a str>) -> Self {
        match (mode, device_id) {
            (OrderMode::Spread, Some(id)) => Ranking::Spread(id),
            _ => Ranking::List,
        }
    }
}

/// Up to this many servers, the failover order finds repeats without a hash set.
const SHORT: usize = 32;

/// At most this many servers of the failover order come before the seeds (behaviour.md,
/// "Failover order"), so that a long dead cached list cannot starve them.
pub const SEEDS_AFTER: usize = 8;

/// The ordered candidates: default, then the list (see module docs), then unnamed seeds, the
/// seeds moved up to follow the first [`SEEDS_AFTER`] servers when more come before them; no repeats.
pub fn failover_order<'s>(
    list: Option<&'s [Server]>,
    seeds: &'s [Server],
    default: Option<&'s Server>,
    ranking: Ranking<'_>,
) -> Vec<Server> {
    let cached = list.filter(|l| !l.is_empty());
    let list = cached.unwrap_or(seeds);
    let mut out: Vec<Server> = Vec::with_capacity(list.len() + seeds.len() + 1);
    // Repeats are found by looking through what is kept while that is short (no hashing), with
    // a set beyond.
    let mut seen: Option<HashSet<&Server>> = (out.capacity() > SHORT).then(|| HashSet::with_capacity(out.capacity()));
    let mut push = |s: &'s Server| {
        let new = match &mut seen {
            Some(seen) => seen.insert(s),
            None => !out.contains(s),
        };
        if new {
            out.push(s.clone());
        }
    };
    if let Some(d) = default {
        push(d);
    }
    match ranking {
        Ranking::List => {
            let start = default.and_then(|d| list.iter().position(|s| s == d)).unwrap_or(0);
            list[start..].iter().chain(&list[..start]).for_each(&mut push);
        }
        Ranking::Spread(device_id) => {
            let mut ranked: Vec<(u64, &Server)> = list.iter().map(|s| (spread_weight(device_id, s), s)).collect();
            ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.to_string().cmp(&b.1.to_string())));
            ranked.into_iter().for_each(|(_, s)| push(s));
        }
    }
    if cached.is_none() {
        return out; // the seeds are the list: every one has its place in it already
    }
    seeds.iter().for_each(&mut push);
    // Seeds not among the first SEEDS_AFTER move up to follow them, in seed order.
    let head = out.len().min(SEEDS_AFTER);
    let late: HashSet<&Server> = seeds.iter().filter(|s| !out[..head].contains(s)).collect();
    if late.is_empty() {
        return out; // always so for a list of at most SEEDS_AFTER servers
    }
    let mut rest: Vec<Server> = out.split_off(head);
    let moved: Vec<Server> = seeds.iter().filter(|s| late.contains(s)).cloned().collect();
    let mut moved_seen: HashSet<&Server> = HashSet::with_capacity(moved.len());
    out.extend(moved.iter().filter(|s| moved_seen.insert(s)).cloned());
    rest.retain(|s| !late.contains(s));
    out.extend(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(ports: impl IntoIterator<Item = u16>) -> Vec<Server> {
        ports.into_iter().map(|p| Server::new("10.0.0.1", p).unwrap()).collect()
    }

    #[test]
    fn repeats_are_dropped_in_short_and_long_orders() {
        // 5 servers are looked through for repeats, 40 go through a set: the same rule.
        for n in [5u16, 40] {
            let with_repeats = servers((1..=n).chain(1..=n).chain([3, 1]));
            let order = failover_order(None, &with_repeats, None, Ranking::List);
            assert_eq!(order, servers(1..=n), "{n} seeds");
            let default = Server::new("10.0.0.1", 2).unwrap();
            let order = failover_order(Some(&with_repeats), &servers([1]), Some(&default), Ranking::List);
            // The default, then the list from it; the seed moves up behind the first 8.
            let want: Vec<u16> = match n {
                5 => vec![2, 3, 4, 5, 1],
                _ => (2..=9).chain([1]).chain(10..=n).collect(),
            };
            assert_eq!(order, servers(want), "{n} in the list");
        }
    }
}
