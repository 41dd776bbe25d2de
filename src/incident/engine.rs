//! The orchestrator: takes operator commands, runs step actions over the inventory through
//! the provider traits, journals every event before applying it, and sends each journaled
//! event to whoever watches (the TUI, the headless driver).
//!
//! The engine itself enforces the safety rules: no revoke without a confirmation naming that
//! exact key, no revoke of a key whose replacement is not verified and propagated without a
//! typed override, new keys stored as pending before anything else.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Semaphore, mpsc};

use super::command::{Command, Dangerous, PastedKey, Update, override_phrase};
use super::event::{DangerKind, Event, Via};
use super::journal::{Journal, JournalError, Record};
use super::model::{Credential, KeyGeneration, LocationKind};
use super::ports::{Liveness, ProviderError, ProviderSet, WorldFeed};
use super::rotation::{RotationState, Stage};
use super::state::{IncidentState, StepStatus};
use crate::runbook::schema::{Action, KeyPassing, OnFailure};

/// Settings of one engine run.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Provider calls in flight at once.
    pub concurrency: usize,
    /// Attempts per operation for retryable failures.
    pub max_attempts: u32,
    /// First backoff delay (incident clock); doubles per attempt, with jitter.
    pub backoff_base: Duration,
    /// How long to watch revoked keys (incident clock).
    pub quiet_period: Duration,
    /// Refuse everything that changes the outside world.
    pub read_only: bool,
    /// Test hook for crash tests: after this many journal records, stop dead (the test
    /// then kills the process).
    pub pause_after_records: Option<u64>,
}

impl EngineConfig {
    /// Settings from the runbook, with defaults where it is silent.
    pub fn from_runbook(rb: &crate::runbook::schema::Runbook, read_only: bool) -> EngineConfig {
        EngineConfig {
            concurrency: rb.settings.concurrency.max(1),
            max_attempts: rb.settings.max_attempts.max(1),
            backoff_base: Duration::from_secs(2),
            quiet_period: crate::runbook::duration::parse(&rb.settings.quiet_period)
                .unwrap_or(Duration::from_secs(900)),
            read_only,
            pause_after_records: None,
        }
    }
}

/// What a background operation reports back to the engine loop.
enum OpMsg {
    /// Events to journal, in order.
    Events(Vec<Event>),
    /// One unit of work of `step` finished, with its last events: one message, so no
    /// command is handled between the events and the end of the work (a paste answering a
    /// `ManualKeyNeeded` must not find the key still busy).
    Done {
        step: String,
        credential: Option<String>,
        events: Vec<Event>,
    },
}

/// The running engine. Owns the journal (the single writer) and the authoritative state.
pub struct Engine {
    journal: Journal,
    state: IncidentState,
    providers: ProviderSet,
    cfg: EngineConfig,
    updates: mpsc::UnboundedSender<Update>,
    ops_tx: mpsc::UnboundedSender<OpMsg>,
    ops_rx: mpsc::UnboundedReceiver<OpMsg>,
    feed: Option<WorldFeed>,
    permits: Arc<Semaphore>,
    /// Units of work in flight per step.
    in_flight: BTreeMap<String, usize>,
    /// Credentials being worked on.
    busy_creds: HashSet<String>,
    /// Credentials already alarmed about old-key use after promotion.
    alarmed: HashSet<String>,
}

/// Errors that stop the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the journal does not start with an incident-opened record; it cannot be resumed")]
    NotAnIncident,
}

impl Engine {
    /// Starts an engine on a journal. `records` are the journal's existing records (empty
    /// for a new incident, then `opening` is journaled first).
    pub fn start(
        mut journal: Journal,
        records: Vec<Record>,
        opening: Option<Event>,
        providers: ProviderSet,
        feed: Option<WorldFeed>,
        cfg: EngineConfig,
        updates: mpsc::UnboundedSender<Update>,
    ) -> Result<Engine, EngineError> {
        let mut records = records;
        if let Some(open) = opening {
            journal.set_cloud_identity(providers.identity.clone());
            records.push(journal.append(&open)?);
        }
        let state = IncidentState::fold(
            records
                .iter()
                .map(|r| (&r.event, r.time, r.operator.user.as_str())),
        )
        .ok_or(EngineError::NotAnIncident)?;
        let (ops_tx, ops_rx) = mpsc::unbounded_channel();
        let mut engine = Engine {
            journal,
            state,
            providers,
            permits: Arc::new(Semaphore::new(cfg.concurrency.max(1))),
            cfg,
            updates,
            ops_tx,
            ops_rx,
            feed,
            in_flight: BTreeMap::new(),
            busy_creds: HashSet::new(),
            alarmed: HashSet::new(),
        };
        if let Some(id) = engine.providers.identity.clone()
            && engine.state.cloud_identity.as_deref() != Some(id.as_str())
        {
            // Journaled and applied, not sent: watchers start from `state()`.
            engine.journal.set_cloud_identity(Some(id.clone()));
            let rec = engine
                .journal
                .append(&Event::CloudIdentity { identity: id })?;
            engine
                .state
                .apply(&rec.event, rec.time, rec.operator.user.as_str());
        }
        Ok(engine)
    }

    /// The state so far; watchers start from a clone of it and apply every later update.
    pub fn state(&self) -> &IncidentState {
        &self.state
    }

    /// The incident folder.
    pub fn dir(&self) -> &std::path::Path {
        self.journal.dir()
    }

    fn send_record(&self, r: &Record) {
        let _ = self.updates.send(Update::Event {
            seq: r.seq,
            wall: r.time,
            operator: r.operator.clone(),
            event: r.event.clone(),
        });
    }

    /// Journals an event, then applies it, then tells the watchers. Journal first, always.
    fn record(&mut self, event: Event) -> Result<(), EngineError> {
        let rec = self.journal.append(&event)?;
        self.state
            .apply(&rec.event, rec.time, rec.operator.user.as_str());
        self.send_record(&rec);
        if self.cfg.pause_after_records.is_some_and(|n| rec.seq >= n) {
            // Crash-test hook: freeze the whole process right after this record is on disk.
            eprintln!("paused after record {}", rec.seq);
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        Ok(())
    }

    fn refuse(&self, message: impl Into<String>) {
        let _ = self.updates.send(Update::Refused {
            message: message.into(),
        });
    }

    fn now(&self) -> DateTime<Utc> {
        self.providers.clock.now()
    }

    fn send_busy(&self) {
        let step = self
            .in_flight
            .iter()
            .find(|(_, n)| **n > 0)
            .map(|(s, _)| s.clone());
        let _ = self.updates.send(Update::Busy {
            step,
            in_flight: self.in_flight.values().sum(),
            credentials: self.busy_creds.iter().cloned().collect(),
        });
    }

    /// Runs until `Shutdown` or until the command channel closes.
    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        if let Err(e) = self.recover() {
            let _ = self.updates.send(Update::Stopped {
                why: Some(e.to_string()),
            });
            return;
        }
        let mut feed = self.feed.take();
        let why = loop {
            tokio::select! {
                cmd = commands.recv() => {
                    match cmd {
                        None | Some(Command::Shutdown) => break None,
                        Some(cmd) => {
                            if let Err(e) = self.handle(cmd) {
                                break Some(e.to_string());
                            }
                        }
                    }
                }
                Some(msg) = self.ops_rx.recv() => {
                    if let Err(e) = self.handle_op(msg) {
                        break Some(e.to_string());
                    }
                }
                Some(ev) = async {
                    match feed.as_mut() {
                        Some(f) => f.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let Err(e) = self.handle_feed(ev) {
                        break Some(e.to_string());
                    }
                }
            }
        };
        let _ = self.updates.send(Update::Stopped { why });
    }

    /// After a resume: finish what a crash interrupted. Every operation is idempotent.
    fn recover(&mut self) -> Result<(), EngineError> {
        let running: Vec<String> = self
            .state
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Running)
            .map(|s| s.id.clone())
            .collect();
        for step in running {
            let Some(def) = self.state.step_def(&step) else {
                continue;
            };
            match def.action {
                Action::Inventory
                | Action::Rotate
                | Action::Verify
                | Action::Propagate
                | Action::Monitor => self.run_bulk(&step)?,
                Action::Revoke | Action::Delete => {
                    // A revoke that was asked for, confirmed and not yet journaled as done.
                    let pending: Vec<(String, bool)> = self
                        .state
                        .credentials
                        .iter()
                        .filter(|c| {
                            (c.requested(DangerKind::Revoke)
                                && c.rotation.reached() < Stage::Revoked)
                                || (c.requested(DangerKind::Delete) && c.deleted.is_none())
                        })
                        .map(|c| (c.credential.id.clone(), c.requested(DangerKind::Delete)))
                        .collect();
                    for (cred, delete) in pending {
                        // Resumed work is nobody's new word.
                        self.spawn_dangerous(&step, &cred, delete, Via::Resume);
                    }
                    self.maybe_complete(&step)?;
                }
                Action::Manual | Action::Command | Action::Report => {}
            }
        }
        Ok(())
    }

