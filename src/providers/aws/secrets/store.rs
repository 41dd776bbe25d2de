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
use crate::incident::ports::{ProviderError, ProviderResult, SecretStore};
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

    /// Promotes the staged `version` of a JSON field while `cur` is current: already done
    /// through a rebased version (a retry), a plain label move when no other field changed
    /// since staging, else the current document with this field set written as a rebased
    /// version and made current. Returns the version now current and whether it was rebased.
    async fn promote_field(
        &self,
        client: &Client,
        loc: &Location,
        f: &str,
        version: &str,
        cur: &str,
    ) -> ProviderResult<(String, bool)> {
        let name = loc.name.as_str();
        let staged = self.read(client, name, Some(version)).await?;
        let now = self.read(client, name, Some(cur)).await?;
        let mine = field_of(&staged, f).ok_or_else(|| ProviderError::NotFound {
            provider: SECRETS_MANAGER.into(),
            what: format!("field {f} in version {version} of {name}"),
        })?;
        if field_of(&now, f).is_some_and(|v| v.expose_secret() == mine.expose_secret()) {
            // Already current through a rebased version (a retry).
            return Ok((cur.to_string(), false));
        }
        if same_but(&staged, &now, f) {
            self.move_current(client, name, version, Some(cur)).await?;
            return Ok((version.to_string(), false));
        }
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
        self.move_current(client, name, &token, Some(cur)).await?;
        tracing::info!(
            secret = name,
            staged = version,
            version = %token,
            "another field changed since staging: promoted the current document with this field set"
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
        let (promoted, rebased) = match (&loc.field, &current) {
            (_, Some(cur)) if cur == version => (version.to_string(), false),
            (Some(f), Some(cur)) => self.promote_field(&client, loc, f, version, cur).await?,
            (_, cur) => {
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
        check_promoted(name, &after, version, &promoted)?;
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
    use crate::incident::model::LocationKind;

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
}
