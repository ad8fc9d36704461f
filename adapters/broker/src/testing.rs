//! Helpers for tests and fuzzing: v2 record batches as a client would build them (through
//! `kafka-protocol`'s record encoder).

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// One uncompressed v2 batch of `count` records `"{producer_id}-{sequence}"` from `producer_id`
/// at `producer_epoch`, base sequence `base_sequence` (-1 ids for a plain batch), optionally
/// transactional.
pub fn data_batch(
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    count: i32,
    transactional: bool,
) -> Bytes {
    data_batch_at(
        producer_id,
        producer_epoch,
        base_sequence,
        count,
        transactional,
        1_000,
    )
}

/// [`data_batch`] with every record at `timestamp` (the producer's last timestamp on the
/// leader, which `producer.id.expiration.ms` counts from).
pub fn data_batch_at(
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    count: i32,
    transactional: bool,
    timestamp: i64,
) -> Bytes {
    let records: Vec<Record> = (0..count.max(1))
        .map(|i| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i64::from(i),
            // The encoder derives the batch's base sequence from consecutive record sequences.
            sequence: base_sequence.wrapping_add(i),
            timestamp,
            key: None,
            value: Some(Bytes::from(format!(
                "{producer_id}-{}",
                base_sequence.wrapping_add(i)
            ))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    // Encoding uncompressed records into memory cannot fail.
    let _ = RecordBatchEncoder::encode(&mut buf, records.iter(), &options);
    buf.freeze()
}
