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

pub use table::BINDINGS;

mod table;

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
mod tests;
