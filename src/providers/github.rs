//! GitHub Actions secrets as destinations: the copies of keys a CI pipeline keeps for
//! itself. GitHub never gives a secret's value back, so breachbook cannot find a copy by
//! fingerprint: the runbook names each secret and the location whose key it mirrors
//! (`scope.github_actions.copies`), [`WithGithubCopies`] adds those secrets to the keys the
//! other inventories find, and [`GithubActionsStore`] writes the new key into them during
//! `propagate`, sealed to the repository's (or environment's) public key.
//!
//! The API, as GitHub describes it (github/rest-api-description,
//! `descriptions/api.github.com/api.github.com.2022-11-28.yaml` at
//! 0000036e42b5e7121c2b1ac244cb7bba1d2f3914; <https://docs.github.com/rest/actions/secrets>):
//! - `GET /repos/{owner}/{repo}/actions/secrets/public-key` (`actions/get-repo-public-key`)
//!   and `GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key`
//!   (`actions/get-environment-public-key`) — `actions-public-key`: `key_id`, `key` (the
//!   base64 of a Curve25519 public key);
//! - `GET …/secrets/{secret_name}` (`actions/get-repo-secret`,
//!   `actions/get-environment-secret`) — `actions-secret`: `name`, `created_at`,
//!   `updated_at`, never the value;
//! - `PUT …/secrets/{secret_name}` (`actions/create-or-update-repo-secret`,
//!   `actions/create-or-update-environment-secret`) with `encrypted_value` (the base64 of a
//!   libsodium sealed box of the value) and `key_id`, both required — `201` when the secret
//!   was created, `204` when it was updated;
//! - every call takes `Authorization: Bearer <token>`, `Accept: application/vnd.github+json`
//!   and `X-GitHub-Api-Version: 2022-11-28`, and GitHub refuses requests without a
//!   `User-Agent`; errors come as `{"message": "…", "documentation_url": "…"}`; a private
//!   repository the token cannot see answers `404`; rate limits answer `403` or `429` with
//!   `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (epoch seconds), or with
//!   `retry-after` (the secondary limits), as GitHub's "Rate limits for the REST API" page
//!   says.
//!
//! The token needs, on each repository, the fine-grained permission "Secrets: read and
//! write" (environment secrets: also "Environments: read"), or the classic `repo` scope.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use reqwest::header::HeaderValue;
use reqwest::{Client, Method, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use super::http::{Api, Raw, bearer, seg};
use crate::incident::model::{Credential, Location, LocationKind};
use crate::incident::ports::{Inventory, ProviderError, ProviderResult, SecretStore};
use crate::runbook::schema::{ExposureWindow, GithubSecretCopy, Scope};

/// The provider's name in messages.
pub const GITHUB: &str = "GitHub";
/// The token, as GitHub's own tools read it.
pub const GITHUB_TOKEN_VAR: &str = "GITHUB_TOKEN";
/// The token, as the `gh` CLI reads it, when `GITHUB_TOKEN` is not set.
pub const GH_TOKEN_VAR: &str = "GH_TOKEN";
/// The API's address: `https://api.github.com`, or a GitHub Enterprise Server's
/// `https://HOST/api/v3`.
pub const GITHUB_BASE_URL_VAR: &str = "BREACHBOOK_GITHUB_BASE_URL";
/// The REST API version breachbook was written against.
const API_VERSION: &str = "2022-11-28";
/// The longest wait a rate limit may ask for before the engine is told instead.
const MAX_RATE_WAIT: Duration = Duration::from_secs(15 * 60);

/// Where and as whom GitHub is called.
#[derive(Clone)]
pub struct GithubConfig {
    pub base: String,
    pub token: SecretString,
}

impl std::fmt::Debug for GithubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubConfig")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl GithubConfig {
    /// `BREACHBOOK_GITHUB_BASE_URL` (else `https://api.github.com`) and `GITHUB_TOKEN`
    /// (else `GH_TOKEN`).
    pub fn from_env() -> ProviderResult<GithubConfig> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// As [`GithubConfig::from_env`], reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> ProviderResult<GithubConfig> {
        let nonempty = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let token = nonempty(GITHUB_TOKEN_VAR)
            .or_else(|| nonempty(GH_TOKEN_VAR))
            .map(SecretString::from)
            .ok_or_else(|| ProviderError::Auth {
                provider: GITHUB.into(),
                message: format!(
                    "no token: set {GITHUB_TOKEN_VAR} (or {GH_TOKEN_VAR}) to a token with \"Secrets: read and write\" on the repositories the runbook names (`gh auth token` prints yours)"
                ),
            })?;
        Ok(GithubConfig {
            base: base_url(lookup),
            token,
        })
    }
}

