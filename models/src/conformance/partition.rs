//! Conformance runner for the `partition` role (placeholder until the role lands).

use serde_json::{Map, Value};

use super::Verdict;

/// Runs the steps of a `partition` vector against a fresh instance.
pub fn run(_config: &Map<String, Value>, _steps: &[Map<String, Value>]) -> Verdict {
    Verdict::Malformed("the partition runner is not implemented yet".into())
}
