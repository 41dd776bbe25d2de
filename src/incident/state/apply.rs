//! The fold: how each journaled event changes the incident state. It only changes the
//! state; what the timeline says about an event is `incident::timeline`'s.
//!
//! A record that does not fit (a journal edited by hand, a bug) is kept as an anomaly,
//! never a panic.

use chrono::{DateTime, Utc};

use super::{
    ConfirmationRecord, Confirmed, CredentialState, FailureRecord, IncidentState, RoomNeeded,
    StepStatus,
};
use crate::incident::event::{DangerKind, Event};
use crate::incident::rotation::{RotationState, Stage, Transition};
use crate::incident::state::{ByHand, Retrying};

impl IncidentState {
    /// Changes the state by one event; `operator` is its record's user.
    pub(super) fn fold_in(&mut self, event: &Event, wall: DateTime<Utc>, operator: &str) {
        // Any news of a key ends the retry shown for it.
        if !matches!(
            event,
            Event::CallRetried { .. } | Event::UsageObserved { .. } | Event::Alarm { .. }
        ) && let Some(id) = event.credential()
            && let Some(c) = self.credential_mut(id)
        {
            c.retrying = None;
        }
        match event {
            Event::IncidentOpened { .. } => {
                self.anomalies
                    .push("a second incident-opened record".to_string());
            }
            Event::CloudIdentity { identity } => {
                self.cloud_identity = Some(identity.clone());
            }
            Event::StepStarted { .. }
            | Event::StepCompleted { .. }
            | Event::StepFailed { .. }
            | Event::StepSkipped { .. }
            | Event::StepReopened { .. }
            | Event::StepBlocked { .. }
            | Event::ChecklistTicked { .. } => self.fold_step(event),
            Event::IssueRequested { .. }
            | Event::StrayKeyFound { .. }
            | Event::StrayKeyDiscarded { .. }
            | Event::PendingFound { .. }
            | Event::PendingRemoved { .. } => self.fold_intent(event, wall),
            Event::CredentialDiscovered { .. }
            | Event::ManualKeyNeeded { .. }
            | Event::RoomNeeded { .. }
            | Event::RoomMade { .. }
            | Event::Issued { .. }
            | Event::Staged { .. } => self.fold_new_key(event),
            Event::Verified { .. }
            | Event::Promoted { .. }
            | Event::LocationUpdated { .. }
            | Event::Propagated { .. } => self.fold_rollout(event),
            Event::ConfirmationGiven { .. }
            | Event::ConfirmationRefused { .. }
            | Event::OverrideGiven { .. }
            | Event::RevokeRequested { .. }
            | Event::DeleteRequested { .. }
            | Event::ManualRevokeNeeded { .. } => self.fold_confirmation(event, operator),
            Event::Revoked { .. }
            | Event::ConfirmedDead { .. }
            | Event::Deleted { .. }
            | Event::SessionsEnded { .. } => self.fold_old_key(event),
            Event::AttemptFailed { .. }
            | Event::CallRetried { .. }
            | Event::RotationFailed { .. }
            | Event::RotationRetried { .. }
            | Event::RotationSkipped { .. } => self.fold_trouble(event),
            Event::CreatorsFound { .. } | Event::MarkedKnown { .. } => {
                self.fold_created(event, operator)
            }
            _ => self.fold_world(event, operator),
        }
    }

