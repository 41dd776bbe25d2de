//! The domain's ports: the traits every provider implements (the inventory, key issuers,
//! secret stores, the clock, the drill), the error they answer with, and [`ProviderSet`], all
//! the engine can call.
//!
//! The engine only sees these. `providers/` implements them for real systems and for the drill
//! world; this module depends on the incident model, events and state and on the runbook
//! schema, never on a provider, the terminal, an SDK or an HTTP client.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use secrecy::SecretString;
use tokio::sync::mpsc;

use super::event::{Event, Score};
use super::model::{Credential, KeyGeneration, Location, LocationKind, UsageSample};
use super::provenance::{PersistenceFinding, Provenance};
use super::state::IncidentState;
use crate::runbook::schema::{ExposureWindow, Issuer, Scope};

/// A provider call that failed. Retryable failures are worth trying again with backoff;
/// permanent ones need a human.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider} is throttling requests: {message}")]
    Throttled {
        provider: String,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("{provider} had a server error ({status}): {message}")]
    Server {
        provider: String,
        status: u16,
        message: String,
    },
    #[error("{provider} did not answer in time")]
    Timeout { provider: String },
    #[error("could not reach {provider}: {message}")]
    Network { provider: String, message: String },
    #[error(
        "{provider} refused the credentials: {message} — check the role or admin key you run with"
    )]
    Auth { provider: String, message: String },
    #[error("{provider}: {what} not found")]
    NotFound { provider: String, what: String },
    #[error("{provider}: limit reached: {message}")]
    LimitExceeded { provider: String, message: String },
    #[error("{provider} rejected the request: {message}")]
    Validation { provider: String, message: String },
    #[error("{provider} cannot do this by API: {message}")]
    Unsupported { provider: String, message: String },
    /// The issuer cannot mint this key by API: a person creates it in the provider's
    /// console (`instructions` says exactly where) and pastes it into breachbook.
    #[error("{provider} cannot mint this key by API: {instructions}")]
    ManualIssue {
        provider: String,
        instructions: String,
    },
    /// The issuer cannot revoke (or delete) this key by API: a person does it in the
    /// provider's console (`instructions` says exactly where); breachbook then checks that
    /// the old key is no longer accepted.
    #[error("{provider} cannot revoke this key by API: {instructions}")]
    ManualRevoke {
        provider: String,
        instructions: String,
    },
    /// The issuer holds as many keys for this owner as it allows; deleting `key_id` (an
    /// inactive key that is not the exposed one) makes room. `plan` says so in words. The
    /// engine asks the operator before calling [`KeyIssuer::make_room`].
    #[error("{provider}: no room for a new key: {plan}")]
    NeedsRoom {
        provider: String,
        key_id: String,
        plan: String,
    },
    /// Part of a listing failed: `sources` names every part that could not be listed, with
    /// why; what the others found was sent.
    #[error("not everything could be listed: {sources}")]
    Incomplete {
        sources: String,
        /// Every part failed for a reason that may pass (throttled, a 5xx, a timeout, a
        /// lost connection): listing again may find it all.
        transient: bool,
    },
}

impl ProviderError {
    /// Throttling, 5xx, timeouts and resets are retryable; the rest are permanent.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::Throttled { .. }
                | ProviderError::Server { .. }
                | ProviderError::Timeout { .. }
                | ProviderError::Network { .. }
                | ProviderError::Incomplete {
                    transient: true,
                    ..
                }
        )
    }

    /// How long the provider asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

pub type ProviderResult<T> = Result<T, ProviderError>;

/// A freshly minted key. The value lives only in memory, zeroized on drop.
pub struct NewKey {
    pub key_id: String,
    pub hint: String,
    pub secret: SecretString,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("key_id", &self.key_id)
            .field("hint", &self.hint)
            .finish_non_exhaustive()
    }
}

/// Whether a key is accepted by its issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    Dead,
}

/// Lists the credentials in scope.
#[async_trait]
pub trait Inventory: Send + Sync {
    /// Sends credentials page by page as they are found; returns when every source is done.
    async fn discover(
        &self,
        scope: &Scope,
        exposure: &ExposureWindow,
        pages: mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()>;
}

/// What an issuer's audit log says about the window: who made each key created in it, and
/// the persistence made there (users, login profiles, policies, trust changes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreatorFindings {
    /// Credential id → its creator, or why it cannot be told.
    pub creators: Vec<(String, Provenance)>,
    pub persistence: Vec<PersistenceFinding>,
}

/// Reads the issuers' audit logs (CloudTrail, OpenAI's organization audit log…) for who
/// made what during the exposure window.
#[async_trait]
pub trait CreatorLog: Send + Sync {
    /// Who made each of `created` (keys created at or after the window's start), and the
    /// persistence made since the window's start. A key whose issuer keeps no such record
    /// is answered [`Provenance::Unknown`] with why; a failed read of the log is an error
    /// (the engine then says so for every key).
    async fn look_up(
        &self,
        window: &ExposureWindow,
        created: &[Credential],
    ) -> ProviderResult<CreatorFindings>;
}

