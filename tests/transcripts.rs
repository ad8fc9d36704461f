//! Transcripts: scripted runs across the three roles (producer client, partition leaders,
//! transaction coordinator), wired by a tiny in-memory "cluster" that only routes messages.
//! Every line of a transcript is one step: what was delivered (or lost) and what the receiving
//! role answered. The transcripts are insta snapshots in `snapshots/transcripts/`: a reviewed
//! snapshot is an assertion about the whole run, and each test also asserts its key facts.
//!
//! The cluster makes no protocol decision: it calls the core and forwards the core's outputs,
//! exactly as an adapter must.

use std::collections::BTreeMap;

use kafka_eos::coordinator::{
    CoordinatorConfig, CoordinatorOutput, TransactionCoordinator, WriteTxnMarker,
};
use kafka_eos::messages::ProduceRequest;
use kafka_eos::partition::{
    consumer_records, produce_response, BatchContent, IsolationLevel, PartitionConfig,
    PartitionLeader, ProduceResult, ProduceStep,
};
use kafka_eos::producer::{
    ErrorClass, Producer, ProducerConfig, ProducerEvent, ProducerOutput, Request, RequestId,
    Response,
};
use kafka_eos::{ErrorCode, TopicPartition, TransactionVersion};

type Payload = &'static str;

struct Cluster {
    now: i64,
    producers: Vec<Producer<Payload>>,
    partitions: BTreeMap<TopicPartition, PartitionLeader<Payload>>,
    coordinator: TransactionCoordinator,
    /// Requests sent by producers and not yet delivered, by (producer index, request id).
    requests: BTreeMap<(usize, RequestId), Request<Payload>>,
    /// Responses on their way back to producers.
    responses: BTreeMap<(usize, RequestId), Response>,
    /// Markers sent by the coordinator and not yet delivered.
    markers: Vec<WriteTxnMarker>,
    lines: Vec<String>,
}

fn tp(s: &str) -> TopicPartition {
    s.parse().unwrap()
}

fn render_request(r: &Request<Payload>) -> String {
    match r {
        Request::InitProducerId { request: r, .. } => format!(
            "InitProducerId tid={} expected=({},{})",
            r.transactional_id.as_deref().unwrap_or("-"),
            r.producer_id,
            r.producer_epoch
        ),
        Request::AddPartitionsToTxn { request: r, .. } => {
            let ps: Vec<String> = r.partitions.iter().map(ToString::to_string).collect();
            format!(
                "AddPartitionsToTxn tid={} pid={} epoch={} [{}]",
                r.transactional_id,
                r.producer_id,
                r.producer_epoch,
                ps.join(", ")
            )
        }
        Request::Produce { request: r, .. } => format!(
            "Produce {} pid={} epoch={} seq={}..{}{} {:?}",
            r.partition,
            r.producer_id,
            r.producer_epoch,
            r.base_sequence,
            r.base_sequence + r.record_count - 1,
            if r.is_transactional { " txn" } else { "" },
            r.payload
        ),
        Request::EndTxn { request: r, .. } => format!(
            "EndTxn tid={} pid={} epoch={} {}",
            r.transactional_id,
            r.producer_id,
            r.producer_epoch,
            r.result.to_string().to_uppercase()
        ),
        Request::AddOffsetsToTxn { request: r, .. } => format!(
            "AddOffsetsToTxn tid={} pid={} epoch={} group={}",
            r.transactional_id, r.producer_id, r.producer_epoch, r.group_id
        ),
        Request::TxnOffsetCommit { request: r, .. } => format!(
            "TxnOffsetCommit tid={} pid={} epoch={} group={} {:?}",
            r.transactional_id, r.producer_id, r.producer_epoch, r.group_id, r.offsets
        ),
    }
}

