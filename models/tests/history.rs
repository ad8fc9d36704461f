//! The history checker on hand-made histories: one per anomaly (the checker must flag it,
//! with the records and events that prove it) and clean ones (it must flag nothing).

use kafka_eos_model::history::{
    self, check, parse, synthetic, to_jsonl, AnomalyKind, Builder, EventType, Isolation,
};

const RC: Isolation = Isolation::ReadCommitted;
const RU: Isolation = Isolation::ReadUncommitted;

/// The kinds found, in report order.
fn kinds(b: &Builder) -> Vec<AnomalyKind> {
    let r = check(b.events());
    r.counts().keys().copied().collect()
}

fn only(b: &Builder, kind: AnomalyKind) -> history::Anomaly {
    let r = check(b.events());
    let found: Vec<_> = r.of(kind).cloned().collect();
    assert!(
        !found.is_empty(),
        "expected {}, got {}",
        kind.name(),
        r.text(b.events(), 3)
    );
    found[0].clone()
}

#[test]
fn clean_idempotent_and_transactional_history_is_valid() {
    let mut b = Builder::new();
    b.assign(9, &[(0, 0), (1, 0)]);
    b.send(0, 0, 1, None, Some(0)).send(0, 0, 2, None, Some(1));
    b.begin(1, 0)
        .send(1, 0, 3, Some(0), Some(2))
        .send(1, 1, 4, Some(0), Some(0))
        .commit(1, 0, EventType::Ok);
    // The aborted transaction: its records take offsets 4 and 2 (markers at 3 and 1).
    b.begin(1, 1)
        .send(1, 0, 5, Some(1), Some(4))
        .send(1, 1, 6, Some(1), Some(2))
        .abort(1, 1);
    b.poll(9, RC, None, &[(0, 0, 1), (0, 1, 2), (0, 2, 3), (1, 0, 4)]);
    b.assign(8, &[(0, 0), (1, 0)]);
    b.poll(
        8,
        RU,
        None,
        &[
            (0, 0, 1),
            (0, 1, 2),
            (0, 2, 3),
            (0, 4, 5),
            (1, 0, 4),
            (1, 2, 6),
        ],
    );
    let r = check(b.events());
    assert!(r.valid(), "{}", r.text(b.events(), 5));
    assert!(r.anomalies.is_empty());
    assert_eq!(r.txns, (1, 1, 0));
}

#[test]
fn synthetic_history_is_valid_and_round_trips() {
    let events = synthetic(2_000, 7);
    let text = to_jsonl(&events);
    let back = parse(&text).expect("the generated history parses");
    assert_eq!(back, events);
    let r = check(&back);
    assert!(r.valid(), "{}", r.text(&back, 5));
    assert!(r.reads > 1000);
}

#[test]
fn duplicate_is_reported_with_both_offsets() {
    let mut b = Builder::new();
    b.send(0, 0, 1, None, Some(0));
    b.poll(1, RC, None, &[(0, 0, 1), (0, 1, 1)]);
    let a = only(&b, AnomalyKind::Duplicate);
    assert_eq!(a.records.len(), 2);
    assert_eq!(a.records[0].offset, Some(0));
    assert_eq!(a.records[1].offset, Some(1));
    assert_eq!(
        a.kind.property(),
        Some(kafka_eos_model::model::properties::S1)
    );
    assert!(!check(b.events()).valid());
}

#[test]
fn duplicate_inside_an_aborted_transaction_read_uncommitted_is_not_reported() {
    let mut b = Builder::new();
    b.begin(0, 0).send(0, 0, 1, Some(0), Some(1)).abort(0, 0);
    b.poll(1, RU, None, &[(0, 0, 1), (0, 1, 1)]);
    assert!(!kinds(&b).contains(&AnomalyKind::Duplicate));
}

#[test]
fn inconsistent_offsets() {
    let mut b = Builder::new();
    b.send(0, 0, 1, None, Some(0)).send(0, 0, 2, None, Some(1));
    b.poll(1, RC, None, &[(0, 0, 2)]);
    let a = only(&b, AnomalyKind::InconsistentOffsets);
    assert_eq!(a.records.len(), 2);
}

