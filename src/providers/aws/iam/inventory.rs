//! The IAM inventory: every access key of the scope's users, with where each is stored
//! and whether it was exposed.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_iam::Client as IamClient;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use tokio::sync::mpsc;

use secrecy::SecretString;

use super::{KeyInfo, date, last_used, list_keys};
use crate::incident::model::{Credential, Location, LocationKind, mask};
use crate::incident::ports::{Inventory, ProviderError, ProviderResult};
use crate::providers::aws::secrets::{AWSCURRENT, parse_object, wipe_map};
use crate::providers::aws::{Aws, IAM, SECRETS_MANAGER, map_sdk_error, to_chrono};
use crate::runbook::schema::{ExposureWindow, IamScope, Scope};

/// Users whose keys are read at once.
const USER_CONCURRENCY: usize = 4;
/// Users per page sent to the inventory when users are named in the scope.
const USERS_PER_PAGE: usize = 20;

/// Lists the access keys of the IAM scope's users.
///
/// Users are the scope's `users`, or every user under `path_prefix` (ListUsers, paginated)
/// when none are named. Per user: ListAccessKeys and GetAccessKeyLastUsed per key; when
/// `stored_in` names the user's secret, DescribeSecret (in the Secrets Manager scope's
/// regions, first found) adds that location with its LastChangedDate. One page is sent per
/// batch of users. A key is exposed when it is Active and was created before the exposure
/// window began; Inactive keys are listed but not exposed (AWS refuses requests signed with
/// them). Named users that do not exist are reported as one `NotFound` error after every
/// other user is listed.
pub struct IamInventory {
    aws: Aws,
}

impl IamInventory {
    /// An inventory using `aws`'s default region for IAM and its regions for Secrets Manager.
    pub fn new(aws: &Aws) -> Self {
        IamInventory { aws: aws.clone() }
    }

    /// Every copy of `secret` in `regions`, each with its last change and the access key id
    /// its key pair holds (`None` when it could not be read). A secret of the same name in
    /// two regions is two places, each holding its own key.
    async fn stored_locations(&self, secret: &str, regions: &[String]) -> Vec<Stored> {
        let mut out = Vec::new();
        for region in regions {
            let client = self.aws.secrets_manager(Some(region));
            let described = match client.describe_secret().secret_id(secret).send().await {
                Ok(d) => d,
                Err(e) => {
                    let e = map_sdk_error(SECRETS_MANAGER, "DescribeSecret", e);
                    tracing::debug!(secret, region = %region, "stored-in secret not read: {e}");
                    continue;
                }
            };
            let mut changed = described
                .last_changed_date()
                .or(described.created_date())
                .and_then(to_chrono);
            let mut holds = None;
            let mut unread = None;
            match client
                .get_secret_value()
                .secret_id(secret)
                .version_stage(AWSCURRENT)
                .send()
                .await
            {
                Ok(mut v) => {
                    changed = v.created_date().and_then(to_chrono).or(changed);
                    if let Some(text) = v.secret_string.take() {
                        holds = held_key_id(&SecretString::from(text));
                    }
                }
                Err(e) => unread = Some(map_sdk_error(SECRETS_MANAGER, "GetSecretValue", e)),
            }
            out.push(Stored {
                location: Location {
                    kind: LocationKind::SecretsManager,
                    name: secret.to_string(),
                    field: None,
                    region: Some(region.clone()),
                    account: self.aws.account().map(str::to_string),
                    changed,
                },
                holds,
                unread: unread.map(|e| e.to_string()),
            });
        }
        out
    }

