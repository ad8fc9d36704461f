//! Durability: where the broker keeps what it acknowledged, so that a restart (even a `kill -9`)
//! loses nothing it answered for. The storage decides nothing about the protocol: it writes what
//! the core produced (record batches, `__transaction_state` records, `__consumer_offsets`
//! batches, producer-state snapshots) and, on start, hands it back to the core to replay.
//! See docs/broker.md, "Storage and recovery".

pub mod coordinator_store;
pub mod offsets_log;
pub mod producer_ids;
pub mod record_file;
pub mod txn_log;

use std::path::PathBuf;

/// The directory the broker keeps its data in when none is given (`log.dirs`; Kafka's default
/// is `/tmp/kafka-logs`, here a directory under the working directory).
pub const DEFAULT_DATA_DIR: &str = "kafka-eos-data";

/// When appended data is forced to disk (`fsync`) relative to the acknowledgement.
///
/// Kafka's defaults (`log.flush.interval.messages` = `Long.MAX_VALUE`) leave flushing to the OS
/// page cache and rely on replication for durability; a single node has no replicas, so the
/// safe default here is to flush before answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FlushPolicy {
    /// `fsync` every append before its answer is released (default: nothing acknowledged is
    /// lost to a power failure).
    #[default]
    EveryBatch,
    /// `fsync` at most every this many milliseconds (answers are released after the write to
    /// the OS, before the flush: a `kill -9` loses nothing, a power failure may lose the last
    /// interval).
    IntervalMs(u64),
}

impl std::str::FromStr for FlushPolicy {
    type Err = String;

    /// `every-batch` or `interval=MS`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "every-batch" {
            return Ok(FlushPolicy::EveryBatch);
        }
        match s.strip_prefix("interval=").map(str::parse::<u64>) {
            Some(Ok(ms)) if ms > 0 => Ok(FlushPolicy::IntervalMs(ms)),
            _ => Err(format!(
                "{s:?}: expected every-batch or interval=MS (MS > 0)"
            )),
        }
    }
}

/// Where and how the broker persists its state.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StorageConfig {
    /// The data directory; `None` keeps everything in memory (`--in-memory`: a restart loses
    /// everything).
    pub data_dir: Option<PathBuf>,
    /// When appends are flushed.
    pub flush: FlushPolicy,
}
