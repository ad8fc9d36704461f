//! The network side: a `std::net` listener with one thread per connection, each connection's
//! requests handled strictly in order (Kafka's one-in-flight-per-connection processing), one
//! `Mutex<Broker>` so that every core step is atomic, a `Condvar` for Fetch long-poll, and a
//! ticker thread feeding the real clock to the core.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, FetchRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{decode_request_header_from_buffer, Encodable};

use crate::broker::{api_versions_response, decode, encode, Broker, BrokerConfig, Reply};
use crate::versions;

/// Largest request frame accepted (`socket.request.max.bytes`, Kafka's default 100 MiB; lower
/// here). A larger length prefix closes the connection, as Kafka's `NetworkReceive` does.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;
/// Longest Fetch long-poll wait, whatever `max_wait_ms` asks.
const MAX_FETCH_WAIT: Duration = Duration::from_millis(500);
/// The ticker's period.
const TICK: Duration = Duration::from_millis(100);

/// Milliseconds since the Unix epoch: the `now` of every core input.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The shared state of a running server.
pub struct Shared {
    broker: Mutex<Broker>,
    data_arrived: Condvar,
    stop: AtomicBool,
    max_frame_bytes: usize,
    connections: crate::metrics::Connections,
    /// Milliseconds by which an answer is held when its request appended to an internal topic
    /// ([`Shared::set_replication_delay`]).
    replication_delay_ms: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Broker> {
        // The core never panics; should anything else, keep serving the others.
        self.broker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The broker itself, locked (tests: its trace, its coordinator's configuration).
    pub fn broker(&self) -> MutexGuard<'_, Broker> {
        self.lock()
    }

    /// The broker's counters as JSON.
    pub fn stats_json(&self) -> String {
        self.lock().stats().to_json()
    }

    /// Simulated replication: from now on, the answer to a request whose handling appended to
    /// `__transaction_state` or `__consumer_offsets` is sent `delay` later. Kafka writes those
    /// logs with `acks=all` and answers once every in-sync replica has the record (a
    /// follower's fetch round trip: `TransactionStateManager.appendTransactionToLog`,
    /// `GroupMetadataManager.storeOffsets`); one node acknowledges at once. Only the
    /// connection waits: the lock is released and the core's step is already taken.
    pub fn set_replication_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.replication_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// The internal-topic appends made so far (transaction-log records and offsets batches).
    fn internal_appends(broker: &Broker) -> u64 {
        let stats = broker.stats();
        stats
            .txn_log_records
            .wrapping_add(stats.offsets_log_batches)
    }
}

/// A running broker.
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    /// Shared state (for counters).
    pub shared: Arc<Shared>,
}

