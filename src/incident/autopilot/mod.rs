//! Drives an engine without a terminal: the autopilot (a careful operator) and scripts of
//! operator actions (so tests and demos can make mistakes on purpose).
//!
//! Talks to the engine only through `Command`s and `Update`s, like the TUI does. Here: the
//! driver, how it follows the engine, and the autopilot's run of the runbook; `words` types
//! confirmations and pastes keys made by hand, `script` plays a script. Depends on the
//! incident's commands, state, rules and events.

mod script;
mod words;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::mpsc;

pub use self::script::ScriptAction;
use super::command::{Command, Dangerous, Update};
use super::event::{DangerKind, Via};
use super::refusal::Refusal;
use super::rotation::{RotationState, Stage};
use super::rules::{self, Runs};
use super::state::{IncidentState, StepStatus};

/// Why a headless run could not finish.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error("the engine stopped: {0}")]
    Stopped(String),
    #[error("{0}")]
    Stuck(String),
    /// An action was refused (a wrong word, a pre-flight that needs the override), or the
    /// autopilot refuses to do what needs a person's word.
    #[error("{0}")]
    Refused(String),
    #[error("script: {0}")]
    Script(String),
}

/// How long past a wait's end (drill time) a quiet drill is waited on before the wait ends
/// without a record: longer than the world takes to report a simulated minute (it reports
/// minute m once minute m + 1 is under way).
const QUIET_GRACE: Duration = Duration::from_secs(180);

/// How often, and how long apart, the autopilot confirms again while a person revokes a key
/// by hand (5 minutes in all).
pub(super) const MANUAL_REVOKE_TRIES: u32 = 150;
pub(super) const MANUAL_REVOKE_PAUSE: Duration = Duration::from_secs(2);
/// How often the autopilot answers one key's make-room question before giving up.
pub(super) const MAX_ROOM_TRIES: u32 = 3;

/// Follows the engine's updates and sends it commands.
pub struct Driver {
    commands: mpsc::UnboundedSender<Command>,
    updates: mpsc::UnboundedReceiver<Update>,
    pub state: IncidentState,
    printed: usize,
    refused: Vec<String>,
    /// How many refusals the engine sent during this run.
    pub refusals: u32,
    in_flight: usize,
    print: bool,
    via: Via,
    /// How long the autopilot "reads" before each step and each confirmation (incident
    /// clock), so drills unfold at a human pace.
    think: Duration,
    /// Keys made by hand, one per request, in order (headless live runs read them from a
    /// pipe on stdin). `None`: nobody can paste, so a key that needs one stops the run.
    pastes: Option<mpsc::UnboundedReceiver<SecretString>>,
    /// Credentials a pasted key was sent for, awaiting the engine's answer.
    pasted: BTreeSet<String>,
    /// The last key pasted, kept until the engine answers: a paste refused only because the
    /// key had other work in flight (a resume reconciling it, say) is sent again once that
    /// work is done, not lost with the line it was read from.
    held_pastes: Vec<(String, SecretString)>,
    /// Pastes refused for work in flight, to send again when their keys are idle.
    paste_again: Vec<(String, SecretString)>,
    /// Credentials with work in flight, as the engine last said.
    busy: BTreeSet<String>,
    /// Credentials whose make-room confirmation was typed, awaiting the engine's answer.
    rooms: BTreeSet<String>,
    /// How often each credential's make-room was confirmed.
    room_tries: BTreeMap<String, u32>,
}

impl Driver {
    pub fn new(
        state: IncidentState,
        commands: mpsc::UnboundedSender<Command>,
        updates: mpsc::UnboundedReceiver<Update>,
        print: bool,
    ) -> Driver {
        let mut d = Driver {
            commands,
            updates,
            state,
            printed: 0,
            refused: Vec::new(),
            refusals: 0,
            in_flight: 0,
            print,
            via: Via::Autopilot,
            think: Duration::from_secs(90),
            pastes: None,
            pasted: BTreeSet::new(),
            held_pastes: Vec::new(),
            paste_again: Vec::new(),
            busy: BTreeSet::new(),
            rooms: BTreeSet::new(),
            room_tries: BTreeMap::new(),
        };
        d.flush();
        d
    }

    /// The incident as the driver has seen it so far.
    pub fn state(&self) -> &IncidentState {
        &self.state
    }

    /// How long the autopilot reads before acting (incident clock); zero in live runs.
    pub fn with_think(mut self, think: Duration) -> Driver {
        self.think = think;
        self
    }

