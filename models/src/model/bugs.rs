//! The known-bug catalogue: each switch brings back one bug that Kafka (or a Kafka-compatible
//! broker or client) shipped, maps onto the core's `...Bugs` switches or onto the protocol, and
//! names the verdicts the checker must produce with it; and the protocol-level bugs of the old
//! protocol versions, which need no switch.

use super::processor::{E1, E2, E3, E4};
use super::properties::{
    C1, L2, L3, L4, S1, S10, S11, S12, S13, S14, S15, S17, S19, S2, S20, S3, S4, S5, S9,
};
use super::scenario::{Protocol, Scenario};

/// A known-bug switch, mapped onto the core's `...Bugs` switches or onto the protocol. Each
/// variant's doc starts with its catalogue id (the `id` that `list` prints and `--bug` accepts,
/// tabled in docs/model.md), then where the bug comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KnownBug {
    /// M-I1 (KIP-98 motivation): no duplicate detection or sequence check at the leader
    /// (`ProducerAppendInfo.checkSequence` off).
    NoSequenceCheck,
    /// M-I2 (Redpanda #3038/#3039): the leader's duplicate window holds 1 batch while the client
    /// has 2 in flight (Kafka keeps `ProducerStateEntry.NUM_BATCHES_TO_RETAIN` = 5).
    SmallDuplicateWindow,
    /// M-I3 (KIP-360, KAFKA-18579): the client re-sends an ambiguous batch with a new sequence.
    ResetSequenceOnAmbiguous,
    /// M-I4 (KIP-98's first `ProducerIdMapping.checkSeqAndEpoch` without its gap check): the
    /// leader accepts a sequence gap.
    AllowSequenceGap,
    /// M-F1 (KIP-98 fencing, `ProducerAppendInfo.checkProducerEpoch` off): the leader skips the
    /// producer-epoch check (zombie writes).
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
    /// M-T6 (KIP-890 motivation): the client writes without AddPartitionsToTxn.
    SkipAddPartitions,
    /// M-C1 (the coordinator-epoch check of `ProducerAppendInfo.appendEndTxnMarker` off): the
    /// leader accepts markers of an older coordinator epoch.
    NoCoordinatorEpochCheck,
    /// M-C3: a new coordinator does not resume markers of Prepare* transactions (Kafka's
    /// coordinator resumes them on load: `shouldWriteTxnMarkersForTransactionInPreparedCommitState`).
    NoResumePrepareOnLoad,
    /// M-R1 (librdkafka#3020): read_committed fetches carry no aborted-transaction list
    /// (`FetchResponse`'s `abortedTransactions`).
    NoAbortedFilter,
    /// M-R2 (KIP-98's last stable offset, `ProducerStateManager.firstUnstableOffset` ignored): the
    /// LSO ignores open transactions (LSO = HW).
    LsoIgnoresOpenTransactions,
    /// M-T5 (Redpanda PR #3232): the leader applies a marker to the producer id's open
    /// transaction whatever the marker's epoch.
    MarkerMatchPidOnly,
    /// KIP-1228 (TV2 before it): the leader accepts a TV2 marker whose epoch equals the current
    /// one while a transaction is open (the older rule rejects only `marker epoch < current`).
    LenientTv2MarkerEpoch,
    /// KAFKA-9279 (apache/kafka#11508): a failed transactional send does not make the
    /// transaction abortable, so commitTransaction succeeds without the record (Kafka's
    /// `TransactionManager.handleFailedBatch` → `transitionToAbortableError`).
    CommitDespiteFailedSend,
    /// KAFKA-20785 (apache/kafka#23204, 2026-08): under TV2 a commit racing the coordinator's
    /// timeout abort arrives at the retry epoch on CompleteAbort and is answered
    /// INVALID_TXN_STATE (fatal for the client) instead of PRODUCER_FENCED
    /// (`TransactionCoordinator.endTransaction`).
    Kafka20785,
    /// KAFKA-19999 (apache/kafka#21176, 2025-12): KIP-1228's strict TV2 marker epoch rejects a
    /// re-sent marker at the entry's epoch although no transaction is open
    /// (`ProducerAppendInfo.checkProducerEpoch` without the idempotent-retry exception), so the
    /// coordinator drops it and the transaction hangs in Prepare*.
    Kafka19999,
    /// KAFKA-19367 (apache/kafka#19910, 2025-06): under TV2 the fence of InitProducerId on an
    /// Ongoing transaction bumps the epoch and the abort bumps it again; at the exhausted epoch
    /// the second bump overflows (`TransactionMetadata.prepareAbortOrCommit`).
    Kafka19367,
    /// The seed's "consumers that reprocess still see duplicates": the processor commits its
    /// input offsets with a plain OffsetCommit (`commitSync`) after `commitTransaction()`
    /// instead of `sendOffsetsToTransaction` inside it; a crash in between reprocesses
    /// committed input.
    OffsetsOutsideTransaction,
    /// The new owner's OffsetFetch does not set `require_stable` (KIP-447; kafka-python 2.x,
    /// clients at read_uncommitted): it starts from the last committed offset while the
    /// previous owner's transaction holds a pending one, and reprocesses what that commits.
    NoRequireStable,
    /// The group coordinator does not fence TxnOffsetCommit by generation or member (before
    /// KIP-447: TxnOffsetCommit below v3): a zombie member's offsets commit.
    NoGenerationFencing,
    /// The group coordinator keeps a producer's pending offsets at its ABORT marker
    /// (`OffsetMetadataManager.replayEndTransactionMarker` without the removal).
    KeepPendingOnAbort,
}

