//! The terminal UI: a ratatui app over the engine's command and update channels.
//!
//! Layout of this module (the ratatui component-template shape, gitui's habits):
//! - `event_loop` — terminal setup and restore, the panic hook, the `select!` loop;
//! - `action` — what keys, the tick and engine updates ask for;
//! - `app` — screen state and `App::update(Action)`, the only place it changes;
//! - `keymap` — the one binding table, feeding keys, footer hints and help;
//! - `modal` — overlays on a stack, the revocation window; `help`, `score`; `overlay` — the
//!   box helpers they are drawn with;
//! - `layout` and `panels` — drawing, which reads `App` only;
//! - `theme` (NO_COLOR), `strings` (every user-facing sentence), `text` (wrapping, times).
//!
//! Depends on `incident` (state, engine commands and updates) and `runbook` (the schema);
//! never on providers: all IO happens in the engine.

pub mod action;
pub mod app;
mod event_loop;
pub mod help;
pub mod keymap;
pub mod layout;
pub mod modal;
pub mod overlay;
pub mod panel;
pub mod panels;
pub mod score;
pub mod strings;
pub mod text;
pub mod theme;

use tokio::sync::mpsc;

use crate::incident::command::{Command, Update};
use crate::incident::state::IncidentState;

pub use action::Action;
pub use app::App;
pub use event_loop::restore_terminal;
pub use layout::render;
pub use modal::Modal;
pub use panel::Panel;

/// What the screen needs to run.
pub struct TuiConfig {
    /// Folded from the journal so far.
    pub state: IncidentState,
    /// To the engine.
    pub commands: mpsc::UnboundedSender<Command>,
    /// From the engine.
    pub updates: mpsc::UnboundedReceiver<Update>,
    pub onboarding: bool,
    pub read_only: bool,
    /// The incident folder (journal, report).
    pub journal_dir: std::path::PathBuf,
}

/// Sets up the terminal, runs until the operator quits, and always restores the terminal.
pub async fn run(config: TuiConfig) -> anyhow::Result<()> {
    event_loop::run(config).await
}

/// Restores the terminal (raw mode off, alternate screen left, cursor shown) before the
/// default panic hook prints, so a crash never leaves a responder with a garbled terminal.
pub fn install_panic_hook() {
    event_loop::install_panic_hook();
}
