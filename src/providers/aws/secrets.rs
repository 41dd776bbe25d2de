//! AWS Secrets Manager: the inventory of keys stored in secrets ([`SecretsManagerInventory`])
//! and the store that stages, reads back, promotes and replaces values
//! ([`SecretsManagerStore`]).
//!
//! Values are read only to find which keys a secret holds (masked hint and keyed
//! fingerprint) and to edit one field of a JSON document; they are held in
//! [`SecretString`]s and parsed documents are wiped before they are dropped. Logs carry
//! secret names and version ids only.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SecretListEntry};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use zeroize::{Zeroize, Zeroizing};

use super::{Aws, SECRETS_MANAGER, map_sdk_error, to_chrono, with_context};
use crate::incident::model::{
    Credential, Location, LocationKind, fingerprint as keyed_fingerprint, mask,
};
use crate::incident::ports::{Inventory, ProviderError, ProviderResult, SecretStore};
use crate::runbook::schema::{ExposureWindow, Issuer, Scope, SecretsManagerScope};

/// Staging label of the version in use.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// Staging label of a version waiting to become current.
pub const AWSPENDING: &str = "AWSPENDING";
/// The label Secrets Manager moves to the version that was current before a promotion.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";

/// Staging label of a rebased document between its write and its promotion (see
/// [`SecretsManagerStore`]'s `promote`).
const REBASED: &str = "BREACHBOOK_REBASED";
/// Secrets per ListSecrets page (the API's maximum).
const PAGE_SIZE: i32 = 100;
/// GetSecretValue calls in flight per region while listing.
const DEFAULT_READ_CONCURRENCY: usize = 8;
/// Values per ListSecrets filter (the API's maximum).
const MAX_FILTER_VALUES: usize = 10;

/// The slug of an issuer in credential ids (as the drill world spells it).
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

/// Lists the keys held in the Secrets Manager secrets of `scope.secrets_manager`.
///
/// Per region (regions run concurrently): ListSecrets, 100 per page, filtered by name
/// prefix and tags on the server and again on the client; every page of credentials is
/// sent as soon as its secrets are read. With `fields` mappings (or `fingerprint: true`)
/// each secret's AWSCURRENT value is read: every mapped JSON field present becomes one
/// credential of the mapping's issuer (id `{issuer}/{secret}#{field}`), a plain-text
/// secret one `generic/{secret}` credential. Without either, every secret is listed as a
/// generic credential without reading its value. A JSON key pair (`AccessKeyId` and
/// `SecretAccessKey`) in a secret that the IAM scope's `stored_in` names is skipped: the
/// IAM inventory reports that key.
///
/// A key is exposed when the value it sits in was last changed before the exposure window
/// began. The change date is the creation date of the AWSCURRENT version when the value
/// was read (it does not move when tags change or a pending version is added), the
/// secret's LastChangedDate (or CreatedDate) otherwise.
pub struct SecretsManagerInventory {
    aws: Aws,
    fingerprint_key: Zeroizing<Vec<u8>>,
    concurrency: usize,
}

impl SecretsManagerInventory {
    /// An inventory over `aws`'s regions; `fingerprint_key` is the incident's key for
    /// [`crate::incident::model::fingerprint`].
    pub fn new(aws: &Aws, fingerprint_key: &[u8]) -> Self {
        SecretsManagerInventory {
            aws: aws.clone(),
            fingerprint_key: Zeroizing::new(fingerprint_key.to_vec()),
            concurrency: DEFAULT_READ_CONCURRENCY,
        }
    }

