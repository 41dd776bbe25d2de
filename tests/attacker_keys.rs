//! Keys the attacker made: IAM keys created during the exposure window, listed by the real
//! IAM inventory against moto, their creators read from a wiremock CloudTrail answering
//! LookupEvents by `EventName` (moto has no LookupEvents), judged by the domain, and a
//! suspect revoked through the rules' typed word and the IAM issuer.
//!
//! Source of the fake's shapes: the Smithy model in
//! aws/api-models-aws@56c8953e87aeead95ae5e66a3ca6a355731db6ad
//! `cloudtrail/service/2013-11-01/cloudtrail-2013-11-01.json` (awsJson1_1, target
//! `CloudTrail_20131101.LookupEvents`, `LookupAttributes[].AttributeKey` `EventName`,
//! `Events[]` with `EventTime` in epoch seconds, `Username`, `AccessKeyId`, and
//! `CloudTrailEvent` a JSON string); the record's own fields (`userIdentity.type`/`arn`/
//! `accessKeyId`, `sourceIPAddress`, `eventTime`, `requestParameters.userName`,
//! `responseElements.accessKey.accessKeyId`) from "CloudTrail record contents",
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>,
//! and IAM's CloudTrail examples of `CreateAccessKey`
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html>).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/cloudtrail.rs"]
mod cloudtrail;
#[path = "support/emulator.rs"]
mod emulator;
#[path = "support/localstack.rs"]
mod localstack;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/ports.rs"]
#[allow(clippy::duplicate_mod)] // the support modules keep their own copies
mod ports;

use std::collections::{BTreeMap, HashSet};

use breachbook::incident::command::{Command, Dangerous};
use breachbook::incident::event::{Event, Mode, Via};
use breachbook::incident::model::Credential;
use breachbook::incident::ports::{CreatorLog, Inventory, KeyIssuer};
use breachbook::incident::provenance::Provenance;
use breachbook::incident::rules::{self, Next, Work};
use breachbook::incident::state::{Decision, IncidentState};
use breachbook::providers::aws::Aws;
use breachbook::providers::aws::cloudtrail::CloudTrailUsage;
use breachbook::providers::aws::creators::IamCreators;
use breachbook::providers::aws::iam::{IamInventory, IamIssuer};
use breachbook::runbook::schema::{ExposureWindow, IamScope, Runbook, Scope};
use chrono::{DateTime, Utc};
use emulator::Emulator;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const RUNBOOK: &str = include_str!("../runbooks/aws-iam-access-key-leak.yaml");
const ACCOUNT: &str = "123456789012";

/// LookupEvents answering by `EventName`: `CreateAccessKey` events for the keys in
/// `made` (key id → creator ARN and type), one `CreateLoginProfile` by the intruder; any
/// other name (or attribute) finds nothing.
struct Trail {
    made: Vec<(String, String, String, String)>,
    at: DateTime<Utc>,
}

