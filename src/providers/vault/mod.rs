//! HashiCorp Vault (and OpenBao, its open-source fork with the same HTTP API) KV version 2:
//! the inventory of keys held in a mount's secrets ([`VaultInventory`]), the store that
//! stages, reads back, promotes and replaces values with check-and-set ([`VaultStore`]),
//! and the policy a runbook needs ([`policy::vault_policy_hcl`]). Here: the client both
//! share, what it reads and writes, and the record breachbook keeps in a secret's
//! `custom_metadata`.
//!
//! The API, as OpenBao documents it (openbao/openbao, `website/content/api-docs/secret/kv/
//! kv-v2.mdx` at f122ef8599b45fd28021078f23d0d11f802a83c6; Vault's `api-docs/secret/kv/
//! kv-v2` says the same):
//! - `GET /v1/:mount/data/:path?version=N` — the data and that version's `created_time`,
//!   `deletion_time`, `destroyed`, `version`, and the secret's `custom_metadata`;
//! - `POST /v1/:mount/data/:path` with `options.cas` — "`cas` must be set to the current
//!   version of the secret"; refused with 400 "check-and-set parameter did not match the
//!   current version" otherwise;
//! - `GET /v1/:mount/metadata/:path` — `current_version`, `oldest_version`,
//!   `updated_time`, `custom_metadata`, `versions` (each with `created_time`,
//!   `deletion_time`, `destroyed`);
//! - `LIST /v1/:mount/metadata/:path` (sent as `GET …?list=true`) — `keys`, folders
//!   suffixed with `/`; 404 for an empty folder;
//! - `PATCH /v1/:mount/metadata/:path` (`application/merge-patch+json`) — changes
//!   `custom_metadata` without a new version (a `null` value removes a key);
//! - `X-Vault-Token` carries the token, `X-Vault-Namespace` the namespace (Vault
//!   Enterprise, OpenBao namespaces); errors come as `{"errors": ["…"]}`.
//!
//! Vault has no staging labels: a version written is the latest at once, and whoever reads
//! the latest reads it. So a new key is staged only after it was minted and it is alive,
//! every write names the version it was composed on (`cas`), and a staged version abandoned
//! is undone by writing the earlier values back as a newer version.
//!
//! Values are read only to find which keys a secret holds and to change one field; parsed
//! documents are wiped before they are dropped. Logs carry paths and version numbers only.

mod inventory;
pub mod policy;
mod store;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderValue;
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};
use zeroize::{Zeroize, Zeroizing};

use super::http::{Api, Raw, seg, sensitive_header};
use crate::incident::ports::{ProviderError, ProviderResult};

pub use inventory::VaultInventory;
pub use store::VaultStore;

/// The provider's name in messages.
pub const VAULT: &str = "Vault";
/// The server's address, e.g. `https://vault.example.com:8200` (as the vault CLI reads it).
pub const VAULT_ADDR_VAR: &str = "VAULT_ADDR";
/// The token (as the vault CLI reads it); else the file `vault login` writes.
pub const VAULT_TOKEN_VAR: &str = "VAULT_TOKEN";
/// The namespace, where the server has them.
pub const VAULT_NAMESPACE_VAR: &str = "VAULT_NAMESPACE";

/// The `custom_metadata` key of breachbook's staged version: `"<token> origin=<O> base=<B>"`
/// before the write (the intent), ` version=<N>` added after it.
const PENDING_KEY: &str = "breachbook_pending";
/// The `custom_metadata` key naming the version breachbook last promoted and when.
const PROMOTED_KEY: &str = "breachbook_promoted";

/// Where and as whom Vault is called.
#[derive(Clone)]
pub struct VaultConfig {
    pub addr: String,
    pub token: SecretString,
    pub namespace: Option<String>,
}

