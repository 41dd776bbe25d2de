//! A run that ends while a mint is in flight (a headless script that stops, the screen
//! closed) waits for it: the new key is journaled and staged, never left at the issuer with
//! nobody holding its secret (issue 11, defect 4). On the drill world, with the OpenAI issuer
//! made slow.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use breachbook::incident::autopilot::{Driver, ScriptAction};
use breachbook::incident::command::Command;
use breachbook::incident::engine::{Engine, EngineConfig};
use breachbook::incident::event::{Event, Mode, Operator};
use breachbook::incident::journal::Journal;
use breachbook::incident::model::{Credential, KeyGeneration, UsageSample};
use breachbook::incident::ports::{KeyIssuer, Liveness, NewKey, ProviderResult};
use breachbook::incident::rotation::Stage;
use breachbook::providers::sim::SimWorld;
use breachbook::runbook::schema::{Issuer, Runbook};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tokio::sync::{Notify, mpsc};

const RUNBOOK: &str = include_str!("../runbooks/ai-provider-keys-vendor-breach.yaml");

/// The drill's OpenAI issuer, but each mint takes half a second of real time: long enough
/// for the run to be told to stop while it is in flight.
struct Slow {
    inner: Arc<dyn KeyIssuer>,
    started: Arc<Notify>,
}

#[async_trait]
impl KeyIssuer for Slow {
    async fn issue(&self, old: &Credential, token: &str) -> ProviderResult<NewKey> {
        self.started.notify_one();
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.inner.issue(old, token).await
    }
    async fn verify(&self, cred: &Credential, key: &SecretString) -> ProviderResult<Liveness> {
        self.inner.verify(cred, key).await
    }
    async fn old_key_liveness(&self, old: &Credential) -> ProviderResult<Liveness> {
        self.inner.old_key_liveness(old).await
    }
    async fn revoke(&self, old: &Credential) -> ProviderResult<()> {
        self.inner.revoke(old).await
    }
    async fn delete(&self, old: &Credential) -> ProviderResult<()> {
        self.inner.delete(old).await
    }
    async fn usage(
        &self,
        cred: &Credential,
        generation: KeyGeneration,
        new_key_id: Option<&str>,
        since: DateTime<Utc>,
    ) -> ProviderResult<Vec<UsageSample>> {
        self.inner.usage(cred, generation, new_key_id, since).await
    }
}

fn events(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonl") {
                for line in std::fs::read_to_string(&p).unwrap_or_default().lines() {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                        out.push(v.get("event").cloned().unwrap_or(v));
                    }
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_told_to_stop_mid_mint_journals_and_stages_the_new_key() {
    let rb: Runbook = breachbook::runbook::load::load_str("vendor", RUNBOOK).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(dir.path(), "shutdown", Operator::local()).unwrap();
    let (world, feed) = SimWorld::create(&rb, 7, 50.0, None).unwrap();
    let opening = Event::IncidentOpened {
        id: "shutdown".into(),
        mode: Mode::Drill,
        runbook: Box::new(rb.clone()),
        runbook_digest: String::new(),
        seed: Some(7),
        speed: Some(50.0),
        at: world.now(),
        read_only: false,
    };
    let mut ps = world.provider_set();
    let started = Arc::new(Notify::new());
    let inner = ps.issuers[&Issuer::Openai].clone();
    ps.issuers.insert(
        Issuer::Openai,
        Arc::new(Slow {
            inner,
            started: started.clone(),
        }),
    );
    let (up_tx, up_rx) = mpsc::unbounded_channel();
    let engine = Engine::start(
        journal,
        Vec::new(),
        Some(opening),
        ps,
        Some(feed),
        EngineConfig::from_runbook(&rb, false),
        up_tx,
    )
    .unwrap();
    let state = engine.state().clone();
    let _ticker = world.spawn_ticker();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    tokio::spawn(engine.run(cmd_rx));
    let commands = cmd_tx.clone();
    let mut driver = Driver::new(state, cmd_tx, up_rx, false).with_think(std::time::Duration::ZERO);
    let run = |s: &str| ScriptAction::Run(s.into());
    let tick = |s: &str| ScriptAction::TickAll(s.into());
    driver
        .script(vec![
            tick("declare"),
            run("declare"),
            run("inventory"),
            tick("review-exposure"),
            run("review-exposure"),
        ])
        .await
        .unwrap();
    // The mint starts; the run is told to stop while the issuer has not answered yet.
    commands
        .send(Command::RunStep {
            step: "rotate".into(),
        })
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), started.notified())
        .await
        .expect("the OpenAI mint never started");
    let state = driver.shutdown().await;

    let events = events(dir.path());
    let intents: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "issue_requested")
        .filter(|e| {
            e["credential"]
                .as_str()
                .is_some_and(|c| c.starts_with("openai"))
        })
        .collect();
    assert!(!intents.is_empty(), "no mint was journaled as intended");
    for intent in intents {
        let id = intent["credential"].as_str().unwrap();
        let c = state
            .credentials
            .iter()
            .find(|c| c.credential.id == id)
            .unwrap();
        // The key minted in flight is held: issued and staged as pending, no intent left
        // open for a resume to reconcile.
        assert!(
            c.rotation.reached() >= Stage::Staged,
            "{id}: {:?}\n{:#?}",
            c.rotation,
            state.timeline
        );
        assert_eq!(c.open_intent(), None, "{id}: the intent is still open");
        assert!(
            events
                .iter()
                .any(|e| e["type"] == "issued" && e["credential"] == id),
            "{id}: the new key was never journaled"
        );
    }
}
