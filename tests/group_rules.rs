//! Rule table of the group coordinator's offsets role (`docs/group.md` section 4): one test per
//! rule, each citing the Kafka test (or, where Kafka has none, the method) it mirrors. Every test
//! keeps the batches the coordinator emitted and checks at the end that reloading them
//! (`CoordinatorLoaderImpl`) reproduces the coordinator exactly.

use std::collections::{BTreeMap, BTreeSet};

use kafka_eos::group::{
    txn_offset_commit_verification_error, ClassicGroup, ClassicGroupMember, ClassicGroupState,
    GroupCoordinator, GroupCoordinatorConfig, GroupError, GroupOutput, OffsetCommitRequest,
    OffsetFetchRequest, OffsetsBatch, OffsetsBatchContent, OffsetsRecord, TxnOffsetCommitRequest,
    WriteTxnMarker, INVALID_OFFSET, OFFSET_COMMIT_VERSION, OFFSET_FETCH_VERSION,
    TXN_OFFSET_COMMIT_LAST_BEFORE_TV2_VERSION, TXN_OFFSET_COMMIT_VERSION,
};
use kafka_eos::{ErrorCode, TopicPartition, TransactionResult, TransactionVersion};

fn tp(s: &str) -> TopicPartition {
    s.parse().unwrap()
}

/// A coordinator with the log it wrote.
struct Harness {
    c: GroupCoordinator,
    log: Vec<OffsetsBatch>,
    now: i64,
}

impl Harness {
    fn new() -> Self {
        Harness {
            c: GroupCoordinator::new(GroupCoordinatorConfig::default()),
            log: Vec::new(),
            now: 0,
        }
    }

    fn keep(&mut self, outputs: Vec<GroupOutput>) {
        for GroupOutput::AppendOffsetsLog(batch) in outputs {
            self.log.push(batch);
        }
    }

    fn load(
        &mut self,
        group: &str,
        state: ClassicGroupState,
        generation: i32,
        members: &[(&str, Option<&str>)],
    ) {
        let group = ClassicGroup {
            group_id: group.into(),
            state,
            generation_id: generation,
            protocol_type: Some("consumer".into()),
            members: members
                .iter()
                .map(|(m, i)| {
                    (
                        m.to_string(),
                        ClassicGroupMember {
                            group_instance_id: i.map(str::to_string),
                        },
                    )
                })
                .collect(),
        };
        let out = self.c.load_group(group, self.now).unwrap();
        self.keep(out);
    }

    fn commit_req(&mut self, req: &OffsetCommitRequest) -> BTreeMap<TopicPartition, ErrorCode> {
        let (answer, out) = self.c.handle_offset_commit(req, self.now).unwrap();
        assert_eq!(answer.partitions.len(), req.offsets.len());
        let accepted = !req.offsets.is_empty() && answer.errors().is_empty();
        assert_eq!(!out.is_empty(), accepted, "written iff accepted");
        self.keep(out);
        answer.errors()
    }

    /// A plain commit from outside group management.
    fn commit(&mut self, group: &str, offsets: &[(&str, i64)]) -> Option<ErrorCode> {
        self.commit_as(group, "", -1, None, offsets)
    }

    fn commit_as(
        &mut self,
        group: &str,
        member: &str,
        generation: i32,
        instance: Option<&str>,
        offsets: &[(&str, i64)],
    ) -> Option<ErrorCode> {
        let req = OffsetCommitRequest {
            group_id: group.into(),
            generation_id: generation,
            member_id: member.into(),
            group_instance_id: instance.map(str::to_string),
            offsets: offsets.iter().map(|(p, o)| (tp(p), *o)).collect(),
            version: OFFSET_COMMIT_VERSION,
        };
        one_error(self.commit_req(&req))
    }

    fn txn_req(&mut self, req: &TxnOffsetCommitRequest) -> BTreeMap<TopicPartition, ErrorCode> {
        let (answer, out) = self.c.handle_txn_offset_commit(req, self.now).unwrap();
        assert_eq!(answer.partitions.len(), req.offsets.len());
        let accepted = !req.offsets.is_empty() && answer.errors().is_empty();
        assert_eq!(!out.is_empty(), accepted, "written iff accepted");
        self.keep(out);
        answer.errors()
    }

    /// A group-id-only transactional commit.
    fn txn(
        &mut self,
        group: &str,
        pid: i64,
        epoch: i16,
        offsets: &[(&str, i64)],
    ) -> Option<ErrorCode> {
        self.txn_as(group, pid, epoch, "", -1, None, offsets)
    }

    #[allow(clippy::too_many_arguments)]
    fn txn_as(
        &mut self,
        group: &str,
        pid: i64,
        epoch: i16,
        member: &str,
        generation: i32,
        instance: Option<&str>,
        offsets: &[(&str, i64)],
    ) -> Option<ErrorCode> {
        let req = txn_request(group, pid, epoch, member, generation, instance, offsets);
        one_error(self.txn_req(&req))
    }

    fn marker(
        &mut self,
        pid: i64,
        epoch: i16,
        coordinator_epoch: i32,
        result: TransactionResult,
    ) -> Option<ErrorCode> {
        let marker = WriteTxnMarker {
            transactional_id: "t".into(),
            partition: self.c.config().offsets_partition.clone(),
            producer_id: pid,
            producer_epoch: epoch,
            coordinator_epoch,
            result,
            transaction_version: TransactionVersion::Tv2,
        };
        let (answer, out) = self.c.handle_write_txn_marker(&marker, self.now);
        assert_eq!(
            answer.partitions,
            BTreeSet::from([marker.partition.clone()])
        );
        assert_eq!(out.is_empty(), answer.error.is_some());
        self.keep(out);
        answer.error
    }

    fn fetch(
        &self,
        group: &str,
        partitions: Option<&[&str]>,
        require_stable: bool,
    ) -> BTreeMap<String, Result<i64, ErrorCode>> {
        let req = OffsetFetchRequest {
            group_id: group.into(),
            partitions: partitions.map(|ps| ps.iter().map(|p| tp(p)).collect()),
            require_stable,
            version: OFFSET_FETCH_VERSION,
        };
        self.c
            .handle_offset_fetch(&req)
            .unwrap()
            .partitions
            .into_iter()
            .map(|(p, r)| (p.to_string(), r))
            .collect()
    }

