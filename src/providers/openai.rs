//! OpenAI through its Administration API: the project API keys of an organization
//! ([`OpenAiInventory`]) and minting, testing, deleting and watching them ([`OpenAiIssuer`]).
//!
//! Endpoints (Admin API key as `Authorization: Bearer`, base `https://api.openai.com`):
//! `GET /v1/organization/projects`, `GET|DELETE /v1/organization/projects/{p}/api_keys[/{id}]`,
//! `POST /v1/organization/projects/{p}/service_accounts/{sa}/api_keys` (mints a key for a
//! service account; user-owned keys cannot be created by API),
//! `GET /v1/organization/usage/completions`; and `GET /v1/models` with the key under test.
//! Only what sets this provider apart lives here (its `http::Vendor`, its endpoints and
//! answers); construction, auth and errors are `http`'s. May depend on `http`, the incident
//! ports and model and the runbook schema only.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Client, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::http::{self, AdminApi, HttpConfig, KeyHeader, Slot, Vendor, seg};
use crate::incident::model::{
    Credential, KeyGeneration, UsageSample, hint_from_redacted, hints_match, mask,
};
use crate::incident::ports::{
    Inventory, KeyIssuer, Liveness, NewKey, ProviderError, ProviderResult,
};
use crate::runbook::schema::{ExposureWindow, Issuer, Scope};

const PROVIDER: &str = "OpenAI";
const WHERE_ADMIN_KEY: &str =
    "an Admin API key from platform.openai.com → Settings → Organization → Admin keys";
/// Page size of the Admin API lists (its maximum).
const PAGE: &str = "100";
/// Stop following a cursor after this many pages (a provider bug must not loop forever).
const MAX_PAGES: usize = 1000;
/// How long a minted key's value is kept to answer a retry of the same issue.
const MINTED_TTL: Duration = Duration::from_secs(15 * 60);

/// Why an OpenAI key listed by the Admin API is not itself called exposed.
pub const EXPOSURE_REASON: &str = "listed at OpenAI; exposed only where a stored copy was readable";

#[derive(Deserialize)]
struct List<T> {
    data: Vec<T>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    last_id: Option<String>,
}

