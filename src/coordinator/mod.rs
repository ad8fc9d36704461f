//! The transaction coordinator of one `__transaction_state` partition (`TransactionCoordinator`).
//!
//! [`TransactionCoordinator`] is a *running* coordinator, as a broker is: from the moment a
//! PrepareCommit/PrepareAbort is durable until the last marker is acknowledged, the entry carries
//! a pending completion, and InitProducerId, AddPartitionsToTxn and EndTxn answer
//! `CONCURRENT_TRANSACTIONS` in Kafka's check orders.
//!
//! Sans-IO: every handler takes the request and `now`, changes the plain-data state, and returns
//! the response together with [`CoordinatorOutput`]s: records to append to the transaction log
//! (durable state) and WriteTxnMarkers entries to send. Nothing is queued inside the state.
//!
//! # Durability is a step: stage, persist, complete
//!
//! Kafka's `TransactionStateManager.appendTransactionToLog` is asynchronous: a handler prepares a
//! transition (`prepareTransitionTo` sets the metadata's `pendingState`), appends the record, and
//! only the append's callback applies it (`completeTransitionTo`) and answers the client. This
//! core exposes the same handshake, raft-`Ready` style:
//!
//! 1. A `*_staged` handler ([`handle_init_producer_id_staged`], [`handle_add_partitions_to_txn_staged`],
//!    [`handle_add_offsets_to_txn_staged`], [`handle_end_txn_staged`],
//!    [`handle_write_txn_markers_response_staged`], [`abort_timed_out_transactions_staged`],
//!    [`expire_transactional_ids_staged`], [`handle_timeout_staged`], [`load_transaction_staged`])
//!    either answers at once ([`CoordinatorStep::Answer`]: no write) or returns a
//!    [`PendingAppend`]: the record to persist and an opaque token. The metadata is left as it was,
//!    with its [`pending_transition`](TransactionMetadata::pending_transition) set, so that other
//!    requests for the id answer `CONCURRENT_TRANSACTIONS` in the handlers' check orders.
//! 2. The embedder persists [`PendingAppend::record`] (a tombstone when `None`).
//! 3. [`complete_append`] with the append's result: on success it applies the transition and
//!    releases the answer and what depends on it (the markers of a durable Prepare*, or the
//!    completion append that follows); on failure it takes Kafka's failure path and answers the
//!    mapped error ([`coordinator_error_for_append`]).
//!
//! The synchronous handlers ([`handle_init_producer_id`], [`handle_end_txn`], ...) are the staged
//! ones followed by `complete_append(Ok(()))`: each append is emitted as a
//! [`CoordinatorOutput::AppendTransactionLog`] and taken as durable.
//!
//! [`handle_init_producer_id_staged`]: TransactionCoordinator::handle_init_producer_id_staged
//! [`handle_add_partitions_to_txn_staged`]: TransactionCoordinator::handle_add_partitions_to_txn_staged
//! [`handle_add_offsets_to_txn_staged`]: TransactionCoordinator::handle_add_offsets_to_txn_staged
//! [`handle_end_txn_staged`]: TransactionCoordinator::handle_end_txn_staged
//! [`handle_write_txn_markers_response_staged`]: TransactionCoordinator::handle_write_txn_markers_response_staged
//! [`abort_timed_out_transactions_staged`]: TransactionCoordinator::abort_timed_out_transactions_staged
//! [`expire_transactional_ids_staged`]: TransactionCoordinator::expire_transactional_ids_staged
//! [`handle_timeout_staged`]: TransactionCoordinator::handle_timeout_staged
//! [`load_transaction_staged`]: TransactionCoordinator::load_transaction_staged
//! [`complete_append`]: TransactionCoordinator::complete_append
//! [`handle_init_producer_id`]: TransactionCoordinator::handle_init_producer_id
//! [`handle_end_txn`]: TransactionCoordinator::handle_end_txn
//!
//! Kafka's failure paths, each reachable through `complete_append(Err(..))`:
//! - the answer is the append error mapped as `appendTransactionToLog` maps it; the pending
//!   transition is cleared and the metadata is as before, except that a TV0/1 fence keeps the
//!   epoch it bumped in memory and sets `has_failed_epoch_fence` (a TV2 fence changes nothing),
//!   and a metadata created by InitProducerId for an unknown id stays in the cache; producer ids
//!   already generated stay consumed;
//! - a completion (Complete*) that fails with `COORDINATOR_NOT_AVAILABLE` is retried (the same
//!   append is returned again, `TransactionMarkerChannelManager.tryAppendToLog`); any other error
//!   gives it up: the transaction stays in Prepare* with no pending transition until a new
//!   coordinator loads and completes it;
//! - a failed tombstone keeps the entry (`removeExpiredTransactionalIds`);
//! - an append that succeeds after the coordinator epoch changed (or the entry was replaced) is
//!   not applied and answers `NOT_COORDINATOR`.

mod describe;
mod metadata;
mod observe;
mod producer_id;
mod state;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use describe::{
    ListTransactionsFilter, TransactionDescription, TransactionListing, TransactionListings,
};
pub use metadata::{PendingCompletion, TransactionLogValue, TransactionMetadata};
pub use observe::ProducerChange;
pub use producer_id::ProducerIdManager;
pub use state::{TransactionState, UnknownTransactionState};

pub use crate::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest,
    ProducerIdAndEpoch, WriteTxnMarker, WriteTxnMarkersResponse,
};

use crate::error::ErrorCode;
use crate::messages::{fenced_error_for_version, offsets_partition_for, ApiKey};
use crate::types::{
    CoordinatorEpoch, ProducerEpoch, ProducerId, TimestampMs, TopicPartition, TransactionResult,
    TransactionVersion, EXHAUSTED_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};

/// Known-bug switches of the coordinator (listed in `docs/coordinator.md`). `Default` is
/// Kafka's correct behaviour (all off). Each brings back one historical bug so that the model
/// checker can show the property it breaks.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct CoordinatorBugs {
    /// M-F2 (KAFKA-5231): InitProducerId on an Ongoing transaction aborts it *without* the
    /// PrepareEpochFence bump, so the abort markers carry the old epoch and a zombie's late write
    /// at that epoch is still accepted (knob `tc.fence_without_bump`).
    pub fence_without_bump: bool,
    /// M-F3 (KAFKA-6119): a timed-out transaction is aborted without bumping the epoch, so the
    /// unaware producer can keep writing and "commit" (knob `tc.timeout_abort_without_bump`).
    pub timeout_abort_without_bump: bool,
    /// M-C3 (Vanlightly's `CompletePartialTxn`): a coordinator that loads a PrepareCommit/
    /// PrepareAbort entry never resumes its markers, so the transaction never completes (knob
    /// `tc.resume_prepare_on_load = false`).
    pub no_resume_prepare_on_load: bool,
    /// M-F6 (KAFKA-20310): previous and next producer ids are not written to the transaction log
    /// (they are written as -1), so a failover during a TV2 epoch overflow loses the new producer
    /// id (knob `tc.persist_rotation_ids = false`).
    pub no_persist_rotation_ids: bool,
    /// KAFKA-20785 (fixed by apache/kafka#23204, 2026-08): under TV2 an EndTxn(COMMIT) at the
    /// retry epoch (stored epoch = request epoch + 1, or the overflow retry) that finds the
    /// transaction CompleteAbort is answered `INVALID_TXN_STATE`, as before the fix, instead of
    /// `PRODUCER_FENCED`. Only a coordinator-side abort (a transaction timeout, or the fence of
    /// a newer instance's InitProducerId) can put a commit there, and the Java client treats `INVALID_TXN_STATE` as fatal (`EndTxnHandler` →
    /// `fatalError(InvalidTxnStateException)`: a Kafka Streams thread dies), while
    /// `PRODUCER_FENCED` becomes the `ProducerFencedException` applications recover from.
    pub commit_after_abort_is_invalid_txn_state: bool,
    /// KAFKA-19367 (fixed by apache/kafka#19910 and #19976, 2025-06): under TV2 the fence of
    /// InitProducerId on an Ongoing transaction (and of the timeout abort) bumps the epoch in
    /// memory (`prepareFenceProducerEpoch`, unless `hasFailedEpochFence`) and the abort's
    /// `prepareAbortOrCommit` bumps it again: epoch + 2, last epoch = the fence's. At the
    /// exhausted epoch the second bump passes `Short.MAX_VALUE` (a negative epoch,
    /// IllegalArgumentException → `UNKNOWN_SERVER_ERROR`) and the in-memory fence stays: the
    /// transaction is left Ongoing at the maximum epoch, where no fence can abort it any more. A
    /// failed TV2 fence append also sets `has_failed_epoch_fence`, as before #19976.
    pub tv2_fence_double_bump: bool,
}

/// Coordinator settings (`TransactionStateManagerConfig`, `TransactionLogConfig`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CoordinatorConfig {
    /// The server's finalized `transaction.version`: the version of coordinator-initiated aborts
    /// (fencing, timeouts), `txnManager.transactionVersionLevel()`. Client requests carry their own.
    pub transaction_version: TransactionVersion,
    /// `transaction.max.timeout.ms` (900 000).
    pub transaction_max_timeout_ms: i32,
    /// `transactional.id.expiration.ms` (604 800 000, 7 days).
    pub transactional_id_expiration_ms: i64,
    /// Producer ids per block (`ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`, 1000).
    pub producer_id_block_size: i64,
    /// `offsets.topic.num.partitions` (50): AddOffsetsToTxn adds the group's partition of
    /// `__consumer_offsets` ([`offsets_partition_for`]).
    pub offsets_topic_partitions: i32,
    /// The epoch from which a producer id's epochs count as exhausted
    /// (`TransactionMetadata.isProducerEpochExhausted`: `epoch >= Short.MAX_VALUE - 1`, default
    /// [`EXHAUSTED_EPOCH`] = 32766). A model parameter that stands for `Short.MAX_VALUE - 1`: the
    /// epoch above it (`exhausted_epoch + 1`) stands for `Short.MAX_VALUE`, the highest epoch any
    /// bump may reach. A small value (e.g. 2) makes producer-id rotation and the exhaustion
    /// boundary reachable in a few transactions. Kafka has no such setting: keep the default
    /// outside models. Must be in `0..=32766`.
    pub exhausted_epoch: ProducerEpoch,
    /// Known-bug switches (all off by default).
    pub bugs: CoordinatorBugs,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            transaction_version: TransactionVersion::Tv2,
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
            producer_id_block_size: 1000,
            offsets_topic_partitions: 50,
            exhausted_epoch: EXHAUSTED_EPOCH,
            bugs: CoordinatorBugs::default(),
        }
    }
}

