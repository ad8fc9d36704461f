//! Scenarios: the bounded workloads and environments the checker explores, the protocol
//! versions, and the catalogue of known-bug switches (`properties-and-bugs.md` §2.2) with the
//! verdicts each one must produce.

use std::fmt;
use std::str::FromStr;

use kafka_eos::coordinator::{CoordinatorBugs, CoordinatorConfig};
use kafka_eos::partition::{PartitionBugs, PartitionConfig};
use kafka_eos::producer::{ProducerBugs, ProducerConfig};
use kafka_eos::types::TransactionVersion;

/// The protocol generation every role runs (kafka-semantics §1.10, §2.6/§2.7).
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

/// Network semantics between actors (stateright's `Network`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NetworkKind {
    /// FIFO per directed pair of actors.
    Ordered,
    /// Any order, each message delivered once.
    Unordered,
    /// Any order, any message may be delivered again.
    Duplicating,
}

impl NetworkKind {
    /// The command-line / summary name.
    pub fn name(self) -> &'static str {
        match self {
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
}

/// A known-bug switch of the catalogue (`properties-and-bugs.md` §2.2), mapped onto the
/// core's `...Bugs` switches or onto the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KnownBug {
    /// M-I1: no duplicate detection or sequence check at the leader.
    NoSequenceCheck,
    /// M-I2: the leader's duplicate window holds 1 batch while the client has 2 in flight.
    SmallDuplicateWindow,
    /// M-I3: the client re-sends an ambiguous batch with a new sequence.
    ResetSequenceOnAmbiguous,
    /// M-I4: the leader accepts a sequence gap.
    AllowSequenceGap,
    /// M-F1: the leader skips the producer-epoch check (zombie writes).
    NoEpochCheck,
    /// M-F2 (KAFKA-5231): InitProducerId fences an ongoing transaction without an epoch bump.
    FenceWithoutBump,
    /// M-F3 (KAFKA-6119): a timed-out transaction is aborted without an epoch bump.
    TimeoutAbortWithoutBump,
    /// M-T3 (KAFKA-17754): a lost EndTxn(COMMIT) is treated as aborted at the same epoch.
    AbortAfterCommitTimeout,
    /// M-T4 (KAFKA-14053): after a batch expires, the client aborts without the KIP-360 epoch
    /// bump.
    AbortWithoutBumpAfterTimeout,
    /// M-T6: the client writes without AddPartitionsToTxn.
    SkipAddPartitions,
    /// M-C1: the leader accepts markers of an older coordinator epoch.
    NoCoordinatorEpochCheck,
    /// M-C3: a new coordinator does not resume markers of Prepare* transactions.
    NoResumePrepareOnLoad,
    /// M-R1: read_committed fetches carry no aborted-transaction list.
    NoAbortedFilter,
    /// M-R2: the LSO ignores open transactions (LSO = HW).
    LsoIgnoresOpenTransactions,
    /// M-T5 (Redpanda PR #3232): the leader applies a marker to the producer id's open
    /// transaction whatever the marker's epoch.
    MarkerMatchPidOnly,
    /// TV2 before KIP-1228: the leader accepts a TV2 marker whose epoch equals the current one
    /// while a transaction is open (the [2025-10] rule `marker epoch < current` is stale).
    LenientTv2MarkerEpoch,
}

/// Static description of one known bug.
pub struct BugInfo {
    /// The switch.
    pub bug: KnownBug,
    /// The command-line name.
    pub name: &'static str,
    /// Catalogue id (`properties-and-bugs.md` §2.2).
    pub id: &'static str,
    /// One line: what it does and where it comes from.
    pub summary: &'static str,
    /// The scenario that shows it.
    pub scenario: &'static str,
    /// The protocol it is checked under.
    pub protocol: Protocol,
    /// The properties the checker must find broken (exactly these; every other holds).
    pub breaks: &'static [&'static str],
    /// Findings its scenario reports without the bug that the bug turns into other
    /// violations (these then hold).
    pub hides: &'static [&'static str],
}

