//! Read-only classifications of what the coordinator decided, for observers (the broker's
//! metrics). None of them decides anything: they name, in the protocol's terms, a change the
//! coordinator already made.

use super::{TransactionCoordinator, TransactionLogValue, TransactionMetadata, TransactionState};
use crate::types::{ProducerEpoch, ProducerId, TimestampMs, TransactionResult};

/// How a transactional id's producer id and epoch changed between two of its
/// `__transaction_state` records (or coordinator states).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProducerChange {
    /// Same producer id and epoch.
    Unchanged,
    /// Same producer id, higher epoch: an InitProducerId of a known id
    /// (`TransactionMetadata.prepareIncrementProducerEpoch`), a fence before a coordinator-side
    /// abort (`prepareFenceProducerEpoch`: InitProducerId on an open transaction, the timeout
    /// abort), or a TV2 EndTxn (KIP-890). Partitions then reset the producer's sequence.
    EpochBumped,
    /// A producer id not seen before for this transactional id: the first InitProducerId, or a
    /// rotation when the epoch is exhausted (`prepareProducerIdRotation`).
    NewProducerId,
}

impl ProducerChange {
    /// The change from `before` (`None`: the id had no state) to `after`, each a
    /// `(producer id, producer epoch)`. A lower epoch under the same id (never written by a
    /// coordinator) is [`ProducerChange::Unchanged`].
    pub fn between(
        before: Option<(ProducerId, ProducerEpoch)>,
        after: (ProducerId, ProducerEpoch),
    ) -> ProducerChange {
        match before {
            None => ProducerChange::NewProducerId,
            Some((id, _)) if id != after.0 => ProducerChange::NewProducerId,
            Some((_, epoch)) if after.1 > epoch => ProducerChange::EpochBumped,
            Some(_) => ProducerChange::Unchanged,
        }
    }
}

impl TransactionLogValue {
    /// The outcome of the transaction this record completes: `Some` for CompleteCommit and
    /// CompleteAbort (every marker written, `TransactionMarkerChannelManager.tryAppendToLog`),
    /// `None` for every other state.
    pub fn completed(&self) -> Option<TransactionResult> {
        match self.state {
            TransactionState::CompleteCommit => Some(TransactionResult::Commit),
            TransactionState::CompleteAbort => Some(TransactionResult::Abort),
            _ => None,
        }
    }
}

impl TransactionCoordinator {
    /// The open transactions, by transactional id: Ongoing, PrepareCommit or PrepareAbort (the
    /// states `kafka-transactions.sh find-hanging` looks at; an Ongoing one holds back the LSO of
    /// its partitions, a Prepare* one until its markers are written).
    pub fn open_transactions(&self) -> impl Iterator<Item = (&str, &TransactionMetadata)> {
        self.transactions()
            .iter()
            .filter(|(_, m)| m.state == TransactionState::Ongoing || m.state.is_prepare())
            .map(|(id, m)| (id.as_str(), m))
    }

    /// The open transaction ([`open_transactions`](Self::open_transactions)) that started
    /// first: its transactional id and `txn_start_timestamp`
    /// (`TransactionMetadata.txnStartTimestamp`, kept through Prepare*). `None` when no
    /// transaction is open.
    pub fn oldest_open_transaction(&self) -> Option<(&str, TimestampMs)> {
        self.open_transactions()
            .map(|(id, m)| (id, m.txn_start_timestamp))
            .min_by_key(|&(_, start)| start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::{CoordinatorConfig, InitProducerIdRequest};

    #[test]
    fn producer_change_names_allocation_bump_and_nothing() {
        assert_eq!(
            ProducerChange::between(None, (7, 0)),
            ProducerChange::NewProducerId
        );
        assert_eq!(
            ProducerChange::between(Some((7, 3)), (8, 0)),
            ProducerChange::NewProducerId
        );
        assert_eq!(
            ProducerChange::between(Some((7, 3)), (7, 4)),
            ProducerChange::EpochBumped
        );
        assert_eq!(
            ProducerChange::between(Some((7, 3)), (7, 3)),
            ProducerChange::Unchanged
        );
    }

    #[test]
    fn oldest_open_transaction_is_none_until_a_partition_is_added() {
        let mut c = TransactionCoordinator::new(CoordinatorConfig::default(), 1000, 0).unwrap();
        let init = InitProducerIdRequest {
            transactional_id: Some("a".into()),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
            version: 4,
        };
        let (answer, _outputs) = c.handle_init_producer_id(&init, 10);
        let p = answer.unwrap();
        assert_eq!(c.oldest_open_transaction(), None);
        let add = crate::coordinator::AddPartitionsToTxnRequest {
            transactional_id: "a".into(),
            producer_id: p.producer_id,
            producer_epoch: p.producer_epoch,
            partitions: [crate::types::TopicPartition::new("t".to_string(), 0)].into(),
            verify_only: false,
            version: 3,
        };
        let (added, _outputs) = c.handle_add_partitions_to_txn(&add, 25);
        assert_eq!(added, Ok(()));
        assert_eq!(c.oldest_open_transaction(), Some(("a", 25)));
        assert_eq!(c.open_transactions().count(), 1);
    }
}
