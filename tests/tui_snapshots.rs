//! The screen on ratatui's TestBackend: whole-screen insta snapshots at 120×40 and 80×24, and
//! key handling driven through `App::handle_key`, asserting the commands the engine would get.
//!
//! The incident state is folded from hand-made journal events with fixed drill-clock times
//! (the shipped vendor-breach runbook, parsed with serde-saphyr), so snapshots are the same
//! on every run and on every machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use breachbook::incident::command::{Command, Dangerous, Update};
use breachbook::incident::event::{DangerKind, Event, Mode, Operator, Score, Via};
use breachbook::incident::model::{Credential, KeyGeneration, Location, LocationKind, UsageSample};
use breachbook::incident::state::IncidentState;
use breachbook::runbook::schema::{Issuer, Runbook};
use breachbook::tui::keymap::BINDINGS;
use breachbook::tui::theme::Theme;
use breachbook::tui::{App, Modal, Panel, render};
use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const RUNBOOK: &str = include_str!("../runbooks/ai-provider-keys-vendor-breach.yaml");
const OPERATOR: &str = "responder";
const OPENAI: &str = "openai/openai-prod";
const ANTHROPIC: &str = "anthropic/anthropic-prod";
const GEMINI: &str = "gemini/gemini-prod";
const EVAL: &str = "openai/openai-eval";

// ── The incident, as journal events ─────────────────────────────────────────────────────

/// Drill clock: the drill starts 11 days after the exposure window opened.
fn at(min: i64, sec: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_779_494_400 + min * 60 + sec, 0).unwrap()
}

fn days_before(days: i64) -> DateTime<Utc> {
    at(0, 0) - chrono::Duration::days(days)
}

fn sm(secret: &str, field: Option<&str>, created: DateTime<Utc>) -> Location {
    Location {
        kind: LocationKind::SecretsManager,
        name: secret.into(),
        field: field.map(str::to_string),
        region: Some("us-east-1".into()),
        account: None,
        changed: Some(created),
    }
}

fn braintrust(secret: &str, created: DateTime<Utc>) -> Location {
    Location {
        kind: LocationKind::Braintrust,
        name: secret.into(),
        field: None,
        region: None,
        account: None,
        changed: Some(created),
    }
}

fn credentials() -> Vec<Credential> {
    let exposed_why = "stored in breached scope, unchanged since the window opened 2026-05-12";
    let c = |id: &str,
             issuer: Issuer,
             key_id: &str,
             hint: &str,
             age: i64,
             locations: Vec<Location>,
             exposed: bool,
             fp: &str| Credential {
        id: id.into(),
        issuer,
        key_id: key_id.into(),
        name: id.split('/').nth(1).unwrap().into(),
        hint: hint.into(),
        created: Some(days_before(age)),
        last_used: Some(at(0, 0) - chrono::Duration::minutes(2)),
        locations,
        exposed,
        exposure_reason: if exposed {
            exposed_why.into()
        } else {
            "created after the exposure window opened".into()
        },
        fingerprint: Some(fp.into()),
        meta: Default::default(),
    };
    vec![
        c(
            OPENAI,
            Issuer::Openai,
            "key_e0e4c1fc4caa0504",
            "sk-…ce79",
            200,
            vec![
                sm(
                    "prod/ai/providers",
                    Some("OPENAI_API_KEY"),
                    days_before(200),
                ),
                braintrust("OPENAI_API_KEY", days_before(200)),
                sm("legacy/billing/openai", None, days_before(200)),
            ],
            true,
            "3fa2c19b77d0",
        ),
        c(
            ANTHROPIC,
            Issuer::Anthropic,
            "apikey_9b1d2e7f00a61943",
            "sk-…1943",
            120,
            vec![
                sm(
                    "prod/ai/providers",
                    Some("ANTHROPIC_API_KEY"),
                    days_before(120),
                ),
                braintrust("ANTHROPIC_API_KEY", days_before(120)),
            ],
            true,
            "8c01d4e2aa19",
        ),
        c(
            GEMINI,
            Issuer::Gemini,
            "gk-5d0c7a11e3b252a7",
            "AIz…52a7",
            90,
            vec![sm(
                "prod/ai/gemini",
                Some("GEMINI_API_KEY"),
                days_before(90),
            )],
            true,
            "a4b7e0c3d211",
        ),
        c(
            EVAL,
            Issuer::Openai,
            "key_77a0c2e9d41fe5b5",
            "sk-…e5b5",
            2,
            vec![sm("prod/ai/eval", Some("OPENAI_API_KEY"), days_before(2))],
            false,
            "0d9e11b2c7f4",
        ),
    ]
}

/// The journal of a drill, built step by step.
struct Story {
    events: Vec<Event>,
    read_only: bool,
}

impl Story {
    fn new(read_only: bool) -> Story {
        let runbook: Runbook = serde_saphyr::from_str(RUNBOOK).unwrap();
        Story {
            events: vec![
                Event::IncidentOpened {
                    id: "snap".into(),
                    mode: Mode::Drill,
                    runbook: Box::new(runbook),
                    runbook_digest: "0".repeat(64),
                    seed: Some(7),
                    speed: Some(10.0),
                    at: at(0, 0),
                    read_only,
                },
                Event::CloudIdentity {
                    identity: "arn:aws:sts::000000000000:assumed-role/drill-responder/responder"
                        .into(),
                },
            ],
            read_only,
        }
    }

    fn push(mut self, e: Event) -> Story {
        self.events.push(e);
        self
    }

