//! How the screen follows the engine: each update is applied to the state, then offered to
//! the top window (a confirmation refused or done, a pasted key stored); what no window takes
//! becomes the toast. The score comes up when the drill is over, and the checklist selection
//! follows the step to do.
//!
//! Depends on the same as `app`.

use std::time::Instant;

use super::{App, Busy};
use crate::incident::command::Update;
use crate::incident::event::Event;
use crate::incident::state::StepStatus;
use crate::runbook::schema::Action as StepAction;
use crate::tui::modal::Modal;
use crate::tui::strings;

impl App {
    pub(super) fn on_engine(&mut self, u: Update) {
        let no_window = self.modals.is_empty();
        match &u {
            Update::Event {
                wall,
                operator,
                event,
                ..
            } => {
                let before = self.current_step_index();
                self.state.apply(event, *wall, &operator.user);
                if self.state.clock > self.clock_seen.0 {
                    self.clock_seen = (self.state.clock, Instant::now());
                }
                self.offer(|top, ctx| top.on_engine(&u, ctx));
                if no_window {
                    self.say_event(event);
                }
                self.after_event(before);
            }
            Update::Refused { message } => {
                if self.offer(|top, ctx| top.on_engine(&u, ctx)).is_none() {
                    self.toast = Some(message.clone());
                }
            }
            Update::Busy {
                step,
                in_flight,
                credentials,
            } => {
                self.busy = Busy {
                    step: step.clone(),
                    in_flight: *in_flight,
                    credentials: credentials.iter().cloned().collect(),
                };
            }
            Update::Stopped { why } => {
                self.offer(|top, ctx| top.on_engine(&u, ctx));
                let why = why
                    .clone()
                    .unwrap_or_else(|| strings::ENGINE_STOPPED.to_string());
                self.stopped = Some(why);
                self.busy = Busy::default();
                if self.state.score.is_some() && !self.score_shown {
                    self.score_shown = true;
                    self.modals.push(Modal::Score(0));
                }
            }
        }
    }

    /// With no window open, some events are worth a word in the footer.
    fn say_event(&mut self, event: &Event) {
        let name = |credential: &String| {
            self.state
                .credential(credential)
                .map(|c| c.credential.name.clone())
                .unwrap_or_else(|| credential.clone())
        };
        let toast = match event {
            Event::ManualKeyNeeded { .. } => {
                let n = self
                    .state
                    .credentials
                    .iter()
                    .filter(|c| c.manual_needed.is_some())
                    .count();
                strings::paste_waiting(n)
            }
            Event::ReportWritten { path } => strings::report_written(path),
            Event::OperatorNote { .. } => strings::note_saved(),
            Event::StepBlocked { step, .. } => {
                let Some(b) =
                    crate::incident::rules::blocked(&self.state, step, &self.busy.credentials)
                else {
                    return;
                };
                self.blocked_words(&b)
            }
            Event::RoomNeeded { credential, .. } => strings::room_needed_toast(&name(credential)),
            Event::PendingFound { credential, .. } => {
                strings::pending_found_toast(&name(credential))
            }
            Event::ManualRevokeNeeded { credential, .. } => {
                strings::manual_revoke_toast(&name(credential))
            }
            _ => return,
        };
        self.toast = Some(toast);
    }

    /// After any event: the score once the drill is over, and the selection follows the
    /// checklist.
    fn after_event(&mut self, before: Option<usize>) {
        // The drill is over: the score comes up, once the report being written (the report
        // step ends a drill) is there, so the score screen can say where it is.
        let report_due = self.report_running() && self.state.report_path.is_none();
        if self.state.score.is_some() && !self.score_shown && !report_due {
            self.score_shown = true;
            self.modals.retain(|m| !matches!(m, Modal::Revoke(_)));
            self.modals.push(Modal::Score(0));
        }
        // Follow the checklist: when the step to do moves on, so does the selection, unless
        // the operator is looking at another step.
        let after = self.current_step_index();
        if after != before
            && let Some(a) = after
            && before.is_none_or(|b| self.selected_step == b)
        {
            self.select_step(a);
        }
    }

    /// Whether a report step is running (the report is being written).
    fn report_running(&self) -> bool {
        self.state.steps.iter().any(|s| {
            s.status == StepStatus::Running
                && self
                    .state
                    .step_def(&s.id)
                    .is_some_and(|d| d.action == StepAction::Report)
        })
    }
}
