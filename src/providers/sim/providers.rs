//! The drill world's providers: the inventory, an issuer per issuer, the Secrets Manager and
//! Braintrust stores, the drill clock, and the world as a [`Drill`], all reading and changing
//! the world of `super`.
//!
//! Every call takes a drill latency and may meet a fault (`SimWorld::call`); a call that
//! changes the world saves it. May depend on `super`, the incident ports and the incident
//! model, events and state only.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

use super::{Key, SecretState, SimWorld, Version, fault_target, key_id, target_name};
use crate::incident::event::Score;
use crate::incident::model::{
    Credential, KeyGeneration, Location, LocationKind, UsageSample, mask,
};
use crate::incident::ports::{
    Clock, Drill, Inventory, KeyIssuer, Liveness, NewKey, ProviderError, ProviderResult,
    ProviderSet, SecretStore,
};
use crate::incident::state::IncidentState;
use crate::runbook::schema::{ExposureWindow, FaultTarget, Issuer, Scope, SimLocation};

impl SimWorld {
    /// Providers for the engine, all played by this world.
    pub fn provider_set(self: &Arc<Self>) -> ProviderSet {
        let mut issuers: HashMap<Issuer, Arc<dyn KeyIssuer>> = HashMap::new();
        for i in [
            Issuer::AwsIam,
            Issuer::Openai,
            Issuer::Anthropic,
            Issuer::Gemini,
            Issuer::Braintrust,
            Issuer::Generic,
        ] {
            issuers.insert(
                i,
                Arc::new(SimIssuer {
                    world: self.clone(),
                    issuer: i,
                }),
            );
        }
        let mut stores: HashMap<LocationKind, Arc<dyn SecretStore>> = HashMap::new();
        stores.insert(
            LocationKind::SecretsManager,
            Arc::new(SimStore {
                world: self.clone(),
                kind: LocationKind::SecretsManager,
            }),
        );
        stores.insert(
            LocationKind::Braintrust,
            Arc::new(SimStore {
                world: self.clone(),
                kind: LocationKind::Braintrust,
            }),
        );
        let user = crate::incident::event::Operator::local().user;
        ProviderSet {
            inventory: Arc::new(SimInventory {
                world: self.clone(),
            }),
            issuers,
            stores,
            clock: self.clone(),
            identity: Some(format!(
                "arn:aws:sts::000000000000:assumed-role/drill-responder/{user}"
            )),
            drill: Some(self.clone()),
            creators: Some(Arc::new(super::creators::SimCreators {
                world: self.clone(),
            })),
        }
    }
}

/// The world as the engine sees a drill.
impl Drill for SimWorld {
    fn started_at(&self) -> DateTime<Utc> {
        self.drill_start()
    }
    fn restart_consumers(&self, names: &[String]) {
        SimWorld::restart_consumers(self, names);
    }
    fn score(&self, state: &IncidentState) -> Score {
        SimWorld::score(self, state)
    }
    fn set_paused(&self, paused: bool) {
        SimWorld::set_paused(self, paused);
    }
    fn unsaved(&self) -> Option<String> {
        SimWorld::unsaved(self)
    }
}

/// A new version id from the idempotency token: `v-` and its last 12 characters, made unique
/// within the secret.
fn version_id(secret: &SecretState, token: &str) -> String {
    let tail_start = token
        .char_indices()
        .rev()
        .nth(11)
        .map(|(i, _)| i)
        .unwrap_or(0);
    let base = format!("v-{}", &token[tail_start..]);
    let mut id = base.clone();
    let mut n = 1;
    while secret.versions.iter().any(|v| v.id == id) {
        n += 1;
        id = format!("{base}-{n}");
    }
    id
}

