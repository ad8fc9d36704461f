//! The admin surface on the wire, rule by rule: Metadata's topic auto-creation (on and off),
//! CreateTopics and its errors, DeleteTopics by name and id, DeleteRecords and the log start
//! offset seen by Fetch and ListOffsets, DescribeConfigs, and the transaction tools'
//! DescribeProducers / ListTransactions / DescribeTransactions.

mod common;

use common::{delete_records, start, start_with, Client};
use kafka_eos_broker::server::{Server, DEFAULT_MAX_FRAME_BYTES};
use kafka_eos_broker::testing::data_batch;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const LEADER_NOT_AVAILABLE: i16 = 5;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_PARTITIONS: i16 = 37;
const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;
const POLICY_VIOLATION: i16 = 44;
const UNKNOWN_TOPIC_ID: i16 = 100;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn name(v: &str) -> TopicName {
    TopicName(s(v))
}

/// Metadata for `topics`: per topic (error, partition count, topic id).
fn metadata(c: &mut Client, v: i16, topics: &[&str], allow: bool) -> Vec<(i16, usize, uuid::Uuid)> {
    let r: MetadataResponse = c
        .call(
            ApiKey::Metadata,
            v,
            &MetadataRequest::default()
                .with_allow_auto_topic_creation(allow || v < 4)
                .with_topics(Some(
                    topics
                        .iter()
                        .map(|t| MetadataRequestTopic::default().with_name(Some(name(t))))
                        .collect(),
                )),
        )
        .expect("Metadata answered");
    r.topics
        .iter()
        .map(|t| (t.error_code, t.partitions.len(), t.topic_id))
        .collect()
}

fn produce(c: &mut Client, topic: &str, partition: i32, count: i32) -> (i16, i64) {
    let records = data_batch(-1, -1, -1, count, false);
    let p = common::eos::produce(c, None, topic, partition, records);
    (p.error_code, p.base_offset)
}

/// Fetch of `topic-partition` at `offset`: (error, log start offset, batches).
fn fetch(c: &mut Client, topic: &str, partition: i32, offset: i64) -> (i16, i64, usize) {
    let p = common::eos::fetch(c, topic, partition, offset, false);
    let mut records = p.records.clone().unwrap_or_default();
    let batches = kafka_protocol::records::RecordBatchDecoder::decode_batch_info(&mut records)
        .map(|b| b.len())
        .unwrap_or(0);
    (p.error_code, p.log_start_offset, batches)
}

fn earliest(c: &mut Client, topic: &str, partition: i32) -> i64 {
    let r: ListOffsetsResponse = c
        .call(
            ApiKey::ListOffsets,
            2,
            &ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(name(topic))
                    .with_partitions(vec![ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_timestamp(-2)])]),
        )
        .expect("ListOffsets answered");
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.offset
}

fn topic_spec(topic: &str, partitions: i32, replication: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(name(topic))
        .with_num_partitions(partitions)
        .with_replication_factor(replication)
}

fn create(c: &mut Client, topics: Vec<CreatableTopic>, validate_only: bool) -> Vec<(i16, i32)> {
    let r: CreateTopicsResponse = c
        .call(
            ApiKey::CreateTopics,
            7,
            &CreateTopicsRequest::default()
                .with_timeout_ms(5000)
                .with_validate_only(validate_only)
                .with_topics(topics),
        )
        .expect("CreateTopics answered");
    r.topics
        .iter()
        .map(|t| (t.error_code, t.num_partitions))
        .collect()
}

fn connect(server: &Server) -> Client {
    Client::connect(server)
}

