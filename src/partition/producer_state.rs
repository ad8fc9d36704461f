//! Per-producer state held by a partition leader (`ProducerStateEntry`, `BatchMetadata`,
//! `VerificationStateEntry` in Kafka's `storage/.../internals/log`).

use serde::{Deserialize, Serialize};

use crate::types::{
    decrement_sequence, CoordinatorEpoch, Offset, ProducerEpoch, ProducerId, Sequence, TimestampMs,
    NO_PRODUCER_EPOCH, NO_SEQUENCE, NUM_BATCHES_TO_RETAIN,
};

/// The metadata kept for one retained batch (`BatchMetadata{lastSeq, lastOffset, offsetDelta,
/// timestamp}`): enough to recognise an exact retry and answer it with the original offsets.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct BatchMetadata {
    /// The batch's last sequence.
    pub last_sequence: Sequence,
    /// The batch's last offset.
    pub last_offset: Offset,
    /// `lastOffset - firstOffset` (= record count - 1); also `lastSeq - firstSeq` modulo the wrap.
    pub offset_delta: i32,
    /// The batch's max timestamp.
    pub timestamp: TimestampMs,
}

impl BatchMetadata {
    /// `BatchMetadata.firstSeq()`: `lastSeq - offsetDelta`, wrapping below 0 (`decrementSequence`).
    pub fn first_sequence(&self) -> Sequence {
        decrement_sequence(self.last_sequence, self.offset_delta)
    }

    /// `BatchMetadata.firstOffset()`: `lastOffset - offsetDelta`.
    pub fn first_offset(&self) -> Offset {
        self.last_offset.wrapping_sub(i64::from(self.offset_delta))
    }
}

/// The state a partition leader keeps for one producer id (`ProducerStateEntry`).
///
/// The last [`NUM_BATCHES_TO_RETAIN`] batches are kept in a fixed-size array (oldest first), so
/// that an append never allocates. Unused slots are always `BatchMetadata::default()`, so two
/// entries with the same retained batches compare equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProducerStateEntry {
    /// The producer id.
    pub producer_id: ProducerId,
    /// The last producer epoch seen (`-1` for an empty entry).
    pub producer_epoch: ProducerEpoch,
    /// The highest transaction-coordinator epoch seen in a marker (`-1` initially).
    pub coordinator_epoch: CoordinatorEpoch,
    /// The max timestamp of the last data batch, or the last marker's timestamp.
    pub last_timestamp: TimestampMs,
    /// The offset of the first record of the open transaction, if any.
    pub current_txn_first_offset: Option<Offset>,
    batches: [BatchMetadata; NUM_BATCHES_TO_RETAIN],
    len: u8,
}

impl ProducerStateEntry {
    /// `ProducerStateEntry.empty(pid)`: epoch -1, coordinator epoch -1, no batches, no
    /// transaction, timestamp -1 (`RecordBatch.NO_TIMESTAMP`).
    pub fn empty(producer_id: ProducerId) -> Self {
        ProducerStateEntry {
            producer_id,
            producer_epoch: NO_PRODUCER_EPOCH,
            coordinator_epoch: -1,
            last_timestamp: -1,
            current_txn_first_offset: None,
            batches: [BatchMetadata::default(); NUM_BATCHES_TO_RETAIN],
            len: 0,
        }
    }

