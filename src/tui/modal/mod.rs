//! Windows over the screen, on a stack (as gitui's popups). The top one gets each key first
//! (its group of `keymap::BINDINGS` decides, so help and its footer list the same keys),
//! then each action and engine update, and says what came of it (`ModalOutcome`): not for
//! it, it stays, it sends a command, or it closes. Each window owns its input and its
//! drawing:
//! - `revoke` — THE REVOCATION WINDOW, the one confirmation path for everything destructive
//!   (`Dangerous`): the evidence, no default, a typed word, an extra typed override when a
//!   pre-flight check fails; `dangerous_checks` lives there;
//! - `paste` — the hidden input for a key made by hand;
//! - `question` — y/n before a step, quit while work is in flight, the reason of a skip;
//! - `help` — the `?` window generated from the keymap (it scrolls), and the onboarding tips:
//!   what a panel is for, what a term means where it first appears;
//! - `score` — the drill's final score;
//! - `prompt` — the `:` prompt and the note window.
//!
//! The `/` and `:` prompts have no box: their text is drawn in the footer.
//!
//! `window` holds what they share: `Ctx` (what a window may read of the screen, never `App`),
//! `ModalOutcome` and `Then` (what it answers), its text fields.
//!
//! Windows depend on `action`, `keymap`, `overlay`, `panel`, `strings`, `text`, `theme` and
//! the incident's state and commands — never on `app`, `layout` or `panels`.

mod help;
mod paste;
mod prompt;
mod question;
mod revoke;
mod score;
mod window;

use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::text::{Line, Span};

use super::action::Action;
use super::keymap::{self, Group, KeyOutcome};
use super::panel::Panel;
use super::strings;
use crate::incident::command::Update;
use window::{MAX_INPUT, pasted_chars, push_char};

pub use help::Term;
pub use paste::PasteModal;
pub use prompt::{Prompt, PromptCommand};
pub use question::{Ask, Reason, SkipTarget};
pub use revoke::{
    Field, RevokeModal, dangerous_checks, needs_override, next_dangerous, override_phrase_for,
};
pub use window::{Ctx, ModalOutcome, Then};

/// One window.
#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    /// The `?` key list, scrolled this many rows.
    Help(usize),
    /// Onboarding: what a panel is for, the first time it gets focus.
    Explain(Panel),
    /// Onboarding: what a term means, where it first appears.
    Term(Term),
    /// The `:` prompt.
    Command(Prompt),
    /// A note for the timeline and the report.
    Note(Prompt),
    /// y/n before running a step.
    Ask(Ask),
    /// The typed confirmation of one dangerous action.
    Revoke(RevokeModal),
    /// Why a step or a key is skipped.
    Reason(Reason),
    /// Quit while work is in flight?
    Quit,
    /// The drill's final score, scrolled this many rows.
    Score(usize),
    /// The `/` prompt (drawn in the footer; the list filters as you type).
    Filter,
    /// The hidden input for a key made by hand in the issuer's console.
    Paste(PasteModal),
}

impl Modal {
    /// The group of `keymap::BINDINGS` this window reads its keys from.
    pub fn group(&self) -> Group {
        match self {
            Modal::Help(_) => Group::Help,
            Modal::Explain(_) | Modal::Term(_) => Group::Tip,
            Modal::Command(_) => Group::Prompt,
            Modal::Note(_) => Group::Note,
            Modal::Ask(_) => Group::Question,
            Modal::Revoke(_) => Group::Revoke,
            Modal::Reason(_) => Group::Skip,
            Modal::Quit => Group::Quit,
            Modal::Score(_) => Group::Score,
            Modal::Filter => Group::Filter,
            Modal::Paste(_) => Group::Paste,
        }
    }

    /// What this window does with a key when it is on top: its bindings decide.
    pub fn on_key(&self, key: &KeyEvent) -> KeyOutcome {
        keymap::in_window(self.group(), key)
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
            Modal::Command(p) => p.update_command(action),
            Modal::Note(p) => p.update_note(action),
            Modal::Help(scroll) => help::update(scroll, action, ctx),
            Modal::Score(scroll) => score::update(scroll, action, ctx),
            Modal::Explain(_) | Modal::Term(_) => match action {
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
            Modal::Help(scroll) => help::draw(f, *scroll, ctx),
            Modal::Explain(p) => help::explain(f, p.title(), p.explanation(), ctx),
            Modal::Term(t) => help::explain(f, t.title(), t.explanation(), ctx),
            Modal::Command(_) => {}
            Modal::Note(p) => p.draw_note(f, ctx),
            Modal::Score(scroll) => score::draw(f, *scroll, ctx),
            Modal::Filter => {}
            Modal::Ask(a) => a.draw(f, ctx),
            Modal::Reason(r) => r.draw(f, ctx),
            Modal::Quit => question::quit_draw(f, ctx),
            Modal::Revoke(m) => m.draw(f, ctx),
            Modal::Paste(m) => m.draw(f, ctx),
        }
    }

    /// The footer while this window is on top: its keys, from the keymap.
    pub fn footer(&self, ctx: &Ctx) -> Line<'static> {
        let t = ctx.theme;
        let keys = keymap::window_hints(self.group())
            .into_iter()
            .map(|(label, help)| format!("{label} {help}"))
            .collect::<Vec<_>>()
            .join(" · ");
        let prompt = match self {
            Modal::Filter => {
                return Line::from(vec![
                    Span::styled(format!(" {}", strings::FILTER_PROMPT), t.accent()),
                    Span::raw(format!("{}▏", ctx.filter)),
                    Span::styled(format!("  {keys}"), t.dim()),
                ]);
            }
            Modal::Command(p) => {
                let tail = match &p.error {
                    // Why the last Enter did nothing, in place of the list of commands.
                    Some(e) => Span::styled(format!("  ✗ {e}"), t.bad()),
                    None => {
                        Span::styled(format!("  {keys} · {}", strings::PROMPT_COMMANDS), t.dim())
                    }
                };
                return Line::from(vec![
                    Span::styled(" :", t.accent()),
                    Span::raw(format!("{}▏", p.text)),
                    tail,
                ]);
            }
            Modal::Note(_) => Some(strings::PROMPT_NOTE),
            Modal::Revoke(_) => Some(strings::PROMPT_WORD),
            Modal::Paste(_) => Some(strings::PROMPT_PASTE),
            Modal::Reason(_) => Some(strings::PROMPT_REASON),
            _ => None,
        };
        let text = match prompt {
            Some(p) => format!(" {p} · {keys}"),
            None => format!(" {keys}"),
        };
        Line::from(Span::styled(text, t.accent()))
    }
}

impl Modal {
    /// Whether this window is an onboarding explanation (the drill clock stands still while
    /// it is open).
    pub fn is_explanation(&self) -> bool {
        matches!(self, Modal::Explain(_) | Modal::Term(_))
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
