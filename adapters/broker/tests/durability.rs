//! Durability of the partition logs over the wire: what a broker acknowledged is there after a
//! restart on the same data directory (records, HW, LSO, the aborted list, producer state), both
//! after a clean stop and after a crash (the data directory copied while the broker runs, as a
//! `kill -9` leaves it); a torn or corrupt tail is truncated and never served; an open
//! transaction still pins the LSO.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::{Bytes, BytesMut};
use common::Client;
use kafka_eos_broker::broker::{BrokerConfig, DEFAULT_FIRST_PRODUCER_ID};
use kafka_eos_broker::server::now_ms;
use kafka_eos_broker::server::{Server, DEFAULT_MAX_FRAME_BYTES};
use kafka_eos_broker::storage::{FlushPolicy, StorageConfig};
use kafka_eos_broker::testing::data_batch_at;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

/// Errors of the protocol the tests expect.
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kafka-eos-durability-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(dir: &Path, flush: FlushPolicy, segment_bytes: u64) -> Server {
    Server::start(
        "127.0.0.1:0",
        BrokerConfig {
            node_id: 0,
            advertised_host: "127.0.0.1".into(),
            advertised_port: 0,
            topics: vec![("t".into(), 2)],
            auto_create_topics: true,
            default_partitions: 1,
            unsafe_disable_dedup: false,
            unsafe_read_committed_shows_aborted: false,
            first_producer_id: DEFAULT_FIRST_PRODUCER_ID,
            membership: Default::default(),
            storage: StorageConfig {
                data_dir: Some(dir.to_path_buf()),
                flush,
                segment_bytes,
            },
        },
        DEFAULT_MAX_FRAME_BYTES,
        None,
    )
    .expect("broker starts")
}

/// A batch stamped now: producer state expires `producer.id.expiration.ms` after its batches'
/// timestamps, also when a snapshot is loaded.
fn data_batch(pid: i64, epoch: i16, seq: i32, count: i32, txn: bool) -> Bytes {
    data_batch_at(pid, epoch, seq, count, txn, now_ms())
}

/// Copies the data directory as it is on disk now: what a `kill -9` at this instant leaves.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str("t"))
}

fn txn_id(t: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(t.into()))
}

fn init_pid(c: &mut Client, txn: &str) -> (i64, i16) {
    let r: InitProducerIdResponse = c
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(txn_id(txn)))
                .with_transaction_timeout_ms(600_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .expect("InitProducerId answered");
    assert_eq!(r.error_code, 0);
    (r.producer_id.0, r.producer_epoch)
}

/// Produce v9 of one batch to partition `p` of `t`: (error code, base offset).
fn produce(c: &mut Client, txn: Option<&str>, p: i32, records: Bytes) -> (i16, i64) {
    let answer = common::eos::produce(c, txn, "t", p, records);
    (answer.error_code, answer.base_offset)
}

/// Fetch v12 of partition `p` from `offset` (isolation 1: read_committed).
fn fetch(c: &mut Client, p: i32, offset: i64, isolation: i8) -> fetch_response::PartitionData {
    let r: FetchResponse = c
        .call(
            ApiKey::Fetch,
            12,
            &FetchRequest::default()
                .with_max_wait_ms(0)
                .with_min_bytes(1)
                .with_max_bytes(16 << 20)
                .with_isolation_level(isolation)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(topic())
                    .with_partitions(vec![FetchPartition::default()
                        .with_partition(p)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(16 << 20)])]),
        )
        .expect("Fetch answered");
    r.responses[0].partitions[0].clone()
}

fn begin(c: &mut Client, txn: &str, pid: i64, epoch: i16, p: i32) {
    assert_eq!(common::eos::add_partition(c, txn, (pid, epoch), "t", p), 0);
}

fn end_txn(c: &mut Client, txn: &str, pid: i64, epoch: i16, commit: bool) {
    assert_eq!(common::eos::end_txn(c, 3, txn, (pid, epoch), commit), 0);
}

