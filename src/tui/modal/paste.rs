//! The hidden input for a key made by hand in the issuer's console: what to do there, and
//! the pasted key, shown only as a count of characters. The window's copy is zeroized when it
//! is sent or the window closes; the engine tests the key and stages it.
//!
//! Depends on `action`, `overlay`, `strings`, `text` and the incident's commands.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use zeroize::Zeroizing;

use super::window::{Ctx, ModalOutcome, Then, pasted_chars, push_char};
use crate::incident::command::{Command, PastedKey, Update};
use crate::incident::event::Event;
use crate::tui::action::Action;
use crate::tui::{overlay, strings, text};

/// Longest key the paste input takes (provider keys are well under this).
const MAX_PASTE: usize = 512;

/// The hidden input for a key made by hand: what to do in the console, and the pasted key,
/// shown only as a count of characters. Zeroized when it closes.
#[derive(Clone, PartialEq)]
pub struct PasteModal {
    pub credential: String,
    pub name: String,
    pub instructions: String,
    /// What was pasted or typed. Never drawn, never printed by `Debug`.
    pub input: Zeroizing<String>,
    pub error: Option<String>,
    /// Sent; waiting for the engine to test and stage it.
    pub pending: bool,
}

impl std::fmt::Debug for PasteModal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasteModal")
            .field("credential", &self.credential)
            .field("typed", &self.input.chars().count())
            .field("error", &self.error)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl PasteModal {
    /// Keys typed, erased or pasted; Enter; Esc.
    pub fn update(&mut self, action: &Action, ctx: &Ctx) -> ModalOutcome {
        match action {
            Action::Type(c) => {
                push_char(&mut self.input, *c, MAX_PASTE);
            }
            Action::PasteText(text) => {
                for c in pasted_chars(text) {
                    push_char(&mut self.input, c, MAX_PASTE);
                }
            }
            Action::Erase => {
                self.input.pop();
            }
            Action::Submit => return self.submit(ctx),
            Action::Close => return ModalOutcome::Close(Then::Nothing),
            _ => return ModalOutcome::Ignored,
        }
        ModalOutcome::Stay
    }

    fn submit(&mut self, ctx: &Ctx) -> ModalOutcome {
        if self.pending {
            return ModalOutcome::Stay;
        }
        if let Some(why) = ctx.stopped {
            self.error = Some(strings::engine_stopped(why));
            return ModalOutcome::Stay;
        }
        if self.input.trim().is_empty() {
            self.error = Some(strings::PASTE_EMPTY.to_string());
            return ModalOutcome::Stay;
        }
        self.pending = true;
        self.error = None;
        let key = PastedKey::new(&self.input);
        // The window's copy goes at once; the engine holds the only one now.
        self.input = Zeroizing::new(String::new());
        ModalOutcome::Send(Command::PasteKey {
            credential: self.credential.clone(),
            key,
        })
    }

    /// The engine's answer: stored (the window closes), or refused (it says why).
    pub fn on_engine(&mut self, update: &Update) -> ModalOutcome {
        match update {
            Update::Refused { message } => {
                self.error = Some(message.clone());
                self.pending = false;
                ModalOutcome::Stay
            }
            Update::Event {
                event: Event::Issued { credential, .. },
                ..
            } if *credential == self.credential => {
                ModalOutcome::Close(Then::Say(strings::paste_stored(&self.name)))
            }
            Update::Event {
                event:
                    Event::AttemptFailed {
                        credential: Some(credential),
                        operation,
                        why,
                        ..
                    },
                ..
            } if operation == "pasted key" && *credential == self.credential => {
                self.error = Some(why.clone());
                self.pending = false;
                ModalOutcome::Stay
            }
            _ => ModalOutcome::Ignored,
        }
    }

    /// Draws the window. Reads only; the key itself is never drawn.
    pub fn draw(&self, f: &mut Frame, ctx: &Ctx) {
        let t = ctx.theme;
        let w = overlay::width(f.area(), 90);
        let inner_w = w.saturating_sub(2) as usize;
        let mut lines = text::wrapped("", t.text(), &self.instructions, t.text(), inner_w);
        lines.push(Line::from(""));
        let n = self.input.chars().count();
        lines.push(Line::from(vec![
            Span::styled("> ", t.accent()),
            Span::raw(format!("{}▏", "•".repeat(n.min(32)))),
            Span::styled(strings::pasted_count(n), t.dim()),
        ]));
        if self.pending {
            lines.push(Line::from(Span::styled(strings::PASTE_TESTING, t.dim())));
        }
        if let Some(e) = &self.error {
            lines.extend(text::wrapped("✗ ", t.bad(), e, t.bad(), inner_w));
        }
        lines.extend(text::wrapped(
            "",
            t.dim(),
            strings::PASTE_KEYS,
            t.dim(),
            inner_w,
        ));
        overlay::boxed(f, w, &strings::paste_title(&self.name), t.warn(), lines);
    }
}
