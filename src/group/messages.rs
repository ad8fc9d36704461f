//! The group coordinator's requests and answers, in Kafka's names: OffsetCommit, TxnOffsetCommit
//! and OffsetFetch for one group (the markers it takes are the shared
//! [`WriteTxnMarker`](crate::messages::WriteTxnMarker)).
//!
//! Each request carries the API version it arrived at, as every request of the core does: the
//! answer to a commit with a generation for an absent group, which fields exist on the wire, and
//! the KIP-890 verification a TxnOffsetCommit gets all depend on it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::messages::AddPartitionsToTxnRequest;
use crate::types::{Offset, ProducerEpoch, ProducerId, TopicPartition};

/// The newest OffsetCommit version the core speaks (v9: KIP-848's GROUP_ID_NOT_FOUND for a
/// commit with a generation to an absent group).
pub const OFFSET_COMMIT_VERSION: i16 = 9;
/// The first OffsetCommit version whose answer to a generation for an absent group is
/// GROUP_ID_NOT_FOUND rather than ILLEGAL_GENERATION (`OffsetMetadataManager.validateOffsetCommit`).
pub const OFFSET_COMMIT_GROUP_ID_NOT_FOUND_VERSION: i16 = 9;
/// The first OffsetCommit version with `GenerationIdOrMemberEpoch` and `MemberId` (v1).
pub const OFFSET_COMMIT_MEMBER_VERSION: i16 = 1;
/// The first OffsetCommit version with `GroupInstanceId` (v7, KIP-345).
pub const OFFSET_COMMIT_INSTANCE_ID_VERSION: i16 = 7;

/// The newest TxnOffsetCommit version the core speaks (v5, KIP-890 part 2: the leader of the
/// offsets partition adds it to the transaction, `addPartition`).
pub const TXN_OFFSET_COMMIT_VERSION: i16 = 5;
/// The last TxnOffsetCommit version before TV2 (`LAST_BEFORE_TRANSACTION_V2_VERSION`, v4), what a
/// Java producer sends while `transaction.version` < 2.
pub const TXN_OFFSET_COMMIT_LAST_BEFORE_TV2_VERSION: i16 = 4;
/// The first TxnOffsetCommit version with `GenerationId`, `MemberId` and `GroupInstanceId`
/// (v3, KIP-447: the consumer group metadata that fences zombies).
pub const TXN_OFFSET_COMMIT_MEMBER_VERSION: i16 = 3;

/// The newest OffsetFetch version the core speaks (v9).
pub const OFFSET_FETCH_VERSION: i16 = 9;
/// The first OffsetFetch version with `RequireStable` (v7, KIP-447).
pub const OFFSET_FETCH_REQUIRE_STABLE_VERSION: i16 = 7;

/// The offset answered for a partition without a committed offset, or with an error
/// (`OffsetFetchResponse.INVALID_OFFSET`).
pub const INVALID_OFFSET: Offset = -1;

/// The generation of a request from outside group management (`JoinGroupRequest.UNKNOWN_GENERATION_ID`).
pub const UNKNOWN_GENERATION_ID: i32 = -1;

/// OffsetCommit for one group (`OffsetCommitRequest`): a consumer's or an admin client's plain
/// commit, written straight to the committed offsets.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OffsetCommitRequest {
    /// The group.
    pub group_id: String,
    /// `GenerationIdOrMemberEpoch`: the classic group's generation, or -1 from outside group
    /// management (v1+).
    pub generation_id: i32,
    /// The member id, "" from outside group management (v1+).
    pub member_id: String,
    /// A static member's `group.instance.id` (v7+).
    pub group_instance_id: Option<String>,
    /// The offsets to commit: the next offset to consume, per partition.
    pub offsets: BTreeMap<TopicPartition, Offset>,
    /// The request version.
    pub version: i16,
}

/// TxnOffsetCommit (`TxnOffsetCommitRequest`): offsets committed inside the producer's
/// transaction, pending until the transaction's marker reaches the offsets partition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TxnOffsetCommitRequest {
    /// The producer's transactional id.
    pub transactional_id: String,
    /// The group.
    pub group_id: String,
    /// The producer id.
    pub producer_id: ProducerId,
    /// The producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// The consumer's generation (v3+; -1 for a group-id-only commit).
    pub generation_id: i32,
    /// The consumer's member id (v3+; "" for a group-id-only commit).
    pub member_id: String,
    /// The consumer's `group.instance.id` (v3+).
    pub group_instance_id: Option<String>,
    /// The offsets to commit, per partition.
    pub offsets: BTreeMap<TopicPartition, Offset>,
    /// The request version: v5+ is a TV2 producer (the offsets partition is added to the
    /// transaction implicitly), v3+ carries the group metadata.
    pub version: i16,
}

