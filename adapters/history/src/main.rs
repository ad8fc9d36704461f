//! `kafka-eos-history`: records a client history (docs/history.md) against a Kafka cluster with
//! librdkafka (through the `rdkafka` crate), for `kafka-eos history check`.
//!
//! Every client operation is written as it happens: `invoke` before the call, `ok`/`fail`/`info`
//! after it. Producers are idempotent (`queue`) or transactional with random commit and abort
//! (`txn`, `processor`); consumers read with read_committed or read_uncommitted (alternating);
//! processes crash (their client is dropped without closing its transaction) and restart; after
//! the load, every consumer reads until it has caught up, so that nothing is unseen by accident.
//! It decides nothing about Kafka: it records what the client was told.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use kafka_eos_model::history::{
    Assign, Crash, Event, EventType, Isolation, Op, Poll, Send, SendOffsets, Txn,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset as KOffset, TopicPartitionList};

/// Record a client history of a Kafka cluster.
#[derive(Parser)]
#[command(name = "kafka-eos-history", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Drive producers and consumers against the cluster and write the history.
    Run(RunArgs),
}

/// What the producers do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// Idempotent producers, one record per send.
    Queue,
    /// Transactional producers: 1 to 4 sends per transaction, 3 in 4 committed.
    Txn,
    /// Consume-transform-produce: each process polls inside its transaction, sends a record
    /// per record read (and one of its own), sends its offsets to the transaction, commits
    /// or aborts (and then seeks back to its last committed position).
    Processor,
}

#[derive(Parser, Clone)]
struct RunArgs {
    /// The cluster's bootstrap server.
    #[arg(long)]
    bootstrap: String,
    /// The topic (it must exist).
    #[arg(long, default_value = "history")]
    topic: String,
    /// What the producers do.
    #[arg(long, value_enum, default_value = "txn")]
    workload: Workload,
    /// Producer (or processor) processes.
    #[arg(long, default_value_t = 2)]
    producers: u64,
    /// Consumer processes (even: read_committed, odd: read_uncommitted).
    #[arg(long, default_value_t = 2)]
    consumers: u64,
    /// Seconds of load (then the consumers' final reads).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Stop the load after this many sends.
    #[arg(long, default_value_t = 100_000)]
    max_sends: u64,
    /// Seconds the final reads may take.
    #[arg(long, default_value_t = 20)]
    final_timeout: u64,
    /// Probability that a process crashes (and restarts) before each operation.
    #[arg(long, default_value_t = 0.01)]
    crash: f64,
    /// The seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Per-request timeout for the client, in milliseconds (`request.timeout.ms`; also bounds
    /// each send's wait).
    #[arg(long, default_value_t = 5000)]
    request_timeout_ms: u64,
    /// Consumers `subscribe` (read_committed ones in one group, read_uncommitted ones in
    /// another; auto-commit on) instead of assigning every partition: crashes make the groups
    /// rebalance, recorded as `rebalance` events. Needs the broker's group APIs.
    #[arg(long)]
    subscribe: bool,
    /// Extra librdkafka properties for every client, `key=value` (repeatable).
    #[arg(long = "set")]
    set: Vec<String>,
    /// The history file (JSON lines).
    #[arg(long)]
    out: PathBuf,
}

// ------------------------------------------------------------------ recording

/// The history being written: one line per event, flushed at the end.
struct Recorder {
    out: Mutex<BufWriter<File>>,
    start: Instant,
    events: AtomicU64,
    sends: AtomicU64,
    values: AtomicU64,
}

impl Recorder {
    fn record(&self, process: u64, kind: EventType, op: Op) {
        let mut out = self.out.lock().expect("the recorder's lock");
        // The time is taken under the lock, so the file is in time order.
        let time = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let line = Event::new(process, time, kind, op).to_line();
        let _ = writeln!(out, "{line}");
        self.events.fetch_add(1, Ordering::Relaxed);
    }

