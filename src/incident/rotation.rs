//! The rotation state machine of one credential.
//!
//! `exposed → issued → staged → verified → promoted → propagated → revoked →
//! confirmed-dead`, plus `failed(at, why)` and `skipped(why)`. Pure: no IO, no
//! dependencies inside the crate.

use serde::{Deserialize, Serialize};

/// The happy-path stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Exposed,
    Issued,
    Staged,
    Verified,
    Promoted,
    Propagated,
    Revoked,
    ConfirmedDead,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Exposed,
        Stage::Issued,
        Stage::Staged,
        Stage::Verified,
        Stage::Promoted,
        Stage::Propagated,
        Stage::Revoked,
        Stage::ConfirmedDead,
    ];

    /// The next stage on the happy path.
    pub fn next(self) -> Option<Stage> {
        let i = Stage::ALL.iter().position(|s| *s == self)?;
        Stage::ALL.get(i + 1).copied()
    }

    pub fn label(self) -> &'static str {
        match self {
            Stage::Exposed => "exposed",
            Stage::Issued => "issued",
            Stage::Staged => "staged",
            Stage::Verified => "verified",
            Stage::Promoted => "promoted",
            Stage::Propagated => "propagated",
            Stage::Revoked => "revoked",
            Stage::ConfirmedDead => "confirmed-dead",
        }
    }
}

/// Where a rotation is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum RotationState {
    /// On the happy path at `stage`.
    At { stage: Stage },
    /// The move from `reached` to the next stage failed.
    Failed { reached: Stage, why: String },
    /// The operator chose not to rotate this credential.
    Skipped { reached: Stage, why: String },
}

impl Default for RotationState {
    fn default() -> Self {
        RotationState::At {
            stage: Stage::Exposed,
        }
    }
}

/// A requested change of rotation state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Move to this happy-path stage.
    Advance(Stage),
    /// Revoke with an override: the replacement is not verified and propagated.
    RevokeWithOverride,
    Fail(String),
    Skip(String),
    /// Clear a failure so the failed move can be tried again.
    Retry,
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {transition} a credential that is {from}")]
pub struct Forbidden {
    pub from: String,
    pub transition: String,
}

impl RotationState {
    /// The furthest happy-path stage reached.
    pub fn reached(&self) -> Stage {
        match self {
            RotationState::At { stage } => *stage,
            RotationState::Failed { reached, .. } | RotationState::Skipped { reached, .. } => {
                *reached
            }
        }
    }

    pub fn label(&self) -> String {
        match self {
            RotationState::At { stage } => stage.label().to_string(),
            RotationState::Failed { reached, .. } => format!("failed after {}", reached.label()),
            RotationState::Skipped { .. } => "skipped".to_string(),
        }
    }

    /// True once the old key can no longer be used.
    pub fn is_contained(&self) -> bool {
        self.reached() >= Stage::Revoked
    }

    /// Applies a transition, or says why it is not allowed.
    pub fn apply(&self, t: &Transition) -> Result<RotationState, Forbidden> {
        let forbid = || Forbidden {
            from: self.label(),
            transition: match t {
                Transition::Advance(s) => format!("move to {}", s.label()),
                Transition::RevokeWithOverride => "revoke (override)".into(),
                Transition::Fail(_) => "fail".into(),
                Transition::Skip(_) => "skip".into(),
                Transition::Retry => "retry".into(),
            },
        };
        match (self, t) {
            (RotationState::At { stage }, Transition::Advance(to)) if stage.next() == Some(*to) => {
                Ok(RotationState::At { stage: *to })
            }
            // Revoking early is only possible through an explicit override.
            (RotationState::At { stage }, Transition::RevokeWithOverride)
                if *stage < Stage::Revoked =>
            {
                Ok(RotationState::At {
                    stage: Stage::Revoked,
                })
            }
            (RotationState::Failed { reached, .. }, Transition::RevokeWithOverride)
                if *reached < Stage::Revoked =>
            {
                Ok(RotationState::At {
                    stage: Stage::Revoked,
                })
            }
            (RotationState::At { stage }, Transition::Fail(why))
                if *stage != Stage::ConfirmedDead =>
            {
                Ok(RotationState::Failed {
                    reached: *stage,
                    why: why.clone(),
                })
            }
            (RotationState::Failed { reached, .. }, Transition::Fail(why)) => {
                Ok(RotationState::Failed {
                    reached: *reached,
                    why: why.clone(),
                })
            }
            (RotationState::Failed { reached, .. }, Transition::Retry) => {
                Ok(RotationState::At { stage: *reached })
            }
            (
                RotationState::At { stage } | RotationState::Failed { reached: stage, .. },
                Transition::Skip(why),
            ) if *stage < Stage::Revoked => Ok(RotationState::Skipped {
                reached: *stage,
                why: why.clone(),
            }),
            _ => Err(forbid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(stage: Stage) -> RotationState {
        RotationState::At { stage }
    }

    #[test]
    fn every_happy_transition_is_allowed_and_only_to_the_next_stage() {
        for from in Stage::ALL {
            for to in Stage::ALL {
                let r = at(from).apply(&Transition::Advance(to));
                if from.next() == Some(to) {
                    assert_eq!(r, Ok(at(to)), "{from:?} -> {to:?}");
                } else {
                    assert!(r.is_err(), "{from:?} -> {to:?} must be forbidden");
                }
            }
        }
    }

    #[test]
    fn revoke_before_propagation_needs_the_override_transition() {
        assert!(
            at(Stage::Verified)
                .apply(&Transition::Advance(Stage::Revoked))
                .is_err()
        );
        assert_eq!(
            at(Stage::Verified).apply(&Transition::RevokeWithOverride),
            Ok(at(Stage::Revoked))
        );
        assert!(
            at(Stage::Revoked)
                .apply(&Transition::RevokeWithOverride)
                .is_err()
        );
    }

    #[test]
    fn failure_keeps_progress_and_retry_resumes_it() {
        let f = at(Stage::Staged)
            .apply(&Transition::Fail("429".into()))
            .unwrap_or_default();
        assert_eq!(f.reached(), Stage::Staged);
        assert_eq!(f.apply(&Transition::Retry), Ok(at(Stage::Staged)));
        assert!(f.apply(&Transition::Advance(Stage::Verified)).is_err());
        assert!(
            at(Stage::ConfirmedDead)
                .apply(&Transition::Fail("x".into()))
                .is_err()
        );
    }

    #[test]
    fn skip_only_before_revocation() {
        assert!(
            at(Stage::Exposed)
                .apply(&Transition::Skip("n/a".into()))
                .is_ok()
        );
        assert!(
            at(Stage::Revoked)
                .apply(&Transition::Skip("n/a".into()))
                .is_err()
        );
        let s = at(Stage::Issued)
            .apply(&Transition::Skip("n/a".into()))
            .unwrap_or_default();
        assert!(s.apply(&Transition::Advance(Stage::Staged)).is_err());
        assert!(s.apply(&Transition::Retry).is_err());
    }
}
