//! Recovery of a partition leader (`PartitionLeader::recover`, Kafka's
//! `UnifiedLog.rebuildProducerState` from a `ProducerStateManager` snapshot plus the log tail):
//! after any sequence of appends and markers, the leader rebuilt from the snapshot taken at any
//! point plus the whole log (and the aborted index below the snapshot) equals the live one in
//! its producer state, ongoing transactions, LSO, HW, aborted index and log; and it then answers
//! retries, next sequences and stale epochs as the live leader does.

use proptest::prelude::*;

use kafka_eos::partition::{
    AppendOutcome, PartitionBugs, PartitionConfig, PartitionLeader, ProduceBatch,
    ProducerStateSnapshot, RecoveryError, TxnMarker,
};
use kafka_eos::{ErrorCode, TransactionResult, TransactionVersion};

#[derive(Clone, Debug)]
enum Op {
    Produce {
        pid: i64,
        epoch: i16,
        seq: i32,
        count: i32,
        txn: bool,
    },
    Marker {
        pid: i64,
        epoch: i16,
        coordinator_epoch: i32,
        abort: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (-1i64..3, 0i16..3, 0i32..8, 1i32..4, any::<bool>())
            .prop_map(|(pid, epoch, seq, count, txn)| Op::Produce { pid, epoch, seq, count, txn }),
        2 => (0i64..3, 0i16..3, 0i32..3, any::<bool>())
            .prop_map(|(pid, epoch, coordinator_epoch, abort)| Op::Marker { pid, epoch, coordinator_epoch, abort }),
    ]
}

fn batch(pid: i64, epoch: i16, seq: i32, count: i32, txn: bool, ts: i64) -> ProduceBatch<u32> {
    ProduceBatch {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        record_count: count,
        is_transactional: txn,
        max_timestamp: ts,
        payload: 7,
    }
}

/// Applies one op as a client and a coordinator would (a transactional batch is verified first).
fn apply(leader: &mut PartitionLeader<u32>, op: &Op, now: i64) {
    match *op {
        Op::Produce {
            pid,
            epoch,
            seq,
            count,
            txn,
        } => {
            let guard = if txn && pid >= 0 {
                leader.start_verification(pid, epoch, seq, false, now).ok()
            } else {
                None
            };
            let _ = leader.append(batch(pid, epoch, seq, count, txn, now), guard);
        }
        Op::Marker {
            pid,
            epoch,
            coordinator_epoch,
            abort,
        } => {
            let _ = leader.write_marker(TxnMarker {
                producer_id: pid,
                producer_epoch: epoch,
                coordinator_epoch,
                result: if abort {
                    TransactionResult::Abort
                } else {
                    TransactionResult::Commit
                },
                timestamp: now,
                transaction_version: TransactionVersion::Tv1,
            });
        }
    }
}

/// Everything the recovery must rebuild (not the in-memory-only verification entries).
fn assert_same(recovered: &PartitionLeader<u32>, live: &PartitionLeader<u32>) {
    assert_eq!(recovered.log(), live.log());
    assert_eq!(recovered.log_end_offset(), live.log_end_offset());
    assert_eq!(recovered.high_watermark(), live.high_watermark());
    assert_eq!(recovered.producers(), live.producers());
    assert_eq!(
        recovered.ongoing_transactions(),
        live.ongoing_transactions()
    );
    assert_eq!(
        recovered.first_unstable_offset(),
        live.first_unstable_offset()
    );
    assert_eq!(recovered.last_stable_offset(), live.last_stable_offset());
    assert_eq!(recovered.aborted_index(), live.aborted_index());
}

fn recover(
    config: PartitionConfig,
    live: &PartitionLeader<u32>,
    snapshot: Option<ProducerStateSnapshot>,
) -> Result<PartitionLeader<u32>, RecoveryError> {
    PartitionLeader::recover(
        config,
        live.log().to_vec(),
        live.aborted_index().to_vec(),
        snapshot,
        1_000,
    )
}

