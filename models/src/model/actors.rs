//! The stateright actors: thin wrappers around the three core roles.
//!
//! Each callback clones the core state, calls the core, and maps what the core returns to
//! stateright's `Out` (sends and timers). The wrapper makes no protocol decision: every accept,
//! reject, offset, epoch and state change comes from `kafka_eos`. Around the partition leader the
//! actor plays the broker's plumbing (KIP-890 verification round trip to the coordinator, the
//! WriteTxnMarkers round trip); around the producer it plays the application, following the
//! scenario's script. The model-only parts are the logical clocks (advanced only by the bounded
//! timeout, expiry and failover timers), the ghost observations properties read, and the
//! connections of Kafka's network ([`Conn`], [`ClientConn`], [`ServedConns`]: per-connection
//! order, a request timeout closing the connection, stragglers of a closed connection).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use kafka_eos::consumer::{ConsumerRequest, ConsumerRequestId, ConsumerResponse};
use kafka_eos::coordinator::{
    AddPartitionsToTxnRequest, CoordinatorOutput, CoordinatorStep, TransactionCoordinator,
    TransactionLogValue, WriteTxnMarker, WriteTxnMarkersResponse,
};
use kafka_eos::error::ErrorCode;
use kafka_eos::messages::{ProduceRequest, CONSUMER_OFFSETS_TOPIC};
use kafka_eos::partition::{
    produce_response, AppendOutcome, PartitionLeader, PendingProduce, ProduceBatch, ProduceResult,
    ProduceStep,
};
use kafka_eos::producer::{
    Outstanding, Producer, ProducerEvent, ProducerOutput, Request, RequestId, Response,
    TransactionState,
};
use kafka_eos::types::{
    Offset, ProducerEpoch, ProducerId, TimestampMs, TopicPartition, TransactionResult,
    TransactionVersion,
};
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, Id, Out};

use super::processor::{
    GroupActor, GroupActorState, HeldOffsetCommit, ProcessorActor, ProcessorActorState,
};
use super::scenario::{NetworkKind, ProducerScript, Scenario, TxnEnd};

/// The payload of a batch in the model: a record id, unique per scripted record.
pub type Rec = u8;

/// The topic of every data partition.
pub const TOPIC: &str = "t";

/// The topic partition of data partition `index`.
pub fn topic_partition(index: u8) -> TopicPartition {
    TopicPartition::new(TOPIC, i32::from(index))
}

/// A produce held while the coordinator verifies it (KIP-890): the core's
/// [`PendingProduce`] travels in the verification messages instead of being queued in the
/// leader's state, with the producer and request id to answer.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HeldProduce {
    /// The producer actor to answer.
    pub producer: Id,
    /// The producer's request id.
    pub id: RequestId,
    /// The Produce's place on the producer's connection (the answer carries it).
    pub conn: Conn,
    /// The core's held produce.
    pub pending: PendingProduce<Rec>,
}

/// A message's place on its connection ([`NetworkKind::Kafka`]). Every request travels on the
/// client's current connection to the server (its `incarnation`, bumped each time a request
/// timeout closes the connection) at position `seq` (0, 1, ... per incarnation); the response
/// carries its request's `Conn`. Servers process a connection's requests in `seq` order, one at
/// a time (Kafka's `SocketServer` mutes a channel until its response is sent), and clients read
/// a connection's responses in `seq` order; a response on a closed connection is dropped.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Conn {
    /// The client's connection incarnation to this server.
    pub incarnation: u8,
    /// The request's position on that connection.
    pub seq: u8,
}

/// A client's connection to one server ([`NetworkKind::Kafka`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientConn {
    /// The current incarnation (0 = the first connection).
    pub incarnation: u8,
    /// Requests sent on it.
    pub sent: u8,
    /// Responses read on it.
    pub answered: u8,
}

/// What a client does with a response ([`ClientConn::classify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The next response of the current connection: read it.
    Next,
    /// A later response of the current connection: not yet (TCP delivers in order).
    NotYet,
    /// A response on a closed connection: never read (the client reads nothing more from
    /// it). It stays in stateright's network as a dead message whose delivery is no
    /// transition: consuming it as a step of its own would add an interleaving per dead
    /// response (measured: 1.5 to 3 times the states).
    Stale,
}

impl ClientConn {
    /// The position of the next request on the current connection (and counts it as sent).
    pub fn next_request(&mut self) -> Conn {
        let conn = Conn {
            incarnation: self.incarnation,
            seq: self.sent,
        };
        self.sent = self.sent.wrapping_add(1);
        conn
    }

    /// Whether a response at `conn` is the next one to read, a later one, or stale.
    pub fn classify(&self, conn: Conn) -> Arrival {
        if conn.incarnation != self.incarnation {
            Arrival::Stale
        } else if conn.seq == self.answered {
            Arrival::Next
        } else {
            Arrival::NotYet
        }
    }

    /// Closes the connection (request timeout, `NetworkClient` disconnect); later requests go on
    /// a new one.
    pub fn close(&mut self) {
        *self = ClientConn {
            incarnation: self.incarnation.wrapping_add(1),
            sent: 0,
            answered: 0,
        };
    }
}

/// A server's side of its client connections ([`NetworkKind::Kafka`]): per client and
/// incarnation, how many requests it has answered (the next one to process is at that `seq`).
/// A closed connection's entry stays: requests the server had read from it may still be
/// processed (in order), their responses are dropped at the client.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServedConns(BTreeMap<(Id, u8), u8>);

impl ServedConns {
    /// Whether a request from `client` at `conn` is the next one to process on its connection
    /// (the connection is not busy with an earlier request).
    pub fn is_next(&self, client: Id, conn: Conn) -> bool {
        self.0
            .get(&(client, conn.incarnation))
            .copied()
            .unwrap_or(0)
            == conn.seq
    }

    /// The request at `conn` from `client` is answered: the connection takes the next one.
    pub fn answered(&mut self, client: Id, conn: Conn) {
        let n = self.0.entry((client, conn.incarnation)).or_insert(0);
        *n = n.wrapping_add(1);
    }
}

/// A message between actors (serde: `spawn` sends it as JSON in UDP datagrams). On
/// [`NetworkKind::Kafka`] every message travels as [`Msg::OnConnection`], with its place on its
/// connection; on the other networks bare.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Msg {
    /// Producer → coordinator: InitProducerId, AddPartitionsToTxn or EndTxn.
    TxnRequest(Request<Rec>),
    /// Producer → partition leader: Produce.
    Produce {
        /// The producer's request id.
        id: RequestId,
        /// The request.
        request: ProduceRequest<Rec>,
    },
    /// Coordinator or leader → producer: the response to request `id`.
    Response {
        /// The request answered.
        id: RequestId,
        /// The response.
        response: Response,
    },
    /// Leader → coordinator: AddPartitionsToTxn (v4+, from the broker) for a held produce.
    Verify {
        /// The request.
        request: AddPartitionsToTxnRequest,
        /// The produce waiting for the answer.
        held: Box<HeldProduce>,
    },
    /// Coordinator → leader: the verification answer.
    VerifyResponse {
        /// The coordinator's answer.
        result: Result<(), ErrorCode>,
        /// The produce waiting for it.
        held: Box<HeldProduce>,
    },
    /// Coordinator → leader: WriteTxnMarkers for one partition.
    WriteTxnMarker(WriteTxnMarker),
    /// Leader → coordinator: the WriteTxnMarkers answer.
    WriteTxnMarkerResponse(WriteTxnMarkersResponse),
    /// Processor (consumer) → leader (Fetch) or group coordinator (OffsetFetch, OffsetCommit).
    Consumer(ConsumerRequest),
    /// Leader or group coordinator → processor: the answer to consumer request `id`.
    ConsumerResponse {
        /// The request answered.
        id: ConsumerRequestId,
        /// The response.
        response: ConsumerResponse<Rec>,
    },
    /// Processor (consumer) → group coordinator: the member joins, and the rebalance completes
    /// with it alone (JoinGroup/SyncGroup's outcome; the member that does not rejoin is
    /// removed).
    JoinGroup {
        /// The joining member.
        member_id: String,
    },
    /// Group coordinator → processor: the new generation.
    JoinGroupResponse {
        /// The generation.
        generation_id: i32,
    },
    /// Group coordinator → transaction coordinator: the KIP-890 verification of a
    /// TxnOffsetCommit's offsets partition.
    OffsetsVerify {
        /// The request.
        request: AddPartitionsToTxnRequest,
        /// The TxnOffsetCommit waiting for the answer.
        held: Box<HeldOffsetCommit>,
    },
    /// Transaction coordinator → group coordinator: the verification answer.
    OffsetsVerifyResponse {
        /// The coordinator's answer.
        result: Result<(), ErrorCode>,
        /// The TxnOffsetCommit waiting for it.
        held: Box<HeldOffsetCommit>,
    },
    /// Kafka network: one of the messages above (never itself this variant) at its place on
    /// its connection.
    OnConnection {
        /// The connection incarnation and the request's position on it.
        conn: Conn,
        /// The message, shared: every successor state clones the network, and a shared
        /// message costs no allocation there (its `String`s included); its hash is computed
        /// once ([`Framed`]).
        msg: Arc<Framed>,
    },
}

/// A message travelling on a connection, with its hash computed once (model-side, not
/// Kafka's): every state's fingerprint hashes the messages in flight, and a message stays in
/// flight across many states. It orders and compares as its message; it (de)serializes as
/// its message.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Framed {
    msg: Msg,
    hash: u64,
}

