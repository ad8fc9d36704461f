//! Client histories of a Kafka topic and the checker that judges them with the model's
//! properties (docs/history.md).
//!
//! A history is a JSON-lines file, one [`Event`] per line: what each client process asked
//! (`invoke`) and was told (`ok`, `fail`, or `info` when the outcome is unknown), in the order
//! the recorder saw them. `kafka-eos-history` (adapters/history) records one against a real
//! broker with librdkafka; [`export`] turns a model counterexample into one; [`check()`] finds
//! the anomalies Jepsen's Kafka workload names (duplicate, lost-write, G1a, ...) and maps each to
//! the model property (docs/model.md) that forbids it.

pub mod check;
pub mod export;
pub mod html;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::BufRead;

use serde::{Deserialize, Serialize};

pub use check::{check, Anomaly, AnomalyKind, CheckReport};

/// A record's value: unique within a history (the recorder draws each from a counter), so a
/// read names the send that wrote it, as in Jepsen's Kafka workload.
pub type Value = u64;
/// A partition of the history's topic.
pub type Partition = i32;
/// A log offset.
pub type Offset = i64;

/// Whether an operation was asked for or how it ended (Jepsen's op types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The client asked.
    Invoke,
    /// It happened.
    Ok,
    /// It did not happen (a definite failure).
    Fail,
    /// Unknown whether it happened (a timeout, a crash) — or an event with no invocation.
    Info,
}

/// A consumer's `isolation.level` (KIP-98).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// Only non-transactional and committed records, below the last stable offset.
    ReadCommitted,
    /// Every record below the high watermark, aborted ones included.
    ReadUncommitted,
}

/// `send`: one record produced to a partition; the `ok` carries its offset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Send {
    /// The partition.
    pub partition: Partition,
    /// The record's value (unique in the history).
    pub value: Value,
    /// The record's key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The offset the broker acknowledged (on `ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<Offset>,
    /// The producer's transaction this send belongs to (ids are unique per process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn: Option<u64>,
}

impl Send {
    /// A send with no key, not yet acknowledged.
    pub fn unkeyed(partition: Partition, value: Value, txn: Option<u64>) -> Send {
        Send {
            partition,
            value,
            key: None,
            offset: None,
            txn,
        }
    }
}

/// `poll`: what one consumer poll returned, per partition `(offset, value)` in delivery order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Poll {
    /// The consumer's isolation level.
    pub isolation: Isolation,
    /// Per partition, the `[offset, value]` pairs returned (on `ok`).
    #[serde(default)]
    pub records: BTreeMap<Partition, Vec<(Offset, Value)>>,
    /// Per partition, the consumer's position after the poll (`KafkaConsumer.position`: past
    /// the records returned and any aborted records and markers skipped), when recorded: an
    /// offset below it that was not returned was passed over.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub positions: BTreeMap<Partition, Offset>,
    /// The transaction of a consume-transform-produce process this poll belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub txn: Option<u64>,
}

/// `begin`, `commit`, `abort`: a producer transaction; `commit`/`abort` may list the values
/// the transaction sent (a summary; the checker goes by each send's `txn`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// The transaction id (unique per process).
    pub txn: u64,
    /// The values the transaction sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sends: Vec<Value>,
    /// How many polls the transaction made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polls: Option<u64>,
}

/// `send_offsets`: `sendOffsetsToTransaction` (KIP-447) of a consumer group's positions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendOffsets {
    /// The transaction.
    pub txn: u64,
    /// The consumer group.
    pub group: String,
    /// Per partition, the next offset to consume.
    pub offsets: BTreeMap<Partition, Offset>,
}

/// `assign`, `subscribe`, `rebalance`: the consumer's partitions change; a consumer may then
/// restart from any position, so the per-consumer order checks start afresh.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assign {
    /// The partitions now assigned (for `rebalance`: newly assigned).
    #[serde(default)]
    pub partitions: Vec<Partition>,
    /// For `rebalance`: the partitions revoked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<Partition>,
    /// Where consumption starts per partition, when known (e.g. 0 for a read from the
    /// beginning): a poll that returns more than this later must not have skipped anything.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub from: BTreeMap<Partition, Offset>,
}

