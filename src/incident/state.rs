//! Incident state as a pure fold over journal events. No IO here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::event::{DangerKind, Event, Mode, Score, Via};
use super::model::{Credential, KeyGeneration, UsageSample};
use super::rotation::{RotationState, Stage, Transition};
use crate::runbook::schema::{Action, Runbook};

/// Status of one checklist step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum StepStatus {
    Pending,
    Running,
    Done,
    Failed { why: String },
    Skipped { why: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepState {
    pub id: String,
    pub status: StepStatus,
    /// Ticks of a manual step's checklist items.
    pub checked: Vec<bool>,
    pub started: Option<DateTime<Utc>>,
    pub completed: Option<DateTime<Utc>>,
}

impl StepState {
    pub fn is_finished(&self) -> bool {
        matches!(self.status, StepStatus::Done | StepStatus::Skipped { .. })
    }
}

/// A revoke or delete of the old key that the operator confirmed and that is not done yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// [`DangerKind::Revoke`] or [`DangerKind::Delete`].
    pub kind: DangerKind,
    /// The override phrase was typed with the word: failed pre-flight checks passed over.
    pub overridden: bool,
    /// The engine asked the issuer (journaled before the call, so a resume finishes it).
    pub requested: bool,
}

/// The issuer cannot revoke (or delete) the old key by API: a person does it in its console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ByHand {
    /// What to do in the console.
    pub instructions: String,
    /// Whether breachbook can test the old key itself (false: the next confirmation is the
    /// operator's word that it is gone).
    pub tested: bool,
}

/// The issuer holds as many keys for the owner as it allows: one must go first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomNeeded {
    /// The inactive key to delete (never the exposed one).
    pub key_id: String,
    /// The plan, in words.
    pub plan: String,
    /// The operator typed that key's word; the deletion is not done yet.
    pub confirmed: bool,
}

/// One credential and where its rotation is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CredentialState {
    pub credential: Credential,
    pub rotation: RotationState,
    pub new_key_id: Option<String>,
    pub new_hint: Option<String>,
    /// When each stage was reached (provider or drill clock).
    pub stamps: BTreeMap<Stage, DateTime<Utc>>,
    pub issue_token: Option<String>,
    pub staged_version: Option<String>,
    /// Location label → the location's own updated-at after it got the new key.
    pub updated_locations: BTreeMap<String, DateTime<Utc>>,
    /// The old key's revoke or delete, from its typed confirmation until it is done or
    /// handed to a person.
    pub pending: Option<Pending>,
    pub deleted: Option<DateTime<Utc>>,
    /// Failed attempts so far (all operations).
    pub failed_attempts: u32,
    pub last_error: Option<String>,
    /// The issuer cannot mint this key by API: what to do in its console, until a pasted
    /// key is staged.
    pub manual_needed: Option<String>,
    /// The issuer cannot revoke (or delete) this key by API: what to do in its console,
    /// until the old key is seen dead (or deleted).
    pub manual_revoke: Option<ByHand>,
    /// How many times breachbook asked for that (a new ask after each confirmation that
    /// found the old key still working).
    pub manual_revoke_asks: u32,
    /// The issuer has no room for a new key: the key to delete first, until room is made.
    pub room_needed: Option<RoomNeeded>,
}

impl CredentialState {
    fn new(credential: Credential) -> Self {
        CredentialState {
            credential,
            rotation: RotationState::default(),
            new_key_id: None,
            new_hint: None,
            stamps: BTreeMap::new(),
            issue_token: None,
            staged_version: None,
            updated_locations: BTreeMap::new(),
            pending: None,
            deleted: None,
            failed_attempts: 0,
            last_error: None,
            manual_needed: None,
            manual_revoke: None,
            manual_revoke_asks: 0,
            room_needed: None,
        }
    }

    /// Whether a confirmed `kind` (revoke or delete) of the old key is journaled and not
    /// used up yet.
    pub fn confirmed(&self, kind: DangerKind) -> bool {
        self.pending.as_ref().is_some_and(|p| p.kind == kind)
    }

