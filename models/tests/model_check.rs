//! Exhaustive checks of every named scenario under every protocol and of every known-bug
//! switch, with their summaries snapshotted (BFS, one thread: counts and shortest
//! counterexamples are deterministic; no timings).

use std::collections::{HashMap, VecDeque};

use kafka_eos_model::model::bugs::{BUGS, PROTOCOL_BUGS};
use kafka_eos_model::model::check::{run, CheckOptions, Outcome};
use kafka_eos_model::model::properties::{completion_probe, ALWAYS, S1, S14, S4};
use kafka_eos_model::model::scenario::{Protocol, Scenario};
use kafka_eos_model::model::scenarios::NAMES;
use kafka_eos_model::model::{model, EosState};
use stateright::{Expectation, Model};

fn check(s: &Scenario) -> String {
    let report = run(s, &CheckOptions::default());
    let summary = report.summary();
    assert!(report.complete, "run cut short:\n{summary}");
    assert!(report.ok(), "unexpected verdicts:\n{summary}");
    if s.bugs.is_empty() {
        // Every producer reaches the end of its script (or the scenario says why not).
        for i in 0..s.producers.len() {
            let (name, _) = completion_probe(i).expect("a completion probe per producer");
            let p = report
                .properties
                .iter()
                .find(|p| p.name == name)
                .expect(name);
            assert!(
                p.outcome == Outcome::ExampleFound || s.irrelevance(name).is_some(),
                "{name} not reached:\n{summary}"
            );
        }
    }
    summary
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({snapshot_path => "../../snapshots/model", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name.to_string(), text);
    });
}

fn scenario_under(name: &str, protocol: Protocol) {
    let s = Scenario::named(name)
        .expect("named scenario")
        .with_protocol(protocol);
    let text = check(&s);
    snapshot(&format!("{name}-{}", protocol.name()), &text);
}

macro_rules! scenario_tests {
    ($($test:ident => $name:expr),* $(,)?) => {
        $(
            mod $test {
                use super::*;
                /// TV2: every property holds, every probe is reached.
                #[test]
                fn tv2() { scenario_under($name, Protocol::Tv2) }
                /// KIP-890 part 1 only.
                #[test]
                fn tv1_verify() { scenario_under($name, Protocol::Tv1Verify) }
                /// The old protocol: the scenario's protocol-level bugs appear.
                #[test]
                fn tv0() { scenario_under($name, Protocol::Tv0) }
            }
        )*
    };
}

scenario_tests! {
    idempotent => "idempotent",
    idempotent_reorder => "idempotent-reorder",
    transactions => "transactions",
    zombie => "zombie",
    timeout => "timeout",
    coordinator_failover => "coordinator-failover",
    hanging_txn => "hanging-txn",
    late_endtxn => "late-endtxn",
    late_marker => "late-marker",
    producer_expiry => "producer-expiry",
    marker_resend => "marker-resend",
    epoch_exhaustion => "epoch-exhaustion",
    append_failure => "append-failure",
    idempotent_two_partitions => "idempotent-two-partitions",
    idempotent_restart => "idempotent-restart",
    retries_without_idempotence => "retries-without-idempotence",
    processor => "processor",
    processor_kip447 => "processor-kip447",
}

/// Every known-bug switch is caught: the checker finds exactly the counterexamples the
/// catalogue names, under the bug's scenario and protocol.
#[test]
fn every_bug_switch_is_caught() {
    for bug in BUGS {
        let s = Scenario::named(bug.scenario)
            .expect("bug scenario")
            .with_protocol(bug.protocol)
            .with_bug(bug.bug);
        let text = check(&s);
        snapshot(&format!("bug-{}", bug.name), &text);
    }
}

