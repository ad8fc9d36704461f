//! Rule tests of the classic group membership (`kafka_eos::group::membership`), each naming the
//! Kafka test it mirrors (`GroupCoordinatorTest`, the classic coordinator's unit tests) or the
//! rule's source. Every membership change is stored in a [`GroupCoordinator`], whose log must
//! reload to the same state, and whose offset commits see the generation (KIP-447).

use std::collections::BTreeMap;

use kafka_eos::group::membership::*;
use kafka_eos::group::*;
use kafka_eos::{ErrorCode, TopicPartition};

const S: i32 = 6_000; // session timeout
const R: i32 = 10_000; // rebalance timeout

/// A membership plus the group coordinator its changes are stored in, with the log.
struct Node {
    m: GroupMembership,
    c: GroupCoordinator,
    log: Vec<OffsetsBatch>,
    next_id: u32,
    answers: BTreeMap<RequestToken, Answer>,
}

#[derive(Clone, Debug, PartialEq)]
enum Answer {
    Join(JoinGroupResponse),
    Sync(SyncGroupResponse),
}

impl Node {
    fn new() -> Self {
        Node {
            m: GroupMembership::new(MembershipConfig::default()),
            c: GroupCoordinator::default(),
            log: Vec::new(),
            next_id: 0,
            answers: BTreeMap::new(),
        }
    }

    fn apply(&mut self, outputs: Vec<MembershipOutput>, now: i64) {
        for o in outputs {
            match o {
                MembershipOutput::GroupChanged(g) => {
                    g.check().expect("a stored group is one Kafka can hold");
                    for GroupOutput::AppendOffsetsLog(b) in
                        self.c.store_group(g, now).expect("stored")
                    {
                        self.log.push(b);
                    }
                }
                MembershipOutput::Join { token, response } => {
                    assert!(self.answers.insert(token, Answer::Join(response)).is_none());
                }
                MembershipOutput::Sync { token, response } => {
                    assert!(self.answers.insert(token, Answer::Sync(response)).is_none());
                }
            }
        }
        assert_eq!(
            GroupCoordinator::load(self.c.config().clone(), &self.log).unwrap(),
            self.c,
            "reloading the log reproduces the coordinator"
        );
    }

