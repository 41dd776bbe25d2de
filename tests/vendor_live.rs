//! The vendor-breach runbook live, end to end: the real binary, headless with the autopilot,
//! against moto_server (Secrets Manager in two regions) and stateful fakes of OpenAI,
//! Anthropic, Gemini and Braintrust (tests/support/fake_ai.rs). From inventory to report:
//! every exposed AI key replaced (OpenAI minted by API; Anthropic and Gemini made "in the
//! console" and piped in on stdin), every stored copy and Braintrust's org AI secrets
//! updated, the old keys deleted, deactivated or (Gemini, by hand) deleted in the console
//! after typed confirmations, the Usage panel fed by the providers' usage reports, and no
//! secret written anywhere. scripts/test installs moto[server].

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/fake_ai.rs"]
mod fake_ai;
#[path = "support/moto.rs"]
mod moto;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_ai::{AdminKeys, FakeAi, State};
use moto::Moto;

// Every value below is an obviously fake test key.
const OPENAI_ADMIN: &str = "sk-admin-test-openai-FAKE000000000000000001";
const ANTHROPIC_ADMIN: &str = "sk-ant-admin-test-FAKE0000000000000000002";
const BRAINTRUST_KEY: &str = "bt-test-braintrust-FAKE00000000000000003";

const OPENAI_PROD_OLD: &str = "sk-test-openai-prod-OLD-FAKE0000000000aaP1";
const OPENAI_EVAL_OLD: &str = "sk-test-openai-eval-OLD-FAKE0000000000aaE1";
const OPENAI_UNRELATED: &str = "sk-test-openai-laptop-FAKE000000000000ZZ99";
const ANTHROPIC_OLD: &str = "sk-ant-test-prod-OLD-FAKE00000000000000aaA1";
const ANTHROPIC_UNRELATED: &str = "sk-ant-test-sandbox-FAKE000000000000000ZZ98";
const ANTHROPIC_NEW: &str = "sk-ant-test-prod-NEW-FAKE00000000000000bbA2";
const GEMINI_OLD: &str = "AIzaSy-test-gemini-OLD-FAKE000000000000aaG1";
const GEMINI_NEW: &str = "AIzaSy-test-gemini-NEW-FAKE000000000000bbG2";
const STAGING_KEY: &str = "sk-test-openai-staging-FAKE0000000000000ZZ97";

const PROD_PROJECT: &str = "proj_ProdEXAMPLE01";
const EVAL_PROJECT: &str = "proj_EvalEXAMPLE02";
const OPENAI_PROD_ID: &str = "key_ProdOldFake7Kq2";
const OPENAI_EVAL_ID: &str = "key_EvalOldFake3Vx8";
const OPENAI_UNRELATED_ID: &str = "key_LaptopFake9Zz1";
const ANTHROPIC_OLD_ID: &str = "apikey_01ProdOldFake4Hn6";
const ANTHROPIC_UNRELATED_ID: &str = "apikey_01SandboxFake2Mm5";
const ANTHROPIC_NEW_ID: &str = "apikey_01ProdNewFake8Tt3";

/// The four exposed AI keys: openai-prod (a field of prod/ai/providers, the plain-text
/// legacy/billing/openai, Braintrust), anthropic-prod (a field of prod/ai/providers,
/// Braintrust), gemini-prod (eu-west-1), openai-eval.
const EXPOSED: usize = 4;

/// A run that takes longer than this is stuck (a normal one takes well under a minute,
/// even on a loaded 2-core machine).
const DEADLINE: Duration = Duration::from_secs(150);

