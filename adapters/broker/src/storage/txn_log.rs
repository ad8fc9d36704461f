//! The transaction coordinator's durable log: the `__transaction_state` partition of this node
//! (one partition: the node coordinates every transactional id) and its coordinator epoch.
//!
//! Each record the core emits ([`CoordinatorOutput::AppendTransactionLog`]: a
//! [`TransactionLogValue`] keyed by transactional id, `None` for a tombstone) is appended as one
//! frame of a [`RecordFile`] (JSON of the core's record) and flushed per the [`FlushPolicy`]
//! before the answer it guards leaves the broker. On start the file is read (a torn tail is cut),
//! the last record per id wins (`TransactionStateManager.loadTransactionsForTxnTopicPartition`
//! reads the partition into a map the same way), and the coordinator epoch is bumped and
//! persisted: a restart is a new leader election of the partition, whose leader epoch is the
//! coordinator epoch the resumed markers carry (`TransactionCoordinator.onElection`).
//!
//! The file is compacted when it grows past a threshold: rewritten with the last record of each
//! live id (tombstones dropped with the records they delete), atomically, as Kafka's log cleaner
//! compacts the topic (`cleanup.policy=compact`).
//!
//! [`CoordinatorOutput::AppendTransactionLog`]: kafka_eos::coordinator::CoordinatorOutput::AppendTransactionLog

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use kafka_eos::coordinator::TransactionLogValue;
use kafka_eos::types::{CoordinatorEpoch, TimestampMs};
use serde::{Deserialize, Serialize};

use super::record_file::{self, RecordFile};
use super::FlushPolicy;

/// The directory of the transaction log under the data directory (Kafka's partition directory
/// `__transaction_state-0`).
pub const TXN_LOG_DIR: &str = "__transaction_state-0";
/// The log file in [`TXN_LOG_DIR`].
const LOG_FILE: &str = "txn.log";
/// The coordinator epoch file in [`TXN_LOG_DIR`] (Kafka keeps the partition's leader epoch in
/// its `leader-epoch-checkpoint`).
const EPOCH_FILE: &str = "coordinator-epoch";
/// The log size above which it is compacted, unless configured otherwise.
pub const DEFAULT_COMPACT_BYTES: u64 = 1 << 20;

/// One record of the file: the key and the value (a tombstone when `None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    transactional_id: String,
    value: Option<TransactionLogValue>,
}

