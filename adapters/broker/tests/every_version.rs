//! One working round trip for EVERY advertised (api, version) of `versions::ADVERTISED`, each on
//! a fresh connection with a request that does something (a real partition, producer,
//! transaction or group), its answer decoded at that version and its error code checked. The
//! test fails when the broker closes the connection: that is what happens when a response sets
//! a field its version lacks and the encoder refuses it (the ListOffsets v1-3 `leader_epoch`
//! bug), or when a request of an advertised version is not served.

mod common;

use bytes::Bytes;
use common::{start, Client};
use kafka_eos_broker::server::{Server, DEFAULT_MAX_FRAME_BYTES};
use kafka_eos_broker::testing::data_batch;
use kafka_eos_broker::versions::ADVERTISED;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

const MEMBER_ID_REQUIRED: i16 = 79;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn t() -> TopicName {
    TopicName(s("t"))
}

fn max(api: ApiKey) -> i16 {
    ADVERTISED
        .iter()
        .find(|(k, _, _)| *k == api)
        .map(|&(_, _, max)| max)
        .unwrap()
}

/// One round trip; the test fails if the broker closes the connection instead of answering.
fn call<Req: Encodable, Resp: Decodable>(c: &mut Client, api: ApiKey, v: i16, req: &Req) -> Resp {
    c.call(api, v, req).unwrap_or_else(|| {
        panic!("{api:?} v{v}: the broker closed the connection instead of answering")
    })
}

fn produce_request(
    txn: Option<&str>,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_transactional_id(txn.map(|x| TransactionalId(s(x))))
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

fn produce(
    c: &mut Client,
    v: i16,
    txn: Option<&str>,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> i64 {
    let r: ProduceResponse = call(
        c,
        ApiKey::Produce,
        v,
        &produce_request(txn, topic, partition, records),
    );
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "Produce v{v}");
    p.base_offset
}

fn init_producer_id(c: &mut Client, v: i16, txn: Option<&str>) -> (i64, i16) {
    let r: InitProducerIdResponse = call(
        c,
        ApiKey::InitProducerId,
        v,
        &InitProducerIdRequest::default()
            .with_transactional_id(txn.map(|x| TransactionalId(s(x))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    );
    assert_eq!(r.error_code, 0, "InitProducerId v{v}");
    assert!(r.producer_id.0 >= 0);
    (r.producer_id.0, r.producer_epoch)
}

fn add_partitions(c: &mut Client, v: i16, txn: &str, pid: i64, epoch: i16, partition: i32) {
    let r: AddPartitionsToTxnResponse = call(
        c,
        ApiKey::AddPartitionsToTxn,
        v,
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(s(txn)))
            .with_v3_and_below_producer_id(ProducerId(pid))
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(t())
                .with_partitions(vec![partition])]),
    );
    assert_eq!(
        r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code, 0,
        "AddPartitionsToTxn v{v}"
    );
}

fn add_offsets(c: &mut Client, v: i16, txn: &str, pid: i64, epoch: i16, group: &str) {
    let r: AddOffsetsToTxnResponse = call(
        c,
        ApiKey::AddOffsetsToTxn,
        v,
        &AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(s(txn)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(s(group))),
    );
    assert_eq!(r.error_code, 0, "AddOffsetsToTxn v{v}");
}

fn end_txn(c: &mut Client, v: i16, txn: &str, pid: i64, epoch: i16, commit: bool) {
    let r: EndTxnResponse = call(
        c,
        ApiKey::EndTxn,
        v,
        &EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(txn)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit),
    );
    assert_eq!(r.error_code, 0, "EndTxn v{v}");
}

fn txn_offset_commit(c: &mut Client, v: i16, txn: &str, pid: i64, epoch: i16, group: &str) {
    let r: TxnOffsetCommitResponse = call(
        c,
        ApiKey::TxnOffsetCommit,
        v,
        &TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s(txn)))
            .with_group_id(GroupId(s(group)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(t())
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(1)])]),
    );
    assert_eq!(
        r.topics[0].partitions[0].error_code, 0,
        "TxnOffsetCommit v{v}"
    );
}

/// A transactional producer `txn` with partition `t-0` in an open transaction (one batch
/// written): its id and epoch.
fn open_transaction(c: &mut Client, txn: &str) -> (i64, i16) {
    let (pid, epoch) = init_producer_id(c, max(ApiKey::InitProducerId), Some(txn));
    add_partitions(c, max(ApiKey::AddPartitionsToTxn), txn, pid, epoch, 0);
    produce(
        c,
        max(ApiKey::Produce),
        Some(txn),
        "t",
        0,
        data_batch(pid, epoch, 0, 1, true),
    );
    (pid, epoch)
}

