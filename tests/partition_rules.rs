//! Rule table of the partition leader (`docs/partition.md` section 4): one test per rule, each
//! citing the Kafka test or KIP section it mirrors.

use kafka_eos::messages::ProduceRequest;
use kafka_eos::partition::{
    consumer_records, AppendOutcome, IsolationLevel, PartitionBugs, PartitionConfig,
    PartitionError, PartitionLeader, ProduceBatch, ProduceStep, TxnMarker, VerificationGuard,
};
use kafka_eos::{ErrorCode, TransactionResult, TransactionVersion};

type Leader = PartitionLeader<u32>;

fn leader() -> Leader {
    PartitionLeader::new(PartitionConfig::default())
}

fn leader_with_bugs(bugs: PartitionBugs) -> Leader {
    PartitionLeader::new(PartitionConfig {
        bugs,
        ..PartitionConfig::default()
    })
}

fn batch(pid: i64, epoch: i16, seq: i32, count: i32, txn: bool) -> ProduceBatch<u32> {
    ProduceBatch {
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        record_count: count,
        is_transactional: txn,
        max_timestamp: 0,
        payload: 7,
    }
}

/// An idempotent (non-transactional) produce of `count` records.
fn produce(
    l: &mut Leader,
    pid: i64,
    epoch: i16,
    seq: i32,
    count: i32,
) -> Result<AppendOutcome, ErrorCode> {
    l.append(batch(pid, epoch, seq, count, false), None)
}

/// A transactional produce that passed verification (TV1: no epoch bump support).
fn produce_txn(
    l: &mut Leader,
    pid: i64,
    epoch: i16,
    seq: i32,
    count: i32,
) -> Result<AppendOutcome, ErrorCode> {
    let guard = l.start_verification(pid, epoch, seq, false, 0)?;
    l.append(batch(pid, epoch, seq, count, true), Some(guard))
}

fn marker(pid: i64, epoch: i16, coordinator_epoch: i32, result: TransactionResult) -> TxnMarker {
    TxnMarker {
        producer_id: pid,
        producer_epoch: epoch,
        coordinator_epoch,
        result,
        timestamp: 0,
        transaction_version: TransactionVersion::Tv1,
    }
}

fn appended(base: i64) -> Result<AppendOutcome, ErrorCode> {
    Ok(AppendOutcome::Appended {
        base_offset: base,
        last_offset: base,
    })
}

fn offsets(l: &Leader, from: i64, isolation: IsolationLevel) -> Vec<i64> {
    let f = l.fetch(from, isolation).unwrap();
    consumer_records(&f, isolation, from)
        .map(|r| r.offset)
        .collect()
}

const OOS: ErrorCode = ErrorCode::OutOfOrderSequenceNumber;
const EPOCH: ErrorCode = ErrorCode::InvalidProducerEpoch;

// ---- ProducerAppendInfo.checkSequence (rows of docs/partition.md 4.2) ----------------------

// ProducerStateManagerTest.testPidExpirationTimeout / KIP-360: an unknown producer (no entry,
// epoch -1) is accepted at any sequence (row c').
#[test]
fn unknown_producer_accepts_any_sequence() {
    let mut l = leader();
    assert_eq!(produce(&mut l, 1, 3, 42, 1), appended(0));
    assert_eq!(l.producer(1).unwrap().last_sequence(), 42);
}

// UnifiedLogTest.testNonSequentialAppend: row d, a gap is OUT_OF_ORDER_SEQUENCE_NUMBER.
#[test]
fn sequence_gap_is_out_of_order() {
    let mut l = leader();
    produce(&mut l, 1, 0, 0, 1).unwrap();
    assert_eq!(produce(&mut l, 1, 0, 2, 1), Err(OOS));
    assert_eq!(produce(&mut l, 1, 0, 1, 1), appended(1));
}

// ProducerStateManagerTest.testBasicIdMapping: row c, a new epoch must start at sequence 0.
#[test]
fn new_epoch_must_start_at_sequence_zero() {
    let mut l = leader();
    produce(&mut l, 1, 0, 0, 1).unwrap();
    assert_eq!(produce(&mut l, 1, 1, 1, 1), Err(OOS));
    assert_eq!(produce(&mut l, 1, 1, 0, 1), appended(1));
    let e = l.producer(1).unwrap();
    assert_eq!((e.producer_epoch, e.batches().len()), (1, 1));
}

// ProducerStateManagerTest.testProducerSequenceWrapAround: after Int.MaxValue comes 0.
#[test]
fn sequence_wraps_from_int_max_to_zero() {
    let mut l = leader();
    produce(&mut l, 1, 15, i32::MAX, 1).unwrap();
    assert_eq!(produce(&mut l, 1, 15, 0, 1), appended(1));
    assert_eq!(produce(&mut l, 1, 15, 1, 1), appended(2));
}

// ProducerStateManagerTest.testProducerSequenceInvalidWrapAround: after Int.MaxValue only 0.
#[test]
fn sequence_after_int_max_other_than_zero_is_out_of_order() {
    let mut l = leader();
    produce(&mut l, 1, 15, i32::MAX, 1).unwrap();
    assert_eq!(produce(&mut l, 1, 15, 1, 1), Err(OOS));
}

// ProducerStateManagerTest.testProducerSequenceWithWrapAroundBatchRecord: one batch may span
// the wrap (firstSeq = MAX - 10, lastSeq = 9).
#[test]
fn batch_spanning_the_wrap_is_accepted_and_deduplicated() {
    let mut l = leader();
    produce(&mut l, 1, 0, i32::MAX - 10, 1).unwrap();
    produce(&mut l, 1, 0, i32::MAX - 9, 20).unwrap();
    assert_eq!(l.producer(1).unwrap().last_sequence(), 9);
    assert_eq!(
        produce(&mut l, 1, 0, i32::MAX - 9, 20),
        Ok(AppendOutcome::Duplicate {
            base_offset: 1,
            last_offset: 20
        })
    );
    assert_eq!(produce(&mut l, 1, 0, 10, 1), appended(21));
}

// ---- duplicate window (ProducerStateEntry.findDuplicateBatch) -----------------------------