    fn step(self, step: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Story {
        self.push(Event::StepStarted {
            step: step.into(),
            at: from,
        })
        .push(Event::StepCompleted {
            step: step.into(),
            at: to,
        })
    }

    fn ticks(mut self, step: &str, n: usize) -> Story {
        for item in 0..n {
            self = self.push(Event::ChecklistTicked {
                step: step.into(),
                item,
                checked: true,
            });
        }
        self
    }

    fn declared(self) -> Story {
        self.ticks("declare", 3)
            .step("declare", at(0, 20), at(0, 20))
    }

    fn inventoried(mut self) -> Story {
        self = self.push(Event::StepStarted {
            step: "inventory".into(),
            at: at(0, 25),
        });
        for credential in credentials() {
            self = self.push(Event::CredentialDiscovered { credential });
        }
        self.push(Event::StepCompleted {
            step: "inventory".into(),
            at: at(0, 40),
        })
        .push(Event::InjectArrived {
            message:
                "Support: a customer reports a usage spike on our OpenAI bill since last night."
                    .into(),
            at: at(2, 0),
        })
    }

    fn reviewed(self) -> Story {
        self.ticks("review-exposure", 3)
            .step("review-exposure", at(3, 0), at(3, 10))
    }

    fn rotated(mut self) -> Story {
        self = self.push(Event::StepStarted {
            step: "rotate".into(),
            at: at(3, 20),
        });
        for (i, (id, new_hint)) in [
            (OPENAI, "sk-…71d0"),
            (ANTHROPIC, "sk-…aed6"),
            (GEMINI, "AIz…97b4"),
        ]
        .into_iter()
        .enumerate()
        {
            let s = i as i64 * 5;
            self = self
                .push(Event::IssueRequested {
                    credential: id.into(),
                    token: format!("token-{i}"),
                    at: None,
                })
                .push(Event::Issued {
                    credential: id.into(),
                    new_key_id: format!("key_new_{i}"),
                    new_hint: new_hint.into(),
                    at: at(3, 30 + s),
                })
                .push(Event::Staged {
                    credential: id.into(),
                    location: "sm:prod/ai/providers".into(),
                    version: format!("v-{i}"),
                    at: at(3, 40 + s),
                });
        }
        self.push(Event::AttemptFailed {
            credential: Some(ANTHROPIC.into()),
            step: "rotate".into(),
            operation: "stage".into(),
            attempt: 1,
            why: "Secrets Manager (simulated) is throttling requests".into(),
            retryable: true,
        })
        .push(Event::StepCompleted {
            step: "rotate".into(),
            at: at(4, 0),
        })
    }

    fn verified(mut self) -> Story {
        self = self.push(Event::StepStarted {
            step: "verify".into(),
            at: at(4, 10),
        });
        for id in [OPENAI, ANTHROPIC, GEMINI] {
            self = self.push(Event::Verified {
                credential: id.into(),
                at: at(4, 30),
            });
        }
        self.push(Event::StepCompleted {
            step: "verify".into(),
            at: at(4, 40),
        })
    }

    fn promoted_and_updated(mut self, id: &str, locations: &[&str], t: i64) -> Story {
        self = self.push(Event::Promoted {
            credential: id.into(),
            at: at(5, t),
        });
        for (i, l) in locations.iter().enumerate() {
            self = self.push(Event::LocationUpdated {
                credential: id.into(),
                location: (*l).into(),
                updated_at: at(5, t + 5 * i as i64),
            });
        }
        self
    }

    /// Propagation half done: openai everywhere, anthropic in one of two places (still
    /// working), gemini failed for good.
    fn propagating(self) -> Story {
        self.push(Event::StepStarted {
            step: "propagate".into(),
            at: at(5, 0),
        })
        .promoted_and_updated(
            OPENAI,
            &[
                "sm:prod/ai/providers#OPENAI_API_KEY",
                "braintrust:OPENAI_API_KEY",
                "sm:legacy/billing/openai",
            ],
            10,
        )
        .push(Event::Propagated {
            credential: OPENAI.into(),
            at: at(5, 30),
        })
        .promoted_and_updated(ANTHROPIC, &["sm:prod/ai/providers#ANTHROPIC_API_KEY"], 20)
        .push(Event::AttemptFailed {
            credential: Some(GEMINI.into()),
            step: "propagate".into(),
            operation: "promote".into(),
            attempt: 5,
            why: "Secrets Manager (simulated) is throttling requests".into(),
            retryable: false,
        })
        .push(Event::RotationFailed {
            credential: GEMINI.into(),
            why: "promote failed after 5 attempts: Secrets Manager is throttling requests".into(),
        })
    }

    fn propagated(self) -> Story {
        self.push(Event::StepStarted {
            step: "propagate".into(),
            at: at(5, 0),
        })
        .promoted_and_updated(
            OPENAI,
            &[
                "sm:prod/ai/providers#OPENAI_API_KEY",
                "braintrust:OPENAI_API_KEY",
                "sm:legacy/billing/openai",
            ],
            10,
        )
        .push(Event::Propagated {
            credential: OPENAI.into(),
            at: at(5, 30),
        })
        .promoted_and_updated(
            ANTHROPIC,
            &[
                "sm:prod/ai/providers#ANTHROPIC_API_KEY",
                "braintrust:ANTHROPIC_API_KEY",
            ],
            20,
        )
        .push(Event::Propagated {
            credential: ANTHROPIC.into(),
            at: at(5, 30),
        })
        .promoted_and_updated(GEMINI, &["sm:prod/ai/gemini#GEMINI_API_KEY"], 25)
        .push(Event::Propagated {
            credential: GEMINI.into(),
            at: at(5, 30),
        })
        .push(Event::StepCompleted {
            step: "propagate".into(),
            at: at(5, 40),
        })
    }

    fn restarted(self) -> Story {
        let cmd = "kubectl -n billing rollout restart deployment/billing-service && kubectl -n billing rollout status deployment/billing-service --timeout=120s";
        self.push(Event::StepStarted {
            step: "restart-stale".into(),
            at: at(6, 0),
        })
        .push(Event::CommandStarted {
            step: "restart-stale".into(),
            command: cmd.into(),
            simulated: true,
        })
        .push(Event::CommandOutput {
            step: "restart-stale".into(),
            line: "deployment.apps/billing-service restarted (simulated)".into(),
        })
        .push(Event::CommandFinished {
            step: "restart-stale".into(),
            exit_code: 0,
        })
        .push(Event::StepCompleted {
            step: "restart-stale".into(),
            at: at(6, 10),
        })
    }

    /// Calls per minute for minutes `from..until`, one sample per source (as the drill world
    /// reports them). Consumers move to the new key the minute after their key was
    /// promoted; billing-service stays on the old openai key until it is restarted; the
    /// attacker bursts on openai and anthropic every 4 minutes, denied once openai's old key
    /// is revoked.
    fn usage(mut self, from: i64, until: i64, traffic: &Traffic) -> Story {
        let attacker = "203.0.113.45 (unknown ASN)";
        let billing = "billing-service (10.0.9.14)";
        for m in from..until {
            let attack = m % 4 == 1;
            let moved = |id: &str| traffic.promoted.contains(&id) && m >= 6;
            let billing_old = traffic.restarted.is_none_or(|r| m < r);
            let revoked = traffic.revoked.is_some_and(|r| m >= r);
            let sample = |id: &str, g: KeyGeneration, ok: u32, denied: u32, source: &str| {
                Event::UsageObserved {
                    sample: UsageSample {
                        credential: id.into(),
                        generation: g,
                        minute: at(m, 0),
                        ok,
                        denied,
                        sources: vec![source.to_string()],
                    },
                }
            };
            // openai: chat-api 30, eval-runner 8 and billing-service 6, and the attacker.
            let mut old: Vec<(&str, u32)> = Vec::new();
            let mut new: Vec<(&str, u32)> = Vec::new();
            if attack {
                old.push((attacker, 150));
            }
            for (who, calls) in [
                ("chat-api (10.0.1.0/24)", 30),
                ("braintrust eval-runner", 8),
            ] {
                if moved(OPENAI) {
                    new.push((who, calls));
                } else {
                    old.push((who, calls));
                }
            }
            if !moved(OPENAI) || billing_old {
                old.push((billing, 6));
            } else {
                new.push((billing, 6));
            }
            for (who, calls) in old {
                let (ok, denied) = if revoked { (0, calls) } else { (calls, 0) };
                self = self.push(sample(OPENAI, KeyGeneration::Old, ok, denied, who));
            }
            for (who, calls) in new {
                self = self.push(sample(OPENAI, KeyGeneration::New, calls, 0, who));
            }
            let summarizer = "summarizer (10.0.2.0/24)";
            if attack {
                self = self.push(sample(ANTHROPIC, KeyGeneration::Old, 150, 0, attacker));
            }
            let g = if moved(ANTHROPIC) {
                KeyGeneration::New
            } else {
                KeyGeneration::Old
            };
            self = self.push(sample(ANTHROPIC, g, 20, 0, summarizer));
            let ranker = "search-ranker (10.0.3.0/24)";
            let g = if moved(GEMINI) {
                KeyGeneration::New
            } else {
                KeyGeneration::Old
            };
            self = self.push(sample(GEMINI, g, 12, 0, ranker));
            if moved(OPENAI) && billing_old && m == 6 {
                self = self.push(Event::Alarm {
                    credential: Some(OPENAI.into()),
                    generation: Some(KeyGeneration::Old),
                    message: "ALARM: old key of openai-prod still used after its replacement was promoted (6 calls from billing-service (10.0.9.14))".into(),
                    at: at(6, 0),
                });
            }
        }
        self
    }

    fn revoked(self, id: &str, t: DateTime<Utc>) -> Story {
        self.push(Event::ConfirmationGiven {
            credential: id.into(),
            action: DangerKind::Revoke,
            via: Via::Tui,
            at: None,
        })
        .push(Event::RevokeRequested {
            credential: id.into(),
        })
        .push(Event::Revoked {
            credential: id.into(),
            at: t,
        })
    }

    fn state(&self) -> IncidentState {
        let wall = at(0, 0);
        IncidentState::fold(self.events.iter().map(|e| (e, wall, OPERATOR))).unwrap()
    }

    fn app(&self, onboarding: bool) -> App {
        let mut app = App::new(self.state(), onboarding, self.read_only);
        app.theme = Theme::plain();
        app
    }
}

/// Who calls with which key.
struct Traffic {
    /// Credentials whose consumers moved to the new key (from minute 6).
    promoted: &'static [&'static str],
    /// The minute billing-service was restarted onto the new key.
    restarted: Option<i64>,
    /// The minute openai's old key was revoked.
    revoked: Option<i64>,
}

const ALL: &[&str] = &[OPENAI, ANTHROPIC, GEMINI];

fn until_inventory() -> Story {
    Story::new(false).declared().inventoried()
}

/// Mid-propagation: one key everywhere, one half way (a spinner), one failed (r retry).
fn mid_propagation() -> Story {
    Story::new(false)
        .declared()
        .inventoried()
        .reviewed()
        .rotated()
        .verified()
        .propagating()
        .usage(
            0,
            13,
            &Traffic {
                promoted: &[OPENAI, ANTHROPIC],
                restarted: None,
                revoked: None,
            },
        )
}

/// Everything ready for revocation: every check passes.
fn ready_to_revoke() -> Story {
    Story::new(false)
        .declared()
        .inventoried()
        .reviewed()
        .rotated()
        .verified()
        .propagated()
        .restarted()
        .usage(
            0,
            10,
            &Traffic {
                promoted: ALL,
                restarted: Some(7),
                revoked: None,
            },
        )
}

/// Propagation and restart skipped: revoking now fails pre-flight.
fn skipped_propagation() -> Story {
    Story::new(false)
        .declared()
        .inventoried()
        .reviewed()
        .rotated()
        .verified()
        .push(Event::StepSkipped {
            step: "propagate".into(),
            why: "the change freeze blocks Braintrust".into(),
            at: at(5, 0),
        })
        .push(Event::StepSkipped {
            step: "restart-stale".into(),
            why: "no access to the billing cluster".into(),
            at: at(5, 5),
        })
        .usage(
            0,
            6,
            &Traffic {
                promoted: &[],
                restarted: None,
                revoked: None,
            },
        )
}

fn busy_propagating(app: &mut App) {
    app.on_update(Update::Busy {
        step: Some("propagate".into()),
        in_flight: 1,
        credentials: vec![ANTHROPIC.into()],
    });
}

fn event(e: Event) -> Update {
    Update::Event {
        seq: 0,
        wall: at(0, 0),
        operator: Operator {
            user: OPERATOR.into(),
            cloud: None,
        },
        event: e,
    }
}

// ── Drawing and keys ─────────────────────────────────────────────────────────────────────

/// The screen as text, one line per row.
fn screen(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| render(app, f)).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn key(app: &mut App, code: KeyCode) -> Vec<Command> {
    app.handle_key(KeyEvent::from(code))
}

fn type_text(app: &mut App, s: &str) -> Vec<Command> {
    s.chars().flat_map(|c| key(app, KeyCode::Char(c))).collect()
}

fn select_step(app: &mut App, id: &str) {
    let i = app.state.steps.iter().position(|s| s.id == id).unwrap();
    while app.selected_step != i {
        key(
            app,
            if app.selected_step < i {
                KeyCode::Down
            } else {
                KeyCode::Up
            },
        );
    }
}

fn focus(app: &mut App, p: Panel) {
    while app.focus != p {
        key(app, KeyCode::Tab);
    }
}

fn revoke_of(app: &App) -> Option<&breachbook::tui::modal::RevokeModal> {
    app.top_revoke()
}

