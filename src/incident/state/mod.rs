//! Incident state as a pure fold over journal events: the steps, the credentials and
//! where each rotation is, usage, confirmations, failures and the timeline. No IO here.
//!
//! `credential` holds one credential's state, `apply` the fold itself (it only changes the
//! state); the timeline's words come from `incident::timeline`. Depends on events, the
//! model, the rotation state machine and the runbook schema.

mod apply;
mod created;
mod credential;
mod usage;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use self::created::{Decision, MarkedKnown};
pub use self::credential::{
    ByHand, CredentialState, Pending, PendingInTheWay, Retrying, RoomNeeded, Stray,
};
pub use self::usage::{Calls, SourceCalls, StillOnOld, UsageSeries, known_sources};
use super::event::{DangerKind, Event, Mode, Score, Via};
use super::rotation::Stage;
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
    /// Why it was skipped: kept when it is reopened, until it is done after all.
    pub skip: Option<String>,
    /// How often it was reopened after a skip.
    pub reopened: u32,
    /// Why it cannot make progress, while it runs and is blocked (`StepBlocked`).
    pub blocked: Option<String>,
}

impl StepState {
    /// Done or skipped: the steps that need it may run.
    pub fn is_finished(&self) -> bool {
        matches!(self.status, StepStatus::Done | StepStatus::Skipped { .. })
    }

    /// Skipped, or reopened after a skip and not done yet.
    pub fn is_skip_open(&self) -> bool {
        self.skip.is_some() && self.status != StepStatus::Done
    }
}

/// How the steps stand: done, skipped, failed, running, of all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct StepCounts {
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
    pub running: usize,
    pub total: usize,
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
    /// Calls the providers' clients tried again by themselves (journaled retries).
    pub calls_retried: u32,
    pub consumer_errors: u32,
    pub score: Option<Score>,
    pub report_path: Option<String>,
    pub command_output: BTreeMap<String, Vec<String>>,
    /// Notes the operator wrote: (when, who, text).
    pub notes: Vec<(DateTime<Utc>, String, String)>,
    /// Usage sources that are known services (the runbook's consumers): source → name.
    pub known_sources: BTreeMap<String, String>,
    /// Records that did not fit the state machine (a journal edited by hand, a bug).
    pub anomalies: Vec<String>,
    /// What the latest inventory run could not list (every failed source, in words); empty
    /// when it listed every source.
    pub inventory_gaps: Vec<String>,
    /// Persistence made during the exposure window (users, login profiles, policies, trust
    /// changes), found in the issuers' audit logs: listed for review, never changed.
    pub persistence: Vec<crate::incident::provenance::PersistenceFinding>,
    /// Whether the audit logs were read for creators in this incident. Journals written
    /// before breachbook read them keep their old verdicts: no key of theirs is judged.
    pub creators_looked_up: bool,
    /// Where each credential is in `credentials`, by id, so a lookup by id does not scan
    /// 10,000 keys (issue 18: a frame and a replay did, once per row and per event).
    #[serde(skip)]
    index: CredentialIndex,
}

/// Positions in [`IncidentState::credentials`] by id. A hint, checked against the id on
/// every use: a list changed from outside (a test) still answers right, only slower. Not
/// part of what a state is: two states with the same credentials are equal whatever their
/// indexes hold.
#[derive(Debug, Clone, Default)]
struct CredentialIndex(HashMap<String, usize>);