/// What a fetch shows of a partition: HW, LSO, the aborted list and every batch's
/// (base offset, last offset, producer id, control) at both isolation levels.
#[derive(Debug, PartialEq, Eq)]
struct View {
    high_watermark: i64,
    last_stable_offset: i64,
    aborted: Vec<(i64, i64)>,
    records: Option<Bytes>,
    committed_batches: Vec<(i64, i64)>,
}

fn view(c: &mut Client, p: i32) -> View {
    let all = fetch(c, p, 0, 0);
    let committed = fetch(c, p, 0, 1);
    let mut bytes = committed.records.clone().unwrap_or_default();
    let committed_batches = RecordBatchDecoder::decode_batch_info(&mut bytes)
        .unwrap()
        .iter()
        .map(|b| (b.min_offset, b.min_offset + i64::from(b.record_count) - 1))
        .collect();
    View {
        high_watermark: all.high_watermark,
        last_stable_offset: committed.last_stable_offset,
        aborted: committed
            .aborted_transactions
            .unwrap_or_default()
            .iter()
            .map(|a| (a.producer_id.0, a.first_offset))
            .collect(),
        records: all.records,
        committed_batches,
    }
}

/// An idempotent producer (id 5000, not from the coordinator) with 4 batches at epoch 0 on
/// partition 0, and a transactional producer with a committed, an aborted and (with `open`) an
/// open transaction on partition 1. Returns the transactional producer's id and epoch.
fn workload(c: &mut Client, open: bool) -> (i64, i16) {
    for i in 0..4 {
        assert_eq!(
            produce(c, None, 0, data_batch(5000, 0, i * 2, 2, false)),
            (0, i64::from(i) * 2)
        );
    }
    let (pid, epoch) = init_pid(c, "tx");
    let mut seq = 0;
    for commit in [true, false] {
        begin(c, "tx", pid, epoch, 1);
        assert_eq!(
            produce(c, Some("tx"), 1, data_batch(pid, epoch, seq, 3, true)).0,
            0
        );
        seq += 3;
        end_txn(c, "tx", pid, epoch, commit);
    }
    if open {
        begin(c, "tx", pid, epoch, 1);
        assert_eq!(
            produce(c, Some("tx"), 1, data_batch(pid, epoch, seq, 2, true)),
            (0, 8)
        );
    }
    (pid, epoch)
}

