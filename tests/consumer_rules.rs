//! Rule table of the consumer role (`docs/consumer.md` section 4): one test per rule, each citing
//! the Kafka class and method it follows, driven against the core's group coordinator and
//! partition leader where the rule is about what they answer.

use std::collections::{BTreeMap, BTreeSet};

use kafka_eos::consumer::{
    Consumer, ConsumerBugs, ConsumerConfig, ConsumerError, ConsumerEvent, ConsumerOutput,
    ConsumerRequest, ConsumerResponse, Generation, OffsetReset, PartitionPosition,
};
use kafka_eos::group::{
    ClassicGroupMember, GroupBugs, GroupCoordinator, GroupCoordinatorConfig, OffsetCommitResponse,
    OffsetFetchResponse, TxnOffsetCommitRequest, WriteTxnMarker, TXN_OFFSET_COMMIT_VERSION,
};
use kafka_eos::partition::{
    IsolationLevel, PartitionConfig, PartitionLeader, ProduceBatch, TxnMarker,
};
use kafka_eos::{ErrorCode, TopicPartition, TransactionResult, TransactionVersion};

type Out = ConsumerOutput<u32>;

fn tp(s: &str) -> TopicPartition {
    s.parse().unwrap()
}

fn gen(n: i32, member: &str) -> Generation {
    Generation {
        generation_id: n,
        member_id: member.into(),
    }
}

fn consumer(bugs: ConsumerBugs) -> Consumer {
    Consumer::new(ConsumerConfig {
        bugs,
        ..ConsumerConfig::new("g")
    })
}

/// The only request of `out`.
fn single(out: &Out) -> &ConsumerRequest {
    assert_eq!(out.sends.len(), 1, "{out:?}");
    &out.sends[0]
}

fn offset_fetch_answer(pairs: &[(&str, Result<i64, ErrorCode>)]) -> ConsumerResponse<u32> {
    ConsumerResponse::OffsetFetch(OffsetFetchResponse {
        partitions: pairs.iter().map(|(p, r)| (tp(p), *r)).collect(),
    })
}

/// A leader with plain records `payloads` at offsets 0.., then a transaction of `pid` (one
/// record `txn_payload`) left open.
fn leader_with(payloads: &[u32]) -> PartitionLeader<u32> {
    let mut l = PartitionLeader::new(PartitionConfig {
        transaction_verification: false,
        ..PartitionConfig::default()
    });
    for p in payloads {
        l.append(plain(*p), None).unwrap();
    }
    l
}

fn plain(payload: u32) -> ProduceBatch<u32> {
    ProduceBatch {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        record_count: 1,
        is_transactional: false,
        max_timestamp: 0,
        payload,
    }
}

fn txn(pid: i64, seq: i32, payload: u32) -> ProduceBatch<u32> {
    ProduceBatch {
        producer_id: pid,
        producer_epoch: 0,
        base_sequence: seq,
        record_count: 1,
        is_transactional: true,
        max_timestamp: 0,
        payload,
    }
}

fn marker(pid: i64, result: TransactionResult) -> TxnMarker {
    TxnMarker {
        producer_id: pid,
        producer_epoch: 0,
        coordinator_epoch: 0,
        result,
        timestamp: 0,
        transaction_version: TransactionVersion::Tv1,
    }
}

/// Answers the consumer's only Fetch from `leader`.
fn fetch_from(c: &mut Consumer, out: &Out, leader: &PartitionLeader<u32>) -> Out {
    let ConsumerRequest::Fetch { id, request } = single(out) else {
        panic!("not a fetch: {out:?}")
    };
    let answer = leader
        .fetch(request.fetch_offset, request.isolation_level)
        .map_err(|_| ErrorCode::UnknownServerError);
    c.handle_response(*id, ConsumerResponse::Fetch(answer), 0)
        .unwrap()
}

fn records(out: &Out) -> Vec<(i64, u32)> {
    out.events
        .iter()
        .flat_map(|e| match e {
            ConsumerEvent::Records { records, .. } => records.clone(),
            _ => Vec::new(),
        })
        .collect()
}

// ---- 4.1 Assignment and the committed-offset fetch ------------------------------------------

