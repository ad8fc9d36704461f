//! Durability: where the broker keeps what it acknowledged, so that a restart (even a `kill -9`)
//! loses nothing it answered for. The storage decides nothing about the protocol: it writes what
//! the core produced (record batches, `__transaction_state` records, `__consumer_offsets`
//! batches, producer-state snapshots) and, on start, hands it back to the core to replay.
//! See docs/broker.md, "Storage and recovery".
//!
//! - [`Storage`]: the partition logs of the ordinary topics, found in (and created under) the
//!   data directory, one [`partition_log::PartitionStore`] each: Kafka-named segments with
//!   offset and transaction indexes, producer-state snapshots ([`snapshot`]), written before an
//!   append is acknowledged and recovered on start (`LogLoader.load`).
//! - [`FlushPolicy`]: when those writes are forced to disk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use kafka_eos::error::ErrorCode;
use kafka_eos::partition::{PartitionConfig, PartitionLeader};
use kafka_eos::types::{TimestampMs, TopicPartition};

pub mod coordinator_store;
pub mod offsets_log;
pub mod partition_log;
pub mod producer_ids;
pub mod record_file;
pub mod snapshot;
pub mod txn_log;

use partition_log::PartitionStore;

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

/// `segment.bytes` here (Kafka's default is 1 GiB): a segment is rolled once it holds this much.
pub const DEFAULT_SEGMENT_BYTES: u64 = 1024 * 1024;

/// Where and how the broker persists its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageConfig {
    /// The data directory; `None` keeps everything in memory (`--in-memory`: a restart loses
    /// everything).
    pub data_dir: Option<PathBuf>,
    /// When appends are flushed.
    pub flush: FlushPolicy,
    /// `segment.bytes`: the size at which a partition's active segment is rolled.
    pub segment_bytes: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: None,
            flush: FlushPolicy::default(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// The partitions of ordinary topics found in a data directory (`LogManager.loadLogs`): every
/// directory `<topic>-<partition>`; names starting with `__` are internal topics' logs, kept by
/// their own stores.
fn partitions_on_disk(dir: &std::path::Path) -> std::io::Result<BTreeMap<String, BTreeSet<i32>>> {
    let mut found: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        let Some((topic, partition)) = name.to_str().and_then(|n| n.rsplit_once('-')) else {
            continue;
        };
        if topic.is_empty() || topic.starts_with("__") {
            continue;
        }
        if let Ok(p) = partition.parse::<i32>() {
            found.entry(topic.to_string()).or_default().insert(p);
        }
    }
    Ok(found)
}

/// The file in a partition's directory holding its log start offset (decimal).
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset";

