//! The engine: takes commands, checks them against the rules ([`rules::check`]), journals
//! every event before applying it, runs the work of steps in tokio tasks through the ports,
//! and sends every journaled event to its watchers (the TUI, the headless driver).
//!
//! Here: the loop, `Engine::record` (journal first, then state, then watchers), the work in
//! flight (units per step, busy keys), what follows a checked command, recovery after a
//! resume, step completion, alarms and the end of a drill. `start` starts units of work,
//! `work` holds the operations in tasks with their attempts and backoff, `old_key` the
//! revoke, delete and monitoring of old keys, `shell` the command steps.
//!
//! The safety rules are in `rules`; the engine keeps its own gate besides: nothing is
//! revoked or deleted without a journaled confirmation naming that exact key. Depends on
//! the domain (rules, state, journal, ports, commands) and the runbook schema; sees providers
//! only through the ports.

mod old_key;
mod recover;
mod remember;
mod shell;
mod start;
mod work;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, mpsc};

pub use self::shell::{MAX_LINE_BYTES, MAX_OUTPUT_LINES, SCRUBBED_ENV, is_scrubbed_env};
use self::work::OpMsg;
use super::command::{Command, Update};
use super::event::Event;
use super::journal::{ChainHead, Journal, JournalError, Record};
use super::ports::{ProviderSet, WorldFeed};
use super::refusal::Refusal;
use super::rotation::Stage;
use super::rules::{self, Next, Runs, Work};
use super::state::{IncidentState, StepStatus};
use crate::runbook::schema::Action;

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
    /// A resume found the journal's last line torn (cut off mid-write): the stop it records
    /// says so.
    pub torn_at_resume: bool,
}

impl EngineConfig {
    /// Settings from the runbook, with defaults where it is silent.
    pub fn from_runbook(rb: &crate::runbook::schema::Runbook, read_only: bool) -> EngineConfig {
        EngineConfig {
            // Bounded as `check` bounds them: a runbook inside a journal was never checked.
            concurrency: rb
                .settings
                .concurrency
                .clamp(1, crate::runbook::schema::MAX_CONCURRENCY),
            max_attempts: rb
                .settings
                .max_attempts
                .clamp(1, crate::runbook::schema::MAX_ATTEMPTS),
            backoff_base: Duration::from_secs(2),
            quiet_period: crate::runbook::duration::parse(&rb.settings.quiet_period)
                .unwrap_or(Duration::from_secs(900)),
            read_only,
            pause_after_records: None,
            torn_at_resume: false,
        }
    }
}

/// What a finished [`Engine::run`] leaves: the incident as it stands and the journal's chain
/// head (what a person keeps to check the journal later).
#[derive(Debug)]
pub struct Ended {
    pub state: IncidentState,
    pub head: ChainHead,
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
    /// Units in flight that change keys or stores (see `OpMsg::Done`): a shutdown waits for
    /// them.
    critical: usize,
    /// What each blocked step was last said to wait for: said again only when that changes.
    said_blocked: BTreeMap<String, Vec<String>>,
}

/// Steps whose action is watched on every world report (their completion depends on
/// usage, not only on their own work).
fn watches_usage(action: Action) -> bool {
    action == Action::Monitor
}

