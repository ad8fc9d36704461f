//! A scenario: the [`Scenario`] configuration the model is built from (the producers'
//! scripts, the network, the perturbation budgets and bounds, the known bugs switched on), the
//! protocol versions, and the mapping of a scenario onto the core's leader, coordinator and
//! client configurations. The named scenarios are in [`super::scenarios`], the known-bug
//! catalogue in [`super::bugs`].

use std::fmt;
use std::str::FromStr;

use kafka_eos::consumer::{ConsumerBugs, ConsumerConfig};
use kafka_eos::coordinator::{CoordinatorBugs, CoordinatorConfig};
use kafka_eos::group::{GroupBugs, GroupCoordinatorConfig};
use kafka_eos::messages::offsets_partition_for;
use kafka_eos::partition::{PartitionBugs, PartitionConfig};
use kafka_eos::producer::{ProducerBugs, ProducerConfig};
use kafka_eos::types::{TransactionVersion, EXHAUSTED_EPOCH};

use super::bugs::KnownBug;

/// The protocol generation every role runs: Kafka's `transaction.version` feature
/// (`org.apache.kafka.server.common.TransactionVersion`), with or without KIP-890 part 1
/// verification at the leaders (`UnifiedLog.maybeStartTransactionVerification`). It decides
/// how the coordinator ends a transaction (`TransactionCoordinator.endTransactionWithTV1`
/// before TV2, `endTransaction` with an epoch bump per transaction under TV2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TV0/TV1 without KIP-890 verification: the old protocol (Kafka before 3.6).
    Tv0,
    /// TV1 with KIP-890 part 1: the leader verifies the first transactional write with the
    /// coordinator (AddPartitionsToTxn `verifyOnly = true`).
    Tv1Verify,
    /// KIP-890 part 2 (TV2): epoch bump per transaction, implicit add on produce.
    Tv2,
}

impl Protocol {
    /// Every protocol, oldest first.
    pub const ALL: [Protocol; 3] = [Protocol::Tv0, Protocol::Tv1Verify, Protocol::Tv2];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tv0 => "tv0",
            Protocol::Tv1Verify => "tv1-verify",
            Protocol::Tv2 => "tv2",
        }
    }

    /// The `transaction.version` clients and the coordinator use.
    pub fn transaction_version(self) -> TransactionVersion {
        match self {
            Protocol::Tv0 => TransactionVersion::Tv0,
            Protocol::Tv1Verify => TransactionVersion::Tv1,
            Protocol::Tv2 => TransactionVersion::Tv2,
        }
    }

    /// `transaction.partition.verification.enable` on the partition leaders.
    pub fn verification(self) -> bool {
        !matches!(self, Protocol::Tv0)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown protocol {s:?} (tv0, tv1-verify, tv2)"))
    }
}

/// Network semantics between actors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NetworkKind {
    /// Kafka's network, the default: TCP connections. Each client (producer; leader for
    /// KIP-890 verification; coordinator for WriteTxnMarkers) has one connection per server at
    /// a time; requests and responses on it are delivered in order, and the server processes
    /// its requests one at a time. A request timeout closes the connection (Kafka's
    /// `NetworkClient` disconnect): every request in flight on it fails at the client at once,
    /// no later response on it is read, and later requests go on a new connection. Requests
    /// already sent on the closed connection stay deliverable to the server (the broker may
    /// have read them before the close, and processes them late, in order); their answers are
    /// dropped. Built on stateright's unordered network, with the order enforced by the
    /// receivers (an out-of-order delivery is no transition).
    Kafka,
    /// stateright's FIFO per directed pair of actors, without connections (a request timeout
    /// fails only that request, and its answer may still arrive). Not Kafka's.
    Ordered,
    /// stateright's unordered network without connections: any order, each message delivered
    /// once, a request timeout fails only that request and its answer may still arrive. Not
    /// Kafka's: requests of one connection overtake each other (`idempotent-reorder`).
    Unordered,
    /// Any order, any message may be delivered again (no connections). Not Kafka's.
    Duplicating,
}

impl NetworkKind {
    /// The command-line / summary name.
    pub fn name(self) -> &'static str {
        match self {
            NetworkKind::Kafka => "kafka",
            NetworkKind::Ordered => "ordered",
            NetworkKind::Unordered => "unordered",
            NetworkKind::Duplicating => "duplicating",
        }
    }
}

