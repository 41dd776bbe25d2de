//! The world the vendor-breach runbook runs against live, shared by tests/vendor_live.rs
//! (headless, autopilot) and tests/vendor_live_tmux.rs (a person at the screen): an AWS
//! emulator (moto_server, or an account of LocalStack, tests/support/emulator.rs) seeded with
//! Secrets Manager in two regions, the stateful provider fakes (built from the vendors'
//! contracts) seeded with the exposed keys and the attacker's usage, a Google service
//! account's key file made here, the runbook copy made runnable here, the environment
//! breachbook runs in, and the checks made after the run — the contract check over every
//! request sent among them.
//!
//! A test that uses it declares `mod contract;`, `mod fake_ai;`, `mod moto;`,
//! `mod localstack;` and `mod emulator;` (tests/support/) at its root, next to
//! `mod vendor_world;`. Every value here is an obviously fake test key.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::contract;
use crate::emulator::Emulator;
use crate::fake_ai::{AdminKeys, FakeAi, State, Vendor};
use crate::moto;

pub const OPENAI_ADMIN: &str = "sk-admin-test-openai-FAKE000000000000000001";
pub const ANTHROPIC_ADMIN: &str = "sk-ant-admin-test-FAKE0000000000000000002";
pub const BRAINTRUST_KEY: &str = "sk-test-braintrust-admin-FAKE00000000003";

pub const OPENAI_PROD_OLD: &str = "sk-test-openai-prod-OLD-FAKE0000000000aaP1";
pub const OPENAI_EVAL_OLD: &str = "sk-test-openai-eval-OLD-FAKE0000000000aaE1";
pub const OPENAI_BATCH: &str = "sk-test-openai-batch-FAKE0000000000000ZZ96";
pub const OPENAI_UNRELATED: &str = "sk-test-openai-laptop-FAKE000000000000ZZ99";
pub const ANTHROPIC_OLD: &str = "sk-ant-test-prod-OLD-FAKE00000000000000aaA1";
pub const ANTHROPIC_UNRELATED: &str = "sk-ant-test-sandbox-FAKE000000000000000ZZ98";
pub const ANTHROPIC_NEW: &str = "sk-ant-test-prod-NEW-FAKE00000000000000bbA2";
pub const GEMINI_OLD: &str = "AIzaSy-test-gemini-OLD-FAKE000000000000aaG1";
/// A Gemini key made in the console, were one asked for.
pub const GEMINI_BY_HAND: &str = "AIzaSy-test-gemini-HAND-FAKE00000000000bbG2";
pub const BRAINTRUST_CI_OLD: &str = "sk-test-braintrust-ci-OLD-FAKE000000aaB1";
pub const BRAINTRUST_CI_NEW: &str = "sk-test-braintrust-ci-NEW-FAKE000000bbB2";
pub const STAGING_KEY: &str = "sk-test-openai-staging-FAKE0000000000000ZZ97";

pub const PROD_PROJECT: &str = "proj_ProdEXAMPLE01";
pub const EVAL_PROJECT: &str = "proj_EvalEXAMPLE02";
pub const PROD_SA: &str = "svc_acct_ProdEXAMPLE";
pub const EVAL_SA: &str = "svc_acct_EvalEXAMPLE";
pub const OPENAI_PROD_ID: &str = "key_ProdOldFake7Kq2";
pub const OPENAI_BATCH_ID: &str = "key_ProdBatchFake5Rr4";
pub const OPENAI_EVAL_ID: &str = "key_EvalOldFake3Vx8";
pub const OPENAI_UNRELATED_ID: &str = "key_LaptopFake9Zz1";
pub const ANTHROPIC_OLD_ID: &str = "apikey_01ProdOldFake4Hn6";
pub const ANTHROPIC_UNRELATED_ID: &str = "apikey_01SandboxFake2Mm5";
pub const ANTHROPIC_NEW_ID: &str = "apikey_01ProdNewFake8Tt3";
/// The Braintrust project whose environment variable holds the eval key.
pub const EVAL_BT_PROJECT: &str = "33333333-3333-4333-8333-333333333333";

/// The five exposed keys: openai-prod (a field of prod/ai/providers, the plain-text
/// legacy/billing/openai, Braintrust's org AI secret), anthropic-prod (a field of
/// prod/ai/providers, Braintrust), gemini-prod (eu-west-1; Google blocked it as leaked),
/// openai-eval (prod/ai/eval and a Braintrust project's environment variable), and the CI's
/// Braintrust API key (prod/ai/braintrust).
pub const EXPOSED: usize = 5;

