//! Google Cloud for the Gemini provider: a service account's key file
//! ([`GoogleCredentials`], named by `GOOGLE_APPLICATION_CREDENTIALS`), its OAuth 2.0 access
//! token by the JWT-bearer grant ([`TokenSource`]), the API Keys API v2 ([`ApiKeys`]), and
//! the redaction of Google's error bodies, which can quote a whole key.
//!
//! Contracts: the key file and the grant are Google's own (googleapis/google.aip.dev@463cfd0
//! aip/auth/4112.md; googleapis/google-auth-library-python@2ea24b0
//! google/oauth2/service_account.py, _client.py): an RS256 JWT `{iss: client_email, scope,
//! aud: token_uri, iat, exp ≤ iat + 3600}` with `kid = private_key_id`, POSTed form-encoded
//! as `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…` to the file's
//! `token_uri`; the answer `{access_token, expires_in, token_type: "Bearer"}`. The API Keys
//! API v2 is googleapis/googleapis@f8291d2 google/api/apikeys/v2/apikeys.proto (service
//! `apikeys.googleapis.com`, scope `cloud-platform`): `GET /v2/keys:lookupKey?keyString=`,
//! `POST /v2/{parent}/keys?keyId=` (a long-running operation), `GET /v2/{name}`, `GET
//! /v2/{name}/keyString`, `DELETE /v2/{name}` (a deleted key "can be retrieved within 30 days
//! of deletion"), `GET /v2/{parent}/keys` (`pageSize`, `pageToken`), `GET
//! /v2/operations/{id}`. Errors are `{"error": {code, message, status, details}}`.
//!
//! May depend on `http`, the incident ports and model only. The private key and tokens stay
//! in [`SecretString`]s; `Debug` shows neither.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Client, Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use super::http::{self, Api};
use crate::incident::model::mask;
use crate::incident::ports::{Clock, ProviderError, ProviderResult};

/// The variable naming the service account's key file (Google's own convention).
pub const CREDENTIALS_VAR: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// The OAuth scope the API Keys API takes for writes (`apikeys_v2.yaml` authentication rules).
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The JWT-bearer grant type (RFC 7523; `_JWT_GRANT_TYPE` in google-auth).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// An assertion's lifetime: Google's maximum, one hour.
const ASSERTION_SECS: i64 = 3600;
/// A token is renewed this long before Google says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// How long to wait between polls of a long-running operation, and how many polls.
const POLL_EVERY: Duration = Duration::from_secs(1);
const MAX_POLLS: u32 = 120;
/// Pages of `keys.list` followed at most.
const MAX_PAGES: usize = 1000;

const OAUTH: &str = "Google OAuth";
/// The API Keys API's name in messages.
pub const API_KEYS: &str = "Google API Keys";

/// A service account's key file (`"type": "service_account"`). `Debug` shows the account
/// and where it signs in, never the key.
#[derive(Clone)]
pub struct GoogleCredentials {
    /// The service account (`client_email`), the JWT's issuer.
    pub client_email: String,
    /// `private_key_id`, the JWT's `kid`.
    pub private_key_id: Option<String>,
    private_key: SecretString,
    /// Where the token is asked for (`token_uri`).
    pub token_uri: String,
    /// `project_id`, the account's own project.
    pub project_id: Option<String>,
}

impl std::fmt::Debug for GoogleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleCredentials")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    client_email: Option<String>,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    private_key: Option<SecretString>,
    #[serde(default)]
    token_uri: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
}

fn bad_file(why: &str) -> ProviderError {
    ProviderError::Auth {
        provider: OAUTH.into(),
        message: format!(
            "{CREDENTIALS_VAR} does not name a usable service-account key file: {why}; download a JSON key of a service account (console.cloud.google.com → IAM & Admin → Service accounts → Keys) or unset the variable to delete Gemini keys by hand"
        ),
    }
}

