//! The broker state and the per-API translation: decode → core input → core output → encode.
//!
//! [`Broker`] owns one [`PartitionLeader`] per partition (payload: the raw v2 batch bytes) and one
//! [`TransactionCoordinator`]. Every protocol decision (sequence, epoch, duplicate, transaction
//! state, fencing, KIP-890 verification and its error translation, version rules, LSO, aborted
//! list, ListOffsets) is the core's: this module maps wire fields to the core's requests
//! (`kafka_eos::messages`, carrying the wire request version), routes the core's steps between
//! the roles in process (a produce's [`ProduceStep::Verify`] to the coordinator and back, a
//! coordinator's marker to its partition leader and the answer back), and maps the results to
//! wire fields. What is left here is Kafka's request plumbing from `KafkaApis`: unknown topics
//! and partitions, the `acks` check, and the wire checks of a record batch.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::{Bytes, BytesMut};
use kafka_eos::coordinator::{
    CoordinatorConfig, CoordinatorError, CoordinatorOutput, TransactionCoordinator,
};
use kafka_eos::error::ErrorCode;
use kafka_eos::group::membership::{GroupMembership, MembershipConfig, RequestToken};
use kafka_eos::group::GroupCoordinator;
use kafka_eos::messages::{
    AddOffsetsToTxnRequest as CoreAddOffsets, AddPartitionsToTxnRequest as CoreAddPartitions,
    EndTxnRequest as CoreEndTxn, InitProducerIdRequest as CoreInitProducerId, OffsetSpec,
    ProduceRequest as CoreProduce, WriteTxnMarker, CONSUMER_OFFSETS_TOPIC,
};
use kafka_eos::partition::{
    produce_response, AppendOutcome, IsolationLevel, PartitionConfig, PartitionLeader,
    ProduceResult, ProduceStep,
};
use kafka_eos::types::{TimestampMs, TopicPartition, TransactionResult, TransactionVersion};
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

mod admin;
mod groups;
mod recovery;

pub use admin::MAX_PARTITIONS_PER_TOPIC;

use crate::batch;
use crate::trace::{self, Effects, ProduceNext, Recorder, Step};
use crate::versions::ADVERTISED;

/// `OFFSET_OUT_OF_RANGE` (1), a fetch error the core reports as an API-misuse value.
const OFFSET_OUT_OF_RANGE: i16 = 1;
/// `INVALID_REQUIRED_ACKS` (21).
const INVALID_REQUIRED_ACKS: i16 = 21;
/// `COORDINATOR_NOT_AVAILABLE` (15): the answer for a FindCoordinator key type we do not serve.
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
/// The internal topic of consumer-group offsets; AddOffsetsToTxn adds the group's partition of
/// it to the transaction (the core picks it, `GroupMetadataManager.partitionFor`). Its
/// partitions exist (markers are written to them) but clients can neither produce to nor fetch
/// from them, and Metadata does not list the topic.
pub const OFFSETS_TOPIC: &str = CONSUMER_OFFSETS_TOPIC;
/// The cluster's finalized `transaction.version` feature level (configuration, not a decision):
/// 1, so that coordinator-initiated aborts (fencing, timeouts) stay in the TV1 form the clients
/// this broker advertises to speak. Client requests carry their own version.
const SERVER_TRANSACTION_VERSION: TransactionVersion = TransactionVersion::Tv1;
/// The first producer id the coordinator hands out unless configured otherwise.
pub const DEFAULT_FIRST_PRODUCER_ID: i64 = 1000;

/// Command-line settings of the broker.
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// This node's id.
    pub node_id: i32,
    /// Host returned in Metadata and FindCoordinator.
    pub advertised_host: String,
    /// Port returned in Metadata and FindCoordinator (the proxy's port under a fault proxy).
    pub advertised_port: i32,
    /// Topics and their partition counts, created at start.
    pub topics: Vec<(String, i32)>,
    /// `auto.create.topics.enable` (Kafka's default: true): a Metadata request that allows it
    /// creates the unknown topics it names, with [`default_partitions`](Self::default_partitions).
    pub auto_create_topics: bool,
    /// `num.partitions` (Kafka's default: 1): the partition count of an auto-created topic and of
    /// a CreateTopics with `num_partitions` -1.
    pub default_partitions: i32,
    /// TEST ONLY: the core's known-bug switch M-I1 (`PartitionBugs::no_sequence_check`), which
    /// disables duplicate detection and the sequence check. Never use it outside tests.
    pub unsafe_disable_dedup: bool,
    /// TEST ONLY: the core's known-bug switch M-R1 (`PartitionBugs::no_aborted_filter`): a
    /// read_committed fetch gets no aborted-transaction list, so clients return aborted
    /// records (an aborted read, S11). Never use it outside tests.
    pub unsafe_read_committed_shows_aborted: bool,
    /// The first producer id the coordinator hands out ([`DEFAULT_FIRST_PRODUCER_ID`]; the
    /// trace-equivalence test uses the model's).
    pub first_producer_id: i64,
    /// `group.min.session.timeout.ms` / `group.max.session.timeout.ms` of the group membership.
    pub membership: MembershipConfig,
    /// Where the broker persists what it acknowledges ([`crate::storage`]); the default keeps
    /// everything in memory.
    pub storage: crate::storage::StorageConfig,
}

/// Counters the tests read (through `--stats-file`) to prove that faults were exercised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests handled (every API but Fetch, which is long-polled outside this count).
    pub requests: u64,
    /// Data batches the core appended.
    pub batches_appended: u64,
    /// Produce batches the core recognised as exact retries (answered with the original offset).
    pub duplicates_suppressed: u64,
    /// Produce batches the core or the wire checks rejected, by error code.
    pub produce_errors: BTreeMap<i16, u64>,
    /// Transaction markers written to partitions.
    pub markers_written: u64,
    /// Records appended to the transaction log (`__transaction_state`).
    pub txn_log_records: u64,
    /// Transactions aborted by the coordinator's timeout.
    pub transactions_timed_out: u64,
    /// `CoordinatorError`s (API misuse the core refused, e.g. an unexpected WriteTxnMarkers
    /// error) and group-role errors; each is also logged to stderr.
    pub coordinator_errors: u64,
    /// Batches the group coordinators appended to `__consumer_offsets` (commits, markers,
    /// GroupMetadata records).
    pub offsets_log_batches: u64,
    /// Join phases completed with members (a group entering CompletingRebalance).
    pub rebalances: u64,
    /// The exactly-once counters `/metrics` shows (also under `"eos"` in the JSON).
    pub eos: crate::metrics::EosCounters,
}