/// The operation of an event, `f` and `value` in the JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", content = "value", rename_all = "snake_case")]
pub enum Op {
    /// Produce one record.
    Send(Send),
    /// One consumer poll.
    Poll(Poll),
    /// `beginTransaction`.
    Begin(Txn),
    /// `commitTransaction`.
    Commit(Txn),
    /// `abortTransaction`.
    Abort(Txn),
    /// `sendOffsetsToTransaction`.
    SendOffsets(SendOffsets),
    /// `assign` (with optional start positions).
    Assign(Assign),
    /// `subscribe` to the topic (group-managed assignment follows as `rebalance`).
    Subscribe(Assign),
    /// A group rebalance assigned and revoked partitions.
    Rebalance(Assign),
    /// The process crashed (is killed and restarted): its pending operation's outcome is
    /// unknown, and its open transaction ends — aborted when no commit was asked for (the
    /// restarted producer's InitProducerId aborts it, KIP-98), unknown otherwise.
    Crash(Crash),
}

/// `crash` carries no data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crash {}

impl Op {
    /// The operation's name (`f`).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Send(_) => "send",
            Op::Poll(_) => "poll",
            Op::Begin(_) => "begin",
            Op::Commit(_) => "commit",
            Op::Abort(_) => "abort",
            Op::SendOffsets(_) => "send_offsets",
            Op::Assign(_) => "assign",
            Op::Subscribe(_) => "subscribe",
            Op::Rebalance(_) => "rebalance",
            Op::Crash(_) => "crash",
        }
    }
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawEvent", into = "RawEvent")]
pub struct Event {
    /// The client process (a producer, consumer or processor slot; it keeps its number
    /// across a crash and restart).
    pub process: u64,
    /// Real time in nanoseconds since the history began.
    pub time: u64,
    /// invoke / ok / fail / info.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The operation.
    pub op: Op,
}

/// An event as written: `f` and `value` beside the other fields (serde's `flatten` would turn
/// the partition keys of a poll into strings it then cannot read back as numbers).
#[derive(Serialize, Deserialize)]
struct RawEvent {
    process: u64,
    time: u64,
    #[serde(rename = "type")]
    kind: EventType,
    f: String,
    #[serde(default)]
    value: serde_json::Value,
}

impl TryFrom<RawEvent> for Event {
    type Error = serde_json::Error;

    fn try_from(r: RawEvent) -> Result<Event, serde_json::Error> {
        let op: Op = serde_json::from_value(serde_json::json!({"f": r.f, "value": r.value}))?;
        Ok(Event {
            process: r.process,
            time: r.time,
            kind: r.kind,
            op,
        })
    }
}

impl From<Event> for RawEvent {
    fn from(e: Event) -> RawEvent {
        let v = serde_json::to_value(&e.op).expect("an operation always serializes");
        let (f, value) = match v {
            serde_json::Value::Object(mut m) => (
                m.remove("f")
                    .and_then(|f| f.as_str().map(str::to_string))
                    .unwrap_or_default(),
                m.remove("value").unwrap_or_default(),
            ),
            _ => (String::new(), serde_json::Value::Null),
        };
        RawEvent {
            process: e.process,
            time: e.time,
            kind: e.kind,
            f,
            value,
        }
    }
}

impl Event {
    /// One event.
    pub fn new(process: u64, time: u64, kind: EventType, op: Op) -> Event {
        Event {
            process,
            time,
            kind,
            op,
        }
    }

    /// The event as one JSON line (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("an event always serializes")
    }
}

/// A history that cannot be read.
#[derive(Debug)]
pub struct HistoryError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for HistoryError {}

/// Reads a JSON-lines history (blank lines skipped).
pub fn read(input: impl BufRead) -> Result<Vec<Event>, HistoryError> {
    let mut events = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| HistoryError {
            line: i + 1,
            message: e.to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let ev: Event = serde_json::from_str(&line).map_err(|e| HistoryError {
            line: i + 1,
            message: e.to_string(),
        })?;
        events.push(ev);
    }
    Ok(events)
}

/// Parses a history held in a string.
pub fn parse(text: &str) -> Result<Vec<Event>, HistoryError> {
    read(text.as_bytes())
}

/// Writes a history as JSON lines.
pub fn to_jsonl(events: &[Event]) -> String {
    let mut s = String::new();
    for e in events {
        s.push_str(&e.to_line());
        s.push('\n');
    }
    s
}

/// Builds a history one operation at a time (each an invoke and its completion, time
/// advancing by one per event): for hand-made histories and the model export.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    events: Vec<Event>,
    time: u64,
}

