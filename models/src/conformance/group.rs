//! Conformance runner for the `group` role (FORMAT.md, "Role `group`"): one
//! [`GroupCoordinator`] of one `__consumer_offsets` partition, driven through load_group /
//! offset_commit / txn_offset_commit / write_marker / offset_fetch / assert / advance_clock.
//!
//! Requests go at the newest versions the core speaks (OffsetCommit v9, TxnOffsetCommit v5,
//! OffsetFetch v9). Results compare exactly; `assert` compares each key it names exactly. A step
//! without `expect` must only run (FORMAT.md asks "no error" of the partition and coordinator
//! roles only).

use std::collections::{BTreeMap, BTreeSet};

use kafka_eos::group::{
    ClassicGroup, ClassicGroupMember, ClassicGroupState, GroupCoordinator, GroupCoordinatorConfig,
    OffsetCommitRequest, OffsetFetchRequest, TxnOffsetCommitRequest, WriteTxnMarker,
    OFFSET_COMMIT_VERSION, OFFSET_FETCH_VERSION, TXN_OFFSET_COMMIT_VERSION,
};
use kafka_eos::{ErrorCode, TopicPartition, TransactionResult, TransactionVersion};
use serde_json::{json, Map, Value};

use super::{
    check_config_keys, matches_exact, project, run_steps, StepFailure, StepReader, Verdict,
};

/// Runs the steps of a `group` vector against a fresh instance.
pub fn run(config: &Map<String, Value>, steps: &[Map<String, Value>]) -> Verdict {
    run_steps(Runner::new(config), steps, Runner::step)
}

struct Runner {
    coordinator: GroupCoordinator,
    require_stable: bool,
    clock: i64,
}

/// What a step produced.
enum Outcome {
    /// Compare `expect` exactly with this.
    Exact(Value),
    /// `assert`: compare each key `expect` names exactly.
    Keys(Value),
    /// Ops whose `expect` must be `{}` (or absent).
    Empty,
}

fn parse_partition(s: &str) -> Result<TopicPartition, String> {
    s.parse::<TopicPartition>().map_err(|e| e.to_string())
}

fn parse_offsets(r: &StepReader<'_>) -> Result<BTreeMap<TopicPartition, i64>, String> {
    let obj = match r.raw("offsets") {
        Some(Value::Object(o)) => o,
        Some(other) => return Err(format!("\"offsets\" must be an object, got {other}")),
        None => return Err("missing field \"offsets\"".into()),
    };
    if obj.is_empty() {
        return Err("\"offsets\" must not be empty".into());
    }
    obj.iter()
        .map(|(p, v)| {
            let offset = v
                .as_i64()
                .ok_or_else(|| format!("offset of {p:?} must be an integer, got {v}"))?;
            if offset < 0 {
                return Err(format!("offset of {p:?} must be ≥ 0, got {offset}"));
            }
            Ok((parse_partition(p)?, offset))
        })
        .collect()
}

fn commit_outcome(errors: BTreeMap<TopicPartition, ErrorCode>) -> Value {
    if errors.is_empty() {
        json!({})
    } else {
        let errors: Map<String, Value> = errors
            .into_iter()
            .map(|(p, e)| (p.to_string(), json!(e.name())))
            .collect();
        json!({ "errors": errors })
    }
}

fn check_keys(obj: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(format!("unknown expect field {key:?}"));
        }
    }
    Ok(())
}

