//! The properties: their names (shared with the bug catalogue and the scenarios), safety
//! invariants as `always`, liveness as "quiescent ⇒ P" `always`, and one `sometimes` probe
//! per mechanism. docs/model.md tables the properties with the Kafka issues and KIPs that break
//! them.
//!
//! Every property reads the global state through the typed projections of [`super`] and the
//! log views below. Logs are the partitions' own (a single replica never truncates, so the log
//! *is* the history of appends); what the application was told lives in the producer actors'
//! ghost fields.

use std::collections::{BTreeMap, BTreeSet};

use kafka_eos::coordinator::{TransactionCoordinator, TransactionState};
use kafka_eos::partition::{
    consumer_records, BatchContent, IsolationLevel, LogBatch, PartitionLeader,
};
use kafka_eos::types::{Offset, ProducerEpoch, ProducerId, TransactionResult};
use stateright::actor::ActorModelAction;
use stateright::{Expectation, Model, Property};

use kafka_eos::producer::TransactionState as ProducerState;

use super::actors::{cflag, pflag, AppPhase, PartitionActorState, Rec, UNKNOWN_OFFSET};
use super::scenario::Scenario;
use super::{coordinator, partitions, producers, EosModel, EosState, ProducerActorState, RecInfo};
use crate::render::batch_text;

// ------------------------------------------------------------------ names
// The property names, shared by the properties, the bug catalogue and the scenarios.

/// S1.
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
/// S19.
pub const S19: &str = "S19 committed visible exactly once";
/// S20.
pub const S20: &str = "S20 read_committed monotonic";
/// L2.
pub const L2: &str = "L2 no hanging transaction (quiescent)";
/// L3.
pub const L3: &str = "L3 prepare completes (quiescent)";
/// L4.
pub const L4: &str = "L4 committed data readable (quiescent)";
/// C1.
pub const C1: &str = "C1 no fatal error without fencing";

/// Probe names: the `sometimes` properties, one per mechanism, so a run that finds no
/// counterexample also shows it exercised what it was meant to.
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
    /// A transaction-log append of a client request failed (COORDINATOR_NOT_AVAILABLE answered).
    pub const APPEND_FAILED: &str = "probe: a transaction-log append failed";
    /// An idempotent producer finished with one of its records acknowledged on one partition
    /// and another, sent to another partition, in no log: no cross-partition atomicity.
    pub const PARTIAL_WRITE: &str =
        "probe: idempotent sends to 2 partitions, one written, one failed";
}

// ------------------------------------------------------------------ log views

/// One data batch of a log with its transaction outcome at that partition.
#[derive(Clone, Copy, Debug)]
pub struct DataEntry {
    /// Base offset.
    pub offset: Offset,
    /// Record id.
    pub rec: Rec,
    /// Producer id.
    pub producer_id: ProducerId,
    /// Producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// Base sequence.
    pub base_sequence: i32,
    /// Transactional.
    pub transactional: bool,
    /// The result of the first marker of the same producer id after it, if any.
    pub outcome: Option<TransactionResult>,
}

/// The data batches of a log, with outcomes.
pub fn data_entries(log: &[LogBatch<Rec>]) -> Vec<DataEntry> {
    let mut v = Vec::new();
    for (i, b) in log.iter().enumerate() {
        if let BatchContent::Data(rec) = b.content {
            let outcome = if b.is_transactional {
                log.iter().skip(i + 1).find_map(|c| match c.content {
                    BatchContent::Control { result, .. } if c.producer_id == b.producer_id => {
                        Some(result)
                    }
                    _ => None,
                })
            } else {
                None
            };
            v.push(DataEntry {
                offset: b.base_offset,
                rec,
                producer_id: b.producer_id,
                producer_epoch: b.producer_epoch,
                base_sequence: b.base_sequence,
                transactional: b.is_transactional,
                outcome,
            });
        }
    }
    v
}

/// The offsets and records a read_committed consumer delivers from offset 0 (the core's
/// fetch and consumer functions).
pub fn read_committed(p: &PartitionLeader<Rec>) -> Vec<(Offset, Rec)> {
    match p.fetch(0, IsolationLevel::ReadCommitted) {
        Ok(f) => consumer_records(&f, IsolationLevel::ReadCommitted, 0)
            .map(|r| (r.offset, *r.payload))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Open transactions computed from the log: per producer id, the first offset of the
/// transactional data after its last marker.
pub fn open_transactions(log: &[LogBatch<Rec>]) -> BTreeMap<ProducerId, (Offset, ProducerEpoch)> {
    let mut open: BTreeMap<ProducerId, (Offset, ProducerEpoch)> = BTreeMap::new();
    for b in log {
        if !b.is_transactional {
            continue;
        }
        if b.is_control() {
            open.remove(&b.producer_id);
        } else {
            open.entry(b.producer_id)
                .or_insert((b.base_offset, b.producer_epoch));
        }
    }
    open
}

fn bit(n: u8) -> u8 {
    1u8.checked_shl(u32::from(n)).unwrap_or(0)
}

fn told_committed(s: &EosState, info: RecInfo) -> bool {
    producers(s)
        .get(info.producer)
        .is_some_and(|p| p.committed & bit(info.txn) != 0)
}

fn told_aborted(s: &EosState, info: RecInfo) -> bool {
    producers(s)
        .get(info.producer)
        .is_some_and(|p| p.aborted & bit(info.txn) != 0)
}

// ------------------------------------------------------------------ safety

/// S1: per partition, no record occurs twice among data batches whose transaction did not
/// abort (every copy counts for idempotent batches).
pub fn no_duplicate(_: &EosModel, s: &EosState) -> bool {
    every_partition(s, PartitionCheck::NoDuplicate)
}

fn no_duplicate_at(p: &PartitionActorState) -> bool {
    let mut seen = BTreeSet::new();
    p.entries()
        .iter()
        .filter(|d| d.outcome != Some(TransactionResult::Abort))
        .all(|d| seen.insert(d.rec))
}

/// S1 is relevant when a partition holds two or more non-aborted data batches of one producer
/// id: only then can a record occur twice.
pub fn no_duplicate_relevant(_: &EosModel, s: &EosState) -> bool {
    some_partition(s, PartitionCheck::NoDuplicateRelevant)
}

fn no_duplicate_relevant_at(p: &PartitionActorState) -> bool {
    let mut count: BTreeMap<ProducerId, usize> = BTreeMap::new();
    p.entries()
        .iter()
        .filter(|d| d.outcome != Some(TransactionResult::Abort))
        .any(|d| {
            let c = count.entry(d.producer_id).or_insert(0);
            *c += 1;
            *c >= 2
        })
}

fn no_duplicate_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    let mut v = Vec::new();
    for (i, p) in partitions(s).iter().enumerate() {
        let mut seen: BTreeMap<Rec, Offset> = BTreeMap::new();
        for &d in p.entries() {
            if d.outcome == Some(TransactionResult::Abort) {
                continue;
            }
            if let Some(first) = seen.insert(d.rec, d.offset) {
                v.push(format!(
                    "t-{i}: r{} at @{first} and again at @{} (pid={} epoch={} seq={})",
                    d.rec, d.offset, d.producer_id, d.producer_epoch, d.base_sequence
                ));
            }
        }
    }
    v
}

/// Whether an acknowledgement at `acked` (maybe [`UNKNOWN_OFFSET`]) names batch offset
/// `offset`.
fn at_acked_offset(acked: Offset, offset: Offset) -> bool {
    acked == UNKNOWN_OFFSET || acked == offset
}

/// S2: every record the producer was told is written sits in its partition's log at the
/// acknowledged offset (anywhere in it when the acknowledgement carried no offset).
pub fn no_acked_loss(m: &EosModel, s: &EosState) -> bool {
    let parts = partitions(s);
    producers(s).iter().all(|p| {
        p.acked.iter().all(|(rec, offset)| {
            let Some(info) = m.cfg.rec(*rec) else {
                return false;
            };
            parts
                .get(usize::from(info.partition))
                .is_some_and(|leader| {
                    leader.core.log().iter().any(|b| {
                        at_acked_offset(*offset, b.base_offset)
                            && b.content == BatchContent::Data(*rec)
                    })
                })
        })
    })
}

/// S2 is relevant when some record was acknowledged.
pub fn no_acked_loss_relevant(_: &EosModel, s: &EosState) -> bool {
    producers(s).iter().any(|p| !p.acked.is_empty())
}

fn no_acked_loss_witness(m: &EosModel, s: &EosState) -> Vec<String> {
    let parts = partitions(s);
    let mut v = Vec::new();
    for (pi, p) in producers(s).iter().enumerate() {
        for (rec, offset) in &p.acked {
            let Some(info) = m.cfg.rec(*rec) else {
                continue;
            };
            let present = parts
                .get(usize::from(info.partition))
                .is_some_and(|leader| {
                    leader.core.log().iter().any(|b| {
                        at_acked_offset(*offset, b.base_offset)
                            && b.content == BatchContent::Data(*rec)
                    })
                });
            if !present {
                v.push(format!(
                    "producer-{} was told r{rec} is written at {}, but t-{} does not hold it there",
                    pi + 1,
                    offset_words(*offset),
                    info.partition
                ));
            }
        }
    }
    v
}

/// S3: per partition and (producer id, epoch), consecutive data batches have consecutive
/// sequences (no gap, no repeat).
pub fn sequence_contiguity(_: &EosModel, s: &EosState) -> bool {
    every_partition(s, PartitionCheck::SequenceContiguity)
}

fn sequence_contiguity_at(p: &PartitionActorState) -> bool {
    let mut last: BTreeMap<(ProducerId, ProducerEpoch), i32> = BTreeMap::new();
    p.core.log().iter().all(|b| {
        if b.is_control() || b.producer_id < 0 {
            return true;
        }
        let count = i32::try_from(b.last_offset - b.base_offset).unwrap_or(0);
        let ok = match last.get(&(b.producer_id, b.producer_epoch)) {
            Some(prev) => {
                b.base_sequence == prev.wrapping_add(1)
                    || (*prev == i32::MAX && b.base_sequence == 0)
            }
            None => true,
        };
        last.insert(
            (b.producer_id, b.producer_epoch),
            b.base_sequence.wrapping_add(count),
        );
        ok
    })
}

/// S3 is relevant when a partition holds two or more data batches of the same producer id and
/// epoch (the review's antecedent): only then is there a next sequence to check.
pub fn sequence_contiguity_relevant(_: &EosModel, s: &EosState) -> bool {
    some_partition(s, PartitionCheck::SequenceContiguityRelevant)
}

fn sequence_contiguity_relevant_at(p: &PartitionActorState) -> bool {
    let mut seen = BTreeSet::new();
    p.core
        .log()
        .iter()
        .filter(|b| !b.is_control() && b.producer_id >= 0)
        .any(|b| !seen.insert((b.producer_id, b.producer_epoch)))
}

fn sequence_contiguity_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    let mut v = Vec::new();
    for (i, p) in partitions(s).iter().enumerate() {
        let mut last: BTreeMap<(ProducerId, ProducerEpoch), (i32, Offset)> = BTreeMap::new();
        for b in p.core.log() {
            if b.is_control() || b.producer_id < 0 {
                continue;
            }
            let count = i32::try_from(b.last_offset - b.base_offset).unwrap_or(0);
            if let Some((prev, at)) = last.get(&(b.producer_id, b.producer_epoch)) {
                if b.base_sequence != prev.wrapping_add(1)
                    && !(*prev == i32::MAX && b.base_sequence == 0)
                {
                    v.push(format!(
                        "t-{i}: pid={} epoch={}: seq={} at @{} follows seq={prev} at @{at}",
                        b.producer_id, b.producer_epoch, b.base_sequence, b.base_offset
                    ));
                }
            }
            last.insert(
                (b.producer_id, b.producer_epoch),
                (b.base_sequence.wrapping_add(count), b.base_offset),
            );
        }
    }
    v
}