/// `BREACHBOOK_GITHUB_BASE_URL` read through `lookup`, else `https://api.github.com`,
/// without trailing slashes.
pub fn base_url(lookup: impl Fn(&str) -> Option<String>) -> String {
    lookup(GITHUB_BASE_URL_VAR)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "https://api.github.com".into())
        .trim_end_matches('/')
        .to_string()
}

/// One GitHub Actions secret: a repository's, or one of its environments'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretPlace {
    pub owner: String,
    pub repo: String,
    pub environment: Option<String>,
    pub name: String,
}

impl SecretPlace {
    /// The secret a runbook's copy names.
    pub fn of_copy(c: &GithubSecretCopy) -> ProviderResult<SecretPlace> {
        let Some((owner, repo)) = c.repo.split_once('/') else {
            return Err(bad_place(&c.repo));
        };
        Ok(SecretPlace {
            owner: owner.to_string(),
            repo: repo.to_string(),
            environment: c.environment.clone(),
            name: c.secret.clone(),
        })
    }

    /// The secret a location names (see [`SecretPlace::location`]).
    pub fn of_location(loc: &Location) -> ProviderResult<SecretPlace> {
        let bad = || bad_place(&loc.label());
        let name = loc.field.clone().ok_or_else(bad)?;
        let mut parts = loc.name.splitn(3, '/');
        let (Some(owner), Some(repo)) = (parts.next(), parts.next()) else {
            return Err(bad());
        };
        let environment = match parts.next() {
            None => None,
            Some(rest) => Some(
                rest.strip_prefix("environments/")
                    .filter(|e| !e.is_empty())
                    .ok_or_else(bad)?
                    .to_string(),
            ),
        };
        Ok(SecretPlace {
            owner: owner.to_string(),
            repo: repo.to_string(),
            environment,
            name,
        })
    }

    /// The location: `gha:owner/repo#NAME`, or `gha:owner/repo/environments/ENV#NAME`.
    pub fn location(&self, changed: Option<DateTime<Utc>>) -> Location {
        let name = match &self.environment {
            None => format!("{}/{}", self.owner, self.repo),
            Some(e) => format!("{}/{}/environments/{e}", self.owner, self.repo),
        };
        Location {
            kind: LocationKind::GithubActions,
            name,
            field: Some(self.name.clone()),
            region: None,
            account: None,
            changed,
        }
    }

    /// `/repos/{owner}/{repo}/actions/secrets` or
    /// `/repos/{owner}/{repo}/environments/{environment_name}/secrets`.
    fn secrets_path(&self) -> String {
        let repo = format!("/repos/{}/{}", seg(&self.owner), seg(&self.repo));
        match &self.environment {
            None => format!("{repo}/actions/secrets"),
            Some(e) => format!("{repo}/environments/{}/secrets", seg(e)),
        }
    }

    /// For messages: `secret NAME of owner/repo` (and its environment).
    fn describe(&self) -> String {
        match &self.environment {
            None => format!("secret {} of {}/{}", self.name, self.owner, self.repo),
            Some(e) => format!(
                "secret {} of environment {e} of {}/{}",
                self.name, self.owner, self.repo
            ),
        }
    }
}

fn bad_place(what: &str) -> ProviderError {
    ProviderError::Validation {
        provider: GITHUB.into(),
        message: format!(
            "`{what}` does not name a GitHub Actions secret (owner/repo, optionally /environments/ENV, and the secret's name)"
        ),
    }
}

/// `actions-public-key`.
#[derive(Deserialize)]
struct PublicKeyAnswer {
    key_id: String,
    key: String,
}

/// `actions-secret`: what GitHub tells of a secret.
#[derive(Debug, Clone, Deserialize)]
pub struct SecretMeta {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The GitHub REST API, as one token.
#[derive(Clone)]
pub struct Github {
    api: Api,
    token: SecretString,
}

impl Github {
    pub fn new(client: Client, config: &GithubConfig) -> Github {
        Github {
            api: Api::new(GITHUB, client, &config.base),
            token: config.token.clone(),
        }
    }

    fn request(&self, method: Method, path: &str) -> ProviderResult<RequestBuilder> {
        let url = self.api.url(path, &[])?;
        Ok(self
            .api
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, bearer(GITHUB, &self.token)?)
            .header(
                reqwest::header::ACCEPT,
                HeaderValue::from_static("application/vnd.github+json"),
            )
            .header(
                "X-GitHub-Api-Version",
                HeaderValue::from_static(API_VERSION),
            )
            .header(
                reqwest::header::USER_AGENT,
                HeaderValue::from_static(concat!("breachbook/", env!("CARGO_PKG_VERSION"))),
            ))
    }

