//! The incident domain: credentials, the rotation state machine, events, state as a fold
//! of events, the journal, the engine that drives rotations, and the report.
//!
//! Depends on `runbook` (the schema) only. Its ports (`ports`) are the traits the providers
//! implement; it never names a provider, the terminal UI, the CLI, a cloud SDK or an HTTP
//! client.

pub mod autopilot;
pub mod command;
pub mod engine;
pub mod event;
pub mod fsutil;
pub mod journal;
pub mod model;
pub mod ports;
pub mod redact;
pub mod refusal;
pub mod report;
pub mod rotation;
pub mod rules;
pub mod state;
pub mod timeline;
