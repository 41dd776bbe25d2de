//! GitHub Actions secrets as destinations, against a fake of GitHub's REST API built from
//! its published description (tests/support/fake_github.rs, which opens every sealed box
//! it is sent): the store alone (a repository secret, an environment secret, a secret made
//! anew, a rate limit, a bad token, a repository the token cannot see), then the
//! vendor-breach runbook live with a key kept in SSM Parameter Store (moto) and copied into
//! a repository secret and an environment secret, end to end with the OpenAI fake.
//!
//! scripts/test installs moto[server].

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_ai.rs"]
mod fake_ai;
#[path = "support/fake_github.rs"]
mod fake_github;
#[path = "support/live_ssm.rs"]
mod live_ssm;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/scoped_runbook.rs"]
mod scoped_runbook;

use breachbook::incident::ports::{ProviderError, SecretStore};
use breachbook::providers::github::{Github, GithubActionsStore, GithubConfig, SecretPlace};
use fake_github::FakeGithub;
use live_ssm::{PARAMETER, REGION};
use moto::Moto;
use secrecy::SecretString;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

const TOKEN: &str = "ghp_test_FAKE0000000000000000000000000001";
const OLD: &str = "sk-test-openai-gha-OLD-FAKE00000000000aaG1";
const NEW: &str = "sk-test-openai-gha-NEW-FAKE00000000000bbG2";
const OLD_ID: &str = "key_GhaOldFake2Bb2";
const SA: &str = "svc_acct_GhaEXAMPLE";

