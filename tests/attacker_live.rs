//! Keys the attacker made, through the engine, live: the real IAM inventory and issuer
//! against moto, creators read from a wiremock CloudTrail speaking LookupEvents
//! (tests/support/cloudtrail.rs; moto has no LookupEvents), and OpenAI's inventory, issuer
//! and organization audit log against the contract-built fake (tests/support/fake_ai.rs).
//! The inventory step journals who made each key created in the window; a stranger's key is
//! a suspect and is revoked only after its typed word (the confirmation journaled before the
//! revoke, the key Inactive at moto, deleted at OpenAI); a known automation role's key is not
//! a suspect and cannot be revoked as one; a key whose creator cannot be told is a suspect
//! that says why, and is marked known with a reason. Every request to the fake keeps the
//! contract. scripts/test installs moto[server].

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/cloudtrail.rs"]
mod cloudtrail;
#[path = "support/contract.rs"]
mod contract;
#[path = "support/emulator.rs"]
mod emulator;
#[path = "support/fake_ai.rs"]
mod fake_ai;
#[path = "support/localstack.rs"]
mod localstack;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/ports.rs"]
#[allow(clippy::duplicate_mod)] // the support modules keep their own copies
mod ports;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use breachbook::incident::command::{Command, Dangerous, Update};
use breachbook::incident::engine::{Engine, EngineConfig};
use breachbook::incident::event::{DangerKind, Event, Mode, Operator, Via};
use breachbook::incident::journal::Journal;
use breachbook::incident::model::LocationKind;
use breachbook::incident::ports::{Inventory, KeyIssuer, ProviderSet, SecretStore, WallClock};
use breachbook::incident::state::{Decision, IncidentState};
use breachbook::providers::aws::Aws;
use breachbook::providers::aws::cloudtrail::CloudTrailUsage;
use breachbook::providers::aws::creators::IamCreators;
use breachbook::providers::aws::iam::{IamInventory, IamIssuer};
use breachbook::providers::aws::secrets::SecretsManagerStore;
use breachbook::providers::live::MergedInventory;
use breachbook::providers::live::creators::IssuerLogs;
use breachbook::providers::openai::audit::OpenAiAuditLog;
use breachbook::providers::openai::{OpenAiInventory, OpenAiIssuer};
use breachbook::runbook::schema::{Issuer, Runbook};
use chrono::Utc;
use cloudtrail::ACCOUNT;
use emulator::Emulator;
use fake_ai::{AdminKeys, FakeAi};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const OPENAI_ADMIN: &str = "sk-admin-test-openai-ATTACKER000000000001";

const RUNBOOK: &str = r#"
version: 1
name: attacker-live
title: Keys the attacker made
severity: critical
exposure_window:
  start: 2026-01-01T00:00:00Z
scope:
  iam:
    users: [backup-svc, ci-deployer, old-svc]
  openai: {}
  known_creators:
    - arn:aws:iam::*:role/ci-*
steps:
  - id: inventory
    title: Find every key
    action: inventory
    instructions: List them.
  - id: revoke
    title: Revoke the keys to revoke
    action: revoke
    instructions: One at a time.
"#;

/// LookupEvents by `EventName`: `CreateAccessKey` for the keys in `made`; nothing else.
struct Trail {
    made: Vec<(String, String, String, String)>,
}

impl Respond for Trail {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let attr = &body["LookupAttributes"][0];
        let events: Vec<Value> = match attr["AttributeValue"].as_str() {
            Some("CreateAccessKey") => self
                .made
                .iter()
                .map(|(key, user, arn, kind)| {
                    cloudtrail::create_access_key(key, user, arn, kind, Utc::now())
                })
                .collect(),
            _ => Vec::new(),
        };
        cloudtrail::ok_json(json!({ "Events": events }))
    }
}

async fn new_key(emu: &Emulator, user: &str) -> String {
    let iam = emu.iam();
    iam.create_user().user_name(user).send().await.unwrap();
    let k = iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap();
    k.access_key().unwrap().access_key_id().to_string()
}

/// The engine's journaled events as they come, folded after the opening.
struct Watch {
    opening: Event,
    events: Vec<Event>,
    refused: Vec<String>,
    updates: mpsc::UnboundedReceiver<Update>,
}