/// Per partition and producer id: no batch selected by `is_checked` has an epoch below an
/// earlier batch of the same producer id.
fn epochs_never_regress(p: &PartitionActorState, is_checked: fn(&LogBatch<Rec>) -> bool) -> bool {
    let mut highest: BTreeMap<ProducerId, ProducerEpoch> = BTreeMap::new();
    p.core.log().iter().all(|b| {
        if b.producer_id < 0 {
            return true;
        }
        let h = highest.entry(b.producer_id).or_insert(b.producer_epoch);
        let ok = !is_checked(b) || b.producer_epoch >= *h;
        *h = (*h).max(b.producer_epoch);
        ok
    })
}

/// S4: per partition and producer id, no marker carries an epoch below an earlier batch's.
pub fn epoch_monotonic(_: &EosModel, s: &EosState) -> bool {
    every_partition(s, PartitionCheck::EpochMonotonic)
}

/// S4 is relevant when a partition holds a marker after an earlier batch of its producer id.
pub fn epoch_monotonic_relevant(_: &EosModel, s: &EosState) -> bool {
    some_partition(s, PartitionCheck::EpochMonotonicRelevant)
}

/// Whether the partition holds a batch selected by `is_checked` after an earlier batch of the
/// same producer id.
fn follows_same_pid(p: &PartitionActorState, is_checked: fn(&LogBatch<Rec>) -> bool) -> bool {
    let mut seen = BTreeSet::new();
    p.core.log().iter().any(|b| {
        if b.producer_id < 0 {
            return false;
        }
        let earlier = !seen.insert(b.producer_id);
        earlier && is_checked(b)
    })
}

/// The batches selected by `is_checked` whose epoch is below an earlier batch's.
fn epoch_regressions(s: &EosState, is_checked: fn(&LogBatch<Rec>) -> bool) -> Vec<String> {
    let mut v = Vec::new();
    for (i, p) in partitions(s).iter().enumerate() {
        let mut highest: BTreeMap<ProducerId, (ProducerEpoch, Offset)> = BTreeMap::new();
        for b in p.core.log() {
            if b.producer_id < 0 {
                continue;
            }
            let h = *highest
                .entry(b.producer_id)
                .or_insert((b.producer_epoch, b.base_offset));
            if is_checked(b) && b.producer_epoch < h.0 {
                v.push(format!(
                    "t-{i}: {} has epoch {} below epoch {} of @{}",
                    batch_text(b),
                    b.producer_epoch,
                    h.0,
                    h.1
                ));
            }
            if b.producer_epoch > h.0 {
                highest.insert(b.producer_id, (b.producer_epoch, b.base_offset));
            }
        }
    }
    v
}

fn epoch_monotonic_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    epoch_regressions(s, |b| b.is_control())
}

/// S5: per partition and producer id, no data batch is appended with an epoch below an
/// earlier batch's (a fenced zombie never writes after its successor).
pub fn zombie_fencing(_: &EosModel, s: &EosState) -> bool {
    every_partition(s, PartitionCheck::ZombieFencing)
}

/// S5 is relevant when a partition holds a data batch after an earlier batch of its producer
/// id (a write that could come from a fenced instance).
pub fn zombie_fencing_relevant(_: &EosModel, s: &EosState) -> bool {
    some_partition(s, PartitionCheck::ZombieFencingRelevant)
}

fn zombie_fencing_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    epoch_regressions(s, |b| !b.is_control())
}

/// The decided outcomes of each client transaction's records, over all partitions.
fn outcomes(m: &EosModel, s: &EosState) -> BTreeMap<(usize, u8), BTreeSet<TransactionResult>> {
    let mut map: BTreeMap<(usize, u8), BTreeSet<TransactionResult>> = BTreeMap::new();
    for p in partitions(s) {
        for &d in p.entries() {
            if let (Some(info), Some(o)) = (m.cfg.rec(d.rec), d.outcome) {
                if d.transactional {
                    map.entry((info.producer, info.txn)).or_default().insert(o);
                }
            }
        }
    }
    map
}

