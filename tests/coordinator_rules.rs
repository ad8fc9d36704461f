//! Rule-table tests of the transaction coordinator: one test per rule of `docs/coordinator.md`
//! section 4, each citing the Kafka test (or KIP, or Kafka method) it mirrors.

use std::collections::BTreeSet;

use kafka_eos::coordinator::{
    AddPartitionsToTxnRequest, CoordinatorBugs, CoordinatorConfig, CoordinatorError,
    CoordinatorOutput, EndTxnRequest, InitProducerIdRequest, ProducerIdAndEpoch, ProducerIdManager,
    TransactionCoordinator, TransactionLogValue, TransactionMetadata, TransactionState,
    WriteTxnMarker, WriteTxnMarkersResponse,
};
use kafka_eos::messages::{
    end_txn_version_for, ADD_PARTITIONS_TO_TXN_BROKER_VERSION,
    ADD_PARTITIONS_TO_TXN_CLIENT_VERSION, END_TXN_VERSION, INIT_PRODUCER_ID_VERSION,
};
use kafka_eos::{ErrorCode, TopicPartition, TransactionResult, TransactionVersion};

use TransactionResult::{Abort, Commit};
use TransactionState::*;
use TransactionVersion::{Tv1, Tv2};

// ---------------------------------------------------------------------------------------------
// Helpers

fn tp(s: &str) -> TopicPartition {
    s.parse().unwrap()
}

fn tps(list: &[&str]) -> BTreeSet<TopicPartition> {
    list.iter().map(|s| tp(s)).collect()
}

fn pe(producer_id: i64, producer_epoch: i16) -> ProducerIdAndEpoch {
    ProducerIdAndEpoch {
        producer_id,
        producer_epoch,
    }
}

fn coordinator_with(
    tv: TransactionVersion,
    first: i64,
    bugs: CoordinatorBugs,
) -> TransactionCoordinator {
    TransactionCoordinator::new(
        CoordinatorConfig {
            transaction_version: tv,
            bugs,
            ..CoordinatorConfig::default()
        },
        first,
        0,
    )
    .unwrap()
}

fn coordinator(tv: TransactionVersion) -> TransactionCoordinator {
    coordinator_with(tv, 10, CoordinatorBugs::default())
}

fn init_req(
    tid: Option<&str>,
    timeout: i32,
    expected: Option<(i64, i16)>,
) -> InitProducerIdRequest {
    let (producer_id, producer_epoch) = expected.unwrap_or((-1, -1));
    InitProducerIdRequest {
        transactional_id: tid.map(str::to_string),
        transaction_timeout_ms: timeout,
        producer_id,
        producer_epoch,
        version: INIT_PRODUCER_ID_VERSION,
    }
}

fn init(c: &mut TransactionCoordinator, tid: &str) -> Result<ProducerIdAndEpoch, ErrorCode> {
    c.handle_init_producer_id(&init_req(Some(tid), 60_000, None), 0)
        .0
}

fn init_at(
    c: &mut TransactionCoordinator,
    tid: &str,
    timeout: i32,
    now: i64,
) -> Result<ProducerIdAndEpoch, ErrorCode> {
    c.handle_init_producer_id(&init_req(Some(tid), timeout, None), now)
        .0
}

fn init_expected(
    c: &mut TransactionCoordinator,
    tid: &str,
    pid: i64,
    epoch: i16,
) -> Result<ProducerIdAndEpoch, ErrorCode> {
    c.handle_init_producer_id(&init_req(Some(tid), 60_000, Some((pid, epoch))), 0)
        .0
}

fn add_req(
    tid: &str,
    pid: i64,
    epoch: i16,
    parts: &[&str],
    verify_only: bool,
) -> AddPartitionsToTxnRequest {
    AddPartitionsToTxnRequest {
        transactional_id: tid.to_string(),
        producer_id: pid,
        producer_epoch: epoch,
        partitions: tps(parts),
        verify_only,
        // A client's add (v3), or a partition leader's verification (v5).
        version: if verify_only {
            ADD_PARTITIONS_TO_TXN_BROKER_VERSION
        } else {
            ADD_PARTITIONS_TO_TXN_CLIENT_VERSION
        },
    }
}

fn add(
    c: &mut TransactionCoordinator,
    tid: &str,
    pid: i64,
    epoch: i16,
    parts: &[&str],
) -> Result<(), ErrorCode> {
    add_at(c, tid, pid, epoch, parts, 0)
}

fn add_at(
    c: &mut TransactionCoordinator,
    tid: &str,
    pid: i64,
    epoch: i16,
    parts: &[&str],
    now: i64,
) -> Result<(), ErrorCode> {
    c.handle_add_partitions_to_txn(&add_req(tid, pid, epoch, parts, false), now)
        .0
}

fn verify(
    c: &mut TransactionCoordinator,
    tid: &str,
    pid: i64,
    epoch: i16,
    parts: &[&str],
) -> Result<(), ErrorCode> {
    let (r, out) = c.handle_add_partitions_to_txn(&add_req(tid, pid, epoch, parts, true), 0);
    assert!(out.is_empty(), "verify-only never writes");
    r
}

fn end_req(
    tid: &str,
    pid: i64,
    epoch: i16,
    result: TransactionResult,
    tv: TransactionVersion,
) -> EndTxnRequest {
    EndTxnRequest {
        transactional_id: tid.to_string(),
        producer_id: pid,
        producer_epoch: epoch,
        result,
        version: end_txn_version_for(tv),
    }
}

type EndOutcome = Result<Option<ProducerIdAndEpoch>, ErrorCode>;

fn end(
    c: &mut TransactionCoordinator,
    tid: &str,
    pid: i64,
    epoch: i16,
    result: TransactionResult,
    tv: TransactionVersion,
) -> EndOutcome {
    end_at(c, tid, pid, epoch, result, tv, 0)
}

fn end_at(
    c: &mut TransactionCoordinator,
    tid: &str,
    pid: i64,
    epoch: i16,
    result: TransactionResult,
    tv: TransactionVersion,
    now: i64,
) -> EndOutcome {
    c.handle_end_txn(&end_req(tid, pid, epoch, result, tv), now)
        .0
}

fn response_for(
    c: &TransactionCoordinator,
    tid: &str,
    parts: Option<&[&str]>,
    error: Option<ErrorCode>,
) -> WriteTxnMarkersResponse {
    let pending = pending_markers(c, tid);
    let m = pending.first().expect("markers pending");
    WriteTxnMarkersResponse {
        transactional_id: tid.to_string(),
        producer_id: m.producer_id,
        producer_epoch: m.producer_epoch,
        coordinator_epoch: m.coordinator_epoch,
        result: m.result,
        partitions: match parts {
            Some(p) => tps(p),
            None => pending.iter().map(|m| m.partition.clone()).collect(),
        },
        error,
    }
}

/// Acknowledges every pending marker of `tid`.
fn written(c: &mut TransactionCoordinator, tid: &str) -> Vec<CoordinatorOutput> {
    let r = response_for(c, tid, None, None);
    c.handle_write_txn_markers_response(&r).unwrap()
}

fn meta<'a>(c: &'a TransactionCoordinator, tid: &str) -> &'a TransactionMetadata {
    c.transaction(tid).expect("metadata present")
}

fn value(pid: i64, epoch: i16, state: TransactionState, parts: &[&str]) -> TransactionLogValue {
    TransactionLogValue {
        producer_id: pid,
        previous_producer_id: pid,
        next_producer_id: -1,
        producer_epoch: epoch,
        last_producer_epoch: -1,
        transaction_timeout_ms: 60_000,
        state,
        partitions: tps(parts),
        txn_start_timestamp: if parts.is_empty() { -1 } else { 0 },
        txn_last_update_timestamp: 0,
        client_transaction_version: TransactionVersion::Tv0,
    }
}

fn load(
    c: &mut TransactionCoordinator,
    tid: &str,
    v: TransactionLogValue,
    tv: TransactionVersion,
) -> Vec<CoordinatorOutput> {
    let v = TransactionLogValue {
        client_transaction_version: tv,
        ..v
    };
    c.load_transaction(tid, Some(&v), 0).unwrap()
}

fn marker(
    tid: &str,
    part: &str,
    pid: i64,
    epoch: i16,
    ce: i32,
    result: TransactionResult,
) -> WriteTxnMarker {
    WriteTxnMarker {
        transactional_id: tid.to_string(),
        partition: tp(part),
        producer_id: pid,
        producer_epoch: epoch,
        coordinator_epoch: ce,
        result,
        transaction_version: TransactionVersion::Tv0,
    }
}

fn logged_states(out: &[CoordinatorOutput]) -> Vec<Option<TransactionState>> {
    out.iter()
        .filter_map(|o| match o {
            CoordinatorOutput::AppendTransactionLog { value, .. } => {
                Some(value.as_ref().map(|v| v.state))
            }
            _ => None,
        })
        .collect()
}

/// The coordinator's pending markers, without their transaction version (see `markers_in`).
fn pending_markers(c: &TransactionCoordinator, tid: &str) -> Vec<WriteTxnMarker> {
    c.pending_markers(tid)
        .into_iter()
        .map(|m| WriteTxnMarker {
            transaction_version: TransactionVersion::Tv0,
            ..m
        })
        .collect()
}

fn markers_in(out: &[CoordinatorOutput]) -> Vec<WriteTxnMarker> {
    out.iter()
        .filter_map(|o| match o {
            // Compared without their transaction version, which
            // `markers_carry_the_transactions_version` checks.
            CoordinatorOutput::WriteTxnMarker(m) => Some(WriteTxnMarker {
                transaction_version: TransactionVersion::Tv0,
                ..m.clone()
            }),
            _ => None,
        })
        .collect()
}

/// An Ongoing transaction "t" with producer (10, epoch) on topic-0 (and topic-1).
fn ongoing(tv: TransactionVersion, epoch: i16) -> TransactionCoordinator {
    let mut c = coordinator(tv);
    load(
        &mut c,
        "t",
        value(10, epoch, Ongoing, &["topic-0", "topic-1"]),
        tv,
    );
    c
}

// ---------------------------------------------------------------------------------------------
// The state table (TransactionState.validPreviousStates)

/// TransactionMetadataTest / TransactionState.validPreviousStates ([2025-10]):
/// the whole 8x8 table, row = from, column = to.
#[test]
fn transition_table_is_kafkas_valid_previous_states() {
    // Columns: Empty Ongoing PrepareCommit PrepareAbort CompleteCommit CompleteAbort Dead PrepareEpochFence
    let expected: [(TransactionState, [u8; 8]); 8] = [
        (Empty, [1, 1, 0, 1, 0, 0, 1, 0]),
        (Ongoing, [0, 1, 1, 1, 0, 0, 0, 1]),
        (PrepareCommit, [0, 0, 0, 0, 1, 0, 0, 0]),
        (PrepareAbort, [0, 0, 0, 0, 0, 1, 0, 0]),
        (CompleteCommit, [1, 1, 0, 1, 0, 0, 1, 0]),
        (CompleteAbort, [1, 1, 0, 1, 0, 0, 1, 0]),
        (Dead, [0, 0, 0, 0, 0, 0, 0, 0]),
        (PrepareEpochFence, [0, 0, 0, 1, 0, 0, 0, 0]),
    ];
    let mut table = String::new();
    for (from, row) in expected {
        table.push_str(&format!("{:>17} ->", from.name()));
        for (i, to) in TransactionState::ALL.iter().enumerate() {
            let legal = TransactionState::is_valid_transition(from, *to);
            assert_eq!(legal, row[i] == 1, "{from} -> {to}");
            assert_eq!(TransactionState::check_transition(from, *to).is_ok(), legal);
            table.push_str(if legal { " 1" } else { " ." });
        }
        table.push('\n');
    }
    println!("{table}");
    // Spot checks of pairs Kafka refuses.
    assert!(!TransactionState::is_valid_transition(Ongoing, Empty));
    assert!(!TransactionState::is_valid_transition(
        CompleteCommit,
        PrepareEpochFence
    ));
    assert!(!TransactionState::is_valid_transition(
        PrepareCommit,
        PrepareAbort
    ));
    assert!(!TransactionState::is_valid_transition(
        CompleteCommit,
        CompleteAbort
    ));
}

/// TransactionMetadataTest (prepareTransitionTo throws IllegalStateException): an illegal
/// transition is an error value, and the metadata is unchanged.
#[test]
fn illegal_transition_is_an_error_value_and_changes_nothing() {
    let mut m = TransactionMetadata::from_log_value(&value(10, 3, Ongoing, &["topic-0"]));
    let before = m.clone();
    let mut t = m.transit();
    t.state = Empty;
    assert_eq!(m.transition_to(&t), Err(ErrorCode::UnknownServerError));
    // Dead and PrepareEpochFence are never completed, even from a legal previous state.
    t.state = PrepareEpochFence;
    assert_eq!(m.transition_to(&t), Err(ErrorCode::UnknownServerError));
    // A Complete* without a pending completion.
    t.state = CompleteCommit;
    assert_eq!(m.transition_to(&t), Err(ErrorCode::UnknownServerError));
    // A negative epoch (IllegalArgumentException).
    t.state = Ongoing;
    t.producer_epoch = -1;
    assert_eq!(m.transition_to(&t), Err(ErrorCode::UnknownServerError));
    assert_eq!(m, before);
}

/// TransactionState names and ids (TransactionState.java).
#[test]
fn state_names_and_ids_round_trip() {
    for (i, s) in TransactionState::ALL.iter().enumerate() {
        assert_eq!(s.id() as usize, i);
        assert_eq!(s.name().parse::<TransactionState>().unwrap(), *s);
    }
    assert!("Prepared".parse::<TransactionState>().is_err());
    assert!(Empty.is_expiration_allowed() && CompleteAbort.is_expiration_allowed());
    assert!(
        !Ongoing.is_expiration_allowed()
            && !PrepareCommit.is_expiration_allowed()
            && !Dead.is_expiration_allowed()
    );
}

// ---------------------------------------------------------------------------------------------
// InitProducerId (TransactionCoordinator.handleInitProducerId)

/// TransactionCoordinatorTest.shouldAcceptInitPidAndReturnNextPidWhenTransactionalIdIsNull.
#[test]
fn idempotent_init_hands_out_fresh_producer_ids_at_epoch_zero_and_keeps_no_state() {
    let mut c = coordinator(Tv2);
    for expected in 10..13 {
        let (r, out) = c.handle_init_producer_id(&init_req(None, 60_000, None), 0);
        assert_eq!(r, Ok(pe(expected, 0)));
        assert!(out.is_empty());
    }
    assert!(c.transactions().is_empty());
}

/// TransactionCoordinatorTest.shouldRespondWithInvalidRequestOnInitPidWhenTransactionalIdIsEmpty.
#[test]
fn init_with_empty_transactional_id_is_invalid_request() {
    let mut c = coordinator(Tv2);
    assert_eq!(init(&mut c, ""), Err(ErrorCode::InvalidRequest));
    assert!(c.transactions().is_empty());
}

/// KafkaApis.handleInitProducerIdRequest: a KIP-360 pair with only one of id/epoch set is
/// INVALID_REQUEST.
#[test]
fn init_with_half_given_expected_pair_is_invalid_request() {
    let mut c = coordinator(Tv2);
    let r = c
        .handle_init_producer_id(&init_req(Some("t"), 60_000, Some((5, -1))), 0)
        .0;
    assert_eq!(r, Err(ErrorCode::InvalidRequest));
    let r = c
        .handle_init_producer_id(&init_req(Some("t"), 60_000, Some((-1, 0))), 0)
        .0;
    assert_eq!(r, Err(ErrorCode::InvalidRequest));
    assert!(c.transactions().is_empty());
}

/// TransactionStateManagerTest.testValidateTransactionTimeout: timeouts outside (0, max] are
/// INVALID_TRANSACTION_TIMEOUT and create nothing (no producer id is used either).
#[test]
fn init_timeout_outside_range_is_invalid_transaction_timeout_and_creates_nothing() {
    let mut c = coordinator(Tv2);
    for bad in [0, -1, 900_001, i32::MIN] {
        assert_eq!(
            init_at(&mut c, "t", bad, 0),
            Err(ErrorCode::InvalidTransactionTimeout)
        );
    }
    assert!(c.transactions().is_empty());
    assert_eq!(init_at(&mut c, "t", 900_000, 0), Ok(pe(10, 0)));
    assert_eq!(init_at(&mut c, "u", 1, 0), Ok(pe(11, 0)));
}