impl Watch {
    /// Reads updates until `done` holds of the events so far (at most 60 s).
    async fn until(&mut self, what: &str, done: impl Fn(&[Event], &[String]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !done(&self.events, &self.refused) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.updates.recv()).await {
                Ok(Some(Update::Event { event, .. })) => self.events.push(event),
                Ok(Some(Update::Refused { message })) => self.refused.push(message),
                Ok(Some(Update::Stopped { why })) => panic!("the engine stopped: {why:?}"),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!("waited in vain for {what}: {:#?}", self.events),
            }
        }
    }

    fn state(&self) -> IncidentState {
        let now = Utc::now();
        IncidentState::fold(
            std::iter::once((&self.opening, now, "alice"))
                .chain(self.events.iter().map(|e| (e, now, "alice"))),
        )
        .unwrap()
    }
}

fn confirm(credential: &str, word: &str) -> Command {
    Command::Confirm {
        target: Dangerous::Revoke {
            credential: credential.into(),
        },
        word: word.into(),
        override_phrase: None,
        via: Via::Tui,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_judges_keys_made_in_the_window_and_revokes_a_suspect_only_after_its_word() {
    let emu = Emulator::moto();
    let window_start =
        chrono::SubsecRound::trunc_subsecs(Utc::now(), 0) - chrono::Duration::hours(1);
    // Every key moto makes now is created during the window.
    let intruders = new_key(&emu, "backup-svc").await;
    let automation = new_key(&emu, "ci-deployer").await;
    let nobody = new_key(&emu, "old-svc").await;

    let trail = MockServer::start().await;
    Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::header(
            "x-amz-target",
            cloudtrail::TARGET,
        ))
        .respond_with(Trail {
            made: vec![
                (
                    intruders.clone(),
                    "backup-svc".into(),
                    format!("arn:aws:iam::{ACCOUNT}:user/intruder"),
                    "IAMUser".into(),
                ),
                (
                    automation.clone(),
                    "ci-deployer".into(),
                    format!("arn:aws:sts::{ACCOUNT}:assumed-role/ci-rotator/job-7"),
                    "AssumedRole".into(),
                ),
            ],
        })
        .mount(&trail)
        .await;

    // OpenAI: a person's key made in the window by a stranger signed in from afar.
    let fake = FakeAi::start(AdminKeys {
        openai: OPENAI_ADMIN.into(),
        anthropic: "sk-ant-admin-test-ATTACKER0000000000002".into(),
        braintrust: "sk-test-braintrust-ATTACKER000000000003".into(),
        braintrust_org: "acme".into(),
    })
    .await;
    {
        let mut st = fake.state();
        st.openai_project("proj_a", "Prod");
        let made = (Utc::now() - chrono::Duration::minutes(20)).timestamp();
        st.openai_key(
            "proj_a",
            "key_eve",
            "backup",
            "sk-test-openai-ATTACKER-eeee000000eeE1",
            None,
        );
        st.openai_key_created("key_eve", made);
        st.openai_audit_event(
            "api_key.created",
            made,
            Some("proj_a"),
            fake_ai::openai_session("eve@example.net", "198.51.100.77"),
            json!({"id": "key_eve", "data": {"scopes": ["api.all"]}}),
        );
    }

    let mut rb: Runbook = serde_saphyr::from_str(RUNBOOK).unwrap();
    rb.exposure_window.start = window_start;
    let aws = Aws::load(&emu.options("us-east-1"), &["us-east-1".to_string()])
        .await
        .unwrap();
    let client = breachbook::providers::http::client().unwrap();
    let admin = || Some(SecretString::from(OPENAI_ADMIN));
    let mut logs = IssuerLogs::default();
    logs.insert(
        Issuer::AwsIam,
        Arc::new(IamCreators::new(
            CloudTrailUsage::new(&cloudtrail::aws_at(&trail).await).with_rate(50),
        )),
    );
    logs.insert(
        Issuer::Openai,
        Arc::new(OpenAiAuditLog::new(
            client.clone(),
            &fake.openai.uri(),
            admin(),
        )),
    );
    let sources: Vec<(String, Arc<dyn Inventory>)> = vec![
        ("IAM".into(), Arc::new(IamInventory::new(&aws))),
        (
            "OpenAI".into(),
            Arc::new(OpenAiInventory::new(
                client.clone(),
                &fake.openai.uri(),
                admin(),
            )),
        ),
    ];
    let mut issuers: HashMap<Issuer, Arc<dyn KeyIssuer>> = HashMap::new();
    issuers.insert(Issuer::AwsIam, Arc::new(IamIssuer::new(&aws)));
    issuers.insert(
        Issuer::Openai,
        Arc::new(OpenAiIssuer::new(client, &fake.openai.uri(), admin())),
    );
    let responder = format!("arn:aws:sts::{ACCOUNT}:assumed-role/Responder/alice");
    let providers = ProviderSet {
        inventory: Arc::new(MergedInventory::new(sources)),
        issuers,
        stores: HashMap::new(),
        clock: Arc::new(WallClock),
        identity: Some(responder),
        drill: None,
        creators: Some(Arc::new(logs)),
    };

    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(dir.path(), "attacker-live", Operator::local()).unwrap();
    let opening = Event::IncidentOpened {
        id: "attacker-live".into(),
        mode: Mode::Live,
        runbook: Box::new(rb.clone()),
        runbook_digest: String::new(),
        seed: None,
        speed: None,
        at: Utc::now(),
        read_only: false,
    };
    let (up_tx, up_rx) = mpsc::unbounded_channel();
    let engine = Engine::start(
        journal,
        Vec::new(),
        Some(opening.clone()),
        providers,
        None,
        EngineConfig::from_runbook(&rb, false),
        up_tx,
    )
    .unwrap();
    let incident_dir = engine.dir().to_path_buf();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    tokio::spawn(engine.run(cmd_rx));
    let mut w = Watch {
        opening,
        events: Vec::new(),
        refused: Vec::new(),
        updates: up_rx,
    };

    cmd_tx
        .send(Command::RunStep {
            step: "inventory".into(),
        })
        .unwrap();
    w.until("the creators of the keys made in the window", |ev, _| {
        ev.iter().any(|e| matches!(e, Event::CreatorsFound { .. }))
    })
    .await;
    let st = w.state();
    let by_key = |key: &str| {
        st.credentials
            .iter()
            .find(|c| c.credential.key_id == key)
            .unwrap_or_else(|| panic!("{key} not listed"))
    };
    // The stranger's IAM key: suspect, with who and from where.
    let v = st.verdict(by_key(&intruders)).unwrap();
    assert!(v.is_suspect(), "{v:?}");
    assert!(
        v.why().contains("user/intruder") && v.why().contains("203.0.113.9"),
        "{}",
        v.why()
    );
    // The automation role's: not a suspect.
    let v = st.verdict(by_key(&automation)).unwrap();
    assert!(!v.is_suspect(), "{v:?}");
    // No CreateAccessKey event: a suspect that says why.
    let v = st.verdict(by_key(&nobody)).unwrap();
    assert!(
        v.is_suspect() && v.why().contains("no CreateAccessKey event"),
        "{v:?}"
    );
    // The OpenAI key made by a stranger: a suspect with the audit log's creator and address.
    let v = st.verdict(by_key("key_eve")).unwrap();
    assert!(
        v.is_suspect() && v.why().contains("eve@example.net") && v.why().contains("198.51.100.77"),
        "{v:?}"
    );

    // Revoking the IAM suspect: a wrong word is refused and nothing changes at moto.
    let intruder_id = by_key(&intruders).credential.id.clone();
    let word = by_key(&intruders).credential.confirmation_word();
    cmd_tx.send(confirm(&intruder_id, "nope")).unwrap();
    w.until("the wrong word refused", |ev, _| {
        ev.iter()
            .any(|e| matches!(e, Event::ConfirmationRefused { credential, .. } if *credential == intruder_id))
    })
    .await;
    let status = |user: &'static str| {
        let iam = emu.iam();
        async move {
            let keys = iam.list_access_keys().user_name(user).send().await.unwrap();
            keys.access_key_metadata()
                .first()
                .and_then(|k| k.status())
                .map(|s| s.as_str().to_string())
        }
    };
    assert_eq!(status("backup-svc").await.as_deref(), Some("Active"));
    cmd_tx.send(confirm(&intruder_id, &word)).unwrap();
    w.until("the suspect revoked", |ev, _| {
        ev.iter()
            .any(|e| matches!(e, Event::Revoked { credential, .. } if *credential == intruder_id))
    })
    .await;
    let pos = |f: &dyn Fn(&Event) -> bool| w.events.iter().position(f).unwrap();
    let given = pos(
        &|e| matches!(e, Event::ConfirmationGiven { credential, action: DangerKind::Revoke, .. } if *credential == intruder_id),
    );
    let revoked =
        pos(&|e| matches!(e, Event::Revoked { credential, .. } if *credential == intruder_id));
    assert!(
        given < revoked,
        "the confirmation is journaled before the revoke"
    );
    // AWS deactivates the key; moto keeps honouring inactive keys, so the test reads the
    // status AWS would enforce rather than trying the key.
    let after = status("backup-svc").await;
    assert!(
        matches!(after.as_deref(), Some("Inactive") | None),
        "the suspect is still {after:?} at moto"
    );

    // The automation's key is not revocable as a suspect.
    let ci = by_key(&automation).credential.clone();
    let before = w.refused.len();
    cmd_tx
        .send(confirm(&ci.id, &ci.confirmation_word()))
        .unwrap();
    w.until("the automation key's revoke refused", |_, refused| {
        refused.len() > before
    })
    .await;
    assert_eq!(status("ci-deployer").await.as_deref(), Some("Active"));

    // The undetermined one is marked known with a reason, journaled.
    let quiet = by_key(&nobody).credential.id.clone();
    cmd_tx
        .send(Command::MarkKnown {
            credential: quiet.clone(),
            reason: "Dana made it for the backup job".into(),
        })
        .unwrap();
    w.until("the mark journaled", |ev, _| {
        ev.iter()
            .any(|e| matches!(e, Event::MarkedKnown { credential, .. } if *credential == quiet))
    })
    .await;

    // The OpenAI suspect: revoked after its word, the key deleted at OpenAI.
    let eve = by_key("key_eve").credential.clone();
    cmd_tx
        .send(confirm(&eve.id, &eve.confirmation_word()))
        .unwrap();
    let eve_id = eve.id.clone();
    w.until("the OpenAI suspect revoked", |ev, _| {
        ev.iter()
            .any(|e| matches!(e, Event::Revoked { credential, .. } if *credential == eve_id))
    })
    .await;
    assert!(fake.state().openai("key_eve").unwrap().deleted);

    let st = w.state();
    let decision = |key: &str| {
        let c = st
            .credentials
            .iter()
            .find(|c| c.credential.key_id == key)
            .unwrap();
        st.decision(c)
    };
    assert!(matches!(decision(&intruders), Decision::Revoked { .. }));
    assert!(matches!(decision("key_eve"), Decision::Revoked { .. }));
    assert!(matches!(decision(&nobody), Decision::MarkedKnown(_)));
    assert_eq!(decision(&automation), Decision::NotNeeded);
    assert!(st.open_suspects().is_empty());
    // The journal on disk holds the same story.
    let journal = std::fs::read_to_string(incident_dir.join("journal.jsonl")).unwrap();
    assert!(journal.contains("\"creators_found\""), "{journal}");
    assert!(journal.contains("\"marked_known\""), "{journal}");
    assert!(
        !journal.contains("sk-test-openai-ATTACKER"),
        "no key value in the journal"
    );

    let _ = cmd_tx.send(Command::Shutdown);
    let st = fake.state();
    assert!(st.problems.is_empty(), "{:#?}", st.problems);
    let report = contract::check(&st.recorded);
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert!(
        report
            .by_route
            .contains_key("OpenAI GET /v1/organization/audit_logs"),
        "{}",
        report.summary()
    );
}

