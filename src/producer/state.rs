//! The transaction states (Kafka's `TransactionManager.State`) with their legal transitions,
//! the error classes, and how the producer moves between states: application transitions,
//! Sender-thread transitions, and the routing of an error to ABORTABLE_ERROR or FATAL_ERROR
//! (`TransactionManager.transitionTo`, `transitionToAbortableError`, `transitionToFatalError`,
//! `maybeTransitionToErrorState`).

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;

use super::{
    BatchError, Call, OffsetsError, Outstanding, Producer, ProducerCallError, ProducerEvent,
    ProducerOutput, TxnRequest,
};

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

    /// `TransactionManager.State.isTransitionValid(source, target)` of Kafka trunk as of
    /// 2025-10 (the 4.2 line).
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

/// Whether `e` makes the producer fatal wherever it comes from
/// (`TransactionManager.maybeTransitionToErrorState`).
pub(super) fn is_fatal_class(e: ErrorCode) -> bool {
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
    /// `needToTriggerEpochBumpFromClient`.
    pub(super) fn need_client_bump(&self) -> bool {
        self.config.coordinator_supports_epoch_bump && !self.tv2()
    }

    /// `canHandleAbortableError`.
    pub(super) fn can_handle_abortable(&self) -> bool {
        self.config.coordinator_supports_epoch_bump || self.tv2()
    }

    /// Whether a commit or abort is in progress (COMMITTING_TRANSACTION or
    /// ABORTING_TRANSACTION).
    fn is_completing(&self) -> bool {
        matches!(
            self.state,
            TransactionState::CommittingTransaction | TransactionState::AbortingTransaction
        )
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

    pub(super) fn check_call(&self, call: Call) -> Result<(), ProducerCallError> {
        self.fail_with_error().map_err(|e| match e {
            ProducerCallError::IllegalState { state, .. } => {
                ProducerCallError::IllegalState { call, state }
            }
            other => other,
        })
    }

    pub(super) fn set_state(&mut self, target: TransactionState, out: &mut ProducerOutput<P>) {
        out.transitions.push((self.state, target));
        self.state = target;
    }

    /// A transition requested by an application call: an invalid one is refused and changes
    /// nothing (testForegroundInvalidStateTransitionIsRecoverable).
    pub(super) fn foreground(
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
    pub(super) fn background(&mut self, target: TransactionState, out: &mut ProducerOutput<P>) {
        if self.state.is_transition_valid(target) {
            self.set_state(target, out);
        } else {
            self.poisoned = true;
            self.enter_fatal(ErrorCode::UnknownServerError, out);
        }
    }

    pub(super) fn enter_fatal(&mut self, error: ErrorCode, out: &mut ProducerOutput<P>) {
        self.set_state(TransactionState::FatalError, out);
        self.last_error = Some(error);
        self.drop_txn_queue(error, out);
        // An offsets call in flight fails too: its answer is no longer looked at.
        if let Some(Outstanding::Txn(
            TxnRequest::AddOffsets { group, .. } | TxnRequest::TxnOffsetCommit { group, .. },
        )) = self.txn_in_flight.and_then(|id| self.outstanding.get(&id))
        {
            out.events.push(ProducerEvent::OffsetsFailed {
                group_id: group.group_id.clone(),
                error: OffsetsError::Kafka(error),
            });
        }
        // A commit/abort waiting for its epoch bump fails with the error.
        self.completing_result = None;
        out.events.push(ProducerEvent::Error(error));
        self.fail_undrained(BatchError::Kafka(error), out);
    }

    /// `transitionToAbortableError`: a no-op while aborting.
    pub(super) fn enter_abortable(&mut self, error: ErrorCode, out: &mut ProducerOutput<P>) {
        if self.state == TransactionState::AbortingTransaction
            || self.state == TransactionState::FatalError
        {
            return;
        }
        self.background(TransactionState::AbortableError, out);
        if self.state == TransactionState::AbortableError {
            // maybeTerminateRequestWithError: queued transactional requests fail with the error.
            self.drop_txn_queue(error, out);
            self.last_error = Some(error);
            self.completing_result = None;
            out.events.push(ProducerEvent::Error(error));
        }
    }

    /// `abortableErrorIfPossible`.
    pub(super) fn enter_abortable_if_possible(
        &mut self,
        error: ErrorCode,
        out: &mut ProducerOutput<P>,
    ) {
        if self.can_handle_abortable() {
            if self.need_client_bump() {
                self.epoch_bump_required = true;
            }
            self.enter_abortable(error, out);
        } else {
            self.enter_fatal(error, out);
        }
    }

    /// `handleFailedBatch` for a transactional producer, whose failed (or expired) batch makes
    /// the transaction abortable: the client epoch bump is required when the client must
    /// trigger it and no commit or abort is in progress; `may_bump` is false only under the
    /// M-T4 switch.
    pub(super) fn enter_abortable_for_batch(
        &mut self,
        error: ErrorCode,
        may_bump: bool,
        out: &mut ProducerOutput<P>,
    ) {
        if self.config.bugs.commit_despite_failed_send {
            return; // KAFKA-9279: the failure reaches the callback only
        }
        if may_bump && self.need_client_bump() && !self.is_completing() {
            self.epoch_bump_required = true;
        }
        self.enter_abortable(error, out);
    }
}
