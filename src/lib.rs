//! breachbook: a terminal runbook for the first hours after a credential leak.
//!
//! Layers, each using only those below it:
//! - `runbook`: the YAML language (schema, loading, validation with located errors).
//! - `incident`: the domain. Credentials, the rotation state machine, journaled events and
//!   state as their fold, the rules (pure checks), the engine that runs them, the journal,
//!   the report, and the ports (`incident::ports`): the traits every provider implements.
//!   Depends on `runbook` only: never on `providers`, `tui`, `cli`, a cloud SDK or an HTTP
//!   client.
//! - `providers`: real systems (AWS, the AI providers, Braintrust) and the drill world,
//!   implementing the ports. Depends on `incident` and `runbook`.
//! - `tui`: the screen. Speaks to the engine in `incident::command`s and follows its
//!   `Update`s; depends on `incident` and `runbook`.
//! - `cli` (clap definitions) and `launch` (each job of the binary: load, open the journal,
//!   build the provider set, start the engine, run the TUI or the headless driver) wire the
//!   layers together; `logging` sets up the log file.
//! - `fsutil`: every file and folder breachbook writes or reads from a path, one way (no
//!   links followed in the state folder, 0600/0700, bounded reads); `printable`: text
//!   stripped of control characters and escape sequences. Leaves any layer may use.

pub mod cli;
pub mod fsutil;
pub mod incident;
pub mod launch;
pub mod logging;
pub mod printable;
pub mod providers;
pub mod runbook;
pub mod tui;
