//! The consumer client, as much of it as an exactly-once processor needs (`KafkaConsumer` with
//! the classic group protocol): the assignment a rebalance hands it, one position per assigned
//! partition (`SubscriptionState`), the committed-offset fetch that initialises a position
//! (`ConsumerCoordinator.fetchCommittedOffsets`, OffsetFetch with `require_stable` and a retry
//! on UNSTABLE_OFFSET_COMMIT), read_committed fetches (`Fetcher.sendFetches`,
//! `FetchCollector`/`CompletedFetch`, through the partition role's
//! [`consumer_records`]), `commitSync` outside a
//! transaction, and the group metadata a transactional producer sends with its offsets
//! (`KafkaConsumer.groupMetadata`, KIP-447).
//!
//! Sans-IO, as every role: an application call or a response goes in with `now`, the requests
//! to send and the application's events come out ([`ConsumerOutput`]). JoinGroup, SyncGroup
//! and heartbeats are not modelled: the outcome of a rebalance is an input ([`Consumer::assign`]),
//! as the group coordinator's [`complete_rebalance`](crate::group::GroupCoordinator::complete_rebalance)
//! is on its side. docs/consumer.md tables the rules and their Kafka sources.
//!
//! # Example: the committed offset initialises the position, read_committed fetches
//!
//! ```
//! use std::collections::BTreeSet;
//! use kafka_eos::consumer::*;
//! use kafka_eos::group::{OffsetFetchResponse, GroupCoordinator, GroupCoordinatorConfig};
//! use kafka_eos::partition::{PartitionConfig, PartitionLeader, ProduceBatch};
//! use kafka_eos::TopicPartition;
//!
//! let input: TopicPartition = "in-0".parse()?;
//! let mut leader: PartitionLeader<&str> = PartitionLeader::new(PartitionConfig::default());
//! for payload in ["a", "b"] {
//!     let batch = ProduceBatch { producer_id: -1, producer_epoch: -1, base_sequence: -1,
//!         record_count: 1, is_transactional: false, max_timestamp: 0, payload };
//!     leader.append(batch, None)?;
//! }
//! let groups = GroupCoordinator::new(GroupCoordinatorConfig::default());
//! let mut consumer = Consumer::new(ConsumerConfig::new("g"));
//! let generation = Generation { generation_id: 1, member_id: "m-1".into() };
//! let out = consumer.assign::<&str>(generation, BTreeSet::from([input.clone()]), 0)?;
//! // The position comes from the committed offset, asked with require_stable (KIP-447).
//! let [ConsumerRequest::OffsetFetch { id, request }] = &out.sends[..] else { panic!() };
//! assert!(request.require_stable);
//! let answer: OffsetFetchResponse = groups.handle_offset_fetch(request)?;
//! consumer.handle_response(*id, ConsumerResponse::<&str>::OffsetFetch(answer), 0)?;
//! // No committed offset: auto.offset.reset=earliest starts at 0; poll() fetches from there.
//! assert_eq!(consumer.position(&input), Some(0));
//! let out = consumer.poll::<&str>(0);
//! let [ConsumerRequest::Fetch { id, request }] = &out.sends[..] else { panic!() };
//! let fetched = leader.fetch(request.fetch_offset, request.isolation_level).map_err(|_| "range")?;
//! let out = consumer.handle_response(*id, ConsumerResponse::Fetch(Ok(fetched)), 0)?;
//! assert!(out.events.contains(&ConsumerEvent::Records {
//!     partition: input.clone(), records: vec![(0, "a"), (1, "b")] }));
//! assert_eq!(consumer.position(&input), Some(2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod messages;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use messages::{
    ConsumerEvent, ConsumerOutput, ConsumerRequest, ConsumerRequestId, ConsumerResponse,
    FetchRequest,
};

use crate::error::ErrorCode;
use crate::group::{
    OffsetCommitRequest, OffsetFetchRequest, OFFSET_COMMIT_VERSION, OFFSET_FETCH_VERSION,
    UNKNOWN_GENERATION_ID,
};
use crate::partition::{consumer_records, IsolationLevel};
use crate::producer::ConsumerGroupMetadata;
use crate::types::{Offset, TimestampMs, TopicPartition};