/// The shipped runbook's name.
pub const RUNBOOK: &str = "ai-provider-keys-vendor-breach";

/// Variables of the test's own environment that could point breachbook somewhere real.
pub const UNSET: [&str; 5] = [
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
];

/// A Braintrust secret's name, secret_updated_at and updated_at before the run.
pub type Times = (
    String,
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Utc>,
);

/// The emulator and the fakes, seeded, with Braintrust's times before the run.
pub struct World {
    pub aws: Emulator,
    pub fake: FakeAi,
    pub bt_before: Vec<Times>,
    /// The environment variable's secret_updated_at before the run.
    pub env_var_before: chrono::DateTime<chrono::Utc>,
    /// Where the Google service account's key file is (out of breachbook's state folder).
    pub google_dir: tempfile::TempDir,
    pub google_key_file: PathBuf,
}

impl World {
    /// Starts moto_server and the four fakes and seeds them as before the breach.
    pub async fn start() -> World {
        World::start_on(Emulator::moto()).await
    }

    /// The same world on `aws` (moto, or a LocalStack account).
    pub async fn start_on(aws: Emulator) -> World {
        seed_secrets(&aws).await;
        let fake = FakeAi::start(AdminKeys {
            openai: OPENAI_ADMIN.into(),
            anthropic: ANTHROPIC_ADMIN.into(),
            braintrust: BRAINTRUST_KEY.into(),
            braintrust_org: "example".into(),
        })
        .await;
        seed_providers(&mut fake.state());
        let bt_before = fake
            .state()
            .braintrust_secrets
            .iter()
            .map(|s| (s.name.clone(), s.secret_updated_at, s.updated_at))
            .collect();
        let env_var_before = fake
            .state()
            .env_var("OPENAI_API_KEY")
            .unwrap()
            .secret_updated_at;
        let google_dir = tempfile::tempdir().unwrap();
        let google_key_file = fake.write_google_key_file(google_dir.path());
        World {
            aws,
            fake,
            bt_before,
            env_var_before,
            google_dir,
            google_key_file,
        }
    }

    /// The environment breachbook runs in (besides BREACHBOOK_STATE_DIR and NO_COLOR): the
    /// emulator's credentials and no AWS config files, the fakes' base URLs and admin keys,
    /// usage polled every second. Remove [`UNSET`] too.
    pub fn env(&self, state: &Path) -> Vec<(String, String)> {
        let mut env = self.aws.env(state);
        env.push((
            "GOOGLE_APPLICATION_CREDENTIALS".into(),
            self.google_key_file.display().to_string(),
        ));
        env.extend(self.fake.env().into_iter().map(|(k, v)| (k.to_string(), v)));
        env
    }
}

/// The operator made a key in Anthropic's console: it exists at the fake (once).
pub fn make_anthropic_key(st: &mut State) -> &'static str {
    if st.anthropic(ANTHROPIC_NEW_ID).is_none() {
        st.anthropic_key(
            ANTHROPIC_NEW_ID,
            "breachbook-rotation",
            ANTHROPIC_NEW,
            "active",
        );
    }
    ANTHROPIC_NEW
}

/// The operator made a key in Google Cloud's console: it exists at the fake (once).
pub fn make_gemini_key(st: &mut State) -> &'static str {
    if st.gemini(GEMINI_BY_HAND).is_none() {
        st.gemini_key(GEMINI_BY_HAND);
    }
    GEMINI_BY_HAND
}

/// The operator made a Braintrust API key in its settings: it exists at the fake (once).
pub fn make_braintrust_key(st: &mut State) -> &'static str {
    if st.braintrust_key_of(BRAINTRUST_CI_NEW).is_none() {
        st.braintrust_key("breachbook-rotation", BRAINTRUST_CI_NEW);
    }
    BRAINTRUST_CI_NEW
}

/// The shipped runbook made runnable here: every key counts as exposed (the window starts
/// after moto's and the fakes' change times), the restart command is harmless.
pub fn runbook_copy(dir: &Path) -> PathBuf {
    let src = std::fs::read_to_string(format!("runbooks/{RUNBOOK}.yaml")).unwrap();
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
    let path = dir.join(format!("{RUNBOOK}.yaml"));
    std::fs::write(&path, out).unwrap();
    path
}

