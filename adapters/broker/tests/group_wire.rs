//! The group coordinator on the wire: every advertised version of JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, OffsetCommit and OffsetFetch in a working round trip; two members
//! rebalancing (the leader's assignment passed through, the JoinGroup answer deferred until
//! the other member rejoins); a transactional offset pending until its marker (OffsetFetch v7+
//! `require_stable` → UNSTABLE_OFFSET_COMMIT, COMMIT → the offset, ABORT → none) and fenced by
//! generation (KIP-447); ListGroups and DescribeGroups.

mod common;

use bytes::Bytes;
use common::{start, Client};
use kafka_eos_broker::server::DEFAULT_MAX_FRAME_BYTES;
use kafka_eos_broker::versions::advertised;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

const MEMBER_ID_REQUIRED: i16 = 79;
const REBALANCE_IN_PROGRESS: i16 = 27;
const ILLEGAL_GENERATION: i16 = 22;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;
const UNKNOWN_MEMBER_ID: i16 = 25;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn max(api: ApiKey) -> i16 {
    advertised(api).expect("advertised").1
}

/// JoinGroup at `version` (from v4 the MEMBER_ID_REQUIRED round first): the answer.
fn join(c: &mut Client, group: &str, member: &str, version: i16) -> JoinGroupResponse {
    let request = |member: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(if version >= 1 { 10_000 } else { -1 })
            .with_member_id(s(member))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"meta"))])
    };
    let r: JoinGroupResponse = c
        .call(ApiKey::JoinGroup, version, &request(member))
        .expect("JoinGroup answered");
    if member.is_empty() && version >= 4 {
        assert_eq!(r.error_code, MEMBER_ID_REQUIRED, "JoinGroup v{version}");
        let id = r.member_id.to_string();
        return c
            .call(ApiKey::JoinGroup, version, &request(&id))
            .expect("JoinGroup answered");
    }
    r
}

fn sync(
    c: &mut Client,
    group: &str,
    member: &str,
    generation: i32,
    assignments: &[(&str, &'static [u8])],
    version: i16,
) -> SyncGroupResponse {
    c.call(
        ApiKey::SyncGroup,
        version,
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(generation)
            .with_member_id(s(member))
            .with_assignments(
                assignments
                    .iter()
                    .map(|(m, a)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(s(m))
                            .with_assignment(Bytes::from_static(a))
                    })
                    .collect(),
            ),
    )
    .expect("SyncGroup answered")
}

fn heartbeat(c: &mut Client, group: &str, member: &str, generation: i32, version: i16) -> i16 {
    let r: HeartbeatResponse = c
        .call(
            ApiKey::Heartbeat,
            version,
            &HeartbeatRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_generation_id(generation)
                .with_member_id(s(member)),
        )
        .expect("Heartbeat answered");
    r.error_code
}

fn commit(c: &mut Client, group: &str, member: &str, generation: i32, offset: i64, v: i16) -> i16 {
    let r: OffsetCommitResponse = c
        .call(
            ApiKey::OffsetCommit,
            v,
            &OffsetCommitRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_generation_id_or_member_epoch(generation)
                .with_member_id(s(member))
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(1)
                        .with_committed_offset(offset)])]),
        )
        .expect("OffsetCommit answered");
    r.topics[0].partitions[0].error_code
}

/// OffsetFetch of `t-1` at `version` (v8: the batched form): (offset, error).
fn fetch_offset(c: &mut Client, group: &str, stable: bool, version: i16) -> (i64, i16) {
    let mut request = OffsetFetchRequest::default().with_require_stable(stable);
    if version >= 8 {
        request = request.with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(s("t")))
                .with_partition_indexes(vec![1])]))]);
    } else {
        request = request
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partition_indexes(vec![1])]));
    }
    let r: OffsetFetchResponse = c
        .call(ApiKey::OffsetFetch, version, &request)
        .expect("OffsetFetch answered");
    if version >= 8 {
        let p = &r.groups[0].topics[0].partitions[0];
        (p.committed_offset, p.error_code)
    } else {
        let p = &r.topics[0].partitions[0];
        (p.committed_offset, p.error_code)
    }
}

fn leave(c: &mut Client, group: &str, member: &str, version: i16) -> i16 {
    let r: LeaveGroupResponse = c
        .call(
            ApiKey::LeaveGroup,
            version,
            &LeaveGroupRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_member_id(if version < 3 { s(member) } else { s("") })
                .with_members(if version >= 3 {
                    vec![MemberIdentity::default().with_member_id(s(member))]
                } else {
                    vec![]
                }),
        )
        .expect("LeaveGroup answered");
    if version >= 3 {
        assert_eq!(r.members[0].error_code, 0);
    }
    r.error_code
}

