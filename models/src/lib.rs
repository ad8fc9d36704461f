//! Model checking, conformance replay and the `kafka-eos` command line over the kafka-eos core.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bench;
pub mod conformance;
pub mod explore;
pub mod history;
pub mod model;
pub mod render;
pub mod spawn;