#[test]
fn lost_write_needs_a_read_past_it() {
    let mut b = Builder::new();
    b.assign(1, &[(0, 0)]);
    b.send(0, 0, 1, None, Some(0)).send(0, 0, 2, None, Some(1));
    b.poll(1, RC, None, &[(0, 1, 2)]);
    let ks = kinds(&b);
    assert!(ks.contains(&AnomalyKind::LostWrite), "{ks:?}");
    let a = only(&b, AnomalyKind::LostWrite);
    assert_eq!(a.records[0].value, 1);
    // Nobody read past offset 1: value 2 unseen, not lost.
    let mut b = Builder::new();
    b.send(0, 0, 1, None, Some(0)).send(0, 0, 2, None, Some(1));
    b.poll(1, RC, None, &[(0, 0, 1)]);
    assert_eq!(kinds(&b), vec![AnomalyKind::Unseen]);
    assert_eq!(only(&b, AnomalyKind::Unseen).records[0].value, 2);
}

#[test]
fn aborted_read_is_g1a() {
    let mut b = Builder::new();
    b.begin(0, 0).send(0, 0, 1, Some(0), Some(0)).abort(0, 0);
    b.poll(1, RC, None, &[(0, 0, 1)]);
    let a = only(&b, AnomalyKind::G1a);
    assert_eq!(
        a.kind.property(),
        Some(kafka_eos_model::model::properties::S11)
    );
    // read_uncommitted may read it.
    let mut b = Builder::new();
    b.begin(0, 0).send(0, 0, 1, Some(0), Some(0)).abort(0, 0);
    b.poll(1, RU, None, &[(0, 0, 1)]);
    assert!(kinds(&b).is_empty());
}

#[test]
fn crash_before_commit_aborts_and_its_read_is_g1a() {
    let mut b = Builder::new();
    b.begin(0, 0).send(0, 0, 1, Some(0), Some(0)).crash(0);
    b.poll(1, RC, None, &[(0, 0, 1)]);
    assert!(kinds(&b).contains(&AnomalyKind::G1a));
}

#[test]
fn read_before_commit_is_precommitted() {
    let mut b = Builder::new();
    b.begin(0, 0).send(0, 0, 1, Some(0), Some(0));
    b.poll(1, RC, None, &[(0, 0, 1)]);
    b.commit(0, 0, EventType::Ok);
    assert_eq!(kinds(&b), vec![AnomalyKind::PrecommittedRead]);
    // After the commit it is fine.
    let mut b = Builder::new();
    b.begin(0, 0).send(0, 0, 1, Some(0), Some(0));
    b.commit(0, 0, EventType::Ok);
    b.poll(1, RC, None, &[(0, 0, 1)]);
    assert!(kinds(&b).is_empty());
}

#[test]
fn poll_skip_across_polls_and_within_one() {
    let mut b = Builder::new();
    b.send(0, 0, 1, None, Some(0))
        .send(0, 0, 2, None, Some(1))
        .send(0, 0, 3, None, Some(2));
    b.poll(1, RC, None, &[(0, 0, 1)]);
    b.poll(1, RC, None, &[(0, 2, 3)]);
    b.poll(2, RC, None, &[(0, 0, 1), (0, 1, 2), (0, 2, 3)]);
    let ks = kinds(&b);
    assert!(ks.contains(&AnomalyKind::PollSkip), "{ks:?}");
    assert!(!ks.contains(&AnomalyKind::IntPollSkip));
    let mut b = Builder::new();
    b.send(0, 0, 1, None, Some(0))
        .send(0, 0, 2, None, Some(1))
        .send(0, 0, 3, None, Some(2));
    b.poll(1, RC, None, &[(0, 0, 1), (0, 2, 3)]);
    b.poll(2, RC, None, &[(0, 1, 2)]);
    assert!(kinds(&b).contains(&AnomalyKind::IntPollSkip));
}

#[test]
fn read_committed_skipping_aborted_records_is_not_a_skip() {
    let mut b = Builder::new();
    b.send(0, 0, 1, None, Some(0));
    b.begin(1, 0).send(1, 0, 2, Some(0), Some(1)).abort(1, 0);
    b.send(0, 0, 3, None, Some(3));
    b.poll(2, RC, None, &[(0, 0, 1), (0, 3, 3)]);
    b.poll(3, RU, None, &[(0, 0, 1), (0, 1, 2), (0, 3, 3)]);
    assert!(kinds(&b).is_empty(), "{:?}", kinds(&b));
}

