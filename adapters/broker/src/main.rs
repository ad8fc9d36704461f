//! `kafka-eos-broker`: the command line of the broker adapter.
//!
//! ```text
//! kafka-eos-broker --listen 127.0.0.1:0 --topic t:2 [--topic u:1] [--advertise 127.0.0.1:PORT]
//!                  [--port-file PATH] [--stats-file PATH] [--max-frame-bytes N] [--node-id N]
//!                  [--group-min-session-timeout-ms N] [--unsafe-disable-dedup]
//!                  [--unsafe-read-committed-shows-aborted]
//! ```
//! The bound port is printed (`listening on 127.0.0.1:PORT`) and written to `--port-file`.
//! `--unsafe-disable-dedup` is a TEST-ONLY switch: it turns on the core's known-bug M-I1
//! (no duplicate detection, no sequence check) so that the fault tests can show they fail.
//! `--unsafe-read-committed-shows-aborted` is TEST-ONLY too: the core's known-bug M-R1 (no
//! aborted-transaction list for read_committed fetches, so clients return aborted records), for
//! the history checker's aborted-read (G1a) test.

use std::process::ExitCode;

use kafka_eos::group::membership::MembershipConfig;
use kafka_eos_broker::broker::{BrokerConfig, DEFAULT_FIRST_PRODUCER_ID};
use kafka_eos_broker::server::{Server, DEFAULT_MAX_FRAME_BYTES};

fn usage() -> ExitCode {
    eprintln!(
        "usage: kafka-eos-broker --listen HOST:PORT --topic NAME:PARTITIONS... [--advertise HOST:PORT] \
         [--port-file PATH] [--stats-file PATH] [--max-frame-bytes N] [--node-id N] [--group-min-session-timeout-ms N] [--unsafe-disable-dedup] \
         [--unsafe-read-committed-shows-aborted]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut listen = "127.0.0.1:9092".to_string();
    let mut advertise: Option<String> = None;
    let mut port_file = None;
    let mut stats_file = None;
    let mut max_frame = DEFAULT_MAX_FRAME_BYTES;
    let mut config = BrokerConfig {
        node_id: 0,
        advertised_host: String::new(),
        advertised_port: 0,
        topics: Vec::new(),
        unsafe_disable_dedup: false,
        unsafe_read_committed_shows_aborted: false,
        first_producer_id: DEFAULT_FIRST_PRODUCER_ID,
        membership: MembershipConfig::default(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next();
        match arg.as_str() {
            "--listen" => match value() {
                Some(v) => listen = v,
                None => return usage(),
            },
            "--advertise" => advertise = value(),
            "--port-file" => port_file = value(),
            "--stats-file" => stats_file = value(),
            "--max-frame-bytes" => match value().and_then(|v| v.parse().ok()) {
                Some(v) => max_frame = v,
                None => return usage(),
            },
            "--node-id" => match value().and_then(|v| v.parse().ok()) {
                Some(v) => config.node_id = v,
                None => return usage(),
            },
            "--topic" => {
                let Some(v) = value() else { return usage() };
                let Some((name, n)) = v.rsplit_once(':') else {
                    return usage();
                };
                match n.parse::<i32>() {
                    Ok(n) if n > 0 && !name.is_empty() => config.topics.push((name.to_string(), n)),
                    _ => return usage(),
                }
            }
            "--group-min-session-timeout-ms" => match value().and_then(|v| v.parse().ok()) {
                Some(v) => config.membership.min_session_timeout_ms = v,
                None => return usage(),
            },
            "--unsafe-disable-dedup" => config.unsafe_disable_dedup = true,
            "--unsafe-read-committed-shows-aborted" => {
                config.unsafe_read_committed_shows_aborted = true;
            }
            _ => return usage(),
        }
    }
    let listen_host = listen
        .rsplit_once(':')
        .map_or("127.0.0.1", |(h, _)| h)
        .to_string();
    match advertise.as_deref().map(|a| a.rsplit_once(':')) {
        Some(Some((h, p))) => {
            config.advertised_host = h.to_string();
            match p.parse() {
                Ok(p) => config.advertised_port = p,
                Err(_) => return usage(),
            }
        }
        Some(None) => return usage(),
        None => config.advertised_host = listen_host,
    }
    if config.unsafe_disable_dedup {
        eprintln!("kafka-eos-broker: WARNING --unsafe-disable-dedup: duplicate detection is OFF (test only)");
    }
    if config.unsafe_read_committed_shows_aborted {
        eprintln!("kafka-eos-broker: WARNING --unsafe-read-committed-shows-aborted: read_committed returns aborted records (test only)");
    }
    let server = match Server::start(&listen, config, max_frame, stats_file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kafka-eos-broker: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", server.addr);
    if let Some(path) = port_file {
        let tmp = format!("{path}.tmp");
        if std::fs::write(&tmp, server.addr.port().to_string())
            .and_then(|()| std::fs::rename(&tmp, &path))
            .is_err()
        {
            eprintln!("kafka-eos-broker: cannot write {path}");
            return ExitCode::FAILURE;
        }
    }
    loop {
        std::thread::park();
    }
}