// KafkaApis.getTopicMetadata + AutoTopicCreationManager: an unknown legal topic is created with
// num.partitions and answered LEADER_NOT_AVAILABLE once, then served; an illegal name is
// INVALID_TOPIC_EXCEPTION; a request that does not allow it gets UNKNOWN_TOPIC_OR_PARTITION and
// creates nothing. Metadata v0-3 always allows it.
#[test]
fn metadata_auto_creates_unknown_topics_when_both_sides_allow_it() {
    let server = start_with(DEFAULT_MAX_FRAME_BYTES, |c| c.default_partitions = 3);
    let mut c = connect(&server);
    let first = metadata(&mut c, 12, &["auto"], true);
    assert_eq!((first[0].0, first[0].1), (LEADER_NOT_AVAILABLE, 0));
    let then = metadata(&mut c, 12, &["auto"], true);
    assert_eq!((then[0].0, then[0].1), (0, 3));
    assert!(!then[0].2.is_nil(), "Metadata v10+ carries the topic id");
    assert_eq!(produce(&mut c, "auto", 2, 1), (0, 0));

    let refused = metadata(&mut c, 12, &["not-asked", "bad name"], false);
    assert_eq!(
        refused.iter().map(|t| t.0).collect::<Vec<_>>(),
        vec![UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION]
    );
    assert_eq!(
        metadata(&mut c, 12, &["not-asked"], false)[0].0,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        metadata(&mut c, 12, &["bad name"], true)[0].0,
        INVALID_TOPIC_EXCEPTION
    );
    // v3 has no allow field: auto-creation is allowed.
    assert_eq!(
        metadata(&mut c, 3, &["old-client"], false)[0].0,
        LEADER_NOT_AVAILABLE
    );
    assert_eq!(metadata(&mut c, 3, &["old-client"], false)[0].0, 0);
}