impl GoogleCredentials {
    /// Reads the key file `path` names.
    pub fn from_file(path: &std::path::Path) -> ProviderResult<Self> {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| bad_file(&format!("{} cannot be read ({e})", path.display())))?,
        );
        Self::from_json(&text)
    }

    /// Parses a key file's text: `client_email`, `private_key` and `token_uri` are needed.
    pub fn from_json(text: &str) -> ProviderResult<Self> {
        let file: KeyFile = serde_json::from_str(text)
            .map_err(|e| bad_file(&format!("it is not the JSON of a key file ({e})")))?;
        if file.kind.as_deref().is_some_and(|k| k != "service_account") {
            return Err(bad_file(&format!(
                "its type is {:?}, not \"service_account\"",
                file.kind.unwrap_or_default()
            )));
        }
        let need = |v: Option<String>, what: &str| {
            v.filter(|s| !s.trim().is_empty())
                .ok_or_else(|| bad_file(&format!("it has no {what}")))
        };
        let client_email = need(file.client_email, "client_email")?;
        let token_uri = need(file.token_uri, "token_uri")?;
        Url::parse(&token_uri)
            .map_err(|e| bad_file(&format!("its token_uri is not a URL ({e})")))?;
        let private_key = file
            .private_key
            .filter(|k| !k.expose_secret().trim().is_empty())
            .ok_or_else(|| bad_file("it has no private_key"))?;
        Ok(GoogleCredentials {
            client_email,
            private_key_id: file.private_key_id.filter(|s| !s.is_empty()),
            private_key,
            token_uri,
            project_id: file.project_id.filter(|s| !s.is_empty()),
        })
    }

    /// The variable's file, when the variable is set (empty counts as unset).
    pub fn from_env() -> ProviderResult<Option<Self>> {
        match std::env::var_os(CREDENTIALS_VAR).filter(|v| !v.is_empty()) {
            Some(path) => Self::from_file(std::path::Path::new(&path)).map(Some),
            None => Ok(None),
        }
    }

    /// The signed assertion for `scope`, issued at `now` (Unix seconds).
    fn assertion(&self, scope: &str, now: i64) -> ProviderResult<SecretString> {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            scope: &'a str,
            aud: &'a str,
            iat: i64,
            exp: i64,
        }
        let key =
            jsonwebtoken::EncodingKey::from_rsa_pem(self.private_key.expose_secret().as_bytes())
                .map_err(|e| {
                    bad_file(&format!("its private_key is not an RSA key in PEM ({e})"))
                })?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.private_key_id.clone();
        let claims = Claims {
            iss: &self.client_email,
            scope,
            aud: &self.token_uri,
            iat: now,
            exp: now + ASSERTION_SECS,
        };
        jsonwebtoken::encode(&header, &claims, &key)
            .map(SecretString::from)
            .map_err(|e| bad_file(&format!("the sign-in could not be signed ({e})")))
    }
}

/// A form value, percent-encoded (`application/x-www-form-urlencoded`).
fn form_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.*".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Masks every Google key in `text` (`AIza…` standard keys, `AQ.…` auth keys), wherever it
/// stands — Google quotes keys inside words (`Consumer 'api_key:AIza…'`) — and every exact
/// value of `secrets`.
pub fn redact(text: &str, secrets: &[&SecretString]) -> String {
    let mut out = http::scrub(text, secrets);
    for prefix in ["AIza", "AQ."] {
        let mut from = 0;
        while let Some(i) = out[from..].find(prefix).map(|i| i + from) {
            let end = out[i..]
                .char_indices()
                .find(|(_, c)| !(c.is_ascii_alphanumeric() || "-_.".contains(*c)))
                .map(|(j, _)| i + j)
                .unwrap_or(out.len());
            if end - i >= 16 && !out[i..end].contains('…') {
                let masked = mask(&out[i..end]);
                out.replace_range(i..end, &masked);
                from = i + masked.len();
            } else {
                from = i + prefix.len();
            }
        }
    }
    out
}

/// Google's error body with every key masked: what is kept of a refusal.
pub(crate) fn redacted_error(
    provider: &str,
    what: &str,
    raw: &http::Raw,
    secrets: &[&SecretString],
) -> ProviderError {
    let body = redact(&raw.body, secrets);
    http::error_from_response(provider, what, raw.status, &raw.headers, &body, secrets)
}

/// Gets (and renews) the service account's access token.
pub struct TokenSource {
    creds: GoogleCredentials,
    api: Api,
    cached: Mutex<Option<(SecretString, Instant)>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("creds", &self.creds)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: SecretString,
    /// Seconds; "may be a JSON string" in some services (google-auth coerces it).
    #[serde(default)]
    expires_in: Option<Value>,
}

