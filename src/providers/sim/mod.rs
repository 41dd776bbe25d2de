//! The drill world: a simulated cloud (Secrets Manager, IAM, the AI providers, Braintrust),
//! legitimate consumers, an attacker, injects and faults, all driven by a drill clock.
//!
//! Deterministic for a seed: every random choice is a hash of (seed, what, counter), and time
//! is tokio time only, so a headless drill under paused time replays exactly. The world is
//! saved to `world.json` in the incident folder after every change and every simulated
//! minute (ids and times only, never a key value: values are derived from ids and the seed),
//! so a crashed drill resumes where it was.
//!
//! world.json is the simulated cloud's own storage, so a change is done only once it is
//! saved: a call that changes the world answers only after world.json holds the change (as a
//! cloud answers once its write is durable), and the engine journals what a call did only
//! after it answered. So the journal never holds a change world.json lacks. A save that fails
//! (a full disk) takes the world back to what world.json holds, fails the call, and refuses
//! every later change of this run ([`SimWorld::unsaved`]): the engine stops before it
//! journals anything more, and a resume, once the disk has room, reloads a world that agrees
//! with the journal.
//!
//! Here: the world's life (built, saved, reloaded), its clock and the ticker that moves it
//! on. `state` holds what is saved and how it is built from the drill section; `actors` the
//! minute-by-minute simulation and the latency and faults of every call; `providers`
//! implements the incident ports over the world (the world itself is the drill's `Clock` and
//! the engine's `Drill`); `score` scores a drill. All waiting is on the drill clock
//! ([`Clock::sleep`](crate::incident::ports::Clock::sleep)); the ticker alone is a tokio
//! interval, the cadence at which the world catches up with that clock. Depends on the
//! incident ports, model, events and state, and the runbook schema; only launch and tests
//! name it (the engine sees it as `ProviderSet::drill`).

mod actors;
mod creators;
mod providers;
mod score;
mod state;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The HMAC key of a drill world's fingerprints (the world's seed is fed first): the drill's
/// keys are made up, so the key is too, and `breachbook scan` can look for a drill's keys.
pub const DRILL_FINGERPRINT_KEY: &[u8] = b"breachbook-drill-fingerprint";

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;

use state::{World, current_at, drill_start, seed_check};
// The world's state as the drill's providers read and change it.
use state::{Key, SecretState, Version, fault_target, key_id, target_name};

use crate::incident::event::Event;
use crate::incident::ports::{ProviderError, ProviderResult, WorldFeed};
use crate::runbook::schema::{FaultTarget, Issuer, Runbook};

/// Why the world could not be built or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("this runbook has no `drill:` section: add one to drill it")]
    NoDrill,
    #[error("the runbook's drill section: {0}")]
    Invalid(String),
    #[error(
        "{}: {source} — check that the incident folder exists and is writable and that its disk is not full, then `breachbook resume` the incident",
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
/// The drill clock: drill seconds since the drill started, running `speed` times faster
/// than tokio time, except while it is paused (a person reads an onboarding explanation).
pub(super) struct DrillClock {
    speed: f64,
    base: tokio::time::Instant,
    /// Drill seconds already behind at `base` (a resumed drill).
    offset_secs: f64,
    pause: Mutex<Pause>,
}

/// Time the drill clock stood still.
#[derive(Default)]
struct Pause {
    /// Paused since, while paused.
    since: Option<tokio::time::Instant>,
    /// Paused time before `since`.
    total: Duration,
    /// Pauses so far: a sleep that saw none ended on time.
    count: u64,
}

impl DrillClock {
    fn pause(&self) -> MutexGuard<'_, Pause> {
        self.pause.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drill seconds since the drill started.
    pub(super) fn elapsed(&self) -> f64 {
        let p = self.pause();
        let stood = p.total + p.since.map(|s| s.elapsed()).unwrap_or_default();
        let ran = self.base.elapsed().saturating_sub(stood);
        self.offset_secs + ran.as_secs_f64() * self.speed
    }

