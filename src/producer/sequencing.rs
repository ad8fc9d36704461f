//! Per-partition sequence state and the produce-response handling: Kafka's `TxnPartitionMap`
//! and `TxnPartitionEntry` with the partition's `RecordAccumulator` batches, and the parts of
//! `Sender.completeBatch`, `TransactionManager.canRetry` and `handleFailedBatch` that decide
//! whether a batch is acknowledged, retried or failed.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::messages::ProduceRequest;
use crate::types::{
    decrement_sequence, increment_sequence, ProducerEpoch, ProducerId, Sequence, TimestampMs,
    TopicPartition, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};

use super::state::is_fatal_class;
use super::{
    BatchError, BatchId, Producer, ProducerEvent, ProducerOutput, Request, RequestId,
    TransactionState, TxnRequest,
};

/// A record batch (`ProducerBatch`): sequence fields are set when it is drained.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Batch<P> {
    /// Its id.
    pub id: BatchId,
    /// Number of records.
    pub record_count: i32,
    /// The payload.
    pub payload: P,
    /// When the application sent it (for `delivery.timeout.ms`).
    pub created_ms: TimestampMs,
    /// The producer id it was sequenced under (-1 before).
    pub producer_id: ProducerId,
    /// The epoch it was sequenced under (-1 before).
    pub producer_epoch: ProducerEpoch,
    /// Its base sequence (-1 before).
    pub base_sequence: Sequence,
    /// The outstanding Produce request carrying it; `None` while it waits for a retry.
    pub request: Option<RequestId>,
    /// Its sequence was rewritten after it was first drained (`ProducerBatch.sequenceHasBeenReset`,
    /// set by `resetProducerState` in `startSequencesAtBeginning` and
    /// `adjustSequencesDueToFailedBatch`): an OUT_OF_ORDER_SEQUENCE_NUMBER or
    /// UNKNOWN_PRODUCER_ID for it is retried (`TransactionManager.canRetry`).
    pub sequence_reset: bool,
}

impl<P> Batch<P> {
    /// A batch the application just sent: no sequence yet.
    pub(super) fn new(id: BatchId, record_count: i32, payload: P, created_ms: TimestampMs) -> Self {
        Batch {
            id,
            record_count,
            payload,
            created_ms,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            request: None,
            sequence_reset: false,
        }
    }

    /// The sequence of its last record.
    fn last_sequence(&self) -> Sequence {
        increment_sequence(self.base_sequence, self.record_count.saturating_sub(1))
    }

    /// Whether it was sequenced under this producer id and epoch.
    fn is_sequenced_under(&self, producer_id: ProducerId, producer_epoch: ProducerEpoch) -> bool {
        self.producer_id == producer_id && self.producer_epoch == producer_epoch
    }
}

impl<P: Clone> Batch<P> {
    /// The Produce request that carries it as request `id`.
    pub(super) fn produce_request(
        &self,
        id: RequestId,
        partition: &TopicPartition,
        transactional_id: Option<&str>,
        version: i16,
    ) -> Request<P> {
        Request::Produce {
            id,
            request: ProduceRequest {
                transactional_id: transactional_id.map(str::to_string),
                partition: partition.clone(),
                producer_id: self.producer_id,
                producer_epoch: self.producer_epoch,
                base_sequence: self.base_sequence,
                record_count: self.record_count,
                is_transactional: transactional_id.is_some(),
                max_timestamp: None,
                payload: self.payload.clone(),
                version,
            },
        }
    }
}

