//! The HTTP providers (OpenAI, Anthropic, Gemini, Braintrust) against wiremock servers that
//! speak the providers' documented request and response shapes. Each test asserts the exact
//! requests (method, path, query, auth headers, JSON body) and what a responder would see:
//! credentials, liveness, errors that say what to do — and never a key in a log or message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breachbook::incident::model::{Credential, KeyGeneration, Location, LocationKind};
use breachbook::incident::ports::{Inventory, KeyIssuer, Liveness, ProviderError, SecretStore};
use breachbook::providers::anthropic::{AnthropicInventory, AnthropicIssuer};
use breachbook::providers::braintrust::{BraintrustInventory, BraintrustStore};
use breachbook::providers::gemini::GeminiIssuer;
use breachbook::providers::http::{self, AdminKeys, Endpoints};
use breachbook::providers::openai::{OpenAiInventory, OpenAiIssuer};
use breachbook::runbook::schema::{
    AnthropicScope, BraintrustScope, ExposureWindow, Issuer, OpenAiScope, Scope,
};
use chrono::{DateTime, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::sync::mpsc;
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const OPENAI_ADMIN: &str = "sk-admin-test-OPENAIADMIN0123456789zz";
const OPENAI_OLD: &str = "sk-test-OLDKEY0123456789abcdefWXYZ";
const OPENAI_NEW: &str = "sk-test-NEWKEY0123456789abcdefQRST";
const ANTHROPIC_ADMIN: &str = "sk-ant-admin01-test-ADMIN0123456789zz";
const ANTHROPIC_KEY: &str = "sk-ant-test-api03-KEY0123456789abcdIGAA";
const GEMINI_KEY: &str = "AIzaSyTEST0123456789abcdefghijklmnopq";
const BRAINTRUST_ADMIN: &str = "sk-test-BRAINTRUST0123456789abcdefz";
const BRAINTRUST_NEW: &str = "sk-test-BTNEWVALUE0123456789abcdNEW1";
const TOKEN: &str = "breachbook-0123456789abcdef0123456789abcdef";

fn secret(s: &str) -> SecretString {
    SecretString::from(s)
}

fn client() -> reqwest::Client {
    http::client().unwrap()
}

fn exposure() -> ExposureWindow {
    ExposureWindow {
        start: Utc.with_ymd_and_hms(2026, 5, 12, 0, 0, 0).unwrap(),
        end: None,
    }
}

fn cred(id: &str, issuer: Issuer, key_id: &str, meta: &[(&str, &str)]) -> Credential {
    Credential {
        id: id.into(),
        issuer,
        key_id: key_id.into(),
        name: "prod".into(),
        hint: "sk-…WXYZ".into(),
        created: None,
        last_used: None,
        locations: Vec::new(),
        exposed: true,
        exposure_reason: String::new(),
        fingerprint: None,
        meta: meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

async fn discover(
    inv: &dyn Inventory,
    scope: &Scope,
) -> (Vec<Vec<Credential>>, Result<(), ProviderError>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let res = inv.discover(scope, &exposure(), tx).await;
    let mut pages = Vec::new();
    while let Ok(p) = rx.try_recv() {
        pages.push(p);
    }
    (pages, res)
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

// ---------------------------------------------------------------- shared configuration

#[test]
fn endpoints_default_to_the_real_apis_and_keys_stay_out_of_debug() {
    let e = Endpoints::default();
    assert_eq!(e.openai, "https://api.openai.com");
    assert_eq!(e.anthropic, "https://api.anthropic.com");
    assert_eq!(e.gemini, "https://generativelanguage.googleapis.com");
    assert_eq!(e.braintrust, "https://api.braintrust.dev");
    let eu = Endpoints::from_lookup(|v| {
        (v == "BREACHBOOK_BRAINTRUST_BASE_URL").then(|| "https://api-eu.braintrust.dev/".into())
    });
    assert_eq!(eu.braintrust, "https://api-eu.braintrust.dev");
    let keys = AdminKeys::from_lookup(|v| (v == "OPENAI_ADMIN_KEY").then(|| OPENAI_ADMIN.into()));
    assert_eq!(keys.openai.as_ref().unwrap().expose_secret(), OPENAI_ADMIN);
    assert!(keys.anthropic.is_none() && keys.braintrust.is_none());
    let inv = OpenAiInventory::new(client(), "http://127.0.0.1:9", keys.openai.clone());
    let iss = OpenAiIssuer::new(client(), "http://127.0.0.1:9", keys.openai.clone());
    for dbg in [format!("{keys:?}"), format!("{inv:?}"), format!("{iss:?}")] {
        assert!(!dbg.contains("OPENAIADMIN"), "{dbg}");
    }
}

// ---------------------------------------------------------------- OpenAI

fn openai_key(id: &str, name: &str, redacted: &str, owner: serde_json::Value) -> serde_json::Value {
    json!({
        "object": "organization.project.api_key",
        "redacted_value": redacted,
        "name": name,
        "created_at": 1_746_000_000,
        "last_used_at": 1_778_000_000,
        "id": id,
        "owner": owner,
    })
}

#[tokio::test]
async fn openai_inventory_lists_project_keys_page_by_page_with_owner_facts() {
    let server = MockServer::start().await;
    let auth = bearer(OPENAI_ADMIN);
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects"))
        .and(header("authorization", auth.as_str()))
        .and(query_param("limit", "100"))
        .and(query_param_is_missing("after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [{"id": "proj_a", "object": "organization.project", "name": "Prod", "created_at": 1, "status": "active"}],
            "first_id": "proj_a", "last_id": "proj_a", "has_more": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects"))
        .and(query_param("after", "proj_a"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [
                {"id": "proj_b", "object": "organization.project", "name": "Staging", "created_at": 1, "status": "active"},
                {"id": "proj_c", "object": "organization.project", "name": "Other", "created_at": 1, "status": "active"}
            ],
            "first_id": "proj_b", "last_id": "proj_c", "has_more": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects/proj_a/api_keys"))
        .and(header("authorization", auth.as_str()))
        .and(query_param("limit", "100"))
        .and(query_param("owner_project_access", "any"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [
                openai_key("key_user", "", "sk-abc*****WXYZ", json!({"type": "user", "user": {"id": "user_1", "name": "Ada", "email": "ada@example.com", "role": "owner", "created_at": 1}})),
                openai_key("key_sa", "billing", "sk-svc*****QRST", json!({"type": "service_account", "service_account": {"id": "svc_acct_1", "name": "billing-bot", "role": "member", "created_at": 1}})),
            ],
            "first_id": "key_user", "last_id": "key_sa", "has_more": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects/proj_b/api_keys"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list", "data": [], "first_id": null, "last_id": null, "has_more": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects/proj_c/api_keys"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;

    let inv = OpenAiInventory::new(client(), &server.uri(), Some(secret(OPENAI_ADMIN)));
    let scope = Scope {
        openai: Some(OpenAiScope {
            organization: None,
            projects: vec!["proj_a".into(), "proj_b".into()],
        }),
        ..Scope::default()
    };
    let (pages, res) = discover(&inv, &scope).await;
    res.unwrap();
    assert_eq!(pages.len(), 1, "one page per project with keys");
    let creds = &pages[0];
    let user = &creds[0];
    assert_eq!(user.id, "openai/key_user");
    assert_eq!(user.issuer, Issuer::Openai);
    assert_eq!(user.key_id, "key_user");
    assert_eq!(user.name, "Ada", "an unnamed key takes its owner's name");
    assert_eq!(user.hint, "sk-…WXYZ");
    assert_eq!(user.created, DateTime::from_timestamp(1_746_000_000, 0));
    assert_eq!(user.last_used, DateTime::from_timestamp(1_778_000_000, 0));
    assert_eq!(user.meta["project_id"], "proj_a");
    assert_eq!(user.meta["owner_type"], "user");
    assert!(!user.meta.contains_key("service_account_id"));
    assert!(!user.exposed);
    assert!(user.locations.is_empty());
    assert_eq!(
        user.exposure_reason,
        "listed at OpenAI; exposed only where a stored copy was readable"
    );
    let sa = &creds[1];
    assert_eq!(sa.name, "billing");
    assert_eq!(sa.meta["owner_type"], "service_account");
    assert_eq!(sa.meta["service_account_id"], "svc_acct_1");
}

#[tokio::test]
async fn a_mistyped_scope_entry_is_an_error_not_an_empty_inventory() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [{"id": "proj_a", "object": "organization.project", "name": "Prod", "created_at": 1, "status": "active"}],
            "has_more": false
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects/proj_a/api_keys"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [openai_key("key_user", "prod", "sk-abc*****WXYZ", json!({"type": "user", "user": {"id": "user_1", "name": "Ada"}}))],
            "has_more": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": [
            ai_secret(1, "OPENAI_API_KEY", "openai", "2026-04-01T08:00:00Z")
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    let openai = OpenAiInventory::new(client(), &server.uri(), Some(secret(OPENAI_ADMIN)));
    let braintrust =
        BraintrustInventory::new(client(), &server.uri(), Some(secret(BRAINTRUST_ADMIN)));
    let scope = Scope {
        openai: Some(OpenAiScope {
            organization: None,
            projects: vec!["proj_a".into(), "proj_typo".into()],
        }),
        braintrust: Some(BraintrustScope {
            organization: "acme".into(),
            secrets: vec!["OPENAI_API_KEY".into(), "OPENAI_APIKEY".into()],
        }),
        ..Scope::default()
    };
    for (inv, typo) in [
        (&openai as &dyn Inventory, "proj_typo"),
        (&braintrust as &dyn Inventory, "OPENAI_APIKEY"),
    ] {
        let (pages, res) = discover(inv, &scope).await;
        assert_eq!(pages.len(), 1, "what was found is still sent");
        let err = res.unwrap_err();
        assert!(matches!(err, ProviderError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains(typo), "{err}");
    }
}

#[tokio::test]
async fn openai_without_admin_key_says_which_variable_to_set_and_calls_nothing() {
    let server = MockServer::start().await;
    let inv = OpenAiInventory::new(client(), &server.uri(), None);
    let scope = Scope {
        openai: Some(OpenAiScope::default()),
        ..Scope::default()
    };
    let (_, res) = discover(&inv, &scope).await;
    let err = res.unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("OPENAI_ADMIN_KEY"), "{err}");
    let iss = OpenAiIssuer::new(client(), &server.uri(), None);
    let old = cred(
        "openai/key_sa",
        Issuer::Openai,
        "key_sa",
        &[("project_id", "proj_a")],
    );
    let err = iss.revoke(&old).await.unwrap_err();
    assert!(err.to_string().contains("OPENAI_ADMIN_KEY"), "{err}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn openai_verify_reads_200_as_alive_and_401_as_dead_without_the_admin_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", bearer(OPENAI_NEW).as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"object": "list", "data": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", bearer(OPENAI_OLD).as_str()))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"message": format!("Incorrect API key provided: {OPENAI_OLD}."), "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let iss = OpenAiIssuer::new(client(), &server.uri(), None);
    let c = cred("openai/key_sa", Issuer::Openai, "key_sa", &[]);
    assert_eq!(
        iss.verify(&c, &secret(OPENAI_NEW)).await.unwrap(),
        Liveness::Alive
    );
    assert_eq!(
        iss.verify(&c, &secret(OPENAI_OLD)).await.unwrap(),
        Liveness::Dead
    );
}

#[tokio::test]
async fn openai_mints_a_service_account_key_once_per_token() {
    let server = MockServer::start().await;
    let auth = bearer(OPENAI_ADMIN);
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects/proj_a/api_keys"))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [openai_key("key_sa", "billing", "sk-svc*****WXYZ", json!({"type": "service_account", "service_account": {"id": "svc_acct_1", "name": "billing-bot"}}))],
            "first_id": "key_sa", "last_id": "key_sa", "has_more": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(
            "/v1/organization/projects/proj_a/service_accounts/svc_acct_1/api_keys",
        ))
        .and(header("authorization", auth.as_str()))
        .and(body_json(json!({"name": TOKEN})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "key_new",
            "created_at": 1_778_600_000,
            "name": TOKEN,
            "object": "organization.project.service_account.api_key",
            "value": OPENAI_NEW,
            "expires_at": null
        })))
        .expect(1)
        .mount(&server)
        .await;
    let iss = OpenAiIssuer::new(client(), &server.uri(), Some(secret(OPENAI_ADMIN)));
    let old = cred(
        "openai/key_sa",
        Issuer::Openai,
        "key_sa",
        &[
            ("project_id", "proj_a"),
            ("owner_type", "service_account"),
            ("service_account_id", "svc_acct_1"),
        ],
    );
    let new = iss.issue(&old, TOKEN).await.unwrap();
    assert_eq!(new.key_id, "key_new");
    assert_eq!(new.hint, "sk-…QRST");
    assert_eq!(new.secret.expose_secret(), OPENAI_NEW);
    assert!(!format!("{new:?}").contains("NEWKEY"));
    // A retry (say, staging failed) returns the same key and mints nothing.
    let again = iss.issue(&old, TOKEN).await.unwrap();
    assert_eq!(again.key_id, "key_new");
    assert_eq!(again.secret.expose_secret(), OPENAI_NEW);
}

#[tokio::test]
async fn openai_refuses_to_mint_twice_after_a_lost_value() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects/proj_a/api_keys"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [openai_key("key_orphan", TOKEN, "sk-svc*****ABCD", json!({"type": "service_account", "service_account": {"id": "svc_acct_1"}}))],
            "has_more": false
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let iss = OpenAiIssuer::new(client(), &server.uri(), Some(secret(OPENAI_ADMIN)));
    let old = cred(
        "openai/key_sa",
        Issuer::Openai,
        "key_sa",
        &[
            ("project_id", "proj_a"),
            ("owner_type", "service_account"),
            ("service_account_id", "svc_acct_1"),
        ],
    );
    let err = iss.issue(&old, TOKEN).await.unwrap_err();
    assert!(matches!(err, ProviderError::Validation { .. }), "{err:?}");
    assert!(err.to_string().contains("key_orphan"), "{err}");
}

#[tokio::test]
async fn openai_user_keys_are_minted_by_hand() {
    let server = MockServer::start().await;
    let iss = OpenAiIssuer::new(client(), &server.uri(), Some(secret(OPENAI_ADMIN)));
    for meta in [
        vec![
            ("project_id", "proj_a"),
            ("project_name", "Prod"),
            ("owner_type", "user"),
        ],
        vec![],
    ] {
        let old = cred("openai/key_user", Issuer::Openai, "key_user", &meta);
        match iss.issue(&old, TOKEN).await.unwrap_err() {
            ProviderError::ManualIssue {
                provider,
                instructions,
            } => {
                assert_eq!(provider, "OpenAI");
                for needle in [
                    "platform.openai.com",
                    "API keys",
                    "Create new secret key",
                    TOKEN,
                    "hidden input",
                ] {
                    assert!(
                        instructions.contains(needle),
                        "{needle} missing: {instructions}"
                    );
                }
            }
            e => panic!("expected ManualIssue, got {e:?}"),
        }
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn openai_revoke_deletes_the_key_and_delete_after_it_finds_it_gone() {
    let server = MockServer::start().await;
    let auth = bearer(OPENAI_ADMIN);
    let key_path = "/v1/organization/projects/proj_a/api_keys/key_sa";
    Mock::given(method("GET"))
        .and(path(key_path))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_key(
            "key_sa",
            "billing",
            "sk-svc*****WXYZ",
            json!({"type": "service_account"}),
        )))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(key_path))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "organization.project.api_key.deleted", "id": "key_sa", "deleted": true
        })))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let gone = ResponseTemplate::new(404).set_body_json(json!({
        "error": {"message": "No such API key: key_sa", "type": "invalid_request_error", "code": null}
    }));
    Mock::given(method("DELETE"))
        .and(path(key_path))
        .respond_with(gone.clone())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(key_path))
        .respond_with(gone)
        .expect(1)
        .mount(&server)
        .await;
    let iss = OpenAiIssuer::new(client(), &server.uri(), Some(secret(OPENAI_ADMIN)));
    let old = cred(
        "openai/key_sa",
        Issuer::Openai,
        "key_sa",
        &[("project_id", "proj_a")],
    );
    assert_eq!(iss.old_key_liveness(&old).await.unwrap(), Liveness::Alive);
    iss.revoke(&old).await.unwrap();
    iss.delete(&old).await.unwrap();
    assert_eq!(iss.old_key_liveness(&old).await.unwrap(), Liveness::Dead);
}

