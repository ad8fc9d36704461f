//! One partition's log on disk (Kafka's `LocalLog` / `LogSegment`): the directory
//! `<data dir>/<topic>-<partition>/` holds segments `<20-digit base offset>.log` with the record
//! batches exactly as Kafka stores them (v2, with the assigned base offset and the CRC), a
//! sparse offset index `.index` (`OffsetIndex`: 8-byte entries `relativeOffset:i32
//! position:i32`, one per `index.interval.bytes` = 4096 bytes), a transaction index `.txnindex`
//! (`TransactionIndex`: the aborted transactions whose marker is in the segment) and the
//! producer-state snapshots `<20-digit offset>.snapshot`.
//!
//! [`PartitionStore::open`] recovers the partition (`LogLoader.load`): every segment is read and
//! every batch validated (`LogSegment.recover`: the size, magic, CRC and increasing offsets),
//! the first bad batch and everything after it is truncated, the latest readable snapshot at or
//! below the log end offset is loaded and the tail replayed by the core
//! ([`PartitionLeader::recover`], `UnifiedLog.rebuildProducerState`).
//! [`PartitionStore::persist`] writes what the leader appended, before it is acknowledged.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use kafka_eos::partition::{
    AbortedTxn, LogBatch, PartitionConfig, PartitionLeader, ProducerStateSnapshot,
};
use kafka_eos::types::{Offset, TimestampMs};

use super::snapshot::{decode_aborted, decode_snapshot, encode_aborted, encode_snapshot};
use super::FlushPolicy;
use crate::batch;

/// `log.index.interval.bytes`: bytes of log between two offset-index entries.
const INDEX_INTERVAL_BYTES: u64 = 4096;

/// A file name `<20-digit offset><suffix>` (`LogFileUtils.filenamePrefixFromOffset`).
fn file_name(offset: Offset, suffix: &str) -> String {
    format!("{offset:020}{suffix}")
}

