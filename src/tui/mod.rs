//! The terminal UI: a ratatui app over the engine's command and update channels.
//!
//! Layout of this module (the ratatui component-template shape, gitui's habits). State:
//! - `action` — what keys, the tick and engine updates ask for;
//! - `app` — screen state and `App::update(Action)`, the only place it changes (`act`: what
//!   the incident keys do; `follow`: how the screen follows the engine);
//! - `modal` — windows on a stack, each owning its input (`update` → `ModalOutcome`) and its
//!   drawing: the revocation window, the paste window, the questions, help, the score;
//! - `panel` — `Panel`, the focus id both state and drawing name;
//! - `keymap` — the one binding table, feeding keys, footer hints and help.
//!
//! Drawing, which only reads: `layout` (the whole screen), `panels` (the six panels),
//! `overlay` (the box helpers windows are drawn with). And `event_loop` (terminal setup and
//! restore, the panic hook, the `select!` loop), `signals` (the signals `kill` sends),
//! `theme` (NO_COLOR), `strings` (every user-facing sentence), `text` (wrapping, times).
//!
//! Arrows run one way: `event_loop` → `layout` → `panels` → `app` → `modal` → `keymap`,
//! `overlay`, `panel` → `action`, `strings`, `text`, `theme`. Windows never see `App`; they
//! read the screen through `modal::Ctx`.
//!
//! Depends on `incident` (state, engine commands and updates) and `runbook` (the schema);
//! never on providers: all IO happens in the engine.

pub mod action;
pub mod app;
mod event_loop;
pub mod keymap;
pub mod layout;
pub mod modal;
pub mod overlay;
pub mod panel;
pub mod panels;
pub mod signals;
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

/// How the screen was left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The incident.
    pub id: String,
    /// It is not finished: `breachbook resume ID` goes on.
    pub open: bool,
    /// The screen was left because the process was sent this signal (SIGTERM, SIGINT,
    /// SIGHUP, SIGQUIT), not by the operator.
    pub signal: Option<signals::Caught>,
}

/// Sets up the terminal, runs until the operator quits, and always restores the terminal.
pub async fn run(config: TuiConfig) -> anyhow::Result<Exit> {
    event_loop::run(config).await
}

/// Restores the terminal (raw mode off, alternate screen left, cursor shown) before the
/// default panic hook prints, so a crash never leaves a responder with a garbled terminal.
pub fn install_panic_hook() {
    event_loop::install_panic_hook();
}
