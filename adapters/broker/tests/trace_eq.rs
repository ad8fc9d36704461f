//! Trace equivalence: what is model-checked is what runs.
//!
//! One scripted scenario is run twice: (a) through the model's stateright actors, walking one
//! deterministic path, and (b) through the broker over TCP, replaying the exact client requests
//! the model's producers sent. Both sides yield the sequence of core steps — (role, input,
//! output) at the core boundary, in the core's vocabulary ([`kafka_eos_broker::trace`]) — and the
//! two sequences must be equal. The answers the wire client decodes must also equal the
//! responses the model's producers got.
//!
//! The path: no timer, no loss, no random choice; the broker's in-process routing fixes the
//! order of its internal round trips (a produce's verification completes before its answer; each
//! marker is written and its answer handed to the coordinator before the next marker; all of it
//! before the next client request), so the walk delivers, among the deliverable messages, first a
//! marker answer, then the oldest marker, then a verification request or answer, and only then
//! the oldest message of all (a client request, or a response to a producer).
//!
//! What legitimately differs is normalised in `kafka_eos_broker::trace` (payloads, timestamps,
//! marker order within one step) and here: the model's client speaks the newest versions the
//! core knows (InitProducerId v5, EndTxn v4), the broker serves InitProducerId ≤ v4 and
//! EndTxn ≤ v3, so the wire client negotiates each request down to the broker's range (as a
//! Kafka client does through ApiVersions) and the model trace carries the negotiated version.
//! The test checks that every version rule of the core answers the same at both versions, so
//! the normalisation hides no behaviour.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::Client;
use kafka_eos::coordinator::TransactionLogValue;
use kafka_eos::error::ErrorCode;
use kafka_eos::messages::{
    fenced_error_for_version, ApiKey as CoreApi, ProduceRequest as CoreProduce, ProducerIdAndEpoch,
    PRODUCE_VERSION,
};
use kafka_eos::partition::verification_error_for_produce;
use kafka_eos::producer::{Request, RequestId, Response};
use kafka_eos_broker::broker::{BrokerConfig, DEFAULT_FIRST_PRODUCER_ID};
use kafka_eos_broker::server::{now_ms, Server, DEFAULT_MAX_FRAME_BYTES};
use kafka_eos_broker::trace::{self, Effects, ProduceNext, Step};
use kafka_eos_broker::versions;
use kafka_eos_model::model::actors::{
    topic_partition, AppPhase, Msg, Rec, FIRST_PRODUCER_ID, TOPIC,
};
use kafka_eos_model::model::scenario::{
    NetworkKind, ProducerScript, Protocol, Scenario, TxnEnd, TxnScript,
};
use kafka_eos_model::model::{coordinator, model, producers, EosModel, EosState};
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, EndTxnRequest, EndTxnResponse,
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, ProducerId,
    TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use stateright::actor::{ActorModelAction, Id};
use stateright::Model;

/// The scenario: under TV1 with KIP-890 verification (what the broker serves: Produce v11,
/// EndTxn ≤ v3), a transactional producer commits a transaction over two partitions and aborts a
/// second one, while an idempotent producer sends two records; no perturbation.
fn scenario() -> Scenario {
    Scenario {
        name: "trace-eq",
        summary: "trace equivalence: a TV1 transactional producer (commit over 2 partitions, then an abort) and an idempotent producer",
        protocol: Protocol::Tv1Verify,
        partitions: 2,
        producers: vec![
            ProducerScript {
                transactional_id: Some("tx"),
                delayed_start: false,
                extra_retries: 0,
                txns: vec![
                    TxnScript {
                        records: vec![0, 1, 0],
                        end: TxnEnd::Commit,
                    },
                    TxnScript {
                        records: vec![1],
                        end: TxnEnd::Abort,
                    },
                ],
            },
            ProducerScript {
                transactional_id: None,
                delayed_start: false,
                extra_retries: 0,
                txns: vec![TxnScript {
                    records: vec![0, 0],
                    end: TxnEnd::Commit,
                }],
            },
        ],
        // Unordered: the walk picks the order itself (stateright 0.31's `iter_all` never ends on
        // an ordered network).
        network: NetworkKind::Unordered,
        // `send().get()`: each record is acknowledged before the next is sent and the
        // transaction ends after the last, so the aborted transaction has data to abort.
        sequential_sends: true,
        // A generous retry allowance: the walk never retries, and no state may be cut.
        retries: u8::MAX / 4,
        ..Scenario::base()
    }
}

