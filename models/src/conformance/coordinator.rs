//! Conformance runner for the `coordinator` role (FORMAT.md, "Role `coordinator`").
//!
//! One [`TransactionCoordinator`] per vector; `transaction_version` stands for both the client's
//! request versions and the server's finalized version. Results compare exactly, except that an
//! `end_txn` expecting `{}` accepts any success; `assert` compares by subset.

use std::collections::BTreeSet;

use kafka_eos::coordinator::{
    AddPartitionsToTxnRequest, CoordinatorConfig, EndTxnRequest, InitProducerIdRequest,
    TransactionCoordinator, TransactionLogValue, TransactionState, WriteTxnMarkersResponse,
};
use kafka_eos::messages::{end_txn_version_for, INIT_PRODUCER_ID_VERSION};
use kafka_eos::{
    ErrorCode, TopicPartition, TransactionResult, TransactionVersion, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID,
};
use serde_json::{json, Map, Value};

use super::{
    check_config_keys, config_i64, matches_exact, matches_subset, project, run_steps, StepFailure,
    StepReader, Verdict,
};

const CONFIG_KEYS: &[&str] = &[
    "transaction_version",
    "transaction_max_timeout_ms",
    "first_producer_id",
    "coordinator_epoch",
    "transactional_id_expiration_ms",
];

/// Runs the steps of a `coordinator` vector against a fresh instance.
pub fn run(config: &Map<String, Value>, steps: &[Map<String, Value>]) -> Verdict {
    run_steps(Runner::new(config), steps, Runner::step)
}

struct Runner {
    coordinator: TransactionCoordinator,
    version: TransactionVersion,
    clock: i64,
}

/// What a step produced: nothing to compare, or an actual outcome to compare with `expect`.
enum Outcome {
    /// Compare `expect` exactly with this; with no `expect`, the step must not be an error.
    Exact(Value),
    /// `end_txn`: like `Exact`, but an `expect` of `{}` accepts any success.
    EndTxn(Value),
    /// `assert`: compare by subset.
    Subset(Value),
    /// Ops whose `expect` must be `{}` (or absent).
    Empty,
}

fn error_value(e: ErrorCode) -> Value {
    json!({ "error": e.name() })
}

fn is_error(v: &Value) -> bool {
    v.get("error").is_some()
}

fn parse_partitions(list: Vec<&str>) -> Result<BTreeSet<TopicPartition>, String> {
    list.into_iter()
        .map(|p| p.parse::<TopicPartition>().map_err(|e| e.to_string()))
        .collect()
}

fn parse_result(s: &str) -> Result<TransactionResult, String> {
    match s {
        "commit" => Ok(TransactionResult::Commit),
        "abort" => Ok(TransactionResult::Abort),
        other => Err(format!(
            "result must be \"commit\" or \"abort\", got {other:?}"
        )),
    }
}

impl Runner {
    fn new(config: &Map<String, Value>) -> Result<Self, String> {
        check_config_keys(config, CONFIG_KEYS)?;
        let level = config_i64(config, "transaction_version", 2)?;
        let version = i16::try_from(level)
            .ok()
            .and_then(TransactionVersion::from_level)
            .ok_or_else(|| format!("transaction_version must be 0, 1 or 2, got {level}"))?;
        let max_timeout = config_i64(config, "transaction_max_timeout_ms", 900_000)?;
        let max_timeout = i32::try_from(max_timeout)
            .map_err(|_| format!("transaction_max_timeout_ms {max_timeout} is out of range"))?;
        let first_producer_id = config_i64(config, "first_producer_id", 0)?;
        let coordinator_epoch = config_i64(config, "coordinator_epoch", 0)?;
        let coordinator_epoch = i32::try_from(coordinator_epoch)
            .map_err(|_| format!("coordinator_epoch {coordinator_epoch} is out of range"))?;
        let expiration = config_i64(config, "transactional_id_expiration_ms", 604_800_000)?;
        let coordinator = TransactionCoordinator::new(
            CoordinatorConfig {
                transaction_version: version,
                transaction_max_timeout_ms: max_timeout,
                transactional_id_expiration_ms: expiration,
                ..CoordinatorConfig::default()
            },
            first_producer_id,
            coordinator_epoch,
        )
        .map_err(|e| e.to_string())?;
        Ok(Runner {
            coordinator,
            version,
            clock: 0,
        })
    }

