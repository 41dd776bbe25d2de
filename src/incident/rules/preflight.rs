//! What is checked before a dangerous action: the pre-flight evidence of a revoke or delete,
//! and the typed confirmation word. Pure; the engine, the TUI's revoke window and the
//! autopilot all read these.

use std::fmt;

use crate::incident::command::{Dangerous, override_phrase};
use crate::incident::model::LocationKind;
use crate::incident::refusal::PreflightFailure;
use crate::incident::rotation::Stage;
use crate::incident::state::{CredentialState, IncidentState};

/// One pre-flight check of a dangerous action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    NewKeyVerified,
    NewKeyPromoted,
    EveryLocationUpdated {
        updated: usize,
        of: usize,
    },
    /// No known service used the old key after the promotion without moving to the new
    /// key since; `still` of them did.
    ServicesMoved {
        still: usize,
    },
    OldKeyRevoked,
    OldKeyDead,
    /// Every inventory source was listed (`gaps`: how many could not be).
    InventoryComplete {
        gaps: usize,
    },
    /// No automatic rotation works on the secret whose pending version is taken over.
    NoAutomaticRotation,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::NewKeyVerified => f.write_str("new key verified (provider answered 200)"),
            Check::NewKeyPromoted => f.write_str("new key promoted to current"),
            Check::EveryLocationUpdated { updated, of } => {
                write!(f, "every location updated ({updated} of {of})")
            }
            Check::ServicesMoved { still: 0 } => {
                f.write_str("no known service still on the old key")
            }
            Check::ServicesMoved { still } => write!(
                f,
                "no known service still on the old key ({still} used it after the promotion)"
            ),
            Check::OldKeyRevoked => f.write_str("old key revoked"),
            Check::OldKeyDead => f.write_str("old key confirmed dead after the quiet period"),
            Check::InventoryComplete { gaps: 0 } => {
                f.write_str("every inventory source was listed")
            }
            Check::InventoryComplete { gaps } => write!(
                f,
                "every inventory source was listed ({gaps} failure(s): keys there were never seen)"
            ),
            Check::NoAutomaticRotation => f.write_str(
                "no automatic rotation is on for the secret (a rotation Lambda may be mid-way)",
            ),
        }
    }
}

/// A pre-flight check and whether it passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preflight {
    pub check: Check,
    pub passed: bool,
}

impl Dangerous {
    /// The evidence shown before the typed word, and checked again by the engine: a failed
    /// check needs the override phrase. Empty for an unknown key and for making room.
    pub fn preflight(&self, state: &IncidentState) -> Vec<Preflight> {
        let Some(c) = state.credential(self.credential()) else {
            return Vec::new();
        };
        match self {
            // A suspect (a key created in the window, maybe by the attacker) has no
            // replacement to roll out first: revoking it at once is the point.
            Dangerous::Revoke { .. } if !c.credential.exposed && state.is_suspect(c) => Vec::new(),
            Dangerous::Revoke { .. } => {
                let mut checks = revoke_preflight(state, c);
                checks.push(Preflight {
                    check: Check::InventoryComplete {
                        gaps: state.inventory_gaps.len(),
                    },
                    passed: state.inventory_gaps.is_empty(),
                });
                checks
            }
            Dangerous::Delete { .. } => {
                let reached = c.rotation.reached();
                vec![
                    Preflight {
                        check: Check::OldKeyRevoked,
                        passed: reached >= Stage::Revoked,
                    },
                    Preflight {
                        check: Check::OldKeyDead,
                        passed: reached >= Stage::ConfirmedDead,
                    },
                ]
            }
            Dangerous::MakeRoom { .. } => Vec::new(),
            Dangerous::TakeOver { .. } => match &c.pending_found {
                Some(p) => vec![Preflight {
                    check: Check::NoAutomaticRotation,
                    passed: !p.rotation_on,
                }],
                None => Vec::new(),
            },
        }
    }

