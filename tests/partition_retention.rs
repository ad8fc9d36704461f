//! The log start offset (`docs/partition.md` section 4.7): DeleteRecords as
//! `Partition.deleteRecordsOnLeader` and `UnifiedLog.maybeIncrementLogStartOffset` do it, and
//! what it does to fetch, ListOffsets, the LSO, the aborted list and the producer state.

use kafka_eos::messages::OffsetSpec;
use kafka_eos::partition::{
    cleanup_policy_allows_delete, consumer_records, AppendOutcome, IsolationLevel, PartitionConfig,
    PartitionError, PartitionLeader, ProduceBatch, RetentionError, TxnMarker,
    DELETE_RECORDS_HIGH_WATERMARK,
};
use kafka_eos::{ErrorCode, TransactionResult, TransactionVersion};

type Leader = PartitionLeader<u32>;

fn leader() -> Leader {
    PartitionLeader::new(PartitionConfig::default())
}

fn batch(pid: i64, seq: i32, count: i32, txn: bool, ts: i64) -> ProduceBatch<u32> {
    ProduceBatch {
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: seq,
        record_count: count,
        is_transactional: txn,
        max_timestamp: ts,
        payload: 7,
    }
}

fn produce(l: &mut Leader, pid: i64, seq: i32, count: i32) -> Result<AppendOutcome, ErrorCode> {
    l.append(batch(pid, seq, count, false, 0), None)
}

fn produce_txn(l: &mut Leader, pid: i64, seq: i32, count: i32) -> Result<AppendOutcome, ErrorCode> {
    let guard = l.start_verification(pid, 0, seq, false, 0)?;
    l.append(batch(pid, seq, count, true, 0), Some(guard))
}

fn marker(l: &mut Leader, pid: i64, result: TransactionResult) -> i64 {
    l.write_marker(TxnMarker {
        producer_id: pid,
        producer_epoch: 0,
        coordinator_epoch: 0,
        result,
        timestamp: 0,
        transaction_version: TransactionVersion::Tv1,
    })
    .unwrap()
}

fn offsets(l: &Leader, from: i64, isolation: IsolationLevel) -> Vec<i64> {
    let f = l.fetch(from, isolation).unwrap();
    consumer_records(&f, isolation, from)
        .map(|r| r.offset)
        .collect()
}

/// Three idempotent batches at [0,2], [3,5], [6,8].
fn three_batches() -> Leader {
    let mut l = leader();
    for i in 0..3 {
        produce(&mut l, 1, i * 3, 3).unwrap();
    }
    l
}

// Partition.deleteRecordsOnLeader: -1 is the high watermark; the low watermark is returned.
#[test]
fn minus_one_deletes_up_to_the_high_watermark() {
    let mut l = three_batches();
    assert_eq!(l.delete_records(DELETE_RECORDS_HIGH_WATERMARK), Ok(9));
    assert_eq!(l.log_start_offset(), 9);
    assert!(l.log().is_empty());
    assert_eq!(
        l.list_offsets(OffsetSpec::Earliest, IsolationLevel::ReadUncommitted),
        9
    );
    assert_eq!(
        offsets(&l, 9, IsolationLevel::ReadUncommitted),
        Vec::<i64>::new()
    );
}

// UnifiedLog.maybeIncrementLogStartOffset: beyond the HW is OFFSET_OUT_OF_RANGE; so is a
// negative offset other than -1 (Partition.deleteRecordsOnLeader). Nothing changes.
#[test]
fn beyond_the_high_watermark_or_negative_is_offset_out_of_range() {
    let mut l = three_batches();
    let before = l.clone();
    for bad in [10, -2] {
        let e = l.delete_records(bad).unwrap_err();
        assert_eq!(
            e,
            RetentionError::OffsetOutOfRange {
                offset: bad,
                high_watermark: 9
            }
        );
        assert_eq!(e.code(), ErrorCode::OffsetOutOfRange);
        assert_eq!(e.code().code(), 1);
    }
    assert_eq!(l, before);
}

// The log start offset never moves down; the answer is the current one.
#[test]
fn a_lower_offset_changes_nothing() {
    let mut l = three_batches();
    assert_eq!(l.delete_records(4), Ok(4));
    let before = l.clone();
    assert_eq!(l.delete_records(2), Ok(4));
    assert_eq!(l.maybe_increment_log_start_offset(4), Ok(false));
    assert_eq!(l, before);
}

