//! The model's states and actions as text, in the protocol's words: one leaf used by
//! `check` (counterexample steps), `explore` (the Explorer's steps, state view and diagram) and
//! `spawn` (the final states of a UDP run).
//!
//! A partition reads as its log with offsets, HW, LSO and producer table; the coordinator as its
//! metadata per transactional id and its `__transaction_state` records; a producer as its
//! client state, what the application was told and its requests outstanding; the system as
//! every actor, the messages in flight and the armed timers.

use std::fmt::Write as _;

use kafka_eos::partition::{BatchContent, LogBatch};
use kafka_eos::producer::{Outstanding, TxnRequest};
use kafka_eos::types::TransactionResult;
use stateright::actor::{Actor, ActorModelAction, Id};

use crate::model::actors::{
    ActorState, AppPhase, Choice, CoordinatorActorState, Msg, PartitionActorState,
    ProducerActorState, Rec, Timer,
};
use crate::model::scenario::NetworkKind;
use crate::model::system::Network;
use crate::model::{EosModel, EosState};

// ------------------------------------------------------------------ actions

fn actor_name(m: &EosModel, id: Id) -> String {
    m.actors
        .get(usize::from(id))
        .map_or_else(|| format!("{id:?}"), Actor::name)
}

/// A timer in the protocol's words (the event its expiry stands for).
pub fn timer_words(t: &Timer) -> String {
    match t {
        Timer::Start => "restarted instance starts (initTransactions)".to_string(),
        Timer::RequestTimeout(r) => format!("request #{r} timed out (outcome unknown)"),
        Timer::TransactionTimeout => "transaction timed out".to_string(),
        Timer::Failover => "fails over to a new coordinator epoch".to_string(),
        Timer::MarkerTimeout(i) => {
            format!("WriteTxnMarkers request to t-{i} timed out (markers re-sent)")
        }
        Timer::ExpireProducers => "expires idle producer state".to_string(),
        Timer::AppendFailure => {
            "the next transaction-log append fails (NOT_ENOUGH_REPLICAS)".to_string()
        }
    }
}

/// One action in the protocol's words.
pub fn render_action(m: &EosModel, a: &ActorModelAction<Msg, Timer, Choice>) -> String {
    match a {
        ActorModelAction::Deliver { src, dst, msg } => {
            format!(
                "{} -> {}: {:?}",
                actor_name(m, *src),
                actor_name(m, *dst),
                msg
            )
        }
        ActorModelAction::Drop(env) => format!(
            "network drops {} -> {}: {:?}",
            actor_name(m, env.src),
            actor_name(m, env.dst),
            env.msg
        ),
        ActorModelAction::Timeout(id, t) => {
            let closes = m.cfg.scenario.network == NetworkKind::Kafka
                && matches!(t, Timer::RequestTimeout(_) | Timer::MarkerTimeout(_));
            format!(
                "{}: {}{}",
                actor_name(m, *id),
                timer_words(t),
                if closes {
                    "; its connection is closed, every request in flight on it fails"
                } else {
                    ""
                }
            )
        }
        ActorModelAction::Crash(id) => format!("{} crashes", actor_name(m, *id)),
        ActorModelAction::Recover(id) => format!("{} recovers", actor_name(m, *id)),
        ActorModelAction::SelectRandom { actor, random, .. } => {
            let Choice::End(r) = random;
            format!(
                "{}: application calls {}",
                actor_name(m, *actor),
                match r {
                    kafka_eos::types::TransactionResult::Commit => "commitTransaction()",
                    kafka_eos::types::TransactionResult::Abort => "abortTransaction()",
                }
            )
        }
    }
}

// ------------------------------------------------------------------ states

/// Actor `id`'s name in `names` (its index), or `actor ID` when there is none.
pub fn name_of(names: &[String], id: Id) -> String {
    names
        .get(usize::from(id))
        .cloned()
        .unwrap_or_else(|| format!("actor {id}"))
}

