//! The consumer's requests, responses and application events.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::group::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
};
use crate::partition::{FetchResponse, IsolationLevel};
use crate::types::{Offset, TopicPartition};

/// A consumer request's id, unique per consumer (the correlation id of its `NetworkClient`).
pub type ConsumerRequestId = u64;

/// Fetch for one partition (`FetchRequest`, one `FetchPartition`): the records from
/// `fetch_offset`, bounded by the isolation level (read_committed: the last stable offset).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FetchRequest {
    /// The partition.
    pub partition: TopicPartition,
    /// The consumer's position (`FetchPosition.offset`).
    pub fetch_offset: Offset,
    /// `isolation.level`.
    pub isolation_level: IsolationLevel,
}

/// A request the consumer sends, with its id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConsumerRequest {
    /// OffsetFetch, to the group coordinator: the committed offsets of partitions that have no
    /// position yet (`ConsumerCoordinator.fetchCommittedOffsets`).
    OffsetFetch {
        /// The request id.
        id: ConsumerRequestId,
        /// The request.
        request: OffsetFetchRequest,
    },
    /// Fetch, to the partition's leader (`Fetcher.sendFetches`).
    Fetch {
        /// The request id.
        id: ConsumerRequestId,
        /// The request.
        request: FetchRequest,
    },
    /// OffsetCommit, to the group coordinator (`commitSync`, outside any transaction).
    OffsetCommit {
        /// The request id.
        id: ConsumerRequestId,
        /// The request.
        request: OffsetCommitRequest,
    },
}

impl ConsumerRequest {
    /// The request id.
    pub fn id(&self) -> ConsumerRequestId {
        match self {
            ConsumerRequest::OffsetFetch { id, .. }
            | ConsumerRequest::Fetch { id, .. }
            | ConsumerRequest::OffsetCommit { id, .. } => *id,
        }
    }
}

/// A response the consumer takes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConsumerResponse<P> {
    /// OffsetFetch: per partition, the committed offset (-1 when none) or its error.
    OffsetFetch(OffsetFetchResponse),
    /// Fetch: the partition's answer, or its error.
    Fetch(Result<FetchResponse<P>, ErrorCode>),
    /// OffsetCommit: per partition, success or its error.
    OffsetCommit(OffsetCommitResponse),
}

/// What the consumer tells the application.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConsumerEvent<P> {
    /// A partition's position was initialised (from its committed offset, or reset) and
    /// fetching it starts there.
    PositionInitialized {
        /// The partition.
        partition: TopicPartition,
        /// The position.
        offset: Offset,
    },
    /// The group coordinator answered UNSTABLE_OFFSET_COMMIT (a transaction holds a pending
    /// offset for these partitions): the OffsetFetch is retried after `retry.backoff.ms`
    /// (`UnstableOffsetCommitException`, retriable).
    OffsetsUnstable {
        /// The partitions.
        partitions: BTreeSet<TopicPartition>,
    },
    /// Records `poll()` returns, in offset order: `(offset, payload)`.
    Records {
        /// The partition.
        partition: TopicPartition,
        /// The records.
        records: Vec<(Offset, P)>,
    },
    /// A `commitSync` completed.
    OffsetsCommitted {
        /// The offsets committed.
        offsets: BTreeMap<TopicPartition, Offset>,
    },
    /// A `commitSync` failed with a non-retriable error (`CommitFailedException` for
    /// ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID...).
    CommitFailed {
        /// The error.
        error: ErrorCode,
    },
    /// A partition has no committed offset and `auto.offset.reset` is `none`
    /// (`NoOffsetForPartitionException`), or the OffsetFetch failed with a non-retriable
    /// error: `poll()` throws.
    Error {
        /// The partition.
        partition: TopicPartition,
        /// The error (`None` for no committed offset).
        error: Option<ErrorCode>,
    },
}

/// What a call returns: the requests to send and the events for the application.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConsumerOutput<P> {
    /// Requests to send, in order.
    pub sends: Vec<ConsumerRequest>,
    /// Events for the application, in order.
    pub events: Vec<ConsumerEvent<P>>,
}

impl<P> Default for ConsumerOutput<P> {
    fn default() -> Self {
        ConsumerOutput {
            sends: Vec::new(),
            events: Vec::new(),
        }
    }
}