/// Errors that stop the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the journal does not start with an incident-opened record; it cannot be resumed")]
    NotAnIncident,
    /// The drill world's storage (world.json) refused a change: nothing more is journaled,
    /// so the journal holds nothing world.json lacks.
    #[error(
        "{why}. The run stopped there, before journaling anything the saved world does not hold, so the journal and the world agree: free space on the disk of the state folder (or fix the folder), then `breachbook resume {id}` goes on"
    )]
    WorldUnsaved { id: String, why: String },
    /// A state file of the incident (the report) could not be written: the step that
    /// writes it stays running, and a resume writes it again.
    #[error(
        "{why}. The run stopped there, with the step that writes it still running: free space on the disk of the state folder (or fix the file), then `breachbook resume {id}` writes it again and goes on"
    )]
    StateFile { id: String, why: String },
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
        let resuming = opening.is_none() && !records.is_empty();
        let stopped = records
            .last()
            .is_some_and(|r| matches!(r.event, Event::RunStopped { .. }));
        // Every key value the providers hand over or take is remembered, to be masked.
        let providers = remember::remembering(providers);
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
            critical: 0,
            said_blocked: BTreeMap::new(),
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
        if resuming {
            engine.journal_resume(stopped)?;
        }
        Ok(engine)
    }

    /// On a resume: the stop the last run did not journal (a crash, a kill, a torn line),
    /// then who resumed, where. Journaled and applied, not sent: watchers start from
    /// `state()`.
    fn journal_resume(&mut self, stopped: bool) -> Result<(), EngineError> {
        use super::event::StopKind;
        let at = self.now();
        let mut events = Vec::new();
        if self.cfg.torn_at_resume {
            events.push(Event::RunStopped {
                how: StopKind::Torn,
                why: None,
                at,
            });
        } else if !stopped {
            events.push(Event::RunStopped {
                how: StopKind::Crashed,
                why: None,
                at,
            });
        }
        events.push(Event::RunResumed {
            host: super::event::host_name(),
            pid: std::process::id(),
            at,
        });
        for e in events {
            let rec = self.journal.append(&e)?;
            self.state
                .apply(&rec.event, rec.time, rec.operator.user.as_str());
        }
        Ok(())
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
    /// Any key value this process holds is masked out of the event before it is written.
    ///
    /// Nothing is journaled once the drill world could not save a change (a full disk): an
    /// event may tell of what the world did, and world.json must hold all the journal says.
    fn record(&mut self, event: Event) -> Result<(), EngineError> {
        if let Some(why) = self.providers.drill.as_ref().and_then(|d| d.unsaved()) {
            return Err(EngineError::WorldUnsaved {
                id: self.state.id.clone(),
                why,
            });
        }
        let event = masked(event);
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

    fn refuse(&self, refusal: &Refusal) {
        let _ = self.updates.send(Update::Refused {
            message: refusal.to_string(),
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

    /// Runs until `Shutdown` or until the command channel closes. Returns the incident as it
    /// stands then and the journal's chain head at the end (what a person keeps to check the
    /// journal later).
    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) -> Ended {
        if let Err(e) = self.recover() {
            let _ = self.updates.send(Update::Stopped {
                why: Some(e.to_string()),
            });
            return self.ended();
        }
        let mut feed = self.feed.take();
        // How the run is stopping: on its own, or by a signal (its name).
        let mut signal = None;
        let why = loop {
            tokio::select! {
                cmd = commands.recv() => {
                    match cmd {
                        None | Some(Command::Shutdown) => break None,
                        Some(Command::StopBySignal { signal: name }) => {
                            signal = Some(name);
                            break None;
                        }
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
        let why = match why {
            None => self.drain().await.err().map(|e| e.to_string()),
            some => some,
        };
        // The stop, journaled (when the journal still takes it): the next resume knows the
        // run ended on its own, or by which signal (in `why`, with an engine error after it).
        let at = self.now();
        let (how, said) = match &signal {
            Some(name) => (
                super::event::StopKind::Signal,
                Some(match &why {
                    Some(e) => format!("{name}; {e}"),
                    None => name.clone(),
                }),
            ),
            None => (super::event::StopKind::Clean, why.clone()),
        };
        let _ = self
            .journal
            .append(&Event::RunStopped { how, why: said, at });
        let _ = self.updates.send(Update::Stopped { why });
        self.ended()
    }

    fn ended(self) -> Ended {
        Ended {
            head: self.journal.head(),
            state: self.state,
        }
    }

    /// Before stopping: waits for the work that changes keys or stores (a mint and its
    /// staging, a promotion, a revocation) to report back and journals it, so a run that ends
    /// (a headless script that stops, the screen closed) leaves no mint half done. Other work
    /// (watching a revoked key) is left: a resume starts it again. A mint cut short anyway (a
    /// crash, a kill) is reconciled before the next one.
    async fn drain(&mut self) -> Result<(), EngineError> {
        const MAX_WAIT: Duration = Duration::from_secs(300);
        let deadline = tokio::time::Instant::now() + MAX_WAIT;
        while self.critical > 0 {
            match tokio::time::timeout_at(deadline, self.ops_rx.recv()).await {
                Ok(Some(msg)) => self.handle_op(msg)?,
                Ok(None) | Err(_) => break,
            }
        }
        Ok(())
    }

    /// A command: checked against the rules, its events journaled, then what follows.
    fn handle(&mut self, cmd: Command) -> Result<(), EngineError> {
        let work = Work {
            read_only: self.cfg.read_only,
            now: self.now(),
            in_flight: &self.in_flight,
            busy: &self.busy_creds,
        };
        match rules::check(&self.state, &work, &cmd) {
            Err(rejected) => {
                for e in rejected.record {
                    self.record(e)?;
                }
                self.refuse(&rejected.refusal);
                Ok(())
            }
            Ok(plan) => {
                for e in plan.events {
                    self.record(e)?;
                }
                self.follow(plan.next, cmd)
            }
        }
    }

    /// The engine's part of a checked command, once its events are journaled.
    fn follow(&mut self, next: Next, cmd: Command) -> Result<(), EngineError> {
        match next {
            Next::Nothing => Ok(()),
            Next::PauseDrill(paused) => {
                if let Some(world) = &self.providers.drill {
                    world.set_paused(paused);
                }
                Ok(())
            }
            Next::EndDrillIfComplete => self.maybe_end_drill(),
            Next::CompleteFinishedSteps => self.complete_finished_steps(),
            Next::CompleteStep { step } => self.maybe_complete(&step),
            Next::RunBulk { step } => self.run_bulk(&step),
            Next::RunCommand { step } => self.run_command(&step),
            Next::WriteReport { step } => self.report(&step),
            Next::Destroy {
                credential,
                kind,
                via,
            } => self.destroy(&credential, kind, via),
            Next::MakeRoom { credential, key_id } => self.make_room(&credential, key_id),
            Next::TakeOver { credential } => self.take_over(&credential),
            Next::Unstage { credential } => {
                self.unstage(&credential)?;
                self.complete_finished_steps()
            }
            Next::Paste { credential, step } => {
                if let Command::PasteKey { key, .. } = cmd {
                    self.paste(&step, &credential, key);
                }
                Ok(())
            }
        }
    }

    /// Keys that reached a running step's stage while it ran (a key staged after a take-over
    /// or a paste while the verify step runs, one verified late while the propagate step
    /// runs): that step works on them too, so it does not wait for them forever. Not the
    /// rotate step: its keys left waiting (for room, a key made by hand, a pending version
    /// in the way) wait for a person.
    fn pick_up(&mut self) -> Result<(), EngineError> {
        for (step, action) in self.running_steps() {
            let rule = rules::rule(action);
            let picks = matches!(
                rule.runs,
                Runs::EachKey(
                    rules::KeyOp::Verify | rules::KeyOp::Propagate | rules::KeyOp::Monitor
                )
            );
            let waiting = self
                .state
                .credentials
                .iter()
                .any(|c| !self.busy_creds.contains(&c.credential.id) && rule.works_on_key(c));
            if picks && waiting {
                self.run_bulk(&step)?;
            }
        }
        Ok(())
    }

    /// The running steps with their actions, in the runbook's order.
    fn running_steps(&self) -> Vec<(String, Action)> {
        self.state
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Running)
            .filter_map(|s| Some((s.id.clone(), self.state.step_def(&s.id)?.action)))
            .collect()
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
            if self.units(&s) == 0 {
                self.maybe_complete(&s)?;
            }
        }
        Ok(())
    }

    /// Marks a step done (or failed) when none of its work is left; a step that cannot go
    /// on says why (once per reason), and steps that were waiting on this one go on.
    fn maybe_complete(&mut self, step: &str) -> Result<(), EngineError> {
        self.complete(step, true)
    }

    /// [`Engine::maybe_complete`]; `say` whether a blocked step says why (not when it was
    /// only woken by another step's end: its reason said so already).
    fn complete(&mut self, step: &str, say: bool) -> Result<(), EngineError> {
        let events = rules::completion(&self.state, step, self.now());
        let done = matches!(events.last(), Some(Event::StepCompleted { .. }));
        let none = events.is_empty();
        for e in events {
            self.record(e)?;
        }
        if say && none && self.units(step) == 0 {
            self.say_if_blocked(step)?;
        }
        if done {
            self.wake_blocked()?;
            self.maybe_end_drill()?;
        }
        Ok(())
    }

    /// Journals why a running step cannot go on, unless that was said already.
    fn say_if_blocked(&mut self, step: &str) -> Result<(), EngineError> {
        let Some(b) = rules::blocked(&self.state, step, &self.busy_creds) else {
            return Ok(());
        };
        let said = self.state.step(step).and_then(|s| s.blocked.as_deref());
        if said == Some(b.why.as_str())
            || (said.is_some() && self.said_blocked.get(step) == Some(&b.waits_for))
        {
            return Ok(());
        }
        self.said_blocked
            .insert(step.to_string(), b.waits_for.clone());
        let at = self.now();
        self.record(Event::StepBlocked {
            step: step.to_string(),
            why: b.why,
            at,
        })
    }

    /// Running steps that said they were blocked start their work again once another step
    /// is done (a reopened step, a restart): what can move now, moves.
    fn wake_blocked(&mut self) -> Result<(), EngineError> {
        let waiting: Vec<String> = self
            .state
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Running && s.blocked.is_some())
            .map(|s| s.id.clone())
            .filter(|s| self.units(s) == 0)
            .collect();
        for step in waiting {
            if rules::blocked(&self.state, &step, &self.busy_creds).is_none() {
                // The work starts again: journaled as a new start, which clears the block.
                let at = self.now();
                self.record(Event::StepStarted {
                    step: step.clone(),
                    at,
                })?;
                self.run_bulk(&step)?;
            } else {
                self.complete(&step, false)?;
            }
        }
        Ok(())
    }

    /// Units of work of `step` in flight.
    fn units(&self, step: &str) -> usize {
        self.in_flight.get(step).copied().unwrap_or(0)
    }

    fn handle_op(&mut self, msg: OpMsg) -> Result<(), EngineError> {
        match msg {
            OpMsg::Events(events) => self.record_op_events(events),
            OpMsg::Done {
                step,
                credentials,
                events,
                critical,
            } => {
                self.record_op_events(events)?;
                if let Some(n) = self.in_flight.get_mut(&step) {
                    *n = n.saturating_sub(1);
                }
                if critical {
                    self.critical = self.critical.saturating_sub(1);
                }
                for c in credentials {
                    self.busy_creds.remove(&c);
                }
                self.send_busy();
                if self.in_flight.get(&step).copied().unwrap_or(0) == 0 {
                    self.maybe_complete(&step)?;
                }
                self.pick_up()
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

    /// What the world reports (usage, injects, outages): journaled, with an alarm for an
    /// old key still used after its replacement was promoted.
    fn handle_feed(&mut self, ev: Event) -> Result<(), EngineError> {
        if self.state.score.is_some() {
            // The drill is over; the world may still tick but nothing more is recorded.
            return Ok(());
        }
        let alarm = rules::old_key_alarm(&self.state, &ev, &self.alarmed);
        let usage = matches!(ev, Event::UsageObserved { .. });
        self.record(ev)?;
        if let Some(alarm) = alarm {
            if let Event::Alarm {
                credential: Some(c),
                ..
            } = &alarm
            {
                self.alarmed.insert(c.clone());
            }
            self.record(alarm)?;
        }
        if usage {
            // Steps that wait on what the world does (a service moving to its new key).
            let watching: Vec<String> = self
                .state
                .steps
                .iter()
                .filter(|s| s.status == StepStatus::Running)
                .filter(|s| {
                    self.state
                        .step_def(&s.id)
                        .is_some_and(|d| watches_usage(d.action))
                })
                .map(|s| s.id.clone())
                .filter(|s| self.units(s) == 0)
                .collect();
            for step in watching {
                self.maybe_complete(&step)?;
            }
        }
        self.maybe_time_up()
    }

    /// The report step: the drill's score first (the report shows it), then the files.
    fn report(&mut self, step: &str) -> Result<(), EngineError> {
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
            // The disk, not the incident: the step stays running (recovery writes the
            // report again on the next resume) and the run stops, saying what to do.
            Err(why) => Err(EngineError::StateFile {
                id: self.state.id.clone(),
                why,
            }),
        }
    }

    /// Writes report.md, report.json and report.html into the incident folder; returns the
    /// md path.
    fn write_report(&self) -> Result<String, String> {
        let dir = self.journal.dir().to_path_buf();
        // The report covers every record written so far; the chain head says which.
        let integrity = super::report::Integrity::intact(self.journal.head());
        let md = super::report::markdown(&self.state, &integrity);
        let json = super::report::json(&self.state, &integrity);
        let md_path = dir.join("report.md");
        crate::fsutil::write_private(&md_path, md.as_bytes())
            .map_err(|e| format!("could not write {}: {e}", md_path.display()))?;
        let json_path = dir.join("report.json");
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        crate::fsutil::write_private(&json_path, text.as_bytes())
            .map_err(|e| format!("could not write {}: {e}", json_path.display()))?;
        let html_path = dir.join("report.html");
        crate::fsutil::write_private(
            &html_path,
            super::report::html(&self.state, &integrity).as_bytes(),
        )
        .map_err(|e| format!("could not write {}: {e}", html_path.display()))?;
        Ok(md_path.display().to_string())
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
        let end = crate::runbook::duration::after(world.started_at(), len);
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

/// `event` with every key value this process holds masked out of its text (in every form
/// [`crate::incident::redact::known`] looks for). Events never should hold one; this is the
/// net under every free-text field (provider messages, command lines, notes).
fn masked(event: Event) -> Event {
    let known = super::redact::known();
    if known.is_empty() {
        return event;
    }
    let Ok(mut value) = serde_json::to_value(&event) else {
        return event;
    };
    if !known.mask_json(&mut value) {
        return event;
    }
    serde_json::from_value(value).unwrap_or_else(|_| Event::Note {
        text: "a record that held a key value could not be masked, so it was left out".into(),
    })
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
}
