//! The coordinators' durable state together: the transaction log ([`TxnLog`]), the producer-id
//! block ([`ProducerIdBlock`]) and the offsets partitions' logs ([`OffsetsLogs`]). The broker
//! opens it at start (what it recovered goes back to the core, `broker/recovery.rs`) and calls
//! it from its hooks before an answer is released.
//!
//! A write that fails halts the broker: the core already applied the step, and a single-node
//! broker has no other copy; Kafka halts the same way when its last log directory fails
//! (`LogManager.handleLogDirFailure`: "Shutdown broker because all log dirs ... have failed",
//! `Exit.halt(1)`), so that nothing unpersisted is ever answered.

use std::collections::BTreeMap;
use std::io;

use kafka_eos::coordinator::TransactionLogValue;
use kafka_eos::group::OffsetsBatch;
use kafka_eos::types::{CoordinatorEpoch, ProducerId, TimestampMs};

use super::offsets_log::OffsetsLogs;
use super::producer_ids::ProducerIdBlock;
use super::txn_log::{TxnLog, DEFAULT_COMPACT_BYTES};
use super::StorageConfig;

/// The coordinators' storage of a broker with a data directory.
#[derive(Debug)]
pub struct CoordinatorStore {
    txn_log: TxnLog,
    producer_ids: ProducerIdBlock,
    offsets: OffsetsLogs,
}

/// What [`CoordinatorStore::open`] recovered, for the core to load.
#[derive(Debug)]
pub struct Recovered {
    /// The store, open for appends.
    pub store: CoordinatorStore,
    /// The first producer id of this run (after every persisted block).
    pub first_producer_id: ProducerId,
    /// The coordinator epoch of this run (bumped and persisted).
    pub coordinator_epoch: CoordinatorEpoch,
    /// The last transaction-log record of every live transactional id.
    pub transactions: BTreeMap<String, TransactionLogValue>,
    /// Every offsets partition's batches, in log order.
    pub offsets: BTreeMap<i32, Vec<OffsetsBatch>>,
    /// Transaction-log records read (before the last-per-id reduction).
    pub txn_records: usize,
    /// Bytes of torn tails cut off (transaction log and offsets logs).
    pub truncated: u64,
}

/// Stops the process after a storage write failed (see the module documentation).
fn halt(what: &str, error: &io::Error) -> ! {
    tracing::error!("storage failure ({what}): {error}; halting");
    eprintln!("kafka-eos-broker: storage failure ({what}): {error}; halting");
    std::process::exit(1)
}

impl CoordinatorStore {
    /// Opens and recovers the coordinators' storage; `None` for an in-memory broker
    /// (`data_dir: None`). `configured_first_producer_id` is the broker's first producer id.
    pub fn open(
        config: &StorageConfig,
        configured_first_producer_id: ProducerId,
    ) -> io::Result<Option<Recovered>> {
        let Some(dir) = &config.data_dir else {
            return Ok(None);
        };
        std::fs::create_dir_all(dir)?;
        let producer_ids = ProducerIdBlock::open(dir)?;
        let loaded = TxnLog::open(dir, config.flush, DEFAULT_COMPACT_BYTES)?;
        let offsets = OffsetsLogs::open(dir, config.flush)?;
        Ok(Some(Recovered {
            first_producer_id: producer_ids.first_producer_id(configured_first_producer_id),
            coordinator_epoch: loaded.coordinator_epoch,
            transactions: loaded.transactions,
            offsets: offsets.batches,
            txn_records: loaded.records,
            truncated: loaded.truncated + offsets.truncated,
            store: CoordinatorStore {
                txn_log: loaded.log,
                producer_ids,
                offsets: offsets.logs,
            },
        }))
    }

    /// Makes the current producer-id block's end durable if the core claimed a new block.
    pub fn persist_producer_id_block(&mut self, block_end: ProducerId) {
        if let Err(e) = self.producer_ids.persist(block_end) {
            halt("producer-id block", &e)
        }
    }

    /// Appends one `__transaction_state` record (flushed per the policy).
    pub fn append_transaction(
        &mut self,
        transactional_id: &str,
        value: Option<&TransactionLogValue>,
    ) {
        if let Err(e) = self.txn_log.append(transactional_id, value) {
            halt("transaction log", &e)
        }
    }

    /// Appends a group coordinator's batches to its offsets partition (flushed per the policy).
    pub fn append_offsets(&mut self, partition: i32, batches: &[&OffsetsBatch]) {
        if let Err(e) = self.offsets.append(partition, batches) {
            halt("offsets log", &e)
        }
    }

    /// The periodic flush under [`FlushPolicy::IntervalMs`](super::FlushPolicy::IntervalMs).
    pub fn tick(&mut self, now: TimestampMs) {
        if let Err(e) = self.txn_log.tick(now).and_then(|()| self.offsets.tick(now)) {
            halt("flush", &e)
        }
    }
}
