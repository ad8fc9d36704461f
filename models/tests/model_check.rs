//! Exhaustive checks of every named scenario under every protocol and of every known-bug
//! switch, with their summaries snapshotted (BFS, one thread: counts and shortest
//! counterexamples are deterministic; no timings).

use kafka_eos_model::model::bugs::{BUGS, PROTOCOL_BUGS};
use kafka_eos_model::model::check::{run, CheckOptions, Outcome};
use kafka_eos_model::model::properties::ALWAYS;
use kafka_eos_model::model::scenario::{Protocol, Scenario};
use kafka_eos_model::model::scenarios::NAMES;

fn check(s: &Scenario) -> String {
    let report = run(s, &CheckOptions::default());
    let summary = report.summary();
    assert!(report.complete, "run cut short:\n{summary}");
    assert!(report.ok(), "unexpected verdicts:\n{summary}");
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
        .map(|(n, _)| *n)
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
/// restarted instance fencing the first at any point, Kafka's network, TV2. About 0.77 M
/// unique states (20 to 70 s here), so not in the default test set.
#[test]
#[ignore]
fn transactions_zombie_tv2() {
    scenario_under("transactions-zombie", Protocol::Tv2);
}
