//! Shared plumbing of the HTTP providers (OpenAI, Anthropic, Gemini, Braintrust): one
//! reqwest client, the base URLs and admin keys read from the environment once, one
//! `AdminApi` (a provider's API with its admin key: construction, auth headers, calls) and
//! the mapping of a failed response to a [`ProviderError`] that says what to do. What sets
//! one provider apart — its name, how it takes a key, a version header, where its admin key
//! comes from — is its `Vendor`, declared in the provider's own file.
//!
//! May depend on the ports' error type and the domain's redactor (`incident::redact`) only.
//! Secrets stay in [`SecretString`]; nothing here logs or formats a header value, and every
//! message taken from a provider's error body is scrubbed of key-shaped text before it is
//! kept.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::incident::ports::{ProviderError, ProviderResult};

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
/// Environment variable holding the OpenAI Admin API key.
pub const OPENAI_ADMIN_KEY_VAR: &str = "OPENAI_ADMIN_KEY";
/// Environment variable holding the Anthropic Admin API key.
pub const ANTHROPIC_ADMIN_KEY_VAR: &str = "ANTHROPIC_ADMIN_KEY";
/// Environment variable holding the Braintrust API key.
pub const BRAINTRUST_API_KEY_VAR: &str = "BRAINTRUST_API_KEY";

/// Builds the one HTTP client every provider shares: rustls, 5 s to connect, 30 s per
/// request, `User-Agent: breachbook/<version>`.
pub fn client() -> ProviderResult<Client> {
    Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
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
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            openai: "https://api.openai.com".into(),
            anthropic: "https://api.anthropic.com".into(),
            gemini: "https://generativelanguage.googleapis.com".into(),
            braintrust: "https://api.braintrust.dev".into(),
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

/// The error of a provider call made without its admin key: names the variable to set.
pub fn missing_admin_key(provider: &str, var: &str, where_to_get: &str) -> ProviderError {
    ProviderError::Auth {
        provider: provider.to_string(),
        message: format!("no admin key: set {var} ({where_to_get}) and start breachbook again"),
    }
}

/// Removes secrets from text meant for an error or a log: every exact value in `secrets`
/// and anything key-shaped (`sk-…`, `AKIA…`, `AIza…`, long tokens) becomes a masked hint.
pub fn scrub(text: &str, secrets: &[&SecretString]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        let v = s.expose_secret();
        if v.len() >= 4 && out.contains(v) {
            out = out.replace(v, &crate::incident::model::mask(v));
        }
    }
    crate::incident::redact::redact(&out)
}

/// The provider's own message from an error body: `error.message` (OpenAI, Anthropic,
/// Google), `error` as a string, `message` or `detail`, else the body's first line (plain
/// text bodies, e.g. Braintrust's). Not scrubbed: pass it through [`scrub`].
pub fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let pick = |x: &serde_json::Value| x.as_str().map(str::to_string);
            v.pointer("/error/message")
                .and_then(pick)
                .or_else(|| v.get("error").and_then(pick))
                .or_else(|| v.get("message").and_then(pick))
                .or_else(|| v.get("detail").and_then(pick))
        });
    let msg = from_json.unwrap_or_else(|| {
        let t = body.trim();
        if t.starts_with('<') {
            String::new()
        } else {
            t.lines().next().unwrap_or("").to_string()
        }
    });
    let msg = msg.trim();
    if msg.chars().count() > 300 {
        let cut: String = msg.chars().take(300).collect();
        format!("{cut}…")
    } else {
        msg.to_string()
    }
}

/// Machine-readable error code of a body, if any: `error.code` / `error.type` (OpenAI,
/// Anthropic) or the `reason` of a Google `ErrorInfo` detail.
pub fn error_code(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    if let Some(reason) = google_reason(&v) {
        return Some(reason);
    }
    let err = v.get("error")?;
    err.get("code")
        .and_then(|c| c.as_str())
        .or_else(|| err.get("type").and_then(|t| t.as_str()))
        .map(str::to_string)
}

