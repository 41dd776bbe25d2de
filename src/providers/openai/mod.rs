//! OpenAI through its Administration API: the project API keys of an organization
//! ([`OpenAiInventory`]), replacing, testing, deleting and watching them
//! ([`OpenAiIssuer`]), and who made them, from the organization's audit log
//! ([`audit::OpenAiAuditLog`]).
//!
//! The contract (openai/openai-openapi@f85dbe223d40e1a31cba812ab2d755c7e98a92a3
//! openapi.yaml): every `/organization/*` route takes the Admin API key as `Authorization:
//! Bearer`, base `https://api.openai.com/v1`. The project-key delete "returns … an error if
//! the key belonged to a service account" (`delete-project-api-key`), and service-account keys
//! are the keys breachbook mints: a service account's key is removed only by deleting its
//! service account, which takes every key of that account with it. So a service-account key
//! is replaced by a **new service account** (`create-project-service-account` returns its
//! key), named after the rotation (`breachbook-<rotation tag>-<old key's name>`), and revoked
//! by deleting the **old service account** (`delete-project-service-account`); the
//! revocation window names that account and every other key it holds. Creating a service
//! account is not idempotent, so a mint follows intent → reconcile: accounts carrying this
//! rotation's tag whose key breachbook does not hold are strays ([`KeyIssuer::find_strays`])
//! and are deleted before minting again. A person's key is made by hand unless the runbook's
//! `scope.openai.user_keys` is `service_account`.
//!
//! Routes: `GET /v1/organization/projects`, `GET|DELETE …/projects/{p}/api_keys[/{id}]`,
//! `GET|POST …/projects/{p}/service_accounts`, `POST|DELETE …/service_accounts/{sa}`,
//! `POST …/service_accounts/{sa}/api_keys`, the eight `GET /v1/organization/usage/*` reports
//! that group by `api_key_id`, `GET /v1/organization/costs`; and `GET /v1/models` with the
//! key under test. Only what sets this provider apart lives here (its `http::Vendor`, its
//! endpoints and answers); construction, auth and errors are `http`'s. May depend on `http`,
//! the incident ports and model and the runbook schema only.

pub mod audit;

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
    Inventory, KeyIssuer, Liveness, NewKey, ProviderError, ProviderResult, Spend, StrayKey,
};
use crate::runbook::schema::{ExposureWindow, Issuer, Scope, UserKeys};

const PROVIDER: &str = "OpenAI";
const WHERE_ADMIN_KEY: &str =
    "an Admin API key from platform.openai.com → Settings → Organization → Admin keys";
/// Page size of the Admin API lists: "Limit can range between 1 and 100" (`list-projects`,
/// `list-project-api-keys`, `list-project-service-accounts`).
const PAGE: &str = "100";
/// Stop following a cursor after this many pages (a provider bug must not loop forever).
const MAX_PAGES: usize = 1000;
/// How long a minted key's value is kept to answer a retry of the same issue.
const MINTED_TTL: Duration = Duration::from_secs(15 * 60);
/// Every service account breachbook creates starts with this.
const SA_PREFIX: &str = "breachbook-";
/// A stray may have been created this long before the journaled intent, by the issuer's
/// clock (OpenAI's `created_at` is its own time, ours is the incident clock).
const STRAY_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// Why an OpenAI key listed by the Admin API is not itself called exposed.
pub const EXPOSURE_REASON: &str = "listed at OpenAI; exposed only where a stored copy was readable";

/// What the usage reports cannot attribute to a key (`usage-vector-stores` and
/// `usage-code-interpreter-sessions` take `project_ids` only and group by `project_id` only).
pub const USAGE_BLIND_SPOTS: &str = "OpenAI's usage reports count completions, embeddings, moderations, images, speech, transcription, file searches and web searches per key; vector-store storage and code-interpreter sessions are counted per project only, so a stolen key's use of those does not show in the Usage panel (see platform.openai.com → Usage, by project)";

