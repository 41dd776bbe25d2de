//! The Vault KV v2 store: a new key is staged as a new version written with check-and-set,
//! so a concurrent writer is never overwritten, with breachbook's record of it in the
//! secret's `custom_metadata` (see `super`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{
    Doc, PENDING_KEY, PROMOTED_KEY, Pending, Read, VAULT, Vault, WriteError, version_id,
    version_number,
};
use crate::incident::model::Location;
use crate::incident::ports::{
    PendingCheck, PendingVersion, ProviderError, ProviderResult, SecretStore,
};

/// Writes tried again after a check-and-set refusal (someone wrote in between).
const CAS_ATTEMPTS: usize = 3;
/// Versions looked back through for the value before a rotation.
const LOOK_BACK: u64 = 10;

/// Stages, reads back, promotes and replaces values in Vault KV v2 secrets of one mount.
///
/// A location with a `field` is that field of the secret; one without holds the whole
/// document (the new value, a JSON object, is written over the current fields).
///
/// Staging writes a new version with `cas` = the version it was composed on, after an
/// intent (`breachbook_pending`: token, origin, base) is put in the secret's
/// `custom_metadata`, and the version written is added to it after: a retry after a crash
/// between the two finds its version (`base + 1` holding the new values) instead of
/// writing another. Because Vault has no labels, the staged version is the latest at once:
/// promoting it checks that the new values are still the latest ones and records the
/// promotion (`breachbook_promoted`); a staged version abandoned is undone by writing the
/// values before it back, only in the fields nobody changed since.
pub struct VaultStore {
    vault: Vault,
}

impl VaultStore {
    pub(crate) fn new(vault: Vault) -> VaultStore {
        VaultStore { vault }
    }

    /// The store of the KV v2 engine at `mount` of the server `config` names.
    pub fn connect(config: &super::VaultConfig, mount: &str) -> ProviderResult<VaultStore> {
        let client = crate::providers::http::client()?;
        Ok(VaultStore::new(Vault::new(client, config, mount)))
    }

    fn path<'a>(&self, loc: &'a Location) -> &'a str {
        self.vault.path_of(&loc.name)
    }

    /// The value `loc` names in a document.
    fn value_in(loc: &Location, doc: &Doc) -> Option<SecretString> {
        match &loc.field {
            Some(f) => doc.field(f),
            None => Some(doc.to_secret()),
        }
    }

    /// Whether `doc` already holds `value` where `loc` says.
    fn holds(loc: &Location, doc: &Doc, value: &SecretString) -> bool {
        match &loc.field {
            Some(f) => doc
                .field(f)
                .is_some_and(|v| v.expose_secret() == value.expose_secret()),
            None => match serde_json::from_str::<serde_json::Value>(value.expose_secret()) {
                Ok(serde_json::Value::Object(m)) => {
                    let all = m.iter().all(|(k, v)| doc.0.get(k) == Some(v));
                    drop(Doc(m));
                    all
                }
                _ => false,
            },
        }
    }

    /// `value` written into `doc` where `loc` says.
    fn compose(loc: &Location, doc: &mut Doc, value: &SecretString) -> ProviderResult<()> {
        match &loc.field {
            Some(f) => {
                doc.set(f, value);
                Ok(())
            }
            None => match serde_json::from_str::<serde_json::Value>(value.expose_secret()) {
                Ok(serde_json::Value::Object(mut m)) => {
                    for (k, v) in std::mem::take(&mut m) {
                        if let Some(mut old) = doc.0.insert(k, v) {
                            super::wipe(&mut old);
                        }
                    }
                    Ok(())
                }
                _ => Err(ProviderError::Validation {
                    provider: VAULT.into(),
                    message: format!(
                        "{}: a Vault secret holds fields; map the key to one (`fields:` in the runbook's vault scope)",
                        loc.name
                    ),
                }),
            },
        }
    }

    async fn read(&self, path: &str, version: Option<u64>) -> ProviderResult<Read> {
        self.vault.read(path, version).await
    }

    /// The secret must exist: breachbook rotates keys that are stored, it does not create
    /// secrets.
    async fn metadata(&self, loc: &Location) -> ProviderResult<super::Metadata> {
        self.vault.metadata(self.path(loc)).await
    }

    fn conflict(loc: &Location, what: String) -> ProviderError {
        ProviderError::Validation {
            provider: VAULT.into(),
            message: format!("{}: {what}", loc.label()),
        }
    }
}

