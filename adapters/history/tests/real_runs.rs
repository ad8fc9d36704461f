//! Real runs: `kafka-eos-history run` (librdkafka) against this project's broker, then the
//! checker on the recorded history. Clean with duplicate detection on (also under the fault
//! proxy); duplicates with `--unsafe-disable-dedup` under the fault proxy; aborted reads (G1a)
//! with `--unsafe-read-committed-shows-aborted`.
//!
//! They start `kafka-eos-broker` (built next to this test's binary: `cargo build -p
//! kafka-eos-broker`) and `python3 adapters/broker/e2e/fault_proxy.py` on 127.0.0.1 port 0, each
//! run a few seconds, so they are ignored by `cargo test`; `.ci/run` runs them with
//! `cargo test -p kafka-eos-history --test real_runs -- --ignored`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_eos_model::history::{self, AnomalyKind, CheckReport, Event};

const PRODUCE: &str = "0";

/// A child process killed (by its own handle) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kafka-eos-history-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("a scratch directory");
    d
}

fn wait_port(path: &Path, child: &mut Child) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(s) = std::fs::read_to_string(path) {
            if let Ok(p) = s.trim().parse() {
                return p;
            }
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{} exited early: {st}", path.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} not written", path.display());
}

fn broker_bin() -> PathBuf {
    if let Ok(p) = std::env::var("KAFKA_EOS_BROKER_BIN") {
        return PathBuf::from(p);
    }
    let me = PathBuf::from(env!("CARGO_BIN_EXE_kafka-eos-history"));
    let bin = me.with_file_name(format!("kafka-eos-broker{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p kafka-eos-broker` first",
        bin.display()
    );
    bin
}

/// The broker (topic `history`, 3 partitions, its data in `dir`) with `args`, advertising
/// `advertise` if given.
fn broker(dir: &Path, args: &[&str], advertise: Option<u16>) -> (Proc, u16) {
    let port_file = dir.join("broker.port");
    let mut cmd = Command::new(broker_bin());
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--topic",
        "history:3",
        "--port-file",
    ])
    .arg(&port_file)
    // Its own data directory, never the binary's default `./kafka-eos-data`.
    .arg("--data-dir")
    .arg(dir.join("broker-data"))
    .args(args)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if let Some(p) = advertise {
        cmd.args(["--advertise", &format!("127.0.0.1:{p}")]);
    }
    let mut child = cmd.spawn().expect("the broker starts");
    let port = wait_port(&port_file, &mut child);
    (Proc(child), port)
}

