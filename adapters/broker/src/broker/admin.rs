//! The admin surface Kafka's tools and tests use: topics (CreateTopics, DeleteTopics, the
//! auto-creation of Metadata), DeleteRecords, DescribeConfigs, and the transaction tools'
//! DescribeProducers, ListTransactions and DescribeTransactions (`kafka-transactions.sh list`,
//! `describe`, `find-hanging`). Wire fields → the core's rules (`kafka_eos::topic`, the
//! leader's [`PartitionLeader::delete_records`], the coordinator's
//! [`TransactionCoordinator::list_transactions`](kafka_eos::coordinator::TransactionCoordinator::list_transactions))
//! → wire fields; the topic table itself (names, partition counts, ids, config overrides) is
//! this node's metadata, kept here.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use kafka_eos::coordinator::ListTransactionsFilter;
use kafka_eos::error::ErrorCode;
use kafka_eos::partition::{cleanup_policy_allows_delete, PartitionLeader};
use kafka_eos::topic;
use kafka_eos::types::{TimestampMs, TopicPartition};
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::describe_transactions_response::{
    TopicData, TransactionState as DescribedTransaction,
};
use kafka_protocol::messages::list_transactions_response::TransactionState as ListedTransaction;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{name_of, Broker, OFFSETS_TOPIC};

/// The most partitions one topic may have here: a guard against a CreateTopics (or a
/// `--default-partitions`) that would exhaust memory; Kafka has no such limit. Above it:
/// `INVALID_PARTITIONS`.
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 10_000;

/// `ConfigResource.Type.TOPIC`.
const RESOURCE_TOPIC: i8 = 2;
/// `ConfigResource.Type.BROKER`.
const RESOURCE_BROKER: i8 = 4;
/// `ConfigSource.DYNAMIC_TOPIC_CONFIG`: a topic's override (set by CreateTopics here).
const SOURCE_TOPIC: i8 = 1;
/// `ConfigSource.STATIC_BROKER_CONFIG`: set on the command line.
const SOURCE_STATIC_BROKER: i8 = 4;
/// `ConfigSource.DEFAULT_CONFIG`: Kafka's default.
const SOURCE_DEFAULT: i8 = 5;
/// `ConfigDef.Type` ids of DescribeConfigs v3+.
const TYPE_BOOLEAN: i8 = 1;
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
const TYPE_DOUBLE: i8 = 6;
const TYPE_LIST: i8 = 7;

/// One topic config (`LogConfig`): its name, Kafka's default, its type and the broker config
/// it defaults to (its synonym in DescribeConfigs).
struct TopicConfig {
    name: &'static str,
    default: &'static str,
    kind: i8,
    broker: &'static str,
}

const fn cfg(
    name: &'static str,
    default: &'static str,
    kind: i8,
    broker: &'static str,
) -> TopicConfig {
    TopicConfig {
        name,
        default,
        kind,
        broker,
    }
}

/// Kafka's topic configs with their defaults (`TopicConfig`, `LogConfig`, `ServerLogConfigs`),
/// in name order. This node applies none of them but `cleanup.policy` (DeleteRecords needs
/// `delete`); they are answered so that admin clients see a topic as Kafka shows it.
const TOPIC_CONFIGS: &[TopicConfig] = &[
    cfg("cleanup.policy", "delete", TYPE_LIST, "log.cleanup.policy"),
    cfg(
        "compression.type",
        "producer",
        TYPE_STRING,
        "compression.type",
    ),
    cfg(
        "delete.retention.ms",
        "86400000",
        TYPE_LONG,
        "log.cleaner.delete.retention.ms",
    ),
    cfg(
        "file.delete.delay.ms",
        "60000",
        TYPE_LONG,
        "log.segment.delete.delay.ms",
    ),
    cfg(
        "flush.messages",
        "9223372036854775807",
        TYPE_LONG,
        "log.flush.interval.messages",
    ),
    cfg(
        "flush.ms",
        "9223372036854775807",
        TYPE_LONG,
        "log.flush.interval.ms",
    ),
    cfg(
        "index.interval.bytes",
        "4096",
        TYPE_INT,
        "log.index.interval.bytes",
    ),
    cfg(
        "max.compaction.lag.ms",
        "9223372036854775807",
        TYPE_LONG,
        "log.cleaner.max.compaction.lag.ms",
    ),
    cfg(
        "max.message.bytes",
        "1048588",
        TYPE_INT,
        "message.max.bytes",
    ),
    cfg(
        "message.timestamp.after.max.ms",
        "9223372036854775807",
        TYPE_LONG,
        "log.message.timestamp.after.max.ms",
    ),
    cfg(
        "message.timestamp.before.max.ms",
        "9223372036854775807",
        TYPE_LONG,
        "log.message.timestamp.before.max.ms",
    ),
    cfg(
        "message.timestamp.type",
        "CreateTime",
        TYPE_STRING,
        "log.message.timestamp.type",
    ),
    cfg(
        "min.cleanable.dirty.ratio",
        "0.5",
        TYPE_DOUBLE,
        "log.cleaner.min.cleanable.ratio",
    ),
    cfg(
        "min.compaction.lag.ms",
        "0",
        TYPE_LONG,
        "log.cleaner.min.compaction.lag.ms",
    ),
    cfg("min.insync.replicas", "1", TYPE_INT, "min.insync.replicas"),
    cfg("preallocate", "false", TYPE_BOOLEAN, "log.preallocate"),
    cfg("retention.bytes", "-1", TYPE_LONG, "log.retention.bytes"),
    cfg("retention.ms", "604800000", TYPE_LONG, "log.retention.ms"),
    cfg("segment.bytes", "1073741824", TYPE_INT, "log.segment.bytes"),
    cfg(
        "segment.index.bytes",
        "10485760",
        TYPE_INT,
        "log.index.size.max.bytes",
    ),
    cfg("segment.jitter.ms", "0", TYPE_LONG, "log.roll.jitter.ms"),
    cfg("segment.ms", "604800000", TYPE_LONG, "log.roll.ms"),
    cfg(
        "unclean.leader.election.enable",
        "false",
        TYPE_BOOLEAN,
        "unclean.leader.election.enable",
    ),
];

