//! # kafka-eos: the pure core of Kafka's exactly-once producer protocol
//!
//! An executable specification of Apache Kafka's idempotent producer and transactions
//! (KIP-98, with the repairs of KIP-360, KIP-588, KIP-890 and the client error classes of
//! KIP-1050) and its offsets side (KIP-447), written as sans-IO state machines, one per role:
//!
//! - [`partition::PartitionLeader`]: the leader of one partition — the log, per-producer state
//!   (epoch, the last 5 batches, coordinator epoch, open transaction), sequence and epoch
//!   validation, duplicate detection answering with the original offset, commit/abort markers,
//!   the last stable offset, the aborted-transaction index, read_committed fetch
//!   ([`partition::consumer_records`]), producer-state expiry and KIP-890 verification
//!   (Kafka's `UnifiedLog`, `ProducerStateManager`, `ProducerAppendInfo`).
//! - [`coordinator::TransactionCoordinator`]: the transaction coordinator of one
//!   `__transaction_state` partition — Kafka's 8 transaction states and their legal transitions,
//!   producer-id blocks, InitProducerId, AddPartitionsToTxn, EndTxn under TV0/1 and TV2, fencing,
//!   timeouts, transactional-id expiry, marker fan-out and completion (Kafka's
//!   `TransactionCoordinator`, `TransactionStateManager`, `TransactionMetadata`).
//! - [`group::GroupCoordinator`]: the group coordinator of one `__consumer_offsets` partition,
//!   offsets role — classic groups, committed offsets, transactional offsets pending until their
//!   marker, KIP-447 member/generation fencing and `require_stable` fetches (Kafka's
//!   `OffsetMetadataManager`, `ClassicGroup`).
//! - [`producer::Producer`]: the client — Kafka's `TransactionManager` states, per-partition
//!   sequence numbers with at most 5 batches in flight, retries and error classes.
//!
//! ## The shape: inputs in, outputs out
//!
//! The roles speak one vocabulary, [`messages`], in Kafka's names; each request carries the API
//! version it was sent at, because Kafka's answer depends on it:
//!
//! ```text
//!             InitProducerId, AddPartitionsToTxn v0-3, EndTxn
//!   Producer ───────────────────────────────────────────────▶ TransactionCoordinator
//!      │                                                         ▲            │
//!      │ Produce       AddPartitionsToTxn v4+ (ProduceStep::     │            │ WriteTxnMarkers
//!      ▼               Verify; the answer resumes the produce)   │            ▼
//!   PartitionLeader ─────────────────────────────────────────────┘     PartitionLeader
//!                                                          (answers WriteTxnMarkersResponse)
//! ```
//!
//! Each role takes a message or the passage of time, with `now`, and returns what its caller must
//! do next: the answer, messages addressed to another role, records to persist before the
//! answers that depend on them are released, and events. Every role reports its next deadline
//! (`next_deadline`) and takes time through `handle_timeout`. `docs/embedding.md` shows the loop an async broker runs around them.
//!
//! Every role is plain data plus transition functions. Nothing here does I/O, reads a clock,
//! spawns a thread or draws a random number: time is an input (`now`, in milliseconds), and
//! what must happen next (a response, a message to send, a record to persist, an event for the
//! application) is returned to the caller. The same functions run in the model checker
//! (crate `kafka-eos-model`), in a broker adapter and in tests, so what was checked is what runs.
//!
//! Protocol failures are values carrying Kafka's error code ([`ErrorCode`]): a stale epoch, a
//! sequence gap or a fenced producer is answered exactly as Kafka answers it, and a rejected input
//! changes no state. Misuse of the API (input no well-formed request carries) is a typed Rust
//! error. State types derive `Clone, Debug, Eq, Ord, Hash` and serde, and use ordered collections
//! only, so runs replay exactly.
//!
//! ## Example: a broker built on the core
//!
//! A toy broker with one partition and a transaction coordinator serves an idempotent producer
//! whose first response is lost, and then a transaction. The broker only routes: every decision
//! (duplicate or not, which markers to write, what the LSO is) is the core's.
//!
//! ```
//! use kafka_eos::coordinator::{CoordinatorConfig, CoordinatorOutput, TransactionCoordinator};
//! use kafka_eos::messages::{
//!     EndTxnRequest, InitProducerIdRequest, ProduceRequest, END_TXN_VERSION,
//!     INIT_PRODUCER_ID_VERSION, PRODUCE_VERSION,
//! };
//! use kafka_eos::partition::{
//!     produce_response, AppendOutcome, IsolationLevel, PartitionConfig, PartitionLeader,
//!     ProduceResult, ProduceStep,
//! };
//! use kafka_eos::{TopicPartition, TransactionResult};
//!
//! type Leader = PartitionLeader<&'static str>;
//!
//! /// The broker's Produce path: the leader answers at once, or hands back the KIP-890
//! /// AddPartitionsToTxn to send to the coordinator, whose answer goes back with the held batch.
//! fn produce(
//!     leader: &mut Leader,
//!     coordinator: &mut TransactionCoordinator,
//!     request: ProduceRequest<&'static str>,
//!     now: i64,
//! ) -> ProduceResult {
//!     match leader.handle_produce(request, now) {
//!         ProduceStep::Answered(result) => result,
//!         ProduceStep::Verify { request, pending } => {
//!             // (The outputs are `__transaction_state` appends; this toy persists nothing.)
//!             let (answer, _outputs) = coordinator.handle_add_partitions_to_txn(&request, now);
//!             leader.handle_verification_response(pending, answer, now)
//!         }
//!     }
//! }
//!
//! let now = 0;
//! let topic_0: TopicPartition = "orders-0".parse()?;
//! let mut coordinator = TransactionCoordinator::new(CoordinatorConfig::default(), 1000, 0)?;
//! let mut leader: Leader = PartitionLeader::new(PartitionConfig::default());
//!
//! // An idempotent producer asks for a producer id.
//! let init = InitProducerIdRequest {
//!     transactional_id: None,
//!     transaction_timeout_ms: 60_000,
//!     producer_id: -1,
//!     producer_epoch: -1,
//!     version: INIT_PRODUCER_ID_VERSION,
//! };
//! let pid = coordinator.handle_init_producer_id(&init, now).0?;
//!
//! // Its first batch is appended; the response is lost and the producer retries it.
//! let batch = ProduceRequest {
//!     transactional_id: None,
//!     partition: topic_0,
//!     producer_id: pid.producer_id,
//!     producer_epoch: pid.producer_epoch,
//!     base_sequence: 0,
//!     record_count: 1,
//!     is_transactional: false,
//!     max_timestamp: Some(now),
//!     payload: "order #1",
//!     version: PRODUCE_VERSION,
//! };
//! let first = produce(&mut leader, &mut coordinator, batch.clone(), now);
//! assert_eq!(first, Ok(AppendOutcome::Appended { base_offset: 0, last_offset: 0 }));
//! // The retry is a duplicate of a retained batch: nothing is written, and the answer is the
//! // original offset (`UnifiedLog.append`, `ProducerStateEntry.findDuplicateBatch`).
//! let retry = produce(&mut leader, &mut coordinator, batch.clone(), now);
//! assert_eq!(retry, Ok(AppendOutcome::Duplicate { base_offset: 0, last_offset: 0 }));
//! assert_eq!(produce_response(&retry), Ok(0));
//! assert_eq!(leader.log_end_offset(), 1);
//!
//! // A transactional producer (TV2): InitProducerId, Produce v12, EndTxn v5 (COMMIT).
//! let init = InitProducerIdRequest { transactional_id: Some("tx".into()), ..init };
//! let txn_pid = coordinator.handle_init_producer_id(&init, now).0?;
//! // KIP-890: the leader has the coordinator add the partition before the transaction's first
//! // append (the TV2 implicit add), then appends.
//! let txn_batch = ProduceRequest {
//!     transactional_id: Some("tx".into()),
//!     producer_id: txn_pid.producer_id,
//!     producer_epoch: txn_pid.producer_epoch,
//!     record_count: 2,
//!     is_transactional: true,
//!     payload: "two records",
//!     ..batch
//! };
//! produce(&mut leader, &mut coordinator, txn_batch, now)?;
//! // The open transaction holds the last stable offset at its first offset.
//! assert_eq!((leader.last_stable_offset(), leader.high_watermark()), (1, 3));
//!
//! let end = EndTxnRequest {
//!     transactional_id: "tx".into(),
//!     producer_id: txn_pid.producer_id,
//!     producer_epoch: txn_pid.producer_epoch,
//!     result: TransactionResult::Commit,
//!     version: END_TXN_VERSION,
//! };
//! let (bumped, mut outputs) = coordinator.handle_end_txn(&end, now);
//! // TV2: the client adopts the bumped epoch from the response.
//! assert_eq!(bumped?.map(|p| p.producer_epoch), Some(txn_pid.producer_epoch + 1));
//! // The broker carries out the coordinator's outputs: each marker goes to its partition's
//! // leader, and the leader's answer back to the coordinator.
//! while let Some(output) = outputs.pop() {
//!     match output {
//!         CoordinatorOutput::AppendTransactionLog { .. } => {} // persisted by a real broker
//!         CoordinatorOutput::WriteTxnMarker(marker) => {
//!             let answer = leader.handle_write_txn_marker(&marker, now);
//!             outputs.extend(coordinator.handle_write_txn_markers_response(&answer)?);
//!         }
//!     }
//! }
//! // The COMMIT marker released the LSO; a read_committed consumer now sees all three records.
//! assert_eq!(leader.last_stable_offset(), leader.high_watermark());
//! let fetch = leader.fetch(0, IsolationLevel::ReadCommitted)?;
//! let offsets: Vec<i64> =
//!     kafka_eos::partition::consumer_records(&fetch, IsolationLevel::ReadCommitted, 0)
//!         .map(|r| r.offset)
//!         .collect();
//! assert_eq!(offsets, vec![0, 1, 2]);
//! assert_eq!(coordinator.transaction("tx").map(|m| m.state.name()), Some("CompleteCommit"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The producer client ([`producer::Producer`]) is driven the same way: application calls and
//! responses in, requests and application events out. `docs/` in the repository explains each
//! role's state, inputs, outputs and rules with their Kafka sources, and
//! `tests/conformance/` holds vectors distilled from Kafka's own unit tests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// The core never panics on input: no unwrap, expect, panic or unchecked indexing outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod consumer;
pub mod coordinator;
pub mod error;
pub mod group;
pub mod messages;
pub mod partition;
pub mod producer;
pub mod topic;
pub mod types;

pub use error::{ErrorCode, ParseError};
pub use types::*;