/// The known-bug catalogue, in the order `list` prints it.
pub const BUGS: &[BugInfo] = &[
    BugInfo {
        bug: KnownBug::NoSequenceCheck,
        name: "no-sequence-check",
        id: "M-I1",
        summary: "leader appends every retry: no duplicate detection (KIP-98 motivation)",
        scenario: "idempotent",
        protocol: Protocol::Tv2,
        breaks: &[S1, S3],
        hides: &[],
    },
    BugInfo {
        bug: KnownBug::SmallDuplicateWindow,
        name: "small-duplicate-window",
        id: "M-I2",
        summary: "leader remembers 1 batch while 2 are in flight (Redpanda #3038/#3039)",
        scenario: "idempotent",
        protocol: Protocol::Tv2,
        breaks: &[S1],
        hides: &[],
    },
    BugInfo {
        bug: KnownBug::ResetSequenceOnAmbiguous,
        name: "reset-sequence-on-ambiguous",
        id: "M-I3",
        summary: "client re-sends an ambiguous batch with a new sequence (KIP-360, KAFKA-18579)",
        scenario: "idempotent",
        protocol: Protocol::Tv2,
        breaks: &[S1],
        hides: &[],
    },
    BugInfo {
        bug: KnownBug::AllowSequenceGap,
        name: "allow-sequence-gap",
        id: "M-I4",
        summary: "leader accepts a sequence gap and answers an overtaken batch DUPLICATE_SEQUENCE_NUMBER (KIP-98's first ProducerIdMapping)",
        scenario: "idempotent-reorder",
        protocol: Protocol::Tv2,
        breaks: &[S2, S3, L4],
        // The reordered batch that duplicates without the bug is lost with it.
        hides: &[S1],
    },
    BugInfo {
        bug: KnownBug::NoEpochCheck,
        name: "no-epoch-check",
        id: "M-F1",
        summary: "leader accepts a zombie's write at an old epoch (KIP-98 fencing off)",
        scenario: "zombie",
        protocol: Protocol::Tv0,
        breaks: &[S5, S14, S15, L2],
        hides: &[],
    },
    BugInfo {
        bug: KnownBug::FenceWithoutBump,
        name: "fence-without-bump",
        id: "M-F2",
        summary: "InitProducerId aborts an ongoing transaction without an epoch bump (KAFKA-5231)",
        scenario: "zombie",
        protocol: Protocol::Tv0,
        breaks: &[S14, S15],
        hides: &[],
    },
    BugInfo {
        bug: KnownBug::TimeoutAbortWithoutBump,
        name: "timeout-abort-without-bump",
        id: "M-F3",
        summary: "coordinator times out a transaction without an epoch bump (KAFKA-6119)",
        scenario: "timeout",
        protocol: Protocol::Tv0,
        breaks: &[S14, L2],
        hides: &[],
    },
    BugInfo {
        bug: KnownBug::AbortAfterCommitTimeout,
        name: "abort-after-commit-timeout",
        id: "M-T3",
        summary: "client treats a lost EndTxn(COMMIT) as aborted at the same epoch (KAFKA-17754)",
        scenario: "late-endtxn",
        protocol: Protocol::Tv2,
        breaks: &[S10, S11, S15],
        hides: &[],
    },
    BugInfo {
        bug: KnownBug::AbortWithoutBumpAfterTimeout,
        name: "abort-without-bump-after-timeout",
        id: "M-T4",
        summary: "client aborts after a delivery timeout without the epoch bump (KAFKA-14053)",
        scenario: "hanging-txn",
        protocol: Protocol::Tv1Verify,
        breaks: &[S10, S11, S15],
        hides: &[],
    },
    BugInfo {
        bug: KnownBug::SkipAddPartitions,
        name: "skip-add-partitions",
        id: "M-T6",
        summary: "client writes to a partition without AddPartitionsToTxn (KIP-890 motivation)",
        scenario: "transactions",
        protocol: Protocol::Tv0,
        breaks: &[S14, L2],
        hides: &[],
    },
    BugInfo {
        bug: KnownBug::NoCoordinatorEpochCheck,
        name: "no-coordinator-epoch-check",
        id: "M-C1",
        summary: "leader accepts markers of a zombie coordinator (older coordinator epoch)",
        scenario: "coordinator-failover",
        protocol: Protocol::Tv2,
        breaks: &[S17],
        hides: &[],
    },
    BugInfo {
        bug: KnownBug::NoResumePrepareOnLoad,
        name: "no-resume-prepare-on-load",
        id: "M-C3",
        summary:
            "new coordinator never resumes markers of a Prepare* transaction (CompletePartialTxn)",
        scenario: "coordinator-failover",
        protocol: Protocol::Tv2,
        breaks: &[L3],
        hides: &[],
    },
    BugInfo {
        bug: KnownBug::NoAbortedFilter,
        name: "no-aborted-filter",
        id: "M-R1",
        summary: "read_committed fetch without the aborted-transaction list (librdkafka#3020)",
        scenario: "transactions",
        protocol: Protocol::Tv2,
        breaks: &[S11, S12],
        hides: &[],
    },
    BugInfo {
        bug: KnownBug::LsoIgnoresOpenTransactions,
        name: "lso-ignores-open-transactions",
        id: "M-R2",
        summary: "last stable offset = high watermark (open transactions ignored)",
        scenario: "transactions",
        protocol: Protocol::Tv2,
        breaks: &[S11, S12, S13],
        hides: &[],
    },
    BugInfo {
        bug: KnownBug::MarkerMatchPidOnly,
        name: "marker-match-pid-only",
        id: "M-T5",
        summary: "leader applies a late marker to the producer id's newer transaction (Redpanda #3232)",
        scenario: "late-marker",
        protocol: Protocol::Tv2,
        breaks: &[S4, S9, S10, L4],
        hides: &[],
    },
    BugInfo {
        bug: KnownBug::LenientTv2MarkerEpoch,
        name: "lenient-tv2-marker-epoch",
        id: "KIP-1228",
        summary: "TV2 leader accepts a marker at the current epoch over an open transaction (before KIP-1228)",
        scenario: "late-marker",
        protocol: Protocol::Tv2,
        breaks: &[S9, S10, L4],
        hides: &[],
    },
];

