//! Load: [`CLIENTS`] client connections on 127.0.0.1, all open at once, each served correctly
//! (ApiVersions, Metadata, an idempotent InitProducerId and Produce, a Fetch of its own batch,
//! then a second Fetch once every connection is open), and the broker's counters agree.
//!
//! Bounded by construction: a fixed number of connections and requests, every read with a
//! 10 s timeout (`Client::connect`); nothing is timed. Needs about `2 × CLIENTS` file
//! descriptors (both ends are in this process): the test checks `ulimit -n` first.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use std::thread;

use common::eos::{fetch, init_producer_id, produce};
use common::{scrape, start, Client};
use kafka_eos_broker::server::DEFAULT_MAX_FRAME_BYTES;
use kafka_eos_broker::testing::data_batch;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

/// Concurrent client connections.
const CLIENTS: usize = 512;
/// Client threads, each driving `CLIENTS / THREADS` connections.
const THREADS: usize = 16;
/// Records per produced batch.
const RECORDS: i32 = 3;

/// The soft `RLIMIT_NOFILE` of this process (`/proc/self/limits`), if readable.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One client's requests up to its Produce; returns the connection, its producer id and where
/// its batch went.
fn first_round(server: &kafka_eos_broker::server::Server, i: usize) -> (Client, i64, i32, i64) {
    let mut c = Client::connect(server);
    let versions: ApiVersionsResponse = c
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .expect("ApiVersions answered");
    assert_eq!(versions.error_code, 0);
    assert!(versions
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::Produce as i16));
    let metadata: MetadataResponse = c
        .call(
            ApiKey::Metadata,
            9,
            &MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_static_str("t"))))])),
        )
        .expect("Metadata answered");
    assert_eq!(metadata.topics.len(), 1);
    assert_eq!(metadata.topics[0].partitions.len(), 2);
    let init = init_producer_id(&mut c, None);
    assert_eq!(init.error_code, 0);
    let pid = init.producer_id.0;
    let partition = i32::try_from(i % 2).unwrap();
    let p = produce(
        &mut c,
        None,
        "t",
        partition,
        data_batch(pid, init.producer_epoch, 0, RECORDS, false),
    );
    assert_eq!(p.error_code, 0, "client {i}");
    (c, pid, partition, p.base_offset)
}

/// Fetches the client's batch back and checks it is its own.
fn fetch_own(c: &mut Client, pid: i64, partition: i32, offset: i64) {
    let f = fetch(c, "t", partition, offset, false);
    assert_eq!(f.error_code, 0);
    let mut records = f.records.expect("records");
    let batches = RecordBatchDecoder::decode_all(&mut records).expect("decodable batches");
    let first = &batches[0].records;
    assert_eq!(first.len(), usize::try_from(RECORDS).unwrap());
    assert_eq!(first[0].offset, offset);
    assert_eq!(first[0].producer_id, pid);
}

#[test]
fn five_hundred_connections_are_served_at_once() {
    let needed = u64::try_from(2 * CLIENTS + 64).unwrap();
    if let Some(limit) = open_files_limit() {
        assert!(
            limit >= needed,
            "ulimit -n is {limit}; this test needs {needed} descriptors (raise it: ulimit -n 4096)"
        );
    }
    let server = Arc::new(start(DEFAULT_MAX_FRAME_BYTES, false));
    let metrics = server
        .serve_metrics("127.0.0.1:0")
        .expect("metrics listener");
    // Every thread opens its connections and runs its first round, then waits until all
    // connections of all threads are open and answered; only then does each fetch again.
    let all_open = Arc::new(Barrier::new(THREADS + 1));
    let checked = Arc::new(Barrier::new(THREADS + 1));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let server = Arc::clone(&server);
            let all_open = Arc::clone(&all_open);
            let checked = Arc::clone(&checked);
            thread::spawn(move || {
                let mut mine: Vec<_> = (t..CLIENTS)
                    .step_by(THREADS)
                    .map(|i| first_round(&server, i))
                    .collect();
                all_open.wait();
                for (c, pid, partition, offset) in &mut mine {
                    fetch_own(c, *pid, *partition, *offset);
                }
                // Keep the connections open until the main thread has read the gauges.
                checked.wait();
                mine.iter().map(|(_, pid, _, _)| *pid).collect::<Vec<_>>()
            })
        })
        .collect();
    all_open.wait();
    let open = scrape(metrics);
    let clients = f64::from(u32::try_from(CLIENTS).unwrap());
    assert_eq!(open["kafka_eos_connections"], clients);
    checked.wait();
    let producer_ids: BTreeSet<i64> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("client thread"))
        .collect();

    let done = scrape(metrics);
    let records = clients * f64::from(RECORDS);
    for (series, want) in [
        (r#"kafka_eos_requests_total{api="ApiVersions"}"#, clients),
        (r#"kafka_eos_requests_total{api="Metadata"}"#, clients),
        (r#"kafka_eos_requests_total{api="InitProducerId"}"#, clients),
        (r#"kafka_eos_requests_total{api="Produce"}"#, clients),
        (r#"kafka_eos_requests_total{api="Fetch"}"#, clients),
        ("kafka_eos_batches_appended_total", clients),
        ("kafka_eos_duplicates_suppressed_total", 0.0),
        ("kafka_eos_connections_accepted_total", clients),
        (
            r#"kafka_eos_high_watermark{topic="t",partition="0"}"#,
            records / 2.0,
        ),
        (
            r#"kafka_eos_high_watermark{topic="t",partition="1"}"#,
            records / 2.0,
        ),
    ] {
        assert_eq!(done[series], want, "{series}");
    }
    assert_eq!(producer_ids.len(), CLIENTS, "one producer id per client");
}
