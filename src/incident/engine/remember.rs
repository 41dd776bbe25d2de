//! Every key value that crosses the engine's ports is remembered (in memory only) by the
//! process's [`known`](crate::incident::redact::known) registry, so it can be masked wherever
//! it appears later: command output, journal records, the log file. The engine wraps each
//! issuer and store of its provider set in these when it starts.
//!
//! A wrapper forwards every method of its port, defaults included. A method added to
//! `KeyIssuer` or `SecretStore` must be forwarded here too: one with a default body compiles
//! without it, and the wrapper would then answer with the default instead of the provider.
//!
//! Depends on the ports and the redactor.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::incident::model::{Credential, KeyGeneration, Location, UsageSample};
use crate::incident::ports::{
    KeyIssuer, Liveness, NewKey, PendingCheck, ProviderResult, ProviderSet, SecretStore, Spend,
    StrayKey,
};
use crate::incident::redact::known;

fn remember(value: &SecretString) {
    known().add(value.expose_secret());
}

/// A key's id, as its issuer names it: an identifier, never masked.
fn remember_id(key_id: &str) {
    known().add_id(key_id);
}

/// A provider set whose issuers and stores remember every value they hand over or take.
pub(super) fn remembering(mut providers: ProviderSet) -> ProviderSet {
    providers.issuers = providers
        .issuers
        .into_iter()
        .map(|(k, inner)| {
            let w: Arc<dyn KeyIssuer> = Arc::new(RememberingIssuer { inner });
            (k, w)
        })
        .collect();
    providers.stores = providers
        .stores
        .into_iter()
        .map(|(k, inner)| {
            let w: Arc<dyn SecretStore> = Arc::new(RememberingStore { inner });
            (k, w)
        })
        .collect();
    providers
}

struct RememberingIssuer {
    inner: Arc<dyn KeyIssuer>,
}

#[async_trait]
impl KeyIssuer for RememberingIssuer {
    async fn issue(&self, old: &Credential, token: &str) -> ProviderResult<NewKey> {
        remember_id(&old.key_id);
        let key = self.inner.issue(old, token).await?;
        remember_id(&key.key_id);
        remember(&key.secret);
        Ok(key)
    }
    async fn verify(&self, cred: &Credential, key: &SecretString) -> ProviderResult<Liveness> {
        remember_id(&cred.key_id);
        remember(key);
        self.inner.verify(cred, key).await
    }
    async fn old_key_liveness(&self, old: &Credential) -> ProviderResult<Liveness> {
        self.inner.old_key_liveness(old).await
    }
    async fn revoke(&self, old: &Credential) -> ProviderResult<()> {
        self.inner.revoke(old).await
    }
    async fn delete(&self, old: &Credential) -> ProviderResult<()> {
        self.inner.delete(old).await
    }
    async fn make_room(&self, old: &Credential, key_id: &str) -> ProviderResult<()> {
        self.inner.make_room(old, key_id).await
    }
    async fn find_strays(
        &self,
        old: &Credential,
        token: &str,
        since: DateTime<Utc>,
        known: &[String],
    ) -> ProviderResult<Vec<StrayKey>> {
        self.inner.find_strays(old, token, since, known).await
    }
    async fn discard_stray(&self, old: &Credential, stray: &StrayKey) -> ProviderResult<()> {
        self.inner.discard_stray(old, stray).await
    }
    async fn identify(&self, found: &mut Credential, value: &SecretString) -> ProviderResult<()> {
        remember(value);
        self.inner.identify(found, value).await
    }
    async fn spend(
        &self,
        cred: &Credential,
        generation: KeyGeneration,
        new_key_id: Option<&str>,
        since: DateTime<Utc>,
    ) -> ProviderResult<Option<Spend>> {
        self.inner.spend(cred, generation, new_key_id, since).await
    }
    fn usage_blind_spots(&self) -> Option<String> {
        self.inner.usage_blind_spots()
    }
    async fn end_sessions(
        &self,
        old: &Credential,
        before: DateTime<Utc>,
    ) -> ProviderResult<Option<String>> {
        self.inner.end_sessions(old, before).await
    }
    async fn usage(
        &self,
        cred: &Credential,
        generation: KeyGeneration,
        new_key_id: Option<&str>,
        since: DateTime<Utc>,
    ) -> ProviderResult<Vec<UsageSample>> {
        self.inner.usage(cred, generation, new_key_id, since).await
    }
}

struct RememberingStore {
    inner: Arc<dyn SecretStore>,
}

