//! SSM Parameter Store as a store, against moto_server: the store's versions and labels
//! (a stage, a retry, a crash between the write and its label, a writer meanwhile, an
//! abandoned stage undone, the promotion), then the vendor-breach runbook live with a key
//! kept in a `SecureString` parameter, end to end against moto and the OpenAI fake.
//!
//! What the real service does, and the test demands (SSM API Reference,
//! https://docs.aws.amazon.com/systems-manager/latest/APIReference/): `PutParameter` with
//! `Overwrite` makes a new version that `GetParameter` returns at once; a label is on one
//! version at a time and `LabelParameterVersion` moves it; `GetParameter` takes
//! `name:label` and `name:version`.
//!
//! scripts/test installs moto[server].

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

use std::process::Command;

use aws_sdk_ssm::types::ParameterType;
use breachbook::incident::model::{Location, LocationKind};
use breachbook::incident::ports::{ProviderError, SecretStore};
use breachbook::providers::aws::ssm::{PROMOTED_LABEL, SsmStore};
use live_ssm::REGION;
use moto::Moto;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

const OLD: &str = "sk-test-openai-ssm-OLD-FAKE00000000000aaM1";
const NEW: &str = "sk-test-openai-ssm-NEW-FAKE00000000000bbM2";
const THEIRS: &str = "sk-test-openai-someone-FAKE000000000000ccM3";
const OLD_ID: &str = "key_SsmOldFake2Bb2";
const SA: &str = "svc_acct_SsmEXAMPLE";

fn s(v: &str) -> SecretString {
    SecretString::from(v.to_string())
}

fn loc(name: &str, field: Option<&str>) -> Location {
    Location {
        kind: LocationKind::Ssm,
        name: name.to_string(),
        field: field.map(str::to_string),
        region: Some(REGION.to_string()),
        account: None,
        changed: None,
    }
}

async fn put(c: &aws_sdk_ssm::Client, name: &str, value: &str, overwrite: bool) -> i64 {
    c.put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::SecureString)
        .overwrite(overwrite)
        .send()
        .await
        .unwrap()
        .version()
}

/// (value, version) of `name` or `name:selector`.
async fn get(c: &aws_sdk_ssm::Client, name: &str) -> (String, i64) {
    let out = c
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    let p = out.parameter().unwrap();
    (p.value().unwrap_or_default().to_string(), p.version())
}

