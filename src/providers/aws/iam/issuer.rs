//! The IAM issuer: mints, tests, deactivates and deletes access keys, ends the sessions a
//! revoked key leaves working, finds and deletes keys an interrupted mint left, and reads
//! usage (GetAccessKeyLastUsed, CloudTrail).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_iam::Client as IamClient;
use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::types::StatusType;
use aws_sdk_sts::config::Credentials;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{KeyInfo, KeyPair, date, last_used, list_keys, user_of};
use crate::incident::model::{Credential, KeyGeneration, UsageSample, mask};
use crate::incident::ports::{
    Clock, KeyIssuer, Liveness, NewKey, ProviderError, ProviderResult, StrayKey, WallClock,
};
use crate::incident::rules::SESSION_DENY_POLICY;
use crate::providers::aws::cloudtrail::{CloudTrailUsage, floor_minute};
use crate::providers::aws::{Aws, IAM, STS, map_sdk_error, with_context};

/// How much earlier than breachbook's journaled intent (this machine's clock) IAM may stamp
/// a key (`CreateDate`, AWS's clock) and it still be taken for one that mint made: five
/// minutes, the skew AWS allows a signed request ("a request must reach AWS within five
/// minutes of the time stamp in the request", IAM User Guide, AWS Signature Version 4 for API
/// requests, <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_aws-signing.html>).
/// The SDK corrects a larger skew for signing; on such a machine a stray made just after the
/// intent can be missed, and the two-key limit then stops the next mint and names the key.
pub const STRAY_CLOCK_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Default attempts of [`IamIssuer::verify`] while a new key propagates.
const DEFAULT_VERIFY_ATTEMPTS: u32 = 5;
/// Default wait between those attempts (5 attempts 2.5 s apart: about 10 s).
const DEFAULT_VERIFY_DELAY: Duration = Duration::from_millis(2500);

/// Mints, tests, deactivates and deletes IAM access keys.
///
/// IAM has no idempotency token and allows two keys per user, so [`KeyIssuer::issue`] lists
/// the user's keys first and, with two present, mints nothing: with an inactive key other
/// than the exposed one it answers `NeedsRoom` naming that key, and the engine may then,
/// after the operator's typed confirmation, call [`KeyIssuer::make_room`]; with two active
/// keys it answers `LimitExceeded` with the plan, for a person to decide.
pub struct IamIssuer {
    aws: Aws,
    client: IamClient,
    /// For CreateAccessKey only: no SDK retries. A mint has no idempotency token, and a
    /// retry after a lost response mints a second key; the engine reconciles instead.
    mint_client: IamClient,
    /// One writer per user of the session-deny policy (read, compare, write).
    session_writers: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    cloudtrail: Option<CloudTrailUsage>,
    verify_attempts: u32,
    verify_delay: Duration,
    /// Waits between verify attempts go through it.
    clock: Arc<dyn Clock>,
}

impl IamIssuer {
    /// An issuer using `aws`'s default region (IAM is global).
    pub fn new(aws: &Aws) -> Self {
        let mint_conf = aws.iam_conf().retry_config(RetryConfig::disabled()).build();
        IamIssuer {
            aws: aws.clone(),
            client: aws.iam(),
            mint_client: IamClient::from_conf(mint_conf),
            session_writers: std::sync::Mutex::new(HashMap::new()),
            cloudtrail: None,
            verify_attempts: DEFAULT_VERIFY_ATTEMPTS,
            verify_delay: DEFAULT_VERIFY_DELAY,
            clock: Arc::new(WallClock),
        }
    }

    /// Waits on `clock` (the incident's; the wall clock by default).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Adds CloudTrail event history to [`KeyIssuer::usage`].
    pub fn with_cloudtrail(mut self, cloudtrail: CloudTrailUsage) -> Self {
        self.cloudtrail = Some(cloudtrail);
        self
    }

    /// How long [`KeyIssuer::verify`] keeps trying a refused key: `attempts` tries `delay`
    /// apart (default 5 tries 2.5 s apart). A new IAM key takes a few seconds to work
    /// everywhere in AWS, so a refusal right after minting is not final.
    pub fn with_propagation_wait(mut self, attempts: u32, delay: Duration) -> Self {
        self.verify_attempts = attempts.max(1);
        self.verify_delay = delay;
        self
    }

