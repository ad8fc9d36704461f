//! The history checker: Jepsen's Kafka-workload anomalies, each mapped to the model property
//! that forbids it (docs/history.md), in time near-linear in the history's length.
//!
//! Values are unique, so every read names its write. The checker first gathers, in one pass,
//! each write (its process, transaction, outcome and acknowledged offset), each transaction's
//! outcome, and each read (consumer, isolation, partition, offset, value); then it judges:
//! per value (duplicate, lost-write, unseen, G1a, precommitted-read), per offset
//! (inconsistent-offsets), per consumer and partition in poll order (poll-skip,
//! nonmonotonic-poll), per producer and partition in send order (nonmonotonic-send), per
//! transaction (torn-transaction), and over the graph of write-write and write-read
//! dependencies between transactions (G0, G1c: Elle's cycle search, Tarjan's strongly
//! connected components).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Value as Json};

use super::{Event, EventType, Isolation, Offset, Op, Partition, Value};
use crate::model::properties::{L4, S1, S11, S12, S19, S2, S20, S3, S9};

/// An anomaly, named as Jepsen's Kafka checker names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum AnomalyKind {
    /// A value at two offsets of its partition (a record appended twice).
    Duplicate,
    /// One offset of a partition holding two values.
    InconsistentOffsets,
    /// An acknowledged (and, in a transaction, committed) write that no poll returned though
    /// polls returned later offsets of its partition.
    LostWrite,
    /// An acknowledged, committed write that no poll returned, with no poll past it.
    Unseen,
    /// A read_committed poll returned a value of an aborted transaction (aborted read).
    G1a,
    /// A read_committed poll returned a value before its transaction's commit was asked for
    /// (an uncommitted read).
    PrecommittedRead,
    /// A consumer's next record after `a` is `b`, skipping an offset in between that it
    /// should have returned (across polls).
    PollSkip,
    /// [`AnomalyKind::PollSkip`] within one poll or one transaction.
    IntPollSkip,
    /// A consumer returned an offset at or below one it returned before (across polls).
    NonmonotonicPoll,
    /// [`AnomalyKind::NonmonotonicPoll`] within one poll or one transaction.
    IntNonmonotonicPoll,
    /// A producer's later send landed at or below its earlier send's offset (across
    /// transactions or non-transactional sends).
    NonmonotonicSend,
    /// [`AnomalyKind::NonmonotonicSend`] within one transaction.
    IntNonmonotonicSend,
    /// Some of a transaction's records visible to read_committed and some provably not.
    TornTransaction,
    /// A transaction told committed although one of its sends failed or was never
    /// acknowledged (KAFKA-9279: `commitTransaction` must fail after a failed send).
    CommitWithFailedSend,
    /// A cycle of write-write dependencies (Adya's G0, write cycle).
    G0,
    /// A cycle of write-write and write-read dependencies with a write-read edge (G1c).
    G1c,
}

impl AnomalyKind {
    /// Every kind, in report order.
    pub const ALL: [AnomalyKind; 16] = [
        AnomalyKind::Duplicate,
        AnomalyKind::InconsistentOffsets,
        AnomalyKind::LostWrite,
        AnomalyKind::Unseen,
        AnomalyKind::G1a,
        AnomalyKind::PrecommittedRead,
        AnomalyKind::PollSkip,
        AnomalyKind::IntPollSkip,
        AnomalyKind::NonmonotonicPoll,
        AnomalyKind::IntNonmonotonicPoll,
        AnomalyKind::NonmonotonicSend,
        AnomalyKind::IntNonmonotonicSend,
        AnomalyKind::TornTransaction,
        AnomalyKind::CommitWithFailedSend,
        AnomalyKind::G0,
        AnomalyKind::G1c,
    ];

    /// Jepsen's name for it.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::Duplicate => "duplicate",
            AnomalyKind::InconsistentOffsets => "inconsistent-offsets",
            AnomalyKind::LostWrite => "lost-write",
            AnomalyKind::Unseen => "unseen",
            AnomalyKind::G1a => "G1a",
            AnomalyKind::PrecommittedRead => "precommitted-read",
            AnomalyKind::PollSkip => "poll-skip",
            AnomalyKind::IntPollSkip => "int-poll-skip",
            AnomalyKind::NonmonotonicPoll => "nonmonotonic-poll",
            AnomalyKind::IntNonmonotonicPoll => "int-nonmonotonic-poll",
            AnomalyKind::NonmonotonicSend => "nonmonotonic-send",
            AnomalyKind::IntNonmonotonicSend => "int-nonmonotonic-send",
            AnomalyKind::TornTransaction => "torn-transaction",
            AnomalyKind::CommitWithFailedSend => "commit-with-failed-send",
            AnomalyKind::G0 => "G0",
            AnomalyKind::G1c => "G1c",
        }
    }

    /// The model property (docs/model.md) whose client-visible consequence this anomaly
    /// breaks; `None` for the cycles, which Kafka does not forbid (write-write order is offset
    /// order per partition, not a commit order across partitions, so read_committed admits
    /// them: docs/history.md).
    pub fn property(self) -> Option<&'static str> {
        match self {
            AnomalyKind::Duplicate => Some(S1),
            AnomalyKind::InconsistentOffsets => Some(S2),
            AnomalyKind::LostWrite => Some(S2),
            AnomalyKind::Unseen => Some(L4),
            AnomalyKind::G1a => Some(S11),
            AnomalyKind::PrecommittedRead => Some(S12),
            AnomalyKind::PollSkip | AnomalyKind::IntPollSkip => Some(S19),
            AnomalyKind::NonmonotonicPoll | AnomalyKind::IntNonmonotonicPoll => Some(S20),
            AnomalyKind::NonmonotonicSend | AnomalyKind::IntNonmonotonicSend => Some(S3),
            AnomalyKind::TornTransaction => Some(S9),
            AnomalyKind::CommitWithFailedSend => Some(S19),
            AnomalyKind::G0 | AnomalyKind::G1c => None,
        }
    }
}

