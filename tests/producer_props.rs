//! Property tests of the producer client: random application calls, responses (random errors,
//! random order among the outstanding requests) and lost requests. After every step the
//! producer's invariants hold; at quiescence every batch has exactly one fate.

use std::collections::{BTreeMap, BTreeSet};

use kafka_eos::error::ErrorCode;
use kafka_eos::messages::{ProduceRequest, ProducerIdAndEpoch};
use kafka_eos::producer::{
    Outstanding, Producer, ProducerBugs, ProducerConfig, ProducerEvent, ProducerOutput, Request,
    RequestId, Response, TransactionState, TxnRequest,
};
use kafka_eos::types::{increment_sequence, TopicPartition, TransactionVersion};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Action {
    Init,
    Begin,
    Send(i32, i32),
    Commit,
    Abort,
    /// Answer the outstanding request at this index (mod the count) with this outcome
    /// (0 = success, else an error picked from the request kind's list).
    Respond(usize, usize),
    Timeout(usize),
    Advance(i64),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => Just(Action::Init),
        2 => Just(Action::Begin),
        5 => (0..3i32, 1..4i32).prop_map(|(p, c)| Action::Send(p, c)),
        2 => Just(Action::Commit),
        1 => Just(Action::Abort),
        12 => (0..8usize, prop_oneof![6 => Just(0usize), 4 => 1..12usize])
            .prop_map(|(i, o)| Action::Respond(i, o)),
        1 => (0..8usize).prop_map(Action::Timeout),
        1 => prop_oneof![Just(1_000i64), Just(150_000i64)].prop_map(Action::Advance),
    ]
}

const PRODUCE_ERRORS: &[ErrorCode] = &[
    ErrorCode::NotLeaderOrFollower,
    ErrorCode::NotEnoughReplicas,
    ErrorCode::OutOfOrderSequenceNumber,
    ErrorCode::InvalidProducerEpoch,
    ErrorCode::DuplicateSequenceNumber,
    ErrorCode::UnknownProducerId,
    ErrorCode::TopicAuthorizationFailed,
    ErrorCode::InvalidTxnState,
    ErrorCode::RequestTimedOut,
    ErrorCode::MessageTooLarge,
    ErrorCode::ProducerFenced,
];

const TXN_ERRORS: &[ErrorCode] = &[
    ErrorCode::NotCoordinator,
    ErrorCode::ConcurrentTransactions,
    ErrorCode::CoordinatorLoadInProgress,
    ErrorCode::TransactionAbortable,
    ErrorCode::UnknownProducerId,
    ErrorCode::TopicAuthorizationFailed,
    ErrorCode::NotCoordinator,
    ErrorCode::ConcurrentTransactions,
    ErrorCode::InvalidTxnState,
    ErrorCode::ProducerFenced,
    ErrorCode::InvalidProducerEpoch,
];

fn pe(producer_id: i64, producer_epoch: i16) -> ProducerIdAndEpoch {
    ProducerIdAndEpoch {
        producer_id,
        producer_epoch,
    }
}

/// A well-behaved fake coordinator and partition leader: ids, epochs and offsets as Kafka would
/// hand them out.
struct World {
    next_pid: i64,
    high_epoch_start: bool,
    next_offset: i64,
}

impl World {
    fn answer(&mut self, req: &Request<u32>, outcome: usize) -> Response {
        let pick = |list: &[ErrorCode]| list[(outcome - 1) % list.len()];
        match req {
            Request::InitProducerId { request, .. } => {
                if outcome != 0 {
                    return Response::InitProducerId(Err(pick(TXN_ERRORS)));
                }
                if request.producer_id >= 0 && request.producer_epoch < 32766 {
                    Response::InitProducerId(Ok(pe(
                        request.producer_id,
                        request.producer_epoch + 1,
                    )))
                } else {
                    self.next_pid += 1;
                    let epoch = if self.high_epoch_start { 32766 } else { 0 };
                    Response::InitProducerId(Ok(pe(self.next_pid, epoch)))
                }
            }
            Request::AddPartitionsToTxn { .. } => Response::AddPartitionsToTxn(if outcome == 0 {
                Ok(())
            } else {
                Err(pick(TXN_ERRORS))
            }),
            Request::Produce { request, .. } => {
                if outcome != 0 {
                    return Response::Produce(Err(pick(PRODUCE_ERRORS)));
                }
                let o = self.next_offset;
                self.next_offset += i64::from(request.record_count);
                Response::Produce(Ok(o))
            }
            Request::EndTxn { request, .. } => {
                if outcome != 0 {
                    return Response::EndTxn(Err(pick(TXN_ERRORS)));
                }
                if request.transaction_version() != TransactionVersion::Tv2 {
                    Response::EndTxn(Ok(None))
                } else if request.producer_epoch < 32766 {
                    Response::EndTxn(Ok(Some(pe(
                        request.producer_id,
                        request.producer_epoch + 1,
                    ))))
                } else {
                    self.next_pid += 1;
                    Response::EndTxn(Ok(Some(pe(self.next_pid, 0))))
                }
            }
            Request::AddOffsetsToTxn { .. } | Request::TxnOffsetCommit { .. } => {
                unreachable!("the properties never send offsets")
            }
        }
    }
}