#[tokio::test]
async fn openai_usage_is_completions_requests_per_minute() {
    let server = MockServer::start().await;
    let since = Utc.with_ymd_and_hms(2026, 5, 13, 9, 0, 30).unwrap();
    let start = Utc
        .with_ymd_and_hms(2026, 5, 13, 9, 0, 0)
        .unwrap()
        .timestamp();
    let start_s = start.to_string();
    let bucket = |t: i64, n: u64| {
        json!({"object": "bucket", "start_time": t, "end_time": t + 60, "results": [{
            "object": "organization.usage.completions.result",
            "input_tokens": 10, "output_tokens": 5, "num_model_requests": n,
            "project_id": null, "user_id": null, "api_key_id": "key_sa", "model": null, "batch": null
        }]})
    };
    Mock::given(method("GET"))
        .and(path("/v1/organization/usage/completions"))
        .and(header("authorization", bearer(OPENAI_ADMIN).as_str()))
        .and(query_param("start_time", start_s.as_str()))
        .and(query_param("bucket_width", "1m"))
        .and(query_param("group_by", "api_key_id"))
        .and(query_param("api_key_ids", "key_sa"))
        .and(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "page",
            "data": [bucket(start, 3), {"object": "bucket", "start_time": start + 60, "end_time": start + 120, "results": []}],
            "has_more": true, "next_page": "page_2"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/organization/usage/completions"))
        .and(query_param("page", "page_2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "page", "data": [bucket(start + 120, 40)], "has_more": false, "next_page": null
        })))
        .expect(1)
        .mount(&server)
        .await;
    let iss = OpenAiIssuer::new(client(), &server.uri(), Some(secret(OPENAI_ADMIN)));
    let old = cred(
        "openai/key_sa",
        Issuer::Openai,
        "key_sa",
        &[("project_id", "proj_a")],
    );
    let samples = iss
        .usage(&old, KeyGeneration::Old, None, since)
        .await
        .unwrap();
    let got: Vec<(i64, u32, u32)> = samples
        .iter()
        .map(|s| (s.minute.timestamp(), s.ok, s.denied))
        .collect();
    assert_eq!(got, vec![(start, 3, 0), (start + 120, 40, 0)]);
    assert!(
        samples
            .iter()
            .all(|s| s.credential == "openai/key_sa" && s.generation == KeyGeneration::Old)
    );
    // No new key yet: nothing to ask.
    assert!(
        iss.usage(&old, KeyGeneration::New, None, since)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn throttling_honours_retry_after_and_server_errors_are_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_json(json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "code": "rate_limit_exceeded"}})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream connect error"))
        .mount(&server)
        .await;
    let inv = OpenAiInventory::new(client(), &server.uri(), Some(secret(OPENAI_ADMIN)));
    let scope = Scope {
        openai: Some(OpenAiScope::default()),
        ..Scope::default()
    };
    let err = discover(&inv, &scope).await.1.unwrap_err();
    assert!(matches!(err, ProviderError::Throttled { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert!(err.is_retryable());
    let err = discover(&inv, &scope).await.1.unwrap_err();
    assert!(
        matches!(err, ProviderError::Server { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(err.to_string().contains("upstream connect error"), "{err}");
}

#[tokio::test]
async fn an_unreachable_provider_is_a_retryable_network_error() {
    // Nothing listens on port 9 of the loopback.
    let iss = OpenAiIssuer::new(client(), "http://127.0.0.1:9", None);
    let c = cred("openai/x", Issuer::Openai, "x", &[]);
    let err = iss.verify(&c, &secret(OPENAI_NEW)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ProviderError::Network { .. } | ProviderError::Timeout { .. }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

// ---------------------------------------------------------------- Anthropic

fn anthropic_key(id: &str, status: &str, workspace: Option<&str>) -> serde_json::Value {
    json!({
        "id": id,
        "type": "api_key",
        "created_at": "2026-03-01T10:00:00.123456Z",
        "created_by": {"id": "user_01", "type": "user"},
        "name": format!("key {id}"),
        "partial_key_hint": "sk-ant-api03-R2D...igAA",
        "status": status,
        "workspace_id": workspace,
    })
}

#[tokio::test]
async fn anthropic_inventory_pages_through_every_status() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/organizations/api_keys"))
        .and(header("x-api-key", ANTHROPIC_ADMIN))
        .and(header("anthropic-version", "2023-06-01"))
        .and(query_param("workspace_id", "wrkspc_01"))
        .and(query_param("limit", "1000"))
        .and(query_param_is_missing("after_id"))
        .and(query_param_is_missing("status"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [anthropic_key("apikey_01", "active", Some("wrkspc_01"))],
            "first_id": "apikey_01", "has_more": true, "last_id": "apikey_01"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/organizations/api_keys"))
        .and(query_param("workspace_id", "wrkspc_01"))
        .and(query_param("after_id", "apikey_01"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [anthropic_key("apikey_02", "inactive", Some("wrkspc_01"))],
            "first_id": "apikey_02", "has_more": false, "last_id": "apikey_02"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let inv = AnthropicInventory::new(client(), &server.uri(), Some(secret(ANTHROPIC_ADMIN)));
    let scope = Scope {
        anthropic: Some(AnthropicScope {
            organization: None,
            workspaces: vec!["wrkspc_01".into()],
        }),
        ..Scope::default()
    };
    let (pages, res) = discover(&inv, &scope).await;
    res.unwrap();
    let creds: Vec<Credential> = pages.into_iter().flatten().collect();
    assert_eq!(creds.len(), 2);
    let a = &creds[0];
    assert_eq!(a.id, "anthropic/apikey_01");
    assert_eq!(a.issuer, Issuer::Anthropic);
    assert_eq!(a.key_id, "apikey_01");
    assert_eq!(a.hint, "sk-…igAA");
    assert_eq!(a.meta["workspace_id"], "wrkspc_01");
    assert_eq!(a.meta["status"], "active");
    assert_eq!(
        a.created,
        Some(
            Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap()
                + chrono::Duration::microseconds(123_456)
        )
    );
    assert!(!a.exposed);
    assert_eq!(creds[1].meta["status"], "inactive");
}

#[tokio::test]
async fn anthropic_verify_revoke_delete_and_liveness() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("x-api-key", ANTHROPIC_KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": [], "has_more": false})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let key_path = "/v1/organizations/api_keys/apikey_01";
    Mock::given(method("POST"))
        .and(path(key_path))
        .and(header("x-api-key", ANTHROPIC_ADMIN))
        .and(header("anthropic-version", "2023-06-01"))
        .and(body_json(json!({"status": "inactive"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(anthropic_key(
            "apikey_01",
            "inactive",
            None,
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(key_path))
        .and(body_json(json!({"status": "archived"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(anthropic_key(
            "apikey_01",
            "archived",
            None,
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(key_path))
        .and(header("x-api-key", ANTHROPIC_ADMIN))
        .respond_with(ResponseTemplate::new(200).set_body_json(anthropic_key(
            "apikey_01",
            "active",
            None,
        )))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(key_path))
        .respond_with(ResponseTemplate::new(200).set_body_json(anthropic_key(
            "apikey_01",
            "inactive",
            None,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let iss = AnthropicIssuer::new(client(), &server.uri(), Some(secret(ANTHROPIC_ADMIN)));
    let old = cred("anthropic/apikey_01", Issuer::Anthropic, "apikey_01", &[]);
    assert_eq!(
        iss.verify(&old, &secret(ANTHROPIC_KEY)).await.unwrap(),
        Liveness::Alive
    );
    assert_eq!(
        iss.verify(&old, &secret(ANTHROPIC_KEY)).await.unwrap(),
        Liveness::Dead
    );
    assert_eq!(iss.old_key_liveness(&old).await.unwrap(), Liveness::Alive);
    iss.revoke(&old).await.unwrap();
    assert_eq!(iss.old_key_liveness(&old).await.unwrap(), Liveness::Dead);
    iss.delete(&old).await.unwrap();
}

#[tokio::test]
async fn anthropic_keys_are_created_in_the_console() {
    let iss = AnthropicIssuer::new(client(), "http://127.0.0.1:9", None);
    let old = cred(
        "anthropic/apikey_01",
        Issuer::Anthropic,
        "apikey_01",
        &[("workspace_id", "wrkspc_01")],
    );
    match iss.issue(&old, TOKEN).await.unwrap_err() {
        ProviderError::ManualIssue { instructions, .. } => {
            for needle in [
                "console.anthropic.com",
                "Settings → API keys",
                "Create key",
                "wrkspc_01",
                TOKEN,
            ] {
                assert!(
                    instructions.contains(needle),
                    "{needle} missing: {instructions}"
                );
            }
        }
        e => panic!("expected ManualIssue, got {e:?}"),
    }
}

#[tokio::test]
async fn anthropic_usage_marks_minutes_with_tokens() {
    let server = MockServer::start().await;
    let since = Utc.with_ymd_and_hms(2026, 5, 13, 9, 0, 45).unwrap();
    Mock::given(method("GET"))
        .and(path("/v1/organizations/usage_report/messages"))
        .and(header("x-api-key", ANTHROPIC_ADMIN))
        .and(header("anthropic-version", "2023-06-01"))
        .and(query_param("starting_at", "2026-05-13T09:00:00Z"))
        .and(query_param("bucket_width", "1m"))
        .and(query_param("group_by[]", "api_key_id"))
        .and(query_param("api_key_ids[]", "apikey_01"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                {"starting_at": "2026-05-13T09:00:00Z", "ending_at": "2026-05-13T09:01:00Z", "results": [
                    {"api_key_id": "apikey_01", "workspace_id": null, "model": null, "service_tier": null, "context_window": null,
                     "uncached_input_tokens": 120, "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                     "cache_read_input_tokens": 0, "output_tokens": 30, "server_tool_use": {"web_search_requests": 0}}
                ]},
                {"starting_at": "2026-05-13T09:01:00Z", "ending_at": "2026-05-13T09:02:00Z", "results": []}
            ],
            "has_more": false, "next_page": null
        })))
        .expect(1)
        .mount(&server)
        .await;
    let iss = AnthropicIssuer::new(client(), &server.uri(), Some(secret(ANTHROPIC_ADMIN)));
    let old = cred("anthropic/apikey_01", Issuer::Anthropic, "apikey_01", &[]);
    let samples = iss
        .usage(&old, KeyGeneration::Old, None, since)
        .await
        .unwrap();
    assert_eq!(samples.len(), 1);
    assert_eq!(
        samples[0].minute,
        Utc.with_ymd_and_hms(2026, 5, 13, 9, 0, 0).unwrap()
    );
    assert_eq!((samples[0].ok, samples[0].denied), (1, 0));
}

#[tokio::test]
async fn anthropic_throttling_carries_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/organizations/api_keys/apikey_01"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "12")
                .set_body_json(json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Number of requests has exceeded your rate limit"}})),
        )
        .mount(&server)
        .await;
    let iss = AnthropicIssuer::new(client(), &server.uri(), Some(secret(ANTHROPIC_ADMIN)));
    let old = cred("anthropic/apikey_01", Issuer::Anthropic, "apikey_01", &[]);
    let err = iss.old_key_liveness(&old).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(12)), "{err:?}");
    assert!(err.to_string().contains("rate limit"), "{err}");
}

// ---------------------------------------------------------------- Gemini

fn google_error(code: u16, status: &str, message: &str, reason: &str) -> serde_json::Value {
    json!({"error": {"code": code, "message": message, "status": status, "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com",
         "metadata": {"service": "generativelanguage.googleapis.com"}},
        {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message}
    ]}})
}

#[tokio::test]
async fn gemini_verify_reads_api_key_reasons() {
    let server = MockServer::start().await;
    let responses = [
        ResponseTemplate::new(200).set_body_json(json!({"models": [{"name": "models/gemini-2.5-flash"}]})),
        ResponseTemplate::new(400).set_body_json(google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")),
        ResponseTemplate::new(403).set_body_json(google_error(403, "PERMISSION_DENIED", "Requests to this API generativelanguage.googleapis.com method google.ai.generativelanguage.v1beta.ModelService.ListModels are blocked.", "API_KEY_SERVICE_BLOCKED")),
        ResponseTemplate::new(400).set_body_json(json!({"error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID_ARGUMENT"}})),
        ResponseTemplate::new(500).set_body_json(json!({"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}})),
    ];
    for r in responses {
        Mock::given(method("GET"))
            .and(path("/v1beta/models"))
            .and(header("x-goog-api-key", GEMINI_KEY))
            .respond_with(r)
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
    }
    let iss = GeminiIssuer::new(client(), &server.uri());
    let c = cred("gemini/prod", Issuer::Gemini, "", &[]);
    let key = secret(GEMINI_KEY);
    assert_eq!(iss.verify(&c, &key).await.unwrap(), Liveness::Alive);
    assert_eq!(iss.verify(&c, &key).await.unwrap(), Liveness::Dead);
    // Blocked for this API: not proof either way (an old key may work elsewhere).
    let err = iss.verify(&c, &key).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Validation { .. })
            && err.to_string().contains("API_KEY_SERVICE_BLOCKED"),
        "{err:?}"
    );
    let err = iss.verify(&c, &key).await.unwrap_err();
    assert!(matches!(err, ProviderError::Validation { .. }), "{err:?}");
    let err = iss.verify(&c, &key).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Server { status: 500, .. }) && err.is_retryable(),
        "{err:?}"
    );
}

#[tokio::test]
async fn gemini_throttling_reads_retry_info() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1beta/models"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"error": {
            "code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"}]
        }})))
        .mount(&server)
        .await;
    let iss = GeminiIssuer::new(client(), &server.uri());
    let c = cred("gemini/prod", Issuer::Gemini, "", &[]);
    let err = iss.verify(&c, &secret(GEMINI_KEY)).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(38)), "{err:?}");
}

#[tokio::test]
async fn gemini_minting_and_deleting_are_manual() {
    let iss = GeminiIssuer::new(client(), "http://127.0.0.1:9");
    let old = cred("gemini/prod", Issuer::Gemini, "", &[]);
    match iss.issue(&old, TOKEN).await.unwrap_err() {
        ProviderError::ManualIssue { instructions, .. } => {
            for needle in [
                "APIs & Services → Credentials",
                "Create credentials → API key",
                "Generative Language API",
                TOKEN,
            ] {
                assert!(
                    instructions.contains(needle),
                    "{needle} missing: {instructions}"
                );
            }
        }
        e => panic!("expected ManualIssue, got {e:?}"),
    }
    // Deleting is the console's: a hand-over the engine checks by testing the old value.
    for err in [
        iss.revoke(&old).await.unwrap_err(),
        iss.delete(&old).await.unwrap_err(),
    ] {
        assert!(matches!(err, ProviderError::ManualRevoke { .. }), "{err:?}");
        assert!(
            err.to_string().contains("console.cloud.google.com"),
            "{err}"
        );
    }
    {
        let err = iss.old_key_liveness(&old).await.unwrap_err();
        assert!(matches!(err, ProviderError::Unsupported { .. }), "{err:?}");
        assert!(
            err.to_string().contains("console.cloud.google.com"),
            "{err}"
        );
    }
    let since = Utc.with_ymd_and_hms(2026, 5, 13, 9, 0, 0).unwrap();
    // No per-key usage at Gemini: said as such, never an empty "no calls".
    let err = iss
        .usage(&old, KeyGeneration::Old, None, since)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("Cloud Monitoring"), "{err}");
}

// ---------------------------------------------------------------- Braintrust

fn ai_secret(i: usize, name: &str, kind: &str, updated_at: &str) -> serde_json::Value {
    json!({
        "id": format!("00000000-0000-4000-8000-{i:012}"),
        "created": "2026-01-10T08:00:00.000Z",
        "updated_at": updated_at,
        "org_id": "11111111-1111-4111-8111-111111111111",
        "name": name,
        "type": kind,
        "metadata": {"api_base": ""},
        "preview_secret": "sk-...WXYZ",
    })
}

#[tokio::test]
async fn braintrust_inventory_pages_filters_and_judges_exposure() {
    let server = MockServer::start().await;
    let auth = bearer(BRAINTRUST_ADMIN);
    // A full first page (100) means there may be more.
    let mut first: Vec<serde_json::Value> = (0..98)
        .map(|i| ai_secret(i, &format!("OTHER_{i}"), "mistral", "2026-01-10T08:00:00Z"))
        .collect();
    first.push(ai_secret(
        98,
        "OPENAI_API_KEY",
        "openai",
        "2026-04-01T08:00:00Z",
    ));
    first.push(ai_secret(
        99,
        "ANTHROPIC_API_KEY",
        "anthropic",
        "2026-05-20T08:00:00Z",
    ));
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .and(header("authorization", auth.as_str()))
        .and(query_param("org_name", "acme"))
        .and(query_param("limit", "100"))
        .and(query_param_is_missing("starting_after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": first})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .and(query_param("org_name", "acme"))
        .and(query_param(
            "starting_after",
            "00000000-0000-4000-8000-000000000099",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": [
            ai_secret(100, "GEMINI_API_KEY", "google", "2026-02-01 08:00:00.5+00")
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    let inv = BraintrustInventory::new(client(), &server.uri(), Some(secret(BRAINTRUST_ADMIN)));
    let scope = Scope {
        braintrust: Some(BraintrustScope {
            organization: "acme".into(),
            secrets: vec![
                "OPENAI_API_KEY".into(),
                "ANTHROPIC_API_KEY".into(),
                "GEMINI_API_KEY".into(),
            ],
        }),
        ..Scope::default()
    };
    let (pages, res) = discover(&inv, &scope).await;
    res.unwrap();
    assert_eq!(pages.len(), 2);
    let creds: Vec<Credential> = pages.into_iter().flatten().collect();
    assert_eq!(creds.len(), 3);
    let openai = &creds[0];
    assert_eq!(openai.id, "braintrust/OPENAI_API_KEY");
    assert_eq!(openai.issuer, Issuer::Openai);
    assert_eq!(openai.key_id, "");
    assert_eq!(openai.hint, "sk-…WXYZ");
    assert!(
        openai.exposed,
        "unchanged since before the exposure: {}",
        openai.exposure_reason
    );
    assert!(
        openai.exposure_reason.contains("Braintrust org acme"),
        "{}",
        openai.exposure_reason
    );
    assert_eq!(
        openai.locations,
        vec![Location {
            kind: LocationKind::Braintrust,
            name: "OPENAI_API_KEY".into(),
            field: None,
            region: None,
            account: None,
            changed: Some(Utc.with_ymd_and_hms(2026, 4, 1, 8, 0, 0).unwrap()),
        }]
    );
    let anthropic = &creds[1];
    assert_eq!(anthropic.issuer, Issuer::Anthropic);
    assert!(!anthropic.exposed, "changed after the exposure began");
    assert!(
        anthropic
            .exposure_reason
            .contains("after the exposure began")
    );
    let gemini = &creds[2];
    assert_eq!(gemini.issuer, Issuer::Gemini);
    assert!(gemini.exposed);
    assert_eq!(
        gemini.locations[0].changed,
        Some(
            Utc.with_ymd_and_hms(2026, 2, 1, 8, 0, 0).unwrap()
                + chrono::Duration::milliseconds(500)
        )
    );
}

async fn braintrust_replace_server(after: serde_json::Value) -> MockServer {
    let server = MockServer::start().await;
    let auth = bearer(BRAINTRUST_ADMIN);
    let before = ai_secret(7, "OPENAI_API_KEY", "openai", "2026-04-01T08:00:00Z");
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .and(header("authorization", auth.as_str()))
        .and(query_param("org_name", "acme"))
        .and(query_param("ai_secret_name", "OPENAI_API_KEY"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": [before]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v1/ai_secret"))
        .and(header("authorization", auth.as_str()))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "name": "OPENAI_API_KEY",
            "org_name": "acme",
            "type": "openai",
            "metadata": {"api_base": ""},
            "secret": BRAINTRUST_NEW,
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(after.clone()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret/00000000-0000-4000-8000-000000000007"))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(after))
        .expect(1)
        .mount(&server)
        .await;
    server
}

fn bt_location() -> Location {
    Location {
        kind: LocationKind::Braintrust,
        name: "OPENAI_API_KEY".into(),
        field: None,
        region: None,
        account: None,
        changed: None,
    }
}

#[tokio::test]
async fn braintrust_replace_writes_then_confirms_the_change_time_advanced() {
    let after = ai_secret(7, "OPENAI_API_KEY", "openai", "2026-05-13T09:30:00.250Z");
    let server = braintrust_replace_server(after).await;
    let store = BraintrustStore::new(
        client(),
        &server.uri(),
        Some(secret(BRAINTRUST_ADMIN)),
        "acme",
    );
    let at = store
        .replace(&bt_location(), &secret(BRAINTRUST_NEW))
        .await
        .unwrap();
    assert_eq!(
        at,
        Utc.with_ymd_and_hms(2026, 5, 13, 9, 30, 0).unwrap() + chrono::Duration::milliseconds(250)
    );
}

#[tokio::test]
async fn braintrust_replace_prefers_secret_updated_at() {
    let mut after = ai_secret(7, "OPENAI_API_KEY", "openai", "2026-05-13T09:30:00Z");
    after["secret_updated_at"] = json!("2026-05-13T09:31:00Z");
    let server = braintrust_replace_server(after).await;
    let store = BraintrustStore::new(
        client(),
        &server.uri(),
        Some(secret(BRAINTRUST_ADMIN)),
        "acme",
    );
    let at = store
        .replace(&bt_location(), &secret(BRAINTRUST_NEW))
        .await
        .unwrap();
    assert_eq!(at, Utc.with_ymd_and_hms(2026, 5, 13, 9, 31, 0).unwrap());
}

#[tokio::test]
async fn braintrust_replace_that_did_not_take_is_an_error() {
    // Braintrust answers 200 but the secret still shows the old change time and preview.
    let after = ai_secret(7, "OPENAI_API_KEY", "openai", "2026-04-01T08:00:00Z");
    let server = braintrust_replace_server(after).await;
    let store = BraintrustStore::new(
        client(),
        &server.uri(),
        Some(secret(BRAINTRUST_ADMIN)),
        "acme",
    );
    let err = store
        .replace(&bt_location(), &secret(BRAINTRUST_NEW))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Validation { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(
            "Braintrust did not record the change: updated_at is still 2026-04-01T08:00:00.000Z"
        ),
        "{msg}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn braintrust_has_no_staging_and_deletes_by_name() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .and(query_param("ai_secret_name", "OLD_KEY"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": [
            ai_secret(3, "OLD_KEY", "openai", "2026-04-01T08:00:00Z")
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .and(query_param("ai_secret_name", "GONE"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": []})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v1/ai_secret/00000000-0000-4000-8000-000000000003"))
        .and(header("authorization", bearer(BRAINTRUST_ADMIN).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(ai_secret(
            3,
            "OLD_KEY",
            "openai",
            "2026-04-01T08:00:00Z",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let store = BraintrustStore::new(
        client(),
        &server.uri(),
        Some(secret(BRAINTRUST_ADMIN)),
        "acme",
    );
    store.delete_secret("OLD_KEY").await.unwrap();
    store.delete_secret("GONE").await.unwrap();
    let loc = bt_location();
    for err in [
        store
            .stage(&loc, &secret(BRAINTRUST_NEW), TOKEN)
            .await
            .unwrap_err(),
        store.promote(&loc, "v1").await.unwrap_err(),
    ] {
        assert!(matches!(err, ProviderError::Unsupported { .. }), "{err:?}");
    }
    assert!(matches!(
        store.read_version(&loc, "v1").await.unwrap_err(),
        ProviderError::Unsupported { .. }
    ));
}

#[tokio::test]
async fn braintrust_missing_secret_and_missing_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": []})))
        .expect(1)
        .mount(&server)
        .await;
    let store = BraintrustStore::new(
        client(),
        &server.uri(),
        Some(secret(BRAINTRUST_ADMIN)),
        "acme",
    );
    let err = store
        .replace(&bt_location(), &secret(BRAINTRUST_NEW))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::NotFound { .. }), "{err:?}");
    let keyless = BraintrustStore::new(client(), &server.uri(), None, "acme");
    let err = keyless
        .replace(&bt_location(), &secret(BRAINTRUST_NEW))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("BRAINTRUST_API_KEY"), "{err}");
}

// ---------------------------------------------------------------- no key leaks

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends every tracing event of this test binary, at every level and from every crate
/// (hyper, reqwest…), into one buffer. Global, not scoped: a scoped subscriber misses events
/// from callsites other tests' threads registered first.
fn capture_logs() -> Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            captured
        })
        .clone()
}

/// The distinctive middle of a key: masks keep only its first 3 and last 4 characters.
fn middle(key: &str) -> &str {
    &key[8..key.len() - 4]
}

#[tokio::test]
async fn no_key_value_reaches_a_log_line_or_an_error() {
    let captured = capture_logs();

    let server = MockServer::start().await;
    // Every provider echoes the key it was sent in its error message — as some do.
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", bearer(OPENAI_OLD).as_str()))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": {"message": format!("Incorrect API key provided: {OPENAI_OLD}."), "code": "invalid_api_key"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", bearer(OPENAI_NEW).as_str()))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"error": {"message": format!("key ({OPENAI_NEW}) lacks api.model.read")}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects"))
        .respond_with(
            ResponseTemplate::new(500).set_body_string(format!("boom: bearer={OPENAI_ADMIN}")),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/organizations/api_keys/apikey_01"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"type": "error", "error": {"type": "authentication_error", "message": format!("invalid x-api-key '{ANTHROPIC_ADMIN}'")}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("x-api-key", ANTHROPIC_KEY))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"type": "error", "error": {"type": "rate_limit_error", "message": format!("slow down {ANTHROPIC_KEY}")}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1beta/models"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"code": 400, "message": format!("API key {GEMINI_KEY} is malformed"), "status": "INVALID_ARGUMENT"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"objects": [ai_secret(7, "OPENAI_API_KEY", "openai", "2026-04-01T08:00:00Z")]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v1/ai_secret"))
        .respond_with(ResponseTemplate::new(422).set_body_string(format!(
            "secret {BRAINTRUST_NEW} rejected for key {BRAINTRUST_ADMIN}"
        )))
        .mount(&server)
        .await;

    let uri = server.uri();
    let mut errors: Vec<ProviderError> = Vec::new();
    let openai = OpenAiIssuer::new(client(), &uri, Some(secret(OPENAI_ADMIN)));
    let c = cred(
        "openai/key_sa",
        Issuer::Openai,
        "key_sa",
        &[("project_id", "proj_a")],
    );
    assert_eq!(
        openai.verify(&c, &secret(OPENAI_OLD)).await.unwrap(),
        Liveness::Dead
    );
    errors.push(openai.verify(&c, &secret(OPENAI_NEW)).await.unwrap_err());
    let inv = OpenAiInventory::new(client(), &uri, Some(secret(OPENAI_ADMIN)));
    let scope = Scope {
        openai: Some(OpenAiScope::default()),
        ..Scope::default()
    };
    errors.push(discover(&inv, &scope).await.1.unwrap_err());
    let anthropic = AnthropicIssuer::new(client(), &uri, Some(secret(ANTHROPIC_ADMIN)));
    let a = cred("anthropic/apikey_01", Issuer::Anthropic, "apikey_01", &[]);
    errors.push(anthropic.old_key_liveness(&a).await.unwrap_err());
    errors.push(
        anthropic
            .verify(&a, &secret(ANTHROPIC_KEY))
            .await
            .unwrap_err(),
    );
    let gemini = GeminiIssuer::new(client(), &uri);
    let g = cred("gemini/prod", Issuer::Gemini, "", &[]);
    errors.push(gemini.verify(&g, &secret(GEMINI_KEY)).await.unwrap_err());
    let store = BraintrustStore::new(client(), &uri, Some(secret(BRAINTRUST_ADMIN)), "acme");
    errors.push(
        store
            .replace(&bt_location(), &secret(BRAINTRUST_NEW))
            .await
            .unwrap_err(),
    );
    assert_eq!(errors.len(), 6);

    let mut text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("provider call"), "the capture works: {text}");
    for e in &errors {
        text.push_str(&format!("\n{e}\n{e:?}"));
    }
    for key in [
        OPENAI_ADMIN,
        OPENAI_OLD,
        OPENAI_NEW,
        ANTHROPIC_ADMIN,
        ANTHROPIC_KEY,
        GEMINI_KEY,
        BRAINTRUST_ADMIN,
        BRAINTRUST_NEW,
    ] {
        assert!(!text.contains(middle(key)), "{key} leaked into:\n{text}");
    }
    // The providers' own words survive the scrubbing.
    assert!(text.contains("lacks api.model.read"), "{text}");
    assert!(text.contains("is malformed"), "{text}");
}

/// A key found only in storage (no id at Anthropic): revoking is the Console's, and the
/// old key is tested by value by the engine; nothing is sent to the Admin API.
#[tokio::test]
async fn anthropic_key_without_an_id_is_revoked_by_hand() {
    let server = MockServer::start().await;
    let iss = AnthropicIssuer::new(client(), &server.uri(), Some(secret(ANTHROPIC_ADMIN)));
    let old = cred("anthropic/stored-only", Issuer::Anthropic, "", &[]);
    for err in [
        iss.revoke(&old).await.unwrap_err(),
        iss.delete(&old).await.unwrap_err(),
    ] {
        assert!(matches!(err, ProviderError::ManualRevoke { .. }), "{err:?}");
        assert!(err.to_string().contains("console.anthropic.com"), "{err}");
    }
    let err = iss.old_key_liveness(&old).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unsupported { .. }), "{err:?}");
    assert!(server.received_requests().await.unwrap().is_empty());
}
