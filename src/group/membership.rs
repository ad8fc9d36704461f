//! Classic group membership (`GroupMetadataManager`'s classic-group handlers in Kafka 4.x's new
//! group coordinator, the same rules as the old `GroupCoordinator`): JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, session and rebalance timeouts, over the states of
//! [`ClassicGroupState`].
//!
//! [`GroupMembership`] holds every group's members (their protocols, assignments, session
//! deadlines and the requests waiting for an answer) and moves a group through
//! Empty → PreparingRebalance → CompletingRebalance → Stable:
//!
//! - a JoinGroup of a new member or of a member with other protocols (or of the leader in
//!   Stable) starts a rebalance (`prepareRebalance`); the join phase completes when every
//!   member has rejoined (`hasAllMembersJoined`) or the rebalance timeout passes, removing the
//!   members that did not rejoin (`completeClassicGroupJoin`): the generation is bumped, the
//!   protocol chosen (`selectProtocol`), every waiting JoinGroup answered, and the leader given
//!   the members' metadata;
//! - the leader's SyncGroup passes its assignment through to every member and makes the group
//!   Stable; a follower's SyncGroup waits for it;
//! - LeaveGroup and an expired session remove a member and start a rebalance (or complete the
//!   join phase); a CompletingRebalance whose members did not all sync within the rebalance
//!   timeout removes those that did not and rebalances again.
//!
//! Sans-IO like every role: a handler takes the request, the embedder's token for it and `now`,
//! and returns its answer at once or `None` when the answer waits for other members; the
//! answers that become due (to this request or to earlier ones) are
//! [`MembershipOutput::Join`] / [`MembershipOutput::Sync`] outputs addressed by token. Every
//! change of a group's state, generation or members is a [`MembershipOutput::GroupChanged`]
//! that the embedder hands to [`GroupCoordinator::store_group`](super::GroupCoordinator::store_group),
//! so that the offset commits' KIP-447 fencing sees the membership as it is. Timers are inputs:
//! [`GroupMembership::handle_timeout`] with the clock, [`GroupMembership::next_deadline`] to
//! know when.
//!
//! Not modelled (see `docs/group.md` section 7): static membership (KIP-345: a JoinGroup with a
//! `group.instance.id` is answered UNSUPPORTED_VERSION), the initial rebalance delay
//! (`group.initial.rebalance.delay.ms`), `group.max.size`, KIP-848 consumer groups, and the
//! new-member join timeout.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::state::{ClassicGroup, ClassicGroupMember, ClassicGroupState};
use crate::error::ErrorCode;
use crate::types::TimestampMs;

/// The embedder's handle for a request whose answer may come later (a connection and its
/// correlation id, say). The core only stores and returns it.
pub type RequestToken = u64;

/// JoinGroup v4+: a new member must rejoin with the member id it is given (KIP-394,
/// `requireKnownMemberId`).
pub const JOIN_GROUP_REQUIRE_KNOWN_MEMBER_ID_VERSION: i16 = 4;

/// The membership settings (broker configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MembershipConfig {
    /// `group.min.session.timeout.ms` (Kafka: 6000).
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (Kafka: 1 800 000).
    pub max_session_timeout_ms: i32,
}

impl Default for MembershipConfig {
    fn default() -> Self {
        MembershipConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
        }
    }
}

/// JoinGroup (`JoinGroupRequestData`), one member's join.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JoinGroupRequest {
    /// The group.
    pub group_id: String,
    /// The member's session timeout.
    pub session_timeout_ms: i32,
    /// The member's rebalance timeout (v1+; the session timeout at v0).
    pub rebalance_timeout_ms: i32,
    /// The member id; empty for a new member.
    pub member_id: String,
    /// `group.instance.id` (v5+, static membership: not served).
    pub group_instance_id: Option<String>,
    /// The protocol type (`"consumer"`).
    pub protocol_type: String,
    /// The protocols the member supports, in its preference order, with its metadata for each.
    pub protocols: Vec<(String, Vec<u8>)>,
    /// The request version.
    pub version: i16,
}

/// One member in the leader's JoinGroup answer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JoinGroupMember {
    /// Its member id.
    pub member_id: String,
    /// Its metadata for the chosen protocol.
    pub metadata: Vec<u8>,
}

