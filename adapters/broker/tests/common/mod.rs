//! A minimal Kafka client over `kafka-protocol`'s client side, for the wire tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_eos_broker::broker::{BrokerConfig, DEFAULT_FIRST_PRODUCER_ID};
use kafka_eos_broker::server::Server;
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// The configuration of a test broker: topic `t` (2 partitions), in memory.
pub fn config(disable_dedup: bool) -> BrokerConfig {
    BrokerConfig {
        node_id: 0,
        advertised_host: "127.0.0.1".into(),
        advertised_port: 0,
        topics: vec![("t".into(), 2)],
        auto_create_topics: true,
        default_partitions: 1,
        unsafe_disable_dedup: disable_dedup,
        unsafe_read_committed_shows_aborted: false,
        first_producer_id: DEFAULT_FIRST_PRODUCER_ID,
        membership: Default::default(),
        storage: Default::default(),
    }
}

/// Starts a broker on 127.0.0.1:0 with topic `t` (2 partitions).
pub fn start(max_frame: usize, disable_dedup: bool) -> Server {
    start_with(max_frame, |c| c.unsafe_disable_dedup = disable_dedup)
}

/// [`start`] with the configuration changed by `change` first.
pub fn start_with(max_frame: usize, change: impl FnOnce(&mut BrokerConfig)) -> Server {
    let mut config = config(false);
    change(&mut config);
    Server::start("127.0.0.1:0", config, max_frame, None).expect("broker starts")
}

pub struct Client {
    pub stream: TcpStream,
    correlation: i32,
}

impl Client {
    pub fn connect(server: &Server) -> Client {
        let stream = TcpStream::connect(server.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            stream,
            correlation: 0,
        }
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        Client {
            stream,
            correlation: 0,
        }
    }

    pub fn send_raw(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let mut frame = BytesMut::new();
        frame.put_i32(payload.len() as i32);
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame)
    }

    /// Reads one response frame; `None` if the broker closed the connection.
    pub fn read_raw(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).ok()?;
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf).ok()?;
        Some(Bytes::from(buf))
    }

    pub fn request_bytes<Req: Encodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        req: &Req,
    ) -> Vec<u8> {
        self.correlation += 1;
        let mut buf = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("wire-test")))
            .encode(&mut buf, api.request_header_version(version))
            .unwrap();
        req.encode(&mut buf, version).unwrap();
        buf.to_vec()
    }

    /// Sends a request and decodes the response (None if the connection was closed).
    pub fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        req: &Req,
    ) -> Option<Resp> {
        let payload = self.request_bytes(api, version, req);
        self.send_raw(&payload).ok()?;
        let mut resp = self.read_raw()?;
        let header =
            ResponseHeader::decode(&mut resp, api.response_header_version(version)).unwrap();
        assert_eq!(header.correlation_id, self.correlation);
        Some(Resp::decode(&mut resp, version).unwrap())
    }

    /// Whether the broker closed the connection (read returns EOF).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }
}

/// Exactly-once requests of the metrics and load tests, each checked to be answered.
pub mod eos {
    use super::Client;
    use bytes::Bytes;
    use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::fetch_response::PartitionData;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::produce_response::PartitionProduceResponse;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;

    fn name(topic: &str) -> TopicName {
        TopicName(StrBytes::from_string(topic.into()))
    }

    fn txn_id(txn: &str) -> TransactionalId {
        TransactionalId(StrBytes::from_string(txn.into()))
    }

    /// InitProducerId v4 (`txn`: None for an idempotent producer); the whole answer.
    pub fn init_producer_id(c: &mut Client, txn: Option<&str>) -> InitProducerIdResponse {
        c.call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(txn.map(txn_id))
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .expect("InitProducerId answered")
    }