// auto.create.topics.enable=false (--no-auto-create-topics): nothing is created; a produce to
// the unknown topic fails at once with UNKNOWN_TOPIC_OR_PARTITION.
#[test]
fn without_auto_creation_unknown_topics_stay_unknown_and_produce_fails_fast() {
    let server = start_with(DEFAULT_MAX_FRAME_BYTES, |c| c.auto_create_topics = false);
    let mut c = connect(&server);
    assert_eq!(
        metadata(&mut c, 12, &["nope"], true)[0].0,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        metadata(&mut c, 0, &["nope"], true)[0].0,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(produce(&mut c, "nope", 0, 1).0, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(
        metadata(&mut c, 12, &["nope"], true)[0].0,
        UNKNOWN_TOPIC_OR_PARTITION
    );
}

// ReplicationControlManager.createTopics: the errors in Kafka's order, -1 partitions = the
// default, validate_only creates nothing, a name twice in one request is INVALID_REQUEST.
#[test]
fn create_topics_validates_like_kafka() {
    let server = start_with(DEFAULT_MAX_FRAME_BYTES, |c| c.default_partitions = 4);
    let mut c = connect(&server);
    let results = create(
        &mut c,
        vec![
            topic_spec("fresh", -1, -1),
            topic_spec("t", 1, 1),
            topic_spec("zero", 0, 1),
            topic_spec("rf2", 1, 2),
            topic_spec("bad/name", 1, 1),
            topic_spec("t.x", 1, 1),
            topic_spec("twice", 1, 1),
            topic_spec("twice", 1, 1),
            topic_spec("cfg", 1, 1).with_configs(vec![CreatableTopicConfig::default()
                .with_name(s("no.such.config"))
                .with_value(Some(s("1")))]),
        ],
        false,
    );
    let codes: Vec<i16> = results.iter().map(|r| r.0).collect();
    assert_eq!(
        codes,
        vec![
            0,
            TOPIC_ALREADY_EXISTS,
            INVALID_PARTITIONS,
            INVALID_REPLICATION_FACTOR,
            INVALID_TOPIC_EXCEPTION,
            0,
            INVALID_REQUEST,
            INVALID_REQUEST,
            INVALID_CONFIG,
        ]
    );
    assert_eq!(results[0].1, 4, "num_partitions -1 takes num.partitions");
    // The name is checked before the partition count: an existing topic with 0 partitions is
    // TOPIC_ALREADY_EXISTS.
    assert_eq!(
        create(&mut c, vec![topic_spec("t", 0, 1)], false)[0].0,
        TOPIC_ALREADY_EXISTS
    );
    // `t_x` collides with `t.x` ('.' and '_').
    assert_eq!(
        create(&mut c, vec![topic_spec("t_x", 1, 1)], false)[0].0,
        INVALID_TOPIC_EXCEPTION
    );
    // validate_only: checked, answered, not created.
    assert_eq!(
        create(&mut c, vec![topic_spec("dry", 2, 1)], true),
        vec![(0, 2)]
    );
    assert_eq!(
        metadata(&mut c, 12, &["fresh", "dry", "zero"], false)
            .iter()
            .map(|t| (t.0, t.1))
            .collect::<Vec<_>>(),
        vec![
            (0, 4),
            (UNKNOWN_TOPIC_OR_PARTITION, 0),
            (UNKNOWN_TOPIC_OR_PARTITION, 0)
        ]
    );
}

// DeleteTopics: by name and by id (v6); the partitions go with the topic (produce answers
// UNKNOWN_TOPIC_OR_PARTITION); a re-created topic starts empty; unknown names and ids, and
// the internal offsets topic, are refused.
#[test]
fn delete_topics_by_name_and_id() {
    let server = start_with(DEFAULT_MAX_FRAME_BYTES, |c| c.auto_create_topics = false);
    let mut c = connect(&server);
    assert_eq!(
        create(
            &mut c,
            vec![topic_spec("a", 1, 1), topic_spec("b", 1, 1)],
            false
        )
        .len(),
        2
    );
    assert_eq!(produce(&mut c, "a", 0, 3), (0, 0));
    let b_id = metadata(&mut c, 12, &["b"], false)[0].2;
    let r: DeleteTopicsResponse = c
        .call(
            ApiKey::DeleteTopics,
            6,
            &DeleteTopicsRequest::default().with_topics(vec![
                DeleteTopicState::default().with_name(Some(name("a"))),
                DeleteTopicState::default().with_topic_id(b_id),
                DeleteTopicState::default().with_topic_id(uuid::Uuid::from_u64_pair(1, 2)),
                DeleteTopicState::default().with_name(Some(name("__consumer_offsets"))),
                DeleteTopicState::default().with_name(Some(name("never"))),
            ]),
        )
        .expect("DeleteTopics answered");
    let got: Vec<(i16, Option<String>)> = r
        .responses
        .iter()
        .map(|t| (t.error_code, t.name.as_ref().map(|n| n.0.to_string())))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, Some("a".into())),
            (0, Some("b".into())),
            (UNKNOWN_TOPIC_ID, None),
            (INVALID_TOPIC_EXCEPTION, Some("__consumer_offsets".into())),
            (UNKNOWN_TOPIC_OR_PARTITION, Some("never".into())),
        ]
    );
    assert_eq!(r.responses[1].topic_id, b_id);
    assert_eq!(produce(&mut c, "a", 0, 1).0, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(
        metadata(&mut c, 12, &["a", "b"], false)
            .iter()
            .map(|t| t.0)
            .collect::<Vec<_>>(),
        vec![3, 3]
    );
    assert_eq!(
        create(&mut c, vec![topic_spec("a", 1, 1)], false),
        vec![(0, 1)]
    );
    assert_eq!(
        produce(&mut c, "a", 0, 1),
        (0, 0),
        "a re-created topic starts empty"
    );
}