    /// Whether the engine asked the issuer for `kind` and the answer is not journaled yet.
    pub fn requested(&self, kind: DangerKind) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|p| p.kind == kind && p.requested)
    }

    /// The pending `kind`, made if there is none of that kind.
    fn pending_mut(&mut self, kind: DangerKind) -> &mut Pending {
        if !self.confirmed(kind) {
            self.pending = None;
        }
        self.pending.get_or_insert(Pending {
            kind,
            overridden: false,
            requested: false,
        })
    }

    /// Ends a pending `kind` (done, or handed to a person who confirms again).
    fn clear_pending(&mut self, kind: DangerKind) {
        if self.confirmed(kind) {
            self.pending = None;
        }
    }

    /// Whether this credential takes part in the rotation (exposed and not skipped).
    pub fn in_rotation(&self) -> bool {
        self.credential.exposed && !matches!(self.rotation, RotationState::Skipped { .. })
    }
}

/// Calls per minute for one credential.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct UsageSeries {
    /// Minute → (ok, denied), old key.
    pub old: BTreeMap<DateTime<Utc>, (u32, u32)>,
    /// Minute → (ok, denied), new key.
    pub new: BTreeMap<DateTime<Utc>, (u32, u32)>,
    /// Last successful use of the old key and where from.
    pub last_old_use: Option<(DateTime<Utc>, String)>,
    /// Calls on the old key at or after its revocation: (ok, denied).
    pub old_after_revoke: (u32, u32),
}

/// How a timeline entry should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    Info,
    Good,
    Warn,
    Alarm,
    Inject,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub tone: Tone,
    pub text: String,
}

/// What a confirmation record is: the typed word for a dangerous action, or the override
/// phrase typed with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    Word(DangerKind),
    Override,
}

impl Confirmed {
    pub fn is_override(self) -> bool {
        self == Confirmed::Override
    }

    /// As the report names it: `revoke`, `delete`, `delete inactive key`, `override`.
    pub fn label(self) -> &'static str {
        match self {
            Confirmed::Word(kind) => kind.word(),
            Confirmed::Override => "override",
        }
    }
}

impl std::fmt::Display for Confirmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl Serialize for Confirmed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label())
    }
}

/// A typed confirmation or override, for the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfirmationRecord {
    pub credential: String,
    pub action: Confirmed,
    pub via: Via,
    pub operator: String,
    pub at: DateTime<Utc>,
    pub override_of: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureRecord {
    pub credential: Option<String>,
    pub step: String,
    pub operation: String,
    pub attempt: u32,
    pub why: String,
    pub retryable: bool,
    pub at: DateTime<Utc>,
}

/// The whole incident, rebuilt from the journal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentState {
    pub id: String,
    pub mode: Mode,
    pub read_only: bool,
    pub runbook: Runbook,
    pub runbook_digest: String,
    pub seed: Option<u64>,
    pub speed: Option<f64>,
    /// Incident clock at opening (drill clock in drills).
    pub opened_at: DateTime<Utc>,
    /// Latest incident-clock time seen in any event.
    pub clock: DateTime<Utc>,
    /// Wall-clock time of the last record.
    pub last_activity: DateTime<Utc>,
    pub operator: String,
    pub cloud_identity: Option<String>,
    pub steps: Vec<StepState>,
    pub credentials: Vec<CredentialState>,
    pub usage: BTreeMap<String, UsageSeries>,
    pub timeline: Vec<TimelineEntry>,
    pub confirmations: Vec<ConfirmationRecord>,
    pub refusals: u32,
    pub failures: Vec<FailureRecord>,
    pub consumer_errors: u32,
    pub score: Option<Score>,
    pub report_path: Option<String>,
    pub command_output: BTreeMap<String, Vec<String>>,
    /// Records that did not fit the state machine (a journal edited by hand, a bug).
    pub anomalies: Vec<String>,
}