#[derive(Deserialize)]
struct Project {
    id: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct ProjectKey {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    redacted_value: Option<String>,
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    last_used_at: Option<i64>,
    #[serde(default)]
    owner: Option<Owner>,
}

#[derive(Deserialize)]
struct Owner {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    user: Option<Named>,
    #[serde(default)]
    service_account: Option<Named>,
}

#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// `POST …/service_accounts/{id}/api_keys` answer; `value` is the whole new key.
#[derive(Deserialize)]
struct MintedKey {
    id: String,
    value: SecretString,
}

#[derive(Deserialize)]
struct UsageBucket {
    start_time: i64,
    #[serde(default)]
    results: Vec<UsageResult>,
}

#[derive(Deserialize)]
struct UsageResult {
    #[serde(default)]
    api_key_id: Option<String>,
    #[serde(default)]
    num_model_requests: u64,
}

/// OpenAI's Admin API: the admin key as `Authorization: Bearer`, no version header.
pub(crate) const VENDOR: Vendor = Vendor {
    name: PROVIDER,
    slot: Slot::Openai,
    key_header: KeyHeader::Bearer,
    version: None,
    where_admin_key: WHERE_ADMIN_KEY,
};

/// Follows an Admin API list (`after` = the last id) to its end.
async fn list_all<T: serde::de::DeserializeOwned>(
    admin: &AdminApi,
    path: &str,
    filters: &[(&str, &str)],
    what: &str,
    mut each_page: impl FnMut(Vec<T>),
) -> ProviderResult<()> {
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query = vec![("limit", PAGE)];
        query.extend_from_slice(filters);
        if let Some(a) = after.as_deref() {
            query.push(("after", a));
        }
        let raw = admin.call(Method::GET, path, &query, None, what).await?;
        let page: List<T> = admin.api.parse(&raw, what)?;
        let next = page.last_id.clone();
        each_page(page.data);
        match next {
            Some(n) if page.has_more && after.as_deref() != Some(n.as_str()) => after = Some(n),
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// Every enabled key of the project, whether or not its owner still has access to it
/// (`owner_project_access=any`; the default hides keys of owners who left).
async fn project_keys(admin: &AdminApi, project_id: &str) -> ProviderResult<Vec<ProjectKey>> {
    let mut keys = Vec::new();
    list_all(
        admin,
        &format!("/v1/organization/projects/{}/api_keys", seg(project_id)),
        &[("owner_project_access", "any")],
        &format!("API keys of project {project_id}"),
        |page| keys.extend(page),
    )
    .await?;
    Ok(keys)
}

fn credential(project: &Project, key: ProjectKey) -> Credential {
    let owner_type = key.owner.as_ref().and_then(|o| o.kind.clone());
    let owner_named = key
        .owner
        .as_ref()
        .and_then(|o| match owner_type.as_deref() {
            Some("service_account") => o.service_account.as_ref(),
            _ => o.user.as_ref(),
        });
    let name = key
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| owner_named.and_then(|n| n.name.clone()))
        .unwrap_or_else(|| key.id.clone());
    let mut meta = BTreeMap::new();
    meta.insert("project_id".to_string(), project.id.clone());
    if let Some(n) = project.name.as_ref().filter(|n| !n.is_empty()) {
        meta.insert("project_name".to_string(), n.clone());
    }
    if let Some(t) = &owner_type {
        meta.insert("owner_type".to_string(), t.clone());
    }
    if owner_type.as_deref() == Some("service_account")
        && let Some(id) = key
            .owner
            .as_ref()
            .and_then(|o| o.service_account.as_ref())
            .and_then(|s| s.id.clone())
    {
        meta.insert("service_account_id".to_string(), id);
    }
    Credential {
        id: format!("openai/{}", key.id),
        issuer: Issuer::Openai,
        hint: key
            .redacted_value
            .as_deref()
            .map(hint_from_redacted)
            .unwrap_or_else(|| "…".to_string()),
        key_id: key.id,
        name,
        created: http::unix_time(key.created_at),
        last_used: http::unix_time(key.last_used_at),
        locations: Vec::new(),
        exposed: false,
        exposure_reason: EXPOSURE_REASON.to_string(),
        fingerprint: None,
        meta,
    }
}

/// Lists the project API keys of the organization in `scope.openai`, one page of
/// credentials per project. The copies in storage are found by the Secrets Manager and
/// Braintrust inventories and merged by hint elsewhere, so these carry no locations.
#[derive(Debug, Clone)]
pub struct OpenAiInventory {
    admin: AdminApi,
}

impl OpenAiInventory {
    /// An inventory calling `base_url` (e.g. `https://api.openai.com`) with `admin_key`.
    /// Without a key, `discover` fails with `Auth` naming `OPENAI_ADMIN_KEY`.
    pub fn new(client: Client, base_url: &str, admin_key: Option<SecretString>) -> Self {
        OpenAiInventory {
            admin: AdminApi::new(&VENDOR, client, base_url, admin_key),
        }
    }

    /// From the shared configuration ([`HttpConfig::from_env`]).
    pub fn from_config(cfg: &HttpConfig) -> Self {
        OpenAiInventory {
            admin: cfg.admin_api(&VENDOR),
        }
    }
}

#[async_trait]
impl Inventory for OpenAiInventory {
    async fn discover(
        &self,
        scope: &Scope,
        _exposure: &ExposureWindow,
        pages: mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let Some(openai) = &scope.openai else {
            return Ok(());
        };
        self.admin.key()?;
        let mut projects: Vec<Project> = Vec::new();
        list_all(
            &self.admin,
            "/v1/organization/projects",
            &[],
            "projects",
            |page| projects.extend(page),
        )
        .await?;
        let missing: Vec<&String> = openai
            .projects
            .iter()
            .filter(|want| !projects.iter().any(|p| &p.id == *want))
            .collect();
        if !openai.projects.is_empty() {
            projects.retain(|p| openai.projects.contains(&p.id));
        }
        for project in &projects {
            let keys = project_keys(&self.admin, &project.id).await?;
            let page: Vec<Credential> = keys.into_iter().map(|k| credential(project, k)).collect();
            if !page.is_empty() {
                let _ = pages.send(page);
            }
        }
        // A mistyped project id must not look like a project without keys.
        if let Some(first) = missing.first() {
            return Err(ProviderError::NotFound {
                provider: PROVIDER.into(),
                what: format!(
                    "project {first} (not among the organization's active projects; check scope.openai.projects)"
                ),
            });
        }
        Ok(())
    }
}

/// Mints, tests, deletes and watches OpenAI project API keys.
///
/// OpenAI has no way to deactivate a key: [`KeyIssuer::revoke`] deletes it, for good, and
/// [`KeyIssuer::delete`] afterwards finds it gone and succeeds. Only keys owned by a service
/// account can be minted by API; for a user-owned key (or one whose owner is unknown)
/// `issue` answers [`ProviderError::ManualIssue`] with where to click.
pub struct OpenAiIssuer {
    admin: AdminApi,
    /// Keys minted by this process, by idempotency token, so a retry of the same issue
    /// (say, after staging failed) returns the same key instead of minting another. Kept
    /// for [`MINTED_TTL`] at most; values are zeroized when dropped.
    minted: Mutex<HashMap<String, (String, SecretString, Instant)>>,
}

impl std::fmt::Debug for OpenAiIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiIssuer")
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

impl OpenAiIssuer {
    /// An issuer calling `base_url` with `admin_key` for the Admin API. Without a key,
    /// everything but `verify` fails with `Auth` naming `OPENAI_ADMIN_KEY`.
    pub fn new(client: Client, base_url: &str, admin_key: Option<SecretString>) -> Self {
        Self::with_api(AdminApi::new(&VENDOR, client, base_url, admin_key))
    }

    /// From the shared configuration ([`HttpConfig::from_env`]).
    pub fn from_config(cfg: &HttpConfig) -> Self {
        Self::with_api(cfg.admin_api(&VENDOR))
    }

    fn with_api(admin: AdminApi) -> Self {
        OpenAiIssuer {
            admin,
            minted: Mutex::new(HashMap::new()),
        }
    }

    fn project_of<'a>(&self, cred: &'a Credential) -> ProviderResult<&'a str> {
        cred.meta
            .get("project_id")
            .map(String::as_str)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| ProviderError::Validation {
                provider: PROVIDER.into(),
                message: format!(
                    "breachbook does not know which OpenAI project holds {} ({}): add `openai:` to the runbook scope so the inventory lists it, or act on it at platform.openai.com",
                    cred.name, cred.hint
                ),
            })
    }

    fn key_path(project: &str, key_id: &str) -> String {
        format!(
            "/v1/organization/projects/{}/api_keys/{}",
            seg(project),
            seg(key_id)
        )
    }

    fn manual(old: &Credential, token: &str) -> ProviderError {
        let project = old
            .meta
            .get("project_name")
            .or_else(|| old.meta.get("project_id"))
            .cloned()
            // Named as a project either way: "select the project X" reads once.
            .unwrap_or_else(|| "(the one the old key belongs to)".to_string());
        let owner = match old.meta.get("owner_type").map(String::as_str) {
            Some("user") => {
                "it is owned by a person, and OpenAI mints such keys only in the dashboard"
            }
            _ => {
                "breachbook does not know who owns it, and OpenAI mints user keys only in the dashboard"
            }
        };
        ProviderError::ManualIssue {
            provider: PROVIDER.into(),
            instructions: format!(
                "Create the replacement for {name} ({hint}) by hand — {owner}. \
                 1. Open platform.openai.com and select the project {project}. \
                 2. Go to Settings → Project → API keys and click \"Create new secret key\". \
                 3. Owned by: You; Name: {token}; Project: {project}; Permissions: the same as {name}. \
                 4. Click \"Create secret key\" and copy the key (OpenAI shows it only once). \
                 5. Paste it into breachbook's hidden input — nowhere else (no chat, ticket or file). \
                 breachbook tests it, then stores it as pending. \
                 Tip: a key owned by a service account can be rotated by API next time.",
                name = old.name,
                hint = old.hint,
            ),
        }
    }

    fn cached(&self, token: &str) -> Option<NewKey> {
        let mut minted = self.minted.lock().unwrap_or_else(|p| p.into_inner());
        minted.retain(|_, (_, _, at)| at.elapsed() < MINTED_TTL);
        minted.get(token).map(|(id, secret, _)| NewKey {
            key_id: id.clone(),
            hint: mask(secret.expose_secret()),
            secret: secret.clone(),
        })
    }

    /// The id of a pasted new key (`pasted sk-…abcd`), found by its hint among the
    /// project's keys when exactly one other key matches.
    async fn resolve_new_key(&self, old: &Credential, new_key_id: &str) -> Option<String> {
        let Some(hint) = new_key_id.strip_prefix("pasted ") else {
            return Some(new_key_id.to_string());
        };
        let project = self.project_of(old).ok()?;
        let keys = project_keys(&self.admin, project).await.ok()?;
        let mut matches = keys.iter().filter(|k| {
            k.id != old.key_id
                && k.redacted_value
                    .as_deref()
                    .is_some_and(|r| hints_match(hint, &hint_from_redacted(r)))
        });
        let first = matches.next()?;
        matches.next().is_none().then(|| first.id.clone())
    }
}