    fn fold_step(&mut self, event: &Event) {
        let (step, at) = match event {
            Event::StepStarted { step, at }
            | Event::StepCompleted { step, at }
            | Event::StepFailed { step, at, .. }
            | Event::StepSkipped { step, at, .. }
            | Event::StepReopened { step, at }
            | Event::StepBlocked { step, at, .. } => (step, Some(*at)),
            Event::ChecklistTicked { step, .. } => (step, None),
            _ => return,
        };
        if let Some(at) = at {
            self.see(at);
        }
        let Some(s) = self.steps.iter_mut().find(|s| &s.id == step) else {
            return;
        };
        if !matches!(
            event,
            Event::StepBlocked { .. } | Event::ChecklistTicked { .. }
        ) {
            s.blocked = None;
        }
        match event {
            Event::StepStarted { at, .. } => {
                s.status = StepStatus::Running;
                s.started.get_or_insert(*at);
                let id = s.id.clone();
                if self
                    .step_def(&id)
                    .is_some_and(|d| d.action == crate::runbook::schema::Action::Inventory)
                {
                    // A new run of the inventory: what it cannot list, it says again.
                    self.inventory_gaps.clear();
                }
            }
            Event::StepCompleted { at, .. } => {
                s.status = StepStatus::Done;
                s.completed = Some(*at);
                s.skip = None;
            }
            Event::StepFailed { why, .. } => {
                s.status = StepStatus::Failed { why: why.clone() };
            }
            Event::StepSkipped { why, at, .. } => {
                s.status = StepStatus::Skipped { why: why.clone() };
                s.completed = Some(*at);
                s.skip = Some(why.clone());
            }
            Event::StepReopened { .. } => {
                s.status = StepStatus::Pending;
                s.completed = None;
                s.reopened += 1;
            }
            Event::StepBlocked { why, .. } => {
                s.blocked = Some(why.clone());
            }
            Event::ChecklistTicked { item, checked, .. } => {
                if let Some(slot) = s.checked.get_mut(*item) {
                    *slot = *checked;
                }
            }
            _ => {}
        }
    }

    /// From the inventory to a new key stored as pending.
    fn fold_new_key(&mut self, event: &Event) {
        match event {
            Event::CredentialDiscovered { credential } => {
                let now = self.clock;
                if let Some(existing) = self.credential_mut(&credential.id) {
                    // A second inventory refreshes what is known, not the rotation.
                    existing.credential = credential.clone();
                    if credential.exposed {
                        existing.found_at.get_or_insert(now);
                    }
                } else {
                    let mut c = CredentialState::new(credential.clone());
                    c.found_at = credential.exposed.then_some(now);
                    self.push_credential(c);
                }
            }
            Event::ManualKeyNeeded {
                credential,
                instructions,
            } => {
                if let Some(c) = self.credential_mut(credential) {
                    c.manual_needed = Some(instructions.clone());
                    c.room_needed = None;
                }
            }
            Event::RoomNeeded {
                credential,
                key_id,
                plan,
            } => {
                if let Some(c) = self.credential_mut(credential) {
                    c.room_needed = Some(RoomNeeded {
                        key_id: key_id.clone(),
                        plan: plan.clone(),
                        confirmed: false,
                    });
                }
            }
            Event::RoomMade { credential, at, .. } => {
                self.see(*at);
                if let Some(c) = self.credential_mut(credential) {
                    c.room_needed = None;
                }
            }
            Event::Issued {
                credential,
                new_key_id,
                new_hint,
                at,
            } => {
                self.see(*at);
                let reminted = self.credential(credential).is_some_and(|c| {
                    c.rotation
                        == RotationState::At {
                            stage: Stage::Issued,
                        }
                });
                if let Some(c) = self.credential_mut(credential) {
                    c.manual_needed = None;
                    c.room_needed = None;
                    if reminted {
                        // The key issued before was lost (a crash, a refused store write)
                        // and discarded: this one replaces it.
                        c.stamps.insert(Stage::Issued, *at);
                    }
                }
                if !reminted {
                    self.transition(credential, Transition::Advance(Stage::Issued), Some(*at));
                }
                if let Some(c) = self.credential_mut(credential) {
                    c.new_key_id = Some(new_key_id.clone());
                    c.new_hint = Some(new_hint.clone());
                }
            }
            Event::Staged {
                credential,
                version,
                at,
                ..
            } => {
                self.see(*at);
                // Staged again: the secret's pending version was rebuilt (another key of the
                // same secret staged or skipped since); this key's value is in it too.
                let restaged = self
                    .credential(credential)
                    .is_some_and(|c| c.rotation.reached() >= Stage::Staged);
                if !restaged {
                    self.transition(credential, Transition::Advance(Stage::Staged), Some(*at));
                }
                if let Some(c) = self.credential_mut(credential) {
                    c.staged_version = Some(version.clone());
                    c.pending_found = None;
                    c.pending_removed = None;
                }
            }
            _ => {}
        }
    }