    fn set_paused(&self, paused: bool) {
        let mut p = self.pause();
        match (paused, p.since) {
            (true, None) => {
                p.since = Some(tokio::time::Instant::now());
                p.count += 1;
            }
            (false, Some(since)) => {
                p.total += since.elapsed();
                p.since = None;
            }
            _ => {}
        }
    }

    fn paused(&self) -> (bool, u64) {
        let p = self.pause();
        (p.since.is_some(), p.count)
    }

    /// Waits `incident` drill seconds: one tokio sleep when nothing pauses the clock
    /// meanwhile (so a seed replays to the millisecond), more when something does.
    pub(super) async fn sleep(self: Arc<Self>, incident: Duration) {
        let target = self.elapsed() + incident.as_secs_f64();
        let (paused_at_start, before) = self.paused();
        tokio::time::sleep(incident.div_f64(self.speed)).await;
        if !paused_at_start && self.paused() == (false, before) {
            // Nothing stopped the clock meanwhile: on time, to the millisecond.
            return;
        }
        // The clock stood still for a while: wait out what is left of the drill time.
        loop {
            if self.paused().0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let left = target - self.elapsed();
            if left <= 0.0 {
                return;
            }
            tokio::time::sleep(Duration::from_secs_f64(left / self.speed)).await;
        }
    }
}