/// A key at an issuer that an interrupted mint may have left: breachbook journaled the intent
/// to mint it ([`Event::IssueRequested`]) but holds no value for it. Never the exposed key;
/// never a key breachbook holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StrayKey {
    /// The issuer's id of what is deleted to discard it (IAM access key id, OpenAI service
    /// account id…).
    pub key_id: String,
    /// What it is, in words, for the timeline ("access key AKIA…WXYZ of user ci-deployer,
    /// created 12:03:04"). Never a value.
    pub what: String,
    pub created: Option<DateTime<Utc>>,
}

/// Money an issuer reports as spent with one key.
#[derive(Debug, Clone, PartialEq)]
pub struct Spend {
    /// In `currency`'s units (dollars, not cents).
    pub amount: f64,
    /// Lower-case ISO 4217 code, as the issuer writes it (`usd`).
    pub currency: String,
    /// From when the sum counts (the start of the issuer's first bucket).
    pub since: DateTime<Utc>,
}

/// Mints, checks and kills keys at one issuer.
#[async_trait]
pub trait KeyIssuer: Send + Sync {
    /// Mints a replacement for `old`. `token` is stable per incident and credential, so a
    /// retry after a crash finds (or returns) the same key rather than minting another.
    async fn issue(&self, old: &Credential, token: &str) -> ProviderResult<NewKey>;
    /// Calls the issuer with `key`: alive if it answers 200.
    async fn verify(&self, cred: &Credential, key: &SecretString) -> ProviderResult<Liveness>;
    /// Checks whether the old key (by id) is still accepted, without its value.
    async fn old_key_liveness(&self, old: &Credential) -> ProviderResult<Liveness>;
    /// Revokes the old key (deactivates it where the issuer allows undoing).
    async fn revoke(&self, old: &Credential) -> ProviderResult<()>;
    /// Deletes the old key for good.
    async fn delete(&self, old: &Credential) -> ProviderResult<()>;
    /// Deletes `key_id`, named by a [`ProviderError::NeedsRoom`] answer, to make room for a
    /// new key. Called only after the operator's typed confirmation.
    async fn make_room(&self, old: &Credential, key_id: &str) -> ProviderResult<()> {
        let _ = (old, key_id);
        Err(ProviderError::Unsupported {
            provider: old.issuer.label().to_string(),
            message: "this issuer has no key limit to make room in".to_string(),
        })
    }
    /// Keys an interrupted mint for `old` under `token` may have left at the issuer: created
    /// at or after `since` (the journaled intent's time, minus a clock-skew margin the issuer
    /// documents), not in `known` (ids of keys breachbook journaled as issued and holds),
    /// never `old` itself. Issuers whose mint is idempotent by `token` (or made by hand) find
    /// none.
    async fn find_strays(
        &self,
        old: &Credential,
        token: &str,
        since: DateTime<Utc>,
        known: &[String],
    ) -> ProviderResult<Vec<StrayKey>> {
        let _ = (old, token, since, known);
        Ok(Vec::new())
    }
    /// Deletes a stray key (deactivating it first where the issuer has that). Only ever
    /// called with a key [`KeyIssuer::find_strays`] returned, or one breachbook minted and
    /// could not store.
    async fn discard_stray(&self, old: &Credential, stray: &StrayKey) -> ProviderResult<()> {
        let _ = stray;
        Err(ProviderError::Unsupported {
            provider: old.issuer.label().to_string(),
            message: "this issuer cannot discard a key it minted".to_string(),
        })
    }
    /// What the issuer can tell of a stored key from its value alone (Google's
    /// `keys:lookupKey` names its project and key; a test call shows a key the issuer blocked
    /// as leaked): fills in `found`'s key id, meta and state. Called by inventories that read
    /// values, before the credential is reported; never keeps the value. Issuers that know
    /// their keys by listing them need nothing here.
    async fn identify(&self, found: &mut Credential, value: &SecretString) -> ProviderResult<()> {
        let _ = (found, value);
        Ok(())
    }
    /// Money spent with the old key or the new one since `since`, where the issuer reports
    /// costs per key (OpenAI's costs grouped by `api_key_id`). `None`: not reported per key.
    async fn spend(
        &self,
        cred: &Credential,
        generation: KeyGeneration,
        new_key_id: Option<&str>,
        since: DateTime<Utc>,
    ) -> ProviderResult<Option<Spend>> {
        let _ = (cred, generation, new_key_id, since);
        Ok(None)
    }
    /// What this issuer's usage data cannot attribute to one key, in words, said once on the
    /// timeline so that a quiet Usage panel is not read as a quiet key. `None`: nothing.
    fn usage_blind_spots(&self) -> Option<String> {
        None
    }
    /// Ends what revoking `old` leaves working, for sessions (temporary credentials) issued
    /// before `before` (IAM: an inline deny on the user for `aws:TokenIssueTime` earlier than
    /// `before`). Idempotent, and never moves an earlier end later. Returns what is in place,
    /// in words; `None` where the issuer has nothing of the kind.
    async fn end_sessions(
        &self,
        old: &Credential,
        before: DateTime<Utc>,
    ) -> ProviderResult<Option<String>> {
        let _ = (old, before);
        Ok(None)
    }
    /// Calls per minute since `since` for the old key or the new one.
    async fn usage(
        &self,
        cred: &Credential,
        generation: KeyGeneration,
        new_key_id: Option<&str>,
        since: DateTime<Utc>,
    ) -> ProviderResult<Vec<UsageSample>>;
}

