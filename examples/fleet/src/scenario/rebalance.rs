//! The rebalance phase of a scenario (`--rebalance`): every device checks in once within a
//! period (a `connect()`, which asks its own server first and reads the loads of its list), and
//! the move that connect planned comes at its moment (behaviour.md, "Rebalance"). Its figures:
//! the moves, the moves per second into each server beside the cap `rebalance.rate`, the shares
//! after.

use std::time::{Duration, Instant};

use scoutlb::{Config, RebalancePolicy, rebalance};
use serde_json::{Map, Value, json};

use super::{all_up, arrivals, note_failure};
use crate::cli::RebalanceArgs;
use crate::cluster::{self, Cluster};
use crate::fleet::{Action, Fleet};
use crate::report::{Report, Unit};

/// Time allowed beyond the longest possible window of a move.
const SLACK: Duration = Duration::from_secs(30);

/// The stretch over which the moves into one server are averaged for the cap: a few seconds of
/// them are what a server feels (the formula plans under the cap so that its busiest stretch holds).
const CAP_STRETCH: usize = 5;

/// The devices' `rebalance` key of these settings.
pub fn key(args: &RebalanceArgs) -> Value {
    json!({
        "enabled": true,
        "window_ms": args.rebalance_window.as_millis() as u64,
        "rate": args.rebalance_rate,
    })
}

/// The devices' rebalance policy of these settings: their `rebalance` key, read as they read it
/// (the fleet's devices were built from it, so it is valid).
fn policy(args: &RebalanceArgs) -> RebalancePolicy {
    let mut doc = Map::new();
    doc.insert("rebalance".into(), key(args));
    Config::from_map(&doc)
        .expect("the tool's rebalance settings are valid")
        .rebalance
}

/// The check-in of every device of `fleet` within `args.check_in`, and the moves it planned;
/// figures and checks into `report`, the moments into `marks` (seconds since `t0`). Returns the
/// devices per server at the end (the caller judges the shares).
pub fn run(
    fleet: &mut Fleet,
    cluster: &Cluster,
    args: &RebalanceArgs,
    seed: u64,
    report: &mut Report,
    marks: &mut Vec<(f64, String)>,
    t0: Instant,
) -> Vec<i64> {
    let n = fleet.len();
    let k = cluster.len();
    // The longest window a move can have: a deficit is at most the fleet.
    let longest = rebalance::window(&policy(args), n as f64);
    let who = arrivals(n, args.check_in, seed ^ 0x5eed_cafe);
    marks.push((
        t0.elapsed().as_secs_f64(),
        format!(
            "every device checks in within {}",
            humantime::format_duration(args.check_in)
        ),
    ));
    let (zero, outcomes) = fleet.act(&who, Action::CheckIn, &all_up(cluster), longest + SLACK, || ());
    let checked_in = outcomes.iter().filter(|o| o.result.is_ok()).count();
    note_failure(report, &outcomes, n);
    let moves: Vec<_> = outcomes.iter().filter_map(|o| o.moved.as_ref()).collect();
    let made: Vec<(usize, Instant)> = moves
        .iter()
        .filter_map(|m| m.result.as_ref().ok().map(|&to| (to, m.ended)))
        .collect();
    let failed = moves.len() - made.len();
    if let Some(e) = moves.iter().find_map(|m| m.result.as_ref().err()) {
        report.note(format!("first failed move: {e}"));
    }
    if let Some(last) = made.iter().map(|&(_, at)| at).max() {
        marks.push((last.duration_since(t0).as_secs_f64(), "the last move".to_owned()));
    }
    let window = moves.iter().map(|m| m.window).max().unwrap_or_default();
    let per_second = per_second(&made, zero, k);

    report.row("devices that checked in", checked_in as f64, Unit::Count);
    report.row("rebalance moves planned", moves.len() as f64, Unit::Count);
    report.row("moves made", made.len() as f64, Unit::Count);
    report.row("moves that failed (the device stayed)", failed as f64, Unit::Count);
    report.row("longest window of a move", window.as_secs_f64() * 1000.0, Unit::Ms);
    for (i, seconds) in per_second.iter().enumerate() {
        report.row(
            format!("moves into {}", cluster::name(i)),
            seconds.iter().sum::<u32>() as f64,
            Unit::Count,
        );
    }
    let busiest_second = per_second.iter().flatten().copied().max().unwrap_or(0);
    let busiest_stretch = per_second
        .iter()
        .map(|s| busiest_average(s, CAP_STRETCH))
        .fold(0.0, f64::max);
    let cap = f64::from(args.rebalance_rate);
    report.row(
        "the cap: rebalance.rate (moves per second into one server)",
        cap,
        Unit::Count,
    );
    report.row(
        "busiest second of moves into one server",
        f64::from(busiest_second),
        Unit::Count,
    );
    report.row(
        format!("busiest {CAP_STRETCH} s of moves into one server, per second"),
        busiest_stretch,
        Unit::Ratio,
    );
    let shares = fleet.placement().snapshot();
    for (i, on) in shares.iter().enumerate() {
        report.row(
            format!("devices on {} after the rebalance", cluster::name(i)),
            *on as f64,
            Unit::Count,
        );
    }
    report.row(
        "largest/smallest share after the rebalance",
        share_ratio(&shares),
        Unit::Ratio,
    );
    let astray = moves.iter().filter(|m| matches!(m.result, Ok(i) if i != m.to)).count();
    report.invariant("every move went to the server its plan named", astray == 0);
    report.target("every device checked in", checked_in == n);
    report.target("no move failed", failed == 0);
    report.target(
        format!("the rate cap holds: the busiest {CAP_STRETCH} s into any server ≤ rebalance.rate"),
        busiest_stretch <= cap,
    );
    shares
}

