//! Usage of the live keys: [`UsagePoller`] asks the issuers, every poll, how often each
//! exposed key (and its new key, once minted) was called, and feeds the Usage panel;
//! `Watched` notes the id of every key an issuer mints so the poller watches it too.
//!
//! May depend on the incident ports, model, events and retries and the runbook schema only.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tokio::sync::mpsc;

use crate::incident::event::Event;
use crate::incident::model::{Credential, KeyGeneration, UsageSample};
use crate::incident::ports::{
    Clock, KeyIssuer, Liveness, NewKey, ProviderResult, Spend, StrayKey, WorldFeed,
};
use crate::incident::retries;
use crate::runbook::schema::Issuer;

/// Credential id → the id of its new key.
pub type NewKeys = Arc<Mutex<HashMap<String, String>>>;

/// Polls the issuers' usage data for every key found and reports new calls as
/// `UsageObserved` events (deltas: the state adds them up).
pub struct UsagePoller {
    pub issuers: HashMap<Issuer, Arc<dyn KeyIssuer>>,
    /// Credentials to watch (the inventory adds to it as it finds keys).
    pub credentials: Arc<Mutex<Vec<Credential>>>,
    /// Their new keys, watched too once minted.
    pub new_keys: NewKeys,
    /// Time between polls.
    pub every: Duration,
    /// How far back the first poll looks.
    pub lookback: chrono::Duration,
    /// The incident's clock: where "now" is when the first poll looks back.
    pub clock: Arc<dyn Clock>,
    /// Events from before the feed began, sent first (the retries made while connecting).
    pub earlier: Vec<Event>,
}

/// What the poller remembers from one poll to the next.
#[derive(Default)]
struct Polled {
    /// Calls already reported per (credential, generation, minute): (ok, denied).
    seen: BTreeMap<(String, KeyGeneration, DateTime<Utc>), (u32, u32)>,
    /// Where the next poll of each key starts.
    since: HashMap<(String, KeyGeneration), DateTime<Utc>>,
    /// Each issuer whose usage data cannot be read is said once per run, not every poll.
    failing: HashSet<Issuer>,
    /// Each issuer's blind spots (what it cannot attribute to a key) are said once per run.
    blind_spots_said: HashSet<Issuer>,
    /// The spend last said per (credential, generation), in hundredths of its currency.
    spent: HashMap<(String, KeyGeneration), i64>,
}

/// Nobody listens to the feed any more: the poller stops.
struct Gone;

impl UsagePoller {
    /// Starts polling; the feed ends when the receiver is dropped.
    pub fn spawn(mut self) -> WorldFeed {
        let (tx, rx) = mpsc::unbounded_channel();
        for e in std::mem::take(&mut self.earlier) {
            let _ = tx.send(e);
        }
        tokio::spawn(async move {
            let mut polled = Polled::default();
            // A cadence, not a wait of the incident: live only, so tokio's own interval (the
            // wall clock) keeps the polls `every` apart.
            let mut tick = tokio::time::interval(self.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if tx.is_closed() || self.poll(&tx, &mut polled).await.is_err() {
                    return;
                }
            }
        });
        rx
    }

    /// Journals the retries the issuer's client makes during one key's poll.
    fn retry_watch(&self, tx: &mpsc::UnboundedSender<Event>, credential: &str) -> retries::Watch {
        let tx = tx.clone();
        let clock = self.clock.clone();
        retries::Watch {
            credential: Some(credential.to_string()),
            sink: Arc::new(move |credential, r: retries::Retry| {
                let _ = tx.send(Event::CallRetried {
                    credential: credential.map(str::to_string),
                    step: None,
                    call: r.call,
                    attempt: r.attempt,
                    why: r.why,
                    at: clock.now(),
                });
            }),
        }
    }

    /// One poll of every exposed key, old and new.
    async fn poll(
        &self,
        tx: &mpsc::UnboundedSender<Event>,
        polled: &mut Polled,
    ) -> Result<(), Gone> {
        let creds: Vec<Credential> = self
            .credentials
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        let new_keys = self.new_keys.lock().map(|m| m.clone()).unwrap_or_default();
        for cred in creds.iter().filter(|c| c.exposed) {
            let Some(issuer) = self.issuers.get(&cred.issuer) else {
                continue;
            };
            if !polled.blind_spots_said.contains(&cred.issuer)
                && let Some(text) = issuer.usage_blind_spots()
            {
                polled.blind_spots_said.insert(cred.issuer);
                tx.send(Event::Note { text }).map_err(|_| Gone)?;
            }
            let mut watch = vec![(KeyGeneration::Old, None)];
            if let Some(id) = new_keys.get(&cred.id) {
                watch.push((KeyGeneration::New, Some(id.as_str())));
            }
            for (generation, new_id) in watch {
                self.poll_key(tx, polled, issuer, cred, generation, new_id)
                    .await?;
            }
        }
        Ok(())
    }

