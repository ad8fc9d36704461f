//! `kafka-eos spawn`: the model's actors on real UDP sockets (stateright's `actor::spawn`).
//!
//! The very [`EosActor`]s that the checker explores run here, each on its own thread and
//! socket on 127.0.0.1. [`NetActor`] wraps each one and adds only what a real network run
//! needs and the model does not:
//!
//! - a wire form of the messages: the model's [`Msg`] itself, as serde JSON in one datagram;
//! - timers with real durations ([`timer_duration`]): the model arms every timer with
//!   `model_timeout()` (no duration); here a request times out after 80–120 ms, etc.;
//! - the application's random choice (commit or abort) made at once from the seed, instead of
//!   stateright's 0–10 s random delay;
//! - loss with TCP's shape, at the producers: a seeded fraction ([`drops`]) of the messages a
//!   producer sends or receives is lost, and a loss breaks the producer's connections: every
//!   later message in either direction is lost too, until the producer notices (its first
//!   request timeout), when every request still in flight fails at once (Kafka's
//!   `NetworkClient` disconnect) and is retried in order. A TCP stream loses a suffix, never
//!   a message in the middle: dropping single datagrams would reorder a connection, which
//!   the idempotent producer does not tolerate (the model's `idempotent-reorder` scenario).
//!   Broker-to-broker messages (KIP-890 verification, WriteTxnMarkers) are not dropped:
//!   Kafka's inter-broker channels retry them themselves, the model's actors do not;
//! - an unbounded request-timeout budget for producers (the model bounds it to keep the
//!   state space finite; here time bounds the run);
//! - a record of each actor's latest state, so the outcome can be checked with the model's
//!   own property functions once the workload has ended.
//!
//! Nothing here takes a protocol decision: every accept, reject, offset and epoch comes from
//! the core through the model's actors.

use std::borrow::Cow;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_eos::producer::RequestId;
use stateright::actor::{Actor, Command, Id, Out};

use crate::model::actors::{pflag, ActorState, AppPhase, Choice, EosActor, Msg, Timer};
use crate::model::properties::ALWAYS;
use crate::model::scenario::Scenario;
use crate::model::system::Network;
use crate::model::EosState;
use crate::render::actor_text;

/// Whether a message travels on a client connection (the ones the loss applies to).
pub fn is_client_message(m: &Msg) -> bool {
    matches!(
        m.body(),
        Msg::TxnRequest(_) | Msg::Produce { .. } | Msg::Response { .. }
    )
}

/// The seeded loss decision for the `n`-th client message sent by actor `index`: a pure
/// function (splitmix64), so a seed names one loss pattern.
pub fn drops(seed: u64, index: usize, n: u64, loss: f64) -> bool {
    let mut z = seed
        .wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(n.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 11) as f64 / (1u64 << 53) as f64) < loss
}

/// The real duration of a model timer (each model timer means "enough time has passed").
pub fn timer_duration(t: &Timer) -> Range<Duration> {
    let ms = Duration::from_millis;
    match t {
        Timer::RequestTimeout(_) => ms(80)..ms(120),
        Timer::Start => ms(100)..ms(200),
        Timer::Failover => ms(150)..ms(400),
        Timer::MarkerTimeout(_) => ms(150)..ms(400),
        Timer::TransactionTimeout => ms(1500)..ms(2000),
        Timer::ExpireProducers => ms(1000)..ms(1500),
        Timer::AppendFailure => ms(50)..ms(400),
    }
}

/// The wrapper's timers: the model's, and the application's pending choice.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NetTimer {
    /// A model timer.
    Model(Timer),
    /// The application's (seeded) choice, applied when it fires.
    Choice(Choice),
}

/// A wrapped actor's state: the model actor's state, its loss counter and connection state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NetState {
    /// The model actor's state.
    pub inner: ActorState,
    /// Loss decisions and choices made so far (numbers the seeded decisions).
    pub sent: u64,
    /// A producer's connections are broken: every message in or out is lost until its next
    /// request timeout.
    pub broken: bool,
}