/// S9: no client transaction has a record committed on one partition and a record aborted
/// on another.
pub fn atomicity(m: &EosModel, s: &EosState) -> bool {
    outcomes(m, s).values().all(|o| o.len() <= 1)
}

/// S9 is relevant when one client transaction has two or more records with a decided outcome
/// (on one partition or several): only then can the outcomes differ. This includes the
/// review's antecedent (a transaction decided on 2 partitions).
pub fn atomicity_relevant(m: &EosModel, s: &EosState) -> bool {
    let mut decided: BTreeMap<(usize, u8), usize> = BTreeMap::new();
    partitions(s).iter().any(|p| {
        p.entries()
            .iter()
            .any(|d| match (m.cfg.rec(d.rec), d.outcome, d.transactional) {
                (Some(info), Some(_), true) => {
                    let c = decided.entry((info.producer, info.txn)).or_insert(0);
                    *c += 1;
                    *c >= 2
                }
                _ => false,
            })
    })
}

fn atomicity_witness(m: &EosModel, s: &EosState) -> Vec<String> {
    let mut by_txn: BTreeMap<(usize, u8), Vec<String>> = BTreeMap::new();
    let mut mixed: BTreeMap<(usize, u8), BTreeSet<TransactionResult>> = BTreeMap::new();
    for (i, p) in partitions(s).iter().enumerate() {
        for &d in p.entries() {
            if let (Some(info), Some(o), true) = (m.cfg.rec(d.rec), d.outcome, d.transactional) {
                by_txn
                    .entry((info.producer, info.txn))
                    .or_default()
                    .push(format!(
                        "r{} at t-{i}@{} {}",
                        d.rec,
                        d.offset,
                        result_word(o)
                    ));
                mixed
                    .entry((info.producer, info.txn))
                    .or_default()
                    .insert(o);
            }
        }
    }
    mixed
        .iter()
        .filter(|(_, o)| o.len() > 1)
        .map(|((p, t), _)| {
            format!(
                "producer-{} transaction {}: {}",
                p + 1,
                t + 1,
                by_txn
                    .get(&(*p, *t))
                    .map(|v| v.join(", "))
                    .unwrap_or_default()
            )
        })
        .collect()
}

/// S10: a transaction the client was told committed has none of its acknowledged records
/// aborted; one it was told aborted has none committed.
pub fn commit_durability(m: &EosModel, s: &EosState) -> bool {
    let parts = partitions(s);
    let entries: Vec<&[DataEntry]> = parts.iter().map(|p| p.entries()).collect();
    for (pi, p) in producers(s).iter().enumerate() {
        for (rec, offset) in &p.acked {
            let Some(info) = m.cfg.rec(*rec) else {
                continue;
            };
            if info.producer != pi || p.committed & bit(info.txn) == 0 {
                continue;
            }
            let aborted = entries.get(usize::from(info.partition)).is_some_and(|es| {
                es.iter().any(|d| {
                    at_acked_offset(*offset, d.offset)
                        && d.rec == *rec
                        && d.outcome == Some(TransactionResult::Abort)
                })
            });
            if aborted {
                return false;
            }
        }
    }
    entries.iter().copied().flatten().all(|d| {
        d.outcome != Some(TransactionResult::Commit)
            || m.cfg.rec(d.rec).is_none_or(|info| !told_aborted(s, info))
    })
}

/// S10 is relevant when a record of a transaction the client was told committed or aborted
/// has a decided outcome in a log.
pub fn commit_durability_relevant(m: &EosModel, s: &EosState) -> bool {
    partitions(s).iter().any(|p| {
        p.entries().iter().any(|d| {
            d.outcome.is_some()
                && m.cfg
                    .rec(d.rec)
                    .is_some_and(|info| told_committed(s, info) || told_aborted(s, info))
        })
    })
}

fn commit_durability_witness(m: &EosModel, s: &EosState) -> Vec<String> {
    let mut v = Vec::new();
    for (i, p) in partitions(s).iter().enumerate() {
        for &d in p.entries() {
            let Some(info) = m.cfg.rec(d.rec) else {
                continue;
            };
            let acked = producers(s).get(info.producer).is_some_and(|pr| {
                pr.acked
                    .iter()
                    .any(|(r, o)| *r == d.rec && at_acked_offset(*o, d.offset))
            });
            if d.outcome == Some(TransactionResult::Abort) && told_committed(s, info) && acked {
                v.push(format!(
                    "r{} at t-{i}@{} is aborted, but producer-{} was told transaction {} committed",
                    d.rec,
                    d.offset,
                    info.producer + 1,
                    info.txn + 1
                ));
            }
            if d.outcome == Some(TransactionResult::Commit) && told_aborted(s, info) {
                v.push(format!(
                    "r{} at t-{i}@{} is committed, but producer-{} was told transaction {} aborted",
                    d.rec,
                    d.offset,
                    info.producer + 1,
                    info.txn + 1
                ));
            }
        }
    }
    v
}

/// S11: a read_committed consumer never returns a record whose transaction aborted at that
/// partition, nor one of a transaction the client was told aborted.
pub fn no_aborted_read(m: &EosModel, s: &EosState) -> bool {
    partitions(s).iter().all(|p| {
        let entries = p.entries();
        p.read_committed().iter().all(|(offset, rec)| {
            let aborted_here = entries
                .iter()
                .any(|d| d.offset == *offset && d.outcome == Some(TransactionResult::Abort));
            let told = m.cfg.rec(*rec).is_some_and(|info| told_aborted(s, info));
            !aborted_here && !told
        })
    })
}

/// S11 is relevant when a read_committed consumer returns something and aborted data exists
/// (a record aborted at its partition, or of a transaction the client was told aborted): the
/// review's antecedent.
pub fn no_aborted_read_relevant(m: &EosModel, s: &EosState) -> bool {
    let parts = partitions(s);
    let reads = parts.iter().any(|p| !p.read_committed().is_empty());
    reads
        && parts.iter().any(|p| {
            p.entries().iter().any(|d| {
                d.outcome == Some(TransactionResult::Abort)
                    || m.cfg.rec(d.rec).is_some_and(|info| told_aborted(s, info))
            })
        })
}

fn no_aborted_read_witness(m: &EosModel, s: &EosState) -> Vec<String> {
    let mut v = Vec::new();
    for (i, p) in partitions(s).iter().enumerate() {
        let entries = p.entries();
        for &(offset, rec) in p.read_committed() {
            let aborted_here = entries
                .iter()
                .any(|d| d.offset == offset && d.outcome == Some(TransactionResult::Abort));
            if aborted_here {
                v.push(format!(
                    "read_committed returns r{rec} at t-{i}@{offset}, aborted there"
                ));
            }
            if let Some(info) = m.cfg.rec(rec).filter(|info| told_aborted(s, *info)) {
                v.push(format!(
                    "read_committed returns r{rec} at t-{i}@{offset}, of transaction {} producer-{} was told aborted",
                    info.txn + 1,
                    info.producer + 1
                ));
            }
        }
    }
    v
}

/// S12: a read_committed consumer returns only non-transactional records and records whose
/// transaction committed at that partition, all below the LSO.
pub fn read_committed_bound(_: &EosModel, s: &EosState) -> bool {
    every_partition(s, PartitionCheck::ReadCommittedBound)
}

fn read_committed_bound_at(p: &PartitionActorState) -> bool {
    let entries = p.entries();
    let lso = p.core.last_stable_offset();
    p.read_committed().iter().all(|(offset, _)| {
        *offset < lso
            && entries.iter().any(|d| {
                d.offset == *offset
                    && (!d.transactional || d.outcome == Some(TransactionResult::Commit))
            })
    })
}

/// S12 is relevant when a partition holds transactional data that is not committed (open or
/// aborted): read_committed then has something to leave out.
pub fn read_committed_bound_relevant(_: &EosModel, s: &EosState) -> bool {
    some_partition(s, PartitionCheck::ReadCommittedBoundRelevant)
}

