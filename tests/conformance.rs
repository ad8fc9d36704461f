//! Runs every conformance vector in `tests/conformance/` (distilled from Apache Kafka's own unit
//! tests; format in `tests/conformance/FORMAT.md`) against the core, and fails with one line per
//! vector that does not pass.

use std::path::PathBuf;

use kafka_eos_model::conformance::{run_file, Verdict};

fn vector_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/conformance exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_public_vector_passes() {
    let files = vector_files();
    // The public set shipped with the project: if vectors disappear, this test must notice.
    assert!(
        files.len() >= 62,
        "expected at least 62 vectors, found {}",
        files.len()
    );
    let failures: Vec<String> = files
        .iter()
        .map(|f| run_file(f))
        .filter(|(_, verdict)| !verdict.is_pass())
        .map(|(id, verdict)| format!("{id}: {verdict}"))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_role_is_covered() {
    let mut roles = std::collections::BTreeSet::new();
    for f in vector_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let v = kafka_eos_model::conformance::parse_vector(&text).unwrap();
        roles.insert(format!("{:?}", v.role));
    }
    assert_eq!(roles.len(), 4, "roles covered: {roles:?}");
}

#[test]
fn a_wrong_expectation_is_reported_as_a_failure() {
    // Tamper with a passing vector: the runner must catch it, not pass it.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance/A01-basic-sequence-epoch.json");
    let text = std::fs::read_to_string(path).unwrap();
    let tampered = text.replacen(r#""base_offset": 2"#, r#""base_offset": 7"#, 1);
    assert_ne!(text, tampered);
    let v = kafka_eos_model::conformance::parse_vector(&tampered).unwrap();
    match kafka_eos_model::conformance::run_vector(&v) {
        Verdict::Fail(f) => assert_eq!(f.step, 5, "{f:?}"),
        other => panic!("expected a failure at step 5, got {other}"),
    }
}
