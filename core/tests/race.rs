//! The attempt race against a simulated clock: the conformance cases of
//! `tests/vectors/attempt_race.json`, and the lookup and reporting rules they do not cover.

use std::time::Duration;

use scoutlb::race::{Action, Id, Race, Stage, Timing};
use serde_json::Value;

/// What a simulated candidate does, relative to its own start.
#[derive(Clone, Copy, Debug, Default)]
struct Behaviour {
    up_after: Option<u64>,
    ok_after: Option<u64>,
    fail_after: Option<u64>,
}

impl Behaviour {
    fn from_json(v: &Value) -> Self {
        let ms = |k: &str| v.get(k).and_then(Value::as_u64);
        Behaviour {
            up_after: ms("up_after"),
            ok_after: ms("ok_after"),
            fail_after: ms("fail_after"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Happening {
    Up,
    Ok,
    Fail,
}

/// The run of one race: who was started when, every action, the winner and when it was decided.
#[derive(Debug, Default)]
struct Run {
    started: Vec<(String, u64)>,
    actions: Vec<(u64, Action)>,
    winner: Option<String>,
    decided_at: u64,
}

/// Drive `race` with a simulated clock; `behaviour` says what each candidate does once started.
fn simulate(race: Race<String>, behaviour: impl Fn(&str) -> Behaviour) -> Run {
    simulate_with_lookup(race, None, behaviour)
}

/// A lookup of the race and its answer: its id, when it answers, and the addresses it gives.
type LookupAnswer<'a> = (Id, u64, &'a [&'a str]);

/// [`simulate`] for a race whose lookup answers as `lookup` says (`None`: it never answers).
fn simulate_with_lookup(
    mut race: Race<String>,
    lookup: Option<LookupAnswer>,
    behaviour: impl Fn(&str) -> Behaviour,
) -> Run {
    let ms = Duration::from_millis;
    let mut run = Run::default();
    let mut pending: Vec<(u64, Id, Happening)> = Vec::new();
    let mut now = 0u64;
    let mut answer = lookup;
    for _ in 0..10_000 {
        while let Some(action) = race.poll(ms(now)) {
            run.actions.push((now, action));
            match action {
                Action::Start(id) => {
                    let name = race.candidate(id).unwrap().clone();
                    let b = behaviour(&name);
                    for (after, what) in [
                        (b.up_after, Happening::Up),
                        (b.ok_after, Happening::Ok),
                        (b.fail_after, Happening::Fail),
                    ] {
                        if let Some(after) = after {
                            pending.push((now + after, id, what));
                        }
                    }
                    run.started.push((name, now));
                }
                Action::Won(id) => {
                    run.winner = race.candidate(id).cloned();
                    run.decided_at = now;
                    return run;
                }
                Action::AllFailed | Action::DeadlinePassed => {
                    run.decided_at = now;
                    return run;
                }
                _ => {}
            }
        }
        let wake = race
            .next_wake()
            .expect("an undecided race always has a next wake")
            .as_millis() as u64;
        let next_event = pending.iter().map(|p| p.0).min().unwrap_or(u64::MAX);
        now = wake.min(next_event).min(answer.map_or(u64::MAX, |a| a.1));
        assert!(now < 1_000_000, "the race never ends");
        if let Some((id, at, addresses)) = answer
            && at == now
        {
            answer = None;
            assert!(race.lookup_answered(id, ms(now), addresses.iter().map(|a| a.to_string()).collect()));
        }
        pending.sort_by_key(|p| p.0);
        while pending.first().is_some_and(|p| p.0 == now) {
            let (_, id, what) = pending.remove(0);
            match what {
                Happening::Up => race.transport_up(id, ms(now)),
                Happening::Ok => {
                    race.transport_up(id, ms(now));
                    race.succeeded(id, ms(now));
                }
                Happening::Fail => {
                    race.failed(id, ms(now));
                }
            }
        }
    }
    panic!("the race did not end within 10,000 steps");
}

fn timing_of(case: &Value) -> Timing {
    let mut timing = Timing::default();
    let ms = |k: &str| case.get(k).and_then(Value::as_u64).map(Duration::from_millis);
    if let Some(d) = ms("attempt_delay_ms") {
        timing.attempt_delay = d;
    }
    if let Some(d) = ms("answer_delay_ms") {
        timing.answer_delay = d;
    }
    if let Some(d) = ms("connect_timeout_ms") {
        timing.timeout = d;
    }
    if let Some(d) = ms("deadline_ms") {
        timing.deadline = d;
    }
    timing
}

#[test]
fn vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/attempt_race.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 14, "the vector file lost cases");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let candidates: Vec<(String, Behaviour)> = case["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["server"].as_str().unwrap().to_string(), Behaviour::from_json(c)))
            .collect();
        let race = Race::new(candidates.iter().map(|c| c.0.clone()).collect(), timing_of(case));
        let run = simulate(race, |s| candidates.iter().find(|c| c.0 == s).unwrap().1);
        let expected = &case["expected"];
        assert_eq!(
            run.winner.as_deref(),
            expected["winner"].as_str(),
            "winner of {name:?}: {run:?}"
        );
        assert_eq!(
            run.decided_at,
            expected["decided_at"].as_u64().unwrap(),
            "decided_at of {name:?}: {run:?}"
        );
        let started: Vec<(String, u64)> = expected["started"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_u64().unwrap()))
            .collect();
        assert_eq!(run.started, started, "started of {name:?}");
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn actions_of(run: &Run, pick: impl Fn(&Action) -> bool) -> Vec<(u64, Action)> {
    run.actions.iter().filter(|(_, a)| pick(a)).copied().collect()
}

#[test]
fn a_held_success_and_an_exhausted_patience_are_reported() {
    let race = Race::new(names(&["a", "b"]), Timing::default());
    let run = simulate(race, |s| match s {
        "a" => Behaviour {
            up_after: Some(300),
            ok_after: Some(1500),
            ..Default::default()
        },
        _ => Behaviour {
            up_after: Some(1),
            ok_after: Some(150),
            ..Default::default()
        },
    });
    assert_eq!(run.winner.as_deref(), Some("b"));
    let ran_out = actions_of(&run, |a| matches!(a, Action::PatienceRanOut { .. }));
    assert_eq!(
        ran_out,
        vec![
            (
                250,
                Action::PatienceRanOut {
                    id: 0,
                    stage: Stage::Connecting
                }
            ),
            (
                1300,
                Action::PatienceRanOut {
                    id: 0,
                    stage: Stage::Answering
                }
            ),
        ]
    );
    assert_eq!(
        actions_of(&run, |a| matches!(a, Action::Held { .. })),
        vec![(400, Action::Held { id: 1, behind: 0 })]
    );
}

#[test]
fn a_late_answer_of_the_default_still_wins_over_a_later_candidate_that_has_not_answered() {
    let race = Race::new(names(&["a", "b"]), Timing::default());
    let run = simulate(race, |s| match s {
        "a" => Behaviour {
            up_after: Some(1),
            ok_after: Some(1200),
            ..Default::default()
        },
        _ => Behaviour::default(), // never answers
    });
    assert_eq!(run.winner.as_deref(), Some("a"));
    assert_eq!(run.decided_at, 1200);
    assert_eq!(run.started, vec![("a".into(), 0), ("b".into(), 1001)]);
}

#[test]
fn the_deadline_lets_a_held_success_win() {
    let mut timing = Timing::default();
    timing.deadline = Duration::from_millis(800);
    timing.answer_delay = Duration::ZERO;
    let race = Race::new(names(&["a", "b"]), timing);
    let run = simulate(race, |s| match s {
        "a" => Behaviour {
            up_after: Some(300),
            ..Default::default()
        },
        _ => Behaviour {
            up_after: Some(1),
            ok_after: Some(100),
            ..Default::default()
        },
    });
    assert_eq!(run.winner.as_deref(), Some("b"), "{run:?}");
    assert_eq!(run.decided_at, 800);
    assert!(
        run.actions.contains(&(350, Action::Held { id: 1, behind: 0 })),
        "{run:?}"
    );
}

fn lookup_race(
    candidates: &[&str],
    answer_at: Option<u64>,
    addresses: &[&str],
    behaviour: impl Fn(&str) -> Behaviour,
) -> Run {
    let (race, lookup) = Race::with_lookup(names(candidates), Timing::default());
    simulate_with_lookup(race, answer_at.map(|at| (lookup, at, addresses)), behaviour)
}

fn quick(_: &str) -> Behaviour {
    Behaviour {
        up_after: Some(1),
        ok_after: Some(5),
        ..Default::default()
    }
}

#[test]
fn a_quick_lookup_answer_starts_the_balancer_first() {
    let run = lookup_race(&["a", "b"], Some(3), &["lb1", "lb2"], quick);
    assert_eq!(run.winner.as_deref(), Some("lb1"));
    assert_eq!(run.started, vec![("lb1".into(), 3)]);
}

#[test]
fn a_silent_lookup_lets_the_failover_order_start_after_attempt_delay() {
    let run = lookup_race(&["a", "b"], None, &[], quick);
    assert_eq!(run.winner.as_deref(), Some("a"));
    assert_eq!(run.decided_at, 255);
    assert_eq!(
        run.actions[0],
        (
            250,
            Action::PatienceRanOut {
                id: 2,
                stage: Stage::Resolving
            }
        )
    );
}

#[test]
fn a_late_lookup_answer_still_outranks_a_connecting_default() {
    // `a` connects slowly; the balancer answers at 300 and its address answers before `a` does.
    let run = lookup_race(&["a", "b"], Some(300), &["lb1"], |s| match s {
        "a" => Behaviour {
            up_after: Some(200),
            ok_after: Some(400),
            ..Default::default()
        },
        _ => quick(s),
    });
    assert_eq!(run.winner.as_deref(), Some("lb1"), "{run:?}");
    assert_eq!(run.started, vec![("a".into(), 250), ("lb1".into(), 300)]);
}

#[test]
fn a_lookup_address_already_tried_keeps_its_place_and_a_waiting_one_moves_up() {
    // `a` is started when the answer names `a` and `b`: `a` is not started twice, `b` moves up
    // ahead of `c`.
    let run = lookup_race(&["a", "c", "b"], Some(300), &["a", "b"], |s| match s {
        "a" => Behaviour {
            fail_after: Some(100),
            ..Default::default()
        },
        "b" => Behaviour {
            fail_after: Some(1),
            ..Default::default()
        },
        _ => quick(s),
    });
    assert_eq!(run.winner.as_deref(), Some("c"));
    assert_eq!(
        run.started,
        vec![("a".into(), 250), ("b".into(), 300), ("c".into(), 350)]
    );
}

#[test]
fn a_failed_lookup_lets_the_failover_order_start_at_once() {
    let (mut race, lookup) = Race::with_lookup(names(&["a"]), Timing::default());
    assert_eq!(race.poll(Duration::ZERO), None);
    assert!(race.failed(lookup, Duration::from_millis(7)));
    assert_eq!(race.poll(Duration::from_millis(7)), Some(Action::Start(0)));
}

#[test]
fn late_inputs_after_a_timeout_or_a_decision_are_ignored() {
    let mut timing = Timing::default();
    timing.timeout = Duration::from_millis(100);
    let mut race = Race::new(names(&["a"]), timing);
    assert_eq!(race.poll(Duration::ZERO), Some(Action::Start(0)));
    assert_eq!(race.next_wake(), Some(Duration::from_millis(100)));
    assert_eq!(race.poll(Duration::from_millis(100)), Some(Action::TimedOut(0)));
    assert!(!race.succeeded(0, Duration::from_millis(101)));
    assert_eq!(race.poll(Duration::from_millis(101)), Some(Action::AllFailed));
    assert!(race.is_decided());
    assert_eq!(race.poll(Duration::from_millis(102)), None);
    assert_eq!(race.next_wake(), None);
}
