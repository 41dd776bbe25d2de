//! Shared plumbing of the HTTP providers (OpenAI, Anthropic, Gemini, Braintrust): one
//! reqwest client, the base URLs and admin keys read from the environment once, one
//! `AdminApi` (a provider's API with its admin key: construction, auth headers, calls) and
//! the mapping of a failed response to a [`ProviderError`] that says what to do. What sets
//! one provider apart — its name, how it takes a key, a version header, where its admin key
//! comes from — is its `Vendor`, declared in the provider's own file.
//!
//! Here: the client and the shared configuration (base URLs, admin keys, read once); `api`
//! holds `Api` and `AdminApi` (requests, auth headers, bodies read and zeroized); `errors`
//! turns failed responses and transport failures into errors that say what to do.
//!
//! May depend on the ports' error type and the domain's masking and redactor
//! (`incident::model::mask`, `incident::redact`) only.
//! Secrets stay in [`SecretString`]; nothing here logs or formats a header value, and every
//! message taken from a provider's error body is scrubbed of key-shaped text before it is
//! kept.

mod api;
mod errors;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Client;
use secrecy::SecretString;

use crate::incident::ports::{ProviderError, ProviderResult};

pub(crate) use api::{AdminApi, Api, KeyHeader, Raw, Vendor, bearer, sensitive_header};
pub use errors::{
    error_code, error_from_response, error_from_transport, error_message, google_reason,
    missing_admin_key, parse_go_duration, retry_after, scrub,
};

/// `User-Agent` of every request: `breachbook/<version>`.
pub const USER_AGENT: &str = concat!("breachbook/", env!("CARGO_PKG_VERSION"));
/// Time allowed to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for a whole request, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Environment variable overriding the OpenAI base URL.
pub const OPENAI_BASE_URL_VAR: &str = "BREACHBOOK_OPENAI_BASE_URL";
/// Environment variable overriding the Anthropic base URL.
pub const ANTHROPIC_BASE_URL_VAR: &str = "BREACHBOOK_ANTHROPIC_BASE_URL";
/// Environment variable overriding the Gemini (Generative Language API) base URL.
pub const GEMINI_BASE_URL_VAR: &str = "BREACHBOOK_GEMINI_BASE_URL";
/// Environment variable overriding the Braintrust API base URL (EU or self-hosted data plane).
pub const BRAINTRUST_BASE_URL_VAR: &str = "BREACHBOOK_BRAINTRUST_BASE_URL";
/// Environment variable overriding the Google API Keys API base URL.
pub const GOOGLE_API_KEYS_BASE_URL_VAR: &str = "BREACHBOOK_GOOGLE_API_KEYS_BASE_URL";
/// Environment variable holding the OpenAI Admin API key.
pub const OPENAI_ADMIN_KEY_VAR: &str = "OPENAI_ADMIN_KEY";
/// Environment variable holding the Anthropic Admin API key.
pub const ANTHROPIC_ADMIN_KEY_VAR: &str = "ANTHROPIC_ADMIN_KEY";
/// Environment variable holding the Braintrust API key.
pub const BRAINTRUST_API_KEY_VAR: &str = "BRAINTRUST_API_KEY";

/// Overrides the request timeout (30 s), in milliseconds: a slow network may need more;
/// tests against the fakes use less, so "slower than the timeout" costs a second.
pub const REQUEST_TIMEOUT_VAR: &str = "BREACHBOOK_HTTP_TIMEOUT_MS";

/// The request timeout: [`REQUEST_TIMEOUT_VAR`] when it holds a number of milliseconds (at
/// least 1), else [`REQUEST_TIMEOUT`].
pub fn request_timeout() -> Duration {
    timeout_from(std::env::var(REQUEST_TIMEOUT_VAR).ok().as_deref())
}

fn timeout_from(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .unwrap_or(REQUEST_TIMEOUT)
}

