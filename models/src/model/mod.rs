//! The stateright model of Kafka's exactly-once protocol: the three core roles as actors
//! ([`actors`]), bounded scenarios and the known-bug catalogue ([`scenario`]), the properties
//! ([`properties`]), and the checker driver with its summaries ([`check`]).

pub mod actors;
pub mod check;
pub mod properties;
pub mod scenario;

use stateright::actor::{ActorModel, LossyNetwork, Network};

use actors::EosActor;
use properties::{producers, properties_of, EosModel, EosState, ModelCfg};
use scenario::{NetworkKind, Scenario};

/// Builds the actor model of a scenario.
pub fn model(scenario: &Scenario) -> EosModel {
    let network = match scenario.network {
        NetworkKind::Ordered => Network::new_ordered([]),
        NetworkKind::Unordered => Network::new_unordered_nonduplicating([]),
        NetworkKind::Duplicating => Network::new_unordered_duplicating([]),
    };
    let mut m = ActorModel::new(ModelCfg::new(scenario.clone()), ())
        .actors(EosActor::of(scenario))
        .init_network(network)
        .lossy_network(if scenario.lossy {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        });
    m.properties = properties_of(scenario);
    m.within_boundary = within_bounds;
    m
}

/// The explored space: no producer has sent more than `max_requests` requests.
fn within_bounds(cfg: &ModelCfg, s: &EosState) -> bool {
    producers(s)
        .iter()
        .all(|p| p.sent <= cfg.scenario.max_requests)
}