    /// Runs one step: `Ok(Some(failure))` on a mismatch, `Err` for a malformed step.
    fn step(&mut self, n: usize, step: &Map<String, Value>) -> Result<Option<StepFailure>, String> {
        let op = match step.get("op") {
            Some(Value::String(s)) => s.as_str(),
            other => return Err(format!("op must be a string, got {other:?}")),
        };
        let outcome = match op {
            "init_producer_id" => self.init_producer_id(step)?,
            "add_partitions" => self.add_partitions(step)?,
            "end_txn" => self.end_txn(step)?,
            "load_transaction" => self.load_transaction(step)?,
            "markers_written" => self.markers_written(step)?,
            "abort_timed_out" => {
                StepReader::new(step, &[])?;
                let (aborted, _) = self.coordinator.abort_timed_out_transactions(self.clock);
                Outcome::Exact(json!({ "aborted": aborted }))
            }
            "expire_transactional_ids" => {
                StepReader::new(step, &[])?;
                let (expired, _) = self.coordinator.expire_transactional_ids(self.clock);
                Outcome::Exact(json!({ "expired": expired }))
            }
            "advance_clock" => {
                let r = StepReader::new(step, &["ms"])?;
                if r.raw("ms").is_none() {
                    return Err("missing field \"ms\"".into());
                }
                let ms = r.i64("ms", 0)?;
                if ms < 0 {
                    return Err(format!("advance_clock by a negative {ms} ms"));
                }
                self.clock = self
                    .clock
                    .checked_add(ms)
                    .ok_or_else(|| "the clock overflows".to_string())?;
                Outcome::Empty
            }
            "assert" => {
                StepReader::new(step, &[])?;
                match step.get("expect") {
                    None => Outcome::Empty,
                    Some(expect) => {
                        let id = match expect.get("transactional_id") {
                            Some(Value::String(s)) => s.clone(),
                            _ => {
                                return Err(
                                    "an assert's expect needs a string \"transactional_id\"".into(),
                                )
                            }
                        };
                        Outcome::Subset(self.describe(&id))
                    }
                }
            }
            other => return Err(format!("unknown op {other:?}")),
        };
        let expect = step.get("expect");
        let fail = |expected: Value, actual: Value| {
            Some(StepFailure {
                step: n,
                op: op.to_string(),
                actual: project(&expected, &actual),
                expected,
            })
        };
        Ok(match (outcome, expect) {
            (Outcome::Exact(actual) | Outcome::EndTxn(actual), None) => {
                if is_error(&actual) {
                    fail(json!("no error (unasserted step)"), actual)
                } else {
                    None
                }
            }
            (Outcome::Exact(actual), Some(expected)) => {
                if matches_exact(expected, &actual) {
                    None
                } else {
                    fail(expected.clone(), actual)
                }
            }
            (Outcome::EndTxn(actual), Some(expected)) => {
                let any_success =
                    expected.as_object().is_some_and(Map::is_empty) && !is_error(&actual);
                if any_success || matches_exact(expected, &actual) {
                    None
                } else {
                    fail(expected.clone(), actual)
                }
            }
            (Outcome::Subset(actual), Some(expected)) => {
                if matches_subset(expected, &actual) {
                    None
                } else {
                    fail(expected.clone(), actual)
                }
            }
            (Outcome::Subset(_), None) | (Outcome::Empty, None) => None,
            (Outcome::Empty, Some(expected)) => {
                if matches_exact(expected, &json!({})) {
                    None
                } else {
                    fail(expected.clone(), json!({}))
                }
            }
        })
    }