/// Moves into each of `k` servers per second since `zero`.
fn per_second(made: &[(usize, Instant)], zero: Instant, k: usize) -> Vec<Vec<u32>> {
    let mut bins = vec![Vec::new(); k];
    for &(to, at) in made {
        let second = at.saturating_duration_since(zero).as_secs() as usize;
        let server: &mut Vec<u32> = &mut bins[to];
        if server.len() <= second {
            server.resize(second + 1, 0);
        }
        server[second] += 1;
    }
    bins
}

/// The highest average per second over `stretch` consecutive seconds of `seconds` (over all of
/// them when there are fewer).
fn busiest_average(seconds: &[u32], stretch: usize) -> f64 {
    let stretch = stretch.clamp(1, seconds.len().max(1));
    seconds
        .windows(stretch)
        .map(|w| f64::from(w.iter().sum::<u32>()) / stretch as f64)
        .fold(0.0, f64::max)
}

/// The target on the shares after a rebalance: largest/smallest ≤ 1.3.
pub fn shares_target(report: &mut Report, shares: &[i64]) {
    report.target(
        "after the rebalance, largest/smallest share ≤ 1.3",
        share_ratio(shares) <= 1.3,
    );
}

/// Largest over smallest share (infinite with an empty server).
pub fn share_ratio(shares: &[i64]) -> f64 {
    let largest = shares.iter().copied().max().unwrap_or(0);
    match shares.iter().copied().min().unwrap_or(0) {
        s if s <= 0 => f64::INFINITY,
        s => largest as f64 / s as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busiest_average_takes_the_heaviest_stretch() {
        assert_eq!(busiest_average(&[1, 9, 9, 1, 0], 2), 9.0);
        assert_eq!(busiest_average(&[2, 4], 5), 3.0);
        assert_eq!(busiest_average(&[], 5), 0.0);
    }

    #[test]
    fn moves_fall_into_their_second_and_server() {
        let zero = Instant::now();
        let made = [
            (0, zero + Duration::from_millis(100)),
            (0, zero + Duration::from_millis(900)),
            (1, zero + Duration::from_millis(2500)),
        ];
        assert_eq!(per_second(&made, zero, 2), vec![vec![2], vec![0, 0, 1]]);
    }

    #[test]
    fn an_empty_server_makes_the_ratio_infinite() {
        assert_eq!(share_ratio(&[10, 0]), f64::INFINITY);
        assert_eq!(share_ratio(&[13, 10]), 1.3);
    }
}
