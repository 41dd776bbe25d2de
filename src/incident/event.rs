//! Everything that happens in an incident, as journaled events.
//!
//! No variant carries a secret value: keys appear only as ids, hints and fingerprints. The
//! journal's vocabulary is typed ([`DangerKind`], [`Via`]) and serialized as the words
//! journals have always held, so old journals read. Depends on the model and the runbook
//! schema.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::{Credential, KeyGeneration, UsageSample};
use crate::runbook::schema::Runbook;

/// How the incident is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Against the simulated world.
    Drill,
    /// Against real providers.
    Live,
}

impl Mode {
    pub fn badge(self) -> &'static str {
        match self {
            Mode::Drill => "DRILL",
            Mode::Live => "LIVE",
        }
    }
}

/// What a typed confirmation is for. Journaled as the words journals have always held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DangerKind {
    /// Revoke (deactivate) the old key.
    #[serde(rename = "revoke")]
    Revoke,
    /// Delete the old key for good.
    #[serde(rename = "delete")]
    Delete,
    /// Delete another, inactive key of the same owner to make room for the new key.
    #[serde(rename = "delete inactive key")]
    MakeRoom,
    /// Stage over an `AWSPENDING` version breachbook did not put there (a rotation in
    /// flight, or an abandoned attempt): its label moves to breachbook's version.
    #[serde(rename = "take over pending version")]
    TakeOver,
}

impl DangerKind {
    /// The word for it, as journaled and shown: `revoke`, `delete`, `delete inactive key`.
    pub fn word(self) -> &'static str {
        match self {
            DangerKind::Revoke => "revoke",
            DangerKind::Delete => "delete",
            DangerKind::MakeRoom => "delete inactive key",
            DangerKind::TakeOver => "take over pending version",
        }
    }
}

impl std::fmt::Display for DangerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// Who typed a confirmation (or resumed work on one). Journaled as a lower-case word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// A person, on the screen.
    Tui,
    /// The headless autopilot (emulators and drills only).
    Autopilot,
    /// A script of operator actions.
    Script,
    /// Work a crash interrupted, finished on resume: nobody's new word.
    Resume,
}

impl Via {
    pub fn word(self) -> &'static str {
        match self {
            Via::Tui => "tui",
            Via::Autopilot => "autopilot",
            Via::Script => "script",
            Via::Resume => "resume",
        }
    }
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// The drill's final score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Score {
    /// Drill seconds from the start of the drill to the last exposed key revoked.
    pub time_to_contain_secs: Option<u64>,
    pub exposed: u32,
    pub revoked: u32,
    /// Calls the attacker got through with after the first revocation.
    pub attacker_calls_after_revoke: u32,
    /// Calls by legitimate consumers that failed because their key died under them.
    pub consumer_errors: u32,
    /// Safety checks passed over: overrides, skipped critical steps and credentials.
    pub skipped_checks: u32,
    /// 0–100.
    pub points: u32,
    /// Calls the attacker got through with, with an exposed key, after the inventory had
    /// found it exposed (so the responders knew); drills scored before this was counted
    /// read 0.
    #[serde(default)]
    pub attacker_calls_while_known: u32,
    /// Drill seconds ready replacements waited for their old key's revocation, summed over
    /// the keys (ready: the new key in every location).
    #[serde(default)]
    pub replacement_wait_secs: u64,
    /// One line per mistake, in words.
    pub mistakes: Vec<String>,
}

