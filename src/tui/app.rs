//! Screen state and the one place it changes: `App::update(Action)`. Keys become actions
//! through the top overlay or the keymap; engine updates arrive as `Action::Engine`. Commands
//! for the engine are returned, never run here: all work happens in the engine, so the screen
//! never waits.
//!
//! Depends on `incident` (state, commands, updates), `action`, `keymap`, `modal`, `panels`
//! (the panel names), `strings` and `theme`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;
use super::keymap;
use super::modal::{Ask, Field, KeyOutcome, Modal, PasteModal, Reason, RevokeModal, SkipTarget};
use super::panel::Panel;
use super::strings;
use super::theme::Theme;
use crate::incident::command::{Command, Dangerous, Update, override_phrase};
use crate::incident::event::{DangerKind, Event, Mode, Via};
use crate::incident::rotation::{RotationState, Stage};
use crate::incident::state::{CredentialState, IncidentState, StepStatus};
use crate::runbook::schema::{Action as StepAction, Confirm};

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
/// Longest typed input kept (a confirmation word is 4 characters; this is only a guard).
const MAX_INPUT: usize = 120;
/// Longest key the paste input takes (provider keys are well under this).
const MAX_PASTE: usize = 512;

/// Inventory sort column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Found,
    Issuer,
    Name,
    Exposed,
    LastUsed,
}

impl SortBy {
    pub fn next(self) -> SortBy {
        match self {
            SortBy::Found => SortBy::Issuer,
            SortBy::Issuer => SortBy::Name,
            SortBy::Name => SortBy::Exposed,
            SortBy::Exposed => SortBy::LastUsed,
            SortBy::LastUsed => SortBy::Found,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortBy::Found => strings::SORT_FOUND,
            SortBy::Issuer => strings::SORT_ISSUER,
            SortBy::Name => strings::SORT_NAME,
            SortBy::Exposed => strings::SORT_EXPOSED,
            SortBy::LastUsed => strings::SORT_LAST_USED,
        }
    }
}

/// Work in flight, as the engine last reported it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Busy {
    pub step: Option<String>,
    pub in_flight: usize,
    pub credentials: HashSet<String>,
}

/// Everything the screen shows.
pub struct App {
    /// The incident as folded from the journal, kept current with every engine event.
    pub state: IncidentState,
    pub onboarding: bool,
    pub read_only: bool,
    pub journal_dir: PathBuf,
    pub theme: Theme,
    pub focus: Panel,
    /// Index into `state.steps` of the step the Step panel shows.
    pub selected_step: usize,
    /// Checklist item of the selected step that Space ticks.
    pub selected_item: usize,
    /// The credential selected in Inventory, Rotation and Usage (the same one in all three).
    pub selected_cred: Option<String>,
    pub sort: SortBy,
    pub filter: String,
    /// Overlays; the last is on top.
    pub modals: Vec<Modal>,
    /// The latest message (a refusal, a hint); it stays until the next key.
    pub toast: Option<String>,
    pub busy: Busy,
    /// Why the engine stopped, once it has.
    pub stopped: Option<String>,
    pub spinner: usize,
    /// Panels already explained (onboarding).
    pub explained: HashSet<Panel>,
    pub quit: bool,
    /// The score screen came up once (Esc leaves it; it does not come back by itself).
    pub score_shown: bool,
    /// Timeline entries scrolled back from the newest.
    pub timeline_scroll: usize,
    /// The incident clock at the last event and when that was, so the header clock runs
    /// between events.
    pub clock_seen: (DateTime<Utc>, Instant),
    /// Run the header clock between events (the live screen; off for snapshots).
    pub live_clock: bool,
}

impl App {
    pub fn new(state: IncidentState, onboarding: bool, read_only: bool) -> App {
        let selected_step = state
            .steps
            .iter()
            .position(|s| !s.is_finished())
            .unwrap_or(0);
        let clock = state.clock;
        let mut app = App {
            read_only: read_only || state.read_only,
            state,
            onboarding,
            journal_dir: PathBuf::new(),
            theme: Theme::from_env(),
            focus: Panel::Checklist,
            selected_step,
            selected_item: 0,
            selected_cred: None,
            sort: SortBy::Found,
            filter: String::new(),
            modals: Vec::new(),
            toast: None,
            busy: Busy::default(),
            stopped: None,
            spinner: 0,
            explained: HashSet::new(),
            quit: false,
            score_shown: false,
            timeline_scroll: 0,
            clock_seen: (clock, Instant::now()),
            live_clock: false,
        };
        app.selected_item = app.first_unticked(selected_step);
        app.explain(Panel::Checklist);
        if app.state.score.is_some() {
            app.score_shown = true;
            app.modals.push(Modal::Score);
        }
        app
    }

