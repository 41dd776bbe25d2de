//! The IAM runbook live, the real binary against moto AND LocalStack (tests/support/emulator.rs),
//! for what moto's kindness used to hide (issue 11): a pending version someone else put on a
//! secret is never taken silently, and breachbook takes its own off when a key is skipped;
//! two same-named secrets in two regions each keep their own key; a mint whose answer is
//! lost, or whose key could not be stored, leaves no key nobody holds (a fault-injecting
//! proxy in front of the emulator); a revocation also denies the sessions made before it;
//! CloudTrail usage reaches the journal (wiremock LookupEvents); a region that cannot be
//! listed fails the inventory and blocks revoke without the override; exit codes; a resume
//! after a crash during make-room.
//!
//! Every key here is the emulators' invention or obviously fake.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/emulator.rs"]
mod emulator;
#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/localstack.rs"]
mod localstack;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/ports.rs"]
#[allow(clippy::duplicate_mod)] // the support modules keep their own copies
mod ports;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_iam::types::StatusType;
use emulator::Emulator;
use fault_proxy::{Fault, FaultProxy, Rule, When};
use serde_json::Value;

/// A run that takes longer is stuck.
const DEADLINE: Duration = Duration::from_secs(240);

/// What a run of the binary left.
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn dump(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    fn summary(&self) -> Value {
        serde_json::from_str(self.stdout.lines().last().unwrap_or("{}")).unwrap_or(Value::Null)
    }
}

/// The binary, on `state`, against the emulator's account, with `endpoint` (the emulator's,
/// or a proxy in front of it) when `with_endpoint`.
fn command(emu: &Emulator, state: &Path, extra_env: &[(&str, String)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_breachbook"));
    for name in emulator::UNSET {
        c.env_remove(name);
    }
    c.envs(emu.env(state))
        .envs(extra_env.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .env("BREACHBOOK_STATE_DIR", state)
        .arg("--state-dir")
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs the binary to its end (killed past [`DEADLINE`]).
fn finish(mut c: Command) -> Out {
    let child = c.spawn().unwrap();
    let started = Instant::now();
    let out = wait_with_deadline(child, started);
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn wait_with_deadline(mut child: std::process::Child, started: Instant) -> std::process::Output {
    use std::io::Read;
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        b
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::process::Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// `breachbook run RUNBOOK --headless ARGS --endpoint-url ENDPOINT`, off the async runtime.
async fn run(emu: &Emulator, state: &Path, endpoint: &str, runbook: &Path, args: &[&str]) -> Out {
    run_env(emu, state, endpoint, runbook, args, &[]).await
}

async fn run_env(
    emu: &Emulator,
    state: &Path,
    endpoint: &str,
    runbook: &Path,
    args: &[&str],
    extra_env: &[(&str, String)],
) -> Out {
    let mut c = command(emu, state, extra_env);
    c.arg("run")
        .arg(runbook)
        .arg("--headless")
        .args(args)
        .args(["--endpoint-url", endpoint]);
    tokio::task::spawn_blocking(move || finish(c))
        .await
        .unwrap()
}

/// A scope, for [`runbook`]: IAM users, where each one's key pair is stored, and the
/// Secrets Manager regions.
struct Scope<'a> {
    users: &'a [&'a str],
    stored_in: &'a [(&'a str, &'a str)],
    regions: &'a [&'a str],
}

/// The shipped IAM runbook made runnable here: every key counts as exposed (the window starts
/// in the future of the emulator's clock), the restart command is harmless, two attempts per
/// call (so a fault that lasts is given up on quickly), and the scope given.
fn runbook(dir: &Path, scope: &Scope) -> PathBuf {
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/aws-iam-access-key-leak.yaml"),
    )
    .unwrap();
    let (head, rest) = src.split_once("\nscope:\n").unwrap();
    let (_, tail) = rest.split_once("\nsettings:\n").unwrap();
    let mut scope_text = String::from("\nscope:\n  iam:\n");
    scope_text.push_str(&format!("    users: [{}]\n", scope.users.join(", ")));
    scope_text.push_str("    stored_in:\n");
    for (u, s) in scope.stored_in {
        scope_text.push_str(&format!("      {u}: {s}\n"));
    }
    scope_text.push_str(&format!(
        "  secrets_manager:\n    regions: [{}]\n    name_prefixes: [prod/iam/]\n",
        scope.regions.join(", ")
    ));
    let mut out = String::new();
    for line in format!("{head}{scope_text}\nsettings:\n  max_attempts: 2\n{tail}").lines() {
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
    let path = dir.join("iam.yaml");
    std::fs::write(&path, out).unwrap();
    path
}

/// The runbook's usual scope: two users, each key pair stored in `prod/iam/<user>`.
const USERS: [&str; 2] = ["ci-deployer", "reporting-bot"];

fn usual_scope() -> Scope<'static> {
    Scope {
        users: &USERS,
        stored_in: &[
            ("ci-deployer", "prod/iam/ci-deployer"),
            ("reporting-bot", "prod/iam/reporting-bot"),
        ],
        regions: &["us-east-1"],
    }
}

/// Creates `user` with one access key, stored as a key pair in `secret` in `region`.
/// Returns the key's id.
async fn seed_user(emu: &Emulator, user: &str, region: &str, secret: &str) -> String {
    let iam = emu.iam();
    iam.create_user().user_name(user).send().await.unwrap();
    let k = iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap();
    let k = k.access_key().unwrap();
    let value = serde_json::json!({
        "AccessKeyId": k.access_key_id(),
        "SecretAccessKey": k.secret_access_key(),
    })
    .to_string();
    emu.sm(region)
        .create_secret()
        .name(secret)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    k.access_key_id().to_string()
}

/// The runbook's two users, seeded; their old key ids.
async fn seed_usual(emu: &Emulator) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for u in USERS {
        out.push((
            u,
            seed_user(emu, u, "us-east-1", &format!("prod/iam/{u}")).await,
        ));
    }
    out
}

/// A user's access keys: id → active.
async fn keys_of(emu: &Emulator, user: &str) -> Vec<(String, bool)> {
    emu.iam()
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key_metadata()
        .iter()
        .map(|k| {
            (
                k.access_key_id().unwrap_or_default().to_string(),
                k.status() == Some(&StatusType::Active),
            )
        })
        .collect()
}