fn read_committed_bound_relevant_at(p: &PartitionActorState) -> bool {
    p.entries()
        .iter()
        .any(|d| d.transactional && d.outcome != Some(TransactionResult::Commit))
}

fn read_committed_bound_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    let mut v = Vec::new();
    for (i, p) in partitions(s).iter().enumerate() {
        let entries = p.entries();
        let lso = p.core.last_stable_offset();
        for &(offset, rec) in p.read_committed() {
            if offset >= lso {
                v.push(format!(
                    "read_committed returns r{rec} at t-{i}@{offset}, at or above LSO {lso}"
                ));
            }
            let ok = entries.iter().any(|d| {
                d.offset == offset
                    && (!d.transactional || d.outcome == Some(TransactionResult::Commit))
            });
            if !ok {
                v.push(format!(
                    "read_committed returns r{rec} at t-{i}@{offset}, not committed"
                ));
            }
        }
    }
    v
}

/// S13: LSO = min(first offset of the open transactions, HW), computed from the log.
pub fn lso_well_formed(_: &EosModel, s: &EosState) -> bool {
    every_partition(s, PartitionCheck::LsoWellFormed)
}

fn lso_well_formed_at(p: &PartitionActorState) -> bool {
    let hw = p.core.high_watermark();
    let first_open = p.open_transactions().values().map(|(o, _)| *o).min();
    let expected = first_open.map_or(hw, |o| o.min(hw));
    p.core.last_stable_offset() == expected
}

/// S13 is relevant when a partition has an open transaction (computed from the log): only then
/// must the LSO stay below the HW.
pub fn lso_well_formed_relevant(_: &EosModel, s: &EosState) -> bool {
    any_open_transaction(s)
}

fn any_open_transaction(s: &EosState) -> bool {
    some_partition(s, PartitionCheck::OpenTransaction)
}

// ------------------------------------------------------------------ per-partition checks

/// The per-partition predicates of the properties: each reads one partition's state only, so
/// it is computed once per partition state value ([`PartitionActorState::holds`]) rather than
/// once per global state (a partition's state is shared by many global states).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionCheck {
    /// S1 at this partition.
    NoDuplicate,
    /// S1's relevance at this partition.
    NoDuplicateRelevant,
    /// S3 at this partition.
    SequenceContiguity,
    /// S3's relevance at this partition.
    SequenceContiguityRelevant,
    /// S4 at this partition.
    EpochMonotonic,
    /// S4's relevance at this partition.
    EpochMonotonicRelevant,
    /// S5 at this partition.
    ZombieFencing,
    /// S5's relevance at this partition.
    ZombieFencingRelevant,
    /// S12 at this partition.
    ReadCommittedBound,
    /// S12's relevance at this partition.
    ReadCommittedBoundRelevant,
    /// S13 at this partition.
    LsoWellFormed,
    /// An open transaction at this partition (S13's and S14's relevance).
    OpenTransaction,
    /// S17 at this partition.
    CoordinatorEpochMonotonic,
    /// S20 at this partition.
    ReadCommittedMonotonic,
}

/// How many [`PartitionCheck`]s there are.
pub const PARTITION_CHECKS: usize = 14;

impl PartitionCheck {
    fn predicate(self) -> fn(&PartitionActorState) -> bool {
        match self {
            PartitionCheck::NoDuplicate => no_duplicate_at,
            PartitionCheck::NoDuplicateRelevant => no_duplicate_relevant_at,
            PartitionCheck::SequenceContiguity => sequence_contiguity_at,
            PartitionCheck::SequenceContiguityRelevant => sequence_contiguity_relevant_at,
            PartitionCheck::EpochMonotonic => |p| epochs_never_regress(p, |b| b.is_control()),
            PartitionCheck::EpochMonotonicRelevant => |p| follows_same_pid(p, |b| b.is_control()),
            PartitionCheck::ZombieFencing => |p| epochs_never_regress(p, |b| !b.is_control()),
            PartitionCheck::ZombieFencingRelevant => |p| follows_same_pid(p, |b| !b.is_control()),
            PartitionCheck::ReadCommittedBound => read_committed_bound_at,
            PartitionCheck::ReadCommittedBoundRelevant => read_committed_bound_relevant_at,
            PartitionCheck::LsoWellFormed => lso_well_formed_at,
            PartitionCheck::OpenTransaction => |p| !p.open_transactions().is_empty(),
            PartitionCheck::CoordinatorEpochMonotonic => coordinator_epoch_monotonic_at,
            // The view is in offset order, one record per offset: sorted as `delivered` is.
            PartitionCheck::ReadCommittedMonotonic => |p| {
                let view = p.read_committed();
                p.core.last_stable_offset() >= p.lso_seen
                    && p.delivered.iter().all(|d| view.binary_search(d).is_ok())
            },
        }
    }
}

/// The partition actors' states, in order, without collecting them.
fn each_partition(s: &EosState) -> impl Iterator<Item = &PartitionActorState> {
    s.actor_states.iter().filter_map(|a| match &**a {
        super::actors::ActorState::Partition(p) => Some(&**p),
        _ => None,
    })
}

/// Whether `check` holds at every partition.
fn every_partition(s: &EosState, check: PartitionCheck) -> bool {
    let predicate = check.predicate();
    each_partition(s).all(|p| p.holds(check as usize, predicate))
}

/// Whether `check` holds at some partition.
fn some_partition(s: &EosState, check: PartitionCheck) -> bool {
    let predicate = check.predicate();
    each_partition(s).any(|p| p.holds(check as usize, predicate))
}

fn lso_well_formed_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    let mut v = Vec::new();
    for (i, p) in partitions(s).iter().enumerate() {
        let hw = p.core.high_watermark();
        let first_open = p.open_transactions().values().map(|(o, _)| *o).min();
        let expected = first_open.map_or(hw, |o| o.min(hw));
        if p.core.last_stable_offset() != expected {
            v.push(format!(
                "t-{i}: LSO={} but the log says {expected} (HW={hw}, first open transaction at {})",
                p.core.last_stable_offset(),
                first_open.map_or("none".to_string(), |o| format!("@{o}"))
            ));
        }
    }
    v
}

fn tracked(
    c: &TransactionCoordinator,
    partition: u8,
    pid: ProducerId,
    epoch: ProducerEpoch,
) -> bool {
    let tp = super::actors::topic_partition(partition);
    c.transactions().values().any(|t| {
        let epoch_ok = match t.state {
            // An ongoing transaction runs at the coordinator's epoch: an open transaction of an
            // older epoch is a stray one (a late produce), not this transaction.
            // A TV0/1 fence whose append failed keeps the epoch it bumped in memory (Kafka's
            // `hasFailedEpochFence`): the transaction's data is at the epoch before.
            TransactionState::Ongoing => {
                epoch == t.producer_epoch
                    || (t.has_failed_epoch_fence && epoch.checked_add(1) == Some(t.producer_epoch))
            }
            // Ending may have bumped the epoch (TV2, or fencing): the data is at most as new.
            TransactionState::PrepareCommit
            | TransactionState::PrepareAbort
            | TransactionState::PrepareEpochFence => epoch <= t.producer_epoch,
            _ => false,
        };
        t.producer_id == pid && epoch_ok && t.partitions.contains(&tp)
    })
}

/// S14: every transaction open at a partition belongs to a transaction the coordinator
/// tracks (same producer id, the partition in its set, and either Ongoing at exactly the
/// coordinator's epoch, one below it after a failed fence append, or Prepare* at an epoch not
/// above it).
pub fn transaction_membership(_: &EosModel, s: &EosState) -> bool {
    let Some(c) = coordinator(s) else { return true };
    partitions(s).iter().enumerate().all(|(i, p)| {
        let index = u8::try_from(i).unwrap_or(u8::MAX);
        p.open_transactions()
            .iter()
            .all(|(pid, (_, epoch))| tracked(&c.core, index, *pid, *epoch))
    })
}

/// S14 is relevant when a partition has an open transaction.
pub fn transaction_membership_relevant(_: &EosModel, s: &EosState) -> bool {
    any_open_transaction(s)
}

