//! Gemini API keys (Google Cloud API keys for the Generative Language API): testing a key,
//! and — with a Google Cloud service account's key file (`GOOGLE_APPLICATION_CREDENTIALS`) —
//! finding, minting, listing and deleting keys through the API Keys API v2
//! ([`GeminiIssuer`], [`GeminiInventory`]). Without the key file, minting and deleting are a
//! person's, in the Google Cloud console, as before.
//!
//! Contracts: `GET /v1beta/models` on `https://generativelanguage.googleapis.com` with the
//! key in `x-goog-api-key` (googleapis/googleapis@f8291d2
//! google/ai/generativelanguage/v1beta/model_service.proto `ListModels`; the header is a
//! system parameter, <https://docs.cloud.google.com/apis/docs/system-parameters>). A key Google
//! found leaked answers 403 `PERMISSION_DENIED` "Your API key was reported as leaked. Please
//! use another API key." with no `details` (continuedev/continue#10513 quotes the whole body):
//! its own state, "blocked by the issuer as leaked" — unusable, still to be deleted. The API
//! Keys API is `google` (lookupKey, create with a caller-chosen `keyId` — the rotation's
//! token, so a retry finds the same key and a mint leaves no strays — getKeyString, get,
//! delete, list). A deleted key "can be retrieved within 30 days of deletion"
//! (apikeys.proto `DeleteKey`): the report says until when.
//!
//! May depend on `http`, `google`, the incident ports and model and the runbook schema only.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Client, Method, StatusCode};
use secrecy::SecretString;
use tokio::sync::mpsc;

use super::google::{self, ApiKeys, GoogleCredentials, valid_key_id};
use super::http::{self, AdminApi, HttpConfig, KeyHeader, Slot, Vendor};
use crate::incident::model::{Credential, KeyGeneration, UsageSample, mask};
use crate::incident::ports::{
    Clock, Inventory, KeyIssuer, Liveness, NewKey, ProviderError, ProviderResult, WallClock,
};
use crate::runbook::schema::{ExposureWindow, Issuer, Scope};

const PROVIDER: &str = "Gemini";
/// Days Google keeps a deleted key restorable (apikeys.proto `DeleteKey`, `UndeleteKey`).
pub const RESTORABLE_DAYS: u32 = 30;
/// The service the Generative Language API is (`generativelanguage_v1beta.yaml`), the API
/// target a new key is restricted to when the old key's restrictions are not known.
const GENERATIVE_LANGUAGE: &str = "generativelanguage.googleapis.com";
/// Google's words for a key it found leaked (the 403 carries no ErrorInfo reason).
const LEAKED: &str = "reported as leaked";

/// Why a key listed by the API Keys API is not itself called exposed.
pub const EXPOSURE_REASON: &str = "listed at Google; exposed only where a stored copy was readable";

/// Where a Gemini key is deleted by hand, for messages.
const DELETE_BY_HAND: &str = "delete the old key by hand: console.cloud.google.com → the key's project → APIs & Services → Credentials → the key → Delete (or aistudio.google.com → API keys); Google keeps a deleted key 30 days before it is gone for good. Give breachbook a service account's key file (GOOGLE_APPLICATION_CREDENTIALS) to have it deleted by API";

/// The Generative Language API: the key under test as `x-goog-api-key`; no admin key.
pub(crate) const VENDOR: Vendor = Vendor {
    name: PROVIDER,
    slot: Slot::Gemini,
    key_header: KeyHeader::Named("x-goog-api-key"),
    version: None,
    where_admin_key: "a Google Cloud service account's key file in GOOGLE_APPLICATION_CREDENTIALS",
};

/// What Google answered a key.
enum Answer {
    Alive,
    Dead,
    /// Blocked by Google as leaked: its own (redacted) words.
    Leaked(String),
    /// Refused for another reason that proves nothing (restrictions, a blocked API).
    Refused(ProviderError),
}

