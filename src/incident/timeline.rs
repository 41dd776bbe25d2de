//! The timeline in words: what each journaled event says on the incident's timeline (the
//! Timeline panel, the headless output, the report), narrated apart from the fold that
//! changes the state.
//!
//! Pure. [`narrate`] reads the state as it was before the event (names, step titles, the
//! incident clock). Depends on events and state; names keys only by name and hint.

use chrono::{DateTime, Utc};

use super::event::{Event, Mode};
use super::state::{IncidentState, TimelineEntry, Tone};

/// The first entry of every timeline.
pub fn opened(title: &str, mode: Mode, at: DateTime<Utc>) -> TimelineEntry {
    entry(
        at,
        Tone::Info,
        format!("incident opened: {title} ({})", mode.badge()),
    )
}

/// What `event` adds to the timeline, if anything; `operator` is its record's user.
pub fn narrate(state: &IncidentState, event: &Event, operator: &str) -> Option<TimelineEntry> {
    step(state, event)
        .or_else(|| rotation(state, event))
        .or_else(|| confirmation(state, event, operator))
        .or_else(|| trouble(state, event))
        .or_else(|| world(state, event, operator))
}

fn entry(at: DateTime<Utc>, tone: Tone, text: String) -> TimelineEntry {
    TimelineEntry { at, tone, text }
}

/// A credential by name and hint, or its id when it is unknown.
fn name_of(state: &IncidentState, id: &str) -> String {
    state
        .credential(id)
        .map(|c| format!("{} {}", c.credential.name, c.credential.hint))
        .unwrap_or_else(|| id.to_string())
}

fn step_title(state: &IncidentState, id: &str) -> String {
    state
        .step_def(id)
        .map(|s| s.title.clone())
        .unwrap_or_else(|| id.to_string())
}

fn step(state: &IncidentState, event: &Event) -> Option<TimelineEntry> {
    let title = |id: &str| step_title(state, id);
    Some(match event {
        Event::StepStarted { step, at } => {
            entry(*at, Tone::Info, format!("step started: {}", title(step)))
        }
        Event::StepCompleted { step, at } => {
            entry(*at, Tone::Good, format!("step done: {}", title(step)))
        }
        Event::StepFailed { step, why, at } => entry(
            *at,
            Tone::Alarm,
            format!("step failed: {}: {why}", title(step)),
        ),
        Event::StepSkipped { step, why, at } => entry(
            *at,
            Tone::Warn,
            format!("step skipped: {}: {why}", title(step)),
        ),
        Event::StepReopened { step, at } => entry(
            *at,
            Tone::Info,
            format!("step reopened after its skip: {}", title(step)),
        ),
        // The reason names the step already.
        Event::StepBlocked { why, at, .. } => {
            entry(*at, Tone::Warn, format!("step blocked: {why}"))
        }
        _ => return None,
    })
}

fn rotation(state: &IncidentState, event: &Event) -> Option<TimelineEntry> {
    let n = |id: &str| name_of(state, id);
    let now = state.clock;
    Some(match event {
        // A second inventory refreshes what is known: not news.
        Event::CredentialDiscovered { credential: c } if state.credential(&c.id).is_none() => {
            let (tone, exposed) = if c.exposed {
                (Tone::Warn, " — EXPOSED")
            } else {
                (Tone::Info, "")
            };
            let text = format!(
                "found {} {} ({}) in {} location(s){exposed}",
                c.issuer.label(),
                c.name,
                c.hint,
                c.locations.len(),
            );
            entry(now, tone, text)
        }
        Event::ManualKeyNeeded {
            credential,
            instructions,
        } => entry(
            now,
            Tone::Warn,
            format!(
                "{} needs a new key made by hand: {instructions}",
                n(credential)
            ),
        ),
        Event::RoomNeeded {
            credential, plan, ..
        } => entry(
            now,
            Tone::Warn,
            format!("{}: no room for a new key: {plan}", n(credential)),
        ),
        Event::StrayKeyFound {
            credential, what, ..
        } => entry(
            now,
            Tone::Warn,
            format!(
                "{}: found a key an interrupted mint left behind: {what}",
                n(credential)
            ),
        ),
        Event::StrayKeyDiscarded {
            credential,
            what,
            at,
            ..
        } => entry(
            *at,
            Tone::Info,
            format!(
                "{}: deleted a key nobody holds, so none is left alive: {what}",
                n(credential)
            ),
        ),
        Event::PendingFound {
            credential,
            location,
            version,
            whose,
            ..
        } => entry(
            now,
            Tone::Alarm,
            format!(
                "{}: {location} already has a pending version ({version}) breachbook did not put there: {whose}. Nothing was staged; take it over (typed word) or skip the key",
                n(credential)
            ),
        ),
        Event::PendingRemoved {
            credential,
            location,
            version,
            at,
        } => entry(
            *at,
            Tone::Info,
            format!(
                "{}: took breachbook's pending version {version} off {location}, so it blocks no later rotation",
                n(credential)
            ),
        ),
        Event::RoomMade {
            credential,
            key_id,
            at,
        } => entry(
            *at,
            Tone::Info,
            format!(
                "{}: deleted the inactive key {key_id} to make room",
                n(credential)
            ),
        ),
        Event::Issued {
            credential,
            new_hint,
            at,
            ..
        } => entry(
            *at,
            Tone::Info,
            format!("new key issued for {}: {new_hint}", n(credential)),
        ),
        _ => return rollout(state, event),
    })
}