    fn join_req(member_id: &str, protocols: &[(&str, &[u8])], version: i16) -> JoinGroupRequest {
        JoinGroupRequest {
            group_id: "g".into(),
            session_timeout_ms: S,
            rebalance_timeout_ms: R,
            member_id: member_id.into(),
            group_instance_id: None,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|(n, m)| (n.to_string(), m.to_vec()))
                .collect(),
            version,
        }
    }

    /// A JoinGroup: the immediate answer, or `None` (then look in `answers[token]`).
    fn join(&mut self, req: &JoinGroupRequest, token: u64, now: i64) -> Option<JoinGroupResponse> {
        self.next_id += 1;
        let id = format!("m{}", self.next_id);
        let (answer, outputs) = self.m.handle_join_group(req, token, &id, now).unwrap();
        self.apply(outputs, now);
        answer
    }

    /// A new member's two JoinGroups (v5: MEMBER_ID_REQUIRED, then the join with the id).
    fn join_new(&mut self, token: u64, now: i64) -> (String, Option<JoinGroupResponse>) {
        let first = self
            .join(&Self::join_req("", &[("range", b"r")], 5), token, now)
            .expect("answered at once");
        assert_eq!(first.error, Some(ErrorCode::MemberIdRequired));
        let id = first.member_id.clone();
        let second = self.join(&Self::join_req(&id, &[("range", b"r")], 5), token, now);
        (id, second)
    }

    fn sync(
        &mut self,
        member: &str,
        generation: i32,
        assignments: &[(&str, &[u8])],
        token: u64,
        now: i64,
    ) -> Option<SyncGroupResponse> {
        let req = SyncGroupRequest {
            group_id: "g".into(),
            generation_id: generation,
            member_id: member.into(),
            protocol_type: None,
            protocol_name: None,
            assignments: assignments
                .iter()
                .map(|(m, a)| (m.to_string(), a.to_vec()))
                .collect(),
        };
        let (answer, outputs) = self.m.handle_sync_group(&req, token, now);
        self.apply(outputs, now);
        answer
    }

    fn heartbeat(&mut self, member: &str, generation: i32, now: i64) -> Result<(), ErrorCode> {
        self.m.handle_heartbeat(
            &HeartbeatRequest {
                group_id: "g".into(),
                generation_id: generation,
                member_id: member.into(),
            },
            now,
        )
    }

    fn tick(&mut self, now: i64) {
        let outputs = self.m.handle_timeout(now);
        self.apply(outputs, now);
    }

    fn join_answer(&self, token: u64) -> JoinGroupResponse {
        match self.answers.get(&token) {
            Some(Answer::Join(r)) => r.clone(),
            other => panic!("no JoinGroup answer for {token}: {other:?}"),
        }
    }

    fn sync_answer(&self, token: u64) -> SyncGroupResponse {
        match self.answers.get(&token) {
            Some(Answer::Sync(r)) => r.clone(),
            other => panic!("no SyncGroup answer for {token}: {other:?}"),
        }
    }

    fn state(&self) -> ClassicGroupState {
        self.m.group("g").unwrap().state
    }

    /// A Stable group of `leader` (and `follower`, if any) at the returned generation.
    fn stable_pair(&mut self) -> (String, String, i32) {
        let (a, direct) = self.join_new(1, 0);
        assert!(direct.is_none(), "a join-phase answer comes as an output");
        let first = self.join_answer(1);
        assert_eq!(first.generation_id, 1);
        assert!(self.sync(&a, 1, &[(&a, b"A")], 2, 0).is_none());
        let (b, none) = self.join_new(3, 0);
        assert!(
            none.is_none(),
            "a second member starts a rebalance and waits"
        );
        assert_eq!(self.state(), ClassicGroupState::PreparingRebalance);
        assert_eq!(
            self.heartbeat(&a, 1, 0),
            Err(ErrorCode::RebalanceInProgress)
        );
        assert!(self
            .join(&Self::join_req(&a, &[("range", b"r")], 5), 4, 0)
            .is_none());
        let (la, lb) = (self.join_answer(4), self.join_answer(3));
        assert_eq!((la.generation_id, lb.generation_id), (2, 2));
        assert_eq!(la.leader, a);
        assert_eq!(
            la.members.len(),
            2,
            "the leader gets every member's metadata"
        );
        assert!(lb.members.is_empty());
        assert!(self.sync(&b, 2, &[], 5, 0).is_none(), "the follower waits");
        assert!(self
            .sync(&a, 2, &[(&a, b"A2"), (&b, b"B2")], 6, 0)
            .is_none());
        assert_eq!(self.sync_answer(5).assignment, b"B2");
        assert_eq!(self.sync_answer(6).assignment, b"A2");
        assert_eq!(self.state(), ClassicGroupState::Stable);
        (a, b, 2)
    }
}

fn txn_commit(c: &mut GroupCoordinator, member: &str, generation: i32) -> Option<ErrorCode> {
    let request = TxnOffsetCommitRequest {
        transactional_id: "tx".into(),
        group_id: "g".into(),
        producer_id: 7,
        producer_epoch: 0,
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
        offsets: BTreeMap::from([(TopicPartition::new("in", 0), 5)]),
        version: 3,
    };
    let (answer, _) = c.handle_txn_offset_commit(&request, 0).unwrap();
    answer.errors().values().next().copied()
}

