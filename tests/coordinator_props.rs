//! Property tests of the transaction coordinator: random sequences of requests, marker answers,
//! timeouts, expiry and failovers (both transaction versions, small id/epoch domains, epochs near
//! `i16::MAX`). After every step: no panic, and the coordinator's invariants hold.

use std::collections::{BTreeMap, BTreeSet};

use kafka_eos::coordinator::{
    AddPartitionsToTxnRequest, CoordinatorConfig, CoordinatorOutput, EndTxnRequest,
    InitProducerIdRequest, ProducerIdAndEpoch, TransactionCoordinator, TransactionLogValue,
    TransactionState, WriteTxnMarker, WriteTxnMarkersResponse,
};
use kafka_eos::messages;
use kafka_eos::{
    ErrorCode, TopicPartition, TransactionResult, TransactionVersion, EXHAUSTED_EPOCH,
};
use proptest::prelude::*;

const TIDS: [&str; 3] = ["a", "b", "c"];
const PARTS: [&str; 3] = ["p-0", "p-1", "x-0"];
const FIRST_PRODUCER_ID: i64 = 100;

#[derive(Clone, Copy, Debug)]
enum PidSel {
    Current,
    Previous,
    Next,
    Fixed(i64),
}

#[derive(Clone, Copy, Debug)]
enum EpochSel {
    Current,
    Minus1,
    Plus1,
    Last,
    Fixed(i16),
}

#[derive(Clone, Debug)]
enum Op {
    Init {
        tid: Option<usize>,
        timeout: i32,
        expected: Option<(PidSel, EpochSel)>,
    },
    Add {
        tid: usize,
        pid: PidSel,
        epoch: EpochSel,
        parts: Vec<usize>,
        verify_only: bool,
    },
    End {
        tid: usize,
        pid: PidSel,
        epoch: EpochSel,
        commit: bool,
        tv2: bool,
    },
    Markers {
        tid: usize,
        parts: Option<Vec<usize>>,
        error: Option<ErrorCode>,
        stale: bool,
    },
    Advance(i64),
    AbortTimedOut,
    Expire,
    Failover,
}

#[derive(Clone, Debug)]
struct Seed {
    state: TransactionState,
    epoch: i16,
    parts: Vec<usize>,
}

fn pid_sel() -> impl Strategy<Value = PidSel> {
    prop_oneof![
        6 => Just(PidSel::Current),
        1 => Just(PidSel::Previous),
        1 => Just(PidSel::Next),
        1 => (0i64..4).prop_map(PidSel::Fixed),
    ]
}

fn epoch_sel() -> impl Strategy<Value = EpochSel> {
    prop_oneof![
        6 => Just(EpochSel::Current),
        2 => Just(EpochSel::Minus1),
        1 => Just(EpochSel::Plus1),
        1 => Just(EpochSel::Last),
        1 => prop_oneof![Just(0i16), Just(32765), Just(32766), Just(32767)].prop_map(EpochSel::Fixed),
    ]
}

fn parts() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..PARTS.len(), 0..3)
}

