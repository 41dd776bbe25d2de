//! The HTTP providers (OpenAI, Anthropic, Gemini, Braintrust) against wiremock servers that
//! speak the providers' documented request and response shapes. Each test asserts the exact
//! requests (method, path, query, auth headers, JSON body) and what a responder would see:
//! credentials, liveness, errors that say what to do — and never a key in a log or message.
//!
//! Every mocked route and answer names its source, in the short names of
//! tests/support/contract.rs: `OAI` = openai/openai-openapi@f85dbe223d40e1a31cba812ab2d755c7e98a92a3
//! openapi.yaml (operationId, line), `BT` = braintrustdata/braintrust-openapi@b561b12dd30b9862a48e391e86b33e96043cdc0a
//! openapi/spec.json (operationId), `ANT` = the Admin API reference (gpambrozio/ClaudeDocs@ff5b8ed
//! docs-md/api/admin), `GL` = googleapis/googleapis@f8291d2 generativelanguage v1beta
//! model_service.proto, with Google's error bodies as the public issues quote them
//! (google-facts §4.3). Where a contract is silent the comment says "assumed".

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

/// OAI `ProjectApiKey` (L45486).
fn openai_key(id: &str, name: &str, redacted: &str, owner: serde_json::Value) -> serde_json::Value {
    json!({
        "object": "organization.project.api_key",
        "redacted_value": redacted,
        "name": name,
        "created_at": 1_746_000_000,
        "last_used_at": 1_778_000_000,
        "id": id,
        "owner_project_access": "active",
        "owner": owner,
    })
}

/// OAI `ProjectApiKeyOwnerServiceAccount`: `{id, name, created_at, role}`, all required.
fn sa_owner(id: &str, name: &str, role: &str) -> serde_json::Value {
    json!({"type": "service_account", "service_account": {"id": id, "name": name, "created_at": 1, "role": role}})
}

/// OAI `ProjectServiceAccount` (L46098).
fn service_account(id: &str, name: &str, created_at: i64) -> serde_json::Value {
    json!({"object": "organization.project.service_account", "id": id, "name": name, "role": "member", "created_at": created_at})
}

/// An OAI list page (`…ListResponse`: `object`, `data`, `has_more` required).
fn oai_list(data: Vec<serde_json::Value>) -> serde_json::Value {
    let first = data.first().map(|v| v["id"].clone());
    let last = data.last().map(|v| v["id"].clone());
    json!({"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": false})
}

fn sa_cred(role: &str) -> Credential {
    cred(
        "openai/key_sa",
        Issuer::Openai,
        "key_sa",
        &[
            ("project_id", "proj_a"),
            ("owner_type", "service_account"),
            ("service_account_id", "svc_acct_1"),
            ("service_account_role", role),
        ],
    )
}

#[tokio::test]
async fn openai_inventory_lists_project_keys_page_by_page_with_owner_facts() {
    let server = MockServer::start().await;
    let auth = bearer(OPENAI_ADMIN);
    // OAI list-projects (L11202): `limit` 1..100, cursor `after` = the last id.
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
    // OAI list-projects (L11202).
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
    // OAI list-project-api-keys (L11403): `owner_project_access=any`, else "may exclude some
    // enabled keys".
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
    // OAI list-project-api-keys (L11403).
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects/proj_b/api_keys"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list", "data": [], "first_id": null, "last_id": null, "has_more": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    // OAI list-project-api-keys (L11403).
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
            ..OpenAiScope::default()
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
    assert_eq!(sa.meta["service_account_name"], "billing-bot");
    // Revoking a service account's key deletes the account: the window says so.
    let takes = sa.revoke_takes();
    assert_eq!(takes.len(), 1, "{takes:?}");
    assert!(takes[0].contains("billing-bot (svc_acct_1)"), "{takes:?}");
    assert!(user.revoke_takes().is_empty());
}