/// Tests Gemini keys; with a service account's key file, mints, lists and deletes them by
/// API, else hands minting and deleting to a person.
pub struct GeminiIssuer {
    api: AdminApi,
    keys: Option<Arc<ApiKeys>>,
    projects: Vec<String>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for GeminiIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiIssuer")
            .field("api", &self.api)
            .field("keys", &self.keys)
            .field("projects", &self.projects)
            .finish_non_exhaustive()
    }
}

/// The key's resource name (`projects/<number>/locations/global/keys/<id>`), when known.
fn key_name(cred: &Credential) -> Option<&str> {
    cred.meta
        .get("google_key")
        .map(String::as_str)
        .or(Some(cred.key_id.as_str()))
        .filter(|k| k.starts_with("projects/") && k.contains("/keys/"))
}

/// The key id a rotation's new key gets: the token itself when Google takes it (it does:
/// `breachbook-` and 32 hex digits), else `bb-` and a digest of it.
fn new_key_id(token: &str) -> String {
    let lower = token.to_ascii_lowercase();
    if valid_key_id(&lower) {
        return lower;
    }
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    format!("bb-{}", &digest[..40])
}

impl GeminiIssuer {
    /// An issuer calling `base_url` (e.g. `https://generativelanguage.googleapis.com`)
    /// without Google Cloud credentials: it only ever sends the key under test.
    pub fn new(client: Client, base_url: &str) -> Self {
        GeminiIssuer {
            api: AdminApi::new(&VENDOR, client, base_url, None),
            keys: None,
            projects: Vec::new(),
            clock: Arc::new(WallClock),
        }
    }

    /// From the shared configuration ([`HttpConfig::from_env`]), without credentials.
    pub fn from_config(cfg: &HttpConfig) -> Self {
        GeminiIssuer {
            api: cfg.admin_api(&VENDOR),
            keys: None,
            projects: Vec::new(),
            clock: Arc::new(WallClock),
        }
    }

    /// Mints, lists and deletes through the API Keys API at `base_url` as the service
    /// account of `creds`.
    pub fn with_api_keys(
        mut self,
        client: Client,
        base_url: &str,
        creds: GoogleCredentials,
    ) -> Self {
        self.keys = Some(Arc::new(ApiKeys::new(client, base_url, creds)));
        self
    }

    /// The runbook's `scope.gemini.projects`: where a new key goes when the old one's
    /// project is not known.
    pub fn with_projects(mut self, projects: Vec<String>) -> Self {
        self.projects = projects;
        self
    }

    /// The incident's clock, for waiting on Google's long-running operations.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The inventory of the keys of `scope.gemini.projects` (with credentials only).
    pub fn inventory(&self) -> Option<GeminiInventory> {
        self.keys.clone().map(|keys| GeminiInventory { keys })
    }

    /// Lists models with `key` (`pageSize=1`: the cheapest call).
    async fn ask(&self, key: &SecretString) -> ProviderResult<Answer> {
        let req = self
            .api
            .request(Method::GET, "/v1beta/models", &[("pageSize", "1")], key)?;
        let raw = self.api.api.send_raw(req, &[key]).await?;
        let v: serde_json::Value = serde_json::from_str(&raw.body).unwrap_or_default();
        let reason = http::google_reason(&v);
        let message = v
            .pointer("/error/message")
            .and_then(|m| m.as_str())
            .unwrap_or("");
        Ok(match raw.status {
            s if s.is_success() => Answer::Alive,
            StatusCode::UNAUTHORIZED => Answer::Dead,
            StatusCode::FORBIDDEN if reason.is_none() && message.contains(LEAKED) => {
                Answer::Leaked(google::redact(message, &[key]))
            }
            StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN => match reason {
                Some(r) if r == "API_KEY_INVALID" => Answer::Dead,
                Some(r) if r.starts_with("API_KEY_") => {
                    tracing::info!(provider = PROVIDER, reason = %r, "key refused here");
                    Answer::Refused(ProviderError::Validation {
                        provider: PROVIDER.into(),
                        message: format!(
                            "Google refuses the key from here ({r}): it is restricted or blocked for this API, so breachbook cannot tell whether it works elsewhere; check its restrictions in console.cloud.google.com → APIs & Services → Credentials"
                        ),
                    })
                }
                _ => Answer::Refused(google::redacted_error(PROVIDER, "models", &raw, &[key])),
            },
            _ => Answer::Refused(google::redacted_error(PROVIDER, "models", &raw, &[key])),
        })
    }

