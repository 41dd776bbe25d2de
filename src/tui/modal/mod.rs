//! Windows over the screen, on a stack (as gitui's popups). The top one gets each key first,
//! then each action and engine update, and says what came of it (`ModalOutcome`): not for
//! it, it stays, it sends a command, or it closes. Each window owns its input and its
//! drawing:
//! - `revoke` — THE REVOCATION WINDOW, the one confirmation path for everything destructive
//!   (`Dangerous`): the evidence, no default, a typed word, an extra typed override when a
//!   pre-flight check fails; `dangerous_checks` lives there;
//! - `paste` — the hidden input for a key made by hand;
//! - `question` — y/n before a step, quit while work is in flight, the reason of a skip;
//! - `help` — the `?` window generated from the keymap, and the onboarding tip of a panel;
//! - `score` — the drill's final score.
//!
//! The `/` prompt has no box: its text is the screen's filter, drawn in the footer.
//!
//! `window` holds what they share: `Ctx` (what a window may read of the screen, never `App`),
//! `ModalOutcome` and `Then` (what it answers), its text fields. Windows depend on `action`,
//! `keymap` (help lists it), `overlay`, `panel`, `strings`, `text`, `theme` and the
//! incident's state and commands — never on `app`, `layout` or `panels`.

mod help;
mod paste;
mod question;
mod revoke;
mod score;
mod window;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::text::{Line, Span};

use super::action::Action;
use super::panel::Panel;
use super::strings;
use crate::incident::command::Update;
use window::{MAX_INPUT, pasted_chars, push_char};

pub use paste::PasteModal;
pub use question::{Ask, Reason, SkipTarget};
pub use revoke::{
    Field, RevokeModal, dangerous_checks, needs_override, next_dangerous, override_phrase_for,
};
pub use window::{Ctx, ModalOutcome, Then};

/// One window.
#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    /// The `?` key list.
    Help,
    /// Onboarding: what a panel is for, the first time it gets focus.
    Explain(Panel),
    /// y/n before running a step.
    Ask(Ask),
    /// The typed confirmation of one dangerous action.
    Revoke(RevokeModal),
    /// Why a step or a key is skipped.
    Reason(Reason),
    /// Quit while work is in flight?
    Quit,
    /// The drill's final score.
    Score,
    /// The `/` prompt (drawn in the footer; the list filters as you type).
    Filter,
    /// The hidden input for a key made by hand in the issuer's console.
    Paste(PasteModal),
}