/// The simulated world.
pub struct SimWorld {
    world: Mutex<World>,
    runbook: Runbook,
    seed: u64,
    start: DateTime<Utc>,
    clock: Arc<DrillClock>,
    dir: Option<PathBuf>,
    /// world.json's bytes as last saved: what the world goes back to when a save fails.
    saved: Mutex<Vec<u8>>,
    /// Why the world could not be saved, once a save failed: nothing changes after that.
    unsaved: Mutex<Option<String>>,
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
        let w = World::at_start(drill, start, seed)?;
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
        // A state file: never through a link, bounded (64 MiB: far above any drill's world).
        let text =
            crate::fsutil::read_state_file(&path, 64 * 1024 * 1024).map_err(|e| SimError::Io {
                path: path.clone(),
                source: std::io::Error::other(e),
            })?;
        let w: World = serde_json::from_slice(&text).map_err(|e| SimError::Corrupt {
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
            .map(|d| {
                // The drill's credentials, then the keys its attackers minted, as built.
                d.credentials
                    .iter()
                    .chain(
                        d.actors
                            .iter()
                            .filter(|a| a.kind == crate::runbook::schema::ActorKind::Attacker)
                            .flat_map(|a| a.mints.iter()),
                    )
                    .map(|c| c.name.as_str())
                    .collect()
            })
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
        let clock = Arc::new(DrillClock {
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
            base: tokio::time::Instant::now(),
            offset_secs: w.elapsed_secs,
            pause: Mutex::new(Pause::default()),
        });
        let world = Arc::new(SimWorld {
            clock,
            world: Mutex::new(w),
            runbook: runbook.clone(),
            seed,
            start,
            dir: dir.map(Path::to_path_buf),
            saved: Mutex::new(Vec::new()),
            unsaved: Mutex::new(None),
            feed: tx,
        });
        {
            let mut w = world.lock();
            world.commit(&mut w).map_err(|source| SimError::Io {
                path: world.dir.clone().unwrap_or_default().join("world.json"),
                source,
            })?;
        }
        Ok((world, rx))
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock would leave a half-changed world; carry on with it
        // rather than take the drill down.
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Saves the world (locked by the caller) to world.json atomically (`fsutil::write_private`:
    /// a private temporary file, fsynced, renamed over the old one, then the folder fsynced).
    /// When that fails the world goes back to what world.json holds and refuses every later
    /// change ([`SimWorld::unsaved`] says why). No-op for an in-memory world.
    fn commit(&self, w: &mut World) -> std::io::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        // The drill time reached so far, so a resumed drill's clock carries on from here.
        w.elapsed_secs = w.elapsed_secs.max(self.elapsed());
        let path = dir.join("world.json");
        let written = serde_json::to_vec(&*w)
            .map_err(std::io::Error::other)
            .and_then(|text| {
                crate::fsutil::write_private(&path, &text)
                    .map(|()| text)
                    .map_err(std::io::Error::other)
            });
        let mut saved = self.saved.lock().unwrap_or_else(|p| p.into_inner());
        match written {
            Ok(text) => {
                *saved = text;
                Ok(())
            }
            Err(e) => {
                if let Ok(back) = serde_json::from_slice::<World>(&saved) {
                    // The change never happened: the world is what its storage holds.
                    *w = back;
                }
                let why = format!("could not save the drill world to {}: {e}", path.display());
                tracing::error!("{why}");
                *self.unsaved.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
                Err(e)
            }
        }
    }

    /// Why the world could not be saved, once a save failed (a full disk): from then on it
    /// changes nothing, and the run must stop before it journals anything more.
    pub fn unsaved(&self) -> Option<String> {
        self.unsaved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the world and saves it before answering: `f` changes it (and says whether it
    /// changed anything) or refuses without changing it. A failed save fails the call with
    /// the world as world.json holds it; after one, every change is refused.
    fn change<R>(
        &self,
        target: FaultTarget,
        f: impl FnOnce(&mut World) -> ProviderResult<(R, bool)>,
    ) -> ProviderResult<R> {
        let mut w = self.lock();
        let refused = |why: String| ProviderError::Server {
            provider: target_name(target).into(),
            // 507 Insufficient Storage: the simulated cloud could not store the change.
            status: 507,
            message: why,
        };
        if let Some(why) = self.unsaved() {
            return Err(refused(why));
        }
        let (r, changed) = f(&mut w)?;
        if changed {
            self.commit(&mut w)
                .map_err(|_| refused(self.unsaved().unwrap_or_default()))?;
        }
        Ok(r)
    }

    /// When the drill clock started.
    pub fn drill_start(&self) -> DateTime<Utc> {
        self.start
    }

    fn elapsed(&self) -> f64 {
        self.clock.elapsed()
    }

    /// Stops or restarts the drill clock (an onboarding explanation is open).
    pub fn set_paused(&self, paused: bool) {
        self.clock.set_paused(paused);
    }

    /// The drill clock.
    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = Duration::try_from_secs_f64(self.elapsed().max(0.0)).unwrap_or(Duration::MAX);
        crate::runbook::duration::after(self.start, elapsed)
    }

    fn minute_time(&self, m: i64) -> DateTime<Utc> {
        chrono::TimeDelta::try_minutes(m)
            .and_then(|d| self.start.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
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
        {
            let mut w = self.lock();
            if self.unsaved().is_some() {
                // The world stands still: nothing it does now could be saved.
                return !self.feed.is_closed();
            }
            w.elapsed_secs = w.elapsed_secs.max(now_secs);
            let before = w.minute_done;
            while w.minute_done < target {
                let m = w.minute_done + 1;
                self.simulate_minute(&mut w, m, &mut events);
                w.minute_done = m;
            }
            if w.minute_done != before && self.commit(&mut w).is_err() {
                // Minutes that could not be saved did not happen: nothing of them is told.
                return !self.feed.is_closed();
            }
        }
        for e in events {
            if self.feed.send(e).is_err() {
                return false;
            }
        }
        !self.feed.is_closed()
    }

    /// Restarts consumers (a command step's drill effect): they reload their key now, stale
    /// ones included.
    /// A save that fails here stops the run ([`SimWorld::unsaved`]) before it journals the
    /// command's end.
    pub fn restart_consumers(&self, names: &[String]) {
        let _ = self.change(FaultTarget::SecretsManager, |w| {
            for i in 0..w.consumers.len() {
                if names.contains(&w.consumers[i].name) {
                    let reads = w.consumers[i].reads.clone();
                    if let Some(k) = current_at(w, &reads) {
                        w.consumers[i].loaded = k;
                    }
                }
            }
            Ok(((), true))
        });
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
        let mut mac = match Hmac::<Sha256>::new_from_slice(DRILL_FINGERPRINT_KEY) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(&self.seed.to_le_bytes());
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())[..12].to_string()
    }
}
