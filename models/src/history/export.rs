//! Model counterexamples as histories: what the clients of a counterexample path observed,
//! so that the history checker can be held to the model's verdicts.
//!
//! Along the path, each producer's ghost fields say what its application was told: a record
//! acknowledged (a `send` with its offset), a transaction committed or aborted (`commit` /
//! `abort`, after a `begin` before its first record). The producer entering
//! COMMITTING_TRANSACTION or ABORTING_TRANSACTION is the application's `commitTransaction()` /
//! `abortTransaction()` call (the invocation); a commit that turns into an abort failed. A send
//! acknowledged while the end is pending was asked for before it (`commitTransaction` flushes
//! the sends): it is placed before the end's invocation. A read_committed consumer polls each
//! partition whenever the read_committed view (`properties::read_committed`) gains records
//! past its position, reporting its position (the LSO: a read_committed fetch passes aborted
//! records and markers below it); at the end a read_uncommitted consumer reads every data
//! record of every log. Record `r` of the scenario is value `r + 1`; producer `i` is process
//! `i`; the consumers are processes 100 and 101.

use std::collections::{BTreeMap, BTreeSet};

use kafka_eos::partition::LogBatch;

use kafka_eos::producer::TransactionState;

use super::{Builder, Event, EventType, Isolation, Offset, Op, Partition, Txn, Value};
use crate::model::actors::AppPhase;
use crate::model::actors::{Rec, UNKNOWN_OFFSET};
use crate::model::check::{run, walk, CheckOptions};
use crate::model::properties::{data_entries, info_is_transactional, read_committed};
use crate::model::scenario::Scenario;
use crate::model::{model, partitions, producers, EosModel, EosState};

/// The read_committed consumer's process.
pub const RC_CONSUMER: u64 = 100;
/// The final read_uncommitted consumer's process.
pub const RU_CONSUMER: u64 = 101;

fn value(rec: Rec) -> Value {
    Value::from(rec) + 1
}

fn bit(n: u8) -> u8 {
    1u8.checked_shl(u32::from(n)).unwrap_or(0)
}

/// What the observer has emitted so far.
#[derive(Default)]
struct Observer {
    b: Builder,
    begun: BTreeSet<(usize, u8)>,
    rc_pos: BTreeMap<Partition, Offset>,
    /// Per producer, the transaction end invoked and not yet told: (txn, commit, the
    /// invocation's index).
    ending: BTreeMap<usize, (u8, bool, usize)>,
}

fn txn_op(commit: bool, t: u8) -> Op {
    let t = Txn {
        txn: u64::from(t),
        ..Txn::default()
    };
    if commit {
        Op::Commit(t)
    } else {
        Op::Abort(t)
    }
}

impl Observer {
    fn begin(&mut self, producer: usize, txn: u8) {
        if self.begun.insert((producer, txn)) {
            self.b.begin(producer as u64, u64::from(txn));
        }
    }

    /// A send acknowledged (`Some(offset)`, the offset when the answer had one) or failed
    /// (`None`), placed before a pending end's invocation.
    fn send(
        &mut self,
        i: usize,
        partition: Partition,
        value: Value,
        txn: Option<u8>,
        acked: Option<Option<Offset>>,
    ) {
        if let Some(t) = txn {
            self.begin(i, t);
        }
        let mut pair = Builder::new();
        match acked {
            Some(offset) => pair.send(i as u64, partition, value, txn.map(u64::from), offset),
            None => pair.send_failed(i as u64, partition, value, txn.map(u64::from)),
        };
        // Acknowledged without an offset (DUPLICATE_SEQUENCE_NUMBER) is still `ok`.
        for e in &mut pair.events {
            if e.kind == EventType::Info {
                e.kind = EventType::Ok;
            }
        }
        match self.ending.get(&i).map(|e| e.2) {
            None => {
                for mut e in pair.events {
                    self.b.time += 1;
                    e.time = self.b.time;
                    self.b.events.push(e);
                }
            }
            Some(at) => {
                let time = self.b.events[at].time;
                for (k, mut e) in pair.events.into_iter().enumerate() {
                    e.time = time;
                    self.b.events.insert(at + k, e);
                }
                for e in self.ending.values_mut() {
                    if e.2 >= at {
                        e.2 += 2;
                    }
                }
            }
        }
    }

    /// The application asked to end transaction `t` (commit or abort).
    fn asked(&mut self, i: usize, t: u8, commit: bool) {
        match self.ending.get(&i).copied() {
            Some((et, ec, _)) if et == t && ec == commit => return,
            Some((et, true, _)) if et == t => {
                // The commit failed; the application aborts.
                self.b.complete(i as u64, EventType::Fail, txn_op(true, t));
            }
            _ => {}
        }
        self.begin(i, t);
        self.b.invoke(i as u64, txn_op(commit, t));
        self.ending.insert(i, (t, commit, self.b.events.len() - 1));
    }

    /// The application was told transaction `t` committed (or aborted).
    fn told(&mut self, i: usize, t: u8, committed: bool) {
        match self.ending.remove(&i) {
            Some((et, ec, _)) if et == t && ec == committed => {}
            Some((et, true, _)) if et == t => {
                self.b.complete(i as u64, EventType::Fail, txn_op(true, t));
                self.b.invoke(i as u64, txn_op(false, t));
            }
            other => {
                if let Some(e) = other {
                    self.ending.insert(i, e);
                }
                self.begin(i, t);
                self.b.invoke(i as u64, txn_op(committed, t));
            }
        }
        self.b
            .complete(i as u64, EventType::Ok, txn_op(committed, t));
    }

