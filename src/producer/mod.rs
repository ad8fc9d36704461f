//! The producer client: Kafka's idempotent and transactional producer as a pure state machine.
//!
//! This encodes the client side of the exactly-once protocol as Kafka's Java client implements
//! it (`clients/.../producer/internals/TransactionManager.java`, `TxnPartitionMap`,
//! `TxnPartitionEntry`, and the relevant parts of `Sender` and `RecordAccumulator`):
//!
//! - the transaction states and their legal transitions ([`TransactionState`],
//!   `TransactionManager.State.isTransitionValid`);
//! - per-partition sequence numbers assigned when a batch is drained, at most `max_in_flight`
//!   batches in flight per partition, retries that keep their sequence and are re-sent only
//!   when they are the lowest sequence in flight;
//! - error classes per RPC (retriable, abortable, fatal: `canRetry`, `handleFailedBatch`, the
//!   `TxnRequestHandler`s, KIP-1050);
//! - the idempotent producer's local epoch bump (KIP-360) and its producer-id reset at epoch
//!   32767; the transactional producer's client epoch bump after an abortable error (TV1,
//!   InitProducerId v3+) and its adoption of the epoch returned by EndTxn (TV2, KIP-890).
//!
//! Sans-IO: every input returns a [`ProducerOutput`] listing the requests to send and the
//! events for the application; nothing is queued inside the state for later delivery. Time is
//! an input (`now`). A call refused by the state machine returns a [`ProducerCallError`] and
//! changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::types::{
    increment_sequence, ProducerEpoch, ProducerId, Sequence, TimestampMs, TopicPartition,
    TransactionResult, TransactionVersion, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
    NUM_BATCHES_TO_RETAIN,
};

/// The id of a request the producer emitted; a response or timeout names it.
pub type RequestId = u64;

/// The id of a record batch handed to [`Producer::send`]; its fate is reported once, by a
/// [`ProducerEvent::SendAcknowledged`] or a [`ProducerEvent::SendFailed`].
pub type BatchId = u64;

/// Known client bugs, each a switch that re-introduces one mutant of
/// `properties-and-bugs.md` §2.2 so a model checker can show the property it breaks.
/// `Default` is all off: Kafka's real behaviour.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ProducerBugs {
    /// M-I3 (KIP-360 motivation, KAFKA-18579): after an ambiguous outcome (a retriable error or a
    /// lost response) the batch is re-sent with a *new* sequence (idempotent: a local epoch bump
    /// and sequences from 0; transactional: the next free sequence) instead of the same one.
    pub reset_sequence_on_ambiguous: bool,
    /// M-T6 (KIP-890 motivation): under TV0/TV1 the producer writes to a partition without
    /// sending AddPartitionsToTxn first.
    pub skip_add_partitions: bool,
    /// M-T3 (KAFKA-17754, Jepsen): when an EndTxn(COMMIT) request is lost, the client treats
    /// the transaction as aborted and returns to READY at the same epoch, instead of re-sending
    /// the commit; the delayed commit can then end a later transaction.
    pub abort_after_commit_timeout: bool,
    /// M-T4 (KAFKA-14053): a batch that expires (delivery timeout) makes the transaction
    /// abortable but does not require the client epoch bump, so the abort leaves the stuck
    /// batch unfenced (TV0/TV1; under TV2 the coordinator bumps anyway).
    pub abort_without_bump_after_timeout: bool,
    /// M-E1 (KAFKA-13574): NOT_LEADER_OR_FOLLOWER on a produce is treated as a definite failure
    /// (the batch is reported failed and not retried) although the write may be in the log.
    pub not_leader_is_definite_failure: bool,
}

/// The producer's configuration (`ProducerConfig` with `enable.idempotence=true`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProducerConfig {
    /// `transactional.id`; `None` for an idempotent (non-transactional) producer.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`, sent in InitProducerId (default 60000).
    pub transaction_timeout_ms: i32,
    /// The finalized `transaction.version` the client uses (default TV2).
    pub transaction_version: TransactionVersion,
    /// Whether the coordinator supports InitProducerId v3+ (KIP-360 client epoch bump,
    /// `TransactionManager.coordinatorSupportsBumpingEpoch`); default true.
    pub coordinator_supports_epoch_bump: bool,
    /// `max.in.flight.requests.per.connection`, 1..=5 with idempotence (`ProducerConfig`
    /// throws ConfigException otherwise); here per partition.
    pub max_in_flight: u8,
    /// `delivery.timeout.ms`: a batch whose request is lost after this long since it was sent
    /// by the application expires instead of being retried (default 120000).
    pub delivery_timeout_ms: i64,
    /// Known-bug switches (all off by default).
    pub bugs: ProducerBugs,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            transaction_version: TransactionVersion::Tv2,
            coordinator_supports_epoch_bump: true,
            max_in_flight: 5,
            delivery_timeout_ms: 120_000,
            bugs: ProducerBugs::default(),
        }
    }
}

impl ProducerConfig {
    /// Kafka's `ProducerConfig` checks for idempotence: `max.in.flight.requests.per.connection`
    /// must be in 1..=5 (the broker keeps 5 batches per producer for duplicate detection).
    pub fn validate(&self) -> Result<(), ProducerConfigError> {
        if self.max_in_flight == 0 || usize::from(self.max_in_flight) > NUM_BATCHES_TO_RETAIN {
            return Err(ProducerConfigError::MaxInFlight(self.max_in_flight));
        }
        if let Some(id) = &self.transactional_id {
            if id.is_empty() {
                return Err(ProducerConfigError::EmptyTransactionalId);
            }
        }
        Ok(())
    }
}

/// An invalid producer configuration (Kafka's `ConfigException`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProducerConfigError {
    /// `max.in.flight.requests.per.connection` outside 1..=5 with idempotence enabled.
    #[error(
        "max.in.flight.requests.per.connection must be between 1 and 5 with idempotence, got {0}"
    )]
    MaxInFlight(u8),
    /// An empty `transactional.id` (the coordinator answers INVALID_REQUEST to it).
    #[error("transactional.id must not be empty")]
    EmptyTransactionalId,
}

/// The states of Kafka's `TransactionManager.State` (2PC's PREPARED_TRANSACTION is not
/// modelled). An idempotent producer uses UNINITIALIZED, INITIALIZING, READY and FATAL_ERROR.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum TransactionState {
    /// No producer id yet.
    #[default]
    Uninitialized,
    /// InitProducerId in progress (first init, or the client epoch bump).
    Initializing,
    /// A producer id is held; no transaction is open.
    Ready,
    /// `beginTransaction()` was called.
    InTransaction,
    /// `commitTransaction()` was called; EndTxn(COMMIT) is pending.
    CommittingTransaction,
    /// `abortTransaction()` was called; EndTxn(ABORT) is pending.
    AbortingTransaction,
    /// The transaction must be aborted (`TransactionAbortableException` class).
    AbortableError,
    /// The producer is unusable (fenced, unauthorized, or poisoned by an invalid transition).
    FatalError,
}

impl TransactionState {
    /// Every state, in declaration order.
    pub const ALL: [TransactionState; 8] = [
        TransactionState::Uninitialized,
        TransactionState::Initializing,
        TransactionState::Ready,
        TransactionState::InTransaction,
        TransactionState::CommittingTransaction,
        TransactionState::AbortingTransaction,
        TransactionState::AbortableError,
        TransactionState::FatalError,
    ];

    /// Kafka's state name (`State.name()`), e.g. `"IN_TRANSACTION"`.
    pub const fn name(self) -> &'static str {
        match self {
            TransactionState::Uninitialized => "UNINITIALIZED",
            TransactionState::Initializing => "INITIALIZING",
            TransactionState::Ready => "READY",
            TransactionState::InTransaction => "IN_TRANSACTION",
            TransactionState::CommittingTransaction => "COMMITTING_TRANSACTION",
            TransactionState::AbortingTransaction => "ABORTING_TRANSACTION",
            TransactionState::AbortableError => "ABORTABLE_ERROR",
            TransactionState::FatalError => "FATAL_ERROR",
        }
    }

    /// `State.isTransitionValid(source, target)` of Kafka [2025-10] (kafka-semantics.md §3.1).
    pub const fn is_transition_valid(self, target: TransactionState) -> bool {
        use TransactionState::*;
        match target {
            Uninitialized => matches!(self, Ready | AbortableError),
            Initializing => matches!(
                self,
                Uninitialized | CommittingTransaction | AbortingTransaction
            ),
            Ready => matches!(
                self,
                Initializing | CommittingTransaction | AbortingTransaction
            ),
            InTransaction => matches!(self, Ready),
            CommittingTransaction => matches!(self, InTransaction),
            AbortingTransaction => matches!(self, InTransaction | AbortableError),
            AbortableError => matches!(
                self,
                InTransaction | CommittingTransaction | AbortableError | Initializing
            ),
            FatalError => true,
        }
    }
}