fn topic_config(name: &str) -> Option<&'static TopicConfig> {
    TOPIC_CONFIGS.iter().find(|c| c.name == name)
}

/// What this node knows of a topic besides its partitions.
#[derive(Clone, Debug)]
pub(super) struct TopicMeta {
    /// The topic id (Metadata v10+, CreateTopics v7+, DeleteTopics v6+).
    pub(super) id: Uuid,
    /// Config overrides given to CreateTopics, by name.
    pub(super) configs: BTreeMap<String, String>,
}

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

fn error_message(
    name: &str,
    code: ErrorCode,
    partitions: i32,
    replication: i16,
    brokers: i16,
) -> String {
    match code {
        ErrorCode::TopicAlreadyExists => format!("Topic '{name}' already exists."),
        ErrorCode::InvalidTopicException if topic::validate_name(name).is_ok() => {
            format!("Topic '{name}' collides with an existing topic ('.' and '_' collide)")
        }
        ErrorCode::InvalidTopicException => format!(
            "Topic name '{name}' is illegal: 1 to {} characters of ASCII alphanumerics, '.', '_' and '-', not '.' or '..'",
            topic::MAX_NAME_LENGTH
        ),
        ErrorCode::InvalidPartitions => format!(
            "Number of partitions {partitions} is invalid (1 to {MAX_PARTITIONS_PER_TOPIC}, or -1 for the default)."
        ),
        ErrorCode::InvalidReplicationFactor => format!(
            "Unable to replicate the partition {replication} time(s): The target replication factor of {replication} cannot be reached because only {brokers} broker(s) are registered."
        ),
        other => other.name().to_string(),
    }
}

impl Broker {
    /// The checks of a new topic (`ReplicationControlManager.createTopics`), in Kafka's order:
    /// a legal name (`Topic.validate`), not an existing topic (internal ones included), no
    /// `.`/`_` collision with one, then the partition count.
    fn check_new_topic(&self, name: &str, partitions: i32) -> Result<(), ErrorCode> {
        topic::validate_name(name)?;
        if self.topics.contains_key(name) || topic::is_internal(name) {
            return Err(ErrorCode::TopicAlreadyExists);
        }
        if self.topics.keys().any(|t| topic::collides(name, t)) {
            return Err(ErrorCode::InvalidTopicException);
        }
        if !(1..=MAX_PARTITIONS_PER_TOPIC).contains(&partitions) {
            return Err(ErrorCode::InvalidPartitions);
        }
        Ok(())
    }

    /// Creates topic `name` with `partitions` empty partitions: the one place a topic and its
    /// partition leaders come into being (the configured topics at start, CreateTopics, and
    /// Metadata's auto-creation); each partition's leader comes from the storage
    /// ([`Storage::create_partition`](crate::storage::Storage::create_partition): in memory, or
    /// a log in the data directory). Errors as `check_new_topic`:
    /// `INVALID_TOPIC_EXCEPTION`, `TOPIC_ALREADY_EXISTS`, `INVALID_PARTITIONS`; a storage
    /// failure is `KAFKA_STORAGE_ERROR` (nothing is created). Returns the new topic's id.
    pub fn create_topic(&mut self, name: &str, partitions: i32) -> Result<Uuid, ErrorCode> {
        self.check_new_topic(name, partitions)?;
        let mut leaders = Vec::new();
        for p in 0..partitions {
            let tp = TopicPartition::new(name.to_string(), p);
            match self.storage.create_partition(&tp, self.partition_config) {
                Ok(leader) => leaders.push((tp, leader)),
                Err(e) => {
                    tracing::error!(partition = %tp, error = %e, "cannot create the partition");
                    for (tp, _) in &leaders {
                        if let Err(e) = self.storage.delete_partition(tp) {
                            tracing::error!(partition = %tp, error = %e, "cannot remove the partition");
                        }
                    }
                    return Err(ErrorCode::KafkaStorageError);
                }
            }
        }
        Ok(self.register_topic(name, leaders))
    }

