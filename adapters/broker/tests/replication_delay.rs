//! `Shared::set_replication_delay` (`--replication-delay-ms`): the answer to a request that
//! appended to `__transaction_state` is held back by the delay, as Kafka's `acks=all` append to
//! its replicated transaction log would hold it; requests that append nothing are not.

mod common;

use std::time::{Duration, Instant};

use common::{start, Client};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn init_pid(c: &mut Client, txn: Option<&str>) -> Option<InitProducerIdResponse> {
    c.call(
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(txn.map(|t| TransactionalId(StrBytes::from_string(t.into()))))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    )
}

#[test]
fn a_transaction_log_append_is_answered_no_sooner_than_the_delay() {
    let server = start(1 << 20, false);
    let delay = Duration::from_millis(300);
    server.shared.set_replication_delay(delay);
    let mut c = Client::connect(&server);
    let started = Instant::now();
    let r = init_pid(&mut c, Some("x")).expect("answered");
    assert_eq!(r.error_code, 0);
    assert!(
        started.elapsed() >= delay,
        "answered after {:?}, before the {delay:?} delay",
        started.elapsed()
    );
}

#[test]
fn requests_that_append_nothing_are_not_held() {
    // A delay far above the client's 10 s read timeout: a held answer would fail the call.
    let server = start(1 << 20, false);
    server
        .shared
        .set_replication_delay(Duration::from_secs(3600));
    let mut c = Client::connect(&server);
    let r: ApiVersionsResponse = c
        .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        .expect("ApiVersions answered");
    assert_eq!(r.error_code, 0);
    // An idempotent producer's InitProducerId writes no transaction-log record.
    let r = init_pid(&mut c, None).expect("idempotent InitProducerId answered");
    assert_eq!(r.error_code, 0);
    assert!(r.producer_id.0 >= 0);
}
