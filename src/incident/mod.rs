//! The incident domain: what breachbook knows and decides about an incident.
//!
//! - `model`: credentials, their locations, usage samples, masking and fingerprints.
//! - `rotation`: the rotation state machine of one credential.
//! - `event`: everything that happens, as journaled events (`DangerKind`, `Via`).
//! - `state` (with `timeline`): incident state as a pure fold of events, and what the
//!   timeline says about each.
//! - `command` and `refusal`: what the TUI, the autopilot and scripts ask, what the engine
//!   answers, and why it refuses.
//! - `rules`: pure checks: the action table, pre-flight, typed words, step completion.
//! - `provenance`: who made keys created during the exposure window, and the suspect verdict.
//! - `ports`: the traits providers implement, their errors, the clock, the drill.
//! - `engine`: the loop that checks commands, journals, and runs work through the ports;
//!   `retries`: how providers report the retries they make below it.
//! - `autopilot`: drives an engine without a terminal (the autopilot, scripts).
//! - `journal`: the hash-chained journal on disk (its files through `crate::fsutil`);
//!   `report`, `redact`.
//!
//! Depends on `runbook` (the schema) only. It never names a provider, the terminal UI, the
//! CLI, a cloud SDK or an HTTP client: providers come in through `ports`.

pub mod autopilot;
pub mod command;
pub mod engine;
pub mod event;
pub mod journal;
pub mod model;
pub mod ports;
pub mod provenance;
pub mod redact;
pub mod refusal;
pub mod report;
pub mod retries;
pub mod rotation;
pub mod rules;
pub mod state;
pub mod timeline;
