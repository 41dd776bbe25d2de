//! The vendor-breach runbook live, end to end: the real binary, headless with the autopilot,
//! against moto_server (Secrets Manager in two regions) and stateful fakes of OpenAI,
//! Anthropic, Google (Gemini, the API Keys API and its sign-in) and Braintrust built from
//! their published contracts (tests/support/fake_ai.rs). From inventory to report: every
//! exposed key replaced (OpenAI by a new service account, Gemini through the API Keys API
//! with a service-account key file made here; Anthropic's and Braintrust's API keys made "in
//! the console" and piped in on stdin), every stored copy and Braintrust's org AI secrets and
//! environment variable updated, the old keys deleted (OpenAI: their service accounts) or
//! deactivated after typed confirmations, Google's leaked-key answer journaled as the key's
//! state, the Usage panel fed by the providers' usage reports, no secret written anywhere —
//! and every request sent held against the vendors' contracts (tests/support/contract.rs).
//! scripts/test installs moto[server].

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/chain.rs"]
mod chain;
#[path = "support/contract.rs"]
mod contract;
#[path = "support/emulator.rs"]
mod emulator;
#[path = "support/fake_ai.rs"]
mod fake_ai;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/localstack.rs"]
mod localstack;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/vendor_world.rs"]
mod vendor_world;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use emulator::Emulator;
use fake_ai::{FakeAi, State};
use vendor_world::{EXPOSED, World};

/// A run that takes longer than this is stuck (a normal one takes well under a minute,
/// even on a loaded 2-core machine).
const DEADLINE: Duration = Duration::from_secs(150);

/// What the operator did while the run went on.
#[derive(Debug, Default)]
struct Operator {
    /// Keys pasted, by issuer ("Anthropic" / "Braintrust"), in order.
    pasted: Vec<String>,
    /// Requests for a key made by hand the operator could not place.
    puzzled: Vec<String>,
    /// Manual revocations asked for (none expected: every old key goes by API).
    manual_revoke: Vec<String>,
    /// How long the operator takes to make Braintrust's key (none: at once).
    braintrust_takes: Duration,
}

struct Run {
    ok: bool,
    code: Option<i32>,
    stdout: Vec<String>,
    stderr: Vec<String>,
    elapsed: Duration,
    timed_out: bool,
}

impl Run {
    fn dump(&self) -> String {
        format!(
            "exit {:?}{} after {:.1} s\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            if self.timed_out {
                " (killed: deadline)"
            } else {
                ""
            },
            self.elapsed.as_secs_f64(),
            self.stdout.join("\n"),
            self.stderr.join("\n")
        )
    }
}

fn lines_of(
    r: impl std::io::Read + Send + 'static,
    sink: Arc<Mutex<Vec<String>>>,
    tag: &'static str,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { return };
            eprintln!("  {tag}| {line}");
            sink.lock().unwrap().push(line);
        }
    })
}

/// Plays the operator at the console: creates the key a request asks for at the fake
/// provider (as one would in its console) and pastes it on stdin; answers only what it can
/// place.
fn console_operator(
    stderr: impl std::io::Read + Send + 'static,
    stdin: std::process::ChildStdin,
    fake: Arc<Mutex<State>>,
    sink: Arc<Mutex<Vec<String>>>,
    op: Arc<Mutex<Operator>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        // Closed (dropped) when the operator cannot place a request: the run then ends, and
        // its stderr is still read to the end (a closed pipe would fail breachbook's writes).
        let mut stdin = Some(stdin);
        let mut instructions = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            eprintln!("  err| {line}");
            sink.lock().unwrap().push(line.clone());
            if let Some((_, how)) = line.split_once(" needs a key made by hand: ") {
                instructions = how.to_string();
                continue;
            }
            if !line.starts_with("reading the new key for ") {
                continue;
            }
            let issuer = if instructions.contains("Anthropic's Admin API cannot create keys") {
                "Anthropic"
            } else if instructions.contains("Braintrust makes API keys only in its settings") {
                "Braintrust"
            } else if instructions.contains("console.cloud.google.com") {
                // Not asked for with the key file (Gemini keys are minted by API), but an
                // operator would do it if asked.
                "Gemini"
            } else {
                ""
            };
            let mut o = op.lock().unwrap();
            let asked_before = o.pasted.iter().filter(|p| *p == issuer).count();
            if issuer.is_empty() || asked_before >= 3 {
                // Closing stdin ends the run: the driver says which key it waited for.
                o.puzzled.push(format!("{line} ({instructions})"));
                stdin = None;
                continue;
            }
            let key = {
                let mut st = fake.lock().unwrap();
                match issuer {
                    "Anthropic" => vendor_world::make_anthropic_key(&mut st),
                    "Braintrust" => vendor_world::make_braintrust_key(&mut st),
                    _ => vendor_world::make_gemini_key(&mut st),
                }
            };
            o.pasted.push(issuer.to_string());
            let takes = if issuer == "Braintrust" {
                o.braintrust_takes
            } else {
                Duration::ZERO
            };
            drop(o);
            std::thread::sleep(takes);
            if let Some(pipe) = stdin.as_mut()
                && writeln!(pipe, "{key}").and_then(|()| pipe.flush()).is_err()
            {
                stdin = None;
            }
        }
    })
}