impl core::fmt::Display for TransactionState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The class of the producer's current error state (KIP-1050 as the state machine sees it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ErrorClass {
    /// ABORTABLE_ERROR: abort the transaction and continue.
    Abortable,
    /// FATAL_ERROR: the producer must be closed.
    Fatal,
}

/// An application call, named as in the vectors (`initTransactions`, `beginTransaction`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Call {
    /// `initTransactions()` (or the idempotent producer's first InitProducerId).
    Init,
    /// `beginTransaction()`.
    Begin,
    /// `send()`.
    Send,
    /// `commitTransaction()`.
    Commit,
    /// `abortTransaction()`.
    Abort,
}

/// An application call the producer refuses (Kafka throws from the calling thread; no state
/// changes).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProducerCallError {
    /// `IllegalStateException`: the call is not valid in this state (or the producer was
    /// poisoned by an invalid background transition, KAFKA-14831).
    #[error("illegal state: {call:?} is not allowed in state {state}")]
    IllegalState {
        /// The refused call.
        call: Call,
        /// The state the producer was in.
        state: TransactionState,
    },
    /// The producer is in an error state and re-throws its last error
    /// (`TransactionManager.maybeFailWithError`), e.g. PRODUCER_FENCED.
    #[error("the producer failed earlier with {0}")]
    Failed(ErrorCode),
    /// A send with a record count that is not positive.
    #[error("a batch needs at least one record, got {0}")]
    InvalidRecordCount(i32),
}

/// A network input the producer cannot take (it never comes from a well-formed exchange).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProducerInputError {
    /// No request with this id is outstanding (already answered, timed out, or never sent).
    #[error("request {0} is not outstanding")]
    UnknownRequest(RequestId),
    /// The response is not of the kind of the request it answers.
    #[error("request {0} got a response of another kind")]
    WrongResponseKind(RequestId),
}

/// A request the producer asks its caller to send (Kafka API names).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Request<P> {
    /// InitProducerId; `producer_id`/`producer_epoch` are KIP-360's current id and epoch for
    /// an epoch bump, -1 otherwise.
    InitProducerId {
        /// The request id.
        id: RequestId,
        /// The transactional id (`None` for an idempotent producer).
        transactional_id: Option<String>,
        /// `transaction.timeout.ms`.
        transaction_timeout_ms: i32,
        /// The current producer id (-1 for a first init).
        producer_id: ProducerId,
        /// The current producer epoch (-1 for a first init).
        producer_epoch: ProducerEpoch,
    },
    /// AddPartitionsToTxn (TV0/TV1 only).
    AddPartitionsToTxn {
        /// The request id.
        id: RequestId,
        /// The transactional id.
        transactional_id: String,
        /// The producer id.
        producer_id: ProducerId,
        /// The producer epoch.
        producer_epoch: ProducerEpoch,
        /// The partitions to add, sorted.
        partitions: Vec<TopicPartition>,
    },
    /// Produce of one record batch to one partition.
    Produce {
        /// The request id.
        id: RequestId,
        /// The partition.
        partition: TopicPartition,
        /// The batch's producer id.
        producer_id: ProducerId,
        /// The batch's producer epoch.
        producer_epoch: ProducerEpoch,
        /// The batch's base sequence.
        base_sequence: Sequence,
        /// The number of records.
        record_count: i32,
        /// Whether the batch is transactional.
        transactional: bool,
        /// The application payload.
        payload: P,
    },
    /// EndTxn.
    EndTxn {
        /// The request id.
        id: RequestId,
        /// The transactional id.
        transactional_id: String,
        /// The producer id.
        producer_id: ProducerId,
        /// The producer epoch.
        producer_epoch: ProducerEpoch,
        /// Commit or abort.
        result: TransactionResult,
        /// Sent as EndTxn v5+ (TV2): the response carries the bumped producer id and epoch.
        transaction_v2: bool,
    },
}

impl<P> Request<P> {
    /// The request's id.
    pub fn id(&self) -> RequestId {
        match self {
            Request::InitProducerId { id, .. }
            | Request::AddPartitionsToTxn { id, .. }
            | Request::Produce { id, .. }
            | Request::EndTxn { id, .. } => *id,
        }
    }

    /// Kafka's API name, e.g. `"Produce"`.
    pub fn api_name(&self) -> &'static str {
        match self {
            Request::InitProducerId { .. } => "InitProducerId",
            Request::AddPartitionsToTxn { .. } => "AddPartitionsToTxn",
            Request::Produce { .. } => "Produce",
            Request::EndTxn { .. } => "EndTxn",
        }
    }
}

/// A response to one of the producer's requests.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Response {
    /// InitProducerId: the producer id and epoch, or an error.
    InitProducerId(Result<(ProducerId, ProducerEpoch), ErrorCode>),
    /// AddPartitionsToTxn: success or the (first) partition error.
    AddPartitionsToTxn(Result<(), ErrorCode>),
    /// Produce: the base offset (-1 when unknown), or an error.
    Produce(Result<i64, ErrorCode>),
    /// EndTxn: under v5+ (TV2) the new producer id and epoch, or an error.
    EndTxn(Result<Option<(ProducerId, ProducerEpoch)>, ErrorCode>),
}

/// Why a batch failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BatchError {
    /// A Kafka error (from the broker, or the client's own, e.g. REQUEST_TIMED_OUT for an
    /// expired batch, as `Errors.forException(TimeoutException)`).
    Kafka(ErrorCode),
    /// `TransactionAbortedException`: the batch was not sent because the transaction aborted.
    TransactionAborted,
}

/// What the application learns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ProducerEvent {
    /// InitProducerId succeeded (first init, client epoch bump, or producer-id reset).
    Initialized {
        /// The producer id.
        producer_id: ProducerId,
        /// The producer epoch.
        producer_epoch: ProducerEpoch,
    },
    /// The idempotent producer bumped its epoch locally (KIP-360).
    EpochBumped {
        /// The producer id.
        producer_id: ProducerId,
        /// The new epoch.
        producer_epoch: ProducerEpoch,
    },
    /// A batch was written (`RecordMetadata`); `base_offset` is `None` for a legacy
    /// DUPLICATE_SEQUENCE_NUMBER or a response without an offset.
    SendAcknowledged {
        /// The batch.
        batch: BatchId,
        /// Its partition.
        partition: TopicPartition,
        /// The offset of its first record.
        base_offset: Option<i64>,
    },
    /// A batch failed for good (its future completes exceptionally).
    SendFailed {
        /// The batch.
        batch: BatchId,
        /// Its partition.
        partition: TopicPartition,
        /// Why.
        error: BatchError,
    },
    /// `commitTransaction()` completed: EndTxn(COMMIT) succeeded, or the client epoch bump that
    /// follows it did (`beginCompletingTransaction` returns the bump's result).
    TransactionCommitted,
    /// `abortTransaction()` completed: EndTxn(ABORT) succeeded (or the empty transaction
    /// ended), or, when the client epoch bump follows it, that InitProducerId succeeded.
    TransactionAborted,
    /// An error surfaced to the application by a transactional request or by entering an
    /// error state (the error later calls re-throw).
    Error(ErrorCode),
}

/// The result of one input: requests to send (in order) and events for the application.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProducerOutput<P> {
    /// The requests to send now.
    pub sends: Vec<Request<P>>,
    /// The events for the application.
    pub events: Vec<ProducerEvent>,
    /// The id given to the batch of a [`Producer::send`] call.
    pub batch: Option<BatchId>,
    /// The state transitions this input made, in order (`TransactionManager.transitionTo`).
    pub transitions: Vec<(TransactionState, TransactionState)>,
}