fn render_response(r: &Response) -> String {
    fn err(e: &ErrorCode) -> String {
        format!("error {}", e.name())
    }
    match r {
        Response::InitProducerId(Ok(pe)) => format!(
            "InitProducerId ok pid={} epoch={}",
            pe.producer_id, pe.producer_epoch
        ),
        Response::InitProducerId(Err(e)) => format!("InitProducerId {}", err(e)),
        Response::AddPartitionsToTxn(Ok(())) => "AddPartitionsToTxn ok".into(),
        Response::AddPartitionsToTxn(Err(e)) => format!("AddPartitionsToTxn {}", err(e)),
        Response::Produce(Ok(o)) => format!("Produce ok base_offset={o}"),
        Response::Produce(Err(e)) => format!("Produce {}", err(e)),
        Response::EndTxn(Ok(Some(pe))) => format!(
            "EndTxn ok pid={} epoch={}",
            pe.producer_id, pe.producer_epoch
        ),
        Response::EndTxn(Ok(None)) => "EndTxn ok".into(),
        Response::EndTxn(Err(e)) => format!("EndTxn {}", err(e)),
        Response::AddOffsetsToTxn(Ok(())) => "AddOffsetsToTxn ok".into(),
        Response::AddOffsetsToTxn(Err(e)) => format!("AddOffsetsToTxn {}", err(e)),
        Response::TxnOffsetCommit(r) => format!("TxnOffsetCommit {:?}", r.partitions),
    }
}

fn render_event(e: &ProducerEvent) -> String {
    match e {
        ProducerEvent::Initialized {
            producer_id,
            producer_epoch,
        } => format!("app learns: initialized pid={producer_id} epoch={producer_epoch}"),
        ProducerEvent::EpochBumped {
            producer_id,
            producer_epoch,
        } => format!("app learns: epoch bumped pid={producer_id} epoch={producer_epoch}"),
        ProducerEvent::SendAcknowledged {
            batch,
            partition,
            base_offset,
        } => match base_offset {
            Some(o) => format!("app learns: batch {batch} acked at {partition}@{o}"),
            None => format!("app learns: batch {batch} acked at {partition} (no offset)"),
        },
        ProducerEvent::SendFailed {
            batch,
            partition,
            error,
        } => format!("app learns: batch {batch} to {partition} failed: {error:?}"),
        ProducerEvent::TransactionCommitted => "app learns: transaction committed".into(),
        ProducerEvent::TransactionAborted => "app learns: transaction aborted".into(),
        ProducerEvent::Error(e) => format!("app learns: error {}", e.name()),
        ProducerEvent::OffsetsSent { group_id, offsets } => {
            format!("app learns: offsets sent for {group_id}: {offsets:?}")
        }
        ProducerEvent::OffsetsFailed { group_id, error } => {
            format!("app learns: offsets for {group_id} failed: {error:?}")
        }
    }
}

impl Cluster {
    fn new(tv: TransactionVersion, producers: Vec<ProducerConfig>, partitions: &[&str]) -> Self {
        let coordinator = TransactionCoordinator::new(
            CoordinatorConfig {
                transaction_version: tv,
                ..CoordinatorConfig::default()
            },
            1000,
            0,
        )
        .unwrap();
        Cluster {
            now: 0,
            producers: producers
                .into_iter()
                .map(|c| Producer::new(c).unwrap())
                .collect(),
            partitions: partitions
                .iter()
                .map(|p| (tp(p), PartitionLeader::new(PartitionConfig::default())))
                .collect(),
            coordinator,
            requests: BTreeMap::new(),
            responses: BTreeMap::new(),
            markers: Vec::new(),
            lines: Vec::new(),
        }
    }

    fn line(&mut self, s: String) {
        self.lines.push(format!("{:>2}. {s}", self.lines.len() + 1));
    }

