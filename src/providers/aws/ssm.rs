//! AWS Systems Manager Parameter Store: the inventory of keys held in parameters under the
//! scope's paths ([`SsmInventory`]) and the store that stages a new key as a parameter
//! version with breachbook's label, reads it back, promotes and replaces it ([`SsmStore`]).
//!
//! The API, as AWS documents it (SSM API Reference,
//! <https://docs.aws.amazon.com/systems-manager/latest/APIReference/>):
//! - `GetParametersByPath` (`Recursive`, `WithDecryption`, `MaxResults` at most 10) lists
//!   the parameters of a hierarchy with their values, `Version` and `LastModifiedDate`;
//! - `GetParameter` reads the latest version, or one named `name:version` or `name:label`;
//! - `PutParameter` with `Overwrite` writes a new version, which is the latest at once;
//! - `LabelParameterVersion`: "A version of a parameter can have a maximum of 10 labels",
//!   "You can't attach the same label to different versions of the same parameter", "You can
//!   move a label from one version of a parameter to another", "Labels can't begin with a
//!   number, aws or ssm"; breachbook's stage tokens (`breachbook-<tag>-<hash>`) fit;
//! - `GetParameterHistory` (`MaxResults` at most 50) lists every version kept (100 at most)
//!   with its labels.
//!
//! Parameter Store has no pending label that readers skip and no check-and-set: the version
//! written is what every reader of the latest gets. So a new key is written only after it
//! was minted (it is alive); the version gets the stage token as a label, so a retry after a
//! crash finds it (`name:token`) instead of writing another; a write that lands on top of
//! someone else's (the version number jumped) is composed again on theirs; promotion checks
//! that the latest version still holds the new key and moves the label
//! `breachbook-promoted` to it; an abandoned stage is undone by writing the values before it
//! back, only where nobody changed them since.
//!
//! Values are held in `SecretString`s; logs carry names and version numbers only.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::types::{Parameter, ParameterType};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use super::secrets::{
    SecretsManagerStore, exposure_of, field_of, parse_object, restore_field, wipe_map,
};
use super::{Aws, SSM, map_sdk_error, to_chrono, with_context};
use crate::incident::model::{
    Credential, Location, LocationKind, fingerprint as keyed_fingerprint, mask,
};
use crate::incident::ports::{
    Inventory, KeyIssuer, PendingCheck, PendingVersion, ProviderError, ProviderResult, SecretStore,
};
use crate::runbook::schema::{ExposureWindow, Issuer, Scope, SsmScope};

/// Parameters per GetParametersByPath page (the API's maximum).
const PAGE_SIZE: i32 = 10;
/// Versions per GetParameterHistory page (the API's maximum).
const HISTORY_PAGE: i32 = 50;
/// The label breachbook moves to the version it promoted.
pub const PROMOTED_LABEL: &str = "breachbook-promoted";
/// Writes tried again when another writer's version landed under breachbook's.
const WRITE_ATTEMPTS: usize = 3;
/// Versions looked back through for the value before a rotation.
const LOOK_BACK: i64 = 10;

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

fn err<E>(op: &str, name: &str, e: aws_sdk_ssm::error::SdkError<E>) -> ProviderError
where
    E: aws_sdk_ssm::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    with_context(map_sdk_error(SSM, op, e), name)
}

/// The regions of a scope: its own, else the AWS default region.
fn regions_of(aws: &Aws, scope: &SsmScope) -> Vec<String> {
    if scope.regions.is_empty() {
        vec![aws.default_region().to_string()]
    } else {
        scope.regions.clone()
    }
}

