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

use super::actors::{cflag, pflag, AppPhase, Rec, UNKNOWN_OFFSET};
use super::scenario::Scenario;
use super::{coordinator, partitions, producers, EosModel, EosState, RecInfo};

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
    partitions(s).iter().all(|p| {
        let mut seen = BTreeSet::new();
        data_entries(p.core.log())
            .iter()
            .filter(|d| d.outcome != Some(TransactionResult::Abort))
            .all(|d| seen.insert(d.rec))
    })
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

/// S3: per partition and (producer id, epoch), consecutive data batches have consecutive
/// sequences (no gap, no repeat).
pub fn sequence_contiguity(_: &EosModel, s: &EosState) -> bool {
    partitions(s).iter().all(|p| {
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
    })
}

/// Per partition and producer id: no batch selected by `is_checked` has an epoch below an
/// earlier batch of the same producer id.
fn epochs_never_regress(s: &EosState, is_checked: fn(&LogBatch<Rec>) -> bool) -> bool {
    partitions(s).iter().all(|p| {
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
    })
}

/// S4: per partition and producer id, no marker carries an epoch below an earlier batch's.
pub fn epoch_monotonic(_: &EosModel, s: &EosState) -> bool {
    epochs_never_regress(s, |b| b.is_control())
}

/// S5: per partition and producer id, no data batch is appended with an epoch below an
/// earlier batch's (a fenced zombie never writes after its successor).
pub fn zombie_fencing(_: &EosModel, s: &EosState) -> bool {
    epochs_never_regress(s, |b| !b.is_control())
}