/// Watches the journal for a key breachbook hands to the console to revoke (none should be:
/// with the service account's key file, Gemini's go by API) and does it there, as an
/// operator would: the old Gemini key is deleted in the fake's "console".
fn journal_watcher(
    state_dir: PathBuf,
    fake: Arc<Mutex<State>>,
    op: Arc<Mutex<Operator>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut seen = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let records = vendor_world::journal_events(&state_dir);
            for ev in records.iter().skip(seen) {
                if ev["type"] != "manual_revoke_needed" {
                    continue;
                }
                let cred = ev["credential"].as_str().unwrap_or_default().to_string();
                if cred.starts_with("gemini/") {
                    fake.lock()
                        .unwrap()
                        .delete_gemini_key(vendor_world::GEMINI_OLD);
                }
                op.lock().unwrap().manual_revoke.push(cred);
            }
            seen = seen.max(records.len());
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

/// A condition on the fakes' state under which the test kills breachbook (-9).
type KillWhen = Box<dyn Fn(&State) -> bool + Send>;

fn run_breachbook(state: &Path, runbook: &Path, world: &World, op: Arc<Mutex<Operator>>) -> Run {
    let rb = runbook.display().to_string();
    breachbook_with(state, &["run", &rb], world, op, None)
}

/// breachbook `args` (`run RUNBOOK` or `resume ID`), headless with the autopilot, against
/// the world; killed (-9) as soon as `kill_when` holds.
fn breachbook_with(
    state: &Path,
    args: &[&str],
    world: &World,
    op: Arc<Mutex<Operator>>,
    kill_when: Option<KillWhen>,
) -> Run {
    breachbook_through(state, args, world, op, kill_when, None)
}

/// Where breachbook's requests go instead of straight to the world: the AWS endpoint and
/// environment variables (base URLs, the Google key file, timeouts) that win over the
/// world's.
struct Net {
    aws_endpoint: String,
    env: Vec<(String, String)>,
}

/// [`breachbook_with`], its requests sent through `net` when given.
fn breachbook_through(
    state: &Path,
    args: &[&str],
    world: &World,
    op: Arc<Mutex<Operator>>,
    kill_when: Option<KillWhen>,
    net: Option<&Net>,
) -> Run {
    let (aws, fake): (&Emulator, &FakeAi) = (&world.aws, &world.fake);
    let endpoint = net.map_or(aws.endpoint.as_str(), |n| n.aws_endpoint.as_str());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_breachbook"));
    for name in vendor_world::UNSET {
        cmd.env_remove(name);
    }
    cmd.env("BREACHBOOK_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .envs(world.env(state))
        .envs(net.map(|n| n.env.clone()).unwrap_or_default())
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .args(["--headless", "--autopilot", "--quiet-period", "2s"])
        .args(["--endpoint-url", endpoint])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let out_thread = lines_of(child.stdout.take().unwrap(), stdout.clone(), "out");
    let err_thread = console_operator(
        child.stderr.take().unwrap(),
        child.stdin.take().unwrap(),
        fake.handle(),
        stderr.clone(),
        op.clone(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = journal_watcher(state.to_path_buf(), fake.handle(), op, stop.clone());
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if kill_when.as_ref().is_some_and(|when| when(&fake.state())) {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        if started.elapsed() > DEADLINE {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = out_thread.join();
    let _ = err_thread.join();
    let _ = watcher.join();
    let take = |v: &Arc<Mutex<Vec<String>>>| std::mem::take(&mut *v.lock().unwrap());
    Run {
        ok: status.success() && !timed_out,
        code: status.code(),
        stdout: take(&stdout),
        stderr: take(&stderr),
        elapsed,
        timed_out,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendor_breach_runbook_runs_live_end_to_end() {
    end_to_end(World::start().await).await;
}

/// The same against LocalStack, which, like AWS, keeps one AWSPENDING per secret and drops a
/// version that lost its only label: the OpenAI and Anthropic keys of prod/ai/providers are
/// staged as one pending version and promoted once, or one of them is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_the_vendor_breach_runbook_runs_live_end_to_end() {
    end_to_end(World::start_on(Emulator::localstack("vendor")).await).await;
}

async fn end_to_end(world: World) {
    let tmp = tempfile::tempdir().unwrap();
    let state_dir = tmp.path().join("state");
    let rb = vendor_world::runbook_copy(tmp.path());
    let op = Arc::new(Mutex::new(Operator::default()));
    // The fakes answer from their own threads; this thread only waits for the process.
    let run = tokio::task::block_in_place(|| run_breachbook(&state_dir, &rb, &world, op.clone()));
    eprintln!("breachbook run took {:.1} s", run.elapsed.as_secs_f64());
    let o = std::mem::take(&mut *op.lock().unwrap());
    let st_problems = world.fake.state().problems.clone();
    // Every request held against the contracts first: on a failed run they say why.
    vendor_world::check_contract(&world.fake.state());

    // ---- the run itself
    assert!(
        run.ok,
        "the run failed\n{}\noperator: {o:?}\nfake problems: {st_problems:#?}",
        run.dump()
    );
    let summary: serde_json::Value = serde_json::from_str(run.stdout.last().unwrap())
        .expect("the last line is the JSON summary");
    assert_eq!(summary["complete"], true, "{}", run.dump());
    assert_eq!(summary["exposed"], EXPOSED, "{}", run.dump());
    assert_eq!(summary["revoked"], EXPOSED, "{}", run.dump());
    assert!(
        o.puzzled.is_empty(),
        "key requests nobody could place: {:?}",
        o.puzzled
    );
    let mut pasted = o.pasted.clone();
    pasted.sort();
    assert_eq!(
        pasted,
        ["Anthropic", "Braintrust"],
        "one key made by hand per issuer without a create API"
    );
    assert!(o.manual_revoke.is_empty(), "{:?}", o.manual_revoke);
    assert!(
        st_problems.is_empty(),
        "requests the fakes refused: {st_problems:#?}"
    );

    // ---- at the providers
    let (new_prod, new_eval, new_gemini) =
        vendor_world::check_providers(&world.fake.state(), &world);

    // ---- in Secrets Manager (AWSCURRENT asked for explicitly)
    vendor_world::check_secrets_manager(
        &world.aws,
        (&new_prod, &new_eval, &new_gemini),
        &run.dump(),
    )
    .await;
    // One pending version for the secret's two new keys at a time (the key pasted later is
    // staged in a new version built on the first, which takes the label), promoted once.
    let events = vendor_world::journal_events(&state_dir);
    let mut last: std::collections::BTreeMap<String, String> = Default::default();
    for e in events.iter().filter(|e| {
        e["type"] == "staged"
            && e["location"]
                .as_str()
                .is_some_and(|l| l.contains("prod/ai/providers"))
    }) {
        last.insert(
            e["credential"].as_str().unwrap().to_string(),
            e["version"].as_str().unwrap().to_string(),
        );
    }
    let versions: std::collections::BTreeSet<&String> = last.values().collect();
    assert_eq!(last.len(), 2, "{}: {last:?}", world.aws.name());
    assert_eq!(
        versions.len(),
        1,
        "{}: the two keys end in different versions: {last:?}",
        world.aws.name()
    );
    let promoted: std::collections::BTreeSet<String> = events
        .iter()
        .filter(|e| {
            e["type"] == "promoted" && last.contains_key(e["credential"].as_str().unwrap_or(""))
        })
        .map(|e| e["at"].to_string())
        .collect();
    assert_eq!(
        promoted.len(),
        1,
        "{}: promoted more than once: {promoted:?}",
        world.aws.name()
    );

    // ---- the journal: usage fed the Usage panel; each revoke was typed
    let events = vendor_world::journal_events(&state_dir);
    let usage = vendor_world::check_journal(&events);

    // ---- the report, and nothing secret anywhere in the state folder
    let report = summary["report"].as_str().expect("a report path");
    let report = std::fs::read_to_string(report).expect("the report exists");
    vendor_world::check_report(&report);
    // Its times are the store's own: each scoped secret's LastChangedDate at moto is in it.
    for (region, name) in [
        ("us-east-1", "prod/ai/providers"),
        ("us-east-1", "legacy/billing/openai"),
        ("us-east-1", "prod/ai/eval"),
        ("eu-west-1", "prod/ai/gemini"),
        ("us-east-1", "prod/ai/braintrust"),
    ] {
        let sm = world.aws.sm(region);
        let described = sm.describe_secret().secret_id(name).send().await.unwrap();
        let changed = described.last_changed_date().unwrap();
        let stamp = chrono::DateTime::from_timestamp(changed.secs(), 0)
            .unwrap()
            .format("%H:%M:%S")
            .to_string();
        assert!(
            report.contains(&stamp),
            "the report lacks moto's LastChangedDate {stamp} of {name}:\n{report}"
        );
    }
    let secrets = vendor_world::secrets(&[&new_prod, &new_eval, &new_gemini]);
    if let Some(part) = vendor_world::leaked(&vendor_world::everything_in(&state_dir), &secrets) {
        panic!("part of a key value ({part}) was written to the state folder");
    }
    eprintln!(
        "vendor_live: {} journal events, {usage} usage_observed, {} requests held against the contracts, run {:.1} s",
        events.len(),
        world.fake.state().recorded.len(),
        run.elapsed.as_secs_f64()
    );
}

/// An OpenAI mint interrupted where its outcome is unknown — the new service account made,
/// its answer (with the key) never back, breachbook killed — and the incident resumed: the
/// engine finds the intent journaled without its key and reconciles before minting again; the
/// account that was made is found (it carries the rotation's tag, its key is in no store),
/// deleted and journaled, and exactly one new service account per key is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_openai_mint_is_reconciled_on_resume() {
    let world = World::start().await;
    world.fake.state().hold_service_account_create = Some(Duration::from_secs(120));
    let tmp = tempfile::tempdir().unwrap();
    let state_dir = tmp.path().join("state");
    let rb = vendor_world::runbook_copy(tmp.path());
    let op = Arc::new(Mutex::new(Operator::default()));
    let rb_arg = rb.display().to_string();
    let killed = tokio::task::block_in_place(|| {
        breachbook_with(
            &state_dir,
            &["run", &rb_arg],
            &world,
            op.clone(),
            Some(Box::new(|st: &State| {
                st.hold_service_account_create.is_none() && !st.minted_service_accounts().is_empty()
            })),
        )
    });
    // The held one is the first made (the other key's mint may have gone through).
    let stray = world.fake.state().minted_service_accounts()[0].clone();
    assert!(
        !killed.ok,
        "the first run was killed mid-mint\n{}",
        killed.dump()
    );
    let id = std::fs::read_dir(state_dir.join("incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let run = tokio::task::block_in_place(|| {
        breachbook_with(&state_dir, &["resume", &id], &world, op.clone(), None)
    });
    let st = world.fake.state();
    assert!(run.ok, "the resumed run failed\n{}", run.dump());
    assert!(
        st.openai_sa(&stray.id).unwrap().deleted,
        "the account the interrupted mint made is still alive (no reconcile)"
    );
    let alive: Vec<_> = st
        .minted_service_accounts()
        .into_iter()
        .filter(|a| !a.deleted)
        .collect();
    assert_eq!(
        alive.len(),
        2,
        "one new account per exposed OpenAI key: {alive:#?}"
    );
    let events = vendor_world::journal_events(&state_dir);
    for kind in ["stray_key_found", "stray_key_discarded"] {
        assert!(
            events
                .iter()
                .any(|e| e["type"] == kind && e["key_id"] == stray.id.as_str()),
            "no {kind} for {}",
            stray.id
        );
    }
    vendor_world::check_contract(&st);
}

/// A key made by hand, pasted and tested, and breachbook SIGKILLed before it stored it: the
/// value was only ever in memory, so the resumed run asks for it again, says that the key
/// pasted before (its hint) was never stored and must be pasted again or deleted at its
/// issuer, and takes the same key pasted again. (The paste used to be refused: the key read
/// as issued, so "not waiting for a pasted key", and the incident could not be finished.)
/// The kill lands between the paste's `issued` record and its `staged` record, found by
/// stopping the run right after the record where an uninterrupted run wrote that `issued`
/// (concurrent work moves it, so each stopped run's records say where to stop the next).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_key_lost_to_a_kill_before_it_was_stored_is_asked_for_again() {
    // The CI's Braintrust API key (pasted); not a key whose id names a Braintrust copy.
    let is_bt = |e: &serde_json::Value, ty: &str| {
        e["type"] == ty
            && e["credential"]
                .as_str()
                .is_some_and(|c| c.contains("BRAINTRUST_API_KEY"))
    };
    let tmp = tempfile::tempdir().unwrap();
    let rb = vendor_world::runbook_copy(tmp.path());
    let rb_arg = rb.display().to_string();
    // The run made repeatable up to the paste: no usage polls, and Braintrust's key pasted
    // 2 s after it is asked for, when every other key's work is done.
    let net = |world: &World| Net {
        aws_endpoint: world.aws.endpoint.clone(),
        env: vec![("BREACHBOOK_USAGE_POLL_SECS".into(), "3600".into())],
    };
    let slow = || {
        Arc::new(Mutex::new(Operator {
            braintrust_takes: Duration::from_secs(2),
            ..Operator::default()
        }))
    };
    let k = {
        let world = World::start().await;
        let base = tmp.path().join("base");
        let run = tokio::task::block_in_place(|| {
            breachbook_through(
                &base,
                &["run", &rb_arg],
                &world,
                slow(),
                None,
                Some(&net(&world)),
            )
        });
        assert!(run.ok, "{}", run.dump());
        let events = vendor_world::journal_events(&base);
        1 + events.iter().position(|e| is_bt(e, "issued")).unwrap()
    };
    let mut hit = None;
    // Where the paste lands among the records moves from run to run with the machine's
    // load (by a few records). Each run stopped at a point tells where it was in that run:
    // earlier (it is among the records kept) or later (it is not); the next run stops
    // right after where it was, or one record later. A point may be tried again: runs
    // differ.
    let mut n = k.max(1);
    for attempt in 0..60 {
        let world = World::start().await;
        let state_dir = tmp.path().join(format!("kill-{attempt}-at-{n}"));
        let op = slow();
        let at = n.to_string();
        let watched = state_dir.clone();
        let killed = tokio::task::block_in_place(|| {
            breachbook_through(
                &state_dir,
                &["run", &rb_arg, "--pause-after-records", &at],
                &world,
                op.clone(),
                Some(Box::new(move |_: &State| {
                    vendor_world::journal_records(&watched).len() >= n
                })),
                Some(&net(&world)),
            )
        });
        let events = vendor_world::journal_events(&state_dir);
        let issued_at = events.iter().position(|e| is_bt(e, "issued"));
        eprintln!(
            "kill at {n} (the uninterrupted run's issued at {k}): {}, last record {} {}, issued at {issued_at:?}",
            if killed.ok {
                "ran to its end"
            } else {
                "stopped"
            },
            events
                .last()
                .map(|e| e["type"].to_string())
                .unwrap_or_default(),
            events
                .last()
                .map(|e| e["credential"].to_string())
                .unwrap_or_default()
        );
        if !killed.ok && events.last().is_some_and(|e| is_bt(e, "issued")) {
            hit = Some((world, state_dir, op, events));
            break;
        }
        n = match issued_at {
            // Earlier in this run (or the run ended before `n`): stop right after it.
            Some(i) => i + 1,
            // Not reached yet: later.
            None => n + 1,
        };
    }
    let (world, state_dir, op, before) =
        hit.expect("no kill point fell between the pasted key's issued and staged records");
    let bt = before.last().unwrap()["credential"]
        .as_str()
        .unwrap()
        .to_string();
    let id = std::fs::read_dir(state_dir.join("incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let run = tokio::task::block_in_place(|| {
        breachbook_with(&state_dir, &["resume", &id], &world, op.clone(), None)
    });
    assert!(run.ok, "the resumed run failed\n{}", run.dump());
    let summary: serde_json::Value = serde_json::from_str(run.stdout.last().unwrap()).unwrap();
    assert_eq!(summary["complete"], true, "{}", run.dump());
    assert_eq!(summary["revoked"], EXPOSED, "{}", run.dump());
    let events = vendor_world::journal_events(&state_dir);
    assert!(
        events[before.len()..]
            .iter()
            .any(|e| e["type"] == "manual_key_needed"
                && e["credential"] == bt.as_str()
                && e["instructions"]
                    .as_str()
                    .is_some_and(|i| i.contains("was never stored") && i.contains("sk-…bbB2"))),
        "the resumed run did not say the pasted key was lost: {:#?}",
        events[before.len()..]
            .iter()
            .filter(|e| e["type"] == "manual_key_needed" || e["credential"] == bt.as_str())
            .collect::<Vec<_>>()
    );
    let pasted = op.lock().unwrap().pasted.clone();
    assert_eq!(
        pasted.iter().filter(|p| *p == "Braintrust").count(),
        2,
        "pasted once, and once more after the kill: {pasted:?}"
    );
    let (new_prod, new_eval, new_gemini) =
        vendor_world::check_providers_with(&world.fake.state(), &world, true);
    vendor_world::check_secrets_manager(
        &world.aws,
        (&new_prod, &new_eval, &new_gemini),
        &run.dump(),
    )
    .await;
    vendor_world::check_contract(&world.fake.state());
}

/// Issue 14, item 7, the vendor-breach half: the runbook is stopped dead right after record
/// N (`--pause-after-records N`) and SIGKILLed at points spread over an uninterrupted run
/// (the first intent to mint, mint, stage, typed word, revoke and report among them), then
/// resumed until it exits 0 with `complete: true`. Each must end where the uninterrupted run
/// ends, read from the fakes and moto (`check_providers`, `check_secrets_manager`): every
/// exposed key revoked exactly once, each after its typed word, no minted key left alive
/// outside a store, and the chain intact per tests/support/chain.rs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendor_breach_runbook_killed_at_twenty_points_resumes_to_the_same_end() {
    let started = Instant::now();
    // The uninterrupted run: its records, to pick the points from.
    let world = World::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let rb = vendor_world::runbook_copy(tmp.path());
    let op = Arc::new(Mutex::new(Operator::default()));
    let run = tokio::task::block_in_place(|| run_breachbook(&base, &rb, &world, op.clone()));
    assert!(run.ok, "the uninterrupted run failed\n{}", run.dump());
    let events = vendor_world::journal_events(&base);
    drop(world);
    let r = events.len();
    let mut points: std::collections::BTreeMap<usize, String> = Default::default();
    for kind in [
        "issue_requested",
        "issued",
        "staged",
        "verified",
        "promoted",
        "location_updated",
        "confirmation_given",
        "revoke_requested",
        "revoked",
        "report_written",
    ] {
        if let Some(i) = events.iter().position(|e| e["type"] == kind) {
            points.insert(i + 1, kind.to_string());
        }
    }
    let mut step = 1;
    while points.len() < 20.min(r) {
        let n = 1 + (step * r / 21) % r;
        points
            .entry(n)
            .or_insert_with(|| events[n - 1]["type"].as_str().unwrap_or("?").to_string());
        step += 1;
        if step > 100 {
            break;
        }
    }
    assert!(points.len() >= 20, "only {r} records");

    let rb_arg = rb.display().to_string();
    let mut converged = 0;
    for (n, ty) in &points {
        eprintln!("vendor kill point: record {n} ({ty})");
        let world = World::start().await;
        let state_dir = tmp.path().join(format!("kill-{n}"));
        let op = Arc::new(Mutex::new(Operator::default()));
        let at = n.to_string();
        let watched = state_dir.clone();
        let want = *n;
        let killed = tokio::task::block_in_place(|| {
            breachbook_with(
                &state_dir,
                &["run", &rb_arg, "--pause-after-records", &at],
                &world,
                op.clone(),
                Some(Box::new(move |_: &State| {
                    vendor_world::journal_records(&watched).len() >= want
                })),
            )
        });
        assert!(
            !killed.ok,
            "kill at {n} ({ty}): ran to its end\n{}",
            killed.dump()
        );
        let id = std::fs::read_dir(state_dir.join("incidents"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .file_name()
            .into_string()
            .unwrap();
        let mut last = None;
        for _ in 0..3 {
            let run = tokio::task::block_in_place(|| {
                breachbook_with(&state_dir, &["resume", &id], &world, op.clone(), None)
            });
            let done = run.ok
                && run.stdout.last().is_some_and(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .is_ok_and(|s| s["complete"] == true)
                });
            last = Some(run);
            if done {
                break;
            }
        }
        let run = last.unwrap();
        assert!(
            run.ok,
            "kill at {n} ({ty}): resume did not finish\n{}",
            run.dump()
        );
        let summary: serde_json::Value = serde_json::from_str(run.stdout.last().unwrap()).unwrap();
        assert_eq!(
            summary["complete"],
            true,
            "kill at {n} ({ty}): {}",
            run.dump()
        );
        assert_eq!(summary["exposed"], EXPOSED, "kill at {n} ({ty})");
        assert_eq!(summary["revoked"], EXPOSED, "kill at {n} ({ty})");
        vendor_world::check_contract(&world.fake.state());
        let (new_prod, new_eval, new_gemini) =
            vendor_world::check_providers_with(&world.fake.state(), &world, true);
        vendor_world::check_secrets_manager(
            &world.aws,
            (&new_prod, &new_eval, &new_gemini),
            &run.dump(),
        )
        .await;
        let events = vendor_world::journal_events(&state_dir);
        let mut revoked: std::collections::BTreeMap<String, usize> = Default::default();
        for (i, e) in events.iter().enumerate() {
            if e["type"] == "revoke_requested" || e["type"] == "revoked" {
                let cred = e["credential"].as_str().unwrap_or_default();
                assert!(
                    events[..i].iter().any(|p| p["type"] == "confirmation_given"
                        && p["credential"] == cred
                        && p["action"] == "revoke"),
                    "kill at {n} ({ty}): record {}: {} {cred} before its typed word",
                    i + 1,
                    e["type"]
                );
                if e["type"] == "revoked" {
                    *revoked.entry(cred.to_string()).or_default() += 1;
                }
            }
        }
        assert!(
            revoked.values().all(|&k| k == 1),
            "kill at {n} ({ty}): revoked twice: {revoked:?}"
        );
        let journal = state_dir.join("incidents").join(&id).join("journal.jsonl");
        let report = chain::check_file(&journal);
        assert!(
            report.is_intact(),
            "kill at {n} ({ty}): chain broken: {:?}",
            report.problems
        );
        converged += 1;
    }
    println!(
        "kill points: vendor {converged}/{} converged ({r} records in the uninterrupted run, {} s)",
        points.len(),
        started.elapsed().as_secs()
    );
    assert_eq!(converged, points.len());
}

/// Past the attempt timeouts of the fault-rate run (0.7 s for AWS, 1 s for the providers).
const SLOW: Duration = Duration::from_secs(2);

/// The faults of the fault-rate run and their shares of its 10 %, one draw a request.
fn fault_mix() -> Vec<(&'static str, f64, fault_proxy::Fault)> {
    use fault_proxy::Fault;
    vec![
        ("throttled", 0.015, Fault::Throttle),
        (
            "429 with Retry-After",
            0.010,
            Fault::TooManyRequests {
                retry_after: Some(1),
            },
        ),
        ("HTTP 500", 0.010, Fault::InternalError),
        (
            "unavailable (503; Anthropic 529)",
            0.015,
            Fault::Unavailable,
        ),
        ("reset before forwarding", 0.015, Fault::ResetBeforeForward),
        ("no answer within the timeout", 0.010, Fault::Hang(SLOW)),
        ("forwarded, then reset", 0.010, Fault::ForwardThenDrop),
        (
            "forwarded, answered after the client gave up",
            0.015,
            Fault::ForwardThenDelay(SLOW),
        ),
    ]
}

/// Every secret in the runbook's scope, by region.
const SCOPED: [(&str, &str); 5] = [
    ("us-east-1", "prod/ai/providers"),
    ("us-east-1", "legacy/billing/openai"),
    ("us-east-1", "prod/ai/eval"),
    ("us-east-1", "prod/ai/braintrust"),
    ("eu-west-1", "prod/ai/gemini"),
];

/// Each version of a secret (deprecated ones too) with its labels and value, read from the
/// emulator directly.
async fn versions_of(
    aws: &Emulator,
    region: &str,
    name: &str,
) -> Vec<(String, Vec<String>, String)> {
    let sm = aws.sm(region);
    let listed = sm
        .list_secret_version_ids()
        .secret_id(name)
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for v in listed.versions() {
        let id = v.version_id().unwrap().to_string();
        let value = sm
            .get_secret_value()
            .secret_id(name)
            .version_id(&id)
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap_or_default()
            .to_string();
        out.push((id, v.version_stages().to_vec(), value));
    }
    out
}

/// Issue 14, item 6, the providers' half: the vendor-breach runbook live with a
/// fault-injecting proxy in front of every service it talks to — moto (both regions), OpenAI,
/// Anthropic, Gemini, Google's API Keys API and its sign-in, Braintrust — each answering 10 %
/// of requests with a fault in that service's own documented shape
/// (tests/support/fault_proxy.rs, `Style`), or with a reset, a hang past the timeout, or an
/// answer lost after the request took effect. On top, the calls where a lost answer hurts
/// most each lose one answer: the OpenAI service account made (the mint), the Google key
/// made, an OpenAI service account deleted, the Anthropic key deactivated, the Braintrust
/// API key deleted and an org AI secret written, Secrets Manager's PutSecretValue and
/// UpdateSecretVersionStage; and the inventory's first listing of Braintrust's AI secrets
/// fails on every attempt of the client, so the engine lists again. The run must finish on
/// its own, and then, read from the fakes
/// and moto directly: every exposed key revoked once, after its typed word; exactly one new
/// key alive per exposed key, every other key minted deleted (none orphaned); every copy
/// holding its new key, no secret with two versions of the same value (none doubled) or an
/// AWSPENDING left; every fault answered by a journaled retry; the chain intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendor_breach_runbook_at_a_ten_percent_fault_rate_loses_doubles_and_orphans_nothing() {
    use fault_proxy::{Fault, FaultProxy, Rule, Style, When};
    let started = Instant::now();
    let world = World::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let state_dir = tmp.path().join("state");
    let rb = vendor_world::runbook_copy(tmp.path());
    let mut before = std::collections::BTreeMap::new();
    for (region, name) in SCOPED {
        before.insert(name, versions_of(&world.aws, region, name).await.len());
    }

    // One proxy per service, each with its own seeded draw.
    let fake = &world.fake;
    let proxies: Vec<(&str, &str, FaultProxy)> = vec![
        ("AWS", "", FaultProxy::start(&world.aws.endpoint)),
        (
            "OpenAI",
            "BREACHBOOK_OPENAI_BASE_URL",
            FaultProxy::start_as(&fake.openai.uri(), Style::OpenAi),
        ),
        (
            "Anthropic",
            "BREACHBOOK_ANTHROPIC_BASE_URL",
            FaultProxy::start_as(&fake.anthropic.uri(), Style::Anthropic),
        ),
        (
            "Gemini",
            "BREACHBOOK_GEMINI_BASE_URL",
            FaultProxy::start_as(&fake.gemini.uri(), Style::Google),
        ),
        (
            "Google API Keys",
            "BREACHBOOK_GOOGLE_API_KEYS_BASE_URL",
            FaultProxy::start_as(&fake.google_api_keys.uri(), Style::Google),
        ),
        (
            "Google OAuth",
            "",
            FaultProxy::start_as(&fake.google_oauth.uri(), Style::Google),
        ),
        (
            "Braintrust",
            "BREACHBOOK_BRAINTRUST_BASE_URL",
            FaultProxy::start_as(&fake.braintrust.uri(), Style::Braintrust),
        ),
    ];
    let by = |name: &str| &proxies.iter().find(|p| p.0 == name).unwrap().2;
    // The pinned faults first: the first rule that fires decides a request's fate.
    let lose = |name: &str, method: &str, prefix: &str| {
        by(name).add(Rule::path(
            Some(method),
            prefix,
            When::Nth(1),
            Fault::ForwardThenDrop,
        ))
    };
    let sa_path = |p: &str| format!("/v1/organization/projects/{p}/service_accounts");
    let pinned = vec![
        (
            "OpenAI",
            lose("OpenAI", "POST", &sa_path(vendor_world::EVAL_PROJECT)),
        ),
        (
            "OpenAI",
            lose(
                "OpenAI",
                "DELETE",
                &format!("{}/", sa_path(vendor_world::PROD_PROJECT)),
            ),
        ),
        (
            "Google API Keys",
            lose("Google API Keys", "POST", "/v2/projects/"),
        ),
        (
            "Anthropic",
            lose("Anthropic", "POST", "/v1/organizations/api_keys/"),
        ),
        ("Braintrust", lose("Braintrust", "DELETE", "/v1/api_key/")),
        ("Braintrust", lose("Braintrust", "PATCH", "/v1/ai_secret/")),
        // The inventory's first listing of the org AI secrets fails on every attempt the
        // client makes: the engine lists the whole scope again.
        (
            "Braintrust",
            by("Braintrust").add(Rule::path(
                Some("GET"),
                "/v1/ai_secret",
                When::FirstN(3),
                Fault::InternalError,
            )),
        ),
        (
            "AWS",
            by("AWS").add(Rule::operation(
                "PutSecretValue",
                When::Nth(2),
                Fault::ForwardThenDrop,
            )),
        ),
        (
            "AWS",
            by("AWS").add(Rule::operation(
                "UpdateSecretVersionStage",
                When::Nth(1),
                Fault::ForwardThenDrop,
            )),
        ),
    ];
    for (i, (_, _, proxy)) in proxies.iter().enumerate() {
        let mut from = 0.0;
        for (_, share, fault) in fault_mix() {
            proxy.add(Rule::any(
                When::Band {
                    from,
                    to: from + share,
                    seed: 0x1406 + i as u64,
                },
                fault,
            ));
            from += share;
        }
    }
    let mut env: Vec<(String, String)> = proxies
        .iter()
        .filter(|p| !p.1.is_empty())
        .map(|p| (p.1.to_string(), p.2.endpoint.clone()))
        .collect();
    let key_file = fake.sign_in_through(&by("Google OAuth").endpoint, tmp.path());
    env.push((
        "GOOGLE_APPLICATION_CREDENTIALS".into(),
        key_file.display().to_string(),
    ));
    env.push(("BREACHBOOK_AWS_ATTEMPT_TIMEOUT_MS".into(), "700".into()));
    env.push(("BREACHBOOK_HTTP_TIMEOUT_MS".into(), "1000".into()));
    let net = Net {
        aws_endpoint: by("AWS").endpoint.clone(),
        env,
    };

    let op = Arc::new(Mutex::new(Operator::default()));
    let rb_arg = rb.display().to_string();
    let run = tokio::task::block_in_place(|| {
        breachbook_through(
            &state_dir,
            &["run", &rb_arg],
            &world,
            op.clone(),
            None,
            Some(&net),
        )
    });
    let faults: Vec<(&str, Vec<fault_proxy::Logged>)> =
        proxies.iter().map(|p| (p.0, p.2.faults())).collect();
    let described = || {
        faults
            .iter()
            .map(|(name, f)| {
                let lines: Vec<String> = f
                    .iter()
                    .map(|l| {
                        format!(
                            "  {} {} {:?}",
                            l.method,
                            l.path,
                            l.fault.as_ref().unwrap().1
                        )
                    })
                    .collect();
                format!("{name}: {} faults\n{}", f.len(), lines.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        run.ok,
        "the run did not finish under faults\n{}\n{}",
        run.dump(),
        described()
    );
    let summary: serde_json::Value = serde_json::from_str(run.stdout.last().unwrap()).unwrap();
    assert_eq!(summary["complete"], true, "{}", run.dump());
    assert_eq!(summary["exposed"], EXPOSED, "{}", run.dump());
    assert_eq!(summary["revoked"], EXPOSED, "{}", run.dump());

    // Every pinned fault met its request.
    for (name, rule) in &pinned {
        assert!(
            by(name)
                .faults()
                .iter()
                .any(|l| l.fault.as_ref().is_some_and(|f| f.0 == *rule)),
            "{name}: pinned rule {rule} never fired\n{}",
            by(name).describe()
        );
    }

    // At the providers: one new key alive per exposed key, every other minted key deleted.
    let st_problems = world.fake.state().problems.clone();
    assert!(
        st_problems.is_empty(),
        "requests the fakes refused: {st_problems:#?}"
    );
    vendor_world::check_contract(&world.fake.state());
    let (new_prod, new_eval, new_gemini) =
        vendor_world::check_providers_with(&world.fake.state(), &world, true);
    let (strays_openai, strays_google) = {
        let st = world.fake.state();
        (
            st.minted_service_accounts()
                .iter()
                .filter(|a| a.deleted)
                .count(),
            st.minted_google().iter().filter(|k| !k.alive()).count(),
        )
    };

    // In Secrets Manager: every copy new, nothing doubled, nothing pending.
    vendor_world::check_secrets_manager(
        &world.aws,
        (&new_prod, &new_eval, &new_gemini),
        &run.dump(),
    )
    .await;
    let mut new_versions = 0;
    for (region, name) in SCOPED {
        let versions = versions_of(&world.aws, region, name).await;
        let mut values: Vec<&str> = versions.iter().map(|v| v.2.as_str()).collect();
        values.sort_unstable();
        let distinct = {
            let mut d = values.clone();
            d.dedup();
            d.len()
        };
        assert_eq!(
            distinct,
            values.len(),
            "{name}: two versions hold the same value (a write doubled): {:?}",
            versions.iter().map(|v| (&v.0, &v.1)).collect::<Vec<_>>()
        );
        assert!(
            versions
                .iter()
                .all(|v| !v.1.iter().any(|s| s == "AWSPENDING")),
            "{name}: an AWSPENDING was left: {:?}",
            versions.iter().map(|v| (&v.0, &v.1)).collect::<Vec<_>>()
        );
        new_versions += versions.len() - before[name];
    }

    // The journal: each revoke after its typed word and once; every fault answered by a
    // journaled retry (the engine's attempt_failed, the SDK's call_retried).
    let events = vendor_world::journal_events(&state_dir);
    let mut revoked: std::collections::BTreeMap<String, usize> = Default::default();
    for (i, e) in events.iter().enumerate() {
        if e["type"] == "revoke_requested" || e["type"] == "revoked" {
            let cred = e["credential"].as_str().unwrap_or_default();
            assert!(
                events[..i].iter().any(|p| p["type"] == "confirmation_given"
                    && p["credential"] == cred
                    && p["action"] == "revoke"),
                "record {}: {} {cred} before its typed word",
                i + 1,
                e["type"]
            );
            if e["type"] == "revoked" {
                *revoked.entry(cred.to_string()).or_default() += 1;
            }
        }
    }
    assert!(
        revoked.values().all(|&k| k == 1),
        "revoked twice: {revoked:?}"
    );
    assert!(
        events.iter().any(|e| e["type"] == "attempt_failed"
            && e["operation"] == "inventory"
            && e["retryable"] == true),
        "the inventory was not listed again after Braintrust failed it"
    );
    let failed = events
        .iter()
        .filter(|e| e["type"] == "attempt_failed")
        .count();
    let retried = events
        .iter()
        .filter(|e| e["type"] == "call_retried")
        .count();
    let total_faults: usize = faults.iter().map(|f| f.1.len()).sum();
    assert!(
        failed + retried >= total_faults,
        "{total_faults} faults but {failed} attempt_failed and {retried} call_retried journaled\n{}",
        described()
    );
    let id = summary["incident"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            std::fs::read_dir(state_dir.join("incidents"))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .file_name()
                .into_string()
                .unwrap()
        });
    let report = chain::check_file(&state_dir.join("incidents").join(&id).join("journal.jsonl"));
    assert!(report.is_intact(), "chain broken: {:?}", report.problems);

    let requests: usize = proxies.iter().map(|p| p.2.log().len()).sum();
    let per: Vec<String> = faults
        .iter()
        .map(|(name, f)| {
            let seen = by(name).log().len();
            format!("{name} {}/{seen}", f.len())
        })
        .collect();
    println!(
        "vendor fault rate: {EXPOSED}/{EXPOSED} keys rotated and revoked; {requests} requests, {total_faults} faults ({:.1} %: {}); journaled {failed} attempt_failed + {retried} call_retried; strays minted then deleted: OpenAI {strays_openai}, Google {strays_google}; {new_versions} new secret versions, 0 doubled; run {:.1} s, test {:.1} s",
        100.0 * total_faults as f64 / requests.max(1) as f64,
        per.join(", "),
        run.elapsed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