impl TokenSource {
    pub fn new(creds: GoogleCredentials, client: Client) -> Self {
        TokenSource {
            creds,
            api: Api::new(OAUTH, client, ""),
            cached: Mutex::new(None),
        }
    }

    /// The service account.
    pub fn account(&self) -> &str {
        &self.creds.client_email
    }

    /// Where it signs in (`token_uri`).
    pub fn token_uri(&self) -> &str {
        &self.creds.token_uri
    }

    /// A valid access token: the one held, or a new one from the token endpoint.
    pub async fn token(&self) -> ProviderResult<SecretString> {
        let mut cached = self.cached.lock().await;
        if let Some((t, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let now = chrono::Utc::now().timestamp();
        let assertion = self.creds.assertion(CLOUD_PLATFORM, now)?;
        let body = format!(
            "grant_type={}&assertion={}",
            form_value(JWT_BEARER),
            form_value(assertion.expose_secret())
        );
        let url = Url::parse(&self.creds.token_uri)
            .map_err(|e| bad_file(&format!("its token_uri is not a URL ({e})")))?;
        let req = self
            .api
            .request(Method::POST, url)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .body(body);
        let raw = self.api.send_raw(req, &[&assertion]).await?;
        if !raw.status.is_success() {
            return Err(self.refused(&raw, &assertion));
        }
        let answer: TokenAnswer = self.api.parse(&raw, "the access token")?;
        let secs = match &answer.expires_in {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .unwrap_or(3600);
        let until = Instant::now() + Duration::from_secs(secs).saturating_sub(TOKEN_MARGIN);
        *cached = Some((answer.access_token.clone(), until));
        tracing::debug!(provider = OAUTH, account = %self.creds.client_email, "signed in");
        Ok(answer.access_token)
    }

    /// A refused sign-in: `invalid_grant` and the like are the key file's fault (Auth, with
    /// Google's `error_description`); 408, 429 and 5xx are retried.
    fn refused(&self, raw: &http::Raw, assertion: &SecretString) -> ProviderError {
        if matches!(raw.status.as_u16(), 408 | 429) || raw.status.is_server_error() {
            return redacted_error(OAUTH, "the access token", raw, &[assertion]);
        }
        let v: Value = serde_json::from_str(&raw.body).unwrap_or(Value::Null);
        let code = v.get("error").and_then(Value::as_str).unwrap_or("refused");
        let why = v
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or("");
        ProviderError::Auth {
            provider: OAUTH.into(),
            message: redact(
                &format!(
                    "Google refused the sign-in of service account {} ({code}{}{why}); check the key file {CREDENTIALS_VAR} names, and that the account is enabled",
                    self.creds.client_email,
                    if why.is_empty() { "" } else { ": " },
                ),
                &[assertion],
            ),
        }
    }
}

/// `V2LookupKeyResponse`.
#[derive(Debug, Deserialize)]
pub struct LookedUp {
    /// "The project that owns the key" (`projects/<number>`).
    pub parent: String,
    /// "The resource name of the API key. If the API key has been purged, resource name is
    /// empty."
    #[serde(default)]
    pub name: String,
}

/// `V2Key`, the fields read here.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub name: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub create_time: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub delete_time: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub restrictions: Option<Value>,
}

/// `google.longrunning.Operation`.
#[derive(Debug, Deserialize)]
struct Operation {
    name: String,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    error: Option<Status>,
    #[serde(default)]
    response: Option<Value>,
}

/// `google.rpc.Status`.
#[derive(Debug, Deserialize)]
struct Status {
    #[serde(default)]
    code: i32,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyList {
    #[serde(default)]
    keys: Vec<ApiKey>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyStringAnswer {
    key_string: SecretString,
}

/// Whether a resource name from Google is safe to put in a path as it is (`{+name}`:
/// slashes kept).
pub(crate) fn safe_name(name: &str) -> ProviderResult<&str> {
    let ok = !name.is_empty()
        && !name.contains("..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c));
    if ok {
        Ok(name)
    } else {
        Err(ProviderError::Validation {
            provider: API_KEYS.into(),
            message: format!("{name:?} is not a resource name breachbook can use"),
        })
    }
}

/// The API Keys API v2 with the service account's token.
pub struct ApiKeys {
    api: Api,
    tokens: TokenSource,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("base", &self.api.base)
            .field("tokens", &self.tokens)
            .finish()
    }
}

/// What a created key's id must look like (`CreateKeyRequest.key_id`):
/// `[a-z]([a-z0-9-]{0,61}[a-z0-9])?`, and not UUID-like.
pub fn valid_key_id(id: &str) -> bool {
    let b = id.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !id.ends_with('-')
        && !(id.len() == 36 && id.matches('-').count() == 4)
}

impl ApiKeys {
    pub fn new(client: Client, base_url: &str, creds: GoogleCredentials) -> Self {
        ApiKeys {
            api: Api::new(API_KEYS, client.clone(), base_url),
            tokens: TokenSource::new(creds, client),
        }
    }

    /// The service account acting.
    pub fn account(&self) -> &str {
        self.tokens.account()
    }

    /// Where the service account signs in.
    pub fn token_uri(&self) -> &str {
        self.tokens.token_uri()
    }

    /// One call with the token; the whole answer, whatever its status.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
        secrets: &[&SecretString],
    ) -> ProviderResult<http::Raw> {
        let token = self.tokens.token().await?;
        let url = self.api.url(path, query)?;
        let mut req = self
            .api
            .request(method, url)
            .header(AUTHORIZATION, http::bearer(API_KEYS, &token)?);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let mut all: Vec<&SecretString> = secrets.to_vec();
        all.push(&token);
        self.api.send_raw(req, &all).await
    }

    /// As `send`, a non-2xx answer an error (Google's body redacted).
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
        what: &str,
        secrets: &[&SecretString],
    ) -> ProviderResult<http::Raw> {
        let raw = self.send(method, path, query, body, secrets).await?;
        if raw.status.is_success() {
            Ok(raw)
        } else {
            Err(redacted_error(API_KEYS, what, &raw, secrets))
        }
    }

    /// `keys:lookupKey`: the project and resource name of the key `value`.
    pub async fn lookup(&self, value: &SecretString) -> ProviderResult<LookedUp> {
        let raw = self
            .call(
                Method::GET,
                "/v2/keys:lookupKey",
                &[("keyString", value.expose_secret())],
                None,
                "the key",
                &[value],
            )
            .await?;
        self.api.parse(&raw, "the key lookup")
    }

    /// `keys.get`; `None` when Google no longer knows the key (purged).
    pub async fn get(&self, name: &str) -> ProviderResult<Option<ApiKey>> {
        let path = format!("/v2/{}", safe_name(name)?);
        let raw = self.send(Method::GET, &path, &[], None, &[]).await?;
        match raw.status {
            s if s.is_success() => self.api.parse(&raw, "the key").map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(redacted_error(API_KEYS, &format!("key {name}"), &raw, &[])),
        }
    }

    /// `keys.getKeyString`.
    pub async fn key_string(&self, name: &str) -> ProviderResult<SecretString> {
        let path = format!("/v2/{}/keyString", safe_name(name)?);
        let raw = self
            .call(Method::GET, &path, &[], None, &format!("key {name}"), &[])
            .await?;
        let answer: KeyStringAnswer = self.api.parse(&raw, "the key string")?;
        Ok(answer.key_string)
    }

    /// Every key of `parent` (`projects/<p>/locations/global`), deleted ones left out.
    pub async fn list(&self, parent: &str) -> ProviderResult<Vec<ApiKey>> {
        let path = format!("/v2/{}/keys", safe_name(parent)?);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("pageSize", "300")];
            if let Some(t) = token.as_deref() {
                query.push(("pageToken", t));
            }
            let raw = self
                .call(
                    Method::GET,
                    &path,
                    &query,
                    None,
                    &format!("keys of {parent}"),
                    &[],
                )
                .await?;
            let page: KeyList = self.api.parse(&raw, "keys")?;
            out.extend(page.keys);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if token.as_deref() != Some(t.as_str()) => token = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    /// `keys.create` with the caller's `key_id` in `parent` (`projects/<p>/locations/global`),
    /// waiting for the operation. `Ok(None)`: a key of that id exists already (an earlier try
    /// made it: the id is the rotation's own).
    pub async fn create(
        &self,
        parent: &str,
        key_id: &str,
        display_name: &str,
        restrictions: Option<Value>,
        clock: &dyn Clock,
    ) -> ProviderResult<Option<ApiKey>> {
        let path = format!("/v2/{}/keys", safe_name(parent)?);
        let mut body = serde_json::Map::new();
        body.insert("displayName".into(), display_name.into());
        if let Some(r) = restrictions {
            body.insert("restrictions".into(), r);
        }
        let raw = self
            .send(
                Method::POST,
                &path,
                &[("keyId", key_id)],
                Some(Value::Object(body)),
                &[],
            )
            .await?;
        if raw.status == StatusCode::CONFLICT {
            // ALREADY_EXISTS: this rotation's key, made by an earlier try.
            return Ok(None);
        }
        if !raw.status.is_success() {
            return Err(redacted_error(
                API_KEYS,
                &format!("a key in {parent}"),
                &raw,
                &[],
            ));
        }
        let op: Operation = self.api.parse(&raw, "the operation")?;
        let done = self.wait(op, clock).await?;
        serde_json::from_value(done)
            .map(Some)
            .map_err(|e| ProviderError::Validation {
                provider: API_KEYS.into(),
                message: format!("unexpected answer for the new key: {e}"),
            })
    }

    /// `keys.delete`, waiting for the operation.
    pub async fn delete(&self, name: &str, clock: &dyn Clock) -> ProviderResult<()> {
        let path = format!("/v2/{}", safe_name(name)?);
        let raw = self.send(Method::DELETE, &path, &[], None, &[]).await?;
        if raw.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        if !raw.status.is_success() {
            return Err(redacted_error(API_KEYS, &format!("key {name}"), &raw, &[]));
        }
        let op: Operation = self.api.parse(&raw, "the operation")?;
        self.wait(op, clock).await.map(|_| ())
    }

    /// Polls a long-running operation (`GET /v2/operations/…`) until it is done; its
    /// `response`, or its `error` as an error.
    async fn wait(&self, mut op: Operation, clock: &dyn Clock) -> ProviderResult<Value> {
        for _ in 0..MAX_POLLS {
            if op.done {
                if let Some(e) = op.error {
                    return Err(status_error(&e));
                }
                return Ok(op.response.unwrap_or(Value::Null));
            }
            clock.sleep(POLL_EVERY).await;
            let path = format!("/v2/{}", safe_name(&op.name)?);
            let raw = self
                .call(Method::GET, &path, &[], None, "the operation", &[])
                .await?;
            op = self.api.parse(&raw, "the operation")?;
        }
        Err(ProviderError::Timeout {
            provider: API_KEYS.into(),
        })
    }
}

/// An operation's `error` (`google.rpc.Status`; codes as `google/rpc/code.proto`).
fn status_error(s: &Status) -> ProviderError {
    let provider = API_KEYS.to_string();
    let message = redact(&s.message, &[]);
    match s.code {
        7 | 16 => ProviderError::Auth { provider, message },
        5 => ProviderError::NotFound {
            provider,
            what: message,
        },
        8 => ProviderError::Throttled {
            provider,
            message,
            retry_after: None,
        },
        4 => ProviderError::Timeout { provider },
        13 | 14 => ProviderError::Server {
            provider,
            status: 500,
            message,
        },
        _ => ProviderError::Validation { provider, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_keys_are_masked_wherever_they_stand() {
        let text = "Permission denied: Consumer 'api_key:AIzaSyTEST0123456789abcdefghijklmnopqr' has been suspended; AQ.Ab8RN6TEST0123456789abcdef";
        let r = redact(text, &[]);
        assert!(!r.contains("0123456789abcdef"), "{r}");
        assert!(r.contains("api_key:AIz…"), "{r}");
        assert!(r.contains("has been suspended"), "{r}");
    }

    #[test]
    fn key_ids_follow_the_documented_shape() {
        assert!(valid_key_id("breachbook-0123456789abcdef0123456789abcdef"));
        assert!(!valid_key_id("Breachbook"));
        assert!(!valid_key_id("0abc"));
        assert!(!valid_key_id("b7ff1f9f-8275-410a-94dd-3855ee9b5dd2"));
        assert!(!valid_key_id(&"a".repeat(64)));
    }

    #[test]
    fn key_files_need_an_account_a_key_and_where_to_sign_in() {
        let e = GoogleCredentials::from_json(r#"{"type":"service_account","client_email":"a@b"}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{e}");
        assert!(e.contains("token_uri"), "{e}");
    }
}