// ------------------------------------------------------------------ version negotiation

/// The wire API of a client request.
fn wire_api(request: &Request<Rec>) -> ApiKey {
    match request {
        Request::InitProducerId { .. } => ApiKey::InitProducerId,
        Request::AddPartitionsToTxn { .. } => ApiKey::AddPartitionsToTxn,
        Request::Produce { .. } => ApiKey::Produce,
        Request::EndTxn { .. } => ApiKey::EndTxn,
        Request::AddOffsetsToTxn { .. } => ApiKey::AddOffsetsToTxn,
        Request::TxnOffsetCommit { .. } => ApiKey::TxnOffsetCommit,
    }
}

/// The version a client negotiates for `version` of `api` (ApiVersions): the newest both speak.
fn negotiated(api: ApiKey, version: i16) -> i16 {
    let (min, max) = versions::advertised(api).unwrap_or_else(|| panic!("{api:?} not served"));
    assert!(
        version >= min,
        "{api:?} v{version} is below the broker's range"
    );
    version.min(max)
}

/// The client request at the negotiated version, after checking that every version rule of the
/// core answers the same at both versions (so that the normalisation hides no behaviour).
fn negotiate(request: &Request<Rec>) -> Request<Rec> {
    let api = wire_api(request);
    let mut out = request.clone();
    let (core_api, from, to) = match &mut out {
        Request::InitProducerId { request, .. } => {
            let from = request.version;
            request.version = negotiated(api, from);
            (CoreApi::InitProducerId, from, request.version)
        }
        Request::AddPartitionsToTxn { request, .. } => {
            let from = request.version;
            let before = request.transaction_version();
            request.version = negotiated(api, from);
            assert_eq!(before, request.transaction_version());
            (CoreApi::AddPartitionsToTxn, from, request.version)
        }
        Request::EndTxn { request, .. } => {
            let from = request.version;
            let before = request.transaction_version();
            request.version = negotiated(api, from);
            assert_eq!(before, request.transaction_version());
            (CoreApi::EndTxn, from, request.version)
        }
        Request::Produce { request, .. } => {
            let from = request.version;
            request.version = negotiated(api, from);
            let to = request.version;
            assert_eq!(from >= PRODUCE_VERSION, to >= PRODUCE_VERSION);
            for e in ErrorCode::ALL {
                assert_eq!(
                    verification_error_for_produce(*e, from),
                    verification_error_for_produce(*e, to),
                    "Produce v{from} and v{to} translate {e:?} differently"
                );
            }
            (CoreApi::Produce, from, to)
        }
        Request::AddOffsetsToTxn { .. } | Request::TxnOffsetCommit { .. } => {
            unreachable!("the model never sends offsets")
        }
    };
    for e in ErrorCode::ALL {
        assert_eq!(
            fenced_error_for_version(core_api, from, *e),
            fenced_error_for_version(core_api, to, *e),
            "{core_api:?} v{from} and v{to} answer {e:?} differently"
        );
    }
    out
}

fn negotiate_produce(request: &CoreProduce<Rec>) -> CoreProduce<Rec> {
    match negotiate(&Request::Produce {
        id: 0,
        request: request.clone(),
    }) {
        Request::Produce { request, .. } => request,
        other => unreachable!("{other:?}"),
    }
}

// ------------------------------------------------------------------ (a) the model

/// A client request the model delivered to a broker role: the producer actor and the request.
#[derive(Clone, Debug)]
struct ClientCall {
    producer: usize,
    request: Request<Rec>,
}

/// What the model walk yields.
struct ModelRun {
    /// The core steps.
    trace: Vec<Step>,
    /// The client requests in delivery order (at the model's versions).
    calls: Vec<ClientCall>,
    /// The responses the producers got, by producer and request id.
    responses: BTreeMap<(usize, RequestId), Response>,
    /// The final state.
    last: EosState,
}

