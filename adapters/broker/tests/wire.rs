//! The broker on the wire, spoken to through `kafka-protocol`'s client side: API versions, produce
//! and fetch, duplicate retries, transactions with markers, KIP-890 verification, and bad input
//! that closes one connection while another keeps working.

mod common;

use bytes::{Bytes, BytesMut};
use common::{start, Client};
use kafka_eos_broker::server::DEFAULT_MAX_FRAME_BYTES;
use kafka_eos_broker::testing::data_batch;
use kafka_eos_broker::versions::ADVERTISED;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};
use kafka_protocol::records::RecordBatchDecoder;

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str("t"))
}

fn init_pid(c: &mut Client, txn: Option<&str>) -> (i64, i16) {
    let r: InitProducerIdResponse = c
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(
                    txn.map(|t| TransactionalId(StrBytes::from_string(t.into()))),
                )
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .expect("InitProducerId answered");
    assert_eq!(r.error_code, 0);
    (r.producer_id.0, r.producer_epoch)
}

fn produce(c: &mut Client, txn: Option<&str>, partition: i32, records: Bytes) -> (i16, i64) {
    let r: ProduceResponse = c
        .call(
            ApiKey::Produce,
            9,
            &ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(5000)
                .with_transactional_id(
                    txn.map(|t| TransactionalId(StrBytes::from_string(t.into()))),
                )
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(topic())
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records))])]),
        )
        .expect("Produce answered");
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn fetch(
    c: &mut Client,
    partition: i32,
    offset: i64,
    isolation: i8,
) -> fetch_response::PartitionData {
    let r: FetchResponse = c
        .call(
            ApiKey::Fetch,
            12,
            &FetchRequest::default()
                .with_max_wait_ms(0)
                .with_min_bytes(1)
                .with_max_bytes(1 << 20)
                .with_isolation_level(isolation)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(topic())
                    .with_partitions(vec![FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20)])]),
        )
        .expect("Fetch answered");
    r.responses[0].partitions[0].clone()
}

fn add_partitions(c: &mut Client, txn: &str, pid: i64, epoch: i16, partition: i32) -> i16 {
    let r: AddPartitionsToTxnResponse = c
        .call(
            ApiKey::AddPartitionsToTxn,
            3,
            &AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from_string(
                    txn.into(),
                )))
                .with_v3_and_below_producer_id(ProducerId(pid))
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![partition])]),
        )
        .expect("AddPartitionsToTxn answered");
    r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

fn end_txn(c: &mut Client, txn: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let r: EndTxnResponse = c
        .call(
            ApiKey::EndTxn,
            3,
            &EndTxnRequest::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(txn.into())))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_committed(commit),
        )
        .expect("EndTxn answered");
    r.error_code
}

fn batch_count(records: &Option<Bytes>) -> usize {
    let mut b = records.clone().unwrap_or_default();
    RecordBatchDecoder::decode_batch_info(&mut b).unwrap().len()
}

// KIP-511 (ApiVersions): the table the clients negotiate against.
#[test]
fn api_versions_lists_the_advertised_table() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let r: ApiVersionsResponse = c
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .unwrap();
    assert_eq!(r.error_code, 0);
    assert_eq!(r.api_keys.len(), ADVERTISED.len());
    let produce = r.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert_eq!((produce.min_version, produce.max_version), (3, 11));
}

// KIP-511 (`ApiVersionsRequest` above the broker's range): v0 body, UNSUPPORTED_VERSION (35),
// full table; the connection stays open.
#[test]
fn api_versions_above_range_answers_v0_with_unsupported_version() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    // The codec stops at v4: encode v4 and raise the header's version to 5.
    let mut payload = c.request_bytes(ApiKey::ApiVersions, 4, &ApiVersionsRequest::default());
    payload[3] = 5;
    c.send_raw(&payload).unwrap();
    let mut resp = c.read_raw().expect("answered");
    let _header = ResponseHeader::decode(&mut resp, 0).unwrap();
    let body = ApiVersionsResponse::decode(&mut resp, 0).unwrap();
    assert_eq!(body.error_code, 35);
    assert_eq!(body.api_keys.len(), ADVERTISED.len());
    let again: ApiVersionsResponse = c
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .unwrap();
    assert_eq!(again.error_code, 0);
}

