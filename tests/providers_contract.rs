//! The providers against the contract-built fakes (tests/support/fake_ai.rs), one provider
//! at a time, each test ending with the contract check over every request it sent
//! (tests/support/contract.rs) — and the check itself: it fails on an undocumented route,
//! parameter, field or header, and on a request the contract refuses or ignores (the old
//! ways: deleting a service account's key on its own, writing a Braintrust secret with POST).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_ai.rs"]
mod fake_ai;

use std::collections::BTreeMap;

use breachbook::incident::model::{Credential, KeyGeneration};
use breachbook::incident::ports::{CreatorLog, Inventory, KeyIssuer, Liveness, ProviderError};
use breachbook::incident::provenance::Vouched;
use breachbook::providers::gemini::GeminiIssuer;
use breachbook::providers::google::GoogleCredentials;
use breachbook::providers::http;
use breachbook::providers::live::creators::IssuerLogs;
use breachbook::providers::openai::audit::OpenAiAuditLog;
use breachbook::providers::openai::{OpenAiInventory, OpenAiIssuer};
use breachbook::runbook::schema::{ExposureWindow, Issuer, OpenAiScope, Scope};
use chrono::{TimeZone, Utc};
use fake_ai::{AdminKeys, FakeAi, GOOGLE_PROJECT_NUMBER, Vendor};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

const OPENAI_ADMIN: &str = "sk-admin-test-openai-CONTRACT0000000001";
const BRAINTRUST_ADMIN: &str = "sk-test-braintrust-CONTRACT00000000002";
const GEMINI_OLD: &str = "AIzaSy-test-gemini-CONTRACT-OLD0000000aaG1";
const TOKEN: &str = "breachbook-0123456789abcdef0123456789abcdef";

fn client() -> reqwest::Client {
    http::client().unwrap()
}

async fn fake() -> FakeAi {
    FakeAi::start(AdminKeys {
        openai: OPENAI_ADMIN.into(),
        anthropic: "sk-ant-admin-test-CONTRACT000000000003".into(),
        braintrust: BRAINTRUST_ADMIN.into(),
        braintrust_org: "acme".into(),
    })
    .await
}

fn check_contract(fake: &FakeAi) -> contract::Report {
    let st = fake.state();
    assert!(st.problems.is_empty(), "{:#?}", st.problems);
    contract::check(&st.recorded)
}

fn stored_gemini() -> Credential {
    Credential {
        id: "gemini/prod/ai/gemini#GEMINI_API_KEY".into(),
        issuer: Issuer::Gemini,
        key_id: String::new(),
        name: "prod/ai/gemini#GEMINI_API_KEY".into(),
        hint: "AIz…aaG1".into(),
        created: None,
        last_used: None,
        locations: Vec::new(),
        exposed: true,
        exposure_reason: "readable".into(),
        fingerprint: None,
        meta: BTreeMap::new(),
    }
}

fn gemini_issuer(fake: &FakeAi, dir: &std::path::Path) -> GeminiIssuer {
    let file = fake.write_google_key_file(dir);
    let creds = GoogleCredentials::from_file(&file).unwrap();
    GeminiIssuer::new(client(), &fake.gemini.uri()).with_api_keys(
        client(),
        &fake.google_api_keys.uri(),
        creds,
    )
}

