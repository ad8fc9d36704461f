//! Running the checker on a scenario and rendering its result: verdicts per property (with
//! the number of states where each `always` property was relevant), counterexamples as
//! numbered steps in the protocol's words with the final state and the records that break
//! them, the states each budget cut, counts, and whether every verdict is the one the scenario
//! and its bug switches expect.
//!
//! Two engines:
//!
//! - **BFS** (the default, one thread): [`bfs`], this crate's own breadth-first search over
//!   the model's `init_states`/`actions`/`next_state`/`within_boundary` (a fingerprint visited
//!   set with parent pointers). It keeps the *first* violation of each property, so every
//!   counterexample is a shortest one, counts the relevant states of each property and the
//!   states cut by the request budget in the same pass, and honours `--timeout`. It computes
//!   each actor step once, builds only the successors it has not visited yet ([`StepCache`]),
//!   and shares equal actor states ([`ActorInterner`]).
//! - **stateright** (`--dfs`, or `--threads N` with N > 1): stateright 0.31's own checkers.
//!   They keep the *last* violating state they visit, so this driver cuts each printed path at
//!   its first violating state, but the path is not the shortest. They cannot count states per
//!   predicate: relevance is reported as reached or not (each relevance predicate runs as a
//!   `sometimes` property), and budget cuts are not counted. `--timeout` needs 2+ threads there.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stateright::actor::{ActorModelAction, Id};
use stateright::{Checker, Expectation, Model, Property};

use super::actors::{ActorState, EosActor, Timer};
use super::properties::{always_property, properties_with_relevance, Condition, ALWAYS};
use super::scenario::{Protocol, Scenario};
use super::{coordinator, model, partitions, producers, EosModel, EosState};
use crate::render::{
    coordinator_text, partition_text, producer_text, render_action, timed_out_request,
};

/// How to run the checker.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Depth-first with stateright's checker instead of this crate's BFS.
    pub dfs: bool,
    /// Checker threads: 1 runs this crate's BFS (or stateright's DFS with `dfs`); more run
    /// stateright's parallel checkers.
    pub threads: usize,
    /// Stop after about this many generated states (the run is then incomplete).
    pub max_states: Option<usize>,
    /// Stop after this long (the run is then incomplete). Not available for stateright's
    /// checkers with one thread: [`CheckOptions::validate`] refuses it.
    pub timeout: Option<Duration>,
    /// Print progress lines to stderr every second.
    pub progress: bool,
    /// Random walks instead of an exhaustive search ([`simulate`]): this many walks.
    pub simulate: Option<usize>,
    /// The random walks' seed (the same seed gives the same walks).
    pub seed: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            dfs: false,
            threads: 1,
            max_states: None,
            timeout: None,
            progress: false,
            simulate: None,
            seed: 0,
        }
    }
}

impl CheckOptions {
    /// Whether this crate's BFS runs (one thread, breadth-first).
    pub fn own_bfs(&self) -> bool {
        !self.dfs && self.threads <= 1 && self.simulate.is_none()
    }

    /// Refuses combinations that cannot do what they say.
    pub fn validate(&self) -> Result<(), String> {
        if self.simulate.is_some() && (self.dfs || self.threads > 1) {
            return Err("--simulate runs its own random walks: no --dfs or --threads".to_string());
        }
        if self.timeout.is_some() && self.dfs && self.threads <= 1 {
            return Err(
                "--timeout needs --threads 2 or more with --dfs (stateright's one-thread DFS never checks the clock); the default BFS honours it with one thread"
                    .to_string(),
            );
        }
        Ok(())
    }
}

/// The verdict on one property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `always`: no counterexample in a complete run, and relevant somewhere.
    Holds,
    /// `always`: no counterexample in a complete run, but relevant in no state: the property
    /// was never put to the test.
    Vacuous,
    /// `always`: a counterexample.
    Counterexample,
    /// `sometimes`: an example.
    ExampleFound,
    /// `sometimes`: no example in a complete run.
    NotReached,
    /// No discovery, but the run was cut short: nothing can be claimed.
    Unknown,
}

impl Outcome {
    /// The word printed.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Holds => "holds",
            Outcome::Vacuous => "VACUOUS",
            Outcome::Counterexample => "counterexample",
            Outcome::ExampleFound => "example found",
            Outcome::NotReached => "NOT reached",
            Outcome::Unknown => "unknown (run cut short)",
        }
    }

    /// The word in `--json` output.
    pub fn json_word(&self) -> &'static str {
        match self {
            Outcome::Holds => "holds",
            Outcome::Vacuous => "vacuous",
            Outcome::Counterexample => "counterexample",
            Outcome::ExampleFound => "example found",
            Outcome::NotReached => "not reached",
            Outcome::Unknown => "unknown",
        }
    }
}

/// One property's result.
#[derive(Clone, Debug)]
pub struct PropertyResult {
    /// The property's name.
    pub name: &'static str,
    /// `always` or `sometimes`.
    pub always: bool,
    /// The verdict.
    pub outcome: Outcome,
    /// Whether the verdict is the expected one.
    pub as_expected: bool,
    /// What was expected, in words.
    pub expected: &'static str,
    /// `always`: the number of states where the property was relevant (BFS only).
    pub relevant_states: Option<usize>,
    /// `always`: whether some state was relevant (every engine).
    pub relevance_reached: Option<bool>,
    /// The scenario's reason for declaring the property irrelevant, if it does.
    pub irrelevant: Option<&'static str>,
    /// The discovery's steps, rendered (with what each timed-out request was).
    pub steps: Vec<String>,
    /// The discovery's action-index path (Explorer's `#/steps/...`).
    pub encoded: Option<String>,
    /// The counterexample's number in [`Report::counterexamples`] (identical traces share one).
    pub trace: Option<usize>,
}

/// One counterexample trace, shared by every property it breaks.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// The properties broken at its last state (first violation for each).
    pub properties: Vec<&'static str>,
    /// The action-index path.
    pub encoded: String,
    /// The steps, rendered.
    pub steps: Vec<String>,
    /// The final state: partition logs, HW/LSO, what read_committed returns, the coordinator
    /// and what the applications were told.
    pub final_state: String,
    /// Per property, the records that break it (best effort).
    pub breaks: Vec<(&'static str, Vec<String>)>,
    /// The command that opens the path in the Explorer.
    pub explore: String,
}

/// The states the request budget cut (successors outside `within_boundary`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BudgetCuts {
    /// Distinct states cut.
    pub unique: usize,
    /// Transitions into a cut state.
    pub transitions: usize,
}

