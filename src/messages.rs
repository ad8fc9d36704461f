//! The protocol's one vocabulary: every request and response that passes between the producer
//! client, a partition leader and the transaction coordinator, in Kafka's names, defined once.
//!
//! A request carries the API version it was sent at, because Kafka's answer depends on it:
//! the transaction version of an EndTxn or AddPartitionsToTxn, the KIP-890 verification a
//! Produce gets, and which error code an old client is told ([`fenced_error_for_version`]).
//! The version rules live here and in the roles, never in a caller.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::types::{
    CoordinatorEpoch, Offset, ProducerEpoch, ProducerId, Sequence, TimestampMs, TopicPartition,
    TransactionResult, TransactionVersion,
};

/// The newest InitProducerId version the core speaks (v5; v3 added KIP-360's expected id and
/// epoch, v4 the PRODUCER_FENCED error code of KIP-588).
pub const INIT_PRODUCER_ID_VERSION: i16 = 5;
/// The newest client AddPartitionsToTxn version (v3); v4+ is the broker-to-coordinator batched
/// form of KIP-890 (`AddPartitionsToTxnRequest.Builder.forBroker`).
pub const ADD_PARTITIONS_TO_TXN_CLIENT_VERSION: i16 = 3;
/// The version a partition leader sends AddPartitionsToTxn at (v5, `AddPartitionsToTxnManager`).
pub const ADD_PARTITIONS_TO_TXN_BROKER_VERSION: i16 = 5;
/// The newest AddOffsetsToTxn version (v4).
pub const ADD_OFFSETS_TO_TXN_VERSION: i16 = 4;
/// The newest EndTxn version (v5, KIP-890 part 2: TV2, the response carries the bumped epoch).
pub const END_TXN_VERSION: i16 = 5;
/// The last EndTxn version before TV2 (v4).
pub const END_TXN_LAST_BEFORE_TV2_VERSION: i16 = 4;
/// The first EndTxn version of a TV2 client (`TransactionVersion.transactionVersionForEndTxn`).
pub const END_TXN_TV2_VERSION: i16 = 5;
/// The newest Produce version (v12, KIP-890 part 2: the leader adds the partition implicitly).
pub const PRODUCE_VERSION: i16 = 12;
/// The last Produce version before TV2 (`ProduceRequest.LAST_BEFORE_TRANSACTION_V2_VERSION`),
/// which the Java client sends while TV2 is not enabled.
pub const PRODUCE_LAST_BEFORE_TV2_VERSION: i16 = 11;

/// The Produce version a Java client of `transaction_version` sends (`ProduceRequest.builder`):
/// the newest with TV2, else the last before TV2.
pub fn produce_version_for(transaction_version: TransactionVersion) -> i16 {
    if transaction_version.supports_epoch_bump() {
        PRODUCE_VERSION
    } else {
        PRODUCE_LAST_BEFORE_TV2_VERSION
    }
}

/// The EndTxn version a Java client of `transaction_version` sends (`TransactionManager`:
/// EndTxn v5 only with TV2).
pub fn end_txn_version_for(transaction_version: TransactionVersion) -> i16 {
    if transaction_version.supports_epoch_bump() {
        END_TXN_VERSION
    } else {
        END_TXN_LAST_BEFORE_TV2_VERSION
    }
}

/// The Kafka APIs whose answers depend on the request version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ApiKey {
    /// Produce (0).
    Produce,
    /// InitProducerId (22).
    InitProducerId,
    /// AddPartitionsToTxn (24).
    AddPartitionsToTxn,
    /// AddOffsetsToTxn (25).
    AddOffsetsToTxn,
    /// EndTxn (26).
    EndTxn,
    /// TxnOffsetCommit (28).
    TxnOffsetCommit,
}

/// The error an old client is told instead of PRODUCER_FENCED (KIP-588 added code 90; clients
/// below these versions only know INVALID_PRODUCER_EPOCH): `KafkaApis` downgrades it for
/// InitProducerId below v4, AddPartitionsToTxn below v2, AddOffsetsToTxn below v2 and EndTxn
/// below v2. Every other error, and every other API, passes through.
pub fn fenced_error_for_version(api: ApiKey, version: i16, error: ErrorCode) -> ErrorCode {
    let knows_producer_fenced = match api {
        ApiKey::InitProducerId => version >= 4,
        ApiKey::AddPartitionsToTxn | ApiKey::AddOffsetsToTxn | ApiKey::EndTxn => version >= 2,
        ApiKey::Produce | ApiKey::TxnOffsetCommit => true,
    };
    if error == ErrorCode::ProducerFenced && !knows_producer_fenced {
        ErrorCode::InvalidProducerEpoch
    } else {
        error
    }
}

/// A producer id and epoch as returned to a client (`ProducerIdAndEpoch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProducerIdAndEpoch {
    /// The producer id.
    pub producer_id: ProducerId,
    /// The producer epoch.
    pub producer_epoch: ProducerEpoch,
}

