//! What the incident keys do on the screen: Enter runs the selected step (opening the
//! revocation window or a y/n question first where the step asks for one), Space ticks, r
//! retries (or asks to make room), x asks why before skipping, p opens the paste window, and
//! r on the score screen finds or writes the report. Each returns the commands for the
//! engine; refusals become the toast.
//!
//! Depends on the same as `app`.

use std::collections::BTreeMap;

use super::App;
use crate::incident::command::{Command, Dangerous};
use crate::incident::event::Mode;
use crate::incident::rotation::RotationState;
use crate::incident::rules::{self, Blocked, Unblock, Work};
use crate::incident::state::StepStatus;
use crate::runbook::schema::{Action as StepAction, Confirm, Step};
use crate::tui::modal::{Ask, Modal, PasteModal, Reason, RevokeModal, SkipTarget};
use crate::tui::strings;

impl App {
    pub(super) fn step_title(&self, id: &str) -> String {
        self.state
            .step_def(id)
            .map(|d| d.title.clone())
            .unwrap_or_else(|| id.to_string())
    }

    /// The titles of the steps `step` still waits for, quoted; empty when it can run.
    fn unmet_titles(&self, step: &str) -> Vec<String> {
        self.state
            .unmet_needs(step)
            .iter()
            .map(|n| strings::quoted(&self.step_title(n)))
            .collect()
    }

    /// Enter: run the selected step (the current one unless the operator moved).
    pub(super) fn run_selected(&mut self) -> Vec<Command> {
        if let Some(why) = &self.stopped {
            self.toast = Some(strings::stopped_cannot_run(why));
            return Vec::new();
        }
        let Some(st) = self.state.steps.get(self.selected_step).cloned() else {
            return Vec::new();
        };
        let Some(def) = self.state.step_def(&st.id).cloned() else {
            return Vec::new();
        };
        if let StepStatus::Skipped { why } = &st.status {
            self.toast = Some(strings::skipped_step(&def.title, why));
            return Vec::new();
        }
        if st.is_finished() {
            let next = self.current_step_index();
            let next_title = next.map(|i| self.step_title(&self.state.steps[i].id));
            self.toast = Some(strings::already_done(&def.title, next_title.as_deref()));
            if let Some(i) = next {
                self.select_step(i);
            }
            return Vec::new();
        }
        let titles = self.unmet_titles(&st.id);
        if !titles.is_empty() {
            self.toast = Some(strings::step_waits(&def.title, &titles));
            return Vec::new();
        }
        if self.read_only && def.action.is_mutating() {
            self.toast = Some(strings::READ_ONLY_STEP.to_string());
            return Vec::new();
        }
        if let Some(b) = self.would_block(&st.id) {
            // Running it would move no key: say why here, without a round trip.
            self.toast = Some(self.blocked_words(&b));
            return Vec::new();
        }
        let run = Command::RunStep {
            step: st.id.clone(),
        };
        match def.action {
            StepAction::Revoke | StepAction::Delete => {
                let delete = def.action == StepAction::Delete;
                let Some(id) = self.next_dangerous(delete) else {
                    // No key left to confirm: the engine completes the step or says why.
                    return vec![run];
                };
                let target = if delete {
                    Dangerous::Delete { credential: id }
                } else {
                    Dangerous::Revoke { credential: id }
                };
                self.modals.push(Modal::Revoke(RevokeModal::new(target)));
                // The engine starts the step once; the keys are then confirmed one by one.
                if st.status == StepStatus::Running {
                    Vec::new()
                } else {
                    vec![run]
                }
            }
            StepAction::Command => {
                self.modals.push(Modal::Ask(self.ask_command(&def, run)));
                Vec::new()
            }
            _ if def.confirm_policy() == Confirm::Ask => {
                let mut lines: Vec<String> = def.instructions.lines().map(str::to_string).collect();
                lines.push(String::new());
                lines.push(strings::ASK_GO.to_string());
                self.modals.push(Modal::Ask(Ask {
                    title: def.title.clone(),
                    lines,
                    yes: run,
                }));
                Vec::new()
            }
            _ => vec![run],
        }
    }

    /// The question before a shell command runs: the command itself, and in a drill that it
    /// is only simulated.
    fn ask_command(&self, def: &Step, run: Command) -> Ask {
        let command = def.command.as_ref().map(|c| c.run.as_str()).unwrap_or("");
        let mut lines = vec![
            strings::ASK_COMMAND_INTRO.to_string(),
            String::new(),
            format!("  $ {command}"),
            String::new(),
        ];
        if self.state.mode == Mode::Drill {
            lines.push(strings::ASK_COMMAND_DRILL.to_string());
        }
        lines.push(strings::ASK_RUN.to_string());
        Ask {
            title: def.title.clone(),
            lines,
            yes: run,
        }
    }