// DeleteRecords: the log start offset moves to the requested offset (inside a batch); a fetch
// below it is OFFSET_OUT_OF_RANGE, ListOffsets EARLIEST answers it, a fetch at it returns the
// straddling batch with the new log start offset; beyond the high watermark is
// OFFSET_OUT_OF_RANGE; -1 is the high watermark; internal topics are INVALID_TOPIC_EXCEPTION;
// a compacted topic is POLICY_VIOLATION.
#[test]
fn delete_records_moves_the_log_start_offset() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = connect(&server);
    for i in 0..3 {
        assert_eq!(produce(&mut c, "t", 0, 3), (0, i * 3));
    }
    assert_eq!(delete_records(&mut c, "t", 0, 4), (0, 4));
    assert_eq!(fetch(&mut c, "t", 0, 3).0, OFFSET_OUT_OF_RANGE);
    assert_eq!(earliest(&mut c, "t", 0), 4);
    assert_eq!(fetch(&mut c, "t", 0, 4), (0, 4, 2));
    assert_eq!(
        delete_records(&mut c, "t", 0, 10),
        (OFFSET_OUT_OF_RANGE, -1)
    );
    assert_eq!(
        delete_records(&mut c, "t", 0, 2),
        (0, 4),
        "never moves down"
    );
    assert_eq!(delete_records(&mut c, "t", 0, -1), (0, 9));
    assert_eq!(fetch(&mut c, "t", 0, 9), (0, 9, 0));
    assert_eq!(
        delete_records(&mut c, "t", 5, 0),
        (UNKNOWN_TOPIC_OR_PARTITION, -1)
    );
    assert_eq!(
        delete_records(&mut c, "__consumer_offsets", 0, 0),
        (INVALID_TOPIC_EXCEPTION, -1)
    );
    let compact = topic_spec("compacted", 1, 1).with_configs(vec![CreatableTopicConfig::default()
        .with_name(s("cleanup.policy"))
        .with_value(Some(s("compact")))]);
    assert_eq!(create(&mut c, vec![compact], false)[0].0, 0);
    assert_eq!(
        delete_records(&mut c, "compacted", 0, 0),
        (POLICY_VIOLATION, -1)
    );
}

// DescribeConfigs: a topic's override is DYNAMIC_TOPIC_CONFIG (1), the rest DEFAULT_CONFIG (5)
// with the broker config as synonym; an unknown topic is UNKNOWN_TOPIC_OR_PARTITION; another
// broker id is INVALID_REQUEST; no key list means every config.
#[test]
fn describe_configs_shows_defaults_and_overrides() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = connect(&server);
    let spec = topic_spec("conf", 1, 1).with_configs(vec![CreatableTopicConfig::default()
        .with_name(s("retention.ms"))
        .with_value(Some(s("1000")))]);
    assert_eq!(create(&mut c, vec![spec], false)[0].0, 0);
    let resource = |kind: i8, n: &str| {
        DescribeConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(s(n))
    };
    let r: DescribeConfigsResponse = c
        .call(
            ApiKey::DescribeConfigs,
            4,
            &DescribeConfigsRequest::default()
                .with_include_synonyms(true)
                .with_resources(vec![
                    resource(2, "conf"),
                    resource(2, "nope"),
                    resource(4, "7"),
                    resource(4, "0"),
                ]),
        )
        .expect("DescribeConfigs answered");
    let codes: Vec<i16> = r.results.iter().map(|x| x.error_code).collect();
    assert_eq!(
        codes,
        vec![0, UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUEST, 0]
    );
    let find = |n: &str| {
        r.results[0]
            .configs
            .iter()
            .find(|x| x.name.as_str() == n)
            .unwrap_or_else(|| panic!("{n} described"))
    };
    for n in [
        "cleanup.policy",
        "message.timestamp.type",
        "max.message.bytes",
        "segment.bytes",
        "min.insync.replicas",
    ] {
        assert_eq!(find(n).config_source, 5, "{n} is Kafka's default");
    }
    let retention = find("retention.ms");
    assert_eq!(
        (
            retention.value.as_ref().map(|v| v.as_str()),
            retention.config_source
        ),
        (Some("1000"), 1)
    );
    assert_eq!(retention.synonyms.len(), 2);
    assert_eq!(retention.synonyms[1].name.as_str(), "log.retention.ms");
    assert_eq!(
        find("message.timestamp.type")
            .value
            .as_ref()
            .map(|v| v.as_str()),
        Some("CreateTime")
    );
}