/// A checker run's result.
#[derive(Clone, Debug)]
pub struct Report {
    /// The scenario run.
    pub scenario: Scenario,
    /// The run explored everything (no state limit or timeout cut it).
    pub complete: bool,
    /// Distinct states.
    pub unique_states: usize,
    /// Generated states (with duplicates).
    pub total_states: usize,
    /// Maximum depth.
    pub max_depth: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Per property, sorted by name.
    pub properties: Vec<PropertyResult>,
    /// The distinct counterexample traces, in the order of the properties naming them.
    pub counterexamples: Vec<Counterexample>,
    /// The states cut by the request budget (BFS only).
    pub cuts: Option<BudgetCuts>,
    /// Checker strategy.
    pub strategy: &'static str,
    /// Threads.
    pub threads: usize,
}

impl Report {
    /// Complete, and every verdict as expected.
    pub fn ok(&self) -> bool {
        (self.complete || self.strategy == "simulate")
            && self.properties.iter().all(|p| p.as_expected)
    }

    /// `as expected`, `UNEXPECTED` or `INCOMPLETE`.
    pub fn verdict(&self) -> &'static str {
        if self.ok() {
            "as expected"
        } else if !self.complete && self.strategy != "simulate" {
            "INCOMPLETE"
        } else {
            "UNEXPECTED"
        }
    }

    /// What the engine guarantees, in one line.
    pub fn guarantees(&self) -> &'static str {
        if self.strategy == "simulate" {
            "random walks: counterexamples found are real (the shortest found), nothing is claimed to hold"
        } else if self.strategy == "bfs" && self.threads == 1 {
            "shortest counterexample per property; relevant states and budget cuts counted"
        } else {
            "counterexamples cut at their first violation but not shortest; relevance reached or not; budget cuts not counted"
        }
    }

    /// The deterministic summary (no timings): what snapshots record.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let s = &self.scenario;
        let bugs: Vec<&str> = s.bugs.iter().map(|b| b.info().name).collect();
        let _ = writeln!(out, "scenario: {}", s.name);
        let _ = writeln!(out, "protocol: {}", s.protocol);
        let _ = writeln!(
            out,
            "bugs: {}",
            if bugs.is_empty() {
                "none".to_string()
            } else {
                bugs.join(", ")
            }
        );
        let _ = writeln!(out, "bounds: {}", s.bounds());
        let budgets: Vec<String> = (0..s.producers.len())
            .map(|i| {
                format!(
                    "producer-{} {} = script {} + timeouts {}{} + retries {}",
                    i + 1,
                    s.request_budget(i),
                    s.min_requests(i),
                    s.request_timeouts,
                    if s.append_failures == 0 {
                        String::new()
                    } else {
                        format!(" + append failures {}", s.append_failures)
                    },
                    s.retries_of(i)
                )
            })
            .collect();
        let _ = writeln!(out, "request budget: {}", budgets.join("; "));
        let _ = writeln!(
            out,
            "checker: {} threads={} ({})",
            self.strategy,
            self.threads,
            self.guarantees()
        );
        let _ = writeln!(out, "complete: {}", self.complete);
        let _ = writeln!(
            out,
            "states: unique={} total={}",
            self.unique_states, self.total_states
        );
        match &self.cuts {
            Some(c) => {
                let _ = writeln!(
                    out,
                    "cut by max_requests: {} states ({} transitions)",
                    c.unique, c.transitions
                );
            }
            None => {
                let _ = writeln!(out, "cut by max_requests: not counted by this checker");
            }
        }
        for p in &self.properties {
            let word = if self.strategy == "simulate" && p.outcome == Outcome::Unknown {
                "not found in the walks"
            } else {
                p.outcome.word()
            };
            let mut line = format!("{}: {word}", p.name);
            if p.always {
                match (p.relevant_states, p.relevance_reached) {
                    (Some(n), _) => {
                        let _ = write!(line, " (relevant in {n} states)");
                    }
                    (None, Some(r)) => {
                        let _ = write!(
                            line,
                            " (relevance {})",
                            if r { "reached" } else { "not reached" }
                        );
                    }
                    _ => {}
                }
            }
            if let Some(t) = p.trace {
                let _ = write!(line, " [counterexample {}, {} steps]", t + 1, p.steps.len());
            }
            if let Some(why) = p.irrelevant {
                if matches!(p.outcome, Outcome::Vacuous | Outcome::NotReached) {
                    let _ = write!(line, " [declared irrelevant: {why}]");
                }
            }
            if !p.as_expected {
                let _ = write!(line, "  (UNEXPECTED: expected {})", p.expected);
            }
            let _ = writeln!(out, "{line}");
        }
        for (i, c) in self.counterexamples.iter().enumerate() {
            let _ = writeln!(
                out,
                "counterexample {} ({} steps): {}",
                i + 1,
                c.steps.len(),
                c.properties.join(", ")
            );
            for (n, step) in c.steps.iter().enumerate() {
                let _ = writeln!(out, "  {}. {}", n + 1, step);
            }
            let _ = writeln!(out, "  final state:");
            for l in c.final_state.lines() {
                let _ = writeln!(out, "    {l}");
            }
            let _ = writeln!(out, "  what breaks:");
            for (name, lines) in &c.breaks {
                if lines.is_empty() {
                    let _ = writeln!(out, "    {name}: (see the final state)");
                }
                for l in lines {
                    let _ = writeln!(out, "    {name}: {l}");
                }
            }
            let _ = writeln!(out, "  path: {}", c.encoded);
            let _ = writeln!(out, "  explore: {}", c.explore);
        }
        let _ = writeln!(out, "verdict: {}", self.verdict());
        out
    }

    /// The human report: the summary plus timing.
    pub fn text(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.unique_states as f64 / secs
        } else {
            0.0
        };
        format!(
            "{}time: {:.2}s, {:.0} unique states/s, max depth {}\n",
            self.summary(),
            secs,
            rate,
            self.max_depth
        )
    }

    /// The same as one JSON document.
    pub fn json(&self) -> Value {
        let s = &self.scenario;
        json!({
            "scenario": s.name,
            "protocol": s.protocol.name(),
            "bugs": s.bugs.iter().map(|b| b.info().name).collect::<Vec<_>>(),
            "bounds": s.bounds(),
            "request_budgets": s.request_budgets(),
            "checker": self.strategy,
            "threads": self.threads,
            "guarantees": self.guarantees(),
            "complete": self.complete,
            "verdict": self.verdict().to_lowercase(),
            "ok": self.ok(),
            "states": {"unique": self.unique_states, "total": self.total_states},
            "unique_states": self.unique_states,
            "total_states": self.total_states,
            "max_depth": self.max_depth,
            "cut_by_max_requests": self.cuts.as_ref().map(|c| json!({"unique": c.unique, "transitions": c.transitions})),
            "seconds": self.elapsed.as_secs_f64(),
            "properties": self.properties.iter().map(|p| json!({
                "name": p.name,
                "kind": if p.always { "always" } else { "sometimes" },
                "verdict": p.outcome.json_word(),
                "relevant_states": p.relevant_states,
                "relevance_reached": p.relevance_reached,
                "declared_irrelevant": p.irrelevant,
                "steps": if p.outcome == Outcome::Counterexample { p.steps.clone() } else { Vec::new() },
                "path": p.encoded,
                "expected": p.expected,
                "as_expected": p.as_expected,
            })).collect::<Vec<_>>(),
            "counterexamples": self.counterexamples.iter().map(|c| json!({
                "properties": c.properties,
                "steps": c.steps,
                "path": c.encoded,
                "final_state": c.final_state,
                "breaks": c.breaks.iter().map(|(n, l)| json!({"property": n, "records": l})).collect::<Vec<_>>(),
                "explore": c.explore,
            })).collect::<Vec<_>>(),
        })
    }
}