    /// Space: tick the selected item of the selected manual step, then move to the next.
    pub(super) fn tick_item(&mut self) -> Vec<Command> {
        let Some(st) = self.state.steps.get(self.selected_step) else {
            return Vec::new();
        };
        if st.checked.is_empty() {
            self.toast = Some(strings::NO_CHECKLIST.to_string());
            return Vec::new();
        }
        if st.is_finished() {
            self.toast = Some(strings::STEP_ALREADY_DONE.to_string());
            return Vec::new();
        }
        let item = self.selected_item.min(st.checked.len() - 1);
        let cmd = Command::TickItem {
            step: st.id.clone(),
            item,
        };
        // Space Space Space ticks a list.
        if item + 1 < st.checked.len() {
            self.selected_item = item + 1;
        }
        vec![cmd]
    }

    fn is_failed(&self, id: &str) -> bool {
        self.state
            .credential(id)
            .is_some_and(|c| matches!(c.rotation, RotationState::Failed { .. }))
    }

    /// r: retry the selected key if it failed, else the first failed key.
    pub(super) fn retry(&mut self) -> Vec<Command> {
        // A key whose secret holds a pending version breachbook did not put there: r asks to
        // take it over (its typed word), never retries over it.
        let in_the_way = |id: &String| {
            self.state
                .credential(id)
                .is_some_and(|c| c.pending_found.as_ref().is_some_and(|p| !p.confirmed))
        };
        let take = self.selected_cred.clone().filter(in_the_way).or_else(|| {
            self.rotation_rows()
                .iter()
                .map(|c| c.credential.id.clone())
                .find(in_the_way)
        });
        if let Some(credential) = take {
            if self.read_only {
                self.toast = Some(strings::READ_ONLY_STEP.to_string());
                return Vec::new();
            }
            self.modals
                .push(Modal::Revoke(RevokeModal::new(Dangerous::TakeOver {
                    credential,
                })));
            return Vec::new();
        }
        // A key waiting for room at its issuer: r asks to delete the inactive key, then mints.
        let needs_room = |id: &String| {
            self.state
                .credential(id)
                .is_some_and(|c| c.room_needed.is_some())
        };
        let room = self.selected_cred.clone().filter(needs_room).or_else(|| {
            if self
                .selected_cred
                .as_ref()
                .is_some_and(|id| self.is_failed(id))
            {
                return None;
            }
            self.rotation_rows()
                .iter()
                .map(|c| c.credential.id.clone())
                .find(needs_room)
        });
        if let Some(credential) = room {
            if self.read_only {
                self.toast = Some(strings::READ_ONLY_STEP.to_string());
                return Vec::new();
            }
            self.modals
                .push(Modal::Revoke(RevokeModal::new(Dangerous::MakeRoom {
                    credential,
                })));
            return Vec::new();
        }
        let selected = self.selected_cred.clone().filter(|id| self.is_failed(id));
        let target = selected.or_else(|| {
            self.rotation_rows()
                .iter()
                .map(|c| c.credential.id.clone())
                .find(|id| self.is_failed(id))
        });
        match target {
            Some(credential) => vec![Command::Retry { credential }],
            None => {
                // Nothing failed; a step that waits on something else says what.
                self.toast = Some(match self.blocked_step() {
                    Some(b) => self.blocked_words(&b),
                    None => strings::NO_FAILED_KEY.to_string(),
                });
                Vec::new()
            }
        }
    }

    /// o: reopen the selected step if it was skipped, else the step a blocked step waits
    /// for.
    pub(super) fn reopen(&mut self) -> Vec<Command> {
        let Some(st) = self.state.steps.get(self.selected_step).cloned() else {
            return Vec::new();
        };
        let step = if matches!(st.status, StepStatus::Skipped { .. }) {
            Some(st.id.clone())
        } else {
            self.blocked_step().and_then(|b| {
                b.unblock.into_iter().find_map(|u| match u {
                    Unblock::Reopen(s) => Some(s),
                    _ => None,
                })
            })
        };
        let Some(step) = step else {
            self.toast = Some(strings::not_skipped(&self.step_title(&st.id)));
            return Vec::new();
        };
        self.toast = Some(strings::reopening(&self.step_title(&step)));
        if let Some(i) = self.state.steps.iter().position(|s| s.id == step) {
            self.select_step(i);
        }
        vec![Command::ReopenStep { step }]
    }

    /// Why running `step` now would move no key, if it would not.
    pub fn would_block(&self, step: &str) -> Option<Blocked> {
        let st = self.state.step(step)?;
        if st.status == StepStatus::Running {
            return rules::blocked(&self.state, step, &self.busy.credentials);
        }
        let in_flight = BTreeMap::new();
        let work = Work {
            read_only: self.read_only,
            now: self.state.clock,
            in_flight: &in_flight,
            busy: &self.busy.credentials,
        };
        let def = self.state.step_def(step)?;
        if !rules::rule(def.action).is_bulk() || !self.state.unmet_needs(step).is_empty() {
            return None;
        }
        rules::blocked_before_start(&self.state, &work, step)
    }

