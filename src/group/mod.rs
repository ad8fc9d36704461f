//! The group coordinator of one `__consumer_offsets` partition, offsets role
//! (`OffsetMetadataManager` with `ClassicGroup.validateOffsetCommit`, Kafka 4.x's new group
//! coordinator): the offsets half of consume–transform–produce exactly-once.
//!
//! [`GroupCoordinator`] holds the partition's classic groups, the committed offset of each
//! (group, partition) with the record offset of its commit, the offsets transactions have
//! committed but not yet completed (pending, per producer id), and the per-producer epochs the
//! partition's log checks for coordinator appends. It takes:
//!
//! - OffsetCommit ([`handle_offset_commit`]): a plain commit, written to the committed offsets;
//! - TxnOffsetCommit ([`handle_txn_offset_commit`]): offsets inside a transaction, KIP-447
//!   member/generation fencing, then the log's epoch check; they stay **pending**;
//! - WriteTxnMarkers for the offsets partition ([`handle_write_txn_marker`]): epoch and
//!   coordinator-epoch fencing, then COMMIT completes the producer's pending offsets (the later
//!   record in the log wins against a plain commit) and ABORT drops them;
//! - OffsetFetch ([`handle_offset_fetch`]): with `require_stable`, UNSTABLE_OFFSET_COMMIT for a
//!   partition with a pending offset; fetch-all lists the committed partitions only;
//! - the log itself ([`replay`], [`load_group`]): reloading after failover
//!   (`CoordinatorLoaderImpl`) replays the batches the handlers emitted and reproduces the state.
//!
//! Sans-IO, as every role: a handler takes the request and `now`, changes the plain-data state,
//! and returns the answer with [`GroupOutput`]s, the batches it appended to the offsets
//! partition (taken as durable, as the coordinator's synchronous handlers take theirs). A
//! refused request writes nothing and changes nothing (the runtime's `revertLastWrittenOffset`).
//! Protocol failures are [`ErrorCode`]s; a request no well-formed client sends (a field its
//! version does not have, an unknown version) and a malformed log are a [`GroupError`].
//!
//! # Example: a transactional offset, a require_stable reader, the marker, a failover
//!
//! ```
//! use std::collections::{BTreeMap, BTreeSet};
//! use kafka_eos::group::*;
//! use kafka_eos::{ErrorCode, TopicPartition, TransactionResult, TransactionVersion};
//!
//! let mut coordinator = GroupCoordinator::new(GroupCoordinatorConfig::default());
//! let mut log = Vec::new(); // what a broker persists in __consumer_offsets
//! let t0: TopicPartition = "orders-0".parse()?;
//!
//! // The transform loop's producer commits its input offset inside its transaction.
//! let commit = TxnOffsetCommitRequest {
//!     transactional_id: "tx".into(), group_id: "g".into(), producer_id: 7, producer_epoch: 0,
//!     generation_id: UNKNOWN_GENERATION_ID, member_id: String::new(), group_instance_id: None,
//!     offsets: BTreeMap::from([(t0.clone(), 42)]), version: TXN_OFFSET_COMMIT_VERSION,
//! };
//! let (answer, outputs) = coordinator.handle_txn_offset_commit(&commit, 0)?;
//! assert!(answer.errors().is_empty());
//! log.extend(outputs.into_iter().map(|GroupOutput::AppendOffsetsLog(b)| b));
//!
//! // A read_committed consumer taking the partition over waits: UNSTABLE_OFFSET_COMMIT.
//! let fetch = OffsetFetchRequest {
//!     group_id: "g".into(), partitions: Some(BTreeSet::from([t0.clone()])),
//!     require_stable: true, version: OFFSET_FETCH_VERSION,
//! };
//! assert_eq!(coordinator.handle_offset_fetch(&fetch)?.partitions[&t0], Err(ErrorCode::UnstableOffsetCommit));
//!
//! // The transaction coordinator's COMMIT marker (TV2: the bumped epoch) completes it.
//! let marker = WriteTxnMarker {
//!     transactional_id: "tx".into(), partition: coordinator.config().offsets_partition.clone(),
//!     producer_id: 7, producer_epoch: 1, coordinator_epoch: 0,
//!     result: TransactionResult::Commit, transaction_version: TransactionVersion::Tv2,
//! };
//! let (response, outputs) = coordinator.handle_write_txn_marker(&marker, 0);
//! assert_eq!(response.error, None);
//! log.extend(outputs.into_iter().map(|GroupOutput::AppendOffsetsLog(b)| b));
//! assert_eq!(coordinator.handle_offset_fetch(&fetch)?.partitions[&t0], Ok(42));
//!
//! // Failover: the new leader replays the log.
//! assert_eq!(GroupCoordinator::load(GroupCoordinatorConfig::default(), &log)?, coordinator);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`handle_offset_commit`]: GroupCoordinator::handle_offset_commit
//! [`handle_txn_offset_commit`]: GroupCoordinator::handle_txn_offset_commit
//! [`handle_write_txn_marker`]: GroupCoordinator::handle_write_txn_marker
//! [`handle_offset_fetch`]: GroupCoordinator::handle_offset_fetch
//! [`replay`]: GroupCoordinator::replay
//! [`load_group`]: GroupCoordinator::load_group