/// Builds the one HTTP client every provider shares: rustls, 5 s to connect, 30 s per
/// request (or [`REQUEST_TIMEOUT_VAR`]), `User-Agent: breachbook/<version>`.
pub fn client() -> ProviderResult<Client> {
    Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(request_timeout())
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| ProviderError::Network {
            provider: "HTTP client".into(),
            message: format!("could not set up TLS and the HTTP client: {e}"),
        })
}

/// Base URL of each HTTP provider, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// OpenAI API, default `https://api.openai.com`.
    pub openai: String,
    /// Anthropic API, default `https://api.anthropic.com`.
    pub anthropic: String,
    /// Generative Language API, default `https://generativelanguage.googleapis.com`.
    pub gemini: String,
    /// Braintrust API, default `https://api.braintrust.dev`.
    pub braintrust: String,
    /// Google's API Keys API, default `https://apikeys.googleapis.com`.
    pub google_api_keys: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            openai: "https://api.openai.com".into(),
            anthropic: "https://api.anthropic.com".into(),
            gemini: "https://generativelanguage.googleapis.com".into(),
            braintrust: "https://api.braintrust.dev".into(),
            google_api_keys: "https://apikeys.googleapis.com".into(),
        }
    }
}

impl Endpoints {
    /// The defaults, each overridden by its `BREACHBOOK_*_BASE_URL` variable when set.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`Endpoints::from_env`], reading variables through `lookup` (tests, config files).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let d = Endpoints::default();
        let pick = |var: &str, default: String| {
            lookup(var)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .map(|v| trim_base(&v))
                .unwrap_or(default)
        };
        Endpoints {
            openai: pick(OPENAI_BASE_URL_VAR, d.openai),
            anthropic: pick(ANTHROPIC_BASE_URL_VAR, d.anthropic),
            gemini: pick(GEMINI_BASE_URL_VAR, d.gemini),
            braintrust: pick(BRAINTRUST_BASE_URL_VAR, d.braintrust),
            google_api_keys: pick(GOOGLE_API_KEYS_BASE_URL_VAR, d.google_api_keys),
        }
    }
}

/// A base URL without its trailing slashes.
pub(crate) fn trim_base(base: &str) -> String {
    base.trim().trim_end_matches('/').to_string()
}

/// The admin credentials the HTTP providers act with, read once. `Debug` says only which
/// are set.
#[derive(Clone, Default)]
pub struct AdminKeys {
    /// OpenAI Admin API key (`OPENAI_ADMIN_KEY`).
    pub openai: Option<SecretString>,
    /// Anthropic Admin API key (`ANTHROPIC_ADMIN_KEY`).
    pub anthropic: Option<SecretString>,
    /// Braintrust API key (`BRAINTRUST_API_KEY`).
    pub braintrust: Option<SecretString>,
}

impl fmt::Debug for AdminKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |k: &Option<SecretString>| if k.is_some() { "set" } else { "unset" };
        f.debug_struct("AdminKeys")
            .field("openai", &set(&self.openai))
            .field("anthropic", &set(&self.anthropic))
            .field("braintrust", &set(&self.braintrust))
            .finish()
    }
}

impl AdminKeys {
    /// Reads `OPENAI_ADMIN_KEY`, `ANTHROPIC_ADMIN_KEY` and `BRAINTRUST_API_KEY`; empty
    /// values count as unset.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`AdminKeys::from_env`], reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let read = |var: &str| {
            lookup(var).and_then(|mut v| {
                let trimmed = v.trim();
                let key = (!trimmed.is_empty()).then(|| SecretString::from(trimmed));
                zeroize::Zeroize::zeroize(&mut v);
                key
            })
        };
        AdminKeys {
            openai: read(OPENAI_ADMIN_KEY_VAR),
            anthropic: read(ANTHROPIC_ADMIN_KEY_VAR),
            braintrust: read(BRAINTRUST_API_KEY_VAR),
        }
    }
}