/// An application choice as the call it makes.
pub fn choice_words(c: &Choice) -> String {
    let Choice::End(r) = c;
    match r {
        TransactionResult::Commit => "commitTransaction()".to_string(),
        TransactionResult::Abort => "abortTransaction()".to_string(),
    }
}

fn rec(r: Rec) -> String {
    format!("r{r}")
}

/// One log batch: `@0 pid=0 epoch=0 seq=0 r0 txn` or `@2 COMMIT marker pid=0 epoch=0 ...`.
pub fn batch_text(b: &LogBatch<Rec>) -> String {
    match &b.content {
        BatchContent::Data(r) => format!(
            "@{} pid={} epoch={} seq={} {}{}",
            b.base_offset,
            b.producer_id,
            b.producer_epoch,
            b.base_sequence,
            rec(*r),
            if b.is_transactional { " txn" } else { "" }
        ),
        BatchContent::Control {
            result,
            coordinator_epoch,
        } => format!(
            "@{} {} marker pid={} epoch={} coordinator_epoch={}",
            b.base_offset,
            match result {
                TransactionResult::Commit => "COMMIT",
                TransactionResult::Abort => "ABORT",
            },
            b.producer_id,
            b.producer_epoch,
            coordinator_epoch
        ),
    }
}

/// A partition leader: its log with offsets, HW, LSO and producer-state table.
pub fn partition_text(name: &str, s: &PartitionActorState) -> String {
    let core = &s.core;
    let mut t = format!(
        "{name}: HW={} LSO={} (log end {})\n",
        core.high_watermark(),
        core.last_stable_offset(),
        core.log_end_offset()
    );
    if core.log().is_empty() {
        t.push_str("  log: empty\n");
    } else {
        t.push_str("  log:\n");
        for b in core.log() {
            let _ = writeln!(t, "    {}", batch_text(b));
        }
    }
    for (pid, e) in core.producers() {
        let seqs = if e.has_no_batches() {
            "no batches".to_string()
        } else {
            format!(
                "seq {}..{} (last at @{})",
                e.first_sequence(),
                e.last_sequence(),
                e.last_data_offset()
            )
        };
        let _ = writeln!(
            t,
            "  producer pid={pid}: epoch={} {seqs} coordinator_epoch={}{}",
            e.producer_epoch,
            e.coordinator_epoch,
            e.current_txn_first_offset
                .map_or(String::new(), |o| format!(" open txn from @{o}"))
        );
    }
    t
}

/// The coordinator: metadata per transactional id and its `__transaction_state` records.
pub fn coordinator_text(name: &str, s: &CoordinatorActorState) -> String {
    let core = &s.core;
    let mut t = format!("{name}: coordinator_epoch={}\n", core.coordinator_epoch());
    if core.transactions().is_empty() {
        t.push_str("  no transactional ids\n");
    }
    for (tid, m) in core.transactions() {
        let parts: Vec<String> = m.partitions.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            t,
            "  \"{tid}\": pid={} epoch={} {:?} [{}]{}{}",
            m.producer_id,
            m.producer_epoch,
            m.state,
            parts.join(","),
            m.pending_state()
                .map_or(String::new(), |p| format!(" pending {p:?}")),
            if m.pending_completion.is_some() {
                " markers in flight"
            } else {
                ""
            }
        );
    }
    for (tid, v) in &s.log {
        let parts: Vec<String> = v.partitions.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            t,
            "  __transaction_state \"{tid}\": pid={} epoch={} {:?} [{}]",
            v.producer_id,
            v.producer_epoch,
            v.state,
            parts.join(",")
        );
    }
    t
}