// UnifiedLogTest.testDuplicateAppends: a retry of any of the last 5 batches returns the
// original offsets and appends nothing.
#[test]
fn duplicate_of_retained_batch_returns_original_offset() {
    let mut l = leader();
    for s in 0..5 {
        produce(&mut l, 1, 0, s * 2, 2).unwrap();
    }
    let before = l.clone();
    for s in 0..5 {
        assert_eq!(
            produce(&mut l, 1, 0, s * 2, 2),
            Ok(AppendOutcome::Duplicate {
                base_offset: i64::from(s) * 2,
                last_offset: i64::from(s) * 2 + 1
            })
        );
    }
    assert_eq!(l, before);
}

// UnifiedLogTest.testDuplicateAppends ("the sixth-oldest batch is no longer cached"): a retry
// of a batch older than the last 5 goes to the sequence check and fails.
#[test]
fn retry_of_sixth_oldest_batch_is_out_of_order() {
    let mut l = leader();
    for s in 0..6 {
        produce(&mut l, 1, 0, s, 1).unwrap();
    }
    assert_eq!(produce(&mut l, 1, 0, 0, 1), Err(OOS));
    assert!(matches!(
        produce(&mut l, 1, 0, 1, 1),
        Ok(AppendOutcome::Duplicate { base_offset: 1, .. })
    ));
}

// UnifiedLogTest.testDuplicateAppends (partial overlap): only an exact [firstSeq, lastSeq]
// match is a duplicate.
#[test]
fn partial_overlap_is_out_of_order() {
    let mut l = leader();
    produce(&mut l, 1, 0, 0, 3).unwrap();
    assert_eq!(produce(&mut l, 1, 0, 1, 2), Err(OOS));
    assert_eq!(produce(&mut l, 1, 0, 0, 2), Err(OOS));
    assert_eq!(produce(&mut l, 1, 0, 0, 4), Err(OOS));
}

// ProducerStateEntry.findDuplicateBatch: a batch at another epoch is never a duplicate.
#[test]
fn same_sequences_at_another_epoch_are_not_a_duplicate() {
    let mut l = leader();
    produce(&mut l, 1, 0, 0, 1).unwrap();
    assert_eq!(produce(&mut l, 1, 1, 0, 1), appended(1));
}

// ProducerAppendInfo.maybeValidateDataBatch: checkProducerEpoch runs before checkSequence, so a
// stale epoch with a bad sequence is INVALID_PRODUCER_EPOCH (47), not 45.
#[test]
fn stale_epoch_is_reported_before_sequence() {
    let mut l = leader();
    produce(&mut l, 1, 2, 0, 1).unwrap();
    assert_eq!(produce(&mut l, 1, 1, 9, 1), Err(EPOCH));
    assert_eq!(produce(&mut l, 1, 2, 9, 1), Err(OOS));
}

// UnifiedLog.analyzeAndValidateProducerState: duplicate detection comes before the verification
// guard check and the sequence check (an older retained batch would fail the sequence check).
#[test]
fn duplicate_detection_comes_before_verification_and_sequence_checks() {
    let mut l = leader();
    produce_txn(&mut l, 1, 0, 0, 1).unwrap();
    produce_txn(&mut l, 1, 0, 1, 1).unwrap();
    produce_txn(&mut l, 1, 0, 2, 1).unwrap();
    l.write_marker(marker(1, 0, 0, TransactionResult::Commit))
        .unwrap();
    // No guard, no ongoing transaction, sequence 0 is a rewind: still a duplicate.
    assert!(matches!(
        l.append(batch(1, 0, 0, 1, true), None),
        Ok(AppendOutcome::Duplicate { base_offset: 0, .. })
    ));
}

// ---- record validation (LogValidator.validateBatch) ---------------------------------------

// LogValidator.validateBatch: a producer id with baseSequence < 0 is INVALID_RECORD.
#[test]
fn producer_id_with_negative_sequence_is_invalid_record() {
    let mut l = leader();
    assert_eq!(produce(&mut l, 1, 0, -1, 1), Err(ErrorCode::InvalidRecord));
    assert_eq!(l.log_end_offset(), 0);
}

// A batch holds at least one record (lastOffsetDelta >= 0): an empty batch is INVALID_RECORD.
#[test]
fn empty_batch_is_invalid_record() {
    let mut l = leader();
    assert_eq!(produce(&mut l, 1, 0, 0, 0), Err(ErrorCode::InvalidRecord));
    assert_eq!(
        l.append(batch(-1, -1, -1, 0, false), None),
        Err(ErrorCode::InvalidRecord)
    );
}

// RecordBatch.hasProducerId: a batch without a producer id is a plain append, no state.
#[test]
fn batch_without_producer_id_is_plain_append() {
    let mut l = leader();
    assert_eq!(
        l.append(batch(-1, -1, -1, 3, false), None),
        Ok(AppendOutcome::Appended {
            base_offset: 0,
            last_offset: 2
        })
    );
    assert_eq!(l.append(batch(-1, -1, -1, 1, false), None), appended(3));
    assert!(l.producers().is_empty());
}

// UnifiedLog.analyzeAndValidateProducerState skips batches without a producer id
// (`batch.hasProducerId`) and ProducerStateManager keeps no entry for them: the same
// non-idempotent batch re-sent by a retry is appended again, at a new offset.
#[test]
fn non_idempotent_retry_is_appended_twice() {
    let mut l = leader();
    assert_eq!(l.append(batch(-1, -1, -1, 1, false), None), appended(0));
    assert_eq!(l.append(batch(-1, -1, -1, 1, false), None), appended(1));
    assert_eq!(l.log_end_offset(), 2);
    assert!(l.producers().is_empty());
}

// ---- transactional flag (ProducerAppendInfo.appendDataBatch) --------------------------------

// ProducerStateManagerTest.testNonTransactionalAppendWithOngoingTransaction.
#[test]
fn non_transactional_batch_in_open_transaction_is_invalid_txn_state() {
    let mut l = leader();
    produce_txn(&mut l, 1, 0, 0, 1).unwrap();
    let before = l.clone();
    assert_eq!(produce(&mut l, 1, 0, 1, 1), Err(ErrorCode::InvalidTxnState));
    assert_eq!(l, before);
}

