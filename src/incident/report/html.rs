//! The report as one self-contained HTML page: no script, no font or image from anywhere,
//! every style inline, so it opens the same from an attachment on a plane. The post-mortem
//! picture comes first: a chart per exposed key of its calls per minute (old key accepted,
//! new key, refused), drawn as inline SVG and marked where the new key was promoted and the
//! old one revoked. Then the same sections as the Markdown.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    Integrity, action_items, attacker_activity, counts, dur, exposure_duration, mistakes, name_of,
    ots, retried_groups, severity, status, steps_words, time_to_contain, timeline_in_order, ts,
    waits_words, window_words,
};
use crate::incident::event::Mode;
use crate::incident::redact::{printable_text, scrub};
use crate::incident::rotation::Stage;
use crate::incident::state::{CredentialState, IncidentState, Tone};
use crate::runbook::duration;

/// The colours a chart is drawn in; a test reads them back from a screenshot.
pub mod colours {
    /// Old-key calls accepted.
    pub const OLD: &str = "#d97706";
    /// New-key calls.
    pub const NEW: &str = "#15803d";
    /// Refused calls.
    pub const DENIED: &str = "#dc2626";
    /// The promotion marker.
    pub const PROMOTED: &str = "#2563eb";
    /// The revocation marker.
    pub const REVOKED: &str = "#7c3aed";
    /// The frame of chart `i` is `#0b3d` followed by `5c + i` in hex: one exact colour per
    /// chart, so each chart can be found in a picture of the page.
    pub fn frame(i: usize) -> String {
        format!("#0b3d{:02x}", (0x5c + i).min(0xff))
    }
}

