//! The one table of key bindings (as gitui keeps its key list): the screen's keys and every
//! window's, each row in a group. It turns keys into actions, and it feeds the footer hints
//! and the `?` help, so neither drifts from the keys. Read-only mode does not register
//! mutating bindings at all (as k9s does).
//!
//! On the screen a key matches exactly (Ctrl and Alt held or not). In a window the modifiers
//! do not matter (Ctrl+Enter still confirms), except that Ctrl-C always reaches the screen's
//! quit unless the window binds it, and only plain characters type.
//!
//! A screen binding may belong to some panels only (Enter and Space act on the steps, not on
//! whatever panel has focus): pressed elsewhere it does nothing and says where it works, and
//! the footer shows the hints of the focused panel.
//!
//! Depends on `action`, `panel` and `strings`.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, Scroll};
use super::panel::Panel;
use super::strings;

/// Every panel.
const ANY: &[Panel] = &[];
/// Where the steps are: Enter runs, Space ticks, o reopens there.
const STEPS: &[Panel] = &[Panel::Checklist, Panel::Step];
const INVENTORY: &[Panel] = &[Panel::Inventory];
/// Where failed keys show, so where `r` is worth a hint.
const RETRY_HINT: &[Panel] = &[Panel::Rotation];

/// One key of a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// This key; on the screen without Ctrl or Alt (Shift is part of the code: `?`, `BackTab`).
    Plain(KeyCode),
    /// Ctrl and this character.
    Ctrl(char),
    /// Any character typed without Ctrl or Alt: text for a window's field.
    Text,
    /// Any key but Ctrl-C.
    Any,
}

const fn plain(code: KeyCode) -> Key {
    Key::Plain(code)
}

const fn ctrl(c: char) -> Key {
    Key::Ctrl(c)
}

/// Ctrl-C (with or without other modifiers): quit, wherever it is pressed.
pub fn is_ctrl_c(ev: &KeyEvent) -> bool {
    ev.modifiers.contains(KeyModifiers::CONTROL) && ev.code == KeyCode::Char('c')
}

impl Key {
    /// Whether a key pressed on the screen is this one.
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let held_ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        let held_alt = ev.modifiers.contains(KeyModifiers::ALT);
        match *self {
            Key::Plain(code) => ev.code == code && !held_ctrl && !held_alt,
            Key::Ctrl(c) => ev.code == KeyCode::Char(c) && held_ctrl && !held_alt,
            Key::Text => matches!(ev.code, KeyCode::Char(_)) && !held_ctrl && !held_alt,
            Key::Any => !is_ctrl_c(ev),
        }
    }

    /// Whether a key pressed in a window is this one: there, modifiers do not matter.
    pub fn matches_in_window(&self, ev: &KeyEvent) -> bool {
        match *self {
            Key::Plain(code) => ev.code == code,
            Key::Ctrl(c) => {
                ev.code == KeyCode::Char(c) && ev.modifiers.contains(KeyModifiers::CONTROL)
            }
            Key::Text | Key::Any => self.matches(ev),
        }
    }
}

/// What a binding is for: the screen's groups as help lists them, then one group per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Incident,
    Move,
    View,
    /// The revocation window (revoke, delete, make room).
    Revoke,
    /// The hidden input for a key made by hand.
    Paste,
    /// The reason of a skip.
    Skip,
    /// The `/` prompt.
    Filter,
    /// The `:` prompt.
    Prompt,
    /// A note for the timeline.
    Note,
    /// The keys of every window with a text field.
    Typing,
    /// A y/n question before a step runs.
    Question,
    /// Quit while work is in flight?
    Quit,
    /// The drill's score.
    Score,
    /// Onboarding: what a panel is for.
    Tip,
    /// The `?` window itself.
    Help,
}

impl Group {
    pub const ALL: [Group; 15] = [
        Group::Incident,
        Group::Move,
        Group::View,
        Group::Revoke,
        Group::Paste,
        Group::Skip,
        Group::Filter,
        Group::Prompt,
        Group::Note,
        Group::Typing,
        Group::Question,
        Group::Quit,
        Group::Score,
        Group::Tip,
        Group::Help,
    ];

    /// The groups whose keys work on the screen (no window open).
    pub const SCREEN: [Group; 3] = [Group::Incident, Group::Move, Group::View];