#[async_trait]
impl SecretStore for RememberingStore {
    async fn stage(
        &self,
        loc: &Location,
        value: &SecretString,
        token: &str,
    ) -> ProviderResult<String> {
        remember(value);
        self.inner.stage(loc, value, token).await
    }
    async fn read_version(&self, loc: &Location, version: &str) -> ProviderResult<SecretString> {
        let value = self.inner.read_version(loc, version).await?;
        remember(&value);
        Ok(value)
    }
    async fn promote(&self, loc: &Location, version: &str) -> ProviderResult<DateTime<Utc>> {
        self.inner.promote(loc, version).await
    }
    async fn inspect(&self, secret: &Location) -> ProviderResult<PendingCheck> {
        self.inner.inspect(secret).await
    }
    async fn stage_version(
        &self,
        secret: &Location,
        base: Option<&str>,
        set: &[(Location, SecretString)],
        restore: &[Location],
        token: &str,
    ) -> ProviderResult<String> {
        for (_, value) in set {
            remember(value);
        }
        self.inner
            .stage_version(secret, base, set, restore, token)
            .await
    }
    async fn read_fields(
        &self,
        locs: &[Location],
        version: &str,
    ) -> ProviderResult<Vec<SecretString>> {
        let values = self.inner.read_fields(locs, version).await?;
        values.iter().for_each(remember);
        Ok(values)
    }
    async fn promote_version(
        &self,
        locs: &[Location],
        version: &str,
    ) -> ProviderResult<DateTime<Utc>> {
        self.inner.promote_version(locs, version).await
    }
    async fn unstage(&self, secret: &Location, version: &str) -> ProviderResult<()> {
        self.inner.unstage(secret, version).await
    }
    async fn read_old(&self, loc: &Location, new_version: &str) -> ProviderResult<SecretString> {
        let value = self.inner.read_old(loc, new_version).await?;
        remember(&value);
        Ok(value)
    }
    async fn replace(&self, loc: &Location, value: &SecretString) -> ProviderResult<DateTime<Utc>> {
        remember(value);
        self.inner.replace(loc, value).await
    }
}

#[cfg(test)]
mod tests {
    //! A port method the wrappers do not forward is answered by the trait's default, and the
    //! provider is never asked: after one such merge, foreign pending versions went unseen
    //! and revoked IAM users kept their sessions. Each method here must reach the inner port.
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::sync::Mutex;

    use super::*;
    use crate::incident::model::LocationKind;
    use crate::incident::ports::ProviderError;

    #[derive(Default)]
    struct Inner {
        calls: Mutex<Vec<&'static str>>,
    }

    impl Inner {
        fn called(&self, name: &'static str) -> ProviderError {
            self.calls.lock().unwrap().push(name);
            ProviderError::Validation {
                provider: "inner".into(),
                message: name.into(),
            }
        }
    }

    #[async_trait]
    impl KeyIssuer for Inner {
        async fn issue(&self, _: &Credential, _: &str) -> ProviderResult<NewKey> {
            Err(self.called("issue"))
        }
        async fn verify(&self, _: &Credential, _: &SecretString) -> ProviderResult<Liveness> {
            Err(self.called("verify"))
        }
        async fn old_key_liveness(&self, _: &Credential) -> ProviderResult<Liveness> {
            Err(self.called("old_key_liveness"))
        }
        async fn revoke(&self, _: &Credential) -> ProviderResult<()> {
            Err(self.called("revoke"))
        }
        async fn delete(&self, _: &Credential) -> ProviderResult<()> {
            Err(self.called("delete"))
        }
        async fn make_room(&self, _: &Credential, _: &str) -> ProviderResult<()> {
            Err(self.called("make_room"))
        }
        async fn find_strays(
            &self,
            _: &Credential,
            _: &str,
            _: DateTime<Utc>,
            _: &[String],
        ) -> ProviderResult<Vec<StrayKey>> {
            Err(self.called("find_strays"))
        }
        async fn discard_stray(&self, _: &Credential, _: &StrayKey) -> ProviderResult<()> {
            Err(self.called("discard_stray"))
        }
        async fn identify(&self, _: &mut Credential, _: &SecretString) -> ProviderResult<()> {
            Err(self.called("identify"))
        }
        async fn spend(
            &self,
            _: &Credential,
            _: KeyGeneration,
            _: Option<&str>,
            _: DateTime<Utc>,
        ) -> ProviderResult<Option<Spend>> {
            Err(self.called("spend"))
        }
        fn usage_blind_spots(&self) -> Option<String> {
            self.calls.lock().unwrap().push("usage_blind_spots");
            None
        }
        async fn end_sessions(
            &self,
            _: &Credential,
            _: DateTime<Utc>,
        ) -> ProviderResult<Option<String>> {
            Err(self.called("end_sessions"))
        }
        async fn usage(
            &self,
            _: &Credential,
            _: KeyGeneration,
            _: Option<&str>,
            _: DateTime<Utc>,
        ) -> ProviderResult<Vec<UsageSample>> {
            Err(self.called("usage"))
        }
    }

