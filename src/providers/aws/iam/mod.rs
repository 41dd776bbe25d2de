//! IAM access keys: the inventory of the scope's users' keys ([`IamInventory`], in
//! `inventory`) and the issuer that mints, tests, deactivates and deletes them
//! ([`IamIssuer`], in `issuer`); here, what both read: a user's keys and their last use.
//!
//! A new key's value is the JSON document `{"AccessKeyId":"…","SecretAccessKey":"…"}`, the
//! shape stored in the user's secret. The secret access key lives only in that
//! `SecretString`; logs carry user names and access key ids only. May depend on the AWS
//! plumbing of `super`, the incident ports and model and the runbook schema only.

mod inventory;
mod issuer;

use aws_sdk_iam::Client as IamClient;
use aws_sdk_iam::types::StatusType;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::{IAM, map_sdk_error, to_chrono, with_context};
use crate::incident::model::Credential;
use crate::incident::ports::ProviderResult;

pub use inventory::IamInventory;
pub use issuer::IamIssuer;

/// An IAM key pair as stored in a secret. The secret half is wiped on drop.
#[derive(Serialize, Deserialize)]
struct KeyPair {
    #[serde(rename = "AccessKeyId")]
    access_key_id: String,
    #[serde(rename = "SecretAccessKey")]
    secret_access_key: String,
}

impl Drop for KeyPair {
    fn drop(&mut self) {
        self.secret_access_key.zeroize();
    }
}

/// One access key of a user.
#[derive(Debug, Clone)]
struct KeyInfo {
    id: String,
    active: bool,
    created: Option<DateTime<Utc>>,
}

/// The IAM user a credential belongs to: `meta["user"]`, else its name.
fn user_of(cred: &Credential) -> String {
    cred.meta
        .get("user")
        .cloned()
        .unwrap_or_else(|| cred.name.clone())
}

fn date(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "at an unknown date".into())
}

/// Lists a user's access keys (IAM allows at most two).
async fn list_keys(client: &IamClient, user: &str) -> ProviderResult<Vec<KeyInfo>> {
    let mut keys = Vec::new();
    let mut pages = client
        .list_access_keys()
        .user_name(user)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| with_context(map_sdk_error(IAM, "ListAccessKeys", e), user))?;
        for k in page.access_key_metadata() {
            let Some(id) = k.access_key_id() else {
                continue;
            };
            keys.push(KeyInfo {
                id: id.to_string(),
                active: k.status() == Some(&StatusType::Active),
                created: k.create_date().and_then(to_chrono),
            });
        }
    }
    Ok(keys)
}

/// When a key was last used, by which service and in which region.
async fn last_used(
    client: &IamClient,
    key_id: &str,
) -> ProviderResult<Option<(DateTime<Utc>, String)>> {
    let out = client
        .get_access_key_last_used()
        .access_key_id(key_id)
        .send()
        .await
        .map_err(|e| with_context(map_sdk_error(IAM, "GetAccessKeyLastUsed", e), key_id))?;
    Ok(out.access_key_last_used().and_then(|u| {
        let at = u.last_used_date().and_then(to_chrono)?;
        let place = match (u.service_name(), u.region()) {
            ("N/A" | "", _) => "unknown service".to_string(),
            (s, "N/A" | "") => s.to_string(),
            (s, r) => format!("{s} ({r})"),
        };
        Some((at, place))
    }))
}
