//! The report's "Created during the exposure window" section: every key created in the
//! window and every persistence change made there, its creator, the verdict, the decision
//! and who took it.

use std::fmt::Write;

use serde_json::{Value, json};

use super::{cell, ts};
use crate::incident::provenance::Provenance;
use crate::incident::redact::scrub;
use crate::incident::state::{Decision, IncidentState};

/// The section's introduction, the same in every format.
const INTRO: &str = "A key created after the exposure began may be the attacker's own. Each was judged by who created it (the issuer's audit log): this incident's responder, a known creator (`scope.known_creators`) and breachbook itself are vouched for; anyone else, or a creator that cannot be told, makes it a suspect.";
const PERSISTENCE_INTRO: &str = "Persistence made during the window (users, login profiles, policies, role trust, service accounts, project members). breachbook lists them; it changes none: review each.";

/// One key created during the window, as every format shows it.
struct KeyRow {
    name: String,
    hint: String,
    created: String,
    creator: String,
    source_ip: Option<String>,
    suspect: bool,
    verdict: String,
    /// `open`, `not_needed`, `revoked`, `marked_known`.
    decision_kind: &'static str,
    decision: String,
    decided_by: Option<String>,
    decided_at: Option<String>,
}

/// One persistence finding.
struct FindingRow {
    at: String,
    issuer: String,
    action: String,
    target: String,
    creator: String,
    source_ip: Option<String>,
    /// `None`: to review (an unknown identity); else why it is known.
    known: Option<String>,
}

fn key_rows(state: &IncidentState) -> Vec<KeyRow> {
    state
        .created_during_window()
        .into_iter()
        .map(|c| {
            let (creator, source_ip) = match &c.provenance {
                Some(Provenance::Creator { creator }) => {
                    (creator.identity.clone(), creator.source_ip.clone())
                }
                Some(Provenance::Unknown { .. }) | None => ("unknown".into(), None),
            };
            let verdict = state.verdict(c);
            let suspect = verdict.as_ref().is_some_and(|v| v.is_suspect());
            let why = verdict.map(|v| v.why().to_string()).unwrap_or_default();
            let (decision_kind, decision, decided_by, decided_at) = match state.decision(c) {
                Decision::Open => ("open", "undecided: still active".to_string(), None, None),
                Decision::NotNeeded => ("not_needed", "none needed".to_string(), None, None),
                Decision::Revoked { by, at } => (
                    "revoked",
                    format!(
                        "revoked{}",
                        at.map(|t| format!(" {}", ts(&t))).unwrap_or_default()
                    ),
                    Some(by),
                    at.map(|t| ts(&t)),
                ),
                Decision::MarkedKnown(m) => (
                    "marked_known",
                    format!("marked known {}: {}", ts(&m.at), m.reason),
                    Some(m.by),
                    Some(ts(&m.at)),
                ),
            };
            KeyRow {
                name: c.credential.name.clone(),
                hint: c.credential.hint.clone(),
                created: c.credential.created.map(|t| ts(&t)).unwrap_or_default(),
                creator,
                source_ip,
                suspect,
                verdict: why,
                decision_kind,
                decision,
                decided_by,
                decided_at,
            }
        })
        .collect()
}

fn finding_rows(state: &IncidentState) -> Vec<FindingRow> {
    let v = state.vouched();
    state
        .persistence
        .iter()
        .map(|f| FindingRow {
            at: f.creator.at.map(|t| ts(&t)).unwrap_or_default(),
            issuer: f.issuer.clone(),
            action: f.action.clone(),
            target: f.target.clone(),
            creator: f.creator.identity.clone(),
            source_ip: f.creator.source_ip.clone(),
            known: v.vouch(&f.creator),
        })
        .collect()
}

