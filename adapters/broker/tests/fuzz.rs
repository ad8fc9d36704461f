//! Random frames (proptest): random bytes and bit-flipped valid requests of every served API.
//! Whatever arrives, the broker answers or closes that one connection, keeps serving a second
//! connection, and loses nothing already acknowledged.

mod common;

use common::{start, Client};
use kafka_eos_broker::testing::data_batch;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;

fn valid_requests() -> Vec<Vec<u8>> {
    let mut c = unconnected();
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("fz"))))
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(1)
                .with_records(Some(data_batch(1000, 0, 0, 3, false)))])]);
    vec![
        c.request_bytes(ApiKey::Produce, 9, &produce),
        c.request_bytes(ApiKey::Metadata, 12, &MetadataRequest::default()),
        c.request_bytes(ApiKey::Fetch, 12, &FetchRequest::default()),
        c.request_bytes(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(StrBytes::from_static_str("fz"))))
                .with_transaction_timeout_ms(1000),
        ),
        c.request_bytes(ApiKey::EndTxn, 3, &EndTxnRequest::default()),
        c.request_bytes(
            ApiKey::AddPartitionsToTxn,
            3,
            &AddPartitionsToTxnRequest::default(),
        ),
        c.request_bytes(ApiKey::ListOffsets, 7, &ListOffsetsRequest::default()),
        c.request_bytes(
            ApiKey::TxnOffsetCommit,
            3,
            &TxnOffsetCommitRequest::default(),
        ),
    ]
}

fn unconnected() -> Client {
    // A client object used only to build request bytes (its stream is a throwaway loopback
    // connection to a listener that is dropped at once).
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    Client::from_stream(s)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_frames_never_stop_the_broker(
        pick in 0usize..8,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        random in proptest::collection::vec(any::<u8>(), 0..64),
        use_random in any::<bool>(),
    ) {
        let server = start(1 << 16, false);
        let mut keeper = Client::connect(&server);
        let r: ProduceResponse = keeper.call(ApiKey::Produce, 9, &ProduceRequest::default()
            .with_acks(-1)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(data_batch(-1, -1, -1, 2, false)))])])).unwrap();
        prop_assert_eq!(r.responses[0].partition_responses[0].error_code, 0);

        let mut frame = if use_random { random } else { valid_requests()[pick].clone() };
        if !frame.is_empty() {
            for (i, x) in &flips {
                let at = i.index(frame.len());
                frame[at] ^= x;
            }
        }
        let mut c = Client::connect(&server);
        c.send_raw(&frame).unwrap();
        // Either an answer or a closed connection: both are fine; a hang is not (10 s timeout).
        let _ = c.read_raw();

        let mut other = Client::connect(&server);
        let v: Option<ApiVersionsResponse> = other.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        prop_assert_eq!(v.map(|v| v.error_code), Some(0));
        let f: FetchResponse = keeper.call(ApiKey::Fetch, 12, &FetchRequest::default()
            .with_max_bytes(1 << 20)
            .with_topics(vec![fetch_request::FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![fetch_request::FetchPartition::default()
                    .with_partition(0)
                    .with_partition_max_bytes(1 << 20)])])).unwrap();
        prop_assert!(f.responses[0].partitions[0].high_watermark >= 2);
        server.stop();
    }
}