const ROTATION_RUNBOOK: &str = r#"
version: 1
name: attacker-live-rotation
title: Rotate, and the attacker's key
severity: critical
exposure_window:
  start: 2026-01-01T00:00:00Z
scope:
  iam:
    users: [svc-app, backup-svc]
    stored_in:
      svc-app: prod/iam/svc-app
steps:
  - id: inventory
    title: Find every key
    action: inventory
    instructions: List them.
  - id: rotate
    title: Mint the new keys
    action: rotate
    needs: [inventory]
    instructions: Mint and stage.
  - id: verify
    title: Test the new keys
    action: verify
    needs: [rotate]
    instructions: Test.
  - id: propagate
    title: Roll out the new keys
    action: propagate
    needs: [verify]
    instructions: Roll out.
  - id: revoke
    title: Revoke the old keys
    action: revoke
    needs: [propagate]
    instructions: One at a time.
  - id: report
    title: Write the report
    action: report
    needs: [revoke]
    instructions: Write it.
"#;

/// The engine rotates an exposed IAM key against moto (its new key minted during the
/// window, by breachbook), with a stranger's key made in the window beside it: breachbook's
/// own new key is never a suspect (not in the state's suspects, not in the report's section),
/// and the revoke step is done only once the exposed key is revoked and the stranger's key
/// decided too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breachbooks_own_new_keys_are_never_suspect_and_the_revoke_step_waits_for_the_strangers() {
    let emu = Emulator::moto();
    let iam = emu.iam();
    // The exposed key: made (and stored) before the window begins.
    iam.create_user().user_name("svc-app").send().await.unwrap();
    let k = iam
        .create_access_key()
        .user_name("svc-app")
        .send()
        .await
        .unwrap();
    let k = k.access_key().unwrap();
    let exposed = k.access_key_id().to_string();
    emu.sm("us-east-1")
        .create_secret()
        .name("prod/iam/svc-app")
        .secret_string(
            json!({"AccessKeyId": k.access_key_id(), "SecretAccessKey": k.secret_access_key()})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let window_start = chrono::SubsecRound::trunc_subsecs(Utc::now(), 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The stranger's key, made in the window.
    let intruders = new_key(&emu, "backup-svc").await;

    let trail = MockServer::start().await;
    Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::header(
            "x-amz-target",
            cloudtrail::TARGET,
        ))
        .respond_with(Trail {
            made: vec![(
                intruders.clone(),
                "backup-svc".into(),
                format!("arn:aws:iam::{ACCOUNT}:user/intruder"),
                "IAMUser".into(),
            )],
        })
        .mount(&trail)
        .await;

    let mut rb: Runbook = serde_saphyr::from_str(ROTATION_RUNBOOK).unwrap();
    rb.exposure_window.start = window_start;
    let aws = Aws::load(&emu.options("us-east-1"), &["us-east-1".to_string()])
        .await
        .unwrap();
    let mut logs = IssuerLogs::default();
    logs.insert(
        Issuer::AwsIam,
        Arc::new(IamCreators::new(
            CloudTrailUsage::new(&cloudtrail::aws_at(&trail).await).with_rate(50),
        )),
    );
    let mut issuers: HashMap<Issuer, Arc<dyn KeyIssuer>> = HashMap::new();
    issuers.insert(
        Issuer::AwsIam,
        Arc::new(IamIssuer::new(&aws).with_propagation_wait(5, Duration::from_millis(100))),
    );
    let mut stores: HashMap<LocationKind, Arc<dyn SecretStore>> = HashMap::new();
    stores.insert(
        LocationKind::SecretsManager,
        Arc::new(SecretsManagerStore::new(&aws)),
    );
    let providers = ProviderSet {
        inventory: Arc::new(IamInventory::new(&aws)),
        issuers,
        stores,
        clock: Arc::new(WallClock),
        identity: Some(format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/Responder/alice"
        )),
        drill: None,
        creators: Some(Arc::new(logs)),
    };

    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(dir.path(), "attacker-rotation", Operator::local()).unwrap();
    let opening = Event::IncidentOpened {
        id: "attacker-rotation".into(),
        mode: Mode::Live,
        runbook: Box::new(rb.clone()),
        runbook_digest: String::new(),
        seed: None,
        speed: None,
        at: Utc::now(),
        read_only: false,
    };
    let (up_tx, up_rx) = mpsc::unbounded_channel();
    let engine = Engine::start(
        journal,
        Vec::new(),
        Some(opening.clone()),
        providers,
        None,
        EngineConfig::from_runbook(&rb, false),
        up_tx,
    )
    .unwrap();
    let incident_dir = engine.dir().to_path_buf();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    tokio::spawn(engine.run(cmd_rx));
    let mut w = Watch {
        opening,
        events: Vec::new(),
        refused: Vec::new(),
        updates: up_rx,
    };
    let done = |step: &'static str| {
        move |ev: &[Event], _: &[String]| {
            ev.iter()
                .any(|e| matches!(e, Event::StepCompleted { step: s, .. } if s == step))
        }
    };
    for step in ["inventory", "rotate", "verify", "propagate"] {
        cmd_tx.send(Command::RunStep { step: step.into() }).unwrap();
        w.until(step, done(step)).await;
    }
    let st = w.state();
    let by_key = |st: &IncidentState, key: &str| {
        st.credentials
            .iter()
            .find(|c| c.credential.key_id == key)
            .unwrap_or_else(|| panic!("{key} not listed"))
            .clone()
    };
    let old = by_key(&st, &exposed);
    assert!(old.credential.exposed, "{old:?}");
    // breachbook minted the replacement during the window: never a suspect.
    let minted = old.new_key_id.clone().expect("a new key was minted");
    assert!(st.minted_here(&minted));
    let intruder = by_key(&st, &intruders);
    assert!(st.is_suspect(&intruder));
    let open: Vec<String> = st
        .open_suspects()
        .iter()
        .map(|c| c.credential.key_id.clone())
        .collect();
    assert_eq!(
        open,
        std::slice::from_ref(&intruders),
        "only the stranger's key is suspect"
    );
    assert!(
        st.credentials
            .iter()
            .filter(|c| c.credential.key_id == minted)
            .all(|c| !st.is_suspect(c)),
        "breachbook's own key judged a suspect"
    );

    // The exposed key revoked: the step still waits for the stranger's key.
    cmd_tx
        .send(Command::RunStep {
            step: "revoke".into(),
        })
        .unwrap();
    cmd_tx
        .send(confirm(
            &old.credential.id,
            &old.credential.confirmation_word(),
        ))
        .unwrap();
    let old_id = old.credential.id.clone();
    w.until("the exposed key revoked", |ev, _| {
        ev.iter()
            .any(|e| matches!(e, Event::Revoked { credential, .. } if *credential == old_id))
    })
    .await;
    // A note after it: once it is journaled, the engine has judged the step after the revoke.
    cmd_tx
        .send(Command::Note {
            text: "exposed key revoked".into(),
        })
        .unwrap();
    w.until("the note", |ev, _| {
        ev.iter().any(|e| matches!(e, Event::OperatorNote { .. }))
    })
    .await;
    assert!(
        !done("revoke")(&w.events, &w.refused),
        "the revoke step finished with the stranger's key undecided"
    );
    // The stranger's key revoked after its word: now the step is done.
    cmd_tx
        .send(confirm(
            &intruder.credential.id,
            &intruder.credential.confirmation_word(),
        ))
        .unwrap();
    w.until("the revoke step done", done("revoke")).await;
    cmd_tx
        .send(Command::RunStep {
            step: "report".into(),
        })
        .unwrap();
    w.until("the report", done("report")).await;
    let st = w.state();
    assert!(st.open_suspects().is_empty());
    assert!(matches!(
        st.decision(&by_key(&st, &intruders)),
        Decision::Revoked { .. }
    ));
    // The report's section lists the stranger's key, revoked, and nothing of breachbook's.
    let report = std::fs::read_to_string(incident_dir.join("report.md")).unwrap();
    let section: String = report
        .split("## Created during the exposure window")
        .nth(1)
        .unwrap_or_else(|| panic!("no section:\n{report}"))
        .split("\n## ")
        .next()
        .unwrap()
        .to_string();
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| ")).collect();
    let suspects: Vec<&&str> = rows.iter().filter(|l| l.contains("SUSPECT")).collect();
    assert_eq!(suspects.len(), 1, "{section}");
    assert!(suspects[0].contains("| revoked "), "{section}");
    let minted_hint = st
        .credentials
        .iter()
        .find_map(|c| c.new_hint.clone())
        .unwrap();
    assert!(
        !section.contains(&minted) && !section.contains(&minted_hint),
        "breachbook's own key is in the section:\n{section}"
    );
    let _ = cmd_tx.send(Command::Shutdown);
}