#[test]
fn poll_skip_from_the_assigned_start() {
    let mut b = Builder::new();
    b.send(0, 0, 1, None, Some(0)).send(0, 0, 2, None, Some(1));
    b.assign(1, &[(0, 0)]);
    b.poll(1, RC, None, &[(0, 1, 2)]);
    let ks = kinds(&b);
    assert!(ks.contains(&AnomalyKind::PollSkip), "{ks:?}");
}

#[test]
fn nonmonotonic_poll_and_reset_by_assign() {
    let mut b = Builder::new();
    b.send(0, 0, 1, None, Some(0)).send(0, 0, 2, None, Some(1));
    b.poll(1, RC, None, &[(0, 0, 1), (0, 1, 2)]);
    b.poll(1, RC, None, &[(0, 1, 2)]);
    assert_eq!(kinds(&b), vec![AnomalyKind::NonmonotonicPoll]);
    let mut b = Builder::new();
    b.send(0, 0, 1, None, Some(0)).send(0, 0, 2, None, Some(1));
    b.poll(1, RC, None, &[(0, 1, 2), (0, 0, 1)]);
    assert!(kinds(&b).contains(&AnomalyKind::IntNonmonotonicPoll));
    // A seek back after an assign is allowed.
    let mut b = Builder::new();
    b.send(0, 0, 1, None, Some(0)).send(0, 0, 2, None, Some(1));
    b.poll(1, RC, None, &[(0, 0, 1), (0, 1, 2)]);
    b.assign(1, &[(0, 0)]);
    b.poll(1, RC, None, &[(0, 0, 1), (0, 1, 2)]);
    assert!(kinds(&b).is_empty());
}

#[test]
fn nonmonotonic_send_and_within_a_transaction() {
    let mut b = Builder::new();
    b.send(0, 0, 1, None, Some(5)).send(0, 0, 2, None, Some(4));
    b.poll(1, RU, None, &[(0, 4, 2), (0, 5, 1)]);
    assert_eq!(kinds(&b), vec![AnomalyKind::NonmonotonicSend]);
    let mut b = Builder::new();
    b.begin(0, 0)
        .send(0, 0, 1, Some(0), Some(5))
        .send(0, 0, 2, Some(0), Some(4))
        .commit(0, 0, EventType::Ok);
    b.poll(1, RU, None, &[(0, 4, 2), (0, 5, 1)]);
    assert_eq!(kinds(&b), vec![AnomalyKind::IntNonmonotonicSend]);
}

#[test]
fn torn_transaction() {
    let mut b = Builder::new();
    b.begin(0, 0)
        .send(0, 0, 1, Some(0), Some(0))
        .send(0, 1, 2, Some(0), Some(0))
        .commit(0, 0, EventType::Ok);
    b.send(2, 1, 3, None, Some(2));
    b.assign(1, &[(0, 0), (1, 0)]);
    b.poll(1, RC, None, &[(0, 0, 1), (1, 2, 3)]);
    let ks = kinds(&b);
    assert!(ks.contains(&AnomalyKind::TornTransaction), "{ks:?}");
    assert!(ks.contains(&AnomalyKind::LostWrite), "{ks:?}");
    let a = only(&b, AnomalyKind::TornTransaction);
    assert_eq!(a.records.len(), 2);
    assert_eq!(
        a.kind.property(),
        Some(kafka_eos_model::model::properties::S9)
    );
}

#[test]
fn g0_write_cycle_is_reported_but_not_invalid() {
    // T0 before T1 on partition 0, T1 before T0 on partition 1.
    let mut b = Builder::new();
    b.begin(0, 0).begin(1, 0);
    b.send(0, 0, 1, Some(0), Some(0))
        .send(1, 0, 2, Some(0), Some(1))
        .send(1, 1, 3, Some(0), Some(0))
        .send(0, 1, 4, Some(0), Some(1));
    b.commit(0, 0, EventType::Ok).commit(1, 0, EventType::Ok);
    b.poll(2, RC, None, &[(0, 0, 1), (0, 1, 2), (1, 0, 3), (1, 1, 4)]);
    let r = check(b.events());
    assert_eq!(
        r.of(AnomalyKind::G0).count(),
        1,
        "{}",
        r.text(b.events(), 3)
    );
    assert!(r.valid());
}