    /// The retained batches, oldest first (at most [`NUM_BATCHES_TO_RETAIN`]).
    pub fn batches(&self) -> &[BatchMetadata] {
        self.batches.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// `ProducerStateEntry.isEmpty()` on the batch deque: no retained batch.
    pub fn has_no_batches(&self) -> bool {
        self.len == 0
    }

    /// `ProducerStateEntry.lastSeq()`: the last retained batch's last sequence, or `NO_SEQUENCE`.
    pub fn last_sequence(&self) -> Sequence {
        self.batches()
            .last()
            .map_or(NO_SEQUENCE, |b| b.last_sequence)
    }

    /// `ProducerStateEntry.firstSeq()`: the oldest retained batch's first sequence, or
    /// `NO_SEQUENCE`.
    pub fn first_sequence(&self) -> Sequence {
        self.batches()
            .first()
            .map_or(NO_SEQUENCE, BatchMetadata::first_sequence)
    }

    /// `ProducerStateEntry.lastDataOffset()`: the last retained batch's last offset, or -1.
    pub fn last_data_offset(&self) -> Offset {
        self.batches().last().map_or(-1, |b| b.last_offset)
    }

    /// Whether an appended data batch at `epoch` starts this known producer's sequence over:
    /// the entry has an epoch and the batch's differs (`ProducerAppendInfo.checkSequence`: a
    /// new epoch must start at sequence 0). Read-only, for observers (the broker's
    /// sequence-reset metric); the check itself is the leader's.
    pub fn resets_sequence_at(&self, epoch: ProducerEpoch) -> bool {
        self.producer_epoch != NO_PRODUCER_EPOCH && epoch != self.producer_epoch
    }

    /// `ProducerStateEntry.findDuplicateBatch` restricted to the newest `window` batches:
    /// a retained batch with exactly `[first_sequence, last_sequence]` at the entry's epoch.
    /// Kafka's window is [`NUM_BATCHES_TO_RETAIN`]; a smaller one is bug M-I2.
    pub fn find_duplicate_batch(
        &self,
        producer_epoch: ProducerEpoch,
        first_sequence: Sequence,
        last_sequence: Sequence,
        window: usize,
    ) -> Option<BatchMetadata> {
        if producer_epoch != self.producer_epoch {
            return None;
        }
        let retained = self.batches();
        let skip = retained.len().saturating_sub(window);
        retained
            .iter()
            .skip(skip)
            .find(|b| b.first_sequence() == first_sequence && b.last_sequence == last_sequence)
            .copied()
    }

    /// `ProducerStateEntry.addBatch`: moves to `producer_epoch` (clearing the retained batches
    /// when it changes), pushes the batch (evicting the oldest beyond 5) and sets the timestamp.
    pub(crate) fn add_batch(&mut self, producer_epoch: ProducerEpoch, batch: BatchMetadata) {
        self.maybe_update_producer_epoch(producer_epoch);
        if usize::from(self.len) == NUM_BATCHES_TO_RETAIN {
            self.batches.rotate_left(1);
            if let Some(slot) = self.batches.last_mut() {
                *slot = batch;
            }
        } else {
            if let Some(slot) = self.batches.get_mut(usize::from(self.len)) {
                *slot = batch;
            }
            self.len = self.len.saturating_add(1);
        }
        self.last_timestamp = batch.timestamp;
    }

    /// `ProducerStateEntry.maybeUpdateProducerEpoch`: a changed epoch clears the retained batches.
    pub(crate) fn maybe_update_producer_epoch(&mut self, producer_epoch: ProducerEpoch) {
        if self.producer_epoch != producer_epoch {
            self.batches = [BatchMetadata::default(); NUM_BATCHES_TO_RETAIN];
            self.len = 0;
            self.producer_epoch = producer_epoch;
        }
    }
}

/// An opaque token proving that a transactional produce passed KIP-890 part 1 verification
/// (`VerificationGuard`). Kafka compares guards by object identity; here each verification
/// entry gets a fresh number from its partition. `Sentinel` is `VerificationGuard.SENTINEL`,
/// handed out when the transaction is already ongoing; it never verifies anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VerificationGuard {
    /// `VerificationGuard.SENTINEL`: no verification was needed (ongoing transaction).
    Sentinel,
    /// The guard of one `VerificationStateEntry`.
    Guard(u64),
}

/// `VerificationStateEntry` (KIP-890 part 1): created when verification of a transactional
/// produce starts, removed once a transactional batch or marker of the producer is appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VerificationStateEntry {
    /// Creation time (expires with `producer.id.expiration.ms`, `removeExpiredProducers`).
    pub timestamp: TimestampMs,
    /// The guard a verified append must present.
    pub guard: VerificationGuard,
    /// The lowest sequence seen while verifying (`maybeUpdateLowestSequenceAndEpoch`;
    /// `checkSequence` refuses a higher one).
    pub lowest_sequence: Sequence,
    /// The epoch being verified.
    pub producer_epoch: ProducerEpoch,
    /// Whether the producer's transaction version bumps the epoch at every EndTxn (TV2).
    pub supports_epoch_bump: bool,
}

impl VerificationStateEntry {
    /// `maybeUpdateLowestSequenceAndEpoch`: a lower sequence at the same epoch lowers
    /// `lowest_sequence`; a higher epoch replaces both; a lower epoch is ignored.
    pub(crate) fn maybe_update_lowest_sequence_and_epoch(
        &mut self,
        sequence: Sequence,
        producer_epoch: ProducerEpoch,
    ) {
        if producer_epoch == self.producer_epoch {
            if sequence < self.lowest_sequence {
                self.lowest_sequence = sequence;
            }
        } else if producer_epoch > self.producer_epoch {
            self.producer_epoch = producer_epoch;
            self.lowest_sequence = sequence;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_new_epoch_of_a_known_producer_resets_its_sequence() {
        let unknown = ProducerStateEntry::empty(5);
        assert!(!unknown.resets_sequence_at(0));
        let known = ProducerStateEntry {
            producer_epoch: 2,
            ..unknown
        };
        assert!(!known.resets_sequence_at(2));
        assert!(known.resets_sequence_at(3));
    }
}