/// Known client bugs the consumer can be switched into (each off by default, Kafka's rule).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ConsumerBugs {
    /// The OffsetFetch that initialises a position does not set `require_stable` (kafka-python
    /// 2.x, or a client that sets it only at read_committed running at read_uncommitted): the
    /// group coordinator answers the last committed offset while a transaction holds a pending
    /// one, so a new owner reprocesses what that transaction commits. The Java client always
    /// sets it (`ConsumerCoordinator.sendOffsetFetchRequest`, KIP-447).
    pub no_require_stable: bool,
}

/// `auto.offset.reset`: where a partition without a committed offset starts.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum OffsetReset {
    /// `earliest`: the log start offset (0 here: no retention, C-S3).
    #[default]
    Earliest,
    /// `none`: `NoOffsetForPartitionException` ([`ConsumerEvent::Error`] with no error code).
    None,
}

/// The consumer's configuration.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConsumerConfig {
    /// `group.id`.
    pub group_id: String,
    /// `group.instance.id` (static membership, KIP-345).
    pub group_instance_id: Option<String>,
    /// `isolation.level` (read_committed for an exactly-once processor).
    pub isolation_level: IsolationLevel,
    /// `auto.offset.reset`.
    pub auto_offset_reset: OffsetReset,
    /// `retry.backoff.ms`: the wait before an OffsetFetch answered with a retriable error
    /// (UNSTABLE_OFFSET_COMMIT included) is sent again.
    pub retry_backoff_ms: TimestampMs,
    /// Known bugs switched on.
    pub bugs: ConsumerBugs,
}

impl ConsumerConfig {
    /// A read_committed consumer of group `group_id` with `auto.offset.reset=earliest` and
    /// Kafka's `retry.backoff.ms` (100 ms).
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerConfig {
            group_id: group_id.into(),
            group_instance_id: None,
            isolation_level: IsolationLevel::ReadCommitted,
            auto_offset_reset: OffsetReset::Earliest,
            retry_backoff_ms: 100,
            bugs: ConsumerBugs::default(),
        }
    }
}

/// The generation a rebalance handed this member (`AbstractCoordinator.Generation`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Generation {
    /// `generationId`.
    pub generation_id: i32,
    /// `memberId`.
    pub member_id: String,
}

/// Where an assigned partition stands (`SubscriptionState.TopicPartitionState`'s fetch state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PartitionPosition {
    /// `INITIALIZING`: no position yet; the committed offset is fetched.
    Initializing,
    /// `FETCHING` at this offset (the next offset to fetch).
    Fetching(Offset),
    /// The position could not be initialised: no committed offset with `auto.offset.reset=none`
    /// (`None`), or a non-retriable OffsetFetch error.
    Failed(Option<ErrorCode>),
}

/// What an outstanding request was for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConsumerOutstanding {
    /// An OffsetFetch for these partitions, sent in this generation.
    OffsetFetch {
        /// The partitions.
        partitions: BTreeSet<TopicPartition>,
        /// The generation it was sent in (`PendingCommittedOffsetRequest.requestedGeneration`).
        generation: Option<Generation>,
    },
    /// A Fetch of this partition from this offset.
    Fetch(TopicPartition, Offset),
    /// An OffsetCommit (the request, re-sent on a retriable error).
    OffsetCommit(OffsetCommitRequest),
}

/// Misuse of the consumer's API (not a Kafka protocol error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConsumerError {
    /// A response to a request the consumer has not sent or already completed.
    #[error("no outstanding request {0}")]
    UnknownRequest(ConsumerRequestId),
    /// A response of another API than its request's.
    #[error("response to request {0} does not match its request")]
    ResponseMismatch(ConsumerRequestId),
    /// Group management with an empty `group.id`; Kafka answers `INVALID_GROUP_ID (24)`.
    #[error("group management needs a group.id (INVALID_GROUP_ID)")]
    InvalidGroupId,
}