/// One thing that happened. Serialized with a `type` tag, snake_case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// First record of every journal.
    IncidentOpened {
        id: String,
        mode: Mode,
        runbook: Box<Runbook>,
        /// SHA-256 of the runbook source.
        runbook_digest: String,
        /// Drill seed and clock start, for drills.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        speed: Option<f64>,
        /// Incident (or drill) clock at opening.
        at: DateTime<Utc>,
        read_only: bool,
    },
    /// The cloud identity of the operator became known (STS GetCallerIdentity, or the sim).
    CloudIdentity {
        identity: String,
    },
    StepStarted {
        step: String,
        at: DateTime<Utc>,
    },
    StepCompleted {
        step: String,
        at: DateTime<Utc>,
    },
    StepFailed {
        step: String,
        why: String,
        at: DateTime<Utc>,
    },
    StepSkipped {
        step: String,
        why: String,
        at: DateTime<Utc>,
    },
    ChecklistTicked {
        step: String,
        item: usize,
        checked: bool,
    },
    /// A skipped step was opened again, to be done after all. Its skip stays on record.
    StepReopened {
        step: String,
        at: DateTime<Utc>,
    },
    /// A running step cannot make progress: nothing of it is in flight and the keys it
    /// waits for cannot move on by themselves. `why` says which keys and what to do.
    StepBlocked {
        step: String,
        why: String,
        at: DateTime<Utc>,
    },
    CredentialDiscovered {
        credential: Credential,
    },
    /// A new key is about to be minted with this idempotency token: the intent, journaled
    /// before the issuer is called, so a mint whose outcome is unknown (timeout, crash, a
    /// store write refused after it) is reconciled by listing before minting again.
    IssueRequested {
        credential: String,
        token: String,
        /// When (incident clock); journals written before this field use the record's time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<DateTime<Utc>>,
    },
    /// A reconcile found a key an interrupted mint left at the issuer: breachbook journaled
    /// the intent to mint it but holds no value for it.
    StrayKeyFound {
        credential: String,
        key_id: String,
        /// What it is, in words (never a value).
        what: String,
    },
    /// A stray key (found by a reconcile, or minted and then not stored anywhere) was deleted
    /// at its issuer, so no key is left alive that nobody holds.
    StrayKeyDiscarded {
        credential: String,
        key_id: String,
        what: String,
        at: DateTime<Utc>,
    },
    /// Before staging, the secret that holds this key already had an `AWSPENDING` version
    /// breachbook did not put there in this incident (a rotation Lambda in flight, an
    /// abandoned attempt). Nothing is staged over it until the operator takes it over (typed
    /// word) or skips the key.
    PendingFound {
        credential: String,
        /// Where ([`crate::incident::model::Location::place`]).
        location: String,
        /// The pending version's id.
        version: String,
        /// What it looks like and whose, in words (rotation settings, dates).
        whose: String,
        /// Automatic rotation is on for the secret: a rotation Lambda may be working on it.
        #[serde(default)]
        rotation_on: bool,
    },
    /// breachbook's own `AWSPENDING` version was taken off (the key was skipped after it was
    /// staged), so a stale label does not block later rotations of the secret.
    PendingRemoved {
        credential: String,
        location: String,
        version: String,
        at: DateTime<Utc>,
    },
    /// What revoking the old key leaves working was ended too (IAM: temporary credentials
    /// made from it, denied by an inline user policy for tokens issued before `before`).
    SessionsEnded {
        credential: String,
        /// What was done, in words.
        what: String,
        before: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// The issuer cannot mint this key by API: a person creates it in the console
    /// (`instructions`) and pastes it into breachbook. Never carries a key.
    ManualKeyNeeded {
        credential: String,
        instructions: String,
    },
    /// The issuer holds as many keys for this owner as it allows; deleting `key_id` (an
    /// inactive key, not the exposed one) makes room. Nothing happens until the operator
    /// confirms that with its typed word.
    RoomNeeded {
        credential: String,
        key_id: String,
        plan: String,
    },
    /// `key_id` was deleted to make room for the new key.
    RoomMade {
        credential: String,
        key_id: String,
        at: DateTime<Utc>,
    },
    /// The issuer minted a replacement.
    Issued {
        credential: String,
        new_key_id: String,
        new_hint: String,
        at: DateTime<Utc>,
    },
    /// The replacement is stored as pending (AWSPENDING) in its primary store.
    Staged {
        credential: String,
        location: String,
        version: String,
        at: DateTime<Utc>,
    },
    /// The provider answered 200 with the replacement.
    Verified {
        credential: String,
        at: DateTime<Utc>,
    },
    /// The replacement is AWSCURRENT in the primary store.
    Promoted {
        credential: String,
        at: DateTime<Utc>,
    },
    /// One more location holds the replacement.
    LocationUpdated {
        credential: String,
        location: String,
        /// The location's own "updated at" as the provider reports it (e.g. Braintrust
        /// `secret_updated_at`, Secrets Manager LastChangedDate).
        updated_at: DateTime<Utc>,
    },
    /// Every location holds the replacement.
    Propagated {
        credential: String,
        at: DateTime<Utc>,
    },
    /// The operator typed the right confirmation word for this exact key.
    ConfirmationGiven {
        credential: String,
        /// What is confirmed.
        action: DangerKind,
        via: Via,
        /// When (incident clock); journals written before this field use the time of the
        /// event before.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<DateTime<Utc>>,
    },
    /// A confirmation was refused (empty or wrong word).
    ConfirmationRefused {
        credential: String,
        action: DangerKind,
        why: String,
        /// When (incident clock); absent in journals written before this field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<DateTime<Utc>>,
    },
    /// The operator typed the override phrase to revoke despite failed pre-flight checks.
    OverrideGiven {
        credential: String,
        failed_checks: Vec<String>,
        via: Via,
        /// When (incident clock); absent in journals written before this field.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<DateTime<Utc>>,
    },
    RevokeRequested {
        credential: String,
    },
    /// The issuer cannot revoke (or delete) this key by API and the old key still works: a
    /// person does it in the provider's console, then confirms again. `action` is a revoke or
    /// a delete.
    ManualRevokeNeeded {
        credential: String,
        action: DangerKind,
        instructions: String,
        /// Whether breachbook could test the old key (and found it still working). When it
        /// cannot, the next confirmation is taken as the operator's word.
        #[serde(default)]
        tested: bool,
    },
    Revoked {
        credential: String,
        at: DateTime<Utc>,
    },
    /// The old key was tried after revocation and refused.
    ConfirmedDead {
        credential: String,
        at: DateTime<Utc>,
    },
    DeleteRequested {
        credential: String,
    },
    Deleted {
        credential: String,
        at: DateTime<Utc>,
    },
    /// A provider call failed; `retryable` says whether it will be tried again.
    AttemptFailed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential: Option<String>,
        step: String,
        operation: String,
        attempt: u32,
        why: String,
        retryable: bool,
    },
    /// A provider's client tried a call again by itself (the AWS SDK's retry): the attempt
    /// before it failed for `why` (throttled, HTTP 503, timed out, connection reset). The
    /// engine's own retries are [`Event::AttemptFailed`].
    CallRetried {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential: Option<String>,
        /// The step whose work made the call; none for the usage feed's polls.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// The provider's name of the call: `CreateAccessKey`, `PutSecretValue`.
        call: String,
        /// The attempt being made (2 for the first retry).
        attempt: u32,
        why: String,
        at: DateTime<Utc>,
    },
    /// The rotation of one credential failed for good at its current stage.
    RotationFailed {
        credential: String,
        why: String,
    },
    /// The operator cleared a failure to try again.
    RotationRetried {
        credential: String,
    },
    RotationSkipped {
        credential: String,
        why: String,
    },
    UsageObserved {
        sample: UsageSample,
    },
    /// Something that needs attention (old key used after promotion, usage spike…).
    Alarm {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        credential: Option<String>,
        generation: Option<KeyGeneration>,
        message: String,
        at: DateTime<Utc>,
    },
    /// A drill inject arrived.
    InjectArrived {
        message: String,
        at: DateTime<Utc>,
    },
    /// A simulated consumer failed because its key was dead.
    ConsumerFailed {
        consumer: String,
        credential: String,
        errors: u32,
        at: DateTime<Utc>,
    },
    /// A command step's command (names substituted, never values) is about to run.
    CommandStarted {
        step: String,
        command: String,
        simulated: bool,
    },
    /// One line of a command's output, redacted.
    CommandOutput {
        step: String,
        line: String,
    },
    CommandFinished {
        step: String,
        exit_code: i32,
    },
    DrillEnded {
        score: Score,
        at: DateTime<Utc>,
    },
    ReportWritten {
        path: String,
    },
    /// Free text: from the operator in journals written before `OperatorNote`, else
    /// breachbook's own remarks.
    Note {
        text: String,
    },
    /// A note the operator wrote on the screen (or a script), for the timeline and the
    /// report's notes.
    OperatorNote {
        text: String,
        at: DateTime<Utc>,
    },
    /// Who made the keys created during the exposure window (credential id → what the
    /// audit log says), and the persistence found there. A later lookup adds to and
    /// refreshes an earlier one.
    CreatorsFound {
        #[serde(default)]
        creators: Vec<(String, crate::incident::provenance::Provenance)>,
        #[serde(default)]
        persistence: Vec<crate::incident::provenance::PersistenceFinding>,
        at: DateTime<Utc>,
    },
    /// A person vouched for a key created during the window (it is not the attacker's),
    /// with why.
    MarkedKnown {
        credential: String,
        reason: String,
        at: DateTime<Utc>,
    },
    /// The run stopped: cleanly (the screen closed, a script or the autopilot ended), or, as
    /// found by the next resume, by a crash or kill (the journal ended without this record)
    /// or with a torn last line.
    RunStopped {
        how: StopKind,
        #[serde(default)]
        why: Option<String>,
        at: DateTime<Utc>,
    },
    /// The incident was resumed: by whom (the record's operator), on which host and by which
    /// process.
    RunResumed {
        #[serde(default)]
        host: String,
        #[serde(default)]
        pid: u32,
        at: DateTime<Utc>,
    },
}

