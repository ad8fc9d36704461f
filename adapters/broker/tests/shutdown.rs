//! The binary's clean shutdown: SIGTERM closes the storage (`KafkaServer.shutdown` →
//! `LogManager.shutdown`: logs flushed, producer state snapshotted at the log end offset, the
//! data directory's lock released) and exits 0; a restart replays nothing and serves the same
//! data, and still recognises a retried batch.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{eos, Client};
use kafka_eos_broker::testing::data_batch_at;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    let dir = std::env::temp_dir().join(format!(
        "kafka-eos-shutdown-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// Starts the binary on `dir/data`; returns it and a connected client.
fn launch(dir: &Path) -> (Child, Client) {
    let port_file = dir.join("port");
    let _ = std::fs::remove_file(&port_file);
    let child = Command::new(env!("CARGO_BIN_EXE_kafka-eos-broker"))
        .args(["--listen", "127.0.0.1:0", "--topic", "t:1", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--port-file")
        .arg(&port_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the broker binary starts");
    // Bounded: 20 s for the port file.
    let mut port = None;
    for _ in 0..200 {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            port = p.trim().parse::<u16>().ok();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let port = port.expect("the broker wrote its port");
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (child, Client::from_stream(stream))
}

fn now_ms() -> i64 {
    kafka_eos_broker::server::now_ms()
}

#[test]
fn sigterm_snapshots_the_producer_state_and_a_restart_replays_nothing() {
    let dir = temp_dir();
    let (mut child, mut c) = launch(&dir.0);
    let init = eos::init_producer_id(&mut c, None);
    assert_eq!(init.error_code, 0);
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    let batches: Vec<_> = (0..3)
        .map(|seq| data_batch_at(pid, epoch, seq, 1, false, now_ms()))
        .collect();
    for (i, batch) in batches.iter().enumerate() {
        let answer = eos::produce(&mut c, None, "t", 0, batch.clone());
        assert_eq!((answer.error_code, answer.base_offset), (0, i as i64));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("the broker exits");
    assert!(exit.success(), "SIGTERM is a clean shutdown: {exit:?}");
    // The producer state is snapshotted at the log end offset (3): nothing to replay.
    let snapshot = dir.0.join("data/t-0/00000000000000000003.snapshot");
    assert!(snapshot.exists(), "{} missing", snapshot.display());

    // The lock was released: the next broker takes the directory, serves the data, and the
    // last batch retried is still a duplicate (answered with its offset, not appended again).
    let (mut child, mut c) = launch(&dir.0);
    let answer = eos::produce(&mut c, None, "t", 0, batches[2].clone());
    assert_eq!((answer.error_code, answer.base_offset), (0, 2));
    let fetched = eos::fetch(&mut c, "t", 0, 0, false);
    assert_eq!(fetched.high_watermark, 3);
    child.kill().unwrap();
    let _ = child.wait();
}
