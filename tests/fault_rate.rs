//! The IAM runbook, live, over 100 IAM users whose access keys are stored in Secrets
//! Manager, with the fault-injecting proxy between breachbook and moto at a 10 % fault rate
//! (issue 14, item 6): throttling in each service's own shape, HTTP 500 and 503,
//! connections reset before an answer (with and without the request taking effect),
//! answers slower than breachbook's attempt timeout, and answers that arrive after the
//! client gave up on a request that took effect. The run must still finish with, read from
//! moto directly (not through breachbook):
//!
//! - no key lost: each secret's AWSCURRENT holds its user's one active key;
//! - no version doubled: each secret has exactly one version more than before, AWSCURRENT,
//!   the one before AWSPREVIOUS, no AWSPENDING left;
//! - no key orphaned: each user holds the new key and nothing else (the exposed one
//!   deleted, or at most left inactive);
//!
//! and every retry the SDK made (the proxy sees it as `amz-sdk-request: attempt=N`, N ≥ 2)
//! journaled as `call_retried` (the usage poller's, which go on until the process exits,
//! up to the last record). The faults are drawn from a seeded generator, one draw a
//! request, so a run gets the same sequence of faults (which request gets which still
//! depends on the order concurrent requests arrive in). A few faults are also pinned to the
//! calls where they hurt most (CreateAccessKey has no idempotency token), so every run
//! meets them.
//!
//! The attempt timeout is 0.7 s here (`BREACHBOOK_AWS_ATTEMPT_TIMEOUT_MS`; 10 s in the
//! product) so slow answers cost seconds, not minutes. scripts/test installs moto[server].

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fault_proxy::{Fault, FaultProxy, Rule, When};
use moto::Moto;

const USERS: usize = 100;
const SEED: u64 = 0x1414;
/// Past the 0.7 s attempt timeout of this test.
const SLOW: Duration = Duration::from_secs(2);

fn user(i: usize) -> String {
    format!("fr-user-{i:03}")
}

fn secret(user: &str) -> String {
    format!("fault/iam/{user}")
}

