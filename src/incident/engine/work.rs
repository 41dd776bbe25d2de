//! The engine's work in tasks: what an operation needs ([`OpCtx`]), attempts with backoff,
//! and the per-key operations of the bulk steps (list, mint and stage, verify, promote and
//! copy) and of the hand-overs (a pasted key, room at the issuer's key limit).
//!
//! An operation reports only through events sent back to the engine loop; it never touches
//! the incident state. A new key's value lives in memory only, between the issuer and the
//! store. Depends on the ports, the model and events.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Semaphore, mpsc};

use crate::incident::event::Event;
use crate::incident::model::{Credential, Location, LocationKind};
use crate::incident::ports::{Liveness, ProviderError, ProviderSet};
use crate::runbook::schema::{ExposureWindow, Scope};

/// What a background operation reports back to the engine loop.
pub(super) enum OpMsg {
    /// Events to journal, in order.
    Events(Vec<Event>),
    /// One unit of work of `step` finished, with its last events: one message, so no
    /// command is handled between the events and the end of the work (a paste answering a
    /// `ManualKeyNeeded` must not find the key still busy).
    Done {
        step: String,
        credential: Option<String>,
        events: Vec<Event>,
    },
}

/// What a background operation needs.
#[derive(Clone)]
pub(super) struct OpCtx {
    pub(super) step: String,
    pub(super) providers: ProviderSet,
    pub(super) tx: mpsc::UnboundedSender<OpMsg>,
    pub(super) permits: Arc<Semaphore>,
    pub(super) max_attempts: u32,
    pub(super) backoff_base: Duration,
}

impl OpCtx {
    pub(super) fn send(&self, events: Vec<Event>) {
        if !events.is_empty() {
            let _ = self.tx.send(OpMsg::Events(events));
        }
    }

    pub(super) fn done(&self, credential: Option<String>) {
        self.finish(Vec::new(), credential);
    }

    /// The unit's last events and its end, as one message.
    pub(super) fn finish(&self, events: Vec<Event>, credential: Option<String>) {
        let _ = self.tx.send(OpMsg::Done {
            step: self.step.clone(),
            credential,
            events,
        });
    }