/// The `reason` of the first `google.rpc.ErrorInfo` in a Google error body.
pub fn google_reason(v: &serde_json::Value) -> Option<String> {
    v.pointer("/error/details")?
        .as_array()?
        .iter()
        .find(|d| {
            d.get("@type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.ends_with("google.rpc.ErrorInfo"))
        })
        .and_then(|d| d.get("reason"))
        .and_then(|r| r.as_str())
        .map(str::to_string)
}

/// How long to wait before retrying, from (in order): `Retry-After` (seconds or an HTTP
/// date), `retry-after-ms`, OpenAI's `x-ratelimit-reset-requests`/`-tokens` (durations such
/// as `6m0s`), Anthropic's `anthropic-ratelimit-*-reset` (RFC 3339 times) and a Google
/// `RetryInfo.retryDelay` in the body (`"38s"`). The longest provider-specific wait wins.
pub fn retry_after(headers: &HeaderMap, body: &str, now: DateTime<Utc>) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(v) = text("retry-after") {
        if let Ok(secs) = v.parse::<f64>()
            && secs.is_finite()
            && secs >= 0.0
        {
            return Some(Duration::from_secs_f64(secs.min(86_400.0)));
        }
        if let Ok(at) = DateTime::parse_from_rfc2822(v) {
            return Some(until(at.with_timezone(&Utc), now));
        }
    }
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_millis(ms.min(86_400_000)));
    }
    let mut waits: Vec<Duration> = Vec::new();
    for name in ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"] {
        if let Some(d) = text(name).and_then(parse_go_duration) {
            waits.push(d);
        }
    }
    for name in [
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-input-tokens-reset",
        "anthropic-ratelimit-output-tokens-reset",
    ] {
        if let Some(at) = text(name).and_then(|v| DateTime::parse_from_rfc3339(v).ok()) {
            waits.push(until(at.with_timezone(&Utc), now));
        }
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body)
        && let Some(details) = v.pointer("/error/details").and_then(|d| d.as_array())
    {
        for d in details {
            let is_retry_info = d
                .get("@type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"));
            if let Some(delay) = d
                .get("retryDelay")
                .and_then(|r| r.as_str())
                .filter(|_| is_retry_info)
                .and_then(parse_go_duration)
            {
                waits.push(delay);
            }
        }
    }
    waits.into_iter().max()
}

fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or_default()
}

/// Parses durations such as `1s`, `6m0s`, `12ms`, `1h2m3.5s`, `38s` (Go style, as OpenAI's
/// reset headers and Google's `retryDelay` write them).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let secs = match unit {
            "h" => n * 3600.0,
            "m" => n * 60.0,
            "s" => n,
            "ms" => n / 1000.0,
            "us" | "µs" => n / 1_000_000.0,
            "ns" => n / 1_000_000_000.0,
            _ => return None,
        };
        total += secs;
    }
    (total.is_finite() && total >= 0.0).then(|| Duration::from_secs_f64(total.min(86_400.0)))
}