    /// Deletes `key_id` of `old`'s user to make room for a replacement, only if it is
    /// Inactive and is not `old` itself (the exposed key is deleted by the delete step, after
    /// revocation and a typed confirmation). Call it only after asking the operator.
    pub async fn delete_inactive_for_room(
        &self,
        old: &Credential,
        key_id: &str,
    ) -> ProviderResult<()> {
        let user = user_of(old);
        if key_id == old.key_id {
            return Err(ProviderError::Validation {
                provider: IAM.into(),
                message: format!(
                    "{key_id} is the exposed key itself: it is deleted only by the delete step, after revocation and a typed confirmation"
                ),
            });
        }
        let keys = list_keys(&self.client, &user).await?;
        let Some(k) = keys.iter().find(|k| k.id == key_id) else {
            return Err(ProviderError::NotFound {
                provider: IAM.into(),
                what: format!("access key {key_id} of IAM user {user}"),
            });
        };
        if k.active {
            return Err(ProviderError::Validation {
                provider: IAM.into(),
                message: format!(
                    "access key {key_id} of IAM user {user} is active: deactivate it first if nothing uses it; breachbook deletes only inactive keys to make room"
                ),
            });
        }
        self.delete_key(&user, key_id).await?;
        tracing::info!(user = %user, key = key_id, "deleted an inactive key to make room");
        Ok(())
    }