    /// Everything that changed from `prev` to `s`.
    fn observe(&mut self, m: &EosModel, prev: Option<&EosState>, s: &EosState) {
        let before = prev.map(producers);
        for (i, p) in producers(s).iter().enumerate() {
            let old = before.as_ref().and_then(|v| v.get(i).copied());
            for &(rec, offset) in &p.acked {
                if old.is_some_and(|o| o.acked.contains(&(rec, offset))) {
                    continue;
                }
                let Some(info) = m.cfg.rec(rec) else { continue };
                let txn = info_is_transactional(m, info).then_some(info.txn);
                let offset = (offset != UNKNOWN_OFFSET).then_some(offset);
                self.send(
                    i,
                    Partition::from(info.partition),
                    value(rec),
                    txn,
                    Some(offset),
                );
            }
            // A batch gone without its record acknowledged: the send failed (its callback got
            // the error).
            if let Some(o) = old {
                for (batch, &rec) in &o.batches {
                    if p.batches.contains_key(batch) || p.acked.iter().any(|&(r, _)| r == rec) {
                        continue;
                    }
                    let Some(info) = m.cfg.rec(rec) else { continue };
                    let txn = info_is_transactional(m, info).then_some(info.txn);
                    self.send(i, Partition::from(info.partition), value(rec), txn, None);
                }
            }
            for t in 0..8u8 {
                let was = |f: fn(&crate::model::actors::ProducerActorState) -> u8| {
                    old.is_some_and(|o| f(o) & bit(t) != 0)
                };
                if p.committed & bit(t) != 0 && !was(|o| o.committed) {
                    self.told(i, t, true);
                }
                if p.aborted & bit(t) != 0 && !was(|o| o.aborted) {
                    self.told(i, t, false);
                }
            }
            if let AppPhase::InTransaction(n) = p.phase {
                match p.core.state() {
                    TransactionState::CommittingTransaction => self.asked(i, n, true),
                    TransactionState::AbortingTransaction => self.asked(i, n, false),
                    _ => {}
                }
            }
        }
        // The read_committed consumer.
        let mut recs = Vec::new();
        let mut positions = Vec::new();
        for (k, part) in partitions(s).iter().enumerate() {
            let k = Partition::try_from(k).unwrap_or(0);
            let pos = self.rc_pos.get(&k).copied().unwrap_or(0);
            let new: Vec<(Offset, Rec)> = read_committed(&part.core)
                .into_iter()
                .filter(|&(o, _)| o >= pos)
                .collect();
            let lso = part.core.last_stable_offset();
            if new.is_empty() && lso <= pos {
                continue;
            }
            for &(o, r) in &new {
                recs.push((k, o, value(r)));
            }
            let next = new.last().map_or(pos, |&(o, _)| o + 1).max(lso);
            positions.push((k, next));
            self.rc_pos.insert(k, next);
        }
        if !recs.is_empty() || !positions.is_empty() {
            self.b.poll_to(
                RC_CONSUMER,
                Isolation::ReadCommitted,
                None,
                &recs,
                &positions,
            );
        }
    }
}

/// The history of the action-index `path` of `m` (as `check` prints it), or `None` when the
/// path is not one of `m`'s.
pub fn from_path(m: &EosModel, path: &[usize]) -> Option<Vec<Event>> {
    let (steps, last) = walk(m, path)?;
    let mut o = Observer::default();
    let n = partitions(&last).len();
    let from: Vec<(Partition, Offset)> = (0..n)
        .map(|k| (Partition::try_from(k).unwrap_or(0), 0))
        .collect();
    o.b.assign(RC_CONSUMER, &from);
    o.b.assign(RU_CONSUMER, &from);
    let mut prev: Option<&EosState> = None;
    for (s, _) in &steps {
        o.observe(m, prev, s);
        prev = Some(s);
    }
    o.observe(m, prev, &last);
    let mut recs = Vec::new();
    let mut positions = Vec::new();
    for (k, part) in partitions(&last).iter().enumerate() {
        let k = Partition::try_from(k).unwrap_or(0);
        let log: &[LogBatch<Rec>] = part.core.log();
        for e in data_entries(log) {
            recs.push((k, e.offset, value(e.rec)));
        }
        positions.push((k, part.core.high_watermark()));
    }
    o.b.poll_to(
        RU_CONSUMER,
        Isolation::ReadUncommitted,
        None,
        &recs,
        &positions,
    );
    Some(o.b.build())
}

/// Model-checks `scenario` and exports each counterexample (named by the first property it
/// breaks) as a history.
pub fn counterexamples(scenario: &Scenario) -> Vec<(&'static str, Vec<Event>)> {
    let report = run(
        scenario,
        &CheckOptions {
            progress: false,
            ..CheckOptions::default()
        },
    );
    let m = model(scenario);
    report
        .counterexamples
        .iter()
        .filter_map(|c| {
            let path: Vec<usize> = c
                .encoded
                .split('/')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            Some((*c.properties.first()?, from_path(&m, &path)?))
        })
        .collect()
}
