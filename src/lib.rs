//! breachbook: a terminal runbook for the first hours after a credential leak.
//!
//! Layers: `runbook` (the YAML language) ← `incident` (the domain, engine, journal, report)
//! ← `providers` (real systems and the drill world, behind the traits of `providers`) and
//! `tui` (the screen). `cli` wires them together for the binary.

pub mod cli;
pub mod incident;
pub mod launch;
pub mod logging;
pub mod providers;
pub mod runbook;
pub mod tui;
