//! The post-incident report, rendered from incident state as Markdown (for people,
//! `markdown`), JSON (for machines, `json`) and a self-contained HTML page with a chart of
//! calls per minute for each exposed key (`html`, for the post-mortem). A post-mortem
//! appendix: header, summary, action items, per-credential table, attacker activity,
//! confirmations and overrides, failures and retries, old keys after revocation, outages,
//! operator notes, mistakes in words, the drill score, then the full timeline in time order.
//!
//! Every report carries the journal's chain head and what its integrity check found
//! ([`Integrity`]); a damaged journal is said so at the top of the report itself.
//!
//! Here: what all three share (times, durations, counts, statuses, action items, attacker
//! activity and mistakes in words).
//! Pure: no IO and no clock (the same state always gives the same report). Depends on
//! `state`, `rotation`, `model`, `journal` (the chain head), `redact` and
//! `runbook::duration`. Only key hints ever appear, never values; free text that came from
//! providers is scrubbed of key-shaped tokens besides, and no control character or escape
//! sequence from a runbook or a provider reaches the report.

mod created;
mod html;
mod json;
mod markdown;

use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use self::html::{CHART_H, CHART_W, colours, html};
pub use self::json::json;
pub use self::markdown::markdown;
use super::event::Mode;
use super::journal::{ChainHead, Record, Recovery};
use super::redact::scrub;
use super::rotation::{RotationState, Stage};
use super::state::{CredentialState, IncidentState, StepStatus, TimelineEntry};
use crate::runbook::duration;
use crate::runbook::schema::Severity;

/// What the report says about the journal it was built from: its chain head, and what its
/// integrity check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integrity {
    /// The last record the report covers.
    pub head: ChainHead,
    /// Integrity problems, each naming its line (at most the journal's listed ones).
    pub problems: Vec<String>,
    /// Problems found beyond those listed.
    pub unlisted: u64,
    /// A torn last line (a crash mid-write) was left out.
    pub torn_tail: bool,
}

impl Integrity {
    /// The integrity of a journal as read: its records and what reading them found.
    pub fn of(records: &[Record], recovery: &Recovery) -> Integrity {
        Integrity {
            head: ChainHead::of(records),
            problems: recovery.problems.clone(),
            unlisted: recovery.unlisted,
            torn_tail: recovery.dropped_torn_line,
        }
    }

    /// An intact journal ending at `head` (the engine's own, as it writes the report).
    pub fn intact(head: ChainHead) -> Integrity {
        Integrity {
            head,
            problems: Vec::new(),
            unlisted: 0,
            torn_tail: false,
        }
    }

    /// True when every record verified.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// Every problem found.
    pub fn problem_count(&self) -> u64 {
        self.problems.len() as u64 + self.unlisted
    }
}