impl IncidentState {
    /// Builds the state from the first event, which must be `IncidentOpened`.
    pub fn open(first: &Event, wall: DateTime<Utc>, operator: &str) -> Option<IncidentState> {
        let Event::IncidentOpened {
            id,
            mode,
            runbook,
            runbook_digest,
            seed,
            speed,
            at,
            read_only,
        } = first
        else {
            return None;
        };
        let steps = runbook
            .steps
            .iter()
            .map(|s| StepState {
                id: s.id.clone(),
                status: StepStatus::Pending,
                checked: vec![false; s.checklist.len()],
                started: None,
                completed: None,
            })
            .collect();
        let mut st = IncidentState {
            id: id.clone(),
            mode: *mode,
            read_only: *read_only,
            runbook: (**runbook).clone(),
            runbook_digest: runbook_digest.clone(),
            seed: *seed,
            speed: *speed,
            opened_at: *at,
            clock: *at,
            last_activity: wall,
            operator: operator.to_string(),
            cloud_identity: None,
            steps,
            credentials: Vec::new(),
            usage: BTreeMap::new(),
            timeline: Vec::new(),
            confirmations: Vec::new(),
            refusals: 0,
            failures: Vec::new(),
            consumer_errors: 0,
            score: None,
            report_path: None,
            command_output: BTreeMap::new(),
            anomalies: Vec::new(),
        };
        st.note(
            *at,
            Tone::Info,
            format!("incident opened: {} ({})", runbook.title, mode.badge()),
        );
        Some(st)
    }