// KIP-394: a new member's first JoinGroup (v4+) is answered MEMBER_ID_REQUIRED with its id; the
// join with that id makes a lone member the leader of generation 1 at once (no other member to
// wait for), and its SyncGroup makes the group Stable with its own assignment.
#[test]
fn m1_new_member_gets_its_id_then_leads_generation_one() {
    let mut n = Node::new();
    let (a, _) = n.join_new(1, 0);
    let r = n.join_answer(1);
    assert_eq!(
        (r.error, r.generation_id, r.leader.as_str()),
        (None, 1, a.as_str())
    );
    assert_eq!(r.protocol_name.as_deref(), Some("range"));
    assert_eq!(r.members.len(), 1);
    assert_eq!(n.state(), ClassicGroupState::CompletingRebalance);
    assert!(n.sync(&a, 1, &[(&a, b"all")], 2, 0).is_none());
    assert_eq!(n.sync_answer(2).assignment, b"all");
    assert_eq!(n.state(), ClassicGroupState::Stable);
    assert_eq!(n.c.group("g").unwrap().generation_id, 1);
}

// Below v4 a new member is added at once (no MEMBER_ID_REQUIRED round).
#[test]
fn m2_old_join_version_adds_the_member_directly() {
    let mut n = Node::new();
    assert!(n
        .join(&Node::join_req("", &[("range", b"r")], 3), 1, 0)
        .is_none());
    let r = n.join_answer(1);
    assert_eq!((r.error, r.generation_id), (None, 1));
    assert_eq!(r.member_id, "m1");
}

// GroupCoordinatorTest.testJoinGroupSessionTimeoutTooSmall / testJoinGroupUnknownConsumerNewGroup
// / testJoinGroupInconsistentProtocolType / testJoinGroupWithEmptyProtocolType; an empty group
// id is INVALID_GROUP_ID.
#[test]
fn m3_join_errors() {
    let mut n = Node::new();
    let mut req = Node::join_req("", &[("range", b"r")], 5);
    req.session_timeout_ms = 10;
    assert_eq!(
        n.join(&req, 1, 0).unwrap().error,
        Some(ErrorCode::InvalidSessionTimeout)
    );
    let req = Node::join_req("nobody", &[("range", b"r")], 5);
    assert_eq!(
        n.join(&req, 2, 0).unwrap().error,
        Some(ErrorCode::UnknownMemberId)
    );
    let mut req = Node::join_req("", &[("range", b"r")], 5);
    req.protocol_type = String::new();
    assert_eq!(
        n.join(&req, 3, 0).unwrap().error,
        Some(ErrorCode::InconsistentGroupProtocol)
    );
    let mut req = Node::join_req("", &[("range", b"r")], 5);
    req.group_id = String::new();
    assert_eq!(
        n.join(&req, 4, 0).unwrap().error,
        Some(ErrorCode::InvalidGroupId)
    );
    assert!(n.m.group("g").is_none(), "a refused join leaves no group");
    n.join_new(5, 0);
    let mut req = Node::join_req("", &[("range", b"r")], 3);
    req.protocol_type = "connect".into();
    assert_eq!(
        n.join(&req, 6, 0).unwrap().error,
        Some(ErrorCode::InconsistentGroupProtocol)
    );
    let req = Node::join_req("", &[("roundrobin", b"x")], 3);
    assert_eq!(
        n.join(&req, 7, 0).unwrap().error,
        Some(ErrorCode::InconsistentGroupProtocol),
        "no protocol every member supports"
    );
}

// GroupCoordinatorTest.testSyncGroupLeaderAfterFollower and testHeartbeatRebalanceInProgress: a
// second member's join starts a rebalance, the first member's heartbeat is told
// REBALANCE_IN_PROGRESS, both rejoin into generation 2 with the leader kept, and the leader's
// assignment reaches the waiting follower. KIP-447: the generation fences the offsets.
#[test]
fn m4_second_member_rebalances_and_the_leaders_assignment_is_passed_through() {
    let mut n = Node::new();
    let (a, b, generation) = n.stable_pair();
    assert_eq!(n.heartbeat(&b, generation, 0), Ok(()));
    let stored = n.c.group("g").unwrap();
    assert_eq!(stored.generation_id, 2);
    assert_eq!(stored.members.len(), 2);
    assert_eq!(
        txn_commit(&mut n.c, &a, 1),
        Some(ErrorCode::IllegalGeneration)
    );
    assert_eq!(txn_commit(&mut n.c, &a, 2), None);
    assert_eq!(
        txn_commit(&mut n.c, "zombie", 2),
        Some(ErrorCode::UnknownMemberId)
    );
}