impl Framed {
    /// `msg` with its hash.
    pub fn new(msg: Msg) -> Framed {
        let hash = ahash::RandomState::with_seeds(5, 6, 7, 8).hash_one(&msg);
        Framed { msg, hash }
    }

    /// The message.
    pub fn msg(&self) -> &Msg {
        &self.msg
    }
}

impl std::ops::Deref for Framed {
    type Target = Msg;
    fn deref(&self) -> &Msg {
        &self.msg
    }
}

impl std::hash::Hash for Framed {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

impl fmt::Debug for Framed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.msg.fmt(f)
    }
}

impl Serialize for Framed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.msg.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Framed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Framed, D::Error> {
        Msg::deserialize(d).map(Framed::new)
    }
}

impl Msg {
    /// `msg` as it travels: at `conn` on the Kafka network (`connections`), bare otherwise.
    pub fn on(connections: bool, conn: Conn, msg: Msg) -> Msg {
        if connections {
            Msg::OnConnection {
                conn,
                msg: Arc::new(Framed::new(msg)),
            }
        } else {
            msg
        }
    }

    /// The message and its place on its connection (`Conn::default()` when bare).
    pub fn unframed(self) -> (Conn, Msg) {
        match self {
            Msg::OnConnection { conn, msg } => (conn, Arc::unwrap_or_clone(msg).msg),
            msg => (Conn::default(), msg),
        }
    }

    /// The message without its connection.
    pub fn body(&self) -> &Msg {
        match self {
            Msg::OnConnection { msg, .. } => msg,
            msg => msg,
        }
    }

    /// Its place on its connection (`Conn::default()` when bare).
    pub fn conn(&self) -> Conn {
        match self {
            Msg::OnConnection { conn, .. } => *conn,
            _ => Conn::default(),
        }
    }
}

fn result_name(r: TransactionResult) -> &'static str {
    match r {
        TransactionResult::Commit => "COMMIT",
        TransactionResult::Abort => "ABORT",
    }
}

fn err_name(e: ErrorCode) -> &'static str {
    e.name()
}

fn fmt_request(r: &Request<Rec>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match r {
        Request::InitProducerId { id, request } => {
            write!(f, "InitProducerId#{id}")?;
            if request.producer_id >= 0 {
                write!(
                    f,
                    " pid={} epoch={}",
                    request.producer_id, request.producer_epoch
                )?;
            }
            Ok(())
        }
        Request::AddPartitionsToTxn { id, request } => {
            let ps: Vec<String> = request.partitions.iter().map(ToString::to_string).collect();
            write!(
                f,
                "AddPartitionsToTxn#{id} pid={} epoch={} [{}]",
                request.producer_id,
                request.producer_epoch,
                ps.join(",")
            )
        }
        Request::Produce { id, request } => fmt_produce(*id, request, f),
        Request::EndTxn { id, request } => write!(
            f,
            "EndTxn#{id} {} pid={} epoch={}",
            result_name(request.result),
            request.producer_id,
            request.producer_epoch
        ),
        Request::AddOffsetsToTxn { id, request } => write!(
            f,
            "AddOffsetsToTxn#{id} pid={} epoch={} group={}",
            request.producer_id, request.producer_epoch, request.group_id
        ),
        Request::TxnOffsetCommit { id, request } => write!(
            f,
            "TxnOffsetCommit#{id} pid={} epoch={} group={}",
            request.producer_id, request.producer_epoch, request.group_id
        ),
    }
}

fn fmt_produce(id: RequestId, r: &ProduceRequest<Rec>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let last = r
        .base_sequence
        .wrapping_add(r.record_count.saturating_sub(1));
    write!(
        f,
        "Produce#{id} {} pid={} epoch={} seq={}..{last} rec={}{}",
        r.partition,
        r.producer_id,
        r.producer_epoch,
        r.base_sequence,
        r.payload,
        if r.is_transactional { " txn" } else { "" }
    )
}

fn fmt_response(id: RequestId, r: &Response, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match r {
        Response::InitProducerId(Ok(p)) => write!(
            f,
            "InitProducerId#{id} ok pid={} epoch={}",
            p.producer_id, p.producer_epoch
        ),
        Response::InitProducerId(Err(e)) => write!(f, "InitProducerId#{id} {}", err_name(*e)),
        Response::AddPartitionsToTxn(Ok(())) => write!(f, "AddPartitionsToTxn#{id} ok"),
        Response::AddPartitionsToTxn(Err(e)) => {
            write!(f, "AddPartitionsToTxn#{id} {}", err_name(*e))
        }
        Response::Produce(Ok(offset)) => write!(f, "Produce#{id} ok offset={offset}"),
        Response::Produce(Err(e)) => write!(f, "Produce#{id} {}", err_name(*e)),
        Response::EndTxn(Ok(None)) => write!(f, "EndTxn#{id} ok"),
        Response::EndTxn(Ok(Some(p))) => write!(
            f,
            "EndTxn#{id} ok pid={} epoch={}",
            p.producer_id, p.producer_epoch
        ),
        Response::EndTxn(Err(e)) => write!(f, "EndTxn#{id} {}", err_name(*e)),
        Response::AddOffsetsToTxn(Ok(())) => write!(f, "AddOffsetsToTxn#{id} ok"),
        Response::AddOffsetsToTxn(Err(e)) => write!(f, "AddOffsetsToTxn#{id} {}", err_name(*e)),
        Response::TxnOffsetCommit(r) => write!(f, "TxnOffsetCommit#{id} {:?}", r.partitions),
    }
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::OnConnection { conn, msg } => {
                write!(f, "{msg:?}")?;
                if conn.incarnation > 0 {
                    write!(f, " (connection {})", conn.incarnation)?;
                }
                Ok(())
            }
            Msg::TxnRequest(r) => fmt_request(r, f),
            Msg::Produce { id, request } => fmt_produce(*id, request, f),
            Msg::Response { id, response } => fmt_response(*id, response, f),
            Msg::Verify { request, held } => {
                write!(
                    f,
                    "AddPartitionsToTxn(verify_only={}) pid={} epoch={} [{}] for ",
                    request.verify_only,
                    request.producer_id,
                    request.producer_epoch,
                    request
                        .partitions
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                )?;
                fmt_produce(held.id, held.pending.request(), f)
            }
            Msg::VerifyResponse { result, held } => {
                match result {
                    Ok(()) => write!(f, "AddPartitionsToTxn ok for ")?,
                    Err(e) => write!(f, "AddPartitionsToTxn {} for ", err_name(*e))?,
                }
                fmt_produce(held.id, held.pending.request(), f)
            }
            Msg::WriteTxnMarker(m) => write!(
                f,
                "WriteTxnMarkers {} {} pid={} epoch={} coordinator_epoch={}",
                result_name(m.result),
                m.partition,
                m.producer_id,
                m.producer_epoch,
                m.coordinator_epoch
            ),
            Msg::Consumer(ConsumerRequest::Fetch { id, request }) => write!(
                f,
                "Fetch#c{id} {} from {} {:?}",
                request.partition, request.fetch_offset, request.isolation_level
            ),
            Msg::Consumer(ConsumerRequest::OffsetFetch { id, request }) => write!(
                f,
                "OffsetFetch#c{id} group={} require_stable={}",
                request.group_id, request.require_stable
            ),
            Msg::Consumer(ConsumerRequest::OffsetCommit { id, request }) => write!(
                f,
                "OffsetCommit#c{id} group={} generation={} {:?}",
                request.group_id, request.generation_id, request.offsets
            ),
            Msg::ConsumerResponse { id, response } => match response {
                ConsumerResponse::Fetch(Ok(r)) => {
                    write!(f, "Fetch#c{id} ok lso={} batches=[", r.last_stable_offset)?;
                    let batches: Vec<String> = r
                        .batches
                        .iter()
                        .map(|b| format!("@{}", b.base_offset))
                        .collect();
                    write!(f, "{}]", batches.join(","))
                }
                ConsumerResponse::Fetch(Err(e)) => write!(f, "Fetch#c{id} {}", err_name(*e)),
                ConsumerResponse::OffsetFetch(r) => {
                    write!(f, "OffsetFetch#c{id} {:?}", r.partitions)
                }
                ConsumerResponse::OffsetCommit(r) => {
                    write!(f, "OffsetCommit#c{id} {:?}", r.partitions)
                }
            },
            Msg::JoinGroup { member_id } => write!(f, "JoinGroup {member_id}"),
            Msg::JoinGroupResponse { generation_id } => {
                write!(f, "JoinGroup ok generation={generation_id}")
            }
            Msg::OffsetsVerify { request, held } => write!(
                f,
                "AddPartitionsToTxn(verify_only={}) pid={} epoch={} [{}] for TxnOffsetCommit#{}",
                request.verify_only,
                request.producer_id,
                request.producer_epoch,
                request
                    .partitions
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                held.id
            ),
            Msg::OffsetsVerifyResponse { result, held } => match result {
                Ok(()) => write!(f, "AddPartitionsToTxn ok for TxnOffsetCommit#{}", held.id),
                Err(e) => write!(
                    f,
                    "AddPartitionsToTxn {} for TxnOffsetCommit#{}",
                    err_name(*e),
                    held.id
                ),
            },
            Msg::WriteTxnMarkerResponse(r) => write!(
                f,
                "WriteTxnMarkers {} pid={} epoch={} coordinator_epoch={} {}",
                result_name(r.result),
                r.producer_id,
                r.producer_epoch,
                r.coordinator_epoch,
                r.error.map_or("ok", err_name)
            ),
        }
    }
}