    /// Intents to mint, what a reconcile found and discarded, pending versions in the way of
    /// staging and breachbook's own taken off.
    fn fold_intent(&mut self, event: &Event, wall: DateTime<Utc>) {
        match event {
            Event::IssueRequested {
                credential,
                token,
                at,
            } => {
                if let Some(at) = at {
                    self.see(*at);
                }
                // Journals written before the intent had a time: the record's wall time.
                let at = at.unwrap_or(wall);
                if let Some(c) = self.credential_mut(credential) {
                    c.issue_token = Some(token.clone());
                    if c.open_intent().is_none() {
                        c.intent_since = Some(at);
                    }
                }
            }
            Event::StrayKeyFound {
                credential,
                key_id,
                what,
            } => {
                if let Some(c) = self.credential_mut(credential)
                    && !c.strays.iter().any(|s| &s.key_id == key_id)
                {
                    c.strays.push(crate::incident::state::Stray {
                        key_id: key_id.clone(),
                        what: what.clone(),
                        discarded: None,
                    });
                }
            }
            Event::StrayKeyDiscarded {
                credential,
                key_id,
                what,
                at,
            } => {
                self.see(*at);
                if let Some(c) = self.credential_mut(credential) {
                    match c.strays.iter_mut().find(|s| &s.key_id == key_id) {
                        Some(s) => s.discarded = Some(*at),
                        None => c.strays.push(crate::incident::state::Stray {
                            key_id: key_id.clone(),
                            what: what.clone(),
                            discarded: Some(*at),
                        }),
                    }
                }
            }
            Event::PendingFound {
                credential,
                location,
                version,
                whose,
                rotation_on,
            } => {
                if let Some(c) = self.credential_mut(credential) {
                    c.pending_found = Some(crate::incident::state::PendingInTheWay {
                        location: location.clone(),
                        version: version.clone(),
                        whose: whose.clone(),
                        rotation_on: *rotation_on,
                        confirmed: false,
                    });
                }
            }
            Event::PendingRemoved { credential, at, .. } => {
                self.see(*at);
                if let Some(c) = self.credential_mut(credential) {
                    c.pending_removed = Some(*at);
                }
            }
            _ => {}
        }
    }

    /// The new key verified, promoted and copied everywhere.
    fn fold_rollout(&mut self, event: &Event) {
        match event {
            Event::Verified { credential, at } => {
                self.see(*at);
                self.transition(credential, Transition::Advance(Stage::Verified), Some(*at));
            }
            Event::Promoted { credential, at } => {
                self.see(*at);
                if !self.late_rollout(credential, Stage::Promoted, *at) {
                    self.transition(credential, Transition::Advance(Stage::Promoted), Some(*at));
                }
            }
            Event::LocationUpdated {
                credential,
                location,
                updated_at,
            } => {
                self.see(*updated_at);
                if let Some(c) = self.credential_mut(credential) {
                    c.updated_locations.insert(location.clone(), *updated_at);
                }
            }
            Event::Propagated { credential, at } => {
                self.see(*at);
                if !self.late_rollout(credential, Stage::Propagated, *at) {
                    self.transition(
                        credential,
                        Transition::Advance(Stage::Propagated),
                        Some(*at),
                    );
                }
            }
            _ => {}
        }
    }