// ConsumerCoordinator.onJoinComplete → SubscriptionState.assignFromSubscribed, then
// refreshCommittedOffsetsIfNeeded → sendOffsetFetchRequest: one OffsetFetch for the assigned
// partitions, `requireStable = true` whatever the isolation level (KIP-447).
#[test]
fn assignment_fetches_committed_offsets_with_require_stable() {
    let mut c = Consumer::new(ConsumerConfig {
        isolation_level: IsolationLevel::ReadUncommitted,
        ..ConsumerConfig::new("g")
    });
    let out: Out = c
        .assign(gen(3, "m"), BTreeSet::from([tp("in-0"), tp("in-1")]), 0)
        .unwrap();
    let ConsumerRequest::OffsetFetch { request, .. } = single(&out) else {
        panic!()
    };
    assert!(request.require_stable);
    assert_eq!(request.group_id, "g");
    assert_eq!(
        request.partitions,
        Some(BTreeSet::from([tp("in-0"), tp("in-1")]))
    );
    assert_eq!(c.position(&tp("in-0")), None);
    assert_eq!(
        c.assignment().get(&tp("in-1")),
        Some(&PartitionPosition::Initializing)
    );
}

// ConsumerCoordinator.refreshCommittedOffsets → SubscriptionState.seekUnvalidated: the committed
// offset is the position, and Fetcher.sendFetches fetches from it.
#[test]
fn committed_offset_becomes_the_position() {
    let mut c = consumer(ConsumerBugs::default());
    let out: Out = c
        .assign(gen(1, "m"), BTreeSet::from([tp("in-0")]), 0)
        .unwrap();
    let id = single(&out).id();
    let out = c
        .handle_response(id, offset_fetch_answer(&[("in-0", Ok(5))]), 0)
        .unwrap();
    assert_eq!(c.position(&tp("in-0")), Some(5));
    assert!(out.events.contains(&ConsumerEvent::PositionInitialized {
        partition: tp("in-0"),
        offset: 5
    }));
    assert!(
        out.sends.is_empty(),
        "records are fetched when the application polls"
    );
    let out: Out = c.poll(0);
    let ConsumerRequest::Fetch { request, .. } = single(&out) else {
        panic!()
    };
    assert_eq!(request.fetch_offset, 5);
    assert_eq!(request.isolation_level, IsolationLevel::ReadCommitted);
}

// SubscriptionState.resetInitializingPositions / OffsetFetcher.resetPositionsIfNeeded: no
// committed offset (-1) → `auto.offset.reset`; earliest is the log start (0 here), `none` throws
// NoOffsetForPartitionException.
#[test]
fn no_committed_offset_resets_by_auto_offset_reset() {
    let mut c = consumer(ConsumerBugs::default());
    let out: Out = c
        .assign(gen(1, "m"), BTreeSet::from([tp("in-0")]), 0)
        .unwrap();
    c.handle_response(
        single(&out).id(),
        offset_fetch_answer(&[("in-0", Ok(-1))]),
        0,
    )
    .unwrap();
    assert_eq!(c.position(&tp("in-0")), Some(0));

    let mut c = Consumer::new(ConsumerConfig {
        auto_offset_reset: OffsetReset::None,
        ..ConsumerConfig::new("g")
    });
    let out: Out = c
        .assign(gen(1, "m"), BTreeSet::from([tp("in-0")]), 0)
        .unwrap();
    let out = c
        .handle_response(
            single(&out).id(),
            offset_fetch_answer(&[("in-0", Ok(-1))]),
            0,
        )
        .unwrap();
    assert!(out.events.contains(&ConsumerEvent::Error {
        partition: tp("in-0"),
        error: None
    }));
    assert!(out.sends.is_empty(), "a failed partition is not fetched");
}