/// A version of a secret that holds the pending label and is not current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingVersion {
    pub version: String,
    pub created: Option<DateTime<Utc>>,
}

/// What a store found about a secret before staging in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PendingCheck {
    /// `AWSPENDING` on a version other than the current one: a rotation in progress, or one
    /// that stopped half-way.
    pub pending: Option<PendingVersion>,
    /// Automatic rotation is turned on.
    pub rotation_enabled: bool,
    /// The Lambda function that rotates the secret, when one is set.
    pub rotation_lambda: Option<String>,
    pub last_rotated: Option<DateTime<Utc>>,
    pub next_rotation: Option<DateTime<Utc>>,
}

/// What a destination (a store that is only written) answers when asked to stage, read
/// back or promote.
fn destination_only(loc: &Location, what: &str) -> ProviderError {
    ProviderError::Unsupported {
        provider: loc.kind.short().to_string(),
        message: format!(
            "this store has no {what}: it is only written, once the new key is held in a store that stages (Secrets Manager, Vault, SSM)"
        ),
    }
}

/// Where copies of keys live.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Stores `value` as the pending version at `loc` (AWSPENDING); idempotent on `token`.
    /// Returns the version id. Destinations (stores that are only written, with
    /// [`SecretStore::replace`]) keep the default: Unsupported.
    async fn stage(
        &self,
        loc: &Location,
        value: &SecretString,
        token: &str,
    ) -> ProviderResult<String> {
        let _ = (value, token);
        Err(destination_only(loc, "staging"))
    }
    /// Reads back a staged version.
    async fn read_version(&self, loc: &Location, version: &str) -> ProviderResult<SecretString> {
        let _ = version;
        Err(destination_only(loc, "versions to read back"))
    }
    /// Makes `version` current (AWSCURRENT; the old one becomes AWSPREVIOUS).
    /// Returns the store's last-changed time.
    async fn promote(&self, loc: &Location, version: &str) -> ProviderResult<DateTime<Utc>> {
        let _ = version;
        Err(destination_only(loc, "versions to promote"))
    }
    /// Reads the value `loc` held before breachbook's rotation: the version that was current
    /// before `new_version` (AWSPREVIOUS once `new_version` is promoted, AWSCURRENT before).
    /// Used only to test, in memory, whether an old key still works where its issuer cannot
    /// tell by id. Stores without versions say Unsupported.
    async fn read_old(&self, loc: &Location, new_version: &str) -> ProviderResult<SecretString> {
        let _ = new_version;
        Err(ProviderError::Unsupported {
            provider: loc.kind.short().to_string(),
            message: "this store keeps no earlier versions".to_string(),
        })
    }
    /// Looks at the secret of `secret` before staging in it: a pending version already there
    /// and the rotation settings. Stores without staging labels find nothing.
    async fn inspect(&self, secret: &Location) -> ProviderResult<PendingCheck> {
        let _ = secret;
        Ok(PendingCheck::default())
    }
    /// Stores new values of ONE secret as ONE pending version (`AWSPENDING`, which leaves any
    /// other version): each location of `set` (all fields of the secret of `secret`) gets its
    /// value, on top of `base` (a pending version breachbook staged before, for a re-stage)
    /// or of the current version; the fields of `restore` go back to the current version's
    /// values. Idempotent on `token`, which becomes the version id. Returns the version id.
    async fn stage_version(
        &self,
        secret: &Location,
        base: Option<&str>,
        set: &[(Location, SecretString)],
        restore: &[Location],
        token: &str,
    ) -> ProviderResult<String> {
        match (base, set, restore) {
            (None, [(loc, value)], []) => self.stage(loc, value, token).await,
            _ => Err(ProviderError::Unsupported {
                provider: secret.kind.short().to_string(),
                message: "this store stages one value at a time".to_string(),
            }),
        }
    }
    /// Reads the fields at `locs` (of one secret) from one version, in order: one read where
    /// the store allows.
    async fn read_fields(
        &self,
        locs: &[Location],
        version: &str,
    ) -> ProviderResult<Vec<SecretString>> {
        let mut out = Vec::with_capacity(locs.len());
        for loc in locs {
            out.push(self.read_version(loc, version).await?);
        }
        Ok(out)
    }
    /// Makes `version` current for the fields at `locs` (all of one secret) at once, keeping
    /// whatever else changed in the secret since. Returns the store's last-changed time.
    async fn promote_version(
        &self,
        locs: &[Location],
        version: &str,
    ) -> ProviderResult<DateTime<Utc>> {
        let mut at = None;
        for loc in locs {
            at = Some(self.promote(loc, version).await?);
        }
        at.ok_or_else(|| ProviderError::Validation {
            provider: "store".to_string(),
            message: "nothing to promote".to_string(),
        })
    }
    /// Takes the pending label off `version` if it still holds it (a staged rotation skipped
    /// or abandoned: a stale `AWSPENDING` blocks later rotations). Already gone is fine.
    async fn unstage(&self, secret: &Location, version: &str) -> ProviderResult<()> {
        let _ = version;
        Err(ProviderError::Unsupported {
            provider: secret.kind.short().to_string(),
            message: "this store keeps no pending versions".to_string(),
        })
    }
    /// Writes `value` where there is no staging (Braintrust AI secret, Kubernetes…).
    /// Returns the location's own updated-at.
    async fn replace(&self, loc: &Location, value: &SecretString) -> ProviderResult<DateTime<Utc>>;
}