impl std::fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultConfig")
            .field("addr", &self.addr)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl VaultConfig {
    /// `VAULT_ADDR`, `VAULT_TOKEN` (else `~/.vault-token`, which `vault login` and
    /// `bao login` write) and `VAULT_NAMESPACE`.
    pub fn from_env() -> ProviderResult<VaultConfig> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Self::from_lookup(|k| std::env::var(k).ok(), home)
    }

    fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        home: Option<PathBuf>,
    ) -> ProviderResult<VaultConfig> {
        let nonempty = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let addr = nonempty(VAULT_ADDR_VAR).ok_or_else(|| ProviderError::Validation {
            provider: VAULT.into(),
            message: format!(
                "{VAULT_ADDR_VAR} is not set: set it to the server's address (e.g. https://vault.example.com:8200), then try again"
            ),
        })?;
        let token = match nonempty(VAULT_TOKEN_VAR) {
            Some(t) => SecretString::from(t),
            None => {
                let file = home.map(|h| h.join(".vault-token"));
                let read = file
                    .as_ref()
                    .and_then(|f| std::fs::read_to_string(f).ok())
                    .map(Zeroizing::new);
                match read.as_deref().map(|t| t.trim()).filter(|t| !t.is_empty()) {
                    Some(t) => SecretString::from(t.to_string()),
                    None => {
                        return Err(ProviderError::Auth {
                            provider: VAULT.into(),
                            message: format!(
                                "no token: set {VAULT_TOKEN_VAR}, or log in with `vault login` (it writes ~/.vault-token)"
                            ),
                        });
                    }
                }
            }
        };
        Ok(VaultConfig {
            addr: addr.trim_end_matches('/').to_string(),
            token,
            namespace: nonempty(VAULT_NAMESPACE_VAR),
        })
    }
}

/// One version of a secret as read: its fields (wiped on drop) and its metadata.
pub(crate) struct Read {
    pub doc: Doc,
    pub version: u64,
    pub created: Option<DateTime<Utc>>,
}

/// A secret's metadata.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Metadata {
    #[serde(default)]
    pub current_version: u64,
    #[serde(default)]
    pub oldest_version: u64,
    #[serde(default, deserialize_with = "nullable_map")]
    pub custom_metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub versions: BTreeMap<String, VersionMeta>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct VersionMeta {
    #[serde(default)]
    pub created_time: Option<String>,
    #[serde(default)]
    pub deletion_time: Option<String>,
    #[serde(default)]
    pub destroyed: bool,
}

impl Metadata {
    /// When version `n` was written.
    pub fn created(&self, n: u64) -> Option<DateTime<Utc>> {
        self.versions
            .get(&n.to_string())
            .and_then(|v| v.created_time.as_deref())
            .and_then(parse_time)
    }

    /// Whether version `n` can still be read (not deleted, not destroyed).
    pub fn readable(&self, n: u64) -> bool {
        self.versions
            .get(&n.to_string())
            .is_some_and(|v| !v.destroyed && v.deletion_time.as_deref().is_none_or(str::is_empty))
    }

    /// breachbook's record of its staged version, if any.
    pub fn pending(&self) -> Option<Pending> {
        self.custom_metadata
            .get(PENDING_KEY)
            .and_then(|s| Pending::parse(s))
    }
}

/// `custom_metadata` is `null` on a secret that never had any.
fn nullable_map<'de, D>(d: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

/// breachbook's staged version, as kept in `custom_metadata[breachbook_pending]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    /// The stage token (it starts with the incident's tag).
    pub token: String,
    /// The version that was current before breachbook's first stage of this rotation: the
    /// values a field goes back to.
    pub origin: u64,
    /// The version the write was composed on (its `cas`).
    pub base: u64,
    /// The version written; `None` between the intent and the write's answer.
    pub version: Option<u64>,
}

impl Pending {
    fn parse(s: &str) -> Option<Pending> {
        let mut parts = s.split_whitespace();
        let token = parts.next()?.to_string();
        let mut p = Pending {
            token,
            origin: 0,
            base: 0,
            version: None,
        };
        for kv in parts {
            let (k, v) = kv.split_once('=')?;
            let n = v.parse::<u64>().ok()?;
            match k {
                "origin" => p.origin = n,
                "base" => p.base = n,
                "version" => p.version = Some(n),
                _ => {}
            }
        }
        Some(p)
    }

    fn render(&self) -> String {
        let mut s = format!("{} origin={} base={}", self.token, self.origin, self.base);
        if let Some(v) = self.version {
            s.push_str(&format!(" version={v}"));
        }
        s
    }

    /// The version id the engine journals: `<token>@<version>`.
    pub fn id(&self) -> Option<String> {
        self.version.map(|v| version_id(&self.token, v))
    }
}