impl Runner {
    fn new(config: &Map<String, Value>) -> Result<Self, String> {
        check_config_keys(config, &["require_stable"])?;
        let require_stable = match config.get("require_stable") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(format!(
                    "config \"require_stable\" must be a boolean, got {other}"
                ))
            }
        };
        Ok(Runner {
            coordinator: GroupCoordinator::new(GroupCoordinatorConfig::default()),
            require_stable,
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
            "load_group" => self.load_group(step)?,
            "offset_commit" => self.offset_commit(step)?,
            "txn_offset_commit" => self.txn_offset_commit(step)?,
            "write_marker" => self.write_marker(step)?,
            "offset_fetch" => self.offset_fetch(step)?,
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
                let expect = match step.get("expect") {
                    Some(Value::Object(e)) => e,
                    _ => return Err("assert needs an object \"expect\"".into()),
                };
                check_keys(
                    expect,
                    &["group", "state", "committed", "open_producer_ids"],
                )?;
                let group = match expect.get("group") {
                    Some(Value::String(g)) => g.clone(),
                    _ => return Err("an assert's expect needs a string \"group\"".into()),
                };
                Outcome::Keys(self.describe(&group))
            }
            other => return Err(format!("unknown op {other:?}")),
        };
        let expect = step.get("expect");
        let fail = |expected: &Value, actual: &Value| {
            Some(StepFailure {
                step: n,
                op: op.to_string(),
                expected: expected.clone(),
                actual: project(expected, actual),
            })
        };
        Ok(match (outcome, expect) {
            (_, None) => None,
            (Outcome::Exact(actual), Some(expected)) => {
                if matches_exact(expected, &actual) {
                    None
                } else {
                    fail(expected, &actual)
                }
            }
            (Outcome::Keys(actual), Some(expected)) => {
                let ok = expected.as_object().is_some_and(|e| {
                    e.iter()
                        .all(|(k, v)| actual.get(k).is_some_and(|a| matches_exact(v, a)))
                });
                if ok {
                    None
                } else {
                    fail(expected, &actual)
                }
            }
            (Outcome::Empty, Some(expected)) => {
                if expected == &json!({}) {
                    None
                } else {
                    return Err(format!("{op} takes no expect other than {{}}"));
                }
            }
        })
    }

    fn load_group(&mut self, step: &Map<String, Value>) -> Result<Outcome, String> {
        let r = StepReader::new(step, &["group", "state", "generation", "members"])?;
        let state = match r.opt_str("state")? {
            None => ClassicGroupState::Empty,
            Some(s) => s.parse::<ClassicGroupState>().map_err(|e| e.to_string())?,
        };
        let mut members = BTreeMap::new();
        match r.raw("members") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for m in list {
                    let m = m
                        .as_object()
                        .ok_or_else(|| format!("a member must be an object, got {m}"))?;
                    let mr = StepReader::new(m, &["member_id", "group_instance_id"])?;
                    let member_id = mr.str("member_id")?.to_string();
                    let group_instance_id = mr.opt_str("group_instance_id")?.map(str::to_string);
                    if members
                        .insert(member_id.clone(), ClassicGroupMember { group_instance_id })
                        .is_some()
                    {
                        return Err(format!("member {member_id:?} is listed twice"));
                    }
                }
            }
            Some(other) => return Err(format!("\"members\" must be a list, got {other}")),
        }
        let group = ClassicGroup {
            group_id: r.str("group")?.to_string(),
            state,
            generation_id: r.int("generation", 0)?,
            protocol_type: Some("consumer".to_string()),
            members,
        };
        // The log record is the coordinator's own; the runner keeps no log.
        let _outputs = self
            .coordinator
            .load_group(group, self.clock)
            .map_err(|e| e.to_string())?;
        Ok(Outcome::Empty)
    }

    fn offset_commit(&mut self, step: &Map<String, Value>) -> Result<Outcome, String> {
        let r = StepReader::new(
            step,
            &[
                "group",
                "member_id",
                "generation",
                "group_instance_id",
                "offsets",
            ],
        )?;
        let request = OffsetCommitRequest {
            group_id: r.str("group")?.to_string(),
            generation_id: r.int("generation", -1)?,
            member_id: r.opt_str("member_id")?.unwrap_or("").to_string(),
            group_instance_id: r.opt_str("group_instance_id")?.map(str::to_string),
            offsets: parse_offsets(&r)?,
            version: OFFSET_COMMIT_VERSION,
        };
        let (answer, _outputs) = self
            .coordinator
            .handle_offset_commit(&request, self.clock)
            .map_err(|e| e.to_string())?;
        Ok(Outcome::Exact(commit_outcome(answer.errors())))
    }

    fn txn_offset_commit(&mut self, step: &Map<String, Value>) -> Result<Outcome, String> {
        let r = StepReader::new(
            step,
            &[
                "group",
                "transactional_id",
                "producer_id",
                "producer_epoch",
                "member_id",
                "generation",
                "group_instance_id",
                "offsets",
            ],
        )?;
        if r.raw("producer_id").is_none() || r.raw("producer_epoch").is_none() {
            return Err("txn_offset_commit needs producer_id and producer_epoch".into());
        }
        let request = TxnOffsetCommitRequest {
            transactional_id: r.opt_str("transactional_id")?.unwrap_or("").to_string(),
            group_id: r.str("group")?.to_string(),
            producer_id: r.i64("producer_id", -1)?,
            producer_epoch: r.int("producer_epoch", -1)?,
            generation_id: r.int("generation", -1)?,
            member_id: r.opt_str("member_id")?.unwrap_or("").to_string(),
            group_instance_id: r.opt_str("group_instance_id")?.map(str::to_string),
            offsets: parse_offsets(&r)?,
            version: TXN_OFFSET_COMMIT_VERSION,
        };
        let (answer, _outputs) = self
            .coordinator
            .handle_txn_offset_commit(&request, self.clock)
            .map_err(|e| e.to_string())?;
        Ok(Outcome::Exact(commit_outcome(answer.errors())))
    }

    fn write_marker(&mut self, step: &Map<String, Value>) -> Result<Outcome, String> {
        let r = StepReader::new(
            step,
            &[
                "producer_id",
                "producer_epoch",
                "coordinator_epoch",
                "result",
            ],
        )?;
        if r.raw("producer_id").is_none() || r.raw("producer_epoch").is_none() {
            return Err("write_marker needs producer_id and producer_epoch".into());
        }
        let result = match r.str("result")? {
            "commit" => TransactionResult::Commit,
            "abort" => TransactionResult::Abort,
            other => {
                return Err(format!(
                    "result must be \"commit\" or \"abort\", got {other:?}"
                ))
            }
        };
        let marker = WriteTxnMarker {
            transactional_id: String::new(),
            partition: self.coordinator.config().offsets_partition.clone(),
            producer_id: r.i64("producer_id", -1)?,
            producer_epoch: r.int("producer_epoch", -1)?,
            coordinator_epoch: r.int("coordinator_epoch", 0)?,
            result,
            transaction_version: TransactionVersion::Tv2,
        };
        let (answer, _outputs) = self
            .coordinator
            .handle_write_txn_marker(&marker, self.clock);
        Ok(Outcome::Exact(match answer.error {
            None => json!({}),
            Some(e) => json!({ "error": e.name() }),
        }))
    }

    fn offset_fetch(&mut self, step: &Map<String, Value>) -> Result<Outcome, String> {
        let r = StepReader::new(step, &["group", "partitions", "require_stable"])?;
        let partitions = match r.opt_str_list("partitions")? {
            None => None,
            Some(list) if list.is_empty() => {
                return Err("\"partitions\" must be null or a non-empty list".into())
            }
            Some(list) => Some(
                list.into_iter()
                    .map(parse_partition)
                    .collect::<Result<BTreeSet<_>, _>>()?,
            ),
        };
        let request = OffsetFetchRequest {
            group_id: r.str("group")?.to_string(),
            partitions,
            require_stable: r.bool("require_stable", self.require_stable)?,
            version: OFFSET_FETCH_VERSION,
        };
        let answer = self
            .coordinator
            .handle_offset_fetch(&request)
            .map_err(|e| e.to_string())?;
        let mut offsets = Map::new();
        let mut errors = Map::new();
        for (p, result) in answer.partitions {
            match result {
                Ok(offset) => {
                    offsets.insert(p.to_string(), json!(offset));
                }
                Err(e) => {
                    offsets.insert(p.to_string(), json!(-1));
                    errors.insert(p.to_string(), json!(e.name()));
                }
            }
        }
        Ok(Outcome::Exact(
            json!({ "offsets": offsets, "errors": errors }),
        ))
    }

    /// The group as `assert` sees it.
    fn describe(&self, group_id: &str) -> Value {
        let state = self
            .coordinator
            .group(group_id)
            .map_or("absent", |g| g.state.name());
        let committed: Map<String, Value> = self
            .coordinator
            .committed_offsets(group_id)
            .into_iter()
            .map(|(p, o)| (p.to_string(), json!(o.committed_offset)))
            .collect();
        let open: Vec<i64> = self
            .coordinator
            .open_producer_ids(group_id)
            .into_iter()
            .collect();
        json!({
            "group": group_id,
            "state": state,
            "committed": committed,
            "open_producer_ids": open,
        })
    }
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
    fn unknown_op_field_and_config_are_malformed() {
        let v = run(&Map::new(), &steps(json!([{"op": "join_group"}])));
        assert!(matches!(v, Verdict::Malformed(_)), "{v}");
        let v = run(
            &Map::new(),
            &steps(
                json!([{"op": "offset_commit", "group": "g", "offsets": {"t-0": 1}, "epoch": 3}]),
            ),
        );
        assert!(matches!(v, Verdict::Malformed(_)), "{v}");
        let mut config = Map::new();
        config.insert("isolation".into(), json!("read_committed"));
        let v = run(&config, &steps(json!([])));
        assert!(matches!(v, Verdict::Malformed(_)), "{v}");
    }

    #[test]
    fn load_of_an_existing_group_is_malformed() {
        let v = run(
            &Map::new(),
            &steps(json!([
                {"op": "load_group", "group": "g"},
                {"op": "load_group", "group": "g"}
            ])),
        );
        assert!(
            matches!(v, Verdict::Malformed(ref w) if w.starts_with("step 2")),
            "{v}"
        );
    }

    #[test]
    fn a_mismatch_reports_the_step() {
        let v = run(
            &Map::new(),
            &steps(json!([
                {"op": "offset_commit", "group": "g", "offsets": {"t-0": 5}, "expect": {}},
                {"op": "offset_fetch", "group": "g", "partitions": ["t-0"],
                 "expect": {"offsets": {"t-0": 6}, "errors": {}}}
            ])),
        );
        match v {
            Verdict::Fail(f) => {
                assert_eq!(f.step, 2);
                assert_eq!(f.actual, json!({"offsets": {"t-0": 5}, "errors": {}}));
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn config_require_stable_is_the_fetch_default() {
        let mut config = Map::new();
        config.insert("require_stable".into(), json!(true));
        let v = run(
            &config,
            &steps(json!([
                {"op": "txn_offset_commit", "group": "g", "transactional_id": "t",
                 "producer_id": 1, "producer_epoch": 0, "offsets": {"t-0": 5}},
                {"op": "offset_fetch", "group": "g", "partitions": ["t-0"],
                 "expect": {"offsets": {"t-0": -1}, "errors": {"t-0": "UNSTABLE_OFFSET_COMMIT"}}},
                {"op": "offset_fetch", "group": "g", "partitions": ["t-0"], "require_stable": false,
                 "expect": {"offsets": {"t-0": -1}, "errors": {}}},
                {"op": "assert", "expect": {"group": "g", "state": "Empty", "open_producer_ids": [1]}}
            ])),
        );
        assert!(v.is_pass(), "{v}");
    }
}