// ------------------------------------------------------------------ the BFS

/// A state's fingerprint: the same 64-bit hash as stateright's (`ahash` with stateright's
/// fixed seeds; stateright's own function is private).
pub fn fingerprint<S: Hash>(s: &S) -> u64 {
    ahash::RandomState::with_seeds(123_456_789_987_654_321, 98_765_432_123_456_789, 0, 0)
        .hash_one(s)
}

/// A hasher for keys that already are hashes.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type FpMap<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;
type FpSet = HashSet<u64, BuildHasherDefault<IdentityHasher>>;

/// Where a state was first reached from: its parent's fingerprint and the action index, or
/// (for an initial state) no parent and the init index.
#[derive(Clone, Copy)]
struct Parent {
    /// The parent's fingerprint (unused for an initial state).
    parent: u64,
    index: u32,
    /// An initial state (no parent). With this flag rather than an `Option` the entry takes
    /// 16 bytes instead of 24: the visited set holds one per distinct state.
    root: bool,
}

impl Parent {
    fn parent(&self) -> Option<u64> {
        (!self.root).then_some(self.parent)
    }
}

/// What [`bfs`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfsResult {
    /// Per property of [`Model::properties`] (same order): the action-index path to its first
    /// discovery (init index first).
    pub first: Vec<Option<Vec<usize>>>,
    /// Per property: states where its relevance predicate held (`always` properties with one).
    pub relevant: Vec<Option<usize>>,
    /// Distinct states.
    pub unique: usize,
    /// Generated states, counted as stateright counts them (initial states plus every
    /// successor within the boundary, duplicates included).
    pub total: usize,
    /// Deepest state expanded (initial states are at depth 1).
    pub max_depth: usize,
    /// The request budget's cuts.
    pub cuts: BudgetCuts,
    /// No limit stopped the search.
    pub complete: bool,
}

/// Breadth-first search over `m` from its initial states (see [`bfs_with`]), with the
/// relevance predicate of each `always` property, the probe flags cleared after each
/// transition ([`clear_probe_flags`]), each actor step computed once and most successors
/// fingerprinted without being built ([`StepCache`]), and the queued states' actor states
/// shared ([`ActorInterner`]).
pub fn bfs(m: &EosModel, opts: &CheckOptions) -> BfsResult {
    bfs_cached(m, opts, &mut StepCache::default())
}

/// [`bfs`] with the step cache `steps` (its counts tell how many steps were computed and how
/// many reused).
pub fn bfs_cached(m: &EosModel, opts: &CheckOptions, steps: &mut StepCache) -> BfsResult {
    let props = m.properties();
    bfs_with(
        m,
        &props,
        &relevance_of(&props),
        &mut EosHooks { steps: Some(steps) },
        opts,
    )
}

/// [`bfs`] over the model's own `next_state`, every step computed again, every successor
/// built and nothing shared: the reference that the cached search must equal.
pub fn bfs_uncached(m: &EosModel, opts: &CheckOptions) -> BfsResult {
    let props = m.properties();
    bfs_with(
        m,
        &props,
        &relevance_of(&props),
        &mut EosHooks { steps: None },
        opts,
    )
}

/// The relevance predicate of each `always` property of `props` (same order).
fn relevance_of(props: &[Property<EosModel>]) -> Vec<Option<Condition>> {
    props
        .iter()
        .map(|p| {
            if p.expectation == Expectation::Always {
                always_property(p.name).map(|a| a.relevant)
            } else {
                None
            }
        })
        .collect()
}

/// Hash-consing of actor states (model-side, not Kafka's): every actor state of a queued
/// state is one shared copy per distinct value.
///
/// A successor shares every actor state but the one its step changed with its parent, and
/// nothing with the states queued from other parents: without sharing, each of the BFS
/// queue's states kept its own copies (about 10 KB per queued state on
/// `transactions-zombie`). The BFS hands each new state to [`ActorInterner::intern`] before
/// queueing it, which replaces a fresh actor state by the equal one already queued, if any.
/// Entries no queued state holds any more are dropped when the table has doubled since the
/// last sweep.
#[derive(Default)]
pub struct ActorInterner {
    table: HashMap<u64, std::sync::Arc<ActorState>, BuildHasherDefault<IdentityHasher>>,
    sweep_at: usize,
}

impl ActorInterner {
    /// Shares `s`'s fresh actor states (held by `s` alone) with equal ones already seen.
    pub fn intern(&mut self, s: &mut EosState) {
        for a in &mut s.actor_states {
            if std::sync::Arc::strong_count(a) == 1 {
                self.share(a);
            }
        }
        if self.table.len() >= self.sweep_at {
            self.table
                .retain(|_, a| std::sync::Arc::strong_count(a) > 1);
            self.sweep_at = (self.table.len() * 2).max(4096);
        }
    }

    /// Replaces `a` by the equal actor state already seen, or remembers it.
    pub fn share(&mut self, a: &mut std::sync::Arc<ActorState>) {
        let key = fingerprint(&**a);
        match self.table.entry(key) {
            // Equal content hashes are taken as equal states without comparing them: the
            // state's fingerprint is made of these very hashes ([`ActorState`]'s `Hash`), so
            // two actor states with one content hash already make states that differ only in
            // them one state.
            std::collections::hash_map::Entry::Occupied(e) => {
                *a = std::sync::Arc::clone(e.get());
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(std::sync::Arc::clone(a));
            }
        }
    }
}

/// Every actor step computed so far (model-side, not Kafka's): an actor's step depends only on
/// the actor, its state and the event (the message and its sender, the timer, the random
/// choice), and one actor state meets one event in many global states (those that differ in
/// the other actors' states or in the other messages in flight). Each step is computed once,
/// and the global states it leads to share its new actor state.
///
/// Keyed by a 64-bit hash of (actor, actor state, event): as in [`ActorInterner`], equal
/// hashes are taken as equal without a deep compare, the assumption the fingerprint already
/// makes. A step whose new state has probe bits set is kept twice: as it is (the probes read
/// it) and with the bits cleared ([`clear_probe_flags`]).
pub struct StepCache {
    table: FpMap<CachedStep>,
    /// The previous generation: when `table` is full it becomes this one, and an entry looked
    /// up here moves back to `table` (the memory the cache holds stays bounded, and the steps
    /// still in use stay).
    old: FpMap<CachedStep>,
    /// Entries per generation.
    limit: usize,
    /// The actor states of the queued states and of the cached steps.
    interner: ActorInterner,
    /// Build every successor and check that its fingerprint and budget verdict equal the
    /// ones computed without building it (tests).
    pub verify: bool,
    /// Steps reused (found in the cache).
    pub reused: usize,
    /// Steps computed (not found).
    pub computed: usize,
}

