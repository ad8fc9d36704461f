//! Prometheus metrics on `--metrics-addr`: what an operator of an exactly-once cluster watches
//! (duplicates suppressed, sequence and fencing rejections, epoch bumps, sequence resets,
//! transaction outcomes, the oldest open transaction, LSO lag). See docs/broker.md, "Metrics".
//!
//! One source of truth: the counters are [`Stats`] (also written by `--stats-file`), counted from
//! the core's outputs and answers only — an appended or duplicate [`AppendOutcome`], an
//! [`ErrorCode`] answer, a `__transaction_state` record the coordinator emitted (its epoch
//! change classified by the core's [`ProducerChange`], its outcome by
//! [`TransactionLogValue::completed`]), a new epoch at a partition
//! ([`ProducerStateEntry::resets_sequence_at`]). The gauges are read at scrape time from the
//! core's state (`TransactionCoordinator::open_transactions` and `oldest_open_transaction`, each
//! leader's high watermark and last stable offset). Nothing here decides anything.
//!
//! The text is rendered by `prometheus-client` (Prometheus text format 0.0.4) from a
//! [`Snapshot`] taken under the broker's lock, and served by a `tiny_http` thread.
//!
//! [`AppendOutcome`]: kafka_eos::partition::AppendOutcome
//! [`ProducerStateEntry::resets_sequence_at`]: kafka_eos::partition::ProducerStateEntry::resets_sequence_at

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use kafka_eos::coordinator::{ProducerChange, TransactionCoordinator, TransactionLogValue};
use kafka_eos::error::ErrorCode;
use kafka_eos::types::{ProducerEpoch, ProducerId, TimestampMs, TransactionResult};
use kafka_protocol::messages::ApiKey;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::TypedMetric;
use prometheus_client::registry::Registry;

use crate::broker::{Broker, Stats};

/// The `Content-Type` of `/metrics` (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The exactly-once counters of [`Stats`] (their own struct so that the broker's edits stay
/// small). Every one is counted from a core output or answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EosCounters {
    /// Requests received, by API key (Fetch included; Kafka's
    /// `RequestMetrics.RequestsPerSec{request}`).
    pub requests_by_api: BTreeMap<i16, u64>,
    /// Error answers of the transactional coordinator APIs (InitProducerId, AddPartitionsToTxn,
    /// AddOffsetsToTxn, EndTxn, and a TxnOffsetCommit's failed verification), by
    /// `(api key, error code)`; Produce's are [`Stats::produce_errors`].
    pub txn_request_errors: BTreeMap<(i16, i16), u64>,
    /// `__transaction_state` records that raised a transactional id's producer epoch
    /// ([`ProducerChange::EpochBumped`]).
    pub epoch_bumps: u64,
    /// `__transaction_state` records that gave a transactional id a producer id it did not have
    /// ([`ProducerChange::NewProducerId`]: its first InitProducerId, or a rotation).
    pub producer_ids_allocated: u64,
    /// Data batches appended at a new epoch of a producer the partition knew: its sequence
    /// started over at 0.
    pub sequence_resets_epoch: u64,
    /// Transactions completed with a commit (a CompleteCommit record).
    pub transactions_committed: u64,
    /// Transactions completed with an abort (a CompleteAbort record), timeouts included.
    pub transactions_aborted: u64,
    /// The producer id and epoch of each transactional id's last record.
    last_producer: BTreeMap<String, (ProducerId, ProducerEpoch)>,
}

impl EosCounters {
    /// A request of `api` arrived.
    pub fn request(&mut self, api: ApiKey) {
        *self.requests_by_api.entry(api as i16).or_insert(0) += 1;
    }

    /// The coordinator answered a request of `api` with `code` (0: success, not counted).
    pub fn answered(&mut self, api: ApiKey, code: i16) {
        if code != 0 {
            *self
                .txn_request_errors
                .entry((api as i16, code))
                .or_insert(0) += 1;
        }
    }