    /// The word typed to confirm this: the last 4 characters, lower-cased, of the id of what
    /// is destroyed or taken over (the old key; the inactive key deleted for room; the
    /// pending version). `None` when there is nothing to confirm.
    pub fn word(&self, state: &IncidentState) -> Option<String> {
        let c = state.credential(self.credential())?;
        match self {
            Dangerous::Revoke { .. } | Dangerous::Delete { .. } => {
                Some(c.credential.confirmation_word())
            }
            Dangerous::MakeRoom { .. } => c
                .room_needed
                .as_ref()
                .map(|r| crate::incident::model::confirmation_word(&r.key_id)),
            Dangerous::TakeOver { .. } => c
                .pending_found
                .as_ref()
                .map(|p| crate::incident::model::confirmation_word(&p.version)),
        }
    }

    /// The failed pre-flight checks and the override phrase, when going ahead needs it.
    pub fn preflight_failure(&self, state: &IncidentState) -> Option<PreflightFailure> {
        let failed: Vec<String> = self
            .preflight(state)
            .iter()
            .filter(|p| !p.passed)
            .map(|p| match p.check {
                // Journaled with the override: which services, by name.
                Check::ServicesMoved { .. } => {
                    let names: Vec<String> = state
                        .still_on_old_key(self.credential())
                        .into_iter()
                        .map(|s| s.service)
                        .collect();
                    format!(
                        "no known service still on the old key ({} used it after the promotion)",
                        super::progress::and_list(&names)
                    )
                }
                check => check.to_string(),
            })
            .collect();
        let word = self.word(state)?;
        (!failed.is_empty()).then(|| PreflightFailure {
            failed,
            verb: self.verb(),
            phrase: override_phrase(&word),
        })
    }
}

/// Revoking the old key: the new one is verified, promoted and in every location (an IAM
/// user holds the key itself, so it counts as updated; a copy found on disk is the
/// responder's to fix, shown in the window but not waited for), and no known service still
/// calls with the old key after the promotion.
fn revoke_preflight(state: &IncidentState, c: &CredentialState) -> Vec<Preflight> {
    let still = state.still_on_old_key(&c.credential.id).len();
    let reached = c.rotation.reached();
    let stores = || {
        c.credential
            .locations
            .iter()
            .filter(|l| l.kind != LocationKind::IamUser && !l.kind.by_hand())
    };
    let all_locations = stores().all(|l| c.updated_at(l).is_some());
    vec![
        Preflight {
            check: Check::NewKeyVerified,
            passed: reached >= Stage::Verified,
        },
        Preflight {
            check: Check::NewKeyPromoted,
            passed: reached >= Stage::Promoted,
        },
        Preflight {
            check: Check::EveryLocationUpdated {
                updated: stores().filter(|l| c.updated_at(l).is_some()).count(),
                of: stores().count(),
            },
            passed: reached >= Stage::Propagated && all_locations,
        },
        Preflight {
            check: Check::ServicesMoved { still },
            passed: still == 0,
        },
    ]
}

/// What is wrong with a typed confirmation word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WordRefused {
    Empty,
    /// The word as typed (trimmed, lower case).
    Wrong(String),
}

impl WordRefused {
    /// Why, as journaled with the refused confirmation.
    pub fn why(&self) -> &'static str {
        match self {
            WordRefused::Empty => "no confirmation word typed",
            WordRefused::Wrong(_) => "wrong confirmation word",
        }
    }
}

/// The typed-word check of every dangerous action: `typed`, trimmed and in any case, must
/// be `expected`.
pub fn check_word(typed: &str, expected: &str) -> Result<(), WordRefused> {
    let typed = typed.trim().to_lowercase();
    if typed.is_empty() {
        Err(WordRefused::Empty)
    } else if typed != expected {
        Err(WordRefused::Wrong(typed))
    } else {
        Ok(())
    }
}

/// Whether the typed override phrase matches (case and surrounding space ignored).
pub fn override_phrase_matches(typed: Option<&str>, phrase: &str) -> bool {
    typed.is_some_and(|t| t.trim().eq_ignore_ascii_case(phrase))
}
