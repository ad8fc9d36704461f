//! Kafka's protocol error codes, and the Rust errors for misuse of the core's API.
//!
//! A protocol failure (a stale epoch, a sequence gap, a fenced producer) is a *value*: the core
//! answers it with an [`ErrorCode`], exactly as a Kafka broker or client would, and changes no
//! state. Only misuse of the API (an input that can never come from a well-formed request) or
//! undecodable input is a Rust error ([`ParseError`] here; each role adds its own).

use core::fmt;
use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:expr, $name:literal, $retriable:expr; )*) => {
        /// A Kafka protocol error, by its wire code and name (`org.apache.kafka.common.protocol.Errors`).
        ///
        /// Success (`NONE`, code 0) is not an error and is not a variant: the core answers success
        /// with `Ok(..)`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every error code the crate knows, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The numeric wire code (`Errors.code()`).
            pub const fn code(self) -> i16 {
                match self { $( ErrorCode::$variant => $code, )* }
            }

            /// Kafka's protocol name, e.g. `"OUT_OF_ORDER_SEQUENCE_NUMBER"` (`Errors.name()`).
            pub const fn name(self) -> &'static str {
                match self { $( ErrorCode::$variant => $name, )* }
            }

            /// Whether the Java client's exception for this code is a `RetriableException`
            /// (KIP-1050 category "retriable", including "refresh-retriable").
            pub const fn is_retriable(self) -> bool {
                match self { $( ErrorCode::$variant => $retriable, )* }
            }

            /// Looks a code up by its wire number; `None` for 0 (success) and unknown codes.
            pub fn from_code(code: i16) -> Option<ErrorCode> {
                Self::ALL.iter().copied().find(|e| e.code() == code)
            }

            /// Looks a code up by Kafka's protocol name.
            pub fn from_name(name: &str) -> Option<ErrorCode> {
                Self::ALL.iter().copied().find(|e| e.name() == name)
            }
        }
    };
}