/// InitProducerId (`InitProducerIdRequest`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InitProducerIdRequest {
    /// The transactional id; `None` for an idempotent producer.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`; must be in `(0, transaction.max.timeout.ms]`.
    pub transaction_timeout_ms: i32,
    /// KIP-360 expected producer id (v3+); -1 with epoch -1 means none.
    pub producer_id: ProducerId,
    /// KIP-360 expected producer epoch (v3+); -1 with id -1 means none.
    pub producer_epoch: ProducerEpoch,
    /// The request version; below v4 PRODUCER_FENCED is answered INVALID_PRODUCER_EPOCH.
    pub version: i16,
}

/// The answer to InitProducerId: the producer id and epoch, or an error.
pub type InitProducerIdResponse = Result<ProducerIdAndEpoch, ErrorCode>;

/// AddPartitionsToTxn: a client's (v0-3, `TransactionCoordinator.handleAddPartitionsToTransaction`
/// with TV0) or a partition leader's (v4+, KIP-890): with `verify_only` the part-1 check that the
/// partitions are already in the transaction (`handleVerifyPartitionsInTransaction`), without it
/// the part-2 implicit add of a TV2 transaction.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AddPartitionsToTxnRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: ProducerId,
    /// The producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// The partitions to add (or to verify).
    pub partitions: BTreeSet<TopicPartition>,
    /// v4+ broker request with `VerifyOnly`: check membership, add nothing.
    pub verify_only: bool,
    /// The request version: v0-3 from a client, v4+ from a partition leader.
    pub version: i16,
}

impl AddPartitionsToTxnRequest {
    /// A client's AddPartitionsToTxn at the newest client version.
    pub fn from_client(
        transactional_id: String,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
        partitions: BTreeSet<TopicPartition>,
    ) -> Self {
        AddPartitionsToTxnRequest {
            transactional_id,
            producer_id,
            producer_epoch,
            partitions,
            verify_only: false,
            version: ADD_PARTITIONS_TO_TXN_CLIENT_VERSION,
        }
    }

    /// A partition leader's AddPartitionsToTxn (v4+, `AddPartitionsToTxnManager`): with
    /// `verify_only` KIP-890 part 1's membership check, without it TV2's implicit add.
    pub fn from_leader(
        transactional_id: String,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
        partitions: BTreeSet<TopicPartition>,
        verify_only: bool,
    ) -> Self {
        AddPartitionsToTxnRequest {
            transactional_id,
            producer_id,
            producer_epoch,
            partitions,
            verify_only,
            version: ADD_PARTITIONS_TO_TXN_BROKER_VERSION,
        }
    }

    /// The transaction version the coordinator records for this add (`KafkaApis`): TV2 for a
    /// partition leader's implicit add (v4+ without `verify_only`), TV0 otherwise.
    pub fn transaction_version(&self) -> TransactionVersion {
        if self.version > ADD_PARTITIONS_TO_TXN_CLIENT_VERSION && !self.verify_only {
            TransactionVersion::Tv2
        } else {
            TransactionVersion::Tv0
        }
    }
}

/// The answer to AddPartitionsToTxn: success or the (first) partition error.
pub type AddPartitionsToTxnResponse = Result<(), ErrorCode>;

/// AddOffsetsToTxn (`KafkaApis.handleAddOffsetsToTxnRequest`): adds the consumer group's
/// `__consumer_offsets` partition to the transaction, as a TV0 AddPartitionsToTxn.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AddOffsetsToTxnRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: ProducerId,
    /// The producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// The consumer group whose offsets the transaction will commit.
    pub group_id: String,
    /// The request version; below v2 PRODUCER_FENCED is answered INVALID_PRODUCER_EPOCH.
    pub version: i16,
}

/// The name of the group coordinator's topic (`Topic.GROUP_METADATA_TOPIC_NAME`).
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The `__consumer_offsets` partition that holds `group_id`'s offsets
/// (`GroupCoordinator.partitionFor`: `Utils.abs(groupId.hashCode) % partition count`, with Java's
/// `String.hashCode` over UTF-16 code units). `None` for a partition count below 1.
pub fn offsets_partition_for(group_id: &str, partition_count: i32) -> Option<TopicPartition> {
    if partition_count < 1 {
        return None;
    }
    let hash = group_id.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    // Utils.abs: Integer.MIN_VALUE maps to 0.
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    Some(TopicPartition::new(
        CONSUMER_OFFSETS_TOPIC,
        abs % partition_count,
    ))
}

/// EndTxn (`TransactionCoordinator.handleEndTransaction`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EndTxnRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: ProducerId,
    /// The producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// Commit or abort.
    pub result: TransactionResult,
    /// The request version: v5+ is a TV2 client; below v2 PRODUCER_FENCED is answered
    /// INVALID_PRODUCER_EPOCH.
    pub version: i16,
}

