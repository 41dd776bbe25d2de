//! What the TUI, the autopilot and scripts say to the engine ([`Command`], with
//! [`Dangerous`] for everything destructive) and what the engine tells them back
//! ([`Update`]).
//!
//! Depends on the incident's events only. A pasted key is the one secret that passes
//! through here: held in a secret type, never serialized, never printed.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::event::{DangerKind, Event, Operator, Via};

/// The one path for everything destructive (as in gitui): what is about to be destroyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Dangerous {
    /// Revoke (deactivate) the old key of a credential.
    Revoke { credential: String },
    /// Delete the old key for good.
    Delete { credential: String },
    /// Delete another, inactive key of the same owner to make room for the new key (the
    /// issuer's key limit is reached).
    MakeRoom { credential: String },
    /// Stage the new key over a pending version breachbook did not put on the secret (a
    /// rotation in flight, an abandoned attempt): its pending label moves to breachbook's.
    TakeOver { credential: String },
}

impl Dangerous {
    pub fn credential(&self) -> &str {
        match self {
            Dangerous::Revoke { credential }
            | Dangerous::Delete { credential }
            | Dangerous::MakeRoom { credential }
            | Dangerous::TakeOver { credential } => credential,
        }
    }
    /// What kind of destruction this is, as journaled.
    pub fn kind(&self) -> DangerKind {
        match self {
            Dangerous::Revoke { .. } => DangerKind::Revoke,
            Dangerous::Delete { .. } => DangerKind::Delete,
            Dangerous::MakeRoom { .. } => DangerKind::MakeRoom,
            Dangerous::TakeOver { .. } => DangerKind::TakeOver,
        }
    }
    /// The word for it: `revoke`, `delete`, `delete inactive key`, `take over pending version`.
    pub fn verb(&self) -> &'static str {
        self.kind().word()
    }
}

/// The phrase an operator types to go ahead despite failed pre-flight checks.
pub fn override_phrase(word: &str) -> String {
    format!("override {word}")
}

/// What the operator (or the autopilot, or a script) asks the engine to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "do")]
pub enum Command {
    /// Run the step's action (inventory, rotate, verify, propagate, monitor, command, report),
    /// or, for revoke/delete steps, start the step so keys can be confirmed one by one;
    /// for manual steps, mark it done once every item is ticked.
    RunStep { step: String },
    /// Toggle one checklist item of a manual step.
    TickItem { step: String, item: usize },
    /// Pass over a step (journaled, counted as a skipped check when it is critical).
    SkipStep { step: String, why: String },
    /// Open a skipped step again, to do it after all (journaled; the skip stays on record).
    ReopenStep { step: String },
    /// Vouch for a suspect key (created during the exposure window by an identity
    /// breachbook cannot vouch for): it is known, with `reason` (journaled).
    MarkKnown { credential: String, reason: String },
    /// The typed confirmation of a dangerous action. `word` is what the operator typed;
    /// `override_phrase` is needed when pre-flight checks fail.
    Confirm {
        target: Dangerous,
        word: String,
        #[serde(default)]
        override_phrase: Option<String>,
        via: Via,
    },
    /// Clear a failed rotation and try its failed move again.
    Retry { credential: String },
    /// Leave a credential out of the rotation.
    SkipCredential { credential: String, why: String },
    /// A key the operator created by hand in the issuer's console and pasted (hidden
    /// input). The engine tests it and stores it as pending at once; it is never journaled.
    /// Not part of scripts: a key never goes through a file.
    #[serde(skip)]
    PasteKey { credential: String, key: PastedKey },
    /// Free text for the timeline and the report's notes.
    Note { text: String },
    /// Stop (or restart) the drill clock while a person reads an onboarding explanation.
    /// Not journaled; live incidents run on the wall clock and ignore it.
    PauseDrill { paused: bool },
    /// Stop after in-flight work is journaled.
    Shutdown,
    /// Stop as [`Command::Shutdown`] does, because the process was sent `signal` (its name,
    /// `SIGTERM`…): the stop is journaled as `run_stopped` with `how: signal`. Not part of
    /// scripts.
    #[serde(skip)]
    StopBySignal { signal: String },
}

/// A pasted key: held in a secret type, zeroized on drop, never printed.
#[derive(Clone)]
pub struct PastedKey(pub SecretString);

impl PastedKey {
    /// Wraps a pasted value, trimming the whitespace a paste brings along.
    pub fn new(value: &str) -> PastedKey {
        PastedKey(SecretString::from(value.trim().to_string()))
    }
}

impl std::fmt::Debug for PastedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PastedKey(…)")
    }
}

impl PartialEq for PastedKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

/// What the engine tells its watchers.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // events dominate the traffic; boxing them buys nothing
pub enum Update {
    /// A journaled event, in journal order.
    Event {
        seq: u64,
        wall: chrono::DateTime<chrono::Utc>,
        operator: Operator,
        event: Event,
    },
    /// A command was refused; the text says why and what to do.
    Refused { message: String },
    /// Work in flight changed: (step, provider calls in flight, credentials being worked on).
    Busy {
        step: Option<String>,
        in_flight: usize,
        credentials: Vec<String>,
    },
    /// The engine stopped (after Shutdown, or a journal error it cannot go on after).
    Stopped { why: Option<String> },
}