// DescribeProducers, ListTransactions and DescribeTransactions over one open and one committed
// transaction: what `kafka-transactions.sh find-hanging` combines (a producer whose open
// transaction the coordinator does not know would be hanging; here the coordinator knows both).
#[test]
fn transaction_tools_see_open_and_completed_transactions() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = connect(&server);
    let mut pids = Vec::new();
    for (txn, commit) in [("open", None), ("done", Some(true))] {
        let init: InitProducerIdResponse = c
            .call(
                ApiKey::InitProducerId,
                4,
                &InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(s(txn))))
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            )
            .unwrap();
        let (pid, epoch) = (init.producer_id, init.producer_epoch);
        let add: AddPartitionsToTxnResponse = c
            .call(
                ApiKey::AddPartitionsToTxn,
                3,
                &AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(TransactionalId(s(txn)))
                    .with_v3_and_below_producer_id(pid)
                    .with_v3_and_below_producer_epoch(epoch)
                    .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                        .with_name(name("t"))
                        .with_partitions(vec![1])]),
            )
            .unwrap();
        assert_eq!(
            add.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
            0
        );
        let r: ProduceResponse = c
            .call(
                ApiKey::Produce,
                9,
                &ProduceRequest::default()
                    .with_acks(-1)
                    .with_transactional_id(Some(TransactionalId(s(txn))))
                    .with_topic_data(vec![TopicProduceData::default()
                        .with_name(name("t"))
                        .with_partition_data(vec![PartitionProduceData::default()
                            .with_index(1)
                            .with_records(Some(data_batch(pid.0, epoch, 0, 2, true)))])]),
            )
            .unwrap();
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
        if let Some(commit) = commit {
            let e: EndTxnResponse = c
                .call(
                    ApiKey::EndTxn,
                    3,
                    &EndTxnRequest::default()
                        .with_transactional_id(TransactionalId(s(txn)))
                        .with_producer_id(pid)
                        .with_producer_epoch(epoch)
                        .with_committed(commit),
                )
                .unwrap();
            assert_eq!(e.error_code, 0);
        }
        pids.push(pid.0);
    }
    let producers: DescribeProducersResponse = c
        .call(
            ApiKey::DescribeProducers,
            0,
            &DescribeProducersRequest::default().with_topics(vec![
                describe_producers_request::TopicRequest::default()
                    .with_name(name("t"))
                    .with_partition_indexes(vec![1]),
            ]),
        )
        .unwrap();
    let active: Vec<(i64, i32, i64, i32)> = producers.topics[0].partitions[0]
        .active_producers
        .iter()
        .map(|p| {
            (
                p.producer_id.0,
                p.last_sequence,
                p.current_txn_start_offset,
                p.coordinator_epoch,
            )
        })
        .collect();
    assert_eq!(active, vec![(pids[0], 1, 0, -1), (pids[1], 1, -1, 0)]);

    let list = |c: &mut Client, states: &[&str], duration: i64| -> Vec<(String, String)> {
        let r: ListTransactionsResponse = c
            .call(
                ApiKey::ListTransactions,
                1,
                &ListTransactionsRequest::default()
                    .with_state_filters(states.iter().map(|x| s(x)).collect())
                    .with_duration_filter(duration),
            )
            .unwrap();
        r.transaction_states
            .iter()
            .map(|t| {
                (
                    t.transactional_id.0.to_string(),
                    t.transaction_state.to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        list(&mut c, &[], -1),
        vec![
            ("done".to_string(), "CompleteCommit".to_string()),
            ("open".to_string(), "Ongoing".to_string())
        ]
    );
    assert_eq!(
        list(&mut c, &["Ongoing"], -1),
        vec![("open".to_string(), "Ongoing".to_string())]
    );
    // Only transactions running longer than an hour: none.
    assert_eq!(list(&mut c, &[], 3_600_000), vec![]);

    let d: DescribeTransactionsResponse = c
        .call(
            ApiKey::DescribeTransactions,
            0,
            &DescribeTransactionsRequest::default().with_transactional_ids(vec![
                TransactionalId(s("open")),
                TransactionalId(s("done")),
                TransactionalId(s("")),
            ]),
        )
        .unwrap();
    let open = &d.transaction_states[0];
    assert_eq!(
        (open.error_code, open.transaction_state.as_str()),
        (0, "Ongoing")
    );
    assert_eq!(open.topics[0].partitions, vec![1]);
    assert!(open.transaction_start_time_ms > 0);
    let done = &d.transaction_states[1];
    assert_eq!(
        (done.error_code, done.transaction_state.as_str()),
        (0, "CompleteCommit")
    );
    assert!(done.topics.is_empty());
    assert_eq!(d.transaction_states[2].error_code, INVALID_REQUEST);
}

// DeleteTopics during a transaction over two topics: the deleted topic's partition has no leader
// any more, so its marker is dropped (`TransactionMarkerChannelManager.addTxnMarkersToBrokerQueue`,
// `removePartition`) and EndTxn(COMMIT) completes: CompleteCommit, the other topic's records
// visible to read_committed with the last stable offset past the marker, and the next transaction
// of the id accepted. Without the rule the dropped marker is re-sent forever and the transaction
// stays PrepareCommit (its next AddPartitionsToTxn is CONCURRENT_TRANSACTIONS).
#[test]
fn deleting_a_topic_in_a_transaction_lets_it_complete() {
    use common::eos;
    let server = start_with(DEFAULT_MAX_FRAME_BYTES, |c| c.auto_create_topics = false);
    let mut c = connect(&server);
    assert_eq!(
        create(
            &mut c,
            vec![topic_spec("keep", 1, 1), topic_spec("gone", 1, 1)],
            false
        ),
        vec![(0, 1), (0, 1)]
    );
    let init = eos::init_producer_id(&mut c, Some("tx"));
    let pe = (init.producer_id.0, init.producer_epoch);
    for topic in ["keep", "gone"] {
        assert_eq!(eos::add_partition(&mut c, "tx", pe, topic, 0), 0);
        let batch = data_batch(pe.0, pe.1, 0, 2, true);
        assert_eq!(
            eos::produce(&mut c, Some("tx"), topic, 0, batch).error_code,
            0
        );
    }
    let before = eos::fetch(&mut c, "keep", 0, 0, true);
    assert_eq!((before.high_watermark, before.last_stable_offset), (2, 0));

    let r: DeleteTopicsResponse = c
        .call(
            ApiKey::DeleteTopics,
            4,
            &DeleteTopicsRequest::default().with_topic_names(vec![name("gone")]),
        )
        .expect("DeleteTopics answered");
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(eos::end_txn(&mut c, 3, "tx", pe, true), 0);

    let d: DescribeTransactionsResponse = c
        .call(
            ApiKey::DescribeTransactions,
            0,
            &DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(s("tx"))]),
        )
        .unwrap();
    let state = &d.transaction_states[0];
    assert_eq!(
        (state.error_code, state.transaction_state.as_str()),
        (0, "CompleteCommit")
    );
    assert!(state.topics.is_empty());
    let after = eos::fetch(&mut c, "keep", 0, 0, true);
    assert_eq!((after.high_watermark, after.last_stable_offset), (3, 3));
    assert!(after
        .aborted_transactions
        .as_ref()
        .is_none_or(Vec::is_empty));
    assert!(after.records.as_ref().is_some_and(|r| !r.is_empty()));
    // The id is free for its next transaction.
    assert_eq!(eos::add_partition(&mut c, "tx", pe, "keep", 0), 0);
}