    pub fn label(self) -> &'static str {
        match self {
            Group::Incident => strings::GROUP_INCIDENT,
            Group::Move => strings::GROUP_MOVE,
            Group::View => strings::GROUP_VIEW,
            Group::Revoke => strings::GROUP_REVOKE,
            Group::Paste => strings::GROUP_PASTE,
            Group::Skip => strings::GROUP_SKIP,
            Group::Filter => strings::GROUP_FILTER,
            Group::Prompt => strings::GROUP_PROMPT,
            Group::Note => strings::GROUP_NOTE,
            Group::Typing => strings::GROUP_TYPING,
            Group::Question => strings::GROUP_QUESTION,
            Group::Quit => strings::GROUP_QUIT,
            Group::Score => strings::GROUP_SCORE,
            Group::Tip => strings::GROUP_TIP,
            Group::Help => strings::GROUP_HELP,
        }
    }

    /// Whether these keys work on the screen, not in a window.
    pub fn on_screen(self) -> bool {
        Group::SCREEN.contains(&self)
    }

    /// The groups a window of this group reads keys from, in order: its own, then the
    /// typing keys when it has a text field.
    pub fn layers(self) -> &'static [Group] {
        match self {
            Group::Revoke => &[Group::Revoke, Group::Typing],
            Group::Paste => &[Group::Paste, Group::Typing],
            Group::Skip => &[Group::Skip, Group::Typing],
            Group::Filter => &[Group::Filter, Group::Typing],
            Group::Prompt => &[Group::Prompt, Group::Typing],
            Group::Note => &[Group::Note, Group::Typing],
            Group::Incident => &[Group::Incident],
            Group::Move => &[Group::Move],
            Group::View => &[Group::View],
            Group::Typing => &[Group::Typing],
            Group::Question => &[Group::Question],
            Group::Quit => &[Group::Quit],
            Group::Score => &[Group::Score],
            Group::Tip => &[Group::Tip],
            Group::Help => &[Group::Help],
        }
    }
}

/// One binding.
#[derive(Debug)]
pub struct Binding {
    pub action: Action,
    pub keys: &'static [Key],
    /// How the keys are written in hints and help.
    pub label: &'static str,
    pub group: Group,
    /// What it does. A window's bindings are short: help and the window's footer show them
    /// as `label help`.
    pub help: &'static str,
    /// Shown in the screen's footer (screen bindings only).
    pub hint: Option<&'static str>,
    /// Changes keys or systems: not registered in read-only mode.
    pub mutating: bool,
    /// The panels it acts in (screen bindings; empty: every panel).
    pub panels: &'static [Panel],
    /// The panels whose footer shows its hint (empty: where it acts).
    pub hint_in: &'static [Panel],
}

impl Binding {
    /// Whether it acts with `focus` on the screen.
    pub fn acts_in(&self, focus: Panel) -> bool {
        self.panels.is_empty() || self.panels.contains(&focus)
    }
}

impl Binding {
    /// The action of this binding for the key pressed: a typed character is carried along.
    pub fn action_for(&self, ev: &KeyEvent) -> Action {
        match (&self.action, ev.code) {
            (Action::Type(_), KeyCode::Char(c)) => Action::Type(c),
            (Action::Scroll(_), code) => Action::Scroll(match code {
                KeyCode::Char('k') | KeyCode::Up => Scroll::Up,
                KeyCode::PageDown | KeyCode::Char(' ') => Scroll::PageDown,
                KeyCode::PageUp => Scroll::PageUp,
                KeyCode::Char('g') | KeyCode::Home => Scroll::Top,
                KeyCode::Char('G') | KeyCode::End => Scroll::Bottom,
                _ => Scroll::Down,
            }),
            (a, _) => a.clone(),
        }
    }
}

