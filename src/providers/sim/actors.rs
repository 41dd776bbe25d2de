//! The drill world in motion: each simulated minute (injects, consumers calling with the
//! key they loaded, attackers with the leaked ones, the usage that makes) and the latency
//! and faults of every call to a simulated provider.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::SimWorld;
use super::state::{Bucket, SimCred, World, current_at, generation_of, record, target_name, unit};
use crate::incident::event::Event;
use crate::incident::model::{KeyGeneration, UsageSample};
use crate::incident::ports::{Clock, ProviderError, ProviderResult};
use crate::runbook::duration;
use crate::runbook::schema::{ActorKind, Drill, Fault, FaultTarget};

impl SimWorld {
    /// Simulates drill minute `m`: the injects due, every consumer's and attacker's calls,
    /// and the usage they make, in that order (the order is part of a seed's replay).
    pub(super) fn simulate_minute(&self, w: &mut World, m: i64, events: &mut Vec<Event>) {
        let at = self.minute_time(m);
        let Some(drill) = &self.runbook.drill else {
            return;
        };
        self.send_injects(drill, w, m, events);
        let mut touched: Touched = BTreeMap::new();
        self.consumers_call(w, m, at, &mut touched, events);
        self.attackers_call(drill, w, m, at, &mut touched);
        usage_of(w, at, touched, events);
    }

    /// The injects due by the end of minute `m`, not sent yet.
    fn send_injects(&self, drill: &Drill, w: &mut World, m: i64, events: &mut Vec<Event>) {
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
    }

    /// Each consumer calls with the key it loaded (a fresh one from its location, unless it
    /// is stale); calls with a dead key fail and are reported.
    fn consumers_call(
        &self,
        w: &mut World,
        m: i64,
        at: DateTime<Utc>,
        touched: &mut Touched,
        events: &mut Vec<Event>,
    ) {
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
            let b = touched
                .entry((cred.clone(), generation, source.clone()))
                .or_default();
            b.ok += ok;
            b.denied += denied;
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
    }

    /// Attackers: bursts with the original (leaked) keys.
    fn attackers_call(
        &self,
        drill: &Drill,
        w: &mut World,
        m: i64,
        at: DateTime<Utc>,
        touched: &mut Touched,
    ) {
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
                    .entry((c.name.clone(), KeyGeneration::Old, a.source.clone()))
                    .or_default();
                b.ok += ok;
                b.denied += denied;
            }
        }
    }
}

/// Calls of one minute per (credential name, key generation, source).
type Touched = BTreeMap<(String, KeyGeneration, String), Bucket>;

/// The minute's calls as usage samples, one per credential, key generation and source (so
/// the incident can tell its own services from unknown sources call for call), busiest
/// source first.
fn usage_of(w: &World, at: DateTime<Utc>, touched: Touched, events: &mut Vec<Event>) {
    let mut samples: Vec<UsageSample> = touched
        .into_iter()
        .map(|((cred, generation, source), b)| {
            let id = w
                .creds
                .iter()
                .find(|c| c.name == cred)
                .map(SimCred::id)
                .unwrap_or(cred);
            UsageSample {
                credential: id,
                generation,
                minute: at,
                ok: b.ok,
                denied: b.denied,
                sources: vec![source],
            }
        })
        .collect();
    samples.sort_by(|a, b| {
        (&a.credential, a.generation)
            .cmp(&(&b.credential, b.generation))
            .then((b.ok + b.denied).cmp(&(a.ok + a.denied)))
            .then(a.sources.cmp(&b.sources))
    });
    events.extend(
        samples
            .into_iter()
            .map(|sample| Event::UsageObserved { sample }),
    );
}

impl SimWorld {
    /// Latency and faults of one call to `target`.
    pub(super) async fn call(&self, target: FaultTarget) -> ProviderResult<()> {
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
}