/// The clock of the incident: wall time live, the drill clock in drills. All waiting goes
/// through it, so a drill's faster clock shortens every wait alike.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Converts an incident-clock duration to real time (drills run faster).
    fn real(&self, incident: Duration) -> Duration;
    /// Waits `incident` on this clock (tokio time, so paused-time tests and headless drills
    /// need no real waiting).
    fn sleep(&self, incident: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(self.real(incident)))
    }
}

/// Wall-clock time.
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn real(&self, incident: Duration) -> Duration {
        incident
    }
    fn sleep(&self, incident: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(incident))
    }
}

/// What the domain needs of a drill's simulated world (the simulator implements it).
pub trait Drill: Send + Sync {
    /// When the drill clock started (the scenario's time limit counts from here).
    fn started_at(&self) -> DateTime<Utc>;
    /// A command step's drill effect: these consumers reload their key now.
    fn restart_consumers(&self, names: &[String]);
    /// The drill's score from the world and the incident state.
    fn score(&self, state: &IncidentState) -> Score;
    /// Stops (true) or restarts (false) the drill clock: nothing in the world moves while a
    /// person reads an onboarding explanation.
    fn set_paused(&self, paused: bool) {
        let _ = paused;
    }
    /// Why the world could not store a change, once it could not (its storage is full): it
    /// changes nothing more, and the engine journals nothing more in this run, so the
    /// journal never holds what the world's storage lacks.
    fn unsaved(&self) -> Option<String>;
}

/// Everything the engine can call.
#[derive(Clone)]
pub struct ProviderSet {
    pub inventory: Arc<dyn Inventory>,
    pub issuers: HashMap<Issuer, Arc<dyn KeyIssuer>>,
    pub stores: HashMap<LocationKind, Arc<dyn SecretStore>>,
    pub clock: Arc<dyn Clock>,
    /// Cloud identity of the operator, when known.
    pub identity: Option<String>,
    /// The simulated world, in drills (commands' drill effects, the time limit and the score
    /// need it).
    pub drill: Option<Arc<dyn Drill>>,
    /// The audit logs that tell who made keys created during the window (`None`: none is
    /// read, and every such key is a suspect whose creator is unknown).
    pub creators: Option<Arc<dyn CreatorLog>>,
}

impl ProviderSet {
    pub fn issuer(&self, issuer: Issuer) -> ProviderResult<&Arc<dyn KeyIssuer>> {
        self.issuers
            .get(&issuer)
            .ok_or_else(|| ProviderError::Unsupported {
                provider: issuer.label().to_string(),
                message: "no provider is configured for this issuer".to_string(),
            })
    }

    pub fn store(&self, kind: LocationKind) -> ProviderResult<&Arc<dyn SecretStore>> {
        self.stores
            .get(&kind)
            .ok_or_else(|| ProviderError::Unsupported {
                provider: kind.short().to_string(),
                message: "no secret store is configured for this kind of location".to_string(),
            })
    }
}

/// Things the world reports without being asked (drill injects, simulated usage and outages).
pub type WorldFeed = mpsc::UnboundedReceiver<Event>;