    /// The blocked step the operator is looking at (the selected one), else any running one
    /// that is blocked.
    pub fn blocked_step(&self) -> Option<Blocked> {
        let selected = self
            .state
            .steps
            .get(self.selected_step)
            .and_then(|s| self.would_block(&s.id));
        selected.or_else(|| {
            self.state
                .steps
                .iter()
                .filter(|s| s.status == StepStatus::Running)
                .find_map(|s| rules::blocked(&self.state, &s.id, &self.busy.credentials))
        })
    }

    /// A blocked step's reason, with the keys that move it on.
    pub fn blocked_words(&self, b: &Blocked) -> String {
        let keys: Vec<String> = b
            .unblock
            .iter()
            .map(|u| match u {
                Unblock::Reopen(s) => strings::key_reopen(&self.step_title(s)),
                Unblock::Run(s) => strings::key_run(&self.step_title(s)),
                Unblock::Retry => strings::KEY_RETRY.to_string(),
                Unblock::SkipKeys => strings::KEY_SKIP_KEYS.to_string(),
                Unblock::Paste => strings::KEY_PASTE.to_string(),
                Unblock::MakeRoom => strings::KEY_MAKE_ROOM.to_string(),
            })
            .collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        strings::blocked_with_keys(&b.why, &refs)
    }

    /// x: ask why, then skip the selected key (in a credential panel) or the selected step.
    pub(super) fn ask_skip(&mut self) {
        if self.focus.lists_credentials() {
            let list = self.credential_list(self.focus);
            let Some(c) = self.selected_index(&list).and_then(|i| list.get(i)) else {
                self.toast = Some(strings::NOTHING_TO_SKIP.to_string());
                return;
            };
            let name = c.credential.name.clone();
            if !c.credential.exposed {
                self.toast = Some(strings::not_exposed(&name));
                return;
            }
            let id = c.credential.id.clone();
            self.modals.push(Modal::Reason(Reason {
                target: SkipTarget::Credential(id),
                question: strings::skip_key_question(&name),
                critical: true,
                input: String::new(),
                error: None,
            }));
            return;
        }
        let Some(s) = self.state.steps.get(self.selected_step) else {
            return;
        };
        if s.is_finished() {
            self.toast = Some(strings::STEP_ALREADY_DONE.to_string());
            return;
        }
        let def = self.state.step_def(&s.id);
        let critical = def.is_some_and(|d| d.is_critical);
        let title = self.step_title(&s.id);
        self.modals.push(Modal::Reason(Reason {
            target: SkipTarget::Step(s.id.clone()),
            question: strings::skip_step_question(&title),
            critical,
            input: String::new(),
            error: None,
        }));
    }

    /// p: the hidden input for the selected key if it waits for a key made by hand, else
    /// for the first one that does.
    pub(super) fn open_paste(&mut self) {
        let waiting = |id: &str| {
            self.state
                .credential(id)
                .is_some_and(|c| c.manual_needed.is_some())
        };
        let id = self
            .selected_cred
            .clone()
            .filter(|id| waiting(id))
            .or_else(|| {
                self.state
                    .credentials
                    .iter()
                    .find(|c| c.manual_needed.is_some())
                    .map(|c| c.credential.id.clone())
            });
        let Some(c) = id.and_then(|id| self.state.credential(&id)) else {
            self.toast = Some(strings::PASTE_NONE.to_string());
            return;
        };
        let modal = PasteModal {
            credential: c.credential.id.clone(),
            name: c.credential.name.clone(),
            instructions: c.manual_needed.clone().unwrap_or_default(),
            input: zeroize::Zeroizing::new(String::new()),
            error: None,
            pending: false,
        };
        self.modals.push(Modal::Paste(modal));
    }

    /// r on the score screen: the report's path, or write the report if it is not there yet.
    pub(super) fn report_path(&mut self) -> Vec<Command> {
        if let Some(p) = &self.state.report_path {
            self.toast = Some(strings::report_at(p));
            return Vec::new();
        }
        let Some(step) = self
            .state
            .steps_with(StepAction::Report)
            .first()
            .map(|s| s.to_string())
        else {
            self.toast = Some(strings::no_report_step(
                &self.journal_dir.display().to_string(),
            ));
            return Vec::new();
        };
        let titles = self.unmet_titles(&step);
        if !titles.is_empty() {
            self.toast = Some(strings::step_waits(&self.step_title(&step), &titles));
            return Vec::new();
        }
        self.toast = Some(strings::WRITING_REPORT.to_string());
        vec![Command::RunStep { step }]
    }
}