    async fn delete_key(&self, user: &str, key_id: &str) -> ProviderResult<()> {
        match self
            .client
            .delete_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match map_sdk_error(IAM, "DeleteAccessKey", e) {
                // Already gone.
                ProviderError::NotFound { .. } => Ok(()),
                e => Err(with_context(e, key_id)),
            },
        }
    }

    /// Waits for, and holds, the right to write `user`'s session-deny policy.
    async fn session_writer(&self, user: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut writers = match self.session_writers.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            writers.entry(user.to_string()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// The time before which `user`'s session-deny policy refuses sessions, if it has one.
    async fn sessions_denied_before(&self, user: &str) -> ProviderResult<Option<DateTime<Utc>>> {
        let got = self
            .client
            .get_user_policy()
            .user_name(user)
            .policy_name(SESSION_DENY_POLICY)
            .send()
            .await;
        match got {
            Ok(out) => Ok(deny_time(out.policy_document())),
            Err(e) => match map_sdk_error(IAM, "GetUserPolicy", e) {
                ProviderError::NotFound { .. } => Ok(None),
                e => Err(with_context(e, user)),
            },
        }
    }

    /// The plan when `user` already has two keys.
    fn room_plan(user: &str, old: &str, keys: &[KeyInfo]) -> String {
        let others: Vec<&KeyInfo> = keys.iter().filter(|k| k.id != old).collect();
        if let Some(k) = others.iter().find(|k| !k.active) {
            format!(
                "IAM user {user} already has 2 access keys (the most IAM allows). Delete the inactive key {} (created {}), not the exposed key {old}, to make room; then mint again.",
                k.id,
                date(k.created)
            )
        } else if let Some(k) = others.first() {
            format!(
                "IAM user {user} already has 2 active access keys: {old} (the exposed one) and {} (created {}). If {} was minted by an interrupted rotation, its secret was never stored and is lost: deactivate it (aws iam update-access-key --user-name {user} --access-key-id {} --status Inactive), delete it to make room, then mint again. If something uses it, rotate it first.",
                k.id,
                date(k.created),
                k.id,
                k.id
            )
        } else {
            format!("IAM user {user} already has 2 access keys; delete one to make room")
        }
    }
}

#[async_trait]
impl KeyIssuer for IamIssuer {
    /// ListAccessKeys, then CreateAccessKey when the user has room. `token` is not used:
    /// IAM has no idempotency token, and a retry after a crash finds two keys and gets the
    /// plan instead of a third key.
    async fn issue(&self, old: &Credential, _token: &str) -> ProviderResult<NewKey> {
        let user = user_of(old);
        if old.meta.get("out_of_scope").map(String::as_str) == Some("true") {
            return Err(ProviderError::Validation {
                provider: IAM.into(),
                message: format!(
                    "the key pair {} belongs to IAM user {user}, who is not in the runbook's IAM scope: add the user to scope.iam.users (and stored_in) to rotate it here, or rotate it by hand and skip this row",
                    old.hint
                ),
            });
        }
        let keys = list_keys(&self.client, &user).await?;
        if keys.len() >= 2 {
            let plan = Self::room_plan(&user, &old.key_id, &keys);
            // An inactive key other than the exposed one can go, once the operator agrees.
            if let Some(k) = keys.iter().find(|k| k.id != old.key_id && !k.active) {
                return Err(ProviderError::NeedsRoom {
                    provider: IAM.into(),
                    key_id: k.id.clone(),
                    plan,
                });
            }
            return Err(ProviderError::LimitExceeded {
                provider: IAM.into(),
                message: plan,
            });
        }
        let mut out = self
            .mint_client
            .create_access_key()
            .user_name(&user)
            .send()
            .await
            .map_err(|e| with_context(map_sdk_error(IAM, "CreateAccessKey", e), &user))?;
        let Some(mut key) = out.access_key.take() else {
            return Err(ProviderError::Server {
                provider: IAM.into(),
                status: 200,
                message: format!("CreateAccessKey for {user} answered without a key"),
            });
        };
        let pair = KeyPair {
            access_key_id: key.access_key_id.clone(),
            secret_access_key: std::mem::take(&mut key.secret_access_key),
        };
        drop(key);
        let json = serde_json::to_string(&pair).map_err(|e| ProviderError::Validation {
            provider: IAM.into(),
            message: format!("could not write the key pair: {e}"),
        })?;
        let key_id = pair.access_key_id.clone();
        drop(pair);
        tracing::info!(user = %user, key = %key_id, "minted a new access key");
        Ok(NewKey {
            hint: mask(&key_id),
            key_id,
            secret: SecretString::from(json),
        })
    }

    /// STS GetCallerIdentity signed with the key pair in `key` (the JSON document). Alive on
    /// success; a refusal (InvalidClientTokenId, SignatureDoesNotMatch, AccessDenied…) is
    /// tried again while the key may still be propagating (see
    /// [`IamIssuer::with_propagation_wait`]) before answering Dead.
    async fn verify(&self, _cred: &Credential, key: &SecretString) -> ProviderResult<Liveness> {
        let mut pair: KeyPair =
            serde_json::from_str(key.expose_secret()).map_err(|_| ProviderError::Validation {
                provider: IAM.into(),
                message: "the value is not an IAM key pair document ({\"AccessKeyId\", \"SecretAccessKey\"})".into(),
            })?;
        let key_id = pair.access_key_id.clone();
        let creds = Credentials::new(
            key_id.clone(),
            std::mem::take(&mut pair.secret_access_key),
            None,
            None,
            "breachbook-verify",
        );
        drop(pair);
        let conf = self.aws.sts_conf().credentials_provider(creds).build();
        let client = aws_sdk_sts::Client::from_conf(conf);
        let mut attempt = 1;
        loop {
            match client.get_caller_identity().send().await {
                Ok(_) => return Ok(Liveness::Alive),
                Err(e) => match map_sdk_error(STS, "GetCallerIdentity", e) {
                    ProviderError::Auth { message, .. } => {
                        if attempt >= self.verify_attempts {
                            tracing::info!(key = %key_id, "new key refused: {message}");
                            return Ok(Liveness::Dead);
                        }
                        tracing::debug!(key = %key_id, attempt, "new key refused, may be propagating: {message}");
                        self.clock.sleep(self.verify_delay).await;
                        attempt += 1;
                    }
                    e => return Err(e),
                },
            }
        }
    }

    /// ListAccessKeys: the key missing or Inactive is Dead, Active is Alive.
    async fn old_key_liveness(&self, old: &Credential) -> ProviderResult<Liveness> {
        let user = user_of(old);
        let keys = match list_keys(&self.client, &user).await {
            Ok(k) => k,
            // The user is gone, and its keys with it.
            Err(ProviderError::NotFound { .. }) => return Ok(Liveness::Dead),
            Err(e) => return Err(e),
        };
        Ok(if keys.iter().any(|k| k.id == old.key_id && k.active) {
            Liveness::Alive
        } else {
            Liveness::Dead
        })
    }

    /// UpdateAccessKey to Inactive (undoable: the key can be reactivated).
    async fn revoke(&self, old: &Credential) -> ProviderResult<()> {
        let user = user_of(old);
        self.client
            .update_access_key()
            .user_name(&user)
            .access_key_id(&old.key_id)
            .status(StatusType::Inactive)
            .send()
            .await
            .map_err(|e| with_context(map_sdk_error(IAM, "UpdateAccessKey", e), &old.key_id))?;
        tracing::info!(user = %user, key = %old.key_id, "deactivated");
        Ok(())
    }

    /// DeleteAccessKey; a key already gone is fine.
    async fn delete(&self, old: &Credential) -> ProviderResult<()> {
        let user = user_of(old);
        self.delete_key(&user, &old.key_id).await?;
        tracing::info!(user = %user, key = %old.key_id, "deleted");
        Ok(())
    }

    /// Deletes the inactive key `key_id` (never the exposed key, never an active one).
    async fn make_room(&self, old: &Credential, key_id: &str) -> ProviderResult<()> {
        self.delete_inactive_for_room(old, key_id).await
    }

    /// ListAccessKeys of the old key's user: the keys created at or after `since` (less
    /// `STRAY_CLOCK_MARGIN`, five minutes) that are neither the exposed key nor one of `known`. IAM has
    /// no client token, so these are the keys an interrupted CreateAccessKey may have made:
    /// their secret was in the lost response, and nobody holds it.
    async fn find_strays(
        &self,
        old: &Credential,
        _token: &str,
        since: DateTime<Utc>,
        known: &[String],
    ) -> ProviderResult<Vec<StrayKey>> {
        let user = user_of(old);
        let margin = TimeDelta::from_std(STRAY_CLOCK_MARGIN).unwrap_or_default();
        let keys = match list_keys(&self.client, &user).await {
            Ok(k) => k,
            Err(ProviderError::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(keys
            .into_iter()
            .filter(|k| k.id != old.key_id && !known.contains(&k.id))
            .filter(|k| k.created.is_some_and(|c| c >= since - margin))
            .map(|k| StrayKey {
                what: format!(
                    "access key {} of IAM user {user}, {}, created {}",
                    mask(&k.id),
                    if k.active { "active" } else { "inactive" },
                    date(k.created)
                ),
                key_id: k.id,
                created: k.created,
            })
            .collect())
    }

    /// UpdateAccessKey to Inactive, then DeleteAccessKey; a key already gone is fine. Never
    /// the exposed key.
    async fn discard_stray(&self, old: &Credential, stray: &StrayKey) -> ProviderResult<()> {
        let user = user_of(old);
        if stray.key_id == old.key_id {
            return Err(ProviderError::Validation {
                provider: IAM.into(),
                message: format!(
                    "{} is the exposed key itself: it is deleted only by the delete step",
                    stray.key_id
                ),
            });
        }
        match self
            .client
            .update_access_key()
            .user_name(&user)
            .access_key_id(&stray.key_id)
            .status(StatusType::Inactive)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) => match map_sdk_error(IAM, "UpdateAccessKey", e) {
                ProviderError::NotFound { .. } => return Ok(()),
                e => return Err(with_context(e, &stray.key_id)),
            },
        }
        self.delete_key(&user, &stray.key_id).await?;
        tracing::info!(user = %user, key = %stray.key_id, "deleted a key nobody holds");
        Ok(())
    }

    /// PutUserPolicy of the inline policy [`SESSION_DENY_POLICY`] on the old key's user:
    /// AWS's documented deny for temporary credentials issued before a time ("Denying access
    /// to temporary security credentials issued before a specific time", IAM User Guide):
    /// `Deny` `*` on `*` when `aws:TokenIssueTime` is `DateLessThan` `before` (rounded up to
    /// the second). Deactivating a key does not end the sessions made from it (GetSessionToken
    /// credentials live up to 36 hours); this does, and requests signed with the user's
    /// long-term keys are not affected. A policy already denying up to a later time is kept.
    async fn end_sessions(
        &self,
        old: &Credential,
        before: DateTime<Utc>,
    ) -> ProviderResult<Option<String>> {
        let user = user_of(old);
        let _writer = self.session_writer(&user).await;
        let before = ceil_second(before);
        let in_place = match self.sessions_denied_before(&user).await {
            Ok(t) => t,
            Err(ProviderError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let until = match in_place {
            Some(t) if t >= before => t,
            _ => {
                let doc = deny_document(before);
                let put = self
                    .client
                    .put_user_policy()
                    .user_name(&user)
                    .policy_name(SESSION_DENY_POLICY)
                    .policy_document(doc)
                    .send()
                    .await;
                if let Err(e) = put {
                    return match map_sdk_error(IAM, "PutUserPolicy", e) {
                        // The user is gone, and its sessions with it.
                        ProviderError::NotFound { .. } => Ok(None),
                        e => Err(with_context(e, &user)),
                    };
                }
                tracing::info!(user = %user, before = %before, "denied the sessions issued before the revocation");
                before
            }
        };
        Ok(Some(format!(
            "inline policy {SESSION_DENY_POLICY} on IAM user {user} denies every request signed with temporary credentials issued before {} (aws:TokenIssueTime)",
            until.format("%Y-%m-%dT%H:%M:%SZ")
        )))
    }

    /// GetAccessKeyLastUsed as a coarse sample (one call in the minute of last use, from
    /// the service and region it names), merged with CloudTrail's calls per minute when a
    /// CloudTrail source is configured.
    async fn usage(
        &self,
        cred: &Credential,
        generation: KeyGeneration,
        new_key_id: Option<&str>,
        since: DateTime<Utc>,
    ) -> ProviderResult<Vec<UsageSample>> {
        let key = match generation {
            KeyGeneration::Old => Some(cred.key_id.as_str()),
            KeyGeneration::New => new_key_id,
        };
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            return Ok(Vec::new());
        };
        let mut samples = match &self.cloudtrail {
            Some(ct) => ct.calls_per_minute(key, since).await?,
            None => Vec::new(),
        };
        for s in &mut samples {
            s.credential = cred.id.clone();
            s.generation = generation;
        }
        let used = match last_used(&self.client, key).await {
            Ok(u) => u,
            Err(ProviderError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some((at, place)) = used
            && at >= since
        {
            let minute = floor_minute(at);
            if !samples.iter().any(|s| s.minute == minute) {
                samples.push(UsageSample {
                    credential: cred.id.clone(),
                    generation,
                    minute,
                    ok: 1,
                    denied: 0,
                    sources: vec![place],
                });
                samples.sort_by_key(|s| s.minute);
            }
        }
        Ok(samples)
    }
}

/// `t` rounded up to the next whole second (a session issued within `t`'s second is denied).
fn ceil_second(t: DateTime<Utc>) -> DateTime<Utc> {
    let floor = t.duration_trunc(TimeDelta::seconds(1)).unwrap_or(t);
    if floor == t {
        t
    } else {
        floor + TimeDelta::seconds(1)
    }
}

/// AWS's documented policy that denies every action to temporary credentials issued before
/// `before` (IAM User Guide, "Denying access to temporary security credentials issued before
/// a specific time"; `https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_disable-perms.html`).
fn deny_document(before: DateTime<Utc>) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "DateLessThan": {
                    "aws:TokenIssueTime": before.format("%Y-%m-%dT%H:%M:%SZ").to_string()
                }
            }
        }
    })
    .to_string()
}

