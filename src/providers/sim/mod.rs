//! The drill world: a simulated cloud (Secrets Manager, IAM, the AI providers, Braintrust),
//! legitimate consumers, an attacker, injects and faults, all driven by a drill clock.
//!
//! Deterministic for a seed: every random choice is a hash of (seed, what, counter), and time
//! is tokio time only, so a headless drill under paused time replays exactly. The world is
//! saved to `world.json` in the incident folder after every change and every simulated
//! minute (ids and times only, never a key value: values are derived from ids and the seed),
//! so a crashed drill resumes where it was.
//!
//! Here: the world's state, its clock, the actors' minute-by-minute simulation, latency and
//! faults, persistence. `providers` implements the incident ports over it (the world itself is
//! the engine's `Drill`); `score` scores a drill. Depends on the incident ports, model, events
//! and state, and the runbook schema; only launch and tests name it (the engine sees it as
//! `ProviderSet::drill`).

mod providers;
mod score;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::incident::event::Event;
use crate::incident::model::{KeyGeneration, UsageSample};
use crate::incident::ports::{Clock, ProviderError, ProviderResult, WorldFeed};
use crate::runbook::duration;
use crate::runbook::schema::{ActorKind, Fault, FaultTarget, Issuer, Runbook, SimLocation};

/// Why the world could not be built or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("this runbook has no `drill:` section: add one to drill it")]
    NoDrill,
    #[error("the runbook's drill section: {0}")]
    Invalid(String),
    #[error(
        "{}: {source} — check that the incident folder exists and is writable",
        path.display()
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: the saved drill world is unreadable ({why}); start a new drill", path.display())]
    Corrupt { path: PathBuf, why: String },
    #[error(
        "{}: the saved drill world belongs to another drill ({why}); resume with the runbook and seed the incident was opened with",
        path.display()
    )]
    Mismatch { path: PathBuf, why: String },
}

