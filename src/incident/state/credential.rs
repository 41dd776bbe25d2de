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
    /// When the inventory found it exposed (incident clock): from then on the responders
    /// knew.
    pub found_at: Option<DateTime<Utc>>,
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
            found_at: None,
        }
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
