//! The runbook language: schema, loading with located errors, validation, the `check`
//! command and the shipped runbooks.
//!
//! Depends on nothing else in the crate.

pub mod check;
pub mod diagnostic;
pub mod duration;
pub mod guard;
pub mod load;
pub mod schema;
pub mod shipped;
pub mod validate;

/// The JSON Schema of the runbook format, pretty-printed (for editors).
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(schema::Runbook);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
