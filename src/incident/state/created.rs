//! Keys and persistence created during the exposure window: who made them (from the
//! issuers' audit logs), the verdict on each key, and the decision a person took on it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{CredentialState, IncidentState};
use crate::incident::event::Event;
use crate::incident::provenance::{PersistenceFinding, Verdict, Vouched};
use crate::incident::rotation::Stage;

/// A person vouched for a key created during the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarkedKnown {
    pub reason: String,
    /// Who (the journal record's operator).
    pub by: String,
    pub at: DateTime<Utc>,
}

/// What was decided about a key created during the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Decision {
    /// Nothing yet: a suspect key waits for a person.
    Open,
    /// Its creator is vouched for (responder, known creator, breachbook): nothing to decide.
    NotNeeded,
    /// Revoked after its typed word, by whom and when.
    Revoked {
        by: String,
        at: Option<DateTime<Utc>>,
    },
    /// Marked known by a person, with why.
    MarkedKnown(MarkedKnown),
}

impl IncidentState {
    /// Folds a creator lookup or a person's mark.
    pub(super) fn fold_created(&mut self, event: &Event, operator: &str) {
        match event {
            Event::CreatorsFound {
                creators,
                persistence,
                at,
            } => {
                self.see(*at);
                self.creators_looked_up = true;
                for (id, p) in creators {
                    if let Some(c) = self.credential_mut(id) {
                        c.provenance = Some(p.clone());
                    }
                }
                for f in persistence {
                    if !self.persistence.iter().any(|k| k.key() == f.key()) {
                        self.persistence.push(f.clone());
                    }
                }
            }
            Event::MarkedKnown {
                credential,
                reason,
                at,
            } => {
                self.see(*at);
                match self.credential_mut(credential) {
                    Some(c) => {
                        c.marked_known = Some(MarkedKnown {
                            reason: reason.clone(),
                            by: operator.to_string(),
                            at: *at,
                        })
                    }
                    None => self
                        .anomalies
                        .push(format!("a mark-known record for unknown key {credential}")),
                }
            }
            _ => {}
        }
    }

    /// Who breachbook vouches for in this incident.
    pub fn vouched(&self) -> Vouched<'_> {
        Vouched {
            responder: self.cloud_identity.as_deref(),
            known_creators: &self.runbook.scope.known_creators,
        }
    }

    /// Whether `c` was created during the exposure window (at or after its start), in an
    /// incident whose audit logs were read (see [`IncidentState::creators_looked_up`]).
    pub fn created_in_window(&self, c: &CredentialState) -> bool {
        self.creators_looked_up
            && !c.credential.exposed
            && c.credential
                .created
                .is_some_and(|t| t >= self.runbook.exposure_window.start)
    }

    /// Whether breachbook itself minted `key_id` in this incident (journaled as issued).
    pub fn minted_here(&self, key_id: &str) -> bool {
        self.credentials
            .iter()
            .any(|c| c.new_key_id.as_deref() == Some(key_id))
    }

    /// The verdict on `c` from its creator, `None` when it was not created in the window.
    /// breachbook's own mints are never suspect; a person's mark makes a key known.
    pub fn verdict(&self, c: &CredentialState) -> Option<Verdict> {
        if !self.created_in_window(c) {
            return None;
        }
        if self.minted_here(&c.credential.key_id) {
            return Some(Verdict::Known {
                why: "minted by breachbook in this incident (journaled as issued)".into(),
            });
        }
        let judged = self.vouched().judge(c.provenance.as_ref());
        match (&judged, &c.marked_known) {
            (Verdict::Suspect { why }, Some(m)) => Some(Verdict::Known {
                why: format!("marked known by {}: {} (was: {why})", m.by, m.reason),
            }),
            _ => Some(judged),
        }
    }

    /// Whether `c` is a suspect: created in the window by someone breachbook cannot vouch
    /// for, and not marked known.
    pub fn is_suspect(&self, c: &CredentialState) -> bool {
        self.verdict(c).is_some_and(|v| v.is_suspect())
    }

    /// What was decided about `c` (created during the window).
    pub fn decision(&self, c: &CredentialState) -> Decision {
        if let Some(m) = &c.marked_known {
            return Decision::MarkedKnown(m.clone());
        }
        if c.rotation.reached() >= Stage::Revoked {
            let by = self
                .confirmations
                .iter()
                .rev()
                .find(|r| r.credential == c.credential.id && !r.action.is_override())
                .map(|r| r.operator.clone())
                .unwrap_or_else(|| "unknown".into());
            return Decision::Revoked {
                by,
                at: c.stamps.get(&Stage::Revoked).copied(),
            };
        }
        if self.is_suspect(c) {
            Decision::Open
        } else {
            Decision::NotNeeded
        }
    }

    /// Every key created during the window, in inventory order.
    pub fn created_during_window(&self) -> Vec<&CredentialState> {
        self.credentials
            .iter()
            .filter(|c| self.created_in_window(c))
            .collect()
    }

    /// Suspect keys nobody decided on yet (neither revoked nor marked known).
    pub fn open_suspects(&self) -> Vec<&CredentialState> {
        self.credentials
            .iter()
            .filter(|c| self.decision(c) == Decision::Open)
            .collect()
    }

    /// Persistence made during the window by identities breachbook cannot vouch for.
    pub fn persistence_to_review(&self) -> Vec<&PersistenceFinding> {
        let v = self.vouched();
        self.persistence
            .iter()
            .filter(|f| v.vouch(&f.creator).is_none())
            .collect()
    }
}