/// A record an anomaly is about: where it sits and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordRef {
    /// The partition.
    pub partition: Partition,
    /// The offset, when known.
    pub offset: Option<Offset>,
    /// The value.
    pub value: Value,
}

/// One anomaly with its proof: the records and the history events (0-based indexes into the
/// history's events) that show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// Which anomaly.
    pub kind: AnomalyKind,
    /// What happened, in words.
    pub explanation: String,
    /// The records involved.
    pub records: Vec<RecordRef>,
    /// The events that prove it.
    pub events: Vec<usize>,
}

/// What the checker found.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// Events in the history.
    pub events: usize,
    /// Sends acknowledged.
    pub sends_ok: usize,
    /// Transactions committed / aborted / of unknown outcome.
    pub txns: (usize, usize, usize),
    /// Records returned by polls.
    pub reads: usize,
    /// Every anomaly found.
    pub anomalies: Vec<Anomaly>,
    /// Problems with the history itself (an ok with no invoke, a value sent twice...).
    pub malformed: Vec<String>,
}

impl CheckReport {
    /// The anomalies of one kind.
    pub fn of(&self, kind: AnomalyKind) -> impl Iterator<Item = &Anomaly> {
        self.anomalies.iter().filter(move |a| a.kind == kind)
    }

    /// Counts per kind (kinds found only).
    pub fn counts(&self) -> BTreeMap<AnomalyKind, usize> {
        let mut m = BTreeMap::new();
        for a in &self.anomalies {
            *m.entry(a.kind).or_insert(0) += 1;
        }
        m
    }

    /// The history is valid: well formed, and no anomaly a model property forbids (G0 and
    /// G1c are reported but do not count).
    pub fn valid(&self) -> bool {
        self.malformed.is_empty() && self.anomalies.iter().all(|a| a.kind.property().is_none())
    }

    /// A text summary: totals, then per kind its property and up to `per_kind` anomalies.
    pub fn text(&self, events: &[Event], per_kind: usize) -> String {
        let mut out = String::new();
        let (c, a, u) = self.txns;
        let _ = writeln!(
            out,
            "{} events: {} sends acknowledged, {} records read, transactions {} committed / {} aborted / {} unknown",
            self.events, self.sends_ok, self.reads, c, a, u
        );
        for m in &self.malformed {
            let _ = writeln!(out, "malformed: {m}");
        }
        let counts = self.counts();
        if counts.is_empty() {
            let _ = writeln!(out, "no anomalies");
        }
        for (kind, n) in &counts {
            let prop = kind.property().unwrap_or("no property (Kafka allows it)");
            let _ = writeln!(out, "{} ×{n} — {prop}", kind.name());
            for an in self.of(*kind).take(per_kind) {
                let _ = writeln!(out, "  {}", an.explanation);
                for &i in &an.events {
                    if let Some(e) = events.get(i) {
                        let _ = writeln!(out, "    #{i} {}", e.to_line());
                    }
                }
            }
            if *n > per_kind {
                let _ = writeln!(out, "  ... and {} more", n - per_kind);
            }
        }
        let _ = writeln!(
            out,
            "verdict: {}",
            if self.valid() { "valid" } else { "INVALID" }
        );
        out
    }

    /// The report as JSON.
    pub fn json(&self) -> Json {
        json!({
            "valid": self.valid(),
            "events": self.events,
            "sends_ok": self.sends_ok,
            "transactions": {"committed": self.txns.0, "aborted": self.txns.1, "unknown": self.txns.2},
            "reads": self.reads,
            "malformed": self.malformed,
            "counts": self.counts().iter().map(|(k, n)| (k.name().to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "anomalies": self.anomalies.iter().map(|a| json!({
                "type": a.kind.name(),
                "property": a.kind.property(),
                "explanation": a.explanation,
                "records": a.records,
                "events": a.events,
            })).collect::<Vec<_>>(),
        })
    }
}

// ------------------------------------------------------------------ gathering

/// How a send or a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Pending,
    Ok,
    Fail,
    Info,
}

/// A transaction's outcome as the client knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Open,
    Committed,
    Aborted,
    Unknown,
}

/// A transaction: process and per-process id.
type TxnKey = (u64, u64);
/// A consumer's run of reads of one partition between resets: (process, segment, partition).
type SegmentKey = (u64, u64, Partition);