impl Modal {
    /// What this window does with a key when it is on top.
    pub fn on_key(&self, key: &KeyEvent) -> KeyOutcome {
        match self {
            Modal::Explain(_) if is_ctrl_c(key) => Ignored,
            // Onboarding explanations go away with any key.
            Modal::Explain(_) => Consumed(Some(Action::Close)),
            Modal::Help => match key.code {
                _ if is_ctrl_c(key) => Ignored,
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q') | KeyCode::Enter => {
                    Consumed(Some(Action::Close))
                }
                _ => Consumed(None),
            },
            Modal::Score => match key.code {
                _ if is_ctrl_c(key) => Ignored,
                KeyCode::Char('q') => Consumed(Some(Action::Quit)),
                KeyCode::Char('r') => Consumed(Some(Action::ReportPath)),
                KeyCode::Esc | KeyCode::Enter => Consumed(Some(Action::Close)),
                _ => Consumed(None),
            },
            // A second Ctrl-C while asked means it.
            Modal::Quit => match key.code {
                _ if is_ctrl_c(key) => Consumed(Some(Action::Answer(true))),
                KeyCode::Char('y') | KeyCode::Char('Y') => Consumed(Some(Action::Answer(true))),
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    Consumed(Some(Action::Answer(false)))
                }
                _ => Consumed(None),
            },
            Modal::Ask(_) => match key.code {
                _ if is_ctrl_c(key) => Ignored,
                KeyCode::Char('y') | KeyCode::Char('Y') => Consumed(Some(Action::Answer(true))),
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    Consumed(Some(Action::Answer(false)))
                }
                _ => Consumed(None),
            },
            Modal::Revoke(_) => text_input(key, true),
            Modal::Reason(_) | Modal::Filter | Modal::Paste(_) => text_input(key, false),
        }
    }

    /// An action, while this window is on top.
    pub fn update(&mut self, action: &Action, ctx: &Ctx) -> ModalOutcome {
        match self {
            Modal::Revoke(m) => m.update(action, ctx),
            Modal::Paste(m) => m.update(action, ctx),
            Modal::Reason(r) => r.update(action),
            Modal::Ask(a) => a.update(action),
            Modal::Quit => question::quit_update(action),
            Modal::Filter => filter_update(action, ctx),
            Modal::Help | Modal::Explain(_) | Modal::Score => match action {
                Action::Close => ModalOutcome::Close(Then::Nothing),
                _ => ModalOutcome::Ignored,
            },
        }
    }

    /// An engine update, while this window is on top (the state already has it).
    pub fn on_engine(&mut self, update: &Update, ctx: &Ctx) -> ModalOutcome {
        match self {
            Modal::Revoke(m) => m.on_engine(update, ctx),
            Modal::Paste(m) => m.on_engine(update),
            _ => ModalOutcome::Ignored,
        }
    }

    /// Draws this window over the screen. Reads only.
    pub fn draw(&self, f: &mut Frame, ctx: &Ctx) {
        match self {
            Modal::Help => help::draw(f, ctx),
            Modal::Explain(p) => help::explain(f, *p, ctx),
            Modal::Score => score::draw(f, ctx),
            Modal::Filter => {}
            Modal::Ask(a) => a.draw(f, ctx),
            Modal::Reason(r) => r.draw(f, ctx),
            Modal::Quit => question::quit_draw(f, ctx),
            Modal::Revoke(m) => m.draw(f, ctx),
            Modal::Paste(m) => m.draw(f, ctx),
        }
    }

    /// The footer while this window is on top: its keys.
    pub fn footer(&self, ctx: &Ctx) -> Line<'static> {
        let t = ctx.theme;
        let keys = match self {
            Modal::Revoke(_) => strings::KEYS_REVOKE,
            Modal::Ask(_) => strings::KEYS_ASK,
            Modal::Reason(_) => strings::KEYS_REASON,
            Modal::Help => strings::KEYS_HELP,
            Modal::Explain(_) => strings::KEYS_EXPLAIN,
            Modal::Score => strings::KEYS_SCORE,
            Modal::Quit => strings::KEYS_QUIT,
            Modal::Paste(_) => strings::KEYS_PASTE,
            Modal::Filter => {
                return Line::from(vec![
                    Span::styled(format!(" {}", strings::FILTER_PROMPT), t.accent()),
                    Span::raw(format!("{}▏", ctx.filter)),
                    Span::styled(strings::FILTER_KEYS, t.dim()),
                ]);
            }
        };
        Line::from(Span::styled(format!(" {keys}"), t.accent()))
    }
}

/// What the top window did with a key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyOutcome {
    /// The window took the key (and maybe asks for an action).
    Consumed(Option<Action>),
    /// Not for this window: the screen below gets it.
    Ignored,
}

use KeyOutcome::{Consumed, Ignored};

fn is_ctrl_c(key: &KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c')
}

/// Keys of a text input: characters type, Backspace erases, Enter submits, Esc closes.
fn text_input(key: &KeyEvent, fields: bool) -> KeyOutcome {
    if is_ctrl_c(key) {
        return Ignored;
    }
    let modified = key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match key.code {
        KeyCode::Esc => Consumed(Some(Action::Close)),
        KeyCode::Enter => Consumed(Some(Action::Submit)),
        KeyCode::Backspace => Consumed(Some(Action::Erase)),
        KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down if fields => {
            Consumed(Some(Action::SwitchField))
        }
        KeyCode::Char(c) if !modified => Consumed(Some(Action::Type(c))),
        _ => Consumed(None),
    }
}

/// The `/` prompt: its text is the screen's filter.
fn filter_update(action: &Action, ctx: &Ctx) -> ModalOutcome {
    let mut filter = ctx.filter.to_string();
    let changed = match action {
        Action::Type(c) => push_char(&mut filter, *c, MAX_INPUT),
        Action::PasteText(text) => {
            let mut changed = false;
            for c in pasted_chars(text) {
                changed |= push_char(&mut filter, c, MAX_INPUT);
            }
            changed
        }
        Action::Erase => {
            filter.pop();
            true
        }
        Action::Submit => return ModalOutcome::Close(Then::Nothing),
        Action::Close => return ModalOutcome::Close(Then::ClearFilter),
        _ => return ModalOutcome::Ignored,
    };
    if changed {
        ModalOutcome::Filter(filter)
    } else {
        ModalOutcome::Stay
    }
}