/// Per-partition state (`TxnPartitionEntry` plus the partition's accumulator queue).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartitionEntry<P> {
    /// The producer id the sequences below belong to.
    pub producer_id: ProducerId,
    /// The epoch the sequences below belong to.
    pub producer_epoch: ProducerEpoch,
    /// The next sequence to assign.
    pub next_sequence: Sequence,
    /// The last acknowledged sequence (-1: none).
    pub last_acked_sequence: Sequence,
    /// Batches not yet drained (no sequence).
    pub queued: Vec<Batch<P>>,
    /// Batches with a sequence, in sequence order: in flight, or waiting for a retry.
    pub in_flight: Vec<Batch<P>>,
    /// A batch expired after being sent: its sequence may or may not be written. The value is
    /// the sequence right after the expired batch(es) (`partitionsWithUnresolvedSequences`,
    /// `markSequenceUnresolved`: the largest `last sequence + 1`).
    pub unresolved: Option<Sequence>,
}

/// An in-flight batch whose Produce request just ended (answered or lost), as the response
/// handling sees it; the batch no longer has a request outstanding.
struct EndedRequest {
    /// Its position in the partition's in-flight list.
    pos: usize,
    /// It was sequenced under another producer id or epoch than the producer's current one.
    stale: bool,
    /// When the application sent it.
    created_ms: TimestampMs,
    /// Its sequence was rewritten after it was first drained.
    sequence_reset: bool,
    /// Its base sequence.
    base_sequence: Sequence,
    /// It is the next batch to be acknowledged (`base == last acked + 1`).
    is_next: bool,
    /// The partition's unresolved sequence.
    unresolved: Option<Sequence>,
}

impl<P> PartitionEntry<P> {
    /// A partition not drained yet: no producer id, epoch or acknowledged sequence.
    pub(super) fn new() -> Self {
        PartitionEntry {
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            next_sequence: 0,
            last_acked_sequence: NO_SEQUENCE,
            queued: Vec::new(),
            in_flight: Vec::new(),
            unresolved: None,
        }
    }

    /// Whether its sequences belong to this producer id and epoch.
    pub(super) fn is_sequenced_under(
        &self,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
    ) -> bool {
        self.producer_id == producer_id && self.producer_epoch == producer_epoch
    }

    /// Clears the request of in-flight batch `batch`, whose Produce request ended; `None` if
    /// the batch is no longer in flight. `producer_id`/`producer_epoch` are the producer's.
    fn end_request(
        &mut self,
        batch: BatchId,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
    ) -> Option<EndedRequest> {
        let pos = self.in_flight.iter().position(|b| b.id == batch)?;
        let next_to_ack = increment_sequence(self.last_acked_sequence, 1);
        let unresolved = self.unresolved;
        let b = self.in_flight.get_mut(pos)?;
        b.request = None;
        Some(EndedRequest {
            pos,
            stale: !b.is_sequenced_under(producer_id, producer_epoch),
            created_ms: b.created_ms,
            sequence_reset: b.sequence_reset,
            base_sequence: b.base_sequence,
            is_next: b.base_sequence == next_to_ack,
            unresolved,
        })
    }

    /// Removes the in-flight batch at `pos`, acknowledged: its last sequence becomes the last
    /// acknowledged one if it is later and of the partition's producer id and epoch.
    fn take_acked(&mut self, pos: usize) -> Option<Batch<P>> {
        if pos >= self.in_flight.len() {
            return None;
        }
        let b = self.in_flight.remove(pos);
        if b.base_sequence != NO_SEQUENCE
            && b.is_sequenced_under(self.producer_id, self.producer_epoch)
        {
            let last = b.last_sequence();
            if self.last_acked_sequence == NO_SEQUENCE || last > self.last_acked_sequence {
                self.last_acked_sequence = last;
            }
        }
        Some(b)
    }

    /// Removes the in-flight batch at `pos`, failed; `adjust` moves the later batches'
    /// sequences of its producer id and epoch down (`adjustSequencesDueToFailedBatch`).
    fn take_failed(&mut self, pos: usize, adjust: bool) -> Option<Batch<P>> {
        if pos >= self.in_flight.len() {
            return None;
        }
        let b = self.in_flight.remove(pos);
        if adjust && b.is_sequenced_under(self.producer_id, self.producer_epoch) {
            for later in self.in_flight.iter_mut().skip(pos) {
                if later.is_sequenced_under(b.producer_id, b.producer_epoch) {
                    later.base_sequence = decrement_sequence(later.base_sequence, b.record_count);
                    later.sequence_reset = true;
                }
            }
            self.next_sequence = decrement_sequence(self.next_sequence, b.record_count);
        }
        Some(b)
    }

