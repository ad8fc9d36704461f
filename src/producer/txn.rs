//! The transactional request queue and its handlers (Kafka's `TransactionManager`: the
//! `TxnRequestHandler`s of InitProducerId, AddPartitionsToTxn, EndTxn, AddOffsetsToTxn and
//! TxnOffsetCommit, and `completeTransaction`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::group::{
    TxnOffsetCommitRequest, TxnOffsetCommitResponse, TXN_OFFSET_COMMIT_LAST_BEFORE_TV2_VERSION,
    TXN_OFFSET_COMMIT_VERSION,
};
use crate::messages::{
    end_txn_version_for, AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest,
    InitProducerIdRequest, ProducerIdAndEpoch, ADD_OFFSETS_TO_TXN_VERSION,
    INIT_PRODUCER_ID_VERSION,
};
use crate::types::{
    Offset, TopicPartition, TransactionResult, TransactionVersion, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
};

use super::{
    BatchError, ConsumerGroupMetadata, OffsetsError, Outstanding, Producer, ProducerEvent,
    ProducerOutput, Request, Response, TransactionState,
};

/// The TxnOffsetCommit version a Java client of `transaction_version` sends
/// (`TxnOffsetCommitRequest.Builder.build`): v5 with TV2 (the offsets partition's leader adds
/// it to the transaction), else the last before TV2 (v4), which carries the group metadata
/// (v3+).
pub(super) fn txn_offset_commit_version_for(transaction_version: TransactionVersion) -> i16 {
    if transaction_version.supports_epoch_bump() {
        TXN_OFFSET_COMMIT_VERSION
    } else {
        TXN_OFFSET_COMMIT_LAST_BEFORE_TV2_VERSION
    }
}

/// A transactional request waiting to be sent, or in flight (priority order of
/// `TransactionManager.Priority`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TxnRequest {
    /// InitProducerId; `bump` = the KIP-360 epoch-bump one (priority EPOCH_BUMP).
    InitProducerId {
        /// Whether it is the epoch bump (carries the current id and epoch).
        bump: bool,
    },
    /// AddPartitionsToTxn of these partitions.
    AddPartitions(Vec<TopicPartition>),
    /// EndTxn.
    EndTxn(TransactionResult),
    /// AddOffsetsToTxn for `group` (TV0/TV1), then the TxnOffsetCommit of `offsets`.
    AddOffsets {
        /// The consumer group metadata of the call.
        group: ConsumerGroupMetadata,
        /// The offsets of the call.
        offsets: BTreeMap<TopicPartition, Offset>,
    },
    /// TxnOffsetCommit of `offsets` for `group`: the call's offsets together with any still
    /// pending from earlier calls (`pendingTxnOffsetCommits` when the request was built); a
    /// retry sends the same offsets again.
    TxnOffsetCommit {
        /// The consumer group metadata of the call.
        group: ConsumerGroupMetadata,
        /// The offsets the request carries.
        offsets: BTreeMap<TopicPartition, Offset>,
    },
}

impl TxnRequest {
    fn priority(&self) -> u8 {
        match self {
            TxnRequest::InitProducerId { bump: false } => 1,
            TxnRequest::AddPartitions(_)
            | TxnRequest::AddOffsets { .. }
            | TxnRequest::TxnOffsetCommit { .. } => 2,
            TxnRequest::EndTxn(_) => 3,
            TxnRequest::InitProducerId { bump: true } => 4,
        }
    }
}

impl<P: Clone> Producer<P> {
    /// Queues a transactional request after every queued one of the same or a more urgent
    /// `Priority` (`TransactionManager.enqueueRequest`).
    pub(super) fn enqueue_txn(&mut self, request: TxnRequest) {
        let pos = self
            .txn_queue
            .iter()
            .position(|r| r.priority() > request.priority())
            .unwrap_or(self.txn_queue.len());
        self.txn_queue.insert(pos, request);
    }

