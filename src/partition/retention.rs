//! The log start offset: DeleteRecords (`Partition.deleteRecordsOnLeader`,
//! `UnifiedLog.maybeIncrementLogStartOffset`) and what moving it does to the served log and the
//! producer state (`ProducerStateManager.onLogStartOffsetIncremented`).
//!
//! Kafka deletes whole segments below the log start offset, but the log start offset itself is
//! exact: a fetch below it is `OFFSET_OUT_OF_RANGE`, ListOffsets EARLIEST answers it. Here every
//! batch is its own segment: the batches that end below the new log start offset are dropped,
//! a batch that straddles it stays whole (a consumer skips its records below its position).

use super::PartitionLeader;
use crate::error::ErrorCode;
use crate::types::Offset;

/// `DeleteRecordsRequest.HIGH_WATERMARK` (-1): DeleteRecords up to the high watermark.
pub const DELETE_RECORDS_HIGH_WATERMARK: Offset = -1;

/// Why the log start offset cannot move where DeleteRecords asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RetentionError {
    /// A negative offset other than [`DELETE_RECORDS_HIGH_WATERMARK`], or one beyond the high
    /// watermark (`OffsetOutOfRangeException` in `Partition.deleteRecordsOnLeader` and
    /// `UnifiedLog.maybeIncrementLogStartOffset`): `OFFSET_OUT_OF_RANGE` (1).
    #[error("offset {offset} is out of range [0, {high_watermark}] of DeleteRecords")]
    OffsetOutOfRange {
        /// The requested offset.
        offset: Offset,
        /// The high watermark.
        high_watermark: Offset,
    },
}

impl RetentionError {
    /// The Kafka error code the partition's DeleteRecords result carries.
    pub fn code(&self) -> ErrorCode {
        match self {
            RetentionError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        }
    }
}

/// `LogConfig.delete`: DeleteRecords needs `cleanup.policy` to contain `delete` (a comma-separated
/// list); otherwise `Partition.deleteRecordsOnLeader` answers `POLICY_VIOLATION` (44).
pub fn cleanup_policy_allows_delete(cleanup_policy: &str) -> bool {
    cleanup_policy
        .split(',')
        .any(|p| p.trim().eq_ignore_ascii_case("delete"))
}

impl<P> PartitionLeader<P> {
    /// DeleteRecords on the leader (`Partition.deleteRecordsOnLeader`): `offset` -1
    /// ([`DELETE_RECORDS_HIGH_WATERMARK`]) means the high watermark; another negative offset or
    /// one beyond the high watermark is [`RetentionError::OffsetOutOfRange`] and changes nothing.
    /// Otherwise the log start offset moves up to `offset`
    /// ([`maybe_increment_log_start_offset`](Self::maybe_increment_log_start_offset); never
    /// down). Returns the low watermark: with one replica, the log start offset after the call.
    pub fn delete_records(&mut self, offset: Offset) -> Result<Offset, RetentionError> {
        let converted = if offset == DELETE_RECORDS_HIGH_WATERMARK {
            self.high_watermark
        } else {
            offset
        };
        if converted < 0 {
            return Err(RetentionError::OffsetOutOfRange {
                offset,
                high_watermark: self.high_watermark,
            });
        }
        self.maybe_increment_log_start_offset(converted)?;
        Ok(self.log_start_offset)
    }

    /// `UnifiedLog.maybeIncrementLogStartOffset`: beyond the high watermark is
    /// [`RetentionError::OffsetOutOfRange`]; at or below the current log start offset nothing
    /// changes (`Ok(false)`). Otherwise the log start offset becomes `new_log_start_offset`, the
    /// batches ending below it are dropped (`deleteLogStartOffsetBreachedSegments`, each batch
    /// a segment) with their aborted-index entries (the segment's transaction index), the
    /// unreplicated transactions whose marker is below it are removed
    /// (`ProducerStateManager.onLogStartOffsetIncremented`) and the first unstable offset is
    /// never below it (`maybeIncrementFirstUnstableOffset`). Producer entries stay: since
    /// KIP-360 (Kafka 2.4) the in-memory producer state survives the deletion of the records
    /// it came from, so a producer whose records are all deleted is still deduplicated and
    /// keeps its sequence (before 2.4 `truncateHead` evicted it: UNKNOWN_PRODUCER_ID). An
    /// ongoing transaction that started below the log start offset stays open; the LSO is then
    /// the log start offset until its marker. Returns whether the log start offset moved.
    pub fn maybe_increment_log_start_offset(
        &mut self,
        new_log_start_offset: Offset,
    ) -> Result<bool, RetentionError> {
        if new_log_start_offset > self.high_watermark {
            return Err(RetentionError::OffsetOutOfRange {
                offset: new_log_start_offset,
                high_watermark: self.high_watermark,
            });
        }
        if new_log_start_offset <= self.log_start_offset {
            return Ok(false);
        }
        self.log_start_offset = new_log_start_offset;
        let keep_from = self
            .log
            .partition_point(|b| b.last_offset < new_log_start_offset);
        self.log.drain(..keep_from);
        self.aborted_index
            .retain(|a| a.last_offset >= new_log_start_offset);
        self.unreplicated_txns
            .retain(|_, t| t.last_offset.is_none_or(|l| l >= new_log_start_offset));
        Ok(true)
    }
}