/// Why `skip-add-partitions` leaves most properties untested.
const SKIP_ADD_REASON: &str = "the coordinator never learns the partitions, so it writes no marker and the first transaction never ends (32 states)";

/// Static description of one known bug.
pub struct BugInfo {
    /// The switch.
    pub bug: KnownBug,
    /// The command-line name.
    pub name: &'static str,
    /// Catalogue id (`M-…`, as `list` prints it; `--bug` accepts it too), or the KIP that
    /// fixed a bug outside the catalogue.
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
    /// Properties the bug leaves untested in its scenario (vacuous), with the reason: added to
    /// the scenario's own declarations ([`Scenario::irrelevance`]).
    pub irrelevant: &'static [(&'static str, &'static str)],
}

impl KnownBug {
    /// Every switch, in declaration order: the order `list` prints them.
    pub const ALL: [KnownBug; 24] = [
        KnownBug::NoSequenceCheck,
        KnownBug::SmallDuplicateWindow,
        KnownBug::ResetSequenceOnAmbiguous,
        KnownBug::AllowSequenceGap,
        KnownBug::NoEpochCheck,
        KnownBug::FenceWithoutBump,
        KnownBug::TimeoutAbortWithoutBump,
        KnownBug::AbortAfterCommitTimeout,
        KnownBug::AbortWithoutBumpAfterTimeout,
        KnownBug::SkipAddPartitions,
        KnownBug::NoCoordinatorEpochCheck,
        KnownBug::NoResumePrepareOnLoad,
        KnownBug::NoAbortedFilter,
        KnownBug::LsoIgnoresOpenTransactions,
        KnownBug::MarkerMatchPidOnly,
        KnownBug::LenientTv2MarkerEpoch,
        KnownBug::CommitDespiteFailedSend,
        KnownBug::Kafka20785,
        KnownBug::Kafka19999,
        KnownBug::Kafka19367,
        KnownBug::OffsetsOutsideTransaction,
        KnownBug::NoRequireStable,
        KnownBug::NoGenerationFencing,
        KnownBug::KeepPendingOnAbort,
    ];