struct CachedStep {
    /// With the probe bits cleared.
    clean: super::system::Step,
    /// As the actor left it, where that has probe bits set.
    raw: Option<super::system::Step>,
}

impl Default for StepCache {
    fn default() -> Self {
        StepCache::with_limit(StepCache::GENERATION)
    }
}

impl StepCache {
    /// Steps kept per generation by default: the cache holds at most twice as many. At
    /// about 2 KB per step (the new actor state, when no queued state shares it) that bounds
    /// it to about 32 MB. A BFS needs a step again only while states of its depth are queued:
    /// on every named scenario this limit computes no step twice (`transactions-zombie` tv2
    /// computes 23 237 steps, as with no limit).
    pub const GENERATION: usize = 1 << 13;

    /// A cache of at most `2 * limit` steps.
    pub fn with_limit(limit: usize) -> StepCache {
        StepCache {
            table: FpMap::default(),
            old: FpMap::default(),
            limit: limit.max(1),
            interner: ActorInterner::default(),
            verify: false,
            reused: 0,
            computed: 0,
        }
    }

    /// The step `action` makes its actor take in `last`, computed once.
    fn lookup(&mut self, m: &EosModel, last: &EosState, action: &EosAction) -> Option<&CachedStep> {
        let key = step_key(last, action)?;
        let StepCache {
            table,
            old,
            limit,
            interner,
            reused,
            computed,
            ..
        } = self;
        if table.len() >= *limit && !table.contains_key(&key) {
            *old = std::mem::take(table);
        }
        Some(match table.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => {
                *reused += 1;
                e.into_mut()
            }
            std::collections::hash_map::Entry::Vacant(e) => match old.remove(&key) {
                Some(c) => {
                    *reused += 1;
                    e.insert(c)
                }
                None => {
                    *computed += 1;
                    let step = super::system::step(&m.actors, last, action)?;
                    e.insert(CachedStep::of(step, interner))
                }
            },
        })
    }

    /// The model's `next_state`, each actor step computed once: with the probe bits as the
    /// step set them (`raw`) or cleared.
    pub fn next_state(
        &mut self,
        m: &EosModel,
        last: &EosState,
        action: EosAction,
        raw: bool,
    ) -> Option<EosState> {
        let mut next = super::system::next_state_with(last, action, |a| {
            self.lookup(m, last, a).map(|cached| cached.step(raw))
        })?;
        super::drop_dead_messages(m, &mut next);
        Some(next)
    }

    /// The successor of `last` (fingerprint `last_fp`) by `action`, for [`bfs_with`]: its
    /// fingerprint (with the probe bits cleared) and whether it is within the request budget,
    /// and the state itself (with the probe bits as the step set them where `raw`) unless it
    /// is outside the budget or `visited` (and not `raw`). On Kafka's network the fingerprint
    /// follows from `last_fp` and the step ([`super::system::successor_fingerprint`]), so a
    /// state already visited, most successors, is never built.
    pub fn successor(
        &mut self,
        m: &EosModel,
        last: &EosState,
        last_fp: u64,
        action: EosAction,
        raw: bool,
        visited: &dyn Fn(u64) -> bool,
    ) -> Option<Next<EosState>> {
        let verify = self.verify;
        let delivery = last.network.delivery();
        let stepped = super::system::stepped_actor(&action).map(usize::from);
        if let (Some(index), super::system::Delivery::Multiset) = (stepped, delivery) {
            let cached = self.lookup(m, last, &action)?;
            if !super::system::is_transition(&action, &cached.clean, delivery) {
                return None;
            }
            let fp = super::system::successor_fingerprint(
                last,
                last_fp,
                &action,
                &cached.clean,
                |dst, state, src, msg| {
                    m.actors
                        .get(usize::from(dst))
                        .is_some_and(|a| a.is_dead(state, src, msg))
                },
            );
            if let Some(fp) = fp {
                let within = cached
                    .clean
                    .state
                    .as_deref()
                    .is_none_or(|s| super::actor_within_bounds(m, index, s));
                if !raw && !verify && (!within || visited(fp)) {
                    return Some(Next {
                        fp,
                        within,
                        state: None,
                    });
                }
                let step = cached.step(raw);
                let mut next = super::system::next_state_with(last, action, |_| Some(step))?;
                super::drop_dead_messages(m, &mut next);
                if verify {
                    assert_eq!(fp, clean_fingerprint(&next, raw), "incremental fingerprint");
                    assert_eq!(within, m.within_boundary(&next), "budget");
                }
                return Some(Next {
                    fp,
                    within,
                    state: Some(next),
                });
            }
        }
        let next = self.next_state(m, last, action, raw)?;
        Some(Next {
            fp: clean_fingerprint(&next, raw),
            within: m.within_boundary(&next),
            state: Some(next),
        })
    }
}

/// The fingerprint of `next` with its probe bits cleared (`raw`: they may be set).
fn clean_fingerprint(next: &EosState, raw: bool) -> u64 {
    if raw {
        let mut clean = next.clone();
        clear_probe_flags(&mut clean);
        super::system::fingerprint(&clean)
    } else {
        super::system::fingerprint(next)
    }
}

impl CachedStep {
    /// The step with the probe bits as it set them (`raw`) or cleared.
    fn step(&self, raw: bool) -> &super::system::Step {
        match (raw, &self.raw) {
            (true, Some(r)) => r,
            _ => &self.clean,
        }
    }

    fn of(mut step: super::system::Step, interner: &mut ActorInterner) -> CachedStep {
        let Some(state) = &mut step.state else {
            return CachedStep {
                clean: step,
                raw: None,
            };
        };
        if probe_flags(state) == 0 {
            interner.share(state);
            return CachedStep {
                clean: step,
                raw: None,
            };
        }
        let mut clean = (**state).clone();
        clear_flags(&mut clean);
        let mut clean = std::sync::Arc::new(clean);
        interner.share(&mut clean);
        CachedStep {
            clean: super::system::Step {
                state: Some(clean),
                effects: step.effects.clone(),
            },
            raw: Some(step),
        }
    }
}

/// The step cache's key: (actor, actor state, event), hashed.
fn step_key(last: &EosState, action: &EosAction) -> Option<u64> {
    let id = super::system::stepped_actor(action)?;
    let state = last.actor_states.get(usize::from(id))?;
    let h = ahash::RandomState::with_seeds(11, 12, 13, 14);
    Some(match action {
        ActorModelAction::Deliver { src, msg, .. } => h.hash_one((0u8, id, &**state, src, msg)),
        ActorModelAction::Timeout(_, timer) => h.hash_one((1u8, id, &**state, timer)),
        ActorModelAction::SelectRandom { key, random, .. } => {
            h.hash_one((2u8, id, &**state, key, random))
        }
        ActorModelAction::Drop(_) | ActorModelAction::Crash(_) | ActorModelAction::Recover(_) => {
            return None
        }
    })
}

