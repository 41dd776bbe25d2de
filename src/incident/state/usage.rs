//! Usage as the incident saw it: calls per minute on each credential's old and new key,
//! split into known services (the runbook's consumers) and unknown sources, per source,
//! and what that says — the last use of a key, calls after its revocation, attacker calls
//! while the key was known to be exposed, services still on an old key.
//!
//! Every count the screen and the report show comes from here, so they agree. Pure; part
//! of the state's fold.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::IncidentState;
use crate::incident::model::{KeyGeneration, UsageSample};
use crate::incident::rotation::Stage;
use crate::runbook::schema::{ActorKind, Runbook};

/// Calls in one minute: (ok, denied).
pub type Calls = (u32, u32);

/// Calls per minute for one credential.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct UsageSeries {
    /// Minute → (ok, denied), old key.
    pub old: BTreeMap<DateTime<Utc>, Calls>,
    /// Minute → (ok, denied), new key.
    pub new: BTreeMap<DateTime<Utc>, Calls>,
    /// Old-key calls of known services, per minute.
    pub old_known: BTreeMap<DateTime<Utc>, Calls>,
    /// Old-key calls of unknown sources (the attacker, or a service nobody listed), per
    /// minute.
    pub old_unknown: BTreeMap<DateTime<Utc>, Calls>,
    /// Last successful use of the old key and where from (the source with most calls in
    /// that minute).
    pub last_old_use: Option<(DateTime<Utc>, String)>,
    /// Calls of that source in that minute, to pick the busiest of a minute's sources.
    #[serde(skip)]
    last_old_calls: u32,
    /// Calls on the old key after its revocation: (ok, denied). Denied calls of the minute
    /// the key was revoked in count (they came after it); accepted ones only from the next
    /// whole minute.
    pub old_after_revoke: Calls,
    /// Old-key calls per source.
    pub old_sources: BTreeMap<String, SourceCalls>,
    /// The last minute each source called with the new key.
    pub new_sources: BTreeMap<String, DateTime<Utc>>,
}

/// Old-key calls from one source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceCalls {
    /// The known service this source is, if it is one.
    pub service: Option<String>,
    pub ok: u32,
    pub denied: u32,
    /// Accepted calls after the credential was found exposed (before its revocation).
    pub ok_while_known: u32,
    /// Calls after the revocation (as in [`UsageSeries::old_after_revoke`]).
    pub after_revoke: Calls,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub last_ok: Option<DateTime<Utc>>,
    pub last_denied: Option<DateTime<Utc>>,
}

impl UsageSeries {
    /// Old-key calls of unknown sources: accepted, denied.
    pub fn unknown_totals(&self) -> Calls {
        self.totals(false)
    }

    /// Old-key calls of known services: accepted, denied.
    pub fn known_totals(&self) -> Calls {
        self.totals(true)
    }

    fn totals(&self, known: bool) -> Calls {
        self.old_sources
            .values()
            .filter(|s| s.service.is_some() == known)
            .fold((0, 0), |(o, d), s| (o + s.ok, d + s.denied))
    }

    /// Calls after revocation, split: (known services, unknown sources).
    pub fn after_revoke_split(&self) -> (Calls, Calls) {
        let mut known = (0, 0);
        let mut unknown = (0, 0);
        for s in self.old_sources.values() {
            let slot = if s.service.is_some() {
                &mut known
            } else {
                &mut unknown
            };
            slot.0 += s.after_revoke.0;
            slot.1 += s.after_revoke.1;
        }
        (known, unknown)
    }
}

/// A known service that called with a credential's old key after its replacement was
/// promoted, and has not called with the new key since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StillOnOld {
    pub service: String,
    pub source: String,
    /// Its last old-key call (the minute).
    pub last: DateTime<Utc>,
    /// Its last old-key call was refused: it is failing (an outage).
    pub failing: bool,
}

/// The known services of an incident: source as usage reports it → service name. In
/// drills, the runbook's consumer actors (their `source`, or their name).
pub fn known_sources(rb: &Runbook) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(d) = &rb.drill {
        for a in d.actors.iter().filter(|a| a.kind == ActorKind::Consumer) {
            let source = if a.source.is_empty() {
                a.name.clone()
            } else {
                a.source.clone()
            };
            out.insert(source, a.name.clone());
        }
    }
    out
}

impl IncidentState {
    /// The known service a usage source is, if it is one.
    pub fn service_of(&self, source: &str) -> Option<&str> {
        self.known_sources.get(source).map(String::as_str)
    }

