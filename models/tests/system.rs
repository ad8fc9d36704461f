//! The model's actor system (`model::system`) against stateright's own actor model
//! (`stateright::actor::ActorModel`) over the same actors: walked in lock step from the
//! initial state, breadth first, both offer the same actions in the same order (so a path of
//! action indices means the same run in both), and every action leads both to the same state
//! (actor states, messages in flight, armed timers, pending random choices) or is no
//! transition in both. Covers every scenario under every protocol, and the networks no
//! scenario uses (FIFO, duplicating, lossy). Also: the BFS's step cache and interning change
//! nothing the search finds.

use std::collections::{HashSet, VecDeque};

use kafka_eos_model::model::actors::{EosActor, Msg};
use kafka_eos_model::model::check::fingerprint;
use kafka_eos_model::model::scenario::{NetworkKind, Protocol, Scenario};
use kafka_eos_model::model::scenarios::NAMES;
use kafka_eos_model::model::system::{self, Delivery, EosAction, EosState};
use kafka_eos_model::model::ModelCfg;
use stateright::actor::{ActorModel, ActorModelState, Id, LossyNetwork, Network};
use stateright::Model;

type Reference = ActorModel<EosActor, ModelCfg, ()>;
type ReferenceState = ActorModelState<EosActor, ()>;

fn reference(s: &Scenario) -> Reference {
    let network = match s.network {
        NetworkKind::Kafka | NetworkKind::Unordered => Network::new_unordered_nonduplicating([]),
        NetworkKind::Ordered => Network::new_ordered([]),
        NetworkKind::Duplicating => Network::new_unordered_duplicating([]),
    };
    ActorModel::new(ModelCfg::new(s.clone()), ())
        .actors(EosActor::of(s))
        .init_network(network)
        .lossy_network(if s.lossy {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        })
}

/// The messages in flight as `(src, dst, msg)`: sorted, except on the FIFO network, where
/// each channel keeps its sending order.
fn in_flight_reference(s: &ReferenceState) -> Vec<(Id, Id, Msg)> {
    match &s.network {
        Network::Ordered(map) => map
            .iter()
            .flat_map(|((src, dst), q)| q.iter().map(move |m| (*src, *dst, m.clone())))
            .collect(),
        Network::UnorderedNonDuplicating(map) => {
            let mut v: Vec<(Id, Id, Msg)> = map
                .iter()
                .flat_map(|(e, n)| (0..*n).map(move |_| (e.src, e.dst, e.msg.clone())))
                .collect();
            v.sort();
            v
        }
        Network::UnorderedDuplicating(set, _) => {
            let mut v: Vec<(Id, Id, Msg)> =
                set.iter().map(|e| (e.src, e.dst, e.msg.clone())).collect();
            v.sort();
            v
        }
    }
}

fn assert_same(what: &str, lean: &EosState, r: &ReferenceState) {
    assert_eq!(lean.actor_states, r.actor_states, "{what}: actor states");
    let ours: Vec<(Id, Id, Msg)> = lean
        .network
        .iter_all()
        .map(|e| (e.src, e.dst, e.msg.clone()))
        .collect();
    assert_eq!(ours, in_flight_reference(r), "{what}: messages in flight");
    let last = match &r.network {
        Network::UnorderedDuplicating(_, last) => last.as_ref().map(|e| (e.src, e.dst, &e.msg)),
        _ => None,
    };
    assert_eq!(
        lean.network.last_delivered().map(|e| (e.src, e.dst, e.msg)),
        last,
        "{what}: last delivered"
    );
    for (i, timers) in r.timers_set.iter().enumerate() {
        let mut theirs: Vec<_> = timers.iter().cloned().collect();
        theirs.sort();
        let mine: Vec<_> = lean.timers_of(Id::from(i)).cloned().collect();
        assert_eq!(mine, theirs, "{what}: timers of actor {i}");
    }
    let mut theirs: Vec<_> = r
        .random_choices
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            c.map
                .iter()
                .map(move |(k, v)| (Id::from(i), k.clone(), v.clone()))
        })
        .collect();
    theirs.sort();
    assert_eq!(lean.random_choices, theirs, "{what}: random choices");
}

/// Walks both systems breadth first from their initial states, up to `limit` distinct
/// states; returns the number of transitions compared.
fn lock_step(s: &Scenario, limit: usize) -> usize {
    let lean = kafka_eos_model::model::model(s);
    let theirs = reference(s);
    let what = format!("{} {} {:?}", s.name, s.protocol, s.network);
    let init = lean.init_states().remove(0);
    let init_r = theirs.init_states().remove(0);
    assert_same(&what, &init, &init_r);
    let mut seen = HashSet::from([fingerprint(&init)]);
    let mut queue = VecDeque::from([(init, init_r)]);
    let mut compared = 0;
    while let Some((a, b)) = queue.pop_front() {
        let mut ours: Vec<EosAction> = Vec::new();
        let mut refs = Vec::new();
        lean.actions(&a, &mut ours);
        theirs.actions(&b, &mut refs);
        assert_eq!(ours, refs, "{what}: actions");
        for action in ours {
            let next = system::next_state(&lean.actors, &a, action.clone());
            let next_r = theirs.next_state(&b, action.clone());
            compared += 1;
            match (next, next_r) {
                (None, None) => {}
                (Some(n), Some(nr)) => {
                    assert_same(&format!("{what} after {action:?}"), &n, &nr);
                    if seen.len() < limit && seen.insert(fingerprint(&n)) {
                        queue.push_back((n, nr));
                    }
                }
                (n, nr) => panic!(
                    "{what}: {action:?} is a transition in one system only (ours: {}, stateright's: {})",
                    n.is_some(),
                    nr.is_some()
                ),
            }
        }
    }
    compared
}