/// What the caller must do after a handler (sans-IO outputs).
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CoordinatorOutput {
    /// Durable state: this record was appended to `__transaction_state` for the id (`None`: a
    /// tombstone, the id expired). Emitted by the synchronous handlers, which take every append
    /// as succeeded; the `*_staged` handlers return a [`PendingAppend`] instead, whose result the
    /// caller reports with [`TransactionCoordinator::complete_append`].
    AppendTransactionLog {
        /// The key.
        transactional_id: String,
        /// The value, or `None` for a tombstone.
        value: Option<TransactionLogValue>,
    },
    /// Send this marker to the partition's leader and report its answer with
    /// [`TransactionCoordinator::handle_write_txn_markers_response`].
    WriteTxnMarker(WriteTxnMarker),
}

/// What [`TransactionCoordinator::handle_timeout`] did.
#[must_use]
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimeoutOutcome {
    /// The transactional ids whose transactions were aborted on timeout, sorted.
    pub aborted: Vec<String>,
    /// The transactional ids that expired, sorted.
    pub expired: Vec<String>,
    /// The log records and markers of both.
    pub outputs: Vec<CoordinatorOutput>,
}

/// What a `*_staged` client handler decided: an answer now, or an append to persist first.
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CoordinatorStep<T> {
    /// Answered without writing to the transaction log (Kafka's `responseCallback` before any
    /// `appendTransactionToLog`): nothing changed, or nothing needed a write.
    Answer(Result<T, ErrorCode>),
    /// Persist [`PendingAppend::record`], then report the result with
    /// [`TransactionCoordinator::complete_append`], which releases the answer.
    Append(PendingAppend<T>),
}

/// Work the coordinator starts on its own, with no client waiting (markers to send, appends to
/// persist): what a marker answer, a load or a periodic task leads to.
#[must_use]
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CoordinatorWork {
    /// WriteTxnMarkers entries to send (never `AppendTransactionLog`: appends are `appends`).
    pub outputs: Vec<CoordinatorOutput>,
    /// Appends to persist, each reported with [`TransactionCoordinator::complete_append`].
    pub appends: Vec<PendingAppend>,
}

/// What [`TransactionCoordinator::complete_append`] released.
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AppendOutcome<T> {
    /// The answer to the client: the staged answer after a successful append, else the mapped
    /// error (`NOT_COORDINATOR` for an append that succeeded after the coordinator epoch changed).
    /// For coordinator-initiated appends (`T = ()`) it only reports what happened.
    pub response: Result<T, ErrorCode>,
    /// WriteTxnMarkers entries to send: the markers of a Prepare* that just became durable
    /// (`TransactionMarkerChannelManager.addTxnMarkersToSend`).
    pub outputs: Vec<CoordinatorOutput>,
    /// Further appends to persist: the completion of a Prepare* with no partition, or the same
    /// completion again after `COORDINATOR_NOT_AVAILABLE` (`txnLogAppendRetryQueue`).
    pub appends: Vec<PendingAppend>,
}

/// What a pending append does once its result is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum AppendKind {
    /// A client request's transition, or a coordinator-initiated fence and abort
    /// (`TransactionCoordinator`'s `appendTransactionToLog` callbacks). `fenced_in_memory`: a TV0/1
    /// fence bumped the epoch in memory before the write (`endTransactionWithTV1`).
    Transition { fenced_in_memory: bool },
    /// The completion (Complete*) after the markers (`TransactionMarkerChannelManager.tryAppendToLog`).
    Completion,
    /// A tombstone (`TransactionStateManager.removeExpiredTransactionalIds`).
    Expiration,
}

/// A transaction-log append the coordinator decided and waits on: the record to persist and what
/// is needed to finish (the metadata the append leads to, the answer, the follow-up), like the
/// arguments of Kafka's `appendTransactionToLog(transactionalId, coordinatorEpoch, newMetadata,
/// responseCallback, retryOnError)`.
///
/// Opaque: persist [`record`](Self::record), then hand the token back to
/// [`TransactionCoordinator::complete_append`] with the result. `T` is the answer's type (`()` for
/// appends the coordinator starts on its own).
#[must_use = "persist the record and report the result with TransactionCoordinator::complete_append"]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PendingAppend<T = ()> {
    transactional_id: String,
    coordinator_epoch: CoordinatorEpoch,
    record: Option<TransactionLogValue>,
    /// The cache entry as the staging left it: the append is applied only to this entry.
    expected: Box<TransactionMetadata>,
    /// The metadata after a successful append (`None`: the entry is removed).
    staged: Option<Box<TransactionMetadata>>,
    kind: AppendKind,
    answer: Result<T, ErrorCode>,
    /// The request's API and version, for the PRODUCER_FENCED downgrade of its errors.
    api: Option<(ApiKey, i16)>,
}

impl<T> PendingAppend<T> {
    /// The key of the record.
    pub fn transactional_id(&self) -> &str {
        &self.transactional_id
    }

    /// The coordinator epoch the append was decided under.
    pub fn coordinator_epoch(&self) -> CoordinatorEpoch {
        self.coordinator_epoch
    }

    /// The record to append to `__transaction_state` under
    /// [`transactional_id`](Self::transactional_id): `None` is a tombstone.
    pub fn record(&self) -> Option<&TransactionLogValue> {
        self.record.as_ref()
    }

    /// The state the append leads to (Kafka's `pendingState`): Dead for a tombstone.
    pub fn target_state(&self) -> TransactionState {
        self.staged
            .as_ref()
            .map_or(TransactionState::Dead, |m| m.state)
    }

    /// The record as the synchronous handlers emit it.
    pub fn log_output(&self) -> CoordinatorOutput {
        CoordinatorOutput::AppendTransactionLog {
            transactional_id: self.transactional_id.clone(),
            value: self.record.clone(),
        }
    }

    /// The same append with its answer dropped (a retried completion).
    fn untyped(self) -> PendingAppend {
        PendingAppend {
            transactional_id: self.transactional_id,
            coordinator_epoch: self.coordinator_epoch,
            record: self.record,
            expected: self.expected,
            staged: self.staged,
            kind: self.kind,
            answer: self.answer.map(|_| ()),
            api: self.api,
        }
    }

    /// Downgrades errors for the request's version (`fenced_error_for_version`).
    fn for_version(mut self, api: ApiKey, version: i16) -> Self {
        self.answer = self
            .answer
            .map_err(|e| fenced_error_for_version(api, version, e));
        self.api = Some((api, version));
        self
    }
}

impl<T> CoordinatorStep<T> {
    /// Downgrades errors for the request's version (`fenced_error_for_version`).
    fn for_version(self, api: ApiKey, version: i16) -> Self {
        match self {
            CoordinatorStep::Answer(result) => CoordinatorStep::Answer(
                result.map_err(|e| fenced_error_for_version(api, version, e)),
            ),
            CoordinatorStep::Append(pending) => {
                CoordinatorStep::Append(pending.for_version(api, version))
            }
        }
    }
}

/// The error a client is answered when its transaction-log append failed
/// (`TransactionStateManager.appendTransactionToLog`: "transform the log append error code to the
/// corresponding coordinator error code"): UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS,
/// NOT_ENOUGH_REPLICAS_AFTER_APPEND and REQUEST_TIMED_OUT → COORDINATOR_NOT_AVAILABLE (the client
/// retries); NOT_LEADER_OR_FOLLOWER and KAFKA_STORAGE_ERROR → NOT_COORDINATOR (the client finds
/// the coordinator again); MESSAGE_TOO_LARGE and RECORD_LIST_TOO_LARGE → UNKNOWN_SERVER_ERROR;
/// any other error unchanged.
pub fn coordinator_error_for_append(error: ErrorCode) -> ErrorCode {
    use ErrorCode::*;
    match error {
        UnknownTopicOrPartition
        | NotEnoughReplicas
        | NotEnoughReplicasAfterAppend
        | RequestTimedOut => CoordinatorNotAvailable,
        NotLeaderOrFollower | KafkaStorageError => NotCoordinator,
        MessageTooLarge | RecordListTooLarge => UnknownServerError,
        other => other,
    }
}

/// A transition decided on a copy of the metadata, not yet appended.
struct Staging {
    transit: TransactionLogValue,
    /// `prepareFenceProducerEpoch` preceded it (InitProducerId on Ongoing, or a timeout).
    epoch_fence: bool,
    /// Under the KAFKA-19367 switch: the epoch a TV2 fence set in memory before the abort's
    /// own bump.
    tv2_fence_epoch: Option<ProducerEpoch>,
}

/// Misuse of the coordinator's API: input no well-formed Kafka request or log carries.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CoordinatorError {
    /// A configuration no Kafka cluster accepts.
    #[error("invalid coordinator configuration: {0}")]
    InvalidConfig(&'static str),
    /// A WriteTxnMarkers error Kafka treats as impossible (`IllegalStateException` in
    /// `TransactionMarkerRequestCompletionHandler`: CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, ... or any
    /// unknown error).
    #[error("unexpected WriteTxnMarkers error {0}")]
    UnexpectedMarkerError(ErrorCode),
    /// A transaction-log record that Kafka never writes.
    #[error("invalid transaction log record for {transactional_id:?}: {reason}")]
    InvalidLogValue {
        /// The key of the record.
        transactional_id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Becoming coordinator at an epoch older than the current one.
    #[error("coordinator epoch {new} is older than the current {current}")]
    StaleCoordinatorEpoch {
        /// The current coordinator epoch.
        current: CoordinatorEpoch,
        /// The epoch asked for.
        new: CoordinatorEpoch,
    },
}

/// How a WriteTxnMarkers error is handled (`TransactionMarkerRequestCompletionHandler`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MarkerOutcome {
    Written,
    Retry,
    Abandon,
}