    /// Where the replacement of `old` goes: the old key's project (from `lookupKey`), else
    /// the runbook's one project.
    fn parent_of(&self, old: &Credential) -> Option<String> {
        let project = old
            .meta
            .get("google_project")
            .cloned()
            .or_else(|| {
                key_name(old).and_then(|n| n.split("/locations/").next().map(str::to_string))
            })
            .or_else(|| match self.projects.as_slice() {
                [one] => Some(format!("projects/{one}")),
                _ => None,
            })?;
        Some(format!("{project}/locations/global"))
    }

    fn manual_issue(old: &Credential, token: &str, why: &str) -> ProviderError {
        let project = old
            .meta
            .get("google_project")
            .or_else(|| old.meta.get("project_id"))
            .map(|p| format!("the project {p}"))
            .unwrap_or_else(|| "the Google Cloud project that owns the old key".to_string());
        ProviderError::ManualIssue {
            provider: PROVIDER.into(),
            instructions: format!(
                "Create the replacement for {name} ({hint}) by hand — {why}. \
                 1. Open console.cloud.google.com and select {project}. \
                 2. APIs & Services → Credentials → Create credentials → API key. \
                 3. Edit the new key: Name: {token}; API restrictions → Restrict key → Generative Language API; copy the same application restrictions as the old key. Save. \
                 4. Copy the key (Show key). \
                 5. Paste it into breachbook's hidden input — nowhere else (no chat, ticket or file). \
                 breachbook tests it, then stores it as pending.",
                name = old.name,
                hint = old.hint,
            ),
        }
    }

    fn manual_revoke(old: &Credential) -> ProviderError {
        let project = old
            .meta
            .get("google_project")
            .or_else(|| old.meta.get("project_id"))
            .map(|p| format!(" (project {p})"))
            .unwrap_or_default();
        ProviderError::ManualRevoke {
            provider: PROVIDER.into(),
            instructions: format!("old key {}{project}: {DELETE_BY_HAND}", old.hint),
        }
    }

    /// The old key's restrictions, for the new key: the same API targets and application
    /// restrictions. Unknown → the Generative Language API only.
    async fn restrictions_for(&self, keys: &ApiKeys, old: &Credential) -> serde_json::Value {
        if let Some(name) = key_name(old)
            && let Ok(Some(k)) = keys.get(name).await
            && let Some(r) = k.restrictions
        {
            return r;
        }
        serde_json::json!({ "apiTargets": [{ "service": GENERATIVE_LANGUAGE }] })
    }
}