impl Stats {
    /// The counters as one JSON object.
    pub fn to_json(&self) -> String {
        let errors: Vec<String> = self
            .produce_errors
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!(
            "{{\"requests\":{},\"batches_appended\":{},\"duplicates_suppressed\":{},\"produce_errors\":{{{}}},\"markers_written\":{},\"txn_log_records\":{},\"transactions_timed_out\":{},\"coordinator_errors\":{},\"offsets_log_batches\":{},\"rebalances\":{},\"eos\":{}}}",
            self.requests,
            self.batches_appended,
            self.duplicates_suppressed,
            errors.join(","),
            self.markers_written,
            self.txn_log_records,
            self.transactions_timed_out,
            self.coordinator_errors,
            self.offsets_log_batches,
            self.rebalances,
            self.eos.to_json()
        )
    }
}

/// What the connection must do with a request.
#[derive(Debug)]
pub enum Reply {
    /// Send this encoded response body (header added by the caller).
    Body(BytesMut),
    /// Send nothing (Produce with `acks = 0`).
    Nothing,
    /// Close the connection (undecodable request), as Kafka does.
    Close(String),
    /// The answer waits for other members (JoinGroup, SyncGroup): poll
    /// [`Broker::take_ready`] with this token.
    Wait(RequestToken),
}

/// One node: every partition's leader and the transaction coordinator, behind the server's lock.
#[derive(Debug)]
pub struct Broker {
    config: BrokerConfig,
    partitions: BTreeMap<TopicPartition, PartitionLeader<Bytes>>,
    topics: BTreeMap<String, i32>,
    /// Each topic's id and config overrides ([`admin`]).
    topic_meta: BTreeMap<String, admin::TopicMeta>,
    /// The last topic id handed out.
    next_topic_id: u64,
    /// The largest replication factor CreateTopics accepts
    /// ([`Broker::set_max_replication_factor`]; 1, this node, unless set).
    max_replication_factor: i16,
    /// The configuration of every partition leader this node creates.
    partition_config: PartitionConfig,
    coordinator: TransactionCoordinator,
    deferred_markers: Vec<WriteTxnMarker>,
    /// The group coordinator of each `__consumer_offsets` partition in use.
    groups: BTreeMap<i32, GroupCoordinator>,
    /// Classic group membership (every group of this node).
    membership: GroupMembership,
    next_member: u64,
    next_token: RequestToken,
    waiting: BTreeMap<RequestToken, groups::Waiting>,
    ready: BTreeMap<RequestToken, Reply>,
    stats: Stats,
    trace: Option<Recorder>,
    /// The coordinators' durable state (`None`: in memory); see [`crate::storage`].
    store: Option<crate::storage::coordinator_store::CoordinatorStore>,
    /// TEST ONLY: the crash point ([`Broker::set_unsafe_crash_after_appends`]).
    crash_after_appends: Option<u64>,
    /// The partition logs on disk (or in memory), written before an append is answered.
    storage: crate::storage::Storage,
    /// The data directory's lock, held until [`Broker::close_storage`] (`None`: in memory).
    data_dir_lock: Option<crate::storage::DataDirLock>,
}

fn ok_or_code<T>(r: &Result<T, ErrorCode>) -> i16 {
    match r {
        Ok(_) => 0,
        Err(e) => e.code(),
    }
}

/// The wire `IsolationLevel` field (1: READ_COMMITTED, else READ_UNCOMMITTED).
fn isolation_level(wire: i8) -> IsolationLevel {
    if wire == 1 {
        IsolationLevel::ReadCommitted
    } else {
        IsolationLevel::ReadUncommitted
    }
}

fn name_of(s: &StrBytes) -> String {
    s.as_str().to_string()
}

impl Broker {
    /// A broker with the configured topics, the `__consumer_offsets` partitions the coordinator
    /// may add (`offsets.topic.num.partitions`), empty logs and a coordinator at epoch 0 with
    /// Kafka's defaults but `transaction.version` 1 (`SERVER_TRANSACTION_VERSION`).
    pub fn new(config: BrokerConfig) -> Result<Self, String> {
        let mut partition_config = PartitionConfig::default();
        partition_config.bugs.no_sequence_check = config.unsafe_disable_dedup;
        partition_config.bugs.no_aborted_filter = config.unsafe_read_committed_shows_aborted;
        let coordinator_config = CoordinatorConfig {
            transaction_version: SERVER_TRANSACTION_VERSION,
            ..CoordinatorConfig::default()
        };
        // First of all: no other broker may be using the data directory.
        let data_dir_lock = match &config.storage.data_dir {
            Some(dir) => Some(crate::storage::DataDirLock::acquire(dir)?),
            None => None,
        };
        let recovered_coordinators = crate::storage::coordinator_store::CoordinatorStore::open(
            &config.storage,
            config.first_producer_id,
        )
        .map_err(|e| format!("recovering the coordinators: {e}"))?;
        let first_producer_id = recovered_coordinators
            .as_ref()
            .map_or(config.first_producer_id, |r| r.first_producer_id);
        let coordinator = TransactionCoordinator::new(coordinator_config, first_producer_id, 0)
            .map_err(|e| e.to_string())?;
        if !(1..=MAX_PARTITIONS_PER_TOPIC).contains(&config.default_partitions) {
            return Err(format!(
                "the default partition count must be 1..={MAX_PARTITIONS_PER_TOPIC}"
            ));
        }
        // Every partition on disk is recovered (its topic registered as it was); the configured
        // topics not on disk are then created through `create_topic`, the one place topics and
        // their partitions come into being.
        let (storage, recovered, mut partitions) =
            crate::storage::Storage::open(&config.storage, &[], partition_config)?;
        let membership = GroupMembership::new(config.membership);
        let topics = config.topics.clone();
        let mut broker = Broker {
            config,
            partitions: BTreeMap::new(),
            topics: BTreeMap::new(),
            topic_meta: BTreeMap::new(),
            next_topic_id: 0,
            max_replication_factor: 1,
            partition_config,
            coordinator,
            deferred_markers: Vec::new(),
            groups: BTreeMap::new(),
            membership,
            next_member: 0,
            next_token: 0,
            waiting: BTreeMap::new(),
            ready: BTreeMap::new(),
            stats: Stats::default(),
            trace: None,
            storage,
            store: None,
            crash_after_appends: None,
            data_dir_lock,
        };
        for (topic, count) in recovered {
            let ids = (0..count).map(|p| TopicPartition::new(topic.clone(), p));
            let leaders: Vec<_> = ids.filter_map(|tp| partitions.remove_entry(&tp)).collect();
            broker.register_topic(&topic, leaders);
        }
        for (topic, count) in &topics {
            match broker.topics.get(topic) {
                Some(on_disk) if on_disk != count => {
                    return Err(format!(
                        "topic {topic} has {on_disk} partitions in the data directory, --topic asks for {count}"
                    ))
                }
                Some(_) => {}
                None => {
                    broker
                        .create_topic(topic, *count)
                        .map_err(|e| format!("topic {topic:?}: {e}"))?;
                }
            }
        }
        // After the partitions: the markers of a recovered Prepare* go to recovered logs.
        if let Some(recovered) = recovered_coordinators {
            broker.recover(recovered, crate::server::now_ms())?;
        }
        Ok(broker)
    }