fn transaction_membership_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    let Some(c) = coordinator(s) else {
        return Vec::new();
    };
    let mut v = Vec::new();
    for (i, p) in partitions(s).iter().enumerate() {
        let index = u8::try_from(i).unwrap_or(u8::MAX);
        for (&pid, &(offset, epoch)) in p.open_transactions() {
            if !tracked(&c.core, index, pid, epoch) {
                let coord: Vec<String> = c
                    .core
                    .transactions()
                    .values()
                    .map(|t| {
                        format!(
                            "pid={} epoch={} {:?}",
                            t.producer_id, t.producer_epoch, t.state
                        )
                    })
                    .collect();
                v.push(format!(
                    "t-{i}: transaction pid={pid} epoch={epoch} open from @{offset}, the coordinator has {}",
                    if coord.is_empty() { "nothing".to_string() } else { coord.join(", ") }
                ));
            }
        }
    }
    v
}

/// S15: the records one marker closes (per partition and producer id, between two markers)
/// all belong to the same client transaction.
pub fn no_cross_transaction_leak(m: &EosModel, s: &EosState) -> bool {
    partitions(s).iter().all(|p| {
        let mut span: BTreeMap<ProducerId, (usize, u8)> = BTreeMap::new();
        p.core.log().iter().all(|b| match b.content {
            BatchContent::Control { .. } => {
                span.remove(&b.producer_id);
                true
            }
            BatchContent::Data(rec) if b.is_transactional => {
                let Some(info) = m.cfg.rec(rec) else {
                    return true;
                };
                let tag = (info.producer, info.txn);
                *span.entry(b.producer_id).or_insert(tag) == tag
            }
            BatchContent::Data(_) => true,
        })
    })
}

/// S15 is relevant when a partition holds transactional data of two or more client
/// transactions under one producer id (only then can one marker close both).
pub fn no_cross_transaction_leak_relevant(m: &EosModel, s: &EosState) -> bool {
    partitions(s).iter().any(|p| {
        let mut tags: BTreeMap<ProducerId, (usize, u8)> = BTreeMap::new();
        p.core.log().iter().any(|b| match b.content {
            BatchContent::Data(rec) if b.is_transactional => m.cfg.rec(rec).is_some_and(|info| {
                let tag = (info.producer, info.txn);
                *tags.entry(b.producer_id).or_insert(tag) != tag
            }),
            _ => false,
        })
    })
}

fn no_cross_transaction_leak_witness(m: &EosModel, s: &EosState) -> Vec<String> {
    let mut v = Vec::new();
    for (i, p) in partitions(s).iter().enumerate() {
        let mut span: BTreeMap<ProducerId, ((usize, u8), Offset)> = BTreeMap::new();
        for b in p.core.log() {
            match b.content {
                BatchContent::Control { .. } => {
                    span.remove(&b.producer_id);
                }
                BatchContent::Data(rec) if b.is_transactional => {
                    let Some(info) = m.cfg.rec(rec) else {
                        continue;
                    };
                    let tag = (info.producer, info.txn);
                    let (first, at) = *span.entry(b.producer_id).or_insert((tag, b.base_offset));
                    if first != tag {
                        v.push(format!(
                            "t-{i}: r{rec}@{} (producer-{} transaction {}) shares a marker span with @{at} (producer-{} transaction {})",
                            b.base_offset,
                            tag.0 + 1,
                            tag.1 + 1,
                            first.0 + 1,
                            first.1 + 1
                        ));
                    }
                }
                BatchContent::Data(_) => {}
            }
        }
    }
    v
}

/// S17: per partition and producer id, the coordinator epochs of accepted markers never
/// decrease.
pub fn coordinator_epoch_monotonic(_: &EosModel, s: &EosState) -> bool {
    every_partition(s, PartitionCheck::CoordinatorEpochMonotonic)
}

fn coordinator_epoch_monotonic_at(p: &PartitionActorState) -> bool {
    let mut last: BTreeMap<ProducerId, i32> = BTreeMap::new();
    p.core.log().iter().all(|b| match b.content {
        BatchContent::Control {
            coordinator_epoch, ..
        } => {
            let l = last.entry(b.producer_id).or_insert(coordinator_epoch);
            let ok = coordinator_epoch >= *l;
            *l = (*l).max(coordinator_epoch);
            ok
        }
        BatchContent::Data(_) => true,
    })
}

/// S17 is relevant when the coordinator has failed over (its epoch is above 0) and a partition
/// holds two or more markers of one producer id.
pub fn coordinator_epoch_monotonic_relevant(_: &EosModel, s: &EosState) -> bool {
    let failed_over = coordinator(s).is_some_and(|c| c.core.coordinator_epoch() > 0);
    failed_over
        && partitions(s).iter().any(|p| {
            let mut seen = BTreeSet::new();
            p.core
                .log()
                .iter()
                .filter(|b| b.is_control())
                .any(|b| !seen.insert(b.producer_id))
        })
}

fn coordinator_epoch_monotonic_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    let mut v = Vec::new();
    for (i, p) in partitions(s).iter().enumerate() {
        let mut last: BTreeMap<ProducerId, i32> = BTreeMap::new();
        for b in p.core.log() {
            if let BatchContent::Control {
                coordinator_epoch, ..
            } = b.content
            {
                let l = *last.entry(b.producer_id).or_insert(coordinator_epoch);
                if coordinator_epoch < l {
                    v.push(format!(
                        "t-{i}: {} after a marker of coordinator epoch {l}",
                        batch_text(b)
                    ));
                }
                last.insert(b.producer_id, l.max(coordinator_epoch));
            }
        }
    }
    v
}

// ------------------------------------------------------------------ client-visible

/// The records of transactions the client was told committed: (record, origin).
fn told_committed_records(m: &EosModel, s: &EosState) -> Vec<(Rec, RecInfo)> {
    m.cfg
        .records
        .iter()
        .enumerate()
        .filter(|(_, info)| info_is_transactional(m, **info) && told_committed(s, **info))
        .filter_map(|(i, info)| Some((Rec::try_from(i).ok()?, *info)))
        .collect()
}

/// Whether record `info` comes from a transactional producer.
pub(crate) fn info_is_transactional(m: &EosModel, info: RecInfo) -> bool {
    m.cfg
        .scenario
        .producers
        .get(info.producer)
        .is_some_and(|p| p.transactional_id.is_some())
}

/// What S19 finds wrong with record `rec` of a told-committed transaction, if anything.
fn committed_record_fault(
    m: &EosModel,
    s: &EosState,
    rec: Rec,
    info: RecInfo,
    views: &[&[(Offset, Rec)]],
) -> Option<String> {
    let acked = producers(s)
        .get(info.producer)
        .is_some_and(|p| p.acked.iter().any(|(r, _)| *r == rec));
    if !acked {
        return Some(format!(
            "producer-{} was told transaction {} committed, but its send of r{rec} failed",
            info.producer + 1,
            info.txn + 1
        ));
    }
    let k = usize::from(info.partition);
    let visible = views
        .get(k)
        .map_or(0, |v| v.iter().filter(|(_, r)| *r == rec).count());
    // Closed by a COMMIT marker and below the last stable offset: an earlier transaction
    // still open at the partition (another transactional id's) holds read_committed back.
    let written = partitions(s).get(k).is_some_and(|p| {
        let lso = p.core.last_stable_offset();
        p.entries().iter().any(|d| {
            d.transactional
                && d.outcome == Some(TransactionResult::Commit)
                && d.offset < lso
                && m.cfg
                    .rec(d.rec)
                    .is_some_and(|o| (o.producer, o.txn) == (info.producer, info.txn))
        })
    });
    if visible > 1 || (written && visible != 1) {
        return Some(format!(
            "r{rec} of transaction {} (producer-{} told committed) is returned {visible} times by read_committed on t-{}{}",
            info.txn + 1,
            info.producer + 1,
            info.partition,
            if written {
                " after its COMMIT marker, below the LSO"
            } else {
                ""
            }
        ));
    }
    None
}