// ConsumerCoordinator.OffsetFetchResponseHandler: UNSTABLE_OFFSET_COMMIT raises the retriable
// UnstableOffsetCommitException; fetchCommittedOffsets sleeps retry.backoff.ms and asks again.
// Against the core's group coordinator: a transaction's pending offset holds the new owner
// until its COMMIT marker, and then the transaction's offset is the position (KIP-447).
#[test]
fn unstable_offset_commit_is_retried_after_backoff_until_the_marker() {
    let mut groups = GroupCoordinator::new(GroupCoordinatorConfig::default());
    let commit = TxnOffsetCommitRequest {
        transactional_id: "tx".into(),
        group_id: "g".into(),
        producer_id: 7,
        producer_epoch: 0,
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
        offsets: BTreeMap::from([(tp("in-0"), 2)]),
        version: TXN_OFFSET_COMMIT_VERSION,
    };
    groups.handle_txn_offset_commit(&commit, 0).unwrap();

    let mut c = consumer(ConsumerBugs::default());
    let out: Out = c
        .assign(gen(1, "m"), BTreeSet::from([tp("in-0")]), 0)
        .unwrap();
    let ConsumerRequest::OffsetFetch { id, request } = single(&out) else {
        panic!()
    };
    let answer = groups.handle_offset_fetch(request).unwrap();
    let out: Out = c
        .handle_response(*id, ConsumerResponse::OffsetFetch(answer), 0)
        .unwrap();
    assert!(out.events.contains(&ConsumerEvent::OffsetsUnstable {
        partitions: BTreeSet::from([tp("in-0")])
    }));
    assert_eq!(c.position(&tp("in-0")), None);
    // Backing off: nothing is sent before retry.backoff.ms.
    assert_eq!(c.next_deadline(), Some(100));
    assert!(c.poll::<u32>(99).sends.is_empty());

    let marker = WriteTxnMarker {
        transactional_id: "tx".into(),
        partition: groups.config().offsets_partition.clone(),
        producer_id: 7,
        producer_epoch: 1,
        coordinator_epoch: 0,
        result: TransactionResult::Commit,
        transaction_version: TransactionVersion::Tv2,
    };
    groups.handle_write_txn_marker(&marker, 0);
    let out: Out = c.poll(100);
    let ConsumerRequest::OffsetFetch { id, request } = single(&out) else {
        panic!()
    };
    let answer = groups.handle_offset_fetch(request).unwrap();
    c.handle_response(*id, ConsumerResponse::<u32>::OffsetFetch(answer), 100)
        .unwrap();
    assert_eq!(c.position(&tp("in-0")), Some(2));
}

// Bug switch `no_require_stable` (a client that does not set RequireStable): the group
// coordinator answers the last committed offset (here none → earliest) while the transaction's
// offset is pending, so the new owner starts where the open transaction started.
#[test]
fn without_require_stable_the_pending_offset_is_ignored() {
    let mut groups = GroupCoordinator::new(GroupCoordinatorConfig::default());
    let commit = TxnOffsetCommitRequest {
        transactional_id: "tx".into(),
        group_id: "g".into(),
        producer_id: 7,
        producer_epoch: 0,
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
        offsets: BTreeMap::from([(tp("in-0"), 2)]),
        version: TXN_OFFSET_COMMIT_VERSION,
    };
    groups.handle_txn_offset_commit(&commit, 0).unwrap();
    let mut c = consumer(ConsumerBugs {
        no_require_stable: true,
    });
    let out: Out = c
        .assign(gen(1, "m"), BTreeSet::from([tp("in-0")]), 0)
        .unwrap();
    let ConsumerRequest::OffsetFetch { id, request } = single(&out) else {
        panic!()
    };
    assert!(!request.require_stable);
    let answer = groups.handle_offset_fetch(request).unwrap();
    c.handle_response(*id, ConsumerResponse::<u32>::OffsetFetch(answer), 0)
        .unwrap();
    assert_eq!(c.position(&tp("in-0")), Some(0));
}

// ConsumerCoordinator.fetchCommittedOffsets (PendingCommittedOffsetRequest.sameRequest): an
// OffsetFetch sent in an older generation does not set positions of the new assignment.
#[test]
fn offset_fetch_of_an_older_generation_is_dropped() {
    let mut c = consumer(ConsumerBugs::default());
    let out: Out = c
        .assign(gen(1, "m"), BTreeSet::from([tp("in-0")]), 0)
        .unwrap();
    let old = single(&out).id();
    let out: Out = c
        .assign(gen(2, "m"), BTreeSet::from([tp("in-0")]), 0)
        .unwrap();
    assert!(out.sends.is_empty(), "one OffsetFetch in flight at a time");
    let out = c
        .handle_response(old, offset_fetch_answer(&[("in-0", Ok(9))]), 0)
        .unwrap();
    assert_eq!(c.position(&tp("in-0")), None);
    // The new generation asks again.
    let ConsumerRequest::OffsetFetch { .. } = single(&out) else {
        panic!()
    };
}

