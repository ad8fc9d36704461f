//! The partition leader: the log of one partition with one replica (high watermark = log end
//! offset), its per-producer state and transaction bookkeeping.
//!
//! Kafka's classes: `UnifiedLog` (append order, duplicate detection, verification check),
//! `ProducerStateManager` / `ProducerAppendInfo` / `ProducerStateEntry` (epoch, sequence and
//! transactional-flag rules, markers, expiry), `TransactionIndex` (aborted transactions) and the
//! consumer's `CompletedFetch` (read_committed filtering, [`consumer_records`]).
//!
//! Every input is all-or-nothing: a rejected append or marker returns an [`ErrorCode`] and
//! changes no state.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::types::{
    increment_sequence, CoordinatorEpoch, Offset, ProducerEpoch, ProducerId, Sequence, TimestampMs,
    TransactionResult, TransactionVersion, NO_PRODUCER_EPOCH, NUM_BATCHES_TO_RETAIN,
};

mod producer_state;
mod requests;
mod retention;

pub use producer_state::{
    BatchMetadata, ProducerStateEntry, VerificationGuard, VerificationStateEntry,
};
pub use requests::{produce_response, PendingProduce, ProduceResult, ProduceStep};
pub use retention::{cleanup_policy_allows_delete, RetentionError, DELETE_RECORDS_HIGH_WATERMARK};

/// Known-bug switches (listed in `docs/partition.md`) that re-introduce bugs of Kafka and of
/// Kafka-compatible brokers for the model checker. `Default` is Kafka's correct behaviour.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct PartitionBugs {
    /// M-I1 (knob `broker.check_sequence = false`): no duplicate detection and no sequence
    /// check; every batch with an acceptable epoch is appended.
    pub no_sequence_check: bool,
    /// M-I2 (knob `dedup_window = k`, Redpanda #3038): only the newest `k` retained batches are
    /// searched for a duplicate (`None` = Kafka's 5). The sequence check is unchanged.
    pub duplicate_window: Option<u8>,
    /// M-I4 (knob `broker.allow_seq_gap = true`): a sequence gap (`first > last + 1`) is
    /// accepted and a new epoch may start at any sequence; a sequence at or below the last one
    /// that is not a retained duplicate is answered DUPLICATE_SEQUENCE_NUMBER instead of
    /// OUT_OF_ORDER_SEQUENCE_NUMBER. That is the first KIP-98 broker's rule
    /// (`ProducerIdMapping.checkSeqAndEpoch`: `seq > last + 1` invalid, `seq <= last` duplicate)
    /// without its gap check; the client completes such a batch as a success with no offset
    /// (`Sender.completeBatch`), so a reordered retry is acknowledged but never written.
    pub allow_sequence_gap: bool,
    /// M-F1 (knob `broker.check_epoch = false`): data batches (and verification) skip the
    /// producer-epoch check, so a zombie's write at an old epoch is accepted.
    pub no_epoch_check: bool,
    /// M-C1 (knob `broker.check_coordinator_epoch = false`): markers from an older coordinator
    /// epoch (a zombie coordinator) are accepted.
    pub no_coordinator_epoch_check: bool,
    /// M-T5 (knob `broker.marker_match_pid_only = true`, Redpanda PR #3232): a marker applies
    /// to the producer id's open transaction whatever its epoch; a marker with an older epoch is
    /// accepted (the entry keeps the higher epoch).
    pub marker_match_pid_only: bool,
    /// M-C2 (knob `broker.expire_ignoring_markers = true`, KAFKA-9144): markers do not update
    /// the entry's last timestamp, so expiry looks only at data-record timestamps.
    pub expire_ignoring_markers: bool,
    /// M-R1 (knob `consumer.filter_aborted = false`): read_committed fetches carry no
    /// aborted-transaction list, so consumers deliver aborted records.
    pub no_aborted_filter: bool,
    /// M-R2 (knob `broker.lso_equals_hw = true`): the last stable offset ignores open
    /// transactions (LSO = HW).
    pub lso_ignores_open_transactions: bool,
    /// KAFKA-19999 (fixed by apache/kafka#21176, 2025-12): with
    /// [`PartitionConfig::strict_tv2_marker_epoch`], a TV2 marker at the entry's epoch is
    /// rejected (`INVALID_PRODUCER_EPOCH`) even with no open transaction: KIP-1228's first rule
    /// (`markerEpoch <= currentEpoch` is stale) without the idempotent-retry exception of
    /// `ProducerAppendInfo.checkProducerEpoch`. A marker re-sent after its response was lost,
    /// or by a coordinator that reloaded the Prepare* entry, is then refused, the coordinator
    /// drops it, and the transaction never leaves Prepare*. No effect without the strict rule.
    pub strict_marker_rejects_retry: bool,
}