/// The version id of breachbook's version `n` staged under `token`. It starts with the
/// token, so the engine tells its own staged versions by their prefix, as in Secrets
/// Manager.
pub(crate) fn version_id(token: &str, n: u64) -> String {
    format!("{token}@{n}")
}

/// The version number a version id names (`<token>@N`, or a bare number).
pub(crate) fn version_number(id: &str) -> ProviderResult<u64> {
    let n = id.rsplit_once('@').map_or(id, |(_, n)| n);
    n.parse::<u64>().map_err(|_| ProviderError::Validation {
        provider: VAULT.into(),
        message: format!("{id} is not a Vault version (expected a number, or <token>@<number>)"),
    })
}

/// A secret's fields, wiped when dropped.
#[derive(Default)]
pub(crate) struct Doc(pub Map<String, Value>);

impl Drop for Doc {
    fn drop(&mut self) {
        wipe_map(&mut self.0);
    }
}

impl Doc {
    /// The string value of `field`.
    pub fn field(&self, field: &str) -> Option<SecretString> {
        match self.0.get(field) {
            Some(Value::String(s)) => Some(SecretString::from(s.clone())),
            _ => None,
        }
    }

    /// Sets `field` to `value`, wiping what it held.
    pub fn set(&mut self, field: &str, value: &SecretString) {
        if let Some(mut old) = self.0.insert(
            field.to_string(),
            Value::String(value.expose_secret().to_string()),
        ) {
            wipe(&mut old);
        }
    }

    /// Sets `field` to what `from` holds there, or takes it out when `from` has none.
    pub fn set_from(&mut self, field: &str, from: &Doc) {
        let mut old = match from.0.get(field) {
            Some(v) => self.0.insert(field.to_string(), v.clone()),
            None => self.0.remove(field),
        };
        if let Some(o) = old.as_mut() {
            wipe(o);
        }
    }

    pub fn same_field(&self, other: &Doc, field: &str) -> bool {
        self.0.get(field) == other.0.get(field)
    }

    /// A copy (wiped on drop too).
    pub fn copy(&self) -> Doc {
        Doc(self.0.clone())
    }

    /// The whole document as JSON text, for a location without a field.
    pub fn to_secret(&self) -> SecretString {
        SecretString::from(serde_json::to_string(&self.0).unwrap_or_default())
    }
}

pub(crate) fn wipe(v: &mut Value) {
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(a) => a.iter_mut().for_each(wipe),
        Value::Object(m) => wipe_map(m),
        _ => {}
    }
}