// ── Snapshots ────────────────────────────────────────────────────────────────────────────

#[test]
fn main_screen_120x40_mid_propagation() {
    let mut app = mid_propagation().app(false);
    busy_propagating(&mut app);
    let s = screen(&app, 120, 40);
    for title in [
        "Checklist",
        "Step",
        "Inventory",
        "Rotation",
        "Usage",
        "Timeline",
    ] {
        // The focused panel has a thick border, the others a thin one.
        let framed = if title == "Checklist" { "┏" } else { "┌" };
        assert!(
            s.contains(&format!("{framed} {title} ")),
            "panel {title} missing:\n{s}"
        );
    }
    assert!(s.contains("DRILL"), "{s}");
    assert!(s.contains("working… (1 in flight)"), "{s}");
    assert!(s.contains("steps 5/10 done"), "{s}");
    assert!(s.contains("keys contained 0/3"), "{s}");
    assert!(s.contains("shared ×3"), "{s}");
    assert!(s.contains("r retry"), "a failed row offers retry:\n{s}");
    assert!(s.contains("SPIKE"), "{s}");
    assert!(s.contains("billing-service still on the old"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn each_panel_in_tabs_at_80x24() {
    let mut app = mid_propagation().app(false);
    busy_propagating(&mut app);
    for p in Panel::ALL {
        focus(&mut app, p);
        let s = screen(&app, 80, 24);
        // The tab of the focused panel is marked (and reversed), not only coloured.
        assert!(
            s.replace('▸', "")
                .contains("Checklist │ Step │ Inventory │ Rotation │ Usage │ Timeline"),
            "{s}"
        );
        assert!(s.contains(&format!("┏ {} ", p.title())), "{s}");
        assert!(s.contains(&format!("▸{}", p.title())), "{s}");
        insta::assert_snapshot!(format!("panel_{}_80x24", p.title().to_lowercase()), s);
    }
}

#[test]
fn usage_after_revocation_shows_denied_old_key_calls() {
    let traffic = Traffic {
        promoted: ALL,
        restarted: Some(7),
        revoked: Some(10),
    };
    let story = ready_to_revoke()
        .push(Event::StepStarted {
            step: "revoke".into(),
            at: at(9, 50),
        })
        .revoked(OPENAI, at(10, 0))
        .usage(10, 16, &traffic);
    let mut app = story.app(false);
    focus(&mut app, Panel::Usage);
    let s = screen(&app, 80, 24);
    assert!(s.contains("since revocation: 150 refused"), "{s}");
    assert!(s.contains("revoked"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn revoke_modal_with_every_check_passed() {
    let mut app = ready_to_revoke().app(false);
    assert_eq!(app.state.steps[app.selected_step].id, "revoke");
    let cmds = key(&mut app, KeyCode::Enter);
    assert_eq!(
        cmds,
        vec![Command::RunStep {
            step: "revoke".into()
        }],
        "Enter starts the revoke step"
    );
    let m = revoke_of(&app).expect("the revocation window opens");
    assert_eq!(
        m.target,
        Dangerous::Revoke {
            credential: OPENAI.into()
        }
    );
    assert!(m.word.is_empty(), "never pre-filled");
    for (w, h) in [(120, 40), (80, 24)] {
        let s = screen(&app, w, h);
        assert!(s.contains("✓ new key verified"), "{s}");
        assert!(s.contains("✓ every location updated (3 of 3)"), "{s}");
        assert!(s.contains("key id (…4caa0504)"), "{s}");
        assert!(s.contains("nothing happens until you type"), "{s}");
        assert!(!s.contains("override >"), "no override needed:\n{s}");
        insta::assert_snapshot!(format!("revoke_modal_all_checks_passed_{w}x{h}"), s);
    }
}

#[test]
fn revoke_modal_with_failed_preflight_asks_for_the_override() {
    let mut app = skipped_propagation().app(false);
    assert_eq!(app.state.steps[app.selected_step].id, "revoke");
    assert_eq!(key(&mut app, KeyCode::Enter).len(), 1);
    assert!(type_text(&mut app, "0504").is_empty());
    // Enter with the word but no override goes to the override field; nothing is sent.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    for (w, h) in [(120, 40), (80, 24)] {
        let s = screen(&app, w, h);
        assert!(s.contains("✗ new key promoted to current"), "{s}");
        assert!(s.contains("✗ every location updated (0 of 3)"), "{s}");
        assert!(s.contains("override 0504"), "{s}");
        assert!(s.contains("override > ▏"), "{s}");
        assert!(s.contains("nothing happens until you type"), "{s}");
        insta::assert_snapshot!(format!("revoke_modal_failed_preflight_{w}x{h}"), s);
    }
    let cmds = type_text(&mut app, "override 0504");
    assert!(cmds.is_empty());
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Command::Confirm {
            target: Dangerous::Revoke {
                credential: OPENAI.into()
            },
            word: "0504".into(),
            override_phrase: Some("override 0504".into()),
            via: Via::Tui,
        }]
    );
}

#[test]
fn help_overlay_lists_every_binding() {
    for (w, h) in [(120, 40), (80, 24), (60, 20)] {
        let mut app = until_inventory().app(false);
        app.size = (w, h);
        key(&mut app, KeyCode::Char('?'));
        // Every page, scrolling down until nothing is below: every key is somewhere, and
        // the keys that close help are on every page.
        let mut pages = vec![screen(&app, w, h)];
        insta::assert_snapshot!(format!("help_overlay_{w}x{h}"), pages[0]);
        while pages.last().is_some_and(|p| p.contains("more below")) && pages.len() < 20 {
            key(&mut app, KeyCode::PageDown);
            pages.push(screen(&app, w, h));
        }
        // The words inside the help box, in reading order, whatever wrapped them.
        let inside = |page: &str| -> String {
            let lines: Vec<Vec<char>> = page.lines().map(|l| l.chars().collect()).collect();
            let top = lines
                .iter()
                .position(|l| l.iter().collect::<String>().contains("┌ Help"));
            let Some(top) = top else { return String::new() };
            let left = lines[top].iter().position(|c| *c == '┌').unwrap();
            let right = lines[top].iter().rposition(|c| *c == '┐').unwrap();
            lines[top + 1..]
                .iter()
                .take_while(|l| l.get(left) == Some(&'│'))
                .map(|l| l[left + 1..right].iter().collect::<String>())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let all = pages
            .iter()
            .map(|p| inside(p))
            .collect::<Vec<_>>()
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for b in BINDINGS {
            assert!(
                all.contains(b.help),
                "help at {w}x{h} misses {:?}:\n{all}",
                b.help
            );
            assert!(
                all.contains(b.label),
                "help at {w}x{h} misses {}:\n{all}",
                b.label
            );
        }
        for p in &pages {
            assert!(p.contains("Esc or ? closes this help."), "{p}");
        }
        if w == 60 {
            assert!(pages.len() > 1, "at 60×20 help scrolls:\n{all}");
            // Back to the top.
            key(&mut app, KeyCode::Char('g'));
            assert_eq!(screen(&app, w, h), pages[0]);
        }
        key(&mut app, KeyCode::Esc);
        assert!(app.modals.is_empty());
    }
}

fn drill_over() -> Story {
    ready_to_revoke()
        .push(Event::StepStarted {
            step: "revoke".into(),
            at: at(10, 0),
        })
        .revoked(OPENAI, at(10, 30))
        .revoked(ANTHROPIC, at(11, 0))
        .revoked(GEMINI, at(11, 30))
        .push(Event::StepCompleted {
            step: "revoke".into(),
            at: at(11, 30),
        })
        .push(Event::DrillEnded {
            score: Score {
                time_to_contain_secs: Some(1_460),
                exposed: 3,
                revoked: 3,
                attacker_calls_after_revoke: 150,
                consumer_errors: 12,
                skipped_checks: 1,
                points: 62,
                attacker_calls_while_known: 380,
                replacement_wait_secs: 300,
                mistakes: vec![
                    "openai-prod was revoked before its new key reached every location: billing-service failed 12 calls".into(),
                    "an override was used to revoke openai-prod".into(),
                ],
            },
            at: at(24, 20),
        })
        .push(Event::ReportWritten {
            path: "/home/responder/.local/state/breachbook/incidents/snap/report.md".into(),
        })
}

#[test]
fn score_screen_after_a_drill_with_mistakes() {
    let mut app = drill_over().app(false);
    assert!(matches!(app.modals.last(), Some(Modal::Score(0))));
    for (w, h) in [(120, 40), (80, 24)] {
        let s = screen(&app, w, h);
        assert!(s.contains("Drill over — score 62/100"), "{s}");
        assert!(s.contains("exposed keys revoked 3 of 3"), "{s}");
        assert!(s.contains("time to contain 00:24:20"), "{s}");
        assert!(s.contains("report: "), "{s}");
        assert!(s.contains("q quits · Esc back"), "{s}");
        insta::assert_snapshot!(format!("score_{w}x{h}"), s);
    }
    assert!(key(&mut app, KeyCode::Char('r')).is_empty());
    assert!(app.toast.as_deref().unwrap().contains("report.md"));
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn read_only_badge_and_no_mutating_keys() {
    let story = Story::new(true).declared().inventoried().reviewed();
    for (w, h) in [(120, 40), (80, 24)] {
        let mut app = story.app(false);
        let s = screen(&app, w, h);
        assert!(s.contains("READ-ONLY"), "{s}");
        assert!(!s.contains(" r retry"), "{s}");
        if w == 120 {
            assert!(s.contains("read-only: this step changes keys"), "{s}");
        }
        insta::assert_snapshot!(format!("read_only_{w}x{h}"), s);
        // Enter on the rotate step refuses here and sends nothing.
        assert_eq!(app.state.steps[app.selected_step].id, "rotate");
        assert!(key(&mut app, KeyCode::Enter).is_empty());
        assert!(app.toast.as_deref().unwrap().starts_with("read-only"));
        // r is not registered at all.
        assert!(key(&mut app, KeyCode::Char('r')).is_empty());
        key(&mut app, KeyCode::Char('?'));
        let help = screen(&app, w, h);
        assert!(!help.contains("retry the selected failed key"), "{help}");
    }
}

#[test]
fn onboarding_explains_each_panel_once_and_shows_why() {
    let mut app = until_inventory().app(true);
    let s = screen(&app, 120, 40);
    assert!(s.contains("Checklist: the runbook's steps in order"), "{s}");
    assert!(s.contains("any key to continue"), "{s}");
    insta::assert_snapshot!("onboarding_explain_120x40", s);
    // Any key dismisses it, and does nothing else.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(app.modals.is_empty());
    key(&mut app, KeyCode::Tab);
    assert!(screen(&app, 120, 40).contains("Step: what to do now"));
    key(&mut app, KeyCode::Char('z'));
    let s = screen(&app, 80, 24);
    assert!(s.contains("Why: "), "{s}");
    insta::assert_snapshot!("onboarding_step_why_80x24", s);
    // Second visit: no explanation.
    key(&mut app, KeyCode::BackTab);
    key(&mut app, KeyCode::Tab);
    assert!(app.modals.is_empty());
}

// ── Keys ─────────────────────────────────────────────────────────────────────────────────

#[test]
fn footer_hints_come_from_the_keymap_for_the_focused_panel() {
    let mut app = until_inventory().app(false);
    for p in Panel::ALL {
        focus(&mut app, p);
        let s = screen(&app, 120, 40);
        let footer = s.lines().last().unwrap();
        let hints = breachbook::tui::keymap::hints(false, p);
        for (label, hint) in &hints {
            assert!(
                footer.contains(&format!(" {label} {hint}")),
                "{p:?}: {footer}"
            );
        }
        // Every hint shown is one of the focused panel's.
        for b in BINDINGS.iter().filter(|b| b.hint.is_some()) {
            let shown = footer.contains(&format!(" {} {}", b.label, b.hint.unwrap()));
            assert_eq!(
                shown,
                hints.contains(&(b.label, b.hint.unwrap())),
                "{p:?}: {footer}"
            );
        }
    }
    focus(&mut app, Panel::Inventory);
    let footer = screen(&app, 120, 40).lines().last().unwrap().to_string();
    assert!(
        footer.contains(" s sort") && !footer.contains("Enter run"),
        "{footer}"
    );
}

#[test]
fn quit_asks_when_work_is_in_flight() {
    let mut app = mid_propagation().app(false);
    busy_propagating(&mut app);
    key(&mut app, KeyCode::Char('q'));
    assert!(!app.quit);
    assert!(screen(&app, 120, 40).contains("Quit anyway?"));
    key(&mut app, KeyCode::Char('n'));
    assert!(!app.quit);
    assert!(app.modals.is_empty());
    key(&mut app, KeyCode::Char('q'));
    key(&mut app, KeyCode::Char('y'));
    assert!(app.quit);

    // Ctrl-C twice quits at once.
    let mut app = mid_propagation().app(false);
    busy_propagating(&mut app);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    app.handle_key(ctrl_c);
    assert!(!app.quit);
    app.handle_key(ctrl_c);
    assert!(app.quit);

    // Idle but not finished: q asks too, naming the command that goes on from here.
    let mut idle = until_inventory().app(false);
    key(&mut idle, KeyCode::Char('q'));
    assert!(!idle.quit);
    let s = screen(&idle, 120, 40);
    assert!(
        s.contains("The incident is not finished: 8 step(s) to go."),
        "{s}"
    );
    assert!(s.contains("`breachbook resume snap` goes on"), "{s}");
    key(&mut idle, KeyCode::Char('y'));
    assert!(idle.quit);

    // Finished: the score's q quits at once.
    let mut done = drill_over().app(false);
    key(&mut done, KeyCode::Char('q'));
    assert!(done.quit);
}

#[test]
fn a_stopped_engine_is_shown_and_quitting_does_not_ask() {
    let mut app = mid_propagation().app(false);
    busy_propagating(&mut app);
    app.on_update(Update::Stopped {
        why: Some("the journal disk is full".into()),
    });
    let s = screen(&app, 120, 40);
    assert!(
        s.contains("engine stopped: the journal disk is full"),
        "{s}"
    );
    assert!(!s.contains("working…"), "{s}");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn refusals_stay_until_the_next_key() {
    let mut app = until_inventory().app(false);
    let long = "do “Check the blast radius” first: tick every item (0 of 3 done); Space ticks the selected item and Enter marks the step done";
    app.on_update(Update::Refused {
        message: long.into(),
    });
    app.update(breachbook::tui::Action::Tick);
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("Enter marks the step done"),
        "a long message wraps:\n{s}"
    );
    key(&mut app, KeyCode::Char('j'));
    assert!(app.toast.is_none());
}

#[test]
fn esc_and_a_key_read_together_count_as_both() {
    // Terminals deliver Esc and a quickly following key in one read; crossterm reports it
    // as Alt+key. Nothing binds Alt, so it is the two keys: help closes, the item ticks.
    let mut app = Story::new(false).app(false);
    key(&mut app, KeyCode::Char('?'));
    assert!(!app.modals.is_empty());
    let cmds = app.handle_key(KeyEvent::new(KeyCode::Char(' '), KeyModifiers::ALT));
    assert!(app.modals.is_empty());
    assert_eq!(
        cmds,
        vec![Command::TickItem {
            step: "declare".into(),
            item: 0
        }]
    );
}

#[test]
fn space_ticks_items_and_enter_runs_the_current_step() {
    let mut app = Story::new(false).app(false);
    let cmds: Vec<Command> = (0..3)
        .flat_map(|_| key(&mut app, KeyCode::Char(' ')))
        .collect();
    assert_eq!(
        cmds,
        (0..3)
            .map(|item| Command::TickItem {
                step: "declare".into(),
                item
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Command::RunStep {
            step: "declare".into()
        }]
    );
    // A blocked step says what it waits for and sends nothing.
    select_step(&mut app, "rotate");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(
        app.toast.as_deref().unwrap().contains("waits for"),
        "{:?}",
        app.toast
    );
}

#[test]
fn the_checklist_follows_the_current_step() {
    let mut app = Story::new(false).ticks("declare", 3).app(false);
    app.on_update(event(Event::StepStarted {
        step: "declare".into(),
        at: at(0, 5),
    }));
    app.on_update(event(Event::StepCompleted {
        step: "declare".into(),
        at: at(0, 5),
    }));
    assert_eq!(app.state.steps[app.selected_step].id, "inventory");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Command::RunStep {
            step: "inventory".into()
        }]
    );
}

#[test]
fn a_command_step_asks_first_showing_the_command() {
    let mut app = Story::new(false)
        .declared()
        .inventoried()
        .reviewed()
        .rotated()
        .verified()
        .propagated()
        .app(false);
    assert_eq!(app.state.steps[app.selected_step].id, "restart-stale");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    let s = screen(&app, 120, 40);
    assert!(s.contains("$ kubectl -n billing rollout restart"), "{s}");
    assert!(s.contains("Run it? y / n"), "{s}");
    assert!(key(&mut app, KeyCode::Char('n')).is_empty());
    assert!(app.modals.is_empty());
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        key(&mut app, KeyCode::Char('y')),
        vec![Command::RunStep {
            step: "restart-stale".into()
        }]
    );
}

#[test]
fn revocation_one_key_at_a_time_with_typed_words() {
    let mut app = ready_to_revoke().app(false);
    assert_eq!(key(&mut app, KeyCode::Enter).len(), 1);
    // Empty: refused here, nothing sent.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(screen(&app, 120, 40).contains("type the confirmation word first"));
    // Wrong: sent; the engine refuses; the window says why, clears the input, stays open.
    type_text(&mut app, "zzzz");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Command::Confirm {
            target: Dangerous::Revoke {
                credential: OPENAI.into()
            },
            word: "zzzz".into(),
            override_phrase: None,
            via: Via::Tui,
        }]
    );
    assert!(revoke_of(&app).unwrap().pending);
    // Enter while waiting does not send twice.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    app.on_update(Update::Refused {
        message: "`zzzz` is not the confirmation word for openai-prod: type the last 4 characters of its key id".into(),
    });
    let m = revoke_of(&app).expect("still open");
    assert!(m.word.is_empty() && !m.pending);
    assert!(screen(&app, 120, 40).contains("is not the confirmation word"));
    // Right: the engine revokes; the window closes and says what is next.
    type_text(&mut app, "0504");
    assert_eq!(key(&mut app, KeyCode::Enter).len(), 1);
    for e in [
        Event::StepStarted {
            step: "revoke".into(),
            at: at(9, 0),
        },
        Event::ConfirmationGiven {
            credential: OPENAI.into(),
            action: DangerKind::Revoke,
            via: Via::Tui,
            at: None,
        },
        Event::RevokeRequested {
            credential: OPENAI.into(),
        },
        Event::Revoked {
            credential: OPENAI.into(),
            at: at(9, 5),
        },
    ] {
        app.on_update(event(e));
    }
    assert!(app.modals.is_empty());
    assert!(
        app.toast
            .as_deref()
            .unwrap()
            .contains("Press Enter for the next key")
    );
    assert!(screen(&app, 120, 40).contains("keys contained 1/3"));
    // The next key: the step is running, so only the window opens.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert_eq!(
        revoke_of(&app).unwrap().target,
        Dangerous::Revoke {
            credential: ANTHROPIC.into()
        }
    );
    // Esc cancels: nothing sent, nothing revoked.
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert!(app.modals.is_empty());
    assert!(screen(&app, 120, 40).contains("keys contained 1/3"));
}