    /// M-I3: the in-flight batch at `pos` loses its sequence and goes back to the front of the
    /// queue.
    fn requeue(&mut self, pos: usize) {
        if pos < self.in_flight.len() {
            let mut b = self.in_flight.remove(pos);
            b.base_sequence = NO_SEQUENCE;
            b.producer_id = NO_PRODUCER_ID;
            b.producer_epoch = NO_PRODUCER_EPOCH;
            self.queued.insert(0, b);
        }
    }

    /// `markSequenceUnresolved`: the in-flight batch at `pos` expired after it was sent; the
    /// unresolved sequence is the largest next sequence after an expired batch.
    fn mark_unresolved(&mut self, pos: usize) {
        if let Some(b) = self.in_flight.get(pos) {
            let after = increment_sequence(b.last_sequence(), 1);
            self.unresolved = Some(self.unresolved.map_or(after, |u| u.max(after)));
        }
    }

    /// `resetSequenceForPartition`: the sequences restart at 0 when the partition is next
    /// drained, and it is no longer unresolved.
    fn reset_sequence(&mut self) {
        self.producer_epoch = NO_PRODUCER_EPOCH;
        self.producer_id = NO_PRODUCER_ID;
        self.unresolved = None;
    }

    /// `startSequencesAtBeginning`: the in-flight batches are renumbered from 0 under the new
    /// producer id and epoch (their sequence marked reset); nothing is acknowledged or
    /// unresolved at it yet.
    pub(super) fn start_sequences_at_beginning(
        &mut self,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
    ) {
        let mut seq: Sequence = 0;
        for b in self.in_flight.iter_mut() {
            b.producer_id = producer_id;
            b.producer_epoch = producer_epoch;
            b.base_sequence = seq;
            b.sequence_reset = true;
            seq = increment_sequence(seq, b.record_count);
        }
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.next_sequence = seq;
        self.last_acked_sequence = NO_SEQUENCE;
        self.unresolved = None;
    }

    /// Whether the first queued batch can be drained now under this producer id and epoch: not
    /// while a sequence is unresolved or `max_in_flight` batches are in flight. Sequences of
    /// another producer id or epoch restart at 0 here, once nothing of theirs is in flight.
    pub(super) fn prepare_drain(
        &mut self,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
        max_in_flight: usize,
    ) -> bool {
        if self.queued.is_empty() || self.unresolved.is_some() {
            return false;
        }
        if !self.is_sequenced_under(producer_id, producer_epoch) {
            if !self.in_flight.is_empty() {
                return false;
            }
            self.producer_id = producer_id;
            self.producer_epoch = producer_epoch;
            self.next_sequence = 0;
            self.last_acked_sequence = NO_SEQUENCE;
        }
        self.in_flight.len() < max_in_flight
    }

    /// Drains the first queued batch: it takes the next sequence under this producer id and
    /// epoch (none when not `sequenced`: without idempotence, `NO_SEQUENCE`) and goes in
    /// flight as request `request`.
    pub(super) fn drain_next(
        &mut self,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
        sequenced: bool,
        request: RequestId,
    ) -> Option<&Batch<P>> {
        if self.queued.is_empty() {
            return None;
        }
        let mut b = self.queued.remove(0);
        b.producer_id = producer_id;
        b.producer_epoch = producer_epoch;
        b.sequence_reset = false;
        if sequenced {
            b.base_sequence = self.next_sequence;
            self.next_sequence = increment_sequence(self.next_sequence, b.record_count);
        }
        b.request = Some(request);
        self.in_flight.push(b);
        self.in_flight.last()
    }
}

