//! The partition leader's requests as a broker receives them: Produce with its KIP-890
//! verification round trip, WriteTxnMarkers, ListOffsets, and the passage of time. Each takes
//! the request and `now` and answers with data that tells the caller what to do next; the
//! lower-level steps ([`PartitionLeader::append`], [`PartitionLeader::write_marker`],
//! [`PartitionLeader::start_verification`]) are Kafka's `UnifiedLog` operations underneath.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{
    verification_error_for_produce, AppendOutcome, IsolationLevel, PartitionLeader, ProduceBatch,
    TxnMarker, VerificationGuard,
};
use crate::error::ErrorCode;
use crate::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, OffsetSpec, ProduceRequest,
    ProduceResponse, WriteTxnMarker, WriteTxnMarkersResponse, PRODUCE_VERSION,
};
use crate::types::{Offset, ProducerId, TimestampMs};

/// The outcome of one partition's Produce: how the batch was taken, or Kafka's error.
pub type ProduceResult = Result<AppendOutcome, ErrorCode>;

/// The wire answer of a [`ProduceResult`]: the base offset (the original one for a duplicate),
/// or the error.
pub fn produce_response(result: &ProduceResult) -> ProduceResponse {
    result.map(|outcome| outcome.base_offset())
}

/// A produce held while its transaction is verified with the coordinator (KIP-890,
/// `ReplicaManager.appendRecords` with `AddPartitionsToTxnManager`): the request and the
/// verification guard its append must present. Hand it back with the coordinator's answer to
/// [`PartitionLeader::handle_verification_response`].
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PendingProduce<P> {
    request: ProduceRequest<P>,
    guard: VerificationGuard,
}

impl<P> PendingProduce<P> {
    /// The produce request held.
    pub fn request(&self) -> &ProduceRequest<P> {
        &self.request
    }

    /// The verification guard its append will present.
    pub fn guard(&self) -> VerificationGuard {
        self.guard
    }
}

/// What a Produce needs next.
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ProduceStep<P> {
    /// Answer the producer with this (see [`produce_response`]).
    Answered(ProduceResult),
    /// Send `request` to the transaction coordinator of the batch's transactional id, then give
    /// its answer and `pending` to [`PartitionLeader::handle_verification_response`].
    Verify {
        /// The leader's AddPartitionsToTxn: verify-only below Produce v12 (KIP-890 part 1),
        /// the implicit add of a TV2 transaction from v12 (part 2).
        request: AddPartitionsToTxnRequest,
        /// The held produce.
        pending: PendingProduce<P>,
    },
}

impl<P: Clone> PartitionLeader<P> {
    /// Produce (origin CLIENT, `ReplicaManager.appendRecords`). A transactional batch with a
    /// transactional id, while `transaction.partition.verification.enable` is on, first starts
    /// its verification ([`start_verification`](Self::start_verification)): a stale epoch is
    /// answered at once, an ongoing transaction at this epoch appends at once, otherwise the
    /// coordinator must be asked ([`ProduceStep::Verify`]). Produce v12+ marks a TV2 client
    /// (`transactionSupportedOperation = addPartition`: the leader adds the partition and the
    /// producer may bump its epoch); older versions verify only. Any other batch is appended
    /// at once ([`append`](Self::append)); a transactional batch without transactional id is
    /// not verified and so fails the append's verification check.
    pub fn handle_produce(
        &mut self,
        request: ProduceRequest<P>,
        now: TimestampMs,
    ) -> ProduceStep<P> {
        if request.is_transactional && self.config.transaction_verification {
            if let Some(transactional_id) = request.transactional_id.clone() {
                let tv2 = request.version >= PRODUCE_VERSION;
                match self.start_verification(
                    request.producer_id,
                    request.producer_epoch,
                    request.base_sequence,
                    tv2,
                    now,
                ) {
                    Err(e) => return ProduceStep::Answered(Err(e)),
                    Ok(VerificationGuard::Sentinel) => {
                        let batch = batch_of(&request, now);
                        return ProduceStep::Answered(
                            self.append(batch, Some(VerificationGuard::Sentinel)),
                        );
                    }
                    Ok(guard) => {
                        return ProduceStep::Verify {
                            request: AddPartitionsToTxnRequest::from_leader(
                                transactional_id,
                                request.producer_id,
                                request.producer_epoch,
                                BTreeSet::from([request.partition.clone()]),
                                !tv2,
                            ),
                            pending: PendingProduce { request, guard },
                        };
                    }
                }
            }
        }
        let batch = batch_of(&request, now);
        ProduceStep::Answered(self.append(batch, None))
    }