/// The Markdown section (nothing when nothing was created in the window).
pub(super) fn markdown(o: &mut String, state: &IncidentState) {
    let keys = key_rows(state);
    let findings = finding_rows(state);
    if keys.is_empty() && findings.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Created during the exposure window");
    let _ = writeln!(o);
    let _ = writeln!(o, "{INTRO}");
    let _ = writeln!(o);
    if !keys.is_empty() {
        let _ = writeln!(
            o,
            "| Credential | Key | Created | Creator | Source IP | Verdict | Decision | Decided by |\n|---|---|---|---|---|---|---|---|"
        );
        for k in &keys {
            let verdict = if k.suspect {
                format!("**SUSPECT**: {}", k.verdict)
            } else if k.verdict.is_empty() {
                String::new()
            } else {
                format!("known: {}", k.verdict)
            };
            let decision = if k.decision_kind == "open" {
                format!("**{}**", k.decision)
            } else {
                k.decision.clone()
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&k.name),
                cell(&k.hint),
                k.created,
                cell(&k.creator),
                cell(k.source_ip.as_deref().unwrap_or("—")),
                cell(&verdict),
                cell(&decision),
                cell(k.decided_by.as_deref().unwrap_or("—"))
            );
        }
        let _ = writeln!(o);
    }
    if !findings.is_empty() {
        let _ = writeln!(
            o,
            "{PERSISTENCE_INTRO}\n\n| Time | Issuer | Action | Target | Creator | Source IP | Review |\n|---|---|---|---|---|---|---|"
        );
        for f in &findings {
            let review = match &f.known {
                Some(why) => format!("known: {why}"),
                None => "**review: unknown identity**".to_string(),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                f.at,
                cell(&f.issuer),
                cell(&f.action),
                cell(&f.target),
                cell(&f.creator),
                cell(f.source_ip.as_deref().unwrap_or("—")),
                cell(&review)
            );
        }
        let _ = writeln!(o);
    }
}

/// The JSON section, `None` when nothing was created in the window (older reports keep
/// their shape).
pub(super) fn json(state: &IncidentState) -> Option<Value> {
    let keys = key_rows(state);
    let findings = finding_rows(state);
    if keys.is_empty() && findings.is_empty() {
        return None;
    }
    Some(json!({
        "keys": keys.iter().map(|k| json!({
            "credential": k.name,
            "hint": k.hint,
            "created": k.created,
            "creator": scrub(&k.creator),
            "source_ip": k.source_ip,
            "verdict": if k.suspect { "suspect" } else { "known" },
            "why": scrub(&k.verdict),
            "decision": k.decision_kind,
            "decision_text": scrub(&k.decision),
            "decided_by": k.decided_by,
            "decided_at": k.decided_at,
        })).collect::<Vec<_>>(),
        "persistence": findings.iter().map(|f| json!({
            "at": f.at,
            "issuer": f.issuer,
            "action": f.action,
            "target": scrub(&f.target),
            "creator": scrub(&f.creator),
            "source_ip": f.source_ip,
            "review": f.known.is_none(),
            "known_why": f.known.as_deref().map(scrub),
        })).collect::<Vec<_>>(),
    }))
}

/// The HTML section (nothing when nothing was created in the window).
pub(super) fn html(o: &mut String, state: &IncidentState) {
    use super::html::{esc, head, row};
    let keys = key_rows(state);
    let findings = finding_rows(state);
    if keys.is_empty() && findings.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "<h2>Created during the exposure window</h2>\n<p>{}</p>",
        esc(INTRO)
    );
    if !keys.is_empty() {
        head(
            o,
            &[
                "Credential",
                "Key",
                "Created",
                "Creator",
                "Source IP",
                "Verdict",
                "Decision",
                "Decided by",
            ],
        );
        for k in &keys {
            let verdict = if k.suspect {
                format!(
                    "<strong class=\"alarm\">SUSPECT</strong>: {}",
                    esc(&k.verdict)
                )
            } else {
                format!("known: {}", esc(&k.verdict))
            };
            let decision = if k.decision_kind == "open" {
                format!("<strong class=\"alarm\">{}</strong>", esc(&k.decision))
            } else {
                esc(&k.decision)
            };
            row(
                o,
                &[
                    esc(&k.name),
                    esc(&k.hint),
                    esc(&k.created),
                    esc(&k.creator),
                    esc(k.source_ip.as_deref().unwrap_or("—")),
                    verdict,
                    decision,
                    esc(k.decided_by.as_deref().unwrap_or("—")),
                ],
            );
        }
        o.push_str("</table>\n");
    }
    if !findings.is_empty() {
        let _ = writeln!(o, "<p>{}</p>", esc(PERSISTENCE_INTRO));
        head(
            o,
            &[
                "Time",
                "Issuer",
                "Action",
                "Target",
                "Creator",
                "Source IP",
                "Review",
            ],
        );
        for f in &findings {
            let review = match &f.known {
                Some(why) => format!("known: {}", esc(why)),
                None => "<strong class=\"alarm\">review: unknown identity</strong>".to_string(),
            };
            row(
                o,
                &[
                    esc(&f.at),
                    esc(&f.issuer),
                    esc(&f.action),
                    esc(&f.target),
                    esc(&f.creator),
                    esc(f.source_ip.as_deref().unwrap_or("—")),
                    review,
                ],
            );
        }
        o.push_str("</table>\n");
    }
}