impl<P> ProducerOutput<P> {
    fn new() -> Self {
        ProducerOutput {
            sends: Vec::new(),
            events: Vec::new(),
            batch: None,
            transitions: Vec::new(),
        }
    }
}

/// A record batch (`ProducerBatch`): sequence fields are set when it is drained.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Batch<P> {
    /// Its id.
    pub id: BatchId,
    /// Number of records.
    pub record_count: i32,
    /// The payload.
    pub payload: P,
    /// When the application sent it (for `delivery.timeout.ms`).
    pub created_ms: TimestampMs,
    /// The producer id it was sequenced under (-1 before).
    pub producer_id: ProducerId,
    /// The epoch it was sequenced under (-1 before).
    pub producer_epoch: ProducerEpoch,
    /// Its base sequence (-1 before).
    pub base_sequence: Sequence,
    /// The outstanding Produce request carrying it; `None` while it waits for a retry.
    pub request: Option<RequestId>,
    /// Its sequence was rewritten after it was first drained (`ProducerBatch.sequenceHasBeenReset`,
    /// set by `resetProducerState` in `startSequencesAtBeginning` and
    /// `adjustSequencesDueToFailedBatch`): an OUT_OF_ORDER_SEQUENCE_NUMBER or
    /// UNKNOWN_PRODUCER_ID for it is retried (`TransactionManager.canRetry`).
    pub sequence_reset: bool,
}

impl<P> Batch<P> {
    fn last_sequence(&self) -> Sequence {
        increment_sequence(self.base_sequence, self.record_count.saturating_sub(1))
    }
}

/// Per-partition state (`TxnPartitionEntry` plus the partition's accumulator queue).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartitionEntry<P> {
    /// The producer id the sequences below belong to.
    pub producer_id: ProducerId,
    /// The epoch the sequences below belong to.
    pub producer_epoch: ProducerEpoch,
    /// The next sequence to assign.
    pub next_sequence: Sequence,
    /// The last acknowledged sequence (-1: none).
    pub last_acked_sequence: Sequence,
    /// Batches not yet drained (no sequence).
    pub queued: Vec<Batch<P>>,
    /// Batches with a sequence, in sequence order: in flight, or waiting for a retry.
    pub in_flight: Vec<Batch<P>>,
    /// A batch expired after being sent: its sequence may or may not be written. The value is
    /// the sequence right after the expired batch(es) (`partitionsWithUnresolvedSequences`,
    /// `markSequenceUnresolved`: the largest `last sequence + 1`).
    pub unresolved: Option<Sequence>,
}

/// A transactional request waiting to be sent, or in flight (priority order of
/// `TransactionManager.Priority`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TxnRequest {
    /// InitProducerId; `bump` = the KIP-360 epoch-bump one (priority EPOCH_BUMP).
    InitProducerId {
        /// Whether it is the epoch bump (carries the current id and epoch).
        bump: bool,
    },
    /// AddPartitionsToTxn of these partitions.
    AddPartitions(Vec<TopicPartition>),
    /// EndTxn.
    EndTxn(TransactionResult),
}

impl TxnRequest {
    fn priority(&self) -> u8 {
        match self {
            TxnRequest::InitProducerId { bump: false } => 1,
            TxnRequest::AddPartitions(_) => 2,
            TxnRequest::EndTxn(_) => 3,
            TxnRequest::InitProducerId { bump: true } => 4,
        }
    }
}

/// What an outstanding request is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Outstanding {
    /// A Produce of this batch.
    Produce(TopicPartition, BatchId),
    /// A transactional (coordinator) request.
    Txn(TxnRequest),
}

/// The producer client state machine (`TransactionManager` + the sequencing parts of the
/// `RecordAccumulator`/`Sender`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Producer<P> {
    config: ProducerConfig,
    state: TransactionState,
    producer_id: ProducerId,
    producer_epoch: ProducerEpoch,
    partitions: BTreeMap<TopicPartition, PartitionEntry<P>>,
    /// TV1: partitions added to the transaction (`partitionsInTransaction`).
    partitions_in_txn: BTreeSet<TopicPartition>,
    /// TV1: partitions to add, not yet requested (`newPartitionsInTransaction`).
    new_partitions: BTreeSet<TopicPartition>,
    /// TV1: partitions whose AddPartitionsToTxn is queued or in flight.
    pending_partitions: BTreeSet<TopicPartition>,
    /// `transactionStarted`: something was added, so EndTxn must be sent.
    transaction_started: bool,
    /// `clientSideEpochBumpRequired`.
    epoch_bump_required: bool,
    /// The commit/abort whose completion waits for the client epoch bump that follows its
    /// EndTxn (`beginCompletingTransaction` returns the bump's `InitProducerId` result).
    completing_result: Option<TransactionResult>,
    /// Idempotent: partitions whose in-flight sequences are rewritten at the new epoch
    /// (`partitionsToRewriteSequences`).
    rewrite_partitions: BTreeSet<TopicPartition>,
    last_error: Option<ErrorCode>,
    /// Poisoned by an invalid background transition (KAFKA-14831).
    poisoned: bool,
    txn_queue: Vec<TxnRequest>,
    txn_in_flight: Option<RequestId>,
    outstanding: BTreeMap<RequestId, Outstanding>,
    next_request_id: RequestId,
    next_batch_id: BatchId,
}

fn fatal_class(e: ErrorCode) -> bool {
    // TransactionManager.maybeTransitionToErrorState.
    matches!(
        e,
        ErrorCode::ClusterAuthorizationFailed
            | ErrorCode::TransactionalIdAuthorizationFailed
            | ErrorCode::ProducerFenced
            | ErrorCode::UnsupportedVersion
            | ErrorCode::InvalidProducerIdMapping
    )
}

impl<P: Clone> Producer<P> {
    /// A new producer in UNINITIALIZED (`new TransactionManager(...)`), or the config error.
    pub fn new(config: ProducerConfig) -> Result<Self, ProducerConfigError> {
        config.validate()?;
        Ok(Producer {
            config,
            state: TransactionState::Uninitialized,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            partitions: BTreeMap::new(),
            partitions_in_txn: BTreeSet::new(),
            new_partitions: BTreeSet::new(),
            pending_partitions: BTreeSet::new(),
            transaction_started: false,
            epoch_bump_required: false,
            completing_result: None,
            rewrite_partitions: BTreeSet::new(),
            last_error: None,
            poisoned: false,
            txn_queue: Vec::new(),
            txn_in_flight: None,
            outstanding: BTreeMap::new(),
            next_request_id: 0,
            next_batch_id: 0,
        })
    }

    // ---------------------------------------------------------------- observers