#[test]
fn a_failed_revoke_shows_in_the_window() {
    let mut app = ready_to_revoke().app(false);
    key(&mut app, KeyCode::Enter);
    type_text(&mut app, "0504");
    key(&mut app, KeyCode::Enter);
    app.on_update(event(Event::RotationFailed {
        credential: OPENAI.into(),
        why: "revoke failed: OpenAI answered 503".into(),
    }));
    let m = revoke_of(&app).unwrap();
    assert!(!m.pending);
    assert!(screen(&app, 120, 40).contains("✗ revoke failed: OpenAI answered 503"));
}

#[test]
fn retry_and_skip_act_on_the_selected_key() {
    let mut app = mid_propagation().app(false);
    focus(&mut app, Panel::Rotation);
    assert_eq!(
        key(&mut app, KeyCode::Char('r')),
        vec![Command::Retry {
            credential: GEMINI.into()
        }],
        "r retries the failed key even when another row is selected"
    );
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    assert!(key(&mut app, KeyCode::Char('x')).is_empty());
    assert!(screen(&app, 120, 40).contains("Why leave gemini-prod out of the rotation?"));
    // An empty reason is refused.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    type_text(&mut app, "decommissioned tomorrow");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Command::SkipCredential {
            credential: GEMINI.into(),
            why: "decommissioned tomorrow".into()
        }]
    );
}

