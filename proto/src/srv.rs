//! RFC 2782 order of SRV records: priority ascending, then weighted random within a priority.

/// One SRV record: where a service runs and how it ranks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvRecord {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative share of the picks among records of the same priority.
    pub weight: u16,
    /// The port of the service on the target.
    pub port: u16,
    /// The host name of the target (without the trailing dot).
    pub target: String,
}

/// Put `records` in the order RFC 2782 prescribes, drawing the weighted choices from `rng`.
///
/// Within one priority the records are shuffled, those of weight 0 are moved to the front (as the
/// RFC says, so they keep a very small chance of being picked), and then the records are picked one
/// by one: a number is drawn uniformly in `0..=sum of the weights left`, and the first record whose
/// running sum of weights reaches it is the next one. Records of weight 0 are thus tried after the
/// weighted ones unless the draw is 0; when every weight is 0 the shuffled order stands.
pub fn rfc2782_order(mut records: Vec<SrvRecord>, rng: &mut fastrand::Rng) -> Vec<SrvRecord> {
    records.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(records.len());
    let mut rest = records.as_slice();
    while let Some(first) = rest.first() {
        let end = rest
            .iter()
            .position(|r| r.priority != first.priority)
            .unwrap_or(rest.len());
        let (group, tail) = rest.split_at(end);
        out.extend(weighted_order(group.to_vec(), rng));
        rest = tail;
    }
    out
}

/// Order the records of one priority by repeated weighted draws.
fn weighted_order(mut group: Vec<SrvRecord>, rng: &mut fastrand::Rng) -> Vec<SrvRecord> {
    rng.shuffle(&mut group);
    // Stable: weight 0 first, the shuffled order kept otherwise.
    group.sort_by_key(|r| r.weight != 0);
    let mut out = Vec::with_capacity(group.len());
    while !group.is_empty() {
        let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
        let draw = rng.u32(0..=total);
        let mut running = 0u32;
        let pick = group
            .iter()
            .position(|r| {
                running += u32::from(r.weight);
                running >= draw
            })
            .unwrap_or(0);
        out.push(group.remove(pick));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(priority: u16, weight: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port: 1,
            target: target.into(),
        }
    }

    fn targets(v: &[SrvRecord]) -> Vec<&str> {
        v.iter().map(|r| r.target.as_str()).collect()
    }

    #[test]
    fn priority_comes_first_whatever_the_weights() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..200 {
            let records = vec![rec(20, 1000, "c"), rec(10, 0, "a"), rec(30, 5, "d"), rec(10, 0, "b")];
            let order = rfc2782_order(records, &mut rng);
            let prios: Vec<u16> = order.iter().map(|r| r.priority).collect();
            assert_eq!(prios, [10, 10, 20, 30]);
            assert_eq!(targets(&order[2..]), ["c", "d"]);
        }
    }

    #[test]
    fn weights_share_the_first_pick() {
        // Weights 1 and 3, draw uniform in 0..=4: the heavier one comes first in 3 of 5 draws when
        // the shuffle put it second, in 4 of 5 when first: 0.7 in all (the RFC's draw of 0 included).
        let mut rng = fastrand::Rng::with_seed(42);
        let trials = 8000;
        let heavy_first = (0..trials)
            .filter(|_| rfc2782_order(vec![rec(1, 1, "light"), rec(1, 3, "heavy")], &mut rng)[0].target == "heavy")
            .count();
        let share = heavy_first as f64 / trials as f64;
        assert!((0.67..0.73).contains(&share), "heavy first in {share} of the draws");
    }

    #[test]
    fn weight_zero_is_picked_rarely_but_kept() {
        let mut rng = fastrand::Rng::with_seed(3);
        let trials = 4000;
        let mut zero_first = 0;
        for _ in 0..trials {
            let order = rfc2782_order(vec![rec(1, 0, "zero"), rec(1, 50, "a"), rec(1, 50, "b")], &mut rng);
            assert_eq!(order.len(), 3);
            if order[0].target == "zero" {
                zero_first += 1;
            }
        }
        // The draw is 0 with probability 1/101.
        assert!(
            zero_first > 0 && zero_first < trials / 25,
            "zero first {zero_first} times"
        );
    }

    #[test]
    fn all_zero_weights_are_all_tried_in_random_order() {
        let mut rng = fastrand::Rng::with_seed(9);
        let mut firsts = std::collections::BTreeSet::new();
        for _ in 0..300 {
            let order = rfc2782_order(vec![rec(1, 0, "a"), rec(1, 0, "b"), rec(1, 0, "c")], &mut rng);
            let mut seen = targets(&order);
            firsts.insert(seen[0].to_string());
            seen.sort();
            assert_eq!(seen, ["a", "b", "c"]);
        }
        assert_eq!(firsts.len(), 3);
    }

    #[test]
    fn the_same_seed_gives_the_same_order() {
        let records = vec![
            rec(1, 10, "a"),
            rec(1, 20, "b"),
            rec(1, 30, "c"),
            rec(2, 1, "d"),
            rec(2, 1, "e"),
        ];
        let a = rfc2782_order(records.clone(), &mut fastrand::Rng::with_seed(5));
        let b = rfc2782_order(records, &mut fastrand::Rng::with_seed(5));
        assert_eq!(a, b);
    }
}
