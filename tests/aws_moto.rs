//! The AWS providers against a real `moto_server` (one per test): the Secrets Manager
//! inventory over two regions, staged rotations, a rotation resumed after a crash, IAM keys
//! end to end, and the caller identity.
//!
//! Moto gaps handled here (never in product code):
//! - after AWSCURRENT moves with UpdateSecretVersionStage, GetSecretValue without an explicit
//!   VersionStage still returns the old value: checks always ask for `AWSCURRENT`;
//! - STS GetCallerIdentity answers for any signature and inactive IAM keys still work, so
//!   "alive" is all a verify against moto can show (the refusal path is tested with
//!   wiremock in `src/providers/aws/iam.rs`);
//! - moto stamps whole seconds, so the exposure test waits for a second boundary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/moto.rs"]
mod moto;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use aws_sdk_iam::types::StatusType;
use breachbook::incident::model::fingerprint;
use breachbook::incident::model::{Credential, Location, LocationKind};
use breachbook::incident::ports::{Inventory, KeyIssuer, Liveness, ProviderError, SecretStore};
use breachbook::providers::aws::iam::{IamInventory, IamIssuer};
use breachbook::providers::aws::secrets::{SecretsManagerInventory, SecretsManagerStore};
use breachbook::runbook::schema::{ExposureWindow, IamScope, Scope, SecretsManagerScope};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use futures::stream::{self, StreamExt};
use moto::Moto;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const FP_KEY: &[u8] = b"incident-fingerprint-key-for-tests";

/// The Secrets Manager scope of the shipped AI-provider runbook (regions us-east-1 and
/// eu-west-1, prefixes prod/ai/ and legacy/, OPENAI/ANTHROPIC/GEMINI fields, fingerprints).
fn shipped_sm_scope() -> SecretsManagerScope {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("runbooks/ai-provider-keys-vendor-breach.yaml");
    let (runbook, _) = breachbook::runbook::load::load_file(&path).expect("shipped runbook");
    runbook
        .scope
        .secrets_manager
        .expect("the shipped runbook lists Secrets Manager")
}

async fn create_secret(client: &aws_sdk_secretsmanager::Client, name: &str, value: &str) {
    client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap_or_else(|e| panic!("seeding {name}: {e:?}"));
}

/// Seeds `secrets` (region, name, value) with 24 requests in flight.
async fn seed(moto: &Moto, secrets: &[(String, String, String)]) {
    let clients: BTreeMap<String, aws_sdk_secretsmanager::Client> = {
        let mut m = BTreeMap::new();
        for (r, _, _) in secrets {
            if !m.contains_key(r) {
                m.insert(r.clone(), moto.sm_client(r).await);
            }
        }
        m
    };
    stream::iter(secrets)
        .for_each_concurrent(24, |(r, n, v)| {
            let c = &clients[r];
            async move { create_secret(c, n, v).await }
        })
        .await;
}

fn fake_key(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:06}-FAKEFAKEFAKE{:04}", i % 9973)
}

fn sm_location(name: &str, field: Option<&str>, region: &str) -> Location {
    Location {
        kind: LocationKind::SecretsManager,
        name: name.to_string(),
        field: field.map(str::to_string),
        region: Some(region.to_string()),
        account: None,
        changed: None,
    }
}

/// The AWSCURRENT value, asked for explicitly (see the moto gap above).
async fn current_value(client: &aws_sdk_secretsmanager::Client, name: &str) -> String {
    client
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

async fn stages(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
) -> BTreeMap<String, Vec<String>> {
    let d = client
        .describe_secret()
        .secret_id(name)
        .send()
        .await
        .unwrap();
    d.version_ids_to_stages()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            v.sort();
            (k.clone(), v)
        })
        .collect()
}