// Every advertised (api, version) answers a default request with a response that encodes and
// decodes (`kafka-protocol` reports a field set in a version that lacks it only at run time).
#[test]
fn every_advertised_version_answers_a_default_request() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    for &(api, min, max) in ADVERTISED {
        for v in min..=max {
            let mut c = Client::connect(&server);
            macro_rules! call_with {
                ($req:expr, $resp:ty) => {{
                    let r: Option<$resp> = c.call(api, v, &$req);
                    assert!(r.is_some(), "{api:?} v{v} closed the connection");
                }};
            }
            macro_rules! call {
                ($req:ty, $resp:ty) => {{
                    call_with!(<$req>::default(), $resp)
                }};
            }
            match api {
                ApiKey::Produce => {
                    call_with!(ProduceRequest::default().with_acks(-1), ProduceResponse)
                }
                ApiKey::Fetch => call!(FetchRequest, FetchResponse),
                ApiKey::ListOffsets => call!(ListOffsetsRequest, ListOffsetsResponse),
                ApiKey::Metadata => call!(MetadataRequest, MetadataResponse),
                ApiKey::FindCoordinator => call!(FindCoordinatorRequest, FindCoordinatorResponse),
                ApiKey::ApiVersions => call!(ApiVersionsRequest, ApiVersionsResponse),
                ApiKey::InitProducerId => call!(InitProducerIdRequest, InitProducerIdResponse),
                ApiKey::AddPartitionsToTxn => {
                    call!(AddPartitionsToTxnRequest, AddPartitionsToTxnResponse)
                }
                ApiKey::AddOffsetsToTxn => call!(AddOffsetsToTxnRequest, AddOffsetsToTxnResponse),
                ApiKey::EndTxn => call!(EndTxnRequest, EndTxnResponse),
                ApiKey::TxnOffsetCommit => call!(TxnOffsetCommitRequest, TxnOffsetCommitResponse),
                ApiKey::OffsetCommit => call!(OffsetCommitRequest, OffsetCommitResponse),
                ApiKey::OffsetFetch => call!(OffsetFetchRequest, OffsetFetchResponse),
                ApiKey::JoinGroup => call!(JoinGroupRequest, JoinGroupResponse),
                ApiKey::SyncGroup => call!(SyncGroupRequest, SyncGroupResponse),
                ApiKey::Heartbeat => call!(HeartbeatRequest, HeartbeatResponse),
                ApiKey::LeaveGroup => call!(LeaveGroupRequest, LeaveGroupResponse),
                ApiKey::ListGroups => call!(ListGroupsRequest, ListGroupsResponse),
                ApiKey::DescribeGroups => call!(DescribeGroupsRequest, DescribeGroupsResponse),
                ApiKey::DescribeClientQuotas => {
                    let r: DescribeClientQuotasResponse = c
                        .call(api, v, &DescribeClientQuotasRequest::default())
                        .expect("DescribeClientQuotas answered");
                    assert_eq!((r.error_code, r.entries), (0, Some(vec![])));
                }
                ApiKey::CreateTopics => call!(CreateTopicsRequest, CreateTopicsResponse),
                ApiKey::DeleteTopics => call!(DeleteTopicsRequest, DeleteTopicsResponse),
                ApiKey::DeleteRecords => call!(DeleteRecordsRequest, DeleteRecordsResponse),
                ApiKey::DescribeConfigs => call!(DescribeConfigsRequest, DescribeConfigsResponse),
                ApiKey::DescribeProducers => {
                    call!(DescribeProducersRequest, DescribeProducersResponse)
                }
                ApiKey::ListTransactions => {
                    call!(ListTransactionsRequest, ListTransactionsResponse)
                }
                ApiKey::DescribeTransactions => {
                    call!(DescribeTransactionsRequest, DescribeTransactionsResponse)
                }
                other => panic!("advertised but untested: {other:?}"),
            }
        }
    }
}

// MetadataRequest: `topics = Some([])` means no topics (v1+), `None` all of them; an unknown
// topic without auto-creation is UNKNOWN_TOPIC_OR_PARTITION.
#[test]
fn metadata_empty_list_means_no_topics() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let none: MetadataResponse = c
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(Some(vec![])),
        )
        .unwrap();
    assert!(none.topics.is_empty());
    let all: MetadataResponse = c
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(None),
        )
        .unwrap();
    assert_eq!(all.topics.len(), 1);
    assert_eq!(all.topics[0].partitions.len(), 2);
    let unknown: MetadataResponse = c
        .call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default()
                .with_allow_auto_topic_creation(false)
                .with_topics(Some(vec![MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str("nope"))))])),
        )
        .unwrap();
    assert_eq!(unknown.topics[0].error_code, 3);
}

