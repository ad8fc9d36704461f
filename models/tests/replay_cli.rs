//! The `kafka-eos replay` command: one line per vector, non-zero exit on any failure.

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kafka-eos"))
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance")
}

#[test]
fn replay_of_the_public_vectors_passes() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let out = bin().arg("replay").args(&files).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "replay failed:\n{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        files.len() + 1,
        "one line per vector plus a total:\n{stdout}"
    );
    assert!(
        lines[..files.len()].iter().all(|l| l.ends_with(": pass")),
        "{stdout}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        format!("{} passed, 0 failed", files.len())
    );
}

#[test]
fn replay_reports_a_malformed_vector_and_exits_non_zero() {
    let dir = std::env::temp_dir().join(format!("kafka-eos-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"format": 1, "id": "bad", "role": "partition", "config": {},
            "steps": [{"op": "no_such_op", "expect": {}}]}"#,
    )
    .unwrap();
    let missing = dir.join("missing.json");
    let out = bin()
        .arg("replay")
        .arg(&bad)
        .arg(&missing)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("bad: MALFORMED"), "{stdout}");
    assert!(
        stdout.contains("missing.json: MALFORMED: cannot read"),
        "{stdout}"
    );
    assert!(stdout.contains("0 passed, 2 failed"), "{stdout}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn replay_without_files_is_a_usage_error() {
    let out = bin().arg("replay").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