/// The decided outcomes of each client transaction's records, over all partitions.
fn outcomes(m: &EosModel, s: &EosState) -> BTreeMap<(usize, u8), BTreeSet<TransactionResult>> {
    let mut map: BTreeMap<(usize, u8), BTreeSet<TransactionResult>> = BTreeMap::new();
    for p in partitions(s) {
        for d in data_entries(p.core.log()) {
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

/// S10: a transaction the client was told committed has none of its acknowledged records
/// aborted; one it was told aborted has none committed.
pub fn commit_durability(m: &EosModel, s: &EosState) -> bool {
    let parts = partitions(s);
    let entries: Vec<Vec<DataEntry>> = parts.iter().map(|p| data_entries(p.core.log())).collect();
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
    entries.iter().flatten().all(|d| {
        d.outcome != Some(TransactionResult::Commit)
            || m.cfg.rec(d.rec).is_none_or(|info| !told_aborted(s, info))
    })
}

/// S11: a read_committed consumer never returns a record whose transaction aborted at that
/// partition, nor one of a transaction the client was told aborted.
pub fn no_aborted_read(m: &EosModel, s: &EosState) -> bool {
    partitions(s).iter().all(|p| {
        let entries = data_entries(p.core.log());
        read_committed(&p.core).iter().all(|(offset, rec)| {
            let aborted_here = entries
                .iter()
                .any(|d| d.offset == *offset && d.outcome == Some(TransactionResult::Abort));
            let told = m.cfg.rec(*rec).is_some_and(|info| told_aborted(s, info));
            !aborted_here && !told
        })
    })
}

/// S12: a read_committed consumer returns only non-transactional records and records whose
/// transaction committed at that partition, all below the LSO.
pub fn read_committed_bound(_: &EosModel, s: &EosState) -> bool {
    partitions(s).iter().all(|p| {
        let entries = data_entries(p.core.log());
        let lso = p.core.last_stable_offset();
        read_committed(&p.core).iter().all(|(offset, _)| {
            *offset < lso
                && entries.iter().any(|d| {
                    d.offset == *offset
                        && (!d.transactional || d.outcome == Some(TransactionResult::Commit))
                })
        })
    })
}

/// S13: LSO = min(first offset of the open transactions, HW), computed from the log.
pub fn lso_well_formed(_: &EosModel, s: &EosState) -> bool {
    partitions(s).iter().all(|p| {
        let hw = p.core.high_watermark();
        let first_open = open_transactions(p.core.log())
            .values()
            .map(|(o, _)| *o)
            .min();
        let expected = first_open.map_or(hw, |o| o.min(hw));
        p.core.last_stable_offset() == expected
    })
}

fn tracked(
    c: &TransactionCoordinator,
    partition: u8,
    pid: ProducerId,
    epoch: ProducerEpoch,
) -> bool {
    let tp = super::actors::topic_partition(partition);
    c.transactions().values().any(|t| {
        t.producer_id == pid
            && epoch <= t.producer_epoch
            && matches!(
                t.state,
                TransactionState::Ongoing
                    | TransactionState::PrepareCommit
                    | TransactionState::PrepareAbort
                    | TransactionState::PrepareEpochFence
            )
            && t.partitions.contains(&tp)
    })
}

/// S14: every transaction open at a partition belongs to a transaction the coordinator
/// tracks (same producer id, epoch not above the coordinator's, Ongoing or Prepare*, the
/// partition in its set).
pub fn transaction_membership(_: &EosModel, s: &EosState) -> bool {
    let Some(c) = coordinator(s) else { return true };
    partitions(s).iter().enumerate().all(|(i, p)| {
        let index = u8::try_from(i).unwrap_or(u8::MAX);
        open_transactions(p.core.log())
            .iter()
            .all(|(pid, (_, epoch))| tracked(&c.core, index, *pid, *epoch))
    })
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

/// S17: per partition and producer id, the coordinator epochs of accepted markers never
/// decrease.
pub fn coordinator_epoch_monotonic(_: &EosModel, s: &EosState) -> bool {
    partitions(s).iter().all(|p| {
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
    })
}

// ------------------------------------------------------------------ client-visible

/// C1: a producer ends in a fatal error only by being fenced. The fencing errors are the
/// KIP-1050 `ApplicationRecoverableException`s of the coordinator RPCs, which applications such
/// as Kafka Streams handle by re-creating the producer: PRODUCER_FENCED (INVALID_PRODUCER_EPOCH
/// from a coordinator RPC becomes it, `ProducerFencedException`), INVALID_PRODUCER_EPOCH, and
/// INVALID_PRODUCER_ID_MAPPING (`InvalidPidMappingException`: a newer instance rotated the
/// producer id). Any other fatal error (INVALID_TXN_STATE, which kills a Kafka Streams thread:
/// KAFKA-20785; UNKNOWN_SERVER_ERROR) breaks it, whatever other instances did.
pub fn no_fatal_error_without_fencing(_: &EosModel, s: &EosState) -> bool {
    use kafka_eos::producer::TransactionState as Client;
    use kafka_eos::ErrorCode::{InvalidProducerEpoch, InvalidProducerIdMapping, ProducerFenced};
    producers(s).iter().all(|p| {
        p.core.state() != Client::FatalError
            || matches!(
                p.core.last_error(),
                Some(ProducerFenced | InvalidProducerEpoch | InvalidProducerIdMapping)
            )
    })
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

/// L4: when quiescent, every acknowledged record of a transaction the client was told
/// committed (and every acknowledged idempotent record) is returned by read_committed.
pub fn committed_readable(m: &EosModel, s: &EosState) -> bool {
    if !all_done(s) {
        return true;
    }
    let visible: Vec<Vec<(Offset, Rec)>> = partitions(s)
        .iter()
        .map(|p| read_committed(&p.core))
        .collect();
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
        for d in data_entries(p.core.log()) {
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
fn probe_expired(_: &EosModel, s: &EosState) -> bool {
    partitions(s)
        .iter()
        .any(|p| p.flags & pflag::EXPIRED != 0 && !p.core.producers().is_empty())
}
fn probe_late_endtxn(_: &EosModel, s: &EosState) -> bool {
    cflags(s) & cflag::LATE_ENDTXN != 0
}
fn probe_acked(_: &EosModel, s: &EosState) -> bool {
    producers(s).iter().any(|p| !p.acked.is_empty())
}

/// A property's condition (stateright needs a plain `fn` pointer).
pub type Condition = fn(&EosModel, &EosState) -> bool;

/// Every `always` property: name and condition.
pub const ALWAYS: &[(&str, Condition)] = &[
    (S1, no_duplicate),
    (S2, no_acked_loss),
    (S3, sequence_contiguity),
    (S4, epoch_monotonic),
    (S5, zombie_fencing),
    (S9, atomicity),
    (S10, commit_durability),
    (S11, no_aborted_read),
    (S12, read_committed_bound),
    (S13, lso_well_formed),
    (S14, transaction_membership),
    (S15, no_cross_transaction_leak),
    (S17, coordinator_epoch_monotonic),
    (L2, no_hanging_transaction),
    (L3, prepare_completes),
    (L4, committed_readable),
    (C1, no_fatal_error_without_fencing),
];

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
];

/// The properties of a scenario: every `always` property and the scenario's probes.
pub fn properties_of(scenario: &Scenario) -> Vec<Property<EosModel>> {
    let mut v: Vec<Property<EosModel>> = ALWAYS
        .iter()
        .map(|(name, f)| Property {
            expectation: Expectation::Always,
            name,
            condition: *f,
        })
        .collect();
    for (name, f) in PROBES {
        if scenario.probes.contains(name) {
            v.push(Property {
                expectation: Expectation::Sometimes,
                name,
                condition: *f,
            });
        }
    }
    v
}