    /// Where keys made by hand come from (one per credential that needs one, in order).
    pub fn with_pastes(mut self, pastes: mpsc::UnboundedReceiver<SecretString>) -> Driver {
        self.pastes = Some(pastes);
        self
    }

    /// Prints timeline entries not printed yet, as `[+HH:MM:SS] text` on the incident clock.
    fn flush(&mut self) {
        while self.printed < self.state.timeline.len() {
            if self.print {
                let e = &self.state.timeline[self.printed];
                let secs = (e.at - self.state.opened_at).num_seconds().max(0);
                println!(
                    "[+{:02}:{:02}:{:02}] {}",
                    secs / 3600,
                    (secs % 3600) / 60,
                    secs % 60,
                    // Runbook and provider text: no escape sequence reaches the terminal.
                    crate::incident::redact::printable(&e.text)
                );
            }
            self.printed += 1;
        }
    }

    pub(super) fn send(&mut self, c: Command) -> Result<(), DriveError> {
        self.refused.clear();
        match self.commands.send(c) {
            Ok(()) => Ok(()),
            Err(_) => Err(self.gone()),
        }
    }

    /// Why the engine stopped taking commands: its last updates, read to the `Stopped` that
    /// says why (a full disk, a broken journal), not just that it is gone.
    fn gone(&mut self) -> DriveError {
        while let Ok(u) = self.updates.try_recv() {
            if let Err(e) = self.take(u) {
                return e;
            }
        }
        DriveError::Stopped("the engine is gone".into())
    }

    /// Takes one update; Err when the engine stopped.
    pub(super) async fn pump(&mut self) -> Result<(), DriveError> {
        match self.updates.recv().await {
            None => Err(DriveError::Stopped("the engine is gone".into())),
            Some(u) => self.take(u),
        }
    }

    pub(super) fn take(&mut self, u: Update) -> Result<(), DriveError> {
        match u {
            Update::Event {
                wall,
                operator,
                event,
                ..
            } => {
                if let super::event::Event::AttemptFailed {
                    credential: Some(c),
                    operation,
                    ..
                } = &event
                    && operation == "pasted key"
                {
                    // Refused: the next line on stdin is the next try.
                    self.pasted.remove(c);
                    self.held_pastes.retain(|(id, _)| id != c);
                }
                if let super::event::Event::RoomNeeded { credential, .. } = &event {
                    // Asked (again): answer again, up to MAX_ROOM_TRIES times.
                    self.rooms.remove(credential);
                }
                self.state.apply(&event, wall, &operator.user);
                // A held paste whose key is issued was taken: its copy is dropped (zeroized).
                let state = &self.state;
                self.held_pastes.retain(|(id, _)| {
                    state
                        .credential(id)
                        .is_some_and(|c| c.rotation.reached() < Stage::Issued)
                });
                self.flush();
                Ok(())
            }
            Update::Refused { message } => {
                if message == Refusal::KeyInFlight.to_string() && !self.held_pastes.is_empty() {
                    // Not a wrong key: the key was busy (the refusal does not say which; the
                    // engine had it busy when it answered). Sent again once it is idle.
                    let i = self
                        .held_pastes
                        .iter()
                        .position(|(id, _)| self.busy.contains(id))
                        .unwrap_or(0);
                    let held = self.held_pastes.remove(i);
                    self.paste_again.push(held);
                    return Ok(());
                }
                if self.print {
                    println!("refused: {}", crate::incident::redact::printable(&message));
                }
                self.refused.push(message);
                self.refusals += 1;
                Ok(())
            }
            Update::Busy {
                in_flight,
                credentials,
                ..
            } => {
                self.in_flight = in_flight;
                self.busy = credentials.into_iter().collect();
                Ok(())
            }
            Update::Stopped { why } => Err(DriveError::Stopped(
                why.unwrap_or_else(|| "shut down".into()),
            )),
        }
    }

    /// Waits until `done(state)` holds or the last command was refused.
    pub(super) async fn wait(
        &mut self,
        done: impl FnMut(&IncidentState) -> bool,
    ) -> Result<bool, DriveError> {
        self.wait_until(done, None).await
    }

