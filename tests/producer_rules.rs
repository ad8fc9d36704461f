//! Rule table of the producer client (`TransactionManager`, `Sender`): one test per rule, each
//! citing the Kafka test or KIP section it mirrors.

use std::collections::BTreeSet;

use kafka_eos::error::ErrorCode;
use kafka_eos::messages::{ProducerIdAndEpoch, END_TXN_TV2_VERSION};
use kafka_eos::producer::{
    BatchError, ErrorClass, Producer, ProducerBugs, ProducerCallError, ProducerConfig,
    ProducerConfigError, ProducerEvent, ProducerOutput, Request, RequestId, Response,
    TransactionState,
};
use kafka_eos::types::{TopicPartition, TransactionResult, TransactionVersion};

use TransactionState::*;

fn tp(n: i32) -> TopicPartition {
    TopicPartition::new("topic", n)
}

fn pe(producer_id: i64, producer_epoch: i16) -> ProducerIdAndEpoch {
    ProducerIdAndEpoch {
        producer_id,
        producer_epoch,
    }
}

fn names(out: &ProducerOutput<u32>) -> Vec<&'static str> {
    out.sends.iter().map(|r| r.api_name()).collect()
}

/// A producer plus the requests it is waiting on, in emission order.
struct H {
    p: Producer<u32>,
    now: i64,
    pending: Vec<Request<u32>>,
    events: Vec<ProducerEvent>,
}

impl H {
    fn new(cfg: ProducerConfig) -> H {
        H {
            p: Producer::new(cfg).expect("valid config"),
            now: 0,
            pending: Vec::new(),
            events: Vec::new(),
        }
    }
    fn idempotent() -> H {
        H::new(ProducerConfig::default())
    }
    fn txn(tv: TransactionVersion) -> H {
        H::new(ProducerConfig {
            transactional_id: Some("foobar".into()),
            transaction_version: tv,
            ..ProducerConfig::default()
        })
    }
    fn take(&mut self, out: ProducerOutput<u32>) -> ProducerOutput<u32> {
        self.pending.extend(out.sends.iter().cloned());
        self.events.extend(out.events.iter().cloned());
        out
    }
    fn init(&mut self) -> ProducerOutput<u32> {
        let out = self.p.init(self.now).expect("init");
        self.take(out)
    }
    fn ready(&mut self, pid: i64, epoch: i16) {
        self.init();
        self.respond(
            "InitProducerId",
            None,
            Response::InitProducerId(Ok(pe(pid, epoch))),
        );
        assert_eq!(self.p.state(), Ready);
    }
    fn begin(&mut self) {
        let out = self.p.begin(self.now).expect("begin");
        self.take(out);
    }
    fn send(&mut self, part: i32, count: i32) -> ProducerOutput<u32> {
        let out = self.p.send(tp(part), count, 7, self.now).expect("send");
        self.take(out)
    }
    fn find(&self, api: &str, part: Option<i32>) -> usize {
        self.pending
            .iter()
            .position(|r| {
                r.api_name() == api
                    && match (r, part) {
                        (Request::Produce { request, .. }, Some(n)) => request.partition == tp(n),
                        _ => true,
                    }
            })
            .unwrap_or_else(|| panic!("no outstanding {api}"))
    }
    fn respond(&mut self, api: &str, part: Option<i32>, resp: Response) -> ProducerOutput<u32> {
        let i = self.find(api, part);
        let req = self.pending.remove(i);
        let out = self
            .p
            .handle_response(req.id(), resp, self.now)
            .expect("response accepted");
        self.take(out)
    }
    fn timeout(&mut self, api: &str, part: Option<i32>) -> ProducerOutput<u32> {
        let i = self.find(api, part);
        let req = self.pending.remove(i);
        let out = self
            .p
            .handle_request_timeout(req.id(), self.now)
            .expect("timeout accepted");
        self.take(out)
    }
    fn produce_ok(&mut self, part: i32, offset: i64) -> ProducerOutput<u32> {
        self.respond("Produce", Some(part), Response::Produce(Ok(offset)))
    }
    fn produce_err(&mut self, part: i32, e: ErrorCode) -> ProducerOutput<u32> {
        self.respond("Produce", Some(part), Response::Produce(Err(e)))
    }
    fn produces(&self, part: i32) -> Vec<(i16, i32, i32)> {
        self.pending
            .iter()
            .filter_map(|r| match r {
                Request::Produce { request, .. } if request.partition == tp(part) => Some((
                    request.producer_epoch,
                    request.base_sequence,
                    request.record_count,
                )),
                _ => None,
            })
            .collect()
    }
}

fn produce_seq(r: &Request<u32>) -> (i64, i16, i32) {
    match r {
        Request::Produce { request, .. } => (
            request.producer_id,
            request.producer_epoch,
            request.base_sequence,
        ),
        other => panic!("not a produce: {other:?}"),
    }
}

fn error_of(out: &ProducerOutput<u32>) -> Option<ErrorCode> {
    out.events.iter().find_map(|e| match e {
        ProducerEvent::Error(e) => Some(*e),
        _ => None,
    })
}

// ------------------------------------------------------------------------------ states

/// `TransactionManager.State.isTransitionValid` ([2025-10]); the whole
/// table is printed and compared with Kafka's.
#[test]
fn transition_table_is_kafkas() {
    let expected: &[(TransactionState, &[TransactionState])] = &[
        (Uninitialized, &[Ready, AbortableError]),
        (
            Initializing,
            &[Uninitialized, CommittingTransaction, AbortingTransaction],
        ),
        (
            Ready,
            &[Initializing, CommittingTransaction, AbortingTransaction],
        ),
        (InTransaction, &[Ready]),
        (CommittingTransaction, &[InTransaction]),
        (AbortingTransaction, &[InTransaction, AbortableError]),
        (
            AbortableError,
            &[
                InTransaction,
                CommittingTransaction,
                AbortableError,
                Initializing,
            ],
        ),
        (FatalError, &TransactionState::ALL),
    ];
    for (target, sources) in expected {
        let row: Vec<&str> = TransactionState::ALL
            .iter()
            .filter(|s| s.is_transition_valid(*target))
            .map(|s| s.name())
            .collect();
        println!("{:<24} <- {}", target.name(), row.join(", "));
        for s in TransactionState::ALL {
            assert_eq!(
                s.is_transition_valid(*target),
                sources.contains(&s),
                "{s} -> {target}"
            );
        }
    }
}

/// TransactionManagerTest.testForegroundInvalidStateTransitionIsRecoverable and
/// testInitializeTransactionsTwiceRaisesError: a refused call changes nothing.
#[test]
fn refused_call_is_illegal_state_and_changes_nothing() {
    let mut h = H::txn(TransactionVersion::Tv2);
    let before = h.p.clone();
    assert!(matches!(
        h.p.commit(0),
        Err(ProducerCallError::IllegalState {
            state: Uninitialized,
            ..
        })
    ));
    assert!(matches!(
        h.p.send(tp(0), 1, 1, 0),
        Err(ProducerCallError::IllegalState { .. })
    ));
    assert_eq!(h.p, before);
    h.ready(1, 0);
    let before = h.p.clone();
    assert!(h.p.init(0).is_err());
    assert!(h.p.abort(0).is_err());
    assert!(h.p.send(tp(0), 1, 1, 0).is_err());
    assert_eq!(h.p, before);
}

/// ProducerConfig: idempotence requires max.in.flight.requests.per.connection <= 5
/// (KafkaProducerTest.testInflightRequestsAndIdempotenceForIdempotentProducers).
#[test]
fn max_in_flight_outside_one_to_five_is_a_config_error() {
    for bad in [0u8, 6, 255] {
        let cfg = ProducerConfig {
            max_in_flight: bad,
            ..ProducerConfig::default()
        };
        assert_eq!(
            Producer::<u32>::new(cfg).err(),
            Some(ProducerConfigError::MaxInFlight(bad))
        );
    }
    for ok in 1u8..=5 {
        let cfg = ProducerConfig {
            max_in_flight: ok,
            ..ProducerConfig::default()
        };
        assert!(Producer::<u32>::new(cfg).is_ok());
    }
}

// ------------------------------------------------------------------------------ without idempotence

fn plain() -> H {
    H::new(ProducerConfig {
        enable_idempotence: false,
        ..ProducerConfig::default()
    })
}

/// ProducerConfig.postProcessAndValidateIdempotenceConfigs: "Cannot set a transactional.id
/// without also enabling idempotence" (a `ConfigException`); idempotence is the default
/// (KIP-679), and without it max.in.flight.requests.per.connection is only `atLeast(1)`.
#[test]
fn transactional_id_without_idempotence_is_a_config_error() {
    assert!(ProducerConfig::default().enable_idempotence);
    let cfg = ProducerConfig {
        enable_idempotence: false,
        transactional_id: Some("foobar".into()),
        ..ProducerConfig::default()
    };
    assert_eq!(
        Producer::<u32>::new(cfg).err(),
        Some(ProducerConfigError::TransactionalIdWithoutIdempotence)
    );
    for (max, ok) in [(0u8, false), (1, true), (6, true), (255, true)] {
        let cfg = ProducerConfig {
            enable_idempotence: false,
            max_in_flight: max,
            ..ProducerConfig::default()
        };
        assert_eq!(Producer::<u32>::new(cfg).is_ok(), ok, "{max}");
    }
}

/// KafkaProducer without idempotence has no TransactionManager: no InitProducerId; batches
/// carry RecordBatch.NO_PRODUCER_ID, NO_PRODUCER_EPOCH and NO_SEQUENCE
/// (`RecordAccumulator.drain` sets producer state only with a TransactionManager).
#[test]
fn without_idempotence_no_init_producer_id_and_batches_carry_no_producer_state() {
    let mut h = plain();
    let out = h.init();
    assert!(out.sends.is_empty(), "{:?}", names(&out));
    assert_eq!(h.p.state(), Ready);
    assert!(out.events.contains(&ProducerEvent::Initialized {
        producer_id: -1,
        producer_epoch: -1,
    }));
    let out = h.send(0, 3);
    assert_eq!(produce_seq(&out.sends[0]), (-1, -1, -1));
    let out = h.send(0, 2);
    assert_eq!(produce_seq(&out.sends[0]), (-1, -1, -1));
    assert_eq!(h.p.next_sequence(&tp(0)), 0);
    // Transactional calls are refused (no TransactionManager).
    assert!(h.p.begin(h.now).is_err());
}

/// Sender.completeBatch → canRetry → reenqueue: without idempotence a lost or retriable
/// Produce re-sends the same batch (still without producer id or sequence), which the leader
/// may append twice; no epoch bump and no unresolved sequence (those need a
/// TransactionManager), and a later failure is final for its batch only.
#[test]
fn without_idempotence_retries_resend_the_same_batch() {
    let mut h = plain();
    h.init();
    h.send(0, 1);
    let out = h.timeout("Produce", Some(0));
    assert_eq!(out.sends.len(), 1);
    assert_eq!(produce_seq(&out.sends[0]), (-1, -1, -1));
    let out = h.produce_err(0, ErrorCode::NotLeaderOrFollower);
    assert_eq!(produce_seq(&out.sends[0]), (-1, -1, -1));
    assert!(out
        .events
        .iter()
        .all(|e| !matches!(e, ProducerEvent::EpochBumped { .. })));
    let out = h.produce_ok(0, 1);
    assert!(matches!(
        out.events.as_slice(),
        [ProducerEvent::SendAcknowledged {
            base_offset: Some(1),
            ..
        }]
    ));
    assert_eq!((h.p.producer_id(), h.p.producer_epoch()), (-1, -1));
    assert_eq!(h.p.state(), Ready);
    // A non-retriable error fails the batch (even the sequence errors, which only an
    // idempotent producer retries); the producer goes on.
    for e in [
        ErrorCode::MessageTooLarge,
        ErrorCode::OutOfOrderSequenceNumber,
    ] {
        h.send(0, 1);
        let out = h.produce_err(0, e);
        assert!(
            matches!(out.events.as_slice(), [ProducerEvent::SendFailed { .. }]),
            "{e:?}"
        );
        assert_eq!(h.p.state(), Ready);
    }
    let out = h.send(0, 1);
    assert_eq!(produce_seq(&out.sends[0]), (-1, -1, -1));
}

// ------------------------------------------------------------------------------ sequences

/// TransactionManagerTest.testDefaultSequenceNumber: sequences per partition from 0, assigned
/// when the batch is drained, advanced by the record count.
#[test]
fn sequences_start_at_zero_per_partition_and_advance_by_record_count() {
    let mut h = H::idempotent();
    h.ready(13131, 0);
    let out = h.send(0, 3);
    assert_eq!(produce_seq(&out.sends[0]), (13131, 0, 0));
    let out = h.send(0, 2);
    assert_eq!(produce_seq(&out.sends[0]), (13131, 0, 3));
    let out = h.send(1, 1);
    assert_eq!(produce_seq(&out.sends[0]), (13131, 0, 0));
    assert_eq!(h.p.next_sequence(&tp(0)), 5);
    assert_eq!(h.p.next_sequence(&tp(1)), 1);
}