// Produce then Fetch (read_uncommitted): the stored batch comes back with the offset the leader
// assigned, the high watermark after it.
#[test]
fn produce_then_fetch_returns_the_batch_at_its_offset() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let (pid, epoch) = init_pid(&mut c, None);
    assert_eq!(
        produce(&mut c, None, 0, data_batch(pid, epoch, 0, 5, false)),
        (0, 0)
    );
    assert_eq!(
        produce(&mut c, None, 0, data_batch(pid, epoch, 5, 3, false)),
        (0, 5)
    );
    let f = fetch(&mut c, 0, 0, 0);
    assert_eq!(f.high_watermark, 8);
    assert!(f.aborted_transactions.is_none());
    let mut b = f.records.clone().unwrap();
    let infos = RecordBatchDecoder::decode_batch_info(&mut b).unwrap();
    assert_eq!(
        infos.iter().map(|i| i.min_offset).collect::<Vec<_>>(),
        vec![0, 5]
    );
}

// Kafka's ProducerStateManagerTest / UnifiedLogTest "duplicate append returns the original offset"
// (UnifiedLogTest.testDuplicateAppends): a retry answers NONE with the first offset; the log holds
// the batch once.
#[test]
fn duplicate_retry_returns_the_original_offset() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let (pid, epoch) = init_pid(&mut c, None);
    let batch = data_batch(pid, epoch, 0, 10, false);
    assert_eq!(produce(&mut c, None, 1, batch.clone()), (0, 0));
    assert_eq!(
        produce(&mut c, None, 1, data_batch(pid, epoch, 10, 2, false)),
        (0, 10)
    );
    assert_eq!(produce(&mut c, None, 1, batch), (0, 0));
    let f = fetch(&mut c, 1, 0, 0);
    assert_eq!(f.high_watermark, 12);
    assert_eq!(batch_count(&f.records), 2);
}

// The same retry with the core's known-bug M-I1 switch (`--unsafe-disable-dedup`) is appended
// again: the switch really turns detection off.
#[test]
fn duplicate_retry_is_appended_again_with_dedup_disabled() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, true);
    let mut c = Client::connect(&server);
    let (pid, epoch) = init_pid(&mut c, None);
    let batch = data_batch(pid, epoch, 0, 10, false);
    assert_eq!(produce(&mut c, None, 1, batch.clone()), (0, 0));
    assert_eq!(produce(&mut c, None, 1, batch), (0, 10));
}

// ProducerAppendInfo.checkSequence / checkProducerEpoch: a sequence gap is
// OUT_OF_ORDER_SEQUENCE_NUMBER (45); a stale epoch INVALID_PRODUCER_EPOCH (47); a new epoch at
// sequence 0 is accepted (librdkafka's local epoch bump of an idempotent producer).
#[test]
fn sequence_gap_and_stale_epoch_are_rejected() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let (pid, _) = init_pid(&mut c, None);
    assert_eq!(
        produce(&mut c, None, 0, data_batch(pid, 1, 0, 2, false)).0,
        0
    );
    assert_eq!(
        produce(&mut c, None, 0, data_batch(pid, 1, 5, 2, false)).0,
        45
    );
    assert_eq!(
        produce(&mut c, None, 0, data_batch(pid, 0, 2, 2, false)).0,
        47
    );
    assert_eq!(
        produce(&mut c, None, 0, data_batch(pid, 2, 0, 2, false)),
        (0, 2)
    );
}