/// What the checker has seen so far.
#[derive(Default)]
struct Checker {
    issued: BTreeSet<u64>,
    fates: BTreeMap<u64, usize>,
    /// Batch id -> (pid, epoch, base, count) of its last emission.
    emitted: BTreeMap<u64, (i64, i16, i32, i32)>,
    /// (pid, epoch, partition) -> the sequence after the last first-time emission.
    seq_end: BTreeMap<(i64, i16, TopicPartition), i32>,
    /// (pid, epoch, partition) keys where a batch failed since the last emission.
    freed: BTreeSet<(i64, i16, TopicPartition)>,
    /// Highest epoch seen per producer id.
    epochs: BTreeMap<i64, i16>,
}

impl Checker {
    fn check(
        &mut self,
        before: TransactionState,
        p: &Producer<u32>,
        out: &ProducerOutput<u32>,
        ids: &BTreeMap<RequestId, u64>,
        strict: bool,
    ) -> Result<(), TestCaseError> {
        // State changes are chains of legal transitions.
        let mut cur = before;
        for (from, to) in &out.transitions {
            prop_assert_eq!(*from, cur);
            prop_assert!(from.is_transition_valid(*to), "{} -> {}", from, to);
            cur = *to;
        }
        prop_assert_eq!(cur, p.state());
        if let Some(b) = out.batch {
            prop_assert!(self.issued.insert(b));
        }
        // Fates: each batch acked or failed at most once.
        for e in &out.events {
            let b = match e {
                ProducerEvent::SendAcknowledged { batch, .. } => *batch,
                ProducerEvent::SendFailed { batch, .. } => *batch,
                _ => continue,
            };
            prop_assert!(self.issued.contains(&b), "fate of unknown batch {}", b);
            let n = self.fates.entry(b).or_insert(0);
            *n += 1;
            prop_assert_eq!(*n, 1, "batch {} has two fates", b);
            if let (ProducerEvent::SendFailed { partition, .. }, Some(&(pid, ep, _, _))) =
                (e, self.emitted.get(&b))
            {
                self.freed.insert((pid, ep, partition.clone()));
            }
        }
        // Sequences: contiguous per (pid, epoch, partition); a retry keeps (base, count).
        // (A known-bug switch may break this on purpose.)
        for r in out.sends.iter().filter(|_| strict) {
            if let Request::Produce { id, request } = r {
                let ProduceRequest {
                    partition,
                    producer_id,
                    producer_epoch,
                    base_sequence,
                    record_count,
                    ..
                } = request;
                let batch = ids[id];
                let key = (*producer_id, *producer_epoch, partition.clone());
                let now = (*producer_id, *producer_epoch, *base_sequence, *record_count);
                match self.emitted.get(&batch) {
                    Some(prev) if prev.0 == now.0 && prev.1 == now.1 => {
                        prop_assert_eq!(*prev, now, "a retry keeps its sequence");
                    }
                    _ => {
                        let end = self.seq_end.get(&key).copied().unwrap_or(0);
                        let ok = *base_sequence == end || self.freed.contains(&key);
                        prop_assert!(
                            ok,
                            "batch {} at {:?} starts at {} not {}",
                            batch,
                            key,
                            base_sequence,
                            end
                        );
                        self.seq_end.insert(
                            key.clone(),
                            increment_sequence(*base_sequence, *record_count),
                        );
                        self.freed.remove(&key);
                    }
                }
                self.emitted.insert(batch, now);
            }
        }
        // In flight per partition.
        let max = usize::from(p.config().max_in_flight);
        for (tp, e) in p.partitions() {
            prop_assert!(
                e.in_flight.len() <= max,
                "{} has {} in flight",
                tp,
                e.in_flight.len()
            );
        }
        // One transactional request at a time.
        let txn = p
            .outstanding()
            .values()
            .filter(|o| matches!(o, Outstanding::Txn(_)))
            .count();
        prop_assert!(txn <= 1);
        // Epochs never decrease for one producer id.
        if p.producer_id() >= 0 {
            let e = self
                .epochs
                .entry(p.producer_id())
                .or_insert(p.producer_epoch());
            prop_assert!(p.producer_epoch() >= *e, "epoch went down");
            *e = p.producer_epoch();
        }
        Ok(())
    }
}