/// Settings of a partition leader. `Default` is Kafka's defaults with every bug switch off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartitionConfig {
    /// `producer.id.expiration.ms` (default 86 400 000): idle producer state is removed after
    /// this long (`ProducerStateManager.removeExpiredProducers`).
    pub producer_id_expiration_ms: i64,
    /// `transaction.partition.verification.enable` (KIP-890 part 1, default true): a
    /// transactional batch that starts a transaction must carry a matching verification guard.
    pub transaction_verification: bool,
    /// KIP-1228 (Kafka trunk 2026, opt-in, default off): a TV2 marker must carry an epoch above the
    /// entry's, except an equal epoch with no open transaction (KAFKA-19999 retry, Kafka's fix
    /// `ProducerAppendInfo.checkProducerEpoch`; [`PartitionBugs::strict_marker_rejects_retry`]
    /// removes the exception).
    pub strict_tv2_marker_epoch: bool,
    /// Known-bug switches for the model checker (all off by default).
    pub bugs: PartitionBugs,
}

impl Default for PartitionConfig {
    fn default() -> Self {
        PartitionConfig {
            producer_id_expiration_ms: 86_400_000,
            transaction_verification: true,
            strict_tv2_marker_epoch: false,
            bugs: PartitionBugs::default(),
        }
    }
}

/// Misuse of the partition leader's API (not a Kafka protocol error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    /// A fetch outside `[log start offset, log end offset]`; Kafka answers
    /// `OFFSET_OUT_OF_RANGE (1)`.
    #[error("fetch offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// The requested offset.
        offset: Offset,
        /// The log start offset.
        log_start_offset: Offset,
        /// The log end offset.
        log_end_offset: Offset,
    },
}

/// A produced record batch as the leader sees it (`RecordBatch` header fields); the records
/// themselves are one opaque payload.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProduceBatch<P> {
    /// `producerId`; `NO_PRODUCER_ID` (or any negative id) for a plain, non-idempotent batch.
    pub producer_id: ProducerId,
    /// `producerEpoch`.
    pub producer_epoch: ProducerEpoch,
    /// `baseSequence`.
    pub base_sequence: Sequence,
    /// The number of records (`lastOffsetDelta + 1`), at least 1.
    pub record_count: i32,
    /// `isTransactional`.
    pub is_transactional: bool,
    /// `maxTimestamp`: becomes the producer's last timestamp.
    pub max_timestamp: TimestampMs,
    /// The records, opaque to the leader.
    pub payload: P,
}

/// The success of an append (`LogAppendInfo` first/last offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AppendOutcome {
    /// The batch was written at `[base_offset, last_offset]`.
    Appended {
        /// First offset of the batch.
        base_offset: Offset,
        /// Last offset of the batch.
        last_offset: Offset,
    },
    /// An exact retry of a retained batch (`ProducerStateEntry.findDuplicateBatch`): nothing
    /// written, Kafka answers `NONE` with the original batch's offsets.
    Duplicate {
        /// First offset of the original batch.
        base_offset: Offset,
        /// Last offset of the original batch.
        last_offset: Offset,
    },
}

impl AppendOutcome {
    /// The base offset returned to the producer.
    pub fn base_offset(&self) -> Offset {
        match *self {
            AppendOutcome::Appended { base_offset, .. }
            | AppendOutcome::Duplicate { base_offset, .. } => base_offset,
        }
    }
}

/// A WriteTxnMarkers entry for this partition (origin COORDINATOR): the control record
/// `EndTransactionMarker{type, coordinatorEpoch}` in a batch of the producer's id and epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TxnMarker {
    /// The producer id.
    pub producer_id: ProducerId,
    /// The producer epoch (under TV2 the bumped epoch).
    pub producer_epoch: ProducerEpoch,
    /// The coordinator's epoch.
    pub coordinator_epoch: CoordinatorEpoch,
    /// Commit or abort.
    pub result: TransactionResult,
    /// The marker record's timestamp.
    pub timestamp: TimestampMs,
    /// The transaction version the marker is written under (WriteTxnMarkers v2, KIP-1228).
    pub transaction_version: TransactionVersion,
}

/// What a log batch holds.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BatchContent<P> {
    /// A data batch and its records.
    Data(P),
    /// A control batch with one end-transaction marker record.
    Control {
        /// Commit or abort.
        result: TransactionResult,
        /// The coordinator epoch in the marker.
        coordinator_epoch: CoordinatorEpoch,
    },
}

/// One batch in the log.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogBatch<P> {
    /// First offset.
    pub base_offset: Offset,
    /// Last offset.
    pub last_offset: Offset,
    /// Producer id (`NO_PRODUCER_ID` for a plain batch).
    pub producer_id: ProducerId,
    /// Producer epoch.
    pub producer_epoch: ProducerEpoch,
    /// Base sequence (-1 for a control batch or a plain batch).
    pub base_sequence: Sequence,
    /// `isTransactional` (always true for a control batch).
    pub is_transactional: bool,
    /// Max timestamp.
    pub max_timestamp: TimestampMs,
    /// Data or control record.
    pub content: BatchContent<P>,
}

