//! Hostile text and values, through the real binary: escape sequences in a runbook's
//! strings never reach the terminal raw (headless output, `check`, `report`, `incidents`)
//! nor a report or a log file; values `check` used to accept but the engine could not
//! survive (`speed: 1e308`, `duration: 999999999999d`) are refused with a clear message,
//! and a journal that carries them anyway (edited by hand) neither hangs nor panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use breachbook::incident::journal::{GENESIS, Record};

const ONBOARDING: &str = include_str!("../runbooks/onboarding-walkthrough.yaml");

struct Out {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Out {
    fn text(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }
}

fn run(state: &Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("BREACHBOOK_STATE_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Out {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// Bytes a terminal would act on: C0 controls but line breaks and tabs, DEL, C1 controls
/// (as UTF-8), and the bidirectional overrides.
fn raw_controls(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.char_indices()
        .filter(|(_, c)| {
            (c.is_control() && !matches!(c, '\n' | '\t'))
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .map(|(i, c)| {
            let from = text[..i].chars().rev().take(30).collect::<Vec<_>>();
            let from: String = from.into_iter().rev().collect();
            format!("{c:?} after {from:?}")
        })
        .collect()
}

/// The onboarding runbook with escape sequences in its title and step titles and a
/// bidirectional override in an instruction: YAML's double-quoted escapes make them real
/// control characters in the parsed strings.
fn hostile_runbook(dir: &Path) -> PathBuf {
    let text = ONBOARDING
        .replace(
            "title: \"Onboarding: how we rotate a leaked key\"",
            "title: \"Onboarding\\e]0;PWNED\\a how we \\e[2J rotate\"",
        )
        .replace(
            "    title: Look around the screen",
            "    title: \"Look around\\e]8;;http://evil\\e\\\\ the \\x9b31m screen\\r\"",
        )
        .replace(
            "    title: Find the keys",
            "    title: \"Find \\u202Esyek eht\\u202C the keys\\x07\"",
        );
    assert_ne!(text, ONBOARDING);
    let path = dir.join("hostile.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn escape_sequences_in_a_runbook_never_reach_the_terminal_a_report_or_a_log() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let rb = hostile_runbook(tmp.path());
    let rb = rb.to_str().unwrap();

    let out = run(&state, &["check", rb]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(raw_controls(&out.stdout), Vec::<String>::new(), "check");

    let out = run(
        &state,
        &["drill", rb, "--headless", "--autopilot", "--seed", "3"],
    );
    assert_eq!(out.code, Some(0), "{}", out.text());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Look around"),
        "the titles are shown: {stdout}"
    );
    assert_eq!(
        raw_controls(&out.stdout),
        Vec::<String>::new(),
        "headless stdout"
    );
    assert_eq!(
        raw_controls(&out.stderr),
        Vec::<String>::new(),
        "headless stderr"
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let id = summary["incident"].as_str().unwrap();

    for args in [
        vec!["report", id],
        vec!["report", id, "--format", "json"],
        vec!["report", id, "--format", "html"],
        vec!["incidents"],
        vec!["verify", id],
    ] {
        let out = run(&state, &args);
        assert_eq!(out.code, Some(0), "{args:?}: {}", out.text());
        assert_eq!(raw_controls(&out.stdout), Vec::<String>::new(), "{args:?}");
    }
    // JSON escapes would hide a control character from the byte check: look at the strings.
    let out = run(&state, &["report", id, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        raw_controls(v.to_string().replace("\\n", "").as_bytes()),
        Vec::<String>::new()
    );
    fn strings(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::String(s) => out.push_str(s),
            serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            serde_json::Value::Object(m) => m.iter().for_each(|(k, x)| {
                out.push_str(k);
                strings(x, out)
            }),
            _ => {}
        }
    }
    let mut all = String::new();
    strings(&v, &mut all);
    assert_eq!(
        raw_controls(all.as_bytes()),
        Vec::<String>::new(),
        "JSON report strings"
    );
    assert!(all.contains("Onboarding"), "{all}");

    // Every file breachbook wrote but the journal (the evidence, where JSON escapes hold
    // the runbook as it was): reports, the log, the world.
    let mut written = Vec::new();
    files(&state, &mut written);
    for f in written.iter().filter(|p| !p.ends_with("journal.jsonl")) {
        let bytes = std::fs::read(f).unwrap();
        assert_eq!(
            raw_controls(&bytes),
            Vec::<String>::new(),
            "{}",
            f.display()
        );
    }
    assert!(
        written
            .iter()
            .any(|p| p.to_string_lossy().contains("/logs/")),
        "{written:?}"
    );
}

#[test]
fn a_note_with_escape_sequences_and_a_pasted_key_is_journaled_shown_and_reported_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    // What an operator (or a script) might type into `:note`: a retitling OSC sequence, a
    // screen clear, a bidirectional override, and a key pasted by mistake.
    let key = "sk-test-NOTEPASTEDabcdefghijklmnopqrstuvwxyz0123456789";
    let script = tmp.path().join("notes.yaml");
    std::fs::write(
        &script,
        format!(
            "- note: \"billing paged \\e]0;PWNED\\a\\e[2J \\u202Eevil\\u202C key {key}\"\n- autopilot\n"
        ),
    )
    .unwrap();
    let out = run(
        &state,
        &[
            "drill",
            "--headless",
            "--seed",
            "7",
            "--script",
            script.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.text());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.contains("billing paged"),
        "the note is shown: {stdout}"
    );
    assert_eq!(
        raw_controls(&out.stdout),
        Vec::<String>::new(),
        "headless stdout"
    );
    assert!(!stdout.contains(key), "the pasted key is shown: {stdout}");
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let id = summary["incident"].as_str().unwrap();

    let journal =
        std::fs::read_to_string(state.join("incidents").join(id).join("journal.jsonl")).unwrap();
    let note = journal
        .lines()
        .find(|l| l.contains("billing paged"))
        .unwrap_or_else(|| panic!("no note in the journal:\n{journal}"));
    for bad in ["\\u001b", "\\u0007", "\u{202e}", "PWNED\\u0007", key] {
        assert!(
            !note.contains(bad),
            "the journaled note holds {bad:?}: {note}"
        );
    }
    for format in ["md", "json", "html"] {
        let out = run(&state, &["report", id, "--format", format]);
        assert_eq!(out.code, Some(0), "{format}: {}", out.text());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("billing paged"),
            "{format}: no note in\n{text}"
        );
        assert!(
            !text.contains(key),
            "{format}: the pasted key is in the report"
        );
        assert!(
            !text.contains("\\u001b") && !text.contains("\\u202e"),
            "{format}"
        );
        assert_eq!(raw_controls(&out.stdout), Vec::<String>::new(), "{format}");
    }
}

#[test]
fn check_prints_a_hostile_invalid_runbook_without_its_escapes() {
    let tmp = tempfile::tempdir().unwrap();
    let rb = tmp.path().join("bad.yaml");
    let text = ONBOARDING.replace(
        "    needs: [look-around]",
        "    needs: [\"look\\e]0;PWNED\\a-around\\e[2J\"]",
    );
    std::fs::write(&rb, text).unwrap();
    let out = run(tmp.path(), &["check", rb.to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{}", out.text());
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The value as the terminal would have drawn it, its sequences gone.
    assert!(
        stdout.contains("needs `look-around`, which is not a step"),
        "{stdout}"
    );
    assert_eq!(raw_controls(&out.stdout), Vec::<String>::new());
}

#[test]
fn check_refuses_values_the_engine_cannot_survive() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "speed: 20",
            "speed: 1e308",
            "drill.speed must be between 0.1 and 3600",
        ),
        (
            "speed: 20",
            "speed: 0.000001",
            "drill.speed must be between 0.1 and 3600",
        ),
        (
            "duration: 2h",
            "duration: 999999999999d",
            "`999999999999d` is too long a duration: the longest breachbook takes is ten years",
        ),
        (
            "quiet_period: 2m",
            "quiet_period: 99999999d",
            "settings.quiet_period: `99999999d` is too long a duration",
        ),
        (
            "quiet_period: 2m",
            "quiet_period: 2m\n  concurrency: 100000000000",
            "settings.concurrency must be at most 256",
        ),
        (
            "quiet_period: 2m",
            "quiet_period: 2m\n  max_attempts: 1000000",
            "settings.max_attempts must be at most 100",
        ),
    ];
    for (from, to, said) in cases {
        let rb = tmp.path().join("rb.yaml");
        let text = ONBOARDING.replacen(from, to, 1);
        assert_ne!(text, ONBOARDING, "{from}");
        std::fs::write(&rb, text).unwrap();
        let out = run(tmp.path(), &["check", rb.to_str().unwrap()]);
        assert_eq!(out.code, Some(2), "{to}: {}", out.text());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(said), "{to}: {stdout}");
        // And a drill of it refuses at once rather than running out of memory.
        let out = run(
            tmp.path(),
            &["drill", rb.to_str().unwrap(), "--headless", "--autopilot"],
        );
        assert_eq!(out.code, Some(2), "{to}: {}", out.text());
    }
    for speed in ["1e308", "0", "-1", "NaN", "inf", "3601"] {
        let flag = format!("--speed={speed}");
        let out = run(tmp.path(), &["drill", "--headless", "--autopilot", &flag]);
        assert_eq!(out.code, Some(2), "--speed {speed}: {}", out.text());
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("--speed must be a number between 0.1 and 3600")
                || String::from_utf8_lossy(&out.stderr).contains("invalid value"),
            "--speed {speed}: {}",
            out.text()
        );
    }
    let out = run(
        tmp.path(),
        &[
            "drill",
            "--headless",
            "--autopilot",
            "--quiet-period",
            "999999999999d",
        ],
    );
    assert_eq!(out.code, Some(2), "{}", out.text());
    assert!(String::from_utf8_lossy(&out.stderr).contains("too long a duration"));
}

/// A drill frozen after `n` records (the crash-test hook), then killed.
fn paused_drill(state: &Path, n: u64) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .arg("--state-dir")
        .arg(state)
        .args(["drill", "--headless", "--autopilot", "--seed", "7"])
        .args(["--pause-after-records", &n.to_string()])
        .env_remove("BREACHBOOK_STATE_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let paused = BufReader::new(stderr)
        .lines()
        .any(|l| l.unwrap_or_default().starts_with("paused after record"));
    child.kill().unwrap();
    let _ = child.wait();
    assert!(paused, "the drill ended before record {n}");
    let dir = std::fs::read_dir(state.join("incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    dir.file_name().to_string_lossy().into_owned()
}

/// Edits the opening record as someone with the file could, and recomputes the chain so
/// the journal still verifies.
fn edit_opening(journal: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let text = std::fs::read_to_string(journal).unwrap();
    let mut prev = GENESIS.to_string();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if i == 0 {
            edit(&mut v["event"]);
        }
        let mut r: Record = serde_json::from_value(v).unwrap();
        r.prev = prev.clone();
        r.hash = r.compute_hash().unwrap();
        prev = r.hash.clone();
        out.push_str(&serde_json::to_string(&r).unwrap());
        out.push('\n');
    }
    std::fs::write(journal, out).unwrap();
}

#[test]
fn a_journal_carrying_values_check_refuses_neither_hangs_nor_panics() {
    // A drill length no date can hold: the time limit is never reached, and nothing panics.
    let tmp = tempfile::tempdir().unwrap();
    let id = paused_drill(tmp.path(), 30);
    let journal = tmp.path().join("incidents").join(&id).join("journal.jsonl");
    edit_opening(&journal, |e| {
        e["runbook"]["drill"]["duration"] = "999999999999d".into();
    });
    let out = run(tmp.path(), &["resume", &id, "--headless", "--autopilot"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["complete"], true, "{summary}");

    // A drill clock no world can keep up with: refused, with what to do.
    let tmp = tempfile::tempdir().unwrap();
    let id = paused_drill(tmp.path(), 30);
    let journal = tmp.path().join("incidents").join(&id).join("journal.jsonl");
    edit_opening(&journal, |e| e["speed"] = 1e308.into());
    let out = run(tmp.path(), &["resume", &id, "--headless", "--autopilot"]);
    assert_eq!(out.code, Some(2), "{}", out.text());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("outside 0.1–3600"), "{stderr}");
    assert!(
        stderr.contains(&format!("breachbook verify {id}")),
        "{stderr}"
    );
}
