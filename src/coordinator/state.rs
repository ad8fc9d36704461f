//! The eight transaction states of the coordinator and their legal-transition table.

use core::fmt;
use core::str::FromStr;
use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;

/// The state of a transactional id at its coordinator (`TransactionState`).
///
/// Declared in Kafka's id order (`TransactionState.id`: Empty = 0 ... PrepareEpochFence = 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TransactionState {
    /// 0: initialised, no transaction open.
    Empty,
    /// 1: partitions have been added; a transaction is open.
    Ongoing,
    /// 2: commit decided and durable; markers are being written.
    PrepareCommit,
    /// 3: abort decided and durable; markers are being written.
    PrepareAbort,
    /// 4: all commit markers written.
    CompleteCommit,
    /// 5: all abort markers written.
    CompleteAbort,
    /// 6: the transactional id is being expired (a tombstone); never persisted as a state.
    Dead,
    /// 7: fencing before a coordinator-side abort; only ever a *pending* state, never completed.
    PrepareEpochFence,
}

impl TransactionState {
    /// Every state, in Kafka's id order.
    pub const ALL: [TransactionState; 8] = [
        TransactionState::Empty,
        TransactionState::Ongoing,
        TransactionState::PrepareCommit,
        TransactionState::PrepareAbort,
        TransactionState::CompleteCommit,
        TransactionState::CompleteAbort,
        TransactionState::Dead,
        TransactionState::PrepareEpochFence,
    ];

    /// Kafka's state name (`TransactionState.name()` in the Java port, e.g. `"PrepareCommit"`).
    pub const fn name(self) -> &'static str {
        match self {
            TransactionState::Empty => "Empty",
            TransactionState::Ongoing => "Ongoing",
            TransactionState::PrepareCommit => "PrepareCommit",
            TransactionState::PrepareAbort => "PrepareAbort",
            TransactionState::CompleteCommit => "CompleteCommit",
            TransactionState::CompleteAbort => "CompleteAbort",
            TransactionState::Dead => "Dead",
            TransactionState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// Kafka's numeric state id as written in `TransactionLogValue.TransactionStatus`.
    pub const fn id(self) -> i8 {
        match self {
            TransactionState::Empty => 0,
            TransactionState::Ongoing => 1,
            TransactionState::PrepareCommit => 2,
            TransactionState::PrepareAbort => 3,
            TransactionState::CompleteCommit => 4,
            TransactionState::CompleteAbort => 5,
            TransactionState::Dead => 6,
            TransactionState::PrepareEpochFence => 7,
        }
    }

    /// Looks a state up by its Kafka name.
    pub fn from_name(name: &str) -> Option<TransactionState> {
        Self::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// The states `self` may be entered from (`TransactionState.validPreviousStates()`,
    /// baseline [2025-10], which adds TV2's "abort without a transaction":
    /// PrepareAbort from Empty, CompleteCommit and CompleteAbort).
    pub const fn valid_previous_states(self) -> &'static [TransactionState] {
        use TransactionState::*;
        match self {
            Empty => &[Empty, CompleteCommit, CompleteAbort],
            Ongoing => &[Ongoing, Empty, CompleteCommit, CompleteAbort],
            PrepareCommit => &[Ongoing],
            PrepareAbort => &[
                Ongoing,
                PrepareEpochFence,
                Empty,
                CompleteCommit,
                CompleteAbort,
            ],
            CompleteCommit => &[PrepareCommit],
            CompleteAbort => &[PrepareAbort],
            Dead => &[Empty, CompleteAbort, CompleteCommit],
            PrepareEpochFence => &[Ongoing],
        }
    }

    /// Whether `from -> to` is a legal transition (`TransactionState.validPreviousStates`;
    /// `prepareTransitionTo` throws IllegalStateException for every other pair).
    pub fn is_valid_transition(from: TransactionState, to: TransactionState) -> bool {
        to.valid_previous_states().contains(&from)
    }

    /// Checks `from -> to` against the table. An illegal pair is Kafka's IllegalStateException,
    /// which reaches a client as `UNKNOWN_SERVER_ERROR` (`Errors.forException`); the core returns
    /// that value instead of panicking.
    pub fn check_transition(from: TransactionState, to: TransactionState) -> Result<(), ErrorCode> {
        if Self::is_valid_transition(from, to) {
            Ok(())
        } else {
            Err(ErrorCode::UnknownServerError)
        }
    }

    /// Whether a transactional id in this state may be expired (`TransactionState.isExpirationAllowed`):
    /// Empty, CompleteCommit and CompleteAbort.
    pub const fn is_expiration_allowed(self) -> bool {
        matches!(
            self,
            TransactionState::Empty
                | TransactionState::CompleteCommit
                | TransactionState::CompleteAbort
        )
    }

    /// PrepareCommit or PrepareAbort: the outcome is durable and markers are being written.
    pub const fn is_prepare(self) -> bool {
        matches!(
            self,
            TransactionState::PrepareCommit | TransactionState::PrepareAbort
        )
    }

    /// CompleteCommit or CompleteAbort.
    pub const fn is_complete(self) -> bool {
        matches!(
            self,
            TransactionState::CompleteCommit | TransactionState::CompleteAbort
        )
    }
}

impl fmt::Display for TransactionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TransactionState {
    type Err = UnknownTransactionState;

    /// Parses Kafka's state name (`"Empty"`, `"PrepareCommit"`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or_else(|| UnknownTransactionState(s.to_string()))
    }
}

/// A state name that is not one of Kafka's eight transaction states.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown transaction state {0:?}")]
pub struct UnknownTransactionState(pub String);
