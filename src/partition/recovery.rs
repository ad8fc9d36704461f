//! Recovery of a partition leader after a restart: a producer-state snapshot plus the log.
//!
//! Kafka's classes: `ProducerStateManager.takeSnapshot` / `writeSnapshot` (what a snapshot
//! holds), `ProducerStateManager.truncateAndReload` / `loadFromSnapshot` (loading the latest
//! snapshot, dropping expired producers), `UnifiedLog.rebuildProducerState` /
//! `LogLoader.recoverLog` (replaying the log from the snapshot's offset) and `ProducerAppendInfo`
//! with `AppendOrigin.REPLICATION` (the replay validates nothing: no sequence, duplicate,
//! verification or epoch check; a stale producer or coordinator epoch is only logged by Kafka).
//! Control batches complete transactions, which fills the aborted-transaction index and moves
//! the last stable offset, exactly as the leader's own [`PartitionLeader::write_marker`] does.
//!
//! The state that is not persisted by Kafka is not recovered either: KIP-890 verification
//! entries (`VerificationStateEntry` lives in memory only) start empty.

use serde::{Deserialize, Serialize};

use super::{
    AbortedTxn, BatchContent, BatchMetadata, LogBatch, PartitionConfig, PartitionLeader,
    ProducerStateEntry, TxnMarker, TxnMetadata,
};
use crate::types::{
    increment_sequence, CoordinatorEpoch, Offset, ProducerEpoch, ProducerId, TimestampMs,
    TransactionResult, TransactionVersion,
};

/// One producer of a [`ProducerStateSnapshot`] (a `ProducerStateEntry` as
/// `ProducerStateManager.writeSnapshot` stores it: producer id, epoch, coordinator epoch, last
/// timestamp, current transaction's first offset and the retained batches' last sequence, last
/// offset, offset delta and timestamp).
///
/// Kafka's snapshot keeps only the last batch's metadata, so after a reload its duplicate cache
/// holds one batch (`ProducerStateManagerTest.testRecoverFromSnapshotUnfinishedTransaction`);
/// this one keeps every retained batch (at most 5), so a reload changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProducerSnapshotEntry {
    /// The producer id.
    pub producer_id: ProducerId,
    /// The producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// The coordinator epoch of the last marker (-1 if none).
    pub coordinator_epoch: CoordinatorEpoch,
    /// The last timestamp (expiry looks at it).
    pub last_timestamp: TimestampMs,
    /// The first offset of the open transaction, if any.
    pub current_txn_first_offset: Option<Offset>,
    /// The retained batches, oldest first.
    pub batches: Vec<BatchMetadata>,
}

impl ProducerSnapshotEntry {
    fn of(entry: &ProducerStateEntry) -> Self {
        ProducerSnapshotEntry {
            producer_id: entry.producer_id,
            producer_epoch: entry.producer_epoch,
            coordinator_epoch: entry.coordinator_epoch,
            last_timestamp: entry.last_timestamp,
            current_txn_first_offset: entry.current_txn_first_offset,
            batches: entry.batches().to_vec(),
        }
    }

    /// `ProducerStateManager.loadProducerEntry`: the entry with its retained batches.
    fn entry(&self) -> ProducerStateEntry {
        let mut entry = ProducerStateEntry::empty(self.producer_id);
        entry.maybe_update_producer_epoch(self.producer_epoch);
        for batch in &self.batches {
            entry.add_batch(self.producer_epoch, *batch);
        }
        entry.coordinator_epoch = self.coordinator_epoch;
        entry.last_timestamp = self.last_timestamp;
        entry.current_txn_first_offset = self.current_txn_first_offset;
        entry
    }
}

/// The producer state of a partition as of a log offset (`ProducerStateManager.takeSnapshot`
/// writes it to `<offset>.snapshot`): every producer entry after the batches below `offset`.
/// The ongoing transactions are the entries' open transactions (`loadProducerEntry`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProducerStateSnapshot {
    /// The log end offset the state is for (`lastMapOffset`, the snapshot file's name).
    pub offset: Offset,
    /// The producers, by ascending producer id.
    pub producers: Vec<ProducerSnapshotEntry>,
}

/// A log and snapshot that cannot be recovered together (the adapter truncates the log before
/// the first bad batch, as `LogSegment.recover` does, or picks an older snapshot).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    /// A batch does not start at or after the previous batch's end, or ends before it starts
    /// (Kafka's offset index refuses it: `InvalidOffsetException` in `LogSegment.recover`).
    #[error(
        "batch [{base_offset}, {last_offset}] does not follow log end offset {log_end_offset}"
    )]
    OffsetsNotIncreasing {
        /// The batch's first offset.
        base_offset: Offset,
        /// The batch's last offset.
        last_offset: Offset,
        /// The log end offset before it.
        log_end_offset: Offset,
    },
    /// The snapshot's offset is not a batch boundary of the log, or lies past its end
    /// (`truncateAndReload` deletes snapshots above the log end offset).
    #[error("snapshot offset {snapshot_offset} is not a batch boundary of the log (log end offset {log_end_offset})")]
    SnapshotNotAtBatchBoundary {
        /// The snapshot's offset.
        snapshot_offset: Offset,
        /// The log end offset.
        log_end_offset: Offset,
    },
    /// A non-transactional data batch of a producer with an open transaction
    /// (`ProducerAppendInfo.appendDataBatch` throws `InvalidTxnStateException` for every
    /// origin): the log and the snapshot do not belong together.
    #[error("non-transactional batch at {base_offset} of producer {producer_id} inside its open transaction")]
    InvalidTxnState {
        /// The batch's first offset.
        base_offset: Offset,
        /// The producer id.
        producer_id: ProducerId,
    },
}