/// The usage reports that filter and group by `api_key_id`, and the field each counts calls
/// in (openai-openapi@f85dbe2 `usage-completions` … `usage-web-search-calls`: their result
/// schemas require `num_model_requests`, or `num_requests` for file and web searches).
const USAGE_REPORTS: [(&str, Count); 8] = [
    ("completions", Count::ModelRequests),
    ("embeddings", Count::ModelRequests),
    ("moderations", Count::ModelRequests),
    ("images", Count::ModelRequests),
    ("audio_speeches", Count::ModelRequests),
    ("audio_transcriptions", Count::ModelRequests),
    ("file_search_calls", Count::Requests),
    ("web_search_calls", Count::Requests),
];

/// Which field of a usage result counts the calls.
#[derive(Clone, Copy)]
enum Count {
    ModelRequests,
    Requests,
}

/// A list page (`ProjectListResponse`, `ProjectApiKeyListResponse`,
/// `ProjectServiceAccountListResponse`): `has_more` with the cursor in `last_id`.
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

/// `ProjectApiKey`.
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

impl ProjectKey {
    /// The service account owning this key, if one does.
    fn service_account(&self) -> Option<&OwnerAccount> {
        self.owner
            .as_ref()
            .filter(|o| o.kind.as_deref() == Some("service_account"))
            .and_then(|o| o.service_account.as_ref())
    }

    fn hint(&self) -> String {
        self.redacted_value
            .as_deref()
            .map(hint_from_redacted)
            .unwrap_or_else(|| "…".to_string())
    }
}

#[derive(Deserialize)]
struct Owner {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    user: Option<OwnerAccount>,
    #[serde(default)]
    service_account: Option<OwnerAccount>,
}