#[test]
fn skipping_a_step_asks_why() {
    let mut app = until_inventory().app(false);
    assert!(key(&mut app, KeyCode::Char('x')).is_empty());
    let s = screen(&app, 120, 40);
    assert!(s.contains("Why skip “Check the blast radius”?"), "{s}");
    assert!(s.contains("critical"), "{s}");
    type_text(&mut app, "tabletop");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Command::SkipStep {
            step: "review-exposure".into(),
            why: "tabletop".into()
        }]
    );
}

#[test]
fn filter_and_sort_the_inventory() {
    let mut app = until_inventory().app(false);
    key(&mut app, KeyCode::Char('/'));
    assert_eq!(app.focus, Panel::Inventory);
    type_text(&mut app, "anth");
    let s = screen(&app, 120, 40);
    assert!(s.contains("filter: anth"), "{s}");
    assert_eq!(app.visible_credentials().len(), 1);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.filter, "anth", "Enter keeps the filter");
    key(&mut app, KeyCode::Esc);
    assert!(app.filter.is_empty(), "Esc clears it");
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Char('s'));
    let names: Vec<_> = app
        .visible_credentials()
        .iter()
        .map(|c| c.credential.name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "anthropic-prod",
            "gemini-prod",
            "openai-eval",
            "openai-prod"
        ]
    );
    assert!(screen(&app, 120, 40).contains("sort: name"));
}

#[test]
fn a_key_stored_under_two_names_is_flagged_shared() {
    let mut creds = credentials();
    let mut copy = creds[2].clone();
    copy.id = "braintrust/gemini-copy".into();
    copy.name = "gemini-copy".into();
    copy.locations = vec![braintrust("GEMINI_API_KEY", days_before(90))];
    creds.push(copy);
    let mut story = Story::new(false).declared();
    for credential in creds {
        story = story.push(Event::CredentialDiscovered { credential });
    }
    let app = story.app(false);
    let gemini = app.state.credential(GEMINI).unwrap();
    assert_eq!(app.shared_count(gemini), 2);
    assert_eq!(app.shared_count(app.state.credential(EVAL).unwrap()), 1);
}

#[test]
fn the_drill_end_brings_up_the_score_and_r_writes_a_missing_report() {
    let mut app = ready_to_revoke().app(false);
    key(&mut app, KeyCode::Enter);
    app.on_update(event(Event::DrillEnded {
        score: Score {
            points: 40,
            ..Score::default()
        },
        at: at(30, 0),
    }));
    assert_eq!(
        app.modals,
        vec![Modal::Score(0)],
        "the score replaces the window"
    );
    // Report waits for monitoring: r says so.
    assert!(key(&mut app, KeyCode::Char('r')).is_empty());
    assert!(app.toast.as_deref().unwrap().contains("waits for"));
    key(&mut app, KeyCode::Esc);
    assert!(app.modals.is_empty());
}

#[test]
fn no_color_draws_without_colour_but_keeps_reverse() {
    let mut app = mid_propagation().app(false);
    let draw = |app: &App| {
        let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
        term.draw(|f| render(app, f)).unwrap();
        term.backend().buffer().clone()
    };
    let buf = draw(&app);
    use ratatui::style::{Color, Modifier};
    assert!(
        buf.content()
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset),
        "a colour under NO_COLOR"
    );
    assert!(
        buf.content()
            .iter()
            .any(|c| c.modifier.contains(Modifier::REVERSED))
    );
    app.theme = Theme::colored();
    let buf = draw(&app);
    assert!(buf.content().iter().any(|c| c.fg == Color::Red));
}

#[test]
fn the_timeline_shows_the_newest_entry_and_scrolls_back() {
    let mut app = mid_propagation().app(false);
    let newest = app.state.timeline.last().unwrap().text.clone();
    focus(&mut app, Panel::Timeline);
    let s = screen(&app, 80, 24);
    let head: String = newest.chars().take(20).collect();
    assert!(s.contains(&head), "newest entry {newest:?} not shown:\n{s}");
    key(&mut app, KeyCode::Up);
    assert!(screen(&app, 80, 24).contains("↑ 1 newer below"));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.timeline_scroll, 0);
}

#[test]
fn a_resize_redraws_in_the_other_layout() {
    let app = mid_propagation().app(false);
    let big = screen(&app, 120, 40);
    let small = screen(&app, 80, 24);
    let tiny = screen(&app, 40, 12);
    assert!(!big.contains("Checklist │ Step"));
    assert!(small.contains("Checklist │ Step"));
    // Below the smallest usable size: one clear message, nothing cut to pieces.
    let said: String = tiny.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        said.contains("breachbook needs a terminal of at least 50×14; this one is 40×12."),
        "{tiny}"
    );
    assert!(!tiny.contains("Checklist"), "{tiny}");
}

#[test]
fn the_inventory_spins_while_the_inventory_step_runs() {
    let mut app = Story::new(false).declared().app(false);
    app.on_update(Update::Busy {
        step: Some("inventory".into()),
        in_flight: 1,
        credentials: vec![],
    });
    let s = screen(&app, 120, 40);
    assert!(s.contains("listing…"), "{s}");
    assert!(s.contains("working… (1 in flight)"), "{s}");
}

#[test]
fn the_deletion_window_asks_for_the_override_until_the_old_key_is_dead() {
    let mut app = drill_over().app(false);
    key(&mut app, KeyCode::Esc);
    app.modals
        .push(Modal::Revoke(breachbook::tui::modal::RevokeModal::new(
            Dangerous::Delete {
                credential: OPENAI.into(),
            },
        )));
    let s = screen(&app, 120, 40);
    assert!(s.contains("DELETE openai-prod's old key"), "{s}");
    assert!(s.contains("✓ old key revoked"), "{s}");
    assert!(s.contains("✗ old key confirmed dead"), "{s}");
    assert!(
        s.contains("to delete anyway, also type `override 0504`"),
        "{s}"
    );
    type_text(&mut app, "0504");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    type_text(&mut app, "override 0504");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Command::Confirm {
            target: Dangerous::Delete {
                credential: OPENAI.into()
            },
            word: "0504".into(),
            override_phrase: Some("override 0504".into()),
            via: Via::Tui,
        }]
    );
    app.on_update(event(Event::Deleted {
        credential: OPENAI.into(),
        at: at(30, 0),
    }));
    assert!(app.modals.is_empty());
    assert!(app.toast.as_deref().unwrap().contains("old key deleted"));
}

#[test]
fn the_score_waits_for_the_report_the_drill_end_is_writing() {
    let mut app = ready_to_revoke().app(false);
    for e in [
        Event::StepStarted {
            step: "report".into(),
            at: at(30, 0),
        },
        Event::DrillEnded {
            score: Score {
                points: 90,
                ..Score::default()
            },
            at: at(30, 0),
        },
    ] {
        app.on_update(event(e));
    }
    assert!(app.modals.is_empty(), "the report is still being written");
    app.on_update(event(Event::ReportWritten {
        path: "/tmp/incident/report.md".into(),
    }));
    assert_eq!(app.modals, vec![Modal::Score(0)]);
    assert!(screen(&app, 120, 40).contains("report: /tmp/incident/report.md"));
}