fn to_location(l: &SimLocation) -> Location {
    match l {
        SimLocation::SecretsManager {
            secret,
            field,
            region,
        } => Location {
            kind: LocationKind::SecretsManager,
            name: secret.clone(),
            field: field.clone(),
            region: Some(region.clone()),
            account: None,
            changed: None,
        },
        SimLocation::Braintrust { secret } => Location {
            kind: LocationKind::Braintrust,
            name: secret.clone(),
            field: None,
            region: None,
            account: None,
            changed: None,
        },
        SimLocation::IamUser { user } => Location {
            kind: LocationKind::IamUser,
            name: user.clone(),
            field: None,
            region: None,
            account: None,
            changed: None,
        },
    }
}

/// Whether a location lies in the runbook's scope, and why (in words).
fn in_scope(scope: &Scope, issuer: Issuer, l: &SimLocation) -> Option<String> {
    match l {
        SimLocation::SecretsManager { secret, region, .. } => {
            let sm = scope.secrets_manager.as_ref()?;
            let region_ok = sm.regions.iter().any(|r| r == region);
            let prefix_ok = sm.name_prefixes.is_empty()
                || sm
                    .name_prefixes
                    .iter()
                    .any(|p| secret.starts_with(p.as_str()));
            (region_ok && prefix_ok).then(|| format!("Secrets Manager {secret} ({region})"))
        }
        SimLocation::Braintrust { secret } => {
            let bt = scope.braintrust.as_ref()?;
            (bt.secrets.is_empty() || bt.secrets.iter().any(|s| s == secret))
                .then(|| format!("Braintrust org {} AI secret {secret}", bt.organization))
        }
        SimLocation::IamUser { user } => {
            let iam = scope.iam.as_ref()?;
            (iam.users.is_empty() || iam.users.iter().any(|u| u == user))
                .then(|| format!("IAM user {user}"))
        }
    }
    .or_else(|| {
        let issuer_scoped = match issuer {
            Issuer::Openai => scope.openai.is_some(),
            Issuer::Anthropic => scope.anthropic.is_some(),
            Issuer::Gemini => scope.gemini.is_some(),
            _ => false,
        };
        issuer_scoped.then(|| format!("{} organization", issuer.label()))
    })
}

/// The world's clock is the incident's clock in a drill: its waits (the engine's, the
/// simulated latency) are drill time, `speed` times faster than real time.
impl Clock for SimWorld {
    fn now(&self) -> DateTime<Utc> {
        SimWorld::now(self)
    }
    fn real(&self, incident: Duration) -> Duration {
        incident.div_f64(self.clock.speed)
    }
    fn sleep(&self, incident: Duration) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(self.clock.clone().sleep(incident))
    }
}

struct SimInventory {
    world: Arc<SimWorld>,
}

#[async_trait]
impl Inventory for SimInventory {
    async fn discover(
        &self,
        scope: &Scope,
        exposure: &ExposureWindow,
        pages: mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let creds = self.world.lock().creds.clone();
        // Pages of two credentials (of one when there are only two): always at least two
        // pages, so the inventory fills in as it goes.
        let per_page = if creds.len() <= 2 { 1 } else { 2 };
        let mut page = Vec::new();
        for (i, c) in creds.iter().enumerate() {
            if i > 0 && i % per_page == 0 {
                let _ = pages.send(std::mem::take(&mut page));
                // The next page takes a call's latency. A throttled page is retried inside
                // the listing (as the AWS SDK does), so a fault here only costs time.
                self.world.call(FaultTarget::SecretsManager).await.ok();
            }
            let value = self.world.value_of(&c.original, c.issuer);
            let reasons: Vec<String> = c
                .locations
                .iter()
                .filter_map(|l| in_scope(scope, c.issuer, l))
                .collect();
            let unchanged = c.created < exposure.start;
            let exposed = !reasons.is_empty() && unchanged;
            let exposure_reason = if reasons.is_empty() {
                "not in the breached scope".to_string()
            } else if !unchanged {
                format!(
                    "in scope ({}) but created {} — after the exposure began",
                    reasons.join(", "),
                    c.created.format("%Y-%m-%d")
                )
            } else {
                format!(
                    "readable in {}; unchanged since before the exposure",
                    reasons.join(", ")
                )
            };
            let last_used = {
                let w = self.world.lock();
                w.usage
                    .get(&c.original)
                    .and_then(|m| m.iter().rev().find(|(_, b)| b.ok > 0).map(|(m, _)| *m))
                    .map(|m| self.world.minute_time(m))
            };
            page.push(Credential {
                id: c.id(),
                issuer: c.issuer,
                key_id: c.original.clone(),
                name: c.name.clone(),
                hint: mask(&value),
                created: Some(c.created),
                last_used,
                locations: c
                    .locations
                    .iter()
                    .map(|l| {
                        let mut loc = to_location(l);
                        loc.changed = Some(c.created);
                        loc
                    })
                    .collect(),
                exposed,
                exposure_reason,
                fingerprint: Some(self.world.fingerprint(&value)),
                meta: Default::default(),
            });
        }
        if !page.is_empty() {
            let _ = pages.send(page);
        }
        Ok(())
    }
}