/// The shipped runbook made runnable here: every key counts as exposed (the window starts
/// after moto's and the fakes' change times), the restart command is harmless.
fn runbook_copy(dir: &Path, name: &str) -> PathBuf {
    let src = std::fs::read_to_string(format!("runbooks/{name}.yaml")).unwrap();
    let mut out = String::new();
    let mut moved = (false, false);
    for line in src.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if t.starts_with("start: 20") {
            out.push_str(&format!("{indent}start: 2099-01-01T00:00:00Z\n"));
            moved.0 = true;
        } else if t.starts_with("run: kubectl") {
            out.push_str(&format!("{indent}run: echo restarted\n"));
            moved.1 = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert_eq!(
        moved,
        (true, true),
        "the runbook changed shape: fix runbook_copy"
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, out).unwrap();
    path
}

/// Secrets Manager as the runbook's drill section describes it, plus one secret out of
/// scope that must stay as it is.
async fn seed_secrets(moto: &Moto) {
    let us = moto.sm_client("us-east-1").await;
    let eu = moto.sm_client("eu-west-1").await;
    let put = |client: &aws_sdk_secretsmanager::Client, name: &str, value: String| {
        let req = client.create_secret().name(name).secret_string(value);
        async move { req.send().await.unwrap() }
    };
    let providers = serde_json::json!({
        "OPENAI_API_KEY": OPENAI_PROD_OLD,
        "ANTHROPIC_API_KEY": ANTHROPIC_OLD,
        "OPENAI_ORG_ID": "org-example",
    });
    // moto lists secrets in creation order, and the first copy found is where a new key is
    // staged. prod/ai/providers comes first on purpose: were the plain legacy copy the
    // primary, prod/ai/providers would get the new OpenAI key by PutSecretValue after the
    // Anthropic promotion moved its AWSCURRENT by UpdateSecretVersionStage, and moto 5 then
    // leaves two versions labelled AWSCURRENT (it does not track the moved label) — its gap,
    // not breachbook's.
    put(&us, "prod/ai/providers", providers.to_string()).await;
    put(&us, "legacy/billing/openai", OPENAI_PROD_OLD.to_string()).await;
    put(
        &us,
        "prod/ai/eval",
        serde_json::json!({"OPENAI_API_KEY": OPENAI_EVAL_OLD}).to_string(),
    )
    .await;
    put(
        &us,
        "staging/ai/openai",
        serde_json::json!({"OPENAI_API_KEY": STAGING_KEY}).to_string(),
    )
    .await;
    put(
        &eu,
        "prod/ai/gemini",
        serde_json::json!({"GEMINI_API_KEY": GEMINI_OLD}).to_string(),
    )
    .await;
}

/// The providers as they were before the breach: the exposed keys, one more key at OpenAI
/// and at Anthropic that is stored nowhere (listed, not exposed, not touched), Braintrust's
/// copies, and the attacker's recent calls in the usage reports.
fn seed_providers(st: &mut State) {
    st.openai_project(PROD_PROJECT, "Production");
    st.openai_project(EVAL_PROJECT, "Evals");
    st.openai_key(
        PROD_PROJECT,
        OPENAI_PROD_ID,
        "chat-api",
        OPENAI_PROD_OLD,
        Some("svc_acct_ProdEXAMPLE"),
    );
    st.openai_key(
        EVAL_PROJECT,
        OPENAI_EVAL_ID,
        "eval-runner",
        OPENAI_EVAL_OLD,
        Some("svc_acct_EvalEXAMPLE"),
    );
    st.openai_key(
        EVAL_PROJECT,
        OPENAI_UNRELATED_ID,
        "ada-laptop",
        OPENAI_UNRELATED,
        None,
    );
    st.anthropic_key(ANTHROPIC_OLD_ID, "summarizer", ANTHROPIC_OLD, "active");
    st.anthropic_key(
        ANTHROPIC_UNRELATED_ID,
        "sandbox",
        ANTHROPIC_UNRELATED,
        "active",
    );
    st.gemini_key(GEMINI_OLD);
    let month_ago = chrono::Utc::now() - chrono::Duration::days(30);
    st.braintrust_secret("OPENAI_API_KEY", "openai", OPENAI_PROD_OLD, month_ago);
    st.braintrust_secret("ANTHROPIC_API_KEY", "anthropic", ANTHROPIC_OLD, month_ago);
    // The attacker's bursts, a few minutes ago.
    st.openai_usage(OPENAI_PROD_ID, 6, 150);
    st.openai_usage(OPENAI_PROD_ID, 2, 90);
    st.openai_usage(OPENAI_EVAL_ID, 4, 3);
    st.anthropic_usage(ANTHROPIC_OLD_ID, 5, 12_000);
}

/// What the operator did while the run went on.
#[derive(Debug, Default)]
struct Operator {
    /// Keys pasted, by issuer ("Anthropic" / "Gemini"), in order.
    pasted: Vec<String>,
    /// Requests for a key made by hand the operator could not place.
    puzzled: Vec<String>,
    /// Times the journal asked for the old Gemini key to be deleted in the console.
    gemini_manual_revoke: u32,
    /// Other manual revocations asked for (none expected).
    other_manual_revoke: Vec<String>,
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
            } else if instructions.contains("holds no Google Cloud credentials") {
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
                if issuer == "Anthropic" {
                    if st.anthropic(ANTHROPIC_NEW_ID).is_none() {
                        st.anthropic_key(
                            ANTHROPIC_NEW_ID,
                            "breachbook-rotation",
                            ANTHROPIC_NEW,
                            "active",
                        );
                    }
                    ANTHROPIC_NEW
                } else {
                    if st.gemini(GEMINI_NEW).is_none() {
                        st.gemini_key(GEMINI_NEW);
                    }
                    GEMINI_NEW
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

/// Watches the journal: when breachbook asks for the old Gemini key to be deleted by hand,
/// deletes it in the fake's "console".
fn journal_watcher(
    state_dir: PathBuf,
    fake: Arc<Mutex<State>>,
    op: Arc<Mutex<Operator>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut seen = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let records = journal_events(&state_dir);
            for ev in records.iter().skip(seen) {
                if ev["type"] != "manual_revoke_needed" {
                    continue;
                }
                let cred = ev["credential"].as_str().unwrap_or_default().to_string();
                let mut o = op.lock().unwrap();
                if cred.starts_with("gemini/") {
                    o.gemini_manual_revoke += 1;
                    fake.lock().unwrap().delete_gemini_key(GEMINI_OLD);
                } else {
                    o.other_manual_revoke.push(cred);
                }
            }
            seen = seen.max(records.len());
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

/// The events of every journal in the state folder, in order (torn last lines skipped).
fn journal_events(state_dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(state_dir.join("incidents")) else {
        return out;
    };
    for e in rd.flatten() {
        let text = std::fs::read_to_string(e.path().join("journal.jsonl")).unwrap_or_default();
        for line in text.lines() {
            if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(line) {
                out.push(v["event"].take());
            }
        }
    }
    out
}

fn run_breachbook(
    state: &Path,
    runbook: &Path,
    moto: &Moto,
    fake: &FakeAi,
    op: Arc<Mutex<Operator>>,
) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_breachbook"));
    cmd.env("BREACHBOOK_STATE_DIR", state)
        .env("AWS_ACCESS_KEY_ID", moto::FAKE_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", moto::FAKE_SECRET_ACCESS_KEY)
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_CONFIG_FILE", state.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            state.join("no-aws-credentials"),
        )
        .env("BREACHBOOK_USAGE_POLL_SECS", "1")
        .env("NO_COLOR", "1")
        .envs(fake.env())
        .arg("--state-dir")
        .arg(state)
        .arg("run")
        .arg(runbook)
        .args(["--headless", "--autopilot", "--quiet-period", "2s"])
        .args(["--endpoint-url", &moto.endpoint])
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

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

async fn current(moto: &Moto, region: &str, name: &str) -> String {
    // Asked for by stage explicitly: moto's gap (without it, the old value may come back).
    moto.sm_client(region)
        .await
        .get_secret_value()
        .secret_id(name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_string()
}

/// Every version of a secret with its stages and, per field, which known key it holds —
/// for assertion messages (names the keys, never prints a value).
async fn history(moto: &Moto, region: &str, name: &str, known: &[(&str, &str)]) -> String {
    let sm = moto.sm_client(region).await;
    let versions = sm
        .list_secret_version_ids()
        .secret_id(name)
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    let mut out = format!("versions of {name}:\n");
    let mut vs: Vec<_> = versions.versions().to_vec();
    vs.sort_by_key(|v| v.created_date().map(|d| d.as_nanos()));
    for v in vs {
        let id = v.version_id().unwrap_or_default();
        let doc = sm
            .get_secret_value()
            .secret_id(name)
            .version_id(id)
            .send()
            .await
            .map(|o| o.secret_string().unwrap_or_default().to_string())
            .unwrap_or_default();
        let label = |value: &str| {
            known
                .iter()
                .find(|(_, k)| *k == value)
                .map(|(n, _)| n.to_string())
                .unwrap_or_else(|| "?".into())
        };
        let content = match serde_json::from_str::<serde_json::Value>(&doc) {
            Ok(serde_json::Value::Object(m)) => m
                .iter()
                .map(|(k, v)| format!("{k}={}", label(v.as_str().unwrap_or_default())))
                .collect::<Vec<_>>()
                .join(" "),
            _ => label(&doc),
        };
        out.push_str(&format!("  {id} {:?} {content}\n", v.version_stages()));
    }
    out
}

fn field(doc: &str, f: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(doc).unwrap();
    v[f].as_str().unwrap_or_default().to_string()
}

type Times = (
    String,
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Utc>,
);

/// The providers after the run: old keys dead, new keys live, Braintrust rewritten once
/// each, keys stored nowhere untouched. Returns the new OpenAI keys (prod, eval).
fn check_providers(st: &State, bt_before: &[Times]) -> (String, String) {
    for id in [OPENAI_PROD_ID, OPENAI_EVAL_ID] {
        assert!(st.openai(id).unwrap().deleted, "OpenAI {id} is not deleted");
    }
    assert!(
        !st.openai(OPENAI_UNRELATED_ID).unwrap().deleted,
        "a key stored nowhere was deleted"
    );
    assert_eq!(st.count_calls("OpenAI DELETE"), 2, "{:#?}", st.calls);
    let minted = st.minted_openai();
    assert_eq!(
        minted.len(),
        2,
        "one new OpenAI key per exposed one: {minted:#?}"
    );
    let new_prod = minted
        .iter()
        .find(|k| k.project == PROD_PROJECT)
        .unwrap()
        .value
        .clone();
    let new_eval = minted
        .iter()
        .find(|k| k.project == EVAL_PROJECT)
        .unwrap()
        .value
        .clone();
    assert!(minted.iter().all(|k| !k.deleted));
    assert_eq!(st.anthropic(ANTHROPIC_OLD_ID).unwrap().status, "inactive");
    assert_eq!(st.anthropic(ANTHROPIC_NEW_ID).unwrap().status, "active");
    assert_eq!(
        st.anthropic(ANTHROPIC_UNRELATED_ID).unwrap().status,
        "active"
    );
    assert!(
        !st.gemini(GEMINI_OLD).unwrap().alive,
        "the old Gemini key still works"
    );
    assert!(st.gemini(GEMINI_NEW).unwrap().alive);
    for (name, secret_before, updated_before) in bt_before {
        let s = st.ai_secret(name).unwrap();
        assert!(
            s.secret_updated_at > *secret_before,
            "{name}: secret_updated_at did not move"
        );
        assert!(
            s.updated_at > *updated_before,
            "{name}: updated_at did not move"
        );
        assert_eq!(s.writes, 1, "{name}: written {} times", s.writes);
    }
    assert_eq!(st.ai_secret("OPENAI_API_KEY").unwrap().value, new_prod);
    assert_eq!(
        st.ai_secret("ANTHROPIC_API_KEY").unwrap().value,
        ANTHROPIC_NEW
    );
    assert!(
        st.usage_served >= 1,
        "no usage report was asked for the old keys"
    );
    (new_prod, new_eval)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendor_breach_runbook_runs_live_end_to_end() {
    let moto = Moto::start();
    seed_secrets(&moto).await;
    let fake = FakeAi::start(AdminKeys {
        openai: OPENAI_ADMIN.into(),
        anthropic: ANTHROPIC_ADMIN.into(),
        braintrust: BRAINTRUST_KEY.into(),
        braintrust_org: "example".into(),
    })
    .await;
    seed_providers(&mut fake.state());
    let bt_before: Vec<Times> = fake
        .state()
        .braintrust_secrets
        .iter()
        .map(|s| (s.name.clone(), s.secret_updated_at, s.updated_at))
        .collect();

    let tmp = tempfile::tempdir().unwrap();
    let state_dir = tmp.path().join("state");
    let rb = runbook_copy(tmp.path(), "ai-provider-keys-vendor-breach");
    let op = Arc::new(Mutex::new(Operator::default()));
    // The fakes answer from their own threads; this thread only waits for the process.
    let run =
        tokio::task::block_in_place(|| run_breachbook(&state_dir, &rb, &moto, &fake, op.clone()));
    eprintln!("breachbook run took {:.1} s", run.elapsed.as_secs_f64());
    let o = std::mem::take(&mut *op.lock().unwrap());
    let st_problems = fake.state().problems.clone();

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
        ["Anthropic", "Gemini"],
        "one key made by hand per console issuer"
    );
    assert!(
        o.gemini_manual_revoke >= 1,
        "the old Gemini key was never handed to the console"
    );
    assert!(
        o.other_manual_revoke.is_empty(),
        "{:?}",
        o.other_manual_revoke
    );
    assert!(
        st_problems.is_empty(),
        "requests the fakes refused: {st_problems:#?}"
    );

    // ---- at the providers
    let (new_prod, new_eval) = check_providers(&fake.state(), &bt_before);

    // ---- in Secrets Manager (AWSCURRENT asked for explicitly)
    let known = [
        ("openai-old", OPENAI_PROD_OLD),
        ("openai-new", new_prod.as_str()),
        ("anthropic-old", ANTHROPIC_OLD),
        ("anthropic-new", ANTHROPIC_NEW),
        ("org", "org-example"),
    ];
    let providers = current(&moto, "us-east-1", "prod/ai/providers").await;
    let ok = field(&providers, "OPENAI_API_KEY") == new_prod
        && field(&providers, "ANTHROPIC_API_KEY") == ANTHROPIC_NEW;
    assert!(
        ok,
        "prod/ai/providers does not hold both new keys as AWSCURRENT\n{}\n{}",
        history(&moto, "us-east-1", "prod/ai/providers", &known).await,
        run.dump()
    );
    assert_eq!(
        field(&providers, "OPENAI_ORG_ID"),
        "org-example",
        "other fields are kept"
    );
    assert_eq!(
        current(&moto, "us-east-1", "legacy/billing/openai").await,
        new_prod
    );
    assert_eq!(
        field(
            &current(&moto, "us-east-1", "prod/ai/eval").await,
            "OPENAI_API_KEY"
        ),
        new_eval
    );
    assert_eq!(
        field(
            &current(&moto, "eu-west-1", "prod/ai/gemini").await,
            "GEMINI_API_KEY"
        ),
        GEMINI_NEW
    );
    assert_eq!(
        field(
            &current(&moto, "us-east-1", "staging/ai/openai").await,
            "OPENAI_API_KEY"
        ),
        STAGING_KEY,
        "a secret out of scope was changed"
    );

    // ---- the journal: usage fed the Usage panel; each revoke was typed
    let events = journal_events(&state_dir);
    let usage: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "usage_observed")
        .collect();
    assert!(
        usage
            .iter()
            .any(|e| e["sample"]["generation"] == "old" && e["sample"]["ok"].as_u64() > Some(0)),
        "no usage of an old key reached the journal"
    );
    assert!(
        usage
            .iter()
            .any(|e| e["sample"]["generation"] == "new" && e["sample"]["ok"].as_u64() > Some(0)),
        "no usage of a new key reached the journal"
    );
    let discovered_exposed: BTreeSet<String> = events
        .iter()
        .filter(|e| e["type"] == "credential_discovered" && e["credential"]["exposed"] == true)
        .filter_map(|e| e["credential"]["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(discovered_exposed.len(), EXPOSED, "{discovered_exposed:?}");
    let confirmed: BTreeSet<String> = events
        .iter()
        .filter(|e| e["type"] == "confirmation_given" && e["action"] == "revoke")
        .filter_map(|e| e["credential"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        confirmed, discovered_exposed,
        "one typed confirmation per revoked key"
    );
    let revoked: BTreeSet<String> = events
        .iter()
        .filter(|e| e["type"] == "revoked")
        .filter_map(|e| e["credential"].as_str().map(str::to_string))
        .collect();
    assert_eq!(revoked, discovered_exposed);
    assert!(
        !events.iter().any(|e| e["type"] == "override_given"),
        "the autopilot never overrides"
    );

    // ---- the report, and nothing secret anywhere in the state folder
    let report = summary["report"].as_str().expect("a report path");
    let report = std::fs::read_to_string(report).expect("the report exists");
    for old in [OPENAI_PROD_OLD, OPENAI_EVAL_OLD, ANTHROPIC_OLD, GEMINI_OLD] {
        // The hint breachbook shows: the first 3 characters, an ellipsis, the last 4.
        let hint = format!("{}…{}", &old[..3], &old[old.len() - 4..]);
        assert!(report.contains(&hint), "the report lacks {hint}:\n{report}");
    }
    let mut all = String::new();
    for f in walk(&state_dir) {
        all.push_str(&String::from_utf8_lossy(&std::fs::read(&f).unwrap()));
    }
    let secrets = [
        OPENAI_ADMIN,
        ANTHROPIC_ADMIN,
        BRAINTRUST_KEY,
        OPENAI_PROD_OLD,
        OPENAI_EVAL_OLD,
        OPENAI_UNRELATED,
        ANTHROPIC_OLD,
        ANTHROPIC_UNRELATED,
        ANTHROPIC_NEW,
        GEMINI_OLD,
        GEMINI_NEW,
        new_prod.as_str(),
        new_eval.as_str(),
        moto::FAKE_SECRET_ACCESS_KEY,
    ];
    for s in secrets {
        // The whole value, and its middle (a hint shows only the head and the last four).
        let middle = &s[8..s.len() - 4];
        assert!(
            !all.contains(s),
            "a key value was written to the state folder"
        );
        assert!(
            !all.contains(middle),
            "part of a key value ({middle}) was written to the state folder"
        );
    }
    eprintln!(
        "vendor_live: {} journal events, {} usage_observed, {} Gemini manual-revoke asks, run {:.1} s",
        events.len(),
        usage.len(),
        o.gemini_manual_revoke,
        run.elapsed.as_secs_f64()
    );
}