    fn handle(&mut self, cmd: Command) -> Result<(), EngineError> {
        match cmd {
            Command::RunStep { step } => self.run_step(&step),
            Command::TickItem { step, item } => {
                let Some(s) = self.state.step(&step) else {
                    self.refuse(format!("there is no step `{step}`"));
                    return Ok(());
                };
                let Some(checked) = s.checked.get(item).copied() else {
                    self.refuse(format!("step `{step}` has no checklist item {}", item + 1));
                    return Ok(());
                };
                if s.is_finished() {
                    self.refuse("this step is already done");
                    return Ok(());
                }
                self.record(Event::ChecklistTicked {
                    step,
                    item,
                    checked: !checked,
                })
            }
            Command::SkipStep { step, why } => {
                let Some(s) = self.state.step(&step) else {
                    self.refuse(format!("there is no step `{step}`"));
                    return Ok(());
                };
                if s.is_finished() {
                    self.refuse("this step is already finished");
                    return Ok(());
                }
                if self.in_flight.get(&step).copied().unwrap_or(0) > 0 {
                    self.refuse("this step has work in flight; wait for it to finish");
                    return Ok(());
                }
                let why = if why.trim().is_empty() {
                    "no reason given".to_string()
                } else {
                    why
                };
                let at = self.now();
                self.record(Event::StepSkipped { step, why, at })?;
                self.maybe_end_drill()
            }
            Command::Confirm {
                target,
                word,
                override_phrase,
                via,
            } => self.confirm(target, word, override_phrase, via),
            Command::Retry { credential } => self.retry(&credential),
            Command::SkipCredential { credential, why } => {
                let Some(c) = self.state.credential(&credential) else {
                    self.refuse(format!("there is no credential `{credential}`"));
                    return Ok(());
                };
                if c.rotation.reached() >= Stage::Revoked {
                    self.refuse("this key is already revoked; there is nothing to skip");
                    return Ok(());
                }
                if self.busy_creds.contains(&credential) {
                    self.refuse("this key has work in flight; wait for it to finish");
                    return Ok(());
                }
                self.record(Event::RotationSkipped { credential, why })?;
                self.complete_finished_steps()
            }
            Command::PasteKey { credential, key } => self.paste_key(&credential, key),
            Command::Note { text } => self.record(Event::Note { text }),
            Command::Shutdown => Ok(()),
        }
    }

    /// Completes every running step whose work is now done (after a skip or a retry).
    fn complete_finished_steps(&mut self) -> Result<(), EngineError> {
        let running: Vec<String> = self
            .state
            .steps
            .iter()
            .filter(|s| matches!(s.status, StepStatus::Running | StepStatus::Failed { .. }))
            .map(|s| s.id.clone())
            .collect();
        for s in running {
            if self.in_flight.get(&s).copied().unwrap_or(0) == 0 {
                self.maybe_complete(&s)?;
            }
        }
        Ok(())
    }

    fn run_step(&mut self, step: &str) -> Result<(), EngineError> {
        let Some(def) = self.state.step_def(step).cloned() else {
            self.refuse(format!("there is no step `{step}`"));
            return Ok(());
        };
        let Some(st) = self.state.step(step) else {
            return Ok(());
        };
        if st.is_finished() {
            self.refuse(format!("“{}” is already done", def.title));
            return Ok(());
        }
        let unmet = self.state.unmet_needs(step);
        if !unmet.is_empty() {
            let titles: Vec<String> = unmet
                .iter()
                .map(|n| {
                    self.state
                        .step_def(n)
                        .map(|d| format!("“{}”", d.title))
                        .unwrap_or_else(|| n.clone())
                })
                .collect();
            self.refuse(format!("do {} first", titles.join(" and ")));
            return Ok(());
        }
        if self.in_flight.get(step).copied().unwrap_or(0) > 0 {
            self.refuse("this step is already running");
            return Ok(());
        }
        if self.cfg.read_only && def.action.is_mutating() {
            self.refuse("read-only mode: this step changes keys or systems and is disabled");
            return Ok(());
        }
        match def.action {
            Action::Manual => {
                let done = st.checked.iter().filter(|c| **c).count();
                let all = st.checked.len();
                if done < all {
                    self.refuse(format!(
                        "tick every item first ({done} of {all} done): Space ticks the selected item"
                    ));
                    return Ok(());
                }
                let at = self.now();
                if st.status != StepStatus::Running {
                    self.record(Event::StepStarted {
                        step: step.to_string(),
                        at,
                    })?;
                }
                self.record(Event::StepCompleted {
                    step: step.to_string(),
                    at,
                })?;
                self.maybe_end_drill()
            }
            Action::Revoke | Action::Delete => {
                if st.status != StepStatus::Running {
                    let at = self.now();
                    self.record(Event::StepStarted {
                        step: step.to_string(),
                        at,
                    })?;
                }
                self.maybe_complete(step)
            }
            Action::Command => self.run_command(step, &def),
            Action::Report => {
                let at = self.now();
                self.record(Event::StepStarted {
                    step: step.to_string(),
                    at,
                })?;
                self.end_drill_if_drill()?;
                match self.write_report() {
                    Ok(path) => {
                        self.record(Event::ReportWritten { path })?;
                        let at = self.now();
                        self.record(Event::StepCompleted {
                            step: step.to_string(),
                            at,
                        })?;
                        self.maybe_end_drill()
                    }
                    Err(why) => {
                        let at = self.now();
                        self.record(Event::StepFailed {
                            step: step.to_string(),
                            why,
                            at,
                        })
                    }
                }
            }
            Action::Inventory
            | Action::Rotate
            | Action::Verify
            | Action::Propagate
            | Action::Monitor => {
                let at = self.now();
                self.record(Event::StepStarted {
                    step: step.to_string(),
                    at,
                })?;
                self.run_bulk(step)
            }
        }
    }

    /// Writes report.md and report.json into the incident folder; returns the md path.
    fn write_report(&self) -> Result<String, String> {
        let dir = self.journal.dir().to_path_buf();
        let md = super::report::markdown(&self.state);
        let json = super::report::json(&self.state);
        let md_path = dir.join("report.md");
        super::fsutil::write_private(&md_path, md.as_bytes())
            .map_err(|e| format!("could not write {}: {e}", md_path.display()))?;
        let json_path = dir.join("report.json");
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        super::fsutil::write_private(&json_path, text.as_bytes())
            .map_err(|e| format!("could not write {}: {e}", json_path.display()))?;
        Ok(md_path.display().to_string())
    }

    /// Credentials a bulk step works on now.
    fn eligible(&self, action: Action) -> Vec<Credential> {
        self.state
            .credentials
            .iter()
            .filter(|c| c.in_rotation() && !self.busy_creds.contains(&c.credential.id))
            .filter(|c| match (&c.rotation, action) {
                (RotationState::At { stage }, Action::Rotate) => {
                    matches!(stage, Stage::Exposed | Stage::Issued)
                }
                (RotationState::At { stage }, Action::Verify) => *stage == Stage::Staged,
                (RotationState::At { stage }, Action::Propagate) => {
                    matches!(stage, Stage::Verified | Stage::Promoted)
                        || IncidentState::needs_late_rollout(c)
                }
                (RotationState::At { stage }, Action::Monitor) => *stage == Stage::Revoked,
                _ => false,
            })
            .map(|c| c.credential.clone())
            .collect()
    }

