//! The engine's work in tasks: what an operation needs ([`OpCtx`]), attempts with backoff,
//! and the operations of the bulk steps (list; mint and stage, verify, promote and copy, one
//! secret's keys at a time: [`Group`]) and of the hand-overs (a pasted key, room at the
//! issuer's key limit, a key skipped after staging).
//!
//! Intent → reconcile: a mint is not idempotent at every issuer (IAM has no client token),
//! so the engine journals the intent before each mint, and a mint whose outcome is unknown
//! (a timeout, a reset, a crash, a run that stopped) or whose key could not be stored is
//! reconciled before minting again: the issuer lists the keys made since the intent that
//! breachbook does not hold, and each is deleted, journaled and on the timeline.
//!
//! An operation reports only through events sent back to the engine loop; it never touches
//! the incident state. A new key's value lives in memory only, between the issuer and the
//! store. Depends on the ports, the model, events and the staging rules.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Semaphore, mpsc};

use crate::incident::event::Event;
use crate::incident::model::{Credential, Location, LocationKind};
use crate::incident::ports::{Liveness, NewKey, ProviderError, ProviderSet, StrayKey};
use crate::incident::provenance::Provenance;
use crate::incident::retries;
use crate::incident::rules::staging;
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
        credentials: Vec<String>,
        events: Vec<Event>,
        /// The unit changes keys or stores (a mint, a promotion, a revocation): a shutdown
        /// waits for it, so nothing is left half done that a journal does not show.
        critical: bool,
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
    /// See [`OpMsg::Done`].
    pub(super) critical: bool,
}

impl OpCtx {
    pub(super) fn send(&self, events: Vec<Event>) {
        if !events.is_empty() {
            let _ = self.tx.send(OpMsg::Events(events));
        }
    }

    pub(super) fn done(&self) {
        self.finish(Vec::new(), Vec::new());
    }

    /// The unit's last events and its end, as one message.
    pub(super) fn finish(&self, events: Vec<Event>, credentials: Vec<String>) {
        let _ = self.tx.send(OpMsg::Done {
            step: self.step.clone(),
            credentials,
            events,
            critical: self.critical,
        });
    }

    /// A watch that journals the retries a provider makes by itself for `credential`
    /// ([`Event::CallRetried`]).
    pub(super) fn watch(&self, credential: Option<&str>) -> retries::Watch {
        let tx = self.tx.clone();
        let step = self.step.clone();
        let clock = self.providers.clock.clone();
        retries::Watch {
            credential: credential.map(str::to_string),
            sink: Arc::new(move |credential, r: retries::Retry| {
                let _ = tx.send(OpMsg::Events(vec![Event::CallRetried {
                    credential: credential.map(str::to_string),
                    step: Some(step.clone()),
                    call: r.call,
                    attempt: r.attempt,
                    why: r.why,
                    at: clock.now(),
                }]));
            }),
        }
    }