    /// Sends; a non-2xx answer becomes an error naming `what`, with GitHub's rate limits
    /// (a `403` or `429` saying so) read as throttling.
    async fn call(&self, req: RequestBuilder, what: &str) -> ProviderResult<Raw> {
        let raw = self.api.send_raw(req, &[&self.token]).await?;
        if raw.status.is_success() {
            return Ok(raw);
        }
        if let Some(wait) = rate_limited(&raw, Utc::now()) {
            return Err(ProviderError::Throttled {
                provider: GITHUB.into(),
                message: format!("GitHub's rate limit stopped {what}"),
                retry_after: Some(wait),
            });
        }
        Err(self.api.error(&raw, what, &[&self.token]))
    }

    /// What GitHub tells of a secret (never its value).
    pub async fn secret(&self, place: &SecretPlace) -> ProviderResult<SecretMeta> {
        let path = format!("{}/{}", place.secrets_path(), seg(&place.name));
        let what = format!(
            "{} (or the token cannot see the repository)",
            place.describe()
        );
        let raw = self.call(self.request(Method::GET, &path)?, &what).await?;
        self.api.parse(&raw, &what)
    }

    /// Writes `value` into the secret, sealed to the repository's (or environment's) public
    /// key read just before. Returns whether GitHub created the secret (`201`) rather than
    /// updated it (`204`).
    pub async fn put(&self, place: &SecretPlace, value: &SecretString) -> ProviderResult<bool> {
        let key_path = format!("{}/public-key", place.secrets_path());
        let what = format!(
            "the public key for {} (or the token cannot see the repository)",
            place.describe()
        );
        let raw = self
            .call(self.request(Method::GET, &key_path)?, &what)
            .await?;
        let key: PublicKeyAnswer = self.api.parse(&raw, &what)?;
        let sealed = seal(&key.key, value)?;
        let body = serde_json::json!({ "encrypted_value": sealed, "key_id": key.key_id });
        let path = format!("{}/{}", place.secrets_path(), seg(&place.name));
        let raw = self
            .call(
                self.request(Method::PUT, &path)?.json(&body),
                &place.describe(),
            )
            .await?;
        tracing::info!(status = raw.status.as_u16(), secret = %place.name, "wrote a GitHub Actions secret");
        Ok(raw.status.as_u16() == 201)
    }
}

/// The base64 of a libsodium sealed box of `value` for the base64 public key `key`.
fn seal(key: &str, value: &SecretString) -> ProviderResult<String> {
    let bad = |why: &str| ProviderError::Validation {
        provider: GITHUB.into(),
        message: format!("GitHub's public key {why}; try again, and tell GitHub if it persists"),
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .map_err(|_| bad("is not base64"))?;
    let public = crypto_box::PublicKey::try_from(bytes.as_slice())
        .map_err(|_| bad("is not a 32-byte Curve25519 key"))?;
    let sealed = Zeroizing::new(
        public
            .seal(
                &mut crypto_box::aead::OsRng,
                value.expose_secret().as_bytes(),
            )
            .map_err(|_| bad("could not seal the value"))?,
    );
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed.as_slice()))
}

/// How long a rate-limited answer asks to wait: `retry-after` (seconds), else
/// `x-ratelimit-reset` when `x-ratelimit-remaining` is `0`; `None` for any other refusal
/// (a `403` without these is a permission answer).
fn rate_limited(raw: &Raw, now: DateTime<Utc>) -> Option<Duration> {
    let status = raw.status.as_u16();
    if status != 403 && status != 429 {
        return None;
    }
    let header = |name: &str| {
        raw.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs).min(MAX_RATE_WAIT));
    }
    if header("x-ratelimit-remaining") == Some("0") {
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok())?;
        let secs = u64::try_from(reset - now.timestamp()).unwrap_or(0).max(1);
        return Some(Duration::from_secs(secs).min(MAX_RATE_WAIT));
    }
    (status == 429).then_some(Duration::from_secs(60))
}

/// Writes new keys into GitHub Actions secrets. They are destinations only: no versions,
/// no staging, never read.
pub struct GithubActionsStore {
    github: Github,
}

impl GithubActionsStore {
    pub fn new(github: Github) -> GithubActionsStore {
        GithubActionsStore { github }
    }
}

#[async_trait]
impl SecretStore for GithubActionsStore {
    /// Seals the value to the secret's public key and writes it (`PUT`, idempotent: a
    /// retry writes the same value again), then reads the secret back for GitHub's own
    /// `updated_at`, which the report lists.
    async fn replace(&self, loc: &Location, value: &SecretString) -> ProviderResult<DateTime<Utc>> {
        let place = SecretPlace::of_location(loc)?;
        self.github.put(&place, value).await?;
        Ok(self.github.secret(&place).await?.updated_at)
    }
}

