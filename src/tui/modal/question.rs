//! The small windows that ask: y/n before a step runs (`Ask`), quit while work is in flight,
//! and why a step or a key is skipped (`Reason`).
//!
//! Depends on `action`, `overlay`, `strings`, `text` and the incident's commands.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::window::{Ctx, MAX_INPUT, ModalOutcome, Then, pasted_chars, push_char};
use crate::incident::command::Command;
use crate::tui::action::Action;
use crate::tui::{overlay, strings, text};

/// A y/n question before a step runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub title: String,
    pub lines: Vec<String>,
    /// Sent on `y`.
    pub yes: Command,
}

/// What a skip is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipTarget {
    Step(String),
    Credential(String),
}

/// The reason prompt of a skip.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub target: SkipTarget,
    pub question: String,
    /// Skipping it counts as a skipped safety check.
    pub critical: bool,
    pub input: String,
    pub error: Option<String>,
}

impl Ask {
    /// y sends the step's command; n or Esc closes.
    pub fn update(&mut self, action: &Action) -> ModalOutcome {
        match action {
            Action::Answer(true) => ModalOutcome::Close(Then::Send(self.yes.clone())),
            Action::Answer(false) | Action::Close => ModalOutcome::Close(Then::Nothing),
            _ => ModalOutcome::Ignored,
        }
    }

    pub fn draw(&self, f: &mut Frame, ctx: &Ctx) {
        let t = ctx.theme;
        let w = overlay::width(f.area(), 96);
        let inner_w = w.saturating_sub(2) as usize;
        let mut lines = Vec::new();
        for l in &self.lines {
            // A command keeps its indent on every wrapped line.
            match l.strip_prefix("  ") {
                Some(cmd) => lines.extend(text::wrapped("  ", t.bold(), cmd, t.bold(), inner_w)),
                None => lines.extend(text::wrapped("", t.text(), l, t.text(), inner_w)),
            }
        }
        overlay::boxed(f, w, &self.title, t.accent(), lines);
    }
}

/// Quit while work is in flight: y (or a second Ctrl-C) quits, n or Esc stays.
pub fn quit_update(action: &Action) -> ModalOutcome {
    match action {
        Action::Answer(true) => ModalOutcome::Close(Then::Quit),
        Action::Answer(false) | Action::Close => ModalOutcome::Close(Then::Nothing),
        _ => ModalOutcome::Ignored,
    }
}

pub fn quit_draw(f: &mut Frame, ctx: &Ctx) {
    let t = ctx.theme;
    let area = f.area();
    let w = overlay::width(area, 72);
    let n = ctx.state.step_counts();
    let left = n.total - n.done - n.skipped;
    let words = strings::quit_question(ctx.busy.len(), left, &ctx.state.id);
    let lines = text::wrapped("", t.text(), &words, t.text(), w.saturating_sub(2) as usize);
    let h = overlay::height(lines.len());
    let inner = overlay::frame_box(
        f,
        overlay::centered(area, w, h),
        strings::QUIT_TITLE,
        t.warn(),
    );
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

impl Reason {
    /// Keys typed, erased or pasted; Enter skips with the reason; Esc closes.
    pub fn update(&mut self, action: &Action) -> ModalOutcome {
        match action {
            Action::Type(c) => {
                push_char(&mut self.input, *c, MAX_INPUT * 2);
            }
            Action::PasteText(text) => {
                for c in pasted_chars(text) {
                    push_char(&mut self.input, c, MAX_INPUT * 2);
                }
            }
            Action::Erase => {
                self.input.pop();
            }
            Action::Submit => return self.submit(),
            Action::Close => return ModalOutcome::Close(Then::Nothing),
            _ => return ModalOutcome::Ignored,
        }
        ModalOutcome::Stay
    }

    fn submit(&mut self) -> ModalOutcome {
        let why = self.input.trim().to_string();
        if why.is_empty() {
            self.error = Some(strings::SKIP_NEEDS_REASON.to_string());
            return ModalOutcome::Stay;
        }
        let cmd = match &self.target {
            SkipTarget::Step(step) => Command::SkipStep {
                step: step.clone(),
                why,
            },
            SkipTarget::Credential(credential) => Command::SkipCredential {
                credential: credential.clone(),
                why,
            },
        };
        ModalOutcome::Close(Then::Send(cmd))
    }

    pub fn draw(&self, f: &mut Frame, ctx: &Ctx) {
        let t = ctx.theme;
        let w = overlay::width(f.area(), 80);
        let inner_w = w.saturating_sub(2) as usize;
        let mut lines = text::wrapped("", t.text(), &self.question, t.text(), inner_w);
        if self.critical {
            lines.extend(text::wrapped(
                "",
                t.warn(),
                strings::SKIP_CRITICAL,
                t.warn(),
                inner_w,
            ));
        }
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            Span::styled("> ", t.accent()),
            Span::raw(format!("{}▏", self.input)),
        ]));
        if let Some(e) = &self.error {
            lines.extend(text::wrapped("✗ ", t.bad(), e, t.bad(), inner_w));
        }
        lines.push(Line::from(Span::styled(strings::SKIP_KEYS, t.dim())));
        overlay::boxed(f, w, strings::SKIP_TITLE, t.warn(), lines);
    }
}
