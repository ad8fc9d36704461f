//! The producer-id block: the end of the last block of producer ids this node claimed, so that
//! no id is handed out twice across restarts.
//!
//! Kafka's controller persists every block it allocates before the broker's
//! `ProducerIdManager` hands out an id from it (ZooKeeper's `/latest_producer_id_block`, KRaft's
//! `ProducerIdsRecord` from `ProducerIdControlManager.generateNextProducerId`), and the next
//! block starts after the persisted end. Here the core's
//! [`ProducerIdManager`](kafka_eos::coordinator::ProducerIdManager) claims blocks in memory; the
//! broker calls [`ProducerIdBlock::persist`] with the current block's end after each coordinator
//! step, before the step's answer leaves, and a restarted broker starts its first block at the
//! persisted end. Ids of a block that was persisted but not used up are skipped, as a Kafka
//! broker's restart skips the rest of its block.

use std::io;
use std::path::{Path, PathBuf};

use kafka_eos::types::ProducerId;

use super::record_file;

/// The file under the data directory.
pub const PRODUCER_IDS_FILE: &str = "producer-id-block";

/// The persisted end of the last claimed block.
#[derive(Debug)]
pub struct ProducerIdBlock {
    path: PathBuf,
    /// One past the last id of the last persisted block (`None`: none was ever claimed).
    end: Option<ProducerId>,
}

impl ProducerIdBlock {
    /// Reads the persisted block end under `data_dir` (`InvalidData` if the file is corrupt).
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(PRODUCER_IDS_FILE);
        let end = match record_file::read_small(&path)? {
            None => None,
            Some(bytes) => Some(
                std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|s| s.trim().parse::<ProducerId>().ok())
                    .filter(|&e| e >= 0)
                    .ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("{}: not a producer id", path.display()),
                        )
                    })?,
            ),
        };
        Ok(ProducerIdBlock { path, end })
    }

    /// The first producer id of this run: the persisted block end, or `configured` when no block
    /// was claimed yet (or the configuration starts later).
    pub fn first_producer_id(&self, configured: ProducerId) -> ProducerId {
        self.end.map_or(configured, |end| end.max(configured))
    }

    /// Makes `block_end` durable (atomically, `fsync`ed) if it is past the persisted end: the
    /// core claimed a new block.
    pub fn persist(&mut self, block_end: ProducerId) -> io::Result<()> {
        if self.end.is_some_and(|end| end >= block_end) {
            return Ok(());
        }
        record_file::write_atomically(&self.path, block_end.to_string().as_bytes())?;
        self.end = Some(block_end);
        Ok(())
    }

    /// The persisted end.
    pub fn end(&self) -> Option<ProducerId> {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_run_starts_after_the_persisted_block() {
        let dir = std::env::temp_dir().join(format!("kafka-eos-pid-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut block = ProducerIdBlock::open(&dir).unwrap();
        assert_eq!(block.first_producer_id(1000), 1000);
        block.persist(2000).unwrap();
        block.persist(1500).unwrap();
        let block = ProducerIdBlock::open(&dir).unwrap();
        assert_eq!(block.end(), Some(2000));
        assert_eq!(block.first_producer_id(1000), 2000);
        std::fs::write(dir.join(PRODUCER_IDS_FILE), b"garbage").unwrap();
        assert!(ProducerIdBlock::open(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
