//! The `:` prompt (as k9s and vim users expect: `:note TEXT`, `:report`, `:help`, `:q`) and
//! the note window (`n`): a line of text, for the timeline and the report.
//!
//! Depends on `action`, `overlay`, `strings`, `text` and the incident's commands.

use ratatui::Frame;
use ratatui::text::{Line, Span};

use super::window::{Ctx, MAX_INPUT, ModalOutcome, Then, pasted_chars, push_char};
use crate::incident::command::Command;
use crate::tui::action::Action;
use crate::tui::{overlay, strings, text};

/// A line typed in a prompt.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prompt {
    pub text: String,
    /// Why the last Enter did nothing.
    pub error: Option<String>,
}

/// What a `:` command asks of the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptCommand {
    Note(String),
    /// Mark the selected key (a suspect) known, with why.
    Known(String),
    Report,
    Help,
    Quit,
}

/// The longest note kept (a note is a line, not a document).
const MAX_NOTE: usize = MAX_INPUT * 4;

impl Prompt {
    /// Typing, erasing and pasting; `Some(outcome)` for anything else.
    fn edit(&mut self, action: &Action, max: usize) -> Option<ModalOutcome> {
        match action {
            Action::Type(c) => {
                push_char(&mut self.text, *c, max);
            }
            Action::PasteText(t) => {
                for c in pasted_chars(t) {
                    push_char(&mut self.text, c, max);
                }
            }
            Action::Erase => {
                self.text.pop();
            }
            Action::Close => return Some(ModalOutcome::Close(Then::Nothing)),
            Action::Submit => return None,
            _ => return Some(ModalOutcome::Ignored),
        }
        self.error = None;
        Some(ModalOutcome::Stay)
    }

    /// The `:` prompt: Enter runs the command, Esc closes.
    pub fn update_command(&mut self, action: &Action) -> ModalOutcome {
        if let Some(o) = self.edit(action, MAX_NOTE) {
            return o;
        }
        match parse(&self.text) {
            Ok(cmd) => ModalOutcome::Close(Then::Prompt(cmd)),
            Err(why) => {
                self.error = Some(why);
                ModalOutcome::Stay
            }
        }
    }

    /// The note window: Enter journals the note, Esc closes.
    pub fn update_note(&mut self, action: &Action) -> ModalOutcome {
        if let Some(o) = self.edit(action, MAX_NOTE) {
            return o;
        }
        let text = self.text.trim().to_string();
        if text.is_empty() {
            self.error = Some(strings::NOTE_EMPTY.to_string());
            return ModalOutcome::Stay;
        }
        ModalOutcome::Close(Then::Send(Command::Note { text }))
    }

    pub fn draw_note(&self, f: &mut Frame, ctx: &Ctx) {
        let t = ctx.theme;
        let w = overlay::width(f.area(), 80);
        let iw = w.saturating_sub(2) as usize;
        let mut lines = text::wrapped("", t.text(), strings::NOTE_QUESTION, t.text(), iw);
        lines.push(Line::from(""));
        lines.extend(text::wrapped(
            "> ",
            t.accent(),
            &format!("{}▏", self.text),
            t.text(),
            iw,
        ));
        if let Some(e) = &self.error {
            lines.extend(text::wrapped("✗ ", t.bad(), e, t.bad(), iw));
        }
        lines.push(Line::from(Span::styled(strings::NOTE_KEYS, t.dim())));
        overlay::boxed(f, w, strings::NOTE_TITLE, t.accent(), lines);
    }
}

/// A `:` command: `note TEXT`, `known WHY`, `report`, `help`, `q` (and their long and short forms).
pub fn parse(line: &str) -> Result<PromptCommand, String> {
    let line = line.trim().trim_start_matches(':').trim();
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    match word {
        "note" | "n" => {
            let text = rest.trim();
            if text.is_empty() {
                Err(strings::NOTE_EMPTY.to_string())
            } else {
                Ok(PromptCommand::Note(text.to_string()))
            }
        }
        "known" => {
            let why = rest.trim();
            if why.is_empty() {
                Err(strings::KNOWN_EMPTY.to_string())
            } else {
                Ok(PromptCommand::Known(why.to_string()))
            }
        }
        "report" | "r" => Ok(PromptCommand::Report),
        "help" | "h" | "?" => Ok(PromptCommand::Help),
        "q" | "quit" | "exit" => Ok(PromptCommand::Quit),
        "" => Err(strings::PROMPT_COMMANDS.to_string()),
        other => Err(strings::unknown_command(other)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn commands_parse_as_k9s_users_type_them() {
        assert_eq!(
            parse("note billing paged"),
            Ok(PromptCommand::Note("billing paged".into()))
        );
        assert_eq!(parse(":q"), Ok(PromptCommand::Quit));
        assert_eq!(parse(" report "), Ok(PromptCommand::Report));
        assert_eq!(parse("help"), Ok(PromptCommand::Help));
        assert!(parse("note").is_err());
        assert_eq!(
            parse(":known made by Dana for backups"),
            Ok(PromptCommand::Known("made by Dana for backups".into()))
        );
        assert!(parse("known  ").is_err());
        assert!(parse("revoke").unwrap_err().contains(":note"));
    }
}
