//! Start-up recovery of the coordinators from the data directory ([`crate::storage`]): what the
//! storage read is handed back to the core, which decides what it means.
//!
//! In Kafka's order of a coordinator failover:
//! 1. the coordinator epoch is the persisted one plus one (`TransactionCoordinator.onElection`
//!    with the partition's new leader epoch) and the core becomes coordinator at it
//!    ([`TransactionCoordinator::become_coordinator`](kafka_eos::coordinator::TransactionCoordinator::become_coordinator));
//! 2. every `__consumer_offsets` partition's batches are replayed
//!    ([`GroupCoordinator::load`], `GroupMetadataManager.loadGroupsAndOffsets` /
//!    `CoordinatorLoaderImpl`): committed offsets come back, transactional offsets stay pending
//!    until their transaction's marker;
//! 3. the last record of every transactional id is loaded
//!    ([`TransactionCoordinator::load_transaction`](kafka_eos::coordinator::TransactionCoordinator::load_transaction),
//!    `loadTransactionsForTxnTopicPartition`): a PrepareCommit/PrepareAbort resumes its markers
//!    at the new epoch (`TransactionMarkerChannelManager.addTxnMarkersToSend`), which are sent
//!    at once to the recovered partitions, and completes; an Ongoing transaction keeps its start
//!    time and is aborted by the coordinator's timeout (`abortTimedOutTransactions`) unless its
//!    producer ends it first.

use kafka_eos::coordinator::TransactionState;
use kafka_eos::group::{GroupCoordinator, GroupCoordinatorConfig};
use kafka_eos::messages::CONSUMER_OFFSETS_TOPIC;
use kafka_eos::types::{TimestampMs, TopicPartition};

use super::Broker;
use crate::storage::coordinator_store::Recovered;

impl Broker {
    /// Loads what the storage recovered into the core (see the module documentation) and keeps
    /// the store for the broker's hooks.
    pub(super) fn recover(&mut self, recovered: Recovered, now: TimestampMs) -> Result<(), String> {
        let Recovered {
            store,
            coordinator_epoch,
            transactions,
            offsets,
            txn_records,
            truncated,
            first_producer_id,
        } = recovered;
        self.store = Some(store);
        self.coordinator
            .become_coordinator(coordinator_epoch)
            .map_err(|e| e.to_string())?;
        let mut batches = 0;
        for (partition, log) in offsets {
            let config = GroupCoordinatorConfig {
                offsets_partition: TopicPartition::new(CONSUMER_OFFSETS_TOPIC, partition),
                ..GroupCoordinatorConfig::default()
            };
            batches += log.len();
            let coordinator = GroupCoordinator::load(config, &log)
                .map_err(|e| format!("{CONSUMER_OFFSETS_TOPIC}-{partition}: {e}"))?;
            self.groups.insert(partition, coordinator);
        }
        let loaded = transactions.len();
        let resumed = transactions
            .values()
            .filter(|v| v.state.is_prepare())
            .count();
        let ongoing = transactions
            .values()
            .filter(|v| v.state == TransactionState::Ongoing)
            .count();
        let mut outputs = Vec::new();
        for (id, value) in &transactions {
            outputs.extend(
                self.coordinator
                    .load_transaction(id, Some(value), now)
                    .map_err(|e| e.to_string())?,
            );
        }
        // The metrics classify a loaded id's next record against its loaded state.
        self.stats.eos.seed(&self.coordinator);
        // Member ids stay unique across restarts (Kafka's are `clientId-UUID`): this run's
        // counter starts at its start time.
        self.next_member = u64::try_from(now).unwrap_or(0);
        tracing::info!(
            "recovered: coordinator epoch {coordinator_epoch}, {loaded} transactional ids from \
             {txn_records} records ({resumed} Prepare* resumed, {ongoing} Ongoing), {batches} \
             offsets batches, first producer id {first_producer_id}, {truncated} torn bytes cut"
        );
        self.apply_coordinator_outputs(outputs, now);
        Ok(())
    }
}