// ProducerAppendInfo.appendDataBatch: the first transactional batch starts the transaction at
// its first offset; later ones join it.
#[test]
fn first_transactional_batch_starts_the_transaction() {
    let mut l = leader();
    produce(&mut l, 2, 0, 0, 2).unwrap();
    produce_txn(&mut l, 1, 0, 0, 3).unwrap();
    produce_txn(&mut l, 1, 0, 3, 1).unwrap();
    assert_eq!(l.producer(1).unwrap().current_txn_first_offset, Some(2));
    assert_eq!(l.first_unstable_offset(), Some(2));
    assert_eq!(l.ongoing_transactions().len(), 1);
}

// ---- markers (ProducerAppendInfo.appendEndTxnMarker) ----------------------------------------

// ProducerStateManagerTest.testControlRecordBumpsProducerEpoch: a higher-epoch marker fences
// the old epoch and clears the retained batches.
#[test]
fn marker_with_higher_epoch_fences_and_clears_batches() {
    let mut l = leader();
    produce_txn(&mut l, 1, 0, 0, 1).unwrap();
    assert_eq!(
        l.write_marker(marker(1, 1, 0, TransactionResult::Abort)),
        Ok(1)
    );
    let e = l.producer(1).unwrap();
    assert_eq!((e.producer_epoch, e.last_sequence()), (1, -1));
    assert_eq!(produce(&mut l, 1, 0, 1, 1), Err(EPOCH));
}

// ProducerStateManagerTest.testOutOfSequenceAfterControlRecordEpochBump: after the bump, data
// at the new epoch must start at 0.
#[test]
fn after_marker_epoch_bump_sequence_restarts_at_zero() {
    let mut l = leader();
    produce(&mut l, 1, 0, 0, 1).unwrap();
    produce(&mut l, 1, 0, 1, 1).unwrap();
    l.write_marker(marker(1, 1, 0, TransactionResult::Commit))
        .unwrap();
    assert_eq!(produce(&mut l, 1, 1, 2, 1), Err(OOS));
    assert_eq!(produce(&mut l, 1, 1, 0, 1), appended(3));
}

// ProducerStateManagerTest.updateProducerTransactionState: a marker at the same epoch keeps the
// retained batches (a retry after commit is still a duplicate).
#[test]
fn marker_at_same_epoch_keeps_batches() {
    let mut l = leader();
    produce_txn(&mut l, 1, 0, 0, 1).unwrap();
    l.write_marker(marker(1, 0, 0, TransactionResult::Commit))
        .unwrap();
    assert_eq!(l.producer(1).unwrap().last_sequence(), 0);
    assert!(matches!(
        produce_txn(&mut l, 1, 0, 0, 1),
        Ok(AppendOutcome::Duplicate { .. })
    ));
}

// ProducerStateManagerTest.testOldEpochForControlRecord.
#[test]
fn marker_with_older_epoch_is_rejected() {
    let mut l = leader();
    produce_txn(&mut l, 1, 5, 0, 1).unwrap();
    let before = l.clone();
    assert_eq!(
        l.write_marker(marker(1, 3, 0, TransactionResult::Commit)),
        Err(EPOCH)
    );
    assert_eq!(l, before);
}

// ProducerStateManagerTest.testCoordinatorFencing: an older coordinator epoch is fenced.
#[test]
fn marker_from_older_coordinator_epoch_is_fenced() {
    let mut l = leader();
    produce_txn(&mut l, 1, 5, 0, 1).unwrap();
    l.write_marker(marker(1, 5, 2, TransactionResult::Commit))
        .unwrap();
    let before = l.clone();
    assert_eq!(
        l.write_marker(marker(1, 5, 1, TransactionResult::Commit)),
        Err(ErrorCode::TransactionCoordinatorFenced)
    );
    assert_eq!(l, before);
    assert_eq!(
        l.write_marker(marker(1, 5, 2, TransactionResult::Abort)),
        Ok(2)
    );
}

// ProducerStateManagerTest.testAppendTxnMarkerWithNoProducerState: a marker for an unknown
// producer (or with no open transaction) is written, creates an entry with no batches, and
// touches neither the LSO nor the aborted index.
#[test]
fn marker_without_open_transaction_takes_one_offset() {
    let mut l = leader();
    assert_eq!(
        l.write_marker(marker(9, 4, 3, TransactionResult::Abort)),
        Ok(0)
    );
    assert_eq!(l.log_end_offset(), 1);
    assert!(l.aborted_index().is_empty());
    assert_eq!(l.first_unstable_offset(), None);
    let e = l.producer(9).unwrap();
    assert_eq!(
        (e.producer_epoch, e.coordinator_epoch, e.last_sequence()),
        (4, 3, -1)
    );
    assert_eq!(produce(&mut l, 9, 4, 1, 1), Err(OOS));
    assert_eq!(produce(&mut l, 9, 4, 0, 1), appended(1));
}

// KIP-1228 ([2026], opt-in): under TV2 a marker at the entry's epoch with an open transaction
// is stale; with no open transaction it is an idempotent retry (KAFKA-19999).
#[test]
fn strict_tv2_marker_epoch_is_opt_in() {
    let strict = PartitionConfig {
        strict_tv2_marker_epoch: true,
        ..PartitionConfig::default()
    };
    let tv2 = |epoch| TxnMarker {
        transaction_version: TransactionVersion::Tv2,
        ..marker(1, epoch, 0, TransactionResult::Commit)
    };
    let mut l: Leader = PartitionLeader::new(strict);
    produce_txn(&mut l, 1, 5, 0, 1).unwrap();
    assert_eq!(l.write_marker(tv2(5)), Err(EPOCH));
    assert_eq!(l.write_marker(tv2(6)), Ok(1));
    assert_eq!(l.write_marker(tv2(6)), Ok(2));
    let mut baseline = leader();
    produce_txn(&mut baseline, 1, 5, 0, 1).unwrap();
    assert_eq!(baseline.write_marker(tv2(5)), Ok(1));
}

// ---- FUO / LSO, aborted index and read_committed (UnifiedLog, CompletedFetch) --------------