// GroupCoordinatorTest.testJoinGroupFromUnchangedFollowerDoesNotRebalance: a follower rejoining
// a Stable group with the same protocols gets the current generation back, no rebalance; the
// leader's rejoin rebalances (testJoinGroupFromUnchangedLeaderShouldRebalance).
#[test]
fn m5_unchanged_follower_rejoin_does_not_rebalance_but_the_leader_does() {
    let mut n = Node::new();
    let (a, b, generation) = n.stable_pair();
    let r = n
        .join(&Node::join_req(&b, &[("range", b"r")], 5), 10, 0)
        .expect("answered at once");
    assert_eq!((r.error, r.generation_id), (None, generation));
    assert_eq!(n.state(), ClassicGroupState::Stable);
    assert!(n
        .join(&Node::join_req(&a, &[("range", b"r")], 5), 11, 0)
        .is_none());
    assert_eq!(n.state(), ClassicGroupState::PreparingRebalance);
}

// GroupCoordinatorTest.testSyncGroupFromUnknownMember / testSyncGroupFromIllegalGeneration /
// testHeartbeatIllegalGeneration / testHeartbeatUnknownGroup.
#[test]
fn m6_sync_and_heartbeat_errors() {
    let mut n = Node::new();
    assert_eq!(n.heartbeat("x", 1, 0), Err(ErrorCode::UnknownMemberId));
    let (a, b, generation) = n.stable_pair();
    let _ = b;
    assert_eq!(
        n.sync("x", generation, &[], 20, 0).unwrap().error,
        Some(ErrorCode::UnknownMemberId)
    );
    assert_eq!(
        n.sync(&a, generation + 1, &[], 21, 0).unwrap().error,
        Some(ErrorCode::IllegalGeneration)
    );
    assert_eq!(
        n.heartbeat(&a, generation - 1, 0),
        Err(ErrorCode::IllegalGeneration)
    );
    assert_eq!(
        n.heartbeat("x", generation, 0),
        Err(ErrorCode::UnknownMemberId)
    );
    // Stable: a SyncGroup is answered the member's assignment at once.
    assert_eq!(
        n.sync(&a, generation, &[], 22, 0).unwrap().assignment,
        b"A2"
    );
}

// GroupCoordinatorTest.testSessionTimeout / testHeartbeatMaintainsSession: heartbeats keep a
// member; without them its session expires, it is removed and the group rebalances; the
// remaining member's rejoin completes the next generation without it.
#[test]
fn m7_session_timeout_removes_the_member_and_rebalances() {
    let mut n = Node::new();
    let (a, b, generation) = n.stable_pair();
    let half = i64::from(S) / 2;
    assert_eq!(n.heartbeat(&a, generation, half), Ok(()));
    n.tick(i64::from(S) - 1);
    assert_eq!(n.state(), ClassicGroupState::Stable);
    n.tick(i64::from(S));
    assert_eq!(n.state(), ClassicGroupState::PreparingRebalance);
    assert!(
        !n.c.group("g").unwrap().has_member(&b),
        "b's session expired"
    );
    assert_eq!(
        n.heartbeat(&a, generation, i64::from(S)),
        Err(ErrorCode::RebalanceInProgress)
    );
    let deferred = n
        .join(&Node::join_req(&a, &[("range", b"r")], 5), 30, i64::from(S))
        .is_none();
    assert!(deferred, "the answer comes as an output, here at once");
    let r = n.join_answer(30);
    assert_eq!((r.generation_id, r.members.len()), (generation + 1, 1));
}