    /// Turns the core-boundary trace ([`crate::trace`]) on (empty) or off. It records every core
    /// step from now on, and decides nothing.
    pub fn record_trace(&mut self, on: bool) {
        self.trace = on.then(Recorder::default);
    }

    /// The core steps recorded since the trace was turned on or last taken.
    pub fn take_trace(&mut self) -> Vec<trace::Step> {
        self.trace.as_mut().map(Recorder::take).unwrap_or_default()
    }

    /// TEST ONLY: a crash point. The process ends at once (exit status 137, as after a
    /// `kill -9`) once `n` appends are durable (data batches and transaction-log records
    /// together), right after the `n`-th and before what depends on it: a Produce's answer (the
    /// client retries a batch the log already holds), a coordinator answer, or a Prepare*'s
    /// markers (the restarted coordinator must resume them). The crash tests use it
    /// (`--unsafe-crash-after-appends`); never set it otherwise.
    pub fn set_unsafe_crash_after_appends(&mut self, n: Option<u64>) {
        self.crash_after_appends = n;
    }

    /// The crash point of [`set_unsafe_crash_after_appends`](Self::set_unsafe_crash_after_appends).
    fn crash_point(&self) {
        let appends = self.stats.batches_appended + self.stats.txn_log_records;
        if self.crash_after_appends.is_some_and(|n| appends >= n) {
            tracing::warn!("--unsafe-crash-after-appends: exiting after append {appends}");
            std::process::exit(137);
        }
    }

    /// The transaction coordinator (its configuration and state, for tests).
    pub fn coordinator(&self) -> &TransactionCoordinator {
        &self.coordinator
    }

    /// Records a step when the trace is on.
    fn trace_step(&mut self, step: impl FnOnce() -> Step) {
        if let Some(t) = self.trace.as_mut() {
            t.push(step());
        }
    }

    /// Records a leader's step on a Produce request (`None` when the trace is off).
    fn trace_produce(
        &mut self,
        request: Option<kafka_eos::messages::ProduceRequest<()>>,
        step: impl FnOnce(kafka_eos::messages::ProduceRequest<()>) -> Step,
    ) {
        if let (Some(t), Some(request)) = (self.trace.as_mut(), request) {
            t.push(step(request));
        }
    }

