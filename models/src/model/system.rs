//! The model's actor system (model-side, not Kafka's): the global state and the transitions
//! that route the core's messages and run its timers between the actors of [`super::actors`].
//!
//! It is stateright's actor model (`stateright::actor::ActorModel` of stateright 0.31) with the
//! same actions, in the same order, and the same transitions, over a leaner global state:
//! stateright's `ActorModelState` keeps per actor a hash set of timers, a hash map of random
//! choices, a crash flag and a storage slot, and the network as a hash map, so every successor
//! allocated and hashed all of them again (a third of the search, measured on
//! `transactions-zombie`). Here the network is one sorted vector of envelopes, the armed timers
//! and the pending random choices one sorted vector each, and crashes (which no scenario
//! uses) are not modelled. `models/tests/system.rs` walks both systems in lock step over
//! every scenario and compares states and actions.
//!
//! What stateright's model does and this one does too:
//! - actions: each deliverable envelope (a message may also be lost on a lossy network),
//!   then each armed timer, then each pending random choice, sorted as stateright sorts them
//!   (so a path of action indices means the same run in both);
//! - a delivery that leaves the actor's state unchanged and outputs nothing is no transition
//!   (except on the FIFO network), nor is a timer that only re-arms itself;
//! - a delivery removes the envelope (the duplicating network keeps it and remembers it as
//!   the last delivered), a fired timer is disarmed, a chosen random choice is withdrawn.
//!
//! A transition is the stepped actor's [`Step`] (its new state and its commands, which
//! depend only on the actor, its state and the event) applied to the global state, so that
//! the BFS can compute each step once and reuse it ([`next_state_with`]), and the state's
//! [`fingerprint`] is a sum of parts, so that the BFS can fingerprint a successor from its
//! parent's fingerprint and the step without building it ([`successor_fingerprint`]).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use stateright::actor::{Actor, ActorModelAction, Command, Envelope, Id, Out};

use super::actors::{ActorState, Choice, EosActor, Msg, Timer};
use super::scenario::NetworkKind;

/// How the network delivers (from the scenario's [`NetworkKind`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// Any order, each message delivered once (stateright's unordered non-duplicating
    /// network): Kafka's network, whose per-connection order the receivers enforce, and the
    /// non-Kafka `Unordered`.
    #[default]
    Multiset,
    /// Any order, any message delivered again (stateright's unordered duplicating network).
    Set,
    /// FIFO per directed pair of actors (stateright's ordered network).
    Fifo,
}

impl Delivery {
    /// The delivery of a scenario's network.
    pub fn of(kind: NetworkKind) -> Delivery {
        match kind {
            NetworkKind::Kafka | NetworkKind::Unordered => Delivery::Multiset,
            NetworkKind::Duplicating => Delivery::Set,
            NetworkKind::Ordered => Delivery::Fifo,
        }
    }
}

/// The messages in flight: one vector of envelopes, sorted by `(src, dst, msg)` (with
/// repeats: a multiset) for [`Delivery::Multiset`], without repeats for [`Delivery::Set`], and
/// by `(src, dst)` then in sending order for [`Delivery::Fifo`].
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Network {
    delivery: Delivery,
    envelopes: Vec<Envelope<Msg>>,
    /// [`Delivery::Set`]: the last envelope delivered (stateright keeps it so that a delivery
    /// that changes nothing else is still a new state). Boxed: only that network has one,
    /// and every global state carries the field.
    last_delivered: Option<Box<Envelope<Msg>>>,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.envelopes).finish()
    }
}

fn borrowed(e: &Envelope<Msg>) -> Envelope<&Msg> {
    Envelope {
        src: e.src,
        dst: e.dst,
        msg: &e.msg,
    }
}

impl Network {
    /// An empty network that delivers as `delivery`.
    pub fn new(delivery: Delivery) -> Network {
        Network {
            delivery,
            envelopes: Vec::new(),
            last_delivered: None,
        }
    }

    /// How this network delivers.
    pub fn delivery(&self) -> Delivery {
        self.delivery
    }