    /// Runs `f` with a concurrency permit, retrying retryable failures with exponential
    /// backoff and jitter; every failed attempt is journaled, and so is every retry the
    /// provider makes by itself inside one.
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
                retries::watched(self.watch(credential), f()).await
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
                    let delay = retry_delay(&e, self.backoff_base, attempt, credential);
                    self.providers.clock.sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// The longest wait before a retry. A provider's `Retry-After` beyond it (a buggy or hostile
/// answer, or a quota that resets in hours) is cut to it: the retry then meets the same
/// answer and, after the last attempt, the operator sees the error, instead of a key's work
/// parked silently for as long as the provider said.
pub(super) const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// How long to wait before retrying after `e`: the provider's `Retry-After` when it gave
/// one, else [`backoff`]; never more than [`MAX_RETRY_DELAY`].
fn retry_delay(e: &ProviderError, base: Duration, attempt: u32, salt: Option<&str>) -> Duration {
    e.retry_after()
        .unwrap_or_else(|| backoff(base, attempt, salt))
        .min(MAX_RETRY_DELAY)
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

/// One key of a staging group that needs a new key now.
#[derive(Clone)]
pub(super) struct Member {
    pub(super) cred: Credential,
    /// The issuer's idempotency token for this credential.
    pub(super) token: String,
    /// An intent to mint was open before this run (incident clock): a key may have been
    /// made since that breachbook does not hold, so the issuer is asked before minting.
    pub(super) open_intent: Option<DateTime<Utc>>,
    /// The hint of a new key issued for it before and never stored (breachbook stopped
    /// between the mint or paste and the store write): a key made by hand is then asked for
    /// again, and the operator told that one is alive at the issuer.
    pub(super) lost: Option<String>,
}

/// The keys of one secret staged together, and what staging there needs to know.
#[derive(Clone)]
pub(super) struct Group {
    pub(super) incident: String,
    /// The secret (primary store without the field); `None`: the keys have no staging store.
    pub(super) secret: Option<Location>,
    /// Keys to mint (or, for a paste, the pasted key's) now.
    pub(super) members: Vec<Member>,
    /// breachbook's pending version of the secret to build on, and the keys it holds (they
    /// are staged again in the new version).
    pub(super) base: Option<(String, Vec<String>)>,
    /// A foreign pending version the operator confirmed taking over.
    pub(super) takeover: Option<String>,
    /// Every version breachbook journaled for this secret.
    pub(super) ours: Vec<String>,
    /// Key ids that are never strays: every key the inventory found, every new key held.
    pub(super) known: Vec<String>,
}

impl Group {
    fn fail_all(&self, why: &str) -> Vec<Event> {
        self.members
            .iter()
            .map(|m| Event::RotationFailed {
                credential: m.cred.id.clone(),
                why: why.to_string(),
            })
            .collect()
    }
}

/// One key of a propagate job and the locations it already updated.
pub(super) struct Rollout {
    pub(super) cred: Credential,
    pub(super) done: HashSet<String>,
}

/// The operation of a bulk step, with what it needs from the incident state.
pub(super) enum Job {
    /// Mint each key of one secret (intent → reconcile), then stage them as ONE pending
    /// version.
    Rotate(Box<Group>),
    /// Read one pending version back once and call each key's issuer with its key.
    Verify {
        members: Vec<Credential>,
        version: String,
    },
    /// Promote one secret's pending version once (unless it was already, at `promoted`) and
    /// copy each key to its locations not yet updated.
    Propagate {
        members: Vec<Rollout>,
        version: String,
        promoted: Option<DateTime<Utc>>,
    },
    /// Watch the revoked key for the quiet period, then check it is refused (and its
    /// sessions ended).
    Monitor {
        version: Option<String>,
        revoked_at: DateTime<Utc>,
        quiet: Duration,
    },
}

impl Job {
    /// Runs the job on its keys (`cred`: the key of a per-key job).
    pub(super) async fn run(self, ctx: &OpCtx, cred: Option<&Credential>) -> Vec<Event> {
        match self {
            Job::Rotate(group) => rotate_group(ctx, &group).await,
            Job::Verify { members, version } => verify_group(ctx, &members, &version).await,
            Job::Propagate {
                members,
                version,
                promoted,
            } => propagate_group(ctx, &members, &version, promoted).await,
            Job::Monitor {
                version,
                revoked_at,
                quiet,
            } => match cred {
                Some(cred) => {
                    super::old_key::monitor_one(ctx, cred, version.as_deref(), revoked_at, quiet)
                        .await
                }
                None => Vec::new(),
            },
        }
    }
}

/// Lists the scope page by page; each page is journaled as it comes. A listing that failed
/// only for reasons that may pass (throttled, a 5xx, a timeout, a lost connection, after the
/// clients' own retries) is listed again, whole, up to the engine's attempts: copies are
/// joined across sources, so one source cannot be listed again alone. Pages found again
/// refresh what the first listing found; nothing is lost or doubled.
pub(super) async fn list(ctx: &OpCtx, scope: Scope, window: ExposureWindow) {
    let start = window.start;
    let mut created: Vec<Credential> = Vec::new();
    let mut attempt = 1;
    loop {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let inv = ctx.providers.inventory.clone();
        let (scope, listed) = (scope.clone(), window.clone());
        let fut = retries::watched(ctx.watch(None), async move {
            inv.discover(&scope, &listed, tx).await
        });
        let forward = async {
            while let Some(page) = rx.recv().await {
                for c in page.iter() {
                    if !c.exposed && c.created.is_some_and(|t| t >= start) {
                        match created.iter_mut().find(|k| k.id == c.id) {
                            Some(known) => *known = c.clone(),
                            None => created.push(c.clone()),
                        }
                    }
                }
                let events = page
                    .into_iter()
                    .map(|credential| Event::CredentialDiscovered { credential })
                    .collect();
                ctx.send(events);
            }
        };
        let (res, ()) = tokio::join!(fut, forward);
        let Err(e) = res else { break };
        let retryable = e.is_retryable() && attempt < ctx.max_attempts;
        ctx.send(vec![Event::AttemptFailed {
            credential: None,
            step: ctx.step.clone(),
            operation: "inventory".into(),
            attempt,
            why: e.to_string(),
            retryable,
        }]);
        if !retryable {
            break;
        }
        let delay = retry_delay(&e, ctx.backoff_base, attempt, None);
        ctx.providers.clock.sleep(delay).await;
        attempt += 1;
    }
    ctx.send(vec![look_up_creators(ctx, &window, &created).await]);
}

/// Who made the keys created during the window, and the persistence made there: one
/// journaled lookup. A log that cannot be read makes every such key's creator unknown,
/// with why.
async fn look_up_creators(ctx: &OpCtx, window: &ExposureWindow, created: &[Credential]) -> Event {
    let at = ctx.providers.clock.now();
    let unknown = |why: String| Event::CreatorsFound {
        creators: created
            .iter()
            .map(|c| (c.id.clone(), Provenance::Unknown { why: why.clone() }))
            .collect(),
        persistence: Vec::new(),
        at,
    };
    // A window that has not begun yet holds nothing made in it: no log to read.
    if window.start > at && created.is_empty() {
        return Event::CreatorsFound {
            creators: Vec::new(),
            persistence: Vec::new(),
            at,
        };
    }
    let Some(log) = ctx.providers.creators.clone() else {
        return unknown("no audit log is configured for this incident".into());
    };
    match log.look_up(window, created).await {
        Ok(found) => Event::CreatorsFound {
            creators: found.creators,
            persistence: found.persistence,
            at,
        },
        Err(e) => unknown(format!("the audit log could not be read: {e}")),
    }
}

/// Deletes `key_id` (the operator typed its word) to make room at the issuer, then mints
/// and stages the secret's new keys.
pub(super) async fn make_room(
    ctx: &OpCtx,
    cred: &Credential,
    key_id: &str,
    group: &Group,
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
            ev.extend(rotate_group(ctx, group).await);
            ev
        }
        Err(e) => vec![Event::RotationFailed {
            credential: cred.id.clone(),
            why: format!("could not delete the inactive key {key_id}: {e}"),
        }],
    }
}

