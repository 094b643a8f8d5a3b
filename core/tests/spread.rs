//! Spread mode: rendezvous hashing keeps a dead server's devices even over the survivors;
//! list mode sends them all to the next entry, as the seed describes.

use std::collections::BTreeMap;

use scoutlb::{Ranking, Server, failover_order, spread_weight};

fn cluster() -> Vec<Server> {
    (1..=10)
        .map(|i| format!("scout{i}.corp:22123").parse().unwrap())
        .collect()
}

/// Where each device goes when `dead`, its server, fails: the first live server of its order.
fn failover_target(list: &[Server], default: &Server, ranking: Ranking<'_>, dead: &Server) -> Server {
    let order = failover_order(Some(list), &[], Some(default), ranking);
    assert_eq!(&order[0], default, "the default is tried first");
    order.into_iter().find(|s| s != dead).unwrap()
}

#[test]
fn spread_moves_a_dead_servers_devices_evenly() {
    let list = cluster();
    let dead = list[3].clone();
    let ids: Vec<String> = (0..10_000).map(|i| format!("device-{i:05}")).collect();
    let mut before: BTreeMap<Server, usize> = BTreeMap::new();
    let mut moved: BTreeMap<Server, usize> = BTreeMap::new();
    for id in &ids {
        // With no default yet, a device starts on the head of its ranking.
        let home = failover_order(Some(&list), &[], None, Ranking::Spread(id))[0].clone();
        *before.entry(home.clone()).or_default() += 1;
        if home == dead {
            let to = failover_target(&list, &home, Ranking::Spread(id), &dead);
            *moved.entry(to).or_default() += 1;
        }
    }
    assert_eq!(before.len(), 10, "every server gets devices");
    assert_eq!(moved.len(), 9, "the dead server's devices reach all 9 survivors");
    assert!(!moved.contains_key(&dead));
    let (max, min) = (*moved.values().max().unwrap(), *moved.values().min().unwrap());
    let ratio = max as f64 / min as f64;
    println!(
        "spread: {} devices on {dead} moved to 9 survivors: largest {max}, smallest {min}, ratio {ratio:.3}",
        before[&dead]
    );
    assert!(ratio <= 1.3, "largest/smallest share ratio {ratio:.3} > 1.3");
    let (bmax, bmin) = (*before.values().max().unwrap(), *before.values().min().unwrap());
    println!("spread: initial share over 10 servers: largest {bmax}, smallest {bmin}");
}

#[test]
fn list_mode_moves_them_all_to_the_next_entry() {
    let list = cluster();
    let dead = list[3].clone();
    let mut moved: BTreeMap<Server, usize> = BTreeMap::new();
    for i in 0..10_000usize {
        let home = list[i % list.len()].clone();
        if home == dead {
            *moved
                .entry(failover_target(&list, &home, Ranking::List, &dead))
                .or_default() += 1;
        }
    }
    println!("list: {:?}", moved);
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[&list[4]], 1000);
}

#[test]
fn spread_weights_are_pinned() {
    // Devices rely on these numbers staying the same on every platform and version.
    let s: Server = "scout1.corp:22123".parse().unwrap();
    let v6: Server = "[FD00::0001]:22123".parse().unwrap();
    let got = [
        spread_weight("device-1", &s),
        spread_weight("device-2", &s),
        spread_weight("device-1", &v6),
    ];
    println!("{got:?}");
    assert_eq!(got, PINNED);
    // The canonical text is what is hashed, so spellings of one server weigh the same.
    assert_eq!(
        spread_weight("d", &"SCOUT1.corp.:22123".parse().unwrap()),
        spread_weight("d", &s)
    );
}

// Cross-checked with the Python `xxhash` package: xxh3_64_intdigest(b"device-1\0scout1.corp:22123").
const PINNED: [u64; 3] = [16165815529011520619, 2348148522157464609, 4946327808543112883];
