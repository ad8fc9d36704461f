//! The producer client: Kafka's idempotent and transactional producer as a pure state machine.
//!
//! This encodes the client side of the exactly-once protocol as Kafka's Java client implements
//! it (`clients/.../producer/internals/TransactionManager.java`, `TxnPartitionMap`,
//! `TxnPartitionEntry`, and the relevant parts of `Sender` and `RecordAccumulator`):
//!
//! - the transaction states and their legal transitions ([`TransactionState`],
//!   `TransactionManager.State.isTransitionValid`);
//! - `sendOffsetsToTransaction` ([`Producer::send_offsets_to_transaction`]): AddOffsetsToTxn to
//!   the transaction coordinator under TV0/TV1, then TxnOffsetCommit to the group coordinator
//!   (v5 alone under TV2), with the `AddOffsetsToTxnHandler`/`TxnOffsetCommitHandler` error
//!   classes (UNKNOWN_MEMBER_ID/ILLEGAL_GENERATION: `CommitFailedException`, abortable);
//! - per-partition sequence numbers assigned when a batch is drained, at most `max_in_flight`
//!   batches in flight per partition, retries that keep their sequence and are re-sent only
//!   when they are the lowest sequence in flight;
//! - error classes per RPC (retriable, abortable, fatal: `canRetry`, `handleFailedBatch`, the
//!   `TxnRequestHandler`s, KIP-1050);
//! - the idempotent producer's local epoch bump (KIP-360) and its producer-id reset at epoch
//!   32767; the transactional producer's client epoch bump after an abortable error (TV1,
//!   InitProducerId v3+) and its adoption of the epoch returned by EndTxn (TV2, KIP-890).
//!
//! Sans-IO: every input returns a [`ProducerOutput`] listing the requests to send and the
//! events for the application; nothing is queued inside the state for later delivery. Time is
//! an input (`now`). A call refused by the state machine returns a [`ProducerCallError`] and
//! changes nothing.
//!
//! The code follows Kafka's own seams: `messages` holds the types that cross the API, `state`
//! the `TransactionManager.State` transitions and the routing of errors to their class, `txn`
//! the transactional request queue and its handlers, `sequencing` the per-partition sequence
//! state (`TxnPartitionEntry`) and the produce-response handling, and `sender` the `Sender`
//! loop that drains batches and sends requests.

mod messages;
mod sender;
mod sequencing;
mod state;
mod txn;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::messages::produce_version_for;
use crate::types::{
    Offset, ProducerEpoch, ProducerId, Sequence, TimestampMs, TopicPartition, TransactionResult,
    TransactionVersion, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NUM_BATCHES_TO_RETAIN,
};

pub use messages::{
    BatchError, BatchId, Call, ConsumerGroupMetadata, OffsetsError, Outstanding, ProducerCallError,
    ProducerEvent, ProducerInputError, ProducerOutput, Request, RequestId, Response,
};
pub use sequencing::{Batch, PartitionEntry};
pub use state::{ErrorClass, TransactionState};
pub use txn::TxnRequest;

