//! The `kafka-eos` command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use kafka_eos_model::model::bugs::{KnownBug, ProtocolBug, BUGS, PROTOCOL_BUGS};
use kafka_eos_model::model::check::{run, CheckOptions};
use kafka_eos_model::model::scenario::{Protocol, Scenario};
use kafka_eos_model::model::scenarios::NAMES;
use kafka_eos_model::{bench, conformance, explore, spawn};

/// Kafka's exactly-once protocol, model-checked: scenarios, known bugs, conformance vectors.
#[derive(Parser)]
#[command(name = "kafka-eos", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run conformance vectors: one line per vector; exit 1 if any fails or is malformed.
    Replay {
        /// Vector files (tests/conformance/*.json).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// The scenarios, the known-bug switches and the protocol-level bugs, one line each.
    List {
        /// Print one JSON document instead.
        #[arg(long)]
        json: bool,
    },
    /// Model-check a scenario; exit 0 iff the run is complete and every verdict is the
    /// expected one (a bug's run expects its counterexamples; a vacuous "holds" fails unless
    /// the scenario declares the property irrelevant).
    Check(CheckArgs),
    /// Serve stateright's Explorer for a scenario and print its URL (blocks until
    /// interrupted); --path opens a path printed by `check`.
    Explore {
        #[command(flatten)]
        target: Target,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: String,
        /// A path printed by `check` (e.g. 0/2/1/4), opened at start.
        #[arg(long)]
        path: Option<String>,
    },
    /// Measure the checker: stateright's two-phase-commit example and a kafka-eos scenario,
    /// each through this crate's BFS in a child process of its own; print unique states per
    /// second and bytes per state (peak RSS growth / unique states) of each, and the ratio.
    Bench {
        /// The kafka-eos scenario.
        #[arg(value_parser = parse_scenario, default_value = "transactions-zombie")]
        scenario: Scenario,
        /// Its protocol.
        #[arg(long, default_value = "tv2", value_parser = parse_protocol)]
        protocol: Protocol,
        /// 2PC's resource managers.
        #[arg(long, default_value_t = 8)]
        rms: usize,
        /// Measure this many times, alternating the two sides (2PC, kafka-eos, 2PC, ...), and
        /// report each run's ratio and their median: this machine's rates drift between runs.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
        runs: u32,
        /// Run only one side in this process and print its JSON line (used by the parent).
        #[arg(long, hide = true, value_parser = ["2pc", "eos"])]
        only: Option<String>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run the scenario's actors over real UDP sockets on 127.0.0.1 (dropping a seeded
    /// fraction of client messages), then print the logs and check the safety properties on
    /// the outcome; exit 0 iff the workload finished and every property holds.
    Spawn {
        #[command(flatten)]
        target: Target,
        /// The fraction of client messages dropped, in [0, 1).
        #[arg(long, default_value_t = 0.2, value_parser = parse_loss)]
        loss: f64,
        /// The loss pattern's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        max_secs: Option<u64>,
    },
    /// Client histories of a real Kafka cluster: record one (`run`), judge one (`check`),
    /// time the checker (`bench`), or export a model counterexample as one (`export`).
    #[command(subcommand)]
    History(HistoryCommand),
}

#[derive(Subcommand)]
enum HistoryCommand {
    /// Judge a JSON-lines history (docs/history.md): every anomaly with the records and
    /// events that prove it and the model property it breaks; exit 0 iff valid.
    Check {
        /// The history file.
        file: PathBuf,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
        /// Also write an HTML report (summary and a timeline of the offending operations).
        #[arg(long)]
        html: Option<PathBuf>,
        /// Anomalies printed per kind in the text summary.
        #[arg(long, default_value_t = 5)]
        show: usize,
    },
    /// Record a history against a Kafka cluster: runs the `kafka-eos-history` binary built
    /// next to this one (`cargo build -p kafka-eos-history`) with the same arguments (see
    /// `kafka-eos history run --help` once it is built).
    #[command(disable_help_flag = true)]
    Run {
        /// Arguments for `kafka-eos-history run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Generate a valid synthetic history of about N operations and time the checker on it.
    Bench {
        /// Operations (invoke/completion pairs) to generate.
        #[arg(long, default_value_t = 100_000)]
        ops: usize,
        /// Also write the generated history here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Export a scenario's counterexamples (with its bug switches) as histories, one file per
    /// violated property, into a directory, and check each.
    Export {
        #[command(flatten)]
        target: Target,
        /// The directory to write `<property>.jsonl` files into.
        #[arg(long)]
        out: PathBuf,
    },
}

/// A scenario with its protocol and bug switches.
#[derive(Args)]
struct Target {
    /// The scenario (see `kafka-eos list`).
    #[arg(value_parser = parse_scenario)]
    scenario: Scenario,
    /// The protocol generation.
    #[arg(long, default_value = "tv2", value_parser = parse_protocol)]
    protocol: Protocol,
    /// A known-bug switch to turn on (repeatable; see `kafka-eos list`).
    #[arg(long = "bug", value_parser = parse_bug)]
    bugs: Vec<KnownBug>,
}

impl Target {
    fn scenario(&self) -> Scenario {
        let mut s = self.scenario.clone().with_protocol(self.protocol);
        for b in &self.bugs {
            s = s.with_bug(*b);
        }
        s
    }
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    target: Target,
    /// Breadth-first with this crate's checker (the default): shortest counterexamples,
    /// relevant states and budget cuts counted.
    #[arg(long, conflicts_with = "dfs")]
    bfs: bool,
    /// Depth-first with stateright's checker: less memory, counterexamples not shortest.
    #[arg(long)]
    dfs: bool,
    /// Checker threads; more than 1 runs stateright's parallel checker.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    threads: u64,
    /// Stop after about this many generated states (the run is then incomplete).
    #[arg(long)]
    max_states: Option<usize>,
    /// Stop after this many seconds (the run is then incomplete).
    #[arg(long)]
    timeout: Option<u64>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Random walks instead of an exhaustive search: this many walks (for bounds beyond
    /// exhaustive reach). Counterexamples found are real; nothing is claimed to hold.
    #[arg(long, conflicts_with_all = ["dfs", "bfs"])]
    simulate: Option<usize>,
    /// The walks' seed (the same seed gives the same walks).
    #[arg(long, default_value_t = 0, requires = "simulate")]
    seed: u64,
}

/// Levenshtein distance (small inputs).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// " (did you mean X?)" for the closest candidate within a small edit distance.
fn suggest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let best = candidates
        .into_iter()
        .map(|c| (distance(input, c), c))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, c)) if d <= 3.max(input.len() / 3) => format!(" (did you mean {c:?}?)"),
        _ => String::new(),
    }
}