    /// Records a producer's output: its new requests go on the wire.
    fn producer_output(&mut self, p: usize, out: ProducerOutput<Payload>) -> String {
        let mut parts = Vec::new();
        for (from, to) in &out.transitions {
            parts.push(format!("{} -> {}", from.name(), to.name()));
        }
        for e in &out.events {
            parts.push(render_event(e));
        }
        for r in out.sends {
            parts.push(format!("sends #{} {}", r.id(), render_request(&r)));
            self.requests.insert((p, r.id()), r);
        }
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join("; ")
        }
    }

    fn app(&mut self, p: usize, call: &str, partition: Option<&str>, payload: Payload) {
        let now = self.now;
        let prod = &mut self.producers[p];
        let result = match call {
            "init" => prod.init(now),
            "begin" => prod.begin(now),
            "send" => prod.send(tp(partition.unwrap()), 1, payload, now),
            "commit" => prod.commit(now),
            "abort" => prod.abort(now),
            other => panic!("unknown call {other}"),
        };
        let what = match partition {
            Some(part) => format!("{call}({part}, {payload:?})"),
            None => format!("{call}()"),
        };
        let text = match result {
            Ok(out) => self.producer_output(p, out),
            Err(e) => format!("refused: {e}"),
        };
        self.line(format!("app -> producer-{}: {what} => {text}", p + 1));
    }

    /// Delivers producer `p`'s request `id` to its broker role and queues the response.
    fn deliver(&mut self, p: usize, id: RequestId) {
        let req = self.requests.remove(&(p, id)).expect("request in flight");
        let now = self.now;
        let (dest, response) = match &req {
            Request::InitProducerId { request, .. } => {
                let (res, outputs) = self.coordinator.handle_init_producer_id(request, now);
                self.coordinator_outputs(outputs);
                ("coordinator".to_string(), Response::InitProducerId(res))
            }
            Request::AddPartitionsToTxn { request, .. } => {
                let (res, outputs) = self.coordinator.handle_add_partitions_to_txn(request, now);
                self.coordinator_outputs(outputs);
                ("coordinator".to_string(), Response::AddPartitionsToTxn(res))
            }
            Request::EndTxn { request, .. } => {
                let (res, outputs) = self.coordinator.handle_end_txn(request, now);
                self.coordinator_outputs(outputs);
                ("coordinator".to_string(), Response::EndTxn(res))
            }
            Request::AddOffsetsToTxn { request, .. } => {
                let (res, outputs) = self.coordinator.handle_add_offsets_to_txn(request, now);
                self.coordinator_outputs(outputs);
                ("coordinator".to_string(), Response::AddOffsetsToTxn(res))
            }
            Request::TxnOffsetCommit { .. } => unreachable!("no transcript sends offsets"),
            Request::Produce { request, .. } => {
                let res = self.produce(request.clone());
                (
                    request.partition.to_string(),
                    Response::Produce(produce_response(&res)),
                )
            }
        };
        self.line(format!(
            "producer-{} -> {dest}: #{id} {} => {}",
            p + 1,
            render_request(&req),
            render_response(&response)
        ));
        self.responses.insert((p, id), response);
    }

    /// A partition leader's Produce: the core appends at once or hands back the KIP-890
    /// verification request (the TV2 implicit add, or verify-only below Produce v12), which goes
    /// to the coordinator; its answer goes back to the leader with the held produce.
    fn produce(&mut self, request: ProduceRequest<Payload>) -> ProduceResult {
        let now = self.now;
        let partition = request.partition.clone();
        let leader = self
            .partitions
            .get_mut(&partition)
            .expect("known partition");
        match leader.handle_produce(request, now) {
            ProduceStep::Answered(result) => result,
            ProduceStep::Verify { request, pending } => {
                let (answer, outputs) =
                    self.coordinator.handle_add_partitions_to_txn(&request, now);
                self.coordinator_outputs(outputs);
                let leader = self
                    .partitions
                    .get_mut(&partition)
                    .expect("known partition");
                leader.handle_verification_response(pending, answer, now)
            }
        }
    }

    fn coordinator_outputs(&mut self, outputs: Vec<CoordinatorOutput>) {
        for o in outputs {
            if let CoordinatorOutput::WriteTxnMarker(m) = o {
                self.markers.push(m);
            }
        }
    }

    /// Loses the response to producer `p`'s request `id` on its way back.
    fn lose_response(&mut self, p: usize, id: RequestId) {
        let r = self.responses.remove(&(p, id)).expect("response in flight");
        self.line(format!(
            "network loses the response to producer-{} #{id}: {}",
            p + 1,
            render_response(&r)
        ));
    }

    fn respond(&mut self, p: usize, id: RequestId) {
        let r = self.responses.remove(&(p, id)).expect("response in flight");
        let now = self.now;
        let out = self.producers[p]
            .handle_response(id, r.clone(), now)
            .expect("response to an outstanding request");
        let text = self.producer_output(p, out);
        self.line(format!(
            "-> producer-{}: #{id} {} => {text}",
            p + 1,
            render_response(&r)
        ));
    }

    fn request_timeout(&mut self, p: usize, id: RequestId) {
        let now = self.now;
        let out = self.producers[p]
            .handle_request_timeout(id, now)
            .expect("outstanding request");
        let text = self.producer_output(p, out);
        self.line(format!(
            "producer-{}: request #{id} timed out => {text}",
            p + 1
        ));
    }

    /// Delivers every in-flight request and response, oldest first, until nothing moves.
    /// Markers go first: a client retrying CONCURRENT_TRANSACTIONS without backoff must not starve
    /// the completion it waits for.
    fn settle(&mut self) {
        for _ in 0..1000 {
            if !self.markers.is_empty() {
                self.write_markers();
            } else if let Some(&(p, id)) = self.requests.keys().next() {
                self.deliver(p, id);
            } else if let Some(&(p, id)) = self.responses.keys().next() {
                self.respond(p, id);
            } else {
                return;
            }
        }
        panic!("the cluster did not settle:\n{}", self.lines.join("\n"));
    }

    /// Delivers every pending WriteTxnMarkers entry to its partition and the answers back to the
    /// coordinator.
    fn write_markers(&mut self) {
        let now = self.now;
        for m in std::mem::take(&mut self.markers) {
            let leader = self
                .partitions
                .get_mut(&m.partition)
                .expect("known partition");
            let answer = leader.handle_write_txn_marker(&m, now);
            // An accepted marker takes one offset: the last one.
            let outcome = match answer.error {
                None => format!("written at offset {}", leader.log_end_offset() - 1),
                Some(e) => format!("error {}", e.name()),
            };
            self.line(format!(
                "coordinator -> {}: WriteTxnMarker pid={} epoch={} coordinator_epoch={} {} => {}",
                m.partition,
                m.producer_id,
                m.producer_epoch,
                m.coordinator_epoch,
                m.result.to_string().to_uppercase(),
                outcome
            ));
            let outputs = self
                .coordinator
                .handle_write_txn_markers_response(&answer)
                .expect("marker answer of a known class");
            self.coordinator_outputs(outputs);
        }
    }

    fn abort_timed_out(&mut self, advance_ms: i64) {
        self.now += advance_ms;
        let (aborted, outputs) = self.coordinator.abort_timed_out_transactions(self.now);
        self.coordinator_outputs(outputs);
        self.line(format!(
            "clock +{advance_ms} ms; coordinator aborts timed-out transactions: {aborted:?}"
        ));
    }

    /// The closing summary: each partition's log, LSO/HW and what a read_committed consumer
    /// delivers; the coordinator's metadata; each producer's state.
    fn finish(mut self) -> (String, Self) {
        let mut out = std::mem::take(&mut self.lines);
        out.push(String::new());
        for (p, leader) in &self.partitions {
            out.push(format!(
                "{p}: high_watermark={} last_stable_offset={}",
                leader.high_watermark(),
                leader.last_stable_offset()
            ));
            for b in leader.log() {
                let what = match &b.content {
                    BatchContent::Data(payload) => format!(
                        "data seq={}{} {payload:?}",
                        b.base_sequence,
                        if b.is_transactional { " txn" } else { "" }
                    ),
                    BatchContent::Control { result, .. } => {
                        format!("{} marker", result.to_string().to_uppercase())
                    }
                };
                out.push(format!(
                    "  offset {} pid={} epoch={} {what}",
                    b.base_offset, b.producer_id, b.producer_epoch
                ));
            }
            let fetch = leader.fetch(0, IsolationLevel::ReadCommitted).unwrap();
            let read: Vec<String> = consumer_records(&fetch, IsolationLevel::ReadCommitted, 0)
                .map(|r| format!("{}@{}", r.payload, r.offset))
                .collect();
            out.push(format!("  read_committed delivers [{}]", read.join(", ")));
        }
        for (tid, m) in self.coordinator.transactions() {
            out.push(format!(
                "coordinator {tid}: {} pid={} epoch={} partitions={:?}",
                m.state.name(),
                m.producer_id,
                m.producer_epoch,
                m.partitions
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            ));
        }
        for (i, p) in self.producers.iter().enumerate() {
            out.push(format!(
                "producer-{}: {} pid={} epoch={}",
                i + 1,
                p.state().name(),
                p.producer_id(),
                p.producer_epoch()
            ));
        }
        (out.join("\n") + "\n", self)
    }

    fn read_committed(&self, partition: &str) -> Vec<Payload> {
        let leader = &self.partitions[&tp(partition)];
        let fetch = leader.fetch(0, IsolationLevel::ReadCommitted).unwrap();
        consumer_records(&fetch, IsolationLevel::ReadCommitted, 0)
            .map(|r| *r.payload)
            .collect()
    }
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => "../snapshots/transcripts",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