fn classify_marker_error(error: Option<ErrorCode>) -> Result<MarkerOutcome, CoordinatorError> {
    use ErrorCode::*;
    match error {
        None => Ok(MarkerOutcome::Written),
        Some(
            UnknownTopicOrPartition
            | NotLeaderOrFollower
            | NotEnoughReplicas
            | NotEnoughReplicasAfterAppend
            | RequestTimedOut
            | KafkaStorageError
            // A disconnection (`ClientResponse.wasDisconnected`: the request timed out or the
            // connection closed) re-enqueues the markers while the coordinator epoch matches.
            | NetworkException,
        ) => Ok(MarkerOutcome::Retry),
        Some(InvalidProducerEpoch | TransactionCoordinatorFenced) => Ok(MarkerOutcome::Abandon),
        Some(UnsupportedForMessageFormat | UnsupportedVersion) => Ok(MarkerOutcome::Written),
        Some(other) => Err(CoordinatorError::UnexpectedMarkerError(other)),
    }
}

/// The transaction coordinator of one `__transaction_state` partition (`TransactionCoordinator` +
/// `TransactionStateManager` + the marker channel's completion logic).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TransactionCoordinator {
    config: CoordinatorConfig,
    coordinator_epoch: CoordinatorEpoch,
    producer_ids: ProducerIdManager,
    transactions: BTreeMap<String, TransactionMetadata>,
}

type Handled<T> = (Result<T, ErrorCode>, Vec<CoordinatorOutput>);