    fn next_value(&self) -> u64 {
        self.values.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// splitmix64: the runner's only randomness, seeded per process.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

/// What all threads share.
struct Shared {
    args: RunArgs,
    rec: Recorder,
    partitions: i32,
    /// Per partition, the high watermark when the run began: consumers start there.
    base: BTreeMap<i32, i64>,
    /// The load is over: producers finish their transaction and stop.
    stop: AtomicBool,
    /// The producers have stopped: consumers read until caught up.
    producers_done: AtomicBool,
}

impl Shared {
    fn base_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.args.bootstrap)
            .set(
                "request.timeout.ms",
                self.args.request_timeout_ms.to_string(),
            )
            .set(
                "socket.timeout.ms",
                self.args.request_timeout_ms.to_string(),
            )
            .set("log_level", "3");
        for kv in &self.args.set {
            if let Some((k, v)) = kv.split_once('=') {
                c.set(k, v);
            }
        }
        c
    }

    fn load_over(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
            || self.rec.sends.load(Ordering::Relaxed) >= self.args.max_sends
    }
}

// ------------------------------------------------------------------ producing

/// Delivery reports, by the value sent: the offset, or the error.
#[derive(Default)]
struct Deliveries(Mutex<BTreeMap<u64, Result<i64, KafkaError>>>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<u64>;

    fn delivery(&self, result: &DeliveryResult<'_>, value: Box<u64>) {
        let r = match result {
            Ok(m) => Ok(m.offset()),
            Err((e, _)) => Err(e.clone()),
        };
        self.0
            .lock()
            .expect("the deliveries' lock")
            .insert(*value, r);
    }
}

type Prod = BaseProducer<Deliveries>;