/// The chart's size in CSS pixels.
pub const CHART_W: u32 = 760;
pub const CHART_H: u32 = 240;
const PAD_L: f64 = 52.0;
const PAD_R: f64 = 16.0;
const PAD_T: f64 = 18.0;
const PAD_B: f64 = 34.0;

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1b1f23;background:#fff;margin:24px auto;max-width:1000px;padding:0 16px}
h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}td,th{border:1px solid #d0d7de;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f6f8fa}
code{font:12px ui-monospace,monospace;background:#f6f8fa;padding:1px 3px}
figure{margin:10px 0 18px}figcaption{font-weight:600;margin-bottom:4px}
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px}
.alarm{color:#b91c1c;font-weight:600}.warn{color:#92400e}.inject{color:#7e22ce}.good{color:#166534}
ul.todo{list-style:none;padding-left:4px}ul.todo li:before{content:'☐ ';}";

/// The report as a self-contained HTML page, built from `state` and the journal's
/// `integrity` (its chain head; a damaged journal is said so at the top). No control
/// character or escape sequence from a runbook or a provider reaches it.
pub fn html(state: &IncidentState, integrity: &Integrity) -> String {
    let mut o = String::new();
    let title = format!("Post-incident report: {}", state.runbook.title);
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    let _ = writeln!(o, "<h1>{}</h1>", esc(&title));
    damaged(&mut o, state, integrity);
    header(&mut o, state, integrity);
    summary(&mut o, state);
    charts(&mut o, state);
    list_section(
        &mut o,
        "Action items",
        &action_items(state),
        "None: no skipped check, no override, no exposed key alive, nothing done by hand.",
        true,
    );
    credentials(&mut o, state);
    super::created::html(&mut o, state);
    attacker(&mut o, state);
    confirmations(&mut o, state);
    failures(&mut o, state);
    notes(&mut o, state);
    list_section(
        &mut o,
        "Mistakes",
        &mistakes(state),
        "None recorded.",
        false,
    );
    score(&mut o, state);
    timeline(&mut o, state);
    o.push_str("</body></html>\n");
    o
}

/// HTML text: escaped, scrubbed of anything shaped like a key, and of control characters
/// and escape sequences.
pub(super) fn esc(s: &str) -> String {
    let s = printable_text(&scrub(s));
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

pub(super) fn row(o: &mut String, cells: &[String]) {
    o.push_str("<tr>");
    for c in cells {
        let _ = write!(o, "<td>{c}</td>");
    }
    o.push_str("</tr>\n");
}

pub(super) fn head(o: &mut String, cells: &[&str]) {
    o.push_str("<table><tr>");
    for c in cells {
        let _ = write!(o, "<th>{}</th>", esc(c));
    }
    o.push_str("</tr>\n");
}

/// The warning a report of a damaged journal opens with.
fn damaged(o: &mut String, state: &IncidentState, integrity: &Integrity) {
    if integrity.is_intact() {
        return;
    }
    let _ = writeln!(
        o,
        "<p class=\"alarm\">{}</p>\n<ul>",
        esc(&format!(
            "The journal of this incident is damaged: it failed its integrity check with {} problem(s), so this report may not say what happened. Keep the journal as evidence and check it with `breachbook verify {}`. The problems found:",
            integrity.problem_count(),
            state.id
        ))
    );
    for p in &integrity.problems {
        let _ = writeln!(o, "<li>{}</li>", esc(p));
    }
    if integrity.unlisted > 0 {
        let _ = writeln!(o, "<li>… and {} more</li>", integrity.unlisted);
    }
    o.push_str("</ul>\n");
}

fn header(o: &mut String, state: &IncidentState, integrity: &Integrity) {
    let rb = &state.runbook;
    o.push_str("<table>\n");
    let mut fact = |k: &str, v: String| row(o, &[format!("<b>{}</b>", esc(k)), v]);
    fact("Incident", format!("<code>{}</code>", esc(&state.id)));
    fact(
        "Mode",
        esc(&format!(
            "{}{}",
            state.mode.badge(),
            if state.read_only { " (read-only)" } else { "" }
        )),
    );
    fact(
        "Runbook",
        format!(
            "<code>{}</code> (sha256 <code>{}</code>)",
            esc(&rb.name),
            esc(state
                .runbook_digest
                .get(..12)
                .unwrap_or(&state.runbook_digest))
        ),
    );
    fact("Severity", esc(severity(rb.severity)));
    fact("Exposure window", esc(&window_words(state)));
    fact(
        "Opened",
        esc(&format!("{} by {}", ts(&state.opened_at), state.operator)),
    );
    if let Some(id) = &state.cloud_identity {
        fact("Cloud identity", format!("<code>{}</code>", esc(id)));
    }
    fact("Steps", esc(&steps_words(state)));
    fact("As of", esc(&ts(&state.clock)));
    let head = &integrity.head;
    fact(
        "Journal",
        if integrity.is_intact() {
            format!(
                "intact: {} record(s); chain head <code>{}</code> (keep it elsewhere: <code>breachbook verify {} --head HASH</code> checks the journal against it)",
                head.seq,
                esc(&head.hash),
                esc(&state.id)
            )
        } else {
            format!(
                "<b class=\"alarm\">DAMAGED</b> ({} problem(s)); last record read {}, hash <code>{}</code>",
                integrity.problem_count(),
                head.seq,
                esc(&head.hash)
            )
        },
    );
    if state.mode == Mode::Drill {
        let mut clock = "times are the drill's simulated clock".to_string();
        if let Some(s) = state.speed {
            let _ = write!(clock, ", running ×{s}");
        }
        if let Some(seed) = state.seed {
            let _ = write!(clock, ", seed {seed}");
        }
        fact("Clock", esc(&clock));
    }
    o.push_str("</table>\n<p>All times are UTC. Keys appear only as hints.</p>\n");
}

fn summary(o: &mut String, state: &IncidentState) {
    let n = counts(state);
    o.push_str("<h2>Summary</h2>\n<ul>\n");
    let mut li = |s: String| {
        let _ = writeln!(o, "<li>{}</li>", esc(&s));
    };
    match time_to_contain(state) {
        Some(d) => {
            li(format!(
                "Time to contain (incident opened → last exposed key revoked): {}",
                duration::format(d)
            ));
            li(format!(
                "Exposure (window start → last exposed key revoked): {}",
                dur(exposure_duration(state))
            ));
        }
        None if n.exposed == 0 => li("Time to contain: — (no exposed key found)".into()),
        None => li("Time to contain: not contained yet".into()),
    }
    li(format!(
        "Keys found: {}; exposed: {}; rotated: {}; revoked: {} (confirmed dead: {}); skipped: {}; failed: {}",
        n.found, n.exposed, n.rotated, n.revoked, n.confirmed_dead, n.skipped, n.failed
    ));
    li(format!(
        "Confirmations: {} typed, {} override(s), {} refused",
        n.typed, n.overrides, state.refusals
    ));
    li(format!(
        "Consumer errors (calls that failed because their key died): {}",
        state.consumer_errors
    ));
    if let Some(s) = &state.score {
        li(format!("Drill score: {}/100", s.points));
    }
    o.push_str("</ul>\n");
}

/// Calls per minute of one key, from the incident's own usage samples.
struct Series {
    old: Vec<u32>,
    new: Vec<u32>,
    denied: Vec<u32>,
}

fn series(state: &IncidentState, c: &CredentialState, from: DateTime<Utc>, n: usize) -> Series {
    let mut s = Series {
        old: vec![0; n],
        new: vec![0; n],
        denied: vec![0; n],
    };
    let Some(u) = state.usage.get(&c.credential.id) else {
        return s;
    };
    let index = |t: &DateTime<Utc>| -> Option<usize> {
        let i = (*t - from).num_minutes();
        usize::try_from(i).ok().filter(|i| *i < n)
    };
    let fill = |map: &BTreeMap<DateTime<Utc>, (u32, u32)>, ok: &mut Vec<u32>, no: &mut Vec<u32>| {
        for (t, (a, d)) in map {
            if let Some(i) = index(t) {
                ok[i] += a;
                no[i] += d;
            }
        }
    };
    fill(&u.old, &mut s.old, &mut s.denied);
    let mut new_denied = vec![0; n];
    fill(&u.new, &mut s.new, &mut new_denied);
    for (d, x) in s.denied.iter_mut().zip(new_denied) {
        *d += x;
    }
    s
}

fn minute_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    DateTime::<Utc>::from_timestamp(secs - secs.rem_euclid(60), 0).unwrap_or(t)
}

fn charts(o: &mut String, state: &IncidentState) {
    let exposed: Vec<&CredentialState> = state
        .credentials
        .iter()
        .filter(|c| c.credential.exposed)
        .collect();
    o.push_str("<h2>Calls per minute, per exposed key</h2>\n");
    if exposed.is_empty() {
        o.push_str("<p>No exposed key.</p>\n");
        return;
    }
    let _ = writeln!(
        o,
        "<p class=\"legend\"><span><i class=\"sw\" style=\"background:{}\"></i>old key, accepted</span><span><i class=\"sw\" style=\"background:{}\"></i>new key</span><span><i class=\"sw\" style=\"background:{}\"></i>refused</span><span><i class=\"sw\" style=\"background:{}\"></i>new key promoted</span><span><i class=\"sw\" style=\"background:{}\"></i>old key revoked</span></p>",
        colours::OLD,
        colours::NEW,
        colours::DENIED,
        colours::PROMOTED,
        colours::REVOKED
    );
    let from = minute_floor(state.opened_at);
    // Up to the last minute any usage came in for (a minute's calls arrive as it ends).
    let to = exposed
        .iter()
        .filter_map(|c| state.usage.get(&c.credential.id))
        .filter_map(|u| u.old.keys().last().max(u.new.keys().last()).copied())
        .max()
        .unwrap_or_else(|| minute_floor(state.clock));
    let n = usize::try_from((to - from).num_minutes() + 1)
        .unwrap_or(1)
        .max(2);
    for (i, c) in exposed.iter().enumerate() {
        let s = series(state, c, from, n);
        let _ = writeln!(
            o,
            "<figure id=\"chart-{i}\"><figcaption>{} <code>{}</code> — {}</figcaption>",
            esc(&c.credential.name),
            esc(&c.credential.hint),
            esc(&status(c))
        );
        chart(o, c, &s, from, n, i);
        o.push_str("</figure>\n");
    }
}

/// One chart: axes, the three series as lines, the promotion and revocation as markers.
fn chart(o: &mut String, c: &CredentialState, s: &Series, from: DateTime<Utc>, n: usize, i: usize) {
    let (w, h) = (f64::from(CHART_W), f64::from(CHART_H));
    let plot_w = w - PAD_L - PAD_R;
    let plot_h = h - PAD_T - PAD_B;
    let max = s
        .old
        .iter()
        .chain(&s.new)
        .chain(&s.denied)
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let x = |m: f64| PAD_L + plot_w * m / (n.saturating_sub(1).max(1) as f64);
    let y = |v: u32| PAD_T + plot_h * (1.0 - f64::from(v) / f64::from(max));
    let total = |v: &[u32]| v.iter().map(|x| u64::from(*x)).sum::<u64>();
    let _ = write!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{CHART_W}\" height=\"{CHART_H}\" viewBox=\"0 0 {CHART_W} {CHART_H}\" role=\"img\"><title>{}: calls per minute</title><desc>old key accepted {} calls, new key {} calls, refused {} calls</desc>",
        esc(&c.credential.name),
        total(&s.old),
        total(&s.new),
        total(&s.denied)
    );
    let _ = write!(
        o,
        "<rect x=\"1\" y=\"1\" width=\"{}\" height=\"{}\" fill=\"#fbfcfd\" stroke=\"{}\" stroke-width=\"2\" shape-rendering=\"crispEdges\"/>",
        CHART_W - 2,
        CHART_H - 2,
        colours::frame(i)
    );
    // Axes and grid: 0 and the maximum, a tick every 10 minutes (5 for short drills).
    let _ = write!(
        o,
        "<g font-size=\"11\" fill=\"#57606a\" font-family=\"system-ui,sans-serif\"><line x1=\"{PAD_L}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#8c959f\"/><line x1=\"{PAD_L}\" y1=\"{PAD_T}\" x2=\"{PAD_L}\" y2=\"{}\" stroke=\"#8c959f\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max}/min</text>",
        PAD_T + plot_h,
        PAD_L + plot_w,
        PAD_T + plot_h,
        PAD_T + plot_h,
        PAD_L - 6.0,
        PAD_T + plot_h + 4.0,
        PAD_L - 6.0,
        PAD_T + 8.0
    );
    let step = if n > 60 { 10 } else { 5 };
    for m in (0..n).step_by(step) {
        let t = from + chrono::Duration::minutes(m as i64);
        let _ = write!(
            o,
            "<line x1=\"{0:.1}\" y1=\"{1}\" x2=\"{0:.1}\" y2=\"{2}\" stroke=\"#d8dee4\"/><text x=\"{0:.1}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>",
            x(m as f64),
            PAD_T,
            PAD_T + plot_h,
            PAD_T + plot_h + 16.0,
            t.format("%H:%M")
        );
    }
    o.push_str("</g>");
    // Markers under the lines.
    for (stage, colour, word) in [
        (Stage::Promoted, colours::PROMOTED, "promoted"),
        (Stage::Revoked, colours::REVOKED, "revoked"),
    ] {
        if let Some(t) = c.stamps.get(&stage) {
            let m = (*t - from).num_seconds() as f64 / 60.0;
            if m >= 0.0 && m <= (n - 1) as f64 {
                let _ = write!(
                    o,
                    "<line x1=\"{0:.1}\" y1=\"{1}\" x2=\"{0:.1}\" y2=\"{2}\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"5 3\"/><text x=\"{3:.1}\" y=\"{4}\" font-size=\"11\" fill=\"{colour}\" font-family=\"system-ui,sans-serif\">{word} {5}</text>",
                    x(m),
                    PAD_T,
                    PAD_T + plot_h,
                    x(m) + 4.0,
                    if stage == Stage::Promoted {
                        PAD_T + 10.0
                    } else {
                        PAD_T + 24.0
                    },
                    t.format("%H:%M")
                );
            }
        }
    }
    for (values, colour) in [
        (&s.old, colours::OLD),
        (&s.new, colours::NEW),
        (&s.denied, colours::DENIED),
    ] {
        if values.iter().all(|v| *v == 0) {
            continue;
        }
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(m, v)| format!("{:.1},{:.1}", x(m as f64), y(*v)))
            .collect();
        let _ = write!(
            o,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"{}\"/>",
            points.join(" ")
        );
    }
    o.push_str("</svg>\n");
}

