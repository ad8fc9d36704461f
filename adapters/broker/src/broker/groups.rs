//! The group coordinator's APIs: wire fields → the core's group role (`kafka_eos::group`) →
//! wire fields. Offsets (OffsetCommit, TxnOffsetCommit, OffsetFetch, the markers) are one
//! [`GroupCoordinator`] per `__consumer_offsets` partition; membership (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, the timers) is the core's [`GroupMembership`], whose group changes
//! are stored in the group's coordinator ([`GroupCoordinator::store_group`]) and whose deferred
//! answers are encoded here for the connection that waits for them ([`Reply::Wait`]).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use kafka_eos::error::ErrorCode;
use kafka_eos::group::membership::{
    HeartbeatRequest as CoreHeartbeat, JoinGroupRequest as CoreJoin,
    JoinGroupResponse as CoreJoinResponse, LeaveGroupRequest as CoreLeave, MembershipOutput,
    RequestToken, SyncGroupRequest as CoreSync, SyncGroupResponse as CoreSyncResponse,
};
use kafka_eos::group::{
    txn_offset_commit_verification_error, GroupCoordinator, GroupCoordinatorConfig, GroupOutput,
    OffsetCommitRequest as CoreOffsetCommit, OffsetFetchRequest as CoreOffsetFetch,
    TxnOffsetCommitRequest as CoreTxnOffsetCommit, UNKNOWN_GENERATION_ID,
};
use kafka_eos::messages::offsets_partition_for;
use kafka_eos::types::{TimestampMs, TopicPartition};
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{encode, name_of, Broker, Reply, OFFSETS_TOPIC};
use crate::trace::Step;

/// The answer a connection waits for: which API and version to encode it at.
#[derive(Clone, Copy, Debug)]
pub(super) struct Waiting {
    api: ApiKey,
    version: i16,
}

/// Per partition of a commit, the core's answer (an `Err` from the core's API is logged and
/// answered INVALID_REQUEST on every partition).
type CommitAnswer = BTreeMap<TopicPartition, Result<(), ErrorCode>>;

/// The error code of `topic`/`partition` in a commit's answer.
fn commit_error(answer: &CommitAnswer, topic: &TopicName, partition: i32) -> i16 {
    let tp = TopicPartition::new(name_of(&topic.0), partition);
    code(answer.get(&tp).and_then(|r| r.err()))
}

/// Every partition answered `error`.
fn refuse_all(offsets: &BTreeMap<TopicPartition, i64>, error: ErrorCode) -> CommitAnswer {
    offsets.keys().map(|tp| (tp.clone(), Err(error))).collect()
}

/// One topic's answered partitions: (partition, offset or -1, error code).
type TopicOffsets = (String, Vec<(i32, i64, i16)>);

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn code(e: Option<ErrorCode>) -> i16 {
    e.map_or(0, ErrorCode::code)
}

/// A nullable-from-`nullable_from` string: absent below that version is the empty string.
fn opt_str(s: &Option<String>, version: i16, nullable_from: i16) -> Option<StrBytes> {
    match s {
        Some(s) => Some(str_bytes(s)),
        None if version < nullable_from => Some(StrBytes::default()),
        None => None,
    }
}

fn join_response(r: &CoreJoinResponse, version: i16) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(code(r.error))
        .with_generation_id(r.generation_id)
        .with_protocol_type(if version >= 7 {
            r.protocol_type.as_deref().map(str_bytes)
        } else {
            None
        })
        .with_protocol_name(opt_str(&r.protocol_name, version, 7))
        .with_leader(str_bytes(&r.leader))
        .with_member_id(str_bytes(&r.member_id))
        .with_members(
            r.members
                .iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(&m.member_id))
                        .with_metadata(Bytes::from(m.metadata.clone()))
                })
                .collect(),
        )
}

fn sync_response(r: &CoreSyncResponse, version: i16) -> SyncGroupResponse {
    let (protocol_type, protocol_name) = if version >= 5 {
        (
            r.protocol_type.as_deref().map(str_bytes),
            r.protocol_name.as_deref().map(str_bytes),
        )
    } else {
        (None, None)
    };
    SyncGroupResponse::default()
        .with_error_code(code(r.error))
        .with_protocol_type(protocol_type)
        .with_protocol_name(protocol_name)
        .with_assignment(Bytes::from(r.assignment.clone()))
}