    /// Every message in flight (a multiset's repeats included), in the network's order.
    pub fn iter_all(&self) -> impl Iterator<Item = Envelope<&Msg>> {
        self.envelopes.iter().map(borrowed)
    }

    /// The envelopes a delivery may take: each distinct envelope, or on the FIFO network the
    /// head of each channel.
    pub fn iter_deliverable(&self) -> impl Iterator<Item = Envelope<&Msg>> {
        let fifo_heads = self.delivery == Delivery::Fifo;
        self.envelopes
            .iter()
            .enumerate()
            .filter(move |(i, e)| {
                let Some(prev) = i.checked_sub(1).and_then(|p| self.envelopes.get(p)) else {
                    return true;
                };
                if fifo_heads {
                    (prev.src, prev.dst) != (e.src, e.dst)
                } else {
                    prev != *e
                }
            })
            .map(|(_, e)| borrowed(e))
    }

    /// [`Delivery::Set`]: the last envelope delivered.
    pub fn last_delivered(&self) -> Option<Envelope<&Msg>> {
        self.last_delivered.as_deref().map(borrowed)
    }

    /// Messages in flight.
    pub fn len(&self) -> usize {
        self.envelopes.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.envelopes.is_empty()
    }

    /// Puts `env` in flight.
    pub fn send(&mut self, env: Envelope<Msg>) {
        match self.delivery {
            Delivery::Multiset => {
                let at = self.envelopes.partition_point(|e| e <= &env);
                self.envelopes.insert(at, env);
            }
            Delivery::Set => {
                if let Err(at) = self.envelopes.binary_search(&env) {
                    self.envelopes.insert(at, env);
                }
            }
            Delivery::Fifo => {
                let at = self
                    .envelopes
                    .partition_point(|e| (e.src, e.dst) <= (env.src, env.dst));
                self.envelopes.insert(at, env);
            }
        }
    }

    /// Removes one copy of `env` (a delivery on the multiset and FIFO networks, a loss on
    /// every network); whether it was there.
    fn remove_one(&mut self, env: &Envelope<Msg>) -> bool {
        match self.envelopes.iter().position(|e| e == env) {
            Some(i) => {
                self.envelopes.remove(i);
                true
            }
            None => false,
        }
    }

    fn on_deliver(&mut self, env: Envelope<Msg>) {
        match self.delivery {
            Delivery::Multiset | Delivery::Fifo => {
                self.remove_one(&env);
            }
            Delivery::Set => self.last_delivered = Some(Box::new(env)),
        }
    }

    /// Keeps only the envelopes `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&Envelope<Msg>) -> bool) {
        self.envelopes.retain(keep);
    }
}

/// The model's global state: every actor's state, the messages in flight, the armed timers
/// and the pending random choices.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EosState {
    /// The actors' states by actor index, shared between states (`Arc`): a successor
    /// replaces only the state its step changed.
    pub actor_states: Vec<Arc<ActorState>>,
    /// The messages in flight.
    pub network: Network,
    /// The armed timers, `(actor, timer)`, sorted, each once.
    pub timers: Timers,
    /// The pending random choices, `(actor, key, choices)`, sorted by actor and key.
    pub random_choices: RandomChoices,
}

impl fmt::Debug for EosState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EosState")
            .field("actor_states", &self.actor_states)
            .field("network", &self.network)
            .field("timers", &self.timers)
            .field("random_choices", &self.random_choices)
            .finish()
    }
}

impl EosState {
    /// The timers armed for `actor`, in order.
    pub fn timers_of(&self, actor: Id) -> impl Iterator<Item = &Timer> {
        self.timers
            .iter()
            .filter(move |(id, _)| *id == actor)
            .map(|(_, t)| t)
    }

    fn apply(&mut self, id: Id, out: Out<EosActor>) {
        for e in effects(out) {
            self.effect(id, e);
        }
    }

    /// Carries out `step` of actor `id`: its new state, then its commands.
    fn take(&mut self, id: Id, step: &Step) {
        if let (Some(s), Some(slot)) = (&step.state, self.actor_states.get_mut(usize::from(id))) {
            *slot = Arc::clone(s);
        }
        for e in &step.effects {
            self.effect(id, e.clone());
        }
    }