// ---- 4.2 Fetching -----------------------------------------------------------------------------

// Fetcher.sendFetches / FetchCollector with CompletedFetch at read_committed: only records below
// the LSO are returned, an aborted transaction's records and control records are skipped, and
// the position moves past every batch returned (nextFetchOffset).
#[test]
fn read_committed_fetch_skips_aborted_and_stops_at_the_lso() {
    let mut l = leader_with(&[10]);
    l.append(txn(1, 0, 11), None).unwrap(); // @1, aborted
    l.write_marker(marker(1, TransactionResult::Abort)).unwrap(); // @2
    l.append(plain(12), None).unwrap(); // @3
    l.append(txn(2, 0, 13), None).unwrap(); // @4, open: LSO = 4
    let mut c = consumer(ConsumerBugs::default());
    let out: Out = c
        .assign(gen(1, "m"), BTreeSet::from([tp("in-0")]), 0)
        .unwrap();
    let out = c
        .handle_response(
            single(&out).id(),
            offset_fetch_answer(&[("in-0", Ok(0))]),
            0,
        )
        .unwrap();
    assert!(out.sends.is_empty());
    let polled: Out = c.poll(0);
    let out = fetch_from(&mut c, &polled, &l);
    assert_eq!(records(&out), vec![(0, 10), (3, 12)]);
    assert_eq!(c.position(&tp("in-0")), Some(4));
    // The open transaction commits: the next fetch returns its record.
    l.write_marker(marker(2, TransactionResult::Commit))
        .unwrap(); // @5
    let polled: Out = c.poll(0);
    let out = fetch_from(&mut c, &polled, &l);
    assert_eq!(records(&out), vec![(4, 13)]);
    assert_eq!(c.position(&tp("in-0")), Some(6));
}

// Fetcher.fetchablePartitions: a partition with a fetch in flight is not fetched again.
#[test]
fn one_fetch_in_flight_per_partition() {
    let mut c = consumer(ConsumerBugs::default());
    let out: Out = c
        .assign(gen(1, "m"), BTreeSet::from([tp("in-0")]), 0)
        .unwrap();
    let out = c
        .handle_response(
            single(&out).id(),
            offset_fetch_answer(&[("in-0", Ok(0))]),
            0,
        )
        .unwrap();
    assert!(out.sends.is_empty());
    assert_eq!(c.poll::<u32>(0).sends.len(), 1);
    assert!(c.poll::<u32>(0).sends.is_empty());
}

// FetchCollector ("discarding stale fetch response"): a fetch answered after the position moved
// (a reset to the committed offsets) delivers nothing.
#[test]
fn fetch_answered_after_the_position_moved_is_discarded() {
    let l = leader_with(&[10, 11]);
    let mut c = consumer(ConsumerBugs::default());
    let out: Out = c
        .assign(gen(1, "m"), BTreeSet::from([tp("in-0")]), 0)
        .unwrap();
    let out = c
        .handle_response(
            single(&out).id(),
            offset_fetch_answer(&[("in-0", Ok(1))]),
            0,
        )
        .unwrap();
    assert!(out.sends.is_empty());
    let polled: Out = c.poll(0);
    let _ = c.reset_to_committed::<u32>(0);
    let out = fetch_from(&mut c, &polled, &l);
    assert!(records(&out).is_empty());
    assert_eq!(c.position(&tp("in-0")), None);
}

// ---- 4.3 Group metadata and commits -------------------------------------------------------------