/// Whether the secret may take breachbook's pending version now: nothing pending, or
/// breachbook's own, or the one the operator confirmed taking over. Ok: notes for the
/// timeline; Err: the events that stop the group (a pending version in the way, a failure).
async fn check_pending(
    ctx: &OpCtx,
    group: &Group,
    secret: &Location,
) -> Result<Vec<Event>, Vec<Event>> {
    let store = ctx
        .providers
        .store(secret.kind)
        .map_err(|e| group.fail_all(&e.to_string()))?
        .clone();
    let first = group.members.first().map(|m| m.cred.id.as_str());
    let check = ctx
        .attempt(first, "check pending version", || store.inspect(secret))
        .await
        .map_err(|e| {
            group.fail_all(&format!(
                "could not look at {} before staging: {e}",
                secret.place()
            ))
        })?;
    let mut notes = Vec::new();
    if check.rotation_enabled && check.pending.is_none() {
        notes.push(Event::Note {
            text: format!(
                "automatic rotation is on for {}{}: a rotation started there while breachbook rotates would replace breachbook's new key; consider turning it off until the incident is over",
                secret.place(),
                check
                    .rotation_lambda
                    .as_deref()
                    .map(|l| format!(" (Lambda {l})"))
                    .unwrap_or_default()
            ),
        });
    }
    let Some(pending) = check.pending.clone() else {
        return Ok(notes);
    };
    let base = group.base.as_ref().map(|(v, _)| v.as_str());
    let mine = base == Some(pending.version.as_str())
        || group.ours.contains(&pending.version)
        || staging::is_ours(&group.incident, &pending.version);
    if mine || group.takeover.as_deref() == Some(pending.version.as_str()) {
        return Ok(notes);
    }
    let whose = whose(
        &check,
        &pending.version,
        pending.created,
        ctx.providers.clock.now(),
    );
    Err(group
        .members
        .iter()
        .flat_map(|m| {
            [
                Event::PendingFound {
                    credential: m.cred.id.clone(),
                    location: secret.place(),
                    version: pending.version.clone(),
                    whose: whose.clone(),
                    rotation_on: check.rotation_enabled,
                },
                Event::RotationFailed {
                    credential: m.cred.id.clone(),
                    why: format!(
                        "{} already has a pending version ({}) breachbook did not put there; nothing was minted or staged: take it over (its typed word) or skip this key",
                        secret.place(),
                        pending.version
                    ),
                },
            ]
        })
        .collect())
}

