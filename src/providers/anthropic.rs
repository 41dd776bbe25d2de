//! Anthropic through its Admin API: the organization's API keys ([`AnthropicInventory`]) and
//! testing, deactivating, archiving and watching them ([`AnthropicIssuer`]); who made a key
//! is its own `created_by` ([`AnthropicCreators`]).
//!
//! Endpoints (Admin key as `x-api-key`, `anthropic-version: 2023-06-01`, base
//! `https://api.anthropic.com`): `GET /v1/organizations/api_keys[/{id}]` (cursor
//! `after_id`/`has_more`/`last_id`), `POST /v1/organizations/api_keys/{id}` (`status`:
//! `active`, `inactive` or `archived`), `GET /v1/organizations/usage_report/messages`; and
//! `GET /v1/models` with the key under test. The Admin API cannot create keys.
//! Only what sets this provider apart lives here (its `http::Vendor`, its endpoints and
//! answers); construction, auth and errors are `http`'s. May depend on `http`, the incident
//! ports and model and the runbook schema only.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Client, Method, StatusCode};
use secrecy::SecretString;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::http::{AdminApi, HttpConfig, KeyHeader, Slot, Vendor, seg};
use crate::incident::model::{
    Credential, KeyGeneration, UsageSample, hint_from_redacted, hints_match,
};
use crate::incident::ports::{
    CreatorFindings, CreatorLog, Inventory, KeyIssuer, Liveness, NewKey, ProviderError,
    ProviderResult,
};
use crate::incident::provenance::{Creator, Provenance};
use crate::runbook::schema::{ExposureWindow, Issuer, Scope};

const PROVIDER: &str = "Anthropic";
/// The API version every request names.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
const WHERE_ADMIN_KEY: &str =
    "an Admin API key (sk-ant-admin…) from console.anthropic.com → Settings → Admin keys";
const PAGE: &str = "1000";
const MAX_PAGES: usize = 1000;

/// Why an Anthropic key listed by the Admin API is not itself called exposed.
pub const EXPOSURE_REASON: &str =
    "listed at Anthropic; exposed only where a stored copy was readable";

#[derive(Deserialize)]
struct KeyList {
    data: Vec<ApiKey>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    last_id: Option<String>,
}

#[derive(Deserialize)]
struct ApiKey {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    workspace_id: Option<String>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    partial_key_hint: Option<String>,
    #[serde(default)]
    status: Option<String>,
    /// "The ID and type of the actor that created the API key" (ANT api_keys/retrieve).
    #[serde(default)]
    created_by: Option<Actor>,
}

/// `created_by`: `{id, type}`.
#[derive(Deserialize)]
struct Actor {
    #[serde(default)]
    id: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct UsageBucket {
    starting_at: DateTime<Utc>,
    #[serde(default)]
    results: Vec<UsageResult>,
}

#[derive(Deserialize, Default)]
struct UsageResult {
    #[serde(default)]
    api_key_id: Option<String>,
    #[serde(default)]
    uncached_input_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation: Option<CacheCreation>,
}

#[derive(Deserialize, Default)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_1h_input_tokens: u64,
    #[serde(default)]
    ephemeral_5m_input_tokens: u64,
}

impl UsageResult {
    fn tokens(&self) -> u64 {
        let cache = self
            .cache_creation
            .as_ref()
            .map(|c| c.ephemeral_1h_input_tokens + c.ephemeral_5m_input_tokens)
            .unwrap_or(0);
        self.uncached_input_tokens + self.cache_read_input_tokens + self.output_tokens + cache
    }
}

/// Anthropic's Admin API: the key as `x-api-key`, every request naming
/// `anthropic-version`.
pub(crate) const VENDOR: Vendor = Vendor {
    name: PROVIDER,
    slot: Slot::Anthropic,
    key_header: KeyHeader::Named("x-api-key"),
    version: Some(("anthropic-version", ANTHROPIC_VERSION)),
    where_admin_key: WHERE_ADMIN_KEY,
};

/// Every key (all statuses), optionally of one workspace.
async fn list_keys(admin: &AdminApi, workspace: Option<&str>) -> ProviderResult<Vec<ApiKey>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query = vec![("limit", PAGE)];
        if let Some(w) = workspace {
            query.push(("workspace_id", w));
        }
        if let Some(a) = after.as_deref() {
            query.push(("after_id", a));
        }
        let raw = admin
            .call(
                Method::GET,
                "/v1/organizations/api_keys",
                &query,
                None,
                "API keys",
            )
            .await?;
        let page: KeyList = admin.api.parse(&raw, "API keys")?;
        out.extend(page.data);
        match page.last_id {
            Some(n) if page.has_more && after.as_deref() != Some(n.as_str()) => after = Some(n),
            _ => break,
        }
    }
    Ok(out)
}