    // ── Input ────────────────────────────────────────────────────────────────────────────

    /// A key was pressed: the toast goes, the key becomes an action, the action is applied.
    /// Returns the commands for the engine.
    pub fn handle_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        if key.modifiers.contains(KeyModifiers::ALT)
            && !key.modifiers.contains(KeyModifiers::CONTROL)
            && key.code != KeyCode::Esc
        {
            // No binding uses Alt. A terminal that delivers Esc and the next key in one read
            // (fast typing, ssh, tmux) arrives as Alt+key: play back the two keys pressed.
            let mut out = self.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
            let mut rest = key;
            rest.modifiers.remove(KeyModifiers::ALT);
            out.extend(self.handle_key(rest));
            return out;
        }
        self.toast = None;
        match self.action_for_key(&key) {
            Some(a) => self.update(a),
            None => {
                if self.read_only
                    && self.modals.is_empty()
                    && keymap::is_disabled_in_read_only(&key)
                {
                    self.toast = Some(strings::READ_ONLY_KEY.to_string());
                }
                Vec::new()
            }
        }
    }

    /// The action a key asks for: the top overlay decides first, then the keymap.
    pub fn action_for_key(&self, key: &KeyEvent) -> Option<Action> {
        if let Some(top) = self.modals.last() {
            match top.on_key(key) {
                KeyOutcome::Consumed(a) => return a,
                KeyOutcome::Ignored => {}
            }
        }
        keymap::action_for(key, self.read_only)
    }

    /// An engine update arrived (shorthand for `update(Action::Engine(u))`).
    pub fn on_update(&mut self, u: Update) -> Vec<Command> {
        self.update(Action::Engine(Box::new(u)))
    }

    /// The only place state changes. Returns the commands for the engine.
    pub fn update(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::Engine(u) => {
                self.on_engine(*u);
                Vec::new()
            }
            Action::Tick => {
                self.spinner = self.spinner.wrapping_add(1);
                Vec::new()
            }
            Action::Up => {
                self.move_by(-1);
                Vec::new()
            }
            Action::Down => {
                self.move_by(1);
                Vec::new()
            }
            Action::NextPanel => {
                self.focus_on(self.focus.next());
                Vec::new()
            }
            Action::PrevPanel => {
                self.focus_on(self.focus.prev());
                Vec::new()
            }
            Action::Run => self.run_selected(),
            Action::TickItem => self.tick_item(),
            Action::Retry => self.retry(),
            Action::Skip => {
                self.ask_skip();
                Vec::new()
            }
            Action::Paste => {
                self.open_paste();
                Vec::new()
            }
            Action::PasteText(text) => {
                match self.modals.last_mut() {
                    Some(Modal::Paste(m)) => {
                        // A paste brings its line break along: keep the key only.
                        for c in text.0.chars().filter(|c| !c.is_control()) {
                            if m.input.chars().count() < MAX_PASTE {
                                m.input.push(c);
                            }
                        }
                    }
                    _ => {
                        for c in text.0.chars().filter(|c| !c.is_control()) {
                            self.type_char(c);
                        }
                    }
                }
                Vec::new()
            }
            Action::Filter => {
                self.filter.clear();
                self.modals.push(Modal::Filter);
                self.focus_on(Panel::Inventory);
                Vec::new()
            }
            Action::Sort => {
                self.sort = self.sort.next();
                Vec::new()
            }
            Action::Help => {
                self.modals.push(Modal::Help);
                Vec::new()
            }
            Action::Back => {
                if !self.filter.is_empty() {
                    self.filter.clear();
                } else if self.timeline_scroll > 0 {
                    self.timeline_scroll = 0;
                } else {
                    self.focus = Panel::Checklist;
                    if let Some(i) = self.current_step_index() {
                        self.select_step(i);
                    }
                }
                Vec::new()
            }
            Action::Quit => {
                if self.busy.in_flight > 0 && self.stopped.is_none() {
                    self.modals.push(Modal::Quit);
                } else {
                    self.quit = true;
                }
                Vec::new()
            }
            Action::Type(c) => {
                self.type_char(c);
                Vec::new()
            }
            Action::Erase => {
                self.erase();
                Vec::new()
            }
            Action::Submit => self.submit(),
            Action::SwitchField => {
                let needs = self
                    .top_revoke()
                    .is_some_and(|m| self.needs_override(&m.target));
                if let Some(Modal::Revoke(m)) = self.modals.last_mut()
                    && needs
                {
                    m.field = match m.field {
                        Field::Word => Field::Override,
                        Field::Override => Field::Word,
                    };
                }
                Vec::new()
            }
            Action::Answer(yes) => self.answer(yes),
            Action::Close => {
                if let Some(Modal::Filter) = self.modals.pop() {
                    self.filter.clear();
                }
                Vec::new()
            }
            Action::ReportPath => self.report_path(),
        }
    }

    // ── Engine updates ───────────────────────────────────────────────────────────────────

    fn on_engine(&mut self, u: Update) {
        match u {
            Update::Event {
                wall,
                operator,
                event,
                ..
            } => {
                let before = self.current_step_index();
                self.state.apply(&event, wall, &operator.user);
                if self.state.clock > self.clock_seen.0 {
                    self.clock_seen = (self.state.clock, Instant::now());
                }
                self.after_event(&event, before);
            }
            Update::Refused { message } => match self.modals.last_mut() {
                Some(Modal::Paste(m)) => {
                    m.error = Some(message);
                    m.pending = false;
                }
                // A refused confirmation: say why in the window, clear what was typed.
                Some(Modal::Revoke(m)) => {
                    m.error = Some(message);
                    m.pending = false;
                    m.word.clear();
                    m.override_text.clear();
                    m.field = Field::Word;
                }
                _ => self.toast = Some(message),
            },
            Update::Busy {
                step,
                in_flight,
                credentials,
            } => {
                self.busy = Busy {
                    step,
                    in_flight,
                    credentials: credentials.into_iter().collect(),
                };
            }
            Update::Stopped { why } => {
                let why = why.unwrap_or_else(|| strings::ENGINE_STOPPED.to_string());
                if let Some(Modal::Revoke(m)) = self.modals.last_mut() {
                    m.pending = false;
                    m.error = Some(strings::engine_stopped(&why));
                }
                self.stopped = Some(why);
                self.busy = Busy::default();
                if self.state.score.is_some() && !self.score_shown {
                    self.score_shown = true;
                    self.modals.push(Modal::Score);
                }
            }
        }
    }

    fn after_event(&mut self, event: &Event, before: Option<usize>) {
        match event {
            Event::Revoked { credential, .. } | Event::Deleted { credential, .. } => {
                let delete = matches!(event, Event::Deleted { .. });
                if let Some(m) = self.top_revoke()
                    && m.target.credential() == credential
                    && matches!(m.target, Dangerous::Delete { .. }) == delete
                {
                    let verb = m.target.verb();
                    self.modals.pop();
                    let name = self
                        .state
                        .credential(credential)
                        .map(|c| c.credential.name.clone())
                        .unwrap_or_else(|| credential.clone());
                    let more = self.next_dangerous(delete).is_some();
                    self.toast = Some(strings::revoked_next(verb, &name, more));
                }
            }
            Event::Issued { credential, .. } => {
                if let Some(Modal::Paste(m)) = self.modals.last()
                    && &m.credential == credential
                {
                    let name = m.name.clone();
                    self.modals.pop();
                    self.toast = Some(strings::paste_stored(&name));
                }
            }
            Event::AttemptFailed {
                credential: Some(credential),
                operation,
                why,
                ..
            } if operation == "pasted key" => {
                if let Some(Modal::Paste(m)) = self.modals.last_mut()
                    && &m.credential == credential
                {
                    m.error = Some(why.clone());
                    m.pending = false;
                }
            }
            Event::ManualKeyNeeded { .. } => {
                let n = self
                    .state
                    .credentials
                    .iter()
                    .filter(|c| c.manual_needed.is_some())
                    .count();
                if self.modals.is_empty() {
                    self.toast = Some(strings::paste_waiting(n));
                }
            }
            Event::ReportWritten { path } if self.modals.is_empty() => {
                self.toast = Some(strings::report_written(path));
            }
            Event::RoomMade { credential, .. } => {
                if let Some(m) = self.top_revoke()
                    && m.target.credential() == credential
                    && matches!(m.target, Dangerous::MakeRoom { .. })
                {
                    self.modals.pop();
                    let name = self
                        .state
                        .credential(credential)
                        .map(|c| c.credential.name.clone())
                        .unwrap_or_else(|| credential.clone());
                    self.toast = Some(strings::room_made(&name));
                }
            }
            Event::RoomNeeded { credential, .. } if self.modals.is_empty() => {
                let name = self
                    .state
                    .credential(credential)
                    .map(|c| c.credential.name.clone())
                    .unwrap_or_else(|| credential.clone());
                self.toast = Some(strings::room_needed_toast(&name));
            }
            Event::ManualRevokeNeeded {
                credential, tested, ..
            } => {
                // The window stays: its evidence now says what to do by hand; the word is
                // typed again once that is done.
                if let Some(Modal::Revoke(m)) = self.modals.last_mut()
                    && m.target.credential() == credential
                {
                    m.error = Some(strings::manual_revoke_error(*tested));
                    m.pending = false;
                    m.word.clear();
                    m.override_text.clear();
                    m.field = Field::Word;
                } else if self.modals.is_empty() {
                    let name = self
                        .state
                        .credential(credential)
                        .map(|c| c.credential.name.clone())
                        .unwrap_or_else(|| credential.clone());
                    self.toast = Some(strings::manual_revoke_toast(&name));
                }
            }
            Event::RotationFailed { credential, why } => {
                if let Some(Modal::Revoke(m)) = self.modals.last_mut()
                    && m.target.credential() == credential
                {
                    m.error = Some(why.clone());
                    m.pending = false;
                }
            }
            _ => {}
        }
        // The drill is over: the score comes up, once the report being written (the report
        // step ends a drill) is there, so the score screen can say where it is.
        let report_due = self.report_running() && self.state.report_path.is_none();
        if self.state.score.is_some() && !self.score_shown && !report_due {
            self.score_shown = true;
            self.modals.retain(|m| !matches!(m, Modal::Revoke(_)));
            self.modals.push(Modal::Score);
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

    // ── Moving ───────────────────────────────────────────────────────────────────────────

    fn focus_on(&mut self, p: Panel) {
        self.focus = p;
        self.explain(p);
    }

    /// Onboarding: explain a panel the first time it gets focus.
    fn explain(&mut self, p: Panel) {
        if self.onboarding && self.explained.insert(p) {
            self.modals.push(Modal::Explain(p));
        }
    }

    fn select_step(&mut self, i: usize) {
        self.selected_step = i;
        self.selected_item = self.first_unticked(i);
    }

    fn first_unticked(&self, step: usize) -> usize {
        self.state
            .steps
            .get(step)
            .and_then(|s| s.checked.iter().position(|c| !c))
            .unwrap_or(0)
    }

    fn move_by(&mut self, d: isize) {
        let clamp = |v: usize, len: usize| -> usize {
            if len == 0 {
                0
            } else {
                v.saturating_add_signed(d).min(len - 1)
            }
        };
        match self.focus {
            Panel::Checklist => {
                let i = clamp(self.selected_step, self.state.steps.len());
                self.select_step(i);
            }
            Panel::Step => {
                let n = self
                    .state
                    .steps
                    .get(self.selected_step)
                    .map(|s| s.checked.len())
                    .unwrap_or(0);
                self.selected_item = clamp(self.selected_item, n);
            }
            Panel::Inventory | Panel::Rotation | Panel::Usage => {
                let (at, ids) = {
                    let list = self.credential_list(self.focus);
                    let ids: Vec<String> = list.iter().map(|c| c.credential.id.clone()).collect();
                    (self.selected_index(&list).unwrap_or(0), ids)
                };
                self.selected_cred = ids.get(clamp(at, ids.len())).cloned();
            }
            Panel::Timeline => {
                let n = self.state.timeline.len();
                self.timeline_scroll = if d < 0 {
                    (self.timeline_scroll + 1).min(n.saturating_sub(1))
                } else {
                    self.timeline_scroll.saturating_sub(1)
                };
            }
        }
    }

    // ── Acting ───────────────────────────────────────────────────────────────────────────

    fn step_title(&self, id: &str) -> String {
        self.state
            .step_def(id)
            .map(|d| d.title.clone())
            .unwrap_or_else(|| id.to_string())
    }

    /// Enter: run the selected step (the current one unless the operator moved).
    fn run_selected(&mut self) -> Vec<Command> {
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
        if st.is_finished() {
            let next = self.current_step_index();
            let next_title = next.map(|i| self.step_title(&self.state.steps[i].id));
            self.toast = Some(strings::already_done(&def.title, next_title.as_deref()));
            if let Some(i) = next {
                self.select_step(i);
            }
            return Vec::new();
        }
        let unmet = self.state.unmet_needs(&st.id);
        if !unmet.is_empty() {
            let titles: Vec<String> = unmet
                .iter()
                .map(|n| strings::quoted(&self.step_title(n)))
                .collect();
            self.toast = Some(strings::step_waits(&def.title, &titles));
            return Vec::new();
        }
        if self.read_only && def.action.is_mutating() {
            self.toast = Some(strings::READ_ONLY_STEP.to_string());
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
                self.modals.push(Modal::Ask(Ask {
                    title: def.title.clone(),
                    lines,
                    yes: run,
                }));
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

    /// Space: tick the selected item of the selected manual step, then move to the next.
    fn tick_item(&mut self) -> Vec<Command> {
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
    fn retry(&mut self) -> Vec<Command> {
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
                self.toast = Some(strings::NO_FAILED_KEY.to_string());
                Vec::new()
            }
        }
    }

    /// x: ask why, then skip the selected key (in a credential panel) or the selected step.
    fn ask_skip(&mut self) {
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
    fn open_paste(&mut self) {
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

    fn submit_paste(&mut self) -> Vec<Command> {
        let stopped = self.stopped.clone();
        let Some(Modal::Paste(m)) = self.modals.last_mut() else {
            return Vec::new();
        };
        if m.pending {
            return Vec::new();
        }
        if let Some(why) = stopped {
            m.error = Some(strings::engine_stopped(&why));
            return Vec::new();
        }
        if m.input.trim().is_empty() {
            m.error = Some(strings::PASTE_EMPTY.to_string());
            return Vec::new();
        }
        m.pending = true;
        m.error = None;
        let key = crate::incident::command::PastedKey::new(&m.input);
        // The modal's copy goes at once; the engine holds the only one now.
        m.input = zeroize::Zeroizing::new(String::new());
        vec![Command::PasteKey {
            credential: m.credential.clone(),
            key,
        }]
    }

    fn type_char(&mut self, c: char) {
        match self.modals.last_mut() {
            Some(Modal::Paste(m)) if m.input.chars().count() < MAX_PASTE => {
                m.input.push(c);
            }
            Some(Modal::Revoke(m)) => {
                let field = match m.field {
                    Field::Word => &mut m.word,
                    Field::Override => &mut m.override_text,
                };
                if field.chars().count() < MAX_INPUT {
                    field.push(c);
                }
            }
            Some(Modal::Reason(r)) if r.input.chars().count() < MAX_INPUT * 2 => {
                r.input.push(c);
            }
            Some(Modal::Filter) if self.filter.chars().count() < MAX_INPUT => {
                self.filter.push(c);
                self.selected_cred = None;
            }
            _ => {}
        }
    }

    fn erase(&mut self) {
        match self.modals.last_mut() {
            Some(Modal::Paste(m)) => {
                m.input.pop();
            }
            Some(Modal::Revoke(m)) => {
                match m.field {
                    Field::Word => m.word.pop(),
                    Field::Override => m.override_text.pop(),
                };
            }
            Some(Modal::Reason(r)) => {
                r.input.pop();
            }
            Some(Modal::Filter) => {
                self.filter.pop();
                self.selected_cred = None;
            }
            _ => {}
        }
    }

    fn submit(&mut self) -> Vec<Command> {
        match self.modals.last() {
            Some(Modal::Revoke(_)) => self.submit_confirmation(),
            Some(Modal::Paste(_)) => self.submit_paste(),
            Some(Modal::Reason(_)) => self.submit_reason(),
            Some(Modal::Filter) => {
                self.modals.pop();
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Enter in the revocation window: refuse an empty word here; send the rest to the engine,
    /// which checks the word (and pre-flight) again and journals the outcome.
    fn submit_confirmation(&mut self) -> Vec<Command> {
        let Some(m) = self.top_revoke().cloned() else {
            return Vec::new();
        };
        if m.pending {
            return Vec::new();
        }
        let needs_override = self.needs_override(&m.target);
        let stopped = self.stopped.clone();
        let Some(Modal::Revoke(top)) = self.modals.last_mut() else {
            return Vec::new();
        };
        if let Some(why) = stopped {
            top.error = Some(strings::engine_stopped(&why));
            return Vec::new();
        }
        if m.word.trim().is_empty() {
            top.error = Some(strings::TYPE_WORD_FIRST.to_string());
            top.field = Field::Word;
            return Vec::new();
        }
        if needs_override && m.override_text.trim().is_empty() {
            // A sure refusal would only journal noise: ask for the override phrase first.
            top.field = Field::Override;
            top.error = Some(strings::TYPE_OVERRIDE.to_string());
            return Vec::new();
        }
        top.pending = true;
        top.error = None;
        vec![Command::Confirm {
            target: m.target,
            word: m.word,
            override_phrase: needs_override.then_some(m.override_text),
            via: Via::Tui,
        }]
    }

    fn submit_reason(&mut self) -> Vec<Command> {
        let Some(Modal::Reason(r)) = self.modals.last_mut() else {
            return Vec::new();
        };
        let why = r.input.trim().to_string();
        if why.is_empty() {
            r.error = Some(strings::SKIP_NEEDS_REASON.to_string());
            return Vec::new();
        }
        let cmd = match &r.target {
            SkipTarget::Step(step) => Command::SkipStep {
                step: step.clone(),
                why,
            },
            SkipTarget::Credential(credential) => Command::SkipCredential {
                credential: credential.clone(),
                why,
            },
        };
        self.modals.pop();
        vec![cmd]
    }

    fn answer(&mut self, yes: bool) -> Vec<Command> {
        match self.modals.pop() {
            Some(Modal::Quit) => {
                self.quit = yes;
                Vec::new()
            }
            Some(Modal::Ask(a)) if yes => vec![a.yes],
            Some(Modal::Ask(_)) => Vec::new(),
            Some(other) => {
                // Not a question: put it back.
                self.modals.push(other);
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// r on the score screen: the report's path, or write the report if it is not there yet.
    fn report_path(&mut self) -> Vec<Command> {
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
        let unmet = self.state.unmet_needs(&step);
        if !unmet.is_empty() {
            let titles: Vec<String> = unmet
                .iter()
                .map(|n| strings::quoted(&self.step_title(n)))
                .collect();
            self.toast = Some(strings::step_waits(&self.step_title(&step), &titles));
            return Vec::new();
        }
        self.toast = Some(strings::WRITING_REPORT.to_string());
        vec![Command::RunStep { step }]
    }

    // ── Queries for drawing and tests ────────────────────────────────────────────────────

    /// The incident clock now: the last event's time plus the real time since, at the
    /// drill's speed; it stops when the drill is over or the engine stopped.
    pub fn now(&self) -> DateTime<Utc> {
        if !self.live_clock || self.state.score.is_some() || self.stopped.is_some() {
            return self.state.clock;
        }
        let speed = self.state.speed.unwrap_or(1.0);
        let real = self.clock_seen.1.elapsed().as_secs_f64().min(120.0);
        self.clock_seen.0 + chrono::Duration::milliseconds((real * speed * 1000.0) as i64)
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

    /// The first unfinished step.
    pub fn current_step_index(&self) -> Option<usize> {
        self.state.steps.iter().position(|s| !s.is_finished())
    }

    pub fn spinner_frame(&self) -> &'static str {
        SPINNER[self.spinner % SPINNER.len()]
    }

    /// Whether the `/` prompt is open.
    pub fn filtering(&self) -> bool {
        matches!(self.modals.last(), Some(Modal::Filter))
    }

    /// The revocation window, if it is on top.
    pub fn top_revoke(&self) -> Option<&RevokeModal> {
        match self.modals.last() {
            Some(Modal::Revoke(m)) => Some(m),
            _ => None,
        }
    }

    /// Credentials as the Inventory lists them: filtered, sorted.
    pub fn visible_credentials(&self) -> Vec<&CredentialState> {
        let f = self.filter.to_lowercase();
        let mut v: Vec<&CredentialState> = self
            .state
            .credentials
            .iter()
            .filter(|c| {
                let cr = &c.credential;
                f.is_empty()
                    || cr.name.to_lowercase().contains(&f)
                    || cr.issuer.label().to_lowercase().contains(&f)
                    || cr.hint.to_lowercase().contains(&f)
                    || cr
                        .locations
                        .iter()
                        .any(|l| l.label().to_lowercase().contains(&f))
            })
            .collect();
        match self.sort {
            SortBy::Found => {}
            SortBy::Issuer => v.sort_by_key(|c| c.credential.issuer),
            SortBy::Name => v.sort_by(|a, b| a.credential.name.cmp(&b.credential.name)),
            SortBy::Exposed => v.sort_by_key(|c| !c.credential.exposed),
            SortBy::LastUsed => v.sort_by_key(|c| std::cmp::Reverse(c.credential.last_used)),
        }
        v
    }

    /// Exposed credentials, in inventory order: the rows of Rotation.
    pub fn rotation_rows(&self) -> Vec<&CredentialState> {
        self.state
            .credentials
            .iter()
            .filter(|c| c.credential.exposed)
            .collect()
    }

    /// The credentials Usage shows: the exposed ones.
    pub fn usage_rows(&self) -> Vec<&CredentialState> {
        self.rotation_rows()
    }

    fn credential_list(&self, p: Panel) -> Vec<&CredentialState> {
        match p {
            Panel::Inventory => self.visible_credentials(),
            _ => self.rotation_rows(),
        }
    }

    /// Where the selected credential is in `list` (the first row when none is selected).
    pub fn selected_index(&self, list: &[&CredentialState]) -> Option<usize> {
        if list.is_empty() {
            return None;
        }
        let found = self
            .selected_cred
            .as_ref()
            .and_then(|id| list.iter().position(|c| &c.credential.id == id));
        Some(found.unwrap_or(0))
    }

    /// How many places hold this key: its own locations, or, when its fingerprint shows the
    /// same value under other credentials too, the locations of all of them.
    pub fn shared_count(&self, c: &CredentialState) -> usize {
        let own = c.credential.locations.len();
        let by_fingerprint = c
            .credential
            .fingerprint
            .as_ref()
            .map(|fp| {
                let same: Vec<_> = self
                    .state
                    .credentials
                    .iter()
                    .filter(|o| o.credential.fingerprint.as_ref() == Some(fp))
                    .collect();
                if same.len() > 1 {
                    same.iter()
                        .map(|o| o.credential.locations.len().max(1))
                        .sum()
                } else {
                    0
                }
            })
            .unwrap_or(0);
        own.max(by_fingerprint)
    }

    /// The next key a revoke (or delete) step has to confirm, skipping keys already on
    /// their way.
    pub fn next_dangerous(&self, delete: bool) -> Option<String> {
        self.state
            .awaiting_confirmation(delete)
            .into_iter()
            .filter(|c| {
                let kind = if delete {
                    DangerKind::Delete
                } else {
                    DangerKind::Revoke
                };
                !c.requested(kind) && !self.busy.credentials.contains(&c.credential.id)
            })
            .map(|c| c.credential.id.clone())
            .next()
    }

    /// The pre-flight checks of a dangerous action: (what, passed).
    pub fn dangerous_checks(&self, target: &Dangerous) -> Vec<(String, bool)> {
        let Some(c) = self.state.credential(target.credential()) else {
            return Vec::new();
        };
        match target {
            Dangerous::MakeRoom { .. } => Vec::new(),
            Dangerous::Revoke { .. } => c.preflight(),
            Dangerous::Delete { .. } => vec![
                (
                    strings::CHECK_REVOKED.to_string(),
                    c.rotation.reached() >= Stage::Revoked,
                ),
                (
                    strings::CHECK_DEAD.to_string(),
                    c.rotation.reached() >= Stage::ConfirmedDead,
                ),
            ],
        }
    }

    /// Whether going ahead needs the typed override phrase (a pre-flight check failed).
    pub fn needs_override(&self, target: &Dangerous) -> bool {
        self.dangerous_checks(target).iter().any(|(_, ok)| !ok)
    }

    /// The override phrase for a key (shown to the operator, who must type it).
    pub fn override_phrase_for(&self, id: &str) -> String {
        self.state
            .credential(id)
            .map(|c| override_phrase(&c.credential.confirmation_word()))
            .unwrap_or_default()
    }
}
