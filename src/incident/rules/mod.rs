//! The rules of an incident, as pure functions of its state: one table of what each step
//! action works on and leads to, the pre-flight of every dangerous action, the typed-word
//! check, whether a command may go ahead and what it journals ([`check`]), when a step is
//! complete ([`completion`]), and when old-key use is an alarm.
//!
//! No IO and no clock: the engine passes in what it has in flight and the time. The
//! engine, the TUI's revoke window and the autopilot all read the same [`Dangerous::preflight`].
//! Depends on the incident's state, events, commands, model and rotation and on the runbook
//! schema.

mod preflight;
mod progress;
pub mod staging;
mod table;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

pub use self::preflight::{Check, Preflight, WordRefused, check_word, override_phrase_matches};
pub use self::progress::{
    Blocked, Unblock, blocked, blocked_before_start, completion, old_key_alarm,
};
pub use self::table::{
    ACTIONS, ActionRule, DoneWhen, KeyOp, OnKeyFailure, Runs, confirmed_by, owner_of, rule,
};
use super::command::{Command, Dangerous};
use super::event::{DangerKind, Event, Via};
use super::model::confirmation_word;
use super::refusal::Refusal;
use super::rotation::{RotationState, Stage};
use super::state::{CredentialState, IncidentState, StepStatus};
use crate::runbook::schema::Action;

/// What the engine has in hand when it checks a command.
#[derive(Debug, Clone, Copy)]
pub struct Work<'a> {
    /// Refuse everything that changes the outside world.
    pub read_only: bool,
    /// Incident clock, for the events journaled now.
    pub now: DateTime<Utc>,
    /// Units of work in flight per step.
    pub in_flight: &'a BTreeMap<String, usize>,
    /// Credentials being worked on.
    pub busy: &'a HashSet<String>,
}

impl Work<'_> {
    fn step_busy(&self, step: &str) -> bool {
        self.in_flight.get(step).copied().unwrap_or(0) > 0
    }
}

/// What a command leads to: events to journal now, then what the engine does next.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub events: Vec<Event>,
    pub next: Next,
}

/// The engine's part once a plan's events are journaled.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Nothing,
    /// In drills, the score once every step is finished.
    EndDrillIfComplete,
    /// Stop or restart the drill clock.
    PauseDrill(bool),
    /// Running steps whose work is all done are marked done (after a skip).
    CompleteFinishedSteps,
    /// Whether the step is complete now.
    CompleteStep {
        step: String,
    },
    /// Start the step's work over every key it works on.
    RunBulk {
        step: String,
    },
    RunCommand {
        step: String,
    },
    WriteReport {
        step: String,
    },
    /// The confirmed revoke or delete of a key's old key, after the engine's own gate.
    Destroy {
        credential: String,
        kind: DangerKind,
        via: Via,
    },
    /// The confirmed deletion of `key_id` to make room, then a new key.
    MakeRoom {
        credential: String,
        key_id: String,
    },
    /// Test and stage the key pasted for `credential`, as work of `step`.
    Paste {
        credential: String,
        step: String,
    },
    /// The confirmed take-over of the pending version in the way of `credential`'s staging:
    /// its secret's new keys are minted and staged over it.
    TakeOver {
        credential: String,
    },
    /// `credential` was skipped after its new key was staged: its field leaves the secret's
    /// pending version (or breachbook's pending label leaves the secret), its new key is
    /// deleted at the issuer, then finished steps complete.
    Unstage {
        credential: String,
    },
}

impl Plan {
    fn then(events: Vec<Event>, next: Next) -> Result<Plan, Rejection> {
        Ok(Plan { events, next })
    }
}

/// A refused command: the refusal, and what is journaled about it (a refused word).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub refusal: Refusal,
    pub record: Vec<Event>,
}

impl From<Refusal> for Rejection {
    fn from(refusal: Refusal) -> Rejection {
        Rejection {
            refusal,
            record: Vec::new(),
        }
    }
}

