//! Starting work: each unit runs in a tokio task and counts as in flight (for its step, and
//! for its keys) until it reports back — a bulk step's operations (one per secret for the
//! rotate, verify and propagate steps, which stage one pending version per secret; one per
//! key for the monitor step), a confirmed revoke or delete (after the engine's own gate),
//! room made at an issuer's key limit, a pending version taken over, a pasted key, a key
//! skipped after staging.

use std::collections::HashSet;

use super::work::{self, Group, Job, Member, OpCtx, Rollout};
use super::{Engine, EngineError, issue_token, old_key};
use crate::incident::command::PastedKey;
use crate::incident::event::{DangerKind, Event, Via};
use crate::incident::model::Credential;
use crate::incident::refusal::Refusal;
use crate::incident::rotation::Stage;
use crate::incident::rules::{self, KeyOp, Runs, staging};
use crate::incident::state::{CredentialState, StepStatus};
use crate::runbook::schema::Action;

impl Engine {
    pub(super) fn start_unit(&mut self, step: &str, creds: &[String]) {
        *self.in_flight.entry(step.to_string()).or_insert(0) += 1;
        for c in creds {
            self.busy_creds.insert(c.clone());
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
            critical: false,
        }
    }

    /// The context of a unit that changes keys or stores: a shutdown waits for it.
    fn critical_ctx(&mut self, step: &str) -> OpCtx {
        self.critical += 1;
        OpCtx {
            critical: true,
            ..self.op_ctx(step)
        }
    }