    /// The credentials of one user (`Ok(None)` if the user does not exist).
    async fn user_credentials(
        &self,
        client: &IamClient,
        user: &str,
        iam: &IamScope,
        sm_regions: &[String],
        exposure: &ExposureWindow,
    ) -> ProviderResult<Option<Vec<Credential>>> {
        let keys = match list_keys(client, user).await {
            Ok(k) => k,
            Err(ProviderError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let stored = match iam.stored_in.get(user) {
            Some(secret) if !keys.is_empty() => self.stored_locations(secret, sm_regions).await,
            _ => Vec::new(),
        };
        let account = self.aws.account().map(str::to_string);
        let mut creds = Vec::new();
        for k in &keys {
            let used = match last_used(client, &k.id).await {
                Ok(u) => u,
                Err(ProviderError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            creds.push(key_credential(
                user,
                k.clone(),
                used,
                &stored,
                &keys,
                account.as_deref(),
                exposure,
            ));
        }
        Ok(Some(creds))
    }

    /// Lists one batch of users and sends their credentials as one page.
    #[allow(clippy::too_many_arguments)]
    async fn batch(
        &self,
        client: &IamClient,
        users: Vec<String>,
        iam: &IamScope,
        sm_regions: &[String],
        exposure: &ExposureWindow,
        pages: &mpsc::UnboundedSender<Vec<Credential>>,
        missing: &mut BTreeSet<String>,
    ) -> ProviderResult<bool> {
        let found: Vec<(String, ProviderResult<Option<Vec<Credential>>>)> = stream::iter(users)
            .map(|u| async move {
                let r = self
                    .user_credentials(client, &u, iam, sm_regions, exposure)
                    .await;
                (u, r)
            })
            .buffered(USER_CONCURRENCY)
            .collect()
            .await;
        let mut page = Vec::new();
        for (user, r) in found {
            match r? {
                Some(creds) => page.extend(creds),
                None => {
                    missing.insert(user);
                }
            }
        }
        Ok(page.is_empty() || pages.send(page).is_ok())
    }
}

/// Whether one of `user`'s keys was exposed, and why: an active key created before the
/// exposure began (or at an unknown date) was; an inactive one is refused by AWS anyway.
fn key_exposure(user: &str, k: &KeyInfo, exposure: &ExposureWindow) -> (bool, String) {
    if !k.active {
        return (
            false,
            format!(
                "inactive key of IAM user {user}: AWS refuses requests signed with it, so it is not rotated; delete it when convenient"
            ),
        );
    }
    match k.created {
        Some(c) if c >= exposure.start => (
            false,
            format!(
                "active key of IAM user {user} created {} — after the exposure began",
                date(Some(c))
            ),
        ),
        Some(c) => (
            true,
            format!(
                "active key of IAM user {user} created {} — before the exposure began",
                date(Some(c))
            ),
        ),
        None => (
            true,
            format!("active key of IAM user {user}; no creation date known — treated as exposed"),
        ),
    }
}

/// A copy of a user's `stored_in` secret, and the access key id its key pair holds.
struct Stored {
    location: Location,
    holds: Option<String>,
    /// Why its value could not be read, when it could not.
    unread: Option<String>,
}

/// The access key id of the key pair a secret holds, the rest wiped.
fn held_key_id(value: &SecretString) -> Option<String> {
    let mut doc = parse_object(value)?;
    let id = match doc.get("AccessKeyId") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    wipe_map(&mut doc);
    id
}

/// The credential of one of `user`'s keys: found at the IAM user and in each copy of the
/// user's `stored_in` secret that holds this key's id (a copy whose value cannot be read is
/// a place of every key of the user, and says so).
fn key_credential(
    user: &str,
    k: KeyInfo,
    used: Option<(DateTime<Utc>, String)>,
    stored: &[Stored],
    keys: &[KeyInfo],
    account: Option<&str>,
    exposure: &ExposureWindow,
) -> Credential {
    let status = if k.active { "Active" } else { "Inactive" };
    let (exposed, mut reason) = key_exposure(user, &k, exposure);
    let mut locations = vec![Location {
        kind: LocationKind::IamUser,
        name: user.to_string(),
        field: None,
        region: None,
        account: account.map(str::to_string),
        changed: k.created,
    }];
    for s in stored {
        let place = format!(
            "Secrets Manager {}{}",
            s.location.name,
            s.location
                .region
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        match (&s.holds, &s.unread) {
            (Some(id), _) if *id == k.id => {
                reason.push_str(&format!("; stored in {place}"));
                locations.push(s.location.clone());
            }
            (Some(id), _) => {
                if !keys.iter().any(|o| o.id == *id) {
                    reason.push_str(&format!(
                        "; {place} holds access key {}, which is none of {user}'s keys",
                        mask(id)
                    ));
                }
            }
            (None, why) => {
                reason.push_str(&format!(
                    "; stored in {place}? its value could not be read ({}), so which key it holds is not known",
                    why.as_deref().unwrap_or("not a key pair")
                ));
                locations.push(s.location.clone());
            }
        }
    }
    let mut meta = BTreeMap::new();
    meta.insert("user".to_string(), user.to_string());
    meta.insert("status".to_string(), status.to_string());
    Credential {
        id: format!("aws-iam/{user}/{}", k.id),
        issuer: crate::runbook::schema::Issuer::AwsIam,
        hint: mask(&k.id),
        key_id: k.id,
        name: user.to_string(),
        created: k.created,
        last_used: used.map(|(t, _)| t),
        locations,
        exposed,
        exposure_reason: reason,
        fingerprint: None,
        meta,
    }
}

#[async_trait]
impl Inventory for IamInventory {
    async fn discover(
        &self,
        scope: &Scope,
        exposure: &ExposureWindow,
        pages: mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let Some(iam) = &scope.iam else {
            return Ok(());
        };
        let client = self.aws.iam();
        let sm_regions: Vec<String> = scope
            .secrets_manager
            .as_ref()
            .map(|s| s.regions.clone())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| vec![self.aws.default_region().to_string()]);
        let mut missing = BTreeSet::new();
        if iam.users.is_empty() {
            let mut users = client
                .list_users()
                .set_path_prefix(iam.path_prefix.clone())
                .into_paginator()
                .send();
            while let Some(page) = users.next().await {
                let page = page.map_err(|e| map_sdk_error(IAM, "ListUsers", e))?;
                let names = page
                    .users()
                    .iter()
                    .map(|u| u.user_name().to_string())
                    .collect();
                let listening = self
                    .batch(
                        &client,
                        names,
                        iam,
                        &sm_regions,
                        exposure,
                        &pages,
                        &mut missing,
                    )
                    .await?;
                if !listening {
                    return Ok(());
                }
            }
        } else {
            for chunk in iam.users.chunks(USERS_PER_PAGE) {
                let listening = self
                    .batch(
                        &client,
                        chunk.to_vec(),
                        iam,
                        &sm_regions,
                        exposure,
                        &pages,
                        &mut missing,
                    )
                    .await?;
                if !listening {
                    return Ok(());
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ProviderError::NotFound {
                provider: IAM.into(),
                what: format!(
                    "IAM user(s) named in the runbook scope: {}",
                    missing.into_iter().collect::<Vec<_>>().join(", ")
                ),
            })
        }
    }
}