fn parse_scenario(s: &str) -> Result<Scenario, String> {
    Scenario::named(s).ok_or_else(|| {
        format!(
            "unknown scenario{}; the scenarios: {}",
            suggest(s, NAMES.iter().copied()),
            NAMES.join(", ")
        )
    })
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    s.parse::<Protocol>()
        .map_err(|e| format!("{e}{}", suggest(s, Protocol::ALL.iter().map(|p| p.name()))))
}

fn parse_bug(s: &str) -> Result<KnownBug, String> {
    if let Some(b) = KnownBug::from_name(s) {
        return Ok(b);
    }
    Err(match ProtocolBug::from_id(s) {
        Some(b) => format!(
            "{} is a protocol-level bug with no switch: run `kafka-eos check {} --protocol {}`",
            b.id, b.scenario, b.protocol
        ),
        None => format!(
            "unknown bug{} (see `kafka-eos list`)",
            suggest(s, BUGS.iter().map(|b| b.name))
        ),
    })
}

fn parse_loss(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        _ => Err(format!("--loss needs a fraction in [0, 1), got {s:?}")),
    }
}

/// Writes to stdout; a closed pipe (`kafka-eos list | head -1`) ends the output quietly.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay { files } => replay(&files),
        Command::List { json } => list(json),
        Command::Check(args) => check(&args),
        Command::Explore { target, addr, path } => explore(&target.scenario(), &addr, path),
        Command::Bench {
            scenario,
            protocol,
            rms,
            runs,
            only,
            json,
        } => bench_cmd(
            &scenario.with_protocol(protocol),
            rms,
            runs,
            only.as_deref(),
            json,
        ),
        Command::Spawn {
            target,
            loss,
            seed,
            max_secs,
        } => {
            let mut opts = spawn::SpawnOptions {
                loss,
                ..spawn::SpawnOptions::default()
            };
            if let Some(seed) = seed {
                opts.seed = seed;
            }
            if let Some(s) = max_secs {
                opts.max_time = Duration::from_secs(s);
            }
            spawn(&target.scenario(), &opts)
        }
        Command::History(h) => history(h),
    }
}

