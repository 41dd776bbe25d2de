//! Command steps with hostile names and a command that prints keys, on the engine: the
//! names come from a provider (the drill world's inventory, whose credential and secret
//! names the runbook's drill section sets), the command runs for real (`sh -c`, the engine
//! without a drill), and in a drill it is only journaled.
//!
//! - Placeholders are substituted in one pass: a name holding `{location}`, `$(…)`,
//!   backticks, quotes or a line break stays one quoted word; nothing it holds runs.
//! - The new key, handed to the command in `BREACHBOOK_NEW_KEY`, is printed in many shapes;
//!   none reaches the journal, in any form.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use breachbook::incident::autopilot::{Driver, ScriptAction};
use breachbook::incident::engine::{Engine, EngineConfig};
use breachbook::incident::event::{Event, Mode, Operator};
use breachbook::incident::journal::Journal;
use breachbook::incident::model::LocationKind;
use breachbook::providers::sim::SimWorld;
use breachbook::runbook::schema::Runbook;
use secrecy::ExposeSecret;
use tokio::sync::mpsc;

/// A small runbook: find the keys, rotate them, run a command per key. `{NAME_A}`,
/// `{NAME_B}`, `{SECRET_B}` and `{RUN}` are filled in by the test.
const RUNBOOK: &str = r#"
version: 1
name: command-steps
title: Command steps
severity: low
exposure_window:
  start: 2026-10-01T00:00:00Z
scope:
  secrets_manager:
    regions: [us-east-1]
    name_prefixes: [sandbox/]
    fields:
      - field: OPENAI_API_KEY
        issuer: openai
  openai:
    organization: org-sandbox
settings:
  quiet_period: 2m
steps:
  - id: inventory
    title: Find the keys
    action: inventory
    instructions: Press Enter.
  - id: rotate
    title: Mint and stage new keys
    action: rotate
    needs: [inventory]
    instructions: Press Enter.
  - id: show
    title: Run the command
    action: command
    needs: [rotate]
    instructions: Press Enter.
    command:
      run: {RUN}
      per_credential: true
      new_key_via: env
drill:
  seed: 1
  speed: 20
  duration: 2h
  starts_after_exposure: 1d
  credentials:
    - name: {NAME_A}
      issuer: openai
      age: 60d
      locations:
        - secrets_manager:
            secret: sandbox/a
            field: OPENAI_API_KEY
    - name: {NAME_B}
      issuer: openai
      age: 60d
      locations:
        - secrets_manager:
            secret: {SECRET_B}
            field: OPENAI_API_KEY
  actors:
    - name: app
      kind: consumer
      uses: [plain]
      rate: 1
      source: app
"#;

/// A YAML double-quoted scalar.
fn yaml(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn runbook(run: &str, name_a: &str, name_b: &str, secret_b: &str) -> Runbook {
    let text = RUNBOOK
        .replace("{RUN}", &yaml(run))
        .replace("{NAME_A}", &yaml(name_a))
        .replace("{NAME_B}", &yaml(name_b))
        .replace("{SECRET_B}", &yaml(secret_b))
        .replace("uses: [plain]", &format!("uses: [{}]", yaml(name_a)));
    breachbook::runbook::load::load_str("command-steps.yaml", &text)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs inventory, rotate and the command step on the engine, live (the command runs) or
/// as a drill (it is only journaled); returns the journal's events.
async fn play(rb: &Runbook, live: bool, state: &Path) -> (Vec<Event>, Vec<String>) {
    let journal = Journal::create(state, "inc", Operator::local()).unwrap();
    let (world, feed) = SimWorld::create(rb, 1, 20.0, None).unwrap();
    let mut providers = world.provider_set();
    if live {
        // Without the drill world the engine runs command steps for real.
        providers.drill = None;
    }
    let opening = Event::IncidentOpened {
        id: "inc".into(),
        mode: if live { Mode::Live } else { Mode::Drill },
        runbook: Box::new(rb.clone()),
        runbook_digest: String::new(),
        seed: Some(1),
        speed: Some(20.0),
        at: world.now(),
        read_only: false,
    };
    let (up_tx, up_rx) = mpsc::unbounded_channel();
    let engine = Engine::start(
        journal,
        Vec::new(),
        Some(opening),
        providers.clone(),
        Some(feed),
        EngineConfig::from_runbook(rb, false),
        up_tx,
    )
    .unwrap();
    let state0 = engine.state().clone();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(engine.run(cmd_rx));
    let mut driver =
        Driver::new(state0, cmd_tx, up_rx, false).with_think(std::time::Duration::ZERO);
    driver
        .script(vec![
            ScriptAction::Run("inventory".into()),
            ScriptAction::Run("rotate".into()),
            ScriptAction::Run("show".into()),
        ])
        .await
        .unwrap();
    let st = driver.shutdown().await;
    let _ = task.await;
    // The new keys, read back from the store as the command got them.
    let store = providers.stores[&LocationKind::SecretsManager].clone();
    let mut keys = Vec::new();
    for c in &st.credentials {
        if let (Some(loc), Some(v)) = (c.credential.primary_store(), &c.staged_version) {
            keys.push(
                store
                    .read_version(loc, v)
                    .await
                    .unwrap()
                    .expose_secret()
                    .to_string(),
            );
        }
    }
    let (records, recovery) = Journal::read(state, "inc").unwrap();
    assert!(recovery.is_clean(), "{recovery:?}");
    (records.into_iter().map(|r| r.event).collect(), keys)
}

fn output(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::CommandOutput { line, .. } => Some(line.clone()),
            _ => None,
        })
        .collect()
}