fn transactional(tid: &str, tv: TransactionVersion) -> ProducerConfig {
    ProducerConfig {
        transactional_id: Some(tid.to_string()),
        transaction_version: tv,
        ..ProducerConfig::default()
    }
}

/// An idempotent producer's response is lost; the request times out and is retried with the
/// same sequence; the leader answers the retry as a duplicate with the original offset
/// (UnifiedLogTest.testDuplicateAppends).
#[test]
fn idempotent_produce_with_lost_response_is_deduplicated() {
    let mut c = Cluster::new(
        TransactionVersion::Tv2,
        vec![ProducerConfig::default()],
        &["topic-0"],
    );
    c.app(0, "init", None, "");
    c.settle();
    c.app(0, "send", Some("topic-0"), "a");
    let first = *c.requests.keys().next().unwrap();
    c.deliver(first.0, first.1);
    c.lose_response(first.0, first.1);
    c.request_timeout(first.0, first.1);
    c.settle();
    c.app(0, "send", Some("topic-0"), "b");
    c.settle();
    let (text, c) = c.finish();
    snapshot("idempotent_lost_response_retry", &text);
    let log = c.partitions[&tp("topic-0")].log();
    assert_eq!(log.len(), 2, "the retry appended nothing");
    assert_eq!(c.read_committed("topic-0"), vec!["a", "b"]);
}