/// The fault proxy dropping `drop` of Produce responses (at most 25), then the broker behind it.
fn proxied_broker(dir: &Path, drop: &str, broker_args: &[&str]) -> (Proc, Proc, u16, PathBuf) {
    let stats = dir.join("proxy.json");
    let mut child = Command::new("python3")
        .arg(repo().join("adapters/broker/e2e/fault_proxy.py"))
        .arg("--port-file")
        .arg(dir.join("proxy.port"))
        .arg("--upstream-port-file")
        .arg(dir.join("upstream.port"))
        .arg("--stats-file")
        .arg(&stats)
        .args([
            "--apis",
            PRODUCE,
            "--drop",
            drop,
            "--seed",
            "3",
            "--max-faults",
            "25",
        ])
        .args(["--lifetime", "120"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs the fault proxy");
    let pport = wait_port(&dir.join("proxy.port"), &mut child);
    let proxy = Proc(child);
    let (b, bport) = broker(dir, broker_args, Some(pport));
    std::fs::write(dir.join("upstream.port"), bport.to_string()).expect("the upstream port");
    (proxy, b, pport, stats)
}

/// Records a short history of `workload` against `port` and checks it.
fn record(dir: &Path, port: u16, workload: &str, crash: &str) -> (Vec<Event>, CheckReport) {
    record_with(dir, port, workload, crash, &[])
}

/// [`record`] with extra recorder arguments.
fn record_with(
    dir: &Path,
    port: u16,
    workload: &str,
    crash: &str,
    extra: &[&str],
) -> (Vec<Event>, CheckReport) {
    let out = dir.join(format!("{workload}.jsonl"));
    let st = Command::new(env!("CARGO_BIN_EXE_kafka-eos-history"))
        .args(["run", "--bootstrap", &format!("127.0.0.1:{port}")])
        .args([
            "--workload",
            workload,
            "--duration",
            "3",
            "--final-timeout",
            "15",
        ])
        .args(["--producers", "2", "--seed", "7"])
        .args(if extra.contains(&"--consumers") {
            &[][..]
        } else {
            &["--consumers", "2"][..]
        })
        .args(["--crash", crash, "--request-timeout-ms", "3000"])
        .args(extra)
        .arg("--out")
        .arg(&out)
        .status()
        .expect("the recorder runs");
    assert!(st.success(), "kafka-eos-history run failed: {st}");
    let events = history::read(std::io::BufReader::new(
        std::fs::File::open(&out).expect("the history"),
    ))
    .expect("the recorded history parses");
    let report = history::check(&events);
    eprintln!("{workload}: {}", report.text(&events, 2));
    (events, report)
}

fn proxy_dropped(stats: &Path) -> u64 {
    let s = std::fs::read_to_string(stats).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
    v["dropped"].as_u64().unwrap_or(0)
}

#[test]
#[ignore = "starts the broker: run by .ci/run"]
fn transactional_run_against_the_broker_is_clean() {
    let dir = scratch("txn");
    let (_b, port) = broker(&dir, &[], None);
    let (_, r) = record(&dir, port, "txn", "0.02");
    assert!(r.valid(), "the checker found anomalies in a clean run");
    assert!(r.sends_ok > 20 && r.reads > 20, "too little happened");
    assert!(
        r.txns.0 > 0 && r.txns.1 > 0,
        "commits and aborts both expected"
    );
}

#[test]
#[ignore = "starts the broker: run by .ci/run"]
fn processor_run_against_the_broker_is_clean() {
    let dir = scratch("processor");
    let (_b, port) = broker(&dir, &[], None);
    let (_, r) = record(&dir, port, "processor", "0.02");
    assert!(r.valid(), "the checker found anomalies in a clean run");
    assert!(r.txns.0 > 0, "some transaction committed");
}

#[test]
#[ignore = "starts the broker and the fault proxy: run by .ci/run"]
fn idempotent_run_under_faults_is_clean_with_dedup() {
    let dir = scratch("dedup-on");
    let (_proxy, _b, pport, stats) = proxied_broker(&dir, "0.3", &[]);
    let (_, r) = record(&dir, pport, "queue", "0");
    assert!(proxy_dropped(&stats) > 0, "the proxy dropped no response");
    assert!(
        r.valid(),
        "duplicate detection on: the history must be clean"
    );
    assert!(r.sends_ok > 20);
}

#[test]
#[ignore = "starts the broker and the fault proxy: run by .ci/run"]
fn dedup_off_under_faults_reports_duplicates_with_their_records() {
    let dir = scratch("dedup-off");
    let (_proxy, _b, pport, stats) = proxied_broker(&dir, "0.3", &["--unsafe-disable-dedup"]);
    let (_, r) = record(&dir, pport, "queue", "0");
    assert!(proxy_dropped(&stats) > 0, "the proxy dropped no response");
    let dups: Vec<_> = r.of(AnomalyKind::Duplicate).collect();
    assert!(
        !dups.is_empty(),
        "retries appended twice must show as duplicates"
    );
    for d in dups {
        assert!(d.records.len() >= 2, "a duplicate names both records");
        assert!(d.records.iter().all(|x| x.offset.is_some()));
        assert_ne!(d.records[0].offset, d.records[1].offset);
    }
    assert!(!r.valid());
}

#[test]
#[ignore = "starts the broker: run by .ci/run"]
fn read_committed_shown_aborted_records_is_reported_as_g1a() {
    let dir = scratch("aborted-read");
    let (_b, port) = broker(&dir, &["--unsafe-read-committed-shows-aborted"], None);
    let (_, r) = record(&dir, port, "txn", "0");
    assert!(r.txns.1 > 0, "some transaction aborted");
    let g1a: Vec<_> = r.of(AnomalyKind::G1a).collect();
    assert!(
        !g1a.is_empty(),
        "aborted records shown to read_committed are G1a"
    );
    assert_eq!(
        g1a[0].kind.property(),
        Some("S11 no aborted read"),
        "G1a maps to S11"
    );
}

#[test]
#[ignore = "starts the broker: run by .ci/run"]
fn subscribed_consumers_through_rebalances_are_clean() {
    let dir = scratch("subscribe");
    let (_b, port) = broker(&dir, &[], None);
    let (events, r) = record_with(
        &dir,
        port,
        "txn",
        "0.05",
        &["--subscribe", "--consumers", "4"],
    );
    let rebalances = events
        .iter()
        .filter(|e| matches!(e.op, history::Op::Rebalance(_)))
        .count();
    assert!(rebalances > 0, "the groups rebalanced");
    assert!(r.valid(), "the checker found anomalies in a clean run");
    assert!(r.reads > 20);
}
