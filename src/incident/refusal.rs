//! Why the engine refused a command, as a typed reason, and the words for it.
//!
//! The words are written once, here, in the incident's language: the TUI shows them (and
//! adds its own key hints from `tui::strings`), the headless driver prints them. They name
//! no key of the keyboard. Depends on nothing but std.

use std::fmt;

/// A command the engine did not carry out, and why. Nothing changed outside breachbook;
/// only a refused confirmation word is journaled (as `ConfirmationRefused`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoStep {
        step: String,
    },
    NoCredential {
        credential: String,
    },
    /// The step is done already.
    StepDone {
        title: String,
    },
    /// The step was skipped: it can be reopened, not run.
    StepSkipped {
        title: String,
        why: String,
    },
    /// Only a skipped step can be reopened.
    NotSkipped {
        title: String,
    },
    /// The step could not move a single key on: why, and what to do.
    Blocked {
        why: String,
    },
    /// A note needs some text.
    EmptyNote,
    /// The steps this one needs are not finished; their titles, quoted.
    NeedsFirst {
        titles: Vec<String>,
    },
    StepRunning,
    /// A read-only session does not run steps that change keys or systems.
    ReadOnlyStep,
    /// A manual step is done only when every checklist item is ticked.
    NotTicked {
        done: usize,
        all: usize,
    },
    NoChecklistItem {
        step: String,
        item: usize,
    },
    TickFinished,
    SkipFinished,
    StepInFlight,
    NothingToSkip,
    KeyInFlight,
    ReadOnlyPaste,
    NotWaitingForPaste {
        name: String,
    },
    NothingPasted,
    NoRotateStep,
    NotFailed {
        name: String,
    },
    ReadOnlyRetry,
    /// A read-only session destroys nothing; `verb` says what was asked.
    ReadOnlyDanger {
        verb: &'static str,
    },
    AlreadyRevoked {
        name: String,
    },
    NotExposed {
        name: String,
    },
    /// Mark known: the key is not a suspect (not created in the window, or vouched for).
    NotSuspect {
        name: String,
    },
    /// Mark known: no reason given.
    NoReason {
        name: String,
    },
    NotInRotation {
        name: String,
    },
    BeingRevoked {
        name: String,
    },
    RevokeFirst {
        name: String,
    },
    AlreadyDeleted {
        name: String,
    },
    BeingDeleted {
        name: String,
    },
    NoWord {
        name: String,
    },
    WrongWord {
        typed: String,
        name: String,
    },
    /// Pre-flight checks failed and the override phrase was not typed.
    PreflightFailed(PreflightFailure),
    /// The engine's own gate: no journaled confirmation names this key.
    NoConfirmation,
    NoRoomNeeded {
        name: String,
    },
    NoNewKeyNeeded {
        name: String,
    },
    /// The key to delete for room is itself an exposed key of this incident.
    RoomKeyIsExposed {
        key_id: String,
        other: String,
    },
    Busy {
        name: String,
    },
    WrongRoomWord {
        key_id: String,
    },
    NoRoomConfirmation,
    /// No pending version stands in the way of this key's staging.
    NoPendingInTheWay {
        name: String,
    },
    WrongTakeOverWord {
        version: String,
    },
    NoTakeOverConfirmation,
}

