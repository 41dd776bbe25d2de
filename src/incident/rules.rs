//! The rules of an incident, as pure functions of its state: one table of what each step
//! action works on and leads to, the pre-flight of every dangerous action, the typed-word
//! check, whether a command may go ahead and what it journals ([`check`]), when a step is
//! complete ([`completion`]), and when old-key use is an alarm.
//!
//! No IO and no clock: the engine passes in what it has in flight and the time. The
//! engine, the TUI's revoke window and the autopilot all read the same [`Dangerous::preflight`].
//! Depends on the incident's state, events, commands, model and rotation and on the runbook
//! schema.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use chrono::{DateTime, Utc};

use super::command::{Command, Dangerous, override_phrase};
use secrecy::ExposeSecret;

use super::event::{DangerKind, Event, Via};
use super::model::{KeyGeneration, LocationKind, confirmation_word};
use super::refusal::{PreflightFailure, Refusal};
use super::rotation::{RotationState, Stage};
use super::state::{CredentialState, IncidentState, StepStatus};
use crate::runbook::schema::{Action, OnFailure};

/// How a step of an action runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// A person ticks its checklist; running it marks it done.
    Checklist,
    /// Lists every key in scope.
    Inventory,
    /// One operation for every key it works on, all at once.
    EachKey(KeyOp),
    /// Each key is confirmed by its own typed word, one at a time.
    KeyByKey(DangerKind),
    /// A shell command (simulated in drills).
    Command,
    /// Writes the report.
    Report,
}

/// The per-key operation of a bulk step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOp {
    /// Mint a new key and store it as pending.
    Rotate,
    /// Read the pending key back and call the issuer with it.
    Verify,
    /// Promote the new key and copy it to every location.
    Propagate,
    /// Watch the revoked key for the quiet period, then check it is refused.
    Monitor,
}

/// What a failed key does to a step that waits for every key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnKeyFailure {
    /// The step fails once every key has either made it or failed.
    FailStep,
    /// As `FailStep`, unless the runbook says `onFailure: continue`: then the step is done
    /// and the failed keys stay for a retry or a skip.
    FailUnlessContinue,
    /// The step stays open (keys are confirmed one by one; a failed one is tried again).
    KeepOpen,
}

/// When a running step is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoneWhen {
    /// When its own run says so (checklist, command, report).
    ItSaysSo,
    /// When the inventory has run (failed only if it failed for good and found nothing).
    Listed,
    /// When every key in the rotation has reached `stage`.
    EveryKeyAt { stage: Stage, failed: OnKeyFailure },
    /// When every revoked key in the rotation is deleted.
    EveryRevokedKeyDeleted,
}

/// One row of the table: what a step action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionRule {
    pub runs: Runs,
    /// The stages of the keys it works on.
    pub works_on: &'static [Stage],
    /// It also rolls out the replacement of a key revoked early (with an override).
    pub late_rollout: bool,
    pub done_when: DoneWhen,
}

impl ActionRule {
    /// Whether the engine starts its work over every key at once (and again on resume).
    pub fn is_bulk(&self) -> bool {
        matches!(self.runs, Runs::Inventory | Runs::EachKey(_))
    }

    /// Whether this action works on `c` now (busy keys aside).
    pub fn works_on_key(&self, c: &CredentialState) -> bool {
        let RotationState::At { stage } = c.rotation else {
            return false;
        };
        c.in_rotation()
            && (self.works_on.contains(&stage)
                || (self.late_rollout && IncidentState::needs_late_rollout(c)))
    }
}

/// The table: one row per step action.
pub const fn rule(action: Action) -> ActionRule {
    const fn row(runs: Runs, works_on: &'static [Stage], done_when: DoneWhen) -> ActionRule {
        ActionRule {
            runs,
            works_on,
            late_rollout: false,
            done_when,
        }
    }
    const fn every(stage: Stage, failed: OnKeyFailure) -> DoneWhen {
        DoneWhen::EveryKeyAt { stage, failed }
    }
    use OnKeyFailure::*;
    match action {
        Action::Manual => row(Runs::Checklist, &[], DoneWhen::ItSaysSo),
        Action::Inventory => row(Runs::Inventory, &[], DoneWhen::Listed),
        Action::Rotate => row(
            Runs::EachKey(KeyOp::Rotate),
            &[Stage::Exposed, Stage::Issued],
            every(Stage::Staged, FailUnlessContinue),
        ),
        Action::Verify => row(
            Runs::EachKey(KeyOp::Verify),
            &[Stage::Staged],
            every(Stage::Verified, FailStep),
        ),
        Action::Propagate => ActionRule {
            late_rollout: true,
            ..row(
                Runs::EachKey(KeyOp::Propagate),
                &[Stage::Verified, Stage::Promoted],
                every(Stage::Propagated, FailStep),
            )
        },
        Action::Revoke => row(
            Runs::KeyByKey(DangerKind::Revoke),
            &[],
            every(Stage::Revoked, KeepOpen),
        ),
        Action::Monitor => row(
            Runs::EachKey(KeyOp::Monitor),
            &[Stage::Revoked],
            every(Stage::ConfirmedDead, FailStep),
        ),
        Action::Delete => row(
            Runs::KeyByKey(DangerKind::Delete),
            &[],
            DoneWhen::EveryRevokedKeyDeleted,
        ),
        Action::Command => row(Runs::Command, &[], DoneWhen::ItSaysSo),
        Action::Report => row(Runs::Report, &[], DoneWhen::ItSaysSo),
    }
}

