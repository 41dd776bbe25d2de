//! What the driver types: confirmation words (again, while a person revokes a key by hand),
//! the make-room word at an issuer's key limit, and keys made by hand, read from a pipe.

use super::{DriveError, Driver, MANUAL_REVOKE_PAUSE, MANUAL_REVOKE_TRIES, MAX_ROOM_TRIES};
use crate::incident::command::{Command, Dangerous, PastedKey, override_phrase};
use crate::incident::model::confirmation_word;
use crate::incident::redact::printable;
use crate::incident::rotation::{RotationState, Stage};
use secrecy::SecretString;

impl Driver {
    /// A credential that waits for a key made by hand, not yet answered.
    pub(super) fn needs_paste(&self) -> Option<(String, String, String)> {
        self.state
            .credentials
            .iter()
            .filter(|c| !self.pasted.contains(&c.credential.id))
            .find_map(|c| {
                c.manual_needed.as_ref().map(|how| {
                    (
                        c.credential.id.clone(),
                        c.credential.name.clone(),
                        how.clone(),
                    )
                })
            })
    }

    /// A credential waiting for room at its issuer, not yet answered.
    pub(super) fn needs_room(&self) -> Option<String> {
        self.state
            .credentials
            .iter()
            // A room already confirmed (before a crash, say) is the engine's to make.
            .find(|c| {
                c.room_needed.as_ref().is_some_and(|r| !r.confirmed)
                    && !self.rooms.contains(&c.credential.id)
            })
            .map(|c| c.credential.id.clone())
    }

    /// Types the confirmation to delete the inactive key that blocks a new key, once per
    /// credential; waits until the engine answered.
    pub(super) async fn make_room(
        &mut self,
        id: &str,
        word: Option<String>,
    ) -> Result<(), DriveError> {
        let Some((key_id, plan)) = self
            .state
            .credential(id)
            .and_then(|c| c.room_needed.as_ref())
            .map(|r| (r.key_id.clone(), r.plan.clone()))
        else {
            return Err(DriveError::Script(format!(
                "`{id}` needs no room for a new key"
            )));
        };
        let tries = self.room_tries.entry(id.to_string()).or_insert(0);
        *tries += 1;
        if *tries > MAX_ROOM_TRIES {
            return Err(DriveError::Stuck(format!(
                "making room for `{id}` failed {MAX_ROOM_TRIES} times: {plan}; see the timeline, then make room on the screen"
            )));
        }
        if self.print {
            eprintln!("no room for a new key: {}", printable(&plan));
        }
        self.rooms.insert(id.to_string());
        self.send(Command::Confirm {
            target: Dangerous::MakeRoom {
                credential: id.to_string(),
            },
            word: word.unwrap_or_else(|| confirmation_word(&key_id)),
            override_phrase: None,
            via: self.via,
        })?;
        // Not `wait`: it calls here.
        loop {
            let answered = self.state.credential(id).is_some_and(|c| {
                c.room_needed.is_none() || matches!(c.rotation, RotationState::Failed { .. })
            });
            if answered {
                return Ok(());
            }
            if let Some(why) = self.refused.last() {
                return Err(DriveError::Refused(format!("could not make room: {why}")));
            }
            self.pump().await?;
        }
    }

    /// Types the confirmation to take over the pending version in the way of `id`'s staging
    /// (`word`: the last 4 characters of that version's id; defaults to the right one), with
    /// the override phrase when asked; waits until the engine answered.
    pub(super) async fn take_over(
        &mut self,
        id: &str,
        word: Option<String>,
        override_checks: bool,
    ) -> Result<(), DriveError> {
        let target = Dangerous::TakeOver {
            credential: id.to_string(),
        };
        let Some(right) = target.word(&self.state) else {
            return Err(DriveError::Script(format!(
                "`{id}` has no pending version in the way to take over"
            )));
        };
        self.send(Command::Confirm {
            target,
            word: word.unwrap_or_else(|| right.clone()),
            override_phrase: override_checks.then(|| override_phrase(&right)),
            via: self.via,
        })?;
        // Answered: staged over it, failed again, or refused.
        let id2 = id.to_string();
        let before = self
            .state
            .credential(id)
            .map(|c| c.failed_attempts)
            .unwrap_or(0);
        self.wait(move |s| {
            s.credential(&id2).is_some_and(|c| {
                c.rotation.reached() >= Stage::Staged
                    || c.failed_attempts > before
                    || (matches!(c.rotation, RotationState::Failed { .. })
                        && c.pending_found.as_ref().is_some_and(|p| p.confirmed))
            })
        })
        .await
        .map(|_| ())
    }

    /// Answers a key-made-by-hand request from the pastes, or says why it cannot.
    pub(super) async fn paste(
        &mut self,
        id: String,
        name: String,
        how: String,
    ) -> Result<(), DriveError> {
        let stuck = || {
            DriveError::Stuck(format!(
                "{name} needs a key made by hand ({how}); run `breachbook run` with the screen and paste it there, or pipe the new keys to --headless on stdin, one per line"
            ))
        };
        let Some(pastes) = self.pastes.as_mut() else {
            return Err(stuck());
        };
        if self.print {
            eprintln!(
                "{} needs a key made by hand: {}",
                printable(&name),
                printable(&how)
            );
            eprintln!(
                "reading the new key for {} from stdin (one line, not echoed)",
                printable(&name)
            );
        }
        let Some(key) = pastes.recv().await else {
            return Err(stuck());
        };
        self.pasted.insert(id.clone());
        self.send_paste(id, key)
    }

