//! `kafka-eos-broker`: the command line of the broker adapter (clap; `--help` lists every flag).
//!
//! The bound port is printed (`listening on 127.0.0.1:PORT`) and written to `--port-file`.
//! `--unsafe-disable-dedup` is a TEST-ONLY switch: it turns on the core's known-bug M-I1
//! (no duplicate detection, no sequence check) so that the fault tests can show they fail.
//! `--unsafe-read-committed-shows-aborted` is TEST-ONLY too: the core's known-bug M-R1 (no
//! aborted-transaction list for read_committed fetches, so clients return aborted records), for
//! the history checker's aborted-read (G1a) test. Logs go to stderr through `tracing`
//! (`--log-level`, or `RUST_LOG` for per-module filters).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kafka_eos::group::membership::MembershipConfig;
use kafka_eos_broker::broker::{BrokerConfig, DEFAULT_FIRST_PRODUCER_ID, MAX_PARTITIONS_PER_TOPIC};
use kafka_eos_broker::server::{Server, DEFAULT_MAX_FRAME_BYTES};
use kafka_eos_broker::storage::{
    FlushPolicy, StorageConfig, DEFAULT_DATA_DIR, DEFAULT_SEGMENT_BYTES,
};
use tracing_subscriber::EnvFilter;

/// A one-node Kafka wire-protocol broker whose every protocol decision is made by the kafka-eos
/// core (the model-checked transition functions).
#[derive(Parser, Debug)]
#[command(name = "kafka-eos-broker", version, about)]
struct Cli {
    /// Address to listen on (port 0: any free port, printed and written to --port-file).
    #[arg(long, default_value = "127.0.0.1:9092", value_name = "HOST:PORT")]
    listen: String,
    /// A topic created at start, with its partition count (repeatable).
    #[arg(long = "topic", value_name = "NAME:PARTITIONS", value_parser = parse_topic)]
    topics: Vec<(String, i32)>,
    /// Do not create a topic that a Metadata request names but this node lacks
    /// (`auto.create.topics.enable=false`; it is on by default, as in Kafka).
    #[arg(long)]
    no_auto_create_topics: bool,
    /// Partition count of an auto-created topic and of CreateTopics with `num_partitions` -1
    /// (`num.partitions`).
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(i32).range(1..=i64::from(MAX_PARTITIONS_PER_TOPIC)))]
    default_partitions: i32,
    /// Host:port returned by Metadata and FindCoordinator (a fault proxy's); default: the bound
    /// address.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    advertise: Option<(String, i32)>,
    /// File the bound port is written to (atomically) once listening.
    #[arg(long, value_name = "PATH")]
    port_file: Option<String>,
    /// File rewritten every 100 ms with the broker's counters as JSON.
    #[arg(long, value_name = "PATH")]
    stats_file: Option<String>,
    /// Serve Prometheus metrics at `http://HOST:PORT/metrics` (port 0: any free port, printed
    /// as `metrics on HOST:PORT`).
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
    /// Largest request frame accepted (`socket.request.max.bytes`); a larger one closes the
    /// connection.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAME_BYTES, value_name = "BYTES")]
    max_frame_bytes: usize,
    /// This node's id.
    #[arg(long, default_value_t = 0)]
    node_id: i32,
    /// `group.min.session.timeout.ms`.
    #[arg(long, value_name = "MS")]
    group_min_session_timeout_ms: Option<i32>,
    /// Log level of stderr logging (error, warn, info, debug, trace); `RUST_LOG`, when set,
    /// takes precedence.
    #[arg(long, default_value = "info", value_name = "LEVEL")]
    log_level: String,
    /// Directory of the logs, producer-state snapshots, transaction log and offsets
    /// (`log.dirs`); recovered on start.
    #[arg(long, default_value = DEFAULT_DATA_DIR, value_name = "DIR", conflicts_with = "in_memory")]
    data_dir: PathBuf,
    /// Keep everything in memory: a restart loses every record, producer and transaction.
    #[arg(long)]
    in_memory: bool,
    /// When appends are forced to disk: `every-batch` (before the answer; default) or
    /// `interval=MS`.
    #[arg(long, default_value = "every-batch", value_name = "POLICY")]
    flush: FlushPolicy,
    /// `segment.bytes`: a partition's log segment is rolled (and the producer state
    /// snapshotted) once it holds this many bytes.
    #[arg(long, default_value_t = DEFAULT_SEGMENT_BYTES, value_name = "BYTES")]
    segment_bytes: u64,
    /// Largest replication factor CreateTopics accepts (Kafka: the number of brokers; default 1,
    /// this node). A larger value serves clients' tests written for a bigger cluster; their
    /// topics still have one replica, this node.
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(i16).range(1..))]
    max_replication_factor: i16,
    /// Simulated replication: answer a request that appended to `__transaction_state` or
    /// `__consumer_offsets` this many ms later, as a cluster whose followers must fetch the record
    /// first (acks=all) would; 0 (default): at once, as one node can.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    replication_delay_ms: u64,
    /// TEST ONLY: no duplicate detection and no sequence check (the core's known bug M-I1).
    #[arg(long)]
    unsafe_disable_dedup: bool,
    /// TEST ONLY: read_committed fetches get no aborted-transaction list (the core's known bug
    /// M-R1), so clients return aborted records.
    #[arg(long)]
    unsafe_read_committed_shows_aborted: bool,
    /// TEST ONLY: exit at once (status 137, as after `kill -9`) once N appends (data batches and
    /// transaction-log records) are durable, before what depends on the N-th is sent.
    #[arg(long, value_name = "N")]
    unsafe_crash_after_appends: Option<u64>,
}