    /// Sets how many GetSecretValue calls run at once per region (default 8).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    async fn discover_region(
        &self,
        region: &str,
        sm: &SecretsManagerScope,
        iam_owned: &BTreeSet<String>,
        exposure: &ExposureWindow,
        pages: &mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let client = Client::new(&self.aws.config(Some(region)));
        let mut req = client.list_secrets().max_results(PAGE_SIZE);
        for f in server_filters(sm) {
            req = req.filters(f);
        }
        let mut stream = req.into_paginator().send();
        let mut page_no = 0usize;
        while let Some(page) = stream.next().await {
            let page = page.map_err(|e| {
                with_context(map_sdk_error(SECRETS_MANAGER, "ListSecrets", e), region)
            })?;
            page_no += 1;
            let entries: Vec<SecretListEntry> = page
                .secret_list()
                .iter()
                .filter(|e| in_scope(sm, e))
                .cloned()
                .collect();
            let ctx = ReadCtx {
                client: &client,
                region,
                sm,
                iam_owned,
                exposure,
                key: &self.fingerprint_key,
            };
            let found: Vec<ProviderResult<Vec<Credential>>> = stream::iter(entries)
                .map(|e| {
                    let ctx = &ctx;
                    async move { ctx.credentials_of(&e).await }
                })
                .buffered(self.concurrency)
                .collect()
                .await;
            let mut creds = Vec::new();
            for r in found {
                creds.extend(r?);
            }
            tracing::debug!(
                region,
                page = page_no,
                credentials = creds.len(),
                "Secrets Manager page"
            );
            if !creds.is_empty() && pages.send(creds).is_err() {
                // Nobody listens any more: stop listing.
                return Ok(());
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Inventory for SecretsManagerInventory {
    async fn discover(
        &self,
        scope: &Scope,
        exposure: &ExposureWindow,
        pages: mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let Some(sm) = &scope.secrets_manager else {
            return Ok(());
        };
        let iam_owned: BTreeSet<String> = scope
            .iam
            .as_ref()
            .map(|i| i.stored_in.values().cloned().collect())
            .unwrap_or_default();
        let regions = if sm.regions.is_empty() {
            vec![self.aws.default_region().to_string()]
        } else {
            sm.regions.clone()
        };
        let results = futures::future::join_all(
            regions
                .iter()
                .map(|r| self.discover_region(r, sm, &iam_owned, exposure, &pages)),
        )
        .await;
        results
            .into_iter()
            .find_map(Result::err)
            .map_or(Ok(()), Err)
    }
}

/// Server-side ListSecrets filters: a name-prefix filter and tag key / tag value filters.
/// They only narrow the listing; [`in_scope`] decides exactly (tag filters match keys and
/// values separately, by prefix). Filters the API cannot express (more than 10 values, or a
/// value starting with `!`, which the API reads as negation) are left to the client.
fn server_filters(sm: &SecretsManagerScope) -> Vec<Filter> {
    let usable = |vals: &[&String]| {
        !vals.is_empty()
            && vals.len() <= MAX_FILTER_VALUES
            && vals.iter().all(|v| !v.is_empty() && !v.starts_with('!'))
    };
    let mut filters = Vec::new();
    let mut add = |key: FilterNameStringType, vals: Vec<&String>| {
        if usable(&vals) {
            let mut b = Filter::builder().key(key);
            for v in vals {
                b = b.values(v.clone());
            }
            filters.push(b.build());
        }
    };
    add(
        FilterNameStringType::Name,
        sm.name_prefixes.iter().collect(),
    );
    add(FilterNameStringType::TagKey, sm.tags.keys().collect());
    add(FilterNameStringType::TagValue, sm.tags.values().collect());
    filters
}

/// Whether a listed secret is in scope: a name prefix matches (or none is given), it
/// carries every scope tag with exactly that value, and it is not scheduled for deletion.
fn in_scope(sm: &SecretsManagerScope, e: &SecretListEntry) -> bool {
    let Some(name) = e.name() else {
        return false;
    };
    let prefix_ok =
        sm.name_prefixes.is_empty() || sm.name_prefixes.iter().any(|p| name.starts_with(p));
    let tags_ok = sm.tags.iter().all(|(k, v)| {
        e.tags()
            .iter()
            .any(|t| t.key() == Some(k.as_str()) && t.value() == Some(v.as_str()))
    });
    prefix_ok && tags_ok && e.deleted_date().is_none()
}

/// What reading one listed secret needs.
struct ReadCtx<'a> {
    client: &'a Client,
    region: &'a str,
    sm: &'a SecretsManagerScope,
    iam_owned: &'a BTreeSet<String>,
    exposure: &'a ExposureWindow,
    key: &'a [u8],
}

impl ReadCtx<'_> {
    /// The credentials one secret holds.
    async fn credentials_of(&self, e: &SecretListEntry) -> ProviderResult<Vec<Credential>> {
        let name = e.name().unwrap_or_default();
        let listed_changed = e
            .last_changed_date()
            .or(e.created_date())
            .and_then(to_chrono);
        let found = Found {
            name,
            region: self.region,
            exposure: self.exposure,
        };
        if self.iam_owned.contains(name) && self.sm.fields.is_empty() {
            // The IAM inventory lists this secret as where its user's key pair lives.
            return Ok(Vec::new());
        }
        if self.sm.fields.is_empty() && !self.sm.fingerprint {
            // Nothing asks for the value: list the secret itself.
            return Ok(vec![found.credential(
                Issuer::Generic,
                None,
                listed_changed,
                "…".into(),
                None,
                None,
            )]);
        }
        let got = self
            .client
            .get_secret_value()
            .secret_id(name)
            .version_stage(AWSCURRENT)
            .send()
            .await;
        let mut out = match got {
            Ok(out) => out,
            Err(err) => {
                let err = map_sdk_error(SECRETS_MANAGER, "GetSecretValue", err);
                return match err {
                    // Deleted since it was listed.
                    ProviderError::NotFound { .. } => Ok(Vec::new()),
                    e if e.is_retryable() => Err(with_context(e, name)),
                    e => Ok(vec![found.credential(
                        Issuer::Generic,
                        None,
                        listed_changed,
                        "…".into(),
                        None,
                        Some(format!(
                            "its value could not be read ({e}); check it by hand"
                        )),
                    )]),
                };
            }
        };
        let changed = out.created_date().and_then(to_chrono).or(listed_changed);
        let value = out.secret_string.take().map(SecretString::from);
        let binary = out.secret_binary.take().is_some();
        drop(out);
        let Some(value) = value else {
            let note = binary.then(|| "it holds binary data, not text".to_string());
            return Ok(vec![found.credential(
                Issuer::Generic,
                None,
                changed,
                "…".into(),
                None,
                note,
            )]);
        };
        let Some(mut doc) = parse_object(&value) else {
            // Plain text: one key of unknown issuer.
            let text = value.expose_secret();
            return Ok(vec![found.credential(
                Issuer::Generic,
                None,
                changed,
                mask(text),
                Some(keyed_fingerprint(self.key, text)),
                None,
            )]);
        };
        let mut creds = Vec::new();
        let iam_pair = doc.contains_key("AccessKeyId") && doc.contains_key("SecretAccessKey");
        if !(iam_pair && self.iam_owned.contains(name)) {
            for m in &self.sm.fields {
                if let Some(Value::String(v)) = doc.get(&m.field)
                    && !v.is_empty()
                {
                    creds.push(found.credential(
                        m.issuer,
                        Some(&m.field),
                        changed,
                        mask(v),
                        Some(keyed_fingerprint(self.key, v)),
                        None,
                    ));
                }
            }
        }
        wipe_map(&mut doc);
        Ok(creds)
    }
}

/// One secret found by the inventory.
struct Found<'a> {
    name: &'a str,
    region: &'a str,
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
        let (id, label) = match field {
            Some(f) => (
                format!("{}/{}#{f}", issuer_slug(issuer), self.name),
                format!("{}#{f}", self.name),
            ),
            None => (
                format!("{}/{}", issuer_slug(issuer), self.name),
                self.name.to_string(),
            ),
        };
        let (exposed, mut reason) = exposure_of(
            &format!("Secrets Manager {label} ({})", self.region),
            changed,
            self.exposure,
        );
        if let Some(n) = note {
            reason.push_str("; ");
            reason.push_str(&n);
        }
        let mut meta = std::collections::BTreeMap::new();
        meta.insert("secret".to_string(), self.name.to_string());
        meta.insert("region".to_string(), self.region.to_string());
        if let Some(f) = field {
            meta.insert("field".to_string(), f.to_string());
        }
        Credential {
            id,
            issuer,
            // The issuer's id of the key is not knowable from the stored value alone.
            key_id: String::new(),
            name: label,
            hint,
            created: None,
            last_used: None,
            locations: vec![Location {
                kind: LocationKind::SecretsManager,
                name: self.name.to_string(),
                field: field.map(str::to_string),
                region: Some(self.region.to_string()),
                changed,
            }],
            exposed,
            exposure_reason: reason,
            fingerprint,
            meta,
        }
    }
}