fn probe_flags(a: &ActorState) -> u8 {
    match a {
        ActorState::Partition(p) => p.flags,
        ActorState::Coordinator(c) => c.flags,
        ActorState::Group(g) => g.flags & GROUP_PROBE_FLAGS,
        ActorState::Producer(_) | ActorState::Processor(_) => 0,
    }
}

fn clear_flags(a: &mut ActorState) {
    match a {
        ActorState::Partition(p) => {
            p.flags = 0;
            p.hash_cache.reset();
        }
        ActorState::Coordinator(c) => {
            c.flags = 0;
            c.hash_cache.reset();
        }
        ActorState::Group(g) => {
            g.flags &= !GROUP_PROBE_FLAGS;
            g.hash_cache.reset();
        }
        ActorState::Producer(_) | ActorState::Processor(_) => {}
    }
}

/// The probe bits are events of the transition that set them, not state: `sometimes`
/// properties (the probes) are evaluated on every generated successor, and the bits are then
/// cleared so that states differing only in past events are one state. No `always` property
/// reads them.
pub fn clear_probe_flags(s: &mut EosState) {
    for a in &mut s.actor_states {
        if probe_flags(a) != 0 {
            clear_flags(std::sync::Arc::make_mut(a));
        }
    }
}

/// The group coordinator's probe bits (events); its E3 ghost bit
/// ([`gflag::ZOMBIE_COMMITTED`](super::processor::gflag::ZOMBIE_COMMITTED)) is state that an
/// `always` property reads, so it stays.
const GROUP_PROBE_FLAGS: u8 =
    super::processor::gflag::UNSTABLE | super::processor::gflag::GENERATION_FENCED;

/// A successor as [`Hooks::successor`] hands it over.
pub struct Next<S> {
    /// Its fingerprint (after [`Hooks::normalise`]).
    pub fp: u64,
    /// Whether it is within the model's boundary.
    pub within: bool,
    /// The state: always where the hook was asked for the state before `normalise` (`raw`);
    /// otherwise it may be left out where it is outside the boundary or already visited.
    pub state: Option<S>,
}

/// How [`bfs_with`] fingerprints, expands, normalises and keeps the states of a model.
pub trait Hooks<M: Model> {
    /// A state's fingerprint (the visited set's key).
    fn fingerprint(&self, s: &M::State) -> u64;
    /// The successor of `s` (fingerprint `fp`) by `action` (`None`: no transition), with
    /// the state as the transition left it where `raw` (the probes read it; the search then
    /// applies [`Hooks::normalise`]) and normalised otherwise. `visited` tells whether a
    /// fingerprint is already in the visited set.
    fn successor(
        &mut self,
        m: &M,
        s: &M::State,
        fp: u64,
        action: M::Action,
        raw: bool,
        visited: &dyn Fn(u64) -> bool,
    ) -> Option<Next<M::State>>;
    /// Clears what is not state (the probe bits) before a state is fingerprinted.
    fn normalise(&self, _s: &mut M::State) {}
    /// Called on each new state before it is queued (to share its parts).
    fn keep(&mut self, _s: &mut M::State) {}
}

/// The plain [`Hooks`] for any model: stateright's fingerprint and the model's own
/// `next_state` and `within_boundary`, nothing normalised or shared.
pub struct Plain;

impl<M: Model> Hooks<M> for Plain
where
    M::State: Hash,
{
    fn fingerprint(&self, s: &M::State) -> u64 {
        fingerprint(s)
    }

    fn successor(
        &mut self,
        m: &M,
        s: &M::State,
        _: u64,
        action: M::Action,
        _: bool,
        _: &dyn Fn(u64) -> bool,
    ) -> Option<Next<M::State>> {
        let next = m.next_state(s, action)?;
        Some(Next {
            fp: fingerprint(&next),
            within: m.within_boundary(&next),
            state: Some(next),
        })
    }
}

/// The kafka-eos [`Hooks`]: the model's fingerprint ([`super::system::fingerprint`]) and the
/// probe bits cleared ([`clear_probe_flags`]); with a [`StepCache`] ([`bfs`]) each actor step
/// is computed once, most successors are fingerprinted without being built, and the queued
/// states' actor states are shared ([`ActorInterner`]); without one ([`bfs_uncached`], the
/// reference) every successor is built by the model's own `next_state` and nothing is shared.
struct EosHooks<'a> {
    steps: Option<&'a mut StepCache>,
}

impl Hooks<EosModel> for EosHooks<'_> {
    fn fingerprint(&self, s: &EosState) -> u64 {
        super::system::fingerprint(s)
    }

    fn successor(
        &mut self,
        m: &EosModel,
        s: &EosState,
        fp: u64,
        action: EosAction,
        raw: bool,
        visited: &dyn Fn(u64) -> bool,
    ) -> Option<Next<EosState>> {
        if let Some(steps) = &mut self.steps {
            return steps.successor(m, s, fp, action, raw, visited);
        }
        let next = m.next_state(s, action)?;
        let mut clean = next.clone();
        clear_probe_flags(&mut clean);
        Some(Next {
            fp: super::system::fingerprint(&clean),
            within: m.within_boundary(&next),
            state: Some(if raw { next } else { clean }),
        })
    }

    fn normalise(&self, s: &mut EosState) {
        clear_probe_flags(s);
    }

    fn keep(&mut self, s: &mut EosState) {
        if let Some(steps) = &mut self.steps {
            steps.interner.intern(s);
        }
    }
}

/// A predicate over a model's states (a relevance predicate).
pub type Predicate<M> = fn(&M, &<M as Model>::State) -> bool;

