//! Property tests of the partition leader: random sequences of produce / marker / expiry /
//! verification / fetch over small id, epoch and sequence domains (with values at the integer
//! edges) never panic, and the leader's invariants hold after every step.

use proptest::prelude::*;

use kafka_eos::partition::{
    consumer_records, AppendOutcome, BatchContent, IsolationLevel, PartitionBugs, PartitionConfig,
    PartitionLeader, ProduceBatch, TxnMarker, VerificationGuard,
};
use kafka_eos::{TransactionResult, TransactionVersion};

#[derive(Clone, Debug)]
enum GuardChoice {
    None,
    Latest,
    Old(usize),
}

#[derive(Clone, Debug)]
enum Op {
    Produce {
        pid: i64,
        epoch: i16,
        seq: i32,
        count: i32,
        txn: bool,
        guard: GuardChoice,
    },
    Verify {
        pid: i64,
        epoch: i16,
        seq: i32,
        bump: bool,
    },
    Marker {
        pid: i64,
        epoch: i16,
        coordinator_epoch: i32,
        abort: bool,
        tv2: bool,
    },
    Expire {
        advance: i64,
    },
    Fetch {
        from: i64,
        committed: bool,
    },
}

fn pid() -> impl Strategy<Value = i64> {
    prop_oneof![8 => 0i64..3, 1 => Just(-1i64), 1 => Just(i64::MAX)]
}

fn epoch() -> impl Strategy<Value = i16> {
    prop_oneof![8 => 0i16..3, 1 => Just(i16::MAX - 1), 1 => Just(i16::MAX)]
}

