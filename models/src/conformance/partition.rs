//! Conformance runner for the `partition` role (`FORMAT.md`, role `partition`): one partition
//! leader with one replica, driven through produce / write_marker / expire_producers / fetch /
//! assert / advance_clock steps.

use serde_json::{json, Map, Value};

use kafka_eos::partition::{
    consumer_records, AppendOutcome, IsolationLevel, PartitionConfig, PartitionLeader,
    ProduceBatch, TxnMarker,
};
use kafka_eos::{ErrorCode, TransactionResult, TransactionVersion};

use super::{
    check_config_keys, config_i64, matches_exact, matches_subset, project, StepFailure, StepReader,
    Verdict,
};

/// Runs the steps of a `partition` vector against a fresh instance.
pub fn run(config: &Map<String, Value>, steps: &[Map<String, Value>]) -> Verdict {
    match run_inner(config, steps) {
        Ok(verdict) => verdict,
        Err(why) => Verdict::Malformed(why),
    }
}

fn error_value(code: ErrorCode) -> Value {
    json!({ "error": code.name() })
}

fn run_inner(config: &Map<String, Value>, steps: &[Map<String, Value>]) -> Result<Verdict, String> {
    check_config_keys(
        config,
        &["transaction_version", "producer_id_expiration_ms"],
    )?;
    let level = config_i64(config, "transaction_version", 2)?;
    let tv = i16::try_from(level)
        .ok()
        .and_then(TransactionVersion::from_level)
        .ok_or_else(|| format!("config \"transaction_version\" must be 0, 1 or 2, got {level}"))?;
    let partition_config = PartitionConfig {
        producer_id_expiration_ms: config_i64(config, "producer_id_expiration_ms", 86_400_000)?,
        ..PartitionConfig::default()
    };
    let mut leader: PartitionLeader<()> = PartitionLeader::new(partition_config);
    let mut clock: i64 = 0;

    for (index, step) in steps.iter().enumerate() {
        let number = index + 1;
        let at = |why: String| format!("step {number}: {why}");
        let op = match step.get("op") {
            Some(Value::String(op)) => op.as_str(),
            other => return Err(at(format!("\"op\" must be a string, got {other:?}"))),
        };
        // (actual outcome, compare by subset?)
        let (actual, subset): (Value, bool) = match op {
            "produce" => {
                let r = StepReader::new(
                    step,
                    &[
                        "producer_id",
                        "producer_epoch",
                        "base_sequence",
                        "record_count",
                        "transactional",
                        "timestamp",
                    ],
                )
                .map_err(at)?;
                let batch = ProduceBatch {
                    producer_id: r.i64("producer_id", -1).map_err(at)?,
                    producer_epoch: r.int::<i16>("producer_epoch", -1).map_err(at)?,
                    base_sequence: r.int::<i32>("base_sequence", -1).map_err(at)?,
                    record_count: r.int::<i32>("record_count", 1).map_err(at)?,
                    is_transactional: r.bool("transactional", false).map_err(at)?,
                    max_timestamp: r.i64("timestamp", clock).map_err(at)?,
                    payload: (),
                };
                // Format v1: every transactional produce has passed KIP-890 verification.
                let guard = if batch.is_transactional {
                    leader
                        .start_verification(
                            batch.producer_id,
                            batch.producer_epoch,
                            batch.base_sequence,
                            tv.supports_epoch_bump(),
                            clock,
                        )
                        .map(Some)
                } else {
                    Ok(None)
                };
                let outcome = guard.and_then(|g| leader.append(batch, g));
                let v = match outcome {
                    Ok(AppendOutcome::Appended { base_offset, .. }) => {
                        json!({ "base_offset": base_offset })
                    }
                    Ok(AppendOutcome::Duplicate { base_offset, .. }) => {
                        json!({ "base_offset": base_offset, "duplicate": true })
                    }
                    Err(code) => error_value(code),
                };
                (v, false)
            }
            "write_marker" => {
                let r = StepReader::new(
                    step,
                    &[
                        "producer_id",
                        "producer_epoch",
                        "coordinator_epoch",
                        "result",
                        "timestamp",
                    ],
                )
                .map_err(at)?;
                let result = match r.str("result").map_err(at)? {
                    "commit" => TransactionResult::Commit,
                    "abort" => TransactionResult::Abort,
                    other => return Err(at(format!("unknown result {other:?}"))),
                };
                if r.raw("producer_id").is_none() || r.raw("producer_epoch").is_none() {
                    return Err(at(
                        "write_marker needs producer_id and producer_epoch".into()
                    ));
                }
                let marker = TxnMarker {
                    producer_id: r.i64("producer_id", -1).map_err(at)?,
                    producer_epoch: r.int::<i16>("producer_epoch", -1).map_err(at)?,
                    coordinator_epoch: r.int::<i32>("coordinator_epoch", 0).map_err(at)?,
                    result,
                    timestamp: r.i64("timestamp", clock).map_err(at)?,
                    transaction_version: tv,
                };
                let v = match leader.write_marker(marker) {
                    Ok(offset) => json!({ "offset": offset }),
                    Err(code) => error_value(code),
                };
                (v, false)
            }
            "expire_producers" => {
                StepReader::new(step, &[]).map_err(at)?;
                (json!({ "expired": leader.expire_producers(clock) }), false)
            }
            "advance_clock" => {
                let r = StepReader::new(step, &["ms"]).map_err(at)?;
                if r.raw("ms").is_none() {
                    return Err(at("advance_clock needs \"ms\"".into()));
                }
                let ms = r.i64("ms", 0).map_err(at)?;
                if ms < 0 {
                    return Err(at(format!("advance_clock by a negative {ms} ms")));
                }
                clock = clock
                    .checked_add(ms)
                    .ok_or_else(|| at("the clock overflows".into()))?;
                if r.expect().is_some() {
                    return Err(at("advance_clock takes no expect".into()));
                }
                continue;
            }
            "fetch" => {
                let r = StepReader::new(step, &["from_offset", "isolation"]).map_err(at)?;
                let from_offset = r.i64("from_offset", 0).map_err(at)?;
                let isolation = match r.opt_str("isolation").map_err(at)? {
                    Some("read_committed") => IsolationLevel::ReadCommitted,
                    Some("read_uncommitted") | None => IsolationLevel::ReadUncommitted,
                    Some(other) => return Err(at(format!("unknown isolation {other:?}"))),
                };
                if let Some(Value::Object(e)) = r.expect() {
                    check_keys(
                        e,
                        &[
                            "offsets",
                            "last_stable_offset",
                            "high_watermark",
                            "aborted_transactions",
                            "error",
                        ],
                    )
                    .map_err(at)?;
                }
                let v = match leader.fetch(from_offset, isolation) {
                    Ok(resp) => {
                        let offsets: Vec<i64> = consumer_records(&resp, isolation, from_offset)
                            .map(|rec| rec.offset)
                            .collect();
                        let aborted: Vec<Value> = resp
                            .aborted_transactions
                            .iter()
                            .flatten()
                            .map(|a| json!({"producer_id": a.producer_id, "first_offset": a.first_offset}))
                            .collect();
                        json!({
                            "offsets": offsets,
                            "last_stable_offset": resp.last_stable_offset,
                            "high_watermark": resp.high_watermark,
                            "aborted_transactions": aborted,
                        })
                    }
                    Err(_) => json!({ "error": "OFFSET_OUT_OF_RANGE" }),
                };
                (v, true)
            }
            "assert" => {
                StepReader::new(step, &[]).map_err(at)?;
                let expect = match step.get("expect") {
                    Some(Value::Object(e)) => e,
                    _ => return Err(at("assert needs an object \"expect\"".into())),
                };
                check_keys(
                    expect,
                    &[
                        "log_end_offset",
                        "high_watermark",
                        "last_stable_offset",
                        "first_unstable_offset",
                        "producer",
                        "no_producer",
                    ],
                )
                .map_err(at)?;
                let mut actual = json!({
                    "log_end_offset": leader.log_end_offset(),
                    "high_watermark": leader.high_watermark(),
                    "last_stable_offset": leader.last_stable_offset(),
                    "first_unstable_offset": leader.first_unstable_offset(),
                });
                if let Some(p) = expect.get("producer") {
                    let p = p
                        .as_object()
                        .ok_or_else(|| at("\"producer\" must be an object".into()))?;
                    check_keys(
                        p,
                        &[
                            "producer_id",
                            "producer_epoch",
                            "last_sequence",
                            "coordinator_epoch",
                            "current_txn_first_offset",
                        ],
                    )
                    .map_err(at)?;
                    let pid = p
                        .get("producer_id")
                        .and_then(Value::as_i64)
                        .ok_or_else(|| at("\"producer\" needs an integer producer_id".into()))?;
                    actual["producer"] = match leader.producer(pid) {
                        Some(e) => json!({
                            "producer_id": e.producer_id,
                            "producer_epoch": e.producer_epoch,
                            "last_sequence": e.last_sequence(),
                            "coordinator_epoch": e.coordinator_epoch,
                            "current_txn_first_offset": e.current_txn_first_offset,
                        }),
                        None => Value::String(format!("no state for producer {pid}")),
                    };
                }
                if let Some(p) = expect.get("no_producer") {
                    let pid = p
                        .as_i64()
                        .ok_or_else(|| at("\"no_producer\" must be an integer".into()))?;
                    actual["no_producer"] = if leader.producer(pid).is_some() {
                        Value::String(format!("producer {pid} has state"))
                    } else {
                        json!(pid)
                    };
                }
                (actual, true)
            }
            other => return Err(at(format!("unknown op {other:?}"))),
        };
        match step.get("expect") {
            Some(expected) => {
                let ok = if subset {
                    matches_subset(expected, &actual)
                } else {
                    matches_exact(expected, &actual)
                };
                if !ok {
                    return Ok(Verdict::Fail(StepFailure {
                        step: number,
                        op: op.to_string(),
                        expected: expected.clone(),
                        actual: project(expected, &actual),
                    }));
                }
            }
            None => {
                if actual.get("error").is_some() {
                    return Ok(Verdict::Fail(StepFailure {
                        step: number,
                        op: op.to_string(),
                        expected: Value::String("no error (unasserted step)".into()),
                        actual,
                    }));
                }
            }
        }
    }
    Ok(Verdict::Pass)
}