/// A known bug of an old protocol version: no switch, the protocol itself shows it (the
/// scenario's `protocol_breaks`), and TV2 fixes it.
pub struct ProtocolBug {
    /// Catalogue id (`properties-and-bugs.md` §2.2) or the KIP that fixed it.
    pub id: &'static str,
    /// One line: what happens and where it comes from.
    pub summary: &'static str,
    /// The scenario that shows it.
    pub scenario: &'static str,
    /// The old protocol it is shown under.
    pub protocol: Protocol,
}

/// The protocol-level bugs, in the order `list` prints them.
pub const PROTOCOL_BUGS: &[ProtocolBug] = &[
    ProtocolBug {
        id: "M-T1",
        summary: "KAFKA-12671: a produce landing after the abort marker opens a transaction the coordinator does not know (hanging transaction, stuck LSO)",
        scenario: "hanging-txn",
        protocol: Protocol::Tv0,
    },
    ProtocolBug {
        id: "M-T2",
        summary: "a late produce joins the next transaction at the same epoch (KIP-890 motivation)",
        scenario: "hanging-txn",
        protocol: Protocol::Tv0,
    },
    ProtocolBug {
        id: "M-T3",
        summary: "KAFKA-17754: a delayed EndTxn(COMMIT) commits the next transaction early, with a correct client (torn transaction)",
        scenario: "late-endtxn",
        protocol: Protocol::Tv1Verify,
    },
    ProtocolBug {
        id: "KIP-890",
        summary: "a re-sent marker's first request completes the next transaction, which shares its epoch (fixed by TV2's bump per transaction)",
        scenario: "late-marker",
        protocol: Protocol::Tv1Verify,
    },
];

