//! `kafka-eos explore`: stateright's Explorer over a scenario, in the protocol's words.
//!
//! The Explorer renders actions with `Model::format_action`, the selected step with
//! `Model::format_step`, the state with its `Debug` output and the sequence diagram with
//! `Model::as_svg`. The model's [`EosModel`] would show Rust internals (`Id(3)`, boxed core
//! structs), so [`ExplorerModel`] wraps it: it delegates `init_states`, `actions` (same order,
//! so a path printed by `kafka-eos check` opens unchanged), `next_state`, `within_boundary` and
//! the properties, and overrides only the rendering, which comes from [`crate::render`].
//! [`SystemView`] is the state newtype whose `Debug` is the compact protocol view (a partition
//! as its log with offsets, HW, LSO and producer table; the coordinator as its metadata per
//! transactional id; the producers as their client state; the messages in flight and the armed
//! timers).
//!
//! Every state and step names the scenario, protocol and bug switches, and says which
//! `always` properties the state violates. Opened on a path (`--path`,
//! [`ExplorerModel::with_path`]), the Explorer judges the `always` properties on that path
//! only (their names say so): a property is violated in the Explorer's panel iff a state of
//! the path violates it, and the check runs to completion at start, so the panel shows the
//! path's counterexamples as counterexamples (stateright's own panel otherwise reports only
//! what its on-demand checker found, and "Safety holds" before that).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::{self, Write as _};

use std::collections::HashSet;
use std::sync::Arc;

use stateright::actor::{Actor, ActorModelAction, Command, Id, Out};
use stateright::{Expectation, Model, Path, Property};

use crate::model::actors::{ActorState, Choice, EosActor, Msg, Timer};
use crate::model::check::{fingerprint, walk};
use crate::model::scenario::Scenario;
use crate::model::{EosModel, EosState};
use crate::render::{actor_text, choice_words, name_of, render_action, system_text, timer_words};

/// The action type shared with the model.
pub type EosAction = ActorModelAction<Msg, Timer, Choice>;

/// What every view of one model shares: actor names, the title line, the model (to judge
/// the properties of a shown state).
pub struct ViewContext {
    names: Vec<String>,
    title: String,
    model: EosModel,
}

/// The global state, with a `Debug` that reads like the protocol (what the Explorer shows
/// under "Complete State?").
#[derive(Clone)]
pub struct SystemView {
    /// The model's state.
    pub state: EosState,
    /// Shared rendering context (equal for every state of one model).
    ctx: Arc<ViewContext>,
}

impl PartialEq for SystemView {
    fn eq(&self, other: &Self) -> bool {
        self.state == other.state
    }
}

impl std::hash::Hash for SystemView {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.state.hash(h);
    }
}

impl fmt::Debug for SystemView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.ctx.title)?;
        f.write_str("\n")?;
        f.write_str(&verdict_line(&self.ctx.model, &self.state))?;
        f.write_str("\n")?;
        f.write_str(&system_text(&self.ctx.names, &self.state))
    }
}

/// One line: the `always` properties `state` violates, or that it violates none.
pub fn verdict_line(m: &EosModel, state: &EosState) -> String {
    let props = m.properties();
    let always: Vec<&Property<EosModel>> = props
        .iter()
        .filter(|p| p.expectation == Expectation::Always)
        .collect();
    let violated: Vec<&str> = always
        .iter()
        .filter(|p| !(p.condition)(m, state))
        .map(|p| p.name)
        .collect();
    if violated.is_empty() {
        format!(
            "properties here: all {} safety properties hold",
            always.len()
        )
    } else {
        format!(
            "properties here: VIOLATED: {}; the other {} hold",
            violated.join(", "),
            always.len() - violated.len()
        )
    }
}

/// The title line: scenario, protocol and bug switches.
pub fn title(scenario: &Scenario) -> String {
    let bugs: Vec<&str> = scenario.bugs.iter().map(|b| b.info().name).collect();
    format!(
        "scenario {} (protocol {}, bugs: {})",
        scenario.name,
        scenario.protocol,
        if bugs.is_empty() {
            "none".to_string()
        } else {
            bugs.join(", ")
        }
    )
}

/// The path the Explorer was opened on.
struct Pinned {
    /// Its states' fingerprints.
    states: HashSet<u64>,
    /// Its action indices (init index first).
    path: Vec<usize>,
}

/// The Explorer's model: the scenario's [`EosModel`] with protocol-level rendering.
pub struct ExplorerModel {
    /// The wrapped actor model.
    pub inner: EosModel,
    props: Vec<Property<EosModel>>,
    names: Vec<&'static str>,
    ctx: Arc<ViewContext>,
    pinned: Option<Pinned>,
}