    fn effect(&mut self, id: Id, effect: Effect) {
        match effect {
            Effect::Send(dst, msg) => self.network.send(Envelope { src: id, dst, msg }),
            Effect::SetTimer(timer) => set_timer(&mut self.timers, id, timer),
            Effect::CancelTimer(timer) => cancel_timer(&mut self.timers, id, &timer),
            Effect::ChooseRandom(key, choices) => {
                choose_random(&mut self.random_choices, id, key, choices);
            }
        }
    }

    fn cancel_timer(&mut self, id: Id, timer: &Timer) {
        cancel_timer(&mut self.timers, id, timer);
    }
}

/// The armed timers, `(actor, timer)`, sorted, each once.
type Timers = Vec<(Id, Timer)>;

/// The pending random choices, `(actor, key, choices)`, sorted by actor and key.
type RandomChoices = Vec<(Id, String, Vec<Choice>)>;

fn set_timer(timers: &mut Timers, id: Id, timer: Timer) {
    let key = (id, timer);
    if let Err(at) = timers.binary_search(&key) {
        timers.insert(at, key);
    }
}

fn cancel_timer(timers: &mut Timers, id: Id, timer: &Timer) {
    if let Some(i) = timers.iter().position(|(a, t)| *a == id && t == timer) {
        timers.remove(i);
    }
}

fn choose_random(randoms: &mut RandomChoices, id: Id, key: String, choices: Vec<Choice>) {
    let at = randoms.binary_search_by(|(a, k, _)| (*a, k.as_str()).cmp(&(id, key.as_str())));
    match (at, choices.is_empty()) {
        (Ok(i), true) => {
            randoms.remove(i);
        }
        (Ok(i), false) => {
            if let Some(slot) = randoms.get_mut(i) {
                slot.2 = choices;
            }
        }
        (Err(_), true) => {}
        (Err(i), false) => randoms.insert(i, (id, key, choices)),
    }
}

fn withdraw_random(randoms: &mut RandomChoices, actor: Id, key: &str) {
    randoms.retain(|(id, k, _)| !(*id == actor && k == key));
}

/// The initial state: each actor started in index order, its outputs applied.
pub fn init_state(actors: &[EosActor], delivery: Delivery) -> EosState {
    let mut s = EosState {
        actor_states: Vec::with_capacity(actors.len()),
        network: Network::new(delivery),
        timers: Vec::new(),
        random_choices: Vec::new(),
    };
    for (index, actor) in actors.iter().enumerate() {
        let id = Id::from(index);
        let mut out = Out::new();
        let state = actor.on_start(id, &None, &mut out);
        s.actor_states.push(Arc::new(state));
        s.apply(id, out);
    }
    s
}

/// The model's action type: stateright's actor-model action (crashes are never offered).
pub type EosAction = ActorModelAction<Msg, Timer, Choice>;

/// The actions enabled in `s`, in stateright's order: losses (on a `lossy` network), then
/// deliveries, each sorted by envelope; timers by actor and timer; random choices by actor,
/// key and choice.
pub fn actions(actors: &[EosActor], lossy: bool, s: &EosState, actions: &mut Vec<EosAction>) {
    if lossy {
        for env in s.network.iter_deliverable() {
            actions.push(ActorModelAction::Drop(env.to_cloned_msg()));
        }
    }
    for env in s.network.iter_deliverable() {
        if usize::from(env.dst) < actors.len() {
            actions.push(ActorModelAction::Deliver {
                src: env.src,
                dst: env.dst,
                msg: env.msg.clone(),
            });
        }
    }
    for (id, timer) in &s.timers {
        actions.push(ActorModelAction::Timeout(*id, timer.clone()));
    }
    let first_random = actions.len();
    for (actor, key, choices) in &s.random_choices {
        for choice in choices {
            actions.push(ActorModelAction::SelectRandom {
                actor: *actor,
                key: key.clone(),
                random: choice.clone(),
            });
        }
    }
    if let Some(randoms) = actions.get_mut(first_random..) {
        randoms.sort_by(|a, b| match (a, b) {
            (
                ActorModelAction::SelectRandom {
                    actor: a1,
                    key: k1,
                    random: r1,
                },
                ActorModelAction::SelectRandom {
                    actor: a2,
                    key: k2,
                    random: r2,
                },
            ) => a1.cmp(a2).then_with(|| k1.cmp(k2)).then_with(|| r1.cmp(r2)),
            _ => std::cmp::Ordering::Equal,
        });
    }
}

