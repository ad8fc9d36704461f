//! The two settings that let one node serve clients' tests written for a replicated cluster:
//! `Shared::set_replication_delay` (`--replication-delay-ms`): the answer to a request that
//! appended to `__transaction_state` is held back by the delay, as Kafka's `acks=all` append to
//! its replicated transaction log would hold it; requests that append nothing are not.
//! `Broker::set_max_replication_factor` (`--max-replication-factor`): CreateTopics accepts a
//! replication factor up to the limit (`INVALID_REPLICATION_FACTOR` above it), and the topic
//! still has one replica.

mod common;

use std::time::{Duration, Instant};

use common::{start, Client};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn init_pid(c: &mut Client, txn: Option<&str>) -> Option<InitProducerIdResponse> {
    c.call(
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(txn.map(|t| TransactionalId(StrBytes::from_string(t.into()))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    )
}

#[test]
fn a_transaction_log_append_is_answered_no_sooner_than_the_delay() {
    let server = start(1 << 20, false);
    let delay = Duration::from_millis(300);
    server.shared.set_replication_delay(delay);
    let mut c = Client::connect(&server);
    let started = Instant::now();
    let r = init_pid(&mut c, Some("x")).expect("answered");
    assert_eq!(r.error_code, 0);
    assert!(
        started.elapsed() >= delay,
        "answered after {:?}, before the {delay:?} delay",
        started.elapsed()
    );
}

#[test]
fn requests_that_append_nothing_are_not_held() {
    // A delay far above the client's 10 s read timeout: a held answer would fail the call.
    let server = start(1 << 20, false);
    server
        .shared
        .set_replication_delay(Duration::from_secs(3600));
    let mut c = Client::connect(&server);
    let r: ApiVersionsResponse = c
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .expect("ApiVersions answered");
    assert_eq!(r.error_code, 0);
    // An idempotent producer's InitProducerId writes no transaction-log record.
    let r = init_pid(&mut c, None).expect("idempotent InitProducerId answered");
    assert_eq!(r.error_code, 0);
    assert!(r.producer_id.0 >= 0);
}

/// CreateTopics v5 (the first to answer the replication factor) of one topic with 1 partition:
/// (error, replication factor answered).
fn create(c: &mut Client, topic: &str, replication: i16) -> (i16, i16) {
    let r: CreateTopicsResponse = c
        .call(
            ApiKey::CreateTopics,
            5,
            &CreateTopicsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![CreatableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.into())))
                    .with_num_partitions(1)
                    .with_replication_factor(replication)]),
        )
        .expect("CreateTopics answered");
    (r.topics[0].error_code, r.topics[0].replication_factor)
}

/// Metadata v9 of `topic`, not auto-created: (error, replica node ids of partition 0).
fn replicas(c: &mut Client, topic: &str) -> (i16, Vec<i32>) {
    let r: MetadataResponse = c
        .call(
            ApiKey::Metadata,
            9,
            &MetadataRequest::default()
                .with_allow_auto_topic_creation(false)
                .with_topics(Some(vec![MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(topic.into()))))])),
        )
        .expect("Metadata answered");
    let t = &r.topics[0];
    let nodes = t
        .partitions
        .first()
        .map(|p| p.replica_nodes.iter().map(|n| n.0).collect())
        .unwrap_or_default();
    (t.error_code, nodes)
}

#[test]
fn one_node_refuses_three_replicas_unless_the_limit_allows_them() {
    let server = start(1 << 20, false);
    let mut c = Client::connect(&server);
    // ReplicationControlManager: more replicas than brokers is INVALID_REPLICATION_FACTOR (38).
    assert_eq!(create(&mut c, "three", 3).0, 38);
    assert_eq!(create(&mut c, "one", 1), (0, 1));

    server.shared.broker().set_max_replication_factor(3);
    assert_eq!(
        create(&mut c, "three", 3),
        (0, 1),
        "accepted, one replica answered"
    );
    assert_eq!(replicas(&mut c, "three"), (0, vec![0]), "this node alone");
    assert_eq!(create(&mut c, "four", 4).0, 38);
    assert_eq!(replicas(&mut c, "four").0, 3, "not created");
}