async fn key_status(admin: &AdminApi, key_id: &str) -> ProviderResult<Option<String>> {
    let raw = admin
        .call(
            Method::GET,
            &format!("/v1/organizations/api_keys/{}", seg(key_id)),
            &[],
            None,
            &format!("API key {key_id}"),
        )
        .await?;
    let k: ApiKey = admin.api.parse(&raw, "API key")?;
    Ok(k.status)
}

async fn set_status(admin: &AdminApi, key_id: &str, status: &str) -> ProviderResult<()> {
    admin
        .call(
            Method::POST,
            &format!("/v1/organizations/api_keys/{}", seg(key_id)),
            &[],
            Some(serde_json::json!({ "status": status })),
            &format!("API key {key_id}"),
        )
        .await
        .map(|_| ())
}

fn credential(key: ApiKey) -> Credential {
    let mut meta = BTreeMap::new();
    if let Some(w) = key.workspace_id.as_ref().filter(|w| !w.is_empty()) {
        meta.insert("workspace_id".to_string(), w.clone());
    }
    let status = key.status.clone().unwrap_or_else(|| "unknown".to_string());
    meta.insert("status".to_string(), status.clone());
    if let Some(by) = &key.created_by {
        for (k, v) in [(CREATED_BY_ID, &by.id), (CREATED_BY_TYPE, &by.kind)] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                meta.insert(k.to_string(), v.clone());
            }
        }
    }
    let exposure_reason = if status == "active" {
        EXPOSURE_REASON.to_string()
    } else {
        format!("{EXPOSURE_REASON} (status {status}: Anthropic already refuses it)")
    };
    Credential {
        id: format!("anthropic/{}", key.id),
        issuer: Issuer::Anthropic,
        name: key
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| key.id.clone()),
        hint: key
            .partial_key_hint
            .as_deref()
            .map(hint_from_redacted)
            .unwrap_or_else(|| "…".to_string()),
        key_id: key.id,
        created: key.created_at,
        // The Admin API does not say when a key was last used.
        last_used: None,
        locations: Vec::new(),
        exposed: false,
        exposure_reason,
        fingerprint: None,
        meta,
    }
}

/// The credential's meta naming who created an Anthropic key (`created_by.id`, `.type`).
pub const CREATED_BY_ID: &str = "created_by_id";
pub const CREATED_BY_TYPE: &str = "created_by_type";

/// Who made the Anthropic keys created during the window: the key's own `created_by`, as
/// the inventory read it (no further call). The Admin API records no source address and no
/// users, invites or workspaces made around it, so there is no persistence to list here.
#[derive(Debug, Clone, Default)]
pub struct AnthropicCreators;

#[async_trait]
impl CreatorLog for AnthropicCreators {
    async fn look_up(
        &self,
        _window: &ExposureWindow,
        created: &[Credential],
    ) -> ProviderResult<CreatorFindings> {
        let creators = created
            .iter()
            .filter(|c| c.issuer == Issuer::Anthropic)
            .map(|c| {
                let p = match c.meta.get(CREATED_BY_ID) {
                    Some(id) => Provenance::Creator {
                        creator: Creator {
                            identity: id.clone(),
                            kind: c.meta.get(CREATED_BY_TYPE).cloned(),
                            source_ip: None,
                            at: c.created,
                            with_key: None,
                            event: "api_key created_by".into(),
                        },
                    },
                    None => Provenance::Unknown {
                        why: format!(
                            "creator unknown — Anthropic's Admin API named no created_by for {} (only keys listed by the Anthropic inventory carry it)",
                            c.hint
                        ),
                    },
                };
                (c.id.clone(), p)
            })
            .collect();
        Ok(CreatorFindings {
            creators,
            persistence: Vec::new(),
        })
    }
}

/// Lists the organization's API keys (every status), all workspaces or those of
/// `scope.anthropic.workspaces`, one page of credentials per page of the Admin API list.
#[derive(Debug, Clone)]
pub struct AnthropicInventory {
    admin: AdminApi,
}

impl AnthropicInventory {
    /// An inventory calling `base_url` (e.g. `https://api.anthropic.com`) with `admin_key`.
    /// Without a key, `discover` fails with `Auth` naming `ANTHROPIC_ADMIN_KEY`.
    pub fn new(client: Client, base_url: &str, admin_key: Option<SecretString>) -> Self {
        AnthropicInventory {
            admin: AdminApi::new(&VENDOR, client, base_url, admin_key),
        }
    }

    /// From the shared configuration ([`HttpConfig::from_env`]).
    pub fn from_config(cfg: &HttpConfig) -> Self {
        AnthropicInventory {
            admin: cfg.admin_api(&VENDOR),
        }
    }
}