/// A TV1 transaction adds two partitions, writes to both and commits: both partitions get a
/// COMMIT marker and read_committed delivers every record once (E23b, D20a, B05).
#[test]
fn transaction_committed_across_two_partitions() {
    let tv = TransactionVersion::Tv1;
    let mut c = Cluster::new(tv, vec![transactional("t1", tv)], &["topic-0", "topic-1"]);
    c.app(0, "init", None, "");
    c.settle();
    c.app(0, "begin", None, "");
    c.app(0, "send", Some("topic-0"), "a");
    c.app(0, "send", Some("topic-1"), "b");
    c.settle();
    c.app(0, "commit", None, "");
    c.settle();
    let (text, c) = c.finish();
    snapshot("transaction_commit_two_partitions", &text);
    assert_eq!(c.read_committed("topic-0"), vec!["a"]);
    assert_eq!(c.read_committed("topic-1"), vec!["b"]);
    for p in ["topic-0", "topic-1"] {
        let leader = &c.partitions[&tp(p)];
        assert_eq!(leader.last_stable_offset(), leader.high_watermark());
    }
}

/// A second instance with the same transactional id initialises while the first is
/// mid-transaction: the coordinator fences (aborts with an epoch bump, answers
/// CONCURRENT_TRANSACTIONS), the retry bumps again, and the zombie's next write and its commit are
/// rejected (TransactionCoordinatorTest
/// shouldAbortTransactionOnHandleInitPidWhenExistingTransactionInOngoingState).
#[test]
fn zombie_producer_fenced_by_second_init() {
    let tv = TransactionVersion::Tv2;
    let mut c = Cluster::new(
        tv,
        vec![transactional("t1", tv), transactional("t1", tv)],
        &["topic-0"],
    );
    c.app(0, "init", None, "");
    c.settle();
    c.app(0, "begin", None, "");
    c.app(0, "send", Some("topic-0"), "zombie-1");
    c.settle();
    // The second instance starts: its InitProducerId fences the open transaction.
    c.app(1, "init", None, "");
    c.settle();
    // The zombie carries on at its old epoch.
    c.app(0, "send", Some("topic-0"), "zombie-2");
    c.settle();
    c.app(0, "commit", None, "");
    c.settle();
    c.app(1, "begin", None, "");
    c.app(1, "send", Some("topic-0"), "new-1");
    c.settle();
    c.app(1, "commit", None, "");
    c.settle();
    let (text, c) = c.finish();
    snapshot("zombie_fenced_by_second_init", &text);
    assert_eq!(c.read_committed("topic-0"), vec!["new-1"]);
    assert!(
        c.producers[0].error_class().is_some(),
        "the zombie is in an error state"
    );
}

