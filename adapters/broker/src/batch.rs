//! Record batches (magic v2) as raw bytes: the header fields the partition leader needs, read
//! without decompressing; the base-offset rewrite when a stored batch is served; and the COMMIT/ABORT control batch a
//! marker becomes in the log.
//!
//! Layout (Kafka's `DefaultRecordBatch`): `baseOffset:i64 batchLength:i32
//! partitionLeaderEpoch:i32 magic:i8 crc:u32 attributes:i16 lastOffsetDelta:i32
//! baseTimestamp:i64 maxTimestamp:i64 producerId:i64 producerEpoch:i16 baseSequence:i32
//! recordsCount:i32 records...`. The CRC-32C covers `attributes` to the end, so the base offset
//! and the leader epoch can be rewritten without touching it.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_eos::error::ErrorCode;
use kafka_eos::partition::{BatchContent, LogBatch, ProduceBatch};
use kafka_eos::types::{
    CoordinatorEpoch, ProducerEpoch, ProducerId, TimestampMs, TransactionResult,
};

/// Size of the v2 batch header (`DefaultRecordBatch.RECORD_BATCH_OVERHEAD`).
pub const HEADER_LEN: usize = 61;
const LENGTH_OFFSET: usize = 8;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;
const RECORDS_COUNT_OFFSET: usize = 57;
const TRANSACTIONAL_FLAG: i16 = 0x10;
const CONTROL_FLAG: i16 = 0x20;