    /// Records a coordinator step with the effects of its outputs when the trace is on.
    fn trace_coordinator(
        &mut self,
        outputs: &[CoordinatorOutput],
        step: impl FnOnce(Effects) -> Step,
    ) {
        if let Some(t) = self.trace.as_mut() {
            let effects = t.effects(outputs);
            t.push(step(effects));
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// A request the server handles itself (Fetch, an ApiVersions above the served range) was
    /// received: counted by API.
    pub fn count_request(&mut self, api: ApiKey) {
        self.stats.eos.request(api);
    }

    /// Every client partition's leader, in order.
    pub fn partitions(&self) -> impl Iterator<Item = (&TopicPartition, &PartitionLeader<Bytes>)> {
        self.partitions.iter()
    }

    /// A clean shutdown of the storage: every partition log flushed and its producer state
    /// snapshotted (`LogManager.shutdown`), so that the next start replays nothing.
    /// The data directory's lock is released last.
    pub fn close_storage(&mut self) {
        self.storage.close(&self.partitions);
        self.data_dir_lock = None;
    }

    /// The partition leader of `tp`, if it exists.
    pub fn partition(&self, tp: &TopicPartition) -> Option<&PartitionLeader<Bytes>> {
        self.partitions.get(tp)
    }

    /// Handles one decoded-header request (not Fetch, which the server long-polls through
    /// [`Broker::fetch`]). `body` is the request body after the header.
    pub fn handle(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &mut Bytes,
        now: TimestampMs,
    ) -> Reply {
        self.handle_from(api, version, "", body, now)
    }

    /// [`Broker::handle`] for a client that named itself `client_id` in the request header (the
    /// prefix of a new group member's id).
    pub fn handle_from(
        &mut self,
        api: ApiKey,
        version: i16,
        client_id: &str,
        body: &mut Bytes,
        now: TimestampMs,
    ) -> Reply {
        self.stats.requests = self.stats.requests.saturating_add(1);
        self.stats.eos.request(api);
        let result: anyhow::Result<Reply> = match api {
            ApiKey::JoinGroup => decode::<JoinGroupRequest>(body, version)
                .and_then(|r| self.join_group(&r, version, client_id, now)),
            ApiKey::SyncGroup => decode::<SyncGroupRequest>(body, version)
                .and_then(|r| self.sync_group(&r, version, now)),
            ApiKey::Produce => match decode::<ProduceRequest>(body, version) {
                Ok(r) => {
                    let resp = self.produce(&r, version, now);
                    if r.acks == 0 {
                        Ok(Reply::Nothing)
                    } else {
                        encode(&resp, version).map(Reply::Body)
                    }
                }
                Err(e) => Err(e),
            },
            _ => self.handle_body(api, version, body, now).map(Reply::Body),
        };
        match result {
            Ok(r) => r,
            Err(e) => Reply::Close(format!("{api:?} v{version}: {e}")),
        }
    }

    fn handle_body(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &mut Bytes,
        now: TimestampMs,
    ) -> anyhow::Result<BytesMut> {
        match api {
            ApiKey::ApiVersions => decode::<ApiVersionsRequest>(body, version)
                .and_then(|_| encode(&api_versions_response(0), version)),
            ApiKey::CreateTopics => decode::<CreateTopicsRequest>(body, version)
                .and_then(|r| encode(&self.create_topics(&r, version), version)),
            ApiKey::DeleteTopics => decode::<DeleteTopicsRequest>(body, version)
                .and_then(|r| encode(&self.delete_topics(&r, version, now), version)),
            ApiKey::DeleteRecords => decode::<DeleteRecordsRequest>(body, version)
                .and_then(|r| encode(&self.delete_records(&r), version)),
            ApiKey::DescribeConfigs => decode::<DescribeConfigsRequest>(body, version)
                .and_then(|r| encode(&self.describe_configs(&r), version)),
            ApiKey::DescribeProducers => decode::<DescribeProducersRequest>(body, version)
                .and_then(|r| encode(&self.describe_producers(&r), version)),
            ApiKey::ListTransactions => decode::<ListTransactionsRequest>(body, version)
                .and_then(|r| encode(&self.list_transactions(&r, version, now), version)),
            ApiKey::DescribeTransactions => decode::<DescribeTransactionsRequest>(body, version)
                .and_then(|r| encode(&self.describe_transactions(&r), version)),
            ApiKey::Metadata => decode::<MetadataRequest>(body, version)
                .and_then(|r| encode(&self.metadata(&r, version), version)),
            ApiKey::FindCoordinator => decode::<FindCoordinatorRequest>(body, version)
                .and_then(|r| encode(&self.find_coordinator(&r, version), version)),
            ApiKey::ListOffsets => decode::<ListOffsetsRequest>(body, version)
                .and_then(|r| encode(&self.list_offsets(&r, version), version)),
            ApiKey::InitProducerId => decode::<InitProducerIdRequest>(body, version)
                .and_then(|r| encode(&self.init_producer_id(&r, version, now), version)),
            ApiKey::AddPartitionsToTxn => decode::<AddPartitionsToTxnRequest>(body, version)
                .and_then(|r| encode(&self.add_partitions_to_txn(&r, version, now), version)),
            ApiKey::AddOffsetsToTxn => decode::<AddOffsetsToTxnRequest>(body, version)
                .and_then(|r| encode(&self.add_offsets_to_txn(&r, version, now), version)),
            ApiKey::TxnOffsetCommit => decode::<TxnOffsetCommitRequest>(body, version)
                .and_then(|r| encode(&self.txn_offset_commit(&r, version, now), version)),
            ApiKey::EndTxn => decode::<EndTxnRequest>(body, version)
                .and_then(|r| encode(&self.end_txn(&r, version, now), version)),
            ApiKey::Heartbeat => decode::<HeartbeatRequest>(body, version)
                .and_then(|r| encode(&self.heartbeat(&r, now), version)),
            ApiKey::LeaveGroup => decode::<LeaveGroupRequest>(body, version)
                .and_then(|r| encode(&self.leave_group(&r, version, now), version)),
            ApiKey::OffsetCommit => decode::<OffsetCommitRequest>(body, version)
                .and_then(|r| encode(&self.offset_commit(&r, version, now), version)),
            ApiKey::OffsetFetch => decode::<OffsetFetchRequest>(body, version)
                .and_then(|r| encode(&self.offset_fetch(&r, version), version)),
            ApiKey::ListGroups => decode::<ListGroupsRequest>(body, version)
                .and_then(|_| encode(&self.list_groups(), version)),
            ApiKey::DescribeGroups => decode::<DescribeGroupsRequest>(body, version)
                .and_then(|r| encode(&self.describe_groups(&r), version)),
            // This node enforces no client quotas: the answer lists none.
            ApiKey::DescribeClientQuotas => decode::<DescribeClientQuotasRequest>(body, version)
                .and_then(|_| {
                    encode(
                        &DescribeClientQuotasResponse::default().with_entries(Some(Vec::new())),
                        version,
                    )
                }),
            other => Err(anyhow::anyhow!("API {other:?} is not served")),
        }
    }

    fn metadata(&mut self, r: &MetadataRequest, version: i16) -> MetadataResponse {
        let node = BrokerId(self.config.node_id);
        // Metadata v0-3 always allows auto-creation (the field is v4+, default true).
        let allow_auto_create = version < 4 || r.allow_auto_topic_creation;
        let topic_entry = |name: &str, count: Result<i32, i16>, id: uuid::Uuid| {
            let mut t = MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))));
            if version >= 10 {
                t = t.with_topic_id(id);
            }
            match count {
                Ok(n) => {
                    t = t.with_partitions(
                        (0..n)
                            .map(|p| {
                                MetadataResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_leader_id(node)
                                    .with_leader_epoch(0)
                                    .with_replica_nodes(vec![node])
                                    .with_isr_nodes(vec![node])
                            })
                            .collect(),
                    )
                }
                Err(code) => t = t.with_error_code(code),
            }
            t
        };
        // `topics = None` (or, at v0 only, an empty list) means every topic (MetadataRequest v1+:
        // an empty list is no topic).
        let topics: Vec<MetadataResponseTopic> = match &r.topics {
            Some(list) if !(version == 0 && list.is_empty()) => list
                .iter()
                .map(|t| {
                    let name = t.name.as_ref().map(|n| name_of(&n.0)).unwrap_or_default();
                    let count = match self.topics.get(&name) {
                        Some(&n) => Ok(n),
                        None => Err(self.metadata_for_missing_topic(&name, allow_auto_create)),
                    };
                    topic_entry(&name, count, self.topic_id(&name))
                })
                .collect(),
            _ => self
                .topics
                .iter()
                .map(|(name, n)| topic_entry(name, Ok(*n), self.topic_id(name)))
                .collect(),
        };
        MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(node)
                .with_host(StrBytes::from_string(self.config.advertised_host.clone()))
                .with_port(self.config.advertised_port)])
            .with_cluster_id(Some(StrBytes::from_static_str("kafka-eos")))
            .with_controller_id(node)
            .with_topics(topics)
    }

    fn find_coordinator(
        &self,
        r: &FindCoordinatorRequest,
        version: i16,
    ) -> FindCoordinatorResponse {
        let host = StrBytes::from_string(self.config.advertised_host.clone());
        let node = BrokerId(self.config.node_id);
        let error = if r.key_type == 0 || r.key_type == 1 {
            0
        } else {
            COORDINATOR_NOT_AVAILABLE
        };
        if version >= 4 {
            let coordinators = r
                .coordinator_keys
                .iter()
                .map(|k| {
                    Coordinator::default()
                        .with_key(k.clone())
                        .with_node_id(node)
                        .with_host(host.clone())
                        .with_port(self.config.advertised_port)
                        .with_error_code(error)
                })
                .collect();
            return FindCoordinatorResponse::default().with_coordinators(coordinators);
        }
        FindCoordinatorResponse::default()
            .with_error_code(error)
            .with_node_id(node)
            .with_host(host)
            .with_port(self.config.advertised_port)
    }

    fn list_offsets(&self, r: &ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
        let isolation = isolation_level(r.isolation_level);
        let topics = r
            .topics
            .iter()
            .map(|t| {
                let topic = name_of(&t.name.0);
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let resp = ListOffsetsPartitionResponse::default()
                            .with_partition_index(p.partition_index)
                            .with_timestamp(-1);
                        let tp = TopicPartition::new(topic.clone(), p.partition_index);
                        let Some(leader) = self.partitions.get(&tp) else {
                            return resp
                                .with_error_code(ErrorCode::UnknownTopicOrPartition.code())
                                .with_offset(-1);
                        };
                        let spec = OffsetSpec::from_timestamp(p.timestamp);
                        let offset = leader.list_offsets(spec, isolation);
                        // The leader epoch is on the wire from v4 (KIP-320).
                        resp.with_offset(offset).with_leader_epoch(if version >= 4 {
                            0
                        } else {
                            -1
                        })
                    })
                    .collect();
                ListOffsetsTopicResponse::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        ListOffsetsResponse::default().with_topics(topics)
    }

    fn produce(&mut self, r: &ProduceRequest, version: i16, now: TimestampMs) -> ProduceResponse {
        let valid_acks = matches!(r.acks, -1..=1);
        let transactional_id = r.transactional_id.as_ref().map(|t| name_of(&t.0));
        let mut responses = Vec::new();
        for t in &r.topic_data {
            let topic = name_of(&t.name.0);
            let mut partition_responses = Vec::new();
            for p in &t.partition_data {
                let resp = PartitionProduceResponse::default()
                    .with_index(p.index)
                    .with_log_append_time_ms(-1);
                let outcome = if valid_acks {
                    let tp = TopicPartition::new(topic.clone(), p.index);
                    self.produce_partition(
                        &tp,
                        p.records.as_ref(),
                        transactional_id.as_deref(),
                        version,
                        now,
                    )
                } else {
                    Err(INVALID_REQUIRED_ACKS)
                };
                let resp = match outcome {
                    Ok(o) => resp.with_base_offset(o.base_offset()),
                    Err(code) => {
                        *self.stats.produce_errors.entry(code).or_insert(0) += 1;
                        resp.with_error_code(code).with_base_offset(-1)
                    }
                };
                partition_responses.push(resp);
            }
            responses.push(
                TopicProduceResponse::default()
                    .with_name(t.name.clone())
                    .with_partition_responses(partition_responses),
            );
        }
        self.crash_point();
        ProduceResponse::default().with_responses(responses)
    }

    /// One partition of a Produce (`ReplicaManager.appendRecords`): the wire checks (unknown
    /// partition, the batch's form), then the leader's Produce step. A
    /// [`ProduceStep::Verify`] is the KIP-890 round trip: its AddPartitionsToTxn goes to the
    /// (in-process) coordinator, whose outputs are carried out, and its answer goes back to
    /// the leader, which appends or translates the error for the Produce version.
    fn produce_partition(
        &mut self,
        tp: &TopicPartition,
        records: Option<&Bytes>,
        transactional_id: Option<&str>,
        version: i16,
        now: TimestampMs,
    ) -> Result<AppendOutcome, i16> {
        if &*tp.topic == OFFSETS_TOPIC || !self.partitions.contains_key(tp) {
            return Err(ErrorCode::UnknownTopicOrPartition.code());
        }
        if self.storage.is_offline(tp) {
            return Err(ErrorCode::KafkaStorageError.code());
        }
        let records = records.ok_or(ErrorCode::InvalidRecord.code())?;
        let batch = batch::parse_produce_batch(records).map_err(ErrorCode::code)?;
        let resets_sequence = self
            .partitions
            .get(tp)
            .and_then(|l| l.producer(batch.producer_id))
            .is_some_and(|e| e.resets_sequence_at(batch.producer_epoch));
        let request = CoreProduce {
            transactional_id: transactional_id.map(str::to_string),
            partition: tp.clone(),
            producer_id: batch.producer_id,
            producer_epoch: batch.producer_epoch,
            base_sequence: batch.base_sequence,
            record_count: batch.record_count,
            is_transactional: batch.is_transactional,
            max_timestamp: Some(batch.max_timestamp),
            // Stored as the client sent it: the fetch path writes the base offset the leader
            // assigned (`LogBatch::base_offset`) into the bytes it serves.
            payload: batch.payload,
            version,
        };
        let traced = self
            .trace
            .is_some()
            .then(|| trace::produce_request(&request));
        let step = self
            .leader_mut(tp)
            .map_err(ErrorCode::code)?
            .handle_produce(request, now);
        let result: ProduceResult = match step {
            ProduceStep::Answered(result) => {
                self.trace_produce(traced, |request| Step::Produce {
                    request,
                    next: ProduceNext::Answered(produce_response(&result)),
                });
                result
            }
            ProduceStep::Verify { request, pending } => {
                self.trace_produce(traced.clone(), |traced| Step::Produce {
                    request: traced,
                    next: ProduceNext::Verify(request.clone()),
                });
                let (answer, outputs) =
                    self.coordinator.handle_add_partitions_to_txn(&request, now);
                self.trace_coordinator(&outputs, |effects| Step::AddPartitionsToTxn {
                    request,
                    answer,
                    effects,
                });
                self.apply_coordinator_outputs(outputs, now);
                let result = self
                    .leader_mut(tp)
                    .map_err(ErrorCode::code)?
                    .handle_verification_response(pending, answer, now);
                self.trace_produce(traced, |request| Step::VerificationResponse {
                    request,
                    answer,
                    result: produce_response(&result),
                });
                result
            }
        };
        // Written (and flushed, by policy) before the answer.
        if let Some(leader) = self.partitions.get(tp) {
            self.storage.persist(tp, leader).map_err(ErrorCode::code)?;
        }
        let outcome = result.map_err(ErrorCode::code)?;
        match outcome {
            AppendOutcome::Appended { .. } => {
                self.stats.batches_appended += 1;
                self.stats.eos.sequence_resets_epoch += u64::from(resets_sequence);
            }
            AppendOutcome::Duplicate { .. } => self.stats.duplicates_suppressed += 1,
        }
        Ok(outcome)
    }

    fn leader_mut(
        &mut self,
        tp: &TopicPartition,
    ) -> Result<&mut PartitionLeader<Bytes>, ErrorCode> {
        self.partitions
            .get_mut(tp)
            .ok_or(ErrorCode::UnknownTopicOrPartition)
    }

    fn init_producer_id(
        &mut self,
        r: &InitProducerIdRequest,
        version: i16,
        now: TimestampMs,
    ) -> InitProducerIdResponse {
        let request = CoreInitProducerId {
            transactional_id: r.transactional_id.as_ref().map(|t| name_of(&t.0)),
            transaction_timeout_ms: r.transaction_timeout_ms,
            producer_id: r.producer_id.0,
            producer_epoch: r.producer_epoch,
            version,
        };
        let (result, outputs) = self.coordinator.handle_init_producer_id(&request, now);
        self.trace_coordinator(&outputs, |effects| Step::InitProducerId {
            request,
            answer: result,
            effects,
        });
        self.apply_coordinator_outputs(outputs, now);
        self.stats
            .eos
            .answered(ApiKey::InitProducerId, ok_or_code(&result));
        match result {
            Ok(p) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(p.producer_id))
                .with_producer_epoch(p.producer_epoch),
            Err(e) => InitProducerIdResponse::default()
                .with_error_code(e.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        }
    }

    fn add_partitions_to_txn(
        &mut self,
        r: &AddPartitionsToTxnRequest,
        version: i16,
        now: TimestampMs,
    ) -> AddPartitionsToTxnResponse {
        // KafkaApis.handleAddPartitionsToTxnRequest: unknown partitions answer
        // UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED; otherwise the
        // coordinator's one answer applies to every partition.
        let mut requested: Vec<(TopicName, Vec<i32>)> = Vec::new();
        let mut partitions = BTreeSet::new();
        let mut unknown = BTreeSet::new();
        for t in &r.v3_and_below_topics {
            let topic = name_of(&t.name.0);
            for &p in &t.partitions {
                let tp = TopicPartition::new(topic.clone(), p);
                if !self.partitions.contains_key(&tp) || topic == OFFSETS_TOPIC {
                    unknown.insert(tp.clone());
                }
                partitions.insert(tp);
            }
            requested.push((t.name.clone(), t.partitions.clone()));
        }
        let error_for: Box<dyn Fn(&TopicPartition) -> i16> = if unknown.is_empty() {
            let request = CoreAddPartitions {
                transactional_id: name_of(&r.v3_and_below_transactional_id.0),
                producer_id: r.v3_and_below_producer_id.0,
                producer_epoch: r.v3_and_below_producer_epoch,
                partitions,
                // A client's request (v0-3; the broker-to-coordinator v4+ is not served).
                verify_only: false,
                version,
            };
            let (result, outputs) = self.coordinator.handle_add_partitions_to_txn(&request, now);
            self.trace_coordinator(&outputs, |effects| Step::AddPartitionsToTxn {
                request,
                answer: result,
                effects,
            });
            self.apply_coordinator_outputs(outputs, now);
            let code = ok_or_code(&result);
            self.stats.eos.answered(ApiKey::AddPartitionsToTxn, code);
            Box::new(move |_| code)
        } else {
            Box::new(move |tp| {
                if unknown.contains(tp) {
                    ErrorCode::UnknownTopicOrPartition.code()
                } else {
                    ErrorCode::OperationNotAttempted.code()
                }
            })
        };
        let results = requested
            .into_iter()
            .map(|(name, ps)| {
                let topic = name_of(&name.0);
                AddPartitionsToTxnTopicResult::default()
                    .with_name(name)
                    .with_results_by_partition(
                        ps.into_iter()
                            .map(|p| {
                                AddPartitionsToTxnPartitionResult::default()
                                    .with_partition_index(p)
                                    .with_partition_error_code(error_for(&TopicPartition::new(
                                        topic.clone(),
                                        p,
                                    )))
                            })
                            .collect(),
                    )
            })
            .collect();
        AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
    }

    fn add_offsets_to_txn(
        &mut self,
        r: &AddOffsetsToTxnRequest,
        version: i16,
        now: TimestampMs,
    ) -> AddOffsetsToTxnResponse {
        // KafkaApis.handleAddOffsetsToTxnRequest: the coordinator adds the group's offsets
        // partition (its choice; every one of them exists here) to the transaction.
        let request = CoreAddOffsets {
            transactional_id: name_of(&r.transactional_id.0),
            producer_id: r.producer_id.0,
            producer_epoch: r.producer_epoch,
            group_id: name_of(&r.group_id.0),
            version,
        };
        let (result, outputs) = self.coordinator.handle_add_offsets_to_txn(&request, now);
        self.trace_coordinator(&outputs, |effects| Step::AddOffsetsToTxn {
            request,
            answer: result,
            effects,
        });
        self.apply_coordinator_outputs(outputs, now);
        self.stats
            .eos
            .answered(ApiKey::AddOffsetsToTxn, ok_or_code(&result));
        AddOffsetsToTxnResponse::default().with_error_code(ok_or_code(&result))
    }

    fn end_txn(&mut self, r: &EndTxnRequest, version: i16, now: TimestampMs) -> EndTxnResponse {
        let request = CoreEndTxn {
            transactional_id: name_of(&r.transactional_id.0),
            producer_id: r.producer_id.0,
            producer_epoch: r.producer_epoch,
            result: if r.committed {
                TransactionResult::Commit
            } else {
                TransactionResult::Abort
            },
            version,
        };
        let (result, outputs) = self.coordinator.handle_end_txn(&request, now);
        self.trace_coordinator(&outputs, |effects| Step::EndTxn {
            request,
            answer: result,
            effects,
        });
        self.apply_coordinator_outputs(outputs, now);
        self.stats.eos.answered(ApiKey::EndTxn, ok_or_code(&result));
        let response = EndTxnResponse::default().with_error_code(ok_or_code(&result));
        match result {
            // EndTxn v5+ (TV2): the id and epoch the client must adopt.
            Ok(Some(p)) => response
                .with_producer_id(ProducerId(p.producer_id))
                .with_producer_epoch(p.producer_epoch),
            _ => response,
        }
    }

    /// The periodic work of a broker (a real clock drives it): the coordinator's timeouts
    /// (transaction timeouts and transactional-id expiry, [`TransactionCoordinator::handle_timeout`])
    /// and every leader's ([`PartitionLeader::handle_timeout`]: producer-state expiry), then the
    /// re-sending of markers the coordinator asked to retry.
    pub fn tick(&mut self, now: TimestampMs) {
        let timeout = self.coordinator.handle_timeout(now);
        self.stats.transactions_timed_out += timeout.aborted.len() as u64;
        if !(timeout.aborted.is_empty() && timeout.expired.is_empty() && timeout.outputs.is_empty())
        {
            self.trace_coordinator(&timeout.outputs, |effects| Step::CoordinatorTimeout {
                aborted: timeout.aborted.clone(),
                expired: timeout.expired.clone(),
                effects,
            });
        }
        self.apply_coordinator_outputs(timeout.outputs, now);
        for (tp, leader) in &mut self.partitions {
            let expired = leader.handle_timeout(now);
            if let (Some(t), false) = (self.trace.as_mut(), expired.is_empty()) {
                t.push(Step::LeaderTimeout {
                    partition: tp.clone(),
                    expired,
                });
            }
        }
        self.group_tick(now);
        self.storage.tick(now);
        if let Some(store) = self.store.as_mut() {
            store.tick(now);
        }
        let retry: Vec<CoordinatorOutput> = std::mem::take(&mut self.deferred_markers)
            .into_iter()
            .map(CoordinatorOutput::WriteTxnMarker)
            .collect();
        self.apply_coordinator_outputs(retry, now);
    }

    /// Carries out the coordinator's outputs in process: a transaction-log record is counted
    /// (the log is in memory: appends always succeed, as the core assumes); a marker is
    /// delivered to its partition leader ([`PartitionLeader::handle_write_txn_marker`]) and the
    /// answer fed back with [`TransactionCoordinator::handle_write_txn_markers_response`]; a
    /// marker for a partition this node does not have (its topic was deleted) has no leader and
    /// is reported with [`TransactionCoordinator::handle_partitions_deleted`], which drops it. Markers the
    /// coordinator re-sends after an error wait for the next tick (the marker channel's retry
    /// backoff); the rest are carried out at once.
    fn apply_coordinator_outputs(&mut self, outputs: Vec<CoordinatorOutput>, now: TimestampMs) {
        if let Some(store) = self.store.as_mut() {
            // A new producer-id block is durable before any of its ids is answered.
            store.persist_producer_id_block(
                self.coordinator.producer_id_manager().current_block().1,
            );
        }
        let mut work: VecDeque<CoordinatorOutput> = outputs.into();
        while let Some(output) = work.pop_front() {
            match output {
                CoordinatorOutput::AppendTransactionLog {
                    transactional_id,
                    value,
                } => {
                    // Durable before what it guards: the answer (built after this returns),
                    // the markers of a Prepare* (queued behind it).
                    if let Some(store) = self.store.as_mut() {
                        store.append_transaction(&transactional_id, value.as_ref());
                    }
                    self.stats.txn_log_records += 1;
                    self.stats
                        .eos
                        .transaction_log(&transactional_id, value.as_ref());
                    self.crash_point();
                }
                CoordinatorOutput::WriteTxnMarker(m)
                    if &*m.partition.topic != OFFSETS_TOPIC
                        && !self.partitions.contains_key(&m.partition) =>
                {
                    // No leader for the partition (its topic was deleted): the coordinator drops
                    // its marker (`addTxnMarkersToBrokerQueue`).
                    let gone = BTreeSet::from([m.partition]);
                    work.extend(self.coordinator.handle_partitions_deleted(&gone));
                }
                CoordinatorOutput::WriteTxnMarker(m) => {
                    let response = match self.partitions.get_mut(&m.partition) {
                        None if &*m.partition.topic == OFFSETS_TOPIC => {
                            let response = self.offsets_marker(&m, now);
                            self.trace_step(|| Step::WriteTxnMarker {
                                marker: m.clone(),
                                answer: response.clone(),
                            });
                            response
                        }
                        None => m.response(Some(ErrorCode::UnknownTopicOrPartition)),
                        Some(leader) => {
                            let mut response = leader.handle_write_txn_marker(&m, now);
                            // The marker is written before the coordinator hears of it.
                            if let Err(e) = self.storage.persist(&m.partition, leader) {
                                response = m.response(Some(e));
                            }
                            self.trace_step(|| Step::WriteTxnMarker {
                                marker: m.clone(),
                                answer: response.clone(),
                            });
                            response
                        }
                    };
                    let failed = response.error.is_some();
                    if !failed {
                        self.stats.markers_written += 1;
                    }
                    let answered = self
                        .coordinator
                        .handle_write_txn_markers_response(&response);
                    if let Some(t) = self.trace.as_mut() {
                        let effects = match &answered {
                            Ok(more) => Ok(t.effects(more)),
                            Err(e) => Err(e.to_string()),
                        };
                        t.push(Step::WriteTxnMarkersResponse {
                            response: response.clone(),
                            effects,
                        });
                    }
                    match answered {
                        Ok(more) => {
                            for o in more {
                                match o {
                                    CoordinatorOutput::WriteTxnMarker(retry) if failed => {
                                        self.deferred_markers.push(retry)
                                    }
                                    other => work.push_back(other),
                                }
                            }
                        }
                        Err(e) => self.coordinator_error(
                            &format!(
                                "WriteTxnMarkers answer {:?} for {} of {:?} (producer {} epoch {})",
                                response.error,
                                m.partition,
                                m.transactional_id,
                                m.producer_id,
                                m.producer_epoch
                            ),
                            &e,
                        ),
                    }
                }
            }
        }
    }

    /// A [`CoordinatorError`] (the core refused its input as API misuse): logged with its
    /// context and counted ([`Stats::coordinator_errors`]); the broker keeps serving.
    fn coordinator_error(&mut self, context: &str, error: &CoordinatorError) {
        self.stats.coordinator_errors += 1;
        tracing::warn!("coordinator error: {context}: {error}");
    }

    /// Fetch (`ReplicaManager.fetchMessages`, one pass): per partition the core's `fetch` at the
    /// request's isolation level; the returned batches (data as stored, control batches encoded
    /// from the marker) are concatenated up to `partition_max_bytes` and the request's
    /// `max_bytes`, always at least one batch (KIP-74). Returns the response and its record bytes.
    pub fn fetch(&self, r: &FetchRequest) -> (FetchResponse, usize) {
        let isolation = isolation_level(r.isolation_level);
        let max_total = usize::try_from(r.max_bytes).unwrap_or(0).max(1);
        let mut total = 0usize;
        let mut responses = Vec::new();
        for t in &r.topics {
            let topic = name_of(&t.topic.0);
            let mut partitions = Vec::new();
            for p in &t.partitions {
                let data = PartitionData::default().with_partition_index(p.partition);
                let tp = TopicPartition::new(topic.clone(), p.partition);
                let Some(leader) = self.partitions.get(&tp).filter(|_| topic != OFFSETS_TOPIC)
                else {
                    partitions.push(
                        data.with_error_code(ErrorCode::UnknownTopicOrPartition.code())
                            .with_high_watermark(-1)
                            .with_last_stable_offset(-1),
                    );
                    continue;
                };
                if self.storage.is_offline(&tp) {
                    partitions.push(data.with_error_code(ErrorCode::KafkaStorageError.code()));
                    continue;
                }
                let fetched = match leader.fetch(p.fetch_offset, isolation) {
                    Ok(f) => f,
                    Err(_) => {
                        partitions.push(
                            data.with_error_code(OFFSET_OUT_OF_RANGE)
                                .with_high_watermark(leader.high_watermark())
                                .with_last_stable_offset(leader.last_stable_offset()),
                        );
                        continue;
                    }
                };
                let limit = usize::try_from(p.partition_max_bytes).unwrap_or(0).max(1);
                let mut records = BytesMut::new();
                for b in &fetched.batches {
                    // The log holds the client's bytes; the served batch carries the base
                    // offset the leader assigned (outside the CRC), a marker its control batch.
                    let raw = batch::stored_form(b);
                    let first = records.is_empty() && total == 0;
                    if !first
                        && (records.len() + raw.len() > limit || total + raw.len() > max_total)
                    {
                        break;
                    }
                    total += raw.len();
                    records.extend_from_slice(&raw);
                }
                let aborted = fetched.aborted_transactions.map(|list| {
                    list.into_iter()
                        .map(|a| {
                            kafka_protocol::messages::fetch_response::AbortedTransaction::default()
                                .with_producer_id(ProducerId(a.producer_id))
                                .with_first_offset(a.first_offset)
                        })
                        .collect()
                });
                partitions.push(
                    data.with_high_watermark(fetched.high_watermark)
                        .with_last_stable_offset(fetched.last_stable_offset)
                        .with_log_start_offset(leader.log_start_offset())
                        .with_aborted_transactions(aborted)
                        .with_records(Some(records.freeze())),
                );
            }
            responses.push(
                FetchableTopicResponse::default()
                    .with_topic(t.topic.clone())
                    .with_partitions(partitions),
            );
        }
        (FetchResponse::default().with_responses(responses), total)
    }
}

/// The ApiVersions response: the advertised table ([`ADVERTISED`]) with `error_code`.
pub fn api_versions_response(error_code: i16) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(
            ADVERTISED
                .iter()
                .map(|&(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(k as i16)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
        )
}

/// Decodes a request body at `version`.
pub fn decode<T: Decodable>(body: &mut Bytes, version: i16) -> anyhow::Result<T> {
    T::decode(body, version)
}

/// Encodes a response body at `version`.
pub fn encode<T: Encodable>(body: &T, version: i16) -> anyhow::Result<BytesMut> {
    let mut buf = BytesMut::new();
    body.encode(&mut buf, version)?;
    Ok(buf)
}