#[async_trait]
impl SecretStore for VaultStore {
    async fn stage(
        &self,
        loc: &Location,
        value: &SecretString,
        token: &str,
    ) -> ProviderResult<String> {
        let set = [(loc.clone(), value.clone())];
        self.stage_version(loc, None, &set, &[], token).await
    }

    /// breachbook's staged version from `custom_metadata`, while it is still the latest
    /// (or its write's answer never came: then named by the token alone, which says whose
    /// it is). Vault has no rotation of its own to report.
    async fn inspect(&self, secret: &Location) -> ProviderResult<PendingCheck> {
        let meta = self.metadata(secret).await?;
        let pending = meta.pending().and_then(|p| match p.version {
            Some(n) if n == meta.current_version => Some(PendingVersion {
                version: version_id(&p.token, n),
                created: meta.created(n),
            }),
            Some(_) => None,
            None => Some(PendingVersion {
                version: p.token.clone(),
                created: None,
            }),
        });
        Ok(PendingCheck {
            pending,
            ..PendingCheck::default()
        })
    }

    /// One new version holding `set` on top of the latest version (`base`, breachbook's
    /// earlier staged version, is normally the latest: if someone replaced a key breachbook
    /// staged there since, the stage is refused rather than undoing their write), with the
    /// fields of `restore` set back to the values before breachbook's rotation began.
    async fn stage_version(
        &self,
        secret: &Location,
        base: Option<&str>,
        set: &[(Location, SecretString)],
        restore: &[Location],
        token: &str,
    ) -> ProviderResult<String> {
        let path = self.path(secret);
        for _ in 0..CAS_ATTEMPTS {
            let meta = self.metadata(secret).await?;
            let current = meta.current_version;
            let record = meta.pending();
            // A retry: the version this token wrote, journaled in the record or not.
            if let Some(r) = record.as_ref().filter(|r| r.token == token) {
                let written = match r.version {
                    Some(n) => Some(n),
                    None if current > r.base => Some(r.base + 1),
                    None => None,
                };
                if let Some(n) = written {
                    let got = self.read(path, Some(n)).await?;
                    if set.iter().all(|(l, v)| Self::holds(l, &got.doc, v)) {
                        if r.version.is_none() {
                            let done = Pending {
                                version: Some(n),
                                ..r.clone()
                            };
                            self.vault
                                .patch_custom(path, &[(PENDING_KEY, Some(done.render()))])
                                .await?;
                        }
                        tracing::debug!(path, version = n, "already staged");
                        return Ok(version_id(token, n));
                    }
                    if r.version.is_some() {
                        return Err(Self::conflict(
                            secret,
                            format!(
                                "version {n} already holds other values; use one token per set of new keys"
                            ),
                        ));
                    }
                }
            }
            // The values before breachbook's rotation: kept from its earlier stage of this
            // rotation (`base`), else the current version's.
            let earlier = record
                .as_ref()
                .filter(|r| base.is_some_and(|b| r.id().as_deref() == Some(b)));
            let origin = earlier.map_or(current, |r| r.origin);
            let latest = self.read(path, None).await?;
            if let (Some(b), Some(r)) = (base, earlier) {
                // Someone wrote since breachbook's staged version: their fields stay, unless
                // they replaced a key breachbook staged there.
                let n = version_number(b)?;
                if latest.version != n {
                    let mine = self.read(path, Some(n)).await?;
                    let before = self.read(path, Some(r.origin)).await?;
                    let overwritten = mine.doc.0.keys().any(|f| {
                        !mine.doc.same_field(&before.doc, f) && !mine.doc.same_field(&latest.doc, f)
                    });
                    if overwritten {
                        return Err(Self::conflict(
                            secret,
                            format!(
                                "a key breachbook staged in version {n} was replaced by version {} since; look at the secret's versions, then stage again",
                                latest.version
                            ),
                        ));
                    }
                }
            }
            let mut doc = latest.doc.copy();
            if !restore.is_empty() {
                let before = self.read(path, Some(origin)).await?;
                for loc in restore {
                    match &loc.field {
                        Some(f) => doc.set_from(f, &before.doc),
                        None => doc = before.doc.copy(),
                    }
                }
            }
            for (loc, value) in set {
                Self::compose(loc, &mut doc, value)?;
            }
            let mut intent = Pending {
                token: token.to_string(),
                origin,
                base: latest.version,
                version: None,
            };
            self.vault
                .patch_custom(path, &[(PENDING_KEY, Some(intent.render()))])
                .await?;
            match self.vault.write(path, latest.version, &doc).await {
                Ok((n, _)) => {
                    intent.version = Some(n);
                    self.vault
                        .patch_custom(path, &[(PENDING_KEY, Some(intent.render()))])
                        .await?;
                    tracing::info!(
                        path,
                        version = n,
                        keys = set.len(),
                        "staged as a new version"
                    );
                    return Ok(version_id(token, n));
                }
                Err(WriteError::Cas) => {
                    tracing::info!(
                        path,
                        cas = latest.version,
                        "someone wrote first; composing again"
                    );
                    continue;
                }
                Err(WriteError::Other(e)) => return Err(e),
            }
        }
        Err(Self::conflict(
            secret,
            format!(
                "the secret changed under breachbook {CAS_ATTEMPTS} times while it staged; try again when its other writers are quiet"
            ),
        ))
    }

