//! The world the vendor-breach runbook runs against live, shared by tests/vendor_live.rs
//! (headless, autopilot) and tests/vendor_live_tmux.rs (a person at the screen): an AWS
//! emulator (moto_server, or an account of LocalStack, tests/support/emulator.rs) seeded with
//! Secrets Manager in two regions, the stateful provider fakes seeded with the
//! exposed keys and the attacker's usage, the runbook copy made runnable here, the
//! environment breachbook runs in, and the checks made after the run.
//!
//! A test that uses it declares `mod fake_ai;`, `mod moto;`, `mod localstack;` and
//! `mod emulator;` (tests/support/) at its root, next to `mod vendor_world;`. Every value here is an obviously fake test key.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::emulator::Emulator;
use crate::fake_ai::{AdminKeys, FakeAi, State};
use crate::moto;

pub const OPENAI_ADMIN: &str = "sk-admin-test-openai-FAKE000000000000000001";
pub const ANTHROPIC_ADMIN: &str = "sk-ant-admin-test-FAKE0000000000000000002";
pub const BRAINTRUST_KEY: &str = "bt-test-braintrust-FAKE00000000000000003";

pub const OPENAI_PROD_OLD: &str = "sk-test-openai-prod-OLD-FAKE0000000000aaP1";
pub const OPENAI_EVAL_OLD: &str = "sk-test-openai-eval-OLD-FAKE0000000000aaE1";
pub const OPENAI_UNRELATED: &str = "sk-test-openai-laptop-FAKE000000000000ZZ99";
pub const ANTHROPIC_OLD: &str = "sk-ant-test-prod-OLD-FAKE00000000000000aaA1";
pub const ANTHROPIC_UNRELATED: &str = "sk-ant-test-sandbox-FAKE000000000000000ZZ98";
pub const ANTHROPIC_NEW: &str = "sk-ant-test-prod-NEW-FAKE00000000000000bbA2";
pub const GEMINI_OLD: &str = "AIzaSy-test-gemini-OLD-FAKE000000000000aaG1";
pub const GEMINI_NEW: &str = "AIzaSy-test-gemini-NEW-FAKE000000000000bbG2";
pub const STAGING_KEY: &str = "sk-test-openai-staging-FAKE0000000000000ZZ97";

pub const PROD_PROJECT: &str = "proj_ProdEXAMPLE01";
pub const EVAL_PROJECT: &str = "proj_EvalEXAMPLE02";
pub const OPENAI_PROD_ID: &str = "key_ProdOldFake7Kq2";
pub const OPENAI_EVAL_ID: &str = "key_EvalOldFake3Vx8";
pub const OPENAI_UNRELATED_ID: &str = "key_LaptopFake9Zz1";
pub const ANTHROPIC_OLD_ID: &str = "apikey_01ProdOldFake4Hn6";
pub const ANTHROPIC_UNRELATED_ID: &str = "apikey_01SandboxFake2Mm5";
pub const ANTHROPIC_NEW_ID: &str = "apikey_01ProdNewFake8Tt3";

/// The four exposed AI keys: openai-prod (a field of prod/ai/providers, the plain-text
/// legacy/billing/openai, Braintrust), anthropic-prod (a field of prod/ai/providers,
/// Braintrust), gemini-prod (eu-west-1), openai-eval.
pub const EXPOSED: usize = 4;

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
        World {
            aws,
            fake,
            bt_before,
        }
    }

    /// The environment breachbook runs in (besides BREACHBOOK_STATE_DIR and NO_COLOR): the
    /// emulator's credentials and no AWS config files, the fakes' base URLs and admin keys,
    /// usage polled every second. Remove [`UNSET`] too.
    pub fn env(&self, state: &Path) -> Vec<(String, String)> {
        let mut env = self.aws.env(state);
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
    if st.gemini(GEMINI_NEW).is_none() {
        st.gemini_key(GEMINI_NEW);
    }
    GEMINI_NEW
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

/// The providers after the run: old keys dead, new keys live, Braintrust rewritten once
/// each, keys stored nowhere untouched. Returns the new OpenAI keys (prod, eval).
pub fn check_providers(st: &State, bt_before: &[Times]) -> (String, String) {
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

/// Secrets Manager after the run (AWSCURRENT asked for explicitly): every copy holds its new
/// key, other fields are kept, the secret out of scope is untouched. `context` is added to
/// the first message (the run's output).
pub async fn check_secrets_manager(aws: &Emulator, new_prod: &str, new_eval: &str, context: &str) {
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
        GEMINI_NEW
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
        "nothing was overridden"
    );
    usage.len()
}

/// The report names every old key by its hint: the first 3 characters, an ellipsis, the
/// last 4.
pub fn check_report(report: &str) {
    for old in [OPENAI_PROD_OLD, OPENAI_EVAL_OLD, ANTHROPIC_OLD, GEMINI_OLD] {
        let hint = format!("{}…{}", &old[..3], &old[old.len() - 4..]);
        assert!(report.contains(&hint), "the report lacks {hint}:\n{report}");
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
        GEMINI_NEW,
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
