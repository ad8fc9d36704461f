//! `kafka-eos bench`: the model checker's speed next to a reference model, in one run.
//!
//! The reference is two-phase commit as in stateright's own example (`examples/2pc.rs` of
//! stateright 0.31, after Gray and Lamport's "Consensus on Transaction Commit"): the same
//! state, actions and properties, on stateright's `Model` API. Both models run through this
//! crate's breadth-first search ([`bfs_with`], one thread, every property evaluated), each in
//! a child process of its own so that each one's memory is measured alone: bytes per state
//! are the growth of the process's peak resident set during the search (`VmHWM` after minus
//! `VmRSS` before, from `/proc/self/status`) divided by the unique states.

use std::collections::BTreeSet;
use std::ops::Range;
use std::time::Instant;

use serde_json::{json, Value};
use stateright::{Model, Property};

use crate::model::check::{bfs_cached, bfs_with, CheckOptions, Plain, StepCache};
use crate::model::model;
use crate::model::scenario::Scenario;

type R = usize;

/// Two-phase commit with resource managers `rms` (stateright's example, unchanged).
#[derive(Clone)]
pub struct TwoPhaseSys {
    /// The resource managers.
    pub rms: Range<R>,
}

/// The 2PC state.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct TwoPhaseState {
    rm_state: Vec<RmState>,
    tm_state: TmState,
    tm_prepared: Vec<bool>,
    msgs: BTreeSet<Message>,
}

#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
enum Message {
    Prepared { rm: R },
    Commit,
    Abort,
}

#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
enum RmState {
    Working,
    Prepared,
    Committed,
    Aborted,
}

#[derive(Clone, Debug, Eq, Hash, PartialEq)]
enum TmState {
    Init,
    Committed,
    Aborted,
}

/// The 2PC actions.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The TM receives a Prepared.
    TmRcvPrepared(R),
    /// The TM commits.
    TmCommit,
    /// The TM aborts.
    TmAbort,
    /// An RM prepares.
    RmPrepare(R),
    /// An RM aborts on its own.
    RmChooseToAbort(R),
    /// An RM receives Commit.
    RmRcvCommitMsg(R),
    /// An RM receives Abort.
    RmRcvAbortMsg(R),
}

impl Model for TwoPhaseSys {
    type State = TwoPhaseState;
    type Action = Action;

    fn init_states(&self) -> Vec<Self::State> {
        vec![TwoPhaseState {
            rm_state: self.rms.clone().map(|_| RmState::Working).collect(),
            tm_state: TmState::Init,
            tm_prepared: self.rms.clone().map(|_| false).collect(),
            msgs: BTreeSet::default(),
        }]
    }

    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>) {
        if state.tm_state == TmState::Init && state.tm_prepared.iter().all(|p| *p) {
            actions.push(Action::TmCommit);
        }
        if state.tm_state == TmState::Init {
            actions.push(Action::TmAbort);
        }
        for rm in self.rms.clone() {
            if state.tm_state == TmState::Init && state.msgs.contains(&Message::Prepared { rm }) {
                actions.push(Action::TmRcvPrepared(rm));
            }
            if state.rm_state.get(rm) == Some(&RmState::Working) {
                actions.push(Action::RmPrepare(rm));
            }
            if state.rm_state.get(rm) == Some(&RmState::Working) {
                actions.push(Action::RmChooseToAbort(rm));
            }
            if state.msgs.contains(&Message::Commit) {
                actions.push(Action::RmRcvCommitMsg(rm));
            }
            if state.msgs.contains(&Message::Abort) {
                actions.push(Action::RmRcvAbortMsg(rm));
            }
        }
    }

    fn next_state(&self, last_state: &Self::State, action: Self::Action) -> Option<Self::State> {
        let mut state = last_state.clone();
        let set = |v: &mut Vec<RmState>, rm: R, s: RmState| {
            if let Some(x) = v.get_mut(rm) {
                *x = s;
            }
        };
        match action {
            Action::TmRcvPrepared(rm) => {
                if let Some(p) = state.tm_prepared.get_mut(rm) {
                    *p = true;
                }
            }
            Action::TmCommit => {
                state.tm_state = TmState::Committed;
                state.msgs.insert(Message::Commit);
            }
            Action::TmAbort => {
                state.tm_state = TmState::Aborted;
                state.msgs.insert(Message::Abort);
            }
            Action::RmPrepare(rm) => {
                set(&mut state.rm_state, rm, RmState::Prepared);
                state.msgs.insert(Message::Prepared { rm });
            }
            Action::RmChooseToAbort(rm) | Action::RmRcvAbortMsg(rm) => {
                set(&mut state.rm_state, rm, RmState::Aborted);
            }
            Action::RmRcvCommitMsg(rm) => set(&mut state.rm_state, rm, RmState::Committed),
        }
        Some(state)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::<Self>::sometimes("abort agreement", |_, state| {
                state.rm_state.iter().all(|s| s == &RmState::Aborted)
            }),
            Property::<Self>::sometimes("commit agreement", |_, state| {
                state.rm_state.iter().all(|s| s == &RmState::Committed)
            }),
            Property::<Self>::always("consistent", |_, state| {
                !state.rm_state.iter().any(|s1| {
                    state
                        .rm_state
                        .iter()
                        .any(|s2| s1 == &RmState::Aborted && s2 == &RmState::Committed)
                })
            }),
        ]
    }
}

/// A field of `/proc/self/status` in KiB (0 where unavailable).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix(field)
                    .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

fn measured(name: String, unique: usize, total: usize, secs: f64, rss_before: u64) -> Value {
    let grown = status_kib("VmHWM:").saturating_sub(rss_before) * 1024;
    json!({
        "model": name,
        "unique": unique,
        "total": total,
        "seconds": secs,
        "unique_per_s": if secs > 0.0 { unique as f64 / secs } else { 0.0 },
        "bytes_per_state": if unique > 0 { grown as f64 / unique as f64 } else { 0.0 },
    })
}

/// Runs stateright's 2PC example with `rms` resource managers through this crate's BFS.
pub fn run_2pc(rms: usize) -> Value {
    let before = status_kib("VmRSS:");
    let m = TwoPhaseSys { rms: 0..rms };
    let props = m.properties();
    let start = Instant::now();
    let r = bfs_with(&m, &props, &[], &mut Plain, &CheckOptions::default());
    let secs = start.elapsed().as_secs_f64();
    measured(format!("2pc rms={rms}"), r.unique, r.total, secs, before)
}

/// Runs a kafka-eos scenario through this crate's BFS (as `kafka-eos check` does, without
/// rendering the verdicts), with the step cache's counts.
pub fn run_scenario(scenario: &Scenario) -> Value {
    let before = status_kib("VmRSS:");
    let m = model(scenario);
    let start = Instant::now();
    let mut steps = StepCache::default();
    let r = bfs_cached(&m, &CheckOptions::default(), &mut steps);
    let secs = start.elapsed().as_secs_f64();
    let mut v = measured(
        format!(
            "kafka-eos {} --protocol {}",
            scenario.name, scenario.protocol
        ),
        r.unique,
        r.total,
        secs,
        before,
    );
    v["steps_computed"] = json!(steps.computed);
    v["steps_reused"] = json!(steps.reused);
    v
}
