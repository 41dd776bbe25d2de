//! Wires the layers together for each job of the binary: loads the runbook, opens the
//! journal, builds the provider set (drill world or live), starts the engine, and runs the
//! TUI or the headless driver. One file per job: `drill` (a new drill, a resumed drill),
//! `live` (a live run, a resumed live incident), `resume` (reopening any incident, or
//! viewing one another breachbook holds), `commands` (inventory, report and the other
//! one-shot commands); `drive` runs an engine to its end under the screen or headless.
//!
//! The binary's edge: the only place, with `main`, that uses anyhow, prints for the
//! command line and turns flags into provider options. May depend on every module.

mod commands;
mod drill;
mod drive;
mod live;
mod resume;
mod scan;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};

use crate::cli::{CheckFormat, Cli, EngineArgs, Job};
use crate::incident::autopilot::ScriptAction;
use crate::incident::engine::EngineConfig;
use crate::incident::journal;
use crate::incident::state::IncidentState;
use crate::runbook::schema::Runbook;

pub use drive::{head_line, summary_line};

/// Exit code: the incident is complete (every step finished), or a one-shot command did its
/// job.
const COMPLETE: u8 = 0;
/// Exit code: breachbook could not do its job (AWS or a provider unreachable, the journal
/// unwritable, part of an inventory unlisted).
const FAILED: u8 = 1;
/// Exit code for problems the user can fix (bad runbook, flags or script, unknown incident…).
const USAGE: u8 = 2;
/// Exit code: the run ended with steps still open (the script ended early, the autopilot
/// could not go on, the screen was closed).
const INCOMPLETE: u8 = 3;
/// Exit code: the run stopped at a refused action (a wrong word, a pre-flight that needs the
/// override phrase, a pending version only a person may take over).
const REFUSED: u8 = 4;

/// Exit code of `scan` when it found copies of exposed keys (each is listed; fix them by
/// hand).
const FOUND: u8 = 3;

/// Exit code base when signal N stopped the screen: 128 + N, the shells' convention
/// (SIGTERM 143, SIGINT 130, SIGHUP 129, SIGQUIT 131). The work in flight finished and the
/// stop was journaled as `run_stopped` with `how: signal`; `resume` goes on.
const SIGNALED: u8 = 128;

/// The exit code of a run the screen left on `signal` (see [`SIGNALED`]).
fn signal_code(signal: crate::tui::signals::Caught) -> u8 {
    SIGNALED.saturating_add(u8::try_from(signal.number).unwrap_or(u8::MAX))
}

/// Exit code of `report` and `verify` when the journal failed its integrity check (or does
/// not hold the kept chain head): what it says may not be what happened.
const DAMAGED: u8 = 3;

/// The state folder: `--state-dir`, `BREACHBOOK_STATE_DIR`, or the platform's.
pub fn state_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    if let Some(d) = &cli.state_dir {
        return Ok(d.clone());
    }
    default_state_dir().ok_or_else(|| anyhow!("no home folder found: pass --state-dir DIR"))
}

/// The platform's state folder, when there is a home folder.
fn default_state_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "breachbook", "breachbook")
        .map(|p| p.data_local_dir().to_path_buf())
}

/// After the screen closed on an open incident: the command that goes on with it (with
/// `--state-dir` when the state folder is not the platform's).
fn print_resume_hint(exit: &crate::tui::Exit, incident_dir: &Path) {
    if exit.open {
        say(&resume_hint(&exit.id, incident_dir));
    }
}

/// How to go on with incident `id` (in `incident_dir`): the resume command, with
/// `--state-dir` when the state folder is not the platform's.
fn resume_hint(id: &str, incident_dir: &Path) -> String {
    let state = incident_dir.parent().and_then(Path::parent);
    let explicit = state
        .filter(|d| default_state_dir().as_deref() != Some(*d))
        .map(|d| d.display().to_string());
    crate::tui::strings::resume_hint(id, explicit.as_deref())
}

/// A line on stdout after the screen. Unlike `println!` it never panics: after a SIGHUP the
/// terminal may be gone, and the run must still end with its exit code.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Runs one job; returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let dir = match state_dir(&cli) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(USAGE);
        }
    };
    tracing::info!(version = env!("CARGO_PKG_VERSION"), job = ?cli.command, "breachbook started");
    let result = match cli.command {
        Job::Check(args) => {
            let code = crate::runbook::check::run(&args.files, args.format == CheckFormat::Json);
            return ExitCode::from(code.clamp(0, 255) as u8);
        }
        Job::Schema => {
            commands::print_or_quiet(&crate::runbook::schema_json());
            Ok(ExitCode::SUCCESS)
        }
        Job::Runbooks(args) => match args.action {
            None => commands::runbooks(),
            Some(crate::cli::RunbooksAction::Show { name }) => commands::show_runbook(&name),
        },
        Job::Completions(args) => commands::completions(args.shell),
        Job::Man => commands::man(),
        Job::Incidents => commands::incidents(&dir),
        Job::Report(args) => commands::report(&dir, &args.id, args.format),
        Job::Verify(args) => commands::verify(&dir, &args.id, args.head.as_deref()),
        Job::Scan(args) => scan::scan(&dir, &args),
        Job::Drill(args) => drill::drill(&dir, args),
        Job::Run(args) => live::run(&dir, args),
        Job::Inventory(args) => commands::inventory(args),
        Job::IamPolicy(args) => commands::iam_policy(args),
        Job::VaultPolicy(args) => commands::vault_policy(args),
        Job::Resume(args) => resume::resume(&dir, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            match e.downcast_ref::<crate::runbook::diagnostic::LoadError>() {
                // Located problems say `file:line:col: error:` themselves, as `check` does
                // (and strip control characters from the runbook's text themselves).
                Some(problems) => eprint!("{problems}"),
                None => eprintln!(
                    "error: {}",
                    crate::printable::printable_text(&format!("{e:#}"))
                ),
            }
            ExitCode::from(error_code(&e))
        }
    }
}

