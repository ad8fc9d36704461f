//! The per-transactional-id metadata, its durable form, and the one function that changes it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::state::TransactionState;
use crate::error::ErrorCode;
use crate::types::{
    CoordinatorEpoch, ProducerEpoch, ProducerId, TimestampMs, TopicPartition, TransactionResult,
    TransactionVersion, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};

/// What a coordinator holds for one transactional id (`TransactionMetadata`).
///
/// Fields are public to read; only the coordinator's handlers change them, and every change of
/// `state` goes through [`TransactionMetadata::transition_to`], which checks Kafka's table.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TransactionMetadata {
    /// The current producer id.
    pub producer_id: ProducerId,
    /// `prevProducerId`: the producer id before the last transition (each transition sets it to
    /// the id it started from, so it differs from `producer_id` only after a rotation).
    pub previous_producer_id: ProducerId,
    /// TV2 only: the id allocated at an epoch overflow during Prepare*, which becomes
    /// `producer_id` at completion (-1: none).
    pub next_producer_id: ProducerId,
    /// The current producer epoch (-1 only for metadata never written).
    pub producer_epoch: ProducerEpoch,
    /// The previous epoch: detects KIP-360 InitProducerId retries and TV2 EndTxn bumps. Kafka does
    /// not persist it (KAFKA-20357), so it is -1 after a failover.
    pub last_producer_epoch: ProducerEpoch,
    /// `transaction.timeout.ms` from InitProducerId.
    pub txn_timeout_ms: i32,
    /// The current state.
    pub state: TransactionState,
    /// The partitions of the current transaction; during Prepare* those whose marker is not yet
    /// written.
    pub partitions: BTreeSet<TopicPartition>,
    /// When the first partition was added (or a TV2 empty abort happened); -1 after InitProducerId.
    pub txn_start_timestamp: TimestampMs,
    /// The time of the last transition; drives transactional-id expiration.
    pub txn_last_update_timestamp: TimestampMs,
    /// The transaction version of the last transition (`clientTransactionVersion`).
    pub client_transaction_version: TransactionVersion,
    /// `hasFailedEpochFence`: a TV0/1 fence (`prepareFenceProducerEpoch`, from InitProducerId on
    /// an Ongoing transaction or the timeout abort) bumped the epoch in memory and its PrepareAbort
    /// append then failed (`TransactionCoordinator.endTransactionWithTV1`'s append callback). The
    /// bumped epoch stays, and the next fence does not bump again; `prepareComplete` (a durable
    /// Prepare*) clears it.
    pub has_failed_epoch_fence: bool,
    /// The target state of a transaction-log append in flight for this id: Kafka's `pendingState`
    /// from `prepareTransitionTo` until the callback of `appendTransactionToLog` (a staged
    /// handler until [`complete_append`](super::TransactionCoordinator::complete_append)).
    /// While it is set, requests for the id answer `CONCURRENT_TRANSACTIONS`. Dead for a pending
    /// tombstone (`prepareDead`), Complete* for a pending completion.
    #[serde(default)]
    pub pending_transition: Option<TransactionState>,
    /// The pending transition to Complete* of a running coordinator: present from the Prepare*
    /// write until the last marker is acknowledged (Kafka's `pendingState` = Complete* while
    /// markers are in flight).
    pub pending_completion: Option<PendingCompletion>,
}

/// A Prepare* transaction waiting for its markers (the `TxnTransitMetadata` that
/// `prepareComplete` built, queued with the markers by `TransactionMarkerChannelManager`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PendingCompletion {
    /// The coordinator epoch the markers carry.
    pub coordinator_epoch: CoordinatorEpoch,
    /// The last-update time the completion will record: the time of the Prepare* write, or the
    /// load time for an entry loaded in Prepare*.
    pub completion_timestamp: TimestampMs,
    /// The markers were dropped (a partition answered INVALID_PRODUCER_EPOCH or
    /// TRANSACTION_COORDINATOR_FENCED, or, with a bug switch, they were never resumed): this
    /// coordinator will not complete the transaction; only a failover resumes it.
    pub markers_abandoned: bool,
}

