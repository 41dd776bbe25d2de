//! Screen state and the one place it changes: `App::update(Action)`. Keys become actions
//! through the top window or the keymap; engine updates arrive as `Action::Engine`. The top
//! window gets every action and update first and says what came of it (`ModalOutcome`);
//! what it leaves is the screen's. Commands for the engine are returned, never run here: all
//! work happens in the engine, so the screen never waits.
//!
//! Here: the state, key and action dispatch, moving, and the queries drawing uses; `act`
//! holds what the incident keys do, `follow` how the screen follows the engine.
//!
//! Depends on `incident` (state, commands, updates), `action`, `keymap`, `modal` (the windows
//! and what they answer), `panel`, `strings` and `theme` — never on drawing (`layout`,
//! `panels`).

mod act;
mod follow;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::Action;
use super::keymap::{self, KeyOutcome};
use super::modal::{self, Ctx, Modal, ModalOutcome, RevokeModal, Then};
use super::panel::Panel;
use super::strings;
use super::theme::Theme;
use crate::incident::command::{Command, Update};
use crate::incident::state::{CredentialState, IncidentState};

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

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
    /// Windows; the last is on top.
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

    /// The action a key asks for: the top window decides first, then the keymap.
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
            action => match self.offer(|top, ctx| top.update(&action, ctx)) {
                Some(commands) => commands,
                None => self.on_screen(action),
            },
        }
    }

    /// What a window sees of the screen.
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            state: &self.state,
            theme: self.theme,
            read_only: self.read_only,
            spinner: self.spinner_frame(),
            stopped: self.stopped.as_deref(),
            busy: &self.busy.credentials,
            filter: &self.filter,
        }
    }

    /// Offers the top window something and applies what came of it; `None` when there is no
    /// window or it was not for the window.
    fn offer(
        &mut self,
        to_window: impl FnOnce(&mut Modal, &Ctx) -> ModalOutcome,
    ) -> Option<Vec<Command>> {
        let mut top = self.modals.pop()?;
        let outcome = to_window(&mut top, &self.ctx());
        let commands = match outcome {
            ModalOutcome::Ignored => {
                self.modals.push(top);
                return None;
            }
            ModalOutcome::Stay => Vec::new(),
            ModalOutcome::Send(c) => vec![c],
            ModalOutcome::Filter(text) => {
                self.filter = text;
                self.selected_cred = None;
                Vec::new()
            }
            ModalOutcome::Close(then) => return Some(self.after_close(then)),
        };
        self.modals.push(top);
        Some(commands)
    }

    /// A window closed: what it asks of the screen.
    fn after_close(&mut self, then: Then) -> Vec<Command> {
        match then {
            Then::Nothing => Vec::new(),
            Then::Send(c) => vec![c],
            Then::Say(s) => {
                self.toast = Some(s);
                Vec::new()
            }
            Then::ClearFilter => {
                self.filter.clear();
                Vec::new()
            }
            Then::Quit => {
                self.quit = true;
                Vec::new()
            }
        }
    }

    /// An action no window took: the screen's.
    fn on_screen(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::NextPanel => self.focus_on(self.focus.next()),
            Action::PrevPanel => self.focus_on(self.focus.prev()),
            Action::Run => return self.run_selected(),
            Action::TickItem => return self.tick_item(),
            Action::Retry => return self.retry(),
            Action::Skip => self.ask_skip(),
            Action::Paste => self.open_paste(),
            Action::Filter => {
                self.filter.clear();
                self.modals.push(Modal::Filter);
                self.focus_on(Panel::Inventory);
            }
            Action::Sort => self.sort = self.sort.next(),
            Action::Help => self.modals.push(Modal::Help),
            Action::Back => self.back(),
            Action::Quit => {
                if self.busy.in_flight > 0 && self.stopped.is_none() {
                    self.modals.push(Modal::Quit);
                } else {
                    self.quit = true;
                }
            }
            Action::ReportPath => return self.report_path(),
            // Keys of a window, with none open that takes them.
            Action::PasteText(_)
            | Action::Type(_)
            | Action::Erase
            | Action::Submit
            | Action::SwitchField
            | Action::Answer(_)
            | Action::Close => {}
            Action::Tick | Action::Engine(_) => {}
        }
        Vec::new()
    }

    // ── Moving ───────────────────────────────────────────────────────────────────────────

    /// Esc on the screen: clear the filter, else the timeline scroll, else back to the step
    /// to do now.
    fn back(&mut self) {
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
    }

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

    /// The first unfinished step.
    pub fn current_step_index(&self) -> Option<usize> {
        self.state.steps.iter().position(|s| !s.is_finished())
    }

    pub fn spinner_frame(&self) -> &'static str {
        SPINNER[self.spinner % SPINNER.len()]
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
        modal::next_dangerous(&self.state, &self.busy.credentials, delete)
    }
}
