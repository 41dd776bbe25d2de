//! Runs a started engine to its end: under the terminal UI, or headless (the autopilot or
//! a script at the keyboard), ending with the journal's chain head and the summary line.

use std::process::ExitCode;

use tokio::sync::mpsc;

use crate::incident::autopilot::{DriveError, Driver, ScriptAction};
use crate::incident::command::Command;
use crate::incident::engine::Engine;
use crate::incident::event::Mode;
use crate::incident::journal::ChainHead;
use crate::incident::state::IncidentState;

/// Runs `engine` under the screen, or headless with the autopilot or a script.
pub(super) async fn drive(
    engine: Engine,
    updates: mpsc::UnboundedReceiver<crate::incident::command::Update>,
    headless: bool,
    autopilot: bool,
    script: Option<Vec<ScriptAction>>,
    ui: crate::cli::UiArgs,
    pastes: Option<mpsc::UnboundedReceiver<secrecy::SecretString>>,
) -> anyhow::Result<ExitCode> {
    let state = engine.state().clone();
    let journal_dir = engine.dir().to_path_buf();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let engine_task = tokio::spawn(engine.run(cmd_rx));
    if !headless {
        let exit = crate::tui::run(crate::tui::TuiConfig {
            state,
            commands: cmd_tx.clone(),
            updates,
            onboarding: ui.onboarding,
            read_only: ui.read_only,
            journal_dir: journal_dir.clone(),
        })
        .await?;
        return Ok(after_screen(exit, &cmd_tx, engine_task, &journal_dir).await);
    }
    let live = state.mode == Mode::Live;
    let mut driver = Driver::new(state, cmd_tx, updates, true);
    if live {
        // Real time: no pretend reading pauses.
        driver = driver.with_think(std::time::Duration::ZERO);
    }
    if let Some(p) = pastes {
        driver = driver.with_pastes(p);
    }
    let outcome = match script {
        Some(actions) => driver.script(actions).await,
        None if autopilot => driver.autopilot().await,
        None => Ok(()),
    };
    if matches!(outcome, Err(DriveError::Script(_) | DriveError::Refused(_))) {
        // A script mistake abandons nothing: what is in flight finishes and is journaled.
        driver
            .finish_in_flight(std::time::Duration::from_secs(300))
            .await;
    }
    let refusals = driver.refusals;
    let state = driver.shutdown().await;
    let head = engine_task.await.ok().map(|e| e.head);
    if let Some(h) = &head {
        println!("{}", head_line(&state.id, h));
    }
    if !state.is_complete() {
        super::say(&super::resume_hint(&state.id, &journal_dir));
    }
    println!("{}", summary_line(&state, head.as_ref()));
    if let Err(e) = &outcome {
        eprintln!("error: {}", crate::printable::printable(&e.to_string()));
    }
    Ok(ExitCode::from(exit_code(
        &outcome,
        state.is_complete(),
        refusals,
    )))
}

/// After the screen: stops the engine (work in flight finishes and is journaled, the stop
/// recorded as clean or as the signal's), prints the chain head and how to go on. Exit 0
/// when complete, else 3, or 128 + N when signal N stopped the screen (README, "Exit
/// codes"). A signal while the work in flight finishes (a second one, or Ctrl-C after `q`)
/// exits at once: the journal then ends without its stop record, which the next resume
/// reconciles as a crash.
async fn after_screen(
    exit: crate::tui::Exit,
    cmd_tx: &mpsc::UnboundedSender<Command>,
    mut engine_task: tokio::task::JoinHandle<crate::incident::engine::Ended>,
    journal_dir: &std::path::Path,
) -> ExitCode {
    let id = exit.id.clone();
    // Listening while the work in flight finishes: the screen's handlers stay installed for
    // the rest of the process, so without this a Ctrl-C after `q` would do nothing.
    let mut again = crate::tui::signals::Signals::listen();
    let stop = match exit.signal {
        None => Command::Shutdown,
        Some(caught) => {
            super::say(&crate::tui::strings::stopping_on_signal(caught.name));
            Command::StopBySignal {
                signal: caught.name.to_string(),
            }
        }
    };
    let _ = cmd_tx.send(stop);
    let ended = tokio::select! {
        e = &mut engine_task => e.ok(),
        now = again.next() => {
            super::say(&crate::tui::strings::stopped_at_once(now.name, &id));
            return ExitCode::from(super::signal_code(now));
        }
    };
    // The incident as the engine left it: the screen quit, the engine stopped.
    if let Some(e) = &ended {
        super::say(&head_line(&id, &e.head));
    }
    let done = ended.is_some_and(|e| e.state.is_complete());
    super::print_resume_hint(&exit, journal_dir);
    ExitCode::from(match exit.signal {
        _ if done => super::COMPLETE,
        Some(caught) => super::signal_code(caught),
        None => super::INCOMPLETE,
    })
}

/// The exit code of a headless run (see README, "Exit codes"): 0 only when the incident is
/// complete; a refused action 4; a run that ended with steps still open 3; a script naming
/// what is not there 2 (bad input); the engine stopping on its own (the journal) 1.
fn exit_code(outcome: &Result<(), DriveError>, complete: bool, refusals: u32) -> u8 {
    match outcome {
        _ if complete => super::COMPLETE,
        Err(DriveError::Refused(_)) => super::REFUSED,
        Err(DriveError::Script(_)) => super::USAGE,
        Err(DriveError::Stopped(_)) => super::FAILED,
        Err(DriveError::Stuck(_)) | Ok(()) if refusals > 0 => super::REFUSED,
        Err(DriveError::Stuck(_)) | Ok(()) => super::INCOMPLETE,
    }
}

/// The line that tells the operator the journal's chain head when a run ends, to keep
/// outside the laptop (the incident channel).
pub fn head_line(id: &str, head: &ChainHead) -> String {
    format!(
        "journal head: {head} — keep it outside this laptop (the incident channel); `breachbook verify {id} --head {}` checks the journal against it",
        head.hash
    )
}

/// The headless run's last line: one JSON object, with the journal's chain head.
pub fn summary_line(state: &IncidentState, head: Option<&ChainHead>) -> String {
    let (revoked, exposed) = state.containment();
    let score = state.score.clone().unwrap_or_default();
    serde_json::json!({
        "incident": state.id,
        "runbook": state.runbook.name,
        "complete": state.is_complete(),
        "exposed": exposed,
        "revoked": revoked,
        "score": state.score.as_ref().map(|s| s.points),
        "consumer_errors": score.consumer_errors.max(state.consumer_errors),
        "attacker_calls_after_revoke": score.attacker_calls_after_revoke,
        "time_to_contain_secs": score.time_to_contain_secs,
        "skipped_checks": score.skipped_checks,
        "overrides": state.confirmations.iter().filter(|c| c.action.is_override()).count(),
        "refused_confirmations": state.refusals,
        "mistakes": score.mistakes,
        "report": state.report_path,
        "journal_head": head.map(|h| serde_json::json!({"seq": h.seq, "hash": h.hash})),
    })
    .to_string()
}
