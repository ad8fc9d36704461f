//! Running the checker on a scenario and rendering its result: verdicts per property,
//! counterexamples as numbered steps in the protocol's words, counts, and whether every
//! verdict is the one the scenario and its bug switches expect.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stateright::actor::Id;
use stateright::{Checker, Expectation, Model};

use super::actors::EosActor;
use super::scenario::{Protocol, Scenario};
use super::{model, EosModel, EosState};
use crate::render::render_action;

/// How to run the checker.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Depth-first instead of breadth-first (BFS gives shortest counterexamples).
    pub dfs: bool,
    /// Checker threads (1 = deterministic counts and paths).
    pub threads: usize,
    /// Stop after about this many generated states (the run is then incomplete).
    pub max_states: Option<usize>,
    /// Stop after this long (honoured with 2+ threads only; the run is then incomplete).
    pub timeout: Option<Duration>,
    /// Print progress lines to stderr every second.
    pub progress: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            dfs: false,
            threads: 1,
            max_states: None,
            timeout: None,
            progress: false,
        }
    }
}

/// The verdict on one property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `always`: no counterexample in a complete run.
    Holds,
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
            Outcome::Counterexample => "counterexample",
            Outcome::ExampleFound => "example found",
            Outcome::NotReached => "NOT reached",
            Outcome::Unknown => "unknown (run cut short)",
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
    /// The discovery's steps, rendered.
    pub steps: Vec<String>,
    /// The discovery's action-index path (Explorer's `#/steps/...`).
    pub encoded: Option<String>,
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
    /// Checker strategy.
    pub strategy: &'static str,
    /// Threads.
    pub threads: usize,
}

impl Report {
    /// Complete, and every verdict as expected.
    pub fn ok(&self) -> bool {
        self.complete && self.properties.iter().all(|p| p.as_expected)
    }

