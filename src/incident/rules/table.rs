//! The table of step actions: for each, how its step runs, which keys it works on, and when
//! it is complete. The one place the engine (starting, resuming, retrying and completing
//! steps) learns what an action does. Pure; depends on the rotation stages, the state and
//! the runbook schema.

use crate::incident::event::DangerKind;
use crate::incident::rotation::{RotationState, Stage};
use crate::incident::state::{CredentialState, IncidentState};
use crate::runbook::schema::Action;

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
    /// It is not done while a suspect (a key created in the window by someone breachbook
    /// cannot vouch for) waits for its decision: revoked, or marked known with why.
    pub decides_suspects: bool,
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
            decides_suspects: false,
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
        Action::Revoke => ActionRule {
            decides_suspects: true,
            ..row(
                Runs::KeyByKey(DangerKind::Revoke),
                &[],
                every(Stage::Revoked, KeepOpen),
            )
        },
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

/// The action whose step confirms `kind` key by key (revoke, delete).
pub fn confirmed_by(kind: DangerKind) -> Option<Action> {
    ACTIONS
        .into_iter()
        .find(|a| rule(*a).runs == Runs::KeyByKey(kind))
}

/// The action whose step moves a key on from `stage` (what a retry runs again).
pub fn owner_of(stage: Stage) -> Option<Action> {
    ACTIONS
        .into_iter()
        .find(|a| rule(*a).works_on.contains(&stage))
}
