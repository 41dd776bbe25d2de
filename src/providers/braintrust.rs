//! Braintrust's org-level AI secrets (the provider keys Braintrust's proxy and playground
//! use): listing them as credentials ([`BraintrustInventory`]) and writing a new value
//! ([`BraintrustStore`]).
//!
//! Endpoints (API key as `Authorization: Bearer`, base `https://api.braintrust.dev`, EU
//! `https://api-eu.braintrust.dev`): `GET /v1/ai_secret` (`org_name`, `ai_secret_name`,
//! `limit`, cursor `starting_after`; answers `{"objects": [...]}`), `GET|DELETE
//! /v1/ai_secret/{id}`, `PUT /v1/ai_secret` (create or replace by name). An AI secret
//! carries `updated_at`, `created` and `preview_secret`; a `secret_updated_at`, when present,
//! is preferred as the time the value changed.
//! Only what sets this provider apart lives here (its `http::Vendor`, its endpoints and
//! answers); construction, auth and errors are `http`'s. May depend on `http`, the incident
//! ports and model and the runbook schema only.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Client, Method};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use tokio::sync::mpsc;
use zeroize::Zeroize;

use super::http::{AdminApi, HttpConfig, KeyHeader, Slot, Vendor, seg};
use crate::incident::model::{Credential, Location, LocationKind, hint_from_redacted};
use crate::incident::ports::{Inventory, ProviderError, ProviderResult, SecretStore};
use crate::runbook::schema::{ExposureWindow, Issuer, Scope};

const PROVIDER: &str = "Braintrust";
const WHERE_KEY: &str = "a Braintrust API key from braintrust.dev → Settings → API keys";
const PAGE: usize = 100;
const MAX_PAGES: usize = 1000;

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
struct Objects {
    objects: Vec<AiSecret>,
}

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
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

impl AiSecret {
    /// When the stored value last changed, and the field that said so.
    fn changed(&self) -> Option<(DateTime<Utc>, &'static str)> {
        self.secret_updated_at
            .map(|t| (t, "secret_updated_at"))
            .or(self.updated_at.map(|t| (t, "updated_at")))
            .or(self.created.map(|t| (t, "created")))
    }
}

/// Which issuer an AI secret's `type` names: `openai`, `anthropic`, `google`/`gemini`;
/// anything else (Azure, Bedrock, Mistral…) is generic.
pub fn issuer_of_type(kind: Option<&str>) -> Issuer {
    match kind.map(|k| k.trim().to_ascii_lowercase()).as_deref() {
        Some("openai") => Issuer::Openai,
        Some("anthropic") => Issuer::Anthropic,
        Some("google") | Some("gemini") => Issuer::Gemini,
        _ => Issuer::Generic,
    }
}

/// Braintrust's API: the API key as `Authorization: Bearer`, no version header.
pub(crate) const VENDOR: Vendor = Vendor {
    name: PROVIDER,
    slot: Slot::Braintrust,
    key_header: KeyHeader::Bearer,
    version: None,
    where_admin_key: WHERE_KEY,
};

/// Every AI secret of `org` (optionally only the one named `name`), newest first, page by
/// page (`starting_after` = the last id of a full page).
async fn secrets(
    api: &AdminApi,
    org: &str,
    name: Option<&str>,
    mut each_page: impl FnMut(Vec<AiSecret>),
) -> ProviderResult<()> {
    let limit = PAGE.to_string();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query = vec![("org_name", org), ("limit", limit.as_str())];
        if let Some(n) = name {
            query.push(("ai_secret_name", n));
        }
        if let Some(a) = after.as_deref() {
            query.push(("starting_after", a));
        }
        let raw = api
            .call(Method::GET, "/v1/ai_secret", &query, None, "AI secrets")
            .await?;
        let page: Objects = api.api.parse(&raw, "AI secrets")?;
        let full = page.objects.len() >= PAGE;
        let last = page.objects.last().map(|s| s.id.clone());
        each_page(page.objects);
        match last {
            Some(l) if full && after.as_deref() != Some(l.as_str()) => after = Some(l),
            _ => return Ok(()),
        }
    }
    Ok(())
}

async fn find(api: &AdminApi, org: &str, name: &str) -> ProviderResult<Option<AiSecret>> {
    let mut found = None;
    secrets(api, org, Some(name), |page| {
        if found.is_none() {
            found = page.into_iter().find(|s| s.name == name);
        }
    })
    .await?;
    Ok(found)
}

async fn get(api: &AdminApi, id: &str) -> ProviderResult<AiSecret> {
    let raw = api
        .call(
            Method::GET,
            &format!("/v1/ai_secret/{}", seg(id)),
            &[],
            None,
            &format!("AI secret {id}"),
        )
        .await?;
    api.api.parse(&raw, "AI secret")
}