/// Known client bugs, each a switch that re-introduces one mutant (a past Kafka client bug,
/// named below by its JIRA issue or KIP) so a model checker can show the property it breaks.
/// `Default` is all off: Kafka's real behaviour.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ProducerBugs {
    /// M-I3 (KIP-360 motivation, KAFKA-18579): after an ambiguous outcome (a retriable error or a
    /// lost response) the batch is re-sent with a *new* sequence (idempotent: a local epoch bump
    /// and sequences from 0; transactional: the next free sequence) instead of the same one.
    pub reset_sequence_on_ambiguous: bool,
    /// M-T6 (KIP-890 motivation): under TV0/TV1 the producer writes to a partition without
    /// sending AddPartitionsToTxn first.
    pub skip_add_partitions: bool,
    /// M-T3 (KAFKA-17754, Jepsen): when an EndTxn(COMMIT) request is lost, the client treats
    /// the transaction as aborted and returns to READY at the same epoch, instead of re-sending
    /// the commit; the delayed commit can then end a later transaction.
    pub abort_after_commit_timeout: bool,
    /// M-T4 (KAFKA-14053): a batch that expires (delivery timeout) makes the transaction
    /// abortable but does not require the client epoch bump, so the abort leaves the stuck
    /// batch unfenced (TV0/TV1; under TV2 the coordinator bumps anyway).
    pub abort_without_bump_after_timeout: bool,
    /// M-E1 (KAFKA-13574): NOT_LEADER_OR_FOLLOWER on a produce is treated as a definite failure
    /// (the batch is reported failed and not retried) although the write may be in the log.
    pub not_leader_is_definite_failure: bool,
    /// KAFKA-9279 (apache/kafka#11508; redpanda#17921): a transactional batch that fails (an
    /// error that is not retried, or its delivery timeout) is reported to its callback but does
    /// not make the transaction abortable, so `commitTransaction()` succeeds although a record
    /// of the transaction was never written. Kafka's `TransactionManager.handleFailedBatch` →
    /// `maybeTransitionToErrorState` → `transitionToAbortableError` makes it abortable.
    #[serde(default)]
    pub commit_despite_failed_send: bool,
}

/// The producer's configuration (Kafka's `ProducerConfig`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProducerConfig {
    /// `enable.idempotence` (default true, Kafka 3.0+'s default, KIP-679). Without it the
    /// client has no `TransactionManager`: no InitProducerId, every batch carries
    /// `NO_PRODUCER_ID`, `NO_PRODUCER_EPOCH` and `NO_SEQUENCE`, and a retry re-sends the same
    /// batch, which the leader appends again (no duplicate detection without a producer id).
    #[serde(default = "idempotence_default")]
    pub enable_idempotence: bool,
    /// `transactional.id`; `None` for an idempotent (non-transactional) producer.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`, sent in InitProducerId (default 60000).
    pub transaction_timeout_ms: i32,
    /// The finalized `transaction.version` the client uses (default TV2).
    pub transaction_version: TransactionVersion,
    /// Whether the coordinator supports InitProducerId v3+ (KIP-360 client epoch bump,
    /// `TransactionManager.coordinatorSupportsBumpingEpoch`); default true.
    pub coordinator_supports_epoch_bump: bool,
    /// `max.in.flight.requests.per.connection`, 1..=5 with idempotence (`ProducerConfig`
    /// throws ConfigException otherwise); here per partition.
    pub max_in_flight: u8,
    /// `delivery.timeout.ms`: a batch whose request is lost after this long since it was sent
    /// by the application expires instead of being retried (default 120000).
    pub delivery_timeout_ms: i64,
    /// The highest producer epoch (`Short.MAX_VALUE`, default `i16::MAX`): at it the idempotent
    /// client's own epoch bump resets the producer id instead (`bumpIdempotentProducerEpoch`). A
    /// model parameter, set to the coordinator's
    /// [`exhausted_epoch`](crate::coordinator::CoordinatorConfig::exhausted_epoch) + 1 so that
    /// client and coordinator agree on a small epoch space; keep the default outside models.
    pub max_producer_epoch: ProducerEpoch,
    /// Known-bug switches (all off by default).
    pub bugs: ProducerBugs,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            enable_idempotence: true,
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            transaction_version: TransactionVersion::Tv2,
            coordinator_supports_epoch_bump: true,
            max_in_flight: 5,
            delivery_timeout_ms: 120_000,
            max_producer_epoch: ProducerEpoch::MAX,
            bugs: ProducerBugs::default(),
        }
    }
}

/// The default of [`ProducerConfig::enable_idempotence`] (serde).
fn idempotence_default() -> bool {
    true
}