fn history(cmd: HistoryCommand) -> ExitCode {
    use kafka_eos_model::history;
    match cmd {
        HistoryCommand::Check {
            file,
            json,
            html,
            show,
        } => {
            let events = match std::fs::File::open(&file)
                .map_err(|e| e.to_string())
                .and_then(|f| history::read(std::io::BufReader::new(f)).map_err(|e| e.to_string()))
            {
                Ok(ev) => ev,
                Err(e) => {
                    eprintln!("kafka-eos history check: {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            let report = history::check(&events);
            if json {
                emit(&format!("{}\n", report.json()));
            } else {
                emit(&report.text(&events, show));
            }
            if let Some(path) = html {
                if let Err(e) = std::fs::write(&path, history::html::render(&events, &report)) {
                    eprintln!("kafka-eos history check: {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
            if report.valid() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        HistoryCommand::Run { args } => history_run(&args),
        HistoryCommand::Bench { ops, out } => {
            let events = history::synthetic(ops, 1);
            if let Some(path) = &out {
                if let Err(e) = std::fs::write(path, history::to_jsonl(&events)) {
                    eprintln!("kafka-eos history bench: {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
            let text = history::to_jsonl(&events);
            let start = std::time::Instant::now();
            let parsed = match history::parse(&text) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("kafka-eos history bench: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let parse_time = start.elapsed();
            let report = history::check(&parsed);
            let total = start.elapsed();
            emit(&format!(
                "{} operations ({} events, {} records read): parsed in {:.3}s, checked in {:.3}s, {:.3}s in all; {}\n",
                ops,
                events.len(),
                report.reads,
                parse_time.as_secs_f64(),
                (total - parse_time).as_secs_f64(),
                total.as_secs_f64(),
                if report.valid() { "valid" } else { "INVALID (a generator bug)" }
            ));
            if report.valid() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        HistoryCommand::Export { target, out } => {
            let scenario = target.scenario();
            let exported = history::export::counterexamples(&scenario);
            if let Err(e) = std::fs::create_dir_all(&out) {
                eprintln!("kafka-eos history export: {}: {e}", out.display());
                return ExitCode::from(2);
            }
            let mut ok = true;
            for (property, events) in &exported {
                let name: String = property
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect();
                let path = out.join(format!("{name}.jsonl"));
                if let Err(e) = std::fs::write(&path, history::to_jsonl(events)) {
                    eprintln!("kafka-eos history export: {}: {e}", path.display());
                    return ExitCode::from(2);
                }
                let report = history::check(events);
                let kinds: Vec<&str> = report.counts().keys().map(|k| k.name()).collect();
                ok &= !report.valid();
                emit(&format!(
                    "{property}: {} ({} events): {}\n",
                    path.display(),
                    events.len(),
                    if kinds.is_empty() {
                        "the checker flags nothing".to_string()
                    } else {
                        kinds.join(", ")
                    }
                ));
            }
            if exported.is_empty() {
                emit("no counterexample: every property holds\n");
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Runs the sibling `kafka-eos-history` binary (same target directory) with `args`.
fn history_run(args: &[String]) -> ExitCode {
    let name = format!("kafka-eos-history{}", std::env::consts::EXE_SUFFIX);
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(&name)));
    let Some(exe) = exe.filter(|p| p.is_file()) else {
        eprintln!(
            "kafka-eos history run: the recorder {name} is not built next to this binary; build it with `cargo build -p kafka-eos-history` (add --release for a release kafka-eos), then run again"
        );
        return ExitCode::from(2);
    };
    match std::process::Command::new(&exe)
        .arg("run")
        .args(args)
        .status()
    {
        Ok(st) => match st.code() {
            Some(0) => ExitCode::SUCCESS,
            Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
            None => ExitCode::FAILURE,
        },
        Err(e) => {
            eprintln!("kafka-eos history run: {}: {e}", exe.display());
            ExitCode::from(2)
        }
    }
}

fn bench_cmd(
    scenario: &Scenario,
    rms: usize,
    runs: u32,
    only: Option<&str>,
    as_json: bool,
) -> ExitCode {
    match only {
        Some("2pc") => {
            emit(&format!("{}\n", bench::run_2pc(rms)));
            return ExitCode::SUCCESS;
        }
        Some(_) => {
            emit(&format!("{}\n", bench::run_scenario(scenario)));
            return ExitCode::SUCCESS;
        }
        None => {}
    }
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("bench: cannot find this executable");
        return ExitCode::FAILURE;
    };
    let side = |which: &str| -> Option<serde_json::Value> {
        let out = std::process::Command::new(&exe)
            .args([
                "bench",
                scenario.name,
                "--protocol",
                scenario.protocol.name(),
                "--rms",
                &rms.to_string(),
                "--only",
                which,
            ])
            .output()
            .ok()?;
        serde_json::from_slice(&out.stdout).ok()
    };
    let rate = |v: &serde_json::Value| v["unique_per_s"].as_f64().unwrap_or(0.0);
    let mut measured = Vec::new();
    for _ in 0..runs {
        let (Some(two), Some(eos)) = (side("2pc"), side("eos")) else {
            eprintln!("bench: a child run failed");
            return ExitCode::FAILURE;
        };
        let ratio = if rate(&two) > 0.0 {
            rate(&eos) / rate(&two)
        } else {
            0.0
        };
        if !as_json {
            for v in [&two, &eos] {
                emit(&format!(
                    "{}: {} unique ({} total) in {:.2}s = {:.0} unique states/s, {:.0} B/state\n",
                    v["model"].as_str().unwrap_or("?"),
                    v["unique"],
                    v["total"],
                    v["seconds"].as_f64().unwrap_or(0.0),
                    rate(v),
                    v["bytes_per_state"].as_f64().unwrap_or(0.0)
                ));
            }
            if let (Some(computed), Some(reused)) =
                (eos["steps_computed"].as_u64(), eos["steps_reused"].as_u64())
            {
                emit(&format!(
                    "kafka-eos actor steps: {computed} computed, {reused} reused\n"
                ));
            }
            emit(&format!(
                "speed ratio (kafka-eos / 2pc unique states per second): {ratio:.2}\n"
            ));
        }
        measured.push((two, eos, ratio));
    }
    let mut ratios: Vec<f64> = measured.iter().map(|m| m.2).collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios.get(ratios.len() / 2).copied().unwrap_or(0.0);
    if as_json {
        let runs: Vec<serde_json::Value> = measured
            .into_iter()
            .map(|(two, eos, ratio)| json!({"reference": two, "kafka_eos": eos, "speed_ratio": ratio}))
            .collect();
        let mut doc = runs.first().cloned().unwrap_or_default();
        doc["speed_ratio"] = json!(median);
        doc["runs"] = json!(runs);
        emit(&format!("{doc}\n"));
    } else if runs > 1 {
        let list: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        emit(&format!(
            "speed ratio over {runs} runs: {} (median {median:.2})\n",
            list.join(", ")
        ));
    }
    ExitCode::SUCCESS
}

fn replay(files: &[PathBuf]) -> ExitCode {
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in files {
        let (id, verdict) = conformance::run_file(file);
        emit(&format!("{id}: {verdict}\n"));
        if verdict.is_pass() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    emit(&format!("{passed} passed, {failed} failed\n"));
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn list(json: bool) -> ExitCode {
    if json {
        let doc = json!({
            "scenarios": Scenario::all().iter().map(|s| json!({
                "name": s.name,
                "protocols": Protocol::ALL.iter().map(|p| p.name()).collect::<Vec<_>>(),
                "summary": s.summary,
                "declared_irrelevant": s.irrelevant.iter().map(|(p, why)| json!({"property": p, "reason": why})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "bugs": BUGS.iter().map(|b| json!({
                "name": b.name,
                "scenario": b.scenario,
                "protocol": b.protocol.name(),
                "id": b.id,
                "summary": b.summary,
                "breaks": b.breaks,
            })).collect::<Vec<_>>(),
            "protocol_bugs": PROTOCOL_BUGS.iter().map(|b| json!({
                "id": b.id,
                "scenario": b.scenario,
                "protocol": b.protocol.name(),
                "summary": b.summary,
                "breaks": b.breaks(),
            })).collect::<Vec<_>>(),
        });
        emit(&format!("{doc}\n"));
        return ExitCode::SUCCESS;
    }
    let mut t = String::from("scenarios (default protocol tv2; --protocol tv0|tv1-verify|tv2):\n");
    let all = Scenario::all();
    let width = all.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in all {
        t.push_str(&format!("  {:<width$} {}\n", s.name, s.summary));
        for (p, why) in s.irrelevant {
            t.push_str(&format!(
                "  {:<width$}   declared irrelevant: {p}: {why}\n",
                ""
            ));
        }
    }
    t.push_str("bug switches (--bug NAME; each names the property it must break):\n");
    for b in BUGS {
        t.push_str(&format!(
            "  {:<30} {:<8} {} [scenario {}, protocol {}; breaks {}]\n",
            b.name,
            b.id,
            b.summary,
            b.scenario,
            b.protocol,
            b.breaks.join(", ")
        ));
    }
    t.push_str("protocol-level bugs (no switch: the old protocol itself; TV2 finds nothing):\n");
    for b in PROTOCOL_BUGS {
        t.push_str(&format!(
            "  {:<8} {} [kafka-eos check {} --protocol {}; breaks {}]\n",
            b.id,
            b.summary,
            b.scenario,
            b.protocol,
            b.breaks().join(", ")
        ));
    }
    emit(&t);
    ExitCode::SUCCESS
}

fn check(args: &CheckArgs) -> ExitCode {
    let scenario = args.target.scenario();
    let opts = CheckOptions {
        dfs: args.dfs,
        threads: usize::try_from(args.threads).unwrap_or(1),
        max_states: args.max_states,
        timeout: args.timeout.map(Duration::from_secs),
        progress: true,
        simulate: args.simulate,
        seed: args.seed,
    };
    if let Err(e) = opts.validate() {
        eprintln!("kafka-eos check: {e}");
        return ExitCode::from(2);
    }
    let report = run(&scenario, &opts);
    if args.json {
        emit(&format!("{}\n", report.json()));
    } else {
        emit(&report.text());
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn explore(scenario: &Scenario, addr: &str, path: Option<String>) -> ExitCode {
    let mut m = explore::ExplorerModel::new(scenario);
    if let Some(p) = &path {
        if !explore::path_is_valid(&m, p) {
            eprintln!(
                "kafka-eos explore: {p:?} is not a path of scenario {} (paths come from `kafka-eos check` with the same --protocol and --bug options)",
                scenario.name
            );
            return ExitCode::from(2);
        }
        m = m.with_path(p);
    }
    // Bind once to report a busy or bad address clearly (stateright's server panics).
    if let Err(e) = std::net::TcpListener::bind(addr) {
        eprintln!("kafka-eos explore: cannot listen on {addr}: {e}");
        return ExitCode::from(2);
    }
    emit(&format!(
        "Explorer for {}: http://{addr}/\n",
        explore::title(scenario)
    ));
    if let Some(p) = &path {
        emit(&format!("the path {p}: {}\n", explore::step_url(addr, p)));
        let violated = m.violated_on_path();
        if violated.is_empty() {
            emit("it violates no property\n");
        } else {
            for (name, step) in violated {
                emit(&format!("it violates {name} from step {step}\n"));
            }
        }
    }
    emit("(Ctrl-C to stop)\n");
    explore::serve(m, addr);
    ExitCode::SUCCESS
}

fn spawn(scenario: &Scenario, opts: &spawn::SpawnOptions) -> ExitCode {
    emit(&format!(
        "spawning scenario {} over UDP on 127.0.0.1 (loss {}, seed {}, at most {}s)\n",
        scenario.name,
        opts.loss,
        opts.seed,
        opts.max_time.as_secs()
    ));
    match spawn::run(scenario, opts) {
        Ok(report) => {
            emit(&report.text());
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
