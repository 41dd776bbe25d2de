//! Gemini API keys (Google Cloud API keys for the Generative Language API): testing a key
//! ([`GeminiIssuer`]). Everything else is the Google Cloud console's: breachbook holds no
//! Google Cloud credentials, so minting, deleting and listing keys are manual. There is no
//! inventory here — Gemini keys are found where they are stored.
//!
//! Endpoint: `GET /v1beta/models` on `https://generativelanguage.googleapis.com` with the key
//! in `x-goog-api-key` (its `http::Vendor`). May depend on `http`, the incident ports and
//! model and the runbook schema only.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Client, Method, StatusCode};
use secrecy::SecretString;

use super::http::{self, AdminApi, HttpConfig, KeyHeader, Slot, Vendor};
use crate::incident::model::{Credential, KeyGeneration, UsageSample};
use crate::incident::ports::{KeyIssuer, Liveness, NewKey, ProviderError, ProviderResult};

const PROVIDER: &str = "Gemini";

/// Where a Gemini key is deleted, for messages.
const DELETE_BY_HAND: &str = "delete the old key by hand: console.cloud.google.com → the key's project → APIs & Services → Credentials → the key → Delete (or aistudio.google.com → API keys); breachbook holds no Google Cloud credentials to do it";

/// The Generative Language API: the key under test as `x-goog-api-key`; no admin key.
pub(crate) const VENDOR: Vendor = Vendor {
    name: PROVIDER,
    slot: Slot::Gemini,
    key_header: KeyHeader::Named("x-goog-api-key"),
    version: None,
    where_admin_key: "breachbook holds no Google Cloud credentials",
};

/// Tests Gemini keys; hands minting and deleting to a person.
#[derive(Debug, Clone)]
pub struct GeminiIssuer {
    api: AdminApi,
}

impl GeminiIssuer {
    /// An issuer calling `base_url` (e.g. `https://generativelanguage.googleapis.com`).
    /// Needs no admin key: it only ever sends the key under test.
    pub fn new(client: Client, base_url: &str) -> Self {
        GeminiIssuer {
            api: AdminApi::new(&VENDOR, client, base_url, None),
        }
    }

    /// From the shared configuration ([`HttpConfig::from_env`]).
    pub fn from_config(cfg: &HttpConfig) -> Self {
        GeminiIssuer {
            api: cfg.admin_api(&VENDOR),
        }
    }
}

/// Whether a Google error body says the key itself is refused: `API_KEY_INVALID` (unknown,
/// deleted or expired key) or another `API_KEY_…` reason (blocked for this API, referrer or
/// address restrictions).
fn key_refused(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    http::google_reason(&v).filter(|r| r.starts_with("API_KEY_"))
}

/// The console steps for killing `old`.
fn manual(old: &Credential) -> ProviderError {
    let project = old
        .meta
        .get("project_id")
        .map(|p| format!(" (project {p})"))
        .unwrap_or_default();
    ProviderError::ManualRevoke {
        provider: PROVIDER.into(),
        instructions: format!("old key {}{project}: {DELETE_BY_HAND}", old.hint),
    }
}

#[async_trait]
impl KeyIssuer for GeminiIssuer {
    /// Always [`ProviderError::ManualIssue`]: keys are created in the Google Cloud console.
    async fn issue(&self, old: &Credential, token: &str) -> ProviderResult<NewKey> {
        let project = old
            .meta
            .get("project_id")
            .map(|p| format!("the project {p}"))
            .unwrap_or_else(|| "the Google Cloud project that owns the old key".to_string());
        Err(ProviderError::ManualIssue {
            provider: PROVIDER.into(),
            instructions: format!(
                "Create the replacement for {name} ({hint}) by hand — breachbook holds no Google Cloud credentials. \
                 1. Open console.cloud.google.com and select {project}. \
                 2. APIs & Services → Credentials → Create credentials → API key. \
                 3. Edit the new key: Name: {token}; API restrictions → Restrict key → Generative Language API; copy the same application restrictions as the old key. Save. \
                 4. Copy the key (Show key). \
                 5. Paste it into breachbook's hidden input — nowhere else (no chat, ticket or file). \
                 breachbook tests it, then stores it as pending.",
                name = old.name,
                hint = old.hint,
            ),
        })
    }

    /// Lists models with the key: 200 → alive; 401 or `API_KEY_INVALID` (unknown, deleted
    /// or expired key) → dead. Another `API_KEY_…` refusal (the key is blocked for this API,
    /// or restricted to other addresses, referrers or apps) proves neither: the key may
    /// well work elsewhere, so it is a Validation error naming the reason — a new key like
    /// that is not accepted, and an old key like that is not taken for dead.
    async fn verify(&self, _cred: &Credential, key: &SecretString) -> ProviderResult<Liveness> {
        let req = self.api.request(Method::GET, "/v1beta/models", &[], key)?;
        let raw = self.api.api.send_raw(req, &[key]).await?;
        match raw.status {
            s if s.is_success() => Ok(Liveness::Alive),
            StatusCode::UNAUTHORIZED => Ok(Liveness::Dead),
            StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN => match key_refused(&raw.body) {
                Some(reason) if reason == "API_KEY_INVALID" => Ok(Liveness::Dead),
                Some(reason) => {
                    tracing::info!(provider = PROVIDER, %reason, "key refused here");
                    Err(ProviderError::Validation {
                        provider: PROVIDER.into(),
                        message: format!(
                            "Google refuses the key from here ({reason}): it is restricted or blocked for this API, so breachbook cannot tell whether it works elsewhere; check its restrictions in console.cloud.google.com → APIs & Services → Credentials"
                        ),
                    })
                }
                None => Err(self.api.api.error(&raw, "models", &[key])),
            },
            _ => Err(self.api.api.error(&raw, "models", &[key])),
        }
    }

    /// Unsupported: only the key's value can be tested, and breachbook does not keep the old
    /// value; checking by id needs Google Cloud credentials (API Keys API).
    async fn old_key_liveness(&self, old: &Credential) -> ProviderResult<Liveness> {
        Err(ProviderError::Unsupported {
            provider: PROVIDER.into(),
            message: format!(
                "the old key {} can only be tested with its value, which breachbook does not keep; check in console.cloud.google.com → APIs & Services → Credentials that it is gone",
                old.hint
            ),
        })
    }

    /// A person deletes the key in the Google Cloud console ([`ProviderError::ManualRevoke`]);
    /// the engine then tests the old key's value (read back from its store) to see it dead.
    async fn revoke(&self, old: &Credential) -> ProviderResult<()> {
        Err(manual(old))
    }

    /// As [`revoke`](Self::revoke): deleting is the only way to stop a Gemini key.
    async fn delete(&self, old: &Credential) -> ProviderResult<()> {
        Err(manual(old))
    }

    /// Unsupported: the Generative Language API has no per-key usage report; per-key
    /// metrics live in Google Cloud Monitoring, which needs Google Cloud credentials.
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
