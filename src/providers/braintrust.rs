//! Braintrust, the breached vendor: what it holds for us and its own keys. Its org-level AI
//! secrets and its environment variables (org-, project- and function-scoped secrets) are
//! listed as credentials and rewritten with a new value ([`BraintrustInventory`],
//! [`BraintrustStore`]); its own API keys are listed, made anew by hand and revoked
//! ([`BraintrustIssuer`]).
//!
//! The contract (braintrustdata/braintrust-openapi@b561b12dd30b9862a48e391e86b33e96043cdc0a
//! openapi/spec.json; API key as `Authorization: Bearer`, base `https://api.braintrust.dev`):
//! - `GET /v1/ai_secret` (`org_name`, `ai_secret_name`, `limit`, cursor `starting_after`;
//!   answers `{"objects": [...]}` with no `has_more`: a list ends with an empty page),
//!   `GET|PATCH /v1/ai_secret/{id}`. `POST /v1/ai_secret` on an existing name "will return the
//!   existing ai_secret unmodified", so nothing here writes with POST: a new value goes in by
//!   `PATCH` (`secret` only) and `secret_updated_at` is read back to see it changed.
//! - `GET /v1/env_var` (`object_type`, `object_id`, `env_var_name`; no cursor and no
//!   `org_name`), `GET|PATCH /v1/env_var/{id}` (PATCH must resend `name`). POST has the same
//!   no-op trap.
//! - `GET /v1/api_key` (`org_name`, `limit`, `starting_after`, `ids`), `DELETE
//!   /v1/api_key/{id}`: "To create new API keys, visit Settings > API keys" — a new Braintrust
//!   API key is made by hand (the create route was removed in #200, 2026-05-21).
//! - `GET /v1/organization?limit=1` answers with the key under test ("401 No valid API key
//!   provided").
//!
//! Only what sets this provider apart lives here (its `http::Vendor`, its endpoints and
//! answers); construction, auth and errors are `http`'s. May depend on `http`, the incident
//! ports and model and the runbook schema only.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Client, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use tokio::sync::mpsc;

use super::http::{AdminApi, HttpConfig, KeyHeader, Slot, Vendor, seg};
use crate::incident::model::{
    Credential, KeyGeneration, Location, LocationKind, UsageSample, hint_from_redacted,
};
use crate::incident::ports::{
    Inventory, KeyIssuer, Liveness, NewKey, ProviderError, ProviderResult, SecretStore,
};
use crate::runbook::schema::{BraintrustScope, ExposureWindow, Issuer, Scope};

const PROVIDER: &str = "Braintrust";
const WHERE_KEY: &str = "a Braintrust API key from braintrust.dev → Settings → API keys";
/// Where a person makes a new Braintrust API key (`getApiKey`'s description).
const API_KEYS_PAGE: &str = "https://www.braintrust.dev/app/~/configuration/org/api-keys";
const PAGE: usize = 100;
const MAX_PAGES: usize = 1000;
/// Location names of environment variables start with this; an AI secret's is its name.
const ENV_VAR: &str = "env_var/";

/// Why a Braintrust API key listed by Braintrust is not itself called exposed.
pub const API_KEY_REASON: &str = "listed at Braintrust (breached: its advice is to replace every API key); exposed where a stored copy was readable — add where it is stored to the scope to rotate it";

/// A time in RFC 3339, or as Postgres writes it (`2026-05-01 10:00:00.123+00`).
fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.and_then(|s| parse_time(&s)))
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .ok()
        .or_else(|| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%#z").ok())
        .map(|d| d.with_timezone(&Utc))
}

#[derive(Deserialize)]
struct Objects<T> {
    objects: Vec<T>,
}

/// `AISecret`.
#[derive(Deserialize, Clone)]
struct AiSecret {
    id: String,
    name: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    created: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    updated_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    secret_updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    preview_secret: Option<String>,
}

/// `EnvVar`: no `updated_at`, no `org_id`, never the value.
#[derive(Deserialize, Clone)]
struct EnvVar {
    id: String,
    object_type: String,
    object_id: String,
    name: String,
    #[serde(default, deserialize_with = "lenient_time")]
    created: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    secret_updated_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    used: Option<DateTime<Utc>>,
    #[serde(default)]
    preview_secret: Option<String>,
    #[serde(default)]
    secret_type: Option<String>,
}

