//! The coordinator's read-only admin answers: ListTransactions (KIP-664,
//! `TransactionStateManager.listTransactionStates`) and DescribeTransactions
//! (`TransactionCoordinator.handleDescribeTransactions`), what `kafka-transactions.sh list`,
//! `describe` and `find-hanging` use.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{TransactionCoordinator, TransactionState};
use crate::error::ErrorCode;
use crate::types::{ProducerEpoch, ProducerId, TimestampMs};

/// The filters of a ListTransactions request; an empty list or a negative duration does not
/// filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ListTransactionsFilter {
    /// `StateFilters`: state names as Kafka spells them ([`TransactionState::name`]).
    pub states: Vec<String>,
    /// `ProducerIdFilters`.
    pub producer_ids: Vec<ProducerId>,
    /// `DurationFilter` (v1+, -1 = none): only transactions running longer than this many ms.
    pub duration_ms: i64,
}

/// One entry of a ListTransactions answer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TransactionListing {
    /// The transactional id.
    pub transactional_id: String,
    /// Its current producer id.
    pub producer_id: ProducerId,
    /// Its state.
    pub state: TransactionState,
}

/// The ListTransactions answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TransactionListings {
    /// State filters that name no state (`UnknownStateFilters`).
    pub unknown_state_filters: Vec<String>,
    /// The transactions that pass every filter, by transactional id.
    pub transactions: Vec<TransactionListing>,
}

/// The DescribeTransactions answer for one transactional id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TransactionDescription {
    /// The current producer id.
    pub producer_id: ProducerId,
    /// The current producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// The state.
    pub state: TransactionState,
    /// `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// When the first partition was added (-1 when no transaction has started).
    pub start_time_ms: TimestampMs,
    /// The partitions of the transaction (during Prepare*, those without their marker yet),
    /// by topic.
    pub partitions: BTreeMap<String, BTreeSet<i32>>,
}

impl TransactionCoordinator {
    /// ListTransactions (`TransactionStateManager.listTransactionStates`): every transactional
    /// id except those in Dead (being expired), kept when the producer-id filter is empty or
    /// holds its producer id, the state filter is empty or names its state, and the duration
    /// filter is negative or `now - txn_start_timestamp` exceeds it. A state filter naming no
    /// state is reported in `unknown_state_filters` (and matches nothing: filters that are all
    /// unknown select no transaction).
    pub fn list_transactions(
        &self,
        filter: &ListTransactionsFilter,
        now: TimestampMs,
    ) -> TransactionListings {
        let mut unknown_state_filters = Vec::new();
        let mut states = BTreeSet::new();
        for name in &filter.states {
            match TransactionState::from_name(name) {
                Some(s) => {
                    states.insert(s);
                }
                None => unknown_state_filters.push(name.clone()),
            }
        }
        let transactions = self
            .transactions()
            .iter()
            .filter(|(_, m)| {
                m.state != TransactionState::Dead
                    && (filter.producer_ids.is_empty()
                        || filter.producer_ids.contains(&m.producer_id))
                    && (filter.states.is_empty() || states.contains(&m.state))
                    && (filter.duration_ms < 0
                        || now.saturating_sub(m.txn_start_timestamp) > filter.duration_ms)
            })
            .map(|(id, m)| TransactionListing {
                transactional_id: id.clone(),
                producer_id: m.producer_id,
                state: m.state,
            })
            .collect();
        TransactionListings {
            unknown_state_filters,
            transactions,
        }
    }

    /// DescribeTransactions for one id (`TransactionCoordinator.handleDescribeTransactions`): an
    /// empty id is `INVALID_REQUEST`; an unknown id, or one in Dead (being expired), is
    /// `TRANSACTIONAL_ID_NOT_FOUND`.
    pub fn describe_transaction(
        &self,
        transactional_id: &str,
    ) -> Result<TransactionDescription, ErrorCode> {
        if transactional_id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        let m = self
            .transaction(transactional_id)
            .filter(|m| m.state != TransactionState::Dead)
            .ok_or(ErrorCode::TransactionalIdNotFound)?;
        let mut partitions: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
        for tp in &m.partitions {
            partitions
                .entry(tp.topic.to_string())
                .or_default()
                .insert(tp.partition);
        }
        Ok(TransactionDescription {
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            state: m.state,
            timeout_ms: m.txn_timeout_ms,
            start_time_ms: m.txn_start_timestamp,
            partitions,
        })
    }
}
