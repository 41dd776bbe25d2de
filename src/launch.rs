//! Wires the layers together for each job of the binary: loads the runbook, opens the
//! journal, builds the provider set (drill world or live), starts the engine, and runs the
//! TUI or the headless driver.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use tokio::sync::mpsc;

use crate::cli::{CheckFormat, Cli, DrillArgs, EngineArgs, Job, ReportFormat, ResumeArgs, RunArgs};
use crate::incident::autopilot::{Driver, ScriptAction};
use crate::incident::engine::{Engine, EngineConfig};
use crate::incident::event::{Event, Mode, Operator};
use crate::incident::journal::{self, Journal, JournalError};
use crate::incident::report;
use crate::incident::state::IncidentState;
use crate::providers::sim::SimWorld;
use crate::runbook::schema::Runbook;

/// Exit code for problems the user can fix (bad runbook, unknown incident…).
const USAGE: u8 = 2;

/// The state folder: `--state-dir`, `BREACHBOOK_STATE_DIR`, or the platform's.
pub fn state_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    if let Some(d) = &cli.state_dir {
        return Ok(d.clone());
    }
    directories::ProjectDirs::from("dev", "breachbook", "breachbook")
        .map(|p| p.data_local_dir().to_path_buf())
        .ok_or_else(|| anyhow!("no home folder found: pass --state-dir DIR"))
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
    let result = match cli.command {
        Job::Check(args) => {
            let code = crate::runbook::check::run(&args.files, args.format == CheckFormat::Json);
            return ExitCode::from(code.clamp(0, 255) as u8);
        }
        Job::Schema => {
            print_or_quiet(&crate::runbook::schema_json());
            Ok(ExitCode::SUCCESS)
        }
        Job::Runbooks => {
            for (name, src) in crate::runbook::shipped::all() {
                let title = crate::runbook::load::load_str(name, src)
                    .map(|rb| rb.title)
                    .unwrap_or_default();
                println!("{name:<40} {title}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Job::Incidents => incidents(&dir),
        Job::Report(args) => report_cmd(&dir, &args.id, args.format),
        Job::Drill(args) => drill(&dir, args),
        Job::Run(args) => live(&dir, args),
        Job::Inventory(args) => inventory_cmd(args),
        Job::IamPolicy(args) => iam_policy_cmd(args),
        Job::Resume(args) => resume(&dir, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(USAGE)
        }
    }
}

fn incidents(dir: &Path) -> anyhow::Result<ExitCode> {
    let rows = journal::list(dir)?;
    if rows.is_empty() {
        println!(
            "no incidents in {} yet: start one with `breachbook drill`",
            journal::incidents_dir(dir).display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", journal::render_list(&rows));
    Ok(ExitCode::SUCCESS)
}

fn report_cmd(dir: &Path, id: &str, format: ReportFormat) -> anyhow::Result<ExitCode> {
    let (records, recovery) = Journal::read(dir, id)?;
    for p in &recovery.problems {
        eprintln!("warning: {p}");
    }
    let state = fold(&records).ok_or_else(|| anyhow!("incident {id} has an empty journal"))?;
    match format {
        ReportFormat::Md => print!("{}", report::markdown(&state)),
        ReportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report::json(&state)).unwrap_or_default()
        ),
    }
    Ok(ExitCode::SUCCESS)
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
    let (origin, source) = crate::runbook::shipped::resolve(arg).map_err(|e| anyhow!("{e}"))?;
    let rb = crate::runbook::load::load_str(&origin, &source).map_err(|e| anyhow!("{e}"))?;
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
        cfg.concurrency = c.max(1);
    }
    cfg.pause_after_records = args.pause_after_records;
    if let Some(q) = args.quiet_period {
        cfg.quiet_period = q;
    }
    cfg
}

fn drill(dir: &Path, args: DrillArgs) -> anyhow::Result<ExitCode> {
    let (rb, source) = load_runbook(args.runbook.as_deref())?;
    let Some(drill) = rb.drill.clone() else {
        return Err(anyhow!(
            "runbook `{}` has no `drill:` section, so it cannot be drilled: add one (see docs/runbook-format.md) or run it live with `breachbook run`",
            rb.name
        ));
    };
    let script = match &args.script {
        Some(path) => Some(load_script(path)?),
        None => None,
    };
    if args.headless && !args.autopilot && script.is_none() {
        return Err(anyhow!(
            "--headless needs --autopilot or --script FILE: nobody would be at the keyboard"
        ));
    }
    let seed = args.seed.unwrap_or(drill.seed);
    let speed = args.speed.unwrap_or(drill.speed);
    if !(speed.is_finite() && speed > 0.0) {
        return Err(anyhow!("--speed must be a positive number, e.g. 10"));
    }
    let read_only = args.ui.read_only;
    let cfg = engine_config(&rb, read_only, &args.engine);
    let id = new_incident_id(&rb.name);
    let journal = Journal::create(dir, &id, Operator::local())?;
    let runtime = build_runtime(args.headless)?;
    let headless = args.headless;
    let ui = args.ui.clone();
    runtime.block_on(async move {
        let (world, feed) = SimWorld::create(&rb, seed, speed, Some(journal.dir()))?;
        let opening = Event::IncidentOpened {
            id: id.clone(),
            mode: Mode::Drill,
            runbook: Box::new(rb.clone()),
            runbook_digest: digest(&source),
            seed: Some(seed),
            speed: Some(speed),
            at: world.now(),
            read_only,
        };
        let providers = world.provider_set();
        let (up_tx, up_rx) = mpsc::unbounded_channel();
        let engine = Engine::start(
            journal,
            Vec::new(),
            Some(opening),
            providers,
            Some(feed),
            cfg,
            up_tx,
        )?;
        let _ticker = world.spawn_ticker();
        drive(engine, up_rx, headless, args.autopilot, script, ui, None).await
    })
}

/// `breachbook run`: the runbook against the real account and providers.
fn live(dir: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    let (rb, source) = load_runbook(Some(&args.runbook))?;
    let script = match &args.script {
        Some(path) => Some(load_script(path)?),
        None => None,
    };
    if args.headless && !args.autopilot && script.is_none() {
        return Err(anyhow!(
            "--headless needs --script FILE (your actions, with the typed confirmation words): nobody would be at the keyboard"
        ));
    }
    if let Some(actions) = &script {
        live_script_is_typed(actions, &rb.scope, &args.aws)?;
    }
    if args.autopilot {
        crate::providers::live::only_local_endpoints(&rb.scope, &aws_options(&args.aws))
            .map_err(|why| anyhow!("--autopilot types confirmations itself, so it only runs against emulators and test servers on this machine: {why}"))?;
    }
    let read_only = args.ui.read_only;
    let cfg = engine_config(&rb, read_only, &args.engine);
    let id = new_incident_id(&rb.name);
    let runtime = build_runtime(false)?;
    let ui = args.ui.clone();
    let headless = args.headless;
    runtime.block_on(async move {
        let live =
            crate::providers::live::connect(&rb, &aws_options(&args.aws), &id, Vec::new()).await?;
        let operator = Operator {
            cloud: live.providers.identity.clone(),
            ..Operator::local()
        };
        let journal = Journal::create(dir, &id, operator)?;
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
    scope: &crate::runbook::schema::Scope,
    aws: &crate::cli::AwsArgs,
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
            } => {
                return Err(anyhow!(
                    "the script confirms `{credential}` without a `word`: in a live run every revoke and delete in a script needs the confirmation word typed out"
                ));
            }
            ScriptAction::Autopilot => {
                crate::providers::live::only_local_endpoints(scope, &aws_options(aws)).map_err(|why| {
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

/// `breachbook inventory`: every key in scope, streamed as found; changes nothing.
fn inventory_cmd(args: crate::cli::InventoryArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let (rb, _) = load_runbook(Some(&args.runbook))?;
    let runtime = build_runtime(false)?;
    runtime.block_on(async move {
        let live =
            crate::providers::live::connect(&rb, &aws_options(&args.aws), "inventory", Vec::new())
                .await?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let inv = live.providers.inventory.clone();
        let scope = rb.scope.clone();
        let window = rb.exposure_window.clone();
        let task = tokio::spawn(async move { inv.discover(&scope, &window, tx).await });
        let mut out = std::io::stdout().lock();
        if let Some(who) = &live.providers.identity {
            eprintln!("as {who}");
        }
        if !args.json {
            let _ = writeln!(out, "{}", table_header());
        }
        let mut found = 0usize;
        let mut exposed = 0usize;
        while let Some(page) = rx.recv().await {
            for c in page {
                found += 1;
                exposed += usize::from(c.exposed);
                let line = if args.json {
                    serde_json::to_string(&c).unwrap_or_default()
                } else {
                    table_row(&c)
                };
                // A closed pipe (`| head`) ends the listing quietly.
                if writeln!(out, "{line}").is_err() {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let _ = out.flush();
        }
        let result = task
            .await
            .map_err(|e| anyhow!("the inventory stopped: {e}"))?;
        eprintln!("{found} key(s) found, {exposed} exposed");
        match result {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("error: part of the scope could not be listed: {e}");
                Ok(ExitCode::from(1))
            }
        }
    })
}

/// The header of `breachbook inventory`'s table.
fn table_header() -> String {
    format!(
        "{:<8} {:<10} {:<28} {:<12} {:<22} {:<17} LOCATIONS",
        "STATUS", "ISSUER", "NAME", "HINT", "KEY ID", "LAST USED"
    )
}

/// One row of `breachbook inventory`'s table (no secret: ids, hints, places).
fn table_row(c: &crate::incident::model::Credential) -> String {
    let cut = |s: &str, n: usize| -> String {
        if s.chars().count() <= n {
            s.to_string()
        } else {
            let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
            t.push('…');
            t
        }
    };
    let locations: Vec<String> = c.locations.iter().map(|l| l.label()).collect();
    format!(
        "{:<8} {:<10} {:<28} {:<12} {:<22} {:<17} {}",
        if c.exposed { "EXPOSED" } else { "ok" },
        c.issuer.label(),
        cut(&c.name, 28),
        cut(&c.hint, 12),
        cut(&c.key_id, 22),
        c.last_used
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "never/unknown".into()),
        if locations.is_empty() {
            "(issuer only)".to_string()
        } else {
            locations.join(", ")
        }
    )
}

/// `breachbook iam-policy`: the least-privilege policy this runbook needs.
fn iam_policy_cmd(args: crate::cli::IamPolicyArgs) -> anyhow::Result<ExitCode> {
    let (rb, _) = load_runbook(Some(&args.runbook))?;
    let json = crate::providers::aws::policy::iam_policy_json(&rb, args.account.as_deref());
    print_or_quiet(&json);
    Ok(ExitCode::SUCCESS)
}

/// Prints a line; a closed pipe (`| head`) is not an error.
fn print_or_quiet(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
}

fn resume(dir: &Path, args: ResumeArgs) -> anyhow::Result<ExitCode> {
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
    if recovery.dropped_torn_line {
        eprintln!("note: the last journal line was incomplete (a crash mid-write) and was dropped");
    }
    if !recovery.problems.is_empty() {
        for p in &recovery.problems {
            eprintln!("journal problem: {p}");
        }
        return Err(anyhow!(
            "the journal of {} failed its integrity check, so it will not be written to: \
read it with `breachbook report {}` and start a new incident",
            args.id,
            args.id
        ));
    }
    let state =
        fold(&records).ok_or_else(|| anyhow!("incident {} has an empty journal", args.id))?;
    if state.mode == Mode::Live {
        return resume_live(journal, records, state, args);
    }
    let rb = state.runbook.clone();
    let seed = state.seed.unwrap_or(0);
    let speed = state.speed.unwrap_or(10.0);
    let read_only = args.ui.read_only || state.read_only;
    let cfg = engine_config(&rb, read_only, &args.engine);
    let runtime = build_runtime(args.headless)?;
    let ui = args.ui.clone();
    runtime.block_on(async move {
        let (world, feed) = SimWorld::load(&rb, seed, speed, journal.dir())?;
        let providers = world.provider_set();
        let (up_tx, up_rx) = mpsc::unbounded_channel();
        let engine = Engine::start(journal, records, None, providers, Some(feed), cfg, up_tx)?;
        let _ticker = world.spawn_ticker();
        drive(engine, up_rx, args.headless, args.autopilot, None, ui, None).await
    })
}

/// Reopens a live incident against the real providers: the journal says where it stopped.
fn resume_live(
    journal: Journal,
    records: Vec<journal::Record>,
    state: IncidentState,
    args: ResumeArgs,
) -> anyhow::Result<ExitCode> {
    let rb = state.runbook.clone();
    if args.headless && !args.autopilot {
        return Err(anyhow!(
            "--headless needs --autopilot (emulators only); resume a live incident with the screen"
        ));
    }
    if args.autopilot {
        crate::providers::live::only_local_endpoints(&rb.scope, &aws_options(&args.aws))
            .map_err(|why| anyhow!("--autopilot types confirmations itself, so it only runs against emulators and test servers on this machine: {why}"))?;
    }
    let read_only = args.ui.read_only || state.read_only;
    let cfg = engine_config(&rb, read_only, &args.engine);
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
        let live =
            crate::providers::live::connect(&rb, &aws_options(&args.aws), &state.id, known).await?;
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

/// Opens the screen on a journal another process is writing: look, don't touch.
fn view_read_only(
    dir: &Path,
    id: &str,
    holder: &str,
    onboarding: bool,
) -> anyhow::Result<ExitCode> {
    let (records, _) = Journal::read(dir, id)?;
    let state = fold(&records).ok_or_else(|| anyhow!("incident {id} has an empty journal"))?;
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
        crate::tui::run(crate::tui::TuiConfig {
            state,
            commands: cmd_tx,
            updates: up_rx,
            onboarding,
            read_only: true,
            journal_dir,
        })
        .await?;
        Ok(ExitCode::SUCCESS)
    })
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

fn load_script(path: &Path) -> anyhow::Result<Vec<ScriptAction>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read script {}", path.display()))?;
    serde_saphyr::from_str::<Vec<ScriptAction>>(&text)
        .map_err(|e| anyhow!("script {}: {e}", path.display()))
}

async fn drive(
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
        crate::tui::run(crate::tui::TuiConfig {
            state,
            commands: cmd_tx.clone(),
            updates,
            onboarding: ui.onboarding,
            read_only: ui.read_only,
            journal_dir,
        })
        .await?;
        let _ = cmd_tx.send(crate::incident::command::Command::Shutdown);
        let _ = engine_task.await;
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
