//! `scope.disk`: copies of a key on disk join it in the Inventory, live. A key kept in SSM
//! Parameter Store (moto) is also planted in a `.env` file, a config file, a commit three
//! commits back (deleted since), and a file `.gitignore` leaves out; `inventory` lists the
//! first three as locations fixed by hand and not the ignored one, the rotation runs end to
//! end without rewriting them (it says to fix them by hand), and nothing written holds the
//! key.
//!
//! scripts/test installs moto[server]; git is on every machine the tests run on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_ai.rs"]
mod fake_ai;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/scoped_runbook.rs"]
mod scoped_runbook;

use std::path::Path;
use std::process::Command;

use aws_sdk_ssm::types::ParameterType;
use fake_ai::{AdminKeys, FakeAi};
use moto::Moto;
use serde_json::Value;

const OLD: &str = "sk-test-openai-disk-OLD-FAKE0000000000aaD1";
const OLD_ID: &str = "key_DiskOldFake2Bb2";
const PROJECT: &str = "proj_ProdEXAMPLE01";
const SA: &str = "svc_acct_DiskEXAMPLE";
const REGION: &str = "us-east-1";

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Breachbook Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository whose history holds the key three commits back, and whose working tree
/// holds it in `.env`, `config/app.yaml` and an ignored file.
fn plant(repo: &Path) -> String {
    std::fs::create_dir_all(repo.join("old")).unwrap();
    git(repo, &["init", "-q"]);
    std::fs::write(
        repo.join("old/settings.py"),
        format!("OPENAI_API_KEY = \"{OLD}\"\n"),
    )
    .unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-qm", "settings"]);
    git(repo, &["rm", "-q", "old/settings.py"]);
    git(repo, &["commit", "-qm", "no key in the tree"]);
    std::fs::write(repo.join("README.md"), "app\n").unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-qm", "readme"]);
    std::fs::write(repo.join(".gitignore"), "ignored.env\n").unwrap();
    git(repo, &["add", "."]);
    git(repo, &["commit", "-qm", "ignore"]);
    let planted = git(repo, &["rev-parse", "HEAD~3"]);
    std::fs::write(
        repo.join(".env"),
        format!("PORT=8080\nOPENAI_API_KEY={OLD}\n"),
    )
    .unwrap();
    std::fs::create_dir_all(repo.join("config")).unwrap();
    std::fs::write(
        repo.join("config/app.yaml"),
        format!("openai:\n  model: gpt\n  api_key: \"{OLD}\"\n"),
    )
    .unwrap();
    std::fs::write(repo.join("ignored.env"), format!("OPENAI_API_KEY={OLD}\n")).unwrap();
    planted
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_on_disk_and_in_history_join_the_inventory_and_are_left_to_fix_by_hand() {
    let moto = Moto::start();
    let c = moto.ssm_client(REGION);
    c.put_parameter()
        .name("/prod/ai/OPENAI_API_KEY")
        .value(OLD)
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let fake = FakeAi::start(AdminKeys {
        openai: "sk-admin-test-openai-FAKE000000000000000001".into(),
        anthropic: "sk-ant-admin-test-FAKE0000000000000000002".into(),
        braintrust: "sk-test-braintrust-admin-FAKE00000000003".into(),
        braintrust_org: "example".into(),
    })
    .await;
    {
        let mut f = fake.state();
        f.openai_project(PROJECT, "Production");
        f.openai_service_account(PROJECT, SA, "chat-api-svc", "member");
        f.openai_key(PROJECT, OLD_ID, "chat-api", OLD, Some(SA));
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("app");
    std::fs::create_dir_all(&repo).unwrap();
    let planted = plant(&repo);
    let rb = scoped_runbook::with_scope(
        dir.path(),
        "scope:\n  ssm:\n    regions: [us-east-1]\n    paths: [/prod/ai/]\n    fields:\n      - field: OPENAI_API_KEY\n        issuer: openai\n  openai:\n    organization: org-example\n  disk:\n    paths: [.]\n    git_history: true\n",
    );
    let state = dir.path().join("state");
    let breachbook = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_breachbook"));
        for name in ["AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"] {
            cmd.env_remove(name);
        }
        cmd.current_dir(&repo)
            .env("BREACHBOOK_STATE_DIR", &state)
            .env("NO_COLOR", "1")
            .env("AWS_ACCESS_KEY_ID", moto::FAKE_ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", moto::FAKE_SECRET_ACCESS_KEY)
            .env("AWS_REGION", REGION)
            .env("AWS_CONFIG_FILE", dir.path().join("no-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                dir.path().join("no-credentials"),
            )
            .env("BREACHBOOK_USAGE_POLL_SECS", "1")
            .envs(fake.env())
            .arg("--state-dir")
            .arg(&state)
            .args(args)
            .arg(&rb)
            .args(["--endpoint-url", &moto.endpoint])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };

    let out = breachbook(&["inventory", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // The key's last line is its fullest form: with its copies on disk.
    let key: Value = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .rfind(|r| r["key_id"] == OLD_ID)
        .unwrap_or_else(|| panic!("{stdout}"));
    let labels: Vec<String> = key["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{}:{}",
                l["kind"].as_str().unwrap(),
                l["name"].as_str().unwrap()
            )
        })
        .collect();
    let has = |kind: &str, tail: &str| {
        labels
            .iter()
            .any(|l| l.starts_with(kind) && l.ends_with(tail))
    };
    assert!(has("ssm:", "/prod/ai/OPENAI_API_KEY"), "{labels:?}");
    assert!(has("file:", ".env:2"), "{labels:?}");
    assert!(has("file:", "config/app.yaml:3"), "{labels:?}");
    assert!(
        labels.iter().any(|l| l.starts_with("git_history:")
            && l.contains(&format!("@{}", &planted[..12]))
            && l.ends_with("old/settings.py:1")),
        "the commit three back: {labels:?}"
    );
    assert!(
        !labels.iter().any(|l| l.contains("ignored.env")),
        ".gitignore is respected: {labels:?}"
    );
    assert_eq!(labels.len(), 4, "{labels:?}");

    let out = breachbook(&["run", "--headless", "--autopilot", "--quiet-period", "2s"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["complete"], true, "{stdout}");
    assert_eq!(summary["revoked"], 1, "{stdout}");
    // The copies on disk are the responder's: untouched, and said so.
    let env = std::fs::read_to_string(repo.join(".env")).unwrap();
    assert!(env.contains(OLD), "breachbook never rewrites a file");
    let mut written = String::new();
    for e in walk(&state) {
        written.push_str(&String::from_utf8_lossy(&std::fs::read(e).unwrap()));
    }
    assert!(
        written.contains("fix by hand"),
        "the journal says to fix them by hand"
    );
    written.push_str(&stdout);
    written.push_str(&stderr);
    let new = c
        .get_parameter()
        .name("/prod/ai/OPENAI_API_KEY")
        .with_decryption(true)
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap()
        .value
        .unwrap();
    assert_ne!(new, OLD);
    for secret in [OLD, new.as_str()] {
        assert!(!written.contains(secret), "a key value was written");
    }
    let f = fake.state();
    assert!(f.problems.is_empty(), "{:?}", f.problems);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    out
}