/// Every version's labels, oldest first.
async fn labels(c: &aws_sdk_ssm::Client, name: &str) -> Vec<(i64, Vec<String>)> {
    let out = c
        .get_parameter_history()
        .name(name)
        .max_results(50)
        .send()
        .await
        .unwrap();
    let mut v: Vec<(i64, Vec<String>)> = out
        .parameters()
        .iter()
        .map(|h| (h.version(), h.labels().to_vec()))
        .collect();
    v.sort_by_key(|x| x.0);
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn parameter_versions_stage_with_breachbook_label_and_survive_a_crash_and_a_writer() {
    let moto = Moto::start();
    let aws = moto.aws(&[REGION]).await;
    let c = moto.ssm_client(REGION);
    let st = SsmStore::new(&aws);

    // A plain parameter: staged as version 2, labelled with the token; asked again, the same.
    put(&c, "/prod/ai/OPENAI_API_KEY", OLD, false).await;
    let l = loc("/prod/ai/OPENAI_API_KEY", None);
    let v = st.stage(&l, &s(NEW), "breachbook-t-1").await.unwrap();
    assert_eq!(v, "breachbook-t-1@2");
    assert_eq!(
        get(&c, "/prod/ai/OPENAI_API_KEY").await,
        (NEW.to_string(), 2)
    );
    assert_eq!(get(&c, "/prod/ai/OPENAI_API_KEY:breachbook-t-1").await.1, 2);
    assert_eq!(st.stage(&l, &s(NEW), "breachbook-t-1").await.unwrap(), v);
    assert_eq!(
        get(&c, "/prod/ai/OPENAI_API_KEY").await.1,
        2,
        "no second version"
    );
    let check = st.inspect(&l).await.unwrap();
    assert_eq!(
        check.pending.map(|p| p.version).as_deref(),
        Some(v.as_str())
    );
    assert_eq!(st.read_version(&l, &v).await.unwrap().expose_secret(), NEW);
    // Promotion writes nothing and moves breachbook's label; the old value reads back.
    st.promote(&l, &v).await.unwrap();
    assert_eq!(get(&c, "/prod/ai/OPENAI_API_KEY").await.1, 2);
    let history = labels(&c, "/prod/ai/OPENAI_API_KEY").await;
    assert!(
        history[1].1.iter().any(|x| x == PROMOTED_LABEL),
        "{history:?}"
    );
    assert!(st.inspect(&l).await.unwrap().pending.is_none());
    assert_eq!(st.read_old(&l, &v).await.unwrap().expose_secret(), OLD);

    // A crash between the write and its label: the version is found and labelled, not
    // written again.
    put(&c, "/prod/ai/b", OLD, false).await;
    put(&c, "/prod/ai/b", NEW, true).await;
    let lb = loc("/prod/ai/b", None);
    assert_eq!(
        st.stage(&lb, &s(NEW), "breachbook-t-2").await.unwrap(),
        "breachbook-t-2@2"
    );
    assert_eq!(get(&c, "/prod/ai/b").await.1, 2);
    let other = st.stage(&lb, &s(THEIRS), "breachbook-t-2").await;
    assert!(
        matches!(other, Err(ProviderError::Validation { .. })),
        "{other:?}"
    );

    // A JSON parameter: another writer changes another field after the stage; the
    // promotion keeps it. Someone replacing the staged key makes the promotion refuse.
    put(
        &c,
        "/prod/ai/doc",
        r#"{"OPENAI_API_KEY":"sk-test-openai-ssm-OLD-FAKE00000000000aaM1","ORG":"x"}"#,
        false,
    )
    .await;
    let ld = loc("/prod/ai/doc", Some("OPENAI_API_KEY"));
    let vd = st.stage(&ld, &s(NEW), "breachbook-t-3").await.unwrap();
    let staged: Value = serde_json::from_str(&get(&c, "/prod/ai/doc").await.0).unwrap();
    assert_eq!(staged["OPENAI_API_KEY"], NEW);
    assert_eq!(staged["ORG"], "x");
    put(
        &c,
        "/prod/ai/doc",
        &serde_json::json!({"OPENAI_API_KEY": NEW, "ORG": "y"}).to_string(),
        true,
    )
    .await;
    st.promote(&ld, &vd).await.unwrap();
    let after: Value = serde_json::from_str(&get(&c, "/prod/ai/doc").await.0).unwrap();
    assert_eq!(after["ORG"], "y", "the other writer's field stays");
    let history = labels(&c, "/prod/ai/doc").await;
    assert!(
        history[2].1.iter().any(|x| x == PROMOTED_LABEL),
        "the promotion label is on the latest version: {history:?}"
    );

    put(&c, "/prod/ai/e", OLD, false).await;
    let le = loc("/prod/ai/e", None);
    let ve = st.stage(&le, &s(NEW), "breachbook-t-4").await.unwrap();
    put(&c, "/prod/ai/e", THEIRS, true).await;
    match st.promote(&le, &ve).await {
        Err(ProviderError::Validation { message, .. }) => {
            assert!(message.contains("version 3"), "{message}");
            assert!(
                !message.contains(THEIRS) && !message.contains(NEW),
                "{message}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(get(&c, "/prod/ai/e").await, (THEIRS.to_string(), 3));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_stage_is_undone_only_where_nobody_changed_it_since() {
    let moto = Moto::start();
    let aws = moto.aws(&[REGION]).await;
    let c = moto.ssm_client(REGION);
    let st = SsmStore::new(&aws);
    put(
        &c,
        "/svc/doc",
        &serde_json::json!({"OPENAI_API_KEY": OLD, "ORG": "x"}).to_string(),
        false,
    )
    .await;
    let l = loc("/svc/doc", Some("OPENAI_API_KEY"));
    let v = st.stage(&l, &s(NEW), "breachbook-t-5").await.unwrap();
    put(
        &c,
        "/svc/doc",
        &serde_json::json!({"OPENAI_API_KEY": NEW, "ORG": "y"}).to_string(),
        true,
    )
    .await;
    st.unstage(&l, &v).await.unwrap();
    let (value, version) = get(&c, "/svc/doc").await;
    let doc: Value = serde_json::from_str(&value).unwrap();
    assert_eq!(doc, serde_json::json!({"OPENAI_API_KEY": OLD, "ORG": "y"}));
    assert_eq!(version, 4);
    assert!(
        labels(&c, "/svc/doc")
            .await
            .iter()
            .all(|(_, l)| l.iter().all(|x| x != "breachbook-t-5")),
        "the token's label is off"
    );
    // Already undone: nothing more.
    st.unstage(&l, &v).await.unwrap();
    assert_eq!(get(&c, "/svc/doc").await.1, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_kept_in_parameter_store_is_rotated_end_to_end() {
    let moto = Moto::start();
    let c = moto.ssm_client(REGION);
    put(&c, "/prod/ai/OPENAI_API_KEY", OLD, false).await;
    put(&c, "/other/OPENAI_API_KEY", THEIRS, false).await;
    let fake = live_ssm::openai_with(SA, OLD_ID, OLD).await;
    let dir = tempfile::tempdir().unwrap();
    let rb = scoped_runbook::with_scope(
        dir.path(),
        "scope:\n  ssm:\n    regions: [us-east-1]\n    paths: [/prod/ai/]\n    fields:\n      - field: OPENAI_API_KEY\n        issuer: openai\n  openai:\n    organization: org-example\n",
    );
    // The policy names the SSM calls on the path only.
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .arg("iam-policy")
        .arg(&rb)
        .output()
        .unwrap();
    let policy: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ssm = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "SsmParametersInScope")
        .unwrap_or_else(|| panic!("{policy}"));
    let actions: Vec<&str> = ssm["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for a in [
        "ssm:GetParameter",
        "ssm:GetParameterHistory",
        "ssm:GetParametersByPath",
        "ssm:LabelParameterVersion",
        "ssm:PutParameter",
        "ssm:UnlabelParameterVersion",
    ] {
        assert!(actions.contains(&a), "{a} missing: {ssm}");
    }
    assert_eq!(
        ssm["Resource"],
        serde_json::json!([
            "arn:aws:ssm:us-east-1:*:parameter/prod/ai",
            "arn:aws:ssm:us-east-1:*:parameter/prod/ai/*"
        ])
    );

    let state = dir.path().join("state");
    let mut cmd = live_ssm::breachbook(dir.path(), &state, &fake);
    let out = live_ssm::run_headless(&mut cmd, &rb, &moto);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["complete"], true, "{stdout}");
    assert_eq!(summary["revoked"], 1, "{stdout}");
    let (value, version) = get(&c, "/prod/ai/OPENAI_API_KEY").await;
    assert_ne!(value, OLD);
    assert_eq!(version, 2, "one version: the staged one");
    let history = labels(&c, "/prod/ai/OPENAI_API_KEY").await;
    assert!(
        history[1].1.iter().any(|x| x == PROMOTED_LABEL)
            && history[1].1.iter().any(|x| x.starts_with("breachbook-")),
        "{history:?}"
    );
    {
        let f = fake.state();
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert!(
            f.openai_sa(SA).is_some_and(|s| s.deleted),
            "the old key's account is gone"
        );
        let live: Vec<String> = f
            .minted_openai()
            .iter()
            .filter(|k| !k.deleted)
            .map(|k| k.value.clone())
            .collect();
        assert_eq!(live, vec![value.clone()], "the key in SSM is the one alive");
    }
    assert_eq!(
        get(&c, "/other/OPENAI_API_KEY").await,
        (THEIRS.to_string(), 1)
    );
    let mut written = live_ssm::written(&state);
    written.push_str(&stdout);
    written.push_str(&stderr);
    for secret in [OLD, value.as_str()] {
        assert!(!written.contains(secret), "a key value was written");
    }
}
