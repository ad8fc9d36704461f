//! An append-only file of framed records, and atomic replacement of small files: the on-disk
//! form of the coordinators' logs (`__transaction_state`, `__consumer_offsets`) and of the
//! producer-id block and coordinator epoch.
//!
//! A frame is `length: u32 BE | crc32c(payload): u32 BE | payload`. On open every frame is
//! read and checked; the file is truncated at the first frame that is incomplete or fails its
//! CRC (a torn tail left by a crash mid-write), as Kafka's `LogSegment.recover` truncates a
//! segment at its first invalid batch.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use kafka_eos::types::TimestampMs;

use super::FlushPolicy;

/// The largest payload a frame may carry (a larger length is a torn or corrupt header).
pub const MAX_FRAME: u32 = 64 << 20;

/// The header of a frame: length and CRC32C.
const HEADER: usize = 8;

/// One frame's bytes.
fn frame(payload: &[u8]) -> io::Result<Vec<u8>> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "record too large"))?;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// The valid frames of `bytes` and the length of the valid prefix.
fn parse(bytes: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let mut records = Vec::new();
    let mut at = 0usize;
    while let Some(header) = bytes.get(at..at + HEADER) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_FRAME {
            break;
        }
        let end = at + HEADER + len as usize;
        let Some(payload) = bytes.get(at + HEADER..end) else {
            break;
        };
        if crc32c::crc32c(payload) != crc {
            break;
        }
        records.push(payload.to_vec());
        at = end;
    }
    (records, at)
}