error_codes! {
    /// -1: an unexpected server error (e.g. a transaction-log append that is too large).
    UnknownServerError = -1, "UNKNOWN_SERVER_ERROR", false;
    /// 1: a fetch or DeleteRecords offset outside the log (`OffsetOutOfRangeException`).
    OffsetOutOfRange = 1, "OFFSET_OUT_OF_RANGE", false;
    /// 2: a corrupt record; retriable.
    CorruptMessage = 2, "CORRUPT_MESSAGE", true;
    /// 3: the partition is not known here (a marker to a partition that is not online is retried).
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION", true;
    /// 5: the partition has no leader yet (a topic just created, `KafkaApis.getTopicMetadata`).
    LeaderNotAvailable = 5, "LEADER_NOT_AVAILABLE", true;
    /// 6: this broker is not the partition's leader.
    NotLeaderOrFollower = 6, "NOT_LEADER_OR_FOLLOWER", true;
    /// 7: the request timed out.
    RequestTimedOut = 7, "REQUEST_TIMED_OUT", true;
    /// 10: a message larger than the maximum.
    MessageTooLarge = 10, "MESSAGE_TOO_LARGE", false;
    /// 13: the connection closed; also the answer to a superseded verification (KIP-890).
    NetworkException = 13, "NETWORK_EXCEPTION", true;
    /// 14: the coordinator is loading; also a producer-id block not yet available.
    CoordinatorLoadInProgress = 14, "COORDINATOR_LOAD_IN_PROGRESS", true;
    /// 15: the coordinator is not available.
    CoordinatorNotAvailable = 15, "COORDINATOR_NOT_AVAILABLE", true;
    /// 16: this broker is not the coordinator for the key (or its epoch changed).
    NotCoordinator = 16, "NOT_COORDINATOR", true;
    /// 17: an illegal topic name (`Topic.validate`) or an operation an internal topic refuses.
    InvalidTopicException = 17, "INVALID_TOPIC_EXCEPTION", false;
    /// 18: a record list larger than the maximum.
    RecordListTooLarge = 18, "RECORD_LIST_TOO_LARGE", false;
    /// 19: not enough in-sync replicas; what verification failures become for old clients.
    NotEnoughReplicas = 19, "NOT_ENOUGH_REPLICAS", true;
    /// 20: written, but fewer in-sync replicas than required.
    NotEnoughReplicasAfterAppend = 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true;
    /// 21: an invalid `acks` setting.
    InvalidRequiredAcks = 21, "INVALID_REQUIRED_ACKS", false;
    /// 22: a stale consumer-group generation.
    IllegalGeneration = 22, "ILLEGAL_GENERATION", false;
    /// 23: a JoinGroup whose protocol type or protocols the group cannot accept
    /// (`ClassicGroup.supportsProtocols`), or a SyncGroup naming another protocol.
    InconsistentGroupProtocol = 23, "INCONSISTENT_GROUP_PROTOCOL", false;
    /// 24: an empty or otherwise invalid consumer-group id.
    InvalidGroupId = 24, "INVALID_GROUP_ID", false;
    /// 25: an unknown consumer-group member.
    UnknownMemberId = 25, "UNKNOWN_MEMBER_ID", false;
    /// 26: a JoinGroup session timeout outside `group.min.session.timeout.ms` ..
    /// `group.max.session.timeout.ms`.
    InvalidSessionTimeout = 26, "INVALID_SESSION_TIMEOUT", false;
    /// 27: the group is rebalancing (a plain offset commit in CompletingRebalance).
    RebalanceInProgress = 27, "REBALANCE_IN_PROGRESS", false;
    /// 29: not authorised for the topic.
    TopicAuthorizationFailed = 29, "TOPIC_AUTHORIZATION_FAILED", false;
    /// 30: not authorised for the group.
    GroupAuthorizationFailed = 30, "GROUP_AUTHORIZATION_FAILED", false;
    /// 31: not authorised for the cluster.
    ClusterAuthorizationFailed = 31, "CLUSTER_AUTHORIZATION_FAILED", false;
    /// 35: an unsupported request version.
    UnsupportedVersion = 35, "UNSUPPORTED_VERSION", false;
    /// 36: CreateTopics of a topic that exists.
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS", false;
    /// 37: a partition count that is not positive.
    InvalidPartitions = 37, "INVALID_PARTITIONS", false;
    /// 38: a replication factor the cluster cannot meet.
    InvalidReplicationFactor = 38, "INVALID_REPLICATION_FACTOR", false;
    /// 39: a manual replica assignment that is not valid.
    InvalidReplicaAssignment = 39, "INVALID_REPLICA_ASSIGNMENT", false;
    /// 40: an unknown or invalid configuration.
    InvalidConfig = 40, "INVALID_CONFIG", false;
    /// 42: an invalid request (e.g. an empty transactional id).
    InvalidRequest = 42, "INVALID_REQUEST", false;
    /// 43: the message format does not support the request.
    UnsupportedForMessageFormat = 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false;
    /// 44: the request violates a policy (DeleteRecords on a topic without `cleanup.policy=delete`).
    PolicyViolation = 44, "POLICY_VIOLATION", false;
    /// 45: a sequence gap, rewind, partial duplicate, or a new epoch not starting at 0.
    OutOfOrderSequenceNumber = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false;
    /// 46: legacy duplicate answer; current brokers answer a duplicate with success.
    DuplicateSequenceNumber = 46, "DUPLICATE_SEQUENCE_NUMBER", false;
    /// 47: a producer epoch older than the partition's (data or marker).
    InvalidProducerEpoch = 47, "INVALID_PRODUCER_EPOCH", false;
    /// 48: a request not valid in the transaction's state.
    InvalidTxnState = 48, "INVALID_TXN_STATE", false;
    /// 49: the producer id does not match the transactional id.
    InvalidProducerIdMapping = 49, "INVALID_PRODUCER_ID_MAPPING", false;
    /// 50: a transaction timeout outside `(0, transaction.max.timeout.ms]`.
    InvalidTransactionTimeout = 50, "INVALID_TRANSACTION_TIMEOUT", false;
    /// 51: another transition of this transactional id is in progress.
    ConcurrentTransactions = 51, "CONCURRENT_TRANSACTIONS", true;
    /// 52: a marker from an older coordinator epoch.
    TransactionCoordinatorFenced = 52, "TRANSACTION_COORDINATOR_FENCED", false;
    /// 53: not authorised for the transactional id.
    TransactionalIdAuthorizationFailed = 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false;
    /// 55: not attempted because another partition of the request failed.
    OperationNotAttempted = 55, "OPERATION_NOT_ATTEMPTED", false;
    /// 56: a storage error on the broker.
    KafkaStorageError = 56, "KAFKA_STORAGE_ERROR", true;
    /// 59: legacy (pre-KIP-360 brokers): the producer id is not known.
    UnknownProducerId = 59, "UNKNOWN_PRODUCER_ID", false;
    /// 69: the group does not exist (OffsetCommit v9+ with a generation, KIP-848).
    GroupIdNotFound = 69, "GROUP_ID_NOT_FOUND", false;
    /// 79: a new member's first JoinGroup (v4+, KIP-394): rejoin with the member id answered.
    MemberIdRequired = 79, "MEMBER_ID_REQUIRED", false;
    /// 82: a static member fenced by a newer instance.
    FencedInstanceId = 82, "FENCED_INSTANCE_ID", false;
    /// 87: an invalid record (a control batch from a client, a producer id with no sequence).
    InvalidRecord = 87, "INVALID_RECORD", false;
    /// 88: a require_stable OffsetFetch of a partition with pending transactional offsets
    /// (KIP-447); the consumer retries.
    UnstableOffsetCommit = 88, "UNSTABLE_OFFSET_COMMIT", true;
    /// 90: the producer was fenced by a newer instance with the same transactional id (KIP-588).
    ProducerFenced = 90, "PRODUCER_FENCED", false;
    /// 100: no topic has this topic id.
    UnknownTopicId = 100, "UNKNOWN_TOPIC_ID", true;
    /// 105: the transactional id is not known (DescribeTransactions).
    TransactionalIdNotFound = 105, "TRANSACTIONAL_ID_NOT_FOUND", false;
    /// 120: the transaction must be aborted; the producer may continue (KIP-890, KIP-1050).
    TransactionAbortable = 120, "TRANSACTION_ABORTABLE", false;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

impl std::error::Error for ErrorCode {}

/// Undecodable input to the core: a value that no well-formed Kafka request carries.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A topic-partition that is not `TOPIC-N` with a non-empty topic and `N` a non-negative i32.
    #[error("invalid topic-partition {0:?}: expected TOPIC-N with N a non-negative integer")]
    TopicPartition(String),
    /// An error name that is not one of Kafka's protocol error names.
    #[error("unknown Kafka error name {0:?}")]
    ErrorName(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip_and_are_unique() {
        for (i, a) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(ErrorCode::from_code(a.code()), Some(*a));
            assert_eq!(ErrorCode::from_name(a.name()), Some(*a));
            for b in &ErrorCode::ALL[i + 1..] {
                assert_ne!(a.code(), b.code());
            }
        }
        assert_eq!(ErrorCode::from_code(0), None);
        assert_eq!(ErrorCode::OutOfOrderSequenceNumber.code(), 45);
        assert_eq!(ErrorCode::ProducerFenced.code(), 90);
        assert_eq!(ErrorCode::TransactionAbortable.code(), 120);
    }
}