/// Whether `cmd` may go ahead in `state`, and what it journals and leads to.
pub fn check(state: &IncidentState, work: &Work, cmd: &Command) -> Result<Plan, Rejection> {
    match cmd {
        Command::RunStep { step } => check_run_step(state, work, step),
        Command::TickItem { step, item } => check_tick(state, step, *item),
        Command::SkipStep { step, why } => check_skip_step(state, work, step, why),
        Command::ReopenStep { step } => check_reopen(state, work, step),
        Command::Confirm {
            target,
            word,
            override_phrase,
            via,
        } => {
            if work.read_only {
                return Err(Refusal::ReadOnlyDanger {
                    verb: target.verb(),
                }
                .into());
            }
            let c = credential(state, target.credential())?;
            match target {
                Dangerous::MakeRoom { .. } => check_make_room(state, work, c, word, *via),
                Dangerous::TakeOver { .. } => {
                    check_take_over(state, work, c, word, override_phrase.as_deref(), *via)
                }
                _ => check_destroy(
                    state,
                    c,
                    target,
                    word,
                    override_phrase.as_deref(),
                    *via,
                    work.now,
                ),
            }
        }
        Command::Retry { credential: id } => check_retry(state, work, id),
        Command::MarkKnown {
            credential: id,
            reason,
        } => {
            let c = credential(state, id)?;
            let name = c.credential.name.clone();
            if !state.is_suspect(c) || c.rotation.reached() >= Stage::Revoked {
                return Err(Refusal::NotSuspect { name }.into());
            }
            if reason.trim().is_empty() {
                return Err(Refusal::NoReason { name }.into());
            }
            let marked = Event::MarkedKnown {
                credential: id.clone(),
                reason: reason.trim().to_string(),
                at: work.now,
            };
            // A revoke step that waited only on this suspect is done now.
            Plan::then(vec![marked], Next::CompleteFinishedSteps)
        }
        Command::SkipCredential {
            credential: id,
            why,
        } => {
            let c = credential(state, id)?;
            if c.rotation.reached() >= Stage::Revoked {
                return Err(Refusal::NothingToSkip.into());
            }
            if work.busy.contains(id) {
                return Err(Refusal::KeyInFlight.into());
            }
            let skipped = Event::RotationSkipped {
                credential: id.clone(),
                why: why.clone(),
            };
            // A new key already staged (or issued and held) must not stay behind: the
            // secret's pending version loses it, the issuer the key.
            let staged = c.rotation.reached() >= Stage::Staged
                && !c.stamps.contains_key(&Stage::Promoted)
                && c.staged_version.is_some();
            let next = if staged && !work.read_only {
                Next::Unstage {
                    credential: id.clone(),
                }
            } else {
                Next::CompleteFinishedSteps
            };
            Plan::then(vec![skipped], next)
        }
        Command::PasteKey {
            credential: id,
            key,
        } => check_paste(state, work, id, key.0.expose_secret().is_empty()),
        Command::Note { text } => {
            // Typed by the operator (or a script): journaled, shown and reported, so no
            // control character or escape sequence, and nothing key-shaped (a pasted key),
            // goes into the journal. Key values breachbook holds are masked on recording.
            let text = super::redact::scrub(&super::redact::printable(text.trim()));
            let text = text.trim();
            if text.is_empty() {
                return Err(Refusal::EmptyNote.into());
            }
            let note = Event::OperatorNote {
                text: text.to_string(),
                at: work.now,
            };
            Plan::then(vec![note], Next::Nothing)
        }
        Command::PauseDrill { paused } => Plan::then(Vec::new(), Next::PauseDrill(*paused)),
        Command::Shutdown | Command::StopBySignal { .. } => Plan::then(Vec::new(), Next::Nothing),
    }
}

fn credential<'a>(state: &'a IncidentState, id: &str) -> Result<&'a CredentialState, Refusal> {
    state.credential(id).ok_or_else(|| Refusal::NoCredential {
        credential: id.to_string(),
    })
}