impl ExplorerModel {
    /// Wraps the model of `scenario`.
    pub fn new(scenario: &Scenario) -> ExplorerModel {
        let inner = crate::model::model(scenario);
        let props = inner.properties();
        let names = props.iter().map(|p| p.name).collect();
        let ctx = Arc::new(ViewContext {
            names: inner.actors.iter().map(Actor::name).collect(),
            title: title(scenario),
            model: inner.clone(),
        });
        ExplorerModel {
            inner,
            props,
            names,
            ctx,
            pinned: None,
        }
    }

    /// The same Explorer, opened on `encoded` (a path printed by `check`): its `always`
    /// properties are judged on that path's states only, and say so in their names.
    pub fn with_path(mut self, encoded: &str) -> ExplorerModel {
        let path: Vec<usize> = encoded
            .trim_matches('/')
            .split('/')
            .filter_map(|p| p.parse().ok())
            .collect();
        let mut states = HashSet::new();
        if let Some((steps, last)) = walk(&self.inner, &path) {
            for (s, _) in &steps {
                states.insert(fingerprint(s));
            }
            states.insert(fingerprint(&last));
        }
        self.names = self
            .props
            .iter()
            .map(|p| {
                if p.expectation == Expectation::Always {
                    &*Box::leak(format!("{} (judged on the opened path)", p.name).into_boxed_str())
                } else {
                    p.name
                }
            })
            .collect();
        self.pinned = Some(Pinned { states, path });
        self
    }

    /// Whether the Explorer was opened on a path.
    pub fn is_pinned(&self) -> bool {
        self.pinned.is_some()
    }

    /// The `always` properties some state of the opened path violates, with the first step
    /// (0 = the initial state) where each does.
    pub fn violated_on_path(&self) -> Vec<(&'static str, usize)> {
        let Some(pin) = &self.pinned else {
            return Vec::new();
        };
        let Some((steps, last)) = walk(&self.inner, &pin.path) else {
            return Vec::new();
        };
        let states: Vec<&EosState> = steps.iter().map(|(s, _)| s).chain([&last]).collect();
        self.props
            .iter()
            .filter(|p| p.expectation == Expectation::Always)
            .filter_map(|p| {
                states
                    .iter()
                    .position(|s| !(p.condition)(&self.inner, s))
                    .map(|i| (p.name, i))
            })
            .collect()
    }

    fn view(&self, state: EosState) -> SystemView {
        SystemView {
            state,
            ctx: self.ctx.clone(),
        }
    }

    fn name(&self, id: Id) -> String {
        name_of(&self.ctx.names, id)
    }

    /// Runs the acting actor's callback for `action` on `last` (as stateright does for its
    /// own `format_step`): the actor, its state before, after (if changed) and its commands.
    fn step_of(
        &self,
        last: &EosState,
        action: &EosAction,
    ) -> Option<(Id, ActorState, Option<ActorState>, Out<EosActor>)> {
        let (id, run): (Id, &Callback) = match action {
            ActorModelAction::Deliver { src, dst, msg } => {
                (*dst, &move |a: &EosActor,
                              s: &mut Cow<ActorState>,
                              o: &mut Out<EosActor>| {
                    a.on_msg(*dst, s, *src, msg.clone(), o)
                })
            }
            ActorModelAction::Timeout(id, timer) => {
                (*id, &move |a: &EosActor,
                             s: &mut Cow<ActorState>,
                             o: &mut Out<EosActor>| {
                    a.on_timeout(*id, s, timer, o)
                })
            }
            ActorModelAction::SelectRandom { actor, random, .. } => (
                *actor,
                &move |a: &EosActor, s: &mut Cow<ActorState>, o: &mut Out<EosActor>| {
                    a.on_random(*actor, s, random, o)
                },
            ),
            _ => return None,
        };
        let index = usize::from(id);
        let before = last.actor_states.get(index)?;
        let actor = self.inner.actors.get(index)?;
        let mut state = Cow::Borrowed(&**before);
        let mut out = Out::new();
        run(actor, &mut state, &mut out);
        let after = match state {
            Cow::Borrowed(_) => None,
            Cow::Owned(s) => Some(s),
        };
        Some((id, (**before).clone(), after, out))
    }
}

/// One actor callback, as `format_step` and the diagram replay it.
type Callback<'a> = dyn Fn(&EosActor, &mut Cow<ActorState>, &mut Out<EosActor>) + 'a;

