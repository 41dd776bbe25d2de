//! Issue 14: every incident can be finished. Kills (SIGKILL) right after the records where
//! a resume used to stop short — the report step's start, the score, the report written, a
//! command step, a retry, a typed word — then `resume --headless --autopilot` must finish the
//! incident (exit 0), without asking for a word again; an incident killed before its first
//! record says what to do; a drill with no actors runs to its end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_breachbook")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn summary(&self) -> Value {
        let last = self.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| {
            panic!(
                "last line is not JSON ({e}): {last}\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs breachbook to its end, killing it if it has not ended within `limit` (a hang).
fn run_within(state: &Path, args: &[&str], limit: Duration) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(bin())
        .args(args)
        .env("BREACHBOOK_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("run breachbook");
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            let _ = child.wait();
            break -2;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        code,
        stdout: std::fs::read_to_string(out).unwrap_or_default(),
        stderr: std::fs::read_to_string(err).unwrap_or_default(),
    }
}

fn run(state: &Path, args: &[&str]) -> Run {
    run_within(state, args, Duration::from_secs(120))
}

fn incident_dirs(state: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(state.join("incidents"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn journal_events(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("journal.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].clone())
        .collect()
}

/// Starts a drill that freezes right after record `n` is on disk, then SIGKILLs it.
fn kill_after_record(state: &Path, runbook: &str, n: usize) {
    let mut child = Command::new(bin())
        .args([
            "drill",
            runbook,
            "--headless",
            "--autopilot",
            "--seed",
            "7",
            "--pause-after-records",
            &n.to_string(),
        ])
        .env("BREACHBOOK_STATE_DIR", state)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let paused = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.starts_with("paused after record"));
    // SIGKILL: no destructor, no flush, no goodbye.
    child.kill().unwrap();
    let _ = child.wait();
    assert!(paused, "run with pause at {n} ended before pausing");
}

/// The record numbers (1-based) right after which a kill used to leave an incident that
/// `resume` could not finish.
fn hard_points(events: &[Value]) -> Vec<(usize, String)> {
    let mut points = Vec::new();
    let mut seen_confirmation = false;
    let mut seen_retry = false;
    for (i, e) in events.iter().enumerate() {
        let ty = e["type"].as_str().unwrap_or_default();
        let hard = match ty {
            "drill_ended" | "report_written" | "command_started" | "command_finished" => true,
            "step_started" => e["step"] == "report" || e["step"] == "restart-stale",
            "confirmation_given" if !seen_confirmation => {
                seen_confirmation = true;
                true
            }
            "rotation_retried" if !seen_retry => {
                seen_retry = true;
                true
            }
            _ => false,
        };
        if hard {
            points.push((i + 1, ty.to_string()));
        }
    }
    points
}

#[test]
fn a_kill_at_every_hard_point_resumes_to_the_end() {
    let rb = "ai-provider-keys-vendor-breach";
    let base = tempfile::tempdir().unwrap();
    let baseline = run(
        base.path(),
        &["drill", rb, "--headless", "--autopilot", "--seed", "7"],
    );
    assert_eq!(baseline.code, 0, "{}", baseline.stderr);
    let want = baseline.summary();
    let events = journal_events(&incident_dirs(base.path())[0]);
    let points = hard_points(&events);
    for ty in ["drill_ended", "report_written", "confirmation_given"] {
        assert!(
            points.iter().any(|(_, t)| t == ty),
            "the baseline has no {ty} to kill after"
        );
    }
    let mut converged = 0;
    for (n, ty) in &points {
        let tmp = tempfile::tempdir().unwrap();
        kill_after_record(tmp.path(), rb, *n);
        let dirs = incident_dirs(tmp.path());
        let id = dirs[0].file_name().unwrap().to_str().unwrap().to_string();
        let r = run(tmp.path(), &["resume", &id, "--headless", "--autopilot"]);
        assert_eq!(
            r.code, 0,
            "resume after a kill at record {n} ({ty}):\n{}\n{}",
            r.stdout, r.stderr
        );
        let got = r.summary();
        // The same end state (the score may differ: a resume's autopilot reads each step
        // again before acting, which costs drill time).
        for k in ["exposed", "revoked", "complete"] {
            assert_eq!(got[k], want[k], "kill at record {n} ({ty}): {k}: {got}");
        }
        assert!(
            got["report"].is_string(),
            "kill at {n} ({ty}): no report: {got}"
        );
        let events = journal_events(&dirs[0]);
        // A typed word journaled is used, not asked for again: one per key, as in the
        // uninterrupted run.
        for cred in [
            "openai/openai-prod",
            "anthropic/anthropic-prod",
            "gemini/gemini-prod",
        ] {
            let words = events
                .iter()
                .filter(|e| {
                    e["type"] == "confirmation_given"
                        && e["credential"] == cred
                        && e["action"] == "revoke"
                })
                .count();
            assert_eq!(words, 1, "kill at {n} ({ty}): {cred} asked {words} times");
            let revoked = events
                .iter()
                .filter(|e| e["type"] == "revoked" && e["credential"] == cred)
                .count();
            assert_eq!(
                revoked, 1,
                "kill at {n} ({ty}): {cred} revoked {revoked} times"
            );
        }
        let ended = events.iter().filter(|e| e["type"] == "drill_ended").count();
        assert_eq!(ended, 1, "kill at {n} ({ty}): scored {ended} times");
        converged += 1;
    }
    assert_eq!(converged, points.len());
}

#[test]
fn an_incident_killed_before_its_first_record_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    kill_after_record(tmp.path(), "aws-iam-access-key-leak", 1);
    let dir = &incident_dirs(tmp.path())[0];
    // What a kill between creating the journal and writing its first line leaves.
    std::fs::write(dir.join("journal.jsonl"), b"").unwrap();
    let id = dir.file_name().unwrap().to_str().unwrap().to_string();
    let r = run(tmp.path(), &["resume", &id, "--headless", "--autopilot"]);
    assert_eq!(
        r.code, 2,
        "README: 2 for an incident with nothing to resume"
    );
    assert!(r.stderr.contains("has an empty journal"), "{}", r.stderr);
    assert!(
        r.stderr.contains("nothing to resume") && r.stderr.contains("Start the run again"),
        "no advice: {}",
        r.stderr
    );
}

#[test]
fn resume_exits_non_zero_while_the_incident_is_incomplete() {
    // A script that stops after the inventory leaves steps open: exit 3, and so does a
    // resume that cannot go on (here: the same incident, resumed with a script-free
    // autopilot in read-only mode, which may not change anything).
    let tmp = tempfile::tempdir().unwrap();
    kill_after_record(tmp.path(), "aws-iam-access-key-leak", 12);
    let id = incident_dirs(tmp.path())[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let r = run(
        tmp.path(),
        &["resume", &id, "--headless", "--autopilot", "--read-only"],
    );
    let s = r.summary();
    assert_eq!(s["complete"], false, "{s}");
    assert_ne!(r.code, 0, "an incomplete incident exited 0: {s}");
    let done = run(tmp.path(), &["resume", &id, "--headless", "--autopilot"]);
    assert_eq!(done.code, 0, "{}\n{}", done.stdout, done.stderr);
    assert_eq!(done.summary()["complete"], true);
}

#[test]
fn a_drill_with_no_actors_runs_to_its_end() {
    let rb = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/runbooks/drill-no-actors.yaml"
    );
    let tmp = tempfile::tempdir().unwrap();
    let check = run(tmp.path(), &["check", rb]);
    assert_eq!(check.code, 0, "check refuses it: {}", check.stdout);
    let r = run_within(
        tmp.path(),
        &["drill", rb, "--headless", "--autopilot"],
        Duration::from_secs(60),
    );
    assert_ne!(r.code, -2, "the autopilot hung:\n{}", r.stdout);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let s = r.summary();
    assert_eq!(s["complete"], true, "{s}");
    assert_eq!(s["revoked"], s["exposed"], "{s}");
}

#[test]
fn stops_and_resumes_are_journaled_and_in_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    kill_after_record(tmp.path(), "aws-iam-access-key-leak", 20);
    let dir = incident_dirs(tmp.path())[0].clone();
    let id = dir.file_name().unwrap().to_str().unwrap().to_string();
    // A torn last line too: the kill cut a write short.
    let mut text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    text.push_str("{\"seq\":99,\"time\":\"2026-");
    std::fs::write(dir.join("journal.jsonl"), text).unwrap();
    let r = run(tmp.path(), &["resume", &id, "--headless", "--autopilot"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let events = journal_events(&dir);
    let at = events
        .iter()
        .position(|e| e["type"] == "run_resumed")
        .expect("the resume is journaled");
    assert_eq!(
        events[at - 1]["type"],
        "run_stopped",
        "{:?}",
        events[at - 1]
    );
    assert_eq!(events[at - 1]["how"], "torn");
    assert!(events[at]["pid"].as_u64().is_some_and(|p| p > 0));
    assert!(events[at]["host"].as_str().is_some_and(|h| !h.is_empty()));
    let last = events.last().unwrap();
    assert_eq!(last["type"], "run_stopped", "{last}");
    assert_eq!(last["how"], "clean");
    let report = run(tmp.path(), &["report", &id]);
    assert_eq!(report.code, 0, "{}", report.stderr);
    assert!(
        report.stdout.contains("resumed by"),
        "the report's timeline shows no hand-over:\n{}",
        report.stdout
    );
    assert!(
        report.stdout.contains("stopped mid-write"),
        "{}",
        report.stdout
    );

    // Killed again, no torn line: the stop is found at the next resume as a crash.
    let tmp = tempfile::tempdir().unwrap();
    kill_after_record(tmp.path(), "aws-iam-access-key-leak", 30);
    let dir = incident_dirs(tmp.path())[0].clone();
    let id = dir.file_name().unwrap().to_str().unwrap().to_string();
    let r = run(tmp.path(), &["resume", &id, "--headless", "--autopilot"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let events = journal_events(&dir);
    let at = events
        .iter()
        .position(|e| e["type"] == "run_resumed")
        .unwrap();
    assert_eq!(events[at - 1]["how"], "crashed");
    // A clean stop is not taken for a crash: resuming a finished incident journals no
    // crash.
    let again = run(tmp.path(), &["resume", &id, "--headless", "--autopilot"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let events = journal_events(&dir);
    let crashed = events
        .iter()
        .filter(|e| e["type"] == "run_stopped" && e["how"] == "crashed")
        .count();
    assert_eq!(crashed, 1, "a clean stop was journaled as a crash");
}

#[test]
fn a_script_mistake_journals_the_work_in_flight_before_it_exits() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("mistake.yaml");
    std::fs::write(
        &script,
        "- tick_all: declare\n- run: declare\n- run: inventory\n- tick_all: review-exposure\n\
         - run: review-exposure\n- run: rotate\n- run: verify\n\
         - revoke:\n    credential: openai-prod\n    override: true\n\
         - revoke:\n    credential: no-such-key\n",
    )
    .unwrap();
    let state = tmp.path().join("state");
    let r = run(
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
    assert_eq!(r.code, 2, "README: a script naming a key that is not there");
    assert!(r.stderr.contains("no-such-key"), "{}", r.stderr);
    let events = journal_events(&incident_dirs(&state)[0]);
    let requested = events
        .iter()
        .position(|e| e["type"] == "revoke_requested")
        .expect("the revoke was asked for");
    assert!(
        events[requested..]
            .iter()
            .any(|e| e["type"] == "revoked" && e["credential"] == "openai/openai-prod"),
        "the revoke in flight was abandoned"
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "run_stopped", "{last}");
    assert_eq!(last["how"], "clean");
}