/// Breadth-first search over any stateright model: evaluates every `always` property of
/// `props` in every distinct state and counts the states where its relevance predicate
/// (`relevance`, same order) holds; evaluates every `sometimes` property not yet found on
/// every generated successor within the boundary (and the initial states), then applies
/// [`Hooks::normalise`] before the successor is fingerprinted. Records the first (so
/// shortest) discovery of each property and counts the states the boundary cuts. Stops early
/// (incomplete) at `max_states` generated states or `timeout`.
pub fn bfs_with<M: Model>(
    m: &M,
    props: &[Property<M>],
    relevance: &[Option<Predicate<M>>],
    hooks: &mut impl Hooks<M>,
    opts: &CheckOptions,
) -> BfsResult {
    let always: Vec<usize> = (0..props.len())
        .filter(|i| props[*i].expectation == Expectation::Always)
        .collect();
    let mut sometimes: Vec<usize> = (0..props.len())
        .filter(|i| props[*i].expectation == Expectation::Sometimes)
        .collect();
    let mut first: Vec<Option<Parent>> = vec![None; props.len()];
    let mut relevant: Vec<Option<usize>> = (0..props.len())
        .map(|i| relevance.get(i).copied().flatten().map(|_| 0))
        .collect();
    let mut parents: FpMap<Parent> = FpMap::default();
    let mut cut_set: FpSet = FpSet::default();
    let mut cuts = BudgetCuts::default();
    let mut queue: VecDeque<(M::State, u64, usize)> = VecDeque::new();
    let mut total = 0usize;
    // `sometimes` properties not found yet, on a state reached by `at`.
    let probe =
        |sometimes: &mut Vec<usize>, state: &M::State, at: Parent, first: &mut [Option<Parent>]| {
            sometimes.retain(|&i| {
                if (props[i].condition)(m, state) {
                    first[i] = Some(at);
                    false
                } else {
                    true
                }
            });
        };
    for (i, mut s) in m.init_states().into_iter().enumerate() {
        if !m.within_boundary(&s) {
            continue;
        }
        total += 1;
        let at = Parent {
            parent: 0,
            index: u32::try_from(i).unwrap_or(u32::MAX),
            root: true,
        };
        probe(&mut sometimes, &s, at, &mut first);
        hooks.normalise(&mut s);
        let fp = hooks.fingerprint(&s);
        if parents.contains_key(&fp) {
            continue;
        }
        parents.insert(fp, at);
        hooks.keep(&mut s);
        queue.push_back((s, fp, 1));
    }
    let start = Instant::now();
    let mut tick = Instant::now();
    let mut max_depth = 0;
    let mut complete = true;
    let mut actions = Vec::new();
    let mut visited = 0usize;
    while let Some((state, fp, depth)) = queue.pop_front() {
        max_depth = max_depth.max(depth);
        visited += 1;
        for &i in &always {
            let p = &props[i];
            if first[i].is_none() && !(p.condition)(m, &state) {
                first[i] = parents.get(&fp).copied();
            }
            if let (Some(r), Some(count)) =
                (relevance.get(i).copied().flatten(), relevant[i].as_mut())
            {
                if r(m, &state) {
                    *count += 1;
                }
            }
        }
        m.actions(&state, &mut actions);
        for (index, action) in actions.drain(..).enumerate() {
            // While a `sometimes` property is unfound, the probes need the successor before
            // `normalise`.
            let raw = !sometimes.is_empty();
            let visited = |f: u64| parents.contains_key(&f);
            let Some(next) = hooks.successor(m, &state, fp, action, raw, &visited) else {
                continue;
            };
            if !next.within {
                cuts.transitions += 1;
                cut_set.insert(next.fp);
                continue;
            }
            total += 1;
            let Some(mut next_state) = next.state else {
                continue;
            };
            let at = Parent {
                parent: fp,
                index: u32::try_from(index).unwrap_or(u32::MAX),
                root: false,
            };
            if raw {
                probe(&mut sometimes, &next_state, at, &mut first);
                hooks.normalise(&mut next_state);
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parents.entry(next.fp) {
                e.insert(at);
                hooks.keep(&mut next_state);
                queue.push_back((next_state, next.fp, depth + 1));
            }
        }
        if opts.max_states.is_some_and(|n| total >= n) {
            complete = false;
            break;
        }
        if visited.is_multiple_of(256) {
            if opts.timeout.is_some_and(|t| start.elapsed() >= t) {
                complete = false;
                break;
            }
            if opts.progress && tick.elapsed() >= Duration::from_secs(1) {
                tick = Instant::now();
                let _ = writeln!(
                    std::io::stderr(),
                    "checking: states={} unique={} depth={} queue={}",
                    total,
                    parents.len(),
                    depth,
                    queue.len()
                );
            }
        }
    }
    cuts.unique = cut_set.len();
    let path_to = |at: Parent| -> Vec<usize> {
        let mut rev = vec![at.index as usize];
        let mut next = at.parent();
        while let Some(f) = next {
            let Some(p) = parents.get(&f) else { break };
            rev.push(p.index as usize);
            next = p.parent();
        }
        rev.reverse();
        rev
    };
    BfsResult {
        first: first.iter().map(|f| f.map(path_to)).collect(),
        relevant,
        unique: parents.len(),
        total,
        max_depth,
        cuts,
        complete,
    }
}

// ------------------------------------------------------------------ simulation

/// A small deterministic generator (SplitMix64): the walks depend on the seed only.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap_or(u64::MAX)).unwrap_or(0)
    }
}

/// The longest walk: every scenario's script ends far earlier (the request budgets bound it).
pub const MAX_WALK: usize = 1_000;

/// `walks` random walks over `m` from `seed`: each starts at a random initial state and takes
/// a uniformly random enabled step (a successor within the boundary) until none is left or
/// [`MAX_WALK`] steps. Every `always` property is evaluated in every state of a walk and every
/// `sometimes` one until found; per property the shortest discovering path of all walks is
/// kept (init index, then action indices, as [`walk`] replays them). `unique` counts the
/// distinct states visited; `complete` is false (nothing is exhaustive).
pub fn simulate(m: &EosModel, walks: usize, seed: u64, opts: &CheckOptions) -> BfsResult {
    let props = m.properties();
    let mut first: Vec<Option<Vec<usize>>> = vec![None; props.len()];
    let mut rng = SplitMix(seed);
    let mut seen = FpSet::default();
    let (mut total, mut max_depth) = (0usize, 0usize);
    let inits = m.init_states();
    let start = Instant::now();
    let mut actions = Vec::new();
    let keep = |first: &mut Vec<Option<Vec<usize>>>, i: usize, path: &[usize]| {
        if first[i].as_ref().is_none_or(|f| f.len() > path.len()) {
            first[i] = Some(path.to_vec());
        }
    };
    'walks: for _ in 0..walks {
        if inits.is_empty() {
            break;
        }
        let init = rng.below(inits.len());
        let mut state = inits[init].clone();
        let mut path = vec![init];
        loop {
            total += 1;
            seen.insert(fingerprint(&state));
            max_depth = max_depth.max(path.len());
            for (i, p) in props.iter().enumerate() {
                let found = match p.expectation {
                    Expectation::Always => !(p.condition)(m, &state),
                    Expectation::Sometimes => (p.condition)(m, &state),
                    Expectation::Eventually => false,
                };
                if found {
                    keep(&mut first, i, &path);
                }
            }
            if path.len() > MAX_WALK
                || opts.max_states.is_some_and(|n| total >= n)
                || opts.timeout.is_some_and(|t| start.elapsed() >= t)
            {
                if path.len() > MAX_WALK {
                    continue 'walks;
                }
                break 'walks;
            }
            m.actions(&state, &mut actions);
            let mut order: Vec<usize> = (0..actions.len()).collect();
            let mut next = None;
            while !order.is_empty() {
                let k = order.swap_remove(rng.below(order.len()));
                let Some(a) = actions.get(k).cloned() else {
                    continue;
                };
                if let Some(s) = m.next_state(&state, a) {
                    if m.within_boundary(&s) {
                        next = Some((k, s));
                        break;
                    }
                }
            }
            actions.clear();
            let Some((k, s)) = next else {
                continue 'walks;
            };
            path.push(k);
            state = s;
        }
    }
    BfsResult {
        first,
        relevant: vec![None; props.len()],
        unique: seen.len(),
        total,
        max_depth,
        cuts: BudgetCuts::default(),
        complete: false,
    }
}