fn batch_ids(p: &Producer<u32>) -> BTreeMap<RequestId, u64> {
    p.outstanding()
        .iter()
        .filter_map(|(id, o)| match o {
            Outstanding::Produce(_, b) => Some((*id, *b)),
            _ => None,
        })
        .collect()
}

fn run(
    transactional: bool,
    tv: TransactionVersion,
    max_in_flight: u8,
    high_epoch: bool,
    actions: Vec<Action>,
) -> Result<(), TestCaseError> {
    run_with(
        transactional,
        tv,
        max_in_flight,
        high_epoch,
        ProducerBugs::default(),
        actions,
        true,
        true,
    )
}

#[allow(clippy::too_many_arguments)] // one knob per generated dimension
fn run_with(
    transactional: bool,
    tv: TransactionVersion,
    max_in_flight: u8,
    high_epoch: bool,
    bugs: ProducerBugs,
    actions: Vec<Action>,
    strict: bool,
    bump_support: bool,
) -> Result<(), TestCaseError> {
    let cfg = ProducerConfig {
        transactional_id: transactional.then(|| "t".to_string()),
        transaction_version: tv,
        coordinator_supports_epoch_bump: bump_support,
        max_in_flight,
        bugs,
        ..ProducerConfig::default()
    };
    let mut p: Producer<u32> = Producer::new(cfg).unwrap();
    let mut world = World {
        next_pid: 0,
        high_epoch_start: high_epoch,
        next_offset: 0,
    };
    let mut checker = Checker::default();
    let mut requests: BTreeMap<RequestId, Request<u32>> = BTreeMap::new();
    let mut now = 0i64;
    let step = |p: &mut Producer<u32>,
                a: &Action,
                now: &mut i64,
                requests: &mut BTreeMap<RequestId, Request<u32>>,
                world: &mut World,
                checker: &mut Checker|
     -> Result<(), TestCaseError> {
        let before = p.clone();
        let outstanding: Vec<RequestId> = p.outstanding().keys().copied().collect();
        let res = match a {
            Action::Init => p.init(*now).map_err(|_| ()),
            Action::Begin => p.begin(*now).map_err(|_| ()),
            Action::Send(part, c) => p
                .send(TopicPartition::new("t", *part), *c, 0, *now)
                .map_err(|_| ()),
            Action::Commit => p.commit(*now).map_err(|_| ()),
            Action::Abort => p.abort(*now).map_err(|_| ()),
            Action::Respond(i, o) => {
                if outstanding.is_empty() {
                    return Ok(());
                }
                let id = outstanding[i % outstanding.len()];
                let resp = world.answer(&requests[&id], *o);
                Ok(p.handle_response(id, resp, *now).expect("outstanding"))
            }
            Action::Timeout(i) => {
                if outstanding.is_empty() {
                    return Ok(());
                }
                let id = outstanding[i % outstanding.len()];
                Ok(p.handle_request_timeout(id, *now).expect("outstanding"))
            }
            Action::Advance(ms) => {
                *now += ms;
                return Ok(());
            }
        };
        match res {
            Err(()) => prop_assert_eq!(&before, &*p, "a refused call changes nothing"),
            Ok(out) => {
                for r in &out.sends {
                    requests.insert(r.id(), r.clone());
                }
                let ids = batch_ids(p);
                checker.check(before.state(), p, &out, &ids, strict)?;
            }
        }
        requests.retain(|id, _| p.outstanding().contains_key(id));
        Ok(())
    };
    for a in &actions {
        step(&mut p, a, &mut now, &mut requests, &mut world, &mut checker)?;
    }
    // Quiescence: answer everything with success, complete any transaction.
    for _ in 0..500 {
        if p.outstanding().is_empty() {
            if p.state() == TransactionState::InTransaction {
                step(
                    &mut p,
                    &Action::Commit,
                    &mut now,
                    &mut requests,
                    &mut world,
                    &mut checker,
                )?;
                continue;
            }
            if p.state() == TransactionState::AbortableError {
                step(
                    &mut p,
                    &Action::Abort,
                    &mut now,
                    &mut requests,
                    &mut world,
                    &mut checker,
                )?;
                continue;
            }
            break;
        }
        step(
            &mut p,
            &Action::Respond(0, 0),
            &mut now,
            &mut requests,
            &mut world,
            &mut checker,
        )?;
    }
    prop_assert!(
        p.outstanding().is_empty(),
        "never quiescent: {:?}",
        p.outstanding()
    );
    if p.state() != TransactionState::Uninitialized {
        for b in &checker.issued {
            prop_assert_eq!(
                checker.fates.get(b).copied(),
                Some(1),
                "batch {} has no fate in {:?}",
                b,
                p
            );
        }
    }
    // Transactional requests never leak: nothing waits in the queue at quiescence.
    let _ = TxnRequest::EndTxn(kafka_eos::types::TransactionResult::Commit);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    /// `bump_support` false is a coordinator without InitProducerId v3 (abortable errors
    /// cannot be handled under TV0/TV1: an unresolved expiry is fatal, `docs/producer.md` R-S11).
    #[test]
    fn transactional_producer_invariants(
        tv in prop_oneof![Just(TransactionVersion::Tv1), Just(TransactionVersion::Tv2)],
        mif in 1u8..=5,
        high in any::<bool>(),
        bump_support in any::<bool>(),
        actions in proptest::collection::vec(action(), 0..60),
    ) {
        let mut actions = actions;
        actions.insert(0, Action::Init);
        run_with(true, tv, mif, high, ProducerBugs::default(), actions, true, bump_support)?;
    }

    #[test]
    fn idempotent_producer_invariants(
        mif in 1u8..=5,
        high in any::<bool>(),
        actions in proptest::collection::vec(action(), 0..60),
    ) {
        let mut actions = actions;
        actions.insert(0, Action::Init);
        run(false, TransactionVersion::Tv2, mif, high, actions)?;
    }

    /// With known-bug switches on, the producer still never panics, its transitions stay
    /// legal and no batch gets two fates (the bugs break protocol properties, not these).
    #[test]
    fn producer_with_bugs_never_panics(
        transactional in any::<bool>(),
        tv in prop_oneof![Just(TransactionVersion::Tv1), Just(TransactionVersion::Tv2)],
        mif in 1u8..=5,
        bits in 0u8..64,
        actions in proptest::collection::vec(action(), 0..60),
    ) {
        let bugs = ProducerBugs {
            reset_sequence_on_ambiguous: bits & 1 != 0,
            skip_add_partitions: bits & 2 != 0,
            abort_after_commit_timeout: bits & 4 != 0,
            abort_without_bump_after_timeout: bits & 8 != 0,
            not_leader_is_definite_failure: bits & 16 != 0,
            commit_despite_failed_send: bits & 32 != 0,
        };
        let mut actions = actions;
        actions.insert(0, Action::Init);
        run_with(transactional, tv, mif, false, bugs, actions, false, true)?;
    }
}

/// The sequence property can fail: with M-I3 (`reset_sequence_on_ambiguous`) a transactional
/// batch retried after NOT_LEADER_OR_FOLLOWER gets a new sequence at the same epoch.
#[test]
fn sequence_property_catches_the_reset_on_ambiguous_bug() {
    let actions = vec![
        Action::Init,
        Action::Respond(0, 0),
        Action::Begin,
        Action::Send(0, 1),
        Action::Respond(0, 1), // NOT_LEADER_OR_FOLLOWER
    ];
    let bugs = ProducerBugs {
        reset_sequence_on_ambiguous: true,
        ..ProducerBugs::default()
    };
    assert!(run_with(
        true,
        TransactionVersion::Tv2,
        5,
        false,
        bugs,
        actions.clone(),
        true,
        true
    )
    .is_err());
    assert!(run(true, TransactionVersion::Tv2, 5, false, actions).is_ok());
}