/// The runbook's GitHub Actions copies added to the keys an inventory finds: each secret
/// joins the credential with a location labelled as its `mirrors` says, with GitHub's
/// `updated_at` as when it last changed. A copy whose secret GitHub does not show, or whose
/// `mirrors` no key found has, fails the listing (after the keys found are sent), so that
/// a copy missed is never silent.
pub struct WithGithubCopies {
    inner: Arc<dyn Inventory>,
    github: Github,
    copies: Vec<GithubSecretCopy>,
}

impl WithGithubCopies {
    pub fn new(
        inner: Arc<dyn Inventory>,
        github: Github,
        copies: Vec<GithubSecretCopy>,
    ) -> WithGithubCopies {
        WithGithubCopies {
            inner,
            github,
            copies,
        }
    }
}

/// Whether `loc` is the place `mirrors` names: its label, its label with the region, or
/// its full key (account and region).
fn names(loc: &Location, mirrors: &str) -> bool {
    let m = mirrors.trim();
    loc.label() == m || loc.place() == m || loc.key() == m
}

#[async_trait]
impl Inventory for WithGithubCopies {
    async fn discover(
        &self,
        scope: &Scope,
        exposure: &ExposureWindow,
        pages: mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        // Every secret's metadata at once: a copy GitHub does not show fails the listing.
        let copies = futures::future::try_join_all(self.copies.iter().map(|c| async move {
            let place = SecretPlace::of_copy(c)?;
            let meta = self.github.secret(&place).await?;
            Ok::<_, ProviderError>((c.mirrors.clone(), place.location(Some(meta.updated_at))))
        }))
        .await?;
        let mut matched = vec![false; copies.len()];
        super::live::relay(self.inner.as_ref(), scope, exposure, &pages, |page| {
            for cred in page.iter_mut() {
                for (i, (mirrors, gha)) in copies.iter().enumerate() {
                    if !cred.locations.iter().any(|l| names(l, mirrors)) {
                        continue;
                    }
                    matched[i] = true;
                    if !cred.locations.iter().any(|l| l.key() == gha.key()) {
                        cred.locations.push(gha.clone());
                    }
                }
            }
        })
        .await?;
        let missed: Vec<String> = copies
            .iter()
            .zip(&matched)
            .filter(|(_, m)| !**m)
            .map(|((mirrors, gha), _)| format!("{} mirrors `{mirrors}`", gha.label()))
            .collect();
        if missed.is_empty() {
            Ok(())
        } else {
            Err(ProviderError::Validation {
                provider: GITHUB.into(),
                message: format!(
                    "no key found in scope is stored where {}; write `mirrors` as the Inventory labels the copy (e.g. sm:prod/ai/openai#OPENAI_API_KEY), then run the step again",
                    missed.join(", ")
                ),
            })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    fn raw(status: u16, headers: &[(&'static str, &str)]) -> Raw {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        Raw {
            status: StatusCode::from_u16(status).unwrap(),
            headers: h,
            body: Zeroizing::new(String::new()),
        }
    }

    #[test]
    fn a_place_survives_its_location() {
        for env in [None, Some("prod/eu".to_string())] {
            let p = SecretPlace {
                owner: "acme".into(),
                repo: "api".into(),
                environment: env,
                name: "OPENAI_API_KEY".into(),
            };
            let loc = p.location(None);
            assert_eq!(SecretPlace::of_location(&loc).unwrap(), p);
        }
        let loc = SecretPlace {
            owner: "acme".into(),
            repo: "api".into(),
            environment: None,
            name: "K".into(),
        }
        .location(None);
        assert_eq!(loc.label(), "gha:acme/api#K");
    }

    #[test]
    fn rate_limits_are_told_from_permission_refusals() {
        let now = DateTime::from_timestamp(1_000, 0).unwrap();
        assert_eq!(rate_limited(&raw(403, &[]), now), None);
        assert_eq!(
            rate_limited(
                &raw(
                    403,
                    &[
                        ("x-ratelimit-remaining", "0"),
                        ("x-ratelimit-reset", "1030")
                    ]
                ),
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            rate_limited(&raw(429, &[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(rate_limited(&raw(404, &[("retry-after", "7")]), now), None);
    }

    #[test]
    fn a_sealed_value_opens_with_the_secret_key_only() {
        let sk = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
        let pk = base64::engine::general_purpose::STANDARD.encode(sk.public_key().as_bytes());
        let value = SecretString::from("sk-test-sealed-0001");
        let sealed = seal(&pk, &value).unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&sealed)
            .unwrap();
        assert_eq!(sk.unseal(&bytes).unwrap(), b"sk-test-sealed-0001");
        let other = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
        assert!(other.unseal(&bytes).is_err());
        assert!(!sealed.contains("sk-test"));
        assert!(seal("not base64!", &value).is_err());
    }
}