/// The versions the group APIs use in one session: `api` at `v`, the others at their newest.
struct GroupVersions {
    join: i16,
    sync: i16,
    heartbeat: i16,
    commit: i16,
    fetch: i16,
    leave: i16,
    describe: i16,
    list: i16,
}

impl GroupVersions {
    fn with(api: ApiKey, v: i16) -> GroupVersions {
        let at = |a: ApiKey| if a == api { v } else { max(a) };
        GroupVersions {
            join: at(ApiKey::JoinGroup),
            sync: at(ApiKey::SyncGroup),
            heartbeat: at(ApiKey::Heartbeat),
            commit: at(ApiKey::OffsetCommit),
            fetch: at(ApiKey::OffsetFetch),
            leave: at(ApiKey::LeaveGroup),
            describe: at(ApiKey::DescribeGroups),
            list: at(ApiKey::ListGroups),
        }
    }
}

/// A group session with every group API: find the coordinator, join (the MEMBER_ID_REQUIRED
/// round from v4), sync with the leader's assignment, heartbeat, commit, fetch the offset,
/// describe, list, leave.
fn group_session(c: &mut Client, group: &str, v: &GroupVersions) {
    let join_request = |member: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(if v.join >= 1 { 10_000 } else { -1 })
            .with_member_id(s(member))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"meta"))])
    };
    let mut j: JoinGroupResponse = call(c, ApiKey::JoinGroup, v.join, &join_request(""));
    if v.join >= 4 {
        assert_eq!(j.error_code, MEMBER_ID_REQUIRED, "JoinGroup v{}", v.join);
        let id = j.member_id.to_string();
        j = call(c, ApiKey::JoinGroup, v.join, &join_request(&id));
    }
    assert_eq!(j.error_code, 0, "JoinGroup v{}", v.join);
    assert_eq!(j.leader, j.member_id);
    let me = j.member_id.to_string();
    let generation = j.generation_id;
    let sy: SyncGroupResponse = call(
        c,
        ApiKey::SyncGroup,
        v.sync,
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(generation)
            .with_member_id(s(&me))
            .with_assignments(vec![SyncGroupRequestAssignment::default()
                .with_member_id(s(&me))
                .with_assignment(Bytes::from_static(b"a"))]),
    );
    assert_eq!(
        (sy.error_code, sy.assignment.as_ref()),
        (0, &b"a"[..]),
        "SyncGroup v{}",
        v.sync
    );
    let hb: HeartbeatResponse = call(
        c,
        ApiKey::Heartbeat,
        v.heartbeat,
        &HeartbeatRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(generation)
            .with_member_id(s(&me)),
    );
    assert_eq!(hb.error_code, 0, "Heartbeat v{}", v.heartbeat);
    let oc: OffsetCommitResponse = call(
        c,
        ApiKey::OffsetCommit,
        v.commit,
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(s(&me))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(t())
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(1)
                    .with_committed_offset(17)])]),
    );
    assert_eq!(
        oc.topics[0].partitions[0].error_code, 0,
        "OffsetCommit v{}",
        v.commit
    );
    let request = if v.fetch >= 8 {
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(t())
                .with_partition_indexes(vec![1])]))])
    } else {
        OffsetFetchRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(t())
                .with_partition_indexes(vec![1])]))
    };
    let of: OffsetFetchResponse = call(c, ApiKey::OffsetFetch, v.fetch, &request);
    let (offset, error) = if v.fetch >= 8 {
        let p = &of.groups[0].topics[0].partitions[0];
        (p.committed_offset, p.error_code)
    } else {
        let p = &of.topics[0].partitions[0];
        (p.committed_offset, p.error_code)
    };
    assert_eq!((offset, error), (17, 0), "OffsetFetch v{}", v.fetch);
    let dg: DescribeGroupsResponse = call(
        c,
        ApiKey::DescribeGroups,
        v.describe,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]),
    );
    assert_eq!(dg.groups[0].error_code, 0, "DescribeGroups v{}", v.describe);
    assert_eq!(dg.groups[0].group_state.as_str(), "Stable");
    assert_eq!(dg.groups[0].members.len(), 1);
    let lg: ListGroupsResponse = call(c, ApiKey::ListGroups, v.list, &ListGroupsRequest::default());
    assert_eq!(lg.error_code, 0, "ListGroups v{}", v.list);
    assert!(lg.groups.iter().any(|g| g.group_id.0.as_str() == group));
    let leave: LeaveGroupResponse = call(
        c,
        ApiKey::LeaveGroup,
        v.leave,
        &LeaveGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_member_id(if v.leave < 3 { s(&me) } else { s("") })
            .with_members(if v.leave >= 3 {
                vec![MemberIdentity::default().with_member_id(s(&me))]
            } else {
                vec![]
            }),
    );
    assert_eq!(leave.error_code, 0, "LeaveGroup v{}", v.leave);
}

