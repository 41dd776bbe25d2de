//! How a step ends and when the world's news is an alarm: pure functions of the state.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::Work;
use super::table::{DoneWhen, OnKeyFailure, Runs, owner_of, rule};
use crate::incident::event::Event;
use crate::incident::model::KeyGeneration;
use crate::incident::rotation::{RotationState, Stage};
use crate::incident::state::{CredentialState, IncidentState, StepStatus};
use crate::runbook::schema::{Action, DrillEffect, OnFailure};

/// How far back a known service's old-key calls keep "Watch the old keys fail" open (drill
/// or incident minutes): a service that fails now, or did a moment ago.
const HOLD_RECENT_MINUTES: i64 = 3;

/// The events that end a running step now that none of its work is in flight: done,
/// failed, or (empty) not yet.
pub fn completion(state: &IncidentState, step: &str, now: DateTime<Utc>) -> Vec<Event> {
    let (Some(def), Some(st)) = (state.step_def(step), state.step(step)) else {
        return Vec::new();
    };
    if st.is_finished() || st.status == StepStatus::Pending {
        return Vec::new();
    }
    let step = step.to_string();
    let done = || {
        vec![Event::StepCompleted {
            step: step.clone(),
            at: now,
        }]
    };
    let failed = |why: String| {
        vec![Event::StepFailed {
            step: step.clone(),
            why,
            at: now,
        }]
    };
    let in_rotation = || state.credentials.iter().filter(|c| c.in_rotation());
    let r = rule(def.action);
    // A revoke step is not done while a suspect waits for its decision: the attacker's own
    // key left active and undecided is an open door, whatever happened to the exposed ones.
    let suspects_open = r.decides_suspects && !state.open_suspects().is_empty();
    match r.done_when {
        DoneWhen::ItSaysSo => Vec::new(),
        DoneWhen::Listed => {
            // A partial inventory is not done: the keys where it failed were never seen.
            if state.inventory_gaps.is_empty() {
                done()
            } else {
                failed(format!(
                    "the inventory is incomplete ({} key(s) found elsewhere): {}. Fix access and run it again; to go on without it, skip this step: every revoke then needs its override phrase, and the report lists it",
                    state.credentials.len(),
                    state.inventory_gaps.join("; ")
                ))
            }
        }
        DoneWhen::EveryRevokedKeyDeleted => {
            let left = in_rotation()
                .filter(|c| c.rotation.is_contained() && c.deleted.is_none())
                .count();
            if left == 0 { done() } else { Vec::new() }
        }
        DoneWhen::EveryKeyAt {
            stage,
            failed: on_failure,
        } => {
            let keys: Vec<&CredentialState> = in_rotation().collect();
            let continues = on_failure == OnKeyFailure::FailUnlessContinue
                && def.on_failure == OnFailure::Continue;
            match every_key_at(&keys, stage, on_failure, continues) {
                KeysAt::NotYet => Vec::new(),
                KeysAt::All | KeysAt::Continue(_) if suspects_open => Vec::new(),
                // Watching cannot pass while a known service still fails on an old key.
                KeysAt::All if monitor_hold(state, def.action).is_some() => Vec::new(),
                KeysAt::All => done(),
                KeysAt::Continue(text) => {
                    let mut events = vec![Event::Note { text }];
                    events.extend(done());
                    events
                }
                KeysAt::Failed(why) => failed(why),
            }
        }
    }
}

/// Where the keys of a step that waits for every key stand.
enum KeysAt {
    NotYet,
    All,
    /// Done with the keys that worked; the note says which failed.
    Continue(String),
    /// Failed; why.
    Failed(String),
}