/// Whether a value stored at `place` and last changed at `changed` is exposed, and why.
pub(crate) fn exposure_of(
    place: &str,
    changed: Option<DateTime<Utc>>,
    exposure: &ExposureWindow,
) -> (bool, String) {
    match changed {
        Some(c) if c < exposure.start => (
            true,
            format!(
                "readable in {place}; unchanged since {} — before the exposure began",
                c.format("%Y-%m-%d %H:%M UTC")
            ),
        ),
        Some(c) => (
            false,
            format!(
                "in scope ({place}) but changed {} — after the exposure began",
                c.format("%Y-%m-%d %H:%M UTC")
            ),
        ),
        None => (
            true,
            format!("readable in {place}; no change date known — treated as exposed"),
        ),
    }
}

/// Parses a secret value as a JSON object (`None` for plain text or other JSON).
fn parse_object(value: &SecretString) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(value.expose_secret()) {
        Ok(Value::Object(m)) => Some(m),
        Ok(mut other) => {
            wipe(&mut other);
            None
        }
        Err(_) => None,
    }
}

/// Overwrites every string in a parsed document before it is dropped.
fn wipe(v: &mut Value) {
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

/// Serializes a document into a secret, wiping the parsed form.
fn to_secret(mut doc: Map<String, Value>) -> ProviderResult<SecretString> {
    let text = serde_json::to_string(&doc).map_err(|e| ProviderError::Validation {
        provider: SECRETS_MANAGER.into(),
        message: format!("could not write the JSON document: {e}"),
    });
    wipe_map(&mut doc);
    text.map(SecretString::from)
}

/// Writes the AWS error of `op` on `name` with context.
fn sm_err<E>(op: &str, name: &str, e: aws_sdk_secretsmanager::error::SdkError<E>) -> ProviderError
where
    E: aws_sdk_secretsmanager::error::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    with_context(map_sdk_error(SECRETS_MANAGER, op, e), name)
}

