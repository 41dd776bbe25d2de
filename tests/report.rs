//! The post-incident report: a state folded from hand-made events (fixed times, so the
//! Markdown is snapshotted as it is), the mistakes it names, its JSON form, and no secret
//! in either — plus the report of a real scripted drill with a mistake.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use breachbook::incident::event::{DangerKind, Event, Mode, Score, Via};
use breachbook::incident::journal::{ChainHead, Journal, list};
use breachbook::incident::model::{Credential, KeyGeneration, Location, LocationKind, UsageSample};
use breachbook::incident::report::{self, Integrity};
use breachbook::incident::state::IncidentState;
use breachbook::runbook::schema::{Issuer, Runbook};
use chrono::{DateTime, Duration, Utc};

/// A small runbook of its own, so the snapshot does not move when shipped runbooks do.
const RUNBOOK: &str = r#"
version: 1
name: test-vendor-breach
title: Test keys exposed in a vendor breach
severity: critical
exposure_window:
  start: 2026-05-12T00:00:00Z
scope:
  secrets_manager:
    regions: [us-east-1]
    name_prefixes: [prod/ai/]
steps:
  - id: declare
    title: Declare the incident
    action: manual
    instructions: Open the channel.
    checklist:
      - Channel open
  - id: inventory
    title: Find every exposed key
    action: inventory
    instructions: List them.
  - id: rotate
    title: Mint new keys
    action: rotate
    instructions: Mint them.
  - id: verify
    title: Test the new keys
    action: verify
    instructions: Test them.
  - id: propagate
    title: Roll the new keys out
    action: propagate
    instructions: Roll them out.
  - id: revoke
    title: Revoke the old keys
    action: revoke
    instructions: One at a time.
  - id: monitor
    title: Watch the old keys fail
    action: monitor
    instructions: Watch.
  - id: report
    title: Write the report
    action: report
    instructions: Write it.
"#;

/// A key value as a provider might echo it in an error message. Never in a report.
const LEAKED: &str = "sk-test-0123456789abcdef0123456789abcdef01234567";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-13T00:00:00Z")
        .unwrap()
        .into()
}

/// Drill clock `m` minutes and `s` seconds after opening.
fn at(m: i64, s: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(m) + Duration::seconds(s)
}

fn runbook() -> Runbook {
    serde_saphyr::from_str::<Runbook>(RUNBOOK).unwrap()
}

fn cred(id: &str, issuer: Issuer, name: &str, hint: &str, exposed: bool) -> Credential {
    let loc = |kind, name: &str, field: Option<&str>| Location {
        kind,
        name: name.into(),
        field: field.map(str::to_string),
        region: None,
        account: None,
        changed: None,
    };
    let mut locations = vec![loc(
        LocationKind::SecretsManager,
        "prod/ai/providers",
        Some(match issuer {
            Issuer::Anthropic => "ANTHROPIC_API_KEY",
            Issuer::Gemini => "GEMINI_API_KEY",
            _ => "OPENAI_API_KEY",
        }),
    )];
    if id == "openai/openai-prod" {
        locations.push(loc(LocationKind::Braintrust, "OPENAI_API_KEY", None));
    }
    Credential {
        id: id.into(),
        issuer,
        key_id: format!("key_{name}_0001"),
        name: name.into(),
        hint: hint.into(),
        created: Some(at(-60 * 24 * 30, 0)),
        last_used: None,
        locations,
        exposed,
        exposure_reason: if exposed {
            "in breached scope, unchanged since the window began".into()
        } else {
            "changed after the window began".into()
        },
        fingerprint: None,
        meta: Default::default(),
    }
}

const OPENAI: &str = "openai/openai-prod";
const ANTHROPIC: &str = "anthropic/anthropic-prod";