fn commands(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::CommandStarted { command, .. } => Some(command.clone()),
            _ => None,
        })
        .collect()
}

/// Names that would run commands of their own if substituted carelessly, each touching a
/// file in `dir` (which must stay empty).
fn hostile_names(dir: &Path) -> (String, String, String) {
    let d = dir.display();
    (
        format!("a{{location}}$(touch {d}/p1)"),
        format!("b'; touch {d}/p2; echo '`touch {d}/p3`\"{{credential}}\nsecond line"),
        format!("sandbox/{{credential}}$(touch {d}/p4)'x"),
    )
}

const PRINT: &str =
    "printf '[%s]\\n' {credential} {location} {issuer}; printf '(%s)\\n' {locations}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_from_the_provider_stay_quoted_words_in_a_live_run() {
    let tmp = tempfile::tempdir().unwrap();
    let traps = tempfile::tempdir().unwrap();
    let (a, b, secret_b) = hostile_names(traps.path());
    let rb = runbook(PRINT, &a, &b, &secret_b);
    let (events, _) = play(&rb, true, tmp.path()).await;
    let out = output(&events);
    let location_b = format!("sm:{secret_b}#OPENAI_API_KEY");
    let mut want = vec![
        format!("[{a}]"),
        "[sm:sandbox/a#OPENAI_API_KEY]".to_string(),
        "[OpenAI]".to_string(),
        "(sm:sandbox/a#OPENAI_API_KEY)".to_string(),
    ];
    let mut b_lines: Vec<String> = format!("[{b}]").lines().map(str::to_string).collect();
    want.append(&mut b_lines);
    want.extend([
        format!("[{location_b}]"),
        "[OpenAI]".to_string(),
        format!("({location_b})"),
    ]);
    let mut got = out.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "the command printed {out:#?}");
    let touched: Vec<_> = std::fs::read_dir(traps.path()).unwrap().flatten().collect();
    assert!(touched.is_empty(), "a name ran a command: {touched:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_in_a_drill_are_journaled_as_one_quoted_word_each() {
    let tmp = tempfile::tempdir().unwrap();
    let traps = tempfile::tempdir().unwrap();
    let (a, b, secret_b) = hostile_names(traps.path());
    let rb = runbook(PRINT, &a, &b, &secret_b);
    let (events, _) = play(&rb, false, tmp.path()).await;
    let cmds = commands(&events);
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    // The journaled command lines, run as they stand: each name comes back whole, and
    // nothing in them runs.
    let mut printed = Vec::new();
    for c in &cmds {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(c)
            .output()
            .unwrap();
        assert!(out.status.success(), "{c}");
        printed.push(String::from_utf8(out.stdout).unwrap());
    }
    let all = printed.concat();
    assert!(all.contains(&format!("[{a}]\n")), "{all}");
    assert!(all.contains(&format!("[{b}]\n")), "{all}");
    assert!(
        all.contains(&format!("[sm:{secret_b}#OPENAI_API_KEY]\n")),
        "{all}"
    );
    let touched: Vec<_> = std::fs::read_dir(traps.path()).unwrap().flatten().collect();
    assert!(touched.is_empty(), "a name ran a command: {touched:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_prints_the_new_key_in_every_shape_journals_none_of_them() {
    let tmp = tempfile::tempdir().unwrap();
    // Shapes: whole, `secret:KEY`, `(KEY)`, `?secret=KEY&`, `VAR:KEY`, base64 (plain and
    // inside a longer blob), base64url, hex, URL-encoded, split over lines and over reads.
    let run = r#"K="$BREACHBOOK_NEW_KEY"
echo "$K"
echo "secret:$K"
echo "($K)"
echo "https://example.test/cb?secret=$K&next=1"
echo "VAR:$K"
printf '%s' "$K" | base64 -w0; echo
printf 'token=%s\n' "$K" | base64 -w0; echo
printf '%s' "$K" | base64 -w0 | tr '+/' '-_'; echo
printf '%s' "$K" | od -An -tx1 | tr -d ' \n'; echo
printf '%s' "$K" | od -An -tx1 | tr -d '\n' | sed 's/ /%/g'; echo
printf '%s\n' "$(printf '%s' "$K" | cut -c1-9)"; printf '%s\n' "$(printf '%s' "$K" | cut -c10-)"
printf 'half:%s' "$(printf '%s' "$K" | cut -c1-20)"; sleep 0.05; printf '%s\n' "$(printf '%s' "$K" | cut -c21-)"
echo done"#;
    let rb = runbook(run, "plain-a", "plain-b", "sandbox/b");
    let (events, keys) = play(&rb, true, tmp.path()).await;
    assert_eq!(keys.len(), 2, "two new keys");
    let out = output(&events);
    assert!(out.iter().filter(|l| *l == "done").count() == 2, "{out:#?}");
    assert!(
        out.iter().filter(|l| l.contains("[masked ")).count() >= 20,
        "{out:#?}"
    );
    let journal = std::fs::read_to_string(tmp.path().join("incidents/inc/journal.jsonl")).unwrap();
    for key in &keys {
        assert!(key.len() >= 24, "{key}");
        for piece in key.as_bytes().windows(12) {
            let piece = std::str::from_utf8(piece).unwrap();
            assert!(
                !journal.contains(piece),
                "a piece of the key: {piece}\n{out:#?}"
            );
        }
        assert!(!journal.contains(&hex::encode(key)));
        assert!(!journal.contains(&base64(key)), "base64 of the key");
    }
}

/// Standard base64 without padding (the test's own, not breachbook's).
fn base64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.as_bytes().chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