struct Write {
    process: u64,
    partition: Partition,
    txn: Option<TxnKey>,
    invoke: usize,
    complete: Option<usize>,
    status: Status,
    offset: Option<Offset>,
}

#[derive(Default)]
struct TxnInfo {
    events: Vec<usize>,
    commit_invoke: Option<usize>,
    end: Option<usize>,
    outcome: Option<Outcome>,
    values: Vec<Value>,
}

impl TxnInfo {
    fn outcome(&self) -> Outcome {
        self.outcome.unwrap_or(Outcome::Open)
    }
}

/// One record returned by a poll.
#[derive(Clone, Copy)]
struct Read {
    event: usize,
    process: u64,
    isolation: Isolation,
    partition: Partition,
    offset: Offset,
    value: Value,
    txn: Option<TxnKey>,
    /// The consumer's segment: bumped by assign/subscribe/rebalance/crash.
    segment: u64,
}

#[derive(Default)]
struct Gathered {
    writes: BTreeMap<Value, Write>,
    txns: BTreeMap<TxnKey, TxnInfo>,
    reads: Vec<Read>,
    /// Per (process, segment, partition): the start position an assign declared.
    starts: BTreeMap<(u64, u64, Partition), (Offset, usize)>,
    /// Positions polls reported: (process, segment, partition), position, poll, isolation.
    positions: Vec<(SegmentKey, Offset, usize, Isolation)>,
    /// Per process: its ok sends in order (value).
    sends_by_process: BTreeMap<u64, Vec<(Value, u64)>>,
    malformed: Vec<String>,
}

fn gather(events: &[Event]) -> Gathered {
    let mut g = Gathered::default();
    // Per process: the pending invocation.
    let mut pending: BTreeMap<u64, usize> = BTreeMap::new();
    let mut segment: BTreeMap<u64, u64> = BTreeMap::new();
    let mut generation: BTreeMap<u64, u64> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let p = e.process;
        match e.kind {
            EventType::Invoke => {
                if let Some(prev) = pending.insert(p, i) {
                    g.malformed.push(format!(
                        "#{i}: process {p} invokes {} while #{prev} is pending",
                        e.op.name()
                    ));
                }
            }
            EventType::Ok | EventType::Fail => {
                if pending.remove(&p).is_none() && !matches!(e.op, Op::Crash(_)) {
                    g.malformed.push(format!(
                        "#{i}: process {p} completes {} with nothing pending",
                        e.op.name()
                    ));
                }
            }
            // A rebalance is told to the consumer inside a poll: it completes nothing.
            EventType::Info if matches!(e.op, Op::Rebalance(_)) => {}
            EventType::Info => {
                pending.remove(&p);
            }
        }
        let gen = *generation.get(&p).unwrap_or(&0);
        match &e.op {
            Op::Send(s) => {
                let txn = s.txn.map(|t| (p, t));
                match e.kind {
                    EventType::Invoke => {
                        if g.writes.contains_key(&s.value) {
                            g.malformed
                                .push(format!("#{i}: value {} is sent twice", s.value));
                            continue;
                        }
                        g.writes.insert(
                            s.value,
                            Write {
                                process: p,
                                partition: s.partition,
                                txn,
                                invoke: i,
                                complete: None,
                                status: Status::Pending,
                                offset: None,
                            },
                        );
                        if let Some(t) = txn {
                            let info = g.txns.entry(t).or_default();
                            info.values.push(s.value);
                            info.events.push(i);
                        }
                    }
                    kind => {
                        let Some(w) = g.writes.get_mut(&s.value) else {
                            g.malformed.push(format!(
                                "#{i}: value {} completes with no send invoked",
                                s.value
                            ));
                            continue;
                        };
                        w.complete = Some(i);
                        w.status = match kind {
                            EventType::Ok => Status::Ok,
                            EventType::Fail => Status::Fail,
                            _ => Status::Info,
                        };
                        if kind == EventType::Ok {
                            w.offset = s.offset;
                            g.sends_by_process
                                .entry(p)
                                .or_default()
                                .push((s.value, gen));
                        }
                        if let Some(t) = txn {
                            g.txns.entry(t).or_default().events.push(i);
                        }
                    }
                }
            }
            Op::Poll(poll) => {
                let txn = poll.txn.map(|t| (p, t));
                if let Some(t) = txn {
                    g.txns.entry(t).or_default().events.push(i);
                }
                if e.kind != EventType::Ok {
                    continue;
                }
                let seg = *segment.get(&p).unwrap_or(&0);
                for (&partition, &pos) in &poll.positions {
                    g.positions
                        .push(((p, seg, partition), pos, i, poll.isolation));
                }
                for (&partition, recs) in &poll.records {
                    for &(offset, value) in recs {
                        g.reads.push(Read {
                            event: i,
                            process: p,
                            isolation: poll.isolation,
                            partition,
                            offset,
                            value,
                            txn,
                            segment: seg,
                        });
                    }
                }
            }
            Op::Begin(t) => {
                g.txns.entry((p, t.txn)).or_default().events.push(i);
            }
            Op::SendOffsets(so) => {
                g.txns.entry((p, so.txn)).or_default().events.push(i);
            }
            Op::Commit(t) => {
                let info = g.txns.entry((p, t.txn)).or_default();
                info.events.push(i);
                match e.kind {
                    EventType::Invoke => info.commit_invoke = Some(i),
                    EventType::Ok => {
                        info.outcome = Some(Outcome::Committed);
                        info.end = Some(i);
                    }
                    // A failed commit leaves the transaction to be aborted.
                    EventType::Fail => {
                        info.outcome = Some(Outcome::Aborted);
                        info.end = Some(i);
                    }
                    EventType::Info => {
                        info.outcome = Some(Outcome::Unknown);
                        info.end = Some(i);
                    }
                }
            }
            Op::Abort(t) => {
                let info = g.txns.entry((p, t.txn)).or_default();
                info.events.push(i);
                match e.kind {
                    EventType::Invoke => {}
                    EventType::Ok => {
                        info.outcome = Some(Outcome::Aborted);
                        info.end = Some(i);
                    }
                    EventType::Fail | EventType::Info => {
                        if info.outcome != Some(Outcome::Aborted) {
                            info.outcome = Some(Outcome::Unknown);
                        }
                        info.end = Some(i);
                    }
                }
            }
            Op::Assign(a) | Op::Subscribe(a) | Op::Rebalance(a) => {
                if e.kind == EventType::Invoke {
                    continue;
                }
                let seg = segment.entry(p).or_insert(0);
                *seg += 1;
                for (&partition, &from) in &a.from {
                    g.starts.insert((p, *seg, partition), (from, i));
                }
            }
            Op::Crash(_) => {
                *segment.entry(p).or_insert(0) += 1;
                *generation.entry(p).or_insert(0) += 1;
                // Open transactions of the process end: aborted unless a commit was asked.
                for ((tp, _), info) in g.txns.range_mut((p, 0)..=(p, u64::MAX)) {
                    debug_assert_eq!(*tp, p);
                    if info.outcome.is_none() || info.outcome == Some(Outcome::Open) {
                        info.outcome = Some(if info.commit_invoke.is_some() {
                            Outcome::Unknown
                        } else {
                            Outcome::Aborted
                        });
                        info.end = Some(i);
                        info.events.push(i);
                    }
                }
            }
        }
    }
    // Sends still pending (or pending at a crash) are of unknown outcome.
    for w in g.writes.values_mut() {
        if w.status == Status::Pending {
            w.status = Status::Info;
        }
    }
    g
}

