//! The `kafka-eos` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use kafka_eos_model::conformance;

const USAGE: &str = "usage: kafka-eos <command>

commands:
  replay FILE...   run conformance vectors; one line per vector; exit 1 if any fails or is malformed
  help             print this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("replay") => replay(&args[1..]),
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