fn every_key_at(
    keys: &[&CredentialState],
    stage: Stage,
    on_failure: OnKeyFailure,
    continues: bool,
) -> KeysAt {
    // A failed key has not made it, whatever it reached before (a key revoked early whose
    // rollout failed is past `propagated` in order, not in fact).
    let reached = keys
        .iter()
        .filter(|c| {
            c.rotation.reached() >= stage && !matches!(c.rotation, RotationState::Failed { .. })
        })
        .count();
    let broken: Vec<String> = keys
        .iter()
        .filter(|c| matches!(c.rotation, RotationState::Failed { .. }))
        .map(|c| c.credential.name.clone())
        .collect();
    if reached == keys.len() {
        return KeysAt::All;
    }
    if on_failure == OnKeyFailure::KeepOpen
        || broken.is_empty()
        || broken.len() + reached != keys.len()
    {
        return KeysAt::NotYet;
    }
    if continues {
        // Go on with the keys that worked; failed rows stay for retry or skip.
        return KeysAt::Continue(format!(
            "{} key(s) failed and were left for retry or skip: {}",
            broken.len(),
            broken.join(", ")
        ));
    }
    KeysAt::Failed(format!(
        "{} of {} key(s) failed ({}): retry each failed key or skip it",
        broken.len(),
        keys.len(),
        broken.join(", ")
    ))
}

/// The alarm an event from the world raises: the old key still used after its replacement
/// was promoted, once per key (`alarmed` holds the keys alarmed about already).
pub fn old_key_alarm(
    state: &IncidentState,
    ev: &Event,
    alarmed: &HashSet<String>,
) -> Option<Event> {
    let Event::UsageObserved { sample } = ev else {
        return None;
    };
    if sample.generation != KeyGeneration::Old || sample.ok == 0 {
        return None;
    }
    let c = state.credential(&sample.credential)?;
    let promoted = c.stamps.get(&Stage::Promoted)?;
    let fresh = c.rotation.reached() < Stage::Revoked
        && sample.minute >= *promoted
        && !alarmed.contains(&sample.credential);
    fresh.then(|| Event::Alarm {
        credential: Some(sample.credential.clone()),
        generation: Some(KeyGeneration::Old),
        message: format!(
            "ALARM: old key of {} still used after its replacement was promoted ({} calls from {})",
            c.credential.name,
            sample.ok,
            sample
                .sources
                .first()
                .cloned()
                .unwrap_or_else(|| "unknown".into())
        ),
        at: sample.minute,
    })
}

/// What would move a blocked step on (the screen adds its keys to these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unblock {
    /// Reopen this skipped step and run it.
    Reopen(String),
    /// Run this step (again).
    Run(String),
    /// Retry the failed keys.
    Retry,
    /// Leave the keys out of the rotation.
    SkipKeys,
    /// Paste a key made by hand.
    Paste,
    /// Decide about room at the issuer.
    MakeRoom,
}

/// Why a step cannot make progress, in words, with the keys it waits for and what would
/// move it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub why: String,
    /// Names of the keys (or services) it waits for.
    pub waits_for: Vec<String>,
    pub unblock: Vec<Unblock>,
}

/// Why a running step that works key by key cannot go on by itself, if it cannot: none of
/// the keys it still waits for can be worked on (they wait for another step, for the
/// operator, or they failed), or — watching old keys — a known service still fails on one.
/// `busy` keys are being worked on, so a step with any of them is not blocked.
pub fn blocked(state: &IncidentState, step: &str, busy: &HashSet<String>) -> Option<Blocked> {
    let st = state.step(step)?;
    if st.status != StepStatus::Running {
        return None;
    }
    why_blocked(state, step, busy)
}

/// Why starting this step now would do nothing, if it would: a bulk step none of whose keys
/// can be worked on, and not complete either.
pub fn blocked_before_start(state: &IncidentState, work: &Work, step: &str) -> Option<Blocked> {
    why_blocked(state, step, work.busy)
}

