//! The checker's HTML report: the summary, and per anomaly its explanation, records and a
//! timeline (one row per process) of the operations that prove it, each drawn from its
//! invocation to its completion. Self-contained: no scripts, no external resources.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{CheckReport, Event, EventType};

/// Anomalies drawn (the rest are counted).
const MAX_DRAWN: usize = 200;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// For each event, its operation's span as event indexes (invocation, completion).
fn spans(events: &[Event]) -> Vec<(usize, usize)> {
    let mut span: Vec<(usize, usize)> = (0..events.len()).map(|i| (i, i)).collect();
    let mut pending: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        match e.kind {
            EventType::Invoke => {
                pending.insert(e.process, i);
            }
            _ => {
                if let Some(inv) = pending.remove(&e.process) {
                    span[inv] = (inv, i);
                    span[i] = (inv, i);
                }
            }
        }
    }
    span
}

/// The timeline of `ids` (event indexes) as an SVG.
fn timeline(events: &[Event], span: &[(usize, usize)], ids: &[usize]) -> String {
    let ops: Vec<(usize, usize)> = {
        let mut v: Vec<(usize, usize)> = ids
            .iter()
            .filter(|&&i| i < events.len())
            .map(|&i| span[i])
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    if ops.is_empty() {
        return String::new();
    }
    let mut procs: Vec<u64> = ops.iter().map(|&(a, _)| events[a].process).collect();
    procs.sort_unstable();
    procs.dedup();
    let t0 = ops.iter().map(|&(a, _)| events[a].time).min().unwrap_or(0);
    let t1 = ops.iter().map(|&(_, b)| events[b].time).max().unwrap_or(0);
    let width = 900.0;
    let left = 90.0;
    let scale =
        |t: u64| left + (width - left - 20.0) * ((t - t0) as f64 / ((t1 - t0).max(1)) as f64);
    let row = 34.0;
    let height = 30.0 + row * procs.len() as f64;
    let mut s = format!(
        "<svg width=\"{width}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\" font-family=\"monospace\" font-size=\"11\">"
    );
    for (k, p) in procs.iter().enumerate() {
        let y = 20.0 + row * k as f64;
        let _ = write!(
            s,
            "<text x=\"4\" y=\"{}\">process {p}</text><line x1=\"{left}\" x2=\"{width}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#ddd\"/>",
            y + 4.0
        );
    }
    for &(a, b) in &ops {
        let e = &events[a];
        let done = &events[b];
        let k = procs.iter().position(|&p| p == e.process).unwrap_or(0);
        let y = 12.0 + row * k as f64;
        let (x0, x1) = (scale(e.time), scale(done.time).max(scale(e.time) + 4.0));
        let color = match done.kind {
            EventType::Ok => "#7bc47f",
            EventType::Fail => "#e06666",
            EventType::Info => "#f6b26b",
            EventType::Invoke => "#999",
        };
        let _ = write!(
            s,
            "<rect x=\"{x0:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"16\" fill=\"{color}\" opacity=\"0.8\"><title>{}</title></rect><text x=\"{:.1}\" y=\"{}\">#{b} {}</text>",
            x1 - x0,
            esc(&done.to_line()),
            // Keep the label inside the drawing.
            (x0 + 2.0).min(width - 110.0),
            y + 27.0,
            esc(done.op.name())
        );
    }
    s.push_str("</svg>");
    s
}

/// The report as one HTML page.
pub fn render(events: &[Event], report: &CheckReport) -> String {
    let span = spans(events);
    let mut h = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>kafka-eos history check</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}code,pre{font-size:12px}.bad{color:#b00}.ok{color:#070}section{margin:1.5em 0;border-top:1px solid #eee}</style></head><body><h1>kafka-eos history check</h1>",
    );
    let (c, a, u) = report.txns;
    let _ = write!(
        h,
        "<p class=\"{}\"><b>{}</b></p><p>{} events, {} sends acknowledged, {} records read; transactions {c} committed, {a} aborted, {u} unknown.</p>",
        if report.valid() { "ok" } else { "bad" },
        if report.valid() { "valid" } else { "INVALID" },
        report.events,
        report.sends_ok,
        report.reads
    );
    for m in &report.malformed {
        let _ = write!(h, "<p class=\"bad\">malformed: {}</p>", esc(m));
    }
    h.push_str("<table><tr><th>anomaly</th><th>count</th><th>model property</th></tr>");
    for (kind, n) in report.counts() {
        let _ = write!(
            h,
            "<tr><td><a href=\"#{0}\">{0}</a></td><td>{n}</td><td>{1}</td></tr>",
            kind.name(),
            esc(kind.property().unwrap_or("none: Kafka allows it"))
        );
    }
    h.push_str("</table>");
    let mut last = None;
    for (k, an) in report.anomalies.iter().enumerate().take(MAX_DRAWN) {
        if last != Some(an.kind) {
            let _ = write!(h, "<h2 id=\"{0}\">{0}</h2>", an.kind.name());
            last = Some(an.kind);
        }
        let _ = write!(
            h,
            "<section><p>{}. {}</p><p>records: ",
            k + 1,
            esc(&an.explanation)
        );
        for r in &an.records {
            let _ = write!(
                h,
                "<code>p{} @{} = {}</code> ",
                r.partition,
                r.offset.map_or("?".to_string(), |o| o.to_string()),
                r.value
            );
        }
        h.push_str("</p>");
        h.push_str(&timeline(events, &span, &an.events));
        h.push_str("<pre>");
        for &i in &an.events {
            if let Some(e) = events.get(i) {
                let _ = writeln!(h, "#{i} {}", esc(&e.to_line()));
            }
        }
        h.push_str("</pre></section>");
    }
    if report.anomalies.len() > MAX_DRAWN {
        let _ = write!(
            h,
            "<p>... and {} more (see --json)</p>",
            report.anomalies.len() - MAX_DRAWN
        );
    }
    h.push_str("</body></html>\n");
    h
}
