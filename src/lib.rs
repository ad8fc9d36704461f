//! # kafka-eos: the pure core of Kafka's exactly-once producer protocol
//!
//! (crate docs are written at integration time)

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod coordinator;
pub mod error;
pub mod partition;
pub mod producer;
pub mod types;

pub use error::{ErrorCode, ParseError};
pub use types::*;
