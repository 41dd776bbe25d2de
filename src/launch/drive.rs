//! Runs a started engine to its end: under the terminal UI, or headless (the autopilot or
//! a script at the keyboard), ending with the summary line.

use std::process::ExitCode;

use tokio::sync::mpsc;

use crate::incident::autopilot::{Driver, ScriptAction};
use crate::incident::engine::Engine;
use crate::incident::event::Mode;
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
        let _ = cmd_tx.send(crate::incident::command::Command::Shutdown);
        let _ = engine_task.await;
        super::print_resume_hint(&exit, &journal_dir);
        return Ok(ExitCode::SUCCESS);
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
    let state = driver.shutdown().await;
    let _ = engine_task.await;
    println!("{}", summary_line(&state));
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// The headless run's last line: one JSON object.
pub fn summary_line(state: &IncidentState) -> String {
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
    })
    .to_string()
}