/// A report time: UTC, RFC 3339, whole seconds.
pub fn ts(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn ots(t: Option<&DateTime<Utc>>) -> String {
    t.map(ts).unwrap_or_else(|| "—".into())
}

/// `to - from`, when it is not negative.
fn between(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<Duration> {
    (to - from).to_std().ok()
}

fn dur(d: Option<Duration>) -> String {
    d.map(duration::format).unwrap_or_else(|| "—".into())
}

/// A Markdown table cell: scrubbed, and no `|` or line break to break the table.
fn cell(s: &str) -> String {
    scrub(s).replace('|', "\\|").replace(['\r', '\n'], " ")
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

fn mode_label(m: Mode) -> &'static str {
    match m {
        Mode::Drill => "drill",
        Mode::Live => "live",
    }
}

/// A credential's human name, or its id when it is unknown.
fn name_of(state: &IncidentState, id: &str) -> String {
    state
        .credential(id)
        .map(|c| c.credential.name.clone())
        .unwrap_or_else(|| id.to_string())
}

/// Incident opened → last exposed key revoked; `None` until every exposed key is revoked
/// (a key left out of the rotation keeps the incident open), or when none is exposed.
pub fn time_to_contain(state: &IncidentState) -> Option<Duration> {
    last_revocation(state).and_then(|t| between(state.opened_at, t))
}

/// Exposure window start → last exposed key revoked: how long the keys were usable by the
/// attacker at most.
pub fn exposure_duration(state: &IncidentState) -> Option<Duration> {
    last_revocation(state).and_then(|t| between(state.runbook.exposure_window.start, t))
}

/// When the incident was contained: the last exposed key's revocation, once every exposed
/// key is revoked.
pub fn contained_at(state: &IncidentState) -> Option<DateTime<Utc>> {
    last_revocation(state)
}

/// The exposure window in words: its start, then its end as the runbook gives it, else the
/// containment, else that it is still open (and why).
fn window_words(state: &IncidentState) -> String {
    let w = &state.runbook.exposure_window;
    let start = ts(&w.start);
    if let Some(end) = &w.end {
        return format!("{start} → {}", ts(end));
    }
    match contained_at(state) {
        Some(t) => format!("{start} → {} (contained: last exposed key revoked)", ts(&t)),
        None => {
            let open = state
                .credentials
                .iter()
                .filter(|c| c.credential.exposed && !c.rotation.is_contained())
                .count();
            if open == 0 {
                format!("{start} → open (no exposed key found)")
            } else {
                format!("{start} → open ({open} exposed key(s) not revoked)")
            }
        }
    }
}

/// The steps in words: done, skipped, failed and running, of all; a skip is never "done".
/// A report step that runs is the one writing this report.
fn steps_words(state: &IncidentState) -> String {
    let n = state.step_counts();
    let writing = state
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Running)
        .filter(|s| {
            state
                .step_def(&s.id)
                .is_some_and(|d| d.action == crate::runbook::schema::Action::Report)
        })
        .count();
    let mut parts = vec![format!("{} done", n.done)];
    if n.skipped > 0 {
        parts.push(format!("{} skipped", n.skipped));
    }
    if n.failed > 0 {
        parts.push(format!("{} failed", n.failed));
    }
    if n.running > writing {
        parts.push(format!("{} running", n.running - writing));
    }
    if writing > 0 {
        parts.push("1 writing this report".to_string());
    }
    let pending = n.total - n.done - n.skipped - n.failed - n.running;
    if pending > 0 {
        parts.push(format!("{pending} not started"));
    }
    format!("{} steps: {}", n.total, parts.join(", "))
}

/// How long each key's ready replacement (its new key in every location) waited for the
/// old key's revocation, in key order: (name, wait, still waiting).
pub fn replacement_waits(state: &IncidentState) -> Vec<(String, Duration, bool)> {
    state
        .credentials
        .iter()
        .filter(|c| c.credential.exposed)
        .filter_map(|c| {
            let ready = *c.stamps.get(&Stage::Propagated)?;
            let revoked = c.stamps.get(&Stage::Revoked).copied();
            let until = revoked.unwrap_or(state.clock);
            Some((
                c.credential.name.clone(),
                between(ready, until).unwrap_or_default(),
                revoked.is_none(),
            ))
        })
        .collect()
}

/// The waits of [`replacement_waits`] in words: `openai-prod 7m41s, gemini-prod 12m00s
/// (still waiting)`.
fn waits_words(state: &IncidentState) -> String {
    let w = replacement_waits(state);
    if w.is_empty() {
        return "— (no replacement was ready)".into();
    }
    w.iter()
        .map(|(n, d, open)| {
            format!(
                "{n} {}{}",
                duration::format(*d),
                if *open { " (still waiting)" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The timeline in time order (as recorded where times are equal): work reports what
/// happened when it happened, after the clock may have moved on.
fn timeline_in_order(state: &IncidentState) -> Vec<&TimelineEntry> {
    let mut v: Vec<&TimelineEntry> = state.timeline.iter().collect();
    v.sort_by_key(|e| e.at);
    v
}

/// Failed provider calls that were retried (and so did not stop anything by themselves),
/// grouped: (step, operation, what went wrong, how many).
fn retried_groups(state: &IncidentState) -> Vec<(String, String, String, usize)> {
    let mut out: Vec<(String, String, String, usize)> = Vec::new();
    for f in state.failures.iter().filter(|f| f.retryable) {
        // The provider's words up to the first colon name the trouble ("… is throttling
        // requests"); the rest varies call by call.
        let what = scrub(f.why.split(':').next().unwrap_or(&f.why).trim());
        match out
            .iter_mut()
            .find(|(s, o, w, _)| *s == f.step && *o == f.operation && *w == what)
        {
            Some(g) => g.3 += 1,
            None => out.push((f.step.clone(), f.operation.clone(), what, 1)),
        }
    }
    out
}

/// Old-key calls from one source that is not a known service, for the attacker-activity
/// section.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackerRow {
    pub credential: String,
    pub source: String,
    pub ok: u32,
    pub denied: u32,
    pub while_known: u32,
    pub after_revoke: (u32, u32),
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

/// Every unknown source's old-key calls, per exposed key, busiest first.
pub fn attacker_activity(state: &IncidentState) -> Vec<AttackerRow> {
    let mut out = Vec::new();
    for c in state.credentials.iter().filter(|c| c.credential.exposed) {
        let Some(u) = state.usage.get(&c.credential.id) else {
            continue;
        };
        let mut rows: Vec<AttackerRow> = u
            .old_sources
            .iter()
            .filter(|(_, s)| s.service.is_none())
            .map(|(source, s)| AttackerRow {
                credential: c.credential.name.clone(),
                source: if source.is_empty() {
                    "(source not reported)".to_string()
                } else {
                    source.clone()
                },
                ok: s.ok,
                denied: s.denied,
                while_known: s.ok_while_known,
                after_revoke: s.after_revoke,
                first: s.first,
                last: s.last,
            })
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.ok + r.denied));
        out.extend(rows);
    }
    out
}

/// What is left to do or to look at after this incident, in words: gaps and skipped
/// checks, overrides, keys still alive, services still on old keys, and what was done by
/// hand (keys made or revoked in a console, simulated commands).
pub fn action_items(state: &IncidentState) -> Vec<String> {
    let mut out = Vec::new();
    for s in &state.steps {
        let Some(def) = state.step_def(&s.id) else {
            continue;
        };
        if let StepStatus::Skipped { why } = &s.status {
            out.push(format!(
                "{}step “{}” was skipped ({why}): do it, or record why it is not needed",
                if def.is_critical { "critical " } else { "" },
                def.title
            ));
        } else if s.is_skip_open() {
            out.push(format!(
                "step “{}” was reopened after its skip and is not done yet",
                def.title
            ));
        }
        if let StepStatus::Failed { why } = &s.status {
            out.push(format!("step “{}” failed: {}", def.title, scrub(why)));
        }
    }
    for r in state
        .confirmations
        .iter()
        .filter(|r| r.action.is_override())
    {
        out.push(format!(
            "review the override {} typed for {} at {}: {}",
            r.operator,
            name_of(state, &r.credential),
            ts(&r.at),
            if r.override_of.is_empty() {
                "no check named".to_string()
            } else {
                r.override_of.join("; ")
            }
        ));
    }
    for c in state.credentials.iter().filter(|c| c.credential.exposed) {
        match &c.rotation {
            RotationState::Skipped { why, .. } => out.push(format!(
                "exposed key {} ({}) is still alive: it was left out of the rotation ({why})",
                c.credential.name, c.credential.hint
            )),
            r if !r.is_contained() => out.push(format!(
                "exposed key {} ({}) is still alive ({}): revoke it",
                c.credential.name,
                c.credential.hint,
                r.label()
            )),
            _ => {}
        }
        for s in state.still_on_old_key(&c.credential.id) {
            out.push(format!(
                "{} still called with the old key of {} at {}{}: restart it or point it at the new key",
                s.service,
                c.credential.name,
                ts(&s.last),
                if s.failing { " and was refused" } else { "" }
            ));
        }
        if c.manual_revoke_asks > 0 {
            out.push(format!(
                "the old key of {} was revoked (or deleted) by hand in the issuer's console: check it there",
                c.credential.name
            ));
        }
        if c.new_key_id
            .as_deref()
            .is_some_and(|k| k.starts_with("pasted "))
        {
            out.push(format!(
                "the new key of {} was made by hand in the issuer's console: record who made it",
                c.credential.name
            ));
        }
    }
    for s in state.steps.iter().filter(|s| s.status == StepStatus::Done) {
        let Some(def) = state.step_def(&s.id) else {
            continue;
        };
        if def.action == crate::runbook::schema::Action::Manual && !def.checklist.is_empty() {
            out.push(format!(
                "“{}” was done by hand (its {} item(s) ticked on the screen): breachbook did not check it",
                def.title,
                def.checklist.len()
            ));
        }
        if def.action == crate::runbook::schema::Action::Command && state.mode == Mode::Live {
            out.push(format!(
                "“{}” ran a command on this machine: check its effect where it ran",
                def.title
            ));
        }
    }
    out.into_iter().map(|m| scrub(&m)).collect()
}

/// The revocation that contained the incident, once every exposed key is revoked.
fn last_revocation(state: &IncidentState) -> Option<DateTime<Utc>> {
    let mut last = None;
    let mut any = false;
    for c in state.credentials.iter().filter(|c| c.credential.exposed) {
        any = true;
        let t = *c.stamps.get(&Stage::Revoked)?;
        if last.is_none_or(|l| t > l) {
            last = Some(t);
        }
    }
    if any { last } else { None }
}

/// Whether the old key was revoked before its replacement reached every location (only
/// possible with an override): services still on the old key lost access.
/// When a key was deleted at its issuer, and until when the issuer can restore it (an
/// issuer that keeps deleted keys, such as Google's 30 days): the deletion, else the
/// revocation where revoking deletes.
fn restorable_until(c: &CredentialState) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let keep = c.credential.restorable_for()?;
    let gone = c.deleted.or_else(|| {
        c.stamps
            .get(&crate::incident::rotation::Stage::Revoked)
            .copied()
    })?;
    Some((gone, gone + keep))
}

pub fn revoked_before_propagation(c: &CredentialState) -> bool {
    // A key that was never exposed had no replacement to roll out (a suspect revoked as
    // such): nothing was revoked early.
    if !c.credential.exposed {
        return false;
    }
    match (
        c.stamps.get(&Stage::Revoked),
        c.stamps.get(&Stage::Propagated),
    ) {
        (Some(revoked), Some(propagated)) => propagated > revoked,
        (Some(_), None) => true,
        _ => false,
    }
}

/// A credential's status, in words.
fn status(c: &CredentialState) -> String {
    let mut s = match &c.rotation {
        RotationState::At {
            stage: Stage::Exposed,
        } if !c.credential.exposed => "not exposed, left alone".to_string(),
        RotationState::At {
            stage: Stage::Exposed,
        } => "exposed, not rotated yet".to_string(),
        RotationState::At { stage } => stage.label().to_string(),
        RotationState::Failed { reached, why } => {
            format!("FAILED after {}: {why}", reached.label())
        }
        RotationState::Skipped { why, .. } => format!("SKIPPED: {why}"),
    };
    if revoked_before_propagation(c) {
        s.push_str(" (revoked BEFORE propagation)");
    }
    if let Some(t) = c.deleted {
        let _ = write!(s, ", deleted {}", ts(&t));
    }
    s
}

/// The numbers of the summary.
#[derive(Debug, Default)]
struct Counts {
    found: usize,
    exposed: usize,
    rotated: usize,
    revoked: usize,
    confirmed_dead: usize,
    skipped: usize,
    failed: usize,
    typed: usize,
    overrides: usize,
    attempts_failed: usize,
    attempts_retried: usize,
}

fn counts(state: &IncidentState) -> Counts {
    let exposed = || state.credentials.iter().filter(|c| c.credential.exposed);
    Counts {
        found: state.credentials.len(),
        exposed: exposed().count(),
        rotated: exposed()
            .filter(|c| c.stamps.contains_key(&Stage::Propagated))
            .count(),
        revoked: exposed().filter(|c| c.rotation.is_contained()).count(),
        confirmed_dead: exposed()
            .filter(|c| c.rotation.reached() >= Stage::ConfirmedDead)
            .count(),
        skipped: state
            .credentials
            .iter()
            .filter(|c| matches!(c.rotation, RotationState::Skipped { .. }))
            .count(),
        failed: state
            .credentials
            .iter()
            .filter(|c| matches!(c.rotation, RotationState::Failed { .. }))
            .count(),
        typed: state
            .confirmations
            .iter()
            .filter(|r| !r.action.is_override())
            .count(),
        overrides: state
            .confirmations
            .iter()
            .filter(|r| r.action.is_override())
            .count(),
        attempts_failed: state.failures.len(),
        attempts_retried: state.failures.iter().filter(|f| f.retryable).count(),
    }
}

/// Mistakes, in words, as the journal shows them: overrides, revocations before
/// propagation, exposed keys left out or not revoked, skipped steps, outages. The drill
/// referee's own notes are in the score, not here.
pub fn mistakes(state: &IncidentState) -> Vec<String> {
    let mut out = Vec::new();
    for r in state
        .confirmations
        .iter()
        .filter(|r| r.action.is_override())
    {
        out.push(format!(
            "{} typed the override for {} at {} (via {}), passing over failed pre-flight checks: {}",
            r.operator,
            name_of(state, &r.credential),
            ts(&r.at),
            r.via,
            if r.override_of.is_empty() {
                "none named".to_string()
            } else {
                r.override_of.join("; ")
            }
        ));
    }
    for c in state.open_suspects() {
        out.push(format!(
            "{} was created during the exposure window by an identity breachbook cannot vouch for and is still active: revoke it or mark it known",
            c.credential.name
        ));
    }
    for c in &state.credentials {
        if !revoked_before_propagation(c) {
            continue;
        }
        let revoked = c.stamps.get(&Stage::Revoked).map(ts).unwrap_or_default();
        let rollout = match c.stamps.get(&Stage::Propagated) {
            Some(p) => format!("its replacement reached every location only at {}", ts(p)),
            None => "its replacement never reached every location".to_string(),
        };
        out.push(format!(
            "revoke before propagation: the old key of {} was revoked at {revoked}, but {rollout}; services still using the old key lost access in between",
            c.credential.name
        ));
    }
    for c in state.credentials.iter().filter(|c| c.credential.exposed) {
        match &c.rotation {
            RotationState::Skipped { why, .. } => out.push(format!(
                "exposed key {} was left out of the rotation ({why}): it may still work for the attacker",
                c.credential.name
            )),
            r if !r.is_contained() => out.push(format!(
                "exposed key {} was still not revoked at the end of this report ({}): it may still work for the attacker",
                c.credential.name,
                r.label()
            )),
            _ => {}
        }
    }
    for s in &state.steps {
        if let StepStatus::Skipped { why } = &s.status {
            let def = state.step_def(&s.id);
            let title = def.map(|d| d.title.as_str()).unwrap_or(&s.id);
            let critical = def.is_some_and(|d| d.is_critical);
            out.push(format!(
                "{}step `{}` ({title}) was skipped: {why}",
                if critical { "critical " } else { "" },
                s.id
            ));
        } else if s.reopened > 0 {
            let title = state
                .step_def(&s.id)
                .map(|d| d.title.as_str())
                .unwrap_or(&s.id);
            out.push(format!(
                "step `{}` ({title}) was skipped at first, then reopened{}",
                s.id,
                if s.status == StepStatus::Done {
                    " and done"
                } else {
                    "; it is not done yet"
                }
            ));
        }
    }
    if !state.inventory_gaps.is_empty() {
        out.push(format!(
            "the inventory was incomplete ({}): keys stored where it failed were never seen, let alone rotated",
            state.inventory_gaps.join("; ")
        ));
    }
    for c in &state.credentials {
        for s in c.strays.iter().filter(|s| s.discarded.is_none()) {
            out.push(format!(
                "a key an interrupted mint left for {} was not deleted: {}; nobody holds its secret: delete it at {}",
                c.credential.name,
                s.what,
                c.credential.issuer.label()
            ));
        }
    }
    if state.consumer_errors > 0 {
        out.push(format!(
            "consumer outage: legitimate services failed {} call(s) because their key died under them (OUTAGE lines in the timeline name them)",
            state.consumer_errors
        ));
    }
    out.into_iter().map(|m| scrub(&m)).collect()
}

/// What the usage data says about an old key after its revocation.
fn after_revoke_verdict(ok: u32, denied: u32) -> &'static str {
    if ok > 0 {
        "STILL ACCEPTED after revocation: revoke it again at the provider and find who uses it"
    } else if denied > 0 {
        "refused, as it should be; someone still tries it: an attacker or a forgotten service"
    } else {
        "no calls after revocation"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_do_not_break_tables() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
