//! The report as JSON: the same content as the Markdown, for machines.

use serde_json::{Value, json};

use super::{
    Integrity, action_items, attacker_activity, between, contained_at, counts, exposure_duration,
    mistakes, mode_label, name_of, retried_groups, revoked_before_propagation, severity, status,
    time_to_contain, timeline_in_order, ts,
};
use crate::incident::event::Mode;
use crate::incident::redact::{printable, printable_text, scrub};
use crate::incident::rotation::Stage;
use crate::incident::state::{CredentialState, IncidentState, StepState, StepStatus};

/// The report as JSON: the same content as the Markdown, for machines. Times are RFC 3339
/// strings in UTC with whole seconds; durations are whole seconds. No string holds a control
/// character or an escape sequence.
pub fn json(state: &IncidentState, integrity: &Integrity) -> Value {
    let rb = &state.runbook;
    let mut v = json!({
        "report_version": 1,
        "incident": state.id,
        "title": rb.title,
        "mode": mode_label(state.mode),
        "read_only": state.read_only,
        "runbook": { "name": rb.name, "sha256": state.runbook_digest },
        "severity": severity(rb.severity),
        "exposure_window": {
            "start": ts(&rb.exposure_window.start),
            "end": rb.exposure_window.end.as_ref().map(ts),
            "contained_at": contained_at(state).as_ref().map(ts),
        },
        "opened": ts(&state.opened_at),
        "as_of": ts(&state.clock),
        "operator": state.operator,
        "cloud_identity": state.cloud_identity,
        "drill": (state.mode == Mode::Drill).then(|| json!({"seed": state.seed, "speed": state.speed})),
        "summary": summary(state),
        "steps": state.steps.iter().map(step).collect::<Vec<_>>(),
        "credentials": state.credentials.iter().map(|c| credential(state, c)).collect::<Vec<_>>(),
        "confirmations": confirmations(state),
        "failures": failures(state),
        "mistakes": mistakes(state),
        "action_items": action_items(state),
        "attacker_activity": attacker_activity(state).iter().map(|r| json!({
            "credential": r.credential,
            "source": scrub(&r.source),
            "ok": r.ok,
            "denied": r.denied,
            "ok_while_known_exposed": r.while_known,
            "after_revoke": {"ok": r.after_revoke.0, "denied": r.after_revoke.1},
            "first_seen": ts(&r.first),
            "last_seen": ts(&r.last),
        })).collect::<Vec<_>>(),
        "retried_failures": retried_groups(state).iter().map(|(step, operation, what, count)| json!({
            "step": step, "operation": operation, "error": what, "count": count,
        })).collect::<Vec<_>>(),
        "notes": state.notes.iter().map(|(at, who, text)| json!({
            "at": ts(at), "operator": who, "text": scrub(text),
        })).collect::<Vec<_>>(),
        "score": state.score.as_ref().map(|s| json!({
            "points": s.points,
            "time_to_contain_secs": s.time_to_contain_secs,
            "exposed": s.exposed,
            "revoked": s.revoked,
            "attacker_calls_after_revoke": s.attacker_calls_after_revoke,
            "consumer_errors": s.consumer_errors,
            "skipped_checks": s.skipped_checks,
            "attacker_calls_while_known": s.attacker_calls_while_known,
            "replacement_wait_secs": s.replacement_wait_secs,
            "mistakes": s.mistakes.iter().map(|m| scrub(m)).collect::<Vec<_>>(),
        })),
        "timeline": timeline_in_order(state).into_iter()
            .map(|e| json!({"at": ts(&e.at), "tone": e.tone, "text": scrub(&e.text)}))
            .collect::<Vec<_>>(),
        "journal": {
            "intact": integrity.is_intact(),
            "head": { "seq": integrity.head.seq, "hash": integrity.head.hash },
            "problems": integrity.problems.iter().map(|p| scrub(p)).collect::<Vec<_>>(),
            "unlisted_problems": integrity.unlisted,
            "torn_tail_left_out": integrity.torn_tail,
        },
    });
    // Only when any key or persistence was made in the window.
    if let Some(created) = super::created::json(state)
        && let Some(m) = v.as_object_mut()
    {
        m.insert("created_during_window".into(), created);
    }
    // Only when there is any (reports of incidents without them stay as they were).
    if !state.inventory_gaps.is_empty()
        && let Some(m) = v.as_object_mut()
    {
        m.insert(
            "inventory_gaps".into(),
            json!(
                state
                    .inventory_gaps
                    .iter()
                    .map(|g| scrub(g))
                    .collect::<Vec<_>>()
            ),
        );
    }
    printable_strings(&mut v);
    v
}

