//! Scripts of operator actions (YAML), played by the driver: tests and demos make
//! mistakes on purpose with them.

use serde::Deserialize;

use super::{DriveError, Driver};
use crate::incident::command::Command;
use crate::incident::event::Via;

/// One operator action of a script file (YAML list).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ScriptAction {
    /// Run a step and wait for it to finish or fail.
    Run(String),
    /// Toggle one checklist item (0-based).
    Tick {
        step: String,
        item: usize,
    },
    /// Tick every unticked item of a manual step.
    TickAll(String),
    /// Type a revoke confirmation. `word` defaults to the right word; `override` also types
    /// the override phrase.
    Revoke {
        credential: String,
        #[serde(default)]
        word: Option<String>,
        #[serde(default, rename = "override")]
        override_checks: bool,
    },
    /// Type a delete confirmation.
    Delete {
        credential: String,
        #[serde(default)]
        word: Option<String>,
        #[serde(default, rename = "override")]
        override_checks: bool,
    },
    /// Type the confirmation to delete the inactive key named when an issuer's key limit is
    /// reached (`word`: the last 4 characters of that key's id; defaults to the right word).
    MakeRoom {
        credential: String,
        #[serde(default)]
        word: Option<String>,
    },
    /// Type the confirmation to take over a pending version breachbook did not put on the
    /// secret of `credential` (`word`: the last 4 characters of that version's id; defaults to
    /// the right word; `override` also types the override phrase, needed when automatic
    /// rotation is on for the secret).
    TakeOver {
        credential: String,
        #[serde(default)]
        word: Option<String>,
        #[serde(default, rename = "override")]
        override_checks: bool,
    },
    /// Mark a suspect key (created during the exposure window by an identity breachbook
    /// cannot vouch for) known, with why: `:known <why>` on the screen. The revoke step no
    /// longer waits for it, and it stays active.
    MarkKnown {
        credential: String,
        reason: String,
    },
    SkipStep {
        step: String,
        why: String,
    },
    /// Open a skipped step again.
    Reopen(String),
    SkipCredential {
        credential: String,
        why: String,
    },
    Retry(String),
    Note(String),
    /// Let the incident clock run, e.g. `5m`.
    Wait(String),
    /// Hand over to the autopilot for the rest.
    Autopilot,
}

impl Driver {
    /// Plays a script, then (if it says so) the autopilot.
    pub async fn script(&mut self, actions: Vec<ScriptAction>) -> Result<(), DriveError> {
        self.via = Via::Script;
        for a in actions {
            match a {
                ScriptAction::Run(step) => {
                    self.run_step(&step).await?;
                }
                ScriptAction::Tick { step, item } => {
                    self.send(Command::TickItem { step, item })?;
                    self.settle().await?;
                }
                ScriptAction::TickAll(step) => self.tick_all(&step).await?,
                ScriptAction::Revoke {
                    credential,
                    word,
                    override_checks,
                } => {
                    let id = self.cred_id(&credential)?;
                    self.confirm(&id, false, word, override_checks).await?;
                }
                ScriptAction::Delete {
                    credential,
                    word,
                    override_checks,
                } => {
                    let id = self.cred_id(&credential)?;
                    self.confirm(&id, true, word, override_checks).await?;
                }
                ScriptAction::MakeRoom { credential, word } => {
                    let id = self.cred_id(&credential)?;
                    self.rooms.remove(&id);
                    self.make_room(&id, word).await?;
                }
                ScriptAction::TakeOver {
                    credential,
                    word,
                    override_checks,
                } => {
                    let id = self.cred_id(&credential)?;
                    self.take_over(&id, word, override_checks).await?;
                }
                ScriptAction::MarkKnown { credential, reason } => {
                    let credential = self.cred_id(&credential)?;
                    self.send(Command::MarkKnown { credential, reason })?;
                    self.settle().await?;
                }
                ScriptAction::SkipStep { step, why } => {
                    self.send(Command::SkipStep { step, why })?;
                    self.settle().await?;
                }
                ScriptAction::Reopen(step) => {
                    self.send(Command::ReopenStep { step })?;
                    self.settle().await?;
                }
                ScriptAction::SkipCredential { credential, why } => {
                    let credential = self.cred_id(&credential)?;
                    self.send(Command::SkipCredential { credential, why })?;
                    self.settle().await?;
                }
                ScriptAction::Retry(c) => {
                    let credential = self.cred_id(&c)?;
                    self.send(Command::Retry { credential })?;
                    self.settle().await?;
                    // The retried work runs on its own: the next action waits for it, as
                    // after `run`.
                    self.idle().await?;
                }
                ScriptAction::Note(text) => {
                    self.send(Command::Note { text })?;
                    self.settle().await?;
                }
                ScriptAction::Wait(d) => {
                    let d = crate::runbook::duration::parse(&d).map_err(DriveError::Script)?;
                    self.wait_for(d).await?;
                }
                ScriptAction::Autopilot => {
                    self.via = Via::Autopilot;
                    return self.autopilot().await;
                }
            }
        }
        Ok(())
    }

    fn cred_id(&self, name_or_id: &str) -> Result<String, DriveError> {
        self.state
            .credentials
            .iter()
            .find(|c| c.credential.id == name_or_id || c.credential.name == name_or_id)
            .map(|c| c.credential.id.clone())
            .ok_or_else(|| DriveError::Script(format!("no credential named `{name_or_id}`")))
    }
}