impl ProducerConfig {
    /// Kafka's `ProducerConfig` checks: a `transactional.id` requires idempotence
    /// (`ProducerConfig.postProcessAndValidateIdempotenceConfigs`: "Cannot set a
    /// transactional.id without also enabling idempotence"); with idempotence
    /// `max.in.flight.requests.per.connection` must be in 1..=5 (the broker keeps 5 batches per
    /// producer for duplicate detection), without it at least 1 (`atLeast(1)`).
    pub fn validate(&self) -> Result<(), ProducerConfigError> {
        if !self.enable_idempotence && self.transactional_id.is_some() {
            return Err(ProducerConfigError::TransactionalIdWithoutIdempotence);
        }
        let max = if self.enable_idempotence {
            NUM_BATCHES_TO_RETAIN
        } else {
            usize::from(u8::MAX)
        };
        if self.max_in_flight == 0 || usize::from(self.max_in_flight) > max {
            return Err(ProducerConfigError::MaxInFlight(self.max_in_flight));
        }
        if let Some(id) = &self.transactional_id {
            if id.is_empty() {
                return Err(ProducerConfigError::EmptyTransactionalId);
            }
        }
        Ok(())
    }
}

/// An invalid producer configuration (Kafka's `ConfigException`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProducerConfigError {
    /// `max.in.flight.requests.per.connection` outside 1..=5 with idempotence enabled.
    #[error(
        "max.in.flight.requests.per.connection must be between 1 and 5 with idempotence, got {0}"
    )]
    MaxInFlight(u8),
    /// An empty `transactional.id` (the coordinator answers INVALID_REQUEST to it).
    #[error("transactional.id must not be empty")]
    EmptyTransactionalId,
    /// A `transactional.id` with `enable.idempotence=false` (Kafka's `ConfigException` from
    /// `ProducerConfig.postProcessAndValidateIdempotenceConfigs`).
    #[error("Cannot set a transactional.id without also enabling idempotence.")]
    TransactionalIdWithoutIdempotence,
}

/// The states of Kafka's `TransactionManager.State` (2PC's PREPARED_TRANSACTION is not
/// The producer client state machine (`TransactionManager` + the sequencing parts of the
/// `RecordAccumulator`/`Sender`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Producer<P> {
    config: ProducerConfig,
    state: TransactionState,
    producer_id: ProducerId,
    producer_epoch: ProducerEpoch,
    partitions: BTreeMap<TopicPartition, PartitionEntry<P>>,
    /// TV1: partitions added to the transaction (`partitionsInTransaction`).
    partitions_in_txn: BTreeSet<TopicPartition>,
    /// TV1: partitions to add, not yet requested (`newPartitionsInTransaction`).
    new_partitions: BTreeSet<TopicPartition>,
    /// TV1: partitions whose AddPartitionsToTxn is queued or in flight.
    pending_partitions: BTreeSet<TopicPartition>,
    /// `transactionStarted`: something was added, so EndTxn must be sent.
    transaction_started: bool,
    /// `pendingTxnOffsetCommits`: the offsets of `sendOffsetsToTransaction` calls whose
    /// TxnOffsetCommit has not yet succeeded for them, by partition (shared by every call).
    pending_offsets: BTreeMap<TopicPartition, Offset>,
    /// `clientSideEpochBumpRequired`.
    epoch_bump_required: bool,
    /// The commit/abort whose completion waits for the client epoch bump that follows its
    /// EndTxn (`beginCompletingTransaction` returns the bump's `InitProducerId` result).
    completing_result: Option<TransactionResult>,
    /// Idempotent: partitions whose in-flight sequences are rewritten at the new epoch
    /// (`partitionsToRewriteSequences`).
    rewrite_partitions: BTreeSet<TopicPartition>,
    last_error: Option<ErrorCode>,
    /// Poisoned by an invalid background transition (KAFKA-14831).
    poisoned: bool,
    txn_queue: Vec<TxnRequest>,
    txn_in_flight: Option<RequestId>,
    outstanding: BTreeMap<RequestId, Outstanding>,
    next_request_id: RequestId,
    next_batch_id: BatchId,
}