// KafkaConsumer.groupMetadata: the generation, member id and instance id of the last assignment;
// the group coordinator fences a TxnOffsetCommit of a member the next generation dropped
// (KIP-447: ClassicGroup.validateMember → UNKNOWN_MEMBER_ID; a member that rejoined with an old
// generation would get ILLEGAL_GENERATION).
#[test]
fn group_metadata_of_an_older_generation_is_fenced() {
    let mut groups = GroupCoordinator::new(GroupCoordinatorConfig::default());
    let member = |id: &str| BTreeMap::from([(id.to_string(), ClassicGroupMember::default())]);
    let (g1, _) = groups
        .complete_rebalance("g", "consumer", member("m-1"), 0)
        .unwrap();
    let mut old = consumer(ConsumerBugs::default());
    let _: Out = old
        .assign(gen(g1, "m-1"), BTreeSet::from([tp("in-0")]), 0)
        .unwrap();
    let (g2, _) = groups
        .complete_rebalance("g", "consumer", member("m-2"), 0)
        .unwrap();
    assert_eq!((g1, g2), (1, 2));
    let metadata = old.group_metadata();
    assert_eq!(metadata.generation_id, 1);
    assert_eq!(metadata.member_id, "m-1");
    let commit = TxnOffsetCommitRequest {
        transactional_id: "tx".into(),
        group_id: metadata.group_id,
        producer_id: 7,
        producer_epoch: 0,
        generation_id: metadata.generation_id,
        member_id: metadata.member_id,
        group_instance_id: metadata.group_instance_id,
        offsets: BTreeMap::from([(tp("in-0"), 1)]),
        version: TXN_OFFSET_COMMIT_VERSION,
    };
    let (answer, _) = groups.handle_txn_offset_commit(&commit, 0).unwrap();
    assert_eq!(
        answer.errors(),
        BTreeMap::from([(tp("in-0"), ErrorCode::UnknownMemberId)])
    );
}

// ConsumerCoordinator.sendOffsetCommitRequest / OffsetCommitResponseHandler: commitSync carries
// the generation and member id; ILLEGAL_GENERATION is a CommitFailedException, a retriable
// error (COORDINATOR_LOAD_IN_PROGRESS) re-sends the commit.
#[test]
fn commit_sync_carries_the_generation_and_retries_retriable_errors() {
    let mut c = consumer(ConsumerBugs::default());
    let _: Out = c
        .assign(gen(4, "m"), BTreeSet::from([tp("in-0")]), 0)
        .unwrap();
    let out: Out = c.commit_sync(BTreeMap::from([(tp("in-0"), 3)]), 0).unwrap();
    let ConsumerRequest::OffsetCommit { id, request } = single(&out) else {
        panic!()
    };
    assert_eq!(
        (request.generation_id, request.member_id.as_str()),
        (4, "m")
    );
    let retry: Out = c
        .handle_response(
            *id,
            ConsumerResponse::OffsetCommit(OffsetCommitResponse::all(
                [&tp("in-0")],
                Err(ErrorCode::CoordinatorLoadInProgress),
            )),
            0,
        )
        .unwrap();
    let ConsumerRequest::OffsetCommit { id, request: again } = single(&retry) else {
        panic!()
    };
    assert_eq!(again, request);
    let failed: Out = c
        .handle_response(
            *id,
            ConsumerResponse::OffsetCommit(OffsetCommitResponse::all(
                [&tp("in-0")],
                Err(ErrorCode::IllegalGeneration),
            )),
            0,
        )
        .unwrap();
    assert!(failed.events.contains(&ConsumerEvent::CommitFailed {
        error: ErrorCode::IllegalGeneration
    }));
}

// ---- 4.4 Misuse -------------------------------------------------------------------------------

#[test]
fn unknown_or_mismatched_responses_are_errors() {
    let mut c = consumer(ConsumerBugs::default());
    assert_eq!(
        c.handle_response::<u32>(9, offset_fetch_answer(&[]), 0),
        Err(ConsumerError::UnknownRequest(9))
    );
    let out: Out = c
        .assign(gen(1, "m"), BTreeSet::from([tp("in-0")]), 0)
        .unwrap();
    let id = single(&out).id();
    assert_eq!(
        c.handle_response::<u32>(
            id,
            ConsumerResponse::Fetch(Err(ErrorCode::NotLeaderOrFollower)),
            0
        ),
        Err(ConsumerError::ResponseMismatch(id))
    );
    let mut anonymous = Consumer::new(ConsumerConfig::new(""));
    let e = anonymous
        .assign::<u32>(gen(1, "m"), BTreeSet::new(), 0)
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidGroupId));
}