/// Whose a pending version looks like, in words: the rotation settings and the dates.
fn whose(
    check: &crate::incident::ports::PendingCheck,
    version: &str,
    created: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> String {
    let when = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "at an unknown time".into())
    };
    let age = created
        .map(|c| {
            let mins = (now - c).num_minutes().max(0);
            if mins < 120 {
                format!(" ({mins} min ago)")
            } else {
                format!(" ({} h ago)", mins / 60)
            }
        })
        .unwrap_or_default();
    let made = format!("made {}{age}", when(created));
    if staging::is_breachbook(version) {
        return format!(
            "an earlier breachbook incident's staged key, {made}, never promoted: it was abandoned"
        );
    }
    if check.rotation_enabled {
        return format!(
            "automatic rotation is on{}; last rotated {}, next {}: most likely its rotation, {made} — in flight if recent, stuck if not",
            check
                .rotation_lambda
                .as_deref()
                .map(|l| format!(" (Lambda {l})"))
                .unwrap_or_default(),
            when(check.last_rotated),
            when(check.next_rotation)
        );
    }
    format!(
        "no automatic rotation is on: someone (a person or a script) staged it, {made}, and did not promote it"
    )
}

/// What a mint left behind before this attempt: the issuer's keys made since `since` that
/// breachbook does not hold, each found, deleted and journaled at once. Err: the keys could
/// not be listed, or one could not be deleted (nothing more is minted then).
async fn reconcile(
    ctx: &OpCtx,
    member: &Member,
    since: DateTime<Utc>,
    known: &[String],
) -> Result<(), String> {
    let cred = &member.cred;
    let issuer = ctx
        .providers
        .issuer(cred.issuer)
        .map_err(|e| e.to_string())?
        .clone();
    let strays = ctx
        .attempt(Some(&cred.id), "look for strays", || {
            issuer.find_strays(cred, &member.token, since, known)
        })
        .await
        .map_err(|e| {
            format!("could not check for a key an interrupted mint may have left: {e}; nothing was minted, retry")
        })?;
    for stray in strays {
        ctx.send(vec![Event::StrayKeyFound {
            credential: cred.id.clone(),
            key_id: stray.key_id.clone(),
            what: stray.what.clone(),
        }]);
        discard(ctx, cred, &stray).await.map_err(|e| {
            format!(
                "found {} (made by an interrupted mint; nobody holds its secret) but could not delete it: {e}; delete it at {}, or retry",
                stray.what,
                cred.issuer.label()
            )
        })?;
    }
    Ok(())
}

/// Deletes a key nobody holds (found by a reconcile, or minted and then not stored),
/// journaling it at once.
async fn discard(ctx: &OpCtx, cred: &Credential, stray: &StrayKey) -> Result<(), ProviderError> {
    let issuer = ctx.providers.issuer(cred.issuer)?.clone();
    ctx.attempt(Some(&cred.id), "delete stray key", || {
        issuer.discard_stray(cred, stray)
    })
    .await?;
    ctx.send(vec![Event::StrayKeyDiscarded {
        credential: cred.id.clone(),
        key_id: stray.key_id.clone(),
        what: stray.what.clone(),
        at: ctx.providers.clock.now(),
    }]);
    Ok(())
}

/// Mints one key: reconciles first when an intent was open, and again before every retry
/// of a mint whose outcome is unknown; after the last failed attempt of that kind too, so a
/// failure leaves no key behind. Err: the events that end this key's rotation for now.
async fn mint(ctx: &OpCtx, member: &Member, known: &[String]) -> Result<NewKey, Vec<Event>> {
    let cred = &member.cred;
    let fail = |why: String| {
        vec![Event::RotationFailed {
            credential: cred.id.clone(),
            why,
        }]
    };
    let issuer = match ctx.providers.issuer(cred.issuer) {
        Ok(i) => i.clone(),
        Err(e) => return Err(fail(e.to_string())),
    };
    let since = member
        .open_intent
        .unwrap_or_else(|| ctx.providers.clock.now());
    if member.open_intent.is_some() {
        reconcile(ctx, member, since, known).await.map_err(fail)?;
    }
    let mut attempt = 1;
    loop {
        let result = {
            let _permit = ctx.permits.acquire().await;
            retries::watched(ctx.watch(Some(&cred.id)), issuer.issue(cred, &member.token)).await
        };
        let e = match result {
            Ok(k) => return Ok(k),
            Err(ProviderError::ManualIssue { instructions, .. }) => {
                let instructions = match &member.lost {
                    Some(hint) => format!(
                        "{instructions} A key made for it before ({hint}) was never stored: breachbook stopped before it could. Paste that same key again if you still have it; if not, delete it at its issuer first, so no key is left alive that nothing uses."
                    ),
                    None => instructions,
                };
                return Err(vec![Event::ManualKeyNeeded {
                    credential: cred.id.clone(),
                    instructions,
                }]);
            }
            Err(ProviderError::NeedsRoom { key_id, plan, .. }) => {
                return Err(vec![Event::RoomNeeded {
                    credential: cred.id.clone(),
                    key_id,
                    plan,
                }]);
            }
            Err(e) => e,
        };
        // A timeout or a reset after sending: the key may exist at the issuer.
        let unknown = matches!(
            e,
            ProviderError::Timeout { .. }
                | ProviderError::Network { .. }
                | ProviderError::Server { .. }
        );
        let retryable = e.is_retryable() && attempt < ctx.max_attempts;
        ctx.send(vec![Event::AttemptFailed {
            credential: Some(cred.id.clone()),
            step: ctx.step.clone(),
            operation: "issue".into(),
            attempt,
            why: e.to_string(),
            retryable,
        }]);
        if unknown && let Err(why) = reconcile(ctx, member, since, known).await {
            return Err(fail(format!("could not mint a new key: {e}; {why}")));
        }
        if !retryable {
            let tail = if unknown {
                "; any key it may have made was looked for and deleted: retry mints another"
            } else {
                ""
            };
            return Err(fail(format!("could not mint a new key: {e}{tail}")));
        }
        let delay = retry_delay(&e, ctx.backoff_base, attempt, Some(&cred.id));
        ctx.providers.clock.sleep(delay).await;
        attempt += 1;
    }
}