    /// Starts a bulk step's work: the inventory, or its operations over the keys it works on.
    pub(super) fn run_bulk(&mut self, step: &str) -> Result<(), EngineError> {
        let Some(action) = self.state.step_def(step).map(|d| d.action) else {
            return Ok(());
        };
        match rules::rule(action).runs {
            Runs::Inventory => {
                self.start_unit(step, &[]);
                let ctx = self.op_ctx(step);
                let scope = self.state.runbook.scope.clone();
                let window = self.state.runbook.exposure_window.clone();
                tokio::spawn(async move {
                    work::list(&ctx, scope, window).await;
                    ctx.done();
                });
            }
            Runs::EachKey(op) => {
                let eligible = self.eligible(action);
                match op {
                    KeyOp::Monitor => {
                        for id in eligible {
                            self.start_monitor(step, &id);
                        }
                    }
                    _ => {
                        let groups: Vec<Vec<String>> = {
                            let states: Vec<&CredentialState> = eligible
                                .iter()
                                .filter_map(|id| self.state.credential(id))
                                .collect();
                            staging::groups(states)
                                .into_iter()
                                .map(|g| g.iter().map(|c| c.credential.id.clone()).collect())
                                .collect()
                        };
                        for ids in groups {
                            match op {
                                KeyOp::Rotate => self.start_rotate(step, &ids, None)?,
                                KeyOp::Verify => self.start_verify(step, &ids),
                                KeyOp::Propagate => self.start_propagate(step, &ids)?,
                                KeyOp::Monitor => {}
                            }
                        }
                    }
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
    fn eligible(&self, action: Action) -> Vec<String> {
        let rule = rules::rule(action);
        self.state
            .credentials
            .iter()
            .filter(|c| !self.busy_creds.contains(&c.credential.id) && rule.works_on_key(c))
            .map(|c| c.credential.id.clone())
            .collect()
    }

    /// What staging in the secret of `id` needs from the state; `members`: the keys to mint
    /// (their intents are journaled here, before any mint).
    fn group(
        &mut self,
        id: &str,
        members: &[String],
        takeover: Option<String>,
    ) -> Result<Group, EngineError> {
        let incident = self.state.id.clone();
        let mut minted = Vec::new();
        for m in members {
            let Some(cs) = self.state.credential(m) else {
                continue;
            };
            let cred = cs.credential.clone();
            let open_intent = cs.open_intent();
            // Issued before and never staged: that key was lost (a crash in between).
            let lost = cs
                .new_hint
                .clone()
                .filter(|_| cs.rotation.reached() < Stage::Staged);
            let token = issue_token(&incident, m);
            let at = Some(self.now());
            // The intent, journaled before the issuer is called.
            self.record(Event::IssueRequested {
                credential: m.clone(),
                token: token.clone(),
                at,
            })?;
            minted.push(Member {
                cred,
                token,
                open_intent,
                lost,
            });
        }
        Ok(self.group_context(id, minted, takeover))
    }

    /// The staging context of the secret of `id`, for `members`.
    fn group_context(&self, id: &str, members: Vec<Member>, takeover: Option<String>) -> Group {
        let secret = self.state.credential(id).and_then(staging::staging_secret);
        let group = staging::group_of(&self.state, id);
        let ours: Vec<String> = group
            .iter()
            .filter_map(|c| c.staged_version.clone())
            .collect();
        let known: Vec<String> = self
            .state
            .credentials
            .iter()
            .flat_map(|c| {
                let held = c
                    .new_key_id
                    .clone()
                    .filter(|_| c.rotation.reached() >= Stage::Staged);
                std::iter::once(c.credential.key_id.clone()).chain(held)
            })
            .filter(|k| !k.is_empty())
            .collect();
        Group {
            incident: self.state.id.clone(),
            secret,
            members,
            base: staging::pending_base(&self.state, id),
            takeover,
            ours,
            known,
        }
    }

    /// Mints and stages the new keys of one secret (`ids`), as one unit.
    fn start_rotate(
        &mut self,
        step: &str,
        ids: &[String],
        takeover: Option<String>,
    ) -> Result<(), EngineError> {
        let Some(first) = ids.first().cloned() else {
            return Ok(());
        };
        // A confirmed take-over of a pending version in the way goes on by itself.
        let takeover = takeover.or_else(|| {
            ids.iter()
                .filter_map(|id| self.state.credential(id))
                .filter_map(|c| c.pending_found.as_ref())
                .find(|p| p.confirmed)
                .map(|p| p.version.clone())
        });
        let group = self.group(&first, ids, takeover)?;
        self.start_unit(step, ids);
        let ctx = self.critical_ctx(step);
        let busy = ids.to_vec();
        tokio::spawn(async move {
            let events = Job::Rotate(Box::new(group)).run(&ctx, None).await;
            ctx.finish(events, busy);
        });
        Ok(())
    }

    /// Reads one secret's pending version back and tests each key in it, as one unit per
    /// version.
    fn start_verify(&mut self, step: &str, ids: &[String]) {
        let mut by_version: Vec<(String, Vec<Credential>)> = Vec::new();
        for id in ids {
            let Some(cs) = self.state.credential(id) else {
                continue;
            };
            let version = cs.staged_version.clone().unwrap_or_default();
            match by_version.iter_mut().find(|(v, _)| *v == version) {
                Some((_, members)) => members.push(cs.credential.clone()),
                None => by_version.push((version, vec![cs.credential.clone()])),
            }
        }
        for (version, members) in by_version {
            let busy: Vec<String> = members.iter().map(|c| c.id.clone()).collect();
            self.start_unit(step, &busy);
            let ctx = self.op_ctx(step);
            tokio::spawn(async move {
                let events = Job::Verify { members, version }.run(&ctx, None).await;
                ctx.finish(events, busy);
            });
        }
    }

    /// Promotes one secret's pending version once every key in it is verified, then copies
    /// each key to its other locations, as one unit.
    fn start_propagate(&mut self, step: &str, ids: &[String]) -> Result<(), EngineError> {
        let Some(first) = ids.first() else {
            return Ok(());
        };
        if let Err(waiting) = staging::may_promote(&self.state, first) {
            for id in ids {
                self.record(Event::RotationFailed {
                    credential: id.clone(),
                    why: format!(
                        "waits for {} of the same secret: its pending version is promoted once, for all its keys, when every one is verified; retry or skip them first",
                        waiting.join(", ")
                    ),
                })?;
            }
            return Ok(());
        }
        let members: Vec<Rollout> = ids
            .iter()
            .filter_map(|id| self.state.credential(id))
            .map(|cs| Rollout {
                cred: cs.credential.clone(),
                done: cs.updated_locations.keys().cloned().collect(),
            })
            .collect();
        let states: Vec<&CredentialState> = ids
            .iter()
            .filter_map(|id| self.state.credential(id))
            .collect();
        let version = states
            .iter()
            .find_map(|c| c.staged_version.clone())
            .unwrap_or_default();
        // Promoted before a crash that came before every key's record: promoted since then.
        let promoted = states
            .iter()
            .filter_map(|c| c.stamps.get(&Stage::Promoted).copied())
            .min()
            .filter(|_| {
                states
                    .iter()
                    .all(|c| c.stamps.contains_key(&Stage::Promoted))
            });
        self.start_unit(step, ids);
        let ctx = self.critical_ctx(step);
        let busy = ids.to_vec();
        tokio::spawn(async move {
            let job = Job::Propagate {
                members,
                version,
                promoted,
            };
            let events = job.run(&ctx, None).await;
            ctx.finish(events, busy);
        });
        Ok(())
    }

    /// Watches one revoked key for the quiet period.
    fn start_monitor(&mut self, step: &str, id: &str) {
        let Some(cs) = self.state.credential(id) else {
            return;
        };
        let cred = cs.credential.clone();
        let job = Job::Monitor {
            version: cs.staged_version.clone(),
            revoked_at: cs
                .stamps
                .get(&Stage::Revoked)
                .copied()
                .unwrap_or_else(|| self.now()),
            quiet: self.cfg.quiet_period,
        };
        self.start_unit(step, &[id.to_string()]);
        let ctx = self.op_ctx(step);
        tokio::spawn(async move {
            let events = job.run(&ctx, Some(&cred)).await;
            ctx.finish(events, vec![cred.id]);
        });
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
        self.start_unit(step, &[id.to_string()]);
        let ctx = self.critical_ctx(step);
        tokio::spawn(async move {
            let events =
                old_key::destroy(&ctx, &cred, kind, new_version.as_deref(), asked_before).await;
            ctx.finish(events, vec![cred.id]);
        });
    }

    /// The rotate step's id (where hand-overs of new keys count as work).
    fn rotate_step(&self) -> String {
        self.state
            .steps_with(Action::Rotate)
            .first()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "rotate".to_string())
    }

    /// The confirmed deletion of another key to make room, then the new key, as work of the
    /// rotate step; after the engine's own gate.
    pub(super) fn make_room(&mut self, id: &str, key_id: String) -> Result<(), EngineError> {
        let confirmed = self
            .state
            .credential(id)
            .and_then(|c| c.room_needed.as_ref())
            .is_some_and(|r| r.confirmed);
        if !confirmed {
            self.refuse(&Refusal::NoRoomConfirmation);
            return Ok(());
        }
        let step = self.rotate_step();
        let Some(cred) = self.state.credential(id).map(|c| c.credential.clone()) else {
            return Ok(());
        };
        let group = self.group(id, &[id.to_string()], None)?;
        self.start_unit(&step, &[id.to_string()]);
        let ctx = self.critical_ctx(&step);
        tokio::spawn(async move {
            let events = work::make_room(&ctx, &cred, &key_id, &group).await;
            ctx.finish(events, vec![cred.id]);
        });
        Ok(())
    }

    /// The confirmed take-over of the pending version in the way: the secret's keys still
    /// waiting for a new key are minted and staged over it, as work of the rotate step.
    pub(super) fn take_over(&mut self, id: &str) -> Result<(), EngineError> {
        let Some(version) = self
            .state
            .credential(id)
            .and_then(|c| c.pending_found.as_ref())
            .filter(|p| p.confirmed)
            .map(|p| p.version.clone())
        else {
            self.refuse(&Refusal::NoTakeOverConfirmation);
            return Ok(());
        };
        let step = self.rotate_step();
        // A rotate step that failed (or never ran) runs again; one done with these keys left
        // for retry or skip stays done while they go on.
        if self
            .state
            .step(&step)
            .is_some_and(|s| matches!(s.status, StepStatus::Failed { .. } | StepStatus::Pending))
        {
            let at = self.now();
            self.record(Event::StepStarted {
                step: step.clone(),
                at,
            })?;
        }
        let rule = rules::rule(Action::Rotate);
        let ids: Vec<String> = staging::group_of(&self.state, id)
            .into_iter()
            .filter(|c| rule.works_on_key(c) && !self.busy_creds.contains(&c.credential.id))
            .map(|c| c.credential.id.clone())
            .collect();
        self.start_rotate(&step, &ids, Some(version))
    }

    /// A key made by hand arrived: tested at the issuer, then staged as pending.
    pub(super) fn paste(&mut self, step: &str, id: &str, key: PastedKey) {
        let Some(cred) = self.state.credential(id).map(|c| c.credential.clone()) else {
            return;
        };
        let takeover = self
            .state
            .credential(id)
            .and_then(|c| c.pending_found.as_ref())
            .filter(|p| p.confirmed)
            .map(|p| p.version.clone());
        // The pasted key is the one "minted" here: a pending version in the way stops it too.
        let member = Member {
            cred: cred.clone(),
            token: issue_token(&self.state.id, id),
            open_intent: None,
            lost: None,
        };
        let group = self.group_context(id, vec![member], takeover);
        self.start_unit(step, &[id.to_string()]);
        let ctx = self.critical_ctx(step);
        tokio::spawn(async move {
            let events = work::paste_one(&ctx, &group, &cred, key.0).await;
            ctx.finish(events, vec![cred.id]);
        });
    }

    /// A key skipped after its new key was staged: out of the secret's pending version, its
    /// new key deleted; then finished steps complete.
    pub(super) fn unstage(&mut self, id: &str) -> Result<(), EngineError> {
        let Some(cs) = self.state.credential(id) else {
            return Ok(());
        };
        let cred = cs.credential.clone();
        let Some(version) = cs.staged_version.clone() else {
            return self.complete_finished_steps();
        };
        let new_key = cs
            .new_key_id
            .clone()
            .filter(|k| !k.starts_with("pasted "))
            .map(|k| (k, cs.new_hint.clone().unwrap_or_default()));
        let group = self.group_context(id, Vec::new(), None);
        let step = self.rotate_step();
        self.start_unit(&step, &[id.to_string()]);
        let ctx = self.critical_ctx(&step);
        tokio::spawn(async move {
            let events = work::unstage(&ctx, &group, &cred, &version, new_key).await;
            ctx.finish(events, vec![cred.id]);
        });
        Ok(())
    }

    /// Keys whose make-room a crash interrupted: confirmed, not done.
    pub(super) fn confirmed_rooms(&self) -> Vec<(String, String)> {
        let busy: HashSet<&String> = self.busy_creds.iter().collect();
        self.state
            .credentials
            .iter()
            .filter(|c| !busy.contains(&c.credential.id))
            .filter(|c| c.rotation.reached() < Stage::Issued && c.in_rotation())
            .filter_map(|c| {
                let room = c.room_needed.as_ref().filter(|r| r.confirmed)?;
                Some((c.credential.id.clone(), room.key_id.clone()))
            })
            .collect()
    }
}