    /// Sends a pasted key, holding a copy until the engine answers (see `held_paste`).
    fn send_paste(&mut self, id: String, key: SecretString) -> Result<(), DriveError> {
        self.send(Command::PasteKey {
            credential: id.clone(),
            key: PastedKey(key.clone()),
        })?;
        self.held_pastes.push((id, key));
        Ok(())
    }

    /// Sends again a paste refused because its key was busy, once the key is idle and
    /// still waits for it. True when it was sent.
    pub(super) fn paste_again_if_idle(&mut self) -> Result<bool, DriveError> {
        let Some(i) = self
            .paste_again
            .iter()
            .position(|(id, _)| !self.busy.contains(id))
        else {
            return Ok(false);
        };
        let (id, key) = self.paste_again.remove(i);
        let waiting = self
            .state
            .credential(&id)
            .is_some_and(|c| c.manual_needed.is_some() && c.rotation.reached() < Stage::Issued);
        if !waiting {
            // Answered meanwhile (or no longer needed): the copy is dropped (zeroized).
            return Ok(false);
        }
        self.send_paste(id, key)?;
        Ok(true)
    }

    /// Types a confirmation for one key and waits until it is revoked/deleted or refused.
    pub(super) async fn confirm(
        &mut self,
        id: &str,
        delete: bool,
        word: Option<String>,
        override_checks: bool,
    ) -> Result<bool, DriveError> {
        let right = self
            .state
            .credential(id)
            .map(|c| c.credential.confirmation_word())
            .unwrap_or_default();
        let word = word.unwrap_or_else(|| right.clone());
        // A key the issuer cannot revoke by API is handed to a person; confirming again
        // tests the old key. Each try is the same typed word; the wait is real time.
        for _ in 0..MANUAL_REVOKE_TRIES {
            if let Some(c) = self.state.credential(id)
                && let Some(hand) = &c.manual_revoke
                && !hand.tested
            {
                let how = &hand.instructions;
                // Only a person can vouch for what breachbook cannot test.
                return Err(DriveError::Stuck(format!(
                    "{} must be revoked by hand and breachbook cannot test it: {how}; open the incident on the screen (breachbook resume {}) and confirm it there",
                    c.credential.name, self.state.id
                )));
            }
            let asks = self.manual_asks(id);
            let done = self
                .confirm_once(id, delete, word.clone(), override_checks, &right)
                .await?;
            let Some(c) = self.state.credential(id) else {
                return Ok(done);
            };
            if done || c.manual_revoke_asks == asks || c.manual_revoke.is_none() {
                return Ok(done);
            }
            let name = c.credential.name.clone();
            let (how, tested) = c
                .manual_revoke
                .as_ref()
                .map(|h| (h.instructions.clone(), h.tested))
                .unwrap_or_default();
            if !tested {
                return Err(DriveError::Stuck(format!(
                    "{name} must be revoked by hand and breachbook cannot test it: {how}; open the incident on the screen (breachbook resume {}) and confirm it there",
                    self.state.id
                )));
            }
            if self.print && asks == 0 {
                eprintln!(
                    "{} must be revoked by hand: {}",
                    printable(&name),
                    printable(&how)
                );
                eprintln!(
                    "waiting until the old key of {} stops working…",
                    printable(&name)
                );
            }
            let until = tokio::time::Instant::now() + MANUAL_REVOKE_PAUSE;
            while let Ok(Some(u)) = tokio::time::timeout_at(until, self.updates.recv()).await {
                self.take(u)?;
            }
        }
        Err(DriveError::Stuck(format!(
            "{} was not revoked by hand in time",
            self.state
                .credential(id)
                .map(|c| c.credential.name.clone())
                .unwrap_or_else(|| id.to_string())
        )))
    }

    fn manual_asks(&self, id: &str) -> u32 {
        self.state
            .credential(id)
            .map(|c| c.manual_revoke_asks)
            .unwrap_or(0)
    }

    /// One typed confirmation; waits until the key is revoked/deleted, failed, handed to a
    /// person, or the confirmation was refused.
    async fn confirm_once(
        &mut self,
        id: &str,
        delete: bool,
        word: String,
        override_checks: bool,
        right: &str,
    ) -> Result<bool, DriveError> {
        let asks = self.manual_asks(id);
        let target = if delete {
            Dangerous::Delete {
                credential: id.to_string(),
            }
        } else {
            Dangerous::Revoke {
                credential: id.to_string(),
            }
        };
        self.send(Command::Confirm {
            target,
            word,
            override_phrase: override_checks.then(|| override_phrase(right)),
            via: self.via,
        })?;
        let id2 = id.to_string();
        self.wait(move |s| {
            s.credential(&id2).is_some_and(|c| {
                let done = if delete {
                    c.deleted.is_some()
                } else {
                    c.rotation.reached() >= Stage::Revoked
                };
                done || matches!(c.rotation, RotationState::Failed { .. })
                    || c.manual_revoke_asks > asks
            })
        })
        .await
        .map(|ok| {
            ok && self.state.credential(id).is_some_and(|c| {
                if delete {
                    c.deleted.is_some()
                } else {
                    c.rotation.reached() >= Stage::Revoked
                }
            })
        })
    }
}