/// The catalogue's data is consistent: names are unique and every bug's scenario exists.
#[test]
fn bug_catalogue_is_consistent() {
    let mut names: Vec<&str> = BUGS.iter().map(|b| b.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), BUGS.len());
    for b in BUGS {
        assert!(NAMES.contains(&b.scenario), "{}", b.name);
        assert!(!b.breaks.is_empty(), "{}", b.name);
        assert_eq!(b.bug.info().name, b.name);
    }
    // Every protocol-level bug names a scenario whose old-protocol run breaks something, and
    // its id is no switch's name.
    for b in PROTOCOL_BUGS {
        assert!(!b.breaks().is_empty(), "{}", b.id);
        assert!(b.protocol != Protocol::Tv2, "{}", b.id);
        assert!(BUGS.iter().all(|k| k.name != b.id), "{}", b.id);
    }
}

/// Every `always` property is broken by at least one bug switch of the catalogue (whose
/// counterexample `every_bug_switch_is_caught` checks and snapshots): a property nothing can
/// break would be a defect of the model. Old-protocol findings are not counted here.
#[test]
fn every_safety_property_is_broken_by_a_bug_switch() {
    let broken: Vec<&str> = BUGS.iter().flat_map(|b| b.breaks.iter().copied()).collect();
    let unbroken: Vec<&str> = ALWAYS
        .iter()
        .chain(kafka_eos_model::model::processor::ALWAYS)
        .map(|p| p.name)
        .filter(|n| !broken.contains(n))
        .collect();
    assert!(unbroken.is_empty(), "broken by no bug switch: {unbroken:?}");
}

/// The old protocols' findings are real: every scenario expected to break something under
/// TV0 or TV1+verify without any bug does, and TV2 (with KIP-1228) breaks nothing but the
/// findings outside Kafka's assumptions (`always_breaks`).
#[test]
fn tv2_fixes_every_protocol_level_finding() {
    for name in NAMES {
        let s = Scenario::named(name).unwrap();
        assert_eq!(
            s.clone().with_protocol(Protocol::Tv2).expected_broken(),
            s.always_breaks.to_vec(),
            "{name}"
        );
    }
}

/// Independent of the checker's own BFS: a plain breadth-first search over full states (no
/// fingerprints, no parent pointers), up to `max_depth` steps, that returns, per `always`
/// property, the depth (number of steps) of the shallowest state violating it.
// The actor states' hash cache is interior mutability that never changes the hash.
#[allow(clippy::mutable_key_type)]
fn first_violation_depths(s: &Scenario, max_depth: usize) -> HashMap<&'static str, usize> {
    let m = model(s);
    let props = m.properties();
    let mut depth_of: HashMap<&'static str, usize> = HashMap::new();
    let mut seen: std::collections::HashSet<EosState> = std::collections::HashSet::new();
    let mut queue: VecDeque<(EosState, usize)> = VecDeque::new();
    for init in m.init_states() {
        if Model::within_boundary(&m, &init) && seen.insert(init.clone()) {
            queue.push_back((init, 0));
        }
    }
    while let Some((state, depth)) = queue.pop_front() {
        if depth > max_depth {
            break;
        }
        for p in &props {
            if p.expectation == Expectation::Always && !(p.condition)(&m, &state) {
                depth_of.entry(p.name).or_insert(depth);
            }
        }
        let mut actions = Vec::new();
        m.actions(&state, &mut actions);
        for a in actions {
            if let Some(next) = m.next_state(&state, a) {
                if Model::within_boundary(&m, &next) && seen.insert(next.clone()) {
                    queue.push_back((next, depth + 1));
                }
            }
        }
    }
    depth_of
}