#[test]
fn a_key_made_by_hand_is_pasted_into_a_hidden_input() {
    let mut app = until_inventory().app(false);
    app.on_update(event(Event::ManualKeyNeeded {
        credential: ANTHROPIC.into(),
        instructions: "Create a key in the Anthropic console and copy it".into(),
    }));
    let s = screen(&app, 120, 40);
    assert!(s.contains("press p"), "{s}");
    key(&mut app, KeyCode::Char('p'));
    assert!(matches!(app.modals.last(), Some(Modal::Paste(_))));
    type_text(&mut app, "sk-ant-test-pasted-0000wxyz");
    let s = screen(&app, 120, 40);
    assert!(s.contains("made by hand"), "{s}");
    assert!(s.contains("(27 characters)"), "{s}");
    assert!(
        !s.contains("sk-ant-test"),
        "the pasted key is on screen:\n{s}"
    );
    assert!(!format!("{:?}", app.modals).contains("sk-ant-test"));
    let cmds = key(&mut app, KeyCode::Enter);
    match &cmds[..] {
        [Command::PasteKey { credential, key }] => {
            assert_eq!(credential, ANTHROPIC);
            assert_eq!(
                key,
                &breachbook::incident::command::PastedKey::new("sk-ant-test-pasted-0000wxyz")
            );
            assert!(!format!("{key:?}").contains("sk-ant"));
        }
        other => panic!("{other:?}"),
    }
    // A refused key says why in the window; Esc closes it.
    app.on_update(event(Event::AttemptFailed {
        credential: Some(ANTHROPIC.into()),
        step: "rotate".into(),
        operation: "pasted key".into(),
        attempt: 1,
        why: "Anthropic refused the pasted key".into(),
        retryable: false,
    }));
    let s = screen(&app, 120, 40);
    assert!(s.contains("refused the pasted key"), "{s}");
    key(&mut app, KeyCode::Esc);
    assert!(app.modals.is_empty());
}

#[test]
fn at_the_key_limit_r_asks_to_delete_the_inactive_key_with_its_own_word() {
    let mut app = until_inventory().app(false);
    app.on_update(event(Event::RoomNeeded {
        credential: OPENAI.into(),
        key_id: "key_spare00000000beef".into(),
        plan: "the owner already has the most keys allowed; delete the inactive key key_spare00000000beef".into(),
    }));
    let s = screen(&app, 120, 40);
    assert!(s.contains("⚠ r"), "{s}");
    assert!(s.contains("press r to delete the inactive key"), "{s}");
    assert!(key(&mut app, KeyCode::Char('r')).is_empty());
    let m = revoke_of(&app).expect("the question opens");
    assert_eq!(
        m.target,
        Dangerous::MakeRoom {
            credential: OPENAI.into()
        }
    );
    let s = screen(&app, 120, 40);
    assert!(s.contains("MAKE ROOM for a new key of openai-prod"), "{s}");
    assert!(
        s.contains("Delete the inactive key key_spare00000000beef"),
        "{s}"
    );
    assert!(s.contains("…0000beef"), "{s}");
    insta::assert_snapshot!("make_room_window", s);
    // Nothing typed: nothing sent. Its own word: sent once.
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    type_text(&mut app, "beef");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Command::Confirm {
            target: Dangerous::MakeRoom {
                credential: OPENAI.into()
            },
            word: "beef".into(),
            override_phrase: None,
            via: Via::Tui,
        }]
    );
    app.on_update(event(Event::RoomMade {
        credential: OPENAI.into(),
        key_id: "key_spare00000000beef".into(),
        at: at(4, 0),
    }));
    assert!(app.modals.is_empty());
    assert!(app.toast.as_deref().unwrap().contains("made room"));
    assert!(!screen(&app, 120, 40).contains("⚠ r"));
}

#[test]
fn a_key_revoked_by_hand_keeps_its_window_with_the_console_steps() {
    let mut app = ready_to_revoke().app(false);
    key(&mut app, KeyCode::Enter);
    type_text(&mut app, "0504");
    assert_eq!(key(&mut app, KeyCode::Enter).len(), 1);
    for e in [
        Event::StepStarted {
            step: "revoke".into(),
            at: at(9, 0),
        },
        Event::ConfirmationGiven {
            credential: OPENAI.into(),
            action: DangerKind::Revoke,
            via: Via::Tui,
            at: None,
        },
        Event::RevokeRequested {
            credential: OPENAI.into(),
        },
        Event::ManualRevokeNeeded {
            credential: OPENAI.into(),
            action: DangerKind::Revoke,
            instructions: "console.example → API keys → the key → Delete".into(),
            tested: true,
        },
    ] {
        app.on_update(event(e));
    }
    let m = revoke_of(&app).expect("the window stays open");
    assert!(!m.pending && m.word.is_empty());
    let s = screen(&app, 120, 40);
    assert!(s.contains("cannot revoke this key by API"), "{s}");
    assert!(s.contains("console.example → API keys"), "{s}");
    assert!(s.contains("the old key still works"), "{s}");
    // The word again, after the console: sent again.
    type_text(&mut app, "0504");
    assert_eq!(key(&mut app, KeyCode::Enter).len(), 1);
    app.on_update(event(Event::Revoked {
        credential: OPENAI.into(),
        at: at(10, 0),
    }));
    assert!(app.modals.is_empty());
    assert!(!screen(&app, 120, 40).contains("by hand, then confirm again"));
}

// ── Issue 15: what a newcomer at 03:00 ran into ─────────────────────────────────────────

/// The state after the inventory, with the key test skipped and the roll-out selected.
fn verify_skipped() -> Story {
    Story::new(false)
        .declared()
        .inventoried()
        .reviewed()
        .rotated()
        .push(Event::StepSkipped {
            step: "verify".into(),
            why: "no time".into(),
            at: at(4, 10),
        })
}

#[test]
fn a_skipped_step_is_not_done_it_is_a_gap_and_o_reopens_it() {
    let mut app = verify_skipped().app(false);
    // The step to do now is the roll-out; Enter there says why nothing would move.
    assert_eq!(app.state.steps[app.selected_step].id, "propagate");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    let toast = app.toast.clone().unwrap();
    assert!(
        toast.contains("openai-prod, anthropic-prod and gemini-prod are not verified yet because “Test every new key” was skipped")
            && toast.contains("o reopens “Test every new key”"),
        "{toast}"
    );
    let s = screen(&app, 120, 40);
    assert!(s.contains("steps 4/10 done · 1 skipped · 1 gap"), "{s}");
    assert!(s.contains("↷ Test every new key · skipped: a gap"), "{s}");
    assert!(s.contains("⏸ Enter would do nothing yet"), "{s}");
    insta::assert_snapshot!("skipped_step_is_a_gap_120x40", s);
    // Selected, the skipped step says so — never "done".
    select_step(&mut app, "verify");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(
        app.toast
            .as_deref()
            .unwrap()
            .contains("“Test every new key” was skipped (no time): o reopens it"),
        "{:?}",
        app.toast
    );
    let s = screen(&app, 120, 40);
    assert!(
        s.contains("↷ skipped: no time — a gap: this critical"),
        "{s}"
    );
    assert!(!s.contains("✓ done"), "{s}");
    // o reopens it (journaled by the engine).
    assert_eq!(
        key(&mut app, KeyCode::Char('o')),
        vec![Command::ReopenStep {
            step: "verify".into()
        }]
    );
    app.on_update(event(Event::StepReopened {
        step: "verify".into(),
        at: at(4, 20),
    }));
    let s = screen(&app, 120, 40);
    assert!(s.contains("reopened after its skip (no time)"), "{s}");
    assert!(s.contains("steps 4/10 done · 1 gap"), "{s}");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Command::RunStep {
            step: "verify".into()
        }]
    );
    // From the blocked roll-out, o reopens what it waits for.
    let mut app = verify_skipped().app(false);
    assert_eq!(
        key(&mut app, KeyCode::Char('o')),
        vec![Command::ReopenStep {
            step: "verify".into()
        }]
    );
}

#[test]
fn keys_act_where_the_focus_is_and_unknown_keys_say_so_once() {
    let mut app = Story::new(false).app(false);
    for p in [
        Panel::Inventory,
        Panel::Rotation,
        Panel::Usage,
        Panel::Timeline,
    ] {
        focus(&mut app, p);
        assert!(key(&mut app, KeyCode::Char(' ')).is_empty(), "{p:?}");
        assert!(key(&mut app, KeyCode::Enter).is_empty(), "{p:?}");
        assert!(
            app.toast
                .as_deref()
                .unwrap()
                .starts_with("Enter does nothing in "),
            "{:?}",
            app.toast
        );
    }
    assert!(
        app.state.steps[0].checked.iter().all(|c| !c),
        "nothing ticked"
    );
    // An unbound key says it does nothing, once.
    key(&mut app, KeyCode::Char('z'));
    assert_eq!(
        app.toast.as_deref(),
        Some("`z` does nothing here; ? lists every key")
    );
    key(&mut app, KeyCode::Char('z'));
    assert_eq!(app.toast, None);
    // Focus shows by a thick frame and the tab's mark, not only a colour.
    let s = screen(&app, 80, 24);
    assert!(s.contains("┏ Timeline") && s.contains("▸Timeline"), "{s}");
}

#[test]
fn every_list_pages_and_jumps() {
    let mut app = mid_propagation().app(false);
    key(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected_step, app.state.steps.len() - 1);
    key(&mut app, KeyCode::Home);
    assert_eq!(app.selected_step, 0);
    key(&mut app, KeyCode::PageDown);
    assert!(app.selected_step >= 3, "{}", app.selected_step);
    focus(&mut app, Panel::Rotation);
    key(&mut app, KeyCode::End);
    assert_eq!(app.selected_cred.as_deref(), Some(GEMINI));
    key(&mut app, KeyCode::Char('g'));
    assert_eq!(app.selected_cred.as_deref(), Some(OPENAI));
    focus(&mut app, Panel::Timeline);
    key(&mut app, KeyCode::PageUp);
    assert!(app.timeline_scroll > 1);
    key(&mut app, KeyCode::End);
    assert_eq!(app.timeline_scroll, 0);
}