impl ProtocolBug {
    /// The protocol-level bug of a catalogue id.
    pub fn from_id(id: &str) -> Option<&'static ProtocolBug> {
        PROTOCOL_BUGS.iter().find(|b| b.id.eq_ignore_ascii_case(id))
    }

    /// What the checker finds for it (the scenario's protocol-level verdicts).
    pub fn breaks(&self) -> &'static [&'static str] {
        Scenario::named(self.scenario)
            .and_then(|s| {
                s.protocol_breaks
                    .iter()
                    .find(|(p, _)| *p == self.protocol)
                    .map(|(_, b)| *b)
            })
            .unwrap_or(&[])
    }
}

impl KnownBug {
    /// This bug's catalogue entry.
    pub fn info(self) -> &'static BugInfo {
        // Every variant has exactly one entry (a unit test checks it).
        BUGS.iter().find(|b| b.bug == self).unwrap_or(&BUGS[0])
    }

    /// The bug of a command-line name or catalogue id.
    pub fn from_name(name: &str) -> Option<KnownBug> {
        BUGS.iter()
            .find(|b| b.name == name || b.id.eq_ignore_ascii_case(name))
            .map(|b| b.bug)
    }
}

/// Property names (shared by the properties, the bug catalogue and the scenarios).
pub const S1: &str = "S1 no duplicate";
/// S2.
pub const S2: &str = "S2 no acked loss";
/// S3.
pub const S3: &str = "S3 sequence contiguity";
/// S4.
pub const S4: &str = "S4 epoch monotonic";
/// S5.
pub const S5: &str = "S5 zombie fencing";
/// S9.
pub const S9: &str = "S9 atomicity";
/// S10.
pub const S10: &str = "S10 commit durability";
/// S11.
pub const S11: &str = "S11 no aborted read";
/// S12.
pub const S12: &str = "S12 read_committed bound";
/// S13.
pub const S13: &str = "S13 LSO well-formed";
/// S14.
pub const S14: &str = "S14 transaction membership";
/// S15.
pub const S15: &str = "S15 no cross-transaction leak";
/// S17.
pub const S17: &str = "S17 coordinator epoch monotonic";
/// L2.
pub const L2: &str = "L2 no hanging transaction (quiescent)";
/// L3.
pub const L3: &str = "L3 prepare completes (quiescent)";
/// L4.
pub const L4: &str = "L4 committed data readable (quiescent)";