/// `fsync` of a directory, so that a create or rename in it is durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `contents` atomically: written to `path.tmp`, `fsync`ed, renamed over
/// `path`, and the directory `fsync`ed (a crash leaves the old or the new file, never a mix).
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = tmp_path(path);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// The contents of a file written by [`write_atomically`], `None` if it does not exist.
pub fn read_small(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// What [`RecordFile::open`] found.
#[derive(Debug)]
pub struct Opened {
    /// The file, positioned at its end.
    pub file: RecordFile,
    /// The payloads of its valid frames, in order.
    pub records: Vec<Vec<u8>>,
    /// Bytes cut off the end (a torn or corrupt tail); 0 when the file was whole.
    pub truncated: u64,
}

/// An append-only file of framed records.
#[derive(Debug)]
pub struct RecordFile {
    path: PathBuf,
    file: File,
    len: u64,
    flush: FlushPolicy,
    /// Bytes written since the last `fsync` (interval policy).
    unflushed: bool,
    last_flush: TimestampMs,
}

impl RecordFile {
    /// Opens (creating the directory and the file if needed) and recovers `path`: every valid
    /// frame is returned and a torn tail is truncated (and the truncation made durable). A
    /// leftover `path.tmp` of an interrupted [`rewrite`](Self::rewrite) is removed.
    pub fn open(path: &Path, flush: FlushPolicy) -> io::Result<Opened> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = tmp_path(path);
        if tmp.exists() {
            fs::remove_file(&tmp)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (records, valid) = parse(&bytes);
        let truncated = (bytes.len() - valid) as u64;
        if truncated > 0 {
            file.set_len(valid as u64)?;
            file.sync_all()?;
        }
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Opened {
            file: RecordFile {
                path: path.to_path_buf(),
                file,
                len: valid as u64,
                flush,
                unflushed: false,
                last_flush: 0,
            },
            records,
            truncated,
        })
    }

    /// Appends the payloads (one write) and, under [`FlushPolicy::EveryBatch`], `fsync`s before
    /// returning: when it returns `Ok` the records survive a crash (a `kill -9` under either
    /// policy, a power failure under `EveryBatch`). On an error the file is cut back to its
    /// length before the call.
    pub fn append<P: AsRef<[u8]>>(&mut self, payloads: &[P]) -> io::Result<()> {
        let mut bytes = Vec::new();
        for p in payloads {
            bytes.extend(frame(p.as_ref())?);
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let written = self.file.write_all(&bytes).and_then(|()| match self.flush {
            FlushPolicy::EveryBatch => self.file.sync_data(),
            FlushPolicy::IntervalMs(_) => {
                self.unflushed = true;
                Ok(())
            }
        });
        match written {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Best effort: leave no partial frame for the next append to follow.
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }

    /// The periodic flush of [`FlushPolicy::IntervalMs`]: `fsync`s what was written if the
    /// interval has passed since the last flush.
    pub fn tick(&mut self, now: TimestampMs) -> io::Result<()> {
        if let FlushPolicy::IntervalMs(ms) = self.flush {
            let due = self
                .last_flush
                .saturating_add(i64::try_from(ms).unwrap_or(i64::MAX));
            if self.unflushed && now >= due {
                self.file.sync_data()?;
                self.unflushed = false;
                self.last_flush = now;
            }
        }
        Ok(())
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file holds no record.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Replaces the whole file with these payloads atomically ([`write_atomically`]): the
    /// compaction of a keyed log (Kafka's `LogCleaner` keeps the last record per key; here the
    /// rewrite replaces the file in one rename).
    pub fn rewrite<P: AsRef<[u8]>>(&mut self, payloads: &[P]) -> io::Result<()> {
        let mut bytes = Vec::new();
        for p in payloads {
            bytes.extend(frame(p.as_ref())?);
        }
        write_atomically(&self.path, &bytes)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.len = bytes.len() as u64;
        self.unflushed = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kafka-eos-record-file-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = temp_dir("torn");
        let path = dir.join("log");
        let mut opened = RecordFile::open(&path, FlushPolicy::EveryBatch).unwrap();
        assert!(opened.records.is_empty());
        opened.file.append(&[b"one".as_slice(), b"two"]).unwrap();
        opened.file.append(&[b"three"]).unwrap();
        let whole = opened.file.len();
        drop(opened);
        // A crash in the middle of a frame: its header and half its payload are on disk.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&frame(b"four-is-torn").unwrap()[..10]).unwrap();
        drop(f);
        let mut opened = RecordFile::open(&path, FlushPolicy::EveryBatch).unwrap();
        assert_eq!(
            opened.records,
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
        assert_eq!(opened.truncated, 10);
        assert_eq!(fs::metadata(&path).unwrap().len(), whole);
        opened.file.append(&[b"five"]).unwrap();
        drop(opened);
        let opened = RecordFile::open(&path, FlushPolicy::EveryBatch).unwrap();
        assert_eq!(opened.records.len(), 4);
        assert_eq!(opened.truncated, 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_frame_ends_the_log() {
        let dir = temp_dir("crc");
        let path = dir.join("log");
        let mut opened = RecordFile::open(&path, FlushPolicy::IntervalMs(5)).unwrap();
        opened
            .file
            .append(&[b"a".as_slice(), b"bb", b"ccc"])
            .unwrap();
        opened.file.tick(10).unwrap();
        drop(opened);
        let mut bytes = fs::read(&path).unwrap();
        // Flip a payload byte of the second frame.
        bytes[HEADER + 1 + HEADER] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let opened = RecordFile::open(&path, FlushPolicy::EveryBatch).unwrap();
        assert_eq!(opened.records, vec![b"a".to_vec()]);
        assert_eq!(opened.file.len(), (HEADER + 1) as u64);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rewrite_replaces_the_file() {
        let dir = temp_dir("rewrite");
        let path = dir.join("log");
        let mut opened = RecordFile::open(&path, FlushPolicy::EveryBatch).unwrap();
        opened.file.append(&[b"x".as_slice(), b"y", b"z"]).unwrap();
        opened.file.rewrite(&[b"z".as_slice()]).unwrap();
        opened.file.append(&[b"w"]).unwrap();
        drop(opened);
        let opened = RecordFile::open(&path, FlushPolicy::EveryBatch).unwrap();
        assert_eq!(opened.records, vec![b"z".to_vec(), b"w".to_vec()]);
        assert!(!tmp_path(&path).exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