    /// Typed words, overrides and requests about an old key, and hand-overs to a person.
    fn fold_confirmation(&mut self, event: &Event, operator: &str) {
        let at = match event {
            Event::ConfirmationGiven { at: Some(at), .. }
            | Event::ConfirmationRefused { at: Some(at), .. }
            | Event::OverrideGiven { at: Some(at), .. } => {
                self.see(*at);
                *at
            }
            _ => self.clock,
        };
        match event {
            Event::ConfirmationGiven {
                credential,
                action,
                via,
                ..
            } => {
                if *action == DangerKind::TakeOver {
                    // The pending version is one per secret: every key staged there goes on.
                    let found = self
                        .credential(credential)
                        .and_then(|c| c.pending_found.clone());
                    if let Some(found) = found {
                        for c in &mut self.credentials {
                            if let Some(p) = &mut c.pending_found
                                && p.location == found.location
                                && p.version == found.version
                            {
                                p.confirmed = true;
                            }
                        }
                    }
                } else if let Some(c) = self.credential_mut(credential) {
                    match action {
                        DangerKind::MakeRoom => {
                            if let Some(room) = &mut c.room_needed {
                                room.confirmed = true;
                            }
                        }
                        kind => {
                            c.pending_mut(*kind);
                        }
                    }
                }
                self.confirmations.push(ConfirmationRecord {
                    credential: credential.clone(),
                    action: Confirmed::Word(*action),
                    via: *via,
                    operator: operator.to_string(),
                    at,
                    override_of: Vec::new(),
                });
            }
            Event::ConfirmationRefused { .. } => self.refusals += 1,
            Event::OverrideGiven {
                credential,
                failed_checks,
                via,
                ..
            } => {
                if let Some(p) = self
                    .credential_mut(credential)
                    .and_then(|c| c.pending.as_mut())
                {
                    p.overridden = true;
                }
                self.confirmations.push(ConfirmationRecord {
                    credential: credential.clone(),
                    action: Confirmed::Override,
                    via: *via,
                    operator: operator.to_string(),
                    at,
                    override_of: failed_checks.clone(),
                });
            }
            Event::RevokeRequested { credential } | Event::DeleteRequested { credential } => {
                let kind = if matches!(event, Event::DeleteRequested { .. }) {
                    DangerKind::Delete
                } else {
                    DangerKind::Revoke
                };
                if let Some(c) = self.credential_mut(credential) {
                    c.pending_mut(kind).requested = true;
                }
            }
            Event::ManualRevokeNeeded {
                credential,
                action,
                instructions,
                tested,
            } => {
                if let Some(c) = self.credential_mut(credential) {
                    c.manual_revoke = Some(ByHand {
                        instructions: instructions.clone(),
                        tested: *tested,
                    });
                    c.manual_revoke_asks += 1;
                    // The confirmation was used: the next one is typed after the console.
                    c.clear_pending(*action);
                }
            }
            _ => {}
        }
    }

    /// The old key revoked, seen dead, deleted.
    fn fold_old_key(&mut self, event: &Event) {
        match event {
            Event::Revoked { credential, at } => {
                self.see(*at);
                // A revoke that failed once and was confirmed again clears the failure.
                if self.credential(credential).is_some_and(|c| {
                    matches!(
                        c.rotation,
                        RotationState::Failed {
                            reached: Stage::Propagated,
                            ..
                        }
                    )
                }) {
                    self.transition(credential, Transition::Retry, None);
                }
                let early = self
                    .credential(credential)
                    .is_some_and(|c| c.rotation.reached() != Stage::Propagated);
                let t = if early {
                    Transition::RevokeWithOverride
                } else {
                    Transition::Advance(Stage::Revoked)
                };
                self.transition(credential, t, Some(*at));
                if let Some(c) = self.credential_mut(credential) {
                    c.clear_pending(DangerKind::Revoke);
                    c.manual_revoke = None;
                }
            }
            Event::ConfirmedDead { credential, at } => {
                self.see(*at);
                self.transition(
                    credential,
                    Transition::Advance(Stage::ConfirmedDead),
                    Some(*at),
                );
            }
            Event::Deleted { credential, at } => {
                self.see(*at);
                if let Some(c) = self.credential_mut(credential) {
                    c.deleted = Some(*at);
                    c.clear_pending(DangerKind::Delete);
                    c.manual_revoke = None;
                }
            }
            Event::SessionsEnded {
                credential,
                what,
                before,
                at,
            } => {
                self.see(*at);
                if let Some(c) = self.credential_mut(credential) {
                    c.sessions_ended = Some((what.clone(), *before));
                }
            }
            _ => {}
        }
    }

