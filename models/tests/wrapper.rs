//! The actors hold no protocol decision: for every delivery to a partition leader or to the
//! coordinator in the first few thousand reachable states of several scenarios — Produce, the
//! KIP-890 verification round trip, client AddPartitionsToTxn, InitProducerId, EndTxn,
//! WriteTxnMarkers and their answers — the actor's new core state and every message it sends are
//! exactly what one direct call of the core's step for that message gives. The test holds no
//! copy of any mapping: it passes the message's own request to the core.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{Hash, Hasher};

use kafka_eos::coordinator::CoordinatorOutput;
use kafka_eos::partition::{produce_response, ProduceStep};
use kafka_eos::producer::{Request, Response};
use kafka_eos_model::model::actors::{HeldProduce, Msg};
use kafka_eos_model::model::scenario::{Protocol, Scenario};
use kafka_eos_model::model::{coordinator, model, partitions, EosModel, EosState};
use stateright::actor::{ActorModelAction, Id};
use stateright::Model;

fn fp(s: &EosState) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Breadth-first reachable states, at most `limit`.
fn reachable(m: &EosModel, limit: usize) -> Vec<EosState> {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<EosState> = m.init_states().into();
    let mut out = Vec::new();
    while let Some(s) = queue.pop_front() {
        if out.len() >= limit {
            break;
        }
        if !seen.insert(fp(&s)) {
            continue;
        }
        let mut actions = Vec::new();
        m.actions(&s, &mut actions);
        for a in actions {
            if let Some(n) = m.next_state(&s, a) {
                queue.push_back(n);
            }
        }
        out.push(s);
    }
    out
}

/// Whether `next`'s network holds `body` from `src` to `dst` (on whatever connection: the
/// connection header is the network's, not the core's).
fn sent(next: &EosState, src: Id, dst: Id, body: &Msg) -> bool {
    next.network
        .iter_all()
        .any(|e| e.src == src && e.dst == dst && e.msg.body() == body)
}

/// The markers among a coordinator's outputs, each addressed to its partition's actor.
fn marker_sends(m: &EosModel, outputs: &[CoordinatorOutput]) -> Vec<(Id, Msg)> {
    let np = m.cfg.scenario.producers.len();
    outputs
        .iter()
        .filter_map(|o| match o {
            CoordinatorOutput::WriteTxnMarker(mk) => {
                let index = usize::try_from(mk.partition.partition).ok()?;
                Some((Id::from(np + index), Msg::WriteTxnMarker(mk.clone())))
            }
            CoordinatorOutput::AppendTransactionLog { .. } => None,
        })
        .collect()
}

fn assert_sent(next: &EosState, src: Id, dst: Id, body: &Msg) {
    assert!(sent(next, src, dst, body), "{body:?} not sent to {dst:?}");
}

/// Checks one delivery against a direct core call; returns the kind of delivery compared.
fn check_delivery(m: &EosModel, s: &EosState, src: Id, dst: Id, msg: &Msg) -> Option<&'static str> {
    // The actor system's own step: `EosModel::next_state` also drops answers that land on a
    // closed connection, which a straggler request's answer does at once.
    let next = kafka_eos_model::model::system::next_state(
        &m.actors,
        s,
        ActorModelAction::Deliver {
            src,
            dst,
            msg: msg.clone(),
        },
    )?;
    let np = m.cfg.scenario.producers.len();
    let nparts = usize::from(m.cfg.scenario.partitions);
    let coordinator_id = Id::from(np + nparts);
    let d = usize::from(dst);
    if d >= np && d < np + nparts {
        let i = d - np;
        let before = partitions(s)[i];
        let after = &partitions(&next)[i].core;
        let mut core = before.core.clone();
        let now = before.clock;
        let kind = match msg.body() {
            Msg::Produce { id, request } => match core.handle_produce(request.clone(), now) {
                ProduceStep::Answered(r) => {
                    let answer = Msg::Response {
                        id: *id,
                        response: Response::Produce(produce_response(&r)),
                    };
                    assert_sent(&next, dst, src, &answer);
                    "Produce"
                }
                ProduceStep::Verify { request, pending } => {
                    let verify = Msg::Verify {
                        request,
                        held: Box::new(HeldProduce {
                            producer: src,
                            id: *id,
                            conn: msg.conn(),
                            pending,
                        }),
                    };
                    assert_sent(&next, dst, coordinator_id, &verify);
                    "Produce (verify)"
                }
            },
            Msg::VerifyResponse { result, held } => {
                let r = core.handle_verification_response(held.pending.clone(), *result, now);
                let answer = Msg::Response {
                    id: held.id,
                    response: Response::Produce(produce_response(&r)),
                };
                assert_sent(&next, dst, held.producer, &answer);
                "VerifyResponse"
            }
            Msg::WriteTxnMarker(mk) => {
                let answer = Msg::WriteTxnMarkerResponse(core.handle_write_txn_marker(mk, now));
                assert_sent(&next, dst, src, &answer);
                "WriteTxnMarkers"
            }
            _ => return None,
        };
        assert_eq!(
            &core, after,
            "leader state differs from the core's after {msg:?}"
        );
        Some(kind)
    } else if dst == coordinator_id {
        let before = coordinator(s)?;
        let after = &coordinator(&next)?.core;
        let mut core = before.core.clone();
        let now = before.clock;
        let (kind, answer, outputs) = match msg.body() {
            Msg::TxnRequest(Request::InitProducerId { id, request }) => {
                let (r, out) = core.handle_init_producer_id(request, now);
                let answer = Msg::Response {
                    id: *id,
                    response: Response::InitProducerId(r),
                };
                ("InitProducerId", Some((src, answer)), out)
            }
            Msg::TxnRequest(Request::AddPartitionsToTxn { id, request }) => {
                let (r, out) = core.handle_add_partitions_to_txn(request, now);
                let answer = Msg::Response {
                    id: *id,
                    response: Response::AddPartitionsToTxn(r),
                };
                ("AddPartitionsToTxn", Some((src, answer)), out)
            }
            Msg::TxnRequest(Request::EndTxn { id, request }) => {
                let (r, out) = core.handle_end_txn(request, now);
                let answer = Msg::Response {
                    id: *id,
                    response: Response::EndTxn(r),
                };
                ("EndTxn", Some((src, answer)), out)
            }
            Msg::Verify { request, held } => {
                let (r, out) = core.handle_add_partitions_to_txn(request, now);
                let answer = Msg::VerifyResponse {
                    result: r,
                    held: held.clone(),
                };
                ("Verify", Some((src, answer)), out)
            }
            Msg::WriteTxnMarkerResponse(r) => {
                let out = core.handle_write_txn_markers_response(r).ok()?;
                ("WriteTxnMarkersResponse", None, out)
            }
            _ => return None,
        };
        assert_eq!(
            &core, after,
            "coordinator state differs from the core's after {msg:?}"
        );
        if let Some((to, answer)) = answer {
            assert_sent(&next, dst, to, &answer);
        }
        for (to, marker) in marker_sends(m, &outputs) {
            assert_sent(&next, dst, to, &marker);
        }
        Some(kind)
    } else {
        None
    }
}

