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