#[tokio::test]
async fn a_mistyped_scope_entry_is_an_error_not_an_empty_inventory() {
    let server = MockServer::start().await;
    // OAI list-projects (L11202).
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list",
            "data": [{"id": "proj_a", "object": "organization.project", "name": "Prod", "created_at": 1, "status": "active"}],
            "has_more": false
        })))
        .mount(&server)
        .await;
    // OAI list-project-api-keys (L11403).
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
    // BT getAiSecret: `{objects}`, no has_more; the next page (starting_after) is empty.
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .and(query_param_is_missing("starting_after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": [
            ai_secret(1, "OPENAI_API_KEY", "openai", "2026-04-01T08:00:00Z")
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .and(query_param("starting_after", &*bt_id(1)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": []})))
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
            ..OpenAiScope::default()
        }),
        braintrust: Some(BraintrustScope {
            organization: "acme".into(),
            secrets: vec!["OPENAI_API_KEY".into(), "OPENAI_APIKEY".into()],
            ..BraintrustScope::default()
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
    // OAI listModels (L8733); a bad key is 401 (OpenAI error-code guide; not in the spec).
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", bearer(OPENAI_NEW).as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"object": "list", "data": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    // OAI listModels (L8733); a bad key is 401 (OpenAI error-code guide; not in the spec).
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
async fn openai_replaces_a_service_account_key_with_a_new_service_account_once_per_token() {
    let server = MockServer::start().await;
    let auth = bearer(OPENAI_ADMIN);
    let name = breachbook::providers::openai::service_account_name(&sa_cred("owner"), TOKEN);
    assert_eq!(name, "breachbook-0123456789ab-prod");
    // OAI create-project-service-account (L12649): body {name}; "By default, this also
    // returns an unredacted API key" (ProjectServiceAccountCreateResponse, L46181).
    Mock::given(method("POST"))
        .and(path("/v1/organization/projects/proj_a/service_accounts"))
        .and(header("authorization", auth.as_str()))
        .and(body_json(json!({"name": name})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "organization.project.service_account",
            "id": "svc_acct_new",
            "name": name,
            "role": "member",
            "created_at": 1_778_600_000,
            "api_key": {
                "object": "organization.project.service_account.api_key",
                "value": OPENAI_NEW, "name": "Secret Key", "created_at": 1_778_600_000, "id": "key_new"
            }
        })))
        .expect(1)
        .mount(&server)
        .await;
    // OAI update-project-service-account (L12755): the old account was an owner.
    Mock::given(method("POST"))
        .and(path(
            "/v1/organization/projects/proj_a/service_accounts/svc_acct_new",
        ))
        .and(body_json(json!({"role": "owner"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "organization.project.service_account", "id": "svc_acct_new", "name": name,
            "role": "owner", "created_at": 1_778_600_000
        })))
        .expect(1)
        .mount(&server)
        .await;
    let iss = OpenAiIssuer::new(client(), &server.uri(), Some(secret(OPENAI_ADMIN)));
    let old = sa_cred("owner");
    let new = iss.issue(&old, TOKEN).await.unwrap();
    assert_eq!(new.key_id, "key_new");
    assert_eq!(new.hint, "sk-…QRST");
    assert_eq!(new.secret.expose_secret(), OPENAI_NEW);
    assert!(!format!("{new:?}").contains("NEWKEY"));
    // A retry (say, staging failed) returns the same key and creates nothing.
    let again = iss.issue(&old, TOKEN).await.unwrap();
    assert_eq!(again.key_id, "key_new");
    assert_eq!(again.secret.expose_secret(), OPENAI_NEW);
}

#[tokio::test]
async fn openai_service_accounts_an_interrupted_mint_left_are_strays_and_are_deleted() {
    let server = MockServer::start().await;
    let since = Utc.with_ymd_and_hms(2026, 5, 13, 9, 0, 0).unwrap();
    let t = since.timestamp();
    let mine = breachbook::providers::openai::service_account_name(&sa_cred("member"), TOKEN);
    let other = breachbook::providers::openai::service_account_name(
        &sa_cred("member"),
        "breachbook-ffffffffffffffffffffffffffffffff",
    );
    // OAI list-project-service-accounts (L12577).
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects/proj_a/service_accounts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(oai_list(vec![
            service_account("svc_acct_1", "billing-bot", t - 86_400),
            // This rotation's, made after the intent, its key held by nobody: a stray.
            service_account("svc_acct_stray", &mine, t + 3),
            // This rotation's, its key held (journaled as issued): not a stray.
            service_account("svc_acct_held", &mine, t + 9),
            // Another rotation's; and one of this name from long before the intent.
            service_account("svc_acct_other", &other, t + 4),
            service_account("svc_acct_older", &mine, t - 3_600),
        ])))
        .mount(&server)
        .await;
    // OAI list-project-api-keys (L11403).
    Mock::given(method("GET"))
        .and(path("/v1/organization/projects/proj_a/api_keys"))
        .and(query_param("owner_project_access", "any"))
        .respond_with(ResponseTemplate::new(200).set_body_json(oai_list(vec![
            openai_key(
                "key_sa",
                "billing",
                "sk-svc*****WXYZ",
                sa_owner("svc_acct_1", "billing-bot", "member"),
            ),
            openai_key(
                "key_stray",
                "Secret Key",
                "sk-str*****AAAA",
                sa_owner("svc_acct_stray", &mine, "member"),
            ),
            openai_key(
                "key_held",
                "Secret Key",
                "sk-hel*****BBBB",
                sa_owner("svc_acct_held", &mine, "member"),
            ),
        ])))
        .mount(&server)
        .await;
    // OAI delete-project-service-account (L12817): only the stray's.
    Mock::given(method("DELETE"))
        .and(path("/v1/organization/projects/proj_a/service_accounts/svc_acct_stray"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "organization.project.service_account.deleted", "id": "svc_acct_stray", "deleted": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    let iss = OpenAiIssuer::new(client(), &server.uri(), Some(secret(OPENAI_ADMIN)));
    let old = sa_cred("member");
    let strays = iss
        .find_strays(&old, TOKEN, since, &["key_held".to_string()])
        .await
        .unwrap();
    let ids: Vec<&str> = strays.iter().map(|s| s.key_id.as_str()).collect();
    assert_eq!(ids, ["svc_acct_stray"], "{strays:#?}");
    assert!(strays[0].what.contains("key_stray"), "{}", strays[0].what);
    iss.discard_stray(&old, &strays[0]).await.unwrap();
    // Never the old key's own account, nor one breachbook did not name.
    for id in ["svc_acct_1"] {
        let not_ours = breachbook::incident::ports::StrayKey {
            key_id: id.into(),
            what: String::new(),
            created: None,
        };
        let err = iss.discard_stray(&old, &not_ours).await.unwrap_err();
        assert!(matches!(err, ProviderError::Validation { .. }), "{err:?}");
    }
    // A key breachbook minted but could not store, or whose rotation was skipped: the engine
    // discards it by its key id, and the account that holds it goes (the key alone cannot).
    // OAI delete-project-service-account (L12817).
    Mock::given(method("DELETE"))
        .and(path("/v1/organization/projects/proj_a/service_accounts/svc_acct_held"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "organization.project.service_account.deleted", "id": "svc_acct_held", "deleted": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    let minted = breachbook::incident::ports::StrayKey {
        key_id: "key_held".into(),
        what: "new key sk-hel…BBBB (minted, then not stored)".into(),
        created: None,
    };
    iss.discard_stray(&old, &minted).await.unwrap();
    // No project-key delete was tried (OAI refuses it for a service account's key).
    let sent = server.received_requests().await.unwrap();
    assert!(
        !sent
            .iter()
            .any(|r| r.method.as_str() == "DELETE" && r.url.path().contains("/api_keys/")),
        "a service account's key was deleted on its own"
    );
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
async fn openai_revoke_deletes_the_old_service_account_and_delete_after_it_finds_it_gone() {
    let server = MockServer::start().await;
    let auth = bearer(OPENAI_ADMIN);
    let sa_path = "/v1/organization/projects/proj_a/service_accounts";
    let keys_path = "/v1/organization/projects/proj_a/api_keys";
    let listed = oai_list(vec![openai_key(
        "key_sa",
        "billing",
        "sk-svc*****WXYZ",
        sa_owner("svc_acct_1", "billing-bot", "member"),
    )]);
    // OAI list-project-api-keys: the key is listed until its account goes.
    Mock::given(method("GET"))
        .and(path(keys_path))
        .respond_with(ResponseTemplate::new(200).set_body_json(listed))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(keys_path))
        .respond_with(ResponseTemplate::new(200).set_body_json(oai_list(vec![])))
        .expect(1)
        .mount(&server)
        .await;
    // OAI list-project-service-accounts, before and after the delete.
    Mock::given(method("GET"))
        .and(path(sa_path))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(oai_list(vec![service_account(
                "svc_acct_1",
                "billing-bot",
                1,
            )])),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(sa_path))
        .respond_with(ResponseTemplate::new(200).set_body_json(oai_list(vec![])))
        .expect(1)
        .mount(&server)
        .await;
    // OAI delete-project-service-account (L12817): once; the project-key delete (which
    // "returns … an error if the key belonged to a service account") never.
    Mock::given(method("DELETE"))
        .and(path(format!("{sa_path}/svc_acct_1")))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "organization.project.service_account.deleted", "id": "svc_acct_1", "deleted": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("{keys_path}/key_sa")))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "API keys owned by a service account cannot be deleted", "type": "invalid_request_error", "param": null, "code": null
        }})))
        .expect(0)
        .mount(&server)
        .await;
    let iss = OpenAiIssuer::new(client(), &server.uri(), Some(secret(OPENAI_ADMIN)));
    let old = sa_cred("member");
    assert_eq!(iss.old_key_liveness(&old).await.unwrap(), Liveness::Alive);
    iss.revoke(&old).await.unwrap();
    iss.delete(&old).await.unwrap();
    assert_eq!(iss.old_key_liveness(&old).await.unwrap(), Liveness::Dead);
}