fn parse_topic(v: &str) -> Result<(String, i32), String> {
    let (name, n) = v
        .rsplit_once(':')
        .ok_or_else(|| format!("{v:?}: expected NAME:PARTITIONS"))?;
    match n.parse::<i32>() {
        Ok(n) if n > 0 && !name.is_empty() => Ok((name.to_string(), n)),
        _ => Err(format!(
            "{v:?}: expected a non-empty NAME and PARTITIONS > 0"
        )),
    }
}

fn parse_host_port(v: &str) -> Result<(String, i32), String> {
    let (host, port) = v
        .rsplit_once(':')
        .ok_or_else(|| format!("{v:?}: expected HOST:PORT"))?;
    let port = port
        .parse::<u16>()
        .map_err(|e| format!("{v:?}: bad port: {e}"))?;
    Ok((host.to_string(), i32::from(port)))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cli.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let mut membership = MembershipConfig::default();
    if let Some(ms) = cli.group_min_session_timeout_ms {
        membership.min_session_timeout_ms = ms;
    }
    let (advertised_host, advertised_port) = cli.advertise.clone().unwrap_or_else(|| {
        let host = cli.listen.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
        (host.to_string(), 0)
    });
    let config = BrokerConfig {
        node_id: cli.node_id,
        advertised_host,
        advertised_port,
        topics: cli.topics.clone(),
        auto_create_topics: !cli.no_auto_create_topics,
        default_partitions: cli.default_partitions,
        unsafe_disable_dedup: cli.unsafe_disable_dedup,
        unsafe_read_committed_shows_aborted: cli.unsafe_read_committed_shows_aborted,
        first_producer_id: DEFAULT_FIRST_PRODUCER_ID,
        membership,
        storage: StorageConfig {
            data_dir: (!cli.in_memory).then(|| cli.data_dir.clone()),
            flush: cli.flush,
            segment_bytes: cli.segment_bytes,
        },
    };
    if config.unsafe_disable_dedup {
        tracing::warn!("--unsafe-disable-dedup: duplicate detection is OFF (test only)");
    }
    if config.unsafe_read_committed_shows_aborted {
        tracing::warn!(
            "--unsafe-read-committed-shows-aborted: read_committed returns aborted records (test only)"
        );
    }
    let server = match Server::start(&cli.listen, config, cli.max_frame_bytes, cli.stats_file) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot start on {}: {e}", cli.listen);
            return ExitCode::FAILURE;
        }
    };
    if let Some(n) = cli.unsafe_crash_after_appends {
        tracing::warn!(
            "--unsafe-crash-after-appends {n}: the broker exits after {n} appends (test only)"
        );
        server
            .shared
            .broker()
            .set_unsafe_crash_after_appends(Some(n));
    }
    server
        .shared
        .broker()
        .set_max_replication_factor(cli.max_replication_factor);
    server
        .shared
        .set_replication_delay(std::time::Duration::from_millis(cli.replication_delay_ms));
    // SIGTERM / SIGINT: a clean shutdown (`KafkaServer.shutdown` → `LogManager.shutdown`): the
    // storage is closed (logs flushed, producer state snapshotted) under the broker's lock, so
    // nothing is answered after it, then the process exits.
    match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ]) {
        Ok(mut signals) => {
            let shared = std::sync::Arc::clone(&server.shared);
            std::thread::spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    tracing::info!(signal, "shutting down: closing the storage");
                    let mut broker = shared.broker();
                    broker.close_storage();
                    tracing::info!("storage closed");
                    std::process::exit(0);
                }
            });
        }
        Err(e) => tracing::warn!("no clean shutdown on SIGTERM: {e}"),
    }
    println!("listening on {}", server.addr);
    tracing::info!(addr = %server.addr, "listening");
    if let Some(addr) = &cli.metrics_addr {
        match server.serve_metrics(addr) {
            Ok(bound) => {
                println!("metrics on {bound}");
                tracing::info!(addr = %bound, "serving /metrics");
            }
            Err(e) => {
                tracing::error!("cannot serve metrics on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(path) = cli.port_file {
        let tmp = format!("{path}.tmp");
        if let Err(e) = std::fs::write(&tmp, server.addr.port().to_string())
            .and_then(|()| std::fs::rename(&tmp, &path))
        {
            tracing::error!("cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    loop {
        std::thread::park();
    }
}