// Every advertised version of the group APIs in one working round trip, a group per version:
// join (MEMBER_ID_REQUIRED from v4), the leader's sync with its assignment, a heartbeat, a plain
// commit with the generation and its fetch, a commit with a stale generation refused, leave.
#[test]
fn every_advertised_group_version_round_trips() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let versions = |api: ApiKey| {
        let (min, max) = advertised(api).unwrap();
        (min..=max).collect::<Vec<_>>()
    };
    let join_versions = versions(ApiKey::JoinGroup);
    let commit_versions = versions(ApiKey::OffsetCommit);
    let fetch_versions = versions(ApiKey::OffsetFetch);
    let rounds = join_versions
        .len()
        .max(commit_versions.len())
        .max(fetch_versions.len());
    for i in 0..rounds {
        let pick = |vs: &Vec<i16>| vs[i.min(vs.len() - 1)];
        let (jv, cv, fv) = (
            pick(&join_versions),
            pick(&commit_versions),
            pick(&fetch_versions),
        );
        let sv = pick(&versions(ApiKey::SyncGroup));
        let hv = pick(&versions(ApiKey::Heartbeat));
        let lv = pick(&versions(ApiKey::LeaveGroup));
        let group = format!("g{i}");
        let mut c = Client::connect(&server);
        let j = join(&mut c, &group, "", jv);
        assert_eq!(j.error_code, 0, "JoinGroup v{jv}");
        assert_eq!(j.generation_id, 1);
        assert_eq!(j.leader, j.member_id);
        assert_eq!(j.members.len(), 1);
        assert_eq!(j.members[0].metadata.as_ref(), b"meta");
        let me = j.member_id.to_string();
        let sy = sync(&mut c, &group, &me, 1, &[(&me, b"assignment")], sv);
        assert_eq!(
            (sy.error_code, sy.assignment.as_ref()),
            (0, &b"assignment"[..])
        );
        assert_eq!(heartbeat(&mut c, &group, &me, 1, hv), 0, "Heartbeat v{hv}");
        assert_eq!(
            commit(&mut c, &group, &me, 1, 17, cv),
            0,
            "OffsetCommit v{cv}"
        );
        assert_eq!(
            commit(&mut c, &group, &me, 0, 18, cv),
            ILLEGAL_GENERATION,
            "OffsetCommit v{cv} with a stale generation"
        );
        assert_eq!(
            fetch_offset(&mut c, &group, fv >= 7, fv),
            (17, 0),
            "OffsetFetch v{fv}"
        );
        assert_eq!(leave(&mut c, &group, &me, lv), 0, "LeaveGroup v{lv}");
        assert_eq!(heartbeat(&mut c, &group, &me, 1, hv), UNKNOWN_MEMBER_ID);
    }
}

// Two members: the second JoinGroup waits (answered on another thread's connection once the
// first member rejoins); the first member's heartbeat says REBALANCE_IN_PROGRESS; both get
// generation 2 with the same leader, which alone gets the members; the follower's SyncGroup waits
// for the leader's, then receives the bytes the leader gave it. DescribeGroups and ListGroups
// show the Stable group.
#[test]
fn two_members_rebalance_and_the_leaders_assignment_reaches_the_follower() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut a = Client::connect(&server);
    let j = join(&mut a, "pair", "", max(ApiKey::JoinGroup));
    let leader = j.member_id.to_string();
    sync(&mut a, "pair", &leader, 1, &[(&leader, b"A1")], 3);
    let addr = server.addr;
    let second = std::thread::spawn(move || {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut b = Client::from_stream(stream);
        let j = join(&mut b, "pair", "", 5);
        let me = j.member_id.to_string();
        let sy = sync(&mut b, "pair", &me, j.generation_id, &[], 3);
        (j, sy)
    });
    // The first member learns of the rebalance from its heartbeat (the second join is in).
    let mut tries = 0;
    while heartbeat(&mut a, "pair", &leader, 1, 4) != REBALANCE_IN_PROGRESS {
        tries += 1;
        assert!(tries < 200, "no rebalance started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let j = join(&mut a, "pair", &leader, 5);
    assert_eq!((j.error_code, j.generation_id), (0, 2));
    assert_eq!(j.leader.as_str(), leader);
    assert_eq!(j.members.len(), 2);
    let follower = j
        .members
        .iter()
        .map(|m| m.member_id.to_string())
        .find(|m| *m != leader)
        .unwrap();
    let sy = sync(
        &mut a,
        "pair",
        &leader,
        2,
        &[(&leader, b"A2"), (&follower, b"B2")],
        5,
    );
    assert_eq!(sy.assignment.as_ref(), b"A2");
    let (fj, fs) = second.join().unwrap();
    assert_eq!((fj.generation_id, fj.leader.as_str()), (2, leader.as_str()));
    assert!(fj.members.is_empty(), "only the leader gets the members");
    assert_eq!((fs.error_code, fs.assignment.as_ref()), (0, &b"B2"[..]));
    let d: DescribeGroupsResponse = a
        .call(
            ApiKey::DescribeGroups,
            max(ApiKey::DescribeGroups),
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("pair"))]),
        )
        .unwrap();
    assert_eq!(d.groups[0].group_state.as_str(), "Stable");
    assert_eq!(d.groups[0].protocol_data.as_str(), "range");
    assert_eq!(d.groups[0].members.len(), 2);
    let l: ListGroupsResponse = a
        .call(
            ApiKey::ListGroups,
            max(ApiKey::ListGroups),
            &ListGroupsRequest::default(),
        )
        .unwrap();
    assert_eq!(l.groups.len(), 1);
    assert_eq!(l.groups[0].group_state.as_str(), "Stable");
}