/// What every wrapped actor shares with the driver: its latest state, and counters.
#[derive(Debug, Default)]
pub struct Shared {
    /// Latest state per actor index.
    pub states: Mutex<Vec<Option<ActorState>>>,
    /// Bumped on every state change (the driver waits for quiet).
    pub changes: AtomicU64,
    /// Messages sent on the socket.
    pub sent: AtomicU64,
    /// Client messages dropped by the loss injection.
    pub dropped: AtomicU64,
    /// Producer request timeouts that fired.
    pub request_timeouts: AtomicU64,
    /// The indices of the broker actors (partition leaders, coordinator).
    pub brokers: Vec<usize>,
}

/// A model actor on a real socket.
#[derive(Clone)]
pub struct NetActor {
    /// The model actor (its peer ids rewritten to socket ids).
    pub inner: EosActor,
    /// Its index in the scenario's actor list.
    pub index: usize,
    /// Loss fraction of client messages.
    pub loss: f64,
    /// Loss and choice seed.
    pub seed: u64,
    /// The driver's view.
    pub shared: Arc<Shared>,
}

impl NetActor {
    fn is_producer(&self) -> bool {
        matches!(self.inner, EosActor::Producer(_))
    }

    /// Decides whether the next message in or out of this producer is lost (and breaks its
    /// connections if so).
    fn lose(&self, s: &mut NetState) -> bool {
        if !s.broken {
            let n = s.sent;
            s.sent = s.sent.wrapping_add(1);
            s.broken = drops(self.seed, self.index, n, self.loss);
        }
        if s.broken {
            self.shared.dropped.fetch_add(1, Ordering::SeqCst);
        }
        s.broken
    }