impl<P> PartitionLeader<P> {
    /// `ProducerStateManager.takeSnapshot`: the producer state as of the log end offset.
    pub fn producer_state_snapshot(&self) -> ProducerStateSnapshot {
        ProducerStateSnapshot {
            offset: self.log_end_offset,
            producers: self
                .producers
                .values()
                .map(ProducerSnapshotEntry::of)
                .collect(),
        }
    }

    /// Rebuilds a leader after a restart (`LogLoader.load` then `UnifiedLog.rebuildProducerState`):
    ///
    /// 1. every batch of `log` (in offset order, as the segments hold them) is loaded;
    /// 2. the producer state is `snapshot`'s (`loadFromSnapshot`, which drops the producers
    ///    expired at `now`, `isProducerExpired`), or empty without one, in which case the whole
    ///    log is replayed;
    /// 3. the aborted-transaction index is `aborted` (the segments' transaction indexes) for the
    ///    transactions whose marker lies below the snapshot's offset; the rest is rebuilt;
    /// 4. every batch at or after the snapshot's offset is replayed as a follower appends it
    ///    (`ProducerAppendInfo` with `AppendOrigin.REPLICATION`, `loadProducersFromRecords`):
    ///    data batches add their metadata and open transactions, control batches complete them
    ///    (abort: into the aborted index, with the last stable offset of the moment,
    ///    `ProducerStateManager.lastStableOffset`), and the high watermark follows.
    ///
    /// Verification entries are not recovered (Kafka keeps them in memory only).
    pub fn recover(
        config: PartitionConfig,
        log: Vec<LogBatch<P>>,
        aborted: Vec<AbortedTxn>,
        snapshot: Option<ProducerStateSnapshot>,
        now: TimestampMs,
    ) -> Result<Self, RecoveryError> {
        let mut leader = PartitionLeader::new(config);
        let start = snapshot.as_ref().map_or(Offset::MIN, |s| s.offset);
        if let Some(snapshot) = &snapshot {
            let expiration = config.producer_id_expiration_ms;
            for p in &snapshot.producers {
                let expired = p.current_txn_first_offset.is_none()
                    && now.saturating_sub(p.last_timestamp) >= expiration;
                if expired {
                    continue;
                }
                let entry = p.entry();
                if let Some(first_offset) = entry.current_txn_first_offset {
                    leader.ongoing_txns.insert(
                        first_offset,
                        TxnMetadata {
                            producer_id: entry.producer_id,
                            first_offset,
                            last_offset: None,
                        },
                    );
                }
                leader.producers.insert(entry.producer_id, entry);
            }
            leader.aborted_index = aborted
                .into_iter()
                .filter(|a| a.last_offset < snapshot.offset)
                .collect();
        }
        for batch in log {
            let follows = batch.last_offset >= batch.base_offset
                && (leader.log.is_empty() || batch.base_offset >= leader.log_end_offset)
                && batch.last_offset.checked_add(1).is_some();
            if !follows {
                return Err(RecoveryError::OffsetsNotIncreasing {
                    base_offset: batch.base_offset,
                    last_offset: batch.last_offset,
                    log_end_offset: leader.log_end_offset,
                });
            }
            if batch.base_offset < start {
                if batch.last_offset >= start {
                    return Err(RecoveryError::SnapshotNotAtBatchBoundary {
                        snapshot_offset: start,
                        log_end_offset: leader.log_end_offset,
                    });
                }
                let next = batch.last_offset.saturating_add(1);
                leader.log.push(batch);
                leader.advance_log_end(next);
            } else {
                leader.replay(batch)?;
            }
        }
        if snapshot.is_some() && start > leader.log_end_offset {
            return Err(RecoveryError::SnapshotNotAtBatchBoundary {
                snapshot_offset: start,
                log_end_offset: leader.log_end_offset,
            });
        }
        Ok(leader)
    }

