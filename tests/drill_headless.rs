//! End-to-end drills without a terminal: the real binary, the shipped vendor-breach
//! runbook, the simulated world, the journal on disk.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

fn run(state: &Path, args: &[&str]) -> Run {
    let out = Command::new(bin())
        .args(args)
        .env("BREACHBOOK_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .output()
        .expect("run breachbook");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
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

fn count(events: &[Value], ty: &str) -> usize {
    events.iter().filter(|e| e["type"] == ty).count()
}

#[test]
fn autopilot_drill_revokes_every_exposed_key_and_scores() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        &["drill", "--headless", "--autopilot", "--seed", "7"],
    );
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let s = r.summary();
    assert_eq!(s["exposed"], 3, "{s}");
    assert_eq!(s["revoked"], 3, "{s}");
    assert_eq!(s["complete"], true, "{s}");
    assert!(s["score"].as_u64().is_some(), "{s}");
    assert_eq!(
        s["consumer_errors"], 0,
        "a careful operator breaks nothing: {s}"
    );
    // The timeline is printed as lines before the summary.
    assert!(r.stdout.contains("old key REVOKED"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("Support: a customer reports a usage spike")
    );
    // Typed confirmations were journaled as given by the autopilot.
    let dir = &incident_dirs(tmp.path())[0];
    let events = journal_events(dir);
    let given: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "confirmation_given")
        .collect();
    // Three exposed keys and the key the attacker made for themselves (a suspect), last:
    // the revoke step is done only once it is decided.
    assert_eq!(given.len(), 4);
    assert_eq!(given[3]["credential"], "openai/openai-backup", "{given:?}");
    assert!(
        !s.to_string()
            .contains("a key the attacker created is still active"),
        "{s}"
    );
    assert!(given.iter().all(|e| e["via"] == "autopilot"));
    // The report was written.
    assert!(dir.join("report.md").exists());
}

#[test]
fn same_seed_same_result() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let args = ["drill", "--headless", "--autopilot", "--seed", "11"];
    let mut x = run(a.path(), &args).summary();
    let mut y = run(b.path(), &args).summary();
    // The chain head hashes wall-clock record times: the same number of records, other
    // hashes.
    assert_eq!(x["journal_head"]["seq"], y["journal_head"]["seq"]);
    assert!(x["journal_head"]["seq"].as_u64().unwrap() > 0, "{x}");
    for v in [&mut x, &mut y] {
        v.as_object_mut().unwrap().remove("incident");
        v.as_object_mut().unwrap().remove("report");
        v.as_object_mut().unwrap().remove("journal_head");
    }
    assert_eq!(x, y);
}

#[test]
fn revoke_before_propagation_breaks_a_consumer_and_the_report_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scripts/revoke-before-propagate.yaml"
    );
    let r = run(
        tmp.path(),
        &["drill", "--headless", "--seed", "7", "--script", script],
    );
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let s = r.summary();
    assert!(s["consumer_errors"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["overrides"], 1, "{s}");
    let mistakes = s["mistakes"].to_string();
    assert!(mistakes.contains("openai-prod"), "{mistakes}");
    // The replacement is still rolled out after the early revoke, so the outage ends.
    let dir = &incident_dirs(tmp.path())[0];
    let events = journal_events(dir);
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "propagated" && e["credential"] == "openai/openai-prod"),
        "the early-revoked key was never rolled out"
    );
    // The report names the mistake.
    let id = dir.file_name().unwrap().to_str().unwrap();
    let rep = run(tmp.path(), &["report", id]);
    assert_eq!(rep.code, 0, "{}", rep.stderr);
    assert!(
        rep.stdout.to_lowercase().contains("override"),
        "{}",
        rep.stdout
    );
    assert!(rep.stdout.contains("openai-prod"));
    assert!(rep.stdout.contains("OUTAGE") || rep.stdout.to_lowercase().contains("consumer error"));
}

/// Missing the attacker's key: a script marks it known on a wrong guess, so the revoke step
/// no longer waits on it and the autopilot leaves it. It costs score with its own line, and
/// the report's section shows the mark, who made it and why.
#[test]
fn marking_the_attacker_key_known_costs_score_and_shows_in_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scripts/mark-the-attacker-key-known.yaml"
    );
    let r = run(
        tmp.path(),
        &["drill", "--headless", "--seed", "7", "--script", script],
    );
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let s = r.summary();
    assert_eq!(s["complete"], true, "{s}");
    assert_eq!(s["revoked"], 3, "{s}");
    let mistakes = s["mistakes"].to_string();
    assert!(
        mistakes.contains("a key the attacker created is still active: openai-backup"),
        "{mistakes}"
    );
    assert!(s["score"].as_u64().unwrap() <= 75, "{s}");
    let dir = &incident_dirs(tmp.path())[0];
    let events = journal_events(dir);
    assert_eq!(count(&events, "marked_known"), 1);
    // Only the exposed keys were revoked: the mark ended the wait for the suspect.
    assert_eq!(count(&events, "confirmation_given"), 3);
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("a key the attacker created is still active: openai-backup"),
        "{report}"
    );
    let row = report
        .lines()
        .find(|l| l.starts_with("| openai-backup |"))
        .unwrap_or_else(|| panic!("no row for openai-backup:\n{report}"));
    assert!(
        row.contains("marked known") && row.contains("looks like Dana's backup key"),
        "{row}"
    );
}