    /// [`Self::wait`], giving up at `deadline` (runtime time) if there is one.
    async fn wait_until(
        &mut self,
        mut done: impl FnMut(&IncidentState) -> bool,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<bool, DriveError> {
        loop {
            if done(&self.state) {
                return Ok(true);
            }
            if !self.refused.is_empty() {
                return Ok(false);
            }
            if self.paste_again_if_idle()? {
                continue;
            }
            if let Some((id, name, how)) = self.needs_paste() {
                self.paste(id, name, how).await?;
                continue;
            }
            if let Some(id) = self.needs_room() {
                if self.via != Via::Autopilot {
                    // A script answers with its own `make_room`; stop waiting here.
                    return Ok(false);
                }
                self.make_room(&id, None).await?;
                continue;
            }
            if self.state.score.is_some() {
                // The drill is over: the clock stops; take what has already arrived.
                while let Ok(u) = self.updates.try_recv() {
                    self.take(u)?;
                }
                return Ok(done(&self.state));
            }
            match deadline {
                None => self.pump().await?,
                Some(at) => {
                    tokio::select! {
                        u = self.updates.recv() => match u {
                            None => return Err(DriveError::Stopped("the engine is gone".into())),
                            Some(u) => self.take(u)?,
                        },
                        () = tokio::time::sleep_until(at) => return Ok(done(&self.state)),
                    }
                }
            }
        }
    }

    /// Lets the incident clock run for `d` (incident time), following updates meanwhile.
    /// The journal's clock moves only with records; a quiet drill (no actors, no injects
    /// left) sends none, so the wait also ends once `d` and [`QUIET_GRACE`] have passed on
    /// the drill's own clock (divided by its speed, in the runtime's time). A drill with
    /// actors reports every minute, so its waits end on a record, as before.
    pub(super) async fn wait_for(&mut self, d: Duration) -> Result<(), DriveError> {
        let until = crate::runbook::duration::after(self.state.clock, d);
        let deadline = self
            .state
            .speed
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(|speed| tokio::time::Instant::now() + (d + QUIET_GRACE).div_f64(speed));
        self.wait_until(|s| s.clock >= until, deadline)
            .await
            .map(|_| ())
    }

    /// Waits until the engine has answered the last command (an event or a refusal) and
    /// nothing is in flight.
    pub(super) async fn settle(&mut self) -> Result<(), DriveError> {
        let seen = self.state.timeline.len();
        let ticks: Vec<Vec<bool>> = self.state.steps.iter().map(|s| s.checked.clone()).collect();
        self.wait(move |s| {
            s.timeline.len() > seen || s.steps.iter().map(|x| &x.checked).ne(ticks.iter())
        })
        .await
        .map(|_| ())
    }

    /// Waits until no work is in flight (answering keys made by hand meanwhile), so the
    /// next command is not refused for work still running, and a late answer to the last
    /// command is not taken for the next one's.
    async fn idle(&mut self) -> Result<(), DriveError> {
        // What the engine already sent belongs to the state this decides on (the rest of a
        // plan whose first event a wait saw, and the Busy count that follows it).
        while let Ok(u) = self.updates.try_recv() {
            self.take(u)?;
        }
        loop {
            if self.in_flight == 0 || self.state.score.is_some() {
                return Ok(());
            }
            if self.paste_again_if_idle()? {
                continue;
            }
            if let Some((id, name, how)) = self.needs_paste() {
                self.paste(id, name, how).await?;
                continue;
            }
            self.pump().await?;
        }
    }

    /// Finished, failed, or stuck saying why (a blocked step does not move by waiting).
    fn finished_or_failed(s: &IncidentState, step: &str) -> bool {
        s.step(step).is_some_and(|st| {
            st.is_finished()
                || matches!(st.status, StepStatus::Failed { .. })
                || st.blocked.is_some()
        })
    }

    /// Runs a step and waits for it to finish or fail.
    pub(super) async fn run_step(&mut self, step: &str) -> Result<bool, DriveError> {
        self.send(Command::RunStep {
            step: step.to_string(),
        })?;
        let s = step.to_string();
        self.wait(move |st| Self::finished_or_failed(st, &s)).await
    }

    pub(super) async fn tick_all(&mut self, step: &str) -> Result<(), DriveError> {
        let unticked: Vec<usize> = self
            .state
            .step(step)
            .map(|s| {
                s.checked
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| !**c)
                    .map(|(i, _)| i)
                    .collect()
            })
            .unwrap_or_default();
        for item in unticked {
            self.send(Command::TickItem {
                step: step.to_string(),
                item,
            })?;
            let s = step.to_string();
            self.wait(move |st| {
                st.step(&s)
                    .and_then(|x| x.checked.get(item).copied())
                    .unwrap_or(true)
            })
            .await?;
        }
        Ok(())
    }