pub const BINDINGS: &[Binding] = &[
    // ── The screen ───────────────────────────────────────────────────────────────────────
    Binding {
        action: Action::Run,
        keys: &[plain(KeyCode::Enter)],
        label: "Enter",
        group: Group::Incident,
        help: strings::HELP_RUN,
        hint: Some(strings::HINT_RUN),
        mutating: false,
        panels: STEPS,
        hint_in: ANY,
    },
    Binding {
        action: Action::TickItem,
        keys: &[plain(KeyCode::Char(' '))],
        label: "Space",
        group: Group::Incident,
        help: strings::HELP_TICK,
        hint: Some(strings::HINT_TICK),
        mutating: false,
        panels: STEPS,
        hint_in: ANY,
    },
    Binding {
        action: Action::Retry,
        keys: &[plain(KeyCode::Char('r'))],
        label: "r",
        group: Group::Incident,
        help: strings::HELP_RETRY,
        hint: Some(strings::HINT_RETRY),
        mutating: true,
        panels: ANY,
        hint_in: RETRY_HINT,
    },
    Binding {
        action: Action::Skip,
        keys: &[plain(KeyCode::Char('x'))],
        label: "x",
        group: Group::Incident,
        help: strings::HELP_SKIP,
        hint: Some(strings::HINT_SKIP),
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Paste,
        keys: &[plain(KeyCode::Char('p'))],
        label: "p",
        group: Group::Incident,
        help: strings::HELP_PASTE,
        hint: None,
        mutating: true,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Reopen,
        keys: &[plain(KeyCode::Char('o'))],
        label: "o",
        group: Group::Incident,
        help: strings::HELP_REOPEN,
        hint: Some(strings::HINT_REOPEN),
        mutating: false,
        panels: STEPS,
        hint_in: ANY,
    },
    Binding {
        action: Action::Note,
        keys: &[plain(KeyCode::Char('n'))],
        label: "n",
        group: Group::Incident,
        help: strings::HELP_NOTE,
        hint: Some(strings::HINT_NOTE),
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Up,
        keys: &[plain(KeyCode::Char('k')), plain(KeyCode::Up)],
        label: "k/↑",
        group: Group::Move,
        help: strings::HELP_UP,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Down,
        keys: &[plain(KeyCode::Char('j')), plain(KeyCode::Down)],
        label: "j/↓",
        group: Group::Move,
        help: strings::HELP_DOWN,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::PageUp,
        keys: &[plain(KeyCode::PageUp)],
        label: "PgUp",
        group: Group::Move,
        help: strings::HELP_PAGE_UP,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::PageDown,
        keys: &[plain(KeyCode::PageDown)],
        label: "PgDn",
        group: Group::Move,
        help: strings::HELP_PAGE_DOWN,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::First,
        keys: &[plain(KeyCode::Char('g')), plain(KeyCode::Home)],
        label: "g/Home",
        group: Group::Move,
        help: strings::HELP_FIRST,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Last,
        keys: &[plain(KeyCode::Char('G')), plain(KeyCode::End)],
        label: "G/End",
        group: Group::Move,
        help: strings::HELP_LAST,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::NextPanel,
        keys: &[plain(KeyCode::Tab)],
        label: "Tab",
        group: Group::Move,
        help: strings::HELP_NEXT_PANEL,
        hint: Some(strings::HINT_PANEL),
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::PrevPanel,
        keys: &[plain(KeyCode::BackTab)],
        label: "Shift-Tab",
        group: Group::Move,
        help: strings::HELP_PREV_PANEL,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Filter,
        keys: &[plain(KeyCode::Char('/'))],
        label: "/",
        group: Group::View,
        help: strings::HELP_FILTER,
        hint: Some(strings::HINT_FILTER),
        mutating: false,
        panels: ANY,
        hint_in: INVENTORY,
    },
    Binding {
        action: Action::Sort,
        keys: &[plain(KeyCode::Char('s'))],
        label: "s",
        group: Group::View,
        help: strings::HELP_SORT,
        hint: Some(strings::HINT_SORT),
        mutating: false,
        panels: INVENTORY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Help,
        keys: &[plain(KeyCode::Char('?'))],
        label: "?",
        group: Group::View,
        help: strings::HELP_HELP,
        hint: Some(strings::HINT_HELP),
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Command,
        keys: &[plain(KeyCode::Char(':'))],
        label: ":",
        group: Group::View,
        help: strings::HELP_COMMAND,
        hint: Some(strings::HINT_COMMAND),
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Back,
        keys: &[plain(KeyCode::Esc)],
        label: "Esc",
        group: Group::View,
        help: strings::HELP_BACK,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Quit,
        keys: &[plain(KeyCode::Char('q'))],
        label: "q",
        group: Group::View,
        help: strings::HELP_QUIT,
        hint: Some(strings::HINT_QUIT),
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Quit,
        keys: &[ctrl('c')],
        label: "Ctrl-C",
        group: Group::View,
        help: strings::HELP_QUIT_NOW,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    // ── Windows: the top one reads its own group (then the typing keys, if it has a field).
    Binding {
        action: Action::Submit,
        keys: &[plain(KeyCode::Enter)],
        label: "Enter",
        group: Group::Revoke,
        help: strings::WINDOW_CONFIRM,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::SwitchField,
        keys: &[
            plain(KeyCode::Tab),
            plain(KeyCode::BackTab),
            plain(KeyCode::Up),
            plain(KeyCode::Down),
        ],
        label: "Tab/↑/↓",
        group: Group::Revoke,
        help: strings::WINDOW_SWITCH_FIELD,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Close,
        keys: &[plain(KeyCode::Esc)],
        label: "Esc",
        group: Group::Revoke,
        help: strings::WINDOW_CANCEL,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Submit,
        keys: &[plain(KeyCode::Enter)],
        label: "Enter",
        group: Group::Paste,
        help: strings::WINDOW_TEST_AND_STORE,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Close,
        keys: &[plain(KeyCode::Esc)],
        label: "Esc",
        group: Group::Paste,
        help: strings::WINDOW_CANCEL,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Submit,
        keys: &[plain(KeyCode::Enter)],
        label: "Enter",
        group: Group::Skip,
        help: strings::WINDOW_SKIP,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Close,
        keys: &[plain(KeyCode::Esc)],
        label: "Esc",
        group: Group::Skip,
        help: strings::WINDOW_CANCEL,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Submit,
        keys: &[plain(KeyCode::Enter)],
        label: "Enter",
        group: Group::Filter,
        help: strings::WINDOW_KEEP_FILTER,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Close,
        keys: &[plain(KeyCode::Esc)],
        label: "Esc",
        group: Group::Filter,
        help: strings::WINDOW_CLEAR_FILTER,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Submit,
        keys: &[plain(KeyCode::Enter)],
        label: "Enter",
        group: Group::Prompt,
        help: strings::WINDOW_DO,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Close,
        keys: &[plain(KeyCode::Esc)],
        label: "Esc",
        group: Group::Prompt,
        help: strings::WINDOW_CANCEL,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Submit,
        keys: &[plain(KeyCode::Enter)],
        label: "Enter",
        group: Group::Note,
        help: strings::WINDOW_SAVE_NOTE,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Close,
        keys: &[plain(KeyCode::Esc)],
        label: "Esc",
        group: Group::Note,
        help: strings::WINDOW_CANCEL,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        // The character typed replaces this one (see `Binding::action_for`).
        action: Action::Type(' '),
        keys: &[Key::Text],
        label: strings::LABEL_CHARACTERS,
        group: Group::Typing,
        help: strings::WINDOW_TYPE,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Erase,
        keys: &[plain(KeyCode::Backspace)],
        label: "Backspace",
        group: Group::Typing,
        help: strings::WINDOW_ERASE,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Answer(true),
        keys: &[plain(KeyCode::Char('y')), plain(KeyCode::Char('Y'))],
        label: "y",
        group: Group::Question,
        help: strings::WINDOW_YES,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Answer(false),
        keys: &[
            plain(KeyCode::Char('n')),
            plain(KeyCode::Char('N')),
            plain(KeyCode::Esc),
        ],
        label: "n/Esc",
        group: Group::Question,
        help: strings::WINDOW_NO,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        // A second Ctrl-C while asked means it.
        action: Action::Answer(true),
        keys: &[
            plain(KeyCode::Char('y')),
            plain(KeyCode::Char('Y')),
            ctrl('c'),
        ],
        label: "y/Ctrl-C",
        group: Group::Quit,
        help: strings::WINDOW_QUIT,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Answer(false),
        keys: &[
            plain(KeyCode::Char('n')),
            plain(KeyCode::Char('N')),
            plain(KeyCode::Esc),
        ],
        label: "n/Esc",
        group: Group::Quit,
        help: strings::WINDOW_STAY,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Quit,
        keys: &[plain(KeyCode::Char('q'))],
        label: "q",
        group: Group::Score,
        help: strings::WINDOW_QUIT,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::ReportPath,
        keys: &[plain(KeyCode::Char('r'))],
        label: "r",
        group: Group::Score,
        help: strings::WINDOW_REPORT_PATH,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        // The key pressed says which way (see `Binding::action_for`).
        action: Action::Scroll(Scroll::Down),
        keys: &[
            plain(KeyCode::Char('j')),
            plain(KeyCode::Char('k')),
            plain(KeyCode::Down),
            plain(KeyCode::Up),
            plain(KeyCode::PageDown),
            plain(KeyCode::PageUp),
            plain(KeyCode::Char(' ')),
            plain(KeyCode::Char('g')),
            plain(KeyCode::Char('G')),
            plain(KeyCode::Home),
            plain(KeyCode::End),
        ],
        label: "j/k",
        group: Group::Score,
        help: strings::WINDOW_SCROLL,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Close,
        keys: &[plain(KeyCode::Esc), plain(KeyCode::Enter)],
        label: "Esc/Enter",
        group: Group::Score,
        help: strings::WINDOW_BACK,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        // Onboarding explanations go away with any key.
        action: Action::Close,
        keys: &[Key::Any],
        label: strings::LABEL_ANY_KEY,
        group: Group::Tip,
        help: strings::WINDOW_CONTINUE,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        action: Action::Close,
        keys: &[
            plain(KeyCode::Esc),
            plain(KeyCode::Char('?')),
            plain(KeyCode::Char('q')),
            plain(KeyCode::Enter),
        ],
        label: strings::LABEL_HELP_CLOSE,
        group: Group::Help,
        help: strings::WINDOW_CLOSE_HELP,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
    Binding {
        // The key pressed says which way (see `Binding::action_for`).
        action: Action::Scroll(Scroll::Down),
        keys: &[
            plain(KeyCode::Char('j')),
            plain(KeyCode::Char('k')),
            plain(KeyCode::Down),
            plain(KeyCode::Up),
            plain(KeyCode::PageDown),
            plain(KeyCode::PageUp),
            plain(KeyCode::Char(' ')),
            plain(KeyCode::Char('g')),
            plain(KeyCode::Char('G')),
            plain(KeyCode::Home),
            plain(KeyCode::End),
        ],
        label: "j/k/PgUp/PgDn",
        group: Group::Help,
        help: strings::WINDOW_SCROLL,
        hint: None,
        mutating: false,
        panels: ANY,
        hint_in: ANY,
    },
];

/// The bindings in force: read-only mode registers no mutating ones.
pub fn active(read_only: bool) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| !(read_only && b.mutating))
}