/// The offsets of the files in `dir` named `<offset><suffix>`, ascending.
fn offsets_with_suffix(dir: &Path, suffix: &str) -> io::Result<Vec<Offset>> {
    let mut offsets = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(offset) = name
            .strip_suffix(suffix)
            .and_then(|o| o.parse::<Offset>().ok())
        {
            offsets.push(offset);
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

/// `fsync` of a directory, so that files created or renamed in it survive a crash.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn append_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// What [`PartitionStore::open`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Batches loaded from the segments.
    pub batches: usize,
    /// Bytes cut from a torn or corrupt tail (0: none).
    pub truncated_bytes: u64,
    /// The offset of the snapshot the producer state was loaded from (`None`: the whole log
    /// was replayed).
    pub snapshot_offset: Option<Offset>,
}

/// The active segment's files.
#[derive(Debug)]
struct Segment {
    base_offset: Offset,
    log: File,
    size: u64,
    index: File,
    bytes_since_index_entry: u64,
    txn_index: File,
    /// Whether the indexes were written since their last `fsync`.
    indexes_dirty: bool,
}

impl Segment {
    fn open(dir: &Path, base_offset: Offset) -> io::Result<Segment> {
        let log = append_file(&dir.join(file_name(base_offset, ".log")))?;
        let size = log.metadata()?.len();
        Ok(Segment {
            base_offset,
            log,
            size,
            index: append_file(&dir.join(file_name(base_offset, ".index")))?,
            bytes_since_index_entry: 0,
            txn_index: append_file(&dir.join(file_name(base_offset, ".txnindex")))?,
            indexes_dirty: false,
        })
    }

    /// `LogSegment.append`: the batch at the end of the log file, and an offset-index entry
    /// (`lastOffset -> position`) once `index.interval.bytes` were written since the last one.
    fn append(&mut self, bytes: &[u8], last_offset: Offset) -> io::Result<()> {
        let position = self.size;
        self.log.write_all(bytes)?;
        if self.bytes_since_index_entry > INDEX_INTERVAL_BYTES {
            self.index
                .write_all(&index_entry(last_offset - self.base_offset, position))?;
            self.bytes_since_index_entry = 0;
            self.indexes_dirty = true;
        }
        let len = bytes.len() as u64;
        self.size += len;
        self.bytes_since_index_entry += len;
        Ok(())
    }

    /// An aborted transaction completed by a marker of this segment.
    fn append_aborted(&mut self, a: &AbortedTxn) -> io::Result<()> {
        self.txn_index.write_all(&encode_aborted(a))?;
        self.indexes_dirty = true;
        Ok(())
    }

    /// `LogSegment.flush`: the log and the indexes written since the last flush.
    fn flush(&mut self) -> io::Result<()> {
        self.log.sync_data()?;
        if self.indexes_dirty {
            self.index.sync_data()?;
            self.txn_index.sync_data()?;
            self.indexes_dirty = false;
        }
        Ok(())
    }
}

fn index_entry(relative_offset: i64, position: u64) -> [u8; 8] {
    let mut entry = [0u8; 8];
    let (o, p) = entry.split_at_mut(4);
    o.copy_from_slice(
        &i32::try_from(relative_offset)
            .unwrap_or(i32::MAX)
            .to_be_bytes(),
    );
    p.copy_from_slice(&u32::try_from(position).unwrap_or(u32::MAX).to_be_bytes());
    entry
}

/// The disk side of one partition.
#[derive(Debug)]
pub struct PartitionStore {
    dir: PathBuf,
    flush: FlushPolicy,
    segment_bytes: u64,
    active: Segment,
    /// The log end offset written to the files.
    written_end: Offset,
    /// Whether data was written since the last `fsync`.
    unflushed: bool,
    last_flush: Option<TimestampMs>,
}

/// One segment as read back: its base offset, its batches and their positions.
struct LoadedSegment {
    base_offset: Offset,
    batches: Vec<(LogBatch<Bytes>, u64, u64)>,
}

impl PartitionStore {
    /// Opens (creating it when absent) the partition directory `dir` and recovers the
    /// partition's leader from it, as `LogLoader.load` does:
    ///
    /// 1. `LogSegment.recover` for every segment in base-offset order: each batch's size,
    ///    magic, CRC ([`batch::parse_log_batch`]) and offsets (at or after the previous batch's
    ///    end) are checked; at the first bad batch the segment is truncated there and every
    ///    later segment deleted (`LogLoader.recoverLog`), so a torn tail is never served;
    /// 2. `ProducerStateManager.truncateAndReload`: snapshots above the log end offset are
    ///    deleted, and the latest readable one is loaded (a corrupt one, or one the log does
    ///    not continue, is deleted and the next older tried, `CorruptSnapshotException`);
    /// 3. [`PartitionLeader::recover`] replays the tail from the snapshot's offset
    ///    (`UnifiedLog.rebuildProducerState`), with the aborted transactions of the transaction
    ///    indexes below it;
    /// 4. the indexes are rewritten from what was recovered (`LogSegment.recover` rebuilds them)
    ///    and, if the tail was replayed, a snapshot is taken at the log end offset.
    pub fn open(
        dir: &Path,
        config: PartitionConfig,
        flush: FlushPolicy,
        segment_bytes: u64,
        now: TimestampMs,
    ) -> io::Result<(PartitionStore, PartitionLeader<Bytes>, RecoveryReport)> {
        fs::create_dir_all(dir)?;
        let mut report = RecoveryReport::default();
        let segments = Self::recover_segments(dir, &mut report)?;
        let log: Vec<LogBatch<Bytes>> = segments
            .iter()
            .flat_map(|s| s.batches.iter().map(|(b, _, _)| b.clone()))
            .collect();
        report.batches = log.len();
        let log_end = log.last().map_or(0, |b| b.last_offset.saturating_add(1));
        let mut aborted = Vec::new();
        for s in &segments {
            let path = dir.join(file_name(s.base_offset, ".txnindex"));
            if let Ok(bytes) = fs::read(&path) {
                aborted.extend(decode_aborted(&bytes));
            }
        }
        let mut leader = None;
        for offset in offsets_with_suffix(dir, ".snapshot")?.into_iter().rev() {
            let path = dir.join(file_name(offset, ".snapshot"));
            let snapshot = if offset > log_end {
                None
            } else {
                decode_snapshot(offset, &fs::read(&path)?)
            };
            let recovered = snapshot.map(|s| {
                PartitionLeader::recover(config, log.clone(), aborted.clone(), Some(s), now)
            });
            match recovered {
                Some(Ok(l)) => {
                    report.snapshot_offset = Some(offset);
                    leader = Some(l);
                    break;
                }
                // Corrupt, past the log end, or not matching the log: the next older one.
                Some(Err(_)) | None => {
                    tracing::warn!(path = %path.display(), "deleting an unusable producer-state snapshot");
                    fs::remove_file(&path)?;
                }
            }
        }
        let leader = match leader {
            Some(l) => l,
            None => PartitionLeader::recover(config, log, aborted, None, now)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
        };
        Self::rewrite_indexes(dir, &segments, &leader)?;
        let active_base = segments.last().map_or(0, |s| s.base_offset);
        let store = PartitionStore {
            dir: dir.to_path_buf(),
            flush,
            segment_bytes: segment_bytes.max(1),
            active: Segment::open(dir, active_base)?,
            written_end: leader.log_end_offset(),
            unflushed: false,
            last_flush: None,
        };
        if report.snapshot_offset != Some(leader.log_end_offset()) {
            store.write_snapshot(&leader.producer_state_snapshot())?;
        }
        sync_dir(dir)?;
        Ok((store, leader, report))
    }

    /// Step 1 of [`open`](Self::open): reads and validates every segment, truncating at the
    /// first bad batch.
    fn recover_segments(dir: &Path, report: &mut RecoveryReport) -> io::Result<Vec<LoadedSegment>> {
        let mut segments = Vec::new();
        let mut next_offset: Offset = 0;
        let mut corrupt = false;
        for base_offset in offsets_with_suffix(dir, ".log")? {
            let path = dir.join(file_name(base_offset, ".log"));
            if corrupt {
                // LogLoader.recoverLog: the segments after a corrupt one are deleted.
                report.truncated_bytes += fs::metadata(&path)?.len();
                for suffix in [".log", ".index", ".txnindex"] {
                    let _ = fs::remove_file(dir.join(file_name(base_offset, suffix)));
                }
                continue;
            }
            let data = Bytes::from(fs::read(&path)?);
            let mut batches = Vec::new();
            let mut position = 0usize;
            while position < data.len() {
                let rest = data.get(position..).unwrap_or(&[]);
                let parsed = batch::stored_batch_len(rest)
                    .filter(|len| *len <= rest.len())
                    .and_then(|len| {
                        batch::parse_log_batch(data.slice(position..position + len))
                            .ok()
                            .map(|b| (b, len))
                    })
                    .filter(|(b, _)| b.base_offset >= next_offset.max(base_offset));
                let Some((b, len)) = parsed else {
                    corrupt = true;
                    break;
                };
                next_offset = b.last_offset.saturating_add(1);
                batches.push((b, position as u64, len as u64));
                position += len;
            }
            if corrupt {
                let cut = data.len() - position;
                tracing::warn!(path = %path.display(), position, bytes = cut, "truncating a torn or corrupt log tail");
                report.truncated_bytes += cut as u64;
                let file = OpenOptions::new().write(true).open(&path)?;
                file.set_len(position as u64)?;
                file.sync_all()?;
            }
            segments.push(LoadedSegment {
                base_offset,
                batches,
            });
        }
        Ok(segments)
    }

    /// Step 4 of [`open`](Self::open): each segment's offset index and transaction index
    /// rebuilt from the recovered log and the leader's aborted index.
    fn rewrite_indexes(
        dir: &Path,
        segments: &[LoadedSegment],
        leader: &PartitionLeader<Bytes>,
    ) -> io::Result<()> {
        for (i, s) in segments.iter().enumerate() {
            let end = segments.get(i + 1).map_or(Offset::MAX, |n| n.base_offset);
            let mut index = Vec::new();
            let mut since = 0u64;
            for (b, position, len) in &s.batches {
                if since > INDEX_INTERVAL_BYTES {
                    index.extend_from_slice(&index_entry(b.last_offset - s.base_offset, *position));
                    since = 0;
                }
                since += len;
            }
            fs::write(dir.join(file_name(s.base_offset, ".index")), index)?;
            let txn: Vec<u8> = leader
                .aborted_index()
                .iter()
                .filter(|a| a.last_offset >= s.base_offset && a.last_offset < end)
                .flat_map(encode_aborted)
                .collect();
            fs::write(dir.join(file_name(s.base_offset, ".txnindex")), txn)?;
        }
        Ok(())
    }

    /// `ProducerStateManager.takeSnapshot`: written to a temporary file, flushed, then renamed.
    fn write_snapshot(&self, snapshot: &ProducerStateSnapshot) -> io::Result<()> {
        let path = self.dir.join(file_name(snapshot.offset, ".snapshot"));
        let tmp = path.with_extension("snapshot.tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(&encode_snapshot(snapshot))?;
        file.sync_all()?;
        fs::rename(&tmp, &path)?;
        sync_dir(&self.dir)
    }

    /// Writes the batches `leader` appended since the last call (data batches as the client
    /// sent them with the assigned base offset, markers as control batches) and the aborted
    /// transactions they completed, then `fsync`s under [`FlushPolicy::EveryBatch`]. Called
    /// before the append is acknowledged. A full segment is rolled afterwards
    /// (`UnifiedLog.roll`: the old segment flushed, a producer-state snapshot taken at the new
    /// segment's base offset).
    pub fn persist(&mut self, leader: &PartitionLeader<Bytes>) -> io::Result<()> {
        let log = leader.log();
        let start = log.partition_point(|b| b.base_offset < self.written_end);
        let Some(new) = log.get(start..).filter(|n| !n.is_empty()) else {
            return Ok(());
        };
        let old_end = self.written_end;
        for b in new {
            self.active.append(&batch::stored_form(b), b.last_offset)?;
            self.written_end = b.last_offset.saturating_add(1);
        }
        let completed = leader
            .aborted_index()
            .iter()
            .rev()
            .take_while(|a| a.last_offset >= old_end)
            .count();
        let aborted = leader.aborted_index();
        for a in aborted.get(aborted.len() - completed..).unwrap_or(&[]) {
            self.active.append_aborted(a)?;
        }
        self.unflushed = true;
        if self.flush == FlushPolicy::EveryBatch {
            self.sync()?;
        }
        if self.active.size >= self.segment_bytes {
            self.roll(leader)?;
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.unflushed {
            self.active.flush()?;
            self.unflushed = false;
        }
        Ok(())
    }

    /// `UnifiedLog.roll`: flush the full segment, snapshot the producer state at the log end
    /// offset, start a segment there.
    fn roll(&mut self, leader: &PartitionLeader<Bytes>) -> io::Result<()> {
        self.unflushed = true;
        self.sync()?;
        self.write_snapshot(&leader.producer_state_snapshot())?;
        self.active = Segment::open(&self.dir, self.written_end)?;
        sync_dir(&self.dir)
    }

    /// The periodic flush of [`FlushPolicy::IntervalMs`] (`log.flush.interval.ms`).
    pub fn tick(&mut self, now: TimestampMs) -> io::Result<()> {
        if let FlushPolicy::IntervalMs(ms) = self.flush {
            let last = *self.last_flush.get_or_insert(now);
            if now.saturating_sub(last) >= i64::try_from(ms).unwrap_or(i64::MAX) {
                self.sync()?;
                self.last_flush = Some(now);
            }
        }
        Ok(())
    }

    /// A clean shutdown (`UnifiedLog.close`): everything flushed and a snapshot taken at the log
    /// end offset, so that the next start replays nothing.
    pub fn close(&mut self, leader: &PartitionLeader<Bytes>) -> io::Result<()> {
        self.persist(leader)?;
        self.unflushed = true;
        self.sync()?;
        self.write_snapshot(&leader.producer_state_snapshot())
    }
}