/// Timers. Every timer stands for "enough time has passed": the actor's logical clock moves
/// only when one fires, and each kind has a budget in the scenario.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Producer: the delayed start of a restarted instance.
    Start,
    /// Producer: request `RequestId` timed out (the ambiguous outcome). On the Kafka network
    /// this closes the request's connection: every request in flight on it fails at once.
    RequestTimeout(RequestId),
    /// Coordinator: `transaction.timeout.ms` passed (`abortTimedOutTransactions`).
    TransactionTimeout,
    /// Coordinator: failover to a new coordinator epoch.
    Failover,
    /// Coordinator: a WriteTxnMarkers request to partition `u8` timed out: its connection is
    /// closed, the markers in flight on it fail (NETWORK_EXCEPTION) and are re-sent on a new
    /// connection, while the requests the leader had already read may still be processed.
    MarkerTimeout(u8),
    /// Partition: `producer.id.expiration.ms` passed (`removeExpiredProducers`).
    ExpireProducers,
    /// Coordinator: the next transaction-log append a client request needs fails
    /// (NOT_ENOUGH_REPLICAS: `appendTransactionToLog`'s error callback).
    AppendFailure,
}

/// Nondeterministic application choices.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Choice {
    /// End the current transaction with this result.
    End(TransactionResult),
}

/// Probe bits a partition actor records (ghost state for `sometimes` properties).
pub mod pflag {
    /// An append answered a duplicate with its original offset.
    pub const DUPLICATE: u8 = 1;
    /// An append was rejected with OUT_OF_ORDER_SEQUENCE_NUMBER.
    pub const OUT_OF_ORDER: u8 = 2;
    /// A produce was rejected for its epoch.
    pub const FENCED: u8 = 4;
    /// A transactional produce whose producer id already has a marker at the produce's
    /// epoch or later was rejected.
    pub const LATE_PRODUCE: u8 = 8;
    /// A marker was rejected for its producer epoch (a late or re-sent marker).
    pub const STALE_MARKER: u8 = 16;
}

/// Probe bits the coordinator actor records.
pub mod cflag {
    /// CONCURRENT_TRANSACTIONS was answered.
    pub const CONCURRENT: u8 = 1;
    /// A failover found a transaction in Prepare*.
    pub const FAILOVER_PREPARE: u8 = 2;
    /// A timed-out transaction was aborted.
    pub const TIMEOUT_ABORT: u8 = 4;
    /// An EndTxn was rejected for its epoch or producer id.
    pub const LATE_ENDTXN: u8 = 8;
    /// PRODUCER_FENCED / INVALID_PRODUCER_EPOCH was answered.
    pub const FENCED: u8 = 16;
    /// A transaction-log append failed.
    pub const APPEND_FAILED: u8 = 32;
}

/// The application's progress through its script (model-side, not Kafka's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AppPhase {
    /// Not started (delayed instance).
    NotStarted,
    /// Waiting for `initTransactions()` / the producer id.
    Initializing,
    /// In transaction `n` of the script (or sending, for an idempotent producer).
    InTransaction(u8),
    /// The script is finished, or the producer hit a fatal error.
    Done,
}

/// A producer actor's state: the core producer plus the application's ghost observations.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProducerActorState {
    /// The core client.
    pub core: Producer<Rec>,
    /// Where the application is.
    pub phase: AppPhase,
    /// Batch id → record id of batches whose fate is not known yet.
    pub batches: BTreeMap<u64, Rec>,
    /// Ghost: records acknowledged, with their base offsets ([`UNKNOWN_OFFSET`] when the
    /// acknowledgement carried none, as for DUPLICATE_SEQUENCE_NUMBER).
    pub acked: BTreeSet<(Rec, Offset)>,
    /// Ghost: transactions (script index) the application was told committed.
    pub committed: u8,
    /// Ghost: transactions the application was told aborted.
    pub aborted: u8,
    /// Request timeouts left.
    pub timeouts_left: u8,
    /// Requests sent so far (the model's bound on retries: see `Scenario::max_requests`).
    pub sent: u8,
    /// With sequential sends: how many records of the current transaction were handed to
    /// `send()` so far.
    pub sent_in_txn: u8,
    /// The connections to the partition leaders (by partition index), then to the
    /// coordinator (Kafka network only; default otherwise).
    pub conns: Vec<ClientConn>,
    /// This state's hash, once computed ([`HashCache`]).
    pub hash_cache: HashCache,
}

/// A partition actor's state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionActorState {
    /// The core leader.
    pub core: PartitionLeader<Rec>,
    /// Logical clock (moved only by the expiry timer).
    pub clock: TimestampMs,
    /// Expiries left.
    pub expiries_left: u8,
    /// Probe bits ([`pflag`]).
    pub flags: u8,
    /// Ghost (S20): every `(offset, record)` a read_committed fetch from offset 0 has returned
    /// so far. While the view only grows this is the current view, so it adds no state.
    pub delivered: BTreeSet<(Offset, Rec)>,
    /// Ghost (S20): the highest last stable offset so far (the current one while it never
    /// regresses).
    pub lso_seen: Offset,
    /// The verification connection to the coordinator (Kafka network only).
    pub verify_conn: ClientConn,
    /// The producers' and the coordinator's connections to this leader (Kafka network only).
    pub served: ServedConns,
    /// This state's hash, once computed ([`HashCache`]).
    pub hash_cache: HashCache,
    /// What the properties derive from the log, once computed ([`LogViews`]).
    pub views: LogViews,
}

impl PartitionActorState {
    /// Records the current read_committed view and LSO in the ghost fields (after every
    /// transition of the partition, as its last change).
    fn observe_reads(&mut self) {
        let view = super::properties::read_committed(&self.core);
        self.delivered.extend(view.iter().copied());
        self.lso_seen = self.lso_seen.max(self.core.last_stable_offset());
        self.views = LogViews::default();
        self.views.read_committed.get_or_init(|| view);
    }

    /// What a read_committed consumer fetching from offset 0 returns (`(offset, record)` in
    /// offset order; [`super::properties::read_committed`], once per state value).
    pub fn read_committed(&self) -> &[(Offset, Rec)] {
        self.views
            .read_committed
            .get_or_init(|| super::properties::read_committed(&self.core))
    }

    /// The log's data batches with their outcomes ([`super::properties::data_entries`], once
    /// per state value).
    pub fn entries(&self) -> &[super::properties::DataEntry] {
        self.views
            .entries
            .get_or_init(|| super::properties::data_entries(self.core.log()))
    }

    /// Whether the per-partition predicate `check` (index `index`, one of
    /// [`super::properties::PartitionCheck`]) holds here, once per state value.
    pub fn holds(&self, index: usize, check: fn(&PartitionActorState) -> bool) -> bool {
        match self.views.checks.get(index) {
            Some(memo) => *memo.get_or_init(|| check(self)),
            None => check(self),
        }
    }

    /// The log's open transactions ([`super::properties::open_transactions`], once per state
    /// value).
    pub fn open_transactions(&self) -> &BTreeMap<ProducerId, (Offset, ProducerEpoch)> {
        self.views
            .open
            .get_or_init(|| super::properties::open_transactions(self.core.log()))
    }
}

/// A value derived from an actor state, computed once per state value (model-side, not
/// Kafka's): a clone starts empty, and it is not part of the state (it hashes and compares as
/// nothing). Whoever changes the state in place must [`Memo::reset`] it.
#[derive(Debug)]
pub struct Memo<T>(std::sync::OnceLock<T>);

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo(std::sync::OnceLock::new())
    }
}

impl<T> Memo<T> {
    /// The value, computed by `f` the first time.
    pub fn get_or_init(&self, f: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(f)
    }

    /// Forgets the value (the state changed in place).
    pub fn reset(&mut self) {
        self.0 = std::sync::OnceLock::new();
    }
}

impl<T> Clone for Memo<T> {
    fn clone(&self) -> Self {
        Memo::default()
    }
}

impl<T> PartialEq for Memo<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Memo<T> {}

impl<T> PartialOrd for Memo<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Memo<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T> std::hash::Hash for Memo<T> {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

/// What the properties derive from a partition's log, computed once per partition state
/// value ([`Memo`]): a partition's state is shared by many global states, and every
/// property of every state reads these.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogViews {
    read_committed: Memo<Vec<(Offset, Rec)>>,
    entries: Memo<Vec<super::properties::DataEntry>>,
    open: Memo<BTreeMap<ProducerId, (Offset, ProducerEpoch)>>,
    checks: [Memo<bool>; super::properties::PARTITION_CHECKS],
}