fn check_run_step(state: &IncidentState, work: &Work, step: &str) -> Result<Plan, Rejection> {
    let Some(def) = state.step_def(step) else {
        return Err(Refusal::NoStep {
            step: step.to_string(),
        }
        .into());
    };
    let Some(st) = state.step(step) else {
        return Plan::then(Vec::new(), Next::Nothing);
    };
    if let StepStatus::Skipped { why } = &st.status {
        return Err(Refusal::StepSkipped {
            title: def.title.clone(),
            why: why.clone(),
        }
        .into());
    }
    if st.is_finished() {
        return Err(Refusal::StepDone {
            title: def.title.clone(),
        }
        .into());
    }
    let unmet = state.unmet_needs(step);
    if !unmet.is_empty() {
        let titles = unmet
            .iter()
            .map(|n| {
                state
                    .step_def(n)
                    .map(|d| format!("“{}”", d.title))
                    .unwrap_or_else(|| n.clone())
            })
            .collect();
        return Err(Refusal::NeedsFirst { titles }.into());
    }
    if work.step_busy(step) {
        return Err(Refusal::StepRunning.into());
    }
    if work.read_only && def.action.is_mutating() {
        return Err(Refusal::ReadOnlyStep.into());
    }
    let step = step.to_string();
    let at = work.now;
    let started = Event::StepStarted {
        step: step.clone(),
        at,
    };
    let start_once = || (st.status != StepStatus::Running).then(|| started.clone());
    match rule(def.action).runs {
        Runs::Checklist => {
            let done = st.checked.iter().filter(|c| **c).count();
            let all = st.checked.len();
            if done < all {
                return Err(Refusal::NotTicked { done, all }.into());
            }
            let mut events: Vec<Event> = start_once().into_iter().collect();
            events.push(Event::StepCompleted { step, at });
            Plan::then(events, Next::EndDrillIfComplete)
        }
        Runs::KeyByKey(_) => Plan::then(
            start_once().into_iter().collect(),
            Next::CompleteStep { step },
        ),
        Runs::Command if def.command.is_none() => {
            let why = "this command step has no command; fix the runbook".to_string();
            Plan::then(vec![Event::StepFailed { step, why, at }], Next::Nothing)
        }
        Runs::Command => Plan::then(vec![started], Next::RunCommand { step }),
        Runs::Report => Plan::then(vec![started], Next::WriteReport { step }),
        Runs::EachKey(_) if st.status != StepStatus::Running => {
            // A step that could not move a single key would only spin: say why instead.
            if let Some(b) = blocked_before_start(state, work, &step) {
                return Err(Refusal::Blocked { why: b.why }.into());
            }
            Plan::then(vec![started], Next::RunBulk { step })
        }
        Runs::Inventory | Runs::EachKey(_) => Plan::then(vec![started], Next::RunBulk { step }),
    }
}

fn check_tick(state: &IncidentState, step: &str, item: usize) -> Result<Plan, Rejection> {
    let Some(s) = state.step(step) else {
        return Err(Refusal::NoStep {
            step: step.to_string(),
        }
        .into());
    };
    let Some(checked) = s.checked.get(item).copied() else {
        return Err(Refusal::NoChecklistItem {
            step: step.to_string(),
            item,
        }
        .into());
    };
    if s.is_finished() {
        return Err(Refusal::TickFinished.into());
    }
    let ticked = Event::ChecklistTicked {
        step: step.to_string(),
        item,
        checked: !checked,
    };
    Plan::then(vec![ticked], Next::Nothing)
}

fn check_skip_step(
    state: &IncidentState,
    work: &Work,
    step: &str,
    why: &str,
) -> Result<Plan, Rejection> {
    let Some(s) = state.step(step) else {
        return Err(Refusal::NoStep {
            step: step.to_string(),
        }
        .into());
    };
    if s.is_finished() {
        return Err(Refusal::SkipFinished.into());
    }
    if work.step_busy(step) {
        return Err(Refusal::StepInFlight.into());
    }
    let why = if why.trim().is_empty() {
        "no reason given".to_string()
    } else {
        why.to_string()
    };
    let skipped = Event::StepSkipped {
        step: step.to_string(),
        why,
        at: work.now,
    };
    Plan::then(vec![skipped], Next::EndDrillIfComplete)
}