    /// Takes each transactional id's current producer id and epoch from `coordinator`, so that
    /// the next record of an id loaded from `__transaction_state` (a restart) is classified
    /// against its loaded state rather than counted as a new producer id. Call it after the
    /// coordinator is loaded.
    pub fn seed(&mut self, coordinator: &TransactionCoordinator) {
        self.last_producer = coordinator
            .transactions()
            .iter()
            .map(|(id, m)| (id.clone(), (m.producer_id, m.producer_epoch)))
            .collect();
    }

    /// The coordinator appended `value` (`None`: a tombstone) for `transactional_id` to
    /// `__transaction_state`.
    pub fn transaction_log(&mut self, transactional_id: &str, value: Option<&TransactionLogValue>) {
        let Some(value) = value else {
            self.last_producer.remove(transactional_id);
            return;
        };
        let after = (value.producer_id, value.producer_epoch);
        let before = self
            .last_producer
            .insert(transactional_id.to_string(), after);
        match ProducerChange::between(before, after) {
            ProducerChange::EpochBumped => self.epoch_bumps += 1,
            ProducerChange::NewProducerId => self.producer_ids_allocated += 1,
            ProducerChange::Unchanged => {}
        }
        match value.completed() {
            Some(TransactionResult::Commit) => self.transactions_committed += 1,
            Some(TransactionResult::Abort) => self.transactions_aborted += 1,
            None => {}
        }
    }

    /// The counters as a JSON object (part of `--stats-file`).
    pub fn to_json(&self) -> String {
        let by_api: Vec<String> = self
            .requests_by_api
            .iter()
            .map(|(k, v)| format!("\"{}\":{v}", api_name(*k)))
            .collect();
        let errors: Vec<String> = self
            .txn_request_errors
            .iter()
            .map(|((api, code), v)| format!("\"{}/{}\":{v}", api_name(*api), error_name(*code)))
            .collect();
        format!(
            "{{\"requests_by_api\":{{{}}},\"txn_request_errors\":{{{}}},\"epoch_bumps\":{},\"producer_ids_allocated\":{},\"sequence_resets_epoch\":{},\"transactions_committed\":{},\"transactions_aborted\":{}}}",
            by_api.join(","),
            errors.join(","),
            self.epoch_bumps,
            self.producer_ids_allocated,
            self.sequence_resets_epoch,
            self.transactions_committed,
            self.transactions_aborted
        )
    }
}

/// Open and accepted client connections (the server counts them; the core knows nothing of
/// connections).
#[derive(Debug, Default)]
pub struct Connections {
    open: AtomicU64,
    accepted: AtomicU64,
}

impl Connections {
    /// A connection was accepted: counted as open until the returned guard drops.
    pub fn opened(&self) -> ConnectionGuard<'_> {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self)
    }

    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections accepted since start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

/// Counts one connection as open while it lives.
#[derive(Debug)]
pub struct ConnectionGuard<'a>(&'a Connections);

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One partition's offsets at scrape time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionGauges {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The high watermark.
    pub high_watermark: i64,
    /// The last stable offset.
    pub last_stable_offset: i64,
}

/// Everything `/metrics` shows, read at once under the broker's lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The counters.
    pub stats: Stats,
    /// `now − txn_start_timestamp` of the oldest open transaction, if one is open.
    pub oldest_open_transaction_age_ms: Option<i64>,
    /// Transactions open (Ongoing, PrepareCommit, PrepareAbort).
    pub open_transactions: u64,
    /// Every client partition.
    pub partitions: Vec<PartitionGauges>,
    /// Client connections open.
    pub connections_open: u64,
    /// Client connections accepted since start.
    pub connections_accepted: u64,
}