/// S19 (KAFKA-9279 class): every record of a transaction the client was told committed was
/// acknowledged (no send of it failed), is returned by a read_committed consumer at most once,
/// and exactly once after the transaction's COMMIT marker is written at its partition (a
/// record of the transaction there is closed by a COMMIT marker) and the last stable offset
/// has passed it (an earlier open transaction of another transactional id holds read_committed
/// back: a read_committed fetch, Kafka's `FetchIsolation.TXN_COMMITTED`, reads only below the
/// last stable offset).
pub fn committed_exactly_once(m: &EosModel, s: &EosState) -> bool {
    let views: Vec<&[(Offset, Rec)]> = partitions(s).iter().map(|p| p.read_committed()).collect();
    told_committed_records(m, s)
        .into_iter()
        .all(|(rec, info)| committed_record_fault(m, s, rec, info, &views).is_none())
}

/// S19 is relevant when the client was told a transaction committed.
pub fn committed_exactly_once_relevant(_: &EosModel, s: &EosState) -> bool {
    producers(s).iter().any(|p| p.committed != 0)
}

fn committed_exactly_once_witness(m: &EosModel, s: &EosState) -> Vec<String> {
    let views: Vec<&[(Offset, Rec)]> = partitions(s).iter().map(|p| p.read_committed()).collect();
    told_committed_records(m, s)
        .into_iter()
        .filter_map(|(rec, info)| committed_record_fault(m, s, rec, info, &views))
        .collect()
}

/// S20: per partition, the read_committed view never goes backwards: every record a
/// read_committed fetch returned before is still returned at the same offset, and the LSO is
/// the highest it has been (ghost fields of the partition actor: what was delivered so far and
/// the highest LSO).
pub fn read_committed_monotonic(_: &EosModel, s: &EosState) -> bool {
    every_partition(s, PartitionCheck::ReadCommittedMonotonic)
}

/// S20 is relevant once a read_committed fetch has returned something or the LSO has moved.
pub fn read_committed_monotonic_relevant(_: &EosModel, s: &EosState) -> bool {
    partitions(s)
        .iter()
        .any(|p| !p.delivered.is_empty() || p.lso_seen > 0)
}

fn read_committed_monotonic_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    let mut v = Vec::new();
    for (i, p) in partitions(s).iter().enumerate() {
        let lso = p.core.last_stable_offset();
        if lso < p.lso_seen {
            v.push(format!(
                "t-{i}: LSO={lso} below the LSO {} seen before",
                p.lso_seen
            ));
        }
        let view: BTreeSet<(Offset, Rec)> = read_committed(&p.core).into_iter().collect();
        for (offset, rec) in p.delivered.difference(&view) {
            v.push(format!(
                "t-{i}: read_committed returned r{rec}@{offset} before and no longer does"
            ));
        }
    }
    v
}

/// C1: a producer ends in a fatal error only by being fenced. The fencing errors are the
/// KIP-1050 `ApplicationRecoverableException`s of the coordinator RPCs, which applications such
/// as Kafka Streams handle by re-creating the producer: PRODUCER_FENCED (INVALID_PRODUCER_EPOCH
/// from a coordinator RPC becomes it, `ProducerFencedException`), INVALID_PRODUCER_EPOCH, and
/// INVALID_PRODUCER_ID_MAPPING (`InvalidPidMappingException`: a newer instance rotated the
/// producer id). Any other fatal error (INVALID_TXN_STATE, which kills a Kafka Streams thread:
/// KAFKA-20785; UNKNOWN_SERVER_ERROR) breaks it, whatever other instances did.
pub fn no_fatal_error_without_fencing(_: &EosModel, s: &EosState) -> bool {
    producers(s).iter().all(|p| fatal_only_by_fencing(p))
}

/// One producer is not in FatalError, or got there by a fencing error.
fn fatal_only_by_fencing(p: &ProducerActorState) -> bool {
    use kafka_eos::ErrorCode::{InvalidProducerEpoch, InvalidProducerIdMapping, ProducerFenced};
    p.core.state() != ProducerState::FatalError
        || matches!(
            p.core.last_error(),
            Some(ProducerFenced | InvalidProducerEpoch | InvalidProducerIdMapping)
        )
}

/// C1 is relevant when some producer is in FatalError or holds an error answer it has not
/// moved past yet: the client had to classify an error as fatal, abortable or retriable.
pub fn no_fatal_error_without_fencing_relevant(_: &EosModel, s: &EosState) -> bool {
    producers(s)
        .iter()
        .any(|p| p.core.state() == ProducerState::FatalError || p.core.last_error().is_some())
}

fn no_fatal_error_without_fencing_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    producers(s)
        .iter()
        .enumerate()
        .filter(|(_, p)| !fatal_only_by_fencing(p))
        .map(|(i, p)| {
            format!(
                "producer {i}: FatalError after {:?}, not a fencing error",
                p.core.last_error()
            )
        })
        .collect()
}

// ------------------------------------------------------------------ liveness (quiescent)

/// Every producer's application is done (the cheap half of quiescence).
fn all_done(s: &EosState) -> bool {
    producers(s).iter().all(|p| p.phase == AppPhase::Done)
}

/// Quiescent: every producer's application is done and no message delivery or producer
/// request timeout can change anything any more (perturbation timers of the coordinator
/// and leaders are not counted: they are bounded adversaries, not work).
pub fn quiescent(m: &EosModel, s: &EosState) -> bool {
    if !all_done(s) {
        return false;
    }
    let np = m.cfg.scenario.producers.len();
    let mut actions = Vec::new();
    m.actions(s, &mut actions);
    !actions.into_iter().any(|a| {
        let relevant = match &a {
            ActorModelAction::Deliver { .. } => true,
            ActorModelAction::Timeout(id, _) => usize::from(*id) < np,
            _ => false,
        };
        relevant && m.next_state(s, a).is_some()
    })
}

/// L2: when quiescent, no partition has an open transaction: LSO = HW everywhere (a
/// transaction left Ongoing at the coordinator with no data anywhere holds nothing back and
/// is the coordinator timeout's job, not a hanging transaction).
pub fn no_hanging_transaction(m: &EosModel, s: &EosState) -> bool {
    if !all_done(s) {
        return true;
    }
    let settled = partitions(s)
        .iter()
        .all(|p| p.core.last_stable_offset() == p.core.high_watermark());
    settled || !quiescent(m, s)
}

/// L2 is relevant in quiescent states (its antecedent).
pub fn no_hanging_transaction_relevant(m: &EosModel, s: &EosState) -> bool {
    all_done(s) && quiescent(m, s)
}

fn no_hanging_transaction_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    partitions(s)
        .iter()
        .enumerate()
        .filter(|(_, p)| p.core.last_stable_offset() != p.core.high_watermark())
        .map(|(i, p)| {
            format!(
                "t-{i}: LSO={} stays below HW={} with nothing left to do",
                p.core.last_stable_offset(),
                p.core.high_watermark()
            )
        })
        .collect()
}

/// L3: when quiescent, no transaction is left in PrepareCommit/PrepareAbort.
pub fn prepare_completes(m: &EosModel, s: &EosState) -> bool {
    if !all_done(s) {
        return true;
    }
    let settled = coordinator(s).is_none_or(|c| {
        c.core
            .transactions()
            .values()
            .all(|t| !t.state.is_prepare())
    });
    settled || !quiescent(m, s)
}

/// L3 is relevant in quiescent states.
pub fn prepare_completes_relevant(m: &EosModel, s: &EosState) -> bool {
    all_done(s) && quiescent(m, s)
}