fn credential(org: &str, s: AiSecret, exposure: &ExposureWindow) -> Credential {
    let changed = s.changed().map(|(t, _)| t);
    let place = format!("Braintrust org {org} AI secret {}", s.name);
    let (exposed, exposure_reason) = match changed {
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
    };
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
        hint: s
            .preview_secret
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .map(hint_from_redacted)
            .unwrap_or_else(|| "…".to_string()),
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

/// Whether the secret's preview already ends with the last four characters of `value` (a
/// retry of a replace that took).
fn shows_tail_of(s: &AiSecret, value: &SecretString) -> bool {
    let secret = value.expose_secret();
    let tail = secret
        .char_indices()
        .rev()
        .nth(3)
        .map(|(i, _)| &secret[i..]);
    tail.is_some_and(|t| {
        s.preview_secret
            .as_deref()
            .is_some_and(|p| p.trim_end().ends_with(t))
    })
}

/// Lists the AI secrets of `scope.braintrust.organization` (only those named in
/// `scope.braintrust.secrets`, when any): Braintrust was the breached vendor, so a secret
/// whose value has not changed since the exposure began is exposed.
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
        let org = bt.organization.as_str();
        let mut seen: Vec<String> = Vec::new();
        secrets(&self.api, org, None, |page| {
            let creds: Vec<Credential> = page
                .into_iter()
                .filter(|s| bt.secrets.is_empty() || bt.secrets.contains(&s.name))
                .map(|s| credential(org, s, exposure))
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
}

/// Writes new values into Braintrust AI secrets of one organization. Braintrust has no
/// staging: breachbook stages in Secrets Manager and copies the promoted key here with
/// [`SecretStore::replace`]; `stage`, `read_version` and `promote` are unsupported.
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
        let Some(s) = find(&self.api, &self.org_name, name).await? else {
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

    /// The body of `PUT /v1/ai_secret` writing `value` into `before` (PUT replaces the whole
    /// object: name, organization, type and metadata are kept). Every copy of the value but
    /// the returned text is zeroized; the HTTP client owns (and frees) that one.
    fn put_body(&self, before: &AiSecret, value: &SecretString) -> ProviderResult<String> {
        let mut body = serde_json::Map::new();
        body.insert("name".into(), before.name.clone().into());
        body.insert("org_name".into(), self.org_name.clone().into());
        if let Some(k) = &before.kind {
            body.insert("type".into(), k.clone().into());
        }
        // PUT replaces the whole object: keep what it had.
        if let Some(m) = before.metadata.clone().filter(|m| !m.is_null()) {
            body.insert("metadata".into(), m);
        }
        body.insert(
            "secret".into(),
            serde_json::Value::String(value.expose_secret().to_string()),
        );
        let mut doc = serde_json::Value::Object(body);
        let serialized = serde_json::to_string(&doc);
        if let Some(serde_json::Value::String(s)) = doc.get_mut("secret") {
            s.zeroize();
        }
        drop(doc);
        serialized.map_err(|e| ProviderError::Validation {
            provider: PROVIDER.into(),
            message: format!("could not encode the request: {e}"),
        })
    }

    fn unsupported(what: &str) -> ProviderError {
        ProviderError::Unsupported {
            provider: PROVIDER.into(),
            message: format!(
                "AI secrets have no {what}; breachbook stages new keys in Secrets Manager and copies them here once promoted"
            ),
        }
    }

    fn not_found(&self, name: &str) -> ProviderError {
        ProviderError::NotFound {
            provider: PROVIDER.into(),
            what: format!("AI secret {name} in organization {}", self.org_name),
        }
    }
}

#[async_trait]
impl SecretStore for BraintrustStore {
    async fn stage(
        &self,
        _loc: &Location,
        _value: &SecretString,
        _token: &str,
    ) -> ProviderResult<String> {
        Err(Self::unsupported("staging"))
    }

    async fn read_version(&self, _loc: &Location, _version: &str) -> ProviderResult<SecretString> {
        Err(Self::unsupported("versions"))
    }

    async fn promote(&self, _loc: &Location, _version: &str) -> ProviderResult<DateTime<Utc>> {
        Err(Self::unsupported("staging labels"))
    }

    /// `PUT /v1/ai_secret` with the secret's name, organization, type and metadata and the new
    /// value, then reads it back: the change time must have moved past the one before. A
    /// secret that already shows the new key's last characters (a retry) counts as done.
    async fn replace(&self, loc: &Location, value: &SecretString) -> ProviderResult<DateTime<Utc>> {
        let key = self.api.key()?;
        let before = find(&self.api, &self.org_name, &loc.name)
            .await?
            .ok_or_else(|| self.not_found(&loc.name))?;
        let previous = before.changed().map(|(t, _)| t);
        let serialized = self.put_body(&before, value)?;
        let req = self
            .api
            .request(Method::PUT, "/v1/ai_secret", &[], key)?
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            // The client owns (and frees) this buffer from here; our copies are zeroized.
            .body(serialized);
        let raw = self
            .api
            .api
            .send(req, &format!("AI secret {}", loc.name), &[key, value])
            .await?;
        let written: AiSecret = self.api.api.parse(&raw, "AI secret")?;
        drop(raw);

        let after = get(&self.api, &written.id).await?;
        let Some((now, field)) = after.changed() else {
            return Err(ProviderError::Validation {
                provider: PROVIDER.into(),
                message: format!(
                    "Braintrust gives no change time for AI secret {}: check it in Settings → AI providers",
                    loc.name
                ),
            });
        };
        if previous.is_none_or(|p| now > p) {
            tracing::info!(provider = PROVIDER, secret = %loc.name, changed = %now, "AI secret replaced");
            return Ok(now);
        }
        if shows_tail_of(&after, value) {
            tracing::info!(provider = PROVIDER, secret = %loc.name, "AI secret already held the new key");
            return Ok(now);
        }
        Err(ProviderError::Validation {
            provider: PROVIDER.into(),
            message: format!(
                "Braintrust did not record the change: {field} is still {} for AI secret {}; check it in Settings → AI providers and retry",
                now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                loc.name
            ),
        })
    }
}