/// How the application ends one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TxnEnd {
    /// `commitTransaction()`.
    Commit,
    /// `abortTransaction()`.
    Abort,
    /// The application chooses commit or abort nondeterministically (`choose_random`).
    Choose,
}

/// One transaction of a producer's script: the partitions of its records (one record each),
/// and how it ends. An idempotent producer's script is one such group (its `end` is ignored).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxnScript {
    /// The partition index of each record, in send order.
    pub records: Vec<u8>,
    /// How the transaction ends.
    pub end: TxnEnd,
}

/// One producer instance.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProducerScript {
    /// `transactional.id`; `None` for an idempotent producer.
    pub transactional_id: Option<&'static str>,
    /// Started by a timer at any point (a restart whose old instance lives on as a zombie),
    /// instead of at once.
    pub delayed_start: bool,
    /// The transactions (or the idempotent producer's records).
    pub txns: Vec<TxnScript>,
    /// Retries this producer may send beyond the scenario's allowance
    /// ([`Scenario::retries`]): a restarted instance whose InitProducerId is answered
    /// CONCURRENT_TRANSACTIONS while the first instance's transaction ends.
    pub extra_retries: u8,
}

/// Where an exactly-once processor commits its input offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OffsetsMode {
    /// In the transaction: `sendOffsetsToTransaction(offsets, consumer.groupMetadata())` before
    /// `commitTransaction()` (KIP-98, KIP-447).
    InTransaction,
    /// Outside it: `commitTransaction()`, then the consumer's `commitSync(offsets)` (a plain
    /// OffsetCommit); the `offsets-outside-transaction` switch.
    AfterCommit,
}

/// One consume–transform–produce processor instance (`processor-1`, ...): a read_committed
/// consumer of the input partition (`t-0`) in group [`PROCESSOR_GROUP`] and a transactional
/// producer writing one output record per input record to the output partition (`t-1`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessorScript {
    /// The producer's `transactional.id`.
    pub transactional_id: &'static str,
    /// Started by a timer at any point (the restart of a crashed instance, whose old instance
    /// lives on as a zombie), instead of at once.
    pub delayed_start: bool,
    /// Where the input offsets are committed.
    pub offsets: OffsetsMode,
}

/// The processors' consumer group.
pub const PROCESSOR_GROUP: &str = "g";

/// A complete model configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// The scenario's name.
    pub name: &'static str,
    /// One line for `list`.
    pub summary: &'static str,
    /// The protocol generation.
    pub protocol: Protocol,
    /// Number of data partitions (`t-0`, `t-1`, ...).
    pub partitions: u8,
    /// Producer instances (`producer-1`, `producer-2`, ...).
    pub producers: Vec<ProducerScript>,
    /// Exactly-once processors (consume `t-0`, produce `t-1`, commit offsets); empty in the
    /// producer scenarios.
    pub processors: Vec<ProcessorScript>,
    /// Records the input partition `t-0` holds from the start (plain batches, record ids
    /// `0..input_records`), for the processors.
    pub input_records: u8,
    /// A restarted instance (`delayed_start`) sends the first instance's records again (the
    /// application restarted and re-sends what it had not seen acknowledged): the same record
    /// ids, so a copy written by both instances is a duplicate (S1).
    pub restart_resends: bool,
    /// `enable.idempotence` of every producer script (Kafka 3.0+'s default, true); false only
    /// with no transactional id (the client refuses the combination).
    pub idempotence: bool,
    /// Network semantics.
    pub network: NetworkKind,
    /// Whether the network may also drop any message.
    pub lossy: bool,
    /// Per producer: how many request timeouts (ambiguous outcomes) may fire.
    pub request_timeouts: u8,
    /// A timed-out produce expires (`delivery.timeout.ms` passed) instead of being retried.
    pub batches_expire: bool,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight: u8,
    /// The applications wait for each record's acknowledgement before sending the next one
    /// (`send().get()`), so a transaction's partitions are added one at a time.
    pub sequential_sends: bool,
    /// How many coordinator transaction-timeout checks may abort something.
    pub txn_timeouts: u8,
    /// How many coordinator failovers (new coordinator epoch) may happen.
    pub failovers: u8,
    /// How many times the coordinator's WriteTxnMarkers requests may be disconnected (request
    /// timeout): the markers are re-sent while the first request may still be delivered.
    pub marker_timeouts: u8,
    /// How many producer-state expiries may happen per partition.
    pub expiries: u8,
    /// How many transaction-log appends of client requests (InitProducerId,
    /// AddPartitionsToTxn, EndTxn, the leaders' verification adds) may fail
    /// (NOT_ENOUGH_REPLICAS, answered COORDINATOR_NOT_AVAILABLE). 0: every append succeeds.
    pub append_failures: u8,
    /// The coordinator's exhausted epoch ([`CoordinatorConfig::exhausted_epoch`]), a model
    /// parameter standing for `Short.MAX_VALUE - 1` (Kafka's 32766, the default); the producers'
    /// highest epoch ([`ProducerConfig::max_producer_epoch`]) is one above it. A small value puts
    /// epoch exhaustion and producer-id rotation within a few transactions.
    pub exhausted_epoch: i16,
    /// The retry allowance of the request budget: how many requests beyond its script's
    /// minimum plus one per request timeout a producer may send (CONCURRENT_TRANSACTIONS
    /// retries, KIP-360 re-initialisations, aborts forced by fencing or timeouts). The budget
    /// itself is derived per producer and protocol: [`Scenario::request_budget`].
    pub retries: u8,
    /// Known bugs switched on.
    pub bugs: Vec<KnownBug>,
    /// Properties this scenario breaks with no bug on, per protocol (protocol-level bugs of
    /// the old protocols, e.g. KAFKA-12671 under TV0); a protocol not listed breaks nothing.
    pub protocol_breaks: &'static [(Protocol, &'static [&'static str])],
    /// Properties this scenario breaks under every protocol with no bug on: model findings
    /// outside Kafka's assumptions (documented in docs/model.md).
    pub always_breaks: &'static [&'static str],
    /// Probes that must be reached with every bug off.
    pub probes: &'static [&'static str],
    /// Properties (or completion probes) this scenario declares irrelevant, with a one-line
    /// reason each: an `always` property that holds with no relevant state is *vacuous*, and
    /// `check` fails on it unless it is declared here; a completion probe declared here need
    /// not be reached.
    pub irrelevant: &'static [(&'static str, &'static str)],
}