/// After a restart the idempotent producer's state is back: a retry of an acknowledged batch
/// is still a duplicate answered with its offset, a gap is out of order, the next sequence is
/// taken; a bumped epoch then fences the old one.
fn assert_producer_state_survived(c: &mut Client) {
    assert_eq!(
        produce(c, None, 0, data_batch(5000, 0, 2, 2, false)),
        (0, 2)
    );
    assert_eq!(
        produce(c, None, 0, data_batch(5000, 0, 6, 2, false)),
        (0, 6)
    );
    assert_eq!(
        produce(c, None, 0, data_batch(5000, 0, 9, 1, false)).0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(
        produce(c, None, 0, data_batch(5000, 0, 8, 1, false)),
        (0, 8)
    );
    assert_eq!(
        produce(c, None, 0, data_batch(5000, 1, 0, 1, false)),
        (0, 9)
    );
    assert_eq!(
        produce(c, None, 0, data_batch(5000, 0, 9, 1, false)).0,
        INVALID_PRODUCER_EPOCH
    );
}

#[test]
fn acknowledged_state_survives_a_clean_restart() {
    let dir = TempDir::new();
    let server = start(&dir.0, FlushPolicy::EveryBatch, 1 << 20);
    let mut c = Client::connect(&server);
    let (pid, _) = workload(&mut c, false);
    let before = [view(&mut c, 0), view(&mut c, 1)];
    assert_eq!(before[1].aborted, vec![(pid, 4)]);
    assert_eq!(
        (before[1].high_watermark, before[1].last_stable_offset),
        (8, 8)
    );
    server.stop();
    drop(c);

    let server = start(&dir.0, FlushPolicy::EveryBatch, 1 << 20);
    let mut c = Client::connect(&server);
    assert_eq!([view(&mut c, 0), view(&mut c, 1)], before);
    assert_producer_state_survived(&mut c);
    server.stop();
}

#[test]
fn acknowledged_state_survives_a_crash_with_small_segments_and_no_snapshot() {
    let dir = TempDir::new();
    // Segments of 100 bytes: a roll (and a producer-state snapshot) after nearly every batch.
    let server = start(&dir.0, FlushPolicy::IntervalMs(10), 100);
    let mut c = Client::connect(&server);
    let (pid, epoch) = workload(&mut c, true);
    let before = [view(&mut c, 0), view(&mut c, 1)];
    assert_eq!(before[1].last_stable_offset, 8);
    let logs = std::fs::read_dir(dir.0.join("t-1"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("log".as_ref()))
        .count();
    assert!(logs >= 4, "segments rolled: {logs}");
    // A crash now: the files as the page cache holds them.
    let crashed = TempDir::new();
    copy_dir(&dir.0, &crashed.0);
    server.stop();

    let server = start(&crashed.0, FlushPolicy::EveryBatch, 200);
    let mut c = Client::connect(&server);
    assert_eq!([view(&mut c, 0), view(&mut c, 1)], before);
    // The open transaction still pins the LSO and its data stays invisible at read_committed.
    let open = view(&mut c, 1);
    assert_eq!((open.high_watermark, open.last_stable_offset), (10, 8));
    assert_eq!(open.committed_batches, vec![(0, 2), (3, 3), (4, 6), (7, 7)]);
    // The open transaction's producer continues it: the next sequence at its epoch is taken.
    assert_eq!(
        produce(&mut c, Some("tx"), 1, data_batch(pid, epoch, 8, 1, true)).0,
        0,
        "the ongoing transaction needs no new verification"
    );
    assert_producer_state_survived(&mut c);
    server.stop();

    // Without any snapshot the whole log is replayed: the same state.
    let again = TempDir::new();
    copy_dir(&crashed.0, &again.0);
    for p in ["t-0", "t-1"] {
        for entry in std::fs::read_dir(again.0.join(p)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension() == Some("snapshot".as_ref()) {
                std::fs::remove_file(path).unwrap();
            }
        }
    }
    let a = start(&crashed.0, FlushPolicy::EveryBatch, 200);
    let b = start(&again.0, FlushPolicy::EveryBatch, 200);
    let (mut ca, mut cb) = (Client::connect(&a), Client::connect(&b));
    for p in [0, 1] {
        assert_eq!(view(&mut ca, p), view(&mut cb, p));
    }
    a.stop();
    b.stop();
}

/// The last segment file of a partition directory.
fn last_segment(dir: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension() == Some("log".as_ref()))
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

#[test]
fn a_torn_or_corrupt_tail_is_truncated_and_never_served() {
    let dir = TempDir::new();
    let server = start(&dir.0, FlushPolicy::EveryBatch, 1 << 20);
    let mut c = Client::connect(&server);
    for i in 0..3 {
        assert_eq!(
            produce(&mut c, None, 0, data_batch(5000, 0, i, 1, false)),
            (0, i64::from(i))
        );
    }
    let two = fetch(&mut c, 0, 0, 0);
    let mut two_batches = two.records.clone().unwrap();
    let infos = RecordBatchDecoder::decode_batch_info(&mut two_batches).unwrap();
    assert_eq!(infos.len(), 3);
    server.stop();
    let segment = last_segment(&dir.0.join("t-0"));
    let full = std::fs::read(&segment).unwrap();

    // A torn write: the last batch cut short by a few bytes.
    std::fs::write(&segment, &full[..full.len() - 5]).unwrap();
    let server = start(&dir.0, FlushPolicy::EveryBatch, 1 << 20);
    let mut c = Client::connect(&server);
    let torn = fetch(&mut c, 0, 0, 0);
    assert_eq!(torn.high_watermark, 2);
    let mut served = torn.records.clone().unwrap();
    assert_eq!(
        RecordBatchDecoder::decode_batch_info(&mut served)
            .unwrap()
            .len(),
        2
    );
    // The lost batch was never acknowledged as far as this disk knows: its retry is appended
    // at the truncated end, and an earlier retry is still a duplicate.
    assert_eq!(
        produce(&mut c, None, 0, data_batch(5000, 0, 2, 1, false)),
        (0, 2)
    );
    assert_eq!(
        produce(&mut c, None, 0, data_batch(5000, 0, 1, 1, false)),
        (0, 1)
    );
    server.stop();
    // The re-sent batch (a new timestamp) took the torn one's place.
    let full = std::fs::read(&segment).unwrap();
    assert_eq!(full.len(), two.records.unwrap().len());

    // Garbage after the last batch, and a batch whose CRC no longer matches.
    let mut garbage = BytesMut::from(&full[..]);
    garbage.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 40, 1, 2, 3]);
    std::fs::write(&segment, &garbage).unwrap();
    let server = start(&dir.0, FlushPolicy::EveryBatch, 1 << 20);
    let mut c = Client::connect(&server);
    assert_eq!(fetch(&mut c, 0, 0, 0).high_watermark, 3);
    server.stop();
    assert_eq!(std::fs::read(&segment).unwrap(), full);
    let mut flipped = full.clone();
    let at = full.len() - 3;
    flipped[at] ^= 0xff;
    std::fs::write(&segment, &flipped).unwrap();
    let server = start(&dir.0, FlushPolicy::EveryBatch, 1 << 20);
    let mut c = Client::connect(&server);
    let cut = fetch(&mut c, 0, 0, 0);
    assert_eq!(cut.high_watermark, 2);
    let mut served = cut.records.clone().unwrap();
    let batches = RecordBatchDecoder::decode_all(&mut served).unwrap();
    assert_eq!(batches.len(), 2);
    server.stop();
}

