//! The post-incident report, rendered from incident state as Markdown (for people) and JSON
//! (for machines). A post-mortem appendix: header, summary, per-credential table,
//! confirmations and overrides, failures and retries, old keys after revocation, outages,
//! mistakes in words, the drill score, then the full timeline.
//!
//! Pure: no IO and no clock (the same state always gives the same report). Depends on
//! `state`, `rotation`, `model` and `runbook::duration`. Only key hints ever appear, never
//! values; free text that came from providers is scrubbed of key-shaped tokens besides.

use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::event::Mode;
use super::rotation::{RotationState, Stage};
use super::state::{CredentialState, IncidentState, StepStatus, Tone};
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

/// Masks key-shaped tokens in free text (provider error messages, command lines) that
/// should never have held one. Hints (`sk-…a1b2`), ids and hex digests pass unchanged.
pub fn scrub(text: &str) -> String {
    let is_sep = |c: char| c.is_whitespace() || "\"'`=,;()[]{}<>".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        out.push_str(&scrub_token(token));
        token.clear();
    };
    for c in text.chars() {
        if is_sep(c) {
            flush(&mut token, &mut out);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

fn scrub_token(tok: &str) -> String {
    if tok.contains('…') {
        return tok.to_string();
    }
    // `AKIA…:secret` — an access key id with its secret glued on.
    if let Some((id, secret)) = tok.split_once(':')
        && (id.starts_with("AKIA") || id.starts_with("ASIA"))
        && secret.len() >= 16
    {
        return format!("{id}:{}", super::model::mask(secret));
    }
    let prefixed = ["sk-", "sk_", "AIza", "xai-", "ghp_"]
        .iter()
        .any(|p| tok.starts_with(p));
    let base64ish = tok.len() >= 32
        && tok
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/_-".contains(c))
        && tok.chars().any(|c| c.is_ascii_uppercase())
        && tok.chars().any(|c| c.is_ascii_lowercase())
        && tok.chars().any(|c| c.is_ascii_digit());
    if (prefixed && tok.len() >= 16) || base64ish {
        super::model::mask(tok)
    } else {
        tok.to_string()
    }
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

/// The report as Markdown.
pub fn markdown(state: &IncidentState) -> String {
    let mut o = String::new();
    header(&mut o, state);
    summary(&mut o, state);
    credentials(&mut o, state);
    confirmations(&mut o, state);
    failures(&mut o, state);
    old_keys(&mut o, state);
    outages(&mut o, state);
    mistakes_section(&mut o, state);
    score(&mut o, state);
    timeline(&mut o, state);
    o
}

fn header(o: &mut String, state: &IncidentState) {
    let rb = &state.runbook;
    let _ = writeln!(o, "# Post-incident report: {}", rb.title);
    let _ = writeln!(o);
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| Incident | `{}` |", state.id);
    let _ = writeln!(
        o,
        "| Mode | {}{} |",
        state.mode.badge(),
        if state.read_only { " (read-only)" } else { "" }
    );
    let _ = writeln!(
        o,
        "| Runbook | `{}` (sha256 `{}`) |",
        rb.name,
        state
            .runbook_digest
            .get(..12)
            .unwrap_or(&state.runbook_digest)
    );
    let _ = writeln!(o, "| Severity | {} |", severity(rb.severity));
    let _ = writeln!(
        o,
        "| Exposure window | {} → {} |",
        ts(&rb.exposure_window.start),
        rb.exposure_window
            .end
            .as_ref()
            .map(ts)
            .unwrap_or_else(|| "open".into())
    );
    let _ = writeln!(
        o,
        "| Opened | {} by {} |",
        ts(&state.opened_at),
        state.operator
    );
    if let Some(id) = &state.cloud_identity {
        let _ = writeln!(o, "| Cloud identity | `{id}` |");
    }
    let (done, steps) = state.progress();
    let _ = writeln!(o, "| Steps | {done} of {steps} finished |");
    let _ = writeln!(o, "| As of | {} |", ts(&state.clock));
    if state.mode == Mode::Drill {
        let mut clock = "times are the drill's simulated clock".to_string();
        if let Some(s) = state.speed {
            let _ = write!(clock, ", running ×{s}");
        }
        if let Some(seed) = state.seed {
            let _ = write!(clock, ", seed {seed}");
        }
        let _ = writeln!(o, "| Clock | {clock} |");
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "All times are UTC. Keys appear only as hints (`sk-…a1b2`)."
    );
    let _ = writeln!(o);
}

fn summary(o: &mut String, state: &IncidentState) {
    let rb = &state.runbook;
    let n = counts(state);
    let _ = writeln!(o, "## Summary");
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "- Exposure window began: {}",
        ts(&rb.exposure_window.start)
    );
    let _ = writeln!(
        o,
        "- Incident opened: {} ({} after the window began)",
        ts(&state.opened_at),
        dur(between(rb.exposure_window.start, state.opened_at))
    );
    match time_to_contain(state) {
        Some(d) => {
            let _ = writeln!(
                o,
                "- Time to contain (opened → last exposed key revoked): **{}**",
                duration::format(d)
            );
            let _ = writeln!(
                o,
                "- Exposure (window start → last exposed key revoked): {}",
                dur(exposure_duration(state))
            );
        }
        None if n.exposed == 0 => {
            let _ = writeln!(o, "- Time to contain: — (no exposed key found)");
        }
        None => {
            let open: Vec<&str> = state
                .credentials
                .iter()
                .filter(|c| c.credential.exposed && !c.rotation.is_contained())
                .map(|c| c.credential.name.as_str())
                .collect();
            let _ = writeln!(
                o,
                "- Time to contain: **not contained**: {} exposed key(s) not revoked: {}",
                open.len(),
                open.join(", ")
            );
        }
    }
    let _ = writeln!(
        o,
        "- Keys found: {}; exposed: {}; rotated (new key everywhere): {}; revoked: {} (confirmed dead: {}); skipped: {}; failed: {}",
        n.found, n.exposed, n.rotated, n.revoked, n.confirmed_dead, n.skipped, n.failed
    );
    let _ = writeln!(
        o,
        "- Confirmations: {} typed, {} override(s), {} refused (empty or wrong word)",
        n.typed, n.overrides, state.refusals
    );
    let _ = writeln!(
        o,
        "- Failed provider calls: {} ({} retried)",
        n.attempts_failed, n.attempts_retried
    );
    let _ = writeln!(
        o,
        "- Consumer errors (calls that failed because their key died): {}",
        state.consumer_errors
    );
    let m = mistakes(state).len();
    let _ = writeln!(
        o,
        "- Mistakes: {}",
        if m == 0 {
            "none recorded".to_string()
        } else {
            format!("{m} (see Mistakes)")
        }
    );
    if let Some(s) = &state.score {
        let _ = writeln!(o, "- Drill score: {}/100", s.points);
    }
    let _ = writeln!(o);
}

fn credentials(o: &mut String, state: &IncidentState) {
    let start = state.runbook.exposure_window.start;
    let _ = writeln!(o, "## Credentials");
    let _ = writeln!(o);
    if state.credentials.is_empty() {
        let _ = writeln!(o, "No credential was found (the inventory did not run).");
        let _ = writeln!(o);
        return;
    }
    let _ = writeln!(
        o,
        "| Issuer | Name | Exposed | Locations | Old key | New key | Issued | Promoted | Revoked | Exposed → revoked | Status |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|");
    for c in &state.credentials {
        let locs: Vec<String> = c.credential.locations.iter().map(|l| l.label()).collect();
        let revoked = c.stamps.get(&Stage::Revoked);
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | `{}` | {} | {} | {} | {} | {} | {} |",
            c.credential.issuer.label(),
            cell(&c.credential.name),
            if c.credential.exposed { "yes" } else { "no" },
            cell(&locs.join("<br>")),
            cell(&c.credential.hint),
            c.new_hint
                .as_deref()
                .map(|h| format!("`{}`", cell(h)))
                .unwrap_or_else(|| "—".into()),
            ots(c.stamps.get(&Stage::Issued)),
            ots(c.stamps.get(&Stage::Promoted)),
            ots(revoked),
            dur(revoked.and_then(|r| between(start, *r))),
            cell(&status(c)),
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "Exposed → revoked runs from the start of the exposure window ({}) to the revocation.",
        ts(&start)
    );
    let _ = writeln!(o);
    let updated: Vec<_> = state
        .credentials
        .iter()
        .flat_map(|c| {
            c.updated_locations
                .iter()
                .map(move |(l, t)| (c.credential.name.as_str(), l.as_str(), t))
        })
        .collect();
    if !updated.is_empty() {
        let _ = writeln!(o, "### Locations updated (each store's own timestamp)");
        let _ = writeln!(o);
        let _ = writeln!(o, "| Credential | Location | Updated at |\n|---|---|---|");
        for (n, l, t) in updated {
            let _ = writeln!(o, "| {} | {} | {} |", cell(n), cell(l), ts(t));
        }
        let _ = writeln!(o);
    }
}

fn confirmations(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Confirmations and overrides");
    let _ = writeln!(o);
    if state.confirmations.is_empty() {
        let _ = writeln!(o, "None given.");
    } else {
        let _ = writeln!(
            o,
            "| Time | Operator | Action | Credential | Via | Failed checks passed over |\n|---|---|---|---|---|---|"
        );
        for r in &state.confirmations {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                ts(&r.at),
                cell(&r.operator),
                if r.action.is_override() {
                    "**OVERRIDE**".to_string()
                } else {
                    cell(r.action.label())
                },
                cell(&name_of(state, &r.credential)),
                cell(r.via.word()),
                if r.override_of.is_empty() {
                    "—".to_string()
                } else {
                    cell(&r.override_of.join("; "))
                }
            );
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "Refused confirmations (empty or wrong word): {}",
        state.refusals
    );
    let _ = writeln!(o);
}

fn failures(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Failures and retries");
    let _ = writeln!(o);
    let mut any = false;
    for c in &state.credentials {
        if let RotationState::Failed { reached, why } = &c.rotation {
            any = true;
            let _ = writeln!(
                o,
                "- Rotation of {} **failed** after {}: {}",
                c.credential.name,
                reached.label(),
                scrub(why)
            );
        }
    }
    for s in &state.steps {
        if let StepStatus::Failed { why } = &s.status {
            any = true;
            let _ = writeln!(o, "- Step `{}` **failed**: {}", s.id, scrub(why));
        }
    }
    if any {
        let _ = writeln!(o);
    }
    if state.failures.is_empty() {
        if !any {
            let _ = writeln!(o, "None.");
            let _ = writeln!(o);
        }
        return;
    }
    let _ = writeln!(
        o,
        "| Time | Step | Operation | Credential | Attempt | Error | Retried |\n|---|---|---|---|---|---|---|"
    );
    for f in &state.failures {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            ts(&f.at),
            cell(&f.step),
            cell(&f.operation),
            f.credential
                .as_deref()
                .map(|c| cell(&name_of(state, c)))
                .unwrap_or_else(|| "—".into()),
            f.attempt,
            cell(&f.why),
            if f.retryable { "yes" } else { "no" }
        );
    }
    let _ = writeln!(o);
}

fn old_keys(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Old keys after revocation");
    let _ = writeln!(o);
    let revoked: Vec<&CredentialState> = state
        .credentials
        .iter()
        .filter(|c| c.rotation.is_contained())
        .collect();
    if revoked.is_empty() {
        let _ = writeln!(o, "No key was revoked.");
        let _ = writeln!(o);
        return;
    }
    let _ = writeln!(
        o,
        "| Credential | Revoked | Calls refused after | Calls accepted after | Last accepted call | Verdict |\n|---|---|---|---|---|---|"
    );
    for c in revoked {
        let usage = state.usage.get(&c.credential.id);
        let (ok, denied) = usage.map(|u| u.old_after_revoke).unwrap_or((0, 0));
        let last = usage
            .and_then(|u| u.last_old_use.as_ref())
            .map(|(t, from)| {
                if from.is_empty() {
                    ts(t)
                } else {
                    format!("{} from {}", ts(t), cell(from))
                }
            })
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(
            o,
            "| {} | {} | {denied} | {ok} | {last} | {} |",
            cell(&c.credential.name),
            ots(c.stamps.get(&Stage::Revoked)),
            if usage.is_none() {
                "no usage data"
            } else {
                after_revoke_verdict(ok, denied)
            }
        );
    }
    let _ = writeln!(o);
}

fn outages(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Consumer errors");
    let _ = writeln!(o);
    if state.consumer_errors == 0 {
        let _ = writeln!(
            o,
            "None: no legitimate service lost access during the rotation."
        );
    } else {
        let _ = writeln!(
            o,
            "{} call(s) by legitimate services failed because the key they used was revoked under them. The OUTAGE lines of the timeline name each service and minute.",
            state.consumer_errors
        );
    }
    let _ = writeln!(o);
}

fn mistakes_section(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Mistakes");
    let _ = writeln!(o);
    let all = mistakes(state);
    if all.is_empty() {
        let _ = writeln!(
            o,
            "None recorded: no override, no revocation before propagation, no exposed key left out, no step skipped, no outage."
        );
    } else {
        for m in &all {
            let _ = writeln!(o, "- {m}");
        }
    }
    let _ = writeln!(o);
}

fn score(o: &mut String, state: &IncidentState) {
    let Some(s) = &state.score else {
        return;
    };
    let _ = writeln!(o, "## Drill score: {}/100", s.points);
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "- Time to contain (drill start → last exposed key revoked): {}",
        s.time_to_contain_secs
            .map(|x| duration::format(Duration::from_secs(x)))
            .unwrap_or_else(|| "not contained".into())
    );
    let _ = writeln!(o, "- Exposed keys revoked: {} of {}", s.revoked, s.exposed);
    let _ = writeln!(
        o,
        "- Attacker calls that succeeded after the first revocation: {}",
        s.attacker_calls_after_revoke
    );
    let _ = writeln!(o, "- Consumer errors caused: {}", s.consumer_errors);
    let _ = writeln!(
        o,
        "- Safety checks passed over (overrides, skipped critical steps or keys): {}",
        s.skipped_checks
    );
    if !s.mistakes.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "The drill's referee noted:");
        let _ = writeln!(o);
        for m in &s.mistakes {
            let _ = writeln!(o, "- {}", scrub(m));
        }
    }
    let _ = writeln!(o);
}