    /// This bug's catalogue entry: one match arm per switch, so every switch has exactly one.
    pub const fn info(self) -> &'static BugInfo {
        match self {
            KnownBug::NoSequenceCheck => &BugInfo {
        bug: KnownBug::NoSequenceCheck,
        name: "no-sequence-check",
        id: "M-I1",
        summary: "leader appends every retry: no duplicate detection (KIP-98 motivation)",
        scenario: "idempotent",
        protocol: Protocol::Tv2,
        breaks: &[S1, S3],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::SmallDuplicateWindow => &BugInfo {
        bug: KnownBug::SmallDuplicateWindow,
        name: "small-duplicate-window",
        id: "M-I2",
        summary: "leader remembers 1 batch while 2 are in flight (Redpanda #3038/#3039)",
        scenario: "idempotent",
        protocol: Protocol::Tv2,
        breaks: &[S1],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::ResetSequenceOnAmbiguous => &BugInfo {
        bug: KnownBug::ResetSequenceOnAmbiguous,
        name: "reset-sequence-on-ambiguous",
        id: "M-I3",
        summary: "client re-sends an ambiguous batch with a new sequence (KIP-360, KAFKA-18579)",
        scenario: "idempotent",
        protocol: Protocol::Tv2,
        breaks: &[S1],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::AllowSequenceGap => &BugInfo {
        bug: KnownBug::AllowSequenceGap,
        name: "allow-sequence-gap",
        id: "M-I4",
        summary: "leader accepts a sequence gap and answers an overtaken batch DUPLICATE_SEQUENCE_NUMBER (KIP-98's first ProducerIdMapping)",
        scenario: "idempotent-reorder",
        protocol: Protocol::Tv2,
        breaks: &[S2, S3, L4],
        // The reordered batch that duplicates without the bug is lost with it.
        hides: &[S1],
        irrelevant: &[],
            },
            KnownBug::NoEpochCheck => &BugInfo {
        bug: KnownBug::NoEpochCheck,
        name: "no-epoch-check",
        id: "M-F1",
        summary: "leader accepts a zombie's write at an old epoch (KIP-98 fencing off)",
        scenario: "zombie",
        protocol: Protocol::Tv0,
        breaks: &[S5, S14, S15, L2],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::FenceWithoutBump => &BugInfo {
        bug: KnownBug::FenceWithoutBump,
        name: "fence-without-bump",
        id: "M-F2",
        summary: "InitProducerId aborts an ongoing transaction without an epoch bump (KAFKA-5231)",
        scenario: "zombie",
        protocol: Protocol::Tv0,
        breaks: &[S14, S15, C1],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::TimeoutAbortWithoutBump => &BugInfo {
        bug: KnownBug::TimeoutAbortWithoutBump,
        name: "timeout-abort-without-bump",
        id: "M-F3",
        summary: "coordinator times out a transaction without an epoch bump (KAFKA-6119)",
        scenario: "timeout",
        protocol: Protocol::Tv0,
        breaks: &[S14, L2, C1],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::AbortAfterCommitTimeout => &BugInfo {
        bug: KnownBug::AbortAfterCommitTimeout,
        name: "abort-after-commit-timeout",
        id: "M-T3",
        summary: "client treats a lost EndTxn(COMMIT) as aborted at the same epoch (KAFKA-17754)",
        scenario: "late-endtxn",
        protocol: Protocol::Tv2,
        breaks: &[S10, S11, S15, C1],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::AbortWithoutBumpAfterTimeout => &BugInfo {
        bug: KnownBug::AbortWithoutBumpAfterTimeout,
        name: "abort-without-bump-after-timeout",
        id: "M-T4",
        summary: "client aborts after a delivery timeout without the epoch bump (KAFKA-14053)",
        scenario: "hanging-txn",
        protocol: Protocol::Tv1Verify,
        breaks: &[S10, S11, S15],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::SkipAddPartitions => &BugInfo {
        bug: KnownBug::SkipAddPartitions,
        name: "skip-add-partitions",
        id: "M-T6",
        summary: "client writes to a partition without AddPartitionsToTxn (KIP-890 motivation)",
        scenario: "transactions",
        protocol: Protocol::Tv0,
        breaks: &[S14, L2, C1],
        hides: &[],
        irrelevant: &[
            (L4, SKIP_ADD_REASON),
            (S1, SKIP_ADD_REASON),
            (S10, SKIP_ADD_REASON),
            (S11, SKIP_ADD_REASON),
            (S15, SKIP_ADD_REASON),
            (S4, SKIP_ADD_REASON),
            (S5, SKIP_ADD_REASON),
            (S9, SKIP_ADD_REASON),
            (S19, SKIP_ADD_REASON),
            (S20, SKIP_ADD_REASON),
        ],
            },
            KnownBug::NoCoordinatorEpochCheck => &BugInfo {
        bug: KnownBug::NoCoordinatorEpochCheck,
        name: "no-coordinator-epoch-check",
        id: "M-C1",
        summary: "leader accepts markers of a zombie coordinator (older coordinator epoch)",
        scenario: "coordinator-failover",
        protocol: Protocol::Tv2,
        breaks: &[S17],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::NoResumePrepareOnLoad => &BugInfo {
        bug: KnownBug::NoResumePrepareOnLoad,
        name: "no-resume-prepare-on-load",
        id: "M-C3",
        summary:
            "new coordinator never resumes markers of a Prepare* transaction (CompletePartialTxn)",
        scenario: "coordinator-failover",
        protocol: Protocol::Tv2,
        breaks: &[L3],
        hides: &[],
        irrelevant: &[(S17, "the new coordinator never resumes the markers, so no partition holds markers of two coordinator epochs")],
            },
            KnownBug::NoAbortedFilter => &BugInfo {
        bug: KnownBug::NoAbortedFilter,
        name: "no-aborted-filter",
        id: "M-R1",
        summary: "read_committed fetch without the aborted-transaction list (librdkafka#3020)",
        scenario: "transactions",
        protocol: Protocol::Tv2,
        breaks: &[S11, S12],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::LsoIgnoresOpenTransactions => &BugInfo {
        bug: KnownBug::LsoIgnoresOpenTransactions,
        name: "lso-ignores-open-transactions",
        id: "M-R2",
        summary: "last stable offset = high watermark (open transactions ignored)",
        scenario: "transactions",
        protocol: Protocol::Tv2,
        breaks: &[S11, S12, S13, S20],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::MarkerMatchPidOnly => &BugInfo {
        bug: KnownBug::MarkerMatchPidOnly,
        name: "marker-match-pid-only",
        id: "M-T5",
        summary: "leader applies a late marker to the producer id's newer transaction (Redpanda #3232)",
        scenario: "late-marker",
        protocol: Protocol::Tv2,
        breaks: &[S4, S9, S10, L4],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::LenientTv2MarkerEpoch => &BugInfo {
        bug: KnownBug::LenientTv2MarkerEpoch,
        name: "lenient-tv2-marker-epoch",
        id: "KIP-1228",
        summary: "TV2 leader accepts a marker at the current epoch over an open transaction (before KIP-1228)",
        scenario: "late-marker",
        protocol: Protocol::Tv2,
        breaks: &[S9, S10, L4],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::CommitDespiteFailedSend => &BugInfo {
        bug: KnownBug::CommitDespiteFailedSend,
        name: "kafka-9279",
        id: "KAFKA-9279",
        summary: "client commits a transaction although one of its sends failed (apache/kafka#11508)",
        scenario: "hanging-txn",
        protocol: Protocol::Tv2,
        breaks: &[S19, C1],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::Kafka20785 => &BugInfo {
        bug: KnownBug::Kafka20785,
        name: "kafka-20785",
        id: "KAFKA-20785",
        summary: "TV2 commit racing the coordinator's timeout abort is answered INVALID_TXN_STATE (fatal) instead of PRODUCER_FENCED (apache/kafka#23204)",
        scenario: "timeout",
        protocol: Protocol::Tv2,
        breaks: &[C1],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::Kafka19999 => &BugInfo {
        bug: KnownBug::Kafka19999,
        name: "kafka-19999",
        id: "KAFKA-19999",
        summary: "KIP-1228's strict TV2 marker epoch rejects a re-sent marker with no open transaction; the transaction hangs in Prepare* (apache/kafka#21176)",
        scenario: "marker-resend",
        protocol: Protocol::Tv2,
        breaks: &[L3],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::Kafka19367 => &BugInfo {
        bug: KnownBug::Kafka19367,
        name: "kafka-19367",
        id: "KAFKA-19367",
        summary: "TV2 InitProducerId on an Ongoing transaction bumps the epoch twice (fence + abort), overflowing at the exhausted epoch (apache/kafka#19910)",
        scenario: "epoch-exhaustion",
        protocol: Protocol::Tv2,
        breaks: &[C1, L2, S14],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::OffsetsOutsideTransaction => &BugInfo {
        bug: KnownBug::OffsetsOutsideTransaction,
        name: "offsets-outside-transaction",
        id: "M-P1",
        summary: "the processor commits its input offsets with a plain OffsetCommit after commitTransaction(): a crash in between reprocesses committed input, and the outputs are read twice (the seed's \"consumers that reprocess still see duplicates\")",
        scenario: "processor",
        protocol: Protocol::Tv2,
        breaks: &[E1, E2],
        hides: &[],
        irrelevant: &[(E4, "the offsets are committed outside the transaction: no offset is ever pending")],
            },
            KnownBug::NoRequireStable => &BugInfo {
        bug: KnownBug::NoRequireStable,
        name: "no-require-stable",
        id: "M-P2",
        summary: "the new owner's OffsetFetch omits require_stable (KIP-447): it reads the last committed offset while the old owner's transaction is pending, and reprocesses what that transaction commits",
        scenario: "processor-kip447",
        protocol: Protocol::Tv2,
        breaks: &[E1],
        hides: &[],
        irrelevant: &[],
            },
            KnownBug::NoGenerationFencing => &BugInfo {
        bug: KnownBug::NoGenerationFencing,
        name: "no-generation-fencing",
        id: "M-P3",
        summary: "the group coordinator does not fence TxnOffsetCommit by generation or member (before KIP-447, TxnOffsetCommit < v3): a zombie processor's offsets commit",
        scenario: "processor-kip447",
        protocol: Protocol::Tv2,
        breaks: &[E1, E3],
        hides: &[],
        irrelevant: &[(S11, "nothing fences the zombie's offsets, so no transaction with data aborts")],
            },
            KnownBug::KeepPendingOnAbort => &BugInfo {
        bug: KnownBug::KeepPendingOnAbort,
        name: "keep-pending-on-abort",
        id: "M-P4",
        summary: "the group coordinator keeps an aborted transaction's pending offsets (replayEndTransactionMarker without the removal): require_stable readers block, and the producer id's next commit would commit them",
        scenario: "processor",
        protocol: Protocol::Tv2,
        breaks: &[E4],
        hides: &[],
        irrelevant: &[],
            },
        }
    }

    /// The bug of a command-line name or catalogue id.
    pub fn from_name(name: &str) -> Option<KnownBug> {
        BUGS.iter()
            .find(|b| b.name == name || b.id.eq_ignore_ascii_case(name))
            .map(|b| b.bug)
    }
}

/// The known-bug catalogue, in the order `list` prints it ([`KnownBug::ALL`]'s entries).
pub const BUGS: &[&BugInfo] = &infos(KnownBug::ALL);

const fn infos<const N: usize>(bugs: [KnownBug; N]) -> [&'static BugInfo; N] {
    let mut out = [KnownBug::NoSequenceCheck.info(); N];
    let mut i = 0;
    while i < N {
        out[i] = bugs[i].info();
        i += 1;
    }
    out
}

// Checked at compile time: `ALL` lists the switches in declaration order without repeats, and
// every entry names its own switch.
const _: () = {
    let mut i = 0;
    while i < KnownBug::ALL.len() {
        let bug = KnownBug::ALL[i];
        assert!(
            bug as usize == i,
            "KnownBug::ALL must follow the declaration order"
        );
        assert!(
            bug.info().bug as usize == i,
            "a BugInfo names another switch"
        );
        i += 1;
    }
};

/// A known bug of an old protocol version: no switch, the protocol itself shows it (the
/// scenario's `protocol_breaks`), and TV2 fixes it.
pub struct ProtocolBug {
    /// Catalogue id (`M-…`, as `list` prints it) or the KIP that fixed it.
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
        summary: "KAFKA-12671: a produce landing after the abort marker opens a transaction the coordinator does not know (hanging transaction, stuck LSO: the shortest S14 and L2 counterexamples)",
        scenario: "hanging-txn",
        protocol: Protocol::Tv0,
    },
    ProtocolBug {
        id: "M-T2",
        summary: "a late epoch-0 produce lands after the abort marker and joins the next transaction, which runs at epoch 1 after the client's KIP-360 bump; its COMMIT marker commits the stray record (the leader keeps the open transaction across the bump; KIP-890 motivation; the S10/S11/S15 counterexamples)",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_switch_is_found_by_its_name_and_id() {
        assert_eq!(BUGS.len(), KnownBug::ALL.len());
        for bug in KnownBug::ALL {
            let info = bug.info();
            assert_eq!(info.bug, bug);
            assert_eq!(KnownBug::from_name(info.name), Some(bug));
            assert_eq!(KnownBug::from_name(info.id), Some(bug));
        }
    }
}
