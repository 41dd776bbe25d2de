//! The drill world's state, saved to `world.json` (ids and times only, never a key value),
//! how it is built from the runbook's drill section, and the pure helpers the simulation
//! reads it with: deterministic draws, key ids in each issuer's style, the key at a
//! location.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::SimError;
use crate::incident::model::KeyGeneration;
use crate::incident::provenance::{Creator, PersistenceFinding};
use crate::runbook::duration;
use crate::runbook::schema::{
    ActorKind, Drill, Fault, FaultTarget, Issuer, Runbook, SimCredential, SimLocation,
};

/// A deterministic 64-bit hash of (seed, labels…): SplitMix64 over FNV-1a of the labels.
pub(super) fn mix(seed: u64, parts: &[&str], n: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for p in parts {
        for b in p.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform draw in [0, 1).
pub(super) fn unit(seed: u64, parts: &[&str], n: u64) -> f64 {
    (mix(seed, parts, n) >> 11) as f64 / (1u64 << 53) as f64
}

pub(super) fn issuer_slug(i: Issuer) -> &'static str {
    match i {
        Issuer::AwsIam => "aws_iam",
        Issuer::Openai => "openai",
        Issuer::Anthropic => "anthropic",
        Issuer::Gemini => "gemini",
        Issuer::Braintrust => "braintrust",
        Issuer::Generic => "generic",
    }
}

pub(super) fn fault_target(i: Issuer) -> FaultTarget {
    match i {
        Issuer::AwsIam => FaultTarget::Iam,
        Issuer::Openai | Issuer::Generic => FaultTarget::Openai,
        Issuer::Anthropic => FaultTarget::Anthropic,
        Issuer::Gemini => FaultTarget::Gemini,
        Issuer::Braintrust => FaultTarget::Braintrust,
    }
}

pub(super) fn target_name(t: FaultTarget) -> &'static str {
    match t {
        FaultTarget::SecretsManager => "Secrets Manager (simulated)",
        FaultTarget::Iam => "IAM (simulated)",
        FaultTarget::Openai => "OpenAI (simulated)",
        FaultTarget::Anthropic => "Anthropic (simulated)",
        FaultTarget::Gemini => "Gemini (simulated)",
        FaultTarget::Braintrust => "Braintrust (simulated)",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Key {
    pub(super) cred: String,
    pub(super) issuer: Issuer,
    pub(super) active: bool,
    pub(super) deleted: bool,
    pub(super) created: DateTime<Utc>,
    pub(super) token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Version {
    pub(super) id: String,
    /// JSON field ("" for a plain secret) → key id.
    pub(super) fields: BTreeMap<String, String>,
    pub(super) stages: Vec<String>,
    pub(super) token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub(super) struct SecretState {
    pub(super) versions: Vec<Version>,
    pub(super) changed: Option<DateTime<Utc>>,
}

impl SecretState {
    pub(super) fn with_stage(&self, stage: &str) -> Option<&Version> {
        self.versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
    }
    pub(super) fn strip(&mut self, stage: &str) {
        for v in &mut self.versions {
            v.stages.retain(|s| s != stage);
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct BtSecret {
    pub(super) key: String,
    pub(super) updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SimCred {
    pub(super) name: String,
    pub(super) issuer: Issuer,
    pub(super) original: String,
    pub(super) created: DateTime<Utc>,
    pub(super) locations: Vec<SimLocation>,
}

impl SimCred {
    pub(super) fn id(&self) -> String {
        format!("{}/{}", issuer_slug(self.issuer), self.name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Consumer {
    pub(super) name: String,
    pub(super) cred: String,
    pub(super) reads: SimLocation,
    pub(super) loaded: String,
    pub(super) stale: bool,
    pub(super) rate: u32,
    pub(super) source: String,
    pub(super) errors: u32,
    /// Errors per credential name (for the score's mistakes).
    pub(super) errors_by_cred: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub(super) struct Bucket {
    pub(super) ok: u32,
    pub(super) denied: u32,
    pub(super) sources: BTreeMap<String, u32>,
}

/// Everything that changes, saved to world.json. Ids and times only.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub(super) struct World {
    /// A hash of the seed (never the seed: key values derive from it), so a world is not
    /// resumed with another seed's keys.
    #[serde(default)]
    pub(super) seed_check: Option<u64>,
    /// Drill seconds since the drill started, as of the last save (a resumed clock starts here).
    pub(super) elapsed_secs: f64,
    /// Last whole drill minute simulated (-1 before the first).
    pub(super) minute_done: i64,
    pub(super) keys: BTreeMap<String, Key>,
    pub(super) creds: Vec<SimCred>,
    pub(super) secrets: BTreeMap<String, SecretState>,
    pub(super) braintrust: BTreeMap<String, BtSecret>,
    pub(super) consumers: Vec<Consumer>,
    pub(super) usage: BTreeMap<String, BTreeMap<i64, Bucket>>,
    pub(super) attacker_ok_after_first_revoke: u32,
    pub(super) attacker_ok: u32,
    pub(super) first_revoke: Option<DateTime<Utc>>,
    pub(super) injects_sent: usize,
    pub(super) calls: BTreeMap<String, u64>,
    pub(super) minted: u64,
    /// Who made each credential created during the window (credential id → creator), as
    /// CloudTrail records a `CreateAccessKey`.
    #[serde(default)]
    pub(super) creators: BTreeMap<String, Creator>,
    /// Persistence the attacker made (login profiles…), as the audit log records it.
    #[serde(default)]
    pub(super) persistence: Vec<PersistenceFinding>,
    /// Credential ids of the keys attackers minted for themselves.
    #[serde(default)]
    pub(super) attacker_keys: Vec<String>,
}

/// The audit log's name for creating a key at `issuer`.
fn created_event(issuer: Issuer) -> &'static str {
    match issuer {
        Issuer::AwsIam => "CreateAccessKey",
        Issuer::Openai => "api_key.created",
        _ => "key created",
    }
}

impl World {
    /// The world at the drill's start: every credential's original key where the drill
    /// section stores it, and the consumers that read them.
    pub(super) fn at_start(
        drill: &Drill,
        start: DateTime<Utc>,
        seed: u64,
    ) -> Result<World, SimError> {
        let mut w = World {
            seed_check: Some(seed_check(seed)),
            minute_done: -1,
            ..World::default()
        };
        for (i, c) in drill.credentials.iter().enumerate() {
            w.add_credential(i, c, start, seed)?;
            if let Some(by) = &c.created_by
                && let Some(made) = w.creds.last()
            {
                let creator = Creator {
                    identity: by.clone(),
                    kind: None,
                    source_ip: None,
                    at: Some(made.created),
                    with_key: None,
                    event: created_event(c.issuer).into(),
                };
                w.creators.insert(made.id(), creator);
            }
        }
        w.add_attackers_work(drill, start, seed)?;
        w.add_consumers(drill);
        Ok(w)
    }

    /// The `i`-th credential of the drill: its original key and every copy of it.
    fn add_credential(
        &mut self,
        i: usize,
        c: &SimCredential,
        start: DateTime<Utc>,
        seed: u64,
    ) -> Result<(), SimError> {
        let age = duration::parse(&c.age).map_err(SimError::Invalid)?;
        let created = duration::before(start, age);
        let key_id = key_id(c.issuer, seed, &format!("orig-{i}-{}", c.name));
        self.keys.insert(
            key_id.clone(),
            Key {
                cred: c.name.clone(),
                issuer: c.issuer,
                active: true,
                deleted: false,
                created,
                token: None,
            },
        );
        for l in &c.locations {
            match l {
                SimLocation::SecretsManager { secret, field, .. } => {
                    let s = self.secrets.entry(secret.clone()).or_default();
                    if s.versions.is_empty() {
                        s.versions.push(Version {
                            id: format!("v-{}", &hex6(seed, secret)),
                            fields: BTreeMap::new(),
                            stages: vec!["AWSCURRENT".into()],
                            token: None,
                        });
                    }
                    if let Some(v) = s.versions.first_mut() {
                        v.fields
                            .insert(field.clone().unwrap_or_default(), key_id.clone());
                    }
                    s.changed = s.changed.max(Some(created));
                }
                SimLocation::Braintrust { secret } => {
                    self.braintrust.insert(
                        secret.clone(),
                        BtSecret {
                            key: key_id.clone(),
                            updated_at: created,
                        },
                    );
                }
                SimLocation::IamUser { .. } => {}
            }
        }
        self.creds.push(SimCred {
            name: c.name.clone(),
            issuer: c.issuer,
            original: key_id,
            created,
            locations: c.locations.clone(),
        });
        Ok(())
    }

    /// The keys attackers minted for themselves and the persistence they left during the
    /// window, each recorded in the simulated audit log as CloudTrail would.
    fn add_attackers_work(
        &mut self,
        drill: &Drill,
        start: DateTime<Utc>,
        seed: u64,
    ) -> Result<(), SimError> {
        let mut i = drill.credentials.len();
        for a in drill
            .actors
            .iter()
            .filter(|a| a.kind == ActorKind::Attacker)
        {
            let identity = a
                .identity
                .clone()
                .unwrap_or_else(|| format!("an identity of {}", a.name));
            let source_ip = (!a.source.is_empty()).then(|| a.source.clone());
            for m in &a.mints {
                self.add_credential(i, m, start, seed)?;
                i += 1;
                if let Some(made) = self.creds.last() {
                    let creator = Creator {
                        identity: identity.clone(),
                        kind: Some("IAMUser".into()),
                        source_ip: source_ip.clone(),
                        at: Some(made.created),
                        with_key: None,
                        event: created_event(m.issuer).into(),
                    };
                    let id = made.id();
                    self.creators.insert(id.clone(), creator);
                    self.attacker_keys.push(id);
                }
            }
            for p in &a.persists {
                let age = duration::parse(&p.age).map_err(SimError::Invalid)?;
                self.persistence.push(PersistenceFinding {
                    issuer: Issuer::AwsIam.label().to_string(),
                    action: p.action.clone(),
                    target: p.target.clone(),
                    creator: Creator {
                        identity: identity.clone(),
                        kind: Some("IAMUser".into()),
                        source_ip: source_ip.clone(),
                        at: Some(duration::before(start, age)),
                        with_key: None,
                        event: p.action.clone(),
                    },
                });
            }
        }
        Ok(())
    }

    /// The consumer actors, one per credential they use, each reading one copy.
    fn add_consumers(&mut self, drill: &Drill) {
        let stale: Vec<&str> = drill
            .faults
            .iter()
            .filter_map(|f| match f {
                Fault::StaleConsumer { consumer } => Some(consumer.as_str()),
                _ => None,
            })
            .collect();
        for a in drill
            .actors
            .iter()
            .filter(|a| a.kind == ActorKind::Consumer)
        {
            for used in &a.uses {
                let Some(c) = self.creds.iter().find(|c| &c.name == used) else {
                    continue;
                };
                // By default a consumer reads the first copy that stores a value (an IAM
                // user holds the key, but nothing reads it from there).
                let stored = c
                    .locations
                    .iter()
                    .find(|l| !matches!(l, SimLocation::IamUser { .. }))
                    .or(c.locations.first())
                    .cloned();
                let reads = match &a.reads {
                    Some(r) => c
                        .locations
                        .iter()
                        .find(|l| loc_name(l) == r)
                        .cloned()
                        .or(stored),
                    None => stored,
                };
                let Some(reads) = reads else {
                    continue;
                };
                self.consumers.push(Consumer {
                    name: a.name.clone(),
                    cred: c.name.clone(),
                    reads,
                    loaded: c.original.clone(),
                    stale: stale.contains(&a.name.as_str()),
                    rate: a.rate,
                    source: if a.source.is_empty() {
                        a.name.clone()
                    } else {
                        a.source.clone()
                    },
                    errors: 0,
                    errors_by_cred: BTreeMap::new(),
                });
            }
        }
    }
}

/// What world.json keeps to recognise its seed: a hash, not the seed itself.
pub(super) fn seed_check(seed: u64) -> u64 {
    mix(seed, &["seed-check"], 0)
}

pub(super) fn hex6(seed: u64, s: &str) -> String {
    format!("{:012x}", mix(seed, &[s], 0) & 0xffff_ffff_ffff)
}

/// A key id in the issuer's style.
pub(super) fn key_id(issuer: Issuer, seed: u64, salt: &str) -> String {
    let h = mix(seed, &["key", salt], 0);
    match issuer {
        Issuer::AwsIam => {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
            let mut s = String::from("AKIAEXAMPLE");
            let mut x = h;
            for _ in 0..9 {
                s.push(A[(x % 32) as usize] as char);
                x /= 32;
            }
            s
        }
        Issuer::Openai | Issuer::Generic => format!("key_{h:016x}"),
        Issuer::Anthropic => format!("apikey_{h:016x}"),
        Issuer::Gemini => format!("gk-{h:016x}"),
        Issuer::Braintrust => format!("bt_{h:016x}"),
    }
}

pub(super) fn drill_start(rb: &Runbook) -> Result<DateTime<Utc>, SimError> {
    let drill = rb.drill.as_ref().ok_or(SimError::NoDrill)?;
    let after = duration::parse(&drill.starts_after_exposure).map_err(SimError::Invalid)?;
    Ok(duration::after(rb.exposure_window.start, after))
}

pub(super) fn loc_name(l: &SimLocation) -> &str {
    match l {
        SimLocation::SecretsManager { secret, .. } | SimLocation::Braintrust { secret } => secret,
        SimLocation::IamUser { user } => user,
    }
}

/// The key currently stored at a location.
pub(super) fn current_at(w: &World, l: &SimLocation) -> Option<String> {
    match l {
        SimLocation::SecretsManager { secret, field, .. } => w
            .secrets
            .get(secret)?
            .with_stage("AWSCURRENT")?
            .fields
            .get(field.as_deref().unwrap_or(""))
            .cloned(),
        SimLocation::Braintrust { secret } => w.braintrust.get(secret).map(|b| b.key.clone()),
        SimLocation::IamUser { .. } => None,
    }
}

pub(super) fn generation_of(w: &World, cred: &str, key: &str) -> KeyGeneration {
    if w.creds.iter().any(|c| c.name == cred && c.original == key) {
        KeyGeneration::Old
    } else {
        KeyGeneration::New
    }
}

pub(super) fn record(w: &mut World, key: &str, m: i64, ok: u32, denied: u32, source: &str) {
    let b = w
        .usage
        .entry(key.to_string())
        .or_default()
        .entry(m)
        .or_default();
    b.ok += ok;
    b.denied += denied;
    *b.sources.entry(source.to_string()).or_default() += ok + denied;
}