    fn init_producer_id(&mut self, step: &Map<String, Value>) -> Result<Outcome, String> {
        let r = StepReader::new(
            step,
            &[
                "transactional_id",
                "transaction_timeout_ms",
                "producer_id",
                "producer_epoch",
            ],
        )?;
        let request = InitProducerIdRequest {
            transactional_id: r.opt_str("transactional_id")?.map(str::to_string),
            transaction_timeout_ms: r.int("transaction_timeout_ms", 60_000)?,
            producer_id: r.i64("producer_id", NO_PRODUCER_ID)?,
            producer_epoch: r.int("producer_epoch", NO_PRODUCER_EPOCH)?,
            version: INIT_PRODUCER_ID_VERSION,
        };
        let (result, _) = self
            .coordinator
            .handle_init_producer_id(&request, self.clock);
        Ok(Outcome::Exact(match result {
            Ok(p) => json!({ "producer_id": p.producer_id, "producer_epoch": p.producer_epoch }),
            Err(e) => error_value(e),
        }))
    }

    fn add_partitions(&mut self, step: &Map<String, Value>) -> Result<Outcome, String> {
        let r = StepReader::new(
            step,
            &[
                "transactional_id",
                "producer_id",
                "producer_epoch",
                "partitions",
                "verify_only",
            ],
        )?;
        let partitions = r
            .opt_str_list("partitions")?
            .ok_or_else(|| "missing field \"partitions\"".to_string())?;
        let verify_only = r.bool("verify_only", false)?;
        let (transactional_id, producer_id, producer_epoch, partitions) = (
            r.str("transactional_id")?.to_string(),
            required_int(&r, "producer_id")?,
            required_int(&r, "producer_epoch")?,
            parse_partitions(partitions)?,
        );
        // A TV2 add and every verify-only request come from a partition leader; a TV0/1 add is
        // a client's.
        let request = if verify_only || self.version.supports_epoch_bump() {
            AddPartitionsToTxnRequest::from_leader(
                transactional_id,
                producer_id,
                producer_epoch,
                partitions,
                verify_only,
            )
        } else {
            AddPartitionsToTxnRequest::from_client(
                transactional_id,
                producer_id,
                producer_epoch,
                partitions,
            )
        };
        let (result, _) = self
            .coordinator
            .handle_add_partitions_to_txn(&request, self.clock);
        Ok(Outcome::Exact(match result {
            Ok(()) => json!({}),
            Err(e) => error_value(e),
        }))
    }

    fn end_txn(&mut self, step: &Map<String, Value>) -> Result<Outcome, String> {
        let r = StepReader::new(
            step,
            &[
                "transactional_id",
                "producer_id",
                "producer_epoch",
                "result",
            ],
        )?;
        let request = EndTxnRequest {
            transactional_id: r.str("transactional_id")?.to_string(),
            producer_id: required_int(&r, "producer_id")?,
            producer_epoch: required_int(&r, "producer_epoch")?,
            result: parse_result(r.str("result")?)?,
            // One vector version stands for the client's.
            version: end_txn_version_for(self.version),
        };
        let (result, _) = self.coordinator.handle_end_txn(&request, self.clock);
        Ok(Outcome::EndTxn(match result {
            Ok(Some(p)) => {
                json!({ "producer_id": p.producer_id, "producer_epoch": p.producer_epoch })
            }
            Ok(None) => json!({}),
            Err(e) => error_value(e),
        }))
    }