// GroupCoordinatorTest.testLeaderFailureInSyncGroup: the follower's SyncGroup waits, the leader
// never syncs and its session expires: the group rebalances and the follower's SyncGroup is
// answered REBALANCE_IN_PROGRESS. A member waiting for an answer is kept alive meanwhile.
#[test]
fn m8_leader_failure_in_sync_group() {
    let mut n = Node::new();
    let (a, _) = n.join_new(1, 0);
    n.sync(&a, 1, &[(&a, b"A")], 2, 0);
    let (b, _) = n.join_new(3, 0);
    n.join(&Node::join_req(&a, &[("range", b"r")], 5), 4, 0);
    assert_eq!(n.join_answer(3).generation_id, 2);
    assert!(n.sync(&b, 2, &[], 5, 0).is_none());
    n.tick(i64::from(S) + 1);
    assert_eq!(n.sync_answer(5).error, Some(ErrorCode::RebalanceInProgress));
    assert!(
        n.m.group("g").unwrap().has_member(&b),
        "the waiting follower stays"
    );
    assert!(!n.m.group("g").unwrap().has_member(&a));
}

// completeClassicGroupJoin at the rebalance timeout: a member that heartbeats but never rejoins
// is dropped from the next generation.
#[test]
fn m9_join_phase_completes_at_the_rebalance_timeout_without_the_laggard() {
    let mut n = Node::new();
    let (a, b, generation) = n.stable_pair();
    assert!(n
        .join(&Node::join_req(&a, &[("range", b"r2")], 5), 40, 0)
        .is_none());
    for t in (1_000..i64::from(R)).step_by(1_000) {
        assert_eq!(
            n.heartbeat(&b, generation, t),
            Err(ErrorCode::RebalanceInProgress)
        );
        n.tick(t);
    }
    assert!(!n.answers.contains_key(&40));
    n.tick(i64::from(R));
    let r = n.join_answer(40);
    assert_eq!((r.generation_id, r.members.len()), (generation + 1, 1));
    assert!(!n.c.group("g").unwrap().has_member(&b));
}

// GroupCoordinatorTest.testValidLeaveGroup / testLeaveGroupUnknownGroup /
// testLeaveGroupUnknownConsumerExistingGroup: the last member leaving empties the group at the
// next generation; an unknown group or member is UNKNOWN_MEMBER_ID. An Empty group takes a plain
// commit without generation again (the simple-consumer path).
#[test]
fn m10_leave_group() {
    let mut n = Node::new();
    let (resp, _) = n.m.handle_leave_group(
        &LeaveGroupRequest {
            group_id: "g".into(),
            member_ids: vec!["x".into()],
        },
        0,
    );
    assert_eq!(resp.error, Some(ErrorCode::UnknownMemberId));
    let (a, b, generation) = n.stable_pair();
    let (resp, outputs) = n.m.handle_leave_group(
        &LeaveGroupRequest {
            group_id: "g".into(),
            member_ids: vec![b.clone(), "x".into()],
        },
        0,
    );
    n.apply(outputs, 0);
    assert_eq!(
        resp.members,
        vec![(b, None), ("x".into(), Some(ErrorCode::UnknownMemberId))]
    );
    assert_eq!(n.state(), ClassicGroupState::PreparingRebalance);
    let (_, outputs) = n.m.handle_leave_group(
        &LeaveGroupRequest {
            group_id: "g".into(),
            member_ids: vec![a],
        },
        0,
    );
    n.apply(outputs, 0);
    assert_eq!(n.state(), ClassicGroupState::Empty);
    assert_eq!(n.c.group("g").unwrap().generation_id, generation + 1);
    assert_eq!(txn_commit(&mut n.c, "", -1), None);
}

// A pending member (MEMBER_ID_REQUIRED answered) whose join never comes is forgotten after its
// session timeout, and the join phase it held up completes.
#[test]
fn m11_pending_member_expires() {
    let mut n = Node::new();
    let (a, b, _) = n.stable_pair();
    let _ = b;
    let first = n
        .join(&Node::join_req("", &[("range", b"r")], 5), 50, 0)
        .unwrap();
    assert_eq!(first.error, Some(ErrorCode::MemberIdRequired));
    n.join(&Node::join_req(&a, &[("range", b"x")], 5), 51, 0);
    assert!(
        !n.answers.contains_key(&51),
        "waits for b and the pending member"
    );
    assert_eq!(n.m.next_deadline(), Some(i64::from(S)));
}
