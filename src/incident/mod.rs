//! The incident domain: credentials, the rotation state machine, events, state as a fold
//! of events, the journal, the engine that drives rotations, and the report.
//!
//! Depends on `runbook` (the schema) and on the provider *traits* in `providers`; never on
//! the terminal UI or on a concrete cloud SDK.

pub mod autopilot;
pub mod engine;
pub mod event;
pub mod fsutil;
pub mod journal;
pub mod model;
pub mod report;
pub mod rotation;
pub mod state;