#[tokio::test]
async fn openai_revoke_of_a_persons_key_deletes_the_key() {
    let server = MockServer::start().await;
    let keys_path = "/v1/organization/projects/proj_a/api_keys";
    Mock::given(method("GET"))
        .and(path(keys_path))
        .respond_with(ResponseTemplate::new(200).set_body_json(oai_list(vec![openai_key(
            "key_user",
            "laptop",
            "sk-abc*****WXYZ",
            json!({"type": "user", "user": {"id": "user_1", "name": "Ada", "email": "ada@example.com", "role": "owner", "created_at": 1}}),
        )])))
        .mount(&server)
        .await;
    // OAI delete-project-api-key (L11559): ProjectApiKeyDeleteResponse.
    Mock::given(method("DELETE"))
        .and(path(format!("{keys_path}/key_user")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "organization.project.api_key.deleted", "id": "key_user", "deleted": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    let iss = OpenAiIssuer::new(client(), &server.uri(), Some(secret(OPENAI_ADMIN)));
    let old = cred(
        "openai/key_user",
        Issuer::Openai,
        "key_user",
        &[("project_id", "proj_a"), ("owner_type", "user")],
    );
    iss.revoke(&old).await.unwrap();
}
#[tokio::test]
async fn openai_usage_counts_every_report_that_groups_by_key_and_spend_reads_costs() {
    let server = MockServer::start().await;
    let since = Utc.with_ymd_and_hms(2026, 5, 13, 9, 0, 30).unwrap();
    let start = Utc
        .with_ymd_and_hms(2026, 5, 13, 9, 0, 0)
        .unwrap()
        .timestamp();
    let start_s = start.to_string();
    // OAI usage-* result schemas: `num_model_requests`, or `num_requests` for file and web
    // searches; `object` names of their own (`…file_searches.result`).
    let result = |object: &str, field: &str, n: u64| {
        let mut r = json!({"object": object, "project_id": null, "user_id": null, "api_key_id": "key_sa", "model": null});
        r[field] = json!(n);
        r
    };
    let reports = [
        (
            "completions",
            "organization.usage.completions.result",
            "num_model_requests",
            3u64,
        ),
        (
            "embeddings",
            "organization.usage.embeddings.result",
            "num_model_requests",
            5,
        ),
        (
            "moderations",
            "organization.usage.moderations.result",
            "num_model_requests",
            0,
        ),
        (
            "images",
            "organization.usage.images.result",
            "num_model_requests",
            7,
        ),
        (
            "audio_speeches",
            "organization.usage.audio_speeches.result",
            "num_model_requests",
            0,
        ),
        (
            "audio_transcriptions",
            "organization.usage.audio_transcriptions.result",
            "num_model_requests",
            0,
        ),
        (
            "file_search_calls",
            "organization.usage.file_searches.result",
            "num_requests",
            11,
        ),
        (
            "web_search_calls",
            "organization.usage.web_searches.result",
            "num_requests",
            13,
        ),
    ];
    for (report, object, field, n) in reports {
        // OAI usage-<report>: start_time required, bucket_width 1m, group_by api_key_id,
        // api_key_ids (form + explode: the bare name), limit ≤ 1440 for 1m; UsageResponse
        // pages by `next_page`.
        let first = if report == "completions" {
            json!({"object": "page", "data": [
                {"object": "bucket", "start_time": start, "end_time": start + 60, "results": [result(object, field, n)]},
                {"object": "bucket", "start_time": start + 60, "end_time": start + 120, "results": []}
            ], "has_more": true, "next_page": "page_2"})
        } else {
            json!({"object": "page", "data": [
                {"object": "bucket", "start_time": start, "end_time": start + 60, "results": [result(object, field, n)]}
            ], "has_more": false, "next_page": null})
        };
        Mock::given(method("GET"))
            .and(path(format!("/v1/organization/usage/{report}")))
            .and(header("authorization", bearer(OPENAI_ADMIN).as_str()))
            .and(query_param("start_time", start_s.as_str()))
            .and(query_param("bucket_width", "1m"))
            .and(query_param("group_by", "api_key_id"))
            .and(query_param("api_key_ids", "key_sa"))
            .and(query_param("limit", "1440"))
            .and(query_param_is_missing("page"))
            .respond_with(ResponseTemplate::new(200).set_body_json(first))
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/v1/organization/usage/completions"))
        .and(query_param("page", "page_2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "page", "data": [{"object": "bucket", "start_time": start + 120, "end_time": start + 180,
                "results": [result("organization.usage.completions.result", "num_model_requests", 40)]}],
            "has_more": false, "next_page": null
        })))
        .expect(1)
        .mount(&server)
        .await;
    // OAI usage-vector-stores / usage-code-interpreter-sessions take project_ids only: not
    // asked (they cannot say which key).
    for report in ["vector_stores", "code_interpreter_sessions"] {
        Mock::given(method("GET"))
            .and(path(format!("/v1/organization/usage/{report}")))
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&server)
            .await;
    }
    // OAI usage-costs (L10090): bucket_width 1d only, grouped by api_key_id; CostsResult
    // `amount {value, currency}`.
    let day = start.div_euclid(86_400) * 86_400;
    Mock::given(method("GET"))
        .and(path("/v1/organization/costs"))
        .and(query_param("start_time", &*day.to_string()))
        .and(query_param("bucket_width", "1d"))
        .and(query_param("group_by", "api_key_id"))
        .and(query_param("api_key_ids", "key_sa"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "page", "data": [{"object": "bucket", "start_time": day, "end_time": day + 86_400, "results": [
                {"object": "organization.costs.result", "amount": {"value": 12.5, "currency": "usd"},
                 "line_item": null, "project_id": null, "api_key_id": "key_sa"}
            ]}], "has_more": false, "next_page": null
        })))
        .expect(1)
        .mount(&server)
        .await;
    let iss = OpenAiIssuer::new(client(), &server.uri(), Some(secret(OPENAI_ADMIN)));
    let old = sa_cred("member");
    let samples = iss
        .usage(&old, KeyGeneration::Old, None, since)
        .await
        .unwrap();
    let got: Vec<(i64, u32, u32)> = samples
        .iter()
        .map(|s| (s.minute.timestamp(), s.ok, s.denied))
        .collect();
    assert_eq!(
        got,
        vec![(start, 3 + 5 + 7 + 11 + 13, 0), (start + 120, 40, 0)]
    );
    assert!(
        samples
            .iter()
            .all(|s| s.credential == "openai/key_sa" && s.generation == KeyGeneration::Old)
    );
    let spend = iss
        .spend(&old, KeyGeneration::Old, None, since)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((spend.amount, spend.currency.as_str()), (12.5, "usd"));
    assert!(
        iss.usage_blind_spots()
            .is_some_and(|b| b.contains("vector-store") && b.contains("code-interpreter")),
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
    // OAI #/components/responses/TooManyRequests (L86354), referenced by the usage reports:
    // `Retry-After` in seconds, "may be omitted".
    Mock::given(method("GET"))
        .and(path("/v1/organization/usage/completions"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "30")
                .set_body_json(json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/organization/usage/completions"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}})),
        )
        // The client tries a GET 3 times in all before it gives up.
        .up_to_n_times(3)
        .mount(&server)
        .await;
    let iss = OpenAiIssuer::new(client(), &server.uri(), Some(secret(OPENAI_ADMIN)));
    let old = sa_cred("member");
    let since = Utc.with_ymd_and_hms(2026, 5, 13, 9, 0, 0).unwrap();
    let err = iss
        .usage(&old, KeyGeneration::Old, None, since)
        .await
        .unwrap_err();
    // A wait longer than the client waits by itself (10 s) goes back to the engine at once.
    assert!(matches!(err, ProviderError::Throttled { .. }), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert!(err.is_retryable());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let err = iss
        .usage(&old, KeyGeneration::Old, None, since)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Throttled { .. }), "{err:?}");
    assert_eq!(
        err.retry_after(),
        None,
        "without Retry-After: our own backoff"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        4,
        "without Retry-After, the client tried the GET 3 times"
    );
    // A 5xx is not documented on these routes; a proxy in front answers it anyway.
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
    // ANT api_keys/list: limit 1..1000, cursor after_id, {data, has_more, first_id, last_id}.
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
    // ANT api_keys/list: limit 1..1000, cursor after_id, {data, has_more, first_id, last_id}.
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
    // ANT models/list with the key under test (`x-api-key`); a bad key is 401 authentication_error (ANT api/errors).
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
    // ANT models/list with the key under test (`x-api-key`); a bad key is 401 authentication_error (ANT api/errors).
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
    // ANT usage_report/retrieve_messages: starting_at, bucket_width, group_by[], api_key_ids[].
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
    // ANT api_keys/retrieve.
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

/// A Google error (`google.rpc.Status` as JSON) with an ErrorInfo reason, as the public
/// issues quote Gemini's (continuedev/continue#8516, #12781; google-facts §4.3).
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
    // GL ListModels (`pageSize`: the cheapest call); the answers: 200, API_KEY_INVALID (an
    // unknown or deleted key), API_KEY_SERVICE_BLOCKED (a restriction), an ErrorInfo-less
    // 400, a 500.
    let responses = [
        ResponseTemplate::new(200).set_body_json(json!({"models": [{"name": "models/gemini-2.5-flash"}]})),
        ResponseTemplate::new(400).set_body_json(google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "API_KEY_INVALID")),
        ResponseTemplate::new(403).set_body_json(google_error(403, "PERMISSION_DENIED", "Requests to this API generativelanguage.googleapis.com method google.ai.generativelanguage.v1beta.ModelService.ListModels are blocked.", "API_KEY_SERVICE_BLOCKED")),
        ResponseTemplate::new(400).set_body_json(json!({"error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID_ARGUMENT"}})),
        ResponseTemplate::new(500).set_body_json(json!({"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}})),
    ];
    let n = responses.len();
    for (i, r) in responses.into_iter().enumerate() {
        // A 5xx is asked again by the client, 3 times in all; the others are answers.
        let times = if i + 1 == n { 3 } else { 1 };
        // GL ListModels.
        Mock::given(method("GET"))
            .and(path("/v1beta/models"))
            .and(query_param("pageSize", "1"))
            .and(header("x-goog-api-key", GEMINI_KEY))
            .respond_with(r)
            .up_to_n_times(times)
            .expect(times)
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
async fn gemini_a_key_google_found_leaked_is_its_own_state_and_quoted_keys_are_masked() {
    let server = MockServer::start().await;
    // The leaked-key answer: 403 PERMISSION_DENIED with no details at all
    // (continuedev/continue#10513 and #11541 quote the whole body).
    Mock::given(method("GET"))
        .and(path("/v1beta/models"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"error": {
            "code": 403, "message": "Your API key was reported as leaked. Please use another API key.",
            "status": "PERMISSION_DENIED"
        }})))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    // CONSUMER_SUSPENDED quotes the whole key (google/generative-ai-docs#356).
    Mock::given(method("GET"))
        .and(path("/v1beta/models"))
        .respond_with(ResponseTemplate::new(403).set_body_json(google_error(
            403,
            "PERMISSION_DENIED",
            &format!("Permission denied: Consumer 'api_key:{GEMINI_KEY}' has been suspended."),
            "CONSUMER_SUSPENDED",
        )))
        .mount(&server)
        .await;
    let iss = GeminiIssuer::new(client(), &server.uri());
    let mut c = cred("gemini/prod", Issuer::Gemini, "", &[]);
    let key = secret(GEMINI_KEY);
    let err = iss.verify(&c, &key).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Validation { .. })
            && err.to_string().contains("blocked this key as leaked"),
        "blocked is neither alive nor dead: {err:?}"
    );
    iss.identify(&mut c, &key).await.unwrap();
    assert!(
        c.blocked_as_leaked()
            .is_some_and(|w| w.contains("Your API key was reported as leaked")),
        "{:?}",
        c.meta
    );
    let err = iss.verify(&c, &key).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("has been suspended"), "{msg}");
    assert!(!msg.contains(&GEMINI_KEY[8..]), "the key is masked: {msg}");
}