fn why_blocked(state: &IncidentState, step: &str, busy: &HashSet<String>) -> Option<Blocked> {
    let def = state.step_def(step)?;
    let r = rule(def.action);
    let (Runs::EachKey(_), DoneWhen::EveryKeyAt { stage, .. }) = (r.runs, r.done_when) else {
        return None;
    };
    let keys: Vec<&CredentialState> = state
        .credentials
        .iter()
        .filter(|c| c.in_rotation())
        .collect();
    let waiting: Vec<&CredentialState> = keys
        .iter()
        .copied()
        .filter(|c| c.rotation.reached() < stage)
        .collect();
    if waiting.iter().any(|c| busy.contains(&c.credential.id)) {
        return None;
    }
    if waiting.is_empty() {
        return monitor_hold(state, def.action);
    }
    // A key the step can work on now is not stuck (the engine starts it).
    let workable = |c: &CredentialState| {
        r.works_on_key(c) && c.manual_needed.is_none() && c.room_needed.is_none()
    };
    if waiting.iter().any(|c| workable(c)) {
        return None;
    }
    // Keys that wait for the operator's own answer (a key made by hand, room at the
    // issuer) are asked about on their rows already: alone, they do not block the step.
    let asked = |c: &CredentialState| c.manual_needed.is_some() || c.room_needed.is_some();
    if waiting.iter().all(|c| asked(c)) {
        return None;
    }
    let mut parts: Vec<String> = Vec::new();
    let mut unblock: Vec<Unblock> = Vec::new();
    let push = |u: Unblock, unblock: &mut Vec<Unblock>| {
        if !unblock.contains(&u) {
            unblock.push(u);
        }
    };
    let names = |cs: &[&CredentialState]| -> Vec<String> {
        cs.iter().map(|c| c.credential.name.clone()).collect()
    };
    let failed: Vec<&CredentialState> = waiting
        .iter()
        .copied()
        .filter(|c| matches!(c.rotation, RotationState::Failed { .. }))
        .collect();
    if !failed.is_empty() {
        parts.push(format!(
            "{} failed: retry it or leave it out of the rotation",
            and_list(&names(&failed)),
        ));
        push(Unblock::Retry, &mut unblock);
        push(Unblock::SkipKeys, &mut unblock);
    }
    let by_hand: Vec<&CredentialState> = waiting
        .iter()
        .copied()
        .filter(|c| c.manual_needed.is_some())
        .collect();
    if !by_hand.is_empty() {
        parts.push(format!(
            "{} {} for a key made by hand: create it in the issuer's console and paste it",
            and_list(&names(&by_hand)),
            if by_hand.len() == 1 { "waits" } else { "wait" },
        ));
        push(Unblock::Paste, &mut unblock);
    }
    let room: Vec<&CredentialState> = waiting
        .iter()
        .copied()
        .filter(|c| c.room_needed.is_some() && c.manual_needed.is_none())
        .collect();
    if !room.is_empty() {
        parts.push(format!(
            "{} {} for your decision: the issuer has no room for a new key",
            and_list(&names(&room)),
            if room.len() == 1 { "waits" } else { "wait" },
        ));
        push(Unblock::MakeRoom, &mut unblock);
    }
    // Keys that have not reached what this step starts from: another step moves them.
    let first = r.works_on.iter().min().copied();
    let behind: Vec<&CredentialState> = waiting
        .iter()
        .copied()
        .filter(|c| matches!(c.rotation, RotationState::At { .. }))
        .filter(|c| c.manual_needed.is_none() && c.room_needed.is_none())
        .filter(|c| first.is_some_and(|f| c.rotation.reached() < f))
        .collect();
    let mut by_owner: Vec<(Stage, Vec<&CredentialState>)> = Vec::new();
    for c in behind {
        let at = c.rotation.reached();
        match by_owner.iter_mut().find(|(s, _)| *s == at) {
            Some((_, v)) => v.push(c),
            None => by_owner.push((at, vec![c])),
        }
    }
    for (at, cs) in by_owner {
        let n = names(&cs);
        let verb = if n.len() == 1 { "is" } else { "are" };
        let next = at.next().map(|s| s.label()).unwrap_or("done");
        let owner = owner_of(at).and_then(|a| state.steps_with(a).first().map(|s| s.to_string()));
        let Some(owner) = owner else {
            parts.push(format!("{} {verb} not {next} yet", and_list(&n)));
            continue;
        };
        let title = state
            .step_def(&owner)
            .map(|d| d.title.clone())
            .unwrap_or_else(|| owner.clone());
        let skipped = state
            .step(&owner)
            .is_some_and(|s| matches!(s.status, StepStatus::Skipped { .. }));
        if skipped {
            parts.push(format!(
                "{} {verb} not {next} yet because “{title}” was skipped: reopen it and run it, or leave {} out of the rotation",
                and_list(&n),
                if n.len() == 1 { "that key" } else { "those keys" },
            ));
            push(Unblock::Reopen(owner), &mut unblock);
        } else {
            parts.push(format!(
                "{} {verb} not {next} yet: run “{title}” (again), or leave {} out of the rotation",
                and_list(&n),
                if n.len() == 1 {
                    "that key"
                } else {
                    "those keys"
                },
            ));
            push(Unblock::Run(owner), &mut unblock);
        }
        push(Unblock::SkipKeys, &mut unblock);
    }
    if parts.is_empty() {
        return None;
    }
    Some(Blocked {
        why: format!("“{}” cannot go on: {}.", def.title, parts.join("; ")),
        waits_for: names(&waiting),
        unblock,
    })
}