/// Every printed counterexample is a shortest one: its length equals the depth of the first
/// violation found by an independent BFS, for every bug switch and every protocol-level
/// finding.
#[test]
fn counterexamples_are_shortest() {
    let mut runs: Vec<Scenario> = BUGS
        .iter()
        .map(|b| {
            Scenario::named(b.scenario)
                .expect("bug scenario")
                .with_protocol(b.protocol)
                .with_bug(b.bug)
        })
        .collect();
    for b in PROTOCOL_BUGS {
        runs.push(
            Scenario::named(b.scenario)
                .expect("scenario")
                .with_protocol(b.protocol),
        );
    }
    for s in runs {
        let report = run(&s, &CheckOptions::default());
        let longest = report
            .properties
            .iter()
            .map(|p| p.steps.len())
            .max()
            .unwrap_or(0);
        let depths = first_violation_depths(&s, longest);
        for p in report.properties.iter().filter(|p| p.always) {
            match depths.get(p.name) {
                Some(d) => {
                    assert_eq!(p.outcome, Outcome::Counterexample, "{} {}", s.name, p.name);
                    assert_eq!(
                        p.steps.len(),
                        *d,
                        "{} {:?} {}: printed {} steps, shortest {d}",
                        s.name,
                        s.bugs,
                        p.name,
                        p.steps.len()
                    );
                }
                None => assert_ne!(p.outcome, Outcome::Counterexample, "{} {}", s.name, p.name),
            }
        }
        // Identical traces are printed once, naming every property they break.
        let named: usize = report
            .counterexamples
            .iter()
            .map(|c| c.properties.len())
            .sum();
        let broken = report
            .properties
            .iter()
            .filter(|p| p.outcome == Outcome::Counterexample)
            .count();
        assert_eq!(named, broken, "{}", s.name);
        let mut paths: Vec<&str> = report
            .counterexamples
            .iter()
            .map(|c| c.encoded.as_str())
            .collect();
        let n = paths.len();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), n, "{}: a trace is printed twice", s.name);
    }
}

/// KAFKA-12671 (`hanging-txn --protocol tv0`, which `list` names for M-T1) shows the late
/// produce: its shortest S14 counterexample times out a Produce, aborts, writes the ABORT
/// marker, and only then delivers the stuck Produce.
#[test]
fn kafka_12671_is_the_late_produce() {
    let s = Scenario::named("hanging-txn")
        .unwrap()
        .with_protocol(Protocol::Tv0);
    let report = run(&s, &CheckOptions::default());
    let s14 = report.properties.iter().find(|p| p.name == S14).unwrap();
    let steps = &s14.steps;
    assert_eq!(steps.len(), 9, "{steps:#?}");
    let timeout = steps
        .iter()
        .position(|l| l.contains("timed out") && l.contains("was Produce t-0"))
        .expect("a Produce times out");
    let marker = steps
        .iter()
        .position(|l| l.contains("WriteTxnMarkers ABORT t-0"))
        .expect("the abort marker");
    let late = steps
        .iter()
        .rposition(|l| l.contains("-> partition-0: Produce#"))
        .expect("the late produce");
    assert!(timeout < marker && marker < late, "{steps:#?}");
}

/// An `always` property that holds in no relevant state is vacuous, and fails the run unless
/// the scenario declares it irrelevant.
#[test]
fn vacuous_holds_fail_unless_declared() {
    let declared = Scenario::named("idempotent").unwrap();
    let report = run(&declared, &CheckOptions::default());
    let s4 = report.properties.iter().find(|p| p.name == S4).unwrap();
    assert_eq!(s4.outcome, Outcome::Vacuous);
    assert_eq!(s4.relevant_states, Some(0));
    assert!(report.ok());
    let undeclared = Scenario {
        irrelevant: &[],
        ..declared
    };
    let report = run(&undeclared, &CheckOptions::default());
    assert!(!report.ok());
    let s4 = report.properties.iter().find(|p| p.name == S4).unwrap();
    assert!(!s4.as_expected);
    assert!(report.summary().contains("S4 epoch monotonic: VACUOUS"));
    // A relevant property is not vacuous.
    let s1 = report.properties.iter().find(|p| p.name == S1).unwrap();
    assert_eq!(s1.outcome, Outcome::Holds);
    assert!(s1.relevant_states.unwrap_or(0) > 0);
}