impl EndTxnRequest {
    /// `TransactionVersion.transactionVersionForEndTxn`: TV2 for EndTxn v5+, TV0 below.
    pub fn transaction_version(&self) -> TransactionVersion {
        if self.version >= END_TXN_TV2_VERSION {
            TransactionVersion::Tv2
        } else {
            TransactionVersion::Tv0
        }
    }
}

/// The answer to EndTxn: under v5+ (TV2) the producer id and epoch the client must adopt.
pub type EndTxnResponse = Result<Option<ProducerIdAndEpoch>, ErrorCode>;

/// One WriteTxnMarkers entry for one partition (`TxnMarkerEntry` as queued by
/// `TransactionMarkerChannelManager.addTxnMarkersToSend`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WriteTxnMarker {
    /// The transaction the marker completes.
    pub transactional_id: String,
    /// The partition to write it to.
    pub partition: TopicPartition,
    /// The producer id (the *old* id during a TV2 overflow).
    pub producer_id: ProducerId,
    /// The producer epoch (the bumped epoch under TV2 and after a fence).
    pub producer_epoch: ProducerEpoch,
    /// This coordinator's epoch; partition leaders fence older ones.
    pub coordinator_epoch: CoordinatorEpoch,
    /// Commit or abort.
    pub result: TransactionResult,
    /// The transaction's version (`TxnMarkerEntry.transactionVersion`, WriteTxnMarkers v2,
    /// KIP-1228): the leader's TV2 marker-epoch rule depends on it.
    pub transaction_version: TransactionVersion,
}

impl WriteTxnMarker {
    /// The answer to this marker with `error` (`None`: written). A caller whose WriteTxnMarkers
    /// request was disconnected (timed out, or its connection closed) reports every marker of it
    /// as answered with NETWORK_EXCEPTION (`ClientResponse.wasDisconnected`).
    pub fn response(&self, error: Option<ErrorCode>) -> WriteTxnMarkersResponse {
        WriteTxnMarkersResponse {
            transactional_id: self.transactional_id.clone(),
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            coordinator_epoch: self.coordinator_epoch,
            result: self.result,
            partitions: BTreeSet::from([self.partition.clone()]),
            error,
        }
    }
}

/// A partition leader's answer to WriteTxnMarkers for some partitions of one transaction
/// (`TransactionMarkerRequestCompletionHandler`). The id, epochs and result identify the markers
/// answered, as in the [`WriteTxnMarker`]s sent; an answer that does not match the markers now
/// pending (a late or duplicated response) is ignored.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WriteTxnMarkersResponse {
    /// The transaction.
    pub transactional_id: String,
    /// The markers' producer id.
    pub producer_id: ProducerId,
    /// The markers' producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// The markers' coordinator epoch.
    pub coordinator_epoch: CoordinatorEpoch,
    /// The markers' result.
    pub result: TransactionResult,
    /// The partitions answered.
    pub partitions: BTreeSet<TopicPartition>,
    /// Their error; `None` for success.
    pub error: Option<ErrorCode>,
}

/// Produce of one record batch to one partition (`ProduceRequest`, one partition's data).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProduceRequest<P> {
    /// The transactional id of a transactional producer (`ProduceRequest.transactionalId`).
    pub transactional_id: Option<String>,
    /// The partition.
    pub partition: TopicPartition,
    /// The batch's producer id.
    pub producer_id: ProducerId,
    /// The batch's producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// The batch's base sequence.
    pub base_sequence: Sequence,
    /// The number of records.
    pub record_count: i32,
    /// Whether the batch is transactional.
    pub is_transactional: bool,
    /// The batch's `maxTimestamp` (CreateTime), which becomes the producer's last timestamp;
    /// `None` stamps the leader's `now`, as `message.timestamp.type=LogAppendTime` does.
    pub max_timestamp: Option<TimestampMs>,
    /// The records, opaque to the protocol.
    pub payload: P,
    /// The request version: v12+ is a TV2 client (the leader adds the partition, KIP-890 part
    /// 2); it also decides which verification errors the client is told.
    pub version: i16,
}

/// The answer to one partition's Produce: the base offset (-1 when unknown, as for a legacy
/// DUPLICATE_SEQUENCE_NUMBER), or an error.
pub type ProduceResponse = Result<Offset, ErrorCode>;

/// A `ListOffsets` query for one partition (`UnifiedLog.fetchOffsetByTimestamp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OffsetSpec {
    /// `EARLIEST_TIMESTAMP` (-2): the log start offset.
    Earliest,
    /// `LATEST_TIMESTAMP` (-1): the isolation level's end (LSO or high watermark).
    Latest,
    /// The first offset whose batch's max timestamp is at or after this timestamp.
    Timestamp(TimestampMs),
}

impl OffsetSpec {
    /// The spec a ListOffsets timestamp field encodes (-2 earliest, -1 latest, else a time).
    pub fn from_timestamp(timestamp: TimestampMs) -> Self {
        match timestamp {
            -2 => OffsetSpec::Earliest,
            -1 => OffsetSpec::Latest,
            t => OffsetSpec::Timestamp(t),
        }
    }
}
