//! The coordinators' durability (`storage::txn_log`, `storage::producer_ids`,
//! `storage::offsets_log`): an in-process broker is stopped and a new one started on the same
//! data directory, as a restart after `kill -9` (every append is `fsync`ed before its answer,
//! so nothing answered can be missing). Transactional ids, producer-id blocks, the coordinator
//! epoch and group offsets survive; a Prepare* found at start resumes its markers; an Ongoing
//! transaction is aborted by its timeout; a torn tail of the transaction log is cut.

mod common;

use std::path::{Path, PathBuf};

use common::{eos, Client};
use kafka_eos::coordinator::{TransactionLogValue, TransactionState};
use kafka_eos::types::{TopicPartition, TransactionVersion};
use kafka_eos_broker::broker::BrokerConfig;
use kafka_eos_broker::server::{now_ms, Server, DEFAULT_MAX_FRAME_BYTES};
use kafka_eos_broker::storage::txn_log::{TxnLog, TXN_LOG_DIR};
use kafka_eos_broker::storage::{FlushPolicy, StorageConfig};
use kafka_eos_broker::testing::data_batch;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const CONCURRENT_TRANSACTIONS: i16 = 51;
const PRODUCER_FENCED: i16 = 90;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;

/// A fresh data directory for one test.
fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "kafka-eos-durability-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A broker with topic `t` (2 partitions) on `dir`.
fn start_on(dir: &Path) -> Server {
    let config = BrokerConfig {
        storage: StorageConfig {
            data_dir: Some(dir.to_path_buf()),
            flush: FlushPolicy::EveryBatch,
            ..StorageConfig::default()
        },
        ..common::config(false)
    };
    Server::start("127.0.0.1:0", config, DEFAULT_MAX_FRAME_BYTES, None).expect("broker starts")
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// InitProducerId v3: (error, producer id, epoch).
fn init(c: &mut Client, txn: Option<&str>, timeout_ms: i32) -> (i16, i64, i16) {
    let r: InitProducerIdResponse = c
        .call(
            ApiKey::InitProducerId,
            3,
            &InitProducerIdRequest::default()
                .with_transactional_id(txn.map(|t| TransactionalId(s(t))))
                .with_transaction_timeout_ms(timeout_ms)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .expect("answered");
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// A transaction on `t-0` with one batch of `count` records, not ended.
fn open_transaction(c: &mut Client, txn: &str, pid: i64, epoch: i16, count: i32) {
    assert_eq!(eos::add_partition(c, txn, (pid, epoch), "t", 0), 0);
    let records = data_batch(pid, epoch, 0, count, true);
    assert_eq!(eos::produce(c, Some(txn), "t", 0, records).error_code, 0);
}

/// EndTxn v3; its error code.
fn end(c: &mut Client, txn: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    eos::end_txn(c, 3, txn, (pid, epoch), commit)
}

/// The transactional id's state as the running coordinator holds it.
fn state_of(server: &Server, txn: &str) -> Option<(TransactionState, i64, i16)> {
    let broker = server.shared.broker();
    broker
        .coordinator()
        .transaction(txn)
        .map(|m| (m.state, m.producer_id, m.producer_epoch))
}

/// Time passes for the coordinator: its timeouts run at `now + ms`.
fn advance(server: &Server, ms: i64) {
    server.shared.broker().tick(now_ms() + ms);
}

fn restart(server: Server, dir: &Path) -> Server {
    server.stop();
    drop(server);
    start_on(dir)
}

// Producer ids are never handed out twice: a restarted broker starts after the persisted block
// (`ProducerIdManager`'s blocks are durable before use).
#[test]
fn producer_ids_are_not_reused_across_restarts() {
    let dir = data_dir("pids");
    let mut server = start_on(&dir);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let mut c = Client::connect(&server);
        for _ in 0..3 {
            let (error, pid, epoch) = init(&mut c, None, 60_000);
            assert_eq!((error, epoch), (0, 0));
            assert!(seen.iter().all(|&p| p < pid), "{pid} after {seen:?}");
            seen.push(pid);
        }
        drop(c);
        server = restart(server, &dir);
    }
    server.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

// A transactional id survives: the restarted coordinator knows its producer id, the next
// InitProducerId bumps the epoch, the old epoch is fenced, and the coordinator epoch grew.
#[test]
fn transactional_id_survives_and_init_bumps_its_epoch() {
    let dir = data_dir("txnid");
    let server = start_on(&dir);
    let mut c = Client::connect(&server);
    let (error, pid, epoch) = init(&mut c, Some("tx"), 60_000);
    assert_eq!((error, epoch), (0, 0));
    open_transaction(&mut c, "tx", pid, epoch, 3);
    assert_eq!(end(&mut c, "tx", pid, epoch, true), 0);
    assert_eq!(server.shared.broker().coordinator().coordinator_epoch(), 0);
    drop(c);
    let server = restart(server, &dir);
    assert_eq!(server.shared.broker().coordinator().coordinator_epoch(), 1);
    assert_eq!(
        state_of(&server, "tx"),
        Some((TransactionState::CompleteCommit, pid, 0))
    );
    let mut c = Client::connect(&server);
    assert_eq!(init(&mut c, Some("tx"), 60_000), (0, pid, 1));
    assert_eq!(end(&mut c, "tx", pid, 0, true), PRODUCER_FENCED);
    server.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

// A transaction Ongoing at the crash is loaded with its start time and aborted by the
// coordinator's timeout (`abortTimedOutTransactions`), with a bumped epoch; until then a new
// instance's InitProducerId fences and aborts it.
#[test]
fn ongoing_transaction_at_restart_is_aborted_by_its_timeout() {
    let dir = data_dir("ongoing");
    let server = start_on(&dir);
    let mut c = Client::connect(&server);
    let (_, pid, epoch) = init(&mut c, Some("slow"), 10_000);
    open_transaction(&mut c, "slow", pid, epoch, 2);
    drop(c);
    let server = restart(server, &dir);
    assert_eq!(
        state_of(&server, "slow"),
        Some((TransactionState::Ongoing, pid, 0))
    );
    advance(&server, 20_000);
    assert_eq!(
        state_of(&server, "slow"),
        Some((TransactionState::CompleteAbort, pid, 1))
    );
    // The abort is durable too.
    let server = restart(server, &dir);
    assert_eq!(
        state_of(&server, "slow"),
        Some((TransactionState::CompleteAbort, pid, 1))
    );
    server.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

fn log_value(pid: i64, state: TransactionState, partitions: &[i32]) -> TransactionLogValue {
    TransactionLogValue {
        producer_id: pid,
        previous_producer_id: -1,
        next_producer_id: -1,
        producer_epoch: 4,
        last_producer_epoch: -1,
        transaction_timeout_ms: 60_000,
        state,
        partitions: partitions
            .iter()
            .map(|&p| TopicPartition::new("t", p))
            .collect(),
        txn_start_timestamp: now_ms(),
        txn_last_update_timestamp: now_ms(),
        client_transaction_version: TransactionVersion::Tv1,
    }
}

// A crash between PrepareCommit and CompleteCommit: the record on disk is PrepareCommit. The
// restarted coordinator resumes the markers at its new epoch and completes the transaction
// (`TransactionStateManager.loadTransactionsForTxnTopicPartition` →
// `TransactionMarkerChannelManager.addTxnMarkersToSend`); a client retrying EndTxn meanwhile gets
// CONCURRENT_TRANSACTIONS only while markers are in flight.
#[test]
fn prepare_commit_found_at_start_resumes_its_markers() {
    let dir = data_dir("prepare");
    {
        let mut loaded = TxnLog::open(&dir, FlushPolicy::EveryBatch, 1 << 20).unwrap();
        loaded
            .log
            .append(
                "p",
                Some(&log_value(7000, TransactionState::PrepareCommit, &[0, 1])),
            )
            .unwrap();
        loaded
            .log
            .append(
                "q",
                Some(&log_value(7001, TransactionState::PrepareAbort, &[])),
            )
            .unwrap();
    }
    let server = start_on(&dir);
    // The previous run's epoch was 0 (written by the open above): this one is 1.
    assert_eq!(server.shared.broker().coordinator().coordinator_epoch(), 1);
    assert_eq!(
        state_of(&server, "p"),
        Some((TransactionState::CompleteCommit, 7000, 4))
    );
    assert_eq!(
        state_of(&server, "q"),
        Some((TransactionState::CompleteAbort, 7001, 4))
    );
    assert!(server
        .shared
        .stats_json()
        .contains("\"markers_written\":2,"));
    let mut c = Client::connect(&server);
    assert_ne!(end(&mut c, "p", 7000, 4, true), CONCURRENT_TRANSACTIONS);
    drop(c);
    let server = restart(server, &dir);
    assert_eq!(
        state_of(&server, "p"),
        Some((TransactionState::CompleteCommit, 7000, 4))
    );
    server.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

// A crash in the middle of a transaction-log write leaves a torn frame at the end: the restart
// cuts it (as `LogSegment.recover` truncates at the first invalid batch), keeps every whole
// record, and appends after the cut.
#[test]
fn torn_tail_of_the_transaction_log_is_cut() {
    use std::io::Write;
    let dir = data_dir("torn");
    let server = start_on(&dir);
    let mut c = Client::connect(&server);
    let (_, pid, epoch) = init(&mut c, Some("a"), 60_000);
    open_transaction(&mut c, "a", pid, epoch, 1);
    assert_eq!(end(&mut c, "a", pid, epoch, false), 0);
    drop(c);
    server.stop();
    drop(server);
    let log = dir.join(TXN_LOG_DIR).join("txn.log");
    let whole = std::fs::metadata(&log).unwrap().len();
    // Half a frame: a header announcing 200 bytes, then 30 of them.
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(&200u32.to_be_bytes()).unwrap();
    f.write_all(&[0xab; 34]).unwrap();
    drop(f);
    let server = start_on(&dir);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), whole);
    assert_eq!(
        state_of(&server, "a"),
        Some((TransactionState::CompleteAbort, pid, 0))
    );
    let mut c = Client::connect(&server);
    let (error, pid2, epoch2) = init(&mut c, Some("a"), 60_000);
    assert_eq!((error, pid2, epoch2), (0, pid, 1));
    let (_, other, _) = init(&mut c, Some("b"), 60_000);
    assert!(other > pid);
    drop(c);
    let server = restart(server, &dir);
    assert_eq!(
        state_of(&server, "a"),
        Some((TransactionState::Empty, pid, 1))
    );
    assert_eq!(
        state_of(&server, "b").map(|(st, p, _)| (st, p)),
        Some((TransactionState::Empty, other))
    );
    server.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}

fn commit_offset(c: &mut Client, group: &str, partition: i32, offset: i64) -> i16 {
    let r: OffsetCommitResponse = c
        .call(
            ApiKey::OffsetCommit,
            7,
            &OffsetCommitRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset)])]),
        )
        .expect("answered");
    r.topics[0].partitions[0].error_code
}

