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
use super::keymap::{self, KeyOutcome, ScreenKey};
use super::modal::{self, Ctx, Modal, ModalOutcome, PromptCommand, RevokeModal, Term, Then};
use super::panel::Panel;
use super::strings;
use super::theme::Theme;
use crate::incident::command::{Command, Update};
use crate::incident::event::Mode;
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
    /// The terminal's size (columns, rows), as last drawn; (0, 0) before the first frame.
    pub size: (u16, u16),
    /// Keys already told they do nothing (each is told once).
    pub said_unbound: HashSet<String>,
    /// Onboarding: terms already explained.
    pub terms_explained: HashSet<Term>,
    /// Whether the engine was last asked to stop the drill clock.
    pub drill_paused: bool,
    /// The incident clock as it stood when an explanation stopped it.
    pub clock_frozen: Option<DateTime<Utc>>,
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
            size: (0, 0),
            said_unbound: HashSet::new(),
            terms_explained: HashSet::new(),
            drill_paused: false,
            clock_frozen: None,
        };
        app.selected_item = app.first_unticked(selected_step);
        app.explain(Panel::Checklist);
        if app.state.score.is_some() {
            app.score_shown = true;
            app.modals.push(Modal::Score(0));
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
        if let Some(top) = self.modals.last() {
            match top.on_key(&key) {
                KeyOutcome::Consumed(Some(a)) => return self.update(a),
                KeyOutcome::Consumed(None) => return self.sync(Vec::new()),
                KeyOutcome::Ignored => {}
            }
        }
        match keymap::screen_key(&key, self.read_only, self.focus) {
            ScreenKey::Act(a) => self.update(a),
            ScreenKey::ElsewhereOnly { label, panels } => {
                let titles: Vec<&str> = panels.iter().map(|p| p.title()).collect();
                self.toast = Some(strings::key_elsewhere(label, self.focus.title(), &titles));
                Vec::new()
            }
            ScreenKey::ReadOnly => {
                self.toast = Some(strings::READ_ONLY_KEY.to_string());
                Vec::new()
            }
            ScreenKey::Unbound => {
                let name = key_name(&key);
                if !name.is_empty() && self.said_unbound.insert(name.clone()) {
                    self.toast = Some(strings::key_does_nothing(&name));
                }
                Vec::new()
            }
        }
    }

    /// The action a key asks for: the top window decides first, then the keymap (in the
    /// focused panel).
    pub fn action_for_key(&self, key: &KeyEvent) -> Option<Action> {
        if let Some(top) = self.modals.last() {
            match top.on_key(key) {
                KeyOutcome::Consumed(a) => return a,
                KeyOutcome::Ignored => {}
            }
        }
        match keymap::screen_key(key, self.read_only, self.focus) {
            ScreenKey::Act(a) => Some(a),
            _ => None,
        }
    }

    /// The commands to send before the first key: the drill clock stands still while the
    /// first onboarding explanation is open.
    pub fn start(&mut self) -> Vec<Command> {
        self.explain_terms();
        self.sync(Vec::new())
    }

    /// `commands`, plus the drill clock stopped or restarted when an explanation opened or
    /// closed.
    fn sync(&mut self, mut commands: Vec<Command>) -> Vec<Command> {
        let explaining = self.modals.last().is_some_and(Modal::is_explanation)
            && self.state.mode == Mode::Drill
            && self.state.score.is_none()
            && self.stopped.is_none();
        if explaining != self.drill_paused {
            self.drill_paused = explaining;
            if explaining {
                self.clock_frozen = Some(self.now());
            } else if let Some(t) = self.clock_frozen.take() {
                self.clock_seen = (t.max(self.state.clock), Instant::now());
            }
            commands.push(Command::PauseDrill { paused: explaining });
        }
        commands
    }

    /// An engine update arrived (shorthand for `update(Action::Engine(u))`).
    pub fn on_update(&mut self, u: Update) -> Vec<Command> {
        self.update(Action::Engine(Box::new(u)))
    }

    /// The only place state changes. Returns the commands for the engine.
    pub fn update(&mut self, action: Action) -> Vec<Command> {
        let commands = match action {
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
        };
        self.explain_terms();
        self.sync(commands)
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
            size: self.size,
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
            Then::Prompt(cmd) => self.prompt(cmd),
        }
    }

    /// A `:` command.
    fn prompt(&mut self, cmd: PromptCommand) -> Vec<Command> {
        match cmd {
            PromptCommand::Note(text) => vec![Command::Note { text }],
            PromptCommand::Known(reason) => {
                let list = self.visible_credentials();
                self.selected_index(&list)
                    .and_then(|i| list.get(i))
                    .map(|c| Command::MarkKnown {
                        credential: c.credential.id.clone(),
                        reason,
                    })
                    .into_iter()
                    .collect()
            }
            PromptCommand::Report => self.report_path(),
            PromptCommand::Help => {
                self.modals.push(Modal::Help(0));
                Vec::new()
            }
            PromptCommand::Quit => self.on_screen(Action::Quit),
        }
    }

    /// An action no window took: the screen's.
    fn on_screen(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-self.page()),
            Action::PageDown => self.move_by(self.page()),
            Action::First => self.move_by(isize::MIN / 2),
            Action::Last => self.move_by(isize::MAX / 2),
            Action::Reopen => return self.reopen(),
            Action::Note => self.modals.push(Modal::Note(Default::default())),
            Action::Command => self.modals.push(Modal::Command(Default::default())),
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
            Action::Help => self.modals.push(Modal::Help(0)),
            Action::Back => self.back(),
            Action::Quit => {
                let open = !self.state.is_complete() && self.state.score.is_none();
                if self.stopped.is_none() && (self.busy.in_flight > 0 || open) {
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
            | Action::Scroll(_)
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
                // Up goes back in time: the scroll counts entries from the newest.
                let n = self.state.timeline.len();
                self.timeline_scroll = self
                    .timeline_scroll
                    .saturating_add_signed(-d)
                    .min(n.saturating_sub(1));
            }
        }
    }

    /// Rows a page up or down moves: about a panel's height.
    fn page(&self) -> isize {
        let rows = if self.size.1 == 0 { 20 } else { self.size.1 };
        isize::try_from(rows / 3).unwrap_or(3).max(3)
    }

    /// Onboarding: a term's explanation, the first time it is on the screen (never over a
    /// window being typed into).
    fn explain_terms(&mut self) {
        if !self.onboarding {
            return;
        }
        let typing = self.modals.last().is_some_and(|m| match m {
            Modal::Revoke(r) => !r.word.is_empty() || !r.override_text.is_empty(),
            Modal::Explain(_) | Modal::Term(_) => true,
            Modal::Paste(_) | Modal::Reason(_) | Modal::Command(_) | Modal::Note(_) => true,
            Modal::Filter => true,
            _ => false,
        });
        if typing {
            return;
        }
        for term in Term::ALL {
            if !self.terms_explained.contains(&term) && self.term_in_view(term) {
                self.terms_explained.insert(term);
                self.modals.push(Modal::Term(term));
                return;
            }
        }
    }

    /// Whether a term is on the screen now.
    fn term_in_view(&self, term: Term) -> bool {
        let step_text = self
            .state
            .steps
            .get(self.selected_step)
            .and_then(|s| self.state.step_def(&s.id))
            .map(|d| format!("{} {} {}", d.title, d.instructions, d.why))
            .unwrap_or_default();
        match term {
            Term::Staging => step_text.contains("AWSPENDING") || step_text.contains("AWSCURRENT"),
            Term::QuietPeriod => step_text.to_lowercase().contains("quiet period"),
            Term::Preflight => matches!(self.modals.last(), Some(Modal::Revoke(_))),
            Term::Asn => {
                self.state.timeline.iter().any(|e| e.text.contains(" ASN"))
                    || self
                        .state
                        .usage
                        .values()
                        .any(|u| u.old_sources.keys().any(|s| s.contains(" ASN")))
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
        if let Some(t) = self.clock_frozen {
            return t;
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
            SortBy::LastUsed => v.sort_by_key(|c| std::cmp::Reverse(self.last_use(c).0)),
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

    /// Whether the top window takes typed text (a field has the cursor).
    pub fn takes_text(&self) -> bool {
        matches!(
            self.modals.last(),
            Some(
                Modal::Revoke(_)
                    | Modal::Paste(_)
                    | Modal::Reason(_)
                    | Modal::Filter
                    | Modal::Command(_)
                    | Modal::Note(_)
            )
        )
    }

    /// The last use of a key's old value: from the incident's own usage samples (true), else
    /// the provider's snapshot at the inventory (false).
    pub fn last_use(&self, c: &CredentialState) -> (Option<DateTime<Utc>>, bool) {
        match self.state.last_seen_use(&c.credential.id) {
            Some(t) => (Some(t), true),
            None => (c.credential.last_used, false),
        }
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

/// A key as help writes it, for "does nothing" (empty for keys not worth a word: modifiers,
/// releases, media keys).
fn key_name(key: &KeyEvent) -> String {
    let base = match key.code {
        KeyCode::Char(c) if !c.is_control() => c.to_string(),
        KeyCode::F(n) => format!("F{n}"),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        KeyCode::Delete => "Delete".into(),
        KeyCode::Insert => "Insert".into(),
        KeyCode::Backspace => "Backspace".into(),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Char(' ') => "Space".into(),
        _ => return String::new(),
    };
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        format!("Ctrl-{base}")
    } else {
        base
    }
}