fn marker_error() -> impl Strategy<Value = Option<ErrorCode>> {
    prop_oneof![
        8 => Just(None),
        1 => Just(Some(ErrorCode::NotLeaderOrFollower)),
        1 => Just(Some(ErrorCode::RequestTimedOut)),
        1 => Just(Some(ErrorCode::InvalidProducerEpoch)),
        1 => Just(Some(ErrorCode::TransactionCoordinatorFenced)),
        1 => Just(Some(ErrorCode::UnsupportedVersion)),
        1 => Just(Some(ErrorCode::CorruptMessage)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (
            prop::option::weighted(0.9, 0..TIDS.len()),
            prop_oneof![Just(60_000), Just(500), Just(0), Just(900_001)],
            prop::option::weighted(0.3, (pid_sel(), epoch_sel())),
        )
            .prop_map(|(tid, timeout, expected)| Op::Init { tid, timeout, expected }),
        4 => (0..TIDS.len(), pid_sel(), epoch_sel(), parts(), prop::bool::weighted(0.2))
            .prop_map(|(tid, pid, epoch, parts, verify_only)| Op::Add { tid, pid, epoch, parts, verify_only }),
        4 => (0..TIDS.len(), pid_sel(), epoch_sel(), any::<bool>(), any::<bool>())
            .prop_map(|(tid, pid, epoch, commit, tv2)| Op::End { tid, pid, epoch, commit, tv2 }),
        4 => (0..TIDS.len(), prop::option::weighted(0.4, parts()), marker_error(), prop::bool::weighted(0.1))
            .prop_map(|(tid, parts, error, stale)| Op::Markers { tid, parts, error, stale }),
        2 => prop_oneof![Just(1i64), Just(400), Just(1000), Just(100_000)].prop_map(Op::Advance),
        1 => Just(Op::AbortTimedOut),
        1 => Just(Op::Expire),
        1 => Just(Op::Failover),
    ]
}

fn seed() -> impl Strategy<Value = Option<Seed>> {
    prop::option::weighted(
        0.5,
        (
            prop_oneof![
                Just(TransactionState::Empty),
                Just(TransactionState::Ongoing),
                Just(TransactionState::PrepareCommit),
                Just(TransactionState::PrepareAbort),
                Just(TransactionState::CompleteCommit),
                Just(TransactionState::CompleteAbort),
            ],
            prop_oneof![0i16..3, 32764i16..=32767],
            proptest::collection::vec(0..PARTS.len(), 1..3),
        )
            .prop_map(|(state, epoch, parts)| Seed {
                state,
                epoch,
                parts,
            }),
    )
}

fn partitions(idx: &[usize]) -> BTreeSet<TopicPartition> {
    idx.iter().map(|i| PARTS[*i].parse().unwrap()).collect()
}

/// The checker: the coordinator plus what the properties need to remember.
struct Harness {
    c: TransactionCoordinator,
    clock: i64,
    /// The last record of every id in the transaction log (the durable state).
    log: BTreeMap<String, TransactionLogValue>,
    /// Every (producer id, epoch) a client was told.
    handed: BTreeSet<(i64, i16)>,
    /// Who owns each producer id seen so far.
    owner: BTreeMap<i64, String>,
    idempotent_calls: usize,
    /// Every marker emitted as an output (a pending marker must have been sent).
    sent: BTreeSet<WriteTxnMarker>,
}

impl Harness {
    fn new(tv2: bool, block_size: i64, seeds: &[Option<Seed>]) -> Self {
        let config = CoordinatorConfig {
            transaction_version: if tv2 {
                TransactionVersion::Tv2
            } else {
                TransactionVersion::Tv1
            },
            transaction_max_timeout_ms: 1000,
            transactional_id_expiration_ms: 5000,
            producer_id_block_size: block_size,
            ..CoordinatorConfig::default()
        };
        let mut h = Harness {
            c: TransactionCoordinator::new(config, FIRST_PRODUCER_ID, 0).unwrap(),
            clock: 0,
            log: BTreeMap::new(),
            handed: BTreeSet::new(),
            owner: BTreeMap::new(),
            idempotent_calls: 0,
            sent: BTreeSet::new(),
        };
        for (i, s) in seeds.iter().enumerate() {
            let Some(s) = s else { continue };
            let parts = if matches!(
                s.state,
                TransactionState::Ongoing
                    | TransactionState::PrepareCommit
                    | TransactionState::PrepareAbort
            ) {
                partitions(&s.parts)
            } else {
                BTreeSet::new()
            };
            let pid = i as i64 + 1;
            let v = TransactionLogValue {
                producer_id: pid,
                previous_producer_id: pid,
                next_producer_id: -1,
                producer_epoch: s.epoch,
                last_producer_epoch: -1,
                transaction_timeout_ms: 500,
                state: s.state,
                partitions: parts,
                txn_start_timestamp: 0,
                txn_last_update_timestamp: 0,
                client_transaction_version: h.c.config().transaction_version,
            };
            let out = h.c.load_transaction(TIDS[i], Some(&v), 0).unwrap();
            h.log.insert(TIDS[i].to_string(), v);
            h.apply_log(&out);
        }
        h.check_state();
        h
    }

    fn resolve_pid(&self, tid: &str, sel: PidSel) -> i64 {
        let m = self.c.transaction(tid);
        match sel {
            PidSel::Current => m.map_or(0, |m| m.producer_id),
            PidSel::Previous => m.map_or(0, |m| m.previous_producer_id),
            PidSel::Next => m.map_or(0, |m| m.next_producer_id),
            PidSel::Fixed(p) => p,
        }
    }

    fn resolve_epoch(&self, tid: &str, sel: EpochSel) -> i16 {
        let m = self.c.transaction(tid);
        let cur = m.map_or(0, |m| m.producer_epoch);
        match sel {
            EpochSel::Current => cur,
            EpochSel::Minus1 => cur.saturating_sub(1),
            EpochSel::Plus1 => cur.saturating_add(1),
            EpochSel::Last => m.map_or(0, |m| m.last_producer_epoch),
            EpochSel::Fixed(e) => e,
        }
    }

    /// Checks the log records emitted by a step against the transition table and remembers them.
    fn apply_log(&mut self, out: &[CoordinatorOutput]) {
        for o in out {
            if let CoordinatorOutput::WriteTxnMarker(m) = o {
                self.sent.insert(m.clone());
            }
            if let CoordinatorOutput::AppendTransactionLog {
                transactional_id,
                value,
            } = o
            {
                let prev = self.log.get(transactional_id).map(|v| v.state);
                match value {
                    None => {
                        let prev = prev.expect("a tombstone for an id with no record");
                        assert!(
                            TransactionState::is_valid_transition(prev, TransactionState::Dead),
                            "{transactional_id}: {prev} -> Dead"
                        );
                        self.log.remove(transactional_id);
                    }
                    Some(v) => {
                        match prev {
                            Some(prev) => assert!(
                                TransactionState::is_valid_transition(prev, v.state),
                                "{transactional_id}: illegal logged transition {prev} -> {}",
                                v.state
                            ),
                            None => assert_eq!(
                                v.state,
                                TransactionState::Empty,
                                "first record of {transactional_id}"
                            ),
                        }
                        assert_eq!(v.last_producer_epoch, -1, "the last epoch is not persisted");
                        self.log.insert(transactional_id.clone(), v.clone());
                    }
                }
            }
        }
    }

    fn observe_pid(&mut self, pid: i64, who: &str) {
        if let Some(prev) = self.owner.insert(pid, who.to_string()) {
            assert_eq!(
                prev, who,
                "producer id {pid} handed to both {prev} and {who}"
            );
        }
    }

    fn check_state(&mut self) {
        let ids: Vec<String> = self.c.transactions().keys().cloned().collect();
        for id in &ids {
            let m = self.c.transaction(id).unwrap().clone();
            assert!(
                !matches!(
                    m.state,
                    TransactionState::Dead | TransactionState::PrepareEpochFence
                ),
                "{id} stored in {}",
                m.state
            );
            // The in-memory state is the durable one (appends are synchronous).
            let v = self
                .log
                .get(id)
                .unwrap_or_else(|| panic!("{id} has no log record"));
            assert_eq!(
                (v.state, v.producer_id, v.producer_epoch),
                (m.state, m.producer_id, m.producer_epoch),
                "{id}"
            );
            // Pending markers exist iff the id is in Prepare* with partitions and live markers.
            let markers = self.c.pending_markers(id);
            if m.state.is_prepare() {
                let p = m
                    .pending_completion
                    .expect("a Prepare* entry always has a pending completion");
                assert!(
                    p.markers_abandoned || !m.partitions.is_empty(),
                    "{id}: a live Prepare* without partitions completes at once"
                );
                if p.markers_abandoned {
                    assert!(markers.is_empty());
                } else {
                    let parts: BTreeSet<_> =
                        markers.iter().map(|mk| mk.partition.clone()).collect();
                    assert_eq!(
                        parts, m.partitions,
                        "{id}: one marker per remaining partition"
                    );
                    for mk in &markers {
                        assert!(
                            self.sent.contains(mk),
                            "{id}: pending marker never sent: {mk:?}"
                        );
                    }
                    for mk in &markers {
                        assert_eq!(
                            (mk.producer_id, mk.producer_epoch),
                            (m.producer_id, m.producer_epoch)
                        );
                        assert_eq!(Some(mk.result), m.marker_result());
                    }
                }
            } else {
                assert!(
                    m.pending_completion.is_none(),
                    "{id}: pending completion outside Prepare*"
                );
                assert!(markers.is_empty(), "{id}: markers outside Prepare*");
            }
            if matches!(
                m.state,
                TransactionState::Empty
                    | TransactionState::CompleteCommit
                    | TransactionState::CompleteAbort
            ) {
                assert!(m.partitions.is_empty(), "{id}: partitions in {}", m.state);
            }
            if m.next_producer_id != -1 {
                assert!(
                    m.state.is_prepare(),
                    "{id}: a next producer id outside Prepare*"
                );
                self.observe_pid(m.next_producer_id, id);
            }
            self.observe_pid(m.producer_id, id);
        }
        for id in self.log.keys() {
            assert!(
                self.c.transaction(id).is_some(),
                "{id} logged but not in memory"
            );
        }
    }

    fn step(&mut self, op: &Op) {
        let before = self.c.clone();
        let states_before: BTreeMap<String, TransactionState> = self
            .c
            .transactions()
            .iter()
            .map(|(k, m)| (k.clone(), m.state))
            .collect();
        match op {
            Op::Init {
                tid,
                timeout,
                expected,
            } => {
                let tid = tid.map(|i| TIDS[i]);
                let (pid, epoch) = match (tid, expected) {
                    (Some(t), Some((p, e))) => (self.resolve_pid(t, *p), self.resolve_epoch(t, *e)),
                    (None, Some((PidSel::Fixed(p), EpochSel::Fixed(e)))) => (*p, *e),
                    _ => (-1, -1),
                };
                let req = InitProducerIdRequest {
                    transactional_id: tid.map(str::to_string),
                    transaction_timeout_ms: *timeout,
                    producer_id: pid,
                    producer_epoch: epoch,
                    version: messages::INIT_PRODUCER_ID_VERSION,
                };
                let fresh_instance = pid == -1 && epoch == -1;
                let (r, out) = self.c.handle_init_producer_id(&req, self.clock);
                self.apply_log(&out);
                match r {
                    Ok(ProducerIdAndEpoch {
                        producer_id,
                        producer_epoch,
                    }) => {
                        assert!(
                            (0..=EXHAUSTED_EPOCH).contains(&producer_epoch),
                            "InitProducerId handed epoch {producer_epoch}"
                        );
                        if fresh_instance {
                            assert!(
                                !self.handed.contains(&(producer_id, producer_epoch)),
                                "({producer_id}, {producer_epoch}) handed to two instances"
                            );
                        }
                        self.handed.insert((producer_id, producer_epoch));
                        match tid {
                            None => {
                                assert!(out.is_empty(), "an idempotent producer has no state");
                                self.idempotent_calls += 1;
                                let who = format!("idempotent#{}", self.idempotent_calls);
                                self.observe_pid(producer_id, &who);
                            }
                            Some(t) => assert_eq!(
                                self.c.transaction(t).map(|m| m.state),
                                Some(TransactionState::Empty)
                            ),
                        }
                    }
                    Err(e) => {
                        if out.is_empty() {
                            assert_eq!(
                                self.c, before,
                                "a rejected InitProducerId ({e}) changed state"
                            );
                        } else {
                            // Only the fence answers an error after changing state.
                            assert_eq!(e, ErrorCode::ConcurrentTransactions);
                            let t = tid.unwrap();
                            assert_eq!(states_before.get(t), Some(&TransactionState::Ongoing));
                        }
                    }
                }
            }
            Op::Add {
                tid,
                pid,
                epoch,
                parts,
                verify_only,
            } => {
                let t = TIDS[*tid];
                let req = AddPartitionsToTxnRequest {
                    transactional_id: t.to_string(),
                    producer_id: self.resolve_pid(t, *pid),
                    producer_epoch: self.resolve_epoch(t, *epoch),
                    partitions: partitions(parts),
                    verify_only: *verify_only,
                    version: if *verify_only {
                        messages::ADD_PARTITIONS_TO_TXN_BROKER_VERSION
                    } else {
                        messages::ADD_PARTITIONS_TO_TXN_CLIENT_VERSION
                    },
                };
                let (r, out) = self.c.handle_add_partitions_to_txn(&req, self.clock);
                self.apply_log(&out);
                if r.is_err() || *verify_only {
                    assert!(out.is_empty());
                    assert_eq!(
                        self.c, before,
                        "a rejected or verify-only add changed state"
                    );
                }
            }
            Op::End {
                tid,
                pid,
                epoch,
                commit,
                tv2,
            } => {
                let t = TIDS[*tid];
                let req = EndTxnRequest {
                    transactional_id: t.to_string(),
                    producer_id: self.resolve_pid(t, *pid),
                    producer_epoch: self.resolve_epoch(t, *epoch),
                    result: if *commit {
                        TransactionResult::Commit
                    } else {
                        TransactionResult::Abort
                    },
                    version: if *tv2 {
                        messages::END_TXN_VERSION
                    } else {
                        messages::END_TXN_LAST_BEFORE_TV2_VERSION
                    },
                };
                let (r, out) = self.c.handle_end_txn(&req, self.clock);
                self.apply_log(&out);
                match r {
                    Err(_) => {
                        assert!(out.is_empty());
                        assert_eq!(self.c, before, "a rejected EndTxn changed state");
                    }
                    Ok(resp) => {
                        assert_eq!(resp.is_some(), *tv2, "only TV2 answers an id and epoch");
                        if let Some(p) = resp {
                            self.handed.insert((p.producer_id, p.producer_epoch));
                        }
                    }
                }
            }
            Op::Markers {
                tid,
                parts,
                error,
                stale,
            } => {
                let t = TIDS[*tid];
                let pending = self.c.pending_markers(t);
                let parts = match parts {
                    Some(p) => partitions(p),
                    None => pending.iter().map(|m| m.partition.clone()).collect(),
                };
                let template = markers_answer_template(&self.c, t);
                let resp = match &template {
                    Some(tpl) => WriteTxnMarkersResponse {
                        coordinator_epoch: if *stale {
                            tpl.coordinator_epoch - 1
                        } else {
                            tpl.coordinator_epoch
                        },
                        partitions: parts,
                        error: *error,
                        ..tpl.clone()
                    },
                    None => WriteTxnMarkersResponse {
                        transactional_id: t.to_string(),
                        producer_id: 0,
                        producer_epoch: 0,
                        coordinator_epoch: self.c.coordinator_epoch(),
                        result: TransactionResult::Commit,
                        partitions: parts,
                        error: *error,
                    },
                };
                match self.c.handle_write_txn_markers_response(&resp) {
                    Ok(out) => {
                        self.apply_log(&out);
                        if *stale || template.is_none() {
                            assert!(out.is_empty());
                            assert_eq!(
                                self.c, before,
                                "a marker answer for no pending marker changed state"
                            );
                        }
                        if template.is_some() && pending.is_empty() {
                            // Dropped markers: never completed, never re-sent.
                            assert!(out.is_empty(), "dropped markers produced outputs");
                        }
                    }
                    Err(_) => {
                        assert_eq!(*error, Some(ErrorCode::CorruptMessage));
                        assert_eq!(self.c, before);
                    }
                }
            }
            Op::Advance(ms) => self.clock += ms,
            Op::AbortTimedOut => {
                let (aborted, out) = self.c.abort_timed_out_transactions(self.clock);
                self.apply_log(&out);
                for id in &aborted {
                    assert_eq!(states_before.get(id), Some(&TransactionState::Ongoing));
                    assert!(
                        self.c.transaction(id).unwrap().state.is_prepare()
                            || self.c.transaction(id).unwrap().state.is_complete()
                    );
                }
            }
            Op::Expire => {
                let (expired, out) = self.c.expire_transactional_ids(self.clock);
                self.apply_log(&out);
                for id in &expired {
                    let s = states_before[id];
                    assert!(s.is_expiration_allowed(), "{id} expired in {s}");
                    assert!(self.c.transaction(id).is_none());
                }
            }
            Op::Failover => {
                let epoch = self.c.coordinator_epoch() + 1;
                self.c.become_coordinator(epoch).unwrap();
                let log = self.log.clone();
                for (id, v) in &log {
                    let out = self.c.load_transaction(id, Some(v), self.clock).unwrap();
                    self.apply_log(&out);
                }
                for id in self.c.transactions().keys() {
                    for mk in self.c.pending_markers(id) {
                        assert_eq!(
                            mk.coordinator_epoch, epoch,
                            "resumed markers carry the new coordinator epoch"
                        );
                    }
                }
            }
        }
        self.check_state();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random request sequences never panic, and after every step: only legal states are held,
    /// every logged state change is a legal transition, memory equals the durable log, pending
    /// markers exist exactly for Prepare* entries with partitions, InitProducerId never hands an
    /// epoch above 32766 nor the same (pid, epoch) to two instances, a producer id is never handed
    /// to two owners, Ongoing/Prepare* never expire, and a rejected request changes nothing.
    #[test]
    fn coordinator_invariants_hold_after_every_step(
        tv2 in any::<bool>(),
        block_size in 1i64..4,
        seeds in proptest::collection::vec(seed(), 3),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let mut h = Harness::new(tv2, block_size, &seeds);
        for op in &ops {
            h.step(op);
        }
    }

    /// Completing everything that can complete leaves no pending marker behind (liveness probe):
    /// after acknowledging all markers, no entry is left in Prepare* unless its markers were dropped.
    #[test]
    fn acknowledging_all_markers_completes_every_live_prepare(
        tv2 in any::<bool>(),
        seeds in proptest::collection::vec(seed(), 3),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let mut h = Harness::new(tv2, 2, &seeds);
        for op in &ops {
            h.step(op);
        }
        for t in TIDS {
            h.step(&Op::Markers { tid: TIDS.iter().position(|x| *x == t).unwrap(), parts: None, error: None, stale: false });
        }
        for (id, m) in h.c.transactions() {
            if m.state.is_prepare() {
                prop_assert!(m.pending_completion.unwrap().markers_abandoned, "{} stuck in {}", id, m.state);
            }
        }
    }
}

/// The answer a leader would echo for `tid`'s current markers (in flight or dropped): their
/// producer id, epoch, coordinator epoch and result; `None` without a pending completion.
fn markers_answer_template(
    c: &TransactionCoordinator,
    tid: &str,
) -> Option<WriteTxnMarkersResponse> {
    let m = c.transaction(tid)?;
    Some(WriteTxnMarkersResponse {
        transactional_id: tid.to_string(),
        producer_id: m.producer_id,
        producer_epoch: m.producer_epoch,
        coordinator_epoch: m.pending_completion?.coordinator_epoch,
        result: m.marker_result()?,
        partitions: BTreeSet::new(),
        error: None,
    })
}