    /// `txnOffsetCommitHandler`: the call's offsets join the pending ones, and a TxnOffsetCommit
    /// of all of them is queued.
    pub(super) fn queue_txn_offset_commit(
        &mut self,
        group: ConsumerGroupMetadata,
        offsets: BTreeMap<TopicPartition, Offset>,
    ) {
        self.pending_offsets.extend(offsets);
        let offsets = self.pending_offsets.clone();
        self.enqueue_txn(TxnRequest::TxnOffsetCommit { group, offsets });
    }

    /// Drops the queued transactional requests (`maybeTerminateRequestWithError`): a
    /// `sendOffsetsToTransaction` call among them fails with `error`.
    pub(super) fn drop_txn_queue(&mut self, error: ErrorCode, out: &mut ProducerOutput<P>) {
        for req in self.txn_queue.drain(..) {
            if let TxnRequest::AddOffsets { group, .. }
            | TxnRequest::TxnOffsetCommit { group, .. } = req
            {
                out.events.push(ProducerEvent::OffsetsFailed {
                    group_id: group.group_id,
                    error: OffsetsError::Kafka(error),
                });
            }
        }
    }

    /// `beginCompletingTransaction`: queues EndTxn, sent once the transaction's batches have
    /// completed (or the empty transaction completes locally).
    pub(super) fn begin_completing(
        &mut self,
        result: TransactionResult,
        out: &mut ProducerOutput<P>,
    ) {
        self.enqueue_txn(TxnRequest::EndTxn(result));
        self.poll(out);
    }

    /// `completeTransaction`: after EndTxn (or the local completion of an empty transaction).
    pub(super) fn complete_transaction(
        &mut self,
        ended: TransactionResult,
        adopted: Option<ProducerIdAndEpoch>,
        out: &mut ProducerOutput<P>,
    ) {
        if let Some(ProducerIdAndEpoch {
            producer_id: pid,
            producer_epoch: epoch,
        }) = adopted
        {
            if pid >= 0 && epoch >= 0 {
                self.producer_id = pid;
                self.producer_epoch = epoch;
            }
        }
        let bump = self.epoch_bump_required;
        if bump {
            self.background(TransactionState::Initializing, out);
            self.enqueue_txn(TxnRequest::InitProducerId { bump: true });
        } else {
            self.background(TransactionState::Ready, out);
            self.last_error = None;
        }
        self.partitions_in_txn.clear();
        self.new_partitions.clear();
        self.pending_partitions.clear();
        // Unlike Kafka, which clears `pendingTxnOffsetCommits` only when a TxnOffsetCommit
        // fails: offsets of a call dropped unsent must not ride along the next transaction.
        self.pending_offsets.clear();
        self.transaction_started = false;
        if bump && self.state == TransactionState::Initializing {
            // The application's commit/abort completes with the epoch bump.
            self.completing_result = Some(ended);
        } else {
            out.events.push(Self::completed_event(ended));
        }
    }

    fn completed_event(ended: TransactionResult) -> ProducerEvent {
        match ended {
            TransactionResult::Commit => ProducerEvent::TransactionCommitted,
            TransactionResult::Abort => ProducerEvent::TransactionAborted,
        }
    }