    /// Reports the calls of one key since its last poll.
    async fn poll_key(
        &self,
        tx: &mpsc::UnboundedSender<Event>,
        polled: &mut Polled,
        issuer: &Arc<dyn KeyIssuer>,
        cred: &Credential,
        generation: KeyGeneration,
        new_id: Option<&str>,
    ) -> Result<(), Gone> {
        let at = (cred.id.clone(), generation);
        let from = *polled
            .since
            .entry(at.clone())
            .or_insert_with(|| self.clock.now() - self.lookback);
        let samples = match retries::watched(
            self.retry_watch(tx, &cred.id),
            issuer.usage(cred, generation, new_id, from),
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(credential = %cred.id, error = %e, "usage poll failed");
                // A throttled or failed poll is tried again at the next one; only a source
                // that cannot answer at all is said.
                if !e.is_retryable() && polled.failing.insert(cred.issuer) {
                    let text = format!(
                        "usage of {} keys cannot be read ({e}): the Usage panel shows none of their calls, which is not the same as none made",
                        cred.issuer.label()
                    );
                    tx.send(Event::Note { text }).map_err(|_| Gone)?;
                }
                return Ok(());
            }
        };
        let mut newest = from;
        for mut s in samples {
            s.credential = cred.id.clone();
            s.generation = generation;
            newest = newest.max(s.minute);
            let key = (cred.id.clone(), s.generation, s.minute);
            let before = polled.seen.get(&key).copied().unwrap_or((0, 0));
            let ok = s.ok.saturating_sub(before.0);
            let denied = s.denied.saturating_sub(before.1);
            if ok == 0 && denied == 0 {
                continue;
            }
            polled
                .seen
                .insert(key, (before.0.max(s.ok), before.1.max(s.denied)));
            s.ok = ok;
            s.denied = denied;
            tx.send(Event::UsageObserved { sample: s })
                .map_err(|_| Gone)?;
        }
        // Look again at the newest minute next time: it may still be filling.
        polled.since.insert(at.clone(), newest);
        self.poll_spend(tx, polled, issuer, cred, generation, new_id, from)
            .await
    }

    /// Says what the issuer reports as spent with one key, when that changed since it was
    /// last said (a stolen key's bill, where the issuer counts costs per key).
    #[allow(clippy::too_many_arguments)]
    async fn poll_spend(
        &self,
        tx: &mpsc::UnboundedSender<Event>,
        polled: &mut Polled,
        issuer: &Arc<dyn KeyIssuer>,
        cred: &Credential,
        generation: KeyGeneration,
        new_id: Option<&str>,
        from: DateTime<Utc>,
    ) -> Result<(), Gone> {
        let spend = match retries::watched(
            self.retry_watch(tx, &cred.id),
            issuer.spend(cred, generation, new_id, from),
        )
        .await
        {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(()),
            Err(e) => {
                tracing::debug!(credential = %cred.id, error = %e, "spend poll failed");
                return Ok(());
            }
        };
        let hundredths = (spend.amount * 100.0).round() as i64;
        let at = (cred.id.clone(), generation);
        if polled.spent.get(&at) == Some(&hundredths)
            || (hundredths == 0 && !polled.spent.contains_key(&at))
        {
            return Ok(());
        }
        polled.spent.insert(at, hundredths);
        let which = match generation {
            KeyGeneration::Old => "old key",
            KeyGeneration::New => "new key",
        };
        let text = format!(
            "{} reports {:.2} {} spent with {}'s {which} since {} (its costs by key)",
            cred.issuer.label(),
            spend.amount,
            spend.currency.to_uppercase(),
            cred.name,
            spend.since.format("%Y-%m-%d %H:%M UTC"),
        );
        tx.send(Event::Note { text }).map_err(|_| Gone)
    }
}

/// An issuer that notes the id of every key it mints, so the usage poller can watch the
/// new keys too. Everything else goes straight through.
pub(super) struct Watched {
    pub inner: Arc<dyn KeyIssuer>,
    pub new_keys: NewKeys,
}

#[async_trait]
impl KeyIssuer for Watched {
    async fn issue(&self, old: &Credential, token: &str) -> ProviderResult<NewKey> {
        let key = self.inner.issue(old, token).await?;
        if let Ok(mut m) = self.new_keys.lock() {
            m.insert(old.id.clone(), key.key_id.clone());
        }
        Ok(key)
    }
    async fn verify(&self, cred: &Credential, key: &SecretString) -> ProviderResult<Liveness> {
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
        self.inner.discard_stray(old, stray).await?;
        // A discarded key is not watched: the next mint names its own.
        if let Ok(mut m) = self.new_keys.lock()
            && m.get(&old.id) == Some(&stray.key_id)
        {
            m.remove(&old.id);
        }
        Ok(())
    }
    async fn identify(&self, found: &mut Credential, value: &SecretString) -> ProviderResult<()> {
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
