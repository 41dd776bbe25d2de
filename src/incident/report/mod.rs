//! The post-incident report, rendered from incident state as Markdown (for people,
//! `markdown`) and JSON (for machines, `json`). A post-mortem appendix: header, summary,
//! per-credential table, confirmations and overrides, failures and retries, old keys after
//! revocation, outages, mistakes in words, the drill score, then the full timeline.
//!
//! Here: what both share (times, durations, counts, statuses and mistakes in words).
//! Pure: no IO and no clock (the same state always gives the same report). Depends on
//! `state`, `rotation`, `model`, `redact` and `runbook::duration`. Only key hints ever
//! appear, never values; free text that came from providers is scrubbed of key-shaped
//! tokens besides.

mod json;
mod markdown;

use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use self::json::json;
pub use self::markdown::markdown;
use super::event::Mode;
use super::redact::scrub;
use super::rotation::{RotationState, Stage};
use super::state::{CredentialState, IncidentState, StepStatus};
use crate::runbook::duration;
use crate::runbook::schema::Severity;

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
