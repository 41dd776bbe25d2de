//! SECURITY.md and the runbook format's command section say what the code does: the
//! variables a command loses, the files an incident folder holds, the least-privilege
//! actions `iam-policy` prints, the limits `check` enforces. A change to one without the
//! other fails here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;

const SECURITY: &str = include_str!("../SECURITY.md");
const FORMAT: &str = include_str!("../docs/runbook-format.md");

#[test]
fn the_threat_model_covers_what_issue_13_asks() {
    for threat in [
        "A responder's laptop holding admin keys mid-incident",
        "A state folder another user can write",
        "A hostile runbook from a shared repository",
        "Command output that echoes a key",
        "A journal rewritten by someone who can write the file",
    ] {
        assert!(
            SECURITY.contains(threat),
            "SECURITY.md lacks the threat {threat:?}"
        );
    }
    for section in [
        "## What breachbook stores, where, and for how long",
        "## Least privilege at AWS",
        "## Reporting a vulnerability",
    ] {
        assert!(SECURITY.contains(section), "SECURITY.md lacks {section:?}");
    }
}

#[test]
fn every_scrubbed_variable_is_documented() {
    for name in breachbook::incident::engine::SCRUBBED_ENV {
        assert!(
            FORMAT.contains(&format!("`{name}`")),
            "docs/runbook-format.md does not name {name}, which commands lose"
        );
        assert!(breachbook::incident::engine::is_scrubbed_env(name));
    }
    // The providers' own credential variables are among them.
    for name in [
        breachbook::providers::http::OPENAI_ADMIN_KEY_VAR,
        breachbook::providers::http::ANTHROPIC_ADMIN_KEY_VAR,
        breachbook::providers::http::BRAINTRUST_API_KEY_VAR,
        breachbook::providers::vault::VAULT_TOKEN_VAR,
        breachbook::providers::github::GITHUB_TOKEN_VAR,
        breachbook::providers::github::GH_TOKEN_VAR,
    ] {
        assert!(
            breachbook::incident::engine::is_scrubbed_env(name),
            "{name}"
        );
    }
    assert!(breachbook::incident::engine::is_scrubbed_env(
        "GEMINI_API_KEY"
    ));
    assert!(!breachbook::incident::engine::is_scrubbed_env("PATH"));
    assert!(!breachbook::incident::engine::is_scrubbed_env("KUBECONFIG"));
    assert!(FORMAT.contains("`_ADMIN_KEY` or `_API_KEY`"));
}

#[test]
fn every_file_a_drill_leaves_is_in_the_table_of_what_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .arg("--state-dir")
        .arg(tmp.path())
        .args([
            "drill",
            "onboarding-walkthrough",
            "--headless",
            "--autopilot",
        ])
        .env_remove("BREACHBOOK_STATE_DIR")
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut names = BTreeSet::new();
    for e in std::fs::read_dir(tmp.path().join("incidents"))
        .unwrap()
        .flatten()
    {
        for f in std::fs::read_dir(e.path()).unwrap().flatten() {
            names.insert(format!("incidents/ID/{}", f.file_name().to_string_lossy()));
        }
    }
    assert!(tmp.path().join("logs").is_dir());
    names.insert("logs/breachbook.YYYY-MM-DD.log".into());
    // A live incident also keeps its fingerprint key; a repaired one its torn tail.
    names.insert(format!(
        "incidents/ID/{}",
        breachbook::incident::journal::KEY_FILE
    ));
    names.insert("incidents/ID/journal.jsonl.torn-TIME".into());
    for n in names {
        assert!(
            SECURITY.contains(&format!("`{n}`")),
            "SECURITY.md does not list {n}"
        );
    }
}

#[test]
fn the_least_privilege_actions_are_the_ones_iam_policy_prints() {
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .args(["iam-policy", "aws-iam-access-key-leak"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let section = SECURITY
        .split("## Least privilege at AWS")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    for st in v["Statement"].as_array().unwrap() {
        for a in st["Action"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            let (service, action) = a.split_once(':').unwrap();
            assert!(
                section.contains(&format!("`{a}`")) || section.contains(&format!("`{action}`")),
                "SECURITY.md's least-privilege list lacks {a} ({service})"
            );
        }
    }
}

#[test]
fn the_limits_check_enforces_are_the_documented_ones() {
    use breachbook::runbook::schema::{MAX_ATTEMPTS, MAX_CONCURRENCY, MAX_SPEED, MIN_SPEED};
    assert!(FORMAT.contains(&format!("number from {MIN_SPEED} to {MAX_SPEED}")));
    assert!(FORMAT.contains(&format!("integer 1–{MAX_CONCURRENCY}")));
    assert!(FORMAT.contains(&format!("integer 1–{MAX_ATTEMPTS}")));
    assert!(SECURITY.contains(&format!("`speed` outside {MIN_SPEED}–{MAX_SPEED}")));
    assert_eq!(breachbook::runbook::duration::MAX_SECS, 3660 * 86_400);
    assert!(FORMAT.contains("longer than ten years (`3660d`)"));
    assert!(FORMAT.contains(&format!(
        "at most {} lines",
        fmt_thousands(breachbook::incident::engine::MAX_OUTPUT_LINES)
    )));
}

fn fmt_thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