    /// Enters topic `name` with its partitions' leaders (new, or recovered from the data
    /// directory at start) in this node's topic table, with a new topic id.
    pub(super) fn register_topic(
        &mut self,
        name: &str,
        leaders: Vec<(TopicPartition, PartitionLeader<Bytes>)>,
    ) -> Uuid {
        self.next_topic_id += 1;
        // Deterministic ids ("kafkaeos", n): never Kafka's reserved zero or metadata-topic id.
        let id = Uuid::from_u64_pair(0x6b61_666b_6165_6f73, self.next_topic_id);
        self.topics.insert(
            name.to_string(),
            i32::try_from(leaders.len()).unwrap_or(i32::MAX),
        );
        self.topic_meta.insert(
            name.to_string(),
            TopicMeta {
                id,
                configs: BTreeMap::new(),
            },
        );
        self.partitions.extend(leaders);
        id
    }

    /// Deletes topic `name` and every partition of it (records, producer state, transactions
    /// bookkeeping). An unknown topic is `UNKNOWN_TOPIC_OR_PARTITION`; an internal one is
    /// `INVALID_TOPIC_EXCEPTION` (this node keeps its group offsets there). Returns its id.
    ///
    /// The transaction coordinator is told the partitions are gone
    /// ([`TransactionCoordinator::handle_partitions_deleted`](kafka_eos::coordinator::TransactionCoordinator::handle_partitions_deleted)):
    /// a transaction whose markers are in flight drops those partitions and completes once none
    /// is left; its outputs are carried out at `now`.
    pub fn delete_topic(&mut self, name: &str, now: TimestampMs) -> Result<Uuid, ErrorCode> {
        if topic::is_internal(name) {
            return Err(ErrorCode::InvalidTopicException);
        }
        self.topics
            .remove(name)
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        let meta = self.topic_meta.remove(name);
        let doomed: Vec<TopicPartition> = self
            .partitions
            .keys()
            .filter(|tp| &*tp.topic == name)
            .cloned()
            .collect();
        for tp in &doomed {
            self.partitions.remove(tp);
            // Kafka renames the directory and deletes it later; here it goes at once, so that
            // a topic created again under the name starts empty.
            if let Err(e) = self.storage.delete_partition(tp) {
                tracing::error!(partition = %tp, error = %e, "cannot delete the partition's log");
            }
        }
        let outputs = self
            .coordinator
            .handle_partitions_deleted(&doomed.into_iter().collect());
        self.apply_coordinator_outputs(outputs, now);
        Ok(meta.map_or(Uuid::nil(), |m| m.id))
    }

    /// The id of topic `name` (nil for an unknown one).
    pub(super) fn topic_id(&self, name: &str) -> Uuid {
        self.topic_meta.get(name).map_or(Uuid::nil(), |m| m.id)
    }

    /// Metadata for a topic this node does not have (`KafkaApis.getTopicMetadata`): with
    /// auto-creation allowed by both the request (`allow_auto_topic_creation`, always at v0-3)
    /// and the broker (`auto.create.topics.enable`), a legal name is created with
    /// `num.partitions` partitions and answered `LEADER_NOT_AVAILABLE` this once
    /// (`AutoTopicCreationManager`; a creation that fails answers the same, as Kafka's
    /// asynchronous one does); otherwise `UNKNOWN_TOPIC_OR_PARTITION`. An illegal name is
    /// `INVALID_TOPIC_EXCEPTION` either way. The internal topics are never created here.
    pub(super) fn metadata_for_missing_topic(&mut self, name: &str, allow: bool) -> i16 {
        if topic::validate_name(name).is_err() {
            return ErrorCode::InvalidTopicException.code();
        }
        if !allow || !self.config.auto_create_topics || topic::is_internal(name) {
            return ErrorCode::UnknownTopicOrPartition.code();
        }
        if let Err(e) = self.create_topic(name, self.config.default_partitions) {
            tracing::warn!("auto-creation of topic {name:?} failed: {e}");
        } else {
            tracing::info!(
                topic = name,
                partitions = self.config.default_partitions,
                "topic auto-created"
            );
        }
        ErrorCode::LeaderNotAvailable.code()
    }