impl Broker {
    /// The group coordinator of the `__consumer_offsets` partition `partition` (created empty on
    /// first use; with a data directory, those with a log are loaded at start).
    fn offsets_shard(&mut self, partition: i32) -> &mut GroupCoordinator {
        self.groups.entry(partition).or_insert_with(|| {
            GroupCoordinator::new(GroupCoordinatorConfig {
                offsets_partition: TopicPartition::new(OFFSETS_TOPIC, partition),
                ..GroupCoordinatorConfig::default()
            })
        })
    }

    /// The `__consumer_offsets` partition of a group (`GroupMetadataManager.partitionFor`, the
    /// core's `offsets_partition_for`).
    fn shard_of(&self, group_id: &str) -> i32 {
        offsets_partition_for(group_id, self.coordinator.config().offsets_topic_partitions)
            .map_or(0, |tp| tp.partition)
    }

    /// The group coordinator that owns `group_id`.
    fn group_coordinator(&mut self, group_id: &str) -> &mut GroupCoordinator {
        let shard = self.shard_of(group_id);
        self.offsets_shard(shard)
    }

    /// Counts the offsets-partition appends of a group step and, with a data directory,
    /// persists them to the log of `__consumer_offsets-partition` before the answer is built
    /// ([`crate::storage::offsets_log`]).
    fn apply_group_outputs(&mut self, partition: i32, outputs: Vec<GroupOutput>) {
        self.stats.offsets_log_batches += outputs.len() as u64;
        if let Some(store) = self.store.as_mut() {
            let batches: Vec<_> = outputs
                .iter()
                .map(|GroupOutput::AppendOffsetsLog(b)| b)
                .collect();
            store.append_offsets(partition, &batches);
        }
    }

    fn group_error(&mut self, context: &str, error: &dyn std::fmt::Display) {
        self.stats.coordinator_errors += 1;
        tracing::warn!("group error: {context}: {error}");
    }

    /// Carries out membership outputs: a changed group is stored in its coordinator (a
    /// GroupMetadata record); a deferred answer is encoded for the connection that waits.
    pub(super) fn apply_membership_outputs(
        &mut self,
        outputs: Vec<MembershipOutput>,
        now: TimestampMs,
    ) {
        for output in outputs {
            match output {
                MembershipOutput::GroupChanged(group) => {
                    if group.state == kafka_eos::group::ClassicGroupState::CompletingRebalance {
                        self.stats.rebalances += 1;
                    }
                    let id = group.group_id.clone();
                    match self.group_coordinator(&id).store_group(group, now) {
                        Ok(o) => self.apply_group_outputs(self.shard_of(&id), o),
                        Err(e) => self.group_error(&format!("storing group {id:?}"), &e),
                    }
                }
                MembershipOutput::Join { token, response } => {
                    if let Some(w) = self.waiting.remove(&token) {
                        let body = encode(&join_response(&response, w.version), w.version);
                        self.finish(token, w, body);
                    }
                }
                MembershipOutput::Sync { token, response } => {
                    if let Some(w) = self.waiting.remove(&token) {
                        let body = encode(&sync_response(&response, w.version), w.version);
                        self.finish(token, w, body);
                    }
                }
            }
        }
    }

    fn finish(&mut self, token: RequestToken, w: Waiting, body: anyhow::Result<bytes::BytesMut>) {
        let reply = match body {
            Ok(b) => Reply::Body(b),
            Err(e) => Reply::Close(format!("{:?} v{}: {e}", w.api, w.version)),
        };
        self.ready.insert(token, reply);
    }

    /// The answer to a request that waited ([`Reply::Wait`]), once the core gave it.
    pub fn take_ready(&mut self, token: RequestToken) -> Option<Reply> {
        self.ready.remove(&token)
    }

    fn new_token(&mut self) -> RequestToken {
        self.next_token += 1;
        self.next_token
    }

