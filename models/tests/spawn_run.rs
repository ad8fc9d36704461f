//! `kafka-eos spawn`: the model's actors over real UDP sockets on 127.0.0.1, with seeded loss on
//! the producers' connections. Each run is a child process (stateright's actor threads never
//! return; the process ends them), bounded by `--max-secs`.

use std::process::Command;

use kafka_eos_model::spawn::drops;

struct Run {
    code: Option<i32>,
    out: String,
}

fn spawn(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-eos"))
        .arg("spawn")
        .args(args)
        .args(["--max-secs", "20"])
        .output()
        .expect("kafka-eos runs");
    Run {
        code: out.status.code(),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The value of `key=` on the `messages:` line.
fn counter(out: &str, key: &str) -> u64 {
    out.lines()
        .find(|l| l.starts_with("messages:"))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{key}=")))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in:\n{out}"))
}

/// The records of the data batches in partition-0's final log, in offset order.
fn log_records(out: &str) -> Vec<String> {
    out.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('@') && !l.contains("marker"))
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with('r') && w[1..].parse::<u32>().is_ok())
                .map(str::to_string)
        })
        .collect()
}

/// A seed under which the producer's first four messages get through (InitProducerId and its
/// response, Produce seq 0 and seq 1) and the response to seq 0 is lost: the connection
/// breaks, both produces time out and are retried although the leader appended them.
fn seed_losing_first_produce_response(loss: f64) -> u64 {
    (0..10_000u64)
        .find(|s| (0..4).all(|n| !drops(*s, 0, n, loss)) && drops(*s, 0, 4, loss))
        .expect("such a seed exists")
}

#[test]
fn idempotent_over_lossy_udp_ends_with_no_duplicate_and_no_lost_ack() {
    for seed in ["1", "2", "3", "4"] {
        let r = spawn(&["idempotent", "--loss", "0.3", "--seed", seed]);
        let out = &r.out;
        assert_eq!(r.code, Some(0), "seed {seed}:\n{out}");
        assert!(out.contains("finished: yes"), "{out}");
        assert!(out.contains("S1 no duplicate: holds"), "{out}");
        assert!(out.contains("S2 no acked loss: holds"), "{out}");
        assert!(out.contains("verdict: ok"), "{out}");
        assert!(counter(out, "dropped") > 0, "the run lost messages:\n{out}");
        assert!(counter(out, "request_timeouts") > 0, "and retried:\n{out}");
        // Every record exactly once, in order, all acknowledged at their offsets.
        assert_eq!(log_records(out), ["r0", "r1", "r2"], "{out}");
        assert!(
            out.contains("acknowledged [r0@0 r1@1 r2@2] awaiting []"),
            "{out}"
        );
    }
}

#[test]
fn leader_deduplicates_a_retry_whose_response_was_lost() {
    let seed = seed_losing_first_produce_response(0.3).to_string();
    let r = spawn(&["idempotent", "--loss", "0.3", "--seed", &seed]);
    let out = &r.out;
    assert_eq!(r.code, Some(0), "{out}");
    assert!(out.contains("retry_deduplicated=yes"), "{out}");
    assert_eq!(log_records(out), ["r0", "r1", "r2"], "{out}");

    // The same losses without the leader's sequence check: the retries are appended again,
    // and the check on the real outcome says so.
    let r = spawn(&[
        "idempotent",
        "--loss",
        "0.3",
        "--seed",
        &seed,
        "--bug",
        "no-sequence-check",
    ]);
    let out = &r.out;
    assert_eq!(r.code, Some(1), "{out}");
    assert!(out.contains("S1 no duplicate: VIOLATED"), "{out}");
    assert!(out.contains("verdict: VIOLATED"), "{out}");
    let recs = log_records(out);
    assert!(
        recs.len() > 3,
        "a record is in the log twice: {recs:?}\n{out}"
    );
}

#[test]
fn transactions_over_lossy_udp_commit_or_abort_atomically() {
    let r = spawn(&["transactions", "--loss", "0.2", "--seed", "5"]);
    let out = &r.out;
    assert_eq!(r.code, Some(0), "{out}");
    for p in [
        "S9 atomicity: holds",
        "S11 no aborted read: holds",
        "L2 no hanging transaction (quiescent): holds",
        "L3 prepare completes (quiescent): holds",
    ] {
        assert!(out.contains(p), "{p}:\n{out}");
    }
    assert!(
        out.contains("marker"),
        "transaction markers were written:\n{out}"
    );
}

#[test]
fn bad_options_are_usage_errors() {
    let r = spawn(&["idempotent", "--loss", "1.5"]);
    assert_eq!(r.code, Some(2), "{}", r.out);
    let r = spawn(&["no-such-scenario"]);
    assert_eq!(r.code, Some(2), "{}", r.out);
}
