//! `/metrics` scraped in process over HTTP and parsed: every counter of a scripted run (a
//! duplicate, a sequence gap, a new epoch, a commit, a fenced zombie and its abort) has the value
//! the run implies, the gauges show an open transaction and its LSO lag while it is open and
//! nothing once it is done, and the counters agree with `--stats-file`'s JSON.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::eos::{add_partition, end_txn, fetch, init_producer_id, produce, txn_offset_commit};
use common::{scrape, start, Client};
use kafka_eos::error::ErrorCode;
use kafka_eos_broker::server::DEFAULT_MAX_FRAME_BYTES;
use kafka_eos_broker::testing::data_batch;

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no series {series} in {samples:#?}"))
}

fn pid_epoch(c: &mut Client, txn: Option<&str>) -> (i64, i16) {
    let r = init_producer_id(c, txn);
    assert_eq!(r.error_code, 0);
    (r.producer_id.0, r.producer_epoch)
}

#[test]
fn metrics_count_what_the_core_decided() {
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let metrics = server
        .serve_metrics("127.0.0.1:0")
        .expect("metrics listener");
    let mut c = Client::connect(&server);

    // Idempotent: one batch, its exact retry (a duplicate), a gap (OUT_OF_ORDER_SEQUENCE_NUMBER),
    // then a new epoch at sequence 0 (a sequence reset).
    let (pid, epoch) = pid_epoch(&mut c, None);
    assert_eq!(
        produce(&mut c, None, "t", 1, data_batch(pid, epoch, 0, 3, false)).error_code,
        0
    );
    let retry = produce(&mut c, None, "t", 1, data_batch(pid, epoch, 0, 3, false));
    assert_eq!((retry.error_code, retry.base_offset), (0, 0));
    assert_eq!(
        produce(&mut c, None, "t", 1, data_batch(pid, epoch, 9, 1, false)).error_code,
        45
    );
    assert_eq!(
        produce(
            &mut c,
            None,
            "t",
            1,
            data_batch(pid, epoch + 1, 0, 1, false)
        )
        .error_code,
        0
    );

    // A transaction left open: the gauges see it.
    let a = pid_epoch(&mut c, Some("a"));
    assert_eq!(add_partition(&mut c, "a", a, "t", 0), 0);
    assert_eq!(
        produce(&mut c, Some("a"), "t", 0, data_batch(a.0, a.1, 0, 2, true)).error_code,
        0
    );
    std::thread::sleep(Duration::from_millis(30));
    let open = scrape(metrics);
    assert_eq!(value(&open, "kafka_eos_open_transactions"), 1.0);
    assert!(value(&open, "kafka_eos_oldest_open_transaction_age_ms") >= 30.0);
    assert_eq!(
        value(
            &open,
            r#"kafka_eos_last_stable_offset_lag{topic="t",partition="0"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            &open,
            r#"kafka_eos_last_stable_offset_lag{topic="t",partition="1"}"#
        ),
        0.0
    );
    assert_eq!(value(&open, "kafka_eos_transactions_committed_total"), 0.0);
    assert_eq!(end_txn(&mut c, 3, "a", a, true), 0);

    // A zombie: a second InitProducerId fences the open transaction (CONCURRENT_TRANSACTIONS,
    // the epoch bumped, the transaction aborted), its retry bumps again; the zombie's EndTxn is
    // PRODUCER_FENCED and its Produce INVALID_PRODUCER_EPOCH.
    let z = pid_epoch(&mut c, Some("z"));
    assert_eq!(add_partition(&mut c, "z", z, "t", 0), 0);
    assert_eq!(
        produce(&mut c, Some("z"), "t", 0, data_batch(z.0, z.1, 0, 1, true)).error_code,
        0
    );
    assert_eq!(init_producer_id(&mut c, Some("z")).error_code, 51);
    let z2 = pid_epoch(&mut c, Some("z"));
    assert_eq!(z2.1, z.1 + 2);
    assert_eq!(end_txn(&mut c, 3, "z", z, true), 90);
    assert_eq!(
        produce(&mut c, Some("z"), "t", 0, data_batch(z.0, z.1, 1, 1, true)).error_code,
        47
    );
    let offsets = txn_offset_commit(&mut c, "z", z, "g", "t");
    assert_ne!(offsets, 0);
    assert_eq!(fetch(&mut c, "t", 0, 0, true).error_code, 0);

    let done = scrape(metrics);
    let expect = [
        ("kafka_eos_duplicates_suppressed_total", 1.0),
        ("kafka_eos_out_of_order_sequence_total", 1.0),
        (
            r#"kafka_eos_produce_errors_total{error="OUT_OF_ORDER_SEQUENCE_NUMBER"}"#,
            1.0,
        ),
        (
            r#"kafka_eos_produce_errors_total{error="INVALID_PRODUCER_EPOCH"}"#,
            1.0,
        ),
        (
            r#"kafka_eos_sequence_resets_total{cause="epoch_bump"}"#,
            1.0,
        ),
        (
            r#"kafka_eos_sequence_resets_total{cause="unknown_producer_id"}"#,
            0.0,
        ),
        ("kafka_eos_producer_ids_allocated_total", 2.0),
        ("kafka_eos_epoch_bumps_total", 2.0),
        (
            r#"kafka_eos_producers_fenced_total{api="Produce",error="INVALID_PRODUCER_EPOCH"}"#,
            1.0,
        ),
        (
            r#"kafka_eos_producers_fenced_total{api="EndTxn",error="PRODUCER_FENCED"}"#,
            1.0,
        ),
        (
            r#"kafka_eos_txn_request_errors_total{api="InitProducerId",error="CONCURRENT_TRANSACTIONS"}"#,
            1.0,
        ),
        ("kafka_eos_transactions_committed_total", 1.0),
        ("kafka_eos_transactions_aborted_total", 1.0),
        ("kafka_eos_transactions_timed_out_total", 0.0),
        // a: one marker; z: one marker.
        ("kafka_eos_markers_written_total", 2.0),
        // Data: 2 + 1 on partition 1 (the duplicate is not appended); 2 + 1 on partition 0.
        ("kafka_eos_batches_appended_total", 4.0),
        (r#"kafka_eos_requests_total{api="InitProducerId"}"#, 5.0),
        (r#"kafka_eos_requests_total{api="Produce"}"#, 7.0),
        (r#"kafka_eos_requests_total{api="Fetch"}"#, 1.0),
        (r#"kafka_eos_requests_total{api="EndTxn"}"#, 2.0),
        ("kafka_eos_connections", 1.0),
        ("kafka_eos_connections_accepted_total", 1.0),
        ("kafka_eos_open_transactions", 0.0),
        ("kafka_eos_oldest_open_transaction_age_ms", 0.0),
        (
            r#"kafka_eos_last_stable_offset_lag{topic="t",partition="0"}"#,
            0.0,
        ),
        (
            r#"kafka_eos_last_stable_offset_lag{topic="t",partition="1"}"#,
            0.0,
        ),
        // 2 data + a's marker + 1 data + z's abort marker.
        (r#"kafka_eos_high_watermark{topic="t",partition="0"}"#, 5.0),
    ];
    let offsets_error = ErrorCode::from_code(offsets).expect("a known code").name();
    assert_eq!(
        value(
            &done,
            &format!(
                r#"kafka_eos_txn_request_errors_total{{api="TxnOffsetCommit",error="{offsets_error}"}}"#
            )
        ),
        1.0
    );
    for (series, want) in expect {
        assert_eq!(value(&done, series), want, "{series}");
    }

    // One source of truth: the stats file's JSON has the same counts.
    let json = server.shared.stats_json();
    for needle in [
        "\"duplicates_suppressed\":1,",
        "\"epoch_bumps\":2,",
        "\"transactions_committed\":1,",
        "\"transactions_aborted\":1}",
        "\"EndTxn/PRODUCER_FENCED\":1",
    ] {
        assert!(json.contains(needle), "{needle} not in {json}");
    }

    drop(c);
    // The connection's thread ends when it reads EOF; the gauge follows (bounded wait).
    let mut closed = false;
    for _ in 0..100 {
        if value(&scrape(metrics), "kafka_eos_connections") == 0.0 {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(closed, "the closed connection is still counted as open");
}

#[test]
fn metrics_answer_404_elsewhere() {
    use std::io::{Read, Write};
    let server = start(DEFAULT_MAX_FRAME_BYTES, false);
    let metrics = server
        .serve_metrics("127.0.0.1:0")
        .expect("metrics listener");
    let mut s = std::net::TcpStream::connect(metrics).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 404") || answer.starts_with("HTTP/1.1 404"),
        "{answer}"
    );
}