#[test]
fn a_different_partition_count_than_on_disk_is_refused() {
    let dir = TempDir::new();
    let server = start(&dir.0, FlushPolicy::EveryBatch, 1 << 20);
    server.stop();
    let mut config = BrokerConfig {
        node_id: 0,
        advertised_host: "127.0.0.1".into(),
        advertised_port: 0,
        topics: vec![("t".into(), 3)],
        auto_create_topics: true,
        default_partitions: 1,
        unsafe_disable_dedup: false,
        unsafe_read_committed_shows_aborted: false,
        first_producer_id: DEFAULT_FIRST_PRODUCER_ID,
        membership: Default::default(),
        storage: StorageConfig {
            data_dir: Some(dir.0.clone()),
            ..StorageConfig::default()
        },
    };
    let err = Server::start("127.0.0.1:0", config.clone(), DEFAULT_MAX_FRAME_BYTES, None)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("2 partitions"), "{err}");
    // Topics come back from the data directory without --topic.
    config.topics = Vec::new();
    let server = Server::start("127.0.0.1:0", config, DEFAULT_MAX_FRAME_BYTES, None).unwrap();
    let mut c = Client::connect(&server);
    assert_eq!(fetch(&mut c, 1, 0, 0).error_code, 0);
    server.stop();
}

#[test]
fn a_corrupt_latest_snapshot_is_replaced_by_an_older_one_and_the_replay() {
    let dir = TempDir::new();
    let server = start(&dir.0, FlushPolicy::EveryBatch, 1 << 20);
    let mut c = Client::connect(&server);
    workload(&mut c, true);
    let before = [view(&mut c, 0), view(&mut c, 1)];
    server.stop();
    for p in ["t-0", "t-1"] {
        let mut snapshots: Vec<PathBuf> = std::fs::read_dir(dir.0.join(p))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension() == Some("snapshot".as_ref()))
            .collect();
        snapshots.sort();
        // The clean stop's snapshot at the log end, above the empty one of the first start.
        assert_eq!(snapshots.len(), 2, "{snapshots:?}");
        let latest = snapshots.pop().unwrap();
        let mut bytes = std::fs::read(&latest).unwrap();
        // A bit of the first producer's id (after version, CRC and count): read without its
        // CRC check, the snapshot would hand that producer's state to another id.
        bytes[16] ^= 0x01;
        std::fs::write(&latest, bytes).unwrap();
    }
    let server = start(&dir.0, FlushPolicy::EveryBatch, 1 << 20);
    let mut c = Client::connect(&server);
    assert_eq!([view(&mut c, 0), view(&mut c, 1)], before);
    assert_producer_state_survived(&mut c);
    server.stop();
}