/// How a run stopped (see [`Event::RunStopped`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    /// The run ended itself and said so.
    Clean,
    /// A signal (SIGTERM, SIGINT, SIGHUP, SIGQUIT) stopped it.
    Signal,
    /// Found at resume: the journal ended without a stop record (a crash, a kill, power).
    Crashed,
    /// Found at resume: the journal's last line was incomplete (cut off mid-write).
    Torn,
}

impl StopKind {
    /// How the timeline says it.
    pub fn says(self) -> &'static str {
        match self {
            StopKind::Clean => "stopped",
            StopKind::Signal => "stopped by a signal",
            StopKind::Crashed => "stopped without a word (a crash or a kill, found at resume)",
            StopKind::Torn => {
                "stopped mid-write (a crash or a kill; the torn last line found at resume)"
            }
        }
    }
}

impl Event {
    /// Whether this event changes incident state (and so must be fsynced before acting on it).
    pub fn is_state_changing(&self) -> bool {
        !matches!(
            self,
            Event::UsageObserved { .. }
                | Event::CommandOutput { .. }
                | Event::Note { .. }
                | Event::CallRetried { .. }
        )
    }

    /// The credential this event is about, if any.
    pub fn credential(&self) -> Option<&str> {
        match self {
            Event::IssueRequested { credential, .. }
            | Event::MarkedKnown { credential, .. }
            | Event::StrayKeyFound { credential, .. }
            | Event::StrayKeyDiscarded { credential, .. }
            | Event::PendingFound { credential, .. }
            | Event::PendingRemoved { credential, .. }
            | Event::SessionsEnded { credential, .. }
            | Event::ManualKeyNeeded { credential, .. }
            | Event::RoomNeeded { credential, .. }
            | Event::RoomMade { credential, .. }
            | Event::Issued { credential, .. }
            | Event::Staged { credential, .. }
            | Event::Verified { credential, .. }
            | Event::Promoted { credential, .. }
            | Event::LocationUpdated { credential, .. }
            | Event::Propagated { credential, .. }
            | Event::ConfirmationGiven { credential, .. }
            | Event::ConfirmationRefused { credential, .. }
            | Event::OverrideGiven { credential, .. }
            | Event::RevokeRequested { credential }
            | Event::ManualRevokeNeeded { credential, .. }
            | Event::Revoked { credential, .. }
            | Event::ConfirmedDead { credential, .. }
            | Event::DeleteRequested { credential }
            | Event::Deleted { credential, .. }
            | Event::RotationFailed { credential, .. }
            | Event::RotationRetried { credential }
            | Event::RotationSkipped { credential, .. }
            | Event::ConsumerFailed { credential, .. } => Some(credential),
            Event::CredentialDiscovered { credential } => Some(&credential.id),
            Event::AttemptFailed { credential, .. }
            | Event::CallRetried { credential, .. }
            | Event::Alarm { credential, .. } => credential.as_deref(),
            Event::UsageObserved { sample } => Some(&sample.credential),
            _ => None,
        }
    }
}