    /// The deterministic summary (no timings): what snapshots record.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let s = &self.scenario;
        let bugs: Vec<&str> = s.bugs.iter().map(|b| b.info().name).collect();
        out.push_str(&format!("scenario: {}\n", s.name));
        out.push_str(&format!("protocol: {}\n", s.protocol));
        out.push_str(&format!(
            "bugs: {}\n",
            if bugs.is_empty() {
                "none".to_string()
            } else {
                bugs.join(", ")
            }
        ));
        out.push_str(&format!("bounds: {}\n", s.bounds()));
        out.push_str(&format!(
            "checker: {} threads={}\n",
            self.strategy, self.threads
        ));
        out.push_str(&format!("complete: {}\n", self.complete));
        out.push_str(&format!(
            "states: unique={} total={}\n",
            self.unique_states, self.total_states
        ));
        for p in &self.properties {
            out.push_str(&format!(
                "{}: {}{}\n",
                p.name,
                p.outcome.word(),
                if p.as_expected {
                    String::new()
                } else {
                    format!("  (UNEXPECTED: expected {})", p.expected)
                }
            ));
            if p.outcome == Outcome::Counterexample
                || (p.outcome == Outcome::ExampleFound && !p.steps.is_empty() && p.always)
            {
                for (i, step) in p.steps.iter().enumerate() {
                    out.push_str(&format!("  {}. {}\n", i + 1, step));
                }
                if let Some(e) = &p.encoded {
                    out.push_str(&format!("  path: {e}\n"));
                }
            }
        }
        out.push_str(&format!(
            "verdict: {}\n",
            if self.ok() {
                "as expected"
            } else if !self.complete {
                "INCOMPLETE"
            } else {
                "UNEXPECTED"
            }
        ));
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
            "checker": self.strategy,
            "threads": self.threads,
            "complete": self.complete,
            "unique_states": self.unique_states,
            "total_states": self.total_states,
            "max_depth": self.max_depth,
            "seconds": self.elapsed.as_secs_f64(),
            "ok": self.ok(),
            "properties": self.properties.iter().map(|p| json!({
                "name": p.name,
                "expectation": if p.always { "always" } else { "sometimes" },
                "verdict": p.outcome.word(),
                "expected": p.expected,
                "as_expected": p.as_expected,
                "steps": p.steps,
                "path": p.encoded,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Runs the checker on `scenario`.
pub fn run(scenario: &Scenario, opts: &CheckOptions) -> Report {
    let m = model(scenario);
    let expected_broken = scenario.expected_broken();
    let probes_expected = scenario.protocol == Protocol::Tv2 && scenario.bugs.is_empty();
    let mut builder = m.clone().checker().threads(opts.threads.max(1));
    if let Some(n) = opts.max_states {
        builder = builder.target_state_count(n);
    }
    if let Some(t) = opts.timeout {
        builder = builder.timeout(t);
    }
    let start = Instant::now();
    let mut checker: Box<dyn Checker<EosModel>> = if opts.dfs {
        Box::new(builder.spawn_dfs())
    } else {
        Box::new(builder.spawn_bfs())
    };
    if opts.progress {
        let mut last = 0usize;
        let mut err = std::io::stderr();
        let mut tick = Instant::now();
        while !checker.is_done() {
            std::thread::sleep(Duration::from_millis(20));
            if tick.elapsed() < Duration::from_secs(1) {
                continue;
            }
            tick = Instant::now();
            let unique = checker.unique_state_count();
            let _ = writeln!(
                err,
                "checking {}: states={} unique={} depth={} rate={}/s",
                scenario.name,
                checker.state_count(),
                unique,
                checker.max_depth(),
                unique.saturating_sub(last)
            );
            last = unique;
        }
    }
    for h in checker.handles() {
        if h.join().is_err() {
            eprintln!("a checker thread panicked");
        }
    }
    let elapsed = start.elapsed();
    let total = checker.state_count();
    let truncated = opts.max_states.is_some_and(|n| total >= n)
        || opts
            .timeout
            .is_some_and(|t| elapsed >= t && opts.threads > 1);
    let complete = !truncated;
    let discoveries = checker.discoveries();
    let mut properties: Vec<PropertyResult> = m
        .properties()
        .into_iter()
        .map(|p| {
            let always = p.expectation == Expectation::Always;
            let found = discoveries.get(p.name);
            let outcome = match (always, found.is_some(), complete) {
                (true, true, _) => Outcome::Counterexample,
                (false, true, _) => Outcome::ExampleFound,
                (_, false, false) => Outcome::Unknown,
                (true, false, true) => Outcome::Holds,
                (false, false, true) => Outcome::NotReached,
            };
            let (as_expected, expected) = if always {
                if expected_broken.contains(&p.name) {
                    (outcome == Outcome::Counterexample, "counterexample")
                } else {
                    (outcome == Outcome::Holds, "holds")
                }
            } else if probes_expected {
                (outcome == Outcome::ExampleFound, "example found")
            } else {
                (outcome != Outcome::Unknown, "any (informational)")
            };
            let (steps, encoded) = match found {
                Some(path) => {
                    let steps = path
                        .clone()
                        .into_actions()
                        .iter()
                        .map(|a| render_action(&m, a))
                        .collect();
                    (steps, Some(path.encode(&m)))
                }
                None => (Vec::new(), None),
            };
            PropertyResult {
                name: p.name,
                always,
                outcome,
                as_expected,
                expected,
                steps,
                encoded,
            }
        })
        .collect();
    properties.sort_by(|a, b| a.name.cmp(b.name));
    Report {
        scenario: scenario.clone(),
        complete,
        unique_states: checker.unique_state_count(),
        total_states: total,
        max_depth: checker.max_depth(),
        elapsed,
        properties,
        strategy: if opts.dfs { "dfs" } else { "bfs" },
        threads: opts.threads.max(1),
    }
}

/// The global state reached by replaying an encoded path (for tests and debugging).
pub fn replay(m: &EosModel, encoded: &str) -> Option<EosState> {
    let mut parts = encoded.split('/');
    let init: usize = parts.next()?.parse().ok()?;
    let mut state = m.init_states().into_iter().nth(init)?;
    for p in parts {
        let i: usize = p.parse().ok()?;
        let mut actions = Vec::new();
        m.actions(&state, &mut actions);
        let a = actions.into_iter().nth(i)?;
        state = m.next_state(&state, a)?;
    }
    Some(state)
}

/// Whether `actor` is a producer of the model (used by tests of the wrapper).
pub fn is_producer(m: &EosModel, id: Id) -> bool {
    matches!(m.actors.get(usize::from(id)), Some(EosActor::Producer(_)))
}