#[test]
fn the_colon_prompt_and_the_note_key() {
    let mut app = until_inventory().app(false);
    key(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "note paged billing on-call");
    let s = screen(&app, 80, 24);
    assert!(s.contains(" :note paged billing on-call▏"), "{s}");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Command::Note {
            text: "paged billing on-call".into()
        }]
    );
    key(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "revoke");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    let s = screen(&app, 80, 24);
    assert!(s.contains("`:revoke` is not a command"), "{s}");
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "help");
    key(&mut app, KeyCode::Enter);
    assert!(matches!(app.modals.last(), Some(Modal::Help(_))));
    key(&mut app, KeyCode::Esc);
    // n opens the note window; Enter journals it.
    key(&mut app, KeyCode::Char('n'));
    type_text(&mut app, "Dana is commander");
    let s = screen(&app, 80, 24);
    assert!(s.contains("A note for the timeline and the report"), "{s}");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Command::Note {
            text: "Dana is commander".into()
        }]
    );
    app.on_update(event(Event::OperatorNote {
        text: "Dana is commander".into(),
        at: at(2, 30),
    }));
    assert_eq!(app.state.notes.len(), 1);
    assert!(screen(&app, 120, 40).contains("note by responder: Dana is"));
    // :q asks, as q does, while the incident is open.
    key(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "q");
    key(&mut app, KeyCode::Enter);
    assert!(matches!(app.modals.last(), Some(Modal::Quit)));
}

#[test]
fn a_revocation_window_that_cannot_show_its_evidence_takes_no_word() {
    let mut app = ready_to_revoke().app(false);
    app.size = (60, 20);
    key(&mut app, KeyCode::Enter);
    assert!(revoke_of(&app).is_some());
    let s = screen(&app, 60, 20);
    let words: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(s.contains("Revoke: window too small"), "{s}");
    assert!(words.contains("make the terminal at least 80×"), "{s}");
    assert!(!s.contains("word >"), "no input is offered:\n{s}");
    insta::assert_snapshot!("revoke_window_too_small_60x20", s);
    // Typed keys are refused there, and nothing is sent.
    assert!(type_text(&mut app, "0504").is_empty());
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(revoke_of(&app).unwrap().word.is_empty());
    // Grown to 80×24, all of it shows and the word is taken.
    app.size = (80, 24);
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("lives in 3 location(s):") && s.contains("sm:legacy/billing/openai"),
        "{s}"
    );
    assert!(
        s.contains("pre-flight checks:") && s.contains("last accepted call"),
        "{s}"
    );
    type_text(&mut app, "0504");
    assert_eq!(key(&mut app, KeyCode::Enter).len(), 1);
}

#[test]
fn a_known_service_still_on_the_old_key_is_an_instruction_and_needs_the_override() {
    // billing-service was never restarted: it calls with openai's old key after promotion.
    let story = Story::new(false)
        .declared()
        .inventoried()
        .reviewed()
        .rotated()
        .verified()
        .propagated()
        .push(Event::StepSkipped {
            step: "restart-stale".into(),
            why: "no access to the billing cluster".into(),
            at: at(6, 0),
        })
        .usage(
            0,
            10,
            &Traffic {
                promoted: ALL,
                restarted: None,
                revoked: None,
            },
        );
    let mut app = story.app(false);
    assert_eq!(app.state.steps[app.selected_step].id, "revoke");
    key(&mut app, KeyCode::Enter);
    for (w, h) in [(120, 40), (80, 24)] {
        app.size = (w, h);
        let s = screen(&app, w, h);
        assert!(
            s.contains("✗ billing-service (a known service) still calls with this old key"),
            "{s}"
        );
        assert!(s.contains("Esc, reopen “Restart services"), "{s}");
        assert!(
            !s.contains("is it the attacker"),
            "a question, not an instruction:\n{s}"
        );
        assert!(s.contains("override > "), "the override is asked for:\n{s}");
        insta::assert_snapshot!(format!("revoke_known_service_on_old_key_{w}x{h}"), s);
    }
    // The word alone is not enough: the window asks for the phrase, and the engine's own
    // pre-flight (the one path) names the service in the override it journals.
    type_text(&mut app, "0504");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    let failure = Dangerous::Revoke {
        credential: OPENAI.into(),
    }
    .preflight_failure(&app.state)
    .unwrap();
    assert_eq!(
        failure.failed,
        ["no known service still on the old key (billing-service used it after the promotion)"]
    );
}

#[test]
fn every_count_agrees_and_last_use_is_the_incidents_own() {
    let traffic = Traffic {
        promoted: ALL,
        restarted: Some(7),
        revoked: Some(10),
    };
    let story = ready_to_revoke()
        .push(Event::StepStarted {
            step: "revoke".into(),
            at: at(9, 50),
        })
        .revoked(OPENAI, at(13, 30))
        .usage(10, 16, &traffic);
    let mut app = story.app(false);
    // Revoked at 00:13:30: the attacker's refused burst of that minute (its sample says
    // 00:13:00) came after the revocation, and counts as after it, in the panel and in the
    // report alike.
    focus(&mut app, Panel::Usage);
    let s = screen(&app, 80, 24);
    let (ok, denied) = app.state.usage[OPENAI].old_after_revoke;
    assert_eq!((ok, denied), (0, 150));
    assert!(
        s.contains(&format!("since revocation: {denied} refused")),
        "{s}"
    );
    let md = breachbook::incident::report::markdown(
        &app.state,
        &breachbook::incident::report::Integrity::intact(
            breachbook::incident::journal::ChainHead::of(&[]),
        ),
    );
    assert!(
        md.contains(&format!(
            "| openai-prod | 2026-05-23T00:13:30Z | {denied} | {ok} |"
        )),
        "{md}"
    );
    // Old-key traffic split: known services and unknown sources on lines of their own.
    assert!(s.contains(" svc ") && s.contains(" unk "), "{s}");
    // Last use: from the incident's own samples, not the provider's snapshot.
    focus(&mut app, Panel::Inventory);
    let s = screen(&app, 120, 40);
    assert!(
        s.contains("last used 2026-05-23 00:09 (seen in this incident's"),
        "{s}"
    );
    assert_eq!(
        app.last_use(app.state.credential(ANTHROPIC).unwrap()),
        (Some(at(13, 0)), true)
    );
}

#[test]
fn onboarding_explains_a_term_where_it_first_appears_and_the_drill_clock_waits() {
    let mut app = until_inventory().reviewed().app(true);
    // The first explanation stops the drill clock at once.
    assert_eq!(app.start(), vec![Command::PauseDrill { paused: true }]);
    // Any key closes it; the rotate step, to do now, names AWSPENDING: that word's
    // explanation comes up where it first appears, and the clock stays stopped.
    assert_eq!(app.state.steps[app.selected_step].id, "rotate");
    assert!(key(&mut app, KeyCode::Char('z')).is_empty());
    assert!(app.drill_paused);
    let s = screen(&app, 80, 24);
    assert!(s.contains("AWSPENDING and AWSCURRENT"), "{s}");
    assert!(s.contains("the drill clock waits while you read"), "{s}");
    insta::assert_snapshot!("onboarding_term_awspending_80x24", s);
    let s = screen(&app, 120, 40);
    assert!(s.contains("⏸ drill clock paused"), "{s}");
    // Read: the clock runs again.
    assert_eq!(
        key(&mut app, KeyCode::Char('z')),
        vec![Command::PauseDrill { paused: false }]
    );
    assert!(!app.drill_paused);
    // Each term once.
    assert!(
        app.terms_explained
            .contains(&breachbook::tui::modal::Term::Staging)
    );
}

#[test]
fn read_only_says_that_action_not_that_key() {
    let mut app = Story::new(true)
        .declared()
        .inventoried()
        .reviewed()
        .app(false);
    focus(&mut app, Panel::Rotation);
    key(&mut app, KeyCode::Char('r'));
    assert_eq!(
        app.toast.as_deref(),
        Some("read-only: that action changes keys or systems, so it is disabled here")
    );
}

/// A key created during the exposure window by an identity nobody vouches for: the
/// Inventory marks it SUSPECT and says who made it, from where, when, and what to decide;
/// `:known WHY` asks the engine to mark the selected one known.
#[test]
fn a_key_made_in_the_window_by_a_stranger_is_a_suspect_on_the_screen() {
    use breachbook::incident::provenance::{Creator, Provenance};
    let story = until_inventory().push(Event::CreatorsFound {
        creators: vec![(
            EVAL.to_string(),
            Provenance::Creator {
                creator: Creator {
                    identity: "arn:aws:iam::123456789012:user/intruder".into(),
                    kind: Some("IAMUser".into()),
                    source_ip: Some("203.0.113.9".into()),
                    at: Some(days_before(2)),
                    with_key: None,
                    event: "api_key.created".into(),
                },
            },
        )],
        persistence: Vec::new(),
        at: at(0, 40),
    });
    let mut app = story.app(false);
    focus(&mut app, Panel::Inventory);
    app.selected_cred = Some(EVAL.to_string());
    let s = screen(&app, 120, 40);
    assert!(s.contains("SUSPECT"), "{s}");
    assert!(
        s.contains("user/intruder") && s.contains("from 203.0.113.9 at 2026-05-21"),
        "{s}"
    );
    insta::assert_snapshot!(s);
    // With room, the decision to take is spelled out under it.
    let tall = screen(&app, 160, 70);
    assert!(tall.contains("decide: revoke it"), "{tall}");
    assert!(tall.contains(":known"), "{tall}");
    key(&mut app, KeyCode::Char(':'));
    let sent = type_text(&mut app, "known made by Dana for the eval job");
    assert!(sent.is_empty());
    let sent = key(&mut app, KeyCode::Enter);
    assert_eq!(
        sent,
        [Command::MarkKnown {
            credential: EVAL.to_string(),
            reason: "made by Dana for the eval job".into(),
        }]
    );
}

