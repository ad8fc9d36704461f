//! The stateright model of Kafka's exactly-once protocol.
//!
//! This file builds the model: a [`Scenario`] becomes a [`ModelCfg`] and then an [`EosModel`]
//! (stateright's `ActorModel` of the three core roles), with the typed projections of its
//! global state [`EosState`] onto the actors. The rest, by concern:
//!
//! - [`actors`]: the three core roles as stateright actors;
//! - [`scenario`]: the [`Scenario`] configuration, the protocol versions and the mapping onto
//!   the core's configurations;
//! - [`scenarios`]: the named scenarios;
//! - [`bugs`]: the known-bug catalogue and the verdicts each bug must produce;
//! - [`properties`]: the property and probe names and their conditions;
//! - [`check`]: the checker driver and its summaries.

pub mod actors;
pub mod bugs;
pub mod check;
pub mod processor;
pub mod properties;
pub mod scenario;
pub mod scenarios;
pub mod system;

use stateright::{Model, Property};

use actors::{
    ActorState, CoordinatorActorState, EosActor, PartitionActorState, ProducerActorState, Rec,
};
use properties::properties_of;
use scenario::Scenario;

/// Where a scripted record comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecInfo {
    /// Producer instance index.
    pub producer: usize,
    /// Transaction index in that producer's script (the ghost transaction tag).
    pub txn: u8,
    /// Partition index.
    pub partition: u8,
}

/// The model's configuration: the scenario plus the record table properties read.
#[derive(Clone, Debug)]
pub struct ModelCfg {
    /// The scenario.
    pub scenario: Scenario,
    /// Record id → origin.
    pub records: Vec<RecInfo>,
    /// Per producer: its request budget ([`Scenario::request_budget`]).
    pub budgets: Vec<u8>,
    /// Per processor: its request budget ([`Scenario::processor_budget`]).
    pub processor_budgets: Vec<u8>,
}

impl ModelCfg {
    /// The configuration of a scenario (record ids numbered in script order).
    pub fn new(scenario: Scenario) -> ModelCfg {
        let mut records = Vec::new();
        for (producer, p) in scenario.producers.iter().enumerate() {
            if scenario.restart_resends && p.delayed_start {
                // Its records are the first instance's (`Scenario::restart_resends`).
                continue;
            }
            for (txn, t) in p.txns.iter().enumerate() {
                for partition in &t.records {
                    records.push(RecInfo {
                        producer,
                        txn: u8::try_from(txn).unwrap_or(u8::MAX),
                        partition: *partition,
                    });
                }
            }
        }
        let budgets = scenario.request_budgets();
        let processor_budgets = (0..scenario.processors.len())
            .map(|i| scenario.processor_budget(i))
            .collect();
        ModelCfg {
            scenario,
            records,
            budgets,
            processor_budgets,
        }
    }

    /// Where record `rec` comes from.
    pub fn rec(&self, rec: Rec) -> Option<RecInfo> {
        self.records.get(usize::from(rec)).copied()
    }
}

pub use system::{EosAction, EosState};

/// The model: the scenario's actors in the actor system of [`system`] (stateright's actor
/// model over a leaner state), with the properties over this type and one change to the
/// transitions: every successor drops the messages no delivery can ever read
/// ([`drop_dead_messages`]). Dropping them inside the transition that kills them adds no step
/// (consuming each as a step of its own would add one interleaving per dead answer,
/// docs/model.md "Stragglers").
#[derive(Clone)]
pub struct EosModel {
    /// The scenario and the record table.
    pub cfg: ModelCfg,
    /// The actors, by actor index: producers, partition leaders, the coordinator, then the
    /// processor scenarios' actors ([`EosActor::of`]).
    pub actors: Vec<EosActor>,
    /// How the network delivers.
    pub delivery: system::Delivery,
    /// Whether the network may also lose any message.
    pub lossy: bool,
    /// The properties checked (the scenario's [`properties_of`], or more).
    pub properties: Vec<Property<EosModel>>,
}

impl Model for EosModel {
    type State = EosState;
    type Action = EosAction;

    fn init_states(&self) -> Vec<EosState> {
        let mut init = system::init_state(&self.actors, self.delivery);
        drop_dead_messages(self, &mut init);
        vec![init]
    }

    fn actions(&self, state: &EosState, actions: &mut Vec<EosAction>) {
        system::actions(&self.actors, self.lossy, state, actions);
    }

    fn next_state(&self, last: &EosState, action: EosAction) -> Option<EosState> {
        let mut next = system::next_state(&self.actors, last, action)?;
        drop_dead_messages(self, &mut next);
        Some(next)
    }

