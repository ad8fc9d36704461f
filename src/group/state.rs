//! The state the group coordinator keeps: classic groups (`ClassicGroup`), offsets with the
//! record offset of their commit (`OffsetAndMetadata`), and the offsets partition's per-producer
//! epochs (`ProducerStateEntry`, as the log keeps them for coordinator appends).

use core::fmt;
use core::str::FromStr;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::types::{CoordinatorEpoch, Offset, ProducerEpoch, TimestampMs};

/// A classic group's state (`ClassicGroupState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ClassicGroupState {
    /// No members; a group created by an offset commit starts here.
    Empty,
    /// A rebalance has started: members are (re)joining.
    PreparingRebalance,
    /// Every member joined; the group waits for the leader's assignment (SyncGroup).
    CompletingRebalance,
    /// The generation is complete and the members hold their assignments.
    Stable,
    /// The group is gone (in the new coordinator only after its partition is unloaded).
    Dead,
}

impl ClassicGroupState {
    /// Kafka's name of the state (`ClassicGroupState.toString`), as FORMAT.md writes it.
    pub const fn name(self) -> &'static str {
        match self {
            ClassicGroupState::Empty => "Empty",
            ClassicGroupState::PreparingRebalance => "PreparingRebalance",
            ClassicGroupState::CompletingRebalance => "CompletingRebalance",
            ClassicGroupState::Stable => "Stable",
            ClassicGroupState::Dead => "Dead",
        }
    }
}

impl fmt::Display for ClassicGroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A state name that is not one of [`ClassicGroupState`]'s.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown classic group state {0:?}")]
pub struct UnknownClassicGroupState(pub String);

impl FromStr for ClassicGroupState {
    type Err = UnknownClassicGroupState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            ClassicGroupState::Empty,
            ClassicGroupState::PreparingRebalance,
            ClassicGroupState::CompletingRebalance,
            ClassicGroupState::Stable,
            ClassicGroupState::Dead,
        ]
        .into_iter()
        .find(|state| state.name() == s)
        .ok_or_else(|| UnknownClassicGroupState(s.to_string()))
    }
}

/// One member of a classic group (`ClassicGroupMember`), as the offset checks see it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClassicGroupMember {
    /// A static member's `group.instance.id` (KIP-345); `None` for a dynamic member.
    pub group_instance_id: Option<String>,
}

/// A classic group (`ClassicGroup`): its state, generation and members, which the offset commit
/// checks use. Joins, syncs, heartbeats and rebalances are the membership role's
/// ([`GroupMembership`](super::membership::GroupMembership)); this role gets a group stored
/// ([`GroupCoordinator::store_group`](super::GroupCoordinator::store_group)), loaded
/// ([`GroupCoordinator::load_group`](super::GroupCoordinator::load_group)) or created Empty by
/// an offset commit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClassicGroup {
    /// The group id.
    pub group_id: String,
    /// The state.
    pub state: ClassicGroupState,
    /// The generation (`generationId`); 0 for a new group.
    pub generation_id: i32,
    /// The protocol type (`"consumer"` for a consumer group); `None` for a simple group created
    /// by an offset commit.
    pub protocol_type: Option<String>,
    /// The members, by member id.
    pub members: BTreeMap<String, ClassicGroupMember>,
}

impl ClassicGroup {
    /// The "simple" group an offset commit creates for an unknown group id
    /// (`GroupMetadataManager.getOrMaybeCreateClassicGroup(groupId, true)`): Empty, generation 0,
    /// no protocol type, no members.
    pub fn simple(group_id: impl Into<String>) -> Self {
        ClassicGroup {
            group_id: group_id.into(),
            state: ClassicGroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            members: BTreeMap::new(),
        }
    }