/// A property of the wrapper that evaluates the wrapped model's property number `I`
/// (stateright's `Property` takes a plain `fn`, so the index is a const parameter).
/// Opened on a path, an `always` property fails only on the path's states.
fn inner_property<const I: usize>(m: &ExplorerModel, s: &SystemView) -> bool {
    let Some(p) = m.props.get(I) else {
        return true;
    };
    let holds = (p.condition)(&m.inner, &s.state);
    match &m.pinned {
        Some(pin) if p.expectation == Expectation::Always => {
            holds || !pin.states.contains(&fingerprint(&s.state))
        }
        _ => holds,
    }
}

macro_rules! condition_table {
    ($($i:literal)*) => {
        [$(inner_property::<$i> as fn(&ExplorerModel, &SystemView) -> bool),*]
    };
}

/// One wrapper condition per property index (more than the model has).
const CONDITIONS: [fn(&ExplorerModel, &SystemView) -> bool; 48] = condition_table!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23
    24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
);

impl Model for ExplorerModel {
    type State = SystemView;
    type Action = EosAction;

    fn init_states(&self) -> Vec<SystemView> {
        self.inner
            .init_states()
            .into_iter()
            .map(|s| self.view(s))
            .collect()
    }

    fn actions(&self, state: &SystemView, actions: &mut Vec<EosAction>) {
        self.inner.actions(&state.state, actions);
    }

    fn next_state(&self, last: &SystemView, action: EosAction) -> Option<SystemView> {
        self.inner
            .next_state(&last.state, action)
            .map(|s| self.view(s))
    }

    fn format_action(&self, action: &EosAction) -> String {
        render_action(&self.inner, action)
    }

    fn format_step(&self, last: &SystemView, action: EosAction) -> Option<String> {
        let mut text = render_action(&self.inner, &action);
        text.push_str("\n\n");
        let _ = writeln!(text, "{}", self.ctx.title);
        if let Some(next) = self.inner.next_state(&last.state, action.clone()) {
            let _ = writeln!(
                text,
                "after this step, {}",
                verdict_line(&self.inner, &next)
            );
        }
        text.push('\n');
        match &action {
            ActorModelAction::Drop(env) => {
                let _ = writeln!(
                    text,
                    "The message from {} to {} is lost; nobody is told.",
                    self.name(env.src),
                    self.name(env.dst)
                );
                return Some(text);
            }
            ActorModelAction::Crash(id) | ActorModelAction::Recover(id) => {
                let _ = writeln!(text, "{} changes liveness.", self.name(*id));
                return Some(text);
            }
            _ => {}
        }
        let (id, before, after, out) = self.step_of(&last.state, &action)?;
        let name = self.name(id);
        let mut effects = Vec::new();
        for c in out {
            match c {
                Command::Send(dst, msg) => {
                    effects.push(format!("sends to {}: {msg:?}", self.name(dst)))
                }
                Command::SetTimer(t, _) => effects.push(format!("arms timer: {}", timer_words(&t))),
                Command::CancelTimer(t) => {
                    effects.push(format!("cancels timer: {}", timer_words(&t)))
                }
                Command::ChooseRandom(_, cs) => effects.push(format!(
                    "the application will choose: {}",
                    cs.iter().map(choice_words).collect::<Vec<_>>().join(" or ")
                )),
                Command::Save(()) => {}
            }
        }
        if effects.is_empty() {
            let _ = writeln!(text, "{name} sends nothing.");
        } else {
            let _ = writeln!(text, "{name}:");
            for e in effects {
                let _ = writeln!(text, "  {e}");
            }
        }
        text.push('\n');
        match after {
            Some(after) => {
                let _ = writeln!(text, "{name} after the step:");
                text.push_str(&actor_text(&name, &after));
                let _ = writeln!(text, "\n{name} before the step:");
                text.push_str(&actor_text(&name, &before));
            }
            None => {
                let _ = writeln!(text, "{name} is unchanged (the step is ignored):");
                text.push_str(&actor_text(&name, &before));
            }
        }
        Some(text)
    }

    fn as_svg(&self, path: Path<SystemView, EosAction>) -> Option<String> {
        Some(sequence_svg(self, path))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        self.props
            .iter()
            .zip(&self.names)
            .zip(CONDITIONS)
            .map(|((p, name), condition)| Property {
                expectation: p.expectation.clone(),
                name,
                condition,
            })
            .collect()
    }

    fn within_boundary(&self, state: &SystemView) -> bool {
        Model::within_boundary(&self.inner, &state.state)
    }
}

/// The Explorer URL of a path printed by `kafka-eos check` (`path: 0/3/1/...`).
pub fn step_url(addr: &str, encoded_path: &str) -> String {
    format!("http://{addr}/#/steps/{}", encoded_path.trim_matches('/'))
}