    pub(super) fn join_group(
        &mut self,
        r: &JoinGroupRequest,
        version: i16,
        client_id: &str,
        now: TimestampMs,
    ) -> anyhow::Result<Reply> {
        let request = CoreJoin {
            group_id: name_of(&r.group_id.0),
            session_timeout_ms: r.session_timeout_ms,
            rebalance_timeout_ms: if version >= 1 {
                r.rebalance_timeout_ms
            } else {
                r.session_timeout_ms
            },
            member_id: name_of(&r.member_id),
            group_instance_id: r.group_instance_id.as_ref().map(name_of),
            protocol_type: name_of(&r.protocol_type),
            protocols: r
                .protocols
                .iter()
                .map(|p| (name_of(&p.name), p.metadata.to_vec()))
                .collect(),
            version,
        };
        // The member id a new member gets (`ClassicGroupMember` ids are `clientId-UUID` in
        // Kafka; a counter here, the core takes it as input).
        self.next_member += 1;
        let client = if client_id.is_empty() {
            "member"
        } else {
            client_id
        };
        let new_member_id = format!("{client}-{}", self.next_member);
        let token = self.new_token();
        match self
            .membership
            .handle_join_group(&request, token, &new_member_id, now)
        {
            Err(e) => {
                self.group_error("JoinGroup", &e);
                let response = CoreJoinResponse {
                    error: Some(ErrorCode::UnknownServerError),
                    generation_id: -1,
                    member_id: request.member_id,
                    ..CoreJoinResponse::default()
                };
                encode(&join_response(&response, version), version).map(Reply::Body)
            }
            Ok((answer, outputs)) => {
                self.waiting.insert(
                    token,
                    Waiting {
                        api: ApiKey::JoinGroup,
                        version,
                    },
                );
                self.apply_membership_outputs(outputs, now);
                match answer {
                    Some(response) => {
                        self.waiting.remove(&token);
                        encode(&join_response(&response, version), version).map(Reply::Body)
                    }
                    None => Ok(self.take_ready(token).unwrap_or(Reply::Wait(token))),
                }
            }
        }
    }

    pub(super) fn sync_group(
        &mut self,
        r: &SyncGroupRequest,
        version: i16,
        now: TimestampMs,
    ) -> anyhow::Result<Reply> {
        let request = CoreSync {
            group_id: name_of(&r.group_id.0),
            generation_id: r.generation_id,
            member_id: name_of(&r.member_id),
            protocol_type: r.protocol_type.as_ref().map(name_of),
            protocol_name: r.protocol_name.as_ref().map(name_of),
            assignments: r
                .assignments
                .iter()
                .map(|a| (name_of(&a.member_id), a.assignment.to_vec()))
                .collect(),
        };
        let token = self.new_token();
        self.waiting.insert(
            token,
            Waiting {
                api: ApiKey::SyncGroup,
                version,
            },
        );
        let (answer, outputs) = self.membership.handle_sync_group(&request, token, now);
        self.apply_membership_outputs(outputs, now);
        match answer {
            Some(response) => {
                self.waiting.remove(&token);
                encode(&sync_response(&response, version), version).map(Reply::Body)
            }
            None => Ok(self.take_ready(token).unwrap_or(Reply::Wait(token))),
        }
    }

    pub(super) fn heartbeat(
        &mut self,
        r: &HeartbeatRequest,
        now: TimestampMs,
    ) -> HeartbeatResponse {
        let request = CoreHeartbeat {
            group_id: name_of(&r.group_id.0),
            generation_id: r.generation_id,
            member_id: name_of(&r.member_id),
        };
        let result = self.membership.handle_heartbeat(&request, now);
        HeartbeatResponse::default().with_error_code(result.err().map_or(0, ErrorCode::code))
    }