/// The bindings of one group, in table order.
pub fn of_group(group: Group) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| b.group == group)
}

/// The screen's binding a key press belongs to, if any is registered.
pub fn binding_for(key: &KeyEvent, read_only: bool) -> Option<&'static Binding> {
    active(read_only)
        .filter(|b| b.group.on_screen())
        .find(|b| b.keys.iter().any(|k| k.matches(key)))
}

/// The action a key press asks of the screen, if any binding is registered for it.
pub fn action_for(key: &KeyEvent, read_only: bool) -> Option<Action> {
    binding_for(key, read_only).map(|b| b.action_for(key))
}

/// Whether the key belongs to a screen binding that read-only mode leaves out.
pub fn is_disabled_in_read_only(key: &KeyEvent) -> bool {
    BINDINGS
        .iter()
        .filter(|b| b.group.on_screen())
        .any(|b| b.mutating && b.keys.iter().any(|k| k.matches(key)))
}

/// The screen's footer with `focus` on a panel: `label hint` pairs of the screen bindings
/// that act there and have a hint for it.
pub fn hints(read_only: bool, focus: Panel) -> Vec<(&'static str, &'static str)> {
    active(read_only)
        .filter(|b| b.group.on_screen() && b.acts_in(focus))
        .filter(|b| b.hint_in.is_empty() || b.hint_in.contains(&focus))
        .filter_map(|b| b.hint.map(|h| (b.label, h)))
        .collect()
}

