//! The Secrets Manager inventory reads values with `BatchGetSecretValue`, against a real
//! `moto_server` behind the fault proxy: more than 20 secrets over several ListSecrets
//! pages, every value read once; one secret denied and one deleted between the listing and
//! the read, each handled alone; throttled batches backed off and read again; a role
//! without `secretsmanager:BatchGetSecretValue` read one secret at a time.
//!
//! Moto does not throttle and does not enforce IAM: the proxy answers throttling and a
//! per-secret denial in the service's own shapes (see `support/fault_proxy.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::time::Duration;

use breachbook::incident::model::{Credential, fingerprint};
use breachbook::incident::ports::Inventory;
use breachbook::providers::aws::secrets::SecretsManagerInventory;
use breachbook::providers::aws::{Aws, AwsOptions};
use breachbook::runbook::schema::{
    ExposureWindow, FieldMapping, Issuer, Scope, SecretsManagerScope,
};
use chrono::{Duration as ChronoDuration, Utc};
use fault_proxy::{Fault, FaultProxy, Rule, When};
use futures::stream::{self, StreamExt};
use moto::Moto;
use tokio::sync::mpsc;

const FP_KEY: &[u8] = b"incident-fingerprint-key-for-tests";
const REGION: &str = "us-east-1";

fn fake_key(i: usize) -> String {
    format!("sk-test-batch{i:06}xxxxxxxxxxxxxxxx")
}

/// Seeds `n` secrets `prod/ai/s-NNNN`, each `{"OPENAI_API_KEY": …}`; returns name → value.
async fn seed(moto: &Moto, n: usize) -> BTreeMap<String, String> {
    let client = moto.sm_client(REGION).await;
    let all: Vec<(String, String)> = (0..n)
        .map(|i| (format!("prod/ai/s-{i:04}"), fake_key(i)))
        .collect();
    stream::iter(all.clone())
        .for_each_concurrent(8, |(name, key)| {
            let client = client.clone();
            async move {
                client
                    .create_secret()
                    .name(&name)
                    .secret_string(serde_json::json!({ "OPENAI_API_KEY": key }).to_string())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("seeding {name}: {e:?}"));
            }
        })
        .await;
    all.into_iter().collect()
}