/// The words of one panel (its frame found by its title), whatever wrapped them.
fn panel_words(screen: &str, title: &str) -> String {
    let rows: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let top = rows.iter().enumerate().find_map(|(y, r)| {
        let line: String = r.iter().collect();
        [format!("┌ {title} "), format!("┏ {title} ")]
            .iter()
            .find_map(|t| line.find(t.as_str()))
            .map(|byte| (y, line[..byte].chars().count()))
    });
    let Some((y0, x0)) = top else {
        return String::new();
    };
    let x1 = (x0 + 1..rows[y0].len())
        .find(|x| matches!(rows[y0][*x], '┐' | '┓'))
        .unwrap_or(rows[y0].len());
    let mut words = String::new();
    for r in &rows[y0 + 1..] {
        if matches!(r.get(x0), Some('└' | '┗')) {
            break;
        }
        let inner: String = r
            .get(x0 + 1..x1.min(r.len()))
            .unwrap_or(&[])
            .iter()
            .collect();
        words.push(' ');
        words.push_str(&inner);
    }
    words.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every exposed key ready and revoked, with a key made in the window by `provenance`.
fn exposed_revoked_with_a_suspect(
    provenance: breachbook::incident::provenance::Provenance,
) -> Story {
    let mut story = ready_to_revoke()
        .push(Event::CreatorsFound {
            creators: vec![(EVAL.to_string(), provenance)],
            persistence: Vec::new(),
            at: at(0, 40),
        })
        .push(Event::StepStarted {
            step: "revoke".into(),
            at: at(9, 0),
        });
    for (i, id) in ALL.iter().enumerate() {
        story = story.revoked(id, at(9, 10 * i as i64 + 5));
    }
    story
}

/// After the exposed keys the revoke step is not done: the Step panel says it waits on the
/// suspect and how to decide, and Enter opens the suspect's revocation window, which says it
/// is one, who made it, that no replacement is minted, and asks for its typed word.
#[test]
fn the_revoke_step_waits_on_the_suspect_and_offers_it_after_the_exposed_keys() {
    use breachbook::incident::provenance::{Creator, Provenance};
    let story = exposed_revoked_with_a_suspect(Provenance::Creator {
        creator: Creator {
            identity: "arn:aws:iam::123456789012:user/intruder".into(),
            kind: Some("IAMUser".into()),
            source_ip: Some("203.0.113.9".into()),
            at: Some(days_before(2)),
            with_key: None,
            event: "api_key.created".into(),
        },
    });
    let mut app = story.app(false);
    select_step(&mut app, "revoke");
    let s = screen(&app, 120, 40);
    assert!(s.contains("keys contained 3/3"), "{s}");
    let words = panel_words(&s, "Step");
    assert!(
        words.contains("Waiting on 1 suspect key created in the exposure window: openai-eval"),
        "{s}"
    );
    assert!(!words.contains("Keys left to revoke"), "{s}");
    insta::assert_snapshot!("revoke_step_waits_on_a_suspect_120x40", s);
    // Enter: the suspect's window (the step runs already, so nothing is sent).
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert_eq!(
        revoke_of(&app).unwrap().target,
        Dangerous::Revoke {
            credential: EVAL.into()
        }
    );
    let s = screen(&app, 120, 40);
    for said in [
        "Revoke SUSPECT openai-eval",
        "a SUSPECT key",
        "created by arn:aws:iam::123456789012:user/intruder from 203.0.113.9",
        "mints no replacement",
        "key id (…",
    ] {
        assert!(s.contains(said), "{said}:\n{s}");
    }
    assert!(!s.contains("replaced by"), "{s}");
    insta::assert_snapshot!("revoke_window_of_a_suspect_120x40", s);
    // Its typed word, as every revocation.
    type_text(&mut app, "e5b5");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Command::Confirm {
            target: Dangerous::Revoke {
                credential: EVAL.into()
            },
            word: "e5b5".into(),
            override_phrase: None,
            via: Via::Tui,
        }]
    );
    app.on_update(event(Event::ConfirmationGiven {
        credential: EVAL.into(),
        action: DangerKind::Revoke,
        via: Via::Tui,
        at: None,
    }));
    app.on_update(event(Event::Revoked {
        credential: EVAL.into(),
        at: at(10, 0),
    }));
    assert!(app.modals.is_empty());
    assert!(
        app.toast
            .as_deref()
            .unwrap()
            .contains("openai-eval (suspect): revoked"),
        "{:?}",
        app.toast
    );
    let words = panel_words(&screen(&app, 120, 40), "Step");
    assert!(!words.contains("Waiting on"), "{words}");
}

/// When the audit log could not be read (CloudTrail refused), the waiting line says the
/// creator is unknown and that this is why the step waits for a decision.
#[test]
fn a_suspect_whose_creator_is_unknown_says_why_the_step_waits() {
    use breachbook::incident::provenance::Provenance;
    let story = exposed_revoked_with_a_suspect(Provenance::Unknown {
        why: "the audit log could not be read: CloudTrail refused LookupEvents (AccessDenied)"
            .into(),
    });
    let mut app = story.app(false);
    select_step(&mut app, "revoke");
    let words = panel_words(&screen(&app, 160, 50), "Step");
    for said in [
        "openai-eval (creator unknown)",
        "Its creator could not be determined",
        "cannot tell it from the attacker's",
        ":known <why>",
    ] {
        assert!(words.contains(said), "{said}: {words}");
    }
    key(&mut app, KeyCode::Enter);
    let s = screen(&app, 120, 40);
    assert!(
        s.contains("creator unknown: the audit log could not be read"),
        "{s}"
    );
}

/// Persistence made in the window by an unknown identity (a login profile, a service
/// account) is listed in the Inventory as findings to review, above the selected key's
/// details; one made by a known creator is not.
#[test]
fn persistence_made_in_the_window_is_listed_in_the_inventory_to_review() {
    use breachbook::incident::provenance::{Creator, PersistenceFinding};
    let by = |who: &str, ip: Option<&str>| Creator {
        identity: who.into(),
        kind: Some("IAMUser".into()),
        source_ip: ip.map(str::to_string),
        at: Some(days_before(2)),
        with_key: None,
        event: "CreateLoginProfile".into(),
    };
    let story = until_inventory().push(Event::CreatorsFound {
        creators: Vec::new(),
        persistence: vec![
            PersistenceFinding {
                issuer: "AWS IAM".into(),
                action: "CreateLoginProfile".into(),
                target: "user backup-svc".into(),
                creator: by(
                    "arn:aws:iam::123456789012:user/intruder",
                    Some("203.0.113.9"),
                ),
            },
            PersistenceFinding {
                issuer: "OpenAI".into(),
                action: "service_account.created".into(),
                target: "service account svc_acct_x of project Prod as owner".into(),
                creator: by("eve@example.net", Some("203.0.113.9")),
            },
            PersistenceFinding {
                issuer: "AWS IAM".into(),
                action: "CreateUser".into(),
                target: "user drill-responder".into(),
                // The responder's own identity: vouched for, not to review.
                creator: by(
                    "arn:aws:sts::000000000000:assumed-role/drill-responder/responder",
                    None,
                ),
            },
        ],
        at: at(0, 40),
    });
    let mut app = story.app(false);
    focus(&mut app, Panel::Inventory);
    let s = screen(&app, 120, 40);
    assert!(s.contains("TO REVIEW — 2 persistence finding(s)"), "{s}");
    assert!(s.contains("CreateLoginProfile: user backup-svc"), "{s}");
    insta::assert_snapshot!(s);
    let tall = screen(&app, 160, 70);
    assert!(tall.contains("OpenAI service_account.created"), "{tall}");
    assert!(
        tall.contains("user/intruder") && tall.contains("eve@example.net"),
        "{tall}"
    );
    assert!(!tall.contains("user drill-responder"), "{tall}");
}

#[test]
fn a_retry_shows_on_its_row_while_the_work_is_in_flight_and_goes_with_the_next_news() {
    let mut app = mid_propagation().app(false);
    busy_propagating(&mut app);
    focus(&mut app, Panel::Rotation);
    app.on_update(event(Event::CallRetried {
        credential: Some(ANTHROPIC.into()),
        step: Some("propagate".into()),
        call: "UpdateSecretVersionStage".into(),
        attempt: 2,
        why: "throttled (ThrottlingException)".into(),
        at: at(5, 6),
    }));
    // The row's note, wrapped to the panel's width.
    let s = screen(&app, 200, 50);
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(s.contains("↻ retrying"), "{s}");
    assert!(flat.contains("(throttled (ThrottlingException)),"), "{s}");
    assert!(flat.contains("attempt 2"), "{s}");
    // The next news of the key (here: the work ends) takes it away.
    app.on_update(Update::Busy {
        step: None,
        in_flight: 0,
        credentials: Vec::new(),
    });
    assert!(!screen(&app, 200, 50).contains("↻ retrying"));
    busy_propagating(&mut app);
    app.on_update(event(Event::Promoted {
        credential: ANTHROPIC.into(),
        at: at(5, 7),
    }));
    assert!(!screen(&app, 200, 50).contains("↻ retrying"));
}