mod log;
pub mod membership;
mod messages;
mod rebalance;
mod state;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use log::{OffsetCommitValue, OffsetsBatch, OffsetsBatchContent, OffsetsRecord};
pub use messages::{
    txn_offset_commit_verification_error, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
    INVALID_OFFSET, OFFSET_COMMIT_GROUP_ID_NOT_FOUND_VERSION, OFFSET_COMMIT_INSTANCE_ID_VERSION,
    OFFSET_COMMIT_MEMBER_VERSION, OFFSET_COMMIT_VERSION, OFFSET_FETCH_REQUIRE_STABLE_VERSION,
    OFFSET_FETCH_VERSION, TXN_OFFSET_COMMIT_LAST_BEFORE_TV2_VERSION,
    TXN_OFFSET_COMMIT_MEMBER_VERSION, TXN_OFFSET_COMMIT_VERSION, UNKNOWN_GENERATION_ID,
};
pub use state::{
    ClassicGroup, ClassicGroupMember, ClassicGroupState, OffsetAndMetadata, OffsetsProducerState,
    UnknownClassicGroupState,
};

pub use crate::messages::{WriteTxnMarker, WriteTxnMarkersResponse};

use crate::error::ErrorCode;
use crate::messages::{AddPartitionsToTxnRequest, CONSUMER_OFFSETS_TOPIC};
use crate::types::{
    CoordinatorEpoch, Offset, ProducerEpoch, ProducerId, TimestampMs, TopicPartition,
    TransactionResult, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};

/// The group coordinator's settings.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupCoordinatorConfig {
    /// The `__consumer_offsets` partition this coordinator owns (the partition of every group it
    /// is given, `offsets_partition_for`); named in the KIP-890 verification of a TxnOffsetCommit.
    pub offsets_partition: TopicPartition,
    /// Known bugs switched on (all off: Kafka's rules).
    pub bugs: GroupBugs,
}

impl Default for GroupCoordinatorConfig {
    fn default() -> Self {
        GroupCoordinatorConfig {
            offsets_partition: TopicPartition::new(CONSUMER_OFFSETS_TOPIC, 0),
            bugs: GroupBugs::default(),
        }
    }
}

/// Known bugs the group coordinator can be switched into, for the model's exactly-once
/// processor scenarios (each off by default, Kafka's rule).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct GroupBugs {
    /// A TxnOffsetCommit is not fenced by the group's generation or membership (Kafka before
    /// KIP-447, TxnOffsetCommit below v3: `validateTransactionalOffsetCommit` skipped), so a
    /// zombie member's offsets can commit.
    pub no_generation_fencing: bool,
    /// An ABORT marker leaves the producer's pending offsets in place
    /// (`replayEndTransactionMarker` without the removal): require_stable readers stay
    /// UNSTABLE, and the producer id's next COMMIT commits the aborted offsets too.
    pub keep_pending_on_abort: bool,
}

/// What the caller must do after a handler.
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum GroupOutput {
    /// Durable state: this batch was appended to the offsets partition. Replaying the batches in
    /// order ([`GroupCoordinator::replay`]) reproduces the coordinator.
    AppendOffsetsLog(OffsetsBatch),
}