fn rollout(state: &IncidentState, event: &Event) -> Option<TimelineEntry> {
    let n = |id: &str| name_of(state, id);
    Some(match event {
        Event::Staged {
            credential,
            location,
            at,
            ..
        } => entry(
            *at,
            Tone::Info,
            format!(
                "new key for {} stored as pending in {location}",
                n(credential)
            ),
        ),
        Event::Verified { credential, at } => entry(
            *at,
            Tone::Good,
            format!("new key for {} verified", n(credential)),
        ),
        Event::Promoted { credential, at } => entry(
            *at,
            Tone::Info,
            format!("new key for {} promoted to current", n(credential)),
        ),
        Event::LocationUpdated {
            credential,
            location,
            updated_at,
        } => entry(
            *updated_at,
            Tone::Info,
            format!("{location} now holds the new key for {}", n(credential)),
        ),
        Event::Propagated { credential, at } => entry(
            *at,
            Tone::Good,
            format!("new key for {} propagated everywhere", n(credential)),
        ),
        _ => return None,
    })
}

fn confirmation(state: &IncidentState, event: &Event, operator: &str) -> Option<TimelineEntry> {
    let n = |id: &str| name_of(state, id);
    // A confirmation's own time; journals written before it had one use the clock so far.
    let now = match event {
        Event::ConfirmationGiven { at: Some(at), .. }
        | Event::ConfirmationRefused { at: Some(at), .. }
        | Event::OverrideGiven { at: Some(at), .. } => *at,
        _ => state.clock,
    };
    Some(match event {
        Event::ConfirmationGiven {
            credential, action, ..
        } => entry(
            now,
            Tone::Info,
            format!("{operator} confirmed {action} of {}", n(credential)),
        ),
        Event::ConfirmationRefused {
            credential,
            action,
            why,
            ..
        } => entry(
            now,
            Tone::Warn,
            format!("{action} of {} refused: {why}", n(credential)),
        ),
        Event::OverrideGiven {
            credential,
            failed_checks,
            ..
        } => entry(
            now,
            Tone::Alarm,
            format!(
                "{operator} OVERRODE failed checks for {}: {}",
                n(credential),
                failed_checks.join("; ")
            ),
        ),
        Event::ManualRevokeNeeded {
            credential,
            action,
            instructions,
            tested,
        } => entry(
            now,
            Tone::Warn,
            format!(
                "{}: {action} it by hand, then confirm again{}: {instructions}",
                n(credential),
                if *tested {
                    " (the old key still works)"
                } else {
                    ""
                }
            ),
        ),
        Event::Revoked { credential, at } => entry(
            *at,
            Tone::Good,
            format!("old key REVOKED: {}", n(credential)),
        ),
        Event::SessionsEnded {
            credential, what, ..
        } => entry(
            now,
            Tone::Good,
            format!("sessions of the old key of {} ended: {what}", n(credential)),
        ),
        Event::ConfirmedDead { credential, at } => entry(
            *at,
            Tone::Good,
            format!("old key confirmed dead: {}", n(credential)),
        ),
        Event::Deleted { credential, at } => entry(
            *at,
            Tone::Good,
            format!("old key deleted: {}", n(credential)),
        ),
        _ => return None,
    })
}