fn scope() -> Scope {
    Scope {
        secrets_manager: Some(SecretsManagerScope {
            regions: vec![REGION.into()],
            name_prefixes: vec!["prod/ai/".into()],
            fields: vec![FieldMapping {
                field: "OPENAI_API_KEY".into(),
                issuer: Issuer::Openai,
            }],
            fingerprint: true,
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn via(proxy: &FaultProxy) -> Aws {
    let opts = AwsOptions {
        profile: None,
        region: Some(REGION.into()),
        endpoint_url: Some(proxy.endpoint.clone()),
        static_credentials: Some((
            moto::FAKE_ACCESS_KEY_ID.into(),
            moto::FAKE_SECRET_ACCESS_KEY.into(),
        )),
    };
    Aws::load(&opts, &[REGION.to_string()]).await.unwrap()
}

/// Runs the inventory; every credential found, by secret name.
async fn inventory(aws: &Aws, proxy: &FaultProxy) -> BTreeMap<String, Credential> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let exposure = ExposureWindow {
        start: Utc::now() + ChronoDuration::hours(1),
        end: None,
    };
    let inv = SecretsManagerInventory::new(aws, FP_KEY);
    let scope = scope();
    let run = inv.discover(&scope, &exposure, tx);
    let collect = async {
        let mut out = BTreeMap::new();
        while let Some(page) = rx.recv().await {
            for c in page {
                let name = c.locations[0].name.clone();
                assert!(
                    out.insert(name.clone(), c).is_none(),
                    "{name} reported twice"
                );
            }
        }
        out
    };
    let (r, found) = tokio::join!(run, collect);
    r.unwrap_or_else(|e| panic!("inventory failed: {e}\n{}", proxy.describe()));
    found
}

fn assert_read(found: &BTreeMap<String, Credential>, values: &BTreeMap<String, String>) {
    for (name, value) in values {
        let c = found
            .get(name)
            .unwrap_or_else(|| panic!("{name} not found"));
        assert_eq!(c.issuer, Issuer::Openai, "{name}: {}", c.exposure_reason);
        assert_eq!(
            c.fingerprint.as_deref(),
            Some(fingerprint(FP_KEY, value).as_str()),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_are_read_twenty_at_a_time_and_a_denied_secret_fails_alone() {
    let moto = Moto::start();
    let mut values = seed(&moto, 250).await;
    let proxy = FaultProxy::start(&moto.endpoint);
    // One secret the role may not read, inside whatever batch holds it.
    proxy.add(Rule::operation(
        "BatchGetSecretValue",
        When::Always,
        Fault::DenySecretInBatch("prod/ai/s-0007".into()),
    ));
    let aws = via(&proxy).await;
    let found = inventory(&aws, &proxy).await;

    let denied = found
        .get("prod/ai/s-0007")
        .expect("the denied secret is still listed");
    assert!(
        denied.exposure_reason.contains("could not be read")
            && denied.exposure_reason.contains("AccessDeniedException")
            && denied.fingerprint.is_none(),
        "{}",
        denied.exposure_reason
    );
    values.remove("prod/ai/s-0007");
    assert_read(&found, &values);
    assert_eq!(found.len(), 250);

    assert_eq!(proxy.requests_for("ListSecrets").len(), 3, "100 a page");
    // 100 + 100 + 50 secrets: 5 + 5 + 3 calls of at most 20.
    assert_eq!(
        proxy.requests_for("BatchGetSecretValue").len(),
        13,
        "{}",
        proxy.describe()
    );
    assert!(
        proxy.requests_for("GetSecretValue").is_empty(),
        "a denial in Errors is that secret's answer; it needs no call of its own:\n{}",
        proxy.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_deleted_between_listing_and_reading_is_gone_not_an_error() {
    let moto = Moto::start();
    let mut values = seed(&moto, 30).await;
    let proxy = FaultProxy::start(&moto.endpoint);
    // Every batch call waits before it is forwarded; the test deletes meanwhile.
    proxy.add(Rule::operation(
        "BatchGetSecretValue",
        When::Always,
        Fault::DelayThenForward(Duration::from_millis(700)),
    ));
    let aws = via(&proxy).await;
    let deleter = async {
        let client = moto.sm_client(REGION).await;
        for _ in 0..500 {
            if !proxy.requests_for("BatchGetSecretValue").is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!proxy.requests_for("BatchGetSecretValue").is_empty());
        client
            .delete_secret()
            .secret_id("prod/ai/s-0003")
            .force_delete_without_recovery(true)
            .send()
            .await
            .unwrap();
    };
    let (found, ()) = tokio::join!(inventory(&aws, &proxy), deleter);
    assert!(
        !found.contains_key("prod/ai/s-0003"),
        "a secret deleted since it was listed is not listed"
    );
    values.remove("prod/ai/s-0003");
    assert_read(&found, &values);
    assert_eq!(found.len(), 29);
    assert_eq!(proxy.requests_for("BatchGetSecretValue").len(), 2);
    assert!(
        proxy.requests_for("GetSecretValue").is_empty(),
        "ResourceNotFoundException in Errors needs no call of its own:\n{}",
        proxy.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_batches_back_off_and_every_value_is_still_read() {
    let moto = Moto::start();
    let values = seed(&moto, 120).await;
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.add(Rule::operation(
        "BatchGetSecretValue",
        When::FirstN(4),
        Fault::Throttle,
    ));
    let aws = via(&proxy).await;
    let found = inventory(&aws, &proxy).await;
    assert_read(&found, &values);
    assert_eq!(found.len(), 120);

    let calls = proxy.requests_for("BatchGetSecretValue");
    let throttled: Vec<_> = calls.iter().filter(|c| c.fault.is_some()).collect();
    assert_eq!(throttled.len(), 4, "{}", proxy.describe());
    // Six batches, each read once it passes; the four throttled ones sent again.
    assert_eq!(calls.len(), 6 + 4, "{}", proxy.describe());
    // Backed off: nothing is sent again sooner than 50 ms after the first throttling.
    let first_throttle = throttled[0].at;
    let resent = calls
        .iter()
        .filter(|c| c.fault.is_none() && c.seq > throttled[3].seq)
        .map(|c| c.at)
        .min()
        .expect("batches sent again after the throttling");
    assert!(
        resent >= first_throttle + Duration::from_millis(50),
        "{}",
        proxy.describe()
    );
    assert!(proxy.requests_for("GetSecretValue").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_batch_reads_reads_one_secret_at_a_time() {
    let moto = Moto::start();
    let values = seed(&moto, 45).await;
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.add(Rule::operation(
        "BatchGetSecretValue",
        When::Always,
        Fault::AccessDenied,
    ));
    let aws = via(&proxy).await;
    let found = inventory(&aws, &proxy).await;
    assert_read(&found, &values);
    assert_eq!(found.len(), 45);
    let batches = proxy.requests_for("BatchGetSecretValue").len();
    assert!(
        (1..=3).contains(&batches),
        "once refused, batches are not tried again ({batches} tried)"
    );
    assert_eq!(proxy.requests_for("GetSecretValue").len(), 45);
}