/// Opening a skipped step again: only a skipped step can be, and only when nothing of it is
/// in flight.
fn check_reopen(state: &IncidentState, work: &Work, step: &str) -> Result<Plan, Rejection> {
    let (Some(s), Some(def)) = (state.step(step), state.step_def(step)) else {
        return Err(Refusal::NoStep {
            step: step.to_string(),
        }
        .into());
    };
    if !matches!(s.status, StepStatus::Skipped { .. }) {
        return Err(Refusal::NotSkipped {
            title: def.title.clone(),
        }
        .into());
    }
    if work.step_busy(step) {
        return Err(Refusal::StepInFlight.into());
    }
    let reopened = Event::StepReopened {
        step: step.to_string(),
        at: work.now,
    };
    Plan::then(vec![reopened], Next::Nothing)
}

/// A revoke or delete of the old key: the key may be destroyed now, the word is its own,
/// and a failed pre-flight comes with the override phrase.
fn check_destroy(
    state: &IncidentState,
    c: &CredentialState,
    target: &Dangerous,
    word: &str,
    typed_override: Option<&str>,
    via: Via,
    now: DateTime<Utc>,
) -> Result<Plan, Rejection> {
    let at = Some(now);
    let kind = target.kind();
    let name = c.credential.name.clone();
    may_destroy(state, c, kind)?;
    let id = c.credential.id.clone();
    if let Err(w) = check_word(word, &c.credential.confirmation_word()) {
        let refused = Event::ConfirmationRefused {
            credential: id,
            action: kind,
            why: w.why().into(),
            at,
        };
        let refusal = match w {
            WordRefused::Empty => Refusal::NoWord { name },
            WordRefused::Wrong(typed) => Refusal::WrongWord { typed, name },
        };
        return Err(Rejection {
            refusal,
            record: vec![refused],
        });
    }
    let mut events = vec![Event::ConfirmationGiven {
        credential: id.clone(),
        action: kind,
        via,
        at,
    }];
    // Pre-flight: checked again here, whatever the screen showed.
    if let Some(failure) = target.preflight_failure(state) {
        if !override_phrase_matches(typed_override, &failure.phrase) {
            // The right word without the override is not a confirmation: nothing is
            // recorded as given, so a later retry starts clean.
            return Err(Refusal::PreflightFailed(failure).into());
        }
        events.push(Event::OverrideGiven {
            credential: id.clone(),
            failed_checks: failure.failed,
            via,
            at,
        });
    }
    let next = Next::Destroy {
        credential: id,
        kind,
        via,
    };
    Plan::then(events, next)
}

/// Whether the old key of `c` may be revoked (or deleted) at all now.
fn may_destroy(
    state: &IncidentState,
    c: &CredentialState,
    kind: DangerKind,
) -> Result<(), Refusal> {
    let name = || c.credential.name.clone();
    let reached = c.rotation.reached();
    match kind {
        DangerKind::Revoke if reached >= Stage::Revoked => {
            Err(Refusal::AlreadyRevoked { name: name() })
        }
        DangerKind::Revoke if !c.credential.exposed && !state.is_suspect(c) => {
            Err(Refusal::NotExposed { name: name() })
        }
        DangerKind::Revoke if matches!(c.rotation, RotationState::Skipped { .. }) => {
            Err(Refusal::NotInRotation { name: name() })
        }
        DangerKind::Revoke if c.requested(kind) => Err(Refusal::BeingRevoked { name: name() }),
        DangerKind::Delete if reached < Stage::Revoked => {
            Err(Refusal::RevokeFirst { name: name() })
        }
        DangerKind::Delete if c.deleted.is_some() => Err(Refusal::AlreadyDeleted { name: name() }),
        DangerKind::Delete if c.requested(kind) => Err(Refusal::BeingDeleted { name: name() }),
        _ => Ok(()),
    }
}