    fn start_unit(&mut self, step: &str, cred: Option<&str>) {
        *self.in_flight.entry(step.to_string()).or_insert(0) += 1;
        if let Some(c) = cred {
            self.busy_creds.insert(c.to_string());
        }
        self.send_busy();
    }

    fn run_bulk(&mut self, step: &str) -> Result<(), EngineError> {
        let Some(def) = self.state.step_def(step).cloned() else {
            return Ok(());
        };
        match def.action {
            Action::Inventory => {
                self.start_unit(step, None);
                let ctx = self.op_ctx(step);
                let scope = self.state.runbook.scope.clone();
                let window = self.state.runbook.exposure_window.clone();
                tokio::spawn(async move {
                    let (tx, mut rx) = mpsc::unbounded_channel();
                    let inv = ctx.providers.inventory.clone();
                    let fut = async move { inv.discover(&scope, &window, tx).await };
                    let forward = async {
                        while let Some(page) = rx.recv().await {
                            let events = page
                                .into_iter()
                                .map(|credential| Event::CredentialDiscovered { credential })
                                .collect();
                            ctx.send(events);
                        }
                    };
                    let (res, ()) = tokio::join!(fut, forward);
                    if let Err(e) = res {
                        ctx.send(vec![Event::AttemptFailed {
                            credential: None,
                            step: ctx.step.clone(),
                            operation: "inventory".into(),
                            attempt: 1,
                            why: e.to_string(),
                            retryable: false,
                        }]);
                    }
                    ctx.done(None);
                });
            }
            Action::Rotate => {
                for cred in self.eligible(Action::Rotate) {
                    let token = issue_token(&self.state.id, &cred.id);
                    let known = self
                        .state
                        .credential(&cred.id)
                        .and_then(|c| c.issue_token.clone());
                    if known.as_deref() != Some(token.as_str()) {
                        self.record(Event::IssueRequested {
                            credential: cred.id.clone(),
                            token: token.clone(),
                        })?;
                    }
                    self.start_unit(step, Some(&cred.id));
                    let ctx = self.op_ctx(step);
                    tokio::spawn(async move {
                        let events = rotate_one(&ctx, &cred, &token).await;
                        ctx.finish(events, Some(cred.id));
                    });
                }
            }
            Action::Verify => {
                for cred in self.eligible(Action::Verify) {
                    let version = self
                        .state
                        .credential(&cred.id)
                        .and_then(|c| c.staged_version.clone())
                        .unwrap_or_default();
                    self.start_unit(step, Some(&cred.id));
                    let ctx = self.op_ctx(step);
                    tokio::spawn(async move {
                        let events = verify_one(&ctx, &cred, &version).await;
                        ctx.finish(events, Some(cred.id));
                    });
                }
            }
            Action::Propagate => {
                for cred in self.eligible(Action::Propagate) {
                    let Some(cs) = self.state.credential(&cred.id) else {
                        continue;
                    };
                    let version = cs.staged_version.clone().unwrap_or_default();
                    let promoted = cs.stamps.get(&Stage::Promoted).copied();
                    let done: HashSet<String> = cs.updated_locations.keys().cloned().collect();
                    self.start_unit(step, Some(&cred.id));
                    let ctx = self.op_ctx(step);
                    tokio::spawn(async move {
                        let events = propagate_one(&ctx, &cred, &version, promoted, &done).await;
                        ctx.finish(events, Some(cred.id));
                    });
                }
            }
            Action::Monitor => {
                let quiet = self.cfg.quiet_period;
                for cred in self.eligible(Action::Monitor) {
                    let revoked_at = self
                        .state
                        .credential(&cred.id)
                        .and_then(|c| c.stamps.get(&Stage::Revoked).copied())
                        .unwrap_or_else(|| self.now());
                    let version = self
                        .state
                        .credential(&cred.id)
                        .and_then(|c| c.staged_version.clone());
                    self.start_unit(step, Some(&cred.id));
                    let ctx = self.op_ctx(step);
                    tokio::spawn(async move {
                        let events =
                            monitor_one(&ctx, &cred, version.as_deref(), revoked_at, quiet).await;
                        ctx.finish(events, Some(cred.id));
                    });
                }
            }
            _ => {}
        }
        if self.in_flight.get(step).copied().unwrap_or(0) == 0 {
            self.maybe_complete(step)?;
        }
        Ok(())
    }

    fn op_ctx(&self, step: &str) -> OpCtx {
        OpCtx {
            step: step.to_string(),
            providers: self.providers.clone(),
            tx: self.ops_tx.clone(),
            permits: self.permits.clone(),
            max_attempts: self.cfg.max_attempts,
            backoff_base: self.cfg.backoff_base,
        }
    }

    fn handle_op(&mut self, msg: OpMsg) -> Result<(), EngineError> {
        match msg {
            OpMsg::Events(events) => self.record_op_events(events),
            OpMsg::Done {
                step,
                credential,
                events,
            } => {
                self.record_op_events(events)?;
                if let Some(n) = self.in_flight.get_mut(&step) {
                    *n = n.saturating_sub(1);
                }
                if let Some(c) = credential {
                    self.busy_creds.remove(&c);
                }
                self.send_busy();
                if self.in_flight.get(&step).copied().unwrap_or(0) == 0 {
                    self.maybe_complete(&step)?;
                }
                Ok(())
            }
        }
    }

    fn record_op_events(&mut self, events: Vec<Event>) -> Result<(), EngineError> {
        for e in events {
            // A rediscovered credential is news only if something changed.
            if let Event::CredentialDiscovered { credential } = &e
                && self
                    .state
                    .credential(&credential.id)
                    .is_some_and(|c| &c.credential == credential)
            {
                continue;
            }
            // A re-issue after a crash returns the same key (same token): not news.
            if let Event::Issued {
                credential,
                new_key_id,
                ..
            } = &e
                && self.state.credential(credential).is_some_and(|c| {
                    c.rotation.reached() >= Stage::Issued
                        && c.new_key_id.as_deref() == Some(new_key_id.as_str())
                })
            {
                continue;
            }
            self.record(e)?;
        }
        Ok(())
    }

    /// Marks a step done (or failed) when none of its work is left.
    fn maybe_complete(&mut self, step: &str) -> Result<(), EngineError> {
        let Some(def) = self.state.step_def(step).cloned() else {
            return Ok(());
        };
        let Some(st) = self.state.step(step) else {
            return Ok(());
        };
        if st.is_finished() || st.status == StepStatus::Pending {
            return Ok(());
        }
        let target = match def.action {
            Action::Rotate => Some(Stage::Staged),
            Action::Verify => Some(Stage::Verified),
            Action::Propagate => Some(Stage::Propagated),
            Action::Revoke => Some(Stage::Revoked),
            Action::Monitor => Some(Stage::ConfirmedDead),
            _ => None,
        };
        let at = self.now();
        if def.action == Action::Inventory {
            let inventory_failed = self
                .state
                .failures
                .iter()
                .any(|f| f.step == step && f.operation == "inventory" && !f.retryable)
                && self.state.credentials.is_empty();
            if inventory_failed {
                return self.record(Event::StepFailed {
                    step: step.to_string(),
                    why: "the inventory failed; see the timeline, fix access, press Enter to retry"
                        .into(),
                    at,
                });
            }
            self.record(Event::StepCompleted {
                step: step.to_string(),
                at,
            })?;
            return self.maybe_end_drill();
        }
        if def.action == Action::Delete {
            let left = self
                .state
                .credentials
                .iter()
                .filter(|c| c.in_rotation() && c.rotation.is_contained() && c.deleted.is_none())
                .count();
            if left == 0 {
                self.record(Event::StepCompleted {
                    step: step.to_string(),
                    at,
                })?;
                return self.maybe_end_drill();
            }
            return Ok(());
        }
        let Some(target) = target else {
            return Ok(());
        };
        let creds: Vec<_> = self
            .state
            .credentials
            .iter()
            .filter(|c| c.in_rotation())
            .collect();
        let reached = creds
            .iter()
            .filter(|c| c.rotation.reached() >= target && !matches!(c.rotation, RotationState::Failed { reached, .. } if reached < target))
            .count();
        let failed: Vec<String> = creds
            .iter()
            .filter(|c| matches!(c.rotation, RotationState::Failed { .. }))
            .map(|c| c.credential.name.clone())
            .collect();
        if reached == creds.len() {
            self.record(Event::StepCompleted {
                step: step.to_string(),
                at,
            })?;
            return self.maybe_end_drill();
        }
        if def.action == Action::Revoke {
            // Revocation proceeds key by key; the step stays open until each is revoked.
            return Ok(());
        }
        if !failed.is_empty() && failed.len() + reached == creds.len() {
            if def.on_failure == OnFailure::Continue && def.action == Action::Rotate {
                // Go on with the keys that worked; failed rows stay for retry or skip.
                let why = format!(
                    "{} key(s) failed and were left for retry or skip: {}",
                    failed.len(),
                    failed.join(", ")
                );
                self.record(Event::Note { text: why })?;
                self.record(Event::StepCompleted {
                    step: step.to_string(),
                    at,
                })?;
                return self.maybe_end_drill();
            }
            return self.record(Event::StepFailed {
                step: step.to_string(),
                why: format!(
                    "{} of {} key(s) failed ({}): select a row and press r to retry, or skip it",
                    failed.len(),
                    creds.len(),
                    failed.join(", ")
                ),
                at,
            });
        }
        Ok(())
    }

