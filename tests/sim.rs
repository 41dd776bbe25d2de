//! The drill world on its own: inventory and exposure, the issuers and stores, the actors,
//! the score, persistence and resume. Everything runs on tokio's paused clock, so drill
//! minutes pass instantly and every run is the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use breachbook::incident::event::{Event, Mode, Via};
use breachbook::incident::model::{Credential, KeyGeneration, Location, LocationKind, UsageSample};
use breachbook::incident::ports::{Liveness, NewKey, ProviderError, ProviderSet, WorldFeed};
use breachbook::incident::state::IncidentState;
use breachbook::providers::sim::{SimError, SimWorld};
use breachbook::runbook::schema::{Fault, FaultTarget, Issuer, Runbook};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use tokio::sync::mpsc;

/// A small drill: two exposed AI keys sharing one JSON secret (one also at Braintrust), an
/// IAM key, a key outside the scope's regions, a key minted after the exposure began; two
/// consumers (one never reloads by itself) and an attacker.
const RUNBOOK: &str = r#"
version: 1
name: sim-test
title: Drill world test
exposure_window:
  start: 2026-05-12T00:00:00Z
scope:
  secrets_manager:
    regions: [us-east-1]
    name_prefixes: [prod/]
  iam:
    users: [deployer]
  braintrust:
    organization: example
steps:
  - id: declare
    title: Declare the incident
    instructions: Open the incident channel.
    action: manual
drill:
  seed: 1
  speed: 60
  duration: 2h
  starts_after_exposure: 2d
  credentials:
    - name: openai-prod
      issuer: openai
      age: 200d
      locations:
        - secrets_manager:
            secret: prod/ai/providers
            field: OPENAI_API_KEY
        - braintrust:
            secret: OPENAI_API_KEY
    - name: anthropic-prod
      issuer: anthropic
      age: 100d
      locations:
        - secrets_manager:
            secret: prod/ai/providers
            field: ANTHROPIC_API_KEY
    - name: gemini-eu
      issuer: gemini
      locations:
        - secrets_manager:
            secret: prod/ai/gemini
            region: eu-west-1
    - name: openai-new
      issuer: openai
      age: 1d
      locations:
        - secrets_manager:
            secret: prod/ai/new
    - name: deployer
      issuer: aws_iam
      age: 400d
      locations:
        - iam_user:
            user: deployer
        - secrets_manager:
            secret: prod/ci/deployer
  actors:
    - name: chat-api
      kind: consumer
      uses: [openai-prod]
      rate: 30
      source: chat-api (10.0.1.0/24)
    - name: billing
      kind: consumer
      uses: [anthropic-prod]
      rate: 10
      source: billing (10.0.9.14)
    - name: attacker
      kind: attacker
      uses: [openai-prod, anthropic-prod]
      rate: 100
      every: 2m
      source: 203.0.113.45 (unknown ASN)
  injects:
    - at: 3m
      message: "Support: a customer reports a usage spike."
  faults:
    - stale_consumer:
        consumer: billing
"#;

const SPEED: f64 = 60.0;
const ATTACKER: &str = "203.0.113.45 (unknown ASN)";

fn runbook() -> Runbook {
    serde_saphyr::from_str::<Runbook>(RUNBOOK).unwrap()
}

/// Lets `n` drill minutes pass (tokio time is paused, so this is instant).
async fn minutes(n: u64) {
    tokio::time::sleep(Duration::from_secs_f64(n as f64 * 60.0 / SPEED)).await;
}

fn drain(feed: &mut WorldFeed) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = feed.try_recv() {
        out.push(e);
    }
    out
}

fn samples<'a>(events: &'a [Event], cred: &str, generation: KeyGeneration) -> Vec<&'a UsageSample> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::UsageObserved { sample }
                if sample.credential == cred && sample.generation == generation =>
            {
                Some(sample)
            }
            _ => None,
        })
        .collect()
}

fn consumer_failures(events: &[Event], consumer: &str) -> u32 {
    events
        .iter()
        .map(|e| match e {
            Event::ConsumerFailed {
                consumer: c,
                errors,
                ..
            } if c == consumer => *errors,
            _ => 0,
        })
        .sum()
}

/// Runs the inventory and returns its pages.
async fn discover_pages(rb: &Runbook, ps: &ProviderSet) -> Vec<Vec<Credential>> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    ps.inventory
        .discover(&rb.scope, &rb.exposure_window, tx)
        .await
        .unwrap();
    let mut pages = Vec::new();
    while let Some(p) = rx.recv().await {
        pages.push(p);
    }
    pages
}

async fn discover(rb: &Runbook, ps: &ProviderSet) -> Vec<Credential> {
    discover_pages(rb, ps).await.into_iter().flatten().collect()
}

fn find<'a>(creds: &'a [Credential], name: &str) -> &'a Credential {
    creds.iter().find(|c| c.name == name).unwrap()
}

fn loc(cred: &Credential, kind: LocationKind) -> Location {
    cred.locations
        .iter()
        .find(|l| l.kind == kind)
        .unwrap()
        .clone()
}

/// Awaits a provider call, retrying retryable failures (the fault-injected runbooks throttle).
macro_rules! retrying {
    ($call:expr) => {
        loop {
            match $call.await {
                Ok(v) => break v,
                Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => panic!("{e}"),
            }
        }
    };
}