/// The typed confirmation to delete the inactive key a `RoomNeeded` named: its own word
/// (the last 4 characters of *that* key's id), then the deletion and a new key.
fn check_make_room(
    state: &IncidentState,
    work: &Work,
    c: &CredentialState,
    word: &str,
    via: Via,
) -> Result<Plan, Rejection> {
    let id = c.credential.id.clone();
    let name = c.credential.name.clone();
    let Some(room) = &c.room_needed else {
        return Err(Refusal::NoRoomNeeded { name }.into());
    };
    if matches!(c.rotation, RotationState::Skipped { .. }) || c.rotation.reached() >= Stage::Issued
    {
        return Err(Refusal::NoNewKeyNeeded { name }.into());
    }
    let key_id = room.key_id.clone();
    if let Some(other) = state
        .credentials
        .iter()
        .find(|o| o.credential.id != id && o.credential.key_id == key_id && o.in_rotation())
    {
        let other = other.credential.name.clone();
        return Err(Refusal::RoomKeyIsExposed { key_id, other }.into());
    }
    if work.busy.contains(&id) {
        return Err(Refusal::Busy { name }.into());
    }
    if let Err(w) = check_word(word, &confirmation_word(&key_id)) {
        let refused = Event::ConfirmationRefused {
            credential: id,
            action: DangerKind::MakeRoom,
            why: w.why().into(),
            at: Some(work.now),
        };
        return Err(Rejection {
            refusal: Refusal::WrongRoomWord { key_id },
            record: vec![refused],
        });
    }
    let mut events = vec![Event::ConfirmationGiven {
        credential: id.clone(),
        action: DangerKind::MakeRoom,
        via,
        at: Some(work.now),
    }];
    if matches!(c.rotation, RotationState::Failed { .. }) {
        // Making room is how this failed rotation goes on: the retry is journaled, so the
        // key minted after it is not refused by the rotation state.
        events.push(Event::RotationRetried {
            credential: id.clone(),
        });
    }
    Plan::then(
        events,
        Next::MakeRoom {
            credential: id,
            key_id,
        },
    )
}

/// The typed confirmation to stage over a pending version breachbook did not put on the
/// secret: that version's own word (the last 4 characters of its id), the override phrase
/// too when automatic rotation is on, then the secret's new keys are minted and staged.
fn check_take_over(
    state: &IncidentState,
    work: &Work,
    c: &CredentialState,
    word: &str,
    typed_override: Option<&str>,
    via: Via,
) -> Result<Plan, Rejection> {
    let id = c.credential.id.clone();
    let name = c.credential.name.clone();
    let Some(found) = &c.pending_found else {
        return Err(Refusal::NoPendingInTheWay { name }.into());
    };
    if matches!(c.rotation, RotationState::Skipped { .. }) || c.rotation.reached() >= Stage::Staged
    {
        return Err(Refusal::NoNewKeyNeeded { name }.into());
    }
    if staging::group_of(state, &id)
        .iter()
        .any(|m| work.busy.contains(&m.credential.id))
    {
        return Err(Refusal::Busy { name }.into());
    }
    if let Err(w) = check_word(word, &confirmation_word(&found.version)) {
        let refused = Event::ConfirmationRefused {
            credential: id,
            action: DangerKind::TakeOver,
            why: w.why().into(),
            at: Some(work.now),
        };
        return Err(Rejection {
            refusal: Refusal::WrongTakeOverWord {
                version: found.version.clone(),
            },
            record: vec![refused],
        });
    }
    let mut events = vec![Event::ConfirmationGiven {
        credential: id.clone(),
        action: DangerKind::TakeOver,
        via,
        at: Some(work.now),
    }];
    let target = Dangerous::TakeOver {
        credential: id.clone(),
    };
    if let Some(failure) = target.preflight_failure(state) {
        if !override_phrase_matches(typed_override, &failure.phrase) {
            return Err(Refusal::PreflightFailed(failure).into());
        }
        events.push(Event::OverrideGiven {
            credential: id.clone(),
            failed_checks: failure.failed,
            via,
            at: Some(work.now),
        });
    }
    for m in staging::group_of(state, &id) {
        if matches!(m.rotation, RotationState::Failed { .. }) && m.pending_found.is_some() {
            events.push(Event::RotationRetried {
                credential: m.credential.id.clone(),
            });
        }
    }
    Plan::then(events, Next::TakeOver { credential: id })
}

/// What revoking the old key of `c` does, in words, for the revoke window and the report.
pub fn revoke_effects(c: &CredentialState) -> Vec<String> {
    let cr = &c.credential;
    match cr.issuer {
        crate::runbook::schema::Issuer::AwsIam => {
            let user = cr
                .meta
                .get("user")
                .cloned()
                .unwrap_or_else(|| cr.name.clone());
            vec![
                format!(
                    "deactivate access key {} (undoable until it is deleted)",
                    cr.key_id
                ),
                format!(
                    "deny every session (temporary credentials) of IAM user {user} issued before now: inline policy {SESSION_DENY_POLICY} (aws:TokenIssueTime), because deactivating a key does not end sessions made from it (up to 36 h)"
                ),
            ]
        }
        _ => Vec::new(),
    }
}