fn check_keys(obj: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(format!("unknown expect field {key:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(v: Value) -> Vec<Map<String, Value>> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_object().unwrap().clone())
            .collect()
    }

    #[test]
    fn unknown_op_is_malformed() {
        let v = run(&Map::new(), &steps(json!([{"op": "truncate"}])));
        assert!(matches!(v, Verdict::Malformed(_)), "{v}");
    }

    #[test]
    fn unknown_field_is_malformed() {
        let v = run(
            &Map::new(),
            &steps(json!([{"op": "produce", "producer_id": 1, "sequence": 0}])),
        );
        assert!(matches!(v, Verdict::Malformed(_)), "{v}");
    }

    #[test]
    fn unknown_config_key_is_malformed() {
        let mut config = Map::new();
        config.insert("verification".into(), json!(false));
        let v = run(&config, &steps(json!([])));
        assert!(matches!(v, Verdict::Malformed(_)), "{v}");
    }

    #[test]
    fn unknown_assert_key_is_malformed() {
        let v = run(
            &Map::new(),
            &steps(json!([{"op": "assert", "expect": {"lso": 0}}])),
        );
        assert!(matches!(v, Verdict::Malformed(_)), "{v}");
    }

    #[test]
    fn unasserted_error_fails() {
        let v = run(
            &Map::new(),
            &steps(json!([
                {"op": "produce", "producer_id": 1, "producer_epoch": 0, "base_sequence": 0},
                {"op": "produce", "producer_id": 1, "producer_epoch": 0, "base_sequence": 7}
            ])),
        );
        assert!(matches!(v, Verdict::Fail(ref f) if f.step == 2), "{v}");
    }

    #[test]
    fn mismatch_reports_the_step() {
        let v = run(
            &Map::new(),
            &steps(json!([
                {"op": "produce", "producer_id": 1, "producer_epoch": 0, "base_sequence": 0,
                 "expect": {"base_offset": 1}}
            ])),
        );
        match v {
            Verdict::Fail(f) => {
                assert_eq!(f.step, 1);
                assert_eq!(f.actual, json!({"base_offset": 0}));
            }
            other => panic!("{other}"),
        }
    }
}