    /// The configs of topic `name` as CreateTopics v5+ returns them.
    fn created_topic_configs(&self, name: &str) -> Vec<CreatableTopicConfigs> {
        self.topic_config_entries(name, false)
            .into_iter()
            .map(|e| {
                CreatableTopicConfigs::default()
                    .with_name(e.name)
                    .with_value(e.value)
                    .with_config_source(e.config_source)
            })
            .collect()
    }

    /// CreateTopics (`ControllerApis.createTopics` → `ReplicationControlManager.createTopics`):
    /// a name twice in one request is `INVALID_REQUEST`; then per topic the checks of
    /// [`check_new_topic`](Self::check_new_topic) (`num_partitions` -1 = `num.partitions`), a
    /// manual assignment combined with a partition count or replication factor is
    /// `INVALID_REQUEST`, an assignment to another node or with gaps is
    /// `INVALID_REPLICA_ASSIGNMENT`, a replication factor other than 1 or -1 (up to
    /// [`Broker::set_max_replication_factor`] when set) is `INVALID_REPLICATION_FACTOR` (one
    /// node), an unknown or null config is `INVALID_CONFIG`.
    /// `validate_only` checks without creating.
    pub(super) fn create_topics(
        &mut self,
        r: &CreateTopicsRequest,
        version: i16,
    ) -> CreateTopicsResponse {
        let mut seen = BTreeMap::new();
        for t in &r.topics {
            *seen.entry(name_of(&t.name.0)).or_insert(0) += 1;
        }
        let results = r
            .topics
            .iter()
            .map(|t| {
                let name = name_of(&t.name.0);
                let result = CreatableTopicResult::default()
                    .with_name(t.name.clone())
                    .with_num_partitions(-1)
                    .with_replication_factor(-1);
                if seen.get(&name).copied().unwrap_or(0) > 1 {
                    return result
                        .with_error_code(ErrorCode::InvalidRequest.code())
                        .with_error_message(Some(s(format!(
                            "Create topics request contains multiple entries for the topic {name}"
                        ))));
                }
                match self.create_one_topic(t, r.validate_only) {
                    Ok((partitions, id)) => {
                        let configs = if r.validate_only {
                            Vec::new()
                        } else {
                            self.created_topic_configs(&name)
                        };
                        let result = result
                            .with_num_partitions(partitions)
                            .with_replication_factor(1)
                            .with_configs(Some(configs));
                        if version >= 7 {
                            result.with_topic_id(id)
                        } else {
                            result
                        }
                    }
                    Err((code, message)) => result
                        .with_error_code(code.code())
                        .with_error_message(Some(s(message))),
                }
            })
            .collect();
        CreateTopicsResponse::default().with_topics(results)
    }