/// Secrets Manager as the runbook's drill section describes it, plus one secret out of
/// scope that must stay as it is.
async fn seed_secrets(aws: &Emulator) {
    let us = aws.sm("us-east-1");
    let eu = aws.sm("eu-west-1");
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
    put(
        &us,
        "prod/ai/braintrust",
        serde_json::json!({"BRAINTRUST_API_KEY": BRAINTRUST_CI_OLD}).to_string(),
    )
    .await;
}

/// The providers as they were before the breach: the exposed keys (OpenAI's held by
/// service accounts, one of which holds a second key, stored nowhere, that dies with it), one
/// more key at OpenAI and at Anthropic that is stored nowhere (listed, not exposed, not
/// touched), Braintrust's copies (org AI secrets, a project's environment variable) and API
/// keys, the Gemini key Google has blocked as leaked, and the attacker's recent calls in the
/// usage reports (several of OpenAI's) and costs. Every list answers in pages of two.
fn seed_providers(st: &mut State) {
    st.page_cap = 2;
    st.openai_project(PROD_PROJECT, "Production");
    st.openai_project(EVAL_PROJECT, "Evals");
    st.openai_service_account(PROD_PROJECT, PROD_SA, "chat-api-svc", "member");
    st.openai_service_account(EVAL_PROJECT, EVAL_SA, "eval-runner-svc", "owner");
    st.openai_key(
        PROD_PROJECT,
        OPENAI_PROD_ID,
        "chat-api",
        OPENAI_PROD_OLD,
        Some(PROD_SA),
    );
    st.openai_key(
        PROD_PROJECT,
        OPENAI_BATCH_ID,
        "batch-worker",
        OPENAI_BATCH,
        Some(PROD_SA),
    );
    st.openai_key(
        EVAL_PROJECT,
        OPENAI_EVAL_ID,
        "eval-runner",
        OPENAI_EVAL_OLD,
        Some(EVAL_SA),
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
    st.leak_gemini_key(GEMINI_OLD);
    let month_ago = chrono::Utc::now() - chrono::Duration::days(30);
    st.braintrust_secret("OPENAI_API_KEY", "openai", OPENAI_PROD_OLD, month_ago);
    st.braintrust_secret("ANTHROPIC_API_KEY", "anthropic", ANTHROPIC_OLD, month_ago);
    st.braintrust_env_var(
        "project",
        EVAL_BT_PROJECT,
        "OPENAI_API_KEY",
        OPENAI_EVAL_OLD,
        month_ago,
    );
    st.braintrust_key("ci-evals", BRAINTRUST_CI_OLD);
    // The attacker's bursts, a few minutes ago, across the reports.
    st.openai_usage(OPENAI_PROD_ID, 6, 150);
    st.openai_usage_in("images", OPENAI_PROD_ID, 4, 40);
    st.openai_usage_in("embeddings", OPENAI_PROD_ID, 2, 90);
    st.openai_usage(OPENAI_EVAL_ID, 4, 3);
    st.openai_cost(OPENAI_PROD_ID, 41.2);
    st.anthropic_usage(ANTHROPIC_OLD_ID, 5, 12_000);
    // Throttled on the way, as the contracts say a service may: a usage report without
    // Retry-After and once with it, a Braintrust write without it.
    st.throttle(
        Vendor::OpenAi,
        "GET",
        "/v1/organization/usage/images",
        1,
        None,
    );
    st.throttle(
        Vendor::OpenAi,
        "GET",
        "/v1/organization/usage/embeddings",
        1,
        Some(1),
    );
    st.throttle(Vendor::Braintrust, "PATCH", "/v1/env_var/", 1, None);
}

/// The events of every journal in the state folder, in order (torn last lines skipped).
pub fn journal_events(state_dir: &Path) -> Vec<serde_json::Value> {
    journal_records(state_dir)
        .into_iter()
        .map(|mut v| v["event"].take())
        .collect()
}

/// The whole records (event, operator, via…) of every journal in the state folder.
pub fn journal_records(state_dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(state_dir.join("incidents")) else {
        return out;
    };
    for e in rd.flatten() {
        let text = std::fs::read_to_string(e.path().join("journal.jsonl")).unwrap_or_default();
        for line in text.lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                out.push(v);
            }
        }
    }
    out
}