// UnifiedLogTest.testLastStableOffsetWithMixedProducerData.
#[test]
fn lso_stops_at_earliest_open_transaction_of_mixed_producers() {
    let mut l = leader();
    produce_txn(&mut l, 137, 5, 0, 3).unwrap();
    l.append(batch(-1, -1, -1, 3, false), None).unwrap();
    produce_txn(&mut l, 983, 5, 0, 3).unwrap();
    assert_eq!(
        (l.first_unstable_offset(), l.last_stable_offset()),
        (Some(0), 0)
    );
    l.write_marker(marker(137, 5, 0, TransactionResult::Abort))
        .unwrap();
    assert_eq!(
        (l.first_unstable_offset(), l.last_stable_offset()),
        (Some(6), 6)
    );
    assert_eq!(l.aborted_index()[0].last_stable_offset, 6);
    assert_eq!(offsets(&l, 0, IsolationLevel::ReadCommitted), vec![3, 4, 5]);
    l.write_marker(marker(983, 5, 0, TransactionResult::Commit))
        .unwrap();
    assert_eq!(
        (l.first_unstable_offset(), l.last_stable_offset()),
        (None, 11)
    );
    assert_eq!(
        offsets(&l, 0, IsolationLevel::ReadCommitted),
        vec![3, 4, 5, 6, 7, 8]
    );
    assert_eq!(
        offsets(&l, 0, IsolationLevel::ReadUncommitted),
        vec![0, 1, 2, 3, 4, 5, 6, 7, 8]
    );
}

// UnifiedLogTest.testAbortedTransactionSpanningMultipleSegments / CompletedFetch: the aborted
// list holds every aborted transaction overlapping [from, LEO); the consumer drops them, and an
// ABORT marker ends the aborted range so a later transaction of the same producer is delivered.
#[test]
fn read_committed_filters_aborted_transactions() {
    let mut l = leader();
    produce_txn(&mut l, 1, 0, 0, 2).unwrap(); // 0..1 aborted
    l.write_marker(marker(1, 0, 0, TransactionResult::Abort))
        .unwrap(); // 2
    produce_txn(&mut l, 1, 0, 2, 2).unwrap(); // 3..4 committed
    l.write_marker(marker(1, 0, 0, TransactionResult::Commit))
        .unwrap(); // 5
    let f = l.fetch(0, IsolationLevel::ReadCommitted).unwrap();
    assert_eq!(f.aborted_transactions.as_ref().unwrap().len(), 1);
    assert_eq!(offsets(&l, 0, IsolationLevel::ReadCommitted), vec![3, 4]);
    // From after the aborted range: it is no longer listed.
    let f = l.fetch(3, IsolationLevel::ReadCommitted).unwrap();
    assert_eq!(f.aborted_transactions, Some(vec![]));
    assert_eq!(
        offsets(&l, 0, IsolationLevel::ReadUncommitted),
        vec![0, 1, 3, 4]
    );
    assert_eq!(
        l.fetch(0, IsolationLevel::ReadUncommitted)
            .unwrap()
            .aborted_transactions,
        None
    );
}

// CompletedFetch: records below the fetch position are skipped ("from_offset inside a batch").
#[test]
fn fetch_from_inside_a_batch_delivers_the_rest_of_it() {
    let mut l = leader();
    produce(&mut l, 1, 0, 0, 5).unwrap();
    assert_eq!(
        offsets(&l, 2, IsolationLevel::ReadUncommitted),
        vec![2, 3, 4]
    );
    assert_eq!(
        offsets(&l, 5, IsolationLevel::ReadUncommitted),
        Vec::<i64>::new()
    );
}

// Fetch outside [0, LEO]: Kafka's OFFSET_OUT_OF_RANGE.
#[test]
fn fetch_beyond_log_end_is_out_of_range() {
    let l = leader();
    assert!(matches!(
        l.fetch(1, IsolationLevel::ReadCommitted),
        Err(PartitionError::OffsetOutOfRange { .. })
    ));
}

// ---- expiry (ProducerStateManager.removeExpiredProducers) ------------------------------------

// ProducerStateManagerTest.testPidExpirationTimeout: expiry at now - lastTimestamp >= timeout,
// and the next batch is then accepted at any sequence.
#[test]
fn idle_producer_expires_at_the_timeout() {
    let mut l = leader();
    produce(&mut l, 1, 5, 0, 1).unwrap();
    assert!(l.expire_producers(86_399_999).is_empty());
    assert_eq!(l.expire_producers(86_400_000), vec![1]);
    assert!(l.producer(1).is_none());
    assert_eq!(produce(&mut l, 1, 5, 7, 1), appended(1));
}

// ProducerStateManagerTest.testProducersWithOngoingTransactionsDontExpire.
#[test]
fn open_transaction_never_expires() {
    let mut l = leader();
    produce_txn(&mut l, 1, 5, 0, 1).unwrap();
    assert!(l.expire_producers(i64::MAX).is_empty());
    assert!(l.producer(1).is_some());
}

// KAFKA-9144 fix: a marker's timestamp counts as the producer's last timestamp.
#[test]
fn marker_timestamp_delays_expiry() {
    let mut l = leader();
    produce_txn(&mut l, 1, 5, 0, 1).unwrap();
    let mut m = marker(1, 5, 0, TransactionResult::Commit);
    m.timestamp = 1000;
    l.write_marker(m).unwrap();
    assert!(l.expire_producers(86_400_000).is_empty());
    assert_eq!(l.expire_producers(86_401_000), vec![1]);
}

// ProducerStateManagerTest.testVerificationStateEntryExpiration.
#[test]
fn verification_entry_expires_with_producers() {
    let mut l = leader();
    l.start_verification(1, 0, 0, false, 100).unwrap();
    l.expire_producers(86_400_099);
    assert!(l.verification_state(1).is_some());
    l.expire_producers(86_400_100);
    assert!(l.verification_state(1).is_none());
}

// ---- KIP-890 part 1 verification -----------------------------------------------------------

// UnifiedLogTest.testTransactionIsOngoingAndVerificationGuard: a transactional batch that
// starts a transaction needs the verification guard.
#[test]
fn transactional_batch_without_guard_is_invalid_txn_state() {
    let mut l = leader();
    assert_eq!(
        l.append(batch(1, 0, 0, 1, true), None),
        Err(ErrorCode::InvalidTxnState)
    );
    l.start_verification(1, 0, 0, false, 0).unwrap();
    assert_eq!(
        l.append(batch(1, 0, 0, 1, true), Some(VerificationGuard::Sentinel)),
        Err(ErrorCode::InvalidTxnState)
    );
    assert_eq!(l.log_end_offset(), 0);
}