/// The coordinator actor's state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CoordinatorActorState {
    /// The running core coordinator.
    pub core: TransactionCoordinator,
    /// The durable `__transaction_state` partition: the last record of each id.
    pub log: BTreeMap<String, TransactionLogValue>,
    /// Logical clock (moved only by the transaction-timeout timer).
    pub clock: TimestampMs,
    /// Timeout aborts left.
    pub timeouts_left: u8,
    /// Failovers left.
    pub failovers_left: u8,
    /// Marker request disconnections left.
    pub marker_timeouts_left: u8,
    /// Transaction-log append failures left.
    pub append_failures_left: u8,
    /// The next append a client request needs fails ([`Timer::AppendFailure`] fired).
    pub fail_next_append: bool,
    /// Probe bits ([`cflag`]).
    pub flags: u8,
    /// The WriteTxnMarkers connections to the leaders, by partition index (Kafka network
    /// only).
    pub marker_conns: Vec<ClientConn>,
    /// The producers' and the leaders' (verification) connections to the coordinator (Kafka
    /// network only).
    pub served: ServedConns,
    /// This state's hash, once computed ([`HashCache`]).
    pub hash_cache: HashCache,
}

/// An actor state's hash, computed once per state value (model-side, not Kafka's).
///
/// The checker fingerprints every successor, and a successor shares all actor states but one
/// with its parent (`Arc`s): hashing each shared state again was about 14 % of the search.
/// A [`Memo`]: a clone starts empty (every transition clones the state it changes, then
/// changes it), and it is not part of the state. Whoever changes an actor state in place must
/// [`Memo::reset`] it.
pub type HashCache = Memo<u64>;

/// One actor's state. Its hash is the variant and the cached 64-bit hash of its content
/// ([`HashCache`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ActorState {
    /// A producer instance.
    Producer(Box<ProducerActorState>),
    /// A partition leader.
    Partition(Box<PartitionActorState>),
    /// The transaction coordinator.
    Coordinator(Box<CoordinatorActorState>),
    /// The group coordinator (processor scenarios).
    Group(Box<GroupActorState>),
    /// An exactly-once processor instance.
    Processor(Box<ProcessorActorState>),
}

impl std::hash::Hash for ActorState {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        fn content<T: std::hash::Hash>(t: &T) -> u64 {
            ahash::RandomState::with_seeds(1, 2, 3, 4).hash_one(t)
        }
        let (tag, hash) = match self {
            ActorState::Producer(p) => (0u8, *p.hash_cache.get_or_init(|| content(p))),
            ActorState::Partition(p) => (1, *p.hash_cache.get_or_init(|| content(p))),
            ActorState::Coordinator(c) => (2, *c.hash_cache.get_or_init(|| content(c))),
            ActorState::Group(g) => (3, *g.hash_cache.get_or_init(|| content(g))),
            ActorState::Processor(p) => (4, *p.hash_cache.get_or_init(|| content(p))),
        };
        h.write_u8(tag);
        h.write_u64(hash);
    }
}

/// A producer actor: its index, the script and the ids of the actors it talks to.
#[derive(Clone, Debug)]
pub struct ProducerActor {
    /// Index (0 = `producer-1`).
    pub index: usize,
    /// Client configuration.
    pub config: kafka_eos::producer::ProducerConfig,
    /// The application script, with the record id of each record.
    pub script: ProducerScript,
    /// The record ids, per transaction.
    pub records: Vec<Vec<Rec>>,
    /// Request timeouts allowed.
    pub request_timeouts: u8,
    /// The application waits for each record's acknowledgement before the next `send()`
    /// (`send().get()`), and ends the transaction after the last one.
    pub sequential_sends: bool,
    /// Partition actors by partition index.
    pub partitions: Vec<Id>,
    /// The coordinator actor.
    pub coordinator: Id,
    /// Kafka's connection semantics ([`NetworkKind::Kafka`]).
    pub connections: bool,
}

/// A partition leader actor.
#[derive(Clone, Debug)]
pub struct PartitionActor {
    /// Partition index.
    pub index: u8,
    /// Leader configuration.
    pub config: kafka_eos::partition::PartitionConfig,
    /// The producers' transaction version (verification's `supportsEpochBump`, AddPartitions v5).
    pub transaction_version: TransactionVersion,
    /// Expiries allowed.
    pub expiries: u8,
    /// Plain records the leader holds from the start (record ids `0..preload`): the
    /// processors' input.
    pub preload: u8,
    /// The coordinator actor.
    pub coordinator: Id,
    /// Kafka's connection semantics ([`NetworkKind::Kafka`]).
    pub connections: bool,
}

/// The coordinator actor.
#[derive(Clone, Debug)]
pub struct CoordinatorActor {
    /// Configuration.
    pub config: kafka_eos::coordinator::CoordinatorConfig,
    /// Timeout aborts allowed.
    pub txn_timeouts: u8,
    /// Failovers allowed.
    pub failovers: u8,
    /// Marker request disconnections allowed.
    pub marker_timeouts: u8,
    /// Transaction-log append failures allowed (0: every append succeeds, and the
    /// synchronous handlers run).
    pub append_failures: u8,
    /// Partition actors by partition index.
    pub partitions: Vec<Id>,
    /// The group coordinator, the leader of `__consumer_offsets` (processor scenarios): its
    /// markers travel on the marker connection after the partitions'.
    pub group: Option<Id>,
    /// Kafka's connection semantics ([`NetworkKind::Kafka`]).
    pub connections: bool,
}

/// The actor enum of the model: every callback is forwarded to the role.
#[derive(Clone, Debug)]
pub enum EosActor {
    /// A producer instance.
    Producer(ProducerActor),
    /// A partition leader.
    Partition(PartitionActor),
    /// The transaction coordinator.
    Coordinator(CoordinatorActor),
    /// The group coordinator (processor scenarios).
    Group(GroupActor),
    /// An exactly-once processor instance.
    Processor(ProcessorActor),
}

/// The offset of an acknowledgement that carried none (`RecordMetadata.offset() == -1`).
pub const UNKNOWN_OFFSET: Offset = -1;

/// The first producer id the coordinator hands out (small ids keep counterexamples short).
pub const FIRST_PRODUCER_ID: i64 = 0;

impl EosActor {
    /// The actors of a scenario, in id order: producers, partitions, coordinator, and with
    /// processors the group coordinator and the processors.
    pub fn of(s: &Scenario) -> Vec<EosActor> {
        let np = s.producers.len();
        let partitions: Vec<Id> = (0..usize::from(s.partitions))
            .map(|i| Id::from(np + i))
            .collect();
        let coordinator = Id::from(np + usize::from(s.partitions));
        let connections = s.network == NetworkKind::Kafka;
        let mut next_rec: Rec = 0;
        let mut actors = Vec::new();
        let mut first_records: Vec<Vec<Rec>> = Vec::new();
        for (index, script) in s.producers.iter().enumerate() {
            if s.restart_resends && script.delayed_start {
                // The restarted application sends the first instance's records again.
                actors.push(EosActor::Producer(ProducerActor {
                    index,
                    config: s.producer_config(index),
                    script: script.clone(),
                    records: first_records.clone(),
                    request_timeouts: s.request_timeouts,
                    sequential_sends: s.sequential_sends,
                    partitions: partitions.clone(),
                    coordinator,
                    connections,
                }));
                continue;
            }
            let records: Vec<Vec<Rec>> = script
                .txns
                .iter()
                .map(|t| {
                    t.records
                        .iter()
                        .map(|_| {
                            let r = next_rec;
                            next_rec = next_rec.wrapping_add(1);
                            r
                        })
                        .collect()
                })
                .collect();
            if index == 0 {
                first_records = records.clone();
            }
            actors.push(EosActor::Producer(ProducerActor {
                index,
                config: s.producer_config(index),
                script: script.clone(),
                records,
                request_timeouts: s.request_timeouts,
                sequential_sends: s.sequential_sends,
                partitions: partitions.clone(),
                coordinator,
                connections,
            }));
        }
        for i in 0..s.partitions {
            actors.push(EosActor::Partition(PartitionActor {
                index: i,
                config: s.partition_config(),
                transaction_version: s.protocol.transaction_version(),
                expiries: s.expiries,
                preload: if s.processors.is_empty() || i != super::processor::INPUT {
                    0
                } else {
                    s.input_records
                },
                coordinator,
                connections,
            }));
        }
        let group = (!s.processors.is_empty()).then(|| Id::from(usize::from(coordinator) + 1));
        actors.push(EosActor::Coordinator(CoordinatorActor {
            config: s.coordinator_config(),
            txn_timeouts: s.txn_timeouts,
            failovers: s.failovers,
            marker_timeouts: s.marker_timeouts,
            append_failures: s.append_failures,
            partitions: partitions.clone(),
            group,
            connections,
        }));
        if let Some(group) = group {
            actors.push(EosActor::Group(GroupActor {
                config: s.group_config(),
                coordinator,
                verification: s.protocol.verification(),
                initial_members: s
                    .processors
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| !p.delayed_start)
                    .map(|(i, _)| format!("member-{}", i + 1))
                    .collect(),
                connections,
            }));
            for index in 0..s.processors.len() {
                actors.push(EosActor::Processor(ProcessorActor::of(
                    s,
                    index,
                    partitions.clone(),
                    coordinator,
                    group,
                )));
            }
        }
        actors
    }

    /// Whether `msg` from `src`, addressed to this actor in `state`, can never be read: an
    /// answer on a connection its client has closed ([`Arrival::Stale`]; Kafka network only).
    /// Such a delivery is a no-op now and in every later state (incarnations only grow).
    pub fn is_dead(&self, state: &ActorState, src: Id, msg: &Msg) -> bool {
        let Msg::OnConnection { conn, msg: body } = msg else {
            return false;
        };
        let stale = |c: Option<&ClientConn>| c.is_some_and(|c| c.classify(*conn) == Arrival::Stale);
        match (self, state, body.msg()) {
            (EosActor::Producer(p), ActorState::Producer(s), Msg::Response { .. }) => {
                p.connections && stale(p.conn_index(src).and_then(|i| s.conns.get(i)))
            }
            (EosActor::Partition(p), ActorState::Partition(s), Msg::VerifyResponse { .. }) => {
                p.connections && stale(Some(&s.verify_conn))
            }
            (
                EosActor::Coordinator(c),
                ActorState::Coordinator(s),
                Msg::WriteTxnMarkerResponse(_),
            ) => {
                c.connections
                    && stale(
                        c.partitions
                            .iter()
                            .position(|p| *p == src)
                            .and_then(|i| s.marker_conns.get(i)),
                    )
            }
            _ => false,
        }
    }
}