impl<P: Clone> Producer<P> {
    /// `accumulator.abortUndrainedBatches`: queued batches and batches waiting for a retry fail.
    pub(super) fn fail_undrained(&mut self, error: BatchError, out: &mut ProducerOutput<P>) {
        for (tp, entry) in self.partitions.iter_mut() {
            for b in entry.queued.drain(..) {
                out.events.push(ProducerEvent::SendFailed {
                    batch: b.id,
                    partition: tp.clone(),
                    error,
                });
            }
            let mut kept = Vec::new();
            for b in entry.in_flight.drain(..) {
                if b.request.is_some() {
                    kept.push(b);
                } else {
                    out.events.push(ProducerEvent::SendFailed {
                        batch: b.id,
                        partition: tp.clone(),
                        error,
                    });
                }
            }
            entry.in_flight = kept;
        }
    }

    /// `RecordAccumulator.hasIncomplete`: a batch is queued or in flight.
    pub(super) fn has_incomplete_batches(&self) -> bool {
        self.partitions
            .values()
            .any(|e| !e.queued.is_empty() || !e.in_flight.is_empty())
    }

    /// Whether the `delivery.timeout.ms` of a batch sent by the application at `created_ms` has
    /// passed (`ProducerBatch.hasReachedDeliveryTimeout`: `deliveryTimeoutMs <= now - createdMs`).
    fn delivery_timed_out(&self, created_ms: TimestampMs, now: TimestampMs) -> bool {
        now.saturating_sub(created_ms) >= self.config.delivery_timeout_ms
    }

    /// The delivery deadline of a batch sent by the application at `created_ms`: the first `now`
    /// at which [`delivery_timed_out`](Self::delivery_timed_out) holds.
    fn delivery_deadline(&self, created_ms: TimestampMs) -> TimestampMs {
        created_ms.saturating_add(self.config.delivery_timeout_ms)
    }

    /// The earliest delivery deadline of a batch [`expire_batches`](Self::expire_batches) can
    /// expire: one in Kafka's accumulator queue (never drained, or a retry waiting to be
    /// re-sent). `None` when there is none.
    pub(super) fn next_delivery_deadline(&self) -> Option<TimestampMs> {
        self.partitions
            .values()
            .flat_map(|e| {
                e.in_flight
                    .iter()
                    .filter(|b| b.request.is_none())
                    .chain(e.queued.iter())
            })
            .map(|b| self.delivery_deadline(b.created_ms))
            .min()
    }

    /// `RecordAccumulator.expiredBatches(now)` and the expiry loop of `Sender.sendProducerData`:
    /// every batch of Kafka's accumulator queue whose delivery timeout has passed fails with
    /// REQUEST_TIMED_OUT (Kafka's `TimeoutException`), `failBatch(batch, e, false)`: sequences
    /// are not adjusted. Per partition, first the retries waiting to be re-sent (in sequence
    /// order; `inRetry`, so `markSequenceUnresolved`), then the batches never drained (no
    /// sequence, so none is disturbed). A transactional producer goes through
    /// `handleFailedBatch` → `maybeTransitionToErrorState` for each: ABORTABLE_ERROR, with the
    /// client epoch bump required when the client must trigger it and no commit or abort is in
    /// progress. Batches whose Produce request is outstanding are left to that request's end.
    pub(super) fn expire_batches(&mut self, now: TimestampMs, out: &mut ProducerOutput<P>) {
        let parts: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        for tp in parts {
            // Retries waiting to be re-sent (Kafka re-enqueues them at the head of the queue).
            while let Some((pos, stale)) = self.partitions.get(&tp).and_then(|e| {
                e.in_flight
                    .iter()
                    .position(|b| b.request.is_none() && self.delivery_timed_out(b.created_ms, now))
                    .and_then(|pos| {
                        let b = e.in_flight.get(pos)?;
                        Some((
                            pos,
                            !b.is_sequenced_under(self.producer_id, self.producer_epoch),
                        ))
                    })
            }) {
                self.expire_sent(&tp, pos, stale, out);
            }
            // Batches never drained.
            let timeout = self.config.delivery_timeout_ms;
            let expired: Vec<BatchId> = self.partitions.get_mut(&tp).map_or_else(Vec::new, |e| {
                // The same test as `delivery_timed_out`.
                let (gone, kept) = e
                    .queued
                    .drain(..)
                    .partition::<Vec<_>, _>(|b| now.saturating_sub(b.created_ms) >= timeout);
                e.queued = kept;
                gone.into_iter().map(|b| b.id).collect()
            });
            for batch in expired {
                out.events.push(ProducerEvent::SendFailed {
                    batch,
                    partition: tp.clone(),
                    error: BatchError::Kafka(ErrorCode::RequestTimedOut),
                });
                if self.is_transactional() {
                    let may_bump = !self.config.bugs.abort_without_bump_after_timeout;
                    self.enter_abortable_for_batch(ErrorCode::TransactionAbortable, may_bump, out);
                }
            }
        }
    }

