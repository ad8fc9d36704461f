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

use std::ops::{Deref, DerefMut};

use stateright::actor::{ActorModel, ActorModelAction, ActorModelState, LossyNetwork, Network};
use stateright::{Model, Property};

use actors::{
    ActorState, CoordinatorActorState, EosActor, PartitionActorState, ProducerActorState, Rec,
};
use properties::properties_of;
use scenario::{NetworkKind, Scenario};

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

/// stateright's actor model of the scenario, which [`EosModel`] wraps.
pub type EosActorModel = ActorModel<EosActor, ModelCfg, ()>;
/// The model's global state.
pub type EosState = ActorModelState<EosActor, ()>;
/// The model's action type.
pub type EosAction = ActorModelAction<actors::Msg, actors::Timer, actors::Choice>;

/// The model: stateright's [`ActorModel`] of the scenario (reachable through `Deref`), with
/// the properties over this type and one change to its transitions: every successor drops
/// the messages no delivery can ever read ([`drop_dead_messages`]). Dropping them inside the
/// transition that kills them adds no step (consuming each as a step of its own would add
/// one interleaving per dead answer, docs/model.md "Stragglers").
#[derive(Clone)]
pub struct EosModel {
    /// stateright's actor model.
    pub inner: EosActorModel,
    /// The properties checked (the scenario's [`properties_of`], or more).
    pub properties: Vec<Property<EosModel>>,
}

impl Deref for EosModel {
    type Target = EosActorModel;
    fn deref(&self) -> &EosActorModel {
        &self.inner
    }
}

impl DerefMut for EosModel {
    fn deref_mut(&mut self) -> &mut EosActorModel {
        &mut self.inner
    }
}

impl Model for EosModel {
    type State = EosState;
    type Action = EosAction;

    fn init_states(&self) -> Vec<EosState> {
        self.inner.init_states()
    }

    fn actions(&self, state: &EosState, actions: &mut Vec<EosAction>) {
        self.inner.actions(state, actions);
    }

    fn next_state(&self, last: &EosState, action: EosAction) -> Option<EosState> {
        let mut next = self.inner.next_state(last, action)?;
        drop_dead_messages(&self.inner, &mut next);
        Some(next)
    }

    fn format_action(&self, action: &EosAction) -> String {
        self.inner.format_action(action)
    }

    fn format_step(&self, last: &EosState, action: EosAction) -> Option<String> {
        self.inner.format_step(last, action)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.properties.clone()
    }

    fn within_boundary(&self, state: &EosState) -> bool {
        within_bounds(&self.inner.cfg, state)
    }
}

/// Removes from the network every message that no delivery can ever read: an answer on a
/// connection its client has closed (a request timeout, a marker timeout), which Kafka's
/// client never reads ([`actors::Arrival::Stale`]). Its delivery would be a no-op, so
/// removing it changes no behaviour; it only merges states that differ in which dead answers
/// are still in flight.
pub fn drop_dead_messages(m: &EosActorModel, s: &mut EosState) {
    let Network::UnorderedNonDuplicating(multiset) = &mut s.network else {
        return;
    };
    let actors = &m.actors;
    let states = &s.actor_states;
    multiset.retain(|env, _| {
        let dst = usize::from(env.dst);
        match (actors.get(dst), states.get(dst)) {
            (Some(a), Some(st)) => !a.is_dead(st, env.src, &env.msg),
            _ => true,
        }
    });
}

/// The producer actors' states, by index.
pub fn producers(s: &EosState) -> Vec<&ProducerActorState> {
    s.actor_states
        .iter()
        .filter_map(|a| match &**a {
            ActorState::Producer(p) => Some(&**p),
            _ => None,
        })
        .collect()
}

/// The partition actors' states, by partition index.
pub fn partitions(s: &EosState) -> Vec<&PartitionActorState> {
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
    let network = match scenario.network {
        // Connections are the actors' (`actors::Conn`): per-connection order is enforced by
        // the receivers, so the messages of a closed connection and of its successor
        // interleave freely.
        NetworkKind::Kafka => Network::new_unordered_nonduplicating([]),
        NetworkKind::Ordered => Network::new_ordered([]),
        NetworkKind::Unordered => Network::new_unordered_nonduplicating([]),
        NetworkKind::Duplicating => Network::new_unordered_duplicating([]),
    };
    let mut inner = ActorModel::new(ModelCfg::new(scenario.clone()), ())
        .actors(EosActor::of(scenario))
        .init_network(network)
        .lossy_network(if scenario.lossy {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        });
    inner.within_boundary = within_bounds;
    EosModel {
        inner,
        properties: properties_of(scenario),
    }
}

/// The explored space: no producer or processor has sent more requests than its budget
/// ([`Scenario::request_budget`], [`Scenario::processor_budget`]).
pub fn within_bounds(cfg: &ModelCfg, s: &EosState) -> bool {
    producers(s)
        .iter()
        .zip(&cfg.budgets)
        .all(|(p, budget)| p.sent <= *budget)
        && processor::processors(s)
            .iter()
            .zip(&cfg.processor_budgets)
            .all(|(p, budget)| p.sent <= *budget)
}
