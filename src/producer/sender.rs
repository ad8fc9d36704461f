//! The Sender loop (Kafka's `Sender.runOnce` with the `RecordAccumulator.drain` it drives):
//! sequence rewrites after an idempotent epoch bump, resolution of expired sequences, partition
//! adds, the next transactional request, and the draining of batches into Produce requests.

use crate::error::ErrorCode;
use crate::types::{increment_sequence, TopicPartition, NO_PRODUCER_ID};

use super::{
    BatchError, Outstanding, Producer, ProducerEvent, ProducerOutput, TransactionState, TxnRequest,
};

impl<P: Clone> Producer<P> {
    /// One pass of the Sender: rewrite sequences after a bump, resolve expired sequences,
    /// request partition adds, drain batches, and send the next transactional request.
    pub(super) fn poll(&mut self, out: &mut ProducerOutput<P>) {
        self.resolve_sequences(out);
        self.rewrite_sequences(out);
        let aborting = self.is_transactional()
            && matches!(
                self.state,
                TransactionState::AbortableError | TransactionState::AbortingTransaction
            );
        if aborting || self.state == TransactionState::FatalError {
            let error = self
                .last_error
                .map_or(BatchError::TransactionAborted, BatchError::Kafka);
            self.fail_undrained(error, out);
        }
        if self.is_transactional()
            && !self.new_partitions.is_empty()
            && matches!(
                self.state,
                TransactionState::InTransaction
                    | TransactionState::CommittingTransaction
                    | TransactionState::AbortingTransaction
            )
        {
            let parts: Vec<TopicPartition> = self.new_partitions.iter().cloned().collect();
            self.pending_partitions.extend(parts.iter().cloned());
            self.new_partitions.clear();
            self.enqueue_txn(TxnRequest::AddPartitions(parts));
        }
        // Sender.runOnce: the transactional request goes first, then the produce data.
        self.send_txn_request(out);
        self.drain(out);
    }

    /// After an idempotent epoch bump (`partitionsToRewriteSequences`): each recorded partition
    /// with no request outstanding restarts its in-flight sequences at 0 under the new epoch.
    fn rewrite_sequences(&mut self, out: &mut ProducerOutput<P>) {
        if self.producer_id == NO_PRODUCER_ID || self.state != TransactionState::Ready {
            return;
        }
        let parts: Vec<TopicPartition> = self.rewrite_partitions.iter().cloned().collect();
        let (pid, epoch) = (self.producer_id, self.producer_epoch);
        let mut bumped = false;
        for tp in parts {
            let Some(entry) = self.partitions.get_mut(&tp) else {
                self.rewrite_partitions.remove(&tp);
                continue;
            };
            if entry.in_flight.iter().any(|b| b.request.is_some()) {
                continue;
            }
            entry.start_sequences_at_beginning(pid, epoch);
            self.rewrite_partitions.remove(&tp);
            bumped = true;
        }
        if bumped {
            out.events.push(ProducerEvent::EpochBumped {
                producer_id: self.producer_id,
                producer_epoch: self.producer_epoch,
            });
        }
    }

    /// `maybeResolveSequences`: once an unresolved partition has nothing in flight, it is
    /// resolved if a later batch succeeded (`last_acked + 1 == next_sequence`). Otherwise the
    /// idempotent producer bumps its epoch, and the transactional one goes through
    /// `transitionToAbortableErrorOrFatalError`: ABORTABLE_ERROR (client bump required under
    /// TV0/TV1 with InitProducerId v3+) when abortable errors can be handled, else FATAL_ERROR.
    fn resolve_sequences(&mut self, out: &mut ProducerOutput<P>) {
        let transactional = self.is_transactional();
        let mut unresolved = Vec::new();
        for (tp, entry) in self.partitions.iter_mut() {
            if entry.unresolved.is_none() || !entry.in_flight.is_empty() {
                continue;
            }
            entry.unresolved = None;
            let resolved = increment_sequence(entry.last_acked_sequence, 1) == entry.next_sequence;
            if !resolved {
                unresolved.push(tp.clone());
            }
        }
        for tp in unresolved {
            if !transactional {
                self.request_idempotent_bump(&tp, out);
            } else if self.state == TransactionState::FatalError {
                // Already fatal: nothing more to do.
            } else if self.can_handle_abortable() {
                if self.need_client_bump() && !self.config.bugs.abort_without_bump_after_timeout {
                    self.epoch_bump_required = true;
                }
                // The expiry already made the transaction abortable (or it is aborting, where
                // `transitionToAbortableError` is a no-op); enter it only if it is not.
                if self.state != TransactionState::AbortableError {
                    self.enter_abortable(ErrorCode::TransactionAbortable, out);
                }
            } else {
                // "It isn't safe to continue": Kafka's plain KafkaException, recorded as
                // UNKNOWN_SERVER_ERROR (`Errors.forException` of an unknown exception).
                self.enter_fatal(ErrorCode::UnknownServerError, out);
            }
        }
    }

