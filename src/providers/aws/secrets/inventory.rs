//! The Secrets Manager inventory: the keys held in the scope's secrets, region by region,
//! with when each value last changed.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, SecretListEntry};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use super::batch::BATCH_SIZE;
use super::{AWSCURRENT, exposure_of, parse_object, wipe_map};
use crate::incident::model::{
    Credential, Location, LocationKind, fingerprint as keyed_fingerprint, mask,
};
use crate::incident::ports::{Inventory, KeyIssuer, ProviderError, ProviderResult};
use crate::providers::aws::{Aws, IAM, SECRETS_MANAGER, map_sdk_error, to_chrono, with_context};
use crate::runbook::schema::{ExposureWindow, Issuer, Scope, SecretsManagerScope};

/// Secrets per ListSecrets page (the API's maximum).
const PAGE_SIZE: i32 = 100;
/// GetSecretValue calls in flight per region where values are read one by one (a role
/// without BatchGetSecretValue, a secret whose batch read failed).
const DEFAULT_READ_CONCURRENCY: usize = 16;
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
/// prefix and tags on the server and again on the client. With `fields` mappings (or
/// `fingerprint: true`) each secret's AWSCURRENT value is read, 20 secrets a
/// `BatchGetSecretValue` call, the calls of one page started as soon as it arrives (while
/// the next is listed) with an in-flight window that grows until Secrets Manager throttles
/// (see `batch`); credentials are sent as each call answers. In each value read, every
/// mapped JSON field present becomes one credential of the mapping's issuer (id
/// `{issuer}/{secret}#{field}`), a plain-text secret one `generic/{secret}` credential. Without either, every secret is listed as a
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
    /// Issuers asked what they can tell of a stored key from its value
    /// ([`KeyIssuer::identify`]: Google's `lookupKey`), by the issuer a field maps to.
    identify: HashMap<Issuer, Arc<dyn KeyIssuer>>,
}

impl SecretsManagerInventory {
    /// An inventory over `aws`'s regions; `fingerprint_key` is the incident's key for
    /// [`crate::incident::model::fingerprint`].
    pub fn new(aws: &Aws, fingerprint_key: &[u8]) -> Self {
        SecretsManagerInventory {
            aws: aws.clone(),
            fingerprint_key: Zeroizing::new(fingerprint_key.to_vec()),
            concurrency: DEFAULT_READ_CONCURRENCY,
            identify: HashMap::new(),
        }
    }

    /// Asks these issuers, for each key of theirs read, what they can tell of it from its
    /// value ([`KeyIssuer::identify`]) before the key is reported.
    pub fn with_identify(mut self, issuers: HashMap<Issuer, Arc<dyn KeyIssuer>>) -> Self {
        self.identify = issuers;
        self
    }

    /// Sets how many GetSecretValue calls run at once per region where values are read
    /// one by one (default 16; BatchGetSecretValue calls size their own window).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    #[allow(clippy::too_many_arguments)]
    async fn discover_region(
        &self,
        region: &str,
        sm: &SecretsManagerScope,
        read_pairs: bool,
        iam_owned: &BTreeSet<String>,
        exposure: &ExposureWindow,
        pages: &mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let client = self.aws.secrets_manager(Some(region));
        let ctx = ReadCtx {
            client: &client,
            aws: &self.aws,
            read_pairs,
            region,
            sm,
            iam_owned,
            exposure,
            key: &self.fingerprint_key,
            identify: &self.identify,
            concurrency: self.concurrency,
        };
        // Values are read while the next page is listed: each page's secrets go to the
        // readers in batches of 20 as soon as the page arrives.
        let (batches, to_read) = mpsc::unbounded_channel::<Vec<SecretListEntry>>();
        let (ctx, client) = (&ctx, &client);
        let listing = async move {
            // Secrets scheduled for deletion too ("By default, secrets scheduled for
            // deletion aren't included", ListSecrets IncludePlannedDeletion): they are
            // listed as such.
            let mut req = client
                .list_secrets()
                .max_results(PAGE_SIZE)
                .include_planned_deletion(true);
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
                let mut listed = Vec::new();
                let mut read = Vec::new();
                for e in page.secret_list().iter().filter(|e| in_scope(sm, e)) {
                    match ctx.without_value(e) {
                        Some(creds) => listed.extend(creds),
                        None => read.push(e.clone()),
                    }
                }
                tracing::debug!(
                    region,
                    page = page_no,
                    listed = listed.len(),
                    to_read = read.len(),
                    "Secrets Manager page"
                );
                if !listed.is_empty() && pages.send(listed).is_err() {
                    // Nobody listens any more: stop listing.
                    return Ok(());
                }
                for chunk in read.chunks(BATCH_SIZE) {
                    if batches.send(chunk.to_vec()).is_err() {
                        return Ok(());
                    }
                }
            }
            Ok::<(), ProviderError>(())
        };
        let (listed, read) = tokio::join!(listing, ctx.read_batches(to_read, pages));
        listed.and(read)
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
        let results = futures::future::join_all(regions.iter().map(|r| {
            self.discover_region(r, sm, scope.iam.is_some(), &iam_owned, exposure, &pages)
        }))
        .await;
        // Every region that could not be listed, in one error: a partial inventory names
        // all of its gaps.
        let failed: Vec<ProviderError> = results.into_iter().filter_map(Result::err).collect();
        combine(failed).map_or(Ok(()), Err)
    }
}