impl Scenario {
    /// The same scenario under `protocol`.
    pub fn with_protocol(mut self, protocol: Protocol) -> Scenario {
        self.protocol = protocol;
        self
    }

    /// The same scenario with `bug` switched on.
    pub fn with_bug(mut self, bug: KnownBug) -> Scenario {
        if !self.bugs.contains(&bug) {
            self.bugs.push(bug);
            self.bugs.sort();
        }
        self
    }

    fn has(&self, bug: KnownBug) -> bool {
        self.bugs.contains(&bug)
    }

    /// The properties this configuration is expected to break: the scenario's own findings
    /// (outside Kafka's assumptions, and the protocol-level ones of its protocol) less those a
    /// bug switched on hides, plus those of every bug switched on.
    pub fn expected_broken(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.always_breaks.to_vec();
        for (p, breaks) in self.protocol_breaks {
            if *p == self.protocol {
                v.extend(breaks.iter().copied());
            }
        }
        for b in &self.bugs {
            v.retain(|p| !b.info().hides.contains(p));
        }
        for b in &self.bugs {
            v.extend(b.info().breaks.iter().copied());
        }
        v.sort();
        v.dedup();
        v
    }

    /// Why the scenario (or a bug switched on) declares `property` irrelevant, if it does.
    pub fn irrelevance(&self, property: &str) -> Option<&'static str> {
        self.irrelevant
            .iter()
            .chain(self.bugs.iter().flat_map(|b| b.info().irrelevant.iter()))
            .find(|(p, _)| *p == property)
            .map(|(_, why)| *why)
    }

    /// The fewest requests producer `index` sends to run its script with no retry: one
    /// InitProducerId; per transaction one Produce per record (records are one per batch),
    /// an AddPartitionsToTxn per partition before TV2 (TV2 adds partitions implicitly with the
    /// produce; the count assumes no two partitions share a request, which interleavings
    /// allow), and one EndTxn; an idempotent producer sends InitProducerId and its Produces,
    /// a producer without idempotence only its Produces.
    pub fn min_requests(&self, index: usize) -> u8 {
        let Some(p) = self.producers.get(index) else {
            return 0;
        };
        let mut n: usize = usize::from(self.idempotence);
        for t in &p.txns {
            n += t.records.len();
            if p.transactional_id.is_some() {
                n += 1;
                if self.protocol != Protocol::Tv2 {
                    let mut parts = t.records.clone();
                    parts.sort_unstable();
                    parts.dedup();
                    n += parts.len();
                }
            }
        }
        u8::try_from(n).unwrap_or(u8::MAX)
    }

    /// Producer `index`'s request budget, the bound of the explored space: its script's
    /// minimum ([`Scenario::min_requests`]), plus one retry per request timeout and one per
    /// append failure, plus the scenario's retry allowance ([`Scenario::retries`]). States where a producer has sent
    /// more are not explored (Kafka bounds retries by `delivery.timeout.ms` only, and
    /// producers here run at `now = 0`).
    pub fn request_budget(&self, index: usize) -> u8 {
        self.min_requests(index)
            .saturating_add(self.request_timeouts)
            .saturating_add(self.append_failures)
            .saturating_add(self.retries_of(index))
    }

    /// Producer `index`'s retry allowance: the scenario's plus the producer's own.
    pub fn retries_of(&self, index: usize) -> u8 {
        self.retries
            .saturating_add(self.producers.get(index).map_or(0, |p| p.extra_retries))
    }

    /// The request budgets of every producer, in order.
    pub fn request_budgets(&self) -> Vec<u8> {
        (0..self.producers.len())
            .map(|i| self.request_budget(i))
            .collect()
    }

    /// The partition leaders' configuration.
    pub fn partition_config(&self) -> PartitionConfig {
        PartitionConfig {
            transaction_verification: self.protocol.verification(),
            // The model's TV2 is today's Kafka: KIP-1228's strict marker epoch is on.
            strict_tv2_marker_epoch: self.protocol == Protocol::Tv2
                && !self.has(KnownBug::LenientTv2MarkerEpoch),
            bugs: PartitionBugs {
                no_sequence_check: self.has(KnownBug::NoSequenceCheck),
                duplicate_window: self.has(KnownBug::SmallDuplicateWindow).then_some(1),
                allow_sequence_gap: self.has(KnownBug::AllowSequenceGap),
                no_epoch_check: self.has(KnownBug::NoEpochCheck),
                no_coordinator_epoch_check: self.has(KnownBug::NoCoordinatorEpochCheck),
                marker_match_pid_only: self.has(KnownBug::MarkerMatchPidOnly),
                expire_ignoring_markers: false,
                no_aborted_filter: self.has(KnownBug::NoAbortedFilter),
                lso_ignores_open_transactions: self.has(KnownBug::LsoIgnoresOpenTransactions),
                strict_marker_rejects_retry: self.has(KnownBug::Kafka19999),
            },
            ..PartitionConfig::default()
        }
    }

    /// The coordinator's configuration.
    pub fn coordinator_config(&self) -> CoordinatorConfig {
        CoordinatorConfig {
            transaction_version: self.protocol.transaction_version(),
            bugs: CoordinatorBugs {
                fence_without_bump: self.has(KnownBug::FenceWithoutBump),
                timeout_abort_without_bump: self.has(KnownBug::TimeoutAbortWithoutBump),
                no_resume_prepare_on_load: self.has(KnownBug::NoResumePrepareOnLoad),
                no_persist_rotation_ids: false,
                commit_after_abort_is_invalid_txn_state: self.has(KnownBug::Kafka20785),
                tv2_fence_double_bump: self.has(KnownBug::Kafka19367),
            },
            exhausted_epoch: self.exhausted_epoch,
            ..CoordinatorConfig::default()
        }
    }

    /// Producer instance `index`'s client configuration.
    pub fn producer_config(&self, index: usize) -> ProducerConfig {
        let script = self.producers.get(index);
        ProducerConfig {
            enable_idempotence: self.idempotence,
            transactional_id: script.and_then(|s| s.transactional_id).map(str::to_string),
            transaction_version: self.protocol.transaction_version(),
            max_in_flight: self.max_in_flight,
            delivery_timeout_ms: if self.batches_expire { 0 } else { 120_000 },
            max_producer_epoch: self.exhausted_epoch.saturating_add(1),
            bugs: ProducerBugs {
                reset_sequence_on_ambiguous: self.has(KnownBug::ResetSequenceOnAmbiguous),
                skip_add_partitions: self.has(KnownBug::SkipAddPartitions),
                abort_after_commit_timeout: self.has(KnownBug::AbortAfterCommitTimeout),
                abort_without_bump_after_timeout: self.has(KnownBug::AbortWithoutBumpAfterTimeout),
                not_leader_is_definite_failure: false,
                commit_despite_failed_send: self.has(KnownBug::CommitDespiteFailedSend),
            },
            ..ProducerConfig::default()
        }
    }

    /// The group coordinator's configuration: the offsets partition of [`PROCESSOR_GROUP`] as
    /// the transaction coordinator computes it (`offsets_partition_for`), and the group bugs.
    pub fn group_config(&self) -> GroupCoordinatorConfig {
        let coordinator = self.coordinator_config();
        GroupCoordinatorConfig {
            offsets_partition: offsets_partition_for(
                PROCESSOR_GROUP,
                coordinator.offsets_topic_partitions,
            )
            .unwrap_or_else(|| GroupCoordinatorConfig::default().offsets_partition),
            bugs: GroupBugs {
                no_generation_fencing: self.has(KnownBug::NoGenerationFencing),
                keep_pending_on_abort: self.has(KnownBug::KeepPendingOnAbort),
            },
        }
    }

    /// The processors' consumer configuration: read_committed, `auto.offset.reset=earliest`,
    /// no retry backoff (the model's clients run at `now = 0`).
    pub fn consumer_config(&self) -> ConsumerConfig {
        ConsumerConfig {
            retry_backoff_ms: 0,
            bugs: ConsumerBugs {
                no_require_stable: self.has(KnownBug::NoRequireStable),
            },
            ..ConsumerConfig::new(PROCESSOR_GROUP)
        }
    }

    /// Processor `index`'s producer configuration: the producers' with its transactional id.
    pub fn processor_producer_config(&self, index: usize) -> ProducerConfig {
        ProducerConfig {
            transactional_id: self
                .processors
                .get(index)
                .map(|p| p.transactional_id.to_string()),
            ..self.producer_config(usize::MAX)
        }
    }

    /// Where processor `index` commits its offsets (the `offsets-outside-transaction` switch
    /// moves every processor outside the transaction).
    pub fn offsets_mode(&self, index: usize) -> OffsetsMode {
        if self.has(KnownBug::OffsetsOutsideTransaction) {
            OffsetsMode::AfterCommit
        } else {
            self.processors
                .get(index)
                .map_or(OffsetsMode::InTransaction, |p| p.offsets)
        }
    }

    /// Processor `index`'s request budget: one InitProducerId, one JoinGroup, one OffsetFetch,
    /// one Fetch, per input record one Produce, one TxnOffsetCommit (after an AddOffsetsToTxn
    /// and one AddPartitionsToTxn before TV2) or an OffsetCommit after the commit, one EndTxn,
    /// plus the retry allowance (UNSTABLE_OFFSET_COMMIT and CONCURRENT_TRANSACTIONS retries).
    pub fn processor_budget(&self, _index: usize) -> u8 {
        let mut n = 5 + usize::from(self.input_records);
        if self.protocol != Protocol::Tv2 {
            n += 2;
        }
        u8::try_from(n)
            .unwrap_or(u8::MAX)
            .saturating_add(self.retries)
    }

    /// One line of bounds for summaries (`exhausted_epoch` only when it is not Kafka's,
    /// `append_failures` only when some may happen).
    pub fn bounds(&self) -> String {
        let txns: Vec<String> = self
            .producers
            .iter()
            .map(|p| {
                let recs: Vec<String> =
                    p.txns.iter().map(|t| t.records.len().to_string()).collect();
                format!("[{}]", recs.join(","))
            })
            .collect();
        format!(
            "producers={} records={} partitions={} network={}{} request_timeouts={} batches_expire={} max_in_flight={} sequential_sends={} txn_timeouts={} failovers={} marker_timeouts={} expiries={} max_requests={}",
            self.producers.len(),
            txns.join(""),
            self.partitions,
            self.network.name(),
            if self.lossy { "+lossy" } else { "" },
            self.request_timeouts,
            self.batches_expire,
            self.max_in_flight,
            self.sequential_sends,
            self.txn_timeouts,
            self.failovers,
            self.marker_timeouts,
            self.expiries,
            self.request_budgets()
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ) + &if self.processors.is_empty() {
            String::new()
        } else {
            format!(
                " processors={} input_records={} processor_requests={}",
                self.processors.len(),
                self.input_records,
                (0..self.processors.len())
                    .map(|i| self.processor_budget(i).to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        } + &if self.exhausted_epoch == EXHAUSTED_EPOCH {
            String::new()
        } else {
            format!(" exhausted_epoch={}", self.exhausted_epoch)
        } + &if self.append_failures == 0 {
            String::new()
        } else {
            format!(" append_failures={}", self.append_failures)
        }
    }
}