/// Misuse of the group coordinator's API: input no well-formed request or log carries.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// A request version the core does not speak.
    #[error("{api} version {version} is not supported (0..={max})")]
    UnsupportedVersion {
        /// The API.
        api: &'static str,
        /// The version given.
        version: i16,
        /// The newest version spoken.
        max: i16,
    },
    /// A field set that the request's version does not carry on the wire.
    #[error("{api} v{version} has no {field}")]
    FieldNotInVersion {
        /// The API.
        api: &'static str,
        /// The request version.
        version: i16,
        /// The field.
        field: &'static str,
    },
    /// `load_group` of a group that exists.
    #[error("group {0:?} already exists")]
    GroupExists(String),
    /// A group Kafka cannot hold (see [`ClassicGroup::check`]).
    #[error("invalid group {group_id:?}: {reason}")]
    InvalidGroup {
        /// The group.
        group_id: String,
        /// The broken invariant.
        reason: &'static str,
    },
    /// A batch replayed below the log end offset.
    #[error("batch at offset {base_offset} is below the log end offset {log_end_offset}")]
    ReplayOutOfOrder {
        /// The batch's base offset.
        base_offset: Offset,
        /// The log end offset.
        log_end_offset: Offset,
    },
    /// A batch the coordinator never writes (no records, a marker without producer, a group
    /// record in a transaction, an offset overflow).
    #[error("invalid offsets batch at offset {base_offset}: {reason}")]
    InvalidBatch {
        /// The batch's base offset.
        base_offset: Offset,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Pending offsets of one producer: group → partition → offset.
pub type PendingOffsets = BTreeMap<String, BTreeMap<TopicPartition, OffsetAndMetadata>>;

/// The group coordinator of one `__consumer_offsets` partition (offsets role). See the module
/// documentation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupCoordinator {
    config: GroupCoordinatorConfig,
    /// `GroupMetadataManager.groups` (classic groups only).
    groups: BTreeMap<String, ClassicGroup>,
    /// `OffsetMetadataManager.offsets`: group → partition → committed offset.
    offsets: BTreeMap<String, BTreeMap<TopicPartition, OffsetAndMetadata>>,
    /// `pendingTransactionalOffsets`: producer id → its pending offsets.
    pending_transactional_offsets: BTreeMap<ProducerId, PendingOffsets>,
    /// `openTransactionsByGroup`: group → producer ids with pending offsets for it.
    open_transactions_by_group: BTreeMap<String, BTreeSet<ProducerId>>,
    /// The offsets partition's producer state (epoch, coordinator epoch).
    producers: BTreeMap<ProducerId, OffsetsProducerState>,
    /// The offset the next batch is written at.
    log_end_offset: Offset,
}

impl Default for GroupCoordinator {
    fn default() -> Self {
        GroupCoordinator::new(GroupCoordinatorConfig::default())
    }
}

const OFFSET_COMMIT: &str = "OffsetCommit";
const TXN_OFFSET_COMMIT: &str = "TxnOffsetCommit";
const OFFSET_FETCH: &str = "OffsetFetch";

fn check_version(api: &'static str, version: i16, max: i16) -> Result<(), GroupError> {
    if (0..=max).contains(&version) {
        Ok(())
    } else {
        Err(GroupError::UnsupportedVersion { api, version, max })
    }
}

impl GroupCoordinator {
    /// A coordinator of an empty offsets partition.
    pub fn new(config: GroupCoordinatorConfig) -> Self {
        GroupCoordinator {
            config,
            groups: BTreeMap::new(),
            offsets: BTreeMap::new(),
            pending_transactional_offsets: BTreeMap::new(),
            open_transactions_by_group: BTreeMap::new(),
            producers: BTreeMap::new(),
            log_end_offset: 0,
        }
    }