fn seq() -> impl Strategy<Value = i32> {
    prop_oneof![
        8 => 0i32..6,
        1 => (i32::MAX - 2)..=i32::MAX,
        1 => Just(-1i32),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let guard = prop_oneof![
        1 => Just(GuardChoice::None),
        6 => Just(GuardChoice::Latest),
        2 => (0usize..8).prop_map(GuardChoice::Old),
    ];
    prop_oneof![
        8 => (pid(), epoch(), seq(), prop_oneof![9 => 1i32..4, 1 => Just(0i32), 1 => Just(i32::MAX)], any::<bool>(), guard)
            .prop_map(|(pid, epoch, seq, count, txn, guard)| Op::Produce { pid, epoch, seq, count, txn, guard }),
        3 => (pid(), epoch(), seq(), any::<bool>())
            .prop_map(|(pid, epoch, seq, bump)| Op::Verify { pid, epoch, seq, bump }),
        3 => (pid(), epoch(), 0i32..3, any::<bool>(), any::<bool>())
            .prop_map(|(pid, epoch, coordinator_epoch, abort, tv2)| Op::Marker { pid, epoch, coordinator_epoch, abort, tv2 }),
        1 => prop_oneof![Just(0i64), Just(1000), Just(86_400_000)].prop_map(|advance| Op::Expire { advance }),
        2 => (0i64..40, any::<bool>()).prop_map(|(from, committed)| Op::Fetch { from, committed }),
    ]
}

type Leader = PartitionLeader<u8>;

fn check_invariants(l: &Leader) -> Result<(), TestCaseError> {
    prop_assert_eq!(l.high_watermark(), l.log_end_offset());
    prop_assert!(l.last_stable_offset() <= l.high_watermark());
    if let Some(fuo) = l.first_unstable_offset() {
        prop_assert!(fuo < l.log_end_offset());
        prop_assert!(l.last_stable_offset() <= fuo);
    }
    // Offsets in the log are contiguous from 0 up to the log end.
    let mut next = 0i64;
    for b in l.log() {
        prop_assert_eq!(b.base_offset, next);
        prop_assert!(b.last_offset >= b.base_offset);
        next = b.last_offset + 1;
    }
    prop_assert_eq!(next, l.log_end_offset());
    // An open transaction in an entry <=> an ongoing transaction at that first offset.
    for e in l.producers().values() {
        if let Some(first) = e.current_txn_first_offset {
            let t = l.ongoing_transactions().get(&first);
            prop_assert!(t.is_some_and(|t| t.producer_id == e.producer_id));
        }
        prop_assert!(e.batches().len() <= 5);
    }
    for t in l.ongoing_transactions().values() {
        let e = l.producer(t.producer_id);
        prop_assert!(e.is_some_and(|e| e.current_txn_first_offset == Some(t.first_offset)));
    }
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    run_with(PartitionConfig::default(), ops, true)
}

/// Runs `ops`; with `strict` every invariant is checked, otherwise (bug switches on) only that
/// nothing panics and the log stays contiguous.
fn run_with(config: PartitionConfig, ops: Vec<Op>, strict: bool) -> Result<(), TestCaseError> {
    let mut l: Leader = PartitionLeader::new(config);
    let mut now = 0i64;
    let mut guards: Vec<VerificationGuard> = Vec::new();
    for op in ops {
        let before = l.clone();
        if !strict {
            apply_unchecked(&mut l, op, &mut now, &mut guards);
            let mut next = 0i64;
            for b in l.log() {
                prop_assert_eq!(b.base_offset, next);
                next = b.last_offset + 1;
            }
            prop_assert_eq!(next, l.log_end_offset());
            continue;
        }
        match op {
            Op::Produce {
                pid,
                epoch,
                seq,
                count,
                txn,
                guard,
            } => {
                let g = match guard {
                    GuardChoice::None => None,
                    GuardChoice::Latest => guards.last().copied(),
                    GuardChoice::Old(i) => guards.get(i).copied(),
                };
                let batch = ProduceBatch {
                    producer_id: pid,
                    producer_epoch: epoch,
                    base_sequence: seq,
                    record_count: count,
                    is_transactional: txn,
                    max_timestamp: now,
                    payload: 1,
                };
                match l.append(batch, g) {
                    Err(_) => prop_assert_eq!(&l, &before),
                    Ok(AppendOutcome::Duplicate {
                        base_offset,
                        last_offset,
                    }) => {
                        prop_assert_eq!(&l, &before);
                        let found = l.log().iter().any(|b| {
                            b.base_offset == base_offset
                                && b.last_offset == last_offset
                                && b.producer_id == pid
                                && b.producer_epoch == epoch
                                && b.base_sequence == seq
                                && matches!(b.content, BatchContent::Data(_))
                        });
                        prop_assert!(found, "duplicate of a batch not in the log");
                    }
                    Ok(AppendOutcome::Appended {
                        base_offset,
                        last_offset,
                    }) => {
                        prop_assert_eq!(base_offset, before.log_end_offset());
                        prop_assert_eq!(last_offset + 1, l.log_end_offset());
                    }
                }
            }
            Op::Verify {
                pid,
                epoch,
                seq,
                bump,
            } => match l.start_verification(pid, epoch, seq, bump, now) {
                Ok(g) => guards.push(g),
                Err(_) => prop_assert_eq!(&l, &before),
            },
            Op::Marker {
                pid,
                epoch,
                coordinator_epoch,
                abort,
                tv2,
            } => {
                let m = TxnMarker {
                    producer_id: pid,
                    producer_epoch: epoch,
                    coordinator_epoch,
                    result: if abort {
                        TransactionResult::Abort
                    } else {
                        TransactionResult::Commit
                    },
                    timestamp: now,
                    transaction_version: if tv2 {
                        TransactionVersion::Tv2
                    } else {
                        TransactionVersion::Tv1
                    },
                };
                match l.write_marker(m) {
                    Err(_) => prop_assert_eq!(&l, &before),
                    Ok(offset) => {
                        prop_assert_eq!(offset, before.log_end_offset());
                        let e = l.producer(pid).unwrap();
                        prop_assert_eq!(e.current_txn_first_offset, None);
                    }
                }
            }
            Op::Expire { advance } => {
                now += advance;
                let expired = l.expire_producers(now);
                prop_assert!(expired.windows(2).all(|w| w[0] < w[1]));
                for (pid, e) in before.producers() {
                    if e.current_txn_first_offset.is_some() {
                        prop_assert!(l.producer(*pid).is_some(), "open transaction expired");
                    }
                }
            }
            Op::Fetch { from, committed } => {
                let isolation = if committed {
                    IsolationLevel::ReadCommitted
                } else {
                    IsolationLevel::ReadUncommitted
                };
                match l.fetch(from, isolation) {
                    Err(_) => prop_assert!(from > l.log_end_offset()),
                    Ok(f) => {
                        let recs: Vec<_> =
                            consumer_records(&f, isolation, from).take(2000).collect();
                        let bound = if committed {
                            l.last_stable_offset()
                        } else {
                            l.high_watermark()
                        };
                        prop_assert!(recs.windows(2).all(|w| w[0].offset < w[1].offset));
                        prop_assert!(recs.iter().all(|r| r.offset >= from && r.offset < bound));
                    }
                }
                prop_assert_eq!(&l, &before);
            }
        }
        // Producer epochs never decrease for an entry that survives the step.
        for (pid, e) in before.producers() {
            if let Some(after) = l.producer(*pid) {
                prop_assert!(after.producer_epoch >= e.producer_epoch);
            }
        }
        check_invariants(&l)?;
    }
    Ok(())
}

fn apply_unchecked(l: &mut Leader, op: Op, now: &mut i64, guards: &mut Vec<VerificationGuard>) {
    match op {
        Op::Produce {
            pid,
            epoch,
            seq,
            count,
            txn,
            guard,
        } => {
            let g = match guard {
                GuardChoice::None => None,
                GuardChoice::Latest => guards.last().copied(),
                GuardChoice::Old(i) => guards.get(i).copied(),
            };
            let _ = l.append(
                ProduceBatch {
                    producer_id: pid,
                    producer_epoch: epoch,
                    base_sequence: seq,
                    record_count: count,
                    is_transactional: txn,
                    max_timestamp: *now,
                    payload: 1,
                },
                g,
            );
        }
        Op::Verify {
            pid,
            epoch,
            seq,
            bump,
        } => {
            if let Ok(g) = l.start_verification(pid, epoch, seq, bump, *now) {
                guards.push(g);
            }
        }
        Op::Marker {
            pid,
            epoch,
            coordinator_epoch,
            abort,
            tv2,
        } => {
            let _ = l.write_marker(TxnMarker {
                producer_id: pid,
                producer_epoch: epoch,
                coordinator_epoch,
                result: if abort {
                    TransactionResult::Abort
                } else {
                    TransactionResult::Commit
                },
                timestamp: *now,
                transaction_version: if tv2 {
                    TransactionVersion::Tv2
                } else {
                    TransactionVersion::Tv1
                },
            });
        }
        Op::Expire { advance } => {
            *now += advance;
            l.expire_producers(*now);
        }
        Op::Fetch { from, committed } => {
            let isolation = if committed {
                IsolationLevel::ReadCommitted
            } else {
                IsolationLevel::ReadUncommitted
            };
            if let Ok(f) = l.fetch(from, isolation) {
                let _ = consumer_records(&f, isolation, from).take(2000).count();
            }
        }
    }
}

fn bugs() -> impl Strategy<Value = PartitionBugs> {
    (any::<[bool; 9]>(), proptest::option::of(0u8..7)).prop_map(|(b, duplicate_window)| {
        PartitionBugs {
            no_sequence_check: b[0],
            duplicate_window,
            allow_sequence_gap: b[1],
            no_epoch_check: b[2],
            no_coordinator_epoch_check: b[3],
            marker_match_pid_only: b[4],
            expire_ignoring_markers: b[5],
            no_aborted_filter: b[6],
            lso_ignores_open_transactions: b[7],
            strict_marker_rejects_retry: b[8],
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_the_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }

    #[test]
    fn random_operations_with_bug_switches_never_panic(
        bugs in bugs(),
        strict in any::<bool>(),
        verification in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let config = PartitionConfig {
            bugs,
            strict_tv2_marker_epoch: strict,
            transaction_verification: verification,
            ..PartitionConfig::default()
        };
        run_with(config, ops, false)?;
    }

    #[test]
    fn without_bugs_strict_and_unverified_configs_keep_the_invariants(
        strict in any::<bool>(),
        verification in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let config = PartitionConfig {
            strict_tv2_marker_epoch: strict,
            transaction_verification: verification,
            ..PartitionConfig::default()
        };
        run_with(config, ops, true)?;
    }
}