impl Builder {
    /// An empty history.
    pub fn new() -> Builder {
        Builder::default()
    }

    fn push(&mut self, process: u64, kind: EventType, op: Op) -> &mut Builder {
        self.time += 1;
        self.events.push(Event::new(process, self.time, kind, op));
        self
    }

    /// A send that failed (definitely not written).
    pub fn send_failed(
        &mut self,
        process: u64,
        partition: Partition,
        value: Value,
        txn: Option<u64>,
    ) -> &mut Builder {
        let s = Send::unkeyed(partition, value, txn);
        self.op(process, Op::Send(s.clone()), EventType::Fail, Op::Send(s))
    }

    /// An invocation alone (complete it with [`Builder::complete`]).
    pub fn invoke(&mut self, process: u64, op: Op) -> &mut Builder {
        self.push(process, EventType::Invoke, op)
    }

    /// The completion of the process's pending invocation.
    pub fn complete(&mut self, process: u64, kind: EventType, op: Op) -> &mut Builder {
        self.push(process, kind, op)
    }

    /// An invocation and its completion.
    pub fn op(&mut self, process: u64, invoke: Op, kind: EventType, done: Op) -> &mut Builder {
        self.push(process, EventType::Invoke, invoke);
        self.push(process, kind, done)
    }

    /// A send acknowledged at `offset`, or of unknown outcome when `offset` is `None`.
    pub fn send(
        &mut self,
        process: u64,
        partition: Partition,
        value: Value,
        txn: Option<u64>,
        offset: Option<Offset>,
    ) -> &mut Builder {
        let s = Send::unkeyed(partition, value, txn);
        let kind = if offset.is_some() {
            EventType::Ok
        } else {
            EventType::Info
        };
        let done = Send {
            offset,
            ..s.clone()
        };
        self.op(process, Op::Send(s), kind, Op::Send(done))
    }

    /// A poll returning `records` as `(partition, offset, value)` in delivery order.
    pub fn poll(
        &mut self,
        process: u64,
        isolation: Isolation,
        txn: Option<u64>,
        records: &[(Partition, Offset, Value)],
    ) -> &mut Builder {
        self.poll_to(process, isolation, txn, records, &[])
    }

    /// A poll returning `records` and reporting the consumer's `positions` after it.
    pub fn poll_to(
        &mut self,
        process: u64,
        isolation: Isolation,
        txn: Option<u64>,
        records: &[(Partition, Offset, Value)],
        positions: &[(Partition, Offset)],
    ) -> &mut Builder {
        let mut map: BTreeMap<Partition, Vec<(Offset, Value)>> = BTreeMap::new();
        for &(p, o, v) in records {
            map.entry(p).or_default().push((o, v));
        }
        let invoke = Poll {
            isolation,
            records: BTreeMap::new(),
            positions: BTreeMap::new(),
            txn,
        };
        let done = Poll {
            records: map,
            positions: positions.iter().copied().collect(),
            ..invoke.clone()
        };
        self.op(process, Op::Poll(invoke), EventType::Ok, Op::Poll(done))
    }

    /// `beginTransaction`.
    pub fn begin(&mut self, process: u64, txn: u64) -> &mut Builder {
        let t = Txn {
            txn,
            ..Txn::default()
        };
        self.op(process, Op::Begin(t.clone()), EventType::Ok, Op::Begin(t))
    }

    /// `commitTransaction`, ending as `kind`.
    pub fn commit(&mut self, process: u64, txn: u64, kind: EventType) -> &mut Builder {
        let t = Txn {
            txn,
            ..Txn::default()
        };
        self.op(process, Op::Commit(t.clone()), kind, Op::Commit(t))
    }

    /// `abortTransaction`, acknowledged.
    pub fn abort(&mut self, process: u64, txn: u64) -> &mut Builder {
        let t = Txn {
            txn,
            ..Txn::default()
        };
        self.op(process, Op::Abort(t.clone()), EventType::Ok, Op::Abort(t))
    }

    /// `assign` of the partitions, consuming from the given offsets.
    pub fn assign(&mut self, process: u64, from: &[(Partition, Offset)]) -> &mut Builder {
        let a = Assign {
            partitions: from.iter().map(|x| x.0).collect(),
            revoked: Vec::new(),
            from: from.iter().copied().collect(),
        };
        self.op(process, Op::Assign(a.clone()), EventType::Ok, Op::Assign(a))
    }