    /// Folds a whole event list (the first must be `IncidentOpened`).
    pub fn fold<'a>(
        events: impl IntoIterator<Item = (&'a Event, DateTime<Utc>, &'a str)>,
    ) -> Option<IncidentState> {
        let mut it = events.into_iter();
        let (first, wall, op) = it.next()?;
        let mut st = IncidentState::open(first, wall, op)?;
        for (e, wall, op) in it {
            st.apply(e, wall, op);
        }
        Some(st)
    }

    pub fn credential(&self, id: &str) -> Option<&CredentialState> {
        self.credentials.iter().find(|c| c.credential.id == id)
    }

    fn credential_mut(&mut self, id: &str) -> Option<&mut CredentialState> {
        self.credentials.iter_mut().find(|c| c.credential.id == id)
    }

    pub fn step(&self, id: &str) -> Option<&StepState> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The runbook definition of a step.
    pub fn step_def(&self, id: &str) -> Option<&crate::runbook::schema::Step> {
        self.runbook.steps.iter().find(|s| s.id == id)
    }

    /// Steps of `needs` not yet finished, or empty when the step may run.
    pub fn unmet_needs(&self, id: &str) -> Vec<String> {
        let Some(def) = self.step_def(id) else {
            return Vec::new();
        };
        def.needs
            .iter()
            .filter(|n| !self.step(n).is_some_and(|s| s.is_finished()))
            .cloned()
            .collect()
    }

    /// The first step that is not finished, in runbook order.
    pub fn current_step(&self) -> Option<&StepState> {
        self.steps.iter().find(|s| !s.is_finished())
    }

    /// Steps finished / all steps.
    pub fn progress(&self) -> (usize, usize) {
        (
            self.steps.iter().filter(|s| s.is_finished()).count(),
            self.steps.len(),
        )
    }

    /// Exposed credentials and how many of them are contained (revoked or further).
    pub fn containment(&self) -> (usize, usize) {
        let exposed: Vec<_> = self
            .credentials
            .iter()
            .filter(|c| c.credential.exposed)
            .collect();
        let contained = exposed.iter().filter(|c| c.rotation.is_contained()).count();
        (contained, exposed.len())
    }

    /// True when every step is finished.
    pub fn is_complete(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.is_finished())
    }

    fn note(&mut self, at: DateTime<Utc>, tone: Tone, text: String) {
        self.timeline.push(TimelineEntry { at, tone, text });
    }

    fn see(&mut self, at: DateTime<Utc>) {
        if at > self.clock {
            self.clock = at;
        }
    }

    fn name_of(&self, id: &str) -> String {
        self.credential(id)
            .map(|c| format!("{} {}", c.credential.name, c.credential.hint))
            .unwrap_or_else(|| id.to_string())
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

    /// Applies one event. `wall` is the record's wall-clock time, `operator` its user.
    pub fn apply(&mut self, event: &Event, wall: DateTime<Utc>, operator: &str) {
        self.last_activity = wall;
        match event {
            Event::IncidentOpened { .. } => {
                self.anomalies
                    .push("a second incident-opened record".to_string());
            }
            Event::CloudIdentity { identity } => {
                self.cloud_identity = Some(identity.clone());
            }
            Event::StepStarted { step, at } => {
                self.see(*at);
                let title = self.step_title(step);
                if let Some(s) = self.steps.iter_mut().find(|s| &s.id == step) {
                    s.status = StepStatus::Running;
                    s.started.get_or_insert(*at);
                }
                self.note(*at, Tone::Info, format!("step started: {title}"));
            }
            Event::StepCompleted { step, at } => {
                self.see(*at);
                let title = self.step_title(step);
                if let Some(s) = self.steps.iter_mut().find(|s| &s.id == step) {
                    s.status = StepStatus::Done;
                    s.completed = Some(*at);
                }
                self.note(*at, Tone::Good, format!("step done: {title}"));
            }
            Event::StepFailed { step, why, at } => {
                self.see(*at);
                let title = self.step_title(step);
                if let Some(s) = self.steps.iter_mut().find(|s| &s.id == step) {
                    s.status = StepStatus::Failed { why: why.clone() };
                }
                self.note(*at, Tone::Alarm, format!("step failed: {title}: {why}"));
            }
            Event::StepSkipped { step, why, at } => {
                self.see(*at);
                let title = self.step_title(step);
                if let Some(s) = self.steps.iter_mut().find(|s| &s.id == step) {
                    s.status = StepStatus::Skipped { why: why.clone() };
                    s.completed = Some(*at);
                }
                self.note(*at, Tone::Warn, format!("step skipped: {title}: {why}"));
            }
            Event::ChecklistTicked {
                step,
                item,
                checked,
            } => {
                if let Some(s) = self.steps.iter_mut().find(|s| &s.id == step)
                    && let Some(slot) = s.checked.get_mut(*item)
                {
                    *slot = *checked;
                }
            }
            Event::CredentialDiscovered { credential } => {
                if let Some(existing) = self.credential_mut(&credential.id) {
                    // A second inventory refreshes what is known, not the rotation.
                    existing.credential = credential.clone();
                } else {
                    let at = self.clock;
                    let tone = if credential.exposed {
                        Tone::Warn
                    } else {
                        Tone::Info
                    };
                    self.note(
                        at,
                        tone,
                        format!(
                            "found {} {} ({}) in {} location(s){}",
                            credential.issuer.label(),
                            credential.name,
                            credential.hint,
                            credential.locations.len(),
                            if credential.exposed {
                                " — EXPOSED"
                            } else {
                                ""
                            }
                        ),
                    );
                    self.credentials
                        .push(CredentialState::new(credential.clone()));
                }
            }
            Event::IssueRequested { credential, token } => {
                if let Some(c) = self.credential_mut(credential) {
                    c.issue_token = Some(token.clone());
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
                let n = self.name_of(credential);
                let at = self.clock;
                self.note(
                    at,
                    Tone::Warn,
                    format!("{n} needs a new key made by hand: {instructions}"),
                );
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
                let n = self.name_of(credential);
                let at = self.clock;
                self.note(
                    at,
                    Tone::Warn,
                    format!("{n}: no room for a new key: {plan}"),
                );
            }
            Event::RoomMade {
                credential,
                key_id,
                at,
            } => {
                self.see(*at);
                if let Some(c) = self.credential_mut(credential) {
                    c.room_needed = None;
                }
                let n = self.name_of(credential);
                self.note(
                    *at,
                    Tone::Info,
                    format!("{n}: deleted the inactive key {key_id} to make room"),
                );
            }
            Event::Issued {
                credential,
                new_key_id,
                new_hint,
                at,
            } => {
                self.see(*at);
                if let Some(c) = self.credential_mut(credential) {
                    c.manual_needed = None;
                    c.room_needed = None;
                }
                self.transition(credential, Transition::Advance(Stage::Issued), Some(*at));
                if let Some(c) = self.credential_mut(credential) {
                    c.new_key_id = Some(new_key_id.clone());
                    c.new_hint = Some(new_hint.clone());
                }
                let n = self.name_of(credential);
                self.note(
                    *at,
                    Tone::Info,
                    format!("new key issued for {n}: {new_hint}"),
                );
            }
            Event::Staged {
                credential,
                location,
                version,
                at,
            } => {
                self.see(*at);
                self.transition(credential, Transition::Advance(Stage::Staged), Some(*at));
                if let Some(c) = self.credential_mut(credential) {
                    c.staged_version = Some(version.clone());
                }
                let n = self.name_of(credential);
                self.note(
                    *at,
                    Tone::Info,
                    format!("new key for {n} stored as pending in {location}"),
                );
            }
            Event::Verified { credential, at } => {
                self.see(*at);
                self.transition(credential, Transition::Advance(Stage::Verified), Some(*at));
                let n = self.name_of(credential);
                self.note(*at, Tone::Good, format!("new key for {n} verified"));
            }
            Event::Promoted { credential, at } => {
                self.see(*at);
                if !self.late_rollout(credential, Stage::Promoted, *at) {
                    self.transition(credential, Transition::Advance(Stage::Promoted), Some(*at));
                }
                let n = self.name_of(credential);
                self.note(
                    *at,
                    Tone::Info,
                    format!("new key for {n} promoted to current"),
                );
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
                let n = self.name_of(credential);
                self.note(
                    *updated_at,
                    Tone::Info,
                    format!("{location} now holds the new key for {n}"),
                );
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
                let n = self.name_of(credential);
                self.note(
                    *at,
                    Tone::Good,
                    format!("new key for {n} propagated everywhere"),
                );
            }
            Event::ConfirmationGiven {
                credential,
                action,
                via,
            } => {
                let at = self.clock;
                if let Some(c) = self.credential_mut(credential) {
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
                let n = self.name_of(credential);
                self.note(
                    at,
                    Tone::Info,
                    format!("{operator} confirmed {action} of {n}"),
                );
            }
            Event::ConfirmationRefused {
                credential,
                action,
                why,
            } => {
                self.refusals += 1;
                let at = self.clock;
                let n = self.name_of(credential);
                self.note(at, Tone::Warn, format!("{action} of {n} refused: {why}"));
            }
            Event::OverrideGiven {
                credential,
                failed_checks,
                via,
            } => {
                let at = self.clock;
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
                let n = self.name_of(credential);
                self.note(
                    at,
                    Tone::Alarm,
                    format!(
                        "{operator} OVERRODE failed checks for {n}: {}",
                        failed_checks.join("; ")
                    ),
                );
            }
            Event::RevokeRequested { credential } => {
                if let Some(c) = self.credential_mut(credential) {
                    c.pending_mut(DangerKind::Revoke).requested = true;
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
                let n = self.name_of(credential);
                let at = self.clock;
                self.note(
                    at,
                    Tone::Warn,
                    format!(
                        "{n}: {action} it by hand, then confirm again{}: {instructions}",
                        if *tested {
                            " (the old key still works)"
                        } else {
                            ""
                        }
                    ),
                );
            }
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
                let n = self.name_of(credential);
                self.note(*at, Tone::Good, format!("old key REVOKED: {n}"));
            }
            Event::ConfirmedDead { credential, at } => {
                self.see(*at);
                self.transition(
                    credential,
                    Transition::Advance(Stage::ConfirmedDead),
                    Some(*at),
                );
                let n = self.name_of(credential);
                self.note(*at, Tone::Good, format!("old key confirmed dead: {n}"));
            }
            Event::DeleteRequested { credential } => {
                if let Some(c) = self.credential_mut(credential) {
                    c.pending_mut(DangerKind::Delete).requested = true;
                }
            }
            Event::Deleted { credential, at } => {
                self.see(*at);
                if let Some(c) = self.credential_mut(credential) {
                    c.deleted = Some(*at);
                    c.clear_pending(DangerKind::Delete);
                    c.manual_revoke = None;
                }
                let n = self.name_of(credential);
                self.note(*at, Tone::Good, format!("old key deleted: {n}"));
            }
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
                let who = credential
                    .as_deref()
                    .map(|c| self.name_of(c))
                    .unwrap_or_default();
                let tail = if *retryable { ", retrying" } else { "" };
                self.note(
                    at,
                    Tone::Warn,
                    format!("{operation} {who} failed (attempt {attempt}): {why}{tail}"),
                );
            }
            Event::RotationFailed { credential, why } => {
                let at = self.clock;
                self.transition(credential, Transition::Fail(why.clone()), None);
                let n = self.name_of(credential);
                self.note(at, Tone::Alarm, format!("rotation of {n} FAILED: {why}"));
            }
            Event::RotationRetried { credential } => {
                let at = self.clock;
                self.transition(credential, Transition::Retry, None);
                if let Some(c) = self.credential_mut(credential) {
                    c.last_error = None;
                }
                let n = self.name_of(credential);
                self.note(at, Tone::Info, format!("retrying rotation of {n}"));
            }
            Event::RotationSkipped { credential, why } => {
                let at = self.clock;
                if let Some(c) = self.credential_mut(credential) {
                    c.room_needed = None;
                    c.manual_needed = None;
                }
                self.transition(credential, Transition::Skip(why.clone()), None);
                let n = self.name_of(credential);
                self.note(at, Tone::Warn, format!("rotation of {n} skipped: {why}"));
            }
            Event::UsageObserved { sample } => self.observe(sample),
            Event::Alarm {
                credential: _,
                generation: _,
                message,
                at,
            } => {
                self.see(*at);
                self.note(*at, Tone::Alarm, message.clone());
            }
            Event::InjectArrived { message, at } => {
                self.see(*at);
                self.note(*at, Tone::Inject, message.clone());
            }
            Event::ConsumerFailed {
                consumer,
                credential,
                errors,
                at,
            } => {
                self.see(*at);
                self.consumer_errors += errors;
                let n = self.name_of(credential);
                self.note(
                    *at,
                    Tone::Alarm,
                    format!("OUTAGE: {consumer} got {errors} errors calling with {n}"),
                );
            }
            Event::CommandStarted {
                step,
                command,
                simulated,
            } => {
                let at = self.clock;
                let how = if *simulated { "simulated" } else { "running" };
                self.command_output
                    .entry(step.clone())
                    .or_default()
                    .push(format!("$ {command}"));
                self.note(at, Tone::Info, format!("{how}: {command}"));
            }
            Event::CommandOutput { step, line } => {
                self.command_output
                    .entry(step.clone())
                    .or_default()
                    .push(line.clone());
            }
            Event::CommandFinished { step, exit_code } => {
                let at = self.clock;
                self.command_output
                    .entry(step.clone())
                    .or_default()
                    .push(format!("[exit {exit_code}]"));
                let tone = if *exit_code == 0 {
                    Tone::Good
                } else {
                    Tone::Alarm
                };
                self.note(at, tone, format!("command of {step} exited {exit_code}"));
            }
            Event::DrillEnded { score, at } => {
                self.see(*at);
                self.score = Some(score.clone());
                self.note(
                    *at,
                    Tone::Good,
                    format!("drill ended: score {}/100", score.points),
                );
            }
            Event::ReportWritten { path } => {
                self.report_path = Some(path.clone());
                let at = self.clock;
                self.note(at, Tone::Good, format!("report written: {path}"));
            }
            Event::Note { text } => {
                let at = self.clock;
                self.note(at, Tone::Info, format!("{operator}: {text}"));
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

    /// Whether a key was revoked before its replacement was rolled out everywhere, and the
    /// rollout is still to do.
    pub fn needs_late_rollout(c: &CredentialState) -> bool {
        c.rotation.reached() >= Stage::Revoked
            && c.stamps.contains_key(&Stage::Verified)
            && !c.stamps.contains_key(&Stage::Propagated)
    }

    fn step_title(&self, id: &str) -> String {
        self.step_def(id)
            .map(|s| s.title.clone())
            .unwrap_or_else(|| id.to_string())
    }

    fn observe(&mut self, s: &UsageSample) {
        self.see(s.minute);
        let revoked_at = self
            .credential(&s.credential)
            .and_then(|c| c.stamps.get(&Stage::Revoked).copied());
        let series = self.usage.entry(s.credential.clone()).or_default();
        let map = match s.generation {
            KeyGeneration::Old => &mut series.old,
            KeyGeneration::New => &mut series.new,
        };
        let slot = map.entry(s.minute).or_insert((0, 0));
        slot.0 += s.ok;
        slot.1 += s.denied;
        if s.generation == KeyGeneration::Old {
            if s.ok > 0 {
                let from = s.sources.first().cloned().unwrap_or_default();
                if series
                    .last_old_use
                    .as_ref()
                    .is_none_or(|(t, _)| *t <= s.minute)
                {
                    series.last_old_use = Some((s.minute, from));
                }
            }
            if revoked_at.is_some_and(|r| s.minute >= r) {
                series.old_after_revoke.0 += s.ok;
                series.old_after_revoke.1 += s.denied;
            }
        }
    }

    /// Keys a revoke step (or, with `delete`, a delete step) still has to confirm, in
    /// inventory order.
    pub fn awaiting_confirmation(&self, delete: bool) -> Vec<&CredentialState> {
        self.credentials
            .iter()
            .filter(|c| c.in_rotation())
            .filter(|c| {
                if delete {
                    c.rotation.is_contained() && c.deleted.is_none()
                } else {
                    c.rotation.reached() < Stage::Revoked
                }
            })
            .collect()
    }

    /// Steps whose action is `action`.
    pub fn steps_with(&self, action: Action) -> Vec<&str> {
        self.runbook
            .steps
            .iter()
            .filter(|s| s.action == action)
            .map(|s| s.id.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::incident::model::{Credential, Location, LocationKind};

    fn at(m: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + m * 60, 0).unwrap()
    }

    fn opened() -> IncidentState {
        let rb: Runbook =
            serde_saphyr::from_str(include_str!("../../runbooks/onboarding-walkthrough.yaml"))
                .unwrap();
        let e = Event::IncidentOpened {
            id: "t".into(),
            mode: Mode::Drill,
            runbook: Box::new(rb),
            runbook_digest: String::new(),
            seed: None,
            speed: None,
            at: at(0),
            read_only: false,
        };
        IncidentState::open(&e, at(0), "op").unwrap()
    }

    fn cred() -> Credential {
        Credential {
            id: "openai/k".into(),
            issuer: crate::runbook::schema::Issuer::Openai,
            key_id: "key_abcd".into(),
            name: "k".into(),
            hint: "sk-…abcd".into(),
            created: None,
            last_used: None,
            locations: vec![Location {
                kind: LocationKind::SecretsManager,
                name: "prod/k".into(),
                field: None,
                region: None,
                changed: None,
            }],
            exposed: true,
            exposure_reason: String::new(),
            fingerprint: None,
            meta: Default::default(),
        }
    }

    fn to_propagated(st: &mut IncidentState) {
        let c = "openai/k".to_string();
        for e in [
            Event::CredentialDiscovered { credential: cred() },
            Event::Issued {
                credential: c.clone(),
                new_key_id: "key_new".into(),
                new_hint: "sk-…new1".into(),
                at: at(1),
            },
            Event::Staged {
                credential: c.clone(),
                location: "sm:prod/k".into(),
                version: "v1".into(),
                at: at(1),
            },
            Event::Verified {
                credential: c.clone(),
                at: at(2),
            },
            Event::Promoted {
                credential: c.clone(),
                at: at(3),
            },
            Event::LocationUpdated {
                credential: c.clone(),
                location: "sm:prod/k".into(),
                updated_at: at(3),
            },
            Event::Propagated {
                credential: c,
                at: at(3),
            },
        ] {
            st.apply(&e, at(0), "op");
        }
    }

    #[test]
    fn a_revoke_confirmed_again_after_a_failed_attempt_lands() {
        let mut st = opened();
        to_propagated(&mut st);
        let c = "openai/k".to_string();
        st.apply(
            &Event::RotationFailed {
                credential: c.clone(),
                why: "revoke failed: 503".into(),
            },
            at(4),
            "op",
        );
        st.apply(
            &Event::Revoked {
                credential: c.clone(),
                at: at(5),
            },
            at(5),
            "op",
        );
        assert_eq!(
            st.credential(&c).unwrap().rotation.reached(),
            Stage::Revoked
        );
        assert!(st.anomalies.is_empty(), "{:?}", st.anomalies);
    }

    #[test]
    fn a_confirmation_is_pending_until_done_or_handed_to_a_person() {
        let mut st = opened();
        to_propagated(&mut st);
        let c = "openai/k".to_string();
        let given = Event::ConfirmationGiven {
            credential: c.clone(),
            action: DangerKind::Revoke,
            via: Via::Tui,
        };
        let requested = Event::RevokeRequested {
            credential: c.clone(),
        };
        st.apply(&given, at(4), "op");
        let cs = st.credential(&c).unwrap();
        assert!(cs.confirmed(DangerKind::Revoke) && !cs.requested(DangerKind::Revoke));
        assert!(!cs.confirmed(DangerKind::Delete));
        st.apply(&requested, at(4), "op");
        assert!(st.credential(&c).unwrap().requested(DangerKind::Revoke));
        st.apply(
            &Event::ManualRevokeNeeded {
                credential: c.clone(),
                action: DangerKind::Revoke,
                instructions: "revoke it in the console".into(),
                tested: true,
            },
            at(5),
            "op",
        );
        let cs = st.credential(&c).unwrap();
        assert_eq!(cs.pending, None, "the word was used: a new one is typed");
        assert!(cs.manual_revoke.as_ref().is_some_and(|h| h.tested));
        st.apply(&given, at(6), "op");
        st.apply(&requested, at(6), "op");
        st.apply(
            &Event::Revoked {
                credential: c.clone(),
                at: at(6),
            },
            at(6),
            "op",
        );
        let cs = st.credential(&c).unwrap();
        assert_eq!(cs.pending, None);
        assert_eq!(cs.manual_revoke, None);
        assert_eq!(cs.manual_revoke_asks, 1);
        assert_eq!(st.confirmations.len(), 2);
        assert_eq!(st.confirmations[0].action.label(), "revoke");
    }

    #[test]
    fn the_make_room_word_belongs_to_the_room_question() {
        let mut st = opened();
        st.apply(
            &Event::CredentialDiscovered { credential: cred() },
            at(0),
            "op",
        );
        let c = "openai/k".to_string();
        let given = Event::ConfirmationGiven {
            credential: c.clone(),
            action: DangerKind::MakeRoom,
            via: Via::Autopilot,
        };
        st.apply(&given, at(1), "op");
        assert_eq!(st.credential(&c).unwrap().room_needed, None);
        st.apply(
            &Event::RoomNeeded {
                credential: c.clone(),
                key_id: "key_old2".into(),
                plan: "delete key_old2".into(),
            },
            at(1),
            "op",
        );
        st.apply(&given, at(2), "op");
        let cs = st.credential(&c).unwrap();
        assert!(cs.room_needed.as_ref().is_some_and(|r| r.confirmed));
        assert_eq!(cs.pending, None);
        assert_eq!(st.confirmations[1].action.label(), "delete inactive key");
    }

    #[test]
    fn preflight_passes_only_when_every_location_has_the_new_key() {
        let mut st = opened();
        to_propagated(&mut st);
        let revoke = crate::incident::command::Dangerous::Revoke {
            credential: "openai/k".into(),
        };
        let checks = revoke.preflight(&st);
        assert_eq!(checks.len(), 3);
        assert!(checks.iter().all(|p| p.passed), "{checks:?}");
        assert_eq!(revoke.preflight_failure(&st), None);
        let mut st = opened();
        st.apply(
            &Event::CredentialDiscovered { credential: cred() },
            at(0),
            "op",
        );
        let checks = revoke.preflight(&st);
        assert!(checks.iter().all(|p| !p.passed), "{checks:?}");
        let failure = revoke.preflight_failure(&st).unwrap();
        assert_eq!(
            failure.failed,
            [
                "new key verified (provider answered 200)",
                "new key promoted to current",
                "every location updated (0 of 1)"
            ]
        );
        assert_eq!(failure.phrase, "override abcd");
    }

    #[test]
    fn an_event_for_an_unknown_key_is_an_anomaly_not_a_panic() {
        let mut st = opened();
        st.apply(
            &Event::Revoked {
                credential: "nope".into(),
                at: at(1),
            },
            at(1),
            "op",
        );
        assert_eq!(st.anomalies.len(), 1);
    }
}
