//! What every window shares: what it may read of the screen (`Ctx`), what it answers when
//! offered an action or an engine update (`ModalOutcome`, `Then`), and its text fields.
//!
//! Depends on `action`, `theme` and the incident's state and commands.

use std::collections::HashSet;

use crate::incident::command::Command;
use crate::incident::state::IncidentState;
use crate::tui::action::Pasted;
use crate::tui::theme::Theme;

/// Longest typed input kept (a confirmation word is 4 characters; this is only a guard).
pub(super) const MAX_INPUT: usize = 120;

/// What a window may read of the screen behind it.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The incident, with the update being offered already applied.
    pub state: &'a IncidentState,
    pub theme: Theme,
    pub read_only: bool,
    /// The spinner's frame now.
    pub spinner: &'static str,
    /// Why the engine stopped, once it has.
    pub stopped: Option<&'a str>,
    /// The credentials the engine is working on.
    pub busy: &'a HashSet<String>,
    /// The inventory filter (the `/` prompt's text).
    pub filter: &'a str,
    /// The terminal's size (columns, rows); (0, 0) when not known yet.
    pub size: (u16, u16),
}

/// What came of offering a window an action or an engine update.
#[derive(Debug, Clone, PartialEq)]
pub enum ModalOutcome {
    /// Not for this window: the screen handles it.
    Ignored,
    /// Taken; the window stays open (it may have changed).
    Stay,
    /// Taken; the window stays open, waiting for the engine's answer to this command.
    Send(Command),
    /// Taken; the window closes, and the screen does this.
    Close(Then),
    /// The `/` prompt changed the filter: the inventory shows what matches this now.
    Filter(String),
}

/// What the screen does when a window closes.
#[derive(Debug, Clone, PartialEq)]
pub enum Then {
    Nothing,
    /// Send this command (a question answered yes, a skip with its reason).
    Send(Command),
    /// Say this in the footer.
    Say(String),
    /// Clear the inventory filter.
    ClearFilter,
    /// Quit the screen (the journal keeps everything).
    Quit,
    /// What a `:` command asks.
    Prompt(super::prompt::PromptCommand),
}

/// Adds `c` to a text field unless it holds `max` characters already; whether it did.
pub(super) fn push_char(field: &mut String, c: char, max: usize) -> bool {
    if field.chars().count() < max {
        field.push(c);
        true
    } else {
        false
    }
}

/// The characters of a paste a text field takes: a paste brings its line break along.
pub(super) fn pasted_chars(text: &Pasted) -> impl Iterator<Item = char> + '_ {
    text.0.chars().filter(|c| !c.is_control())
}