/// Name of the inline IAM user policy that denies sessions issued before a revocation.
/// AWS's own name for roles is `AWSRevokeOlderSessions`; for users it sets no convention.
pub const SESSION_DENY_POLICY: &str = "BreachbookRevokeOlderSessions";

/// Clears a failed rotation and runs the step that owns its failed move again.
fn check_retry(state: &IncidentState, work: &Work, id: &str) -> Result<Plan, Rejection> {
    let c = credential(state, id)?;
    let RotationState::Failed { reached, .. } = c.rotation else {
        return Err(Refusal::NotFailed {
            name: c.credential.name.clone(),
        }
        .into());
    };
    if work.read_only {
        return Err(Refusal::ReadOnlyRetry.into());
    }
    let mut events = vec![Event::RotationRetried {
        credential: id.to_string(),
    }];
    if reached >= Stage::Staged && !c.stamps.contains_key(&Stage::Promoted) {
        // The keys of one secret share one pending version, promoted once for all of them:
        // the others that failed before its promotion are retried with this one.
        for m in staging::group_of(state, id) {
            if m.credential.id != id
                && matches!(m.rotation, RotationState::Failed { .. })
                && m.rotation.reached() >= Stage::Staged
                && !m.stamps.contains_key(&Stage::Promoted)
                && m.staged_version == c.staged_version
            {
                events.push(Event::RotationRetried {
                    credential: m.credential.id.clone(),
                });
            }
        }
    }
    // A key revoked early whose replacement failed to roll out: the rollout is retried.
    let late = IncidentState::needs_late_rollout(c);
    let action = if late {
        Some(Action::Propagate)
    } else {
        owner_of(reached)
    };
    let step = action.and_then(|action| state.steps_with(action).first().map(|s| s.to_string()));
    let Some(step) = step else {
        return Plan::then(events, Next::Nothing);
    };
    // Re-run the owning step for the keys it works on (this one included).
    if state
        .step(&step)
        .is_some_and(|s| s.status != StepStatus::Running)
    {
        events.push(Event::StepStarted {
            step: step.clone(),
            at: work.now,
        });
    }
    Plan::then(events, Next::RunBulk { step })
}

