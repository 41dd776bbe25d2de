//! The concrete providers: one file per real system plus `sim/`, the drill world, each
//! implementing the domain's ports (`incident::ports`: the traits, their error type and
//! `ProviderSet`). The engine only sees the ports.
//!
//! May depend on the incident domain and the runbook schema, never on the terminal UI.

pub mod anthropic;
pub mod aws;
pub mod braintrust;
pub mod gemini;
pub mod http;
pub mod live;
pub mod openai;
pub mod sim;