/// Every regular file under `dir` (sockets such as tmux's are not files to read).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ty) = e.file_type() else { continue };
            if ty.is_dir() {
                out.extend(walk(&p));
            } else if ty.is_file() {
                out.push(p);
            }
        }
    }
    out
}

/// Everything written under `dir`, as text.
pub fn everything_in(dir: &Path) -> String {
    let mut all = String::new();
    for f in walk(dir) {
        all.push_str(&String::from_utf8_lossy(&std::fs::read(&f).unwrap()));
    }
    all
}

/// A secret's AWSCURRENT value. Asked for by stage explicitly: moto's gap (without it, the
/// old value may come back).
pub async fn current(aws: &Emulator, region: &str, name: &str) -> String {
    aws.sm(region)
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
pub async fn history(aws: &Emulator, region: &str, name: &str, known: &[(&str, &str)]) -> String {
    let sm = aws.sm(region);
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

pub fn field(doc: &str, f: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(doc).unwrap();
    v[f].as_str().unwrap_or_default().to_string()
}

/// The providers after the run: each exposed OpenAI key replaced by a new service account
/// and its old account deleted (no project-key delete tried); Anthropic's old key
/// deactivated; the Gemini key minted and the old one deleted through the API Keys API;
/// Braintrust's AI secrets and environment variable rewritten once each with
/// `secret_updated_at` advancing, its CI API key replaced and the old one deleted; keys stored
/// nowhere untouched. Returns the new OpenAI keys (prod, eval) and the new Gemini key.
pub fn check_providers(st: &State, world: &World) -> (String, String, String) {
    check_providers_with(st, world, false)
}

/// [`check_providers`] after a run that was SIGKILLed and resumed (`killed`): a key minted
/// whose answer the killed run never journaled is deleted at its issuer by the resume's
/// reconcile and minted again, and a write the killed run made may be made again. So the
/// keys *alive* are counted, every minted one not alive must be deleted (never left alive),
/// and a store may have been written more than once, as long as it holds the new key.
pub fn check_providers_with(st: &State, world: &World, killed: bool) -> (String, String, String) {
    for sa in [PROD_SA, EVAL_SA] {
        assert!(
            st.openai_sa(sa).unwrap().deleted,
            "OpenAI {sa} is not deleted"
        );
    }
    for id in [OPENAI_PROD_ID, OPENAI_EVAL_ID, OPENAI_BATCH_ID] {
        assert!(
            st.openai(id).unwrap().deleted,
            "OpenAI key {id} is not dead"
        );
    }
    assert!(
        !st.openai(OPENAI_UNRELATED_ID).unwrap().deleted,
        "a key stored nowhere was deleted"
    );
    assert_eq!(
        st.count_calls("OpenAI DELETE /v1/organization/projects/proj_ProdEXAMPLE01/api_keys")
            + st.count_calls("OpenAI DELETE /v1/organization/projects/proj_EvalEXAMPLE02/api_keys"),
        0,
        "a service account's key cannot be deleted on its own: {:#?}",
        st.calls
    );
    let mut accounts = st.minted_service_accounts();
    if killed {
        for a in accounts.iter().filter(|a| a.deleted) {
            assert!(a.name.starts_with("breachbook-"), "{a:#?}");
        }
        accounts.retain(|a| !a.deleted);
    }
    assert_eq!(
        accounts.len(),
        2,
        "one new service account per exposed key: {accounts:#?}"
    );
    assert!(
        accounts
            .iter()
            .all(|a| a.name.starts_with("breachbook-") && !a.deleted),
        "{accounts:#?}"
    );
    let eval_sa = accounts.iter().find(|a| a.project == EVAL_PROJECT).unwrap();
    assert_eq!(eval_sa.role, "owner", "the old account's role is kept");
    let mut minted = st.minted_openai();
    if killed {
        minted.retain(|k| !k.deleted);
    }
    assert_eq!(minted.len(), 2, "{minted:#?}");
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
    let old_gemini = st.gemini(GEMINI_OLD).unwrap();
    assert!(
        old_gemini.deleted_at.is_some(),
        "the old Gemini key was not deleted"
    );
    // Found by its value (keys:lookupKey names its project and key), signed in with the key
    // file made here (the JWT-bearer grant), minted (create + the operation + getKeyString).
    for (call, what) in [
        ("Google OAuth POST", "a token for the service account"),
        (
            "Google API Keys GET /v2/keys:lookupKey",
            "the old key found by lookupKey",
        ),
        ("Google API Keys POST /v2/projects/", "the new key created"),
        (
            "Google API Keys GET /v2/operations/",
            "the create operation polled",
        ),
        (
            "Google API Keys DELETE /v2/projects/",
            "the old key deleted",
        ),
    ] {
        assert!(
            st.count_calls(call) >= 1,
            "no {what} ({call}): {:#?}",
            st.calls
        );
    }
    assert!(
        st.calls
            .iter()
            .any(|c| c.starts_with("Google API Keys GET") && c.ends_with("/keyString")),
        "the new key's value was not read with getKeyString: {:#?}",
        st.calls
    );
    let mut minted_google = st.minted_google();
    if killed {
        minted_google.retain(|k| k.alive());
    }
    assert_eq!(minted_google.len(), 1, "{minted_google:#?}");
    let new_gemini = minted_google[0];
    assert!(new_gemini.alive());
    assert_eq!(
        new_gemini.restrictions, old_gemini.restrictions,
        "the new key keeps the old key's restrictions"
    );
    assert!(
        new_gemini.name.contains("/keys/breachbook-"),
        "the key id is the rotation's own: {}",
        new_gemini.name
    );
    for (name, secret_before, updated_before) in &world.bt_before {
        let s = st.ai_secret(name).unwrap();
        assert!(
            s.secret_updated_at > *secret_before,
            "{name}: secret_updated_at did not move"
        );
        assert!(
            s.updated_at > *updated_before,
            "{name}: updated_at did not move"
        );
        assert!(
            s.writes == 1 || (killed && s.writes >= 1),
            "{name}: written {} times",
            s.writes
        );
    }
    assert_eq!(st.ai_secret("OPENAI_API_KEY").unwrap().value, new_prod);
    assert_eq!(
        st.ai_secret("ANTHROPIC_API_KEY").unwrap().value,
        ANTHROPIC_NEW
    );
    let env = st.env_var("OPENAI_API_KEY").unwrap();
    assert_eq!(
        env.value, new_eval,
        "the environment variable holds the new eval key"
    );
    assert!(
        env.secret_updated_at > world.env_var_before,
        "the environment variable's secret_updated_at did not move"
    );
    assert!(
        env.writes == 1 || (killed && env.writes >= 1),
        "{}",
        env.writes
    );
    assert_eq!(
        st.count_calls("Braintrust POST"),
        0,
        "nothing is written with POST"
    );
    assert!(
        st.braintrust_key_of(BRAINTRUST_CI_OLD).unwrap().deleted,
        "the old Braintrust API key was not deleted"
    );
    assert!(!st.braintrust_key_of(BRAINTRUST_CI_NEW).unwrap().deleted);
    assert!(
        !st.braintrust_key_of(BRAINTRUST_KEY).unwrap().deleted,
        "breachbook's own Braintrust key was deleted"
    );
    assert!(
        st.usage_served >= 1,
        "no usage report was asked for the old keys"
    );
    assert!(
        st.throttles.iter().all(|t| t.times == 0),
        "a throttle was never met: {:#?}",
        st.throttles
    );
    (new_prod, new_eval, new_gemini.value.clone())
}

/// The contract check over every request the providers sent: prints what was checked, fails
/// on any departure.
pub fn check_contract(st: &State) {
    let report = contract::check(&st.recorded);
    eprintln!("{}", report.summary());
    assert!(
        report.violations.is_empty(),
        "requests the vendors' contracts do not allow:\n{}",
        report.violations.join("\n")
    );
}

/// Secrets Manager after the run (AWSCURRENT asked for explicitly): every copy holds its new
/// key, other fields are kept, the secret out of scope is untouched. `context` is added to
/// the first message (the run's output).
pub async fn check_secrets_manager(
    aws: &Emulator,
    (new_prod, new_eval, new_gemini): (&str, &str, &str),
    context: &str,
) {
    let known = [
        ("openai-old", OPENAI_PROD_OLD),
        ("openai-new", new_prod),
        ("anthropic-old", ANTHROPIC_OLD),
        ("anthropic-new", ANTHROPIC_NEW),
        ("org", "org-example"),
    ];
    let providers = current(aws, "us-east-1", "prod/ai/providers").await;
    let ok = field(&providers, "OPENAI_API_KEY") == new_prod
        && field(&providers, "ANTHROPIC_API_KEY") == ANTHROPIC_NEW;
    assert!(
        ok,
        "prod/ai/providers does not hold both new keys as AWSCURRENT\n{}\n{context}",
        history(aws, "us-east-1", "prod/ai/providers", &known).await,
    );
    assert_eq!(
        field(&providers, "OPENAI_ORG_ID"),
        "org-example",
        "other fields are kept"
    );
    assert_eq!(
        current(aws, "us-east-1", "legacy/billing/openai").await,
        new_prod
    );
    assert_eq!(
        field(
            &current(aws, "us-east-1", "prod/ai/eval").await,
            "OPENAI_API_KEY"
        ),
        new_eval
    );
    assert_eq!(
        field(
            &current(aws, "eu-west-1", "prod/ai/gemini").await,
            "GEMINI_API_KEY"
        ),
        new_gemini
    );
    assert_eq!(
        field(
            &current(aws, "us-east-1", "prod/ai/braintrust").await,
            "BRAINTRUST_API_KEY"
        ),
        BRAINTRUST_CI_NEW
    );
    assert_eq!(
        field(
            &current(aws, "us-east-1", "staging/ai/openai").await,
            "OPENAI_API_KEY"
        ),
        STAGING_KEY,
        "a secret out of scope was changed"
    );
}

/// The journal after the run: usage of old and new keys observed (the Usage panel's feed),
/// every exposed key discovered, confirmed by a typed word and revoked, no override.
/// Returns how many usage_observed events there were.
pub fn check_journal(events: &[serde_json::Value]) -> usize {
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
    assert!(
        events.iter().any(|e| e["type"] == "credential_discovered"
            && e["credential"]["issuer"] == "gemini"
            && e["credential"]["meta"]["blocked_as_leaked"]
                .as_str()
                .is_some_and(|w| w.contains("reported as leaked"))),
        "Google's leaked-key answer is not journaled as the key's state"
    );
    assert!(
        !events.iter().any(|e| e["type"] == "manual_revoke_needed"),
        "every old key was revoked by API"
    );
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
    // Each key's word came before its revoke (the old OpenAI service accounts deleted after it).
    for id in &revoked {
        let at = |kind: &str| {
            events.iter().position(|e| {
                e["type"] == kind
                    && e["credential"] == id.as_str()
                    && (kind != "confirmation_given" || e["action"] == "revoke")
            })
        };
        assert!(
            at("confirmation_given") < at("revoked"),
            "{id} was revoked before its typed confirmation"
        );
    }
    assert!(
        !events.iter().any(|e| e["type"] == "override_given"),
        "nothing was overridden"
    );
    usage.len()
}

/// The report names every old key by its hint: the first 3 characters, an ellipsis, the
/// last 4.
pub fn check_report(report: &str) {
    for old in [
        OPENAI_PROD_OLD,
        OPENAI_EVAL_OLD,
        ANTHROPIC_OLD,
        GEMINI_OLD,
        BRAINTRUST_CI_OLD,
    ] {
        let hint = format!("{}…{}", &old[..3], &old[old.len() - 4..]);
        assert!(report.contains(&hint), "the report lacks {hint}:\n{report}");
    }
    // What the issuers said: Google's leaked-key state, and until when its deleted key can
    // still be restored.
    for said in [
        "blocked by the issuer as leaked",
        "the issuer can restore it until",
    ] {
        assert!(
            report.contains(said),
            "the report lacks {said:?}:\n{report}"
        );
    }
}

/// Every secret value of the run: admin keys, old and new keys, the responder's AWS secret,
/// and the keys minted during the run (`minted`).
pub fn secrets(minted: &[&str]) -> Vec<String> {
    [
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
        GEMINI_BY_HAND,
        OPENAI_BATCH,
        BRAINTRUST_CI_OLD,
        BRAINTRUST_CI_NEW,
        moto::FAKE_SECRET_ACCESS_KEY,
        crate::localstack::FAKE_SECRET_ACCESS_KEY,
    ]
    .iter()
    .chain(minted)
    .map(|s| s.to_string())
    .collect()
}

/// Whether `text` holds a secret, whole or its middle (a hint shows only the head and the
/// last four): names the part found, never the whole value.
pub fn leaked<'a>(text: &str, secrets: &'a [String]) -> Option<&'a str> {
    secrets.iter().find_map(|s| {
        let middle = &s[8..s.len() - 4];
        (text.contains(s.as_str()) || text.contains(middle)).then_some(middle)
    })
}