/// A new key in hand for one key of the group.
struct InHand {
    cred: Credential,
    key_id: String,
    hint: String,
    secret: SecretString,
    /// Minted by breachbook (deleted again if it cannot be stored); false for a pasted key.
    minted: bool,
}

/// Mints every key of the group (each intent journaled before), then stages them, with the
/// keys already pending there, as ONE pending version of the secret.
async fn rotate_group(ctx: &OpCtx, group: &Group) -> Vec<Event> {
    let Some(secret) = group.secret.clone() else {
        return group.fail_all(
            "no store that keeps versions (Secrets Manager, Vault) holds a copy to stage the new key in; add one to the runbook scope",
        );
    };
    let mut events = match check_pending(ctx, group, &secret).await {
        Ok(notes) => notes,
        Err(stop) => return stop,
    };
    let mut in_hand: Vec<InHand> = Vec::new();
    for m in &group.members {
        // Keys minted in this run are held too: never taken for another's stray.
        let mut known = group.known.clone();
        known.extend(in_hand.iter().map(|k| k.key_id.clone()));
        match mint(ctx, m, &known).await {
            Ok(key) => {
                events.push(Event::Issued {
                    credential: m.cred.id.clone(),
                    new_key_id: key.key_id.clone(),
                    new_hint: key.hint.clone(),
                    at: ctx.providers.clock.now(),
                });
                in_hand.push(InHand {
                    cred: m.cred.clone(),
                    key_id: key.key_id,
                    hint: key.hint,
                    secret: key.secret,
                    minted: true,
                });
            }
            Err(evs) => events.extend(evs),
        }
    }
    if in_hand.is_empty() {
        return events;
    }
    events.extend(stage_in_hand(ctx, group, &secret, in_hand).await);
    events
}

/// Stages the keys in hand (with those already in breachbook's pending version) as one
/// pending version. A store write refused for good: each minted key is deleted at once,
/// since nobody else will ever hold it, and the closing words say what happened.
async fn stage_in_hand(
    ctx: &OpCtx,
    group: &Group,
    secret: &Location,
    in_hand: Vec<InHand>,
) -> Vec<Event> {
    let store = match ctx.providers.store(secret.kind) {
        Ok(s) => s.clone(),
        Err(e) => return discard_all(ctx, in_hand, &e.to_string()).await,
    };
    let mut set = Vec::new();
    let mut keys = Vec::new();
    for k in &in_hand {
        let Some(loc) = k.cred.primary_store().cloned() else {
            continue;
        };
        set.push((loc, k.secret.clone()));
        keys.push((k.cred.id.clone(), k.key_id.clone()));
    }
    let base = group.base.as_ref().map(|(v, _)| v.as_str());
    let token = staging::stage_token(&group.incident, &secret.secret_key(), base, &keys);
    let first = in_hand.first().map(|k| k.cred.id.clone());
    let staged = ctx
        .attempt(first.as_deref(), "stage", || {
            store.stage_version(secret, base, &set, &[], &token)
        })
        .await;
    drop(set);
    let version = match staged {
        Ok(v) => v,
        Err(e) => {
            let why = format!("the new key could not be stored as pending: {e}");
            return discard_all(ctx, in_hand, &why).await;
        }
    };
    let at = ctx.providers.clock.now();
    let mut events = Vec::new();
    let staged_for = |credential: String| Event::Staged {
        credential,
        location: secret.place(),
        version: version.clone(),
        at,
    };
    // The keys already in the version built on go on holding the new one.
    if let Some((_, holders)) = &group.base {
        for h in holders {
            if !in_hand.iter().any(|k| &k.cred.id == h) {
                events.push(staged_for(h.clone()));
            }
        }
    }
    for k in in_hand {
        events.push(staged_for(k.cred.id.clone()));
    }
    events
}

