//! The engine's work on old keys: revoke or delete one (or hand it to a person where the
//! issuer cannot by API), watch a revoked key for the quiet period, and test whether an old
//! key still works.
//!
//! An old key's value is read back only to test it, in memory, where the issuer cannot tell
//! by id; it is dropped at once. Depends on the ports, the model and events.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use super::work::OpCtx;
use crate::incident::event::{DangerKind, Event};
use crate::incident::model::{Credential, hints_match, mask};
use crate::incident::ports::{Liveness, ProviderError};

/// Revokes (or deletes) the old key of `cred`, which the operator confirmed. `asked_before`:
/// this is a person's confirmation after a hand-over breachbook cannot test.
pub(super) async fn destroy(
    ctx: &OpCtx,
    cred: &Credential,
    kind: DangerKind,
    new_version: Option<&str>,
    asked_before: bool,
) -> Vec<Event> {
    let result = ctx
        .attempt(Some(&cred.id), kind.word(), || async {
            let issuer = ctx.providers.issuer(cred.issuer)?;
            if kind == DangerKind::Delete {
                issuer.delete(cred).await
            } else {
                issuer.revoke(cred).await
            }
        })
        .await;
    match result {
        Ok(()) if kind == DangerKind::Revoke => {
            let revoked = done(ctx, cred, kind);
            let at = ctx.providers.clock.now();
            let mut events = vec![revoked];
            match end_sessions(ctx, cred, at).await {
                Ok(ended) => events.extend(ended),
                Err(e) => events.push(Event::Alarm {
                    credential: Some(cred.id.clone()),
                    generation: None,
                    message: format!(
                        "{}: the old key is revoked, but sessions made from it were not ended ({e}): they may work until they expire (up to 36 h); the monitor step tries again",
                        cred.name
                    ),
                    at,
                }),
            }
            events
        }
        Ok(()) => vec![done(ctx, cred, kind)],
        Err(ProviderError::ManualRevoke { instructions, .. }) => {
            manual_revoke(ctx, cred, new_version, kind, instructions, asked_before).await
        }
        Err(e) => vec![Event::RotationFailed {
            credential: cred.id.clone(),
            why: format!("{kind} failed: {e}"),
        }],
    }
}

/// Ends the sessions the revocation of `cred`'s old key leaves working (issued before
/// `before`): the event saying what is in place, or nothing where the issuer has none.
async fn end_sessions(
    ctx: &OpCtx,
    cred: &Credential,
    before: DateTime<Utc>,
) -> Result<Vec<Event>, ProviderError> {
    let issuer = ctx.providers.issuer(cred.issuer)?.clone();
    let ended = ctx
        .attempt(Some(&cred.id), "end sessions", || {
            issuer.end_sessions(cred, before)
        })
        .await?;
    Ok(ended
        .map(|what| Event::SessionsEnded {
            credential: cred.id.clone(),
            what,
            before,
            at: ctx.providers.clock.now(),
        })
        .into_iter()
        .collect())
}

/// `Revoked` or `Deleted`, stamped with the time it happened.
fn done(ctx: &OpCtx, cred: &Credential, kind: DangerKind) -> Event {
    let credential = cred.id.clone();
    let at = ctx.providers.clock.now();
    if kind == DangerKind::Delete {
        Event::Deleted { credential, at }
    } else {
        Event::Revoked { credential, at }
    }
}

/// Watches a revoked key for the quiet period, then checks it is refused.
pub(super) async fn monitor_one(
    ctx: &OpCtx,
    cred: &Credential,
    new_version: Option<&str>,
    revoked_at: DateTime<Utc>,
    quiet: Duration,
) -> Vec<Event> {
    let until = crate::runbook::duration::after(revoked_at, quiet);
    let now = ctx.providers.clock.now();
    if until > now {
        let left = (until - now).to_std().unwrap_or_default();
        ctx.providers.clock.sleep(left).await;
    }
    match old_key_check(ctx, cred, new_version).await {
        // Dead includes its sessions: the deny for them is checked (and put back if it was
        // taken away) before the key is called dead.
        Ok(Liveness::Dead) => match end_sessions(ctx, cred, revoked_at).await {
            Ok(mut events) => {
                events.push(Event::ConfirmedDead {
                    credential: cred.id.clone(),
                    at: ctx.providers.clock.now(),
                });
                events
            }
            Err(e) => vec![Event::RotationFailed {
                credential: cred.id.clone(),
                why: format!(
                    "the old key is refused, but sessions made from it are not ended ({e}): they may work until they expire (up to 36 h); retry"
                ),
            }],
        },
        Ok(Liveness::Alive) => vec![Event::RotationFailed {
            credential: cred.id.clone(),
            why: "the old key is still accepted after revocation: revoke it again at the provider console"
                .into(),
        }],
        Err(e) => vec![Event::RotationFailed {
            credential: cred.id.clone(),
            why: format!("could not check the old key: {e}"),
        }],
    }
}