#[async_trait]
impl KeyIssuer for GeminiIssuer {
    /// With the key file: `keys.create` in the old key's project with the rotation's own
    /// `keyId` (a retry finds the key it made: `ALREADY_EXISTS`, then `keys.get`), the old
    /// key's restrictions, then `getKeyString`. Without it: [`ProviderError::ManualIssue`].
    async fn issue(&self, old: &Credential, token: &str) -> ProviderResult<NewKey> {
        let Some(keys) = &self.keys else {
            return Err(Self::manual_issue(
                old,
                token,
                "breachbook holds no Google Cloud credentials",
            ));
        };
        let Some(parent) = self.parent_of(old) else {
            return Err(Self::manual_issue(
                old,
                token,
                "breachbook does not know which Google Cloud project owns the old key (name one in scope.gemini.projects)",
            ));
        };
        let key_id = new_key_id(token);
        let display: String = format!("breachbook: replaces {}", old.name)
            .chars()
            .take(63)
            .collect();
        let restrictions = self.restrictions_for(keys, old).await;
        let made = keys
            .create(
                &parent,
                &key_id,
                &display,
                Some(restrictions),
                self.clock.as_ref(),
            )
            .await?;
        let key = match made {
            Some(k) => k,
            None => {
                let name = format!("{parent}/keys/{key_id}");
                match keys.get(&name).await? {
                    Some(k) if k.delete_time.is_none() => k,
                    Some(_) => {
                        return Err(ProviderError::Validation {
                            provider: PROVIDER.into(),
                            message: format!(
                                "this rotation's key {name} was made and then deleted; restore it in console.cloud.google.com (APIs & Services → Credentials → Deleted) or make the replacement by hand"
                            ),
                        });
                    }
                    None => {
                        return Err(ProviderError::NotFound {
                            provider: PROVIDER.into(),
                            what: format!("key {name}, which Google says exists"),
                        });
                    }
                }
            }
        };
        let secret = keys.key_string(&key.name).await?;
        let hint = mask(secrecy::ExposeSecret::expose_secret(&secret));
        tracing::info!(provider = PROVIDER, key = %key.name, %hint, "created an API key");
        Ok(NewKey {
            key_id: key.name,
            hint,
            secret,
        })
    }

    /// Lists models with the key: 200 → alive; 401 or `API_KEY_INVALID` (unknown, deleted
    /// or expired key) → dead. Blocked as leaked is an error, not dead: the key no longer
    /// works but it still exists (a new key like that is not accepted; an old key like that
    /// is still to be deleted). Another `API_KEY_…` refusal (restrictions) proves neither.
    async fn verify(&self, _cred: &Credential, key: &SecretString) -> ProviderResult<Liveness> {
        match self.ask(key).await? {
            Answer::Alive => Ok(Liveness::Alive),
            Answer::Dead => Ok(Liveness::Dead),
            Answer::Leaked(words) => Err(ProviderError::Validation {
                provider: PROVIDER.into(),
                message: format!(
                    "Google blocked this key as leaked (\"{words}\"): it no longer works, but it still exists and is to be deleted"
                ),
            }),
            Answer::Refused(e) => Err(e),
        }
    }

    /// With the key file: `keys.get` — gone or deleted → dead, else alive (a key blocked as
    /// leaked is alive here: it still exists). Without it: unsupported (the engine tests
    /// the old key's value).
    async fn old_key_liveness(&self, old: &Credential) -> ProviderResult<Liveness> {
        if let (Some(keys), Some(name)) = (&self.keys, key_name(old)) {
            return Ok(match keys.get(name).await? {
                Some(k) if k.delete_time.is_none() => Liveness::Alive,
                _ => Liveness::Dead,
            });
        }
        Err(ProviderError::Unsupported {
            provider: PROVIDER.into(),
            message: format!(
                "the old key {} can only be tested with its value, which breachbook does not keep; check in console.cloud.google.com → APIs & Services → Credentials that it is gone",
                old.hint
            ),
        })
    }

    /// With the key file: `keys.delete` (Google keeps it restorable for 30 days); one gone
    /// or deleted already is fine. Without it: a person deletes it in the console
    /// ([`ProviderError::ManualRevoke`]).
    async fn revoke(&self, old: &Credential) -> ProviderResult<()> {
        let (Some(keys), Some(name)) = (&self.keys, key_name(old)) else {
            return Err(Self::manual_revoke(old));
        };
        match keys.get(name).await? {
            Some(k) if k.delete_time.is_none() => {
                keys.delete(name, self.clock.as_ref()).await?;
                tracing::info!(provider = PROVIDER, key = %name, "deleted the API key");
                Ok(())
            }
            _ => {
                tracing::info!(provider = PROVIDER, key = %name, "API key already deleted");
                Ok(())
            }
        }
    }