    /// The process crashes (and restarts).
    pub fn crash(&mut self, process: u64) -> &mut Builder {
        self.push(process, EventType::Info, Op::Crash(Crash {}))
    }

    /// The events so far.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The history.
    pub fn build(&self) -> Vec<Event> {
        self.events.clone()
    }
}

/// A valid synthetic history of about `ops` operations (invoke/completion pairs), for the
/// checker's benchmark: idempotent producers, transactional producers committing or aborting
/// (markers take an offset, as Kafka's control records do), read_committed and
/// read_uncommitted consumers polling up to the end of the log, and final polls. Deterministic
/// in `seed`.
pub fn synthetic(ops: usize, seed: u64) -> Vec<Event> {
    const PARTITIONS: usize = 4;
    const PRODUCERS: u64 = 4; // 0, 1 idempotent; 2, 3 transactional
    const CONSUMERS: u64 = 4; // 4, 5 read_committed; 6, 7 read_uncommitted
    let mut rng = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move |n: u64| -> u64 {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) % n
    };
    // Per partition: the log, `None` for a control record, else (value, aborted).
    let mut logs: Vec<Vec<Option<(Value, bool)>>> = vec![Vec::new(); PARTITIONS];
    let mut positions = vec![[0i64; PARTITIONS]; CONSUMERS as usize];
    let mut b = Builder::new();
    let mut value: Value = 0;
    let mut txn_ids = [0u64; PRODUCERS as usize];
    for c in 0..CONSUMERS {
        let from: Vec<(Partition, Offset)> = (0..PARTITIONS).map(|p| (p as i32, 0)).collect();
        b.assign(PRODUCERS + c, &from);
    }
    let poll = |b: &mut Builder,
                logs: &Vec<Vec<Option<(Value, bool)>>>,
                pos: &mut [i64; PARTITIONS],
                process: u64,
                iso: Isolation| {
        let mut recs = Vec::new();
        for (p, log) in logs.iter().enumerate() {
            let mut taken = 0;
            while (pos[p] as usize) < log.len() && taken < 8 {
                let o = pos[p];
                pos[p] += 1;
                if let Some((v, aborted)) = log[o as usize] {
                    if !aborted || iso == Isolation::ReadUncommitted {
                        recs.push((p as i32, o, v));
                        taken += 1;
                    }
                }
            }
        }
        b.poll(process, iso, None, &recs);
    };
    let iso_of = |c: u64| {
        if c < 2 {
            Isolation::ReadCommitted
        } else {
            Isolation::ReadUncommitted
        }
    };
    let mut done = CONSUMERS as usize;
    while done < ops {
        let process = next(PRODUCERS + CONSUMERS);
        if process < 2 {
            let p = next(PARTITIONS as u64) as usize;
            value += 1;
            logs[p].push(Some((value, false)));
            let o = (logs[p].len() - 1) as i64;
            b.send(process, p as i32, value, None, Some(o));
            done += 1;
        } else if process < PRODUCERS {
            let t = txn_ids[process as usize];
            txn_ids[process as usize] += 1;
            b.begin(process, t);
            let commit = next(4) != 0;
            let mut touched = BTreeSet::new();
            let mut written = Vec::new();
            for _ in 0..=next(4) {
                let p = next(PARTITIONS as u64) as usize;
                value += 1;
                logs[p].push(Some((value, !commit)));
                touched.insert(p);
                written.push(value);
                let o = (logs[p].len() - 1) as i64;
                b.send(process, p as i32, value, Some(t), Some(o));
                done += 1;
            }
            for p in touched {
                logs[p].push(None);
            }
            if commit {
                b.commit(process, t, EventType::Ok);
            } else {
                b.abort(process, t);
            }
            done += 2;
        } else {
            let c = process - PRODUCERS;
            poll(
                &mut b,
                &logs,
                &mut positions[c as usize],
                process,
                iso_of(c),
            );
            done += 1;
        }
    }
    // Final polls: every consumer reads to the end.
    for c in 0..CONSUMERS {
        while positions[c as usize]
            .iter()
            .zip(&logs)
            .any(|(&pos, log)| (pos as usize) < log.len())
        {
            poll(
                &mut b,
                &logs,
                &mut positions[c as usize],
                PRODUCERS + c,
                iso_of(c),
            );
        }
    }
    b.build()
}