fn list_section(o: &mut String, title: &str, items: &[String], none: &str, todo: bool) {
    let _ = writeln!(o, "<h2>{}</h2>", esc(title));
    if items.is_empty() {
        let _ = writeln!(o, "<p>{}</p>", esc(none));
        return;
    }
    let _ = writeln!(o, "<ul{}>", if todo { " class=\"todo\"" } else { "" });
    for i in items {
        let _ = writeln!(o, "<li>{}</li>", esc(i));
    }
    o.push_str("</ul>\n");
}

fn credentials(o: &mut String, state: &IncidentState) {
    o.push_str("<h2>Credentials</h2>\n");
    if state.credentials.is_empty() {
        o.push_str("<p>No credential was found.</p>\n");
        return;
    }
    head(
        o,
        &[
            "Issuer",
            "Name",
            "Exposed",
            "Locations",
            "Old key",
            "New key",
            "Promoted",
            "Revoked",
            "Status",
        ],
    );
    for c in &state.credentials {
        let locs: Vec<String> = c
            .credential
            .locations
            .iter()
            .map(|l| esc(&l.label()))
            .collect();
        row(
            o,
            &[
                esc(c.credential.issuer.label()),
                esc(&c.credential.name),
                if c.credential.exposed { "yes" } else { "no" }.into(),
                locs.join("<br>"),
                format!("<code>{}</code>", esc(&c.credential.hint)),
                c.new_hint
                    .as_deref()
                    .map(|h| format!("<code>{}</code>", esc(h)))
                    .unwrap_or_else(|| "—".into()),
                esc(&ots(c.stamps.get(&Stage::Promoted))),
                esc(&ots(c.stamps.get(&Stage::Revoked))),
                esc(&status(c)),
            ],
        );
    }
    o.push_str("</table>\n");
}