/// TV2: EndTxn(COMMIT) bumps the epoch; the markers carry the bumped epoch; the producer adopts
/// it and the next transaction's first batch starts at sequence 0 of the new epoch (D21a, E23a,
/// B13).
#[test]
fn tv2_commit_bumps_epoch() {
    let tv = TransactionVersion::Tv2;
    let mut c = Cluster::new(tv, vec![transactional("t1", tv)], &["topic-0"]);
    c.app(0, "init", None, "");
    c.settle();
    c.app(0, "begin", None, "");
    c.app(0, "send", Some("topic-0"), "a");
    c.settle();
    c.app(0, "commit", None, "");
    c.settle();
    c.app(0, "begin", None, "");
    c.app(0, "send", Some("topic-0"), "b");
    c.settle();
    c.app(0, "commit", None, "");
    c.settle();
    let (text, c) = c.finish();
    snapshot("tv2_commit_epoch_bump", &text);
    assert_eq!(c.producers[0].producer_epoch(), 2);
    let log = c.partitions[&tp("topic-0")].log();
    let epochs: Vec<(i16, i32)> = log
        .iter()
        .map(|b| (b.producer_epoch, b.base_sequence))
        .collect();
    assert_eq!(epochs, vec![(0, 0), (1, -1), (1, 0), (2, -1)]);
    assert_eq!(c.read_committed("topic-0"), vec!["a", "b"]);
}

/// A producer that goes silent mid-transaction: the coordinator's timeout aborts the
/// transaction with an epoch bump, the partition gets an ABORT marker and the LSO moves past the
/// open transaction. The producer's late TV2 commit at the old epoch looks like a retry of an
/// epoch-bumped EndTxn, and a COMMIT retry on CompleteAbort is INVALID_TXN_STATE, fatal for the
/// client (vector D25a; `abortTimedOutTransactions`, TV2 `endTransaction`, `EndTxnHandler`; the
/// [2026] KAFKA-20785 answer PRODUCER_FENCED is not assumed).
#[test]
fn timed_out_transaction_is_aborted() {
    let tv = TransactionVersion::Tv2;
    let mut c = Cluster::new(tv, vec![transactional("t1", tv)], &["topic-0"]);
    c.app(0, "init", None, "");
    c.settle();
    c.app(0, "begin", None, "");
    c.app(0, "send", Some("topic-0"), "a");
    c.settle();
    let lso_before = c.partitions[&tp("topic-0")].last_stable_offset();
    c.abort_timed_out(60_000);
    c.abort_timed_out(1);
    c.settle();
    c.app(0, "commit", None, "");
    c.settle();
    let (text, c) = c.finish();
    snapshot("timed_out_transaction_aborted", &text);
    assert_eq!(lso_before, 0, "the open transaction held the LSO");
    let leader = &c.partitions[&tp("topic-0")];
    assert_eq!(leader.last_stable_offset(), leader.high_watermark());
    assert!(c.read_committed("topic-0").is_empty());
    assert_eq!(c.producers[0].error_class(), Some(ErrorClass::Fatal));
    let outcome = leader.log().last().map(|b| b.content.clone());
    assert!(matches!(
        outcome,
        Some(BatchContent::Control {
            result: kafka_eos::TransactionResult::Abort,
            ..
        })
    ));
}
