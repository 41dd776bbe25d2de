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
    mut stdin: std::process::ChildStdin,
    fake: Arc<Mutex<State>>,
    sink: Arc<Mutex<Vec<String>>>,
    op: Arc<Mutex<Operator>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
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
                return;
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
            drop(o);
            if writeln!(stdin, "{key}")
                .and_then(|()| stdin.flush())
                .is_err()
            {
                return;
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
    let (aws, fake): (&Emulator, &FakeAi) = (&world.aws, &world.fake);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_breachbook"));
    for name in vendor_world::UNSET {
        cmd.env_remove(name);
    }
    cmd.env("BREACHBOOK_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .envs(world.env(state))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .args(["--headless", "--autopilot", "--quiet-period", "2s"])
        .args(["--endpoint-url", &aws.endpoint])
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

/// Issue 14, item 7, the vendor-breach half: the runbook is stopped dead right after record
/// N (`--pause-after-records N`) and SIGKILLed at points spread over an uninterrupted run
/// (the first intent to mint, mint, stage, typed word, revoke and report among them), then
/// resumed until it exits 0 with `complete: true`. Each must end where the uninterrupted run
/// ends, read from the fakes and moto (`check_providers`, `check_secrets_manager`): every
/// exposed key revoked exactly once, each after its typed word, no minted key left alive
/// outside a store, and the chain intact per tests/support/chain.rs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendor_breach_runbook_killed_at_ten_points_resumes_to_the_same_end() {
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
        "promoted",
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
    while points.len() < 10.min(r) {
        let n = 1 + (step * r / 11) % r;
        points
            .entry(n)
            .or_insert_with(|| events[n - 1]["type"].as_str().unwrap_or("?").to_string());
        step += 1;
        if step > 50 {
            break;
        }
    }
    assert!(points.len() >= 10, "only {r} records");

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