// UnifiedLogTest.testTransactionIsOngoingAndVerificationGuard: inside an ongoing transaction no
// verification is needed (SENTINEL).
#[test]
fn ongoing_transaction_needs_no_guard() {
    let mut l = leader();
    produce_txn(&mut l, 1, 0, 0, 1).unwrap();
    assert_eq!(
        l.start_verification(1, 0, 1, false, 0),
        Ok(VerificationGuard::Sentinel)
    );
    assert_eq!(l.append(batch(1, 0, 1, 1, true), None), appended(1));
}

// KIP-890 part 1 (`UnifiedLog.updateProducers`): the guard is single-use; after an abort a stale
// "verified" answer for the old transaction cannot start the next one (the ABA race).
#[test]
fn stale_guard_after_abort_is_rejected() {
    let mut l = leader();
    let g1 = l.start_verification(1, 0, 0, false, 0).unwrap();
    l.append(batch(1, 0, 0, 1, true), Some(g1)).unwrap();
    assert!(l.verification_state(1).is_none());
    l.write_marker(marker(1, 0, 0, TransactionResult::Abort))
        .unwrap();
    let _g2 = l.start_verification(1, 0, 1, false, 0).unwrap();
    assert_eq!(
        l.append(batch(1, 0, 1, 1, true), Some(g1)),
        Err(ErrorCode::InvalidTxnState)
    );
    // Verified but never appended, then the marker: the entry is gone, the guard is stale.
    let mut l = leader();
    let g = l.start_verification(1, 0, 0, false, 0).unwrap();
    l.write_marker(marker(1, 0, 0, TransactionResult::Abort))
        .unwrap();
    assert_eq!(
        l.append(batch(1, 0, 0, 1, true), Some(g)),
        Err(ErrorCode::InvalidTxnState)
    );
}

// UnifiedLog.maybeStartTransactionVerification [2025-10]: a stale epoch fails at once.
#[test]
fn verification_with_stale_epoch_is_invalid_producer_epoch() {
    let mut l = leader();
    produce(&mut l, 1, 3, 0, 1).unwrap();
    assert_eq!(l.start_verification(1, 2, 0, false, 0), Err(EPOCH));
    assert!(l.verification_state(1).is_none());
}

// transaction.partition.verification.enable = false: no guard is needed.
#[test]
fn verification_disabled_needs_no_guard() {
    let mut l: Leader = PartitionLeader::new(PartitionConfig {
        transaction_verification: false,
        ..PartitionConfig::default()
    });
    assert_eq!(l.append(batch(1, 0, 0, 1, true), None), appended(0));
}

// ProducerStateManagerTest (KIP-890 part 2, `checkSequence` row a): under TV2 a transaction's first
// batch must start at sequence 0 when the entry holds no batches, even for an unknown producer.
#[test]
fn tv2_first_transactional_batch_must_start_at_zero() {
    let mut l = leader();
    let g = l.start_verification(1, 0, 5, true, 0).unwrap();
    assert_eq!(l.append(batch(1, 0, 5, 1, true), Some(g)), Err(OOS));
    let g = l.start_verification(1, 0, 0, true, 0).unwrap();
    assert_eq!(l.append(batch(1, 0, 0, 1, true), Some(g)), appended(0));
}

// ProducerStateManagerTest.testSequenceAndEpochInVerificationEntry (`checkSequence` row b): while a
// lower sequence waits for verification, a higher one is OUT_OF_ORDER_SEQUENCE_NUMBER.
#[test]
fn sequence_above_verification_lowest_sequence_is_out_of_order() {
    let mut l = leader();
    produce(&mut l, 1, 0, 0, 1).unwrap();
    let g = l.start_verification(1, 0, 1, false, 0).unwrap();
    l.start_verification(1, 0, 2, false, 0).unwrap();
    assert_eq!(l.verification_state(1).unwrap().lowest_sequence, 1);
    assert_eq!(l.append(batch(1, 0, 2, 1, true), Some(g)), Err(OOS));
    assert_eq!(l.append(batch(1, 0, 1, 1, true), Some(g)), appended(1));
}

// UnifiedLogTest.testNextTransactionVerificationGuardNotCleared: a TV2 marker at the epoch of
// the verification entry keeps it (it belongs to the next transaction).
#[test]
fn tv2_marker_keeps_next_transaction_verification() {
    let mut l = leader();
    let g = l.start_verification(1, 5, 0, true, 0).unwrap();
    l.append(batch(1, 5, 0, 1, true), Some(g)).unwrap();
    let next = l.start_verification(1, 6, 0, true, 0).unwrap();
    l.write_marker(marker(1, 6, 0, TransactionResult::Commit))
        .unwrap();
    assert!(l.verification_state(1).is_some());
    assert_eq!(l.append(batch(1, 6, 0, 1, true), Some(next)), appended(2));
    assert!(l.verification_state(1).is_none());
}

// ---- all-or-nothing -------------------------------------------------------------------------

// ProducerAppendInfo staging: any rejection leaves the partition unchanged.
#[test]
fn rejected_append_changes_nothing() {
    let mut l = leader();
    produce(&mut l, 1, 1, 0, 1).unwrap();
    let before = l.clone();
    for bad in [(1, 0, 1), (1, 1, 5), (1, 2, 3)] {
        assert!(produce(&mut l, bad.0, bad.1, bad.2, 1).is_err());
        assert_eq!(l, before);
    }
}

// ---- known-bug switches (docs/partition.md section 5) ---------------------------------------

// M-I1: without sequence checks a retry is appended again.
#[test]
fn bug_no_sequence_check_appends_retries_twice() {
    let mut l = leader_with_bugs(PartitionBugs {
        no_sequence_check: true,
        ..PartitionBugs::default()
    });
    produce(&mut l, 1, 0, 0, 1).unwrap();
    assert_eq!(produce(&mut l, 1, 0, 0, 1), appended(1));
    assert_eq!(produce(&mut l, 1, 0, 9, 1), appended(2));
}

