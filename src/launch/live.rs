//! `breachbook run` and a resumed live incident: the real providers of the runbook's scope,
//! the engine on the wall clock, the screen or a headless script.

use std::path::Path;
use std::process::ExitCode;

use anyhow::anyhow;
use tokio::sync::mpsc;

use super::drive::drive;
use super::{
    aws_options, build_runtime, digest, engine_config, load_runbook, load_script, new_incident_id,
};
use crate::cli::{AwsArgs, ResumeArgs, RunArgs};
use crate::incident::autopilot::ScriptAction;
use crate::incident::engine::Engine;
use crate::incident::event::{Event, Mode, Operator};
use crate::incident::journal::{self, FingerprintKey, Journal};
use crate::incident::state::IncidentState;
use crate::providers::live::{connect, only_local_endpoints};
use crate::runbook::schema::Scope;

/// `breachbook run`: the runbook against the real account and providers.
pub(super) fn run(dir: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    let (rb, source) = load_runbook(Some(&args.runbook))?;
    let script = args.script.as_deref().map(load_script).transpose()?;
    if args.headless && !args.autopilot && script.is_none() {
        return Err(anyhow!(
            "--headless needs --script FILE (your actions, with the typed confirmation words): nobody would be at the keyboard"
        ));
    }
    if let Some(actions) = &script {
        live_script_is_typed(actions, &rb.scope, &args.aws)?;
    }
    if args.autopilot {
        only_local_endpoints(&rb.scope, &aws_options(&args.aws))
            .map_err(|why| anyhow!("--autopilot types confirmations itself, so it only runs against emulators and test servers on this machine: {why}"))?;
    }
    let read_only = args.ui.read_only;
    let cfg = engine_config(&rb, read_only, &args.engine);
    let id = new_incident_id(&rb.name);
    let runtime = build_runtime(false)?;
    let ui = args.ui.clone();
    let headless = args.headless;
    runtime.block_on(async move {
        // A random key per incident, so nobody outside it can test a guess against a
        // fingerprint; kept (0600) beside the journal before the first record.
        let key = FingerprintKey::random()?;
        let live = connect(&rb, &aws_options(&args.aws), key.bytes(), Vec::new()).await?;
        let operator = Operator {
            cloud: live.providers.identity.clone(),
            ..Operator::local()
        };
        let journal = Journal::create(dir, &id, operator)?;
        key.write(journal.dir())?;
        let opening = Event::IncidentOpened {
            id: id.clone(),
            mode: Mode::Live,
            runbook: Box::new(rb.clone()),
            runbook_digest: digest(&source),
            seed: None,
            speed: None,
            at: chrono::Utc::now(),
            read_only,
        };
        let (up_tx, up_rx) = mpsc::unbounded_channel();
        let engine = Engine::start(
            journal,
            Vec::new(),
            Some(opening),
            live.providers,
            Some(live.feed),
            cfg,
            up_tx,
        )?;
        let pastes = headless.then(stdin_pastes).flatten();
        drive(engine, up_rx, headless, args.autopilot, script, ui, pastes).await
    })
}

/// A live script is the operator's own typing: every revoke and delete carries its word,
/// and handing over to the autopilot is for emulators only.
fn live_script_is_typed(
    actions: &[ScriptAction],
    scope: &Scope,
    aws: &AwsArgs,
) -> anyhow::Result<()> {
    for a in actions {
        match a {
            ScriptAction::Revoke {
                credential,
                word: None,
                ..
            }
            | ScriptAction::Delete {
                credential,
                word: None,
                ..
            }
            | ScriptAction::MakeRoom {
                credential,
                word: None,
            }
            | ScriptAction::TakeOver {
                credential,
                word: None,
                ..
            } => {
                return Err(anyhow!(
                    "the script confirms `{credential}` without a `word`: in a live run every revoke, delete, make-room and take-over in a script needs the confirmation word typed out"
                ));
            }
            ScriptAction::Autopilot => {
                only_local_endpoints(scope, &aws_options(aws)).map_err(|why| {
                    anyhow!("the script hands over to the autopilot, which only runs against emulators and test servers on this machine: {why}")
                })?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Keys made by hand for a headless live run: lines from stdin when it is a pipe (never
/// from a terminal, which would echo them).
fn stdin_pastes() -> Option<mpsc::UnboundedReceiver<secrecy::SecretString>> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        return None;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = zeroize::Zeroizing::new(String::new());
        loop {
            line.clear();
            match stdin.lock().read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let key = line.trim();
                    if key.is_empty() {
                        continue;
                    }
                    if tx
                        .send(secrecy::SecretString::from(key.to_string()))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    Some(rx)
}

/// Reopens a live incident against the real providers: the journal says where it stopped.
pub(super) fn resume(
    journal: Journal,
    records: Vec<journal::Record>,
    state: IncidentState,
    args: ResumeArgs,
    torn: bool,
) -> anyhow::Result<ExitCode> {
    let rb = state.runbook.clone();
    if args.headless && !args.autopilot {
        return Err(anyhow!(
            "--headless needs --autopilot (emulators only); resume a live incident with the screen"
        ));
    }
    if args.autopilot {
        only_local_endpoints(&rb.scope, &aws_options(&args.aws))
            .map_err(|why| anyhow!("--autopilot types confirmations itself, so it only runs against emulators and test servers on this machine: {why}"))?;
    }
    let read_only = args.ui.read_only || state.read_only;
    let mut cfg = engine_config(&rb, read_only, &args.engine);
    cfg.torn_at_resume = torn;
    let known: Vec<_> = state
        .credentials
        .iter()
        .map(|c| c.credential.clone())
        .collect();
    // New keys minted before the stop are watched for usage too (a pasted key has no id).
    let minted: Vec<(String, String)> = state
        .credentials
        .iter()
        .filter_map(|c| {
            let id = c.new_key_id.as_ref()?;
            (!id.starts_with("pasted ")).then(|| (c.credential.id.clone(), id.clone()))
        })
        .collect();
    let runtime = build_runtime(false)?;
    let ui = args.ui.clone();
    runtime.block_on(async move {
        // The incident's own key; one opened before key files existed keeps its old one.
        let key = FingerprintKey::load(journal.dir(), &state.id)?;
        let live = connect(&rb, &aws_options(&args.aws), key.bytes(), known).await?;
        if let Ok(mut m) = live.new_keys.lock() {
            m.extend(minted);
        }
        let (up_tx, up_rx) = mpsc::unbounded_channel();
        let engine = Engine::start(
            journal,
            records,
            None,
            live.providers,
            Some(live.feed),
            cfg,
            up_tx,
        )?;
        let pastes = args.headless.then(stdin_pastes).flatten();
        drive(
            engine,
            up_rx,
            args.headless,
            args.autopilot,
            None,
            ui,
            pastes,
        )
        .await
    })
}