fn i16_at(b: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn i64_at(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Reads the one v2 batch of a Produce partition entry into the core's [`ProduceBatch`], whose
/// payload is the raw batch. Kafka's checks on the wire form (`LogValidator`,
/// `ProduceRequest.validateRecords`): a truncated batch, a wrong length, a magic other than 2
/// or a CRC mismatch is `CORRUPT_MESSAGE`; more than one batch (Produce v3+ carries exactly one),
/// a control batch from a client, or `recordsCount != lastOffsetDelta + 1` is `INVALID_RECORD`.
/// Every other rule (sequence, epoch, transactional flags) is the core's.
pub fn parse_produce_batch(records: &Bytes) -> Result<ProduceBatch<Bytes>, ErrorCode> {
    let b = records.as_ref();
    if b.len() < HEADER_LEN {
        return Err(ErrorCode::CorruptMessage);
    }
    let batch_length = i32_at(b, LENGTH_OFFSET).ok_or(ErrorCode::CorruptMessage)?;
    let total = usize::try_from(batch_length)
        .ok()
        .and_then(|l| l.checked_add(12))
        .ok_or(ErrorCode::CorruptMessage)?;
    if total < HEADER_LEN || total > b.len() {
        return Err(ErrorCode::CorruptMessage);
    }
    if total != b.len() {
        // A second batch follows the first: Produce v3+ must carry exactly one.
        return Err(ErrorCode::InvalidRecord);
    }
    check_magic_and_crc(b)?;
    let attributes = i16_at(b, ATTRIBUTES_OFFSET).ok_or(ErrorCode::CorruptMessage)?;
    if attributes & CONTROL_FLAG != 0 {
        return Err(ErrorCode::InvalidRecord);
    }
    let last_offset_delta = i32_at(b, LAST_OFFSET_DELTA_OFFSET).ok_or(ErrorCode::CorruptMessage)?;
    let records_count = i32_at(b, RECORDS_COUNT_OFFSET).ok_or(ErrorCode::CorruptMessage)?;
    if last_offset_delta < 0 || last_offset_delta.checked_add(1) != Some(records_count) {
        return Err(ErrorCode::InvalidRecord);
    }
    Ok(ProduceBatch {
        producer_id: i64_at(b, PRODUCER_ID_OFFSET).ok_or(ErrorCode::CorruptMessage)?,
        producer_epoch: i16_at(b, PRODUCER_EPOCH_OFFSET).ok_or(ErrorCode::CorruptMessage)?,
        base_sequence: i32_at(b, BASE_SEQUENCE_OFFSET).ok_or(ErrorCode::CorruptMessage)?,
        record_count: records_count,
        is_transactional: attributes & TRANSACTIONAL_FLAG != 0,
        max_timestamp: i64_at(b, MAX_TIMESTAMP_OFFSET).ok_or(ErrorCode::CorruptMessage)?,
        payload: records.clone(),
    })
}

/// `DefaultRecordBatch.ensureValid`: magic 2 and the CRC-32C of `attributes` to the end.
fn check_magic_and_crc(b: &[u8]) -> Result<(), ErrorCode> {
    if b.get(MAGIC_OFFSET) != Some(&2) {
        return Err(ErrorCode::CorruptMessage);
    }
    let stored_crc = u32::from_be_bytes(
        b.get(CRC_OFFSET..CRC_OFFSET + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or(ErrorCode::CorruptMessage)?,
    );
    let covered = b
        .get(ATTRIBUTES_OFFSET..)
        .ok_or(ErrorCode::CorruptMessage)?;
    if crc32c::crc32c(covered) != stored_crc {
        return Err(ErrorCode::CorruptMessage);
    }
    Ok(())
}

/// The size of the batch that starts `b` (`batchLength + 12`), if its header is complete and
/// the size is at least a header's (`FileLogInputStream.nextBatch`); the batch itself may still
/// be cut short.
pub fn stored_batch_len(b: &[u8]) -> Option<usize> {
    let length = usize::try_from(i32_at(b, LENGTH_OFFSET)?).ok()?;
    let total = length.checked_add(12)?;
    (total >= HEADER_LEN).then_some(total)
}

/// Reads one batch as stored in a segment (the whole batch, exactly): `ensureValid` (magic 2,
/// CRC), then the header fields of the core's [`LogBatch`]; a control batch's one record gives
/// the marker (`EndTransactionMarker`: key `version, type` with 0 = ABORT and 1 = COMMIT, value
/// `version, coordinatorEpoch`). A batch that fails any check is `CORRUPT_MESSAGE`: recovery
/// truncates the log before it (`LogSegment.recover`).
pub fn parse_log_batch(raw: Bytes) -> Result<LogBatch<Bytes>, ErrorCode> {
    let b = raw.as_ref();
    if stored_batch_len(b) != Some(b.len()) {
        return Err(ErrorCode::CorruptMessage);
    }
    check_magic_and_crc(b)?;
    let field = |v: Option<i64>| v.ok_or(ErrorCode::CorruptMessage);
    let base_offset = field(i64_at(b, 0))?;
    let attributes = field(i16_at(b, ATTRIBUTES_OFFSET).map(i64::from))?;
    let last_offset_delta = field(i32_at(b, LAST_OFFSET_DELTA_OFFSET).map(i64::from))?;
    let last_offset = base_offset
        .checked_add(last_offset_delta)
        .filter(|_| last_offset_delta >= 0)
        .ok_or(ErrorCode::CorruptMessage)?;
    let producer_id = field(i64_at(b, PRODUCER_ID_OFFSET))?;
    let producer_epoch = i16_at(b, PRODUCER_EPOCH_OFFSET).ok_or(ErrorCode::CorruptMessage)?;
    let base_sequence = i32_at(b, BASE_SEQUENCE_OFFSET).ok_or(ErrorCode::CorruptMessage)?;
    let content = if attributes & i64::from(CONTROL_FLAG) != 0 {
        control_marker(b.get(HEADER_LEN..).unwrap_or(&[])).ok_or(ErrorCode::CorruptMessage)?
    } else {
        BatchContent::Data(raw.clone())
    };
    Ok(LogBatch {
        base_offset,
        last_offset,
        producer_id,
        producer_epoch,
        base_sequence,
        is_transactional: attributes & i64::from(TRANSACTIONAL_FLAG) != 0,
        max_timestamp: field(i64_at(b, MAX_TIMESTAMP_OFFSET))?,
        content,
    })
}

/// Reads a zig-zag varint (`ByteUtils.readVarlong`) at `*at`, advancing it.
fn varlong(b: &[u8], at: &mut usize) -> Option<i64> {
    let mut raw: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    None
}

/// The marker of a control batch's first record (`ControlRecordType` and
/// `EndTransactionMarker`).
fn control_marker(records: &[u8]) -> Option<BatchContent<Bytes>> {
    let mut at = 0;
    varlong(records, &mut at)?; // record length
    at += 1; // attributes
    varlong(records, &mut at)?; // timestamp delta
    varlong(records, &mut at)?; // offset delta
    let key_len = usize::try_from(varlong(records, &mut at)?).ok()?;
    let key = records.get(at..at.checked_add(key_len)?)?;
    at += key_len;
    let result = match i16_at(key, 2)? {
        0 => TransactionResult::Abort,
        1 => TransactionResult::Commit,
        _ => return None,
    };
    varlong(records, &mut at)?; // value length
    let coordinator_epoch = i32_at(records, at + 2)?;
    Some(BatchContent::Control {
        result,
        coordinator_epoch,
    })
}

/// The served form of a stored batch: the client's bytes with the base offset the leader
/// assigned (`LogValidator.assignOffsetsNonCompressed` / `setLastOffset`: the base offset lies
/// outside the CRC).
pub fn with_base_offset(raw: &Bytes, base_offset: i64) -> Bytes {
    if raw.len() < 8 {
        return raw.clone();
    }
    let mut out = BytesMut::with_capacity(raw.len());
    out.put_i64(base_offset);
    out.extend_from_slice(raw.get(8..).unwrap_or(&[]));
    out.freeze()
}

/// A log batch as Kafka stores and serves it: a data batch is the client's bytes with the base
/// offset the leader assigned ([`with_base_offset`], outside the CRC); a marker is its control
/// batch ([`control_batch`]).
pub fn stored_form(b: &LogBatch<Bytes>) -> Bytes {
    match &b.content {
        BatchContent::Data(raw) => {
            if raw.get(..8) == Some(&b.base_offset.to_be_bytes()[..]) {
                raw.clone()
            } else {
                with_base_offset(raw, b.base_offset)
            }
        }
        BatchContent::Control {
            result,
            coordinator_epoch,
        } => control_batch(
            b.base_offset,
            b.producer_id,
            b.producer_epoch,
            *coordinator_epoch,
            *result,
            b.max_timestamp,
        ),
    }
}

fn put_varint(buf: &mut BytesMut, v: i32) {
    put_varlong(buf, i64::from(v));
}

fn put_varlong(buf: &mut BytesMut, v: i64) {
    // Zig-zag encoding (`ByteUtils.writeVarlong`).
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.put_u8((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

/// The control batch of a transaction marker (`MemoryRecords.withEndTransactionMarker`): one
/// control record in a transactional batch of the producer's id and epoch, sequence -1; key
/// `version:i16=0, type:i16` (0 = ABORT, 1 = COMMIT), value `version:i16=0,
/// coordinatorEpoch:i32` (`EndTransactionMarker`). This is what read_committed consumers look
/// for to end an aborted transaction.
pub fn control_batch(
    base_offset: i64,
    producer_id: ProducerId,
    producer_epoch: ProducerEpoch,
    coordinator_epoch: CoordinatorEpoch,
    result: TransactionResult,
    timestamp: TimestampMs,
) -> Bytes {
    let marker_type: i16 = match result {
        TransactionResult::Abort => 0,
        TransactionResult::Commit => 1,
    };
    let mut record = BytesMut::new();
    record.put_i8(0); // attributes
    put_varlong(&mut record, 0); // timestamp delta
    put_varint(&mut record, 0); // offset delta
    put_varint(&mut record, 4); // key length
    record.put_i16(0);
    record.put_i16(marker_type);
    put_varint(&mut record, 6); // value length
    record.put_i16(0);
    record.put_i32(coordinator_epoch);
    put_varint(&mut record, 0); // headers
    let mut records = BytesMut::new();
    put_varint(
        &mut records,
        i32::try_from(record.len()).unwrap_or(i32::MAX),
    );
    records.extend_from_slice(&record);

    let mut tail = BytesMut::new(); // attributes onward: what the CRC covers
    tail.put_i16(TRANSACTIONAL_FLAG | CONTROL_FLAG);
    tail.put_i32(0); // last offset delta
    tail.put_i64(timestamp); // base timestamp
    tail.put_i64(timestamp); // max timestamp
    tail.put_i64(producer_id);
    tail.put_i16(producer_epoch);
    tail.put_i32(-1); // base sequence
    tail.put_i32(1); // records count
    tail.extend_from_slice(&records);

    let mut out = BytesMut::with_capacity(CRC_OFFSET + 4 + tail.len());
    out.put_i64(base_offset);
    // batchLength counts from the partition leader epoch: 4 + 1 + 4 + tail.
    out.put_i32(i32::try_from(9 + tail.len()).unwrap_or(i32::MAX));
    out.put_i32(0); // partition leader epoch
    out.put_i8(2); // magic
    out.put_u32(crc32c::crc32c(&tail));
    out.extend_from_slice(&tail);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    fn sample_batch(pid: i64, epoch: i16, seq: i32, n: i32, txn: bool) -> Bytes {
        crate::testing::data_batch(pid, epoch, seq, n, txn)
    }

    #[test]
    fn header_fields_are_read_without_decompressing() {
        let raw = sample_batch(7, 3, 10, 4, true);
        let batch = parse_produce_batch(&raw).unwrap();
        assert_eq!(batch.producer_id, 7);
        assert_eq!(batch.producer_epoch, 3);
        assert_eq!(batch.base_sequence, 10);
        assert_eq!(batch.record_count, 4);
        assert!(batch.is_transactional);
    }

    #[test]
    fn rewriting_the_base_offset_keeps_the_crc_valid() {
        let raw = sample_batch(7, 0, 0, 3, false);
        let moved = with_base_offset(&raw, 1234);
        let info = RecordBatchDecoder::decode_batch_info(&mut moved.clone()).unwrap();
        assert_eq!(info[0].min_offset, 1234);
        assert!(parse_produce_batch(&moved).is_ok());
    }

    #[test]
    fn corrupt_crc_is_corrupt_message_and_two_batches_invalid_record() {
        let raw = sample_batch(7, 0, 0, 3, false);
        let mut bad = BytesMut::from(raw.as_ref());
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert_eq!(
            parse_produce_batch(&bad.freeze()),
            Err(ErrorCode::CorruptMessage)
        );
        let mut two = BytesMut::from(raw.as_ref());
        two.extend_from_slice(&raw);
        assert_eq!(
            parse_produce_batch(&two.freeze()),
            Err(ErrorCode::InvalidRecord)
        );
        assert_eq!(
            parse_produce_batch(&Bytes::from_static(&[0; 10])),
            Err(ErrorCode::CorruptMessage)
        );
    }

    #[test]
    fn stored_batches_parse_back_into_log_batches() {
        let data = with_base_offset(&sample_batch(7, 2, 5, 3, true), 40);
        let parsed = parse_log_batch(data.clone()).unwrap();
        assert_eq!(
            (parsed.base_offset, parsed.last_offset, parsed.producer_id),
            (40, 42, 7)
        );
        assert_eq!((parsed.producer_epoch, parsed.base_sequence), (2, 5));
        assert!(parsed.is_transactional);
        assert_eq!(parsed.content, BatchContent::Data(data.clone()));
        let marker = control_batch(43, 7, 3, 9, TransactionResult::Abort, 77);
        let parsed = parse_log_batch(marker).unwrap();
        assert_eq!(
            parsed.content,
            BatchContent::Control {
                result: TransactionResult::Abort,
                coordinator_epoch: 9
            }
        );
        assert_eq!((parsed.base_offset, parsed.max_timestamp), (43, 77));
        let mut bad = BytesMut::from(data.as_ref());
        bad[30] ^= 1;
        assert_eq!(
            parse_log_batch(bad.freeze()),
            Err(ErrorCode::CorruptMessage)
        );
        assert_eq!(
            parse_log_batch(data.slice(..data.len() - 1)),
            Err(ErrorCode::CorruptMessage)
        );
    }

    #[test]
    fn control_batch_from_a_client_is_invalid_record() {
        let raw = control_batch(0, 5, 1, 0, TransactionResult::Commit, 1);
        assert_eq!(parse_produce_batch(&raw), Err(ErrorCode::InvalidRecord));
    }

    #[test]
    fn control_batch_decodes_as_a_marker() {
        let raw = control_batch(42, 9, 4, 3, TransactionResult::Abort, 1000);
        let set = RecordBatchDecoder::decode(&mut raw.clone()).unwrap();
        assert_eq!(set.records.len(), 1);
        let r = &set.records[0];
        assert!(r.control && r.transactional);
        assert_eq!((r.producer_id, r.producer_epoch, r.offset), (9, 4, 42));
        assert_eq!(r.key.as_deref(), Some(&[0u8, 0, 0, 0][..]));
        assert_eq!(r.value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 3][..]));
        let commit = control_batch(0, 9, 4, 3, TransactionResult::Commit, 1000);
        let set = RecordBatchDecoder::decode(&mut commit.clone()).unwrap();
        assert_eq!(set.records[0].key.as_deref(), Some(&[0u8, 0, 0, 1][..]));
    }
}