/// Who did it: on every journal record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Operator {
    /// Local user name.
    pub user: String,
    /// Cloud caller identity (ARN or provider org), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

impl Operator {
    /// The local user from the environment.
    pub fn local() -> Operator {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(user_from_passwd)
            .unwrap_or_else(|| "unknown".to_string());
        Operator { user, cloud: None }
    }
}

/// This machine's host name (for the journal's resume records), or `unknown host`.
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .map(|s| s.chars().filter(|c| !c.is_control()).take(253).collect())
        .unwrap_or_else(|| "unknown host".to_string())
}

/// The name of the process's user from /etc/passwd (when USER is not set, as under cron or
/// in containers).
fn user_from_passwd() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _ = f.next();
        (f.next()?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn danger_kinds_and_vias_are_journaled_as_the_old_words() {
        for (kind, word) in [
            (DangerKind::Revoke, "revoke"),
            (DangerKind::Delete, "delete"),
            (DangerKind::MakeRoom, "delete inactive key"),
            (DangerKind::TakeOver, "take over pending version"),
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), word);
            assert_eq!(kind.word(), word);
            let back: DangerKind = serde_json::from_value(word.into()).unwrap();
            assert_eq!(back, kind);
        }
        for (via, word) in [
            (Via::Tui, "tui"),
            (Via::Autopilot, "autopilot"),
            (Via::Script, "script"),
            (Via::Resume, "resume"),
        ] {
            assert_eq!(serde_json::to_value(via).unwrap(), word);
            assert_eq!(via.to_string(), word);
        }
        let old = r#"{"type":"confirmation_given","credential":"iam/x","action":"delete inactive key","via":"autopilot"}"#;
        let e: Event = serde_json::from_str(old).unwrap();
        assert_eq!(
            e,
            Event::ConfirmationGiven {
                credential: "iam/x".into(),
                action: DangerKind::MakeRoom,
                via: Via::Autopilot,
                at: None,
            }
        );
        assert_eq!(serde_json::to_string(&e).unwrap(), old);
    }
}