/// stateright's checkers (DFS, or 2+ threads) agree on verdicts and relevance, and their paths
/// are cut at the first violation.
#[test]
fn stateright_modes_agree_on_verdicts() {
    let s = Scenario::named("idempotent")
        .unwrap()
        .with_bug(kafka_eos_model::model::bugs::KnownBug::NoSequenceCheck);
    let bfs = run(&s, &CheckOptions::default());
    for opts in [
        CheckOptions {
            dfs: true,
            ..CheckOptions::default()
        },
        CheckOptions {
            threads: 2,
            ..CheckOptions::default()
        },
    ] {
        let other = run(&s, &opts);
        assert!(other.ok(), "{}", other.summary());
        assert_eq!(other.unique_states, bfs.unique_states);
        for (a, b) in bfs.properties.iter().zip(&other.properties) {
            assert_eq!(a.name, b.name);
            assert_eq!(a.outcome, b.outcome, "{}", a.name);
            assert_eq!(a.relevance_reached, b.relevance_reached, "{}", a.name);
        }
        let m = model(&s);
        for p in other
            .properties
            .iter()
            .filter(|p| p.outcome == Outcome::Counterexample)
        {
            let path = p.encoded.clone().unwrap();
            let (prefix, _) = path.rsplit_once('/').unwrap();
            let cond = ALWAYS.iter().find(|a| a.name == p.name).unwrap().condition;
            let before = kafka_eos_model::model::check::replay(&m, prefix).unwrap();
            let at = kafka_eos_model::model::check::replay(&m, &path).unwrap();
            assert!(cond(&m, &before) && !cond(&m, &at), "{} {path}", p.name);
        }
    }
}

/// A run cut short by a state limit never claims "holds".
#[test]
fn truncated_run_never_claims_holds() {
    let s = Scenario::named("transactions").unwrap();
    let report = run(
        &s,
        &CheckOptions {
            max_states: Some(100),
            ..CheckOptions::default()
        },
    );
    assert!(!report.complete);
    assert!(!report.ok());
    assert!(report
        .properties
        .iter()
        .all(|p| p.outcome != Outcome::Holds && p.outcome != Outcome::NotReached));
}

/// The speed target (docs/model-budget.md): 2 partitions, 2 transactions of 2 records, a
/// restarted instance fencing the first at any point, Kafka's network, TV2. About 0.64 M
/// unique states (about 7 s here since the leaner states of docs/model-budget.md; it was
/// `#[ignore]`d at 20 to 70 s).
#[test]
fn transactions_zombie_tv2() {
    scenario_under("transactions-zombie", Protocol::Tv2);
}

/// The speed target under the old protocols is small (the second transaction aborts before
/// its AddPartitionsToTxn returns, so it writes nothing): in the default set.
#[test]
fn transactions_zombie_tv0() {
    scenario_under("transactions-zombie", Protocol::Tv0);
}

/// As [`transactions_zombie_tv0`], under KIP-890 part 1.
#[test]
fn transactions_zombie_tv1_verify() {
    scenario_under("transactions-zombie", Protocol::Tv1Verify);
}

/// Two transactional ids writing the same partitions, read by a read_committed consumer
/// (docs/model-budget.md): 0.23 to 0.31 M unique states per protocol (3 to 4 s each here
/// since the leaner states; they were `#[ignore]`d at about 20 s each).
mod two_writers {
    use super::*;

    /// TV2: every property holds, every probe is reached.
    #[test]
    fn tv2() {
        scenario_under("two-writers", Protocol::Tv2);
    }

    /// KIP-890 part 1 only.
    #[test]
    fn tv1_verify() {
        scenario_under("two-writers", Protocol::Tv1Verify);
    }

    /// The old protocol.
    #[test]
    fn tv0() {
        scenario_under("two-writers", Protocol::Tv0);
    }
}