fn tone_mark(t: Tone) -> &'static str {
    match t {
        Tone::Alarm => "**!** ",
        Tone::Warn => "! ",
        Tone::Inject => "» ",
        Tone::Info | Tone::Good => "",
    }
}

fn timeline(o: &mut String, state: &IncidentState) {
    let _ = writeln!(o, "## Timeline");
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "In the order it was recorded. **!** alarm, ! warning, » scenario inject."
    );
    let _ = writeln!(o);
    for e in &state.timeline {
        let _ = writeln!(
            o,
            "- `{}` {}{}",
            ts(&e.at),
            tone_mark(e.tone),
            scrub(&e.text)
        );
    }
}

/// The report as JSON: the same content as the Markdown, for machines. Times are RFC 3339
/// strings in UTC with whole seconds; durations are whole seconds.
pub fn json(state: &IncidentState) -> Value {
    let rb = &state.runbook;
    let n = counts(state);
    let start = rb.exposure_window.start;
    let stamp = |c: &CredentialState, s: Stage| c.stamps.get(&s).map(ts);
    let creds: Vec<Value> = state
        .credentials
        .iter()
        .map(|c| {
            let revoked = c.stamps.get(&Stage::Revoked);
            let usage = state.usage.get(&c.credential.id);
            json!({
                "id": c.credential.id,
                "issuer": c.credential.issuer,
                "name": c.credential.name,
                "exposed": c.credential.exposed,
                "exposure_reason": scrub(&c.credential.exposure_reason),
                "locations": c.credential.locations.iter().map(|l| l.label()).collect::<Vec<_>>(),
                "old_hint": c.credential.hint,
                "new_hint": c.new_hint,
                "status": scrub(&status(c)),
                "stage": c.rotation.reached().label(),
                "issued": stamp(c, Stage::Issued),
                "staged": stamp(c, Stage::Staged),
                "verified": stamp(c, Stage::Verified),
                "promoted": stamp(c, Stage::Promoted),
                "propagated": stamp(c, Stage::Propagated),
                "revoked": stamp(c, Stage::Revoked),
                "confirmed_dead": stamp(c, Stage::ConfirmedDead),
                "deleted": c.deleted.as_ref().map(ts),
                "exposed_to_revoked_secs": revoked.and_then(|r| between(start, *r)).map(|d| d.as_secs()),
                "revoked_before_propagation": revoked_before_propagation(c),
                "locations_updated": c.updated_locations.iter()
                    .map(|(k, v)| (k.clone(), json!(ts(v))))
                    .collect::<serde_json::Map<_, _>>(),
                "failed_attempts": c.failed_attempts,
                "old_key_after_revoke": usage.map(|u| json!({
                    "ok": u.old_after_revoke.0,
                    "denied": u.old_after_revoke.1,
                })),
                "old_key_last_accepted": usage.and_then(|u| u.last_old_use.as_ref()).map(|(t, from)| json!({
                    "at": ts(t),
                    "from": scrub(from),
                })),
            })
        })
        .collect();
    let confirmations: Vec<Value> = state
        .confirmations
        .iter()
        .map(|r| {
            json!({
                "at": ts(&r.at),
                "operator": r.operator,
                "action": r.action.label(),
                "credential": r.credential,
                "name": name_of(state, &r.credential),
                "via": r.via.word(),
                "override_of": r.override_of,
            })
        })
        .collect();
    let failures: Vec<Value> = state
        .failures
        .iter()
        .map(|f| {
            json!({
                "at": ts(&f.at),
                "step": f.step,
                "operation": f.operation,
                "credential": f.credential,
                "attempt": f.attempt,
                "why": scrub(&f.why),
                "retryable": f.retryable,
            })
        })
        .collect();
    let steps: Vec<Value> = state
        .steps
        .iter()
        .map(|s| {
            let (status, why) = match &s.status {
                StepStatus::Pending => ("pending", None),
                StepStatus::Running => ("running", None),
                StepStatus::Done => ("done", None),
                StepStatus::Failed { why } => ("failed", Some(scrub(why))),
                StepStatus::Skipped { why } => ("skipped", Some(scrub(why))),
            };
            json!({
                "id": s.id,
                "status": status,
                "why": why,
                "started": s.started.as_ref().map(ts),
                "completed": s.completed.as_ref().map(ts),
            })
        })
        .collect();
    let timeline: Vec<Value> = state
        .timeline
        .iter()
        .map(|e| json!({"at": ts(&e.at), "tone": e.tone, "text": scrub(&e.text)}))
        .collect();
    let (done, total) = state.progress();
    json!({
        "report_version": 1,
        "incident": state.id,
        "title": rb.title,
        "mode": mode_label(state.mode),
        "read_only": state.read_only,
        "runbook": { "name": rb.name, "sha256": state.runbook_digest },
        "severity": severity(rb.severity),
        "exposure_window": {
            "start": ts(&start),
            "end": rb.exposure_window.end.as_ref().map(ts),
        },
        "opened": ts(&state.opened_at),
        "as_of": ts(&state.clock),
        "operator": state.operator,
        "cloud_identity": state.cloud_identity,
        "drill": (state.mode == Mode::Drill).then(|| json!({"seed": state.seed, "speed": state.speed})),
        "summary": {
            "steps_done": done,
            "steps": total,
            "time_to_contain_secs": time_to_contain(state).map(|d| d.as_secs()),
            "exposure_secs": exposure_duration(state).map(|d| d.as_secs()),
            "keys_found": n.found,
            "exposed": n.exposed,
            "rotated": n.rotated,
            "revoked": n.revoked,
            "confirmed_dead": n.confirmed_dead,
            "skipped": n.skipped,
            "failed": n.failed,
            "confirmations": n.typed,
            "overrides": n.overrides,
            "refused_confirmations": state.refusals,
            "failed_attempts": n.attempts_failed,
            "retried_attempts": n.attempts_retried,
            "consumer_errors": state.consumer_errors,
        },
        "steps": steps,
        "credentials": creds,
        "confirmations": confirmations,
        "failures": failures,
        "mistakes": mistakes(state),
        "score": state.score.as_ref().map(|s| json!({
            "points": s.points,
            "time_to_contain_secs": s.time_to_contain_secs,
            "exposed": s.exposed,
            "revoked": s.revoked,
            "attacker_calls_after_revoke": s.attacker_calls_after_revoke,
            "consumer_errors": s.consumer_errors,
            "skipped_checks": s.skipped_checks,
            "mistakes": s.mistakes.iter().map(|m| scrub(m)).collect::<Vec<_>>(),
        })),
        "timeline": timeline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_masks_keys_and_keeps_hints_ids_and_digests() {
        let s = scrub(
            "401 Incorrect API key provided: sk-test-0123456789abcdef0123 (hint sk-…a1b2), id AKIAEXAMPLEABCDEFGHI, sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        );
        assert!(!s.contains("0123456789abcdef0123"), "{s}");
        assert!(
            s.contains("sk-…a1b2") && s.contains("AKIAEXAMPLEABCDEFGHI"),
            "{s}"
        );
        assert!(s.contains("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"));
        let s = scrub(
            "secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY and AKIAEXAMPLEABCD:0123456789abcdef0123",
        );
        assert!(!s.contains("wJalrXUtnFEMI"), "{s}");
        assert!(!s.contains("0123456789abcdef0123"), "{s}");
        assert!(s.contains("AKIAEXAMPLEABCD:"), "{s}");
    }

    #[test]
    fn cells_do_not_break_tables() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
