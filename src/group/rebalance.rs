//! The outcome of a classic-group rebalance, as the offsets role needs it: a new generation
//! with the members that rejoined (JoinGroup/SyncGroup themselves are not modelled, G-S2).

use std::collections::BTreeMap;

use super::{
    ClassicGroup, ClassicGroupMember, ClassicGroupState, GroupCoordinator, GroupError, GroupOutput,
    OffsetsBatch, OffsetsBatchContent, OffsetsRecord,
};
use crate::types::{TimestampMs, NO_PRODUCER_EPOCH, NO_PRODUCER_ID};

impl GroupCoordinator {
    /// A rebalance of classic group `group_id` completes with exactly `members` (those that
    /// rejoined; every other member is removed, as `GroupMetadataManager.completeClassicGroupJoin`
    /// removes the members that did not rejoin within the rebalance timeout): the generation
    /// moves to the next one (`ClassicGroup.initNextGeneration`: +1, a new group's first
    /// generation is 1), the group is Stable with `protocol_type`, and its GroupMetadata record
    /// is appended (`storeGroup` when the leader's SyncGroup completes) and returned, so that a
    /// reload reproduces the generation. Returns the new generation. The previous generation's
    /// members are from now on fenced by [`ClassicGroup::validate_offset_commit`]
    /// (ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID, KIP-447).
    ///
    /// `members` empty, an empty member id or a `group.instance.id` held twice is a
    /// [`GroupError::InvalidGroup`]; a Dead group is a [`GroupError::InvalidGroup`] too.
    pub fn complete_rebalance(
        &mut self,
        group_id: &str,
        protocol_type: &str,
        members: BTreeMap<String, ClassicGroupMember>,
        now: TimestampMs,
    ) -> Result<(i32, Vec<GroupOutput>), GroupError> {
        let previous = self.groups.get(group_id);
        if previous.is_some_and(|g| g.state == ClassicGroupState::Dead) {
            return Err(GroupError::InvalidGroup {
                group_id: group_id.to_string(),
                reason: "a Dead group does not rebalance",
            });
        }
        let generation_id = previous
            .map_or(0, |g| g.generation_id)
            .checked_add(1)
            .ok_or(GroupError::InvalidGroup {
                group_id: group_id.to_string(),
                reason: "the generation overflows",
            })?;
        let group = ClassicGroup {
            group_id: group_id.to_string(),
            state: ClassicGroupState::Stable,
            generation_id,
            protocol_type: Some(protocol_type.to_string()),
            members,
        };
        group.check().map_err(|reason| GroupError::InvalidGroup {
            group_id: group_id.to_string(),
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
        Ok((generation_id, vec![GroupOutput::AppendOffsetsLog(batch)]))
    }
}