/// What one actor did on one event (a delivery, a timeout or a random choice): its new
/// state, where it replaced it, and its commands. An actor's step depends only on the actor,
/// its state and the event, so a [`Step`] computed once serves every global state in which
/// the same actor state meets the same event ([`next_state_with`]).
#[derive(Clone, Debug)]
pub struct Step {
    /// The actor's new state (`None`: the actor kept its state; stateright's
    /// `Cow::Borrowed`).
    pub state: Option<Arc<ActorState>>,
    /// The commands, in order.
    pub effects: Vec<Effect>,
}

/// A command of a [`Step`] (stateright's `Command`, which is not `Clone`, without its timer
/// durations and storage: the model does not use them).
#[derive(Clone, Debug)]
pub enum Effect {
    /// Send a message.
    Send(Id, Msg),
    /// Arm a timer.
    SetTimer(Timer),
    /// Disarm a timer.
    CancelTimer(Timer),
    /// Offer a random choice (an empty list withdraws it).
    ChooseRandom(String, Vec<Choice>),
}

impl Step {
    fn of(state: Cow<'_, ActorState>, out: Out<EosActor>) -> Step {
        Step {
            state: match state {
                Cow::Borrowed(_) => None,
                Cow::Owned(s) => Some(Arc::new(s)),
            },
            effects: effects(out),
        }
    }

    /// stateright's `is_no_op`: the state kept and nothing output.
    fn is_no_op(&self) -> bool {
        self.state.is_none() && self.effects.is_empty()
    }

    /// stateright's `is_no_op_with_timer`: the state kept and only `timer` re-armed.
    fn is_no_op_with_timer(&self, timer: &Timer) -> bool {
        self.state.is_none()
            && matches!(self.effects.as_slice(), [Effect::SetTimer(t)] if t == timer)
    }
}

/// An actor's commands as [`Effect`]s.
fn effects(out: Out<EosActor>) -> Vec<Effect> {
    out.into_iter()
        .filter_map(|c| match c {
            Command::Send(dst, msg) => Some(Effect::Send(dst, msg)),
            Command::SetTimer(timer, _) => Some(Effect::SetTimer(timer)),
            Command::CancelTimer(timer) => Some(Effect::CancelTimer(timer)),
            Command::ChooseRandom(key, choices) => Some(Effect::ChooseRandom(key, choices)),
            Command::Save(()) => None,
        })
        .collect()
}

/// Whether `action`, whose actor takes `step`, is a transition on a network that delivers
/// as `delivery` (stateright's rules: see the module's documentation).
pub fn is_transition(action: &EosAction, step: &Step, delivery: Delivery) -> bool {
    match action {
        ActorModelAction::Deliver { .. } => !step.is_no_op() || delivery == Delivery::Fifo,
        ActorModelAction::Timeout(_, timer) => !step.is_no_op_with_timer(timer),
        ActorModelAction::SelectRandom { .. } => true,
        ActorModelAction::Drop(_) | ActorModelAction::Crash(_) | ActorModelAction::Recover(_) => {
            false
        }
    }
}

/// The actor an action steps (`None` for a loss, a crash or a recovery).
pub fn stepped_actor(action: &EosAction) -> Option<Id> {
    match action {
        ActorModelAction::Deliver { dst, .. } => Some(*dst),
        ActorModelAction::Timeout(id, _) => Some(*id),
        ActorModelAction::SelectRandom { actor, .. } => Some(*actor),
        ActorModelAction::Drop(_) | ActorModelAction::Crash(_) | ActorModelAction::Recover(_) => {
            None
        }
    }
}