    /// A coordinator that became the partition's leader and loaded its log
    /// (`CoordinatorLoaderImpl`): every batch replayed in order ([`replay`](Self::replay)).
    pub fn load<'a>(
        config: GroupCoordinatorConfig,
        batches: impl IntoIterator<Item = &'a OffsetsBatch>,
    ) -> Result<Self, GroupError> {
        let mut coordinator = GroupCoordinator::new(config);
        for batch in batches {
            coordinator.replay(batch)?;
        }
        Ok(coordinator)
    }

    // -----------------------------------------------------------------------------------------
    // Observers.

    /// The settings.
    pub fn config(&self) -> &GroupCoordinatorConfig {
        &self.config
    }

    /// A group, if it exists.
    pub fn group(&self, group_id: &str) -> Option<&ClassicGroup> {
        self.groups.get(group_id)
    }

    /// Every group, by id.
    pub fn groups(&self) -> &BTreeMap<String, ClassicGroup> {
        &self.groups
    }

    /// The committed offset of (group, partition) (`OffsetMetadataManager.offset`).
    pub fn committed_offset(
        &self,
        group_id: &str,
        partition: &TopicPartition,
    ) -> Option<&OffsetAndMetadata> {
        self.offsets.get(group_id)?.get(partition)
    }

    /// Every committed offset of a group (empty when none).
    pub fn committed_offsets(&self, group_id: &str) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        self.offsets.get(group_id).cloned().unwrap_or_default()
    }

    /// A producer's pending offset for (group, partition)
    /// (`OffsetMetadataManager.pendingTransactionalOffset`).
    pub fn pending_offset(
        &self,
        producer_id: ProducerId,
        group_id: &str,
        partition: &TopicPartition,
    ) -> Option<&OffsetAndMetadata> {
        self.pending_transactional_offsets
            .get(&producer_id)?
            .get(group_id)?
            .get(partition)
    }

    /// Every pending offset of a producer.
    pub fn pending_offsets(&self, producer_id: ProducerId) -> Option<&PendingOffsets> {
        self.pending_transactional_offsets.get(&producer_id)
    }

    /// The producer ids with pending offsets for a group (`openTransactionsByGroup`), sorted.
    pub fn open_producer_ids(&self, group_id: &str) -> BTreeSet<ProducerId> {
        self.open_transactions_by_group
            .get(group_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Whether an open transaction has a pending offset for (group, partition)
    /// (`OffsetMetadataManager.hasPendingTransactionalOffsets`).
    pub fn has_pending_transactional_offsets(
        &self,
        group_id: &str,
        partition: &TopicPartition,
    ) -> bool {
        self.open_transactions_by_group
            .get(group_id)
            .is_some_and(|pids| {
                pids.iter()
                    .any(|pid| self.pending_offset(*pid, group_id, partition).is_some())
            })
    }

    /// The offsets partition's state for a producer id.
    pub fn producer(&self, producer_id: ProducerId) -> Option<&OffsetsProducerState> {
        self.producers.get(&producer_id)
    }

    /// The offset the next batch is written at.
    pub fn log_end_offset(&self) -> Offset {
        self.log_end_offset
    }

    /// The AddPartitionsToTxn the offsets partition's leader sends before writing `request`
    /// (KIP-890; see [`TxnOffsetCommitRequest::verification_request`]).
    pub fn verification_request(
        &self,
        request: &TxnOffsetCommitRequest,
    ) -> AddPartitionsToTxnRequest {
        request.verification_request(self.config.offsets_partition.clone())
    }

    // -----------------------------------------------------------------------------------------
    // Inputs.

    /// A classic group as read from its GroupMetadata record (failover, or a group given as it
    /// is): the record is appended at the log end and returned, so that a reload reproduces the
    /// group. A group the membership role changed is stored with [`store_group`](Self::store_group).
    pub fn load_group(
        &mut self,
        group: ClassicGroup,
        now: TimestampMs,
    ) -> Result<Vec<GroupOutput>, GroupError> {
        if self.groups.contains_key(&group.group_id) {
            return Err(GroupError::GroupExists(group.group_id));
        }
        group.check().map_err(|reason| GroupError::InvalidGroup {
            group_id: group.group_id.clone(),
            reason,
        })?;
        let batch = OffsetsBatch {
            base_offset: self.log_end_offset,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            timestamp: now,
            content: OffsetsBatchContent::Records(vec![OffsetsRecord::GroupMetadata(group)]),
        };
        self.replay(&batch)?;
        Ok(vec![GroupOutput::AppendOffsetsLog(batch)])
    }

    /// A classic group as the membership protocol left it ([`membership::MembershipOutput::GroupChanged`]):
    /// a GroupMetadata record is appended at the log end and replayed (it replaces the group,
    /// `GroupMetadataManager.replay`), so that the offset commits' checks see the members and
    /// generation and a reload reproduces them. A group Kafka cannot hold is a [`GroupError`].
    pub fn store_group(
        &mut self,
        group: ClassicGroup,
        now: TimestampMs,
    ) -> Result<Vec<GroupOutput>, GroupError> {
        if self.groups.get(&group.group_id) == Some(&group) {
            return Ok(Vec::new());
        }
        group.check().map_err(|reason| GroupError::InvalidGroup {
            group_id: group.group_id.clone(),
            reason,
        })?;
        self.groups.remove(&group.group_id);
        self.load_group(group, now)
    }

    /// OffsetCommit (`GroupCoordinatorService.commitOffsets` → `OffsetMetadataManager.commitOffset`),
    /// in Kafka's check order; a group error is answered for every partition:
    /// 1. an empty group id → INVALID_GROUP_ID;
    /// 2. an absent group: generation < 0 creates an Empty simple group and is accepted; a
    ///    generation ≥ 0 → GROUP_ID_NOT_FOUND from v9, ILLEGAL_GENERATION below
    ///    (`OffsetMetadataManager.validateOffsetCommit`);
    /// 3. an existing group: [`ClassicGroup::validate_offset_commit`] (not transactional).
    ///
    /// On success one plain batch is appended, a record per partition in ascending order, and
    /// each offset becomes the committed one at its record offset; pending transactional
    /// offsets are left alone. A request without partitions writes nothing.
    pub fn handle_offset_commit(
        &mut self,
        request: &OffsetCommitRequest,
        now: TimestampMs,
    ) -> Result<(OffsetCommitResponse, Vec<GroupOutput>), GroupError> {
        check_version(OFFSET_COMMIT, request.version, OFFSET_COMMIT_VERSION)?;
        let not_in = |field| GroupError::FieldNotInVersion {
            api: OFFSET_COMMIT,
            version: request.version,
            field,
        };
        if request.version < OFFSET_COMMIT_MEMBER_VERSION
            && (request.generation_id != UNKNOWN_GENERATION_ID || !request.member_id.is_empty())
        {
            return Err(not_in("GenerationIdOrMemberEpoch or MemberId"));
        }
        if request.version < OFFSET_COMMIT_INSTANCE_ID_VERSION
            && request.group_instance_id.is_some()
        {
            return Err(not_in("GroupInstanceId"));
        }
        let refuse = |e| OffsetCommitResponse::all(request.offsets.keys(), Err(e));
        if request.offsets.is_empty() {
            return Ok((OffsetCommitResponse::default(), Vec::new()));
        }
        if request.group_id.is_empty() {
            return Ok((refuse(ErrorCode::InvalidGroupId), Vec::new()));
        }
        match self.groups.get(&request.group_id) {
            None if request.generation_id < 0 => {}
            None if request.version >= OFFSET_COMMIT_GROUP_ID_NOT_FOUND_VERSION => {
                return Ok((refuse(ErrorCode::GroupIdNotFound), Vec::new()));
            }
            None => return Ok((refuse(ErrorCode::IllegalGeneration), Vec::new())),
            Some(group) => {
                if let Err(e) = group.validate_offset_commit(
                    &request.member_id,
                    request.group_instance_id.as_deref(),
                    request.generation_id,
                    false,
                ) {
                    return Ok((refuse(e), Vec::new()));
                }
            }
        }
        match self.append_offsets(
            &request.group_id,
            NO_PRODUCER_ID,
            NO_PRODUCER_EPOCH,
            &request.offsets,
            now,
        ) {
            Ok(batch) => Ok((
                OffsetCommitResponse::all(request.offsets.keys(), Ok(())),
                vec![GroupOutput::AppendOffsetsLog(batch)],
            )),
            Err(e) => Ok((refuse(e), Vec::new())),
        }
    }

    /// TxnOffsetCommit (`GroupCoordinatorService.commitTransactionalOffsets` →
    /// `OffsetMetadataManager.commitTransactionalOffset`), in Kafka's check order; every error
    /// is answered for every partition:
    /// 1. an empty group id → INVALID_GROUP_ID;
    /// 2. (KIP-890 verification: taken as success, see
    ///    [`verification_request`](Self::verification_request));
    /// 3. an absent group: generation < 0 creates an Empty simple group and is accepted, a
    ///    generation ≥ 0 → ILLEGAL_GENERATION (`validateTransactionalOffsetCommit`);
    ///    an existing group: [`ClassicGroup::validate_offset_commit`] (transactional: a
    ///    group-id-only commit is accepted unfenced, and no REBALANCE_IN_PROGRESS);
    /// 4. the log's check of the transactional batch (`ProducerAppendInfo.checkProducerEpoch`):
    ///    a producer epoch below the last one written for the producer id →
    ///    INVALID_PRODUCER_EPOCH (a negative producer id → INVALID_RECORD).
    ///
    /// On success one transactional batch (the producer's id and epoch) is appended and its
    /// offsets become **pending** for the producer: a later commit of the same producer for the
    /// same partition replaces the earlier one, record offset included; the producer id is open
    /// for the group until its marker. A request without partitions writes nothing.
    pub fn handle_txn_offset_commit(
        &mut self,
        request: &TxnOffsetCommitRequest,
        now: TimestampMs,
    ) -> Result<(TxnOffsetCommitResponse, Vec<GroupOutput>), GroupError> {
        check_version(
            TXN_OFFSET_COMMIT,
            request.version,
            TXN_OFFSET_COMMIT_VERSION,
        )?;
        if request.version < TXN_OFFSET_COMMIT_MEMBER_VERSION
            && (request.generation_id != UNKNOWN_GENERATION_ID
                || !request.member_id.is_empty()
                || request.group_instance_id.is_some())
        {
            return Err(GroupError::FieldNotInVersion {
                api: TXN_OFFSET_COMMIT,
                version: request.version,
                field: "GenerationId, MemberId or GroupInstanceId",
            });
        }
        let refuse = |e| TxnOffsetCommitResponse::all(request.offsets.keys(), Err(e));
        if request.offsets.is_empty() {
            return Ok((TxnOffsetCommitResponse::default(), Vec::new()));
        }
        if request.group_id.is_empty() {
            return Ok((refuse(ErrorCode::InvalidGroupId), Vec::new()));
        }
        match self.groups.get(&request.group_id) {
            None if request.generation_id < 0 => {}
            None => return Ok((refuse(ErrorCode::IllegalGeneration), Vec::new())),
            Some(_) if self.config.bugs.no_generation_fencing => {}
            Some(group) => {
                if let Err(e) = group.validate_offset_commit(
                    &request.member_id,
                    request.group_instance_id.as_deref(),
                    request.generation_id,
                    true,
                ) {
                    return Ok((refuse(e), Vec::new()));
                }
            }
        }
        if request.producer_id < 0 {
            return Ok((refuse(ErrorCode::InvalidRecord), Vec::new()));
        }
        if let Err(e) = self.check_producer_epoch(request.producer_id, request.producer_epoch) {
            return Ok((refuse(e), Vec::new()));
        }
        match self.append_offsets(
            &request.group_id,
            request.producer_id,
            request.producer_epoch,
            &request.offsets,
            now,
        ) {
            Ok(batch) => Ok((
                TxnOffsetCommitResponse::all(request.offsets.keys(), Ok(())),
                vec![GroupOutput::AppendOffsetsLog(batch)],
            )),
            Err(e) => Ok((refuse(e), Vec::new())),
        }
    }

    /// One WriteTxnMarkers entry for the offsets partition (`CoordinatorRuntime.completeTransaction`
    /// with the log's `ProducerAppendInfo.appendEndTxnMarker`):
    /// 1. a producer epoch below the last one written for the producer id →
    ///    INVALID_PRODUCER_EPOCH;
    /// 2. a coordinator epoch below the producer's last marker's → TRANSACTION_COORDINATOR_FENCED;
    /// 3. otherwise the marker is written (it takes one offset, and records both epochs) and
    ///    `replayEndTransactionMarker` applies it: every pending offset of the producer id (all
    ///    groups) is removed; COMMIT makes each the committed offset if the partition has none
    ///    or its record offset is greater than the committed one's; ABORT drops them. A marker
    ///    for a producer id with nothing pending changes no offset.
    ///
    /// A refused marker changes nothing. The answer is for the transaction coordinator.
    pub fn handle_write_txn_marker(
        &mut self,
        marker: &WriteTxnMarker,
        now: TimestampMs,
    ) -> (WriteTxnMarkersResponse, Vec<GroupOutput>) {
        match self.write_marker(
            marker.producer_id,
            marker.producer_epoch,
            marker.coordinator_epoch,
            marker.result,
            now,
        ) {
            Ok(batch) => (
                marker.response(None),
                vec![GroupOutput::AppendOffsetsLog(batch)],
            ),
            Err(e) => (marker.response(Some(e)), Vec::new()),
        }
    }

    /// The marker step of [`handle_write_txn_marker`](Self::handle_write_txn_marker), for one
    /// producer: the batch written, or the error (a negative producer id → INVALID_RECORD).
    pub fn write_marker(
        &mut self,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
        coordinator_epoch: CoordinatorEpoch,
        result: TransactionResult,
        now: TimestampMs,
    ) -> Result<OffsetsBatch, ErrorCode> {
        if producer_id < 0 {
            return Err(ErrorCode::InvalidRecord);
        }
        self.check_producer_epoch(producer_id, producer_epoch)?;
        if let Some(state) = self.producers.get(&producer_id) {
            if coordinator_epoch < state.coordinator_epoch {
                return Err(ErrorCode::TransactionCoordinatorFenced);
            }
        }
        if self.log_end_offset.checked_add(1).is_none() {
            return Err(ErrorCode::InvalidRecord);
        }
        let batch = OffsetsBatch {
            base_offset: self.log_end_offset,
            producer_id,
            producer_epoch,
            timestamp: now,
            content: OffsetsBatchContent::Marker {
                result,
                coordinator_epoch,
            },
        };
        self.apply(&batch);
        Ok(batch)
    }

    /// OffsetFetch for one group (`OffsetMetadataManager.fetchOffsets` / `fetchAllOffsets`):
    /// - an empty group id → INVALID_GROUP_ID (`GroupCoordinatorService.fetchOffsets`, a
    ///   group-level error in Kafka), answered here as every named partition's error;
    /// - an absent or `Dead` group: -1 without error for every partition named, nothing for a
    ///   fetch-all (`testFetchOffsetsWithUnknownGroup`, `testGenericGroupFetchOffsetsWithDeadGroup`);
    /// - per partition: with `require_stable` and a pending offset of any open producer for
    ///   (group, partition) → UNSTABLE_OFFSET_COMMIT; otherwise the committed offset, or -1;
    /// - a fetch-all lists exactly the partitions with a committed offset (a pending-only
    ///   partition is absent, not UNSTABLE).
    pub fn handle_offset_fetch(
        &self,
        request: &OffsetFetchRequest,
    ) -> Result<OffsetFetchResponse, GroupError> {
        check_version(OFFSET_FETCH, request.version, OFFSET_FETCH_VERSION)?;
        let not_in = |field| GroupError::FieldNotInVersion {
            api: OFFSET_FETCH,
            version: request.version,
            field,
        };
        if request.version < OFFSET_FETCH_REQUIRE_STABLE_VERSION && request.require_stable {
            return Err(not_in("RequireStable"));
        }
        if request.version < 2 && request.partitions.is_none() {
            return Err(not_in("null Topics (fetch-all)"));
        }
        let group_id = request.group_id.as_str();
        if group_id.is_empty() {
            return Ok(OffsetFetchResponse {
                partitions: request
                    .partitions
                    .iter()
                    .flatten()
                    .map(|p| (p.clone(), Err(ErrorCode::InvalidGroupId)))
                    .collect(),
            });
        }
        let live = self
            .groups
            .get(group_id)
            .is_some_and(|g| g.state != ClassicGroupState::Dead);
        let answer = |partition: &TopicPartition| -> Result<Offset, ErrorCode> {
            if request.require_stable && self.has_pending_transactional_offsets(group_id, partition)
            {
                Err(ErrorCode::UnstableOffsetCommit)
            } else {
                Ok(self
                    .committed_offset(group_id, partition)
                    .map_or(INVALID_OFFSET, |o| o.committed_offset))
            }
        };
        let partitions = match &request.partitions {
            Some(named) if !live => named
                .iter()
                .map(|p| (p.clone(), Ok(INVALID_OFFSET)))
                .collect(),
            None if !live => BTreeMap::new(),
            Some(named) => named.iter().map(|p| (p.clone(), answer(p))).collect(),
            None => self
                .offsets
                .get(group_id)
                .into_iter()
                .flat_map(|offsets| offsets.keys())
                .map(|p| (p.clone(), answer(p)))
                .collect(),
        };
        Ok(OffsetFetchResponse { partitions })
    }

    /// Replays one batch of the offsets partition, as a new leader loads it
    /// (`CoordinatorLoaderImpl` → `OffsetMetadataManager.replay`, `replayEndTransactionMarker`,
    /// `GroupMetadataManager.replay`), and as every handler applies what it writes:
    /// - an OffsetCommit record creates its group (a simple group) when absent; in a plain batch
    ///   it becomes the committed offset at its record offset; in a transactional batch it
    ///   becomes the producer's pending offset and opens the producer id for the group;
    /// - a GroupMetadata record sets the group;
    /// - a transactional batch sets the producer's epoch; a marker sets its epoch and
    ///   coordinator epoch and completes or drops its pending offsets.
    ///
    /// Batches must come in log order (a gap is fine: compaction).
    pub fn replay(&mut self, batch: &OffsetsBatch) -> Result<(), GroupError> {
        let invalid = |reason| GroupError::InvalidBatch {
            base_offset: batch.base_offset,
            reason,
        };
        if batch.base_offset < self.log_end_offset {
            return Err(GroupError::ReplayOutOfOrder {
                base_offset: batch.base_offset,
                log_end_offset: self.log_end_offset,
            });
        }
        let count = i64::try_from(batch.record_count()).map_err(|_| invalid("too many records"))?;
        if count == 0 {
            return Err(invalid("a data batch without records"));
        }
        if batch.base_offset.checked_add(count).is_none() {
            return Err(invalid("the offsets overflow"));
        }
        match &batch.content {
            OffsetsBatchContent::Marker { .. } if batch.producer_id < 0 => {
                return Err(invalid("a marker without a producer id"));
            }
            OffsetsBatchContent::Marker { .. } => {}
            OffsetsBatchContent::Records(records) => {
                for record in records {
                    match record {
                        OffsetsRecord::GroupMetadata(_) if batch.producer_id >= 0 => {
                            return Err(invalid("a group record in a transactional batch"));
                        }
                        OffsetsRecord::GroupMetadata(group) => {
                            group.check().map_err(|reason| GroupError::InvalidGroup {
                                group_id: group.group_id.clone(),
                                reason,
                            })?;
                        }
                        OffsetsRecord::OffsetCommit { group_id, .. } if group_id.is_empty() => {
                            return Err(invalid("an offset commit without a group id"));
                        }
                        OffsetsRecord::OffsetCommit { .. } => {}
                    }
                }
            }
        }
        self.apply(batch);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Internals.

    /// The log's epoch check for a coordinator append or a marker (`checkProducerEpoch`, TV0/1
    /// rule: only an older epoch is refused).
    fn check_producer_epoch(
        &self,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
    ) -> Result<(), ErrorCode> {
        match self.producers.get(&producer_id) {
            Some(state) if producer_epoch < state.producer_epoch => {
                Err(ErrorCode::InvalidProducerEpoch)
            }
            _ => Ok(()),
        }
    }

    /// Writes one batch of offset commits for a group (validated by the caller).
    fn append_offsets(
        &mut self,
        group_id: &str,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
        offsets: &BTreeMap<TopicPartition, Offset>,
        now: TimestampMs,
    ) -> Result<OffsetsBatch, ErrorCode> {
        let fits = i64::try_from(offsets.len())
            .ok()
            .and_then(|n| self.log_end_offset.checked_add(n))
            .is_some();
        if !fits {
            return Err(ErrorCode::InvalidRecord);
        }
        let records = offsets
            .iter()
            .map(|(partition, offset)| OffsetsRecord::OffsetCommit {
                group_id: group_id.to_string(),
                partition: partition.clone(),
                value: OffsetCommitValue {
                    offset: *offset,
                    commit_timestamp: now,
                },
            })
            .collect();
        let batch = OffsetsBatch {
            base_offset: self.log_end_offset,
            producer_id,
            producer_epoch,
            timestamp: now,
            content: OffsetsBatchContent::Records(records),
        };
        self.apply(&batch);
        Ok(batch)
    }

    /// Applies a well-formed batch at its offsets.
    fn apply(&mut self, batch: &OffsetsBatch) {
        let pid = batch.producer_id;
        let mut offset = batch.base_offset;
        match &batch.content {
            OffsetsBatchContent::Records(records) => {
                if pid >= 0 {
                    let state = self.producers.entry(pid).or_insert(OffsetsProducerState {
                        producer_epoch: batch.producer_epoch,
                        coordinator_epoch: -1,
                    });
                    state.producer_epoch = batch.producer_epoch;
                }
                for record in records {
                    self.replay_record(offset, pid, record);
                    offset = offset.saturating_add(1);
                }
            }
            OffsetsBatchContent::Marker {
                result,
                coordinator_epoch,
            } => {
                self.producers.insert(
                    pid,
                    OffsetsProducerState {
                        producer_epoch: batch.producer_epoch,
                        coordinator_epoch: *coordinator_epoch,
                    },
                );
                self.replay_end_transaction_marker(pid, *result);
                offset = offset.saturating_add(1);
            }
        }
        self.log_end_offset = offset;
    }

    /// `OffsetMetadataManager.replay` (OffsetCommit) and `GroupMetadataManager.replay`
    /// (GroupMetadata) for one record at `record_offset`.
    fn replay_record(
        &mut self,
        record_offset: Offset,
        producer_id: ProducerId,
        record: &OffsetsRecord,
    ) {
        match record {
            OffsetsRecord::GroupMetadata(group) => {
                self.groups.insert(group.group_id.clone(), group.clone());
            }
            OffsetsRecord::OffsetCommit {
                group_id,
                partition,
                value,
            } => {
                if !self.groups.contains_key(group_id) {
                    self.groups
                        .insert(group_id.clone(), ClassicGroup::simple(group_id.clone()));
                }
                let offset = OffsetAndMetadata {
                    committed_offset: value.offset,
                    commit_timestamp: value.commit_timestamp,
                    record_offset,
                };
                if producer_id == NO_PRODUCER_ID || producer_id < 0 {
                    self.offsets
                        .entry(group_id.clone())
                        .or_default()
                        .insert(partition.clone(), offset);
                } else {
                    self.pending_transactional_offsets
                        .entry(producer_id)
                        .or_default()
                        .entry(group_id.clone())
                        .or_default()
                        .insert(partition.clone(), offset);
                    self.open_transactions_by_group
                        .entry(group_id.clone())
                        .or_default()
                        .insert(producer_id);
                }
            }
        }
    }

    /// `OffsetMetadataManager.replayEndTransactionMarker`.
    fn replay_end_transaction_marker(
        &mut self,
        producer_id: ProducerId,
        result: TransactionResult,
    ) {
        if result == TransactionResult::Abort && self.config.bugs.keep_pending_on_abort {
            return;
        }
        let Some(pending) = self.pending_transactional_offsets.remove(&producer_id) else {
            return;
        };
        for (group_id, partitions) in pending {
            if let Some(open) = self.open_transactions_by_group.get_mut(&group_id) {
                open.remove(&producer_id);
                if open.is_empty() {
                    self.open_transactions_by_group.remove(&group_id);
                }
            }
            if result == TransactionResult::Abort {
                continue;
            }
            let committed = self.offsets.entry(group_id).or_default();
            for (partition, offset) in partitions {
                let newer = committed
                    .get(&partition)
                    .is_none_or(|existing| offset.record_offset > existing.record_offset);
                if newer {
                    committed.insert(partition, offset);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(s: &str) -> TopicPartition {
        s.parse().unwrap()
    }

    #[test]
    fn commit_marker_keeps_the_later_record() {
        let mut c = GroupCoordinator::default();
        let txn = TxnOffsetCommitRequest {
            transactional_id: "t".into(),
            group_id: "g".into(),
            producer_id: 7,
            producer_epoch: 0,
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            offsets: BTreeMap::from([(tp("t-0"), 9)]),
            version: TXN_OFFSET_COMMIT_VERSION,
        };
        let (answer, out) = c.handle_txn_offset_commit(&txn, 0).unwrap();
        assert!(answer.errors().is_empty());
        assert_eq!(out.len(), 1);
        let plain = OffsetCommitRequest {
            group_id: "g".into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            offsets: BTreeMap::from([(tp("t-0"), 12)]),
            version: OFFSET_COMMIT_VERSION,
        };
        let _ = c.handle_offset_commit(&plain, 0).unwrap();
        c.write_marker(7, 1, 0, TransactionResult::Commit, 0)
            .unwrap();
        assert_eq!(
            c.committed_offset("g", &tp("t-0"))
                .unwrap()
                .committed_offset,
            12
        );
        assert!(c.open_producer_ids("g").is_empty());
        assert_eq!(c.log_end_offset(), 3);
    }
}