/// A producer: client state, what the application was told, requests outstanding.
pub fn producer_text(name: &str, s: &ProducerActorState) -> String {
    let core = &s.core;
    let kind = match &core.config().transactional_id {
        Some(tid) => format!("transactional.id=\"{tid}\""),
        None if core.is_idempotent() => "idempotent".to_string(),
        None => "enable.idempotence=false".to_string(),
    };
    let phase = match s.phase {
        AppPhase::NotStarted => "not started".to_string(),
        AppPhase::Initializing => "initializing".to_string(),
        AppPhase::InTransaction(n) => format!("in transaction {}", n + 1),
        AppPhase::Done => "done".to_string(),
    };
    let mut t = format!(
        "{name} ({kind}): pid={} epoch={} {:?}, application {phase}\n",
        core.producer_id(),
        core.producer_epoch(),
        core.state()
    );
    if let Some(e) = core.last_error() {
        let _ = writeln!(t, "  last error {}", e.name());
    }
    let acked: Vec<String> = s
        .acked
        .iter()
        .map(|(r, o)| format!("{}@{o}", rec(*r)))
        .collect();
    let waiting: Vec<String> = s.batches.values().map(|r| rec(*r)).collect();
    let _ = writeln!(
        t,
        "  acknowledged [{}] awaiting [{}]",
        acked.join(" "),
        waiting.join(" ")
    );
    for (tp, e) in core.partitions() {
        let _ = writeln!(
            t,
            "  {tp}: next seq={} last acked seq={} in flight {}{}",
            e.next_sequence,
            e.last_acked_sequence,
            e.in_flight.len(),
            if e.unresolved.is_some() {
                " (unresolved)"
            } else {
                ""
            }
        );
    }
    if !core.outstanding().is_empty() {
        let reqs: Vec<String> = core
            .outstanding()
            .iter()
            .map(|(id, o)| format!("#{id} {}", outstanding_words(s, o)))
            .collect();
        let _ = writeln!(t, "  outstanding {}", reqs.join(", "));
    }
    let told: Vec<String> = (0..8u8)
        .filter_map(|n| {
            let bit = 1u8 << n;
            if s.committed & bit != 0 {
                Some(format!("transaction {} committed", n + 1))
            } else if s.aborted & bit != 0 {
                Some(format!("transaction {} aborted", n + 1))
            } else {
                None
            }
        })
        .collect();
    if !told.is_empty() {
        let _ = writeln!(t, "  application told: {}", told.join(", "));
    }
    t
}