/// Every file breachbook wrote is private to its owner.
#[test]
fn state_files_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        &["drill", "--headless", "--autopilot", "--seed", "3"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = &incident_dirs(tmp.path())[0];
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir), 0o700);
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
    // No secret value anywhere in the state folder.
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            for needle in ["sk-test-", "sk-ant-test-", "AIzaTEST"] {
                for (i, _) in text.match_indices(needle) {
                    // Hints (`sk-…abcd`) are fine; a full key is not.
                    let tail: String = text[i + needle.len()..].chars().take(8).collect();
                    assert!(
                        !tail.chars().all(|c| c.is_ascii_alphanumeric()),
                        "secret-looking value in {}: {needle}{tail}",
                        p.display()
                    );
                }
            }
        }
    }
}

fn start_paused_run(state: &Path, n: u64) {
    let mut child = Command::new(bin())
        .args([
            "drill",
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
    let mut paused = false;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap_or_default();
        if line.starts_with("paused after record") {
            paused = true;
            break;
        }
    }
    // SIGKILL: no destructor, no flush, no goodbye.
    child.kill().unwrap();
    let _ = child.wait();
    assert!(paused, "run with pause at {n} ended before pausing");
}

#[test]
fn kill_and_resume_at_20_points_loses_nothing() {
    let base = tempfile::tempdir().unwrap();
    let baseline = run(
        base.path(),
        &["drill", "--headless", "--autopilot", "--seed", "7"],
    );
    assert_eq!(baseline.code, 0, "{}", baseline.stderr);
    let want = baseline.summary();
    let total = journal_events(&incident_dirs(base.path())[0]).len() as u64;
    assert!(total > 40, "journal too short to crash in: {total}");
    let points: Vec<u64> = (0..20).map(|i| 3 + i * (total - 10) / 20).collect();
    let mut passed = 0;
    for n in points {
        let tmp = tempfile::tempdir().unwrap();
        start_paused_run(tmp.path(), n);
        let dirs = incident_dirs(tmp.path());
        assert_eq!(dirs.len(), 1);
        let id = dirs[0].file_name().unwrap().to_str().unwrap().to_string();
        let r = run(tmp.path(), &["resume", &id, "--headless", "--autopilot"]);
        assert_eq!(
            r.code, 0,
            "resume after kill at {n}:\n{}\n{}",
            r.stdout, r.stderr
        );
        let got = r.summary();
        for k in ["exposed", "revoked", "complete"] {
            assert_eq!(got[k], want[k], "kill at record {n}: {k}: {got}");
        }
        let events = journal_events(&dirs[0]);
        // No key revoked twice, none minted twice (a lost key would be minted again).
        for cred in [
            "openai/openai-prod",
            "anthropic/anthropic-prod",
            "gemini/gemini-prod",
        ] {
            let revoked = events
                .iter()
                .filter(|e| e["type"] == "revoked" && e["credential"] == cred)
                .count();
            assert_eq!(revoked, 1, "kill at {n}: {cred} revoked {revoked} times");
            let mut minted: Vec<&str> = events
                .iter()
                .filter(|e| e["type"] == "issued" && e["credential"] == cred)
                .filter_map(|e| e["new_key_id"].as_str())
                .collect();
            minted.dedup();
            assert_eq!(minted.len(), 1, "kill at {n}: {cred} minted {minted:?}");
        }
        assert_eq!(count(&events, "incident_opened"), 1);
        passed += 1;
    }
    assert_eq!(passed, 20);
}

/// Every shipped runbook can be drilled to the end by a careful operator, breaking nothing.
#[test]
fn every_shipped_runbook_drills_to_the_end() {
    for rb in [
        "ai-provider-keys-vendor-breach",
        "aws-iam-access-key-leak",
        "onboarding-walkthrough",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let r = run(tmp.path(), &["drill", rb, "--headless", "--autopilot"]);
        assert_eq!(r.code, 0, "{rb}:\n{}\n{}", r.stdout, r.stderr);
        let s = r.summary();
        assert_eq!(s["complete"], true, "{rb}: {s}");
        assert_eq!(s["revoked"], s["exposed"], "{rb}: {s}");
        assert_eq!(s["consumer_errors"], 0, "{rb}: {s}");
        assert_eq!(s["score"], 100, "{rb}: {s}");
    }
}

/// A wrong confirmation word is refused, journaled, and revokes nothing.
#[test]
fn a_wrong_word_revokes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("s.yaml");
    std::fs::write(
        &script,
        "- tick_all: declare\n- run: declare\n- run: inventory\n- tick_all: review-exposure\n- run: review-exposure\n- run: rotate\n- run: verify\n- run: propagate\n- run: restart-stale\n- revoke: {credential: openai-prod, word: nope}\n",
    )
    .unwrap();
    let r = run(
        tmp.path(),
        &[
            "drill",
            "--headless",
            "--seed",
            "7",
            "--script",
            script.to_str().unwrap(),
        ],
    );
    // The run ended at a refused word, with steps open: exit 4 (README, "Exit codes").
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    let s = r.summary();
    assert_eq!(s["revoked"], 0, "{s}");
    assert_eq!(s["refused_confirmations"], 1, "{s}");
    assert!(
        r.stdout
            .contains("is not the confirmation word for openai-prod"),
        "{}",
        r.stdout
    );
}

