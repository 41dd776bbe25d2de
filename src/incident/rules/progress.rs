//! How a step ends and when the world's news is an alarm: pure functions of the state.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::table::{DoneWhen, OnKeyFailure, rule};
use crate::incident::event::Event;
use crate::incident::model::KeyGeneration;
use crate::incident::rotation::{RotationState, Stage};
use crate::incident::state::{CredentialState, IncidentState, StepStatus};
use crate::runbook::schema::OnFailure;

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
    match rule(def.action).done_when {
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