// ------------------------------------------------------------------ judging

/// Checks a history: every anomaly with its proof.
pub fn check(events: &[Event]) -> CheckReport {
    let g = gather(events);
    let mut out: Vec<Anomaly> = Vec::new();
    let outcome_of = |w: &Write| -> Option<Outcome> { w.txn.map(|t| g.txns[&t].outcome()) };
    // A write every reader must eventually see: acknowledged, and committed if transactional.
    let must_see = |w: &Write| -> bool {
        w.status == Status::Ok && matches!(outcome_of(w), None | Some(Outcome::Committed))
    };
    let rec = |partition: Partition, offset: Option<Offset>, value: Value| RecordRef {
        partition,
        offset,
        value,
    };

    // Where each value was seen, and what each offset holds, with the events that say so.
    let mut offsets_of: BTreeMap<Value, BTreeMap<Offset, usize>> = BTreeMap::new();
    let mut rc_offsets_of: BTreeMap<Value, BTreeSet<Offset>> = BTreeMap::new();
    let mut values_at: BTreeMap<(Partition, Offset), BTreeMap<Value, usize>> = BTreeMap::new();
    for (&v, w) in &g.writes {
        if let (Some(o), Some(c)) = (w.offset, w.complete) {
            offsets_of.entry(v).or_default().entry(o).or_insert(c);
            values_at
                .entry((w.partition, o))
                .or_default()
                .entry(v)
                .or_insert(c);
        }
    }
    let mut read_values: BTreeSet<Value> = BTreeSet::new();
    let mut rc_read_values: BTreeSet<Value> = BTreeSet::new();
    for r in &g.reads {
        offsets_of
            .entry(r.value)
            .or_default()
            .entry(r.offset)
            .or_insert(r.event);
        values_at
            .entry((r.partition, r.offset))
            .or_default()
            .entry(r.value)
            .or_insert(r.event);
        read_values.insert(r.value);
        if r.isolation == Isolation::ReadCommitted {
            rc_read_values.insert(r.value);
            rc_offsets_of.entry(r.value).or_default().insert(r.offset);
        }
    }
    // The partition a value belongs to (its send, else its first read).
    let mut partition_of: BTreeMap<Value, Partition> =
        g.writes.iter().map(|(&v, w)| (v, w.partition)).collect();
    for r in &g.reads {
        partition_of.entry(r.value).or_insert(r.partition);
    }

    // inconsistent-offsets
    for (&(p, o), vals) in &values_at {
        if vals.len() > 1 {
            out.push(Anomaly {
                kind: AnomalyKind::InconsistentOffsets,
                explanation: format!(
                    "partition {p} offset {o} holds {} values: {:?}",
                    vals.len(),
                    vals.keys().collect::<Vec<_>>()
                ),
                records: vals.keys().map(|&v| rec(p, Some(o), v)).collect(),
                events: vals.values().copied().collect(),
            });
        }
    }

    // duplicate
    for (&v, offs) in &offsets_of {
        if offs.len() < 2 {
            continue;
        }
        let w = g.writes.get(&v);
        let counts = match w.and_then(&outcome_of) {
            None | Some(Outcome::Committed) => true,
            // Within an aborted or undecided transaction a duplicate counts only when
            // read_committed returned it twice.
            _ => rc_offsets_of.get(&v).is_some_and(|s| s.len() > 1),
        };
        if !counts {
            continue;
        }
        let p = partition_of[&v];
        let mut evs: Vec<usize> = w.map(|w| w.invoke).into_iter().collect();
        evs.extend(offs.values().copied());
        evs.sort_unstable();
        evs.dedup();
        out.push(Anomaly {
            kind: AnomalyKind::Duplicate,
            explanation: format!(
                "value {v} sits at {} offsets of partition {p}: {:?}",
                offs.len(),
                offs.keys().collect::<Vec<_>>()
            ),
            records: offs.keys().map(|&o| rec(p, Some(o), v)).collect(),
            events: evs,
        });
    }

    // G1a and precommitted-read: read_committed reads of values of transactions that
    // aborted, or that had not asked to commit yet.
    let mut seen_bad: BTreeSet<(Value, usize)> = BTreeSet::new();
    for r in g
        .reads
        .iter()
        .filter(|r| r.isolation == Isolation::ReadCommitted)
    {
        let Some(w) = g.writes.get(&r.value) else {
            continue;
        };
        let Some(t) = w.txn else { continue };
        if !seen_bad.insert((r.value, r.event)) {
            continue;
        }
        let info = &g.txns[&t];
        let (kind, extra, what) = match info.outcome() {
            Outcome::Aborted => (AnomalyKind::G1a, info.end, "that aborted"),
            _ if info.commit_invoke.is_none_or(|c| r.event < c) => (
                AnomalyKind::PrecommittedRead,
                info.commit_invoke,
                if info.commit_invoke.is_some() {
                    "before its commit was asked for"
                } else {
                    "that never asked to commit"
                },
            ),
            _ => continue,
        };
        let mut evs = vec![w.invoke, r.event];
        evs.extend(extra);
        evs.sort_unstable();
        out.push(Anomaly {
            kind,
            explanation: format!(
                "read_committed process {} read value {} at partition {} offset {} of transaction {} of process {} {what}",
                r.process, r.value, r.partition, r.offset, t.1, t.0
            ),
            records: vec![rec(r.partition, Some(r.offset), r.value)],
            events: evs,
        });
    }

    // The consumers' segments (one per consumer and partition between resets): where each
    // started and the offsets it returned, in order.
    let mut segments: BTreeMap<(u64, u64, Partition), Vec<&Read>> = BTreeMap::new();
    for r in &g.reads {
        segments
            .entry((r.process, r.segment, r.partition))
            .or_default()
            .push(r);
    }
    // Per consumer segment and partition: where it started, the highest offset it returned
    // or its position passed, and (offset, poll) for each record returned and each position
    // reported (a position P is entered as P: the consumer passed every offset below it).
    struct Cover {
        from: Offset,
        to: Offset,
        sorted: Vec<(Offset, usize)>,
        isolation: Isolation,
    }
    let mut marks: BTreeMap<SegmentKey, (Vec<(Offset, usize)>, Isolation)> = BTreeMap::new();
    for r in &g.reads {
        marks
            .entry((r.process, r.segment, r.partition))
            .or_insert_with(|| (Vec::new(), r.isolation))
            .0
            .push((r.offset, r.event));
    }
    for &(key, pos, event, isolation) in &g.positions {
        marks
            .entry(key)
            .or_insert_with(|| (Vec::new(), isolation))
            .0
            .push((pos, event));
    }
    let mut covers: BTreeMap<Partition, Vec<Cover>> = BTreeMap::new();
    for (&(p, seg, part), (list, isolation)) in &mut marks {
        list.sort_unstable();
        let first = list[0].0;
        let from = g
            .starts
            .get(&(p, seg, part))
            .map_or(first, |s| s.0.min(first));
        covers.entry(part).or_default().push(Cover {
            from,
            to: list[list.len() - 1].0,
            sorted: std::mem::take(list),
            isolation: *isolation,
        });
    }
    // The first poll of a consumer of `iso` (any when None) that returned an offset above `o`
    // of partition `p` after covering from at or below it.
    let read_past = |p: Partition, o: Offset, iso: Option<Isolation>| -> Option<usize> {
        covers.get(&p)?.iter().find_map(|c| {
            if c.from > o || c.to <= o || iso.is_some_and(|i| i != c.isolation) {
                return None;
            }
            let k = c.sorted.partition_point(|&(off, _)| off <= o);
            c.sorted.get(k).map(|&(_, e)| e)
        })
    };

    // lost-write and unseen
    let mut unseen: Vec<(Value, &Write)> = Vec::new();
    for (&v, w) in &g.writes {
        if !must_see(w) || read_values.contains(&v) {
            continue;
        }
        let mut evs: Vec<usize> = vec![w.invoke];
        evs.extend(w.complete);
        if let Some(t) = w.txn {
            evs.extend(g.txns[&t].end);
        }
        match w.offset.and_then(|o| read_past(w.partition, o, None)) {
            Some(past) => {
                evs.push(past);
                evs.sort_unstable();
                out.push(Anomaly {
                    kind: AnomalyKind::LostWrite,
                    explanation: format!(
                        "value {v} acknowledged at partition {} offset {} by process {} was never read, though poll #{past} read past it",
                        w.partition,
                        w.offset.unwrap_or(-1),
                        w.process
                    ),
                    records: vec![rec(w.partition, w.offset, v)],
                    events: evs,
                });
            }
            None => unseen.push((v, w)),
        }
    }
    for (v, w) in unseen {
        let mut evs: Vec<usize> = vec![w.invoke];
        evs.extend(w.complete);
        out.push(Anomaly {
            kind: AnomalyKind::Unseen,
            explanation: format!(
                "value {v} acknowledged at partition {} offset {} by process {} was never read",
                w.partition,
                w.offset.map_or("?".to_string(), |o| o.to_string()),
                w.process
            ),
            records: vec![rec(w.partition, w.offset, v)],
            events: evs,
        });
    }

    // poll-skip and nonmonotonic-poll: per consumer segment in delivery order. An offset a
    // consumer must not skip: read_committed, a must-see write's offset or one any
    // read_committed poll returned; read_uncommitted, any known offset.
    let mut must_rc: BTreeSet<(Partition, Offset)> = BTreeSet::new();
    let mut must_ru: BTreeSet<(Partition, Offset)> = BTreeSet::new();
    for (&v, w) in &g.writes {
        if let Some(o) = w.offset {
            if must_see(w) {
                must_rc.insert((w.partition, o));
            }
            if w.status == Status::Ok {
                must_ru.insert((w.partition, o));
            }
        }
        let _ = v;
    }
    for r in &g.reads {
        must_ru.insert((r.partition, r.offset));
        if r.isolation == Isolation::ReadCommitted {
            must_rc.insert((r.partition, r.offset));
        }
    }
    for (&(process, seg, part), reads) in &segments {
        let must = match reads[0].isolation {
            Isolation::ReadCommitted => &must_rc,
            Isolation::ReadUncommitted => &must_ru,
        };
        let mut prev: Option<&Read> = None;
        if let Some(&(from, ev)) = g.starts.get(&(process, seg, part)) {
            let first = reads[0];
            if let Some(&(_, skipped)) = must.range((part, from)..(part, first.offset)).next() {
                out.push(Anomaly {
                    kind: AnomalyKind::PollSkip,
                    explanation: format!(
                        "process {process} started partition {part} at offset {from} and first read offset {}, skipping offset {skipped}",
                        first.offset
                    ),
                    records: vec![rec(part, Some(first.offset), first.value)],
                    events: vec![ev, first.event],
                });
            }
        }
        for &r in reads {
            if let Some(a) = prev {
                let int = a.event == r.event || (a.txn.is_some() && a.txn == r.txn);
                let recs = vec![
                    rec(part, Some(a.offset), a.value),
                    rec(part, Some(r.offset), r.value),
                ];
                let mut evs = vec![a.event, r.event];
                evs.dedup();
                if r.offset <= a.offset {
                    out.push(Anomaly {
                        kind: if int {
                            AnomalyKind::IntNonmonotonicPoll
                        } else {
                            AnomalyKind::NonmonotonicPoll
                        },
                        explanation: format!(
                            "process {process} read partition {part} offset {} then offset {}",
                            a.offset, r.offset
                        ),
                        records: recs,
                        events: evs,
                    });
                } else if let Some(&(_, skipped)) =
                    must.range((part, a.offset + 1)..(part, r.offset)).next()
                {
                    out.push(Anomaly {
                        kind: if int {
                            AnomalyKind::IntPollSkip
                        } else {
                            AnomalyKind::PollSkip
                        },
                        explanation: format!(
                            "process {process} read partition {part} offset {} then offset {}, skipping offset {skipped}",
                            a.offset, r.offset
                        ),
                        records: recs,
                        events: evs,
                    });
                }
            }
            prev = Some(r);
        }
    }

    // nonmonotonic-send: per producer (between crashes) and partition, in send order.
    for (&process, sends) in &g.sends_by_process {
        let mut last: BTreeMap<(u64, Partition), (Value, Offset)> = BTreeMap::new();
        for &(v, gen) in sends {
            let w = &g.writes[&v];
            let Some(o) = w.offset else { continue };
            if let Some(&(pv, po)) = last.get(&(gen, w.partition)) {
                if o <= po {
                    let pw = &g.writes[&pv];
                    let int = w.txn.is_some() && w.txn == pw.txn;
                    out.push(Anomaly {
                        kind: if int {
                            AnomalyKind::IntNonmonotonicSend
                        } else {
                            AnomalyKind::NonmonotonicSend
                        },
                        explanation: format!(
                            "process {process} sent value {pv} (offset {po}) then value {v} (offset {o}) to partition {}",
                            w.partition
                        ),
                        records: vec![
                            rec(w.partition, Some(po), pv),
                            rec(w.partition, Some(o), v),
                        ],
                        events: [pw.complete, w.complete].into_iter().flatten().collect(),
                    });
                }
            }
            last.insert((gen, w.partition), (v, o));
        }
    }

    // torn-transaction: some records visible to read_committed, some provably not.
    for (&t, info) in &g.txns {
        if info.values.len() < 2 {
            continue;
        }
        let mut visible = Vec::new();
        let mut hidden = Vec::new();
        for &v in &info.values {
            let w = &g.writes[&v];
            if rc_read_values.contains(&v) {
                visible.push((v, w.partition, rc_offsets_of[&v].first().copied()));
            } else {
                let known = w
                    .offset
                    .or_else(|| offsets_of.get(&v).and_then(|m| m.keys().next().copied()));
                if let Some(o) = known {
                    if let Some(past) = read_past(w.partition, o, Some(Isolation::ReadCommitted)) {
                        hidden.push((v, w.partition, Some(o), past));
                    }
                }
            }
        }
        if visible.is_empty() || hidden.is_empty() {
            continue;
        }
        let mut evs: Vec<usize> = info.end.into_iter().collect();
        let mut records = Vec::new();
        for &(v, p, o) in &visible {
            records.push(rec(p, o, v));
            if let Some(r) = g.reads.iter().find(|r| r.value == v) {
                evs.push(r.event);
            }
        }
        for &(v, p, o, past) in &hidden {
            records.push(rec(p, o, v));
            evs.push(past);
        }
        evs.sort_unstable();
        evs.dedup();
        out.push(Anomaly {
            kind: AnomalyKind::TornTransaction,
            explanation: format!(
                "transaction {} of process {} ({:?}): read_committed read values {:?} but read past values {:?} without returning them",
                t.1,
                t.0,
                info.outcome(),
                visible.iter().map(|x| x.0).collect::<Vec<_>>(),
                hidden.iter().map(|x| x.0).collect::<Vec<_>>()
            ),
            records,
            events: evs,
        });
    }

    // commit-with-failed-send
    for (&t, info) in &g.txns {
        if info.outcome() != Outcome::Committed {
            continue;
        }
        let failed: Vec<(Value, &Write)> = info
            .values
            .iter()
            .map(|v| (*v, &g.writes[v]))
            .filter(|(_, w)| w.status != Status::Ok)
            .collect();
        if failed.is_empty() {
            continue;
        }
        let mut evs: Vec<usize> = failed.iter().filter_map(|(_, w)| w.complete).collect();
        evs.extend(info.end);
        evs.sort_unstable();
        out.push(Anomaly {
            kind: AnomalyKind::CommitWithFailedSend,
            explanation: format!(
                "transaction {} of process {} was told committed though its sends of values {:?} were not acknowledged",
                t.1,
                t.0,
                failed.iter().map(|x| x.0).collect::<Vec<_>>()
            ),
            records: failed
                .iter()
                .map(|(v, w)| rec(w.partition, w.offset, *v))
                .collect(),
            events: evs,
        });
    }

    cycles(&g, &mut out);

    out.sort_by_key(|a| a.kind);
    let mut txns = (0, 0, 0);
    for info in g.txns.values() {
        match info.outcome() {
            Outcome::Committed => txns.0 += 1,
            Outcome::Aborted => txns.1 += 1,
            Outcome::Unknown | Outcome::Open => txns.2 += 1,
        }
    }
    CheckReport {
        events: events.len(),
        sends_ok: g.writes.values().filter(|w| w.status == Status::Ok).count(),
        txns,
        reads: g.reads.len(),
        anomalies: out,
        malformed: g.malformed,
    }
}