impl TxnOffsetCommitRequest {
    /// The AddPartitionsToTxn that the offsets partition's leader sends the transaction
    /// coordinator before writing (KIP-890, `CoordinatorPartitionWriter` →
    /// `ReplicaManager.maybeStartTransactionVerificationForPartition`): verify-only up to v4, the
    /// implicit add of a TV2 transaction from v5 (`txnOffsetCommitRequestVersionToTransactionSupportedOperation`).
    /// The group role takes the answer to be success (FORMAT.md); an embedder that runs the
    /// check translates a failure with [`txn_offset_commit_verification_error`].
    pub fn verification_request(
        &self,
        offsets_partition: TopicPartition,
    ) -> AddPartitionsToTxnRequest {
        AddPartitionsToTxnRequest::from_leader(
            self.transactional_id.clone(),
            self.producer_id,
            self.producer_epoch,
            BTreeSet::from([offsets_partition]),
            self.version < TXN_OFFSET_COMMIT_VERSION,
        )
    }
}

/// The error a TxnOffsetCommit is answered when the KIP-890 verification of its offsets
/// partition fails (`ReplicaManager` with `AddPartitionsToTxnManager`): `PRODUCER_FENCED` becomes
/// `INVALID_PRODUCER_EPOCH` (`AddPartitionsToTxnManager`); `TRANSACTION_ABORTABLE` (the
/// partition is not in the transaction) becomes `INVALID_TXN_STATE` below v4, which only knows
/// `defaultError` (`genericError` from v4); `NETWORK_EXCEPTION` becomes
/// `COORDINATOR_LOAD_IN_PROGRESS` (`GroupCoordinatorService.handleOperationException`); and below
/// v2 `COORDINATOR_LOAD_IN_PROGRESS` becomes `COORDINATOR_NOT_AVAILABLE` (`KafkaApis`,
/// KAFKA-7296). Every other error passes through.
pub fn txn_offset_commit_verification_error(error: ErrorCode, version: i16) -> ErrorCode {
    let error = match error {
        ErrorCode::ProducerFenced => ErrorCode::InvalidProducerEpoch,
        ErrorCode::TransactionAbortable if version < 4 => ErrorCode::InvalidTxnState,
        ErrorCode::NetworkException => ErrorCode::CoordinatorLoadInProgress,
        other => other,
    };
    if version < 2 && error == ErrorCode::CoordinatorLoadInProgress {
        ErrorCode::CoordinatorNotAvailable
    } else {
        error
    }
}

/// The answer to an OffsetCommit: per partition of the request, success or its error.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OffsetCommitResponse {
    /// Every partition of the request.
    pub partitions: BTreeMap<TopicPartition, Result<(), ErrorCode>>,
}

/// The answer to a TxnOffsetCommit: per partition of the request, success or its error.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TxnOffsetCommitResponse {
    /// Every partition of the request.
    pub partitions: BTreeMap<TopicPartition, Result<(), ErrorCode>>,
}

impl OffsetCommitResponse {
    /// Every partition answered with `answer`.
    pub fn all<'a>(
        partitions: impl IntoIterator<Item = &'a TopicPartition>,
        answer: Result<(), ErrorCode>,
    ) -> Self {
        OffsetCommitResponse {
            partitions: partitions
                .into_iter()
                .map(|p| (p.clone(), answer))
                .collect(),
        }
    }

    /// The partitions answered with an error, and their errors.
    pub fn errors(&self) -> BTreeMap<TopicPartition, ErrorCode> {
        errors_of(&self.partitions)
    }
}

impl TxnOffsetCommitResponse {
    /// Every partition answered with `answer`.
    pub fn all<'a>(
        partitions: impl IntoIterator<Item = &'a TopicPartition>,
        answer: Result<(), ErrorCode>,
    ) -> Self {
        TxnOffsetCommitResponse {
            partitions: partitions
                .into_iter()
                .map(|p| (p.clone(), answer))
                .collect(),
        }
    }

    /// The partitions answered with an error, and their errors.
    pub fn errors(&self) -> BTreeMap<TopicPartition, ErrorCode> {
        errors_of(&self.partitions)
    }
}

fn errors_of(
    partitions: &BTreeMap<TopicPartition, Result<(), ErrorCode>>,
) -> BTreeMap<TopicPartition, ErrorCode> {
    partitions
        .iter()
        .filter_map(|(p, r)| r.err().map(|e| (p.clone(), e)))
        .collect()
}

/// OffsetFetch for one group (`OffsetFetchRequest`, one `OffsetFetchRequestGroup`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OffsetFetchRequest {
    /// The group.
    pub group_id: String,
    /// The partitions to fetch; `None` fetches all the group's committed offsets.
    pub partitions: Option<BTreeSet<TopicPartition>>,
    /// `RequireStable` (v7+, KIP-447): answer UNSTABLE_OFFSET_COMMIT for a partition with a
    /// pending transactional offset instead of its last committed offset.
    pub require_stable: bool,
    /// The request version.
    pub version: i16,
}

/// The answer to an OffsetFetch: per partition, the committed offset ([`INVALID_OFFSET`] when
/// none) or its error.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OffsetFetchResponse {
    /// The partitions answered: those named, or for a fetch-all those with a committed offset.
    pub partitions: BTreeMap<TopicPartition, Result<Offset, ErrorCode>>,
}
