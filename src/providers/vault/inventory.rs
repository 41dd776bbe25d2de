//! The Vault KV v2 inventory: the keys held in the secrets under the scope's paths, with
//! when each secret's latest version was written.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use secrecy::SecretString;
use serde_json::Value;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use super::{Doc, VAULT, Vault};
use crate::incident::model::{
    Credential, Location, LocationKind, fingerprint as keyed_fingerprint, mask,
};
use crate::incident::ports::{Inventory, KeyIssuer, ProviderError, ProviderResult};
use crate::providers::aws::secrets::exposure_of;
use crate::runbook::schema::{ExposureWindow, Issuer, Scope, VaultScope};

/// Secrets read at once.
const READ_CONCURRENCY: usize = 16;
/// Folders deep a listing goes (a loop of folders cannot keep it going).
const MAX_DEPTH: usize = 32;

/// The slug of an issuer in credential ids (as the other inventories spell it).
fn issuer_slug(i: Issuer) -> &'static str {
    match i {
        Issuer::AwsIam => "aws_iam",
        Issuer::Openai => "openai",
        Issuer::Anthropic => "anthropic",
        Issuer::Gemini => "gemini",
        Issuer::Braintrust => "braintrust",
        Issuer::Generic => "generic",
    }
}

/// Lists the keys held in the Vault KV v2 secrets of `scope.vault`.
///
/// Every folder under each path prefix is listed (`LIST …/metadata/…`, recursively); then
/// the secrets are read, 16 at once, each sent as soon as it is read. With `fields`
/// mappings (or `fingerprint: true`) the latest version is read: every mapped field present
/// is one credential of its issuer (id `{issuer}/vault/{mount}/{path}#{field}`), and with
/// `fingerprint: true` every other string field is one generic credential with its keyed
/// fingerprint. Without either, each secret is listed as one generic credential from its
/// metadata alone, no value read.
///
/// A key is exposed when the latest version of its secret was written before the exposure
/// window began (`created_time` of that version: metadata changes do not move it).
pub struct VaultInventory {
    vault: Vault,
    fingerprint_key: Zeroizing<Vec<u8>>,
    identify: HashMap<Issuer, Arc<dyn KeyIssuer>>,
}

impl VaultInventory {
    pub(crate) fn new(vault: Vault, fingerprint_key: &[u8]) -> VaultInventory {
        VaultInventory {
            vault,
            fingerprint_key: Zeroizing::new(fingerprint_key.to_vec()),
            identify: HashMap::new(),
        }
    }

    /// Asks these issuers, for each key of theirs read, what they can tell of it from its
    /// value ([`KeyIssuer::identify`]) before the key is reported.
    pub fn with_identify(mut self, issuers: HashMap<Issuer, Arc<dyn KeyIssuer>>) -> Self {
        self.identify = issuers;
        self
    }