    /// One batch appended as a follower appends it (`ProducerAppendInfo.append` with
    /// `AppendOrigin.REPLICATION`): no validation but the transactional-flag rule.
    fn replay(&mut self, batch: LogBatch<P>) -> Result<(), RecoveryError> {
        let next = batch.last_offset.saturating_add(1);
        if !batch.has_producer_id() {
            self.log.push(batch);
            self.advance_log_end(next);
            return Ok(());
        }
        let pid = batch.producer_id;
        let committed = self
            .producers
            .get(&pid)
            .copied()
            .unwrap_or_else(|| ProducerStateEntry::empty(pid));
        match batch.content {
            BatchContent::Control {
                result,
                coordinator_epoch,
            } => {
                let marker = TxnMarker {
                    producer_id: pid,
                    producer_epoch: batch.producer_epoch,
                    coordinator_epoch,
                    result,
                    timestamp: batch.max_timestamp,
                    transaction_version: TransactionVersion::Tv0,
                };
                self.log_end_offset = batch.base_offset;
                self.apply_marker(committed, &marker);
            }
            BatchContent::Data(_) => {
                let open = committed.current_txn_first_offset.is_some();
                if open && !batch.is_transactional {
                    return Err(RecoveryError::InvalidTxnState {
                        base_offset: batch.base_offset,
                        producer_id: pid,
                    });
                }
                let offset_delta =
                    i32::try_from(batch.last_offset.saturating_sub(batch.base_offset))
                        .unwrap_or(i32::MAX);
                let metadata = BatchMetadata {
                    last_sequence: increment_sequence(batch.base_sequence, offset_delta),
                    last_offset: batch.last_offset,
                    offset_delta,
                    timestamp: batch.max_timestamp,
                };
                let epoch = batch.producer_epoch;
                let starts_transaction = batch.is_transactional && !open;
                self.log.push(batch);
                self.advance_log_end(next);
                self.update_producer_for_data(pid, epoch, metadata, starts_transaction);
            }
        }
        Ok(())
    }

    /// `ProducerAppendInfo.appendDataBatch`'s update once the batch is written: the batch's
    /// metadata joins the producer's retained batches (`ProducerStateEntry.addBatch`) and a
    /// transactional batch with no open transaction starts one (`currentTxnFirstOffset`,
    /// `ongoingTxns`). Shared by the leader's append and the replay.
    pub(super) fn update_producer_for_data(
        &mut self,
        pid: ProducerId,
        epoch: ProducerEpoch,
        metadata: BatchMetadata,
        starts_transaction: bool,
    ) {
        let entry = self
            .producers
            .entry(pid)
            .or_insert_with(|| ProducerStateEntry::empty(pid));
        entry.add_batch(epoch, metadata);
        if starts_transaction {
            let base_offset = metadata.first_offset();
            entry.current_txn_first_offset = Some(base_offset);
            self.ongoing_txns.insert(
                base_offset,
                TxnMetadata {
                    producer_id: pid,
                    first_offset: base_offset,
                    last_offset: None,
                },
            );
        }
    }

    /// `ProducerAppendInfo.appendEndTxnMarker` and `ProducerStateManager.completeTxn` once the
    /// marker's checks passed (or, replaying, without them): the control batch is written at the
    /// log end offset; the entry takes the marker's epoch (a change clears the retained
    /// batches), coordinator epoch and timestamp and closes its transaction; a completed
    /// transaction leaves the ongoing set (an abort enters the aborted index with the last
    /// stable offset of the moment, `lastStableOffset(completedTxn)`). Shared by
    /// [`PartitionLeader::write_marker`] and the replay. The caller checked that the offset
    /// after the marker exists.
    pub(super) fn apply_marker(&mut self, mut staged: ProducerStateEntry, marker: &TxnMarker) {
        let bugs = self.config.bugs;
        let pid = marker.producer_id;
        let offset = self.log_end_offset;
        let next = offset.saturating_add(1);
        let completed = staged.current_txn_first_offset;
        let new_epoch = if bugs.marker_match_pid_only {
            marker.producer_epoch.max(staged.producer_epoch)
        } else {
            marker.producer_epoch
        };
        staged.maybe_update_producer_epoch(new_epoch);
        staged.current_txn_first_offset = None;
        staged.coordinator_epoch = marker.coordinator_epoch;
        if !bugs.expire_ignoring_markers {
            staged.last_timestamp = marker.timestamp;
        }
        self.log.push(LogBatch {
            base_offset: offset,
            last_offset: offset,
            producer_id: pid,
            producer_epoch: marker.producer_epoch,
            base_sequence: -1,
            is_transactional: true,
            max_timestamp: marker.timestamp,
            content: BatchContent::Control {
                result: marker.result,
                coordinator_epoch: marker.coordinator_epoch,
            },
        });
        self.producers.insert(pid, staged);
        if let Some(first_offset) = completed {
            self.ongoing_txns.remove(&first_offset);
            // ProducerStateManager.lastStableOffset(completedTxn): the earliest other ongoing
            // transaction, else the marker's next offset.
            let last_stable_offset = self
                .ongoing_txns
                .values()
                .find(|t| t.producer_id != pid)
                .map_or(next, |t| t.first_offset);
            if marker.result == TransactionResult::Abort {
                self.aborted_index.push(AbortedTxn {
                    producer_id: pid,
                    first_offset,
                    last_offset: offset,
                    last_stable_offset,
                });
            }
            self.unreplicated_txns.insert(
                first_offset,
                TxnMetadata {
                    producer_id: pid,
                    first_offset,
                    last_offset: Some(offset),
                },
            );
        }
        self.advance_log_end(next);
    }
}
