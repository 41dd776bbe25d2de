//! The Vault KV v2 store against a real OpenBao dev server (tests/support/openbao.rs): the
//! windows a crash leaves in a stage (after the intent, after the write), a writer who
//! changes the secret while breachbook works on it, an abandoned stage undone, and the value
//! before a rotation read back. Each window is made by writing what a crash would have left
//! (breachbook's record in `custom_metadata`, a version written) with Vault's own API, then
//! calling the store as a resumed breachbook would.
//!
//! Facts used (openbao/openbao `website/content/api-docs/secret/kv/kv-v2.mdx` at
//! f122ef8599b45fd28021078f23d0d11f802a83c6): a write with `options.cas` succeeds only when
//! `cas` is the current version; `PATCH …/metadata/:path` with `application/merge-patch+json`
//! changes `custom_metadata` without a new version.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/openbao.rs"]
mod openbao;

use breachbook::incident::model::{Location, LocationKind};
use breachbook::incident::ports::{ProviderError, SecretStore};
use breachbook::providers::vault::{VaultConfig, VaultStore};
use openbao::OpenBao;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

const OLD: &str = "sk-test-openai-store-OLD-FAKE0000000000aaS1";
const NEW: &str = "sk-test-openai-store-NEW-FAKE0000000000bbS2";
const THEIRS: &str = "sk-test-openai-someone-else-FAKE00000000ccS3";

fn store(bao: &OpenBao) -> VaultStore {
    let config = VaultConfig {
        addr: bao.addr.clone(),
        token: SecretString::from(bao.root_token.clone()),
        namespace: None,
    };
    VaultStore::connect(&config, "secret").unwrap()
}

fn loc(path: &str, field: &str) -> Location {
    Location {
        kind: LocationKind::Vault,
        name: format!("secret/{path}"),
        field: Some(field.to_string()),
        region: None,
        account: None,
        changed: None,
    }
}

fn s(v: &str) -> SecretString {
    SecretString::from(v.to_string())
}

async fn write(bao: &OpenBao, path: &str, cas: u64, data: Value) -> u64 {
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
    let v: Value = resp.json().await.unwrap();
    v["data"]["version"].as_u64().unwrap()
}

async fn patch_custom(bao: &OpenBao, path: &str, custom: Value) {
    let resp = bao
        .client()
        .patch(bao.url(&format!("/v1/secret/metadata/{path}")))
        .header("Content-Type", "application/merge-patch+json")
        .body(json!({ "custom_metadata": custom }).to_string())
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "patch {path}: {}",
        resp.status()
    );
}

async fn metadata(bao: &OpenBao, path: &str) -> Value {
    let resp = bao
        .client()
        .get(bao.url(&format!("/v1/secret/metadata/{path}")))
        .send()
        .await
        .unwrap();
    resp.json::<Value>().await.unwrap()["data"].clone()
}

async fn latest(bao: &OpenBao, path: &str) -> Value {
    let resp = bao
        .client()
        .get(bao.url(&format!("/v1/secret/data/{path}")))
        .send()
        .await
        .unwrap();
    resp.json::<Value>().await.unwrap()["data"]["data"].clone()
}