fn script(name: &str) -> String {
    format!("{}/tests/scripts/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// After skipping "Test every new key", rolling out says what blocks it (which keys, which
/// step) at once, in the headless output, and nothing spins: reopening the test goes on.
#[test]
fn a_step_that_cannot_go_on_says_why_instead_of_spinning() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        &[
            "drill",
            "--headless",
            "--seed",
            "7",
            "--script",
            &script("skip-the-key-test.yaml"),
        ],
    );
    // The script ends with steps open after a refused action: exit 4 (README, "Exit codes").
    assert_eq!(r.code, 4, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "refused: “Roll the new keys out everywhere” cannot go on: openai-prod, anthropic-prod and gemini-prod are not verified yet because “Test every new key” was skipped: reopen it and run it, or leave those keys out of the rotation."
        ),
        "{}",
        r.stdout
    );
    // It did not start (nothing to spin), the test was reopened, then all went on.
    let events = journal_events(&incident_dirs(tmp.path())[0]);
    let reopened = events
        .iter()
        .position(|e| e["type"] == "step_reopened")
        .expect("the test step was reopened");
    let propagate_starts: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e["type"] == "step_started" && e["step"] == "propagate")
        .map(|(i, _)| i)
        .collect();
    // Started after the reopen only: once, and once more by the script's retry of the
    // throttled promotion.
    assert_eq!(
        propagate_starts.len(),
        2,
        "propagate started after the reopen and on the retry"
    );
    assert!(
        propagate_starts.iter().all(|i| *i > reopened),
        "propagate started before the reopen"
    );
    assert_eq!(count(&events, "step_reopened"), 1);
    assert!(
        r.stdout
            .contains("step reopened after its skip: Test every new key")
    );
    assert!(
        r.stdout
            .contains("step done: Roll the new keys out everywhere")
    );
    // The skip, reopened and done, stays on record as a mistake of its own.
    assert!(
        r.stdout
            .contains("step skipped: Test every new key: in a hurry")
    );
}

/// "Watch the old keys fail" does not pass while a known service fails on an old key: it
/// says why (in the headless output too) and finishes once the service is restarted.
#[test]
fn watching_holds_while_a_known_service_fails_on_an_old_key() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(
        tmp.path(),
        &[
            "drill",
            "--headless",
            "--seed",
            "7",
            "--script",
            &script("never-restart-the-caching-service.yaml"),
        ],
    );
    // The incident is complete: exit 0 (README, "Exit codes").
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let out = &r.stdout;
    let held = out
        .find("step blocked: “Watch the old keys fail” holds: billing-service still calls with openai-prod's old key and is refused (an outage): reopen “Restart services that cache their key” and run it.")
        .unwrap_or_else(|| panic!("no hold:\n{out}"));
    let restarted = out.find("command of restart-stale exited 0").unwrap();
    let done = out.find("step done: Watch the old keys fail").unwrap();
    assert!(held < restarted && restarted < done, "{out}");
    // Nothing between the hold and the restart says it is done.
    assert!(!out[..restarted].contains("step done: Watch the old keys fail"));
    let s = r.summary();
    assert!(s["consumer_errors"].as_u64().unwrap() > 0, "{s}");
    let mistakes = s["mistakes"].to_string();
    assert!(
        mistakes
            .contains("billing-service still held the old key of openai-prod when it was revoked"),
        "{mistakes}"
    );
}