/// Reads the snapshot from `broker` at `now`.
pub fn snapshot(broker: &Broker, now: TimestampMs, connections: &Connections) -> Snapshot {
    let coordinator = broker.coordinator();
    let open_transactions = coordinator.open_transactions().count() as u64;
    Snapshot {
        stats: broker.stats().clone(),
        oldest_open_transaction_age_ms: coordinator
            .oldest_open_transaction()
            .map(|(_, start)| now.saturating_sub(start).max(0)),
        open_transactions,
        partitions: broker
            .partitions()
            .map(|(tp, leader)| PartitionGauges {
                topic: tp.topic.to_string(),
                partition: tp.partition,
                high_watermark: leader.high_watermark(),
                last_stable_offset: leader.last_stable_offset(),
            })
            .collect(),
        connections_open: connections.open(),
        connections_accepted: connections.accepted(),
    }
}

/// Kafka's name of an API key (`ApiKeys.name`), or the number.
fn api_name(key: i16) -> String {
    ApiKey::try_from(key).map_or_else(|_| key.to_string(), |k| format!("{k:?}"))
}

/// Kafka's name of an error code (`Errors.name()`), or the number.
fn error_name(code: i16) -> String {
    ErrorCode::from_code(code).map_or_else(|| code.to_string(), |e| e.name().to_string())
}

/// Whether an error code fences a producer (`PRODUCER_FENCED`, `INVALID_PRODUCER_EPOCH`).
fn is_fencing(code: i16) -> bool {
    code == ErrorCode::ProducerFenced.code() || code == ErrorCode::InvalidProducerEpoch.code()
}

type Labels = Vec<(&'static str, String)>;

/// One metric family: its descriptor, then each labelled series.
fn family<M: EncodeMetric + TypedMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(Labels, M)],
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, M::TYPE)?;
    for (labels, value) in series {
        value.encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(Labels, u64)],
) -> Result<(), std::fmt::Error> {
    let series: Vec<(Labels, ConstCounter<u64>)> = series
        .iter()
        .map(|(l, v)| (l.clone(), ConstCounter::new(*v)))
        .collect();
    family(encoder, name, help, &series)
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(Labels, i64)],
) -> Result<(), std::fmt::Error> {
    let series: Vec<(Labels, ConstGauge<i64>)> = series
        .iter()
        .map(|(l, v)| (l.clone(), ConstGauge::new(*v)))
        .collect();
    family(encoder, name, help, &series)
}