    fn record(&self, s: &NetState) {
        if let Ok(mut states) = self.shared.states.lock() {
            if let Some(slot) = states.get_mut(self.index) {
                if slot.as_ref() != Some(&s.inner) {
                    *slot = Some(s.inner.clone());
                    self.shared.changes.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    /// Maps the model actor's commands to the wrapper's (loss, real durations, choices).
    fn forward(&self, out: Out<EosActor>, s: &mut NetState, o: &mut Out<NetActor>) {
        for c in out {
            match c {
                Command::Send(dst, msg) => {
                    if self.is_producer() && is_client_message(&msg) && self.lose(s) {
                        continue;
                    }
                    self.shared.sent.fetch_add(1, Ordering::SeqCst);
                    o.send(dst, msg);
                }
                Command::SetTimer(t, _) => {
                    let d = timer_duration(&t);
                    o.set_timer(NetTimer::Model(t), d);
                }
                Command::CancelTimer(t) => o.cancel_timer(NetTimer::Model(t)),
                Command::ChooseRandom(_, choices) => {
                    if choices.is_empty() {
                        continue;
                    }
                    let n = s.sent;
                    s.sent = s.sent.wrapping_add(1);
                    let pick = usize::from(drops(self.seed ^ 0xC401CE, self.index, n, 0.5));
                    if let Some(c) = choices.get(pick.min(choices.len() - 1)) {
                        let ms = Duration::from_millis;
                        o.set_timer(NetTimer::Choice(c.clone()), ms(10)..ms(30));
                    }
                }
                Command::Save(()) => {}
            }
        }
    }

    fn step(
        &self,
        state: &mut Cow<NetState>,
        o: &mut Out<NetActor>,
        f: impl FnOnce(&EosActor, &mut Cow<ActorState>, &mut Out<EosActor>),
    ) {
        let mut next = (**state).clone();
        let mut inner = Cow::Borrowed(&next.inner);
        let mut out = Out::new();
        f(&self.inner, &mut inner, &mut out);
        if let Cow::Owned(s) = inner {
            next.inner = s;
        }
        self.forward(out, &mut next, o);
        self.record(&next);
        *state = Cow::Owned(next);
    }
}

impl Actor for NetActor {
    type Msg = Msg;
    type Timer = NetTimer;
    type State = NetState;
    type Storage = ();
    type Random = ();

    fn name(&self) -> String {
        self.inner.name()
    }

    fn on_start(&self, id: Id, _storage: &Option<()>, o: &mut Out<Self>) -> NetState {
        if self.is_producer() {
            // The actors bind their sockets on their own threads: a producer's first request
            // must not reach a port not yet bound (lost without a trace). Brokers record
            // their state right after binding; wait (boundedly) for all of them.
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                let up = self.shared.states.lock().is_ok_and(|states| {
                    self.shared
                        .brokers
                        .iter()
                        .all(|i| states.get(*i).is_some_and(Option::is_some))
                });
                if up {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let mut out = Out::new();
        let inner = self.inner.on_start(id, &None, &mut out);
        let mut s = NetState {
            inner,
            sent: 0,
            broken: false,
        };
        self.forward(out, &mut s, o);
        self.record(&s);
        s
    }

    fn on_msg(&self, id: Id, state: &mut Cow<NetState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        if self.is_producer() && is_client_message(&msg) {
            let mut next = (**state).clone();
            if self.lose(&mut next) {
                *state = Cow::Owned(next);
                return;
            }
            *state = Cow::Owned(next);
        }
        self.step(state, o, |a, s, out| a.on_msg(id, s, src, msg, out));
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<NetState>, timer: &NetTimer, o: &mut Out<Self>) {
        match timer {
            NetTimer::Model(Timer::RequestTimeout(rid)) => {
                let ActorState::Producer(p) = &state.inner else {
                    return;
                };
                if !p.core.outstanding().contains_key(rid) {
                    return;
                }
                // The producer notices the broken connection: every request in flight fails
                // now, in request order (Kafka's disconnect), and the connection is re-made.
                let in_flight: Vec<RequestId> = p.core.outstanding().keys().copied().collect();
                let mut next = (**state).clone();
                next.broken = false;
                *state = Cow::Owned(next);
                for r in in_flight {
                    self.shared.request_timeouts.fetch_add(1, Ordering::SeqCst);
                    if r != *rid {
                        o.cancel_timer(NetTimer::Model(Timer::RequestTimeout(r)));
                    }
                    let t = Timer::RequestTimeout(r);
                    self.step(state, o, |a, s, out| a.on_timeout(id, s, &t, out));
                }
            }
            NetTimer::Model(t) => self.step(state, o, |a, s, out| a.on_timeout(id, s, t, out)),
            NetTimer::Choice(c) => self.step(state, o, |a, s, out| a.on_random(id, s, c, out)),
        }
    }
}

/// How to run.
#[derive(Clone, Debug)]
pub struct SpawnOptions {
    /// Fraction of client messages dropped (0.0–1.0).
    pub loss: f64,
    /// Seed of the loss pattern and of the application's choices.
    pub seed: u64,
    /// Give up after this long.
    pub max_time: Duration,
    /// How long nothing may change before the run counts as settled.
    pub quiet: Duration,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        SpawnOptions {
            loss: 0.2,
            seed: 1,
            max_time: Duration::from_secs(15),
            quiet: Duration::from_millis(400),
        }
    }
}

/// The outcome of a run.
#[derive(Clone, Debug)]
pub struct SpawnReport {
    /// The scenario run.
    pub scenario: Scenario,
    /// The socket address of each actor, by index.
    pub addrs: Vec<SocketAddrV4>,
    /// Actor names, by index.
    pub names: Vec<String>,
    /// The workload ended (every producer done, nothing outstanding, no transaction
    /// mid-completion) within the time bound.
    pub finished: bool,
    /// Wall time.
    pub elapsed: Duration,
    /// Final state per actor.
    pub states: Vec<ActorState>,
    /// Every `always` property of the model on the outcome: name, holds.
    pub verdicts: Vec<(&'static str, bool)>,
    /// Messages sent on sockets.
    pub sent: u64,
    /// Client messages dropped.
    pub dropped: u64,
    /// Producer request timeouts that fired.
    pub request_timeouts: u64,
}

impl SpawnReport {
    /// Finished and every property holds.
    pub fn ok(&self) -> bool {
        self.finished && self.verdicts.iter().all(|(_, ok)| *ok)
    }

    /// Whether a partition answered a retry as a duplicate (with the original offset).
    pub fn deduplicated_a_retry(&self) -> bool {
        self.states.iter().any(|s| match s {
            ActorState::Partition(p) => p.flags & pflag::DUPLICATE != 0,
            _ => false,
        })
    }

    /// The human report: actors and addresses, the final logs and states, counters, verdicts.
    pub fn text(&self) -> String {
        let mut t = format!(
            "scenario: {} (protocol {})\n",
            self.scenario.name, self.scenario.protocol
        );
        for (name, addr) in self.names.iter().zip(&self.addrs) {
            t.push_str(&format!("  {name} on udp://{addr}\n"));
        }
        t.push_str(&format!(
            "finished: {} in {:.2}s\n",
            if self.finished {
                "yes"
            } else {
                "NO (time bound reached)"
            },
            self.elapsed.as_secs_f64()
        ));
        t.push_str(&format!(
            "messages: sent={} dropped={} request_timeouts={} retry_deduplicated={}\n",
            self.sent,
            self.dropped,
            self.request_timeouts,
            if self.deduplicated_a_retry() {
                "yes"
            } else {
                "no"
            }
        ));
        t.push_str("final state:\n");
        for (name, s) in self.names.iter().zip(&self.states) {
            for line in actor_text(name, s).lines() {
                t.push_str("  ");
                t.push_str(line);
                t.push('\n');
            }
        }
        t.push_str("properties on the outcome:\n");
        for (name, ok) in &self.verdicts {
            t.push_str(&format!(
                "  {name}: {}\n",
                if *ok { "holds" } else { "VIOLATED" }
            ));
        }
        t.push_str(&format!(
            "verdict: {}\n",
            if self.ok() {
                "ok"
            } else if !self.finished {
                "UNFINISHED"
            } else {
                "VIOLATED"
            }
        ));
        t
    }
}

/// Ephemeral UDP ports on 127.0.0.1, one per actor (bound together, then released for the
/// actors to bind).
fn free_addrs(n: usize) -> std::io::Result<Vec<SocketAddrV4>> {
    let sockets: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<_, _>>()?;
    sockets
        .iter()
        .map(|s| match s.local_addr()? {
            std::net::SocketAddr::V4(a) => Ok(a),
            other => Err(std::io::Error::other(format!("not IPv4: {other}"))),
        })
        .collect()
}

/// The scenario's actors with their peers addressed by socket, and the spawn-only changes
/// (unbounded request timeouts).
fn net_actors(scenario: &Scenario, addrs: &[SocketAddrV4]) -> Vec<EosActor> {
    let id = |old: Id| addrs.get(usize::from(old)).map_or(old, |a| Id::from(*a));
    EosActor::of(scenario)
        .into_iter()
        .map(|a| match a {
            EosActor::Producer(mut p) => {
                p.partitions = p.partitions.into_iter().map(id).collect();
                p.coordinator = id(p.coordinator);
                p.request_timeouts = u8::MAX;
                EosActor::Producer(p)
            }
            EosActor::Partition(mut p) => {
                p.coordinator = id(p.coordinator);
                EosActor::Partition(p)
            }
            EosActor::Coordinator(mut c) => {
                c.partitions = c.partitions.into_iter().map(id).collect();
                c.group = c.group.map(id);
                EosActor::Coordinator(c)
            }
            EosActor::Group(mut g) => {
                g.coordinator = id(g.coordinator);
                EosActor::Group(g)
            }
            EosActor::Processor(mut p) => {
                p.partitions = p.partitions.into_iter().map(id).collect();
                p.coordinator = id(p.coordinator);
                p.group = id(p.group);
                EosActor::Processor(p)
            }
        })
        .collect()
}

/// The workload has ended: every producer's application is done with nothing outstanding,
/// and no transaction is mid-completion at the coordinator.
pub fn settled(states: &[ActorState]) -> bool {
    states.iter().all(|s| match s {
        ActorState::Producer(p) => {
            p.phase == AppPhase::Done && p.core.outstanding().is_empty() && p.batches.is_empty()
        }
        ActorState::Coordinator(c) => c.core.transactions().values().all(|t| {
            !t.state.is_prepare() && t.pending_state().is_none() && t.pending_completion.is_none()
        }),
        ActorState::Partition(_) | ActorState::Group(_) => true,
        ActorState::Processor(p) => p.phase == crate::model::processor::ProcPhase::Done,
    })
}

/// The model state holding `states`, with an empty network and no timers: the outcome as
/// the model's property functions read it.
pub fn outcome_state(scenario: &Scenario, states: &[ActorState]) -> Option<EosState> {
    let m = crate::model::model(scenario);
    let mut s = stateright::Model::init_states(&m).into_iter().next()?;
    if s.actor_states.len() != states.len() {
        return None;
    }
    s.actor_states = states.iter().cloned().map(Arc::new).collect();
    s.network = Network::new(s.network.delivery());
    s.timers.clear();
    s.random_choices.clear();
    Some(s)
}

/// Runs `scenario` over UDP on 127.0.0.1 until its workload ends (or `max_time`), then checks
/// every `always` property of the model on the outcome. The actor threads are left running
/// (stateright's `spawn` never returns); a command should exit after reporting.
pub fn run(scenario: &Scenario, opts: &SpawnOptions) -> Result<SpawnReport, String> {
    let actors = EosActor::of(scenario);
    let n = actors.len();
    let names: Vec<String> = actors.iter().map(Actor::name).collect();
    let addrs = free_addrs(n).map_err(|e| format!("no free UDP ports on 127.0.0.1: {e}"))?;
    let shared = Arc::new(Shared {
        states: Mutex::new(vec![None; n]),
        brokers: actors
            .iter()
            .enumerate()
            .filter(|(_, a)| !matches!(a, EosActor::Producer(_)))
            .map(|(i, _)| i)
            .collect(),
        ..Shared::default()
    });
    let net: Vec<(Id, NetActor)> = net_actors(scenario, &addrs)
        .into_iter()
        .enumerate()
        .map(|(index, inner)| {
            let addr = addrs
                .get(index)
                .copied()
                .unwrap_or(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
            (
                Id::from(addr),
                NetActor {
                    inner,
                    index,
                    loss: opts.loss,
                    seed: opts.seed,
                    shared: shared.clone(),
                },
            )
        })
        .collect();
    let start = Instant::now();
    std::thread::Builder::new()
        .name("kafka-eos-spawn".into())
        .spawn(move || {
            let _ = stateright::actor::spawn(
                serde_json::to_vec,
                |bytes| serde_json::from_slice(bytes),
                serde_json::to_vec,
                |bytes| serde_json::from_slice(bytes),
                net,
            );
        })
        .map_err(|e| format!("cannot start the actors: {e}"))?;

    let snapshot = || -> Option<Vec<ActorState>> {
        let states = shared.states.lock().ok()?;
        states.iter().cloned().collect()
    };
    let mut last_change = (shared.changes.load(Ordering::SeqCst), Instant::now());
    let mut finished = false;
    let mut states = Vec::new();
    while start.elapsed() < opts.max_time {
        std::thread::sleep(Duration::from_millis(20));
        let changes = shared.changes.load(Ordering::SeqCst);
        if changes != last_change.0 {
            last_change = (changes, Instant::now());
            continue;
        }
        if let Some(s) = snapshot() {
            if settled(&s) && last_change.1.elapsed() >= opts.quiet {
                states = s;
                finished = true;
                break;
            }
        }
    }
    let elapsed = start.elapsed();
    if !finished {
        states = snapshot().ok_or("an actor never started (is a port taken?)")?;
    }
    let outcome = outcome_state(scenario, &states).ok_or("actor count mismatch")?;
    let m = crate::model::model(scenario);
    let verdicts = ALWAYS
        .iter()
        .map(|p| (p.name, (p.condition)(&m, &outcome)))
        .collect();
    Ok(SpawnReport {
        scenario: scenario.clone(),
        addrs,
        names,
        finished,
        elapsed,
        states,
        verdicts,
        sent: shared.sent.load(Ordering::SeqCst),
        dropped: shared.dropped.load(Ordering::SeqCst),
        request_timeouts: shared.request_timeouts.load(Ordering::SeqCst),
    })
}
