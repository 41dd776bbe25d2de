//! The concrete providers: one file per real system plus `sim/`, the drill world, each
//! implementing the domain's ports (`incident::ports`: the traits, their error type, the
//! `Clock` every wait goes through, and `ProviderSet`). The engine only sees the ports.
//!
//! `http` is the HTTP providers' shared plumbing (`AdminApi`); `openai`, `anthropic`,
//! `gemini` and `braintrust` each add what sets them apart, `google` the Google Cloud sign-in
//! and API Keys API that Gemini's use with a service account; `aws` holds Secrets Manager,
//! IAM and CloudTrail; `live` puts the real ones together for a runbook's scope; `sim` is
//! the drill world; `disk` finds copies of exposed keys in files and git history;
//! `vault` is HashiCorp Vault KV v2; `github` writes new keys into GitHub Actions secrets.
//!
//! May depend on the incident domain (its ports, model, events and state) and the runbook
//! schema; never on the terminal UI, the command line or `launch`. Errors are thiserror
//! types (`ProviderError`, `live::ConnectError`, `sim::SimError`), and nothing here prints.

pub mod anthropic;
pub mod aws;
pub mod braintrust;
pub mod disk;
pub mod gemini;
pub mod github;
pub mod google;
pub mod http;
pub mod live;
pub mod openai;
pub mod sim;
pub mod vault;