impl PartialEq for CredentialIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
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
                skip: None,
                reopened: 0,
                blocked: None,
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
            calls_retried: 0,
            consumer_errors: 0,
            score: None,
            report_path: None,
            command_output: BTreeMap::new(),
            notes: Vec::new(),
            known_sources: known_sources(runbook),
            anomalies: Vec::new(),
            inventory_gaps: Vec::new(),
            persistence: Vec::new(),
            creators_looked_up: false,
            index: CredentialIndex::default(),
        };
        st.timeline
            .push(super::timeline::opened(&runbook.title, *mode, *at));
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
        self.credential_at(id).and_then(|i| self.credentials.get(i))
    }

    /// The position of the credential `id` in `credentials`: from the index when it is
    /// right there, else by looking.
    fn credential_at(&self, id: &str) -> Option<usize> {
        match self.index.0.get(id) {
            Some(&i)
                if self
                    .credentials
                    .get(i)
                    .is_some_and(|c| c.credential.id == id) =>
            {
                Some(i)
            }
            // Every credential went in through the index: one it does not know is not here.
            None if self.index.0.len() == self.credentials.len() => None,
            _ => self.credentials.iter().position(|c| c.credential.id == id),
        }
    }

    /// Adds a credential found for the first time, and remembers where it is.
    fn push_credential(&mut self, c: CredentialState) {
        self.index
            .0
            .insert(c.credential.id.clone(), self.credentials.len());
        self.credentials.push(c);
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

    /// How many steps are done, skipped, failed and running, of all: a skipped step is
    /// never counted as done.
    pub fn step_counts(&self) -> StepCounts {
        let mut n = StepCounts {
            total: self.steps.len(),
            ..StepCounts::default()
        };
        for s in &self.steps {
            match s.status {
                StepStatus::Done => n.done += 1,
                StepStatus::Skipped { .. } => n.skipped += 1,
                StepStatus::Failed { .. } => n.failed += 1,
                StepStatus::Running => n.running += 1,
                StepStatus::Pending => {}
            }
        }
        n
    }

    /// Critical steps skipped and not done since: the gaps in the response.
    pub fn gaps(&self) -> Vec<&StepState> {
        self.steps
            .iter()
            .filter(|s| s.is_skip_open())
            .filter(|s| self.step_def(&s.id).is_some_and(|d| d.is_critical))
            .collect()
    }

    /// Steps finished (done or skipped) / all steps.
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

    /// Applies one event: the timeline says what happened, then the state changes.
    /// `wall` is the record's wall-clock time, `operator` its user.
    pub fn apply(&mut self, event: &Event, wall: DateTime<Utc>, operator: &str) {
        let said = super::timeline::narrate(self, event, operator);
        self.last_activity = wall;
        self.fold_in(event, wall, operator);
        self.timeline.extend(said);
    }

    /// Whether a key was revoked before its replacement was rolled out everywhere, and the
    /// rollout is still to do.
    pub fn needs_late_rollout(c: &CredentialState) -> bool {
        c.rotation.reached() >= Stage::Revoked
            && c.stamps.contains_key(&Stage::Verified)
            && !c.stamps.contains_key(&Stage::Propagated)
    }

    /// Keys a revoke step (or, with `delete`, a delete step) still has to confirm, in
    /// inventory order: the exposed keys of the rotation first, then (revoke only) the open
    /// suspects (keys created in the window by someone breachbook cannot vouch for), which
    /// wait in the revoke step until revoked or marked known.
    pub fn awaiting_confirmation(&self, delete: bool) -> Vec<&CredentialState> {
        let left = |c: &&CredentialState| {
            if delete {
                c.rotation.is_contained() && c.deleted.is_none()
            } else {
                c.rotation.reached() < Stage::Revoked
            }
        };
        let mut keys: Vec<&CredentialState> = self
            .credentials
            .iter()
            .filter(|c| c.in_rotation())
            .filter(left)
            .collect();
        if !delete {
            keys.extend(self.open_suspects());
        }
        keys
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
        let rb: Runbook = serde_saphyr::from_str(include_str!(
            "../../../runbooks/onboarding-walkthrough.yaml"
        ))
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
                account: None,
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
            at: None,
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
            at: None,
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
        // Verified, promoted, every location, no service on the old key, inventory complete.
        assert_eq!(checks.len(), 5);
        assert!(checks.iter().all(|p| p.passed), "{checks:?}");
        assert_eq!(revoke.preflight_failure(&st), None);
        let mut st = opened();
        st.apply(
            &Event::CredentialDiscovered { credential: cred() },
            at(0),
            "op",
        );
        let checks = revoke.preflight(&st);
        // Nothing is promoted yet, so no service can be on the old key after a promotion.
        assert!(checks[..3].iter().all(|p| !p.passed), "{checks:?}");
        assert!(checks[3].passed, "{checks:?}");
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
        // A partial inventory is one more failed check: keys there were never seen.
        st.apply(
            &Event::AttemptFailed {
                credential: None,
                step: "inventory".into(),
                operation: "inventory".into(),
                attempt: 1,
                why: "Secrets Manager (eu-west-1): ListSecrets: AccessDeniedException".into(),
                retryable: false,
            },
            at(1),
            "op",
        );
        let failure = revoke.preflight_failure(&st).unwrap();
        assert_eq!(
            failure.failed.last().map(String::as_str),
            Some("every inventory source was listed (1 failure(s): keys there were never seen)")
        );
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