/// `ApiKey`.
#[derive(Deserialize, Clone)]
struct ApiKey {
    id: String,
    name: String,
    #[serde(default)]
    preview_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    created: Option<DateTime<Utc>>,
    #[serde(default)]
    user_email: Option<String>,
}

/// What a stored copy says about when its value changed, and which field said so.
trait Changed {
    fn changed(&self) -> Option<(DateTime<Utc>, &'static str)>;
    fn preview(&self) -> Option<&str>;
}

impl Changed for AiSecret {
    fn changed(&self) -> Option<(DateTime<Utc>, &'static str)> {
        self.secret_updated_at
            .map(|t| (t, "secret_updated_at"))
            .or(self.updated_at.map(|t| (t, "updated_at")))
            .or(self.created.map(|t| (t, "created")))
    }
    fn preview(&self) -> Option<&str> {
        self.preview_secret.as_deref()
    }
}

impl Changed for EnvVar {
    fn changed(&self) -> Option<(DateTime<Utc>, &'static str)> {
        self.secret_updated_at
            .map(|t| (t, "secret_updated_at"))
            .or(self.created.map(|t| (t, "created")))
    }
    fn preview(&self) -> Option<&str> {
        self.preview_secret.as_deref()
    }
}

/// Which issuer an AI secret's `type` names: `openai`, `anthropic`, `google`/`gemini`;
/// anything else (Azure, Bedrock, Mistral…) is generic.
pub fn issuer_of_type(kind: Option<&str>) -> Issuer {
    match kind.map(|k| k.trim().to_ascii_lowercase()).as_deref() {
        Some("openai") => Issuer::Openai,
        Some("anthropic") => Issuer::Anthropic,
        Some("google") | Some("gemini") => Issuer::Gemini,
        Some("braintrust") => Issuer::Braintrust,
        _ => Issuer::Generic,
    }
}

/// Which issuer an environment variable holds a key of: its `secret_type` ("for example,
/// the AI provider name"), else its name (`OPENAI_API_KEY`, `GEMINI_API_KEY`…).
pub fn issuer_of_env_var(secret_type: Option<&str>, name: &str) -> Issuer {
    let by_type = issuer_of_type(secret_type);
    if by_type != Issuer::Generic {
        return by_type;
    }
    let n = name.to_ascii_uppercase();
    if n.starts_with("OPENAI_") {
        Issuer::Openai
    } else if n.starts_with("ANTHROPIC_") {
        Issuer::Anthropic
    } else if n.starts_with("GEMINI_") || n.starts_with("GOOGLE_API_KEY") {
        Issuer::Gemini
    } else if n.starts_with("BRAINTRUST_") {
        Issuer::Braintrust
    } else {
        Issuer::Generic
    }
}

/// The location name of an environment variable: `env_var/<scope type>/<scope id>/<name>`.
pub fn env_var_location(object_type: &str, object_id: &str, name: &str) -> String {
    format!("{ENV_VAR}{object_type}/{object_id}/{name}")
}

/// What a Braintrust location is.
enum Place<'a> {
    AiSecret(&'a str),
    EnvVar {
        object_type: &'a str,
        object_id: &'a str,
        name: &'a str,
    },
}

fn place_of(loc: &Location) -> ProviderResult<Place<'_>> {
    let Some(rest) = loc.name.strip_prefix(ENV_VAR) else {
        return Ok(Place::AiSecret(&loc.name));
    };
    let mut parts = rest.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(object_type), Some(object_id), Some(name)) if !name.is_empty() => Ok(Place::EnvVar {
            object_type,
            object_id,
            name,
        }),
        _ => Err(ProviderError::Validation {
            provider: PROVIDER.into(),
            message: format!(
                "{} does not name an environment variable as env_var/<scope>/<id>/<name>",
                loc.label()
            ),
        }),
    }
}

/// Braintrust's API: the API key as `Authorization: Bearer`, no version header
/// (`#/components/securitySchemes/bearerAuth`).
pub(crate) const VENDOR: Vendor = Vendor {
    name: PROVIDER,
    slot: Slot::Braintrust,
    key_header: KeyHeader::Bearer,
    version: None,
    where_admin_key: WHERE_KEY,
};