    /// A key made by hand arrived: test it at the issuer, then stage it as pending.
    fn paste_key(&mut self, id: &str, key: PastedKey) -> Result<(), EngineError> {
        if self.cfg.read_only {
            self.refuse("read-only: keys cannot be changed in this session");
            return Ok(());
        }
        let Some(cs) = self.state.credential(id) else {
            self.refuse(format!("there is no credential `{id}`"));
            return Ok(());
        };
        if cs.manual_needed.is_none() || cs.rotation.reached() >= Stage::Issued {
            self.refuse(format!(
                "{} is not waiting for a pasted key",
                cs.credential.name
            ));
            return Ok(());
        }
        if key.0.expose_secret().is_empty() {
            self.refuse("nothing was pasted: copy the new key from the console and paste it");
            return Ok(());
        }
        if self.busy_creds.contains(id) {
            self.refuse("this key has work in flight; wait for it to finish");
            return Ok(());
        }
        let cred = cs.credential.clone();
        let Some(step) = self
            .state
            .steps
            .iter()
            .find(|s| {
                self.state
                    .step_def(&s.id)
                    .is_some_and(|d| d.action == Action::Rotate)
                    && !s.is_finished()
            })
            .map(|s| s.id.clone())
        else {
            self.refuse("no rotate step is open to take the pasted key");
            return Ok(());
        };
        let token = issue_token(&self.state.id, &cred.id);
        self.start_unit(&step, Some(&cred.id));
        let ctx = self.op_ctx(&step);
        tokio::spawn(async move {
            let events = paste_one(&ctx, &cred, key.0, &token).await;
            ctx.finish(events, Some(cred.id));
        });
        Ok(())
    }

    fn retry(&mut self, id: &str) -> Result<(), EngineError> {
        let Some(c) = self.state.credential(id) else {
            self.refuse(format!("there is no credential `{id}`"));
            return Ok(());
        };
        let RotationState::Failed { reached, .. } = c.rotation else {
            self.refuse(format!(
                "{} has not failed; nothing to retry",
                c.credential.name
            ));
            return Ok(());
        };
        if self.cfg.read_only {
            self.refuse("read-only mode: retrying would change keys and is disabled");
            return Ok(());
        }
        self.record(Event::RotationRetried {
            credential: id.to_string(),
        })?;
        let action = match reached {
            Stage::Exposed | Stage::Issued => Action::Rotate,
            Stage::Staged => Action::Verify,
            Stage::Verified | Stage::Promoted => Action::Propagate,
            Stage::Revoked => Action::Monitor,
            Stage::Propagated | Stage::ConfirmedDead => return Ok(()),
        };
        let Some(step) = self.state.steps_with(action).first().map(|s| s.to_string()) else {
            return Ok(());
        };
        // Re-run the owning step for the keys that are eligible (this one included).
        if let Some(s) = self.state.step(&step)
            && s.status != StepStatus::Running
        {
            let at = self.now();
            self.record(Event::StepStarted {
                step: step.clone(),
                at,
            })?;
        }
        self.run_bulk(&step)
    }