/// Everything the HTTP providers need: the shared client, the base URLs and the admin keys.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The shared client (see [`client`]).
    pub client: Client,
    /// Base URLs.
    pub endpoints: Endpoints,
    /// Admin credentials.
    pub keys: AdminKeys,
}

impl HttpConfig {
    /// The client, [`Endpoints::from_env`] and [`AdminKeys::from_env`].
    pub fn from_env() -> ProviderResult<Self> {
        Ok(HttpConfig {
            client: client()?,
            endpoints: Endpoints::from_env(),
            keys: AdminKeys::from_env(),
        })
    }
}

/// Which row of the shared configuration ([`Endpoints`], [`AdminKeys`]) a provider reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Openai,
    Anthropic,
    Gemini,
    Braintrust,
}

impl Slot {
    /// The variable holding this provider's admin key, if it takes one.
    pub fn admin_key_var(self) -> Option<&'static str> {
        match self {
            Slot::Openai => Some(OPENAI_ADMIN_KEY_VAR),
            Slot::Anthropic => Some(ANTHROPIC_ADMIN_KEY_VAR),
            Slot::Braintrust => Some(BRAINTRUST_API_KEY_VAR),
            Slot::Gemini => None,
        }
    }
}

impl Endpoints {
    /// The base URL of one provider.
    pub fn base(&self, slot: Slot) -> &str {
        match slot {
            Slot::Openai => &self.openai,
            Slot::Anthropic => &self.anthropic,
            Slot::Gemini => &self.gemini,
            Slot::Braintrust => &self.braintrust,
        }
    }
}

impl AdminKeys {
    /// The admin key of one provider, when set.
    pub fn get(&self, slot: Slot) -> Option<&SecretString> {
        match slot {
            Slot::Openai => self.openai.as_ref(),
            Slot::Anthropic => self.anthropic.as_ref(),
            Slot::Braintrust => self.braintrust.as_ref(),
            Slot::Gemini => None,
        }
    }
}

impl HttpConfig {
    /// The API of `vendor` with its base URL and admin key from this configuration.
    pub(crate) fn admin_api(&self, vendor: &'static Vendor) -> AdminApi {
        AdminApi::new(
            vendor,
            self.client.clone(),
            self.endpoints.base(vendor.slot),
            self.keys.get(vendor.slot).cloned(),
        )
    }
}

/// One path segment, percent-encoded (ids come from the provider, but never trust them to
/// be URL-safe).
pub(crate) fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A Unix timestamp (seconds) as a UTC time.
pub(crate) fn unix_time(secs: Option<i64>) -> Option<DateTime<Utc>> {
    secs.and_then(|s| DateTime::from_timestamp(s, 0))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_request_timeout_is_30_s_unless_a_number_of_milliseconds_says_otherwise() {
        assert_eq!(timeout_from(None), REQUEST_TIMEOUT);
        assert_eq!(timeout_from(Some(" 1500 ")), Duration::from_millis(1500));
        assert_eq!(timeout_from(Some("0")), REQUEST_TIMEOUT);
        assert_eq!(timeout_from(Some("fast")), REQUEST_TIMEOUT);
    }

    #[test]
    fn env_lookup_overrides_and_trims() {
        let e = Endpoints::from_lookup(|n| {
            (n == OPENAI_BASE_URL_VAR).then(|| "http://127.0.0.1:9/".to_string())
        });
        assert_eq!(e.openai, "http://127.0.0.1:9");
        assert_eq!(e.anthropic, Endpoints::default().anthropic);
        let k = AdminKeys::from_lookup(|n| {
            (n == ANTHROPIC_ADMIN_KEY_VAR).then(|| " sk-ant-admin-test-000000 ".to_string())
        });
        assert!(k.openai.is_none());
        assert_eq!(
            k.anthropic.as_ref().map(|s| s.expose_secret().to_string()),
            Some("sk-ant-admin-test-000000".to_string())
        );
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("sk-ant"), "{dbg}");
    }
}