    /// The response to the in-flight transactional request: the `handleResponse` of its
    /// `TxnRequestHandler` (retried, abortable or fatal per RPC).
    pub(super) fn on_txn_response(
        &mut self,
        req: TxnRequest,
        resp: Response,
        out: &mut ProducerOutput<P>,
    ) {
        if self.state == TransactionState::FatalError {
            return;
        }
        match (req, resp) {
            (TxnRequest::InitProducerId { bump }, Response::InitProducerId(r)) => match r {
                Ok(ProducerIdAndEpoch {
                    producer_id: pid,
                    producer_epoch: epoch,
                }) => {
                    self.producer_id = pid;
                    self.producer_epoch = epoch;
                    self.background(TransactionState::Ready, out);
                    if self.state == TransactionState::Ready {
                        self.epoch_bump_required = false;
                        self.last_error = None;
                        out.events.push(ProducerEvent::Initialized {
                            producer_id: pid,
                            producer_epoch: epoch,
                        });
                        if let Some(ended) = self.completing_result.take() {
                            out.events.push(Self::completed_event(ended));
                        }
                    }
                }
                Err(e) if e.is_retriable() => self
                    .txn_queue
                    .insert(0, TxnRequest::InitProducerId { bump }),
                Err(ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced) => {
                    self.enter_fatal(ErrorCode::ProducerFenced, out)
                }
                Err(
                    e @ (ErrorCode::TransactionalIdAuthorizationFailed
                    | ErrorCode::ClusterAuthorizationFailed
                    | ErrorCode::TransactionAbortable),
                ) if self.is_transactional() => self.enter_abortable(e, out),
                Err(e) => self.enter_fatal(e, out),
            },
            (TxnRequest::AddPartitions(parts), Response::AddPartitionsToTxn(r)) => match r {
                Ok(()) => {
                    for p in parts {
                        self.pending_partitions.remove(&p);
                        self.partitions_in_txn.insert(p);
                    }
                    self.transaction_started = true;
                }
                Err(e) if e.is_retriable() => {
                    self.txn_queue.insert(0, TxnRequest::AddPartitions(parts))
                }
                Err(e) => {
                    for p in &parts {
                        self.pending_partitions.remove(p);
                    }
                    // The held batches of these partitions fail with the error (a stale
                    // epoch is reported as the PRODUCER_FENCED it becomes).
                    let batch_error = match e {
                        ErrorCode::InvalidProducerEpoch => ErrorCode::ProducerFenced,
                        other => other,
                    };
                    for p in &parts {
                        if let Some(entry) = self.partitions.get_mut(p) {
                            for b in entry.queued.drain(..) {
                                out.events.push(ProducerEvent::SendFailed {
                                    batch: b.id,
                                    partition: p.clone(),
                                    error: BatchError::Kafka(batch_error),
                                });
                            }
                        }
                    }
                    match e {
                        ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => {
                            self.enter_fatal(ErrorCode::ProducerFenced, out)
                        }
                        ErrorCode::TransactionalIdAuthorizationFailed
                        | ErrorCode::InvalidTxnState
                        | ErrorCode::InvalidProducerIdMapping
                        | ErrorCode::ClusterAuthorizationFailed
                        | ErrorCode::UnsupportedVersion => self.enter_fatal(e, out),
                        ErrorCode::UnknownProducerId => self.enter_abortable_if_possible(e, out),
                        _ => self.enter_abortable(e, out),
                    }
                }
            },
            (TxnRequest::EndTxn(result), Response::EndTxn(r)) => match r {
                Ok(adopted) => self.complete_transaction(result, adopted, out),
                Err(e) if e.is_retriable() => self.txn_queue.insert(0, TxnRequest::EndTxn(result)),
                Err(ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced) => {
                    self.enter_fatal(ErrorCode::ProducerFenced, out)
                }
                Err(ErrorCode::UnknownProducerId) => {
                    self.enter_abortable_if_possible(ErrorCode::UnknownProducerId, out);
                    if self.state == TransactionState::AbortingTransaction {
                        out.events
                            .push(ProducerEvent::Error(ErrorCode::UnknownProducerId));
                    }
                }
                Err(ErrorCode::TransactionAbortable) if result == TransactionResult::Commit => {
                    self.enter_abortable(ErrorCode::TransactionAbortable, out)
                }
                Err(e) => self.enter_fatal(e, out),
            },
            (TxnRequest::AddOffsets { group, offsets }, Response::AddOffsetsToTxn(r)) => {
                self.on_add_offsets_response(group, offsets, r, out)
            }
            (TxnRequest::TxnOffsetCommit { group, offsets }, Response::TxnOffsetCommit(r)) => {
                self.on_txn_offset_commit_response(group, offsets, r, out)
            }
            _ => {}
        }
    }

