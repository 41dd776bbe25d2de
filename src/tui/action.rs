//! What the screen is asked to do. Keys (through the top window's bindings or the screen's),
//! the tick and engine updates all become an `Action`; only `App::update` changes state (the
//! ratatui component-template pattern), offering each to the top window first.
//!
//! Depends on the engine's `Update` type only.

use crate::incident::command::Update;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    // Move.
    Up,
    Down,
    /// A page up or down in the focused list.
    PageUp,
    PageDown,
    /// The first or the last row of the focused list.
    First,
    Last,
    NextPanel,
    PrevPanel,
    // Act on the incident.
    /// Run the current (or selected) step's action.
    Run,
    /// Tick the selected item of a manual step.
    TickItem,
    /// Retry the selected failed key.
    Retry,
    /// Skip the selected step, or the selected key in Rotation.
    Skip,
    /// Open the hidden input for a key made by hand.
    Paste,
    /// Reopen the selected skipped step (or the one a blocked step waits for).
    Reopen,
    /// Write a note for the timeline and the report.
    Note,
    /// Text pasted into the terminal (bracketed paste).
    PasteText(Pasted),
    // View.
    Filter,
    /// The `:` prompt.
    Command,
    Sort,
    Help,
    /// Esc: close, clear, go back.
    Back,
    Quit,
    // Inside the top overlay.
    /// A typed character.
    Type(char),
    Erase,
    /// Enter in an overlay.
    Submit,
    /// Tab in the revocation window: word ↔ override phrase.
    SwitchField,
    /// y / n.
    Answer(bool),
    /// Close the top overlay.
    Close,
    /// Score screen: show (or write) the report.
    ReportPath,
    /// Scroll a window's text.
    Scroll(Scroll),
    // From the loop.
    /// The clock tick: spinners and the header clock move.
    Tick,
    /// Something from the engine (boxed: events are large, keys are small).
    Engine(Box<Update>),
}

/// Which way a window's text scrolls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scroll {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
}

/// Text pasted into the terminal: may be a key, so it is zeroized and never printed.
#[derive(Clone, PartialEq)]
pub struct Pasted(pub zeroize::Zeroizing<String>);

impl std::fmt::Debug for Pasted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pasted({} characters)", self.0.chars().count())
    }
}