/// A secret's AWSCURRENT value (asked for by stage: moto's gap).
async fn current(emu: &Emulator, region: &str, name: &str) -> Value {
    let v = emu
        .sm(region)
        .get_secret_value()
        .secret_id(name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap();
    serde_json::from_str(v.secret_string().unwrap()).unwrap()
}

/// A secret's labelled versions: version id → labels.
async fn labels(emu: &Emulator, region: &str, name: &str) -> Vec<(String, Vec<String>)> {
    let d = emu
        .sm(region)
        .describe_secret()
        .secret_id(name)
        .send()
        .await
        .unwrap();
    let mut v: Vec<(String, Vec<String>)> = d
        .version_ids_to_stages()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, l)| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// Every journal event of the one incident in `state`.
fn journal(state: &Path) -> Vec<Value> {
    let Ok(dirs) = std::fs::read_dir(state.join("incidents")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in dirs.flatten() {
        let Ok(text) = std::fs::read_to_string(d.path().join("journal.jsonl")) else {
            continue;
        };
        for line in text.lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                out.push(v["event"].clone());
            }
        }
    }
    out
}

fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

/// The incident's id in `state`.
fn incident_id(state: &Path) -> String {
    std::fs::read_dir(state.join("incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .to_string_lossy()
        .into_owned()
}

/// Everything written in the state folder, as text.
fn everything_in(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    out
}

/// The confirmation word of a key id: its last 4 characters, lower-cased.
fn word(id: &str) -> String {
    id[id.len() - 4..].to_lowercase()
}

/// A whole run of the IAM runbook: every old key replaced, revoked, its older sessions
/// denied, deleted; exit 0.
async fn the_iam_runbook_runs_to_the_end(emu: Emulator) {
    let old = seed_usual(&emu).await;
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let rb = runbook(tmp.path(), &usual_scope());
    let before = chrono::Utc::now() - chrono::Duration::seconds(2);
    let out = run(
        &emu,
        &state,
        &emu.endpoint,
        &rb,
        &["--autopilot", "--quiet-period", "2s"],
    )
    .await;
    let after = chrono::Utc::now() + chrono::Duration::seconds(2);
    assert_eq!(out.code, Some(0), "{}: {}", emu.name(), out.dump());
    let summary = out.summary();
    assert_eq!(summary["complete"], true, "{}", out.dump());
    assert_eq!(summary["revoked"], 2, "{}", out.dump());
    let events = journal(&state);
    for (user, old_id) in &old {
        let keys = keys_of(&emu, user).await;
        assert_eq!(keys.len(), 1, "{}: {user}: {keys:?}", emu.name());
        assert_ne!(&keys[0].0, old_id);
        let v = current(&emu, "us-east-1", &format!("prod/iam/{user}")).await;
        assert_eq!(
            v["AccessKeyId"],
            keys[0].0.as_str(),
            "{}: {user}",
            emu.name()
        );
        assert!(
            labels(&emu, "us-east-1", &format!("prod/iam/{user}"))
                .await
                .iter()
                .all(|(_, l)| !l.iter().any(|x| x == "AWSPENDING")),
            "no AWSPENDING left behind"
        );
        // The revocation also denies the sessions made before it.
        let policy = emu
            .iam()
            .get_user_policy()
            .user_name(*user)
            .policy_name("BreachbookRevokeOlderSessions")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {user}: no session deny: {e:?}", emu.name()));
        let doc = policy.policy_document();
        let doc = if doc.starts_with('{') {
            doc.to_string()
        } else {
            percent_decode(doc)
        };
        let doc: Value = serde_json::from_str(&doc).unwrap();
        let st = &doc["Statement"];
        assert_eq!(st["Effect"], "Deny", "{doc}");
        assert_eq!(st["Action"], "*", "{doc}");
        let t = st["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
            .as_str()
            .unwrap();
        let t = chrono::DateTime::parse_from_rfc3339(t).unwrap();
        assert!(
            t >= before && t <= after,
            "deny time {t} outside the run ({before} – {after})"
        );
    }
    let ended = of_type(&events, "sessions_ended");
    assert!(ended.len() >= 2, "{ended:?}");
    assert!(
        ended[0]["what"]
            .as_str()
            .unwrap()
            .contains("BreachbookRevokeOlderSessions")
    );
    // Nothing secret anywhere in the state folder; the report names the sessions ended.
    let all = everything_in(&state);
    assert!(
        !all.contains("SecretAccessKey\":\""),
        "a key pair was written down"
    );
    let report = std::fs::read_to_string(summary["report"].as_str().unwrap()).unwrap();
    assert!(report.contains("## Sessions of revoked keys"), "{report}");
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_the_iam_runbook_runs_to_the_end_and_denies_older_sessions() {
    the_iam_runbook_runs_to_the_end(Emulator::moto()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_the_iam_runbook_runs_to_the_end_and_denies_older_sessions() {
    the_iam_runbook_runs_to_the_end(Emulator::localstack("end-to-end")).await;
}

/// A version id someone else staged (a person, a script): a UUID, as the SDKs make.
const FOREIGN: &str = "3b1f0c2e-5a7d-4e9b-8c6f-7d2e9a41c0de";

/// ci-deployer's secret gets a pending version breachbook did not put there.
async fn stage_foreign(emu: &Emulator) {
    emu.sm("us-east-1")
        .put_secret_value()
        .secret_id("prod/iam/ci-deployer")
        .client_request_token(FOREIGN)
        .secret_string(
            r#"{"AccessKeyId":"AKIAEXAMPLEFOREIGN01","SecretAccessKey":"fake-someone-elses"}"#,
        )
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
}

/// The autopilot stops at a pending version it did not stage, and leaves it alone; a script
/// takes it over with its typed word, journaled, and the rotation ends.
async fn a_foreign_pending_version_is_never_taken_silently(emu: Emulator, emu2: Emulator) {
    seed_usual(&emu).await;
    stage_foreign(&emu).await;
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let rb = runbook(tmp.path(), &usual_scope());
    let out = run(&emu, &state, &emu.endpoint, &rb, &["--autopilot"]).await;
    assert_eq!(out.code, Some(4), "{}: {}", emu.name(), out.dump());
    assert!(
        out.stderr.contains("never takes one over") && out.stderr.contains(FOREIGN),
        "{}",
        out.dump()
    );
    // Left alone: still pending, still its value; nothing minted for ci-deployer.
    let l = labels(&emu, "us-east-1", "prod/iam/ci-deployer").await;
    assert!(
        l.iter()
            .any(|(v, s)| v == FOREIGN && s.iter().any(|x| x == "AWSPENDING")),
        "{}: {l:?}",
        emu.name()
    );
    let pending = emu
        .sm("us-east-1")
        .get_secret_value()
        .secret_id("prod/iam/ci-deployer")
        .version_stage("AWSPENDING")
        .send()
        .await
        .unwrap();
    assert!(
        pending
            .secret_string()
            .unwrap()
            .contains("AKIAEXAMPLEFOREIGN01")
    );
    assert_eq!(
        keys_of(&emu, "ci-deployer").await.len(),
        1,
        "nothing minted"
    );
    let events = journal(&state);
    let found = of_type(&events, "pending_found");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["version"], FOREIGN);
    assert!(
        found[0]["whose"]
            .as_str()
            .unwrap()
            .contains("no automatic rotation is on"),
        "{found:?}"
    );

    // A person's script takes it over, typing the version's own word (in a world of its
    // own: the run above left its own staged keys behind, as a stopped run does).
    let emu = emu2;
    let old = seed_usual(&emu).await;
    stage_foreign(&emu).await;
    let tmp2 = tempfile::tempdir().unwrap();
    let state2 = tmp2.path().join("state");
    let script = tmp2.path().join("take-over.yaml");
    std::fs::write(
        &script,
        format!(
            "- tick_all: declare\n- run: declare\n- run: inventory\n- tick_all: plan-two-key-limit\n- run: plan-two-key-limit\n- run: create\n- take_over: {{credential: ci-deployer, word: nope}}\n- take_over: {{credential: ci-deployer, word: {}}}\n- autopilot\n",
            word(FOREIGN)
        ),
    )
    .unwrap();
    let out = run(
        &emu,
        &state2,
        &emu.endpoint,
        &rb,
        &["--script", script.to_str().unwrap(), "--quiet-period", "1s"],
    )
    .await;
    assert!(
        out.summary()["complete"] == true,
        "{}: {}",
        emu.name(),
        out.dump()
    );
    let events = journal(&state2);
    let given = of_type(&events, "confirmation_given")
        .into_iter()
        .filter(|e| e["action"] == "take over pending version")
        .count();
    assert_eq!(given, 1, "the take-over is journaled");
    assert_eq!(
        of_type(&events, "confirmation_refused")
            .iter()
            .filter(|e| e["action"] == "take over pending version")
            .count(),
        1,
        "the wrong word was refused and journaled"
    );
    let keys = keys_of(&emu, "ci-deployer").await;
    assert_eq!(keys.len(), 1);
    assert_ne!(keys[0].0, old[0].1);
    let v = current(&emu, "us-east-1", "prod/iam/ci-deployer").await;
    assert_eq!(v["AccessKeyId"], keys[0].0.as_str());
    let l = labels(&emu, "us-east-1", "prod/iam/ci-deployer").await;
    assert!(
        !l.iter().any(|(v, _)| v == FOREIGN),
        "{}: the foreign version lost its label: {l:?}",
        emu.name()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_a_foreign_pending_version_is_never_taken_silently() {
    a_foreign_pending_version_is_never_taken_silently(Emulator::moto(), Emulator::moto()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_foreign_pending_version_is_never_taken_silently() {
    a_foreign_pending_version_is_never_taken_silently(
        Emulator::localstack("foreign"),
        Emulator::localstack("take-over"),
    )
    .await;
}

/// A key skipped after its new key was staged: breachbook's AWSPENDING leaves the secret (a
/// stale one blocks every later RotateSecret), and the new key is deleted. The script ends
/// with steps open: exit 3.
async fn a_key_skipped_after_staging_leaves_no_pending_version(emu: Emulator) {
    let old = seed_usual(&emu).await;
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let rb = runbook(tmp.path(), &usual_scope());
    let script = tmp.path().join("skip.yaml");
    std::fs::write(
        &script,
        "- tick_all: declare\n- run: declare\n- run: inventory\n- tick_all: plan-two-key-limit\n- run: plan-two-key-limit\n- run: create\n- skip_credential: {credential: ci-deployer, why: rotated by the platform team instead}\n",
    )
    .unwrap();
    let out = run(
        &emu,
        &state,
        &emu.endpoint,
        &rb,
        &["--script", script.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.code, Some(3), "{}: {}", emu.name(), out.dump());
    let l = labels(&emu, "us-east-1", "prod/iam/ci-deployer").await;
    assert!(
        l.iter().all(|(_, s)| !s.iter().any(|x| x == "AWSPENDING")),
        "{}: breachbook's AWSPENDING is still there: {l:?}",
        emu.name()
    );
    assert_eq!(
        keys_of(&emu, "ci-deployer").await,
        vec![(old[0].1.clone(), true)],
        "{}: the skipped key's new key was not deleted",
        emu.name()
    );
    let events = journal(&state);
    assert_eq!(of_type(&events, "pending_removed").len(), 1);
    assert_eq!(of_type(&events, "stray_key_discarded").len(), 1);
    // The other key goes on: staged.
    let v = emu
        .sm("us-east-1")
        .get_secret_value()
        .secret_id("prod/iam/reporting-bot")
        .version_stage("AWSPENDING")
        .send()
        .await
        .unwrap();
    assert!(v.secret_string().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_a_key_skipped_after_staging_leaves_no_pending_version() {
    a_key_skipped_after_staging_leaves_no_pending_version(Emulator::moto()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_key_skipped_after_staging_leaves_no_pending_version() {
    a_key_skipped_after_staging_leaves_no_pending_version(Emulator::localstack("skip")).await;
}

/// Two users whose key pairs are stored under one secret name, one per region: each key is
/// found where its own pair is, and each region's secret ends up holding its own user's new
/// key.
async fn same_named_secrets_in_two_regions_keep_their_own_keys(emu: Emulator) {
    let us_old = seed_user(&emu, "us-deployer", "us-east-1", "prod/iam/deployer").await;
    let eu_old = seed_user(&emu, "eu-deployer", "eu-west-1", "prod/iam/deployer").await;
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let scope = Scope {
        users: &["us-deployer", "eu-deployer"],
        stored_in: &[
            ("us-deployer", "prod/iam/deployer"),
            ("eu-deployer", "prod/iam/deployer"),
        ],
        regions: &["us-east-1", "eu-west-1"],
    };
    let rb = runbook(tmp.path(), &scope);
    // Listed: each key with its own region's copy.
    let mut c = command(&emu, &state, &[]);
    c.arg("inventory")
        .arg(&rb)
        .arg("--json")
        .args(["--endpoint-url", &emu.endpoint]);
    let inv = tokio::task::spawn_blocking(move || finish(c))
        .await
        .unwrap();
    assert_eq!(inv.code, Some(0), "{}", inv.dump());
    let records: Vec<Value> = inv
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{}", inv.dump());
    for (old, region) in [(&us_old, "us-east-1"), (&eu_old, "eu-west-1")] {
        let r = records
            .iter()
            .find(|r| r["key_id"] == old.as_str())
            .unwrap();
        let regions: Vec<&str> = r["locations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["kind"] == "secrets_manager")
            .map(|l| l["region"].as_str().unwrap())
            .collect();
        assert_eq!(regions, [region], "{}: {r}", emu.name());
    }
    // Rotated: each region's secret holds its own user's new key.
    let out = run(
        &emu,
        &state,
        &emu.endpoint,
        &rb,
        &["--autopilot", "--quiet-period", "1s"],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}: {}", emu.name(), out.dump());
    for (user, region) in [("us-deployer", "us-east-1"), ("eu-deployer", "eu-west-1")] {
        let keys = keys_of(&emu, user).await;
        assert_eq!(keys.len(), 1, "{user}: {keys:?}");
        let v = current(&emu, region, "prod/iam/deployer").await;
        assert_eq!(
            v["AccessKeyId"],
            keys[0].0.as_str(),
            "{}: {region} holds another user's key",
            emu.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_same_named_secrets_in_two_regions_keep_their_own_keys() {
    same_named_secrets_in_two_regions_keep_their_own_keys(Emulator::moto()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_same_named_secrets_in_two_regions_keep_their_own_keys() {
    same_named_secrets_in_two_regions_keep_their_own_keys(Emulator::localstack("regions")).await;
}

/// At the end of a run through the proxy: each user holds exactly one key, its new one, and
/// every key made and not kept was found and deleted, journaled.
async fn no_orphan_left(emu: &Emulator, old: &[(&str, String)], out: &Out, state: &Path) {
    assert_eq!(out.code, Some(0), "{}: {}", emu.name(), out.dump());
    for (user, old_id) in old {
        let keys = keys_of(emu, user).await;
        assert_eq!(keys.len(), 1, "{}: {user} holds {keys:?}", emu.name());
        assert_ne!(&keys[0].0, old_id);
        let v = current(emu, "us-east-1", &format!("prod/iam/{user}")).await;
        assert_eq!(v["AccessKeyId"], keys[0].0.as_str());
    }
    let events = journal(state);
    assert!(
        !of_type(&events, "stray_key_discarded").is_empty(),
        "no discard journaled"
    );
}

/// CreateAccessKey reaches IAM, then its answer is lost (a reset; or held past the client's
/// timeout): the key exists and nobody holds its secret. The next attempt finds and deletes
/// it before minting again.
async fn a_mint_whose_answer_is_lost_leaves_no_orphan(emu: Emulator, fault: Fault) {
    let old = seed_usual(&emu).await;
    let proxy = FaultProxy::start(&emu.endpoint);
    proxy.add(Rule::operation("CreateAccessKey", When::Nth(1), fault));
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let rb = runbook(tmp.path(), &usual_scope());
    let out = run(
        &emu,
        &state,
        &proxy.endpoint,
        &rb,
        &["--autopilot", "--quiet-period", "1s"],
    )
    .await;
    no_orphan_left(&emu, &old, &out, &state).await;
    let events = journal(&state);
    assert_eq!(of_type(&events, "stray_key_found").len(), 1, "{events:#?}");
    // Three mints reached IAM: one lost, one for each user kept.
    let mints = proxy.requests_for("CreateAccessKey");
    assert_eq!(mints.len(), 3, "{}", proxy.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_a_mint_whose_answer_is_lost_leaves_no_orphan() {
    a_mint_whose_answer_is_lost_leaves_no_orphan(Emulator::moto(), Fault::ForwardThenDrop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_mint_whose_answer_is_lost_leaves_no_orphan() {
    a_mint_whose_answer_is_lost_leaves_no_orphan(
        Emulator::localstack("mint-lost"),
        Fault::ForwardThenDrop,
    )
    .await;
}

/// Held past breachbook's 30 s operation timeout: the mint times out after taking effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_a_mint_that_times_out_leaves_no_orphan() {
    a_mint_whose_answer_is_lost_leaves_no_orphan(
        Emulator::moto(),
        Fault::ForwardThenDelay(Duration::from_secs(35)),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_mint_that_times_out_leaves_no_orphan() {
    a_mint_whose_answer_is_lost_leaves_no_orphan(
        Emulator::localstack("mint-timeout"),
        Fault::ForwardThenDelay(Duration::from_secs(35)),
    )
    .await;
}

/// Secrets Manager refuses every write of the first staging (500s past the SDK's and the
/// engine's retries): the new keys are deleted at once, the closing words say so, and the
/// retry mints new ones.
async fn a_refused_store_write_deletes_the_new_key(emu: Emulator) {
    let old = seed_usual(&emu).await;
    let proxy = FaultProxy::start(&emu.endpoint);
    // 2 users × 2 engine attempts (max_attempts: 2) × 3 SDK attempts.
    proxy.add(Rule::operation(
        "PutSecretValue",
        When::FirstN(12),
        Fault::InternalError,
    ));
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let rb = runbook(tmp.path(), &usual_scope());
    let out = run(
        &emu,
        &state,
        &proxy.endpoint,
        &rb,
        &["--autopilot", "--quiet-period", "1s"],
    )
    .await;
    no_orphan_left(&emu, &old, &out, &state).await;
    let events = journal(&state);
    let failed: Vec<String> = of_type(&events, "rotation_failed")
        .iter()
        .map(|e| e["why"].as_str().unwrap().to_string())
        .collect();
    assert!(
        failed
            .iter()
            .any(|w| w.contains("could not be stored as pending")
                && w.contains("was deleted at AWS IAM; retry mints another")),
        "{failed:#?}"
    );
    assert!(
        !failed.iter().any(|w| w.contains("retry mints nothing new")),
        "an untrue closing message: {failed:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_a_refused_store_write_deletes_the_new_key() {
    a_refused_store_write_deletes_the_new_key(Emulator::moto()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_refused_store_write_deletes_the_new_key() {
    a_refused_store_write_deletes_the_new_key(Emulator::localstack("store-refused")).await;
}

/// Two of three regions cannot be listed: the inventory step fails naming both, and the
/// autopilot stops before anything is revoked. A script that skips the step goes on; its
/// revoke is refused without the override and done with it, and the report lists it.
async fn a_failing_region_fails_the_inventory_and_blocks_revoke(emu: Emulator) {
    let old = seed_usual(&emu).await;
    let proxy = FaultProxy::start(&emu.endpoint);
    for region in ["eu-west-1", "ap-southeast-2"] {
        proxy.add(Rule::operation_in(
            "ListSecrets",
            region,
            When::Always,
            Fault::Unavailable,
        ));
    }
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let scope = Scope {
        regions: &["us-east-1", "eu-west-1", "ap-southeast-2"],
        ..usual_scope()
    };
    let rb = runbook(tmp.path(), &scope);
    let out = run(&emu, &state, &proxy.endpoint, &rb, &["--autopilot"]).await;
    assert_eq!(out.code, Some(3), "{}: {}", emu.name(), out.dump());
    let events = journal(&state);
    let failed = of_type(&events, "step_failed");
    let why = failed
        .iter()
        .find(|e| e["step"] == "inventory")
        .map(|e| e["why"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("the inventory step did not fail: {}", out.dump()));
    assert!(
        why.contains("eu-west-1") && why.contains("ap-southeast-2"),
        "one message names every failed source: {why}"
    );
    for (user, id) in &old {
        assert_eq!(
            keys_of(&emu, user).await,
            vec![(id.clone(), true)],
            "{user}: nothing revoked, nothing minted"
        );
    }

    // Going on without the full inventory: skipped (journaled), then each revoke needs the
    // override, typed and journaled.
    let tmp2 = tempfile::tempdir().unwrap();
    let state2 = tmp2.path().join("state");
    let script = tmp2.path().join("partial.yaml");
    std::fs::write(
        &script,
        format!(
            "- tick_all: declare\n- run: declare\n- run: inventory\n- skip_step: {{step: inventory, why: two regions are down; rotating what was found}}\n- tick_all: plan-two-key-limit\n- run: plan-two-key-limit\n- run: create\n- run: verify\n- run: deploy\n- run: restart-jobs\n- revoke: {{credential: ci-deployer, word: {}}}\n- revoke: {{credential: reporting-bot, word: {}, override: true}}\n",
            word(&old[0].1),
            word(&old[1].1)
        ),
    )
    .unwrap();
    let out = run(
        &emu,
        &state2,
        &proxy.endpoint,
        &rb,
        &["--script", script.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.code, Some(4), "{}: {}", emu.name(), out.dump());
    assert!(
        out.stdout.contains("every inventory source was listed"),
        "{}",
        out.dump()
    );
    let active = |keys: Vec<(String, bool)>, id: &str| keys.iter().any(|(k, a)| k == id && *a);
    assert!(
        active(keys_of(&emu, "ci-deployer").await, &old[0].1),
        "revoked without the override"
    );
    assert!(
        !active(keys_of(&emu, "reporting-bot").await, &old[1].1),
        "the override did not revoke"
    );
    let events = journal(&state2);
    let overrides = of_type(&events, "override_given");
    assert_eq!(overrides.len(), 1);
    assert!(
        overrides[0]["failed_checks"]
            .to_string()
            .contains("every inventory source was listed")
    );
    let id = incident_id(&state2);
    let mut c = command(&emu, &state2, &[]);
    c.args(["report", &id]);
    let report = tokio::task::spawn_blocking(move || finish(c))
        .await
        .unwrap();
    assert!(
        report.stdout.contains("**OVERRIDE**")
            && report.stdout.contains("Inventory: **INCOMPLETE**"),
        "{}",
        report.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_a_failing_region_fails_the_inventory_and_blocks_revoke() {
    a_failing_region_fails_the_inventory_and_blocks_revoke(Emulator::moto()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_a_failing_region_fails_the_inventory_and_blocks_revoke() {
    a_failing_region_fails_the_inventory_and_blocks_revoke(Emulator::localstack("region-down"))
        .await;
}

/// `run --headless` exits 0 only when the incident is complete: a script that ends early
/// exits 3, a script naming a key that is not there exits 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_headless_exits_non_zero_when_incomplete() {
    let emu = Emulator::moto();
    seed_usual(&emu).await;
    let tmp = tempfile::tempdir().unwrap();
    let rb = runbook(tmp.path(), &usual_scope());
    let early = tmp.path().join("early.yaml");
    std::fs::write(
        &early,
        "- tick_all: declare\n- run: declare\n- run: inventory\n",
    )
    .unwrap();
    let out = run(
        &emu,
        &tmp.path().join("s1"),
        &emu.endpoint,
        &rb,
        &["--script", early.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.code, Some(3), "{}", out.dump());
    assert_eq!(out.summary()["complete"], false);
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "- run: declare\n- skip_credential: {credential: nobody, why: x}\n",
    )
    .unwrap();
    let out = run(
        &emu,
        &tmp.path().join("s2"),
        &emu.endpoint,
        &rb,
        &["--script", bad.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.code, Some(2), "{}", out.dump());
}

/// A crash right after the make-room word was journaled, before the inactive key was
/// deleted: `resume --headless --autopilot` makes the room, mints and finishes, as the
/// screen would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_resume_after_a_crash_during_make_room_finishes() {
    // One user, so the journal is the same record for record from run to run.
    let scope = Scope {
        users: &["ci-deployer"],
        stored_in: &[("ci-deployer", "prod/iam/ci-deployer")],
        regions: &["us-east-1"],
    };
    let seed = |emu: Emulator| async move {
        let old = seed_user(&emu, "ci-deployer", "us-east-1", "prod/iam/ci-deployer").await;
        let iam = emu.iam();
        let spare = iam
            .create_access_key()
            .user_name("ci-deployer")
            .send()
            .await
            .unwrap()
            .access_key()
            .unwrap()
            .access_key_id()
            .to_string();
        iam.update_access_key()
            .user_name("ci-deployer")
            .access_key_id(&spare)
            .status(StatusType::Inactive)
            .send()
            .await
            .unwrap();
        (emu, old, spare)
    };
    // No usage polls (they would interleave records).
    let env = [("BREACHBOOK_USAGE_POLL_SECS", "3600".to_string())];
    // Where the make-room word lands, in a run that goes through.
    let (emu, _, _) = seed(Emulator::moto()).await;
    let tmp = tempfile::tempdir().unwrap();
    let rb = runbook(tmp.path(), &scope);
    let first = tmp.path().join("first");
    let out = run_env(
        &emu,
        &first,
        &emu.endpoint,
        &rb,
        &["--autopilot", "--quiet-period", "1s"],
        &env,
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.dump());
    let events = journal(&first);
    let at = events
        .iter()
        .position(|e| e["type"] == "confirmation_given" && e["action"] == "delete inactive key")
        .expect("the make-room word")
        + 1;
    drop(emu);

    // The same again, stopped dead right after that record, and killed.
    let (emu, old, spare) = seed(Emulator::moto()).await;
    let state = tmp.path().join("crashed");
    let mut c = command(&emu, &state, &env);
    c.arg("run")
        .arg(&rb)
        .args(["--headless", "--autopilot", "--quiet-period", "1s"])
        .args(["--pause-after-records", &at.to_string()])
        .args(["--endpoint-url", &emu.endpoint]);
    let mut child = c.spawn().unwrap();
    let started = Instant::now();
    loop {
        let n = journal(&state).len();
        if n >= at {
            std::thread::sleep(Duration::from_millis(300));
            break;
        }
        assert!(started.elapsed() < DEADLINE, "never paused");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let events = journal(&state);
    assert!(
        of_type(&events, "room_made").is_empty(),
        "stopped before the room was made"
    );
    let id = incident_id(&state);
    let mut c = command(&emu, &state, &env);
    c.args([
        "resume",
        &id,
        "--headless",
        "--autopilot",
        "--quiet-period",
        "1s",
    ])
    .args(["--endpoint-url", &emu.endpoint]);
    let out = tokio::task::spawn_blocking(move || finish(c))
        .await
        .unwrap();
    assert_eq!(out.code, Some(0), "{}", out.dump());
    assert!(!out.stdout.contains("already running"), "{}", out.dump());
    let keys: BTreeSet<String> = keys_of(&emu, "ci-deployer")
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(!keys.contains(&old) && !keys.contains(&spare), "{keys:?}");
}

/// A refused connection names the endpoint it tried, and does not send the operator to log
/// in; the exit code says breachbook could not do its job (1).
#[test]
fn a_refused_connection_names_the_endpoint() {
    // Free now, and below the ephemeral range, so no wiremock or proxy of another test in
    // this binary is handed it meanwhile (tests/support/ports.rs).
    let port = ports::free_server_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .env("BREACHBOOK_STATE_DIR", tmp.path())
        .env("AWS_ACCESS_KEY_ID", moto::FAKE_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", moto::FAKE_SECRET_ACCESS_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", tmp.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", tmp.path().join("none"))
        .env_remove("AWS_PROFILE")
        .args([
            "inventory",
            "aws-iam-access-key-leak",
            "--endpoint-url",
            &endpoint,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("could not reach AWS at {endpoint}")),
        "{err}"
    );
    assert!(!err.contains("sso login"), "{err}");
}

/// LookupEvents as CloudTrail answers it (awsJson1_1, `X-Amz-Target:
/// CloudTrail_20131101.LookupEvents`; `Events[]` with `EventTime` in epoch seconds and
/// `CloudTrailEvent` a JSON string; source: aws/api-models-aws@56c8953
/// `cloudtrail/service/2013-11-01/cloudtrail-2013-11-01.json`, as in tests/cloudtrail_wiremock.rs), for whichever access key the request asks about: two
/// calls that worked and one refused (`AccessDenied`), stamped the moment it is asked, so a
/// key still used after its replacement was promoted shows as such.
struct Trail;

impl wiremock::Respond for Trail {
    fn respond(&self, req: &wiremock::Request) -> wiremock::ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let key = body["LookupAttributes"][0]["AttributeValue"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let now = chrono::Utc::now();
        let event = |id: &str, ip: &str, agent: &str, error: Option<&str>| {
            let mut detail = serde_json::json!({
                "eventVersion": "1.09",
                "eventTime": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "eventSource": "s3.amazonaws.com",
                "eventName": "ListBuckets",
                "sourceIPAddress": ip,
                "userAgent": agent,
                "userIdentity": {"type": "IAMUser", "accessKeyId": key},
            });
            if let Some(code) = error {
                detail["errorCode"] = serde_json::json!(code);
                detail["errorMessage"] = serde_json::json!("Access Denied");
            }
            serde_json::json!({
                "EventId": format!("{id}-{}", now.timestamp_millis()),
                "EventName": "ListBuckets",
                "ReadOnly": "true",
                "AccessKeyId": key,
                "EventTime": now.timestamp() as f64,
                "EventSource": "s3.amazonaws.com",
                "Resources": [],
                "CloudTrailEvent": detail.to_string(),
            })
        };
        let events = serde_json::json!({"Events": [
            event("e3", "203.0.113.50", "curl/8.5.0", Some("AccessDenied")),
            event("e2", "10.0.0.7", "aws-cli/2.15.0 Python/3.11.6", None),
            event("e1", "10.0.0.7", "aws-cli/2.15.0 Python/3.11.6", None),
        ]});
        wiremock::ResponseTemplate::new(200)
            .insert_header("content-type", "application/x-amz-json-1.1")
            .set_body_string(events.to_string())
    }
}

/// A live run's Usage panel is fed by CloudTrail (neither emulator has LookupEvents:
/// `AWS_ENDPOINT_URL_CLOUDTRAIL` sends the SDK's CloudTrail client to the fake): calls per
/// minute, ok and denied, with source address and user agent, and the "old key still in
/// use" alarm once the replacement is promoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudtrail_usage_reaches_the_usage_panel_in_a_live_run() {
    let emu = Emulator::moto();
    let old = seed_usual(&emu).await;
    let trail = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::header(
            "x-amz-target",
            "CloudTrail_20131101.LookupEvents",
        ))
        .respond_with(Trail)
        .mount(&trail)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let rb = runbook(tmp.path(), &usual_scope());
    let script = tmp.path().join("watch.yaml");
    // Usage comes by the minute, and a minute that began before the promotion says nothing
    // about after it: wait into the next minute once the new keys are current.
    let next_minute = 60 - u64::from(chrono::Timelike::second(&chrono::Utc::now())) + 8;
    std::fs::write(
        &script,
        format!("- tick_all: declare\n- run: declare\n- run: inventory\n- tick_all: plan-two-key-limit\n- run: plan-two-key-limit\n- run: create\n- run: verify\n- run: deploy\n- wait: {next_minute}s\n- autopilot\n"),
    )
    .unwrap();
    // The SDK's own endpoint variables (a programmatic --endpoint-url would win over the
    // service's own one): moto for everything, the fake for CloudTrail.
    let mut c = command(
        &emu,
        &state,
        &[
            ("AWS_ENDPOINT_URL", emu.endpoint.clone()),
            ("AWS_ENDPOINT_URL_CLOUDTRAIL", trail.uri()),
        ],
    );
    c.arg("run").arg(&rb).arg("--headless").args([
        "--script",
        script.to_str().unwrap(),
        "--quiet-period",
        "2s",
    ]);
    let out = tokio::task::spawn_blocking(move || finish(c))
        .await
        .unwrap();
    assert_eq!(out.code, Some(0), "{}", out.dump());
    let events = journal(&state);
    let ci = format!("aws-iam/ci-deployer/{}", old[0].1);
    let usage: Vec<&Value> = of_type(&events, "usage_observed")
        .into_iter()
        .filter(|e| e["sample"]["credential"] == ci.as_str() && e["sample"]["generation"] == "old")
        .collect();
    assert!(
        !usage.is_empty(),
        "no CloudTrail usage journaled: {}",
        out.dump()
    );
    let denied: u64 = usage
        .iter()
        .map(|e| e["sample"]["denied"].as_u64().unwrap_or(0))
        .sum();
    let ok: u64 = usage
        .iter()
        .map(|e| e["sample"]["ok"].as_u64().unwrap_or(0))
        .sum();
    assert!(denied >= 1 && ok >= 2, "ok {ok}, denied {denied}");
    let sources: BTreeSet<String> = usage
        .iter()
        .flat_map(|e| {
            e["sample"]["sources"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    assert!(
        sources.contains("203.0.113.50 curl/8.5.0") && sources.contains("10.0.0.7 aws-cli/2.15.0"),
        "{sources:?}"
    );
    let alarms: Vec<&Value> = of_type(&events, "alarm")
        .into_iter()
        .filter(|e| e["credential"] == ci.as_str())
        .collect();
    assert!(
        alarms.iter().any(|a| a["message"]
            .as_str()
            .unwrap()
            .contains("still used after its replacement was promoted")),
        "{alarms:?}"
    );
    assert!(!trail.received_requests().await.unwrap().is_empty());
}

/// `breachbook inventory --json RUNBOOK` against the emulator: the records and the summary.
async fn inventory(emu: &Emulator, dir: &Path, runbook_text: &str) -> (Vec<Value>, Out) {
    let rb = dir.join("inventory.yaml");
    std::fs::write(&rb, runbook_text).unwrap();
    let mut c = command(emu, &dir.join("state"), &[]);
    c.arg("inventory")
        .arg(&rb)
        .arg("--json")
        .args(["--endpoint-url", &emu.endpoint]);
    let out = tokio::task::spawn_blocking(move || finish(c))
        .await
        .unwrap();
    let records = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (records, out)
}

/// A runbook with only an inventory step and the scope given.
fn inventory_runbook(scope: &str) -> String {
    format!(
        "version: 1\nname: inventory-check\ntitle: Inventory check\nexposure_window:\n  start: 2099-01-01T00:00:00Z\nscope:\n{scope}steps:\n  - id: inventory\n    title: Find the keys\n    instructions: List them.\n    action: inventory\n"
    )
}

async fn put(emu: &Emulator, region: &str, name: &str, value: &str) {
    emu.sm(region)
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
}

/// One record per key with every place it lives (a copy found in another region's page
/// joins it), same-named secrets in two regions are two keys, a secret scheduled for
/// deletion is listed as such, `fingerprint: false` reads no plain-text value, and the
/// summary counts each key once.
async fn inventory_records_one_per_key_with_its_places(emu: Emulator) {
    let k1 = "sk-test-inventory-shared-FAKE0000000001";
    put(
        &emu,
        "us-east-1",
        "prod/ai/a",
        &format!(r#"{{"OPENAI_API_KEY":"{k1}"}}"#),
    )
    .await;
    put(
        &emu,
        "eu-west-1",
        "prod/ai/b",
        &format!(r#"{{"OPENAI_API_KEY":"{k1}"}}"#),
    )
    .await;
    put(
        &emu,
        "us-east-1",
        "prod/ai/same",
        r#"{"OPENAI_API_KEY":"sk-test-inventory-us-FAKE000000000002"}"#,
    )
    .await;
    put(
        &emu,
        "eu-west-1",
        "prod/ai/same",
        r#"{"OPENAI_API_KEY":"sk-test-inventory-eu-FAKE000000000003"}"#,
    )
    .await;
    put(
        &emu,
        "us-east-1",
        "prod/ai/old",
        "sk-test-inventory-deleted-FAKE00000004",
    )
    .await;
    emu.sm("us-east-1")
        .delete_secret()
        .secret_id("prod/ai/old")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let scope = "  secrets_manager:\n    regions: [us-east-1, eu-west-1]\n    name_prefixes: [prod/ai/]\n    fields:\n      - {field: OPENAI_API_KEY, issuer: openai}\n    fingerprint: true\n";
    let (records, out) = inventory(&emu, tmp.path(), &inventory_runbook(scope)).await;
    assert_eq!(out.code, Some(0), "{}: {}", emu.name(), out.dump());
    let ids: BTreeSet<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids.len(),
        records.len(),
        "one record per key: {}",
        out.stdout
    );
    assert_eq!(records.len(), 4, "{}: {}", emu.name(), out.stdout);
    assert!(
        out.stderr.contains("4 key(s) found"),
        "the summary counts each key once: {}",
        out.stderr
    );
    let shared = records
        .iter()
        .find(|r| r["hint"] == "sk-…0001")
        .expect("the shared key");
    assert_eq!(shared["locations"].as_array().unwrap().len(), 2, "{shared}");
    let same: Vec<&Value> = records
        .iter()
        .filter(|r| r["locations"][0]["name"] == "prod/ai/same")
        .collect();
    assert_eq!(same.len(), 2, "{}: {}", emu.name(), out.stdout);
    assert_ne!(same[0]["id"], same[1]["id"]);
    let gone = records
        .iter()
        .find(|r| r["locations"][0]["name"] == "prod/ai/old")
        .unwrap_or_else(|| {
            panic!(
                "{}: a secret scheduled for deletion is not listed: {}",
                emu.name(),
                out.stdout
            )
        });
    assert_eq!(gone["meta"]["status"], "scheduled_for_deletion", "{gone}");
    assert!(
        gone["exposure_reason"]
            .as_str()
            .unwrap()
            .contains("SCHEDULED FOR DELETION"),
        "{gone}"
    );

    // `fingerprint: false`: a plain-text value is not kept, not even as a fingerprint.
    put(
        &emu,
        "us-east-1",
        "prod/ai/plain",
        "sk-test-inventory-plain-FAKE000000005",
    )
    .await;
    let scope = "  secrets_manager:\n    regions: [us-east-1]\n    name_prefixes: [prod/ai/plain]\n    fields:\n      - {field: OPENAI_API_KEY, issuer: openai}\n";
    let (records, out) = inventory(&emu, tmp.path(), &inventory_runbook(scope)).await;
    assert_eq!(records.len(), 1, "{}", out.dump());
    assert_eq!(records[0]["hint"], "…", "{}", records[0]);
    assert!(records[0].get("fingerprint").is_none(), "{}", records[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_inventory_records_one_per_key_with_its_places() {
    inventory_records_one_per_key_with_its_places(Emulator::moto()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_inventory_records_one_per_key_with_its_places() {
    inventory_records_one_per_key_with_its_places(Emulator::localstack("inventory")).await;
}

/// An IAM key pair in a `stored_in` secret belongs to the key whose id it holds, not to every
/// key of the user; a pair of a user outside the IAM scope, in a scoped secret, is named as
/// that user's key.
async fn inventory_attributes_key_pairs_by_the_key_they_hold(emu: Emulator) {
    let iam = emu.iam();
    iam.create_user().user_name("alice").send().await.unwrap();
    let mut ids = Vec::new();
    let mut pair = String::new();
    for _ in 0..2 {
        let k = iam
            .create_access_key()
            .user_name("alice")
            .send()
            .await
            .unwrap();
        let k = k.access_key().unwrap();
        ids.push(k.access_key_id().to_string());
        pair = serde_json::json!({"AccessKeyId": k.access_key_id(), "SecretAccessKey": k.secret_access_key()}).to_string();
    }
    // The secret holds the second key.
    put(&emu, "us-east-1", "prod/iam/alice", &pair).await;
    iam.create_user().user_name("bob").send().await.unwrap();
    let bob = iam
        .create_access_key()
        .user_name("bob")
        .send()
        .await
        .unwrap();
    let bob = bob.access_key().unwrap();
    let bob_id = bob.access_key_id().to_string();
    put(
        &emu,
        "us-east-1",
        "prod/iam/bob",
        &serde_json::json!({"AccessKeyId": bob.access_key_id(), "SecretAccessKey": bob.secret_access_key()}).to_string(),
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let scope = "  iam:\n    users: [alice]\n    stored_in:\n      alice: prod/iam/alice\n  secrets_manager:\n    regions: [us-east-1]\n    name_prefixes: [prod/iam/]\n";
    let (records, out) = inventory(&emu, tmp.path(), &inventory_runbook(scope)).await;
    assert_eq!(out.code, Some(0), "{}: {}", emu.name(), out.dump());
    let stored = |id: &str| {
        records
            .iter()
            .find(|r| r["key_id"] == id)
            .map(|r| {
                r["locations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|l| l["kind"] == "secrets_manager")
            })
            .unwrap_or_else(|| panic!("{id} not listed: {}", out.stdout))
    };
    assert!(
        !stored(&ids[0]),
        "{}: the first key is not in the secret",
        emu.name()
    );
    assert!(stored(&ids[1]), "{}: the second key is", emu.name());
    let b = records
        .iter()
        .find(|r| r["key_id"] == bob_id.as_str())
        .unwrap_or_else(|| {
            panic!(
                "{}: bob's stored pair is not named: {}",
                emu.name(),
                out.stdout
            )
        });
    assert_eq!(b["issuer"], "aws_iam", "{b}");
    assert!(b["name"].as_str().unwrap().contains("IAM user bob"), "{b}");
    assert_eq!(b["meta"]["out_of_scope"], "true", "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_inventory_attributes_key_pairs_by_the_key_they_hold() {
    inventory_attributes_key_pairs_by_the_key_they_hold(Emulator::moto()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localstack_inventory_attributes_key_pairs_by_the_key_they_hold() {
    inventory_attributes_key_pairs_by_the_key_they_hold(Emulator::localstack("key-pairs")).await;
}

/// A permission AWS refuses names the API action and the fix (`breachbook iam-policy`
/// prints the policy this runbook needs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permission_denial_names_the_action_and_the_fix() {
    let emu = Emulator::moto();
    seed_usual(&emu).await;
    let proxy = FaultProxy::start(&emu.endpoint);
    proxy.add(Rule::operation(
        "ListSecrets",
        When::Always,
        Fault::AccessDenied,
    ));
    let tmp = tempfile::tempdir().unwrap();
    let scope = "  secrets_manager:\n    regions: [us-east-1]\n";
    let rb = tmp.path().join("denied.yaml");
    std::fs::write(&rb, inventory_runbook(scope)).unwrap();
    let mut c = command(&emu, &tmp.path().join("state"), &[]);
    c.arg("inventory")
        .arg(&rb)
        .args(["--endpoint-url", &proxy.endpoint]);
    let out = tokio::task::spawn_blocking(move || finish(c))
        .await
        .unwrap();
    assert_eq!(out.code, Some(1), "{}", out.dump());
    assert!(
        out.stderr
            .contains("the role needs secretsmanager:ListSecrets: `breachbook iam-policy RUNBOOK`"),
        "{}",
        out.dump()
    );
}