fn opening() -> Vec<Event> {
    vec![
        Event::IncidentOpened {
            id: "20260513-000000-test-vendor-breach-ab12".into(),
            mode: Mode::Drill,
            runbook: Box::new(runbook()),
            runbook_digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                .into(),
            seed: Some(7),
            speed: Some(10.0),
            at: t0(),
            read_only: false,
        },
        Event::CloudIdentity {
            identity: "arn:aws:sts::000000000000:assumed-role/drill-responder/alice".into(),
        },
        Event::StepStarted {
            step: "declare".into(),
            at: t0(),
        },
        Event::ChecklistTicked {
            step: "declare".into(),
            item: 0,
            checked: true,
        },
        Event::StepCompleted {
            step: "declare".into(),
            at: at(0, 5),
        },
        Event::StepStarted {
            step: "inventory".into(),
            at: at(0, 10),
        },
        Event::CredentialDiscovered {
            credential: cred(OPENAI, Issuer::Openai, "openai-prod", "sk-…ce79", true),
        },
        Event::CredentialDiscovered {
            credential: cred(
                ANTHROPIC,
                Issuer::Anthropic,
                "anthropic-prod",
                "sk-…1943",
                true,
            ),
        },
        Event::CredentialDiscovered {
            credential: cred(
                "openai/openai-eval",
                Issuer::Openai,
                "openai-eval",
                "sk-…e5b5",
                false,
            ),
        },
        Event::StepCompleted {
            step: "inventory".into(),
            at: at(0, 20),
        },
    ]
}

/// Issue, stage and verify both exposed keys; one staging attempt is throttled once.
fn rotate_and_verify() -> Vec<Event> {
    let mut v = vec![Event::StepStarted {
        step: "rotate".into(),
        at: at(1, 0),
    }];
    for (c, new_hint) in [(OPENAI, "sk-…n3w1"), (ANTHROPIC, "sk-…n3w2")] {
        v.push(Event::IssueRequested {
            credential: c.into(),
            token: format!("tok-{c}"),
            at: None,
        });
        v.push(Event::Issued {
            credential: c.into(),
            new_key_id: format!("{c}-new"),
            new_hint: new_hint.into(),
            at: at(1, 5),
        });
        if c == ANTHROPIC {
            v.push(Event::AttemptFailed {
                credential: Some(c.into()),
                step: "rotate".into(),
                operation: "stage".into(),
                attempt: 1,
                why: "Secrets Manager is throttling requests (429)".into(),
                retryable: true,
            });
        }
        v.push(Event::Staged {
            credential: c.into(),
            location: "sm:prod/ai/providers".into(),
            version: "v-2".into(),
            at: at(1, 10),
        });
    }
    v.push(Event::StepCompleted {
        step: "rotate".into(),
        at: at(1, 10),
    });
    v.push(Event::StepStarted {
        step: "verify".into(),
        at: at(2, 0),
    });
    for c in [OPENAI, ANTHROPIC] {
        v.push(Event::Verified {
            credential: c.into(),
            at: at(2, 5),
        });
    }
    v.push(Event::StepCompleted {
        step: "verify".into(),
        at: at(2, 5),
    });
    v
}

fn propagate(c: &str, base: i64) -> Vec<Event> {
    let mut v = vec![
        Event::Promoted {
            credential: c.into(),
            at: at(base, 0),
        },
        Event::LocationUpdated {
            credential: c.into(),
            location: if c == OPENAI {
                "sm:prod/ai/providers#OPENAI_API_KEY".into()
            } else {
                "sm:prod/ai/providers#ANTHROPIC_API_KEY".into()
            },
            updated_at: at(base, 0),
        },
    ];
    if c == OPENAI {
        v.push(Event::LocationUpdated {
            credential: c.into(),
            location: "braintrust:OPENAI_API_KEY".into(),
            updated_at: at(base, 4),
        });
    }
    v.push(Event::Propagated {
        credential: c.into(),
        at: at(base, 5),
    });
    v
}

fn revoke(c: &str, m: i64) -> Vec<Event> {
    vec![
        // Typed 15 seconds before the provider answered.
        Event::ConfirmationGiven {
            credential: c.into(),
            action: DangerKind::Revoke,
            via: Via::Tui,
            at: Some(at(m - 1, 45)),
        },
        Event::RevokeRequested {
            credential: c.into(),
        },
        Event::Revoked {
            credential: c.into(),
            at: at(m, 0),
        },
    ]
}