fn token(i: usize) -> String {
    format!("breachbook-test-token-{i:020}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_of_a_thousand_secrets_over_two_regions_streams_pages() {
    let moto = Moto::start();
    let t0 = Instant::now();
    let sm = shipped_sm_scope();
    assert_eq!(sm.regions, ["us-east-1", "eu-west-1"]);

    // 1,000 secrets in scope: JSON secrets under prod/ai/ (OpenAI + Anthropic keys and a
    // setting), JSON under legacy/ (a Gemini key), plain-text legacy keys, and one IAM key
    // pair that the IAM scope owns. Plus 30 out-of-scope secrets per region.
    let mut early = Vec::new();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..990usize {
        let region = if i.is_multiple_of(2) {
            "us-east-1"
        } else {
            "eu-west-1"
        };
        let (name, value) = match i % 10 {
            0..=6 => {
                let name = format!("prod/ai/app-{i:04}");
                let openai = fake_key("sk-test-", i);
                let anthropic = fake_key("sk-ant-test-", i);
                values.insert(format!("{name}#OPENAI_API_KEY"), openai.clone());
                values.insert(format!("{name}#ANTHROPIC_API_KEY"), anthropic.clone());
                let v = json!({"OPENAI_API_KEY": openai, "ANTHROPIC_API_KEY": anthropic, "LOG_LEVEL": "info"});
                (name, v.to_string())
            }
            7 | 8 => {
                let name = format!("legacy/app-{i:04}");
                let gemini = fake_key("AIza-test-", i);
                values.insert(format!("{name}#GEMINI_API_KEY"), gemini.clone());
                (name, json!({"GEMINI_API_KEY": gemini}).to_string())
            }
            _ => {
                let name = format!("legacy/plain-{i:04}");
                let key = fake_key("sk-test-plain-", i);
                values.insert(name.clone(), key.clone());
                (name, key)
            }
        };
        early.push((region.to_string(), name, value));
    }
    early.push((
        "us-east-1".into(),
        "prod/ai/iam-deployer".into(),
        json!({"AccessKeyId": "AKIAEXAMPLEDEPLOYER1", "SecretAccessKey": "fake-deployer-secret"})
            .to_string(),
    ));
    for r in ["us-east-1", "eu-west-1"] {
        for i in 0..30 {
            early.push((
                r.to_string(),
                format!("other/svc-{i:02}"),
                json!({"OPENAI_API_KEY": fake_key("sk-test-other-", i)}).to_string(),
            ));
        }
    }
    seed(&moto, &early).await;

    // Nine more after the exposure window began: moto stamps whole seconds, so wait for the
    // next second boundary.
    let start_secs = Utc::now().timestamp() + 1;
    let start = DateTime::<Utc>::from_timestamp(start_secs, 0).unwrap();
    while Utc::now() < start {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut late = Vec::new();
    for i in 990..999 {
        let name = format!("prod/ai/new-{i:04}");
        let openai = fake_key("sk-test-", i);
        values.insert(format!("{name}#OPENAI_API_KEY"), openai.clone());
        late.push((
            "eu-west-1".to_string(),
            name,
            json!({"OPENAI_API_KEY": openai}).to_string(),
        ));
    }
    seed(&moto, &late).await;
    let seeded_in = t0.elapsed();

    let aws = moto.aws(&["us-east-1", "eu-west-1"]).await;
    let inventory = Arc::new(SecretsManagerInventory::new(&aws, FP_KEY));
    let mut iam_scope = IamScope::default();
    iam_scope
        .stored_in
        .insert("deployer".into(), "prod/ai/iam-deployer".into());
    let scope = Scope {
        secrets_manager: Some(sm),
        iam: Some(iam_scope),
        ..Default::default()
    };
    let exposure = ExposureWindow { start, end: None };

    let (tx, mut rx) = mpsc::unbounded_channel();
    let done = Arc::new(AtomicBool::new(false));
    let t1 = Instant::now();
    let task = {
        let (inventory, scope, exposure, done) = (
            inventory.clone(),
            scope.clone(),
            exposure.clone(),
            done.clone(),
        );
        tokio::spawn(async move {
            let r = inventory.discover(&scope, &exposure, tx).await;
            done.store(true, Ordering::SeqCst);
            r
        })
    };
    let mut pages: Vec<Vec<Credential>> = Vec::new();
    let mut first_page_while_listing = None;
    while let Some(page) = rx.recv().await {
        if first_page_while_listing.is_none() {
            first_page_while_listing = Some(!done.load(Ordering::SeqCst));
        }
        pages.push(page);
    }
    task.await.unwrap().expect("discover");
    let listed_in = t1.elapsed();

    assert!(pages.len() > 2, "pages: {}", pages.len());
    assert_eq!(
        first_page_while_listing,
        Some(true),
        "the first page must arrive while the listing is still running"
    );
    let creds: Vec<Credential> = pages.into_iter().flatten().collect();
    // Every key found once: 693 × 2 + 198 + 99 + 9 = 1,692.
    assert_eq!(creds.len(), values.len());
    assert_eq!(creds.len(), 1692);
    let ids: BTreeSet<&str> = creds.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), creds.len(), "ids are unique");
    let secrets: BTreeSet<&str> = creds.iter().map(|c| c.locations[0].name.as_str()).collect();
    assert_eq!(secrets.len(), 999, "every in-scope secret but the IAM pair");
    assert!(
        !secrets.contains("prod/ai/iam-deployer"),
        "the IAM inventory owns it"
    );
    assert!(secrets.iter().all(|s| !s.starts_with("other/")));

    for c in &creds {
        let loc = &c.locations[0];
        let key = match &loc.field {
            Some(f) => format!("{}#{f}", loc.name),
            None => loc.name.clone(),
        };
        let value = &values[&key];
        assert_eq!(
            c.fingerprint.as_deref(),
            Some(fingerprint(FP_KEY, value).as_str())
        );
        assert!(!c.hint.contains(value.as_str()) && c.hint.contains('…'));
        assert!(c.key_id.is_empty());
        let region_ok = loc.region.as_deref()
            == Some(if loc.name.starts_with("prod/ai/new-") {
                "eu-west-1"
            } else {
                let i: usize = loc.name[loc.name.len() - 4..].parse().unwrap();
                if i.is_multiple_of(2) {
                    "us-east-1"
                } else {
                    "eu-west-1"
                }
            });
        assert!(region_ok, "{} in {:?}", loc.name, loc.region);
        let late = loc.name.starts_with("prod/ai/new-");
        assert_eq!(c.exposed, !late, "{}: {}", c.id, c.exposure_reason);
        if late {
            assert!(c.exposure_reason.contains("after the exposure began"));
        } else {
            assert!(c.exposure_reason.contains("before the exposure began"));
        }
        assert!(loc.changed.is_some());
    }
    let by_issuer = |slug: &str| creds.iter().filter(|c| c.id.starts_with(slug)).count();
    assert_eq!(by_issuer("openai/"), 693 + 9);
    assert_eq!(by_issuer("anthropic/"), 693);
    assert_eq!(by_issuer("gemini/"), 198);
    assert_eq!(
        creds
            .iter()
            .filter(|c| c.id.starts_with("generic/") && c.id.contains("/legacy/plain-"))
            .count(),
        99
    );
    // Ids carry the region: a secret of the same name in the other region is another key.
    assert!(ids.contains("openai/us-east-1/prod/ai/app-0000#OPENAI_API_KEY"));
    assert!(ids.contains("openai/eu-west-1/prod/ai/app-0001#OPENAI_API_KEY"));
    eprintln!(
        "seeded 1,059 secrets in {seeded_in:?}; listed {} credentials in {listed_in:?}",
        creds.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_narrow_the_inventory() {
    let moto = Moto::start();
    let client = moto.sm_client("us-east-1").await;
    for (name, team) in [
        ("prod/ai/a", "ai"),
        ("prod/ai/b", "data"),
        ("prod/ai/c", "ai"),
    ] {
        client
            .create_secret()
            .name(name)
            .secret_string(json!({"OPENAI_API_KEY": fake_key("sk-test-", 1)}).to_string())
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("team")
                    .value(team)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    // A tag value that only starts like the wanted one.
    client
        .create_secret()
        .name("prod/ai/d")
        .secret_string("sk-test-plain-0000000000000")
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("team")
                .value("ai-platform")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let aws = moto.aws(&["us-east-1"]).await;
    let mut sm = shipped_sm_scope();
    sm.regions = vec!["us-east-1".into()];
    sm.tags.insert("team".into(), "ai".into());
    let scope = Scope {
        secrets_manager: Some(sm),
        ..Default::default()
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let exposure = ExposureWindow {
        start: Utc::now() + ChronoDuration::hours(1),
        end: None,
    };
    SecretsManagerInventory::new(&aws, FP_KEY)
        .discover(&scope, &exposure, tx)
        .await
        .unwrap();
    let mut names = BTreeSet::new();
    while let Some(page) = rx.recv().await {
        names.extend(page.into_iter().map(|c| c.locations[0].name.clone()));
    }
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["prod/ai/a", "prod/ai/c"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_staged_rotations_promote_one_field_each() {
    let moto = Moto::start();
    let client = moto.sm_client("eu-west-1").await;
    let secrets: Vec<(String, String, String)> = (0..50)
        .map(|i| {
            (
                "eu-west-1".to_string(),
                format!("prod/ai/rot-{i:02}"),
                json!({"OPENAI_API_KEY": fake_key("sk-test-old-", i), "OTHER": format!("keep-{i}")})
                    .to_string(),
            )
        })
        .collect();
    seed(&moto, &secrets).await;
    let aws = moto.aws(&["eu-west-1"]).await;
    let store = SecretsManagerStore::new(&aws);
    let t0 = Instant::now();
    stream::iter(0..50usize)
        .for_each_concurrent(10, |i| {
            let (store, client) = (&store, &client);
            async move {
                let name = format!("prod/ai/rot-{i:02}");
                let loc = sm_location(&name, Some("OPENAI_API_KEY"), "eu-west-1");
                let before = stages(client, &name).await;
                let old_version = before.keys().next().unwrap().clone();
                let new = SecretString::from(fake_key("sk-test-new-", i));

                let version = store.stage(&loc, &new, &token(i)).await.unwrap();
                let staged = stages(client, &name).await;
                assert_eq!(staged[&version], ["AWSPENDING"]);
                assert_eq!(staged[&old_version], ["AWSCURRENT"]);

                let back = store.read_version(&loc, &version).await.unwrap();
                assert_eq!(back.expose_secret(), new.expose_secret());

                let changed = store.promote(&loc, &version).await.unwrap();
                assert!(changed <= Utc::now() + ChronoDuration::seconds(1));
                let after = stages(client, &name).await;
                assert_eq!(after[&version], ["AWSCURRENT"], "{name}: {after:?}");
                assert_eq!(after[&old_version], ["AWSPREVIOUS"], "{name}: {after:?}");
                assert_eq!(after.len(), 2);

                let current: Value =
                    serde_json::from_str(&current_value(client, &name).await).unwrap();
                assert_eq!(current["OPENAI_API_KEY"], new.expose_secret());
                assert_eq!(current["OTHER"], format!("keep-{i}"));

                // Promoting again (a retry) changes nothing.
                store.promote(&loc, &version).await.unwrap();
                assert_eq!(stages(client, &name).await, after);
            }
        })
        .await;
    eprintln!("50 staged rotations in {:?}", t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_keys_of_one_secret_rotated_together_keep_both_new_values() {
    let moto = Moto::start();
    let client = moto.sm_client("us-east-1").await;
    let name = "prod/ai/shared";
    create_secret(
        &client,
        name,
        &json!({"OPENAI_API_KEY": fake_key("sk-test-old-", 1), "ANTHROPIC_API_KEY": fake_key("sk-ant-test-old-", 2)}).to_string(),
    )
    .await;
    let aws = moto.aws(&["us-east-1"]).await;
    let store = SecretsManagerStore::new(&aws);
    let openai = sm_location(name, Some("OPENAI_API_KEY"), "us-east-1");
    let anthropic = sm_location(name, Some("ANTHROPIC_API_KEY"), "us-east-1");
    let new_openai = SecretString::from(fake_key("sk-test-new-", 1));
    let new_anthropic = SecretString::from(fake_key("sk-ant-test-new-", 2));

    // Both staged from the same current document, then promoted one after the other: the
    // second promotion must not bring the first field back to its old value.
    let v1 = store.stage(&openai, &new_openai, &token(1)).await.unwrap();
    let v2 = store
        .stage(&anthropic, &new_anthropic, &token(2))
        .await
        .unwrap();
    store.promote(&openai, &v1).await.unwrap();
    store.promote(&anthropic, &v2).await.unwrap();
    let current: Value = serde_json::from_str(&current_value(&client, name).await).unwrap();
    assert_eq!(current["OPENAI_API_KEY"], new_openai.expose_secret());
    assert_eq!(current["ANTHROPIC_API_KEY"], new_anthropic.expose_secret());
    let after = stages(&client, name).await;
    assert!(
        after.values().all(|s| !s.iter().any(|x| x == "AWSPENDING")),
        "{after:?}"
    );
    assert_eq!(
        after
            .values()
            .filter(|s| s.iter().any(|x| x == "AWSCURRENT"))
            .count(),
        1
    );
    // A retry of the second promotion writes nothing more.
    store.promote(&anthropic, &v2).await.unwrap();
    assert_eq!(stages(&client, name).await, after);

    // The value before the rotation, for testing an old key by value: the field promoted
    // last still has it under AWSPREVIOUS; the one promoted first no longer has it under
    // either label, and says so rather than answering with a new value.
    let old = store.read_old(&anthropic, &v2).await.unwrap();
    assert_eq!(old.expose_secret(), fake_key("sk-ant-test-old-", 2));
    let gone = store.read_old(&openai, &v1).await.unwrap_err();
    assert!(matches!(gone, ProviderError::NotFound { .. }), "{gone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_done_rotation_resumes_without_a_duplicate_version() {
    let moto = Moto::start();
    let client = moto.sm_client("us-east-1").await;
    let name = "legacy/billing";
    create_secret(
        &client,
        name,
        &json!({"OPENAI_API_KEY": fake_key("sk-test-old-", 7), "TIMEOUT": 30}).to_string(),
    )
    .await;
    let aws = moto.aws(&["us-east-1"]).await;
    let loc = sm_location(name, Some("OPENAI_API_KEY"), "us-east-1");
    let new = SecretString::from(fake_key("sk-test-new-", 7));

    let first = SecretsManagerStore::new(&aws)
        .stage(&loc, &new, &token(7))
        .await
        .unwrap();
    // "Crash": a fresh store (a fresh process) stages again with the same token.
    let store = SecretsManagerStore::new(&aws);
    let again = store.stage(&loc, &new, &token(7)).await.unwrap();
    assert_eq!(first, again);
    let versions = client
        .list_secret_version_ids()
        .secret_id(name)
        .include_deprecated(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        versions.versions().len(),
        2,
        "the original and one new version"
    );

    // The same token for another value is refused, not silently overwritten.
    let other = SecretString::from(fake_key("sk-test-other-", 8));
    let refused = store.stage(&loc, &other, &token(7)).await;
    assert!(
        matches!(refused, Err(ProviderError::Validation { .. })),
        "{refused:?}"
    );

    assert_eq!(
        store
            .read_version(&loc, &again)
            .await
            .unwrap()
            .expose_secret(),
        new.expose_secret()
    );
    store.promote(&loc, &again).await.unwrap();
    store.promote(&loc, &again).await.unwrap();
    let after = stages(&client, name).await;
    assert_eq!(after.len(), 2);
    assert_eq!(after[&again], ["AWSCURRENT"]);
    let current: Value = serde_json::from_str(&current_value(&client, name).await).unwrap();
    assert_eq!(current["OPENAI_API_KEY"], new.expose_secret());
    assert_eq!(current["TIMEOUT"], 30);

    // replace() with the value it already holds writes nothing.
    store.replace(&loc, &new).await.unwrap();
    assert_eq!(stages(&client, name).await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iam_keys_end_to_end() {
    let moto = Moto::start();
    let iam = moto.iam_client().await;
    let sm = moto.sm_client("us-east-1").await;
    let user = "svc-deployer";
    let secret = "prod/ai/iam-deployer";
    iam.create_user().user_name(user).send().await.unwrap();
    let k1 = iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    create_secret(
        &sm,
        secret,
        &json!({"AccessKeyId": k1.access_key_id, "SecretAccessKey": k1.secret_access_key, "Region": "us-east-1"}).to_string(),
    )
    .await;

    let aws = moto.aws(&["us-east-1"]).await;
    let mut iam_scope = IamScope {
        users: vec![user.into()],
        ..Default::default()
    };
    iam_scope.stored_in.insert(user.into(), secret.into());
    let scope = Scope {
        iam: Some(iam_scope),
        secrets_manager: Some(SecretsManagerScope {
            regions: vec!["us-east-1".into()],
            ..Default::default()
        }),
        ..Default::default()
    };
    let exposure = ExposureWindow {
        start: Utc::now() + ChronoDuration::hours(1),
        end: None,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    IamInventory::new(&aws)
        .discover(&scope, &exposure, tx)
        .await
        .unwrap();
    let mut creds = Vec::new();
    while let Some(p) = rx.recv().await {
        creds.extend(p);
    }
    assert_eq!(creds.len(), 1);
    let old = creds.remove(0);
    assert_eq!(old.id, format!("aws-iam/{user}/{}", k1.access_key_id));
    assert_eq!(old.key_id, k1.access_key_id);
    assert_eq!(old.meta["user"], user);
    assert_eq!(old.meta["status"], "Active");
    assert!(old.exposed, "{}", old.exposure_reason);
    assert!(old.hint.starts_with("AKI") && old.hint.contains('…'));
    assert_eq!(old.locations.len(), 2);
    assert_eq!(old.locations[0].kind, LocationKind::IamUser);
    let stored = old.primary_store().unwrap().clone();
    assert_eq!(stored.name, secret);
    assert_eq!(stored.region.as_deref(), Some("us-east-1"));
    assert!(stored.changed.is_some());

    // A named user that does not exist is reported after the others are listed.
    let mut missing = scope.clone();
    missing.iam.as_mut().unwrap().users.push("nobody".into());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let r = IamInventory::new(&aws)
        .discover(&missing, &exposure, tx)
        .await;
    assert!(matches!(r, Err(ProviderError::NotFound { ref what, .. }) if what.contains("nobody")));
    assert_eq!(rx.recv().await.unwrap().len(), 1);

    let issuer =
        IamIssuer::new(&aws).with_propagation_wait(2, std::time::Duration::from_millis(50));

    // Two keys already: a plan, no third key.
    let k2 = iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap()
        .access_key_id;
    let plan = issuer.issue(&old, "tok").await.unwrap_err();
    let ProviderError::LimitExceeded { message, .. } = &plan else {
        panic!("{plan:?}")
    };
    assert!(
        message.contains("2 active access keys") && message.contains(&k2),
        "{message}"
    );
    let refused = issuer.delete_inactive_for_room(&old, &k2).await;
    assert!(
        matches!(refused, Err(ProviderError::Validation { .. })),
        "{refused:?}"
    );
    iam.update_access_key()
        .user_name(user)
        .access_key_id(&k2)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    // An inactive second key: breachbook names it and may delete it once asked.
    let plan = issuer.issue(&old, "tok").await.unwrap_err();
    let ProviderError::NeedsRoom { key_id, plan, .. } = &plan else {
        panic!("{plan:?}")
    };
    assert_eq!(key_id, &k2);
    assert!(
        plan.contains(&format!("Delete the inactive key {k2}")),
        "{plan}"
    );
    let refused = issuer.make_room(&old, &old.key_id).await;
    assert!(
        matches!(refused, Err(ProviderError::Validation { .. })),
        "{refused:?}"
    );
    issuer.make_room(&old, &k2).await.unwrap();

    // Mint, stage in the user's secret, read back, verify, promote.
    let new = issuer.issue(&old, "tok").await.unwrap();
    assert!(new.key_id.starts_with("AKIA") && new.key_id != old.key_id);
    assert_eq!(new.hint, breachbook::incident::model::mask(&new.key_id));
    let doc: Value = serde_json::from_str(new.secret.expose_secret()).unwrap();
    assert_eq!(doc["AccessKeyId"], new.key_id.as_str());
    assert!(
        doc["SecretAccessKey"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    let store = SecretsManagerStore::new(&aws);
    let version = store.stage(&stored, &new.secret, &token(42)).await.unwrap();
    let back = store.read_version(&stored, &version).await.unwrap();
    assert_eq!(issuer.verify(&old, &back).await.unwrap(), Liveness::Alive);
    store.promote(&stored, &version).await.unwrap();
    let current: Value = serde_json::from_str(&current_value(&sm, secret).await).unwrap();
    assert_eq!(current["AccessKeyId"], new.key_id.as_str());
    assert_eq!(
        current["Region"], "us-east-1",
        "other keys of the document are kept"
    );
    let not_a_pair = SecretString::from("sk-test-not-an-iam-pair".to_string());
    assert!(matches!(
        issuer.verify(&old, &not_a_pair).await,
        Err(ProviderError::Validation { .. })
    ));

    // Revoke, check, delete (twice: the second is a no-op).
    assert_eq!(
        issuer.old_key_liveness(&old).await.unwrap(),
        Liveness::Alive
    );
    issuer.revoke(&old).await.unwrap();
    let keys = iam.list_access_keys().user_name(user).send().await.unwrap();
    let k1_now = keys
        .access_key_metadata()
        .iter()
        .find(|k| k.access_key_id() == Some(old.key_id.as_str()))
        .unwrap();
    assert_eq!(k1_now.status(), Some(&StatusType::Inactive));
    assert_eq!(issuer.old_key_liveness(&old).await.unwrap(), Liveness::Dead);
    issuer.delete(&old).await.unwrap();
    issuer.delete(&old).await.unwrap();
    let keys = iam.list_access_keys().user_name(user).send().await.unwrap();
    assert_eq!(keys.access_key_metadata().len(), 1);
    assert_eq!(issuer.old_key_liveness(&old).await.unwrap(), Liveness::Dead);
    let samples = issuer
        .usage(
            &old,
            breachbook::incident::model::KeyGeneration::New,
            Some(&new.key_id),
            Utc::now() - ChronoDuration::hours(1),
        )
        .await
        .unwrap();
    assert!(samples.iter().all(|s| s.credential == old.id));
}

#[tokio::test]
async fn identity_is_the_caller_arn() {
    let moto = Moto::start();
    let aws = moto.aws(&["us-east-1"]).await;
    let arn = aws.identity().await.unwrap();
    assert!(
        arn.starts_with("arn:aws:sts::") && arn.ends_with(":user/moto"),
        "{arn}"
    );
}
