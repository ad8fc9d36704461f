//! Cost of durability, measured in process (no network): `N` idempotent Produce requests of one
//! batch of 10 records × 100 bytes each, handled by a [`Broker`] in memory, durable with
//! `--flush every-batch` (at most 2000 requests), and durable with `--flush interval=100`; then
//! the time to start a broker on the latter's data directory after a clean stop (snapshots at the log end: nothing
//! replayed) and with every snapshot deleted (the whole log replayed through the core).
//!
//! `cargo run --release -p kafka-eos-broker --example storage_bench -- [N]` (a benchmark, not a
//! test: it asserts nothing about time).

use std::path::Path;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use kafka_eos_broker::broker::{Broker, BrokerConfig, Reply, DEFAULT_FIRST_PRODUCER_ID};
use kafka_eos_broker::storage::{FlushPolicy, StorageConfig};
use kafka_eos_broker::testing::data_batch_at;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};

fn config(storage: StorageConfig) -> BrokerConfig {
    BrokerConfig {
        node_id: 0,
        advertised_host: "127.0.0.1".into(),
        advertised_port: 9092,
        topics: vec![("t".into(), 1)],
        unsafe_disable_dedup: false,
        unsafe_read_committed_shows_aborted: false,
        first_producer_id: DEFAULT_FIRST_PRODUCER_ID,
        membership: Default::default(),
        storage,
    }
}

fn request(seq: i32, now: i64) -> Bytes {
    let batch = data_batch_at(5000, 0, seq, 10, false, now);
    let mut buf = BytesMut::new();
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))])])
        .encode(&mut buf, 9)
        .expect("encodes");
    buf.freeze()
}

/// Produces `n` batches; returns batches per second.
fn produce_loop(broker: &mut Broker, n: i32) -> f64 {
    let now = kafka_eos_broker::server::now_ms();
    let requests: Vec<Bytes> = (0..n).map(|i| request(i * 10, now)).collect();
    let start = Instant::now();
    for (i, r) in requests.into_iter().enumerate() {
        let mut body = r;
        match broker.handle(ApiKey::Produce, 9, &mut body, now) {
            Reply::Body(_) => {}
            other => panic!("produce {i}: {other:?}"),
        }
        if i % 1000 == 0 {
            broker.tick(now);
        }
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

fn durable(dir: &Path, flush: FlushPolicy) -> StorageConfig {
    StorageConfig {
        data_dir: Some(dir.to_path_buf()),
        flush,
        ..StorageConfig::default()
    }
}

fn main() {
    let n: i32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let root = std::env::temp_dir().join(format!("kafka-eos-storage-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mut memory = Broker::new(config(StorageConfig::default())).expect("starts");
    println!(
        "in memory:            {:>9.0} batches/s",
        produce_loop(&mut memory, n)
    );
    let every = root.join("every");
    let m = n.min(2000);
    let mut b = Broker::new(config(durable(&every, FlushPolicy::EveryBatch))).expect("starts");
    println!(
        "durable every-batch:  {:>9.0} batches/s ({m} batches)",
        produce_loop(&mut b, m)
    );
    drop(b);
    let interval = root.join("interval");
    let mut b =
        Broker::new(config(durable(&interval, FlushPolicy::IntervalMs(100)))).expect("starts");
    println!(
        "durable interval=100: {:>9.0} batches/s",
        produce_loop(&mut b, n)
    );
    b.close_storage();
    drop(b);
    let start = Instant::now();
    let b = Broker::new(config(durable(&interval, FlushPolicy::EveryBatch))).expect("recovers");
    let leo = b
        .partition(&kafka_eos::types::TopicPartition::new("t".to_string(), 0))
        .map(|l| l.log_end_offset());
    println!(
        "start after a clean stop ({n} batches, log end {leo:?}): {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    drop(b);
    for entry in std::fs::read_dir(interval.join("t-0")).expect("the partition directory") {
        let path = entry.expect("an entry").path();
        if path.extension() == Some("snapshot".as_ref()) {
            std::fs::remove_file(path).expect("removed");
        }
    }
    let start = Instant::now();
    let _b = Broker::new(config(durable(&interval, FlushPolicy::EveryBatch))).expect("recovers");
    println!(
        "start with no snapshot (full replay of {n} batches): {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&root);
}