    fn load_transaction(&mut self, step: &Map<String, Value>) -> Result<Outcome, String> {
        let r = StepReader::new(
            step,
            &[
                "transactional_id",
                "producer_id",
                "producer_epoch",
                "last_producer_epoch",
                "previous_producer_id",
                "next_producer_id",
                "state",
                "partitions",
                "transaction_timeout_ms",
                "transaction_start_ms",
                "last_update_ms",
            ],
        )?;
        let id = r.str("transactional_id")?;
        let state = match r.opt_str("state")? {
            None => TransactionState::Empty,
            Some(s) => s.parse::<TransactionState>().map_err(|e| e.to_string())?,
        };
        let value = TransactionLogValue {
            producer_id: required_int(&r, "producer_id")?,
            previous_producer_id: r.i64("previous_producer_id", NO_PRODUCER_ID)?,
            next_producer_id: r.i64("next_producer_id", NO_PRODUCER_ID)?,
            producer_epoch: required_int(&r, "producer_epoch")?,
            last_producer_epoch: r.int("last_producer_epoch", NO_PRODUCER_EPOCH)?,
            transaction_timeout_ms: r.int("transaction_timeout_ms", 60_000)?,
            state,
            partitions: parse_partitions(r.opt_str_list("partitions")?.unwrap_or_default())?,
            txn_start_timestamp: r.i64("transaction_start_ms", -1)?,
            txn_last_update_timestamp: r.i64("last_update_ms", self.clock)?,
            client_transaction_version: self.version,
        };
        self.coordinator
            .load_transaction(id, Some(&value), self.clock)
            .map_err(|e| e.to_string())?;
        Ok(Outcome::Empty)
    }

    fn markers_written(&mut self, step: &Map<String, Value>) -> Result<Outcome, String> {
        let r = StepReader::new(step, &["transactional_id", "partitions", "error"])?;
        let id = r.str("transactional_id")?;
        let error = match r.opt_str("error")? {
            None => None,
            Some(name) => Some(
                ErrorCode::from_name(name)
                    .ok_or_else(|| format!("unknown Kafka error name {name:?}"))?,
            ),
        };
        let pending = self.coordinator.pending_markers(id);
        let partitions = match r.opt_str_list("partitions")? {
            Some(list) => parse_partitions(list)?,
            None => pending.iter().map(|m| m.partition.clone()).collect(),
        };
        // The markers answered are this id's current ones (in flight or dropped), as the
        // leader that received them echoes them; with none the answer matches nothing and is
        // ignored.
        let current = self.coordinator.transaction(id).and_then(|m| {
            Some((
                m.producer_id,
                m.producer_epoch,
                m.pending_completion?.coordinator_epoch,
                m.marker_result()?,
            ))
        });
        let (producer_id, producer_epoch, coordinator_epoch, result) = current.unwrap_or((
            NO_PRODUCER_ID,
            NO_PRODUCER_EPOCH,
            self.coordinator.coordinator_epoch(),
            TransactionResult::Commit,
        ));
        let response = WriteTxnMarkersResponse {
            transactional_id: id.to_string(),
            producer_id,
            producer_epoch,
            coordinator_epoch,
            result,
            partitions,
            error,
        };
        self.coordinator
            .handle_write_txn_markers_response(&response)
            .map_err(|e| e.to_string())?;
        Ok(Outcome::Empty)
    }

    /// The `assert` view of one transactional id.
    fn describe(&self, id: &str) -> Value {
        let Some(m) = self.coordinator.transaction(id) else {
            return json!({ "transactional_id": id, "state": "absent" });
        };
        let partitions: Vec<String> = m.partitions.iter().map(ToString::to_string).collect();
        let markers: Vec<Value> = self
            .coordinator
            .pending_markers(id)
            .into_iter()
            .map(|mk| {
                json!({
                    "partition": mk.partition.to_string(),
                    "producer_id": mk.producer_id,
                    "producer_epoch": mk.producer_epoch,
                    "coordinator_epoch": mk.coordinator_epoch,
                    "result": mk.result.to_string(),
                })
            })
            .collect();
        json!({
            "transactional_id": id,
            "state": m.state.name(),
            "producer_id": m.producer_id,
            "producer_epoch": m.producer_epoch,
            "last_producer_epoch": m.last_producer_epoch,
            "partitions": partitions,
            "pending_markers": markers,
        })
    }
}