// KIP-98 abort: markers are written in process through the core's outputs; read_committed
// returns the ABORT control batch, the aborted-transaction list, and LSO = HW once complete.
#[test]
fn aborted_transaction_is_listed_and_marked() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let (pid, epoch) = init_pid(&mut c, Some("tx"));
    assert_eq!(add_partitions(&mut c, "tx", pid, epoch, 0), 0);
    assert_eq!(
        produce(&mut c, Some("tx"), 0, data_batch(pid, epoch, 0, 4, true)),
        (0, 0)
    );
    let open = fetch(&mut c, 0, 0, 1);
    assert_eq!((open.high_watermark, open.last_stable_offset), (4, 0));
    assert_eq!(batch_count(&open.records), 0);
    assert_eq!(end_txn(&mut c, "tx", pid, epoch, false), 0);
    let done = fetch(&mut c, 0, 0, 1);
    assert_eq!((done.high_watermark, done.last_stable_offset), (5, 5));
    let aborted = done.aborted_transactions.clone().unwrap();
    assert_eq!(aborted.len(), 1);
    assert_eq!(
        (aborted[0].producer_id.0, aborted[0].first_offset),
        (pid, 0)
    );
    let mut b = done.records.clone().unwrap();
    let set = RecordBatchDecoder::decode_all(&mut b).unwrap();
    let marker = &set[1].records[0];
    assert!(marker.control && marker.transactional);
    assert_eq!(marker.key.as_deref(), Some(&[0u8, 0, 0, 0][..]));
    // A retried EndTxn of the completed transaction is answered NONE (TV1 retry rule).
    assert_eq!(end_txn(&mut c, "tx", pid, epoch, false), 0);
}

// KIP-890 part 1: a transactional produce to a partition that was never added fails
// verification; the coordinator's TRANSACTION_ABORTABLE becomes INVALID_TXN_STATE (48) for
// Produce <= v10 (AddPartitionsToTxnManager, ReplicaManager). Nothing is written.
#[test]
fn unverified_transactional_produce_is_rejected() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let (pid, epoch) = init_pid(&mut c, Some("tx"));
    assert_eq!(add_partitions(&mut c, "tx", pid, epoch, 0), 0);
    assert_eq!(
        produce(&mut c, Some("tx"), 1, data_batch(pid, epoch, 0, 1, true)).0,
        48
    );
    assert_eq!(fetch(&mut c, 1, 0, 0).high_watermark, 0);
}

// A second InitProducerId for the same transactional id bumps the epoch and aborts the open
// transaction (KIP-98 fencing); the zombie's EndTxn is PRODUCER_FENCED (90).
#[test]
fn second_init_fences_the_zombie() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let (pid, epoch) = init_pid(&mut c, Some("z"));
    assert_eq!(add_partitions(&mut c, "z", pid, epoch, 0), 0);
    assert_eq!(
        produce(&mut c, Some("z"), 0, data_batch(pid, epoch, 0, 2, true)).0,
        0
    );
    // The open transaction is fenced and aborted (CONCURRENT_TRANSACTIONS while markers go
    // out: here they are written at once, so the retry succeeds).
    let first: InitProducerIdResponse = c
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("z"))))
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .unwrap();
    assert_eq!(first.error_code, 51);
    let (pid2, epoch2) = init_pid(&mut c, Some("z"));
    assert_eq!(pid2, pid);
    assert!(epoch2 > epoch);
    assert_eq!(end_txn(&mut c, "z", pid, epoch, true), 90);
    assert_eq!(
        produce(&mut c, Some("z"), 0, data_batch(pid, epoch, 2, 1, true)).0,
        47
    );
    let f = fetch(&mut c, 0, 0, 1);
    assert_eq!(f.aborted_transactions.unwrap().len(), 1);
}

// Bad input: a corrupt batch (CRC) gets CORRUPT_MESSAGE (2), two batches INVALID_RECORD (87);
// acknowledged data is untouched.
#[test]
fn corrupt_batch_is_rejected_and_acknowledged_data_kept() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let (pid, epoch) = init_pid(&mut c, None);
    assert_eq!(
        produce(&mut c, None, 0, data_batch(pid, epoch, 0, 3, false)),
        (0, 0)
    );
    let mut bad = BytesMut::from(data_batch(pid, epoch, 3, 3, false).as_ref());
    let last = bad.len() - 1;
    bad[last] ^= 0x55;
    assert_eq!(produce(&mut c, None, 0, bad.freeze()).0, 2);
    let mut two = BytesMut::from(data_batch(pid, epoch, 3, 1, false).as_ref());
    two.extend_from_slice(&data_batch(pid, epoch, 4, 1, false));
    assert_eq!(produce(&mut c, None, 0, two.freeze()).0, 87);
    let f = fetch(&mut c, 0, 0, 0);
    assert_eq!(f.high_watermark, 3);
    assert_eq!(batch_count(&f.records), 1);
}

fn assert_other_connection_works(server: &kafka_eos_broker::server::Server) {
    let mut other = Client::connect(server);
    let r: Option<ApiVersionsResponse> =
        other.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(r.map(|r| r.error_code), Some(0));
}