/// The step `action` makes its actor take in `last` (`None` for an action that steps no
/// actor, or an actor that does not exist).
pub fn step(actors: &[EosActor], last: &EosState, action: &EosAction) -> Option<Step> {
    let id = stepped_actor(action)?;
    let index = usize::from(id);
    let actor = actors.get(index)?;
    let mut state = Cow::Borrowed(&**last.actor_states.get(index)?);
    let mut out = Out::new();
    match action {
        ActorModelAction::Deliver { src, msg, .. } => {
            actor.on_msg(id, &mut state, *src, msg.clone(), &mut out);
        }
        ActorModelAction::Timeout(_, timer) => actor.on_timeout(id, &mut state, timer, &mut out),
        ActorModelAction::SelectRandom { random, .. } => {
            actor.on_random(id, &mut state, random, &mut out);
        }
        ActorModelAction::Drop(_) | ActorModelAction::Crash(_) | ActorModelAction::Recover(_) => {
            return None
        }
    }
    Some(Step::of(state, out))
}

/// The state after `action` in `last`, or `None` where the action is no transition.
pub fn next_state(actors: &[EosActor], last: &EosState, action: EosAction) -> Option<EosState> {
    next_state_with(last, action, |a| step(actors, last, a))
}

/// [`next_state`] with the stepped actor's [`Step`] given by `step` (which may have computed
/// it before, for another global state with the same actor state and event).
pub fn next_state_with<S: std::borrow::Borrow<Step>>(
    last: &EosState,
    action: EosAction,
    step: impl FnOnce(&EosAction) -> Option<S>,
) -> Option<EosState> {
    if let ActorModelAction::Drop(env) = &action {
        let mut next = last.clone();
        next.network.remove_one(env);
        return Some(next);
    }
    let s = step(&action)?;
    let s = s.borrow();
    if !is_transition(&action, s, last.network.delivery()) {
        return None;
    }
    let mut next = last.clone();
    let id = match action {
        ActorModelAction::Deliver { src, dst, msg } => {
            next.network.on_deliver(Envelope { src, dst, msg });
            dst
        }
        ActorModelAction::Timeout(id, timer) => {
            next.cancel_timer(id, &timer);
            id
        }
        ActorModelAction::SelectRandom { actor, key, .. } => {
            withdraw_random(&mut next.random_choices, actor, &key);
            actor
        }
        ActorModelAction::Drop(_) | ActorModelAction::Crash(_) | ActorModelAction::Recover(_) => {
            return None
        }
    };
    next.take(id, s);
    Some(next)
}

// ------------------------------------------------------------------ the fingerprint

/// The search's fingerprint of a global state (model-side, not Kafka's): the wrapping sum of
/// one 64-bit hash per part: each actor state with its index, each message in flight (each
/// copy counts), the duplicating network's last delivery, the armed timers and the pending
/// random choices. A sum, so that a successor's fingerprint follows from its parent's and
/// what the step changed, without building the successor ([`successor_fingerprint`]). On the
/// FIFO network, where order matters, the messages in flight are one part, hashed in order.
pub fn fingerprint(s: &EosState) -> u64 {
    let actors = s
        .actor_states
        .iter()
        .enumerate()
        .fold(0u64, |sum, (i, a)| sum.wrapping_add(actor_part(i, a)));
    actors
        .wrapping_add(network_part(&s.network))
        .wrapping_add(timers_part(&s.timers))
        .wrapping_add(random_part(&s.random_choices))
}

fn part(tag: u8, h: impl std::hash::Hash) -> u64 {
    ahash::RandomState::with_seeds(21, 22, 23, 24).hash_one((tag, h))
}

fn actor_part(index: usize, a: &ActorState) -> u64 {
    part(0, (index, a))
}

fn envelope_part(src: Id, dst: Id, msg: &Msg) -> u64 {
    part(1, (src, dst, msg))
}

fn network_part(n: &Network) -> u64 {
    if n.delivery == Delivery::Fifo {
        return part(2, &n.envelopes);
    }
    let last = n.last_delivered.as_deref().map_or(0, |e| part(3, e));
    n.envelopes.iter().fold(last, |sum, e| {
        sum.wrapping_add(envelope_part(e.src, e.dst, &e.msg))
    })
}