// GroupMetadataManager.completeClassicGroupJoin / ClassicGroup.initNextGeneration: a rebalance
// moves the generation by one, keeps only the rejoined members, and reloading the log
// reproduces it.
#[test]
fn a_completed_rebalance_moves_the_generation_and_reloads() {
    let mut groups = GroupCoordinator::new(GroupCoordinatorConfig::default());
    let mut log = Vec::new();
    for (m, expected) in [("m-1", 1), ("m-2", 2)] {
        let (g, outputs) = groups
            .complete_rebalance(
                "g",
                "consumer",
                BTreeMap::from([(m.to_string(), ClassicGroupMember::default())]),
                0,
            )
            .unwrap();
        assert_eq!(g, expected);
        log.extend(
            outputs
                .into_iter()
                .map(|kafka_eos::group::GroupOutput::AppendOffsetsLog(b)| b),
        );
    }
    let group = groups.group("g").unwrap();
    assert!(group.has_member("m-2") && !group.has_member("m-1"));
    assert_eq!(
        GroupCoordinator::load(GroupCoordinatorConfig::default(), &log).unwrap(),
        groups
    );
    assert!(groups
        .complete_rebalance("g", "consumer", BTreeMap::new(), 0)
        .is_err());
}

// ---- 4.5 The group coordinator's bug switches the processor model uses -------------------------

fn txn_commit(generation: i32, member: &str, offset: i64) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest {
        transactional_id: "tx".into(),
        group_id: "g".into(),
        producer_id: 7,
        producer_epoch: 0,
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
        offsets: BTreeMap::from([(tp("in-0"), offset)]),
        version: TXN_OFFSET_COMMIT_VERSION,
    }
}

fn groups_with(bugs: GroupBugs) -> GroupCoordinator {
    let mut groups = GroupCoordinator::new(GroupCoordinatorConfig {
        bugs,
        ..GroupCoordinatorConfig::default()
    });
    for m in ["m-1", "m-2"] {
        groups
            .complete_rebalance(
                "g",
                "consumer",
                BTreeMap::from([(m.to_string(), ClassicGroupMember::default())]),
                0,
            )
            .unwrap();
    }
    groups
}

// `no_generation_fencing` (TxnOffsetCommit before KIP-447's v3): a dropped member's commit is
// accepted; Kafka's rule answers UNKNOWN_MEMBER_ID.
#[test]
fn no_generation_fencing_accepts_a_zombie_members_offsets() {
    let mut fenced = groups_with(GroupBugs::default());
    let (answer, _) = fenced
        .handle_txn_offset_commit(&txn_commit(1, "m-1", 1), 0)
        .unwrap();
    assert_eq!(
        answer.errors(),
        BTreeMap::from([(tp("in-0"), ErrorCode::UnknownMemberId)])
    );
    let mut unfenced = groups_with(GroupBugs {
        no_generation_fencing: true,
        ..GroupBugs::default()
    });
    let (answer, _) = unfenced
        .handle_txn_offset_commit(&txn_commit(1, "m-1", 1), 0)
        .unwrap();
    assert!(answer.errors().is_empty());
}

// `keep_pending_on_abort`: the ABORT marker leaves the pending offset, so require_stable stays
// UNSTABLE; Kafka's replayEndTransactionMarker drops it.
#[test]
fn keep_pending_on_abort_leaves_the_offset_pending() {
    for (bugs, pending) in [
        (GroupBugs::default(), false),
        (
            GroupBugs {
                keep_pending_on_abort: true,
                ..GroupBugs::default()
            },
            true,
        ),
    ] {
        let mut groups = groups_with(bugs);
        groups
            .handle_txn_offset_commit(&txn_commit(2, "m-2", 1), 0)
            .unwrap();
        let marker = WriteTxnMarker {
            transactional_id: "tx".into(),
            partition: groups.config().offsets_partition.clone(),
            producer_id: 7,
            producer_epoch: 1,
            coordinator_epoch: 0,
            result: TransactionResult::Abort,
            transaction_version: TransactionVersion::Tv2,
        };
        let (response, _) = groups.handle_write_txn_marker(&marker, 0);
        assert_eq!(response.error, None);
        assert_eq!(
            groups.has_pending_transactional_offsets("g", &tp("in-0")),
            pending
        );
    }
}