// DeleteRecords is written before its answer (the partition's log start offset checkpoint):
// after a crash (the directory copied while the broker runs) the log start offset is where
// DeleteRecords left it, a fetch below it is OFFSET_OUT_OF_RANGE and the records from it are
// served as before. A topic deleted and created again starts empty, also after a restart.
#[test]
fn delete_records_and_delete_topics_survive_a_restart() {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    let dir = TempDir::new();
    let server = start(&dir.0, FlushPolicy::EveryBatch, 1 << 20);
    let mut c = Client::connect(&server);
    for i in 0..3 {
        assert_eq!(
            produce(&mut c, None, 0, data_batch(-1, -1, -1, 3, false)),
            (0, i * 3)
        );
    }
    assert_eq!(common::delete_records(&mut c, "t", 0, 4), (0, 4));
    let before = fetch(&mut c, 0, 4, 0);
    let crashed = TempDir::new();
    copy_dir(&dir.0, &crashed.0);
    server.stop();
    drop(c);

    let server = start(&crashed.0, FlushPolicy::EveryBatch, 1 << 20);
    let mut c = Client::connect(&server);
    assert_eq!(
        fetch(&mut c, 0, 3, 0).error_code,
        1,
        "below the log start offset"
    );
    let after = fetch(&mut c, 0, 4, 0);
    assert_eq!(after.log_start_offset, 4);
    assert_eq!(after.records, before.records);
    assert_eq!(
        produce(&mut c, None, 0, data_batch(-1, -1, -1, 1, false)),
        (0, 9)
    );

    // DeleteTopics removes the partition's directory: the topic created again is empty.
    let create = |c: &mut Client| {
        let r: CreateTopicsResponse = c
            .call(
                ApiKey::CreateTopics,
                7,
                &CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
                    .with_name(topic())
                    .with_num_partitions(2)
                    .with_replication_factor(1)]),
            )
            .unwrap();
        r.topics[0].error_code
    };
    let r: DeleteTopicsResponse = c
        .call(
            ApiKey::DeleteTopics,
            6,
            &DeleteTopicsRequest::default()
                .with_topics(vec![DeleteTopicState::default().with_name(Some(topic()))]),
        )
        .unwrap();
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(create(&mut c), 0);
    assert_eq!(
        produce(&mut c, None, 0, data_batch(-1, -1, -1, 1, false)),
        (0, 0)
    );
    server.stop();
    drop(c);
    let server = start(&crashed.0, FlushPolicy::EveryBatch, 1 << 20);
    let mut c = Client::connect(&server);
    let p = fetch(&mut c, 0, 0, 0);
    assert_eq!(
        (p.error_code, p.log_start_offset, p.high_watermark),
        (0, 0, 1)
    );
    server.stop();
}

#[test]
fn a_second_broker_on_a_data_directory_in_use_is_refused() {
    let dir = TempDir::new();
    let first = start(&dir.0, FlushPolicy::EveryBatch, 1 << 20);
    let second = std::panic::catch_unwind(|| start(&dir.0, FlushPolicy::EveryBatch, 1 << 20));
    let message = second
        .err()
        .and_then(|p| p.downcast_ref::<String>().cloned())
        .expect("two brokers on one data directory");
    assert!(message.contains("another broker"), "{message}");
    // The first one is untouched and still serves.
    let mut c = Client::connect(&first);
    assert_eq!(fetch(&mut c, 0, 0, 0).error_code, 0);
    // A clean stop releases the lock; the next broker takes it.
    first.stop();
    let again = start(&dir.0, FlushPolicy::EveryBatch, 1 << 20);
    again.stop();
}