type Env = (Id, Id, Msg);

fn envelopes(s: &EosState) -> Vec<Env> {
    s.network
        .iter_all()
        .map(|e| (e.src, e.dst, e.msg.clone()))
        .collect()
}

/// Removes the first occurrence of `e` from `list`; whether it was there.
fn remove_one(list: &mut Vec<Env>, e: &Env) -> bool {
    match list.iter().position(|x| x == e) {
        Some(i) => {
            list.remove(i);
            true
        }
        None => false,
    }
}

/// The order of the messages one step sent: a producer's by request id, others by destination
/// (partition actors are numbered in partition order) and message.
fn send_order(e: &Env) -> (Option<RequestId>, Id, Msg) {
    let id = match &e.2 {
        Msg::TxnRequest(r) => Some(r.id()),
        Msg::Produce { id, .. } => Some(*id),
        _ => None,
    };
    (id, e.1, e.2.clone())
}

/// The walk's priority of a deliverable message (lower first): see the module doc.
fn rank(msg: &Msg) -> u8 {
    match msg {
        Msg::WriteTxnMarkerResponse(_) => 0,
        Msg::WriteTxnMarker(_) => 1,
        Msg::Verify { .. } | Msg::VerifyResponse { .. } => 2,
        _ => 3,
    }
}

/// The transactional-id records that changed from `before` to `after` (the coordinator
/// actor's durable log view), as the trace reports them.
fn log_last(
    before: &BTreeMap<String, TransactionLogValue>,
    after: &BTreeMap<String, TransactionLogValue>,
) -> BTreeMap<String, Option<TransactionLogValue>> {
    let ids: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    ids.into_iter()
        .filter(|tid| before.get(*tid) != after.get(*tid))
        .map(|tid| (tid.clone(), after.get(tid).map(trace::log_value)))
        .collect()
}