#[async_trait]
impl Inventory for AnthropicInventory {
    async fn discover(
        &self,
        scope: &Scope,
        _exposure: &ExposureWindow,
        pages: mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let Some(anthropic) = &scope.anthropic else {
            return Ok(());
        };
        self.admin.key()?;
        let workspaces: Vec<Option<&str>> = if anthropic.workspaces.is_empty() {
            vec![None]
        } else {
            anthropic
                .workspaces
                .iter()
                .map(|w| Some(w.as_str()))
                .collect()
        };
        for w in workspaces {
            let keys = list_keys(&self.admin, w).await?;
            let page: Vec<Credential> = keys
                .into_iter()
                // The filter is the API's; keep only matches in case it is ignored.
                .filter(|k| w.is_none() || k.workspace_id.as_deref() == w)
                .map(credential)
                .collect();
            if !page.is_empty() {
                let _ = pages.send(page);
            }
        }
        Ok(())
    }
}

/// Tests, deactivates, archives and watches Anthropic API keys.
///
/// The Admin API cannot create keys: `issue` answers [`ProviderError::ManualIssue`] with
/// where to click in the Console. `revoke` sets the key `inactive` (undoable in the
/// Console); `delete` sets it `archived` — the Admin API has no delete, and archiving is
/// its final state.
#[derive(Debug, Clone)]
pub struct AnthropicIssuer {
    admin: AdminApi,
}

impl AnthropicIssuer {
    /// An issuer calling `base_url` with `admin_key` for the Admin API. Without a key,
    /// everything but `verify` and `issue` fails with `Auth` naming `ANTHROPIC_ADMIN_KEY`.
    pub fn new(client: Client, base_url: &str, admin_key: Option<SecretString>) -> Self {
        AnthropicIssuer {
            admin: AdminApi::new(&VENDOR, client, base_url, admin_key),
        }
    }

    /// From the shared configuration ([`HttpConfig::from_env`]).
    pub fn from_config(cfg: &HttpConfig) -> Self {
        AnthropicIssuer {
            admin: cfg.admin_api(&VENDOR),
        }
    }