/// Whether `encoded` is a valid action-index path of `m` (an init index, then action
/// indices), checked before serving so a mistyped path is reported at once.
pub fn path_is_valid(m: &ExplorerModel, encoded: &str) -> bool {
    crate::model::check::replay(&m.inner, encoded.trim_matches('/')).is_some()
}

/// Serves the Explorer for `m` on `addr`; blocks forever (stateright's `serve`). Opened on a
/// path, it also asks its own server to run the check to completion, so the property panel
/// shows the path's counterexamples without a click.
pub fn serve(m: ExplorerModel, addr: &str) {
    if m.is_pinned() {
        let addr = addr.to_string();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for _ in 0..200 {
                if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
                    let _ = write!(
                        s,
                        "POST /.runtocompletion HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let mut sink = Vec::new();
                    let _ = s.read_to_end(&mut sink);
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
    }
    let _ = m.checker().serve(addr);
}

// ------------------------------------------------------------------ sequence diagram

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&#39;")
}

/// The sequence diagram: one timeline per actor (by name), an arrow per delivered message
/// from the step that sent it, labelled with the request or response; circles for timers,
/// application choices and losses, labelled in words.
fn sequence_svg(m: &ExplorerModel, path: Path<SystemView, EosAction>) -> String {
    let names = &m.ctx.names;
    let col = 260u64;
    let row = 34u64;
    let plot = |x: usize, y: usize| (x as u64 * col + 10, y as u64 * row + 30);
    let steps = path.into_vec();
    let width = names.len() as u64 * col + 420;
    let height = steps.len() as u64 * row + 50;
    let mut svg = format!(
        "<svg version='1.1' baseProfile='full' width='{width}' height='{height}' \
         viewbox='-10 -10 {} {}' xmlns='http://www.w3.org/2000/svg'>\
         <defs><marker class='svg-event-shape' id='arrow' markerWidth='12' markerHeight='10' \
         refX='12' refY='5' orient='auto'><polygon points='0 0, 12 5, 0 10' /></marker></defs>",
        width + 10,
        height + 10
    );
    for (i, n) in names.iter().enumerate() {
        let (x, y1) = plot(i, 0);
        let (_, y2) = plot(i, steps.len());
        let _ = write!(
            svg,
            "<line x1='{x}' y1='{y1}' x2='{x}' y2='{y2}' class='svg-actor-timeline' />\
             <text x='{x}' y='{}' class='svg-actor-label'>{}</text>",
            y1.saturating_sub(8),
            escape(n)
        );
    }
    let mut sent_at: HashMap<(Id, Id, Msg), usize> = HashMap::new();
    let mut labels = String::new();
    for (time, (state, action)) in steps.iter().enumerate() {
        let Some(action) = action else { continue };
        let time = time + 1;
        let (actor, label, arrow_from) = match action {
            ActorModelAction::Deliver { src, dst, msg } => {
                let from = sent_at
                    .get(&(*src, *dst, msg.clone()))
                    .copied()
                    .unwrap_or(0);
                (*dst, format!("{msg:?}"), Some((*src, from)))
            }
            ActorModelAction::Timeout(id, t) => (*id, timer_words(t), None),
            ActorModelAction::SelectRandom { actor, random, .. } => (
                *actor,
                format!("application: {}", choice_words(random)),
                None,
            ),
            ActorModelAction::Drop(env) => (env.dst, format!("lost: {:?}", env.msg), None),
            ActorModelAction::Crash(id) => (*id, "crash".to_string(), None),
            ActorModelAction::Recover(id) => (*id, "recover".to_string(), None),
        };
        let (x, y) = plot(usize::from(actor), time);
        match arrow_from {
            Some((src, from)) => {
                let (x1, y1) = plot(usize::from(src), from);
                let _ = write!(
                    svg,
                    "<line x1='{x1}' y1='{y1}' x2='{x}' y2='{y}' marker-end='url(#arrow)' class='svg-event-line' />"
                );
            }
            None => {
                let _ = write!(
                    svg,
                    "<circle cx='{x}' cy='{y}' r='8' class='svg-event-shape' />"
                );
            }
        }
        let _ = write!(
            labels,
            "<text x='{}' y='{}' class='svg-event-label'>{}</text>",
            x + 6,
            y.saturating_sub(4),
            escape(&label)
        );
        if let Some((id, _, _, out)) = m.step_of(&state.state, action) {
            for c in out {
                if let Command::Send(dst, msg) = c {
                    sent_at.insert((id, dst, msg), time);
                }
            }
        }
    }
    svg.push_str(&labels);
    svg.push_str("</svg>");
    svg
}