fn one(value: u64) -> Vec<(Labels, u64)> {
    vec![(Vec::new(), value)]
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.stats;
        let eos = &s.eos;
        let produce_error =
            |code: ErrorCode| s.produce_errors.get(&code.code()).copied().unwrap_or(0);
        let by_api: Vec<(Labels, u64)> = eos
            .requests_by_api
            .iter()
            .map(|(k, v)| (vec![("api", api_name(*k))], *v))
            .collect();
        counter(&mut e, "requests", "Requests received, by API.", &by_api)?;
        let produce_errors: Vec<(Labels, u64)> = s
            .produce_errors
            .iter()
            .map(|(c, v)| (vec![("error", error_name(*c))], *v))
            .collect();
        counter(
            &mut e,
            "produce_errors",
            "Produce partitions answered with an error, by error.",
            &produce_errors,
        )?;
        let txn_errors: Vec<(Labels, u64)> = eos
            .txn_request_errors
            .iter()
            .map(|((a, c), v)| (vec![("api", api_name(*a)), ("error", error_name(*c))], *v))
            .collect();
        counter(
            &mut e,
            "txn_request_errors",
            "Transactional coordinator requests answered with an error, by API and error.",
            &txn_errors,
        )?;
        counter(
            &mut e,
            "batches_appended",
            "Data batches appended.",
            &one(s.batches_appended),
        )?;
        counter(
            &mut e,
            "duplicates_suppressed",
            "Produce batches recognised as exact retries and answered with the original offsets.",
            &one(s.duplicates_suppressed),
        )?;
        counter(
            &mut e,
            "out_of_order_sequence",
            "Produce batches rejected with OUT_OF_ORDER_SEQUENCE_NUMBER.",
            &one(produce_error(ErrorCode::OutOfOrderSequenceNumber)),
        )?;
        let mut fenced: Vec<(Labels, u64)> = s
            .produce_errors
            .iter()
            .filter(|(c, _)| is_fencing(**c))
            .map(|(c, v)| {
                (
                    vec![("api", "Produce".to_string()), ("error", error_name(*c))],
                    *v,
                )
            })
            .collect();
        fenced.extend(
            eos.txn_request_errors
                .iter()
                .filter(|((_, c), _)| is_fencing(*c))
                .map(|((a, c), v)| (vec![("api", api_name(*a)), ("error", error_name(*c))], *v)),
        );
        counter(
            &mut e,
            "producers_fenced",
            "Requests answered PRODUCER_FENCED or INVALID_PRODUCER_EPOCH, by API and error.",
            &fenced,
        )?;
        counter(
            &mut e,
            "epoch_bumps",
            "Transaction-log records that raised a transactional id's producer epoch (InitProducerId, fencing, TV2 EndTxn).",
            &one(eos.epoch_bumps),
        )?;
        counter(
            &mut e,
            "producer_ids_allocated",
            "Transaction-log records that gave a transactional id a new producer id.",
            &one(eos.producer_ids_allocated),
        )?;
        counter(
            &mut e,
            "sequence_resets",
            "Producer sequences started over: a batch at a new epoch (epoch_bump), an UNKNOWN_PRODUCER_ID answer (unknown_producer_id).",
            &[
                (vec![("cause", "epoch_bump".to_string())], eos.sequence_resets_epoch),
                (
                    vec![("cause", "unknown_producer_id".to_string())],
                    produce_error(ErrorCode::UnknownProducerId),
                ),
            ],
        )?;
        counter(
            &mut e,
            "transactions_committed",
            "Transactions completed with a commit.",
            &one(eos.transactions_committed),
        )?;
        counter(
            &mut e,
            "transactions_aborted",
            "Transactions completed with an abort (client aborts, fencing and timeouts).",
            &one(eos.transactions_aborted),
        )?;
        counter(
            &mut e,
            "transactions_timed_out",
            "Transactions the coordinator aborted on transaction.timeout.ms.",
            &one(s.transactions_timed_out),
        )?;
        counter(
            &mut e,
            "markers_written",
            "Transaction markers written to partitions.",
            &one(s.markers_written),
        )?;
        counter(
            &mut e,
            "txn_log_records",
            "Records appended to __transaction_state.",
            &one(s.txn_log_records),
        )?;
        counter(
            &mut e,
            "coordinator_errors",
            "Inputs the core refused as API misuse (logged).",
            &one(s.coordinator_errors),
        )?;
        counter(
            &mut e,
            "offsets_log_batches",
            "Batches the group coordinators appended to __consumer_offsets.",
            &one(s.offsets_log_batches),
        )?;
        counter(
            &mut e,
            "rebalances",
            "Group join phases completed.",
            &one(s.rebalances),
        )?;
        counter(
            &mut e,
            "connections_accepted",
            "Client connections accepted.",
            &one(self.connections_accepted),
        )?;
        gauge(
            &mut e,
            "connections",
            "Client connections open.",
            &[(
                Vec::new(),
                i64::try_from(self.connections_open).unwrap_or(i64::MAX),
            )],
        )?;
        gauge(
            &mut e,
            "open_transactions",
            "Transactions open (Ongoing, PrepareCommit, PrepareAbort).",
            &[(
                Vec::new(),
                i64::try_from(self.open_transactions).unwrap_or(i64::MAX),
            )],
        )?;
        gauge(
            &mut e,
            "oldest_open_transaction_age_ms",
            "Milliseconds since the oldest open transaction started (0: none open).",
            &[(Vec::new(), self.oldest_open_transaction_age_ms.unwrap_or(0))],
        )?;
        let tp_labels = |p: &PartitionGauges| {
            vec![
                ("topic", p.topic.clone()),
                ("partition", p.partition.to_string()),
            ]
        };
        let lag: Vec<(Labels, i64)> = self
            .partitions
            .iter()
            .map(|p| (tp_labels(p), p.high_watermark - p.last_stable_offset))
            .collect();
        gauge(
            &mut e,
            "last_stable_offset_lag",
            "High watermark minus last stable offset, by partition.",
            &lag,
        )?;
        let hw: Vec<(Labels, i64)> = self
            .partitions
            .iter()
            .map(|p| (tp_labels(p), p.high_watermark))
            .collect();
        gauge(
            &mut e,
            "high_watermark",
            "High watermark (= log end offset), by partition.",
            &hw,
        )?;
        Ok(())
    }
}