/// TransactionCoordinatorTest.shouldInitPidWithEpochZeroForNewTransactionalId.
#[test]
fn first_init_creates_empty_metadata_at_epoch_zero() {
    let mut c = coordinator(Tv2);
    let (r, out) = c.handle_init_producer_id(&init_req(Some("t"), 1234, None), 7);
    assert_eq!(r, Ok(pe(10, 0)));
    assert_eq!(logged_states(&out), vec![Some(Empty)]);
    let m = meta(&c, "t");
    assert_eq!(
        (
            m.state,
            m.producer_epoch,
            m.last_producer_epoch,
            m.txn_timeout_ms
        ),
        (Empty, 0, -1, 1234)
    );
    assert_eq!(
        (m.txn_start_timestamp, m.txn_last_update_timestamp),
        (-1, 7)
    );
}

/// TransactionMetadataTest.testBumpEpochNotAllowedIfEpochsExhausted / prepareIncrementProducerEpoch:
/// without an expected epoch, Empty and Complete* bump the epoch, clear the last epoch, and go to Empty.
#[test]
fn init_on_empty_or_complete_bumps_epoch_and_clears_last_epoch() {
    let mut c = coordinator(Tv2);
    init(&mut c, "t").unwrap();
    assert_eq!(init(&mut c, "t"), Ok(pe(10, 1)));
    add(&mut c, "t", 10, 1, &["topic-0"]).unwrap();
    end(&mut c, "t", 10, 1, Commit, Tv2).unwrap();
    written(&mut c, "t");
    assert_eq!(meta(&c, "t").state, CompleteCommit);
    assert_eq!(init(&mut c, "t"), Ok(pe(10, 3)));
    let m = meta(&c, "t");
    assert_eq!((m.state, m.last_producer_epoch), (Empty, -1));
    assert!(m.partitions.is_empty());
}

/// TransactionCoordinatorTest.testInitProducerIdWithCurrentEpochProvided (KIP-360).
#[test]
fn kip360_expected_current_epoch_bumps_and_records_last_epoch() {
    let mut c = coordinator(Tv2);
    init(&mut c, "t").unwrap();
    assert_eq!(init_expected(&mut c, "t", 10, 0), Ok(pe(10, 1)));
    assert_eq!(meta(&c, "t").last_producer_epoch, 0);
}

/// TransactionCoordinatorTest.testInitProducerIdWithCurrentEpochProvided: a retry with the last
/// epoch returns the current epoch without a second bump.
#[test]
fn kip360_retry_with_last_epoch_returns_current_epoch_without_bump() {
    let mut c = coordinator(Tv2);
    init(&mut c, "t").unwrap();
    init_expected(&mut c, "t", 10, 0).unwrap();
    assert_eq!(init_expected(&mut c, "t", 10, 0), Ok(pe(10, 1)));
    assert_eq!(
        (
            meta(&c, "t").producer_epoch,
            meta(&c, "t").last_producer_epoch
        ),
        (1, 0)
    );
}

