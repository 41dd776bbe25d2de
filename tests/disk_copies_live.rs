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
#[path = "support/live_ssm.rs"]
mod live_ssm;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/scoped_runbook.rs"]
mod scoped_runbook;

use std::path::Path;
use std::process::Command;

use live_ssm::{PARAMETER, REGION};
use moto::Moto;
use serde_json::Value;

const OLD: &str = "sk-test-openai-disk-OLD-FAKE0000000000aaD1";
const OLD_ID: &str = "key_DiskOldFake2Bb2";
const SA: &str = "svc_acct_DiskEXAMPLE";

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
    live_ssm::put_secure(&c, PARAMETER, OLD).await;
    let fake = live_ssm::openai_with(SA, OLD_ID, OLD).await;
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
        let mut cmd = live_ssm::breachbook(dir.path(), &state, &fake);
        cmd.current_dir(&repo)
            .args(args)
            .arg(&rb)
            .args(["--endpoint-url", &moto.endpoint])
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
    let mut written = live_ssm::written(&state);
    assert!(
        written.contains("fix by hand"),
        "the journal says to fix them by hand"
    );
    written.push_str(&stdout);
    written.push_str(&stderr);
    let new = live_ssm::value_of(&c, PARAMETER).await;
    assert_ne!(new, OLD);
    for secret in [OLD, new.as_str()] {
        assert!(!written.contains(secret), "a key value was written");
    }
    let f = fake.state();
    assert!(f.problems.is_empty(), "{:?}", f.problems);
}