/// The answer to a JoinGroup (`JoinGroupResponseData`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JoinGroupResponse {
    /// The error, if any.
    pub error: Option<ErrorCode>,
    /// The generation joined (-1 on error).
    pub generation_id: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// The member's id (the new one for MEMBER_ID_REQUIRED).
    pub member_id: String,
    /// Every member with its metadata, for the leader only.
    pub members: Vec<JoinGroupMember>,
}

impl JoinGroupResponse {
    fn error(error: ErrorCode, member_id: &str) -> Self {
        JoinGroupResponse {
            error: Some(error),
            generation_id: -1,
            member_id: member_id.to_string(),
            ..JoinGroupResponse::default()
        }
    }
}

/// SyncGroup (`SyncGroupRequestData`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SyncGroupRequest {
    /// The group.
    pub group_id: String,
    /// The generation the member joined.
    pub generation_id: i32,
    /// The member.
    pub member_id: String,
    /// The protocol type (v5+), checked when given.
    pub protocol_type: Option<String>,
    /// The protocol name (v5+), checked when given.
    pub protocol_name: Option<String>,
    /// The leader's assignment, by member id (empty from a follower).
    pub assignments: BTreeMap<String, Vec<u8>>,
}

/// The answer to a SyncGroup.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SyncGroupResponse {
    /// The error, if any.
    pub error: Option<ErrorCode>,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The group's protocol.
    pub protocol_name: Option<String>,
    /// The member's assignment, as the leader gave it.
    pub assignment: Vec<u8>,
}

impl SyncGroupResponse {
    fn error(error: ErrorCode) -> Self {
        SyncGroupResponse {
            error: Some(error),
            ..SyncGroupResponse::default()
        }
    }
}

/// Heartbeat.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    /// The group.
    pub group_id: String,
    /// The member's generation.
    pub generation_id: i32,
    /// The member.
    pub member_id: String,
}

/// LeaveGroup (v0–2: one member; v3+: a list).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LeaveGroupRequest {
    /// The group.
    pub group_id: String,
    /// The leaving members' ids.
    pub member_ids: Vec<String>,
}

/// The answer to a LeaveGroup.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LeaveGroupResponse {
    /// The group-level error (an unknown group).
    pub error: Option<ErrorCode>,
    /// Per member of the request, its error (UNKNOWN_MEMBER_ID when not a member).
    pub members: Vec<(String, Option<ErrorCode>)>,
}

/// One group as DescribeGroups shows it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupDescription {
    /// The state.
    pub state: ClassicGroupState,
    /// The protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol (set from CompletingRebalance on).
    pub protocol_name: Option<String>,
    /// Members: id, metadata for the chosen protocol, assignment.
    pub members: Vec<(String, Vec<u8>, Vec<u8>)>,
}

/// What the embedder must do after a membership step.
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MembershipOutput {
    /// Answer the JoinGroup that was given `token`.
    Join {
        /// The waiting request.
        token: RequestToken,
        /// Its answer.
        response: JoinGroupResponse,
    },
    /// Answer the SyncGroup that was given `token`.
    Sync {
        /// The waiting request.
        token: RequestToken,
        /// Its answer.
        response: SyncGroupResponse,
    },
    /// The group's state, generation or members changed: store it with
    /// [`GroupCoordinator::store_group`](super::GroupCoordinator::store_group) (a GroupMetadata
    /// record), which the offset commits validate against.
    GroupChanged(ClassicGroup),
}

/// Misuse of the membership API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// The member id the embedder proposed for a new member is taken.
    #[error("member id {0:?} is already in use")]
    MemberIdInUse(String),
    /// The proposed member id is empty.
    #[error("a new member id must not be empty")]
    EmptyMemberId,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct Member {
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocols: Vec<(String, Vec<u8>)>,
    assignment: Vec<u8>,
    /// JoinGroups waiting for the join phase (`isAwaitingJoin`).
    awaiting_join: Vec<RequestToken>,
    /// SyncGroups waiting for the leader (`isAwaitingSync`).
    awaiting_sync: Vec<RequestToken>,
    /// When the session expires without a heartbeat.
    session_deadline: TimestampMs,
}

