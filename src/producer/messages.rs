//! The types that cross the producer's API: the requests it asks its caller to send, the
//! responses it takes, the events and output it returns, and the errors of refused calls and
//! malformed inputs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::group::{TxnOffsetCommitRequest, TxnOffsetCommitResponse, UNKNOWN_GENERATION_ID};
use crate::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, EndTxnResponse,
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest,
};
use crate::types::{Offset, ProducerEpoch, ProducerId, TopicPartition};

use super::{TransactionState, TxnRequest};

/// The id of a request the producer emitted; a response or timeout names it.
pub type RequestId = u64;

/// The id of a record batch handed to [`Producer::send`](super::Producer::send); its fate is
/// reported once, by a [`ProducerEvent::SendAcknowledged`] or a [`ProducerEvent::SendFailed`].
pub type BatchId = u64;

/// An application call, named as in the vectors (`initTransactions`, `beginTransaction`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Call {
    /// `initTransactions()` (or the idempotent producer's first InitProducerId).
    Init,
    /// `beginTransaction()`.
    Begin,
    /// `send()`.
    Send,
    /// `commitTransaction()`.
    Commit,
    /// `abortTransaction()`.
    Abort,
    /// `sendOffsetsToTransaction()`.
    SendOffsets,
}

/// The consumer's group metadata that `sendOffsetsToTransaction` carries to the group
/// coordinator (Kafka's `ConsumerGroupMetadata`, from `KafkaConsumer.groupMetadata()`): the
/// group coordinator fences a TxnOffsetCommit whose generation, member or static instance is
/// no longer the group's (KIP-447).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConsumerGroupMetadata {
    /// The consumer group (`group.id`).
    pub group_id: String,
    /// The consumer's generation; -1 ([`UNKNOWN_GENERATION_ID`]) outside group management.
    pub generation_id: i32,
    /// The consumer's member id; "" outside group management.
    pub member_id: String,
    /// The consumer's `group.instance.id` (static membership, KIP-345).
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Group-id-only metadata (`new ConsumerGroupMetadata(groupId)`): generation -1, member
    /// "", no instance id, so the group coordinator applies no generation fencing.
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: UNKNOWN_GENERATION_ID,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// An application call the producer refuses (Kafka throws from the calling thread; no state
/// changes).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProducerCallError {
    /// `IllegalStateException`: the call is not valid in this state (or the producer was
    /// poisoned by an invalid background transition, KAFKA-14831).
    #[error("illegal state: {call:?} is not allowed in state {state}")]
    IllegalState {
        /// The refused call.
        call: Call,
        /// The state the producer was in.
        state: TransactionState,
    },
    /// The producer is in an error state and re-throws its last error
    /// (`TransactionManager.maybeFailWithError`), e.g. PRODUCER_FENCED.
    #[error("the producer failed earlier with {0}")]
    Failed(ErrorCode),
    /// A send with a record count that is not positive.
    #[error("a batch needs at least one record, got {0}")]
    InvalidRecordCount(i32),
    /// `IllegalArgumentException` from `KafkaProducer.throwIfInvalidGroupMetadata`: consumer
    /// group metadata with a generation above 0 and an empty member id.
    #[error("group metadata has generation {generation_id} > 0 but an empty member id")]
    InvalidGroupMetadata {
        /// The generation passed.
        generation_id: i32,
    },
}

/// A network input the producer cannot take (it never comes from a well-formed exchange).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProducerInputError {
    /// No request with this id is outstanding (already answered, timed out, or never sent).
    #[error("request {0} is not outstanding")]
    UnknownRequest(RequestId),
    /// The response is not of the kind of the request it answers.
    #[error("request {0} got a response of another kind")]
    WrongResponseKind(RequestId),
}