fn attacker(o: &mut String, state: &IncidentState) {
    o.push_str("<h2>Attacker activity</h2>\n<p>Calls with the old (exposed) keys from sources that are not known services.</p>\n");
    let rows = attacker_activity(state);
    if rows.is_empty() {
        o.push_str("<p>None seen.</p>\n");
        return;
    }
    head(
        o,
        &[
            "Credential",
            "Source",
            "Accepted",
            "Refused",
            "Accepted while known exposed",
            "After revocation (accepted / refused)",
            "First seen",
            "Last seen",
        ],
    );
    for r in rows {
        row(
            o,
            &[
                esc(&r.credential),
                esc(&r.source),
                r.ok.to_string(),
                r.denied.to_string(),
                r.while_known.to_string(),
                format!("{} / {}", r.after_revoke.0, r.after_revoke.1),
                esc(&ts(&r.first)),
                esc(&ts(&r.last)),
            ],
        );
    }
    o.push_str("</table>\n");
}

fn confirmations(o: &mut String, state: &IncidentState) {
    o.push_str("<h2>Confirmations and overrides</h2>\n");
    if state.confirmations.is_empty() {
        o.push_str("<p>None given.</p>\n");
        return;
    }
    head(
        o,
        &[
            "Time",
            "Operator",
            "Action",
            "Credential",
            "Via",
            "Failed checks passed over",
        ],
    );
    for r in &state.confirmations {
        row(
            o,
            &[
                esc(&ts(&r.at)),
                esc(&r.operator),
                if r.action.is_override() {
                    "<b class=\"alarm\">OVERRIDE</b>".to_string()
                } else {
                    esc(r.action.label())
                },
                esc(&name_of(state, &r.credential)),
                esc(r.via.word()),
                if r.override_of.is_empty() {
                    "—".into()
                } else {
                    esc(&r.override_of.join("; "))
                },
            ],
        );
    }
    o.push_str("</table>\n");
}