/// An outstanding request of a producer in words (`Produce t-0 r1`, `EndTxn COMMIT`, ...).
pub fn outstanding_words(s: &ProducerActorState, o: &Outstanding) -> String {
    match o {
        Outstanding::Produce(tp, batch) => match s.batches.get(batch) {
            Some(r) => format!("Produce {tp} {}", rec(*r)),
            None => format!("Produce {tp}"),
        },
        Outstanding::Txn(TxnRequest::InitProducerId { bump }) => {
            format!("InitProducerId{}", if *bump { " (epoch bump)" } else { "" })
        }
        Outstanding::Txn(TxnRequest::AddPartitions(ps)) => format!(
            "AddPartitionsToTxn [{}]",
            ps.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
        Outstanding::Txn(TxnRequest::EndTxn(r)) => format!(
            "EndTxn {}",
            match r {
                TransactionResult::Commit => "COMMIT",
                TransactionResult::Abort => "ABORT",
            }
        ),
        Outstanding::Txn(TxnRequest::AddOffsets { group, .. }) => {
            format!("AddOffsetsToTxn {}", group.group_id)
        }
        Outstanding::Txn(TxnRequest::TxnOffsetCommit { group, .. }) => {
            format!("TxnOffsetCommit {}", group.group_id)
        }
    }
}

/// What request a producer's `RequestTimeout(id)` timer stands for, read from the producer's
/// state before the timer fires (`None` when it no longer tracks the request).
pub fn timed_out_request(s: &EosState, producer: Id, request: u64) -> Option<String> {
    let ActorState::Producer(p) = &**s.actor_states.get(usize::from(producer))? else {
        return None;
    };
    p.core
        .outstanding()
        .iter()
        .find(|(id, _)| **id == request)
        .map(|(_, o)| outstanding_words(p, o))
}

/// One actor's state in the protocol's words.
pub fn actor_text(name: &str, s: &ActorState) -> String {
    match s {
        ActorState::Producer(p) => producer_text(name, p),
        ActorState::Partition(p) => partition_text(name, p),
        ActorState::Coordinator(c) => coordinator_text(name, c),
        ActorState::Group(g) => group_text(name, g),
        ActorState::Processor(p) => processor_text(name, p),
    }
}

/// The whole system: actors, messages in flight, armed timers.
pub fn system_text(names: &[String], s: &EosState) -> String {
    let mut t = String::new();
    for (i, a) in s.actor_states.iter().enumerate() {
        t.push_str(&actor_text(&name_of(names, Id::from(i)), a));
    }
    let msgs: Vec<String> = in_flight(&s.network)
        .into_iter()
        .map(|(src, dst, msg)| {
            format!(
                "  {} -> {}: {msg:?}",
                name_of(names, src),
                name_of(names, dst)
            )
        })
        .collect();
    if msgs.is_empty() {
        t.push_str("network: empty\n");
    } else {
        t.push_str("network:\n");
        for m in msgs {
            t.push_str(&m);
            t.push('\n');
        }
    }
    let mut timers = Vec::new();
    for i in 0..s.actor_states.len() {
        let mut v: Vec<String> = s.timers_of(Id::from(i)).map(timer_words).collect();
        v.sort();
        for w in v {
            timers.push(format!("  {}: {w}", name_of(names, Id::from(i))));
        }
    }
    if !timers.is_empty() {
        t.push_str("timers armed:\n");
        for w in timers {
            t.push_str(&w);
            t.push('\n');
        }
    }
    t
}

/// The messages in flight, per channel in sending order (ordered network) or sorted.
pub fn in_flight(n: &Network) -> Vec<(Id, Id, &Msg)> {
    n.iter_all().map(|e| (e.src, e.dst, e.msg)).collect()
}

/// The group coordinator's state in words: the group, committed and pending offsets.
fn group_text(name: &str, g: &crate::model::processor::GroupActorState) -> String {
    use crate::model::scenario::PROCESSOR_GROUP;
    let group = g
        .core
        .group(PROCESSOR_GROUP)
        .map_or("no group".to_string(), |grp| {
            format!(
                "generation {} members [{}]",
                grp.generation_id,
                grp.members.keys().cloned().collect::<Vec<_>>().join(",")
            )
        });
    let committed: Vec<String> = g
        .core
        .committed_offsets(PROCESSOR_GROUP)
        .iter()
        .map(|(tp, o)| format!("{tp}={}", o.committed_offset))
        .collect();
    let pending: Vec<String> = g
        .core
        .open_producer_ids(PROCESSOR_GROUP)
        .iter()
        .map(|pid| format!("pid={pid}"))
        .collect();
    format!(
        "{name}: {group}; committed [{}]; pending [{}]\n",
        committed.join(","),
        pending.join(",")
    )
}

/// A processor's state in words.
fn processor_text(name: &str, p: &crate::model::processor::ProcessorActorState) -> String {
    let generation = p
        .consumer
        .generation()
        .map_or("-".to_string(), |g| g.generation_id.to_string());
    let position = p
        .consumer
        .position(&crate::model::actors::topic_partition(
            crate::model::processor::INPUT,
        ))
        .map_or("-".to_string(), |o| o.to_string());
    format!(
        "{name}: {:?}, generation {generation}, position {position}, producer {} pid={} epoch={}{}\n",
        p.phase,
        p.producer.state().name(),
        p.producer.producer_id(),
        p.producer.producer_epoch(),
        if p.completed { ", completed" } else { "" }
    )
}
