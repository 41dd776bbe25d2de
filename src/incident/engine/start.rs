//! Starting work: each unit runs in a tokio task and counts as in flight (for its step, and
//! for its key) until it reports back — a bulk step's operations, a confirmed revoke or
//! delete (after the engine's own gate), room made at an issuer's key limit, a pasted key.

use super::work::{self, Job, OpCtx};
use super::{Engine, EngineError, issue_token, old_key};
use crate::incident::command::PastedKey;
use crate::incident::event::{DangerKind, Event, Via};
use crate::incident::model::Credential;
use crate::incident::refusal::Refusal;
use crate::incident::rotation::Stage;
use crate::incident::rules::{self, KeyOp, Runs};
use crate::incident::state::StepStatus;
use crate::runbook::schema::Action;

impl Engine {
    pub(super) fn start_unit(&mut self, step: &str, cred: Option<&str>) {
        *self.in_flight.entry(step.to_string()).or_insert(0) += 1;
        if let Some(c) = cred {
            self.busy_creds.insert(c.to_string());
        }
        self.send_busy();
    }

    pub(super) fn op_ctx(&self, step: &str) -> OpCtx {
        OpCtx {
            step: step.to_string(),
            providers: self.providers.clone(),
            tx: self.ops_tx.clone(),
            permits: self.permits.clone(),
            max_attempts: self.cfg.max_attempts,
            backoff_base: self.cfg.backoff_base,
        }
    }

    /// Starts a bulk step's work: the inventory, or one operation per key it works on.
    pub(super) fn run_bulk(&mut self, step: &str) -> Result<(), EngineError> {
        let Some(action) = self.state.step_def(step).map(|d| d.action) else {
            return Ok(());
        };
        match rules::rule(action).runs {
            Runs::Inventory => {
                self.start_unit(step, None);
                let ctx = self.op_ctx(step);
                let scope = self.state.runbook.scope.clone();
                let window = self.state.runbook.exposure_window.clone();
                tokio::spawn(async move {
                    work::list(&ctx, scope, window).await;
                    ctx.done(None);
                });
            }
            Runs::EachKey(op) => {
                for cred in self.eligible(action) {
                    self.start_job(step, op, cred)?;
                }
            }
            _ => {}
        }
        if self.units(step) == 0 {
            self.maybe_complete(step)?;
        }
        Ok(())
    }

    /// Keys a bulk step works on now: in the rotation, at a stage it works on, not busy.
    fn eligible(&self, action: Action) -> Vec<Credential> {
        let rule = rules::rule(action);
        self.state
            .credentials
            .iter()
            .filter(|c| !self.busy_creds.contains(&c.credential.id) && rule.works_on_key(c))
            .map(|c| c.credential.clone())
            .collect()
    }

    /// Starts one key's operation of a bulk step, with what it needs from the state.
    fn start_job(&mut self, step: &str, op: KeyOp, cred: Credential) -> Result<(), EngineError> {
        let Some(cs) = self.state.credential(&cred.id) else {
            return Ok(());
        };
        let version = cs.staged_version.clone();
        let job = match op {
            KeyOp::Rotate => {
                let token = issue_token(&self.state.id, &cred.id);
                if cs.issue_token.as_deref() != Some(token.as_str()) {
                    let at = Some(self.now());
                    self.record(Event::IssueRequested {
                        credential: cred.id.clone(),
                        token: token.clone(),
                        at,
                    })?;
                }
                Job::Rotate { token }
            }
            KeyOp::Verify => Job::Verify {
                version: version.unwrap_or_default(),
            },
            KeyOp::Propagate => Job::Propagate {
                version: version.unwrap_or_default(),
                promoted: cs.stamps.get(&Stage::Promoted).copied(),
                done: cs.updated_locations.keys().cloned().collect(),
            },
            KeyOp::Monitor => Job::Monitor {
                version,
                revoked_at: cs
                    .stamps
                    .get(&Stage::Revoked)
                    .copied()
                    .unwrap_or_else(|| self.now()),
                quiet: self.cfg.quiet_period,
            },
        };
        self.start_unit(step, Some(&cred.id));
        let ctx = self.op_ctx(step);
        tokio::spawn(async move {
            let events = job.run(&ctx, &cred).await;
            ctx.finish(events, Some(cred.id));
        });
        Ok(())
    }