fn wipe_map(m: &mut Map<String, Value>) {
    m.values_mut().for_each(wipe);
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Why a write was refused.
pub(crate) enum WriteError {
    /// Someone wrote a version since the one the write named (`cas`).
    Cas,
    Other(ProviderError),
}

impl From<ProviderError> for WriteError {
    fn from(e: ProviderError) -> Self {
        WriteError::Other(e)
    }
}

/// The HTTP client of one Vault server and mount.
#[derive(Clone)]
pub(crate) struct Vault {
    api: Api,
    token: SecretString,
    namespace: Option<String>,
    /// The KV v2 mount, without slashes (`secret`).
    pub mount: String,
}

impl Vault {
    pub fn new(client: Client, config: &VaultConfig, mount: &str) -> Vault {
        Vault {
            api: Api::new(VAULT, client, &config.addr),
            token: config.token.clone(),
            namespace: config.namespace.clone(),
            mount: mount.trim_matches('/').to_string(),
        }
    }

    /// The location name of `path`: `mount/path`.
    pub fn name_of(&self, path: &str) -> String {
        format!("{}/{}", self.mount, path)
    }

    /// The path of a location name (`mount/path` → `path`).
    pub fn path_of<'a>(&self, name: &'a str) -> &'a str {
        name.strip_prefix(&self.mount)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(name)
    }

    fn request(
        &self,
        method: Method,
        area: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> ProviderResult<RequestBuilder> {
        let url = self.api.url(
            &format!("/v1/{}/{area}/{}", self.mount, encode_path(path)),
            query,
        )?;
        let mut req = self
            .api
            .request(method, url)
            .header("X-Vault-Token", sensitive_header(VAULT, &self.token)?);
        if let Some(ns) = &self.namespace {
            let v = HeaderValue::from_str(ns).map_err(|_| ProviderError::Validation {
                provider: VAULT.into(),
                message: format!("{VAULT_NAMESPACE_VAR} holds characters a header cannot carry"),
            })?;
            req = req.header("X-Vault-Namespace", v);
        }
        Ok(req)
    }

    async fn send(&self, req: RequestBuilder) -> ProviderResult<Raw> {
        self.api.send_raw(req, &[&self.token]).await
    }

    fn error(&self, raw: &Raw, what: &str) -> ProviderError {
        self.api.error(raw, what, &[&self.token])
    }

    /// The names in a folder (`""` for the mount's top), folders ending in `/`; an empty
    /// or missing folder has none.
    pub async fn list(&self, folder: &str) -> ProviderResult<Vec<String>> {
        let req = self.request(Method::GET, "metadata", folder, &[("list", "true")])?;
        let raw = self.send(req).await?;
        if raw.status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        if !raw.status.is_success() {
            return Err(self.error(&raw, &format!("folder {}/{folder}", self.mount)));
        }
        #[derive(Deserialize)]
        struct Keys {
            #[serde(default)]
            keys: Vec<String>,
        }
        #[derive(Deserialize)]
        struct Listed {
            data: Keys,
        }
        let l: Listed = self.api.parse(&raw, "LIST metadata")?;
        Ok(l.data.keys)
    }

    /// The metadata of the secret at `path`.
    pub async fn metadata(&self, path: &str) -> ProviderResult<Metadata> {
        let req = self.request(Method::GET, "metadata", path, &[])?;
        let raw = self.send(req).await?;
        if !raw.status.is_success() {
            return Err(self.error(&raw, &format!("secret {}", self.name_of(path))));
        }
        #[derive(Deserialize)]
        struct Answer {
            data: Metadata,
        }
        let a: Answer = self.api.parse(&raw, "metadata")?;
        Ok(a.data)
    }

    /// Version `version` (the latest when `None`) of the secret at `path`.
    pub async fn read(&self, path: &str, version: Option<u64>) -> ProviderResult<Read> {
        let v = version.map(|n| n.to_string());
        let query: Vec<(&str, &str)> = v.iter().map(|n| ("version", n.as_str())).collect();
        let req = self.request(Method::GET, "data", path, &query)?;
        let raw = self.send(req).await?;
        let what = match version {
            Some(n) => format!("version {n} of {}", self.name_of(path)),
            None => format!("secret {}", self.name_of(path)),
        };
        if !raw.status.is_success() {
            return Err(self.error(&raw, &what));
        }
        let mut body: Value =
            serde_json::from_str(&raw.body).map_err(|e| ProviderError::Validation {
                provider: VAULT.into(),
                message: format!("unexpected answer for {what}: {e}"),
            })?;
        let out = read_of(&mut body);
        wipe(&mut body);
        out.ok_or_else(|| ProviderError::NotFound {
            provider: VAULT.into(),
            what,
        })
    }

    /// Writes `doc` as a new version of `path`, only if `cas` is still its current version.
    /// Returns the version written and when.
    pub async fn write(
        &self,
        path: &str,
        cas: u64,
        doc: &Doc,
    ) -> Result<(u64, Option<DateTime<Utc>>), WriteError> {
        let body = Zeroizing::new(
            serde_json::to_string(&serde_json::json!({
                "options": { "cas": cas },
                "data": &doc.0,
            }))
            .map_err(|e| ProviderError::Validation {
                provider: VAULT.into(),
                message: format!("could not write the document: {e}"),
            })?,
        );
        let req = self
            .request(Method::POST, "data", path, &[])?
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.as_bytes().to_vec());
        let raw = self.send(req).await?;
        if raw.status == StatusCode::BAD_REQUEST && raw.body.contains("check-and-set") {
            return Err(WriteError::Cas);
        }
        if !raw.status.is_success() {
            return Err(self
                .error(&raw, &format!("secret {}", self.name_of(path)))
                .into());
        }
        #[derive(Deserialize)]
        struct Written {
            version: u64,
            #[serde(default)]
            created_time: Option<String>,
        }
        #[derive(Deserialize)]
        struct Answer {
            data: Written,
        }
        let a: Answer = self.api.parse(&raw, "write")?;
        Ok((
            a.data.version,
            a.data.created_time.as_deref().and_then(parse_time),
        ))
    }

    /// Sets (`Some`) or removes (`None`) keys of the secret's `custom_metadata`, leaving the
    /// others (a JSON merge patch).
    pub async fn patch_custom(
        &self,
        path: &str,
        changes: &[(&str, Option<String>)],
    ) -> ProviderResult<()> {
        let custom: Map<String, Value> = changes
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone().map_or(Value::Null, Value::String)))
            .collect();
        let body = serde_json::json!({ "custom_metadata": custom }).to_string();
        let req = self
            .request(Method::PATCH, "metadata", path, &[])?
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/merge-patch+json",
            )
            .body(body);
        let raw = self.send(req).await?;
        if !raw.status.is_success() {
            return Err(self.error(&raw, &format!("metadata of {}", self.name_of(path))));
        }
        Ok(())
    }
}