fn prepare_completes_witness(_: &EosModel, s: &EosState) -> Vec<String> {
    coordinator(s)
        .map(|c| {
            c.core
                .transactions()
                .iter()
                .filter(|(_, t)| t.state.is_prepare())
                .map(|(tid, t)| {
                    format!(
                        "\"{tid}\" pid={} epoch={} stays in {:?} with nothing left to do",
                        t.producer_id, t.producer_epoch, t.state
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// L4: when quiescent, every acknowledged record of a transaction the client was told
/// committed (and every acknowledged idempotent record) is returned by read_committed.
pub fn committed_readable(m: &EosModel, s: &EosState) -> bool {
    if !all_done(s) {
        return true;
    }
    let visible: Vec<&[(Offset, Rec)]> = partitions(s).iter().map(|p| p.read_committed()).collect();
    let all = producers(s).iter().enumerate().all(|(pi, p)| {
        let transactional = m
            .cfg
            .scenario
            .producers
            .get(pi)
            .is_some_and(|sc| sc.transactional_id.is_some());
        p.acked.iter().all(|(rec, offset)| {
            let Some(info) = m.cfg.rec(*rec) else {
                return true;
            };
            if transactional && !told_committed(s, info) {
                return true;
            }
            visible.get(usize::from(info.partition)).is_some_and(|v| {
                v.iter()
                    .any(|(o, r)| r == rec && at_acked_offset(*offset, *o))
            })
        })
    });
    all || !quiescent(m, s)
}

/// L4 is relevant in quiescent states where some acknowledged record must be readable: one of
/// a transaction the client was told committed, or one of an idempotent producer.
pub fn committed_readable_relevant(m: &EosModel, s: &EosState) -> bool {
    all_done(s) && !must_be_readable(m, s).is_empty() && quiescent(m, s)
}

/// The acknowledged records L4 requires read_committed to return: (producer index, record,
/// acknowledged offset).
fn must_be_readable(m: &EosModel, s: &EosState) -> Vec<(usize, Rec, Offset)> {
    let mut v = Vec::new();
    for (pi, p) in producers(s).iter().enumerate() {
        let transactional = m
            .cfg
            .scenario
            .producers
            .get(pi)
            .is_some_and(|sc| sc.transactional_id.is_some());
        for (rec, offset) in &p.acked {
            let Some(info) = m.cfg.rec(*rec) else {
                continue;
            };
            if transactional && !told_committed(s, info) {
                continue;
            }
            v.push((pi, *rec, *offset));
        }
    }
    v
}

fn committed_readable_witness(m: &EosModel, s: &EosState) -> Vec<String> {
    let parts = partitions(s);
    must_be_readable(m, s)
        .into_iter()
        .filter_map(|(pi, rec, offset)| {
            let info = m.cfg.rec(rec)?;
            let visible = parts
                .get(usize::from(info.partition))
                .is_some_and(|p| {
                    p.read_committed()
                        .iter()
                        .any(|(o, r)| *r == rec && at_acked_offset(offset, *o))
                });
            (!visible).then(|| {
                format!(
                    "producer-{} was told r{rec} (transaction {}) is committed at {}, read_committed on t-{} does not return it",
                    pi + 1,
                    info.txn + 1,
                    offset_words(offset),
                    info.partition
                )
            })
        })
        .collect()
}

// ------------------------------------------------------------------ probes

fn pflags(s: &EosState) -> u8 {
    partitions(s).iter().fold(0, |a, p| a | p.flags)
}

fn cflags(s: &EosState) -> u8 {
    coordinator(s).map_or(0, |c| c.flags)
}

fn txn_partitions(m: &EosModel, s: &EosState, result: TransactionResult) -> bool {
    let mut parts: BTreeMap<(usize, u8), BTreeSet<u8>> = BTreeMap::new();
    for (i, p) in partitions(s).iter().enumerate() {
        for &d in p.entries() {
            let Some(info) = m.cfg.rec(d.rec) else {
                continue;
            };
            let told = match result {
                TransactionResult::Commit => {
                    told_committed(s, info) && d.outcome == Some(TransactionResult::Commit)
                }
                TransactionResult::Abort => told_aborted(s, info),
            };
            if told {
                parts
                    .entry((info.producer, info.txn))
                    .or_default()
                    .insert(u8::try_from(i).unwrap_or(u8::MAX));
            }
        }
    }
    parts.values().any(|p| p.len() >= 2)
}

fn probe_duplicate(_: &EosModel, s: &EosState) -> bool {
    pflags(s) & pflag::DUPLICATE != 0
}
fn probe_out_of_order(_: &EosModel, s: &EosState) -> bool {
    pflags(s) & pflag::OUT_OF_ORDER != 0
}
fn probe_fenced(_: &EosModel, s: &EosState) -> bool {
    pflags(s) & pflag::FENCED != 0 || cflags(s) & cflag::FENCED != 0
}
fn probe_concurrent(_: &EosModel, s: &EosState) -> bool {
    cflags(s) & cflag::CONCURRENT != 0
}
fn probe_commit_2(m: &EosModel, s: &EosState) -> bool {
    txn_partitions(m, s, TransactionResult::Commit)
}
fn probe_abort_2(m: &EosModel, s: &EosState) -> bool {
    txn_partitions(m, s, TransactionResult::Abort)
}
fn probe_lso_held(_: &EosModel, s: &EosState) -> bool {
    partitions(s)
        .iter()
        .any(|p| p.core.last_stable_offset() < p.core.high_watermark())
}
fn probe_failover_prepare(_: &EosModel, s: &EosState) -> bool {
    cflags(s) & cflag::FAILOVER_PREPARE != 0
}
fn probe_timeout_abort(_: &EosModel, s: &EosState) -> bool {
    cflags(s) & cflag::TIMEOUT_ABORT != 0
}
fn probe_late_produce(_: &EosModel, s: &EosState) -> bool {
    pflags(s) & pflag::LATE_PRODUCE != 0
}
fn probe_stale_marker(_: &EosModel, s: &EosState) -> bool {
    pflags(s) & pflag::STALE_MARKER != 0
}
/// An expiry happened (derived from the spent expiry budget: an expiry firing that changes
/// nothing is a no-op and spends none) and the partition tracks a producer again.
fn probe_expired(m: &EosModel, s: &EosState) -> bool {
    partitions(s)
        .iter()
        .any(|p| p.expiries_left < m.cfg.scenario.expiries && !p.core.producers().is_empty())
}
fn probe_late_endtxn(_: &EosModel, s: &EosState) -> bool {
    cflags(s) & cflag::LATE_ENDTXN != 0
}
fn probe_append_failed(_: &EosModel, s: &EosState) -> bool {
    cflags(s) & cflag::APPEND_FAILED != 0
}
fn probe_acked(_: &EosModel, s: &EosState) -> bool {
    producers(s).iter().any(|p| !p.acked.is_empty())
}

/// An idempotent producer is done with nothing in flight, one record acknowledged, and
/// another of its records, for another partition, in no log.
fn probe_partial_write(m: &EosModel, s: &EosState) -> bool {
    let parts = partitions(s);
    let written = |rec: Rec, partition: u8| {
        parts.get(usize::from(partition)).is_some_and(|leader| {
            leader
                .core
                .log()
                .iter()
                .any(|b| b.content == BatchContent::Data(rec))
        })
    };
    producers(s).iter().enumerate().any(|(index, p)| {
        !p.core.is_transactional()
            && p.phase == AppPhase::Done
            && p.batches.is_empty()
            && p.core.outstanding().is_empty()
            && p.acked.iter().any(|(acked, _)| {
                let Some(a) = m.cfg.rec(*acked) else {
                    return false;
                };
                m.cfg.records.iter().enumerate().any(|(rec, info)| {
                    let rec = Rec::try_from(rec).unwrap_or(Rec::MAX);
                    info.producer == index
                        && info.partition != a.partition
                        && !written(rec, info.partition)
                })
            })
    })
}

fn result_word(r: TransactionResult) -> &'static str {
    match r {
        TransactionResult::Commit => "committed",
        TransactionResult::Abort => "aborted",
    }
}

fn offset_words(offset: Offset) -> String {
    if offset == UNKNOWN_OFFSET {
        "an unknown offset".to_string()
    } else {
        format!("@{offset}")
    }
}

// ------------------------------------------------------------------ script completion

/// The completion probe names, by producer index (`producer-1`, ...).
pub const COMPLETED: [&str; 4] = [
    "probe: producer-1 script completed",
    "probe: producer-2 script completed",
    "probe: producer-3 script completed",
    "probe: producer-4 script completed",
];

/// Producer `I` reached the end of its script: its application is done, not by a fatal error,
/// and no record is awaiting its outcome.
fn probe_completed<const I: usize>(_: &EosModel, s: &EosState) -> bool {
    producers(s).get(I).is_some_and(|p| {
        p.phase == AppPhase::Done
            && p.core.state() != ProducerState::FatalError
            && p.batches.is_empty()
    })
}

const COMPLETED_CONDITIONS: [Condition; 4] = [
    probe_completed::<0>,
    probe_completed::<1>,
    probe_completed::<2>,
    probe_completed::<3>,
];

/// The completion probe of producer `index` (name and condition), if the model has one.
pub fn completion_probe(index: usize) -> Option<(&'static str, Condition)> {
    Some((*COMPLETED.get(index)?, *COMPLETED_CONDITIONS.get(index)?))
}

// ------------------------------------------------------------------ tables

/// A property's condition (stateright needs a plain `fn` pointer).
pub type Condition = fn(&EosModel, &EosState) -> bool;

/// The records or log entries that break a property in a state (best effort, in words).
pub type Witness = fn(&EosModel, &EosState) -> Vec<String>;

/// One `always` property: its condition, when it is *relevant* (its antecedent is
/// non-trivial, so "holds" says something), and what breaks it.
pub struct AlwaysProperty {
    /// The name (S1, ..., L4).
    pub name: &'static str,
    /// The invariant.
    pub condition: Condition,
    /// The relevance predicate: the states where the invariant is not trivially true.
    pub relevant: Condition,
    /// The name of the relevance predicate as a `sometimes` property (stateright's checkers
    /// report it reached or not; the built-in BFS counts its states).
    pub relevance_probe: &'static str,
    /// The records that break it, in words.
    pub witness: Witness,
}

macro_rules! always {
    ($name:expr, $cond:ident, $rel:ident, $wit:ident) => {
        AlwaysProperty {
            name: $name,
            condition: $cond,
            relevant: $rel,
            relevance_probe: concat!("relevant: ", stringify!($cond)),
            witness: $wit,
        }
    };
}

/// Every `always` property.
pub const ALWAYS: &[AlwaysProperty] = &[
    always!(
        S1,
        no_duplicate,
        no_duplicate_relevant,
        no_duplicate_witness
    ),
    always!(
        S2,
        no_acked_loss,
        no_acked_loss_relevant,
        no_acked_loss_witness
    ),
    always!(
        S3,
        sequence_contiguity,
        sequence_contiguity_relevant,
        sequence_contiguity_witness
    ),
    always!(
        S4,
        epoch_monotonic,
        epoch_monotonic_relevant,
        epoch_monotonic_witness
    ),
    always!(
        S5,
        zombie_fencing,
        zombie_fencing_relevant,
        zombie_fencing_witness
    ),
    always!(S9, atomicity, atomicity_relevant, atomicity_witness),
    always!(
        S10,
        commit_durability,
        commit_durability_relevant,
        commit_durability_witness
    ),
    always!(
        S11,
        no_aborted_read,
        no_aborted_read_relevant,
        no_aborted_read_witness
    ),
    always!(
        S12,
        read_committed_bound,
        read_committed_bound_relevant,
        read_committed_bound_witness
    ),
    always!(
        S13,
        lso_well_formed,
        lso_well_formed_relevant,
        lso_well_formed_witness
    ),
    always!(
        S14,
        transaction_membership,
        transaction_membership_relevant,
        transaction_membership_witness
    ),
    always!(
        S15,
        no_cross_transaction_leak,
        no_cross_transaction_leak_relevant,
        no_cross_transaction_leak_witness
    ),
    always!(
        S17,
        coordinator_epoch_monotonic,
        coordinator_epoch_monotonic_relevant,
        coordinator_epoch_monotonic_witness
    ),
    always!(
        L2,
        no_hanging_transaction,
        no_hanging_transaction_relevant,
        no_hanging_transaction_witness
    ),
    always!(
        L3,
        prepare_completes,
        prepare_completes_relevant,
        prepare_completes_witness
    ),
    always!(
        L4,
        committed_readable,
        committed_readable_relevant,
        committed_readable_witness
    ),
    always!(
        S19,
        committed_exactly_once,
        committed_exactly_once_relevant,
        committed_exactly_once_witness
    ),
    always!(
        S20,
        read_committed_monotonic,
        read_committed_monotonic_relevant,
        read_committed_monotonic_witness
    ),
    always!(
        C1,
        no_fatal_error_without_fencing,
        no_fatal_error_without_fencing_relevant,
        no_fatal_error_without_fencing_witness
    ),
];

/// The `always` property named `name` (the processor properties included).
pub fn always_property(name: &str) -> Option<&'static AlwaysProperty> {
    ALWAYS
        .iter()
        .chain(super::processor::ALWAYS)
        .find(|p| p.name == name)
}

/// The `always` properties of a scenario: every one of [`ALWAYS`], and the processor
/// properties when it has processors.
pub fn always_of(scenario: &Scenario) -> impl Iterator<Item = &'static AlwaysProperty> {
    let processors: &'static [AlwaysProperty] = if scenario.processors.is_empty() {
        &[]
    } else {
        super::processor::ALWAYS
    };
    ALWAYS.iter().chain(processors)
}

/// Every probe: name and condition.
pub const PROBES: &[(&str, Condition)] = &[
    (probe::ACKED, probe_acked),
    (probe::DUPLICATE, probe_duplicate),
    (probe::OUT_OF_ORDER, probe_out_of_order),
    (probe::FENCED, probe_fenced),
    (probe::CONCURRENT, probe_concurrent),
    (probe::COMMIT_2, probe_commit_2),
    (probe::ABORT_2, probe_abort_2),
    (probe::LSO_HELD, probe_lso_held),
    (probe::FAILOVER_PREPARE, probe_failover_prepare),
    (probe::TIMEOUT_ABORT, probe_timeout_abort),
    (probe::LATE_PRODUCE, probe_late_produce),
    (probe::LATE_ENDTXN, probe_late_endtxn),
    (probe::STALE_MARKER, probe_stale_marker),
    (probe::EXPIRED, probe_expired),
    (probe::APPEND_FAILED, probe_append_failed),
    (probe::PARTIAL_WRITE, probe_partial_write),
];

/// The probes of a scenario: its mechanism probes, then one completion probe per producer.
pub fn probes_of(scenario: &Scenario) -> Vec<(&'static str, Condition)> {
    let mut v: Vec<(&'static str, Condition)> = PROBES
        .iter()
        .chain(super::processor::PROBES)
        .filter(|(name, _)| scenario.probes.contains(name))
        .copied()
        .collect();
    v.extend((0..scenario.producers.len()).filter_map(completion_probe));
    v
}

/// The properties of a scenario: every `always` property, the scenario's probes and one
/// completion probe per producer.
pub fn properties_of(scenario: &Scenario) -> Vec<Property<EosModel>> {
    let mut v: Vec<Property<EosModel>> = always_of(scenario)
        .map(|p| Property {
            expectation: Expectation::Always,
            name: p.name,
            condition: p.condition,
        })
        .collect();
    for (name, condition) in probes_of(scenario) {
        v.push(Property {
            expectation: Expectation::Sometimes,
            name,
            condition,
        });
    }
    v
}

/// [`properties_of`] plus each `always` property's relevance predicate as a `sometimes`
/// property (for stateright's own checkers, which cannot count states per predicate).
pub fn properties_with_relevance(scenario: &Scenario) -> Vec<Property<EosModel>> {
    let mut v = properties_of(scenario);
    for p in always_of(scenario) {
        v.push(Property {
            expectation: Expectation::Sometimes,
            name: p.relevance_probe,
            condition: p.relevant,
        });
    }
    v
}