/// A request the producer asks its caller to send: the shared [`crate::messages`] request
/// with the id its response or timeout will name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Request<P> {
    /// InitProducerId; the expected producer id/epoch are KIP-360's current ones for an epoch
    /// bump, -1 otherwise.
    InitProducerId {
        /// The request id.
        id: RequestId,
        /// The request.
        request: InitProducerIdRequest,
    },
    /// AddPartitionsToTxn (TV0/TV1 only: under TV2 the partition leader adds the partition).
    AddPartitionsToTxn {
        /// The request id.
        id: RequestId,
        /// The request.
        request: AddPartitionsToTxnRequest,
    },
    /// Produce of one record batch to one partition.
    Produce {
        /// The request id.
        id: RequestId,
        /// The request.
        request: ProduceRequest<P>,
    },
    /// EndTxn (v5+ under TV2: the response carries the bumped producer id and epoch).
    EndTxn {
        /// The request id.
        id: RequestId,
        /// The request.
        request: EndTxnRequest,
    },
    /// AddOffsetsToTxn, to the **transaction** coordinator (TV0/TV1 only): adds the group's
    /// `__consumer_offsets` partition to the transaction before the TxnOffsetCommit.
    AddOffsetsToTxn {
        /// The request id.
        id: RequestId,
        /// The request.
        request: AddOffsetsToTxnRequest,
    },
    /// TxnOffsetCommit, to the **group** coordinator of `request.group_id` (the leader of its
    /// `__consumer_offsets` partition, [`offsets_partition_for`](crate::messages::offsets_partition_for)):
    /// the offsets, pending until the transaction's marker. v5 under TV2 (the offsets
    /// partition's leader adds it to the transaction), v4 otherwise.
    TxnOffsetCommit {
        /// The request id.
        id: RequestId,
        /// The request.
        request: TxnOffsetCommitRequest,
    },
}

impl<P> Request<P> {
    /// The request's id.
    pub fn id(&self) -> RequestId {
        match self {
            Request::InitProducerId { id, .. }
            | Request::AddPartitionsToTxn { id, .. }
            | Request::Produce { id, .. }
            | Request::EndTxn { id, .. }
            | Request::AddOffsetsToTxn { id, .. }
            | Request::TxnOffsetCommit { id, .. } => *id,
        }
    }

    /// Kafka's API name, e.g. `"Produce"`.
    pub fn api_name(&self) -> &'static str {
        match self {
            Request::InitProducerId { .. } => "InitProducerId",
            Request::AddPartitionsToTxn { .. } => "AddPartitionsToTxn",
            Request::Produce { .. } => "Produce",
            Request::EndTxn { .. } => "EndTxn",
            Request::AddOffsetsToTxn { .. } => "AddOffsetsToTxn",
            Request::TxnOffsetCommit { .. } => "TxnOffsetCommit",
        }
    }
}

/// A response to one of the producer's requests.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Response {
    /// InitProducerId: the producer id and epoch, or an error.
    InitProducerId(InitProducerIdResponse),
    /// AddPartitionsToTxn: success or the (first) partition error.
    AddPartitionsToTxn(Result<(), ErrorCode>),
    /// Produce: the base offset (-1 when unknown), or an error.
    Produce(Result<i64, ErrorCode>),
    /// EndTxn: under v5+ (TV2) the new producer id and epoch, or an error.
    EndTxn(EndTxnResponse),
    /// AddOffsetsToTxn: success or the error.
    AddOffsetsToTxn(Result<(), ErrorCode>),
    /// TxnOffsetCommit: per partition of the request, success or its error.
    TxnOffsetCommit(TxnOffsetCommitResponse),
}

/// Why a batch failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BatchError {
    /// A Kafka error (from the broker, or the client's own, e.g. REQUEST_TIMED_OUT for an
    /// expired batch, as `Errors.forException(TimeoutException)`).
    Kafka(ErrorCode),
    /// `TransactionAbortedException`: the batch was not sent because the transaction aborted.
    TransactionAborted,
}