#[test]
fn every_scenario_steps_as_in_stateright() {
    for name in NAMES {
        for protocol in Protocol::ALL {
            let s = Scenario::named(name)
                .expect("named scenario")
                .with_protocol(protocol);
            let n = lock_step(&s, 400);
            assert!(n > 10, "{name} {protocol}: only {n} transitions compared");
        }
    }
}

#[test]
fn other_networks_step_as_in_stateright() {
    for (name, network, lossy) in [
        ("idempotent", NetworkKind::Ordered, false),
        ("idempotent", NetworkKind::Duplicating, false),
        ("idempotent", NetworkKind::Unordered, true),
        ("transactions", NetworkKind::Ordered, true),
        ("transactions", NetworkKind::Duplicating, false),
    ] {
        let mut s = Scenario::named(name).expect("named scenario");
        s.network = network;
        s.lossy = lossy;
        let delivery = kafka_eos_model::model::model(&s).delivery;
        assert_eq!(delivery, Delivery::of(network));
        let n = lock_step(&s, 1500);
        assert!(n > 100, "{name} {network:?}: only {n} transitions compared");
    }
}

/// The BFS's hash-consing (`check::ActorInterner`): after interning, equal actor states of
/// the queued states are one shared copy, and interning changes no state's fingerprint.
#[test]
fn interning_shares_equal_actor_states() {
    use kafka_eos_model::model::check::ActorInterner;
    use std::collections::HashMap;
    use std::sync::Arc;

    let m = kafka_eos_model::model::model(&Scenario::named("transactions").expect("scenario"));
    let mut interner = ActorInterner::default();
    let mut kept: Vec<EosState> = Vec::new();
    let mut seen = HashSet::new();
    let mut queue = VecDeque::new();
    for mut s in m.init_states() {
        seen.insert(fingerprint(&s));
        interner.intern(&mut s);
        queue.push_back(s.clone());
        kept.push(s);
    }
    while let Some(s) = queue.pop_front() {
        if kept.len() >= 3000 {
            break;
        }
        let mut actions = Vec::new();
        m.actions(&s, &mut actions);
        for a in actions {
            let Some(mut n) = m.next_state(&s, a) else {
                continue;
            };
            let fp = fingerprint(&n);
            if seen.insert(fp) {
                interner.intern(&mut n);
                assert_eq!(fingerprint(&n), fp, "interning changed a fingerprint");
                queue.push_back(n.clone());
                kept.push(n);
            }
        }
    }
    let mut by_value: HashMap<u64, &Arc<_>> = HashMap::new();
    let mut slots = 0;
    for s in &kept {
        for a in &s.actor_states {
            slots += 1;
            let first = by_value.entry(fingerprint(&**a)).or_insert(a);
            assert!(Arc::ptr_eq(first, a), "two copies of one actor state");
            assert_eq!(***first, **a);
        }
    }
    assert!(
        by_value.len() * 4 < slots,
        "{} distinct actor states in {slots} slots",
        by_value.len()
    );
}

/// The BFS's step cache (`check::StepCache`): the search that computes each actor step once
/// and reuses it, and fingerprints most successors without building them, finds what the
/// search over the model's own `next_state` finds (the same counts, depth, budget cuts,
/// relevant states and first path to each property), also when the cache is so small that it
/// keeps evicting; it reuses most steps; and (`verify`) every fingerprint and budget verdict
/// computed without building the successor equals the one of the built successor.
#[test]
fn cached_steps_search_as_the_model_steps() {
    use kafka_eos_model::model::check::{bfs_cached, bfs_uncached, CheckOptions, StepCache};

    let opts = CheckOptions {
        max_states: Some(20_000),
        ..CheckOptions::default()
    };
    let mut searched = 0;
    for name in NAMES {
        for protocol in Protocol::ALL {
            let s = Scenario::named(name)
                .expect("named scenario")
                .with_protocol(protocol);
            let m = kafka_eos_model::model::model(&s);
            let reference = bfs_uncached(&m, &opts);
            for (limit, verify) in [(StepCache::GENERATION, false), (16, false), (64, true)] {
                let mut steps = StepCache::with_limit(limit);
                steps.verify = verify;
                let cached = bfs_cached(&m, &opts, &mut steps);
                assert_eq!(cached, reference, "{name} {protocol}, cache of {limit}");
                if limit == StepCache::GENERATION && reference.total > 1000 {
                    assert!(
                        steps.reused > steps.computed,
                        "{name} {protocol}: {} steps reused, {} computed",
                        steps.reused,
                        steps.computed
                    );
                }
            }
            searched += reference.total;
        }
    }
    assert!(searched > 100_000, "only {searched} states searched");
}