/// One error for several failed regions of a listing: every region's words (the first
/// error as it is when only one failed). `None` when nothing failed.
pub(crate) fn combine(mut failed: Vec<ProviderError>) -> Option<ProviderError> {
    if failed.len() <= 1 {
        return failed.pop();
    }
    let words = failed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    Some(ProviderError::Incomplete {
        sources: format!("{} regions: {words}", failed.len()),
        transient: failed.iter().all(ProviderError::is_retryable),
    })
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

/// Whether a listed secret is in scope: a name prefix matches (or none is given) and it
/// carries every scope tag with exactly that value.
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
    prefix_ok && tags_ok
}

/// What reading one listed secret needs.
pub(crate) struct ReadCtx<'a> {
    pub(crate) client: &'a Client,
    aws: &'a Aws,
    /// The scope has IAM: values are read to find IAM key pairs (whose key is whose).
    read_pairs: bool,
    region: &'a str,
    sm: &'a SecretsManagerScope,
    iam_owned: &'a BTreeSet<String>,
    exposure: &'a ExposureWindow,
    key: &'a [u8],
    identify: &'a HashMap<Issuer, Arc<dyn KeyIssuer>>,
    /// GetSecretValue calls in flight on the one-by-one path.
    pub(crate) concurrency: usize,
}

