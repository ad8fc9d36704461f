//! End-to-end exactly-once: the consume–transform–produce processor and the group coordinator
//! as stateright actors, and the properties of the `processor` scenarios.
//!
//! A processor instance is an application around two core clients, a
//! [`Consumer`] of the input partition `t-0` (group [`PROCESSOR_GROUP`]) and a transactional
//! [`Producer`] writing to the output partition `t-1`: it joins the group, initialises its
//! producer, takes its position from the committed offset (OffsetFetch with `require_stable`),
//! fetches the input at read_committed, and for the records of each fetch begins a
//! transaction, produces one output record per input record (the same record id), sends its
//! input offset to the transaction (`sendOffsetsToTransaction` with the consumer's group
//! metadata, KIP-447) and commits. A restarted instance (`delayed_start`) is a new consumer and
//! producer: it rejoins the group, which moves the generation, and initialises the producer
//! (with the same transactional id, which fences the old one's epoch), while the old instance
//! lives on as a zombie. The group actor wraps the core's [`GroupCoordinator`] (one
//! `__consumer_offsets` partition): JoinGroup (the outcome of a rebalance,
//! [`GroupCoordinator::complete_rebalance`]), OffsetFetch, OffsetCommit, TxnOffsetCommit (with
//! the KIP-890 verification round trip to the transaction coordinator, as a partition leader
//! does for a produce) and the transaction coordinator's markers.
//!
//! The actors only route: every answer comes from the core. The model-only parts are the
//! application's script, the connections (as in [`super::actors`]) and the ghost fields the
//! properties read.

use std::collections::{BTreeMap, BTreeSet};

use kafka_eos::consumer::{
    Consumer, ConsumerConfig, ConsumerEvent, ConsumerOutput, ConsumerRequest, ConsumerResponse,
    Generation,
};
use kafka_eos::coordinator::TransactionState;
use kafka_eos::error::ErrorCode;
use kafka_eos::group::{
    txn_offset_commit_verification_error, ClassicGroupMember, GroupCoordinator,
    GroupCoordinatorConfig, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kafka_eos::producer::{
    Producer, ProducerConfig, ProducerEvent, ProducerOutput, Request, RequestId, Response,
    TransactionState as ClientState,
};
use kafka_eos::types::{Offset, ProducerId, TransactionResult};
use serde::{Deserialize, Serialize};
use stateright::actor::{Id, Out};

use super::actors::{
    topic_partition, Arrival, ClientConn, Conn, EosActor, HashCache, Msg, Rec, Timer,
};
use super::properties::{AlwaysProperty, Condition};
use super::scenario::{OffsetsMode, ProcessorScript, Scenario, PROCESSOR_GROUP};
use super::{coordinator, partitions, EosModel, EosState};

/// The input partition's index (`t-0`).
pub const INPUT: u8 = 0;
/// The output partition's index (`t-1`).
pub const OUTPUT: u8 = 1;
/// The consumer's connections are numbered from here, so that a server tells them from the
/// producer's connections of the same actor (Kafka's consumer and producer are two clients).
pub const CONSUMER_INCARNATION: u8 = 100;
/// An output record's id: its input record's id plus this times the instance's number (the
/// transform tags its output with the instance, so that two instances' outputs of one input
/// are different records: a producer-level duplicate (S1) is one instance writing twice).
pub const OUTPUT_TAG: Rec = 16;

/// The input record an output record stands for.
pub fn input_of(output: Rec) -> Rec {
    output % OUTPUT_TAG
}

/// The generation of the group the scenario starts with: the first rebalance handed `t-0` to
/// the processors that start at once.
pub const FIRST_GENERATION: i32 = 1;

/// Processors' `now`: constant, as the producers'.
const NOW: i64 = 0;

/// A TxnOffsetCommit held while the transaction coordinator verifies the offsets partition
/// (KIP-890), with the processor and request id to answer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HeldOffsetCommit {
    /// The processor actor to answer.
    pub processor: Id,
    /// The producer's request id.
    pub id: RequestId,
    /// The request's place on the producer's connection.
    pub conn: Conn,
    /// The request.
    pub request: TxnOffsetCommitRequest,
}

/// Probe and ghost bits the group actor records.
pub mod gflag {
    /// An OffsetFetch was answered UNSTABLE_OFFSET_COMMIT.
    pub const UNSTABLE: u8 = 1;
    /// A TxnOffsetCommit was fenced by generation or membership (KIP-447).
    pub const GENERATION_FENCED: u8 = 2;
    /// Ghost (E3): offsets a member outside the group's current generation committed in its
    /// transaction became committed.
    pub const ZOMBIE_COMMITTED: u8 = 4;
}