// The log start offset is exact although whole batches are kept: the straddling batch [3,5]
// stays, a fetch at 4 returns it and the consumer skips offset 3; a fetch at 3 is below the
// log start offset: OFFSET_OUT_OF_RANGE. ListOffsets EARLIEST answers 4.
#[test]
fn a_straddling_batch_stays_but_reads_below_the_start_are_out_of_range() {
    let mut l = three_batches();
    assert_eq!(l.delete_records(4), Ok(4));
    assert_eq!(
        l.log().iter().map(|b| b.base_offset).collect::<Vec<_>>(),
        vec![3, 6]
    );
    assert_eq!(
        offsets(&l, 4, IsolationLevel::ReadUncommitted),
        vec![4, 5, 6, 7, 8]
    );
    assert_eq!(
        l.fetch(3, IsolationLevel::ReadUncommitted),
        Err(PartitionError::OffsetOutOfRange {
            offset: 3,
            log_start_offset: 4,
            log_end_offset: 9
        })
    );
    assert_eq!(
        l.list_offsets(OffsetSpec::Earliest, IsolationLevel::ReadCommitted),
        4
    );
    // LogSegment.findOffsetByTimestamp: never below the log start offset.
    assert_eq!(
        l.list_offsets(OffsetSpec::Timestamp(0), IsolationLevel::ReadUncommitted),
        4
    );
}

// KIP-360: the producer entry survives the deletion of all its records, so a retry of its last
// batch is still a duplicate and its next batch must follow its sequence.
#[test]
fn producer_state_survives_deleting_its_records() {
    let mut l = three_batches();
    let entry = *l.producer(1).unwrap();
    assert_eq!(l.delete_records(9), Ok(9));
    assert_eq!(l.producer(1), Some(&entry));
    assert_eq!(
        produce(&mut l, 1, 6, 3),
        Ok(AppendOutcome::Duplicate {
            base_offset: 6,
            last_offset: 8
        })
    );
    assert_eq!(
        produce(&mut l, 1, 10, 1),
        Err(ErrorCode::OutOfOrderSequenceNumber)
    );
    assert_eq!(
        produce(&mut l, 1, 9, 1),
        Ok(AppendOutcome::Appended {
            base_offset: 9,
            last_offset: 9
        })
    );
}

// UnifiedLog.maybeIncrementFirstUnstableOffset: an open transaction that started below the new
// log start offset keeps the LSO at the log start offset until its marker; its marker then
// completes it.
#[test]
fn an_open_transaction_below_the_start_holds_the_lso_at_the_start() {
    let mut l = leader();
    produce_txn(&mut l, 5, 0, 2).unwrap(); // [0,1], open
    produce(&mut l, 1, 0, 3).unwrap(); // [2,4]
    assert_eq!(l.last_stable_offset(), 0);
    assert_eq!(l.delete_records(3), Ok(3));
    assert_eq!(l.last_stable_offset(), 3);
    assert_eq!(l.producer(5).unwrap().current_txn_first_offset, Some(0));
    assert_eq!(
        offsets(&l, 3, IsolationLevel::ReadCommitted),
        Vec::<i64>::new()
    );
    let at = marker(&mut l, 5, TransactionResult::Commit);
    assert_eq!(at, 5);
    assert_eq!(l.last_stable_offset(), 6);
    assert_eq!(offsets(&l, 3, IsolationLevel::ReadCommitted), vec![3, 4]);
}

// An aborted transaction wholly below the log start offset leaves the aborted list (its
// segment's transaction index is deleted with it); one that ends above it is still listed.
#[test]
fn aborted_transactions_below_the_start_leave_the_index() {
    let mut l = leader();
    produce_txn(&mut l, 5, 0, 1).unwrap(); // 0
    marker(&mut l, 5, TransactionResult::Abort); // 1
    produce_txn(&mut l, 6, 0, 1).unwrap(); // 2
    produce(&mut l, 1, 0, 1).unwrap(); // 3
    marker(&mut l, 6, TransactionResult::Abort); // 4
    assert_eq!(l.aborted_index().len(), 2);
    assert_eq!(l.delete_records(3), Ok(3));
    assert_eq!(l.aborted_index().len(), 1);
    assert_eq!(l.aborted_index()[0].producer_id, 6);
    let f = l.fetch(3, IsolationLevel::ReadCommitted).unwrap();
    assert_eq!(
        f.aborted_transactions
            .unwrap()
            .iter()
            .map(|a| a.producer_id)
            .collect::<Vec<_>>(),
        vec![6]
    );
    assert_eq!(offsets(&l, 3, IsolationLevel::ReadCommitted), vec![3]);
}