#[tokio::test]
async fn gemini_throttling_reads_retry_info() {
    let server = MockServer::start().await;
    // RESOURCE_EXHAUSTED with RetryInfo in the body and no Retry-After header
    // (googleapis/python-genai#2044; dcdpr/jp#1061).
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

fn bt_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

/// BT `AISecret` (never the raw secret; `required: [id, org_id, name]`).
fn ai_secret(i: usize, name: &str, kind: &str, updated_at: &str) -> serde_json::Value {
    json!({
        "id": bt_id(i),
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
    // BT getAiSecret.
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
    // BT StartingAfter: "pass starting_after=foo to fetch the next page"; no has_more, so a
    // list ends with an empty page (a short one is not promised to be the last).
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .and(query_param("org_name", "acme"))
        .and(query_param("starting_after", &*bt_id(99)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": [
            ai_secret(100, "GEMINI_API_KEY", "google", "2026-02-01 08:00:00.5+00")
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    // BT getAiSecret.
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .and(query_param("starting_after", &*bt_id(100)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": []})))
        .expect(1)
        .mount(&server)
        .await;
    // BT getEnvVar: no cursor, no org_name; EnvVar has no value and no updated_at.
    Mock::given(method("GET"))
        .and(path("/v1/env_var"))
        .and(header("authorization", auth.as_str()))
        .and(query_param_is_missing("org_name"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"objects": [{
                "id": bt_id(200), "object_type": "project", "object_id": bt_id(300),
                "name": "OPENAI_API_KEY", "created": "2026-01-10T08:00:00.000Z",
                "secret_updated_at": "2026-03-01T08:00:00.000Z", "used": "2026-05-12T10:00:00.000Z",
                "preview_secret": "sk-...ENV1", "secret_type": null, "secret_category": "env_var"
            }]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    // BT getApiKey: ApiKey {id, name, preview_name, created, user_email…}.
    Mock::given(method("GET"))
        .and(path("/v1/api_key"))
        .and(query_param("org_name", "acme"))
        .and(query_param_is_missing("starting_after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": [{
            "id": bt_id(400), "name": "ci", "preview_name": "sk-...CI01", "created": "2026-01-01T00:00:00Z",
            "user_email": "ops@example.com", "org_id": "11111111-1111-4111-8111-111111111111"
        }]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/api_key"))
        .and(query_param("starting_after", &*bt_id(400)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": []})))
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
            ..BraintrustScope::default()
        }),
        ..Scope::default()
    };
    let (pages, res) = discover(&inv, &scope).await;
    res.unwrap();
    assert_eq!(
        pages.len(),
        4,
        "two pages of AI secrets, the env vars, the API keys"
    );
    let creds: Vec<Credential> = pages.into_iter().flatten().collect();
    assert_eq!(creds.len(), 5);
    let env = &creds[3];
    assert_eq!(
        env.id,
        format!("braintrust/env_var/project/{}/OPENAI_API_KEY", bt_id(300))
    );
    assert_eq!(env.issuer, Issuer::Openai, "by its name");
    assert_eq!(env.name, "OPENAI_API_KEY (project 00000000)");
    assert_eq!(env.hint, "sk-…ENV1");
    assert!(env.exposed, "{}", env.exposure_reason);
    assert_eq!(
        env.locations[0].changed,
        Some(Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap())
    );
    assert_eq!(
        env.last_used,
        Some(Utc.with_ymd_and_hms(2026, 5, 12, 10, 0, 0).unwrap())
    );
    let key = &creds[4];
    assert_eq!(key.issuer, Issuer::Braintrust);
    assert_eq!(key.key_id, bt_id(400));
    assert_eq!(key.hint, "sk-…CI01");
    assert!(key.locations.is_empty() && !key.exposed, "an issuer record");
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
    // BT getAiSecret.
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .and(header("authorization", auth.as_str()))
        .and(query_param("org_name", "acme"))
        .and(query_param("ai_secret_name", "OPENAI_API_KEY"))
        .and(query_param_is_missing("starting_after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": [before]})))
        .expect(1)
        .mount(&server)
        .await;
    // BT getAiSecret.
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .and(query_param("starting_after", &*bt_id(7)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": []})))
        .expect(1)
        .mount(&server)
        .await;
    // BT patchAiSecretId: the secret alone (PatchAISecret; the rest is left as it is). Never
    // postAiSecret: on an existing name it "will return the existing ai_secret unmodified".
    Mock::given(method("PATCH"))
        .and(path(format!("/v1/ai_secret/{}", bt_id(7))))
        .and(header("authorization", auth.as_str()))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"secret": BRAINTRUST_NEW})))
        .respond_with(ResponseTemplate::new(200).set_body_json(after.clone()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    // BT getAiSecretId.
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
    // BT getAiSecret.
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .and(query_param("ai_secret_name", "OLD_KEY"))
        .and(query_param_is_missing("starting_after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": [
            ai_secret(3, "OLD_KEY", "openai", "2026-04-01T08:00:00Z")
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    // BT getAiSecret.
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .and(query_param("starting_after", &*bt_id(3)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": []})))
        .mount(&server)
        .await;
    // BT getAiSecret.
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .and(query_param("ai_secret_name", "GONE"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": []})))
        .expect(1)
        .mount(&server)
        .await;
    // BT deleteAiSecretId: "Returns the deleted ai_secret object".
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
    // BT getAiSecret.
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

#[tokio::test]
async fn braintrust_env_var_is_rewritten_by_patch_with_its_name_and_read_back() {
    let server = MockServer::start().await;
    let auth = bearer(BRAINTRUST_ADMIN);
    let env = |updated: &str| {
        // BT `EnvVar`: no value, no updated_at, no org_id.
        json!({"id": bt_id(200), "object_type": "function", "object_id": bt_id(300),
               "name": "OPENAI_API_KEY", "created": "2026-01-10T08:00:00.000Z",
               "secret_updated_at": updated, "preview_secret": "sk-...WXYZ"})
    };
    // BT getEnvVar filtered by scope and name.
    Mock::given(method("GET"))
        .and(path("/v1/env_var"))
        .and(query_param("object_type", "function"))
        .and(query_param("object_id", &*bt_id(300)))
        .and(query_param("env_var_name", "OPENAI_API_KEY"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"objects": [env("2026-04-01T08:00:00Z")]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    // BT patchEnvVarId: `required: ["name"]`, then the value.
    Mock::given(method("PATCH"))
        .and(path(format!("/v1/env_var/{}", bt_id(200))))
        .and(header("authorization", auth.as_str()))
        .and(body_json(
            json!({"name": "OPENAI_API_KEY", "value": BRAINTRUST_NEW}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(env("2026-05-13T09:30:00Z")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/env_var/{}", bt_id(200))))
        .respond_with(ResponseTemplate::new(200).set_body_json(env("2026-05-13T09:30:00Z")))
        .expect(1)
        .mount(&server)
        .await;
    let store = BraintrustStore::new(
        client(),
        &server.uri(),
        Some(secret(BRAINTRUST_ADMIN)),
        "acme",
    );
    let loc = Location {
        kind: LocationKind::Braintrust,
        name: breachbook::providers::braintrust::env_var_location(
            "function",
            &bt_id(300),
            "OPENAI_API_KEY",
        ),
        field: None,
        region: None,
        account: None,
        changed: None,
    };
    let at = store.replace(&loc, &secret(BRAINTRUST_NEW)).await.unwrap();
    assert_eq!(at, Utc.with_ymd_and_hms(2026, 5, 13, 9, 30, 0).unwrap());
}

#[tokio::test]
async fn braintrust_api_keys_are_made_by_hand_tested_and_deleted_by_api() {
    use breachbook::providers::braintrust::BraintrustIssuer;
    let server = MockServer::start().await;
    let id = bt_id(400);
    let listed = json!({"objects": [{"id": id, "name": "ci", "preview_name": "sk-...WXYZ"}]});
    // BT getApiKey with `ids`: listed until deleted.
    Mock::given(method("GET"))
        .and(path("/v1/api_key"))
        .and(query_param("ids", &*id))
        .and(query_param_is_missing("starting_after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listed))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/api_key"))
        .and(query_param("starting_after", &*id))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": []})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/api_key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": []})))
        .mount(&server)
        .await;
    // BT deleteApiKeyId: "Returns the deleted api_key object".
    Mock::given(method("DELETE"))
        .and(path(format!("/v1/api_key/{id}")))
        .and(header("authorization", bearer(BRAINTRUST_ADMIN).as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": id, "name": "ci", "preview_name": "sk-...WXYZ"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    // BT getOrganization with the key under test: 200, or 401 "No valid API key provided".
    Mock::given(method("GET"))
        .and(path("/v1/organization"))
        .and(query_param("limit", "1"))
        .and(header("authorization", bearer(BRAINTRUST_NEW).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"objects": [{"id": "11111111-1111-4111-8111-111111111111", "name": "acme"}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/organization"))
        .respond_with(ResponseTemplate::new(401).set_body_string("No valid API key provided"))
        .mount(&server)
        .await;
    let iss = BraintrustIssuer::new(
        client(),
        &server.uri(),
        Some(secret(BRAINTRUST_ADMIN)),
        "acme",
    );
    let old = cred(
        &format!("braintrust-key/{id}"),
        Issuer::Braintrust,
        &id,
        &[],
    );
    match iss.issue(&old, TOKEN).await.unwrap_err() {
        ProviderError::ManualIssue { instructions, .. } => {
            for needle in [
                "Settings → API keys",
                "braintrust.dev",
                TOKEN,
                "hidden input",
            ] {
                assert!(instructions.contains(needle), "{needle}: {instructions}");
            }
        }
        e => panic!("expected ManualIssue, got {e:?}"),
    }
    assert_eq!(
        iss.verify(&old, &secret(BRAINTRUST_NEW)).await.unwrap(),
        Liveness::Alive
    );
    assert_eq!(
        iss.verify(&old, &secret(OPENAI_OLD)).await.unwrap(),
        Liveness::Dead
    );
    assert_eq!(iss.old_key_liveness(&old).await.unwrap(), Liveness::Alive);
    iss.revoke(&old).await.unwrap();
    assert_eq!(iss.old_key_liveness(&old).await.unwrap(), Liveness::Dead);
    iss.delete(&old).await.unwrap();
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
    // Every provider echoes the key it was sent in its error message — as some do (Google's
    // CONSUMER_SUSPENDED and DebugInfo, google/generative-ai-docs#356; OpenAI's "Incorrect API
    // key provided: sk-…"). The routes are the documented ones (OAI listModels, list-projects;
    // ANT api_keys/retrieve, models/list; GL ListModels; BT getAiSecret, patchAiSecretId); the
    // hostile answers are made up on purpose.
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
        .and(query_param_is_missing("starting_after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"objects": [ai_secret(7, "OPENAI_API_KEY", "openai", "2026-04-01T08:00:00Z")]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/ai_secret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"objects": []})))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/v1/ai_secret/{}", bt_id(7))))
        .respond_with(ResponseTemplate::new(400).set_body_string(format!(
            "secret {BRAINTRUST_NEW} rejected for key {BRAINTRUST_ADMIN}"
        )))
        .expect(1)
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