fn failures(o: &mut String, state: &IncidentState) {
    o.push_str("<h2>Failures and retries</h2>\n");
    let retried = retried_groups(state);
    let stopped: Vec<_> = state.failures.iter().filter(|f| !f.retryable).collect();
    if retried.is_empty() && stopped.is_empty() {
        o.push_str("<p>None.</p>\n");
        return;
    }
    if !retried.is_empty() {
        let n: usize = retried.iter().map(|g| g.3).sum();
        let _ = writeln!(
            o,
            "<p>{n} failed call(s) were retried by themselves (backoff), as expected under load:</p><ul>"
        );
        for (step, op, what, count) in &retried {
            let _ = writeln!(
                o,
                "<li>{} ×{count}: <code>{}</code> {}</li>",
                esc(what),
                esc(step),
                esc(op)
            );
        }
        o.push_str("</ul>\n");
    }
    if !stopped.is_empty() {
        head(
            o,
            &[
                "Time",
                "Step",
                "Operation",
                "Credential",
                "Attempt",
                "Error",
            ],
        );
        for f in stopped {
            row(
                o,
                &[
                    esc(&ts(&f.at)),
                    esc(&f.step),
                    esc(&f.operation),
                    f.credential
                        .as_deref()
                        .map(|c| esc(&name_of(state, c)))
                        .unwrap_or_else(|| "—".into()),
                    f.attempt.to_string(),
                    esc(&f.why),
                ],
            );
        }
        o.push_str("</table>\n");
    }
}

