//! The Secrets Manager store: stages a new value as AWSPENDING, reads versions back,
//! promotes to AWSCURRENT (rebasing a JSON document whose other fields moved on) and
//! replaces values where there is no staging.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::{AWSCURRENT, AWSPENDING, AWSPREVIOUS, parse_object, sm_err, to_secret, wipe, wipe_map};
use crate::incident::model::Location;
use crate::incident::ports::{
    PendingCheck, PendingVersion, ProviderError, ProviderResult, SecretStore,
};
use crate::providers::aws::{Aws, SECRETS_MANAGER, to_chrono};

/// Staging label of a rebased document between its write and its promotion (see
/// [`SecretsManagerStore`]'s `promote`).
const REBASED: &str = "BREACHBOOK_REBASED";

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
            .or_insert_with(|| self.aws.secrets_manager(Some(&region)))
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

    /// When `version` was made (ListSecretVersionIds), if the listing says.
    async fn created(
        &self,
        client: &Client,
        name: &str,
        version: &str,
    ) -> ProviderResult<Option<DateTime<Utc>>> {
        let mut pages = client
            .list_secret_version_ids()
            .secret_id(name)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sm_err("ListSecretVersionIds", name, e))?;
            if let Some(v) = page
                .versions()
                .iter()
                .find(|v| v.version_id() == Some(version))
            {
                return Ok(v.created_date().and_then(to_chrono));
            }
        }
        Ok(None)
    }

    /// The document to write: `value` placed into `current` as `loc` says.
    pub(crate) fn compose(
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
    pub(crate) fn holds(loc: &Location, doc: &SecretString, value: &SecretString) -> bool {
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

    /// Promotes the staged `version` of the JSON fields `fields` while `cur` is current:
    /// already done through a rebased version (a retry), a plain label move when no other
    /// field changed since staging, else the current document with these fields set written
    /// as a rebased version and made current. Returns the version now current and whether
    /// it was rebased.
    async fn promote_fields(
        &self,
        client: &Client,
        name: &str,
        fields: &[&str],
        version: &str,
        cur: &str,
    ) -> ProviderResult<(String, bool)> {
        let staged = self.read(client, name, Some(version)).await?;
        let now = self.read(client, name, Some(cur)).await?;
        let mut mine = Vec::new();
        for f in fields {
            let v = field_of(&staged, f).ok_or_else(|| ProviderError::NotFound {
                provider: SECRETS_MANAGER.into(),
                what: format!("field {f} in version {version} of {name}"),
            })?;
            mine.push((*f, v));
        }
        let already = mine.iter().all(|(f, v)| {
            field_of(&now, f).is_some_and(|n| n.expose_secret() == v.expose_secret())
        });
        if already {
            // Already current through a rebased version (a retry).
            return Ok((cur.to_string(), false));
        }
        if same_but(&staged, &now, fields) {
            self.move_current(client, name, version, Some(cur)).await?;
            return Ok((version.to_string(), false));
        }
        let mut doc = now;
        for (f, v) in &mine {
            let loc = Location {
                kind: crate::incident::model::LocationKind::SecretsManager,
                name: name.to_string(),
                field: Some(f.to_string()),
                region: None,
                account: None,
                changed: None,
            };
            doc = Self::compose(&loc, Some(&doc), v)?;
        }
        drop(mine);
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
        self.move_current(client, name, &token, Some(cur)).await?;
        tracing::info!(
            secret = name,
            staged = version,
            version = %token,
            "another field changed since staging: promoted the current document with these fields set"
        );
        Ok((token, true))
    }

    /// Moves AWSCURRENT to `to` (from `from`, which becomes AWSPREVIOUS).
    async fn move_current(
        &self,
        client: &Client,
        name: &str,
        to: &str,
        from: Option<&str>,
    ) -> ProviderResult<()> {
        let moved = client
            .update_secret_version_stage()
            .secret_id(name)
            .version_stage(AWSCURRENT)
            .move_to_version_id(to)
            .set_remove_from_version_id(from.map(str::to_string))
            .send()
            .await
            .map_err(|e| sm_err("UpdateSecretVersionStage", name, e));
        match moved {
            Ok(_) => Ok(()),
            Err(e) => {
                self.settled(client, name, e, |d| {
                    holder_of(d, AWSCURRENT).as_deref() == Some(to)
                })
                .await
            }
        }
    }

    /// Takes `label` off `holder` (RemoveFromVersionId, no MoveToVersionId).
    async fn remove_label(
        &self,
        client: &Client,
        name: &str,
        label: &str,
        holder: &str,
    ) -> ProviderResult<()> {
        let removed = client
            .update_secret_version_stage()
            .secret_id(name)
            .version_stage(label)
            .remove_from_version_id(holder)
            .send()
            .await
            .map_err(|e| sm_err("UpdateSecretVersionStage", name, e));
        match removed {
            Ok(_) => Ok(()),
            Err(e) => {
                self.settled(client, name, e, |d| {
                    !stages_of(d, holder).iter().any(|s| s == label)
                })
                .await
            }
        }
    }

    /// A label move refused with `err` may already have happened: the SDK retries a call
    /// whose answer was lost (a reset, an attempt timed out after the request took
    /// effect), and the retry, naming the version the label has left, is refused
    /// (InvalidParameterException "Version stage AWSCURRENT not found in version …"). Done
    /// when DescribeSecret shows the labels as the call wanted (`done`); else `err`.
    async fn settled(
        &self,
        client: &Client,
        name: &str,
        err: ProviderError,
        done: impl Fn(&DescribeSecretOutput) -> bool,
    ) -> ProviderResult<()> {
        match self.describe(client, name).await {
            Ok(d) if done(&d) => {
                tracing::debug!(
                    secret = name,
                    "label move refused but already done (a retry after a lost answer): {err}"
                );
                Ok(())
            }
            _ => Err(err),
        }
    }
}

/// The string value of `field` in a JSON document.
pub(crate) fn field_of(doc: &SecretString, field: &str) -> Option<SecretString> {
    let mut m = parse_object(doc)?;
    let v = match m.get(field) {
        Some(Value::String(s)) => Some(SecretString::from(s.clone())),
        _ => None,
    };
    wipe_map(&mut m);
    v
}

/// Whether two documents agree on every field but `fields`.
fn same_but(a: &SecretString, b: &SecretString, fields: &[&str]) -> bool {
    match (parse_object(a), parse_object(b)) {
        (Some(mut x), Some(mut y)) => {
            for field in fields {
                let (mut fx, mut fy) = (x.remove(*field), y.remove(*field));
                for v in [&mut fx, &mut fy].into_iter().flatten() {
                    wipe(v);
                }
            }
            let same = x == y;
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

/// Checks the labels after a promotion: AWSCURRENT on `promoted` alone, AWSPENDING off
/// `version`.
fn check_promoted(
    name: &str,
    after: &DescribeSecretOutput,
    version: &str,
    promoted: &str,
) -> ProviderResult<()> {
    let holders = after
        .version_ids_to_stages()
        .map(|m| {
            m.values()
                .filter(|s| s.iter().any(|x| x == AWSCURRENT))
                .count()
        })
        .unwrap_or(0);
    let current_ok = holders == 1 && stages_of(after, promoted).iter().any(|s| s == AWSCURRENT);
    let pending_gone = !stages_of(after, version).iter().any(|s| s == AWSPENDING);
    if current_ok && pending_gone {
        return Ok(());
    }
    Err(ProviderError::Server {
        provider: SECRETS_MANAGER.into(),
        status: 0,
        message: format!(
            "{name}: after promoting, AWSCURRENT is on {} and version {version} has stages {:?}; retry",
            holder_of(after, AWSCURRENT).unwrap_or_else(|| "no version".into()),
            stages_of(after, version)
        ),
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
    /// [`SecretStore::stage_version`] with one value.
    async fn stage(
        &self,
        loc: &Location,
        value: &SecretString,
        token: &str,
    ) -> ProviderResult<String> {
        let set = [(loc.clone(), value.clone())];
        self.stage_version(loc, None, &set, &[], token).await
    }

    /// DescribeSecret: `AWSPENDING` on a version that is not `AWSCURRENT` (a rotation in
    /// progress or stuck: "If the AWSPENDING staging label is present but not attached to the
    /// same version as AWSCURRENT, then any later invocation of RotateSecret assumes that a
    /// previous rotation request is still in progress", Secrets Manager API reference,
    /// RotateSecret), with its CreatedDate from ListSecretVersionIds; RotationEnabled,
    /// RotationLambdaARN, LastRotatedDate and NextRotationDate.
    async fn inspect(&self, secret: &Location) -> ProviderResult<PendingCheck> {
        let client = self.client(secret);
        let name = secret.name.as_str();
        let d = self.describe(&client, name).await?;
        let current = holder_of(&d, AWSCURRENT);
        let pending = holder_of(&d, AWSPENDING).filter(|p| Some(p) != current.as_ref());
        let pending = match pending {
            None => None,
            Some(version) => {
                let created = self.created(&client, name, &version).await?;
                Some(PendingVersion { version, created })
            }
        };
        Ok(PendingCheck {
            pending,
            rotation_enabled: d.rotation_enabled().unwrap_or(false),
            rotation_lambda: d.rotation_lambda_arn().map(str::to_string),
            last_rotated: d.last_rotated_date().and_then(to_chrono),
            next_rotation: d.next_rotation_date().and_then(to_chrono),
        })
    }

    /// One PutSecretValue with `VersionStages=[AWSPENDING]` and `ClientRequestToken=token`
    /// (the token becomes the version id; the label leaves any other version, so there is
    /// never a second pending version). The document: `base` (breachbook's pending version)
    /// or AWSCURRENT, each location of `set` written into it (a field, or a whole value),
    /// each field of `restore` set back to AWSCURRENT's. A retry finds the version already
    /// there and returns it without writing; a token already used for other values is
    /// refused.
    async fn stage_version(
        &self,
        secret: &Location,
        base: Option<&str>,
        set: &[(Location, SecretString)],
        restore: &[Location],
        token: &str,
    ) -> ProviderResult<String> {
        let _writer = self.writer(secret).await;
        let client = self.client(secret);
        let name = secret.name.as_str();
        match self.read(&client, name, Some(token)).await {
            Ok(existing) => {
                let all = set.iter().all(|(loc, v)| Self::holds(loc, &existing, v));
                return if all {
                    tracing::debug!(secret = name, version = token, "already staged");
                    Ok(token.to_string())
                } else {
                    Err(ProviderError::Validation {
                        provider: SECRETS_MANAGER.into(),
                        message: format!(
                            "{name}: version {token} already holds other values; use one token per set of new keys"
                        ),
                    })
                };
            }
            Err(ProviderError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut doc = match base {
            Some(b) => self.read(&client, name, Some(b)).await?,
            None => self.read(&client, name, None).await?,
        };
        if !restore.is_empty() {
            let current = self.read(&client, name, None).await?;
            for loc in restore {
                doc = restore_field(loc, &doc, &current)?;
            }
        }
        for (loc, value) in set {
            doc = Self::compose(loc, Some(&doc), value)?;
        }
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
        tracing::info!(secret = name, version = %version, keys = set.len(), "staged as AWSPENDING");
        Ok(version)
    }

    /// GetSecretValue by version id; the location's field when it has one.
    async fn read_version(&self, loc: &Location, version: &str) -> ProviderResult<SecretString> {
        let mut v = self.read_fields(std::slice::from_ref(loc), version).await?;
        v.pop().ok_or_else(|| ProviderError::NotFound {
            provider: SECRETS_MANAGER.into(),
            what: format!("version {version} of {}", loc.name),
        })
    }

    /// One GetSecretValue by version id; each location's field (or the whole value).
    async fn read_fields(
        &self,
        locs: &[Location],
        version: &str,
    ) -> ProviderResult<Vec<SecretString>> {
        let Some(first) = locs.first() else {
            return Ok(Vec::new());
        };
        let client = self.client(first);
        let doc = self.read(&client, &first.name, Some(version)).await?;
        locs.iter()
            .map(|loc| match &loc.field {
                None => Ok(doc.clone()),
                Some(f) => field_of(&doc, f).ok_or_else(|| ProviderError::NotFound {
                    provider: SECRETS_MANAGER.into(),
                    what: format!("field {f} in version {version} of {}", loc.name),
                }),
            })
            .collect()
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

    /// [`SecretStore::promote_version`] for one location.
    async fn promote(&self, loc: &Location, version: &str) -> ProviderResult<DateTime<Utc>> {
        self.promote_version(std::slice::from_ref(loc), version)
            .await
    }

    /// Moves AWSCURRENT to `version` (the old current becomes AWSPREVIOUS) and takes
    /// AWSPENDING off it, once for every field of `locs`, then checks the labels with
    /// DescribeSecret and returns the secret's LastChangedDate. Promoting a version that is
    /// already current only tidies AWSPENDING. Only a version DescribeSecret lists is
    /// promoted (AWS drops a version without labels from it).
    ///
    /// AWSCURRENT only ever moves with UpdateSecretVersionStage naming the version it leaves,
    /// so a change made by someone else since DescribeSecret makes the move fail instead of
    /// being overwritten.
    ///
    /// For JSON fields: if another field of the secret changed since `version` was staged (a
    /// copy of another key written there since), moving the label would bring that field
    /// back to its old value. Instead the current document with these fields set is written
    /// as a new version (label `BREACHBOOK_REBASED`, token derived from both version ids so a
    /// retry does not write twice), AWSCURRENT moves to it, and the label is removed.
    async fn promote_version(
        &self,
        locs: &[Location],
        version: &str,
    ) -> ProviderResult<DateTime<Utc>> {
        let Some(first) = locs.first() else {
            return Err(ProviderError::Validation {
                provider: SECRETS_MANAGER.into(),
                message: "nothing to promote".into(),
            });
        };
        let _writer = self.writer(first).await;
        let client = self.client(first);
        let name = first.name.as_str();
        let before = self.describe(&client, name).await?;
        let known = before
            .version_ids_to_stages()
            .is_some_and(|m| m.contains_key(version));
        if !known {
            return Err(ProviderError::NotFound {
                provider: SECRETS_MANAGER.into(),
                what: format!(
                    "version {version} of {name} among its labelled versions (another pending version may have taken its label: stage again)"
                ),
            });
        }
        let current = holder_of(&before, AWSCURRENT);
        let fields: Vec<&str> = locs.iter().filter_map(|l| l.field.as_deref()).collect();
        let whole = locs.iter().any(|l| l.field.is_none());
        let (promoted, rebased) = match &current {
            Some(cur) if cur == version => (version.to_string(), false),
            Some(cur) if !whole && !fields.is_empty() => {
                self.promote_fields(&client, name, &fields, version, cur)
                    .await?
            }
            cur => {
                self.move_current(&client, name, version, cur.as_deref())
                    .await?;
                (version.to_string(), false)
            }
        };
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
            self.remove_label(&client, name, label, holder).await?;
        }
        let after = self.describe(&client, name).await?;
        check_promoted(name, &after, version, &promoted)?;
        tracing::info!(secret = name, version = %promoted, keys = locs.len(), "promoted to AWSCURRENT");
        Ok(last_changed(&after))
    }

    /// UpdateSecretVersionStage taking AWSPENDING off `version` (RemoveFromVersionId, no
    /// MoveToVersionId: "To remove a label from a version, then do not specify this
    /// parameter", API reference), when it still holds it.
    async fn unstage(&self, secret: &Location, version: &str) -> ProviderResult<()> {
        let _writer = self.writer(secret).await;
        let client = self.client(secret);
        let name = secret.name.as_str();
        let d = self.describe(&client, name).await?;
        if !stages_of(&d, version).iter().any(|s| s == AWSPENDING) {
            return Ok(());
        }
        self.remove_label(&client, name, AWSPENDING, version)
            .await?;
        tracing::info!(
            secret = name,
            version,
            "took AWSPENDING off breachbook's version"
        );
        Ok(())
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

/// `doc` with `loc`'s field set back to its value in `current` (taken out when `current`
/// has none); a whole value goes back to `current`.
pub(crate) fn restore_field(
    loc: &Location,
    doc: &SecretString,
    current: &SecretString,
) -> ProviderResult<SecretString> {
    let Some(f) = &loc.field else {
        return Ok(current.clone());
    };
    let Some(mut d) = parse_object(doc) else {
        return Ok(current.clone());
    };
    let mut back = parse_object(current).and_then(|mut c| {
        let v = c.remove(f);
        wipe_map(&mut c);
        v
    });
    match back.take() {
        Some(v) => {
            if let Some(mut old) = d.insert(f.clone(), v) {
                wipe(&mut old);
            }
        }
        None => {
            if let Some(mut old) = d.remove(f) {
                wipe(&mut old);
            }
        }
    }
    to_secret(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::model::LocationKind;

    fn loc(field: Option<&str>) -> Location {
        Location {
            kind: LocationKind::SecretsManager,
            name: "prod/ai/keys".into(),
            field: field.map(str::to_string),
            region: None,
            account: None,
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
        assert!(same_but(&a, &b, &["A"]));
        assert!(!same_but(&a, &b, &["B"]));
        assert!(same_but(&a, &b, &["A", "B"]));
        assert!(rebase_token("v1", "v2").len() >= 32);
    }
}