/// Producers' `now`: constant; only `delivery.timeout.ms` (0 or 120 s) decides whether a
/// timed-out batch expires.
const PRODUCER_NOW: TimestampMs = 0;

impl Actor for EosActor {
    type Msg = Msg;
    type Timer = Timer;
    type State = ActorState;
    type Storage = ();
    type Random = Choice;

    fn name(&self) -> String {
        match self {
            EosActor::Producer(p) => format!("producer-{}", p.index + 1),
            EosActor::Partition(p) => format!("partition-{}", p.index),
            EosActor::Coordinator(_) => "coordinator".to_string(),
            EosActor::Group(_) => "group-coordinator".to_string(),
            EosActor::Processor(p) => format!("processor-{}", p.index + 1),
        }
    }

    fn on_start(&self, _id: Id, _storage: &Option<()>, o: &mut Out<Self>) -> ActorState {
        match self {
            EosActor::Producer(p) => ActorState::Producer(Box::new(p.start(o))),
            EosActor::Partition(p) => {
                if p.expiries > 0 {
                    o.set_timer(Timer::ExpireProducers, stateright::actor::model_timeout());
                }
                let mut core = PartitionLeader::new(p.config);
                for rec in 0..p.preload {
                    let _ = core.append(
                        ProduceBatch {
                            producer_id: -1,
                            producer_epoch: -1,
                            base_sequence: -1,
                            record_count: 1,
                            is_transactional: false,
                            max_timestamp: 0,
                            payload: rec,
                        },
                        None,
                    );
                }
                let mut state = PartitionActorState {
                    core,
                    clock: 0,
                    expiries_left: p.expiries,
                    flags: 0,
                    delivered: BTreeSet::new(),
                    lso_seen: 0,
                    verify_conn: ClientConn::default(),
                    served: ServedConns::default(),
                    hash_cache: HashCache::default(),
                    views: LogViews::default(),
                };
                state.observe_reads();
                ActorState::Partition(Box::new(state))
            }
            EosActor::Group(g) => ActorState::Group(Box::new(g.start())),
            EosActor::Processor(p) => ActorState::Processor(Box::new(p.start(o))),
            EosActor::Coordinator(c) => {
                if c.txn_timeouts > 0 {
                    o.set_timer(
                        Timer::TransactionTimeout,
                        stateright::actor::model_timeout(),
                    );
                }
                if c.failovers > 0 {
                    o.set_timer(Timer::Failover, stateright::actor::model_timeout());
                }
                if c.append_failures > 0 {
                    o.set_timer(Timer::AppendFailure, stateright::actor::model_timeout());
                }
                if c.marker_timeouts > 0 {
                    for i in 0..c.partitions.len() {
                        let i = u8::try_from(i).unwrap_or(u8::MAX);
                        o.set_timer(Timer::MarkerTimeout(i), stateright::actor::model_timeout());
                    }
                }
                let core = TransactionCoordinator::new(c.config.clone(), FIRST_PRODUCER_ID, 0)
                    .unwrap_or_else(|e| panic!("invalid coordinator configuration: {e}"));
                ActorState::Coordinator(Box::new(CoordinatorActorState {
                    core,
                    log: BTreeMap::new(),
                    clock: 0,
                    timeouts_left: c.txn_timeouts,
                    failovers_left: c.failovers,
                    marker_timeouts_left: c.marker_timeouts,
                    append_failures_left: c.append_failures,
                    fail_next_append: false,
                    flags: 0,
                    marker_conns: vec![
                        ClientConn::default();
                        c.partitions.len() + usize::from(c.group.is_some())
                    ],
                    served: ServedConns::default(),
                    hash_cache: HashCache::default(),
                }))
            }
        }
    }

    fn on_msg(&self, id: Id, state: &mut Cow<ActorState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        match (self, &**state) {
            (EosActor::Producer(p), ActorState::Producer(s)) => {
                let (conn, msg) = msg.unframed();
                let Msg::Response { id: rid, response } = msg else {
                    return;
                };
                // Kafka network: only the next response of the current connection is read; a
                // later one waits (TCP order), one of a closed connection is dead.
                let conn = match p.conn_index(src) {
                    Some(i) if p.connections => {
                        if s.conns.get(i).map(|c| c.classify(conn)) != Some(Arrival::Next) {
                            return;
                        }
                        Some(i)
                    }
                    _ => None,
                };
                let mut next = (**s).clone();
                if let Some(c) = conn.and_then(|i| next.conns.get_mut(i)) {
                    c.answered = c.answered.wrapping_add(1);
                }
                let answered = next.core.handle_response(rid, response, PRODUCER_NOW);
                if let Ok(out) = answered {
                    o.cancel_timer(Timer::RequestTimeout(rid));
                    p.process(&mut next, out, o);
                } else if !p.connections {
                    // A response to a request the client no longer tracks: not an input.
                    return;
                }
                *state = Cow::Owned(ActorState::Producer(Box::new(next)));
            }
            (EosActor::Partition(p), ActorState::Partition(s)) => {
                if !p.accepts(s, src, &msg) {
                    return;
                }
                let mut next = (**s).clone();
                if p.on_msg(id, &mut next, src, msg, o) {
                    next.observe_reads();
                    *state = Cow::Owned(ActorState::Partition(Box::new(next)));
                }
            }
            (EosActor::Coordinator(c), ActorState::Coordinator(s)) => {
                if !c.accepts(s, src, &msg) {
                    return;
                }
                let mut next = (**s).clone();
                if c.on_msg(&mut next, src, msg, o) {
                    *state = Cow::Owned(ActorState::Coordinator(Box::new(next)));
                }
            }
            (EosActor::Group(g), ActorState::Group(s)) => {
                if !g.accepts(s, src, &msg) {
                    return;
                }
                let mut next = (**s).clone();
                if g.on_msg(&mut next, src, msg, o) {
                    *state = Cow::Owned(ActorState::Group(Box::new(next)));
                }
            }
            (EosActor::Processor(p), ActorState::Processor(s)) => {
                if !p.accepts(s, src, &msg) {
                    return;
                }
                let mut next = (**s).clone();
                if p.on_msg(&mut next, src, msg, o) {
                    *state = Cow::Owned(ActorState::Processor(Box::new(next)));
                }
            }
            _ => {}
        }
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<ActorState>, timer: &Timer, o: &mut Out<Self>) {
        match (self, &**state) {
            (EosActor::Producer(p), ActorState::Producer(s)) => {
                let mut next = (**s).clone();
                match timer {
                    Timer::Start => {
                        if let Ok(out) = next.core.init(PRODUCER_NOW) {
                            next.phase = AppPhase::Initializing;
                            p.process(&mut next, out, o);
                        }
                    }
                    Timer::RequestTimeout(rid) => {
                        if next.timeouts_left == 0 {
                            return;
                        }
                        if p.connections {
                            // Kafka's `NetworkClient`: the timeout closes the request's
                            // connection, and every request in flight on it fails at once, in
                            // sending order; later requests go on a new connection.
                            let Some(i) = s.core.outstanding().get(rid).map(|w| p.conn_of(w))
                            else {
                                return;
                            };
                            let failed: Vec<RequestId> = s
                                .core
                                .outstanding()
                                .iter()
                                .filter(|(_, w)| p.conn_of(w) == i)
                                .map(|(r, _)| *r)
                                .collect();
                            if let Some(c) = next.conns.get_mut(i) {
                                c.close();
                            }
                            next.timeouts_left -= 1;
                            for r in failed {
                                o.cancel_timer(Timer::RequestTimeout(r));
                                if let Ok(out) = next.core.handle_request_timeout(r, PRODUCER_NOW) {
                                    p.process(&mut next, out, o);
                                }
                            }
                        } else {
                            let Ok(out) = next.core.handle_request_timeout(*rid, PRODUCER_NOW)
                            else {
                                return;
                            };
                            next.timeouts_left -= 1;
                            p.process(&mut next, out, o);
                        }
                        if next.timeouts_left == 0 {
                            for r in s.core.outstanding().keys() {
                                o.cancel_timer(Timer::RequestTimeout(*r));
                            }
                        }
                    }
                    _ => return,
                }
                *state = Cow::Owned(ActorState::Producer(Box::new(next)));
            }
            (EosActor::Partition(p), ActorState::Partition(s)) => {
                if *timer != Timer::ExpireProducers || s.expiries_left == 0 {
                    return;
                }
                let mut next = (**s).clone();
                let now = next
                    .clock
                    .saturating_add(p.config.producer_id_expiration_ms)
                    .saturating_add(1);
                if next.core.expire_producers(now).is_empty() {
                    // Nothing to expire yet: stay armed, change nothing (a no-op).
                    o.set_timer(Timer::ExpireProducers, stateright::actor::model_timeout());
                    return;
                }
                next.clock = now;
                next.expiries_left -= 1;
                if next.expiries_left > 0 {
                    o.set_timer(Timer::ExpireProducers, stateright::actor::model_timeout());
                }
                next.observe_reads();
                *state = Cow::Owned(ActorState::Partition(Box::new(next)));
            }
            (EosActor::Coordinator(c), ActorState::Coordinator(s)) => {
                let mut next = (**s).clone();
                if c.on_timeout(&mut next, timer, o) {
                    *state = Cow::Owned(ActorState::Coordinator(Box::new(next)));
                }
            }
            (EosActor::Processor(p), ActorState::Processor(s)) => {
                if *timer != Timer::Start || s.phase != super::processor::ProcPhase::NotStarted {
                    return;
                }
                let mut next = (**s).clone();
                p.boot(&mut next, o);
                *state = Cow::Owned(ActorState::Processor(Box::new(next)));
            }
            _ => {}
        }
    }

