//! The actors hold no protocol decision: for every delivery to a partition leader or to the
//! coordinator in the first few thousand reachable states of several scenarios, the actor's new
//! core state and its answer are exactly what calling the core directly gives.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, VecDeque};
use std::hash::{Hash, Hasher};

use kafka_eos::coordinator::{EndTxnRequest, InitProducerIdRequest, WriteTxnMarkersResponse};
use kafka_eos::partition::{ProduceBatch, TxnMarker};
use kafka_eos::producer::{Request, Response};
use kafka_eos::types::TransactionVersion;
use kafka_eos_model::model::actors::Msg;
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

fn sent(next: &EosState, src: Id, dst: Id, msg: &Msg) -> bool {
    next.network
        .iter_all()
        .any(|e| e.src == src && e.dst == dst && e.msg == msg)
}

/// Checks one delivery against a direct core call; returns whether it was one we compare.
fn check_delivery(m: &EosModel, s: &EosState, src: Id, dst: Id, msg: &Msg) -> bool {
    let Some(next) = m.next_state(
        s,
        ActorModelAction::Deliver {
            src,
            dst,
            msg: msg.clone(),
        },
    ) else {
        return false;
    };
    let np = m.cfg.scenario.producers.len();
    let nparts = usize::from(m.cfg.scenario.partitions);
    let d = usize::from(dst);
    if d >= np && d < np + nparts {
        let i = d - np;
        let before = partitions(s)[i];
        let after = &partitions(&next)[i].core;
        let mut core = before.core.clone();
        match msg {
            Msg::Produce {
                request:
                    Request::Produce {
                        id,
                        producer_id,
                        producer_epoch,
                        base_sequence,
                        record_count,
                        transactional,
                        payload,
                        ..
                    },
                ..
            } if !(*transactional && core.config().transaction_verification) => {
                let r = core.append(
                    ProduceBatch {
                        producer_id: *producer_id,
                        producer_epoch: *producer_epoch,
                        base_sequence: *base_sequence,
                        record_count: *record_count,
                        is_transactional: *transactional,
                        max_timestamp: before.clock,
                        payload: *payload,
                    },
                    None,
                );
                assert_eq!(&core, after, "leader state differs from the core's");
                let response = Msg::Response {
                    id: *id,
                    response: Response::Produce(r.map(|o| o.base_offset())),
                };
                assert!(
                    sent(&next, dst, src, &response),
                    "answer {response:?} not sent"
                );
                true
            }
            Msg::WriteTxnMarker(mk, tv) => {
                let error = core
                    .write_marker(TxnMarker {
                        producer_id: mk.producer_id,
                        producer_epoch: mk.producer_epoch,
                        coordinator_epoch: mk.coordinator_epoch,
                        result: mk.result,
                        timestamp: before.clock,
                        transaction_version: *tv,
                    })
                    .err();
                assert_eq!(&core, after, "leader state differs from the core's");
                let response = Msg::WriteTxnMarkerResponse(WriteTxnMarkersResponse {
                    transactional_id: mk.transactional_id.clone(),
                    producer_id: mk.producer_id,
                    producer_epoch: mk.producer_epoch,
                    coordinator_epoch: mk.coordinator_epoch,
                    result: mk.result,
                    partitions: BTreeSet::from([mk.partition.clone()]),
                    error,
                });
                assert!(
                    sent(&next, dst, src, &response),
                    "answer {response:?} not sent"
                );
                true
            }
            _ => false,
        }
    } else if d == np + nparts {
        let before = coordinator(s).unwrap();
        let after = &coordinator(&next).unwrap().core;
        let mut core = before.core.clone();
        match msg {
            Msg::TxnRequest(Request::InitProducerId {
                id,
                transactional_id,
                transaction_timeout_ms,
                producer_id,
                producer_epoch,
            }) => {
                let (r, _) = core.handle_init_producer_id(
                    &InitProducerIdRequest {
                        transactional_id: transactional_id.clone(),
                        transaction_timeout_ms: *transaction_timeout_ms,
                        producer_id: *producer_id,
                        producer_epoch: *producer_epoch,
                    },
                    before.clock,
                );
                assert_eq!(&core, after, "coordinator state differs from the core's");
                let response = Msg::Response {
                    id: *id,
                    response: Response::InitProducerId(
                        r.map(|p| (p.producer_id, p.producer_epoch)),
                    ),
                };
                assert!(
                    sent(&next, dst, src, &response),
                    "answer {response:?} not sent"
                );
                true
            }
            Msg::TxnRequest(Request::EndTxn {
                id,
                transactional_id,
                producer_id,
                producer_epoch,
                result,
                transaction_v2,
            }) => {
                let tv = if *transaction_v2 {
                    TransactionVersion::Tv2
                } else {
                    core.config()
                        .transaction_version
                        .min(TransactionVersion::Tv1)
                };
                let (r, _) = core.handle_end_txn(
                    &EndTxnRequest {
                        transactional_id: transactional_id.clone(),
                        producer_id: *producer_id,
                        producer_epoch: *producer_epoch,
                        result: *result,
                        transaction_version: tv,
                    },
                    before.clock,
                );
                assert_eq!(&core, after, "coordinator state differs from the core's");
                let response = Msg::Response {
                    id: *id,
                    response: Response::EndTxn(
                        r.map(|p| p.map(|p| (p.producer_id, p.producer_epoch))),
                    ),
                };
                assert!(
                    sent(&next, dst, src, &response),
                    "answer {response:?} not sent"
                );
                true
            }
            Msg::Verify { request, held } => {
                let (r, _) = core.handle_add_partitions_to_txn(request, before.clock);
                assert_eq!(&core, after, "coordinator state differs from the core's");
                let response = Msg::VerifyResponse {
                    result: r,
                    held: held.clone(),
                };
                assert!(
                    sent(&next, dst, src, &response),
                    "answer {response:?} not sent"
                );
                true
            }
            _ => false,
        }
    } else {
        false
    }
}

