//! Recovery after a resume: whatever a stop (a crash, a kill, a signal) cut off is finished
//! before anything new starts — room that was confirmed, a revoke whose word is journaled,
//! the work of every step that was running (bulk work, a command, the report).

use super::{Engine, EngineError};
use crate::incident::command::Dangerous;
use crate::incident::event::{DangerKind, Event, Via};
use crate::incident::rotation::Stage;
use crate::incident::rules::{self, Runs};
use crate::incident::state::StepStatus;

impl Engine {
    /// After a resume: finish what a crash interrupted. Every operation is idempotent.
    pub(super) fn recover(&mut self) -> Result<(), EngineError> {
        // Room at an issuer's key limit that was confirmed and not made yet: made now, and
        // the new key minted, before the rotate step's other work starts.
        for (cred, key_id) in self.confirmed_rooms() {
            self.make_room(&cred, key_id)?;
        }
        // A revoke or delete whose typed word is journaled but whose request is not (a stop
        // right after the word): completed now rather than asked again.
        for (cred, kind) in self.confirmed_not_requested() {
            self.destroy(&cred, kind, Via::Resume)?;
        }
        // A retry cut off between clearing a key's failure and starting its step again: the
        // step starts again, as the retry would have started it.
        for step in self.retried_in_failed_steps() {
            let at = self.now();
            self.record(Event::StepStarted {
                step: step.clone(),
                at,
            })?;
        }
        for (step, action) in self.running_steps() {
            let rule = rules::rule(action);
            if rule.is_bulk() {
                self.run_bulk(&step)?;
            } else if rule.runs == Runs::Report {
                // The score, the report files and the step's end, whichever of them a stop
                // cut off (writing the report again is harmless: it covers more records).
                self.report(&step)?;
            } else if rule.runs == Runs::Command {
                // A command cut off by a stop runs again from its start (runbook commands
                // must be safe to run twice; docs/runbook-format.md says so).
                self.record(Event::Note {
                    text: format!(
                        "the command of step {step} was cut off by a stop: it runs again"
                    ),
                })?;
                self.run_command(&step)?;
            } else if let Runs::KeyByKey(_) = rule.runs {
                // A revoke or delete that was asked for, confirmed and not yet journaled as
                // done.
                let asked: Vec<(String, DangerKind)> = self
                    .state
                    .credentials
                    .iter()
                    // Not one whose request this recovery just made (above): it is on its way.
                    .filter(|c| !self.busy_creds.contains(&c.credential.id))
                    .filter_map(|c| {
                        let id = c.credential.id.clone();
                        if c.requested(DangerKind::Delete) && c.deleted.is_none() {
                            Some((id, DangerKind::Delete))
                        } else if c.requested(DangerKind::Revoke)
                            && c.rotation.reached() < Stage::Revoked
                        {
                            Some((id, DangerKind::Revoke))
                        } else {
                            None
                        }
                    })
                    .collect();
                for (cred, kind) in asked {
                    // Resumed work is nobody's new word.
                    self.start_destroy(&step, &cred, kind, Via::Resume);
                }
                self.maybe_complete(&step)?;
            }
        }
        // Every step finished before the stop, the score not yet recorded.
        self.maybe_end_drill()
    }

    /// Credentials whose revoke or delete was confirmed by its typed word (and override, if
    /// the pre-flight needs one) but not requested from the issuer yet. A word journaled
    /// without the override a failing pre-flight needs (a stop between the two records) is
    /// not a confirmation: that one is asked again.
    fn confirmed_not_requested(&self) -> Vec<(String, DangerKind)> {
        self.state
            .credentials
            .iter()
            .filter_map(|c| {
                let p = c.pending.as_ref()?;
                if p.requested {
                    return None;
                }
                let credential = c.credential.id.clone();
                let (target, done) = match p.kind {
                    DangerKind::Revoke => (
                        Dangerous::Revoke {
                            credential: credential.clone(),
                        },
                        c.rotation.reached() >= Stage::Revoked,
                    ),
                    DangerKind::Delete => (
                        Dangerous::Delete {
                            credential: credential.clone(),
                        },
                        c.deleted.is_some(),
                    ),
                    _ => return None,
                };
                let cleared = p.overridden || target.preflight_failure(&self.state).is_none();
                (!done && cleared).then_some((credential, p.kind))
            })
            .collect()
    }

    /// Failed bulk steps with a key they work on: a retry cleared that key's failure and
    /// the stop came before the step started again.
    fn retried_in_failed_steps(&self) -> Vec<String> {
        self.state
            .steps
            .iter()
            .filter(|s| matches!(s.status, StepStatus::Failed { .. }))
            .filter(|s| {
                self.state.step_def(&s.id).is_some_and(|d| {
                    let rule = rules::rule(d.action);
                    matches!(rule.runs, Runs::EachKey(_))
                        && self.state.credentials.iter().any(|c| rule.works_on_key(c))
                })
            })
            .map(|s| s.id.clone())
            .collect()
    }
}