/// What the application learns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ProducerEvent {
    /// InitProducerId succeeded (first init, client epoch bump, or producer-id reset).
    Initialized {
        /// The producer id.
        producer_id: ProducerId,
        /// The producer epoch.
        producer_epoch: ProducerEpoch,
    },
    /// The idempotent producer bumped its epoch locally (KIP-360).
    EpochBumped {
        /// The producer id.
        producer_id: ProducerId,
        /// The new epoch.
        producer_epoch: ProducerEpoch,
    },
    /// A batch was written (`RecordMetadata`); `base_offset` is `None` for a legacy
    /// DUPLICATE_SEQUENCE_NUMBER or a response without an offset.
    SendAcknowledged {
        /// The batch.
        batch: BatchId,
        /// Its partition.
        partition: TopicPartition,
        /// The offset of its first record.
        base_offset: Option<i64>,
    },
    /// A batch failed for good (its future completes exceptionally).
    SendFailed {
        /// The batch.
        batch: BatchId,
        /// Its partition.
        partition: TopicPartition,
        /// Why.
        error: BatchError,
    },
    /// `commitTransaction()` completed: EndTxn(COMMIT) succeeded, or the client epoch bump that
    /// follows it did (`beginCompletingTransaction` returns the bump's result).
    TransactionCommitted,
    /// `abortTransaction()` completed: EndTxn(ABORT) succeeded (or the empty transaction
    /// ended), or, when the client epoch bump follows it, that InitProducerId succeeded.
    TransactionAborted,
    /// An error surfaced to the application by a transactional request or by entering an
    /// error state (the error later calls re-throw).
    Error(ErrorCode),
    /// A `sendOffsetsToTransaction` call completed (its `TransactionalRequestResult` is done):
    /// the group coordinator answered the TxnOffsetCommit with no partition left to retry. The
    /// offsets are in the transaction, pending until it commits.
    OffsetsSent {
        /// The group.
        group_id: String,
        /// The offsets of the TxnOffsetCommit that completed the call.
        offsets: BTreeMap<TopicPartition, Offset>,
    },
    /// A `sendOffsetsToTransaction` call failed (its result completes exceptionally); the
    /// producer's state says what to do next (abort, or close on a fatal error).
    OffsetsFailed {
        /// The group.
        group_id: String,
        /// Why.
        error: OffsetsError,
    },
}

/// Why a `sendOffsetsToTransaction` call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OffsetsError {
    /// `CommitFailedException` ("consumer group metadata mismatch"): the group coordinator
    /// answered UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION, so the consumer left the group or
    /// rebalanced; abortable.
    CommitFailed(ErrorCode),
    /// Any other error: the one the request failed with (a fenced producer's
    /// INVALID_PRODUCER_EPOCH is PRODUCER_FENCED), or, for a request dropped unsent because the
    /// producer entered an error state, that state's error (`maybeTerminateRequestWithError`).
    Kafka(ErrorCode),
}

impl OffsetsError {
    /// The error code.
    pub fn code(self) -> ErrorCode {
        match self {
            OffsetsError::CommitFailed(e) | OffsetsError::Kafka(e) => e,
        }
    }
}

/// The result of one input: requests to send (in order) and events for the application.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProducerOutput<P> {
    /// The requests to send now.
    pub sends: Vec<Request<P>>,
    /// The events for the application.
    pub events: Vec<ProducerEvent>,
    /// The id given to the batch of a [`Producer::send`](super::Producer::send) call.
    pub batch: Option<BatchId>,
    /// The state transitions this input made, in order (`TransactionManager.transitionTo`).
    pub transitions: Vec<(TransactionState, TransactionState)>,
}

impl<P> ProducerOutput<P> {
    pub(super) fn new() -> Self {
        ProducerOutput {
            sends: Vec::new(),
            events: Vec::new(),
            batch: None,
            transitions: Vec::new(),
        }
    }
}

/// What an outstanding request is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Outstanding {
    /// A Produce of this batch.
    Produce(TopicPartition, BatchId),
    /// A transactional (coordinator) request.
    Txn(TxnRequest),
}