    /// Whether new batches of the partition may be drained: a producer id is held, the
    /// partition awaits no sequence rewrite, and the producer is READY (idempotent) or its
    /// transaction is open or committing and the partition was added to it (transactional).
    fn can_drain_partition(&self, tp: &TopicPartition) -> bool {
        if self.producer_id == NO_PRODUCER_ID && self.is_idempotent() {
            return false;
        }
        if self.rewrite_partitions.contains(tp) {
            return false;
        }
        if self.is_transactional() {
            matches!(
                self.state,
                TransactionState::InTransaction | TransactionState::CommittingTransaction
            ) && self.partitions_in_txn.contains(tp)
        } else {
            self.state == TransactionState::Ready
        }
    }

    /// `RecordAccumulator.drain`: per partition, the retry that is lowest in flight is re-sent,
    /// else new batches take the next sequences, up to `max_in_flight` in flight. Without
    /// idempotence batches take no sequence (`NO_SEQUENCE`) and no producer id, and a retry
    /// goes first as Kafka re-enqueues it at the head of its partition's queue
    /// (`RecordAccumulator.reenqueue`).
    fn drain(&mut self, out: &mut ProducerOutput<P>) {
        let parts: Vec<TopicPartition> = self.partitions.keys().cloned().collect();
        let max = usize::from(self.config.max_in_flight);
        let (pid, epoch) = (self.producer_id, self.producer_epoch);
        let transactional_id = self.config.transactional_id.clone();
        let transactional_id = transactional_id.as_deref();
        let version = self.produce_version();
        let sequenced = self.is_idempotent();
        for tp in parts {
            // Retries may be re-sent in any state where the batch's transaction is alive.
            let retry_ok = (self.producer_id != NO_PRODUCER_ID || !self.is_idempotent())
                && !self.rewrite_partitions.contains(&tp)
                && !matches!(self.state, TransactionState::FatalError);
            let can_new = self.can_drain_partition(&tp);
            let Some(entry) = self.partitions.get(&tp) else {
                continue;
            };
            // A retry is sent only when it is the lowest sequence in flight.
            if entry.in_flight.first().is_some_and(|b| b.request.is_none()) {
                if retry_ok {
                    let id = self.next_id();
                    if let Some(first) = self
                        .partitions
                        .get_mut(&tp)
                        .and_then(|e| e.in_flight.first_mut())
                    {
                        first.request = Some(id);
                        out.sends
                            .push(first.produce_request(id, &tp, transactional_id, version));
                        self.outstanding
                            .insert(id, Outstanding::Produce(tp.clone(), first.id));
                    }
                }
                continue;
            }
            if entry.in_flight.iter().any(|b| b.request.is_none()) {
                continue; // new batches wait behind retries
            }
            if !can_new {
                continue;
            }
            while self
                .partitions
                .get_mut(&tp)
                .is_some_and(|e| e.prepare_drain(pid, epoch, max))
            {
                let id = self.next_id();
                let Some(b) = self
                    .partitions
                    .get_mut(&tp)
                    .and_then(|e| e.drain_next(pid, epoch, sequenced, id))
                else {
                    break;
                };
                out.sends
                    .push(b.produce_request(id, &tp, transactional_id, version));
                self.outstanding
                    .insert(id, Outstanding::Produce(tp.clone(), b.id));
            }
        }
    }
}