    fn committed(&self, group: &str) -> BTreeMap<String, i64> {
        self.c
            .committed_offsets(group)
            .into_iter()
            .map(|(p, o)| (p.to_string(), o.committed_offset))
            .collect()
    }

    fn open(&self, group: &str) -> Vec<i64> {
        self.c.open_producer_ids(group).into_iter().collect()
    }

    /// Failover: a new leader replays the log and holds the same state.
    fn assert_reload(&self) {
        let reloaded = GroupCoordinator::load(self.c.config().clone(), &self.log).unwrap();
        assert_eq!(
            reloaded, self.c,
            "replaying the offsets log reproduces the coordinator"
        );
    }
}

fn one_error(errors: BTreeMap<TopicPartition, ErrorCode>) -> Option<ErrorCode> {
    let set: BTreeSet<ErrorCode> = errors.values().copied().collect();
    assert!(
        set.len() <= 1,
        "a group error is answered for every partition: {errors:?}"
    );
    set.into_iter().next()
}

fn txn_request(
    group: &str,
    pid: i64,
    epoch: i16,
    member: &str,
    generation: i32,
    instance: Option<&str>,
    offsets: &[(&str, i64)],
) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest {
        transactional_id: format!("txn-{pid}"),
        group_id: group.into(),
        producer_id: pid,
        producer_epoch: epoch,
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: instance.map(str::to_string),
        offsets: offsets.iter().map(|(p, o)| (tp(p), *o)).collect(),
        version: TXN_OFFSET_COMMIT_VERSION,
    }
}

const COMMIT: TransactionResult = TransactionResult::Commit;
const ABORT: TransactionResult = TransactionResult::Abort;

