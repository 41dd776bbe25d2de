//! One credential's part of the incident state: where its rotation is, what is confirmed,
//! asked for or handed to a person about its old key, and the timestamps of each stage.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::incident::event::DangerKind;
use crate::incident::model::Credential;
use crate::incident::rotation::{RotationState, Stage};

/// A revoke or delete of the old key that the operator confirmed and that is not done yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// [`DangerKind::Revoke`] or [`DangerKind::Delete`].
    pub kind: DangerKind,
    /// The override phrase was typed with the word: failed pre-flight checks passed over.
    pub overridden: bool,
    /// The engine asked the issuer (journaled before the call, so a resume finishes it).
    pub requested: bool,
}

/// The issuer cannot revoke (or delete) the old key by API: a person does it in its console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ByHand {
    /// What to do in the console.
    pub instructions: String,
    /// Whether breachbook can test the old key itself (false: the next confirmation is the
    /// operator's word that it is gone).
    pub tested: bool,
}

/// The issuer holds as many keys for the owner as it allows: one must go first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomNeeded {
    /// The inactive key to delete (never the exposed one).
    pub key_id: String,
    /// The plan, in words.
    pub plan: String,
    /// The operator typed that key's word; the deletion is not done yet.
    pub confirmed: bool,
}

/// A pending version breachbook did not put there sits on the secret that holds the key:
/// nothing is staged there until the operator takes it over (typed word) or skips the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingInTheWay {
    /// Where ([`crate::incident::model::Location::place`]).
    pub location: String,
    pub version: String,
    /// What it looks like and whose, in words.
    pub whose: String,
    /// Automatic rotation is on for the secret: a rotation Lambda may be working on it.
    pub rotation_on: bool,
    /// The operator typed the version's word; staging over it is not done yet.
    pub confirmed: bool,
}

/// A key an interrupted mint left at the issuer, found by a reconcile (or a key breachbook
/// minted and could not store), and whether it was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stray {
    pub key_id: String,
    pub what: String,
    pub discarded: Option<DateTime<Utc>>,
}

/// A call for this key being tried again by the provider's client right now (the last
/// [`Event::CallRetried`](crate::incident::event::Event::CallRetried) since its last news).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retrying {
    pub call: String,
    pub why: String,
    pub attempt: u32,
    pub at: DateTime<Utc>,
}

/// One credential and where its rotation is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CredentialState {
    pub credential: Credential,
    pub rotation: RotationState,
    pub new_key_id: Option<String>,
    pub new_hint: Option<String>,
    /// When each stage was reached (provider or drill clock).
    pub stamps: BTreeMap<Stage, DateTime<Utc>>,
    pub issue_token: Option<String>,
    pub staged_version: Option<String>,
    /// Location label → the location's own updated-at after it got the new key.
    pub updated_locations: BTreeMap<String, DateTime<Utc>>,
    /// The old key's revoke or delete, from its typed confirmation until it is done or
    /// handed to a person.
    pub pending: Option<Pending>,
    pub deleted: Option<DateTime<Utc>>,
    /// Failed attempts so far (all operations).
    pub failed_attempts: u32,
    pub last_error: Option<String>,
    /// The issuer cannot mint this key by API: what to do in its console, until a pasted
    /// key is staged.
    pub manual_needed: Option<String>,
    /// The issuer cannot revoke (or delete) this key by API: what to do in its console,
    /// until the old key is seen dead (or deleted).
    pub manual_revoke: Option<ByHand>,
    /// How many times breachbook asked for that (a new ask after each confirmation that
    /// found the old key still working).
    pub manual_revoke_asks: u32,
    /// The issuer has no room for a new key: the key to delete first, until room is made.
    pub room_needed: Option<RoomNeeded>,
    /// The first intent to mint journaled while breachbook holds no new key for this
    /// credential (incident clock): an open intent. A mint whose outcome is unknown may have
    /// left a key made at or after it, so the next mint reconciles first.
    pub intent_since: Option<DateTime<Utc>>,
    /// Keys interrupted mints left behind, found and (once deleted) discarded.
    pub strays: Vec<Stray>,
    /// A pending version in the way of staging, until it is taken over or the key skipped.
    pub pending_found: Option<PendingInTheWay>,
    /// breachbook's own pending version was taken off (the key skipped after staging).
    pub pending_removed: Option<DateTime<Utc>>,
    /// What ends the sessions the old key's revocation leaves working, in words, and the
    /// time before which they are refused.
    pub sessions_ended: Option<(String, DateTime<Utc>)>,
    /// When the inventory found it exposed (incident clock): from then on the responders
    /// knew.
    pub found_at: Option<DateTime<Utc>>,
    /// Who made it, when it was created during the exposure window and its issuer's audit
    /// log was read.
    pub provenance: Option<crate::incident::provenance::Provenance>,
    /// A person vouched for it (created during the window, not the attacker's).
    pub marked_known: Option<super::MarkedKnown>,
    /// A call for it being retried by the provider's client, until the next news of it.
    pub retrying: Option<Retrying>,
}

impl CredentialState {
    pub(super) fn new(credential: Credential) -> Self {
        CredentialState {
            credential,
            rotation: RotationState::default(),
            new_key_id: None,
            new_hint: None,
            stamps: BTreeMap::new(),
            issue_token: None,
            staged_version: None,
            updated_locations: BTreeMap::new(),
            pending: None,
            deleted: None,
            failed_attempts: 0,
            last_error: None,
            manual_needed: None,
            manual_revoke: None,
            manual_revoke_asks: 0,
            room_needed: None,
            intent_since: None,
            strays: Vec::new(),
            pending_found: None,
            pending_removed: None,
            sessions_ended: None,
            found_at: None,
            provenance: None,
            marked_known: None,
            retrying: None,
        }
    }

    /// When this location got the new key, by its identity or (journals written before
    /// identities had accounts and regions) by its label.
    pub fn updated_at(&self, loc: &crate::incident::model::Location) -> Option<&DateTime<Utc>> {
        self.updated_locations
            .get(&loc.key())
            .or_else(|| self.updated_locations.get(&loc.label()))
    }

    /// The open intent to mint: journaled, and no new key held since (nothing staged).
    pub fn open_intent(&self) -> Option<DateTime<Utc>> {
        self.intent_since
            .filter(|_| self.rotation.reached() < Stage::Staged)
    }

    /// Whether a confirmed `kind` (revoke or delete) of the old key is journaled and not
    /// used up yet.
    pub fn confirmed(&self, kind: DangerKind) -> bool {
        self.pending.as_ref().is_some_and(|p| p.kind == kind)
    }

    /// Whether the engine asked the issuer for `kind` and the answer is not journaled yet.
    pub fn requested(&self, kind: DangerKind) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|p| p.kind == kind && p.requested)
    }

    /// The pending `kind`, made if there is none of that kind.
    pub(super) fn pending_mut(&mut self, kind: DangerKind) -> &mut Pending {
        if !self.confirmed(kind) {
            self.pending = None;
        }
        self.pending.get_or_insert(Pending {
            kind,
            overridden: false,
            requested: false,
        })
    }

    /// Ends a pending `kind` (done, or handed to a person who confirms again).
    pub(super) fn clear_pending(&mut self, kind: DangerKind) {
        if self.confirmed(kind) {
            self.pending = None;
        }
    }

    /// Whether this credential takes part in the rotation (exposed and not skipped).
    pub fn in_rotation(&self) -> bool {
        self.credential.exposed && !matches!(self.rotation, RotationState::Skipped { .. })
    }
}