/// `ProjectApiKeyOwnerUser` / `ProjectApiKeyOwnerServiceAccount`.
#[derive(Deserialize)]
struct OwnerAccount {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

/// `ProjectServiceAccount`.
#[derive(Deserialize)]
struct ServiceAccount {
    id: String,
    name: String,
    #[serde(default)]
    created_at: Option<i64>,
}

/// `ProjectServiceAccountCreateResponse`: `api_key` is required but nullable.
#[derive(Deserialize)]
struct CreatedAccount {
    id: String,
    #[serde(default)]
    api_key: Option<MintedKey>,
}

/// `ProjectServiceAccountApiKey` / `ServiceAccountApiKeyBody`; `value` is the whole new key.
#[derive(Deserialize)]
struct MintedKey {
    id: String,
    value: SecretString,
}

/// `UsageTimeBucket`.
#[derive(Deserialize)]
struct UsageBucket {
    start_time: i64,
    #[serde(default)]
    results: Vec<UsageResult>,
}

/// The fields of the usage results read here (the rest are ignored).
#[derive(Deserialize)]
struct UsageResult {
    #[serde(default)]
    api_key_id: Option<String>,
    #[serde(default)]
    num_model_requests: u64,
    #[serde(default)]
    num_requests: u64,
    /// `CostsResult.amount`.
    #[serde(default)]
    amount: Option<Amount>,
}

#[derive(Deserialize)]
struct Amount {
    #[serde(default)]
    value: f64,
    #[serde(default)]
    currency: Option<String>,
}

/// OpenAI's Admin API: the admin key as `Authorization: Bearer`, no version header
/// (`#/components/securitySchemes/AdminApiKeyAuth`, http bearer).
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
/// (`owner_project_access=any`: "If omitted, … may exclude some enabled keys").
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

/// Every service account of the project.
async fn service_accounts(
    admin: &AdminApi,
    project_id: &str,
) -> ProviderResult<Vec<ServiceAccount>> {
    let mut out = Vec::new();
    list_all(
        admin,
        &sa_path(project_id, None),
        &[],
        &format!("service accounts of project {project_id}"),
        |page| out.extend(page),
    )
    .await?;
    Ok(out)
}

fn sa_path(project: &str, sa: Option<&str>) -> String {
    let base = format!(
        "/v1/organization/projects/{}/service_accounts",
        seg(project)
    );
    match sa {
        Some(id) => format!("{base}/{}", seg(id)),
        None => base,
    }
}

/// The lines a revocation window shows for a key its service account holds: the account is
/// what is deleted, and every other key of it dies too.
fn revoke_takes(project: &str, key: &ProjectKey, all: &[ProjectKey]) -> Vec<String> {
    let Some(sa) = key.service_account() else {
        return Vec::new();
    };
    let sa_id = sa.id.as_deref().unwrap_or("?");
    let sa_name = sa.name.as_deref().unwrap_or(sa_id);
    let mut lines = vec![format!(
        "OpenAI deletes a service account's key only with the account: revoking deletes service account {sa_name} ({sa_id}) of project {project}"
    )];
    for other in all.iter().filter(|k| {
        k.id != key.id && k.service_account().and_then(|s| s.id.as_deref()) == sa.id.as_deref()
    }) {
        lines.push(format!(
            "and with it its other key {} ({}, {}): anything using it stops working too",
            other.name.as_deref().unwrap_or("(unnamed)"),
            other.hint(),
            other.id
        ));
    }
    lines
}

fn credential(project: &Project, key: &ProjectKey, all: &[ProjectKey]) -> Credential {
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
    if let Some(sa) = key.service_account() {
        for (k, v) in [
            ("service_account_id", &sa.id),
            ("service_account_name", &sa.name),
            ("service_account_role", &sa.role),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                meta.insert(k.to_string(), v.clone());
            }
        }
    }
    let mut cred = Credential {
        id: format!("openai/{}", key.id),
        issuer: Issuer::Openai,
        hint: key.hint(),
        key_id: key.id.clone(),
        name,
        created: http::unix_time(key.created_at),
        last_used: http::unix_time(key.last_used_at),
        locations: Vec::new(),
        exposed: false,
        exposure_reason: EXPOSURE_REASON.to_string(),
        fingerprint: None,
        meta,
    };
    cred.set_revoke_takes(&revoke_takes(&project.id, key, all));
    cred
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
            let page: Vec<Credential> =
                keys.iter().map(|k| credential(project, k, &keys)).collect();
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

/// A key this process minted: kept to answer a retry of the same issue.
struct Minted {
    service_account: String,
    key_id: String,
    secret: SecretString,
    at: Instant,
}

/// Replaces, tests, deletes and watches OpenAI project API keys.
///
/// A key owned by a service account is replaced by a new service account (and its key),
/// and revoked by deleting the old service account: OpenAI cannot deactivate a key, so
/// [`KeyIssuer::revoke`] is for good, and [`KeyIssuer::delete`] afterwards finds it gone and
/// succeeds. A key owned by a person (or by someone breachbook does not know) is made by
/// hand ([`ProviderError::ManualIssue`], with where to click) unless the runbook lets a
/// service account replace it; a person's key is revoked by the project-key delete.
pub struct OpenAiIssuer {
    admin: AdminApi,
    user_keys: UserKeys,
    /// Keys minted by this process, by idempotency token, so a retry of the same issue
    /// (say, after staging failed) returns the same key instead of minting another. Kept
    /// for [`MINTED_TTL`] at most, forgotten when discarded; values are zeroized when dropped.
    minted: Mutex<HashMap<String, Minted>>,
}

impl std::fmt::Debug for OpenAiIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiIssuer")
            .field("admin", &self.admin)
            .field("user_keys", &self.user_keys)
            .finish_non_exhaustive()
    }
}

