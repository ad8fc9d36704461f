//! The core-boundary trace: what each core step the broker takes was given and what it returned,
//! in the core's own vocabulary (`kafka_eos::messages`), so that a scripted run of the broker can
//! be compared step for step with the model's actors running the same script
//! (`tests/trace_eq.rs`: "what is model-checked is what runs").
//!
//! Recording is off unless [`Broker::record_trace`](crate::broker::Broker::record_trace) turns it
//! on; it observes and decides nothing. What legitimately differs between a run over the wire and
//! the model is normalised here, once, for both sides:
//!
//! - a Produce's payload (the model's record id, the wire's record bytes) is erased, and its
//!   `max_timestamp` too (a wire batch always carries its CreateTime; the model's producer leaves
//!   the stamp to the leader's clock);
//! - transaction-log records lose their timestamps (wall clock here, logical clock 0 in the
//!   model); a step's records are reported as the change it made to the durable
//!   `__transaction_state` view (the last record of each transactional id), which is what the
//!   model's coordinator actor keeps;
//! - the markers a coordinator step emits are sorted (they go to different leaders in parallel);
//! - `now`, request ids and correlation ids never enter the trace.
//!
//! Producer ids, epochs, sequences, record counts, offsets, error codes, request versions,
//! `verify_only`, transaction versions, coordinator epochs and partitions are kept.

use std::collections::BTreeMap;
use std::fmt;

use kafka_eos::coordinator::{CoordinatorOutput, TransactionLogValue};
use kafka_eos::error::ErrorCode;
use kafka_eos::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest,
    EndTxnResponse, InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse,
    WriteTxnMarker, WriteTxnMarkersResponse,
};
use kafka_eos::types::{ProducerId, TopicPartition};

/// What a leader's Produce step asked for next (the wire form of `ProduceStep`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProduceNext {
    /// Answered at once with this.
    Answered(ProduceResponse),
    /// Held: this AddPartitionsToTxn goes to the coordinator first.
    Verify(AddPartitionsToTxnRequest),
}

/// What a coordinator step asked its caller to carry out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// The markers to send, sorted.
    pub markers: Vec<WriteTxnMarker>,
    /// The change to the durable transaction-log view, by transactional id: the new last record
    /// (timestamps zeroed), or `None` for a tombstone. Records equal to the one already there
    /// are not a change.
    pub log: Vec<(String, Option<TransactionLogValue>)>,
}

/// One core step: the role, its input and its output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `PartitionLeader::handle_produce`.
    Produce {
        /// The request (normalised: [`produce_request`]).
        request: ProduceRequest<()>,
        /// The step's outcome.
        next: ProduceNext,
    },
    /// `PartitionLeader::handle_verification_response`.
    VerificationResponse {
        /// The held request (normalised).
        request: ProduceRequest<()>,
        /// The coordinator's answer.
        answer: AddPartitionsToTxnResponse,
        /// The Produce answer.
        result: ProduceResponse,
    },
    /// `PartitionLeader::handle_write_txn_marker`.
    WriteTxnMarker {
        /// The marker.
        marker: WriteTxnMarker,
        /// The answer for the coordinator.
        answer: WriteTxnMarkersResponse,
    },
    /// `PartitionLeader::handle_timeout`, when it expired producers.
    LeaderTimeout {
        /// The partition.
        partition: TopicPartition,
        /// The producer ids expired.
        expired: Vec<ProducerId>,
    },
    /// `TransactionCoordinator::handle_init_producer_id`.
    InitProducerId {
        /// The request.
        request: InitProducerIdRequest,
        /// The answer.
        answer: InitProducerIdResponse,
        /// The outputs.
        effects: Effects,
    },
    /// `TransactionCoordinator::handle_add_partitions_to_txn` (a client's, or a leader's
    /// verification).
    AddPartitionsToTxn {
        /// The request.
        request: AddPartitionsToTxnRequest,
        /// The answer.
        answer: AddPartitionsToTxnResponse,
        /// The outputs.
        effects: Effects,
    },
    /// `TransactionCoordinator::handle_add_offsets_to_txn`.
    AddOffsetsToTxn {
        /// The request.
        request: AddOffsetsToTxnRequest,
        /// The answer.
        answer: Result<(), ErrorCode>,
        /// The outputs.
        effects: Effects,
    },
    /// `TransactionCoordinator::handle_end_txn`.
    EndTxn {
        /// The request.
        request: EndTxnRequest,
        /// The answer.
        answer: EndTxnResponse,
        /// The outputs.
        effects: Effects,
    },
    /// `TransactionCoordinator::handle_write_txn_markers_response`.
    WriteTxnMarkersResponse {
        /// The leader's answer.
        response: WriteTxnMarkersResponse,
        /// The outputs, or the refusal (API misuse) as text.
        effects: Result<Effects, String>,
    },
    /// `TransactionCoordinator::handle_timeout`, when it aborted or expired something.
    CoordinatorTimeout {
        /// The transactional ids aborted.
        aborted: Vec<String>,
        /// The transactional ids expired.
        expired: Vec<String>,
        /// The outputs.
        effects: Effects,
    },
}