/// Probe names (`sometimes` properties, §3.4).
pub mod probe {
    /// A retried batch is answered with its original offset.
    pub const DUPLICATE: &str = "probe: duplicate retry deduplicated";
    /// The leader answers OUT_OF_ORDER_SEQUENCE_NUMBER.
    pub const OUT_OF_ORDER: &str = "probe: out-of-order sequence rejected";
    /// A request is rejected with PRODUCER_FENCED or INVALID_PRODUCER_EPOCH.
    pub const FENCED: &str = "probe: producer fenced";
    /// The coordinator answers CONCURRENT_TRANSACTIONS.
    pub const CONCURRENT: &str = "probe: concurrent transactions";
    /// A transaction commits with data on 2 partitions.
    pub const COMMIT_2: &str = "probe: commit across 2 partitions";
    /// A transaction aborts with data on 2 partitions.
    pub const ABORT_2: &str = "probe: abort after writing 2 partitions";
    /// An open transaction holds the LSO below the HW.
    pub const LSO_HELD: &str = "probe: LSO held below HW";
    /// The coordinator fails over while a transaction is in Prepare*.
    pub const FAILOVER_PREPARE: &str = "probe: coordinator failover in prepare";
    /// The coordinator aborts a timed-out transaction.
    pub const TIMEOUT_ABORT: &str = "probe: transaction timeout abort";
    /// A transactional produce arriving after its transaction's marker is rejected.
    pub const LATE_PRODUCE: &str = "probe: late produce rejected";
    /// A delayed EndTxn is rejected by the coordinator.
    pub const LATE_ENDTXN: &str = "probe: late EndTxn rejected";
    /// A producer's acked data reaches the log (sanity: the workload runs at all).
    pub const ACKED: &str = "probe: record acknowledged";
    /// A partition leader rejects a marker for its producer epoch (a late or re-sent marker).
    pub const STALE_MARKER: &str = "probe: stale marker rejected";
    /// A partition leader expired a producer's state and the producer wrote again after it.
    pub const EXPIRED: &str = "probe: producer state expired, then written again";
}

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
    /// The bound of the explored space: states where a producer has sent more requests
    /// than this are not explored (Kafka bounds retries by `delivery.timeout.ms` only).
    pub max_requests: u8,
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
}

fn txn(records: &[u8], end: TxnEnd) -> TxnScript {
    TxnScript {
        records: records.to_vec(),
        end,
    }
}

fn transactional(tid: &'static str, delayed_start: bool, txns: Vec<TxnScript>) -> ProducerScript {
    ProducerScript {
        transactional_id: Some(tid),
        delayed_start,
        txns,
    }
}

impl Scenario {
    /// The small base every named scenario varies: one transactional producer, one
    /// partition, one committed transaction, TV2, unordered network, no perturbation.
    pub fn base() -> Scenario {
        Scenario {
            name: "base",
            summary: "1 transactional producer, 1 partition, 1 committed transaction",
            protocol: Protocol::Tv2,
            partitions: 1,
            producers: vec![transactional("tx", false, vec![txn(&[0], TxnEnd::Commit)])],
            network: NetworkKind::Unordered,
            lossy: false,
            request_timeouts: 0,
            batches_expire: false,
            max_in_flight: 5,
            sequential_sends: false,
            txn_timeouts: 0,
            failovers: 0,
            marker_timeouts: 0,
            expiries: 0,
            max_requests: 8,
            bugs: Vec::new(),
            protocol_breaks: &[],
            always_breaks: &[],
            probes: &[probe::ACKED],
        }
    }

    /// The named scenarios, in `list` order.
    pub fn all() -> Vec<Scenario> {
        NAMES.iter().filter_map(|n| Scenario::named(n)).collect()
    }