#[tokio::test]
async fn a_stage_cut_after_its_intent_or_after_its_write_finishes_with_one_version() {
    let bao = OpenBao::start();
    let st = store(&bao);
    // Cut after the intent: nothing written yet. The stage writes it, on the version named.
    write(
        &bao,
        "a",
        0,
        json!({"OPENAI_API_KEY": OLD, "ORG": "org-example"}),
    )
    .await;
    patch_custom(
        &bao,
        "a",
        json!({"breachbook_pending": "breachbook-t-1 origin=1 base=1"}),
    )
    .await;
    let check = st.inspect(&loc("a", "OPENAI_API_KEY")).await.unwrap();
    assert_eq!(
        check.pending.map(|p| p.version).as_deref(),
        Some("breachbook-t-1"),
        "an intent without its version is named by its token, which says whose it is"
    );
    let v = st
        .stage(&loc("a", "OPENAI_API_KEY"), &s(NEW), "breachbook-t-1")
        .await
        .unwrap();
    assert_eq!(v, "breachbook-t-1@2");
    assert_eq!(
        latest(&bao, "a").await,
        json!({"OPENAI_API_KEY": NEW, "ORG": "org-example"})
    );
    // Asked again (a retry): the same version, nothing written.
    let again = st
        .stage(&loc("a", "OPENAI_API_KEY"), &s(NEW), "breachbook-t-1")
        .await
        .unwrap();
    assert_eq!(again, v);
    let meta = metadata(&bao, "a").await;
    assert_eq!(meta["current_version"], 2, "{meta}");
    assert_eq!(
        meta["custom_metadata"]["breachbook_pending"],
        "breachbook-t-1 origin=1 base=1 version=2"
    );
    let check = st.inspect(&loc("a", "OPENAI_API_KEY")).await.unwrap();
    assert_eq!(
        check.pending.map(|p| p.version).as_deref(),
        Some(v.as_str())
    );

    // Cut after the write, before its version was recorded: the version is found, not
    // written a second time.
    write(&bao, "b", 0, json!({"OPENAI_API_KEY": OLD})).await;
    patch_custom(
        &bao,
        "b",
        json!({"breachbook_pending": "breachbook-t-2 origin=1 base=1"}),
    )
    .await;
    write(&bao, "b", 1, json!({"OPENAI_API_KEY": NEW})).await;
    let v = st
        .stage(&loc("b", "OPENAI_API_KEY"), &s(NEW), "breachbook-t-2")
        .await
        .unwrap();
    assert_eq!(v, "breachbook-t-2@2");
    assert_eq!(metadata(&bao, "b").await["current_version"], 2);
    // The same token with other values is refused: one token per set of new keys.
    let other = st
        .stage(&loc("b", "OPENAI_API_KEY"), &s(THEIRS), "breachbook-t-2")
        .await;
    assert!(
        matches!(other, Err(ProviderError::Validation { .. })),
        "{other:?}"
    );
    assert_eq!(latest(&bao, "b").await["OPENAI_API_KEY"], NEW);

    // Cut after the intent, and someone wrote in between: breachbook's write never
    // happened (its cas would have been refused), so it is composed again on theirs.
    write(&bao, "c", 0, json!({"OPENAI_API_KEY": OLD, "ORG": "x"})).await;
    patch_custom(
        &bao,
        "c",
        json!({"breachbook_pending": "breachbook-t-3 origin=1 base=1"}),
    )
    .await;
    write(&bao, "c", 1, json!({"OPENAI_API_KEY": OLD, "ORG": "y"})).await;
    let v = st
        .stage(&loc("c", "OPENAI_API_KEY"), &s(NEW), "breachbook-t-3")
        .await
        .unwrap();
    assert_eq!(v, "breachbook-t-3@3");
    assert_eq!(
        latest(&bao, "c").await,
        json!({"OPENAI_API_KEY": NEW, "ORG": "y"})
    );
}