impl Respond for Trail {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let attr = &body["LookupAttributes"][0];
        let events: Vec<Value> = match (
            attr["AttributeKey"].as_str(),
            attr["AttributeValue"].as_str(),
        ) {
            (Some("EventName"), Some("CreateAccessKey")) => self
                .made
                .iter()
                .map(|(key, user, arn, kind)| {
                    cloudtrail::create_access_key(key, user, arn, kind, self.at)
                })
                .collect(),
            (Some("EventName"), Some("CreateLoginProfile")) => vec![cloudtrail::record(
                "CreateLoginProfile",
                self.at,
                &format!("arn:aws:iam::{ACCOUNT}:user/intruder"),
                "IAMUser",
                json!({"requestParameters": {"userName": "backup-svc",
                                             "passwordResetRequired": false}}),
            )],
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

fn state_of(rb: &Runbook, events: &[Event]) -> IncidentState {
    let opening = Event::IncidentOpened {
        id: "attacker".into(),
        mode: Mode::Live,
        runbook: Box::new(rb.clone()),
        runbook_digest: String::new(),
        seed: None,
        speed: None,
        at: Utc::now(),
        read_only: false,
    };
    let now = Utc::now();
    IncidentState::fold(
        std::iter::once((&opening, now, "alice")).chain(events.iter().map(|e| (e, now, "alice"))),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_made_in_the_window_are_judged_by_their_creator() {
    let emu = Emulator::moto();
    let window = ExposureWindow {
        start: chrono::SubsecRound::trunc_subsecs(Utc::now(), 0) - chrono::Duration::hours(1),
        end: None,
    };
    // Every key moto makes now is created during the window.
    let intruders = new_key(&emu, "backup-svc").await;
    let automation = new_key(&emu, "ci-deployer").await;
    let nobody = new_key(&emu, "old-svc").await;
    let ours = new_key(&emu, "reporting-bot").await;

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
                // A key made in the window that the inventory does not list: persistence.
                (
                    "AKIAEXAMPLEOUTSIDE01".into(),
                    "shadow-admin".into(),
                    format!("arn:aws:iam::{ACCOUNT}:user/intruder"),
                    "IAMUser".into(),
                ),
            ],
            at: Utc::now(),
        })
        .mount(&trail)
        .await;

    let aws = Aws::load(&emu.options("us-east-1"), &["us-east-1".to_string()])
        .await
        .unwrap();
    let scope = Scope {
        iam: Some(IamScope {
            users: ["backup-svc", "ci-deployer", "old-svc", "reporting-bot"]
                .map(String::from)
                .to_vec(),
            path_prefix: None,
            stored_in: BTreeMap::new(),
        }),
        known_creators: vec!["arn:aws:iam::*:role/ci-*".into()],
        ..Scope::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    IamInventory::new(&aws)
        .discover(&scope, &window, tx)
        .await
        .unwrap();
    let mut found: Vec<Credential> = Vec::new();
    while let Ok(page) = rx.try_recv() {
        found.extend(page);
    }
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(found.iter().all(|c| !c.exposed));

    let creators =
        IamCreators::new(CloudTrailUsage::new(&cloudtrail::aws_at(&trail).await).with_rate(50));
    let looked = creators.look_up(&window, &found).await.unwrap();
    let reqs = trail.received_requests().await.unwrap();
    let asked: HashSet<String> = reqs
        .iter()
        .map(|r| {
            let b: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(b["LookupAttributes"][0]["AttributeKey"], "EventName");
            assert_eq!(b["StartTime"], window.start.timestamp());
            b["LookupAttributes"][0]["AttributeValue"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for name in [
        "CreateAccessKey",
        "CreateUser",
        "CreateLoginProfile",
        "AttachUserPolicy",
        "PutUserPolicy",
        "UpdateAssumeRolePolicy",
    ] {
        assert!(asked.contains(name), "{name} not looked up: {asked:?}");
    }

    let mut rb: Runbook = breachbook::runbook::load::load_str("iam", RUNBOOK).unwrap();
    rb.exposure_window = window.clone();
    rb.scope.known_creators = scope.known_creators.clone();
    let id_of = |key: &str| found.iter().find(|c| c.key_id == key).unwrap().id.clone();
    let mut events: Vec<Event> = vec![Event::CloudIdentity {
        identity: format!("arn:aws:sts::{ACCOUNT}:assumed-role/Responder/alice"),
    }];
    events.extend(
        found
            .iter()
            .cloned()
            .map(|credential| Event::CredentialDiscovered { credential }),
    );
    events.push(Event::CreatorsFound {
        creators: looked.creators.clone(),
        persistence: looked.persistence.clone(),
        at: Utc::now(),
    });
    // breachbook minted `ours` as the replacement of another key (journaled as issued).
    events.push(Event::Issued {
        credential: id_of(&intruders),
        new_key_id: ours.clone(),
        new_hint: "AKIA…".into(),
        at: Utc::now(),
    });
    let st = state_of(&rb, &events);
    let cs = |key: &str| st.credential(&id_of(key)).unwrap();

    // The intruder's key: suspect, with who, where from.
    let v = st.verdict(cs(&intruders)).unwrap();
    assert!(v.is_suspect(), "{v:?}");
    assert!(
        v.why().contains("user/intruder") && v.why().contains("203.0.113.9"),
        "{}",
        v.why()
    );
    // The automation role's: known.
    let v = st.verdict(cs(&automation)).unwrap();
    assert!(!v.is_suspect(), "{v:?}");
    assert!(v.why().contains("known creator"), "{}", v.why());
    // No event: suspect, and says why.
    let v = st.verdict(cs(&nobody)).unwrap();
    assert!(v.is_suspect(), "{v:?}");
    assert!(v.why().contains("no CreateAccessKey event"), "{}", v.why());
    assert!(matches!(
        looked.creators.iter().find(|(id, _)| *id == id_of(&nobody)),
        Some((_, Provenance::Unknown { .. }))
    ));
    // breachbook's own new key: never suspect, whoever CloudTrail says made it.
    let v = st.verdict(cs(&ours)).unwrap();
    assert!(!v.is_suspect(), "{v:?}");
    assert!(v.why().contains("minted by breachbook"), "{}", v.why());

    // Persistence: the login profile and the key of a user out of scope, by the intruder.
    let review = st.persistence_to_review();
    assert!(
        review
            .iter()
            .any(|f| f.action == "CreateLoginProfile" && f.target.contains("backup-svc")),
        "{review:?}"
    );
    assert!(
        review
            .iter()
            .any(|f| f.action == "CreateAccessKey" && f.target.contains("shadow-admin")),
        "{review:?}"
    );

    // Revoking the suspect: refused without its word, planned with it, done by IAM.
    let in_flight = BTreeMap::new();
    let busy = HashSet::new();
    let work = Work {
        read_only: false,
        now: Utc::now(),
        in_flight: &in_flight,
        busy: &busy,
    };
    let confirm = |word: &str| Command::Confirm {
        target: Dangerous::Revoke {
            credential: id_of(&intruders),
        },
        word: word.into(),
        override_phrase: None,
        via: Via::Tui,
    };
    assert!(rules::check(&st, &work, &confirm("nope")).is_err());
    let word = cs(&intruders).credential.confirmation_word();
    let plan = rules::check(&st, &work, &confirm(&word)).unwrap();
    assert!(matches!(plan.next, Next::Destroy { .. }), "{:?}", plan.next);
    // The automation's key is not revocable as a suspect.
    let not = Command::Confirm {
        target: Dangerous::Revoke {
            credential: id_of(&automation),
        },
        word: cs(&automation).credential.confirmation_word(),
        override_phrase: None,
        via: Via::Tui,
    };
    assert!(rules::check(&st, &work, &not).is_err());
    IamIssuer::new(&aws)
        .revoke(&cs(&intruders).credential)
        .await
        .unwrap();
    let keys = emu
        .iam()
        .list_access_keys()
        .user_name("backup-svc")
        .send()
        .await
        .unwrap();
    let status = keys.access_key_metadata()[0]
        .status()
        .unwrap()
        .as_str()
        .to_string();
    assert_eq!(status, "Inactive");

    // Marking the unknown one known needs a reason, and is journaled.
    let mark = |reason: &str| Command::MarkKnown {
        credential: id_of(&nobody),
        reason: reason.into(),
    };
    assert!(rules::check(&st, &work, &mark("  ")).is_err());
    let plan = rules::check(&st, &work, &mark("made by Dana for the backup job")).unwrap();
    let mut after = events.clone();
    after.extend(plan.events);
    let st2 = state_of(&rb, &after);
    let c = st2.credential(&id_of(&nobody)).unwrap();
    assert!(!st2.is_suspect(c));
    assert!(matches!(st2.decision(c), Decision::MarkedKnown(m) if m.by == "alice"));
}