    /// `AddOffsetsToTxnHandler.handleResponse`.
    fn on_add_offsets_response(
        &mut self,
        group: ConsumerGroupMetadata,
        offsets: BTreeMap<TopicPartition, Offset>,
        r: Result<(), ErrorCode>,
        out: &mut ProducerOutput<P>,
    ) {
        let error = match r {
            Ok(()) => {
                // The call completes only when its TxnOffsetCommit does.
                self.queue_txn_offset_commit(group, offsets);
                self.transaction_started = true;
                return;
            }
            // NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE (after a coordinator lookup, which is
            // the caller's), CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS, ...
            Err(e) if e.is_retriable() => {
                self.enqueue_txn(TxnRequest::AddOffsets { group, offsets });
                return;
            }
            Err(e) => e,
        };
        let surfaced = match error {
            ErrorCode::InvalidProducerEpoch => ErrorCode::ProducerFenced,
            other => other,
        };
        out.events.push(ProducerEvent::OffsetsFailed {
            group_id: group.group_id,
            error: OffsetsError::Kafka(surfaced),
        });
        match error {
            ErrorCode::UnknownProducerId => self.enter_abortable_if_possible(error, out),
            ErrorCode::GroupAuthorizationFailed | ErrorCode::TransactionAbortable => {
                self.enter_abortable(error, out)
            }
            // PRODUCER_FENCED (INVALID_PRODUCER_EPOCH from an old coordinator),
            // TRANSACTIONAL_ID_AUTHORIZATION_FAILED, INVALID_TXN_STATE,
            // INVALID_PRODUCER_ID_MAPPING, and any unexpected error.
            _ => self.enter_fatal(surfaced, out),
        }
    }