fn old_key_usage(c: &str, m: i64, ok: u32, denied: u32, from: &str) -> Event {
    Event::UsageObserved {
        sample: UsageSample {
            credential: c.into(),
            generation: KeyGeneration::Old,
            minute: at(m, 0),
            ok,
            denied,
            sources: vec![from.into()],
        },
    }
}

/// A report's journal for states folded from hand-made events: intact, at a fixed head.
fn intact() -> Integrity {
    Integrity::intact(ChainHead {
        seq: 42,
        hash: "ab".repeat(32),
    })
}

fn fold(events: &[Event]) -> IncidentState {
    // Wall clock: one second per record after the drill start, so nothing depends on now.
    let walls: Vec<DateTime<Utc>> = (0..events.len())
        .map(|i| t0() + Duration::seconds(i as i64))
        .collect();
    let st = IncidentState::fold(events.iter().zip(&walls).map(|(e, w)| (e, *w, "alice"))).unwrap();
    assert!(st.anomalies.is_empty(), "{:?}", st.anomalies);
    st
}

/// A careful responder: everything in order, one wrong word typed, one old key still tried
/// by the attacker after its revocation and refused.
fn careful() -> Vec<Event> {
    let mut v = opening();
    v.extend(rotate_and_verify());
    v.push(Event::StepStarted {
        step: "propagate".into(),
        at: at(3, 0),
    });
    v.extend(propagate(OPENAI, 3));
    v.extend(propagate(ANTHROPIC, 4));
    v.push(Event::StepCompleted {
        step: "propagate".into(),
        at: at(4, 5),
    });
    v.push(old_key_usage(
        ANTHROPIC,
        4,
        131,
        0,
        "203.0.113.45 (unknown ASN)",
    ));
    v.push(Event::Alarm {
        credential: Some(ANTHROPIC.into()),
        generation: Some(KeyGeneration::Old),
        message: "ALARM: old key of anthropic-prod still used after its replacement was promoted (131 calls from 203.0.113.45)".into(),
        at: at(4, 30),
    });
    v.push(Event::StepStarted {
        step: "revoke".into(),
        at: at(5, 0),
    });
    v.push(Event::ConfirmationRefused {
        credential: OPENAI.into(),
        action: DangerKind::Revoke,
        why: "`ce97` is not the confirmation word for openai-prod".into(),
        at: Some(at(5, 30)),
    });
    v.extend(revoke(OPENAI, 6));
    v.extend(revoke(ANTHROPIC, 8));
    v.push(old_key_usage(
        ANTHROPIC,
        9,
        0,
        57,
        "203.0.113.45 (unknown ASN)",
    ));
    v.push(Event::StepCompleted {
        step: "revoke".into(),
        at: at(8, 0),
    });
    v.push(Event::InjectArrived {
        message: "Support: a customer reports a usage spike on the OpenAI bill.".into(),
        at: at(9, 0),
    });
    v.push(Event::StepStarted {
        step: "monitor".into(),
        at: at(10, 0),
    });
    for (c, m) in [(OPENAI, 21), (ANTHROPIC, 23)] {
        v.push(Event::ConfirmedDead {
            credential: c.into(),
            at: at(m, 0),
        });
    }
    v.push(Event::StepCompleted {
        step: "monitor".into(),
        at: at(23, 0),
    });
    v.push(Event::Note {
        text: "billing confirmed the spike stopped".into(),
    });
    v.push(Event::StepStarted {
        step: "report".into(),
        at: at(24, 0),
    });
    v.push(Event::DrillEnded {
        score: Score {
            time_to_contain_secs: Some(480),
            exposed: 2,
            revoked: 2,
            attacker_calls_after_revoke: 0,
            consumer_errors: 0,
            skipped_checks: 0,
            points: 100,
            attacker_calls_while_known: 0,
            replacement_wait_secs: 0,
            mistakes: vec![],
        },
        at: at(24, 0),
    });
    v.push(Event::StepCompleted {
        step: "report".into(),
        at: at(24, 0),
    });
    v
}