struct SimIssuer {
    world: Arc<SimWorld>,
    issuer: Issuer,
}

#[async_trait]
impl KeyIssuer for SimIssuer {
    async fn issue(&self, old: &Credential, token: &str) -> ProviderResult<NewKey> {
        let target = fault_target(self.issuer);
        self.world.call(target).await?;
        let id = self.world.change(target, |w| {
            if let Some((id, k)) = w
                .keys
                .iter()
                .find(|(_, k)| k.token.as_deref() == Some(token))
            {
                if k.cred != old.name || k.issuer != self.issuer {
                    return Err(ProviderError::Validation {
                        provider: format!("{} (simulated)", self.issuer.label()),
                        message: format!(
                            "idempotency token {token} was already used for another key; use one token per credential"
                        ),
                    });
                }
                Ok((id.clone(), false))
            } else {
                if self.issuer == Issuer::AwsIam {
                    let live = w
                        .keys
                        .values()
                        .filter(|k| k.cred == old.name && !k.deleted)
                        .count();
                    if live >= 2 {
                        return Err(ProviderError::LimitExceeded {
                            provider: "IAM (simulated)".into(),
                            message: format!(
                                "user of {} already has 2 access keys: delete the inactive one first",
                                old.name
                            ),
                        });
                    }
                }
                w.minted += 1;
                let id = key_id(self.issuer, self.world.seed, &format!("new-{token}"));
                let now = self.world.now();
                w.keys.insert(
                    id.clone(),
                    Key {
                        cred: old.name.clone(),
                        issuer: self.issuer,
                        active: true,
                        deleted: false,
                        created: now,
                        token: Some(token.to_string()),
                    },
                );
                Ok((id, true))
            }
        })?;
        let value = self.world.value_of(&id, self.issuer);
        Ok(NewKey {
            hint: mask(&value),
            key_id: id,
            secret: SecretString::from(value),
        })
    }

    async fn verify(&self, _cred: &Credential, key: &SecretString) -> ProviderResult<Liveness> {
        self.world.call(fault_target(self.issuer)).await?;
        let w = self.world.lock();
        // A key of another issuer is refused like any unknown key (401).
        let alive = self
            .world
            .key_of_value(&w, key.expose_secret())
            .and_then(|id| w.keys.get(&id))
            .is_some_and(|k| k.active && k.issuer == self.issuer);
        Ok(if alive {
            Liveness::Alive
        } else {
            Liveness::Dead
        })
    }

    async fn old_key_liveness(&self, old: &Credential) -> ProviderResult<Liveness> {
        self.world.call(fault_target(self.issuer)).await?;
        let w = self.world.lock();
        Ok(if w.keys.get(&old.key_id).is_some_and(|k| k.active) {
            Liveness::Alive
        } else {
            Liveness::Dead
        })
    }