/// TransactionManagerTest.testSequenceNumberOverflow: the sequence wraps after Int.MaxValue.
#[test]
fn sequence_wraps_after_i32_max() {
    let mut h = H::idempotent();
    h.ready(1, 0);
    h.send(0, i32::MAX);
    assert_eq!(h.p.next_sequence(&tp(0)), i32::MAX);
    let out = h.send(0, 100);
    assert_eq!(produce_seq(&out.sends[0]).2, i32::MAX);
    assert_eq!(h.p.next_sequence(&tp(0)), 99);
}

/// RecordAccumulator drain gating with max.in.flight (SenderTest.testIdempotenceWithMaxInFlightOne
/// style): at most `max_in_flight` batches per partition; the next is drained when one completes.
#[test]
fn at_most_max_in_flight_batches_per_partition() {
    let mut h = H::new(ProducerConfig {
        max_in_flight: 2,
        ..ProducerConfig::default()
    });
    h.ready(1, 0);
    assert_eq!(names(&h.send(0, 1)), ["Produce"]);
    assert_eq!(names(&h.send(0, 1)), ["Produce"]);
    assert!(h.send(0, 1).sends.is_empty(), "third batch waits");
    assert_eq!(
        names(&h.send(1, 1)),
        ["Produce"],
        "another partition is free"
    );
    let out = h.produce_ok(0, 0);
    assert_eq!(names(&out), ["Produce"]);
    assert_eq!(produce_seq(&out.sends[0]).2, 2);
}

/// SenderTest.testIdempotenceWithMultipleInflightsRetriedInOrder: a retried batch keeps its
/// sequence and is re-sent only when it is the lowest sequence in flight.
#[test]
fn retry_keeps_sequence_and_only_the_lowest_is_resent() {
    let mut h = H::idempotent();
    h.ready(1, 0);
    h.send(0, 1);
    h.send(0, 1);
    // The second batch fails retriably while the first is still in flight: it waits.
    let i = h
        .pending
        .iter()
        .rposition(|r| r.api_name() == "Produce")
        .unwrap();
    let second = h.pending.remove(i);
    let out =
        h.p.handle_response(
            second.id(),
            Response::Produce(Err(ErrorCode::NotLeaderOrFollower)),
            0,
        )
        .unwrap();
    assert!(out.sends.is_empty());
    assert!(
        h.send(0, 1).sends.is_empty(),
        "new batches wait behind retries"
    );
    let out = h.produce_ok(0, 0);
    assert_eq!(out.sends.len(), 1);
    assert_eq!(produce_seq(&out.sends[0]), (1, 0, 1), "same sequence");
    h.take(out);
    let out = h.produce_ok(0, 1);
    assert_eq!(produce_seq(&out.sends[0]), (1, 0, 2), "then the new batch");
}

/// SenderTest (legacy DUPLICATE_SEQUENCE_NUMBER): the batch completes as a success with no offset.
#[test]
fn duplicate_sequence_number_completes_the_batch_as_success() {
    let mut h = H::idempotent();
    h.ready(1, 0);
    let batch = h.send(0, 1).batch.unwrap();
    let out = h.produce_err(0, ErrorCode::DuplicateSequenceNumber);
    assert_eq!(
        out.events,
        [ProducerEvent::SendAcknowledged {
            batch,
            partition: tp(0),
            base_offset: None
        }]
    );
}