fn walk(m: &EosModel) -> ModelRun {
    let np = m.cfg.scenario.producers.len();
    let nparts = usize::from(m.cfg.scenario.partitions);
    let coordinator_id = Id::from(np + nparts);
    let is_leader = |id: Id| (np..np + nparts).contains(&usize::from(id));
    let mut state = m
        .init_states()
        .into_iter()
        .next()
        .expect("one initial state");
    // In-flight messages in send order.
    let mut in_flight: Vec<Env> = envelopes(&state);
    in_flight.sort_by_key(|e| (e.0, send_order(e)));
    let mut run = ModelRun {
        trace: Vec::new(),
        calls: Vec::new(),
        responses: BTreeMap::new(),
        last: state.clone(),
    };
    let mut log_view: BTreeMap<String, TransactionLogValue> = BTreeMap::new();
    for _ in 0..1000 {
        let Some(next_env) = in_flight
            .iter()
            .enumerate()
            .min_by_key(|(i, e)| (rank(&e.2), *i))
            .map(|(_, e)| e.clone())
        else {
            break;
        };
        let (src, dst, msg) = next_env.clone();
        let next = m
            .next_state(
                &state,
                ActorModelAction::Deliver {
                    src,
                    dst,
                    msg: msg.clone(),
                },
            )
            .unwrap_or_else(|| panic!("delivering {msg:?} to {dst:?} did nothing"));
        // What this step sent: the network after, less the network before without the delivery.
        let mut before = envelopes(&state);
        assert!(remove_one(&mut before, &next_env));
        let mut sent = Vec::new();
        for e in envelopes(&next) {
            if !remove_one(&mut before, &e) {
                sent.push(e);
            }
        }
        // The network is a multiset: restore the send order within the step (a producer's
        // request ids increase; a coordinator emits its markers in partition order).
        sent.sort_by_key(send_order);
        assert!(remove_one(&mut in_flight, &next_env));
        in_flight.extend(sent.iter().cloned());
        for (_, to, m) in &sent {
            if let Msg::Response { id, response } = m {
                run.responses
                    .insert((usize::from(*to), *id), response.clone());
            }
        }
        // The client request, as the wire client will replay it.
        match &msg {
            Msg::TxnRequest(r) => run.calls.push(ClientCall {
                producer: usize::from(src),
                request: r.clone(),
            }),
            Msg::Produce { id, request } => run.calls.push(ClientCall {
                producer: usize::from(src),
                request: Request::Produce {
                    id: *id,
                    request: request.clone(),
                },
            }),
            _ => {}
        }
        let effects = |log_view: &mut BTreeMap<String, TransactionLogValue>| {
            let mut markers: Vec<_> = sent
                .iter()
                .filter_map(|(_, _, m)| match m {
                    Msg::WriteTxnMarker(mk) => Some(mk.clone()),
                    _ => None,
                })
                .collect();
            markers.sort();
            let before = &coordinator(&state).expect("coordinator").log;
            let after = &coordinator(&next).expect("coordinator").log;
            Effects {
                markers,
                log: trace::log_changes(log_view, log_last(before, after)),
            }
        };
        let only_send = |what: &str| -> Msg {
            let others: Vec<&Msg> = sent
                .iter()
                .map(|(_, _, m)| m)
                .filter(|m| !matches!(m, Msg::WriteTxnMarker(_)))
                .collect();
            match others.as_slice() {
                [one] => (*one).clone(),
                other => panic!("{what}: expected one answer, sent {other:?}"),
            }
        };
        let step = if is_leader(dst) {
            Some(match &msg {
                Msg::Produce { request, .. } => Step::Produce {
                    request: trace::produce_request(&negotiate_produce(request)),
                    next: match only_send("Produce") {
                        Msg::Response {
                            response: Response::Produce(r),
                            ..
                        } => ProduceNext::Answered(r),
                        Msg::Verify { request, .. } => ProduceNext::Verify(request),
                        other => panic!("Produce answered {other:?}"),
                    },
                },
                Msg::VerifyResponse { result, held } => Step::VerificationResponse {
                    request: trace::produce_request(&negotiate_produce(held.pending.request())),
                    answer: *result,
                    result: match only_send("VerifyResponse") {
                        Msg::Response {
                            response: Response::Produce(r),
                            ..
                        } => r,
                        other => panic!("verification answered {other:?}"),
                    },
                },
                Msg::WriteTxnMarker(marker) => Step::WriteTxnMarker {
                    marker: marker.clone(),
                    answer: match only_send("WriteTxnMarker") {
                        Msg::WriteTxnMarkerResponse(r) => r,
                        other => panic!("marker answered {other:?}"),
                    },
                },
                other => panic!("a leader got {other:?}"),
            })
        } else if dst == coordinator_id {
            let effects = effects(&mut log_view);
            let answer = || match only_send("coordinator") {
                Msg::Response { response, .. } => Some(response),
                Msg::VerifyResponse { result, .. } => Some(Response::AddPartitionsToTxn(result)),
                _ => None,
            };
            Some(match &msg {
                Msg::TxnRequest(r) => match (negotiate(r), answer()) {
                    (
                        Request::InitProducerId { request, .. },
                        Some(Response::InitProducerId(answer)),
                    ) => Step::InitProducerId {
                        request,
                        answer,
                        effects,
                    },
                    (
                        Request::AddPartitionsToTxn { request, .. },
                        Some(Response::AddPartitionsToTxn(answer)),
                    ) => Step::AddPartitionsToTxn {
                        request,
                        answer,
                        effects,
                    },
                    (Request::EndTxn { request, .. }, Some(Response::EndTxn(answer))) => {
                        Step::EndTxn {
                            request,
                            answer,
                            effects,
                        }
                    }
                    (r, a) => panic!("coordinator answered {r:?} with {a:?}"),
                },
                Msg::Verify { request, .. } => match answer() {
                    Some(Response::AddPartitionsToTxn(answer)) => Step::AddPartitionsToTxn {
                        request: request.clone(),
                        answer,
                        effects,
                    },
                    a => panic!("verification answered {a:?}"),
                },
                Msg::WriteTxnMarkerResponse(r) => {
                    assert!(
                        sent.iter()
                            .all(|(_, _, m)| matches!(m, Msg::WriteTxnMarker(_))),
                        "a marker answer sent {sent:?}"
                    );
                    Step::WriteTxnMarkersResponse {
                        response: r.clone(),
                        effects: Ok(effects),
                    }
                }
                other => panic!("the coordinator got {other:?}"),
            })
        } else {
            None
        };
        run.trace.extend(step);
        state = next;
    }
    assert!(
        in_flight.is_empty(),
        "the walk stopped with {in_flight:?} in flight"
    );
    run.last = state;
    run
}