    fn on_random(&self, _id: Id, state: &mut Cow<ActorState>, random: &Choice, o: &mut Out<Self>) {
        if let (EosActor::Producer(p), ActorState::Producer(s)) = (self, &**state) {
            let Choice::End(result) = random;
            let mut next = (**s).clone();
            p.end_transaction(&mut next, *result, o);
            *state = Cow::Owned(ActorState::Producer(Box::new(next)));
        }
    }
}

impl ProducerActor {
    /// The index in [`ProducerActorState::conns`] of the connection to actor `server`.
    fn conn_index(&self, server: Id) -> Option<usize> {
        if server == self.coordinator {
            return Some(self.partitions.len());
        }
        self.partitions.iter().position(|p| *p == server)
    }

    /// The index in [`ProducerActorState::conns`] of the connection an outstanding request
    /// travels on.
    fn conn_of(&self, what: &Outstanding) -> usize {
        match what {
            Outstanding::Produce(tp, _) => usize::try_from(tp.partition)
                .ok()
                .filter(|i| *i < self.partitions.len())
                .unwrap_or(usize::MAX),
            Outstanding::Txn(_) => self.partitions.len(),
        }
    }

    fn start(&self, o: &mut Out<EosActor>) -> ProducerActorState {
        let core = Producer::new(self.config.clone())
            .unwrap_or_else(|e| panic!("invalid producer configuration: {e}"));
        let mut s = ProducerActorState {
            core,
            phase: AppPhase::NotStarted,
            batches: BTreeMap::new(),
            acked: BTreeSet::new(),
            committed: 0,
            aborted: 0,
            timeouts_left: self.request_timeouts,
            sent: 0,
            sent_in_txn: 0,
            conns: vec![ClientConn::default(); self.partitions.len() + 1],
            hash_cache: HashCache::default(),
        };
        if self.script.delayed_start {
            o.set_timer(Timer::Start, stateright::actor::model_timeout());
        } else if let Ok(out) = s.core.init(PRODUCER_NOW) {
            s.phase = AppPhase::Initializing;
            self.process(&mut s, out, o);
        }
        s
    }

    /// Maps one core output to sends and timers, then lets the application react to its
    /// events (which may call the core again).
    fn process(&self, s: &mut ProducerActorState, out: ProducerOutput<Rec>, o: &mut Out<EosActor>) {
        let mut pending = vec![out];
        while let Some(out) = pending.pop() {
            for request in out.sends {
                let rid = request.id();
                s.sent = s.sent.saturating_add(1);
                let (i, body) = match request {
                    Request::Produce { id, request } => {
                        let Some(i) = usize::try_from(request.partition.partition)
                            .ok()
                            .filter(|i| *i < self.partitions.len())
                        else {
                            continue;
                        };
                        (i, Msg::Produce { id, request })
                    }
                    request => (self.partitions.len(), Msg::TxnRequest(request)),
                };
                let dst = self.partitions.get(i).copied().unwrap_or(self.coordinator);
                let conn = match s.conns.get_mut(i) {
                    Some(c) if self.connections => c.next_request(),
                    _ => Conn::default(),
                };
                o.send(dst, Msg::on(self.connections, conn, body));
                if s.timeouts_left > 0 {
                    o.set_timer(
                        Timer::RequestTimeout(rid),
                        stateright::actor::model_timeout(),
                    );
                }
            }
            for event in out.events {
                if let Some(next) = self.on_event(s, event, o) {
                    pending.push(next);
                }
            }
        }
    }

    /// The application's reaction to one event (Kafka's documented usage pattern: on an
    /// abortable error, abort; on a fatal error, stop).
    fn on_event(
        &self,
        s: &mut ProducerActorState,
        event: ProducerEvent,
        o: &mut Out<EosActor>,
    ) -> Option<ProducerOutput<Rec>> {
        match event {
            ProducerEvent::Initialized { .. } => {
                if s.phase == AppPhase::Initializing {
                    return self.begin_next(s, 0, o);
                }
                None
            }
            ProducerEvent::SendAcknowledged {
                batch, base_offset, ..
            } => {
                if let Some(rec) = s.batches.remove(&batch) {
                    s.acked.insert((rec, base_offset.unwrap_or(UNKNOWN_OFFSET)));
                    if let (true, AppPhase::InTransaction(n)) = (self.sequential_sends, s.phase) {
                        return self.send_next(s, n, o);
                    }
                }
                None
            }
            ProducerEvent::SendFailed { batch, .. } => {
                // With sequential sends `send().get()` throws: the application stops sending;
                // an abortable error makes it abort below (Error event).
                s.batches.remove(&batch);
                None
            }
            ProducerEvent::TransactionCommitted | ProducerEvent::TransactionAborted => {
                if let AppPhase::InTransaction(n) = s.phase {
                    let bit = 1u8.checked_shl(u32::from(n)).unwrap_or(0);
                    if event == ProducerEvent::TransactionCommitted {
                        s.committed |= bit;
                    } else {
                        s.aborted |= bit;
                    }
                    return self.begin_next(s, n.saturating_add(1), o);
                }
                None
            }
            // The model's application never sends offsets.
            ProducerEvent::OffsetsSent { .. } | ProducerEvent::OffsetsFailed { .. } => None,
            ProducerEvent::Error(_) | ProducerEvent::EpochBumped { .. } => match s.core.state() {
                TransactionState::AbortableError => s.core.abort(PRODUCER_NOW).ok(),
                TransactionState::FatalError => {
                    s.phase = AppPhase::Done;
                    None
                }
                _ => None,
            },
        }
    }

    /// Begins script transaction `n` (or, for an idempotent producer, sends its records).
    fn begin_next(
        &self,
        s: &mut ProducerActorState,
        n: u8,
        o: &mut Out<EosActor>,
    ) -> Option<ProducerOutput<Rec>> {
        if self.script.txns.get(usize::from(n)).is_none() {
            s.phase = AppPhase::Done;
            return None;
        }
        let mut merged = ProducerOutput::default();
        if s.core.is_transactional() {
            match s.core.begin(PRODUCER_NOW) {
                Ok(out) => merge(&mut merged, out),
                Err(_) => {
                    s.phase = AppPhase::Done;
                    return None;
                }
            }
        }
        s.phase = AppPhase::InTransaction(n);
        s.sent_in_txn = 0;
        if let Some(out) = self.send_next(s, n, o) {
            merge(&mut merged, out);
        }
        Some(merged)
    }

    /// Hands the next records of transaction `n` to `send()`: all of them, or with sequential
    /// sends the next one only; once every record is handed over (and, with sequential sends,
    /// acknowledged) the transaction is ended as the script says.
    fn send_next(
        &self,
        s: &mut ProducerActorState,
        n: u8,
        o: &mut Out<EosActor>,
    ) -> Option<ProducerOutput<Rec>> {
        let t = self.script.txns.get(usize::from(n))?;
        let recs = self
            .records
            .get(usize::from(n))
            .cloned()
            .unwrap_or_default();
        let mut merged = ProducerOutput::default();
        let pending = t.records.iter().zip(recs).skip(usize::from(s.sent_in_txn));
        for (partition, rec) in pending {
            s.sent_in_txn = s.sent_in_txn.saturating_add(1);
            if let Ok(out) = s
                .core
                .send(topic_partition(*partition), 1, rec, PRODUCER_NOW)
            {
                if let Some(b) = out.batch {
                    s.batches.insert(b, rec);
                }
                merge(&mut merged, out);
            }
            if self.sequential_sends {
                return Some(merged);
            }
        }
        if s.core.is_transactional() {
            match t.end {
                TxnEnd::Commit => {
                    if let Ok(out) = s.core.commit(PRODUCER_NOW) {
                        merge(&mut merged, out);
                    }
                }
                TxnEnd::Abort => {
                    if let Ok(out) = s.core.abort(PRODUCER_NOW) {
                        merge(&mut merged, out);
                    }
                }
                TxnEnd::Choose => o.choose_random(
                    "end",
                    vec![
                        Choice::End(TransactionResult::Commit),
                        Choice::End(TransactionResult::Abort),
                    ],
                ),
            }
        } else {
            s.phase = AppPhase::Done;
        }
        Some(merged)
    }

