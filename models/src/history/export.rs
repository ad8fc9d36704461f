//! Model counterexamples as histories: what the clients of a counterexample path observed,
//! so that the history checker can be held to the model's verdicts.
//!
//! Along the path, each producer's ghost fields say what its application was told: a record
//! acknowledged (a `send` with its offset), a transaction committed or aborted (`commit` /
//! `abort`, after a `begin` before its first record). A read_committed consumer polls each
//! partition whenever the read_committed view (`properties::read_committed`) gains records
//! past its position, reporting its position (the LSO: a read_committed fetch passes aborted
//! records and markers below it); at the end a read_uncommitted consumer reads every data
//! record of every log. Record `r` of the scenario is value `r + 1`; producer `i` is process
//! `i`; the consumers are processes 100 and 101.

use std::collections::{BTreeMap, BTreeSet};

use kafka_eos::partition::LogBatch;

use super::{Builder, Event, EventType, Isolation, Offset, Partition, Value};
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
}

impl Observer {
    fn begin(&mut self, producer: usize, txn: u8) {
        if self.begun.insert((producer, txn)) {
            self.b.begin(producer as u64, u64::from(txn));
        }
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
                if let Some(t) = txn {
                    self.begin(i, t);
                }
                let offset = (offset != UNKNOWN_OFFSET).then_some(offset);
                self.b.send(
                    i as u64,
                    Partition::from(info.partition),
                    value(rec),
                    txn.map(u64::from),
                    offset,
                );
                if offset.is_none() {
                    // Acknowledged without an offset (DUPLICATE_SEQUENCE_NUMBER): an `ok`
                    // with no offset, not an unknown outcome.
                    if let Some(last) = self.b.events.last_mut() {
                        last.kind = EventType::Ok;
                    }
                }
            }
            for t in 0..8u8 {
                let was = |f: fn(&crate::model::actors::ProducerActorState) -> u8| {
                    old.is_some_and(|o| f(o) & bit(t) != 0)
                };
                if p.committed & bit(t) != 0 && !was(|o| o.committed) {
                    self.begin(i, t);
                    self.b.commit(i as u64, u64::from(t), EventType::Ok);
                }
                if p.aborted & bit(t) != 0 && !was(|o| o.aborted) {
                    self.begin(i, t);
                    self.b.abort(i as u64, u64::from(t));
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