/// A responder in a hurry: revokes openai-prod with the override right after verifying,
/// before its new key reached Braintrust; chat-api breaks until the rollout.
fn hurried() -> Vec<Event> {
    let mut v = opening();
    v.extend(rotate_and_verify());
    v.push(Event::StepStarted {
        step: "revoke".into(),
        at: at(2, 30),
    });
    v.push(Event::OverrideGiven {
        credential: OPENAI.into(),
        failed_checks: vec![
            "new key promoted to current".into(),
            "every location updated (0 of 2)".into(),
        ],
        via: Via::Tui,
        at: Some(at(2, 0)),
    });
    v.extend(revoke(OPENAI, 2));
    v.push(Event::ConsumerFailed {
        consumer: "chat-api".into(),
        credential: OPENAI.into(),
        errors: 40,
        at: at(3, 0),
    });
    v.push(Event::StepStarted {
        step: "propagate".into(),
        at: at(4, 0),
    });
    v.extend(propagate(OPENAI, 4));
    v.extend(propagate(ANTHROPIC, 4));
    v.push(Event::StepCompleted {
        step: "propagate".into(),
        at: at(4, 5),
    });
    v.push(Event::StepSkipped {
        step: "monitor".into(),
        why: "no time".into(),
        at: at(5, 0),
    });
    v
}

#[test]
fn snapshot_of_a_careful_drill() {
    let st = fold(&careful());
    let md = report::markdown(&st, &intact());
    insta::assert_snapshot!("careful_drill_markdown", md);
}

#[test]
fn the_summary_counts_and_times_are_right() {
    let st = fold(&careful());
    assert_eq!(
        report::time_to_contain(&st),
        Some(std::time::Duration::from_secs(8 * 60))
    );
    assert_eq!(
        report::exposure_duration(&st),
        Some(std::time::Duration::from_secs(24 * 3600 + 8 * 60))
    );
    assert!(
        report::mistakes(&st).is_empty(),
        "{:?}",
        report::mistakes(&st)
    );
    let md = report::markdown(&st, &intact());
    for want in [
        "Time to contain (incident opened → last exposed key revoked): **8m00s**",
        "Keys found: 3; exposed: 2; rotated (new key everywhere): 2; revoked: 2 (confirmed dead: 2); skipped: 0; failed: 0",
        "2 typed, 0 override(s), 1 refused",
        "| openai-prod | yes |",
        "| 2026-05-13T00:06:00Z | 24h06m | confirmed-dead |",
        "| anthropic-prod | 2026-05-13T00:08:00Z | 57 | 0 |",
        "not exposed, left alone",
        "Mistakes: none recorded",
    ] {
        assert!(md.contains(want), "missing {want:?} in\n{md}");
    }
}

#[test]
fn a_revoke_with_override_before_propagation_is_named_as_a_mistake() {
    let st = fold(&hurried());
    let mistakes = report::mistakes(&st);
    let text = mistakes.join("\n");
    assert!(
        text.contains("alice typed the override for openai-prod"),
        "{text}"
    );
    assert!(
        text.contains(
            "revoke before propagation: the old key of openai-prod was revoked at 2026-05-13T00:02:00Z, but its replacement reached every location only at 2026-05-13T00:04:05Z"
        ),
        "{text}"
    );
    assert!(
        text.contains("consumer outage") && text.contains("40 call(s)"),
        "{text}"
    );
    assert!(text.contains("critical step `monitor`"), "{text}");
    assert!(
        text.contains("exposed key anthropic-prod was still not revoked"),
        "{text}"
    );
    assert!(
        !text.contains("anthropic-prod was revoked"),
        "a key revoked in order is no mistake: {text}"
    );

    let md = report::markdown(&st, &intact());
    assert!(md.contains("(revoked BEFORE propagation)"), "{md}");
    assert!(md.contains("| **OVERRIDE** | openai-prod | tui |"), "{md}");
    assert!(
        md.contains("**not contained**: 1 exposed key(s) not revoked: anthropic-prod"),
        "{md}"
    );
    for m in &mistakes {
        assert!(md.contains(m.as_str()), "mistake not in the Markdown: {m}");
    }

    let j = report::json(&st, &intact());
    let openai = &j["credentials"][0];
    assert_eq!(openai["name"], "openai-prod");
    assert_eq!(openai["revoked_before_propagation"], true);
    assert_eq!(j["credentials"][1]["revoked_before_propagation"], false);
    assert_eq!(j["summary"]["overrides"], 1);
    assert_eq!(
        j["summary"]["time_to_contain_secs"],
        serde_json::Value::Null
    );
    assert_eq!(j["mistakes"].as_array().unwrap().len(), mistakes.len());
}

