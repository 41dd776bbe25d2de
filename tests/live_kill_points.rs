//! Issue 14, item 7: kill and resume, live. The IAM runbook with its Secrets Manager part
//! runs against moto, is stopped dead right after record N (`--pause-after-records N`) and
//! SIGKILLed, then `resume --headless --autopilot` until it exits 0 with `complete: true`.
//! Each run must reach the end state of an uninterrupted one, read from moto directly (not
//! through breachbook): each user holds exactly one active key, the one in AWSCURRENT, and
//! nothing else (the exposed key deleted, or at most inactive); in the journal no key is
//! revoked twice and no revocation goes out before its typed word (`confirmation_given`);
//! the hash chain is intact per the independent checker tests/support/chain.rs.
//!
//! moto's state is reset between points with `POST /moto-api/reset` and seeded again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/chain.rs"]
mod chain;
#[path = "support/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use moto::Moto;
use serde_json::Value;

const USERS: usize = 3;
/// At least this many kill points.
const POINTS: usize = 20;

fn user(i: usize) -> String {
    format!("lk-user-{i}")
}

fn secret(user: &str) -> String {
    format!("livekill/iam/{user}")
}

/// The shipped IAM runbook over `users`, each key stored in its own secret; every key counts
/// as exposed (the window starts in the future of moto's clock); the restart is harmless.
fn runbook(dir: &Path, users: &[String]) -> PathBuf {
    let src = std::fs::read_to_string("runbooks/aws-iam-access-key-leak.yaml").unwrap();
    let (head, rest) = src.split_once("\nscope:\n").unwrap();
    let (_, tail) = rest.split_once("\nsettings:\n").unwrap();
    let mut scope = format!(
        "scope:\n  iam:\n    users: [{}]\n    stored_in:\n",
        users.join(", ")
    );
    for u in users {
        scope.push_str(&format!("      {u}: {}\n", secret(u)));
    }
    scope.push_str(
        "  secrets_manager:\n    regions: [us-east-1]\n    name_prefixes: [livekill/iam/]\n\n",
    );
    let mut out = String::new();
    for line in format!("{head}\n{scope}settings:\n{tail}").lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if t.starts_with("start: 20") {
            out.push_str(&format!("{indent}start: 2099-01-01T00:00:00Z\n"));
        } else if t.starts_with("run: kubectl") {
            out.push_str(&format!("{indent}run: echo restarted\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = dir.join("live-kill.yaml");
    std::fs::write(&path, out).unwrap();
    path
}

/// Empties moto (`POST /moto-api/reset`).
fn reset(moto: &Moto) {
    let addr = moto.endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "reset: {answer}");
}

/// `USERS` users, each with one access key stored in its own secret; user → old key id.
async fn seed(moto: &Moto) -> BTreeMap<String, String> {
    let iam = moto.iam_client().await;
    let sm = moto.sm_client("us-east-1").await;
    let mut old = BTreeMap::new();
    for i in 0..USERS {
        let u = user(i);
        iam.create_user().user_name(&u).send().await.unwrap();
        let k = iam.create_access_key().user_name(&u).send().await.unwrap();
        let k = k.access_key().unwrap();
        let value = serde_json::json!({
            "AccessKeyId": k.access_key_id(),
            "SecretAccessKey": k.secret_access_key(),
        })
        .to_string();
        sm.create_secret()
            .name(secret(&u))
            .secret_string(value)
            .send()
            .await
            .unwrap();
        old.insert(u, k.access_key_id().to_string());
    }
    old
}

/// What is wrong in moto for one user and its secret (empty: the uninterrupted end state).
async fn check_user(
    iam: &aws_sdk_iam::Client,
    sm: &aws_sdk_secretsmanager::Client,
    u: &str,
    old: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let keys = iam.list_access_keys().user_name(u).send().await.unwrap();
    let mut active = Vec::new();
    let mut others = Vec::new();
    for k in keys.access_key_metadata() {
        let id = k.access_key_id().unwrap().to_string();
        let is_active = k.status().map(|s| s.as_str()) == Some("Active");
        if is_active && id != old {
            active.push(id);
        } else if id != old || is_active {
            others.push(id);
        }
    }
    let current = sm
        .get_secret_value()
        .secret_id(secret(u))
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(current.secret_string().unwrap()).unwrap();
    let stored = doc["AccessKeyId"].as_str().unwrap_or_default().to_string();
    if !(active.len() == 1 && active[0] == stored) {
        problems.push(format!(
            "{u}: AWSCURRENT holds {stored}, the active new keys are {active:?} (lost or orphaned)"
        ));
    }
    if !others.is_empty() {
        problems.push(format!("{u}: keys besides the new one: {others:?}"));
    }
    let versions = sm
        .list_secret_version_ids()
        .secret_id(secret(u))
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    // A run killed after it staged a new key but before it journaled that, leaves that
    // version behind when the resume mints and stages again (the unjournaled key is deleted
    // at IAM by the resume's reconcile). Secrets Manager cannot delete one version, and a
    // version without labels is deprecated (removed by the service in time), so the end
    // state allows such versions: none with a label but AWSCURRENT and AWSPREVIOUS (the
    // seeded one), and none holding a key that is still alive.
    let alive: Vec<String> = keys
        .access_key_metadata()
        .iter()
        .filter(|k| k.status().map(|s| s.as_str()) == Some("Active"))
        .filter_map(|k| k.access_key_id().map(str::to_string))
        .collect();
    let mut previous = 0;
    for v in versions.versions() {
        let id = v.version_id().unwrap_or_default();
        let stages = v.version_stages();
        if stages.iter().any(|s| s == "AWSCURRENT") {
            continue;
        }
        if stages.iter().any(|s| s == "AWSPREVIOUS") {
            previous += 1;
            continue;
        }
        if !stages.is_empty() {
            problems.push(format!("{u}: version {id} has labels {stages:?}"));
        }
        let held = sm
            .get_secret_value()
            .secret_id(secret(u))
            .version_id(id)
            .send()
            .await
            .unwrap();
        let doc: Value = serde_json::from_str(held.secret_string().unwrap_or("{}")).unwrap();
        let key = doc["AccessKeyId"].as_str().unwrap_or_default();
        if alive.iter().any(|a| a == key) {
            problems.push(format!(
                "{u}: deprecated version {id} holds {key}, which is still active (orphaned)"
            ));
        }
    }
    if previous != 1 {
        problems.push(format!(
            "{u}: {previous} AWSPREVIOUS versions, not the seeded one: {:?}",
            versions
                .versions()
                .iter()
                .map(|v| (v.version_id().unwrap_or_default(), v.version_stages()))
                .collect::<Vec<_>>()
        ));
    }
    let pending = versions
        .versions()
        .iter()
        .filter(|v| v.version_stages().iter().any(|s| s == "AWSPENDING"))
        .count();
    if pending != 0 {
        problems.push(format!("{u}: {pending} AWSPENDING version(s) left"));
    }
    problems
}

fn command(state: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_breachbook"));
    c.env("BREACHBOOK_STATE_DIR", state)
        .env("AWS_ACCESS_KEY_ID", moto::FAKE_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", moto::FAKE_SECRET_ACCESS_KEY)
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", state.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            state.join("no-aws-credentials"),
        )
        // No usage polls: they would interleave records between runs.
        .env("BREACHBOOK_USAGE_POLL_SECS", "3600")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn summary(&self) -> Value {
        let last = self.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or(Value::Null)
    }
}

fn finish(mut c: Command, limit: Duration) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = c
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            let _ = child.wait();
            break -2;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        code,
        stdout: std::fs::read_to_string(out).unwrap_or_default(),
        stderr: std::fs::read_to_string(err).unwrap_or_default(),
    }
}

