//! One provider's API: [`Api`] builds URLs, sends requests and reads whole answers (bodies
//! zeroized on drop, only method, path and status logged); [`AdminApi`] adds the admin key
//! the way the provider's [`Vendor`] takes it, and follows usage reports page by page.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use super::errors::{error_from_response, error_from_transport, missing_admin_key};
use super::{Slot, trim_base};
use crate::incident::ports::{ProviderError, ProviderResult};

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
    ///
    /// A `GET` (safe and idempotent, RFC 9110 §9.2) is tried again here, up to
    /// [`GET_ATTEMPTS`] in all, after a throttle, a 5xx (Anthropic's 529 among them), a
    /// timeout or a broken connection, as the AWS SDK does for every call: waiting the
    /// provider's `Retry-After` (when it asks for no more than [`MAX_CLIENT_WAIT`]; a longer
    /// wait is left to the engine) or a short backoff, each retry told to the watching
    /// engine (`retries::retried`, journaled as `call_retried`). One lost answer then no
    /// longer fails a whole listing. Anything else (a mint, a write, a delete) is sent once:
    /// the engine decides, because only it knows whether an unknown outcome must be
    /// reconciled first.
    pub async fn send_raw(
        &self,
        mut req: RequestBuilder,
        secrets: &[&SecretString],
    ) -> ProviderResult<Raw> {
        // Only a GET whose request can be copied (a body that is not a stream) is retried.
        let get_path = req
            .try_clone()
            .and_then(|r| r.build().ok())
            .filter(|r| r.method() == Method::GET)
            .map(|r| r.url().path().to_string());
        let Some(path) = get_path else {
            return self.send_once(req, secrets).await;
        };
        let mut attempt = 1;
        loop {
            let again = req.try_clone().filter(|_| attempt < GET_ATTEMPTS);
            let result = self.send_once(req, secrets).await;
            let (Some(next), Some((why, wait))) = (again, transient(&result, attempt)) else {
                return result;
            };
            attempt += 1;
            crate::incident::retries::retried(&format!("GET {path}"), attempt, &why);
            tracing::info!(provider = self.provider, path = %path, attempt, why = %why, "trying a GET again");
            tokio::time::sleep(wait).await;
            req = next;
        }
    }

    /// One attempt of [`Api::send_raw`].
    async fn send_once(
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

/// Attempts of a `GET` in [`Api::send_raw`], the first one included (the AWS SDK's standard
/// mode makes 3 too).
pub(crate) const GET_ATTEMPTS: u32 = 3;
/// The longest `Retry-After` [`Api::send_raw`] waits out itself; a longer one is the
/// engine's to wait (it journals the failed attempt and caps the wait).
pub(crate) const MAX_CLIENT_WAIT: Duration = Duration::from_secs(10);

/// Why the answer to attempt `attempt` is worth trying again, and how long to wait first:
/// a throttle (its `Retry-After`, if at most [`MAX_CLIENT_WAIT`]), a 5xx, a timeout or a
/// broken connection; `None` for anything else.
fn transient(result: &ProviderResult<Raw>, attempt: u32) -> Option<(String, Duration)> {
    // 250 ms, then 500 ms: quick enough for a listing, slow enough for a blip.
    let backoff = Duration::from_millis(250 << (attempt.saturating_sub(1)).min(4));
    match result {
        Err(ProviderError::Timeout { .. }) => Some(("timed out".into(), backoff)),
        Err(ProviderError::Network { .. }) => Some(("connection failed".into(), backoff)),
        Err(_) => None,
        Ok(raw) => {
            let status = raw.status.as_u16();
            if status == 429 {
                if super::errors::error_code(&raw.body).as_deref() == Some("insufficient_quota") {
                    // Out of credit: waiting does not help.
                    return None;
                }
                let asked = super::errors::retry_after(&raw.headers, &raw.body, chrono::Utc::now());
                match asked {
                    Some(d) if d > MAX_CLIENT_WAIT => None,
                    Some(d) => Some(("throttled (429)".into(), d)),
                    None => Some(("throttled (429)".into(), backoff)),
                }
            } else if status >= 500 {
                Some((format!("HTTP {status}"), backoff))
            } else {
                None
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(status: u16, headers: &[(&'static str, &str)], body: &str) -> ProviderResult<Raw> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                *k,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        Ok(Raw {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            headers: h,
            body: Zeroizing::new(body.to_string()),
        })
    }

    #[test]
    fn a_get_is_tried_again_after_a_throttle_a_5xx_or_a_lost_connection_and_nothing_else() {
        let wait = |r: &ProviderResult<Raw>| transient(r, 1).map(|(_, d)| d);
        assert_eq!(wait(&raw(200, &[], "{}")), None);
        assert_eq!(wait(&raw(404, &[], "")), None);
        assert_eq!(wait(&raw(401, &[], "")), None);
        assert_eq!(wait(&raw(500, &[], "")), Some(Duration::from_millis(250)));
        assert_eq!(wait(&raw(529, &[], "")), Some(Duration::from_millis(250)));
        assert_eq!(
            transient(&raw(503, &[], ""), 2).map(|(_, d)| d),
            Some(Duration::from_millis(500))
        );
        // The provider's own wait, when it is short; a long one is the engine's.
        assert_eq!(
            wait(&raw(429, &[("retry-after", "2")], "")),
            Some(Duration::from_secs(2))
        );
        assert_eq!(wait(&raw(429, &[("retry-after", "3600")], "")), None);
        let quota = r#"{"error":{"message":"You exceeded your current quota","code":"insufficient_quota"}}"#;
        assert_eq!(wait(&raw(429, &[], quota)), None);
        let timeout: ProviderResult<Raw> = Err(ProviderError::Timeout {
            provider: "OpenAI".into(),
        });
        assert!(wait(&timeout).is_some());
        let reset: ProviderResult<Raw> = Err(ProviderError::Network {
            provider: "OpenAI".into(),
            message: "connection reset".into(),
        });
        assert!(wait(&reset).is_some());
        let refused: ProviderResult<Raw> = Err(ProviderError::Validation {
            provider: "OpenAI".into(),
            message: "bad".into(),
        });
        assert_eq!(wait(&refused), None);
    }
}