#[test]
fn json_has_the_same_content_with_second_precision_utc_times() {
    let st = fold(&careful());
    let j = report::json(&st, &intact());
    assert_eq!(j["incident"], "20260513-000000-test-vendor-breach-ab12");
    assert_eq!(j["mode"], "drill");
    assert_eq!(j["opened"], "2026-05-13T00:00:00Z");
    assert_eq!(j["exposure_window"]["start"], "2026-05-12T00:00:00Z");
    assert_eq!(j["summary"]["time_to_contain_secs"], 480);
    assert_eq!(j["summary"]["refused_confirmations"], 1);
    assert_eq!(j["summary"]["retried_attempts"], 1);
    let openai = &j["credentials"][0];
    assert_eq!(openai["old_hint"], "sk-…ce79");
    assert_eq!(openai["new_hint"], "sk-…n3w1");
    assert_eq!(openai["revoked"], "2026-05-13T00:06:00Z");
    assert_eq!(openai["exposed_to_revoked_secs"], 24 * 3600 + 6 * 60);
    let anthropic = &j["credentials"][1];
    assert_eq!(anthropic["old_key_after_revoke"]["denied"], 57);
    assert_eq!(j["confirmations"][0]["operator"], "alice");
    assert_eq!(j["confirmations"][0]["via"], "tui");
    assert_eq!(j["score"]["points"], 100);
    assert!(j["timeline"].as_array().unwrap().len() > 20);
    // Every time-like string is RFC 3339 UTC with whole seconds.
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) if s.starts_with("2026-") => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut times = Vec::new();
    walk(&j, &mut times);
    assert!(times.len() > 30);
    for s in times {
        assert_eq!(s.len(), 20, "{s}");
        assert!(
            s.ends_with('Z') && DateTime::parse_from_rfc3339(&s).is_ok(),
            "{s}"
        );
    }
}

#[test]
fn no_secret_in_the_report_even_when_a_provider_echoes_one() {
    let mut events = careful();
    events.insert(
        14,
        Event::AttemptFailed {
            credential: Some(OPENAI.into()),
            step: "rotate".into(),
            operation: "stage".into(),
            attempt: 1,
            why: format!("401 Incorrect API key provided: {LEAKED}"),
            retryable: false,
        },
    );
    let st = fold(&events);
    let md = report::markdown(&st, &intact());
    let json = report::json(&st, &intact()).to_string();
    for out in [&md, &json] {
        assert!(!out.contains(&LEAKED[8..]), "secret in report:\n{out}");
        assert!(out.contains("401 Incorrect API key provided"), "{out}");
        assert!(out.contains("sk-…ce79"), "hints stay");
    }
}

#[test]
fn the_shipped_vendor_breach_runbook_reports() {
    let rb = serde_saphyr::from_str::<Runbook>(include_str!(
        "../runbooks/ai-provider-keys-vendor-breach.yaml"
    ))
    .unwrap();
    let open = Event::IncidentOpened {
        id: "inc".into(),
        mode: Mode::Live,
        runbook: Box::new(rb.clone()),
        runbook_digest: String::new(),
        seed: None,
        speed: None,
        at: t0(),
        read_only: false,
    };
    let st = fold(&[open]);
    let md = report::markdown(&st, &intact());
    assert!(
        md.starts_with(&format!("# Post-incident report: {}", rb.title)),
        "{md}"
    );
    assert!(md.contains("| Mode | LIVE |"));
    assert!(
        !md.contains("| Clock |"),
        "no drill clock in a live incident"
    );
    assert!(md.contains("No credential was found"));
    assert!(md.contains("Time to contain: — (no exposed key found)"));
}