// M-I2: a dedup window of 1 forgets the second-newest batch.
#[test]
fn bug_small_duplicate_window_rejects_older_retry() {
    let mut l = leader_with_bugs(PartitionBugs {
        duplicate_window: Some(1),
        ..PartitionBugs::default()
    });
    produce(&mut l, 1, 0, 0, 1).unwrap();
    produce(&mut l, 1, 0, 1, 1).unwrap();
    assert_eq!(produce(&mut l, 1, 0, 0, 1), Err(OOS));
    assert!(matches!(
        produce(&mut l, 1, 0, 1, 1),
        Ok(AppendOutcome::Duplicate { .. })
    ));
}

// M-I4: a gap is accepted.
#[test]
fn bug_allow_sequence_gap_accepts_gaps() {
    let mut l = leader_with_bugs(PartitionBugs {
        allow_sequence_gap: true,
        ..PartitionBugs::default()
    });
    produce(&mut l, 1, 0, 0, 1).unwrap();
    assert_eq!(produce(&mut l, 1, 0, 5, 1), appended(1));
    assert_eq!(produce(&mut l, 1, 1, 3, 1), appended(2));
}

// M-I4, the reordering half: under the first KIP-98 broker's rule a sequence at or below the
// last one is a "duplicate" (ProducerIdMapping.checkSeqAndEpoch `seq <= last`), so a batch that
// was overtaken by a later one is answered DUPLICATE_SEQUENCE_NUMBER and never written; with
// the switch off the same batch is OUT_OF_ORDER_SEQUENCE_NUMBER.
#[test]
fn bug_allow_sequence_gap_answers_an_overtaken_batch_as_duplicate() {
    let mut l = leader_with_bugs(PartitionBugs {
        allow_sequence_gap: true,
        ..PartitionBugs::default()
    });
    produce(&mut l, 1, 0, 0, 1).unwrap();
    // seq 1 is lost; seq 2 overtakes it and is accepted with a gap.
    assert_eq!(produce(&mut l, 1, 0, 2, 1), appended(1));
    let before = l.clone();
    assert_eq!(
        produce(&mut l, 1, 0, 1, 1),
        Err(ErrorCode::DuplicateSequenceNumber)
    );
    assert_eq!(l, before, "nothing is written");
    // A retained duplicate still gets its original offset.
    assert!(matches!(
        produce(&mut l, 1, 0, 2, 1),
        Ok(AppendOutcome::Duplicate { .. })
    ));

    let mut correct = leader_with_bugs(PartitionBugs::default());
    produce(&mut correct, 1, 0, 0, 1).unwrap();
    assert_eq!(produce(&mut correct, 1, 0, 2, 1), Err(OOS));
}

// M-F1: a zombie's batch at an old epoch is accepted.
#[test]
fn bug_no_epoch_check_accepts_zombie_write() {
    let mut l = leader_with_bugs(PartitionBugs {
        no_epoch_check: true,
        ..PartitionBugs::default()
    });
    produce(&mut l, 1, 1, 0, 1).unwrap();
    assert_eq!(produce(&mut l, 1, 0, 0, 1), appended(1));
}

// M-C1: a zombie coordinator's marker is accepted.
#[test]
fn bug_no_coordinator_epoch_check_accepts_zombie_marker() {
    let mut l = leader_with_bugs(PartitionBugs {
        no_coordinator_epoch_check: true,
        ..PartitionBugs::default()
    });
    l.write_marker(marker(1, 0, 5, TransactionResult::Commit))
        .unwrap();
    assert_eq!(
        l.write_marker(marker(1, 0, 4, TransactionResult::Abort)),
        Ok(1)
    );
}

// M-T5: a late abort marker of epoch e aborts the newer transaction at e+1.
#[test]
fn bug_marker_match_pid_only_aborts_newer_transaction() {
    let mut l = leader_with_bugs(PartitionBugs {
        marker_match_pid_only: true,
        ..PartitionBugs::default()
    });
    produce_txn(&mut l, 1, 1, 0, 1).unwrap();
    assert_eq!(
        l.write_marker(marker(1, 0, 0, TransactionResult::Abort)),
        Ok(1)
    );
    assert_eq!(l.producer(1).unwrap().producer_epoch, 1);
    assert_eq!(l.aborted_index().len(), 1);
}

// M-C2 (KAFKA-9144): markers do not refresh the timestamp, so the state expires early.
#[test]
fn bug_expire_ignoring_markers_expires_early() {
    let mut l = leader_with_bugs(PartitionBugs {
        expire_ignoring_markers: true,
        ..PartitionBugs::default()
    });
    produce_txn(&mut l, 1, 5, 0, 1).unwrap();
    let mut m = marker(1, 5, 0, TransactionResult::Commit);
    m.timestamp = 1000;
    l.write_marker(m).unwrap();
    assert_eq!(l.expire_producers(86_400_000), vec![1]);
}

// M-R1: without the aborted list, read_committed delivers aborted records.
#[test]
fn bug_no_aborted_filter_delivers_aborted_records() {
    let mut l = leader_with_bugs(PartitionBugs {
        no_aborted_filter: true,
        ..PartitionBugs::default()
    });
    produce_txn(&mut l, 1, 0, 0, 2).unwrap();
    l.write_marker(marker(1, 0, 0, TransactionResult::Abort))
        .unwrap();
    assert_eq!(offsets(&l, 0, IsolationLevel::ReadCommitted), vec![0, 1]);
}

// M-R2: LSO = HW exposes an open transaction to read_committed.
#[test]
fn bug_lso_ignores_open_transactions_exposes_uncommitted_data() {
    let mut l = leader_with_bugs(PartitionBugs {
        lso_ignores_open_transactions: true,
        ..PartitionBugs::default()
    });
    produce_txn(&mut l, 1, 0, 0, 2).unwrap();
    assert_eq!(l.last_stable_offset(), 2);
    assert_eq!(offsets(&l, 0, IsolationLevel::ReadCommitted), vec![0, 1]);
}