/// Failed pre-flight checks of a dangerous action, and the phrase that passes over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightFailure {
    /// The failed checks, in words (journaled with an override).
    pub failed: Vec<String>,
    /// What was asked: `revoke`, `delete`.
    pub verb: &'static str,
    /// The override phrase for this key.
    pub phrase: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Refusal::*;
        match self {
            NoStep { step } => write!(f, "there is no step `{step}`"),
            NoCredential { credential } => write!(f, "there is no credential `{credential}`"),
            StepDone { title } => write!(f, "“{title}” is already done"),
            StepSkipped { title, why } => write!(
                f,
                "“{title}” was skipped ({why}); reopen it to do it after all"
            ),
            NotSkipped { title } => write!(
                f,
                "“{title}” was not skipped; only a skipped step can be reopened"
            ),
            Blocked { why } => f.write_str(why),
            EmptyNote => f.write_str("a note needs some text"),
            NeedsFirst { titles } => write!(f, "do {} first", titles.join(" and ")),
            StepRunning => f.write_str("this step is already running"),
            ReadOnlyStep => {
                f.write_str("read-only mode: this step changes keys or systems and is disabled")
            }
            NotTicked { done, all } => {
                write!(f, "tick every item first ({done} of {all} done)")
            }
            NoChecklistItem { step, item } => {
                write!(f, "step `{step}` has no checklist item {}", item + 1)
            }
            TickFinished => f.write_str("this step is already done"),
            SkipFinished => f.write_str("this step is already finished"),
            StepInFlight => f.write_str("this step has work in flight; wait for it to finish"),
            NothingToSkip => f.write_str("this key is already revoked; there is nothing to skip"),
            KeyInFlight => f.write_str("this key has work in flight; wait for it to finish"),
            ReadOnlyPaste => f.write_str("read-only: keys cannot be changed in this session"),
            NotWaitingForPaste { name } => write!(f, "{name} is not waiting for a pasted key"),
            NothingPasted => {
                f.write_str("nothing was pasted: copy the new key from the console and paste it")
            }
            NoRotateStep => f.write_str("no rotate step is open to take the pasted key"),
            NotFailed { name } => write!(f, "{name} has not failed; nothing to retry"),
            ReadOnlyRetry => {
                f.write_str("read-only mode: retrying would change keys and is disabled")
            }
            ReadOnlyDanger { verb } => write!(f, "read-only mode: {verb} is disabled"),
            AlreadyRevoked { name } => write!(f, "{name} is already revoked"),
            NotExposed { name } => write!(
                f,
                "{name} is not exposed; breachbook only revokes exposed keys and suspects"
            ),
            NotSuspect { name } => write!(
                f,
                "{name} is not a suspect: only a key created during the exposure window by an unknown creator can be marked known"
            ),
            NoReason { name } => write!(
                f,
                "say why {name} is known (who made it, for what): the reason goes in the journal and the report"
            ),
            NotInRotation { name } => {
                write!(f, "{name} was skipped; it is not part of this rotation")
            }
            BeingRevoked { name } => write!(f, "{name} is being revoked already"),
            RevokeFirst { name } => write!(f, "revoke {name} before deleting it"),
            AlreadyDeleted { name } => write!(f, "{name} is already deleted"),
            BeingDeleted { name } => write!(f, "{name} is being deleted already"),
            NoWord { name } => write!(
                f,
                "type the confirmation word first: the last 4 characters of {name}'s key id"
            ),
            WrongWord { typed, name } => write!(
                f,
                "`{typed}` is not the confirmation word for {name}: type the last 4 characters of its key id"
            ),
            PreflightFailed(p) => write!(
                f,
                "pre-flight failed ({}): to {} anyway, type `{}`",
                p.failed.join("; "),
                p.verb,
                p.phrase
            ),
            NoConfirmation => {
                f.write_str("no confirmation recorded for this key; nothing was revoked")
            }
            NoRoomNeeded { name } => write!(f, "{name} needs no room for a new key"),
            NoNewKeyNeeded { name } => {
                write!(f, "{name} needs no new key any more; nothing was deleted")
            }
            RoomKeyIsExposed { key_id, other } => write!(
                f,
                "{key_id} is itself an exposed key being handled here ({other}): rotate, revoke and delete it in its own row; nothing was deleted"
            ),
            Busy { name } => write!(f, "{name} is busy; wait for it to finish"),
            WrongRoomWord { key_id } => write!(
                f,
                "type the last 4 characters of the inactive key {key_id} to delete it"
            ),
            NoRoomConfirmation => f.write_str("no confirmation recorded; nothing was deleted"),
            NoPendingInTheWay { name } => write!(
                f,
                "no pending version stands in the way of {name}'s new key; nothing to take over"
            ),
            WrongTakeOverWord { version } => write!(
                f,
                "type the last 4 characters of the pending version {version} to take it over"
            ),
            NoTakeOverConfirmation => {
                f.write_str("no confirmation recorded; the pending version was left alone")
            }
        }
    }
}