// ------------------------------------------------------------------ running

pub use super::EosAction;

/// The states and actions along an action-index path (init index first): `(state before,
/// action)` per step, and the final state.
pub fn walk(m: &EosModel, path: &[usize]) -> Option<(Vec<(EosState, EosAction)>, EosState)> {
    let (init, rest) = path.split_first()?;
    let mut state = m.init_states().into_iter().nth(*init)?;
    let mut steps = Vec::new();
    for i in rest {
        let mut actions = Vec::new();
        m.actions(&state, &mut actions);
        let a = actions.into_iter().nth(*i)?;
        let next = m.next_state(&state, a.clone())?;
        steps.push((state, a));
        state = next;
    }
    Some((steps, state))
}

/// One step in words; a request timeout also says what the request was.
fn step_words(m: &EosModel, before: &EosState, a: &EosAction) -> String {
    let mut text = render_action(m, a);
    if let ActorModelAction::Timeout(id, Timer::RequestTimeout(r)) = a {
        if let Some(what) = timed_out_request(before, *id, *r) {
            let _ = write!(text, " [#{r} was {what}]");
        }
    }
    text
}

/// The final state of a counterexample: partitions (log with offsets, HW, LSO, producer
/// table), what a read_committed consumer returns from each, the coordinator, and the
/// producers (what their applications were told).
pub fn final_state_text(m: &EosModel, s: &EosState) -> String {
    let mut t = String::new();
    let names: Vec<String> = m
        .actors
        .iter()
        .map(stateright::actor::Actor::name)
        .collect();
    let np = producers(s).len();
    for (i, p) in partitions(s).iter().enumerate() {
        let name = names.get(np + i).cloned().unwrap_or_default();
        t.push_str(&partition_text(&name, p));
        let rc: Vec<String> = p
            .read_committed()
            .iter()
            .map(|(o, r)| format!("r{r}@{o}"))
            .collect();
        let _ = writeln!(
            t,
            "  read_committed returns: {}",
            if rc.is_empty() {
                "nothing".to_string()
            } else {
                rc.join(" ")
            }
        );
    }
    if let Some(c) = coordinator(s) {
        t.push_str(&coordinator_text("coordinator", c));
    }
    for (i, p) in producers(s).iter().enumerate() {
        t.push_str(&producer_text(&format!("producer-{}", i + 1), p));
    }
    t
}

/// The command that opens `encoded` in the Explorer for `scenario`.
pub fn explore_command(scenario: &Scenario, encoded: &str) -> String {
    let mut c = format!(
        "kafka-eos explore {} --protocol {}",
        scenario.name, scenario.protocol
    );
    for b in &scenario.bugs {
        let _ = write!(c, " --bug {}", b.info().name);
    }
    let _ = write!(c, " --path {encoded}");
    c
}

fn encode(path: &[usize]) -> String {
    path.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("/")
}

/// Cuts `path` at the first state where `always` property `condition` fails (for
/// stateright's checkers, which keep the last violating state they visit).
fn cut_at_first_violation(
    m: &EosModel,
    path: Vec<usize>,
    condition: fn(&EosModel, &EosState) -> bool,
) -> Vec<usize> {
    for len in 1..=path.len() {
        if let Some((_, s)) = walk(m, &path[..len]) {
            if !condition(m, &s) {
                return path[..len].to_vec();
            }
        }
    }
    path
}

/// Runs the checker on `scenario`.
pub fn run(scenario: &Scenario, opts: &CheckOptions) -> Report {
    let start = Instant::now();
    let mut m = model(scenario);
    let props: Vec<Property<EosModel>>;
    let found: Vec<Option<Vec<usize>>>;
    let relevant_states: Vec<Option<usize>>;
    let relevance_reached: Vec<Option<bool>>;
    let (unique, total, max_depth, complete, cuts);
    if let Some(walks) = opts.simulate {
        props = m.properties();
        let r = simulate(&m, walks, opts.seed, opts);
        found = r.first;
        relevance_reached = vec![None; props.len()];
        relevant_states = vec![None; props.len()];
        unique = r.unique;
        total = r.total;
        max_depth = r.max_depth;
        complete = false;
        cuts = None;
    } else if opts.own_bfs() {
        props = m.properties();
        let r = bfs(&m, opts);
        found = r.first;
        relevance_reached = r.relevant.iter().map(|c| c.map(|n| n > 0)).collect();
        relevant_states = r.relevant;
        unique = r.unique;
        total = r.total;
        max_depth = r.max_depth;
        complete = r.complete;
        cuts = Some(r.cuts);
    } else {
        m.properties = properties_with_relevance(scenario);
        let all = m.properties();
        let mut builder = m.clone().checker().threads(opts.threads.max(1));
        if let Some(n) = opts.max_states {
            builder = builder.target_state_count(n);
        }
        if let Some(t) = opts.timeout {
            builder = builder.timeout(t);
        }
        let mut checker: Box<dyn Checker<EosModel>> = if opts.dfs {
            Box::new(builder.spawn_dfs())
        } else {
            Box::new(builder.spawn_bfs())
        };
        if opts.progress {
            let mut tick = Instant::now();
            while !checker.is_done() {
                std::thread::sleep(Duration::from_millis(20));
                if tick.elapsed() < Duration::from_secs(1) {
                    continue;
                }
                tick = Instant::now();
                let _ = writeln!(
                    std::io::stderr(),
                    "checking {}: states={} unique={} depth={}",
                    scenario.name,
                    checker.state_count(),
                    checker.unique_state_count(),
                    checker.max_depth(),
                );
            }
        }
        for h in checker.handles() {
            if h.join().is_err() {
                eprintln!("a checker thread panicked");
            }
        }
        total = checker.state_count();
        let elapsed = start.elapsed();
        complete = !(opts.max_states.is_some_and(|n| total >= n)
            || opts
                .timeout
                .is_some_and(|t| elapsed >= t && opts.threads > 1));
        let discoveries = checker.discoveries();
        let n = properties_of_len(scenario);
        props = all.iter().take(n).cloned().collect();
        found = props
            .iter()
            .map(|p| {
                discoveries.get(p.name).map(|path| {
                    let mut indices = Vec::new();
                    // stateright's encoding: init index, then action indices.
                    for part in path.encode(&m).split('/') {
                        if let Ok(i) = part.parse() {
                            indices.push(i);
                        }
                    }
                    if p.expectation == Expectation::Always {
                        cut_at_first_violation(&m, indices, p.condition)
                    } else {
                        indices
                    }
                })
            })
            .collect();
        relevance_reached = props
            .iter()
            .map(|p| {
                always_property(p.name)
                    .filter(|_| p.expectation == Expectation::Always)
                    .map(|a| discoveries.contains_key(a.relevance_probe))
            })
            .collect();
        relevant_states = vec![None; props.len()];
        unique = checker.unique_state_count();
        max_depth = checker.max_depth();
        cuts = None;
    }
    let elapsed = start.elapsed();
    verdicts(
        &m,
        scenario,
        opts,
        Run {
            props,
            found,
            relevant_states,
            relevance_reached,
            unique,
            total,
            max_depth,
            complete,
            cuts,
            elapsed,
        },
    )
}