/// The last part of a parameter's name (`/prod/ai/OPENAI_API_KEY` → `OPENAI_API_KEY`).
fn leaf(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Lists the keys held in the SSM parameters under `scope.ssm.paths`, region by region.
///
/// Per region and path: GetParametersByPath, recursive, decrypted, 10 a page. A JSON value
/// holds one key per mapped field present; a plain value is one key when a mapping's `field`
/// is the last part of its name (or, with `fingerprint: true`, a generic key). Ids are
/// `{issuer}/ssm/{account}/{region}/{name}[#{field}]`. A key is exposed when its parameter's
/// latest version was written before the window began (`LastModifiedDate`).
pub struct SsmInventory {
    aws: Aws,
    fingerprint_key: Zeroizing<Vec<u8>>,
    identify: HashMap<Issuer, Arc<dyn KeyIssuer>>,
}

impl SsmInventory {
    pub fn new(aws: &Aws, fingerprint_key: &[u8]) -> Self {
        SsmInventory {
            aws: aws.clone(),
            fingerprint_key: Zeroizing::new(fingerprint_key.to_vec()),
            identify: HashMap::new(),
        }
    }

    /// Asks these issuers, for each key of theirs read, what they can tell of it from its
    /// value ([`KeyIssuer::identify`]).
    pub fn with_identify(mut self, issuers: HashMap<Issuer, Arc<dyn KeyIssuer>>) -> Self {
        self.identify = issuers;
        self
    }

    async fn discover_region(
        &self,
        region: &str,
        scope: &SsmScope,
        exposure: &ExposureWindow,
        pages: &mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let client = self.aws.ssm(Some(region));
        let mut seen = std::collections::BTreeSet::new();
        for path in &scope.paths {
            // The hierarchy as AWS writes it: `/prod/ai`, no slash at the end (`/` alone for
            // the top).
            let trimmed = path.trim().trim_end_matches('/');
            let path = if trimmed.is_empty() { "/" } else { trimmed };
            let mut stream = client
                .get_parameters_by_path()
                .path(path)
                .recursive(true)
                .with_decryption(true)
                .max_results(PAGE_SIZE)
                .into_paginator()
                .send();
            while let Some(page) = stream.next().await {
                let mut page = page.map_err(|e| err("GetParametersByPath", region, e))?;
                let mut creds = Vec::new();
                for p in page.parameters.take().unwrap_or_default() {
                    let name = p.name().unwrap_or_default().to_string();
                    if !seen.insert(name.clone()) {
                        continue;
                    }
                    creds.extend(self.keys_in(region, scope, exposure, p).await);
                }
                if !creds.is_empty() && pages.send(creds).is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The credentials one listed parameter holds (its value taken out of `p`).
    async fn keys_in(
        &self,
        region: &str,
        scope: &SsmScope,
        exposure: &ExposureWindow,
        mut p: Parameter,
    ) -> Vec<Credential> {
        let name = p.name().unwrap_or_default().to_string();
        let found = Found {
            name: &name,
            region,
            account: self.aws.account(),
            multi_region: scope.regions.len() > 1,
            exposure,
            kind: p
                .r#type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
        };
        let changed = p.last_modified_date().and_then(to_chrono);
        let Some(value) = p.value.take().map(SecretString::from) else {
            return Vec::new();
        };
        drop(p);
        let fp = |v: &str| keyed_fingerprint(&self.fingerprint_key, v);
        let mut creds = Vec::new();
        match parse_object(&value) {
            Some(mut doc) => {
                for m in &scope.fields {
                    if let Some(Value::String(v)) = doc.get(&m.field)
                        && !v.is_empty()
                    {
                        creds.push(found.credential(
                            m.issuer,
                            Some(&m.field),
                            changed,
                            mask(v),
                            Some(fp(v)),
                        ));
                    }
                }
                wipe_map(&mut doc);
            }
            None => {
                let text = value.expose_secret();
                let mapped = scope.fields.iter().find(|m| m.field == leaf(&name));
                if !text.is_empty() && (mapped.is_some() || scope.fingerprint) {
                    let issuer = mapped.map_or(Issuer::Generic, |m| m.issuer);
                    creds.push(found.credential(issuer, None, changed, mask(text), Some(fp(text))));
                }
            }
        }
        for c in creds.iter_mut() {
            let Some(issuer) = self.identify.get(&c.issuer) else {
                continue;
            };
            let key = match c.meta.get("field") {
                Some(f) => field_of(&value, f),
                None => Some(value.clone()),
            };
            if let Some(key) = key
                && let Err(e) = issuer.identify(c, &key).await
            {
                c.exposure_reason.push_str(&format!(
                    "; {} could not tell which key this is ({e})",
                    c.issuer.label()
                ));
            }
        }
        creds
    }
}

#[async_trait]
impl Inventory for SsmInventory {
    async fn discover(
        &self,
        scope: &Scope,
        exposure: &ExposureWindow,
        pages: mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let Some(ssm) = &scope.ssm else {
            return Ok(());
        };
        let regions = regions_of(&self.aws, ssm);
        let results = futures::future::join_all(
            regions
                .iter()
                .map(|r| self.discover_region(r, ssm, exposure, &pages)),
        )
        .await;
        let failed: Vec<ProviderError> = results.into_iter().filter_map(Result::err).collect();
        super::secrets::combine(failed).map_or(Ok(()), Err)
    }
}

/// One parameter found by the inventory.
struct Found<'a> {
    name: &'a str,
    region: &'a str,
    account: Option<&'a str>,
    multi_region: bool,
    exposure: &'a ExposureWindow,
    /// `SecureString`, `String`…
    kind: String,
}

impl Found<'_> {
    fn credential(
        &self,
        issuer: Issuer,
        field: Option<&str>,
        changed: Option<DateTime<Utc>>,
        hint: String,
        fingerprint: Option<String>,
    ) -> Credential {
        let location = Location {
            kind: LocationKind::Ssm,
            name: self.name.to_string(),
            field: field.map(str::to_string),
            region: Some(self.region.to_string()),
            account: self.account.map(str::to_string),
            changed,
        };
        let id = format!(
            "{}/ssm/{}",
            issuer_slug(issuer),
            location.key().trim_start_matches("ssm:")
        );
        let mut label = match field {
            Some(f) => format!("{}#{f}", self.name),
            None => self.name.to_string(),
        };
        let place = label.clone();
        if self.multi_region {
            label = format!("{label} ({})", self.region);
        }
        let (exposed, mut reason) = exposure_of(
            &format!("SSM Parameter Store {place} ({})", self.region),
            changed,
            self.exposure,
        );
        if self.kind == "String" {
            reason.push_str(
                "; a String parameter, not a SecureString: the key was stored unencrypted",
            );
        }
        let mut meta = BTreeMap::new();
        meta.insert("parameter".to_string(), self.name.to_string());
        meta.insert("region".to_string(), self.region.to_string());
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

/// One version of a parameter as read.
struct Read {
    value: SecretString,
    version: i64,
    kind: Option<ParameterType>,
    changed: Option<DateTime<Utc>>,
}

/// Stages, reads back, promotes and replaces values in SSM parameters (see the module's
/// words on how, without check-and-set or a pending label).
pub struct SsmStore {
    aws: Aws,
}

impl SsmStore {
    pub fn new(aws: &Aws) -> Self {
        SsmStore { aws: aws.clone() }
    }

    fn client(&self, loc: &Location) -> Client {
        self.aws.ssm(loc.region.as_deref())
    }

    /// `name` (the latest), `name:VERSION` or `name:LABEL`.
    async fn read(
        &self,
        client: &Client,
        name: &str,
        selector: Option<&str>,
    ) -> ProviderResult<Read> {
        let id = match selector {
            Some(s) => format!("{name}:{s}"),
            None => name.to_string(),
        };
        let mut out = client
            .get_parameter()
            .name(&id)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| err("GetParameter", &id, e))?;
        let mut p = out
            .parameter
            .take()
            .ok_or_else(|| ProviderError::NotFound {
                provider: SSM.into(),
                what: format!("parameter {id}"),
            })?;
        Ok(Read {
            value: SecretString::from(p.value.take().unwrap_or_default()),
            version: p.version(),
            kind: p.r#type().cloned(),
            changed: p.last_modified_date().and_then(to_chrono),
        })
    }

    /// Every version kept, oldest first: (version, labels).
    async fn history(
        &self,
        client: &Client,
        name: &str,
    ) -> ProviderResult<Vec<(i64, Vec<String>, Option<DateTime<Utc>>)>> {
        let mut out = Vec::new();
        let mut stream = client
            .get_parameter_history()
            .name(name)
            .with_decryption(false)
            .max_results(HISTORY_PAGE)
            .into_paginator()
            .send();
        while let Some(page) = stream.next().await {
            let page = page.map_err(|e| err("GetParameterHistory", name, e))?;
            for h in page.parameters() {
                out.push((
                    h.version(),
                    h.labels().to_vec(),
                    h.last_modified_date().and_then(to_chrono),
                ));
            }
        }
        out.sort_by_key(|h| h.0);
        Ok(out)
    }

    /// Writes `value` as a new version; returns its number.
    async fn put(
        &self,
        client: &Client,
        name: &str,
        value: &SecretString,
        kind: Option<&ParameterType>,
    ) -> ProviderResult<i64> {
        let mut req = client
            .put_parameter()
            .name(name)
            .value(value.expose_secret())
            .overwrite(true);
        if let Some(k) = kind {
            req = req.r#type(k.clone());
        }
        let out = req.send().await.map_err(|e| err("PutParameter", name, e))?;
        Ok(out.version())
    }

    async fn label(
        &self,
        client: &Client,
        name: &str,
        version: i64,
        label: &str,
    ) -> ProviderResult<()> {
        let out = client
            .label_parameter_version()
            .name(name)
            .parameter_version(version)
            .labels(label)
            .send()
            .await
            .map_err(|e| err("LabelParameterVersion", name, e))?;
        if !out.invalid_labels().is_empty() {
            return Err(ProviderError::Validation {
                provider: SSM.into(),
                message: format!("{name}: the label {label} was refused"),
            });
        }
        Ok(())
    }

    fn value_at(loc: &Location, doc: &SecretString) -> Option<SecretString> {
        match &loc.field {
            Some(f) => field_of(doc, f),
            None => Some(doc.clone()),
        }
    }

    fn compose(
        loc: &Location,
        doc: &SecretString,
        value: &SecretString,
    ) -> ProviderResult<SecretString> {
        SecretsManagerStore::compose(loc, Some(doc), value).map_err(|e| match e {
            ProviderError::Validation { message, .. } => ProviderError::Validation {
                provider: SSM.into(),
                message,
            },
            other => other,
        })
    }

    fn same(a: Option<SecretString>, b: Option<SecretString>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => a.expose_secret() == b.expose_secret(),
            (None, None) => true,
            _ => false,
        }
    }
}

/// The version id breachbook journals: `<token>@<version>`.
fn version_id(token: &str, n: i64) -> String {
    format!("{token}@{n}")
}

fn version_number(id: &str) -> ProviderResult<i64> {
    let n = id.rsplit_once('@').map_or(id, |(_, n)| n);
    n.parse::<i64>().map_err(|_| ProviderError::Validation {
        provider: SSM.into(),
        message: format!("{id} is not a parameter version (expected <token>@<number>)"),
    })
}

#[async_trait]
impl SecretStore for SsmStore {
    async fn stage(
        &self,
        loc: &Location,
        value: &SecretString,
        token: &str,
    ) -> ProviderResult<String> {
        let set = [(loc.clone(), value.clone())];
        self.stage_version(loc, None, &set, &[], token).await
    }

    /// breachbook's staged version: the latest version, when it carries a stage token's
    /// label and not [`PROMOTED_LABEL`]. Parameter Store has no rotation of its own.
    async fn inspect(&self, secret: &Location) -> ProviderResult<PendingCheck> {
        let client = self.client(secret);
        let history = self.history(&client, &secret.name).await?;
        let pending = history.last().and_then(|(v, labels, at)| {
            if labels.iter().any(|l| l == PROMOTED_LABEL) {
                return None;
            }
            labels
                .iter()
                .find(|l| l.starts_with("breachbook-"))
                .map(|l| PendingVersion {
                    version: version_id(l, *v),
                    created: *at,
                })
        });
        Ok(PendingCheck {
            pending,
            ..PendingCheck::default()
        })
    }

    /// One new version with `set` on top of the latest one; the fields of `restore` back to
    /// the version before `base` (breachbook's earlier staged version). Labelled `token`: a
    /// retry finds it by that label; a version already holding the new values (a crash
    /// between the write and its label) is labelled, not written again.
    async fn stage_version(
        &self,
        secret: &Location,
        base: Option<&str>,
        set: &[(Location, SecretString)],
        restore: &[Location],
        token: &str,
    ) -> ProviderResult<String> {
        let client = self.client(secret);
        let name = secret.name.as_str();
        let holds = |doc: &SecretString| {
            set.iter()
                .all(|(l, v)| SecretsManagerStore::holds(l, doc, v))
        };
        match self.read(&client, name, Some(token)).await {
            Ok(existing) => {
                return if holds(&existing.value) {
                    Ok(version_id(token, existing.version))
                } else {
                    Err(ProviderError::Validation {
                        provider: SSM.into(),
                        message: format!(
                            "{name}: version {} already holds other values; use one token per set of new keys",
                            existing.version
                        ),
                    })
                };
            }
            Err(ProviderError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut latest = self.read(&client, name, None).await?;
        if !set.is_empty() && holds(&latest.value) {
            // Written before a crash, not labelled yet: the new key is breachbook's alone.
            self.label(&client, name, latest.version, token).await?;
            return Ok(version_id(token, latest.version));
        }
        let before = match (restore.is_empty(), base) {
            (true, _) => None,
            (false, Some(b)) => Some(
                self.read(&client, name, Some(&(version_number(b)? - 1).to_string()))
                    .await?,
            ),
            (false, None) => Some(self.read(&client, name, None).await?),
        };
        for _ in 0..WRITE_ATTEMPTS {
            let mut doc = latest.value.clone();
            if let Some(before) = &before {
                for loc in restore {
                    doc = restore_field(loc, &doc, &before.value)?;
                }
            }
            for (loc, value) in set {
                doc = Self::compose(loc, &doc, value)?;
            }
            let n = self.put(&client, name, &doc, latest.kind.as_ref()).await?;
            if n == latest.version + 1 {
                self.label(&client, name, n, token).await?;
                tracing::info!(
                    parameter = name,
                    version = n,
                    keys = set.len(),
                    "staged as a new version"
                );
                return Ok(version_id(token, n));
            }
            // Someone's version landed between the read and the write: compose again on it.
            tracing::info!(
                parameter = name,
                wrote = n,
                read = latest.version,
                "another writer wrote meanwhile; composing again"
            );
            latest = self.read(&client, name, Some(&(n - 1).to_string())).await?;
        }
        Err(ProviderError::Validation {
            provider: SSM.into(),
            message: format!(
                "{name}: the parameter changed under breachbook {WRITE_ATTEMPTS} times while it staged; try again when its other writers are quiet"
            ),
        })
    }

    async fn read_version(&self, loc: &Location, version: &str) -> ProviderResult<SecretString> {
        let n = version_number(version)?;
        let got = self
            .read(&self.client(loc), &loc.name, Some(&n.to_string()))
            .await?;
        Self::value_at(loc, &got.value).ok_or_else(|| ProviderError::NotFound {
            provider: SSM.into(),
            what: format!("{} in version {n}", loc.label()),
        })
    }

    async fn read_old(&self, loc: &Location, new_version: &str) -> ProviderResult<SecretString> {
        let n = version_number(new_version)?;
        let client = self.client(loc);
        let new = self.read_version(loc, new_version).await?;
        for v in (1.max(n - LOOK_BACK)..n).rev() {
            let got = match self.read(&client, &loc.name, Some(&v.to_string())).await {
                Ok(g) => g,
                Err(ProviderError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            if let Some(old) = Self::value_at(loc, &got.value)
                && old.expose_secret() != new.expose_secret()
            {
                return Ok(old);
            }
        }
        Err(ProviderError::NotFound {
            provider: SSM.into(),
            what: format!("the value before the rotation in {}", loc.label()),
        })
    }

    async fn promote(&self, loc: &Location, version: &str) -> ProviderResult<DateTime<Utc>> {
        self.promote_version(std::slice::from_ref(loc), version)
            .await
    }

    /// The staged version is already the latest: checks the latest still holds the staged
    /// values at `locs` and moves [`PROMOTED_LABEL`] to it. Returns when it was written.
    async fn promote_version(
        &self,
        locs: &[Location],
        version: &str,
    ) -> ProviderResult<DateTime<Utc>> {
        let Some(first) = locs.first() else {
            return Err(ProviderError::Validation {
                provider: SSM.into(),
                message: "nothing to promote".into(),
            });
        };
        let client = self.client(first);
        let name = first.name.as_str();
        let n = version_number(version)?;
        let staged = self.read(&client, name, Some(&n.to_string())).await?;
        let latest = self.read(&client, name, None).await?;
        for loc in locs {
            if !Self::same(
                Self::value_at(loc, &staged.value),
                Self::value_at(loc, &latest.value),
            ) {
                return Err(ProviderError::Validation {
                    provider: SSM.into(),
                    message: format!(
                        "{}: version {} replaced the key breachbook staged in version {n}; look at the parameter's history, then stage again",
                        loc.label(),
                        latest.version
                    ),
                });
            }
        }
        self.label(&client, name, latest.version, PROMOTED_LABEL)
            .await?;
        tracing::info!(parameter = name, version = latest.version, "promoted");
        Ok(latest.changed.unwrap_or_else(Utc::now))
    }

    /// Undoes breachbook's staged `version` while its label is on it: each field it changed
    /// that still holds its value goes back to the version before, as a new version; fields
    /// others changed since stay. Then its label comes off.
    async fn unstage(&self, secret: &Location, version: &str) -> ProviderResult<()> {
        let client = self.client(secret);
        let name = secret.name.as_str();
        let n = version_number(version)?;
        let Some((token, _)) = version.rsplit_once('@') else {
            return Ok(());
        };
        let history = self.history(&client, name).await?;
        if !history
            .iter()
            .any(|(v, labels, _)| *v == n && labels.iter().any(|l| l == token))
        {
            return Ok(());
        }
        let mine = self.read(&client, name, Some(&n.to_string())).await?;
        let before = self.read(&client, name, Some(&(n - 1).to_string())).await?;
        let latest = self.read(&client, name, None).await?;
        let mut doc = latest.value.clone();
        let mut changed = false;
        match (parse_object(&mine.value), parse_object(&before.value)) {
            (Some(mut m), Some(mut b)) => {
                let fields: Vec<String> = m.keys().chain(b.keys()).cloned().collect();
                for f in fields {
                    let loc = Location {
                        field: Some(f.clone()),
                        ..secret.clone()
                    };
                    let (vm, vb, vl) = (
                        field_of(&mine.value, &f),
                        field_of(&before.value, &f),
                        field_of(&latest.value, &f),
                    );
                    if !Self::same(vm.clone(), vb) && Self::same(vm, vl) {
                        doc = restore_field(&loc, &doc, &before.value)?;
                        changed = true;
                    }
                }
                wipe_map(&mut m);
                wipe_map(&mut b);
            }
            (m, b) => {
                for mut x in [m, b].into_iter().flatten() {
                    wipe_map(&mut x);
                }
                if latest.value.expose_secret() == mine.value.expose_secret() {
                    doc = before.value.clone();
                    changed = true;
                }
            }
        }
        if changed {
            let w = self.put(&client, name, &doc, latest.kind.as_ref()).await?;
            tracing::info!(
                parameter = name,
                version = w,
                undone = n,
                "wrote the earlier values back"
            );
        }
        client
            .unlabel_parameter_version()
            .name(name)
            .parameter_version(n)
            .labels(token)
            .send()
            .await
            .map_err(|e| err("UnlabelParameterVersion", name, e))?;
        Ok(())
    }

    /// A new version with `value` at `loc`, unless the latest already holds it.
    async fn replace(&self, loc: &Location, value: &SecretString) -> ProviderResult<DateTime<Utc>> {
        let client = self.client(loc);
        let name = loc.name.as_str();
        let latest = self.read(&client, name, None).await?;
        if SecretsManagerStore::holds(loc, &latest.value, value) {
            return Ok(latest.changed.unwrap_or_else(Utc::now));
        }
        let doc = Self::compose(loc, &latest.value, value)?;
        let n = self.put(&client, name, &doc, latest.kind.as_ref()).await?;
        let after = self.read(&client, name, Some(&n.to_string())).await?;
        tracing::info!(parameter = name, version = n, "replaced the latest value");
        Ok(after.changed.unwrap_or_else(Utc::now))
    }
}
