//! Model counterexamples as histories.

use super::Event;
use crate::model::scenario::Scenario;

/// Per violated property of `scenario`, its counterexample as a history.
pub fn counterexamples(_scenario: &Scenario) -> Vec<(&'static str, Vec<Event>)> {
    Vec::new()
}