/// The keys in hand could not be stored: each minted one is deleted at its issuer (nobody
/// will ever hold it), and each key's rotation fails with words that say what happened.
async fn discard_all(ctx: &OpCtx, in_hand: Vec<InHand>, why: &str) -> Vec<Event> {
    let mut events = Vec::new();
    for k in in_hand {
        if !k.minted {
            events.push(Event::AttemptFailed {
                credential: Some(k.cred.id.clone()),
                step: ctx.step.clone(),
                operation: "pasted key".into(),
                attempt: 1,
                why: format!("{why}; paste it again"),
                retryable: false,
            });
            continue;
        }
        drop(k.secret);
        let stray = StrayKey {
            key_id: k.key_id.clone(),
            what: format!(
                "new key {} of {} (minted, then not stored)",
                k.hint, k.cred.name
            ),
            created: None,
        };
        let outcome = match discard(ctx, &k.cred, &stray).await {
            Ok(()) => format!(
                "the new key {} was deleted at {}; retry mints another",
                k.hint,
                k.cred.issuer.label()
            ),
            Err(ProviderError::Unsupported { .. }) => format!(
                "{} returns the same key for the same request, so retry stores {} again",
                k.cred.issuer.label(),
                k.hint
            ),
            Err(e) => format!(
                "deleting the new key {} failed ({e}): it is still active at {} and nobody holds it; retry deletes it before minting another",
                k.hint,
                k.cred.issuer.label()
            ),
        };
        events.push(Event::RotationFailed {
            credential: k.cred.id.clone(),
            why: format!("{why}; {outcome}"),
        });
    }
    events
}