    fn confirm(
        &mut self,
        target: Dangerous,
        word: String,
        typed_override: Option<String>,
        via: Via,
    ) -> Result<(), EngineError> {
        let id = target.credential().to_string();
        let kind = target.kind();
        let verb = kind.word();
        if self.cfg.read_only {
            self.refuse(format!("read-only mode: {verb} is disabled"));
            return Ok(());
        }
        let Some(c) = self.state.credential(&id) else {
            self.refuse(format!("there is no credential `{id}`"));
            return Ok(());
        };
        if matches!(target, Dangerous::MakeRoom { .. }) {
            return self.confirm_room(&id, word, via);
        }
        let name = c.credential.name.clone();
        let expected = c.credential.confirmation_word();
        match &target {
            Dangerous::Revoke { .. } => {
                if c.rotation.reached() >= Stage::Revoked {
                    self.refuse(format!("{name} is already revoked"));
                    return Ok(());
                }
                if !c.credential.exposed {
                    self.refuse(format!(
                        "{name} is not exposed; breachbook only revokes exposed keys"
                    ));
                    return Ok(());
                }
                if matches!(c.rotation, RotationState::Skipped { .. }) {
                    self.refuse(format!(
                        "{name} was skipped; it is not part of this rotation"
                    ));
                    return Ok(());
                }
                if c.requested(DangerKind::Revoke) {
                    self.refuse(format!("{name} is being revoked already"));
                    return Ok(());
                }
            }
            Dangerous::MakeRoom { .. } => return Ok(()),
            Dangerous::Delete { .. } => {
                if c.rotation.reached() < Stage::Revoked {
                    self.refuse(format!("revoke {name} before deleting it"));
                    return Ok(());
                }
                if c.deleted.is_some() {
                    self.refuse(format!("{name} is already deleted"));
                    return Ok(());
                }
                if c.requested(DangerKind::Delete) {
                    self.refuse(format!("{name} is being deleted already"));
                    return Ok(());
                }
            }
        }
        let typed = word.trim().to_lowercase();
        if typed.is_empty() {
            self.record(Event::ConfirmationRefused {
                credential: id.clone(),
                action: kind,
                why: "no confirmation word typed".into(),
            })?;
            self.refuse(format!(
                "type the confirmation word first: the last 4 characters of {name}'s key id"
            ));
            return Ok(());
        }
        if typed != expected {
            self.record(Event::ConfirmationRefused {
                credential: id.clone(),
                action: kind,
                why: "wrong confirmation word".into(),
            })?;
            self.refuse(format!(
                "`{typed}` is not the confirmation word for {name}: type the last 4 characters of its key id"
            ));
            return Ok(());
        }
        // Pre-flight: the engine checks again, whatever the screen showed.
        let failed: Vec<String> = match &target {
            Dangerous::Revoke { .. } => self
                .state
                .credential(&id)
                .map(|c| c.preflight())
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, ok)| !ok)
                .map(|(label, _)| label)
                .collect(),
            Dangerous::MakeRoom { .. } => Vec::new(),
            Dangerous::Delete { .. } => {
                let dead = self
                    .state
                    .credential(&id)
                    .is_some_and(|c| c.rotation.reached() >= Stage::ConfirmedDead);
                if dead {
                    Vec::new()
                } else {
                    vec!["old key confirmed dead after the quiet period".to_string()]
                }
            }
        };
        let preflight_passed = failed.is_empty();
        if !failed.is_empty() {
            let phrase = override_phrase(&expected);
            let given = override_phrase_matches(typed_override.as_deref(), &phrase);
            if !given {
                // The right word without the override is not a confirmation: nothing is
                // recorded as given, so a later retry starts clean.
                self.refuse(format!(
                    "pre-flight failed ({}): to {verb} anyway, type `{phrase}`",
                    failed.join("; ")
                ));
                return Ok(());
            }
            self.record(Event::ConfirmationGiven {
                credential: id.clone(),
                action: kind,
                via,
            })?;
            self.record(Event::OverrideGiven {
                credential: id.clone(),
                failed_checks: failed,
                via,
            })?;
        }
        if preflight_passed {
            self.record(Event::ConfirmationGiven {
                credential: id.clone(),
                action: kind,
                via,
            })?;
        }
        // The engine's own gate: a journaled confirmation naming this key, and an override
        // when pre-flight failed.
        let Some(c) = self.state.credential(&id) else {
            return Ok(());
        };
        let delete = matches!(target, Dangerous::Delete { .. });
        if !c.confirmed(kind) {
            self.refuse("no confirmation recorded for this key; nothing was revoked");
            return Ok(());
        }
        let step = self
            .state
            .steps_with(if delete {
                Action::Delete
            } else {
                Action::Revoke
            })
            .first()
            .map(|s| s.to_string())
            .unwrap_or_else(|| verb.to_string());
        if let Some(s) = self.state.step(&step)
            && s.status == StepStatus::Pending
        {
            let at = self.now();
            self.record(Event::StepStarted {
                step: step.clone(),
                at,
            })?;
        }
        if delete {
            self.record(Event::DeleteRequested {
                credential: id.clone(),
            })?;
        } else {
            self.record(Event::RevokeRequested {
                credential: id.clone(),
            })?;
        }
        self.spawn_dangerous(&step, &id, delete, via);
        Ok(())
    }

    /// The typed confirmation to delete the inactive key a [`Event::RoomNeeded`] named: its
    /// own word (the last 4 characters of *that* key's id), then the deletion and, once
    /// there is room, the new key.
    fn confirm_room(&mut self, id: &str, word: String, via: Via) -> Result<(), EngineError> {
        let Some(c) = self.state.credential(id) else {
            return Ok(());
        };
        let name = c.credential.name.clone();
        let Some(key_id) = c.room_needed.as_ref().map(|r| r.key_id.clone()) else {
            self.refuse(format!("{name} needs no room for a new key"));
            return Ok(());
        };
        if self.cfg.read_only {
            self.refuse("read-only mode: nothing is deleted");
            return Ok(());
        }
        if matches!(c.rotation, RotationState::Skipped { .. })
            || c.rotation.reached() >= Stage::Issued
        {
            self.refuse(format!(
                "{name} needs no new key any more; nothing was deleted"
            ));
            return Ok(());
        }
        if let Some(other) = self
            .state
            .credentials
            .iter()
            .find(|o| o.credential.id != id && o.credential.key_id == key_id && o.in_rotation())
        {
            self.refuse(format!(
                "{key_id} is itself an exposed key being handled here ({}): rotate, revoke and delete it in its own row; nothing was deleted",
                other.credential.name
            ));
            return Ok(());
        }
        let failed = matches!(c.rotation, RotationState::Failed { .. });
        if self.busy_creds.contains(id) {
            self.refuse(format!("{name} is busy; wait for it to finish"));
            return Ok(());
        }
        let expected = super::model::confirmation_word(&key_id);
        let typed = word.trim().to_lowercase();
        if typed != expected {
            let why = if typed.is_empty() {
                "no confirmation word typed"
            } else {
                "wrong confirmation word"
            };
            self.record(Event::ConfirmationRefused {
                credential: id.to_string(),
                action: DangerKind::MakeRoom,
                why: why.into(),
            })?;
            self.refuse(format!(
                "type the last 4 characters of the inactive key {key_id} to delete it"
            ));
            return Ok(());
        }
        self.record(Event::ConfirmationGiven {
            credential: id.to_string(),
            action: DangerKind::MakeRoom,
            via,
        })?;
        if failed {
            // Making room is how this failed rotation goes on: the retry is journaled, so
            // the key minted after it is not refused by the rotation state.
            self.record(Event::RotationRetried {
                credential: id.to_string(),
            })?;
        }
        if !self
            .state
            .credential(id)
            .and_then(|c| c.room_needed.as_ref())
            .is_some_and(|r| r.confirmed)
        {
            self.refuse("no confirmation recorded; nothing was deleted");
            return Ok(());
        }
        let step = self
            .state
            .steps_with(Action::Rotate)
            .first()
            .map(|s| s.to_string())
            .unwrap_or_else(|| "rotate".to_string());
        let Some(cred) = self.state.credential(id).map(|c| c.credential.clone()) else {
            return Ok(());
        };
        let token = issue_token(&self.state.id, id);
        self.start_unit(&step, Some(id));
        let ctx = self.op_ctx(&step);
        tokio::spawn(async move {
            let made = ctx
                .attempt(Some(&cred.id), "make room", || async {
                    ctx.providers
                        .issuer(cred.issuer)?
                        .make_room(&cred, &key_id)
                        .await
                })
                .await;
            let events = match made {
                // Gone already (a retry after the deletion): there is room.
                Ok(()) | Err(ProviderError::NotFound { .. }) => {
                    let mut ev = vec![Event::RoomMade {
                        credential: cred.id.clone(),
                        key_id: key_id.clone(),
                        at: ctx.providers.clock.now(),
                    }];
                    ev.extend(rotate_one(&ctx, &cred, &token).await);
                    ev
                }
                Err(e) => vec![Event::RotationFailed {
                    credential: cred.id.clone(),
                    why: format!("could not delete the inactive key {key_id}: {e}"),
                }],
            };
            ctx.finish(events, Some(cred.id));
        });
        Ok(())
    }

    fn spawn_dangerous(&mut self, step: &str, id: &str, delete: bool, via: Via) {
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
            let (kind, done) = if delete {
                (
                    DangerKind::Delete,
                    Event::Deleted {
                        credential: cred.id.clone(),
                        at: ctx.providers.clock.now(),
                    },
                )
            } else {
                (
                    DangerKind::Revoke,
                    Event::Revoked {
                        credential: cred.id.clone(),
                        at: ctx.providers.clock.now(),
                    },
                )
            };
            let result = ctx
                .attempt(Some(&cred.id), kind.word(), || async {
                    let issuer = ctx.providers.issuer(cred.issuer)?;
                    if delete {
                        issuer.delete(&cred).await
                    } else {
                        issuer.revoke(&cred).await
                    }
                })
                .await;
            let events = match result {
                Ok(()) => vec![stamp_now(done, &ctx)],
                Err(ProviderError::ManualRevoke { instructions, .. }) => {
                    manual_revoke(
                        &ctx,
                        &cred,
                        new_version.as_deref(),
                        kind,
                        instructions,
                        asked_before,
                        done,
                    )
                    .await
                }
                Err(e) => vec![Event::RotationFailed {
                    credential: cred.id.clone(),
                    why: format!("{kind} failed: {e}"),
                }],
            };
            ctx.finish(events, Some(cred.id));
        });
    }

    fn run_command(
        &mut self,
        step: &str,
        def: &crate::runbook::schema::Step,
    ) -> Result<(), EngineError> {
        let Some(spec) = def.command.clone() else {
            let at = self.now();
            return self.record(Event::StepFailed {
                step: step.to_string(),
                why: "this command step has no command; fix the runbook".into(),
                at,
            });
        };
        let at = self.now();
        self.record(Event::StepStarted {
            step: step.to_string(),
            at,
        })?;
        // One run per rotated credential, or one run with every location.
        let creds: Vec<Credential> = self
            .state
            .credentials
            .iter()
            .filter(|c| c.in_rotation())
            .map(|c| c.credential.clone())
            .collect();
        let runs: Vec<(Option<Credential>, String)> = if spec.per_credential {
            creds
                .iter()
                .map(|c| (Some(c.clone()), substitute(&spec.run, Some(c), &creds)))
                .collect()
        } else {
            vec![(None, substitute(&spec.run, None, &creds))]
        };
        if let Some(world) = self.providers.drill.clone() {
            for (_, cmd) in &runs {
                self.record(Event::CommandStarted {
                    step: step.to_string(),
                    command: cmd.clone(),
                    simulated: true,
                })?;
                let effect = match &spec.drill_effect {
                    Some(crate::runbook::schema::DrillEffect::RestartConsumers(names)) => {
                        world.restart_consumers(names);
                        format!("(drill) not run; simulated: restarted {}", names.join(", "))
                    }
                    _ => "(drill) not run; simulated success".to_string(),
                };
                self.record(Event::CommandOutput {
                    step: step.to_string(),
                    line: effect,
                })?;
                self.record(Event::CommandFinished {
                    step: step.to_string(),
                    exit_code: 0,
                })?;
            }
            let at = self.now();
            self.record(Event::StepCompleted {
                step: step.to_string(),
                at,
            })?;
            return self.maybe_end_drill();
        }
        // Live: run each command in turn in a task; output streams into the journal.
        self.start_unit(step, None);
        let ctx = self.op_ctx(step);
        let versions: HashMap<String, String> = self
            .state
            .credentials
            .iter()
            .filter_map(|c| {
                c.staged_version
                    .clone()
                    .map(|v| (c.credential.id.clone(), v))
            })
            .collect();
        let passing = spec.new_key_via.clone();
        tokio::spawn(async move {
            let mut all_ok = true;
            for (cred, cmd) in runs {
                ctx.send(vec![Event::CommandStarted {
                    step: ctx.step.clone(),
                    command: cmd.clone(),
                    simulated: false,
                }]);
                let key = match (&cred, &passing) {
                    (Some(c), KeyPassing::Stdin | KeyPassing::Env) => {
                        read_new_key(&ctx, c, versions.get(&c.id)).await
                    }
                    _ => None,
                };
                let code = run_shell(&ctx, &cmd, &passing, key).await;
                ctx.send(vec![Event::CommandFinished {
                    step: ctx.step.clone(),
                    exit_code: code,
                }]);
                if code != 0 {
                    all_ok = false;
                    break;
                }
            }
            let at = ctx.providers.clock.now();
            ctx.send(vec![if all_ok {
                Event::StepCompleted {
                    step: ctx.step.clone(),
                    at,
                }
            } else {
                Event::StepFailed {
                    step: ctx.step.clone(),
                    why: "the command failed; read its output, fix, press Enter to run again"
                        .into(),
                    at,
                }
            }]);
            ctx.done(None);
        });
        Ok(())
    }

    fn handle_feed(&mut self, ev: Event) -> Result<(), EngineError> {
        if self.state.score.is_some() {
            // The drill is over; the world may still tick but nothing more is recorded.
            return Ok(());
        }
        let alarm = match &ev {
            Event::UsageObserved { sample }
                if sample.generation == KeyGeneration::Old && sample.ok > 0 =>
            {
                self.state.credential(&sample.credential).and_then(|c| {
                    let promoted = c.stamps.get(&Stage::Promoted)?;
                    let fresh = c.rotation.reached() < Stage::Revoked
                        && sample.minute >= *promoted
                        && !self.alarmed.contains(&sample.credential);
                    fresh.then(|| {
                        (
                            sample.credential.clone(),
                            format!(
                                "ALARM: old key of {} still used after its replacement was promoted ({} calls from {})",
                                c.credential.name,
                                sample.ok,
                                sample.sources.first().cloned().unwrap_or_else(|| "unknown".into())
                            ),
                            sample.minute,
                        )
                    })
                })
            }
            _ => None,
        };
        self.record(ev)?;
        if let Some((cred, message, at)) = alarm {
            self.alarmed.insert(cred.clone());
            self.record(Event::Alarm {
                credential: Some(cred),
                generation: Some(KeyGeneration::Old),
                message,
                at,
            })?;
        }
        self.maybe_time_up()
    }

    /// Ends the drill when its clock runs past the scenario's duration.
    fn maybe_time_up(&mut self) -> Result<(), EngineError> {
        let Some(world) = self.providers.drill.clone() else {
            return Ok(());
        };
        if self.state.score.is_some() {
            return Ok(());
        }
        let Some(drill) = &self.state.runbook.drill else {
            return Ok(());
        };
        let Ok(len) = crate::runbook::duration::parse(&drill.duration) else {
            return Ok(());
        };
        let end = world.started_at() + chrono::Duration::seconds(len.as_secs() as i64);
        if self.now() >= end {
            self.record(Event::Note {
                text: "the drill's time is up".into(),
            })?;
            self.end_drill_if_drill()?;
        }
        Ok(())
    }

    fn end_drill_if_drill(&mut self) -> Result<(), EngineError> {
        let Some(world) = self.providers.drill.clone() else {
            return Ok(());
        };
        if self.state.score.is_some() {
            return Ok(());
        }
        let score = world.score(&self.state);
        let at = self.now();
        self.record(Event::DrillEnded { score, at })
    }

    /// In drills, once every step is finished, the score is recorded.
    fn maybe_end_drill(&mut self) -> Result<(), EngineError> {
        if self.state.is_complete() {
            self.end_drill_if_drill()?;
        }
        Ok(())
    }
}