/// A key made by hand arrives: it is tested and staged as work of the open rotate step.
fn check_paste(
    state: &IncidentState,
    work: &Work,
    id: &str,
    empty: bool,
) -> Result<Plan, Rejection> {
    if work.read_only {
        return Err(Refusal::ReadOnlyPaste.into());
    }
    let c = credential(state, id)?;
    // At Issued with a key asked for again: the key pasted before was never stored (a
    // crash between the paste and the store write), so a paste is awaited once more.
    if c.manual_needed.is_none() || c.rotation.reached() >= Stage::Staged {
        return Err(Refusal::NotWaitingForPaste {
            name: c.credential.name.clone(),
        }
        .into());
    }
    if empty {
        return Err(Refusal::NothingPasted.into());
    }
    if work.busy.contains(id) {
        return Err(Refusal::KeyInFlight.into());
    }
    let open_rotate = state.steps.iter().find(|s| {
        state
            .step_def(&s.id)
            .is_some_and(|d| d.action == Action::Rotate)
            && !s.is_finished()
    });
    let Some(step) = open_rotate.map(|s| s.id.clone()) else {
        return Err(Refusal::NoRotateStep.into());
    };
    let next = Next::Paste {
        credential: id.to_string(),
        step,
    };
    Plan::then(Vec::new(), next)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::incident::event::Mode;
    use crate::incident::model::{Credential, Location, LocationKind};

    fn at(m: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + m * 60, 0).unwrap()
    }

    /// The onboarding runbook with one exposed OpenAI key found.
    fn found() -> IncidentState {
        let rb = serde_saphyr::from_str(include_str!(
            "../../../runbooks/onboarding-walkthrough.yaml"
        ))
        .unwrap();
        let open = Event::IncidentOpened {
            id: "t".into(),
            mode: Mode::Drill,
            runbook: Box::new(rb),
            runbook_digest: String::new(),
            seed: None,
            speed: None,
            at: at(0),
            read_only: false,
        };
        let mut st = IncidentState::open(&open, at(0), "op").unwrap();
        let credential = Credential {
            id: "openai/k".into(),
            issuer: crate::runbook::schema::Issuer::Openai,
            key_id: "key_AbCd".into(),
            name: "k".into(),
            hint: "sk-…abcd".into(),
            created: None,
            last_used: None,
            locations: vec![Location {
                kind: LocationKind::SecretsManager,
                name: "prod/k".into(),
                field: None,
                region: None,
                account: None,
                changed: None,
            }],
            exposed: true,
            exposure_reason: String::new(),
            fingerprint: None,
            meta: Default::default(),
        };
        st.apply(&Event::CredentialDiscovered { credential }, at(0), "op");
        st
    }

    fn check_now(st: &IncidentState, read_only: bool, cmd: Command) -> Result<Plan, Rejection> {
        let (in_flight, busy) = (BTreeMap::new(), HashSet::new());
        let work = Work {
            read_only,
            now: at(1),
            in_flight: &in_flight,
            busy: &busy,
        };
        check(st, &work, &cmd)
    }

    fn revoke(word: &str, phrase: Option<&str>) -> Command {
        Command::Confirm {
            target: Dangerous::Revoke {
                credential: "openai/k".into(),
            },
            word: word.into(),
            override_phrase: phrase.map(str::to_string),
            via: Via::Script,
        }
    }

    #[test]
    fn each_failed_stage_is_retried_by_the_step_that_moves_it_on() {
        for (stage, owner) in [
            (Stage::Exposed, Some(Action::Rotate)),
            (Stage::Issued, Some(Action::Rotate)),
            (Stage::Staged, Some(Action::Verify)),
            (Stage::Verified, Some(Action::Propagate)),
            (Stage::Promoted, Some(Action::Propagate)),
            (Stage::Propagated, None),
            (Stage::Revoked, Some(Action::Monitor)),
            (Stage::ConfirmedDead, None),
        ] {
            assert_eq!(owner_of(stage), owner, "{stage:?}");
        }
        assert_eq!(confirmed_by(DangerKind::Revoke), Some(Action::Revoke));
        assert_eq!(confirmed_by(DangerKind::Delete), Some(Action::Delete));
        assert_eq!(confirmed_by(DangerKind::MakeRoom), None);
        let bulk: Vec<Action> = ACTIONS.into_iter().filter(|a| rule(*a).is_bulk()).collect();
        assert_eq!(
            bulk,
            [
                Action::Inventory,
                Action::Rotate,
                Action::Verify,
                Action::Propagate,
                Action::Monitor
            ]
        );
    }

    #[test]
    fn the_typed_word_is_trimmed_and_in_any_case() {
        assert_eq!(check_word(" ABCD ", "abcd"), Ok(()));
        assert_eq!(check_word("  ", "abcd"), Err(WordRefused::Empty));
        assert_eq!(
            check_word("AbCe", "abcd"),
            Err(WordRefused::Wrong("abce".into()))
        );
        assert!(override_phrase_matches(
            Some(" Override abcd "),
            "override abcd"
        ));
        assert!(!override_phrase_matches(Some("override"), "override abcd"));
        assert!(!override_phrase_matches(None, "override abcd"));
    }

    #[test]
    fn a_wrong_word_is_journaled_and_refused_and_a_right_one_needs_the_override_here() {
        let st = found();
        let wrong = check_now(&st, false, revoke("zzzz", None)).unwrap_err();
        assert_eq!(
            wrong.refusal.to_string(),
            "`zzzz` is not the confirmation word for k: type the last 4 characters of its key id"
        );
        assert!(matches!(
            &wrong.record[..],
            [Event::ConfirmationRefused { why, .. }] if why == "wrong confirmation word"
        ));
        // Nothing is propagated yet: the right word alone is not enough, and not journaled.
        let early = check_now(&st, false, revoke("abcd", None)).unwrap_err();
        assert!(matches!(early.refusal, Refusal::PreflightFailed(_)));
        assert!(early.record.is_empty());
        let forced = check_now(&st, false, revoke("abcd", Some("override abcd"))).unwrap();
        assert!(matches!(
            &forced.events[..],
            [Event::ConfirmationGiven { .. }, Event::OverrideGiven { .. }]
        ));
        assert!(matches!(
            forced.next,
            Next::Destroy {
                kind: DangerKind::Revoke,
                ..
            }
        ));
        let read_only = check_now(&st, true, revoke("abcd", None)).unwrap_err();
        assert_eq!(
            read_only.refusal.to_string(),
            "read-only mode: revoke is disabled"
        );
    }

    /// A revoke step waits for every suspect's decision after its exposed keys: a key made
    /// in the window whose creator nobody could tell (CloudTrail refused) keeps it open
    /// until it is revoked or marked known.
    #[test]
    fn the_revoke_step_is_done_only_once_every_suspect_is_decided() {
        use crate::incident::provenance::Provenance;
        let mut st = found();
        let made = st.runbook.exposure_window.start + chrono::Duration::days(1);
        let mut suspect = st.credential("openai/k").unwrap().credential.clone();
        suspect.id = "openai/made".into();
        suspect.name = "made".into();
        suspect.key_id = "key_MaDe".into();
        suspect.exposed = false;
        suspect.created = Some(made);
        for e in [
            Event::CredentialDiscovered {
                credential: suspect,
            },
            Event::CreatorsFound {
                creators: vec![(
                    "openai/made".into(),
                    Provenance::Unknown {
                        why: "the audit log could not be read: 403".into(),
                    },
                )],
                persistence: Vec::new(),
                at: at(1),
            },
            Event::StepStarted {
                step: "revoke".into(),
                at: at(2),
            },
            Event::Revoked {
                credential: "openai/k".into(),
                at: at(3),
            },
        ] {
            st.apply(&e, at(3), "op");
        }
        assert_eq!(st.open_suspects().len(), 1);
        // The exposed key is revoked: not done, the suspect is undecided.
        assert!(completion(&st, "revoke", at(4)).is_empty());
        // Offered after the exposed keys, in the same step.
        let waiting: Vec<&str> = st
            .awaiting_confirmation(false)
            .iter()
            .map(|c| c.credential.id.as_str())
            .collect();
        assert_eq!(waiting, ["openai/made"]);
        // Marked known: the plan completes the finished steps, and the step is done.
        let mark = check_now(
            &st,
            false,
            Command::MarkKnown {
                credential: "openai/made".into(),
                reason: "Dana's eval key".into(),
            },
        )
        .unwrap();
        assert_eq!(mark.next, Next::CompleteFinishedSteps);
        let mut marked = st.clone();
        for e in &mark.events {
            marked.apply(e, at(5), "op");
        }
        assert!(matches!(
            &completion(&marked, "revoke", at(5))[..],
            [Event::StepCompleted { .. }]
        ));
        // Or revoked (no pre-flight: nothing to roll out first): done as well.
        st.apply(
            &Event::Revoked {
                credential: "openai/made".into(),
                at: at(5),
            },
            at(5),
            "op",
        );
        assert!(matches!(
            &completion(&st, "revoke", at(6))[..],
            [Event::StepCompleted { .. }]
        ));
    }

    #[test]
    fn a_manual_step_is_done_only_when_ticked_and_its_refusal_names_no_key() {
        let st = found();
        let first = st.steps[0].id.clone();
        let refused = check_now(
            &st,
            false,
            Command::RunStep {
                step: first.clone(),
            },
        )
        .unwrap_err();
        let words = refused.refusal.to_string();
        assert!(words.starts_with("tick every item first (0 of "), "{words}");
        assert!(!words.contains("Space"), "{words}");
        let tick = check_now(
            &st,
            false,
            Command::TickItem {
                step: first,
                item: 0,
            },
        )
        .unwrap();
        assert!(matches!(
            &tick.events[..],
            [Event::ChecklistTicked { checked: true, .. }]
        ));
    }
}