/// Watching old keys holds while a known service fails on an old key, or has not moved to
/// the new one (its last old-key call is recent and it has not called with the new key
/// since). Only for monitor steps.
fn monitor_hold(state: &IncidentState, action: Action) -> Option<Blocked> {
    if action != Action::Monitor {
        return None;
    }
    let since = state.clock - chrono::Duration::minutes(HOLD_RECENT_MINUTES);
    let mut parts = Vec::new();
    let mut services = Vec::new();
    let mut unblock = Vec::new();
    let title = state
        .steps_with(action)
        .first()
        .and_then(|s| state.step_def(s))
        .map(|d| d.title.clone())
        .unwrap_or_else(|| "Watching the old keys".into());
    for c in state.credentials.iter().filter(|c| c.in_rotation()) {
        for s in state
            .still_on_old_key(&c.credential.id)
            .into_iter()
            .filter(|s| s.last >= since)
        {
            let how = if s.failing {
                "and is refused (an outage)"
            } else {
                "and it still works for it"
            };
            let restart = restart_step(state, &s.service);
            let fix = match &restart {
                Some((_, title, true)) => format!("reopen “{title}” and run it"),
                Some((_, title, false)) => format!("run “{title}” again"),
                None => "restart it so it reads the new key".to_string(),
            };
            if let Some((id, _, skipped)) = restart {
                let u = if skipped {
                    Unblock::Reopen(id)
                } else {
                    Unblock::Run(id)
                };
                if !unblock.contains(&u) {
                    unblock.push(u);
                }
            }
            parts.push(format!(
                "{} still calls with {}'s old key {how}: {fix}",
                s.service, c.credential.name
            ));
            if !services.contains(&s.service) {
                services.push(s.service.clone());
            }
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(Blocked {
        why: format!("“{title}” holds: {}.", parts.join("; ")),
        waits_for: services,
        unblock,
    })
}

/// The command step that restarts `service` in drills: (id, title, whether it was skipped).
fn restart_step(state: &IncidentState, service: &str) -> Option<(String, String, bool)> {
    let def = state.runbook.steps.iter().find(|s| {
        s.command.as_ref().is_some_and(|c| {
            matches!(&c.drill_effect, Some(DrillEffect::RestartConsumers(names)) if names.iter().any(|n| n == service))
        })
    })?;
    let skipped = state
        .step(&def.id)
        .is_some_and(|s| s.is_skip_open() || matches!(s.status, StepStatus::Skipped { .. }));
    Some((def.id.clone(), def.title.clone(), skipped))
}

/// `a`, `a and b`, `a, b and c`.
pub(crate) fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
