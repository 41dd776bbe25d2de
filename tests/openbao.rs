//! OpenBao's dev server as the Vault of the tests: KV version 2 check-and-set over plain
//! HTTP, the way a Vault store stages a new version without overwriting one it has not seen.
//!
//! KV v2 (Vault/OpenBao API, `POST /v1/secret/data/:path`): `options.cas` — "the write
//! will only be allowed if the key's current version matches the version specified in the
//! cas parameter"; `cas: 0` writes only if the key does not exist yet.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/openbao.rs"]
mod openbao;

use std::time::Duration;

use openbao::OpenBao;
use serde_json::{Value, json};

/// `POST /v1/secret/data/<path>` with `cas`; the status and the JSON body.
async fn write(bao: &OpenBao, path: &str, cas: u64, data: Value) -> (u16, Value) {
    let resp = bao
        .client()
        .post(bao.url(&format!("/v1/secret/data/{path}")))
        .json(&json!({ "options": { "cas": cas }, "data": data }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn read(bao: &OpenBao, path: &str) -> Value {
    let resp = bao
        .client()
        .get(bao.url(&format!("/v1/secret/data/{path}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn kv2_check_and_set_writes_the_expected_version_and_refuses_a_stale_one() {
    let bao = OpenBao::start();
    eprintln!("OpenBao answered after {:?}", bao.startup);

    // cas 0: create only.
    let (status, body) = write(
        &bao,
        "prod/ai/openai",
        0,
        json!({"OPENAI_API_KEY": "sk-old"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["version"], 1, "{body}");

    // cas 0 again: the key exists now, so the write is refused and nothing changes.
    let (status, body) = write(&bao, "prod/ai/openai", 0, json!({"OPENAI_API_KEY": "sk-x"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap_or_default()
            .contains("check-and-set parameter did not match the current version"),
        "{body}"
    );

    // cas 1 (the version we read): accepted as version 2.
    let (status, body) = write(
        &bao,
        "prod/ai/openai",
        1,
        json!({"OPENAI_API_KEY": "sk-new"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["version"], 2, "{body}");

    // cas 1 once more: stale (someone wrote version 2 since), refused.
    let (status, body) = write(
        &bao,
        "prod/ai/openai",
        1,
        json!({"OPENAI_API_KEY": "sk-lost"}),
    )
    .await;
    assert_eq!(status, 400, "a stale cas must not overwrite: {body}");

    let now = read(&bao, "prod/ai/openai").await;
    assert_eq!(
        now["data"]["data"],
        json!({"OPENAI_API_KEY": "sk-new"}),
        "{now}"
    );
    assert_eq!(now["data"]["metadata"]["version"], 2, "{now}");
}

#[tokio::test]
async fn the_root_token_is_required_and_the_server_ends_on_drop() {
    let bao = OpenBao::start();
    // Without the token: refused.
    let anon = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = anon
        .get(bao.url("/v1/secret/data/anything"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // Dropped: the port answers no more.
    let health = bao.url("/v1/sys/health");
    drop(bao);
    let after = anon
        .get(&health)
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        after.is_err(),
        "the dev server still answers after drop: {after:?}"
    );
}