    pub(super) fn leave_group(
        &mut self,
        r: &LeaveGroupRequest,
        version: i16,
        now: TimestampMs,
    ) -> LeaveGroupResponse {
        let member_ids: Vec<String> = if version >= 3 {
            r.members.iter().map(|m| name_of(&m.member_id)).collect()
        } else {
            vec![name_of(&r.member_id)]
        };
        let request = CoreLeave {
            group_id: name_of(&r.group_id.0),
            member_ids,
        };
        let (answer, outputs) = self.membership.handle_leave_group(&request, now);
        self.apply_membership_outputs(outputs, now);
        if version >= 3 {
            LeaveGroupResponse::default()
                .with_error_code(code(answer.error))
                .with_members(
                    answer
                        .members
                        .iter()
                        .map(|(id, e)| {
                            MemberResponse::default()
                                .with_member_id(str_bytes(id))
                                .with_error_code(code(*e))
                        })
                        .collect(),
                )
        } else {
            let error = answer.error.or(answer.members.first().and_then(|m| m.1));
            LeaveGroupResponse::default().with_error_code(code(error))
        }
    }

    pub(super) fn offset_commit(
        &mut self,
        r: &OffsetCommitRequest,
        version: i16,
        now: TimestampMs,
    ) -> OffsetCommitResponse {
        let group_id = name_of(&r.group_id.0);
        let offsets = r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        TopicPartition::new(name_of(&t.name.0), p.partition_index),
                        p.committed_offset,
                    )
                })
            })
            .collect();
        let request = CoreOffsetCommit {
            group_id: group_id.clone(),
            generation_id: r.generation_id_or_member_epoch,
            member_id: name_of(&r.member_id),
            group_instance_id: r.group_instance_id.as_ref().map(name_of),
            offsets,
            version,
        };
        let answer = match self
            .group_coordinator(&group_id)
            .handle_offset_commit(&request, now)
        {
            Ok((answer, outputs)) => {
                self.apply_group_outputs(self.shard_of(&group_id), outputs);
                answer.partitions
            }
            Err(e) => {
                self.group_error("OffsetCommit", &e);
                refuse_all(&request.offsets, ErrorCode::InvalidRequest)
            }
        };
        let topics = r
            .topics
            .iter()
            .map(|t| {
                OffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                OffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(commit_error(
                                        &answer,
                                        &t.name,
                                        p.partition_index,
                                    ))
                            })
                            .collect(),
                    )
            })
            .collect();
        OffsetCommitResponse::default().with_topics(topics)
    }

    /// The group coordinator's TxnOffsetCommit with KIP-890 part 1: the group's offsets
    /// partition must be in the transaction (the core's verification request, verify-only for
    /// the versions served, sent to the transaction coordinator; a failure translated for the
    /// request version by the core), then the group role's `handle_txn_offset_commit` stores
    /// the offsets as pending (KIP-447 fencing by member and generation from v3).
    pub(super) fn txn_offset_commit(
        &mut self,
        r: &TxnOffsetCommitRequest,
        version: i16,
        now: TimestampMs,
    ) -> TxnOffsetCommitResponse {
        let group_id = name_of(&r.group_id.0);
        let offsets = r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        TopicPartition::new(name_of(&t.name.0), p.partition_index),
                        p.committed_offset,
                    )
                })
            })
            .collect();
        let request = CoreTxnOffsetCommit {
            transactional_id: name_of(&r.transactional_id.0),
            group_id: group_id.clone(),
            producer_id: r.producer_id.0,
            producer_epoch: r.producer_epoch,
            generation_id: if version >= 3 {
                r.generation_id
            } else {
                UNKNOWN_GENERATION_ID
            },
            member_id: if version >= 3 {
                name_of(&r.member_id)
            } else {
                String::new()
            },
            group_instance_id: if version >= 3 {
                r.group_instance_id.as_ref().map(name_of)
            } else {
                None
            },
            offsets,
            version,
        };
        let verification = self
            .group_coordinator(&group_id)
            .verification_request(&request);
        let (verified, outputs) = self
            .coordinator
            .handle_add_partitions_to_txn(&verification, now);
        self.trace_coordinator(&outputs, |effects| Step::AddPartitionsToTxn {
            request: verification,
            answer: verified,
            effects,
        });
        self.apply_coordinator_outputs(outputs, now);
        let answer: CommitAnswer = match verified {
            Err(e) => {
                let e = txn_offset_commit_verification_error(e, version);
                self.stats.eos.answered(ApiKey::TxnOffsetCommit, e.code());
                request
                    .offsets
                    .keys()
                    .map(|tp| (tp.clone(), Err(e)))
                    .collect()
            }
            Ok(()) => match self
                .group_coordinator(&group_id)
                .handle_txn_offset_commit(&request, now)
            {
                Ok((answer, outputs)) => {
                    self.apply_group_outputs(self.shard_of(&group_id), outputs);
                    answer.partitions
                }
                Err(e) => {
                    self.group_error("TxnOffsetCommit", &e);
                    refuse_all(&request.offsets, ErrorCode::InvalidRequest)
                }
            },
        };
        let topics = r
            .topics
            .iter()
            .map(|t| {
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(commit_error(
                                        &answer,
                                        &t.name,
                                        p.partition_index,
                                    ))
                            })
                            .collect(),
                    )
            })
            .collect();
        TxnOffsetCommitResponse::default().with_topics(topics)
    }

    /// One group's OffsetFetch through its coordinator: per named partition (or every
    /// committed one when `topics` is `None`) the offset, -1, or the error
    /// (UNSTABLE_OFFSET_COMMIT with `require_stable`).
    fn fetch_group_offsets(
        &mut self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
        require_stable: bool,
        version: i16,
    ) -> Vec<TopicOffsets> {
        let partitions = topics.as_ref().map(|ts| {
            ts.iter()
                .flat_map(|(t, ps)| ps.iter().map(move |p| TopicPartition::new(t.clone(), *p)))
                .collect::<BTreeSet<_>>()
        });
        let request = CoreOffsetFetch {
            group_id: group_id.to_string(),
            partitions,
            require_stable,
            version,
        };
        let answer = match self
            .group_coordinator(group_id)
            .handle_offset_fetch(&request)
        {
            Ok(a) => a.partitions,
            Err(e) => {
                self.group_error("OffsetFetch", &e);
                BTreeMap::new()
            }
        };
        let lookup = |tp: &TopicPartition| match answer.get(tp) {
            Some(Ok(o)) => (*o, 0),
            Some(Err(e)) => (-1, e.code()),
            None => (-1, 0),
        };
        match topics {
            Some(ts) => ts
                .into_iter()
                .map(|(t, ps)| {
                    let parts = ps
                        .into_iter()
                        .map(|p| {
                            let (o, e) = lookup(&TopicPartition::new(t.clone(), p));
                            (p, o, e)
                        })
                        .collect();
                    (t, parts)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<(i32, i64, i16)>> = BTreeMap::new();
                for (tp, r) in &answer {
                    let (o, e) = match r {
                        Ok(o) => (*o, 0),
                        Err(e) => (-1, e.code()),
                    };
                    by_topic
                        .entry(tp.topic.to_string())
                        .or_default()
                        .push((tp.partition, o, e));
                }
                by_topic.into_iter().collect()
            }
        }
    }

    pub(super) fn offset_fetch(
        &mut self,
        r: &OffsetFetchRequest,
        version: i16,
    ) -> OffsetFetchResponse {
        let require_stable = version >= 7 && r.require_stable;
        if version >= 8 {
            let groups = r
                .groups
                .iter()
                .map(|g| {
                    let topics = g.topics.as_ref().map(|ts| {
                        ts.iter()
                            .map(|t| (name_of(&t.name.0), t.partition_indexes.clone()))
                            .collect()
                    });
                    let group_id = name_of(&g.group_id.0);
                    let answer =
                        self.fetch_group_offsets(&group_id, topics, require_stable, version);
                    OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_topics(
                            answer
                                .into_iter()
                                .map(|(t, ps)| {
                                    OffsetFetchResponseTopics::default()
                                        .with_name(TopicName(str_bytes(&t)))
                                        .with_partitions(
                                            ps.into_iter()
                                                .map(|(p, o, e)| {
                                                    OffsetFetchResponsePartitions::default()
                                                        .with_partition_index(p)
                                                        .with_committed_offset(o)
                                                        .with_error_code(e)
                                                })
                                                .collect(),
                                        )
                                })
                                .collect(),
                        )
                })
                .collect();
            return OffsetFetchResponse::default().with_groups(groups);
        }
        let topics = r.topics.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (name_of(&t.name.0), t.partition_indexes.clone()))
                .collect()
        });
        let answer =
            self.fetch_group_offsets(&name_of(&r.group_id.0), topics, require_stable, version);
        OffsetFetchResponse::default().with_topics(
            answer
                .into_iter()
                .map(|(t, ps)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(TopicName(str_bytes(&t)))
                        .with_partitions(
                            ps.into_iter()
                                .map(|(p, o, e)| {
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(o)
                                        .with_error_code(e)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }

    /// A group's state and protocol type, from membership, else from its coordinator (a simple
    /// group created by an offset commit).
    fn group_overview(&self, group_id: &str) -> Option<(String, Option<String>)> {
        if let Some(g) = self.membership.group(group_id) {
            return Some((g.state.name().to_string(), g.protocol_type));
        }
        let shard = self.shard_of(group_id);
        let g = self.groups.get(&shard)?.group(group_id)?;
        Some((g.state.name().to_string(), g.protocol_type.clone()))
    }

    pub(super) fn list_groups(&self) -> ListGroupsResponse {
        let mut ids: BTreeSet<String> = self.membership.list().into_iter().map(|g| g.0).collect();
        for c in self.groups.values() {
            ids.extend(c.groups().keys().cloned());
        }
        let groups = ids
            .iter()
            .filter_map(|id| {
                let (state, protocol_type) = self.group_overview(id)?;
                Some(
                    ListedGroup::default()
                        .with_group_id(GroupId(str_bytes(id)))
                        .with_protocol_type(str_bytes(&protocol_type.unwrap_or_default()))
                        .with_group_state(str_bytes(&state))
                        .with_group_type(str_bytes("classic")),
                )
            })
            .collect();
        ListGroupsResponse::default().with_groups(groups)
    }

    pub(super) fn describe_groups(&self, r: &DescribeGroupsRequest) -> DescribeGroupsResponse {
        let groups = r
            .groups
            .iter()
            .map(|id| {
                let group_id = name_of(&id.0);
                let described = DescribedGroup::default().with_group_id(id.clone());
                if let Some(d) = self.membership.describe(&group_id) {
                    described
                        .with_group_state(str_bytes(d.state.name()))
                        .with_protocol_type(str_bytes(&d.protocol_type.unwrap_or_default()))
                        .with_protocol_data(str_bytes(&d.protocol_name.unwrap_or_default()))
                        .with_members(
                            d.members
                                .into_iter()
                                .map(|(m, metadata, assignment)| {
                                    DescribedGroupMember::default()
                                        .with_member_id(str_bytes(&m))
                                        .with_member_metadata(Bytes::from(metadata))
                                        .with_member_assignment(Bytes::from(assignment))
                                })
                                .collect(),
                        )
                } else if let Some((state, protocol_type)) = self.group_overview(&group_id) {
                    described
                        .with_group_state(str_bytes(&state))
                        .with_protocol_type(str_bytes(&protocol_type.unwrap_or_default()))
                } else {
                    // `GroupCoordinator.handleDescribeGroup`: an unknown group is Dead, no error.
                    described.with_group_state(str_bytes("Dead"))
                }
            })
            .collect();
        DescribeGroupsResponse::default().with_groups(groups)
    }

    /// A marker for a `__consumer_offsets` partition: the group coordinator of that partition
    /// completes (COMMIT) or drops (ABORT) the producer's pending offsets.
    pub(super) fn offsets_marker(
        &mut self,
        m: &kafka_eos::messages::WriteTxnMarker,
        now: TimestampMs,
    ) -> kafka_eos::messages::WriteTxnMarkersResponse {
        let (response, outputs) = self
            .offsets_shard(m.partition.partition)
            .handle_write_txn_marker(m, now);
        self.apply_group_outputs(m.partition.partition, outputs);
        response
    }

    /// The membership timers (session, join and sync timeouts).
    pub(super) fn group_tick(&mut self, now: TimestampMs) {
        let outputs = self.membership.handle_timeout(now);
        self.apply_membership_outputs(outputs, now);
    }
}
