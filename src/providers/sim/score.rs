//! The drill's score: what the responders achieved and what their mistakes cost, from the
//! world (consumer errors, attacker calls) and the incident state (revocations, overrides,
//! skips, the usage it saw). May depend on `super` and the incident state.

use super::SimWorld;
use crate::incident::event::Score;
use crate::incident::rotation::{RotationState, Stage};
use crate::incident::state::{IncidentState, StepStatus};

/// How long a ready replacement may wait for its old key's revocation before the wait is a
/// mistake (drill seconds): reading the evidence and restarting what caches keys take time.
pub const WAIT_GRACE_SECS: u64 = 15 * 60;

impl SimWorld {
    /// The drill's score from the world and the incident state.
    ///
    /// Points start at 100 and lose, worst first:
    /// - 25 per exposed key not revoked (the attacker can still use it);
    /// - 5 per 10 failed consumer calls, at most 30 (an outage the responders caused);
    /// - 1 per 50 attacker calls that succeeded after the first revocation, at most 20;
    /// - 10 per skipped check (override, skipped critical step or exposed key), at most 30;
    /// - 1 per 2 drill minutes a ready replacement waited beyond 15 minutes for its old
    ///   key's revocation, at most 15 (the attacker kept a working key all that time);
    /// - 1 per 5 drill minutes that containment took beyond 30 minutes, at most 15.
    ///
    /// Time to contain runs from the incident's opening (the drill's start) to the last
    /// exposed key's revocation, as in the report's summary.
    pub fn score(&self, state: &IncidentState) -> Score {
        let w = self.lock();
        let exposed: Vec<_> = state
            .credentials
            .iter()
            .filter(|c| c.credential.exposed)
            .collect();
        let revoked = exposed.iter().filter(|c| c.rotation.is_contained()).count();
        let time_to_contain_secs = if revoked == exposed.len() && !exposed.is_empty() {
            exposed
                .iter()
                .filter_map(|c| c.stamps.get(&Stage::Revoked))
                .max()
                .map(|t| (*t - state.opened_at).num_seconds().max(0) as u64)
        } else {
            None
        };
        let overrides: Vec<_> = state
            .confirmations
            .iter()
            .filter(|c| c.action.is_override())
            .collect();
        let skipped_steps: Vec<&str> = state
            .steps
            .iter()
            .filter(|s| matches!(s.status, StepStatus::Skipped { .. }))
            .filter(|s| state.step_def(&s.id).is_some_and(|d| d.is_critical))
            .map(|s| s.id.as_str())
            .collect();
        let skipped_creds: Vec<&str> = exposed
            .iter()
            .filter(|c| matches!(c.rotation, RotationState::Skipped { .. }))
            .map(|c| c.credential.name.as_str())
            .collect();
        let consumer_errors: u32 = w.consumers.iter().map(|c| c.errors).sum();
        let skipped_checks = (overrides.len() + skipped_steps.len() + skipped_creds.len()) as u32;
        let mut mistakes = Vec::new();
        for o in &overrides {
            let name = state
                .credential(&o.credential)
                .map(|c| c.credential.name.clone())
                .unwrap_or_else(|| o.credential.clone());
            let hurt: Vec<String> = w
                .consumers
                .iter()
                .filter_map(|c| {
                    let n = c.errors_by_cred.get(&name).copied().unwrap_or(0);
                    (n > 0).then(|| format!("{} failed {n} calls", c.name))
                })
                .collect();
            // Revoked before its replacement was everywhere (or it never was).
            let early = state.credential(&o.credential).is_some_and(|c| {
                match (
                    c.stamps.get(&Stage::Revoked),
                    c.stamps.get(&Stage::Propagated),
                ) {
                    (Some(r), Some(p)) => p > r,
                    (Some(_), None) => true,
                    _ => false,
                }
            });
            mistakes.push(if hurt.is_empty() {
                format!(
                    "{name} was revoked with an override of failed pre-flight checks ({})",
                    o.override_of.join("; ")
                )
            } else if early {
                format!(
                    "{name} was revoked before its new key reached every location: {}",
                    hurt.join(", ")
                )
            } else {
                format!(
                    "{name} was revoked with an override while known services still used its old key: {}",
                    hurt.join(", ")
                )
            });
        }
        let overridden: Vec<String> = overrides
            .iter()
            .filter_map(|o| {
                state
                    .credential(&o.credential)
                    .map(|c| c.credential.name.clone())
            })
            .collect();
        for c in &w.consumers {
            for (cred, n) in &c.errors_by_cred {
                if !overridden.contains(cred) && *n > 0 {
                    mistakes.push(format!(
                        "{} still held the old key of {cred} when it was revoked: {n} failed calls (restart services that cache keys before revoking)",
                        c.name
                    ));
                }
            }
        }
        for c in &exposed {
            if !c.rotation.is_contained() {
                mistakes.push(format!(
                    "{} was never revoked: the attacker can still use it",
                    c.credential.name
                ));
            }
        }
        for s in &skipped_steps {
            mistakes.push(format!("critical step `{s}` was skipped"));
        }
        for s in state
            .steps
            .iter()
            .filter(|s| s.reopened > 0 && s.status == StepStatus::Done)
        {
            mistakes.push(format!(
                "step `{}` was skipped at first, then reopened and done",
                s.id
            ));
        }
        if w.attacker_ok_after_first_revoke > 0 {
            mistakes.push(format!(
                "the attacker made {} successful calls after the first revocation (partial or slow containment)",
                w.attacker_ok_after_first_revoke
            ));
        }
        // Calls the attacker made with keys the responders knew were exposed, and how long
        // each ready replacement waited for its old key to go.
        let mut attacker_calls_while_known = 0u32;
        let mut replacement_wait_secs = 0u64;
        let mut excess_wait_secs = 0u64;
        for c in &exposed {
            let calls: u32 = state
                .usage
                .get(&c.credential.id)
                .map(|u| {
                    u.old_sources
                        .values()
                        .filter(|s| s.service.is_none())
                        .map(|s| s.ok_while_known)
                        .sum()
                })
                .unwrap_or(0);
            attacker_calls_while_known += calls;
            let Some(ready) = c.stamps.get(&Stage::Propagated).copied() else {
                continue;
            };
            let until = c
                .stamps
                .get(&Stage::Revoked)
                .copied()
                .unwrap_or(state.clock);
            let waited = (until - ready).num_seconds().max(0) as u64;
            replacement_wait_secs += waited;
            if waited > WAIT_GRACE_SECS {
                excess_wait_secs += waited - WAIT_GRACE_SECS;
                let while_ready: u32 = state
                    .usage
                    .get(&c.credential.id)
                    .map(|u| {
                        u.old_unknown
                            .range(ready..until)
                            .map(|(_, (ok, _))| *ok)
                            .sum()
                    })
                    .unwrap_or(0);
                mistakes.push(format!(
                    "{}'s replacement was ready (in every location) {} before its old key was revoked{}: the attacker made {while_ready} calls with the exposed key meanwhile (revoke as soon as the evidence is green)",
                    c.credential.name,
                    minutes(waited),
                    if c.rotation.is_contained() {
                        ""
                    } else {
                        " — it still is not"
                    },
                ));
            }
        }
        // Keys the attacker made for themselves: still working is still an open door.
        let attacker_active: Vec<String> = w
            .attacker_keys
            .iter()
            .filter(|id| {
                state
                    .credential(id)
                    .is_none_or(|c| c.rotation.reached() < Stage::Revoked)
            })
            .map(|id| {
                state
                    .credential(id)
                    .map(|c| c.credential.name.clone())
                    .unwrap_or_else(|| id.clone())
            })
            .collect();
        for name in &attacker_active {
            mistakes.push(format!(
                "a key the attacker created is still active: {name} (created during the exposure window by an unknown identity; revoke it)"
            ));
        }
        let mut points: i64 = 100;
        points -= 25 * (exposed.len() - revoked) as i64;
        points -= 25 * attacker_active.len() as i64;
        points -= (i64::from(consumer_errors) / 10 * 5).min(30);
        points -= (i64::from(w.attacker_ok_after_first_revoke) / 50).min(20);
        points -= (10 * i64::from(skipped_checks)).min(30);
        points -= ((excess_wait_secs / 120) as i64).min(15);
        const CONTAIN_IN: u64 = 30 * 60;
        if let Some(t) = time_to_contain_secs
            && t > CONTAIN_IN
        {
            points -= (((t - CONTAIN_IN) / 300) as i64).min(15);
        }
        Score {
            time_to_contain_secs,
            exposed: exposed.len() as u32,
            revoked: revoked as u32,
            attacker_calls_after_revoke: w.attacker_ok_after_first_revoke,
            consumer_errors,
            skipped_checks,
            points: points.clamp(0, 100) as u32,
            attacker_calls_while_known,
            replacement_wait_secs,
            mistakes,
        }
    }
}

/// `12 min`, `1 h 05 min`.
fn minutes(secs: u64) -> String {
    let m = secs / 60;
    if m >= 60 {
        format!("{} h {:02} min", m / 60, m % 60)
    } else {
        format!("{m} min")
    }
}