/// The real binary plays the shipped script that revokes before propagation; the report
/// of that journal names the mistake and the outage.
#[test]
fn the_report_of_a_scripted_drill_with_a_mistake_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scripts/revoke-before-propagate.yaml"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .args(["drill", "--headless", "--seed", "7", "--script", script])
        .env("BREACHBOOK_STATE_DIR", tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = list(tmp.path()).unwrap()[0].id.clone();
    let (records, recovery) = Journal::read(tmp.path(), &id).unwrap();
    assert!(recovery.is_clean(), "{recovery:?}");
    let st = IncidentState::fold(
        records
            .iter()
            .map(|r| (&r.event, r.time, r.operator.user.as_str())),
    )
    .unwrap();
    let md = report::markdown(&st, &Integrity::of(&records, &recovery));
    assert!(
        md.contains(&format!("chain head `{}`", ChainHead::of(&records).hash)),
        "{md}"
    );
    assert!(
        md.contains("revoke before propagation: the old key of openai-prod was revoked at"),
        "{md}"
    );
    assert!(md.contains("typed the override for openai-prod"), "{md}");
    assert!(
        md.contains("consumer outage: legitimate services failed"),
        "{md}"
    );
    assert!(md.contains("(revoked BEFORE propagation)"), "{md}");
    assert!(
        !md.contains("sk-test-") && !md.contains("sk-ant-test-"),
        "{md}"
    );
}

/// What an incident commander pastes: confirmations at their own time, one definition of
/// time to contain, skipped steps never counted done, the window's end once contained,
/// the timeline in time order, retries summed up, the attacker, notes and action items.
#[test]
fn a_report_an_incident_commander_can_paste() {
    let mut events = careful();
    // A dozen throttled calls, all retried.
    for i in 0..12 {
        events.insert(
            14,
            Event::AttemptFailed {
                credential: Some(OPENAI.into()),
                step: "propagate".into(),
                operation: "promote".into(),
                attempt: i % 3 + 1,
                why: "Secrets Manager is throttling requests: Rate exceeded".into(),
                retryable: true,
            },
        );
    }
    let n = events.len();
    events.insert(
        n - 3,
        Event::OperatorNote {
            text: "billing confirmed the spike stopped | paged Dana".into(),
            at: at(22, 0),
        },
    );
    let st = fold(&events);
    let md = report::markdown(&st, &intact());
    // The confirmation's own time, not the event before it.
    assert!(
        md.contains("| 2026-05-13T00:05:45Z | alice | revoke | openai-prod | tui | — |"),
        "{md}"
    );
    // One definition of time to contain, in the summary and the score alike.
    assert_eq!(
        md.matches("incident opened → last exposed key revoked")
            .count(),
        2,
        "{md}"
    );
    assert!(!md.contains("drill start →"), "{md}");
    // The window is closed by the containment.
    assert!(
        md.contains("| Exposure window | 2026-05-12T00:00:00Z → 2026-05-13T00:08:00Z (contained: last exposed key revoked) |"),
        "{md}"
    );
    // Retries summed up, not a table of twelve rows.
    assert!(
        md.contains("13 failed call(s) were retried by themselves"),
        "{md}"
    );
    assert!(
        md.contains("- Secrets Manager is throttling requests ×12: `propagate` promote"),
        "{md}"
    );
    assert!(!md.contains("| propagate | promote |"), "{md}");
    // The timeline is in time order.
    let times: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("- `2026-"))
        .map(|l| &l[3..23])
        .collect();
    assert!(times.len() > 30);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // The attacker, the notes (a `|` does not break the table) and the action items.
    assert!(
        md.contains("| anthropic-prod | 203.0.113.45 (unknown ASN) | 131 | 57 | 131 | 0 / 57 | 2026-05-13T00:04:00Z | 2026-05-13T00:09:00Z |"),
        "{md}"
    );
    assert!(
        md.contains(
            "| 2026-05-13T00:22:00Z | alice | billing confirmed the spike stopped \\| paged Dana |"
        ),
        "{md}"
    );
    assert!(md.contains("## Action items"), "{md}");
    let j = report::json(&st, &intact());
    assert_eq!(j["notes"][0]["operator"], "alice");
    assert_eq!(j["retried_failures"][0]["count"], 12);
    assert_eq!(j["exposure_window"]["contained_at"], "2026-05-13T00:08:00Z");
    assert_eq!(j["attacker_activity"][0]["ok"], 131);

    // Skipped is never "done": the hurried responder skipped the watch.
    let st = fold(&hurried());
    let md = report::markdown(&st, &intact());
    assert!(md.contains("| Steps | 8 steps: "), "{md}");
    assert!(md.contains("1 skipped"), "{md}");
    assert!(!md.contains("8 done"), "{md}");
    assert!(md.contains("→ open (1 exposed key(s) not revoked)"), "{md}");
    let items = report::action_items(&st).join("\n");
    for want in [
        "critical step “Watch the old keys fail” was skipped (no time)",
        "review the override alice typed for openai-prod",
        "exposed key anthropic-prod (sk-…1943) is still alive",
    ] {
        assert!(items.contains(want), "{want}: {items}");
    }
    let j = report::json(&st, &intact());
    assert_eq!(j["summary"]["steps_skipped"], 1);
}