// Kafka closes the connection on an undecodable request, an unknown API key, or an unsupported
// version of a known API (`RequestContext.parseRequest`), and on an oversized frame
// (`NetworkReceive` / `socket.request.max.bytes`); the broker keeps serving everyone else.
#[test]
fn bad_frames_close_only_their_connection() {
    let server = start(4096, false);
    let mut keeper = Client::connect(&server);
    let (pid, epoch) = init_pid(&mut keeper, None);
    assert_eq!(
        produce(&mut keeper, None, 0, data_batch(pid, epoch, 0, 2, false)),
        (0, 0)
    );

    // Unknown API key.
    let mut c = Client::connect(&server);
    c.send_raw(&[0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap();
    assert!(c.is_closed());
    assert_other_connection_works(&server);
    // Known API, unserved version (Produce v2).
    let mut c = Client::connect(&server);
    let payload = c.request_bytes(ApiKey::Metadata, 12, &MetadataRequest::default());
    let mut payload = payload.clone();
    payload[1] = 40;
    c.send_raw(&payload).unwrap();
    assert!(c.is_closed());
    // Truncated body.
    let mut c = Client::connect(&server);
    let payload = c.request_bytes(
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("abc")))),
    );
    c.send_raw(&payload[..payload.len() - 8]).unwrap();
    assert!(c.is_closed());
    // Too short for a header, negative length, oversized frame.
    let mut c = Client::connect(&server);
    c.send_raw(&[0, 1]).unwrap();
    assert!(c.is_closed());
    let mut c = Client::connect(&server);
    std::io::Write::write_all(&mut c.stream, &(-5i32).to_be_bytes()).unwrap();
    assert!(c.is_closed());
    let mut c = Client::connect(&server);
    std::io::Write::write_all(&mut c.stream, &(1_000_000i32).to_be_bytes()).unwrap();
    assert!(c.is_closed());

    assert_other_connection_works(&server);
    // The connection opened first still works, and nothing acknowledged was lost.
    let f = fetch(&mut keeper, 0, 0, 0);
    assert_eq!(f.high_watermark, 2);
    assert_eq!(
        produce(&mut keeper, None, 0, data_batch(pid, epoch, 2, 1, false)),
        (0, 2)
    );
}

// Produce with acks = 0 gets no response at all (kafka-python relies on it).
#[test]
fn produce_with_acks_zero_gets_no_response() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let req =
        ProduceRequest::default()
            .with_acks(0)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic())
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(data_batch(-1, -1, -1, 1, false)))])]);
    let payload = c.request_bytes(ApiKey::Produce, 9, &req);
    c.send_raw(&payload).unwrap();
    // The next request's answer is the first thing that comes back.
    let r: ApiVersionsResponse = c
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .unwrap();
    assert_eq!(r.error_code, 0);
    assert_eq!(fetch(&mut c, 0, 0, 0).high_watermark, 1);
}

// The late-Produce finding of docs/broker.md: a stale transactional batch that arrives between two
// transactions fails KIP-890 verification (48) but leaves a verification entry with its low
// sequence; the producer's next first batch on the partition then meets
// `ProducerAppendInfo.checkSequence` row b (`VerificationStateEntry.lowestSequence`) and is
// OUT_OF_ORDER (45). Nothing stale is written.
#[test]
fn late_stale_transactional_batch_between_transactions_blocks_the_next_first_batch() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let (pid, epoch) = init_pid(&mut c, Some("late"));
    assert_eq!(add_partitions(&mut c, "late", pid, epoch, 0), 0);
    let first = data_batch(pid, epoch, 0, 2, true);
    assert_eq!(produce(&mut c, Some("late"), 0, first.clone()), (0, 0));
    assert_eq!(end_txn(&mut c, "late", pid, epoch, true), 0);
    // The first batch again, late (a retry's original held by the network).
    assert_eq!(produce(&mut c, Some("late"), 0, first).0, 48);
    assert_eq!(add_partitions(&mut c, "late", pid, epoch, 0), 0);
    assert_eq!(
        produce(&mut c, Some("late"), 0, data_batch(pid, epoch, 2, 1, true)).0,
        45
    );
    let f = fetch(&mut c, 0, 0, 0);
    assert_eq!(f.high_watermark, 3); // two records and the COMMIT marker
}