    /// Every secret path under `prefix`: the folder it names (up to its last `/`) listed
    /// recursively, names kept when they start with `prefix`.
    async fn paths_under(&self, prefix: &str) -> ProviderResult<Vec<String>> {
        let start = match prefix.rfind('/') {
            Some(i) => prefix.get(..=i).unwrap_or(""),
            None => "",
        };
        let mut out = Vec::new();
        let mut folders = vec![(start.to_string(), 0usize)];
        while let Some((folder, depth)) = folders.pop() {
            for key in self.vault.list(&folder).await? {
                let full = format!("{folder}{key}");
                // A folder is followed only where it can still hold names under the prefix.
                let relevant = full.starts_with(prefix) || prefix.starts_with(&full);
                if !relevant {
                    continue;
                }
                if key.ends_with('/') {
                    if depth < MAX_DEPTH {
                        folders.push((full, depth + 1));
                    }
                } else if full.starts_with(prefix) {
                    out.push(full);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The credentials of one secret.
    async fn credentials_of(
        &self,
        scope: &VaultScope,
        path: &str,
        exposure: &ExposureWindow,
    ) -> ProviderResult<Vec<Credential>> {
        let found = Found {
            name: self.vault.name_of(path),
            exposure,
        };
        let needs_value = !scope.fields.is_empty() || scope.fingerprint;
        if !needs_value {
            let meta = match self.vault.metadata(path).await {
                Ok(m) => m,
                Err(e) => return unreadable(&found, e),
            };
            let changed = meta.created(meta.current_version);
            return Ok(vec![found.credential(
                Issuer::Generic,
                None,
                changed,
                "…".into(),
                None,
                None,
            )]);
        }
        let read = match self.vault.read(path, None).await {
            Ok(r) => r,
            Err(e) => return unreadable(&found, e),
        };
        let mut creds = self.keys_in(scope, &found, read.created, &read.doc);
        self.identify_all(&mut creds, &read.doc).await;
        Ok(creds)
    }

    fn keys_in(
        &self,
        scope: &VaultScope,
        found: &Found<'_>,
        changed: Option<DateTime<Utc>>,
        doc: &Doc,
    ) -> Vec<Credential> {
        let mut creds = Vec::new();
        let mut mapped = Vec::new();
        for m in &scope.fields {
            if let Some(Value::String(v)) = doc.0.get(&m.field)
                && !v.is_empty()
            {
                mapped.push(m.field.as_str());
                creds.push(found.credential(
                    m.issuer,
                    Some(&m.field),
                    changed,
                    mask(v),
                    Some(keyed_fingerprint(&self.fingerprint_key, v)),
                    None,
                ));
            }
        }
        if scope.fingerprint {
            for (field, v) in &doc.0 {
                if let Value::String(v) = v
                    && !v.is_empty()
                    && !mapped.contains(&field.as_str())
                {
                    creds.push(found.credential(
                        Issuer::Generic,
                        Some(field),
                        changed,
                        mask(v),
                        Some(keyed_fingerprint(&self.fingerprint_key, v)),
                        None,
                    ));
                }
            }
        }
        creds
    }

    /// Lets each mapped field's issuer tell what it can of the key from its value; a
    /// failure is said in the key's exposure reason, not fatal.
    async fn identify_all(&self, creds: &mut [Credential], doc: &Doc) {
        for c in creds.iter_mut() {
            let (Some(issuer), Some(Value::String(v))) = (
                self.identify.get(&c.issuer),
                c.meta.get("field").and_then(|f| doc.0.get(f)),
            ) else {
                continue;
            };
            let key = SecretString::from(v.as_str());
            if let Err(e) = issuer.identify(c, &key).await {
                c.exposure_reason.push_str(&format!(
                    "; {} could not tell which key this is ({e})",
                    c.issuer.label()
                ));
            }
        }
    }
}

#[async_trait]
impl Inventory for VaultInventory {
    async fn discover(
        &self,
        scope: &Scope,
        exposure: &ExposureWindow,
        pages: mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let Some(vs) = &scope.vault else {
            return Ok(());
        };
        let prefixes: Vec<&str> = if vs.path_prefixes.is_empty() {
            vec![""]
        } else {
            vs.path_prefixes.iter().map(String::as_str).collect()
        };
        let mut paths = Vec::new();
        for p in prefixes {
            for path in self.paths_under(p).await? {
                if !paths.contains(&path) {
                    paths.push(path);
                }
            }
        }
        tracing::debug!(mount = %self.vault.mount, secrets = paths.len(), "Vault listed");
        let mut reads = futures::stream::iter(paths)
            .map(|p| async move { self.credentials_of(vs, &p, exposure).await })
            .buffer_unordered(READ_CONCURRENCY);
        let mut failed = Vec::new();
        while let Some(got) = reads.next().await {
            match got {
                Ok(creds) if creds.is_empty() => {}
                Ok(creds) => {
                    if pages.send(creds).is_err() {
                        return Ok(());
                    }
                }
                Err(e) => failed.push(e),
            }
        }
        match failed.len() {
            0 => Ok(()),
            1 => Err(failed.remove(0)),
            n => Err(ProviderError::Incomplete {
                transient: failed.iter().all(ProviderError::is_retryable),
                sources: format!(
                    "{n} Vault secrets: {}",
                    failed
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            }),
        }
    }
}

/// A listed secret that could not be read: gone since it was listed (nothing), a
/// retryable failure (the error), anything else (listed as it is, with why).
fn unreadable(found: &Found<'_>, err: ProviderError) -> ProviderResult<Vec<Credential>> {
    match err {
        ProviderError::NotFound { .. } => Ok(Vec::new()),
        e if e.is_retryable() => Err(e),
        e => Ok(vec![found.credential(
            Issuer::Generic,
            None,
            None,
            "…".into(),
            None,
            Some(format!(
                "its value could not be read ({e}); check it by hand"
            )),
        )]),
    }
}

/// One secret found by the inventory.
struct Found<'a> {
    /// `mount/path`.
    name: String,
    exposure: &'a ExposureWindow,
}

impl Found<'_> {
    fn credential(
        &self,
        issuer: Issuer,
        field: Option<&str>,
        changed: Option<DateTime<Utc>>,
        hint: String,
        fingerprint: Option<String>,
        note: Option<String>,
    ) -> Credential {
        let location = Location {
            kind: LocationKind::Vault,
            name: self.name.clone(),
            field: field.map(str::to_string),
            region: None,
            account: None,
            changed,
        };
        let id = format!(
            "{}/vault/{}",
            issuer_slug(issuer),
            location.key().trim_start_matches("vault:")
        );
        let label = match field {
            Some(f) => format!("{}#{f}", self.name),
            None => self.name.clone(),
        };
        let (exposed, mut reason) =
            exposure_of(&format!("{VAULT} {label}"), changed, self.exposure);
        if let Some(n) = note {
            reason.push_str("; ");
            reason.push_str(&n);
        }
        let mut meta = BTreeMap::new();
        meta.insert("vault_path".to_string(), self.name.clone());
        if let Some(f) = field {
            meta.insert("field".to_string(), f.to_string());
        }
        Credential {
            id,
            issuer,
            key_id: String::new(),
            name: label,
            hint,
            created: None,
            last_used: None,
            locations: vec![location],
            exposed,
            exposure_reason: reason,
            fingerprint,
            meta,
        }
    }
}