/// Stages, reads back, promotes and replaces values in Secrets Manager secrets.
///
/// A location with a `field` is a JSON document: only that field changes, the other fields
/// keep their current values. A location without one holds the whole value; when both the
/// new value and the current one are JSON objects (an IAM key pair stored with extra
/// settings), the new value's keys are written over the current document and the other
/// keys are kept.
pub struct SecretsManagerStore {
    aws: Aws,
    clients: Mutex<HashMap<String, Client>>,
    /// One writer per secret: two keys that are fields of one JSON secret are written by
    /// read-compose-write, and AWSCURRENT moves only from the version it leaves, so two
    /// writes of one secret at once would fail (or, for `replace`, lose one key).
    writers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl SecretsManagerStore {
    /// A store over `aws`'s regions (a location's region, else the default region).
    pub fn new(aws: &Aws) -> Self {
        SecretsManagerStore {
            aws: aws.clone(),
            clients: Mutex::new(HashMap::new()),
            writers: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for, and holds, the right to write `loc`'s secret.
    async fn writer(&self, loc: &Location) -> tokio::sync::OwnedMutexGuard<()> {
        let key = format!(
            "{}/{}",
            loc.region.as_deref().unwrap_or(self.aws.default_region()),
            loc.name
        );
        let lock = {
            let mut writers = match self.writers.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            writers.entry(key).or_default().clone()
        };
        lock.lock_owned().await
    }

    fn client(&self, loc: &Location) -> Client {
        let region = loc
            .region
            .clone()
            .unwrap_or_else(|| self.aws.default_region().to_string());
        let mut clients = match self.clients.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        clients
            .entry(region.clone())
            .or_insert_with(|| Client::new(&self.aws.config(Some(&region))))
            .clone()
    }

    /// The text of one version (by id) or of the AWSCURRENT version.
    async fn read(
        &self,
        client: &Client,
        name: &str,
        version: Option<&str>,
    ) -> ProviderResult<SecretString> {
        let req = client.get_secret_value().secret_id(name);
        let req = match version {
            Some(v) => req.version_id(v),
            None => req.version_stage(AWSCURRENT),
        };
        let mut out = req
            .send()
            .await
            .map_err(|e| sm_err("GetSecretValue", name, e))?;
        let text = out.secret_string.take().map(SecretString::from);
        drop(out);
        text.ok_or_else(|| ProviderError::Validation {
            provider: SECRETS_MANAGER.into(),
            message: format!(
                "{name}: the secret holds binary data; breachbook writes text values only"
            ),
        })
    }

    async fn describe(&self, client: &Client, name: &str) -> ProviderResult<DescribeSecretOutput> {
        client
            .describe_secret()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| sm_err("DescribeSecret", name, e))
    }

    /// The document to write: `value` placed into `current` as `loc` says.
    fn compose(
        loc: &Location,
        current: Option<&SecretString>,
        value: &SecretString,
    ) -> ProviderResult<SecretString> {
        match &loc.field {
            Some(f) => {
                let mut doc = current.and_then(parse_object).ok_or_else(|| {
                    ProviderError::Validation {
                        provider: SECRETS_MANAGER.into(),
                        message: format!(
                            "{}: the current value is not a JSON document, so field {f} cannot be set",
                            loc.name
                        ),
                    }
                })?;
                if let Some(mut old) =
                    doc.insert(f.clone(), Value::String(value.expose_secret().to_string()))
                {
                    wipe(&mut old);
                }
                to_secret(doc)
            }
            None => match (current.and_then(parse_object), parse_object(value)) {
                (Some(mut doc), Some(mut new)) => {
                    for (k, v) in std::mem::take(&mut new) {
                        if let Some(mut old) = doc.insert(k, v) {
                            wipe(&mut old);
                        }
                    }
                    to_secret(doc)
                }
                (cur, new) => {
                    if let Some(mut m) = cur {
                        wipe_map(&mut m);
                    }
                    if let Some(mut m) = new {
                        wipe_map(&mut m);
                    }
                    Ok(SecretString::from(value.expose_secret().to_string()))
                }
            },
        }
    }

    /// Whether `doc` already holds `value` where `loc` says.
    fn holds(loc: &Location, doc: &SecretString, value: &SecretString) -> bool {
        match &loc.field {
            Some(f) => field_of(doc, f).is_some_and(|v| v.expose_secret() == value.expose_secret()),
            None => match (parse_object(doc), parse_object(value)) {
                (Some(mut d), Some(mut v)) => {
                    let all = v.iter().all(|(k, x)| d.get(k) == Some(x));
                    wipe_map(&mut d);
                    wipe_map(&mut v);
                    all
                }
                (d, v) => {
                    let objects = d.is_some() || v.is_some();
                    if let Some(mut m) = d {
                        wipe_map(&mut m);
                    }
                    if let Some(mut m) = v {
                        wipe_map(&mut m);
                    }
                    !objects && doc.expose_secret() == value.expose_secret()
                }
            },
        }
    }

    /// Moves AWSCURRENT to `to` (from `from`, which becomes AWSPREVIOUS).
    async fn move_current(
        &self,
        client: &Client,
        name: &str,
        to: &str,
        from: Option<&str>,
    ) -> ProviderResult<()> {
        client
            .update_secret_version_stage()
            .secret_id(name)
            .version_stage(AWSCURRENT)
            .move_to_version_id(to)
            .set_remove_from_version_id(from.map(str::to_string))
            .send()
            .await
            .map_err(|e| sm_err("UpdateSecretVersionStage", name, e))?;
        Ok(())
    }
}

/// The string value of `field` in a JSON document.
fn field_of(doc: &SecretString, field: &str) -> Option<SecretString> {
    let mut m = parse_object(doc)?;
    let v = match m.get(field) {
        Some(Value::String(s)) => Some(SecretString::from(s.clone())),
        _ => None,
    };
    wipe_map(&mut m);
    v
}

/// Whether two documents agree on every field but `field`.
fn same_but(a: &SecretString, b: &SecretString, field: &str) -> bool {
    match (parse_object(a), parse_object(b)) {
        (Some(mut x), Some(mut y)) => {
            let (mut fx, mut fy) = (x.remove(field), y.remove(field));
            let same = x == y;
            for v in [&mut fx, &mut fy].into_iter().flatten() {
                wipe(v);
            }
            wipe_map(&mut x);
            wipe_map(&mut y);
            same
        }
        (x, y) => {
            for mut m in [x, y].into_iter().flatten() {
                wipe_map(&mut m);
            }
            false
        }
    }
}

/// A ClientRequestToken (32–64 characters) for rebasing `version` onto `current`.
fn rebase_token(version: &str, current: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(version.as_bytes());
    h.update([0]);
    h.update(current.as_bytes());
    format!("rebase-{}", &hex::encode(h.finalize())[..32])
}

fn stages_of<'a>(d: &'a DescribeSecretOutput, version: &str) -> &'a [String] {
    d.version_ids_to_stages()
        .and_then(|m| m.get(version))
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn holder_of(d: &DescribeSecretOutput, stage: &str) -> Option<String> {
    d.version_ids_to_stages().and_then(|m| {
        m.iter()
            .find(|(_, s)| s.iter().any(|x| x == stage))
            .map(|(v, _)| v.clone())
    })
}

fn last_changed(d: &DescribeSecretOutput) -> DateTime<Utc> {
    d.last_changed_date()
        .or(d.created_date())
        .and_then(to_chrono)
        .unwrap_or_else(Utc::now)
}

#[async_trait]
impl SecretStore for SecretsManagerStore {
    /// PutSecretValue with `VersionStages=[AWSPENDING]` and `ClientRequestToken=token` (the
    /// token becomes the version id). A retry finds the version already there and returns it
    /// without writing; a token already used for another value is refused.
    async fn stage(
        &self,
        loc: &Location,
        value: &SecretString,
        token: &str,
    ) -> ProviderResult<String> {
        let _writer = self.writer(loc).await;
        let client = self.client(loc);
        let name = loc.name.as_str();
        match self.read(&client, name, Some(token)).await {
            Ok(existing) => {
                return if Self::holds(loc, &existing, value) {
                    tracing::debug!(secret = name, version = token, "already staged");
                    Ok(token.to_string())
                } else {
                    Err(ProviderError::Validation {
                        provider: SECRETS_MANAGER.into(),
                        message: format!(
                            "{name}: version {token} already holds another value; use one token per new key"
                        ),
                    })
                };
            }
            Err(ProviderError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let current = self.read(&client, name, None).await?;
        let doc = Self::compose(loc, Some(&current), value)?;
        drop(current);
        let out = client
            .put_secret_value()
            .secret_id(name)
            .client_request_token(token)
            .secret_string(doc.expose_secret())
            .version_stages(AWSPENDING)
            .send()
            .await
            .map_err(|e| sm_err("PutSecretValue", name, e))?;
        drop(doc);
        let version = out.version_id().unwrap_or(token).to_string();
        tracing::info!(secret = name, version = %version, "staged as AWSPENDING");
        Ok(version)
    }

    /// GetSecretValue by version id; the location's field when it has one.
    async fn read_version(&self, loc: &Location, version: &str) -> ProviderResult<SecretString> {
        let client = self.client(loc);
        let doc = self.read(&client, &loc.name, Some(version)).await?;
        match &loc.field {
            None => Ok(doc),
            Some(f) => field_of(&doc, f).ok_or_else(|| ProviderError::NotFound {
                provider: SECRETS_MANAGER.into(),
                what: format!("field {f} in version {version} of {}", loc.name),
            }),
        }
    }

    /// The value before the rotation: AWSPREVIOUS, then AWSCURRENT, whichever (for a JSON
    /// field: whose field) differs from `new_version`'s. A secret whose other fields were
    /// rotated since may no longer hold the old value under either label: NotFound then.
    async fn read_old(&self, loc: &Location, new_version: &str) -> ProviderResult<SecretString> {
        let new = self.read_version(loc, new_version).await?;
        let client = self.client(loc);
        let name = loc.name.as_str();
        let described = self.describe(&client, name).await?;
        for stage in [AWSPREVIOUS, AWSCURRENT] {
            let Some(v) = holder_of(&described, stage) else {
                continue;
            };
            if v == new_version {
                continue;
            }
            let doc = self.read(&client, name, Some(&v)).await?;
            let value = match &loc.field {
                None => Some(doc),
                Some(f) => field_of(&doc, f),
            };
            if let Some(value) = value
                && value.expose_secret() != new.expose_secret()
            {
                return Ok(value);
            }
        }
        Err(ProviderError::NotFound {
            provider: SECRETS_MANAGER.into(),
            what: format!("the value before the rotation in {}", loc.label()),
        })
    }

    /// Moves AWSCURRENT to `version` (the old current becomes AWSPREVIOUS) and takes
    /// AWSPENDING off it, then checks the labels with DescribeSecret and returns the secret's
    /// LastChangedDate. Promoting a version that is already current only tidies AWSPENDING.
    ///
    /// AWSCURRENT only ever moves with UpdateSecretVersionStage naming the version it leaves,
    /// so a change made by someone else since DescribeSecret makes the move fail instead of
    /// being overwritten.
    ///
    /// For a JSON field: if another field of the secret changed since `version` was staged
    /// (another key of the same secret promoted first), moving the label would bring that
    /// field back to its old value. Instead the current document with this field set is
    /// written as a new version (label `BREACHBOOK_REBASED`, token derived from both version
    /// ids so a retry does not write twice), AWSCURRENT moves to it, and the label is removed.
    async fn promote(&self, loc: &Location, version: &str) -> ProviderResult<DateTime<Utc>> {
        let _writer = self.writer(loc).await;
        let client = self.client(loc);
        let name = loc.name.as_str();
        let before = self.describe(&client, name).await?;
        let known = before
            .version_ids_to_stages()
            .is_some_and(|m| m.contains_key(version));
        if !known {
            return Err(ProviderError::NotFound {
                provider: SECRETS_MANAGER.into(),
                what: format!("version {version} of {name}"),
            });
        }
        let current = holder_of(&before, AWSCURRENT);
        let mut promoted = version.to_string();
        let mut rebased = false;
        if current.as_deref() != Some(version) {
            match (&loc.field, &current) {
                (Some(f), Some(cur)) => {
                    let staged = self.read(&client, name, Some(version)).await?;
                    let now = self.read(&client, name, Some(cur)).await?;
                    let mine = field_of(&staged, f).ok_or_else(|| ProviderError::NotFound {
                        provider: SECRETS_MANAGER.into(),
                        what: format!("field {f} in version {version} of {name}"),
                    })?;
                    if field_of(&now, f).is_some_and(|v| v.expose_secret() == mine.expose_secret())
                    {
                        // Already current through a rebased version (a retry).
                        promoted = cur.clone();
                    } else if same_but(&staged, &now, f) {
                        self.move_current(&client, name, version, Some(cur)).await?;
                    } else {
                        let doc = Self::compose(loc, Some(&now), &mine)?;
                        let token = rebase_token(version, cur);
                        client
                            .put_secret_value()
                            .secret_id(name)
                            .client_request_token(&token)
                            .secret_string(doc.expose_secret())
                            .version_stages(REBASED)
                            .send()
                            .await
                            .map_err(|e| sm_err("PutSecretValue", name, e))?;
                        drop(doc);
                        self.move_current(&client, name, &token, Some(cur)).await?;
                        tracing::info!(
                            secret = name,
                            staged = version,
                            version = %token,
                            "another field changed since staging: promoted the current document with this field set"
                        );
                        promoted = token;
                        rebased = true;
                    }
                }
                (_, cur) => {
                    self.move_current(&client, name, version, cur.as_deref())
                        .await?
                }
            }
        }
        let labelled =
            |label: &str, holder: &str| stages_of(&before, holder).iter().any(|s| s == label);
        let tidy = [
            (AWSPENDING, version, labelled(AWSPENDING, version)),
            (
                REBASED,
                promoted.as_str(),
                rebased || labelled(REBASED, &promoted),
            ),
        ];
        for (label, holder, _) in tidy.into_iter().filter(|t| t.2) {
            client
                .update_secret_version_stage()
                .secret_id(name)
                .version_stage(label)
                .remove_from_version_id(holder)
                .send()
                .await
                .map_err(|e| sm_err("UpdateSecretVersionStage", name, e))?;
        }
        let after = self.describe(&client, name).await?;
        let holders = after
            .version_ids_to_stages()
            .map(|m| {
                m.values()
                    .filter(|s| s.iter().any(|x| x == AWSCURRENT))
                    .count()
            })
            .unwrap_or(0);
        let current_ok =
            holders == 1 && stages_of(&after, &promoted).iter().any(|s| s == AWSCURRENT);
        let pending_gone = !stages_of(&after, version).iter().any(|s| s == AWSPENDING);
        if !(current_ok && pending_gone) {
            return Err(ProviderError::Server {
                provider: SECRETS_MANAGER.into(),
                status: 0,
                message: format!(
                    "{name}: after promoting, AWSCURRENT is on {} and version {version} has stages {:?}; retry",
                    holder_of(&after, AWSCURRENT).unwrap_or_else(|| "no version".into()),
                    stages_of(&after, version)
                ),
            });
        }
        tracing::info!(secret = name, version = %promoted, "promoted to AWSCURRENT");
        Ok(last_changed(&after))
    }

    /// PutSecretValue as the new AWSCURRENT (field-aware), unless the secret already holds
    /// the value there; returns the secret's LastChangedDate.
    async fn replace(&self, loc: &Location, value: &SecretString) -> ProviderResult<DateTime<Utc>> {
        let _writer = self.writer(loc).await;
        let client = self.client(loc);
        let name = loc.name.as_str();
        let current = self.read(&client, name, None).await?;
        if !Self::holds(loc, &current, value) {
            let doc = Self::compose(loc, Some(&current), value)?;
            client
                .put_secret_value()
                .secret_id(name)
                .secret_string(doc.expose_secret())
                .send()
                .await
                .map_err(|e| sm_err("PutSecretValue", name, e))?;
            tracing::info!(secret = name, "replaced the current value");
        }
        drop(current);
        let after = self.describe(&client, name).await?;
        Ok(last_changed(&after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(field: Option<&str>) -> Location {
        Location {
            kind: LocationKind::SecretsManager,
            name: "prod/ai/keys".into(),
            field: field.map(str::to_string),
            region: None,
            changed: None,
        }
    }

    fn s(v: &str) -> SecretString {
        SecretString::from(v.to_string())
    }

    #[test]
    fn a_field_is_set_and_the_rest_kept() {
        let cur = s(r#"{"OPENAI_API_KEY":"sk-old","OTHER":"x"}"#);
        let doc =
            SecretsManagerStore::compose(&loc(Some("OPENAI_API_KEY")), Some(&cur), &s("sk-new"));
        let Ok(doc) = doc else {
            panic!("compose failed")
        };
        let v: Value = serde_json::from_str(doc.expose_secret()).unwrap_or_default();
        assert_eq!(v["OPENAI_API_KEY"], "sk-new");
        assert_eq!(v["OTHER"], "x");
        assert!(SecretsManagerStore::holds(
            &loc(Some("OPENAI_API_KEY")),
            &doc,
            &s("sk-new")
        ));
    }

    #[test]
    fn a_field_needs_a_json_document() {
        let r = SecretsManagerStore::compose(&loc(Some("F")), Some(&s("plain")), &s("v"));
        assert!(matches!(r, Err(ProviderError::Validation { .. })));
    }

    #[test]
    fn a_whole_json_value_keeps_other_keys() {
        let cur = s(r#"{"AccessKeyId":"AKIAOLD","SecretAccessKey":"old","Region":"eu-west-1"}"#);
        let new = s(r#"{"AccessKeyId":"AKIANEW","SecretAccessKey":"new"}"#);
        let Ok(doc) = SecretsManagerStore::compose(&loc(None), Some(&cur), &new) else {
            panic!("compose failed")
        };
        let v: Value = serde_json::from_str(doc.expose_secret()).unwrap_or_default();
        assert_eq!(v["AccessKeyId"], "AKIANEW");
        assert_eq!(v["Region"], "eu-west-1");
        assert!(SecretsManagerStore::holds(&loc(None), &doc, &new));
        assert!(!SecretsManagerStore::holds(&loc(None), &cur, &new));
    }

    #[test]
    fn documents_compare_without_one_field() {
        let a = s(r#"{"A":"1","B":"2"}"#);
        let b = s(r#"{"A":"9","B":"2"}"#);
        assert!(same_but(&a, &b, "A"));
        assert!(!same_but(&a, &b, "B"));
        assert!(rebase_token("v1", "v2").len() >= 32);
    }

    #[test]
    fn exposure_is_decided_by_the_change_date() {
        let start = DateTime::<Utc>::from_timestamp(1_778_544_000, 0).unwrap_or_default();
        let w = ExposureWindow { start, end: None };
        let (e, why) = exposure_of("X", Some(start - chrono::Duration::days(3)), &w);
        assert!(e && why.contains("before the exposure"), "{why}");
        let (e, why) = exposure_of("X", Some(start + chrono::Duration::hours(1)), &w);
        assert!(!e && why.contains("after the exposure"), "{why}");
        assert!(exposure_of("X", None, &w).0);
    }

    #[test]
    fn scope_filters_go_to_the_server_when_they_can() {
        let mut sm = SecretsManagerScope {
            regions: vec!["us-east-1".into()],
            name_prefixes: vec!["prod/ai/".into(), "legacy/".into()],
            ..Default::default()
        };
        sm.tags.insert("team".into(), "ai".into());
        let f = server_filters(&sm);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].values(), ["prod/ai/", "legacy/"]);
        sm.name_prefixes.push("!odd".into());
        assert_eq!(server_filters(&sm).len(), 2);
    }
}