    /// A batch sent at least once expires (`Sender.sendProducerData` for an `inRetry` batch, or
    /// a lost request past the delivery timeout): its sequence is unresolved
    /// (`markSequenceUnresolved`: the largest next sequence after an expired batch), it fails
    /// with REQUEST_TIMED_OUT without adjusting sequences, and a transactional producer's
    /// transaction becomes abortable (`handleFailedBatch`) unless the batch is of an older
    /// producer id or epoch.
    fn expire_sent(
        &mut self,
        tp: &TopicPartition,
        pos: usize,
        stale: bool,
        out: &mut ProducerOutput<P>,
    ) {
        if self.is_idempotent() {
            if let Some(entry) = self.partitions.get_mut(tp) {
                entry.mark_unresolved(pos);
            }
        }
        self.fail_batch(tp, pos, ErrorCode::RequestTimedOut, false, out);
        if self.is_transactional() && !stale {
            let may_bump = !self.config.bugs.abort_without_bump_after_timeout;
            self.enter_abortable_for_batch(ErrorCode::TransactionAbortable, may_bump, out);
        }
    }

    /// The batch's Produce request ended (answered or lost); `None` if it is no longer in
    /// flight.
    fn end_request(&mut self, tp: &TopicPartition, batch_id: BatchId) -> Option<EndedRequest> {
        let (pid, epoch) = (self.producer_id, self.producer_epoch);
        self.partitions
            .get_mut(tp)?
            .end_request(batch_id, pid, epoch)
    }

