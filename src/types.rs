//! The identifiers and constants of the exactly-once protocol, in Kafka's own integer types.
//!
//! Kafka's wire types are kept as plain integers (producer id `i64`, epoch `i16`, sequence `i32`,
//! offsets `i64`, times `i64` milliseconds) so that a broker can pass wire values straight in and
//! so that `-1` means "none" exactly as on the wire (`RecordBatch.NO_PRODUCER_ID` and friends).

use core::fmt;
use core::str::FromStr;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::error::ParseError;

/// A producer id (`RecordBatch.producerId`), handed out by the coordinator.
pub type ProducerId = i64;
/// A producer epoch (`RecordBatch.producerEpoch`), 0..=32767.
pub type ProducerEpoch = i16;
/// A per-partition sequence number (`RecordBatch.baseSequence`), wrapping after `i32::MAX`.
pub type Sequence = i32;
/// A log offset.
pub type Offset = i64;
/// A time or timestamp in milliseconds. The core never reads a clock: every input carries `now`.
pub type TimestampMs = i64;
/// The epoch of a transaction coordinator (the leader epoch of its `__transaction_state` partition).
pub type CoordinatorEpoch = i32;

/// `RecordBatch.NO_PRODUCER_ID`.
pub const NO_PRODUCER_ID: ProducerId = -1;
/// `RecordBatch.NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_EPOCH: ProducerEpoch = -1;
/// `RecordBatch.NO_SEQUENCE`.
pub const NO_SEQUENCE: Sequence = -1;
/// `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`: the duplicate window of a partition leader, and the
/// bound on a client's `max.in.flight.requests.per.connection` with idempotence.
pub const NUM_BATCHES_TO_RETAIN: usize = 5;
/// The epoch at which the coordinator considers a producer's epochs exhausted
/// (`TransactionMetadata.isEpochExhausted`: `epoch >= Short.MAX_VALUE - 1`).
pub const EXHAUSTED_EPOCH: ProducerEpoch = i16::MAX - 1;

/// The sequence that follows `sequence + increment`, wrapping from `i32::MAX` to 0
/// (`DefaultRecordBatch.incrementSequence`).
pub const fn increment_sequence(sequence: Sequence, increment: i32) -> Sequence {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// The sequence `sequence - decrement`, wrapping below 0 to `i32::MAX`
/// (`DefaultRecordBatch.decrementSequence`).
pub const fn decrement_sequence(sequence: Sequence, decrement: i32) -> Sequence {
    if sequence < decrement {
        i32::MAX - (decrement - sequence) + 1
    } else {
        sequence - decrement
    }
}

/// A topic partition, written `topic-N` as Kafka's `TopicPartition.toString()` does.
///
/// The topic name is shared (`Arc<str>`): topic partitions key the producer's, the
/// coordinator's and the group coordinator's maps, and a clone of any of those states clones
/// every key; a shared name is a reference count, not an allocation. It compares, orders,
/// hashes and (de)serializes as the name itself.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TopicPartition {
    /// The topic name.
    pub topic: Arc<str>,
    /// The partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition from its parts.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

impl FromStr for TopicPartition {
    type Err = ParseError;

    /// Parses `topic-N`, splitting at the last `-` (topic names may contain `-`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseError::TopicPartition(s.to_string());
        let (topic, partition) = s.rsplit_once('-').ok_or_else(err)?;
        if topic.is_empty()
            || partition.is_empty()
            || !partition.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(err());
        }
        let partition = partition.parse::<i32>().map_err(|_| err())?;
        Ok(TopicPartition::new(topic, partition))
    }
}

/// The outcome of a transaction, as carried by EndTxn and by a control (marker) record
/// (`TransactionResult`, `ControlRecordType.COMMIT/ABORT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransactionResult {
    /// Commit: the transaction's records become visible to read_committed consumers.
    Commit,
    /// Abort: the transaction's records are filtered out by read_committed consumers.
    Abort,
}

impl fmt::Display for TransactionResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransactionResult::Commit => "commit",
            TransactionResult::Abort => "abort",
        })
    }
}

/// The transaction protocol version (feature `transaction.version`, `TransactionVersion.java`).
///
/// TV0 and TV1 behave the same (TV1 only adds flexible transaction-log records). TV2 is KIP-890
/// part 2: the coordinator bumps the epoch on every EndTxn and partitions are added implicitly by
/// the partition leader.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum TransactionVersion {
    /// The original KIP-98 protocol.
    Tv0,
    /// Flexible transaction-log records; behaviourally TV0.
    Tv1,
    /// KIP-890 part 2: epoch bump on every EndTxn, implicit AddPartitionsToTxn.
    #[default]
    Tv2,
}

impl TransactionVersion {
    /// The version for a feature level 0, 1 or 2; `None` for any other level.
    pub const fn from_level(level: i16) -> Option<Self> {
        match level {
            0 => Some(TransactionVersion::Tv0),
            1 => Some(TransactionVersion::Tv1),
            2 => Some(TransactionVersion::Tv2),
            _ => None,
        }
    }

    /// The feature level.
    pub const fn level(self) -> i16 {
        match self {
            TransactionVersion::Tv0 => 0,
            TransactionVersion::Tv1 => 1,
            TransactionVersion::Tv2 => 2,
        }
    }

    /// `TransactionVersion.supportsEpochBump()`: true only for TV2.
    pub const fn supports_epoch_bump(self) -> bool {
        matches!(self, TransactionVersion::Tv2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_wraps_like_default_record_batch() {
        assert_eq!(increment_sequence(0, 1), 1);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 10, 20), 9);
        assert_eq!(increment_sequence(i32::MAX, 100), 99);
        assert_eq!(decrement_sequence(0, 1), i32::MAX);
        assert_eq!(decrement_sequence(9, 20), i32::MAX - 10);
        assert_eq!(decrement_sequence(5, 5), 0);
    }

    #[test]
    fn topic_partition_parses_at_last_dash() {
        let tp: TopicPartition = "my-topic-12".parse().unwrap();
        assert_eq!(tp, TopicPartition::new("my-topic", 12));
        assert_eq!(tp.to_string(), "my-topic-12");
        for bad in ["topic", "-1", "topic-", "topic-x", "topic-99999999999"] {
            assert!(bad.parse::<TopicPartition>().is_err(), "{bad}");
        }
    }
}