impl<P> LogBatch<P> {
    /// `RecordBatch.isControlBatch()`.
    pub fn is_control(&self) -> bool {
        matches!(self.content, BatchContent::Control { .. })
    }

    /// `RecordBatch.hasProducerId()`: `NO_PRODUCER_ID < producerId`.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
}

/// `TxnMetadata` of an ongoing or unreplicated transaction (keyed by first offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TxnMetadata {
    /// The producer id.
    pub producer_id: ProducerId,
    /// The transaction's first offset.
    pub first_offset: Offset,
    /// The marker's offset, once written.
    pub last_offset: Option<Offset>,
}

/// An entry of the aborted-transaction index (`AbortedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AbortedTxn {
    /// The producer id.
    pub producer_id: ProducerId,
    /// The transaction's first offset.
    pub first_offset: Offset,
    /// The abort marker's offset.
    pub last_offset: Offset,
    /// The LSO once this transaction completed (`ProducerStateManager.lastStableOffset`).
    pub last_stable_offset: Offset,
}

/// A `(producerId, firstOffset)` pair of a fetch response's aborted-transaction list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AbortedTransaction {
    /// The producer id.
    pub producer_id: ProducerId,
    /// The aborted transaction's first offset.
    pub first_offset: Offset,
}

/// The fetch isolation level (`IsolationLevel`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum IsolationLevel {
    /// `READ_UNCOMMITTED` (`FetchIsolation.HIGH_WATERMARK`): read up to the high watermark.
    #[default]
    ReadUncommitted,
    /// `READ_COMMITTED` (`FetchIsolation.TXN_COMMITTED`): read up to the LSO, with the aborted list.
    ReadCommitted,
}

/// A fetch response for this partition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FetchResponse<P> {
    /// The high watermark.
    pub high_watermark: Offset,
    /// The last stable offset.
    pub last_stable_offset: Offset,
    /// read_committed: the aborted transactions overlapping `[from_offset, log end offset)`
    /// sorted by first offset; read_uncommitted: `None` (Kafka sends null).
    pub aborted_transactions: Option<Vec<AbortedTransaction>>,
    /// Whole batches (data and control) overlapping `[from_offset, upper bound)`.
    pub batches: Vec<LogBatch<P>>,
}

/// One record delivered to the application by a consumer ([`consumer_records`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsumerRecord<'a, P> {
    /// The record's offset.
    pub offset: Offset,
    /// The producer id of its batch.
    pub producer_id: ProducerId,
    /// The batch's payload.
    pub payload: &'a P,
}

/// The leader of one partition with one replica: the log, producer state, verification state,
/// ongoing/unreplicated transactions and the aborted-transaction index (`ProducerStateManager`,
/// `TransactionIndex`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PartitionLeader<P> {
    config: PartitionConfig,
    log: Vec<LogBatch<P>>,
    log_end_offset: Offset,
    high_watermark: Offset,
    producers: BTreeMap<ProducerId, ProducerStateEntry>,
    verification_states: BTreeMap<ProducerId, VerificationStateEntry>,
    ongoing_txns: BTreeMap<Offset, TxnMetadata>,
    unreplicated_txns: BTreeMap<Offset, TxnMetadata>,
    aborted_index: Vec<AbortedTxn>,
    next_guard: u64,
    /// `UnifiedLog.logStartOffset`: the first offset a fetch may read (DeleteRecords,
    /// `retention`); the log holds no batch that ends below it.
    #[serde(default)]
    log_start_offset: Offset,
}

