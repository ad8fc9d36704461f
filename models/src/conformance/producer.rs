//! Conformance runner for the `producer` role (FORMAT.md, "Role `producer`").
//!
//! The runner plays the network: it keeps the producer's outstanding requests in emission
//! order, and `respond` answers the oldest outstanding one of the named API (and partition, for
//! Produce). Each step's actual outcome is `{"sends": [API names]}` (absent when none) plus
//! `{"error": NAME}` (absent when none): the refused call's error, or for a response the error
//! surfaced to the application (a failed batch's error, else the error-state error).

use kafka_eos::error::ErrorCode;
use kafka_eos::messages::ProducerIdAndEpoch;
use kafka_eos::producer::{
    BatchError, ErrorClass, Producer, ProducerCallError, ProducerConfig, ProducerEvent,
    ProducerOutput, Request, RequestId, Response,
};
use kafka_eos::types::{TopicPartition, TransactionVersion};
use serde_json::{json, Map, Value};

use super::{
    check_config_keys, config_i64, matches_exact, matches_subset, project, StepFailure, StepReader,
    Verdict,
};

struct Pending {
    id: RequestId,
    api: &'static str,
    partition: Option<TopicPartition>,
}

fn config_from(config: &Map<String, Value>) -> Result<ProducerConfig, String> {
    check_config_keys(
        config,
        &["transactional_id", "transaction_version", "max_in_flight"],
    )?;
    let transactional_id = match config.get("transactional_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => {
            return Err(format!(
                "config \"transactional_id\" must be a string, got {v}"
            ))
        }
    };
    let tv = config_i64(config, "transaction_version", 2)?;
    let transaction_version = i16::try_from(tv)
        .ok()
        .and_then(TransactionVersion::from_level)
        .ok_or_else(|| format!("config \"transaction_version\" = {tv} is not 0, 1 or 2"))?;
    let mif = config_i64(config, "max_in_flight", 5)?;
    let max_in_flight =
        u8::try_from(mif).map_err(|_| format!("config \"max_in_flight\" = {mif} out of range"))?;
    let cfg = ProducerConfig {
        transactional_id,
        transaction_version,
        max_in_flight,
        ..ProducerConfig::default()
    };
    cfg.validate().map_err(|e| e.to_string())?;
    Ok(cfg)
}

fn call_error_name(e: &ProducerCallError) -> String {
    match e {
        ProducerCallError::IllegalState { .. } => "ILLEGAL_STATE".into(),
        ProducerCallError::Failed(code) => code.name().into(),
        ProducerCallError::InvalidRecordCount(_) => "INVALID_RECORD".into(),
        ProducerCallError::InvalidGroupMetadata { .. } => "INVALID_GROUP_METADATA".into(),
    }
}

fn surfaced_error(events: &[ProducerEvent]) -> Option<String> {
    let failed = events.iter().find_map(|e| match e {
        ProducerEvent::SendFailed {
            error: BatchError::Kafka(code),
            ..
        } => Some(code.name().to_string()),
        _ => None,
    });
    failed.or_else(|| {
        events.iter().find_map(|e| match e {
            ProducerEvent::Error(code) => Some(code.name().to_string()),
            _ => None,
        })
    })
}

fn outcome(sends: &[Request<()>], error: Option<String>) -> Value {
    let mut obj = Map::new();
    if !sends.is_empty() {
        obj.insert(
            "sends".into(),
            Value::Array(sends.iter().map(|r| json!(r.api_name())).collect()),
        );
    }
    if let Some(e) = error {
        obj.insert("error".into(), Value::String(e));
    }
    Value::Object(obj)
}

fn record(pending: &mut Vec<Pending>, out: &ProducerOutput<()>) {
    for r in &out.sends {
        let partition = match r {
            Request::Produce { request, .. } => Some(request.partition.clone()),
            _ => None,
        };
        pending.push(Pending {
            id: r.id(),
            api: r.api_name(),
            partition,
        });
    }
}

fn snapshot(p: &Producer<()>, expect: &Value) -> Value {
    let mut next = Map::new();
    if let Some(Value::Object(named)) = expect.get("next_sequence") {
        for key in named.keys() {
            if let Ok(tp) = key.parse::<TopicPartition>() {
                next.insert(key.clone(), json!(p.next_sequence(&tp)));
            }
        }
    }
    json!({
        "state": p.state().name(),
        "producer_id": p.producer_id(),
        "producer_epoch": p.producer_epoch(),
        "next_sequence": Value::Object(next),
        "error_class": match p.error_class() {
            Some(ErrorClass::Abortable) => json!("abortable"),
            Some(ErrorClass::Fatal) => json!("fatal"),
            None => Value::Null,
        },
    })
}

/// Runs the steps of a `producer` vector against a fresh instance.
pub fn run(config: &Map<String, Value>, steps: &[Map<String, Value>]) -> Verdict {
    match run_inner(config, steps) {
        Ok(v) => v,
        Err(why) => Verdict::Malformed(why),
    }
}