/// Every step action, in the table's order.
pub const ACTIONS: [Action; 10] = [
    Action::Manual,
    Action::Inventory,
    Action::Rotate,
    Action::Verify,
    Action::Propagate,
    Action::Revoke,
    Action::Monitor,
    Action::Delete,
    Action::Command,
    Action::Report,
];

/// The action whose step moves a key on from `stage` (what a retry runs again).
pub fn owner_of(stage: Stage) -> Option<Action> {
    ACTIONS
        .into_iter()
        .find(|a| rule(*a).works_on.contains(&stage))
}

/// One pre-flight check of a dangerous action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    NewKeyVerified,
    NewKeyPromoted,
    EveryLocationUpdated { updated: usize, of: usize },
    OldKeyRevoked,
    OldKeyDead,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::NewKeyVerified => f.write_str("new key verified (provider answered 200)"),
            Check::NewKeyPromoted => f.write_str("new key promoted to current"),
            Check::EveryLocationUpdated { updated, of } => {
                write!(f, "every location updated ({updated} of {of})")
            }
            Check::OldKeyRevoked => f.write_str("old key revoked"),
            Check::OldKeyDead => f.write_str("old key confirmed dead after the quiet period"),
        }
    }
}

/// A pre-flight check and whether it passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preflight {
    pub check: Check,
    pub passed: bool,
}

impl Dangerous {
    /// The evidence shown before the typed word, and checked again by the engine: a failed
    /// check needs the override phrase. Empty for an unknown key and for making room.
    pub fn preflight(&self, state: &IncidentState) -> Vec<Preflight> {
        let Some(c) = state.credential(self.credential()) else {
            return Vec::new();
        };
        match self {
            Dangerous::Revoke { .. } => revoke_preflight(c),
            Dangerous::Delete { .. } => {
                let reached = c.rotation.reached();
                vec![
                    Preflight {
                        check: Check::OldKeyRevoked,
                        passed: reached >= Stage::Revoked,
                    },
                    Preflight {
                        check: Check::OldKeyDead,
                        passed: reached >= Stage::ConfirmedDead,
                    },
                ]
            }
            Dangerous::MakeRoom { .. } => Vec::new(),
        }
    }

    /// The failed pre-flight checks and the override phrase, when going ahead needs it.
    pub fn preflight_failure(&self, state: &IncidentState) -> Option<PreflightFailure> {
        let failed: Vec<String> = self
            .preflight(state)
            .iter()
            .filter(|p| !p.passed)
            .map(|p| p.check.to_string())
            .collect();
        let c = state.credential(self.credential())?;
        (!failed.is_empty()).then(|| PreflightFailure {
            failed,
            verb: self.verb(),
            phrase: override_phrase(&c.credential.confirmation_word()),
        })
    }
}

/// Revoking the old key: the new one is verified, promoted and in every location (an IAM
/// user holds the key itself, so it counts as updated).
fn revoke_preflight(c: &CredentialState) -> Vec<Preflight> {
    let reached = c.rotation.reached();
    let stores = || {
        c.credential
            .locations
            .iter()
            .filter(|l| l.kind != LocationKind::IamUser)
    };
    let all_locations = stores().all(|l| c.updated_locations.contains_key(&l.label()));
    vec![
        Preflight {
            check: Check::NewKeyVerified,
            passed: reached >= Stage::Verified,
        },
        Preflight {
            check: Check::NewKeyPromoted,
            passed: reached >= Stage::Promoted,
        },
        Preflight {
            check: Check::EveryLocationUpdated {
                updated: c.updated_locations.len(),
                of: stores().count(),
            },
            passed: reached >= Stage::Propagated && all_locations,
        },
    ]
}