impl ConsumerError {
    /// The Kafka error code this misuse corresponds to, if any.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ConsumerError::InvalidGroupId => Some(ErrorCode::InvalidGroupId),
            _ => None,
        }
    }
}

/// The consumer (`KafkaConsumer` with `ConsumerCoordinator`, `SubscriptionState` and `Fetcher`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Consumer {
    config: ConsumerConfig,
    generation: Option<Generation>,
    assignment: BTreeMap<TopicPartition, PartitionPosition>,
    next_id: ConsumerRequestId,
    outstanding: BTreeMap<ConsumerRequestId, ConsumerOutstanding>,
    offset_fetch_backoff_until: Option<TimestampMs>,
}

impl Consumer {
    /// A consumer with no assignment.
    pub fn new(config: ConsumerConfig) -> Self {
        Consumer {
            config,
            generation: None,
            assignment: BTreeMap::new(),
            next_id: 0,
            outstanding: BTreeMap::new(),
            offset_fetch_backoff_until: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// The generation of the last assignment (`None` before one).
    pub fn generation(&self) -> Option<&Generation> {
        self.generation.as_ref()
    }

    /// The assigned partitions and where each stands (`SubscriptionState.assignment`).
    pub fn assignment(&self) -> &BTreeMap<TopicPartition, PartitionPosition> {
        &self.assignment
    }

    /// The position of an assigned partition, once initialised (`KafkaConsumer.position`).
    pub fn position(&self, partition: &TopicPartition) -> Option<Offset> {
        match self.assignment.get(partition) {
            Some(PartitionPosition::Fetching(o)) => Some(*o),
            _ => None,
        }
    }

    /// The requests sent and not yet answered.
    pub fn outstanding(&self) -> &BTreeMap<ConsumerRequestId, ConsumerOutstanding> {
        &self.outstanding
    }

    /// When a backed-off OffsetFetch is due (call [`Consumer::poll`] then).
    pub fn next_deadline(&self) -> Option<TimestampMs> {
        self.offset_fetch_backoff_until
            .filter(|_| self.awaiting_committed().next().is_some())
    }

    /// `KafkaConsumer.groupMetadata()`: what a transactional producer sends with its offsets
    /// (`sendOffsetsToTransaction(offsets, groupMetadata)`) so that the group coordinator fences
    /// a member of an older generation (KIP-447). Before an assignment: generation -1, member "".
    pub fn group_metadata(&self) -> ConsumerGroupMetadata {
        let (generation_id, member_id) = match &self.generation {
            Some(g) => (g.generation_id, g.member_id.clone()),
            None => (UNKNOWN_GENERATION_ID, String::new()),
        };
        ConsumerGroupMetadata {
            group_id: self.config.group_id.clone(),
            generation_id,
            member_id,
            group_instance_id: self.config.group_instance_id.clone(),
        }
    }

    /// A rebalance completed: this member has `generation` and owns `partitions`
    /// (`ConsumerCoordinator.onJoinComplete` → `SubscriptionState.assignFromSubscribed`). The
    /// eager protocol revoked every partition before rejoining (`onJoinPrepare`), so every
    /// assigned partition starts `INITIALIZING`: its position comes from the committed offset
    /// (the OffsetFetch is returned here). A fetch or OffsetFetch of the
    /// previous assignment still in flight is discarded when it is answered.
    pub fn assign<P: Clone>(
        &mut self,
        generation: Generation,
        partitions: BTreeSet<TopicPartition>,
        now: TimestampMs,
    ) -> Result<ConsumerOutput<P>, ConsumerError> {
        if self.config.group_id.is_empty() {
            return Err(ConsumerError::InvalidGroupId);
        }
        self.generation = Some(generation);
        self.assignment = partitions
            .into_iter()
            .map(|p| (p, PartitionPosition::Initializing))
            .collect();
        self.offset_fetch_backoff_until = None;
        let mut out = ConsumerOutput::default();
        self.send_offset_fetch_if_due(now, &mut out);
        Ok(out)
    }

    /// Seeks every assigned partition back to its committed offset: what an exactly-once
    /// application does after `abortTransaction()` (its positions moved past records whose
    /// output was aborted). The OffsetFetch for the committed offsets is returned.
    pub fn reset_to_committed<P: Clone>(&mut self, now: TimestampMs) -> ConsumerOutput<P> {
        for position in self.assignment.values_mut() {
            *position = PartitionPosition::Initializing;
        }
        self.offset_fetch_backoff_until = None;
        let mut out = ConsumerOutput::default();
        self.send_offset_fetch_if_due(now, &mut out);
        out
    }

    fn awaiting_committed(&self) -> impl Iterator<Item = &TopicPartition> + '_ {
        self.assignment
            .iter()
            .filter(|(_, p)| **p == PartitionPosition::Initializing)
            .map(|(tp, _)| tp)
    }

    fn next_request_id(&mut self) -> ConsumerRequestId {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// `KafkaConsumer.poll` without the wait:
    /// 1. `updateFetchPositions` → `ConsumerCoordinator.refreshCommittedOffsetsIfNeeded`: the
    ///    partitions still `INITIALIZING` get one OffsetFetch (`require_stable` set, as the Java
    ///    client always sets it), unless one is in flight or a retry is backing off;
    /// 2. `Fetcher.sendFetches`: every partition with a position and no fetch in flight
    ///    (`fetchablePartitions`) gets a Fetch at its position with the configured isolation.
    pub fn poll<P: Clone>(&mut self, now: TimestampMs) -> ConsumerOutput<P> {
        let mut out = ConsumerOutput::default();
        self.poll_into(now, &mut out);
        out
    }

    fn poll_into<P>(&mut self, now: TimestampMs, out: &mut ConsumerOutput<P>) {
        self.send_offset_fetch_if_due(now, out);
        self.send_fetches(out);
    }

    /// The OffsetFetch for the partitions still `INITIALIZING`, unless one is in flight or a
    /// retry is backing off.
    fn send_offset_fetch_if_due<P>(&mut self, now: TimestampMs, out: &mut ConsumerOutput<P>) {
        let in_flight_offset_fetch = self
            .outstanding
            .values()
            .any(|o| matches!(o, ConsumerOutstanding::OffsetFetch { .. }));
        let backing_off = self.offset_fetch_backoff_until.is_some_and(|t| now < t);
        let awaiting: BTreeSet<TopicPartition> = self.awaiting_committed().cloned().collect();
        if !awaiting.is_empty() && !in_flight_offset_fetch && !backing_off {
            let id = self.next_request_id();
            let request = OffsetFetchRequest {
                group_id: self.config.group_id.clone(),
                partitions: Some(awaiting.clone()),
                require_stable: !self.config.bugs.no_require_stable,
                version: OFFSET_FETCH_VERSION,
            };
            self.outstanding.insert(
                id,
                ConsumerOutstanding::OffsetFetch {
                    partitions: awaiting,
                    generation: self.generation.clone(),
                },
            );
            out.sends.push(ConsumerRequest::OffsetFetch { id, request });
        }
    }

    /// A Fetch for every partition with a position and no fetch in flight.
    fn send_fetches<P>(&mut self, out: &mut ConsumerOutput<P>) {
        let fetching: Vec<(TopicPartition, Offset)> = self
            .assignment
            .iter()
            .filter_map(|(tp, p)| match p {
                PartitionPosition::Fetching(o) => Some((tp.clone(), *o)),
                _ => None,
            })
            .filter(|(tp, _)| {
                !self
                    .outstanding
                    .values()
                    .any(|o| matches!(o, ConsumerOutstanding::Fetch(f, _) if f == tp))
            })
            .collect();
        for (partition, fetch_offset) in fetching {
            let id = self.next_request_id();
            self.outstanding.insert(
                id,
                ConsumerOutstanding::Fetch(partition.clone(), fetch_offset),
            );
            out.sends.push(ConsumerRequest::Fetch {
                id,
                request: FetchRequest {
                    partition,
                    fetch_offset,
                    isolation_level: self.config.isolation_level,
                },
            });
        }
    }

    /// `commitSync(offsets)`: a plain OffsetCommit with this member's generation, member id and
    /// instance id (`ConsumerCoordinator.sendOffsetCommitRequest`), outside any transaction.
    /// Answered with [`ConsumerEvent::OffsetsCommitted`] or [`ConsumerEvent::CommitFailed`]; a
    /// retriable error re-sends it (`commitOffsetsSync` loops until its timer expires).
    pub fn commit_sync<P: Clone>(
        &mut self,
        offsets: BTreeMap<TopicPartition, Offset>,
        _now: TimestampMs,
    ) -> Result<ConsumerOutput<P>, ConsumerError> {
        if self.config.group_id.is_empty() {
            return Err(ConsumerError::InvalidGroupId);
        }
        let metadata = self.group_metadata();
        let request = OffsetCommitRequest {
            group_id: metadata.group_id,
            generation_id: metadata.generation_id,
            member_id: metadata.member_id,
            group_instance_id: metadata.group_instance_id,
            offsets,
            version: OFFSET_COMMIT_VERSION,
        };
        let mut out = ConsumerOutput::default();
        self.send_commit(request, &mut out);
        Ok(out)
    }

    fn send_commit<P>(&mut self, request: OffsetCommitRequest, out: &mut ConsumerOutput<P>) {
        let id = self.next_request_id();
        self.outstanding
            .insert(id, ConsumerOutstanding::OffsetCommit(request.clone()));
        out.sends
            .push(ConsumerRequest::OffsetCommit { id, request });
    }

    /// The response to request `id`, then the retries that are now due (an OffsetFetch whose
    /// backoff has passed, a commit answered with a retriable error). Fetches are sent by
    /// [`Consumer::poll`] only, when the application asks for records.
    ///
    /// - **OffsetFetch** (`ConsumerCoordinator.OffsetFetchResponseHandler`,
    ///   `refreshCommittedOffsets`): an answer to a request of an older generation is dropped
    ///   (`PendingCommittedOffsetRequest.sameRequest`); per partition still `INITIALIZING`, a
    ///   committed offset becomes the position (`SubscriptionState.seekUnvalidated`), -1 is
    ///   `auto.offset.reset` (earliest: 0; none: [`ConsumerEvent::Error`]),
    ///   UNSTABLE_OFFSET_COMMIT and every other retriable error back off `retry.backoff.ms` and
    ///   fetch again (`UnstableOffsetCommitException` is retriable; [`ConsumerEvent::OffsetsUnstable`]),
    ///   a non-retriable error fails the partition.
    /// - **Fetch** (`FetchCollector`): dropped if the partition is no longer assigned or its
    ///   position moved since the request ("discarding stale fetch response"); an error leaves
    ///   the position where it is (the next poll fetches again); otherwise the records
    ///   [`consumer_records`] delivers from the position (control records and, at
    ///   read_committed, aborted batches skipped) go to the application and the position moves
    ///   past the last batch returned (`CompletedFetch.nextFetchOffset`).
    /// - **OffsetCommit**: success → [`ConsumerEvent::OffsetsCommitted`]; only retriable errors →
    ///   sent again; otherwise [`ConsumerEvent::CommitFailed`] with the first non-retriable one.
    pub fn handle_response<P: Clone>(
        &mut self,
        id: ConsumerRequestId,
        response: ConsumerResponse<P>,
        now: TimestampMs,
    ) -> Result<ConsumerOutput<P>, ConsumerError> {
        let outstanding = self
            .outstanding
            .get(&id)
            .ok_or(ConsumerError::UnknownRequest(id))?;
        let matches = matches!(
            (outstanding, &response),
            (
                ConsumerOutstanding::OffsetFetch { .. },
                ConsumerResponse::OffsetFetch(_)
            ) | (ConsumerOutstanding::Fetch(..), ConsumerResponse::Fetch(_))
                | (
                    ConsumerOutstanding::OffsetCommit(_),
                    ConsumerResponse::OffsetCommit(_)
                )
        );
        if !matches {
            return Err(ConsumerError::ResponseMismatch(id));
        }
        let outstanding = self
            .outstanding
            .remove(&id)
            .ok_or(ConsumerError::UnknownRequest(id))?;
        let mut out = ConsumerOutput::default();
        match (outstanding, response) {
            (
                ConsumerOutstanding::OffsetFetch {
                    partitions,
                    generation,
                },
                ConsumerResponse::OffsetFetch(answer),
            ) => {
                if generation == self.generation {
                    self.offset_fetch_answered(partitions, &answer.partitions, now, &mut out);
                }
            }
            (ConsumerOutstanding::Fetch(partition, offset), ConsumerResponse::Fetch(answer)) => {
                if self.assignment.get(&partition) == Some(&PartitionPosition::Fetching(offset)) {
                    if let Ok(fetch) = answer {
                        let records: Vec<(Offset, P)> =
                            consumer_records(&fetch, self.config.isolation_level, offset)
                                .map(|r| (r.offset, r.payload.clone()))
                                .collect();
                        let next = fetch
                            .batches
                            .iter()
                            .filter(|b| b.last_offset >= offset)
                            .map(|b| b.last_offset.saturating_add(1))
                            .max()
                            .unwrap_or(offset);
                        self.assignment
                            .insert(partition.clone(), PartitionPosition::Fetching(next));
                        if !records.is_empty() {
                            out.events
                                .push(ConsumerEvent::Records { partition, records });
                        }
                    }
                }
            }
            (
                ConsumerOutstanding::OffsetCommit(request),
                ConsumerResponse::OffsetCommit(answer),
            ) => {
                let errors = answer.errors();
                match errors.values().find(|e| !e.is_retriable()) {
                    None if errors.is_empty() => out.events.push(ConsumerEvent::OffsetsCommitted {
                        offsets: request.offsets,
                    }),
                    None => self.send_commit(request, &mut out),
                    Some(error) => out
                        .events
                        .push(ConsumerEvent::CommitFailed { error: *error }),
                }
            }
            _ => return Err(ConsumerError::ResponseMismatch(id)),
        }
        self.send_offset_fetch_if_due(now, &mut out);
        Ok(out)
    }

    fn offset_fetch_answered<P>(
        &mut self,
        partitions: BTreeSet<TopicPartition>,
        answers: &BTreeMap<TopicPartition, Result<Offset, ErrorCode>>,
        now: TimestampMs,
        out: &mut ConsumerOutput<P>,
    ) {
        let mut unstable = BTreeSet::new();
        let mut retry = false;
        for tp in partitions {
            if self.assignment.get(&tp) != Some(&PartitionPosition::Initializing) {
                continue;
            }
            let next = match answers.get(&tp) {
                Some(Ok(offset)) if *offset >= 0 => PartitionPosition::Fetching(*offset),
                Some(Ok(_)) => match self.config.auto_offset_reset {
                    OffsetReset::Earliest => PartitionPosition::Fetching(0),
                    OffsetReset::None => PartitionPosition::Failed(None),
                },
                Some(Err(ErrorCode::UnstableOffsetCommit)) => {
                    unstable.insert(tp.clone());
                    retry = true;
                    continue;
                }
                Some(Err(e)) if e.is_retriable() => {
                    retry = true;
                    continue;
                }
                Some(Err(e)) => PartitionPosition::Failed(Some(*e)),
                None => {
                    retry = true;
                    continue;
                }
            };
            match next {
                PartitionPosition::Fetching(offset) => {
                    out.events.push(ConsumerEvent::PositionInitialized {
                        partition: tp.clone(),
                        offset,
                    })
                }
                PartitionPosition::Failed(error) => out.events.push(ConsumerEvent::Error {
                    partition: tp.clone(),
                    error,
                }),
                PartitionPosition::Initializing => {}
            }
            self.assignment.insert(tp, next);
        }
        if !unstable.is_empty() {
            out.events.push(ConsumerEvent::OffsetsUnstable {
                partitions: unstable,
            });
        }
        if retry {
            self.offset_fetch_backoff_until =
                Some(now.saturating_add(self.config.retry_backoff_ms));
        }
    }
}