fn trouble(state: &IncidentState, event: &Event) -> Option<TimelineEntry> {
    let n = |id: &str| name_of(state, id);
    let now = state.clock;
    Some(match event {
        Event::AttemptFailed {
            credential,
            operation,
            attempt,
            why,
            retryable,
            ..
        } => {
            let who = credential
                .as_deref()
                .map(|c| format!(" {}", n(c)))
                .unwrap_or_default();
            let tail = if *retryable { ", retrying" } else { "" };
            entry(
                now,
                Tone::Warn,
                format!("{operation}{who} failed (attempt {attempt}): {why}{tail}"),
            )
        }
        Event::CallRetried {
            credential,
            call,
            attempt,
            why,
            at,
            ..
        } => {
            let who = credential
                .as_deref()
                .map(|c| format!(" for {}", n(c)))
                .unwrap_or_default();
            entry(
                *at,
                Tone::Info,
                format!("{call}{who} retried by the client (attempt {attempt}): {why}"),
            )
        }
        Event::RotationFailed { credential, why } => entry(
            now,
            Tone::Alarm,
            format!("rotation of {} FAILED: {why}", n(credential)),
        ),
        Event::RotationRetried { credential } => entry(
            now,
            Tone::Info,
            format!("retrying rotation of {}", n(credential)),
        ),
        Event::RotationSkipped { credential, why } => entry(
            now,
            Tone::Warn,
            format!("rotation of {} skipped: {why}", n(credential)),
        ),
        Event::Alarm { message, at, .. } => entry(*at, Tone::Alarm, message.clone()),
        Event::ConsumerFailed {
            consumer,
            credential,
            errors,
            at,
        } => entry(
            *at,
            Tone::Alarm,
            format!(
                "OUTAGE: {consumer} got {errors} errors calling with {}",
                n(credential)
            ),
        ),
        _ => return None,
    })
}

fn world(state: &IncidentState, event: &Event, operator: &str) -> Option<TimelineEntry> {
    let now = state.clock;
    Some(match event {
        Event::InjectArrived { message, at } => entry(*at, Tone::Inject, message.clone()),
        Event::CommandStarted {
            command, simulated, ..
        } => {
            let how = if *simulated { "simulated" } else { "running" };
            entry(now, Tone::Info, format!("{how}: {command}"))
        }
        Event::CommandFinished { step, exit_code } => {
            let tone = if *exit_code == 0 {
                Tone::Good
            } else {
                Tone::Alarm
            };
            entry(now, tone, format!("command of {step} exited {exit_code}"))
        }
        Event::DrillEnded { score, at } => entry(
            *at,
            Tone::Good,
            format!("drill ended: score {}/100", score.points),
        ),
        Event::ReportWritten { path } => entry(now, Tone::Good, format!("report written: {path}")),
        Event::Note { text } => entry(now, Tone::Info, format!("{operator}: {text}")),
        Event::OperatorNote { text, at } => {
            entry(*at, Tone::Info, format!("note by {operator}: {text}"))
        }
        Event::CreatorsFound {
            creators,
            persistence,
            at,
        } => {
            let unknown = creators
                .iter()
                .filter(|(_, p)| {
                    matches!(p, crate::incident::provenance::Provenance::Unknown { .. })
                })
                .count();
            let tone = if unknown > 0 || !persistence.is_empty() {
                Tone::Warn
            } else {
                Tone::Info
            };
            entry(
                *at,
                tone,
                format!(
                    "audit logs read for the exposure window: {} key(s) created in it ({unknown} by a creator that cannot be told), {} persistence change(s)",
                    creators.len(),
                    persistence.len()
                ),
            )
        }
        Event::MarkedKnown {
            credential,
            reason,
            at,
        } => {
            let name = state
                .credential(credential)
                .map(|c| c.credential.name.clone())
                .unwrap_or_else(|| credential.clone());
            entry(
                *at,
                Tone::Info,
                format!("{operator} marked {name} known (not a suspect): {reason}"),
            )
        }
        Event::RunStopped { how, why, at } => entry(
            *at,
            if *how == crate::incident::event::StopKind::Clean {
                Tone::Info
            } else {
                Tone::Warn
            },
            match why {
                Some(why) => format!("run {}: {why}", how.says()),
                None => format!("run {}", how.says()),
            },
        ),
        Event::RunResumed { host, pid, at } => entry(
            *at,
            Tone::Info,
            format!("resumed by {operator} on {host} (process {pid})"),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::runbook::schema::Runbook;

    #[test]
    fn a_failure_of_no_key_reads_without_a_double_space() {
        let rb: Runbook =
            serde_saphyr::from_str(include_str!("../../runbooks/onboarding-walkthrough.yaml"))
                .unwrap();
        let at = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let open = Event::IncidentOpened {
            id: "t".into(),
            mode: Mode::Drill,
            runbook: Box::new(rb),
            runbook_digest: String::new(),
            seed: None,
            speed: None,
            at,
            read_only: false,
        };
        let st = IncidentState::open(&open, at, "op").unwrap();
        let e = Event::AttemptFailed {
            credential: None,
            step: "inventory".into(),
            operation: "inventory".into(),
            attempt: 1,
            why: "access denied".into(),
            retryable: false,
        };
        let said = narrate(&st, &e, "op").unwrap().text;
        assert_eq!(said, "inventory failed (attempt 1): access denied");
    }
}
