//! Property: no sequence of operator actions without a matching confirmation revokes (or
//! deletes) anything — checked against the engine itself, not the UI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use breachbook::incident::command::{Command, Dangerous, Update};
use breachbook::incident::engine::{Engine, EngineConfig};
use breachbook::incident::event::{Event, Mode, Operator, Via};
use breachbook::incident::journal::Journal;
use breachbook::providers::sim::SimWorld;
use breachbook::runbook::schema::Runbook;
use proptest::prelude::*;
use tokio::sync::mpsc;

const RUNBOOK: &str = include_str!("../runbooks/ai-provider-keys-vendor-breach.yaml");

#[derive(Debug, Clone)]
enum Op {
    Run(usize),
    Tick(usize, usize),
    Skip(usize),
    Confirm {
        cred: usize,
        delete: bool,
        word: String,
        with_override: bool,
        /// Type the right word (only the positive control does).
        right_word: bool,
    },
    Retry(usize),
    SkipCred(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..12).prop_map(Op::Run),
        3 => (0usize..12, 0usize..4).prop_map(|(s, i)| Op::Tick(s, i)),
        1 => (0usize..12).prop_map(Op::Skip),
        4 => (0usize..5, any::<bool>(), "[a-z0-9 ]{0,6}", any::<bool>()).prop_map(
            |(cred, delete, word, with_override)| Op::Confirm { cred, delete, word, with_override, right_word: false }
        ),
        1 => (0usize..5).prop_map(Op::Retry),
        1 => (0usize..5).prop_map(Op::SkipCred),
    ]
}

/// Runs the ops against a fresh drill engine; returns every journaled event.
fn play(ops: Vec<Op>) -> Vec<Event> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async move {
        let rb: Runbook = breachbook::runbook::load::load_str("vendor", RUNBOOK).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let journal = Journal::create(tmp.path(), "prop", Operator::local()).unwrap();
        let (world, feed) = SimWorld::create(&rb, 7, 50.0, None).unwrap();
        let opening = Event::IncidentOpened {
            id: "prop".into(),
            mode: Mode::Drill,
            runbook: Box::new(rb.clone()),
            runbook_digest: String::new(),
            seed: Some(7),
            speed: Some(50.0),
            at: world.now(),
            read_only: false,
        };
        let (up_tx, mut up_rx) = mpsc::unbounded_channel();
        let engine = Engine::start(
            journal,
            Vec::new(),
            Some(opening),
            world.provider_set(),
            Some(feed),
            EngineConfig::from_runbook(&rb, false),
            up_tx,
        )
        .unwrap();
        let mut state = engine.state().clone();
        let _ticker = world.spawn_ticker();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(engine.run(cmd_rx));
        let mut events = Vec::new();
        let step_ids: Vec<String> = rb.steps.iter().map(|s| s.id.clone()).collect();
        for op in ops {
            let cmd = match op {
                Op::Run(i) => Command::RunStep {
                    step: step_ids[i % step_ids.len()].clone(),
                },
                Op::Tick(i, item) => Command::TickItem {
                    step: step_ids[i % step_ids.len()].clone(),
                    item,
                },
                Op::Skip(i) => Command::SkipStep {
                    step: step_ids[i % step_ids.len()].clone(),
                    why: "prop".into(),
                },
                Op::Confirm {
                    cred,
                    delete,
                    word,
                    with_override,
                    right_word,
                } => {
                    let Some(c) = state.credentials.get(cred % state.credentials.len().max(1))
                    else {
                        continue;
                    };
                    let right = c.credential.confirmation_word();
                    // Never the matching word: that is the property's premise.
                    let word = if right_word {
                        right.clone()
                    } else if word.trim().eq_ignore_ascii_case(&right) {
                        format!("{right}x")
                    } else {
                        word
                    };
                    let credential = c.credential.id.clone();
                    Command::Confirm {
                        target: if delete {
                            Dangerous::Delete { credential }
                        } else {
                            Dangerous::Revoke { credential }
                        },
                        word,
                        override_phrase: with_override
                            .then(|| breachbook::incident::command::override_phrase(&right)),
                        via: Via::Script,
                    }
                }
                Op::Retry(c) | Op::SkipCred(c) => {
                    let Some(cs) = state.credentials.get(c % state.credentials.len().max(1)) else {
                        continue;
                    };
                    let credential = cs.credential.id.clone();
                    if matches!(op, Op::Retry(_)) {
                        Command::Retry { credential }
                    } else {
                        Command::SkipCredential {
                            credential,
                            why: "prop".into(),
                        }
                    }
                }
            };
            cmd_tx.send(cmd).unwrap();
            // Let the world and the engine run a little (virtual time).
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            while let Ok(u) = up_rx.try_recv() {
                if let Update::Event {
                    wall,
                    operator,
                    event,
                    ..
                } = u
                {
                    state.apply(&event, wall, &operator.user);
                    events.push(event);
                }
            }
        }
        cmd_tx.send(Command::Shutdown).unwrap();
        let _ = task.await;
        while let Ok(u) = up_rx.try_recv() {
            if let Update::Event { event, .. } = u {
                events.push(event);
            }
        }
        events
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn nothing_is_revoked_without_the_typed_word(ops in proptest::collection::vec(op(), 1..40)) {
        let events = play(ops);
        for e in &events {
            prop_assert!(
                !matches!(e, Event::Revoked { .. } | Event::Deleted { .. } | Event::RevokeRequested { .. } | Event::DeleteRequested { .. }),
                "revoked without confirmation: {e:?}"
            );
            prop_assert!(!matches!(e, Event::ConfirmationGiven { .. }), "{e:?}");
        }
    }
}

/// The positive control: the same harness revokes when the right word is typed, so the
/// property above is not vacuous.
#[test]
fn the_right_word_does_revoke() {
    let mut ops = Vec::new();
    for step in [0usize, 2] {
        if step == 2 {
            ops.push(Op::Run(1));
        }
        for item in 0..3 {
            ops.push(Op::Tick(step, item));
        }
        ops.push(Op::Run(step));
    }
    ops.push(Op::Run(3));
    ops.push(Op::Run(4));
    ops.push(Op::Confirm {
        cred: 0,
        delete: false,
        word: String::new(),
        with_override: true,
        right_word: true,
    });
    let events = play(ops);
    assert!(
        events.iter().any(|e| matches!(e, Event::Revoked { .. })),
        "{events:#?}"
    );
}