fn producer(shared: &Shared, process: u64, transactional: bool) -> Result<Prod, KafkaError> {
    let mut c = shared.base_config();
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "0")
        .set(
            "message.timeout.ms",
            (shared.args.request_timeout_ms * 3).to_string(),
        );
    if transactional {
        c.set("transactional.id", format!("kafka-eos-history-{process}"))
            .set(
                "transaction.timeout.ms",
                (shared.args.request_timeout_ms * 3).max(10_000).to_string(),
            );
    }
    let p: Prod = c.create_with_context(Deliveries::default())?;
    if transactional {
        let timeout = Duration::from_millis(shared.args.request_timeout_ms * 3);
        let mut tries = 0;
        loop {
            match p.init_transactions(timeout) {
                Ok(()) => break,
                Err(e) if tries < 5 && !is_fatal(&e) => {
                    tries += 1;
                    thread::sleep(Duration::from_millis(200));
                    let _ = e;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(p)
}

fn is_fatal(e: &KafkaError) -> bool {
    match e {
        KafkaError::Transaction(r) => r.is_fatal(),
        _ => false,
    }
}

fn requires_abort(e: &KafkaError) -> bool {
    match e {
        KafkaError::Transaction(r) => r.txn_requires_abort(),
        _ => false,
    }
}

/// Sends one record and waits for its delivery report; records invoke and completion.
/// Returns whether it was acknowledged.
fn send_one(
    shared: &Shared,
    p: &Prod,
    process: u64,
    rng: &mut Rng,
    txn: Option<u64>,
    sent: &mut Vec<u64>,
) -> bool {
    let value = shared.rec.next_value();
    let partition =
        i32::try_from(rng.below(u64::try_from(shared.partitions).unwrap_or(1))).unwrap_or(0);
    let key = format!("k{}", value % 16);
    let op = Send {
        partition,
        value,
        key: Some(key.clone()),
        offset: None,
        txn,
    };
    shared
        .rec
        .record(process, EventType::Invoke, Op::Send(op.clone()));
    shared.rec.sends.fetch_add(1, Ordering::Relaxed);
    sent.push(value);
    let payload = value.to_string();
    let record = BaseRecord::with_opaque_to(&shared.args.topic, Box::new(value))
        .partition(partition)
        .key(&key)
        .payload(&payload);
    if let Err((_, _)) = p.send(record) {
        // Not enqueued: definitely not written.
        shared.rec.record(process, EventType::Fail, Op::Send(op));
        return false;
    }
    let deadline = Instant::now() + Duration::from_millis(shared.args.request_timeout_ms * 4);
    let result = loop {
        p.poll(Duration::from_millis(20));
        if let Some(r) = p.context().0.lock().expect("lock").remove(&value) {
            break Some(r);
        }
        if Instant::now() > deadline {
            break None;
        }
    };
    match result {
        Some(Ok(offset)) => {
            let done = Send {
                offset: Some(offset),
                ..op
            };
            shared.rec.record(process, EventType::Ok, Op::Send(done));
            true
        }
        // A delivery error after retries may still have been written: unknown.
        Some(Err(_)) | None => {
            shared.rec.record(process, EventType::Info, Op::Send(op));
            false
        }
    }
}

fn crash(shared: &Shared, process: u64) {
    shared
        .rec
        .record(process, EventType::Info, Op::Crash(Crash {}));
}

fn queue_producer(shared: &Shared, process: u64) -> Result<(), String> {
    let mut rng = Rng(shared.args.seed ^ (process << 32) ^ 0x51);
    let mut p = producer(shared, process, false).map_err(|e| e.to_string())?;
    let mut sent = Vec::new();
    while !shared.load_over() {
        if rng.chance(shared.args.crash) {
            drop(p);
            crash(shared, process);
            p = producer(shared, process, false).map_err(|e| e.to_string())?;
        }
        send_one(shared, &p, process, &mut rng, None, &mut sent);
    }
    let _ = p.flush(Duration::from_secs(5));
    Ok(())
}

/// One transaction's end: commit (retrying what may be retried) or abort; a fatal error or an
/// unresolved commit crashes the process (the next producer's InitProducerId settles it).
/// Returns whether the producer must be re-created.
fn end_txn(shared: &Shared, p: &Prod, process: u64, t: &Txn, commit: bool) -> bool {
    let timeout = Duration::from_millis(shared.args.request_timeout_ms * 3);
    if commit {
        shared
            .rec
            .record(process, EventType::Invoke, Op::Commit(t.clone()));
        let mut tries = 0;
        loop {
            match p.commit_transaction(timeout) {
                Ok(()) => {
                    shared
                        .rec
                        .record(process, EventType::Ok, Op::Commit(t.clone()));
                    return false;
                }
                Err(e) if requires_abort(&e) => {
                    shared
                        .rec
                        .record(process, EventType::Fail, Op::Commit(t.clone()));
                    return abort_txn(shared, p, process, t);
                }
                Err(e) if !is_fatal(&e) && tries < 3 => tries += 1,
                Err(_) => {
                    shared
                        .rec
                        .record(process, EventType::Info, Op::Commit(t.clone()));
                    crash(shared, process);
                    return true;
                }
            }
        }
    }
    abort_txn(shared, p, process, t)
}

fn abort_txn(shared: &Shared, p: &Prod, process: u64, t: &Txn) -> bool {
    let timeout = Duration::from_millis(shared.args.request_timeout_ms * 3);
    shared
        .rec
        .record(process, EventType::Invoke, Op::Abort(t.clone()));
    for _ in 0..3 {
        match p.abort_transaction(timeout) {
            Ok(()) => {
                shared
                    .rec
                    .record(process, EventType::Ok, Op::Abort(t.clone()));
                return false;
            }
            Err(e) if is_fatal(&e) => break,
            Err(_) => {}
        }
    }
    shared
        .rec
        .record(process, EventType::Info, Op::Abort(t.clone()));
    crash(shared, process);
    true
}

fn begin(shared: &Shared, p: &Prod, process: u64, id: u64) -> Result<Txn, String> {
    let t = Txn {
        txn: id,
        ..Txn::default()
    };
    shared
        .rec
        .record(process, EventType::Invoke, Op::Begin(t.clone()));
    match p.begin_transaction() {
        Ok(()) => {
            shared
                .rec
                .record(process, EventType::Ok, Op::Begin(t.clone()));
            Ok(t)
        }
        Err(e) => {
            shared
                .rec
                .record(process, EventType::Fail, Op::Begin(t.clone()));
            Err(e.to_string())
        }
    }
}

/// Begins transaction `id`; when that fails, the process crashes and restarts (`None`).
fn begin_or_restart(
    shared: &Shared,
    p: &mut Prod,
    process: u64,
    id: u64,
) -> Result<Option<Txn>, String> {
    match begin(shared, p, process, id) {
        Ok(t) => Ok(Some(t)),
        Err(_) => {
            crash(shared, process);
            *p = producer(shared, process, true).map_err(|e| e.to_string())?;
            Ok(None)
        }
    }
}

/// Up to `n` sends in transaction `t`, stopping at the first not acknowledged or at a crash
/// (drawn before each send): (all acknowledged, crashed).
fn send_some(
    shared: &Shared,
    p: &Prod,
    process: u64,
    rng: &mut Rng,
    t: &mut Txn,
    n: u64,
) -> (bool, bool) {
    for _ in 0..n {
        if rng.chance(shared.args.crash) {
            return (false, true);
        }
        if !send_one(shared, p, process, rng, Some(t.txn), &mut t.sends) {
            return (false, false);
        }
    }
    (true, false)
}

fn txn_producer(shared: &Shared, process: u64) -> Result<(), String> {
    let mut rng = Rng(shared.args.seed ^ (process << 32) ^ 0x7A);
    let mut p = producer(shared, process, true).map_err(|e| e.to_string())?;
    let mut id = 0u64;
    while !shared.load_over() {
        id += 1;
        let Some(mut t) = begin_or_restart(shared, &mut p, process, id)? else {
            continue;
        };
        let n = rng.below(4) + 1;
        let (ok, crashed) = send_some(shared, &p, process, &mut rng, &mut t, n);
        let recreate = if crashed {
            crash(shared, process);
            true
        } else {
            end_txn(shared, &p, process, &t, ok && rng.below(4) != 0)
        };
        if recreate {
            drop(p);
            p = producer(shared, process, true).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ consuming

/// Rebalances librdkafka told the consumer (inside a poll), recorded by the poll loop between
/// the records before and after them.
#[derive(Default)]
struct Rebalances(Mutex<Vec<Assign>>);

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let parts = |l: &TopicPartitionList| -> Vec<i32> {
            l.elements().iter().map(|e| e.partition()).collect()
        };
        let a = match rebalance {
            Rebalance::Assign(l) => Assign {
                partitions: parts(l),
                ..Assign::default()
            },
            Rebalance::Revoke(l) => Assign {
                revoked: parts(l),
                ..Assign::default()
            },
            Rebalance::Error(_) => return,
        };
        self.0.lock().expect("the rebalances' lock").push(a);
    }
}

type Cons = BaseConsumer<Rebalances>;

fn consumer(
    shared: &Shared,
    process: u64,
    isolation: Isolation,
    group: &str,
) -> Result<Cons, KafkaError> {
    let mut c = shared.base_config();
    // Subscribed consumers commit their positions, so that a partition moving to another
    // member resumes near where it was.
    let auto = if shared.args.subscribe {
        "true"
    } else {
        "false"
    };
    c.set("group.id", group)
        .set("enable.auto.commit", auto)
        .set("enable.auto.offset.store", auto)
        .set("auto.commit.interval.ms", "200")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        .set(
            "isolation.level",
            match isolation {
                Isolation::ReadCommitted => "read_committed",
                Isolation::ReadUncommitted => "read_uncommitted",
            },
        );
    let _ = process;
    c.create_with_context(Rebalances::default())
}

/// Subscribes to the topic and records it.
fn subscribe(shared: &Shared, c: &Cons, process: u64) -> Result<(), KafkaError> {
    let a = Assign::default();
    shared
        .rec
        .record(process, EventType::Invoke, Op::Subscribe(a.clone()));
    let r = c.subscribe(&[shared.args.topic.as_str()]);
    let kind = if r.is_ok() {
        EventType::Ok
    } else {
        EventType::Fail
    };
    shared.rec.record(process, kind, Op::Subscribe(a));
    r
}

/// Assigns every partition from `from` and records it.
fn assign(
    shared: &Shared,
    c: &Cons,
    process: u64,
    from: &BTreeMap<i32, i64>,
) -> Result<(), KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for (&p, &o) in from {
        tpl.add_partition_offset(&shared.args.topic, p, KOffset::Offset(o))?;
    }
    let a = Assign {
        partitions: from.keys().copied().collect(),
        revoked: Vec::new(),
        from: from.clone(),
    };
    shared
        .rec
        .record(process, EventType::Invoke, Op::Assign(a.clone()));
    match c.assign(&tpl) {
        Ok(()) => {
            shared.rec.record(process, EventType::Ok, Op::Assign(a));
            Ok(())
        }
        Err(e) => {
            shared.rec.record(process, EventType::Fail, Op::Assign(a));
            Err(e)
        }
    }
}

/// One recorded poll: up to 100 records, waiting up to 100 ms for the first. Updates `next`
/// (per partition, the offset after the last record returned).
fn poll_once(
    shared: &Shared,
    c: &Cons,
    process: u64,
    isolation: Isolation,
    txn: Option<u64>,
    next: &mut BTreeMap<i32, i64>,
) -> usize {
    let invoke = Poll {
        isolation,
        records: BTreeMap::new(),
        positions: BTreeMap::new(),
        txn,
    };
    shared
        .rec
        .record(process, EventType::Invoke, Op::Poll(invoke.clone()));
    let mut records: BTreeMap<i32, Vec<(i64, u64)>> = BTreeMap::new();
    let mut n = 0;
    let mut wait = Duration::from_millis(100);
    while n < 100 {
        let got = c.poll(wait);
        // A rebalance told inside this poll ends the recorded poll before it.
        let told: Vec<Assign> = std::mem::take(&mut *c.context().0.lock().expect("lock"));
        if !told.is_empty() {
            let done = Poll {
                records: std::mem::take(&mut records),
                ..invoke.clone()
            };
            shared.rec.record(process, EventType::Ok, Op::Poll(done));
            for a in told {
                shared
                    .rec
                    .record(process, EventType::Info, Op::Rebalance(a));
            }
            shared
                .rec
                .record(process, EventType::Invoke, Op::Poll(invoke.clone()));
        }
        match got {
            Some(Ok(m)) => {
                let value = m
                    .payload()
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .and_then(|s| s.parse::<u64>().ok());
                if let Some(v) = value {
                    records
                        .entry(m.partition())
                        .or_default()
                        .push((m.offset(), v));
                    next.insert(m.partition(), m.offset() + 1);
                    n += 1;
                }
                wait = Duration::ZERO;
            }
            Some(Err(_)) | None => break,
        }
    }
    shared
        .rec
        .record(process, EventType::Ok, Op::Poll(Poll { records, ..invoke }));
    n
}

/// Every partition from where the log ended when the run began (earlier runs' records are not
/// this history's).
fn start_positions(shared: &Shared) -> BTreeMap<i32, i64> {
    shared.base.clone()
}

/// Whether `next` has reached every partition's high watermark.
fn caught_up(shared: &Shared, c: &Cons, next: &BTreeMap<i32, i64>) -> bool {
    (0..shared.partitions).all(|p| {
        match c.fetch_watermarks(&shared.args.topic, p, Duration::from_secs(2)) {
            Ok((_, high)) => next.get(&p).copied().unwrap_or(0) >= high,
            Err(_) => false,
        }
    })
}

fn observer(shared: &Shared, process: u64, isolation: Isolation) -> Result<(), String> {
    let mut rng = Rng(shared.args.seed ^ (process << 32) ^ 0xC0);
    let group = if shared.args.subscribe {
        format!("kafka-eos-history-{isolation:?}")
    } else {
        format!("kafka-eos-history-observer-{process}")
    };
    let mut c = consumer(shared, process, isolation, &group).map_err(|e| e.to_string())?;
    let mut next = start_positions(shared);
    let join = |c: &Cons, next: &BTreeMap<i32, i64>| {
        if shared.args.subscribe {
            subscribe(shared, c, process)
        } else {
            assign(shared, c, process, next)
        }
    };
    join(&c, &next).map_err(|e| e.to_string())?;
    let mut final_start: Option<Instant> = None;
    let mut idle_since = Instant::now();
    loop {
        if !shared.producers_done.load(Ordering::Relaxed) && rng.chance(shared.args.crash) {
            drop(c);
            crash(shared, process);
            c = consumer(shared, process, isolation, &group).map_err(|e| e.to_string())?;
            join(&c, &next).map_err(|e| e.to_string())?;
        }
        let n = poll_once(shared, &c, process, isolation, None, &mut next);
        if n > 0 {
            idle_since = Instant::now();
        }
        if shared.producers_done.load(Ordering::Relaxed) {
            let start = *final_start.get_or_insert_with(Instant::now);
            let idle = idle_since.elapsed() > Duration::from_secs(1);
            // Caught up to the high watermark; read_committed may stop short of it after
            // trailing aborted records and markers, hence also "idle for 3 s".
            // A subscribed consumer holds only some partitions: it stops when quiet.
            if (idle && !shared.args.subscribe && caught_up(shared, &c, &next))
                || idle_since.elapsed() > Duration::from_secs(3)
                || start.elapsed() > Duration::from_secs(shared.args.final_timeout)
            {
                return Ok(());
            }
        }
    }
}

// ------------------------------------------------------------------ processing

fn processor(shared: &Shared, process: u64) -> Result<(), String> {
    let mut rng = Rng(shared.args.seed ^ (process << 32) ^ 0x9E);
    let group = format!("kafka-eos-history-processor-{process}");
    let iso = Isolation::ReadCommitted;
    let mut p = producer(shared, process, true).map_err(|e| e.to_string())?;
    let mut c = consumer(shared, process, iso, &group).map_err(|e| e.to_string())?;
    // The last committed position (this process's own bookkeeping: the group's committed
    // offsets are what it sent to its committed transactions).
    let mut committed = start_positions(shared);
    let mut next = committed.clone();
    assign(shared, &c, process, &next).map_err(|e| e.to_string())?;
    let mut id = 0u64;
    let timeout = Duration::from_millis(shared.args.request_timeout_ms * 3);
    while !shared.load_over() {
        id += 1;
        let Some(mut t) = begin_or_restart(shared, &mut p, process, id)? else {
            continue;
        };
        let before = next.clone();
        let n = poll_once(shared, &c, process, iso, Some(id), &mut next);
        t.polls = Some(1);
        let (mut ok, crashed) =
            send_some(shared, &p, process, &mut rng, &mut t, n.min(3) as u64 + 1);
        if ok && !crashed {
            let so = SendOffsets {
                txn: id,
                group: group.clone(),
                offsets: next.clone(),
            };
            shared
                .rec
                .record(process, EventType::Invoke, Op::SendOffsets(so.clone()));
            let mut tpl = TopicPartitionList::new();
            for (&part, &o) in &next {
                let _ = tpl.add_partition_offset(&shared.args.topic, part, KOffset::Offset(o));
            }
            let r = match c.group_metadata() {
                Some(cgm) => p.send_offsets_to_transaction(&tpl, &cgm, timeout),
                None => Err(KafkaError::NoMessageReceived),
            };
            let kind = if r.is_ok() {
                EventType::Ok
            } else {
                EventType::Fail
            };
            ok &= r.is_ok();
            shared.rec.record(process, kind, Op::SendOffsets(so));
        }
        let commit = ok && !crashed && rng.below(4) != 0;
        let recreate = if crashed {
            crash(shared, process);
            true
        } else {
            end_txn(shared, &p, process, &t, commit)
        };
        // Only a recorded, acknowledged commit moves the committed position.
        let committed_now = !recreate && commit;
        if committed_now {
            committed = next.clone();
        } else {
            next = committed.clone();
            if before != committed || n > 0 {
                assign(shared, &c, process, &next).map_err(|e| e.to_string())?;
            }
        }
        if recreate {
            drop(p);
            drop(c);
            p = producer(shared, process, true).map_err(|e| e.to_string())?;
            c = consumer(shared, process, iso, &group).map_err(|e| e.to_string())?;
            assign(shared, &c, process, &next).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ main

/// The topic's partition count and each partition's high watermark.
fn partitions_of(args: &RunArgs) -> Result<(i32, BTreeMap<i32, i64>), String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set("log_level", "3")
        .create()
        .map_err(|e| e.to_string())?;
    let md = c
        .fetch_metadata(Some(&args.topic), Duration::from_secs(10))
        .map_err(|e| format!("metadata of {}: {e}", args.bootstrap))?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == args.topic)
        .ok_or_else(|| format!("no topic {}", args.topic))?;
    if let Some(e) = t.error() {
        return Err(format!("topic {}: {e:?}", args.topic));
    }
    let n = i32::try_from(t.partitions().len()).unwrap_or(0);
    if n == 0 {
        return Err(format!("topic {} has no partitions", args.topic));
    }
    let mut base = BTreeMap::new();
    for p in 0..n {
        let (_, high) = c
            .fetch_watermarks(&args.topic, p, Duration::from_secs(10))
            .map_err(|e| format!("the end of partition {p}: {e}"))?;
        base.insert(p, high);
    }
    Ok((n, base))
}

fn run(args: RunArgs) -> Result<String, String> {
    if !(0.0..1.0).contains(&args.crash) {
        return Err(format!(
            "--crash needs a probability in [0, 1), got {}",
            args.crash
        ));
    }
    let (partitions, base) = partitions_of(&args)?;
    let file = File::create(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let shared = Arc::new(Shared {
        rec: Recorder {
            out: Mutex::new(BufWriter::new(file)),
            start: Instant::now(),
            events: AtomicU64::new(0),
            sends: AtomicU64::new(0),
            values: AtomicU64::new(0),
        },
        partitions,
        base,
        stop: AtomicBool::new(false),
        producers_done: AtomicBool::new(false),
        args: args.clone(),
    });
    let mut producers = Vec::new();
    for i in 0..args.producers {
        let s = Arc::clone(&shared);
        producers.push(thread::spawn(move || match s.args.workload {
            Workload::Queue => queue_producer(&s, i),
            Workload::Txn => txn_producer(&s, i),
            Workload::Processor => processor(&s, i),
        }));
    }
    let mut consumers = Vec::new();
    for j in 0..args.consumers {
        let s = Arc::clone(&shared);
        let process = args.producers + j;
        let iso = if j % 2 == 0 {
            Isolation::ReadCommitted
        } else {
            Isolation::ReadUncommitted
        };
        consumers.push(thread::spawn(move || observer(&s, process, iso)));
    }
    let tty = std::io::stderr().is_terminal();
    let total = Duration::from_secs(args.duration);
    let start = Instant::now();
    while start.elapsed() < total && !shared.load_over() {
        thread::sleep(Duration::from_millis(200));
        if tty {
            let done = start.elapsed().as_secs_f64() / total.as_secs_f64().max(1e-9);
            let filled = ((done.min(1.0)) * 30.0) as usize;
            eprint!(
                "\r[{}{}] {:>5.1}s  {} sends, {} events ",
                "#".repeat(filled),
                " ".repeat(30 - filled),
                start.elapsed().as_secs_f64(),
                shared.rec.sends.load(Ordering::Relaxed),
                shared.rec.events.load(Ordering::Relaxed)
            );
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    let mut errors = Vec::new();
    for h in producers {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push("a producer thread panicked".into()),
        }
    }
    shared.producers_done.store(true, Ordering::Relaxed);
    if tty {
        eprint!("\rfinal reads...{:60}", "");
    }
    for h in consumers {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push("a consumer thread panicked".into()),
        }
    }
    if tty {
        eprintln!();
    }
    shared
        .rec
        .out
        .lock()
        .expect("the recorder's lock")
        .flush()
        .map_err(|e| e.to_string())?;
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(format!(
        "{} events ({} sends) in {:.1}s written to {}",
        shared.rec.events.load(Ordering::Relaxed),
        shared.rec.sends.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
        args.out.display()
    ))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => match run(args) {
            Ok(summary) => {
                println!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kafka-eos-history run: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