/// The group coordinator actor's state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupActorState {
    /// The core group coordinator.
    pub core: GroupCoordinator,
    /// The verification connection to the transaction coordinator.
    pub verify_conn: ClientConn,
    /// The processors' and the transaction coordinator's connections to this broker.
    pub served: super::actors::ServedConns,
    /// Probe and ghost bits ([`gflag`]).
    pub flags: u8,
    /// Ghost (E3): producer ids whose pending offsets came from a member outside the group's
    /// generation at the time (accepted only without generation fencing).
    pub zombie_pending: BTreeSet<ProducerId>,
    /// This state's hash, once computed ([`HashCache`]).
    pub hash_cache: HashCache,
}

/// The group coordinator actor.
#[derive(Clone, Debug)]
pub struct GroupActor {
    /// Configuration.
    pub config: GroupCoordinatorConfig,
    /// The transaction coordinator (KIP-890 verification of TxnOffsetCommit).
    pub coordinator: Id,
    /// Whether TxnOffsetCommit is verified (`transaction.partition.verification.enable`).
    pub verification: bool,
    /// The members of the first generation (the processors that start at once).
    pub initial_members: Vec<String>,
    /// Kafka's connection semantics.
    pub connections: bool,
}

/// Where a processor's application is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProcPhase {
    /// Not started (the restarted instance, before its timer).
    NotStarted,
    /// Joining the group and initialising the producer, or waiting for the position.
    Starting,
    /// A fetch is out.
    Fetching,
    /// A transaction is open or being committed.
    InTransaction,
    /// The transaction committed; the plain OffsetCommit is out
    /// ([`OffsetsMode::AfterCommit`]).
    CommittingOffsets,
    /// Finished: every input record processed, or stopped by fencing or an error.
    Done,
}

/// A processor actor's state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessorActorState {
    /// The core consumer.
    pub consumer: Consumer,
    /// The core producer.
    pub producer: Producer<Rec>,
    /// Where the application is.
    pub phase: ProcPhase,
    /// The producer is initialised (`initTransactions()` returned).
    pub initialized: bool,
    /// The input position the current transaction commits.
    pub commit_position: Option<Offset>,
    /// The producer's connections: to the partition leaders (by index), the transaction
    /// coordinator, the group coordinator.
    pub pconns: Vec<ClientConn>,
    /// The consumer's connections: to the partition leaders (by index), the group coordinator.
    pub cconns: Vec<ClientConn>,
    /// Requests sent (the request budget).
    pub sent: u8,
    /// Ghost: the instance processed every input record and committed it.
    pub completed: bool,
    /// This state's hash, once computed ([`HashCache`]).
    pub hash_cache: HashCache,
}

/// A processor actor.
#[derive(Clone, Debug)]
pub struct ProcessorActor {
    /// Index (0 = `processor-1`).
    pub index: usize,
    /// The producer's configuration.
    pub producer_config: ProducerConfig,
    /// The consumer's configuration.
    pub consumer_config: ConsumerConfig,
    /// The script.
    pub script: ProcessorScript,
    /// Where offsets are committed.
    pub offsets: OffsetsMode,
    /// Records in the input partition.
    pub input_records: u8,
    /// Partition actors by partition index.
    pub partitions: Vec<Id>,
    /// The transaction coordinator.
    pub coordinator: Id,
    /// The group coordinator.
    pub group: Id,
    /// Kafka's connection semantics.
    pub connections: bool,
}

/// Work the application reacts to.
enum Work {
    Producer(ProducerOutput<Rec>),
    Consumer(ConsumerOutput<Rec>),
    /// `initTransactions()` returned: join the group.
    Join,
}

impl ProcessorActor {
    /// The actor of processor `index` of a scenario.
    pub fn of(s: &Scenario, index: usize, partitions: Vec<Id>, coordinator: Id, group: Id) -> Self {
        ProcessorActor {
            index,
            producer_config: s.processor_producer_config(index),
            consumer_config: s.consumer_config(),
            script: s.processors.get(index).cloned().unwrap_or(ProcessorScript {
                transactional_id: "",
                delayed_start: false,
                offsets: OffsetsMode::InTransaction,
            }),
            offsets: s.offsets_mode(index),
            input_records: s.input_records,
            partitions,
            coordinator,
            group,
            connections: s.network == super::scenario::NetworkKind::Kafka,
        }
    }

    /// The member id this instance joins with.
    pub fn member_id(&self) -> String {
        format!("member-{}", self.index + 1)
    }

    /// The initial state.
    pub fn start(&self, o: &mut Out<EosActor>) -> ProcessorActorState {
        let producer = Producer::new(self.producer_config.clone())
            .unwrap_or_else(|e| panic!("invalid producer configuration: {e}"));
        let consumer_conn = ClientConn {
            incarnation: CONSUMER_INCARNATION,
            ..ClientConn::default()
        };
        let mut s = ProcessorActorState {
            consumer: Consumer::new(self.consumer_config.clone()),
            producer,
            phase: ProcPhase::NotStarted,
            initialized: false,
            commit_position: None,
            pconns: vec![ClientConn::default(); self.partitions.len() + 2],
            cconns: vec![consumer_conn; self.partitions.len() + 1],
            sent: 0,
            completed: false,
            hash_cache: HashCache::default(),
        };
        if self.script.delayed_start {
            o.set_timer(Timer::Start, stateright::actor::model_timeout());
        } else {
            self.boot(&mut s, o);
        }
        s
    }