/// A deterministic 64-bit hash of (seed, labels…): SplitMix64 over FNV-1a of the labels.
fn mix(seed: u64, parts: &[&str], n: u64) -> u64 {
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
fn unit(seed: u64, parts: &[&str], n: u64) -> f64 {
    (mix(seed, parts, n) >> 11) as f64 / (1u64 << 53) as f64
}

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

fn fault_target(i: Issuer) -> FaultTarget {
    match i {
        Issuer::AwsIam => FaultTarget::Iam,
        Issuer::Openai | Issuer::Generic => FaultTarget::Openai,
        Issuer::Anthropic => FaultTarget::Anthropic,
        Issuer::Gemini => FaultTarget::Gemini,
        Issuer::Braintrust => FaultTarget::Braintrust,
    }
}

fn target_name(t: FaultTarget) -> &'static str {
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
struct Key {
    cred: String,
    issuer: Issuer,
    active: bool,
    deleted: bool,
    created: DateTime<Utc>,
    token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Version {
    id: String,
    /// JSON field ("" for a plain secret) → key id.
    fields: BTreeMap<String, String>,
    stages: Vec<String>,
    token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct SecretState {
    versions: Vec<Version>,
    changed: Option<DateTime<Utc>>,
}

impl SecretState {
    fn with_stage(&self, stage: &str) -> Option<&Version> {
        self.versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
    }
    fn strip(&mut self, stage: &str) {
        for v in &mut self.versions {
            v.stages.retain(|s| s != stage);
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct BtSecret {
    key: String,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SimCred {
    name: String,
    issuer: Issuer,
    original: String,
    created: DateTime<Utc>,
    locations: Vec<SimLocation>,
}

impl SimCred {
    fn id(&self) -> String {
        format!("{}/{}", issuer_slug(self.issuer), self.name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Consumer {
    name: String,
    cred: String,
    reads: SimLocation,
    loaded: String,
    stale: bool,
    rate: u32,
    source: String,
    errors: u32,
    /// Errors per credential name (for the score's mistakes).
    errors_by_cred: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct Bucket {
    ok: u32,
    denied: u32,
    sources: BTreeMap<String, u32>,
}

/// Everything that changes, saved to world.json. Ids and times only.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct World {
    /// A hash of the seed (never the seed: key values derive from it), so a world is not
    /// resumed with another seed's keys.
    #[serde(default)]
    seed_check: Option<u64>,
    /// Drill seconds since the drill started, as of the last save (a resumed clock starts here).
    elapsed_secs: f64,
    /// Last whole drill minute simulated (-1 before the first).
    minute_done: i64,
    keys: BTreeMap<String, Key>,
    creds: Vec<SimCred>,
    secrets: BTreeMap<String, SecretState>,
    braintrust: BTreeMap<String, BtSecret>,
    consumers: Vec<Consumer>,
    usage: BTreeMap<String, BTreeMap<i64, Bucket>>,
    attacker_ok_after_first_revoke: u32,
    attacker_ok: u32,
    first_revoke: Option<DateTime<Utc>>,
    injects_sent: usize,
    calls: BTreeMap<String, u64>,
    minted: u64,
}

/// The simulated world.
pub struct SimWorld {
    world: Mutex<World>,
    runbook: Runbook,
    seed: u64,
    speed: f64,
    start: DateTime<Utc>,
    base: tokio::time::Instant,
    offset_secs: f64,
    dir: Option<PathBuf>,
    /// One writer of world.json at a time (the temporary file is shared).
    save_lock: Mutex<()>,
    feed: mpsc::UnboundedSender<Event>,
}

impl SimWorld {
    /// Builds the world from the runbook's drill section.
    ///
    /// `dir` is the incident folder, where `world.json` is saved after every change; `None`
    /// keeps the world in memory only. The feed carries usage, injects and consumer failures
    /// once [`SimWorld::spawn_ticker`] runs.
    pub fn create(
        runbook: &Runbook,
        seed: u64,
        speed: f64,
        dir: Option<&Path>,
    ) -> Result<(Arc<SimWorld>, WorldFeed), SimError> {
        let drill = runbook.drill.as_ref().ok_or(SimError::NoDrill)?;
        let start = drill_start(runbook)?;
        let mut w = World {
            seed_check: Some(seed_check(seed)),
            minute_done: -1,
            ..World::default()
        };
        for (i, c) in drill.credentials.iter().enumerate() {
            let age = duration::parse(&c.age).map_err(SimError::Invalid)?;
            let created = start - chrono::Duration::seconds(age.as_secs() as i64);
            let key_id = key_id(c.issuer, seed, &format!("orig-{i}-{}", c.name));
            w.keys.insert(
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
                        let s = w.secrets.entry(secret.clone()).or_default();
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
                        w.braintrust.insert(
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
            w.creds.push(SimCred {
                name: c.name.clone(),
                issuer: c.issuer,
                original: key_id,
                created,
                locations: c.locations.clone(),
            });
        }
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
                let Some(c) = w.creds.iter().find(|c| &c.name == used) else {
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
                w.consumers.push(Consumer {
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
        Self::finish(runbook, seed, speed, dir, start, w)
    }

    /// Reloads a saved world (after a crash) from `dir/world.json`; the drill clock carries on
    /// from the saved drill time. Refuses a world saved with another seed or another drill.
    pub fn load(
        runbook: &Runbook,
        seed: u64,
        speed: f64,
        dir: &Path,
    ) -> Result<(Arc<SimWorld>, WorldFeed), SimError> {
        let path = dir.join("world.json");
        let text = std::fs::read_to_string(&path).map_err(|source| SimError::Io {
            path: path.clone(),
            source,
        })?;
        let w: World = serde_json::from_str(&text).map_err(|e| SimError::Corrupt {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let start = drill_start(runbook)?;
        let mismatch = |why: String| SimError::Mismatch {
            path: path.clone(),
            why,
        };
        if w.seed_check.is_some_and(|c| c != seed_check(seed)) {
            return Err(mismatch(format!(
                "it was built with another seed than {seed}"
            )));
        }
        let saved: Vec<&str> = w.creds.iter().map(|c| c.name.as_str()).collect();
        let wanted: Vec<&str> = runbook
            .drill
            .as_ref()
            .map(|d| d.credentials.iter().map(|c| c.name.as_str()).collect())
            .unwrap_or_default();
        if saved != wanted {
            return Err(mismatch(format!(
                "it holds the credentials {} but the runbook's drill has {}",
                saved.join(", "),
                wanted.join(", ")
            )));
        }
        Self::finish(runbook, seed, speed, Some(dir), start, w)
    }

    fn finish(
        runbook: &Runbook,
        seed: u64,
        speed: f64,
        dir: Option<&Path>,
        start: DateTime<Utc>,
        w: World,
    ) -> Result<(Arc<SimWorld>, WorldFeed), SimError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let world = Arc::new(SimWorld {
            offset_secs: w.elapsed_secs,
            world: Mutex::new(w),
            runbook: runbook.clone(),
            seed,
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
            start,
            base: tokio::time::Instant::now(),
            dir: dir.map(Path::to_path_buf),
            save_lock: Mutex::new(()),
            feed: tx,
        });
        world.save().map_err(|source| SimError::Io {
            path: world.dir.clone().unwrap_or_default().join("world.json"),
            source,
        })?;
        Ok((world, rx))
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock would leave a half-changed world; carry on with it
        // rather than take the drill down.
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Saves world.json atomically: a private temporary file, fsynced, renamed over the old
    /// one, then the folder fsynced. No-op for an in-memory world.
    fn save(&self) -> std::io::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let _one_writer = self.save_lock.lock().unwrap_or_else(|p| p.into_inner());
        let text = {
            let mut w = self.lock();
            // The drill time reached so far, so a resumed drill's clock carries on from here.
            w.elapsed_secs = w.elapsed_secs.max(self.elapsed());
            serde_json::to_vec(&*w).map_err(std::io::Error::other)?
        };
        let tmp = dir.join("world.json.tmp");
        crate::incident::fsutil::write_private(&tmp, &text)?;
        std::fs::rename(&tmp, dir.join("world.json"))?;
        std::fs::File::open(dir)?.sync_all()
    }

    fn save_quietly(&self) {
        if let Err(e) = self.save() {
            tracing::warn!("could not save the drill world: {e}");
        }
    }

    /// When the drill clock started.
    pub fn drill_start(&self) -> DateTime<Utc> {
        self.start
    }

    fn elapsed(&self) -> f64 {
        self.offset_secs + self.base.elapsed().as_secs_f64() * self.speed
    }

    /// The drill clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::milliseconds((self.elapsed() * 1000.0) as i64)
    }

    /// Spawns the task that advances the world every 250 ms (tokio time) and sends what happens
    /// to the feed; it stops once the feed's receiver is dropped.
    pub fn spawn_ticker(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let world = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(250));
            loop {
                every.tick().await;
                if !world.advance() {
                    break;
                }
            }
        })
    }

    /// Simulates every whole drill minute up to now. Returns false once nobody listens.
    fn advance(&self) -> bool {
        let now_secs = self.elapsed();
        let target = (now_secs / 60.0).floor() as i64 - 1;
        let mut events = Vec::new();
        let simulated = {
            let mut w = self.lock();
            w.elapsed_secs = w.elapsed_secs.max(now_secs);
            let before = w.minute_done;
            while w.minute_done < target {
                let m = w.minute_done + 1;
                self.simulate_minute(&mut w, m, &mut events);
                w.minute_done = m;
            }
            w.minute_done != before
        };
        if simulated {
            self.save_quietly();
        }
        for e in events {
            if self.feed.send(e).is_err() {
                return false;
            }
        }
        !self.feed.is_closed()
    }

    fn minute_time(&self, m: i64) -> DateTime<Utc> {
        self.start + chrono::Duration::minutes(m)
    }

    fn simulate_minute(&self, w: &mut World, m: i64, events: &mut Vec<Event>) {
        let at = self.minute_time(m);
        let Some(drill) = &self.runbook.drill else {
            return;
        };
        // Injects due by the end of this minute.
        let mut due: Vec<(u64, &str)> = drill
            .injects
            .iter()
            .filter_map(|i| {
                duration::parse(&i.at)
                    .ok()
                    .map(|d| (d.as_secs(), i.message.as_str()))
            })
            .collect();
        due.sort_by_key(|(t, _)| *t);
        while w.injects_sent < due.len() && due[w.injects_sent].0 < ((m + 1) * 60) as u64 {
            let (t, msg) = due[w.injects_sent];
            events.push(Event::InjectArrived {
                message: msg.to_string(),
                at: self.start + chrono::Duration::seconds(t as i64),
            });
            w.injects_sent += 1;
        }
        let mut touched: BTreeMap<(String, KeyGeneration), Bucket> = BTreeMap::new();
        // Consumers.
        for ci in 0..w.consumers.len() {
            let (name, cred, reads, stale, rate, source) = {
                let c = &w.consumers[ci];
                (
                    c.name.clone(),
                    c.cred.clone(),
                    c.reads.clone(),
                    c.stale,
                    c.rate,
                    c.source.clone(),
                )
            };
            if !stale && let Some(k) = current_at(w, &reads) {
                w.consumers[ci].loaded = k;
            }
            let key = w.consumers[ci].loaded.clone();
            let jitter = 0.8 + 0.4 * unit(self.seed, &["consumer", &name], m as u64);
            let calls = ((f64::from(rate) * jitter).round() as u32).max(1);
            let alive = w.keys.get(&key).is_some_and(|k| k.active);
            let (ok, denied) = if alive { (calls, 0) } else { (0, calls) };
            record(w, &key, m, ok, denied, &source);
            let generation = generation_of(w, &cred, &key);
            let b = touched.entry((cred.clone(), generation)).or_default();
            b.ok += ok;
            b.denied += denied;
            *b.sources.entry(source.clone()).or_default() += calls;
            if denied > 0 {
                let c = &mut w.consumers[ci];
                c.errors += denied;
                *c.errors_by_cred.entry(cred.clone()).or_default() += denied;
                let id = w
                    .creds
                    .iter()
                    .find(|c| c.name == cred)
                    .map(SimCred::id)
                    .unwrap_or_else(|| cred.clone());
                events.push(Event::ConsumerFailed {
                    consumer: name.clone(),
                    credential: id,
                    errors: denied,
                    at,
                });
            }
        }
        // Attackers: bursts with the original (leaked) keys.
        for a in drill
            .actors
            .iter()
            .filter(|a| a.kind == ActorKind::Attacker)
        {
            let every = a
                .every
                .as_deref()
                .and_then(|e| duration::parse(e).ok())
                .map(|d| (d.as_secs() / 60).max(1) as i64)
                .unwrap_or(5);
            if m % every != 1 % every {
                continue;
            }
            for used in &a.uses {
                let Some(c) = w.creds.iter().find(|c| &c.name == used).cloned() else {
                    continue;
                };
                let key = c.original.clone();
                let alive = w.keys.get(&key).is_some_and(|k| k.active);
                let jitter = 0.7 + 0.6 * unit(self.seed, &["attacker", &a.name, used], m as u64);
                let calls = ((f64::from(a.rate) * jitter).round() as u32).max(1);
                let (ok, denied) = if alive { (calls, 0) } else { (0, calls) };
                record(w, &key, m, ok, denied, &a.source);
                w.attacker_ok += ok;
                if w.first_revoke.is_some_and(|r| at >= r) {
                    w.attacker_ok_after_first_revoke += ok;
                }
                let b = touched
                    .entry((c.name.clone(), KeyGeneration::Old))
                    .or_default();
                b.ok += ok;
                b.denied += denied;
                *b.sources.entry(a.source.clone()).or_default() += calls;
            }
        }
        for ((cred, generation), b) in touched {
            let id = w
                .creds
                .iter()
                .find(|c| c.name == cred)
                .map(SimCred::id)
                .unwrap_or(cred);
            let mut sources: Vec<(String, u32)> = b.sources.into_iter().collect();
            sources.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            events.push(Event::UsageObserved {
                sample: UsageSample {
                    credential: id,
                    generation,
                    minute: at,
                    ok: b.ok,
                    denied: b.denied,
                    sources: sources.into_iter().map(|(s, _)| s).collect(),
                },
            });
        }
    }

    /// Restarts consumers (a command step's drill effect): they reload their key now, stale
    /// ones included.
    pub fn restart_consumers(&self, names: &[String]) {
        {
            let mut w = self.lock();
            for i in 0..w.consumers.len() {
                if names.contains(&w.consumers[i].name) {
                    let reads = w.consumers[i].reads.clone();
                    if let Some(k) = current_at(&w, &reads) {
                        w.consumers[i].loaded = k;
                    }
                }
            }
        }
        self.save_quietly();
    }

    /// The staging labels of a Secrets Manager secret: version id → labels (`AWSCURRENT`,
    /// `AWSPENDING`, `AWSPREVIOUS`), oldest version first. Empty for an unknown secret.
    pub fn staging_labels(&self, secret: &str) -> Vec<(String, Vec<String>)> {
        let w = self.lock();
        w.secrets
            .get(secret)
            .map(|s| {
                s.versions
                    .iter()
                    .map(|v| (v.id.clone(), v.stages.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Latency and faults of one call to `target`.
    async fn call(&self, target: FaultTarget) -> ProviderResult<()> {
        let (n, now) = {
            let mut w = self.lock();
            let c = w.calls.entry(format!("{target:?}")).or_default();
            *c += 1;
            (*c, self.elapsed())
        };
        let tname = format!("{target:?}");
        let latency = 0.2 + 1.8 * unit(self.seed, &["latency", &tname], n);
        Clock::sleep(self, Duration::from_secs_f64(latency)).await;
        let Some(drill) = &self.runbook.drill else {
            return Ok(());
        };
        for (fi, f) in drill.faults.iter().enumerate() {
            match f {
                Fault::Throttle {
                    provider,
                    rate,
                    from,
                    until,
                } if *provider == target => {
                    let from = from
                        .as_deref()
                        .and_then(|d| duration::parse(d).ok())
                        .map(|d| d.as_secs_f64())
                        .unwrap_or(0.0);
                    let until = until
                        .as_deref()
                        .and_then(|d| duration::parse(d).ok())
                        .map(|d| d.as_secs_f64())
                        .unwrap_or(f64::MAX);
                    if now >= from
                        && now < until
                        && unit(self.seed, &["throttle", &tname, &fi.to_string()], n) < *rate
                    {
                        // Like AWS's ThrottlingException, no Retry-After: the engine backs
                        // off on its own (exponential, deterministic jitter).
                        return Err(ProviderError::Throttled {
                            provider: target_name(target).into(),
                            message: "Rate exceeded (simulated ThrottlingException)".into(),
                            retry_after: None,
                        });
                    }
                }
                Fault::ServerError { provider, rate }
                    if *provider == target
                        && unit(self.seed, &["5xx", &tname, &fi.to_string()], n) < *rate =>
                {
                    return Err(ProviderError::Server {
                        provider: target_name(target).into(),
                        status: 503,
                        message: "Service Unavailable (simulated)".into(),
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The secret value of a key: derived from its id and the seed, never stored.
    fn value_of(&self, key_id: &str, issuer: Issuer) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.seed.to_le_bytes()) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(key_id.as_bytes());
        let h = hex::encode(mac.finalize().into_bytes());
        match issuer {
            Issuer::Openai | Issuer::Generic => format!("sk-test-{}", &h[..40]),
            Issuer::Anthropic => format!("sk-ant-test-{}", &h[..40]),
            Issuer::Gemini => format!("AIzaTEST{}", &h[..31]),
            Issuer::Braintrust => format!("sk-bt-test-{}", &h[..32]),
            Issuer::AwsIam => format!("{key_id}:{}", &h[..40]),
        }
    }

    fn key_of_value(&self, w: &World, value: &str) -> Option<String> {
        w.keys
            .iter()
            .find(|(id, k)| self.value_of(id, k.issuer) == value)
            .map(|(id, _)| id.clone())
    }

    fn fingerprint(&self, value: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(b"breachbook-drill-fingerprint") {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(&self.seed.to_le_bytes());
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())[..12].to_string()
    }
}

/// What world.json keeps to recognise its seed: a hash, not the seed itself.
fn seed_check(seed: u64) -> u64 {
    mix(seed, &["seed-check"], 0)
}

fn hex6(seed: u64, s: &str) -> String {
    format!("{:012x}", mix(seed, &[s], 0) & 0xffff_ffff_ffff)
}

/// A key id in the issuer's style.
fn key_id(issuer: Issuer, seed: u64, salt: &str) -> String {
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

fn drill_start(rb: &Runbook) -> Result<DateTime<Utc>, SimError> {
    let drill = rb.drill.as_ref().ok_or(SimError::NoDrill)?;
    let after = duration::parse(&drill.starts_after_exposure).map_err(SimError::Invalid)?;
    Ok(rb.exposure_window.start + chrono::Duration::seconds(after.as_secs() as i64))
}

fn loc_name(l: &SimLocation) -> &str {
    match l {
        SimLocation::SecretsManager { secret, .. } | SimLocation::Braintrust { secret } => secret,
        SimLocation::IamUser { user } => user,
    }
}

/// The key currently stored at a location.
fn current_at(w: &World, l: &SimLocation) -> Option<String> {
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

fn generation_of(w: &World, cred: &str, key: &str) -> KeyGeneration {
    if w.creds.iter().any(|c| c.name == cred && c.original == key) {
        KeyGeneration::Old
    } else {
        KeyGeneration::New
    }
}

fn record(w: &mut World, key: &str, m: i64, ok: u32, denied: u32, source: &str) {
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