/// The exit code of a job that could not start or go on: AWS or a provider out of reach,
/// the journal or the drill world's file unwritable or broken, the engine failing is [`FAILED`]; everything else (a bad
/// runbook, flag, script or incident id, a state folder refused as unsafe, an incident open
/// in another breachbook) is the user's to fix, [`USAGE`].
fn error_code(e: &anyhow::Error) -> u8 {
    use crate::incident::journal::JournalError;
    let failed = e.chain().any(|c| {
        let journal = c.downcast_ref::<JournalError>().is_some_and(|j| {
            !matches!(
                j,
                JournalError::Refused(_)
                    | JournalError::NotFound { .. }
                    | JournalError::Exists { .. }
                    | JournalError::InvalidId { .. }
                    | JournalError::Locked { .. }
            )
        });
        // The drill world's file could not be read or written (a full disk).
        let world = matches!(
            c.downcast_ref::<crate::providers::sim::SimError>(),
            Some(crate::providers::sim::SimError::Io { .. })
        );
        journal
            || world
            || c.is::<crate::providers::live::ConnectError>()
            || c.is::<crate::incident::engine::EngineError>()
    });
    if failed { FAILED } else { USAGE }
}

fn fold(records: &[journal::Record]) -> Option<IncidentState> {
    IncidentState::fold(
        records
            .iter()
            .map(|r| (&r.event, r.time, r.operator.user.as_str())),
    )
}

/// Loads a runbook from a path or a built-in name; prints diagnostics on failure.
fn load_runbook(arg: Option<&str>) -> anyhow::Result<(Runbook, String)> {
    let (origin, source) = crate::runbook::shipped::resolve(arg)?;
    let rb = crate::runbook::load::load_str(&origin, &source)?;
    for w in crate::runbook::validate::region_warnings(&source, &rb) {
        eprintln!("{}", crate::runbook::check::warning_line(&origin, &w));
    }
    Ok((rb, source))
}

fn digest(source: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(source.as_bytes()))
}

/// A new incident id: UTC time, runbook name, and a short random tail.
fn new_incident_id(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let now = chrono::Utc::now();
    let mut h = Sha256::new();
    h.update(now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    let tail = &hex::encode(h.finalize())[..4];
    let short: String = name.chars().take(24).collect();
    format!("{}-{short}-{tail}", now.format("%Y%m%d-%H%M%S"))
}

fn engine_config(rb: &Runbook, read_only: bool, args: &EngineArgs) -> EngineConfig {
    let mut cfg = EngineConfig::from_runbook(rb, read_only);
    if let Some(c) = args.concurrency {
        cfg.concurrency = c.clamp(1, crate::runbook::schema::MAX_CONCURRENCY);
    }
    cfg.pause_after_records = args.pause_after_records;
    if let Some(q) = args.quiet_period {
        cfg.quiet_period = q;
    }
    cfg
}

/// Where the AWS calls go and as whom, from the command line's flags.
fn aws_options(args: &crate::cli::AwsArgs) -> crate::providers::aws::AwsOptions {
    crate::providers::aws::AwsOptions {
        profile: args.profile.clone(),
        region: args.region.clone(),
        endpoint_url: args.endpoint_url.clone(),
        static_credentials: None,
    }
}

fn build_runtime(headless: bool) -> anyhow::Result<tokio::runtime::Runtime> {
    if headless {
        // Headless drills run on virtual time: deterministic for a seed, and fast.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .context("could not start the async runtime")
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("could not start the async runtime")
    }
}

/// The largest script breachbook reads.
const MAX_SCRIPT_BYTES: u64 = 1024 * 1024;

fn load_script(path: &Path) -> anyhow::Result<Vec<ScriptAction>> {
    // A regular file only (a FIFO is refused, not waited on), at most 1 MiB.
    let bytes = crate::fsutil::read_user_file(path, MAX_SCRIPT_BYTES)
        .with_context(|| format!("could not read script {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow!("script {} is not UTF-8 text", path.display()))?;
    serde_saphyr::from_str::<Vec<ScriptAction>>(&text)
        .map_err(|e| anyhow!("script {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use crate::tui::signals::Caught;
    use tokio::signal::unix::SignalKind;

    #[test]
    fn a_signal_exits_with_128_plus_its_number() {
        for (name, kind, code) in [
            ("SIGHUP", SignalKind::hangup(), 129),
            ("SIGINT", SignalKind::interrupt(), 130),
            ("SIGQUIT", SignalKind::quit(), 131),
            ("SIGTERM", SignalKind::terminate(), 143),
        ] {
            let caught = Caught {
                name,
                number: kind.as_raw_value(),
            };
            assert_eq!(super::signal_code(caught), code, "{name}");
        }
    }
}