    /// The member that holds `group_instance_id` (`ClassicGroup.staticMemberId`).
    pub fn static_member_id(&self, group_instance_id: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|(_, m)| m.group_instance_id.as_deref() == Some(group_instance_id))
            .map(|(id, _)| id.as_str())
    }

    /// Whether `member_id` is a member (`ClassicGroup.hasMember`).
    pub fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    /// `ClassicGroup.validateOffsetCommit`, in its order:
    /// 1. `Dead` → COORDINATOR_NOT_AVAILABLE;
    /// 2. generation < 0 on an `Empty` group → accepted (an admin client or a consumer outside
    ///    group management; since KAFKA-14201 whatever member or instance id it names);
    /// 3. generation ≥ 0, or a member id, or an instance id → `validateMember` (an instance id
    ///    the group does not hold → UNKNOWN_MEMBER_ID, held by another member →
    ///    FENCED_INSTANCE_ID; a member id not in the group → UNKNOWN_MEMBER_ID), then a
    ///    generation other than the group's → ILLEGAL_GENERATION;
    ///    otherwise (no member, no generation, group not Empty) a plain commit →
    ///    UNKNOWN_MEMBER_ID while a transactional one is accepted, unfenced;
    /// 4. a plain commit in `CompletingRebalance` → REBALANCE_IN_PROGRESS.
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        is_transactional: bool,
    ) -> Result<(), ErrorCode> {
        if self.state == ClassicGroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        if generation_id < 0 && self.state == ClassicGroupState::Empty {
            return Ok(());
        }
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            self.validate_member(member_id, group_instance_id)?;
            if generation_id != self.generation_id {
                return Err(ErrorCode::IllegalGeneration);
            }
        } else if !is_transactional && self.state != ClassicGroupState::Empty {
            return Err(ErrorCode::UnknownMemberId);
        }
        if !is_transactional && self.state == ClassicGroupState::CompletingRebalance {
            return Err(ErrorCode::RebalanceInProgress);
        }
        Ok(())
    }

    /// `ClassicGroup.validateMember`: the static member first, then the member id.
    fn validate_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), ErrorCode> {
        if let Some(instance) = group_instance_id {
            match self.static_member_id(instance) {
                None => return Err(ErrorCode::UnknownMemberId),
                Some(holder) if holder != member_id => return Err(ErrorCode::FencedInstanceId),
                Some(_) => {}
            }
        }
        if !self.has_member(member_id) {
            return Err(ErrorCode::UnknownMemberId);
        }
        Ok(())
    }

    /// The invariants of a group as Kafka can hold it: no members while Empty or Dead; at
    /// least one member and generation ≥ 1 otherwise; no empty member id; an instance id held
    /// by one member at most. `Err` names the broken one.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.group_id.is_empty() {
            return Err("the group id is empty");
        }
        match self.state {
            ClassicGroupState::Empty | ClassicGroupState::Dead => {
                if !self.members.is_empty() {
                    return Err("an Empty or Dead group has no members");
                }
            }
            _ => {
                if self.members.is_empty() {
                    return Err("a group with members' state needs at least one member");
                }
                if self.generation_id < 1 {
                    return Err("a group with members has a generation of at least 1");
                }
            }
        }
        if self.generation_id < 0 {
            return Err("the generation is negative");
        }
        if self.members.keys().any(String::is_empty) {
            return Err("a member id is empty");
        }
        let mut instances: Vec<&str> = self
            .members
            .values()
            .filter_map(|m| m.group_instance_id.as_deref())
            .collect();
        let held = instances.len();
        instances.sort_unstable();
        instances.dedup();
        if instances.len() != held {
            return Err("a group.instance.id is held by two members");
        }
        Ok(())
    }
}

/// One offset, committed or pending (`OffsetAndMetadata`; leader epoch and metadata are not
/// modelled).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OffsetAndMetadata {
    /// The committed offset: the next offset the group consumes.
    pub committed_offset: Offset,
    /// When the commit was handled (`commitTimestampMs`; for a transactional commit the time of
    /// the TxnOffsetCommit, not of its marker).
    pub commit_timestamp: TimestampMs,
    /// Where its record sits in the offsets partition (`recordOffset`): of a COMMIT marker's
    /// pending offset and a committed one, the later record wins.
    pub record_offset: Offset,
}

/// What the offsets partition's log keeps per producer id for coordinator appends
/// (`ProducerStateEntry` without sequences: `ProducerAppendInfo` checks no sequence for them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OffsetsProducerState {
    /// The last producer epoch written (a transactional commit's or a marker's).
    pub producer_epoch: ProducerEpoch,
    /// The coordinator epoch of the last marker written; -1 before any.
    pub coordinator_epoch: CoordinatorEpoch,
}
