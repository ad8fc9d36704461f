//! The `kafka-eos` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use kafka_eos_model::model::bugs::{KnownBug, ProtocolBug, BUGS, PROTOCOL_BUGS};
use kafka_eos_model::model::check::{run, CheckOptions};
use kafka_eos_model::model::scenario::{Protocol, Scenario};
use kafka_eos_model::{conformance, explore, spawn};

const USAGE: &str = "usage: kafka-eos <command>

commands:
  replay FILE...   run conformance vectors; one line per vector; exit 1 if any fails or is malformed
  list             the scenarios and known-bug switches, one line each
  check SCENARIO [--protocol tv0|tv1-verify|tv2] [--bug NAME]... [--bfs|--dfs] [--threads N]
                   [--max-states N] [--timeout SECS] [--json]
                   model-check a scenario; exit 0 iff the run is complete and every verdict is
                   the expected one (a bug's run expects its counterexamples)
  explore SCENARIO [--protocol P] [--bug NAME]... [--addr 127.0.0.1:3000] [--path PATH]
                   serve stateright's Explorer for the scenario and print its URL (blocks until
                   interrupted); --path opens a path printed by `check` (e.g. 0/2/1/4)
  spawn SCENARIO [--protocol P] [--bug NAME]... [--loss FRACTION] [--seed N] [--max-secs N]
                   run the scenario's actors over real UDP sockets on 127.0.0.1 (dropping a
                   seeded fraction of client messages, default 0.2), then print the logs and
                   check the safety properties on the outcome; exit 0 iff the workload
                   finished and every property holds
  help             print this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("replay") => replay(&args[1..]),
        Some("list") => list(),
        Some("check") => check(&args[1..]),
        Some("explore") => explore(&args[1..]),
        Some("spawn") => spawn(&args[1..]),
        Some("help") | Some("--help") | Some("-h") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("kafka-eos: unknown command {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn replay(files: &[String]) -> ExitCode {
    if files.is_empty() {
        eprintln!("kafka-eos replay: give at least one vector file");
        return ExitCode::from(2);
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in files {
        let (id, verdict) = conformance::run_file(&PathBuf::from(file));
        println!("{id}: {verdict}");
        if verdict.is_pass() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn list() -> ExitCode {
    println!("scenarios (default protocol tv2; --protocol tv0|tv1-verify|tv2):");
    for s in Scenario::all() {
        println!("  {:<22} {}", s.name, s.summary);
    }
    println!("bug switches (--bug NAME; each names the property it must break):");
    for b in BUGS {
        println!(
            "  {:<30} {:<8} {} [scenario {}, protocol {}; breaks {}]",
            b.name,
            b.id,
            b.summary,
            b.scenario,
            b.protocol,
            b.breaks.join(", ")
        );
    }
    println!("protocol-level bugs (no switch: the old protocol itself; TV2 finds nothing):");
    for b in PROTOCOL_BUGS {
        println!(
            "  {:<8} {} [kafka-eos check {} --protocol {}; breaks {}]",
            b.id,
            b.summary,
            b.scenario,
            b.protocol,
            b.breaks().join(", ")
        );
    }
    ExitCode::SUCCESS
}

/// The error for a `--bug` value that names no switch; a protocol-level bug gets the command
/// that shows it.
fn unknown_bug(name: &str) -> String {
    match ProtocolBug::from_id(name) {
        Some(b) => format!(
            "{} is a protocol-level bug with no switch: run `kafka-eos check {} --protocol {}`",
            b.id, b.scenario, b.protocol
        ),
        None => format!("unknown bug {name:?} (see `kafka-eos list`)"),
    }
}

fn check(args: &[String]) -> ExitCode {
    let Some(name) = args.first() else {
        eprintln!("kafka-eos check: give a scenario (see `kafka-eos list`)");
        return ExitCode::from(2);
    };
    let Some(mut scenario) = Scenario::named(name) else {
        eprintln!("kafka-eos check: unknown scenario {name:?} (see `kafka-eos list`)");
        return ExitCode::from(2);
    };
    let mut opts = CheckOptions {
        progress: true,
        ..CheckOptions::default()
    };
    let mut json = false;
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |what: &str| -> Result<String, ExitCode> {
            it.next().cloned().ok_or_else(|| {
                eprintln!("kafka-eos check: {arg} needs {what}");
                ExitCode::from(2)
            })
        };
        match arg.as_str() {
            "--protocol" => match value("a protocol").map(|v| v.parse::<Protocol>()) {
                Ok(Ok(p)) => scenario = scenario.with_protocol(p),
                Ok(Err(e)) => {
                    eprintln!("kafka-eos check: {e}");
                    return ExitCode::from(2);
                }
                Err(code) => return code,
            },
            "--bug" => match value("a bug name") {
                Ok(v) => match KnownBug::from_name(&v) {
                    Some(b) => scenario = scenario.with_bug(b),
                    None => {
                        eprintln!("kafka-eos check: {}", unknown_bug(&v));
                        return ExitCode::from(2);
                    }
                },
                Err(code) => return code,
            },
            "--bfs" => opts.dfs = false,
            "--dfs" => opts.dfs = true,
            "--json" => json = true,
            "--threads" | "--max-states" | "--timeout" => {
                let v = match value("a number") {
                    Ok(v) => v,
                    Err(code) => return code,
                };
                let Ok(n) = v.parse::<usize>() else {
                    eprintln!("kafka-eos check: {arg} needs a number, got {v:?}");
                    return ExitCode::from(2);
                };
                match arg.as_str() {
                    "--threads" => opts.threads = n.max(1),
                    "--max-states" => opts.max_states = Some(n),
                    _ => opts.timeout = Some(std::time::Duration::from_secs(n as u64)),
                }
            }
            other => {
                eprintln!("kafka-eos check: unknown option {other:?}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let report = run(&scenario, &opts);
    if json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Parses `SCENARIO [--protocol P] [--bug NAME]...` plus the command's own options
/// (`own`: option names that take a value), returning the scenario and those values.
fn scenario_args(
    cmd: &str,
    args: &[String],
    own: &[&str],
) -> Result<(Scenario, Vec<(String, String)>), ExitCode> {
    let Some(name) = args.first() else {
        eprintln!("kafka-eos {cmd}: give a scenario (see `kafka-eos list`)");
        return Err(ExitCode::from(2));
    };
    let Some(mut scenario) = Scenario::named(name) else {
        eprintln!("kafka-eos {cmd}: unknown scenario {name:?} (see `kafka-eos list`)");
        return Err(ExitCode::from(2));
    };
    let mut values = Vec::new();
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        let known = arg == "--protocol" || arg == "--bug" || own.contains(&arg.as_str());
        if !known {
            eprintln!("kafka-eos {cmd}: unknown option {arg:?}\n\n{USAGE}");
            return Err(ExitCode::from(2));
        }
        let Some(v) = it.next() else {
            eprintln!("kafka-eos {cmd}: {arg} needs a value");
            return Err(ExitCode::from(2));
        };
        match arg.as_str() {
            "--protocol" => match v.parse::<Protocol>() {
                Ok(p) => scenario = scenario.with_protocol(p),
                Err(e) => {
                    eprintln!("kafka-eos {cmd}: {e}");
                    return Err(ExitCode::from(2));
                }
            },
            "--bug" => match KnownBug::from_name(v) {
                Some(b) => scenario = scenario.with_bug(b),
                None => {
                    eprintln!("kafka-eos {cmd}: {}", unknown_bug(v));
                    return Err(ExitCode::from(2));
                }
            },
            _ => values.push((arg.clone(), v.clone())),
        }
    }
    Ok((scenario, values))
}

fn explore(args: &[String]) -> ExitCode {
    let (scenario, values) = match scenario_args("explore", args, &["--addr", "--path"]) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let mut addr = "127.0.0.1:3000".to_string();
    let mut path = None;
    for (k, v) in values {
        if k == "--addr" {
            addr = v;
        } else {
            path = Some(v);
        }
    }
    let m = explore::ExplorerModel::new(&scenario);
    if let Some(p) = &path {
        if !explore::path_is_valid(&m, p) {
            eprintln!(
                "kafka-eos explore: {p:?} is not a path of scenario {} (paths come from `kafka-eos check` with the same --protocol and --bug options)",
                scenario.name
            );
            return ExitCode::from(2);
        }
    }
    // Bind once to report a busy or bad address clearly (stateright's server panics).
    if let Err(e) = std::net::TcpListener::bind(&addr) {
        eprintln!("kafka-eos explore: cannot listen on {addr}: {e}");
        return ExitCode::from(2);
    }
    let bugs: Vec<&str> = scenario.bugs.iter().map(|b| b.info().name).collect();
    println!(
        "Explorer for scenario {} (protocol {}, bugs: {}): http://{addr}/",
        scenario.name,
        scenario.protocol,
        if bugs.is_empty() {
            "none".to_string()
        } else {
            bugs.join(", ")
        }
    );
    if let Some(p) = &path {
        println!("the path {p}: {}", explore::step_url(&addr, p));
    }
    println!("(Ctrl-C to stop)");
    explore::serve(m, &addr);
    ExitCode::SUCCESS
}

fn spawn(args: &[String]) -> ExitCode {
    let (scenario, values) = match scenario_args("spawn", args, &["--loss", "--seed", "--max-secs"])
    {
        Ok(v) => v,
        Err(code) => return code,
    };
    let mut opts = spawn::SpawnOptions::default();
    for (k, v) in values {
        let bad = || {
            eprintln!("kafka-eos spawn: {k} needs a number, got {v:?}");
            ExitCode::from(2)
        };
        match k.as_str() {
            "--loss" => match v.parse::<f64>() {
                Ok(x) if (0.0..1.0).contains(&x) => opts.loss = x,
                _ => {
                    eprintln!("kafka-eos spawn: --loss needs a fraction in [0, 1), got {v:?}");
                    return ExitCode::from(2);
                }
            },
            "--seed" => match v.parse::<u64>() {
                Ok(x) => opts.seed = x,
                Err(_) => return bad(),
            },
            _ => match v.parse::<u64>() {
                Ok(x) if x > 0 => opts.max_time = std::time::Duration::from_secs(x),
                _ => return bad(),
            },
        }
    }
    println!(
        "spawning scenario {} over UDP on 127.0.0.1 (loss {}, seed {}, at most {}s)",
        scenario.name,
        opts.loss,
        opts.seed,
        opts.max_time.as_secs()
    );
    match spawn::run(&scenario, &opts) {
        Ok(report) => {
            print!("{}", report.text());
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("kafka-eos spawn: {e}");
            ExitCode::FAILURE
        }
    }
}