impl<P> PartitionLeader<P> {
    /// An empty partition.
    pub fn new(config: PartitionConfig) -> Self {
        PartitionLeader {
            config,
            log: Vec::new(),
            log_end_offset: 0,
            high_watermark: 0,
            producers: BTreeMap::new(),
            verification_states: BTreeMap::new(),
            ongoing_txns: BTreeMap::new(),
            unreplicated_txns: BTreeMap::new(),
            aborted_index: Vec::new(),
            next_guard: 1,
            log_start_offset: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PartitionConfig {
        &self.config
    }

    /// The log end offset (next offset to assign).
    pub fn log_end_offset(&self) -> Offset {
        self.log_end_offset
    }

    /// The high watermark (= log end offset with one replica).
    pub fn high_watermark(&self) -> Offset {
        self.high_watermark
    }

    /// `ProducerStateManager.firstUnstableOffset`: the earliest first offset among ongoing and
    /// unreplicated transactions, if any.
    pub fn first_unstable_offset(&self) -> Option<Offset> {
        let ongoing = self.ongoing_txns.keys().next().copied();
        let unreplicated = self.unreplicated_txns.keys().next().copied();
        match (ongoing, unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// `UnifiedLog.lastStableOffset`: the FUO (never below the log start offset,
    /// `UnifiedLog.maybeIncrementFirstUnstableOffset`) if it is below the HW, else the HW. With
    /// bug M-R2 ([`PartitionBugs::lso_ignores_open_transactions`]) always the HW.
    pub fn last_stable_offset(&self) -> Offset {
        if self.config.bugs.lso_ignores_open_transactions {
            return self.high_watermark;
        }
        match self
            .first_unstable_offset()
            .map(|fuo| fuo.max(self.log_start_offset))
        {
            Some(fuo) if fuo < self.high_watermark => fuo,
            _ => self.high_watermark,
        }
    }

    /// The producer entry of `producer_id`, if the leader holds state for it.
    pub fn producer(&self, producer_id: ProducerId) -> Option<&ProducerStateEntry> {
        self.producers.get(&producer_id)
    }

    /// Every producer entry, by producer id.
    pub fn producers(&self) -> &BTreeMap<ProducerId, ProducerStateEntry> {
        &self.producers
    }

    /// The KIP-890 verification entry of `producer_id`, if any.
    pub fn verification_state(&self, producer_id: ProducerId) -> Option<&VerificationStateEntry> {
        self.verification_states.get(&producer_id)
    }

    /// The log's batches in offset order.
    pub fn log(&self) -> &[LogBatch<P>] {
        &self.log
    }

    /// Transactions with data but no marker yet, by first offset (`ongoingTxns`).
    pub fn ongoing_transactions(&self) -> &BTreeMap<Offset, TxnMetadata> {
        &self.ongoing_txns
    }

    /// The aborted-transaction index, in marker order (`TransactionIndex`).
    pub fn aborted_index(&self) -> &[AbortedTxn] {
        &self.aborted_index
    }

    fn has_ongoing_transaction(&self, producer_id: ProducerId, epoch: ProducerEpoch) -> bool {
        self.producers
            .get(&producer_id)
            .is_some_and(|e| e.current_txn_first_offset.is_some() && e.producer_epoch == epoch)
    }

    /// KIP-890 part 1, `UnifiedLog.maybeStartTransactionVerification`, called
    /// before a transactional produce is verified with the coordinator: a stale epoch is
    /// `INVALID_PRODUCER_EPOCH` at once; an ongoing transaction at this epoch needs no guard
    /// ([`VerificationGuard::Sentinel`]); otherwise the verification entry is created (or
    /// reused, lowering its lowest sequence / raising its epoch) and its guard returned.
    pub fn start_verification(
        &mut self,
        producer_id: ProducerId,
        producer_epoch: ProducerEpoch,
        base_sequence: Sequence,
        supports_epoch_bump: bool,
        now: TimestampMs,
    ) -> Result<VerificationGuard, ErrorCode> {
        if !self.config.bugs.no_epoch_check {
            if let Some(entry) = self.producers.get(&producer_id) {
                if producer_epoch < entry.producer_epoch {
                    return Err(ErrorCode::InvalidProducerEpoch);
                }
            }
        }
        if self.has_ongoing_transaction(producer_id, producer_epoch) {
            return Ok(VerificationGuard::Sentinel);
        }
        if let Some(v) = self.verification_states.get_mut(&producer_id) {
            v.maybe_update_lowest_sequence_and_epoch(base_sequence, producer_epoch);
            return Ok(v.guard);
        }
        let guard = VerificationGuard::Guard(self.next_guard);
        self.next_guard = self.next_guard.wrapping_add(1);
        self.verification_states.insert(
            producer_id,
            VerificationStateEntry {
                timestamp: now,
                guard,
                lowest_sequence: base_sequence,
                producer_epoch,
                supports_epoch_bump,
            },
        );
        Ok(guard)
    }

    /// `UnifiedLog.batchMissingRequiredVerification`: verification is on and the stored guard
    /// is absent or differs from the request's (the sentinel never matches).
    fn missing_required_verification(
        &self,
        producer_id: ProducerId,
        guard: Option<VerificationGuard>,
    ) -> bool {
        if !self.config.transaction_verification {
            return false;
        }
        let stored = self.verification_states.get(&producer_id).map(|v| v.guard);
        match (stored, guard) {
            (Some(VerificationGuard::Guard(a)), Some(VerificationGuard::Guard(b))) => a != b,
            _ => true,
        }
    }

    /// `ProducerAppendInfo.checkSequence` (origin CLIENT), rows a to d of `docs/partition.md` 4.2.
    fn check_sequence(
        &self,
        committed: &ProducerStateEntry,
        epoch: ProducerEpoch,
        first_sequence: Sequence,
    ) -> Result<(), ErrorCode> {
        let bugs = &self.config.bugs;
        if let Some(v) = self.verification_states.get(&committed.producer_id) {
            // a: a TV2 transaction starts at sequence 0 when the entry has no batches.
            if v.supports_epoch_bump && first_sequence != 0 && committed.has_no_batches() {
                return Err(ErrorCode::OutOfOrderSequenceNumber);
            }
            // b: no higher sequence while a lower one is waiting to retry verification.
            if first_sequence > v.lowest_sequence {
                return Err(ErrorCode::OutOfOrderSequenceNumber);
            }
        }
        // The staged entry starts at the committed entry's epoch with no batches.
        let staged_epoch = committed.producer_epoch;
        if epoch != staged_epoch {
            // c / c': a new epoch starts at 0, unless the producer is unknown.
            if first_sequence != 0 && staged_epoch != NO_PRODUCER_EPOCH && !bugs.allow_sequence_gap
            {
                return Err(ErrorCode::OutOfOrderSequenceNumber);
            }
            return Ok(());
        }
        // d: same epoch: consecutive, wrapping from Int.MaxValue to 0.
        let last = i64::from(committed.last_sequence());
        let first = i64::from(first_sequence);
        let in_sequence = first == last + 1 || (first == 0 && last == i64::from(i32::MAX));
        if committed.producer_epoch == NO_PRODUCER_EPOCH
            || in_sequence
            || (bugs.allow_sequence_gap && first > last)
        {
            Ok(())
        } else if bugs.allow_sequence_gap {
            Err(ErrorCode::DuplicateSequenceNumber)
        } else {
            Err(ErrorCode::OutOfOrderSequenceNumber)
        }
    }

    /// Produce (origin CLIENT), `UnifiedLog.append` in Kafka's order: record
    /// validation, offset assignment, duplicate detection (an exact retry of one of the last 5
    /// batches answers the original offsets and changes nothing), the verification-guard
    /// check, epoch / sequence / transactional-flag validation, then the write, the producer
    /// state update and the clean-up of the verification entry. All-or-nothing.
    ///
    /// Record validation (`LogValidator`): `record_count < 1`, a producer id with
    /// `base_sequence < 0`, a transactional batch without producer id, or a batch that would
    /// overflow the offset space is `INVALID_RECORD`.
    pub fn append(
        &mut self,
        batch: ProduceBatch<P>,
        guard: Option<VerificationGuard>,
    ) -> Result<AppendOutcome, ErrorCode> {
        // 1. Record validation.
        let has_producer_id = batch.producer_id >= 0;
        if batch.record_count < 1
            || (has_producer_id && batch.base_sequence < 0)
            || (!has_producer_id && batch.is_transactional)
        {
            return Err(ErrorCode::InvalidRecord);
        }
        let offset_delta = batch.record_count - 1;
        // 3. Offsets are assigned.
        let base_offset = self.log_end_offset;
        let last_offset = base_offset
            .checked_add(i64::from(offset_delta))
            .filter(|l| l.checked_add(1).is_some())
            .ok_or(ErrorCode::InvalidRecord)?;
        if !has_producer_id {
            self.push_data(batch, base_offset, last_offset);
            return Ok(AppendOutcome::Appended {
                base_offset,
                last_offset,
            });
        }
        let bugs = self.config.bugs;
        let pid = batch.producer_id;
        let epoch = batch.producer_epoch;
        let first_sequence = batch.base_sequence;
        let last_sequence = increment_sequence(first_sequence, offset_delta);
        let committed = self.producers.get(&pid);
        // 4. Duplicate detection.
        if !bugs.no_sequence_check {
            let window = bugs
                .duplicate_window
                .map_or(NUM_BATCHES_TO_RETAIN, usize::from)
                .min(NUM_BATCHES_TO_RETAIN);
            if let Some(dup) = committed
                .and_then(|e| e.find_duplicate_batch(epoch, first_sequence, last_sequence, window))
            {
                return Ok(AppendOutcome::Duplicate {
                    base_offset: dup.first_offset(),
                    last_offset: dup.last_offset,
                });
            }
        }
        // 5. Verification guard, when no transaction is ongoing for (pid, epoch).
        if batch.is_transactional && !self.has_ongoing_transaction(pid, epoch) {
            if !bugs.no_epoch_check && committed.is_some_and(|e| e.producer_epoch > epoch) {
                return Err(ErrorCode::InvalidProducerEpoch);
            }
            if self.missing_required_verification(pid, guard) {
                return Err(ErrorCode::InvalidTxnState);
            }
        }
        // 6. ProducerAppendInfo.appendDataBatch: every check runs against the committed entry
        // (or an empty one) before anything changes, so a rejection leaves no trace.
        let empty;
        let committed = match committed {
            Some(e) => e,
            None => {
                empty = ProducerStateEntry::empty(pid);
                &empty
            }
        };
        if !bugs.no_epoch_check && epoch < committed.producer_epoch {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        if !bugs.no_sequence_check {
            self.check_sequence(committed, epoch, first_sequence)?;
        }
        // Adding the batch does not touch the open transaction: the flag rules (`appendDataBatch`)
        // can be decided on the committed entry.
        let starts_transaction = match (committed.current_txn_first_offset, batch.is_transactional)
        {
            (Some(_), false) => return Err(ErrorCode::InvalidTxnState),
            (None, true) => true,
            _ => false,
        };
        // 7. Every check passed: write the batch and update the producer entry in place.
        let is_transactional = batch.is_transactional;
        let timestamp = batch.max_timestamp;
        self.push_data(batch, base_offset, last_offset);
        let entry = self
            .producers
            .entry(pid)
            .or_insert_with(|| ProducerStateEntry::empty(pid));
        entry.add_batch(
            epoch,
            BatchMetadata {
                last_sequence,
                last_offset,
                offset_delta,
                timestamp,
            },
        );
        if starts_transaction {
            entry.current_txn_first_offset = Some(base_offset);
        }
        if starts_transaction {
            self.ongoing_txns.insert(
                base_offset,
                TxnMetadata {
                    producer_id: pid,
                    first_offset: base_offset,
                    last_offset: None,
                },
            );
        }
        // 8. A transactional batch consumes the verification entry.
        if is_transactional {
            self.verification_states.remove(&pid);
        }
        Ok(AppendOutcome::Appended {
            base_offset,
            last_offset,
        })
    }

    fn push_data(&mut self, batch: ProduceBatch<P>, base_offset: Offset, last_offset: Offset) {
        let has_producer_id = batch.producer_id >= 0;
        self.log.push(LogBatch {
            base_offset,
            last_offset,
            producer_id: batch.producer_id,
            producer_epoch: batch.producer_epoch,
            base_sequence: if has_producer_id {
                batch.base_sequence
            } else {
                -1
            },
            is_transactional: batch.is_transactional,
            max_timestamp: batch.max_timestamp,
            content: BatchContent::Data(batch.payload),
        });
        self.advance_log_end(last_offset.saturating_add(1));
    }

    /// The single replica's HW follows the LEO; `onHighWatermarkUpdated` then drops
    /// unreplicated transactions whose marker is below the HW.
    fn advance_log_end(&mut self, log_end_offset: Offset) {
        self.log_end_offset = log_end_offset;
        self.high_watermark = log_end_offset;
        let hw = self.high_watermark;
        if !self.unreplicated_txns.is_empty() {
            self.unreplicated_txns
                .retain(|_, t| t.last_offset.is_some_and(|l| l >= hw));
        }
    }

    /// WriteTxnMarkers for this partition (origin COORDINATOR,
    /// `ProducerAppendInfo.appendEndTxnMarker`): the producer-epoch check (`marker epoch < entry
    /// epoch` is `INVALID_PRODUCER_EPOCH`; with [`PartitionConfig::strict_tv2_marker_epoch`]
    /// KIP-1228's rule for TV2), then the coordinator-epoch check
    /// (`TRANSACTION_COORDINATOR_FENCED`). An accepted marker takes one offset even with no open
    /// transaction; it completes the open transaction (an abort goes to the aborted index), sets
    /// the entry's epoch (a change clears the retained batches), coordinator epoch and timestamp.
    /// Returns the marker's offset.
    pub fn write_marker(&mut self, marker: TxnMarker) -> Result<Offset, ErrorCode> {
        if marker.producer_id < 0 {
            return Err(ErrorCode::InvalidRecord);
        }
        let bugs = self.config.bugs;
        let pid = marker.producer_id;
        let committed = self
            .producers
            .get(&pid)
            .copied()
            .unwrap_or_else(|| ProducerStateEntry::empty(pid));
        if !bugs.marker_match_pid_only {
            let strict = self.config.strict_tv2_marker_epoch
                && marker.transaction_version.supports_epoch_bump();
            // KAFKA-19999: an equal epoch with no open transaction is the idempotent retry of a
            // marker already written (a lost response, a reloaded coordinator).
            let retry =
                committed.current_txn_first_offset.is_none() && !bugs.strict_marker_rejects_retry;
            let stale = marker.producer_epoch < committed.producer_epoch
                || (strict && marker.producer_epoch == committed.producer_epoch && !retry);
            if stale {
                return Err(ErrorCode::InvalidProducerEpoch);
            }
        }
        if !bugs.no_coordinator_epoch_check
            && marker.coordinator_epoch < committed.coordinator_epoch
        {
            return Err(ErrorCode::TransactionCoordinatorFenced);
        }
        let offset = self.log_end_offset;
        let next = offset.checked_add(1).ok_or(ErrorCode::InvalidRecord)?;
        let mut staged = committed;
        let completed = staged.current_txn_first_offset;
        let new_epoch = if bugs.marker_match_pid_only {
            marker.producer_epoch.max(staged.producer_epoch)
        } else {
            marker.producer_epoch
        };
        staged.maybe_update_producer_epoch(new_epoch);
        staged.current_txn_first_offset = None;
        staged.coordinator_epoch = marker.coordinator_epoch;
        if !bugs.expire_ignoring_markers {
            staged.last_timestamp = marker.timestamp;
        }
        // Commit.
        self.log.push(LogBatch {
            base_offset: offset,
            last_offset: offset,
            producer_id: pid,
            producer_epoch: marker.producer_epoch,
            base_sequence: -1,
            is_transactional: true,
            max_timestamp: marker.timestamp,
            content: BatchContent::Control {
                result: marker.result,
                coordinator_epoch: marker.coordinator_epoch,
            },
        });
        self.producers.insert(pid, staged);
        if let Some(first_offset) = completed {
            self.ongoing_txns.remove(&first_offset);
            // ProducerStateManager.lastStableOffset(completedTxn): the earliest other ongoing
            // transaction, else the marker's next offset.
            let last_stable_offset = self
                .ongoing_txns
                .values()
                .find(|t| t.producer_id != pid)
                .map_or(next, |t| t.first_offset);
            if marker.result == TransactionResult::Abort {
                self.aborted_index.push(AbortedTxn {
                    producer_id: pid,
                    first_offset,
                    last_offset: offset,
                    last_stable_offset,
                });
            }
            self.unreplicated_txns.insert(
                first_offset,
                TxnMetadata {
                    producer_id: pid,
                    first_offset,
                    last_offset: Some(offset),
                },
            );
        }
        self.advance_log_end(next);
        // Step 8: the marker consumes the verification entry, except a TV2 entry at the
        // marker's epoch, which belongs to the next transaction.
        if let Some(v) = self.verification_states.get(&pid) {
            if !(v.supports_epoch_bump && v.producer_epoch == marker.producer_epoch) {
                self.verification_states.remove(&pid);
            }
        }
        Ok(offset)
    }

    /// `ProducerStateManager.removeExpiredProducers`: removes every producer entry with
    /// no open transaction whose last timestamp is at least `producer.id.expiration.ms` old, and
    /// every verification entry created at least that long ago. Returns the expired producer ids
    /// in ascending order.
    pub fn expire_producers(&mut self, now: TimestampMs) -> Vec<ProducerId> {
        let expiration = self.config.producer_id_expiration_ms;
        let expired_at = |ts: TimestampMs| now.saturating_sub(ts) >= expiration;
        let expired: Vec<ProducerId> = self
            .producers
            .values()
            .filter(|e| e.current_txn_first_offset.is_none() && expired_at(e.last_timestamp))
            .map(|e| e.producer_id)
            .collect();
        for pid in &expired {
            self.producers.remove(pid);
        }
        self.verification_states
            .retain(|_, v| !expired_at(v.timestamp));
        expired
    }

    /// A fetch (`UnifiedLog.read` with `FetchIsolation`; below the log start offset or past the
    /// log end offset it is [`PartitionError::OffsetOutOfRange`]): whole batches overlapping
    /// `[from_offset, upper)` with `upper` = the LSO for read_committed and the HW for
    /// read_uncommitted. read_committed also returns every aborted transaction with
    /// `last_offset >= from_offset` and `first_offset <` the log end offset
    /// (`collectAbortedTransactions`, one segment, no size limit), sorted by first offset, and
    /// none when `from_offset` is at or past `upper` (`emptyFetchDataInfo`);
    /// with bug M-R1 ([`PartitionBugs::no_aborted_filter`]) that list is empty.
    pub fn fetch(
        &self,
        from_offset: Offset,
        isolation: IsolationLevel,
    ) -> Result<FetchResponse<P>, PartitionError>
    where
        P: Clone,
    {
        if from_offset < self.log_start_offset || from_offset > self.log_end_offset {
            return Err(PartitionError::OffsetOutOfRange {
                offset: from_offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset,
            });
        }
        let last_stable_offset = self.last_stable_offset();
        let upper = match isolation {
            IsolationLevel::ReadCommitted => last_stable_offset,
            IsolationLevel::ReadUncommitted => self.high_watermark,
        };
        // `LocalLog.read`: nothing at or past the bound (which may fall inside a batch when the
        // log start offset holds the LSO, `maybeIncrementFirstUnstableOffset`).
        let start = if from_offset >= upper {
            self.log.len()
        } else {
            self.log.partition_point(|b| b.last_offset < from_offset)
        };
        let batches = self
            .log
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .take_while(|b| b.base_offset < upper)
            .cloned()
            .collect();
        let aborted_transactions = match isolation {
            IsolationLevel::ReadUncommitted => None,
            IsolationLevel::ReadCommitted if self.config.bugs.no_aborted_filter => Some(Vec::new()),
            // `LocalLog.read`: a fetch at or past the isolation's bound is
            // `emptyFetchDataInfo(.., includeAbortedTxns)`, an empty aborted list.
            IsolationLevel::ReadCommitted if from_offset >= upper => Some(Vec::new()),
            IsolationLevel::ReadCommitted => {
                let mut list: Vec<AbortedTransaction> = self
                    .aborted_index
                    .iter()
                    .filter(|a| {
                        a.last_offset >= from_offset && a.first_offset < self.log_end_offset
                    })
                    .map(|a| AbortedTransaction {
                        producer_id: a.producer_id,
                        first_offset: a.first_offset,
                    })
                    .collect();
                // `collectAbortedTransactions` walks the index in first-offset order.
                list.sort_by_key(|a| (a.first_offset, a.producer_id));
                Some(list)
            }
        };
        Ok(FetchResponse {
            high_watermark: self.high_watermark,
            last_stable_offset,
            aborted_transactions,
            batches,
        })
    }
}

/// The error a produce gets when its KIP-890 verification with the transaction coordinator fails
/// (`AddPartitionsToTxnManager` and `ReplicaManager`).
///
/// `error` is the coordinator's answer to the leader's AddPartitionsToTxn (verify-only under
/// TV1, the implicit add under TV2); `produce_version` is the client's Produce request version
/// (v12+ is TV2's "add partition" verification).
/// - `PRODUCER_FENCED` becomes `INVALID_PRODUCER_EPOCH` (the leader never answers a produce with
///   `PRODUCER_FENCED`, KIP-588);
/// - `TRANSACTION_ABORTABLE` becomes `INVALID_TXN_STATE` for Produce v10 and older, which do not
///   know it, and passes through for v11+;
/// - a top-level `CLUSTER_AUTHORIZATION_FAILED` becomes `INVALID_TXN_STATE`;
/// - `NETWORK_EXCEPTION`, `COORDINATOR_LOAD_IN_PROGRESS`, `COORDINATOR_NOT_AVAILABLE` and
///   `NOT_COORDINATOR` become `NOT_ENOUGH_REPLICAS`, so that old clients retry;
/// - `CONCURRENT_TRANSACTIONS` becomes `NOT_ENOUGH_REPLICAS` below v12 and passes through for
///   v12+ (the TV2 leader retries it internally first);
/// - any other error (e.g. `INVALID_TXN_STATE`, `INVALID_PRODUCER_ID_MAPPING`) passes through.
pub fn verification_error_for_produce(error: ErrorCode, produce_version: i16) -> ErrorCode {
    use ErrorCode::*;
    match error {
        ProducerFenced => InvalidProducerEpoch,
        TransactionAbortable if produce_version <= 10 => InvalidTxnState,
        ClusterAuthorizationFailed => InvalidTxnState,
        NetworkException | CoordinatorLoadInProgress | CoordinatorNotAvailable | NotCoordinator => {
            NotEnoughReplicas
        }
        ConcurrentTransactions if produce_version < 12 => NotEnoughReplicas,
        other => other,
    }
}

/// The records a consumer delivers to the application from one fetch response, exactly as the
/// Java consumer's `CompletedFetch` does: records below `from_offset` (the fetch position) are
/// skipped; control records are never delivered; at read_committed the aborted list (sorted by
/// first offset) is consumed up to each batch's last offset into a set of aborted producer ids,
/// an ABORT marker removes its producer id from the set, and a transactional batch whose
/// producer id is in the set is skipped whole. Lazy: a batch of many records costs nothing
/// until its records are pulled.
pub fn consumer_records<P>(
    fetch: &FetchResponse<P>,
    isolation: IsolationLevel,
    from_offset: Offset,
) -> impl Iterator<Item = ConsumerRecord<'_, P>> + '_ {
    let mut aborted: Vec<AbortedTransaction> =
        fetch.aborted_transactions.clone().unwrap_or_default();
    aborted.sort_by_key(|a| a.first_offset);
    let mut pending = aborted.into_iter().peekable();
    let mut aborted_pids: BTreeSet<ProducerId> = BTreeSet::new();
    fetch
        .batches
        .iter()
        .filter(move |batch| {
            if isolation == IsolationLevel::ReadCommitted && batch.has_producer_id() {
                while let Some(a) = pending.next_if(|a| a.first_offset <= batch.last_offset) {
                    aborted_pids.insert(a.producer_id);
                }
                match batch.content {
                    BatchContent::Control {
                        result: TransactionResult::Abort,
                        ..
                    } => {
                        aborted_pids.remove(&batch.producer_id);
                    }
                    _ if batch.is_transactional && aborted_pids.contains(&batch.producer_id) => {
                        return false;
                    }
                    _ => {}
                }
            }
            true
        })
        .flat_map(move |batch| {
            let (range, payload) = match &batch.content {
                BatchContent::Data(payload) => (
                    batch.base_offset.max(from_offset)..=batch.last_offset,
                    Some(payload),
                ),
                // Control records are never delivered (no payload: nothing is yielded).
                BatchContent::Control { .. } => (batch.base_offset..=batch.last_offset, None),
            };
            range.filter_map(move |offset| {
                payload.map(|payload| ConsumerRecord {
                    offset,
                    producer_id: batch.producer_id,
                    payload,
                })
            })
        })
}