impl Step {
    /// The role that took the step: `leader t-0` or `coordinator`.
    pub fn role(&self) -> String {
        match self {
            Step::Produce { request, .. } | Step::VerificationResponse { request, .. } => {
                format!("leader {}", request.partition)
            }
            Step::WriteTxnMarker { marker, .. } => format!("leader {}", marker.partition),
            Step::LeaderTimeout { partition, .. } => format!("leader {partition}"),
            _ => "coordinator".to_string(),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {self:?}", self.role())
    }
}

/// A Produce request as the trace keeps it: payload and `max_timestamp` erased.
pub fn produce_request<P>(request: &ProduceRequest<P>) -> ProduceRequest<()> {
    ProduceRequest {
        transactional_id: request.transactional_id.clone(),
        partition: request.partition.clone(),
        producer_id: request.producer_id,
        producer_epoch: request.producer_epoch,
        base_sequence: request.base_sequence,
        record_count: request.record_count,
        is_transactional: request.is_transactional,
        max_timestamp: None,
        payload: (),
        version: request.version,
    }
}

/// A transaction-log record as the trace keeps it: timestamps zeroed.
pub fn log_value(value: &TransactionLogValue) -> TransactionLogValue {
    TransactionLogValue {
        txn_start_timestamp: 0,
        txn_last_update_timestamp: 0,
        ..value.clone()
    }
}

/// The durable transaction-log view (the last record of each transactional id, normalised) and
/// the steps recorded so far.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    log: BTreeMap<String, TransactionLogValue>,
    steps: Vec<Step>,
}

impl Recorder {
    /// Records one step.
    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// The steps recorded so far, leaving none.
    pub fn take(&mut self) -> Vec<Step> {
        std::mem::take(&mut self.steps)
    }

    /// The [`Effects`] of a coordinator step's outputs, applying its records to the log view.
    pub fn effects(&mut self, outputs: &[CoordinatorOutput]) -> Effects {
        let mut markers = Vec::new();
        let mut last: BTreeMap<String, Option<TransactionLogValue>> = BTreeMap::new();
        for output in outputs {
            match output {
                CoordinatorOutput::WriteTxnMarker(m) => markers.push(m.clone()),
                CoordinatorOutput::AppendTransactionLog {
                    transactional_id,
                    value,
                } => {
                    last.insert(transactional_id.clone(), value.as_ref().map(log_value));
                }
            }
        }
        markers.sort();
        let log = log_changes(&mut self.log, last);
        Effects { markers, log }
    }
}

/// Applies `last` (the last record each transactional id got) to the durable view `log` and
/// returns the entries that changed it, by transactional id. Shared by the broker's recorder and
/// the model-side extraction, which sees the view only (`CoordinatorActorState::log`).
pub fn log_changes(
    log: &mut BTreeMap<String, TransactionLogValue>,
    last: BTreeMap<String, Option<TransactionLogValue>>,
) -> Vec<(String, Option<TransactionLogValue>)> {
    let mut changes = Vec::new();
    for (tid, value) in last {
        let changed = match &value {
            Some(v) => log.insert(tid.clone(), v.clone()).as_ref() != Some(v),
            None => log.remove(&tid).is_some(),
        };
        if changed {
            changes.push((tid, value));
        }
    }
    changes
}

/// A readable difference of two traces: the first index where they differ, with both steps, or
/// `None` when they are equal.
pub fn diff(expected: &[Step], actual: &[Step]) -> Option<String> {
    let n = expected.len().max(actual.len());
    for i in 0..n {
        let (e, a) = (expected.get(i), actual.get(i));
        if e != a {
            let show = |s: Option<&Step>| s.map_or("(nothing)".to_string(), |s| s.to_string());
            let context: Vec<String> = expected
                .iter()
                .take(i)
                .enumerate()
                .map(|(j, s)| format!("  {j:>3} {s}"))
                .collect();
            return Some(format!(
                "traces differ at step {i} (expected {} steps, got {}):\nequal before:\n{}\n  expected: {}\n  actual:   {}",
                expected.len(),
                actual.len(),
                context.join("\n"),
                show(e),
                show(a),
            ));
        }
    }
    None
}