fn timers_part(timers: &Timers) -> u64 {
    if timers.is_empty() {
        0
    } else {
        part(4, timers)
    }
}

fn random_part(randoms: &RandomChoices) -> u64 {
    if randoms.is_empty() {
        0
    } else {
        part(5, randoms)
    }
}

/// The [`fingerprint`] of the state `action` leads to from `last` (fingerprint `last_fp`),
/// where its actor takes `step` and a message is then dropped where `dead(dst, dst's state,
/// src, msg)` says it can never be delivered, without building that state. `None` for an
/// action that steps no actor, and on any network but [`Delivery::Multiset`].
///
/// `last` must hold no dead message (so only the messages to the stepped actor, whose state
/// changed, and the messages the step sends can be dead now): each state the search builds
/// has had its dead messages dropped.
pub fn successor_fingerprint(
    last: &EosState,
    last_fp: u64,
    action: &EosAction,
    step: &Step,
    dead: impl Fn(Id, &ActorState, Id, &Msg) -> bool,
) -> Option<u64> {
    if last.network.delivery != Delivery::Multiset {
        return None;
    }
    let id = stepped_actor(action)?;
    let index = usize::from(id);
    let old = last.actor_states.get(index)?;
    let new: &ActorState = step.state.as_deref().unwrap_or(old);
    let mut sum = last_fp;
    if step.state.is_some() {
        sum = sum
            .wrapping_sub(actor_part(index, old))
            .wrapping_add(actor_part(index, new));
    }
    let mut timers: Option<Timers> = None;
    let mut randoms: Option<RandomChoices> = None;
    // The delivered copy leaves the network.
    let mut delivered = match action {
        ActorModelAction::Deliver { src, dst, msg } => {
            sum = sum.wrapping_sub(envelope_part(*src, *dst, msg));
            Some((*src, msg))
        }
        ActorModelAction::Timeout(_, timer) => {
            let mut t = last.timers.clone();
            cancel_timer(&mut t, id, timer);
            timers = Some(t);
            None
        }
        ActorModelAction::SelectRandom { key, .. } => {
            let mut r = last.random_choices.clone();
            withdraw_random(&mut r, id, key);
            randoms = Some(r);
            None
        }
        ActorModelAction::Drop(_) | ActorModelAction::Crash(_) | ActorModelAction::Recover(_) => {
            return None
        }
    };
    // The messages to the stepped actor that its new state makes dead.
    if step.state.is_some() {
        for e in last.network.envelopes.iter().filter(|e| e.dst == id) {
            if delivered.is_some_and(|(src, msg)| src == e.src && *msg == e.msg) {
                delivered = None;
                continue;
            }
            if dead(id, new, e.src, &e.msg) {
                sum = sum.wrapping_sub(envelope_part(e.src, id, &e.msg));
            }
        }
    }
    for effect in &step.effects {
        match effect {
            Effect::Send(dst, msg) => {
                let to: Option<&ActorState> = if *dst == id {
                    Some(new)
                } else {
                    last.actor_states.get(usize::from(*dst)).map(|a| &**a)
                };
                if !to.is_some_and(|to| dead(*dst, to, id, msg)) {
                    sum = sum.wrapping_add(envelope_part(id, *dst, msg));
                }
            }
            Effect::SetTimer(timer) => {
                set_timer(
                    timers.get_or_insert_with(|| last.timers.clone()),
                    id,
                    timer.clone(),
                );
            }
            Effect::CancelTimer(timer) => {
                cancel_timer(timers.get_or_insert_with(|| last.timers.clone()), id, timer);
            }
            Effect::ChooseRandom(key, choices) => choose_random(
                randoms.get_or_insert_with(|| last.random_choices.clone()),
                id,
                key.clone(),
                choices.clone(),
            ),
        }
    }
    if let Some(t) = timers {
        sum = sum
            .wrapping_sub(timers_part(&last.timers))
            .wrapping_add(timers_part(&t));
    }
    if let Some(r) = randoms {
        sum = sum
            .wrapping_sub(random_part(&last.random_choices))
            .wrapping_add(random_part(&r));
    }
    Some(sum)
}
