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
//! Simplification (documented, deliberate): transaction-log appends are synchronous and always
//! succeed. A handler that decides a transition applies it at once and emits the record as an
//! [`CoordinatorOutput::AppendTransactionLog`]; Kafka's append-failure paths (the error mapping of
//! `TransactionStateManager.appendTransactionToLog`, `hasFailedEpochFence`) are therefore never
//! taken, and the only pending transition that outlives a handler is the completion that waits for
//! markers.

mod metadata;
mod producer_id;
mod state;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use metadata::{PendingCompletion, TransactionLogValue, TransactionMetadata};
pub use producer_id::ProducerIdManager;
pub use state::{TransactionState, UnknownTransactionState};

pub use crate::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest,
    ProducerIdAndEpoch, WriteTxnMarker, WriteTxnMarkersResponse,
};

use crate::error::ErrorCode;
use crate::messages::{fenced_error_for_version, offsets_partition_for, ApiKey};
use crate::types::{
    CoordinatorEpoch, ProducerId, TimestampMs, TopicPartition, TransactionResult,
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
            bugs: CoordinatorBugs::default(),
        }
    }
}

/// What the caller must do after a handler (sans-IO outputs).
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CoordinatorOutput {
    /// Durable state: this record was appended to `__transaction_state` for the id (`None`: a
    /// tombstone, the id expired). Appends are synchronous and always succeed in this core.
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
    pub fn load_transaction(
        &mut self,
        transactional_id: &str,
        value: Option<&TransactionLogValue>,
        now: TimestampMs,
    ) -> Result<Vec<CoordinatorOutput>, CoordinatorError> {
        let Some(value) = value else {
            self.transactions.remove(transactional_id);
            return Ok(Vec::new());
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
        let mut outputs = Vec::new();
        if metadata.state.is_prepare() {
            let abandoned = self.config.bugs.no_resume_prepare_on_load;
            metadata.pending_completion = Some(PendingCompletion {
                coordinator_epoch: self.coordinator_epoch,
                completion_timestamp: now,
                markers_abandoned: abandoned,
            });
            if !abandoned {
                // A record Kafka could not have written cannot be completed: refuse it whole.
                send_markers_or_complete(
                    transactional_id,
                    &mut metadata,
                    &self.config.bugs,
                    &mut outputs,
                )
                .map_err(|_| invalid("this Prepare* record cannot be completed"))?;
            }
        }
        self.transactions
            .insert(transactional_id.to_string(), metadata);
        Ok(outputs)
    }

    /// InitProducerId (`TransactionCoordinator.handleInitProducerId`).
    ///
    /// In order: a half-given KIP-360 id/epoch pair → INVALID_REQUEST (KafkaApis); no transactional
    /// id → a fresh producer id at epoch 0, no state; empty id → INVALID_REQUEST; timeout outside
    /// `(0, max]` → INVALID_TRANSACTION_TIMEOUT; unknown id → metadata created with a fresh
    /// producer id; pending completion → CONCURRENT_TRANSACTIONS; expected id not valid →
    /// PRODUCER_FENCED; Prepare* → CONCURRENT_TRANSACTIONS; Empty/Complete* → rotate the producer
    /// id (exhausted epoch) or bump the epoch (KIP-360 retry: no bump); Ongoing → fence and abort
    /// (`prepareFenceProducerEpoch`), answered CONCURRENT_TRANSACTIONS, the state change and
    /// markers still happen.
    pub fn handle_init_producer_id(
        &mut self,
        request: &InitProducerIdRequest,
        now: TimestampMs,
    ) -> Handled<ProducerIdAndEpoch> {
        let (result, outputs) = self.init_producer_id(request, now);
        let result = result
            .map_err(|e| fenced_error_for_version(ApiKey::InitProducerId, request.version, e));
        (result, outputs)
    }

    fn init_producer_id(
        &mut self,
        request: &InitProducerIdRequest,
        now: TimestampMs,
    ) -> Handled<ProducerIdAndEpoch> {
        let mut outputs = Vec::new();
        let expected = match (request.producer_id, request.producer_epoch) {
            (NO_PRODUCER_ID, NO_PRODUCER_EPOCH) => None,
            (NO_PRODUCER_ID, _) | (_, NO_PRODUCER_EPOCH) => {
                return (Err(ErrorCode::InvalidRequest), outputs)
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
            return (result, outputs);
        };
        if transactional_id.is_empty() {
            return (Err(ErrorCode::InvalidRequest), outputs);
        }
        let timeout = request.transaction_timeout_ms;
        if timeout <= 0 || timeout > self.config.transaction_max_timeout_ms {
            return (Err(ErrorCode::InvalidTransactionTimeout), outputs);
        }
        let mut ids = self.producer_ids.clone();
        let mut metadata = match self.transactions.get(transactional_id) {
            Some(m) => m.clone(),
            None => match ids.generate_producer_id() {
                Ok(pid) => TransactionMetadata::new_empty(pid, timeout, now),
                Err(e) => return (Err(e), outputs),
            },
        };
        let result = self.init_producer_id_transit(
            transactional_id,
            &mut metadata,
            &mut ids,
            timeout,
            expected,
            now,
            &mut outputs,
        );
        match result {
            // The fence path commits its abort and answers CONCURRENT_TRANSACTIONS.
            Ok(_) | Err(ErrorCode::ConcurrentTransactions) if !outputs.is_empty() => {
                self.producer_ids = ids;
                self.transactions
                    .insert(transactional_id.to_string(), metadata);
                (result, outputs)
            }
            _ => (result, Vec::new()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn init_producer_id_transit(
        &self,
        transactional_id: &str,
        metadata: &mut TransactionMetadata,
        ids: &mut ProducerIdManager,
        timeout: i32,
        expected: Option<ProducerIdAndEpoch>,
        now: TimestampMs,
        outputs: &mut Vec<CoordinatorOutput>,
    ) -> Result<ProducerIdAndEpoch, ErrorCode> {
        if metadata.pending_transition_in_progress() {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        // isValidProducerId (KIP-360).
        if let Some(exp) = expected {
            let valid = metadata.producer_epoch == NO_PRODUCER_EPOCH
                || exp.producer_id == metadata.producer_id
                || (exp.producer_id == metadata.previous_producer_id
                    && exp.producer_epoch >= EXHAUSTED_EPOCH);
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
                let exhausted = metadata.is_producer_epoch_exhausted();
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
                    let bumped = metadata
                        .producer_epoch
                        .checked_add(1)
                        .ok_or(ErrorCode::UnknownServerError)?;
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
                write(
                    transactional_id,
                    metadata,
                    &transit,
                    &self.config.bugs,
                    outputs,
                )?;
                Ok(ProducerIdAndEpoch {
                    producer_id: metadata.producer_id,
                    producer_epoch: metadata.producer_epoch,
                })
            }
            TransactionState::Ongoing => {
                self.fence_and_abort(
                    transactional_id,
                    metadata,
                    !self.config.bugs.fence_without_bump,
                    now,
                    outputs,
                )?;
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
    /// UNKNOWN_SERVER_ERROR; nothing changes).
    fn fence_and_abort(
        &self,
        transactional_id: &str,
        metadata: &mut TransactionMetadata,
        bump: bool,
        now: TimestampMs,
        outputs: &mut Vec<CoordinatorOutput>,
    ) -> Result<(), ErrorCode> {
        // The pending PrepareEpochFence step: legal only from Ongoing.
        TransactionState::check_transition(metadata.state, TransactionState::PrepareEpochFence)?;
        if metadata.pending_transition_in_progress() {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        let epoch = metadata.producer_epoch;
        let mut transit = metadata.transit();
        transit.state = TransactionState::PrepareAbort;
        transit.next_producer_id = NO_PRODUCER_ID;
        transit.txn_last_update_timestamp = now;
        if self.config.transaction_version.supports_epoch_bump() {
            if bump {
                transit.producer_epoch =
                    epoch.checked_add(1).ok_or(ErrorCode::UnknownServerError)?;
                transit.last_producer_epoch = epoch;
            }
            transit.client_transaction_version = self.config.transaction_version;
        } else {
            if bump && !metadata.has_failed_epoch_fence {
                transit.producer_epoch =
                    epoch.checked_add(1).ok_or(ErrorCode::UnknownServerError)?;
            }
            transit.last_producer_epoch = NO_PRODUCER_EPOCH;
            // endTransactionWithTV1 passes TransactionVersion.fromFeatureLevel(0).
            transit.client_transaction_version = TransactionVersion::Tv0;
        }
        self.write_prepare(transactional_id, metadata, &transit, now, outputs)
    }

    /// AddPartitionsToTxn (`handleAddPartitionsToTransaction`) and its verify-only form
    /// (`handleVerifyPartitionsInTransaction`).
    ///
    /// Add, in order ([2025-10]): empty id → INVALID_REQUEST; unknown id →
    /// INVALID_PRODUCER_ID_MAPPING; pending completion → CONCURRENT_TRANSACTIONS; other producer id →
    /// INVALID_PRODUCER_ID_MAPPING; other epoch → PRODUCER_FENCED; Prepare* →
    /// CONCURRENT_TRANSACTIONS; Ongoing with every partition present → success, no write; else →
    /// Ongoing (start time = now when a transaction starts).
    ///
    /// Verify-only ignores the pending completion: producer id, epoch, Prepare*, then
    /// TRANSACTION_ABORTABLE if any partition is not in the transaction.
    pub fn handle_add_partitions_to_txn(
        &mut self,
        request: &AddPartitionsToTxnRequest,
        now: TimestampMs,
    ) -> Handled<()> {
        let (result, outputs) = self.add_partitions_to_txn(request, now);
        let result = result
            .map_err(|e| fenced_error_for_version(ApiKey::AddPartitionsToTxn, request.version, e));
        (result, outputs)
    }

    fn add_partitions_to_txn(
        &mut self,
        request: &AddPartitionsToTxnRequest,
        now: TimestampMs,
    ) -> Handled<()> {
        let mut outputs = Vec::new();
        if request.transactional_id.is_empty() {
            return (Err(ErrorCode::InvalidRequest), outputs);
        }
        let Some(current) = self.transactions.get(&request.transactional_id) else {
            return (Err(ErrorCode::InvalidProducerIdMapping), outputs);
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
            return (result, outputs);
        }
        if current.pending_transition_in_progress() {
            return (Err(ErrorCode::ConcurrentTransactions), outputs);
        }
        if current.producer_id != request.producer_id {
            return (Err(ErrorCode::InvalidProducerIdMapping), outputs);
        }
        if current.producer_epoch != request.producer_epoch {
            return (Err(ErrorCode::ProducerFenced), outputs);
        }
        if current.state.is_prepare() {
            return (Err(ErrorCode::ConcurrentTransactions), outputs);
        }
        if current.state == TransactionState::Ongoing
            && request.partitions.is_subset(&current.partitions)
        {
            return (Ok(()), outputs);
        }
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
        if let Err(e) = write(
            &request.transactional_id,
            &mut metadata,
            &transit,
            &self.config.bugs,
            &mut outputs,
        ) {
            return (Err(e), Vec::new());
        }
        self.transactions
            .insert(request.transactional_id.clone(), metadata);
        (Ok(()), outputs)
    }

    /// AddOffsetsToTxn (`KafkaApis.handleAddOffsetsToTxnRequest`): the group's
    /// `__consumer_offsets` partition is added to the transaction exactly as a client's
    /// AddPartitionsToTxn (TV0) would add it. An empty group id is INVALID_REQUEST; below v2
    /// PRODUCER_FENCED is answered INVALID_PRODUCER_EPOCH.
    pub fn handle_add_offsets_to_txn(
        &mut self,
        request: &AddOffsetsToTxnRequest,
        now: TimestampMs,
    ) -> Handled<()> {
        let Some(partition) =
            offsets_partition_for(&request.group_id, self.config.offsets_topic_partitions)
                .filter(|_| !request.group_id.is_empty())
        else {
            return (Err(ErrorCode::InvalidRequest), Vec::new());
        };
        let add = AddPartitionsToTxnRequest::from_client(
            request.transactional_id.clone(),
            request.producer_id,
            request.producer_epoch,
            BTreeSet::from([partition]),
        );
        let (result, outputs) = self.add_partitions_to_txn(&add, now);
        let result = result
            .map_err(|e| fenced_error_for_version(ApiKey::AddOffsetsToTxn, request.version, e));
        (result, outputs)
    }

    /// EndTxn (`endTransactionWithTV1` for a TV0/1 request, `endTransaction` for TV2). On success
    /// the Prepare* write is done, the markers are returned as outputs and the completion waits for
    /// them (a TV2 abort with no partitions completes at once). The TV1 response carries no
    /// producer id/epoch (`None`); the TV2 response carries the id and epoch the client must adopt.
    pub fn handle_end_txn(
        &mut self,
        request: &EndTxnRequest,
        now: TimestampMs,
    ) -> Handled<Option<ProducerIdAndEpoch>> {
        let (result, outputs) = self.end_txn(request, now);
        let result =
            result.map_err(|e| fenced_error_for_version(ApiKey::EndTxn, request.version, e));
        (result, outputs)
    }

    fn end_txn(
        &mut self,
        request: &EndTxnRequest,
        now: TimestampMs,
    ) -> Handled<Option<ProducerIdAndEpoch>> {
        let mut outputs = Vec::new();
        if request.transactional_id.is_empty() {
            return (Err(ErrorCode::InvalidRequest), outputs);
        }
        let Some(current) = self.transactions.get(&request.transactional_id) else {
            return (Err(ErrorCode::InvalidProducerIdMapping), outputs);
        };
        let mut metadata = current.clone();
        let mut ids = self.producer_ids.clone();
        let result = if request.transaction_version().supports_epoch_bump() {
            self.end_txn_v2(request, &mut metadata, &mut ids, now, &mut outputs)
        } else {
            self.end_txn_v1(request, &mut metadata, now, &mut outputs)
                .map(|()| None)
        };
        if result.is_ok() && !outputs.is_empty() {
            self.producer_ids = ids;
            self.transactions
                .insert(request.transactional_id.clone(), metadata);
            (result, outputs)
        } else {
            (result, Vec::new())
        }
    }

    /// `endTransactionWithTV1` from a client: producer id, exact epoch, pending completion, then
    /// its state table.
    fn end_txn_v1(
        &self,
        request: &EndTxnRequest,
        metadata: &mut TransactionMetadata,
        now: TimestampMs,
        outputs: &mut Vec<CoordinatorOutput>,
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
                self.write_prepare(&request.transactional_id, metadata, &transit, now, outputs)
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
        outputs: &mut Vec<CoordinatorOutput>,
    ) -> Result<Option<ProducerIdAndEpoch>, ErrorCode> {
        use TransactionResult::{Abort, Commit};
        if metadata.pending_transition_in_progress() {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        let req_epoch = i32::from(request.producer_epoch);
        let cur_epoch = i32::from(metadata.producer_epoch);
        let retry_on_epoch_bump = cur_epoch == req_epoch + 1;
        let retry_on_overflow = metadata.previous_producer_id == request.producer_id
            && request.producer_epoch == EXHAUSTED_EPOCH
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
        let next_producer_id = if metadata.is_producer_epoch_exhausted() {
            ids.generate_producer_id()?
        } else {
            NO_PRODUCER_ID
        };
        let mut transit = metadata.transit();
        transit.state = next_state;
        // [2025-10]: "We already ensured that we do not overflow here"; an epoch of 32767 would
        // wrap to a negative epoch, which prepareTransitionTo rejects.
        transit.producer_epoch = metadata
            .producer_epoch
            .checked_add(1)
            .ok_or(ErrorCode::UnknownServerError)?;
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
        self.write_prepare(&request.transactional_id, metadata, &transit, now, outputs)?;
        Ok(Some(response))
    }

    /// Writes a Prepare* transit and starts its completion: markers to every partition with this
    /// coordinator's epoch, or the completion at once when there is none (`addTxnMarkersToSend`).
    fn write_prepare(
        &self,
        transactional_id: &str,
        metadata: &mut TransactionMetadata,
        transit: &TransactionLogValue,
        now: TimestampMs,
        outputs: &mut Vec<CoordinatorOutput>,
    ) -> Result<(), ErrorCode> {
        write(
            transactional_id,
            metadata,
            transit,
            &self.config.bugs,
            outputs,
        )?;
        metadata.pending_completion = Some(PendingCompletion {
            coordinator_epoch: self.coordinator_epoch,
            completion_timestamp: now,
            markers_abandoned: false,
        });
        send_markers_or_complete(transactional_id, metadata, &self.config.bugs, outputs)
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
    pub fn handle_write_txn_markers_response(
        &mut self,
        response: &WriteTxnMarkersResponse,
    ) -> Result<Vec<CoordinatorOutput>, CoordinatorError> {
        let outcome = classify_marker_error(response.error)?;
        let mut outputs = Vec::new();
        let Some(current) = self.transactions.get(&response.transactional_id) else {
            return Ok(outputs);
        };
        let Some(pending) = current.pending_completion else {
            return Ok(outputs);
        };
        if pending.coordinator_epoch != response.coordinator_epoch
            || current.producer_id != response.producer_id
            || current.producer_epoch != response.producer_epoch
            || current.marker_result() != Some(response.result)
        {
            return Ok(outputs);
        }
        let answered: BTreeSet<TopicPartition> = response
            .partitions
            .intersection(&current.partitions)
            .cloned()
            .collect();
        if answered.is_empty() {
            return Ok(outputs);
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
            return Ok(outputs);
        }
        match outcome {
            MarkerOutcome::Written => {
                for partition in &answered {
                    metadata.partitions.remove(partition);
                }
                if metadata.partitions.is_empty()
                    && complete(
                        &response.transactional_id,
                        &mut metadata,
                        &self.config.bugs,
                        &mut outputs,
                    )
                    .is_err()
                {
                    // A completion Kafka's completeTransitionTo refuses: drop the markers.
                    metadata.pending_completion = Some(PendingCompletion {
                        markers_abandoned: true,
                        ..pending
                    });
                    outputs.clear();
                }
            }
            MarkerOutcome::Retry => {
                outputs.extend(
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
        Ok(outputs)
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

    /// The periodic timeout check (`abortTimedOutTransactions`): every Ongoing transaction with no
    /// pending transition whose `start + timeout < now` (strictly) is fenced and aborted
    /// (`prepareFenceProducerEpoch`, then an internal abort) with the server's version (a KIP-939
    /// two-phase-commit transaction, timeout `i32::MAX`, never times out). Returns the ids aborted,
    /// sorted.
    pub fn abort_timed_out_transactions(
        &mut self,
        now: TimestampMs,
    ) -> (Vec<String>, Vec<CoordinatorOutput>) {
        let mut aborted = Vec::new();
        let mut outputs = Vec::new();
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
        for id in timed_out {
            let Some(current) = self.transactions.get(&id) else {
                continue;
            };
            let mut metadata = current.clone();
            let mut these = Vec::new();
            let bump = !self.config.bugs.timeout_abort_without_bump;
            if self
                .fence_and_abort(&id, &mut metadata, bump, now, &mut these)
                .is_ok()
            {
                self.transactions.insert(id.clone(), metadata);
                outputs.extend(these);
                aborted.push(id);
            }
        }
        (aborted, outputs)
    }

    /// The periodic transactional-id expiration (`removeExpiredTransactionalIds`): every id
    /// in Empty/CompleteCommit/CompleteAbort with no pending transition and
    /// `last update <= now - transactional.id.expiration.ms` goes to Dead: a tombstone is written and
    /// the entry removed. Returns the ids expired, sorted.
    pub fn expire_transactional_ids(
        &mut self,
        now: TimestampMs,
    ) -> (Vec<String>, Vec<CoordinatorOutput>) {
        let cutoff = now.saturating_sub(self.config.transactional_id_expiration_ms);
        let expired: Vec<String> = self
            .transactions
            .iter()
            .filter(|(_, m)| {
                m.state.is_expiration_allowed()
                    && !m.pending_transition_in_progress()
                    && m.txn_last_update_timestamp <= cutoff
                    && TransactionState::is_valid_transition(m.state, TransactionState::Dead)
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut outputs = Vec::new();
        for id in &expired {
            self.transactions.remove(id);
            outputs.push(CoordinatorOutput::AppendTransactionLog {
                transactional_id: id.clone(),
                value: None,
            });
        }
        (expired, outputs)
    }
}

/// Applies a transit through [`TransactionMetadata::transition_to`] and emits its log record.
fn write(
    transactional_id: &str,
    metadata: &mut TransactionMetadata,
    transit: &TransactionLogValue,
    bugs: &CoordinatorBugs,
    outputs: &mut Vec<CoordinatorOutput>,
) -> Result<(), ErrorCode> {
    metadata.transition_to(transit)?;
    let mut value = transit.clone().persisted();
    if bugs.no_persist_rotation_ids {
        value.previous_producer_id = NO_PRODUCER_ID;
        value.next_producer_id = NO_PRODUCER_ID;
    }
    outputs.push(CoordinatorOutput::AppendTransactionLog {
        transactional_id: transactional_id.to_string(),
        value: Some(value),
    });
    Ok(())
}

/// Emits the markers of a Prepare* entry whose completion is pending, or writes the completion at
/// once when no partition is left.
fn send_markers_or_complete(
    transactional_id: &str,
    metadata: &mut TransactionMetadata,
    bugs: &CoordinatorBugs,
    outputs: &mut Vec<CoordinatorOutput>,
) -> Result<(), ErrorCode> {
    if metadata.partitions.is_empty() {
        complete(transactional_id, metadata, bugs, outputs)
    } else {
        outputs.extend(
            markers_of(transactional_id, metadata, &metadata.partitions)
                .into_iter()
                .map(CoordinatorOutput::WriteTxnMarker),
        );
        Ok(())
    }
}

/// `prepareComplete` + write (once the last marker is acknowledged): Complete* with the partitions
/// cleared and the Prepare* time as last-update time; under TV2 with a next producer id, the id
/// switches to it at epoch 0 (the last epoch stays the client-visible 32766).
fn complete(
    transactional_id: &str,
    metadata: &mut TransactionMetadata,
    bugs: &CoordinatorBugs,
    outputs: &mut Vec<CoordinatorOutput>,
) -> Result<(), ErrorCode> {
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
    write(transactional_id, metadata, &transit, bugs, outputs)
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
