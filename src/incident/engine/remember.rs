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