    /// As [`revoke`](Self::revoke): deleting is the only way to stop a Gemini key.
    async fn delete(&self, old: &Credential) -> ProviderResult<()> {
        self.revoke(old).await
    }

    /// A stored Gemini key: whether Google blocked it as leaked (a test call), that Google
    /// keeps it 30 days once deleted, and — with the key file — its project and resource
    /// name (`keys:lookupKey`).
    async fn identify(&self, found: &mut Credential, value: &SecretString) -> ProviderResult<()> {
        found.set_restorable_days(RESTORABLE_DAYS);
        if let Answer::Leaked(words) = self.ask(value).await? {
            found.set_blocked_as_leaked(&format!("Google: \"{words}\""));
        }
        let Some(keys) = &self.keys else {
            return Ok(());
        };
        let looked = keys.lookup(value).await?;
        if looked.name.is_empty() {
            found
                .exposure_reason
                .push_str("; Google says the key was purged (it no longer exists there)");
            return Ok(());
        }
        let name = google::safe_name(&looked.name)?.to_string();
        found.meta.insert("google_project".into(), looked.parent);
        found.meta.insert("google_key".into(), name.clone());
        found.key_id = name;
        Ok(())
    }

    /// Unsupported: the Generative Language API has no per-key usage report; per-key
    /// metrics live in Google Cloud Monitoring.
    async fn usage(
        &self,
        _cred: &Credential,
        _generation: KeyGeneration,
        _new_key_id: Option<&str>,
        _since: DateTime<Utc>,
    ) -> ProviderResult<Vec<UsageSample>> {
        // Said, not shown as "no calls": an empty Usage panel must not read as a quiet key.
        Err(ProviderError::Unsupported {
            provider: PROVIDER.into(),
            message: "Gemini has no per-key usage API; per-key traffic is in Google Cloud Monitoring (console.cloud.google.com → APIs & Services → Generative Language API → Metrics, by credential)".into(),
        })
    }
}

/// The API keys of `scope.gemini.projects`, as issuer records (`keys.list`: names and dates,
/// never the key string). Stored copies join them by the name `lookupKey` gave.
pub struct GeminiInventory {
    keys: Arc<ApiKeys>,
}

#[async_trait]
impl Inventory for GeminiInventory {
    async fn discover(
        &self,
        scope: &Scope,
        _exposure: &ExposureWindow,
        pages: mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let Some(gemini) = &scope.gemini else {
            return Ok(());
        };
        for project in &gemini.projects {
            let parent = format!("projects/{project}/locations/global");
            let listed = self.keys.list(&parent).await?;
            let page: Vec<Credential> = listed
                .into_iter()
                .filter(|k| k.delete_time.is_none())
                .map(|k| {
                    let google_project = k
                        .name
                        .split("/locations/")
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let mut meta = std::collections::BTreeMap::new();
                    meta.insert("google_key".to_string(), k.name.clone());
                    meta.insert("google_project".to_string(), google_project);
                    meta.insert("project_id".to_string(), project.clone());
                    let mut c = Credential {
                        id: format!("gemini/{}", k.name),
                        issuer: Issuer::Gemini,
                        key_id: k.name.clone(),
                        name: k
                            .display_name
                            .clone()
                            .filter(|n| !n.trim().is_empty())
                            .or(k.uid.clone())
                            .unwrap_or_else(|| k.name.clone()),
                        hint: "…".into(),
                        created: k.create_time,
                        last_used: None,
                        locations: Vec::new(),
                        exposed: false,
                        exposure_reason: EXPOSURE_REASON.into(),
                        fingerprint: None,
                        meta,
                    };
                    c.set_restorable_days(RESTORABLE_DAYS);
                    c
                })
                .collect();
            if !page.is_empty() {
                let _ = pages.send(page);
            }
        }
        Ok(())
    }
}