    fn key_id<'a>(&self, cred: &'a Credential) -> ProviderResult<&'a str> {
        Some(cred.key_id.as_str())
            .filter(|k| !k.is_empty() && !k.contains(char::is_whitespace))
            .ok_or_else(|| ProviderError::Validation {
                provider: PROVIDER.into(),
                message: format!(
                    "breachbook does not know the Anthropic key id of {} ({}): add `anthropic:` to the runbook scope so the inventory lists it, or act on it in the Console",
                    cred.name, cred.hint
                ),
            })
    }

    /// Sets `status`; when the Admin API refuses (say, the key is archived already), a key
    /// that is no longer active counts as done.
    async fn retire(&self, old: &Credential, status: &str) -> ProviderResult<()> {
        let id = self.key_id(old)?;
        match set_status(&self.admin, id, status).await {
            Ok(()) => {
                tracing::info!(provider = PROVIDER, key_id = %id, status, "changed API key status");
                Ok(())
            }
            Err(e @ ProviderError::Validation { .. }) => match key_status(&self.admin, id).await {
                Ok(Some(s)) if s == status || s == "archived" => Ok(()),
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// The id of a pasted new key (`pasted sk-…abcd`), found by its hint when exactly one
    /// other active key matches.
    async fn resolve_new_key(&self, old: &Credential, new_key_id: &str) -> Option<String> {
        let Some(hint) = new_key_id.strip_prefix("pasted ") else {
            return Some(new_key_id.to_string());
        };
        let keys = list_keys(&self.admin, None).await.ok()?;
        let mut matches = keys.iter().filter(|k| {
            k.id != old.key_id
                && k.partial_key_hint
                    .as_deref()
                    .is_some_and(|h| hints_match(hint, &hint_from_redacted(h)))
        });
        let first = matches.next()?;
        matches.next().is_none().then(|| first.id.clone())
    }
}

/// Whether breachbook knows the key's id at Anthropic (the Admin API listed it).
fn has_key_id(c: &Credential) -> bool {
    !c.key_id.is_empty() && !c.key_id.contains(char::is_whitespace)
}

/// The Console steps for a key the Admin API cannot be asked about by id.
fn by_hand(old: &Credential, verb: &str) -> ProviderError {
    ProviderError::ManualRevoke {
        provider: PROVIDER.into(),
        instructions: format!(
            "breachbook does not know the Anthropic key id of {} ({}): console.anthropic.com → Settings → API keys → the key shown as {} → {verb}. Add `anthropic:` to the runbook scope (with ANTHROPIC_ADMIN_KEY) so the inventory lists key ids next time",
            old.name, old.hint, old.hint
        ),
    }
}

#[async_trait]
impl KeyIssuer for AnthropicIssuer {
    /// Always [`ProviderError::ManualIssue`]: the Admin API has no create.
    async fn issue(&self, old: &Credential, token: &str) -> ProviderResult<NewKey> {
        let workspace = old
            .meta
            .get("workspace_id")
            .map(|w| format!("the workspace {w}"))
            .unwrap_or_else(|| "the same workspace as the old key".to_string());
        Err(ProviderError::ManualIssue {
            provider: PROVIDER.into(),
            instructions: format!(
                "Create the replacement for {name} ({hint}) by hand — Anthropic's Admin API cannot create keys. \
                 1. Open console.anthropic.com (it may redirect to platform.claude.com) → Settings → API keys. \
                 2. Click \"Create key\"; Workspace: {workspace}; Name: {token}. \
                 3. Copy the key (the Console shows it only once). \
                 4. Paste it into breachbook's hidden input — nowhere else (no chat, ticket or file). \
                 breachbook tests it, then stores it as pending.",
                name = old.name,
                hint = old.hint,
            ),
        })
    }

    /// `GET /v1/models` with the key: 200 → alive, 401 → dead.
    async fn verify(&self, _cred: &Credential, key: &SecretString) -> ProviderResult<Liveness> {
        let api = &self.admin.api;
        let req = self.admin.request(Method::GET, "/v1/models", &[], key)?;
        let raw = api.send_raw(req, &[key]).await?;
        match raw.status {
            s if s.is_success() => Ok(Liveness::Alive),
            StatusCode::UNAUTHORIZED => Ok(Liveness::Dead),
            _ => Err(api.error(&raw, "models", &[key])),
        }
    }

    /// Status `active` → alive; `inactive`, `archived`, `expired` (or gone) → dead.
    /// Without the key's id (found only in storage), Unsupported: the engine then tests the
    /// old value itself.
    async fn old_key_liveness(&self, old: &Credential) -> ProviderResult<Liveness> {
        if !has_key_id(old) {
            return Err(ProviderError::Unsupported {
                provider: PROVIDER.into(),
                message: format!("the id of {} is not known", old.hint),
            });
        }
        let id = self.key_id(old)?;
        match key_status(&self.admin, id).await {
            Ok(Some(s)) if s == "active" => Ok(Liveness::Alive),
            Ok(_) | Err(ProviderError::NotFound { .. }) => Ok(Liveness::Dead),
            Err(e) => Err(e),
        }
    }

    /// `POST /v1/organizations/api_keys/{id}` with `{"status":"inactive"}`.
    /// A key whose id breachbook does not know (found only in storage) is disabled by hand
    /// in the Console ([`ProviderError::ManualRevoke`]).
    async fn revoke(&self, old: &Credential) -> ProviderResult<()> {
        if !has_key_id(old) {
            return Err(by_hand(old, "Disable"));
        }
        self.retire(old, "inactive").await
    }

    /// `{"status":"archived"}`: the Admin API's closest thing to a delete.
    async fn delete(&self, old: &Credential) -> ProviderResult<()> {
        if !has_key_id(old) {
            return Err(by_hand(old, "Delete"));
        }
        self.retire(old, "archived").await
    }

    /// Messages usage report per minute for the key (`group_by[]=api_key_id`,
    /// `bucket_width=1m`). The report counts tokens, not requests: `ok` is 1 for each minute
    /// the key used any tokens (at least one served call) and `denied` is always 0 — refused
    /// calls are not reported.
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
        let start = DateTime::from_timestamp(since.timestamp().div_euclid(60) * 60, 0)
            .unwrap_or(since)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let mut minutes: BTreeMap<DateTime<Utc>, u64> = BTreeMap::new();
        let query = [
            ("starting_at", start.as_str()),
            ("bucket_width", "1m"),
            ("group_by[]", "api_key_id"),
            ("api_key_ids[]", key_id.as_str()),
            ("limit", "1440"),
        ];
        self.admin
            .report(
                "/v1/organizations/usage_report/messages",
                &query,
                "messages usage report",
                MAX_PAGES,
                |buckets: Vec<UsageBucket>| {
                    for b in buckets {
                        let tokens: u64 = b
                            .results
                            .iter()
                            .filter(|r| r.api_key_id.as_deref().is_none_or(|k| k == key_id))
                            .map(UsageResult::tokens)
                            .sum();
                        *minutes.entry(b.starting_at).or_default() += tokens;
                    }
                },
            )
            .await?;
        Ok(minutes
            .into_iter()
            .filter(|(_, tokens)| *tokens > 0)
            .map(|(minute, _)| UsageSample {
                credential: cred.id.clone(),
                generation,
                minute,
                ok: 1,
                denied: 0,
                sources: Vec::new(),
            })
            .collect())
    }
}