#[test]
fn g1c_cycle_through_a_read() {
    // T1 (process 1) writes 2 at p1@0 first, then reads T0's value 1; T0 wrote 1 at p0 and
    // 3 at p1@1 (after T1's write): T0 -wr-> T1 -ww-> T0.
    let mut b = Builder::new();
    b.begin(0, 0).begin(1, 0);
    b.send(1, 1, 2, Some(0), Some(0));
    b.send(0, 0, 1, Some(0), Some(0))
        .send(0, 1, 3, Some(0), Some(1));
    b.commit(0, 0, EventType::Ok);
    b.poll(1, RC, Some(0), &[(0, 0, 1)]);
    b.commit(1, 0, EventType::Ok);
    b.poll(2, RC, None, &[(0, 0, 1), (1, 0, 2), (1, 1, 3)]);
    let r = check(b.events());
    assert_eq!(
        r.of(AnomalyKind::G1c).count(),
        1,
        "{}",
        r.text(b.events(), 3)
    );
    assert_eq!(r.of(AnomalyKind::G0).count(), 0);
}

#[test]
fn malformed_histories_are_reported() {
    let mut b = Builder::new();
    b.send(0, 0, 1, None, Some(0)).send(1, 0, 1, None, Some(1));
    let r = check(b.events());
    assert!(!r.malformed.is_empty());
    assert!(!r.valid());
    assert!(parse("{\"process\":0}\n").is_err());
}

#[test]
fn json_and_html_reports_name_the_anomaly() {
    let mut b = Builder::new();
    b.begin(0, 0).send(0, 0, 1, Some(0), Some(0)).abort(0, 0);
    b.poll(1, RC, None, &[(0, 0, 1)]);
    let r = check(b.events());
    let j = r.json();
    assert_eq!(j["valid"], false);
    assert_eq!(j["anomalies"][0]["type"], "G1a");
    assert_eq!(j["anomalies"][0]["property"], "S11 no aborted read");
    let html = history::html::render(b.events(), &r);
    assert!(html.contains("G1a") && html.contains("<svg"));
}

#[test]
fn a_rebalance_inside_a_poll_resets_the_order_checks() {
    use kafka_eos_model::history::{Assign, Event, Op, Poll};
    let mut b = Builder::new();
    b.send(0, 0, 1, None, Some(0)).send(0, 0, 2, None, Some(1));
    b.poll(1, RC, None, &[(0, 0, 1), (0, 1, 2)]);
    let mut events = b.build();
    let poll = |kind, records: Vec<(i64, u64)>| {
        Event::new(
            1,
            100,
            kind,
            Op::Poll(Poll {
                isolation: RC,
                records: [(0, records)].into_iter().collect(),
                positions: Default::default(),
                txn: None,
            }),
        )
    };
    events.push(poll(EventType::Invoke, Vec::new()));
    events.push(Event::new(
        1,
        101,
        EventType::Info,
        Op::Rebalance(Assign {
            partitions: vec![0],
            ..Assign::default()
        }),
    ));
    events.push(poll(EventType::Ok, vec![(0, 1), (1, 2)]));
    let r = check(&events);
    assert!(r.malformed.is_empty(), "{:?}", r.malformed);
    assert!(r.anomalies.is_empty(), "{}", r.text(&events, 3));
}

#[test]
fn commit_after_a_failed_send_is_reported() {
    let mut b = Builder::new();
    b.begin(0, 0)
        .send(0, 0, 1, Some(0), Some(0))
        .send_failed(0, 1, 2, Some(0))
        .commit(0, 0, EventType::Ok);
    b.assign(1, &[(0, 0), (1, 0)]);
    b.poll(1, RC, None, &[(0, 0, 1)]);
    assert_eq!(kinds(&b), vec![AnomalyKind::CommitWithFailedSend]);
    let a = only(&b, AnomalyKind::CommitWithFailedSend);
    assert_eq!(a.records[0].value, 2);
    assert_eq!(
        a.kind.property(),
        Some(kafka_eos_model::model::properties::S19)
    );
}