/// A cursor list (`limit`, `starting_after` = the last id of the page before), page by page
/// to the first empty page: Braintrust's lists say nothing of `has_more`, and a short page is
/// not promised to be the last.
async fn list_pages<T: DeserializeOwned>(
    api: &AdminApi,
    path: &str,
    filters: &[(&str, &str)],
    what: &str,
    id_of: impl Fn(&T) -> String,
    mut each_page: impl FnMut(Vec<T>),
) -> ProviderResult<()> {
    let limit = PAGE.to_string();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query: Vec<(&str, &str)> = filters.to_vec();
        query.push(("limit", limit.as_str()));
        if let Some(a) = after.as_deref() {
            query.push(("starting_after", a));
        }
        let raw = api.call(Method::GET, path, &query, None, what).await?;
        let page: Objects<T> = api.api.parse(&raw, what)?;
        let last = page.objects.last().map(&id_of);
        each_page(page.objects);
        match last {
            Some(l) if after.as_deref() != Some(l.as_str()) => after = Some(l),
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// Every AI secret of `org` (optionally only the one named `name`), newest first.
async fn ai_secrets(
    api: &AdminApi,
    org: &str,
    name: Option<&str>,
    each_page: impl FnMut(Vec<AiSecret>),
) -> ProviderResult<()> {
    let mut filters = vec![("org_name", org)];
    if let Some(n) = name {
        filters.push(("ai_secret_name", n));
    }
    list_pages(
        api,
        "/v1/ai_secret",
        &filters,
        "AI secrets",
        |s: &AiSecret| s.id.clone(),
        each_page,
    )
    .await
}

/// Environment variables, optionally of one scope and name. The list has no cursor (and no
/// `limit` is sent: the spec gives it no default), so one call answers all.
async fn env_vars(
    api: &AdminApi,
    filter: Option<(&str, &str, &str)>,
) -> ProviderResult<Vec<EnvVar>> {
    let query: Vec<(&str, &str)> = match filter {
        Some((object_type, object_id, name)) => vec![
            ("object_type", object_type),
            ("object_id", object_id),
            ("env_var_name", name),
        ],
        None => Vec::new(),
    };
    let raw = api
        .call(
            Method::GET,
            "/v1/env_var",
            &query,
            None,
            "environment variables",
        )
        .await?;
    let page: Objects<EnvVar> = api.api.parse(&raw, "environment variables")?;
    Ok(page.objects)
}

/// Every Braintrust API key of `org`.
async fn api_keys(api: &AdminApi, org: &str, ids: Option<&str>) -> ProviderResult<Vec<ApiKey>> {
    let mut out = Vec::new();
    let mut filters = Vec::new();
    if !org.is_empty() {
        filters.push(("org_name", org));
    }
    if let Some(id) = ids {
        filters.push(("ids", id));
    }
    list_pages(
        api,
        "/v1/api_key",
        &filters,
        "API keys",
        |k: &ApiKey| k.id.clone(),
        |page| out.extend(page),
    )
    .await?;
    Ok(out)
}

async fn find_ai_secret(api: &AdminApi, org: &str, name: &str) -> ProviderResult<Option<AiSecret>> {
    let mut found = None;
    ai_secrets(api, org, Some(name), |page| {
        if found.is_none() {
            found = page.into_iter().find(|s| s.name == name);
        }
    })
    .await?;
    Ok(found)
}

async fn get_one<T: DeserializeOwned>(api: &AdminApi, path: &str, what: &str) -> ProviderResult<T> {
    let raw = api.call(Method::GET, path, &[], None, what).await?;
    api.api.parse(&raw, what)
}

/// Whether a stored copy was exposed: unchanged since before the exposure began.
fn exposure_of(
    place: &str,
    changed: Option<DateTime<Utc>>,
    exposure: &ExposureWindow,
) -> (bool, String) {
    match changed {
        Some(t) if t < exposure.start => (
            true,
            format!(
                "readable in {place}; unchanged since {}, before the exposure began",
                t.format("%Y-%m-%d %H:%M UTC")
            ),
        ),
        Some(t) => (
            false,
            format!(
                "in scope ({place}) but changed {} — after the exposure began",
                t.format("%Y-%m-%d %H:%M UTC")
            ),
        ),
        None => (
            true,
            format!(
                "readable in {place}; Braintrust gives no change time, so it counts as unchanged"
            ),
        ),
    }
}

fn hint_of(preview: Option<&str>) -> String {
    preview
        .filter(|p| !p.trim().is_empty())
        .map(hint_from_redacted)
        .unwrap_or_else(|| "…".to_string())
}

fn ai_secret_credential(org: &str, s: AiSecret, exposure: &ExposureWindow) -> Credential {
    let changed = s.changed().map(|(t, _)| t);
    let (exposed, exposure_reason) = exposure_of(
        &format!("Braintrust org {org} AI secret {}", s.name),
        changed,
        exposure,
    );
    let mut meta = BTreeMap::new();
    meta.insert("braintrust_id".to_string(), s.id.clone());
    meta.insert("org_name".to_string(), org.to_string());
    if let Some(k) = s.kind.as_ref().filter(|k| !k.is_empty()) {
        meta.insert("type".to_string(), k.clone());
    }
    Credential {
        id: format!("braintrust/{}", s.name),
        issuer: issuer_of_type(s.kind.as_deref()),
        // Braintrust does not know the issuer's id of the key it holds.
        key_id: String::new(),
        name: s.name.clone(),
        hint: hint_of(s.preview()),
        created: s.created,
        last_used: None,
        locations: vec![Location {
            kind: LocationKind::Braintrust,
            name: s.name,
            field: None,
            region: None,
            account: None,
            changed,
        }],
        exposed,
        exposure_reason,
        fingerprint: None,
        meta,
    }
}

fn env_var_credential(v: EnvVar, exposure: &ExposureWindow) -> Credential {
    let changed = v.changed().map(|(t, _)| t);
    let location = env_var_location(&v.object_type, &v.object_id, &v.name);
    let (exposed, exposure_reason) = exposure_of(
        &format!(
            "Braintrust {} {} environment variable {}",
            v.object_type, v.object_id, v.name
        ),
        changed,
        exposure,
    );
    let mut meta = BTreeMap::new();
    meta.insert("braintrust_env_var_id".to_string(), v.id.clone());
    meta.insert("object_type".to_string(), v.object_type.clone());
    meta.insert("object_id".to_string(), v.object_id.clone());
    // The same name may live in several scopes (and as an org AI secret): the scope says
    // which one this is.
    let short: String = v.object_id.chars().take(8).collect();
    Credential {
        id: format!("braintrust/{location}"),
        issuer: issuer_of_env_var(v.secret_type.as_deref(), &v.name),
        key_id: String::new(),
        name: format!("{} ({} {short})", v.name, v.object_type),
        hint: hint_of(v.preview()),
        created: v.created,
        last_used: v.used,
        locations: vec![Location {
            kind: LocationKind::Braintrust,
            name: location,
            field: None,
            region: None,
            account: None,
            changed,
        }],
        exposed,
        exposure_reason,
        fingerprint: None,
        meta,
    }
}

fn api_key_credential(org: &str, k: ApiKey) -> Credential {
    let mut meta = BTreeMap::new();
    meta.insert("org_name".to_string(), org.to_string());
    if let Some(e) = k.user_email.as_ref().filter(|e| !e.is_empty()) {
        meta.insert("owner".to_string(), e.clone());
    }
    Credential {
        id: format!("braintrust-key/{}", k.id),
        issuer: Issuer::Braintrust,
        hint: hint_of(k.preview_name.as_deref()),
        key_id: k.id,
        name: k.name,
        created: k.created,
        last_used: None,
        locations: Vec::new(),
        exposed: false,
        exposure_reason: API_KEY_REASON.to_string(),
        fingerprint: None,
        meta,
    }
}

/// Whether a copy's preview already ends with the last four characters of `value` (a retry
/// of a write that took).
fn shows_tail_of(preview: Option<&str>, value: &SecretString) -> bool {
    let secret = value.expose_secret();
    let tail = secret
        .char_indices()
        .rev()
        .nth(3)
        .map(|(i, _)| &secret[i..]);
    tail.is_some_and(|t| preview.is_some_and(|p| p.trim_end().ends_with(t)))
}

/// Lists what Braintrust holds for `scope.braintrust.organization` and its own API keys:
/// the org AI secrets (only those named in `secrets`, when any), the environment variables
/// (only those named in `env_vars`, when any) and the API keys. Braintrust was the breached
/// vendor, so a copy whose value has not changed since the exposure began is exposed; its
/// API keys are issuer records, exposed where a stored copy of one was readable.
#[derive(Debug, Clone)]
pub struct BraintrustInventory {
    api: AdminApi,
}

impl BraintrustInventory {
    /// An inventory calling `base_url` (e.g. `https://api.braintrust.dev`) with `api_key`.
    /// Without a key, `discover` fails with `Auth` naming `BRAINTRUST_API_KEY`.
    pub fn new(client: Client, base_url: &str, api_key: Option<SecretString>) -> Self {
        BraintrustInventory {
            api: AdminApi::new(&VENDOR, client, base_url, api_key),
        }
    }

    /// From the shared configuration ([`HttpConfig::from_env`]).
    pub fn from_config(cfg: &HttpConfig) -> Self {
        BraintrustInventory {
            api: cfg.admin_api(&VENDOR),
        }
    }

    async fn discover_ai_secrets(
        &self,
        bt: &BraintrustScope,
        exposure: &ExposureWindow,
        pages: &mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let org = bt.organization.as_str();
        let mut seen: Vec<String> = Vec::new();
        ai_secrets(&self.api, org, None, |page| {
            let creds: Vec<Credential> = page
                .into_iter()
                .filter(|s| bt.secrets.is_empty() || bt.secrets.contains(&s.name))
                .map(|s| ai_secret_credential(org, s, exposure))
                .collect();
            seen.extend(creds.iter().map(|c| c.name.clone()));
            if !creds.is_empty() {
                let _ = pages.send(creds);
            }
        })
        .await?;
        // A mistyped name must not look like a secret that is not there to rotate.
        if let Some(missing) = bt.secrets.iter().find(|n| !seen.contains(n)) {
            return Err(ProviderError::NotFound {
                provider: PROVIDER.into(),
                what: format!(
                    "AI secret {missing} in organization {org} (check scope.braintrust.secrets)"
                ),
            });
        }
        Ok(())
    }

    async fn discover_env_vars(
        &self,
        bt: &BraintrustScope,
        exposure: &ExposureWindow,
        pages: &mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let vars = env_vars(&self.api, None).await?;
        if let Some(missing) = bt
            .env_vars
            .iter()
            .find(|n| !vars.iter().any(|v| &v.name == *n))
        {
            return Err(ProviderError::NotFound {
                provider: PROVIDER.into(),
                what: format!("environment variable {missing} (check scope.braintrust.env_vars)"),
            });
        }
        let creds: Vec<Credential> = vars
            .into_iter()
            .filter(|v| bt.env_vars.is_empty() || bt.env_vars.contains(&v.name))
            .map(|v| env_var_credential(v, exposure))
            .collect();
        if !creds.is_empty() {
            let _ = pages.send(creds);
        }
        Ok(())
    }
}

#[async_trait]
impl Inventory for BraintrustInventory {
    async fn discover(
        &self,
        scope: &Scope,
        exposure: &ExposureWindow,
        pages: mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let Some(bt) = &scope.braintrust else {
            return Ok(());
        };
        self.api.key()?;
        self.discover_ai_secrets(bt, exposure, &pages).await?;
        self.discover_env_vars(bt, exposure, &pages).await?;
        let org = bt.organization.as_str();
        let keys: Vec<Credential> = api_keys(&self.api, org, None)
            .await?
            .into_iter()
            .map(|k| api_key_credential(org, k))
            .collect();
        if !keys.is_empty() {
            let _ = pages.send(keys);
        }
        Ok(())
    }
}

/// Writes new values into what Braintrust holds for one organization: its AI secrets and
/// environment variables. Braintrust has no staging: breachbook stages in Secrets Manager and
/// copies the promoted key here with [`SecretStore::replace`]; `stage`, `read_version` and
/// `promote` are unsupported.
#[derive(Debug, Clone)]
pub struct BraintrustStore {
    api: AdminApi,
    org_name: String,
}

impl BraintrustStore {
    /// A store for the AI secrets of `org_name`, calling `base_url` with `api_key`.
    pub fn new(
        client: Client,
        base_url: &str,
        api_key: Option<SecretString>,
        org_name: impl Into<String>,
    ) -> Self {
        BraintrustStore {
            api: AdminApi::new(&VENDOR, client, base_url, api_key),
            org_name: org_name.into(),
        }
    }

    /// From the shared configuration ([`HttpConfig::from_env`]) and the runbook's
    /// `scope.braintrust.organization`.
    pub fn from_config(cfg: &HttpConfig, org_name: impl Into<String>) -> Self {
        BraintrustStore {
            api: cfg.admin_api(&VENDOR),
            org_name: org_name.into(),
        }
    }

    /// Deletes the AI secret `name` (`DELETE /v1/ai_secret/{id}`); one already gone is Ok.
    pub async fn delete_secret(&self, name: &str) -> ProviderResult<()> {
        let Some(s) = find_ai_secret(&self.api, &self.org_name, name).await? else {
            return Ok(());
        };
        match self
            .api
            .call(
                Method::DELETE,
                &format!("/v1/ai_secret/{}", seg(&s.id)),
                &[],
                None,
                &format!("AI secret {name}"),
            )
            .await
        {
            Ok(_) | Err(ProviderError::NotFound { .. }) => {
                tracing::info!(provider = PROVIDER, secret = %name, "deleted AI secret");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `PATCH path` with `fields` and the value as `value_field`: the body is encoded once,
    /// every copy of the value but the one the client sends is zeroized.
    async fn patch(
        &self,
        path: &str,
        mut fields: serde_json::Map<String, serde_json::Value>,
        value_field: &str,
        value: &SecretString,
        what: &str,
    ) -> ProviderResult<()> {
        let key = self.api.key()?;
        fields.insert(
            value_field.into(),
            serde_json::Value::String(value.expose_secret().to_string()),
        );
        let mut doc = serde_json::Value::Object(fields);
        let serialized = serde_json::to_string(&doc);
        if let Some(serde_json::Value::String(s)) = doc.get_mut(value_field) {
            zeroize::Zeroize::zeroize(s);
        }
        drop(doc);
        let body = serialized.map_err(|e| ProviderError::Validation {
            provider: PROVIDER.into(),
            message: format!("could not encode the request: {e}"),
        })?;
        let req = self
            .api
            .request(Method::PATCH, path, &[], key)?
            .header(
                reqwest::header::CONTENT_TYPE,
                reqwest::header::HeaderValue::from_static("application/json"),
            )
            // The client owns (and frees) this buffer from here; our copies are zeroized.
            .body(body);
        self.api
            .api
            .send(req, what, &[key, value])
            .await
            .map(|_| ())
    }

    /// The change time read back after a write must have moved past the one before; a copy
    /// that already shows the new key's last characters (a retry) counts as done.
    fn changed_after<T: Changed>(
        before: Option<DateTime<Utc>>,
        after: &T,
        value: &SecretString,
        what: &str,
    ) -> ProviderResult<DateTime<Utc>> {
        let Some((now, field)) = after.changed() else {
            return Err(ProviderError::Validation {
                provider: PROVIDER.into(),
                message: format!(
                    "Braintrust gives no change time for {what}: check it in its settings"
                ),
            });
        };
        if before.is_none_or(|p| now > p) || shows_tail_of(after.preview(), value) {
            tracing::info!(provider = PROVIDER, %what, changed = %now, "replaced");
            return Ok(now);
        }
        Err(ProviderError::Validation {
            provider: PROVIDER.into(),
            message: format!(
                "Braintrust did not record the change: {field} is still {} for {what}; check it in its settings and retry",
                now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ),
        })
    }

    async fn replace_ai_secret(
        &self,
        name: &str,
        value: &SecretString,
    ) -> ProviderResult<DateTime<Utc>> {
        let what = format!("AI secret {name}");
        let before = find_ai_secret(&self.api, &self.org_name, name)
            .await?
            .ok_or_else(|| ProviderError::NotFound {
                provider: PROVIDER.into(),
                what: format!("AI secret {name} in organization {}", self.org_name),
            })?;
        let path = format!("/v1/ai_secret/{}", seg(&before.id));
        // PATCH with the secret alone: everything else of the secret stays as it is.
        self.patch(&path, serde_json::Map::new(), "secret", value, &what)
            .await?;
        let after: AiSecret = get_one(&self.api, &path, &what).await?;
        Self::changed_after(before.changed().map(|(t, _)| t), &after, value, &what)
    }

    async fn replace_env_var(
        &self,
        object_type: &str,
        object_id: &str,
        name: &str,
        value: &SecretString,
    ) -> ProviderResult<DateTime<Utc>> {
        let what = format!("environment variable {name} of {object_type} {object_id}");
        let before = env_vars(&self.api, Some((object_type, object_id, name)))
            .await?
            .into_iter()
            .find(|v| v.name == name && v.object_type == object_type && v.object_id == object_id)
            .ok_or_else(|| ProviderError::NotFound {
                provider: PROVIDER.into(),
                what: what.clone(),
            })?;
        let path = format!("/v1/env_var/{}", seg(&before.id));
        // The PATCH body must carry `name` (its one required field).
        let mut fields = serde_json::Map::new();
        fields.insert("name".into(), before.name.clone().into());
        self.patch(&path, fields, "value", value, &what).await?;
        let after: EnvVar = get_one(&self.api, &path, &what).await?;
        Self::changed_after(before.changed().map(|(t, _)| t), &after, value, &what)
    }
}

#[async_trait]
impl SecretStore for BraintrustStore {
    /// An AI secret: `PATCH /v1/ai_secret/{id}` with the new `secret`; an environment
    /// variable: `PATCH /v1/env_var/{id}` with its `name` and the new `value`. Then reads it
    /// back: `secret_updated_at` must have moved past the one before.
    async fn replace(&self, loc: &Location, value: &SecretString) -> ProviderResult<DateTime<Utc>> {
        match place_of(loc)? {
            Place::AiSecret(name) => self.replace_ai_secret(name, value).await,
            Place::EnvVar {
                object_type,
                object_id,
                name,
            } => {
                self.replace_env_var(object_type, object_id, name, value)
                    .await
            }
        }
    }
}

/// Braintrust's own API keys: made anew by hand (the API cannot create one), tested with
/// the key, revoked by API after the typed word.
#[derive(Debug, Clone)]
pub struct BraintrustIssuer {
    api: AdminApi,
    org_name: String,
}

impl BraintrustIssuer {
    /// An issuer for the API keys of `org_name`, calling `base_url` with `api_key`.
    pub fn new(
        client: Client,
        base_url: &str,
        api_key: Option<SecretString>,
        org_name: impl Into<String>,
    ) -> Self {
        BraintrustIssuer {
            api: AdminApi::new(&VENDOR, client, base_url, api_key),
            org_name: org_name.into(),
        }
    }

    /// From the shared configuration ([`HttpConfig::from_env`]) and the runbook's
    /// `scope.braintrust.organization`.
    pub fn from_config(cfg: &HttpConfig, org_name: impl Into<String>) -> Self {
        BraintrustIssuer {
            api: cfg.admin_api(&VENDOR),
            org_name: org_name.into(),
        }
    }

    /// The old key's id at Braintrust, when the inventory matched it to a listed key.
    fn listed_id(old: &Credential) -> Option<&str> {
        old.meta
            .contains_key("issuer_record")
            .then_some(old.key_id.as_str())
            .or_else(|| {
                old.id
                    .starts_with("braintrust-key/")
                    .then_some(old.key_id.as_str())
            })
            .filter(|id| !id.is_empty())
    }

    fn by_hand(old: &Credential) -> ProviderError {
        ProviderError::ManualRevoke {
            provider: PROVIDER.into(),
            instructions: format!(
                "breachbook cannot tell which Braintrust API key {} is: delete it by hand at {API_KEYS_PAGE} (Settings → API keys → the key → Delete)",
                old.hint
            ),
        }
    }

    async fn listed(&self, id: &str) -> ProviderResult<bool> {
        let keys = api_keys(&self.api, &self.org_name, Some(id)).await?;
        Ok(keys.iter().any(|k| k.id == id))
    }
}

#[async_trait]
impl KeyIssuer for BraintrustIssuer {
    /// Always [`ProviderError::ManualIssue`]: Braintrust API keys are made in its settings.
    async fn issue(&self, old: &Credential, token: &str) -> ProviderResult<NewKey> {
        Err(ProviderError::ManualIssue {
            provider: PROVIDER.into(),
            instructions: format!(
                "Create the replacement for {name} ({hint}) by hand — Braintrust makes API keys only in its settings. \
                 1. Open {API_KEYS_PAGE} (Settings → API keys) in the organization {org}. \
                 2. Click \"Create API key\"; Name: {token}. \
                 3. Copy the key (Braintrust shows it only once). \
                 4. Paste it into breachbook's hidden input — nowhere else (no chat, ticket or file). \
                 breachbook tests it, then stores it as pending; the old key is deleted after its typed word.",
                name = old.name,
                hint = old.hint,
                org = self.org_name,
            ),
        })
    }

    /// `GET /v1/organization?limit=1` with the key: 200 → alive, 401 ("No valid API key
    /// provided") → dead; a 403 proves neither.
    async fn verify(&self, _cred: &Credential, key: &SecretString) -> ProviderResult<Liveness> {
        let req = self
            .api
            .request(Method::GET, "/v1/organization", &[("limit", "1")], key)?;
        let raw = self.api.api.send_raw(req, &[key]).await?;
        match raw.status {
            s if s.is_success() => Ok(Liveness::Alive),
            StatusCode::UNAUTHORIZED => Ok(Liveness::Dead),
            _ => Err(self.api.api.error(&raw, "organization", &[key])),
        }
    }

    /// Still listed among the organization's API keys → alive; no longer → dead.
    async fn old_key_liveness(&self, old: &Credential) -> ProviderResult<Liveness> {
        let Some(id) = Self::listed_id(old) else {
            return Err(ProviderError::Unsupported {
                provider: PROVIDER.into(),
                message: format!(
                    "breachbook does not know which Braintrust API key {} is",
                    old.hint
                ),
            });
        };
        Ok(if self.listed(id).await? {
            Liveness::Alive
        } else {
            Liveness::Dead
        })
    }

    /// `DELETE /v1/api_key/{id}`; one no longer listed is already gone.
    async fn revoke(&self, old: &Credential) -> ProviderResult<()> {
        let Some(id) = Self::listed_id(old) else {
            return Err(Self::by_hand(old));
        };
        if !self.listed(id).await? {
            tracing::info!(provider = PROVIDER, key_id = %id, "API key already gone");
            return Ok(());
        }
        match self
            .api
            .call(
                Method::DELETE,
                &format!("/v1/api_key/{}", seg(id)),
                &[],
                None,
                &format!("API key {id}"),
            )
            .await
        {
            Ok(_) | Err(ProviderError::NotFound { .. }) => {
                tracing::info!(provider = PROVIDER, key_id = %id, "deleted API key");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// As [`revoke`](Self::revoke): a Braintrust API key is only ever deleted.
    async fn delete(&self, old: &Credential) -> ProviderResult<()> {
        self.revoke(old).await
    }

    /// Unsupported: Braintrust reports no usage per API key.
    async fn usage(
        &self,
        _cred: &Credential,
        _generation: KeyGeneration,
        _new_key_id: Option<&str>,
        _since: DateTime<Utc>,
    ) -> ProviderResult<Vec<UsageSample>> {
        Err(ProviderError::Unsupported {
            provider: PROVIDER.into(),
            message: "Braintrust has no per-key usage API".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_locations_round_trip() {
        let name = env_var_location("project", "0000-1", "OPENAI_API_KEY");
        let loc = Location {
            kind: LocationKind::Braintrust,
            name,
            field: None,
            region: None,
            account: None,
            changed: None,
        };
        match place_of(&loc) {
            Ok(Place::EnvVar {
                object_type,
                object_id,
                name,
            }) => assert_eq!(
                (object_type, object_id, name),
                ("project", "0000-1", "OPENAI_API_KEY")
            ),
            _ => panic!("not an env var"),
        }
        assert_eq!(issuer_of_env_var(None, "OPENAI_API_KEY"), Issuer::Openai);
        assert_eq!(
            issuer_of_env_var(Some("anthropic"), "KEY"),
            Issuer::Anthropic
        );
    }
}