fn store(fake: &FakeGithub, token: &str) -> GithubActionsStore {
    let env: HashMap<String, String> = fake
        .env()
        .into_iter()
        .map(|(k, v)| {
            if k == "GITHUB_TOKEN" {
                (k, token.to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    let config = GithubConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    let client = breachbook::providers::http::client().unwrap();
    GithubActionsStore::new(Github::new(client, &config))
}

fn place(repo: &str, env: Option<&str>, name: &str) -> SecretPlace {
    let (owner, repo) = repo.split_once('/').unwrap();
    SecretPlace {
        owner: owner.into(),
        repo: repo.into(),
        environment: env.map(str::to_string),
        name: name.into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_written_sealed_and_read_back_for_githubs_own_date() {
    let fake = FakeGithub::start(TOKEN).await;
    {
        let mut f = fake.state();
        f.secret("acme/api", None, "OPENAI_API_KEY", OLD);
        f.secret("acme/api", Some("prod/eu"), "OPENAI_API_KEY", OLD);
        f.repo("acme/web");
    }
    let s = store(&fake, TOKEN);
    let new = SecretString::from(NEW.to_string());

    for env in [None, Some("prod/eu")] {
        let loc = place("acme/api", env, "OPENAI_API_KEY").location(None);
        let at = s.replace(&loc, &new).await.unwrap();
        let f = fake.state();
        let kept = f.get("acme/api", env, "OPENAI_API_KEY").unwrap();
        assert_eq!(kept.value.as_deref(), Some(NEW), "{env:?}");
        assert_eq!(kept.updated_at, at, "GitHub's own updated_at is reported");
        assert_eq!(kept.writes, 1);
    }
    // Written twice (a retry): the same value, no harm.
    let loc = place("acme/api", None, "OPENAI_API_KEY").location(None);
    s.replace(&loc, &new).await.unwrap();
    assert_eq!(
        fake.state()
            .get("acme/api", None, "OPENAI_API_KEY")
            .unwrap()
            .value
            .as_deref(),
        Some(NEW)
    );
    // A secret the repository did not have yet is made (201).
    let fresh = place("acme/web", None, "OPENAI_API_KEY").location(None);
    s.replace(&fresh, &new).await.unwrap();
    assert_eq!(
        fake.state()
            .get("acme/web", None, "OPENAI_API_KEY")
            .unwrap()
            .value
            .as_deref(),
        Some(NEW)
    );

    // A spent rate limit is throttling, with GitHub's reset as the wait, not a refusal.
    fake.state().rate_limit(1);
    match s.replace(&loc, &new).await {
        Err(ProviderError::Throttled { retry_after, .. }) => {
            let wait = retry_after.expect("the reset time is the wait");
            assert!(wait.as_secs() <= 2, "{wait:?}");
        }
        other => panic!("expected throttling, got {other:?}"),
    }
    s.replace(&loc, &new).await.unwrap();

    // A bad token: Auth, and the token is not in the message.
    let bad = store(&fake, "ghp_test_FAKE_wrong_token_000000000000002");
    match bad.replace(&loc, &new).await {
        Err(e @ ProviderError::Auth { .. }) => {
            assert!(!e.to_string().contains("ghp_test"), "{e}");
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    // A repository the token cannot see answers 404: said as such.
    let hidden = place("acme/secret-repo", None, "OPENAI_API_KEY").location(None);
    match s.replace(&hidden, &new).await {
        Err(e @ ProviderError::NotFound { .. }) => {
            assert!(e.to_string().contains("cannot see"), "{e}");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    // Staging and reading are not GitHub's: a clear Unsupported, never a silent success.
    assert!(matches!(
        s.read_version(&loc, "v1").await,
        Err(ProviderError::Unsupported { .. })
    ));
    let f = fake.state();
    assert!(f.problems.is_empty(), "{:?}", f.problems);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_copied_into_github_actions_is_replaced_there_end_to_end() {
    let moto = Moto::start();
    let c = moto.ssm_client(REGION);
    live_ssm::put_secure(&c, PARAMETER, OLD).await;
    let fake = live_ssm::openai_with(SA, OLD_ID, OLD).await;
    let gh = FakeGithub::start(TOKEN).await;
    {
        let mut f = gh.state();
        f.secret("acme/api", None, "OPENAI_API_KEY", OLD);
        f.secret("acme/api", Some("production"), "OPENAI_KEY", OLD);
    }
    let dir = tempfile::tempdir().unwrap();
    let scope = "scope:\n  ssm:\n    regions: [us-east-1]\n    paths: [/prod/ai/]\n    fields:\n      - field: OPENAI_API_KEY\n        issuer: openai\n  openai:\n    organization: org-example\n  github_actions:\n    copies:\n      - repo: acme/api\n        secret: OPENAI_API_KEY\n        mirrors: ssm:/prod/ai/OPENAI_API_KEY\n      - repo: acme/api\n        environment: production\n        secret: OPENAI_KEY\n        mirrors: ssm:/prod/ai/OPENAI_API_KEY\n";
    let rb = scoped_runbook::with_scope(dir.path(), scope);

    let run = |rb: &Path, state: &Path| {
        let mut cmd = live_ssm::breachbook(dir.path(), state, &fake);
        cmd.envs(gh.env());
        live_ssm::run_headless(&mut cmd, rb, &moto)
    };

    // A copy whose `mirrors` matches no key found stops the listing, naming it: a copy
    // missed is never silent.
    std::fs::create_dir_all(dir.path().join("wrong")).unwrap();
    let wrong = scoped_runbook::with_scope(
        &dir.path().join("wrong"),
        &scope.replace(
            "mirrors: ssm:/prod/ai/OPENAI_API_KEY\n      - repo",
            "mirrors: sm:prod/ai/openai#OPENAI_API_KEY\n      - repo",
        ),
    );
    let out = run(&wrong, &dir.path().join("wrong-state"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("gha:acme/api#OPENAI_API_KEY mirrors `sm:prod/ai/openai#OPENAI_API_KEY`"),
        "{text}"
    );
    assert_eq!(
        gh.state()
            .get("acme/api", None, "OPENAI_API_KEY")
            .unwrap()
            .writes,
        0,
        "nothing was written"
    );

    let state = dir.path().join("state");
    let out = run(&rb, &state);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["complete"], true, "{stdout}");
    assert_eq!(summary["revoked"], 1, "{stdout}");

    let value = live_ssm::value_of(&c, PARAMETER).await;
    assert_ne!(value, OLD);
    {
        let f = gh.state();
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        for (env, name) in [(None, "OPENAI_API_KEY"), (Some("production"), "OPENAI_KEY")] {
            let s = f.get("acme/api", env, name).unwrap();
            assert_eq!(
                s.value.as_deref(),
                Some(value.as_str()),
                "{env:?} {name} holds the new key"
            );
        }
    }
    {
        let f = fake.state();
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        let live: Vec<String> = f
            .minted_openai()
            .iter()
            .filter(|k| !k.deleted)
            .map(|k| k.value.clone())
            .collect();
        assert_eq!(
            live,
            vec![value.clone()],
            "the key in SSM and GitHub is the one alive"
        );
        assert!(f.openai_sa(SA).is_some_and(|s| s.deleted));
    }
    // The report lists both GitHub secrets with GitHub's updated_at; no key value anywhere.
    let mut written = live_ssm::written(&state);
    for label in [
        "gha:acme/api#OPENAI_API_KEY",
        "gha:acme/api/environments/production#OPENAI_KEY",
    ] {
        assert!(written.contains(label), "{label} is not in the report");
    }
    written.push_str(&stdout);
    written.push_str(&stderr);
    for secret in [OLD, value.as_str(), TOKEN] {
        assert!(!written.contains(secret), "a secret was written");
    }
}
