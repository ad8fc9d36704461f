//! The offsets partition's log as the group coordinator writes and reloads it: batches of
//! OffsetCommit and GroupMetadata records (transactional when a producer id is set) and control
//! batches (the COMMIT/ABORT markers).

use serde::{Deserialize, Serialize};

use super::state::ClassicGroup;
use crate::types::{
    CoordinatorEpoch, Offset, ProducerEpoch, ProducerId, TimestampMs, TopicPartition,
    TransactionResult,
};

/// The value of an OffsetCommit record (`OffsetCommitValue`, without metadata and leader
/// epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OffsetCommitValue {
    /// The committed offset.
    pub offset: Offset,
    /// When the commit was handled.
    pub commit_timestamp: TimestampMs,
}

/// One record of a data batch in `__consumer_offsets`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OffsetsRecord {
    /// An offset commit (`OffsetCommitKey` → `OffsetCommitValue`), plain or transactional as its
    /// batch is.
    OffsetCommit {
        /// The group.
        group_id: String,
        /// The partition whose offset is committed.
        partition: TopicPartition,
        /// The value.
        value: OffsetCommitValue,
    },
    /// A classic group's metadata (`GroupMetadataKey` → `GroupMetadataValue`): the group as of
    /// this record.
    GroupMetadata(ClassicGroup),
}

/// What a batch holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OffsetsBatchContent {
    /// Data records, at consecutive offsets from the batch's base offset.
    Records(Vec<OffsetsRecord>),
    /// A control batch (one record): the transaction marker of the batch's producer.
    Marker {
        /// Commit or abort.
        result: TransactionResult,
        /// The transaction coordinator's epoch.
        coordinator_epoch: CoordinatorEpoch,
    },
}

/// One batch of the offsets partition (`RecordBatch` as `CoordinatorLoaderImpl` reads it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OffsetsBatch {
    /// The offset of its first record.
    pub base_offset: Offset,
    /// The producer id: [`NO_PRODUCER_ID`](crate::types::NO_PRODUCER_ID) for a plain batch, the
    /// transaction's producer for a transactional batch or a marker.
    pub producer_id: ProducerId,
    /// The producer epoch (-1 for a plain batch).
    pub producer_epoch: ProducerEpoch,
    /// When it was written.
    pub timestamp: TimestampMs,
    /// Its records, or its marker.
    pub content: OffsetsBatchContent,
}

impl OffsetsBatch {
    /// How many offsets the batch takes: its record count, or 1 for a marker.
    pub fn record_count(&self) -> usize {
        match &self.content {
            OffsetsBatchContent::Records(records) => records.len(),
            OffsetsBatchContent::Marker { .. } => 1,
        }
    }

    /// Whether it is a control batch.
    pub fn is_control(&self) -> bool {
        matches!(self.content, OffsetsBatchContent::Marker { .. })
    }
}