    /// The instance starts as an exactly-once application does: `initTransactions()` first
    /// (it blocks), then the consumer joins the group (`join`).
    pub fn boot(&self, s: &mut ProcessorActorState, o: &mut Out<EosActor>) {
        s.phase = ProcPhase::Starting;
        if let Ok(out) = s.producer.init(NOW) {
            self.run(s, Work::Producer(out), o);
        }
    }

    /// After `initTransactions()`: a processor that starts at once is a member of the group
    /// the scenario starts with (assigned t-0 in [`FIRST_GENERATION`]); the restarted instance
    /// sends JoinGroup.
    fn join(&self, s: &mut ProcessorActorState, o: &mut Out<EosActor>) {
        if !self.script.delayed_start {
            self.assigned(s, FIRST_GENERATION, o);
            return;
        }
        let i = self.partitions.len();
        self.send_consumer_msg(
            s,
            i,
            self.group,
            Msg::JoinGroup {
                member_id: self.member_id(),
            },
            o,
        );
    }

    /// The rebalance handed `t-0` to this member in `generation_id`.
    fn assigned(&self, s: &mut ProcessorActorState, generation_id: i32, o: &mut Out<EosActor>) {
        let generation = Generation {
            generation_id,
            member_id: self.member_id(),
        };
        if let Ok(out) =
            s.consumer
                .assign(generation, BTreeSet::from([topic_partition(INPUT)]), NOW)
        {
            self.run(s, Work::Consumer(out), o);
        }
    }

    fn send_consumer_msg(
        &self,
        s: &mut ProcessorActorState,
        i: usize,
        dst: Id,
        body: Msg,
        o: &mut Out<EosActor>,
    ) {
        s.sent = s.sent.saturating_add(1);
        let conn = match s.cconns.get_mut(i) {
            Some(c) if self.connections => c.next_request(),
            _ => Conn::default(),
        };
        o.send(dst, Msg::on(self.connections, conn, body));
    }

    /// Whether a response from `src` is the next one to read on its connection (the consumer's
    /// connections for consumer answers, the producer's for producer answers).
    pub fn accepts(&self, s: &ProcessorActorState, src: Id, msg: &Msg) -> bool {
        if !self.connections {
            return true;
        }
        let consumer = matches!(
            msg.body(),
            Msg::ConsumerResponse { .. } | Msg::JoinGroupResponse { .. }
        );
        let (conns, i) = if consumer {
            let i = if src == self.group {
                Some(self.partitions.len())
            } else {
                self.partitions.iter().position(|p| *p == src)
            };
            (&s.cconns, i)
        } else {
            let i = if src == self.coordinator {
                Some(self.partitions.len())
            } else if src == self.group {
                Some(self.partitions.len() + 1)
            } else {
                self.partitions.iter().position(|p| *p == src)
            };
            (&s.pconns, i)
        };
        i.and_then(|i| conns.get(i))
            .is_some_and(|c| c.classify(msg.conn()) == Arrival::Next)
    }

    /// A delivery to the processor; returns whether the state changed.
    pub fn on_msg(
        &self,
        s: &mut ProcessorActorState,
        src: Id,
        msg: Msg,
        o: &mut Out<EosActor>,
    ) -> bool {
        let (_, msg) = msg.unframed();
        let mark = |conns: &mut Vec<ClientConn>, i: Option<usize>| {
            if let Some(c) = i.and_then(|i| conns.get_mut(i)) {
                c.answered = c.answered.wrapping_add(1);
            }
        };
        let group_c = Some(self.partitions.len());
        let from_partition = self.partitions.iter().position(|p| *p == src);
        match msg {
            Msg::JoinGroupResponse { generation_id } => {
                mark(&mut s.cconns, group_c);
                self.assigned(s, generation_id, o);
                true
            }
            Msg::ConsumerResponse { id, response } => {
                mark(
                    &mut s.cconns,
                    if src == self.group {
                        group_c
                    } else {
                        from_partition
                    },
                );
                match s.consumer.handle_response(id, response, NOW) {
                    Ok(out) => self.run(s, Work::Consumer(out), o),
                    Err(_) => return self.connections,
                }
                true
            }
            Msg::Response { id, response } => {
                let i = if src == self.coordinator {
                    group_c
                } else if src == self.group {
                    Some(self.partitions.len() + 1)
                } else {
                    from_partition
                };
                mark(&mut s.pconns, i);
                match s.producer.handle_response(id, response, NOW) {
                    Ok(out) => self.run(s, Work::Producer(out), o),
                    Err(_) => return self.connections,
                }
                true
            }
            _ => false,
        }
    }

