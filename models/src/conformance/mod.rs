//! The conformance runner: replays vectors (`tests/conformance/FORMAT.md`) against the core.
//!
//! A vector drives one role of the core (partition leader, transaction coordinator, producer
//! client or group coordinator) through a list of steps and states each step's outcome as Apache Kafka gives it. The
//! runner reports, per vector, a pass, the first failing step (expected vs actual), or a
//! malformed vector (unknown op or field, a value of the wrong type). It never skips silently.

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

pub mod coordinator;
pub mod group;
pub mod partition;
pub mod producer;

/// The role a vector drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The leader of one partition.
    Partition,
    /// The transaction coordinator of one `__transaction_state` partition.
    Coordinator,
    /// The producer client's idempotent/transactional state machine.
    Producer,
    /// The group coordinator of one `__consumer_offsets` partition (offsets only).
    Group,
}

/// One conformance vector, as read from its JSON file.
#[derive(Clone, Debug)]
pub struct Vector {
    /// The vector's id (e.g. `A01-basic-sequence-epoch`).
    pub id: String,
    /// One line on what it checks.
    pub title: String,
    /// The Kafka test it was distilled from.
    pub source: String,
    /// The role it drives.
    pub role: Role,
    /// Role settings (every key optional).
    pub config: Map<String, Value>,
    /// The steps, in order.
    pub steps: Vec<Map<String, Value>>,
}

/// A step whose actual outcome differs from the expected one.
#[derive(Clone, Debug, PartialEq)]
pub struct StepFailure {
    /// The step number, from 1.
    pub step: usize,
    /// The step's `op`.
    pub op: String,
    /// The step's `expect` (or a description of what an unasserted step requires).
    pub expected: Value,
    /// What the core did, in the same shape.
    pub actual: Value,
}

/// The result of running one vector.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Every step behaved as expected.
    Pass,
    /// The first step that did not.
    Fail(StepFailure),
    /// The vector could not be run as written (unknown op or field, bad value), with the reason.
    Malformed(String),
}

impl Verdict {
    /// True for [`Verdict::Pass`].
    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass => f.write_str("pass"),
            Verdict::Fail(s) => write!(
                f,
                "FAIL at step {} ({}): expected {} but got {}",
                s.step, s.op, s.expected, s.actual
            ),
            Verdict::Malformed(why) => write!(f, "MALFORMED: {why}"),
        }
    }
}

/// Parses a vector from JSON text. Errors name what is wrong.
pub fn parse_vector(text: &str) -> Result<Vector, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let mut obj = match value {
        Value::Object(o) => o,
        _ => return Err("a vector must be a JSON object".into()),
    };
    for key in obj.keys() {
        if !["format", "id", "title", "source", "role", "config", "steps"].contains(&key.as_str()) {
            return Err(format!("unknown top-level field {key:?}"));
        }
    }
    match obj.get("format") {
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        other => {
            return Err(format!(
                "unsupported format {other:?} (this runner reads format 1)"
            ))
        }
    }
    let text_field = |obj: &Map<String, Value>, k: &str, required: bool| match obj.get(k) {
        Some(Value::String(s)) => Ok(s.clone()),
        None if !required => Ok(String::new()),
        other => Err(format!("field {k:?} must be a string, got {other:?}")),
    };
    let id = text_field(&obj, "id", true)?;
    let title = text_field(&obj, "title", false)?;
    let source = text_field(&obj, "source", false)?;
    let role = match text_field(&obj, "role", true)?.as_str() {
        "partition" => Role::Partition,
        "coordinator" => Role::Coordinator,
        "producer" => Role::Producer,
        "group" => Role::Group,
        other => return Err(format!("unknown role {other:?}")),
    };
    let config = match obj.remove("config") {
        None => Map::new(),
        Some(Value::Object(c)) => c,
        Some(other) => return Err(format!("config must be an object, got {other}")),
    };
    let steps = match obj.remove("steps") {
        Some(Value::Array(steps)) => steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| match s {
                Value::Object(o) => Ok(o),
                other => Err(format!("step {} must be an object, got {other}", i + 1)),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("steps must be an array".into()),
    };
    Ok(Vector {
        id,
        title,
        source,
        role,
        config,
        steps,
    })
}

/// Runs a parsed vector against a fresh instance of its role.
pub fn run_vector(vector: &Vector) -> Verdict {
    match vector.role {
        Role::Partition => partition::run(&vector.config, &vector.steps),
        Role::Coordinator => coordinator::run(&vector.config, &vector.steps),
        Role::Producer => producer::run(&vector.config, &vector.steps),
        Role::Group => group::run(&vector.config, &vector.steps),
    }
}

/// Reads, parses and runs one vector file. Returns the vector's id (or the file name when it
/// cannot be read) and its verdict.
pub fn run_file(path: &Path) -> (String, Verdict) {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return (name, Verdict::Malformed(format!("cannot read: {e}"))),
    };
    match parse_vector(&text) {
        Ok(v) => {
            let verdict = run_vector(&v);
            (v.id, verdict)
        }
        Err(why) => (name, Verdict::Malformed(why)),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the role runners.

/// Reads the fields of one step: checks them against the op's allowed set and converts values.
/// Every accessor reports a malformed vector as `Err(String)`.
pub struct StepReader<'a> {
    step: &'a Map<String, Value>,
}

