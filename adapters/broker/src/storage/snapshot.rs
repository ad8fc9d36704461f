//! Producer-state snapshot files (`<20-digit offset>.snapshot`) and transaction-index entries
//! (`.txnindex`), encoded as Kafka lays them out where the core's data allows.
//!
//! Snapshot (`ProducerStateManager.writeSnapshot`): `version:i16 crc:u32` then, CRC-32C-covered,
//! `count:i32` and per producer `producerId:i64 epoch:i16 coordinatorEpoch:i32
//! lastTimestamp:i64 currentTxnFirstOffset:i64 (-1: none) batches:i8` and per retained batch
//! `lastSequence:i32 lastOffset:i64 offsetDelta:i32 timestamp:i64`. Kafka's version 1 holds one
//! batch per producer; this is version 2 with every retained batch (at most 5).
//!
//! Transaction index entry (`AbortedTxn`, 34 bytes): `version:i16=0 producerId:i64
//! firstOffset:i64 lastOffset:i64 lastStableOffset:i64`.

use bytes::{Buf, BufMut, BytesMut};
use kafka_eos::partition::{
    AbortedTxn, BatchMetadata, ProducerSnapshotEntry, ProducerStateSnapshot,
};

const SNAPSHOT_VERSION: i16 = 2;
/// The size of one transaction-index entry (`AbortedTxn.TOTAL_SIZE`).
pub const ABORTED_TXN_SIZE: usize = 34;

/// The bytes of a snapshot file.
pub fn encode_snapshot(snapshot: &ProducerStateSnapshot) -> Vec<u8> {
    let mut body = BytesMut::new();
    body.put_i32(i32::try_from(snapshot.producers.len()).unwrap_or(i32::MAX));
    for p in &snapshot.producers {
        body.put_i64(p.producer_id);
        body.put_i16(p.producer_epoch);
        body.put_i32(p.coordinator_epoch);
        body.put_i64(p.last_timestamp);
        body.put_i64(p.current_txn_first_offset.unwrap_or(-1));
        body.put_i8(i8::try_from(p.batches.len()).unwrap_or(i8::MAX));
        for b in &p.batches {
            body.put_i32(b.last_sequence);
            body.put_i64(b.last_offset);
            body.put_i32(b.offset_delta);
            body.put_i64(b.timestamp);
        }
    }
    let mut out = Vec::with_capacity(6 + body.len());
    out.put_i16(SNAPSHOT_VERSION);
    out.put_u32(crc32c::crc32c(&body));
    out.extend_from_slice(&body);
    out
}

/// Reads a snapshot file taken at `offset`; `None` if it is corrupt (Kafka's
/// `CorruptSnapshotException`: wrong version, CRC mismatch or a cut-short file).
pub fn decode_snapshot(offset: i64, bytes: &[u8]) -> Option<ProducerStateSnapshot> {
    let mut b = bytes;
    if b.remaining() < 6 || b.get_i16() != SNAPSHOT_VERSION {
        return None;
    }
    let crc = b.get_u32();
    if crc32c::crc32c(b) != crc {
        return None;
    }
    let need = |b: &&[u8], n: usize| (b.remaining() >= n).then_some(());
    need(&b, 4)?;
    let count = usize::try_from(b.get_i32()).ok()?;
    let mut producers = Vec::new();
    for _ in 0..count {
        need(&b, 31)?;
        let producer_id = b.get_i64();
        let producer_epoch = b.get_i16();
        let coordinator_epoch = b.get_i32();
        let last_timestamp = b.get_i64();
        let txn = b.get_i64();
        let n = usize::try_from(b.get_i8()).ok()?;
        let mut batches = Vec::with_capacity(n);
        for _ in 0..n {
            need(&b, 24)?;
            batches.push(BatchMetadata {
                last_sequence: b.get_i32(),
                last_offset: b.get_i64(),
                offset_delta: b.get_i32(),
                timestamp: b.get_i64(),
            });
        }
        producers.push(ProducerSnapshotEntry {
            producer_id,
            producer_epoch,
            coordinator_epoch,
            last_timestamp,
            current_txn_first_offset: (txn >= 0).then_some(txn),
            batches,
        });
    }
    b.is_empty()
        .then_some(ProducerStateSnapshot { offset, producers })
}

/// One transaction-index entry.
pub fn encode_aborted(a: &AbortedTxn) -> [u8; ABORTED_TXN_SIZE] {
    let mut out = [0u8; ABORTED_TXN_SIZE];
    let mut w = &mut out[..];
    w.put_i16(0);
    w.put_i64(a.producer_id);
    w.put_i64(a.first_offset);
    w.put_i64(a.last_offset);
    w.put_i64(a.last_stable_offset);
    out
}

/// The whole entries of a transaction index (a cut-short last entry is ignored).
pub fn decode_aborted(bytes: &[u8]) -> Vec<AbortedTxn> {
    bytes
        .chunks_exact(ABORTED_TXN_SIZE)
        .map(|mut c| {
            c.get_i16();
            AbortedTxn {
                producer_id: c.get_i64(),
                first_offset: c.get_i64(),
                last_offset: c.get_i64(),
                last_stable_offset: c.get_i64(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_and_index_entries_round_trip_and_corruption_is_detected() {
        let snapshot = ProducerStateSnapshot {
            offset: 42,
            producers: vec![ProducerSnapshotEntry {
                producer_id: 7,
                producer_epoch: 3,
                coordinator_epoch: 1,
                last_timestamp: 99,
                current_txn_first_offset: Some(40),
                batches: vec![BatchMetadata {
                    last_sequence: 4,
                    last_offset: 41,
                    offset_delta: 1,
                    timestamp: 99,
                }],
            }],
        };
        let bytes = encode_snapshot(&snapshot);
        assert_eq!(decode_snapshot(42, &bytes), Some(snapshot));
        let mut bad = bytes.clone();
        bad[10] ^= 1;
        assert_eq!(decode_snapshot(42, &bad), None);
        assert_eq!(decode_snapshot(42, &bytes[..bytes.len() - 1]), None);
        let a = AbortedTxn {
            producer_id: 7,
            first_offset: 1,
            last_offset: 5,
            last_stable_offset: 6,
        };
        let mut index = encode_aborted(&a).to_vec();
        index.extend_from_slice(&[0; 3]);
        assert_eq!(decode_aborted(&index), vec![a]);
    }
}