    /// Runs `f` with a concurrency permit, retrying retryable failures with exponential
    /// backoff and jitter; every failed attempt is journaled.
    pub(super) async fn attempt<T, F, Fut>(
        &self,
        credential: Option<&str>,
        operation: &str,
        mut f: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let mut attempt = 1;
        loop {
            let result = {
                let _permit = self.permits.acquire().await;
                f().await
            };
            match result {
                Ok(v) => return Ok(v),
                Err(
                    e @ (ProviderError::ManualIssue { .. }
                    | ProviderError::ManualRevoke { .. }
                    | ProviderError::NeedsRoom { .. }
                    | ProviderError::Unsupported { .. }),
                ) => {
                    // Not a failed attempt: the provider says a person must do this, or
                    // that this way of doing it does not exist. The caller decides.
                    return Err(e);
                }
                Err(e) => {
                    let retryable = e.is_retryable() && attempt < self.max_attempts;
                    self.send(vec![Event::AttemptFailed {
                        credential: credential.map(str::to_string),
                        step: self.step.clone(),
                        operation: operation.to_string(),
                        attempt,
                        why: e.to_string(),
                        retryable,
                    }]);
                    if !retryable {
                        return Err(e);
                    }
                    let delay = e
                        .retry_after()
                        .unwrap_or_else(|| backoff(self.backoff_base, attempt, credential));
                    self.providers.clock.sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// Exponential backoff with deterministic jitter (so drills replay the same with a seed).
fn backoff(base: Duration, attempt: u32, salt: Option<&str>) -> Duration {
    use sha2::{Digest, Sha256};
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(6));
    let mut h = Sha256::new();
    h.update(salt.unwrap_or("").as_bytes());
    h.update(attempt.to_le_bytes());
    let d = h.finalize();
    let jitter_ms = u64::from(u16::from_le_bytes([d[0], d[1]])) % (exp.as_millis() as u64 / 2 + 1);
    exp + Duration::from_millis(jitter_ms)
}

/// The operation of a bulk step on one key, with what it needs from the incident state.
pub(super) enum Job {
    /// Mint with the idempotency token, then stage as pending.
    Rotate { token: String },
    /// Read the staged version back and call the issuer with it.
    Verify { version: String },
    /// Promote (unless it was already, at `promoted`) and copy to the locations not yet
    /// updated (`done`).
    Propagate {
        version: String,
        promoted: Option<DateTime<Utc>>,
        done: HashSet<String>,
    },
    /// Watch the revoked key for the quiet period, then check it is refused.
    Monitor {
        version: Option<String>,
        revoked_at: DateTime<Utc>,
        quiet: Duration,
    },
}

impl Job {
    pub(super) async fn run(&self, ctx: &OpCtx, cred: &Credential) -> Vec<Event> {
        match self {
            Job::Rotate { token } => rotate_one(ctx, cred, token).await,
            Job::Verify { version } => verify_one(ctx, cred, version).await,
            Job::Propagate {
                version,
                promoted,
                done,
            } => propagate_one(ctx, cred, version, *promoted, done).await,
            Job::Monitor {
                version,
                revoked_at,
                quiet,
            } => {
                super::old_key::monitor_one(ctx, cred, version.as_deref(), *revoked_at, *quiet)
                    .await
            }
        }
    }
}

/// Lists the scope page by page; each page is journaled as it comes.
pub(super) async fn list(ctx: &OpCtx, scope: Scope, window: ExposureWindow) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let inv = ctx.providers.inventory.clone();
    let fut = async move { inv.discover(&scope, &window, tx).await };
    let forward = async {
        while let Some(page) = rx.recv().await {
            let events = page
                .into_iter()
                .map(|credential| Event::CredentialDiscovered { credential })
                .collect();
            ctx.send(events);
        }
    };
    let (res, ()) = tokio::join!(fut, forward);
    if let Err(e) = res {
        ctx.send(vec![Event::AttemptFailed {
            credential: None,
            step: ctx.step.clone(),
            operation: "inventory".into(),
            attempt: 1,
            why: e.to_string(),
            retryable: false,
        }]);
    }
}

/// Deletes `key_id` (the operator typed its word) to make room at the issuer, then mints
/// and stages the new key.
pub(super) async fn make_room(
    ctx: &OpCtx,
    cred: &Credential,
    key_id: &str,
    token: &str,
) -> Vec<Event> {
    let made = ctx
        .attempt(Some(&cred.id), "make room", || async {
            ctx.providers
                .issuer(cred.issuer)?
                .make_room(cred, key_id)
                .await
        })
        .await;
    match made {
        // Gone already (a retry after the deletion): there is room.
        Ok(()) | Err(ProviderError::NotFound { .. }) => {
            let mut ev = vec![Event::RoomMade {
                credential: cred.id.clone(),
                key_id: key_id.to_string(),
                at: ctx.providers.clock.now(),
            }];
            ev.extend(rotate_one(ctx, cred, token).await);
            ev
        }
        Err(e) => vec![Event::RotationFailed {
            credential: cred.id.clone(),
            why: format!("could not delete the inactive key {key_id}: {e}"),
        }],
    }
}

/// issue → stage as pending at once → events. The new key is in memory only between the two.
async fn rotate_one(ctx: &OpCtx, cred: &Credential, token: &str) -> Vec<Event> {
    let fail = |why: String| {
        vec![Event::RotationFailed {
            credential: cred.id.clone(),
            why,
        }]
    };
    let Some(primary) = cred.primary_store().cloned() else {
        return fail(
            "no secrets-manager location to stage the new key in; add one to the runbook scope"
                .into(),
        );
    };
    let issuer = match ctx.providers.issuer(cred.issuer) {
        Ok(i) => i.clone(),
        Err(e) => return fail(e.to_string()),
    };
    let store = match ctx.providers.store(LocationKind::SecretsManager) {
        Ok(s) => s.clone(),
        Err(e) => return fail(e.to_string()),
    };
    let key = match ctx
        .attempt(Some(&cred.id), "issue", || issuer.issue(cred, token))
        .await
    {
        Ok(k) => k,
        Err(ProviderError::ManualIssue { instructions, .. }) => {
            return vec![Event::ManualKeyNeeded {
                credential: cred.id.clone(),
                instructions,
            }];
        }
        Err(ProviderError::NeedsRoom { key_id, plan, .. }) => {
            return vec![Event::RoomNeeded {
                credential: cred.id.clone(),
                key_id,
                plan,
            }];
        }
        Err(e) => return fail(format!("could not mint a new key: {e}")),
    };
    let issued = Event::Issued {
        credential: cred.id.clone(),
        new_key_id: key.key_id.clone(),
        new_hint: key.hint.clone(),
        at: ctx.providers.clock.now(),
    };
    let staged = ctx
        .attempt(Some(&cred.id), "stage", || {
            store.stage(&primary, &key.secret, token)
        })
        .await;
    drop(key);
    match staged {
        Ok(version) => vec![
            issued,
            Event::Staged {
                credential: cred.id.clone(),
                location: primary.label(),
                version,
                at: ctx.providers.clock.now(),
            },
        ],
        Err(e) => vec![
            issued,
            Event::RotationFailed {
                credential: cred.id.clone(),
                why: format!(
                    "the new key could not be stored as pending: {e}; retry mints nothing new (same token)"
                ),
            },
        ],
    }
}

/// A pasted key: test it at the issuer (a typo must not become the pending key), then stage
/// it as pending at once. The value is dropped (zeroized) when this returns.
pub(super) async fn paste_one(
    ctx: &OpCtx,
    cred: &Credential,
    key: SecretString,
    token: &str,
) -> Vec<Event> {
    let refused = |why: String| {
        vec![Event::AttemptFailed {
            credential: Some(cred.id.clone()),
            step: ctx.step.clone(),
            operation: "pasted key".into(),
            attempt: 1,
            why,
            retryable: false,
        }]
    };
    let Some(primary) = cred.primary_store().cloned() else {
        return refused(
            "no secrets-manager location to stage the pasted key in; add one to the runbook scope"
                .into(),
        );
    };
    let (issuer, store) = match (
        ctx.providers.issuer(cred.issuer),
        ctx.providers.store(LocationKind::SecretsManager),
    ) {
        (Ok(i), Ok(s)) => (i.clone(), s.clone()),
        (Err(e), _) | (_, Err(e)) => return refused(e.to_string()),
    };
    match ctx
        .attempt(Some(&cred.id), "test pasted key", || {
            issuer.verify(cred, &key)
        })
        .await
    {
        Ok(Liveness::Alive) => {}
        Ok(Liveness::Dead) => {
            return refused(format!(
                "{} refused the pasted key: copy the whole key from the console and paste it again",
                cred.issuer.label()
            ));
        }
        Err(e) => return refused(format!("could not test the pasted key: {e}")),
    }
    let hint = crate::incident::model::mask(key.expose_secret());
    let staged = ctx
        .attempt(Some(&cred.id), "stage", || {
            store.stage(&primary, &key, token)
        })
        .await;
    drop(key);
    match staged {
        Ok(version) => vec![
            Event::Issued {
                credential: cred.id.clone(),
                new_key_id: format!("pasted {hint}"),
                new_hint: hint,
                at: ctx.providers.clock.now(),
            },
            Event::Staged {
                credential: cred.id.clone(),
                location: primary.label(),
                version,
                at: ctx.providers.clock.now(),
            },
        ],
        Err(e) => refused(format!(
            "the pasted key could not be stored as pending: {e}; paste it again"
        )),
    }
}

async fn verify_one(ctx: &OpCtx, cred: &Credential, version: &str) -> Vec<Event> {
    let fail = |why: String| {
        vec![Event::RotationFailed {
            credential: cred.id.clone(),
            why,
        }]
    };
    let Some(primary) = cred.primary_store().cloned() else {
        return fail("no secrets-manager location holds the new key".into());
    };
    let (issuer, store) = match (
        ctx.providers.issuer(cred.issuer),
        ctx.providers.store(LocationKind::SecretsManager),
    ) {
        (Ok(i), Ok(s)) => (i.clone(), s.clone()),
        (Err(e), _) | (_, Err(e)) => return fail(e.to_string()),
    };
    let value: SecretString = match ctx
        .attempt(Some(&cred.id), "read pending", || {
            store.read_version(&primary, version)
        })
        .await
    {
        Ok(v) => v,
        Err(e) => return fail(format!("could not read the pending key back: {e}")),
    };
    match ctx
        .attempt(Some(&cred.id), "verify", || issuer.verify(cred, &value))
        .await
    {
        Ok(Liveness::Alive) => vec![Event::Verified {
            credential: cred.id.clone(),
            at: ctx.providers.clock.now(),
        }],
        Ok(Liveness::Dead) => fail(format!(
            "{} refused the new key: do not promote it; retry to test again",
            cred.issuer.label()
        )),
        Err(e) => fail(format!("could not test the new key: {e}")),
    }
}

/// Promotes the new key in its primary store and copies it to every other location.
async fn propagate_one(
    ctx: &OpCtx,
    cred: &Credential,
    version: &str,
    promoted: Option<DateTime<Utc>>,
    done: &HashSet<String>,
) -> Vec<Event> {
    let fail = |why: String| Event::RotationFailed {
        credential: cred.id.clone(),
        why,
    };
    let Some(primary) = cred.primary_store().cloned() else {
        return vec![fail("no secrets-manager location holds the new key".into())];
    };
    let mut events = match promote(ctx, cred, &primary, version, promoted, done).await {
        Ok(events) => events,
        Err(events) => return events,
    };
    let others: Vec<Location> = cred
        .locations
        .iter()
        .filter(|l| l.kind != LocationKind::IamUser && **l != primary)
        .filter(|l| !done.contains(&l.label()))
        .cloned()
        .collect();
    if !others.is_empty() {
        match copy(ctx, cred, &primary, version, others).await {
            Ok(copied) => events.extend(copied),
            Err(copied) => {
                events.extend(copied);
                return events;
            }
        }
    }
    events.push(Event::Propagated {
        credential: cred.id.clone(),
        at: ctx.providers.clock.now(),
    });
    events
}

/// The new key becomes current in the primary store (or was, before a crash). Err: the
/// events up to the failure.
async fn promote(
    ctx: &OpCtx,
    cred: &Credential,
    primary: &Location,
    version: &str,
    promoted: Option<DateTime<Utc>>,
    done: &HashSet<String>,
) -> Result<Vec<Event>, Vec<Event>> {
    let sm = ctx
        .providers
        .store(LocationKind::SecretsManager)
        .map_err(|e| {
            vec![Event::RotationFailed {
                credential: cred.id.clone(),
                why: e.to_string(),
            }]
        })?
        .clone();
    let updated = |at| Event::LocationUpdated {
        credential: cred.id.clone(),
        location: primary.label(),
        updated_at: at,
    };
    if let Some(at) = promoted {
        // Promoted before a crash that came before this was recorded: the primary holds
        // the new key since the promotion.
        let events = if done.contains(&primary.label()) {
            Vec::new()
        } else {
            vec![updated(at)]
        };
        return Ok(events);
    }
    match ctx
        .attempt(Some(&cred.id), "promote", || sm.promote(primary, version))
        .await
    {
        Ok(at) => Ok(vec![
            Event::Promoted {
                credential: cred.id.clone(),
                at,
            },
            updated(at),
        ]),
        Err(e) => Err(vec![Event::RotationFailed {
            credential: cred.id.clone(),
            why: format!("could not promote the new key: {e}"),
        }]),
    }
}

/// Copies the new key, read back from the primary store, to `others`. Err: the locations
/// updated before one failed, then its failure.
async fn copy(
    ctx: &OpCtx,
    cred: &Credential,
    primary: &Location,
    version: &str,
    others: Vec<Location>,
) -> Result<Vec<Event>, Vec<Event>> {
    let mut out = Vec::new();
    let failed = |mut out: Vec<Event>, why: String| {
        out.push(Event::RotationFailed {
            credential: cred.id.clone(),
            why,
        });
        Err(out)
    };
    let sm = match ctx.providers.store(LocationKind::SecretsManager) {
        Ok(s) => s.clone(),
        Err(e) => return failed(out, e.to_string()),
    };
    let value = match ctx
        .attempt(Some(&cred.id), "read new key", || {
            sm.read_version(primary, version)
        })
        .await
    {
        Ok(v) => v,
        Err(e) => return failed(out, format!("could not read the new key to copy it: {e}")),
    };
    for loc in others {
        let store = match ctx.providers.store(loc.kind) {
            Ok(s) => s.clone(),
            Err(e) => return failed(out, format!("{}: {e}", loc.label())),
        };
        match ctx
            .attempt(Some(&cred.id), "update location", || {
                store.replace(&loc, &value)
            })
            .await
        {
            Ok(updated_at) => out.push(Event::LocationUpdated {
                credential: cred.id.clone(),
                location: loc.label(),
                updated_at,
            }),
            Err(e) => return failed(out, format!("could not update {}: {e}", loc.label())),
        }
    }
    Ok(out)
}