// ------------------------------------------------------------------ (b) the broker

fn start_broker(partitions: u8, first_producer_id: i64) -> Server {
    let server = Server::start(
        "127.0.0.1:0",
        BrokerConfig {
            node_id: 0,
            advertised_host: "127.0.0.1".into(),
            advertised_port: 0,
            topics: vec![(TOPIC.into(), i32::from(partitions))],
            auto_create_topics: true,
            default_partitions: 1,
            unsafe_disable_dedup: false,
            unsafe_read_committed_shows_aborted: false,
            first_producer_id,
            membership: Default::default(),
            storage: Default::default(),
        },
        DEFAULT_MAX_FRAME_BYTES,
        None,
    )
    .expect("broker starts");
    server.shared.broker().record_trace(true);
    server
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// The v2 record batch a client builds for a Produce request: its producer id, epoch, base
/// sequence, record count and transactional flag, stamped with the wall clock (CreateTime).
fn record_batch(r: &CoreProduce<Rec>) -> Bytes {
    let now = now_ms();
    let records: Vec<Record> = (0..r.record_count)
        .map(|i| Record {
            transactional: r.is_transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: r.producer_id,
            producer_epoch: r.producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i64::from(i),
            sequence: r.base_sequence.wrapping_add(i),
            timestamp: now,
            key: None,
            value: Some(Bytes::from(format!("record-{}", r.payload))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("batch encodes");
    buf.freeze()
}

fn error_or<T>(code: i16, ok: T) -> Result<T, ErrorCode> {
    if code == 0 {
        Ok(ok)
    } else {
        Err(ErrorCode::from_code(code).unwrap_or_else(|| panic!("unknown error code {code}")))
    }
}

/// Sends one client request (already at its negotiated version) and decodes the answer into the
/// core's response.
fn call(c: &mut Client, request: &Request<Rec>) -> Response {
    let api = wire_api(request);
    match request {
        Request::InitProducerId { request: r, .. } => {
            let resp: InitProducerIdResponse = c
                .call(
                    api,
                    r.version,
                    &InitProducerIdRequest::default()
                        .with_transactional_id(
                            r.transactional_id
                                .as_deref()
                                .map(|t| TransactionalId(str_bytes(t))),
                        )
                        .with_transaction_timeout_ms(r.transaction_timeout_ms)
                        .with_producer_id(ProducerId(r.producer_id))
                        .with_producer_epoch(r.producer_epoch),
                )
                .expect("InitProducerId answered");
            Response::InitProducerId(error_or(
                resp.error_code,
                ProducerIdAndEpoch {
                    producer_id: resp.producer_id.0,
                    producer_epoch: resp.producer_epoch,
                },
            ))
        }
        Request::AddPartitionsToTxn { request: r, .. } => {
            let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for tp in &r.partitions {
                topics.entry(&tp.topic).or_default().push(tp.partition);
            }
            let resp: AddPartitionsToTxnResponse = c
                .call(
                    api,
                    r.version,
                    &AddPartitionsToTxnRequest::default()
                        .with_v3_and_below_transactional_id(TransactionalId(str_bytes(
                            &r.transactional_id,
                        )))
                        .with_v3_and_below_producer_id(ProducerId(r.producer_id))
                        .with_v3_and_below_producer_epoch(r.producer_epoch)
                        .with_v3_and_below_topics(
                            topics
                                .into_iter()
                                .map(|(t, ps)| {
                                    AddPartitionsToTxnTopic::default()
                                        .with_name(TopicName(str_bytes(t)))
                                        .with_partitions(ps)
                                })
                                .collect(),
                        ),
                )
                .expect("AddPartitionsToTxn answered");
            // The core's answer is success or the (first) partition error.
            let code = resp
                .results_by_topic_v3_and_below
                .iter()
                .flat_map(|t| &t.results_by_partition)
                .map(|p| p.partition_error_code)
                .find(|c| *c != 0)
                .unwrap_or(0);
            Response::AddPartitionsToTxn(error_or(code, ()))
        }
        Request::Produce { request: r, .. } => {
            let resp: ProduceResponse = c
                .call(
                    api,
                    r.version,
                    &ProduceRequest::default()
                        .with_acks(-1)
                        .with_timeout_ms(5000)
                        .with_transactional_id(
                            r.transactional_id
                                .as_deref()
                                .map(|t| TransactionalId(str_bytes(t))),
                        )
                        .with_topic_data(vec![TopicProduceData::default()
                            .with_name(TopicName(str_bytes(&r.partition.topic)))
                            .with_partition_data(vec![PartitionProduceData::default()
                                .with_index(r.partition.partition)
                                .with_records(Some(record_batch(r)))])]),
                )
                .expect("Produce answered");
            let p = &resp.responses[0].partition_responses[0];
            Response::Produce(error_or(p.error_code, p.base_offset))
        }
        Request::EndTxn { request: r, .. } => {
            let resp: EndTxnResponse = c
                .call(
                    api,
                    r.version,
                    &EndTxnRequest::default()
                        .with_transactional_id(TransactionalId(str_bytes(&r.transactional_id)))
                        .with_producer_id(ProducerId(r.producer_id))
                        .with_producer_epoch(r.producer_epoch)
                        .with_committed(r.result == kafka_eos::types::TransactionResult::Commit),
                )
                .expect("EndTxn answered");
            // EndTxn below v5 carries no producer id and epoch (TV1).
            Response::EndTxn(error_or(resp.error_code, None))
        }
        Request::AddOffsetsToTxn { .. } | Request::TxnOffsetCommit { .. } => {
            unreachable!("the model never sends offsets")
        }
    }
}

/// Replays the model's client requests (negotiated) over TCP, one connection per producer, and
/// returns the broker's trace and the answers decoded, by producer and request id.
fn replay(
    server: &Server,
    calls: &[ClientCall],
) -> (Vec<Step>, BTreeMap<(usize, RequestId), Response>) {
    let mut clients: BTreeMap<usize, Client> = BTreeMap::new();
    let mut answers = BTreeMap::new();
    for c in calls {
        let client = clients.entry(c.producer).or_insert_with(|| {
            let stream = TcpStream::connect(server.addr).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("read timeout");
            Client::from_stream(stream)
        });
        let request = negotiate(&c.request);
        answers.insert((c.producer, request.id()), call(client, &request));
    }
    (server.shared.broker().take_trace(), answers)
}

// ------------------------------------------------------------------ the tests

fn kind(step: &Step) -> &'static str {
    match step {
        Step::Produce {
            next: ProduceNext::Answered(_),
            ..
        } => "Produce (answered)",
        Step::Produce {
            next: ProduceNext::Verify(_),
            ..
        } => "Produce (verify)",
        Step::VerificationResponse { .. } => "VerificationResponse",
        Step::WriteTxnMarker { .. } => "WriteTxnMarker",
        Step::LeaderTimeout { .. } => "LeaderTimeout",
        Step::InitProducerId { .. } => "InitProducerId",
        Step::AddPartitionsToTxn { request, .. } if request.verify_only => {
            "AddPartitionsToTxn (verify)"
        }
        Step::AddPartitionsToTxn { .. } => "AddPartitionsToTxn",
        Step::AddOffsetsToTxn { .. } => "AddOffsetsToTxn",
        Step::EndTxn { .. } => "EndTxn",
        Step::WriteTxnMarkersResponse { .. } => "WriteTxnMarkersResponse",
        Step::CoordinatorTimeout { .. } => "CoordinatorTimeout",
    }
}

fn model_run() -> (Scenario, ModelRun) {
    let s = scenario();
    let run = walk(&model(&s));
    // The walk is the happy path: the transactional producer committed its first transaction
    // and aborted its second; the idempotent producer's records were acknowledged.
    let ps = producers(&run.last);
    assert_eq!(
        (ps[0].phase, ps[0].committed, ps[0].aborted),
        (AppPhase::Done, 0b01, 0b10)
    );
    assert_eq!((ps[1].phase, ps[1].acked.len()), (AppPhase::Done, 2));
    drop(ps);
    // Every kind of step of this protocol is in it.
    let kinds: BTreeSet<&str> = run.trace.iter().map(kind).collect();
    for k in [
        "InitProducerId",
        "AddPartitionsToTxn",
        "Produce (verify)",
        "AddPartitionsToTxn (verify)",
        "VerificationResponse",
        "Produce (answered)",
        "EndTxn",
        "WriteTxnMarker",
        "WriteTxnMarkersResponse",
    ] {
        assert!(kinds.contains(k), "no {k} step in {kinds:?}");
    }
    (s, run)
}

#[test]
fn broker_over_tcp_takes_the_models_core_steps() {
    let (s, run) = model_run();
    let server = start_broker(s.partitions, FIRST_PRODUCER_ID);
    {
        // The broker is configured as the model: same leader and coordinator configuration.
        let broker = server.shared.broker();
        assert_eq!(broker.coordinator().config(), &s.coordinator_config());
        for p in 0..s.partitions {
            let leader = broker.partition(&topic_partition(p)).expect("partition");
            assert_eq!(leader.config(), &s.partition_config());
        }
    }
    let (broker_trace, answers) = replay(&server, &run.calls);
    server.stop();
    if std::env::var_os("TRACE_EQ_PRINT").is_some() {
        for (i, step) in broker_trace.iter().enumerate() {
            println!("{i:>3} {step}");
        }
    }
    if let Some(d) = trace::diff(&run.trace, &broker_trace) {
        panic!("{d}");
    }
    // The wire answers, decoded, are the responses the model's producers got.
    assert_eq!(answers, run.responses);
    assert!(run.trace.len() >= 20, "{} steps", run.trace.len());
}

/// The comparison sees one changed field: a verification's `verify_only`, a Produce version, an
/// answer, a marker's transaction version.
#[test]
fn a_trace_with_one_changed_field_differs() {
    let (_, run) = model_run();
    assert_eq!(trace::diff(&run.trace, &run.trace.clone()), None);
    let mutate = |f: &dyn Fn(&mut Step) -> bool| {
        let mut t = run.trace.clone();
        let i = t.iter_mut().position(f).expect("a step to change");
        let d = trace::diff(&run.trace, &t).expect("the changed trace differs");
        assert!(d.contains(&format!("at step {i} ")), "{d}");
    };
    mutate(&|s| match s {
        Step::Produce {
            next: ProduceNext::Verify(r),
            ..
        } => {
            r.verify_only = !r.verify_only;
            true
        }
        _ => false,
    });
    mutate(&|s| match s {
        Step::Produce { request, .. } => {
            request.version = PRODUCE_VERSION;
            true
        }
        _ => false,
    });
    mutate(&|s| match s {
        Step::VerificationResponse { answer, .. } => {
            *answer = Err(ErrorCode::InvalidTxnState);
            true
        }
        _ => false,
    });
    mutate(&|s| match s {
        Step::WriteTxnMarker { marker, .. } => {
            marker.transaction_version = kafka_eos::types::TransactionVersion::Tv2;
            true
        }
        _ => false,
    });
    // A missing step differs too.
    let shorter = &run.trace[..run.trace.len() - 1];
    assert!(trace::diff(&run.trace, shorter).is_some());
}

/// A broker configured unlike the model (its default first producer id) takes other steps, and
/// the comparison says where.
#[test]
fn a_broker_configured_unlike_the_model_differs() {
    let (s, run) = model_run();
    let server = start_broker(s.partitions, DEFAULT_FIRST_PRODUCER_ID);
    let (broker_trace, _) = replay(&server, &run.calls);
    server.stop();
    let d = trace::diff(&run.trace, &broker_trace).expect("the traces differ");
    assert!(d.contains("at step 0 "), "{d}");
}