#[tokio::test]
async fn a_gemini_key_is_found_with_lookup_key_minted_once_per_token_and_deleted() {
    let fake = fake().await;
    let old_name = {
        let mut st = fake.state();
        let name = st.gemini_key(GEMINI_OLD);
        st.leak_gemini_key(GEMINI_OLD);
        name
    };
    let dir = tempfile::tempdir().unwrap();
    let iss = gemini_issuer(&fake, dir.path());

    // What the Secrets Manager inventory asks of a stored value.
    let mut found = stored_gemini();
    iss.identify(&mut found, &SecretString::from(GEMINI_OLD))
        .await
        .unwrap();
    assert_eq!(found.key_id, old_name, "found with keys:lookupKey");
    assert_eq!(
        found.meta["google_project"],
        format!("projects/{GOOGLE_PROJECT_NUMBER}")
    );
    assert!(
        found
            .blocked_as_leaked()
            .is_some_and(|w| w.contains("reported as leaked")),
        "{:?}",
        found.meta
    );
    assert_eq!(found.restorable_for(), Some(chrono::Duration::days(30)));
    // Blocked is not dead: the key still exists and is still to be deleted.
    let err = iss
        .verify(&found, &SecretString::from(GEMINI_OLD))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Validation { .. }) && err.to_string().contains("still exists"),
        "{err:?}"
    );
    assert_eq!(iss.old_key_liveness(&found).await.unwrap(), Liveness::Alive);

    // Minted with the rotation's keyId: a retry finds the same key (ALREADY_EXISTS).
    let new = iss.issue(&found, TOKEN).await.unwrap();
    let again = iss.issue(&found, TOKEN).await.unwrap();
    assert_eq!(new.key_id, again.key_id);
    assert_eq!(new.secret.expose_secret(), again.secret.expose_secret());
    assert!(
        new.key_id.ends_with(&format!("/keys/{TOKEN}")),
        "{}",
        new.key_id
    );
    assert_eq!(fake.state().minted_google().len(), 1, "no second key");
    assert!(
        iss.find_strays(&found, TOKEN, Utc::now(), &[])
            .await
            .unwrap()
            .is_empty(),
        "an idempotent mint leaves no strays"
    );
    {
        let st = fake.state();
        assert_eq!(
            st.minted_google()[0].restrictions,
            st.gemini(GEMINI_OLD).unwrap().restrictions,
            "the old key's restrictions"
        );
    }
    assert_eq!(
        iss.verify(&found, &new.secret).await.unwrap(),
        Liveness::Alive
    );

    iss.revoke(&found).await.unwrap();
    assert!(
        fake.state()
            .gemini(GEMINI_OLD)
            .unwrap()
            .deleted_at
            .is_some()
    );
    assert_eq!(iss.old_key_liveness(&found).await.unwrap(), Liveness::Dead);
    iss.delete(&found).await.unwrap();

    let report = check_contract(&fake);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    let st = fake.state();
    assert_eq!(
        st.count_calls("Google OAuth POST /token"),
        1,
        "one sign-in, reused"
    );
    assert!(st.count_calls("Google API Keys GET /v2/operations/") >= 2);
}

#[tokio::test]
async fn a_refused_google_sign_in_says_what_to_do() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let file = fake.write_google_key_file(dir.path());
    // Another account's key file: the signature does not verify.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let other = FakeAi::start(AdminKeys {
        openai: String::new(),
        anthropic: String::new(),
        braintrust: String::new(),
        braintrust_org: String::new(),
    })
    .await;
    let other_dir = tempfile::tempdir().unwrap();
    let other_file = other.write_google_key_file(other_dir.path());
    let other_doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&other_file).unwrap()).unwrap();
    doc["private_key"] = other_doc["private_key"].clone();
    let creds = GoogleCredentials::from_json(&doc.to_string()).unwrap();
    let iss = GeminiIssuer::new(client(), &fake.gemini.uri()).with_api_keys(
        client(),
        &fake.google_api_keys.uri(),
        creds,
    );
    let mut found = stored_gemini();
    fake.state().gemini_key(GEMINI_OLD);
    let err = iss
        .identify(&mut found, &SecretString::from(GEMINI_OLD))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    assert!(
        msg.contains("invalid_grant") && msg.contains("Invalid JWT Signature"),
        "{msg}"
    );
    assert!(msg.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{msg}");
    assert!(!msg.contains("PRIVATE KEY"), "{msg}");
    // The fake saw the assertion fail to verify, as Google would.
    let problems = std::mem::take(&mut fake.state().problems);
    assert!(
        problems.len() == 1 && problems[0].contains("does not verify"),
        "{problems:#?}"
    );
}

#[tokio::test]
async fn without_a_key_file_gemini_keys_are_made_and_deleted_by_hand() {
    let fake = fake().await;
    fake.state().gemini_key(GEMINI_OLD);
    let iss = GeminiIssuer::new(client(), &fake.gemini.uri());
    let mut found = stored_gemini();
    iss.identify(&mut found, &SecretString::from(GEMINI_OLD))
        .await
        .unwrap();
    assert_eq!(found.key_id, "", "no lookupKey without credentials");
    assert!(found.blocked_as_leaked().is_none());
    assert!(matches!(
        iss.issue(&found, TOKEN).await.unwrap_err(),
        ProviderError::ManualIssue { .. }
    ));
    match iss.revoke(&found).await.unwrap_err() {
        ProviderError::ManualRevoke { instructions, .. } => {
            assert!(instructions.contains("30 days"), "{instructions}")
        }
        e => panic!("{e:?}"),
    }
    let report = check_contract(&fake);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
}