/// Keys made in the window (one by a stranger revoked after its word, one marked known, one
/// by a known creator, one still undecided) and a login profile the stranger added: the
/// "Created during the exposure window" section in Markdown, JSON and HTML alike, each with
/// its creator, the decision and who made it.
fn made_in_the_window() -> Vec<Event> {
    use breachbook::incident::provenance::{Creator, PersistenceFinding, Provenance};
    let mut v = careful();
    let made = |id: &str, name: &str, hint: &str| {
        let mut c = cred(id, Issuer::AwsIam, name, hint, false);
        c.created = Some(at(-60, 0));
        c.locations.clear();
        c
    };
    let by = |who: &str, ip: Option<&str>| Creator {
        identity: who.into(),
        kind: Some("IAMUser".into()),
        source_ip: ip.map(str::to_string),
        at: Some(at(-60, 0)),
        with_key: None,
        event: "CreateAccessKey".into(),
    };
    for (id, name, hint) in [
        ("iam/backdoor", "backdoor", "AKIA…BD01"),
        ("iam/dana", "dana-backup", "AKIA…DA01"),
        ("iam/ci", "ci-deployer", "AKIA…C101"),
        ("iam/quiet", "quiet", "AKIA…QU01"),
    ] {
        v.push(Event::CredentialDiscovered {
            credential: made(id, name, hint),
        });
    }
    v.push(Event::CreatorsFound {
        creators: vec![
            (
                "iam/backdoor".into(),
                Provenance::Creator {
                    creator: by(
                        "arn:aws:iam::000000000000:user/intruder",
                        Some("203.0.113.9"),
                    ),
                },
            ),
            (
                "iam/dana".into(),
                Provenance::Unknown {
                    why: "no CreateAccessKey event".into(),
                },
            ),
            (
                "iam/ci".into(),
                Provenance::Creator {
                    creator: by(
                        "arn:aws:sts::000000000000:assumed-role/ci-rotator/job",
                        None,
                    ),
                },
            ),
            (
                "iam/quiet".into(),
                Provenance::Unknown {
                    why: "no CreateAccessKey event".into(),
                },
            ),
        ],
        persistence: vec![PersistenceFinding {
            issuer: "AWS IAM".into(),
            action: "CreateLoginProfile".into(),
            target: "user backup-svc".into(),
            creator: by(
                "arn:aws:iam::000000000000:user/intruder",
                Some("203.0.113.9"),
            ),
        }],
        at: at(1, 0),
    });
    v.push(Event::MarkedKnown {
        credential: "iam/dana".into(),
        reason: "Dana made it for the backup job".into(),
        at: at(9, 0),
    });
    v.extend(revoke("iam/backdoor", 10));
    v
}

