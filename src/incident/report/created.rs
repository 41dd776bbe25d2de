//! The report's "Created during the exposure window" section: every key created in the
//! window and every persistence change made there, its creator, the verdict, the decision
//! and who took it.

use std::fmt::Write;

use super::{cell, ts};
use crate::incident::provenance::Provenance;
use crate::incident::state::{Decision, IncidentState};

/// The Markdown section (nothing when nothing was created in the window).
pub(super) fn markdown(o: &mut String, state: &IncidentState) {
    let keys = state.created_during_window();
    let findings = &state.persistence;
    if keys.is_empty() && findings.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Created during the exposure window");
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "A key created after the exposure began may be the attacker's own. Each was judged by who created it (the issuer's audit log): this incident's responder, a known creator (`scope.known_creators`) and breachbook itself are vouched for; anyone else, or a creator that cannot be told, makes it a suspect."
    );
    let _ = writeln!(o);
    if !keys.is_empty() {
        let _ = writeln!(
            o,
            "| Credential | Key | Created | Creator | Source IP | Verdict | Decision | Decided by |\n|---|---|---|---|---|---|---|---|"
        );
        for c in keys {
            let (creator, ip) = match &c.provenance {
                Some(Provenance::Creator { creator }) => (
                    creator.identity.clone(),
                    creator.source_ip.clone().unwrap_or_else(|| "—".into()),
                ),
                Some(Provenance::Unknown { .. }) | None => ("unknown".into(), "—".into()),
            };
            let verdict = state
                .verdict(c)
                .map(|v| {
                    if v.is_suspect() {
                        format!("**SUSPECT**: {}", v.why())
                    } else {
                        format!("known: {}", v.why())
                    }
                })
                .unwrap_or_default();
            let (decision, by) = match state.decision(c) {
                Decision::Open => ("**undecided: still active**".to_string(), "—".to_string()),
                Decision::NotNeeded => ("none needed".to_string(), "—".to_string()),
                Decision::Revoked { by, at } => (
                    format!(
                        "revoked{}",
                        at.map(|t| format!(" {}", ts(&t))).unwrap_or_default()
                    ),
                    by,
                ),
                Decision::MarkedKnown(m) => {
                    (format!("marked known {}: {}", ts(&m.at), m.reason), m.by)
                }
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&c.credential.name),
                cell(&c.credential.hint),
                c.credential.created.map(|t| ts(&t)).unwrap_or_default(),
                cell(&creator),
                cell(&ip),
                cell(&verdict),
                cell(&decision),
                cell(&by)
            );
        }
        let _ = writeln!(o);
    }
    if !findings.is_empty() {
        let v = state.vouched();
        let _ = writeln!(
            o,
            "Persistence made during the window (users, login profiles, policies, role trust). breachbook lists them; it changes none: review each.\n\n| Time | Issuer | Action | Target | Creator | Source IP | Review |\n|---|---|---|---|---|---|---|"
        );
        for f in findings {
            let review = match v.vouch(&f.creator) {
                Some(why) => format!("known: {why}"),
                None => "**review: unknown identity**".to_string(),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                f.creator.at.map(|t| ts(&t)).unwrap_or_default(),
                cell(&f.issuer),
                cell(&f.action),
                cell(&f.target),
                cell(&f.creator.identity),
                cell(f.creator.source_ip.as_deref().unwrap_or("—")),
                cell(&review)
            );
        }
        let _ = writeln!(o);
    }
}