fn properties_of_len(scenario: &Scenario) -> usize {
    super::properties::properties_of(scenario).len()
}

/// What an engine returned.
struct Run {
    props: Vec<Property<EosModel>>,
    found: Vec<Option<Vec<usize>>>,
    relevant_states: Vec<Option<usize>>,
    relevance_reached: Vec<Option<bool>>,
    unique: usize,
    total: usize,
    max_depth: usize,
    complete: bool,
    cuts: Option<BudgetCuts>,
    elapsed: Duration,
}

fn verdicts(m: &EosModel, scenario: &Scenario, opts: &CheckOptions, r: Run) -> Report {
    let expected_broken = scenario.expected_broken();
    let no_bug = scenario.bugs.is_empty();
    let probes_expected = scenario.protocol == Protocol::Tv2 && no_bug;
    let completion: Vec<&str> = (0..scenario.producers.len())
        .filter_map(super::properties::completion_probe)
        .map(|(n, _)| n)
        .collect();
    let complete = r.complete;
    let mut properties = Vec::new();
    for (i, p) in r.props.iter().enumerate() {
        let always = p.expectation == Expectation::Always;
        let path = r.found.get(i).cloned().flatten();
        let reached = r.relevance_reached.get(i).copied().flatten();
        let irrelevant = scenario.irrelevance(p.name);
        let outcome = match (always, path.is_some(), complete) {
            (true, true, _) => Outcome::Counterexample,
            (false, true, _) => Outcome::ExampleFound,
            (_, false, false) => Outcome::Unknown,
            (true, false, true) if reached == Some(false) => Outcome::Vacuous,
            (true, false, true) => Outcome::Holds,
            (false, false, true) => Outcome::NotReached,
        };
        let simulated = opts.simulate.is_some();
        let (as_expected, expected) = if simulated {
            // Random walks: a counterexample is real, a miss proves nothing.
            if always && expected_broken.contains(&p.name) {
                (outcome == Outcome::Counterexample, "counterexample")
            } else if always {
                (outcome != Outcome::Counterexample, "no counterexample")
            } else {
                (true, "any (informational)")
            }
        } else if always {
            if expected_broken.contains(&p.name) {
                (outcome == Outcome::Counterexample, "counterexample")
            } else if irrelevant.is_some() {
                (
                    matches!(outcome, Outcome::Holds | Outcome::Vacuous),
                    "holds (maybe vacuously: declared irrelevant)",
                )
            } else {
                (outcome == Outcome::Holds, "holds (non-vacuously)")
            }
        } else if (completion.contains(&p.name) && no_bug && irrelevant.is_none())
            || (probes_expected && !completion.contains(&p.name))
        {
            (outcome == Outcome::ExampleFound, "example found")
        } else {
            (outcome != Outcome::Unknown, "any (informational)")
        };
        let (steps, encoded) = match (&path, always) {
            (Some(path), true) => {
                let steps = walk(m, path)
                    .map(|(steps, _)| {
                        steps
                            .iter()
                            .map(|(before, a)| step_words(m, before, a))
                            .collect()
                    })
                    .unwrap_or_default();
                (steps, Some(encode(path)))
            }
            (Some(path), false) => (Vec::new(), Some(encode(path))),
            (None, _) => (Vec::new(), None),
        };
        properties.push((
            path,
            PropertyResult {
                name: p.name,
                always,
                outcome,
                as_expected,
                expected,
                relevant_states: r.relevant_states.get(i).copied().flatten(),
                relevance_reached: if always { reached } else { None },
                irrelevant,
                steps,
                encoded,
                trace: None,
            },
        ));
    }
    properties.sort_by(|a, b| a.1.name.cmp(b.1.name));
    // One counterexample per distinct path, naming every property it breaks first.
    let mut traces: BTreeMap<Vec<usize>, usize> = BTreeMap::new();
    let mut counterexamples: Vec<Counterexample> = Vec::new();
    for (path, p) in properties.iter_mut() {
        let (Some(path), true) = (path.as_ref(), p.always) else {
            continue;
        };
        let n = *traces.entry(path.clone()).or_insert_with(|| {
            let final_state = walk(m, path).map(|(_, s)| s);
            let encoded = encode(path);
            counterexamples.push(Counterexample {
                properties: Vec::new(),
                explore: explore_command(scenario, &encoded),
                encoded,
                steps: p.steps.clone(),
                final_state: final_state
                    .as_ref()
                    .map(|s| final_state_text(m, s))
                    .unwrap_or_default(),
                breaks: Vec::new(),
            });
            counterexamples.len() - 1
        });
        p.trace = Some(n);
        if let Some(c) = counterexamples.get_mut(n) {
            c.properties.push(p.name);
            let witness = walk(m, path)
                .and_then(|(_, s)| always_property(p.name).map(|a| (a.witness)(m, &s)))
                .unwrap_or_default();
            c.breaks.push((p.name, witness));
        }
    }
    Report {
        scenario: scenario.clone(),
        complete,
        unique_states: r.unique,
        total_states: r.total,
        max_depth: r.max_depth,
        elapsed: r.elapsed,
        properties: properties.into_iter().map(|(_, p)| p).collect(),
        counterexamples,
        cuts: r.cuts,
        strategy: if opts.simulate.is_some() {
            "simulate"
        } else if opts.dfs {
            "dfs"
        } else {
            "bfs"
        },
        threads: opts.threads.max(1),
    }
}

/// The global state reached by replaying an encoded path (for tests and debugging).
pub fn replay(m: &EosModel, encoded: &str) -> Option<EosState> {
    let path: Vec<usize> = encoded
        .split('/')
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<usize>>>()?;
    walk(m, &path).map(|(_, s)| s)
}

/// Whether `actor` is a producer of the model (used by tests of the wrapper).
pub fn is_producer(m: &EosModel, id: Id) -> bool {
    matches!(m.actors.get(usize::from(id)), Some(EosActor::Producer(_)))
}

/// Every `always` property's name, in table order.
pub fn always_names() -> Vec<&'static str> {
    ALWAYS.iter().map(|p| p.name).collect()
}