    /// Plays the runbook to the end as a careful operator would.
    pub async fn autopilot(&mut self) -> Result<(), DriveError> {
        let mut retries_left: u32 = 3 * self.state.runbook.steps.len() as u32 + 10;
        loop {
            self.idle().await?;
            if self.state.is_complete() || self.state.score.is_some() && self.drill_over() {
                return Ok(());
            }
            let Some(step) = self.next_step() else {
                return Err(DriveError::Stuck(
                    "no step can run: every unfinished step waits on a failed one".into(),
                ));
            };
            let Some(def) = self.state.step_def(&step).cloned() else {
                return Err(DriveError::Stuck(format!("unknown step {step}")));
            };
            // A careful operator reads the step before acting.
            self.wait_for(self.think).await?;
            let ok = match rules::rule(def.action).runs {
                Runs::Checklist => {
                    self.tick_all(&step).await?;
                    self.run_step(&step).await?
                }
                Runs::KeyByKey(kind) => {
                    self.confirm_each(&step, kind == DangerKind::Delete).await?
                }
                // A bulk step a resume found running goes on by itself: wait for it (asking
                // to run it again would be refused).
                _ if self
                    .state
                    .step(&step)
                    .is_some_and(|s| s.status == StepStatus::Running) =>
                {
                    let s = step.clone();
                    self.wait(move |st| Self::finished_or_failed(st, &s))
                        .await?
                }
                _ => self.run_step(&step).await?,
            };
            if let Some(why) = self.pending_in_the_way() {
                return Err(DriveError::Refused(why));
            }
            if def.action == crate::runbook::schema::Action::Inventory
                && let Some(StepStatus::Failed { why }) = self.state.step(&step).map(|s| &s.status)
            {
                // A careful operator does not go on from a partial inventory, nor runs it
                // again and again: the gaps need someone to fix access.
                return Err(DriveError::Stuck(format!("“{}” failed: {why}", def.title)));
            }
            if let Some(why) = self.state.step(&step).and_then(|s| s.blocked.clone()) {
                // A careful operator does not wait on a step that says it cannot go on.
                return Err(DriveError::Stuck(why));
            }
            if !ok || self.has_failures() {
                if retries_left == 0 {
                    return Err(DriveError::Stuck(format!(
                        "“{}” keeps failing: {}",
                        def.title,
                        self.refused
                            .last()
                            .cloned()
                            .unwrap_or_else(|| self.failure_text())
                    )));
                }
                retries_left -= 1;
                self.retry_failed().await?;
            }
        }
    }

    /// A revoke (or delete) step: each key's word in turn, after reading its pre-flight.
    async fn confirm_each(&mut self, step: &str, delete: bool) -> Result<bool, DriveError> {
        self.send(Command::RunStep {
            step: step.to_string(),
        })?;
        let s = step.to_string();
        self.wait(move |st| st.step(&s).is_some_and(|x| x.status != StepStatus::Pending))
            .await?;
        let todo: Vec<String> = self
            .state
            .awaiting_confirmation(delete)
            .iter()
            .map(|c| c.credential.id.clone())
            .collect();
        let mut all = true;
        for id in todo {
            // Reads the pre-flight evidence before typing the word.
            self.wait_for(self.think / 3).await?;
            let target = if delete {
                Dangerous::Delete {
                    credential: id.clone(),
                }
            } else {
                Dangerous::Revoke {
                    credential: id.clone(),
                }
            };
            if let Some(failed) = target.preflight_failure(&self.state) {
                // A careful operator never overrides: stop and ask for help.
                let why = Refusal::PreflightFailed(failed);
                return Err(DriveError::Refused(format!(
                    "the autopilot will not force this: {why}"
                )));
            }
            let done = self.confirm(&id, delete, None, false).await?;
            if !done && let Some(why) = self.refused.last() {
                // A careful operator never overrides: stop and ask for help.
                return Err(DriveError::Refused(format!(
                    "the autopilot will not force this: {why}"
                )));
            }
            all &= done;
        }
        let s = step.to_string();
        let finished = self
            .wait(move |st| st.step(&s).is_some_and(|x| x.is_finished()))
            .await?;
        Ok(all && finished)
    }