fn with_known_ci(mut events: Vec<Event>) -> Vec<Event> {
    if let Event::IncidentOpened { runbook, .. } = &mut events[0] {
        runbook.scope.known_creators = vec!["ci-rotator".into()];
    }
    events
}

#[test]
fn keys_made_in_the_window_are_in_every_report_format_with_their_decision() {
    let st = fold(&with_known_ci(made_in_the_window()));
    let md = report::markdown(&st, &intact());
    assert!(md.contains("## Created during the exposure window"), "{md}");

    let j = report::json(&st, &intact());
    let section = &j["created_during_window"];
    let keys = section["keys"].as_array().unwrap();
    let key = |name: &str| {
        keys.iter()
            .find(|k| k["credential"] == name)
            .unwrap_or_else(|| panic!("{name} not in {section:#}"))
    };
    let b = key("backdoor");
    assert_eq!(b["creator"], "arn:aws:iam::000000000000:user/intruder");
    assert_eq!(b["source_ip"], "203.0.113.9");
    assert_eq!(b["verdict"], "suspect");
    assert_eq!(b["decision"], "revoked");
    assert_eq!(b["decided_by"], "alice");
    assert_eq!(b["decided_at"], "2026-05-13T00:10:00Z");
    let d = key("dana-backup");
    assert_eq!(d["creator"], "unknown");
    assert_eq!(d["verdict"], "known");
    assert_eq!(d["decision"], "marked_known");
    assert_eq!(d["decided_by"], "alice");
    assert!(
        d["decision_text"]
            .as_str()
            .unwrap()
            .contains("Dana made it for the backup job"),
        "{d}"
    );
    let c = key("ci-deployer");
    assert_eq!(
        (c["verdict"].as_str(), c["decision"].as_str()),
        (Some("known"), Some("not_needed"))
    );
    assert!(c["why"].as_str().unwrap().contains("known creator"), "{c}");
    let q = key("quiet");
    assert_eq!(
        (q["verdict"].as_str(), q["decision"].as_str()),
        (Some("suspect"), Some("open"))
    );
    assert!(
        q["why"]
            .as_str()
            .unwrap()
            .contains("no CreateAccessKey event"),
        "{q}"
    );
    assert!(q["decided_by"].is_null());
    let p = &section["persistence"][0];
    assert_eq!(p["action"], "CreateLoginProfile");
    assert_eq!(p["target"], "user backup-svc");
    assert_eq!(p["creator"], "arn:aws:iam::000000000000:user/intruder");
    assert_eq!(p["review"], true);

    let html = report::html(&st, &intact());
    let at_section = html
        .find("<h2>Created during the exposure window</h2>")
        .expect("the section is in the HTML");
    let section_html = &html[at_section..];
    let section_html = &section_html[..section_html[4..]
        .find("<h2>")
        .map(|i| i + 4)
        .unwrap_or(section_html.len())];
    for needle in [
        "backdoor",
        "arn:aws:iam::000000000000:user/intruder",
        "203.0.113.9",
        "SUSPECT",
        "revoked 2026-05-13T00:10:00Z",
        "marked known",
        "Dana made it for the backup job",
        "undecided: still active",
        "CreateLoginProfile",
        "review: unknown identity",
        "<td>alice</td>",
    ] {
        assert!(
            section_html.contains(needle),
            "{needle} not in {section_html}"
        );
    }

    // A report of an incident where nothing was made in the window has no such section.
    let plain = fold(&careful());
    assert!(
        report::json(&plain, &intact())
            .get("created_during_window")
            .is_none()
    );
    assert!(!report::html(&plain, &intact()).contains("Created during the exposure window"));
}