fn notes(o: &mut String, state: &IncidentState) {
    o.push_str("<h2>Operator notes</h2>\n");
    if state.notes.is_empty() {
        o.push_str("<p>None written.</p>\n");
        return;
    }
    head(o, &["Time", "Operator", "Note"]);
    for (at, who, text) in &state.notes {
        row(o, &[esc(&ts(at)), esc(who), esc(text)]);
    }
    o.push_str("</table>\n");
}

fn score(o: &mut String, state: &IncidentState) {
    let Some(s) = &state.score else {
        return;
    };
    let _ = writeln!(o, "<h2>Drill score: {}/100</h2>\n<ul>", s.points);
    let mut li = |t: String| {
        let _ = writeln!(o, "<li>{}</li>", esc(&t));
    };
    li(format!(
        "Time to contain (incident opened → last exposed key revoked, as in the summary): {}",
        s.time_to_contain_secs
            .map(|x| duration::format(Duration::from_secs(x)))
            .unwrap_or_else(|| "not contained".into())
    ));
    li(format!(
        "Exposed keys revoked: {} of {}",
        s.revoked, s.exposed
    ));
    li(format!(
        "Attacker calls that succeeded after the first revocation: {}",
        s.attacker_calls_after_revoke
    ));
    li(format!(
        "Attacker calls with exposed keys after the inventory had found them exposed: {}",
        s.attacker_calls_while_known
    ));
    li(format!(
        "Time each ready replacement waited for its old key's revocation: {}",
        waits_words(state)
    ));
    li(format!("Consumer errors caused: {}", s.consumer_errors));
    li(format!(
        "Safety checks passed over (overrides, skipped critical steps or keys): {}",
        s.skipped_checks
    ));
    o.push_str("</ul>\n");
    if !s.mistakes.is_empty() {
        o.push_str("<p>The drill's referee noted:</p><ul>\n");
        for m in &s.mistakes {
            let _ = writeln!(o, "<li>{}</li>", esc(m));
        }
        o.push_str("</ul>\n");
    }
}

fn timeline(o: &mut String, state: &IncidentState) {
    o.push_str("<h2>Timeline</h2>\n<table>\n");
    for e in timeline_in_order(state) {
        let class = match e.tone {
            Tone::Alarm => " class=\"alarm\"",
            Tone::Warn => " class=\"warn\"",
            Tone::Inject => " class=\"inject\"",
            Tone::Good => " class=\"good\"",
            Tone::Info => "",
        };
        let _ = writeln!(
            o,
            "<tr{class}><td><code>{}</code></td><td>{}</td></tr>",
            esc(&ts(&e.at)),
            esc(&e.text)
        );
    }
    o.push_str("</table>\n");
}