fn txn_offset_commit(c: &mut Client, pid: i64, generation: i32, member: &str, offset: i64) -> i16 {
    let r: TxnOffsetCommitResponse = c
        .call(
            ApiKey::TxnOffsetCommit,
            3,
            &TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(s("tx")))
                .with_group_id(GroupId(s("eos")))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(0)
                .with_generation_id(generation)
                .with_member_id(s(member))
                .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(1)
                        .with_committed_offset(offset)])]),
        )
        .expect("TxnOffsetCommit answered");
    r.topics[0].partitions[0].error_code
}

fn begin_offsets(c: &mut Client, pid: i64) {
    let r: AddOffsetsToTxnResponse = c
        .call(
            ApiKey::AddOffsetsToTxn,
            0,
            &AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(s("tx")))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(0)
                .with_group_id(GroupId(s("eos"))),
        )
        .unwrap();
    assert_eq!(r.error_code, 0);
}

fn end_txn(c: &mut Client, pid: i64, commit: bool) {
    let r: EndTxnResponse = c
        .call(
            ApiKey::EndTxn,
            1,
            &EndTxnRequest::default()
                .with_transactional_id(TransactionalId(s("tx")))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(0)
                .with_committed(commit),
        )
        .unwrap();
    assert_eq!(r.error_code, 0);
}

// KIP-447 over the wire: a TxnOffsetCommit from a member with a stale generation is
// ILLEGAL_GENERATION; an accepted one is pending: OffsetFetch v7+ with require_stable answers
// UNSTABLE_OFFSET_COMMIT, v6 (no stable flag) the last committed offset; the COMMIT marker the
// transaction coordinator writes to the group's offsets partition completes it; an ABORT drops
// the next one.
#[test]
fn transactional_offsets_are_pending_until_the_marker() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let mut c = Client::connect(&server);
    let j = join(&mut c, "eos", "", 5);
    let me = j.member_id.to_string();
    sync(&mut c, "eos", &me, 1, &[(&me, b"all")], 3);
    let r: InitProducerIdResponse = c
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s("tx"))))
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .unwrap();
    let pid = r.producer_id.0;
    begin_offsets(&mut c, pid);
    assert_eq!(
        txn_offset_commit(&mut c, pid, 0, &me, 5),
        ILLEGAL_GENERATION
    );
    assert_eq!(txn_offset_commit(&mut c, pid, 1, &me, 5), 0);
    for v in 7..=max(ApiKey::OffsetFetch) {
        assert_eq!(
            fetch_offset(&mut c, "eos", true, v),
            (-1, UNSTABLE_OFFSET_COMMIT)
        );
    }
    assert_eq!(fetch_offset(&mut c, "eos", false, 6), (-1, 0));
    end_txn(&mut c, pid, true);
    assert_eq!(fetch_offset(&mut c, "eos", true, 7), (5, 0));
    begin_offsets(&mut c, pid);
    assert_eq!(txn_offset_commit(&mut c, pid, 1, &me, 9), 0);
    end_txn(&mut c, pid, false);
    assert_eq!(fetch_offset(&mut c, "eos", true, 8), (5, 0));
}