impl Member {
    fn metadata(&self, protocol: &str) -> Vec<u8> {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    fn matches(&self, protocols: &[(String, Vec<u8>)]) -> bool {
        self.protocols == protocols
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct Group {
    state: ClassicGroupState,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// Member ids answered MEMBER_ID_REQUIRED, with the deadline of their first real join
    /// (`pendingMembers`, expired after the session timeout).
    pending_members: BTreeMap<String, TimestampMs>,
    /// PreparingRebalance: the join phase's deadline; CompletingRebalance: the sync deadline.
    rebalance_deadline: Option<TimestampMs>,
}

impl Group {
    fn new() -> Self {
        Group {
            state: ClassicGroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            rebalance_deadline: None,
        }
    }

    fn classic(&self, group_id: &str) -> ClassicGroup {
        ClassicGroup {
            group_id: group_id.to_string(),
            state: self.state,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            members: self
                .members
                .keys()
                .map(|id| (id.clone(), ClassicGroupMember::default()))
                .collect(),
        }
    }

    /// `ClassicGroup.supportsProtocols`: an Empty group takes any non-empty protocol type and
    /// list; otherwise the type must be the group's and one protocol supported by every member.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Vec<u8>)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(name, _)| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
    }

    /// `ClassicGroup.hasAllMembersJoined`: every member awaits a join, no pending member.
    fn has_all_members_joined(&self) -> bool {
        self.members.values().all(|m| !m.awaiting_join.is_empty())
            && self.pending_members.is_empty()
    }

    /// `ClassicGroup.rebalanceTimeoutMs`: the largest of the members'.
    fn rebalance_timeout_ms(&self) -> i32 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    /// `ClassicGroup.selectProtocol`: among the protocols every member supports, each member
    /// votes for the first of its own list; the most votes win (ties: the earliest in the
    /// leader's, else the first member's, preference order).
    fn select_protocol(&self) -> Option<String> {
        let candidates: Vec<&String> = self
            .members
            .values()
            .next()?
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == *n))
            })
            .collect();
        let mut votes: BTreeMap<&String, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((n, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(&n)) {
                *votes.entry(n).or_default() += 1;
            }
        }
        let order: Vec<&String> = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .map(|m| m.protocols.iter().map(|(n, _)| n).collect())
            .unwrap_or_else(|| candidates.clone());
        let best = votes.values().copied().max()?;
        order
            .into_iter()
            .chain(candidates)
            .find(|n| votes.get(n) == Some(&best))
            .cloned()
    }
}

/// The membership of every classic group of a coordinator. See the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupMembership {
    config: MembershipConfig,
    groups: BTreeMap<String, Group>,
}

