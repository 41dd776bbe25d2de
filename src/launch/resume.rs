//! `breachbook resume`: reopens an incident where its journal stopped — a drill or a live
//! run, each resumed by its own job — or, when another breachbook holds it, opens a
//! read-only view of it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::anyhow;
use tokio::sync::mpsc;

use super::{build_runtime, fold};
use crate::cli::ResumeArgs;
use crate::incident::event::{Mode, Operator};
use crate::incident::journal::{self, Journal, JournalError};

/// Opens the journal, checks it, and hands it to the drill or the live job.
pub(super) fn resume(dir: &Path, args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let opened = Journal::open(dir, &args.id, Operator::local());
    let (journal, records, recovery) = match opened {
        Ok(x) => x,
        Err(JournalError::Locked { holder }) => {
            if args.headless {
                return Err(anyhow!(
                    "incident {} is open in another breachbook ({holder}); close it there first",
                    args.id
                ));
            }
            return view_read_only(dir, &args.id, &holder, args.ui.onboarding);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(warning) = recovery.summary(&args.id) {
        // One line for the whole journal, however many lines are bad; the torn tail (if any)
        // was left in place: a damaged journal is never cut.
        eprintln!("journal problem: {}", crate::printable::printable(&warning));
        return Err(anyhow!(
            "the journal of {} failed its integrity check, so it will not be written to: \
read it with `breachbook report {}` and `breachbook verify {}`, and start a new incident",
            args.id,
            args.id,
            args.id
        ));
    }
    if let Some(kept) = &recovery.torn_kept {
        eprintln!(
            "note: the last journal line was incomplete (a crash mid-write); it was cut from the journal and kept in {}",
            kept.display()
        );
    }
    let torn = recovery.torn_kept.is_some();
    let state = fold(&records).ok_or_else(|| empty_journal(dir, &args.id))?;
    if state.mode == Mode::Live {
        return super::live::resume(journal, records, state, args, torn);
    }
    super::drill::resume(journal, records, state, args, torn)
}

/// A journal with no record: the run stopped (a crash, a kill) before it wrote its first
/// one, so nothing was done in it. Says what to do (exit code 2, README "Exit codes").
fn empty_journal(dir: &Path, id: &str) -> anyhow::Error {
    anyhow!(
        "incident {id} has an empty journal: it stopped before its first record, so nothing was done in it and there is nothing to resume. Start the run again (`breachbook drill …` or `breachbook run …`); the empty folder {} can be removed",
        journal::incident_dir(dir, id).display()
    )
}

/// Opens the screen on a journal another process is writing: look, don't touch.
fn view_read_only(
    dir: &Path,
    id: &str,
    holder: &str,
    onboarding: bool,
) -> anyhow::Result<ExitCode> {
    let (records, _) = Journal::read(dir, id)?;
    let state = fold(&records).ok_or_else(|| empty_journal(dir, id))?;
    let runtime = build_runtime(false)?;
    let holder = holder.to_string();
    runtime.block_on(async move {
        let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel();
        let (up_tx, up_rx) = mpsc::unbounded_channel();
        let _ = up_tx.send(crate::incident::command::Update::Refused {
            message: format!(
                "read-only view: this incident is open in another breachbook ({holder})"
            ),
        });
        tokio::spawn(async move {
            while let Some(_c) = cmd_rx.recv().await {
                let _ = up_tx.send(crate::incident::command::Update::Refused {
                    message: "read-only view: another breachbook holds this incident".into(),
                });
            }
        });
        let journal_dir = journal::incident_dir(dir, id);
        let exit = crate::tui::run(crate::tui::TuiConfig {
            state,
            commands: cmd_tx,
            updates: up_rx,
            onboarding,
            read_only: true,
            journal_dir,
        })
        .await?;
        // A read-only view changes nothing: a signal only ends it (128 + N, README "Exit
        // codes"); the breachbook holding the incident is not affected.
        Ok(match exit.signal {
            Some(caught) => ExitCode::from(super::signal_code(caught)),
            None => ExitCode::SUCCESS,
        })
    })
}