    /// A key whose secret holds a pending version breachbook did not put there: only a
    /// person takes that over (or skips the key); the autopilot stops and says so.
    fn pending_in_the_way(&self) -> Option<String> {
        let c =
            self.state.credentials.iter().find(|c| {
                c.in_rotation() && c.pending_found.as_ref().is_some_and(|p| !p.confirmed)
            })?;
        let p = c.pending_found.as_ref()?;
        Some(format!(
            "{}: {} already has a pending version ({}) breachbook did not put there: {}. The autopilot never takes one over: a person decides, on the screen (breachbook resume {}) or in a script (take_over with its word), or skips the key",
            c.credential.name, p.location, p.version, p.whose, self.state.id
        ))
    }

    fn drill_over(&self) -> bool {
        self.state.score.is_some()
    }

    fn has_failures(&self) -> bool {
        self.state
            .credentials
            .iter()
            .any(|c| matches!(c.rotation, RotationState::Failed { .. }))
    }

    fn failure_text(&self) -> String {
        let mut out = BTreeSet::new();
        for c in &self.state.credentials {
            if let RotationState::Failed { why, .. } = &c.rotation {
                out.insert(format!("{}: {why}", c.credential.name));
            }
        }
        for s in &self.state.steps {
            if let StepStatus::Failed { why } = &s.status {
                out.insert(format!("{}: {why}", s.id));
            }
        }
        out.into_iter().collect::<Vec<_>>().join("; ")
    }

    async fn retry_failed(&mut self) -> Result<(), DriveError> {
        let failed: Vec<String> = self
            .state
            .credentials
            .iter()
            .filter(|c| matches!(c.rotation, RotationState::Failed { .. }))
            .map(|c| c.credential.id.clone())
            .collect();
        // Retrying one key of a secret retries the others that failed with it in the same
        // pending version (the rule in `rules::check_retry`): those are not retried again,
        // whatever the state seen here says yet.
        let mut covered: BTreeSet<String> = BTreeSet::new();
        for id in failed {
            let still = self
                .state
                .credential(&id)
                .is_some_and(|c| matches!(c.rotation, RotationState::Failed { .. }));
            if !still || covered.contains(&id) {
                continue;
            }
            if let Some(c) = self.state.credential(&id)
                && c.rotation.reached() >= Stage::Staged
                && !c.stamps.contains_key(&Stage::Promoted)
            {
                for m in rules::staging::group_of(&self.state, &id) {
                    if matches!(m.rotation, RotationState::Failed { .. })
                        && m.rotation.reached() >= Stage::Staged
                        && !m.stamps.contains_key(&Stage::Promoted)
                        && m.staged_version == c.staged_version
                    {
                        covered.insert(m.credential.id.clone());
                    }
                }
            }
            let (before, stamps) = self
                .state
                .credential(&id)
                .map(|c| (c.rotation.reached(), c.stamps.len()))
                .unwrap_or((Stage::Exposed, 0));
            self.send(Command::Retry {
                credential: id.clone(),
            })?;
            // Wait for the retried move to land (a stage further, or a stamp more: a key
            // revoked early gets its rollout without moving on) or to fail again.
            let id2 = id.clone();
            let mut cleared = false;
            self.wait(move |s| {
                s.credential(&id2).is_some_and(|c| match &c.rotation {
                    RotationState::Failed { .. } => cleared,
                    RotationState::At { stage } => {
                        cleared = true;
                        *stage > before || c.stamps.len() > stamps
                    }
                    RotationState::Skipped { .. } => true,
                })
            })
            .await?;
            self.idle().await?;
        }
        Ok(())
    }

    /// The first unfinished step whose needs are met.
    fn next_step(&self) -> Option<String> {
        self.state
            .steps
            .iter()
            .filter(|s| !s.is_finished())
            .find(|s| self.state.unmet_needs(&s.id).is_empty())
            .map(|s| s.id.clone())
    }

    /// After a script mistake (a name that is not there, a refused word): lets the work
    /// already in flight finish and be journaled before the run stops, for up to `limit`
    /// (runtime time). Work still running then is drained or left to a resume by the engine.
    pub async fn finish_in_flight(&mut self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.idle()).await;
    }

    /// Asks the engine to stop and waits until it has.
    pub async fn shutdown(mut self) -> IncidentState {
        let _ = self.commands.send(Command::Shutdown);
        while self.pump().await.is_ok() {}
        self.state
    }
}