/// The `aws:TokenIssueTime` a deny policy document refuses sessions before. GetUserPolicy
/// answers the document URL-encoded ("Policies returned by this operation are URL-encoded
/// compliant with RFC 3986", aws-sdk-iam 1.103.0 `src/operation/get_user_policy/builders.rs`);
/// an emulator may answer it plain.
fn deny_time(document: &str) -> Option<DateTime<Utc>> {
    let text = if document.trim_start().starts_with('{') {
        document.to_string()
    } else {
        percent_decode(document)?
    };
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let statements = match &v["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        s @ serde_json::Value::Object(_) => vec![s.clone()],
        _ => return None,
    };
    statements
        .iter()
        .filter(|s| s["Effect"] == "Deny")
        .filter_map(|s| s["Condition"]["DateLessThan"]["aws:TokenIssueTime"].as_str())
        .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .max()
}

/// RFC 3986 percent-decoding (`+` is kept: it is not a space in RFC 3986).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deny_policy_is_awss_documented_one_and_reads_back_encoded_or_not() {
        let t = DateTime::parse_from_rfc3339("2026-12-01T10:20:30.250Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let up = ceil_second(t);
        assert_eq!(up.to_rfc3339(), "2026-12-01T10:20:31+00:00");
        let doc = deny_document(up);
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap_or_default();
        assert_eq!(v["Statement"]["Effect"], "Deny");
        assert_eq!(v["Statement"]["Action"], "*");
        assert_eq!(
            v["Statement"]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2026-12-01T10:20:31Z"
        );
        assert_eq!(deny_time(&doc), Some(up));
        let encoded: String = doc
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        assert_eq!(deny_time(&encoded), Some(up));
        assert_eq!(deny_time("not a policy"), None);
    }

    fn key(id: &str, active: bool) -> KeyInfo {
        KeyInfo {
            id: id.into(),
            active,
            created: None,
        }
    }

    #[test]
    fn the_plan_names_the_inactive_key_not_the_old_one() {
        let plan = IamIssuer::room_plan(
            "svc",
            "AKIAEXAMPLEOLD00001",
            &[
                key("AKIAEXAMPLEOLD00001", false),
                key("AKIAEXAMPLEOTHER002", false),
            ],
        );
        assert!(
            plan.contains("Delete the inactive key AKIAEXAMPLEOTHER002"),
            "{plan}"
        );
        let plan = IamIssuer::room_plan(
            "svc",
            "AKIAEXAMPLEOLD00001",
            &[
                key("AKIAEXAMPLEOLD00001", true),
                key("AKIAEXAMPLEOTHER002", true),
            ],
        );
        assert!(plan.contains("2 active access keys"), "{plan}");
        assert!(plan.contains("deactivate it"), "{plan}");
    }

    mod sts {
        use std::error::Error;

        use wiremock::matchers::{body_string_contains, method};
        use wiremock::{Mock, MockServer, ResponseTemplate};

        use super::super::*;
        use crate::providers::aws::AwsOptions;

        const REFUSED: &str = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"#;
        const ACCEPTED: &str = r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/svc-deployer</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#;

        fn xml(status: u16, body: &str) -> ResponseTemplate {
            ResponseTemplate::new(status)
                .insert_header("content-type", "text/xml")
                .set_body_string(body)
        }

        async fn issuer(server: &MockServer) -> Result<IamIssuer, Box<dyn Error>> {
            let opts = AwsOptions {
                region: Some("us-east-1".into()),
                endpoint_url: Some(server.uri()),
                static_credentials: Some(("AKIAEXAMPLEOPERATOR1".into(), "fake".into())),
                ..Default::default()
            };
            let aws = Aws::load(&opts, &[]).await?;
            Ok(IamIssuer::new(&aws).with_propagation_wait(3, Duration::from_millis(20)))
        }

        fn cred() -> Credential {
            Credential {
                id: "aws-iam/svc-deployer/AKIAEXAMPLEOLDKEY01".into(),
                issuer: crate::runbook::schema::Issuer::AwsIam,
                key_id: "AKIAEXAMPLEOLDKEY01".into(),
                name: "svc-deployer".into(),
                hint: "AKI…0001".into(),
                created: None,
                last_used: None,
                locations: Vec::new(),
                exposed: true,
                exposure_reason: String::new(),
                fingerprint: None,
                meta: Default::default(),
            }
        }

        fn pair() -> SecretString {
            SecretString::from(
                r#"{"AccessKeyId":"AKIAEXAMPLENEWKEY01","SecretAccessKey":"fake-new-secret"}"#
                    .to_string(),
            )
        }

        #[tokio::test]
        async fn a_key_refused_on_every_try_is_dead() -> Result<(), Box<dyn Error>> {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(body_string_contains("Action=GetCallerIdentity"))
                .respond_with(xml(403, REFUSED))
                .mount(&server)
                .await;
            let issuer = issuer(&server).await?;
            assert_eq!(issuer.verify(&cred(), &pair()).await?, Liveness::Dead);
            let reqs = server.received_requests().await.unwrap_or_default();
            assert_eq!(reqs.len(), 3, "tried while the key may be propagating");
            let signed_with_new_key = reqs.iter().all(|r| {
                r.headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|a| a.contains("Credential=AKIAEXAMPLENEWKEY01/"))
            });
            assert!(
                signed_with_new_key,
                "signed with the new key, not the operator's"
            );
            Ok(())
        }

        #[tokio::test]
        async fn a_key_that_propagates_is_alive() -> Result<(), Box<dyn Error>> {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(xml(403, REFUSED))
                .up_to_n_times(2)
                .with_priority(1)
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .respond_with(xml(200, ACCEPTED))
                .with_priority(2)
                .mount(&server)
                .await;
            let issuer = issuer(&server).await?;
            assert_eq!(issuer.verify(&cred(), &pair()).await?, Liveness::Alive);
            Ok(())
        }
    }

    #[test]
    fn the_key_pair_document_has_the_stored_shape() {
        let pair = KeyPair {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "fake/secret".into(),
        };
        let text = serde_json::to_string(&pair).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"AccessKeyId":"AKIAEXAMPLE","SecretAccessKey":"fake/secret"}"#
        );
    }
}