    /// `TxnOffsetCommitHandler.handleResponse`: per partition in order, success removes it from
    /// the pending offsets, a retriable error leaves it, and the first other error fails the
    /// call (the partitions after it are not looked at). The call completes once nothing is
    /// pending; otherwise the same request is queued again.
    fn on_txn_offset_commit_response(
        &mut self,
        group: ConsumerGroupMetadata,
        offsets: BTreeMap<TopicPartition, Offset>,
        r: TxnOffsetCommitResponse,
        out: &mut ProducerOutput<P>,
    ) {
        let mut failure = None;
        for (partition, result) in &r.partitions {
            match result {
                Ok(()) => {
                    self.pending_offsets.remove(partition);
                }
                // COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, REQUEST_TIMED_OUT (after a group
                // coordinator lookup, which is the caller's), UNKNOWN_TOPIC_OR_PARTITION,
                // COORDINATOR_LOAD_IN_PROGRESS, CONCURRENT_TRANSACTIONS, ...
                Err(e) if e.is_retriable() => {}
                Err(e) => {
                    failure = Some(*e);
                    break;
                }
            }
        }
        let Some(error) = failure else {
            if self.pending_offsets.is_empty() {
                out.events.push(ProducerEvent::OffsetsSent {
                    group_id: group.group_id,
                    offsets,
                });
            } else {
                // `reenqueue`: behind the requests of its priority.
                self.enqueue_txn(TxnRequest::TxnOffsetCommit { group, offsets });
            }
            return;
        };
        self.pending_offsets.clear();
        let (surfaced, fatal) = match error {
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                (OffsetsError::CommitFailed(error), false)
            }
            ErrorCode::GroupAuthorizationFailed
            | ErrorCode::FencedInstanceId
            | ErrorCode::TransactionAbortable => (OffsetsError::Kafka(error), false),
            ErrorCode::InvalidProducerEpoch | ErrorCode::ProducerFenced => {
                (OffsetsError::Kafka(ErrorCode::ProducerFenced), true)
            }
            // TRANSACTIONAL_ID_AUTHORIZATION_FAILED, UNSUPPORTED_FOR_MESSAGE_FORMAT, and any
            // unexpected error (TOPIC_AUTHORIZATION_FAILED, INVALID_TXN_STATE, ...).
            other => (OffsetsError::Kafka(other), true),
        };
        out.events.push(ProducerEvent::OffsetsFailed {
            group_id: group.group_id,
            error: surfaced,
        });
        if fatal {
            self.enter_fatal(surfaced.code(), out);
        } else {
            self.enter_abortable(surfaced.code(), out);
        }
    }

    /// `Sender.maybeSendAndPollTransactionalRequest`: sends the next queued transactional
    /// request, one at a time; EndTxn waits for the transaction's batches.
    pub(super) fn send_txn_request(&mut self, out: &mut ProducerOutput<P>) {
        loop {
            if self.txn_in_flight.is_some() || self.state == TransactionState::FatalError {
                return;
            }
            if self.state == TransactionState::AbortableError {
                // maybeTerminateRequestWithError: nothing is sent in an error state.
                let error = self.last_error.unwrap_or(ErrorCode::TransactionAbortable);
                self.drop_txn_queue(error, out);
                return;
            }
            let Some(next) = self.txn_queue.first().cloned() else {
                return;
            };
            if let TxnRequest::EndTxn(result) = next {
                if !self.transaction_started {
                    // Nothing was added: the transaction completes locally, no EndTxn.
                    self.txn_queue.remove(0);
                    self.complete_transaction(result, None, out);
                    continue;
                }
                if self.has_incomplete_batches() {
                    return;
                }
            }
            self.txn_queue.remove(0);
            let id = self.next_id();
            let txn_id = self.config.transactional_id.clone();
            let request = match &next {
                TxnRequest::InitProducerId { bump } => Request::InitProducerId {
                    id,
                    request: InitProducerIdRequest {
                        transactional_id: txn_id,
                        transaction_timeout_ms: self.config.transaction_timeout_ms,
                        producer_id: if *bump {
                            self.producer_id
                        } else {
                            NO_PRODUCER_ID
                        },
                        producer_epoch: if *bump {
                            self.producer_epoch
                        } else {
                            NO_PRODUCER_EPOCH
                        },
                        version: INIT_PRODUCER_ID_VERSION,
                    },
                },
                TxnRequest::AddPartitions(parts) => Request::AddPartitionsToTxn {
                    id,
                    request: AddPartitionsToTxnRequest::from_client(
                        txn_id.unwrap_or_default(),
                        self.producer_id,
                        self.producer_epoch,
                        parts.iter().cloned().collect(),
                    ),
                },
                TxnRequest::EndTxn(result) => Request::EndTxn {
                    id,
                    request: EndTxnRequest {
                        transactional_id: txn_id.unwrap_or_default(),
                        producer_id: self.producer_id,
                        producer_epoch: self.producer_epoch,
                        result: *result,
                        version: end_txn_version_for(self.config.transaction_version),
                    },
                },
                TxnRequest::AddOffsets { group, .. } => Request::AddOffsetsToTxn {
                    id,
                    request: AddOffsetsToTxnRequest {
                        transactional_id: txn_id.unwrap_or_default(),
                        producer_id: self.producer_id,
                        producer_epoch: self.producer_epoch,
                        group_id: group.group_id.clone(),
                        version: ADD_OFFSETS_TO_TXN_VERSION,
                    },
                },
                TxnRequest::TxnOffsetCommit { group, offsets } => Request::TxnOffsetCommit {
                    id,
                    request: TxnOffsetCommitRequest {
                        transactional_id: txn_id.unwrap_or_default(),
                        group_id: group.group_id.clone(),
                        producer_id: self.producer_id,
                        producer_epoch: self.producer_epoch,
                        generation_id: group.generation_id,
                        member_id: group.member_id.clone(),
                        group_instance_id: group.group_instance_id.clone(),
                        offsets: offsets.clone(),
                        version: txn_offset_commit_version_for(self.config.transaction_version),
                    },
                },
            };
            self.outstanding.insert(id, Outstanding::Txn(next));
            self.txn_in_flight = Some(id);
            out.sends.push(request);
            return;
        }
    }
}