const RUN_ARGS: [&str; 4] = ["--headless", "--autopilot", "--quiet-period", "1s"];

fn incident_dirs(state: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(state.join("incidents"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn journal_events(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("journal.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].clone())
        .collect()
}

/// The journal's own rules: no key revoked (or deleted) twice, no revocation or deletion
/// sent before its typed word for that key (`confirmation_given`, action `revoke` or
/// `delete`).
fn journal_problems(events: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut done: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let ty = e["type"].as_str().unwrap_or_default();
        let word = match ty {
            "revoke_requested" | "revoked" => "revoke",
            "delete_requested" | "deleted" => "delete",
            _ => continue,
        };
        let cred = e["credential"].as_str().unwrap_or_default().to_string();
        let worded = events[..i].iter().any(|p| {
            p["type"] == "confirmation_given"
                && p["credential"] == cred.as_str()
                && p["action"] == word
        });
        if !worded {
            problems.push(format!(
                "record {}: {ty} {cred} without its confirmation_given ({word}) before it",
                i + 1
            ));
        }
        if ty == "revoked" || ty == "deleted" {
            *done.entry((cred, ty)).or_default() += 1;
        }
    }
    for ((cred, ty), n) in done {
        if n != 1 {
            problems.push(format!("{cred}: {ty} {n} times"));
        }
    }
    problems
}

/// Record numbers (1-based) to kill after: the first of each kind that matters, then the
/// rest spread evenly over the records but the last.
fn kill_points(events: &[Value], want: usize) -> Vec<(usize, String)> {
    let kinds = [
        "issue_requested",
        "issued",
        "staged",
        "verified",
        "promoted",
        "location_updated",
        "confirmation_given",
        "revoke_requested",
        "revoked",
        "delete_requested",
        "deleted",
        "report_written",
    ];
    let ty = |n: usize| events[n - 1]["type"].as_str().unwrap_or("?").to_string();
    let mut points: BTreeMap<usize, String> = BTreeMap::new();
    for k in kinds {
        if let Some(i) = events.iter().position(|e| e["type"] == k) {
            points.insert(i + 1, k.to_string());
        }
    }
    // Not the last record: `run_stopped`, written as the process ends, after which there is
    // no run left to pause.
    let r = events.len() - 1;
    let mut step = 0;
    while points.len() < want.min(r) {
        let n = 1 + (step * 7919) % r;
        points.entry(n).or_insert_with(|| ty(n));
        step += 1;
    }
    points.into_iter().collect()
}

#[test]
fn iam_and_secrets_manager_killed_at_twenty_points_resume_to_the_uninterrupted_end() {
    let started = Instant::now();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let moto = Moto::start();
    let iam = rt.block_on(moto.iam_client());
    let sm = rt.block_on(moto.sm_client("us-east-1"));
    let users: Vec<String> = (0..USERS).map(user).collect();
    let tmp = tempfile::tempdir().unwrap();
    let rb = runbook(tmp.path(), &users);
    let rb = rb.to_str().unwrap().to_string();

    // The uninterrupted run.
    let old = rt.block_on(seed(&moto));
    let base = tmp.path().join("base");
    let mut c = command(&base);
    c.arg("run")
        .arg(&rb)
        .args(RUN_ARGS)
        .args(["--endpoint-url", &moto.endpoint]);
    let baseline = finish(c, Duration::from_secs(120));
    assert_eq!(baseline.code, 0, "{}\n{}", baseline.stdout, baseline.stderr);
    let want = baseline.summary();
    assert_eq!(want["complete"], true, "{}", baseline.stdout);
    let mut problems = Vec::new();
    for (u, k) in &old {
        problems.extend(rt.block_on(check_user(&iam, &sm, u, k)));
    }
    assert!(problems.is_empty(), "the uninterrupted run: {problems:?}");
    let events = journal_events(&incident_dirs(&base)[0]);
    assert!(
        journal_problems(&events).is_empty(),
        "{:?}",
        journal_problems(&events)
    );
    let points = kill_points(&events, POINTS);
    assert!(points.len() >= POINTS, "only {} records", events.len());

    let mut converged = 0;
    let mut resumes = 0;
    for (n, ty) in &points {
        reset(&moto);
        let old = rt.block_on(seed(&moto));
        let state = tmp.path().join(format!("kill-{n}"));
        let mut c = command(&state);
        c.arg("run")
            .arg(&rb)
            .args(RUN_ARGS)
            .args(["--pause-after-records", &n.to_string()])
            .args(["--endpoint-url", &moto.endpoint])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let paused = BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.starts_with("paused after record"));
        // SIGKILL: no destructor, no flush, no goodbye.
        child.kill().unwrap();
        let _ = child.wait();
        assert!(
            paused,
            "the run with a pause at {n} ({ty}) ended before pausing"
        );
        let dirs = incident_dirs(&state);
        assert_eq!(dirs.len(), 1, "kill at {n} ({ty}): {dirs:?}");
        let id = dirs[0].file_name().unwrap().to_str().unwrap().to_string();
        let mut last = None;
        for _ in 0..3 {
            let mut c = command(&state);
            c.args(["resume", &id])
                .args(RUN_ARGS)
                .args(["--endpoint-url", &moto.endpoint]);
            let r = finish(c, Duration::from_secs(120));
            resumes += 1;
            let done = r.code == 0 && r.summary()["complete"] == true;
            last = Some(r);
            if done {
                break;
            }
        }
        let r = last.unwrap();
        assert!(
            r.code == 0 && r.summary()["complete"] == true,
            "kill at record {n} ({ty}): resume did not finish (exit {}):\n{}\n{}",
            r.code,
            r.stdout,
            r.stderr
        );
        let got = r.summary();
        for k in ["exposed", "revoked", "complete"] {
            assert_eq!(got[k], want[k], "kill at record {n} ({ty}): {k}: {got}");
        }
        let mut problems = Vec::new();
        for (u, k) in &old {
            problems.extend(rt.block_on(check_user(&iam, &sm, u, k)));
        }
        let journal = dirs[0].join("journal.jsonl");
        problems.extend(journal_problems(&journal_events(&dirs[0])));
        let report = chain::check_file(&journal);
        if !report.is_intact() {
            problems.push(format!("chain broken: {:?}", report.problems));
        }
        assert!(
            problems.is_empty(),
            "kill at record {n} ({ty}):\n{}",
            problems.join("\n")
        );
        converged += 1;
    }
    println!(
        "kill points: IAM+SM {converged}/{} converged ({} records in the uninterrupted run, {resumes} resumes, {} s)",
        points.len(),
        events.len(),
        started.elapsed().as_secs()
    );
    assert_eq!(converged, points.len());
}