impl TransactionCoordinator {
    /// A coordinator that owns its partition at `coordinator_epoch`, with no transactional ids,
    /// handing out producer ids in blocks from `first_producer_id`.
    pub fn new(
        config: CoordinatorConfig,
        first_producer_id: ProducerId,
        coordinator_epoch: CoordinatorEpoch,
    ) -> Result<Self, CoordinatorError> {
        if config.transaction_max_timeout_ms <= 0 {
            return Err(CoordinatorError::InvalidConfig(
                "transaction.max.timeout.ms must be positive",
            ));
        }
        if config.transactional_id_expiration_ms <= 0 {
            return Err(CoordinatorError::InvalidConfig(
                "transactional.id.expiration.ms must be positive",
            ));
        }
        if !(0..=EXHAUSTED_EPOCH).contains(&config.exhausted_epoch) {
            return Err(CoordinatorError::InvalidConfig(
                "the exhausted epoch must be in 0..=32766",
            ));
        }
        let producer_ids = ProducerIdManager::new(first_producer_id, config.producer_id_block_size)
            .ok_or(CoordinatorError::InvalidConfig(
                "the first producer id must be >= 0 and the block size > 0",
            ))?;
        Ok(TransactionCoordinator {
            config,
            coordinator_epoch,
            producer_ids,
            transactions: BTreeMap::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &CoordinatorConfig {
        &self.config
    }

    /// Whether `metadata`'s epoch is exhausted at this coordinator's
    /// [`exhausted_epoch`](CoordinatorConfig::exhausted_epoch) (`isProducerEpochExhausted`).
    fn exhausted(&self, metadata: &TransactionMetadata) -> bool {
        metadata.is_producer_epoch_exhausted_at(self.config.exhausted_epoch)
    }

    /// `epoch + 1`, or `UNKNOWN_SERVER_ERROR` when `epoch` is already the highest one
    /// (`exhausted_epoch + 1`, standing for `Short.MAX_VALUE`): Kafka's bump would wrap to a
    /// negative epoch, which `prepareTransitionTo` rejects (IllegalArgumentException), and its
    /// fence throws IllegalStateException ("would overflow").
    fn bumped(&self, epoch: ProducerEpoch) -> Result<ProducerEpoch, ErrorCode> {
        if epoch > self.config.exhausted_epoch {
            return Err(ErrorCode::UnknownServerError);
        }
        epoch.checked_add(1).ok_or(ErrorCode::UnknownServerError)
    }

    /// The coordinator epoch (leader epoch of the `__transaction_state` partition, set by
    /// `onElection`).
    pub fn coordinator_epoch(&self) -> CoordinatorEpoch {
        self.coordinator_epoch
    }

    /// The producer-id manager.
    pub fn producer_id_manager(&self) -> &ProducerIdManager {
        &self.producer_ids
    }

    /// Every transactional id's metadata, by id.
    pub fn transactions(&self) -> &BTreeMap<String, TransactionMetadata> {
        &self.transactions
    }

    /// One transactional id's metadata.
    pub fn transaction(&self, transactional_id: &str) -> Option<&TransactionMetadata> {
        self.transactions.get(transactional_id)
    }

    /// The markers of `transactional_id` not yet acknowledged, sorted by partition (empty unless
    /// the id is in Prepare* with markers in flight).
    pub fn pending_markers(&self, transactional_id: &str) -> Vec<WriteTxnMarker> {
        self.transactions
            .get(transactional_id)
            .map(|m| markers_of(transactional_id, m, &m.partitions))
            .unwrap_or_default()
    }

    /// Failover (`onElection`): this broker becomes the coordinator of the partition at
    /// `coordinator_epoch`. The cache and every pending marker are dropped; the caller then loads
    /// the partition's records with [`load_transaction`](Self::load_transaction). The producer-id
    /// manager belongs to the broker and is kept.
    pub fn become_coordinator(
        &mut self,
        coordinator_epoch: CoordinatorEpoch,
    ) -> Result<(), CoordinatorError> {
        if coordinator_epoch < self.coordinator_epoch {
            return Err(CoordinatorError::StaleCoordinatorEpoch {
                current: self.coordinator_epoch,
                new: coordinator_epoch,
            });
        }
        self.coordinator_epoch = coordinator_epoch;
        self.transactions.clear();
        Ok(())
    }

    /// Loads one record of the transaction log (`loadTransactionsForTxnTopicPartition`): the
    /// metadata replaces any earlier record of the id (`None`, a tombstone, removes it). An entry
    /// in PrepareCommit/PrepareAbort resumes its markers with *this* coordinator's epoch and is
    /// completed once they are written (at once when it has no partitions); its completion
    /// records the load time as its last-update time.
    ///
    /// Synchronous: the completion of a Prepare* with no partitions is taken as appended.
    pub fn load_transaction(
        &mut self,
        transactional_id: &str,
        value: Option<&TransactionLogValue>,
        now: TimestampMs,
    ) -> Result<Vec<CoordinatorOutput>, CoordinatorError> {
        let work = self.load_transaction_staged(transactional_id, value, now)?;
        Ok(self.settle_work(work))
    }

    /// [`load_transaction`](Self::load_transaction) with durability as a step: the completion of a
    /// Prepare* with no partitions is returned as a [`PendingAppend`] (the loader's
    /// `addTxnMarkersToSend` → `tryAppendToLog`), the resumed markers as outputs.
    pub fn load_transaction_staged(
        &mut self,
        transactional_id: &str,
        value: Option<&TransactionLogValue>,
        now: TimestampMs,
    ) -> Result<CoordinatorWork, CoordinatorError> {
        let Some(value) = value else {
            self.transactions.remove(transactional_id);
            return Ok(CoordinatorWork::default());
        };
        let invalid = |reason| CoordinatorError::InvalidLogValue {
            transactional_id: transactional_id.to_string(),
            reason,
        };
        if transactional_id.is_empty() {
            return Err(invalid("empty transactional id"));
        }
        if value.producer_id < 0 {
            return Err(invalid("negative producer id"));
        }
        if value.producer_epoch < 0 {
            return Err(invalid("negative producer epoch"));
        }
        match value.state {
            TransactionState::Dead | TransactionState::PrepareEpochFence => {
                return Err(invalid("Dead and PrepareEpochFence are never written"))
            }
            TransactionState::Empty
            | TransactionState::CompleteCommit
            | TransactionState::CompleteAbort
                if !value.partitions.is_empty() =>
            {
                return Err(invalid("Empty and Complete* records have no partitions"))
            }
            _ => {}
        }
        let mut metadata = TransactionMetadata::from_log_value(value);
        let mut work = CoordinatorWork::default();
        if metadata.state.is_prepare() {
            let abandoned = self.config.bugs.no_resume_prepare_on_load;
            metadata.pending_completion = Some(PendingCompletion {
                coordinator_epoch: self.coordinator_epoch,
                completion_timestamp: now,
                markers_abandoned: abandoned,
            });
            if !abandoned {
                // A record Kafka could not have written cannot be completed: refuse it whole.
                work = self
                    .send_markers_or_complete(transactional_id, &mut metadata)
                    .map_err(|_| invalid("this Prepare* record cannot be completed"))?;
            }
        }
        self.transactions
            .insert(transactional_id.to_string(), metadata);
        Ok(work)
    }

    /// InitProducerId (`TransactionCoordinator.handleInitProducerId`).
    ///
    /// In order: a half-given KIP-360 id/epoch pair → INVALID_REQUEST (KafkaApis); no transactional
    /// id → a fresh producer id at epoch 0, no state; empty id → INVALID_REQUEST; timeout outside
    /// `(0, max]` → INVALID_TRANSACTION_TIMEOUT; unknown id → metadata created with a fresh
    /// producer id; pending transition → CONCURRENT_TRANSACTIONS; expected id not valid →
    /// PRODUCER_FENCED; Prepare* → CONCURRENT_TRANSACTIONS; Empty/Complete* → rotate the producer
    /// id (exhausted epoch) or bump the epoch (KIP-360 retry: no bump); Ongoing → fence and abort
    /// (`prepareFenceProducerEpoch`), answered CONCURRENT_TRANSACTIONS, the state change and
    /// markers still happen.
    ///
    /// Synchronous: [`handle_init_producer_id_staged`](Self::handle_init_producer_id_staged) with
    /// the append taken as durable.
    pub fn handle_init_producer_id(
        &mut self,
        request: &InitProducerIdRequest,
        now: TimestampMs,
    ) -> Handled<ProducerIdAndEpoch> {
        let step = self.handle_init_producer_id_staged(request, now);
        self.settle(step)
    }

    /// [`handle_init_producer_id`](Self::handle_init_producer_id) with durability as a step. The
    /// answer (or, on the fence path, CONCURRENT_TRANSACTIONS and the markers) is released by
    /// [`complete_append`](Self::complete_append) (`sendPidResponseCallback`,
    /// `sendRetriableErrorCallback`). A metadata created for an unknown id is in the cache from
    /// now on, even if its first append fails (`putTransactionStateIfNotExists`); producer ids
    /// generated now stay consumed. A TV0/1 fence bumps the epoch in memory now
    /// (`endTransactionWithTV1`).
    pub fn handle_init_producer_id_staged(
        &mut self,
        request: &InitProducerIdRequest,
        now: TimestampMs,
    ) -> CoordinatorStep<ProducerIdAndEpoch> {
        self.init_producer_id(request, now)
            .for_version(ApiKey::InitProducerId, request.version)
    }

    fn init_producer_id(
        &mut self,
        request: &InitProducerIdRequest,
        now: TimestampMs,
    ) -> CoordinatorStep<ProducerIdAndEpoch> {
        let answer = CoordinatorStep::Answer;
        let expected = match (request.producer_id, request.producer_epoch) {
            (NO_PRODUCER_ID, NO_PRODUCER_EPOCH) => None,
            (NO_PRODUCER_ID, _) | (_, NO_PRODUCER_EPOCH) => {
                return answer(Err(ErrorCode::InvalidRequest))
            }
            (producer_id, producer_epoch) => Some(ProducerIdAndEpoch {
                producer_id,
                producer_epoch,
            }),
        };
        let Some(transactional_id) = request.transactional_id.as_deref() else {
            let result =
                self.producer_ids
                    .generate_producer_id()
                    .map(|producer_id| ProducerIdAndEpoch {
                        producer_id,
                        producer_epoch: 0,
                    });
            return answer(result);
        };
        if transactional_id.is_empty() {
            return answer(Err(ErrorCode::InvalidRequest));
        }
        let timeout = request.transaction_timeout_ms;
        if timeout <= 0 || timeout > self.config.transaction_max_timeout_ms {
            return answer(Err(ErrorCode::InvalidTransactionTimeout));
        }
        let mut ids = self.producer_ids.clone();
        let original = match self.transactions.get(transactional_id) {
            Some(m) => m.clone(),
            None => match ids.generate_producer_id() {
                Ok(pid) => TransactionMetadata::new_empty(pid, timeout, now),
                Err(e) => return answer(Err(e)),
            },
        };
        let mut metadata = original.clone();
        let mut staging = None;
        let result = self.init_producer_id_transit(
            &mut metadata,
            &mut ids,
            timeout,
            expected,
            now,
            &mut staging,
        );
        match (result, staging) {
            // The fence path appends its abort and answers CONCURRENT_TRANSACTIONS.
            (result @ (Ok(_) | Err(ErrorCode::ConcurrentTransactions)), Some(staging)) => {
                self.producer_ids = ids;
                CoordinatorStep::Append(self.stage_transition(
                    transactional_id,
                    original,
                    metadata,
                    staging,
                    result,
                ))
            }
            (result, staging) => {
                if staging.is_none()
                    && self.config.bugs.tv2_fence_double_bump
                    && metadata != original
                {
                    // KAFKA-19367 switch: the in-memory fence outlives its failed abort.
                    self.transactions
                        .insert(transactional_id.to_string(), metadata);
                }
                answer(result)
            }
        }
    }

    fn init_producer_id_transit(
        &self,
        metadata: &mut TransactionMetadata,
        ids: &mut ProducerIdManager,
        timeout: i32,
        expected: Option<ProducerIdAndEpoch>,
        now: TimestampMs,
        staging: &mut Option<Staging>,
    ) -> Result<ProducerIdAndEpoch, ErrorCode> {
        if metadata.pending_transition_in_progress() {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        // isValidProducerId (KIP-360).
        if let Some(exp) = expected {
            let valid = metadata.producer_epoch == NO_PRODUCER_EPOCH
                || exp.producer_id == metadata.producer_id
                || (exp.producer_id == metadata.previous_producer_id
                    && exp.producer_epoch >= self.config.exhausted_epoch);
            if !valid {
                return Err(ErrorCode::ProducerFenced);
            }
        }
        match metadata.state {
            TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
                Err(ErrorCode::ConcurrentTransactions)
            }
            TransactionState::Empty
            | TransactionState::CompleteCommit
            | TransactionState::CompleteAbort => {
                let mut transit = metadata.transit();
                let exhausted = self.exhausted(metadata);
                if exhausted && expected.is_none_or(|e| e.producer_epoch == metadata.producer_epoch)
                {
                    // prepareProducerIdRotation.
                    transit.producer_id = ids.generate_producer_id()?;
                    transit.producer_epoch = 0;
                    transit.last_producer_epoch = if expected.is_some() {
                        metadata.producer_epoch
                    } else {
                        NO_PRODUCER_EPOCH
                    };
                } else {
                    // prepareIncrementProducerEpoch.
                    if exhausted {
                        // IllegalStateException "Cannot allocate any more producer epochs".
                        return Err(ErrorCode::UnknownServerError);
                    }
                    let bumped = self.bumped(metadata.producer_epoch)?;
                    match expected {
                        None => {
                            transit.producer_epoch = bumped;
                            transit.last_producer_epoch = NO_PRODUCER_EPOCH;
                        }
                        Some(e)
                            if metadata.producer_epoch == NO_PRODUCER_EPOCH
                                || e.producer_epoch == metadata.producer_epoch =>
                        {
                            transit.producer_epoch = bumped;
                            transit.last_producer_epoch = metadata.producer_epoch;
                        }
                        Some(e) if e.producer_epoch == metadata.last_producer_epoch => {
                            // A retry of a successful call: same epoch, no bump.
                        }
                        Some(_) => return Err(ErrorCode::ProducerFenced),
                    }
                }
                transit.state = TransactionState::Empty;
                transit.transaction_timeout_ms = timeout;
                transit.partitions.clear();
                transit.txn_start_timestamp = -1;
                transit.txn_last_update_timestamp = now;
                write(metadata, &transit, staging)?;
                Ok(ProducerIdAndEpoch {
                    producer_id: metadata.producer_id,
                    producer_epoch: metadata.producer_epoch,
                })
            }
            TransactionState::Ongoing => {
                self.fence_and_abort(metadata, !self.config.bugs.fence_without_bump, now, staging)?;
                Err(ErrorCode::ConcurrentTransactions)
            }
            TransactionState::Dead | TransactionState::PrepareEpochFence => {
                Err(ErrorCode::UnknownServerError)
            }
        }
    }

    /// Fence and abort an Ongoing transaction on the coordinator's own initiative:
    /// `prepareFenceProducerEpoch` then an internal EndTxn(ABORT) with the *server's* version.
    /// TV0/1: the epoch is bumped by the fence and the abort keeps it (last epoch -1). TV2: the abort's
    /// `prepareAbortOrCommit` does the only bump (last epoch = old), and never allocates a next
    /// producer id. An epoch already at 32767 cannot be fenced ([2025-10]: IllegalStateException →
    /// UNKNOWN_SERVER_ERROR; nothing changes). After a failed TV0/1 fence
    /// (`has_failed_epoch_fence`) the epoch, already bumped in memory, is not bumped again.
    /// The TV2 single bump is Kafka's fix of KAFKA-19367 (apache/kafka#19910); the
    /// [`CoordinatorBugs::tv2_fence_double_bump`] switch brings back the double bump.
    fn fence_and_abort(
        &self,
        metadata: &mut TransactionMetadata,
        bump: bool,
        now: TimestampMs,
        staging: &mut Option<Staging>,
    ) -> Result<(), ErrorCode> {
        // The pending PrepareEpochFence step: legal only from Ongoing.
        TransactionState::check_transition(metadata.state, TransactionState::PrepareEpochFence)?;
        if metadata.pending_transition_in_progress() {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        let tv2 = self.config.transaction_version.supports_epoch_bump();
        let mut tv2_fence_epoch = None;
        if tv2 && bump && self.config.bugs.tv2_fence_double_bump {
            // KAFKA-19367 switch (before apache/kafka#19910): the fence bumps the epoch in
            // memory (endTransaction's `txnMetadata.producerEpoch = producerEpoch`), and the
            // abort below bumps it again. If that second bump overflows, the in-memory fence
            // stays: the caller keeps `metadata` although the answer is an error.
            let fence = if metadata.has_failed_epoch_fence {
                metadata.producer_epoch
            } else {
                self.bumped(metadata.producer_epoch)?
            };
            metadata.producer_epoch = fence;
            metadata.last_producer_epoch = NO_PRODUCER_EPOCH;
            tv2_fence_epoch = Some(fence);
        }
        let epoch = metadata.producer_epoch;
        let mut transit = metadata.transit();
        transit.state = TransactionState::PrepareAbort;
        transit.next_producer_id = NO_PRODUCER_ID;
        transit.txn_last_update_timestamp = now;
        if tv2 {
            if bump {
                transit.producer_epoch = self.bumped(epoch)?;
                transit.last_producer_epoch = epoch;
            }
            transit.client_transaction_version = self.config.transaction_version;
        } else {
            if bump && !metadata.has_failed_epoch_fence {
                transit.producer_epoch = self.bumped(epoch)?;
            }
            transit.last_producer_epoch = NO_PRODUCER_EPOCH;
            // endTransactionWithTV1 passes TransactionVersion.fromFeatureLevel(0).
            transit.client_transaction_version = TransactionVersion::Tv0;
        }
        self.write_prepare(metadata, &transit, now, staging)?;
        if let Some(staging) = staging {
            staging.epoch_fence = true;
            staging.tv2_fence_epoch = tv2_fence_epoch;
        }
        Ok(())
    }

    /// AddPartitionsToTxn (`handleAddPartitionsToTransaction`) and its verify-only form
    /// (`handleVerifyPartitionsInTransaction`).
    ///
    /// Add, in order ([2025-10]): empty id → INVALID_REQUEST; unknown id →
    /// INVALID_PRODUCER_ID_MAPPING; pending transition → CONCURRENT_TRANSACTIONS; other producer id →
    /// INVALID_PRODUCER_ID_MAPPING; other epoch → PRODUCER_FENCED; Prepare* →
    /// CONCURRENT_TRANSACTIONS; Ongoing with every partition present → success, no write; else →
    /// Ongoing (start time = now when a transaction starts).
    ///
    /// Verify-only ignores any pending transition (Kafka: "Pending state is not checked since
    /// there is a final validation on the append to the log"): producer id, epoch, Prepare*, then
    /// TRANSACTION_ABORTABLE if any partition is not in the transaction (partitions whose add is
    /// not yet durable are not in it).
    ///
    /// Synchronous: [`handle_add_partitions_to_txn_staged`](Self::handle_add_partitions_to_txn_staged)
    /// with the append taken as durable.
    pub fn handle_add_partitions_to_txn(
        &mut self,
        request: &AddPartitionsToTxnRequest,
        now: TimestampMs,
    ) -> Handled<()> {
        let step = self.handle_add_partitions_to_txn_staged(request, now);
        self.settle(step)
    }

    /// [`handle_add_partitions_to_txn`](Self::handle_add_partitions_to_txn) with durability as a
    /// step: the answer to an add that needs a write is released by
    /// [`complete_append`](Self::complete_append) (`appendTransactionToLog(.., responseCallback)`).
    pub fn handle_add_partitions_to_txn_staged(
        &mut self,
        request: &AddPartitionsToTxnRequest,
        now: TimestampMs,
    ) -> CoordinatorStep<()> {
        self.add_partitions_to_txn(request, now)
            .for_version(ApiKey::AddPartitionsToTxn, request.version)
    }

    fn add_partitions_to_txn(
        &mut self,
        request: &AddPartitionsToTxnRequest,
        now: TimestampMs,
    ) -> CoordinatorStep<()> {
        let answer = CoordinatorStep::Answer;
        if request.transactional_id.is_empty() {
            return answer(Err(ErrorCode::InvalidRequest));
        }
        let Some(current) = self.transactions.get(&request.transactional_id) else {
            return answer(Err(ErrorCode::InvalidProducerIdMapping));
        };
        if request.verify_only {
            let result = if current.producer_id != request.producer_id {
                Err(ErrorCode::InvalidProducerIdMapping)
            } else if current.producer_epoch != request.producer_epoch {
                Err(ErrorCode::ProducerFenced)
            } else if current.state.is_prepare() {
                Err(ErrorCode::ConcurrentTransactions)
            } else if request.partitions.is_subset(&current.partitions) {
                Ok(())
            } else {
                Err(ErrorCode::TransactionAbortable)
            };
            return answer(result);
        }
        if current.pending_transition_in_progress() {
            return answer(Err(ErrorCode::ConcurrentTransactions));
        }
        if current.producer_id != request.producer_id {
            return answer(Err(ErrorCode::InvalidProducerIdMapping));
        }
        if current.producer_epoch != request.producer_epoch {
            return answer(Err(ErrorCode::ProducerFenced));
        }
        if current.state.is_prepare() {
            return answer(Err(ErrorCode::ConcurrentTransactions));
        }
        if current.state == TransactionState::Ongoing
            && request.partitions.is_subset(&current.partitions)
        {
            return answer(Ok(()));
        }
        let original = current.clone();
        let mut metadata = current.clone();
        // prepareAddPartitions.
        let mut transit = metadata.transit();
        if matches!(
            metadata.state,
            TransactionState::Empty
                | TransactionState::CompleteCommit
                | TransactionState::CompleteAbort
        ) {
            transit.txn_start_timestamp = now;
        }
        transit.state = TransactionState::Ongoing;
        transit
            .partitions
            .extend(request.partitions.iter().cloned());
        transit.txn_last_update_timestamp = now;
        transit.client_transaction_version = request.transaction_version();
        let mut staging = None;
        if let Err(e) = write(&mut metadata, &transit, &mut staging) {
            return answer(Err(e));
        }
        let Some(staging) = staging else {
            return answer(Err(ErrorCode::UnknownServerError));
        };
        CoordinatorStep::Append(self.stage_transition(
            &request.transactional_id,
            original,
            metadata,
            staging,
            Ok(()),
        ))
    }

    /// AddOffsetsToTxn (`KafkaApis.handleAddOffsetsToTxnRequest`): the group's
    /// `__consumer_offsets` partition is added to the transaction exactly as a client's
    /// AddPartitionsToTxn (TV0) would add it. An empty group id is INVALID_REQUEST; below v2
    /// PRODUCER_FENCED is answered INVALID_PRODUCER_EPOCH.
    ///
    /// Synchronous: [`handle_add_offsets_to_txn_staged`](Self::handle_add_offsets_to_txn_staged)
    /// with the append taken as durable.
    pub fn handle_add_offsets_to_txn(
        &mut self,
        request: &AddOffsetsToTxnRequest,
        now: TimestampMs,
    ) -> Handled<()> {
        let step = self.handle_add_offsets_to_txn_staged(request, now);
        self.settle(step)
    }

    /// [`handle_add_offsets_to_txn`](Self::handle_add_offsets_to_txn) with durability as a step,
    /// as [`handle_add_partitions_to_txn_staged`](Self::handle_add_partitions_to_txn_staged).
    pub fn handle_add_offsets_to_txn_staged(
        &mut self,
        request: &AddOffsetsToTxnRequest,
        now: TimestampMs,
    ) -> CoordinatorStep<()> {
        let Some(partition) =
            offsets_partition_for(&request.group_id, self.config.offsets_topic_partitions)
                .filter(|_| !request.group_id.is_empty())
        else {
            return CoordinatorStep::Answer(Err(ErrorCode::InvalidRequest));
        };
        let add = AddPartitionsToTxnRequest::from_client(
            request.transactional_id.clone(),
            request.producer_id,
            request.producer_epoch,
            BTreeSet::from([partition]),
        );
        self.add_partitions_to_txn(&add, now)
            .for_version(ApiKey::AddOffsetsToTxn, request.version)
    }

    /// EndTxn (`endTransactionWithTV1` for a TV0/1 request, `endTransaction` for TV2). On success
    /// the Prepare* write is done, the markers are returned as outputs and the completion waits for
    /// them (a TV2 abort with no partitions completes at once). The TV1 response carries no
    /// producer id/epoch (`None`); the TV2 response carries the id and epoch the client must adopt.
    ///
    /// Synchronous: [`handle_end_txn_staged`](Self::handle_end_txn_staged) with the appends taken
    /// as durable.
    pub fn handle_end_txn(
        &mut self,
        request: &EndTxnRequest,
        now: TimestampMs,
    ) -> Handled<Option<ProducerIdAndEpoch>> {
        let step = self.handle_end_txn_staged(request, now);
        self.settle(step)
    }

    /// [`handle_end_txn`](Self::handle_end_txn) with durability as a step: the answer and the
    /// markers are released by [`complete_append`](Self::complete_append) once the Prepare* record
    /// is durable (`sendTxnMarkersCallback`). A producer id generated now for a TV2 epoch overflow
    /// stays consumed if the append fails.
    pub fn handle_end_txn_staged(
        &mut self,
        request: &EndTxnRequest,
        now: TimestampMs,
    ) -> CoordinatorStep<Option<ProducerIdAndEpoch>> {
        self.end_txn(request, now)
            .for_version(ApiKey::EndTxn, request.version)
    }

    fn end_txn(
        &mut self,
        request: &EndTxnRequest,
        now: TimestampMs,
    ) -> CoordinatorStep<Option<ProducerIdAndEpoch>> {
        let answer = CoordinatorStep::Answer;
        if request.transactional_id.is_empty() {
            return answer(Err(ErrorCode::InvalidRequest));
        }
        let Some(current) = self.transactions.get(&request.transactional_id) else {
            return answer(Err(ErrorCode::InvalidProducerIdMapping));
        };
        let original = current.clone();
        let mut metadata = current.clone();
        let mut ids = self.producer_ids.clone();
        let mut staging = None;
        let result = if request.transaction_version().supports_epoch_bump() {
            self.end_txn_v2(request, &mut metadata, &mut ids, now, &mut staging)
        } else {
            self.end_txn_v1(request, &mut metadata, now, &mut staging)
                .map(|()| None)
        };
        match (result, staging) {
            (result @ Ok(_), Some(staging)) => {
                self.producer_ids = ids;
                CoordinatorStep::Append(self.stage_transition(
                    &request.transactional_id,
                    original,
                    metadata,
                    staging,
                    result,
                ))
            }
            (result, _) => answer(result),
        }
    }

    /// `endTransactionWithTV1` from a client: producer id, exact epoch, pending completion, then
    /// its state table.
    fn end_txn_v1(
        &self,
        request: &EndTxnRequest,
        metadata: &mut TransactionMetadata,
        now: TimestampMs,
        staging: &mut Option<Staging>,
    ) -> Result<(), ErrorCode> {
        use TransactionResult::{Abort, Commit};
        if metadata.producer_id != request.producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if metadata.producer_epoch != request.producer_epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        if metadata.pending_transition_in_progress() {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        match (metadata.state, request.result) {
            (TransactionState::Ongoing, result) => {
                let mut transit = metadata.transit();
                transit.state = match result {
                    Commit => TransactionState::PrepareCommit,
                    Abort => TransactionState::PrepareAbort,
                };
                transit.next_producer_id = NO_PRODUCER_ID;
                transit.txn_last_update_timestamp = now;
                transit.client_transaction_version = TransactionVersion::Tv0;
                self.write_prepare(metadata, &transit, now, staging)
            }
            (TransactionState::CompleteCommit, Commit)
            | (TransactionState::CompleteAbort, Abort) => Ok(()),
            (TransactionState::PrepareCommit, Commit) | (TransactionState::PrepareAbort, Abort) => {
                Err(ErrorCode::ConcurrentTransactions)
            }
            (TransactionState::Dead | TransactionState::PrepareEpochFence, _) => {
                Err(ErrorCode::UnknownServerError)
            }
            _ => Err(ErrorCode::InvalidTxnState),
        }
    }

    /// `endTransaction` under TV2 from a client: pending completion, producer id (unless a retry
    /// after an overflow), epoch validity per state, then its state table.
    fn end_txn_v2(
        &self,
        request: &EndTxnRequest,
        metadata: &mut TransactionMetadata,
        ids: &mut ProducerIdManager,
        now: TimestampMs,
        staging: &mut Option<Staging>,
    ) -> Result<Option<ProducerIdAndEpoch>, ErrorCode> {
        use TransactionResult::{Abort, Commit};
        if metadata.pending_transition_in_progress() {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        let req_epoch = i32::from(request.producer_epoch);
        let cur_epoch = i32::from(metadata.producer_epoch);
        let retry_on_epoch_bump = cur_epoch == req_epoch + 1;
        let retry_on_overflow = metadata.previous_producer_id == request.producer_id
            && request.producer_epoch == self.config.exhausted_epoch
            && metadata.producer_epoch == 0;
        let is_retry = retry_on_epoch_bump || retry_on_overflow;
        if metadata.producer_id != request.producer_id && !retry_on_overflow {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        let valid_epoch = match metadata.state {
            TransactionState::Ongoing
            | TransactionState::Empty
            | TransactionState::Dead
            | TransactionState::PrepareEpochFence => req_epoch == cur_epoch,
            TransactionState::PrepareCommit | TransactionState::PrepareAbort => retry_on_epoch_bump,
            TransactionState::CompleteCommit | TransactionState::CompleteAbort => {
                is_retry || req_epoch == cur_epoch
            }
        };
        if !valid_epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        let current = Some(ProducerIdAndEpoch {
            producer_id: metadata.producer_id,
            producer_epoch: metadata.producer_epoch,
        });
        let (next_state, no_partition_added) = match (metadata.state, request.result) {
            (TransactionState::Ongoing, Commit) => (TransactionState::PrepareCommit, false),
            (TransactionState::Ongoing, Abort) => (TransactionState::PrepareAbort, false),
            (TransactionState::CompleteCommit, Commit) if is_retry => return Ok(current),
            (TransactionState::CompleteCommit, Abort) if !is_retry => {
                (TransactionState::PrepareAbort, true)
            }
            (TransactionState::CompleteAbort, Abort) if is_retry => return Ok(current),
            (TransactionState::CompleteAbort, Abort) => (TransactionState::PrepareAbort, true),
            // KAFKA-20785 (apache/kafka#23204): a commit at the retry epoch can only find
            // CompleteAbort when a coordinator-side abort (a timeout, a fence) raced it; it never took
            // effect, so the recoverable PRODUCER_FENCED, not the fatal INVALID_TXN_STATE.
            (TransactionState::CompleteAbort, Commit)
                if is_retry && !self.config.bugs.commit_after_abort_is_invalid_txn_state =>
            {
                return Err(ErrorCode::ProducerFenced)
            }
            (TransactionState::Empty, Abort) => (TransactionState::PrepareAbort, true),
            (TransactionState::PrepareCommit, Commit) | (TransactionState::PrepareAbort, Abort) => {
                return Err(ErrorCode::ConcurrentTransactions)
            }
            (TransactionState::Dead | TransactionState::PrepareEpochFence, _) => {
                return Err(ErrorCode::UnknownServerError)
            }
            _ => return Err(ErrorCode::InvalidTxnState),
        };
        // generateTxnTransitMetadataForTxnCompletion + prepareAbortOrCommit (TV2).
        let next_producer_id = if self.exhausted(metadata) {
            ids.generate_producer_id()?
        } else {
            NO_PRODUCER_ID
        };
        let mut transit = metadata.transit();
        transit.state = next_state;
        // [2025-10]: "We already ensured that we do not overflow here"; an epoch of 32767 would
        // wrap to a negative epoch, which prepareTransitionTo rejects.
        transit.producer_epoch = self.bumped(metadata.producer_epoch)?;
        transit.last_producer_epoch = metadata.producer_epoch;
        transit.next_producer_id = next_producer_id;
        if no_partition_added {
            transit.txn_start_timestamp = now;
        }
        transit.txn_last_update_timestamp = now;
        transit.client_transaction_version = request.transaction_version();
        let response = if next_producer_id != NO_PRODUCER_ID {
            ProducerIdAndEpoch {
                producer_id: next_producer_id,
                producer_epoch: 0,
            }
        } else {
            ProducerIdAndEpoch {
                producer_id: transit.producer_id,
                producer_epoch: transit.producer_epoch,
            }
        };
        self.write_prepare(metadata, &transit, now, staging)?;
        Ok(Some(response))
    }

    /// Decides a Prepare* transit on `metadata` (a copy) and, as `prepareComplete` does once it is
    /// durable, its pending completion with this coordinator's epoch (clearing
    /// `has_failed_epoch_fence`). With no partition the completion follows at once, so a completion
    /// Kafka's `completeTransitionTo` would refuse is refused now.
    fn write_prepare(
        &self,
        metadata: &mut TransactionMetadata,
        transit: &TransactionLogValue,
        now: TimestampMs,
        staging: &mut Option<Staging>,
    ) -> Result<(), ErrorCode> {
        write(metadata, transit, staging)?;
        metadata.pending_completion = Some(PendingCompletion {
            coordinator_epoch: self.coordinator_epoch,
            completion_timestamp: now,
            markers_abandoned: false,
        });
        metadata.has_failed_epoch_fence = false;
        if metadata.partitions.is_empty() {
            let transit = completion_transit(metadata)?;
            metadata.clone().transition_to(&transit)?;
        }
        Ok(())
    }

    /// Stages a decided transition: the cache keeps the metadata as it was (`original`, inserted
    /// if it was just created) with its pending transition set, and the token carries the
    /// metadata the append leads to. A TV0/1 fence bumps the epoch in memory now, before the write
    /// (`endTransactionWithTV1`: `txnMetadata.producerEpoch = producerEpoch`).
    fn stage_transition<T>(
        &mut self,
        transactional_id: &str,
        original: TransactionMetadata,
        staged: TransactionMetadata,
        staging: Staging,
        answer: Result<T, ErrorCode>,
    ) -> PendingAppend<T> {
        let mut current = original;
        let fence_epoch =
            if staging.epoch_fence && !self.config.transaction_version.supports_epoch_bump() {
                Some(staging.transit.producer_epoch)
            } else {
                // Only under the KAFKA-19367 switch does a TV2 fence change the epoch in memory.
                staging.tv2_fence_epoch
            };
        let fenced_in_memory = fence_epoch.is_some();
        if let Some(epoch) = fence_epoch {
            current.producer_epoch = epoch;
            current.last_producer_epoch = NO_PRODUCER_EPOCH;
        }
        current.pending_transition = Some(staging.transit.state);
        self.transactions
            .insert(transactional_id.to_string(), current.clone());
        PendingAppend {
            transactional_id: transactional_id.to_string(),
            coordinator_epoch: self.coordinator_epoch,
            record: Some(log_record(&staging.transit, &self.config.bugs)),
            expected: Box::new(current),
            staged: Some(Box::new(staged)),
            kind: AppendKind::Transition { fenced_in_memory },
            answer,
            api: None,
        }
    }

    /// Starts the completion of a Prepare* entry whose Prepare* is durable
    /// (`TransactionMarkerChannelManager.addTxnMarkersToSend`): its markers, or, with no partition
    /// left, the completion append at once. `metadata` is the entry as it will be cached.
    fn send_markers_or_complete(
        &self,
        transactional_id: &str,
        metadata: &mut TransactionMetadata,
    ) -> Result<CoordinatorWork, ErrorCode> {
        let mut work = CoordinatorWork::default();
        if metadata.partitions.is_empty() {
            work.appends
                .push(self.stage_completion(transactional_id, metadata)?);
        } else {
            work.outputs.extend(
                markers_of(transactional_id, metadata, &metadata.partitions)
                    .into_iter()
                    .map(CoordinatorOutput::WriteTxnMarker),
            );
        }
        Ok(work)
    }

    /// Stages the completion (Complete*) of `metadata`, the entry as it will be cached, once its
    /// last marker is written (`prepareComplete`'s transit, appended by `tryAppendToLog`).
    fn stage_completion(
        &self,
        transactional_id: &str,
        metadata: &mut TransactionMetadata,
    ) -> Result<PendingAppend, ErrorCode> {
        let transit = completion_transit(metadata)?;
        let mut staged = metadata.clone();
        staged.transition_to(&transit)?;
        metadata.pending_transition = Some(transit.state);
        Ok(PendingAppend {
            transactional_id: transactional_id.to_string(),
            coordinator_epoch: self.coordinator_epoch,
            record: Some(log_record(&transit, &self.config.bugs)),
            expected: Box::new(metadata.clone()),
            staged: Some(Box::new(staged)),
            kind: AppendKind::Completion,
            answer: Ok(()),
            api: None,
        })
    }

    /// The result of a staged transaction-log append (the callback of
    /// `TransactionStateManager.appendTransactionToLog`): `Ok(())` once the record is durable, or
    /// the error the append failed with (the produce error of `__transaction_state`).
    ///
    /// On success, if the coordinator epoch is still the one the append was decided under and the
    /// entry is the one it was staged on, the transition is applied (`completeTransitionTo`) and
    /// the staged answer released, with the markers of a durable Prepare* or the completion append
    /// that follows it; otherwise nothing is applied and the answer is `NOT_COORDINATOR` ("the
    /// cache may have been changed due to txn topic partition emigration and immigration").
    ///
    /// On failure the error is mapped ([`coordinator_error_for_append`]) and, if the epoch and
    /// entry still match, Kafka's failure path is taken:
    /// - a client request's or a fence's transition: the pending transition is cleared and the
    ///   metadata is as before; a TV0/1 fence keeps the epoch it bumped in memory and sets
    ///   `has_failed_epoch_fence` (`endTransactionWithTV1`'s callback), so that the next fence
    ///   does not bump again (`shouldNotRepeatedlyBumpEpochDueToInitPidDuringOngoingTxnIfAppendToLogFails`);
    /// - a completion: `COORDINATOR_NOT_AVAILABLE` keeps it pending and returns the same append to
    ///   retry (`retryOnError`, `txnLogAppendRetryQueue`); any other error gives it up
    ///   (`tryAppendToLog`: "skip writing to transaction log"): the pending transition is cleared
    ///   and the transaction stays in Prepare* with its markers written, for a new coordinator to
    ///   load and complete;
    /// - a tombstone: the entry is kept (`removeExpiredTransactionalIds`).
    pub fn complete_append<T>(
        &mut self,
        pending: PendingAppend<T>,
        result: Result<(), ErrorCode>,
    ) -> AppendOutcome<T> {
        let owned = self.coordinator_epoch == pending.coordinator_epoch
            && self.transactions.get(&pending.transactional_id) == Some(&*pending.expected);
        let version = |error: ErrorCode| match pending.api {
            Some((api, version)) => fenced_error_for_version(api, version, error),
            None => error,
        };
        let mut outcome = AppendOutcome {
            response: Err(ErrorCode::NotCoordinator),
            outputs: Vec::new(),
            appends: Vec::new(),
        };
        match result {
            Ok(()) if !owned => {}
            Ok(()) => match pending.staged {
                None => {
                    self.transactions.remove(&pending.transactional_id);
                    outcome.response = pending.answer;
                }
                Some(mut staged) => {
                    if staged.state.is_prepare() {
                        match self.send_markers_or_complete(&pending.transactional_id, &mut staged)
                        {
                            Ok(work) => {
                                outcome.outputs = work.outputs;
                                outcome.appends = work.appends;
                            }
                            Err(_) => {
                                // Refused when the Prepare* was staged; kept for totality.
                                if let Some(completion) = staged.pending_completion.as_mut() {
                                    completion.markers_abandoned = true;
                                }
                            }
                        }
                    }
                    self.transactions
                        .insert(pending.transactional_id.clone(), *staged);
                    outcome.response = pending.answer;
                }
            },
            Err(error) => {
                let error = coordinator_error_for_append(error);
                outcome.response = Err(version(error));
                if owned {
                    if pending.kind == AppendKind::Completion
                        && error == ErrorCode::CoordinatorNotAvailable
                    {
                        outcome.appends.push(pending.untyped());
                        return outcome;
                    }
                    if let Some(current) = self.transactions.get_mut(&pending.transactional_id) {
                        current.pending_transition = None;
                        match pending.kind {
                            AppendKind::Transition { fenced_in_memory } => {
                                current.has_failed_epoch_fence |= fenced_in_memory;
                            }
                            AppendKind::Completion => current.pending_completion = None,
                            AppendKind::Expiration => {}
                        }
                    }
                }
            }
        }
        outcome
    }

    /// A staged step with every append taken as durable: what the synchronous handlers return.
    fn settle<T>(&mut self, step: CoordinatorStep<T>) -> Handled<T> {
        match step {
            CoordinatorStep::Answer(result) => (result, Vec::new()),
            CoordinatorStep::Append(pending) => {
                let mut outputs = Vec::new();
                let result = self.append_succeeded(pending, &mut outputs);
                (result, outputs)
            }
        }
    }

    /// Coordinator-initiated work with every append taken as durable: the markers, then each
    /// append's record and what it released.
    fn settle_work(&mut self, work: CoordinatorWork) -> Vec<CoordinatorOutput> {
        let mut outputs = work.outputs;
        for pending in work.appends {
            // Coordinator-initiated: no client waits for the answer.
            let _ = self.append_succeeded(pending, &mut outputs);
        }
        outputs
    }

    /// Emits `pending`'s record as appended and completes it successfully, then the appends it
    /// released (a completion, whose success releases nothing further).
    fn append_succeeded<T>(
        &mut self,
        pending: PendingAppend<T>,
        outputs: &mut Vec<CoordinatorOutput>,
    ) -> Result<T, ErrorCode> {
        outputs.push(pending.log_output());
        let outcome = self.complete_append(pending, Ok(()));
        outputs.extend(outcome.outputs);
        for next in outcome.appends {
            let _ = self.append_succeeded(next, outputs);
        }
        outcome.response
    }

    /// A partition leader answered WriteTxnMarkers (`TransactionMarkerRequestCompletionHandler`).
    /// Success, UNSUPPORTED_FOR_MESSAGE_FORMAT and UNSUPPORTED_VERSION count the
    /// partitions as written; once none is left the completion (Complete*) is written. Retriable
    /// errors keep them pending and re-send them; a disconnection (the request timed out or the
    /// connection broke, `response.wasDisconnected`) is reported as NETWORK_EXCEPTION and is
    /// re-sent the same way, although the first request may still be delivered later. INVALID_PRODUCER_EPOCH and
    /// TRANSACTION_COORDINATOR_FENCED drop the markers: the transaction stays in Prepare* and is
    /// not completed by this coordinator (a success still in flight for dropped markers removes its
    /// partitions, without completion). Any other error is a [`CoordinatorError`]. An answer for
    /// markers that are not pending (other epochs, result, or already written) is ignored.
    ///
    /// Synchronous: [`handle_write_txn_markers_response_staged`](Self::handle_write_txn_markers_response_staged)
    /// with the completion taken as appended.
    pub fn handle_write_txn_markers_response(
        &mut self,
        response: &WriteTxnMarkersResponse,
    ) -> Result<Vec<CoordinatorOutput>, CoordinatorError> {
        let work = self.handle_write_txn_markers_response_staged(response)?;
        Ok(self.settle_work(work))
    }

    /// [`handle_write_txn_markers_response`](Self::handle_write_txn_markers_response) with
    /// durability as a step: the completion is returned as a [`PendingAppend`]
    /// (`TransactionMarkerChannelManager.tryAppendToLog`), re-sent markers as outputs.
    pub fn handle_write_txn_markers_response_staged(
        &mut self,
        response: &WriteTxnMarkersResponse,
    ) -> Result<CoordinatorWork, CoordinatorError> {
        let outcome = classify_marker_error(response.error)?;
        let mut work = CoordinatorWork::default();
        let Some(current) = self.transactions.get(&response.transactional_id) else {
            return Ok(work);
        };
        let Some(pending) = current.pending_completion else {
            return Ok(work);
        };
        if pending.coordinator_epoch != response.coordinator_epoch
            || current.producer_id != response.producer_id
            || current.producer_epoch != response.producer_epoch
            || current.marker_result() != Some(response.result)
        {
            return Ok(work);
        }
        let answered: BTreeSet<TopicPartition> = response
            .partitions
            .intersection(&current.partitions)
            .cloned()
            .collect();
        if answered.is_empty() {
            return Ok(work);
        }
        let mut metadata = current.clone();
        if pending.markers_abandoned {
            // The markers were dropped (removeMarkersForTxn): an answer still in flight removes
            // its written partitions, but no completion is written (maybeWriteTxnCompletion finds
            // no pending entry) and nothing is re-sent.
            if outcome == MarkerOutcome::Written {
                for partition in &answered {
                    metadata.partitions.remove(partition);
                }
                self.transactions
                    .insert(response.transactional_id.clone(), metadata);
            }
            return Ok(work);
        }
        match outcome {
            MarkerOutcome::Written => {
                work.appends.extend(self.remove_marker_partitions(
                    &response.transactional_id,
                    &mut metadata,
                    &answered,
                ));
            }
            MarkerOutcome::Retry => {
                work.outputs.extend(
                    markers_of(&response.transactional_id, &metadata, &answered)
                        .into_iter()
                        .map(CoordinatorOutput::WriteTxnMarker),
                );
            }
            MarkerOutcome::Abandon => {
                metadata.pending_completion = Some(PendingCompletion {
                    markers_abandoned: true,
                    ..pending
                });
            }
        }
        self.transactions
            .insert(response.transactional_id.clone(), metadata);
        Ok(work)
    }

    /// Partitions that no longer exist (their topic was deleted) are dropped from every
    /// transaction whose markers are in flight: Kafka's
    /// `TransactionMarkerChannelManager.addTxnMarkersToBrokerQueue` finds no leader for such a
    /// partition in the metadata cache ("these partitions are likely deleted already and hence
    /// can be skipped"), calls `txnMetadata.removePartition` for it and then
    /// `maybeWriteTxnCompletion`: once no partition is left the completion (Complete*) is written,
    /// as after the last marker. Kafka runs that check each time markers are queued, so it also
    /// catches a marker re-sent after UNKNOWN_TOPIC_OR_PARTITION
    /// (`TransactionMarkerRequestCompletionHandler` retries it through the same queue).
    ///
    /// Only a Prepare* entry with markers in flight under this coordinator epoch is touched (the
    /// `coordinatorEpoch` check of `addTxnMarkersToBrokerQueue`); markers already given up
    /// (`markers_abandoned`) and a completion already being appended are left alone. An Ongoing
    /// transaction keeps the partition, as in Kafka: its EndTxn writes Prepare* with it and its
    /// marker is dropped by this same rule when it is sent, so the transaction still completes.
    ///
    /// Synchronous: [`handle_partitions_deleted_staged`](Self::handle_partitions_deleted_staged)
    /// with the completions taken as appended.
    pub fn handle_partitions_deleted(
        &mut self,
        deleted: &BTreeSet<TopicPartition>,
    ) -> Vec<CoordinatorOutput> {
        let work = self.handle_partitions_deleted_staged(deleted);
        self.settle_work(work)
    }

    /// [`handle_partitions_deleted`](Self::handle_partitions_deleted) with durability as a step:
    /// each completion is returned as a [`PendingAppend`] (`tryAppendToLog`).
    pub fn handle_partitions_deleted_staged(
        &mut self,
        deleted: &BTreeSet<TopicPartition>,
    ) -> CoordinatorWork {
        let mut work = CoordinatorWork::default();
        let affected: Vec<String> = self
            .transactions
            .iter()
            .filter(|(_, m)| {
                m.pending_completion.is_some_and(|p| {
                    !p.markers_abandoned && p.coordinator_epoch == self.coordinator_epoch
                }) && m.pending_transition.is_none()
                    && !m.partitions.is_disjoint(deleted)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for transactional_id in affected {
            let Some(mut metadata) = self.transactions.get(&transactional_id).cloned() else {
                continue;
            };
            let gone: BTreeSet<TopicPartition> =
                metadata.partitions.intersection(deleted).cloned().collect();
            work.appends.extend(self.remove_marker_partitions(
                &transactional_id,
                &mut metadata,
                &gone,
            ));
            self.transactions.insert(transactional_id, metadata);
        }
        work
    }

    /// Removes `done` from the partitions of `metadata`, a Prepare* entry with markers in flight
    /// (`txnMetadata.removePartition`), and stages the completion once none is left
    /// (`maybeWriteTxnCompletion`). A completion Kafka's `completeTransitionTo` would refuse drops
    /// the markers instead.
    fn remove_marker_partitions(
        &self,
        transactional_id: &str,
        metadata: &mut TransactionMetadata,
        done: &BTreeSet<TopicPartition>,
    ) -> Option<PendingAppend> {
        for partition in done {
            metadata.partitions.remove(partition);
        }
        if !metadata.partitions.is_empty() {
            return None;
        }
        match self.stage_completion(transactional_id, metadata) {
            Ok(completion) => Some(completion),
            Err(_) => {
                if let Some(pending) = metadata.pending_completion {
                    metadata.pending_completion = Some(PendingCompletion {
                        markers_abandoned: true,
                        ..pending
                    });
                }
                None
            }
        }
    }

    /// The coordinator's next deadline: the earliest time at which
    /// [`handle_timeout`](Self::handle_timeout) would abort a timed-out transaction or expire a
    /// transactional id (Kafka runs both checks periodically; a caller may instead sleep until
    /// this time). `None` when nothing can time out.
    pub fn next_deadline(&self) -> Option<TimestampMs> {
        let expiration = self.config.transactional_id_expiration_ms;
        self.transactions
            .values()
            .filter(|m| !m.pending_transition_in_progress())
            .filter_map(|m| {
                if m.state == TransactionState::Ongoing && !m.is_distributed_two_phase_commit_txn()
                {
                    // Aborted once `start + timeout < now`.
                    Some(
                        m.txn_start_timestamp
                            .saturating_add(i64::from(m.txn_timeout_ms))
                            .saturating_add(1),
                    )
                } else if m.state.is_expiration_allowed() {
                    Some(m.txn_last_update_timestamp.saturating_add(expiration))
                } else {
                    None
                }
            })
            .min()
    }

    /// Time passes: the transaction-timeout check then the transactional-id expiration, as
    /// Kafka's two periodic tasks run them. Returns the ids aborted, the ids expired and the
    /// outputs of both.
    ///
    /// Synchronous: every append is taken as durable.
    pub fn handle_timeout(&mut self, now: TimestampMs) -> TimeoutOutcome {
        let (aborted, mut outputs) = self.abort_timed_out_transactions(now);
        let (expired, more) = self.expire_transactional_ids(now);
        outputs.extend(more);
        TimeoutOutcome {
            aborted,
            expired,
            outputs,
        }
    }

    /// [`handle_timeout`](Self::handle_timeout) with durability as a step: the fence-and-abort
    /// appends of [`abort_timed_out_transactions_staged`](Self::abort_timed_out_transactions_staged)
    /// then the tombstones of [`expire_transactional_ids_staged`](Self::expire_transactional_ids_staged).
    pub fn handle_timeout_staged(&mut self, now: TimestampMs) -> Vec<PendingAppend> {
        let mut appends = self.abort_timed_out_transactions_staged(now);
        appends.extend(self.expire_transactional_ids_staged(now));
        appends
    }

    /// The periodic timeout check (`abortTimedOutTransactions`): every Ongoing transaction with no
    /// pending transition whose `start + timeout < now` (strictly) is fenced and aborted
    /// (`prepareFenceProducerEpoch`, then an internal abort) with the server's version (a KIP-939
    /// two-phase-commit transaction, timeout `i32::MAX`, never times out). Returns the ids aborted,
    /// sorted.
    ///
    /// Synchronous: every append is taken as durable.
    pub fn abort_timed_out_transactions(
        &mut self,
        now: TimestampMs,
    ) -> (Vec<String>, Vec<CoordinatorOutput>) {
        let mut aborted = Vec::new();
        let mut outputs = Vec::new();
        for pending in self.abort_timed_out_transactions_staged(now) {
            aborted.push(pending.transactional_id.clone());
            // No client waits for a timeout abort (`onEndTransactionComplete` only logs).
            let _ = self.append_succeeded(pending, &mut outputs);
        }
        (aborted, outputs)
    }

    /// [`abort_timed_out_transactions`](Self::abort_timed_out_transactions) with durability as a
    /// step: one PrepareAbort append per timed-out id, sorted by id. A TV0/1 fence bumps the epoch
    /// in memory now; if its append fails the epoch stays bumped (`has_failed_epoch_fence`) and
    /// the next check aborts it again without a second bump.
    pub fn abort_timed_out_transactions_staged(&mut self, now: TimestampMs) -> Vec<PendingAppend> {
        let timed_out: Vec<String> = self
            .transactions
            .iter()
            .filter(|(_, m)| {
                m.state == TransactionState::Ongoing
                    && !m.pending_transition_in_progress()
                    && !m.is_distributed_two_phase_commit_txn()
                    && m.txn_start_timestamp
                        .saturating_add(i64::from(m.txn_timeout_ms))
                        < now
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut appends = Vec::new();
        for id in timed_out {
            let Some(current) = self.transactions.get(&id) else {
                continue;
            };
            let original = current.clone();
            let mut metadata = current.clone();
            let mut staging = None;
            let bump = !self.config.bugs.timeout_abort_without_bump;
            if self
                .fence_and_abort(&mut metadata, bump, now, &mut staging)
                .is_ok()
            {
                if let Some(staging) = staging {
                    appends.push(self.stage_transition(&id, original, metadata, staging, Ok(())));
                }
            } else if staging.is_none()
                && self.config.bugs.tv2_fence_double_bump
                && metadata != original
            {
                // KAFKA-19367 switch: the in-memory fence outlives its failed abort.
                self.transactions.insert(id, metadata);
            }
        }
        appends
    }

    /// The periodic transactional-id expiration (`removeExpiredTransactionalIds`): every id
    /// in Empty/CompleteCommit/CompleteAbort with no pending transition and
    /// `last update <= now - transactional.id.expiration.ms` goes to Dead: a tombstone is written and
    /// the entry removed. Returns the ids expired, sorted.
    ///
    /// Synchronous: every tombstone is taken as durable.
    pub fn expire_transactional_ids(
        &mut self,
        now: TimestampMs,
    ) -> (Vec<String>, Vec<CoordinatorOutput>) {
        let mut expired = Vec::new();
        let mut outputs = Vec::new();
        for pending in self.expire_transactional_ids_staged(now) {
            expired.push(pending.transactional_id.clone());
            let _ = self.append_succeeded(pending, &mut outputs);
        }
        (expired, outputs)
    }

    /// [`expire_transactional_ids`](Self::expire_transactional_ids) with durability as a step:
    /// one tombstone per expired id, sorted by id; the entry stays, pending Dead (`prepareDead`),
    /// until [`complete_append`](Self::complete_append) removes it, or keeps it if the tombstone
    /// failed.
    pub fn expire_transactional_ids_staged(&mut self, now: TimestampMs) -> Vec<PendingAppend> {
        let cutoff = now.saturating_sub(self.config.transactional_id_expiration_ms);
        let coordinator_epoch = self.coordinator_epoch;
        self.transactions
            .iter_mut()
            .filter(|(_, m)| {
                m.state.is_expiration_allowed()
                    && !m.pending_transition_in_progress()
                    && m.txn_last_update_timestamp <= cutoff
                    && TransactionState::is_valid_transition(m.state, TransactionState::Dead)
            })
            .map(|(id, m)| {
                m.pending_transition = Some(TransactionState::Dead);
                PendingAppend {
                    transactional_id: id.clone(),
                    coordinator_epoch,
                    record: None,
                    expected: Box::new(m.clone()),
                    staged: None,
                    kind: AppendKind::Expiration,
                    answer: Ok(()),
                    api: None,
                }
            })
            .collect()
    }
}

/// Applies a transit through [`TransactionMetadata::transition_to`] to a copy of the metadata
/// and records it as the transition to stage.
fn write(
    metadata: &mut TransactionMetadata,
    transit: &TransactionLogValue,
    staging: &mut Option<Staging>,
) -> Result<(), ErrorCode> {
    metadata.transition_to(transit)?;
    *staging = Some(Staging {
        transit: transit.clone(),
        epoch_fence: false,
        tv2_fence_epoch: None,
    });
    Ok(())
}

/// The record a transit is written as (`TransactionLog.valueToBytes`), with the
/// `no_persist_rotation_ids` bug switch applied.
fn log_record(transit: &TransactionLogValue, bugs: &CoordinatorBugs) -> TransactionLogValue {
    let mut value = transit.clone().persisted();
    if bugs.no_persist_rotation_ids {
        value.previous_producer_id = NO_PRODUCER_ID;
        value.next_producer_id = NO_PRODUCER_ID;
    }
    value
}

/// `prepareComplete`'s transit (once the last marker is acknowledged): Complete* with the
/// partitions cleared and the Prepare* time as last-update time; under TV2 with a next producer
/// id, the id switches to it at epoch 0 (the last epoch stays the client-visible 32766).
fn completion_transit(metadata: &TransactionMetadata) -> Result<TransactionLogValue, ErrorCode> {
    let (Some(pending), Some(target)) = (metadata.pending_completion, metadata.pending_state())
    else {
        return Err(ErrorCode::UnknownServerError);
    };
    let mut transit = metadata.transit();
    transit.state = target;
    if metadata.client_transaction_version.supports_epoch_bump()
        && metadata.next_producer_id != NO_PRODUCER_ID
    {
        transit.producer_id = metadata.next_producer_id;
        transit.producer_epoch = 0;
    }
    transit.next_producer_id = NO_PRODUCER_ID;
    transit.partitions.clear();
    transit.txn_last_update_timestamp = pending.completion_timestamp;
    Ok(transit)
}

/// The markers of a Prepare* entry with markers in flight, for `partitions`.
fn markers_of(
    transactional_id: &str,
    metadata: &TransactionMetadata,
    partitions: &BTreeSet<TopicPartition>,
) -> Vec<WriteTxnMarker> {
    let (Some(pending), Some(result)) = (metadata.pending_completion, metadata.marker_result())
    else {
        return Vec::new();
    };
    if pending.markers_abandoned {
        return Vec::new();
    }
    partitions
        .iter()
        .map(|partition| WriteTxnMarker {
            transactional_id: transactional_id.to_string(),
            partition: partition.clone(),
            producer_id: metadata.producer_id,
            producer_epoch: metadata.producer_epoch,
            coordinator_epoch: pending.coordinator_epoch,
            result,
            transaction_version: metadata.client_transaction_version,
        })
        .collect()
}