    /// Produce v9 of one batch to one partition, `acks = -1`; the partition's answer.
    pub fn produce(
        c: &mut Client,
        txn: Option<&str>,
        topic: &str,
        partition: i32,
        records: Bytes,
    ) -> PartitionProduceResponse {
        let r: ProduceResponse = c
            .call(
                ApiKey::Produce,
                9,
                &ProduceRequest::default()
                    .with_acks(-1)
                    .with_timeout_ms(5000)
                    .with_transactional_id(txn.map(txn_id))
                    .with_topic_data(vec![TopicProduceData::default()
                        .with_name(name(topic))
                        .with_partition_data(vec![PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(records))])]),
            )
            .expect("Produce answered");
        r.responses[0].partition_responses[0].clone()
    }

    /// Fetch v12 of one partition from `offset`, no wait; the partition's answer.
    pub fn fetch(
        c: &mut Client,
        topic: &str,
        partition: i32,
        offset: i64,
        read_committed: bool,
    ) -> PartitionData {
        let r: FetchResponse = c
            .call(
                ApiKey::Fetch,
                12,
                &FetchRequest::default()
                    .with_max_wait_ms(0)
                    .with_min_bytes(1)
                    .with_max_bytes(1 << 20)
                    .with_isolation_level(i8::from(read_committed))
                    .with_topics(vec![FetchTopic::default()
                        .with_topic(name(topic))
                        .with_partitions(vec![FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(1 << 20)])]),
            )
            .expect("Fetch answered");
        r.responses[0].partitions[0].clone()
    }

    /// AddPartitionsToTxn v3 of one partition; its error code.
    pub fn add_partition(
        c: &mut Client,
        txn: &str,
        (pid, epoch): (i64, i16),
        topic: &str,
        partition: i32,
    ) -> i16 {
        let r: AddPartitionsToTxnResponse = c
            .call(
                ApiKey::AddPartitionsToTxn,
                3,
                &AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(txn_id(txn))
                    .with_v3_and_below_producer_id(ProducerId(pid))
                    .with_v3_and_below_producer_epoch(epoch)
                    .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                        .with_name(name(topic))
                        .with_partitions(vec![partition])]),
            )
            .expect("AddPartitionsToTxn answered");
        r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
    }

    /// TxnOffsetCommit v3 of offset 1 for partition 0 of `topic` in `group` (no member); the
    /// partition's error code.
    pub fn txn_offset_commit(
        c: &mut Client,
        txn: &str,
        (pid, epoch): (i64, i16),
        group: &str,
        topic: &str,
    ) -> i16 {
        use kafka_protocol::messages::txn_offset_commit_request::{
            TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
        };
        let r: TxnOffsetCommitResponse = c
            .call(
                ApiKey::TxnOffsetCommit,
                3,
                &TxnOffsetCommitRequest::default()
                    .with_transactional_id(txn_id(txn))
                    .with_group_id(GroupId(StrBytes::from_string(group.into())))
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(epoch)
                    .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                        .with_name(name(topic))
                        .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1)])]),
            )
            .expect("TxnOffsetCommit answered");
        r.topics[0].partitions[0].error_code
    }

    /// EndTxn at `version`; its error code.
    pub fn end_txn(
        c: &mut Client,
        version: i16,
        txn: &str,
        (pid, epoch): (i64, i16),
        commit: bool,
    ) -> i16 {
        let r: EndTxnResponse = c
            .call(
                ApiKey::EndTxn,
                version,
                &EndTxnRequest::default()
                    .with_transactional_id(txn_id(txn))
                    .with_producer_id(ProducerId(pid))
                    .with_producer_epoch(epoch)
                    .with_committed(commit),
            )
            .expect("EndTxn answered");
        r.error_code
    }
}

/// `GET /metrics` from `addr`, parsed: each sample line's series (`name{labels}` as written)
/// and value. Panics on an answer that is not Prometheus text format 0.0.4.
pub fn scrape(addr: std::net::SocketAddr) -> std::collections::BTreeMap<String, f64> {
    let mut stream = TcpStream::connect(addr).expect("connect to /metrics");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an HTTP answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("HTTP head and body");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let mut samples = std::collections::BTreeMap::new();
    for line in body.lines() {
        if line.is_empty() || line.starts_with('#') {
            assert!(
                line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        let value: f64 = value.parse().expect("a number");
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "series {series} twice"
        );
    }
    samples
}

/// DeleteRecords v2 of `topic`-`partition` up to `offset`: (error code, low watermark).
pub fn delete_records(c: &mut Client, topic: &str, partition: i32, offset: i64) -> (i16, i64) {
    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse, TopicName};
    let r: DeleteRecordsResponse = c
        .call(
            ApiKey::DeleteRecords,
            2,
            &DeleteRecordsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![DeleteRecordsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(vec![DeleteRecordsPartition::default()
                        .with_partition_index(partition)
                        .with_offset(offset)])]),
        )
        .expect("DeleteRecords answered");
    let answer = &r.topics[0].partitions[0];
    (answer.error_code, answer.low_watermark)
}