/// What is wrong with a typed confirmation word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WordRefused {
    Empty,
    /// The word as typed (trimmed, lower case).
    Wrong(String),
}

impl WordRefused {
    /// Why, as journaled with the refused confirmation.
    pub fn why(&self) -> &'static str {
        match self {
            WordRefused::Empty => "no confirmation word typed",
            WordRefused::Wrong(_) => "wrong confirmation word",
        }
    }
}

/// The typed-word check of every dangerous action: `typed`, trimmed and in any case, must
/// be `expected`.
pub fn check_word(typed: &str, expected: &str) -> Result<(), WordRefused> {
    let typed = typed.trim().to_lowercase();
    if typed.is_empty() {
        Err(WordRefused::Empty)
    } else if typed != expected {
        Err(WordRefused::Wrong(typed))
    } else {
        Ok(())
    }
}

/// Whether the typed override phrase matches (case and surrounding space ignored).
pub fn override_phrase_matches(typed: Option<&str>, phrase: &str) -> bool {
    typed.is_some_and(|t| t.trim().eq_ignore_ascii_case(phrase))
}

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
                _ => check_destroy(state, c, target, word, override_phrase.as_deref(), *via),
            }
        }
        Command::Retry { credential: id } => check_retry(state, work, id),
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
            Plan::then(vec![skipped], Next::CompleteFinishedSteps)
        }
        Command::PasteKey {
            credential: id,
            key,
        } => check_paste(state, work, id, key.0.expose_secret().is_empty()),
        Command::Note { text } => {
            Plan::then(vec![Event::Note { text: text.clone() }], Next::Nothing)
        }
        Command::Shutdown => Plan::then(Vec::new(), Next::Nothing),
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

/// A revoke or delete of the old key: the key may be destroyed now, the word is its own,
/// and a failed pre-flight comes with the override phrase.
fn check_destroy(
    state: &IncidentState,
    c: &CredentialState,
    target: &Dangerous,
    word: &str,
    typed_override: Option<&str>,
    via: Via,
) -> Result<Plan, Rejection> {
    let kind = target.kind();
    let name = c.credential.name.clone();
    may_destroy(c, kind)?;
    let id = c.credential.id.clone();
    if let Err(w) = check_word(word, &c.credential.confirmation_word()) {
        let refused = Event::ConfirmationRefused {
            credential: id,
            action: kind,
            why: w.why().into(),
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
fn may_destroy(c: &CredentialState, kind: DangerKind) -> Result<(), Refusal> {
    let name = || c.credential.name.clone();
    let reached = c.rotation.reached();
    match kind {
        DangerKind::Revoke if reached >= Stage::Revoked => {
            Err(Refusal::AlreadyRevoked { name: name() })
        }
        DangerKind::Revoke if !c.credential.exposed => Err(Refusal::NotExposed { name: name() }),
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
    let step = owner_of(reached)
        .and_then(|action| state.steps_with(action).first().map(|s| s.to_string()));
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
    if c.manual_needed.is_none() || c.rotation.reached() >= Stage::Issued {
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
            let listing_failed = state
                .failures
                .iter()
                .any(|f| f.step == step && f.operation == "inventory" && !f.retryable)
                && state.credentials.is_empty();
            if listing_failed {
                failed("the inventory failed and found no key; see the timeline, fix access and run it again".into())
            } else {
                done()
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
            let reached = keys
                .iter()
                .filter(|c| c.rotation.reached() >= stage)
                .count();
            let broken: Vec<String> = keys
                .iter()
                .filter(|c| matches!(c.rotation, RotationState::Failed { .. }))
                .map(|c| c.credential.name.clone())
                .collect();
            if reached == keys.len() {
                return done();
            }
            if on_failure == OnKeyFailure::KeepOpen
                || broken.is_empty()
                || broken.len() + reached != keys.len()
            {
                return Vec::new();
            }
            if on_failure == OnKeyFailure::FailUnlessContinue
                && def.on_failure == OnFailure::Continue
            {
                // Go on with the keys that worked; failed rows stay for retry or skip.
                let text = format!(
                    "{} key(s) failed and were left for retry or skip: {}",
                    broken.len(),
                    broken.join(", ")
                );
                let mut events = vec![Event::Note { text }];
                events.extend(done());
                return events;
            }
            failed(format!(
                "{} of {} key(s) failed ({}): retry each failed key or skip it",
                broken.len(),
                keys.len(),
                broken.join(", ")
            ))
        }
    }
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