/// Whether the typed override phrase matches (case and surrounding space ignored).
fn override_phrase_matches(typed: Option<&str>, phrase: &str) -> bool {
    typed.is_some_and(|t| t.trim().eq_ignore_ascii_case(phrase))
}

/// The idempotency token for minting a credential's replacement: stable per incident and
/// credential, so a retry after a crash finds the same key.
pub fn issue_token(incident: &str, credential: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(incident.as_bytes());
    h.update([0]);
    h.update(credential.as_bytes());
    let hex = hex::encode(h.finalize());
    // ClientRequestToken must be 32–64 characters.
    format!("breachbook-{}", &hex[..32])
}

/// Substitutes names (never values) into a command.
fn substitute(template: &str, cred: Option<&Credential>, all: &[Credential]) -> String {
    let locations: Vec<String> = match cred {
        Some(c) => c.locations.iter().map(|l| l.label()).collect(),
        None => all
            .iter()
            .flat_map(|c| c.locations.iter().map(|l| l.label()))
            .collect(),
    };
    let mut s = template.replace("{locations}", &shell_quote_all(&locations));
    if let Some(c) = cred {
        s = s
            .replace("{credential}", &shell_quote(&c.name))
            .replace("{issuer}", &shell_quote(c.issuer.label()))
            .replace(
                "{location}",
                &shell_quote(&c.locations.first().map(|l| l.label()).unwrap_or_default()),
            );
    }
    s
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:#@%+=,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn shell_quote_all(items: &[String]) -> String {
    items
        .iter()
        .map(|s| shell_quote(s))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a background operation needs.
#[derive(Clone)]
struct OpCtx {
    step: String,
    providers: ProviderSet,
    tx: mpsc::UnboundedSender<OpMsg>,
    permits: Arc<Semaphore>,
    max_attempts: u32,
    backoff_base: Duration,
}

impl OpCtx {
    fn send(&self, events: Vec<Event>) {
        if !events.is_empty() {
            let _ = self.tx.send(OpMsg::Events(events));
        }
    }

    fn done(&self, credential: Option<String>) {
        self.finish(Vec::new(), credential);
    }

    /// The unit's last events and its end, as one message.
    fn finish(&self, events: Vec<Event>, credential: Option<String>) {
        let _ = self.tx.send(OpMsg::Done {
            step: self.step.clone(),
            credential,
            events,
        });
    }

    /// Runs `f` with a concurrency permit, retrying retryable failures with exponential
    /// backoff and jitter; every failed attempt is journaled.
    async fn attempt<T, F, Fut>(
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
                f().await
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
                    let delay = e
                        .retry_after()
                        .unwrap_or_else(|| backoff(self.backoff_base, attempt, credential));
                    self.providers.clock.sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }
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

/// issue → stage as pending at once → events. The new key is in memory only between the two.
async fn rotate_one(ctx: &OpCtx, cred: &Credential, token: &str) -> Vec<Event> {
    let fail = |why: String| {
        vec![Event::RotationFailed {
            credential: cred.id.clone(),
            why,
        }]
    };
    let Some(primary) = cred.primary_store().cloned() else {
        return fail(
            "no secrets-manager location to stage the new key in; add one to the runbook scope"
                .into(),
        );
    };
    let issuer = match ctx.providers.issuer(cred.issuer) {
        Ok(i) => i.clone(),
        Err(e) => return fail(e.to_string()),
    };
    let store = match ctx.providers.store(LocationKind::SecretsManager) {
        Ok(s) => s.clone(),
        Err(e) => return fail(e.to_string()),
    };
    let key = match ctx
        .attempt(Some(&cred.id), "issue", || issuer.issue(cred, token))
        .await
    {
        Ok(k) => k,
        Err(ProviderError::ManualIssue { instructions, .. }) => {
            return vec![Event::ManualKeyNeeded {
                credential: cred.id.clone(),
                instructions,
            }];
        }
        Err(ProviderError::NeedsRoom { key_id, plan, .. }) => {
            return vec![Event::RoomNeeded {
                credential: cred.id.clone(),
                key_id,
                plan,
            }];
        }
        Err(e) => return fail(format!("could not mint a new key: {e}")),
    };
    let issued = Event::Issued {
        credential: cred.id.clone(),
        new_key_id: key.key_id.clone(),
        new_hint: key.hint.clone(),
        at: ctx.providers.clock.now(),
    };
    let staged = ctx
        .attempt(Some(&cred.id), "stage", || {
            store.stage(&primary, &key.secret, token)
        })
        .await;
    drop(key);
    match staged {
        Ok(version) => vec![
            issued,
            Event::Staged {
                credential: cred.id.clone(),
                location: primary.label(),
                version,
                at: ctx.providers.clock.now(),
            },
        ],
        Err(e) => vec![
            issued,
            Event::RotationFailed {
                credential: cred.id.clone(),
                why: format!(
                    "the new key could not be stored as pending: {e}; retry mints nothing new (same token)"
                ),
            },
        ],
    }
}

/// A pasted key: test it at the issuer (a typo must not become the pending key), then stage
/// it as pending at once. The value is dropped (zeroized) when this returns.
async fn paste_one(ctx: &OpCtx, cred: &Credential, key: SecretString, token: &str) -> Vec<Event> {
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
    let Some(primary) = cred.primary_store().cloned() else {
        return refused(
            "no secrets-manager location to stage the pasted key in; add one to the runbook scope"
                .into(),
        );
    };
    let (issuer, store) = match (
        ctx.providers.issuer(cred.issuer),
        ctx.providers.store(LocationKind::SecretsManager),
    ) {
        (Ok(i), Ok(s)) => (i.clone(), s.clone()),
        (Err(e), _) | (_, Err(e)) => return refused(e.to_string()),
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
    let hint = crate::incident::model::mask(key.expose_secret());
    let staged = ctx
        .attempt(Some(&cred.id), "stage", || {
            store.stage(&primary, &key, token)
        })
        .await;
    drop(key);
    match staged {
        Ok(version) => vec![
            Event::Issued {
                credential: cred.id.clone(),
                new_key_id: format!("pasted {hint}"),
                new_hint: hint,
                at: ctx.providers.clock.now(),
            },
            Event::Staged {
                credential: cred.id.clone(),
                location: primary.label(),
                version,
                at: ctx.providers.clock.now(),
            },
        ],
        Err(e) => refused(format!(
            "the pasted key could not be stored as pending: {e}; paste it again"
        )),
    }
}

async fn verify_one(ctx: &OpCtx, cred: &Credential, version: &str) -> Vec<Event> {
    let fail = |why: String| {
        vec![Event::RotationFailed {
            credential: cred.id.clone(),
            why,
        }]
    };
    let Some(primary) = cred.primary_store().cloned() else {
        return fail("no secrets-manager location holds the new key".into());
    };
    let (issuer, store) = match (
        ctx.providers.issuer(cred.issuer),
        ctx.providers.store(LocationKind::SecretsManager),
    ) {
        (Ok(i), Ok(s)) => (i.clone(), s.clone()),
        (Err(e), _) | (_, Err(e)) => return fail(e.to_string()),
    };
    let value: SecretString = match ctx
        .attempt(Some(&cred.id), "read pending", || {
            store.read_version(&primary, version)
        })
        .await
    {
        Ok(v) => v,
        Err(e) => return fail(format!("could not read the pending key back: {e}")),
    };
    match ctx
        .attempt(Some(&cred.id), "verify", || issuer.verify(cred, &value))
        .await
    {
        Ok(Liveness::Alive) => vec![Event::Verified {
            credential: cred.id.clone(),
            at: ctx.providers.clock.now(),
        }],
        Ok(Liveness::Dead) => fail(format!(
            "{} refused the new key: do not promote it; retry to test again",
            cred.issuer.label()
        )),
        Err(e) => fail(format!("could not test the new key: {e}")),
    }
}

async fn propagate_one(
    ctx: &OpCtx,
    cred: &Credential,
    version: &str,
    promoted: Option<DateTime<Utc>>,
    done: &HashSet<String>,
) -> Vec<Event> {
    let mut events = Vec::new();
    let Some(primary) = cred.primary_store().cloned() else {
        return vec![Event::RotationFailed {
            credential: cred.id.clone(),
            why: "no secrets-manager location holds the new key".into(),
        }];
    };
    let sm = match ctx.providers.store(LocationKind::SecretsManager) {
        Ok(s) => s.clone(),
        Err(e) => {
            return vec![Event::RotationFailed {
                credential: cred.id.clone(),
                why: e.to_string(),
            }];
        }
    };
    if let Some(at) = promoted {
        // Promoted before a crash that came before this was recorded: the primary holds
        // the new key since the promotion.
        if !done.contains(&primary.label()) {
            events.push(Event::LocationUpdated {
                credential: cred.id.clone(),
                location: primary.label(),
                updated_at: at,
            });
        }
    } else {
        match ctx
            .attempt(Some(&cred.id), "promote", || sm.promote(&primary, version))
            .await
        {
            Ok(at) => {
                events.push(Event::Promoted {
                    credential: cred.id.clone(),
                    at,
                });
                events.push(Event::LocationUpdated {
                    credential: cred.id.clone(),
                    location: primary.label(),
                    updated_at: at,
                });
            }
            Err(e) => {
                events.push(Event::RotationFailed {
                    credential: cred.id.clone(),
                    why: format!("could not promote the new key: {e}"),
                });
                return events;
            }
        }
    }
    let others: Vec<_> = cred
        .locations
        .iter()
        .filter(|l| l.kind != LocationKind::IamUser && **l != primary)
        .filter(|l| !done.contains(&l.label()))
        .cloned()
        .collect();
    if !others.is_empty() {
        let value = match ctx
            .attempt(Some(&cred.id), "read new key", || {
                sm.read_version(&primary, version)
            })
            .await
        {
            Ok(v) => v,
            Err(e) => {
                events.push(Event::RotationFailed {
                    credential: cred.id.clone(),
                    why: format!("could not read the new key to copy it: {e}"),
                });
                return events;
            }
        };
        for loc in others {
            let store = match ctx.providers.store(loc.kind) {
                Ok(s) => s.clone(),
                Err(e) => {
                    events.push(Event::RotationFailed {
                        credential: cred.id.clone(),
                        why: format!("{}: {e}", loc.label()),
                    });
                    return events;
                }
            };
            match ctx
                .attempt(Some(&cred.id), "update location", || {
                    store.replace(&loc, &value)
                })
                .await
            {
                Ok(updated_at) => events.push(Event::LocationUpdated {
                    credential: cred.id.clone(),
                    location: loc.label(),
                    updated_at,
                }),
                Err(e) => {
                    events.push(Event::RotationFailed {
                        credential: cred.id.clone(),
                        why: format!("could not update {}: {e}", loc.label()),
                    });
                    return events;
                }
            }
        }
    }
    events.push(Event::Propagated {
        credential: cred.id.clone(),
        at: ctx.providers.clock.now(),
    });
    events
}

/// Watches a revoked key for the quiet period, then checks it is refused.
async fn monitor_one(
    ctx: &OpCtx,
    cred: &Credential,
    new_version: Option<&str>,
    revoked_at: DateTime<Utc>,
    quiet: Duration,
) -> Vec<Event> {
    let until = revoked_at + chrono::Duration::seconds(quiet.as_secs() as i64);
    let now = ctx.providers.clock.now();
    if until > now {
        let left = (until - now).to_std().unwrap_or_default();
        ctx.providers.clock.sleep(left).await;
    }
    match old_key_check(ctx, cred, new_version).await {
        Ok(Liveness::Dead) => vec![Event::ConfirmedDead {
            credential: cred.id.clone(),
            at: ctx.providers.clock.now(),
        }],
        Ok(Liveness::Alive) => vec![Event::RotationFailed {
            credential: cred.id.clone(),
            why: "the old key is still accepted after revocation: revoke it again at the provider console"
                .into(),
        }],
        Err(e) => vec![Event::RotationFailed {
            credential: cred.id.clone(),
            why: format!("could not check the old key: {e}"),
        }],
    }
}

/// `done` (Revoked or Deleted) stamped with the time it happened, not when it was built.
fn stamp_now(done: Event, ctx: &OpCtx) -> Event {
    let now = ctx.providers.clock.now();
    match done {
        Event::Revoked { credential, .. } => Event::Revoked {
            credential,
            at: now,
        },
        Event::Deleted { credential, .. } => Event::Deleted {
            credential,
            at: now,
        },
        other => other,
    }
}

/// The issuer cannot revoke by API: done once the old key is no longer accepted (the
/// operator did it in the console); otherwise the console steps go to the operator, who
/// confirms again when done. When the old key cannot be tested at all, the second
/// confirmation (after the steps were shown) is taken as the operator's word, and says so.
async fn manual_revoke(
    ctx: &OpCtx,
    cred: &Credential,
    new_version: Option<&str>,
    kind: DangerKind,
    instructions: String,
    asked_before: bool,
    done: Event,
) -> Vec<Event> {
    let ask = |instructions: String, tested: bool| Event::ManualRevokeNeeded {
        credential: cred.id.clone(),
        action: kind,
        instructions,
        tested,
    };
    if kind == DangerKind::Delete {
        // A dead old key says nothing about a deletion (revoking already killed it): the
        // console steps first, then a person's word.
        if asked_before {
            return vec![
                Event::Note {
                    text: format!(
                        "{}: deleted by hand, on the operator's word (breachbook cannot see a deletion)",
                        cred.name
                    ),
                },
                stamp_now(done, ctx),
            ];
        }
        return vec![ask(
            format!(
                "{instructions} (then confirm again on the screen: breachbook cannot see a deletion)"
            ),
            false,
        )];
    }
    match old_key_check(ctx, cred, new_version).await {
        Ok(Liveness::Dead) => vec![
            Event::Note {
                text: format!(
                    "{}: {kind} done by hand; the old key is no longer accepted",
                    cred.name
                ),
            },
            stamp_now(done, ctx),
        ],
        Ok(Liveness::Alive) => vec![ask(instructions, true)],
        Err(e) if asked_before => vec![
            Event::Note {
                text: format!(
                    "{}: {kind} done by hand, on the operator's word: breachbook could not test the old key ({e})",
                    cred.name
                ),
            },
            stamp_now(done, ctx),
        ],
        Err(e) => vec![ask(
            format!(
                "{instructions} (breachbook cannot test the old key: {e}; confirm again once it is gone)"
            ),
            false,
        )],
    }
}

/// Whether the old key still works: by id where the issuer can tell; otherwise by its value,
/// read back from the primary store's version before the rotation and tried at the issuer
/// (the value stays in memory and is dropped at once).
async fn old_key_check(
    ctx: &OpCtx,
    cred: &Credential,
    new_version: Option<&str>,
) -> Result<Liveness, ProviderError> {
    let issuer = ctx.providers.issuer(cred.issuer)?.clone();
    let by_id = ctx
        .attempt(Some(&cred.id), "check old key", || {
            issuer.old_key_liveness(cred)
        })
        .await;
    match by_id {
        Err(ProviderError::Unsupported { .. } | ProviderError::ManualRevoke { .. }) => {}
        other => return other,
    }
    let (Some(primary), Some(version)) = (cred.primary_store().cloned(), new_version) else {
        return by_id;
    };
    let store = ctx.providers.store(LocationKind::SecretsManager)?.clone();
    let old = ctx
        .attempt(Some(&cred.id), "read old key", || {
            store.read_old(&primary, version)
        })
        .await?;
    // Only the exposed key itself proves anything: an even older value (a rotation never
    // promoted) would read as dead and say nothing about this one.
    if !crate::incident::model::hints_match(
        &cred.hint,
        &crate::incident::model::mask(old.expose_secret()),
    ) {
        return Err(ProviderError::NotFound {
            provider: primary.kind.short().to_string(),
            what: format!(
                "the exposed key {} among the versions of {}",
                cred.hint,
                primary.label()
            ),
        });
    }
    ctx.attempt(Some(&cred.id), "check old key", || {
        issuer.verify(cred, &old)
    })
    .await
}

async fn read_new_key(
    ctx: &OpCtx,
    cred: &Credential,
    version: Option<&String>,
) -> Option<SecretString> {
    let primary = cred.primary_store()?.clone();
    let version = version?;
    let store = ctx
        .providers
        .store(LocationKind::SecretsManager)
        .ok()?
        .clone();
    store.read_version(&primary, version).await.ok()
}

/// Runs `sh -c cmd`; the new key goes only through stdin or the environment.
async fn run_shell(ctx: &OpCtx, cmd: &str, passing: &KeyPassing, key: Option<SecretString>) -> i32 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdin(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let (KeyPassing::Env, Some(k)) = (passing, &key) {
        command.env("BREACHBOOK_NEW_KEY", k.expose_secret());
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            ctx.send(vec![Event::CommandOutput {
                step: ctx.step.clone(),
                line: format!("could not start sh: {e}"),
            }]);
            return 127;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        if let (KeyPassing::Stdin, Some(k)) = (passing, &key) {
            let _ = stdin.write_all(k.expose_secret().as_bytes()).await;
        }
        drop(stdin);
    }
    drop(key);
    let out = child.stdout.take();
    let err = child.stderr.take();
    let forward = |r: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        let ctx = ctx.clone();
        async move {
            if let Some(r) = r {
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    ctx.send(vec![Event::CommandOutput {
                        step: ctx.step.clone(),
                        line: super::redact::redact(&line),
                    }]);
                }
            }
        }
    };
    let a = forward(out.map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>));
    let b = forward(err.map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>));
    tokio::join!(a, b);
    match child.wait().await {
        Ok(status) => status.code().unwrap_or(-1),
        Err(_) => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_and_in_length() {
        let a = issue_token("inc-1", "openai/prod");
        assert_eq!(a, issue_token("inc-1", "openai/prod"));
        assert_ne!(a, issue_token("inc-2", "openai/prod"));
        assert!((32..=64).contains(&a.len()));
    }

    #[test]
    fn substitution_uses_names_and_quotes() {
        let c = Credential {
            id: "openai/x".into(),
            issuer: crate::runbook::schema::Issuer::Openai,
            key_id: "key_1".into(),
            name: "x; rm -rf /".into(),
            hint: "sk-…abcd".into(),
            created: None,
            last_used: None,
            locations: vec![],
            exposed: true,
            exposure_reason: String::new(),
            fingerprint: None,
            meta: Default::default(),
        };
        let s = substitute("echo {credential}", Some(&c), &[]);
        assert_eq!(s, "echo 'x; rm -rf /'");
    }

    #[test]
    fn override_phrase_must_match_exactly() {
        assert!(override_phrase_matches(
            Some(" Override abcd "),
            "override abcd"
        ));
        assert!(!override_phrase_matches(Some("override"), "override abcd"));
        assert!(!override_phrase_matches(None, "override abcd"));
    }
}