    async fn read_version(&self, loc: &Location, version: &str) -> ProviderResult<SecretString> {
        let n = version_number(version)?;
        let got = self.read(self.path(loc), Some(n)).await?;
        Self::value_in(loc, &got.doc).ok_or_else(|| ProviderError::NotFound {
            provider: VAULT.into(),
            what: format!("{} in version {n}", loc.label()),
        })
    }

    async fn read_fields(
        &self,
        locs: &[Location],
        version: &str,
    ) -> ProviderResult<Vec<SecretString>> {
        let Some(first) = locs.first() else {
            return Ok(Vec::new());
        };
        let n = version_number(version)?;
        let got = self.read(self.path(first), Some(n)).await?;
        locs.iter()
            .map(|loc| {
                Self::value_in(loc, &got.doc).ok_or_else(|| ProviderError::NotFound {
                    provider: VAULT.into(),
                    what: format!("{} in version {n}", loc.label()),
                })
            })
            .collect()
    }

    /// The newest earlier version (still readable, within `LOOK_BACK`) whose value at
    /// `loc` differs from `new_version`'s.
    async fn read_old(&self, loc: &Location, new_version: &str) -> ProviderResult<SecretString> {
        let n = version_number(new_version)?;
        let path = self.path(loc);
        let new = self.read_version(loc, new_version).await?;
        let meta = self.metadata(loc).await?;
        let floor = meta.oldest_version.max(1).max(n.saturating_sub(LOOK_BACK));
        for v in (floor..n).rev() {
            if !meta.readable(v) {
                continue;
            }
            let got = match self.read(path, Some(v)).await {
                Ok(g) => g,
                Err(ProviderError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            if let Some(old) = Self::value_in(loc, &got.doc)
                && old.expose_secret() != new.expose_secret()
            {
                return Ok(old);
            }
        }
        Err(ProviderError::NotFound {
            provider: VAULT.into(),
            what: format!("the value before the rotation in {}", loc.label()),
        })
    }

    async fn promote(&self, loc: &Location, version: &str) -> ProviderResult<DateTime<Utc>> {
        self.promote_version(std::slice::from_ref(loc), version)
            .await
    }

    /// The staged version is already the latest (Vault has no labels): this checks that the
    /// latest version still holds the staged values at `locs` (another writer may have
    /// changed other fields since, which stay), takes breachbook's pending record off and
    /// records the promotion. Returns when the latest version was written.
    async fn promote_version(
        &self,
        locs: &[Location],
        version: &str,
    ) -> ProviderResult<DateTime<Utc>> {
        let Some(first) = locs.first() else {
            return Err(ProviderError::Validation {
                provider: VAULT.into(),
                message: "nothing to promote".into(),
            });
        };
        let path = self.path(first);
        let n = version_number(version)?;
        let staged = self.read(path, Some(n)).await?;
        let latest = self.read(path, None).await?;
        for loc in locs {
            let same = match &loc.field {
                Some(f) => staged.doc.same_field(&latest.doc, f),
                None => staged.doc.0 == latest.doc.0,
            };
            if !same {
                return Err(Self::conflict(
                    loc,
                    format!(
                        "version {} replaced the key breachbook staged in version {n}; look at the secret's versions, then stage again",
                        latest.version
                    ),
                ));
            }
        }
        let meta = self.metadata(first).await?;
        let mine = meta
            .pending()
            .is_some_and(|p| p.version == Some(n) || p.id().as_deref() == Some(version));
        let at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        let mut changes = vec![(PROMOTED_KEY, Some(format!("{version} at {at}")))];
        if mine {
            changes.push((PENDING_KEY, None));
        }
        self.vault.patch_custom(path, &changes).await?;
        tracing::info!(path, version = n, latest = latest.version, "promoted");
        Ok(latest
            .created
            .or(meta.created(meta.current_version))
            .unwrap_or_else(chrono::Utc::now))
    }

    /// Undoes breachbook's staged `version` while its record is there: each field it
    /// changed that still holds its value goes back to the value before the rotation, as a
    /// new version (check-and-set); fields others changed since stay. Then the record goes.
    async fn unstage(&self, secret: &Location, version: &str) -> ProviderResult<()> {
        let path = self.path(secret);
        let n = version_number(version)?;
        for _ in 0..CAS_ATTEMPTS {
            let meta = self.metadata(secret).await?;
            let Some(record) = meta.pending().filter(|p| p.version == Some(n)) else {
                return Ok(());
            };
            let mine = self.read(path, Some(n)).await?;
            let before = self.read(path, Some(record.origin)).await?;
            let latest = self.read(path, None).await?;
            let mut doc = latest.doc.copy();
            let mut changed = false;
            let fields: Vec<String> = mine
                .doc
                .0
                .keys()
                .chain(before.doc.0.keys())
                .cloned()
                .collect();
            for f in fields {
                if !mine.doc.same_field(&before.doc, &f) && mine.doc.same_field(&latest.doc, &f) {
                    doc.set_from(&f, &before.doc);
                    changed = true;
                }
            }
            if changed {
                match self.vault.write(path, latest.version, &doc).await {
                    Ok((w, _)) => {
                        tracing::info!(
                            path,
                            version = w,
                            undone = n,
                            "wrote the earlier values back"
                        );
                    }
                    Err(WriteError::Cas) => continue,
                    Err(WriteError::Other(e)) => return Err(e),
                }
            }
            self.vault
                .patch_custom(path, &[(PENDING_KEY, None)])
                .await?;
            return Ok(());
        }
        Err(Self::conflict(
            secret,
            format!(
                "the secret changed under breachbook {CAS_ATTEMPTS} times while it undid version {n}; try again"
            ),
        ))
    }

    /// A new version with `value` at `loc` (check-and-set on the latest), unless the latest
    /// already holds it. Returns when the latest version was written.
    async fn replace(&self, loc: &Location, value: &SecretString) -> ProviderResult<DateTime<Utc>> {
        let path = self.path(loc);
        for _ in 0..CAS_ATTEMPTS {
            let latest = self.read(path, None).await?;
            if Self::holds(loc, &latest.doc, value) {
                return Ok(latest.created.unwrap_or_else(chrono::Utc::now));
            }
            let mut doc = latest.doc.copy();
            Self::compose(loc, &mut doc, value)?;
            match self.vault.write(path, latest.version, &doc).await {
                Ok((n, at)) => {
                    tracing::info!(path, version = n, "replaced the latest value");
                    return Ok(at.unwrap_or_else(chrono::Utc::now));
                }
                Err(WriteError::Cas) => continue,
                Err(WriteError::Other(e)) => return Err(e),
            }
        }
        Err(Self::conflict(
            loc,
            format!(
                "the secret changed under breachbook {CAS_ATTEMPTS} times while it wrote; try again"
            ),
        ))
    }
}
