//! The `kafka-eos history` commands: `check` (exit status, text, JSON, HTML), `bench`, and
//! `run`'s message when the recorder is not built.

use std::path::PathBuf;
use std::process::Command;

use kafka_eos_model::history::{to_jsonl, Builder, Isolation};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kafka-eos"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "kafka-eos-history-cli-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn check_exits_0_on_a_clean_history_and_1_with_the_proof_of_a_duplicate() {
    let d = scratch("check");
    let mut clean = Builder::new();
    clean.send(0, 0, 1, None, Some(0));
    clean.poll(1, Isolation::ReadCommitted, None, &[(0, 0, 1)]);
    std::fs::write(d.join("clean.jsonl"), to_jsonl(clean.events())).unwrap();
    let out = bin()
        .args(["history", "check"])
        .arg(d.join("clean.jsonl"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("verdict: valid"), "{text}");

    let mut dup = Builder::new();
    dup.send(0, 0, 1, None, Some(0));
    dup.poll(1, Isolation::ReadCommitted, None, &[(0, 0, 1), (0, 1, 1)]);
    std::fs::write(d.join("dup.jsonl"), to_jsonl(dup.events())).unwrap();
    let html = d.join("dup.html");
    let out = bin()
        .args(["history", "check", "--json"])
        .arg(d.join("dup.jsonl"))
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["valid"], false);
    assert_eq!(j["anomalies"][0]["type"], "duplicate");
    assert_eq!(j["anomalies"][0]["property"], "S1 no duplicate");
    assert_eq!(j["anomalies"][0]["records"].as_array().unwrap().len(), 2);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("duplicate") && page.contains("<svg"));
}

#[test]
fn check_exits_2_on_an_unreadable_history() {
    let d = scratch("bad");
    std::fs::write(d.join("bad.jsonl"), "{\"process\": 0}\n").unwrap();
    let out = bin()
        .args(["history", "check"])
        .arg(d.join("bad.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
}

#[test]
fn bench_checks_a_valid_synthetic_history() {
    let out = bin()
        .args(["history", "bench", "--ops", "3000"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with("3000 operations") && text.contains("valid"),
        "{text}"
    );
}

#[test]
fn run_without_the_recorder_says_how_to_build_it() {
    let d = scratch("run");
    let copy = d.join(format!("kafka-eos{}", std::env::consts::EXE_SUFFIX));
    std::fs::copy(env!("CARGO_BIN_EXE_kafka-eos"), &copy).unwrap();
    let out = Command::new(&copy)
        .args(["history", "run", "--bootstrap", "127.0.0.1:9", "--out", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cargo build -p kafka-eos-history"), "{err}");
}