impl GroupMembership {
    /// No groups.
    pub fn new(config: MembershipConfig) -> Self {
        GroupMembership {
            config,
            groups: BTreeMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &MembershipConfig {
        &self.config
    }

    /// A group as the offset checks see it (state, generation, protocol type, member ids).
    pub fn group(&self, group_id: &str) -> Option<ClassicGroup> {
        self.groups.get(group_id).map(|g| g.classic(group_id))
    }

    /// The leader of a group's generation.
    pub fn leader(&self, group_id: &str) -> Option<&str> {
        self.groups.get(group_id)?.leader.as_deref()
    }

    /// Every group id with its state and protocol type (ListGroups).
    pub fn list(&self) -> Vec<(String, ClassicGroupState, Option<String>)> {
        self.groups
            .iter()
            .map(|(id, g)| (id.clone(), g.state, g.protocol_type.clone()))
            .collect()
    }

    /// A group as DescribeGroups shows it.
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let g = self.groups.get(group_id)?;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        Some(GroupDescription {
            state: g.state,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol_name.clone(),
            members: g
                .members
                .iter()
                .map(|(id, m)| (id.clone(), m.metadata(&protocol), m.assignment.clone()))
                .collect(),
        })
    }

    /// The earliest time at which [`handle_timeout`](Self::handle_timeout) has work.
    pub fn next_deadline(&self) -> Option<TimestampMs> {
        self.groups
            .values()
            .flat_map(|g| {
                g.members
                    .values()
                    .filter(|m| m.awaiting_join.is_empty() && m.awaiting_sync.is_empty())
                    .map(|m| m.session_deadline)
                    .chain(g.pending_members.values().copied())
                    .chain(g.rebalance_deadline)
            })
            .min()
    }

    /// JoinGroup (`GroupMetadataManager.classicGroupJoin`), in Kafka's check order:
    /// 1. empty group id → INVALID_GROUP_ID; a `group.instance.id` → UNSUPPORTED_VERSION (static
    ///    membership is not served);
    /// 2. session timeout outside the configured range → INVALID_SESSION_TIMEOUT;
    /// 3. an unknown group with a member id → UNKNOWN_MEMBER_ID (`getOrMaybeCreateClassicGroup`);
    /// 4. protocols the group cannot take → INCONSISTENT_GROUP_PROTOCOL (`supportsProtocols`);
    /// 5. a new member (empty id): from v4 it is made pending and answered MEMBER_ID_REQUIRED
    ///    with `new_member_id` (`classicGroupJoinNewMember`); below v4 it is added and a
    ///    rebalance starts;
    /// 6. a pending member is added and a rebalance starts; an id neither member nor pending →
    ///    UNKNOWN_MEMBER_ID;
    /// 7. an existing member (`classicGroupJoinExistingMember`): in PreparingRebalance its
    ///    protocols are updated and it waits; in CompletingRebalance with unchanged protocols,
    ///    and in Stable for a follower with unchanged protocols, it is answered the current
    ///    generation at once (the leader with the members); otherwise a rebalance starts.
    ///
    /// `None`: the answer comes as a [`MembershipOutput::Join`] for `token` when the join phase
    /// completes (possibly among this call's outputs).
    pub fn handle_join_group(
        &mut self,
        request: &JoinGroupRequest,
        token: RequestToken,
        new_member_id: &str,
        now: TimestampMs,
    ) -> Result<(Option<JoinGroupResponse>, Vec<MembershipOutput>), MembershipError> {
        let refuse = |e| {
            Ok((
                Some(JoinGroupResponse::error(e, &request.member_id)),
                vec![],
            ))
        };
        if request.group_id.is_empty() {
            return refuse(ErrorCode::InvalidGroupId);
        }
        if request.group_instance_id.is_some() {
            return refuse(ErrorCode::UnsupportedVersion);
        }
        if request.session_timeout_ms < self.config.min_session_timeout_ms
            || request.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return refuse(ErrorCode::InvalidSessionTimeout);
        }
        if !self.groups.contains_key(&request.group_id) && !request.member_id.is_empty() {
            return refuse(ErrorCode::UnknownMemberId);
        }
        let group = self
            .groups
            .entry(request.group_id.clone())
            .or_insert_with(Group::new);
        if !group.supports_protocols(&request.protocol_type, &request.protocols) {
            let empty = group.members.is_empty() && group.pending_members.is_empty();
            if empty && group.state == ClassicGroupState::Empty && group.generation_id == 0 {
                self.groups.remove(&request.group_id);
            }
            return refuse(ErrorCode::InconsistentGroupProtocol);
        }
        let member = Member {
            session_timeout_ms: request.session_timeout_ms,
            rebalance_timeout_ms: request.rebalance_timeout_ms,
            protocols: request.protocols.clone(),
            assignment: Vec::new(),
            awaiting_join: vec![token],
            awaiting_sync: Vec::new(),
            session_deadline: now.saturating_add(i64::from(request.session_timeout_ms)),
        };
        let mut outputs = Vec::new();
        if request.member_id.is_empty() {
            if new_member_id.is_empty() {
                return Err(MembershipError::EmptyMemberId);
            }
            if group.members.contains_key(new_member_id)
                || group.pending_members.contains_key(new_member_id)
            {
                return Err(MembershipError::MemberIdInUse(new_member_id.to_string()));
            }
            if request.version >= JOIN_GROUP_REQUIRE_KNOWN_MEMBER_ID_VERSION {
                group.pending_members.insert(
                    new_member_id.to_string(),
                    now.saturating_add(i64::from(request.session_timeout_ms)),
                );
                return Ok((
                    Some(JoinGroupResponse::error(
                        ErrorCode::MemberIdRequired,
                        new_member_id,
                    )),
                    outputs,
                ));
            }
            add_member_and_rebalance(
                &request.group_id,
                group,
                new_member_id,
                member,
                &request.protocol_type,
                now,
                &mut outputs,
            );
            return Ok((None, outputs));
        }
        let id = request.member_id.as_str();
        if group.pending_members.remove(id).is_some() {
            add_member_and_rebalance(
                &request.group_id,
                group,
                id,
                member,
                &request.protocol_type,
                now,
                &mut outputs,
            );
            return Ok((None, outputs));
        }
        let Some(existing) = group.members.get_mut(id) else {
            return refuse(ErrorCode::UnknownMemberId);
        };
        existing.session_deadline = member.session_deadline;
        let unchanged = existing.matches(&request.protocols);
        let is_leader = group.leader.as_deref() == Some(id);
        match group.state {
            ClassicGroupState::CompletingRebalance | ClassicGroupState::Stable
                if unchanged && !(group.state == ClassicGroupState::Stable && is_leader) =>
            {
                Ok((Some(join_answer(group, id)), outputs))
            }
            ClassicGroupState::PreparingRebalance => {
                existing.protocols = request.protocols.clone();
                existing.session_timeout_ms = request.session_timeout_ms;
                existing.rebalance_timeout_ms = request.rebalance_timeout_ms;
                existing.awaiting_join.push(token);
                maybe_complete_join(&request.group_id, group, now, &mut outputs);
                Ok((None, outputs))
            }
            _ => {
                existing.protocols = request.protocols.clone();
                existing.session_timeout_ms = request.session_timeout_ms;
                existing.rebalance_timeout_ms = request.rebalance_timeout_ms;
                existing.awaiting_join.push(token);
                prepare_rebalance(&request.group_id, group, now, &mut outputs);
                maybe_complete_join(&request.group_id, group, now, &mut outputs);
                Ok((None, outputs))
            }
        }
    }