/// A world with its providers, its feed, a running ticker and the discovered credentials.
struct Drill {
    rb: Runbook,
    world: Arc<SimWorld>,
    ps: ProviderSet,
    feed: WorldFeed,
    creds: Vec<Credential>,
}

async fn drill_with(rb: Runbook, seed: u64, dir: Option<&std::path::Path>) -> Drill {
    let (world, feed) = SimWorld::create(&rb, seed, SPEED, dir).unwrap();
    let ps = world.provider_set();
    world.spawn_ticker();
    let creds = discover(&rb, &ps).await;
    Drill {
        rb,
        world,
        ps,
        feed,
        creds,
    }
}

async fn drill() -> Drill {
    drill_with(runbook(), 1, None).await
}

impl Drill {
    fn cred(&self, name: &str) -> Credential {
        find(&self.creds, name).clone()
    }

    async fn issue(&self, name: &str, token: &str) -> NewKey {
        let c = self.cred(name);
        retrying!(self.ps.issuer(c.issuer).unwrap().issue(&c, token))
    }

    /// Stages and promotes `key` in every Secrets Manager copy of `name`, writes it to every
    /// Braintrust copy: the new key is everywhere.
    async fn propagate(&self, name: &str, key: &NewKey) {
        let c = self.cred(name);
        let sm = self.ps.store(LocationKind::SecretsManager).unwrap();
        for l in &c.locations {
            match l.kind {
                LocationKind::SecretsManager => {
                    let token = format!("stage-{}-{}", c.id, l.label());
                    let v = retrying!(sm.stage(l, &key.secret, &token));
                    retrying!(sm.promote(l, &v));
                }
                LocationKind::Braintrust => {
                    let bt = self.ps.store(LocationKind::Braintrust).unwrap();
                    retrying!(bt.replace(l, &key.secret));
                }
                _ => {}
            }
        }
    }

    async fn revoke(&self, name: &str) {
        let c = self.cred(name);
        retrying!(self.ps.issuer(c.issuer).unwrap().revoke(&c));
    }

    /// An incident state that has discovered this world's credentials.
    fn state(&self) -> IncidentState {
        let at = self.world.drill_start();
        let opened = Event::IncidentOpened {
            id: "sim-test".into(),
            mode: Mode::Drill,
            runbook: Box::new(self.rb.clone()),
            runbook_digest: String::new(),
            seed: Some(1),
            speed: Some(SPEED),
            at,
            read_only: false,
        };
        let mut st = IncidentState::open(&opened, at, "tester").unwrap();
        for c in &self.creds {
            st.apply(
                &Event::CredentialDiscovered {
                    credential: c.clone(),
                },
                at,
                "tester",
            );
        }
        st
    }
}

fn apply(st: &mut IncidentState, e: Event, at: DateTime<Utc>) {
    st.apply(&e, at, "tester");
}