fn run_inner(config: &Map<String, Value>, steps: &[Map<String, Value>]) -> Result<Verdict, String> {
    let cfg = config_from(config)?;
    let mut producer: Producer<()> = Producer::new(cfg).map_err(|e| e.to_string())?;
    let mut pending: Vec<Pending> = Vec::new();
    let mut clock: i64 = 0;
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        let op = match step.get("op") {
            Some(Value::String(s)) => s.clone(),
            other => return Err(format!("step {n}: op must be a string, got {other:?}")),
        };
        let ctx = |e: String| format!("step {n} ({op}): {e}");
        let actual = match op.as_str() {
            "init" | "begin" | "commit" | "abort" => {
                let r = StepReader::new(step, &[]).map_err(ctx)?;
                let res = match op.as_str() {
                    "init" => producer.init(clock),
                    "begin" => producer.begin(clock),
                    "commit" => producer.commit(clock),
                    _ => producer.abort(clock),
                };
                let v = match res {
                    Ok(out) => {
                        record(&mut pending, &out);
                        outcome(&out.sends, None)
                    }
                    Err(e) => outcome(&[], Some(call_error_name(&e))),
                };
                (r.expect(), v, false)
            }
            "send" => {
                let r = StepReader::new(step, &["partition", "record_count"]).map_err(ctx)?;
                let tp: TopicPartition = r
                    .opt_str("partition")
                    .map_err(ctx)?
                    .ok_or_else(|| ctx("send needs a partition".into()))?
                    .parse()
                    .map_err(|e: kafka_eos::ParseError| ctx(e.to_string()))?;
                let count = r.int::<i32>("record_count", 1).map_err(ctx)?;
                let v = match producer.send(tp, count, (), clock) {
                    Ok(out) => {
                        record(&mut pending, &out);
                        outcome(&out.sends, None)
                    }
                    Err(e) => outcome(&[], Some(call_error_name(&e))),
                };
                (r.expect(), v, false)
            }
            "respond" => {
                let r = StepReader::new(
                    step,
                    &[
                        "api",
                        "partition",
                        "error",
                        "producer_id",
                        "producer_epoch",
                        "base_offset",
                    ],
                )
                .map_err(ctx)?;
                let api = r
                    .opt_str("api")
                    .map_err(ctx)?
                    .ok_or_else(|| ctx("respond needs an api".into()))?;
                let partition = match r.opt_str("partition").map_err(ctx)? {
                    None => None,
                    Some(s) => Some(
                        s.parse::<TopicPartition>()
                            .map_err(|e| ctx(e.to_string()))?,
                    ),
                };
                let error = match r.opt_str("error").map_err(ctx)? {
                    None => None,
                    Some(name) => Some(
                        ErrorCode::from_name(name)
                            .ok_or_else(|| ctx(format!("unknown error name {name:?}")))?,
                    ),
                };
                let pid = r.i64("producer_id", -1).map_err(ctx)?;
                let epoch = r.int::<i16>("producer_epoch", -1).map_err(ctx)?;
                let base_offset = r.i64("base_offset", -1).map_err(ctx)?;
                let pos = pending
                    .iter()
                    .position(|p| p.api == api && (partition.is_none() || p.partition == partition))
                    .ok_or_else(|| ctx(format!("no outstanding {api} request to answer")))?;
                let target = pending.remove(pos);
                let response = match api {
                    "InitProducerId" => Response::InitProducerId(match error {
                        Some(e) => Err(e),
                        None => Ok(ProducerIdAndEpoch {
                            producer_id: pid,
                            producer_epoch: epoch,
                        }),
                    }),
                    "AddPartitionsToTxn" => Response::AddPartitionsToTxn(match error {
                        Some(e) => Err(e),
                        None => Ok(()),
                    }),
                    "Produce" => Response::Produce(match error {
                        Some(e) => Err(e),
                        None => Ok(base_offset),
                    }),
                    "EndTxn" => Response::EndTxn(match error {
                        Some(e) => Err(e),
                        None => Ok((pid >= 0).then_some(ProducerIdAndEpoch {
                            producer_id: pid,
                            producer_epoch: epoch,
                        })),
                    }),
                    other => return Err(ctx(format!("unknown api {other:?}"))),
                };
                let out = producer
                    .handle_response(target.id, response, clock)
                    .map_err(|e| ctx(e.to_string()))?;
                record(&mut pending, &out);
                (
                    r.expect(),
                    outcome(&out.sends, surfaced_error(&out.events)),
                    false,
                )
            }
            "advance_clock" => {
                let r = StepReader::new(step, &["ms"]).map_err(ctx)?;
                let ms = r.i64("ms", 0).map_err(ctx)?;
                clock = clock.saturating_add(ms);
                (r.expect(), json!({}), false)
            }
            "assert" => {
                let r = StepReader::new(step, &[]).map_err(ctx)?;
                let expect = r
                    .expect()
                    .ok_or_else(|| ctx("assert needs an expect".into()))?;
                if let Value::Object(o) = expect {
                    for k in o.keys() {
                        if ![
                            "state",
                            "producer_id",
                            "producer_epoch",
                            "next_sequence",
                            "error_class",
                        ]
                        .contains(&k.as_str())
                        {
                            return Err(ctx(format!("unknown assert key {k:?}")));
                        }
                    }
                } else {
                    return Err(ctx("assert expect must be an object".into()));
                }
                (Some(expect), snapshot(&producer, expect), true)
            }
            other => return Err(format!("step {n}: unknown op {other:?}")),
        };
        // Forget requests the producer no longer waits for.
        pending.retain(|p| producer.outstanding().contains_key(&p.id));
        let (expect, actual, subset) = actual;
        if let Some(expect) = expect {
            let ok = if subset {
                matches_subset(expect, &actual)
            } else {
                matches_exact(expect, &actual)
            };
            if !ok {
                let shown = if subset {
                    project(expect, &actual)
                } else {
                    actual
                };
                return Ok(Verdict::Fail(StepFailure {
                    step: n,
                    op,
                    expected: expect.clone(),
                    actual: shown,
                }));
            }
        }
    }
    Ok(Verdict::Pass)
}