    /// A named scenario (under TV2, no bug).
    pub fn named(name: &str) -> Option<Scenario> {
        let base = Scenario::base();
        let s = match name {
            "idempotent" => Scenario {
                name: "idempotent",
                summary: "idempotent producer, 3 records (2 in flight) to 1 partition over FIFO links, 2 ambiguous request timeouts",
                producers: vec![ProducerScript {
                    transactional_id: None,
                    delayed_start: false,
                    txns: vec![txn(&[0, 0, 0], TxnEnd::Commit)],
                }],
                network: NetworkKind::Ordered,
                request_timeouts: 2,
                max_in_flight: 2,
                probes: &[probe::ACKED, probe::DUPLICATE],
                ..base
            },
            "idempotent-reorder" => Scenario {
                name: "idempotent-reorder",
                summary: "idempotent producer, 3 records (2 in flight), 1 ambiguous timeout, network reordering requests of one connection (outside Kafka's TCP assumption)",
                producers: vec![ProducerScript {
                    transactional_id: None,
                    delayed_start: false,
                    txns: vec![txn(&[0, 0, 0], TxnEnd::Commit)],
                }],
                request_timeouts: 1,
                max_in_flight: 2,
                always_breaks: &[S1],
                probes: &[probe::ACKED, probe::DUPLICATE, probe::OUT_OF_ORDER],
                ..base
            },
            "transactions" => Scenario {
                name: "transactions",
                summary: "1 transactional id, 2 partitions, 2 transactions of 2 records, commit or abort chosen by the client",
                partitions: 2,
                producers: vec![transactional(
                    "tx",
                    false,
                    vec![txn(&[0, 1], TxnEnd::Choose), txn(&[0, 1], TxnEnd::Choose)],
                )],
                probes: &[
                    probe::ACKED,
                    probe::COMMIT_2,
                    probe::ABORT_2,
                    probe::LSO_HELD,
                    probe::CONCURRENT,
                ],
                ..base
            },
            "transactions-zombie" => Scenario {
                name: "transactions-zombie",
                summary: "the speed target: 2 partitions, 2 transactions of 2 records (commit, then abort), a restarted instance initialising (fencing the first) at any point, unordered network",
                partitions: 2,
                producers: vec![
                    transactional(
                        "tx",
                        false,
                        vec![txn(&[0, 1], TxnEnd::Commit), txn(&[0, 1], TxnEnd::Abort)],
                    ),
                    transactional("tx", true, Vec::new()),
                ],
                max_requests: 10,
                probes: &[
                    probe::ACKED,
                    probe::COMMIT_2,
                    probe::ABORT_2,
                    probe::LSO_HELD,
                    probe::FENCED,
                    probe::CONCURRENT,
                ],
                ..base
            },
            "zombie" => Scenario {
                name: "zombie",
                summary: "a second instance of the transactional id initialises while the first is mid-transaction",
                producers: vec![
                    transactional("tx", false, vec![txn(&[0], TxnEnd::Commit)]),
                    transactional("tx", true, vec![txn(&[0], TxnEnd::Commit)]),
                ],
                probes: &[probe::ACKED, probe::FENCED, probe::CONCURRENT],
                ..base
            },
            "timeout" => Scenario {
                name: "timeout",
                summary: "the coordinator times out and aborts an ongoing transaction; the producer goes on",
                producers: vec![transactional(
                    "tx",
                    false,
                    vec![txn(&[0, 0], TxnEnd::Commit)],
                )],
                txn_timeouts: 1,
                probes: &[probe::ACKED, probe::TIMEOUT_ABORT, probe::FENCED],
                ..base
            },
            "coordinator-failover" => Scenario {
                name: "coordinator-failover",
                summary: "the coordinator fails over (new coordinator epoch) at any point of a 2-partition commit",
                partitions: 2,
                producers: vec![transactional("tx", false, vec![txn(&[0, 1], TxnEnd::Commit)])],
                failovers: 1,
                probes: &[probe::ACKED, probe::COMMIT_2, probe::FAILOVER_PREPARE],
                ..base
            },
            "hanging-txn" => Scenario {
                name: "hanging-txn",
                summary: "KAFKA-12671: a produce expires on the client, the transaction aborts, the stuck produce lands after the marker",
                producers: vec![transactional(
                    "tx",
                    false,
                    vec![txn(&[0], TxnEnd::Commit), txn(&[0], TxnEnd::Commit)],
                )],
                request_timeouts: 1,
                batches_expire: true,
                // Under tv1-verify the client's KIP-360 bump after the expired batch
                // (`TransactionManager.maybeResolveSequences` → abortable error with a client
                // epoch bump) makes the coordinator fence the late produce's verification; only
                // the old protocol, whose client cannot bump, lets it through.
                protocol_breaks: &[(Protocol::Tv0, &[S10, S11, S14, S15, L2, L4])],
                probes: &[probe::ACKED, probe::LATE_PRODUCE],
                ..base
            },
            "producer-expiry" => Scenario {
                name: "producer-expiry",
                summary: "a partition expires the producer's idle state (producer.id.expiration.ms) at any point between or during 2 transactions; the producer goes on",
                producers: vec![transactional(
                    "tx",
                    false,
                    vec![txn(&[0], TxnEnd::Commit), txn(&[0], TxnEnd::Commit)],
                )],
                expiries: 1,
                probes: &[probe::ACKED, probe::EXPIRED],
                ..base
            },
            "late-marker" => Scenario {
                name: "late-marker",
                summary: "Redpanda #3232 / KIP-1228: an abort's WriteTxnMarkers request times out and is re-sent; the first one lands during or after the next transaction",
                partitions: 2,
                producers: vec![transactional(
                    "tx",
                    false,
                    vec![txn(&[0], TxnEnd::Abort), txn(&[0, 1], TxnEnd::Commit)],
                )],
                marker_timeouts: 1,
                // Without an epoch bump per transaction the late marker carries the next
                // transaction's epoch, so the leader cannot tell it apart (KIP-890 part 2).
                protocol_breaks: &[
                    (Protocol::Tv0, &[S9, S10, L4]),
                    (Protocol::Tv1Verify, &[S9, S10, L4]),
                ],
                probes: &[probe::ACKED, probe::COMMIT_2, probe::STALE_MARKER],
                ..base
            },
            "late-endtxn" => Scenario {
                name: "late-endtxn",
                summary: "KAFKA-17754: an EndTxn(COMMIT) times out, is retried, and the first one arrives after the next transaction began (records sent one at a time)",
                partitions: 2,
                producers: vec![transactional(
                    "tx",
                    false,
                    vec![txn(&[0], TxnEnd::Commit), txn(&[0, 1], TxnEnd::Abort)],
                )],
                request_timeouts: 1,
                sequential_sends: true,
                max_requests: 10,
                // The application adds T2's partitions one at a time (`send().get()`), so a
                // delayed EndTxn(COMMIT) of T1 that commits T2 early tears it: the first
                // partition commits, the second opens a new transaction the client aborts
                // (Jepsen's finding). TV1 cannot tell the late EndTxn from a retry; TV2 fences
                // it by epoch.
                protocol_breaks: &[
                    (Protocol::Tv0, &[S9, S10, S11, S14, L2]),
                    (Protocol::Tv1Verify, &[S9, S10, S11]),
                ],
                probes: &[probe::ACKED, probe::LSO_HELD, probe::LATE_ENDTXN],
                ..base
            },
            _ => return None,
        };
        Some(s)
    }

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
            },
            ..CoordinatorConfig::default()
        }
    }

    /// Producer instance `index`'s client configuration.
    pub fn producer_config(&self, index: usize) -> ProducerConfig {
        let script = self.producers.get(index);
        ProducerConfig {
            transactional_id: script.and_then(|s| s.transactional_id).map(str::to_string),
            transaction_version: self.protocol.transaction_version(),
            max_in_flight: self.max_in_flight,
            delivery_timeout_ms: if self.batches_expire { 0 } else { 120_000 },
            bugs: ProducerBugs {
                reset_sequence_on_ambiguous: self.has(KnownBug::ResetSequenceOnAmbiguous),
                skip_add_partitions: self.has(KnownBug::SkipAddPartitions),
                abort_after_commit_timeout: self.has(KnownBug::AbortAfterCommitTimeout),
                abort_without_bump_after_timeout: self.has(KnownBug::AbortWithoutBumpAfterTimeout),
                not_leader_is_definite_failure: false,
            },
            ..ProducerConfig::default()
        }
    }

    /// One line of bounds for summaries.
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
            self.max_requests,
        )
    }
}

/// The named scenarios.
pub const NAMES: &[&str] = &[
    "idempotent",
    "idempotent-reorder",
    "transactions",
    "zombie",
    "timeout",
    "coordinator-failover",
    "hanging-txn",
    "late-endtxn",
    "late-marker",
    "producer-expiry",
    "transactions-zombie",
];
