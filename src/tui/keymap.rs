//! The one table of key bindings (as gitui keeps its key list): it turns keys into actions,
//! and it feeds the footer hints and the `?` help overlay, so help never drifts from the keys.
//! Read-only mode does not register mutating bindings at all (as k9s does).
//!
//! Depends on `action` and `strings`.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;
use super::strings;

/// One key: a code and whether Ctrl is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn plain(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

impl Key {
    /// Whether a pressed key is this one (Shift is part of the code: `?`, `BackTab`).
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let held_ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        let held_alt = ev.modifiers.contains(KeyModifiers::ALT);
        ev.code == self.code && held_ctrl == self.ctrl && !held_alt
    }
}

/// What a binding is for, as help groups it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Incident,
    Move,
    View,
}

impl Group {
    pub const ALL: [Group; 3] = [Group::Incident, Group::Move, Group::View];

    pub fn label(self) -> &'static str {
        match self {
            Group::Incident => strings::GROUP_INCIDENT,
            Group::Move => strings::GROUP_MOVE,
            Group::View => strings::GROUP_VIEW,
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
    pub help: &'static str,
    /// Shown in the footer.
    pub hint: Option<&'static str>,
    /// Changes keys or systems: not registered in read-only mode.
    pub mutating: bool,
}

pub const BINDINGS: &[Binding] = &[
    Binding {
        action: Action::Run,
        keys: &[plain(KeyCode::Enter)],
        label: "Enter",
        group: Group::Incident,
        help: strings::HELP_RUN,
        hint: Some(strings::HINT_RUN),
        mutating: false,
    },
    Binding {
        action: Action::TickItem,
        keys: &[plain(KeyCode::Char(' '))],
        label: "Space",
        group: Group::Incident,
        help: strings::HELP_TICK,
        hint: Some(strings::HINT_TICK),
        mutating: false,
    },
    Binding {
        action: Action::Retry,
        keys: &[plain(KeyCode::Char('r'))],
        label: "r",
        group: Group::Incident,
        help: strings::HELP_RETRY,
        hint: Some(strings::HINT_RETRY),
        mutating: true,
    },
    Binding {
        action: Action::Skip,
        keys: &[plain(KeyCode::Char('x'))],
        label: "x",
        group: Group::Incident,
        help: strings::HELP_SKIP,
        hint: Some(strings::HINT_SKIP),
        mutating: false,
    },
    Binding {
        action: Action::Paste,
        keys: &[plain(KeyCode::Char('p'))],
        label: "p",
        group: Group::Incident,
        help: strings::HELP_PASTE,
        hint: None,
        mutating: true,
    },
    Binding {
        action: Action::Up,
        keys: &[plain(KeyCode::Char('k')), plain(KeyCode::Up)],
        label: "k/↑",
        group: Group::Move,
        help: strings::HELP_UP,
        hint: None,
        mutating: false,
    },
    Binding {
        action: Action::Down,
        keys: &[plain(KeyCode::Char('j')), plain(KeyCode::Down)],
        label: "j/↓",
        group: Group::Move,
        help: strings::HELP_DOWN,
        hint: None,
        mutating: false,
    },
    Binding {
        action: Action::NextPanel,
        keys: &[plain(KeyCode::Tab)],
        label: "Tab",
        group: Group::Move,
        help: strings::HELP_NEXT_PANEL,
        hint: Some(strings::HINT_PANEL),
        mutating: false,
    },
    Binding {
        action: Action::PrevPanel,
        keys: &[plain(KeyCode::BackTab)],
        label: "Shift-Tab",
        group: Group::Move,
        help: strings::HELP_PREV_PANEL,
        hint: None,
        mutating: false,
    },
    Binding {
        action: Action::Filter,
        keys: &[plain(KeyCode::Char('/'))],
        label: "/",
        group: Group::View,
        help: strings::HELP_FILTER,
        hint: Some(strings::HINT_FILTER),
        mutating: false,
    },
    Binding {
        action: Action::Sort,
        keys: &[plain(KeyCode::Char('s'))],
        label: "s",
        group: Group::View,
        help: strings::HELP_SORT,
        hint: None,
        mutating: false,
    },
    Binding {
        action: Action::Help,
        keys: &[plain(KeyCode::Char('?'))],
        label: "?",
        group: Group::View,
        help: strings::HELP_HELP,
        hint: Some(strings::HINT_HELP),
        mutating: false,
    },
    Binding {
        action: Action::Back,
        keys: &[plain(KeyCode::Esc)],
        label: "Esc",
        group: Group::View,
        help: strings::HELP_BACK,
        hint: None,
        mutating: false,
    },
    Binding {
        action: Action::Quit,
        keys: &[plain(KeyCode::Char('q'))],
        label: "q",
        group: Group::View,
        help: strings::HELP_QUIT,
        hint: Some(strings::HINT_QUIT),
        mutating: false,
    },
    Binding {
        action: Action::Quit,
        keys: &[ctrl('c')],
        label: "Ctrl-C",
        group: Group::View,
        help: strings::HELP_QUIT_NOW,
        hint: None,
        mutating: false,
    },
];

/// The bindings in force: read-only mode registers no mutating ones.
pub fn active(read_only: bool) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| !(read_only && b.mutating))
}

/// The binding a key press belongs to, if any is registered.
pub fn binding_for(key: &KeyEvent, read_only: bool) -> Option<&'static Binding> {
    active(read_only).find(|b| b.keys.iter().any(|k| k.matches(key)))
}

/// The action a key press asks for, if any binding is registered for it.
pub fn action_for(key: &KeyEvent, read_only: bool) -> Option<Action> {
    binding_for(key, read_only).map(|b| b.action.clone())
}

/// Whether the key belongs to a binding that read-only mode leaves out.
pub fn is_disabled_in_read_only(key: &KeyEvent) -> bool {
    BINDINGS
        .iter()
        .any(|b| b.mutating && b.keys.iter().any(|k| k.matches(key)))
}

/// The footer: `label hint` pairs of the bindings that have a hint.
pub fn hints(read_only: bool) -> Vec<(&'static str, &'static str)> {
    active(read_only)
        .filter_map(|b| b.hint.map(|h| (b.label, h)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::from(code)
    }

    #[test]
    fn no_key_is_bound_twice() {
        let mut seen = Vec::new();
        for b in BINDINGS {
            for k in b.keys {
                assert!(!seen.contains(k), "{k:?} bound twice");
                seen.push(*k);
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
        assert!(hints(true).iter().all(|(l, _)| *l != "r"));
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
        let h = hints(false);
        assert!(h.contains(&("?", strings::HINT_HELP)));
        assert!(h.contains(&("q", strings::HINT_QUIT)));
    }
}