// LogConfig.delete: DeleteRecords needs `delete` in cleanup.policy.
#[test]
fn cleanup_policy_must_contain_delete() {
    assert!(cleanup_policy_allows_delete("delete"));
    assert!(cleanup_policy_allows_delete("compact,delete"));
    assert!(!cleanup_policy_allows_delete("compact"));
}

// ---- property: DeleteRecords changes nothing at or above the log start offset ---------------

mod property {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// A batch of `count` records from producer `pid` (-1: plain), transactional or not.
        Append { pid: i64, txn: bool, count: i32 },
        /// A marker for `pid`.
        Marker { pid: i64, commit: bool },
        /// DeleteRecords up to `offset`.
        Delete { offset: i64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (-1i64..3, any::<bool>(), 1i32..4)
                .prop_map(|(pid, txn, count)| Op::Append { pid, txn: txn && pid >= 0, count }),
            2 => (0i64..3, any::<bool>()).prop_map(|(pid, commit)| Op::Marker { pid, commit }),
            2 => (-2i64..30).prop_map(|offset| Op::Delete { offset }),
        ]
    }

    fn append(
        l: &mut Leader,
        pid: i64,
        seq: i32,
        txn: bool,
        count: i32,
    ) -> Result<AppendOutcome, ErrorCode> {
        let guard = if txn {
            Some(l.start_verification(pid, 0, seq, false, 0)?)
        } else {
            None
        };
        l.append(batch(pid, seq, count, txn, 0), guard)
    }

    fn records(l: &Leader, from: i64, isolation: IsolationLevel) -> Vec<(i64, i64)> {
        let f = l.fetch(from, isolation).unwrap();
        consumer_records(&f, isolation, from)
            .map(|r| (r.offset, r.producer_id))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        // Leader `a` takes every op, twin `b` the same ops without the DeleteRecords: every
        // append and marker is answered the same (KIP-360: producer state survives), `a`'s log
        // is `b`'s from the log start offset on, both serve the same records from it at either
        // isolation level, LSO(a) = max(LSO(b), log start) and log start <= LSO <= HW.
        #[test]
        fn delete_records_changes_nothing_at_or_above_the_log_start(
            ops in proptest::collection::vec(op(), 1..50)
        ) {
            let (mut a, mut b) = (leader(), leader());
            let mut next_seq = [0i32; 3];
            for op in ops {
                match op {
                    Op::Append { pid, txn, count } => {
                        let seq = usize::try_from(pid).map_or(-1, |i| next_seq[i]);
                        let ra = append(&mut a, pid, seq, txn, count);
                        let rb = append(&mut b, pid, seq, txn, count);
                        prop_assert_eq!(ra, rb);
                        if let (Ok(AppendOutcome::Appended { .. }), Ok(i)) = (ra, usize::try_from(pid)) {
                            next_seq[i] += count;
                        }
                    }
                    Op::Marker { pid, commit } => {
                        let m = TxnMarker {
                            producer_id: pid,
                            producer_epoch: 0,
                            coordinator_epoch: 0,
                            result: if commit { TransactionResult::Commit } else { TransactionResult::Abort },
                            timestamp: 0,
                            transaction_version: TransactionVersion::Tv1,
                        };
                        prop_assert_eq!(a.write_marker(m), b.write_marker(m));
                    }
                    Op::Delete { offset } => {
                        let before = a.log_start_offset();
                        let hw = a.high_watermark();
                        let target = if offset == -1 { hw } else { offset };
                        match a.delete_records(offset) {
                            Ok(lw) => {
                                prop_assert!((0..=hw).contains(&target));
                                prop_assert_eq!(lw, before.max(target));
                            }
                            Err(e) => {
                                prop_assert!(!(0..=hw).contains(&target));
                                prop_assert_eq!(e.code(), ErrorCode::OffsetOutOfRange);
                                prop_assert_eq!(a.log_start_offset(), before);
                            }
                        }
                    }
                }
                let start = a.log_start_offset();
                prop_assert!(start <= a.last_stable_offset());
                prop_assert!(a.last_stable_offset() <= a.high_watermark());
                prop_assert_eq!(a.last_stable_offset(), b.last_stable_offset().max(start));
                let tail: Vec<_> = b.log().iter().filter(|x| x.last_offset >= start).cloned().collect();
                prop_assert_eq!(a.log(), &tail[..]);
                prop_assert_eq!(a.producers(), b.producers());
                for isolation in [IsolationLevel::ReadCommitted, IsolationLevel::ReadUncommitted] {
                    prop_assert_eq!(records(&a, start, isolation), records(&b, start, isolation));
                }
                prop_assert!(a.fetch(start - 1, IsolationLevel::ReadUncommitted).is_err() || start == 0);
            }
        }
    }
}