/// The rotation's tag in the names of the service accounts it creates: the token's first 12
/// letters and digits after its `breachbook-` prefix (the token is per incident and key).
fn rotation_tag(token: &str) -> String {
    token
        .strip_prefix(SA_PREFIX)
        .unwrap_or(token)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The name of the service account that replaces `old` in the rotation of `token`:
/// `breachbook-<tag>-<old key's name>` (at most 64 characters, lower-case letters, digits
/// and dashes).
pub fn service_account_name(old: &Credential, token: &str) -> String {
    let mut slug = String::new();
    for c in old.name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(40).collect();
    let name = format!("{SA_PREFIX}{}-{}", rotation_tag(token), slug);
    name.trim_end_matches('-').to_string()
}

/// Whether a service account's name is the one a rotation of `token` gives.
fn is_of_rotation(name: &str, token: &str) -> bool {
    let base = format!("{SA_PREFIX}{}", rotation_tag(token));
    name == base || name.starts_with(&format!("{base}-"))
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

    /// How a key owned by a person is replaced (the runbook's `scope.openai.user_keys`).
    pub fn with_user_keys(mut self, user_keys: UserKeys) -> Self {
        self.user_keys = user_keys;
        self
    }

    fn with_api(admin: AdminApi) -> Self {
        OpenAiIssuer {
            admin,
            user_keys: UserKeys::ByHand,
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

    fn owner_type(cred: &Credential) -> Option<&str> {
        cred.meta.get("owner_type").map(String::as_str)
    }

    /// The service account that holds `cred`'s key, when one does.
    fn service_account_of(cred: &Credential) -> Option<&str> {
        (Self::owner_type(cred) == Some("service_account"))
            .then(|| cred.meta.get("service_account_id").map(String::as_str))
            .flatten()
            .filter(|s| !s.is_empty())
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
        let owner = match Self::owner_type(old) {
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
                 Tip: set `user_keys: service_account` under `scope.openai` in the runbook to have a new service account replace such keys.",
                name = old.name,
                hint = old.hint,
            ),
        }
    }

    fn cached(&self, token: &str) -> Option<NewKey> {
        let mut minted = self.minted.lock().unwrap_or_else(|p| p.into_inner());
        minted.retain(|_, m| m.at.elapsed() < MINTED_TTL);
        minted.get(token).map(|m| NewKey {
            key_id: m.key_id.clone(),
            hint: mask(m.secret.expose_secret()),
            secret: m.secret.clone(),
        })
    }

    /// Forgets what this process minted into `service_account` (it was discarded).
    fn forget(&self, service_account: &str) {
        self.minted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, m| m.service_account != service_account);
    }

    /// Creates the service account `name` in `project` and returns its id and key. An
    /// account created without a key (the answer's `api_key` is null) gets one by
    /// `POST …/service_accounts/{id}/api_keys`.
    async fn create_service_account(
        &self,
        project: &str,
        name: &str,
    ) -> ProviderResult<(String, MintedKey)> {
        let admin_key = self.admin.key()?;
        let req = self
            .admin
            .request(Method::POST, &sa_path(project, None), &[], admin_key)?
            .json(&serde_json::json!({ "name": name }));
        let raw = self
            .admin
            .api
            .send(req, &format!("project {project}"), &[admin_key])
            .await?;
        let created: CreatedAccount = self.admin.api.parse(&raw, "the new service account")?;
        drop(raw);
        if let Some(key) = created.api_key {
            return Ok((created.id, key));
        }
        let req = self
            .admin
            .request(
                Method::POST,
                &format!("{}/api_keys", sa_path(project, Some(&created.id))),
                &[],
                admin_key,
            )?
            .json(&serde_json::json!({ "name": name }));
        let raw = self
            .admin
            .api
            .send(
                req,
                &format!("service account {}", created.id),
                &[admin_key],
            )
            .await?;
        let key: MintedKey = self.admin.api.parse(&raw, "the new key")?;
        Ok((created.id, key))
    }

    /// Gives the new service account the old one's role, when that was `owner` (a new
    /// account is a `member`).
    async fn copy_role(&self, old: &Credential, project: &str, sa: &str) -> ProviderResult<()> {
        if old.meta.get("service_account_role").map(String::as_str) != Some("owner") {
            return Ok(());
        }
        self.admin
            .call(
                Method::POST,
                &sa_path(project, Some(sa)),
                &[],
                Some(serde_json::json!({ "role": "owner" })),
                &format!("service account {sa}"),
            )
            .await
            .map(|_| ())
    }

    /// Deletes a service account; one already gone (not listed) is fine.
    async fn delete_service_account(&self, project: &str, sa: &str) -> ProviderResult<()> {
        let listed = service_accounts(&self.admin, project).await?;
        if !listed.iter().any(|s| s.id == sa) {
            tracing::info!(provider = PROVIDER, service_account = %sa, "service account already gone");
            return Ok(());
        }
        match self
            .admin
            .call(
                Method::DELETE,
                &sa_path(project, Some(sa)),
                &[],
                None,
                &format!("service account {sa}"),
            )
            .await
        {
            Ok(_) | Err(ProviderError::NotFound { .. }) => {
                tracing::info!(provider = PROVIDER, service_account = %sa, "deleted service account");
                Ok(())
            }
            Err(e) => Err(e),
        }
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

    /// The key id a usage or cost report is asked about.
    async fn watched_key(
        &self,
        cred: &Credential,
        generation: KeyGeneration,
        new_key_id: Option<&str>,
    ) -> Option<String> {
        let id = match generation {
            KeyGeneration::Old => Some(cred.key_id.clone()),
            KeyGeneration::New => match new_key_id {
                Some(id) => self.resolve_new_key(cred, id).await,
                None => None,
            },
        };
        id.filter(|k| !k.is_empty())
    }
}

#[async_trait]
impl KeyIssuer for OpenAiIssuer {
    /// Creates a new service account named after the rotation in the old key's project
    /// (its answer carries the new key), giving it the old account's role. A retry with the
    /// same token returns the same key while this process holds it; an account an earlier,
    /// interrupted try left is the engine's to reconcile ([`KeyIssuer::find_strays`]).
    async fn issue(&self, old: &Credential, token: &str) -> ProviderResult<NewKey> {
        let by_account = match Self::owner_type(old) {
            Some("service_account") => Self::service_account_of(old).is_some(),
            Some("user") => self.user_keys == UserKeys::ServiceAccount,
            _ => false,
        };
        if !by_account {
            return Err(Self::manual(old, token));
        }
        let project = self.project_of(old)?.to_string();
        if let Some(k) = self.cached(token) {
            return Ok(k);
        }
        self.admin.key()?;
        let name = service_account_name(old, token);
        let (sa, key) = self.create_service_account(&project, &name).await?;
        // Not held until the role is right: a failure here leaves an account the engine's
        // reconcile finds (its key is in no store) and deletes before minting again.
        self.copy_role(old, &project, &sa).await?;
        let new = NewKey {
            hint: mask(key.value.expose_secret()),
            key_id: key.id.clone(),
            secret: key.value.clone(),
        };
        self.minted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                token.to_string(),
                Minted {
                    service_account: sa.clone(),
                    key_id: key.id,
                    secret: key.value,
                    at: Instant::now(),
                },
            );
        tracing::info!(provider = PROVIDER, service_account = %sa, key_id = %new.key_id, hint = %new.hint, "created a service account for the new key");
        Ok(new)
    }

    /// `GET /v1/models` with the key: 200 → alive, 401 → dead. A 403 (the key lacks the
    /// models permission) is an error: the key exists but cannot be proven to work here.
    /// (The spec documents only the 200; 401 and 403 are OpenAI's error-code guide's.)
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

    /// Still listed among the project's keys → alive; no longer listed → dead. (Listing is
    /// what the spec documents; it documents no answer for retrieving a deleted key.)
    async fn old_key_liveness(&self, old: &Credential) -> ProviderResult<Liveness> {
        let project = self.project_of(old)?;
        let keys = project_keys(&self.admin, project).await?;
        Ok(if keys.iter().any(|k| k.id == old.key_id) {
            Liveness::Alive
        } else {
            Liveness::Dead
        })
    }

    /// Deletes the old key's service account (and so every key it holds), or a person's key
    /// itself. Already gone → Ok. OpenAI cannot deactivate a key: this is for good.
    async fn revoke(&self, old: &Credential) -> ProviderResult<()> {
        let project = self.project_of(old)?;
        if Self::owner_type(old) == Some("service_account") {
            let Some(sa) = Self::service_account_of(old) else {
                return Err(ProviderError::Validation {
                    provider: PROVIDER.into(),
                    message: format!(
                        "{} is a service account's key but breachbook does not know which account: delete it at platform.openai.com (project {project} → Service accounts)",
                        old.name
                    ),
                });
            };
            return self.delete_service_account(project, sa).await;
        }
        let keys = project_keys(&self.admin, project).await?;
        if !keys.iter().any(|k| k.id == old.key_id) {
            tracing::info!(provider = PROVIDER, key_id = %old.key_id, "key already gone");
            return Ok(());
        }
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
            Ok(_) | Err(ProviderError::NotFound { .. }) => {
                tracing::info!(provider = PROVIDER, key_id = %old.key_id, "deleted project API key");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Same as `revoke`: the delete already happened there; gone now is success.
    async fn delete(&self, old: &Credential) -> ProviderResult<()> {
        self.revoke(old).await
    }

    /// Service accounts of the old key's project that carry this rotation's tag, were
    /// created at or after `since` (less five minutes of clock skew) and hold no key breachbook
    /// holds (`known`): an interrupted mint left them. Never the old key's own account.
    async fn find_strays(
        &self,
        old: &Credential,
        token: &str,
        since: DateTime<Utc>,
        known: &[String],
    ) -> ProviderResult<Vec<StrayKey>> {
        let by_account = Self::service_account_of(old).is_some()
            || (Self::owner_type(old) == Some("user")
                && self.user_keys == UserKeys::ServiceAccount);
        if !by_account {
            // Made by hand: breachbook mints nothing to leave behind.
            return Ok(Vec::new());
        }
        let project = self.project_of(old)?;
        let old_sa = Self::service_account_of(old);
        let earliest = since - STRAY_CLOCK_SKEW;
        let candidates: Vec<ServiceAccount> = service_accounts(&self.admin, project)
            .await?
            .into_iter()
            .filter(|sa| Some(sa.id.as_str()) != old_sa && is_of_rotation(&sa.name, token))
            .filter(|sa| http::unix_time(sa.created_at).is_none_or(|t| t >= earliest))
            .collect();
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let keys = project_keys(&self.admin, project).await?;
        let mut strays = Vec::new();
        for sa in candidates {
            let held: Vec<&ProjectKey> = keys
                .iter()
                .filter(|k| k.service_account().and_then(|o| o.id.as_deref()) == Some(&sa.id))
                .collect();
            if held.iter().any(|k| known.contains(&k.id)) {
                continue;
            }
            let created = http::unix_time(sa.created_at);
            let keys_said = if held.is_empty() {
                "no key".to_string()
            } else {
                held.iter()
                    .map(|k| format!("key {} ({})", k.id, k.hint()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            strays.push(StrayKey {
                what: format!(
                    "service account {} ({}) of project {project} with {keys_said}{}",
                    sa.name,
                    sa.id,
                    created
                        .map(|t| format!(", created {}", t.format("%H:%M:%S")))
                        .unwrap_or_default()
                ),
                key_id: sa.id,
                created,
            });
        }
        Ok(strays)
    }

    /// Deletes the stray's service account: `stray.key_id` is a service account
    /// [`KeyIssuer::find_strays`] named, or the id of a key breachbook minted (whose account
    /// is looked up). Only accounts breachbook names (`breachbook-…`) are deleted, never the
    /// old key's own. Already gone → Ok.
    async fn discard_stray(&self, old: &Credential, stray: &StrayKey) -> ProviderResult<()> {
        let project = self.project_of(old)?;
        let accounts = service_accounts(&self.admin, project).await?;
        let account = match accounts.iter().find(|sa| sa.id == stray.key_id) {
            Some(sa) => Some((sa.id.clone(), sa.name.clone())),
            None => {
                let keys = project_keys(&self.admin, project).await?;
                let owner = keys
                    .iter()
                    .find(|k| k.id == stray.key_id)
                    .and_then(|k| k.service_account())
                    .and_then(|o| o.id.clone());
                owner.and_then(|id| {
                    accounts
                        .iter()
                        .find(|sa| sa.id == id)
                        .map(|sa| (sa.id.clone(), sa.name.clone()))
                })
            }
        };
        let Some((sa, name)) = account else {
            tracing::info!(provider = PROVIDER, stray = %stray.key_id, "stray already gone");
            self.forget(&stray.key_id);
            return Ok(());
        };
        if Some(sa.as_str()) == Self::service_account_of(old) || !name.starts_with(SA_PREFIX) {
            return Err(ProviderError::Validation {
                provider: PROVIDER.into(),
                message: format!(
                    "service account {name} ({sa}) is not one breachbook created, so it is not discarded; check it at platform.openai.com (project {project} → Service accounts)"
                ),
            });
        }
        self.delete_service_account(project, &sa).await?;
        self.forget(&sa);
        Ok(())
    }

    fn usage_blind_spots(&self) -> Option<String> {
        Some(USAGE_BLIND_SPOTS.to_string())
    }

    /// Costs of the key per day (`GET /v1/organization/costs`, `bucket_width=1d` — its only
    /// width — grouped by `api_key_id`), summed from the day `since` falls in.
    async fn spend(
        &self,
        cred: &Credential,
        generation: KeyGeneration,
        new_key_id: Option<&str>,
        since: DateTime<Utc>,
    ) -> ProviderResult<Option<Spend>> {
        let Some(key_id) = self.watched_key(cred, generation, new_key_id).await else {
            return Ok(None);
        };
        let day = since.timestamp().div_euclid(86_400) * 86_400;
        let start = day.to_string();
        let mut total = 0f64;
        let mut currency: Option<String> = None;
        let query = [
            ("start_time", start.as_str()),
            ("bucket_width", "1d"),
            ("group_by", "api_key_id"),
            ("api_key_ids", key_id.as_str()),
            ("limit", "180"),
        ];
        self.admin
            .report(
                "/v1/organization/costs",
                &query,
                "costs",
                MAX_PAGES,
                |buckets: Vec<UsageBucket>| {
                    for b in buckets {
                        for r in b
                            .results
                            .iter()
                            .filter(|r| r.api_key_id.as_deref().is_none_or(|k| k == key_id))
                        {
                            if let Some(a) = &r.amount {
                                total += a.value;
                                if currency.is_none() {
                                    currency = a.currency.clone();
                                }
                            }
                        }
                    }
                },
            )
            .await?;
        Ok(Some(Spend {
            amount: total,
            currency: currency.unwrap_or_else(|| "usd".to_string()),
            since: DateTime::from_timestamp(day, 0).unwrap_or(since),
        }))
    }

    /// Calls per minute with the key across the eight usage reports that group by
    /// `api_key_id` (`bucket_width=1m`): model requests, or file and web search calls. `ok`
    /// counts them; `denied` is always 0 — the Usage API counts only served requests, so
    /// refused calls with an old key cannot be seen here. Vector stores and code interpreter
    /// sessions are per project only ([`KeyIssuer::usage_blind_spots`]).
    async fn usage(
        &self,
        cred: &Credential,
        generation: KeyGeneration,
        new_key_id: Option<&str>,
        since: DateTime<Utc>,
    ) -> ProviderResult<Vec<UsageSample>> {
        let Some(key_id) = self.watched_key(cred, generation, new_key_id).await else {
            return Ok(Vec::new());
        };
        let start = (since.timestamp().div_euclid(60) * 60).to_string();
        let mut per_minute: BTreeMap<i64, u64> = BTreeMap::new();
        // 1440 one-minute buckets is a day, the documented maximum for `1m`.
        let query = [
            ("start_time", start.as_str()),
            ("bucket_width", "1m"),
            ("group_by", "api_key_id"),
            ("api_key_ids", key_id.as_str()),
            ("limit", "1440"),
        ];
        for (report, count) in USAGE_REPORTS {
            self.admin
                .report(
                    &format!("/v1/organization/usage/{report}"),
                    &query,
                    &format!("{} usage", report.replace('_', " ")),
                    MAX_PAGES,
                    |buckets: Vec<UsageBucket>| {
                        for b in buckets {
                            let n: u64 = b
                                .results
                                .iter()
                                .filter(|r| r.api_key_id.as_deref().is_none_or(|k| k == key_id))
                                .map(|r| match count {
                                    Count::ModelRequests => r.num_model_requests,
                                    Count::Requests => r.num_requests,
                                })
                                .sum();
                            *per_minute.entry(b.start_time).or_default() += n;
                        }
                    },
                )
                .await?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(name: &str) -> Credential {
        Credential {
            id: "openai/key_1".into(),
            issuer: Issuer::Openai,
            key_id: "key_1".into(),
            name: name.into(),
            hint: "sk-…abcd".into(),
            created: None,
            last_used: None,
            locations: Vec::new(),
            exposed: true,
            exposure_reason: String::new(),
            fingerprint: None,
            meta: BTreeMap::new(),
        }
    }

    #[test]
    fn service_accounts_are_named_after_the_rotation() {
        let token = "breachbook-0123456789abcdef0123456789abcdef";
        let name = service_account_name(&cred("Chat API (prod)"), token);
        assert_eq!(name, "breachbook-0123456789ab-chat-api-prod");
        assert!(is_of_rotation(&name, token));
        assert!(!is_of_rotation(
            &name,
            "breachbook-ffff456789abcdef0123456789abcdef"
        ));
        assert!(!is_of_rotation("breachbook-0123456789abc-x", token));
        assert!(name.len() <= 64);
        let long = service_account_name(&cred(&"x".repeat(200)), token);
        assert!(long.len() <= 64, "{long}");
    }
}