/// TransactionCoordinatorTest.testInitProducerIdStaleCurrentEpochProvided.
#[test]
fn kip360_stale_expected_epoch_is_producer_fenced() {
    let mut c = coordinator(Tv2);
    init(&mut c, "t").unwrap();
    init_expected(&mut c, "t", 10, 0).unwrap();
    init(&mut c, "t").unwrap(); // another instance: epoch 2, last -1
    let before = c.clone();
    assert_eq!(
        init_expected(&mut c, "t", 10, 1),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        init_expected(&mut c, "t", 10, 0),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(c, before);
}

/// TransactionCoordinator.isValidProducerId: an expected producer id that is neither current nor
/// (previous with an exhausted epoch) is PRODUCER_FENCED.
#[test]
fn kip360_unknown_expected_producer_id_is_producer_fenced() {
    let mut c = coordinator(Tv2);
    init(&mut c, "t").unwrap();
    assert_eq!(
        init_expected(&mut c, "t", 99, 0),
        Err(ErrorCode::ProducerFenced)
    );
    // The previous id with an epoch that is not exhausted is not valid either.
    load(
        &mut c,
        "u",
        TransactionLogValue {
            previous_producer_id: 7,
            ..value(8, 3, Empty, &[])
        },
        Tv2,
    );
    assert_eq!(
        init_expected(&mut c, "u", 7, 32765),
        Err(ErrorCode::ProducerFenced)
    );
}

/// TransactionCoordinator.isValidProducerId case 1: freshly created metadata (epoch -1) accepts any
/// expected id (a producer recovering from UNKNOWN_PRODUCER_ID gets the new id).
#[test]
fn kip360_expected_pair_on_new_transactional_id_gets_a_new_producer_id() {
    let mut c = coordinator(Tv2);
    assert_eq!(init_expected(&mut c, "t", 4, 17), Ok(pe(10, 0)));
    assert_eq!(meta(&c, "t").last_producer_epoch, -1);
}

/// TransactionCoordinatorTest.shouldGenerateNewProducerIdIfEpochsExhausted.
#[test]
fn exhausted_epoch_rotates_producer_id_without_expected_epoch() {
    let mut c = coordinator_with(Tv1, 11, CoordinatorBugs::default());
    load(
        &mut c,
        "t",
        TransactionLogValue {
            last_producer_epoch: 32765,
            ..value(10, 32766, Empty, &[])
        },
        Tv1,
    );
    let (r, out) = c.handle_init_producer_id(&init_req(Some("t"), 60_000, None), 0);
    assert_eq!(r, Ok(pe(11, 0)));
    assert_eq!(logged_states(&out), vec![Some(Empty)]);
    let m = meta(&c, "t");
    assert_eq!(
        (
            m.producer_id,
            m.previous_producer_id,
            m.producer_epoch,
            m.last_producer_epoch
        ),
        (11, 10, 0, -1)
    );
    assert_eq!(
        init_expected(&mut c, "t", 10, 32766),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        add(&mut c, "t", 10, 32766, &["topic-0"]),
        Err(ErrorCode::InvalidProducerIdMapping)
    );
}

/// TransactionCoordinatorTest.testRetryInitProducerIdAfterProducerIdRotation (KIP-360 at the limit).
#[test]
fn kip360_rotation_records_last_epoch_and_retry_with_old_id_is_recognised() {
    let mut c = coordinator_with(Tv1, 11, CoordinatorBugs::default());
    load(&mut c, "t", value(10, 32766, Empty, &[]), Tv1);
    assert_eq!(init_expected(&mut c, "t", 10, 32766), Ok(pe(11, 0)));
    assert_eq!(meta(&c, "t").last_producer_epoch, 32766);
    assert_eq!(init_expected(&mut c, "t", 10, 32766), Ok(pe(11, 0)));
    assert_eq!(c.producer_id_manager().peek_next_producer_id(), Some(12));
    assert_eq!(init_expected(&mut c, "t", 11, 0), Ok(pe(11, 1)));
}

/// TransactionMetadata.prepareIncrementProducerEpoch throws IllegalStateException on an exhausted
/// epoch; with an expected epoch other than the current one that reaches the client as
/// UNKNOWN_SERVER_ERROR ([2025-10], `Errors.forException` in `handleInitProducerId`).
#[test]
fn exhausted_epoch_with_other_expected_epoch_is_unknown_server_error() {
    let mut c = coordinator(Tv2);
    load(
        &mut c,
        "t",
        TransactionLogValue {
            last_producer_epoch: 32765,
            ..value(10, 32766, Empty, &[])
        },
        Tv2,
    );
    let before = c.clone();
    assert_eq!(
        init_expected(&mut c, "t", 10, 32765),
        Err(ErrorCode::UnknownServerError)
    );
    assert_eq!(c, before);
}

/// TransactionCoordinatorTest.shouldWaitForCommitToCompleteOnHandleInitPidAndExistingTransactionInPrepareCommitState.
#[test]
fn init_while_completing_is_concurrent_transactions() {
    for tv in [Tv1, Tv2] {
        let mut c = ongoing(tv, 3);
        end(&mut c, "t", 10, 3, Commit, tv).unwrap();
        let before = c.clone();
        let (r, out) = c.handle_init_producer_id(&init_req(Some("t"), 60_000, None), 0);
        assert_eq!(r, Err(ErrorCode::ConcurrentTransactions));
        assert!(out.is_empty());
        assert_eq!(c, before);
        written(&mut c, "t");
        assert!(init(&mut c, "t").is_ok());
    }
}

/// TransactionCoordinatorTest.shouldAbortTransactionOnHandleInitPidWhenExistingTransactionInOngoingState
/// (TV1, `prepareFenceProducerEpoch`): fence to epoch+1 (last epoch -1), abort with markers at that
/// epoch, answer CONCURRENT_TRANSACTIONS; the retry after completion bumps again.
#[test]
fn init_on_ongoing_fences_and_aborts_tv1() {
    let mut c = ongoing(Tv1, 1);
    let (r, out) = c.handle_init_producer_id(&init_req(Some("t"), 60_000, None), 5);
    assert_eq!(r, Err(ErrorCode::ConcurrentTransactions));
    assert_eq!(logged_states(&out), vec![Some(PrepareAbort)]);
    assert_eq!(
        markers_in(&out),
        vec![
            marker("t", "topic-0", 10, 2, 0, Abort),
            marker("t", "topic-1", 10, 2, 0, Abort)
        ]
    );
    let m = meta(&c, "t");
    assert_eq!(
        (m.state, m.producer_epoch, m.last_producer_epoch),
        (PrepareAbort, 2, -1)
    );
    assert_eq!(
        end(&mut c, "t", 10, 1, Commit, Tv1),
        Err(ErrorCode::ProducerFenced)
    );
    written(&mut c, "t");
    assert_eq!(meta(&c, "t").state, CompleteAbort);
    assert_eq!(init(&mut c, "t"), Ok(pe(10, 3)));
}

/// TransactionCoordinatorTest.shouldNotCauseEpochOverflowWhenInitPidDuringOngoingTxnV2 / the TV2
/// fence: only the abort bumps (epoch+1, last epoch = old), markers at epoch+1.
#[test]
fn init_on_ongoing_fences_and_aborts_tv2() {
    let mut c = ongoing(Tv2, 4);
    let (r, out) = c.handle_init_producer_id(&init_req(Some("t"), 60_000, None), 0);
    assert_eq!(r, Err(ErrorCode::ConcurrentTransactions));
    assert_eq!(markers_in(&out)[0], marker("t", "topic-0", 10, 5, 0, Abort));
    let m = meta(&c, "t");
    assert_eq!(
        (m.state, m.producer_epoch, m.last_producer_epoch),
        (PrepareAbort, 5, 4)
    );
    written(&mut c, "t");
    assert_eq!(init(&mut c, "t"), Ok(pe(10, 6)));
}

/// TransactionCoordinatorTest.shouldUseLastEpochToFenceWhenEpochsAreExhausted (TV1): the fence
/// reaches 32767; the retry after completion rotates the producer id.
#[test]
fn fence_at_epoch_limit_tv1_reaches_32767_then_rotates() {
    let mut c = coordinator_with(Tv1, 11, CoordinatorBugs::default());
    load(&mut c, "t", value(10, 32766, Ongoing, &["topic-0"]), Tv1);
    assert_eq!(init(&mut c, "t"), Err(ErrorCode::ConcurrentTransactions));
    assert_eq!(
        pending_markers(&c, "t"),
        vec![marker("t", "topic-0", 10, 32767, 0, Abort)]
    );
    written(&mut c, "t");
    assert_eq!(init(&mut c, "t"), Ok(pe(11, 0)));
}

/// TransactionCoordinatorTest.shouldNotCauseEpochOverflowWhenInitPidDuringOngoingTxnV2: a TV2
/// fence at 32766 ends at 32767 with no producer-id allocation; the next InitProducerId rotates.
#[test]
fn fence_at_epoch_limit_tv2_does_not_allocate_a_producer_id() {
    let mut c = coordinator_with(Tv2, 11, CoordinatorBugs::default());
    load(&mut c, "t", value(10, 32766, Ongoing, &["topic-0"]), Tv2);
    assert_eq!(init(&mut c, "t"), Err(ErrorCode::ConcurrentTransactions));
    let m = meta(&c, "t");
    assert_eq!((m.producer_epoch, m.next_producer_id), (32767, -1));
    assert_eq!(c.producer_id_manager().peek_next_producer_id(), Some(11));
    written(&mut c, "t");
    assert_eq!(
        (meta(&c, "t").producer_id, meta(&c, "t").producer_epoch),
        (10, 32767)
    );
    assert_eq!(init(&mut c, "t"), Ok(pe(11, 0)));
}

/// TransactionMetadata.prepareFenceProducerEpoch [2025-10]: an epoch already at 32767 cannot be
/// fenced (IllegalStateException "would overflow" → UNKNOWN_SERVER_ERROR); nothing changes.
#[test]
fn fence_at_32767_is_refused_without_state_change() {
    for tv in [Tv1, Tv2] {
        let mut c = coordinator(tv);
        load(&mut c, "t", value(10, 32767, Ongoing, &["topic-0"]), tv);
        let before = c.clone();
        let (r, out) = c.handle_init_producer_id(&init_req(Some("t"), 60_000, None), 0);
        assert_eq!(r, Err(ErrorCode::UnknownServerError));
        assert!(out.is_empty());
        assert_eq!(c, before);
    }
}

// ---------------------------------------------------------------------------------------------
// AddPartitionsToTxn and verify-only (handleAddPartitionsToTransaction,
// handleVerifyPartitionsInTransaction)

/// TransactionCoordinatorTest.shouldRespondWithInvalidRequestAddPartitionsToTransactionWhenTransactionalIdIsEmpty.
#[test]
fn add_partitions_with_empty_id_is_invalid_request() {
    let mut c = coordinator(Tv2);
    assert_eq!(
        add(&mut c, "", 0, 0, &["topic-0"]),
        Err(ErrorCode::InvalidRequest)
    );
    assert_eq!(
        verify(&mut c, "", 0, 0, &["topic-0"]),
        Err(ErrorCode::InvalidRequest)
    );
}

/// TransactionCoordinatorTest.shouldRespondWithInvalidPidMappingOnAddPartitionsToTransactionWhenTransactionalIdNotPresent.
#[test]
fn add_partitions_for_unknown_id_is_invalid_producer_id_mapping() {
    let mut c = coordinator(Tv2);
    assert_eq!(
        add(&mut c, "t", 0, 0, &["topic-0"]),
        Err(ErrorCode::InvalidProducerIdMapping)
    );
}

/// TransactionCoordinatorTest.shouldRespondWithInvalidPidMappingOnAddPartitionsWhenProducerIdDoesNotMatch.
#[test]
fn add_partitions_with_other_producer_id_is_invalid_producer_id_mapping() {
    let mut c = coordinator(Tv2);
    init(&mut c, "t").unwrap();
    assert_eq!(
        add(&mut c, "t", 11, 0, &["topic-0"]),
        Err(ErrorCode::InvalidProducerIdMapping)
    );
}

/// TransactionCoordinatorTest.shouldRespondWithProducerFencedOnAddPartitionsWhenEpochsAreDifferent
/// (KIP-588).
#[test]
fn add_partitions_with_other_epoch_is_producer_fenced() {
    let mut c = coordinator(Tv2);
    init(&mut c, "t").unwrap();
    assert_eq!(
        add(&mut c, "t", 10, 1, &["topic-0"]),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(meta(&c, "t").state, Empty);
}

/// TransactionCoordinator.handleAddPartitionsToTransaction [2025-10]: the pending transition is
/// checked *before* the producer id, so the new producer id of a TV2 overflow, used while the
/// completion is pending, is told to retry (CONCURRENT_TRANSACTIONS) rather than fenced.
#[test]
fn add_partitions_checks_pending_completion_before_producer_id() {
    let mut c = coordinator_with(Tv2, 11, CoordinatorBugs::default());
    load(&mut c, "t", value(10, 32766, Ongoing, &["topic-0"]), Tv2);
    assert_eq!(
        end(&mut c, "t", 10, 32766, Commit, Tv2),
        Ok(Some(pe(11, 0)))
    );
    assert_eq!(
        add(&mut c, "t", 11, 0, &["topic-1"]),
        Err(ErrorCode::ConcurrentTransactions)
    );
    written(&mut c, "t");
    assert_eq!(add(&mut c, "t", 11, 0, &["topic-1"]), Ok(()));
}

/// TransactionCoordinatorTest.shouldRespondWithConcurrentTransactionsOnAddPartitionsWhenStateIsPrepareCommit:
/// while a Prepare* completes, an add is CONCURRENT_TRANSACTIONS whatever its epoch (the pending
/// completion is checked first).
#[test]
fn add_partitions_in_prepare_state_is_concurrent_transactions() {
    let mut c = ongoing(Tv1, 0);
    end(&mut c, "t", 10, 0, Commit, Tv1).unwrap();
    assert_eq!(
        add(&mut c, "t", 10, 0, &["topic-0"]),
        Err(ErrorCode::ConcurrentTransactions)
    );
    assert_eq!(
        add(&mut c, "t", 10, 1, &["topic-0"]),
        Err(ErrorCode::ConcurrentTransactions)
    );
}

/// TransactionCoordinatorTest.shouldRespondWithErrorsNoneOnAddPartitionWhenOngoingAndPartitionsTheSame:
/// nothing to add is a success with no write.
#[test]
fn add_partitions_already_present_succeeds_without_a_write() {
    let mut c = ongoing(Tv2, 0);
    let before = c.clone();
    let (r, out) = c.handle_add_partitions_to_txn(&add_req("t", 10, 0, &["topic-1"], false), 99);
    assert_eq!(r, Ok(()));
    assert!(out.is_empty());
    assert_eq!(c, before);
}

/// TransactionCoordinatorTest.shouldAppendNewMetadataToLogOnAddPartitionsWhenPartitionsAdded /
/// TransactionMetadata.prepareAddPartitions: a transaction starts at `now`, later adds keep the start
/// time and accumulate partitions.
#[test]
fn add_partitions_starts_a_transaction_and_accumulates_partitions() {
    let mut c = coordinator(Tv2);
    init(&mut c, "t").unwrap();
    let (r, out) = c.handle_add_partitions_to_txn(&add_req("t", 10, 0, &["topic-0"], false), 50);
    assert_eq!(r, Ok(()));
    assert_eq!(logged_states(&out), vec![Some(Ongoing)]);
    add_at(&mut c, "t", 10, 0, &["topic-1"], 70).unwrap();
    let m = meta(&c, "t");
    assert_eq!(m.partitions, tps(&["topic-0", "topic-1"]));
    assert_eq!(
        (m.txn_start_timestamp, m.txn_last_update_timestamp),
        (50, 70)
    );
}

/// TransactionCoordinatorTest.testVerifyPartitionHandling (KIP-890 part 1): id, epoch, Prepare*,
/// then membership; nothing is added.
#[test]
fn verify_only_checks_mapping_epoch_state_then_membership_and_adds_nothing() {
    let mut c = coordinator(Tv1);
    assert_eq!(
        verify(&mut c, "t", 10, 0, &["topic-0"]),
        Err(ErrorCode::InvalidProducerIdMapping)
    );
    init(&mut c, "t").unwrap();
    assert_eq!(
        verify(&mut c, "t", 10, 0, &["topic-0"]),
        Err(ErrorCode::TransactionAbortable)
    );
    assert_eq!(meta(&c, "t").state, Empty);
    add(&mut c, "t", 10, 0, &["topic-0"]).unwrap();
    assert_eq!(verify(&mut c, "t", 10, 0, &["topic-0"]), Ok(()));
    assert_eq!(
        verify(&mut c, "t", 11, 0, &["topic-0"]),
        Err(ErrorCode::InvalidProducerIdMapping)
    );
    assert_eq!(
        verify(&mut c, "t", 10, 1, &["topic-0"]),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(meta(&c, "t").partitions, tps(&["topic-0"]));
}

/// handleVerifyPartitionsInTransaction: with several partitions the answer is the first failing
/// one's in sorted order (TRANSACTION_ABORTABLE), or success.
#[test]
fn verify_only_with_several_partitions_answers_transaction_abortable_if_any_is_missing() {
    let mut c = ongoing(Tv1, 0);
    assert_eq!(verify(&mut c, "t", 10, 0, &["topic-0", "topic-1"]), Ok(()));
    assert_eq!(
        verify(&mut c, "t", 10, 0, &["a-0", "topic-0"]),
        Err(ErrorCode::TransactionAbortable)
    );
    assert_eq!(
        verify(&mut c, "t", 10, 0, &["topic-0", "topic-9"]),
        Err(ErrorCode::TransactionAbortable)
    );
}

/// TransactionCoordinator.handleVerifyPartitionsInTransaction: the pending state is ignored, so
/// during a pending completion the producer id and epoch are checked first (an add answers
/// CONCURRENT_TRANSACTIONS first).
#[test]
fn verify_only_ignores_pending_completion() {
    let mut c = ongoing(Tv1, 0);
    end(&mut c, "t", 10, 0, Commit, Tv1).unwrap();
    assert_eq!(
        verify(&mut c, "t", 10, 1, &["topic-0"]),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        add(&mut c, "t", 10, 1, &["topic-0"]),
        Err(ErrorCode::ConcurrentTransactions)
    );
    assert_eq!(
        verify(&mut c, "t", 10, 0, &["topic-0"]),
        Err(ErrorCode::ConcurrentTransactions)
    );
}

// ---------------------------------------------------------------------------------------------
// EndTxn TV1 (TransactionCoordinator.endTransactionWithTV1)

/// TransactionCoordinatorTest.shouldReplyWithInvalidPidMappingOnEndTxnWhenTxnIdDoesntExist /
/// ...WhenPidDosentMatchMapped, and the empty-id INVALID_REQUEST.
#[test]
fn end_txn_unknown_id_or_producer_id_is_invalid_producer_id_mapping() {
    for tv in [Tv1, Tv2] {
        let mut c = ongoing(tv, 0);
        assert_eq!(
            end(&mut c, "", 10, 0, Commit, tv),
            Err(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            end(&mut c, "x", 10, 0, Commit, tv),
            Err(ErrorCode::InvalidProducerIdMapping)
        );
        assert_eq!(
            end(&mut c, "t", 11, 0, Commit, tv),
            Err(ErrorCode::InvalidProducerIdMapping)
        );
    }
}

/// TransactionCoordinatorTest.shouldAppendPrepareCommitToLogOnEndTxnWhenStatusIsOngoingAndResultIsCommit
/// / ...PrepareAbort...: TV1 keeps the epoch, writes Prepare*, sends markers, answers with no id/epoch.
#[test]
fn tv1_end_txn_on_ongoing_writes_prepare_at_same_epoch_and_sends_markers() {
    for (result, state) in [(Commit, PrepareCommit), (Abort, PrepareAbort)] {
        let mut c = ongoing(Tv1, 2);
        let (r, out) = c.handle_end_txn(&end_req("t", 10, 2, result, Tv1), 0);
        assert_eq!(r, Ok(None));
        assert_eq!(logged_states(&out), vec![Some(state)]);
        assert_eq!(
            markers_in(&out),
            vec![
                marker("t", "topic-0", 10, 2, 0, result),
                marker("t", "topic-1", 10, 2, 0, result)
            ]
        );
        assert_eq!(
            meta(&c, "t").pending_state(),
            Some(if result == Commit {
                CompleteCommit
            } else {
                CompleteAbort
            })
        );
    }
}

/// TransactionCoordinatorTest.shouldReplyWithProducerFencedOnEndTxnWhenEpochIsNotSameAsTransaction:
/// TV1 needs the exact epoch (a lower or a higher one is fenced), checked before the pending completion.
#[test]
fn tv1_end_txn_epoch_must_be_exact_and_is_checked_before_pending() {
    let mut c = ongoing(Tv1, 2);
    assert_eq!(
        end(&mut c, "t", 10, 1, Commit, Tv1),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        end(&mut c, "t", 10, 3, Commit, Tv1),
        Err(ErrorCode::ProducerFenced)
    );
    end(&mut c, "t", 10, 2, Commit, Tv1).unwrap();
    assert_eq!(
        end(&mut c, "t", 10, 1, Commit, Tv1),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        end(&mut c, "t", 10, 2, Commit, Tv1),
        Err(ErrorCode::ConcurrentTransactions)
    );
    assert_eq!(
        end(&mut c, "t", 10, 2, Abort, Tv1),
        Err(ErrorCode::ConcurrentTransactions)
    );
}

/// TransactionCoordinatorTest.shouldReturnOkOnEndTxnWhenStatusIsCompleteCommitAndResultIsCommit /
/// ...IsCompleteAbortAndResultIsAbort / shouldReturnInvalidTxnRequestOnEndTxnRequestWhenStatusIsCompleteCommitAndResultIsNotCommit.
#[test]
fn tv1_end_txn_on_complete_states_repeats_ok_and_the_other_result_is_invalid_txn_state() {
    for (result, other) in [(Commit, Abort), (Abort, Commit)] {
        let mut c = ongoing(Tv1, 2);
        end(&mut c, "t", 10, 2, result, Tv1).unwrap();
        written(&mut c, "t");
        let before = c.clone();
        let (r, out) = c.handle_end_txn(&end_req("t", 10, 2, result, Tv1), 0);
        assert_eq!(r, Ok(None));
        assert!(out.is_empty());
        assert_eq!(
            end(&mut c, "t", 10, 2, other, Tv1),
            Err(ErrorCode::InvalidTxnState)
        );
        assert_eq!(c, before);
    }
}

/// TransactionCoordinatorTest.shouldReturnInvalidTxnRequestOnEndTxnRequestWhenStatusIsEmpty (TV1).
#[test]
fn tv1_end_txn_on_empty_is_invalid_txn_state() {
    let mut c = coordinator(Tv1);
    init(&mut c, "t").unwrap();
    assert_eq!(
        end(&mut c, "t", 10, 0, Commit, Tv1),
        Err(ErrorCode::InvalidTxnState)
    );
    assert_eq!(
        end(&mut c, "t", 10, 0, Abort, Tv1),
        Err(ErrorCode::InvalidTxnState)
    );
}

/// TransactionCoordinatorTest.shouldReturnConcurrentTxnRequestOnEndTxnRequestWhenStatusIsPrepareCommit /
/// shouldReturnInvalidTxnRequestOnEndTxnRequestWhenStatusIsPrepareAbort: reached in a running
/// coordinator only once the markers are dropped (the completion stays pending, so it is
/// CONCURRENT_TRANSACTIONS either way after the id and epoch checks).
#[test]
fn tv1_end_txn_in_prepare_with_dropped_markers_is_still_concurrent_transactions() {
    let mut c = ongoing(Tv1, 2);
    end(&mut c, "t", 10, 2, Commit, Tv1).unwrap();
    let r = response_for(&c, "t", None, Some(ErrorCode::InvalidProducerEpoch));
    c.handle_write_txn_markers_response(&r).unwrap();
    assert_eq!(
        end(&mut c, "t", 10, 2, Abort, Tv1),
        Err(ErrorCode::ConcurrentTransactions)
    );
    assert_eq!(
        end(&mut c, "t", 10, 1, Abort, Tv1),
        Err(ErrorCode::ProducerFenced)
    );
}

// ---------------------------------------------------------------------------------------------
// EndTxn TV2 (TransactionCoordinator.endTransaction, KIP-890 part 2)

/// TransactionMetadataTest.testEpochBumpOnEndTxn: TV2 EndTxn bumps the epoch, the client gets it,
/// markers carry it.
#[test]
fn tv2_end_txn_bumps_epoch_and_returns_it() {
    for (result, state) in [(Commit, PrepareCommit), (Abort, PrepareAbort)] {
        let mut c = ongoing(Tv2, 0);
        let (r, out) = c.handle_end_txn(&end_req("t", 10, 0, result, Tv2), 0);
        assert_eq!(r, Ok(Some(pe(10, 1))));
        assert_eq!(logged_states(&out), vec![Some(state)]);
        assert_eq!(
            markers_in(&out)[0],
            marker("t", "topic-0", 10, 1, 0, result)
        );
        assert_eq!(meta(&c, "t").last_producer_epoch, 0);
    }
}

/// TransactionCoordinator.endTransaction [2025-10] check order: the pending completion comes before
/// the producer id and epoch checks.
#[test]
fn tv2_end_txn_checks_pending_completion_first() {
    let mut c = ongoing(Tv2, 0);
    end(&mut c, "t", 10, 0, Commit, Tv2).unwrap();
    for (pid, epoch) in [(10, 0), (10, 1), (10, 7), (99, 0)] {
        assert_eq!(
            end(&mut c, "t", pid, epoch, Commit, Tv2),
            Err(ErrorCode::ConcurrentTransactions)
        );
    }
}

/// TransactionCoordinatorTest.testEndTxnWhenStatusIsCompleteCommitAndResultIsCommitInV2 (the TV2
/// table of TransactionCoordinator.endTransaction): a retry (epoch+1 stored) of the same result is
/// OK with the current id/epoch; the current epoch is the *next* transaction, not a retry.
#[test]
fn tv2_retry_after_completion_returns_current_epoch_and_same_epoch_is_not_a_retry() {
    let mut c = ongoing(Tv2, 0);
    end(&mut c, "t", 10, 0, Commit, Tv2).unwrap();
    written(&mut c, "t");
    let before = c.clone();
    assert_eq!(end(&mut c, "t", 10, 0, Commit, Tv2), Ok(Some(pe(10, 1))));
    assert_eq!(c, before);
    assert_eq!(
        end(&mut c, "t", 10, 1, Commit, Tv2),
        Err(ErrorCode::InvalidTxnState)
    );
    assert_eq!(
        end(&mut c, "t", 10, 0, Abort, Tv2),
        Err(ErrorCode::InvalidTxnState)
    );
    assert_eq!(
        end(&mut c, "t", 10, 2, Commit, Tv2),
        Err(ErrorCode::ProducerFenced)
    );
}

/// TransactionCoordinatorTest.TestEndTxnRequestWhenEmptyTransactionStateForAbortInV2: an abort at the
/// current epoch on Empty is an "empty abort": PrepareAbort epoch+1 with no partitions, completed at
/// once with no markers; COMMIT is INVALID_TXN_STATE; an old epoch is PRODUCER_FENCED.
#[test]
fn tv2_empty_abort_completes_at_once_without_markers() {
    let mut c = coordinator(Tv2);
    init(&mut c, "t").unwrap();
    init(&mut c, "t").unwrap();
    assert_eq!(
        end(&mut c, "t", 10, 1, Commit, Tv2),
        Err(ErrorCode::InvalidTxnState)
    );
    assert_eq!(
        end(&mut c, "t", 10, 0, Abort, Tv2),
        Err(ErrorCode::ProducerFenced)
    );
    let (r, out) = c.handle_end_txn(&end_req("t", 10, 1, Abort, Tv2), 30);
    assert_eq!(r, Ok(Some(pe(10, 2))));
    assert_eq!(
        logged_states(&out),
        vec![Some(PrepareAbort), Some(CompleteAbort)]
    );
    assert!(markers_in(&out).is_empty());
    let m = meta(&c, "t");
    assert_eq!(
        (
            m.state,
            m.producer_epoch,
            m.last_producer_epoch,
            m.txn_start_timestamp
        ),
        (CompleteAbort, 2, 1, 30)
    );
    assert!(m.pending_completion.is_none());
}

/// The TV2 table of TransactionCoordinator.endTransaction for Complete*: abort at the current epoch is
/// an empty abort, a retried abort on CompleteCommit is INVALID_TXN_STATE, commit on CompleteAbort is
/// INVALID_TXN_STATE (retry or current; [2025-10], before KAFKA-20785).
#[test]
fn tv2_end_txn_on_complete_states_follows_the_retry_table() {
    let mut c = ongoing(Tv2, 0);
    end(&mut c, "t", 10, 0, Commit, Tv2).unwrap();
    written(&mut c, "t");
    assert_eq!(end(&mut c, "t", 10, 1, Abort, Tv2), Ok(Some(pe(10, 2))));
    assert_eq!(meta(&c, "t").state, CompleteAbort);
    assert_eq!(end(&mut c, "t", 10, 1, Abort, Tv2), Ok(Some(pe(10, 2))));
    // A commit at the retry epoch on CompleteAbort: PRODUCER_FENCED since KAFKA-20785
    // (apache/kafka#23204); INVALID_TXN_STATE before it.
    assert_eq!(
        end(&mut c, "t", 10, 1, Commit, Tv2),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        end(&mut c, "t", 10, 2, Commit, Tv2),
        Err(ErrorCode::InvalidTxnState)
    );
    assert_eq!(end(&mut c, "t", 10, 2, Abort, Tv2), Ok(Some(pe(10, 3))));
}

/// TransactionCoordinatorTest.shouldGenerateNewProducerIdIfEpochsExhaustedV2: a TV2 EndTxn at 32766
/// allocates the next producer id; the client gets (next, 0); markers carry the old id at 32767;
/// the completion switches to the new id with last epoch 32766.
#[test]
fn tv2_end_txn_at_epoch_limit_allocates_next_producer_id() {
    let mut c = coordinator_with(Tv2, 11, CoordinatorBugs::default());
    load(&mut c, "t", value(10, 32766, Ongoing, &["topic-0"]), Tv2);
    let (r, out) = c.handle_end_txn(&end_req("t", 10, 32766, Abort, Tv2), 0);
    assert_eq!(r, Ok(Some(pe(11, 0))));
    assert_eq!(
        markers_in(&out),
        vec![marker("t", "topic-0", 10, 32767, 0, Abort)]
    );
    assert_eq!(meta(&c, "t").next_producer_id, 11);
    let out = written(&mut c, "t");
    assert_eq!(logged_states(&out), vec![Some(CompleteAbort)]);
    let m = meta(&c, "t");
    assert_eq!(
        (
            m.producer_id,
            m.previous_producer_id,
            m.next_producer_id,
            m.producer_epoch,
            m.last_producer_epoch
        ),
        (11, 10, -1, 0, 32766)
    );
}

/// TransactionCoordinator.endTransaction `retryOnOverflow`: after an overflow, a retry with the old id
/// at 32766 is recognised and answered with the new id.
#[test]
fn tv2_retry_on_overflow_is_recognised() {
    let mut c = coordinator_with(Tv2, 11, CoordinatorBugs::default());
    load(&mut c, "t", value(10, 32766, Ongoing, &["topic-0"]), Tv2);
    end(&mut c, "t", 10, 32766, Commit, Tv2).unwrap();
    written(&mut c, "t");
    assert_eq!(
        end(&mut c, "t", 10, 32766, Commit, Tv2),
        Ok(Some(pe(11, 0)))
    );
    assert_eq!(
        end(&mut c, "t", 10, 32766, Abort, Tv2),
        Err(ErrorCode::InvalidTxnState)
    );
    assert_eq!(
        end(&mut c, "t", 10, 32765, Commit, Tv2),
        Err(ErrorCode::InvalidProducerIdMapping)
    );
}

/// RPCProducerIdManager: when no producer id can be allocated for the overflow, EndTxn fails with
/// COORDINATOR_LOAD_IN_PROGRESS (Errors.forException) and nothing changes.
#[test]
fn tv2_overflow_without_producer_ids_is_coordinator_load_in_progress_and_changes_nothing() {
    let mut c = coordinator_with(Tv2, i64::MAX - 1000, CoordinatorBugs::default());
    for _ in 0..1000 {
        c.handle_init_producer_id(&init_req(None, 60_000, None), 0)
            .0
            .unwrap();
    }
    load(&mut c, "t", value(10, 32766, Ongoing, &["topic-0"]), Tv2);
    let before = c.clone();
    let (r, out) = c.handle_end_txn(&end_req("t", 10, 32766, Commit, Tv2), 0);
    assert_eq!(r, Err(ErrorCode::CoordinatorLoadInProgress));
    assert!(out.is_empty());
    assert_eq!(c, before);
}

/// TransactionMetadata.prepareAbortOrCommit [2025-10] ("we already ensured that we do not overflow"):
/// an Ongoing transaction at 32767 cannot be ended under TV2 (the epoch would wrap; UNKNOWN_SERVER_ERROR),
/// and no producer id is consumed.
#[test]
fn tv2_end_txn_at_32767_is_unknown_server_error() {
    let mut c = coordinator(Tv2);
    load(&mut c, "t", value(5, 32767, Ongoing, &["topic-0"]), Tv2);
    let before = c.clone();
    assert_eq!(
        end(&mut c, "t", 5, 32767, Commit, Tv2),
        Err(ErrorCode::UnknownServerError)
    );
    assert_eq!(c, before);
}

// ---------------------------------------------------------------------------------------------
// Timeouts and expiration (abortTimedOutTransactions, removeExpiredTransactionalIds)

/// TransactionCoordinatorTest.shouldAbortExpiredTransactionsInOngoingStateAndBumpEpoch: only
/// `start + timeout < now` (strictly) times out; TV1 fences to epoch+1 (last -1) and aborts.
#[test]
fn timeout_aborts_strictly_after_start_plus_timeout_with_bump_tv1() {
    let mut c = coordinator(Tv1);
    init_at(&mut c, "t", 1000, 0).unwrap();
    add_at(&mut c, "t", 10, 0, &["topic-0"], 0).unwrap();
    assert_eq!(c.abort_timed_out_transactions(1000).0, Vec::<String>::new());
    let (aborted, out) = c.abort_timed_out_transactions(1001);
    assert_eq!(aborted, vec!["t".to_string()]);
    assert_eq!(
        markers_in(&out),
        vec![marker("t", "topic-0", 10, 1, 0, Abort)]
    );
    let m = meta(&c, "t");
    assert_eq!(
        (m.state, m.producer_epoch, m.last_producer_epoch),
        (PrepareAbort, 1, -1)
    );
    assert!(c.abort_timed_out_transactions(5000).0.is_empty());
}

/// TransactionCoordinatorTest.shouldHandleTimeoutAtEpochOverflowBoundaryCorrectlyTV2 and the TV2
/// timeout abort: one bump (last epoch = old), no producer-id allocation at 32766.
#[test]
fn timeout_abort_tv2_bumps_once_and_never_allocates() {
    let mut c = coordinator_with(Tv2, 11, CoordinatorBugs::default());
    load(
        &mut c,
        "t",
        TransactionLogValue {
            transaction_timeout_ms: 1000,
            ..value(10, 32766, Ongoing, &["topic-0"])
        },
        Tv2,
    );
    assert_eq!(
        c.abort_timed_out_transactions(1001).0,
        vec!["t".to_string()]
    );
    let m = meta(&c, "t");
    assert_eq!(
        (m.producer_epoch, m.last_producer_epoch, m.next_producer_id),
        (32767, 32766, -1)
    );
    written(&mut c, "t");
    assert_eq!(
        add(&mut c, "t", 10, 32766, &["topic-1"]),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(init(&mut c, "t"), Ok(pe(11, 0)));
}

/// TransactionStateManager.timedOutTransactions: only Ongoing entries without a pending transition
/// are candidates (Empty, Prepare*, Complete* never time out).
#[test]
fn timeout_ignores_everything_but_ongoing() {
    let mut c = coordinator(Tv2);
    load(&mut c, "e", value(1, 0, Empty, &[]), Tv2);
    load(&mut c, "cc", value(2, 0, CompleteCommit, &[]), Tv2);
    load(&mut c, "pc", value(3, 0, PrepareCommit, &["topic-0"]), Tv2);
    load(&mut c, "o", value(4, 0, Ongoing, &["topic-0"]), Tv2);
    let (aborted, _) = c.abort_timed_out_transactions(i64::MAX);
    assert_eq!(aborted, vec!["o".to_string()]);
}

/// prepareFenceProducerEpoch [2025-10] at 32767: the timeout abort cannot fence and the transaction
/// is left Ongoing (the hang KAFKA-20090 later fixed).
#[test]
fn timeout_at_epoch_32767_is_not_aborted() {
    for tv in [Tv1, Tv2] {
        let mut c = coordinator(tv);
        load(&mut c, "t", value(10, 32767, Ongoing, &["topic-0"]), tv);
        let before = c.clone();
        let (aborted, out) = c.abort_timed_out_transactions(i64::MAX);
        assert!(aborted.is_empty() && out.is_empty());
        assert_eq!(c, before);
    }
}

/// TransactionStateManagerTest.shouldRemoveCompleteCommitExpiredTransactionalIds /
/// ...CompleteAbort... / ...Empty...: expiry at `last update <= now - expiration`, with a tombstone.
#[test]
fn expiry_removes_idle_empty_and_complete_ids_with_a_tombstone() {
    let mut c = coordinator(Tv2);
    let exp = c.config().transactional_id_expiration_ms;
    init_at(&mut c, "t", 60_000, 100).unwrap();
    assert!(c.expire_transactional_ids(100 + exp - 1).0.is_empty());
    let (expired, out) = c.expire_transactional_ids(100 + exp);
    assert_eq!(expired, vec!["t".to_string()]);
    assert_eq!(logged_states(&out), vec![None]);
    assert!(c.transaction("t").is_none());
    assert_eq!(init(&mut c, "t"), Ok(pe(11, 0)));
}

/// TransactionStateManagerTest.shouldRemoveCompleteCommitExpiredTransactionalIds: a completed
/// transaction counts from its Prepare* write, not from its last marker.
#[test]
fn expiry_of_a_completed_transaction_counts_from_its_prepare_write() {
    let mut c = coordinator(Tv2);
    let exp = c.config().transactional_id_expiration_ms;
    init(&mut c, "t").unwrap();
    add(&mut c, "t", 10, 0, &["topic-0"]).unwrap();
    end_at(&mut c, "t", 10, 0, Commit, Tv2, 10).unwrap();
    written(&mut c, "t"); // acknowledged much later; the time does not matter
    assert_eq!(meta(&c, "t").txn_last_update_timestamp, 10);
    assert!(c.expire_transactional_ids(10 + exp - 1).0.is_empty());
    assert_eq!(
        c.expire_transactional_ids(10 + exp).0,
        vec!["t".to_string()]
    );
}

/// TransactionStateManagerTest.shouldNotRemoveOngoingTransactionalIds / ...PrepareCommit...: Ongoing
/// and Prepare* never expire.
#[test]
fn ongoing_and_prepare_never_expire() {
    let mut c = coordinator(Tv2);
    load(&mut c, "o", value(4, 0, Ongoing, &["topic-0"]), Tv2);
    load(&mut c, "pc", value(3, 0, PrepareCommit, &["topic-0"]), Tv2);
    load(&mut c, "pa", value(5, 0, PrepareAbort, &["topic-0"]), Tv2);
    assert!(c.expire_transactional_ids(i64::MAX).0.is_empty());
    assert_eq!(c.transactions().len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Markers and completion (TransactionMarkerRequestCompletionHandler)

/// TransactionMarkerRequestCompletionHandlerTest.shouldCompleteDelayedOperationWhenNoErrors: each
/// written partition leaves the set; the completion is written when none is left.
#[test]
fn marker_success_removes_partitions_and_completes_when_none_is_left() {
    let mut c = ongoing(Tv2, 0);
    end_at(&mut c, "t", 10, 0, Commit, Tv2, 40).unwrap();
    let r = response_for(&c, "t", Some(&["topic-0"]), None);
    assert!(c.handle_write_txn_markers_response(&r).unwrap().is_empty());
    assert_eq!(meta(&c, "t").partitions, tps(&["topic-1"]));
    assert_eq!(
        pending_markers(&c, "t"),
        vec![marker("t", "topic-1", 10, 1, 0, Commit)]
    );
    let out = written(&mut c, "t");
    assert_eq!(logged_states(&out), vec![Some(CompleteCommit)]);
    let m = meta(&c, "t");
    assert_eq!((m.state, m.txn_last_update_timestamp), (CompleteCommit, 40));
    assert!(m.partitions.is_empty() && m.pending_completion.is_none());
}

/// TransactionMarkerRequestCompletionHandlerTest.shouldRetryPartitionWhen{UnknownTopicOrPartition,
/// NotLeaderOrFollower,NotEnoughReplicas,NotEnoughReplicasAfterAppend,RequestTimedOut,KafkaStorage}Error:
/// retriable errors keep the partition pending and re-send its marker.
#[test]
fn marker_retriable_errors_keep_the_partition_pending_and_resend() {
    for e in [
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::NotLeaderOrFollower,
        ErrorCode::NotEnoughReplicas,
        ErrorCode::NotEnoughReplicasAfterAppend,
        ErrorCode::RequestTimedOut,
        ErrorCode::KafkaStorageError,
    ] {
        let mut c = ongoing(Tv2, 0);
        end(&mut c, "t", 10, 0, Commit, Tv2).unwrap();
        let r = response_for(&c, "t", Some(&["topic-0"]), Some(e));
        let out = c.handle_write_txn_markers_response(&r).unwrap();
        assert_eq!(
            markers_in(&out),
            vec![marker("t", "topic-0", 10, 1, 0, Commit)],
            "{e}"
        );
        assert_eq!(meta(&c, "t").partitions, tps(&["topic-0", "topic-1"]));
        assert_eq!(pending_markers(&c, "t").len(), 2);
    }
}

/// TransactionMarkerRequestCompletionHandlerTest.shouldReEnqueuePartitionsWhenBrokerDisconnected:
/// a disconnection (reported as NETWORK_EXCEPTION) re-sends the same marker; the transaction
/// stays in Prepare* until an answer for the marker arrives.
#[test]
fn marker_disconnection_resends_the_same_marker() {
    let mut c = ongoing(Tv2, 0);
    end(&mut c, "t", 10, 0, Abort, Tv2).unwrap();
    let sent = pending_markers(&c, "t");
    let r = response_for(
        &c,
        "t",
        Some(&["topic-0"]),
        Some(ErrorCode::NetworkException),
    );
    let out = c.handle_write_txn_markers_response(&r).unwrap();
    assert_eq!(
        markers_in(&out),
        vec![marker("t", "topic-0", 10, 1, 0, Abort)]
    );
    assert_eq!(
        markers_in(&out)[0],
        sent[0],
        "the re-sent marker is the first one"
    );
    assert_eq!(meta(&c, "t").state, PrepareAbort);
    assert_eq!(pending_markers(&c, "t"), sent);
}

/// TransactionMarkerRequestCompletionHandlerTest.shouldCompleteDelayedOperationWhenInvalidProducerEpoch /
/// ...WheCoordinatorEpochFenced: the markers are dropped and the transaction is not completed.
#[test]
fn marker_fencing_errors_drop_markers_without_completion() {
    for e in [
        ErrorCode::InvalidProducerEpoch,
        ErrorCode::TransactionCoordinatorFenced,
    ] {
        let mut c = ongoing(Tv2, 0);
        end(&mut c, "t", 10, 0, Commit, Tv2).unwrap();
        let r = response_for(&c, "t", Some(&["topic-0"]), Some(e));
        assert!(c.handle_write_txn_markers_response(&r).unwrap().is_empty());
        let m = meta(&c, "t");
        assert_eq!(m.state, PrepareCommit);
        assert_eq!(m.partitions, tps(&["topic-0", "topic-1"]));
        assert!(pending_markers(&c, "t").is_empty());
        assert_eq!(init(&mut c, "t"), Err(ErrorCode::ConcurrentTransactions));
        // A success still in flight for a dropped marker removes its partition (removePartition)
        // but writes no completion (maybeWriteTxnCompletion finds no pending entry).
        let late = WriteTxnMarkersResponse {
            transactional_id: "t".into(),
            producer_id: 10,
            producer_epoch: 1,
            coordinator_epoch: 0,
            result: Commit,
            partitions: tps(&["topic-0", "topic-1"]),
            error: None,
        };
        assert!(c
            .handle_write_txn_markers_response(&late)
            .unwrap()
            .is_empty());
        let m = meta(&c, "t");
        assert_eq!((m.state, m.partitions.is_empty()), (PrepareCommit, true));
        assert!(m.pending_completion.is_some());
    }
}

/// TransactionMarkerRequestCompletionHandlerTest.shouldRemoveTopicPartitionFromWaitingSetOnUnsupportedForMessageFormat:
/// UNSUPPORTED_FOR_MESSAGE_FORMAT and UNSUPPORTED_VERSION count the partition as written.
#[test]
fn marker_unsupported_errors_count_as_written() {
    for e in [
        ErrorCode::UnsupportedForMessageFormat,
        ErrorCode::UnsupportedVersion,
    ] {
        let mut c = ongoing(Tv1, 0);
        end(&mut c, "t", 10, 0, Abort, Tv1).unwrap();
        let r = response_for(&c, "t", None, Some(e));
        let out = c.handle_write_txn_markers_response(&r).unwrap();
        assert_eq!(logged_states(&out), vec![Some(CompleteAbort)]);
    }
}

/// TransactionMarkerRequestCompletionHandlerTest.shouldThrowIllegalStateExceptionWhen{CorruptMessage,
/// MessageTooLarge,RecordListTooLarge,InvalidRequiredAcks,Unknown}Error: a Rust error, nothing changes.
#[test]
fn marker_unexpected_errors_are_rust_errors_and_change_nothing() {
    for e in [
        ErrorCode::CorruptMessage,
        ErrorCode::MessageTooLarge,
        ErrorCode::RecordListTooLarge,
        ErrorCode::InvalidRequiredAcks,
        ErrorCode::UnknownServerError,
        ErrorCode::OutOfOrderSequenceNumber,
    ] {
        let mut c = ongoing(Tv2, 0);
        end(&mut c, "t", 10, 0, Commit, Tv2).unwrap();
        let before = c.clone();
        let r = response_for(&c, "t", None, Some(e));
        assert_eq!(
            c.handle_write_txn_markers_response(&r),
            Err(CoordinatorError::UnexpectedMarkerError(e))
        );
        assert_eq!(c, before);
    }
}

/// TransactionMarkerRequestCompletionHandler (coordinator epoch changed → drop): an answer for
/// markers that are not the pending ones (other coordinator epoch, epoch, or result) is ignored.
#[test]
fn marker_answer_for_other_markers_is_ignored() {
    let mut c = ongoing(Tv2, 0);
    end(&mut c, "t", 10, 0, Commit, Tv2).unwrap();
    let before = c.clone();
    let good = response_for(&c, "t", None, None);
    for r in [
        WriteTxnMarkersResponse {
            coordinator_epoch: 7,
            ..good.clone()
        },
        WriteTxnMarkersResponse {
            producer_epoch: 0,
            ..good.clone()
        },
        WriteTxnMarkersResponse {
            result: Abort,
            ..good.clone()
        },
        WriteTxnMarkersResponse {
            transactional_id: "x".into(),
            ..good.clone()
        },
        WriteTxnMarkersResponse {
            partitions: tps(&["other-0"]),
            ..good.clone()
        },
    ] {
        assert!(c.handle_write_txn_markers_response(&r).unwrap().is_empty());
        assert_eq!(c, before);
    }
}

/// TransactionMarkerChannelManager.addTxnMarkersToBrokerQueue (no leader: "these partitions are
/// likely deleted already and hence can be skipped", `removePartition`, `maybeWriteTxnCompletion`):
/// a deleted partition's marker is dropped; the transaction completes once the rest is written,
/// or at once when nothing else is left. Without the rule the marker stays pending forever.
#[test]
fn deleted_partitions_markers_are_dropped_and_the_transaction_completes() {
    for result in [Commit, Abort] {
        let complete = if result == Commit {
            CompleteCommit
        } else {
            CompleteAbort
        };
        // The deleted partition goes first: the other marker is still pending.
        let mut c = ongoing(Tv1, 2);
        let _ = end(&mut c, "t", 10, 2, result, Tv1);
        let out = c.handle_partitions_deleted(&tps(&["topic-1"]));
        assert!(out.is_empty(), "topic-0 is still pending: {out:?}");
        assert_eq!(
            pending_markers(&c, "t"),
            vec![marker("t", "topic-0", 10, 2, 0, result)]
        );
        assert_eq!(logged_states(&written(&mut c, "t")), vec![Some(complete)]);
        assert_eq!(meta(&c, "t").state, complete);

        // The other marker was written first: dropping the last one writes the completion.
        let mut c = ongoing(Tv1, 2);
        let _ = end(&mut c, "t", 10, 2, result, Tv1);
        let r = response_for(&c, "t", Some(&["topic-0"]), None);
        assert!(c.handle_write_txn_markers_response(&r).unwrap().is_empty());
        let out = c.handle_partitions_deleted(&tps(&["topic-1", "gone-0"]));
        assert_eq!(logged_states(&out), vec![Some(complete)]);
        assert_eq!(meta(&c, "t").state, complete);
        assert!(meta(&c, "t").partitions.is_empty());
        assert!(pending_markers(&c, "t").is_empty());
    }
}

/// The rule touches only markers in flight: an Ongoing transaction keeps the partition (Kafka's
/// EndTxn still lists it in Prepare*, and its marker is dropped when sent); partitions of no
/// transaction change nothing; markers already dropped (`markers_abandoned`) stay so.
#[test]
fn deleted_partitions_leave_ongoing_and_abandoned_transactions_alone() {
    let mut c = ongoing(Tv1, 2);
    let before = c.clone();
    assert!(c.handle_partitions_deleted(&tps(&["topic-1"])).is_empty());
    assert_eq!(c, before);

    // EndTxn later: Prepare* lists the partition, then its marker is dropped.
    let (_, out) = c.handle_end_txn(&end_req("t", 10, 2, Commit, Tv1), 0);
    assert_eq!(markers_in(&out).len(), 2);
    assert!(c.handle_partitions_deleted(&tps(&["topic-1"])).is_empty());
    assert_eq!(
        logged_states(&written(&mut c, "t")),
        vec![Some(CompleteCommit)]
    );

    // Markers dropped on INVALID_PRODUCER_EPOCH: no completion by this coordinator.
    let mut c = ongoing(Tv1, 2);
    let _ = end(&mut c, "t", 10, 2, Commit, Tv1);
    let r = response_for(&c, "t", None, Some(ErrorCode::InvalidProducerEpoch));
    c.handle_write_txn_markers_response(&r).unwrap();
    let before = c.clone();
    assert!(c
        .handle_partitions_deleted(&tps(&["topic-0", "topic-1"]))
        .is_empty());
    assert_eq!(c, before);
    assert_eq!(meta(&c, "t").state, PrepareCommit);
}

/// The staged form returns the completion as a `PendingAppend`, applied by `complete_append`.
#[test]
fn deleted_partitions_staged_completion_waits_for_its_append() {
    let mut c = ongoing(Tv1, 2);
    let _ = end(&mut c, "t", 10, 2, Abort, Tv1);
    let work = c.handle_partitions_deleted_staged(&tps(&["topic-0", "topic-1"]));
    assert!(work.outputs.is_empty());
    let [completion] = <[_; 1]>::try_from(work.appends).unwrap();
    assert_eq!(completion.target_state(), CompleteAbort);
    assert_eq!(meta(&c, "t").state, PrepareAbort);
    let outcome = c.complete_append(completion, Ok(()));
    assert_eq!(outcome.response, Ok(()));
    assert_eq!(meta(&c, "t").state, CompleteAbort);
}

// ---------------------------------------------------------------------------------------------
// Failover (onElection, loadTransactionsForTxnTopicPartition)

/// TransactionStateManagerTest.shouldWriteTxnMarkersForTransactionInPreparedCommitState /
/// ...PreparedAbortState: a loaded Prepare* entry resumes its markers with the *new* coordinator
/// epoch and completes once they are written; the completion records the load time.
#[test]
fn failover_resumes_prepare_markers_with_the_new_coordinator_epoch() {
    for (state, result, done) in [
        (PrepareCommit, Commit, CompleteCommit),
        (PrepareAbort, Abort, CompleteAbort),
    ] {
        let mut c = coordinator(Tv2);
        c.become_coordinator(3).unwrap();
        let v = TransactionLogValue {
            client_transaction_version: Tv2,
            ..value(10, 5, state, &["topic-0", "topic-1"])
        };
        let out = c.load_transaction("t", Some(&v), 77).unwrap();
        assert_eq!(
            markers_in(&out),
            vec![
                marker("t", "topic-0", 10, 5, 3, result),
                marker("t", "topic-1", 10, 5, 3, result)
            ]
        );
        assert_eq!(init(&mut c, "t"), Err(ErrorCode::ConcurrentTransactions));
        let out = written(&mut c, "t");
        assert_eq!(logged_states(&out), vec![Some(done)]);
        assert_eq!(meta(&c, "t").txn_last_update_timestamp, 77);
    }
}

/// TransactionStateManager.loadTransactionsForTxnTopicPartition + addTxnMarkersToSend with no
/// partitions: a loaded Prepare* with no partitions (a TV2 empty abort) completes at once.
#[test]
fn failover_loaded_prepare_without_partitions_completes_at_once() {
    let mut c = coordinator(Tv2);
    let out = load(&mut c, "t", value(10, 5, PrepareAbort, &[]), Tv2);
    assert_eq!(logged_states(&out), vec![Some(CompleteAbort)]);
    assert_eq!(meta(&c, "t").state, CompleteAbort);
}

/// TransactionStateManagerTest.testLoadAndRemoveTransactionsForPartition: a loaded Ongoing entry keeps
/// its partitions and commits with markers carrying the new coordinator epoch.
#[test]
fn failover_loaded_ongoing_commits_with_the_new_coordinator_epoch() {
    let mut c = coordinator(Tv1);
    c.become_coordinator(2).unwrap();
    load(&mut c, "t", value(10, 3, Ongoing, &["topic-0"]), Tv1);
    assert!(pending_markers(&c, "t").is_empty());
    let (_, out) = c.handle_end_txn(&end_req("t", 10, 3, Commit, Tv1), 0);
    assert_eq!(
        markers_in(&out),
        vec![marker("t", "topic-0", 10, 3, 2, Commit)]
    );
}

/// KAFKA-20357: the last producer epoch is not persisted, so a KIP-360
/// retry that spans a failover is fenced.
#[test]
fn failover_loses_last_producer_epoch_so_kip360_retry_is_fenced() {
    let mut c = coordinator(Tv2);
    init(&mut c, "t").unwrap();
    let (r, out) = c.handle_init_producer_id(&init_req(Some("t"), 60_000, Some((10, 0))), 0);
    assert_eq!(r, Ok(pe(10, 1)));
    let Some(CoordinatorOutput::AppendTransactionLog { value: Some(v), .. }) = out.last() else {
        panic!("no log record");
    };
    assert_eq!(v.last_producer_epoch, -1);
    assert_eq!(meta(&c, "t").last_producer_epoch, 0);
    c.become_coordinator(1).unwrap();
    assert!(c.transactions().is_empty());
    c.load_transaction("t", Some(v), 0).unwrap();
    assert_eq!(
        init_expected(&mut c, "t", 10, 0),
        Err(ErrorCode::ProducerFenced)
    );
}

/// TransactionCoordinator.onElection: a lower coordinator epoch is refused; the producer-id manager
/// (the broker's) survives a failover.
#[test]
fn become_coordinator_drops_the_cache_and_refuses_an_older_epoch() {
    let mut c = coordinator(Tv2);
    init(&mut c, "t").unwrap();
    c.become_coordinator(4).unwrap();
    assert_eq!(c.coordinator_epoch(), 4);
    assert!(c.transactions().is_empty());
    assert_eq!(
        c.become_coordinator(3),
        Err(CoordinatorError::StaleCoordinatorEpoch { current: 4, new: 3 })
    );
    assert_eq!(init(&mut c, "u"), Ok(pe(11, 0)));
}

/// TransactionLog.readTxnRecordValue: records Kafka never writes are refused; a tombstone removes.
#[test]
fn load_refuses_records_kafka_never_writes_and_tombstones_remove() {
    let mut c = coordinator(Tv2);
    for bad in [
        value(-1, 0, Empty, &[]),
        value(1, -1, Empty, &[]),
        value(1, 0, Dead, &[]),
        value(1, 0, PrepareEpochFence, &[]),
        value(1, 0, CompleteCommit, &["topic-0"]),
        TransactionLogValue {
            next_producer_id: -7,
            client_transaction_version: Tv2,
            ..value(1, 0, PrepareCommit, &[])
        },
    ] {
        assert!(matches!(
            c.load_transaction("t", Some(&bad), 0),
            Err(CoordinatorError::InvalidLogValue { .. })
        ));
        assert!(c.transaction("t").is_none());
    }
    load(&mut c, "t", value(1, 0, Empty, &[]), Tv2);
    c.load_transaction("t", None, 0).unwrap();
    assert!(c.transaction("t").is_none());
}

/// The log records the coordinator emits are its durable state: reloading the last record of every
/// id reproduces each id's state, producer id and epoch.
#[test]
fn reloading_the_emitted_log_reproduces_the_state() {
    let mut c = coordinator(Tv2);
    let mut log = std::collections::BTreeMap::new();
    let mut record = |out: Vec<CoordinatorOutput>| {
        for o in out {
            if let CoordinatorOutput::AppendTransactionLog {
                transactional_id,
                value,
            } = o
            {
                log.insert(transactional_id, value);
            }
        }
    };
    record(
        c.handle_init_producer_id(&init_req(Some("a"), 60_000, None), 0)
            .1,
    );
    record(
        c.handle_init_producer_id(&init_req(Some("b"), 60_000, None), 0)
            .1,
    );
    record(
        c.handle_add_partitions_to_txn(&add_req("a", 10, 0, &["topic-0"], false), 0)
            .1,
    );
    record(
        c.handle_add_partitions_to_txn(&add_req("b", 11, 0, &["topic-0"], false), 0)
            .1,
    );
    record(c.handle_end_txn(&end_req("b", 11, 0, Commit, Tv2), 0).1);
    let mut reloaded = c.clone();
    reloaded.become_coordinator(1).unwrap();
    for (id, v) in &log {
        reloaded.load_transaction(id, v.as_ref(), 0).unwrap();
    }
    for (id, m) in c.transactions() {
        let r = meta(&reloaded, id);
        assert_eq!(
            (r.state, r.producer_id, r.producer_epoch, &r.partitions),
            (m.state, m.producer_id, m.producer_epoch, &m.partitions)
        );
    }
    assert_eq!(
        pending_markers(&reloaded, "b"),
        vec![marker("b", "topic-0", 11, 1, 1, Commit)]
    );
}

// ---------------------------------------------------------------------------------------------
// Producer ids (RPCProducerIdManager, ProducerIdControlManager)

/// ProducerIdManagerTest / RPCProducerIdManager: ids run on contiguously across blocks.
#[test]
fn producer_ids_roll_over_blocks_contiguously() {
    let mut m = ProducerIdManager::new(5, 3).unwrap();
    let ids: Vec<i64> = (0..7).map(|_| m.generate_producer_id().unwrap()).collect();
    assert_eq!(ids, vec![5, 6, 7, 8, 9, 10, 11]);
    assert_eq!(m.current_block(), (12, 14));
    assert!(ProducerIdManager::new(-1, 3).is_none());
    assert!(ProducerIdManager::new(0, 0).is_none());
}

/// ProducerIdControlManagerTest.testMaxValue: a block past `Long.MAX_VALUE - block size` is refused;
/// the coordinator answers COORDINATOR_LOAD_IN_PROGRESS, for ever, without wrapping.
#[test]
fn producer_id_exhaustion_near_i64_max_is_coordinator_load_in_progress() {
    let mut m = ProducerIdManager::new(i64::MAX - 4, 2).unwrap();
    assert_eq!(m.generate_producer_id(), Ok(i64::MAX - 4));
    assert_eq!(m.generate_producer_id(), Ok(i64::MAX - 3));
    assert_eq!(m.generate_producer_id(), Ok(i64::MAX - 2));
    assert_eq!(m.generate_producer_id(), Ok(i64::MAX - 1));
    assert_eq!(
        m.generate_producer_id(),
        Err(ErrorCode::CoordinatorLoadInProgress)
    );
    assert_eq!(
        m.generate_producer_id(),
        Err(ErrorCode::CoordinatorLoadInProgress)
    );
    assert_eq!(m.peek_next_producer_id(), None);

    let mut c = coordinator_with(Tv2, i64::MAX - 1000, CoordinatorBugs::default());
    for _ in 0..1000 {
        c.handle_init_producer_id(&init_req(None, 60_000, None), 0)
            .0
            .unwrap();
    }
    assert_eq!(
        c.handle_init_producer_id(&init_req(None, 60_000, None), 0)
            .0,
        Err(ErrorCode::CoordinatorLoadInProgress)
    );
    // A new transactional id cannot be created either, and nothing is created.
    assert_eq!(init(&mut c, "t"), Err(ErrorCode::CoordinatorLoadInProgress));
    assert!(c.transactions().is_empty());
}

/// TransactionStateManagerConfig: a configuration no cluster accepts is a Rust error.
#[test]
fn invalid_configuration_is_refused() {
    let bad = |f: fn(&mut CoordinatorConfig)| {
        let mut cfg = CoordinatorConfig::default();
        f(&mut cfg);
        TransactionCoordinator::new(cfg, 0, 0)
    };
    assert!(bad(|c| c.transaction_max_timeout_ms = 0).is_err());
    assert!(bad(|c| c.transactional_id_expiration_ms = -1).is_err());
    assert!(bad(|c| c.producer_id_block_size = 0).is_err());
    assert!(TransactionCoordinator::new(CoordinatorConfig::default(), -5, 0).is_err());
}

// ---------------------------------------------------------------------------------------------
// Known-bug switches (docs/coordinator.md section 5)

/// M-F2 (KAFKA-5231): with `fence_without_bump`, the fence's abort markers carry the old epoch, so
/// the zombie's epoch is not fenced at the partitions.
#[test]
fn bug_fence_without_bump_writes_abort_markers_at_the_old_epoch() {
    for tv in [Tv1, Tv2] {
        let mut c = coordinator_with(
            tv,
            10,
            CoordinatorBugs {
                fence_without_bump: true,
                ..Default::default()
            },
        );
        load(&mut c, "t", value(10, 4, Ongoing, &["topic-0"]), tv);
        assert_eq!(init(&mut c, "t"), Err(ErrorCode::ConcurrentTransactions));
        assert_eq!(
            pending_markers(&c, "t"),
            vec![marker("t", "topic-0", 10, 4, 0, Abort)]
        );
        // The timeout path still bumps.
        let mut ok = coordinator_with(
            tv,
            10,
            CoordinatorBugs {
                fence_without_bump: true,
                ..Default::default()
            },
        );
        load(&mut ok, "t", value(10, 4, Ongoing, &["topic-0"]), tv);
        ok.abort_timed_out_transactions(i64::MAX);
        assert_eq!(ok.pending_markers("t")[0].producer_epoch, 5);
    }
}

/// M-F3 (KAFKA-6119): with `timeout_abort_without_bump`, a timed-out transaction is aborted at its
/// old epoch, so the producer is not fenced.
#[test]
fn bug_timeout_abort_without_bump_aborts_at_the_old_epoch() {
    for tv in [Tv1, Tv2] {
        let mut c = coordinator_with(
            tv,
            10,
            CoordinatorBugs {
                timeout_abort_without_bump: true,
                ..Default::default()
            },
        );
        load(&mut c, "t", value(10, 4, Ongoing, &["topic-0"]), tv);
        assert_eq!(
            c.abort_timed_out_transactions(i64::MAX).0,
            vec!["t".to_string()]
        );
        assert_eq!(
            pending_markers(&c, "t"),
            vec![marker("t", "topic-0", 10, 4, 0, Abort)]
        );
        written(&mut c, "t");
        // The unaware producer at epoch 4 can go on adding partitions.
        assert_eq!(add(&mut c, "t", 10, 4, &["topic-1"]), Ok(()));
    }
}

/// M-C3 (Vanlightly's CompletePartialTxn): with `no_resume_prepare_on_load`, a loaded Prepare* entry
/// sends no markers and never completes.
#[test]
fn bug_no_resume_prepare_on_load_leaves_the_transaction_stuck() {
    let mut c = coordinator_with(
        Tv2,
        10,
        CoordinatorBugs {
            no_resume_prepare_on_load: true,
            ..Default::default()
        },
    );
    let out = load(&mut c, "t", value(10, 5, PrepareCommit, &["topic-0"]), Tv2);
    assert!(out.is_empty());
    assert!(pending_markers(&c, "t").is_empty());
    assert_eq!(init(&mut c, "t"), Err(ErrorCode::ConcurrentTransactions));
    assert!(c.abort_timed_out_transactions(i64::MAX).0.is_empty());
    assert_eq!(meta(&c, "t").state, PrepareCommit);
}

/// M-F6 (KAFKA-20310): with `no_persist_rotation_ids`, a TV2 overflow's next producer id is not in
/// the log, so after a failover the completion keeps the old id and the client's new id is unknown.
#[test]
fn bug_no_persist_rotation_ids_loses_the_next_producer_id_across_failover() {
    let mut c = coordinator_with(
        Tv2,
        11,
        CoordinatorBugs {
            no_persist_rotation_ids: true,
            ..Default::default()
        },
    );
    load(&mut c, "t", value(10, 32766, Ongoing, &["topic-0"]), Tv2);
    let (r, out) = c.handle_end_txn(&end_req("t", 10, 32766, Commit, Tv2), 0);
    assert_eq!(r, Ok(Some(pe(11, 0))));
    let Some(CoordinatorOutput::AppendTransactionLog { value: Some(v), .. }) = out.first() else {
        panic!("no log record");
    };
    assert_eq!(v.next_producer_id, -1);
    c.become_coordinator(1).unwrap();
    c.load_transaction("t", Some(v), 0).unwrap();
    written(&mut c, "t");
    assert_eq!(meta(&c, "t").producer_id, 10);
    assert_eq!(
        add(&mut c, "t", 11, 0, &["topic-0"]),
        Err(ErrorCode::InvalidProducerIdMapping)
    );
}

/// With every switch off, the same overflow survives the failover (the fix).
#[test]
fn rotation_ids_are_persisted_so_overflow_survives_failover() {
    let mut c = coordinator_with(Tv2, 11, CoordinatorBugs::default());
    load(&mut c, "t", value(10, 32766, Ongoing, &["topic-0"]), Tv2);
    let (_, out) = c.handle_end_txn(&end_req("t", 10, 32766, Commit, Tv2), 0);
    let Some(CoordinatorOutput::AppendTransactionLog { value: Some(v), .. }) = out.first() else {
        panic!("no log record");
    };
    assert_eq!(v.next_producer_id, 11);
    c.become_coordinator(1).unwrap();
    c.load_transaction("t", Some(v), 0).unwrap();
    written(&mut c, "t");
    assert_eq!(meta(&c, "t").producer_id, 11);
    assert_eq!(add(&mut c, "t", 11, 0, &["topic-0"]), Ok(()));
}

/// TransactionStateManager.timedOutTransactions skips `isDistributedTwoPhaseCommitTxn` (KIP-939:
/// timeout `Int.MAX_VALUE`).
#[test]
fn two_phase_commit_transactions_never_time_out() {
    let mut c = coordinator(Tv2);
    load(
        &mut c,
        "t",
        TransactionLogValue {
            transaction_timeout_ms: i32::MAX,
            ..value(10, 0, Ongoing, &["topic-0"])
        },
        Tv2,
    );
    assert!(c.abort_timed_out_transactions(i64::MAX).0.is_empty());
    assert_eq!(meta(&c, "t").state, Ongoing);
}

/// FORMAT.md: every coordinator vector (`tests/conformance/D*.json`) passes.
#[test]
fn coordinator_conformance_vectors_pass() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with('D') && name.ends_with(".json") {
            let (id, verdict) = kafka_eos_model::conformance::run_file(&path);
            assert!(verdict.is_pass(), "{id}: {verdict}");
            ran += 1;
        }
    }
    assert!(ran > 0, "no coordinator vectors found");
}

// ---------------------------------------------------------------------------------------------
// Request versions (KafkaApis) and the coordinator's deadlines

/// A coordinator whose "t" was initialised twice: epoch 0 is fenced by epoch 1.
fn fenced_at_epoch_zero() -> (TransactionCoordinator, i64) {
    let mut c = coordinator(Tv2);
    let first = init(&mut c, "t").unwrap();
    let second = init(&mut c, "t").unwrap();
    assert_eq!(second.producer_epoch, first.producer_epoch + 1);
    (c, first.producer_id)
}

/// KafkaApis.handleEndTxnRequest: "For older clients, they could not understand the new
/// PRODUCER_FENCED error code" — EndTxn below v2 answers INVALID_PRODUCER_EPOCH, v2+ keeps 90.
#[test]
fn end_txn_below_v2_answers_invalid_producer_epoch_for_a_fenced_producer() {
    let (mut c, pid) = fenced_at_epoch_zero();
    let mut request = end_req("t", pid, 0, Commit, Tv1);
    for (version, expected) in [
        (0, ErrorCode::InvalidProducerEpoch),
        (1, ErrorCode::InvalidProducerEpoch),
        (2, ErrorCode::ProducerFenced),
        (END_TXN_VERSION, ErrorCode::ProducerFenced),
    ] {
        request.version = version;
        assert_eq!(
            c.handle_end_txn(&request, 0).0,
            Err(expected),
            "EndTxn v{version}"
        );
    }
}

/// KafkaApis.handleAddPartitionsToTxnRequest: below v2 PRODUCER_FENCED is INVALID_PRODUCER_EPOCH.
#[test]
fn add_partitions_below_v2_answers_invalid_producer_epoch_for_a_fenced_producer() {
    let (mut c, pid) = fenced_at_epoch_zero();
    let mut request = add_req("t", pid, 0, &["topic-0"], false);
    for (version, expected) in [
        (1, ErrorCode::InvalidProducerEpoch),
        (
            ADD_PARTITIONS_TO_TXN_CLIENT_VERSION,
            ErrorCode::ProducerFenced,
        ),
    ] {
        request.version = version;
        assert_eq!(
            c.handle_add_partitions_to_txn(&request, 0).0,
            Err(expected),
            "AddPartitionsToTxn v{version}"
        );
    }
}

/// KafkaApis.handleInitProducerIdRequest: a KIP-360 bump with a stale epoch is PRODUCER_FENCED
/// from v4 on and INVALID_PRODUCER_EPOCH for v3.
#[test]
fn init_producer_id_v3_answers_invalid_producer_epoch_for_a_fenced_producer() {
    let (mut c, pid) = fenced_at_epoch_zero();
    let mut request = init_req(Some("t"), 60_000, Some((pid, 0)));
    // Fence once more so that epoch 0 is neither the current nor the last epoch.
    init(&mut c, "t").unwrap();
    for (version, expected) in [
        (3, ErrorCode::InvalidProducerEpoch),
        (4, ErrorCode::ProducerFenced),
        (INIT_PRODUCER_ID_VERSION, ErrorCode::ProducerFenced),
    ] {
        request.version = version;
        assert_eq!(
            c.handle_init_producer_id(&request, 0).0,
            Err(expected),
            "InitProducerId v{version}"
        );
    }
}

/// KafkaApis.handleAddOffsetsToTxnRequest: the group's `__consumer_offsets` partition
/// (`partitionFor`: Java's `String.hashCode`, `Utils.abs`, modulo the partition count) is added
/// as a client's AddPartitionsToTxn; below v2 PRODUCER_FENCED is INVALID_PRODUCER_EPOCH.
#[test]
fn add_offsets_adds_the_groups_offsets_partition_with_its_version_rule() {
    use kafka_eos::coordinator::AddOffsetsToTxnRequest;
    use kafka_eos::messages::offsets_partition_for;
    // "abc".hashCode() == 96354 in Java; 96354 % 50 == 4.
    assert_eq!(
        offsets_partition_for("abc", 50),
        Some(tp("__consumer_offsets-4"))
    );
    assert_eq!(
        offsets_partition_for("", 50),
        Some(tp("__consumer_offsets-0"))
    );
    assert_eq!(offsets_partition_for("abc", 0), None);
    let mut c = coordinator(Tv2);
    let p = init(&mut c, "t").unwrap();
    let mut request = AddOffsetsToTxnRequest {
        transactional_id: "t".into(),
        producer_id: p.producer_id,
        producer_epoch: p.producer_epoch,
        group_id: "abc".into(),
        version: 1,
    };
    c.handle_add_offsets_to_txn(&request, 0).0.unwrap();
    assert_eq!(meta(&c, "t").partitions, tps(&["__consumer_offsets-4"]));
    assert_eq!(meta(&c, "t").state, Ongoing);
    request.producer_epoch -= 1;
    for (version, expected) in [
        (1, ErrorCode::InvalidProducerEpoch),
        (2, ErrorCode::ProducerFenced),
    ] {
        request.version = version;
        assert_eq!(c.handle_add_offsets_to_txn(&request, 0).0, Err(expected));
    }
    request.group_id.clear();
    assert_eq!(
        c.handle_add_offsets_to_txn(&request, 0).0,
        Err(ErrorCode::InvalidRequest)
    );
}

/// TransactionMarkerChannelManager.addTxnMarkersToSend: each marker carries the transaction's
/// client version (WriteTxnMarkers v2, KIP-1228): TV2 after EndTxn v5, TV0 after EndTxn v4.
#[test]
fn markers_carry_the_transactions_version() {
    for (tv, expected) in [(Tv2, Tv2), (Tv1, TransactionVersion::Tv0)] {
        let mut c = ongoing(tv, 0);
        let (r, out) = c.handle_end_txn(&end_req("t", 10, 0, Commit, tv), 0);
        r.unwrap();
        let versions: Vec<TransactionVersion> = out
            .iter()
            .filter_map(|o| match o {
                CoordinatorOutput::WriteTxnMarker(m) => Some(m.transaction_version),
                _ => None,
            })
            .collect();
        assert_eq!(versions, vec![expected, expected]);
    }
}

/// The coordinator's next deadline is the earliest transaction timeout (`start + timeout`,
/// strictly exceeded) or transactional-id expiration; `handle_timeout` at it aborts or expires.
#[test]
fn next_deadline_is_when_handle_timeout_acts() {
    let mut c = coordinator(Tv2);
    assert_eq!(c.next_deadline(), None);
    let p = init_at(&mut c, "t", 1_000, 100).unwrap();
    // Empty: expires after transactional.id.expiration.ms.
    assert_eq!(c.next_deadline(), Some(100 + 604_800_000));
    add_at(
        &mut c,
        "t",
        p.producer_id,
        p.producer_epoch,
        &["topic-0"],
        200,
    )
    .unwrap();
    // Ongoing since 200 with a 1 s timeout: aborted once 200 + 1000 < now.
    assert_eq!(c.next_deadline(), Some(1_201));
    let early = c.handle_timeout(1_200);
    assert!(early.aborted.is_empty() && early.outputs.is_empty());
    let due = c.handle_timeout(1_201);
    assert_eq!(due.aborted, vec!["t".to_string()]);
    assert_eq!(markers_in(&due.outputs).len(), 1);
    // Markers in flight: nothing can time out until they complete.
    assert_eq!(c.next_deadline(), None);
}

// ---------------------------------------------------------------------------------------------
// Durability as a step: the `*_staged` handlers, `complete_append`, and Kafka's failure paths of
// `TransactionStateManager.appendTransactionToLog` and its callers.

use kafka_eos::coordinator::{
    coordinator_error_for_append, AppendOutcome, CoordinatorStep, PendingAppend,
};

/// The append a staged handler decided (panics if it answered without one).
fn staged<T: std::fmt::Debug>(step: CoordinatorStep<T>) -> PendingAppend<T> {
    match step {
        CoordinatorStep::Append(pending) => pending,
        CoordinatorStep::Answer(result) => panic!("expected an append, answered {result:?}"),
    }
}

fn failed<T>(
    c: &mut TransactionCoordinator,
    pending: PendingAppend<T>,
    error: ErrorCode,
) -> AppendOutcome<T> {
    c.complete_append(pending, Err(error))
}

fn durable<T>(c: &mut TransactionCoordinator, pending: PendingAppend<T>) -> AppendOutcome<T> {
    c.complete_append(pending, Ok(()))
}

fn stage_init(c: &mut TransactionCoordinator, tid: &str) -> PendingAppend<ProducerIdAndEpoch> {
    staged(c.handle_init_producer_id_staged(&init_req(Some(tid), 60_000, None), 0))
}

fn stage_add(
    c: &mut TransactionCoordinator,
    tid: &str,
    pid: i64,
    epoch: i16,
    parts: &[&str],
) -> PendingAppend<()> {
    staged(c.handle_add_partitions_to_txn_staged(&add_req(tid, pid, epoch, parts, false), 0))
}

fn stage_end(
    c: &mut TransactionCoordinator,
    tid: &str,
    pid: i64,
    epoch: i16,
    result: TransactionResult,
    tv: TransactionVersion,
) -> PendingAppend<Option<ProducerIdAndEpoch>> {
    staged(c.handle_end_txn_staged(&end_req(tid, pid, epoch, result, tv), 0))
}

fn record_of<T>(pending: &PendingAppend<T>) -> (TransactionState, i64, i16) {
    let r = pending.record().expect("not a tombstone");
    (r.state, r.producer_id, r.producer_epoch)
}

/// TransactionStateManagerTest.testAppendFailToCoordinatorNotAvailableError,
/// testAppendFailToNotCoordinatorError and testAppendFailToUnknownError: the append error is
/// mapped as `appendTransactionToLog` maps it, the pending state is reset and the metadata is as
/// before; any other error passes through.
#[test]
fn failed_append_answers_the_mapped_error_and_changes_nothing() {
    use ErrorCode::*;
    let table = [
        (UnknownTopicOrPartition, CoordinatorNotAvailable),
        (NotEnoughReplicas, CoordinatorNotAvailable),
        (NotEnoughReplicasAfterAppend, CoordinatorNotAvailable),
        (RequestTimedOut, CoordinatorNotAvailable),
        (NotLeaderOrFollower, NotCoordinator),
        (KafkaStorageError, NotCoordinator),
        (MessageTooLarge, UnknownServerError),
        (RecordListTooLarge, UnknownServerError),
        (CorruptMessage, CorruptMessage),
        (InvalidRequiredAcks, InvalidRequiredAcks),
    ];
    for (append_error, answered) in table {
        assert_eq!(coordinator_error_for_append(append_error), answered);
        let mut c = coordinator(Tv2);
        let p = init(&mut c, "t").unwrap();
        let before = meta(&c, "t").clone();
        let pending = stage_add(&mut c, "t", p.producer_id, p.producer_epoch, &["topic-0"]);
        assert_eq!(pending.target_state(), Ongoing);
        assert_eq!(meta(&c, "t").pending_transition, Some(Ongoing));
        let outcome = failed(&mut c, pending, append_error);
        assert_eq!(outcome.response, Err(answered), "{append_error}");
        assert!(outcome.outputs.is_empty() && outcome.appends.is_empty());
        assert_eq!(meta(&c, "t"), &before, "{append_error}");
        // The retry goes through.
        assert_eq!(
            add(&mut c, "t", p.producer_id, p.producer_epoch, &["topic-0"]),
            Ok(())
        );
        assert_eq!(meta(&c, "t").state, Ongoing);
    }
}

/// `pendingTransitionInProgress` in `handleInitProducerId`, `handleAddPartitionsToTransaction`
/// and `endTransaction[WithTV1]`: while an append is in flight, other requests for the id answer
/// CONCURRENT_TRANSACTIONS in each handler's check order; verify-only ignores the pending state
/// and does not see partitions whose add is not durable; the periodic tasks skip the id.
#[test]
fn requests_while_an_append_is_in_flight_are_concurrent_transactions() {
    let mut c = coordinator(Tv2);
    let p = init(&mut c, "t").unwrap();
    let pending = stage_add(&mut c, "t", p.producer_id, p.producer_epoch, &["topic-0"]);
    assert_eq!(init(&mut c, "t"), Err(ErrorCode::ConcurrentTransactions));
    assert_eq!(
        add(&mut c, "t", p.producer_id, p.producer_epoch, &["topic-1"]),
        Err(ErrorCode::ConcurrentTransactions)
    );
    for tv in [Tv1, Tv2] {
        assert_eq!(
            end(&mut c, "t", p.producer_id, p.producer_epoch, Abort, tv),
            Err(ErrorCode::ConcurrentTransactions)
        );
    }
    // TV1 EndTxn checks the producer id and epoch before the pending state.
    assert_eq!(
        end(&mut c, "t", p.producer_id, p.producer_epoch + 1, Abort, Tv1),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        verify(&mut c, "t", p.producer_id, p.producer_epoch, &["topic-0"]),
        Err(ErrorCode::TransactionAbortable)
    );
    let nothing = c.handle_timeout(i64::MAX / 2);
    assert!(nothing.aborted.is_empty() && nothing.expired.is_empty());
    assert_eq!(c.next_deadline(), None);
    let outcome = durable(&mut c, pending);
    assert_eq!(outcome.response, Ok(()));
    assert_eq!(meta(&c, "t").pending_transition, None);
    assert_eq!(
        verify(&mut c, "t", p.producer_id, p.producer_epoch, &["topic-0"]),
        Ok(())
    );
}

/// `handleInitProducerId`: the metadata created for an unknown id is put in the cache
/// (`putTransactionStateIfNotExists`) before its first append, and stays there when the append
/// fails; the producer id it took stays consumed, and the retry initialises the same metadata.
#[test]
fn init_for_a_new_id_keeps_the_created_metadata_when_its_append_fails() {
    let mut c = coordinator(Tv2);
    let pending = stage_init(&mut c, "t");
    assert_eq!(record_of(&pending), (Empty, 10, 0));
    assert_eq!(meta(&c, "t").producer_epoch, -1);
    assert_eq!(init(&mut c, "t"), Err(ErrorCode::ConcurrentTransactions));
    let outcome = failed(&mut c, pending, ErrorCode::NotEnoughReplicas);
    assert_eq!(outcome.response, Err(ErrorCode::CoordinatorNotAvailable));
    let m = meta(&c, "t");
    assert_eq!(
        (
            m.producer_id,
            m.producer_epoch,
            m.state,
            m.pending_transition
        ),
        (10, -1, Empty, None)
    );
    assert_eq!(c.producer_id_manager().peek_next_producer_id(), Some(11));
    assert_eq!(init(&mut c, "t"), Ok(pe(10, 0)));
}

/// `prepareIncrementProducerEpoch` / `prepareProducerIdRotation` whose append fails
/// (TransactionStateManagerTest.testAppendFailToNotCoordinatorError): nothing changes and the
/// retry bumps once; a producer id generated for a rotation stays consumed.
#[test]
fn init_bump_or_rotation_whose_append_fails_changes_nothing() {
    let mut c = coordinator(Tv2);
    init(&mut c, "t").unwrap();
    let pending = stage_init(&mut c, "t");
    assert_eq!(record_of(&pending), (Empty, 10, 1));
    let outcome = failed(&mut c, pending, ErrorCode::NotLeaderOrFollower);
    assert_eq!(outcome.response, Err(ErrorCode::NotCoordinator));
    assert_eq!(meta(&c, "t").producer_epoch, 0);
    assert_eq!(init(&mut c, "t"), Ok(pe(10, 1)));

    let mut c = coordinator(Tv2);
    load(&mut c, "r", value(500, 32766, CompleteCommit, &[]), Tv2);
    let pending = stage_init(&mut c, "r");
    assert_eq!(record_of(&pending), (Empty, 10, 0));
    let outcome = failed(&mut c, pending, ErrorCode::RequestTimedOut);
    assert_eq!(outcome.response, Err(ErrorCode::CoordinatorNotAvailable));
    let m = meta(&c, "r");
    assert_eq!((m.producer_id, m.producer_epoch), (500, 32766));
    assert_eq!(init(&mut c, "r"), Ok(pe(11, 0)));
}

/// TransactionCoordinatorTest.shouldNotRepeatedlyBumpEpochDueToInitPidDuringOngoingTxnIfAppendToLogFails
/// (TV0/1): `prepareFenceProducerEpoch` bumps the epoch in memory before the PrepareAbort write;
/// when the write fails the bumped epoch stays and `hasFailedEpochFence` is set, so the retries do
/// not bump again; the durable Prepare* (`prepareComplete`) clears the flag. Kafka's test feeds
/// NOT_ENOUGH_REPLICAS to the callback directly; through `appendTransactionToLog` it is answered
/// COORDINATOR_NOT_AVAILABLE.
#[test]
fn tv1_fence_whose_append_fails_keeps_the_bumped_epoch_and_does_not_bump_again() {
    let mut c = ongoing(Tv1, 1);
    for _ in 0..2 {
        let pending = stage_init(&mut c, "t");
        assert_eq!(record_of(&pending), (PrepareAbort, 10, 2));
        assert_eq!(
            meta(&c, "t").producer_epoch,
            2,
            "bumped in memory before the write"
        );
        let outcome = failed(&mut c, pending, ErrorCode::NotEnoughReplicas);
        assert_eq!(outcome.response, Err(ErrorCode::CoordinatorNotAvailable));
        assert!(
            outcome.outputs.is_empty(),
            "no markers before the Prepare* is durable"
        );
        let m = meta(&c, "t");
        assert_eq!(
            (m.state, m.producer_epoch, m.last_producer_epoch),
            (Ongoing, 2, -1)
        );
        assert!(m.has_failed_epoch_fence);
        assert_eq!(m.pending_transition, None);
    }
    let pending = stage_init(&mut c, "t");
    assert_eq!(record_of(&pending), (PrepareAbort, 10, 2));
    let outcome = durable(&mut c, pending);
    assert_eq!(outcome.response, Err(ErrorCode::ConcurrentTransactions));
    assert_eq!(
        markers_in(&outcome.outputs),
        vec![
            marker("t", "topic-0", 10, 2, 0, Abort),
            marker("t", "topic-1", 10, 2, 0, Abort)
        ]
    );
    let m = meta(&c, "t");
    assert_eq!((m.state, m.producer_epoch), (PrepareAbort, 2));
    assert!(!m.has_failed_epoch_fence);
    written(&mut c, "t");
    assert_eq!(init(&mut c, "t"), Ok(pe(10, 3)));
}

/// TransactionCoordinatorTest.testTV2AllowsEpochReBumpingAfterFailedWrite: under TV2 the fence
/// does not change the epoch in memory (only the abort's `prepareAbortOrCommit` bumps), so a
/// failed write leaves the metadata as it was and the retry bumps again from the same epoch.
#[test]
fn tv2_fence_whose_append_fails_changes_nothing_and_the_retry_bumps_again() {
    let mut c = ongoing(Tv2, 4);
    let before = meta(&c, "t").clone();
    let pending = stage_init(&mut c, "t");
    assert_eq!(record_of(&pending), (PrepareAbort, 10, 5));
    assert_eq!(meta(&c, "t").producer_epoch, 4);
    let outcome = failed(&mut c, pending, ErrorCode::NotEnoughReplicasAfterAppend);
    assert_eq!(outcome.response, Err(ErrorCode::CoordinatorNotAvailable));
    assert_eq!(meta(&c, "t"), &before);
    let (r, out) = c.handle_init_producer_id(&init_req(Some("t"), 60_000, None), 0);
    assert_eq!(r, Err(ErrorCode::ConcurrentTransactions));
    assert_eq!(markers_in(&out)[0], marker("t", "topic-0", 10, 5, 0, Abort));
    let m = meta(&c, "t");
    assert_eq!(
        (m.state, m.producer_epoch, m.last_producer_epoch),
        (PrepareAbort, 5, 4)
    );
}

/// `endTransactionWithTV1` / `endTransaction`'s `sendTxnMarkersCallback`: the answer and the
/// markers are released only once the Prepare* is durable; on a failed append the client gets
/// the mapped error, nothing changes, and the retry commits. Under TV2 a producer id generated
/// for an epoch overflow stays consumed.
#[test]
fn end_txn_whose_append_fails_changes_nothing_and_the_retry_commits() {
    for tv in [Tv1, Tv2] {
        let mut c = ongoing(tv, 1);
        let before = meta(&c, "t").clone();
        let pending = stage_end(&mut c, "t", 10, 1, Commit, tv);
        assert_eq!(pending.target_state(), PrepareCommit);
        assert!(c.pending_markers("t").is_empty());
        let outcome = failed(&mut c, pending, ErrorCode::KafkaStorageError);
        assert_eq!(outcome.response, Err(ErrorCode::NotCoordinator), "{tv:?}");
        assert!(outcome.outputs.is_empty());
        assert_eq!(meta(&c, "t"), &before, "{tv:?}");
        let pending = stage_end(&mut c, "t", 10, 1, Commit, tv);
        let outcome = durable(&mut c, pending);
        let expected = if tv == Tv2 { Some(pe(10, 2)) } else { None };
        assert_eq!(outcome.response, Ok(expected), "{tv:?}");
        assert_eq!(markers_in(&outcome.outputs).len(), 2);
        assert_eq!(meta(&c, "t").state, PrepareCommit);
    }

    let mut c = ongoing(Tv2, 32766);
    let pending = stage_end(&mut c, "t", 10, 32766, Commit, Tv2);
    let outcome = failed(&mut c, pending, ErrorCode::NotEnoughReplicas);
    assert_eq!(outcome.response, Err(ErrorCode::CoordinatorNotAvailable));
    assert_eq!(meta(&c, "t").next_producer_id, -1);
    assert_eq!(
        end(&mut c, "t", 10, 32766, Commit, Tv2),
        Ok(Some(pe(11, 0)))
    );
}

/// TransactionMarkerChannelManagerTest.shouldRetryAppendToLogOnEndTxnWhenCoordinatorNotAvailableError:
/// the completion (Complete*) that fails with COORDINATOR_NOT_AVAILABLE keeps its pending state
/// and is appended again (`retryOnError`, `txnLogAppendRetryQueue`).
#[test]
fn completion_append_coordinator_not_available_is_retried() {
    let mut c = ongoing(Tv1, 1);
    end(&mut c, "t", 10, 1, Commit, Tv1).unwrap();
    let response = response_for(&c, "t", None, None);
    let work = c
        .handle_write_txn_markers_response_staged(&response)
        .unwrap();
    assert!(work.outputs.is_empty());
    let [completion] = <[PendingAppend; 1]>::try_from(work.appends).unwrap();
    assert_eq!(record_of(&completion), (CompleteCommit, 10, 1));
    assert_eq!(init(&mut c, "t"), Err(ErrorCode::ConcurrentTransactions));
    let outcome = failed(&mut c, completion.clone(), ErrorCode::NotEnoughReplicas);
    assert_eq!(outcome.response, Err(ErrorCode::CoordinatorNotAvailable));
    assert_eq!(outcome.appends, vec![completion]);
    let m = meta(&c, "t");
    assert_eq!(
        (m.state, m.pending_state()),
        (PrepareCommit, Some(CompleteCommit))
    );
    let [retry] = <[PendingAppend; 1]>::try_from(outcome.appends).unwrap();
    assert_eq!(durable(&mut c, retry).response, Ok(()));
    let m = meta(&c, "t");
    assert_eq!((m.state, m.pending_state()), (CompleteCommit, None));
}

/// TransactionMarkerChannelManagerTest.shouldAbortAppendToLogOnEndTxnWhenNotCoordinatorError
/// (`tryAppendToLog`: "skip writing to transaction log"): a completion that fails with
/// NOT_COORDINATOR is given up; the transaction stays in Prepare* with no pending state (requests
/// answer CONCURRENT_TRANSACTIONS) until a new coordinator loads the Prepare* record and
/// completes it.
#[test]
fn completion_append_not_coordinator_is_given_up_and_completed_on_reload() {
    let mut c = ongoing(Tv1, 1);
    let (r, out) = c.handle_end_txn(&end_req("t", 10, 1, Commit, Tv1), 0);
    r.unwrap();
    let prepare = out
        .iter()
        .find_map(|o| match o {
            CoordinatorOutput::AppendTransactionLog { value, .. } => value.clone(),
            _ => None,
        })
        .unwrap();
    let response = response_for(&c, "t", None, None);
    let work = c
        .handle_write_txn_markers_response_staged(&response)
        .unwrap();
    let [completion] = <[PendingAppend; 1]>::try_from(work.appends).unwrap();
    let outcome = failed(&mut c, completion, ErrorCode::NotLeaderOrFollower);
    assert_eq!(outcome.response, Err(ErrorCode::NotCoordinator));
    assert!(outcome.appends.is_empty());
    let m = meta(&c, "t");
    assert_eq!(
        (m.state, m.pending_state(), m.partitions.is_empty()),
        (PrepareCommit, None, true)
    );
    assert_eq!(init(&mut c, "t"), Err(ErrorCode::ConcurrentTransactions));
    assert_eq!(
        end(&mut c, "t", 10, 1, Commit, Tv1),
        Err(ErrorCode::ConcurrentTransactions)
    );
    // Failover: the new coordinator loads the Prepare* record and completes it.
    c.become_coordinator(1).unwrap();
    let resumed = c.load_transaction("t", Some(&prepare), 7).unwrap();
    assert_eq!(markers_in(&resumed).len(), 2);
    written(&mut c, "t");
    assert_eq!(meta(&c, "t").state, CompleteCommit);
}

/// `abortTimedOutTransactions` → `prepareFenceProducerEpoch` + internal abort whose append fails:
/// TV0/1 keeps the epoch bumped in memory (`hasFailedEpochFence`) and the next check aborts it
/// without a second bump; TV2 leaves the metadata as it was.
#[test]
fn timeout_abort_whose_append_fails_is_retried_by_the_next_check() {
    let mut c = ongoing(Tv1, 1);
    let [abort] =
        <[PendingAppend; 1]>::try_from(c.abort_timed_out_transactions_staged(60_001)).unwrap();
    assert_eq!(record_of(&abort), (PrepareAbort, 10, 2));
    let outcome = failed(&mut c, abort, ErrorCode::RequestTimedOut);
    assert_eq!(outcome.response, Err(ErrorCode::CoordinatorNotAvailable));
    let m = meta(&c, "t");
    assert_eq!(
        (m.state, m.producer_epoch, m.has_failed_epoch_fence),
        (Ongoing, 2, true)
    );
    let (aborted, out) = c.abort_timed_out_transactions(60_002);
    assert_eq!(aborted, vec!["t".to_string()]);
    assert_eq!(markers_in(&out)[0], marker("t", "topic-0", 10, 2, 0, Abort));
    assert_eq!(meta(&c, "t").producer_epoch, 2);

    let mut c = ongoing(Tv2, 4);
    let before = meta(&c, "t").clone();
    let [abort] = <[PendingAppend; 1]>::try_from(c.handle_timeout_staged(60_001)).unwrap();
    assert_eq!(record_of(&abort), (PrepareAbort, 10, 5));
    let _ = failed(&mut c, abort, ErrorCode::NotEnoughReplicas);
    assert_eq!(meta(&c, "t"), &before);
}

/// TransactionStateManagerTest.shouldNotRemoveExpiredTransactionalIdsIfLogAppendFails: the
/// tombstone of an expiring id is pending Dead (`prepareDead`); if it fails the entry is kept
/// (pending state reset), if it succeeds the entry is removed.
#[test]
fn expired_transactional_id_whose_tombstone_fails_is_kept() {
    let mut c = coordinator(Tv2);
    init(&mut c, "t").unwrap();
    let [tombstone] =
        <[PendingAppend; 1]>::try_from(c.expire_transactional_ids_staged(604_800_000)).unwrap();
    assert_eq!(tombstone.record(), None);
    assert_eq!(tombstone.target_state(), Dead);
    assert_eq!(meta(&c, "t").pending_state(), Some(Dead));
    assert_eq!(init(&mut c, "t"), Err(ErrorCode::ConcurrentTransactions));
    let _ = failed(&mut c, tombstone, ErrorCode::NotEnoughReplicas);
    let m = meta(&c, "t");
    assert_eq!((m.state, m.pending_state()), (Empty, None));
    let [tombstone] =
        <[PendingAppend; 1]>::try_from(c.expire_transactional_ids_staged(604_800_000)).unwrap();
    assert_eq!(durable(&mut c, tombstone).response, Ok(()));
    assert!(c.transaction("t").is_none());
}

/// TransactionStateManagerTest.testAppendFailToNotCoordinatorError (its second half): an append
/// that succeeds after the partition emigrated, or after it was loaded again at a newer
/// coordinator epoch, is not applied and answers NOT_COORDINATOR; a failure after the change
/// answers the mapped error and touches nothing.
#[test]
fn append_completed_after_a_coordinator_epoch_change_is_not_coordinator() {
    let mut c = coordinator(Tv2);
    let p = init(&mut c, "t").unwrap();
    let pending = stage_add(&mut c, "t", p.producer_id, p.producer_epoch, &["topic-0"]);
    assert_eq!(pending.coordinator_epoch(), 0);
    c.become_coordinator(1).unwrap();
    let outcome = durable(&mut c, pending.clone());
    assert_eq!(outcome.response, Err(ErrorCode::NotCoordinator));
    assert!(c.transaction("t").is_none());
    load(&mut c, "t", value(10, 0, Empty, &[]), Tv2);
    let loaded = meta(&c, "t").clone();
    assert_eq!(
        durable(&mut c, pending.clone()).response,
        Err(ErrorCode::NotCoordinator)
    );
    assert_eq!(meta(&c, "t"), &loaded);
    assert_eq!(
        failed(&mut c, pending, ErrorCode::NotEnoughReplicas).response,
        Err(ErrorCode::CoordinatorNotAvailable)
    );
    assert_eq!(meta(&c, "t"), &loaded);
}

/// The synchronous handlers are the staged ones with a successful append: same answer, same
/// state, and the outputs are the record followed by what its completion released.
#[test]
fn synchronous_handlers_are_staged_handlers_whose_append_succeeded() {
    for tv in [Tv1, Tv2] {
        let mut sync = ongoing(tv, 1);
        let mut two_phase = sync.clone();
        let (r, out) = sync.handle_end_txn(&end_req("t", 10, 1, Abort, tv), 3);
        let pending = staged(two_phase.handle_end_txn_staged(&end_req("t", 10, 1, Abort, tv), 3));
        let mut expected = vec![pending.log_output()];
        let outcome = durable(&mut two_phase, pending);
        expected.extend(outcome.outputs);
        assert!(outcome.appends.is_empty());
        assert_eq!((r, out), (outcome.response, expected));
        assert_eq!(sync, two_phase);
    }
    // A TV2 abort with no partitions: the completion append follows the Prepare* at once.
    let mut c = coordinator(Tv2);
    let p = init(&mut c, "t").unwrap();
    let pending = stage_end(&mut c, "t", p.producer_id, p.producer_epoch, Abort, Tv2);
    let outcome = durable(&mut c, pending);
    assert_eq!(outcome.response, Ok(Some(pe(10, 1))));
    let [completion] = <[PendingAppend; 1]>::try_from(outcome.appends).unwrap();
    assert_eq!(record_of(&completion), (CompleteAbort, 10, 1));
    assert_eq!(durable(&mut c, completion).response, Ok(()));
    assert_eq!(meta(&c, "t").state, CompleteAbort);
}

// ---------------------------------------------------------------------------------------------
// Recent Kafka fixes behind switches (KAFKA-20785, KAFKA-19367) and the exhausted epoch as a
// model parameter

/// KAFKA-20785 (apache/kafka#23204, `TransactionCoordinator.endTransaction`): under TV2 the
/// coordinator's timeout abort bumps the epoch; a commit the client sent at the pre-abort epoch
/// is then a retry by epoch (stored = request + 1) and finds CompleteAbort. Kafka's fix answers
/// PRODUCER_FENCED (recoverable for applications) for it and for the producer-id-overflow retry;
/// the switch answers the fatal INVALID_TXN_STATE, as before the fix. Nothing changes either way,
/// and a commit at the current epoch stays INVALID_TXN_STATE.
#[test]
fn kafka_20785_commit_racing_a_timeout_abort_is_producer_fenced_and_the_switch_brings_back_invalid_txn_state(
) {
    for (bug, expected) in [
        (false, ErrorCode::ProducerFenced),
        (true, ErrorCode::InvalidTxnState),
    ] {
        let bugs = CoordinatorBugs {
            commit_after_abort_is_invalid_txn_state: bug,
            ..CoordinatorBugs::default()
        };
        // The epoch-bump variant: the timeout abort raced the commit.
        let mut c = coordinator_with(Tv2, 10, bugs);
        assert_eq!(init_at(&mut c, "t", 1000, 0), Ok(pe(10, 0)));
        add_at(&mut c, "t", 10, 0, &["topic-0"], 0).unwrap();
        assert_eq!(
            c.abort_timed_out_transactions(1001).0,
            vec!["t".to_string()]
        );
        written(&mut c, "t");
        assert_eq!(
            (meta(&c, "t").state, meta(&c, "t").producer_epoch),
            (CompleteAbort, 1)
        );
        let before = c.clone();
        assert_eq!(end(&mut c, "t", 10, 0, Commit, Tv2), Err(expected), "{bug}");
        assert_eq!(c, before);
        assert_eq!(
            end(&mut c, "t", 10, 1, Commit, Tv2),
            Err(ErrorCode::InvalidTxnState)
        );
        assert_eq!(end(&mut c, "t", 10, 0, Abort, Tv2), Ok(Some(pe(10, 1))));
        // The overflow variant (retryOnOverflow): an abort at the exhausted epoch moved the id
        // to (11, 0); a commit with the old id at that epoch finds CompleteAbort.
        let mut c = TransactionCoordinator::new(
            CoordinatorConfig {
                exhausted_epoch: 2,
                bugs,
                ..CoordinatorConfig::default()
            },
            11,
            0,
        )
        .unwrap();
        load(&mut c, "t", value(10, 2, Ongoing, &["topic-0"]), Tv2);
        assert_eq!(end(&mut c, "t", 10, 2, Abort, Tv2), Ok(Some(pe(11, 0))));
        written(&mut c, "t");
        assert_eq!(end(&mut c, "t", 10, 2, Commit, Tv2), Err(expected), "{bug}");
    }
}

/// KAFKA-19367 (apache/kafka#19910, follow-up #19976;
/// `TransactionCoordinatorTest.shouldNotCauseEpochOverflowWhenInitPidDuringOngoingTxnV2`,
/// `testTV2AllowsEpochReBumpingAfterFailedWrite`): under TV2 only the abort bumps the epoch of a
/// fenced Ongoing transaction (`init_on_ongoing_fences_and_aborts_tv2`). The switch brings back
/// the double bump (fence, then abort: epoch + 2, last epoch = the fence's), and at the exhausted
/// epoch the second bump overflows: UNKNOWN_SERVER_ERROR, the in-memory fence stays at the
/// highest epoch with the transaction Ongoing, and no fence or timeout can abort it any more.
#[test]
fn kafka_19367_tv2_fence_bumps_once_and_the_switch_bumps_twice_and_overflows() {
    let bugs = CoordinatorBugs {
        tv2_fence_double_bump: true,
        ..CoordinatorBugs::default()
    };
    let mut c = coordinator_with(Tv2, 11, bugs);
    load(&mut c, "t", value(10, 4, Ongoing, &["topic-0"]), Tv2);
    let (r, out) = c.handle_init_producer_id(&init_req(Some("t"), 60_000, None), 0);
    assert_eq!(r, Err(ErrorCode::ConcurrentTransactions));
    assert_eq!(
        markers_in(&out),
        vec![marker("t", "topic-0", 10, 6, 0, Abort)]
    );
    let m = meta(&c, "t");
    assert_eq!(
        (m.state, m.producer_epoch, m.last_producer_epoch),
        (PrepareAbort, 6, 5)
    );
    written(&mut c, "t");
    assert_eq!(init(&mut c, "t"), Ok(pe(10, 7)));

    // At the exhausted epoch, with Kafka's threshold and with a small model threshold.
    for (exhausted, config) in [
        (32766, CoordinatorConfig::default()),
        (
            1,
            CoordinatorConfig {
                exhausted_epoch: 1,
                ..CoordinatorConfig::default()
            },
        ),
    ] {
        // Fixed: one bump to the highest epoch, then the next InitProducerId rotates.
        let mut c = TransactionCoordinator::new(config.clone(), 11, 0).unwrap();
        load(
            &mut c,
            "t",
            value(10, exhausted, Ongoing, &["topic-0"]),
            Tv2,
        );
        assert_eq!(init(&mut c, "t"), Err(ErrorCode::ConcurrentTransactions));
        assert_eq!(meta(&c, "t").producer_epoch, exhausted + 1);
        written(&mut c, "t");
        assert_eq!(init(&mut c, "t"), Ok(pe(11, 0)));
        // The switch: the second bump overflows and the transaction is stuck.
        let mut c =
            TransactionCoordinator::new(CoordinatorConfig { bugs, ..config }, 11, 0).unwrap();
        load(
            &mut c,
            "t",
            value(10, exhausted, Ongoing, &["topic-0"]),
            Tv2,
        );
        let (r, out) = c.handle_init_producer_id(&init_req(Some("t"), 60_000, None), 0);
        assert_eq!(r, Err(ErrorCode::UnknownServerError));
        assert!(out.is_empty());
        let m = meta(&c, "t");
        assert_eq!(
            (
                m.state,
                m.producer_epoch,
                m.last_producer_epoch,
                m.pending_state()
            ),
            (Ongoing, exhausted + 1, -1, None)
        );
        assert_eq!(init(&mut c, "t"), Err(ErrorCode::UnknownServerError));
        assert!(c.abort_timed_out_transactions(1_000_000).0.is_empty());
        assert_eq!(meta(&c, "t").state, Ongoing);
    }
}

/// The exhausted epoch is a coordinator parameter standing for `Short.MAX_VALUE - 1`
/// (`TransactionMetadata.isProducerEpochExhausted`, default 32766): with 2, a TV2 producer
/// commits at epochs 0 and 1, the commit at 2 allocates the next producer id (markers at 3, the
/// stand-in for 32767), InitProducerId at an exhausted epoch rotates, and nothing bumps past 3.
/// Values outside 0..=32766 are refused.
#[test]
fn exhausted_epoch_is_a_model_parameter_standing_for_short_max_minus_one() {
    let config = CoordinatorConfig {
        exhausted_epoch: 2,
        ..CoordinatorConfig::default()
    };
    let mut c = TransactionCoordinator::new(config.clone(), 10, 0).unwrap();
    assert_eq!(init(&mut c, "t"), Ok(pe(10, 0)));
    for epoch in 0..2 {
        add(&mut c, "t", 10, epoch, &["topic-0"]).unwrap();
        assert_eq!(
            end(&mut c, "t", 10, epoch, Commit, Tv2),
            Ok(Some(pe(10, epoch + 1)))
        );
        written(&mut c, "t");
    }
    add(&mut c, "t", 10, 2, &["topic-0"]).unwrap();
    let (r, out) = c.handle_end_txn(&end_req("t", 10, 2, Commit, Tv2), 0);
    assert_eq!(r, Ok(Some(pe(11, 0))));
    assert_eq!(
        markers_in(&out),
        vec![marker("t", "topic-0", 10, 3, 0, Commit)]
    );
    written(&mut c, "t");
    assert_eq!(end(&mut c, "t", 10, 2, Commit, Tv2), Ok(Some(pe(11, 0))));
    // InitProducerId rotates at an exhausted epoch; the highest epoch cannot be bumped.
    let mut c = TransactionCoordinator::new(config.clone(), 20, 0).unwrap();
    load(&mut c, "t", value(10, 2, Empty, &[]), Tv2);
    assert_eq!(init(&mut c, "t"), Ok(pe(20, 0)));
    let mut c = TransactionCoordinator::new(config.clone(), 20, 0).unwrap();
    load(&mut c, "t", value(10, 3, Ongoing, &["topic-0"]), Tv2);
    assert_eq!(
        end(&mut c, "t", 10, 3, Commit, Tv2),
        Err(ErrorCode::UnknownServerError)
    );
    assert_eq!(init(&mut c, "t"), Err(ErrorCode::UnknownServerError));
    for bad in [-1, i16::MAX] {
        assert!(matches!(
            TransactionCoordinator::new(
                CoordinatorConfig {
                    exhausted_epoch: bad,
                    ..config.clone()
                },
                0,
                0
            ),
            Err(CoordinatorError::InvalidConfig(_))
        ));
    }
}