/// KIP-890 part 1 error translation (`AddPartitionsToTxnManager`
/// `topicPartitionsToError`, `ReplicaManager.maybeSendPartitionsToTransactionCoordinator`):
/// what the producer sees when the leader's verification with the coordinator fails.
#[test]
fn verification_errors_are_translated_for_the_producer() {
    use kafka_eos::partition::verification_error_for_produce as tr;
    use kafka_eos::ErrorCode::*;
    assert_eq!(tr(ProducerFenced, 9), InvalidProducerEpoch);
    assert_eq!(tr(ProducerFenced, 12), InvalidProducerEpoch);
    assert_eq!(tr(TransactionAbortable, 10), InvalidTxnState);
    assert_eq!(tr(TransactionAbortable, 11), TransactionAbortable);
    assert_eq!(tr(ClusterAuthorizationFailed, 12), InvalidTxnState);
    for retriable in [
        NetworkException,
        CoordinatorLoadInProgress,
        CoordinatorNotAvailable,
        NotCoordinator,
    ] {
        assert_eq!(tr(retriable, 11), NotEnoughReplicas);
    }
    assert_eq!(tr(ConcurrentTransactions, 11), NotEnoughReplicas);
    assert_eq!(tr(ConcurrentTransactions, 12), ConcurrentTransactions);
    assert_eq!(tr(InvalidTxnState, 9), InvalidTxnState);
    assert_eq!(tr(InvalidProducerIdMapping, 12), InvalidProducerIdMapping);
}

// ---- fetch: order and bound of the aborted list ------------------------------------------------

// UnifiedLog.collectAbortedTransactions walks the transaction index in first-offset order: the
// aborted list is sorted by first offset, not by producer id.
#[test]
fn aborted_transactions_are_listed_by_first_offset() {
    let mut l = leader();
    produce_txn(&mut l, 9, 0, 0, 1).unwrap(); // 0: pid 9 opens first
    produce_txn(&mut l, 2, 0, 0, 1).unwrap(); // 1: pid 2 opens second
    l.write_marker(marker(2, 0, 0, TransactionResult::Abort))
        .unwrap(); // 2: pid 2's abort is written first
    l.write_marker(marker(9, 0, 0, TransactionResult::Abort))
        .unwrap(); // 3
    let f = l.fetch(0, IsolationLevel::ReadCommitted).unwrap();
    let listed: Vec<(i64, i64)> = f
        .aborted_transactions
        .unwrap()
        .iter()
        .map(|a| (a.first_offset, a.producer_id))
        .collect();
    assert_eq!(listed, vec![(0, 9), (1, 2)]);
}

// LocalLog.read: a fetch at or past the isolation level's bound (the LSO for read_committed) is
// `emptyFetchDataInfo`, which lists no aborted transaction even when one overlaps the offset.
#[test]
fn fetch_at_the_bound_lists_no_aborted_transaction() {
    let mut l = leader();
    produce_txn(&mut l, 3, 0, 0, 1).unwrap(); // 0: open, holds the LSO at 0
    produce_txn(&mut l, 1, 0, 0, 2).unwrap(); // 1..2
    l.write_marker(marker(1, 0, 0, TransactionResult::Abort))
        .unwrap(); // 3
    assert_eq!(l.last_stable_offset(), 0);
    let f = l.fetch(0, IsolationLevel::ReadCommitted).unwrap();
    assert_eq!(f.aborted_transactions, Some(vec![]));
    assert!(f.batches.is_empty());
    // Once the open transaction commits, the same fetch lists the aborted one.
    l.write_marker(marker(3, 0, 0, TransactionResult::Commit))
        .unwrap(); // 4
    let f = l.fetch(0, IsolationLevel::ReadCommitted).unwrap();
    assert_eq!(f.aborted_transactions.map(|a| a.len()), Some(1));
}

// ---- the leader's request steps (ReplicaManager.appendRecords, KIP-890) ------------------------

fn produce_request(pid: i64, epoch: i16, seq: i32, txn: bool, version: i16) -> ProduceRequest<u32> {
    ProduceRequest {
        transactional_id: txn.then(|| "t".to_string()),
        partition: "topic-0".parse().unwrap(),
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        record_count: 1,
        is_transactional: txn,
        max_timestamp: None,
        payload: 7,
        version,
    }
}

/// KafkaApis.handleProduceRequest / AddPartitionsToTxnManager: Produce v12+ is a TV2 client, so
/// the leader asks for the implicit add (verify_only false); v11 and older ask verify-only.
/// Both are broker requests (AddPartitionsToTxn v4+) for the batch's partition.
#[test]
fn transactional_produce_asks_the_coordinator_by_produce_version() {
    for (version, verify_only) in [(12, false), (11, true), (3, true)] {
        let mut l = leader();
        match l.handle_produce(produce_request(1, 0, 0, true, version), 5) {
            ProduceStep::Verify { request, pending } => {
                assert_eq!(request.verify_only, verify_only, "Produce v{version}");
                assert!(request.version >= 4);
                assert_eq!(request.transactional_id, "t");
                assert_eq!(request.partitions.len(), 1);
                assert_eq!(pending.request().version, version);
                // Nothing is written while the produce is held.
                assert_eq!(l.log_end_offset(), 0);
                assert_eq!(
                    l.handle_verification_response(pending, Ok(()), 6),
                    appended(0)
                );
                assert_eq!(l.producer(1).unwrap().last_timestamp, 6);
            }
            other => panic!("Produce v{version}: expected a verification, got {other:?}"),
        }
    }
}

/// AddPartitionsToTxnManager + ReplicaManager: a refused verification writes nothing and is
/// translated for the client's Produce version (TRANSACTION_ABORTABLE is unknown below v11).
#[test]
fn refused_verification_is_translated_for_the_produce_version() {
    for (version, expected) in [
        (10, ErrorCode::InvalidTxnState),
        (11, ErrorCode::TransactionAbortable),
    ] {
        let mut l = leader();
        let ProduceStep::Verify { pending, .. } =
            l.handle_produce(produce_request(1, 0, 0, true, version), 0)
        else {
            panic!("expected a verification");
        };
        assert_eq!(
            l.handle_verification_response(pending, Err(ErrorCode::TransactionAbortable), 0),
            Err(expected)
        );
        assert_eq!(l.log_end_offset(), 0);
    }
}