    async fn revoke(&self, old: &Credential) -> ProviderResult<()> {
        let target = fault_target(self.issuer);
        self.world.call(target).await?;
        let now = self.world.now();
        self.world.change(target, |w| {
            let Some(k) = w.keys.get_mut(&old.key_id) else {
                return Err(ProviderError::NotFound {
                    provider: format!("{} (simulated)", self.issuer.label()),
                    what: format!("key {}", old.key_id),
                });
            };
            // Revoking twice is fine: the key stays inactive (IAM: Inactive; AI keys: disabled).
            k.active = false;
            if w.first_revoke.is_none() {
                w.first_revoke = Some(now);
            }
            Ok(((), true))
        })
    }

    async fn delete(&self, old: &Credential) -> ProviderResult<()> {
        let target = fault_target(self.issuer);
        self.world.call(target).await?;
        self.world.change(target, |w| {
            let Some(k) = w.keys.get_mut(&old.key_id) else {
                return Err(ProviderError::NotFound {
                    provider: format!("{} (simulated)", self.issuer.label()),
                    what: format!("key {}", old.key_id),
                });
            };
            // Deleting twice is fine: the key stays gone.
            k.active = false;
            k.deleted = true;
            Ok(((), true))
        })
    }

    async fn usage(
        &self,
        cred: &Credential,
        generation: KeyGeneration,
        new_key_id: Option<&str>,
        since: DateTime<Utc>,
    ) -> ProviderResult<Vec<UsageSample>> {
        self.world.call(fault_target(self.issuer)).await?;
        let w = self.world.lock();
        let key = match generation {
            KeyGeneration::Old => Some(cred.key_id.as_str()),
            KeyGeneration::New => new_key_id,
        };
        let Some(key) = key else {
            return Ok(Vec::new());
        };
        Ok(w.usage
            .get(key)
            .map(|m| {
                m.iter()
                    .map(|(min, b)| (self.world.minute_time(*min), b))
                    .filter(|(t, _)| *t >= since)
                    .map(|(t, b)| UsageSample {
                        credential: cred.id.clone(),
                        generation,
                        minute: t,
                        ok: b.ok,
                        denied: b.denied,
                        sources: b.sources.keys().cloned().collect(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

struct SimStore {
    world: Arc<SimWorld>,
    kind: LocationKind,
}

impl SimStore {
    fn unsupported(&self, what: &str) -> ProviderError {
        ProviderError::Unsupported {
            provider: "Braintrust (simulated)".into(),
            message: format!("AI secrets have no {what}; their value is replaced in place"),
        }
    }
}

#[async_trait]
impl SecretStore for SimStore {
    async fn stage(
        &self,
        loc: &Location,
        value: &SecretString,
        token: &str,
    ) -> ProviderResult<String> {
        let set = [(loc.clone(), value.clone())];
        self.stage_version(loc, None, &set, &[], token).await
    }

    /// One pending version of the secret (the label leaves any other version): `base` or
    /// the current version, with `restore`'s fields set back to the current ones and `set`'s
    /// new keys written in. The same token finds the version it made.
    async fn stage_version(
        &self,
        secret: &Location,
        base: Option<&str>,
        set: &[(Location, SecretString)],
        restore: &[Location],
        token: &str,
    ) -> ProviderResult<String> {
        if self.kind != LocationKind::SecretsManager {
            return Err(self.unsupported("staging"));
        }
        self.world.call(FaultTarget::SecretsManager).await?;
        self.world.change(FaultTarget::SecretsManager, |w| {
            let mut keys = Vec::new();
            for (loc, value) in set {
                let key = self
                    .world
                    .key_of_value(w, value.expose_secret())
                    .ok_or_else(|| ProviderError::Validation {
                        provider: "Secrets Manager (simulated)".into(),
                        message: "the value is not a key this world knows".into(),
                    })?;
                keys.push((loc.field.clone().unwrap_or_default(), key));
            }
            let state = w
                .secrets
                .get_mut(&secret.name)
                .ok_or_else(|| ProviderError::NotFound {
                    provider: "Secrets Manager (simulated)".into(),
                    what: format!("secret {}", secret.name),
                })?;
            if let Some(v) = state
                .versions
                .iter()
                .find(|v| v.token.as_deref() == Some(token))
            {
                Ok((v.id.clone(), false))
            } else {
                let current = state
                    .with_stage("AWSCURRENT")
                    .map(|v| v.fields.clone())
                    .unwrap_or_default();
                let mut fields = match base {
                    Some(b) => state
                        .versions
                        .iter()
                        .find(|v| v.id == b)
                        .map(|v| v.fields.clone())
                        .ok_or_else(|| ProviderError::NotFound {
                            provider: "Secrets Manager (simulated)".into(),
                            what: format!("version {b} of {}", secret.name),
                        })?,
                    None => current.clone(),
                };
                for loc in restore {
                    let f = loc.field.clone().unwrap_or_default();
                    match current.get(&f) {
                        Some(k) => fields.insert(f, k.clone()),
                        None => fields.remove(&f),
                    };
                }
                for (f, k) in keys {
                    fields.insert(f, k);
                }
                state.strip("AWSPENDING");
                let id = version_id(state, token);
                state.versions.push(Version {
                    id: id.clone(),
                    fields,
                    stages: vec!["AWSPENDING".into()],
                    token: Some(token.to_string()),
                });
                Ok((id, true))
            }
        })
    }

    async fn unstage(&self, secret: &Location, version: &str) -> ProviderResult<()> {
        if self.kind != LocationKind::SecretsManager {
            return Err(self.unsupported("staging labels"));
        }
        self.world.call(FaultTarget::SecretsManager).await?;
        self.world.change(FaultTarget::SecretsManager, |w| {
            let mut changed = false;
            if let Some(state) = w.secrets.get_mut(&secret.name)
                && let Some(v) = state.versions.iter_mut().find(|v| v.id == version)
            {
                v.stages.retain(|s| s != "AWSPENDING");
                changed = true;
            }
            Ok(((), changed))
        })
    }

    async fn read_version(&self, loc: &Location, version: &str) -> ProviderResult<SecretString> {
        if self.kind != LocationKind::SecretsManager {
            return Err(self.unsupported("versions"));
        }
        self.world.call(FaultTarget::SecretsManager).await?;
        let w = self.world.lock();
        let key = w
            .secrets
            .get(&loc.name)
            .and_then(|s| s.versions.iter().find(|v| v.id == version))
            .and_then(|v| v.fields.get(loc.field.as_deref().unwrap_or("")))
            .ok_or_else(|| ProviderError::NotFound {
                provider: "Secrets Manager (simulated)".into(),
                what: format!("version {version} of {}", loc.name),
            })?;
        let issuer = w.keys.get(key).map(|k| k.issuer).unwrap_or(Issuer::Generic);
        Ok(SecretString::from(self.world.value_of(key, issuer)))
    }

    async fn promote(&self, loc: &Location, version: &str) -> ProviderResult<DateTime<Utc>> {
        self.promote_version(std::slice::from_ref(loc), version)
            .await
    }

    async fn promote_version(
        &self,
        locs: &[Location],
        version: &str,
    ) -> ProviderResult<DateTime<Utc>> {
        if self.kind != LocationKind::SecretsManager {
            return Err(self.unsupported("staging labels"));
        }
        let Some(loc) = locs.first() else {
            return Err(ProviderError::Validation {
                provider: "Secrets Manager (simulated)".into(),
                message: "nothing to promote".into(),
            });
        };
        self.world.call(FaultTarget::SecretsManager).await?;
        let now = self.world.now();
        self.world.change(FaultTarget::SecretsManager, |w| {
            let secret = w
                .secrets
                .get_mut(&loc.name)
                .ok_or_else(|| ProviderError::NotFound {
                    provider: "Secrets Manager (simulated)".into(),
                    what: format!("secret {}", loc.name),
                })?;
            if !secret.versions.iter().any(|v| v.id == version) {
                return Err(ProviderError::NotFound {
                    provider: "Secrets Manager (simulated)".into(),
                    what: format!("version {version} of {}", loc.name),
                });
            }
            let already = secret
                .with_stage("AWSCURRENT")
                .is_some_and(|v| v.id == version);
            if !already {
                // Promote only these locations' fields: the other fields of a JSON secret
                // keep what is current now (a copy of another key may have been written
                // there since this version was staged).
                let current = secret
                    .with_stage("AWSCURRENT")
                    .map(|v| v.fields.clone())
                    .unwrap_or_default();
                let fields: Vec<String> = locs
                    .iter()
                    .map(|l| l.field.clone().unwrap_or_default())
                    .collect();
                if let Some(v) = secret.versions.iter_mut().find(|v| v.id == version) {
                    let mut rebased = current;
                    for f in &fields {
                        if let Some(k) = v.fields.get(f).cloned() {
                            rebased.insert(f.clone(), k);
                        }
                    }
                    v.fields = rebased;
                }
                secret.strip("AWSPREVIOUS");
                for v in &mut secret.versions {
                    if v.stages.iter().any(|s| s == "AWSCURRENT") {
                        v.stages.retain(|s| s != "AWSCURRENT");
                        v.stages.push("AWSPREVIOUS".into());
                    }
                }
                if let Some(v) = secret.versions.iter_mut().find(|v| v.id == version) {
                    v.stages.retain(|s| s != "AWSPENDING");
                    v.stages.push("AWSCURRENT".into());
                }
                secret.changed = Some(now);
            }
            // Promoting again (a retry after a crash) reports the first promotion's time.
            Ok((secret.changed.unwrap_or(now), !already))
        })
    }

    async fn replace(&self, loc: &Location, value: &SecretString) -> ProviderResult<DateTime<Utc>> {
        let target = if self.kind == LocationKind::Braintrust {
            FaultTarget::Braintrust
        } else {
            FaultTarget::SecretsManager
        };
        self.world.call(target).await?;
        let now = self.world.now();
        self.world.change(target, |w| {
            let key = self
                .world
                .key_of_value(w, value.expose_secret())
                .ok_or_else(|| ProviderError::Validation {
                    provider: target_name(target).into(),
                    message: "the value is not a key this world knows".into(),
                })?;
            if self.kind == LocationKind::Braintrust {
                let b = w
                    .braintrust
                    .get_mut(&loc.name)
                    .ok_or_else(|| ProviderError::NotFound {
                        provider: "Braintrust (simulated)".into(),
                        what: format!("AI secret {}", loc.name),
                    })?;
                // Writing the value it already holds changes nothing (a retry after a crash).
                let changed = b.key != key;
                if changed {
                    b.key = key;
                    b.updated_at = now;
                }
                Ok((b.updated_at, changed))
            } else {
                let secret =
                    w.secrets
                        .get_mut(&loc.name)
                        .ok_or_else(|| ProviderError::NotFound {
                            provider: "Secrets Manager (simulated)".into(),
                            what: format!("secret {}", loc.name),
                        })?;
                let mut fields = secret
                    .with_stage("AWSCURRENT")
                    .map(|v| v.fields.clone())
                    .unwrap_or_default();
                let field = loc.field.clone().unwrap_or_default();
                let changed = fields.get(&field) != Some(&key);
                if changed {
                    fields.insert(field, key);
                    secret.strip("AWSPREVIOUS");
                    for v in &mut secret.versions {
                        if v.stages.iter().any(|s| s == "AWSCURRENT") {
                            v.stages.retain(|s| s != "AWSCURRENT");
                            v.stages.push("AWSPREVIOUS".into());
                        }
                    }
                    let n = secret.versions.len();
                    secret.versions.push(Version {
                        id: format!("v-r{n}"),
                        fields,
                        stages: vec!["AWSCURRENT".into()],
                        token: None,
                    });
                    secret.changed = Some(now);
                }
                Ok((secret.changed.unwrap_or(now), changed))
            }
        })
    }
}
