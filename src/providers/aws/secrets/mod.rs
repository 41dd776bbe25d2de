//! AWS Secrets Manager: the inventory of keys stored in secrets ([`SecretsManagerInventory`],
//! in `inventory`) and the store that stages, reads back, promotes and replaces values
//! ([`SecretsManagerStore`], in `store`); here, the staging labels and what both need to
//! read and wipe JSON documents.
//!
//! Values are read only to find which keys a secret holds (masked hint and keyed
//! fingerprint) and to edit one field of a JSON document; they are held in
//! `SecretString`s and parsed documents are wiped before they are dropped. Logs carry
//! secret names and version ids only. May depend on the AWS plumbing of `super`, the
//! incident ports and model and the runbook schema only.

mod batch;
mod inventory;
mod store;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use zeroize::Zeroize;

use super::{SECRETS_MANAGER, map_sdk_error, with_context};
use crate::incident::ports::{ProviderError, ProviderResult};
use crate::runbook::schema::ExposureWindow;

pub use inventory::SecretsManagerInventory;
pub(crate) use inventory::combine;
pub use store::SecretsManagerStore;
pub(crate) use store::{field_of, restore_field};

/// Staging label of the version in use.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// Staging label of a version waiting to become current.
pub const AWSPENDING: &str = "AWSPENDING";
/// The label Secrets Manager moves to the version that was current before a promotion.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// Whether a value stored at `place` and last changed at `changed` is exposed, and why.
pub(crate) fn exposure_of(
    place: &str,
    changed: Option<DateTime<Utc>>,
    exposure: &ExposureWindow,
) -> (bool, String) {
    match changed {
        Some(c) if c < exposure.start => (
            true,
            format!(
                "readable in {place}; unchanged since {} — before the exposure began",
                c.format("%Y-%m-%d %H:%M UTC")
            ),
        ),
        Some(c) => (
            false,
            format!(
                "in scope ({place}) but changed {} — after the exposure began",
                c.format("%Y-%m-%d %H:%M UTC")
            ),
        ),
        None => (
            true,
            format!("readable in {place}; no change date known — treated as exposed"),
        ),
    }
}

/// Parses a secret value as a JSON object (`None` for plain text or other JSON).
pub(crate) fn parse_object(value: &SecretString) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(value.expose_secret()) {
        Ok(Value::Object(m)) => Some(m),
        Ok(mut other) => {
            wipe(&mut other);
            None
        }
        Err(_) => None,
    }
}

/// Overwrites every string in a parsed document before it is dropped.
fn wipe(v: &mut Value) {
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(a) => a.iter_mut().for_each(wipe),
        Value::Object(m) => wipe_map(m),
        _ => {}
    }
}

pub(crate) fn wipe_map(m: &mut Map<String, Value>) {
    m.values_mut().for_each(wipe);
}

/// Serializes a document into a secret, wiping the parsed form.
fn to_secret(mut doc: Map<String, Value>) -> ProviderResult<SecretString> {
    let text = serde_json::to_string(&doc).map_err(|e| ProviderError::Validation {
        provider: SECRETS_MANAGER.into(),
        message: format!("could not write the JSON document: {e}"),
    });
    wipe_map(&mut doc);
    text.map(SecretString::from)
}

/// Writes the AWS error of `op` on `name` with context.
fn sm_err<E>(op: &str, name: &str, e: aws_sdk_secretsmanager::error::SdkError<E>) -> ProviderError
where
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    with_context(map_sdk_error(SECRETS_MANAGER, op, e), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_is_decided_by_the_change_date() {
        let start = DateTime::<Utc>::from_timestamp(1_778_544_000, 0).unwrap_or_default();
        let w = ExposureWindow { start, end: None };
        let (e, why) = exposure_of("X", Some(start - chrono::Duration::days(3)), &w);
        assert!(e && why.contains("before the exposure"), "{why}");
        let (e, why) = exposure_of("X", Some(start + chrono::Duration::hours(1)), &w);
        assert!(!e && why.contains("after the exposure"), "{why}");
        assert!(exposure_of("X", None, &w).0);
    }
}