    /// Folds one usage sample in. A sample naming several sources (a provider that does
    /// not count per source, journals written before samples were) is put on its first
    /// source, and counts as known only when every source it names is known.
    pub(super) fn observe(&mut self, s: &UsageSample) {
        self.see(s.minute);
        let c = self.credential(&s.credential);
        let revoked_at = c.and_then(|c| c.stamps.get(&Stage::Revoked).copied());
        let found_at = c.and_then(|c| c.found_at);
        let source = s.sources.first().cloned().unwrap_or_default();
        let service = if !s.sources.is_empty()
            && s.sources.iter().all(|x| self.known_sources.contains_key(x))
        {
            self.known_sources.get(&source).cloned()
        } else {
            None
        };
        let series = self.usage.entry(s.credential.clone()).or_default();
        let add = |map: &mut BTreeMap<DateTime<Utc>, Calls>| {
            let slot = map.entry(s.minute).or_insert((0, 0));
            slot.0 += s.ok;
            slot.1 += s.denied;
        };
        if s.generation == KeyGeneration::New {
            add(&mut series.new);
            for src in &s.sources {
                let last = series.new_sources.entry(src.clone()).or_insert(s.minute);
                *last = (*last).max(s.minute);
            }
            return;
        }
        add(&mut series.old);
        add(if service.is_some() {
            &mut series.old_known
        } else {
            &mut series.old_unknown
        });
        if s.ok > 0 {
            let later = series
                .last_old_use
                .as_ref()
                .is_none_or(|(t, _)| *t < s.minute);
            let busier = series
                .last_old_use
                .as_ref()
                .is_some_and(|(t, _)| *t == s.minute)
                && s.ok > series.last_old_calls;
            if later || busier {
                series.last_old_use = Some((s.minute, source.clone()));
                series.last_old_calls = s.ok;
            }
        }
        // After the revocation: denied calls of its minute came after it.
        let after = revoked_at.map(|r| {
            let ok = if s.minute >= r { s.ok } else { 0 };
            let denied = if s.minute + Duration::minutes(1) > r {
                s.denied
            } else {
                0
            };
            (ok, denied)
        });
        if let Some((ok, denied)) = after {
            series.old_after_revoke.0 += ok;
            series.old_after_revoke.1 += denied;
        }
        let while_known =
            found_at.is_some_and(|f| s.minute >= f) && revoked_at.is_none_or(|r| s.minute < r);
        let per = series
            .old_sources
            .entry(source)
            .or_insert_with(|| SourceCalls {
                service: service.clone(),
                ok: 0,
                denied: 0,
                ok_while_known: 0,
                after_revoke: (0, 0),
                first: s.minute,
                last: s.minute,
                last_ok: None,
                last_denied: None,
            });
        per.ok += s.ok;
        per.denied += s.denied;
        if while_known {
            per.ok_while_known += s.ok;
        }
        if let Some((ok, denied)) = after {
            per.after_revoke.0 += ok;
            per.after_revoke.1 += denied;
        }
        per.first = per.first.min(s.minute);
        per.last = per.last.max(s.minute);
        if s.ok > 0 {
            per.last_ok = Some(per.last_ok.map_or(s.minute, |t| t.max(s.minute)));
        }
        if s.denied > 0 {
            per.last_denied = Some(per.last_denied.map_or(s.minute, |t| t.max(s.minute)));
        }
    }

    /// The known services that called with `credential`'s old key after its replacement
    /// was promoted and have not called with the new key since, in name order. Empty before
    /// the promotion.
    pub fn still_on_old_key(&self, credential: &str) -> Vec<StillOnOld> {
        let Some(promoted) = self
            .credential(credential)
            .and_then(|c| c.stamps.get(&Stage::Promoted).copied())
        else {
            return Vec::new();
        };
        let Some(u) = self.usage.get(credential) else {
            return Vec::new();
        };
        let mut out: Vec<StillOnOld> = u
            .old_sources
            .iter()
            .filter_map(|(source, s)| {
                let service = s.service.clone()?;
                let moved = u.new_sources.get(source).is_some_and(|n| *n > s.last);
                (s.last >= promoted && !moved).then(|| StillOnOld {
                    service,
                    source: source.clone(),
                    last: s.last,
                    failing: s.last_denied == Some(s.last),
                })
            })
            .collect();
        out.sort_by(|a, b| a.service.cmp(&b.service));
        out
    }

    /// The last time the incident saw `credential`'s old key accepted, from its own usage
    /// samples (the provider's "last used" is only a snapshot at the inventory).
    pub fn last_seen_use(&self, credential: &str) -> Option<DateTime<Utc>> {
        self.usage
            .get(credential)
            .and_then(|u| u.last_old_use.as_ref())
            .map(|(t, _)| *t)
    }
}