/// The faults and their shares of the 10 %: one draw a request, split in bands.
fn mix() -> Vec<(&'static str, f64, Fault)> {
    vec![
        ("throttled", 0.025, Fault::Throttle),
        ("HTTP 500", 0.010, Fault::InternalError),
        ("HTTP 503", 0.015, Fault::Unavailable),
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

/// The shipped IAM runbook over `users`: every key counts as exposed (the window starts in
/// the future of moto's clock), the restart command is harmless.
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
        "  secrets_manager:\n    regions: [us-east-1]\n    name_prefixes: [fault/iam/]\n\n",
    );
    let mut out = String::new();
    for line in format!("{head}\n{scope}settings:\n{tail}").lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if t.starts_with("start: 20") {
            out.push_str(&format!("{indent}start: 2099-01-01T00:00:00Z\n"));
        } else if t.starts_with("run: kubectl") {
            out.push_str(&format!("{indent}run: echo restarted\n"));
        } else if t.starts_with("concurrency:") {
            out.push_str(&format!("{indent}concurrency: 16\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = dir.join("fault-rate.yaml");
    std::fs::write(&path, out).unwrap();
    path
}

/// 100 users, each with one access key stored in its own secret; returns user → old key id.
async fn seed(moto: &Moto) -> BTreeMap<String, String> {
    let iam = moto.iam_client().await;
    let sm = moto.sm_client("us-east-1").await;
    let mut set = tokio::task::JoinSet::new();
    let mut old = BTreeMap::new();
    for i in 0..USERS {
        let (iam, sm) = (iam.clone(), sm.clone());
        set.spawn(async move {
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
            (u, k.access_key_id().to_string())
        });
        if set.len() >= 8 {
            let (u, k) = set.join_next().await.unwrap().unwrap();
            old.insert(u, k);
        }
    }
    while let Some(r) = set.join_next().await {
        let (u, k) = r.unwrap();
        old.insert(u, k);
    }
    old
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// What moto holds for one user and its secret, and what is wrong with it.
struct Found {
    lost: bool,
    doubled: bool,
    orphans: usize,
    problems: Vec<String>,
}

async fn check_user(
    iam: &aws_sdk_iam::Client,
    sm: &aws_sdk_secretsmanager::Client,
    u: &str,
    old: &str,
) -> Found {
    let mut problems = Vec::new();
    let keys = iam.list_access_keys().user_name(u).send().await.unwrap();
    let mut active = Vec::new();
    let mut others = Vec::new();
    for k in keys.access_key_metadata() {
        let id = k.access_key_id().unwrap().to_string();
        let is_active = k.status().map(|s| s.as_str()) == Some("Active");
        if is_active && id != old {
            active.push(id);
        } else if id == old && !is_active {
            // The exposed key deactivated and not deleted: allowed.
        } else {
            others.push(format!(
                "{id} ({})",
                k.status().map(|s| s.as_str()).unwrap_or("?")
            ));
        }
    }
    let current = sm
        .get_secret_value()
        .secret_id(secret(u))
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(current.secret_string().unwrap()).unwrap();
    let stored = doc["AccessKeyId"].as_str().unwrap_or_default().to_string();
    let has_secret = doc["SecretAccessKey"]
        .as_str()
        .is_some_and(|s| !s.is_empty());
    let lost = !(active.len() == 1 && active[0] == stored && has_secret);
    if lost {
        problems.push(format!(
            "{u}: AWSCURRENT holds {stored}, the active new keys are {active:?}"
        ));
    }
    let orphans = others.len() + active.len().saturating_sub(1);
    if orphans > 0 {
        problems.push(format!(
            "{u}: keys besides the new one: {others:?}, active new keys {active:?}"
        ));
    }
    let versions = sm
        .list_secret_version_ids()
        .secret_id(secret(u))
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    let labels: Vec<(String, Vec<String>)> = versions
        .versions()
        .iter()
        .map(|v| {
            (
                v.version_id().unwrap_or_default().to_string(),
                v.version_stages().to_vec(),
            )
        })
        .collect();
    let with = |l: &str| {
        labels
            .iter()
            .filter(|(_, s)| s.iter().any(|x| x == l))
            .count()
    };
    let doubled = labels.len() != 2
        || with("AWSCURRENT") != 1
        || with("AWSPREVIOUS") != 1
        || with("AWSPENDING") != 0;
    if doubled {
        problems.push(format!("{u}: versions {labels:?}"));
    }
    Found {
        lost,
        doubled,
        orphans,
        problems,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_keys_rotate_through_ten_percent_faults_none_lost_doubled_or_orphaned() {
    let moto = Moto::start();
    let old = seed(&moto).await;
    let users: Vec<String> = old.keys().cloned().collect();

    let proxy = FaultProxy::start(&moto.endpoint);
    // Pinned first: the lost answers that hurt most, met by every run.
    let pinned = [
        Rule::operation(
            "CreateAccessKey",
            When::Nth(5),
            Fault::ForwardThenDelay(SLOW),
        ),
        Rule::operation("CreateAccessKey", When::Nth(30), Fault::ForwardThenDrop),
        Rule::operation(
            "PutSecretValue",
            When::Nth(10),
            Fault::ForwardThenDelay(SLOW),
        ),
        Rule::operation(
            "UpdateSecretVersionStage",
            When::Nth(10),
            Fault::ForwardThenDrop,
        ),
        Rule::operation("DeleteAccessKey", When::Nth(10), Fault::ForwardThenDrop),
    ];
    for r in pinned {
        proxy.add(r);
    }
    let mut from = 0.0;
    let mut kinds = BTreeMap::new();
    for (name, share, fault) in mix() {
        let i = proxy.add(Rule::any(
            When::Band {
                from,
                to: from + share,
                seed: SEED,
            },
            fault,
        ));
        kinds.insert(i, name);
        from += share;
    }
    assert!((from - 0.10).abs() < 1e-9, "the mix adds up to 10 %");

    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let rb = runbook(tmp.path(), &users);
    let started = Instant::now();
    let out = tokio::task::spawn_blocking({
        let state = state.clone();
        let endpoint = proxy.endpoint.clone();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_breachbook"))
                .env("BREACHBOOK_STATE_DIR", &state)
                .env("AWS_ACCESS_KEY_ID", moto::FAKE_ACCESS_KEY_ID)
                .env("AWS_SECRET_ACCESS_KEY", moto::FAKE_SECRET_ACCESS_KEY)
                .env("AWS_REGION", "us-east-1")
                .env_remove("AWS_PROFILE")
                .env("AWS_CONFIG_FILE", state.join("no-aws-config"))
                .env(
                    "AWS_SHARED_CREDENTIALS_FILE",
                    state.join("no-aws-credentials"),
                )
                .env("BREACHBOOK_USAGE_POLL_SECS", "1")
                .env("BREACHBOOK_AWS_ATTEMPT_TIMEOUT_MS", "700")
                .env("NO_COLOR", "1")
                .arg("--state-dir")
                .arg(&state)
                .arg("run")
                .arg(&rb)
                .args(["--headless", "--autopilot", "--quiet-period", "1s"])
                .args(["--endpoint-url", &endpoint])
                .stdin(Stdio::null())
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail = |s: &str| {
        s.chars()
            .rev()
            .take(4000)
            .collect::<String>()
            .chars()
            .rev()
            .collect::<String>()
    };
    assert!(
        out.status.success(),
        "run failed ({})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        tail(&stdout),
        tail(&stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["complete"], true, "{stdout}");
    assert_eq!(summary["exposed"], USERS, "{stdout}");

    // Stop injecting before reading moto back (the checks go to moto directly anyway).
    proxy.clear_rules();
    let log = proxy.log();
    let iam = moto.iam_client().await;
    let sm = moto.sm_client("us-east-1").await;
    let (mut lost, mut doubled, mut orphaned) = (0, 0, 0);
    let mut problems = Vec::new();
    for (u, k) in &old {
        let f = check_user(&iam, &sm, u, k).await;
        lost += usize::from(f.lost);
        doubled += usize::from(f.doubled);
        orphaned += f.orphans;
        problems.extend(f.problems);
    }

    // Every SDK retry that reached the proxy is journaled.
    let journals: Vec<PathBuf> = walk(&state)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "journal.jsonl"))
        .collect();
    assert_eq!(journals.len(), 1, "{journals:?}");
    let journal = std::fs::read_to_string(&journals[0]).unwrap();
    let mut journaled: BTreeMap<String, usize> = BTreeMap::new();
    for line in journal.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let e = v.get("event").unwrap_or(&v);
        if e["type"] == "call_retried" {
            *journaled
                .entry(e["call"].as_str().unwrap().to_string())
                .or_default() += 1;
            assert!(e["why"].as_str().is_some_and(|w| !w.is_empty()), "{line}");
            assert!(e["attempt"].as_u64().is_some_and(|a| a >= 2), "{line}");
        }
    }
    let mut retried_at_proxy: BTreeMap<String, usize> = BTreeMap::new();
    for l in log.iter().filter(|l| l.attempt.is_some_and(|a| a >= 2)) {
        *retried_at_proxy
            .entry(l.operation.clone().unwrap_or_else(|| "?".into()))
            .or_default() += 1;
    }

    // The figures.
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for l in &log {
        if let Some((i, f)) = &l.fault {
            let name = kinds.get(i).map(|n| n.to_string()).unwrap_or_else(|| {
                format!("pinned: {f:?} on {}", l.operation.as_deref().unwrap_or("?"))
            });
            *by_kind.entry(name).or_default() += 1;
        }
    }
    let faults: usize = by_kind.values().sum();
    println!(
        "fault rate: {USERS} keys, {} requests, {faults} faults ({:.1} %), {} s",
        log.len(),
        100.0 * faults as f64 / log.len().max(1) as f64,
        took.as_secs()
    );
    for (k, n) in &by_kind {
        println!("  {n:4}  {k}");
    }
    println!(
        "  retries journaled: {} (the proxy saw {}), lost {lost}, doubled {doubled}, orphaned {orphaned}",
        journaled.values().sum::<usize>(),
        retried_at_proxy.values().sum::<usize>()
    );
    println!("  journaled by call: {journaled:?}");
    // FAULT_RATE_KEEP=DIR keeps the journal and the proxy's log there, to look into a run.
    if let Ok(keep) = std::env::var("FAULT_RATE_KEEP") {
        std::fs::copy(&journals[0], format!("{keep}/journal.jsonl")).unwrap();
        let lines: Vec<String> = log
            .iter()
            .map(|l| {
                format!(
                    "{} {} {:?} {:?} {:?} {:?}",
                    l.seq,
                    l.at.as_millis(),
                    l.operation,
                    l.attempt,
                    l.invocation,
                    l.fault
                )
            })
            .collect();
        std::fs::write(format!("{keep}/proxy.log"), lines.join("\n")).unwrap();
    }

    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}\n\nproxy log (faults):\n{}",
        problems.len(),
        problems.join("\n"),
        log.iter()
            .filter(|l| l.fault.is_some())
            .map(|l| format!(
                "#{} {:?} {:?} attempt {:?}",
                l.seq, l.operation, l.fault, l.attempt
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!((lost, doubled, orphaned), (0, 0, 0));
    // Every kind of fault was met, and the rate is what it says.
    for (_, name, _) in mix().iter().map(|(n, s, f)| (s, n, f)) {
        assert!(
            by_kind.get(*name).is_some_and(|n| *n > 0),
            "no {name}: {by_kind:?}"
        );
    }
    let rate = faults as f64 / log.len() as f64;
    assert!((0.07..0.14).contains(&rate), "fault rate {rate}");
    // The usage poller goes on polling until the process exits: a poll retried after the
    // last record cannot be journaled. Its calls (and only those) may be short.
    let polled = ["GetAccessKeyLastUsed", "LookupEvents"];
    for call in polled {
        assert!(
            journaled.get(call).unwrap_or(&0) <= retried_at_proxy.get(call).unwrap_or(&0),
            "{call}: {journaled:?} vs {retried_at_proxy:?}"
        );
    }
    let strict = |m: &BTreeMap<String, usize>| {
        m.iter()
            .filter(|(c, _)| !polled.contains(&c.as_str()))
            .map(|(c, n)| (c.clone(), *n))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        strict(&journaled),
        strict(&retried_at_proxy),
        "each retry the proxy saw is journaled as call_retried, by call"
    );
    // Nothing secret in the state folder.
    for p in walk(&state) {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        assert!(
            !text.contains("SecretAccessKey\":\""),
            "a key pair was written down in {}",
            p.display()
        );
    }
}
