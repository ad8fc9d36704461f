//! `kafka-eos-broker`: a thin Kafka wire-protocol broker over the unchanged `kafka-eos` core, so
//! that real clients (librdkafka through confluent-kafka, kafka-python) produce idempotently and
//! transactionally to the executable specification and consume with `read_committed`.
//!
//! One node, partition logs holding the clients' raw v2 record batches, on disk and recovered on
//! start (or in memory). The adapter decodes
//! (`kafka-protocol`), calls the core (`kafka_eos::partition::PartitionLeader`,
//! `kafka_eos::coordinator::TransactionCoordinator`) and encodes; every protocol decision is the
//! core's. See `docs/broker.md`.

#![warn(missing_docs)]

pub mod batch;
pub mod broker;
pub mod metrics;
pub mod server;
pub mod storage;
pub mod testing;
pub mod trace;
pub mod versions;