fn exposure() -> ExposureWindow {
    ExposureWindow {
        start: Utc.with_ymd_and_hms(2026, 5, 12, 0, 0, 0).unwrap(),
        end: None,
    }
}

#[tokio::test]
async fn openai_rotation_by_service_accounts_keeps_the_contract_through_short_pages() {
    let fake = fake().await;
    {
        let mut st = fake.state();
        st.page_cap = 1;
        st.openai_project("proj_a", "Prod");
        st.openai_service_account("proj_a", "svc_acct_1", "chat-svc", "member");
        st.openai_key(
            "proj_a",
            "key_a",
            "chat",
            "sk-test-openai-CONTRACT-aaaa00000000aaP1",
            Some("svc_acct_1"),
        );
        st.openai_key(
            "proj_a",
            "key_b",
            "batch",
            "sk-test-openai-CONTRACT-bbbb00000000bbP2",
            Some("svc_acct_1"),
        );
        st.openai_usage_in("audio_speeches", "key_a", 3, 9);
        st.throttle(
            Vendor::OpenAi,
            "GET",
            "/v1/organization/usage/audio_speeches",
            1,
            Some(1),
        );
    }
    let inv = OpenAiInventory::new(
        client(),
        &fake.openai.uri(),
        Some(SecretString::from(OPENAI_ADMIN)),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let scope = Scope {
        openai: Some(OpenAiScope::default()),
        ..Scope::default()
    };
    inv.discover(&scope, &exposure(), tx).await.unwrap();
    let mut creds = Vec::new();
    while let Ok(p) = rx.try_recv() {
        creds.extend(p);
    }
    assert_eq!(creds.len(), 2, "both keys, one page each");
    let old = creds.iter().find(|c| c.key_id == "key_a").unwrap().clone();
    let takes = old.revoke_takes().join("\n");
    assert!(
        takes.contains("chat-svc (svc_acct_1)") && takes.contains("batch"),
        "{takes}"
    );

    let iss = OpenAiIssuer::new(
        client(),
        &fake.openai.uri(),
        Some(SecretString::from(OPENAI_ADMIN)),
    );
    let new = iss.issue(&old, TOKEN).await.unwrap();
    assert_eq!(
        iss.verify(&old, &new.secret).await.unwrap(),
        Liveness::Alive
    );
    // The usage of the old key across the reports; the throttled report is asked again by
    // the client itself after its Retry-After (1 s), and answers.
    let since = Utc::now() - chrono::Duration::minutes(30);
    let samples = iss
        .usage(&old, KeyGeneration::Old, None, since)
        .await
        .unwrap();
    assert_eq!(samples.iter().map(|s| s.ok).sum::<u32>(), 9);
    let new_usage = iss
        .usage(&old, KeyGeneration::New, Some(&new.key_id), since)
        .await
        .unwrap();
    assert_eq!(
        new_usage.iter().map(|s| s.ok).sum::<u32>(),
        12,
        "the new key's calls are in embeddings"
    );

    assert_eq!(iss.old_key_liveness(&old).await.unwrap(), Liveness::Alive);
    iss.revoke(&old).await.unwrap();
    assert_eq!(iss.old_key_liveness(&old).await.unwrap(), Liveness::Dead);
    {
        let st = fake.state();
        assert!(st.openai_sa("svc_acct_1").unwrap().deleted);
        assert!(
            st.openai("key_b").unwrap().deleted,
            "its other key went too"
        );
        assert!(
            !st.minted_openai()[0].deleted,
            "the new account's key lives"
        );
    }
    let report = check_contract(&fake);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
}

/// OpenAI keys made in the window are judged by the organization's audit log: a stranger's
/// key is a suspect with its creator and address, a known creator's is not, one the log does
/// not record is a suspect that says why, and a log that cannot be read (logging off) makes
/// every such key a suspect saying so. Short pages and a 429 on the way.
#[tokio::test]
async fn openai_keys_made_in_the_window_are_judged_by_the_audit_log() {
    let fake = fake().await;
    let window = exposure();
    let t = |mins: i64| (window.start + chrono::Duration::minutes(mins)).timestamp();
    {
        let mut st = fake.state();
        st.page_cap = 1;
        st.openai_project("proj_a", "Prod");
        st.openai_service_account("proj_a", "svc_acct_ci", "ci", "owner");
        st.openai_service_account("proj_a", "svc_acct_x", "backup", "owner");
        for (id, value, sa, at) in [
            (
                "key_eve",
                "sk-test-openai-AUDIT-eeee00000000eeE1",
                None,
                t(30),
            ),
            (
                "key_ci",
                "sk-test-openai-AUDIT-cccc00000000ccC1",
                Some("svc_acct_ci"),
                t(40),
            ),
            (
                "key_quiet",
                "sk-test-openai-AUDIT-qqqq00000000qqQ1",
                None,
                t(50),
            ),
            (
                "key_x",
                "sk-test-openai-AUDIT-xxxx00000000xxX1",
                Some("svc_acct_x"),
                t(60),
            ),
        ] {
            st.openai_key("proj_a", id, id, value, sa);
            st.openai_key_created(id, at);
        }
        // Before the window: not asked for.
        st.openai_audit_event(
            "api_key.created",
            t(-600),
            Some("proj_a"),
            fake_ai::openai_session("old@example.com", "198.51.100.1"),
            serde_json::json!({"id": "key_quiet", "data": {"scopes": []}}),
        );
        st.openai_audit_event(
            "api_key.created",
            t(30),
            Some("proj_a"),
            fake_ai::openai_session("eve@example.net", "203.0.113.9"),
            serde_json::json!({"id": "key_eve", "data": {"scopes": ["api.all"]}}),
        );
        st.openai_audit_event(
            "api_key.created",
            t(40),
            Some("proj_a"),
            fake_ai::openai_service_account_actor("svc_acct_deployer"),
            serde_json::json!({"id": "key_ci", "data": {"scopes": ["api.all"]}}),
        );
        // A service account made with its key: the key has no event of its own here.
        st.openai_audit_event(
            "service_account.created",
            t(60),
            Some("proj_a"),
            fake_ai::openai_session("eve@example.net", "203.0.113.9"),
            serde_json::json!({"id": "svc_acct_x", "data": {"role": "owner"}}),
        );
        st.openai_audit_event(
            "user.added",
            t(70),
            Some("proj_a"),
            fake_ai::openai_session("eve@example.net", "203.0.113.9"),
            serde_json::json!({"id": "user-mallory", "data": {"role": "owner"}}),
        );
        // Not asked for: the log holds more than breachbook reads.
        st.openai_audit_event(
            "login.succeeded",
            t(20),
            None,
            fake_ai::openai_session("eve@example.net", "203.0.113.9"),
            serde_json::json!({}),
        );
        st.throttle(
            Vendor::OpenAi,
            "GET",
            "/v1/organization/audit_logs",
            1,
            Some(1),
        );
    }
    let inv = OpenAiInventory::new(
        client(),
        &fake.openai.uri(),
        Some(SecretString::from(OPENAI_ADMIN)),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let scope = Scope {
        openai: Some(OpenAiScope::default()),
        ..Scope::default()
    };
    inv.discover(&scope, &window, tx).await.unwrap();
    let mut creds = Vec::new();
    while let Ok(p) = rx.try_recv() {
        creds.extend(p);
    }
    let created: Vec<_> = creds
        .into_iter()
        .filter(|c| c.created.is_some_and(|t| t >= window.start))
        .collect();
    assert_eq!(created.len(), 4);

    let log = OpenAiAuditLog::new(
        client(),
        &fake.openai.uri(),
        Some(SecretString::from(OPENAI_ADMIN)),
    )
    .with_backoff(std::time::Duration::from_millis(10), 3);
    let found = log.look_up(&window, &created).await.unwrap();
    let known = vec!["svc_acct_deployer".to_string()];
    let vouched = Vouched {
        responder: None,
        known_creators: &known,
    };
    let verdict = |key: &str| {
        let p = found
            .creators
            .iter()
            .find(|(id, _)| id == &format!("openai/{key}"))
            .map(|(_, p)| p.clone());
        vouched.judge(p.as_ref())
    };
    let eve = verdict("key_eve");
    assert!(eve.is_suspect(), "{eve:?}");
    assert!(
        eve.why().contains("eve@example.net") && eve.why().contains("203.0.113.9"),
        "{}",
        eve.why()
    );
    assert!(!verdict("key_ci").is_suspect(), "{:?}", verdict("key_ci"));
    let quiet = verdict("key_quiet");
    assert!(
        quiet.is_suspect() && quiet.why().contains("no api_key.created event"),
        "{quiet:?}"
    );
    let x = verdict("key_x");
    assert!(
        x.is_suspect() && x.why().contains("eve@example.net"),
        "made with its service account: {x:?}"
    );
    let actions: Vec<(&str, &str)> = found
        .persistence
        .iter()
        .map(|f| (f.action.as_str(), f.creator.identity.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("service_account.created", "eve@example.net"),
            ("user.added", "eve@example.net")
        ]
    );
    assert!(
        found.persistence[0].target.contains("svc_acct_x")
            && found.persistence[0].target.contains("Prod"),
        "{:?}",
        found.persistence[0]
    );
    {
        let st = fake.state();
        assert_eq!(st.throttled.len(), 1, "one 429, then retried");
        assert!(
            st.count_calls("OpenAI GET /v1/organization/audit_logs") >= 5,
            "short pages followed by their cursor"
        );
    }

    // Logging off: every key of the window is a suspect that says why, nothing is "safe".
    fake.state().openai_audit_refused = Some(403);
    let mut logs = IssuerLogs::default();
    logs.insert(Issuer::Openai, std::sync::Arc::new(log));
    let off = logs.look_up(&window, &created).await.unwrap();
    assert_eq!(off.creators.len(), 4);
    for (id, p) in &off.creators {
        let v = vouched.judge(Some(p));
        assert!(v.is_suspect(), "{id}: {v:?}");
        assert!(
            v.why().contains("audit log could not be read") && v.why().contains("Data controls"),
            "{id}: {}",
            v.why()
        );
    }
    let report = check_contract(&fake);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert!(
        report
            .by_route
            .contains_key("OpenAI GET /v1/organization/audit_logs"),
        "{}",
        report.summary()
    );
}

/// Anthropic's keys name their creator (`created_by`); Braintrust's and Google's record
/// none, so such a key made in the window stays a suspect that says so.
#[tokio::test]
async fn anthropic_keys_name_their_creator_and_braintrust_keys_record_none() {
    let fake = fake().await;
    fake.state().anthropic_key(
        "apikey_01new",
        "made last night",
        "sk-ant-api03-test-CONTRACT-nnnn0000000000000nN1",
        "active",
    );
    let inv = breachbook::providers::anthropic::AnthropicInventory::new(
        client(),
        &fake.anthropic.uri(),
        Some(SecretString::from("sk-ant-admin-test-CONTRACT000000000003")),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let scope = Scope {
        anthropic: Some(Default::default()),
        ..Scope::default()
    };
    inv.discover(&scope, &exposure(), tx).await.unwrap();
    let mut creds = Vec::new();
    while let Ok(p) = rx.try_recv() {
        creds.extend(p);
    }
    let key = creds
        .iter()
        .find(|c| c.key_id == "apikey_01new")
        .unwrap()
        .clone();
    let mut bt = key.clone();
    bt.id = "braintrust-key/00000000-0000-4000-8001-000000000009".into();
    bt.issuer = Issuer::Braintrust;
    bt.meta = BTreeMap::from([("owner".to_string(), "ops@example.com".to_string())]);
    let mut logs = IssuerLogs::default();
    logs.insert(
        Issuer::Anthropic,
        std::sync::Arc::new(breachbook::providers::anthropic::AnthropicCreators),
    );
    let found = logs
        .look_up(&exposure(), &[key.clone(), bt.clone()])
        .await
        .unwrap();
    let of = |id: &str| {
        found
            .creators
            .iter()
            .find(|(c, _)| c == id)
            .map(|(_, p)| p.clone())
    };
    match of(&key.id) {
        Some(breachbook::incident::provenance::Provenance::Creator { creator }) => {
            assert_eq!(creator.identity, "user_01EXAMPLE");
            assert_eq!(creator.kind.as_deref(), Some("user"));
        }
        other => panic!("{other:?}"),
    }
    let none = Vouched {
        responder: None,
        known_creators: &[],
    };
    let v = none.judge(of(&bt.id).as_ref());
    assert!(v.is_suspect(), "{v:?}");
    assert!(
        v.why().contains("Braintrust records no creator") && v.why().contains("ops@example.com"),
        "{}",
        v.why()
    );
    let report = check_contract(&fake);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
}

/// The check is not a formality: the old ways and made-up requests fail it.
#[tokio::test]
async fn the_contract_check_catches_refused_ignored_and_undocumented_requests() {
    let fake = fake().await;
    {
        let mut st = fake.state();
        st.openai_project("proj_a", "Prod");
        st.openai_service_account("proj_a", "svc_acct_1", "chat-svc", "member");
        st.openai_key(
            "proj_a",
            "key_a",
            "chat",
            "sk-test-openai-CONTRACT-aaaa00000000aaP1",
            Some("svc_acct_1"),
        );
        st.braintrust_secret(
            "OPENAI_API_KEY",
            "openai",
            "sk-test-openai-CONTRACT-aaaa00000000aaP1",
            Utc::now() - chrono::Duration::days(3),
        );
    }
    let c = client();
    let ua = http::USER_AGENT;
    let openai = |m: reqwest::Method, p: &str| {
        c.request(m, format!("{}{p}", fake.openai.uri()))
            .bearer_auth(OPENAI_ADMIN)
            .header("user-agent", ua)
    };
    // 1. The old revoke: the project-key delete of a service account's key.
    let r = openai(
        reqwest::Method::DELETE,
        "/v1/organization/projects/proj_a/api_keys/key_a",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 400, "OAI delete-project-api-key refuses it");
    // 2. A made-up parameter and a made-up route.
    openai(
        reqwest::Method::GET,
        "/v1/organization/projects?limit=100&order=desc",
    )
    .send()
    .await
    .unwrap();
    openai(reqwest::Method::GET, "/v1/organization/api_keys")
        .send()
        .await
        .unwrap();
    // 3. A limit out of range, and a body field the create does not take.
    openai(reqwest::Method::GET, "/v1/organization/projects?limit=1000")
        .send()
        .await
        .unwrap();
    openai(
        reqwest::Method::POST,
        "/v1/organization/projects/proj_a/service_accounts",
    )
    .json(&serde_json::json!({"name": "x", "role": "owner"}))
    .send()
    .await
    .unwrap();
    // 4. Braintrust's POST on an existing name: 200, and nothing written.
    let before = fake.state().ai_secret("OPENAI_API_KEY").unwrap().clone();
    let r = c
        .post(format!("{}/v1/ai_secret", fake.braintrust.uri()))
        .bearer_auth(BRAINTRUST_ADMIN)
        .header("user-agent", ua)
        .json(&serde_json::json!({"name": "OPENAI_API_KEY", "secret": "sk-test-NEW-00000000000000000000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after = fake.state().ai_secret("OPENAI_API_KEY").unwrap().clone();
    assert_eq!(
        (after.value, after.secret_updated_at, after.writes),
        (before.value, before.secret_updated_at, 0),
        "BT postAiSecret returns the existing secret unmodified"
    );
    // 5. Anthropic without its version header.
    c.get(format!(
        "{}/v1/organizations/api_keys",
        fake.anthropic.uri()
    ))
    .header("x-api-key", "sk-ant-admin-test-CONTRACT000000000003")
    .header("user-agent", ua)
    .send()
    .await
    .unwrap();

    let v = contract::check(&fake.state().recorded).violations;
    let has = |needle: &str| v.iter().any(|x| x.contains(needle));
    assert!(
        has("api_keys/key_a: the contract refuses this request: OAI delete-project-api-key"),
        "{v:#?}"
    );
    assert!(has("query parameter `order` is not documented"), "{v:#?}");
    assert!(
        has("GET /v1/organization/api_keys: no such route is documented"),
        "{v:#?}"
    );
    assert!(has("query parameter `limit` = \"1000\""), "{v:#?}");
    assert!(has("body field `role` is not documented"), "{v:#?}");
    assert!(
        has("the contract refuses this request: BT postAiSecret"),
        "{v:#?}"
    );
    assert!(has("anthropic-version is None"), "{v:#?}");
}