fn create_topic(c: &mut Client, v: i16, name: &str, partitions: i32) -> CreateTopicsResponse {
    call(
        c,
        ApiKey::CreateTopics,
        v,
        &CreateTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(s(name)))
                .with_num_partitions(partitions)
                .with_replication_factor(-1)]),
    )
}

/// The round trip of `api` at `v` against a broker with topic `t` (2 partitions).
fn round_trip(server: &Server, api: ApiKey, v: i16) {
    let mut c = Client::connect(server);
    let c = &mut c;
    let id = format!("{api:?}-v{v}");
    match api {
        ApiKey::Produce => {
            let (pid, epoch) = init_producer_id(c, max(ApiKey::InitProducerId), None);
            let first = produce(c, v, None, "t", 1, data_batch(pid, epoch, 0, 2, false));
            // The exact retry is a duplicate: the same offset.
            assert_eq!(
                produce(c, v, None, "t", 1, data_batch(pid, epoch, 0, 2, false)),
                first
            );
        }
        ApiKey::Fetch => {
            let base = produce(
                c,
                max(ApiKey::Produce),
                None,
                "t",
                1,
                data_batch(-1, -1, -1, 1, false),
            );
            let r: FetchResponse = call(
                c,
                api,
                v,
                &FetchRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_max_wait_ms(0)
                    .with_min_bytes(1)
                    .with_max_bytes(1 << 20)
                    .with_isolation_level(1)
                    .with_topics(vec![FetchTopic::default().with_topic(t()).with_partitions(
                        vec![FetchPartition::default()
                            .with_partition(1)
                            .with_fetch_offset(base)
                            .with_partition_max_bytes(1 << 20)],
                    )]),
            );
            let p = &r.responses[0].partitions[0];
            assert_eq!(p.error_code, 0, "Fetch v{v}");
            assert_eq!(p.high_watermark, base + 1);
            assert!(p.records.as_ref().is_some_and(|r| !r.is_empty()));
        }
        ApiKey::ListOffsets => {
            let base = produce(
                c,
                max(ApiKey::Produce),
                None,
                "t",
                1,
                data_batch(-1, -1, -1, 1, false),
            );
            for (timestamp, expected) in [(-2, 0), (-1, base + 1)] {
                let r: ListOffsetsResponse = call(
                    c,
                    api,
                    v,
                    &ListOffsetsRequest::default()
                        .with_replica_id(BrokerId(-1))
                        .with_topics(vec![ListOffsetsTopic::default()
                            .with_name(t())
                            .with_partitions(vec![ListOffsetsPartition::default()
                                .with_partition_index(1)
                                .with_timestamp(timestamp)])]),
                );
                let p = &r.topics[0].partitions[0];
                assert_eq!(
                    (p.error_code, p.offset),
                    (0, expected),
                    "ListOffsets v{v} at {timestamp}"
                );
            }
        }
        ApiKey::Metadata => {
            let r: MetadataResponse = call(
                c,
                api,
                v,
                &MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default(
                )
                .with_name(Some(t()))])),
            );
            assert_eq!(r.brokers.len(), 1, "Metadata v{v}");
            assert_eq!(r.topics[0].error_code, 0);
            assert_eq!(r.topics[0].partitions.len(), 2);
        }
        ApiKey::OffsetCommit
        | ApiKey::OffsetFetch
        | ApiKey::JoinGroup
        | ApiKey::Heartbeat
        | ApiKey::LeaveGroup
        | ApiKey::SyncGroup
        | ApiKey::DescribeGroups
        | ApiKey::ListGroups => group_session(c, &id, &GroupVersions::with(api, v)),
        ApiKey::FindCoordinator => {
            // The key type is v1+: v0 finds a group coordinator.
            let key_types: &[i8] = if v == 0 { &[0] } else { &[0, 1] };
            for &key_type in key_types {
                let r: FindCoordinatorResponse = call(
                    c,
                    api,
                    v,
                    &FindCoordinatorRequest::default()
                        .with_key(s(&id))
                        .with_key_type(key_type),
                );
                assert_eq!((r.error_code, r.node_id.0), (0, 0), "FindCoordinator v{v}");
            }
        }
        ApiKey::ApiVersions => {
            let r: ApiVersionsResponse = call(c, api, v, &ApiVersionsRequest::default());
            assert_eq!(r.error_code, 0, "ApiVersions v{v}");
            assert_eq!(r.api_keys.len(), ADVERTISED.len());
        }
        ApiKey::CreateTopics => {
            let r = create_topic(c, v, &id.to_lowercase(), 3);
            let topic = &r.topics[0];
            assert_eq!(topic.error_code, 0, "CreateTopics v{v}");
            if v >= 5 {
                assert_eq!(topic.num_partitions, 3);
                assert!(topic.configs.as_ref().is_some_and(|c| !c.is_empty()));
            }
            if v >= 7 {
                assert!(!topic.topic_id.is_nil());
            }
            let again = create_topic(c, v, &id.to_lowercase(), 3);
            assert_eq!(
                again.topics[0].error_code, 36,
                "TOPIC_ALREADY_EXISTS at v{v}"
            );
        }
        ApiKey::DeleteTopics => {
            let name = id.to_lowercase();
            assert_eq!(
                create_topic(c, max(ApiKey::CreateTopics), &name, 1).topics[0].error_code,
                0
            );
            let request = if v >= 6 {
                DeleteTopicsRequest::default().with_topics(vec![
                    DeleteTopicState::default().with_name(Some(TopicName(s(&name)))),
                    DeleteTopicState::default().with_name(Some(TopicName(s("no-such-topic")))),
                ])
            } else {
                DeleteTopicsRequest::default()
                    .with_topic_names(vec![TopicName(s(&name)), TopicName(s("no-such-topic"))])
            };
            let r: DeleteTopicsResponse = call(c, api, v, &request.with_timeout_ms(5000));
            let codes: Vec<i16> = r.responses.iter().map(|t| t.error_code).collect();
            assert_eq!(codes, vec![0, 3], "DeleteTopics v{v}");
        }
        ApiKey::DeleteRecords => {
            let base = produce(
                c,
                max(ApiKey::Produce),
                None,
                "t",
                1,
                data_batch(-1, -1, -1, 2, false),
            );
            let r: DeleteRecordsResponse = call(
                c,
                api,
                v,
                &DeleteRecordsRequest::default()
                    .with_timeout_ms(5000)
                    .with_topics(vec![DeleteRecordsTopic::default()
                        .with_name(t())
                        .with_partitions(vec![
                            DeleteRecordsPartition::default()
                                .with_partition_index(1)
                                .with_offset(base + 1),
                            DeleteRecordsPartition::default()
                                .with_partition_index(7)
                                .with_offset(0),
                        ])]),
            );
            let ps = &r.topics[0].partitions;
            assert_eq!(
                (ps[0].error_code, ps[0].low_watermark),
                (0, base + 1),
                "DeleteRecords v{v}"
            );
            assert_eq!((ps[1].error_code, ps[1].low_watermark), (3, -1));
        }
        ApiKey::DescribeConfigs => {
            let r: DescribeConfigsResponse = call(
                c,
                api,
                v,
                &DescribeConfigsRequest::default()
                    .with_include_synonyms(true)
                    .with_include_documentation(v >= 3)
                    .with_resources(vec![
                        DescribeConfigsResource::default()
                            .with_resource_type(2)
                            .with_resource_name(s("t"))
                            .with_configuration_keys(Some(vec![s("cleanup.policy")])),
                        DescribeConfigsResource::default()
                            .with_resource_type(4)
                            .with_resource_name(s("0")),
                    ]),
            );
            assert_eq!(r.results[0].error_code, 0, "DescribeConfigs v{v}");
            let cfg = &r.results[0].configs;
            assert_eq!(cfg.len(), 1);
            assert_eq!(cfg[0].value.as_ref().map(|v| v.as_str()), Some("delete"));
            assert_eq!(r.results[1].error_code, 0);
            assert!(r.results[1]
                .configs
                .iter()
                .any(|c| c.name.as_str() == "num.partitions"));
        }
        ApiKey::InitProducerId => {
            init_producer_id(c, v, None);
            init_producer_id(c, v, Some(&id));
        }
        ApiKey::AddPartitionsToTxn => {
            let (pid, epoch) = init_producer_id(c, max(ApiKey::InitProducerId), Some(&id));
            add_partitions(c, v, &id, pid, epoch, 0);
            end_txn(c, max(ApiKey::EndTxn), &id, pid, epoch, false);
        }
        ApiKey::AddOffsetsToTxn | ApiKey::TxnOffsetCommit => {
            let (pid, epoch) = init_producer_id(c, max(ApiKey::InitProducerId), Some(&id));
            let at = |a: ApiKey| if a == api { v } else { max(a) };
            add_offsets(c, at(ApiKey::AddOffsetsToTxn), &id, pid, epoch, &id);
            txn_offset_commit(c, at(ApiKey::TxnOffsetCommit), &id, pid, epoch, &id);
            end_txn(c, max(ApiKey::EndTxn), &id, pid, epoch, true);
        }
        ApiKey::EndTxn => {
            let (pid, epoch) = open_transaction(c, &id);
            end_txn(c, v, &id, pid, epoch, true);
        }
        ApiKey::DescribeClientQuotas => {
            let r: DescribeClientQuotasResponse =
                call(c, api, v, &DescribeClientQuotasRequest::default());
            assert_eq!(
                (r.error_code, r.entries),
                (0, Some(vec![])),
                "DescribeClientQuotas v{v}"
            );
        }
        ApiKey::DescribeProducers => {
            let (pid, _) = open_transaction(c, &id);
            let r: DescribeProducersResponse = call(
                c,
                api,
                v,
                &DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
                    .with_name(t())
                    .with_partition_indexes(vec![0, 9])]),
            );
            let ps = &r.topics[0].partitions;
            assert_eq!(ps[0].error_code, 0, "DescribeProducers v{v}");
            let p = ps[0]
                .active_producers
                .iter()
                .find(|p| p.producer_id.0 == pid)
                .expect("the transactional producer is listed");
            assert_eq!(p.last_sequence, 0);
            assert!(p.current_txn_start_offset >= 0);
            assert_eq!(ps[1].error_code, 3);
        }
        ApiKey::ListTransactions => {
            let (pid, _) = open_transaction(c, &id);
            let r: ListTransactionsResponse = call(
                c,
                api,
                v,
                &ListTransactionsRequest::default()
                    .with_state_filters(vec![s("Ongoing"), s("NoSuchState")])
                    .with_producer_id_filters(vec![ProducerId(pid)]),
            );
            assert_eq!(r.error_code, 0, "ListTransactions v{v}");
            assert_eq!(r.unknown_state_filters, vec![s("NoSuchState")]);
            assert_eq!(r.transaction_states.len(), 1);
            assert_eq!(r.transaction_states[0].transactional_id.0.as_str(), id);
            assert_eq!(
                r.transaction_states[0].transaction_state.as_str(),
                "Ongoing"
            );
        }
        ApiKey::DescribeTransactions => {
            let (pid, epoch) = open_transaction(c, &id);
            let r: DescribeTransactionsResponse = call(
                c,
                api,
                v,
                &DescribeTransactionsRequest::default().with_transactional_ids(vec![
                    TransactionalId(s(&id)),
                    TransactionalId(s("no-such-id")),
                ]),
            );
            let d = &r.transaction_states[0];
            assert_eq!(d.error_code, 0, "DescribeTransactions v{v}");
            assert_eq!((d.producer_id.0, d.producer_epoch), (pid, epoch));
            assert_eq!(d.transaction_state.as_str(), "Ongoing");
            assert_eq!(d.transaction_timeout_ms, 60_000);
            assert_eq!(d.topics.len(), 1);
            assert_eq!(d.topics[0].partitions, vec![0]);
            assert_eq!(r.transaction_states[1].error_code, 105);
        }
        other => panic!("{other:?} is advertised but has no round trip in this test"),
    }
    // The connection is still open and usable after the round trip.
    let r: ApiVersionsResponse = call(c, ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(r.error_code, 0, "after {api:?} v{v}");
}

#[test]
fn every_advertised_version_of_every_api_round_trips() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut trips = 0;
    for &(api, min, max) in ADVERTISED {
        for v in min..=max {
            eprintln!("{api:?} v{v}");
            round_trip(&server, api, v);
            trips += 1;
        }
    }
    let expected: i32 = ADVERTISED
        .iter()
        .map(|&(_, min, max)| i32::from(max - min + 1))
        .sum();
    assert_eq!(trips, expected);
}