// ------------------------------------------------------------------ cycles (Elle)

/// A node of the dependency graph: a committed transaction, or an acknowledged
/// non-transactional send (a transaction of one write).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Node {
    Txn(TxnKey),
    Single(Value),
}

/// Finds G0 (write-write cycles) and G1c (cycles with a write-read edge) as Elle does for
/// Kafka: write-write edges join consecutive committed writes of each partition in offset
/// order; write-read edges join a write to the transaction that read it.
fn cycles(g: &Gathered, out: &mut Vec<Anomaly>) {
    let node_of = |v: Value| -> Option<Node> {
        let w = g.writes.get(&v)?;
        match w.txn {
            Some(t) if g.txns[&t].outcome() == Outcome::Committed => Some(Node::Txn(t)),
            Some(_) => None,
            None if w.status == Status::Ok => Some(Node::Single(v)),
            None => None,
        }
    };
    let mut ids: BTreeMap<Node, usize> = BTreeMap::new();
    let mut names: Vec<Node> = Vec::new();
    let mut id = |n: Node| -> usize {
        *ids.entry(n).or_insert_with(|| {
            names.push(n);
            names.len() - 1
        })
    };
    // (from, to, kind, proof: the two values, the partition)
    let mut edges: Vec<(usize, usize, bool, Value, Value)> = Vec::new();
    let mut by_partition: BTreeMap<Partition, Vec<(Offset, Value)>> = BTreeMap::new();
    for (&v, w) in &g.writes {
        if let (Some(o), Some(_)) = (w.offset, node_of(v)) {
            by_partition.entry(w.partition).or_default().push((o, v));
        }
    }
    for list in by_partition.values_mut() {
        list.sort_unstable();
        for pair in list.windows(2) {
            let (a, b) = (node_of(pair[0].1).unwrap(), node_of(pair[1].1).unwrap());
            if a != b {
                let (ia, ib) = (id(a), id(b));
                edges.push((ia, ib, false, pair[0].1, pair[1].1));
            }
        }
    }
    for r in &g.reads {
        let Some(t) = r.txn else { continue };
        if g.txns[&t].outcome() != Outcome::Committed {
            continue;
        }
        let Some(wn) = node_of(r.value) else { continue };
        let rn = Node::Txn(t);
        if wn != rn {
            let (a, b) = (id(wn), id(rn));
            edges.push((a, b, true, r.value, r.value));
        }
    }
    edges.sort_unstable();
    edges.dedup_by_key(|e| (e.0, e.1, e.2));
    let n = names.len();
    for wr_allowed in [false, true] {
        let mut adj: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
        for (k, e) in edges.iter().enumerate() {
            if wr_allowed || !e.2 {
                adj[e.0].push((e.1, k));
            }
        }
        for comp in tarjan(&adj) {
            if comp.len() < 2 {
                continue;
            }
            let inside: BTreeSet<usize> = comp.iter().copied().collect();
            // G0 pass: any cycle; G1c pass: a cycle through a write-read edge.
            let start = if wr_allowed {
                edges
                    .iter()
                    .enumerate()
                    .find(|(_, e)| e.2 && inside.contains(&e.0) && inside.contains(&e.1))
                    .map(|(k, _)| k)
            } else {
                adj[comp[0]]
                    .iter()
                    .find(|(to, _)| inside.contains(to))
                    .map(|&(_, k)| k)
            };
            let Some(k0) = start else { continue };
            let Some(path) = bfs_path(&adj, &inside, edges[k0].1, edges[k0].0) else {
                continue;
            };
            let mut cycle = vec![k0];
            cycle.extend(path);
            let kind = if wr_allowed {
                AnomalyKind::G1c
            } else {
                AnomalyKind::G0
            };
            let mut words = Vec::new();
            let mut records = Vec::new();
            let mut evs = Vec::new();
            for &k in &cycle {
                let (a, b, wr, va, vb) = edges[k];
                let (wa, wb) = (&g.writes[&va], &g.writes[&vb]);
                words.push(format!(
                    "{} -{}-> {} (values {va}, {vb} at partition {})",
                    node_text(names[a]),
                    if wr { "wr" } else { "ww" },
                    node_text(names[b]),
                    wa.partition
                ));
                records.push(RecordRef {
                    partition: wa.partition,
                    offset: wa.offset,
                    value: va,
                });
                if !wr {
                    records.push(RecordRef {
                        partition: wb.partition,
                        offset: wb.offset,
                        value: vb,
                    });
                } else if let Some(r) = g.reads.iter().find(|r| r.value == va && r.txn.is_some()) {
                    evs.push(r.event);
                }
                evs.extend(wa.complete);
                evs.extend(wb.complete);
            }
            evs.sort_unstable();
            evs.dedup();
            out.push(Anomaly {
                kind,
                explanation: format!("cycle: {}", words.join("; ")),
                records,
                events: evs,
            });
        }
    }
}