/// What a key pressed on the screen comes to with `focus` on a panel.
#[derive(Debug, Clone, PartialEq)]
pub enum ScreenKey {
    /// It asks for this.
    Act(Action),
    /// It is bound, but not in this panel: its label and where it works.
    ElsewhereOnly {
        label: &'static str,
        panels: &'static [Panel],
    },
    /// Read-only mode leaves it out (it changes keys or systems).
    ReadOnly,
    /// Nothing is bound to it.
    Unbound,
}

/// What a key pressed on the screen does with `focus` on a panel.
pub fn screen_key(key: &KeyEvent, read_only: bool, focus: Panel) -> ScreenKey {
    match binding_for(key, read_only) {
        Some(b) if b.acts_in(focus) => ScreenKey::Act(b.action_for(key)),
        Some(b) => ScreenKey::ElsewhereOnly {
            label: b.label,
            panels: b.panels,
        },
        None if read_only && is_disabled_in_read_only(key) => ScreenKey::ReadOnly,
        None => ScreenKey::Unbound,
    }
}

/// A window's footer and its row in help: `label help` of its own bindings.
pub fn window_hints(group: Group) -> Vec<(&'static str, &'static str)> {
    of_group(group).map(|b| (b.label, b.help)).collect()
}

/// What the top window does with a key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyOutcome {
    /// The window took the key (and maybe asks for an action).
    Consumed(Option<Action>),
    /// Not for this window: the screen below gets it.
    Ignored,
}