/// SenderTest.testEpochBumpOnOutOfOrderSequenceForNextBatch / KIP-360: an idempotent producer's
/// OUT_OF_ORDER_SEQUENCE_NUMBER on the next expected batch bumps the epoch locally and
/// re-sends from sequence 0.
#[test]
fn idempotent_out_of_order_bumps_epoch_and_restarts_sequences() {
    let mut h = H::idempotent();
    h.ready(1, 5);
    h.send(0, 2);
    h.produce_ok(0, 0);
    h.send(0, 1);
    let out = h.produce_err(0, ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(out.sends.len(), 1);
    assert_eq!(produce_seq(&out.sends[0]), (1, 6, 0));
    assert_eq!(h.p.producer_epoch(), 6);
    assert_eq!(h.p.state(), Ready);
    assert!(out.events.contains(&ProducerEvent::EpochBumped {
        producer_id: 1,
        producer_epoch: 6
    }));
}

/// TransactionManager.bumpIdempotentProducerEpoch: at epoch Short.MAX_VALUE the idempotent
/// producer resets its producer id (UNINITIALIZED, then InitProducerId(-1, -1)).
#[test]
fn idempotent_bump_at_epoch_32767_resets_the_producer_id() {
    let mut h = H::idempotent();
    h.ready(1, i16::MAX);
    h.send(0, 1);
    let out = h.produce_err(0, ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(names(&out), ["InitProducerId"]);
    assert_eq!(h.p.state(), Initializing);
    assert_eq!(h.p.producer_id(), -1);
    match &out.sends[0] {
        Request::InitProducerId { request, .. } => assert_eq!(
            (
                request.producer_id,
                request.producer_epoch,
                &request.transactional_id
            ),
            (-1, -1, &None)
        ),
        _ => unreachable!(),
    }
    let out = h.respond(
        "InitProducerId",
        None,
        Response::InitProducerId(Ok(pe(2, 0))),
    );
    assert_eq!(
        produce_seq(&out.sends[0]),
        (2, 0, 0),
        "the batch is re-sent under the new id"
    );
}

/// TransactionManager.canRetry (UNKNOWN_PRODUCER_ID, log start known): the idempotent producer
/// bumps its epoch and retries (SenderTest.testUnknownProducerErrorShouldBeRetriedForFutureBatches...).
#[test]
fn idempotent_unknown_producer_id_bumps_and_retries() {
    let mut h = H::idempotent();
    h.ready(1, 0);
    h.send(0, 1);
    let out = h.produce_err(0, ErrorCode::UnknownProducerId);
    assert_eq!(produce_seq(&out.sends[0]), (1, 1, 0));
}

/// Sender.completeBatch: any retriable produce error is retried with the same sequence.
#[test]
fn retriable_produce_error_is_retried_with_the_same_sequence() {
    let mut h = H::txn(TransactionVersion::Tv2);
    h.ready(1, 0);
    h.begin();
    h.send(0, 1);
    h.send(0, 1);
    let out = h.produce_err(0, ErrorCode::NotEnoughReplicas);
    assert_eq!(produce_seq(&out.sends[0]), (1, 0, 0));
    assert_eq!(h.p.state(), InTransaction);
    assert!(error_of(&out).is_none());
}

// ------------------------------------------------------------------------------ transactions

/// TransactionManagerTest.testBasicTransaction (TV1): AddPartitionsToTxn before the data; the
/// batch is held and sequenced when the add succeeds; a partition is added once.
#[test]
fn tv1_adds_the_partition_before_its_first_batch() {
    let mut h = H::txn(TransactionVersion::Tv1);
    h.ready(1, 0);
    h.begin();
    let out = h.send(0, 1);
    assert_eq!(names(&out), ["AddPartitionsToTxn"]);
    assert_eq!(h.p.next_sequence(&tp(0)), 0);
    let out = h.respond(
        "AddPartitionsToTxn",
        None,
        Response::AddPartitionsToTxn(Ok(())),
    );
    assert_eq!(names(&out), ["Produce"]);
    assert_eq!(h.p.next_sequence(&tp(0)), 1);
    assert_eq!(names(&h.send(0, 1)), ["Produce"]);
}

/// TransactionManager.nextRequest / Sender.runOnce: one transactional request at a time (a
/// partition met while an add is in flight waits for the next AddPartitionsToTxn), and the
/// transactional request is sent before the produce data.
#[test]
fn tv1_one_add_in_flight_and_transactional_request_before_produce() {
    let mut h = H::txn(TransactionVersion::Tv1);
    h.ready(1, 0);
    h.begin();
    assert_eq!(names(&h.send(0, 1)), ["AddPartitionsToTxn"]);
    assert!(h.send(1, 1).sends.is_empty(), "the second add waits");
    let out = h.respond(
        "AddPartitionsToTxn",
        None,
        Response::AddPartitionsToTxn(Ok(())),
    );
    assert_eq!(names(&out), ["AddPartitionsToTxn", "Produce"]);
    match &out.sends[0] {
        Request::AddPartitionsToTxn { request, .. } => {
            assert_eq!(request.partitions, BTreeSet::from([tp(1)]))
        }
        _ => unreachable!(),
    }
}

/// TransactionManagerTest.testRecoveryFromAbortableErrorTransactionNotStarted: a failed add
/// fails the held batches with its error and the transaction becomes abortable.
#[test]
fn tv1_failed_add_fails_the_held_batches() {
    let mut h = H::txn(TransactionVersion::Tv1);
    h.ready(1, 0);
    h.begin();
    let batch = h.send(0, 1).batch.unwrap();
    let out = h.respond(
        "AddPartitionsToTxn",
        None,
        Response::AddPartitionsToTxn(Err(ErrorCode::TopicAuthorizationFailed)),
    );
    assert!(out.events.contains(&ProducerEvent::SendFailed {
        batch,
        partition: tp(0),
        error: BatchError::Kafka(ErrorCode::TopicAuthorizationFailed)
    }));
    assert_eq!(h.p.state(), AbortableError);
    let out = h.p.abort(0).unwrap();
    assert!(out.sends.is_empty(), "nothing was added: no EndTxn");
    assert_eq!(h.p.state(), Ready);
}

/// TransactionManagerTest.testBumpTransactionalEpochOnAbortableError (TV1, InitProducerId v3+):
/// EndTxn(ABORT) is followed by InitProducerId(current id, epoch), then READY with sequences 0.
#[test]
fn tv1_abortable_produce_error_bumps_the_epoch_after_abort() {
    let mut h = H::txn(TransactionVersion::Tv1);
    h.ready(1, 1);
    h.begin();
    h.send(0, 1);
    h.respond(
        "AddPartitionsToTxn",
        None,
        Response::AddPartitionsToTxn(Ok(())),
    );
    h.produce_err(0, ErrorCode::TopicAuthorizationFailed);
    assert!(h.p.epoch_bump_required());
    assert_eq!(names(&h.p.abort(0).map(|o| h.take(o)).unwrap()), ["EndTxn"]);
    let out = h.respond("EndTxn", None, Response::EndTxn(Ok(None)));
    assert_eq!(names(&out), ["InitProducerId"]);
    match &out.sends[0] {
        Request::InitProducerId { request, .. } => {
            assert_eq!((request.producer_id, request.producer_epoch), (1, 1))
        }
        _ => unreachable!(),
    }
    assert_eq!(h.p.state(), Initializing);
    h.respond(
        "InitProducerId",
        None,
        Response::InitProducerId(Ok(pe(1, 2))),
    );
    assert_eq!((h.p.state(), h.p.producer_epoch()), (Ready, 2));
    assert_eq!(h.p.next_sequence(&tp(0)), 0);
}

/// TransactionManagerTest.testEpochUpdateAfterBumpFromEndTxnResponseInV2: TV2 never sends
/// AddPartitionsToTxn nor the client bump; EndTxn's (id, epoch) is adopted, sequences reset.
#[test]
fn tv2_adopts_the_epoch_from_end_txn_and_resets_sequences() {
    let mut h = H::txn(TransactionVersion::Tv2);
    h.ready(1, 1);
    h.begin();
    assert_eq!(names(&h.send(0, 1)), ["Produce"]);
    h.produce_err(0, ErrorCode::InvalidProducerEpoch);
    assert_eq!(h.p.error_class(), Some(ErrorClass::Abortable));
    assert!(!h.p.epoch_bump_required());
    let out = h.p.abort(0).unwrap();
    assert_eq!(names(&out), ["EndTxn"]);
    h.take(out);
    let out = h.respond("EndTxn", None, Response::EndTxn(Ok(Some(pe(1, 2)))));
    assert!(out.sends.is_empty());
    assert_eq!((h.p.state(), h.p.producer_epoch()), (Ready, 2));
    assert_eq!(h.p.next_sequence(&tp(0)), 0);
}

/// TransactionManager.nextRequest: no partition added -> EndTxn is not sent; the transaction
/// completes locally (testRecoveryFromAbortableErrorTransactionNotStarted).
#[test]
fn empty_transaction_completes_without_end_txn() {
    let mut h = H::txn(TransactionVersion::Tv1);
    h.ready(1, 1);
    h.begin();
    let out = h.p.commit(0).unwrap();
    assert!(out.sends.is_empty());
    assert_eq!(out.events, [ProducerEvent::TransactionCommitted]);
    assert_eq!((h.p.state(), h.p.producer_epoch()), (Ready, 1));
}

/// TransactionManager.nextRequest ("do not send the EndTxn until all batches have been
/// flushed"; testCommitTransactionWithInFlightProduceRequest): EndTxn follows the last batch.
#[test]
fn commit_waits_for_in_flight_batches() {
    let mut h = H::txn(TransactionVersion::Tv2);
    h.ready(1, 1);
    h.begin();
    h.send(0, 1);
    let out = h.p.commit(0).unwrap();
    assert!(out.sends.is_empty());
    assert_eq!(h.p.state(), CommittingTransaction);
    let out = h.produce_ok(0, 0);
    assert_eq!(names(&out), ["EndTxn"]);
    match &out.sends[0] {
        Request::EndTxn { request, .. } => assert_eq!(
            (
                request.result,
                request.transaction_version(),
                request.version
            ),
            (
                TransactionResult::Commit,
                TransactionVersion::Tv2,
                END_TXN_TV2_VERSION
            )
        ),
        _ => unreachable!(),
    }
    let out = h.respond("EndTxn", None, Response::EndTxn(Ok(Some(pe(1, 2)))));
    assert_eq!(out.events, [ProducerEvent::TransactionCommitted]);
}

/// TransactionManagerTest.testProducerFencedExceptionInInitProducerId: fatal, and every later
/// call re-throws PRODUCER_FENCED.
#[test]
fn fatal_error_is_rethrown_by_every_later_call() {
    let mut h = H::txn(TransactionVersion::Tv2);
    h.init();
    let out = h.respond(
        "InitProducerId",
        None,
        Response::InitProducerId(Err(ErrorCode::ProducerFenced)),
    );
    assert_eq!(error_of(&out), Some(ErrorCode::ProducerFenced));
    assert_eq!(h.p.state(), FatalError);
    let fenced = Err(ProducerCallError::Failed(ErrorCode::ProducerFenced));
    assert_eq!(h.p.begin(0).map(|_| ()), fenced);
    assert_eq!(h.p.commit(0).map(|_| ()), fenced);
    assert_eq!(h.p.abort(0).map(|_| ()), fenced);
    assert_eq!(h.p.send(tp(0), 1, 0, 0).map(|_| ()), fenced);
}

/// TransactionManagerTest.testAbortableErrorWhileAbortInProgress: an abortable error while
/// aborting is ignored; the abort completes.
#[test]
fn abortable_error_while_aborting_is_ignored() {
    let mut h = H::txn(TransactionVersion::Tv2);
    h.ready(1, 1);
    h.begin();
    h.send(0, 1);
    let out = h.p.abort(0).unwrap();
    assert!(out.sends.is_empty(), "EndTxn waits for the in-flight batch");
    let out = h.produce_err(0, ErrorCode::TopicAuthorizationFailed);
    assert_eq!(h.p.state(), AbortingTransaction);
    assert_eq!(names(&out), ["EndTxn"]);
    h.respond("EndTxn", None, Response::EndTxn(Ok(Some(pe(1, 2)))));
    assert_eq!(h.p.state(), Ready);
}

/// TransactionManagerTest.testAbortableErrorIsConvertedToFatal... / KAFKA-14831
/// (testBackgroundInvalidStateTransitionIsFatal): a queued commit fails when the transaction
/// becomes abortable, and abort() is allowed from ABORTABLE_ERROR while commit re-throws.
#[test]
fn abortable_state_rethrows_on_commit_but_allows_abort() {
    let mut h = H::txn(TransactionVersion::Tv2);
    h.ready(1, 1);
    h.begin();
    h.send(0, 1);
    h.produce_err(0, ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(h.p.state(), AbortableError);
    assert_eq!(
        h.p.commit(0).map(|_| ()),
        Err(ProducerCallError::Failed(
            ErrorCode::OutOfOrderSequenceNumber
        ))
    );
    assert!(h.p.abort(0).is_ok());
}

// ------------------------------------------------------------------------------ error classes per RPC

fn txn_in_progress(tv: TransactionVersion) -> H {
    let mut h = H::txn(tv);
    h.ready(1, 1);
    h.begin();
    h
}

/// TransactionManager.InitProducerIdHandler: retriable -> the same request again;
/// INVALID_PRODUCER_EPOCH / PRODUCER_FENCED -> fatal PRODUCER_FENCED;
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED -> abortable (sic); others -> fatal.
#[test]
fn init_producer_id_error_classes() {
    for e in [
        ErrorCode::NotCoordinator,
        ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::ConcurrentTransactions,
    ] {
        let mut h = H::txn(TransactionVersion::Tv2);
        h.init();
        let out = h.respond("InitProducerId", None, Response::InitProducerId(Err(e)));
        assert_eq!(names(&out), ["InitProducerId"], "{e}");
        assert_eq!(h.p.state(), Initializing);
    }
    for (e, state, last) in [
        (
            ErrorCode::InvalidProducerEpoch,
            FatalError,
            ErrorCode::ProducerFenced,
        ),
        (
            ErrorCode::ProducerFenced,
            FatalError,
            ErrorCode::ProducerFenced,
        ),
        (
            ErrorCode::TransactionalIdAuthorizationFailed,
            AbortableError,
            ErrorCode::TransactionalIdAuthorizationFailed,
        ),
        (
            ErrorCode::InvalidTransactionTimeout,
            FatalError,
            ErrorCode::InvalidTransactionTimeout,
        ),
    ] {
        let mut h = H::txn(TransactionVersion::Tv2);
        h.init();
        h.respond("InitProducerId", None, Response::InitProducerId(Err(e)));
        assert_eq!((h.p.state(), h.p.last_error()), (state, Some(last)), "{e}");
    }
}

/// TransactionManager.AddPartitionsToTxnHandler ([2025-10]).
#[test]
fn add_partitions_error_classes() {
    let mut h = txn_in_progress(TransactionVersion::Tv1);
    h.send(0, 1);
    let out = h.respond(
        "AddPartitionsToTxn",
        None,
        Response::AddPartitionsToTxn(Err(ErrorCode::ConcurrentTransactions)),
    );
    assert_eq!(names(&out), ["AddPartitionsToTxn"]);
    for (e, state) in [
        (ErrorCode::InvalidProducerEpoch, FatalError),
        (ErrorCode::ProducerFenced, FatalError),
        (ErrorCode::InvalidTxnState, FatalError),
        (ErrorCode::InvalidProducerIdMapping, FatalError),
        (ErrorCode::TransactionalIdAuthorizationFailed, FatalError),
        (ErrorCode::TopicAuthorizationFailed, AbortableError),
        (ErrorCode::OperationNotAttempted, AbortableError),
        (ErrorCode::TransactionAbortable, AbortableError),
        (ErrorCode::UnknownProducerId, AbortableError),
    ] {
        let mut h = txn_in_progress(TransactionVersion::Tv1);
        h.send(0, 1);
        h.respond(
            "AddPartitionsToTxn",
            None,
            Response::AddPartitionsToTxn(Err(e)),
        );
        assert_eq!(h.p.state(), state, "{e}");
    }
}

/// TransactionManager.EndTxnHandler: TRANSACTION_ABORTABLE is abortable on a commit and
/// fatal on an abort ([2025-10]); fenced and INVALID_TXN_STATE are fatal; retriable -> resend.
#[test]
fn end_txn_error_classes() {
    let run = |result: TransactionResult, e: ErrorCode| {
        let mut h = txn_in_progress(TransactionVersion::Tv2);
        h.send(0, 1);
        h.produce_ok(0, 0);
        let out = match result {
            TransactionResult::Commit => h.p.commit(0).unwrap(),
            TransactionResult::Abort => h.p.abort(0).unwrap(),
        };
        h.take(out);
        let out = h.respond("EndTxn", None, Response::EndTxn(Err(e)));
        (h.p.state(), names(&out), h.p.last_error())
    };
    assert_eq!(
        run(TransactionResult::Commit, ErrorCode::NotCoordinator).1,
        ["EndTxn"]
    );
    assert_eq!(
        run(TransactionResult::Commit, ErrorCode::ConcurrentTransactions).0,
        CommittingTransaction
    );
    assert_eq!(
        run(TransactionResult::Commit, ErrorCode::TransactionAbortable).0,
        AbortableError
    );
    assert_eq!(
        run(TransactionResult::Abort, ErrorCode::TransactionAbortable).0,
        FatalError
    );
    assert_eq!(
        run(TransactionResult::Commit, ErrorCode::InvalidProducerEpoch),
        (FatalError, vec![], Some(ErrorCode::ProducerFenced))
    );
    assert_eq!(
        run(TransactionResult::Abort, ErrorCode::InvalidTxnState).0,
        FatalError
    );
}

/// Sender.completeBatch / TransactionManager.handleFailedBatch: transactional produce errors.
/// OUT_OF_ORDER and INVALID_PRODUCER_EPOCH are abortable (testAllowAbortOnProduceFailure,
/// testInvalidProducerEpochFromProduce); PRODUCER_FENCED and INVALID_PRODUCER_ID_MAPPING are fatal
/// (testFatalErrorWhenProduceResponseWithInvalidPidMapping); INVALID_TXN_STATE is wrapped as
/// TRANSACTION_ABORTABLE.
#[test]
fn transactional_produce_error_classes() {
    for (e, state, last) in [
        (
            ErrorCode::OutOfOrderSequenceNumber,
            AbortableError,
            ErrorCode::OutOfOrderSequenceNumber,
        ),
        (
            ErrorCode::InvalidProducerEpoch,
            AbortableError,
            ErrorCode::InvalidProducerEpoch,
        ),
        (
            ErrorCode::InvalidTxnState,
            AbortableError,
            ErrorCode::TransactionAbortable,
        ),
        (
            ErrorCode::ProducerFenced,
            FatalError,
            ErrorCode::ProducerFenced,
        ),
        (
            ErrorCode::InvalidProducerIdMapping,
            FatalError,
            ErrorCode::InvalidProducerIdMapping,
        ),
        (
            ErrorCode::ClusterAuthorizationFailed,
            FatalError,
            ErrorCode::ClusterAuthorizationFailed,
        ),
    ] {
        let mut h = txn_in_progress(TransactionVersion::Tv2);
        let batch = h.send(0, 1).batch.unwrap();
        let out = h.produce_err(0, e);
        assert_eq!((h.p.state(), h.p.last_error()), (state, Some(last)), "{e}");
        assert!(out.events.contains(&ProducerEvent::SendFailed {
            batch,
            partition: tp(0),
            error: BatchError::Kafka(e)
        }));
    }
}

// ------------------------------------------------------------------------------ timeouts

/// TransactionManager: a disconnected transactional request is re-enqueued and sent again.
#[test]
fn lost_transactional_request_is_sent_again() {
    let mut h = H::txn(TransactionVersion::Tv2);
    h.init();
    let out = h.timeout("InitProducerId", None);
    assert_eq!(names(&out), ["InitProducerId"]);
    assert_eq!(h.p.state(), Initializing);
}

/// Sender: a produce request that times out before the delivery timeout is retried with the
/// same sequence (the outcome is ambiguous).
#[test]
fn lost_produce_is_retried_with_the_same_sequence() {
    let mut h = H::idempotent();
    h.ready(1, 0);
    h.send(0, 1);
    let out = h.timeout("Produce", Some(0));
    assert_eq!(produce_seq(&out.sends[0]), (1, 0, 0));
}

/// Sender.failBatch for an expired batch (delivery.timeout.ms): the transaction becomes
/// abortable and (TV1) the client epoch bump is required (KIP-360, the M-T4 fix).
#[test]
fn expired_transactional_batch_makes_the_transaction_abortable_with_bump() {
    let mut h = txn_in_progress(TransactionVersion::Tv1);
    h.send(0, 1);
    h.respond(
        "AddPartitionsToTxn",
        None,
        Response::AddPartitionsToTxn(Ok(())),
    );
    h.now = 200_000;
    let out = h.timeout("Produce", Some(0));
    assert!(out.sends.is_empty());
    assert_eq!(h.p.state(), AbortableError);
    assert!(h.p.epoch_bump_required());
}

// ------------------------------------------------------------------------------ bug switches

fn with_bugs(tv: TransactionVersion, txn: bool, bugs: ProducerBugs) -> H {
    H::new(ProducerConfig {
        transactional_id: txn.then(|| "foobar".to_string()),
        transaction_version: tv,
        bugs,
        ..ProducerConfig::default()
    })
}

/// M-I3 (KIP-360 motivation, KAFKA-18579): with the bug, an ambiguous produce is re-sent under a
/// new sequence; without it the sequence is kept (lost_produce_is_retried_with_the_same_sequence).
#[test]
fn bug_reset_sequence_on_ambiguous_resends_with_a_new_sequence() {
    let bugs = ProducerBugs {
        reset_sequence_on_ambiguous: true,
        ..ProducerBugs::default()
    };
    let mut h = with_bugs(TransactionVersion::Tv2, false, bugs);
    h.ready(1, 0);
    h.send(0, 1);
    let out = h.timeout("Produce", Some(0));
    assert_eq!(
        produce_seq(&out.sends[0]),
        (1, 1, 0),
        "idempotent: bumped epoch"
    );
    let mut h = with_bugs(TransactionVersion::Tv2, true, bugs);
    h.ready(1, 0);
    h.begin();
    h.send(0, 1);
    let out = h.produce_err(0, ErrorCode::NotLeaderOrFollower);
    assert_eq!(
        produce_seq(&out.sends[0]),
        (1, 0, 1),
        "transactional: new sequence"
    );
}

/// M-T6 (KIP-890 motivation): with the bug a TV1 producer writes without AddPartitionsToTxn.
#[test]
fn bug_skip_add_partitions_produces_without_adding() {
    let bugs = ProducerBugs {
        skip_add_partitions: true,
        ..ProducerBugs::default()
    };
    let mut h = with_bugs(TransactionVersion::Tv1, true, bugs);
    h.ready(1, 0);
    h.begin();
    assert_eq!(names(&h.send(0, 1)), ["Produce"]);
    let mut h = txn_in_progress(TransactionVersion::Tv1);
    assert_eq!(names(&h.send(0, 1)), ["AddPartitionsToTxn"]);
}

/// M-T3 (KAFKA-17754): with the bug a lost EndTxn(COMMIT) makes the client treat the
/// transaction as aborted at the same epoch; without it the commit is re-sent.
#[test]
fn bug_abort_after_commit_timeout_gives_up_on_the_commit() {
    let bugs = ProducerBugs {
        abort_after_commit_timeout: true,
        ..ProducerBugs::default()
    };
    let mut h = with_bugs(TransactionVersion::Tv1, true, bugs);
    h.ready(1, 0);
    h.begin();
    h.send(0, 1);
    h.respond(
        "AddPartitionsToTxn",
        None,
        Response::AddPartitionsToTxn(Ok(())),
    );
    h.produce_ok(0, 0);
    let out = h.p.commit(0).unwrap();
    h.take(out);
    let out = h.timeout("EndTxn", None);
    assert!(out.sends.is_empty());
    assert_eq!(out.events, [ProducerEvent::TransactionAborted]);
    assert_eq!((h.p.state(), h.p.producer_epoch()), (Ready, 0));

    let mut h = txn_in_progress(TransactionVersion::Tv1);
    h.send(0, 1);
    h.respond(
        "AddPartitionsToTxn",
        None,
        Response::AddPartitionsToTxn(Ok(())),
    );
    h.produce_ok(0, 0);
    let out = h.p.commit(0).unwrap();
    h.take(out);
    let out = h.timeout("EndTxn", None);
    assert_eq!(names(&out), ["EndTxn"]);
    assert_eq!(h.p.state(), CommittingTransaction);
}

/// M-T4 (KAFKA-14053): with the bug an expired batch does not require the epoch bump, so the
/// abort sends no InitProducerId.
#[test]
fn bug_abort_without_bump_after_timeout_skips_the_bump() {
    let bugs = ProducerBugs {
        abort_without_bump_after_timeout: true,
        ..ProducerBugs::default()
    };
    let mut h = with_bugs(TransactionVersion::Tv1, true, bugs);
    h.ready(1, 0);
    h.begin();
    h.send(0, 1);
    h.respond(
        "AddPartitionsToTxn",
        None,
        Response::AddPartitionsToTxn(Ok(())),
    );
    h.now = 200_000;
    h.timeout("Produce", Some(0));
    assert_eq!(h.p.state(), AbortableError);
    assert!(!h.p.epoch_bump_required());
    let out = h.p.abort(h.now).unwrap();
    h.take(out);
    let out = h.respond("EndTxn", None, Response::EndTxn(Ok(None)));
    assert!(out.sends.is_empty(), "no InitProducerId bump");
    assert_eq!((h.p.state(), h.p.producer_epoch()), (Ready, 0));
}

/// M-E1 (KAFKA-13574): with the bug NOT_LEADER_OR_FOLLOWER fails the batch for good (a false
/// loss); without it the batch is retried.
#[test]
fn bug_not_leader_is_definite_failure_fails_the_batch() {
    let bugs = ProducerBugs {
        not_leader_is_definite_failure: true,
        ..ProducerBugs::default()
    };
    let mut h = with_bugs(TransactionVersion::Tv2, false, bugs);
    h.ready(1, 0);
    let batch = h.send(0, 1).batch.unwrap();
    let out = h.produce_err(0, ErrorCode::NotLeaderOrFollower);
    assert!(out.events.contains(&ProducerEvent::SendFailed {
        batch,
        partition: tp(0),
        error: BatchError::Kafka(ErrorCode::NotLeaderOrFollower)
    }));
    let mut h = H::idempotent();
    h.ready(1, 0);
    h.send(0, 1);
    let out = h.produce_err(0, ErrorCode::NotLeaderOrFollower);
    assert_eq!(names(&out), ["Produce"]);
}

// ------------------------------------------------------------------------------ misc

/// An unknown request id or a response of the wrong kind is refused and changes nothing.
#[test]
fn unknown_request_and_wrong_response_kind_are_refused() {
    let mut h = H::txn(TransactionVersion::Tv2);
    h.init();
    let before = h.p.clone();
    let id: RequestId = h.pending[0].id();
    assert!(h
        .p
        .handle_response(id + 100, Response::Produce(Ok(0)), 0)
        .is_err());
    assert!(h
        .p
        .handle_response(id, Response::Produce(Ok(0)), 0)
        .is_err());
    assert!(h.p.handle_request_timeout(id + 100, 0).is_err());
    assert_eq!(h.p, before);
    let _ = h.produces(0);
}

// ------------------------------------------------------------------------------ conformance runner

/// FORMAT.md: every shipped producer vector (`tests/conformance/E*.json`) passes.
#[test]
fn producer_conformance_vectors_pass() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with('E') || !name.ends_with(".json") {
            continue;
        }
        let (id, verdict) = kafka_eos_model::conformance::run_file(&path);
        assert!(verdict.is_pass(), "{id}: {verdict}");
        n += 1;
    }
    assert!(n >= 11, "only {n} producer vectors found");
}

/// FORMAT.md: an unknown op, field or config key makes the vector malformed (never skipped),
/// and a mismatch names the step with expected and actual outcomes.
#[test]
fn producer_runner_rejects_malformed_vectors_and_reports_mismatches() {
    use kafka_eos_model::conformance::{parse_vector, run_vector, Verdict};
    let vector = |config: &str, steps: &str| {
        let text = format!(
            r#"{{"format": 1, "id": "x", "role": "producer", "config": {config}, "steps": {steps}}}"#
        );
        run_vector(&parse_vector(&text).unwrap())
    };
    assert!(matches!(
        vector("{}", r#"[{"op": "fly"}]"#),
        Verdict::Malformed(_)
    ));
    assert!(matches!(
        vector("{}", r#"[{"op": "init", "wings": 2}]"#),
        Verdict::Malformed(_)
    ));
    assert!(matches!(
        vector(r#"{"acks": 1}"#, "[]"),
        Verdict::Malformed(_)
    ));
    assert!(matches!(
        vector(r#"{"max_in_flight": 6}"#, "[]"),
        Verdict::Malformed(_)
    ));
    assert!(matches!(
        vector("{}", r#"[{"op": "respond", "api": "Produce"}]"#),
        Verdict::Malformed(_)
    ));
    match vector("{}", r#"[{"op": "init", "expect": {}}]"#) {
        Verdict::Fail(f) => {
            assert_eq!((f.step, f.op.as_str()), (1, "init"));
            assert_eq!(f.actual, serde_json::json!({"sends": ["InitProducerId"]}));
        }
        other => panic!("expected a failure, got {other}"),
    }
    // An idempotent producer's send while INITIALIZING is held (no request): `{}` passes.
    assert!(vector(
        "{}",
        r#"[{"op": "init", "expect": {"sends": ["InitProducerId"]}},
            {"op": "send", "partition": "topic-0", "expect": {}},
            {"op": "respond", "api": "InitProducerId", "producer_id": 7, "producer_epoch": 0,
             "expect": {"sends": ["Produce"]}}]"#
    )
    .is_pass());
}

/// TransactionManager.canRetry / Sender.completeBatch: a retriable error after the delivery
/// timeout fails the batch; for a transactional producer the retriable error is wrapped as
/// TRANSACTION_ABORTABLE ([2025-10] handleFailedBatch).
#[test]
fn retriable_error_after_delivery_timeout_fails_the_batch() {
    let mut h = txn_in_progress(TransactionVersion::Tv2);
    let batch = h.send(0, 1).batch.unwrap();
    h.now = 120_000;
    let out = h.produce_err(0, ErrorCode::NotEnoughReplicas);
    assert!(out.sends.is_empty());
    assert!(out.events.contains(&ProducerEvent::SendFailed {
        batch,
        partition: tp(0),
        error: BatchError::Kafka(ErrorCode::NotEnoughReplicas)
    }));
    assert_eq!(
        (h.p.state(), h.p.last_error()),
        (AbortableError, Some(ErrorCode::TransactionAbortable))
    );
}

// ------------------------------------------- canRetry edges (`docs/producer.md` R-S9..R-S11)

/// Answers the Produce of `part` carrying `base_sequence` (not necessarily the oldest).
fn produce_answer(h: &mut H, part: i32, base_sequence: i32, resp: Response) -> ProducerOutput<u32> {
    let i = h
        .pending
        .iter()
        .position(|r| {
            matches!(r, Request::Produce { request, .. }
                if request.partition == tp(part) && request.base_sequence == base_sequence)
        })
        .expect("outstanding Produce with that sequence");
    let req = h.pending.remove(i);
    let now = h.now;
    let out =
        h.p.handle_response(req.id(), resp, now)
            .expect("response accepted");
    h.take(out)
}

fn failed(out: &ProducerOutput<u32>) -> Vec<(u64, BatchError)> {
    out.events
        .iter()
        .filter_map(|e| match e {
            ProducerEvent::SendFailed { batch, error, .. } => Some((*batch, *error)),
            _ => None,
        })
        .collect()
}

/// TransactionManager.canRetry (OUT_OF_ORDER_SEQUENCE_NUMBER): with no unresolved sequence, a
/// batch that is not the next one (`base != lastAcked + 1`: an earlier batch is still in
/// flight) is retried, for a transactional producer too; once it is the next one, the same
/// answer fails it and the transaction becomes abortable (testAllowAbortOnProduceFailure).
/// `docs/producer.md` R-S10; before the fix the transactional batch failed at the first answer.
#[test]
fn transactional_out_of_order_on_a_later_batch_is_retried() {
    let mut h = txn_in_progress(TransactionVersion::Tv2);
    h.send(0, 1);
    let second = h.send(0, 1).batch.unwrap();
    assert_eq!(h.produces(0), [(1, 0, 1), (1, 1, 1)]);
    let oos = || Response::Produce(Err(ErrorCode::OutOfOrderSequenceNumber));
    // Sequence 1 is not the next one (nothing acked yet): retried, nothing fails.
    let out = produce_answer(&mut h, 0, 1, oos());
    assert!(failed(&out).is_empty());
    assert!(
        out.sends.is_empty(),
        "the retry waits behind the first batch"
    );
    assert_eq!(h.p.state(), InTransaction);
    // The first batch is acked: the second is re-sent with the same sequence.
    let out = h.produce_ok(0, 0);
    assert_eq!(produce_seq(&out.sends[0]), (1, 1, 1));
    // Now it is the next batch: the same answer fails it, abortable.
    let out = produce_answer(&mut h, 0, 1, oos());
    assert_eq!(
        failed(&out),
        [(
            second,
            BatchError::Kafka(ErrorCode::OutOfOrderSequenceNumber)
        )]
    );
    assert_eq!(h.p.state(), AbortableError);
}

/// TransactionManager.canRetry: a batch whose sequence was reset (`sequenceHasBeenReset`, here
/// by `startSequencesAtBeginning` after the idempotent epoch bump) is retried on
/// OUT_OF_ORDER_SEQUENCE_NUMBER without another bump, although it is now the next batch
/// (SenderTest.testEpochBumpOnOutOfOrderSequenceForNextBatch, second half). Before the fix the
/// rewritten batch bumped the epoch a second time.
#[test]
fn out_of_order_on_a_reset_sequence_is_retried_without_a_bump() {
    let mut h = H::idempotent();
    h.ready(1, 0);
    h.send(0, 1);
    h.send(0, 1);
    let oos = || Response::Produce(Err(ErrorCode::OutOfOrderSequenceNumber));
    // The next batch gets OUT_OF_ORDER: epoch bump; the other answers the same way.
    produce_answer(&mut h, 0, 0, oos());
    assert_eq!(h.p.producer_epoch(), 1);
    let out = produce_answer(&mut h, 0, 1, oos());
    // Both are rewritten from 0 under epoch 1; the first is re-sent.
    assert_eq!(produce_seq(&out.sends[0]), (1, 1, 0));
    let out = produce_answer(&mut h, 0, 0, oos());
    assert_eq!(
        h.p.producer_epoch(),
        1,
        "no second bump for a reset sequence"
    );
    assert!(failed(&out).is_empty());
    assert_eq!(produce_seq(&out.sends[0]), (1, 1, 0), "retried");
}

/// Sender.canRetry checks `hasReachedDeliveryTimeout` before TransactionManager.canRetry: an
/// idempotent OUT_OF_ORDER_SEQUENCE_NUMBER past the delivery timeout fails the batch, and
/// handleFailedBatch bumps the epoch (`requestIdempotentEpochBumpForPartition`).
/// `docs/producer.md` R-S11; before the fix it was retried forever.
#[test]
fn idempotent_out_of_order_past_delivery_timeout_fails_the_batch() {
    let mut h = H::idempotent();
    h.ready(1, 0);
    let batch = h.send(0, 1).batch.unwrap();
    h.now = 120_000;
    let out = h.produce_err(0, ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(
        failed(&out),
        [(
            batch,
            BatchError::Kafka(ErrorCode::OutOfOrderSequenceNumber)
        )]
    );
    assert!(out.sends.is_empty());
    assert_eq!(h.p.producer_epoch(), 1);
}

/// Sender.canRetry + TransactionManager.handleFailedBatch (UnknownProducerIdException →
/// `resetSequenceForPartition`, no bump): an idempotent UNKNOWN_PRODUCER_ID past the delivery
/// timeout fails the batch and the partition restarts at sequence 0 under the same epoch.
/// `docs/producer.md` R-S11; before the fix it was retried with an epoch bump.
#[test]
fn idempotent_unknown_producer_id_past_delivery_timeout_fails_and_resets_the_partition() {
    let mut h = H::idempotent();
    h.ready(1, 0);
    let batch = h.send(0, 3).batch.unwrap();
    h.now = 120_000;
    let out = h.produce_err(0, ErrorCode::UnknownProducerId);
    assert_eq!(
        failed(&out),
        [(batch, BatchError::Kafka(ErrorCode::UnknownProducerId))]
    );
    assert_eq!(h.p.producer_epoch(), 0);
    assert_eq!(h.p.next_sequence(&tp(0)), 0);
    let out = h.send(0, 1);
    assert_eq!(produce_seq(&out.sends[0]), (1, 0, 0));
}

/// TransactionManager.canRetry (idempotent OUT_OF_ORDER_SEQUENCE_NUMBER with an unresolved
/// sequence): only the batch right after the expired one (`isNextSequenceForUnresolvedPartition`)
/// bumps the epoch; a later one is retried and waits for the sequence to resolve.
/// `docs/producer.md` R-S11; before the fix the batch right after the unresolved one was retried
/// without a bump.
#[test]
fn idempotent_out_of_order_with_unresolved_sequence_bumps_only_for_the_batch_after_it() {
    let mut h = H::idempotent();
    h.ready(1, 0);
    h.send(0, 1); // sequence 0, sent at 0
    h.now = 100_000;
    h.send(0, 1); // sequence 1
    h.send(0, 1); // sequence 2
    h.now = 150_000;
    // Sequence 0 is lost past its delivery timeout: it expires, the partition is unresolved.
    let out = h.timeout("Produce", Some(0));
    assert_eq!(failed(&out).len(), 1);
    assert_eq!(h.p.partition(&tp(0)).unwrap().unresolved, Some(1));
    let oos = || Response::Produce(Err(ErrorCode::OutOfOrderSequenceNumber));
    // Sequence 2 is not right after the unresolved one: retried, no bump.
    let out = produce_answer(&mut h, 0, 2, oos());
    assert!(failed(&out).is_empty());
    assert_eq!(h.p.producer_epoch(), 0);
    // Sequence 1 is: the epoch is bumped, and it is retried.
    let out = produce_answer(&mut h, 0, 1, oos());
    assert!(failed(&out).is_empty());
    assert_eq!(h.p.producer_epoch(), 1);
}

/// TransactionManagerTest.testTransitionToFatalErrorWhenRetriedBatchIsExpired
/// (`maybeResolveSequences` → `transitionToAbortableErrorOrFatalError`): when abortable errors
/// cannot be handled (TV1, InitProducerId below v3), an expired transactional batch whose
/// sequence never resolves makes the producer fatal. `docs/producer.md` R-S11; before the
/// fix it stayed ABORTABLE_ERROR. With InitProducerId v3+ it stays abortable with the client bump.
#[test]
fn expired_transactional_batch_is_fatal_when_abortable_errors_cannot_be_handled() {
    for (bump_support, state) in [(false, FatalError), (true, AbortableError)] {
        let mut h = H::new(ProducerConfig {
            transactional_id: Some("foobar".into()),
            transaction_version: TransactionVersion::Tv1,
            coordinator_supports_epoch_bump: bump_support,
            ..ProducerConfig::default()
        });
        h.ready(1, 1);
        h.begin();
        h.send(0, 1);
        h.respond(
            "AddPartitionsToTxn",
            None,
            Response::AddPartitionsToTxn(Ok(())),
        );
        h.now = 200_000;
        h.timeout("Produce", Some(0));
        assert_eq!(h.p.state(), state, "bump support {bump_support}");
        assert_eq!(h.p.epoch_bump_required(), bump_support);
        assert_eq!(h.p.partition(&tp(0)).unwrap().unresolved, None);
    }
}

/// TransactionManager.beginCompletingTransaction: when the client epoch bump is required, the
/// abort's result is the bump's InitProducerId result (testBumpTransactionalEpochOnAbortableError
/// awaits `abortResult` only after the InitProducerId response). So TransactionAborted comes
/// with the bump, not with the EndTxn response (`docs/producer.md` R-S9).
#[test]
fn tv1_abort_completes_when_the_epoch_bump_completes() {
    let mut h = txn_in_progress(TransactionVersion::Tv1);
    h.send(0, 1);
    h.respond(
        "AddPartitionsToTxn",
        None,
        Response::AddPartitionsToTxn(Ok(())),
    );
    h.produce_err(0, ErrorCode::TopicAuthorizationFailed);
    let out = h.p.abort(0).unwrap();
    h.take(out);
    let out = h.respond("EndTxn", None, Response::EndTxn(Ok(None)));
    assert!(!out.events.contains(&ProducerEvent::TransactionAborted));
    let out = h.respond(
        "InitProducerId",
        None,
        Response::InitProducerId(Ok(pe(1, 2))),
    );
    assert_eq!(
        out.events,
        [
            ProducerEvent::Initialized {
                producer_id: 1,
                producer_epoch: 2
            },
            ProducerEvent::TransactionAborted
        ]
    );
    // Without a bump (TV2) the abort completes with EndTxn.
    let mut h = txn_in_progress(TransactionVersion::Tv2);
    h.send(0, 1);
    h.produce_err(0, ErrorCode::TopicAuthorizationFailed);
    let out = h.p.abort(0).unwrap();
    h.take(out);
    let out = h.respond("EndTxn", None, Response::EndTxn(Ok(Some(pe(1, 2)))));
    assert!(out.events.contains(&ProducerEvent::TransactionAborted));
}

// ------------------------------- time: delivery deadlines (`next_deadline`, `handle_timeout`)

/// `Producer::handle_timeout` at `now`, recorded like any other input.
fn tick(h: &mut H, now: i64) -> ProducerOutput<u32> {
    h.now = now;
    let out = h.p.handle_timeout(now);
    h.take(out)
}

fn timed_out(batch: u64, part: i32) -> ProducerEvent {
    ProducerEvent::SendFailed {
        batch,
        partition: tp(part),
        error: BatchError::Kafka(ErrorCode::RequestTimedOut),
    }
}

/// RecordAccumulator.nextExpiryTimeMs is Long.MAX_VALUE while the accumulator holds no batch
/// (`resetNextBatchExpiryTime`): an idle producer, or one whose batches are all acknowledged,
/// has no deadline. A batch whose Produce request is outstanding is not counted either: the
/// core expires it when its request ends (`docs/producer.md` §7).
#[test]
fn idle_producer_has_no_deadline() {
    let mut h = H::idempotent();
    assert_eq!(h.p.next_deadline(), None);
    h.ready(1, 0);
    assert_eq!(h.p.next_deadline(), None);
    h.send(0, 1);
    assert_eq!(h.produces(0), [(0, 0, 1)]);
    assert_eq!(h.p.next_deadline(), None);
    h.produce_ok(0, 0);
    assert_eq!(h.p.next_deadline(), None);
    let out = tick(&mut h, 1_000_000);
    assert_eq!(out, ProducerOutput::default());
}

/// ProducerBatch.hasReachedDeliveryTimeout (`deliveryTimeoutMs <= now - createdMs`) and
/// RecordAccumulator.maybeUpdateNextBatchExpiryTime: the deadline is the earliest
/// `createdMs + delivery.timeout.ms` of the batches waiting in the accumulator (here: waiting
/// for a producer id).
#[test]
fn deadline_is_creation_plus_delivery_timeout() {
    let mut h = H::new(ProducerConfig {
        delivery_timeout_ms: 30_000,
        ..ProducerConfig::default()
    });
    h.init();
    h.now = 1_000;
    h.send(0, 1);
    assert_eq!(h.p.next_deadline(), Some(31_000));
    h.now = 5_000;
    h.send(1, 1);
    assert_eq!(h.p.next_deadline(), Some(31_000));
}

/// RecordAccumulatorTest.testExpiredBatchSingle (`doExpireBatchSingle`): the batch does not
/// expire before its delivery timeout, and does at it although it cannot be drained (muted
/// partition there; no producer id here). Afterwards no deadline is left at or before `now`.
#[test]
fn queued_batch_expires_at_its_deadline_not_one_ms_before() {
    let mut h = H::idempotent();
    h.init();
    h.now = 10;
    let batch = h.send(0, 2).batch.unwrap();
    let deadline = h.p.next_deadline().unwrap();
    assert_eq!(deadline, 120_010);

    let out = tick(&mut h, deadline - 1);
    assert!(out.events.is_empty() && out.sends.is_empty());
    assert_eq!(h.p.partition(&tp(0)).unwrap().queued.len(), 1);
    assert_eq!(h.p.next_deadline(), Some(deadline));

    let out = tick(&mut h, deadline);
    assert_eq!(out.events, [timed_out(batch, 0)]);
    assert!(out.sends.is_empty());
    assert!(h.p.partition(&tp(0)).unwrap().queued.is_empty());
    assert_eq!(h.p.next_deadline(), None);
    assert_eq!(h.p.state(), Initializing);
    // The producer id arrives later: nothing is left to send.
    let out = h.respond(
        "InitProducerId",
        None,
        Response::InitProducerId(Ok(pe(1, 0))),
    );
    assert!(out.sends.is_empty());
}

/// SenderTest.testExpiryOfUnsentBatchesShouldNotCauseUnresolvedSequences: an idempotent batch
/// that was never drained (here behind `max.in.flight` = 1) expires with a TimeoutException,
/// has no sequence, and leaves the partition resolved: the batch in flight keeps its sequence,
/// the next batch takes the sequence after it, no epoch bump (`failBatch(batch, e, false)`).
#[test]
fn idempotent_unsent_batch_expiry_does_not_disturb_sequences() {
    let mut h = H::new(ProducerConfig {
        max_in_flight: 1,
        ..ProducerConfig::default()
    });
    h.ready(1, 0);
    h.send(0, 1);
    h.now = 50;
    let held = h.send(0, 3).batch.unwrap();
    assert_eq!(h.produces(0), [(0, 0, 1)]);
    assert_eq!(h.p.next_deadline(), Some(120_050));

    let out = tick(&mut h, 120_050);
    assert_eq!(out.events, [timed_out(held, 0)]);
    let entry = h.p.partition(&tp(0)).unwrap();
    assert_eq!((entry.unresolved, entry.next_sequence), (None, 1));
    assert_eq!(h.p.producer_epoch(), 0);

    h.produce_ok(0, 0);
    assert_eq!(h.p.partition(&tp(0)).unwrap().last_acked_sequence, 0);
    h.send(0, 1);
    assert_eq!(h.produces(0), [(0, 1, 1)]);
}

/// TransactionManagerTest.testTransitionToAbortableErrorOnBatchExpiry
/// (`handleFailedBatch` → `maybeTransitionToErrorState`): an expired transactional batch (here
/// still waiting for its partition to be added, TV1) makes the transaction ABORTABLE_ERROR and,
/// under TV1 with InitProducerId v3+, requires the client epoch bump; not while committing
/// (`!isCompleting()`). The other held batches then fail with the abortable error
/// (`abortUndrainedBatches`).
#[test]
fn expired_transactional_queued_batch_makes_the_transaction_abortable() {
    let mut h = txn_in_progress(TransactionVersion::Tv1);
    let first = h.send(0, 1).batch.unwrap();
    h.now = 1;
    let second = h.send(0, 1).batch.unwrap();
    assert_eq!(h.p.next_deadline(), Some(120_000));
    let out = tick(&mut h, 120_000);
    assert_eq!(
        failed(&out),
        [
            (first, BatchError::Kafka(ErrorCode::RequestTimedOut)),
            (second, BatchError::Kafka(ErrorCode::TransactionAbortable))
        ]
    );
    assert_eq!(
        (h.p.state(), h.p.last_error()),
        (AbortableError, Some(ErrorCode::TransactionAbortable))
    );
    assert!(h.p.epoch_bump_required());
    assert_eq!(h.p.next_deadline(), None);

    // While committing: abortable, but no client bump.
    let mut h = txn_in_progress(TransactionVersion::Tv1);
    let batch = h.send(0, 1).batch.unwrap();
    let out = h.p.commit(0).unwrap();
    h.take(out);
    let out = tick(&mut h, 120_000);
    assert_eq!(
        failed(&out),
        [(batch, BatchError::Kafka(ErrorCode::RequestTimedOut))]
    );
    assert_eq!(h.p.state(), AbortableError);
    assert!(!h.p.epoch_bump_required());

    // TV2: abortable, the coordinator bumps with the abort.
    let mut h = H::new(ProducerConfig {
        transactional_id: Some("foobar".into()),
        max_in_flight: 1,
        ..ProducerConfig::default()
    });
    h.ready(1, 1);
    h.begin();
    h.send(0, 1);
    let held = h.send(0, 1).batch.unwrap();
    let out = tick(&mut h, 120_000);
    assert_eq!(
        failed(&out),
        [(held, BatchError::Kafka(ErrorCode::RequestTimedOut))]
    );
    assert_eq!(h.p.state(), AbortableError);
    assert!(!h.p.epoch_bump_required());
}

/// SenderTest.testExpiryOfFirstBatchShouldNotCauseUnresolvedSequencesIfFutureBatchesSucceed
/// and testExpiryOfAllSentBatchesShouldCauseUnresolvedSequences: a retry waiting to be re-sent
/// is in Kafka's accumulator queue with `inRetry()`, so its expiry marks the partition's
/// sequence unresolved (`markSequenceUnresolved`); new batches wait until it resolves. If a
/// later batch succeeds the partition is resolved; if none does, the idempotent producer bumps
/// its epoch locally once nothing is in flight (`maybeResolveSequences` →
/// `requestIdempotentEpochBumpForPartition`) and the held batch starts again at sequence 0.
#[test]
fn expired_retry_leaves_the_sequence_unresolved_until_a_later_batch_settles_it() {
    for later_batch in [true, false] {
        let mut h = H::idempotent();
        h.ready(1, 0);
        h.send(0, 1);
        h.now = 10;
        let retried = h.send(0, 1).batch.unwrap();
        if later_batch {
            h.now = 20;
            h.send(0, 1);
        }
        // The second batch is retried, but waits behind the first (lowest in flight).
        let out = produce_answer(
            &mut h,
            0,
            1,
            Response::Produce(Err(ErrorCode::NotEnoughReplicas)),
        );
        assert!(out.sends.is_empty());
        assert_eq!(h.p.next_deadline(), Some(120_010));

        let out = tick(&mut h, 120_010);
        assert_eq!(out.events, [timed_out(retried, 0)]);
        // The sequence right after the expired batch.
        assert_eq!(h.p.partition(&tp(0)).unwrap().unresolved, Some(2));
        // A new batch is not drained while the sequence is unresolved.
        h.send(0, 1);
        assert_eq!(h.produces(0).len(), if later_batch { 2 } else { 1 });

        let out = produce_answer(&mut h, 0, 0, Response::Produce(Ok(0)));
        let out = if later_batch {
            produce_answer(&mut h, 0, 2, Response::Produce(Ok(2)))
        } else {
            out
        };
        assert_eq!(h.p.partition(&tp(0)).unwrap().unresolved, None);
        if later_batch {
            assert_eq!(h.p.producer_epoch(), 0);
            assert_eq!(h.produces(0), [(0, 3, 1)]);
        } else {
            assert_eq!(h.p.producer_epoch(), 1);
            assert!(out.events.contains(&ProducerEvent::EpochBumped {
                producer_id: 1,
                producer_epoch: 1
            }));
            assert_eq!(h.produces(0), [(1, 0, 1)]);
        }
    }
}

/// Where the core differs from Kafka (`docs/producer.md` §7): Sender.getExpiredInflightBatches
/// fails a batch whose Produce request is still outstanding at its delivery deadline; the core
/// leaves it to the request's end. Time alone changes nothing; the lost request
/// (`handle_request_timeout`) then expires it with its sequence unresolved.
#[test]
fn batch_with_an_outstanding_request_expires_when_the_request_ends() {
    let mut h = H::idempotent();
    h.ready(1, 0);
    let batch = h.send(0, 1).batch.unwrap();
    let out = tick(&mut h, 200_000);
    assert_eq!(out, ProducerOutput::default());
    assert_eq!(h.produces(0), [(0, 0, 1)]);
    let out = h.timeout("Produce", Some(0));
    assert!(out.events.contains(&timed_out(batch, 0)));
}

// ------------------------------------------------------------------------------ sendOffsetsToTransaction

/// `sendOffsetsToTransaction` (`KafkaProducer`, `TransactionManager.AddOffsetsToTxnHandler` and
/// `TxnOffsetCommitHandler` of [2025-10]); the tests cite `TransactionManagerTest` (TM) and
/// `KafkaProducerTest` (KP).
mod send_offsets {
    use std::collections::BTreeMap;

    use super::*;
    use kafka_eos::group::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
    use kafka_eos::messages::AddOffsetsToTxnRequest;
    use kafka_eos::producer::{Call, ConsumerGroupMetadata, OffsetsError};

    const GROUP: &str = "myConsumerGroup";

    fn offsets(parts: &[(i32, i64)]) -> BTreeMap<TopicPartition, i64> {
        parts.iter().map(|&(p, o)| (tp(p), o)).collect()
    }

    fn member() -> ConsumerGroupMetadata {
        ConsumerGroupMetadata {
            group_id: GROUP.into(),
            generation_id: 5,
            member_id: "member".into(),
            group_instance_id: Some("instance".into()),
        }
    }

    fn send_offsets(h: &mut H, parts: &[(i32, i64)]) -> ProducerOutput<u32> {
        let out = h
            .p
            .send_offsets_to_transaction(offsets(parts), ConsumerGroupMetadata::new(GROUP), h.now)
            .expect("sendOffsetsToTransaction");
        h.take(out)
    }

    fn add_offsets(h: &H) -> AddOffsetsToTxnRequest {
        match &h.pending[h.find("AddOffsetsToTxn", None)] {
            Request::AddOffsetsToTxn { request, .. } => request.clone(),
            other => panic!("not AddOffsetsToTxn: {other:?}"),
        }
    }

    fn txn_offset_commit(h: &H) -> TxnOffsetCommitRequest {
        match &h.pending[h.find("TxnOffsetCommit", None)] {
            Request::TxnOffsetCommit { request, .. } => request.clone(),
            other => panic!("not TxnOffsetCommit: {other:?}"),
        }
    }

    fn add_offsets_answer(h: &mut H, r: Result<(), ErrorCode>) -> ProducerOutput<u32> {
        h.respond("AddOffsetsToTxn", None, Response::AddOffsetsToTxn(r))
    }

    fn commit_answer(h: &mut H, parts: &[(i32, Result<(), ErrorCode>)]) -> ProducerOutput<u32> {
        let partitions = parts.iter().map(|&(p, r)| (tp(p), r)).collect();
        h.respond(
            "TxnOffsetCommit",
            None,
            Response::TxnOffsetCommit(TxnOffsetCommitResponse { partitions }),
        )
    }

    fn sent(parts: &[(i32, i64)]) -> ProducerEvent {
        ProducerEvent::OffsetsSent {
            group_id: GROUP.into(),
            offsets: offsets(parts),
        }
    }

    fn failed(error: OffsetsError) -> ProducerEvent {
        ProducerEvent::OffsetsFailed {
            group_id: GROUP.into(),
            error,
        }
    }

    /// A TV1 call whose AddOffsetsToTxn succeeded: its TxnOffsetCommit is outstanding.
    fn tv1_committing(parts: &[(i32, i64)]) -> H {
        let mut h = txn_in_progress(TransactionVersion::Tv1);
        send_offsets(&mut h, parts);
        add_offsets_answer(&mut h, Ok(()));
        h
    }

    /// TM testBasicTransaction: under TV1 AddOffsetsToTxn (v4, to the transaction coordinator)
    /// goes first; the call completes only when the TxnOffsetCommit (v4, to the group
    /// coordinator) that its success queues is answered. The offsets alone start the
    /// transaction, so the commit sends EndTxn.
    #[test]
    fn tv1_adds_the_offsets_partition_then_commits_the_offsets() {
        let mut h = txn_in_progress(TransactionVersion::Tv1);
        let out = send_offsets(&mut h, &[(1, 1)]);
        assert_eq!(names(&out), ["AddOffsetsToTxn"]);
        assert_eq!(
            add_offsets(&h),
            AddOffsetsToTxnRequest {
                transactional_id: "foobar".into(),
                producer_id: 1,
                producer_epoch: 1,
                group_id: GROUP.into(),
                version: 4,
            }
        );
        assert!(h.p.pending_offset_commits().is_empty());

        let out = add_offsets_answer(&mut h, Ok(()));
        assert_eq!(names(&out), ["TxnOffsetCommit"]);
        assert!(out.events.is_empty(), "done only after TxnOffsetCommit");
        assert_eq!(h.p.pending_offset_commits(), &offsets(&[(1, 1)]));
        assert_eq!(
            txn_offset_commit(&h),
            TxnOffsetCommitRequest {
                transactional_id: "foobar".into(),
                group_id: GROUP.into(),
                producer_id: 1,
                producer_epoch: 1,
                generation_id: -1,
                member_id: String::new(),
                group_instance_id: None,
                offsets: offsets(&[(1, 1)]),
                version: 4,
            }
        );

        let out = commit_answer(&mut h, &[(1, Ok(()))]);
        assert_eq!(out.events, [sent(&[(1, 1)])]);
        assert!(h.p.pending_offset_commits().is_empty());

        let out = h.p.commit(0).unwrap();
        let out = h.take(out);
        assert_eq!(names(&out), ["EndTxn"]);
        h.respond("EndTxn", None, Response::EndTxn(Ok(None)));
        assert_eq!(h.p.state(), Ready);
    }

    /// KP testSendTxnOffsetsWithGroupIdTransactionV2 (KIP-890 part 2): under TV2 no
    /// AddOffsetsToTxn; TxnOffsetCommit v5 goes out at once (the offsets partition's leader adds
    /// it to the transaction), and the transaction counts as started, so the commit sends EndTxn.
    #[test]
    fn tv2_sends_only_txn_offset_commit_v5() {
        let mut h = txn_in_progress(TransactionVersion::Tv2);
        let out = send_offsets(&mut h, &[(0, 5)]);
        assert_eq!(names(&out), ["TxnOffsetCommit"]);
        assert_eq!(txn_offset_commit(&h).version, 5);
        let out = h.p.commit(0).unwrap();
        assert!(h.take(out).sends.is_empty(), "EndTxn waits for the offsets");
        let out = commit_answer(&mut h, &[(0, Ok(()))]);
        assert_eq!(out.events, [sent(&[(0, 5)])]);
        assert_eq!(names(&out), ["EndTxn"]);
        match &out.sends[0] {
            Request::EndTxn { request, .. } => assert_eq!(request.version, END_TXN_TV2_VERSION),
            other => panic!("{other:?}"),
        }
    }

    /// KP testInvalidGenerationIdAndMemberIdCombinedInSendOffsets (`throwIfInvalidGroupMetadata`),
    /// TM `ensureTransactional`, `maybeFailWithError`, "Cannot send offsets if a transaction is
    /// not in progress": each refused, and nothing changes.
    #[test]
    fn refused_send_offsets_changes_nothing() {
        let refuse = |h: &mut H, group: ConsumerGroupMetadata| {
            let before = h.p.clone();
            let r =
                h.p.send_offsets_to_transaction(offsets(&[(0, 1)]), group, 0);
            assert_eq!(h.p, before);
            r.err()
        };
        let mut h = txn_in_progress(TransactionVersion::Tv1);
        let bad = ConsumerGroupMetadata {
            generation_id: 2,
            member_id: String::new(),
            ..ConsumerGroupMetadata::new(GROUP)
        };
        assert_eq!(
            refuse(&mut h, bad),
            Some(ProducerCallError::InvalidGroupMetadata { generation_id: 2 })
        );

        let mut h = H::idempotent();
        h.ready(1, 0);
        assert_eq!(
            refuse(&mut h, member()),
            Some(ProducerCallError::IllegalState {
                call: Call::SendOffsets,
                state: Ready
            })
        );

        let mut h = H::txn(TransactionVersion::Tv1);
        h.ready(1, 0);
        assert_eq!(
            refuse(&mut h, member()),
            Some(ProducerCallError::IllegalState {
                call: Call::SendOffsets,
                state: Ready
            })
        );

        let mut h = txn_in_progress(TransactionVersion::Tv2);
        h.send(0, 1);
        h.produce_err(0, ErrorCode::OutOfOrderSequenceNumber);
        assert_eq!(
            refuse(&mut h, member()),
            Some(ProducerCallError::Failed(
                ErrorCode::OutOfOrderSequenceNumber
            ))
        );
    }

    /// KP testSendTxnOffsetsWithGroupId / testSendTxnOffsetsWithGroupMetadata: an empty offsets
    /// map sends nothing (`KafkaProducer` skips the call), whatever the state.
    #[test]
    fn empty_offsets_are_a_no_op() {
        let mut h = H::txn(TransactionVersion::Tv1);
        h.ready(1, 0);
        let out =
            h.p.send_offsets_to_transaction(BTreeMap::new(), member(), 0)
                .expect("no-op");
        assert_eq!(out, ProducerOutput::default());
        assert_eq!(h.p.state(), Ready);
    }

    /// TM testSendOffsetsWithGroupMetadata, KP testSendTxnOffsetsWithGroupMetadata (KIP-447):
    /// the TxnOffsetCommit carries the consumer's generation, member id and instance id.
    #[test]
    fn txn_offset_commit_carries_the_group_metadata() {
        let mut h = txn_in_progress(TransactionVersion::Tv1);
        let out =
            h.p.send_offsets_to_transaction(offsets(&[(0, 1), (1, 1)]), member(), 0)
                .unwrap();
        h.take(out);
        add_offsets_answer(&mut h, Ok(()));
        let r = txn_offset_commit(&h);
        assert_eq!(
            (r.generation_id, r.member_id.as_str(), r.group_instance_id),
            (5, "member", Some("instance".to_string()))
        );
    }

    /// TM testRetriableErrorInTxnOffsetCommit (testHandlingOfUnknownTopicPartitionErrorOnTxnOffsetCommit,
    /// testHandlingOfCoordinatorLoadingErrorOnTxnOffsetCommit, testHandlingOfNetworkExceptionOnTxnOffsetCommit):
    /// a retriable partition error (also NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
    /// REQUEST_TIMED_OUT, after the caller's group coordinator lookup) leaves that partition
    /// pending and the call incomplete; the same request, with every partition (the builder's
    /// snapshot), is sent again; the call completes when nothing is pending.
    #[test]
    fn retriable_partition_error_resends_the_txn_offset_commit() {
        for e in [
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::CoordinatorLoadInProgress,
            ErrorCode::NetworkException,
            ErrorCode::NotCoordinator,
            ErrorCode::CoordinatorNotAvailable,
            ErrorCode::RequestTimedOut,
            ErrorCode::ConcurrentTransactions,
        ] {
            let mut h = tv1_committing(&[(0, 1), (1, 1)]);
            let out = commit_answer(&mut h, &[(0, Ok(())), (1, Err(e))]);
            assert!(out.events.is_empty(), "{e}");
            assert_eq!(names(&out), ["TxnOffsetCommit"], "{e}");
            assert_eq!(h.p.pending_offset_commits(), &offsets(&[(1, 1)]), "{e}");
            assert_eq!(txn_offset_commit(&h).offsets, offsets(&[(0, 1), (1, 1)]));
            assert_eq!(h.p.state(), InTransaction);
            let out = commit_answer(&mut h, &[(0, Ok(())), (1, Ok(()))]);
            assert_eq!(out.events, [sent(&[(0, 1), (1, 1)])], "{e}");
        }
    }

    /// TM testUnknownMemberIdInTxnOffsetCommitByGroupMetadata,
    /// testIllegalGenerationInTxnOffsetCommitByGroupMetadata: UNKNOWN_MEMBER_ID and
    /// ILLEGAL_GENERATION fail the call with `CommitFailedException` and make the transaction
    /// abortable; the pending offsets are dropped; the abort ends the (started) transaction.
    #[test]
    fn member_errors_are_commit_failed_and_abortable() {
        for e in [ErrorCode::UnknownMemberId, ErrorCode::IllegalGeneration] {
            let mut h = tv1_committing(&[(0, 1), (1, 1)]);
            let out = commit_answer(&mut h, &[(0, Ok(())), (1, Err(e))]);
            assert_eq!(
                out.events,
                [
                    failed(OffsetsError::CommitFailed(e)),
                    ProducerEvent::Error(e)
                ]
            );
            assert_eq!((h.p.state(), h.p.last_error()), (AbortableError, Some(e)));
            assert_eq!(h.p.error_class(), Some(ErrorClass::Abortable));
            assert!(h.p.pending_offset_commits().is_empty());
            let out = h.p.abort(0).unwrap();
            assert_eq!(names(&h.take(out)), ["EndTxn"]);
        }
    }

    /// TM testFencedInstanceIdInTxnOffsetCommitByGroupMetadata,
    /// testGroupAuthorizationFailureInTxnOffsetCommit, and TRANSACTION_ABORTABLE (KIP-890,
    /// KAFKA-16314): abortable, the call fails with the error itself.
    #[test]
    fn fenced_instance_group_authorization_and_transaction_abortable_are_abortable() {
        for e in [
            ErrorCode::FencedInstanceId,
            ErrorCode::GroupAuthorizationFailed,
            ErrorCode::TransactionAbortable,
        ] {
            let mut h = tv1_committing(&[(0, 1)]);
            let out = commit_answer(&mut h, &[(0, Err(e))]);
            assert_eq!(
                out.events,
                [failed(OffsetsError::Kafka(e)), ProducerEvent::Error(e)]
            );
            assert_eq!((h.p.state(), h.p.last_error()), (AbortableError, Some(e)));
            assert!(h.p.pending_offset_commits().is_empty());
        }
    }

    /// TM testFatalErrorInTxnOffsetCommit (testHandlingOfProducerFencedErrorOnTxnOffsetCommit,
    /// testHandlingOfInvalidProducerEpochErrorOnTxnOffsetCommit -> PRODUCER_FENCED,
    /// testHandlingOfTransactionalIdAuthorizationFailedErrorOnTxnOffsetCommit,
    /// testHandlingOfUnsupportedForMessageFormatErrorOnTxnOffsetCommit), and "Unexpected error in
    /// TxnOffsetCommitResponse" for anything else: fatal.
    #[test]
    fn fencing_authorization_and_unexpected_errors_are_fatal() {
        for (e, last) in [
            (ErrorCode::ProducerFenced, ErrorCode::ProducerFenced),
            (ErrorCode::InvalidProducerEpoch, ErrorCode::ProducerFenced),
            (
                ErrorCode::TransactionalIdAuthorizationFailed,
                ErrorCode::TransactionalIdAuthorizationFailed,
            ),
            (
                ErrorCode::UnsupportedForMessageFormat,
                ErrorCode::UnsupportedForMessageFormat,
            ),
            (
                ErrorCode::TopicAuthorizationFailed,
                ErrorCode::TopicAuthorizationFailed,
            ),
            (ErrorCode::InvalidTxnState, ErrorCode::InvalidTxnState),
            (
                ErrorCode::InvalidProducerIdMapping,
                ErrorCode::InvalidProducerIdMapping,
            ),
        ] {
            let mut h = tv1_committing(&[(0, 1), (1, 1)]);
            let out = commit_answer(&mut h, &[(0, Ok(())), (1, Err(e))]);
            assert_eq!(out.events[0], failed(OffsetsError::Kafka(last)), "{e}");
            assert_eq!(error_of(&out), Some(last), "{e}");
            assert_eq!((h.p.state(), h.p.last_error()), (FatalError, Some(last)));
            assert!(h.p.pending_offset_commits().is_empty());
        }
    }

    /// TM `TxnOffsetCommitHandler`: partitions are looked at in order and the first
    /// non-retriable error decides, even after a retriable one.
    #[test]
    fn first_non_retriable_partition_error_decides() {
        let mut h = tv1_committing(&[(0, 1), (1, 1), (2, 1)]);
        let out = commit_answer(
            &mut h,
            &[
                (0, Err(ErrorCode::CoordinatorLoadInProgress)),
                (1, Err(ErrorCode::IllegalGeneration)),
                (2, Err(ErrorCode::ProducerFenced)),
            ],
        );
        assert!(names(&out).is_empty());
        assert_eq!(
            h.p.last_error(),
            Some(ErrorCode::IllegalGeneration),
            "partition 2 is not looked at"
        );
        assert_eq!(h.p.state(), AbortableError);
    }

    /// TM `AddOffsetsToTxnHandler` [2025-10]: retriable -> resent; INVALID_PRODUCER_EPOCH /
    /// PRODUCER_FENCED -> fatal PRODUCER_FENCED; TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    /// (testTransactionalIdAuthorizationFailureInAddOffsetsToTxn), INVALID_TXN_STATE
    /// (testInvalidTxnStateFailureInAddOffsetsToTxn), INVALID_PRODUCER_ID_MAPPING and anything
    /// unexpected -> fatal; GROUP_AUTHORIZATION_FAILED, TRANSACTION_ABORTABLE -> abortable;
    /// UNKNOWN_PRODUCER_ID -> abortable with the client epoch bump (`abortableErrorIfPossible`),
    /// fatal when the coordinator cannot bump. No TxnOffsetCommit follows a failure.
    #[test]
    fn add_offsets_error_classes() {
        for e in [
            ErrorCode::NotCoordinator,
            ErrorCode::CoordinatorNotAvailable,
            ErrorCode::CoordinatorLoadInProgress,
            ErrorCode::ConcurrentTransactions,
        ] {
            let mut h = txn_in_progress(TransactionVersion::Tv1);
            send_offsets(&mut h, &[(0, 1)]);
            let out = add_offsets_answer(&mut h, Err(e));
            assert_eq!(names(&out), ["AddOffsetsToTxn"], "{e}");
            assert!(out.events.is_empty());
        }
        for (e, state, last, bump) in [
            (
                ErrorCode::InvalidProducerEpoch,
                FatalError,
                ErrorCode::ProducerFenced,
                false,
            ),
            (
                ErrorCode::ProducerFenced,
                FatalError,
                ErrorCode::ProducerFenced,
                false,
            ),
            (
                ErrorCode::TransactionalIdAuthorizationFailed,
                FatalError,
                ErrorCode::TransactionalIdAuthorizationFailed,
                false,
            ),
            (
                ErrorCode::InvalidTxnState,
                FatalError,
                ErrorCode::InvalidTxnState,
                false,
            ),
            (
                ErrorCode::InvalidProducerIdMapping,
                FatalError,
                ErrorCode::InvalidProducerIdMapping,
                false,
            ),
            (
                ErrorCode::UnknownServerError,
                FatalError,
                ErrorCode::UnknownServerError,
                false,
            ),
            (
                ErrorCode::GroupAuthorizationFailed,
                AbortableError,
                ErrorCode::GroupAuthorizationFailed,
                false,
            ),
            (
                ErrorCode::TransactionAbortable,
                AbortableError,
                ErrorCode::TransactionAbortable,
                false,
            ),
            (
                ErrorCode::UnknownProducerId,
                AbortableError,
                ErrorCode::UnknownProducerId,
                true,
            ),
        ] {
            let mut h = txn_in_progress(TransactionVersion::Tv1);
            send_offsets(&mut h, &[(0, 1)]);
            let out = add_offsets_answer(&mut h, Err(e));
            assert!(out.sends.is_empty(), "{e}");
            assert_eq!(out.events[0], failed(OffsetsError::Kafka(last)), "{e}");
            assert_eq!((h.p.state(), h.p.last_error()), (state, Some(last)), "{e}");
            assert_eq!(h.p.epoch_bump_required(), bump, "{e}");
        }
        let mut h = H::new(ProducerConfig {
            transactional_id: Some("foobar".into()),
            transaction_version: TransactionVersion::Tv1,
            coordinator_supports_epoch_bump: false,
            ..ProducerConfig::default()
        });
        h.ready(1, 1);
        h.begin();
        send_offsets(&mut h, &[(0, 1)]);
        add_offsets_answer(&mut h, Err(ErrorCode::UnknownProducerId));
        assert_eq!(h.p.state(), FatalError);
    }

    /// TM `Priority`: AddOffsetsToTxn and TxnOffsetCommit are ADD_PARTITIONS_OR_OFFSETS, ahead of
    /// END_TXN, so a commit issued while the offsets are in progress sends EndTxn after them,
    /// retries included (testBasicTransaction's "done only after both RPCs complete").
    #[test]
    fn commit_sends_end_txn_only_after_the_offsets() {
        let mut h = txn_in_progress(TransactionVersion::Tv1);
        send_offsets(&mut h, &[(0, 1)]);
        let out = h.p.commit(0).unwrap();
        assert!(h.take(out).sends.is_empty());
        let out = add_offsets_answer(&mut h, Ok(()));
        assert_eq!(names(&out), ["TxnOffsetCommit"]);
        let out = commit_answer(&mut h, &[(0, Err(ErrorCode::CoordinatorLoadInProgress))]);
        assert_eq!(names(&out), ["TxnOffsetCommit"]);
        let out = commit_answer(&mut h, &[(0, Ok(()))]);
        assert_eq!(names(&out), ["EndTxn"]);
        assert_eq!(out.events, [sent(&[(0, 1)])]);
        let out = h.respond("EndTxn", None, Response::EndTxn(Ok(None)));
        assert_eq!(out.events, [ProducerEvent::TransactionCommitted]);
    }

    /// TM shouldNotSendAbortTxnRequestWhenOnlyAddOffsetsRequestFailed: an abort issued while
    /// AddOffsetsToTxn is queued still sends it (aborting is not an error state); its abortable
    /// failure is ignored while aborting, nothing was added, so the abort completes without
    /// EndTxn. shouldFailAbortIfAddOffsetsFailsWithFatalError: a fatal failure fails the abort.
    #[test]
    fn abort_while_add_offsets_is_pending() {
        let mut h = txn_in_progress(TransactionVersion::Tv1);
        send_offsets(&mut h, &[(1, 1)]);
        let out = h.p.abort(0).unwrap();
        assert!(h.take(out).sends.is_empty());
        let out = add_offsets_answer(&mut h, Err(ErrorCode::GroupAuthorizationFailed));
        assert!(out.sends.is_empty());
        assert_eq!(
            out.events,
            [
                failed(OffsetsError::Kafka(ErrorCode::GroupAuthorizationFailed)),
                ProducerEvent::TransactionAborted
            ]
        );
        assert_eq!(h.p.state(), Ready);

        let mut h = txn_in_progress(TransactionVersion::Tv1);
        send_offsets(&mut h, &[(1, 1)]);
        let out = h.p.abort(0).unwrap();
        h.take(out);
        let out = add_offsets_answer(&mut h, Err(ErrorCode::UnknownServerError));
        assert!(!out.events.contains(&ProducerEvent::TransactionAborted));
        assert_eq!(h.p.state(), FatalError);
    }

    /// An offsets call whose AddOffsetsToTxn has succeeded under TV1, with its TxnOffsetCommit
    /// queued behind an AddPartitionsToTxn that fails with TOPIC_AUTHORIZATION_FAILED.
    fn tv1_offsets_dropped_by_abortable_error() -> (H, ProducerOutput<u32>) {
        let mut h = txn_in_progress(TransactionVersion::Tv1);
        send_offsets(&mut h, &[(5, 1)]);
        h.send(0, 1); // AddPartitionsToTxn queued behind AddOffsetsToTxn
        let out = add_offsets_answer(&mut h, Ok(()));
        assert_eq!(names(&out), ["AddPartitionsToTxn"]);
        let out = h.respond(
            "AddPartitionsToTxn",
            None,
            Response::AddPartitionsToTxn(Err(ErrorCode::TopicAuthorizationFailed)),
        );
        (h, out)
    }

    /// TM `maybeTerminateRequestWithError`: in an error state a queued request is not sent and
    /// its result fails with the state's error, so a queued offsets call fails.
    #[test]
    fn queued_offsets_call_fails_when_the_transaction_becomes_abortable() {
        let (h, out) = tv1_offsets_dropped_by_abortable_error();
        assert!(out.sends.is_empty());
        assert!(out.events.contains(&failed(OffsetsError::Kafka(
            ErrorCode::TopicAuthorizationFailed
        ))));
        assert_eq!(h.p.state(), AbortableError);
    }

    /// Where the core differs from Kafka (`docs/producer.md` R-S12): Kafka clears
    /// `pendingTxnOffsetCommits` only when a TxnOffsetCommit fails, so the offsets of a call
    /// dropped unsent would ride along the next transaction's TxnOffsetCommit; the core drops
    /// them when the transaction completes.
    #[test]
    fn pending_offsets_do_not_outlive_their_transaction() {
        let (mut h, _) = tv1_offsets_dropped_by_abortable_error();
        assert_eq!(h.p.pending_offset_commits(), &offsets(&[(5, 1)]));
        let out = h.p.abort(0).unwrap();
        assert_eq!(names(&h.take(out)), ["EndTxn"]);
        h.respond("EndTxn", None, Response::EndTxn(Ok(None)));
        assert_eq!(h.p.state(), Ready);
        assert!(h.p.pending_offset_commits().is_empty());
        h.begin();
        send_offsets(&mut h, &[(6, 2)]);
        add_offsets_answer(&mut h, Ok(()));
        assert_eq!(txn_offset_commit(&h).offsets, offsets(&[(6, 2)]));
    }

    /// TM `txnOffsetCommitHandler` / `TxnOffsetCommitHandler`: every call's offsets join the one
    /// `pendingTxnOffsetCommits` map, a TxnOffsetCommit carries the map as it was when queued,
    /// and a call completes only when the map is empty, else its request is re-enqueued behind
    /// those of its priority: a second call while the first is in flight sends both calls'
    /// offsets, and the first is re-sent after it.
    #[test]
    fn a_second_call_joins_the_pending_offsets() {
        let mut h = txn_in_progress(TransactionVersion::Tv2);
        send_offsets(&mut h, &[(0, 1)]);
        let out = send_offsets(&mut h, &[(1, 1)]);
        assert!(out.sends.is_empty(), "one transactional request at a time");
        assert_eq!(h.p.pending_offset_commits(), &offsets(&[(0, 1), (1, 1)]));

        let out = commit_answer(&mut h, &[(0, Ok(()))]);
        assert!(out.events.is_empty(), "tp1 is still pending");
        assert_eq!(txn_offset_commit(&h).offsets, offsets(&[(0, 1), (1, 1)]));
        let out = commit_answer(&mut h, &[(0, Ok(())), (1, Ok(()))]);
        assert_eq!(out.events, [sent(&[(0, 1), (1, 1)])]);
        assert_eq!(txn_offset_commit(&h).offsets, offsets(&[(0, 1)]));
        let out = commit_answer(&mut h, &[(0, Ok(()))]);
        assert_eq!(out.events, [sent(&[(0, 1)])]);
        assert!(h.pending.is_empty());
    }

    /// TM `TxnRequestHandler.onComplete`: a disconnected TxnOffsetCommit is re-enqueued and sent
    /// again (the group coordinator lookup is the caller's).
    #[test]
    fn lost_txn_offset_commit_is_sent_again() {
        let mut h = tv1_committing(&[(0, 1)]);
        let out = h.timeout("TxnOffsetCommit", None);
        assert_eq!(names(&out), ["TxnOffsetCommit"]);
        assert_eq!(txn_offset_commit(&h).offsets, offsets(&[(0, 1)]));
    }

    /// The producer's requests as the core's roles take them: AddOffsetsToTxn (TV1) or the
    /// offsets partition leader's implicit add (TV2, `TxnOffsetCommitRequest::verification_request`)
    /// puts `__consumer_offsets-N` into the transaction, the group coordinator holds the offsets
    /// pending, and the COMMIT marker for that partition commits them.
    #[test]
    fn offsets_only_transaction_commits_through_the_coordinators() {
        use kafka_eos::coordinator::{
            CoordinatorConfig, CoordinatorOutput, TransactionCoordinator,
        };
        use kafka_eos::group::{GroupCoordinator, GroupCoordinatorConfig};
        use kafka_eos::messages::offsets_partition_for;

        for tv in [TransactionVersion::Tv1, TransactionVersion::Tv2] {
            let config = CoordinatorConfig::default();
            let offsets_partition =
                offsets_partition_for(GROUP, config.offsets_topic_partitions).unwrap();
            let mut txn = TransactionCoordinator::new(config, 1000, 0).unwrap();
            let mut group = GroupCoordinator::new(GroupCoordinatorConfig {
                offsets_partition: offsets_partition.clone(),
                ..GroupCoordinatorConfig::default()
            });
            let mut h = H::txn(tv);
            let mut pump = |h: &mut H| {
                while !h.pending.is_empty() {
                    let req = h.pending.remove(0);
                    let (answer, outputs) = match &req {
                        Request::InitProducerId { request, .. } => {
                            let (r, o) = txn.handle_init_producer_id(request, 0);
                            (Response::InitProducerId(r), o)
                        }
                        Request::AddOffsetsToTxn { request, .. } => {
                            let (r, o) = txn.handle_add_offsets_to_txn(request, 0);
                            (Response::AddOffsetsToTxn(r), o)
                        }
                        Request::TxnOffsetCommit { request, .. } => {
                            // The offsets partition's leader verifies (TV1) or adds (TV2) first.
                            let check = request.verification_request(offsets_partition.clone());
                            assert_eq!(check.verify_only, tv != TransactionVersion::Tv2);
                            let (r, o) = txn.handle_add_partitions_to_txn(&check, 0);
                            assert_eq!(r, Ok(()), "{tv:?}");
                            let (r, _) = group.handle_txn_offset_commit(request, 0).unwrap();
                            (Response::TxnOffsetCommit(r), o)
                        }
                        Request::EndTxn { request, .. } => {
                            let (r, o) = txn.handle_end_txn(request, 0);
                            (Response::EndTxn(r), o)
                        }
                        other => panic!("unexpected {other:?}"),
                    };
                    let mut outputs = outputs;
                    while let Some(o) = outputs.pop() {
                        if let CoordinatorOutput::WriteTxnMarker(m) = o {
                            assert_eq!(m.partition, offsets_partition);
                            let (resp, _) = group.handle_write_txn_marker(&m, 0);
                            outputs.extend(txn.handle_write_txn_markers_response(&resp).unwrap());
                        }
                    }
                    let out = h.p.handle_response(req.id(), answer, 0).unwrap();
                    h.take(out);
                }
            };
            h.init();
            pump(&mut h);
            h.begin();
            send_offsets(&mut h, &[(3, 42)]);
            pump(&mut h);
            assert!(h.events.contains(&sent(&[(3, 42)])), "{tv:?}");
            let out = h.p.commit(0).unwrap();
            h.take(out);
            pump(&mut h);
            assert!(h.events.contains(&ProducerEvent::TransactionCommitted));
            assert_eq!(
                group
                    .committed_offset(GROUP, &tp(3))
                    .map(|o| o.committed_offset),
                Some(42),
                "{tv:?}"
            );
        }
    }

    /// A fatal error fails an offsets call whose request is in flight (its answer is no longer
    /// looked at), so every call ends with OffsetsSent or OffsetsFailed.
    #[test]
    fn fatal_error_fails_an_offsets_call_in_flight() {
        let mut h = txn_in_progress(TransactionVersion::Tv2);
        h.send(0, 1);
        send_offsets(&mut h, &[(1, 1)]);
        let out = h.produce_err(0, ErrorCode::ProducerFenced);
        assert!(out
            .events
            .contains(&failed(OffsetsError::Kafka(ErrorCode::ProducerFenced))));
        let out = commit_answer(&mut h, &[(1, Ok(()))]);
        assert!(out.events.is_empty());
    }
}

/// KAFKA-9279 (apache/kafka#11508): with the bug a failed transactional batch (here a produce
/// answered INVALID_TXN_STATE, not retried, while the commit waits for it) reaches its
/// callback only, and the commit goes on: EndTxn(COMMIT) is sent and the application is told
/// committed. Without it Kafka's rule holds (`handleFailedBatch` → `maybeTransitionToErrorState`
/// → `transitionToAbortableError`, as TransactionManagerTest.testTransitionToAbortableErrorOnBatchExpiry
/// shows for an expired batch): the transaction is ABORTABLE_ERROR and no EndTxn(COMMIT) is sent.
#[test]
fn bug_commit_despite_failed_send_commits_a_transaction_with_a_failed_batch() {
    for bug in [false, true] {
        let bugs = ProducerBugs {
            commit_despite_failed_send: bug,
            ..ProducerBugs::default()
        };
        let mut h = with_bugs(TransactionVersion::Tv1, true, bugs);
        h.ready(1, 0);
        h.begin();
        let batch = h.send(0, 1).batch.unwrap();
        h.respond(
            "AddPartitionsToTxn",
            None,
            Response::AddPartitionsToTxn(Ok(())),
        );
        let out = h.p.commit(h.now).unwrap();
        h.take(out);
        let out = h.produce_err(0, ErrorCode::InvalidTxnState);
        assert!(out.events.contains(&ProducerEvent::SendFailed {
            batch,
            partition: tp(0),
            error: BatchError::Kafka(ErrorCode::InvalidTxnState),
        }));
        if bug {
            assert_eq!(names(&out), ["EndTxn"]);
            assert_eq!(h.p.state(), CommittingTransaction);
            let out = h.respond("EndTxn", None, Response::EndTxn(Ok(None)));
            assert!(out.events.contains(&ProducerEvent::TransactionCommitted));
        } else {
            assert!(out.sends.is_empty(), "no EndTxn(COMMIT)");
            assert_eq!(h.p.state(), AbortableError);
        }
    }
}

/// KAFKA-20785 on the client side (`TransactionManager.EndTxnHandler`, apache/kafka trunk): the
/// fix changes only the coordinator's answer, not the client. A commit answered PRODUCER_FENCED
/// ends in FATAL_ERROR with `ProducerFencedException` (KIP-1050 `ApplicationRecoverableException`:
/// Kafka Streams re-creates the producer); answered INVALID_TXN_STATE (before the fix) it ends in
/// FATAL_ERROR with `InvalidTxnStateException`, which kills a Kafka Streams thread. The model's
/// `C1 no fatal error without fencing` tells the two apart by the producer's last error.
#[test]
fn kafka_20785_commit_answered_producer_fenced_or_invalid_txn_state_is_fatal_with_that_error() {
    for (answer, last) in [
        (ErrorCode::ProducerFenced, ErrorCode::ProducerFenced),
        (ErrorCode::InvalidTxnState, ErrorCode::InvalidTxnState),
    ] {
        let mut h = txn_in_progress(TransactionVersion::Tv2);
        h.send(0, 1);
        h.produce_ok(0, 0);
        let out = h.p.commit(0).unwrap();
        h.take(out);
        let out = h.respond("EndTxn", None, Response::EndTxn(Err(answer)));
        assert!(out.sends.is_empty(), "{answer}");
        assert_eq!((h.p.state(), h.p.last_error()), (FatalError, Some(last)));
        assert_eq!(
            h.p.commit(0).map(|_| ()),
            Err(ProducerCallError::Failed(last))
        );
    }
}