// KIP-588: PRODUCER_FENCED (90) exists only from EndTxn v2, AddPartitionsToTxn v2,
// AddOffsetsToTxn v2 and InitProducerId v4; an older request of a fenced producer is answered
// INVALID_PRODUCER_EPOCH (47) (the core's coordinator downgrades it by the wire version the
// broker passes). Each test fences the producer with a second InitProducerId (epoch bump), then
// sends the old epoch's request at the old version and at the newest advertised one.

const INVALID_PRODUCER_EPOCH: i16 = 47;
const PRODUCER_FENCED: i16 = 90;

/// A producer of transactional id `txn` fenced by a second InitProducerId: the old producer id
/// and epoch.
fn fenced_producer(c: &mut Client, txn: &str) -> (i64, i16) {
    let (pid, epoch) = init_pid(c, Some(txn));
    let (pid2, epoch2) = init_pid(c, Some(txn));
    assert_eq!(pid2, pid);
    assert!(epoch2 > epoch);
    (pid, epoch)
}

/// The old version under test and the newest advertised version of `api`.
fn old_and_newest(api: ApiKey, old: i16) -> [i16; 2] {
    let (min, max) = kafka_eos_broker::versions::advertised(api).expect("advertised");
    assert!((min..=max).contains(&old), "{api:?} v{old} not advertised");
    [old, max]
}

fn txn_id(txn: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(txn.into()))
}

#[test]
fn fenced_end_txn_is_invalid_producer_epoch_at_v1_and_producer_fenced_at_newest() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let (pid, epoch) = fenced_producer(&mut c, "fe");
    let codes: Vec<i16> = old_and_newest(ApiKey::EndTxn, 1)
        .into_iter()
        .map(|v| {
            let r: EndTxnResponse = c
                .call(
                    ApiKey::EndTxn,
                    v,
                    &EndTxnRequest::default()
                        .with_transactional_id(txn_id("fe"))
                        .with_producer_id(ProducerId(pid))
                        .with_producer_epoch(epoch)
                        .with_committed(true),
                )
                .expect("EndTxn answered");
            r.error_code
        })
        .collect();
    assert_eq!(codes, [INVALID_PRODUCER_EPOCH, PRODUCER_FENCED]);
}

#[test]
fn fenced_add_partitions_is_invalid_producer_epoch_at_v1_and_producer_fenced_at_newest() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let (pid, epoch) = fenced_producer(&mut c, "fa");
    let codes: Vec<i16> = old_and_newest(ApiKey::AddPartitionsToTxn, 1)
        .into_iter()
        .map(|v| {
            let r: AddPartitionsToTxnResponse = c
                .call(
                    ApiKey::AddPartitionsToTxn,
                    v,
                    &AddPartitionsToTxnRequest::default()
                        .with_v3_and_below_transactional_id(txn_id("fa"))
                        .with_v3_and_below_producer_id(ProducerId(pid))
                        .with_v3_and_below_producer_epoch(epoch)
                        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                            .with_name(topic())
                            .with_partitions(vec![0])]),
                )
                .expect("AddPartitionsToTxn answered");
            r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
        })
        .collect();
    assert_eq!(codes, [INVALID_PRODUCER_EPOCH, PRODUCER_FENCED]);
}

#[test]
fn fenced_add_offsets_is_invalid_producer_epoch_at_v1_and_producer_fenced_at_newest() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let (pid, epoch) = fenced_producer(&mut c, "fo");
    let codes: Vec<i16> = old_and_newest(ApiKey::AddOffsetsToTxn, 1)
        .into_iter()
        .map(|v| {
            let r: AddOffsetsToTxnResponse = c
                .call(
                    ApiKey::AddOffsetsToTxn,
                    v,
                    &AddOffsetsToTxnRequest::default()
                        .with_transactional_id(txn_id("fo"))
                        .with_producer_id(ProducerId(pid))
                        .with_producer_epoch(epoch)
                        .with_group_id(GroupId(StrBytes::from_static_str("g"))),
                )
                .expect("AddOffsetsToTxn answered");
            r.error_code
        })
        .collect();
    assert_eq!(codes, [INVALID_PRODUCER_EPOCH, PRODUCER_FENCED]);
}