    /// Sends what the cores return and lets the application react to their events.
    fn run(&self, s: &mut ProcessorActorState, first: Work, o: &mut Out<EosActor>) {
        let mut pending = vec![first];
        while let Some(work) = pending.pop() {
            match work {
                Work::Producer(out) => {
                    for request in out.sends {
                        self.send_producer_request(s, request, o);
                    }
                    for event in out.events {
                        pending.extend(self.on_producer_event(s, event));
                    }
                }
                Work::Consumer(out) => {
                    for request in out.sends {
                        self.send_consumer_request(s, request, o);
                    }
                    for event in out.events {
                        pending.extend(self.on_consumer_event(s, event));
                    }
                }
                Work::Join => self.join(s, o),
            }
        }
    }

    fn send_producer_request(
        &self,
        s: &mut ProcessorActorState,
        request: Request<Rec>,
        o: &mut Out<EosActor>,
    ) {
        s.sent = s.sent.saturating_add(1);
        let np = self.partitions.len();
        let (i, dst, body) = match request {
            Request::Produce { id, request } => {
                let Some(i) = usize::try_from(request.partition.partition)
                    .ok()
                    .filter(|i| *i < np)
                else {
                    return;
                };
                let Some(dst) = self.partitions.get(i).copied() else {
                    return;
                };
                (i, dst, Msg::Produce { id, request })
            }
            request @ Request::TxnOffsetCommit { .. } => {
                (np + 1, self.group, Msg::TxnRequest(request))
            }
            request => (np, self.coordinator, Msg::TxnRequest(request)),
        };
        let conn = match s.pconns.get_mut(i) {
            Some(c) if self.connections => c.next_request(),
            _ => Conn::default(),
        };
        o.send(dst, Msg::on(self.connections, conn, body));
    }

    fn send_consumer_request(
        &self,
        s: &mut ProcessorActorState,
        request: ConsumerRequest,
        o: &mut Out<EosActor>,
    ) {
        let np = self.partitions.len();
        let (i, dst) = match &request {
            ConsumerRequest::Fetch { request: f, .. } => {
                let Some(i) = usize::try_from(f.partition.partition)
                    .ok()
                    .filter(|i| *i < np)
                else {
                    return;
                };
                let Some(dst) = self.partitions.get(i).copied() else {
                    return;
                };
                (i, dst)
            }
            _ => (np, self.group),
        };
        self.send_consumer_msg(s, i, dst, Msg::Consumer(request), o);
    }

    /// Once the producer is initialised and the position known: fetch, or finish when the
    /// position is at the input's end.
    fn next_step(&self, s: &mut ProcessorActorState) -> Option<Work> {
        if !s.initialized {
            return None;
        }
        let position = s.consumer.position(&topic_partition(INPUT))?;
        if position >= Offset::from(self.input_records) {
            s.phase = ProcPhase::Done;
            s.completed = true;
            return None;
        }
        s.phase = ProcPhase::Fetching;
        Some(Work::Consumer(s.consumer.poll(NOW)))
    }

    /// The records of one fetch: one transaction with an output record per input record and
    /// the input position as its offset (or, [`OffsetsMode::AfterCommit`], committed after).
    fn process(&self, s: &mut ProcessorActorState, records: Vec<(Offset, Rec)>) -> Option<Work> {
        let position = s.consumer.position(&topic_partition(INPUT))?;
        let mut merged = ProducerOutput::default();
        match s.producer.begin(NOW) {
            Ok(out) => merge(&mut merged, out),
            Err(_) => {
                s.phase = ProcPhase::Done;
                return None;
            }
        }
        s.phase = ProcPhase::InTransaction;
        s.commit_position = Some(position);
        let tag = OUTPUT_TAG.saturating_mul(u8::try_from(self.index + 1).unwrap_or(u8::MAX));
        for (_, rec) in records {
            let output = rec.saturating_add(tag);
            if let Ok(out) = s.producer.send(topic_partition(OUTPUT), 1, output, NOW) {
                merge(&mut merged, out);
            }
        }
        if self.offsets == OffsetsMode::InTransaction {
            let offsets = BTreeMap::from([(topic_partition(INPUT), position)]);
            if let Ok(out) =
                s.producer
                    .send_offsets_to_transaction(offsets, s.consumer.group_metadata(), NOW)
            {
                merge(&mut merged, out);
            }
        }
        if let Ok(out) = s.producer.commit(NOW) {
            merge(&mut merged, out);
        }
        Some(Work::Producer(merged))
    }