#[tokio::test(start_paused = true)]
async fn the_clock_starts_after_the_exposure_and_runs_at_drill_speed() {
    let rb = runbook();
    let (world, _feed) = SimWorld::create(&rb, 1, SPEED, None).unwrap();
    let start: DateTime<Utc> = "2026-05-14T00:00:00Z".parse().unwrap();
    assert_eq!(world.drill_start(), start);
    assert_eq!(world.now(), start);
    let ps = world.provider_set();
    assert_eq!(
        ps.clock.real(Duration::from_secs(60)),
        Duration::from_secs(1)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(world.now(), start + chrono::Duration::minutes(2));
    assert_eq!(ps.clock.now(), world.now());
    let identity = ps.identity.unwrap();
    assert!(
        identity.starts_with("arn:aws:sts::000000000000:assumed-role/drill-responder/"),
        "{identity}"
    );
    assert!(ps.drill.is_some());
}

#[tokio::test(start_paused = true)]
async fn no_drill_section_says_how_to_get_one() {
    let mut rb = runbook();
    rb.drill = None;
    let err = SimWorld::create(&rb, 1, SPEED, None).err().unwrap();
    assert!(matches!(err, SimError::NoDrill));
    assert!(err.to_string().contains("add one"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn discovery_finds_every_credential_and_marks_the_exposed_ones() {
    let rb = runbook();
    let (world, _feed) = SimWorld::create(&rb, 1, SPEED, None).unwrap();
    let ps = world.provider_set();
    let t0 = world.now();
    let pages = discover_pages(&rb, &ps).await;
    assert!(pages.len() >= 2, "one page only: {pages:?}");
    assert!(world.now() > t0, "paging took no drill time");
    let creds: Vec<Credential> = pages.into_iter().flatten().collect();
    assert_eq!(creds.len(), 5);

    let openai = find(&creds, "openai-prod");
    assert_eq!(openai.id, "openai/openai-prod");
    assert_eq!(openai.issuer, Issuer::Openai);
    assert!(openai.exposed, "{}", openai.exposure_reason);
    assert!(openai.exposure_reason.contains("prod/ai/providers"));
    assert!(openai.hint.starts_with("sk-…"), "{}", openai.hint);
    let created = world.drill_start() - chrono::Duration::days(200);
    assert_eq!(openai.created, Some(created));
    assert_eq!(openai.locations.len(), 2);
    let sm = loc(openai, LocationKind::SecretsManager);
    assert_eq!(sm.name, "prod/ai/providers");
    assert_eq!(sm.field.as_deref(), Some("OPENAI_API_KEY"));
    assert_eq!(sm.region.as_deref(), Some("us-east-1"));
    assert_eq!(sm.changed, Some(created));
    assert_eq!(loc(openai, LocationKind::Braintrust).name, "OPENAI_API_KEY");
    assert!(openai.fingerprint.as_deref().is_some_and(|f| !f.is_empty()));
    // The hint is a hint: the key's value is longer and is not shown.
    let value = ps
        .store(LocationKind::SecretsManager)
        .unwrap()
        .read_version(&sm, &world.staging_labels("prod/ai/providers")[0].0)
        .await
        .unwrap();
    assert!(value.expose_secret().starts_with("sk-test-"));
    assert_ne!(openai.hint, value.expose_secret());
    assert!(
        value
            .expose_secret()
            .ends_with(&openai.hint[openai.hint.len() - 4..])
    );

    let iam = find(&creds, "deployer");
    assert_eq!(iam.id, "aws_iam/deployer");
    assert!(iam.key_id.starts_with("AKIAEXAMPLE"), "{}", iam.key_id);
    assert_eq!(iam.key_id.len(), 20);
    assert!(iam.exposed, "{}", iam.exposure_reason);
    assert_eq!(loc(iam, LocationKind::IamUser).name, "deployer");

    // eu-west-1 is not in the scope's regions and there is no Gemini scope.
    let gemini = find(&creds, "gemini-eu");
    assert!(!gemini.exposed);
    assert!(gemini.exposure_reason.contains("not in the breached scope"));
    assert!(gemini.hint.starts_with("AIz…"), "{}", gemini.hint);

    // Minted a day after the exposure began: in scope, but not exposed.
    let young = find(&creds, "openai-new");
    assert!(!young.exposed);
    assert!(young.exposure_reason.contains("after the exposure began"));

    // Distinct keys, distinct fingerprints; the same world, the same fingerprints.
    assert_ne!(
        openai.fingerprint,
        find(&creds, "anthropic-prod").fingerprint
    );
    let again = discover(&rb, &ps).await;
    assert_eq!(find(&again, "openai-prod").fingerprint, openai.fingerprint);
}

#[tokio::test(start_paused = true)]
async fn scope_of_an_issuer_exposes_its_keys_wherever_they_live() {
    let mut rb = runbook();
    rb.scope.gemini = Some(Default::default());
    let (world, _feed) = SimWorld::create(&rb, 1, SPEED, None).unwrap();
    let creds = discover(&rb, &world.provider_set()).await;
    let gemini = find(&creds, "gemini-eu");
    assert!(gemini.exposed, "{}", gemini.exposure_reason);
    assert!(gemini.exposure_reason.contains("Gemini"));
}

#[tokio::test(start_paused = true)]
async fn issue_is_idempotent_on_its_token() {
    let d = drill().await;
    let a = d.issue("openai-prod", "tok-openai").await;
    let b = d.issue("openai-prod", "tok-openai").await;
    assert_eq!(a.key_id, b.key_id);
    assert_eq!(a.secret.expose_secret(), b.secret.expose_secret());
    assert!(a.secret.expose_secret().starts_with("sk-test-"));
    assert_eq!(a.secret.expose_secret().len(), "sk-test-".len() + 40);
    assert!(a.hint.starts_with("sk-…"));
    let c = d.issue("openai-prod", "tok-openai-2").await;
    assert_ne!(a.key_id, c.key_id);

    let ant = d.issue("anthropic-prod", "tok-ant").await;
    assert!(ant.secret.expose_secret().starts_with("sk-ant-test-"));
    let gem = d.issue("gemini-eu", "tok-gem").await;
    assert!(gem.secret.expose_secret().starts_with("AIzaTEST"));

    // The new key works; the old one still does too, until it is revoked.
    let cred = d.cred("openai-prod");
    let issuer = d.ps.issuer(Issuer::Openai).unwrap();
    assert_eq!(
        issuer.verify(&cred, &a.secret).await.unwrap(),
        Liveness::Alive
    );
    assert_eq!(
        issuer.old_key_liveness(&cred).await.unwrap(),
        Liveness::Alive
    );
    // A key of another issuer is refused.
    assert_eq!(
        issuer.verify(&cred, &ant.secret).await.unwrap(),
        Liveness::Dead
    );

    // A token already spent on another credential is refused rather than confused.
    let other = d.cred("openai-new");
    let err = issuer.issue(&other, "tok-openai").await.unwrap_err();
    assert!(matches!(err, ProviderError::Validation { .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn iam_allows_two_access_keys_per_user() {
    let d = drill().await;
    let k = d.issue("deployer", "tok-iam").await;
    assert!(k.key_id.starts_with("AKIAEXAMPLE"));
    assert_eq!(k.key_id.len(), 20);
    let cred = d.cred("deployer");
    let iam = d.ps.issuer(Issuer::AwsIam).unwrap();
    let err = iam.issue(&cred, "tok-iam-2").await.unwrap_err();
    assert!(matches!(err, ProviderError::LimitExceeded { .. }), "{err}");
    assert!(err.to_string().contains("delete"), "{err}");
    // The same token still returns the key already minted.
    assert_eq!(d.issue("deployer", "tok-iam").await.key_id, k.key_id);
    // Revoke (Inactive) then delete frees the slot; both are idempotent.
    iam.revoke(&cred).await.unwrap();
    iam.revoke(&cred).await.unwrap();
    assert_eq!(iam.old_key_liveness(&cred).await.unwrap(), Liveness::Dead);
    iam.delete(&cred).await.unwrap();
    iam.delete(&cred).await.unwrap();
    iam.issue(&cred, "tok-iam-2").await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn stage_is_idempotent_and_promote_moves_the_labels() {
    let d = drill().await;
    let key = d.issue("openai-prod", "tok-openai").await;
    let cred = d.cred("openai-prod");
    let sm_loc = loc(&cred, LocationKind::SecretsManager);
    let sm = d.ps.store(LocationKind::SecretsManager).unwrap();
    let before = d.world.staging_labels("prod/ai/providers");
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].1, vec!["AWSCURRENT".to_string()]);
    let original = before[0].0.clone();

    let v1 = sm.stage(&sm_loc, &key.secret, "stage-1").await.unwrap();
    let v2 = sm.stage(&sm_loc, &key.secret, "stage-1").await.unwrap();
    assert_eq!(v1, v2);
    let labels = d.world.staging_labels("prod/ai/providers");
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert_eq!(labels[1], (v1.clone(), vec!["AWSPENDING".to_string()]));
    let read = sm.read_version(&sm_loc, &v1).await.unwrap();
    assert_eq!(read.expose_secret(), key.secret.expose_secret());

    let at = sm.promote(&sm_loc, &v1).await.unwrap();
    assert!(at >= d.world.drill_start() && at <= d.world.now());
    let labels = d.world.staging_labels("prod/ai/providers");
    assert_eq!(
        labels,
        vec![
            (original, vec!["AWSPREVIOUS".to_string()]),
            (v1.clone(), vec!["AWSCURRENT".to_string()]),
        ]
    );
    // Promoting again changes nothing and reports the first promotion's time.
    minutes(1).await;
    assert_eq!(sm.promote(&sm_loc, &v1).await.unwrap(), at);

    let missing = sm.promote(&sm_loc, "v-nope").await.unwrap_err();
    assert!(
        matches!(missing, ProviderError::NotFound { .. }),
        "{missing}"
    );
}

#[tokio::test(start_paused = true)]
async fn two_keys_of_one_json_secret_rotate_without_losing_each_other() {
    let d = drill().await;
    let openai = d.issue("openai-prod", "tok-openai").await;
    let anthropic = d.issue("anthropic-prod", "tok-ant").await;
    let o_loc = loc(&d.cred("openai-prod"), LocationKind::SecretsManager);
    let a_loc = loc(&d.cred("anthropic-prod"), LocationKind::SecretsManager);
    let sm = d.ps.store(LocationKind::SecretsManager).unwrap();
    let vo = sm.stage(&o_loc, &openai.secret, "stage-o").await.unwrap();
    let va = sm
        .stage(&a_loc, &anthropic.secret, "stage-a")
        .await
        .unwrap();
    assert_ne!(vo, va);
    sm.promote(&o_loc, &vo).await.unwrap();
    sm.promote(&a_loc, &va).await.unwrap();
    let labels = d.world.staging_labels("prod/ai/providers");
    let current = labels
        .iter()
        .find(|(_, l)| l.iter().any(|s| s == "AWSCURRENT"))
        .map(|(v, _)| v.clone())
        .unwrap();
    let o = sm.read_version(&o_loc, &current).await.unwrap();
    let a = sm.read_version(&a_loc, &current).await.unwrap();
    assert_eq!(o.expose_secret(), openai.secret.expose_secret());
    assert_eq!(a.expose_secret(), anthropic.secret.expose_secret());
}

#[tokio::test(start_paused = true)]
async fn braintrust_replaces_in_place_and_has_no_staging() {
    let d = drill().await;
    let key = d.issue("openai-prod", "tok-openai").await;
    let bt_loc = loc(&d.cred("openai-prod"), LocationKind::Braintrust);
    let bt = d.ps.store(LocationKind::Braintrust).unwrap();
    for err in [
        bt.stage(&bt_loc, &key.secret, "t").await.unwrap_err(),
        bt.read_version(&bt_loc, "v").await.unwrap_err(),
        bt.promote(&bt_loc, "v").await.unwrap_err(),
    ] {
        assert!(matches!(err, ProviderError::Unsupported { .. }), "{err}");
        assert!(!err.is_retryable());
    }
    minutes(3).await;
    let at = bt.replace(&bt_loc, &key.secret).await.unwrap();
    assert!(at > d.world.drill_start() + chrono::Duration::minutes(2));
    assert!(at <= d.world.now());
    // Writing the same value again keeps its updated-at.
    minutes(1).await;
    assert_eq!(bt.replace(&bt_loc, &key.secret).await.unwrap(), at);
}

#[tokio::test(start_paused = true)]
async fn the_attacker_succeeds_until_its_key_is_revoked() {
    let mut d = drill().await;
    minutes(5).await;
    let before = drain(&mut d.feed);
    let attacked: Vec<_> = samples(&before, "openai/openai-prod", KeyGeneration::Old)
        .into_iter()
        .filter(|s| s.sources.iter().any(|x| x == ATTACKER))
        .collect();
    assert!(!attacked.is_empty(), "no attacker burst in 5 minutes");
    assert!(attacked.iter().all(|s| s.ok > 0 && s.denied == 0));
    // A burst is a spike over the consumer's ~30 calls a minute, attacker listed first.
    assert!(attacked.iter().all(|s| s.ok > 60), "{attacked:?}");
    assert!(attacked.iter().all(|s| s.sources[0] == ATTACKER));

    // Rotate openai-prod properly; leave anthropic-prod out.
    let key = d.issue("openai-prod", "tok-openai").await;
    d.propagate("openai-prod", &key).await;
    minutes(1).await;
    d.revoke("openai-prod").await;
    let revoked_at = d.world.now();
    minutes(8).await;
    let after = drain(&mut d.feed);
    let late = |s: &&UsageSample| s.minute >= revoked_at;
    let old: Vec<_> = samples(&after, "openai/openai-prod", KeyGeneration::Old)
        .into_iter()
        .filter(late)
        .collect();
    assert!(!old.is_empty());
    assert!(old.iter().all(|s| s.ok == 0), "{old:?}");
    assert!(old.iter().any(|s| s.denied > 0 && s.sources == [ATTACKER]));
    // The consumer moved to the new key and never failed.
    let new = samples(&after, "openai/openai-prod", KeyGeneration::New);
    assert!(
        new.iter()
            .all(|s| s.ok > 0 && s.denied == 0 && s.sources[0].starts_with("chat-api"))
    );
    assert_eq!(consumer_failures(&after, "chat-api"), 0);
    // The key left out keeps working for the attacker.
    let ant: Vec<_> = samples(&after, "anthropic/anthropic-prod", KeyGeneration::Old)
        .into_iter()
        .filter(late)
        .filter(|s| s.sources.iter().any(|x| x == ATTACKER))
        .collect();
    assert!(ant.iter().any(|s| s.ok > 50), "{ant:?}");

    // usage() tells the same story from the issuer's minute buckets.
    let cred = d.cred("openai-prod");
    let usage =
        d.ps.issuer(Issuer::Openai)
            .unwrap()
            .usage(&cred, KeyGeneration::Old, None, revoked_at)
            .await
            .unwrap();
    assert!(!usage.is_empty() && usage.iter().all(|s| s.ok == 0));

    // The score: one of two exposed AI keys (and the IAM key) left; the attacker got through.
    let mut st = d.state();
    apply(
        &mut st,
        Event::Revoked {
            credential: "openai/openai-prod".into(),
            at: revoked_at,
        },
        revoked_at,
    );
    let score = d.world.score(&st);
    assert_eq!(score.exposed, 3);
    assert_eq!(score.revoked, 1);
    assert_eq!(score.time_to_contain_secs, None);
    assert!(score.attacker_calls_after_revoke > 0, "{score:?}");
    assert_eq!(score.consumer_errors, 0);
    assert!(
        score
            .mistakes
            .iter()
            .any(|m| m.contains("anthropic-prod was never revoked")),
        "{score:?}"
    );
    assert!(score.points <= 50, "{score:?}");
}

#[tokio::test(start_paused = true)]
async fn revoking_before_propagation_breaks_a_consumer() {
    let mut d = drill().await;
    minutes(2).await;
    let _ = d.issue("openai-prod", "tok-openai").await;
    d.revoke("openai-prod").await;
    let revoked_at = d.world.now();
    minutes(3).await;
    let events = drain(&mut d.feed);
    let failed = consumer_failures(&events, "chat-api");
    assert!(failed > 0, "chat-api did not fail");
    assert!(events.iter().any(|e| matches!(
        e,
        Event::ConsumerFailed { consumer, credential, at, .. }
            if consumer == "chat-api" && credential == "openai/openai-prod" && *at >= revoked_at - chrono::Duration::minutes(1)
    )));

    let mut st = d.state();
    apply(
        &mut st,
        Event::OverrideGiven {
            credential: "openai/openai-prod".into(),
            failed_checks: vec!["the new key is not in every location".into()],
            via: Via::Script,
            at: None,
        },
        revoked_at,
    );
    apply(
        &mut st,
        Event::Revoked {
            credential: "openai/openai-prod".into(),
            at: revoked_at,
        },
        revoked_at,
    );
    let score = d.world.score(&st);
    assert_eq!(score.consumer_errors, failed);
    assert_eq!(score.skipped_checks, 1);
    let mistake = format!(
        "openai-prod was revoked before its new key reached every location: chat-api failed {failed} calls"
    );
    assert!(score.mistakes.contains(&mistake), "{:?}", score.mistakes);
    // The documented penalties: 25 per exposed key left (anthropic-prod, deployer), 5 per 10
    // consumer errors (at most 30), 1 per 50 attacker calls after the first revocation, 10 per
    // skipped check.
    let want: i64 = 100
        - 25 * 2
        - i64::from(failed / 10 * 5).min(30)
        - i64::from(score.attacker_calls_after_revoke / 50).min(20)
        - 10;
    assert_eq!(i64::from(score.points), want.max(0), "{score:?}");
}

#[tokio::test(start_paused = true)]
async fn a_stale_consumer_fails_after_revocation_until_it_is_restarted() {
    let mut d = drill().await;
    let key = d.issue("anthropic-prod", "tok-ant").await;
    d.propagate("anthropic-prod", &key).await;
    minutes(2).await;
    let events = drain(&mut d.feed);
    // billing still calls with the old key: it never reloads by itself.
    let old = samples(&events, "anthropic/anthropic-prod", KeyGeneration::Old);
    assert!(
        old.iter()
            .any(|s| s.sources.iter().any(|x| x.starts_with("billing")))
    );
    assert!(samples(&events, "anthropic/anthropic-prod", KeyGeneration::New).is_empty());

    d.revoke("anthropic-prod").await;
    minutes(2).await;
    let events = drain(&mut d.feed);
    assert!(consumer_failures(&events, "billing") > 0);

    d.world.restart_consumers(&["billing".to_string()]);
    minutes(3).await;
    let events = drain(&mut d.feed);
    // The minute in which it was restarted was already half gone; the next ones are clean.
    let restarted = d.world.now() - chrono::Duration::minutes(2);
    let late_failures: u32 = events
        .iter()
        .map(|e| match e {
            Event::ConsumerFailed {
                consumer,
                errors,
                at,
                ..
            } if consumer == "billing" && *at >= restarted => *errors,
            _ => 0,
        })
        .sum();
    assert_eq!(late_failures, 0);
    let new = samples(&events, "anthropic/anthropic-prod", KeyGeneration::New);
    assert!(
        new.iter()
            .any(|s| s.ok > 0 && s.sources[0].starts_with("billing"))
    );
}

#[tokio::test(start_paused = true)]
async fn injects_arrive_at_their_drill_time() {
    let mut d = drill().await;
    minutes(2).await;
    assert!(
        !drain(&mut d.feed)
            .iter()
            .any(|e| matches!(e, Event::InjectArrived { .. }))
    );
    minutes(3).await;
    let events = drain(&mut d.feed);
    let injects: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::InjectArrived { message, at } => Some((message.clone(), *at)),
            _ => None,
        })
        .collect();
    assert_eq!(injects.len(), 1);
    assert!(injects[0].0.starts_with("Support:"));
    assert_eq!(
        injects[0].1,
        d.world.drill_start() + chrono::Duration::minutes(3)
    );
}

#[tokio::test(start_paused = true)]
async fn faults_throttle_and_fail_calls() {
    let mut rb = runbook();
    let drill = rb.drill.as_mut().unwrap();
    drill.faults.push(Fault::Throttle {
        provider: FaultTarget::Openai,
        rate: 1.0,
        from: None,
        until: Some("10m".into()),
    });
    drill.faults.push(Fault::ServerError {
        provider: FaultTarget::Anthropic,
        rate: 1.0,
    });
    let d = drill_with(rb, 1, None).await;
    let openai = d.cred("openai-prod");
    let err =
        d.ps.issuer(Issuer::Openai)
            .unwrap()
            .issue(&openai, "t")
            .await
            .unwrap_err();
    assert!(matches!(err, ProviderError::Throttled { .. }), "{err}");
    assert!(err.is_retryable());
    let ant = d.cred("anthropic-prod");
    let err =
        d.ps.issuer(Issuer::Anthropic)
            .unwrap()
            .issue(&ant, "t2")
            .await
            .unwrap_err();
    assert!(
        matches!(err, ProviderError::Server { status: 503, .. }),
        "{err}"
    );
    assert!(err.is_retryable());
    // The throttling window closes.
    minutes(11).await;
    d.ps.issuer(Issuer::Openai)
        .unwrap()
        .issue(&openai, "t")
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn every_call_takes_drill_latency() {
    let d = drill().await;
    let cred = d.cred("openai-prod");
    let issuer = d.ps.issuer(Issuer::Openai).unwrap();
    for _ in 0..20 {
        let t0 = d.world.now();
        issuer.old_key_liveness(&cred).await.unwrap();
        let took = (d.world.now() - t0).num_milliseconds();
        assert!((200..=2100).contains(&took), "{took} ms");
    }
}

/// Everything the world reports in `n` minutes, with a rotation in the middle.
async fn feed_of(seed: u64, n: u64) -> (Vec<Event>, Vec<String>) {
    let mut d = drill_with(runbook(), seed, None).await;
    minutes(n / 2).await;
    let key = d.issue("openai-prod", "tok").await;
    d.propagate("openai-prod", &key).await;
    d.revoke("openai-prod").await;
    minutes(n - n / 2).await;
    let ids = d.creds.iter().map(|c| c.key_id.clone()).collect();
    (drain(&mut d.feed), ids)
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_makes_the_same_world() {
    let (a, ids_a) = feed_of(7, 12).await;
    let (b, ids_b) = feed_of(7, 12).await;
    assert!(a.len() > 20);
    assert_eq!(ids_a, ids_b);
    assert_eq!(a, b);
    let (c, ids_c) = feed_of(8, 12).await;
    assert_ne!(ids_a, ids_c);
    let calls = |events: &[Event]| -> Vec<u32> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::UsageObserved { sample } => Some(sample.ok + sample.denied),
                _ => None,
            })
            .collect()
    };
    assert_ne!(calls(&a), calls(&c));
}

#[tokio::test(start_paused = true)]
async fn world_json_holds_no_secret_value_and_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let d = drill_with(runbook(), 1, Some(tmp.path())).await;
    let mut values = Vec::new();
    for (name, token) in [
        ("openai-prod", "t1"),
        ("anthropic-prod", "t2"),
        ("gemini-eu", "t3"),
        ("deployer", "t4"),
    ] {
        let k = d.issue(name, token).await;
        d.propagate(name, &k).await;
        values.push(k.secret.expose_secret().to_string());
    }
    // The original values too, read back from the stores.
    let sm = d.ps.store(LocationKind::SecretsManager).unwrap();
    for c in &d.creds {
        let l = loc(c, LocationKind::SecretsManager);
        let labels = d.world.staging_labels(&l.name);
        let v = sm.read_version(&l, &labels[0].0).await.unwrap();
        values.push(v.expose_secret().to_string());
    }
    d.revoke("openai-prod").await;
    minutes(5).await;
    let path = tmp.path().join("world.json");
    let text = std::fs::read_to_string(&path).unwrap();
    for marker in ["sk-test-", "sk-ant-test-", "AIzaTEST"] {
        assert!(!text.contains(marker), "world.json holds a {marker} key");
    }
    for v in &values {
        // IAM values are `id:secret`; the id may be stored, the secret part never.
        let secret = v.rsplit(':').next().unwrap();
        assert!(!text.contains(secret), "world.json holds a key value");
    }
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!tmp.path().join("world.json.tmp").exists());
}

#[tokio::test(start_paused = true)]
async fn load_continues_where_create_left_off() {
    let tmp = tempfile::tempdir().unwrap();
    let rb = runbook();
    let (minted, last_minute, stopped_at) = {
        let mut d = drill_with(rb.clone(), 1, Some(tmp.path())).await;
        minutes(6).await;
        let k = d.issue("openai-prod", "tok-openai").await;
        d.revoke("anthropic-prod").await;
        let events = drain(&mut d.feed);
        let last = events
            .iter()
            .filter_map(|e| match e {
                Event::UsageObserved { sample } => Some(sample.minute),
                _ => None,
            })
            .max()
            .unwrap();
        (k.key_id, last, d.world.now())
        // The world and its ticker go away here, as in a crash (the ticker stops once the
        // feed is gone).
    };
    minutes(30).await; // time passes while the laptop reboots; the drill clock does not
    let (world, mut feed) = SimWorld::load(&rb, 1, SPEED, tmp.path()).unwrap();
    // The drill clock resumes at the last saved drill time (the old ticker may have saved one
    // more tick after the world was dropped), not 30 minutes later and not back at the start.
    let resumed = world.now();
    assert!(
        (resumed - stopped_at).num_seconds().abs() <= 15,
        "stopped at {stopped_at}, resumed at {resumed}"
    );
    assert_eq!(
        world.drill_start(),
        "2026-05-14T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    let ps = world.provider_set();
    let creds = discover(&rb, &ps).await;
    // The key minted before the crash is found again, not minted twice.
    let openai = find(&creds, "openai-prod");
    let again = ps
        .issuer(Issuer::Openai)
        .unwrap()
        .issue(openai, "tok-openai")
        .await
        .unwrap();
    assert_eq!(again.key_id, minted);
    // The revocation survived.
    let ant = find(&creds, "anthropic-prod");
    assert_eq!(
        ps.issuer(Issuer::Anthropic)
            .unwrap()
            .old_key_liveness(ant)
            .await
            .unwrap(),
        Liveness::Dead
    );
    // The minutes carry on after the last one reported.
    world.spawn_ticker();
    minutes(3).await;
    let events = drain(&mut feed);
    let first = events
        .iter()
        .filter_map(|e| match e {
            Event::UsageObserved { sample } => Some(sample.minute),
            _ => None,
        })
        .min()
        .unwrap();
    assert_eq!(first, last_minute + chrono::Duration::minutes(1));
}

#[tokio::test(start_paused = true)]
async fn load_refuses_another_seed_a_missing_file_and_a_broken_one() {
    let tmp = tempfile::tempdir().unwrap();
    let rb = runbook();
    let err = SimWorld::load(&rb, 1, SPEED, tmp.path()).err().unwrap();
    assert!(matches!(err, SimError::Io { .. }), "{err}");
    drop(SimWorld::create(&rb, 1, SPEED, Some(tmp.path())).unwrap());
    let err = SimWorld::load(&rb, 2, SPEED, tmp.path()).err().unwrap();
    assert!(matches!(err, SimError::Mismatch { .. }), "{err}");
    assert!(err.to_string().contains("seed"), "{err}");
    std::fs::write(tmp.path().join("world.json"), "{ not json").unwrap();
    let err = SimWorld::load(&rb, 1, SPEED, tmp.path()).err().unwrap();
    assert!(matches!(err, SimError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("start a new drill"), "{err}");
}

const VENDOR_BREACH: &str = include_str!("../runbooks/ai-provider-keys-vendor-breach.yaml");

#[tokio::test(start_paused = true)]
async fn the_vendor_breach_drill_done_right_scores_100() {
    let rb = serde_saphyr::from_str::<Runbook>(VENDOR_BREACH).unwrap();
    let mut d = drill_with(rb, 7, None).await;
    let exposed: Vec<String> = d
        .creds
        .iter()
        .filter(|c| c.exposed)
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(exposed, ["openai-prod", "anthropic-prod", "gemini-prod"]);
    assert!(!d.cred("openai-eval").exposed);
    assert_eq!(d.cred("openai-prod").locations.len(), 3);
    minutes(3).await;
    let before = drain(&mut d.feed);
    assert!(before.iter().any(
        |e| matches!(e, Event::InjectArrived { message, .. } if message.starts_with("Support:"))
    ));

    for (i, name) in exposed.iter().enumerate() {
        let key = d.issue(name, &format!("tok-{i}")).await;
        d.propagate(name, &key).await;
    }
    // billing-service reads its key once at start: restart it, then revoke.
    minutes(1).await;
    d.world.restart_consumers(&["billing-service".to_string()]);
    let mut st = d.state();
    for name in &exposed {
        d.revoke(name).await;
        let c = d.cred(name);
        let at = d.world.now();
        apply(
            &mut st,
            Event::Revoked {
                credential: c.id.clone(),
                at,
            },
            at,
        );
    }
    let contained = d.world.now();
    minutes(10).await;
    let after = drain(&mut d.feed);
    assert!(
        !after
            .iter()
            .any(|e| matches!(e, Event::ConsumerFailed { .. })),
        "a consumer failed"
    );
    // The attacker keeps trying the old keys and is refused.
    let old: Vec<_> = samples(&after, "openai/openai-prod", KeyGeneration::Old)
        .into_iter()
        .filter(|s| s.minute >= contained)
        .collect();
    assert!(old.iter().any(|s| s.denied > 0 && s.sources == [ATTACKER]));
    assert!(old.iter().all(|s| s.ok == 0));
    // Every consumer is on the new key, billing-service included.
    let new = samples(&after, "openai/openai-prod", KeyGeneration::New);
    assert!(
        new.iter()
            .any(|s| s.sources.iter().any(|x| x.starts_with("billing-service")))
    );

    // The key the attacker minted for themselves is still active: it costs, with its line.
    let missed = d.world.score(&st);
    assert_eq!(missed.points, 75, "{missed:?}");
    assert_eq!(
        missed.mistakes,
        [
            "a key the attacker created is still active: openai-backup (created during the exposure window by an unknown identity; revoke it)"
        ]
    );
    // The simulated audit log tells who made the keys created in the window.
    let created: Vec<Credential> = d
        .creds
        .iter()
        .filter(|c| !c.exposed && c.created.is_some_and(|t| t >= d.rb.exposure_window.start))
        .cloned()
        .collect();
    assert_eq!(created.len(), 2, "{created:?}");
    let found =
        d.ps.creators
            .as_ref()
            .unwrap()
            .look_up(&d.rb.exposure_window, &created)
            .await
            .unwrap();
    apply(
        &mut st,
        Event::CreatorsFound {
            creators: found.creators,
            persistence: found.persistence,
            at: d.world.now(),
        },
        d.world.now(),
    );
    let backup = st.credential("openai/openai-backup").unwrap();
    let v = st.verdict(backup).unwrap();
    assert!(v.is_suspect() && v.why().contains("203.0.113.45"), "{v:?}");
    let eval = st.credential("openai/openai-eval").unwrap();
    assert!(!st.verdict(eval).unwrap().is_suspect());
    assert!(
        st.persistence_to_review()
            .iter()
            .any(|f| f.action == "CreateLoginProfile")
    );
    d.revoke("openai-backup").await;
    let at = d.world.now();
    apply(
        &mut st,
        Event::Revoked {
            credential: "openai/openai-backup".into(),
            at,
        },
        at,
    );

    let score = d.world.score(&st);
    assert_eq!(score.exposed, 3);
    assert_eq!(score.revoked, 3);
    assert_eq!(score.consumer_errors, 0);
    assert_eq!(score.attacker_calls_after_revoke, 0);
    assert_eq!(score.skipped_checks, 0);
    assert_eq!(
        score.time_to_contain_secs,
        Some((contained - d.world.drill_start()).num_seconds() as u64)
    );
    assert_eq!(score.points, 100, "{score:?}");
    assert!(score.mistakes.is_empty(), "{:?}", score.mistakes);
}

/// While an onboarding explanation is open the drill clock stands still: nothing in the
/// world moves (no minute is simulated, no usage arrives), and a wait on the drill clock
/// lasts its drill time, not its real time.
#[tokio::test(start_paused = true)]
async fn the_drill_clock_stands_still_while_paused() {
    use breachbook::incident::ports::Clock;
    let mut d = drill().await;
    minutes(3).await;
    let _ = drain(&mut d.feed);
    d.world.set_paused(true);
    let stood = d.world.now();
    // Ten drill minutes of real time pass: the clock does not move, nothing happens.
    minutes(10).await;
    assert_eq!(d.world.now(), stood);
    assert!(
        drain(&mut d.feed).is_empty(),
        "the world moved while paused"
    );
    // A wait started while paused ends two drill minutes after the clock runs again.
    let world = d.world.clone();
    let waited = tokio::spawn(async move {
        Clock::sleep(world.as_ref(), Duration::from_secs(120)).await;
        world.now()
    });
    minutes(5).await;
    assert!(
        !waited.is_finished(),
        "a drill wait ended while the clock stood still"
    );
    d.world.set_paused(false);
    let done = waited.await.unwrap();
    let ran = (done - stood).num_seconds();
    assert!((120..=122).contains(&ran), "waited {ran} drill seconds");
    // And the world goes on.
    minutes(2).await;
    assert!(
        drain(&mut d.feed)
            .iter()
            .any(|e| matches!(e, Event::UsageObserved { .. }))
    );
}