/// One record of `__transaction_state` (`TransactionLogValue` v0/v1): the durable form of a
/// [`TransactionMetadata`]. Also the immutable "transit" a transition is computed as
/// (`TxnTransitMetadata` has the same fields).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TransactionLogValue {
    /// `ProducerId`.
    pub producer_id: ProducerId,
    /// `PreviousProducerId` (tagged field).
    pub previous_producer_id: ProducerId,
    /// `NextProducerId` (tagged field).
    pub next_producer_id: ProducerId,
    /// `ProducerEpoch`.
    pub producer_epoch: ProducerEpoch,
    /// The last producer epoch. Kafka does not persist it (KAFKA-20357): records this coordinator
    /// writes carry -1 here. A loader may set it to rebuild metadata as Kafka's unit tests do.
    pub last_producer_epoch: ProducerEpoch,
    /// `TransactionTimeoutMs`.
    pub transaction_timeout_ms: i32,
    /// `TransactionStatus`. Never Dead or PrepareEpochFence (a Dead id is a tombstone).
    pub state: TransactionState,
    /// `TransactionPartitions`.
    pub partitions: BTreeSet<TopicPartition>,
    /// `TransactionStartTimestampMs`.
    pub txn_start_timestamp: TimestampMs,
    /// `TransactionLastUpdateTimestampMs`.
    pub txn_last_update_timestamp: TimestampMs,
    /// `ClientTransactionVersion` (tagged field).
    pub client_transaction_version: TransactionVersion,
}

impl TransactionMetadata {
    /// Metadata created by the first InitProducerId of a transactional id
    /// (`TransactionCoordinator.handleInitProducerId`: epoch -1, state Empty, TV0), before its
    /// first write.
    pub fn new_empty(producer_id: ProducerId, txn_timeout_ms: i32, now: TimestampMs) -> Self {
        TransactionMetadata {
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            txn_timeout_ms,
            state: TransactionState::Empty,
            partitions: BTreeSet::new(),
            txn_start_timestamp: -1,
            txn_last_update_timestamp: now,
            client_transaction_version: TransactionVersion::Tv0,
            has_failed_epoch_fence: false,
            pending_transition: None,
            pending_completion: None,
        }
    }

    /// Metadata rebuilt from a transaction-log record (`TransactionLog.readTxnRecordValue`), with
    /// no pending transition.
    pub fn from_log_value(value: &TransactionLogValue) -> Self {
        TransactionMetadata {
            producer_id: value.producer_id,
            previous_producer_id: value.previous_producer_id,
            next_producer_id: value.next_producer_id,
            producer_epoch: value.producer_epoch,
            last_producer_epoch: value.last_producer_epoch,
            txn_timeout_ms: value.transaction_timeout_ms,
            state: value.state,
            partitions: value.partitions.clone(),
            txn_start_timestamp: value.txn_start_timestamp,
            txn_last_update_timestamp: value.txn_last_update_timestamp,
            client_transaction_version: value.client_transaction_version,
            has_failed_epoch_fence: false,
            pending_transition: None,
            pending_completion: None,
        }
    }

    /// The current fields as a transit (`prepareNoTransit`): the starting point from which a
    /// handler builds the next state. `previous_producer_id` is set to the current producer id, as
    /// `prepareTransitionTo` does for every transition.
    pub fn transit(&self) -> TransactionLogValue {
        TransactionLogValue {
            producer_id: self.producer_id,
            previous_producer_id: self.producer_id,
            next_producer_id: self.next_producer_id,
            producer_epoch: self.producer_epoch,
            last_producer_epoch: self.last_producer_epoch,
            transaction_timeout_ms: self.txn_timeout_ms,
            state: self.state,
            partitions: self.partitions.clone(),
            txn_start_timestamp: self.txn_start_timestamp,
            txn_last_update_timestamp: self.txn_last_update_timestamp,
            client_transaction_version: self.client_transaction_version,
        }
    }

    /// The pending target state (`pendingState`): the target of an append in flight
    /// ([`pending_transition`](Self::pending_transition)), else CompleteCommit/CompleteAbort while
    /// markers are being written, else none.
    pub fn pending_state(&self) -> Option<TransactionState> {
        self.pending_transition.or_else(|| {
            self.pending_completion.map(|_| match self.state {
                TransactionState::PrepareCommit => TransactionState::CompleteCommit,
                _ => TransactionState::CompleteAbort,
            })
        })
    }