impl<'a> StepReader<'a> {
    /// A reader over `step`, refusing any field outside `allowed` (`op` and `expect` are always
    /// allowed).
    pub fn new(step: &'a Map<String, Value>, allowed: &[&str]) -> Result<Self, String> {
        for key in step.keys() {
            if key != "op" && key != "expect" && !allowed.contains(&key.as_str()) {
                return Err(format!("unknown field {key:?}"));
            }
        }
        Ok(StepReader { step })
    }

    /// The raw value of a field, if present.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.step.get(key)
    }

    /// An integer field, or `default` when absent.
    pub fn i64(&self, key: &str, default: i64) -> Result<i64, String> {
        match self.step.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| format!("field {key:?} must be an integer, got {v}")),
        }
    }

    /// An integer field that must fit `T` (i16, i32, ...), or `default` when absent.
    pub fn int<T: TryFrom<i64>>(&self, key: &str, default: T) -> Result<T, String> {
        match self.step.get(key) {
            None => Ok(default),
            Some(_) => {
                let v = self.i64(key, 0)?;
                T::try_from(v).map_err(|_| format!("field {key:?} = {v} is out of range"))
            }
        }
    }

    /// A boolean field, or `default` when absent.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.step.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(format!("field {key:?} must be a boolean, got {v}")),
        }
    }

    /// A string field; `None` when absent or null.
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, String> {
        match self.step.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(format!("field {key:?} must be a string, got {v}")),
        }
    }

    /// A required string field.
    pub fn str(&self, key: &str) -> Result<&'a str, String> {
        self.opt_str(key)?
            .ok_or_else(|| format!("missing field {key:?}"))
    }

    /// A list of strings; `None` when absent or null.
    pub fn opt_str_list(&self, key: &str) -> Result<Option<Vec<&'a str>>, String> {
        match self.step.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .ok_or_else(|| format!("field {key:?} must hold strings, got {i}"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => Err(format!("field {key:?} must be a list, got {v}")),
        }
    }

    /// The step's `expect`, if any.
    pub fn expect(&self) -> Option<&'a Value> {
        self.step.get("expect")
    }
}

/// Reads one config key as an integer, with a default.
pub fn config_i64(config: &Map<String, Value>, key: &str, default: i64) -> Result<i64, String> {
    match config.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| format!("config {key:?} must be an integer, got {v}")),
    }
}

/// Checks that a config holds only the given keys.
pub fn check_config_keys(config: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    for key in config.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(format!("unknown config key {key:?}"));
        }
    }
    Ok(())
}

/// Exact comparison of an expected outcome with the actual one (integers compared by value).
pub fn matches_exact(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| matches_exact(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| matches_exact(v, w)))
        }
        _ => expected == actual,
    }
}

/// Subset comparison for `assert`-style expectations: every key of an expected object must be
/// present in the actual object and match (objects recursively by subset, lists exactly).
pub fn matches_subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(a), Value::Object(b)) => a
            .iter()
            .all(|(k, v)| b.get(k).is_some_and(|w| matches_subset(v, w))),
        _ => matches_exact(expected, actual),
    }
}

/// Restricts `actual` to the keys that `expected` names (recursively for objects), so that a
/// failure report shows like against like.
pub fn project(expected: &Value, actual: &Value) -> Value {
    match (expected, actual) {
        (Value::Object(a), Value::Object(b)) => Value::Object(
            a.iter()
                .map(|(k, v)| {
                    let w = b
                        .get(k)
                        .map_or(Value::String("<absent>".into()), |w| project(v, w));
                    (k.clone(), w)
                })
                .collect(),
        ),
        _ => actual.clone(),
    }
}

/// Runs a vector's steps through a role's runner: the first failing step fails the vector, a
/// step the runner cannot read makes it malformed (named by its 1-based number).
pub(crate) fn run_steps<R>(
    runner: Result<R, String>,
    steps: &[Map<String, Value>],
    mut step: impl FnMut(&mut R, usize, &Map<String, Value>) -> Result<Option<StepFailure>, String>,
) -> Verdict {
    let mut runner = match runner {
        Ok(runner) => runner,
        Err(why) => return Verdict::Malformed(why),
    };
    for (i, s) in steps.iter().enumerate() {
        match step(&mut runner, i + 1, s) {
            Ok(None) => {}
            Ok(Some(failure)) => return Verdict::Fail(failure),
            Err(why) => return Verdict::Malformed(format!("step {}: {why}", i + 1)),
        }
    }
    Verdict::Pass
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_and_exact() {
        assert!(matches_subset(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!matches_exact(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!matches_subset(&json!({"a": [1]}), &json!({"a": [1, 2]})));
        assert!(matches_subset(
            &json!({"p": {"x": null}}),
            &json!({"p": {"x": null, "y": 1}})
        ));
        assert!(!matches_subset(
            &json!({"p": {"x": null}}),
            &json!({"p": {"y": 1}})
        ));
    }

    #[test]
    fn malformed_vectors_are_reported() {
        assert!(parse_vector("{").is_err());
        assert!(
            parse_vector(r#"{"format": 2, "id": "x", "role": "partition", "steps": []}"#).is_err()
        );
        assert!(
            parse_vector(r#"{"format": 1, "id": "x", "role": "broker", "steps": []}"#).is_err()
        );
        assert!(parse_vector(
            r#"{"format": 1, "id": "x", "role": "partition", "steps": [], "extra": 1}"#
        )
        .is_err());
        assert!(
            parse_vector(r#"{"format": 1, "id": "x", "role": "partition", "steps": []}"#).is_ok()
        );
    }
}