/// A pasted key: test it at the issuer (a typo must not become the pending key), then stage
/// it as pending at once, in the secret's one pending version. The value is dropped
/// (zeroized) when this returns.
pub(super) async fn paste_one(
    ctx: &OpCtx,
    group: &Group,
    cred: &Credential,
    key: SecretString,
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
    let Some(secret) = group.secret.clone() else {
        return refused(
            "no store that keeps versions (Secrets Manager, Vault) holds a copy to stage the pasted key in; add one to the runbook scope"
                .into(),
        );
    };
    let issuer = match ctx.providers.issuer(cred.issuer) {
        Ok(i) => i.clone(),
        Err(e) => return refused(e.to_string()),
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
    let mut events = match check_pending(ctx, group, &secret).await {
        Ok(notes) => notes,
        Err(stop) => return stop,
    };
    let hint = crate::incident::model::mask(key.expose_secret());
    let key_id = format!("pasted {hint}");
    let issued = Event::Issued {
        credential: cred.id.clone(),
        new_key_id: key_id.clone(),
        new_hint: hint.clone(),
        at: ctx.providers.clock.now(),
    };
    let staged = stage_in_hand(
        ctx,
        group,
        &secret,
        vec![InHand {
            cred: cred.clone(),
            key_id,
            hint,
            secret: key,
            minted: false,
        }],
    )
    .await;
    if staged.iter().any(|e| matches!(e, Event::Staged { .. })) {
        events.push(issued);
    }
    events.extend(staged);
    events
}

/// Reads the secret's pending version back once and calls each key's issuer with its key.
async fn verify_group(ctx: &OpCtx, members: &[Credential], version: &str) -> Vec<Event> {
    let fail_all = |why: &str| {
        members
            .iter()
            .map(|c| Event::RotationFailed {
                credential: c.id.clone(),
                why: why.to_string(),
            })
            .collect::<Vec<_>>()
    };
    let locs: Vec<Location> = members
        .iter()
        .filter_map(|c| c.primary_store().cloned())
        .collect();
    let Some(kind) = locs
        .first()
        .map(|l| l.kind)
        .filter(|_| locs.len() == members.len())
    else {
        return fail_all("no store that keeps versions holds the new key");
    };
    let store = match ctx.providers.store(kind) {
        Ok(s) => s.clone(),
        Err(e) => return fail_all(&e.to_string()),
    };
    let first = members.first().map(|c| c.id.clone());
    let values = match ctx
        .attempt(first.as_deref(), "read pending", || {
            store.read_fields(&locs, version)
        })
        .await
    {
        Ok(v) => v,
        Err(e) => return fail_all(&format!("could not read the pending key back: {e}")),
    };
    let mut events = Vec::new();
    for (cred, value) in members.iter().zip(values) {
        let issuer = match ctx.providers.issuer(cred.issuer) {
            Ok(i) => i.clone(),
            Err(e) => {
                events.push(Event::RotationFailed {
                    credential: cred.id.clone(),
                    why: e.to_string(),
                });
                continue;
            }
        };
        let outcome = ctx
            .attempt(Some(&cred.id), "verify", || issuer.verify(cred, &value))
            .await;
        events.push(match outcome {
            Ok(Liveness::Alive) => Event::Verified {
                credential: cred.id.clone(),
                at: ctx.providers.clock.now(),
            },
            Ok(Liveness::Dead) => Event::RotationFailed {
                credential: cred.id.clone(),
                why: format!(
                    "{} refused the new key: do not promote it; retry to test again (the secret's other keys wait, they are promoted together)",
                    cred.issuer.label()
                ),
            },
            Err(e) => Event::RotationFailed {
                credential: cred.id.clone(),
                why: format!("could not test the new key: {e}"),
            },
        });
    }
    events
}

/// Promotes the secret's pending version once, for every key in it, then copies each key to
/// its other locations.
async fn propagate_group(
    ctx: &OpCtx,
    members: &[Rollout],
    version: &str,
    promoted: Option<DateTime<Utc>>,
) -> Vec<Event> {
    let fail = |cred: &Credential, why: String| Event::RotationFailed {
        credential: cred.id.clone(),
        why,
    };
    let mut events = Vec::new();
    let mut primaries = Vec::new();
    for m in members {
        match m.cred.primary_store() {
            Some(p) => primaries.push(p.clone()),
            None => {
                return members
                    .iter()
                    .map(|m| {
                        fail(
                            &m.cred,
                            "no store that keeps versions holds the new key".into(),
                        )
                    })
                    .collect();
            }
        }
    }
    let at = match promoted {
        Some(at) => at,
        None => {
            let kind = primaries
                .first()
                .map_or(LocationKind::SecretsManager, |p| p.kind);
            let sm = match ctx.providers.store(kind) {
                Ok(s) => s.clone(),
                Err(e) => {
                    return members
                        .iter()
                        .map(|m| fail(&m.cred, e.to_string()))
                        .collect();
                }
            };
            let first = members.first().map(|m| m.cred.id.clone());
            match ctx
                .attempt(first.as_deref(), "promote", || {
                    sm.promote_version(&primaries, version)
                })
                .await
            {
                Ok(at) => at,
                Err(e) => {
                    return members
                        .iter()
                        .map(|m| fail(&m.cred, format!("could not promote the new key: {e}")))
                        .collect();
                }
            }
        }
    };
    for (m, primary) in members.iter().zip(&primaries) {
        let cred = &m.cred;
        if promoted.is_none() {
            events.push(Event::Promoted {
                credential: cred.id.clone(),
                at,
            });
        }
        if !m.done.contains(&primary.key()) && !m.done.contains(&primary.label()) {
            events.push(Event::LocationUpdated {
                credential: cred.id.clone(),
                location: primary.key(),
                updated_at: at,
            });
        }
        let others: Vec<Location> = cred
            .locations
            .iter()
            .filter(|l| l.kind != LocationKind::IamUser && !l.kind.by_hand() && *l != primary)
            .filter(|l| !m.done.contains(&l.key()) && !m.done.contains(&l.label()))
            .cloned()
            .collect();
        let by_hand: Vec<String> = cred
            .locations
            .iter()
            .filter(|l| l.kind.by_hand())
            .map(Location::label)
            .collect();
        if !by_hand.is_empty() && promoted.is_none() {
            events.push(Event::Note {
                text: format!(
                    "{}: fix by hand, breachbook does not rewrite them: {} (take the old key out, or put the new one there)",
                    cred.name,
                    by_hand.join(", ")
                ),
            });
        }
        if !others.is_empty() {
            match copy(ctx, cred, primary, version, others).await {
                Ok(copied) => events.extend(copied),
                Err(copied) => {
                    events.extend(copied);
                    continue;
                }
            }
        }
        events.push(Event::Propagated {
            credential: cred.id.clone(),
            at: ctx.providers.clock.now(),
        });
    }
    events
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
    let sm = match ctx.providers.store(primary.kind) {
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
                location: loc.key(),
                updated_at,
            }),
            Err(e) => return failed(out, format!("could not update {}: {e}", loc.label())),
        }
    }
    Ok(out)
}