    fn format_action(&self, action: &EosAction) -> String {
        match action {
            stateright::actor::ActorModelAction::Deliver { src, dst, msg } => {
                format!("{src:?} → {msg:?} → {dst:?}")
            }
            stateright::actor::ActorModelAction::SelectRandom { actor, random, .. } => {
                format!("{actor:?} select random {random:?}")
            }
            _ => format!("{action:?}"),
        }
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.properties.clone()
    }

    fn within_boundary(&self, state: &EosState) -> bool {
        within_bounds(&self.cfg, state)
    }
}

/// Removes from the network every message that no delivery can ever read: an answer on a
/// connection its client has closed (a request timeout, a marker timeout), which Kafka's
/// client never reads ([`actors::Arrival::Stale`]). Its delivery would be a no-op, so
/// removing it changes no behaviour; it only merges states that differ in which dead answers
/// are still in flight.
pub fn drop_dead_messages(m: &EosModel, s: &mut EosState) {
    if s.network.delivery() != system::Delivery::Multiset {
        return;
    }
    let actors = &m.actors;
    let states = &s.actor_states;
    s.network.retain(|env| {
        let dst = usize::from(env.dst);
        match (actors.get(dst), states.get(dst)) {
            (Some(a), Some(st)) => !a.is_dead(st, env.src, &env.msg),
            _ => true,
        }
    });
}

/// A few actor states, by index, held inline: the properties ask for them in every state,
/// and a heap allocation per question was a measurable part of the search.
pub type Few<'a, T> = smallvec::SmallVec<[&'a T; 4]>;

/// The producer actors' states, by index.
pub fn producers(s: &EosState) -> Few<'_, ProducerActorState> {
    s.actor_states
        .iter()
        .filter_map(|a| match &**a {
            ActorState::Producer(p) => Some(&**p),
            _ => None,
        })
        .collect()
}

/// The partition actors' states, by partition index.
pub fn partitions(s: &EosState) -> Few<'_, PartitionActorState> {
    s.actor_states
        .iter()
        .filter_map(|a| match &**a {
            ActorState::Partition(p) => Some(&**p),
            _ => None,
        })
        .collect()
}

/// The coordinator actor's state.
pub fn coordinator(s: &EosState) -> Option<&CoordinatorActorState> {
    s.actor_states.iter().find_map(|a| match &**a {
        ActorState::Coordinator(c) => Some(&**c),
        _ => None,
    })
}

/// Builds the actor model of a scenario.
pub fn model(scenario: &Scenario) -> EosModel {
    EosModel {
        cfg: ModelCfg::new(scenario.clone()),
        actors: EosActor::of(scenario),
        // Kafka's connections are the actors' (`actors::Conn`): per-connection order is
        // enforced by the receivers, so the messages of a closed connection and of its
        // successor interleave freely on a multiset.
        delivery: system::Delivery::of(scenario.network),
        lossy: scenario.lossy,
        properties: properties_of(scenario),
    }
}

/// The explored space: no producer or processor has sent more requests than its budget
/// ([`Scenario::request_budget`], [`Scenario::processor_budget`]).
pub fn within_bounds(cfg: &ModelCfg, s: &EosState) -> bool {
    s.actor_states
        .iter()
        .filter_map(|a| match &**a {
            ActorState::Producer(p) => Some(p.sent),
            _ => None,
        })
        .zip(&cfg.budgets)
        .all(|(sent, budget)| sent <= *budget)
        && processor::processors(s)
            .iter()
            .zip(&cfg.processor_budgets)
            .all(|(p, budget)| p.sent <= *budget)
}

/// Whether actor `index` in state `state` is within its request budget ([`within_bounds`] for
/// one actor): a state whose other actors are within theirs is within bounds iff this holds.
pub fn actor_within_bounds(m: &EosModel, index: usize, state: &ActorState) -> bool {
    let ordinal = |kind: fn(&EosActor) -> bool| {
        m.actors
            .get(..index)
            .map_or(0, |before| before.iter().filter(|a| kind(a)).count())
    };
    match state {
        ActorState::Producer(p) => m
            .cfg
            .budgets
            .get(ordinal(|a| matches!(a, EosActor::Producer(_))))
            .is_none_or(|budget| p.sent <= *budget),
        ActorState::Processor(p) => m
            .cfg
            .processor_budgets
            .get(ordinal(|a| matches!(a, EosActor::Processor(_))))
            .is_none_or(|budget| p.sent <= *budget),
        ActorState::Partition(_) | ActorState::Coordinator(_) | ActorState::Group(_) => true,
    }
}