fn wrapper_matches_core(name: &str, protocol: Protocol) {
    let m = model(&Scenario::named(name).unwrap().with_protocol(protocol));
    let mut compared = 0usize;
    for s in reachable(&m, 3000) {
        for e in s.network.iter_deliverable() {
            if check_delivery(&m, &s, e.src, e.dst, e.msg) {
                compared += 1;
            }
        }
    }
    assert!(compared > 100, "only {compared} deliveries compared");
}

/// Transactions under TV2 (verification with implicit add, markers, EndTxn v5).
#[test]
fn transactions_tv2_actors_answer_as_the_core() {
    wrapper_matches_core("transactions", Protocol::Tv2);
}

/// The old protocol (client AddPartitionsToTxn, no verification, TV0 EndTxn).
#[test]
fn hanging_txn_tv0_actors_answer_as_the_core() {
    wrapper_matches_core("hanging-txn", Protocol::Tv0);
}

/// Idempotent produce (duplicates, out-of-order sequences).
#[test]
fn idempotent_reorder_actors_answer_as_the_core() {
    wrapper_matches_core("idempotent-reorder", Protocol::Tv2);
}

/// A zombie instance and fencing.
#[test]
fn zombie_tv1_actors_answer_as_the_core() {
    wrapper_matches_core("zombie", Protocol::Tv1Verify);
}

/// Re-sent markers (a disconnected WriteTxnMarkers request) and KIP-1228's strict TV2 marker
/// epoch at the leaders.
#[test]
fn late_marker_tv2_actors_answer_as_the_core() {
    wrapper_matches_core("late-marker", Protocol::Tv2);
}

/// Sequential sends and a delayed EndTxn under KIP-890 part 1.
#[test]
fn late_endtxn_tv1_actors_answer_as_the_core() {
    wrapper_matches_core("late-endtxn", Protocol::Tv1Verify);
}