/// The issuer cannot revoke by API: done once the old key is no longer accepted (the
/// operator did it in the console); otherwise the console steps go to the operator, who
/// confirms again when done. When the old key cannot be tested at all, the second
/// confirmation (after the steps were shown) is taken as the operator's word, and says so.
async fn manual_revoke(
    ctx: &OpCtx,
    cred: &Credential,
    new_version: Option<&str>,
    kind: DangerKind,
    instructions: String,
    asked_before: bool,
) -> Vec<Event> {
    let ask = |instructions: String, tested: bool| Event::ManualRevokeNeeded {
        credential: cred.id.clone(),
        action: kind,
        instructions,
        tested,
    };
    if kind == DangerKind::Delete {
        // A dead old key says nothing about a deletion (revoking already killed it): the
        // console steps first, then a person's word.
        if asked_before {
            return vec![
                Event::Note {
                    text: format!(
                        "{}: deleted by hand, on the operator's word (breachbook cannot see a deletion)",
                        cred.name
                    ),
                },
                done(ctx, cred, kind),
            ];
        }
        return vec![ask(
            format!(
                "{instructions} (then confirm again on the screen: breachbook cannot see a deletion)"
            ),
            false,
        )];
    }
    match old_key_check(ctx, cred, new_version).await {
        Ok(Liveness::Dead) => vec![
            Event::Note {
                text: format!(
                    "{}: {kind} done by hand; the old key is no longer accepted",
                    cred.name
                ),
            },
            done(ctx, cred, kind),
        ],
        Ok(Liveness::Alive) => vec![ask(instructions, true)],
        Err(e) if asked_before => vec![
            Event::Note {
                text: format!(
                    "{}: {kind} done by hand, on the operator's word: breachbook could not test the old key ({e})",
                    cred.name
                ),
            },
            done(ctx, cred, kind),
        ],
        Err(e) => vec![ask(
            format!(
                "{instructions} (breachbook cannot test the old key: {e}; confirm again once it is gone)"
            ),
            false,
        )],
    }
}

/// Whether the old key still works: by id where the issuer can tell; otherwise by its value,
/// read back from the primary store's version before the rotation and tried at the issuer
/// (the value stays in memory and is dropped at once).
async fn old_key_check(
    ctx: &OpCtx,
    cred: &Credential,
    new_version: Option<&str>,
) -> Result<Liveness, ProviderError> {
    let issuer = ctx.providers.issuer(cred.issuer)?.clone();
    let by_id = ctx
        .attempt(Some(&cred.id), "check old key", || {
            issuer.old_key_liveness(cred)
        })
        .await;
    match by_id {
        Err(ProviderError::Unsupported { .. } | ProviderError::ManualRevoke { .. }) => {}
        other => return other,
    }
    let (Some(primary), Some(version)) = (cred.primary_store().cloned(), new_version) else {
        return by_id;
    };
    let store = ctx.providers.store(primary.kind)?.clone();
    let old = ctx
        .attempt(Some(&cred.id), "read old key", || {
            store.read_old(&primary, version)
        })
        .await?;
    // Only the exposed key itself proves anything: an even older value (a rotation never
    // promoted) would read as dead and say nothing about this one.
    if !hints_match(&cred.hint, &mask(old.expose_secret())) {
        return Err(ProviderError::NotFound {
            provider: primary.kind.short().to_string(),
            what: format!(
                "the exposed key {} among the versions of {}",
                cred.hint,
                primary.label()
            ),
        });
    }
    ctx.attempt(Some(&cred.id), "check old key", || {
        issuer.verify(cred, &old)
    })
    .await
}