impl Server {
    /// Binds `listen`, and starts the accept loop and the ticker. `advertised_port = 0` in
    /// `config` means "the bound port". `stats_file`, when given, is rewritten with the counters
    /// on every tick.
    pub fn start(
        listen: &str,
        mut config: BrokerConfig,
        max_frame_bytes: usize,
        stats_file: Option<String>,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        if config.advertised_port == 0 {
            config.advertised_port = i32::from(addr.port());
        }
        let shared = Arc::new(Shared {
            broker: Mutex::new(
                Broker::new(config)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
            ),
            data_arrived: Condvar::new(),
            stop: AtomicBool::new(false),
            max_frame_bytes,
            connections: crate::metrics::Connections::default(),
            replication_delay_ms: AtomicU64::new(0),
        });
        let accept_shared = Arc::clone(&shared);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let conn_shared = Arc::clone(&accept_shared);
                let peer = stream
                    .peer_addr()
                    .map_or_else(|_| "?".to_string(), |a| a.to_string());
                thread::spawn(move || {
                    let _open = conn_shared.connections.opened();
                    tracing::debug!(%peer, "connection opened");
                    match serve_connection(stream, &conn_shared) {
                        Err(ConnError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                            tracing::debug!(%peer, "connection closed by the client");
                        }
                        Err(e) => tracing::info!(%peer, reason = %e, "connection closed"),
                        Ok(()) => {}
                    }
                });
            }
        });
        let tick_shared = Arc::clone(&shared);
        thread::spawn(move || {
            let mut last_stats = String::new();
            while !tick_shared.stop.load(Ordering::Relaxed) {
                thread::sleep(TICK);
                let stats = {
                    let mut broker = tick_shared.lock();
                    broker.tick(now_ms());
                    broker.stats().to_json()
                };
                tick_shared.data_arrived.notify_all();
                if let Some(path) = &stats_file {
                    if stats != last_stats {
                        let tmp = format!("{path}.tmp");
                        if std::fs::write(&tmp, &stats).is_ok() {
                            let _ = std::fs::rename(&tmp, path);
                        }
                        last_stats = stats;
                    }
                }
            }
        });
        Ok(Server { addr, shared })
    }

    /// Serves `/metrics` (Prometheus text format, [`crate::metrics`]) on `addr` from its own
    /// thread; returns the bound address.
    pub fn serve_metrics(&self, addr: &str) -> std::io::Result<SocketAddr> {
        let shared = Arc::clone(&self.shared);
        crate::metrics::serve(addr, move || {
            let broker = shared.lock();
            crate::metrics::snapshot(&broker, now_ms(), &shared.connections)
        })
    }

    /// Stops accepting and ticking (open connections end when their peers close) and closes the
    /// storage cleanly ([`Broker::close_storage`]).
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.lock().close_storage();
        let _ = TcpStream::connect(self.addr);
    }
}

#[derive(Debug)]
enum ConnError {
    Io(std::io::Error),
    Protocol(String),
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Io(e) => write!(f, "i/o: {e}"),
            ConnError::Protocol(s) => write!(f, "{s}"),
        }
    }
}

impl From<std::io::Error> for ConnError {
    fn from(e: std::io::Error) -> Self {
        ConnError::Io(e)
    }
}

fn read_frame(stream: &mut TcpStream, max: usize) -> Result<Bytes, ConnError> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = i32::from_be_bytes(len);
    let len = usize::try_from(len)
        .map_err(|_| ConnError::Protocol(format!("negative frame length {len}")))?;
    if len > max {
        return Err(ConnError::Protocol(format!(
            "frame of {len} bytes exceeds {max}"
        )));
    }
    let mut buf = vec![0u8; len];
    stream.read_exact(&mut buf)?;
    Ok(Bytes::from(buf))
}

fn frame(
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    body: &[u8],
) -> Result<BytesMut, ConnError> {
    let mut out = BytesMut::with_capacity(body.len() + 16);
    out.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, api.response_header_version(version))
        .map_err(|e| ConnError::Protocol(format!("encoding response header: {e}")))?;
    out.extend_from_slice(body);
    let len = i32::try_from(out.len() - 4)
        .map_err(|_| ConnError::Protocol("response too large".into()))?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

/// Decodes the request header; a frame too short for the fixed prefix, an API key Kafka does not
/// know, or an undecodable header is a protocol error (the connection is closed).
fn parse_header(frame: &mut Bytes) -> Result<(ApiKey, RequestHeader), ConnError> {
    if frame.len() < 8 {
        return Err(ConnError::Protocol(
            "frame shorter than a request header".into(),
        ));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let api =
        ApiKey::try_from(key).map_err(|_| ConnError::Protocol(format!("unknown API key {key}")))?;
    let header = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_request_header_from_buffer(frame)
    }))
    .map_err(|_| ConnError::Protocol("request header decoder panicked".into()))?
    .map_err(|e| ConnError::Protocol(format!("bad request header: {e}")))?;
    Ok((api, header))
}

