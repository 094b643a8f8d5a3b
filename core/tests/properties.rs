//! Property tests: the server parser round-trips, and the failover order keeps its invariants.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use scoutlb::{Ranking, Server, failover_order};

fn host_name() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-zA-Z][a-zA-Z0-9-]{0,10}[a-zA-Z0-9]", 1..4).prop_map(|l| l.join("."))
}

fn server() -> impl Strategy<Value = Server> {
    let host = prop_oneof![
        host_name(),
        any::<u32>().prop_map(|n| Ipv4Addr::from(n).to_string()),
        any::<u128>().prop_map(|n| Ipv6Addr::from(n).to_string()),
    ];
    (host, 1u16..).prop_map(|(h, p)| Server::new(&h, p).unwrap())
}

proptest! {
    #[test]
    fn display_round_trips(s in server()) {
        let text = s.to_string();
        prop_assert_eq!(text.parse::<Server>().unwrap(), s.clone());
        prop_assert_eq!(Server::parse(&text, 1).unwrap(), s);
    }

    #[test]
    fn host_case_does_not_matter(h in host_name(), p in 1u16..) {
        prop_assert_eq!(Server::new(&h.to_uppercase(), p).unwrap(), Server::new(&h.to_lowercase(), p).unwrap());
    }

    #[test]
    fn parser_never_panics(text in "\\PC{0,80}") {
        let _ = text.parse::<Server>();
    }

    #[test]
    fn parsed_text_is_valid_or_an_error_quoting_it(text in "[a-z0-9:.\\[\\]-]{0,30}") {
        match text.parse::<Server>() {
            Ok(s) => prop_assert!(s.port() != 0 && !s.host().is_empty()),
            Err(e) => {
                let quoted = format!("`{}`", text.trim());
                prop_assert!(e.to_string().contains(&quoted));
            }
        }
    }

    #[test]
    fn order_invariants(
        list in proptest::collection::vec(server(), 0..12),
        seeds in proptest::collection::vec(server(), 0..4),
        default_index in proptest::option::of(0usize..16),
        spread in any::<bool>(),
    ) {
        let universe: Vec<Server> = list.iter().chain(&seeds).cloned().collect();
        let default = default_index.and_then(|i| universe.get(i)).cloned();
        let ranking = if spread { Ranking::Spread("device-1") } else { Ranking::List };
        let order = failover_order(Some(&list), &seeds, default.as_ref(), ranking);
        // Every server at most once, and every known server present.
        let unique: HashSet<&Server> = order.iter().collect();
        prop_assert_eq!(unique.len(), order.len());
        let base: &[Server] = if list.is_empty() { &seeds } else { &list };
        for s in base.iter().chain(&seeds).chain(default.iter()) {
            prop_assert!(order.contains(s));
        }
        prop_assert_eq!(order.len(), base.iter().chain(&seeds).chain(default.iter()).collect::<HashSet<_>>().len());
        // The default first.
        if let Some(d) = &default {
            prop_assert_eq!(&order[0], d);
        }
        // In list mode the list order is kept, as a rotation.
        if !spread && !list.is_empty() {
            let mut dedup: Vec<&Server> = Vec::new();
            for s in base { if !dedup.contains(&s) { dedup.push(s); } }
            let in_list: Vec<&Server> = order.iter().filter(|s| dedup.contains(s)).collect();
            let start = dedup.iter().position(|s| Some(*s) == default.as_ref()).unwrap_or(0);
            let rotated: Vec<&Server> = dedup[start..].iter().chain(&dedup[..start]).copied().collect();
            prop_assert_eq!(in_list, rotated);
        }
    }
}