/// An ongoing transaction at the batch's epoch needs no verification (the sentinel guard): the
/// batch is appended at once; a non-transactional batch is never verified.
#[test]
fn produce_without_verification_is_answered_at_once() {
    let mut l = leader();
    let ProduceStep::Verify { pending, .. } =
        l.handle_produce(produce_request(1, 0, 0, true, 12), 0)
    else {
        panic!("expected a verification");
    };
    l.handle_verification_response(pending, Ok(()), 0).unwrap();
    assert_eq!(
        l.handle_produce(produce_request(1, 0, 1, true, 12), 0),
        ProduceStep::Answered(appended(1))
    );
    assert_eq!(
        l.handle_produce(produce_request(2, 0, 0, false, 12), 0),
        ProduceStep::Answered(appended(2))
    );
    // A stale epoch is refused before any verification.
    l.write_marker(marker(1, 1, 0, TransactionResult::Commit))
        .unwrap();
    assert_eq!(
        l.handle_produce(produce_request(1, 0, 2, true, 12), 0),
        ProduceStep::Answered(Err(EPOCH))
    );
    // A transactional batch without a transactional id is not verified and fails the append's
    // verification check (UnifiedLog.batchMissingRequiredVerification).
    let mut anonymous = produce_request(3, 0, 0, true, 12);
    anonymous.transactional_id = None;
    assert_eq!(
        l.handle_produce(anonymous, 0),
        ProduceStep::Answered(Err(ErrorCode::InvalidTxnState))
    );
}

/// WriteTxnMarkers: the leader writes the marker at `now` under the marker's transaction version
/// and echoes the marker in its answer.
#[test]
fn write_txn_marker_step_echoes_the_marker_with_the_outcome() {
    use kafka_eos::messages::WriteTxnMarker;
    let mut l = leader();
    produce_txn(&mut l, 1, 0, 0, 1).unwrap();
    let m = WriteTxnMarker {
        transactional_id: "t".into(),
        partition: "topic-0".parse().unwrap(),
        producer_id: 1,
        producer_epoch: 0,
        coordinator_epoch: 3,
        result: TransactionResult::Commit,
        transaction_version: TransactionVersion::Tv2,
    };
    assert_eq!(l.handle_write_txn_marker(&m, 9), m.response(None));
    assert_eq!(l.log().last().map(|b| b.max_timestamp), Some(9));
    // A marker from an older coordinator epoch is fenced.
    let old = WriteTxnMarker {
        coordinator_epoch: 2,
        ..m.clone()
    };
    assert_eq!(
        l.handle_write_txn_marker(&old, 9),
        old.response(Some(ErrorCode::TransactionCoordinatorFenced))
    );
}

/// UnifiedLog.fetchOffsetByTimestamp: earliest, latest by isolation level, and by timestamp.
#[test]
fn list_offsets_by_spec_and_isolation() {
    use kafka_eos::messages::OffsetSpec;
    let mut l = leader();
    l.append(
        ProduceBatch {
            max_timestamp: 100,
            ..batch(1, 0, 0, 1, false)
        },
        None,
    )
    .unwrap(); // 0
    produce_txn(&mut l, 2, 0, 0, 1).unwrap(); // 1, open
    let rc = IsolationLevel::ReadCommitted;
    let ru = IsolationLevel::ReadUncommitted;
    assert_eq!(l.list_offsets(OffsetSpec::from_timestamp(-2), rc), 0);
    assert_eq!(l.list_offsets(OffsetSpec::Latest, rc), 1);
    assert_eq!(l.list_offsets(OffsetSpec::Latest, ru), 2);
    assert_eq!(l.list_offsets(OffsetSpec::Timestamp(50), ru), 0);
    assert_eq!(l.list_offsets(OffsetSpec::Timestamp(101), ru), -1);
}

/// The leader's next deadline is the earliest producer expiry; `handle_timeout` then expires it.
#[test]
fn next_deadline_is_the_earliest_producer_expiry() {
    let mut l = leader();
    assert_eq!(l.next_deadline(), None);
    l.append(
        ProduceBatch {
            max_timestamp: 10,
            ..batch(1, 0, 0, 1, false)
        },
        None,
    )
    .unwrap();
    let expiry = 10 + l.config().producer_id_expiration_ms;
    assert_eq!(l.next_deadline(), Some(expiry));
    assert!(l.handle_timeout(expiry - 1).is_empty());
    assert_eq!(l.handle_timeout(expiry), vec![1]);
    assert_eq!(l.next_deadline(), None);
}

// ---- KAFKA-19999 ---------------------------------------------------------------------------

/// KAFKA-19999 (apache/kafka#21176, `ProducerAppendInfo.checkProducerEpoch`): with KIP-1228's
/// strict TV2 marker epoch, a marker at the entry's epoch while no transaction is open is the
/// idempotent retry of a marker already written (its response was lost, or a reloaded
/// coordinator resumed it) and is written again. The switch brings back the first strict rule,
/// which rejects it (INVALID_PRODUCER_EPOCH), so the coordinator drops the markers and the
/// transaction hangs in Prepare*. An equal epoch over an open transaction is stale either way;
/// without the strict rule the switch changes nothing.
#[test]
fn kafka_19999_strict_tv2_marker_retry_is_written_again_and_the_switch_rejects_it() {
    let tv2 = |epoch| TxnMarker {
        transaction_version: TransactionVersion::Tv2,
        ..marker(1, epoch, 0, TransactionResult::Commit)
    };
    for (bug, retry) in [(false, Ok(2)), (true, Err(EPOCH))] {
        let bugs = PartitionBugs {
            strict_marker_rejects_retry: bug,
            ..PartitionBugs::default()
        };
        let mut l: Leader = PartitionLeader::new(PartitionConfig {
            strict_tv2_marker_epoch: true,
            bugs,
            ..PartitionConfig::default()
        });
        produce_txn(&mut l, 1, 5, 0, 1).unwrap();
        assert_eq!(l.write_marker(tv2(6)), Ok(1));
        assert_eq!(l.write_marker(tv2(6)), retry, "{bug}");
        let next = l.log_end_offset();
        produce_txn(&mut l, 1, 6, 0, 1).unwrap();
        assert_eq!(l.write_marker(tv2(6)), Err(EPOCH), "{bug}");
        assert_eq!(l.write_marker(tv2(7)), Ok(next + 1), "{bug}");
        // The [2025-10] rule (strict off): the switch has no effect.
        let mut lenient = leader_with_bugs(bugs);
        produce_txn(&mut lenient, 1, 5, 0, 1).unwrap();
        assert_eq!(lenient.write_marker(tv2(6)), Ok(1));
        assert_eq!(lenient.write_marker(tv2(6)), Ok(2));
    }
}