    fn end_transaction(
        &self,
        s: &mut ProducerActorState,
        result: TransactionResult,
        o: &mut Out<EosActor>,
    ) {
        let out = match result {
            TransactionResult::Commit => s.core.commit(PRODUCER_NOW),
            TransactionResult::Abort => s.core.abort(PRODUCER_NOW),
        };
        match out {
            Ok(out) => self.process(s, out, o),
            Err(_) => {
                if s.core.state() == TransactionState::AbortableError {
                    if let Ok(out) = s.core.abort(PRODUCER_NOW) {
                        self.process(s, out, o);
                    }
                }
            }
        }
    }
}

fn merge(into: &mut ProducerOutput<Rec>, out: ProducerOutput<Rec>) {
    into.sends.extend(out.sends);
    into.events.extend(out.events);
    into.transitions.extend(out.transitions);
}

impl PartitionActor {
    /// Whether the leader takes `msg` now (Kafka network: a request must be the next one of
    /// its connection, which must not be busy with an earlier request; a verification answer
    /// must be the next one of the verification connection). Checked before any state is
    /// cloned: a refused delivery is no transition.
    fn accepts(&self, s: &PartitionActorState, src: Id, msg: &Msg) -> bool {
        if !self.connections {
            return true;
        }
        match msg.body() {
            Msg::Produce { .. }
            | Msg::WriteTxnMarker(_)
            | Msg::Consumer(ConsumerRequest::Fetch { .. }) => s.served.is_next(src, msg.conn()),
            Msg::VerifyResponse { .. } => s.verify_conn.classify(msg.conn()) == Arrival::Next,
            _ => false,
        }
    }

    /// Returns whether the state changed.
    fn on_msg(
        &self,
        _id: Id,
        s: &mut PartitionActorState,
        src: Id,
        msg: Msg,
        o: &mut Out<EosActor>,
    ) -> bool {
        let (conn, msg) = msg.unframed();
        match msg {
            Msg::Produce { id, request } => {
                match s.core.handle_produce(request.clone(), s.clock) {
                    ProduceStep::Answered(result) => {
                        self.answer(s, src, id, conn, &request, result, o);
                    }
                    ProduceStep::Verify { request, pending } => {
                        // The producer's connection stays busy until the answer.
                        let verify = if self.connections {
                            s.verify_conn.next_request()
                        } else {
                            Conn::default()
                        };
                        o.send(
                            self.coordinator,
                            Msg::on(
                                self.connections,
                                verify,
                                Msg::Verify {
                                    request,
                                    held: Box::new(HeldProduce {
                                        producer: src,
                                        id,
                                        conn,
                                        pending,
                                    }),
                                },
                            ),
                        );
                    }
                }
                true
            }
            Msg::VerifyResponse { result, held } => {
                if self.connections {
                    s.verify_conn.answered = s.verify_conn.answered.wrapping_add(1);
                }
                let HeldProduce {
                    producer,
                    id,
                    conn,
                    pending,
                } = *held;
                let request = pending.request().clone();
                let result = s
                    .core
                    .handle_verification_response(pending, result, s.clock);
                self.answer(s, producer, id, conn, &request, result, o);
                true
            }
            Msg::Consumer(ConsumerRequest::Fetch { id, request }) => {
                // A fetch outside [0, LEO] is OFFSET_OUT_OF_RANGE in Kafka; the processors'
                // positions never leave the log, so any error code stands for it here.
                let answer = s
                    .core
                    .fetch(request.fetch_offset, request.isolation_level)
                    .map_err(|_| ErrorCode::UnknownServerError);
                if self.connections {
                    s.served.answered(src, conn);
                }
                o.send(
                    src,
                    Msg::on(
                        self.connections,
                        conn,
                        Msg::ConsumerResponse {
                            id,
                            response: ConsumerResponse::Fetch(answer),
                        },
                    ),
                );
                true
            }
            Msg::WriteTxnMarker(marker) => {
                let response = s.core.handle_write_txn_marker(&marker, s.clock);
                if response.error == Some(ErrorCode::InvalidProducerEpoch) {
                    s.flags |= pflag::STALE_MARKER;
                }
                if self.connections {
                    s.served.answered(src, conn);
                }
                o.send(
                    src,
                    Msg::on(
                        self.connections,
                        conn,
                        Msg::WriteTxnMarkerResponse(response),
                    ),
                );
                true
            }
            _ => false,
        }
    }

    /// Sends the core's answer to the producer, noting what the probes observe.
    #[allow(clippy::too_many_arguments)]
    fn answer(
        &self,
        s: &mut PartitionActorState,
        producer: Id,
        id: RequestId,
        conn: Conn,
        request: &ProduceRequest<Rec>,
        result: ProduceResult,
        o: &mut Out<EosActor>,
    ) {
        match result {
            Ok(AppendOutcome::Duplicate { .. }) => s.flags |= pflag::DUPLICATE,
            Ok(AppendOutcome::Appended { .. }) => {}
            Err(ErrorCode::OutOfOrderSequenceNumber) => s.flags |= pflag::OUT_OF_ORDER,
            Err(ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced) => {
                s.flags |= pflag::FENCED
            }
            Err(_) => {}
        }
        if result.is_err()
            && request.is_transactional
            && s.core.log().iter().any(|b| {
                b.is_control()
                    && b.producer_id == request.producer_id
                    && b.producer_epoch >= request.producer_epoch
            })
        {
            s.flags |= pflag::LATE_PRODUCE;
        }
        if self.connections {
            s.served.answered(producer, conn);
        }
        o.send(
            producer,
            Msg::on(
                self.connections,
                conn,
                Msg::Response {
                    id,
                    response: Response::Produce(produce_response(&result)),
                },
            ),
        );
    }
}

impl CoordinatorActor {
    /// Where a marker for `partition` goes: its marker connection's index and the leader (the
    /// group coordinator for `__consumer_offsets`, after the data partitions).
    fn marker_route(&self, partition: &TopicPartition) -> Option<(usize, Id)> {
        if &*partition.topic == CONSUMER_OFFSETS_TOPIC {
            return self.group.map(|g| (self.partitions.len(), g));
        }
        let i = usize::try_from(partition.partition)
            .ok()
            .filter(|i| *i < self.partitions.len())?;
        self.partitions.get(i).map(|dst| (i, *dst))
    }

    /// The index of the marker connection to leader `src`.
    fn marker_conn_index(&self, src: Id) -> Option<usize> {
        if self.group == Some(src) {
            return Some(self.partitions.len());
        }
        self.partitions.iter().position(|p| *p == src)
    }

    fn apply(
        &self,
        s: &mut CoordinatorActorState,
        outputs: Vec<CoordinatorOutput>,
        o: &mut Out<EosActor>,
    ) {
        for output in outputs {
            match output {
                CoordinatorOutput::AppendTransactionLog {
                    transactional_id,
                    value,
                } => match value {
                    Some(v) => {
                        s.log.insert(transactional_id, v);
                    }
                    None => {
                        s.log.remove(&transactional_id);
                    }
                },
                CoordinatorOutput::WriteTxnMarker(m) => {
                    let Some((i, dst)) = self.marker_route(&m.partition) else {
                        continue;
                    };
                    let conn = match s.marker_conns.get_mut(i) {
                        Some(c) if self.connections => c.next_request(),
                        _ => Conn::default(),
                    };
                    o.send(dst, Msg::on(self.connections, conn, Msg::WriteTxnMarker(m)));
                }
            }
        }
    }

    /// Runs a client request's handler: the synchronous one (every append durable) unless an
    /// append failure is armed; then the staged one, whose append, if it needs one, fails
    /// (NOT_ENOUGH_REPLICAS, which the core answers as COORDINATOR_NOT_AVAILABLE and rolls back:
    /// `appendTransactionToLog`'s error callback). A request that needs no append leaves the
    /// failure armed for the next one.
    /// A broker's KIP-890 verification add (for a Produce or a TxnOffsetCommit) through the
    /// core's AddPartitionsToTxn handler; its outputs applied, its answer returned.
    fn verify(
        &self,
        s: &mut CoordinatorActorState,
        request: &AddPartitionsToTxnRequest,
        now: TimestampMs,
        o: &mut Out<EosActor>,
    ) -> Result<(), ErrorCode> {
        let (result, outputs) = Self::handle(
            s,
            o,
            |c| c.handle_add_partitions_to_txn(request, now),
            |c| c.handle_add_partitions_to_txn_staged(request, now),
        );
        if let Err(e) = result {
            Self::note_error(s, e);
        }
        self.apply(s, outputs, o);
        result
    }

    fn handle<T>(
        s: &mut CoordinatorActorState,
        o: &mut Out<EosActor>,
        sync: impl FnOnce(&mut TransactionCoordinator) -> (Result<T, ErrorCode>, Vec<CoordinatorOutput>),
        staged: impl FnOnce(&mut TransactionCoordinator) -> CoordinatorStep<T>,
    ) -> (Result<T, ErrorCode>, Vec<CoordinatorOutput>) {
        if !s.fail_next_append {
            return sync(&mut s.core);
        }
        match staged(&mut s.core) {
            CoordinatorStep::Answer(result) => (result, Vec::new()),
            CoordinatorStep::Append(pending) => {
                s.fail_next_append = false;
                s.flags |= cflag::APPEND_FAILED;
                if s.append_failures_left > 0 {
                    o.set_timer(Timer::AppendFailure, stateright::actor::model_timeout());
                }
                let outcome = s
                    .core
                    .complete_append(pending, Err(ErrorCode::NotEnoughReplicas));
                // A client request's transition never re-queues (only a completion does).
                debug_assert!(outcome.appends.is_empty());
                (outcome.response, outcome.outputs)
            }
        }
    }

