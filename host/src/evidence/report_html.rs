//! `report.html`: the report for people, self-contained (inline CSS and
//! SVG, no script, no external asset), rendered from [`Report`] alone so
//! that it says nothing `report.json` (the signed document) does not.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::report::Report;

/// Colours of the chart's categories, in order (cycled).
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// Escape text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A two-column table of counts.
fn table(out: &mut String, title: &str, head: &str, rows: &BTreeMap<String, u64>) {
    let _ = write!(
        out,
        "<h3>{}</h3><table><tr><th>{}</th><th>events</th></tr>",
        esc(title),
        esc(head)
    );
    for (k, v) in rows {
        let _ = write!(out, "<tr><td>{}</td><td class=n>{v}</td></tr>", esc(k));
    }
    out.push_str("</table>");
}

/// Stacked bars of daily event counts by category, as inline SVG.
fn chart(report: &Report) -> String {
    let days = &report.daily;
    if days.is_empty() {
        return "<p>No events in the period.</p>".into();
    }
    let cats: BTreeSet<&String> = days.values().flat_map(|d| d.keys()).collect();
    let max = days
        .values()
        .map(|d| d.values().sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1);
    let (h, bar) = (200.0, (900.0 / days.len() as f64).clamp(2.0, 40.0));
    let width = bar * days.len() as f64 + 60.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{}\" \
         role=\"img\" aria-label=\"daily events by category\">",
        h + 40.0
    );
    let _ = write!(svg, "<text x=\"0\" y=\"12\" font-size=\"11\">{max}</text>");
    for (i, (day, counts)) in days.iter().enumerate() {
        let x = 50.0 + i as f64 * bar;
        let mut y = h + 10.0;
        for (c, cat) in cats.iter().enumerate() {
            let n = counts.get(*cat).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let bh = n as f64 / max as f64 * h;
            y -= bh;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\">\
                 <title>{} {}: {n}</title></rect>",
                (bar - 1.0).max(1.0),
                PALETTE[c % PALETTE.len()],
                esc(day),
                esc(cat)
            );
        }
    }
    let first = days.keys().next().map(String::as_str).unwrap_or_default();
    let last = days
        .keys()
        .next_back()
        .map(String::as_str)
        .unwrap_or_default();
    let _ = write!(
        svg,
        "<text x=\"50\" y=\"{:.0}\" font-size=\"11\">{}</text>\
         <text x=\"{:.0}\" y=\"{:.0}\" font-size=\"11\" text-anchor=\"end\">{}</text></svg>",
        h + 28.0,
        esc(first),
        width - 10.0,
        h + 28.0,
        esc(last)
    );
    svg.push_str("<p class=legend>");
    for (c, cat) in cats.iter().enumerate() {
        let _ = write!(
            svg,
            "<span><i style=\"background:{}\"></i>{}</span> ",
            PALETTE[c % PALETTE.len()],
            esc(cat)
        );
    }
    svg.push_str("</p>");
    svg
}

/// The whole page.
pub fn render(report: &Report) -> String {
    let mut o = String::with_capacity(64 << 10);
    let from = report
        .period
        .get("from")
        .map(String::as_str)
        .unwrap_or_default();
    let to = report
        .period
        .get("to")
        .map(String::as_str)
        .unwrap_or_default();
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>\
         <title>Audit report {fw} {from} to {to}</title><style>\
         body{{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:1100px}}\
         table{{border-collapse:collapse;margin:.5em 0}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}\
         td.n{{text-align:right}}code{{word-break:break-all}}.legend i{{display:inline-block;width:10px;height:10px;margin-right:4px}}\
         .warn{{color:#a00}}</style></head><body>\
         <h1>Audit report: {fw}</h1><p>Period {from} to {to} (exclusive). Generated {gen}. \
         The signed document is <code>report.json</code>; this page is a rendering of it.</p>",
        fw = esc(&report.framework),
        from = esc(from),
        to = esc(to),
        gen = esc(&report.generated_at),
    );
    let c = &report.checkpoint;
    let _ = write!(
        o,
        "<h2>Checkpoint covered</h2><p>Log <code>{}</code>, {} events, root <code>{}</code></p><pre>{}</pre>",
        esc(&c.origin),
        c.size,
        esc(&c.root),
        esc(&c.note)
    );
    let e = &report.events;
    let _ = write!(o, "<h2>Events</h2><p>{} events in the period.</p>", e.total);
    o.push_str(&chart(report));
    table(&mut o, "By category", "category", &e.by_category);
    table(&mut o, "By action", "action", &e.by_action);
    table(&mut o, "By outcome", "outcome", &e.by_outcome);
    let _ = write!(o, "<h2>Controls: {}</h2>", esc(&report.framework));
    table(
        &mut o,
        "Controls with evidence",
        "control",
        &report.controls.evidenced,
    );
    o.push_str("<h3>Controls without evidence in the period</h3><ul>");
    for ctl in &report.controls.without_evidence {
        let _ = write!(o, "<li class=warn>{}</li>", esc(ctl));
    }
    o.push_str("</ul><h2>Access to audit data and keys</h2>");
    for (label, rows) in &report.access {
        table(&mut o, label, "event type", rows);
    }
    let r = &report.redaction;
    let _ = write!(
        o,
        "<h2>Redaction</h2><p>{} events redacted; policy versions: {}; key ids: {}.</p>",
        r.events_redacted,
        esc(&r
            .policy_versions
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")),
        esc(&r.key_ids.iter().cloned().collect::<Vec<_>>().join(", "))
    );
    table(
        &mut o,
        "Values redacted per entity class",
        "entity",
        &r.by_entity,
    );
    let k = &report.completeness;
    let _ = write!(
        o,
        "<h2>Completeness</h2><p>First event {}, last event {}; {} leaves removed by retention; \
         {} events after the checkpoint (not counted); {} undated events.</p><h3>Days without events</h3><ul>",
        esc(k.first_event.as_deref().unwrap_or("-")),
        esc(k.last_event.as_deref().unwrap_or("-")),
        k.retention_removed,
        k.events_after_checkpoint,
        k.undated_events
    );
    for [a, b] in &k.days_without_events {
        let _ = write!(o, "<li>{} to {}</li>", esc(a), esc(b));
    }
    let s = &report.sample;
    let _ = write!(
        o,
        "</ul><h2>Sample</h2><p>{} of {} events, seed {} (SplitMix64, reservoir algorithm R); each with its \
         inclusion proof in report.json.</p><table><tr><th>leaf</th><th>event id</th><th>prompt_hash</th>\
         <th>response_hash</th></tr>",
        s.events.len(),
        s.population,
        s.seed
    );
    for ev in &s.events {
        let _ = write!(
            o,
            "<tr><td class=n>{}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td></tr>",
            ev.leaf_index,
            esc(&ev.event_id),
            esc(ev.prompt_hash.as_deref().unwrap_or("-")),
            esc(ev.response_hash.as_deref().unwrap_or("-"))
        );
    }
    o.push_str("</table></body></html>\n");
    o
}