impl ReadCtx<'_> {
    /// The credentials of a listed secret that need no value read (scheduled for
    /// deletion, a pair the IAM inventory reports, nothing asks for the value); `None`
    /// when its value must be read.
    pub(crate) fn without_value(&self, e: &SecretListEntry) -> Option<Vec<Credential>> {
        let name = e.name().unwrap_or_default();
        let listed_changed = listed_changed(e);
        let found = self.found(name);
        if let Some(deleted) = e.deleted_date().and_then(to_chrono) {
            // "If a secret is scheduled for deletion, then its details, including the
            // encrypted secret value, is not accessible" (DescribeSecret, DeletedDate).
            let mut c = found.credential(
                Issuer::Generic,
                None,
                listed_changed,
                "…".into(),
                None,
                Some(format!(
                    "SCHEDULED FOR DELETION on {}: AWS refuses to read it, so breachbook cannot tell which key it holds; if it held a key, rotate that key by hand, or restore the secret (aws secretsmanager restore-secret) and list again",
                    deleted.format("%Y-%m-%d %H:%M UTC")
                )),
            );
            c.exposed = false;
            c.meta
                .insert("status".into(), "scheduled_for_deletion".into());
            c.meta.insert(
                "deletion_date".into(),
                deleted.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            );
            return Some(vec![c]);
        }
        if self.iam_owned.contains(name) && self.sm.fields.is_empty() {
            // The IAM inventory lists this secret as where its user's key pair lives.
            return Some(Vec::new());
        }
        if self.sm.fields.is_empty() && !self.sm.fingerprint && !self.read_pairs {
            // Nothing asks for the value: list the secret itself.
            return Some(vec![found.credential(
                Issuer::Generic,
                None,
                listed_changed,
                "…".into(),
                None,
                None,
            )]);
        }
        None
    }

    fn found<'n>(&'n self, name: &'n str) -> Found<'n> {
        Found {
            name,
            region: self.region,
            account: self.aws.account(),
            multi_region: self.sm.regions.len() > 1,
            exposure: self.exposure,
        }
    }

    /// The credentials one secret holds, its value read with GetSecretValue.
    pub(crate) async fn credentials_of(
        &self,
        e: &SecretListEntry,
    ) -> ProviderResult<Vec<Credential>> {
        if let Some(creds) = self.without_value(e) {
            return Ok(creds);
        }
        let name = e.name().unwrap_or_default();
        let got = self
            .client
            .get_secret_value()
            .secret_id(e.arn().unwrap_or(name))
            .version_stage(AWSCURRENT)
            .send()
            .await;
        let mut out = match got {
            Ok(out) => out,
            Err(err) => {
                return self
                    .unreadable_entry(e, map_sdk_error(SECRETS_MANAGER, "GetSecretValue", err));
            }
        };
        let changed = out.created_date().and_then(to_chrono);
        let value = out.secret_string.take().map(SecretString::from);
        let binary = out.secret_binary.take().is_some();
        drop(out);
        Ok(self.credentials_in_value(e, changed, value, binary).await)
    }

    /// A listed secret whose value could not be read (see [`unreadable`]).
    pub(crate) fn unreadable_entry(
        &self,
        e: &SecretListEntry,
        err: ProviderError,
    ) -> ProviderResult<Vec<Credential>> {
        let found = self.found(e.name().unwrap_or_default());
        unreadable(&found, listed_changed(e), err)
    }

    /// The credentials of a listed secret from its AWSCURRENT value (`changed`: that
    /// version's creation date).
    pub(crate) async fn credentials_in_value(
        &self,
        e: &SecretListEntry,
        changed: Option<DateTime<Utc>>,
        value: Option<SecretString>,
        binary: bool,
    ) -> Vec<Credential> {
        let found = self.found(e.name().unwrap_or_default());
        let changed = changed.or(listed_changed(e));
        let Some(value) = value else {
            let note = binary.then(|| "it holds binary data, not text".to_string());
            return vec![found.credential(Issuer::Generic, None, changed, "…".into(), None, note)];
        };
        let mut creds = self.keys_in(&found, changed, &value).await;
        self.identify_all(&mut creds, &value).await;
        creds
    }

    /// Lets each mapped field's issuer tell what it can of the key from its value
    /// ([`KeyIssuer::identify`]); a failure is said in the key's exposure reason, not fatal.
    async fn identify_all(&self, creds: &mut [Credential], value: &SecretString) {
        if self.identify.is_empty() {
            return;
        }
        let Some(mut doc) = parse_object(value) else {
            return;
        };
        for c in creds.iter_mut() {
            let (Some(issuer), Some(Value::String(v))) = (
                self.identify.get(&c.issuer),
                c.meta.get("field").and_then(|f| doc.get(f)),
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
        wipe_map(&mut doc);
    }

    /// The keys one secret's value holds: a plain-text value is one key of unknown issuer
    /// (read only with `fingerprint: true`); a JSON document holds one key per mapped field
    /// present, and an IAM key pair (`AccessKeyId` and `SecretAccessKey`) is the key of its
    /// access key id (none when the IAM scope's `stored_in` names this secret: the IAM
    /// inventory reports that key, by the id it holds).
    async fn keys_in(
        &self,
        found: &Found<'_>,
        changed: Option<DateTime<Utc>>,
        value: &SecretString,
    ) -> Vec<Credential> {
        let fp = |v: &str| self.sm.fingerprint.then(|| keyed_fingerprint(self.key, v));
        let Some(mut doc) = parse_object(value) else {
            if !self.sm.fingerprint {
                return vec![found.credential(
                    Issuer::Generic,
                    None,
                    changed,
                    "…".into(),
                    None,
                    Some("a plain-text value; not read (`fingerprint: false`)".into()),
                )];
            }
            let text = value.expose_secret();
            return vec![found.credential(
                Issuer::Generic,
                None,
                changed,
                mask(text),
                fp(text),
                None,
            )];
        };
        let mut creds = Vec::new();
        let pair = match (doc.get("AccessKeyId"), doc.get("SecretAccessKey")) {
            (Some(Value::String(id)), Some(Value::String(_))) => Some(id.clone()),
            _ => None,
        };
        match pair {
            Some(_) if self.iam_owned.contains(found.name) => {}
            Some(key_id) => creds.push(self.key_pair(found, changed, &key_id).await),
            None => {
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
        }
        wipe_map(&mut doc);
        creds
    }

    /// An IAM key pair in a secret no `stored_in` names: the key of its access key id, of a
    /// user outside the IAM scope (named when GetAccessKeyLastUsed says whose it is). It is
    /// listed so, and rotated only once its user is in scope.
    async fn key_pair(
        &self,
        found: &Found<'_>,
        changed: Option<DateTime<Utc>>,
        key_id: &str,
    ) -> Credential {
        let iam = self.aws.iam();
        let user = match iam
            .get_access_key_last_used()
            .access_key_id(key_id)
            .send()
            .await
        {
            Ok(out) => out.user_name().map(str::to_string),
            Err(e) => {
                let e = map_sdk_error(IAM, "GetAccessKeyLastUsed", e);
                tracing::debug!(
                    secret = found.name,
                    "owner of a stored key pair not found: {e}"
                );
                None
            }
        };
        let who = match &user {
            Some(u) => format!("IAM user {u}"),
            None => "an IAM user breachbook cannot name".to_string(),
        };
        let mut c = found.credential(
            Issuer::AwsIam,
            None,
            changed,
            mask(key_id),
            None,
            Some(format!(
                "it holds the key pair of access key {} of {who}, who is not in the runbook's IAM scope: add the user to scope.iam.users and stored_in to rotate it",
                mask(key_id)
            )),
        );
        c.key_id = key_id.to_string();
        c.name = format!("{} (key pair of {who})", c.name);
        if let Some(u) = user {
            c.meta.insert("user".into(), u);
        }
        c.meta.insert("out_of_scope".into(), "true".into());
        c
    }
}

/// A listed secret whose value could not be read: gone since it was listed (nothing), a
/// retryable failure (the error), anything else (listed as it is, with why).
fn unreadable(
    found: &Found<'_>,
    listed_changed: Option<DateTime<Utc>>,
    err: ProviderError,
) -> ProviderResult<Vec<Credential>> {
    match err {
        // Deleted since it was listed.
        ProviderError::NotFound { .. } => Ok(Vec::new()),
        e if e.is_retryable() => Err(with_context(e, found.name)),
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
    }
}

/// When a listed secret last changed, as the listing says.
fn listed_changed(e: &SecretListEntry) -> Option<DateTime<Utc>> {
    e.last_changed_date()
        .or(e.created_date())
        .and_then(to_chrono)
}

/// One secret found by the inventory.
struct Found<'a> {
    name: &'a str,
    region: &'a str,
    /// The account the secret is in, when known.
    account: Option<&'a str>,
    /// The scope lists more than one region: names carry the region.
    multi_region: bool,
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
            kind: LocationKind::SecretsManager,
            name: self.name.to_string(),
            field: field.map(str::to_string),
            region: Some(self.region.to_string()),
            account: self.account.map(str::to_string),
            changed,
        };
        // Identity: account, region, name and field (two secrets named alike in two
        // regions hold two keys); the name says the region when the scope has several.
        let id = format!(
            "{}/{}",
            issuer_slug(issuer),
            location.key().trim_start_matches("sm:")
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
            &format!("Secrets Manager {place} ({})", self.region),
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
            locations: vec![location],
            exposed,
            exposure_reason: reason,
            fingerprint,
            meta,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