    /// SyncGroup (`GroupMetadataManager.classicGroupSync`): an unknown group or member →
    /// UNKNOWN_MEMBER_ID; another generation → ILLEGAL_GENERATION; a protocol type or name
    /// other than the group's → INCONSISTENT_GROUP_PROTOCOL; Empty → UNKNOWN_MEMBER_ID;
    /// PreparingRebalance → REBALANCE_IN_PROGRESS; Stable → the member's assignment at once;
    /// CompletingRebalance → the member waits, and the leader's SyncGroup stores every
    /// member's assignment (none given: empty), makes the group Stable and answers every
    /// waiting member (`setAndPropagateAssignment`). The session is refreshed.
    pub fn handle_sync_group(
        &mut self,
        request: &SyncGroupRequest,
        token: RequestToken,
        now: TimestampMs,
    ) -> (Option<SyncGroupResponse>, Vec<MembershipOutput>) {
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            return (
                Some(SyncGroupResponse::error(ErrorCode::UnknownMemberId)),
                vec![],
            );
        };
        let Some(member) = group.members.get_mut(&request.member_id) else {
            return (
                Some(SyncGroupResponse::error(ErrorCode::UnknownMemberId)),
                vec![],
            );
        };
        if request.generation_id != group.generation_id {
            return (
                Some(SyncGroupResponse::error(ErrorCode::IllegalGeneration)),
                vec![],
            );
        }
        if request
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != group.protocol_type.as_ref())
            || request
                .protocol_name
                .as_ref()
                .is_some_and(|n| Some(n) != group.protocol_name.as_ref())
        {
            return (
                Some(SyncGroupResponse::error(
                    ErrorCode::InconsistentGroupProtocol,
                )),
                vec![],
            );
        }
        member.session_deadline = now.saturating_add(i64::from(member.session_timeout_ms));
        let mut outputs = Vec::new();
        match group.state {
            ClassicGroupState::Empty | ClassicGroupState::Dead => (
                Some(SyncGroupResponse::error(ErrorCode::UnknownMemberId)),
                outputs,
            ),
            ClassicGroupState::PreparingRebalance => (
                Some(SyncGroupResponse::error(ErrorCode::RebalanceInProgress)),
                outputs,
            ),
            ClassicGroupState::Stable => (
                Some(SyncGroupResponse {
                    error: None,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    assignment: member.assignment.clone(),
                }),
                outputs,
            ),
            ClassicGroupState::CompletingRebalance => {
                member.awaiting_sync.push(token);
                if group.leader.as_deref() == Some(request.member_id.as_str()) {
                    for (id, m) in &mut group.members {
                        m.assignment = request.assignments.get(id).cloned().unwrap_or_default();
                    }
                    group.state = ClassicGroupState::Stable;
                    group.rebalance_deadline = None;
                    for m in group.members.values_mut() {
                        for t in std::mem::take(&mut m.awaiting_sync) {
                            outputs.push(MembershipOutput::Sync {
                                token: t,
                                response: SyncGroupResponse {
                                    error: None,
                                    protocol_type: group.protocol_type.clone(),
                                    protocol_name: group.protocol_name.clone(),
                                    assignment: m.assignment.clone(),
                                },
                            });
                        }
                    }
                    outputs.push(MembershipOutput::GroupChanged(
                        group.classic(&request.group_id),
                    ));
                }
                (None, outputs)
            }
        }
    }

    /// Heartbeat (`GroupMetadataManager.classicGroupHeartbeat`): an unknown group, an Empty
    /// group or an unknown member → UNKNOWN_MEMBER_ID; another generation →
    /// ILLEGAL_GENERATION; otherwise the session is refreshed and PreparingRebalance answers
    /// REBALANCE_IN_PROGRESS (the member must rejoin), CompletingRebalance and Stable success.
    pub fn handle_heartbeat(
        &mut self,
        request: &HeartbeatRequest,
        now: TimestampMs,
    ) -> Result<(), ErrorCode> {
        let group = self
            .groups
            .get_mut(&request.group_id)
            .ok_or(ErrorCode::UnknownMemberId)?;
        if group.state == ClassicGroupState::Empty {
            return Err(ErrorCode::UnknownMemberId);
        }
        let member = group
            .members
            .get_mut(&request.member_id)
            .ok_or(ErrorCode::UnknownMemberId)?;
        if request.generation_id != group.generation_id {
            return Err(ErrorCode::IllegalGeneration);
        }
        member.session_deadline = now.saturating_add(i64::from(member.session_timeout_ms));
        if group.state == ClassicGroupState::PreparingRebalance {
            return Err(ErrorCode::RebalanceInProgress);
        }
        Ok(())
    }

    /// LeaveGroup (`GroupMetadataManager.classicGroupLeave`): an unknown group →
    /// UNKNOWN_MEMBER_ID for the request; each member id: a pending member is forgotten, a
    /// member removed (`removeMemberAndUpdateClassicGroup`: its waiting JoinGroup answered
    /// UNKNOWN_MEMBER_ID, then a rebalance or the completion of the join phase), another id
    /// answered UNKNOWN_MEMBER_ID.
    pub fn handle_leave_group(
        &mut self,
        request: &LeaveGroupRequest,
        now: TimestampMs,
    ) -> (LeaveGroupResponse, Vec<MembershipOutput>) {
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            return (
                LeaveGroupResponse {
                    error: Some(ErrorCode::UnknownMemberId),
                    members: request
                        .member_ids
                        .iter()
                        .map(|m| (m.clone(), Some(ErrorCode::UnknownMemberId)))
                        .collect(),
                },
                vec![],
            );
        };
        let mut outputs = Vec::new();
        let mut members = Vec::new();
        for id in &request.member_ids {
            if group.pending_members.remove(id).is_some() {
                members.push((id.clone(), None));
                maybe_complete_join(&request.group_id, group, now, &mut outputs);
            } else if group.members.contains_key(id) {
                remove_member(&request.group_id, group, id, now, &mut outputs);
                members.push((id.clone(), None));
            } else {
                members.push((id.clone(), Some(ErrorCode::UnknownMemberId)));
            }
        }
        (
            LeaveGroupResponse {
                error: None,
                members,
            },
            outputs,
        )
    }

    /// The timers (`GroupMetadataManager` heartbeat, join and sync timeouts), for every group:
    /// a member that waits for no answer and whose session expired is removed
    /// (`onClassicGroupSessionTimeout`); a pending member whose first join did not come is
    /// forgotten; a join phase past its rebalance timeout completes without the members that
    /// did not rejoin (`completeClassicGroupJoin`); a CompletingRebalance past its rebalance
    /// timeout removes the members that did not sync and rebalances again
    /// (`expirePendingSync`).
    pub fn handle_timeout(&mut self, now: TimestampMs) -> Vec<MembershipOutput> {
        let mut outputs = Vec::new();
        for (group_id, group) in &mut self.groups {
            let expired: Vec<String> = group
                .members
                .iter()
                .filter(|(_, m)| {
                    m.awaiting_join.is_empty()
                        && m.awaiting_sync.is_empty()
                        && m.session_deadline <= now
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired {
                remove_member(group_id, group, &id, now, &mut outputs);
            }
            let before = group.pending_members.len();
            group.pending_members.retain(|_, deadline| *deadline > now);
            if group.pending_members.len() != before {
                maybe_complete_join(group_id, group, now, &mut outputs);
            }
            match (group.state, group.rebalance_deadline) {
                (ClassicGroupState::PreparingRebalance, Some(d)) if d <= now => {
                    complete_join(group_id, group, now, &mut outputs);
                }
                (ClassicGroupState::CompletingRebalance, Some(d)) if d <= now => {
                    let unsynced: Vec<String> = group
                        .members
                        .iter()
                        .filter(|(_, m)| m.awaiting_sync.is_empty())
                        .map(|(id, _)| id.clone())
                        .collect();
                    for id in unsynced {
                        group.members.remove(&id);
                    }
                    prepare_rebalance(group_id, group, now, &mut outputs);
                    maybe_complete_join(group_id, group, now, &mut outputs);
                }
                _ => {}
            }
        }
        outputs
    }
}

/// The current generation for a member that needs no rebalance: the leader gets the members.
fn join_answer(group: &Group, member_id: &str) -> JoinGroupResponse {
    let protocol = group.protocol_name.clone().unwrap_or_default();
    let is_leader = group.leader.as_deref() == Some(member_id);
    JoinGroupResponse {
        error: None,
        generation_id: group.generation_id,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader: group.leader.clone().unwrap_or_default(),
        member_id: member_id.to_string(),
        members: if is_leader {
            group
                .members
                .iter()
                .map(|(id, m)| JoinGroupMember {
                    member_id: id.clone(),
                    metadata: m.metadata(&protocol),
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}

/// `addMemberAndRebalance`: the first member sets the protocol type and leads.
fn add_member_and_rebalance(
    group_id: &str,
    group: &mut Group,
    member_id: &str,
    member: Member,
    protocol_type: &str,
    now: TimestampMs,
    outputs: &mut Vec<MembershipOutput>,
) {
    if group.members.is_empty() {
        group.protocol_type = Some(protocol_type.to_string());
        group.leader = Some(member_id.to_string());
    }
    group.members.insert(member_id.to_string(), member);
    if group.state != ClassicGroupState::PreparingRebalance {
        prepare_rebalance(group_id, group, now, outputs);
    }
    maybe_complete_join(group_id, group, now, outputs);
}

/// `prepareRebalance`: waiting SyncGroups are answered REBALANCE_IN_PROGRESS and assignments
/// reset (`resetAndPropagateAssignmentWithError`); the join phase's deadline is the largest
/// rebalance timeout.
fn prepare_rebalance(
    group_id: &str,
    group: &mut Group,
    now: TimestampMs,
    outputs: &mut Vec<MembershipOutput>,
) {
    if group.state == ClassicGroupState::CompletingRebalance {
        for m in group.members.values_mut() {
            m.assignment.clear();
            for t in std::mem::take(&mut m.awaiting_sync) {
                outputs.push(MembershipOutput::Sync {
                    token: t,
                    response: SyncGroupResponse::error(ErrorCode::RebalanceInProgress),
                });
            }
        }
    }
    group.state = ClassicGroupState::PreparingRebalance;
    group.rebalance_deadline = Some(now.saturating_add(i64::from(group.rebalance_timeout_ms())));
    changed(group_id, group, outputs);
}

/// A [`MembershipOutput::GroupChanged`], unless the group is between states that Kafka never
/// writes (rebalancing without members: the join phase completes to Empty at once, or when the
/// last pending member's join comes or expires).
fn changed(group_id: &str, group: &Group, outputs: &mut Vec<MembershipOutput>) {
    let classic = group.classic(group_id);
    if classic.check().is_ok() {
        outputs.push(MembershipOutput::GroupChanged(classic));
    }
}

/// Completes the join phase if every member has rejoined.
fn maybe_complete_join(
    group_id: &str,
    group: &mut Group,
    now: TimestampMs,
    outputs: &mut Vec<MembershipOutput>,
) {
    if group.state == ClassicGroupState::PreparingRebalance && group.has_all_members_joined() {
        complete_join(group_id, group, now, outputs);
    }
}

/// `completeClassicGroupJoin`: the members that did not rejoin are removed; no member left →
/// Empty with the next generation; else the next generation in CompletingRebalance, the
/// protocol chosen, the leader kept if still a member (else the first), and every waiting
/// JoinGroup answered (the leader with every member's metadata). The sync deadline is set.
fn complete_join(
    group_id: &str,
    group: &mut Group,
    now: TimestampMs,
    outputs: &mut Vec<MembershipOutput>,
) {
    group.members.retain(|_, m| !m.awaiting_join.is_empty());
    group.generation_id = group.generation_id.saturating_add(1);
    if group.members.is_empty() {
        group.state = ClassicGroupState::Empty;
        group.protocol_name = None;
        group.leader = None;
        group.rebalance_deadline = None;
        outputs.push(MembershipOutput::GroupChanged(group.classic(group_id)));
        return;
    }
    if !group
        .leader
        .as_ref()
        .is_some_and(|l| group.members.contains_key(l))
    {
        group.leader = group.members.keys().next().cloned();
    }
    group.protocol_name = group.select_protocol();
    group.state = ClassicGroupState::CompletingRebalance;
    group.rebalance_deadline = Some(now.saturating_add(i64::from(group.rebalance_timeout_ms())));
    let ids: Vec<String> = group.members.keys().cloned().collect();
    for id in ids {
        let response = join_answer(group, &id);
        if let Some(m) = group.members.get_mut(&id) {
            m.session_deadline = now.saturating_add(i64::from(m.session_timeout_ms));
            for t in std::mem::take(&mut m.awaiting_join) {
                outputs.push(MembershipOutput::Join {
                    token: t,
                    response: response.clone(),
                });
            }
        }
    }
    outputs.push(MembershipOutput::GroupChanged(group.classic(group_id)));
}

/// `removeMemberAndUpdateClassicGroup`: the member's waiting requests are answered
/// UNKNOWN_MEMBER_ID; Stable or CompletingRebalance → a rebalance; PreparingRebalance → the
/// join phase may complete.
fn remove_member(
    group_id: &str,
    group: &mut Group,
    member_id: &str,
    now: TimestampMs,
    outputs: &mut Vec<MembershipOutput>,
) {
    let Some(member) = group.members.remove(member_id) else {
        return;
    };
    for t in member.awaiting_join {
        outputs.push(MembershipOutput::Join {
            token: t,
            response: JoinGroupResponse::error(ErrorCode::UnknownMemberId, member_id),
        });
    }
    for t in member.awaiting_sync {
        outputs.push(MembershipOutput::Sync {
            token: t,
            response: SyncGroupResponse::error(ErrorCode::UnknownMemberId),
        });
    }
    match group.state {
        ClassicGroupState::Stable | ClassicGroupState::CompletingRebalance => {
            prepare_rebalance(group_id, group, now, outputs);
            maybe_complete_join(group_id, group, now, outputs);
        }
        ClassicGroupState::PreparingRebalance => {
            changed(group_id, group, outputs);
            maybe_complete_join(group_id, group, now, outputs);
        }
        _ => {}
    }
}