fn serve_connection(mut stream: TcpStream, shared: &Shared) -> Result<(), ConnError> {
    let _ = stream.set_nodelay(true);
    loop {
        let mut request = read_frame(&mut stream, shared.max_frame_bytes)?;
        let (api, header) = parse_header(&mut request)?;
        let version = header.request_api_version;
        let correlation_id = header.correlation_id;
        if api == ApiKey::ApiVersions && !versions::is_served(api, version) {
            // KIP-511: an ApiVersions above our range is answered at v0 with UNSUPPORTED_VERSION
            // and the full table, so the client can pick a version.
            shared.lock().count_request(api);
            let body = encode(&api_versions_response(35), 0)
                .map_err(|e| ConnError::Protocol(e.to_string()))?;
            stream.write_all(&frame(correlation_id, api, 0, &body)?)?;
            continue;
        }
        if !versions::is_served(api, version) {
            return Err(ConnError::Protocol(format!(
                "{api:?} v{version} is not served"
            )));
        }
        let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if api == ApiKey::Fetch {
                fetch(shared, &mut request, version)
            } else {
                let client_id = header.client_id.as_ref().map_or("", |c| c.as_str());
                let (reply, appended) = {
                    let mut broker = shared.lock();
                    let before = Shared::internal_appends(&broker);
                    let reply = broker.handle_from(api, version, client_id, &mut request, now_ms());
                    (reply, Shared::internal_appends(&broker) != before)
                };
                if matches!(
                    api,
                    ApiKey::Produce
                        | ApiKey::EndTxn
                        | ApiKey::JoinGroup
                        | ApiKey::SyncGroup
                        | ApiKey::LeaveGroup
                ) {
                    shared.data_arrived.notify_all();
                }
                let delay = shared.replication_delay_ms.load(Ordering::Relaxed);
                if appended && delay > 0 {
                    thread::sleep(Duration::from_millis(delay));
                }
                match reply {
                    Reply::Wait(token) => wait_for_answer(shared, token),
                    other => other,
                }
            }
        }))
        .unwrap_or_else(|_| Reply::Close(format!("{api:?} v{version}: handler panicked")));
        match reply {
            Reply::Body(body) => stream.write_all(&frame(correlation_id, api, version, &body)?)?,
            Reply::Nothing => {}
            Reply::Wait(_) => unreachable_wait()?,
            Reply::Close(reason) => return Err(ConnError::Protocol(reason)),
        }
    }
}

/// A [`Reply::Wait`] never reaches the connection loop ([`wait_for_answer`] resolves it).
fn unreachable_wait() -> Result<(), ConnError> {
    Err(ConnError::Protocol(
        "a deferred answer was not resolved".into(),
    ))
}

/// A JoinGroup or SyncGroup whose answer waits for other members: wait (lock released, woken
/// by group requests and by the ticker, which runs the membership timers) until the core
/// answers it.
fn wait_for_answer(shared: &Shared, token: u64) -> Reply {
    let mut broker = shared.lock();
    loop {
        if let Some(reply) = broker.take_ready(token) {
            return reply;
        }
        if shared.stop.load(Ordering::Relaxed) {
            return Reply::Close("broker stopping".into());
        }
        broker = match shared.data_arrived.wait_timeout(broker, TICK) {
            Ok((g, _)) => g,
            Err(e) => e.into_inner().0,
        };
    }
}

/// Fetch with long-poll: answer at once when `min_bytes` are there, else wait (lock released)
/// until data arrives or `max_wait_ms` (capped) passes.
fn fetch(shared: &Shared, body: &mut Bytes, version: i16) -> Reply {
    let request: FetchRequest = match decode(body, version) {
        Ok(r) => r,
        Err(e) => return Reply::Close(format!("Fetch v{version}: {e}")),
    };
    let wait =
        Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0)).min(MAX_FETCH_WAIT);
    let deadline = Instant::now() + wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0).max(1);
    let mut broker = shared.lock();
    broker.count_request(ApiKey::Fetch);
    loop {
        let (response, bytes) = broker.fetch(&request);
        let now = Instant::now();
        if bytes >= min_bytes || now >= deadline {
            drop(broker);
            return match encode(&response, version) {
                Ok(b) => Reply::Body(b),
                Err(e) => Reply::Close(format!("Fetch v{version}: {e}")),
            };
        }
        broker = match shared.data_arrived.wait_timeout(broker, deadline - now) {
            Ok((g, _)) => g,
            Err(e) => e.into_inner().0,
        };
    }
}