#[tokio::test]
async fn a_writer_who_changes_the_secret_meanwhile_is_never_overwritten() {
    let bao = OpenBao::start();
    let st = store(&bao);
    let l = loc("app", "OPENAI_API_KEY");
    write(&bao, "app", 0, json!({"OPENAI_API_KEY": OLD, "ORG": "x"})).await;
    let v = st.stage(&l, &s(NEW), "breachbook-t-4").await.unwrap();
    // Someone changes another field after the stage: the promotion keeps it.
    write(&bao, "app", 2, json!({"OPENAI_API_KEY": NEW, "ORG": "y"})).await;
    st.promote(&l, &v).await.unwrap();
    assert_eq!(
        latest(&bao, "app").await,
        json!({"OPENAI_API_KEY": NEW, "ORG": "y"})
    );
    let meta = metadata(&bao, "app").await;
    assert_eq!(
        meta["current_version"], 3,
        "promotion writes no version: {meta}"
    );
    assert!(
        meta["custom_metadata"].get("breachbook_pending").is_none(),
        "{meta}"
    );
    assert!(
        meta["custom_metadata"]["breachbook_promoted"]
            .as_str()
            .unwrap()
            .starts_with("breachbook-t-4@2 at "),
        "{meta}"
    );
    assert!(st.inspect(&l).await.unwrap().pending.is_none());
    // The value before the rotation, for testing the old key in memory.
    let old = st.read_old(&l, &v).await.unwrap();
    assert_eq!(old.expose_secret(), OLD);

    // Someone replaces the staged key itself: the promotion refuses, naming their version,
    // and changes nothing.
    write(&bao, "app2", 0, json!({"OPENAI_API_KEY": OLD})).await;
    let l2 = loc("app2", "OPENAI_API_KEY");
    let v2 = st.stage(&l2, &s(NEW), "breachbook-t-5").await.unwrap();
    write(&bao, "app2", 2, json!({"OPENAI_API_KEY": THEIRS})).await;
    let refused = st.promote(&l2, &v2).await;
    match refused {
        Err(ProviderError::Validation { message, .. }) => {
            assert!(message.contains("version 3"), "{message}");
            assert!(
                !message.contains(THEIRS) && !message.contains(NEW),
                "{message}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(latest(&bao, "app2").await["OPENAI_API_KEY"], THEIRS);
    assert_eq!(metadata(&bao, "app2").await["current_version"], 3);
    // A new value written where a copy lives: a version on top of theirs, cas kept.
    st.replace(&l2, &s(NEW)).await.unwrap();
    assert_eq!(metadata(&bao, "app2").await["current_version"], 4);
    st.replace(&l2, &s(NEW)).await.unwrap();
    assert_eq!(
        metadata(&bao, "app2").await["current_version"],
        4,
        "a value already there is not written again"
    );
}

#[tokio::test]
async fn an_abandoned_stage_is_undone_only_in_the_fields_nobody_changed_since() {
    let bao = OpenBao::start();
    let st = store(&bao);
    let secret = loc("svc", "OPENAI_API_KEY");
    write(&bao, "svc", 0, json!({"OPENAI_API_KEY": OLD, "ORG": "x"})).await;
    let v = st.stage(&secret, &s(NEW), "breachbook-t-6").await.unwrap();
    write(&bao, "svc", 2, json!({"OPENAI_API_KEY": NEW, "ORG": "y"})).await;
    st.unstage(&secret, &v).await.unwrap();
    assert_eq!(
        latest(&bao, "svc").await,
        json!({"OPENAI_API_KEY": OLD, "ORG": "y"})
    );
    let meta = metadata(&bao, "svc").await;
    assert_eq!(meta["current_version"], 4, "{meta}");
    assert!(
        meta["custom_metadata"].get("breachbook_pending").is_none(),
        "{meta}"
    );
    // Already undone: nothing more is written.
    st.unstage(&secret, &v).await.unwrap();
    assert_eq!(metadata(&bao, "svc").await["current_version"], 4);

    // Two keys staged in one secret, one of them left out again: its field goes back to
    // the value before the rotation, the other stays new.
    write(
        &bao,
        "two",
        0,
        json!({"OPENAI_API_KEY": OLD, "ANTHROPIC_API_KEY": "sk-ant-test-OLD-FAKE00000000000000aaT1"}),
    )
    .await;
    let a = loc("two", "OPENAI_API_KEY");
    let b = loc("two", "ANTHROPIC_API_KEY");
    let both = st
        .stage_version(
            &a,
            None,
            &[
                (a.clone(), s(NEW)),
                (b.clone(), s("sk-ant-test-NEW-FAKE00000000000000bbT2")),
            ],
            &[],
            "breachbook-t-7",
        )
        .await
        .unwrap();
    let without = st
        .stage_version(
            &a,
            Some(&both),
            &[],
            std::slice::from_ref(&b),
            "breachbook-t-8",
        )
        .await
        .unwrap();
    assert_eq!(without, "breachbook-t-8@3");
    assert_eq!(
        latest(&bao, "two").await,
        json!({"OPENAI_API_KEY": NEW, "ANTHROPIC_API_KEY": "sk-ant-test-OLD-FAKE00000000000000aaT1"})
    );
    let fields = st
        .read_fields(&[a.clone(), b.clone()], &without)
        .await
        .unwrap();
    assert_eq!(fields[0].expose_secret(), NEW);
}

#[tokio::test]
async fn a_token_without_the_policy_is_refused_with_words_that_say_so() {
    let bao = OpenBao::start();
    write(&bao, "locked", 0, json!({"OPENAI_API_KEY": OLD})).await;
    let config = VaultConfig {
        addr: bao.addr.clone(),
        token: SecretString::from("s.test-not-a-token".to_string()),
        namespace: None,
    };
    let st = VaultStore::connect(&config, "secret").unwrap();
    let got = st.inspect(&loc("locked", "OPENAI_API_KEY")).await;
    match got {
        Err(ProviderError::Auth { message, .. }) => {
            assert!(message.contains("permission denied"), "{message}");
            assert!(!message.contains("s.test-not-a-token"), "{message}");
        }
        other => panic!("expected Auth, got {other:?}"),
    }
}
