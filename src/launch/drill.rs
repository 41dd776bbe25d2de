//! `breachbook drill` and a resumed drill: the simulated world as the provider set, the
//! engine on the drill clock, the screen or the headless driver.

use std::path::Path;
use std::process::ExitCode;

use anyhow::anyhow;
use tokio::sync::mpsc;

use super::drive::drive;
use super::{build_runtime, digest, engine_config, load_runbook, load_script, new_incident_id};
use crate::cli::{DrillArgs, ResumeArgs};
use crate::incident::engine::Engine;
use crate::incident::event::{Event, Mode, Operator};
use crate::incident::journal::{self, Journal};
use crate::incident::state::IncidentState;
use crate::providers::sim::SimWorld;
use crate::runbook::schema::{MAX_SPEED, MIN_SPEED, speed_ok};

/// `breachbook drill`: a new drill of the runbook against the simulated world.
pub(super) fn drill(dir: &Path, args: DrillArgs) -> anyhow::Result<ExitCode> {
    let (rb, source) = load_runbook(args.runbook.as_deref())?;
    let Some(drill) = rb.drill.clone() else {
        return Err(anyhow!(
            "runbook `{}` has no `drill:` section, so it cannot be drilled: add one (see docs/runbook-format.md) or run it live with `breachbook run`",
            rb.name
        ));
    };
    let script = args.script.as_deref().map(load_script).transpose()?;
    if args.headless && !args.autopilot && script.is_none() {
        return Err(anyhow!(
            "--headless needs --autopilot or --script FILE: nobody would be at the keyboard"
        ));
    }
    let seed = args.seed.unwrap_or(drill.seed);
    let speed = args.speed.unwrap_or(drill.speed);
    if !speed_ok(speed) {
        return Err(anyhow!(
            "--speed must be a number between {MIN_SPEED} and {MAX_SPEED}, e.g. 10 (ten simulated seconds per real second)"
        ));
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

/// Reopens a stopped drill: the world reloads from `world.json`, the engine replays the
/// journal and carries on.
pub(super) fn resume(
    journal: Journal,
    records: Vec<journal::Record>,
    state: IncidentState,
    args: ResumeArgs,
    torn: bool,
) -> anyhow::Result<ExitCode> {
    let rb = state.runbook.clone();
    let seed = state.seed.unwrap_or(0);
    let speed = state.speed.unwrap_or(10.0);
    if !speed_ok(speed) {
        return Err(anyhow!(
            "the journal of {} says the drill ran at speed {speed}, outside {MIN_SPEED}–{MAX_SPEED}: the journal was edited; read it with `breachbook report {}` and `breachbook verify {}`",
            state.id,
            state.id,
            state.id
        ));
    }
    let read_only = args.ui.read_only || state.read_only;
    let mut cfg = engine_config(&rb, read_only, &args.engine);
    cfg.torn_at_resume = torn;
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
