//! The model's counterexamples exported as client histories: the history checker must flag
//! what each bug switch breaks, as a client could observe it.

use kafka_eos_model::history::{check, export, AnomalyKind};
use kafka_eos_model::model::bugs::KnownBug;
use kafka_eos_model::model::scenario::Scenario;

/// The anomaly kinds the checker finds in the exported counterexamples of `scenario` with
/// `bug`, per violated property.
fn flagged(scenario: &str, bug: &str) -> Vec<(&'static str, Vec<AnomalyKind>)> {
    let bug = KnownBug::from_name(bug).expect("a bug switch");
    let s = Scenario::named(scenario).expect("a scenario").with_bug(bug);
    let exported = export::counterexamples(&s);
    assert!(!exported.is_empty(), "the bug must give a counterexample");
    exported
        .iter()
        .map(|(p, events)| {
            let r = check(events);
            assert!(r.malformed.is_empty(), "{p}: {:?}", r.malformed);
            (*p, r.counts().keys().copied().collect())
        })
        .collect()
}

fn any(found: &[(&str, Vec<AnomalyKind>)], kind: AnomalyKind) -> bool {
    found.iter().any(|(_, ks)| ks.contains(&kind))
}

#[test]
fn no_sequence_check_exports_a_duplicate() {
    let found = flagged("idempotent", "no-sequence-check");
    assert!(any(&found, AnomalyKind::Duplicate), "{found:?}");
}

#[test]
fn lso_ignoring_open_transactions_exports_an_aborted_read() {
    let found = flagged("transactions", "lso-ignores-open-transactions");
    assert!(any(&found, AnomalyKind::G1a), "{found:?}");
}

#[test]
fn no_aborted_filter_exports_an_uncommitted_read() {
    let found = flagged("transactions", "no-aborted-filter");
    assert!(
        any(&found, AnomalyKind::PrecommittedRead) || any(&found, AnomalyKind::G1a),
        "{found:?}"
    );
}

#[test]
fn marker_matching_pid_only_exports_a_torn_transaction() {
    let found = flagged("late-marker", "marker-match-pid-only");
    assert!(any(&found, AnomalyKind::TornTransaction), "{found:?}");
}

#[test]
fn abort_after_commit_timeout_exports_an_aborted_read() {
    let found = flagged("late-endtxn", "abort-after-commit-timeout");
    assert!(any(&found, AnomalyKind::G1a), "{found:?}");
}

#[test]
fn kafka_9279_exports_a_commit_after_a_failed_send() {
    let found = flagged("hanging-txn", "kafka-9279");
    assert!(any(&found, AnomalyKind::CommitWithFailedSend), "{found:?}");
}

#[test]
fn a_path_without_a_bug_exports_a_clean_history() {
    // The shortest path to the first acknowledged record of the plain idempotent scenario:
    // walk the first enabled action until a record is acknowledged, then export.
    let s = Scenario::named("idempotent").expect("a scenario");
    let m = kafka_eos_model::model::model(&s);
    // The longest all-first-action path (up to 40 steps) the model has.
    let mut len = 1;
    while len < 41 && export::from_path(&m, &vec![0usize; len + 1]).is_some() {
        len += 1;
    }
    let path = vec![0usize; len];
    let events = export::from_path(&m, &path).expect("a path of the model");
    let r = check(&events);
    assert!(r.valid(), "{}", r.text(&events, 3));
    assert!(r.sends_ok > 0, "the path acknowledges a record: {path:?}");
}
