//! The `kafka-eos list` and `kafka-eos check` commands: verdict lines, exit codes, JSON.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kafka-eos"))
}

#[test]
fn list_names_every_scenario_and_bug() {
    let out = bin().arg("list").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for name in kafka_eos_model::model::scenarios::NAMES {
        assert!(text.contains(name), "{name} missing from list");
    }
    for bug in kafka_eos_model::model::bugs::BUGS {
        assert!(text.contains(bug.name), "{} missing from list", bug.name);
    }
    // The old protocols' own bugs are listed with the command that shows them.
    assert!(
        text.contains("[kafka-eos check late-endtxn --protocol tv1-verify; breaks S9 atomicity, S10 commit durability, S11 no aborted read, C1 no fatal error without fencing]"),
        "{text}"
    );
    for b in kafka_eos_model::model::bugs::PROTOCOL_BUGS {
        assert!(text.contains(b.summary), "{} missing from list", b.id);
    }
}

#[test]
fn a_protocol_level_bug_as_switch_points_to_its_command() {
    let out = bin()
        .args(["check", "hanging-txn", "--bug", "M-T1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("M-T1 is a protocol-level bug with no switch: run `kafka-eos check hanging-txn --protocol tv0`"),
        "{err}"
    );
}

#[test]
fn check_of_a_holding_scenario_exits_zero_and_prints_verdicts() {
    let out = bin().args(["check", "timeout"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("S1 no duplicate: holds"));
    assert!(text.contains("probe: transaction timeout abort: example found"));
    assert!(text.contains("complete: true"));
    assert!(text.contains("unique states/s"));
}

#[test]
fn old_protocol_finds_the_hanging_transaction_as_expected() {
    let out = bin()
        .args(["check", "hanging-txn", "--protocol", "tv0"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("S14 transaction membership: counterexample"));
    assert!(text.contains("  1. producer-1 -> coordinator: InitProducerId#0"));
}

#[test]
fn bug_run_prints_its_counterexample_and_json() {
    let out = bin()
        .args([
            "check",
            "idempotent",
            "--bug",
            "no-sequence-check",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["complete"], true);
    let s1 = v["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "S1 no duplicate")
        .unwrap();
    assert_eq!(s1["verdict"], "counterexample");
    assert!(!s1["steps"].as_array().unwrap().is_empty());
}

#[test]
fn truncated_run_exits_non_zero_and_never_claims_holds() {
    let out = bin()
        .args(["check", "transactions", "--max-states", "50"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!out.status.success());
    assert!(text.contains("complete: false"));
    assert!(!text.contains(": holds"));
}

#[test]
fn unexpected_verdict_exits_non_zero() {
    // M-I1 needs retries; the zombie scenario has none, so its expected S1/S3
    // counterexamples are not found and the run is not as expected.
    let out = bin()
        .args(["check", "zombie", "--bug", "no-sequence-check"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!out.status.success(), "{text}");
}

#[test]
fn list_json_has_the_documented_fields() {
    let out = bin().args(["list", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let scenarios = v["scenarios"].as_array().unwrap();
    assert_eq!(
        scenarios.len(),
        kafka_eos_model::model::scenarios::NAMES.len()
    );
    for s in scenarios {
        assert!(s["name"].is_string(), "{s}");
        let protocols: Vec<&str> = s["protocols"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.as_str())
            .collect();
        assert_eq!(protocols, ["tv0", "tv1-verify", "tv2"]);
    }
    let bugs = v["bugs"].as_array().unwrap();
    assert_eq!(bugs.len(), kafka_eos_model::model::bugs::BUGS.len());
    for b in bugs {
        for field in ["name", "scenario", "protocol"] {
            assert!(b[field].is_string(), "{field} in {b}");
        }
    }
}

#[test]
fn check_json_has_the_documented_fields() {
    let out = bin()
        .args(["check", "hanging-txn", "--protocol", "tv0", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["complete"], true);
    assert_eq!(v["verdict"], "as expected");
    assert!(v["states"]["unique"].as_u64().unwrap() > 0);
    assert!(v["states"]["total"].as_u64().unwrap() > 0);
    assert!(v["seconds"].is_number());
    let verdicts = [
        "holds",
        "vacuous",
        "counterexample",
        "example found",
        "not reached",
    ];
    for p in v["properties"].as_array().unwrap() {
        assert!(p["name"].is_string());
        let kind = p["kind"].as_str().unwrap();
        assert!(kind == "always" || kind == "sometimes", "{p}");
        assert!(verdicts.contains(&p["verdict"].as_str().unwrap()), "{p}");
        if kind == "always" {
            assert!(p["relevant_states"].is_u64(), "{p}");
        }
        let steps = p["steps"].as_array().unwrap();
        assert_eq!(p["verdict"] == "counterexample", !steps.is_empty(), "{p}");
    }
    let s9 = v["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "S9 atomicity")
        .unwrap();
    assert_eq!(s9["verdict"], "vacuous");
    assert_eq!(s9["relevant_states"], 0);
}

#[test]
fn a_counterexample_prints_its_final_state_what_breaks_and_the_explore_command() {
    let out = bin()
        .args([
            "check",
            "zombie",
            "--protocol",
            "tv0",
            "--bug",
            "no-epoch-check",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("cut by max_requests: "), "{text}");
    assert!(text.contains("(relevant in "), "{text}");
    assert!(
        text.contains("  final state:\n    partition-0: HW="),
        "{text}"
    );
    assert!(text.contains("      read_committed returns: "), "{text}");
    assert!(text.contains("  what breaks:\n    "), "{text}");
    assert!(
        text.contains(
            "  explore: kafka-eos explore zombie --protocol tv0 --bug no-epoch-check --path 0/"
        ),
        "{text}"
    );
    assert!(
        text.contains("probe: producer-2 script completed"),
        "{text}"
    );
}

#[test]
fn help_and_version() {
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kafka-eos "));
    for cmd in ["replay", "list", "check", "explore", "spawn"] {
        let out = bin().args([cmd, "--help"]).output().unwrap();
        assert!(out.status.success(), "{cmd} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: kafka-eos"),
            "{cmd} --help"
        );
    }
}

#[test]
fn misspellings_get_suggestions() {
    for (args, want) in [
        (
            vec!["check", "transactoins"],
            "did you mean \"transactions\"",
        ),
        (
            vec!["check", "idempotent", "--bug", "no-sequnce-check"],
            "did you mean \"no-sequence-check\"",
        ),
        (
            vec!["check", "idempotent", "--protocl", "tv0"],
            "'--protocol'",
        ),
        (vec!["explore", "zomby"], "did you mean \"zombie\""),
    ] {
        let out = bin().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn a_closed_pipe_is_no_panic() {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = bin()
        .arg("list")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 8];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{err}");
}

#[test]
fn timeout_works_with_one_thread_or_is_refused() {
    let out = bin()
        .args(["check", "timeout", "--timeout", "600"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = bin()
        .args(["check", "transactions", "--timeout", "0"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!out.status.success());
    assert!(text.contains("complete: false"), "{text}");
    let out = bin()
        .args(["check", "timeout", "--dfs", "--timeout", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--timeout needs --threads 2"));
}

/// `check --simulate N --seed S`: random walks, deterministic per seed; a bug's counterexample
/// is found with a path that replays, and nothing is claimed to hold.
#[test]
fn simulate_finds_bug_counterexamples_deterministically() {
    let run = |seed: &str| {
        bin()
            .args([
                "check",
                "idempotent",
                "--bug",
                "no-sequence-check",
                "--simulate",
                "300",
                "--seed",
                seed,
            ])
            .output()
            .unwrap()
    };
    let (a, b) = (run("7"), run("7"));
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stdout));
    let text = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.starts_with("time:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(text(&a), text(&b), "the same seed gives the same walks");
    let out = text(&a);
    assert!(out.contains("checker: simulate"), "{out}");
    assert!(out.contains("S1 no duplicate: counterexample"), "{out}");
    assert!(
        !out.contains(": holds"),
        "a simulation claims nothing holds:\n{out}"
    );
    assert!(
        out.contains("S2 no acked loss: not found in the walks"),
        "{out}"
    );
    // Too few walks to find an expected counterexample: UNEXPECTED, exit 1.
    let few = bin()
        .args([
            "check",
            "idempotent",
            "--bug",
            "no-sequence-check",
            "--simulate",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(few.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&few.stdout).contains("verdict: UNEXPECTED"));
    // --simulate runs its own walks: no stateright checker options.
    let out = bin()
        .args(["check", "idempotent", "--simulate", "5", "--dfs"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// `bench` prints both models' rates, bytes per state and the ratio.
#[test]
fn bench_prints_the_ratio() {
    let out = bin()
        .args(["bench", "idempotent", "--rms", "3"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("2pc rms=3: 288 unique"), "{text}");
    assert!(
        text.contains("kafka-eos idempotent --protocol tv2: 445 unique"),
        "{text}"
    );
    assert!(text.contains("speed ratio"), "{text}");
}