/// Maps a failed response to an error: 401/403 → `Auth`, 404 → `NotFound { what }`,
/// 408 → `Timeout`, 429 → `Throttled` (with [`retry_after`]; OpenAI's `insufficient_quota`
/// → `LimitExceeded`), 5xx → `Server`, other 4xx (400, 409, 422…) → `Validation`. The
/// message is the provider's own, scrubbed of `secrets` and anything key-shaped.
pub fn error_from_response(
    provider: &str,
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    secrets: &[&SecretString],
) -> ProviderError {
    let provider = provider.to_string();
    let raw = error_message(body);
    let message = {
        let m = scrub(&raw, secrets);
        if m.is_empty() {
            format!(
                "HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim()
            .to_string()
        } else {
            m
        }
    };
    match status.as_u16() {
        401 | 403 => ProviderError::Auth { provider, message },
        404 => ProviderError::NotFound {
            provider,
            what: what.to_string(),
        },
        408 => ProviderError::Timeout { provider },
        429 => {
            if error_code(body).as_deref() == Some("insufficient_quota") {
                ProviderError::LimitExceeded { provider, message }
            } else {
                ProviderError::Throttled {
                    provider,
                    message,
                    retry_after: retry_after(headers, body, Utc::now()),
                }
            }
        }
        s if s >= 500 => ProviderError::Server {
            provider,
            status: s,
            message,
        },
        _ => ProviderError::Validation { provider, message },
    }
}

/// Maps a transport failure: timeouts → `Timeout`, anything else (refused, DNS, TLS, reset)
/// → `Network`, with the message scrubbed.
pub fn error_from_transport(
    provider: &str,
    err: &reqwest::Error,
    secrets: &[&SecretString],
) -> ProviderError {
    if err.is_timeout() {
        return ProviderError::Timeout {
            provider: provider.to_string(),
        };
    }
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    ProviderError::Network {
        provider: provider.to_string(),
        message: scrub(&message, secrets),
    }
}

/// A header value marked sensitive (kept out of `Debug` and HTTP/2 header compression).
pub(crate) fn sensitive_header(
    provider: &str,
    value: &SecretString,
) -> ProviderResult<HeaderValue> {
    let mut v = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
        ProviderError::Validation {
            provider: provider.to_string(),
            message: "the key holds characters that cannot be sent in an HTTP header (a stray newline or space?)".into(),
        }
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// `Bearer <key>`, marked sensitive.
pub(crate) fn bearer(provider: &str, key: &SecretString) -> ProviderResult<HeaderValue> {
    let value = Zeroizing::new(format!("Bearer {}", key.expose_secret()));
    let mut v = HeaderValue::from_str(&value).map_err(|_| ProviderError::Validation {
        provider: provider.to_string(),
        message: "the key holds characters that cannot be sent in an HTTP header (a stray newline or space?)".into(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// A response read whole, for calls whose outcome depends on the status (liveness checks).
pub(crate) struct Raw {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body; zeroized on drop.
    pub body: Zeroizing<String>,
}

/// One provider's API: its name for messages, the shared client and its base URL.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    pub provider: &'static str,
    pub client: Client,
    pub base: String,
}

impl Api {
    pub fn new(provider: &'static str, client: Client, base: &str) -> Self {
        Api {
            provider,
            client,
            base: trim_base(base),
        }
    }

    /// `base + path` with the query pairs appended (percent-encoded).
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> ProviderResult<Url> {
        let mut url = Url::parse(&format!("{}{}", self.base, path)).map_err(|e| {
            ProviderError::Validation {
                provider: self.provider.to_string(),
                message: format!(
                    "base URL {} is not a valid URL ({e}); fix the BREACHBOOK_*_BASE_URL variable",
                    self.base
                ),
            }
        })?;
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// A request to `url`.
    pub fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends and reads the whole response, whatever its status. Logs method, path and
    /// status only.
    pub async fn send_raw(
        &self,
        req: RequestBuilder,
        secrets: &[&SecretString],
    ) -> ProviderResult<Raw> {
        let req = req
            .build()
            .map_err(|e| error_from_transport(self.provider, &e, secrets))?;
        let method = req.method().clone();
        let path = req.url().path().to_string();
        let started = std::time::Instant::now();
        let resp = self.client.execute(req).await.map_err(|e| {
            let err = error_from_transport(self.provider, &e, secrets);
            tracing::warn!(provider = self.provider, %method, path = %path, error = %err, "request failed");
            err
        })?;
        let status = resp.status();
        tracing::debug!(
            provider = self.provider,
            %method,
            path = %path,
            status = status.as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "provider call"
        );
        let headers = resp.headers().clone();
        let body = read_body(self.provider, resp).await?;
        Ok(Raw {
            status,
            headers,
            body,
        })
    }

    /// Sends; a non-2xx status becomes an error (see [`error_from_response`]) naming `what`.
    pub async fn send(
        &self,
        req: RequestBuilder,
        what: &str,
        secrets: &[&SecretString],
    ) -> ProviderResult<Raw> {
        let raw = self.send_raw(req, secrets).await?;
        if raw.status.is_success() {
            Ok(raw)
        } else {
            Err(self.error(&raw, what, secrets))
        }
    }

    /// The error for a non-2xx response.
    pub fn error(&self, raw: &Raw, what: &str, secrets: &[&SecretString]) -> ProviderError {
        let err = error_from_response(
            self.provider,
            what,
            raw.status,
            &raw.headers,
            &raw.body,
            secrets,
        );
        tracing::info!(provider = self.provider, status = raw.status.as_u16(), error = %err, "provider refused a call");
        err
    }

    /// Parses a body as JSON of type `T`.
    pub fn parse<T: DeserializeOwned>(&self, raw: &Raw, what: &str) -> ProviderResult<T> {
        serde_json::from_str(&raw.body).map_err(|e| ProviderError::Validation {
            provider: self.provider.to_string(),
            // serde's message names the field and position, never the value.
            message: format!("unexpected answer for {what}: {e}"),
        })
    }
}

/// How a provider takes a key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyHeader {
    /// `Authorization: Bearer <key>` (OpenAI, Braintrust).
    Bearer,
    /// The key alone in a header of its own (`x-api-key`, `x-goog-api-key`).
    Named(&'static str),
}

/// What sets one HTTP provider apart; each provider's file declares its own.
#[derive(Debug)]
pub(crate) struct Vendor {
    /// Its name in messages and logs.
    pub name: &'static str,
    /// Its row of the shared configuration (base URL, admin key).
    pub slot: Slot,
    /// How it takes a key (the admin key and a key under test alike).
    pub key_header: KeyHeader,
    /// A header every request carries (`anthropic-version`).
    pub version: Option<(&'static str, &'static str)>,
    /// Where an operator gets the admin key, for the "no admin key" error.
    pub where_admin_key: &'static str,
}

/// One provider's API with its admin key: what every HTTP provider's inventory, issuer and
/// store is built on. `Debug` never shows the key.
#[derive(Debug, Clone)]
pub(crate) struct AdminApi {
    pub api: Api,
    vendor: &'static Vendor,
    key: Option<SecretString>,
}

impl AdminApi {
    /// `vendor`'s API at `base_url`, acting with `admin_key` (none: admin calls fail with
    /// `Auth` naming the variable to set).
    pub fn new(
        vendor: &'static Vendor,
        client: Client,
        base_url: &str,
        admin_key: Option<SecretString>,
    ) -> Self {
        AdminApi {
            api: Api::new(vendor.name, client, base_url),
            vendor,
            key: admin_key,
        }
    }

    /// The admin key, or the error that says which variable to set.
    pub fn key(&self) -> ProviderResult<&SecretString> {
        self.key.as_ref().ok_or_else(|| {
            missing_admin_key(
                self.vendor.name,
                self.vendor.slot.admin_key_var().unwrap_or("its admin key"),
                self.vendor.where_admin_key,
            )
        })
    }

    /// Adds `key` (marked sensitive) the way this provider takes it, and its version header.
    pub fn with_key(
        &self,
        req: RequestBuilder,
        key: &SecretString,
    ) -> ProviderResult<RequestBuilder> {
        let name = self.vendor.name;
        let req = match self.vendor.key_header {
            KeyHeader::Bearer => req.header(AUTHORIZATION, bearer(name, key)?),
            KeyHeader::Named(header) => req.header(header, sensitive_header(name, key)?),
        };
        Ok(match self.vendor.version {
            Some((header, value)) => req.header(header, HeaderValue::from_static(value)),
            None => req,
        })
    }

    /// A request to `path` (with `query`) carrying `key`.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        key: &SecretString,
    ) -> ProviderResult<RequestBuilder> {
        self.with_key(self.api.request(method, self.api.url(path, query)?), key)
    }

    /// An admin call: the admin key, an optional JSON body; a non-2xx status is an error
    /// naming `what`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
        what: &str,
    ) -> ProviderResult<Raw> {
        let key = self.key()?;
        let mut req = self.request(method, path, query, key)?;
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.api.send(req, what, &[key]).await
    }
}

/// A page of a usage report, the shape OpenAI's and Anthropic's share: the next page's
/// cursor in `next_page` while `has_more`.
#[derive(serde::Deserialize)]
struct ReportPage<T> {
    data: Vec<T>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    next_page: Option<String>,
}

impl AdminApi {
    /// Reads a usage report at `path` page by page (`page` = the cursor the previous page
    /// gave), at most `max_pages`, handing each page's buckets to `each_page`.
    pub async fn report<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        what: &str,
        max_pages: usize,
        mut each_page: impl FnMut(Vec<T>),
    ) -> ProviderResult<()> {
        let mut page: Option<String> = None;
        for _ in 0..max_pages {
            let mut q = query.to_vec();
            if let Some(p) = page.as_deref() {
                q.push(("page", p));
            }
            let raw = self.call(Method::GET, path, &q, None, what).await?;
            let report: ReportPage<T> = self.api.parse(&raw, what)?;
            each_page(report.data);
            match report.next_page {
                Some(n) if report.has_more && page.as_deref() != Some(n.as_str()) => page = Some(n),
                _ => break,
            }
        }
        Ok(())
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

/// Largest response body read (a list page of 1,000 keys is far smaller).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Reads a body into a buffer zeroized on drop (it may hold a freshly minted key).
async fn read_body(provider: &str, mut resp: Response) -> ProviderResult<Zeroizing<String>> {
    let mut buf: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| error_from_transport(provider, &e, &[]))?
    {
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(ProviderError::Validation {
                provider: provider.to_string(),
                message: format!(
                    "the answer is larger than {} MiB; is the base URL right?",
                    MAX_BODY / (1024 * 1024)
                ),
            });
        }
        buf.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok(Zeroizing::new(text))
}

/// A Unix timestamp (seconds) as a UTC time.
pub(crate) fn unix_time(secs: Option<i64>) -> Option<DateTime<Utc>> {
    secs.and_then(|s| DateTime::from_timestamp(s, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                *k,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_provider_headers() {
        let now = DateTime::parse_from_rfc3339("2026-05-12T10:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), "", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Tue, 12 May 2026 10:00:30 GMT")]),
                "",
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(
                &headers(&[
                    ("x-ratelimit-reset-requests", "1s"),
                    ("x-ratelimit-reset-tokens", "6m0s")
                ]),
                "",
                now
            ),
            Some(Duration::from_secs(360))
        );
        assert_eq!(
            retry_after(
                &headers(&[("anthropic-ratelimit-requests-reset", "2026-05-12T10:00:12Z")]),
                "",
                now
            ),
            Some(Duration::from_secs(12))
        );
        let google = r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"38s"}]}}"#;
        assert_eq!(
            retry_after(&HeaderMap::new(), google, now),
            Some(Duration::from_secs(38))
        );
        assert_eq!(retry_after(&HeaderMap::new(), "", now), None);
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("12ms"), Some(Duration::from_millis(12)));
        assert_eq!(parse_go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("soon"), None);
    }

    #[test]
    fn statuses_map_to_errors_and_messages_are_scrubbed() {
        let key = SecretString::from("sk-test-0123456789abcdefWXYZ");
        let body = r#"{"error":{"message":"Incorrect API key provided: sk-test-0123456789abcdefWXYZ","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        let e = error_from_response(
            "OpenAI",
            "models",
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            body,
            &[&key],
        );
        assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
        assert!(!e.to_string().contains("0123456789abcdef"), "{e}");
        let quota = r#"{"error":{"message":"You exceeded your current quota","code":"insufficient_quota"}}"#;
        let e = error_from_response(
            "OpenAI",
            "x",
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            quota,
            &[],
        );
        assert!(matches!(e, ProviderError::LimitExceeded { .. }), "{e:?}");
        let e = error_from_response(
            "Braintrust",
            "x",
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            "upstream down\nmore",
            &[],
        );
        assert!(e.is_retryable());
        assert!(e.to_string().contains("upstream down"), "{e}");
        let e = error_from_response(
            "Braintrust",
            "x",
            StatusCode::UNPROCESSABLE_ENTITY,
            &HeaderMap::new(),
            "",
            &[],
        );
        assert!(matches!(e, ProviderError::Validation { .. }), "{e:?}");
        assert!(!e.is_retryable());
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