    /// One topic of a CreateTopics: its partition count and id (nil when only validated).
    fn create_one_topic(
        &mut self,
        t: &create_topics_request::CreatableTopic,
        validate_only: bool,
    ) -> Result<(i32, Uuid), (ErrorCode, String)> {
        let name = name_of(&t.name.0);
        let brokers = self.max_replication_factor;
        let fail = |code: ErrorCode| {
            (
                code,
                error_message(&name, code, t.num_partitions, t.replication_factor, brokers),
            )
        };
        // The name checks come first (a legal count stands in for the partition count).
        self.check_new_topic(&name, 1).map_err(fail)?;
        // Then the configs (`ReplicationControlManager.computeConfigChanges`), then the counts.
        let mut configs = BTreeMap::new();
        for c in &t.configs {
            let key = name_of(&c.name);
            match (&c.value, topic_config(&key)) {
                (Some(v), Some(_)) => {
                    configs.insert(key, v.as_str().to_string());
                }
                (None, _) => {
                    return Err((
                        ErrorCode::InvalidConfig,
                        format!("Null value not supported for topic configs: {key}"),
                    ))
                }
                (Some(_), None) => {
                    return Err((
                        ErrorCode::InvalidConfig,
                        format!("Unknown topic config name: {key}"),
                    ))
                }
            }
        }
        let partitions = if t.assignments.is_empty() {
            topic::partition_count(t.num_partitions, self.config.default_partitions)
                .map_err(fail)?
        } else {
            if t.num_partitions != -1 || t.replication_factor != -1 {
                return Err((
                    ErrorCode::InvalidRequest,
                    "A manual partition assignment requires num_partitions and replication_factor -1"
                        .into(),
                ));
            }
            let node = self.config.node_id;
            let indexes: BTreeSet<i32> = t.assignments.iter().map(|a| a.partition_index).collect();
            let consecutive = indexes.len() == t.assignments.len()
                && indexes.iter().copied().eq(0..t.assignments.len() as i32);
            let on_this_node = t
                .assignments
                .iter()
                .all(|a| a.broker_ids.len() == 1 && a.broker_ids[0].0 == node);
            if !consecutive || !on_this_node {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    format!("Every partition must be assigned to node {node} alone, indexes 0..n"),
                ));
            }
            t.assignments.len() as i32
        };
        self.check_new_topic(&name, partitions).map_err(fail)?;
        if t.assignments.is_empty() {
            topic::replication_factor(t.replication_factor, 1, self.max_replication_factor)
                .map_err(fail)?;
        }
        if validate_only {
            return Ok((partitions, Uuid::nil()));
        }
        let id = self.create_topic(&name, partitions).map_err(fail)?;
        if let Some(meta) = self.topic_meta.get_mut(&name) {
            meta.configs = configs;
        }
        tracing::info!(topic = %name, partitions, "topic created");
        Ok((partitions, id))
    }

    /// DeleteTopics (`ControllerApis.deleteTopics`): by name (v0-5 `topic_names`, v6 `topics`)
    /// or by id (v6); a name or id twice, or an entry with both or neither, is
    /// `INVALID_REQUEST`; an unknown name is `UNKNOWN_TOPIC_OR_PARTITION`, an unknown id
    /// `UNKNOWN_TOPIC_ID`; the rest as [`delete_topic`](Self::delete_topic).
    pub(super) fn delete_topics(
        &mut self,
        r: &DeleteTopicsRequest,
        version: i16,
        now: TimestampMs,
    ) -> DeleteTopicsResponse {
        let requested: Vec<(Option<String>, Uuid)> = if version >= 6 {
            r.topics
                .iter()
                .map(|t| (t.name.as_ref().map(|n| name_of(&n.0)), t.topic_id))
                .collect()
        } else {
            r.topic_names
                .iter()
                .map(|n| (Some(name_of(&n.0)), Uuid::nil()))
                .collect()
        };
        let mut names = BTreeMap::new();
        let mut ids = BTreeMap::new();
        for (name, id) in &requested {
            if let Some(n) = name {
                *names.entry(n.clone()).or_insert(0) += 1;
            }
            if !id.is_nil() {
                *ids.entry(*id).or_insert(0) += 1;
            }
        }
        let responses = requested
            .into_iter()
            .map(|(name, id)| {
                let result = DeletableTopicResult::default()
                    .with_name(name.clone().map(|n| TopicName(s(n))));
                let outcome = match (&name, id.is_nil()) {
                    (Some(_), false) => Err((
                        ErrorCode::InvalidRequest,
                        "You may not specify both a topic name and a topic id.",
                    )),
                    (None, true) => Err((
                        ErrorCode::InvalidRequest,
                        "Neither topic name nor id were specified.",
                    )),
                    (Some(n), true) if names.get(n).copied().unwrap_or(0) > 1 => {
                        Err((ErrorCode::InvalidRequest, "Duplicate topic name."))
                    }
                    (None, false) if ids.get(&id).copied().unwrap_or(0) > 1 => {
                        Err((ErrorCode::InvalidRequest, "Duplicate topic id."))
                    }
                    (Some(n), true) => self
                        .delete_topic(n, now)
                        .map(|id| (n.clone(), id))
                        .map_err(|e| (e, "")),
                    (None, false) => match self
                        .topic_meta
                        .iter()
                        .find(|(_, m)| m.id == id)
                        .map(|(n, _)| n.clone())
                    {
                        None => Err((ErrorCode::UnknownTopicId, "")),
                        Some(n) => self
                            .delete_topic(&n, now)
                            .map(|id| (n, id))
                            .map_err(|e| (e, "")),
                    },
                };
                match outcome {
                    Ok((n, deleted)) => {
                        tracing::info!(topic = %n, "topic deleted");
                        let result = result.with_name(Some(TopicName(s(n))));
                        if version >= 6 {
                            result.with_topic_id(deleted)
                        } else {
                            result
                        }
                    }
                    Err((code, message)) => {
                        let result = result.with_error_code(code.code());
                        let result = if version >= 6 {
                            result.with_topic_id(id)
                        } else {
                            result
                        };
                        if version >= 5 && !message.is_empty() {
                            result.with_error_message(Some(s(message)))
                        } else {
                            result
                        }
                    }
                }
            })
            .collect();
        DeleteTopicsResponse::default().with_responses(responses)
    }

    /// DeleteRecords (`ReplicaManager.deleteRecordsOnLocalLog`): an internal topic is
    /// `INVALID_TOPIC_EXCEPTION`, an unknown partition `UNKNOWN_TOPIC_OR_PARTITION`, a topic
    /// whose `cleanup.policy` lacks `delete` `POLICY_VIOLATION`; otherwise the leader's
    /// [`PartitionLeader::delete_records`] (`OFFSET_OUT_OF_RANGE` beyond the high watermark),
    /// answered with the low watermark (the log start offset: one replica, nothing to wait
    /// for). A failed partition's low watermark is -1.
    pub(super) fn delete_records(&mut self, r: &DeleteRecordsRequest) -> DeleteRecordsResponse {
        let topics = r
            .topics
            .iter()
            .map(|t| {
                let name = name_of(&t.name.0);
                let policy = self
                    .topic_meta
                    .get(&name)
                    .and_then(|m| m.configs.get("cleanup.policy").cloned());
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let tp = TopicPartition::new(name.clone(), p.partition_index);
                        let outcome = if topic::is_internal(&name) {
                            Err(ErrorCode::InvalidTopicException)
                        } else if let Some(leader) = self.partitions.get_mut(&tp) {
                            if self.storage.is_offline(&tp) {
                                Err(ErrorCode::KafkaStorageError)
                            } else if policy
                                .as_deref()
                                .is_some_and(|p| !cleanup_policy_allows_delete(p))
                            {
                                Err(ErrorCode::PolicyViolation)
                            } else {
                                leader
                                    .delete_records(p.offset)
                                    .map_err(|e| e.code())
                                    .and_then(|lw| {
                                        self.storage
                                            .checkpoint_log_start_offset(&tp, lw)
                                            .map(|()| lw)
                                    })
                            }
                        } else {
                            Err(ErrorCode::UnknownTopicOrPartition)
                        };
                        let result = DeleteRecordsPartitionResult::default()
                            .with_partition_index(p.partition_index);
                        match outcome {
                            Ok(low_watermark) => result.with_low_watermark(low_watermark),
                            Err(e) => result.with_low_watermark(-1).with_error_code(e.code()),
                        }
                    })
                    .collect();
                DeleteRecordsTopicResult::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        DeleteRecordsResponse::default().with_topics(topics)
    }

    /// Topic `name`'s configs: Kafka's defaults ([`TOPIC_CONFIGS`]) with this topic's
    /// overrides, synonyms when asked (`ConfigHelper.createTopicConfigEntry`: the override,
    /// then the broker config it defaults to).
    fn topic_config_entries(
        &self,
        name: &str,
        include_synonyms: bool,
    ) -> Vec<DescribeConfigsResourceResult> {
        let overrides = self.topic_meta.get(name).map(|m| &m.configs);
        TOPIC_CONFIGS
            .iter()
            .map(|c| {
                let value = overrides.and_then(|o| o.get(c.name));
                let source = if value.is_some() {
                    SOURCE_TOPIC
                } else {
                    SOURCE_DEFAULT
                };
                let mut synonyms = Vec::new();
                if include_synonyms {
                    if let Some(v) = value {
                        synonyms.push(
                            DescribeConfigsSynonym::default()
                                .with_name(s(c.name))
                                .with_value(Some(s(v.clone())))
                                .with_source(SOURCE_TOPIC),
                        );
                    }
                    synonyms.push(
                        DescribeConfigsSynonym::default()
                            .with_name(s(c.broker))
                            .with_value(Some(s(c.default)))
                            .with_source(SOURCE_DEFAULT),
                    );
                }
                DescribeConfigsResourceResult::default()
                    .with_name(s(c.name))
                    .with_value(Some(s(value.map_or(c.default, String::as_str))))
                    .with_config_source(source)
                    .with_config_type(c.kind)
                    .with_synonyms(synonyms)
            })
            .collect()
    }

    /// This node's broker configs: the ones it applies (from its command line and its roles'
    /// configurations), with the source `DEFAULT_CONFIG` where they equal Kafka's default.
    fn broker_config_entries(&self, include_synonyms: bool) -> Vec<DescribeConfigsResourceResult> {
        let coordinator = self.coordinator.config();
        let membership = &self.config.membership;
        let entries: Vec<(&str, String, i8, &str, bool)> = vec![
            (
                "auto.create.topics.enable",
                self.config.auto_create_topics.to_string(),
                TYPE_BOOLEAN,
                "true",
                false,
            ),
            (
                "default.replication.factor",
                "1".into(),
                TYPE_INT,
                "1",
                false,
            ),
            (
                "delete.topic.enable",
                "true".into(),
                TYPE_BOOLEAN,
                "true",
                false,
            ),
            (
                "group.max.session.timeout.ms",
                membership.max_session_timeout_ms.to_string(),
                TYPE_INT,
                "1800000",
                false,
            ),
            (
                "group.min.session.timeout.ms",
                membership.min_session_timeout_ms.to_string(),
                TYPE_INT,
                "6000",
                false,
            ),
            (
                "message.max.bytes",
                "1048588".into(),
                TYPE_INT,
                "1048588",
                false,
            ),
            ("min.insync.replicas", "1".into(), TYPE_INT, "1", false),
            (
                "node.id",
                self.config.node_id.to_string(),
                TYPE_INT,
                "",
                true,
            ),
            (
                "num.partitions",
                self.config.default_partitions.to_string(),
                TYPE_INT,
                "1",
                false,
            ),
            (
                "producer.id.expiration.ms",
                self.partition_config.producer_id_expiration_ms.to_string(),
                TYPE_INT,
                "86400000",
                false,
            ),
            (
                "transaction.max.timeout.ms",
                coordinator.transaction_max_timeout_ms.to_string(),
                TYPE_INT,
                "900000",
                false,
            ),
            (
                "transaction.partition.verification.enable",
                self.partition_config.transaction_verification.to_string(),
                TYPE_BOOLEAN,
                "true",
                false,
            ),
            (
                "transactional.id.expiration.ms",
                coordinator.transactional_id_expiration_ms.to_string(),
                TYPE_INT,
                "604800000",
                false,
            ),
        ];
        entries
            .into_iter()
            .map(|(name, value, kind, default, read_only)| {
                let source = if value == default {
                    SOURCE_DEFAULT
                } else {
                    SOURCE_STATIC_BROKER
                };
                let synonyms = if include_synonyms {
                    vec![DescribeConfigsSynonym::default()
                        .with_name(s(name))
                        .with_value(Some(s(value.clone())))
                        .with_source(source)]
                } else {
                    Vec::new()
                };
                DescribeConfigsResourceResult::default()
                    .with_name(s(name))
                    .with_value(Some(s(value)))
                    .with_read_only(read_only)
                    .with_config_source(source)
                    .with_config_type(kind)
                    .with_synonyms(synonyms)
            })
            .collect()
    }

    /// DescribeConfigs (`ConfigHelper.describeConfigs`): a TOPIC resource with an illegal name
    /// is `INVALID_TOPIC_EXCEPTION`, an unknown one `UNKNOWN_TOPIC_OR_PARTITION`; a BROKER
    /// resource named `""` answers the (empty) dynamic defaults, one named this node's id its
    /// configs, another id `INVALID_REQUEST`; other resource types are `INVALID_REQUEST`. A
    /// null or empty key list means every config; otherwise only the keys named (unknown keys
    /// are left out). Types (v3+) and synonyms (when asked) are filled; documentation is null.
    pub(super) fn describe_configs(&self, r: &DescribeConfigsRequest) -> DescribeConfigsResponse {
        let results = r
            .resources
            .iter()
            .map(|res| {
                let name = res.resource_name.as_str().to_string();
                let outcome: Result<Vec<DescribeConfigsResourceResult>, (ErrorCode, String)> =
                    match res.resource_type {
                        RESOURCE_TOPIC => match topic::validate_name(&name) {
                            Err(e) => Err((e, format!("Topic name '{name}' is illegal"))),
                            Ok(()) if self.topics.contains_key(&name) => {
                                Ok(self.topic_config_entries(&name, r.include_synonyms))
                            }
                            Ok(()) => Err((ErrorCode::UnknownTopicOrPartition, String::new())),
                        },
                        RESOURCE_BROKER if name.is_empty() => Ok(Vec::new()),
                        RESOURCE_BROKER if name == self.config.node_id.to_string() => {
                            Ok(self.broker_config_entries(r.include_synonyms))
                        }
                        RESOURCE_BROKER => Err((
                            ErrorCode::InvalidRequest,
                            format!(
                                "Unexpected broker id, expected {} or empty string, but received {name}",
                                self.config.node_id
                            ),
                        )),
                        other => Err((
                            ErrorCode::InvalidRequest,
                            format!("Unsupported resource type: {other}"),
                        )),
                    };
                let result = DescribeConfigsResult::default()
                    .with_resource_type(res.resource_type)
                    .with_resource_name(res.resource_name.clone());
                match outcome {
                    Ok(configs) => {
                        let keys = res.configuration_keys.as_ref().filter(|k| !k.is_empty());
                        let configs = configs
                            .into_iter()
                            .filter(|c| keys.is_none_or(|k| k.contains(&c.name)))
                            .collect();
                        result.with_configs(configs)
                    }
                    Err((code, message)) => result
                        .with_error_code(code.code())
                        .with_error_message((!message.is_empty()).then(|| s(message))),
                }
            })
            .collect();
        DescribeConfigsResponse::default().with_results(results)
    }

    /// DescribeProducers (`ReplicaManager.activeProducerState` → `UnifiedLog.activeProducers`):
    /// per partition every producer entry the leader holds, with its epoch, last sequence (-1
    /// without a retained batch), last timestamp, coordinator epoch and open transaction's
    /// first offset (-1 for none); an unknown partition is `UNKNOWN_TOPIC_OR_PARTITION`.
    pub(super) fn describe_producers(
        &self,
        r: &DescribeProducersRequest,
    ) -> DescribeProducersResponse {
        let topics = r
            .topics
            .iter()
            .map(|t| {
                let name = name_of(&t.name.0);
                let partitions = t
                    .partition_indexes
                    .iter()
                    .map(|&p| {
                        let response = PartitionResponse::default().with_partition_index(p);
                        let tp = TopicPartition::new(name.clone(), p);
                        let Some(leader) =
                            self.partitions.get(&tp).filter(|_| name != OFFSETS_TOPIC)
                        else {
                            return response
                                .with_error_code(ErrorCode::UnknownTopicOrPartition.code());
                        };
                        response.with_active_producers(
                            leader
                                .producers()
                                .values()
                                .map(|e| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(e.producer_id))
                                        .with_producer_epoch(i32::from(e.producer_epoch))
                                        .with_last_sequence(e.last_sequence())
                                        .with_last_timestamp(e.last_timestamp)
                                        .with_coordinator_epoch(e.coordinator_epoch)
                                        .with_current_txn_start_offset(
                                            e.current_txn_first_offset.unwrap_or(-1),
                                        )
                                })
                                .collect(),
                        )
                    })
                    .collect();
                TopicResponse::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        DescribeProducersResponse::default().with_topics(topics)
    }

    /// ListTransactions: the coordinator's
    /// [`list_transactions`](kafka_eos::coordinator::TransactionCoordinator::list_transactions)
    /// with the request's filters (the duration filter from v1).
    pub(super) fn list_transactions(
        &self,
        r: &ListTransactionsRequest,
        version: i16,
        now: TimestampMs,
    ) -> ListTransactionsResponse {
        let filter = ListTransactionsFilter {
            states: r.state_filters.iter().map(name_of).collect(),
            producer_ids: r.producer_id_filters.iter().map(|p| p.0).collect(),
            duration_ms: if version >= 1 { r.duration_filter } else { -1 },
        };
        let listed = self.coordinator.list_transactions(&filter, now);
        ListTransactionsResponse::default()
            .with_unknown_state_filters(listed.unknown_state_filters.into_iter().map(s).collect())
            .with_transaction_states(
                listed
                    .transactions
                    .into_iter()
                    .map(|t| {
                        ListedTransaction::default()
                            .with_transactional_id(TransactionalId(s(t.transactional_id)))
                            .with_producer_id(ProducerId(t.producer_id))
                            .with_transaction_state(s(t.state.name()))
                    })
                    .collect(),
            )
    }

    /// DescribeTransactions: the coordinator's
    /// [`describe_transaction`](kafka_eos::coordinator::TransactionCoordinator::describe_transaction)
    /// per transactional id.
    pub(super) fn describe_transactions(
        &self,
        r: &DescribeTransactionsRequest,
    ) -> DescribeTransactionsResponse {
        let states = r
            .transactional_ids
            .iter()
            .map(|id| {
                let state = DescribedTransaction::default().with_transactional_id(id.clone());
                match self.coordinator.describe_transaction(id.0.as_str()) {
                    Err(e) => state.with_error_code(e.code()),
                    Ok(d) => state
                        .with_producer_id(ProducerId(d.producer_id))
                        .with_producer_epoch(d.producer_epoch)
                        .with_transaction_state(s(d.state.name()))
                        .with_transaction_timeout_ms(d.timeout_ms)
                        .with_transaction_start_time_ms(d.start_time_ms)
                        .with_topics(
                            d.partitions
                                .into_iter()
                                .map(|(topic, ps)| {
                                    TopicData::default()
                                        .with_topic(TopicName(s(topic)))
                                        .with_partitions(ps.into_iter().collect())
                                })
                                .collect(),
                        ),
                }
            })
            .collect();
        DescribeTransactionsResponse::default().with_transaction_states(states)
    }
}

impl Broker {
    /// Lets CreateTopics accept a replication factor up to `limit` (at least 1), as a cluster of
    /// `limit` brokers would (`topic::replication_factor` counts `limit` brokers), for clients'
    /// test suites written for such a cluster (librdkafka's own tests ask for 3 replicas). The
    /// topic still has one replica, this node: CreateTopics answers replication factor 1, and
    /// Metadata lists this node alone.
    pub fn set_max_replication_factor(&mut self, limit: i16) {
        self.max_replication_factor = limit.max(1);
    }
}
