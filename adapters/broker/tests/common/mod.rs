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

/// Starts a broker on 127.0.0.1:0 with topic `t` (2 partitions).
pub fn start(max_frame: usize, disable_dedup: bool) -> Server {
    start_with(max_frame, |c| c.unsafe_disable_dedup = disable_dedup)
}

/// [`start`] with the configuration changed by `change` first.
pub fn start_with(max_frame: usize, change: impl FnOnce(&mut BrokerConfig)) -> Server {
    let mut config = BrokerConfig {
        node_id: 0,
        advertised_host: "127.0.0.1".into(),
        advertised_port: 0,
        topics: vec![("t".into(), 2)],
        auto_create_topics: true,
        default_partitions: 1,
        unsafe_disable_dedup: false,
        unsafe_read_committed_shows_aborted: false,
        first_producer_id: DEFAULT_FIRST_PRODUCER_ID,
        membership: Default::default(),
        storage: Default::default(),
    };
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