// KIP-360: an InitProducerId whose expected id and epoch are the fenced ones is PRODUCER_FENCED
// (the current epoch moved on and the old one is not the last epoch of a retried bump).
#[test]
fn fenced_init_producer_id_is_invalid_producer_epoch_at_v3_and_producer_fenced_at_newest() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let (pid, epoch) = fenced_producer(&mut c, "fi");
    let codes: Vec<i16> = old_and_newest(ApiKey::InitProducerId, 3)
        .into_iter()
        .map(|v| {
            let r: InitProducerIdResponse = c
                .call(
                    ApiKey::InitProducerId,
                    v,
                    &InitProducerIdRequest::default()
                        .with_transactional_id(Some(txn_id("fi")))
                        .with_transaction_timeout_ms(60_000)
                        .with_producer_id(ProducerId(pid))
                        .with_producer_epoch(epoch),
                )
                .expect("InitProducerId answered");
            r.error_code
        })
        .collect();
    assert_eq!(codes, [INVALID_PRODUCER_EPOCH, PRODUCER_FENCED]);
}

fn txn_offset_commit(c: &mut Client, txn: &str, pid: i64, epoch: i16, group: &str) -> i16 {
    use kafka_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    let r: TxnOffsetCommitResponse = c
        .call(
            ApiKey::TxnOffsetCommit,
            3,
            &TxnOffsetCommitRequest::default()
                .with_transactional_id(txn_id(txn))
                .with_group_id(GroupId(StrBytes::from_string(group.into())))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1)])]),
        )
        .expect("TxnOffsetCommit answered");
    r.topics[0].partitions[0].error_code
}

fn markers_written(server: &kafka_eos_broker::server::Server) -> String {
    let stats = server.shared.stats_json();
    let at = stats.find("\"markers_written\":").expect("counter") + 18;
    stats[at..].split(',').next().unwrap().to_string()
}

// AddOffsetsToTxn adds the group's `__consumer_offsets` partition, chosen by the core: a
// TxnOffsetCommit of that group then passes the KIP-890 verification, and the commit writes one
// marker to the data partition and one to the offsets partition. Without AddOffsetsToTxn the
// verification fails: TRANSACTION_ABORTABLE is INVALID_TXN_STATE (48) for TxnOffsetCommit v3.
#[test]
fn add_offsets_makes_the_groups_offsets_partition_part_of_the_transaction() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let (pid, epoch) = init_pid(&mut c, Some("ao"));
    assert_eq!(txn_offset_commit(&mut c, "ao", pid, epoch, "grp"), 48);
    assert_eq!(add_partitions(&mut c, "ao", pid, epoch, 0), 0);
    assert_eq!(
        produce(&mut c, Some("ao"), 0, data_batch(pid, epoch, 0, 1, true)).0,
        0
    );
    let r: AddOffsetsToTxnResponse = c
        .call(
            ApiKey::AddOffsetsToTxn,
            3,
            &AddOffsetsToTxnRequest::default()
                .with_transactional_id(txn_id("ao"))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_group_id(GroupId(StrBytes::from_static_str("grp"))),
        )
        .expect("AddOffsetsToTxn answered");
    assert_eq!(r.error_code, 0);
    assert_eq!(txn_offset_commit(&mut c, "ao", pid, epoch, "grp"), 0);
    assert_eq!(txn_offset_commit(&mut c, "ao", pid, epoch, "other"), 48);
    assert_eq!(end_txn(&mut c, "ao", pid, epoch, true), 0);
    assert_eq!(markers_written(&server), "2");
    assert_eq!(fetch(&mut c, 0, 0, 1).last_stable_offset, 2);
}

// ListOffsets at every advertised version with a real partition (the default request has none):
// a field of a newer version (the leader epoch, v4+) must not be set in an older answer, or the
// encoder refuses it and the connection closes (librdkafka 2.0 sends v2).
#[test]
fn list_offsets_answers_a_partition_at_every_advertised_version() {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    assert_eq!(
        produce(&mut c, None, 0, data_batch(-1, -1, -1, 3, false)).0,
        0
    );
    let (min, max) = kafka_eos_broker::versions::advertised(ApiKey::ListOffsets).unwrap();
    for v in min..=max {
        let r: ListOffsetsResponse = c
            .call(
                ApiKey::ListOffsets,
                v,
                &ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(vec![ListOffsetsTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(-1)])]),
            )
            .unwrap_or_else(|| panic!("ListOffsets v{v} closed the connection"));
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.error_code, p.offset), (0, 3), "ListOffsets v{v}");
    }
}