    fn note_error(s: &mut CoordinatorActorState, e: ErrorCode) {
        match e {
            ErrorCode::ConcurrentTransactions => s.flags |= cflag::CONCURRENT,
            ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch => s.flags |= cflag::FENCED,
            _ => {}
        }
    }

    /// Whether the coordinator takes `msg` now (Kafka network: a request must be the next one
    /// of its connection; a marker answer must be the next one of its connection, and one of a
    /// closed connection is never read). Checked before any state is cloned: a refused
    /// delivery is no transition.
    fn accepts(&self, s: &CoordinatorActorState, src: Id, msg: &Msg) -> bool {
        if !self.connections {
            return true;
        }
        match msg.body() {
            Msg::TxnRequest(_) | Msg::Verify { .. } | Msg::OffsetsVerify { .. } => {
                s.served.is_next(src, msg.conn())
            }
            Msg::WriteTxnMarkerResponse(_) => self
                .marker_conn_index(src)
                .and_then(|i| s.marker_conns.get(i))
                .is_some_and(|c| c.classify(msg.conn()) == Arrival::Next),
            _ => false,
        }
    }

    /// Answers a request on its connection.
    fn respond(
        &self,
        s: &mut CoordinatorActorState,
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

    /// Returns whether the state changed.
    fn on_msg(
        &self,
        s: &mut CoordinatorActorState,
        src: Id,
        msg: Msg,
        o: &mut Out<EosActor>,
    ) -> bool {
        let now = s.clock;
        let (conn, msg) = msg.unframed();
        match msg {
            Msg::TxnRequest(Request::InitProducerId { id, request }) => {
                let (result, outputs) = Self::handle(
                    s,
                    o,
                    |c| c.handle_init_producer_id(&request, now),
                    |c| c.handle_init_producer_id_staged(&request, now),
                );
                if let Err(e) = result {
                    Self::note_error(s, e);
                }
                self.apply(s, outputs, o);
                let response = Response::InitProducerId(result);
                self.respond(s, src, conn, Msg::Response { id, response }, o);
                true
            }
            Msg::TxnRequest(Request::AddPartitionsToTxn { id, request }) => {
                let (result, outputs) = Self::handle(
                    s,
                    o,
                    |c| c.handle_add_partitions_to_txn(&request, now),
                    |c| c.handle_add_partitions_to_txn_staged(&request, now),
                );
                if let Err(e) = result {
                    Self::note_error(s, e);
                }
                self.apply(s, outputs, o);
                let response = Response::AddPartitionsToTxn(result);
                self.respond(s, src, conn, Msg::Response { id, response }, o);
                true
            }
            Msg::TxnRequest(Request::EndTxn { id, request }) => {
                let (answer, outputs) = Self::handle(
                    s,
                    o,
                    |c| c.handle_end_txn(&request, now),
                    |c| c.handle_end_txn_staged(&request, now),
                );
                if let Err(e) = answer {
                    Self::note_error(s, e);
                    if matches!(
                        e,
                        ErrorCode::ProducerFenced
                            | ErrorCode::InvalidProducerEpoch
                            | ErrorCode::InvalidProducerIdMapping
                            | ErrorCode::InvalidTxnState
                    ) {
                        s.flags |= cflag::LATE_ENDTXN;
                    }
                }
                self.apply(s, outputs, o);
                let response = Response::EndTxn(answer);
                self.respond(s, src, conn, Msg::Response { id, response }, o);
                true
            }
            Msg::TxnRequest(Request::AddOffsetsToTxn { id, request }) => {
                let (result, outputs) = Self::handle(
                    s,
                    o,
                    |c| c.handle_add_offsets_to_txn(&request, now),
                    |c| c.handle_add_offsets_to_txn_staged(&request, now),
                );
                if let Err(e) = result {
                    Self::note_error(s, e);
                }
                self.apply(s, outputs, o);
                let response = Response::AddOffsetsToTxn(result);
                self.respond(s, src, conn, Msg::Response { id, response }, o);
                true
            }
            Msg::OffsetsVerify { request, held } => {
                let result = self.verify(s, &request, now, o);
                self.respond(s, src, conn, Msg::OffsetsVerifyResponse { result, held }, o);
                true
            }
            Msg::Verify { request, held } => {
                let result = self.verify(s, &request, now, o);
                self.respond(s, src, conn, Msg::VerifyResponse { result, held }, o);
                true
            }
            Msg::WriteTxnMarkerResponse(r) => {
                if self.connections {
                    let Some(c) = self
                        .marker_conn_index(src)
                        .and_then(|i| s.marker_conns.get_mut(i))
                    else {
                        return false;
                    };
                    if c.classify(conn) != Arrival::Next {
                        return false;
                    }
                    c.answered = c.answered.wrapping_add(1);
                }
                match s.core.handle_write_txn_markers_response(&r) {
                    Ok(outputs) => {
                        self.apply(s, outputs, o);
                        true
                    }
                    // Read off its connection, even if the core has no use for it.
                    Err(_) => self.connections,
                }
            }
            _ => false,
        }
    }

    /// Returns whether the state changed.
    fn on_timeout(
        &self,
        s: &mut CoordinatorActorState,
        timer: &Timer,
        o: &mut Out<EosActor>,
    ) -> bool {
        match timer {
            Timer::TransactionTimeout => {
                if s.timeouts_left == 0 {
                    return false;
                }
                let longest = s
                    .core
                    .transactions()
                    .values()
                    .map(|t| i64::from(t.txn_timeout_ms))
                    .max()
                    .unwrap_or(0);
                let now = s.clock.saturating_add(longest).saturating_add(1);
                let (aborted, outputs) = s.core.abort_timed_out_transactions(now);
                if aborted.is_empty() {
                    o.set_timer(
                        Timer::TransactionTimeout,
                        stateright::actor::model_timeout(),
                    );
                    return false;
                }
                s.clock = now;
                s.timeouts_left -= 1;
                s.flags |= cflag::TIMEOUT_ABORT;
                self.apply(s, outputs, o);
                if s.timeouts_left > 0 {
                    o.set_timer(
                        Timer::TransactionTimeout,
                        stateright::actor::model_timeout(),
                    );
                }
                true
            }
            Timer::Failover => {
                if s.failovers_left == 0 {
                    return false;
                }
                let epoch = s.core.coordinator_epoch().saturating_add(1);
                if s.core.become_coordinator(epoch).is_err() {
                    return false;
                }
                s.failovers_left -= 1;
                if self.connections {
                    // The new coordinator is another broker: its marker requests travel on new
                    // connections, while the old one's requests already sent may still land.
                    for c in &mut s.marker_conns {
                        c.close();
                    }
                }
                let records: Vec<(String, TransactionLogValue)> =
                    s.log.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                for (tid, value) in records {
                    if value.state.is_prepare() {
                        s.flags |= cflag::FAILOVER_PREPARE;
                    }
                    if let Ok(outputs) = s.core.load_transaction(&tid, Some(&value), s.clock) {
                        self.apply(s, outputs, o);
                    }
                }
                if s.failovers_left > 0 {
                    o.set_timer(Timer::Failover, stateright::actor::model_timeout());
                }
                true
            }
            Timer::AppendFailure => {
                if s.append_failures_left == 0 || s.fail_next_append {
                    return false;
                }
                // Armed until a request needing an append consumes it, which re-arms the timer
                // while the budget lasts.
                s.append_failures_left -= 1;
                s.fail_next_append = true;
                true
            }
            Timer::MarkerTimeout(index) => {
                if s.marker_timeouts_left == 0 {
                    return false;
                }
                // Every marker in flight to this leader sees its request disconnected (Kafka's
                // `NetworkClient` disconnect: NETWORK_EXCEPTION, `response.wasDisconnected`),
                // and the core re-sends them; on the Kafka network on a new connection, whose
                // old one drops every later answer.
                let partition = topic_partition(*index);
                let disconnected: Vec<WriteTxnMarkersResponse> = s
                    .core
                    .transactions()
                    .keys()
                    .flat_map(|tid| s.core.pending_markers(tid))
                    .filter(|m| m.partition == partition)
                    .map(|m| m.response(Some(ErrorCode::NetworkException)))
                    .collect();
                if disconnected.is_empty() {
                    o.set_timer(
                        Timer::MarkerTimeout(*index),
                        stateright::actor::model_timeout(),
                    );
                    return false;
                }
                if self.connections {
                    if let Some(c) = s.marker_conns.get_mut(usize::from(*index)) {
                        c.close();
                    }
                }
                for r in &disconnected {
                    if let Ok(outputs) = s.core.handle_write_txn_markers_response(r) {
                        self.apply(s, outputs, o);
                    }
                }
                s.marker_timeouts_left -= 1;
                if s.marker_timeouts_left > 0 {
                    o.set_timer(
                        Timer::MarkerTimeout(*index),
                        stateright::actor::model_timeout(),
                    );
                } else {
                    for i in 0..self.partitions.len() {
                        let i = u8::try_from(i).unwrap_or(u8::MAX);
                        o.cancel_timer(Timer::MarkerTimeout(i));
                    }
                }
                true
            }
            _ => false,
        }
    }
}
