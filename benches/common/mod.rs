//! The incident the benchmarks measure: the shipped vendor-breach runbook with `n` exposed
//! keys in Secrets Manager and `series` of them with a usage series, as journal events with
//! fixed drill-clock times (the same bytes on every run). Test keys only: no value is made.

use breachbook::incident::event::{Event, Mode};
use breachbook::incident::model::{Credential, KeyGeneration, Location, LocationKind, UsageSample};
use breachbook::incident::state::IncidentState;
use breachbook::runbook::schema::{Issuer, Runbook};
use chrono::{DateTime, Duration, Utc};

pub const RUNBOOK: &str = include_str!("../../runbooks/ai-provider-keys-vendor-breach.yaml");

/// The drill clock, `min` minutes in.
pub fn at(min: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_779_494_400, 0).unwrap_or_default() + Duration::minutes(min)
}

fn issuer(i: usize) -> Issuer {
    [
        Issuer::Openai,
        Issuer::Anthropic,
        Issuer::Gemini,
        Issuer::Braintrust,
    ][i % 4]
}

fn credential(i: usize) -> Credential {
    let issuer = issuer(i);
    let name = format!("svc-{i:05}");
    Credential {
        id: format!("{}/{name}", issuer.label().to_lowercase()),
        issuer,
        key_id: format!("key_{i:016x}"),
        name: name.clone(),
        hint: format!("sk-…{:04x}", i % 0xffff),
        created: Some(at(0) - Duration::days(30 + (i % 300) as i64)),
        last_used: Some(at(0) - Duration::minutes((i % 90) as i64)),
        locations: vec![Location {
            kind: LocationKind::SecretsManager,
            name: format!("prod/ai/{name}"),
            field: Some("API_KEY".into()),
            region: Some("us-east-1".into()),
            account: None,
            changed: Some(at(0) - Duration::days(30)),
        }],
        exposed: !i.is_multiple_of(10),
        exposure_reason: "stored in breached scope, unchanged since the window opened".into(),
        fingerprint: Some(format!("{:012x}", i.wrapping_mul(0x9e37_79b9))),
        meta: Default::default(),
    }
}

/// The opening, `n` keys found by the inventory, then `minutes` of usage for `series` of them.
pub fn events(n: usize, series: usize, minutes: i64) -> Vec<Event> {
    let runbook: Runbook = serde_saphyr::from_str(RUNBOOK).unwrap_or_else(|e| panic!("{e}"));
    let mut events = vec![
        Event::IncidentOpened {
            id: "bench".into(),
            mode: Mode::Drill,
            runbook: Box::new(runbook),
            runbook_digest: "0".repeat(64),
            seed: Some(7),
            speed: Some(10.0),
            at: at(0),
            read_only: false,
        },
        Event::StepStarted {
            step: "inventory".into(),
            at: at(0),
        },
    ];
    events.extend((0..n).map(|i| Event::CredentialDiscovered {
        credential: credential(i),
    }));
    events.push(Event::StepCompleted {
        step: "inventory".into(),
        at: at(1),
    });
    let ids: Vec<String> = (0..series.min(n)).map(|i| credential(i).id).collect();
    for m in 1..=minutes {
        for (i, id) in ids.iter().enumerate() {
            events.push(Event::UsageObserved {
                sample: UsageSample {
                    credential: id.clone(),
                    generation: KeyGeneration::Old,
                    minute: at(m),
                    ok: 10 + (i as u32 + m as u32) % 40,
                    denied: u32::from(m % 7 == 0),
                    sources: vec![format!("10.0.{}.{} (svc)", i % 250, m % 250)],
                },
            });
        }
    }
    events
}

/// The state those events fold to.
pub fn state(events: &[Event]) -> IncidentState {
    IncidentState::fold(events.iter().map(|e| (e, at(0), "responder")))
        .unwrap_or_else(|| panic!("the first event opens the incident"))
}