    /// A confirmed revoke or delete: the engine's own gate (a journaled confirmation naming
    /// this key), the step started if need be, the request journaled, then the call.
    pub(super) fn destroy(
        &mut self,
        id: &str,
        kind: DangerKind,
        via: Via,
    ) -> Result<(), EngineError> {
        let Some(c) = self.state.credential(id) else {
            return Ok(());
        };
        if !c.confirmed(kind) {
            self.refuse(&Refusal::NoConfirmation);
            return Ok(());
        }
        let step = rules::confirmed_by(kind)
            .and_then(|action| self.state.steps_with(action).first().map(|s| s.to_string()))
            .unwrap_or_else(|| kind.word().to_string());
        if self
            .state
            .step(&step)
            .is_some_and(|s| s.status == StepStatus::Pending)
        {
            let at = self.now();
            self.record(Event::StepStarted {
                step: step.clone(),
                at,
            })?;
        }
        let credential = id.to_string();
        self.record(if kind == DangerKind::Delete {
            Event::DeleteRequested { credential }
        } else {
            Event::RevokeRequested { credential }
        })?;
        self.start_destroy(&step, id, kind, via);
        Ok(())
    }

    /// Calls the issuer to revoke or delete a key's old key, as work of `step`.
    pub(super) fn start_destroy(&mut self, step: &str, id: &str, kind: DangerKind, via: Via) {
        let Some(cs) = self.state.credential(id) else {
            return;
        };
        let cred = cs.credential.clone();
        let new_version = cs.staged_version.clone();
        // A person's second confirmation after a hand-over that breachbook cannot test: the
        // operator's word that it is done. Never a script's or the autopilot's.
        let asked_before = cs.manual_revoke.as_ref().is_some_and(|h| !h.tested) && via == Via::Tui;
        self.start_unit(step, Some(id));
        let ctx = self.op_ctx(step);
        tokio::spawn(async move {
            let events =
                old_key::destroy(&ctx, &cred, kind, new_version.as_deref(), asked_before).await;
            ctx.finish(events, Some(cred.id));
        });
    }

    /// The confirmed deletion of another key to make room, then the new key, as work of the
    /// rotate step; after the engine's own gate.
    pub(super) fn make_room(&mut self, id: &str, key_id: String) {
        let confirmed = self
            .state
            .credential(id)
            .and_then(|c| c.room_needed.as_ref())
            .is_some_and(|r| r.confirmed);
        if !confirmed {
            self.refuse(&Refusal::NoRoomConfirmation);
            return;
        }
        let step = self
            .state
            .steps_with(Action::Rotate)
            .first()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "rotate".to_string());
        let Some(cred) = self.state.credential(id).map(|c| c.credential.clone()) else {
            return;
        };
        let token = issue_token(&self.state.id, id);
        self.start_unit(&step, Some(id));
        let ctx = self.op_ctx(&step);
        tokio::spawn(async move {
            let events = work::make_room(&ctx, &cred, &key_id, &token).await;
            ctx.finish(events, Some(cred.id));
        });
    }

    /// A key made by hand arrived: tested at the issuer, then staged as pending.
    pub(super) fn paste(&mut self, step: &str, id: &str, key: PastedKey) {
        let Some(cred) = self.state.credential(id).map(|c| c.credential.clone()) else {
            return;
        };
        let token = issue_token(&self.state.id, &cred.id);
        self.start_unit(step, Some(&cred.id));
        let ctx = self.op_ctx(step);
        tokio::spawn(async move {
            let events = work::paste_one(&ctx, &cred, key.0, &token).await;
            ctx.finish(events, Some(cred.id));
        });
    }
}