/// A key skipped after its new key was staged: the secret's pending version is rebuilt
/// without it (the other keys staged there stay), or, when it was the only one, the pending
/// label leaves the secret; then its new key is deleted at the issuer, since nobody will use
/// it.
pub(super) async fn unstage(
    ctx: &OpCtx,
    group: &Group,
    cred: &Credential,
    version: &str,
    new_key: Option<(String, String)>,
) -> Vec<Event> {
    let mut events = Vec::new();
    let (Some(secret), Some(loc)) = (group.secret.clone(), cred.primary_store().cloned()) else {
        return events;
    };
    let store = match ctx.providers.store(secret.kind) {
        Ok(s) => s.clone(),
        Err(e) => {
            return vec![Event::Note {
                text: format!(
                    "{}: could not take its new key out of the pending version of {}: {e}",
                    cred.name,
                    secret.place()
                ),
            }];
        }
    };
    let others: Vec<String> = group
        .base
        .as_ref()
        .map(|(_, holders)| holders.iter().filter(|h| **h != cred.id).cloned().collect())
        .unwrap_or_default();
    let result = if others.is_empty() {
        ctx.attempt(Some(&cred.id), "unstage", || {
            store.unstage(&secret, version)
        })
        .await
        .map(|()| {
            vec![Event::PendingRemoved {
                credential: cred.id.clone(),
                location: secret.place(),
                version: version.to_string(),
                at: ctx.providers.clock.now(),
            }]
        })
    } else {
        let keys: Vec<(String, String)> = vec![(cred.id.clone(), "restored".to_string())];
        let token =
            staging::stage_token(&group.incident, &secret.secret_key(), Some(version), &keys);
        ctx.attempt(Some(&cred.id), "stage without it", || {
            store.stage_version(&secret, Some(version), &[], std::slice::from_ref(&loc), &token)
        })
        .await
        .map(|v| {
            let at = ctx.providers.clock.now();
            let mut ev: Vec<Event> = others
                .iter()
                .map(|h| Event::Staged {
                    credential: h.clone(),
                    location: secret.place(),
                    version: v.clone(),
                    at,
                })
                .collect();
            ev.push(Event::Note {
                text: format!(
                    "{}: its new key left the pending version of {} (now {v}); the other keys staged there stay",
                    cred.name,
                    secret.place()
                ),
            });
            ev
        })
    };
    match result {
        Ok(ev) => events.extend(ev),
        Err(ProviderError::Unsupported { .. }) => {}
        Err(e) => events.push(Event::Note {
            text: format!(
                "{}: could not take its new key out of the pending version of {}: {e}; remove the AWSPENDING label there by hand before the next rotation",
                cred.name,
                secret.place()
            ),
        }),
    }
    if let Some((key_id, hint)) = new_key {
        let stray = StrayKey {
            key_id: key_id.clone(),
            what: format!("new key {hint} of {} (its rotation was skipped)", cred.name),
            created: None,
        };
        match discard(ctx, cred, &stray).await {
            Ok(()) => {}
            Err(ProviderError::Unsupported { .. }) => events.push(Event::Note {
                text: format!(
                    "{}: its new key {hint} is still at {}: delete it there if nothing will use it",
                    cred.name,
                    cred.issuer.label()
                ),
            }),
            Err(e) => events.push(Event::Note {
                text: format!(
                    "{}: could not delete its new key {hint} at {}: {e}; delete it there",
                    cred.name,
                    cred.issuer.label()
                ),
            }),
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttled(retry_after: Option<Duration>) -> ProviderError {
        ProviderError::Throttled {
            provider: "OpenAI".into(),
            message: "rate limited".into(),
            retry_after,
        }
    }

    #[test]
    fn a_providers_retry_after_is_kept_up_to_the_cap() {
        let base = Duration::from_millis(500);
        let asked = Duration::from_secs(7);
        assert_eq!(retry_delay(&throttled(Some(asked)), base, 1, None), asked);
        // `Retry-After: 999999` (eleven days) parks nothing: the wait is the cap.
        let huge = throttled(Some(Duration::from_secs(999_999)));
        assert_eq!(retry_delay(&huge, base, 1, None), MAX_RETRY_DELAY);
    }

    #[test]
    fn without_retry_after_the_backoff_grows_and_stays_under_the_cap() {
        let base = Duration::from_secs(5);
        let first = retry_delay(&throttled(None), base, 1, Some("key"));
        assert!(first >= base && first <= base * 3 / 2, "{first:?}");
        for attempt in 1..40 {
            let d = retry_delay(&throttled(None), base, attempt, Some("key"));
            assert!(d <= MAX_RETRY_DELAY, "attempt {attempt}: {d:?}");
        }
        assert_eq!(
            retry_delay(&throttled(None), base, 9, Some("key")),
            MAX_RETRY_DELAY
        );
    }
}