fn invalid(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// The transaction log of this node.
#[derive(Debug)]
pub struct TxnLog {
    file: RecordFile,
    /// The last record of every live id: what a compaction keeps and what a restart loads.
    latest: BTreeMap<String, TransactionLogValue>,
    /// The size that triggers the next compaction.
    compact_above: u64,
    /// The configured threshold.
    compact_bytes: u64,
    /// Compactions done (for tests and logs).
    compactions: u64,
}

/// What [`TxnLog::open`] recovered.
#[derive(Debug)]
pub struct LoadedTxnLog {
    /// The log, open for appends.
    pub log: TxnLog,
    /// The last record of every id not deleted by a tombstone, by id.
    pub transactions: BTreeMap<String, TransactionLogValue>,
    /// The coordinator epoch of this run: the persisted one plus one (0 on a fresh directory),
    /// already durable.
    pub coordinator_epoch: CoordinatorEpoch,
    /// Records read from the file (before the last-per-id reduction).
    pub records: usize,
    /// Bytes of a torn tail cut off the file.
    pub truncated: u64,
}

impl TxnLog {
    /// Opens the log under `data_dir`, recovers it and starts a new coordinator epoch. An
    /// `InvalidData` error when a whole (CRC-valid) record does not decode or the epoch file is
    /// corrupt: the broker refuses to start rather than lose transactions.
    pub fn open(
        data_dir: &Path,
        flush: FlushPolicy,
        compact_bytes: u64,
    ) -> io::Result<LoadedTxnLog> {
        let dir = data_dir.join(TXN_LOG_DIR);
        let path = dir.join(LOG_FILE);
        let opened = RecordFile::open(&path, flush)?;
        let mut latest = BTreeMap::new();
        for payload in &opened.records {
            let entry: Entry = serde_json::from_slice(payload).map_err(|e| invalid(&path, e))?;
            match entry.value {
                Some(v) => latest.insert(entry.transactional_id, v),
                None => latest.remove(&entry.transactional_id),
            };
        }
        let coordinator_epoch = bump_epoch(&dir.join(EPOCH_FILE))?;
        let log = TxnLog {
            file: opened.file,
            latest: latest.clone(),
            compact_above: compact_bytes,
            compact_bytes,
            compactions: 0,
        };
        Ok(LoadedTxnLog {
            log,
            transactions: latest,
            coordinator_epoch,
            records: opened.records.len(),
            truncated: opened.truncated,
        })
    }

    /// Appends one record (flushed per the policy before returning), then compacts the file if
    /// it grew past the threshold.
    pub fn append(
        &mut self,
        transactional_id: &str,
        value: Option<&TransactionLogValue>,
    ) -> io::Result<()> {
        let entry = Entry {
            transactional_id: transactional_id.to_string(),
            value: value.cloned(),
        };
        let payload = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        self.file.append(&[payload])?;
        match entry.value {
            Some(v) => self.latest.insert(entry.transactional_id, v),
            None => self.latest.remove(&entry.transactional_id),
        };
        if self.file.len() > self.compact_above {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file with the last record of each live id (atomically). The next compaction
    /// waits until the file has grown past the threshold and twice its compacted size, so that
    /// many live ids do not rewrite it on every append.
    pub fn compact(&mut self) -> io::Result<()> {
        let payloads = self
            .latest
            .iter()
            .map(|(id, v)| {
                serde_json::to_vec(&Entry {
                    transactional_id: id.clone(),
                    value: Some(v.clone()),
                })
                .map_err(io::Error::other)
            })
            .collect::<io::Result<Vec<_>>>()?;
        self.file.rewrite(&payloads)?;
        self.compactions += 1;
        self.compact_above = self.compact_bytes.max(self.file.len().saturating_mul(2));
        Ok(())
    }

    /// The periodic flush ([`RecordFile::tick`]).
    pub fn tick(&mut self, now: TimestampMs) -> io::Result<()> {
        self.file.tick(now)
    }

    /// The file's size in bytes.
    pub fn len(&self) -> u64 {
        self.file.len()
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.file.is_empty()
    }

    /// How many compactions this run did.
    pub fn compactions(&self) -> u64 {
        self.compactions
    }
}

/// Reads the persisted coordinator epoch, writes it plus one (0 if none) and returns it.
fn bump_epoch(path: &Path) -> io::Result<CoordinatorEpoch> {
    let previous: Option<CoordinatorEpoch> = match record_file::read_small(path)? {
        None => None,
        Some(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| invalid(path, e))?),
    };
    let epoch = match previous {
        None => 0,
        Some(e) => e
            .checked_add(1)
            .ok_or_else(|| invalid(path, "the coordinator epoch is exhausted"))?,
    };
    record_file::write_atomically(path, epoch.to_string().as_bytes())?;
    Ok(epoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_eos::coordinator::TransactionState;
    use kafka_eos::types::TransactionVersion;

    fn value(producer_id: i64, epoch: i16, state: TransactionState) -> TransactionLogValue {
        TransactionLogValue {
            producer_id,
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch: epoch,
            last_producer_epoch: -1,
            transaction_timeout_ms: 60_000,
            state,
            partitions: Default::default(),
            txn_start_timestamp: -1,
            txn_last_update_timestamp: 5,
            client_transaction_version: TransactionVersion::Tv1,
        }
    }

    #[test]
    fn last_record_per_id_wins_tombstones_delete_and_epochs_grow() {
        let dir = std::env::temp_dir().join(format!("kafka-eos-txn-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut loaded = TxnLog::open(&dir, FlushPolicy::EveryBatch, 300).unwrap();
        assert_eq!(loaded.coordinator_epoch, 0);
        let log = &mut loaded.log;
        for epoch in 0..20 {
            log.append("a", Some(&value(1000, epoch, TransactionState::Empty)))
                .unwrap();
        }
        log.append("b", Some(&value(1001, 0, TransactionState::Empty)))
            .unwrap();
        log.append("b", None).unwrap();
        log.append("c", Some(&value(1002, 3, TransactionState::CompleteCommit)))
            .unwrap();
        assert!(log.compactions() > 0, "the log was compacted");
        drop(loaded);
        let loaded = TxnLog::open(&dir, FlushPolicy::EveryBatch, 300).unwrap();
        assert_eq!(loaded.coordinator_epoch, 1);
        assert_eq!(
            loaded.transactions,
            BTreeMap::from([
                ("a".to_string(), value(1000, 19, TransactionState::Empty)),
                (
                    "c".to_string(),
                    value(1002, 3, TransactionState::CompleteCommit)
                ),
            ])
        );
        assert!(loaded.records < 23, "compaction dropped superseded records");
        drop(loaded);
        assert_eq!(
            TxnLog::open(&dir, FlushPolicy::EveryBatch, 300)
                .unwrap()
                .coordinator_epoch,
            2
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