fn wrapper_matches_core(name: &str, protocol: Protocol, kinds: &[&str]) {
    let m = model(&Scenario::named(name).unwrap().with_protocol(protocol));
    let mut compared: BTreeMap<&'static str, usize> = BTreeMap::new();
    for s in reachable(&m, 3000) {
        for e in s.network.iter_deliverable() {
            if let Some(kind) = check_delivery(&m, &s, e.src, e.dst, e.msg) {
                *compared.entry(kind).or_default() += 1;
            }
        }
    }
    let total: usize = compared.values().sum();
    assert!(
        total > 100,
        "only {total} deliveries compared: {compared:?}"
    );
    for kind in kinds {
        assert!(
            compared.get(kind).is_some_and(|n| *n > 0),
            "no {kind} delivery compared: {compared:?}"
        );
    }
}

/// Transactions under TV2 (verification with implicit add, markers, EndTxn v5).
#[test]
fn transactions_tv2_actors_answer_as_the_core() {
    wrapper_matches_core(
        "transactions",
        Protocol::Tv2,
        &[
            "InitProducerId",
            "Produce (verify)",
            "Verify",
            "VerifyResponse",
            "EndTxn",
            "WriteTxnMarkers",
            "WriteTxnMarkersResponse",
        ],
    );
}

/// The old protocol (client AddPartitionsToTxn, no verification, TV0 EndTxn).
#[test]
fn hanging_txn_tv0_actors_answer_as_the_core() {
    wrapper_matches_core(
        "hanging-txn",
        Protocol::Tv0,
        &["AddPartitionsToTxn", "Produce", "EndTxn", "WriteTxnMarkers"],
    );
}

/// Idempotent produce (duplicates, out-of-order sequences).
#[test]
fn idempotent_reorder_actors_answer_as_the_core() {
    wrapper_matches_core("idempotent-reorder", Protocol::Tv2, &["Produce"]);
}

/// A zombie instance and fencing.
#[test]
fn zombie_tv1_actors_answer_as_the_core() {
    wrapper_matches_core(
        "zombie",
        Protocol::Tv1Verify,
        &[
            "InitProducerId",
            "AddPartitionsToTxn",
            "Verify",
            "VerifyResponse",
        ],
    );
}

/// Re-sent markers (a disconnected WriteTxnMarkers request) and KIP-1228's strict TV2 marker
/// epoch at the leaders.
#[test]
fn late_marker_tv2_actors_answer_as_the_core() {
    wrapper_matches_core(
        "late-marker",
        Protocol::Tv2,
        &["WriteTxnMarkers", "WriteTxnMarkersResponse"],
    );
}

/// Sequential sends and a delayed EndTxn under KIP-890 part 1.
#[test]
fn late_endtxn_tv1_actors_answer_as_the_core() {
    wrapper_matches_core("late-endtxn", Protocol::Tv1Verify, &["EndTxn"]);
}