fn map<V: Clone>(entries: &[(&str, V)]) -> BTreeMap<String, V> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Group and member validation (OffsetMetadataManager.validateOffsetCommit /
// validateTransactionalOffsetCommit, ClassicGroup.validateOffsetCommit).

/// OffsetMetadataManagerTest.testSimpleGroupOffsetCommit: a commit without generation to an
/// unknown group creates an Empty "simple" group (no protocol type) and is written.
#[test]
fn r01_commit_to_an_absent_group_creates_a_simple_group() {
    let mut h = Harness::new();
    assert_eq!(h.commit("g", &[("t-0", 5)]), None);
    let g = h.c.group("g").unwrap();
    assert_eq!(g.state, ClassicGroupState::Empty);
    assert_eq!((g.generation_id, g.protocol_type.clone()), (0, None));
    assert_eq!(h.txn("g2", 7, 0, &[("t-0", 9)]), None);
    assert_eq!(h.c.group("g2").unwrap().state, ClassicGroupState::Empty);
    h.assert_reload();
}

/// OffsetMetadataManagerTest.testOffsetCommitWithUnknownGroup (GROUP_ID_NOT_FOUND from v9,
/// ILLEGAL_GENERATION below) and testGenericGroupTransactionalOffsetCommitWithUnknownGroupId
/// (ILLEGAL_GENERATION): a generation for an absent group creates nothing.
#[test]
fn r02_a_generation_for_an_absent_group_is_refused_by_version() {
    let mut h = Harness::new();
    assert_eq!(
        h.commit_as("g", "m", 10, None, &[("t-0", 1)]),
        Some(ErrorCode::GroupIdNotFound)
    );
    let mut req = OffsetCommitRequest {
        group_id: "g".into(),
        generation_id: 10,
        member_id: "m".into(),
        group_instance_id: None,
        offsets: BTreeMap::from([(tp("t-0"), 1)]),
        version: 8,
    };
    assert_eq!(
        one_error(h.commit_req(&req)),
        Some(ErrorCode::IllegalGeneration)
    );
    req.version = 1;
    assert_eq!(
        one_error(h.commit_req(&req)),
        Some(ErrorCode::IllegalGeneration)
    );
    assert_eq!(
        h.txn_as("g", 7, 0, "m", 10, None, &[("t-0", 1)]),
        Some(ErrorCode::IllegalGeneration)
    );
    assert!(h.c.group("g").is_none());
    assert_eq!(h.c.log_end_offset(), 0);
    h.assert_reload();
}

/// OffsetMetadataManagerTest.testGenericGroupOffsetCommitWithDeadGroup: a Dead group answers
/// COORDINATOR_NOT_AVAILABLE, to plain and transactional commits alike.
#[test]
fn r03_a_dead_group_refuses_commits() {
    let mut h = Harness::new();
    h.load("g", ClassicGroupState::Dead, 0, &[]);
    assert_eq!(
        h.commit("g", &[("t-0", 1)]),
        Some(ErrorCode::CoordinatorNotAvailable)
    );
    assert_eq!(
        h.txn("g", 7, 0, &[("t-0", 1)]),
        Some(ErrorCode::CoordinatorNotAvailable)
    );
    assert_eq!(
        h.txn_as("g", 7, 0, "m", 3, None, &[("t-0", 1)]),
        Some(ErrorCode::CoordinatorNotAvailable)
    );
    assert!(h.open("g").is_empty() && h.committed("g").is_empty());
    h.assert_reload();
}

/// GroupCoordinatorTest.testTxnCommitOffsetWithFencedInstanceId and
/// testTxnCommitOffsetWithInvalidMemberId (`ClassicGroup.validateMember`): the instance id is
/// checked first (unknown → UNKNOWN_MEMBER_ID, held by another member → FENCED_INSTANCE_ID),
/// then the member id, then the generation; the same order for plain commits.
#[test]
fn r04_static_member_then_member_then_generation() {
    let mut h = Harness::new();
    h.load(
        "g",
        ClassicGroupState::Stable,
        3,
        &[("m1", Some("i1")), ("m2", None)],
    );
    for txn in [false, true] {
        let mut go = |member: &str, generation: i32, instance: Option<&str>| {
            if txn {
                h.txn_as(
                    "g",
                    7,
                    0,
                    member,
                    generation,
                    instance,
                    &[("t-0", 9), ("t-1", 4)],
                )
            } else {
                h.commit_as("g", member, generation, instance, &[("t-0", 9), ("t-1", 4)])
            }
        };
        // An instance id the group does not hold, even from a known member.
        assert_eq!(go("m1", 3, Some("x")), Some(ErrorCode::UnknownMemberId));
        // The instance id is held by another member: fenced, before the generation is looked at.
        assert_eq!(go("m0", 1, Some("i1")), Some(ErrorCode::FencedInstanceId));
        assert_eq!(go("m2", 3, Some("i1")), Some(ErrorCode::FencedInstanceId));
        // An unknown member, whatever the generation.
        assert_eq!(go("m9", 3, None), Some(ErrorCode::UnknownMemberId));
        assert_eq!(go("m9", 1, None), Some(ErrorCode::UnknownMemberId));
        // A known member of another generation.
        assert_eq!(go("m2", 2, None), Some(ErrorCode::IllegalGeneration));
        assert_eq!(go("m1", 4, Some("i1")), Some(ErrorCode::IllegalGeneration));
        // A member id with generation -1 on a non-Empty group is still checked.
        assert_eq!(go("m2", -1, None), Some(ErrorCode::IllegalGeneration));
        // The current owner of the instance id, and a dynamic member, commit.
        assert_eq!(go("m1", 3, Some("i1")), None);
        assert_eq!(go("m2", 3, None), None);
    }
    assert_eq!(h.committed("g"), map(&[("t-0", 9), ("t-1", 4)]));
    assert_eq!(h.open("g"), vec![7]);
    h.assert_reload();
}

/// OffsetMetadataManagerTest.testGenericGroupTransactionalOffsetCommitWithUnknownMemberId: an
/// Empty group has no members, so a commit that names a generation must name one it lacks.
#[test]
fn r05_a_generation_to_an_empty_group_is_an_unknown_member() {
    let mut h = Harness::new();
    h.load("g", ClassicGroupState::Empty, 5, &[]);
    assert_eq!(
        h.txn_as("g", 7, 0, "member", 10, None, &[("t-0", 1)]),
        Some(ErrorCode::UnknownMemberId)
    );
    assert_eq!(
        h.commit_as("g", "m1", 5, None, &[("t-0", 1)]),
        Some(ErrorCode::UnknownMemberId)
    );
    assert_eq!(
        h.commit_as("g", "", 5, None, &[("t-0", 1)]),
        Some(ErrorCode::UnknownMemberId)
    );
    h.assert_reload();
}

/// OffsetMetadataManagerTest.testSimpleGroupOffsetCommitWithInstanceId (KAFKA-14201): generation
/// -1 on an Empty group is accepted whatever member or instance id it names.
#[test]
fn r06_generation_minus_one_on_an_empty_group_is_accepted() {
    let mut h = Harness::new();
    h.load("g", ClassicGroupState::Empty, 5, &[]);
    assert_eq!(
        h.commit_as("g", "member", -1, Some("instance"), &[("t-0", 1)]),
        None
    );
    assert_eq!(
        h.txn_as("g", 7, 0, "member", -1, Some("instance"), &[("t-0", 2)]),
        None
    );
    assert_eq!(h.committed("g"), map(&[("t-0", 1)]));
    h.assert_reload();
}

/// OffsetMetadataManagerTest.testGenericGroupOffsetCommitWithoutMemberIdAndGeneration: a group
/// with members refuses a plain commit without member and generation (UNKNOWN_MEMBER_ID) but
/// accepts a transactional one, unfenced (KIP-447's group-id-only commit).
#[test]
fn r07_group_id_only_commit_plain_refused_transactional_accepted() {
    let mut h = Harness::new();
    for state in [
        ClassicGroupState::Stable,
        ClassicGroupState::PreparingRebalance,
        ClassicGroupState::CompletingRebalance,
    ] {
        let g = format!("g-{state}");
        h.load(&g, state, 3, &[("m1", None)]);
        assert_eq!(
            h.commit(&g, &[("t-0", 4)]),
            Some(ErrorCode::UnknownMemberId),
            "{state}"
        );
        assert_eq!(h.txn(&g, 7, 0, &[("t-0", 9)]), None, "{state}");
        assert_eq!(h.open(&g), vec![7]);
    }
    h.assert_reload();
}

/// OffsetMetadataManagerTest.testGenericGroupOffsetCommitWhileInCompletingRebalanceState: a
/// valid member's plain commit in CompletingRebalance answers REBALANCE_IN_PROGRESS, its
/// transactional commit is accepted; PreparingRebalance accepts both.
#[test]
fn r08_rebalance_in_progress_only_for_plain_commits_in_completing_rebalance() {
    let mut h = Harness::new();
    h.load(
        "c",
        ClassicGroupState::CompletingRebalance,
        4,
        &[("m1", None)],
    );
    h.load(
        "p",
        ClassicGroupState::PreparingRebalance,
        4,
        &[("m1", None)],
    );
    assert_eq!(
        h.commit_as("c", "m1", 4, None, &[("t-0", 4)]),
        Some(ErrorCode::RebalanceInProgress)
    );
    // The member and generation are checked first.
    assert_eq!(
        h.commit_as("c", "m1", 3, None, &[("t-0", 4)]),
        Some(ErrorCode::IllegalGeneration)
    );
    assert_eq!(h.txn_as("c", 7, 0, "m1", 4, None, &[("t-0", 9)]), None);
    assert_eq!(h.commit_as("p", "m1", 4, None, &[("t-0", 4)]), None);
    assert_eq!(h.txn_as("p", 8, 0, "m1", 4, None, &[("t-0", 9)]), None);
    assert_eq!(h.committed("p"), map(&[("t-0", 4)]));
    h.assert_reload();
}

/// `GroupCoordinatorService.commitOffsets` / `commitTransactionalOffsets` / `fetchOffsets`
/// (`isGroupIdNotEmpty`): an empty group id is INVALID_GROUP_ID.
#[test]
fn r09_an_empty_group_id_is_invalid() {
    let mut h = Harness::new();
    assert_eq!(h.commit("", &[("t-0", 1)]), Some(ErrorCode::InvalidGroupId));
    assert_eq!(
        h.txn("", 7, 0, &[("t-0", 1)]),
        Some(ErrorCode::InvalidGroupId)
    );
    assert_eq!(
        h.fetch("", Some(&["t-0"]), false),
        map(&[("t-0", Err(ErrorCode::InvalidGroupId))])
    );
    assert!(h.c.groups().is_empty());
    h.assert_reload();
}

// ---------------------------------------------------------------------------------------------
// The log's checks of coordinator appends and markers (ProducerAppendInfo).

/// ProducerStateManagerTest.testControlRecordBumpsProducerEpoch (ProducerAppendInfo
/// .checkProducerEpoch on `__consumer_offsets`): a transactional commit with an epoch older than
/// the last written for the producer id answers INVALID_PRODUCER_EPOCH and changes nothing — the
/// new coordinator rolls the failed append back, so the producer's earlier pending offset stays
/// (CoordinatorRuntime `revertLastWrittenOffset`; the old coordinator's
/// `failPendingTxnOffsetCommit` would drop it).
#[test]
fn r10_a_stale_producer_epoch_is_refused_and_changes_nothing() {
    let mut h = Harness::new();
    assert_eq!(h.txn("g", 7, 2, &[("t-0", 9)]), None);
    let before = h.c.clone();
    assert_eq!(
        h.txn("g", 7, 1, &[("t-0", 11), ("t-1", 3)]),
        Some(ErrorCode::InvalidProducerEpoch)
    );
    assert_eq!(h.c, before, "a refused commit changes nothing");
    assert_eq!(
        h.c.pending_offset(7, "g", &tp("t-0"))
            .unwrap()
            .committed_offset,
        9
    );
    // An equal or newer epoch is written (no sequence checks for coordinator appends).
    assert_eq!(h.txn("g", 7, 2, &[("t-0", 10)]), None);
    assert_eq!(h.txn("g", 7, 5, &[("t-0", 12)]), None);
    assert_eq!(h.c.producer(7).unwrap().producer_epoch, 5);
    h.assert_reload();
}

/// The stale-epoch refusal comes after the group checks (`commitTransactionalOffset`
/// validates, the runtime's append checks the epoch), and a refused commit to an absent group
/// leaves no group behind (the timeline is reverted).
#[test]
fn r11_a_refused_append_to_an_absent_group_creates_no_group() {
    let mut h = Harness::new();
    assert_eq!(h.marker(7, 4, 0, ABORT), None);
    assert_eq!(
        h.txn("g", 7, 3, &[("t-0", 1)]),
        Some(ErrorCode::InvalidProducerEpoch)
    );
    assert!(h.c.group("g").is_none());
    h.load("s", ClassicGroupState::Stable, 2, &[("m", None)]);
    assert_eq!(
        h.txn_as("s", 7, 3, "m", 1, None, &[("t-0", 1)]),
        Some(ErrorCode::IllegalGeneration)
    );
    h.assert_reload();
}

/// ProducerStateManagerTest.testOldEpochForControlRecord and testCoordinatorFencing
/// (`ProducerAppendInfo.appendEndTxnMarker`): a marker's epoch below the last written →
/// INVALID_PRODUCER_EPOCH, checked before its coordinator epoch below the producer's last
/// marker's → TRANSACTION_COORDINATOR_FENCED; a refused marker changes nothing.
#[test]
fn r12_marker_epoch_then_coordinator_epoch_fencing() {
    let mut h = Harness::new();
    assert_eq!(h.txn("g", 7, 3, &[("t-0", 9)]), None);
    let before = h.c.clone();
    assert_eq!(
        h.marker(7, 2, 0, COMMIT),
        Some(ErrorCode::InvalidProducerEpoch)
    );
    assert_eq!(h.c, before);
    assert_eq!(h.marker(7, 4, 5, ABORT), None);
    assert_eq!(
        h.c.producer(7)
            .map(|p| (p.producer_epoch, p.coordinator_epoch)),
        Some((4, 5))
    );
    assert_eq!(h.txn("g", 7, 4, &[("t-0", 11)]), None);
    let before = h.c.clone();
    // Both stale: the epoch answers.
    assert_eq!(
        h.marker(7, 3, 4, COMMIT),
        Some(ErrorCode::InvalidProducerEpoch)
    );
    assert_eq!(
        h.marker(7, 5, 4, COMMIT),
        Some(ErrorCode::TransactionCoordinatorFenced)
    );
    assert_eq!(h.c, before);
    assert_eq!(h.open("g"), vec![7]);
    // The same coordinator epoch is fine; a data batch keeps the coordinator epoch.
    assert_eq!(h.marker(7, 5, 5, COMMIT), None);
    assert_eq!(h.committed("g"), map(&[("t-0", 11)]));
    h.assert_reload();
}

/// OffsetMetadataManagerTest.testReplayTransactionEndMarkerWithCommit ("an end marker with an
/// unknown producer id should not fail") and GroupCoordinatorTest
/// .testFetchTxnOffsetsIgnoreSpuriousCommit: a marker for a producer id with nothing pending is
/// written (one offset, the producer's epochs recorded) and changes no offset.
#[test]
fn r13_a_marker_without_pending_offsets_is_written_and_changes_no_offset() {
    let mut h = Harness::new();
    assert_eq!(h.commit("g", &[("t-0", 5)]), None);
    assert_eq!(h.txn("g", 7, 0, &[("t-0", 9)]), None);
    assert_eq!(h.marker(7, 1, 0, ABORT), None);
    let end = h.c.log_end_offset();
    assert_eq!(
        h.marker(7, 2, 0, COMMIT),
        None,
        "a spurious COMMIT after the ABORT"
    );
    assert_eq!(h.marker(9, 0, 3, COMMIT), None, "an unknown producer id");
    assert_eq!(h.c.log_end_offset(), end + 2);
    assert_eq!(
        h.c.producer(9)
            .map(|p| (p.producer_epoch, p.coordinator_epoch)),
        Some((0, 3))
    );
    assert_eq!(h.committed("g"), map(&[("t-0", 5)]));
    h.assert_reload();
}

/// A marker with a negative producer id is not a marker any coordinator writes: INVALID_RECORD,
/// nothing written (the partition role's input guard, docs/partition.md P-S10).
#[test]
fn r14_a_marker_without_producer_id_is_an_invalid_record() {
    let mut h = Harness::new();
    assert_eq!(h.marker(-1, 0, 0, COMMIT), Some(ErrorCode::InvalidRecord));
    assert_eq!(
        h.txn("g", -1, 0, &[("t-0", 1)]),
        Some(ErrorCode::InvalidRecord)
    );
    assert_eq!(h.c.log_end_offset(), 0);
    h.assert_reload();
}

// ---------------------------------------------------------------------------------------------
// Pending offsets and markers (OffsetMetadataManager.replay, replayEndTransactionMarker).

/// GroupMetadataTest.testConsumerBeatsTransactionalOffsetCommit,
/// testTransactionBeatsConsumerOffsetCommit and OffsetMetadataManagerTest
/// .testReplayTransactionEndMarkerKeepsTheMostRecentCommittedOffset: at COMMIT, a pending offset
/// replaces the committed one only if its record is later in the log, whatever the offsets.
#[test]
fn r15_commit_marker_the_later_record_wins() {
    let mut h = Harness::new();
    // Plain after the transactional commit: the plain one survives.
    assert_eq!(h.txn("g", 7, 0, &[("t-0", 9)]), None);
    assert_eq!(h.commit("g", &[("t-0", 12)]), None);
    // Plain before the transactional commit: the transaction replaces it, even with a smaller offset.
    assert_eq!(h.commit("g", &[("t-1", 12)]), None);
    assert_eq!(h.txn("g", 7, 0, &[("t-1", 3)]), None);
    assert_eq!(h.marker(7, 1, 0, COMMIT), None);
    assert_eq!(h.committed("g"), map(&[("t-0", 12), ("t-1", 3)]));
    let t1 = h.c.committed_offset("g", &tp("t-1")).unwrap();
    let t0 = h.c.committed_offset("g", &tp("t-0")).unwrap();
    assert!(
        t1.record_offset > t0.record_offset,
        "the committed value keeps its record offset"
    );
    h.assert_reload();
}

/// GroupMetadataManagerTest.testGroupLoadWithConsumerAndTransactionalOffsetCommitsConsumerWins:
/// the marker order does not matter, only the record order — two producers' pending offsets for
/// one partition, the later-written one wins even when its marker comes first.
#[test]
fn r16_the_later_record_wins_whatever_the_marker_order() {
    let mut h = Harness::new();
    assert_eq!(h.txn("g", 7, 0, &[("t-0", 1)]), None);
    assert_eq!(h.txn("g", 8, 0, &[("t-0", 2)]), None);
    assert_eq!(h.marker(8, 1, 0, COMMIT), None);
    assert_eq!(h.marker(7, 1, 0, COMMIT), None);
    assert_eq!(h.committed("g"), map(&[("t-0", 2)]));
    h.assert_reload();
}

/// `OffsetMetadataManager.replay` (a map put): a later commit of the same producer for the same
/// partition replaces its pending offset, record offset included — so it beats a plain commit
/// written between the two.
#[test]
fn r17_a_later_commit_of_the_same_producer_replaces_its_pending_offset() {
    let mut h = Harness::new();
    assert_eq!(h.txn("g", 7, 0, &[("t-0", 9)]), None);
    assert_eq!(h.commit("g", &[("t-0", 12)]), None);
    assert_eq!(h.txn("g", 7, 0, &[("t-0", 10)]), None);
    let pending = *h.c.pending_offset(7, "g", &tp("t-0")).unwrap();
    assert_eq!(pending.committed_offset, 10);
    assert_eq!(pending.record_offset, h.c.log_end_offset() - 1);
    assert_eq!(h.marker(7, 1, 0, COMMIT), None);
    assert_eq!(h.committed("g"), map(&[("t-0", 10)]));
    h.assert_reload();
}

/// GroupCoordinatorTest.testFetchPendingTxnOffsetsWithAbort and OffsetMetadataManagerTest
/// .testReplayTransactionEndMarkerWithCommit (its ABORT half): ABORT drops the pending offsets;
/// the committed ones and the group stay.
#[test]
fn r18_abort_drops_pending_offsets() {
    let mut h = Harness::new();
    assert_eq!(h.commit("g", &[("t-0", 5)]), None);
    assert_eq!(h.txn("g", 7, 0, &[("t-0", 9), ("t-1", 3)]), None);
    assert_eq!(h.txn("h", 7, 0, &[("t-0", 1)]), None);
    assert_eq!(h.marker(7, 1, 0, ABORT), None);
    assert_eq!(h.committed("g"), map(&[("t-0", 5)]));
    assert!(h.committed("h").is_empty());
    assert!(h.c.pending_offsets(7).is_none());
    assert!(h.open("g").is_empty() && h.open("h").is_empty());
    assert_eq!(
        h.c.group("h").map(|g| g.state),
        Some(ClassicGroupState::Empty)
    );
    h.assert_reload();
}

/// GroupCoordinatorTest.testFetchTxnOffsetsOneProducerMultipleGroups: one producer's marker
/// completes its pending offsets in every group.
#[test]
fn r19_a_marker_completes_the_producer_in_every_group() {
    let mut h = Harness::new();
    assert_eq!(h.txn("g1", 7, 0, &[("t-0", 1)]), None);
    assert_eq!(h.txn("g2", 7, 0, &[("t-0", 2), ("u-3", 5)]), None);
    assert_eq!(h.marker(7, 1, 0, COMMIT), None);
    assert_eq!(h.committed("g1"), map(&[("t-0", 1)]));
    assert_eq!(h.committed("g2"), map(&[("t-0", 2), ("u-3", 5)]));
    assert!(h.open("g1").is_empty() && h.open("g2").is_empty());
    h.assert_reload();
}

/// GroupCoordinatorTest.testFetchTxnOffsetsMultipleProducersOneGroup: the producers of one
/// group complete independently; the group stays open while any has pending offsets.
#[test]
fn r20_producers_of_one_group_complete_independently() {
    let mut h = Harness::new();
    assert_eq!(h.txn("g", 7, 0, &[("t-0", 1)]), None);
    assert_eq!(h.txn("g", 8, 0, &[("t-1", 2)]), None);
    assert_eq!(h.open("g"), vec![7, 8]);
    assert_eq!(h.marker(8, 1, 0, ABORT), None);
    assert_eq!(h.open("g"), vec![7]);
    assert_eq!(
        h.fetch("g", Some(&["t-0", "t-1"]), true),
        map(&[
            ("t-0", Err(ErrorCode::UnstableOffsetCommit)),
            ("t-1", Ok(INVALID_OFFSET))
        ])
    );
    assert_eq!(h.marker(7, 1, 0, COMMIT), None);
    assert_eq!(h.committed("g"), map(&[("t-0", 1)]));
    h.assert_reload();
}

/// OffsetMetadataManagerTest.testGenericGroupTransactionalOffsetCommit (the record carries
/// `context.time.milliseconds()`; `OffsetAndMetadata.fromRequest`): a transactional offset's
/// commit timestamp is the TxnOffsetCommit's time, not the marker's.
#[test]
fn r21_commit_timestamp_is_the_request_time() {
    let mut h = Harness::new();
    h.now = 100;
    assert_eq!(h.txn("g", 7, 0, &[("t-0", 9)]), None);
    h.now = 500;
    assert_eq!(h.marker(7, 1, 0, COMMIT), None);
    assert_eq!(
        h.c.committed_offset("g", &tp("t-0"))
            .unwrap()
            .commit_timestamp,
        100
    );
    h.assert_reload();
}

/// A plain commit does not clear pending offsets (`commitOffset` writes only the committed
/// store), and a transactional commit does not touch the committed store
/// (GroupMetadataTest.testConsumerBeatsTransactionalOffsetCommit, its middle part).
#[test]
fn r22_plain_and_transactional_stores_are_separate() {
    let mut h = Harness::new();
    assert_eq!(h.txn("g", 7, 0, &[("t-0", 9)]), None);
    assert!(h.committed("g").is_empty());
    assert_eq!(h.commit("g", &[("t-0", 12)]), None);
    assert_eq!(h.open("g"), vec![7]);
    assert_eq!(h.fetch("g", Some(&["t-0"]), false), map(&[("t-0", Ok(12))]));
    assert_eq!(
        h.fetch("g", Some(&["t-0"]), true),
        map(&[("t-0", Err(ErrorCode::UnstableOffsetCommit))])
    );
    h.assert_reload();
}

// ---------------------------------------------------------------------------------------------
// OffsetFetch (OffsetMetadataManager.fetchOffsets / fetchAllOffsets).

/// OffsetMetadataManagerTest.testFetchOffsetsWithPendingTransactionalOffsets: require_stable is
/// per partition and per group — only (group, partition) pairs with a pending offset answer
/// UNSTABLE_OFFSET_COMMIT (offset -1); without require_stable the committed offset is answered.
#[test]
fn r23_require_stable_is_per_partition_and_per_group() {
    let mut h = Harness::new();
    assert_eq!(h.commit("g", &[("t-0", 5), ("t-1", 6)]), None);
    assert_eq!(h.commit("other", &[("t-0", 50)]), None);
    assert_eq!(h.txn("g", 7, 0, &[("t-1", 8)]), None);
    assert_eq!(h.txn("other", 8, 0, &[("t-2", 1)]), None);
    assert_eq!(
        h.fetch("g", Some(&["t-0", "t-1", "t-2"]), true),
        map(&[
            ("t-0", Ok(5)),
            ("t-1", Err(ErrorCode::UnstableOffsetCommit)),
            ("t-2", Ok(INVALID_OFFSET))
        ])
    );
    assert_eq!(
        h.fetch("g", Some(&["t-0", "t-1", "t-2"]), false),
        map(&[("t-0", Ok(5)), ("t-1", Ok(6)), ("t-2", Ok(INVALID_OFFSET))])
    );
    h.assert_reload();
}

/// OffsetMetadataManagerTest.testFetchAllOffsetsWithPendingTransactionalOffsets: a fetch-all
/// lists exactly the partitions with a committed offset; with require_stable those with a
/// pending offset too answer UNSTABLE; a pending-only partition is absent until its COMMIT.
#[test]
fn r24_fetch_all_skips_pending_only_partitions() {
    let mut h = Harness::new();
    assert_eq!(
        h.commit("g", &[("foo-0", 100), ("foo-1", 110), ("bar-0", 200)]),
        None
    );
    assert_eq!(
        h.txn(
            "g",
            10,
            0,
            &[("foo-1", 111), ("bar-0", 201), ("bar-1", 211)]
        ),
        None
    );
    assert_eq!(
        h.fetch("g", None, true),
        map(&[
            ("bar-0", Err(ErrorCode::UnstableOffsetCommit)),
            ("foo-0", Ok(100)),
            ("foo-1", Err(ErrorCode::UnstableOffsetCommit))
        ])
    );
    assert_eq!(
        h.fetch("g", None, false),
        map(&[("bar-0", Ok(200)), ("foo-0", Ok(100)), ("foo-1", Ok(110))])
    );
    assert_eq!(h.marker(10, 1, 0, COMMIT), None);
    assert_eq!(
        h.fetch("g", None, true),
        map(&[
            ("bar-0", Ok(201)),
            ("bar-1", Ok(211)),
            ("foo-0", Ok(100)),
            ("foo-1", Ok(111))
        ])
    );
    h.assert_reload();
}

/// OffsetMetadataManagerTest.testFetchOffsetsWithUnknownGroup, testFetchAllOffsetsWithUnknownGroup,
/// testGenericGroupFetchOffsetsWithDeadGroup and testGenericGroupFetchAllOffsetsWithDeadGroup:
/// an absent or Dead group answers -1 without error for every partition named, nothing for a
/// fetch-all.
#[test]
fn r25_fetch_from_an_absent_or_dead_group() {
    let mut h = Harness::new();
    h.load("dead", ClassicGroupState::Dead, 0, &[]);
    for g in ["absent", "dead"] {
        for stable in [false, true] {
            assert_eq!(
                h.fetch(g, Some(&["foo-0", "foo-1", "bar-0"]), stable),
                map(&[("bar-0", Ok(-1)), ("foo-0", Ok(-1)), ("foo-1", Ok(-1))])
            );
            assert!(h.fetch(g, None, stable).is_empty());
        }
    }
    h.assert_reload();
}

// ---------------------------------------------------------------------------------------------
// Reload after failover (CoordinatorLoaderImpl; old: GroupMetadataManager.loadGroupsAndOffsets).

/// GroupMetadataManagerTest.testLoadTransactionalOffsetCommitsFromMultipleProducers and
/// CoordinatorLoaderImpl (GroupMetadataManagerTest's load of a committed transaction): a new leader that loads [txn commit (pid 7) , COMMIT
/// (pid 7), txn commit (pid 8)] has pid 7's offset committed and pid 8's pending — require_stable
/// answers UNSTABLE until pid 8's marker reaches the new leader.
#[test]
fn r26_reload_resolves_marked_transactions_and_keeps_the_rest_pending() {
    let mut h = Harness::new();
    assert_eq!(h.txn("g", 7, 0, &[("t-0", 9)]), None);
    assert_eq!(h.marker(7, 1, 0, COMMIT), None);
    assert_eq!(h.txn("g", 8, 0, &[("t-0", 11)]), None);
    let mut reloaded = GroupCoordinator::load(GroupCoordinatorConfig::default(), &h.log).unwrap();
    assert_eq!(reloaded, h.c);
    assert_eq!(
        reloaded
            .committed_offset("g", &tp("t-0"))
            .unwrap()
            .committed_offset,
        9
    );
    assert_eq!(
        reloaded
            .pending_offset(8, "g", &tp("t-0"))
            .unwrap()
            .committed_offset,
        11
    );
    let fetch = OffsetFetchRequest {
        group_id: "g".into(),
        partitions: Some(BTreeSet::from([tp("t-0")])),
        require_stable: true,
        version: OFFSET_FETCH_VERSION,
    };
    assert_eq!(
        reloaded.handle_offset_fetch(&fetch).unwrap().partitions[&tp("t-0")],
        Err(ErrorCode::UnstableOffsetCommit)
    );
    // The log's producer state is reloaded too: pid 7's old epoch stays fenced.
    assert_eq!(
        reloaded.write_marker(7, 0, 0, COMMIT, 0),
        Err(ErrorCode::InvalidProducerEpoch)
    );
    reloaded.write_marker(8, 1, 0, COMMIT, 0).unwrap();
    assert_eq!(
        reloaded.handle_offset_fetch(&fetch).unwrap().partitions[&tp("t-0")],
        Ok(11)
    );
}

/// Reload of a log written by every kind of step — loaded groups, refused and accepted plain and
/// transactional commits, markers both ways, fenced markers — reproduces the coordinator at every
/// prefix (`CoordinatorLoaderImpl` replays what the runtime wrote).
#[test]
fn r27_replaying_every_prefix_of_the_log_reproduces_the_coordinator() {
    let mut h = Harness::new();
    let mut snapshots = vec![h.c.clone()];
    h.load("g", ClassicGroupState::Stable, 2, &[("m1", Some("i1"))]);
    snapshots.push(h.c.clone());
    type Step = Box<dyn Fn(&mut Harness)>;
    let steps: Vec<Step> = vec![
        Box::new(|h| {
            assert_eq!(
                h.txn_as("g", 7, 0, "m1", 2, Some("i1"), &[("t-0", 1), ("t-1", 2)]),
                None
            )
        }),
        Box::new(|h| assert_eq!(h.commit_as("g", "m1", 2, Some("i1"), &[("t-0", 5)]), None)),
        Box::new(|h| assert_eq!(h.txn("s", 8, 3, &[("t-0", 1)]), None)),
        Box::new(|h| assert_eq!(h.marker(7, 1, 2, COMMIT), None)),
        Box::new(|h| assert_eq!(h.marker(8, 4, 0, ABORT), None)),
        Box::new(|h| assert_eq!(h.commit("s", &[("u-0", 3)]), None)),
    ];
    for step in steps {
        h.now += 10;
        step(&mut h);
        snapshots.push(h.c.clone());
    }
    assert_eq!(h.log.len(), snapshots.len() - 1);
    for (n, snapshot) in snapshots.iter().enumerate() {
        let reloaded =
            GroupCoordinator::load(GroupCoordinatorConfig::default(), &h.log[..n]).unwrap();
        assert_eq!(&reloaded, snapshot, "prefix of {n} batches");
    }
}

/// The log is read in order, and only batches the coordinator writes are accepted: a batch
/// below the log end, a data batch without records, a group record in a transaction, or an
/// invalid group is a [`GroupError`] (a misuse, never a panic).
#[test]
fn r28_replay_refuses_batches_the_coordinator_never_writes() {
    let mut h = Harness::new();
    assert_eq!(h.commit("g", &[("t-0", 1), ("t-1", 2)]), None);
    let batch = h.log[0].clone();
    assert!(matches!(
        h.c.replay(&batch),
        Err(GroupError::ReplayOutOfOrder {
            base_offset: 0,
            log_end_offset: 2
        })
    ));
    let empty = OffsetsBatch {
        base_offset: 5,
        content: OffsetsBatchContent::Records(vec![]),
        ..batch.clone()
    };
    assert!(matches!(
        h.c.replay(&empty),
        Err(GroupError::InvalidBatch { .. })
    ));
    let group = ClassicGroup::simple("x");
    let txn_group = OffsetsBatch {
        base_offset: 5,
        producer_id: 7,
        producer_epoch: 0,
        content: OffsetsBatchContent::Records(vec![OffsetsRecord::GroupMetadata(group)]),
        ..batch.clone()
    };
    assert!(matches!(
        h.c.replay(&txn_group),
        Err(GroupError::InvalidBatch { .. })
    ));
    let mut bad = ClassicGroup::simple("y");
    bad.state = ClassicGroupState::Stable;
    let bad_group = OffsetsBatch {
        base_offset: 5,
        content: OffsetsBatchContent::Records(vec![OffsetsRecord::GroupMetadata(bad)]),
        ..batch
    };
    assert!(matches!(
        h.c.replay(&bad_group),
        Err(GroupError::InvalidGroup { .. })
    ));
    // A gap (compaction) is fine.
    let mut gap = h.log[0].clone();
    gap.base_offset = 10;
    h.c.replay(&gap).unwrap();
    assert_eq!(h.c.log_end_offset(), 12);
}

/// `load_group` is for a group that does not exist and that Kafka can hold (FORMAT.md
/// `load_group`): members only outside Empty/Dead, generation ≥ 1 with members, one holder per
/// instance id.
#[test]
fn r29_load_group_refuses_impossible_groups() {
    let mut h = Harness::new();
    h.load("g", ClassicGroupState::Empty, 0, &[]);
    assert!(matches!(
        h.c.load_group(ClassicGroup::simple("g"), 0),
        Err(GroupError::GroupExists(_))
    ));
    let member = |i: Option<&str>| ClassicGroupMember {
        group_instance_id: i.map(str::to_string),
    };
    let cases = [
        (ClassicGroupState::Empty, 1, vec![("m", member(None))]),
        (ClassicGroupState::Stable, 1, vec![]),
        (ClassicGroupState::Stable, 0, vec![("m", member(None))]),
        (
            ClassicGroupState::Stable,
            1,
            vec![("a", member(Some("i"))), ("b", member(Some("i")))],
        ),
    ];
    for (state, generation, members) in cases {
        let group = ClassicGroup {
            group_id: "x".into(),
            state,
            generation_id: generation,
            protocol_type: Some("consumer".into()),
            members: members
                .into_iter()
                .map(|(m, v)| (m.to_string(), v))
                .collect(),
        };
        assert!(matches!(
            h.c.load_group(group, 0),
            Err(GroupError::InvalidGroup { .. })
        ));
    }
    assert!(h.c.group("x").is_none());
    h.assert_reload();
}

// ---------------------------------------------------------------------------------------------
// Versions (the request's version decides what is on the wire and what is answered).

/// `TxnOffsetCommitRequest.Builder.build` (group metadata needs v3+, KIP-447) and
/// `OffsetFetchRequest.Builder` (require_stable needs v7+): a field the request's version does
/// not carry is misuse; versions beyond the core's are refused.
#[test]
fn r30_fields_a_version_does_not_carry_are_misuse() {
    let mut h = Harness::new();
    let mut req = txn_request("g", 7, 0, "m", 1, None, &[("t-0", 1)]);
    req.version = 2;
    assert!(matches!(
        h.c.handle_txn_offset_commit(&req, 0),
        Err(GroupError::FieldNotInVersion { .. })
    ));
    let mut req = txn_request("g", 7, 0, "", -1, None, &[("t-0", 1)]);
    req.version = 2;
    assert_eq!(
        one_error(h.txn_req(&req)),
        None,
        "a group-id-only v2 commit is fine"
    );
    req.version = 6;
    assert!(matches!(
        h.c.handle_txn_offset_commit(&req, 0),
        Err(GroupError::UnsupportedVersion { .. })
    ));
    let plain = OffsetCommitRequest {
        group_id: "g".into(),
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: Some("i".into()),
        offsets: BTreeMap::from([(tp("t-0"), 1)]),
        version: 6,
    };
    assert!(matches!(
        h.c.handle_offset_commit(&plain, 0),
        Err(GroupError::FieldNotInVersion { .. })
    ));
    let fetch = OffsetFetchRequest {
        group_id: "g".into(),
        partitions: None,
        require_stable: true,
        version: 6,
    };
    assert!(matches!(
        h.c.handle_offset_fetch(&fetch),
        Err(GroupError::FieldNotInVersion { .. })
    ));
    h.assert_reload();
}

/// `txnOffsetCommitRequestVersionToTransactionSupportedOperation` and `AddPartitionsToTxnManager`
/// / `KafkaApis.handleTxnOffsetCommitRequest` (KAFKA-7296): TxnOffsetCommit up to v4 verifies its
/// offsets partition only, v5 (TV2) adds it; a failed verification is translated for the
/// version (TRANSACTION_ABORTABLE from v4, INVALID_TXN_STATE below; PRODUCER_FENCED →
/// INVALID_PRODUCER_EPOCH; COORDINATOR_LOAD_IN_PROGRESS → COORDINATOR_NOT_AVAILABLE below v2).
#[test]
fn r31_verification_by_version() {
    let c = GroupCoordinator::default();
    let mut req = txn_request("g", 7, 0, "", -1, None, &[("t-0", 1)]);
    let v5 = c.verification_request(&req);
    assert!(!v5.verify_only);
    assert_eq!(
        v5.partitions,
        BTreeSet::from([c.config().offsets_partition.clone()])
    );
    assert_eq!(
        (
            v5.producer_id,
            v5.producer_epoch,
            v5.transactional_id.as_str()
        ),
        (7, 0, "txn-7")
    );
    assert_eq!(v5.transaction_version(), TransactionVersion::Tv2);
    req.version = TXN_OFFSET_COMMIT_LAST_BEFORE_TV2_VERSION;
    assert!(c.verification_request(&req).verify_only);
    use ErrorCode::*;
    assert_eq!(
        txn_offset_commit_verification_error(TransactionAbortable, 5),
        TransactionAbortable
    );
    assert_eq!(
        txn_offset_commit_verification_error(TransactionAbortable, 4),
        TransactionAbortable
    );
    assert_eq!(
        txn_offset_commit_verification_error(TransactionAbortable, 3),
        InvalidTxnState
    );
    assert_eq!(
        txn_offset_commit_verification_error(ProducerFenced, 5),
        InvalidProducerEpoch
    );
    assert_eq!(
        txn_offset_commit_verification_error(NetworkException, 3),
        CoordinatorLoadInProgress
    );
    assert_eq!(
        txn_offset_commit_verification_error(NetworkException, 1),
        CoordinatorNotAvailable
    );
    assert_eq!(
        txn_offset_commit_verification_error(CoordinatorLoadInProgress, 1),
        CoordinatorNotAvailable
    );
    assert_eq!(
        txn_offset_commit_verification_error(InvalidProducerIdMapping, 5),
        InvalidProducerIdMapping
    );
    assert_eq!(
        txn_offset_commit_verification_error(ConcurrentTransactions, 2),
        ConcurrentTransactions
    );
}

/// A commit without partitions writes nothing and creates no group (`commitOffset` produces no
/// record; the core does not create a simple group that no record would reload).
#[test]
fn r32_a_commit_without_partitions_writes_nothing() {
    let mut h = Harness::new();
    assert!(h
        .commit_req(&OffsetCommitRequest {
            group_id: "g".into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            offsets: BTreeMap::new(),
            version: OFFSET_COMMIT_VERSION,
        })
        .is_empty());
    assert!(h
        .txn_req(&txn_request("g", 7, 0, "", -1, None, &[]))
        .is_empty());
    assert!(h.c.group("g").is_none());
    assert_eq!(h.c.log_end_offset(), 0);
    h.assert_reload();
}

/// Records of one commit take consecutive offsets, partitions in ascending order; a marker takes
/// one (FORMAT.md, role `group`).
#[test]
fn r33_record_offsets() {
    let mut h = Harness::new();
    h.load("g", ClassicGroupState::Empty, 0, &[]);
    assert_eq!(h.commit("g", &[("t-1", 1), ("t-0", 2)]), None);
    assert_eq!(h.txn("g", 7, 0, &[("a-0", 3)]), None);
    assert_eq!(h.marker(7, 1, 0, COMMIT), None);
    let record = |p: &str| h.c.committed_offset("g", &tp(p)).unwrap().record_offset;
    assert_eq!((record("t-0"), record("t-1"), record("a-0")), (1, 2, 3));
    assert_eq!(h.c.log_end_offset(), 5);
    assert_eq!(
        h.log.iter().map(|b| b.base_offset).collect::<Vec<_>>(),
        vec![0, 1, 3, 4]
    );
    assert!(h.log[3].is_control());
    h.assert_reload();
}