    #[async_trait]
    impl SecretStore for Inner {
        async fn stage(&self, _: &Location, _: &SecretString, _: &str) -> ProviderResult<String> {
            Err(self.called("stage"))
        }
        async fn read_version(&self, _: &Location, _: &str) -> ProviderResult<SecretString> {
            Err(self.called("read_version"))
        }
        async fn promote(&self, _: &Location, _: &str) -> ProviderResult<DateTime<Utc>> {
            Err(self.called("promote"))
        }
        async fn read_old(&self, _: &Location, _: &str) -> ProviderResult<SecretString> {
            Err(self.called("read_old"))
        }
        async fn inspect(&self, _: &Location) -> ProviderResult<PendingCheck> {
            Err(self.called("inspect"))
        }
        async fn stage_version(
            &self,
            _: &Location,
            _: Option<&str>,
            _: &[(Location, SecretString)],
            _: &[Location],
            _: &str,
        ) -> ProviderResult<String> {
            Err(self.called("stage_version"))
        }
        async fn read_fields(&self, _: &[Location], _: &str) -> ProviderResult<Vec<SecretString>> {
            Err(self.called("read_fields"))
        }
        async fn promote_version(&self, _: &[Location], _: &str) -> ProviderResult<DateTime<Utc>> {
            Err(self.called("promote_version"))
        }
        async fn unstage(&self, _: &Location, _: &str) -> ProviderResult<()> {
            Err(self.called("unstage"))
        }
        async fn replace(&self, _: &Location, _: &SecretString) -> ProviderResult<DateTime<Utc>> {
            Err(self.called("replace"))
        }
    }

    fn cred() -> Credential {
        Credential {
            id: "aws-iam/svc/AKIAEXAMPLEOLDKEY01".into(),
            issuer: crate::runbook::schema::Issuer::AwsIam,
            key_id: "AKIAEXAMPLEOLDKEY01".into(),
            name: "svc".into(),
            hint: "AKI…EY01".into(),
            created: None,
            last_used: None,
            locations: Vec::new(),
            exposed: true,
            exposure_reason: String::new(),
            fingerprint: None,
            meta: Default::default(),
        }
    }

    fn loc() -> Location {
        Location {
            kind: LocationKind::SecretsManager,
            name: "prod/svc".into(),
            field: None,
            region: Some("us-east-1".into()),
            account: None,
            changed: None,
        }
    }

    #[tokio::test]
    async fn every_issuer_method_reaches_the_provider() {
        let inner = Arc::new(Inner::default());
        let w = RememberingIssuer {
            inner: inner.clone(),
        };
        let (c, now, v) = (
            cred(),
            Utc::now(),
            SecretString::from("sk-test-x".to_string()),
        );
        let stray = StrayKey {
            key_id: "AKIAEXAMPLESTRAY001".into(),
            what: "a stray".into(),
            created: None,
        };
        let _ = w.issue(&c, "t").await;
        let _ = w.verify(&c, &v).await;
        let _ = w.old_key_liveness(&c).await;
        let _ = w.revoke(&c).await;
        let _ = w.delete(&c).await;
        let _ = w.make_room(&c, "k").await;
        let _ = w.find_strays(&c, "t", now, &[]).await;
        let _ = w.discard_stray(&c, &stray).await;
        let _ = w.identify(&mut cred(), &v).await;
        let _ = w.spend(&c, KeyGeneration::Old, None, now).await;
        let _ = w.usage_blind_spots();
        let _ = w.end_sessions(&c, now).await;
        let _ = w.usage(&c, KeyGeneration::Old, None, now).await;
        assert_eq!(
            *inner.calls.lock().unwrap(),
            [
                "issue",
                "verify",
                "old_key_liveness",
                "revoke",
                "delete",
                "make_room",
                "find_strays",
                "discard_stray",
                "identify",
                "spend",
                "usage_blind_spots",
                "end_sessions",
                "usage"
            ]
        );
    }

    #[tokio::test]
    async fn every_store_method_reaches_the_provider() {
        let inner = Arc::new(Inner::default());
        let w = RememberingStore {
            inner: inner.clone(),
        };
        let (l, v) = (loc(), SecretString::from("sk-test-x".to_string()));
        let _ = w.stage(&l, &v, "t").await;
        let _ = w.read_version(&l, "v").await;
        let _ = w.promote(&l, "v").await;
        let _ = w.read_old(&l, "v").await;
        let _ = w.inspect(&l).await;
        let _ = w
            .stage_version(&l, None, &[(loc(), v.clone())], &[], "t")
            .await;
        let _ = w.read_fields(&[loc()], "v").await;
        let _ = w.promote_version(&[loc()], "v").await;
        let _ = w.unstage(&l, "v").await;
        let _ = w.replace(&l, &v).await;
        assert_eq!(
            *inner.calls.lock().unwrap(),
            [
                "stage",
                "read_version",
                "promote",
                "read_old",
                "inspect",
                "stage_version",
                "read_fields",
                "promote_version",
                "unstage",
                "replace"
            ]
        );
    }
}