/// A required integer field that must fit `T`.
fn required_int<T: TryFrom<i64>>(r: &StepReader<'_>, key: &str) -> Result<T, String> {
    if r.raw(key).is_none() {
        return Err(format!("missing field {key:?}"));
    }
    let v = r.i64(key, 0)?;
    T::try_from(v).map_err(|_| format!("field {key:?} = {v} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::parse_vector;

    fn run_text(config: &str, steps: &str) -> Verdict {
        let text = format!(
            r#"{{"format": 1, "id": "x", "role": "coordinator", "config": {config}, "steps": {steps}}}"#
        );
        let v = parse_vector(&text).unwrap();
        run(&v.config, &v.steps)
    }

    #[test]
    fn unknown_op_field_or_config_key_is_malformed() {
        assert!(matches!(
            run_text("{}", r#"[{"op": "nope"}]"#),
            Verdict::Malformed(_)
        ));
        assert!(matches!(
            run_text(
                "{}",
                r#"[{"op": "init_producer_id", "transactional_idd": "t"}]"#
            ),
            Verdict::Malformed(_)
        ));
        assert!(matches!(
            run_text(r#"{"bogus": 1}"#, "[]"),
            Verdict::Malformed(_)
        ));
        assert!(matches!(
            run_text(r#"{"transaction_version": 3}"#, "[]"),
            Verdict::Malformed(_)
        ));
        assert!(matches!(
            run_text(
                "{}",
                r#"[{"op": "markers_written", "transactional_id": "t", "error": "CORRUPT_MESSAGE"}]"#
            ),
            Verdict::Malformed(_)
        ));
        assert!(matches!(
            run_text(
                "{}",
                r#"[{"op": "add_partitions", "transactional_id": "t", "producer_id": 0, "producer_epoch": 0, "partitions": ["nodash"]}]"#
            ),
            Verdict::Malformed(_)
        ));
    }

    #[test]
    fn mismatch_reports_step_expected_and_projected_actual() {
        let v = run_text(
            "{}",
            r#"[{"op": "init_producer_id", "transactional_id": "t"},
                {"op": "assert", "expect": {"transactional_id": "t", "state": "Ongoing"}}]"#,
        );
        let Verdict::Fail(f) = v else { panic!("{v}") };
        assert_eq!((f.step, f.op.as_str()), (2, "assert"));
        assert_eq!(f.actual, json!({"transactional_id": "t", "state": "Empty"}));
    }

    #[test]
    fn unasserted_error_fails_and_end_txn_empty_expect_accepts_any_success() {
        let v = run_text(
            "{}",
            r#"[{"op": "init_producer_id", "transactional_id": ""}]"#,
        );
        assert!(matches!(v, Verdict::Fail(_)), "{v}");
        let v = run_text(
            "{}",
            r#"[{"op": "init_producer_id", "transactional_id": "t"},
                {"op": "add_partitions", "transactional_id": "t", "producer_id": 0, "producer_epoch": 0, "partitions": ["a-0"]},
                {"op": "end_txn", "transactional_id": "t", "producer_id": 0, "producer_epoch": 0, "result": "commit", "expect": {}},
                {"op": "assert", "expect": {"transactional_id": "t", "state": "PrepareCommit", "producer_epoch": 1}},
                {"op": "markers_written", "transactional_id": "t"},
                {"op": "assert", "expect": {"transactional_id": "t", "state": "CompleteCommit", "pending_markers": []}},
                {"op": "assert", "expect": {"transactional_id": "u", "state": "absent"}}]"#,
        );
        assert_eq!(v, Verdict::Pass);
        let v = run_text(
            "{}",
            r#"[{"op": "end_txn", "transactional_id": "t", "producer_id": 0, "producer_epoch": 0, "result": "commit", "expect": {}}]"#,
        );
        assert!(matches!(v, Verdict::Fail(_)), "{v}");
    }
}