fn node_text(n: Node) -> String {
    match n {
        Node::Txn((p, t)) => format!("T{t}/p{p}"),
        Node::Single(v) => format!("send {v}"),
    }
}

/// Edge indexes of a shortest path from `from` to `to` inside `inside`.
fn bfs_path(
    adj: &[Vec<(usize, usize)>],
    inside: &BTreeSet<usize>,
    from: usize,
    to: usize,
) -> Option<Vec<usize>> {
    let mut back: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    let mut q = VecDeque::from([from]);
    let mut seen = BTreeSet::from([from]);
    while let Some(u) = q.pop_front() {
        if u == to {
            let mut path = Vec::new();
            let mut cur = to;
            while cur != from {
                let (prev, k) = back[&cur];
                path.push(k);
                cur = prev;
            }
            path.reverse();
            return Some(path);
        }
        for &(v, k) in &adj[u] {
            if inside.contains(&v) && seen.insert(v) {
                back.insert(v, (u, k));
                q.push_back(v);
            }
        }
    }
    None
}

/// Tarjan's strongly connected components, iteratively (no recursion depth limit).
fn tarjan(adj: &[Vec<(usize, usize)>]) -> Vec<Vec<usize>> {
    let n = adj.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comps = Vec::new();
    let mut next = 0usize;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (u, ref mut i)) = work.last_mut() {
            if *i < adj[u].len() {
                let v = adj[u][*i].0;
                *i += 1;
                if index[v] == usize::MAX {
                    index[v] = next;
                    low[v] = next;
                    next += 1;
                    stack.push(v);
                    on_stack[v] = true;
                    work.push((v, 0));
                } else if on_stack[v] {
                    low[u] = low[u].min(index[v]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[u]);
                }
                if low[u] == index[u] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == u {
                            break;
                        }
                    }
                    comps.push(comp);
                }
            }
        }
    }
    comps
}