    fn on_consumer_event(
        &self,
        s: &mut ProcessorActorState,
        event: ConsumerEvent<Rec>,
    ) -> Option<Work> {
        match event {
            ConsumerEvent::PositionInitialized { .. } if s.phase == ProcPhase::Starting => {
                self.next_step(s)
            }
            ConsumerEvent::Records { records, .. } if s.phase == ProcPhase::Fetching => {
                self.process(s, records)
            }
            ConsumerEvent::OffsetsCommitted { .. } if s.phase == ProcPhase::CommittingOffsets => {
                self.next_step(s)
            }
            ConsumerEvent::CommitFailed { .. } | ConsumerEvent::Error { .. } => {
                s.phase = ProcPhase::Done;
                None
            }
            _ => None,
        }
    }

    fn on_producer_event(&self, s: &mut ProcessorActorState, event: ProducerEvent) -> Option<Work> {
        match event {
            ProducerEvent::Initialized { .. } if !s.initialized => {
                s.initialized = true;
                Some(Work::Join)
            }
            ProducerEvent::TransactionCommitted if s.phase == ProcPhase::InTransaction => {
                match (self.offsets, s.commit_position) {
                    (OffsetsMode::AfterCommit, Some(position)) => {
                        s.phase = ProcPhase::CommittingOffsets;
                        let offsets = BTreeMap::from([(topic_partition(INPUT), position)]);
                        s.consumer
                            .commit_sync(offsets, NOW)
                            .ok()
                            .map(Work::Consumer)
                    }
                    _ => self.next_step(s),
                }
            }
            // The instance lost its input (fenced, or its transaction aborted): it stops, as a
            // processor whose partitions were revoked.
            ProducerEvent::TransactionAborted => {
                s.phase = ProcPhase::Done;
                None
            }
            ProducerEvent::Error(_) | ProducerEvent::EpochBumped { .. } => {
                match s.producer.state() {
                    ClientState::AbortableError => s.producer.abort(NOW).ok().map(Work::Producer),
                    ClientState::FatalError => {
                        s.phase = ProcPhase::Done;
                        None
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

fn merge(into: &mut ProducerOutput<Rec>, out: ProducerOutput<Rec>) {
    into.sends.extend(out.sends);
    into.events.extend(out.events);
    into.transitions.extend(out.transitions);
}

impl GroupActor {
    /// The initial state: the group after its first rebalance ([`FIRST_GENERATION`]) with the
    /// processors that start at once.
    pub fn start(&self) -> GroupActorState {
        let mut core = GroupCoordinator::new(self.config.clone());
        if !self.initial_members.is_empty() {
            let members = self
                .initial_members
                .iter()
                .map(|m| (m.clone(), ClassicGroupMember::default()))
                .collect();
            let _ = core.complete_rebalance(PROCESSOR_GROUP, "consumer", members, NOW);
        }
        GroupActorState {
            core,
            verify_conn: ClientConn::default(),
            served: super::actors::ServedConns::default(),
            flags: 0,
            zombie_pending: BTreeSet::new(),
            hash_cache: HashCache::default(),
        }
    }

    /// Whether the group coordinator takes `msg` now (the next request of its connection, the
    /// next answer of the verification connection).
    pub fn accepts(&self, s: &GroupActorState, src: Id, msg: &Msg) -> bool {
        if !self.connections {
            return true;
        }
        match msg.body() {
            Msg::JoinGroup { .. }
            | Msg::Consumer(_)
            | Msg::TxnRequest(Request::TxnOffsetCommit { .. })
            | Msg::WriteTxnMarker(_) => s.served.is_next(src, msg.conn()),
            Msg::OffsetsVerifyResponse { .. } => {
                s.verify_conn.classify(msg.conn()) == Arrival::Next
            }
            _ => false,
        }
    }

    fn respond(
        &self,
        s: &mut GroupActorState,
        to: Id,
        conn: Conn,
        body: Msg,
        o: &mut Out<EosActor>,
    ) {
        if self.connections {
            s.served.answered(to, conn);
        }
        o.send(to, Msg::on(self.connections, conn, body));
    }

    /// A delivery to the group coordinator; returns whether the state changed.
    pub fn on_msg(
        &self,
        s: &mut GroupActorState,
        src: Id,
        msg: Msg,
        o: &mut Out<EosActor>,
    ) -> bool {
        let (conn, msg) = msg.unframed();
        match msg {
            Msg::JoinGroup { member_id } => {
                let members = BTreeMap::from([(member_id, ClassicGroupMember::default())]);
                let Ok((generation_id, _)) =
                    s.core
                        .complete_rebalance(PROCESSOR_GROUP, "consumer", members, NOW)
                else {
                    return false;
                };
                self.respond(s, src, conn, Msg::JoinGroupResponse { generation_id }, o);
                true
            }
            Msg::Consumer(ConsumerRequest::OffsetFetch { id, request }) => {
                let Ok(answer) = s.core.handle_offset_fetch(&request) else {
                    return false;
                };
                if answer
                    .partitions
                    .values()
                    .any(|r| *r == Err(ErrorCode::UnstableOffsetCommit))
                {
                    s.flags |= gflag::UNSTABLE;
                }
                let response = ConsumerResponse::OffsetFetch(answer);
                self.respond(s, src, conn, Msg::ConsumerResponse { id, response }, o);
                true
            }
            Msg::Consumer(ConsumerRequest::OffsetCommit { id, request }) => {
                let Ok((answer, _)) = s.core.handle_offset_commit(&request, NOW) else {
                    return false;
                };
                let response = ConsumerResponse::OffsetCommit(answer);
                self.respond(s, src, conn, Msg::ConsumerResponse { id, response }, o);
                true
            }
            Msg::TxnRequest(Request::TxnOffsetCommit { id, request }) => {
                let held = HeldOffsetCommit {
                    processor: src,
                    id,
                    conn,
                    request,
                };
                if self.verification {
                    // The processor's connection stays busy until the answer.
                    let verify = if self.connections {
                        s.verify_conn.next_request()
                    } else {
                        Conn::default()
                    };
                    let request = s.core.verification_request(&held.request);
                    o.send(
                        self.coordinator,
                        Msg::on(
                            self.connections,
                            verify,
                            Msg::OffsetsVerify {
                                request,
                                held: Box::new(held),
                            },
                        ),
                    );
                    true
                } else {
                    self.commit(s, held, Ok(()), o)
                }
            }
            Msg::OffsetsVerifyResponse { result, held } => {
                if self.connections {
                    s.verify_conn.answered = s.verify_conn.answered.wrapping_add(1);
                }
                self.commit(s, *held, result, o)
            }
            Msg::WriteTxnMarker(marker) => {
                let pid = marker.producer_id;
                let had_pending = s.core.pending_offsets(pid).is_some();
                let (response, _) = s.core.handle_write_txn_marker(&marker, NOW);
                if response.error.is_none() {
                    if marker.result == TransactionResult::Commit
                        && had_pending
                        && s.zombie_pending.contains(&pid)
                    {
                        s.flags |= gflag::ZOMBIE_COMMITTED;
                    }
                    if s.core.pending_offsets(pid).is_none() {
                        s.zombie_pending.remove(&pid);
                    }
                }
                self.respond(s, src, conn, Msg::WriteTxnMarkerResponse(response), o);
                true
            }
            _ => false,
        }
    }

    /// The TxnOffsetCommit after its verification: the core's answer (a failed verification is
    /// answered on every partition, `txn_offset_commit_verification_error`).
    fn commit(
        &self,
        s: &mut GroupActorState,
        held: HeldOffsetCommit,
        verified: Result<(), ErrorCode>,
        o: &mut Out<EosActor>,
    ) -> bool {
        let request = &held.request;
        let answer = match verified {
            Err(e) => TxnOffsetCommitResponse::all(
                request.offsets.keys(),
                Err(txn_offset_commit_verification_error(e, request.version)),
            ),
            Ok(()) => {
                // Ghost (E3): does the request come from outside the group's generation?
                let outside = s.core.group(&request.group_id).is_some_and(|g| {
                    request.generation_id >= 0
                        && (g.generation_id != request.generation_id
                            || !g.has_member(&request.member_id))
                });
                let Ok((answer, _)) = s.core.handle_txn_offset_commit(request, NOW) else {
                    return false;
                };
                let errors = answer.errors();
                if errors.is_empty() && outside {
                    s.zombie_pending.insert(request.producer_id);
                }
                if errors.values().any(|e| {
                    matches!(
                        e,
                        ErrorCode::IllegalGeneration
                            | ErrorCode::UnknownMemberId
                            | ErrorCode::FencedInstanceId
                    )
                }) {
                    s.flags |= gflag::GENERATION_FENCED;
                }
                answer
            }
        };
        let response = Response::TxnOffsetCommit(answer);
        self.respond(
            s,
            held.processor,
            held.conn,
            Msg::Response {
                id: held.id,
                response,
            },
            o,
        );
        true
    }
}

// ------------------------------------------------------------------ projections

/// The processor actors' states, by index.
pub fn processors(s: &EosState) -> super::Few<'_, ProcessorActorState> {
    s.actor_states
        .iter()
        .filter_map(|a| match &**a {
            super::actors::ActorState::Processor(p) => Some(&**p),
            _ => None,
        })
        .collect()
}

/// The group coordinator actor's state.
pub fn group(s: &EosState) -> Option<&GroupActorState> {
    s.actor_states.iter().find_map(|a| match &**a {
        super::actors::ActorState::Group(g) => Some(&**g),
        _ => None,
    })
}

// ------------------------------------------------------------------ properties

/// E1.
pub const E1: &str = "E1 input processed exactly once";
/// E2.
pub const E2: &str = "E2 offsets move with outputs";
/// E3.
pub const E3: &str = "E3 zombie offsets never commit";
/// E4.
pub const E4: &str = "E4 offsets pending only in an open transaction";

/// The processor probes.
pub mod probe {
    /// A require_stable OffsetFetch was answered UNSTABLE_OFFSET_COMMIT.
    pub const UNSTABLE: &str = "probe: require_stable answered UNSTABLE_OFFSET_COMMIT";
    /// A zombie's TxnOffsetCommit was fenced by generation or membership (KIP-447).
    pub const GENERATION_FENCED: &str = "probe: zombie offsets fenced by generation";
    /// A processor processed and committed every input record.
    pub const COMPLETED: &str = "probe: a processor processed the whole input";
}

/// The output partition's read_committed view: per input record, how many times its output
/// is visible.
fn output_counts(s: &EosState) -> BTreeMap<Rec, usize> {
    let mut counts = BTreeMap::new();
    if let Some(p) = partitions(s).get(usize::from(OUTPUT)) {
        for &(_, rec) in p.read_committed() {
            *counts.entry(input_of(rec)).or_insert(0) += 1;
        }
    }
    counts
}

/// The input records whose output sits in a committed transaction on the output partition
/// (a COMMIT marker of its producer id follows it), visible or still behind the LSO.
fn committed_outputs(s: &EosState) -> BTreeSet<Rec> {
    partitions(s)
        .get(usize::from(OUTPUT))
        .map(|p| {
            p.entries()
                .iter()
                .filter(|d| d.outcome == Some(TransactionResult::Commit))
                .map(|d| input_of(d.rec))
                .collect()
        })
        .unwrap_or_default()
}

/// The group's committed input offset (0 when none).
fn committed_input(s: &EosState) -> Offset {
    group(s)
        .and_then(|g| {
            g.core
                .committed_offset(PROCESSOR_GROUP, &topic_partition(INPUT))
                .map(|o| o.committed_offset)
        })
        .unwrap_or(0)
}

/// Whether some processor completed the input and nothing is in flight any more.
fn settled_after_completion(m: &EosModel, s: &EosState) -> bool {
    processors(s).iter().any(|p| p.completed)
        && processors(s).iter().all(|p| p.phase == ProcPhase::Done)
        && super::properties::quiescent(m, s)
}

/// E1: no input record's output is visible to a read_committed reader of the output
/// partition twice; and once a processor has processed the whole input and the system is
/// quiescent, every input record's output is visible (exactly once).
pub fn processed_exactly_once(m: &EosModel, s: &EosState) -> bool {
    let counts = output_counts(s);
    if counts.values().any(|n| *n > 1) {
        return false;
    }
    if !processors(s).iter().any(|p| p.completed) || !settled_after_completion(m, s) {
        return true;
    }
    (0..m.cfg.scenario.input_records).all(|r| counts.get(&r) == Some(&1))
}

/// E1 is relevant once some output is visible.
pub fn processed_exactly_once_relevant(_: &EosModel, s: &EosState) -> bool {
    !output_counts(s).is_empty()
}

fn processed_exactly_once_witness(m: &EosModel, s: &EosState) -> Vec<String> {
    let counts = output_counts(s);
    let mut v: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(r, n)| format!("t-{OUTPUT}: the output of input r{r} is read {n} times"))
        .collect();
    if v.is_empty() {
        v.extend(
            (0..m.cfg.scenario.input_records)
                .filter(|r| !counts.contains_key(r))
                .map(|r| format!("t-{OUTPUT}: the output of input r{r} is never read")),
        );
    }
    v
}

/// Whether no transaction is between its markers (none in Prepare*).
fn markers_settled(s: &EosState) -> bool {
    coordinator(s).is_some_and(|c| {
        c.core
            .transactions()
            .values()
            .all(|t| !t.state.is_prepare())
    })
}

/// E2: whenever no transaction is between its markers, the input records whose output is
/// committed on the output partition are exactly those below the group's committed input
/// offset: the offset and the output commit together (both or neither). (Committed, not
/// visible: another instance's open transaction may hold the LSO below a committed output.)
pub fn offsets_move_with_outputs(_: &EosModel, s: &EosState) -> bool {
    if !markers_settled(s) {
        return true;
    }
    let seen = committed_outputs(s);
    let committed = committed_input(s);
    let expected: BTreeSet<Rec> = (0..committed)
        .filter_map(|o| Rec::try_from(o).ok())
        .collect();
    seen == expected
}

/// E2 is relevant in settled states where an offset or an output is committed.
pub fn offsets_move_with_outputs_relevant(_: &EosModel, s: &EosState) -> bool {
    markers_settled(s) && (committed_input(s) > 0 || !committed_outputs(s).is_empty())
}

fn offsets_move_with_outputs_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    let seen: Vec<String> = committed_outputs(s)
        .into_iter()
        .map(|r| format!("r{r}"))
        .collect();
    vec![format!(
        "committed input offset {} but the committed outputs are of inputs [{}]",
        committed_input(s),
        seen.join(",")
    )]
}

/// E3: offsets a member outside the group's generation committed in its transaction never
/// become committed (KIP-447 fences a zombie's TxnOffsetCommit).
pub fn zombie_offsets_never_commit(_: &EosModel, s: &EosState) -> bool {
    group(s).is_none_or(|g| g.flags & gflag::ZOMBIE_COMMITTED == 0)
}

/// E3 is relevant while a zombie is live: a processor that is not done holds a generation
/// older than the group's.
pub fn zombie_offsets_never_commit_relevant(_: &EosModel, s: &EosState) -> bool {
    let Some(current) = group(s).and_then(|g| g.core.group(PROCESSOR_GROUP)) else {
        return false;
    };
    processors(s).iter().any(|p| {
        p.phase != ProcPhase::Done
            && p.consumer
                .generation()
                .is_some_and(|g| g.generation_id < current.generation_id)
    })
}

fn zombie_offsets_never_commit_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    let pids: Vec<String> = group(s)
        .map(|g| g.zombie_pending.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    vec![format!(
        "offsets a member outside the group's generation sent (pid {}) were committed by their marker",
        if pids.is_empty() { "?".to_string() } else { pids.join(",") }
    )]
}

/// The producer ids with pending offsets at the group coordinator.
fn pending_pids(s: &EosState) -> Vec<ProducerId> {
    let Some(g) = group(s) else {
        return Vec::new();
    };
    g.core
        .open_producer_ids(PROCESSOR_GROUP)
        .into_iter()
        .filter(|pid| g.core.pending_offsets(*pid).is_some())
        .collect()
}

fn open_at_coordinator(s: &EosState, pid: ProducerId) -> bool {
    coordinator(s).is_some_and(|c| {
        c.core.transactions().values().any(|t| {
            t.producer_id == pid
                && matches!(
                    t.state,
                    TransactionState::Ongoing
                        | TransactionState::PrepareCommit
                        | TransactionState::PrepareAbort
                        | TransactionState::PrepareEpochFence
                )
        })
    })
}

/// E4: every producer id with pending offsets at the group coordinator has a transaction open
/// (Ongoing or Prepare*) at the transaction coordinator: the marker that ends a transaction
/// resolves its offsets (a pending offset left behind blocks every require_stable reader).
pub fn offsets_pending_only_in_open_transaction(_: &EosModel, s: &EosState) -> bool {
    pending_pids(s)
        .into_iter()
        .all(|pid| open_at_coordinator(s, pid))
}

/// E4 is relevant when some offset is pending.
pub fn offsets_pending_only_in_open_transaction_relevant(_: &EosModel, s: &EosState) -> bool {
    !pending_pids(s).is_empty()
}

fn offsets_pending_only_in_open_transaction_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    pending_pids(s)
        .into_iter()
        .filter(|pid| !open_at_coordinator(s, *pid))
        .map(|pid| {
            format!("pid={pid} has pending offsets but no open transaction at the coordinator")
        })
        .collect()
}

fn probe_unstable(_: &EosModel, s: &EosState) -> bool {
    group(s).is_some_and(|g| g.flags & gflag::UNSTABLE != 0)
}

fn probe_generation_fenced(_: &EosModel, s: &EosState) -> bool {
    group(s).is_some_and(|g| g.flags & gflag::GENERATION_FENCED != 0)
}

fn probe_completed(_: &EosModel, s: &EosState) -> bool {
    processors(s).iter().any(|p| p.completed)
}

/// The processor scenarios' `always` properties (added to a scenario with processors).
pub const ALWAYS: &[AlwaysProperty] = &[
    AlwaysProperty {
        name: E1,
        condition: processed_exactly_once,
        relevant: processed_exactly_once_relevant,
        relevance_probe: "relevant: processed_exactly_once",
        witness: processed_exactly_once_witness,
    },
    AlwaysProperty {
        name: E2,
        condition: offsets_move_with_outputs,
        relevant: offsets_move_with_outputs_relevant,
        relevance_probe: "relevant: offsets_move_with_outputs",
        witness: offsets_move_with_outputs_witness,
    },
    AlwaysProperty {
        name: E3,
        condition: zombie_offsets_never_commit,
        relevant: zombie_offsets_never_commit_relevant,
        relevance_probe: "relevant: zombie_offsets_never_commit",
        witness: zombie_offsets_never_commit_witness,
    },
    AlwaysProperty {
        name: E4,
        condition: offsets_pending_only_in_open_transaction,
        relevant: offsets_pending_only_in_open_transaction_relevant,
        relevance_probe: "relevant: offsets_pending_only_in_open_transaction",
        witness: offsets_pending_only_in_open_transaction_witness,
    },
];

/// The processor probes: name and condition.
pub const PROBES: &[(&str, Condition)] = &[
    (probe::UNSTABLE, probe_unstable),
    (probe::GENERATION_FENCED, probe_generation_fenced),
    (probe::COMPLETED, probe_completed),
];