fn run(config: PartitionConfig, ops: &[Op]) {
    let mut live = PartitionLeader::new(config);
    let mut snapshots = vec![live.producer_state_snapshot()];
    for (i, op) in ops.iter().enumerate() {
        apply(&mut live, op, i64::try_from(i).unwrap_or(0));
        snapshots.push(live.producer_state_snapshot());
    }
    assert_same(&recover(config, &live, None).unwrap(), &live);
    for snapshot in snapshots {
        let recovered = recover(config, &live, Some(snapshot)).unwrap();
        assert_same(&recovered, &live);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every snapshot point (and none: the whole log replayed) rebuilds the live leader.
    #[test]
    fn recovery_from_any_snapshot_point_rebuilds_the_leader(ops in prop::collection::vec(op(), 0..40)) {
        run(PartitionConfig::default(), &ops);
    }

    /// The same with the state-changing known-bug switches on: the replay follows the leader.
    #[test]
    fn recovery_follows_the_leader_under_bug_switches(
        ops in prop::collection::vec(op(), 0..30),
        no_sequence_check in any::<bool>(),
        no_epoch_check in any::<bool>(),
        marker_match_pid_only in any::<bool>(),
        expire_ignoring_markers in any::<bool>(),
    ) {
        let config = PartitionConfig {
            bugs: PartitionBugs {
                no_sequence_check,
                no_epoch_check,
                marker_match_pid_only,
                expire_ignoring_markers,
                ..PartitionBugs::default()
            },
            ..PartitionConfig::default()
        };
        run(config, &ops);
    }
}

/// Builds a leader with an idempotent producer (5 batches), a committed and an aborted
/// transaction of producer 2, and an open transaction of producer 3.
fn sample() -> PartitionLeader<u32> {
    let mut leader = PartitionLeader::new(PartitionConfig::default());
    for i in 0..6 {
        leader
            .append(batch(1, 0, i * 2, 2, false, 10), None)
            .unwrap();
    }
    for (abort, epoch) in [(false, 0), (true, 0)] {
        let seq = if abort { 1 } else { 0 };
        let guard = leader.start_verification(2, epoch, seq, false, 10).unwrap();
        leader
            .append(batch(2, epoch, seq, 1, true, 10), Some(guard))
            .unwrap();
        leader
            .write_marker(TxnMarker {
                producer_id: 2,
                producer_epoch: epoch,
                coordinator_epoch: 0,
                result: if abort {
                    TransactionResult::Abort
                } else {
                    TransactionResult::Commit
                },
                timestamp: 11,
                transaction_version: TransactionVersion::Tv1,
            })
            .unwrap();
    }
    let guard = leader.start_verification(3, 0, 0, false, 12).unwrap();
    leader
        .append(batch(3, 0, 0, 3, true, 12), Some(guard))
        .unwrap();
    leader
}

#[test]
fn a_recovered_leader_answers_retries_sequences_and_epochs_as_before() {
    let live = sample();
    let snapshot = live.producer_state_snapshot();
    let mut recovered = recover(PartitionConfig::default(), &live, Some(snapshot)).unwrap();
    assert_same(&recovered, &live);
    // The open transaction pins the LSO at its first offset.
    assert_eq!(recovered.last_stable_offset(), 16);
    // A retry of the oldest retained batch is still a duplicate with its original offsets.
    assert_eq!(
        recovered.append(batch(1, 0, 2, 2, false, 20), None),
        Ok(AppendOutcome::Duplicate {
            base_offset: 2,
            last_offset: 3
        })
    );
    // The next sequence is accepted, a gap is not, an old epoch is fenced.
    assert_eq!(
        recovered.append(batch(1, 0, 14, 1, false, 20), None),
        Err(ErrorCode::OutOfOrderSequenceNumber)
    );
    assert!(matches!(
        recovered.append(batch(1, 0, 12, 1, false, 20), None),
        Ok(AppendOutcome::Appended { .. })
    ));
    recovered
        .write_marker(TxnMarker {
            producer_id: 2,
            producer_epoch: 1,
            coordinator_epoch: 0,
            result: TransactionResult::Abort,
            timestamp: 21,
            transaction_version: TransactionVersion::Tv1,
        })
        .unwrap();
    assert_eq!(
        recovered.append(batch(2, 0, 2, 1, false, 22), None),
        Err(ErrorCode::InvalidProducerEpoch)
    );
}

#[test]
fn expired_producers_are_dropped_when_the_snapshot_is_loaded() {
    let live = sample();
    let snapshot = live.producer_state_snapshot();
    let config = PartitionConfig::default();
    let late = 12 + config.producer_id_expiration_ms;
    let recovered = PartitionLeader::recover(
        config,
        live.log().to_vec(),
        Vec::new(),
        Some(snapshot),
        late,
    )
    .unwrap();
    // Producers 1 and 2 have no open transaction and are expired; 3 is in a transaction.
    assert_eq!(
        recovered.producers().keys().copied().collect::<Vec<_>>(),
        vec![3]
    );
    assert_eq!(recovered.last_stable_offset(), 16);
}

#[test]
fn a_snapshot_inside_a_batch_or_past_the_log_is_refused() {
    let live = sample();
    let mut snapshot = live.producer_state_snapshot();
    snapshot.offset = 1;
    assert!(matches!(
        recover(PartitionConfig::default(), &live, Some(snapshot.clone())),
        Err(RecoveryError::SnapshotNotAtBatchBoundary { .. })
    ));
    snapshot.offset = live.log_end_offset() + 1;
    assert!(matches!(
        recover(PartitionConfig::default(), &live, Some(snapshot)),
        Err(RecoveryError::SnapshotNotAtBatchBoundary { .. })
    ));
    let mut log = live.log().to_vec();
    log.swap(0, 1);
    assert!(matches!(
        PartitionLeader::<u32>::recover(PartitionConfig::default(), log, Vec::new(), None, 0),
        Err(RecoveryError::OffsetsNotIncreasing { .. })
    ));
}
