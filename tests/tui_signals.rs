//! The signals `kill` sends to a breachbook on the screen (SIGTERM, SIGINT, SIGHUP,
//! SIGQUIT): the terminal comes back as it was (raw mode off, main screen, cursor shown), the
//! stop is journaled as `run_stopped` with `how: signal`, the shell shows how to resume, the
//! exit code is 128 + the signal's number (README, "Exit codes"), and the resume finishes.
//! scripts/test installs tmux when it is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/tmux.rs"]
mod tmux;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tmux::Tmux;

fn journal_events(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("journal.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].clone())
        .collect()
}

/// Runs breachbook headless to its end (killed after two minutes: a hang).
fn run(state: &Path, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .args(args)
        .env("BREACHBOOK_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            let text = format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (out.status.code().unwrap_or(-1), text);
        }
        if start.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("hung: {}", String::from_utf8_lossy(&out.stdout));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a drill on the screen, plays it to the rotation, sends `signal` with `kill` while
/// the first mint is in flight, and checks everything a signal must leave behind.
fn a_signal_restores_the_terminal_and_journals_the_stop(signal: &str, number: i32) {
    let tmp = tempfile::tempdir().unwrap();
    let t = Tmux::start(tmp.path(), &["drill", "--seed", "7"], 120, 40);
    t.wait_for("? help", 20);
    // While the screen is up: raw mode, the alternate screen, the cursor hidden.
    assert_eq!(t.display("#{alternate_on}"), "1");
    assert!(t.stty().contains("-icanon"), "not in raw mode");
    let pid = t.app_pid();
    // Declare, inventory, review (as a person does), then the rotation starts minting.
    t.tick_all(3);
    t.keys(&["Enter"]);
    t.wait_for("steps 1/10", 10);
    t.keys(&["Enter"]);
    t.wait_for("steps 2/10", 20);
    t.tick_all(3);
    t.keys(&["Enter"]);
    t.wait_for("steps 3/10", 10);
    t.keys(&["Enter"]);
    // The signal lands as soon as the first mint is journaled as asked for: in flight.
    let dir = std::fs::read_dir(tmp.path().join("incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !journal_events(&dir)
        .iter()
        .any(|e| e["type"] == "issue_requested")
    {
        assert!(
            Instant::now() < deadline,
            "no mint started:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = Command::new("kill")
        .args(["-s", &signal["SIG".len()..], &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let code = 128 + number;
    let s = t.wait_for(&format!("[exited {code}]"), 30);
    // The terminal is the shell's again.
    assert_eq!(t.display("#{alternate_on}"), "0", "{s}");
    assert_eq!(t.display("#{cursor_flag}"), "1", "the cursor is hidden");
    let stty = t.stty();
    for on in ["icanon", "echo", "isig"] {
        assert!(
            stty.split_whitespace().any(|w| w == on),
            "{on} is off after {signal}:\n{stty}"
        );
    }
    let id = dir.file_name().unwrap().to_str().unwrap().to_string();
    // The shell shows why it stopped and how to go on (the command may wrap).
    let back = t.scrollback().replace('\n', "");
    assert!(back.contains(&format!("Stopped by {signal}")), "{back}");
    assert!(back.contains(&format!("resume {id}")), "{back}");
    assert!(back.contains("journal head:"), "{back}");
    // The journal's last record is the stop, by this signal.
    let events = journal_events(&dir);
    let last = events.last().unwrap();
    assert_eq!(last["type"], "run_stopped", "{last}");
    assert_eq!(last["how"], "signal", "{last}");
    assert_eq!(last["why"], signal, "{last}");
    // The work in flight finished before the stop: every mint asked for has its outcome.
    for asked in events.iter().filter(|e| e["type"] == "issue_requested") {
        let credential = &asked["credential"];
        assert!(
            events.iter().any(|e| {
                ["issued", "rotation_failed", "stray_key_found"]
                    .contains(&e["type"].as_str().unwrap_or(""))
                    && &e["credential"] == credential
            }),
            "the mint of {credential} was abandoned by {signal}:\n{events:#?}"
        );
    }
    // And the incident finishes from there.
    let (code, out) = run(tmp.path(), &["resume", &id, "--headless", "--autopilot"]);
    assert_eq!(code, 0, "{out}");
    let events = journal_events(&dir);
    let stop = events
        .iter()
        .position(|e| e["type"] == "run_stopped" && e["how"] == "signal")
        .unwrap();
    assert_eq!(
        events[stop + 1]["type"],
        "run_resumed",
        "{:?}",
        events[stop + 1]
    );
    let (code, report) = run(tmp.path(), &["report", &id]);
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains(&format!("run stopped by a signal: {signal}")),
        "{report}"
    );
}

#[test]
fn sigterm_restores_the_terminal_and_journals_the_stop() {
    a_signal_restores_the_terminal_and_journals_the_stop("SIGTERM", 15);
}

#[test]
fn sigint_restores_the_terminal_and_journals_the_stop() {
    a_signal_restores_the_terminal_and_journals_the_stop("SIGINT", 2);
}

#[test]
fn sighup_restores_the_terminal_and_journals_the_stop() {
    a_signal_restores_the_terminal_and_journals_the_stop("SIGHUP", 1);
}

#[test]
fn sigquit_restores_the_terminal_and_journals_the_stop() {
    a_signal_restores_the_terminal_and_journals_the_stop("SIGQUIT", 3);
}