    /// The coordinator answered a held produce's verification: success appends the batch with
    /// its guard; an error is translated for the client's Produce version
    /// ([`verification_error_for_produce`]) and nothing is written.
    pub fn handle_verification_response(
        &mut self,
        pending: PendingProduce<P>,
        answer: AddPartitionsToTxnResponse,
        now: TimestampMs,
    ) -> ProduceResult {
        match answer {
            Ok(()) => {
                let batch = batch_of(&pending.request, now);
                self.append(batch, Some(pending.guard))
            }
            Err(e) => Err(verification_error_for_produce(e, pending.request.version)),
        }
    }

    /// One WriteTxnMarkers entry (origin COORDINATOR): the marker is written at `now` under the
    /// transaction's version ([`write_marker`](Self::write_marker)) and the answer for the
    /// coordinator returned.
    pub fn handle_write_txn_marker(
        &mut self,
        marker: &WriteTxnMarker,
        now: TimestampMs,
    ) -> WriteTxnMarkersResponse {
        let error = self
            .write_marker(TxnMarker {
                producer_id: marker.producer_id,
                producer_epoch: marker.producer_epoch,
                coordinator_epoch: marker.coordinator_epoch,
                result: marker.result,
                timestamp: now,
                transaction_version: marker.transaction_version,
            })
            .err();
        marker.response(error)
    }
}

impl<P> PartitionLeader<P> {
    /// ListOffsets for this partition (`UnifiedLog.fetchOffsetByTimestamp`): the log start
    /// offset for [`OffsetSpec::Earliest`]; for [`OffsetSpec::Latest`] the last stable offset at
    /// read_committed and the high watermark at read_uncommitted; for a timestamp, the base
    /// offset of the first data batch whose max timestamp reaches it (never below the log start
    /// offset, `LogSegment.findOffsetByTimestamp`), or -1 when none does.
    pub fn list_offsets(&self, spec: OffsetSpec, isolation: IsolationLevel) -> Offset {
        match spec {
            OffsetSpec::Earliest => self.log_start_offset(),
            OffsetSpec::Latest => match isolation {
                IsolationLevel::ReadCommitted => self.last_stable_offset(),
                IsolationLevel::ReadUncommitted => self.high_watermark(),
            },
            OffsetSpec::Timestamp(t) => self
                .log
                .iter()
                .find(|b| !b.is_control() && b.max_timestamp >= t)
                .map_or(-1, |b| b.base_offset.max(self.log_start_offset)),
        }
    }

    /// `UnifiedLog.logStartOffset`: 0 until DeleteRecords advances it
    /// ([`delete_records`](Self::delete_records)).
    pub fn log_start_offset(&self) -> Offset {
        self.log_start_offset
    }

    /// The leader's next deadline: the earliest time at which
    /// [`handle_timeout`](Self::handle_timeout) expires a producer or a verification entry
    /// (`producer.id.expiration.ms` after its last timestamp; a producer with an open
    /// transaction never expires). `None` when nothing can expire.
    pub fn next_deadline(&self) -> Option<TimestampMs> {
        let expiration = self.config.producer_id_expiration_ms;
        let producers = self
            .producers
            .values()
            .filter(|e| e.current_txn_first_offset.is_none())
            .map(|e| e.last_timestamp);
        let verifications = self.verification_states.values().map(|v| v.timestamp);
        producers
            .chain(verifications)
            .map(|t| t.saturating_add(expiration))
            .min()
    }

    /// Time passes: `ProducerStateManager.removeExpiredProducers` at `now`
    /// ([`expire_producers`](Self::expire_producers)). Returns the expired producer ids.
    pub fn handle_timeout(&mut self, now: TimestampMs) -> Vec<ProducerId> {
        self.expire_producers(now)
    }
}

fn batch_of<P: Clone>(request: &ProduceRequest<P>, now: TimestampMs) -> ProduceBatch<P> {
    ProduceBatch {
        producer_id: request.producer_id,
        producer_epoch: request.producer_epoch,
        base_sequence: request.base_sequence,
        record_count: request.record_count,
        is_transactional: request.is_transactional,
        max_timestamp: request.max_timestamp.unwrap_or(now),
        payload: request.payload.clone(),
    }
}