    /// Failed attempts, failed and retried rotations, keys left out.
    fn fold_trouble(&mut self, event: &Event) {
        match event {
            Event::AttemptFailed {
                credential,
                step,
                operation,
                attempt,
                why,
                retryable,
            } => {
                let at = self.clock;
                if let Some(id) = credential
                    && let Some(c) = self.credential_mut(id)
                {
                    c.failed_attempts += 1;
                    c.last_error = Some(why.clone());
                    if *retryable {
                        // The engine backs off, then tries again.
                        c.retrying = Some(Retrying {
                            call: operation.clone(),
                            why: why.clone(),
                            attempt: attempt.saturating_add(1),
                            at,
                        });
                    }
                }
                if operation == "inventory" && !*retryable {
                    self.inventory_gaps.push(why.clone());
                }
                self.failures.push(FailureRecord {
                    credential: credential.clone(),
                    step: step.clone(),
                    operation: operation.clone(),
                    attempt: *attempt,
                    why: why.clone(),
                    retryable: *retryable,
                    at,
                });
            }
            Event::CallRetried {
                credential,
                call,
                attempt,
                why,
                at,
                ..
            } => {
                self.calls_retried += 1;
                if let Some(id) = credential
                    && let Some(c) = self.credential_mut(id)
                {
                    c.retrying = Some(Retrying {
                        call: call.clone(),
                        why: why.clone(),
                        attempt: *attempt,
                        at: *at,
                    });
                }
            }
            Event::RotationFailed { credential, why } => {
                self.transition(credential, Transition::Fail(why.clone()), None);
            }
            Event::RotationRetried { credential } => {
                self.transition(credential, Transition::Retry, None);
                if let Some(c) = self.credential_mut(credential) {
                    c.last_error = None;
                }
            }
            Event::RotationSkipped { credential, why } => {
                if let Some(c) = self.credential_mut(credential) {
                    c.room_needed = None;
                    c.manual_needed = None;
                    c.pending_found = None;
                }
                self.transition(credential, Transition::Skip(why.clone()), None);
            }
            _ => {}
        }
    }

    /// What the world and the engine report: usage, alarms, injects, outages, commands,
    /// the score and the report.
    fn fold_world(&mut self, event: &Event, operator: &str) {
        match event {
            Event::UsageObserved { sample } => self.observe(sample),
            Event::Alarm { at, .. } | Event::InjectArrived { at, .. } => self.see(*at),
            Event::ConsumerFailed { errors, at, .. } => {
                self.see(*at);
                self.consumer_errors += errors;
            }
            Event::CommandStarted { step, command, .. } => self
                .command_output
                .entry(step.clone())
                .or_default()
                .push(format!("$ {command}")),
            Event::CommandOutput { step, line } => self
                .command_output
                .entry(step.clone())
                .or_default()
                .push(line.clone()),
            Event::CommandFinished { step, exit_code } => self
                .command_output
                .entry(step.clone())
                .or_default()
                .push(format!("[exit {exit_code}]")),
            Event::DrillEnded { score, at } => {
                self.see(*at);
                self.score = Some(score.clone());
            }
            Event::ReportWritten { path } => self.report_path = Some(path.clone()),
            Event::OperatorNote { text, at } => {
                self.see(*at);
                self.notes.push((*at, operator.to_string(), text.clone()));
            }
            _ => {}
        }
    }

    pub(super) fn credential_mut(&mut self, id: &str) -> Option<&mut CredentialState> {
        let i = self.credential_at(id)?;
        self.credentials.get_mut(i)
    }

    pub(super) fn see(&mut self, at: DateTime<Utc>) {
        if at > self.clock {
            self.clock = at;
        }
    }

    fn transition(&mut self, id: &str, t: Transition, at: Option<DateTime<Utc>>) {
        let Some(c) = self.credential_mut(id) else {
            self.anomalies
                .push(format!("event for unknown credential {id}: {t:?}"));
            return;
        };
        match c.rotation.apply(&t) {
            Ok(next) => {
                if let (Some(at), RotationState::At { stage }) = (at, &next) {
                    c.stamps.insert(*stage, at);
                }
                c.rotation = next;
            }
            Err(e) => {
                let msg = format!("{id}: {e}");
                self.anomalies.push(msg);
            }
        }
    }

    /// A key revoked early (with an override) still gets its replacement rolled out: the
    /// promotion and propagation are recorded by time without moving the state back.
    fn late_rollout(&mut self, id: &str, stage: Stage, at: DateTime<Utc>) -> bool {
        let Some(c) = self.credential_mut(id) else {
            return false;
        };
        if c.rotation.reached() >= Stage::Revoked && !c.stamps.contains_key(&stage) {
            c.stamps.insert(stage, at);
            return true;
        }
        false
    }
}