/// A key pressed in a window of `group`: its bindings first, then those of its other layers.
/// A window keeps every other key from the screen, except Ctrl-C.
pub fn in_window(group: Group, key: &KeyEvent) -> KeyOutcome {
    let found = group
        .layers()
        .iter()
        .flat_map(|g| of_group(*g))
        .find(|b| b.keys.iter().any(|k| k.matches_in_window(key)));
    match found {
        Some(b) => KeyOutcome::Consumed(Some(b.action_for(key))),
        None if is_ctrl_c(key) => KeyOutcome::Ignored,
        None => KeyOutcome::Consumed(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::from(code)
    }

    #[test]
    fn no_key_is_bound_twice() {
        // Where keys are read: the screen, and each window with its layers.
        let mut places: Vec<&[Group]> = vec![&Group::SCREEN];
        places.extend(
            Group::ALL
                .iter()
                .filter(|g| !g.on_screen())
                .map(|g| g.layers()),
        );
        for groups in places {
            let mut seen = Vec::new();
            for b in BINDINGS.iter().filter(|b| groups.contains(&b.group)) {
                for k in b.keys {
                    assert!(!seen.contains(k), "{k:?} bound twice");
                    seen.push(*k);
                }
            }
        }
    }

    #[test]
    fn read_only_registers_no_mutating_key() {
        let r = press(KeyCode::Char('r'));
        assert_eq!(action_for(&r, false), Some(Action::Retry));
        assert_eq!(action_for(&r, true), None);
        assert!(is_disabled_in_read_only(&r));
        assert!(active(true).all(|b| !b.mutating));
        for p in Panel::ALL {
            assert!(hints(true, p).iter().all(|(l, _)| *l != "r"));
        }
    }

    #[test]
    fn vim_and_arrow_keys_move() {
        assert_eq!(
            action_for(&press(KeyCode::Char('j')), false),
            Some(Action::Down)
        );
        assert_eq!(action_for(&press(KeyCode::Down), false), Some(Action::Down));
        assert_eq!(
            action_for(&press(KeyCode::Char('k')), false),
            Some(Action::Up)
        );
        assert_eq!(action_for(&press(KeyCode::Up), false), Some(Action::Up));
        assert_eq!(
            action_for(&press(KeyCode::BackTab), false),
            Some(Action::PrevPanel)
        );
    }

    #[test]
    fn ctrl_c_quits_but_plain_c_does_nothing() {
        let cc = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(&cc, true), Some(Action::Quit));
        assert_eq!(action_for(&press(KeyCode::Char('c')), false), None);
        // Ctrl-r is not r.
        let cr = KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL);
        assert_eq!(action_for(&cr, false), None);
    }

    #[test]
    fn every_group_has_a_binding_and_the_footer_has_help_and_quit() {
        for g in Group::ALL {
            assert!(BINDINGS.iter().any(|b| b.group == g), "{g:?} is empty");
        }
        for p in Panel::ALL {
            let h = hints(false, p);
            assert!(h.contains(&("?", strings::HINT_HELP)), "{p:?}");
            assert!(h.contains(&("q", strings::HINT_QUIT)), "{p:?}");
        }
    }

    #[test]
    fn enter_and_space_act_on_the_steps_only_and_say_where_elsewhere() {
        let enter = press(KeyCode::Enter);
        let space = press(KeyCode::Char(' '));
        for key in [&enter, &space] {
            assert!(matches!(
                screen_key(key, false, Panel::Checklist),
                ScreenKey::Act(_)
            ));
            assert!(matches!(
                screen_key(key, false, Panel::Step),
                ScreenKey::Act(_)
            ));
            for p in [
                Panel::Inventory,
                Panel::Rotation,
                Panel::Usage,
                Panel::Timeline,
            ] {
                assert!(
                    matches!(
                        screen_key(key, false, p),
                        ScreenKey::ElsewhereOnly { panels, .. }
                            if panels == [Panel::Checklist, Panel::Step]
                    ),
                    "{p:?}"
                );
            }
        }
        // The footer of each panel shows only what acts there.
        assert!(hints(false, Panel::Checklist).contains(&("Enter", strings::HINT_RUN)));
        assert!(!hints(false, Panel::Inventory).contains(&("Enter", strings::HINT_RUN)));
        assert!(hints(false, Panel::Inventory).contains(&("s", strings::HINT_SORT)));
        assert!(!hints(false, Panel::Timeline).contains(&("s", strings::HINT_SORT)));
        assert_eq!(
            screen_key(&press(KeyCode::Char('z')), false, Panel::Step),
            ScreenKey::Unbound
        );
        assert_eq!(
            screen_key(&press(KeyCode::Char('r')), true, Panel::Rotation),
            ScreenKey::ReadOnly
        );
    }

    #[test]
    fn every_list_pages_and_jumps_and_help_scrolls() {
        for (code, action) in [
            (KeyCode::PageUp, Action::PageUp),
            (KeyCode::PageDown, Action::PageDown),
            (KeyCode::Char('g'), Action::First),
            (KeyCode::Home, Action::First),
            (KeyCode::Char('G'), Action::Last),
            (KeyCode::End, Action::Last),
            (KeyCode::Char(':'), Action::Command),
            (KeyCode::Char('n'), Action::Note),
        ] {
            for p in Panel::ALL {
                assert_eq!(
                    screen_key(&press(code), false, p),
                    ScreenKey::Act(action.clone()),
                    "{code:?} in {p:?}"
                );
            }
        }
        assert_eq!(
            in_window(Group::Help, &press(KeyCode::PageDown)),
            KeyOutcome::Consumed(Some(Action::Scroll(Scroll::PageDown)))
        );
        assert_eq!(
            in_window(Group::Help, &press(KeyCode::Char('k'))),
            KeyOutcome::Consumed(Some(Action::Scroll(Scroll::Up)))
        );
        assert_eq!(
            in_window(Group::Help, &press(KeyCode::Esc)),
            KeyOutcome::Consumed(Some(Action::Close))
        );
    }

    #[test]
    fn a_window_reads_its_own_keys_and_lets_only_ctrl_c_through() {
        let enter = press(KeyCode::Enter);
        let cc = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        let typed = press(KeyCode::Char('z'));
        assert_eq!(
            in_window(Group::Revoke, &enter),
            KeyOutcome::Consumed(Some(Action::Submit))
        );
        assert_eq!(
            in_window(Group::Revoke, &typed),
            KeyOutcome::Consumed(Some(Action::Type('z')))
        );
        // Ctrl held does not type, and does not stop Enter.
        let ctrl_z = KeyEvent::new(KeyCode::Char('z'), KeyModifiers::CONTROL);
        assert_eq!(in_window(Group::Skip, &ctrl_z), KeyOutcome::Consumed(None));
        let ctrl_enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::CONTROL);
        assert_eq!(
            in_window(Group::Skip, &ctrl_enter),
            KeyOutcome::Consumed(Some(Action::Submit))
        );
        // Only the revocation window has a second field.
        assert_eq!(
            in_window(Group::Paste, &press(KeyCode::Tab)),
            KeyOutcome::Consumed(None)
        );
        // Ctrl-C reaches the screen's quit, except where the window asks about quitting.
        assert_eq!(in_window(Group::Revoke, &cc), KeyOutcome::Ignored);
        assert_eq!(in_window(Group::Tip, &cc), KeyOutcome::Ignored);
        assert_eq!(
            in_window(Group::Quit, &cc),
            KeyOutcome::Consumed(Some(Action::Answer(true)))
        );
        // A window's keys are not the screen's.
        assert_eq!(action_for(&press(KeyCode::Char('y')), false), None);
    }

    #[test]
    fn every_window_footer_fits_a_small_terminal() {
        for g in Group::ALL.iter().filter(|g| !g.on_screen()) {
            let keys: Vec<String> = window_hints(*g)
                .iter()
                .map(|(l, h)| format!("{l} {h}"))
                .collect();
            let footer = keys.join(" · ");
            // Room for the longest prompt before it on an 80-column screen.
            assert!(footer.chars().count() <= 60, "{g:?}: {footer}");
            assert!(
                g.layers().first() == Some(g),
                "{g:?} reads its own keys first"
            );
        }
    }
}