/// OffsetFetch v7 of `t-partition`: (error, offset).
fn fetch_offset(c: &mut Client, group: &str, partition: i32, require_stable: bool) -> (i16, i64) {
    let r: OffsetFetchResponse = c
        .call(
            ApiKey::OffsetFetch,
            7,
            &OffsetFetchRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_require_stable(require_stable)
                .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partition_indexes(vec![partition])])),
        )
        .expect("answered");
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

fn add_offsets_and_commit(
    c: &mut Client,
    txn: &str,
    pid: i64,
    epoch: i16,
    group: &str,
    offset: i64,
) {
    let r: AddOffsetsToTxnResponse = c
        .call(
            ApiKey::AddOffsetsToTxn,
            3,
            &AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(s(txn)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_group_id(GroupId(s(group))),
        )
        .expect("answered");
    assert_eq!(r.error_code, 0);
    let r: TxnOffsetCommitResponse = c
        .call(
            ApiKey::TxnOffsetCommit,
            3,
            &TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(s(txn)))
                .with_group_id(GroupId(s(group)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_generation_id(-1)
                .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)])]),
        )
        .expect("answered");
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
}

// Group offsets survive (`GroupMetadataManager.loadGroupsAndOffsets`): a plain commit and a
// committed transaction's offset come back; the offset of a transaction open at the crash stays
// pending (require_stable: UNSTABLE_OFFSET_COMMIT) until the timeout's ABORT marker drops it.
#[test]
fn group_offsets_survive_and_pending_ones_resolve_after_restart() {
    let dir = data_dir("offsets");
    let server = start_on(&dir);
    let mut c = Client::connect(&server);
    assert_eq!(commit_offset(&mut c, "plain", 1, 17), 0);
    let (_, pid, epoch) = init(&mut c, Some("eos"), 10_000);
    open_transaction(&mut c, "eos", pid, epoch, 1);
    add_offsets_and_commit(&mut c, "eos", pid, epoch, "g", 5);
    assert_eq!(end(&mut c, "eos", pid, epoch, true), 0);
    // A second transaction commits offset 9 and is open at the crash.
    open_transaction(&mut c, "eos", pid, epoch, 1);
    add_offsets_and_commit(&mut c, "eos", pid, epoch, "g", 9);
    drop(c);
    let server = restart(server, &dir);
    let mut c = Client::connect(&server);
    assert_eq!(fetch_offset(&mut c, "plain", 1, true), (0, 17));
    assert_eq!(fetch_offset(&mut c, "g", 0, false), (0, 5));
    assert_eq!(fetch_offset(&mut c, "g", 0, true).0, UNSTABLE_OFFSET_COMMIT);
    advance(&server, 20_000);
    assert_eq!(fetch_offset(&mut c, "g", 0, true), (0, 5));
    drop(c);
    let server = restart(server, &dir);
    let mut c = Client::connect(&server);
    assert_eq!(fetch_offset(&mut c, "g", 0, true), (0, 5));
    assert_eq!(fetch_offset(&mut c, "plain", 1, false), (0, 17));
    drop(c);
    server.stop();
    std::fs::remove_dir_all(&dir).unwrap();
}