    /// `pendingTransitionInProgress`: an append is in flight or markers are being written.
    pub fn pending_transition_in_progress(&self) -> bool {
        self.pending_transition.is_some() || self.pending_completion.is_some()
    }

    /// `isProducerEpochExhausted`: epoch >= 32766 (`Short.MAX_VALUE - 1`).
    pub fn is_producer_epoch_exhausted(&self) -> bool {
        self.is_producer_epoch_exhausted_at(crate::types::EXHAUSTED_EPOCH)
    }

    /// `isProducerEpochExhausted` with the threshold as a parameter: epoch >= `exhausted_epoch`
    /// (the coordinator's [`exhausted_epoch`](super::CoordinatorConfig::exhausted_epoch), a model
    /// parameter standing for `Short.MAX_VALUE - 1`).
    pub fn is_producer_epoch_exhausted_at(&self, exhausted_epoch: ProducerEpoch) -> bool {
        self.producer_epoch >= exhausted_epoch
    }

    /// `isDistributedTwoPhaseCommitTxn` (KIP-939): a timeout of `i32::MAX` marks a two-phase-commit
    /// transaction, to which transaction timeouts do not apply.
    pub fn is_distributed_two_phase_commit_txn(&self) -> bool {
        self.txn_timeout_ms == i32::MAX
    }

    /// The result the markers of a Prepare* state carry.
    pub fn marker_result(&self) -> Option<TransactionResult> {
        match self.state {
            TransactionState::PrepareCommit => Some(TransactionResult::Commit),
            TransactionState::PrepareAbort => Some(TransactionResult::Abort),
            _ => None,
        }
    }

    /// The one function that changes a metadata's state (`prepareTransitionTo` +
    /// `completeTransitionTo`): checks the legal-transition table, that a
    /// pending transition is only completed to its own target (and that no other transition
    /// starts while one is pending), that the new producer id and epoch are not negative, and that
    /// Dead/PrepareEpochFence are never completed; then copies the transit's fields.
    ///
    /// Every violation is Kafka's IllegalStateException / IllegalArgumentException and is answered
    /// with `UNKNOWN_SERVER_ERROR`, leaving the metadata unchanged.
    pub fn transition_to(&mut self, transit: &TransactionLogValue) -> Result<(), ErrorCode> {
        TransactionState::check_transition(self.state, transit.state)?;
        if matches!(
            transit.state,
            TransactionState::Dead | TransactionState::PrepareEpochFence
        ) {
            return Err(ErrorCode::UnknownServerError);
        }
        match self.pending_state() {
            Some(pending) if pending != transit.state => return Err(ErrorCode::UnknownServerError),
            None if transit.state.is_complete() => return Err(ErrorCode::UnknownServerError),
            _ => {}
        }
        if transit.producer_id < 0 || transit.producer_epoch < 0 {
            return Err(ErrorCode::UnknownServerError);
        }
        self.producer_id = transit.producer_id;
        self.previous_producer_id = transit.previous_producer_id;
        self.next_producer_id = transit.next_producer_id;
        self.producer_epoch = transit.producer_epoch;
        self.last_producer_epoch = transit.last_producer_epoch;
        self.txn_timeout_ms = transit.transaction_timeout_ms;
        self.state = transit.state;
        self.partitions = transit.partitions.clone();
        self.txn_start_timestamp = transit.txn_start_timestamp;
        self.txn_last_update_timestamp = transit.txn_last_update_timestamp;
        self.client_transaction_version = transit.client_transaction_version;
        // completeTransitionTo: the append is done.
        self.pending_transition = None;
        if transit.state.is_complete() {
            self.pending_completion = None;
            // prepareComplete cleared it when the Prepare* became durable.
            self.has_failed_epoch_fence = false;
        }
        Ok(())
    }
}

impl TransactionLogValue {
    /// The record as written to `__transaction_state`: the last producer epoch is not persisted
    /// (KAFKA-20357) and is written as -1.
    pub fn persisted(mut self) -> Self {
        self.last_producer_epoch = NO_PRODUCER_EPOCH;
        self
    }
}
