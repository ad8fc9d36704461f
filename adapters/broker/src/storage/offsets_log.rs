//! The group coordinators' durable logs: one file per `__consumer_offsets` partition in use.
//!
//! Each batch a [`GroupCoordinator`](kafka_eos::group::GroupCoordinator) appends
//! ([`GroupOutput::AppendOffsetsLog`](kafka_eos::group::GroupOutput::AppendOffsetsLog): offset
//! commits, transactional offset commits, transaction markers, GroupMetadata records) is one
//! frame of a [`RecordFile`] (JSON of the core's [`OffsetsBatch`]), flushed per the
//! [`FlushPolicy`] before the answer it guards (OffsetCommit, TxnOffsetCommit, the marker's
//! WriteTxnMarkers answer to the transaction coordinator) is released. On start every file is
//! read (a torn tail cut) and its batches handed back in order for
//! [`GroupCoordinator::load`](kafka_eos::group::GroupCoordinator::load), as
//! `GroupMetadataManager.loadGroupsAndOffsets` / `CoordinatorLoaderImpl` replay the partition.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use kafka_eos::group::OffsetsBatch;
use kafka_eos::types::TimestampMs;

use super::record_file::RecordFile;
use super::FlushPolicy;

/// The prefix of an offsets partition's directory (`__consumer_offsets-N`).
const DIR_PREFIX: &str = "__consumer_offsets-";
/// The log file in each partition directory.
const LOG_FILE: &str = "offsets.log";

/// The offsets partitions' logs of this node.
#[derive(Debug)]
pub struct OffsetsLogs {
    data_dir: PathBuf,
    flush: FlushPolicy,
    files: BTreeMap<i32, RecordFile>,
}

/// What [`OffsetsLogs::open`] recovered.
#[derive(Debug)]
pub struct LoadedOffsets {
    /// The logs, open for appends.
    pub logs: OffsetsLogs,
    /// Every partition's batches, in log order.
    pub batches: BTreeMap<i32, Vec<OffsetsBatch>>,
    /// Bytes of torn tails cut off, over all partitions.
    pub truncated: u64,
}

fn log_path(data_dir: &Path, partition: i32) -> PathBuf {
    data_dir
        .join(format!("{DIR_PREFIX}{partition}"))
        .join(LOG_FILE)
}

impl OffsetsLogs {
    /// Opens every offsets partition's log under `data_dir` and recovers it. `InvalidData` when
    /// a whole (CRC-valid) batch does not decode: the broker refuses to start.
    pub fn open(data_dir: &Path, flush: FlushPolicy) -> io::Result<LoadedOffsets> {
        std::fs::create_dir_all(data_dir)?;
        let mut files = BTreeMap::new();
        let mut batches = BTreeMap::new();
        let mut truncated = 0;
        for entry in std::fs::read_dir(data_dir)? {
            let name = entry?.file_name();
            let Some(partition) = name
                .to_str()
                .and_then(|n| n.strip_prefix(DIR_PREFIX))
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            let path = log_path(data_dir, partition);
            let opened = RecordFile::open(&path, flush)?;
            truncated += opened.truncated;
            let decoded = opened
                .records
                .iter()
                .map(|p| {
                    serde_json::from_slice::<OffsetsBatch>(p).map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("{}: {e}", path.display()),
                        )
                    })
                })
                .collect::<io::Result<Vec<_>>>()?;
            batches.insert(partition, decoded);
            files.insert(partition, opened.file);
        }
        Ok(LoadedOffsets {
            logs: OffsetsLogs {
                data_dir: data_dir.to_path_buf(),
                flush,
                files,
            },
            batches,
            truncated,
        })
    }

    /// Appends a group coordinator's batches to its partition's log (created on first use),
    /// flushed per the policy before returning.
    pub fn append(&mut self, partition: i32, batches: &[&OffsetsBatch]) -> io::Result<()> {
        if batches.is_empty() {
            return Ok(());
        }
        let payloads = batches
            .iter()
            .map(|b| serde_json::to_vec(b).map_err(io::Error::other))
            .collect::<io::Result<Vec<_>>>()?;
        let file = match self.files.entry(partition) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let opened = RecordFile::open(&log_path(&self.data_dir, partition), self.flush)?;
                e.insert(opened.file)
            }
        };
        file.append(&payloads)
    }

    /// The periodic flush of every file ([`RecordFile::tick`]).
    pub fn tick(&mut self, now: TimestampMs) -> io::Result<()> {
        self.files.values_mut().try_for_each(|f| f.tick(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_eos::group::{OffsetCommitValue, OffsetsBatchContent, OffsetsRecord};
    use kafka_eos::types::{TopicPartition, TransactionResult};

    fn commit(base_offset: i64, producer_id: i64, offset: i64) -> OffsetsBatch {
        OffsetsBatch {
            base_offset,
            producer_id,
            producer_epoch: if producer_id < 0 { -1 } else { 0 },
            timestamp: 7,
            content: OffsetsBatchContent::Records(vec![OffsetsRecord::OffsetCommit {
                group_id: "g".into(),
                partition: TopicPartition::new("t", 0),
                value: OffsetCommitValue {
                    offset,
                    commit_timestamp: 7,
                },
            }]),
        }
    }

    #[test]
    fn each_partition_reloads_its_batches_in_order_and_a_torn_tail_is_cut() {
        let dir = std::env::temp_dir().join(format!("kafka-eos-offsets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut loaded = OffsetsLogs::open(&dir, FlushPolicy::EveryBatch).unwrap();
        assert!(loaded.batches.is_empty());
        let marker = OffsetsBatch {
            base_offset: 1,
            producer_id: 9,
            producer_epoch: 0,
            timestamp: 8,
            content: OffsetsBatchContent::Marker {
                result: TransactionResult::Commit,
                coordinator_epoch: 0,
            },
        };
        let (a, b) = (commit(0, 9, 5), commit(0, -1, 3));
        loaded.logs.append(3, &[&a, &marker]).unwrap();
        loaded.logs.append(7, &[&b]).unwrap();
        loaded.logs.append(7, &[]).unwrap();
        drop(loaded);
        // A crash in the middle of partition 7's next write.
        let path = log_path(&dir, 7);
        let mut bytes = std::fs::read(&path).unwrap();
        let whole = bytes.len() as u64;
        bytes.extend_from_slice(&[0, 0, 0, 50, 1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        let loaded = OffsetsLogs::open(&dir, FlushPolicy::EveryBatch).unwrap();
        assert_eq!(
            loaded.batches,
            BTreeMap::from([(3, vec![a, marker]), (7, vec![b])])
        );
        assert_eq!(loaded.truncated, 7);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