/// Removes control characters and escape sequences from every string (keys too).
fn printable_strings(v: &mut Value) {
    match v {
        Value::String(s) => {
            let clean = printable_text(s);
            if clean != *s {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(printable_strings),
        Value::Object(map) => {
            let bad: Vec<String> = map
                .keys()
                .filter(|k| printable(k) != **k)
                .cloned()
                .collect();
            for k in bad {
                if let Some(val) = map.remove(&k) {
                    map.insert(printable(&k), val);
                }
            }
            map.values_mut().for_each(printable_strings);
        }
        _ => {}
    }
}

fn summary(state: &IncidentState) -> Value {
    let n = counts(state);
    let steps = state.step_counts();
    json!({
        "steps_done": steps.done,
        "steps_skipped": steps.skipped,
        "steps_failed": steps.failed,
        "steps": steps.total,
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
    })
}

fn step(s: &StepState) -> Value {
    let (status, why) = match &s.status {
        StepStatus::Pending if s.skip.is_some() => ("reopened", s.skip.as_deref().map(scrub)),
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
}

fn credential(state: &IncidentState, c: &CredentialState) -> Value {
    let mut v = credential_base(state, c);
    let Some(m) = v.as_object_mut() else {
        return v;
    };
    // Only when there is any (reports of incidents without them stay as they were).
    if let Some((what, before)) = &c.sessions_ended {
        m.insert(
            "sessions_ended".into(),
            json!({"before": ts(before), "how": scrub(what)}),
        );
    }
    if !c.strays.is_empty() {
        m.insert(
            "discarded_keys".into(),
            json!(
                c.strays
                    .iter()
                    .map(|s| json!({
                        "key_id": s.key_id,
                        "what": scrub(&s.what),
                        "deleted": s.discarded.as_ref().map(ts),
                    }))
                    .collect::<Vec<_>>()
            ),
        );
    }
    if let Some(p) = &c.pending_found {
        m.insert(
            "pending_found".into(),
            json!({
                "location": p.location,
                "version": p.version,
                "whose": scrub(&p.whose),
                "taken_over": p.confirmed,
            }),
        );
    }
    if let Some(at) = &c.pending_removed {
        m.insert("pending_removed".into(), json!(ts(at)));
    }
    v
}

fn credential_base(state: &IncidentState, c: &CredentialState) -> Value {
    let start = state.runbook.exposure_window.start;
    let stamp = |s: Stage| c.stamps.get(&s).map(ts);
    let revoked = c.stamps.get(&Stage::Revoked);
    let usage = state.usage.get(&c.credential.id);
    let mut v = json!({
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
        "issued": stamp(Stage::Issued),
        "staged": stamp(Stage::Staged),
        "verified": stamp(Stage::Verified),
        "promoted": stamp(Stage::Promoted),
        "propagated": stamp(Stage::Propagated),
        "revoked": stamp(Stage::Revoked),
        "confirmed_dead": stamp(Stage::ConfirmedDead),
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
        "old_key_calls": usage.map(|u| {
            let (kok, kdenied) = u.known_totals();
            let (uok, udenied) = u.unknown_totals();
            json!({
                "known_services": {"ok": kok, "denied": kdenied},
                "unknown_sources": {"ok": uok, "denied": udenied},
            })
        }),
        "found_exposed_at": c.found_at.as_ref().map(ts),
    });
    // What the issuer said of the key, only where it said something (reports of keys it
    // said nothing of stay as they were).
    if let Some(obj) = v.as_object_mut() {
        if let Some(evidence) = c.credential.blocked_as_leaked() {
            obj.insert("blocked_as_leaked".into(), json!(scrub(evidence)));
        }
        let took = c.credential.revoke_takes();
        if !took.is_empty() && c.rotation.is_contained() {
            obj.insert(
                "revoke_took".into(),
                json!(took.iter().map(|t| scrub(t)).collect::<Vec<_>>()),
            );
        }
        if let Some((_, until)) = super::restorable_until(c) {
            obj.insert("restorable_until".into(), json!(ts(&until)));
        }
    }
    v
}

fn confirmations(state: &IncidentState) -> Vec<Value> {
    state
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
        .collect()
}

fn failures(state: &IncidentState) -> Vec<Value> {
    state
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
        .collect()
}