/// The snapshot in Prometheus text format (0.0.4), every name prefixed `kafka_eos_` (counters
/// end in `_total`).
pub fn render(snapshot: &Snapshot) -> String {
    let mut registry = Registry::with_prefix("kafka_eos");
    registry.register_collector(Box::new(snapshot.clone()));
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}

/// Serves `GET /metrics` on `addr` from a thread: each scrape renders `take()`'s snapshot.
/// Returns the bound address.
pub fn serve(
    addr: &str,
    take: impl Fn() -> Snapshot + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let server = tiny_http::Server::http(addr).map_err(std::io::Error::other)?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| std::io::Error::other("metrics listener has no IP address"))?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let response = if request.url() == "/metrics" {
                    let body = tiny_http::Response::from_string(render(&take()));
                    match tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE) {
                        Ok(header) => body.with_header(header),
                        Err(()) => body,
                    }
                } else {
                    tiny_http::Response::from_string("not found: try /metrics\n")
                        .with_status_code(404)
                };
                if let Err(e) = request.respond(response) {
                    tracing::debug!("metrics answer not sent: {e}");
                }
            }
        })?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_eos::coordinator::{CoordinatorConfig, TransactionState};

    fn record(producer_epoch: ProducerEpoch, state: TransactionState) -> TransactionLogValue {
        TransactionLogValue {
            producer_id: 1000,
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch,
            last_producer_epoch: -1,
            transaction_timeout_ms: 60_000,
            state,
            partitions: Default::default(),
            txn_start_timestamp: -1,
            txn_last_update_timestamp: 0,
            client_transaction_version: Default::default(),
        }
    }

    #[test]
    fn transaction_log_records_classify_epochs_and_outcomes() {
        let mut eos = EosCounters::default();
        eos.transaction_log("a", Some(&record(0, TransactionState::Empty)));
        eos.transaction_log("a", Some(&record(0, TransactionState::CompleteCommit)));
        eos.transaction_log("a", Some(&record(1, TransactionState::PrepareAbort)));
        eos.transaction_log("a", Some(&record(1, TransactionState::CompleteAbort)));
        assert_eq!(
            (eos.producer_ids_allocated, eos.epoch_bumps),
            (1, 1),
            "{eos:?}"
        );
        assert_eq!(
            (eos.transactions_committed, eos.transactions_aborted),
            (1, 1)
        );
        // A tombstone forgets the id: its next record is a new producer id.
        eos.transaction_log("a", None);
        eos.transaction_log("a", Some(&record(2, TransactionState::Empty)));
        assert_eq!(eos.producer_ids_allocated, 2);
    }

    #[test]
    fn seeded_counters_see_a_reloaded_ids_bump_as_a_bump() {
        let mut coordinator =
            TransactionCoordinator::new(CoordinatorConfig::default(), 1000, 0).unwrap();
        // A restart: the id's last record is loaded from `__transaction_state`.
        let loaded = coordinator.load_transaction(
            "a",
            Some(&record(0, TransactionState::CompleteCommit)),
            0,
        );
        assert_eq!(loaded, Ok(Vec::new()));
        let mut fresh = EosCounters::default();
        fresh.transaction_log("a", Some(&record(1, TransactionState::Empty)));
        assert_eq!((fresh.producer_ids_allocated, fresh.epoch_bumps), (1, 0));
        let mut seeded = EosCounters::default();
        seeded.seed(&coordinator);
        seeded.transaction_log("a", Some(&record(1, TransactionState::Empty)));
        assert_eq!((seeded.producer_ids_allocated, seeded.epoch_bumps), (0, 1));
    }
}