    /// A Produce response (`Sender.completeBatch`): the batch is acknowledged, retried with the
    /// same sequence, or failed (`TransactionManager.canRetry`, `handleFailedBatch`).
    pub(super) fn on_produce(
        &mut self,
        tp: &TopicPartition,
        batch_id: BatchId,
        result: Result<i64, ErrorCode>,
        now: TimestampMs,
        out: &mut ProducerOutput<P>,
    ) {
        let Some(b) = self.end_request(tp, batch_id) else {
            return;
        };
        let pos = b.pos;
        let error = match result {
            Ok(offset) => {
                self.ack(tp, pos, (offset >= 0).then_some(offset), out);
                return;
            }
            Err(ErrorCode::DuplicateSequenceNumber) => {
                self.ack(tp, pos, None, out);
                return;
            }
            Err(e) => e,
        };
        let transactional = self.is_transactional();
        let stale = b.stale;
        if is_fatal_class(error) {
            self.fail_batch(tp, pos, error, false, out);
            self.enter_fatal(error, out);
            return;
        }
        if self.config.bugs.not_leader_is_definite_failure
            && error == ErrorCode::NotLeaderOrFollower
        {
            self.handle_failed_batch(tp, pos, error, stale, out);
            return;
        }
        // Sender.canRetry: nothing is retried once the batch's delivery timeout has passed.
        let expired = self.delivery_timed_out(b.created_ms, now);
        if error.is_retriable() {
            if expired {
                self.handle_failed_batch(tp, pos, error, stale, out);
            } else {
                self.retry(tp, pos, out);
            }
            return;
        }
        if !self.is_idempotent() {
            // No TransactionManager (`enable.idempotence=false`): `Sender.completeBatch` fails
            // the batch; no sequence or epoch to adjust.
            self.fail_batch(tp, pos, error, false, out);
            return;
        }
        match error {
            // TransactionManager.canRetry, OUT_OF_ORDER_SEQUENCE_NUMBER: with no unresolved
            // sequence, a batch whose sequence was reset or that is not the next one (an
            // earlier batch is still in flight) is retried, transactional or not.
            // (An idempotent batch of an older epoch is handled below, as before the bump.)
            ErrorCode::OutOfOrderSequenceNumber
                if !expired
                    && b.unresolved.is_none()
                    && (b.sequence_reset || !b.is_next)
                    && (transactional || !stale) => {}
            // Idempotent: always retried; the epoch is bumped when there is a real gap (no
            // unresolved sequence, or the batch right after the unresolved one). A batch of an
            // older epoch records its partition for the sequence rewrite.
            ErrorCode::OutOfOrderSequenceNumber if !expired && !transactional => {
                if stale || b.unresolved.is_none() || b.unresolved == Some(b.base_sequence) {
                    self.request_idempotent_bump(tp, out);
                }
            }
            // canRetry, UNKNOWN_PRODUCER_ID: a batch whose sequence was reset is retried; the
            // idempotent producer bumps its epoch and retries (R-S7: log start not passed).
            ErrorCode::UnknownProducerId if !expired && b.sequence_reset => {}
            ErrorCode::UnknownProducerId if !expired && !transactional => {
                self.request_idempotent_bump(tp, out)
            }
            ErrorCode::UnknownProducerId if !transactional => {
                // handleFailedBatch (past the delivery timeout): the batch fails and the
                // partition's sequence is reset (`resetSequenceForPartition`), no bump.
                self.fail_batch(tp, pos, error, false, out);
                if !stale {
                    self.reset_partition_sequence(tp);
                }
            }
            ErrorCode::UnknownProducerId => {
                // Transactional: the batch fails (abortable) and the partition's sequence is
                // reset: it restarts at 0 when next drained.
                self.handle_failed_batch(tp, pos, error, stale, out);
                self.reset_partition_sequence(tp);
            }
            _ => self.handle_failed_batch(tp, pos, error, stale, out),
        }
    }

    /// `resetSequenceForPartition`: the partition's sequences restart at 0 when it is next
    /// drained, and it is no longer unresolved.
    fn reset_partition_sequence(&mut self, tp: &TopicPartition) {
        if let Some(entry) = self.partitions.get_mut(tp) {
            entry.reset_sequence();
        }
    }

    /// `handleFailedBatch` for a non-fatal, non-retried failure.
    fn handle_failed_batch(
        &mut self,
        tp: &TopicPartition,
        pos: usize,
        error: ErrorCode,
        stale: bool,
        out: &mut ProducerOutput<P>,
    ) {
        let transactional = self.is_transactional();
        self.fail_batch(tp, pos, error, !stale && transactional, out);
        if stale {
            return;
        }
        if transactional {
            let last = if error.is_retriable() || error == ErrorCode::InvalidTxnState {
                ErrorCode::TransactionAbortable
            } else {
                error
            };
            self.enter_abortable_for_batch(last, true, out);
        } else {
            self.request_idempotent_bump(tp, out);
        }
    }