impl<P: Clone> Producer<P> {
    /// A new producer in UNINITIALIZED (`new TransactionManager(...)`), or the config error.
    pub fn new(config: ProducerConfig) -> Result<Self, ProducerConfigError> {
        config.validate()?;
        Ok(Producer {
            config,
            state: TransactionState::Uninitialized,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            partitions: BTreeMap::new(),
            partitions_in_txn: BTreeSet::new(),
            new_partitions: BTreeSet::new(),
            pending_partitions: BTreeSet::new(),
            transaction_started: false,
            pending_offsets: BTreeMap::new(),
            epoch_bump_required: false,
            completing_result: None,
            rewrite_partitions: BTreeSet::new(),
            last_error: None,
            poisoned: false,
            txn_queue: Vec::new(),
            txn_in_flight: None,
            outstanding: BTreeMap::new(),
            next_request_id: 0,
            next_batch_id: 0,
        })
    }

    // ---------------------------------------------------------------- observers

    /// The configuration.
    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }
    /// The current state.
    pub fn state(&self) -> TransactionState {
        self.state
    }
    /// The producer id (-1: none).
    pub fn producer_id(&self) -> ProducerId {
        self.producer_id
    }
    /// The producer epoch (-1: none).
    pub fn producer_epoch(&self) -> ProducerEpoch {
        self.producer_epoch
    }
    /// The error later calls re-throw (`lastError`).
    pub fn last_error(&self) -> Option<ErrorCode> {
        self.last_error
    }
    /// The class of the current error state, if any.
    pub fn error_class(&self) -> Option<ErrorClass> {
        match self.state {
            TransactionState::AbortableError => Some(ErrorClass::Abortable),
            TransactionState::FatalError => Some(ErrorClass::Fatal),
            _ => None,
        }
    }
    /// Whether this is a transactional producer.
    pub fn is_transactional(&self) -> bool {
        self.config.transactional_id.is_some()
    }
    /// Whether idempotence is enabled (`enable.idempotence`; Kafka's `KafkaProducer` has a
    /// `TransactionManager` exactly then).
    pub fn is_idempotent(&self) -> bool {
        self.config.enable_idempotence
    }
    /// Whether the client epoch bump will follow the next EndTxn (`clientSideEpochBumpRequired`).
    pub fn epoch_bump_required(&self) -> bool {
        self.epoch_bump_required
    }
    /// The sequence the next new batch to `partition` gets (`TxnPartitionEntry.nextSequence`);
    /// 0 when the partition's sequences belong to an older producer id or epoch (they restart
    /// at 0 when it is next drained).
    pub fn next_sequence(&self, partition: &TopicPartition) -> Sequence {
        match self.partitions.get(partition) {
            Some(e) if self.entry_is_current(e) => e.next_sequence,
            _ => 0,
        }
    }
    /// The partition's state, if the producer has used it.
    pub fn partition(&self, partition: &TopicPartition) -> Option<&PartitionEntry<P>> {
        self.partitions.get(partition)
    }
    /// The partitions the producer has used.
    pub fn partitions(&self) -> impl Iterator<Item = (&TopicPartition, &PartitionEntry<P>)> {
        self.partitions.iter()
    }
    /// Number of Produce requests outstanding for `partition`.
    pub fn in_flight_requests(&self, partition: &TopicPartition) -> usize {
        self.partitions.get(partition).map_or(0, |e| {
            e.in_flight.iter().filter(|b| b.request.is_some()).count()
        })
    }
    /// The outstanding requests, by id.
    pub fn outstanding(&self) -> &BTreeMap<RequestId, Outstanding> {
        &self.outstanding
    }
    /// TV1: the partitions added to the current transaction.
    pub fn partitions_in_transaction(&self) -> &BTreeSet<TopicPartition> {
        &self.partitions_in_txn
    }
    /// The offsets of `sendOffsetsToTransaction` calls not yet acknowledged by a TxnOffsetCommit
    /// (`pendingTxnOffsetCommits`): a TxnOffsetCommit queued after them carries them too.
    pub fn pending_offset_commits(&self) -> &BTreeMap<TopicPartition, Offset> {
        &self.pending_offsets
    }

    /// Whether the partition's sequences belong to the current producer id and epoch.
    fn entry_is_current(&self, e: &PartitionEntry<P>) -> bool {
        e.is_sequenced_under(self.producer_id, self.producer_epoch)
    }

    /// Whether the transaction version bumps the epoch on every EndTxn (TV2, KIP-890).
    fn tv2(&self) -> bool {
        self.config.transaction_version.supports_epoch_bump()
    }

    /// The Produce version the Java client sends (`ProduceRequest.builder`): the newest with
    /// TV2, else the last before TV2, so that the leader verifies (KIP-890 part 1) without the
    /// implicit add.
    fn produce_version(&self) -> i16 {
        produce_version_for(self.config.transaction_version)
    }

    /// The next request id.
    fn next_id(&mut self) -> RequestId {
        let id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1);
        id
    }

    // ---------------------------------------------------------------- application calls

    /// `initTransactions()` (or the idempotent producer's first InitProducerId):
    /// UNINITIALIZED → INITIALIZING, emits InitProducerId(-1, -1). Without idempotence (no
    /// `TransactionManager` in Kafka's client) nothing is requested: UNINITIALIZED →
    /// INITIALIZING → READY at once, with [`ProducerEvent::Initialized`] carrying
    /// `NO_PRODUCER_ID`/`NO_PRODUCER_EPOCH`, so an application starts both modes alike.
    pub fn init(&mut self, _now: TimestampMs) -> Result<ProducerOutput<P>, ProducerCallError> {
        self.check_call(Call::Init)?;
        if self.state != TransactionState::Uninitialized {
            // COMMITTING/ABORTING -> INITIALIZING is the internal epoch bump only; from the
            // application, a call still in progress (`throwIfPendingState`).
            return Err(ProducerCallError::IllegalState {
                call: Call::Init,
                state: self.state,
            });
        }
        let mut out = ProducerOutput::new();
        self.foreground(Call::Init, TransactionState::Initializing, &mut out)?;
        self.producer_id = NO_PRODUCER_ID;
        self.producer_epoch = NO_PRODUCER_EPOCH;
        if self.is_idempotent() {
            self.enqueue_txn(TxnRequest::InitProducerId { bump: false });
        } else {
            self.set_state(TransactionState::Ready, &mut out);
            out.events.push(ProducerEvent::Initialized {
                producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
            });
        }
        self.poll(&mut out);
        Ok(out)
    }

    /// `beginTransaction()`: READY → IN_TRANSACTION, a local step.
    pub fn begin(&mut self, _now: TimestampMs) -> Result<ProducerOutput<P>, ProducerCallError> {
        self.check_call(Call::Begin)?;
        if !self.is_transactional() {
            return Err(ProducerCallError::IllegalState {
                call: Call::Begin,
                state: self.state,
            });
        }
        let mut out = ProducerOutput::new();
        self.foreground(Call::Begin, TransactionState::InTransaction, &mut out)?;
        Ok(out)
    }

    /// `send()`: appends a batch to the partition's queue (`maybeAddPartition` for a
    /// transactional producer: IN_TRANSACTION required; TV1 adds the partition with
    /// AddPartitionsToTxn before its data). The batch is drained (sequenced and sent) as soon
    /// as the partition's gating allows.
    pub fn send(
        &mut self,
        partition: TopicPartition,
        record_count: i32,
        payload: P,
        now: TimestampMs,
    ) -> Result<ProducerOutput<P>, ProducerCallError> {
        self.check_call(Call::Send)?;
        if record_count <= 0 {
            return Err(ProducerCallError::InvalidRecordCount(record_count));
        }
        let allowed = if self.is_transactional() {
            // maybeAddPartition: a producer id and IN_TRANSACTION are required.
            self.state == TransactionState::InTransaction && self.producer_id != NO_PRODUCER_ID
        } else {
            matches!(
                self.state,
                TransactionState::Initializing | TransactionState::Ready
            )
        };
        if !allowed {
            return Err(ProducerCallError::IllegalState {
                call: Call::Send,
                state: self.state,
            });
        }
        if self.is_transactional() {
            if self.tv2() || self.config.bugs.skip_add_partitions {
                self.partitions_in_txn.insert(partition.clone());
                self.transaction_started = true;
            } else if !self.partitions_in_txn.contains(&partition)
                && !self.pending_partitions.contains(&partition)
            {
                self.new_partitions.insert(partition.clone());
            }
        }
        let id = self.next_batch_id;
        self.next_batch_id = self.next_batch_id.wrapping_add(1);
        self.partitions
            .entry(partition)
            .or_insert_with(PartitionEntry::new)
            .queued
            .push(Batch::new(id, record_count, payload, now));
        let mut out = ProducerOutput::new();
        out.batch = Some(id);
        self.poll(&mut out);
        Ok(out)
    }

    /// `commitTransaction()`: IN_TRANSACTION → COMMITTING_TRANSACTION; EndTxn(COMMIT) is sent
    /// once every batch has completed, or the empty transaction completes locally.
    pub fn commit(&mut self, _now: TimestampMs) -> Result<ProducerOutput<P>, ProducerCallError> {
        self.check_call(Call::Commit)?;
        let mut out = ProducerOutput::new();
        self.foreground(
            Call::Commit,
            TransactionState::CommittingTransaction,
            &mut out,
        )?;
        self.begin_completing(TransactionResult::Commit, &mut out);
        Ok(out)
    }

    /// `sendOffsetsToTransaction(offsets, groupMetadata)` (`KafkaProducer` then
    /// `TransactionManager.sendOffsetsToTransaction`): commits a consumer's offsets (the next
    /// offset to consume, per partition) inside the open transaction.
    ///
    /// Refused (nothing changes) as Kafka throws: group metadata with a generation above 0 and
    /// an empty member id ([`ProducerCallError::InvalidGroupMetadata`],
    /// `throwIfInvalidGroupMetadata`); a non-transactional producer (`ensureTransactional`); an
    /// error state re-throws its error (`maybeFailWithError`); any state but IN_TRANSACTION. An
    /// empty `offsets` is a no-op that sends nothing (`KafkaProducer` skips the call, checking
    /// only the metadata and that the producer is transactional).
    ///
    /// Under TV0/TV1 it queues AddOffsetsToTxn (to the transaction coordinator, which adds the
    /// group's `__consumer_offsets` partition); on its success the TxnOffsetCommit (to the
    /// group coordinator) is queued. Under TV2 only the TxnOffsetCommit (v5) is queued, and the
    /// transaction counts as started at once. Both have the priority of AddPartitionsToTxn, so a
    /// later `commit()` sends its EndTxn only after them. The call completes with
    /// [`ProducerEvent::OffsetsSent`] or [`ProducerEvent::OffsetsFailed`].
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: BTreeMap<TopicPartition, Offset>,
        group: ConsumerGroupMetadata,
        _now: TimestampMs,
    ) -> Result<ProducerOutput<P>, ProducerCallError> {
        if group.generation_id > 0 && group.member_id.is_empty() {
            return Err(ProducerCallError::InvalidGroupMetadata {
                generation_id: group.generation_id,
            });
        }
        if !self.is_transactional() {
            return Err(ProducerCallError::IllegalState {
                call: Call::SendOffsets,
                state: self.state,
            });
        }
        let mut out = ProducerOutput::new();
        if offsets.is_empty() {
            return Ok(out);
        }
        self.check_call(Call::SendOffsets)?;
        if self.state != TransactionState::InTransaction {
            return Err(ProducerCallError::IllegalState {
                call: Call::SendOffsets,
                state: self.state,
            });
        }
        if self.tv2() {
            self.transaction_started = true;
            self.queue_txn_offset_commit(group, offsets);
        } else {
            self.enqueue_txn(TxnRequest::AddOffsets { group, offsets });
        }
        self.poll(&mut out);
        Ok(out)
    }

    /// `abortTransaction()`: IN_TRANSACTION or ABORTABLE_ERROR → ABORTING_TRANSACTION;
    /// undrained batches fail, EndTxn(ABORT) follows the in-flight ones, then the client epoch
    /// bump if required. Also re-tries an abort whose EndTxn failed while aborting.
    pub fn abort(&mut self, _now: TimestampMs) -> Result<ProducerOutput<P>, ProducerCallError> {
        if self.state != TransactionState::AbortableError {
            self.check_call(Call::Abort)?;
        }
        if self.poisoned {
            return Err(ProducerCallError::IllegalState {
                call: Call::Abort,
                state: self.state,
            });
        }
        let mut out = ProducerOutput::new();
        if self.state == TransactionState::AbortingTransaction {
            let pending = self.txn_in_flight.is_some() || !self.txn_queue.is_empty();
            if pending || !self.is_transactional() {
                return Err(ProducerCallError::IllegalState {
                    call: Call::Abort,
                    state: self.state,
                });
            }
        } else {
            if !self.is_transactional() {
                return Err(ProducerCallError::IllegalState {
                    call: Call::Abort,
                    state: self.state,
                });
            }
            self.foreground(Call::Abort, TransactionState::AbortingTransaction, &mut out)?;
        }
        let error = self
            .last_error
            .map_or(BatchError::TransactionAborted, BatchError::Kafka);
        self.fail_undrained(error, &mut out);
        self.begin_completing(TransactionResult::Abort, &mut out);
        Ok(out)
    }

    // ---------------------------------------------------------------- network inputs

    /// A response to an outstanding request.
    pub fn handle_response(
        &mut self,
        request_id: RequestId,
        response: Response,
        now: TimestampMs,
    ) -> Result<ProducerOutput<P>, ProducerInputError> {
        let what = self
            .outstanding
            .get(&request_id)
            .cloned()
            .ok_or(ProducerInputError::UnknownRequest(request_id))?;
        let kind_ok = matches!(
            (&what, &response),
            (Outstanding::Produce(..), Response::Produce(_))
                | (
                    Outstanding::Txn(TxnRequest::InitProducerId { .. }),
                    Response::InitProducerId(_)
                )
                | (
                    Outstanding::Txn(TxnRequest::AddPartitions(_)),
                    Response::AddPartitionsToTxn(_)
                )
                | (Outstanding::Txn(TxnRequest::EndTxn(_)), Response::EndTxn(_))
                | (
                    Outstanding::Txn(TxnRequest::AddOffsets { .. }),
                    Response::AddOffsetsToTxn(_)
                )
                | (
                    Outstanding::Txn(TxnRequest::TxnOffsetCommit { .. }),
                    Response::TxnOffsetCommit(_)
                )
        );
        if !kind_ok {
            return Err(ProducerInputError::WrongResponseKind(request_id));
        }
        self.outstanding.remove(&request_id);
        let mut out = ProducerOutput::new();
        match (what, response) {
            (Outstanding::Produce(tp, batch), Response::Produce(r)) => {
                self.on_produce(&tp, batch, r, now, &mut out)
            }
            (Outstanding::Txn(req), resp) => {
                self.txn_in_flight = None;
                self.on_txn_response(req, resp, &mut out);
            }
            _ => {}
        }
        self.poll(&mut out);
        Ok(out)
    }

    /// A request whose response will never come (timeout or disconnect: the outcome is
    /// ambiguous). Kafka re-sends a transactional request and retries a batch with the same
    /// sequence, unless the batch's `delivery.timeout.ms` has passed: then it expires and its
    /// sequence becomes unresolved.
    pub fn handle_request_timeout(
        &mut self,
        request_id: RequestId,
        now: TimestampMs,
    ) -> Result<ProducerOutput<P>, ProducerInputError> {
        let what = self
            .outstanding
            .remove(&request_id)
            .ok_or(ProducerInputError::UnknownRequest(request_id))?;
        let mut out = ProducerOutput::new();
        match what {
            Outstanding::Produce(tp, batch) => self.on_produce_timeout(&tp, batch, now, &mut out),
            Outstanding::Txn(req) => {
                self.txn_in_flight = None;
                if self.config.bugs.abort_after_commit_timeout
                    && req == TxnRequest::EndTxn(TransactionResult::Commit)
                    && self.state == TransactionState::CommittingTransaction
                {
                    // M-T3: the client gives up on the commit and treats the transaction as
                    // aborted, at the same epoch.
                    self.epoch_bump_required = false;
                    self.complete_transaction(TransactionResult::Abort, None, &mut out);
                } else if self.state != TransactionState::FatalError {
                    self.txn_queue.insert(0, req);
                }
            }
        }
        self.poll(&mut out);
        Ok(out)
    }

    // ---------------------------------------------------------------- time

    /// The producer's next deadline: the earliest delivery deadline
    /// (`created + delivery.timeout.ms`, `ProducerBatch.hasReachedDeliveryTimeout`) of a batch
    /// that [`handle_timeout`](Self::handle_timeout) would expire, i.e. a batch in Kafka's
    /// accumulator queue: never drained (waiting for a producer id, for its partition to be
    /// added to the transaction, behind `max_in_flight`, behind a retry or an unresolved
    /// sequence), or a retry waiting to be re-sent. `None` when there is none. Kafka's Sender
    /// polls with this bound (`RecordAccumulator.nextExpiryTimeMs`).
    ///
    /// A batch whose Produce request is outstanding is not counted: it expires when its request
    /// ends, answered ([`handle_response`](Self::handle_response), `Sender.canRetry`) or lost
    /// (unlike Kafka's `Sender.getExpiredInflightBatches`, which fails it at its deadline while
    /// the request is outstanding; see `docs/producer.md` section 7). Request timeouts
    /// (`request.timeout.ms`, per connection) stay the caller's: it reports a request that will
    /// not be answered with [`handle_request_timeout`](Self::handle_request_timeout).
    pub fn next_deadline(&self) -> Option<TimestampMs> {
        self.next_delivery_deadline()
    }

    /// Time passes (`Sender.sendProducerData` → `RecordAccumulator.expiredBatches(now)`): every
    /// batch counted by [`next_deadline`](Self::next_deadline) whose delivery timeout has passed
    /// at `now` fails with `BatchError::Kafka(RequestTimedOut)` (Kafka's `TimeoutException`,
    /// `failBatch(batch, e, false)`), then the Sender runs as after any other input. A batch
    /// never drained has no sequence, so no sequence moves. A retry waiting to be re-sent
    /// leaves its partition's sequence unresolved (`markSequenceUnresolved`), so the idempotent
    /// producer bumps its epoch locally unless a later batch succeeds (`maybeResolveSequences`).
    /// A transactional producer goes to ABORTABLE_ERROR (`handleFailedBatch`), with the client
    /// epoch bump required under TV0/TV1 (InitProducerId v3+) when no commit or abort is in
    /// progress. Safe to call at any time; with nothing expired it only runs the Sender.
    #[must_use]
    pub fn handle_timeout(&mut self, now: TimestampMs) -> ProducerOutput<P> {
        let mut out = ProducerOutput::new();
        self.expire_batches(now, &mut out);
        self.poll(&mut out);
        out
    }
}