    /// The configuration.
    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }
    /// The current state.
    pub fn state(&self) -> TransactionState {
        self.state
    }
    /// The producer id (-1: none).
    pub fn producer_id(&self) -> ProducerId {
        self.producer_id
    }
    /// The producer epoch (-1: none).
    pub fn producer_epoch(&self) -> ProducerEpoch {
        self.producer_epoch
    }
    /// The error later calls re-throw (`lastError`).
    pub fn last_error(&self) -> Option<ErrorCode> {
        self.last_error
    }
    /// The class of the current error state, if any.
    pub fn error_class(&self) -> Option<ErrorClass> {
        match self.state {
            TransactionState::AbortableError => Some(ErrorClass::Abortable),
            TransactionState::FatalError => Some(ErrorClass::Fatal),
            _ => None,
        }
    }
    /// Whether this is a transactional producer.
    pub fn is_transactional(&self) -> bool {
        self.config.transactional_id.is_some()
    }
    /// Whether the client epoch bump will follow the next EndTxn (`clientSideEpochBumpRequired`).
    pub fn epoch_bump_required(&self) -> bool {
        self.epoch_bump_required
    }
    /// The sequence the next new batch to `partition` gets (`TxnPartitionEntry.nextSequence`);
    /// 0 when the partition's sequences belong to an older producer id or epoch (they restart
    /// at 0 when it is next drained).
    pub fn next_sequence(&self, partition: &TopicPartition) -> Sequence {
        match self.partitions.get(partition) {
            Some(e) if self.entry_is_current(e) => e.next_sequence,
            _ => 0,
        }
    }
    /// The partition's state, if the producer has used it.
    pub fn partition(&self, partition: &TopicPartition) -> Option<&PartitionEntry<P>> {
        self.partitions.get(partition)
    }
    /// The partitions the producer has used.
    pub fn partitions(&self) -> impl Iterator<Item = (&TopicPartition, &PartitionEntry<P>)> {
        self.partitions.iter()
    }
    /// Number of Produce requests outstanding for `partition`.
    pub fn in_flight_requests(&self, partition: &TopicPartition) -> usize {
        self.partitions.get(partition).map_or(0, |e| {
            e.in_flight.iter().filter(|b| b.request.is_some()).count()
        })
    }
    /// The outstanding requests, by id.
    pub fn outstanding(&self) -> &BTreeMap<RequestId, Outstanding> {
        &self.outstanding
    }
    /// TV1: the partitions added to the current transaction.
    pub fn partitions_in_transaction(&self) -> &BTreeSet<TopicPartition> {
        &self.partitions_in_txn
    }

    fn entry_is_current(&self, e: &PartitionEntry<P>) -> bool {
        e.producer_id == self.producer_id && e.producer_epoch == self.producer_epoch
    }

    fn tv2(&self) -> bool {
        self.config.transaction_version.supports_epoch_bump()
    }

    /// `needToTriggerEpochBumpFromClient`.
    fn need_client_bump(&self) -> bool {
        self.config.coordinator_supports_epoch_bump && !self.tv2()
    }

    /// `canHandleAbortableError`.
    fn can_handle_abortable(&self) -> bool {
        self.config.coordinator_supports_epoch_bump || self.tv2()
    }

    // ---------------------------------------------------------------- transitions

    fn fail_with_error(&self) -> Result<(), ProducerCallError> {
        // maybeFailWithError
        if self.poisoned {
            return Err(ProducerCallError::IllegalState {
                call: Call::Init,
                state: self.state,
            });
        }
        if matches!(
            self.state,
            TransactionState::AbortableError | TransactionState::FatalError
        ) {
            if let Some(e) = self.last_error {
                return Err(ProducerCallError::Failed(e));
            }
        }
        Ok(())
    }

    fn check_call(&self, call: Call) -> Result<(), ProducerCallError> {
        self.fail_with_error().map_err(|e| match e {
            ProducerCallError::IllegalState { state, .. } => {
                ProducerCallError::IllegalState { call, state }
            }
            other => other,
        })
    }

    fn set_state(&mut self, target: TransactionState, out: &mut ProducerOutput<P>) {
        out.transitions.push((self.state, target));
        self.state = target;
    }

    /// A transition requested by an application call: an invalid one is refused and changes
    /// nothing (testForegroundInvalidStateTransitionIsRecoverable).
    fn foreground(
        &mut self,
        call: Call,
        target: TransactionState,
        out: &mut ProducerOutput<P>,
    ) -> Result<(), ProducerCallError> {
        if !self.state.is_transition_valid(target) {
            return Err(ProducerCallError::IllegalState {
                call,
                state: self.state,
            });
        }
        self.set_state(target, out);
        Ok(())
    }

    /// A transition detected on the Sender thread: an invalid one poisons the producer.
    fn background(&mut self, target: TransactionState, out: &mut ProducerOutput<P>) {
        if self.state.is_transition_valid(target) {
            self.set_state(target, out);
        } else {
            self.poisoned = true;
            self.enter_fatal(ErrorCode::UnknownServerError, out);
        }
    }

    fn enter_fatal(&mut self, error: ErrorCode, out: &mut ProducerOutput<P>) {
        self.set_state(TransactionState::FatalError, out);
        self.last_error = Some(error);
        self.txn_queue.clear();
        // A commit/abort waiting for its epoch bump fails with the error.
        self.completing_result = None;
        out.events.push(ProducerEvent::Error(error));
        self.fail_undrained(BatchError::Kafka(error), out);
    }

    /// `transitionToAbortableError`: a no-op while aborting.
    fn enter_abortable(&mut self, error: ErrorCode, out: &mut ProducerOutput<P>) {
        if self.state == TransactionState::AbortingTransaction
            || self.state == TransactionState::FatalError
        {
            return;
        }
        self.background(TransactionState::AbortableError, out);
        if self.state == TransactionState::AbortableError {
            // maybeTerminateRequestWithError: queued transactional requests fail with the error.
            self.txn_queue.clear();
            self.last_error = Some(error);
            self.completing_result = None;
            out.events.push(ProducerEvent::Error(error));
        }
    }

    /// `abortableErrorIfPossible`.
    fn enter_abortable_if_possible(&mut self, error: ErrorCode, out: &mut ProducerOutput<P>) {
        if self.can_handle_abortable() {
            if self.need_client_bump() {
                self.epoch_bump_required = true;
            }
            self.enter_abortable(error, out);
        } else {
            self.enter_fatal(error, out);
        }
    }

    /// `accumulator.abortUndrainedBatches`: queued batches and batches waiting for a retry fail.
    fn fail_undrained(&mut self, error: BatchError, out: &mut ProducerOutput<P>) {
        for (tp, entry) in self.partitions.iter_mut() {
            for b in entry.queued.drain(..) {
                out.events.push(ProducerEvent::SendFailed {
                    batch: b.id,
                    partition: tp.clone(),
                    error,
                });
            }
            let mut kept = Vec::new();
            for b in entry.in_flight.drain(..) {
                if b.request.is_some() {
                    kept.push(b);
                } else {
                    out.events.push(ProducerEvent::SendFailed {
                        batch: b.id,
                        partition: tp.clone(),
                        error,
                    });
                }
            }
            entry.in_flight = kept;
        }
    }

    fn next_id(&mut self) -> RequestId {
        let id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1);
        id
    }

    fn enqueue_txn(&mut self, request: TxnRequest) {
        let pos = self
            .txn_queue
            .iter()
            .position(|r| r.priority() > request.priority())
            .unwrap_or(self.txn_queue.len());
        self.txn_queue.insert(pos, request);
    }

    // ---------------------------------------------------------------- application calls

    /// `initTransactions()` (or the idempotent producer's first InitProducerId):
    /// UNINITIALIZED → INITIALIZING, emits InitProducerId(-1, -1).
    pub fn init(&mut self, now: TimestampMs) -> Result<ProducerOutput<P>, ProducerCallError> {
        self.check_call(Call::Init)?;
        if self.state != TransactionState::Uninitialized {
            // COMMITTING/ABORTING -> INITIALIZING is the internal epoch bump only; from the
            // application, a call still in progress (`throwIfPendingState`).
            return Err(ProducerCallError::IllegalState {
                call: Call::Init,
                state: self.state,
            });
        }
        let mut out = ProducerOutput::new();
        self.foreground(Call::Init, TransactionState::Initializing, &mut out)?;
        self.producer_id = NO_PRODUCER_ID;
        self.producer_epoch = NO_PRODUCER_EPOCH;
        self.enqueue_txn(TxnRequest::InitProducerId { bump: false });
        self.poll(now, &mut out);
        Ok(out)
    }

    /// `beginTransaction()`: READY → IN_TRANSACTION, a local step.
    pub fn begin(&mut self, _now: TimestampMs) -> Result<ProducerOutput<P>, ProducerCallError> {
        self.check_call(Call::Begin)?;
        if !self.is_transactional() {
            return Err(ProducerCallError::IllegalState {
                call: Call::Begin,
                state: self.state,
            });
        }
        let mut out = ProducerOutput::new();
        self.foreground(Call::Begin, TransactionState::InTransaction, &mut out)?;
        Ok(out)
    }

    /// `send()`: appends a batch to the partition's queue (`maybeAddPartition` for a
    /// transactional producer: IN_TRANSACTION required; TV1 adds the partition with
    /// AddPartitionsToTxn before its data). The batch is drained (sequenced and sent) as soon
    /// as the partition's gating allows.
    pub fn send(
        &mut self,
        partition: TopicPartition,
        record_count: i32,
        payload: P,
        now: TimestampMs,
    ) -> Result<ProducerOutput<P>, ProducerCallError> {
        self.check_call(Call::Send)?;
        if record_count <= 0 {
            return Err(ProducerCallError::InvalidRecordCount(record_count));
        }
        let allowed = if self.is_transactional() {
            // maybeAddPartition: a producer id and IN_TRANSACTION are required.
            self.state == TransactionState::InTransaction && self.producer_id != NO_PRODUCER_ID
        } else {
            matches!(
                self.state,
                TransactionState::Initializing | TransactionState::Ready
            )
        };
        if !allowed {
            return Err(ProducerCallError::IllegalState {
                call: Call::Send,
                state: self.state,
            });
        }
        if self.is_transactional() {
            if self.tv2() || self.config.bugs.skip_add_partitions {
                self.partitions_in_txn.insert(partition.clone());
                self.transaction_started = true;
            } else if !self.partitions_in_txn.contains(&partition)
                && !self.pending_partitions.contains(&partition)
            {
                self.new_partitions.insert(partition.clone());
            }
        }
        let id = self.next_batch_id;
        self.next_batch_id = self.next_batch_id.wrapping_add(1);
        let entry = self
            .partitions
            .entry(partition)
            .or_insert_with(|| PartitionEntry {
                producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
                next_sequence: 0,
                last_acked_sequence: NO_SEQUENCE,
                queued: Vec::new(),
                in_flight: Vec::new(),
                unresolved: None,
            });
        entry.queued.push(Batch {
            id,
            record_count,
            payload,
            created_ms: now,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            request: None,
            sequence_reset: false,
        });
        let mut out = ProducerOutput::new();
        out.batch = Some(id);
        self.poll(now, &mut out);
        Ok(out)
    }

    /// `commitTransaction()`: IN_TRANSACTION → COMMITTING_TRANSACTION; EndTxn(COMMIT) is sent
    /// once every batch has completed, or the empty transaction completes locally.
    pub fn commit(&mut self, now: TimestampMs) -> Result<ProducerOutput<P>, ProducerCallError> {
        self.check_call(Call::Commit)?;
        let mut out = ProducerOutput::new();
        self.foreground(
            Call::Commit,
            TransactionState::CommittingTransaction,
            &mut out,
        )?;
        self.begin_completing(TransactionResult::Commit, now, &mut out);
        Ok(out)
    }

    /// `abortTransaction()`: IN_TRANSACTION or ABORTABLE_ERROR → ABORTING_TRANSACTION;
    /// undrained batches fail, EndTxn(ABORT) follows the in-flight ones, then the client epoch
    /// bump if required. Also re-tries an abort whose EndTxn failed while aborting.
    pub fn abort(&mut self, now: TimestampMs) -> Result<ProducerOutput<P>, ProducerCallError> {
        if self.state != TransactionState::AbortableError {
            self.check_call(Call::Abort)?;
        }
        if self.poisoned {
            return Err(ProducerCallError::IllegalState {
                call: Call::Abort,
                state: self.state,
            });
        }
        let mut out = ProducerOutput::new();
        if self.state == TransactionState::AbortingTransaction {
            let pending = self.txn_in_flight.is_some() || !self.txn_queue.is_empty();
            if pending || !self.is_transactional() {
                return Err(ProducerCallError::IllegalState {
                    call: Call::Abort,
                    state: self.state,
                });
            }
        } else {
            if !self.is_transactional() {
                return Err(ProducerCallError::IllegalState {
                    call: Call::Abort,
                    state: self.state,
                });
            }
            self.foreground(Call::Abort, TransactionState::AbortingTransaction, &mut out)?;
        }
        let error = self
            .last_error
            .map_or(BatchError::TransactionAborted, BatchError::Kafka);
        self.fail_undrained(error, &mut out);
        self.begin_completing(TransactionResult::Abort, now, &mut out);
        Ok(out)
    }

    fn begin_completing(
        &mut self,
        result: TransactionResult,
        now: TimestampMs,
        out: &mut ProducerOutput<P>,
    ) {
        self.enqueue_txn(TxnRequest::EndTxn(result));
        self.poll(now, out);
    }

    /// `completeTransaction`: after EndTxn (or the local completion of an empty transaction).
    fn complete_transaction(
        &mut self,
        ended: TransactionResult,
        adopted: Option<(ProducerId, ProducerEpoch)>,
        out: &mut ProducerOutput<P>,
    ) {
        if let Some((pid, epoch)) = adopted {
            if pid >= 0 && epoch >= 0 {
                self.producer_id = pid;
                self.producer_epoch = epoch;
            }
        }
        let bump = self.epoch_bump_required;
        if bump {
            self.background(TransactionState::Initializing, out);
            self.enqueue_txn(TxnRequest::InitProducerId { bump: true });
        } else {
            self.background(TransactionState::Ready, out);
            self.last_error = None;
        }
        self.partitions_in_txn.clear();
        self.new_partitions.clear();
        self.pending_partitions.clear();
        self.transaction_started = false;
        if bump && self.state == TransactionState::Initializing {
            // The application's commit/abort completes with the epoch bump.
            self.completing_result = Some(ended);
        } else {
            out.events.push(Self::completed_event(ended));
        }
    }

    fn completed_event(ended: TransactionResult) -> ProducerEvent {
        match ended {
            TransactionResult::Commit => ProducerEvent::TransactionCommitted,
            TransactionResult::Abort => ProducerEvent::TransactionAborted,
        }
    }

    // ---------------------------------------------------------------- network inputs

    /// A response to an outstanding request.
    pub fn handle_response(
        &mut self,
        request_id: RequestId,
        response: Response,
        now: TimestampMs,
    ) -> Result<ProducerOutput<P>, ProducerInputError> {
        let what = self
            .outstanding
            .get(&request_id)
            .cloned()
            .ok_or(ProducerInputError::UnknownRequest(request_id))?;
        let kind_ok = matches!(
            (&what, &response),
            (Outstanding::Produce(..), Response::Produce(_))
                | (
                    Outstanding::Txn(TxnRequest::InitProducerId { .. }),
                    Response::InitProducerId(_)
                )
                | (
                    Outstanding::Txn(TxnRequest::AddPartitions(_)),
                    Response::AddPartitionsToTxn(_)
                )
                | (Outstanding::Txn(TxnRequest::EndTxn(_)), Response::EndTxn(_))
        );
        if !kind_ok {
            return Err(ProducerInputError::WrongResponseKind(request_id));
        }
        self.outstanding.remove(&request_id);
        let mut out = ProducerOutput::new();
        match (what, response) {
            (Outstanding::Produce(tp, batch), Response::Produce(r)) => {
                self.on_produce(&tp, batch, r, now, &mut out)
            }
            (Outstanding::Txn(req), resp) => {
                self.txn_in_flight = None;
                self.on_txn_response(req, resp, &mut out);
            }
            _ => {}
        }
        self.poll(now, &mut out);
        Ok(out)
    }

    /// A request whose response will never come (timeout or disconnect: the outcome is
    /// ambiguous). Kafka re-sends a transactional request and retries a batch with the same
    /// sequence, unless the batch's `delivery.timeout.ms` has passed: then it expires and its
    /// sequence becomes unresolved.
    pub fn handle_request_timeout(
        &mut self,
        request_id: RequestId,
        now: TimestampMs,
    ) -> Result<ProducerOutput<P>, ProducerInputError> {
        let what = self
            .outstanding
            .remove(&request_id)
            .ok_or(ProducerInputError::UnknownRequest(request_id))?;
        let mut out = ProducerOutput::new();
        match what {
            Outstanding::Produce(tp, batch) => self.on_produce_timeout(&tp, batch, now, &mut out),
            Outstanding::Txn(req) => {
                self.txn_in_flight = None;
                if self.config.bugs.abort_after_commit_timeout
                    && req == TxnRequest::EndTxn(TransactionResult::Commit)
                    && self.state == TransactionState::CommittingTransaction
                {
                    // M-T3: the client gives up on the commit and treats the transaction as
                    // aborted, at the same epoch.
                    self.epoch_bump_required = false;
                    self.complete_transaction(TransactionResult::Abort, None, &mut out);
                } else if self.state != TransactionState::FatalError {
                    self.txn_queue.insert(0, req);
                }
            }
        }
        self.poll(now, &mut out);
        Ok(out)
    }

    fn on_txn_response(&mut self, req: TxnRequest, resp: Response, out: &mut ProducerOutput<P>) {
        if self.state == TransactionState::FatalError {
            return;
        }
        match (req, resp) {
            (TxnRequest::InitProducerId { bump }, Response::InitProducerId(r)) => match r {
                Ok((pid, epoch)) => {
                    self.producer_id = pid;
                    self.producer_epoch = epoch;
                    self.background(TransactionState::Ready, out);
                    if self.state == TransactionState::Ready {
                        self.epoch_bump_required = false;
                        self.last_error = None;
                        out.events.push(ProducerEvent::Initialized {
                            producer_id: pid,
                            producer_epoch: epoch,
                        });
                        if let Some(ended) = self.completing_result.take() {
                            out.events.push(Self::completed_event(ended));
                        }
                    }
                }
                Err(e) if e.is_retriable() => self
                    .txn_queue
                    .insert(0, TxnRequest::InitProducerId { bump }),
                Err(ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced) => {
                    self.enter_fatal(ErrorCode::ProducerFenced, out)
                }
                Err(
                    e @ (ErrorCode::TransactionalIdAuthorizationFailed
                    | ErrorCode::ClusterAuthorizationFailed
                    | ErrorCode::TransactionAbortable),
                ) if self.is_transactional() => self.enter_abortable(e, out),
                Err(e) => self.enter_fatal(e, out),
            },
            (TxnRequest::AddPartitions(parts), Response::AddPartitionsToTxn(r)) => match r {
                Ok(()) => {
                    for p in parts {
                        self.pending_partitions.remove(&p);
                        self.partitions_in_txn.insert(p);
                    }
                    self.transaction_started = true;
                }
                Err(e) if e.is_retriable() => {
                    self.txn_queue.insert(0, TxnRequest::AddPartitions(parts))
                }
                Err(e) => {
                    for p in &parts {
                        self.pending_partitions.remove(p);
                    }
                    // The held batches of these partitions fail with the error (a stale
                    // epoch is reported as the PRODUCER_FENCED it becomes).
                    let batch_error = match e {
                        ErrorCode::InvalidProducerEpoch => ErrorCode::ProducerFenced,
                        other => other,
                    };
                    for p in &parts {
                        if let Some(entry) = self.partitions.get_mut(p) {
                            for b in entry.queued.drain(..) {
                                out.events.push(ProducerEvent::SendFailed {
                                    batch: b.id,
                                    partition: p.clone(),
                                    error: BatchError::Kafka(batch_error),
                                });
                            }
                        }
                    }
                    match e {
                        ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => {
                            self.enter_fatal(ErrorCode::ProducerFenced, out)
                        }
                        ErrorCode::TransactionalIdAuthorizationFailed
                        | ErrorCode::InvalidTxnState
                        | ErrorCode::InvalidProducerIdMapping
                        | ErrorCode::ClusterAuthorizationFailed
                        | ErrorCode::UnsupportedVersion => self.enter_fatal(e, out),
                        ErrorCode::UnknownProducerId => self.enter_abortable_if_possible(e, out),
                        _ => self.enter_abortable(e, out),
                    }
                }
            },
            (TxnRequest::EndTxn(result), Response::EndTxn(r)) => match r {
                Ok(adopted) => self.complete_transaction(result, adopted, out),
                Err(e) if e.is_retriable() => self.txn_queue.insert(0, TxnRequest::EndTxn(result)),
                Err(ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced) => {
                    self.enter_fatal(ErrorCode::ProducerFenced, out)
                }
                Err(ErrorCode::UnknownProducerId) => {
                    self.enter_abortable_if_possible(ErrorCode::UnknownProducerId, out);
                    if self.state == TransactionState::AbortingTransaction {
                        out.events
                            .push(ProducerEvent::Error(ErrorCode::UnknownProducerId));
                    }
                }
                Err(ErrorCode::TransactionAbortable) if result == TransactionResult::Commit => {
                    self.enter_abortable(ErrorCode::TransactionAbortable, out)
                }
                Err(e) => self.enter_fatal(e, out),
            },
            _ => {}
        }
    }

    fn on_produce(
        &mut self,
        tp: &TopicPartition,
        batch_id: BatchId,
        result: Result<i64, ErrorCode>,
        now: TimestampMs,
        out: &mut ProducerOutput<P>,
    ) {
        let Some(entry) = self.partitions.get_mut(tp) else {
            return;
        };
        let Some(pos) = entry.in_flight.iter().position(|b| b.id == batch_id) else {
            return;
        };
        let error = match result {
            Ok(offset) => {
                self.ack(tp, pos, (offset >= 0).then_some(offset), out);
                return;
            }
            Err(ErrorCode::DuplicateSequenceNumber) => {
                self.ack(tp, pos, None, out);
                return;
            }
            Err(e) => e,
        };
        let transactional = self.config.transactional_id.is_some();
        let Some(b) = entry.in_flight.get_mut(pos) else {
            return;
        };
        b.request = None;
        let stale = b.producer_id != self.producer_id || b.producer_epoch != self.producer_epoch;
        if fatal_class(error) {
            self.fail_batch(tp, pos, error, false, out);
            self.enter_fatal(error, out);
            return;
        }
        if self.config.bugs.not_leader_is_definite_failure
            && error == ErrorCode::NotLeaderOrFollower
        {
            self.fail_failed_batch(tp, pos, error, stale, out);
            return;
        }
        // Sender.canRetry: nothing is retried once the batch's delivery timeout has passed.
        let expired = now.saturating_sub(b.created_ms) >= self.config.delivery_timeout_ms;
        let sequence_reset = b.sequence_reset;
        let base_sequence = b.base_sequence;
        let is_next = base_sequence == increment_sequence(entry.last_acked_sequence, 1);
        let unresolved = entry.unresolved;
        if error.is_retriable() {
            if expired {
                self.fail_failed_batch(tp, pos, error, stale, out);
            } else {
                self.retry(tp, pos, out);
            }
            return;
        }
        match error {
            // TransactionManager.canRetry, OUT_OF_ORDER_SEQUENCE_NUMBER: with no unresolved
            // sequence, a batch whose sequence was reset or that is not the next one (an
            // earlier batch is still in flight) is retried, transactional or not.
            // (An idempotent batch of an older epoch is handled below, as before the bump.)
            ErrorCode::OutOfOrderSequenceNumber
                if !expired
                    && unresolved.is_none()
                    && (sequence_reset || !is_next)
                    && (transactional || !stale) => {}
            // Idempotent: always retried; the epoch is bumped when there is a real gap (no
            // unresolved sequence, or the batch right after the unresolved one). A batch of an
            // older epoch records its partition for the sequence rewrite.
            ErrorCode::OutOfOrderSequenceNumber if !expired && !transactional => {
                if stale || unresolved.is_none() || unresolved == Some(base_sequence) {
                    self.request_idempotent_bump(tp, out);
                }
            }
            // canRetry, UNKNOWN_PRODUCER_ID: a batch whose sequence was reset is retried; the
            // idempotent producer bumps its epoch and retries (R-S7: log start not passed).
            ErrorCode::UnknownProducerId if !expired && sequence_reset => {}
            ErrorCode::UnknownProducerId if !expired && !transactional => {
                self.request_idempotent_bump(tp, out)
            }
            ErrorCode::UnknownProducerId if !transactional => {
                // handleFailedBatch (past the delivery timeout): the batch fails and the
                // partition's sequence is reset (`resetSequenceForPartition`), no bump.
                self.fail_batch(tp, pos, error, false, out);
                if !stale {
                    self.reset_partition_sequence(tp);
                }
            }
            ErrorCode::UnknownProducerId => {
                // Transactional: the batch fails (abortable) and the partition's sequence is
                // reset: it restarts at 0 when next drained.
                self.fail_failed_batch(tp, pos, error, stale, out);
                self.reset_partition_sequence(tp);
            }
            _ => self.fail_failed_batch(tp, pos, error, stale, out),
        }
    }

    /// `resetSequenceForPartition`: the partition's sequences restart at 0 when it is next
    /// drained, and it is no longer unresolved.
    fn reset_partition_sequence(&mut self, tp: &TopicPartition) {
        if let Some(entry) = self.partitions.get_mut(tp) {
            entry.producer_epoch = NO_PRODUCER_EPOCH;
            entry.producer_id = NO_PRODUCER_ID;
            entry.unresolved = None;
        }
    }

    /// `handleFailedBatch` for a non-fatal, non-retried failure.
    fn fail_failed_batch(
        &mut self,
        tp: &TopicPartition,
        pos: usize,
        error: ErrorCode,
        stale: bool,
        out: &mut ProducerOutput<P>,
    ) {
        let transactional = self.is_transactional();
        self.fail_batch(tp, pos, error, !stale && transactional, out);
        if stale {
            return;
        }
        if transactional {
            let completing = matches!(
                self.state,
                TransactionState::CommittingTransaction | TransactionState::AbortingTransaction
            );
            if self.need_client_bump() && !completing {
                self.epoch_bump_required = true;
            }
            let last = if error.is_retriable() || error == ErrorCode::InvalidTxnState {
                ErrorCode::TransactionAbortable
            } else {
                error
            };
            self.enter_abortable(last, out);
        } else {
            self.request_idempotent_bump(tp, out);
        }
    }

    /// Removes a batch from the in-flight list and reports it failed; `adjust` moves the later
    /// batches' sequences down (`adjustSequencesDueToFailedBatch`).
    fn fail_batch(
        &mut self,
        tp: &TopicPartition,
        pos: usize,
        error: ErrorCode,
        adjust: bool,
        out: &mut ProducerOutput<P>,
    ) {
        let Some(entry) = self.partitions.get_mut(tp) else {
            return;
        };
        if pos >= entry.in_flight.len() {
            return;
        }
        let b = entry.in_flight.remove(pos);
        if adjust && b.producer_id == entry.producer_id && b.producer_epoch == entry.producer_epoch
        {
            for later in entry.in_flight.iter_mut().skip(pos) {
                if later.producer_epoch == b.producer_epoch && later.producer_id == b.producer_id {
                    later.base_sequence =
                        crate::types::decrement_sequence(later.base_sequence, b.record_count);
                    later.sequence_reset = true;
                }
            }
            entry.next_sequence =
                crate::types::decrement_sequence(entry.next_sequence, b.record_count);
        }
        out.events.push(ProducerEvent::SendFailed {
            batch: b.id,
            partition: tp.clone(),
            error: BatchError::Kafka(error),
        });
    }

    fn ack(
        &mut self,
        tp: &TopicPartition,
        pos: usize,
        base_offset: Option<i64>,
        out: &mut ProducerOutput<P>,
    ) {
        let Some(entry) = self.partitions.get_mut(tp) else {
            return;
        };
        if pos >= entry.in_flight.len() {
            return;
        }
        let b = entry.in_flight.remove(pos);
        if b.producer_id == entry.producer_id && b.producer_epoch == entry.producer_epoch {
            let last = b.last_sequence();
            if entry.last_acked_sequence == NO_SEQUENCE || last > entry.last_acked_sequence {
                entry.last_acked_sequence = last;
            }
        }
        out.events.push(ProducerEvent::SendAcknowledged {
            batch: b.id,
            partition: tp.clone(),
            base_offset,
        });
    }

    /// A retried batch keeps its sequence (unless the M-I3 bug is on).
    fn retry(&mut self, tp: &TopicPartition, pos: usize, out: &mut ProducerOutput<P>) {
        if !self.config.bugs.reset_sequence_on_ambiguous {
            return; // stays in flight with `request = None`: re-sent when it is the lowest.
        }
        if self.is_transactional() {
            if let Some(entry) = self.partitions.get_mut(tp) {
                if pos < entry.in_flight.len() {
                    let mut b = entry.in_flight.remove(pos);
                    b.base_sequence = NO_SEQUENCE;
                    b.producer_id = NO_PRODUCER_ID;
                    b.producer_epoch = NO_PRODUCER_EPOCH;
                    entry.queued.insert(0, b);
                }
            }
        } else {
            self.request_idempotent_bump(tp, out);
        }
    }

    fn on_produce_timeout(
        &mut self,
        tp: &TopicPartition,
        batch_id: BatchId,
        now: TimestampMs,
        out: &mut ProducerOutput<P>,
    ) {
        let delivery_timeout = self.config.delivery_timeout_ms;
        let Some(entry) = self.partitions.get_mut(tp) else {
            return;
        };
        let Some(pos) = entry.in_flight.iter().position(|b| b.id == batch_id) else {
            return;
        };
        let Some(b) = entry.in_flight.get_mut(pos) else {
            return;
        };
        b.request = None;
        let stale = b.producer_id != self.producer_id || b.producer_epoch != self.producer_epoch;
        if now.saturating_sub(b.created_ms) < delivery_timeout {
            self.retry(tp, pos, out);
            return;
        }
        // The batch expires after being sent: its sequence is unresolved
        // (`markSequenceUnresolved`: the largest next sequence after an expired batch).
        let after = increment_sequence(b.last_sequence(), 1);
        entry.unresolved = Some(entry.unresolved.map_or(after, |u| u.max(after)));
        self.fail_batch(tp, pos, ErrorCode::RequestTimedOut, false, out);
        if self.is_transactional() && !stale {
            let completing = matches!(
                self.state,
                TransactionState::CommittingTransaction | TransactionState::AbortingTransaction
            );
            if self.need_client_bump()
                && !completing
                && !self.config.bugs.abort_without_bump_after_timeout
            {
                self.epoch_bump_required = true;
            }
            self.enter_abortable(ErrorCode::TransactionAbortable, out);
        }
    }

    /// `requestIdempotentEpochBumpForPartition` + `bumpIdempotentProducerEpoch`: epoch + 1, or
    /// at epoch 32767 a new producer id (UNINITIALIZED, then InitProducerId).
    fn request_idempotent_bump(&mut self, tp: &TopicPartition, out: &mut ProducerOutput<P>) {
        if self.is_transactional() || self.state == TransactionState::FatalError {
            return;
        }
        self.rewrite_partitions.insert(tp.clone());
        if self.producer_id == NO_PRODUCER_ID {
            return; // a reset is already under way
        }
        // Only one bump per epoch for partitions failing together: if the failing batch is at
        // an older epoch the bump already happened.
        let batch_at_current = self.partitions.get(tp).is_some_and(|e| {
            e.producer_epoch == self.producer_epoch && e.producer_id == self.producer_id
        });
        if !batch_at_current {
            return;
        }
        if self.producer_epoch == ProducerEpoch::MAX {
            self.set_state(TransactionState::Uninitialized, out);
            self.producer_id = NO_PRODUCER_ID;
            self.producer_epoch = NO_PRODUCER_EPOCH;
            self.set_state(TransactionState::Initializing, out);
            self.enqueue_txn(TxnRequest::InitProducerId { bump: false });
        } else {
            self.producer_epoch = self.producer_epoch.saturating_add(1);
        }
    }

    // ---------------------------------------------------------------- the Sender loop

    /// One pass of the Sender: rewrite sequences after a bump, resolve expired sequences,
    /// request partition adds, drain batches, and send the next transactional request.
    fn poll(&mut self, now: TimestampMs, out: &mut ProducerOutput<P>) {
        self.resolve_sequences(out);
        self.rewrite_sequences(out);
        let aborting = self.is_transactional()
            && matches!(
                self.state,
                TransactionState::AbortableError | TransactionState::AbortingTransaction
            );
        if aborting || self.state == TransactionState::FatalError {
            let error = self
                .last_error
                .map_or(BatchError::TransactionAborted, BatchError::Kafka);
            self.fail_undrained(error, out);
        }
        if self.is_transactional()
            && !self.new_partitions.is_empty()
            && matches!(
                self.state,
                TransactionState::InTransaction
                    | TransactionState::CommittingTransaction
                    | TransactionState::AbortingTransaction
            )
        {
            let parts: Vec<TopicPartition> = self.new_partitions.iter().cloned().collect();
            self.pending_partitions.extend(parts.iter().cloned());
            self.new_partitions.clear();
            self.enqueue_txn(TxnRequest::AddPartitions(parts));
        }
        // Sender.runOnce: the transactional request goes first, then the produce data.
        self.send_txn_request(out);
        self.drain(now, out);
    }

    fn rewrite_sequences(&mut self, out: &mut ProducerOutput<P>) {
        if self.producer_id == NO_PRODUCER_ID || self.state != TransactionState::Ready {
            return;
        }
        let parts: Vec<TopicPartition> = self.rewrite_partitions.iter().cloned().collect();
        let mut bumped = false;
        for tp in parts {
            let (pid, epoch) = (self.producer_id, self.producer_epoch);
            let Some(entry) = self.partitions.get_mut(&tp) else {
                self.rewrite_partitions.remove(&tp);
                continue;
            };
            if entry.in_flight.iter().any(|b| b.request.is_some()) {
                continue;
            }
            // startSequencesAtBeginning
            let mut seq: Sequence = 0;
            for b in entry.in_flight.iter_mut() {
                b.producer_id = pid;
                b.producer_epoch = epoch;
                b.base_sequence = seq;
                b.sequence_reset = true;
                seq = increment_sequence(seq, b.record_count);
            }
            entry.producer_id = pid;
            entry.producer_epoch = epoch;
            entry.next_sequence = seq;
            entry.last_acked_sequence = NO_SEQUENCE;
            entry.unresolved = None;
            self.rewrite_partitions.remove(&tp);
            bumped = true;
        }
        if bumped {
            out.events.push(ProducerEvent::EpochBumped {
                producer_id: self.producer_id,
                producer_epoch: self.producer_epoch,
            });
        }
    }

    /// `maybeResolveSequences`: once an unresolved partition has nothing in flight, it is
    /// resolved if a later batch succeeded (`last_acked + 1 == next_sequence`). Otherwise the
    /// idempotent producer bumps its epoch, and the transactional one goes through
    /// `transitionToAbortableErrorOrFatalError`: ABORTABLE_ERROR (client bump required under
    /// TV0/TV1 with InitProducerId v3+) when abortable errors can be handled, else FATAL_ERROR.
    fn resolve_sequences(&mut self, out: &mut ProducerOutput<P>) {
        let transactional = self.is_transactional();
        let mut unresolved = Vec::new();
        for (tp, entry) in self.partitions.iter_mut() {
            if entry.unresolved.is_none() || !entry.in_flight.is_empty() {
                continue;
            }
            entry.unresolved = None;
            let resolved = increment_sequence(entry.last_acked_sequence, 1) == entry.next_sequence;
            if !resolved {
                unresolved.push(tp.clone());
            }
        }
        for tp in unresolved {
            if !transactional {
                self.request_idempotent_bump(&tp, out);
            } else if self.state == TransactionState::FatalError {
                // Already fatal: nothing more to do.
            } else if self.can_handle_abortable() {
                if self.need_client_bump() && !self.config.bugs.abort_without_bump_after_timeout {
                    self.epoch_bump_required = true;
                }
                // The expiry already made the transaction abortable (or it is aborting, where
                // `transitionToAbortableError` is a no-op); enter it only if it is not.
                if self.state != TransactionState::AbortableError {
                    self.enter_abortable(ErrorCode::TransactionAbortable, out);
                }
            } else {
                // "It isn't safe to continue": Kafka's plain KafkaException, recorded as
                // UNKNOWN_SERVER_ERROR (`Errors.forException` of an unknown exception).
                self.enter_fatal(ErrorCode::UnknownServerError, out);
            }
        }
    }

    fn can_drain_partition(&self, tp: &TopicPartition) -> bool {
        if self.producer_id == NO_PRODUCER_ID {
            return false;
        }
        if self.rewrite_partitions.contains(tp) {
            return false;
        }
        if self.is_transactional() {
            matches!(
                self.state,
                TransactionState::InTransaction | TransactionState::CommittingTransaction
            ) && self.partitions_in_txn.contains(tp)
        } else {
            self.state == TransactionState::Ready
        }
    }

    fn drain(&mut self, _now: TimestampMs, out: &mut ProducerOutput<P>) {
        let parts: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        for tp in parts {
            // Retries may be re-sent in any state where the batch's transaction is alive.
            let retry_ok = self.producer_id != NO_PRODUCER_ID
                && !self.rewrite_partitions.contains(&tp)
                && !matches!(self.state, TransactionState::FatalError);
            let can_new = self.can_drain_partition(&tp);
            let max = usize::from(self.config.max_in_flight);
            let (pid, epoch) = (self.producer_id, self.producer_epoch);
            let transactional = self.is_transactional();
            let Some(entry) = self.partitions.get_mut(&tp) else {
                continue;
            };
            // A retry is sent only when it is the lowest sequence in flight.
            if let Some(first) = entry.in_flight.first() {
                if first.request.is_none() {
                    if retry_ok {
                        let id = self.next_request_id;
                        self.next_request_id = self.next_request_id.wrapping_add(1);
                        if let Some(first) = entry.in_flight.first_mut() {
                            first.request = Some(id);
                            out.sends.push(Request::Produce {
                                id,
                                partition: tp.clone(),
                                producer_id: first.producer_id,
                                producer_epoch: first.producer_epoch,
                                base_sequence: first.base_sequence,
                                record_count: first.record_count,
                                transactional,
                                payload: first.payload.clone(),
                            });
                            self.outstanding
                                .insert(id, Outstanding::Produce(tp.clone(), first.id));
                        }
                    }
                    continue;
                }
            }
            if entry.in_flight.iter().any(|b| b.request.is_none()) {
                continue; // new batches wait behind retries
            }
            if !can_new {
                continue;
            }
            loop {
                if entry.queued.is_empty() || entry.unresolved.is_some() {
                    break;
                }
                if entry.producer_id != pid || entry.producer_epoch != epoch {
                    if !entry.in_flight.is_empty() {
                        break;
                    }
                    entry.producer_id = pid;
                    entry.producer_epoch = epoch;
                    entry.next_sequence = 0;
                    entry.last_acked_sequence = NO_SEQUENCE;
                }
                if entry.in_flight.len() >= max {
                    break;
                }
                let mut b = entry.queued.remove(0);
                b.producer_id = pid;
                b.producer_epoch = epoch;
                b.sequence_reset = false;
                b.base_sequence = entry.next_sequence;
                entry.next_sequence = increment_sequence(entry.next_sequence, b.record_count);
                let id = self.next_request_id;
                self.next_request_id = self.next_request_id.wrapping_add(1);
                b.request = Some(id);
                out.sends.push(Request::Produce {
                    id,
                    partition: tp.clone(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    base_sequence: b.base_sequence,
                    record_count: b.record_count,
                    transactional,
                    payload: b.payload.clone(),
                });
                self.outstanding
                    .insert(id, Outstanding::Produce(tp.clone(), b.id));
                entry.in_flight.push(b);
            }
        }
    }

    fn has_incomplete_batches(&self) -> bool {
        self.partitions
            .values()
            .any(|e| !e.queued.is_empty() || !e.in_flight.is_empty())
    }

    fn send_txn_request(&mut self, out: &mut ProducerOutput<P>) {
        loop {
            if self.txn_in_flight.is_some() || self.state == TransactionState::FatalError {
                return;
            }
            if self.state == TransactionState::AbortableError {
                // maybeTerminateRequestWithError: nothing is sent in an error state.
                self.txn_queue.clear();
                return;
            }
            let Some(next) = self.txn_queue.first().cloned() else {
                return;
            };
            if let TxnRequest::EndTxn(result) = next {
                if !self.transaction_started {
                    // Nothing was added: the transaction completes locally, no EndTxn.
                    self.txn_queue.remove(0);
                    self.complete_transaction(result, None, out);
                    continue;
                }
                if self.has_incomplete_batches() {
                    return;
                }
            }
            self.txn_queue.remove(0);
            let id = self.next_id();
            let txn_id = self.config.transactional_id.clone();
            let request = match &next {
                TxnRequest::InitProducerId { bump } => Request::InitProducerId {
                    id,
                    transactional_id: txn_id,
                    transaction_timeout_ms: self.config.transaction_timeout_ms,
                    producer_id: if *bump {
                        self.producer_id
                    } else {
                        NO_PRODUCER_ID
                    },
                    producer_epoch: if *bump {
                        self.producer_epoch
                    } else {
                        NO_PRODUCER_EPOCH
                    },
                },
                TxnRequest::AddPartitions(parts) => Request::AddPartitionsToTxn {
                    id,
                    transactional_id: txn_id.unwrap_or_default(),
                    producer_id: self.producer_id,
                    producer_epoch: self.producer_epoch,
                    partitions: parts.clone(),
                },
                TxnRequest::EndTxn(result) => Request::EndTxn {
                    id,
                    transactional_id: txn_id.unwrap_or_default(),
                    producer_id: self.producer_id,
                    producer_epoch: self.producer_epoch,
                    result: *result,
                    transaction_v2: self.tv2(),
                },
            };
            self.outstanding.insert(id, Outstanding::Txn(next));
            self.txn_in_flight = Some(id);
            out.sends.push(request);
            return;
        }
    }
}