    /// Removes a batch from the in-flight list and reports it failed; `adjust` moves the later
    /// batches' sequences down (`adjustSequencesDueToFailedBatch`).
    fn fail_batch(
        &mut self,
        tp: &TopicPartition,
        pos: usize,
        error: ErrorCode,
        adjust: bool,
        out: &mut ProducerOutput<P>,
    ) {
        let Some(b) = self
            .partitions
            .get_mut(tp)
            .and_then(|e| e.take_failed(pos, adjust))
        else {
            return;
        };
        out.events.push(ProducerEvent::SendFailed {
            batch: b.id,
            partition: tp.clone(),
            error: BatchError::Kafka(error),
        });
    }

    /// Removes an acknowledged batch from the in-flight list and reports it written.
    fn ack(
        &mut self,
        tp: &TopicPartition,
        pos: usize,
        base_offset: Option<i64>,
        out: &mut ProducerOutput<P>,
    ) {
        let Some(b) = self.partitions.get_mut(tp).and_then(|e| e.take_acked(pos)) else {
            return;
        };
        out.events.push(ProducerEvent::SendAcknowledged {
            batch: b.id,
            partition: tp.clone(),
            base_offset,
        });
    }

    /// A retried batch keeps its sequence (unless the M-I3 bug is on).
    fn retry(&mut self, tp: &TopicPartition, pos: usize, out: &mut ProducerOutput<P>) {
        if !self.config.bugs.reset_sequence_on_ambiguous {
            return; // stays in flight with `request = None`: re-sent when it is the lowest.
        }
        if self.is_transactional() {
            if let Some(entry) = self.partitions.get_mut(tp) {
                entry.requeue(pos);
            }
        } else {
            self.request_idempotent_bump(tp, out);
        }
    }

    /// A Produce request whose response will never come: the batch is retried with the same
    /// sequence, or, past its `delivery.timeout.ms`, expires with its sequence unresolved.
    pub(super) fn on_produce_timeout(
        &mut self,
        tp: &TopicPartition,
        batch_id: BatchId,
        now: TimestampMs,
        out: &mut ProducerOutput<P>,
    ) {
        let Some(b) = self.end_request(tp, batch_id) else {
            return;
        };
        if !self.delivery_timed_out(b.created_ms, now) {
            self.retry(tp, b.pos, out);
            return;
        }
        // The batch expires after being sent: its sequence is unresolved.
        self.expire_sent(tp, b.pos, b.stale, out);
    }

    /// `requestIdempotentEpochBumpForPartition` + `bumpIdempotentProducerEpoch`: epoch + 1, or
    /// at epoch 32767 ([`ProducerConfig::max_producer_epoch`](super::ProducerConfig::max_producer_epoch))
    /// a new producer id (UNINITIALIZED, then InitProducerId).
    pub(super) fn request_idempotent_bump(
        &mut self,
        tp: &TopicPartition,
        out: &mut ProducerOutput<P>,
    ) {
        if self.is_transactional()
            || !self.is_idempotent()
            || self.state == TransactionState::FatalError
        {
            return;
        }
        self.rewrite_partitions.insert(tp.clone());
        if self.producer_id == NO_PRODUCER_ID {
            return; // a reset is already under way
        }
        // Only one bump per epoch for partitions failing together: if the failing batch is at
        // an older epoch the bump already happened.
        let batch_at_current = self
            .partitions
            .get(tp)
            .is_some_and(|e| self.entry_is_current(e));
        if !batch_at_current {
            return;
        }
        if self.producer_epoch >= self.config.max_producer_epoch {
            self.set_state(TransactionState::Uninitialized, out);
            self.producer_id = NO_PRODUCER_ID;
            self.producer_epoch = NO_PRODUCER_EPOCH;
            self.set_state(TransactionState::Initializing, out);
            self.enqueue_txn(TxnRequest::InitProducerId { bump: false });
        } else {
            self.producer_epoch = self.producer_epoch.saturating_add(1);
        }
    }
}