/// `data.data` and `data.metadata` of a read, taken out of `body`.
fn read_of(body: &mut Value) -> Option<Read> {
    let data = body.get_mut("data")?;
    let meta = data.get("metadata").cloned().unwrap_or(Value::Null);
    let doc = match data.get_mut("data").map(Value::take) {
        Some(Value::Object(m)) => Doc(m),
        // A version deleted (soft) reads as `data: null`.
        _ => return None,
    };
    Some(Read {
        doc,
        version: meta.get("version").and_then(Value::as_u64).unwrap_or(0),
        created: meta
            .get("created_time")
            .and_then(Value::as_str)
            .and_then(parse_time),
    })
}

/// A secret path for a URL: each segment percent-encoded, the slashes kept.
fn encode_path(path: &str) -> String {
    path.split('/').map(seg).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pending_record_reads_back_what_was_written() {
        let p = Pending {
            token: "breachbook-abc-123".into(),
            origin: 3,
            base: 4,
            version: Some(5),
        };
        assert_eq!(Pending::parse(&p.render()), Some(p.clone()));
        let intent = Pending { version: None, ..p };
        assert_eq!(Pending::parse(&intent.render()), Some(intent));
        assert_eq!(Pending::parse("tok base=x"), None);
    }

    #[test]
    fn version_ids_carry_the_token_and_the_number() {
        assert_eq!(version_id("breachbook-a-b", 7), "breachbook-a-b@7");
        assert_eq!(version_number("breachbook-a-b@7").ok(), Some(7));
        assert_eq!(version_number("12").ok(), Some(12));
        assert!(version_number("breachbook-a-b").is_err());
    }

    #[test]
    fn the_token_comes_from_the_environment_or_the_login_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| std::process::exit(1));
        let vars = |addr: Option<&str>, token: Option<&str>| {
            let (a, t) = (addr.map(str::to_string), token.map(str::to_string));
            move |k: &str| match k {
                VAULT_ADDR_VAR => a.clone(),
                VAULT_TOKEN_VAR => t.clone(),
                _ => None,
            }
        };
        let c =
            VaultConfig::from_lookup(vars(Some("http://127.0.0.1:8200/"), Some("s.test")), None);
        assert!(c.as_ref().is_ok_and(|c| c.addr == "http://127.0.0.1:8200"));
        assert!(matches!(
            VaultConfig::from_lookup(vars(None, Some("s.test")), None),
            Err(ProviderError::Validation { .. })
        ));
        assert!(matches!(
            VaultConfig::from_lookup(vars(Some("http://x"), None), Some(dir.path().into())),
            Err(ProviderError::Auth { .. })
        ));
        let _ = std::fs::write(dir.path().join(".vault-token"), "s.fromfile\n");
        let c = VaultConfig::from_lookup(vars(Some("http://x"), None), Some(dir.path().into()));
        assert!(c.is_ok_and(|c| c.token.expose_secret() == "s.fromfile"));
    }

    #[test]
    fn paths_keep_their_slashes_and_encode_the_rest() {
        assert_eq!(encode_path("prod/ai/open ai"), "prod/ai/open%20ai");
        assert_eq!(encode_path(""), "");
    }
}