#[async_trait]
impl KeyIssuer for OpenAiIssuer {
    /// Mints a key for the old key's service account, named after `token`. A retry with the
    /// same token returns the same key while this process holds it; a key of that name
    /// minted by an earlier run (whose value is lost) is reported, never silently doubled.
    async fn issue(&self, old: &Credential, token: &str) -> ProviderResult<NewKey> {
        let sa = old.meta.get("service_account_id").filter(|s| !s.is_empty());
        let is_sa = old.meta.get("owner_type").map(String::as_str) == Some("service_account");
        let (Some(sa), true) = (sa, is_sa) else {
            return Err(Self::manual(old, token));
        };
        let project = self.project_of(old)?.to_string();
        if let Some(k) = self.cached(token) {
            return Ok(k);
        }
        let admin_key = self.admin.key()?;
        let existing = project_keys(&self.admin, &project).await?;
        if let Some(orphan) = existing.iter().find(|k| k.name.as_deref() == Some(token)) {
            return Err(ProviderError::Validation {
                provider: PROVIDER.into(),
                message: format!(
                    "a replacement for {} was already minted by an earlier run (key {}, named {token}) but breachbook no longer holds its value; delete that key at platform.openai.com (project {project} → API keys) and retry",
                    old.name, orphan.id
                ),
            });
        }
        let path = format!(
            "/v1/organization/projects/{}/service_accounts/{}/api_keys",
            seg(&project),
            seg(sa)
        );
        let req = self
            .admin
            .request(Method::POST, &path, &[], admin_key)?
            .json(&serde_json::json!({ "name": token }));
        let raw = self
            .admin
            .api
            .send(req, &format!("service account {sa}"), &[admin_key])
            .await?;
        let minted: MintedKey = self.admin.api.parse(&raw, "the new key")?;
        drop(raw);
        let new = NewKey {
            hint: mask(minted.value.expose_secret()),
            key_id: minted.id.clone(),
            secret: minted.value.clone(),
        };
        self.minted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_string(), (minted.id, minted.value, Instant::now()));
        tracing::info!(provider = PROVIDER, key_id = %new.key_id, hint = %new.hint, "minted a service-account key");
        Ok(new)
    }

    /// `GET /v1/models` with the key: 200 → alive, 401 → dead. A 403 (the key lacks the
    /// models permission) is an error: the key exists but cannot be proven to work here.
    async fn verify(&self, _cred: &Credential, key: &SecretString) -> ProviderResult<Liveness> {
        let api = &self.admin.api;
        let req = self.admin.request(Method::GET, "/v1/models", &[], key)?;
        let raw = api.send_raw(req, &[key]).await?;
        match raw.status {
            s if s.is_success() => Ok(Liveness::Alive),
            StatusCode::UNAUTHORIZED => Ok(Liveness::Dead),
            StatusCode::FORBIDDEN => Err(ProviderError::Validation {
                provider: PROVIDER.into(),
                message: format!(
                    "OpenAI knows the key but refused to list models with it ({}); give it read access to Models, or test it by hand",
                    http::scrub(&http::error_message(&raw.body), &[key])
                ),
            }),
            _ => Err(api.error(&raw, "models", &[key])),
        }
    }

    /// The key still listed in its project → alive; gone (404) → dead.
    async fn old_key_liveness(&self, old: &Credential) -> ProviderResult<Liveness> {
        let project = self.project_of(old)?;
        match self
            .admin
            .call(
                Method::GET,
                &Self::key_path(project, &old.key_id),
                &[],
                None,
                &format!("key {}", old.key_id),
            )
            .await
        {
            Ok(_) => Ok(Liveness::Alive),
            Err(ProviderError::NotFound { .. }) => Ok(Liveness::Dead),
            Err(e) => Err(e),
        }
    }

    /// Deletes the key (OpenAI cannot deactivate one). Already gone → Ok.
    async fn revoke(&self, old: &Credential) -> ProviderResult<()> {
        let project = self.project_of(old)?;
        match self
            .admin
            .call(
                Method::DELETE,
                &Self::key_path(project, &old.key_id),
                &[],
                None,
                &format!("key {}", old.key_id),
            )
            .await
        {
            Ok(_) => {
                tracing::info!(provider = PROVIDER, key_id = %old.key_id, "deleted project API key");
                Ok(())
            }
            Err(ProviderError::NotFound { .. }) => {
                tracing::info!(provider = PROVIDER, key_id = %old.key_id, "key already gone");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Same as `revoke`: the delete already happened there; a 404 now is success.
    async fn delete(&self, old: &Credential) -> ProviderResult<()> {
        self.revoke(old).await
    }

    /// Completions usage per minute for the key (`group_by=api_key_id`, `bucket_width=1m`).
    /// `ok` is `num_model_requests`; `denied` is always 0 — the Usage API counts only
    /// served requests, so refused calls with an old key cannot be seen here. Other
    /// endpoints (embeddings, images…) are not counted.
    async fn usage(
        &self,
        cred: &Credential,
        generation: KeyGeneration,
        new_key_id: Option<&str>,
        since: DateTime<Utc>,
    ) -> ProviderResult<Vec<UsageSample>> {
        let key_id = match generation {
            KeyGeneration::Old => Some(cred.key_id.clone()),
            KeyGeneration::New => match new_key_id {
                Some(id) => self.resolve_new_key(cred, id).await,
                None => None,
            },
        };
        let Some(key_id) = key_id.filter(|k| !k.is_empty()) else {
            return Ok(Vec::new());
        };
        let start = (since.timestamp().div_euclid(60) * 60).to_string();
        let mut per_minute: BTreeMap<i64, u64> = BTreeMap::new();
        let query = [
            ("start_time", start.as_str()),
            ("bucket_width", "1m"),
            ("group_by", "api_key_id"),
            ("api_key_ids", key_id.as_str()),
            ("limit", "1440"),
        ];
        self.admin
            .report(
                "/v1/organization/usage/completions",
                &query,
                "completions usage",
                MAX_PAGES,
                |buckets: Vec<UsageBucket>| {
                    for b in buckets {
                        let n: u64 = b
                            .results
                            .iter()
                            .filter(|r| r.api_key_id.as_deref().is_none_or(|k| k == key_id))
                            .map(|r| r.num_model_requests)
                            .sum();
                        *per_minute.entry(b.start_time).or_default() += n;
                    }
                },
            )
            .await?;
        Ok(per_minute
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .filter_map(|(t, n)| {
                Some(UsageSample {
                    credential: cred.id.clone(),
                    generation,
                    minute: DateTime::from_timestamp(t, 0)?,
                    ok: u32::try_from(n).unwrap_or(u32::MAX),
                    denied: 0,
                    sources: Vec::new(),
                })
            })
            .collect())
    }
}