/// The checkpointed log start offset of the partition in `dir`, if one was written.
fn read_log_start_offset(dir: &Path) -> Result<Option<i64>, String> {
    match std::fs::read_to_string(dir.join(LOG_START_OFFSET_FILE)) {
        Ok(text) => text
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|e| format!("{}: bad {LOG_START_OFFSET_FILE}: {e}", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

/// The partition logs of the broker: in memory (no data directory) or one [`PartitionStore`]
/// per partition of an ordinary topic. A partition whose write failed is offline (Kafka's
/// `LogDirFailureChannel`: its requests answer `KAFKA_STORAGE_ERROR` until a restart recovers
/// it from disk).
#[derive(Debug, Default)]
pub struct Storage {
    config: StorageConfig,
    stores: BTreeMap<TopicPartition, PartitionStore>,
    offline: BTreeSet<TopicPartition>,
}

/// The result of [`Storage::open`]: the storage, every topic with its partition count, and
/// every partition's (recovered) leader.
pub type Opened = (
    Storage,
    BTreeMap<String, i32>,
    BTreeMap<TopicPartition, PartitionLeader<Bytes>>,
);

impl Storage {
    /// Opens the storage and recovers every partition found on disk
    /// ([`PartitionStore::open`]); `topics` (the `--topic` list) that are not on disk are
    /// created. A topic on disk with another partition count than `topics` gives is an error
    /// (nothing is deleted or added behind the operator's back).
    pub fn open(
        config: &StorageConfig,
        topics: &[(String, i32)],
        partition_config: PartitionConfig,
    ) -> Result<Opened, String> {
        let mut storage = Storage {
            config: config.clone(),
            ..Storage::default()
        };
        let mut all: BTreeMap<String, i32> = BTreeMap::new();
        if let Some(dir) = &config.data_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("data directory {}: {e}", dir.display()))?;
            for (topic, parts) in partitions_on_disk(dir).map_err(|e| e.to_string())? {
                let count = parts.last().map_or(0, |p| p.saturating_add(1));
                all.insert(topic, count);
            }
        }
        for (topic, count) in topics {
            match all.get(topic) {
                Some(on_disk) if on_disk != count => {
                    return Err(format!(
                        "topic {topic} has {on_disk} partitions in the data directory, --topic asks for {count}"
                    ))
                }
                _ => {
                    all.insert(topic.clone(), *count);
                }
            }
        }
        let mut leaders = BTreeMap::new();
        for (topic, count) in &all {
            for p in 0..*count {
                let tp = TopicPartition::new(topic.clone(), p);
                let leader = storage.create_partition(&tp, partition_config)?;
                leaders.insert(tp, leader);
            }
        }
        Ok((storage, all, leaders))
    }

    /// The leader of a partition: a new in-memory one, or the one recovered from (or created
    /// in) `<data dir>/<topic>-<partition>`. Call it wherever partitions are created.
    pub fn create_partition(
        &mut self,
        tp: &TopicPartition,
        partition_config: PartitionConfig,
    ) -> Result<PartitionLeader<Bytes>, String> {
        let Some(dir) = &self.config.data_dir else {
            return Ok(PartitionLeader::new(partition_config));
        };
        let path = dir.join(format!("{}-{}", tp.topic, tp.partition));
        let started = std::time::Instant::now();
        let (store, leader, report) = PartitionStore::open(
            &path,
            partition_config,
            self.config.flush,
            self.config.segment_bytes,
            crate::server::now_ms(),
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut leader = leader;
        // The log start offset DeleteRecords set (Kafka's `log-start-offset-checkpoint`),
        // never beyond what was recovered.
        if let Some(start) = read_log_start_offset(&path)? {
            leader
                .maybe_increment_log_start_offset(start.min(leader.high_watermark()))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        if report.batches > 0 || report.truncated_bytes > 0 {
            tracing::info!(
                partition = %tp,
                batches = report.batches,
                truncated_bytes = report.truncated_bytes,
                snapshot = ?report.snapshot_offset,
                log_end_offset = leader.log_end_offset(),
                ms = started.elapsed().as_millis() as u64,
                "partition recovered"
            );
        }
        self.stores.insert(tp.clone(), store);
        Ok(leader)
    }

    /// Writes `tp`'s log start offset (after DeleteRecords moved it) before the answer, so that
    /// a restart does not serve the deleted records again: Kafka's `log-start-offset-checkpoint`
    /// (written every `log.flush.start.offset.checkpoint.interval.ms` there), one file per
    /// partition here, written to a temporary file, flushed and renamed. A failure takes the
    /// partition offline (`KAFKA_STORAGE_ERROR`). Segments below it stay on disk.
    pub fn checkpoint_log_start_offset(
        &mut self,
        tp: &TopicPartition,
        log_start_offset: i64,
    ) -> Result<(), ErrorCode> {
        if self.offline.contains(tp) {
            return Err(ErrorCode::KafkaStorageError);
        }
        let Some(dir) = self
            .config
            .data_dir
            .as_ref()
            .filter(|_| self.stores.contains_key(tp))
        else {
            return Ok(());
        };
        let dir = dir.join(format!("{}-{}", tp.topic, tp.partition));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let tmp = dir.join(format!("{LOG_START_OFFSET_FILE}.tmp"));
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(log_start_offset.to_string().as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&tmp, dir.join(LOG_START_OFFSET_FILE))?;
            std::fs::File::open(&dir)?.sync_all()
        };
        write().map_err(|e| {
            tracing::error!(partition = %tp, error = %e, "log start offset checkpoint failed: the partition is offline");
            self.offline.insert(tp.clone());
            ErrorCode::KafkaStorageError
        })
    }

    /// Deletes a partition (DeleteTopics): its store and, with a data directory, its directory.
    pub fn delete_partition(&mut self, tp: &TopicPartition) -> Result<(), String> {
        self.offline.remove(tp);
        if self.stores.remove(tp).is_none() {
            return Ok(());
        }
        let Some(dir) = &self.config.data_dir else {
            return Ok(());
        };
        let path = dir.join(format!("{}-{}", tp.topic, tp.partition));
        std::fs::remove_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Whether `tp` is offline after a failed write (`KAFKA_STORAGE_ERROR`).
    pub fn is_offline(&self, tp: &TopicPartition) -> bool {
        self.offline.contains(tp)
    }

    /// Writes what `leader` appended since the last call, before it is acknowledged
    /// ([`PartitionStore::persist`]). A failure takes the partition offline and is answered
    /// `KAFKA_STORAGE_ERROR`.
    pub fn persist(
        &mut self,
        tp: &TopicPartition,
        leader: &PartitionLeader<Bytes>,
    ) -> Result<(), ErrorCode> {
        if self.offline.contains(tp) {
            return Err(ErrorCode::KafkaStorageError);
        }
        let Some(store) = self.stores.get_mut(tp) else {
            return Ok(());
        };
        store.persist(leader).map_err(|e| {
            tracing::error!(partition = %tp, error = %e, "write failed: the partition is offline");
            self.offline.insert(tp.clone());
            ErrorCode::KafkaStorageError
        })
    }

    /// The periodic flush under [`FlushPolicy::IntervalMs`].
    pub fn tick(&mut self, now: TimestampMs) {
        for (tp, store) in &mut self.stores {
            if let Err(e) = store.tick(now) {
                tracing::error!(partition = %tp, error = %e, "flush failed: the partition is offline");
                self.offline.insert(tp.clone());
            }
        }
    }

    /// A clean shutdown: every partition flushed and snapshotted ([`PartitionStore::close`]).
    pub fn close(&mut self, leaders: &BTreeMap<TopicPartition, PartitionLeader<Bytes>>) {
        for (tp, store) in &mut self.stores {
            if self.offline.contains(tp) {
                continue;
            }
            if let Some(leader) = leaders.get(tp) {
                if let Err(e) = store.close(leader) {
                    tracing::error!(partition = %tp, error = %e, "clean shutdown failed");
                }
            }
        }
    }
}

/// The exclusive lock on a data directory (`LogManager.lockLogDirs`: a `.lock` file held with
/// an OS file lock for the broker's lifetime), so that two brokers never write the same logs.
/// Released when dropped, or when the process dies (the OS drops the lock: a `kill -9` leaves
/// nothing to clean up).
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

/// The name of the lock file in the data directory (Kafka's `LogManager.LockFileName`).
pub const LOCK_FILE_NAME: &str = ".lock";

impl DataDirLock {
    /// Creates `dir` if needed and locks `dir/.lock`; another live holder (a broker in another
    /// process, or one in this process not yet stopped) is an error, as Kafka's
    /// "Failed to acquire lock on file .lock".
    pub fn acquire(dir: &std::path::Path) -> Result<DataDirLock, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("data directory {}: {e}", dir.display()))?;
        let path = dir.join(LOCK_FILE_NAME);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(format!(
                "failed to acquire the lock on {}: another broker is using this data directory",
                path.display()
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(format!("{}: {e}", path.display())),
        }
    }
}
