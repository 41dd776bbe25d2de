//! Journals written by an earlier breachbook still read, resume and report as before.
//!
//! The fixtures under `tests/fixtures/journals/` were written by the binary of commit
//! c2172cb (before the engine boundary work of issue 10); their README says how. Each holds
//! a state folder (`state/incidents/ID/…`, as that version left it) and what that version
//! reported (`expected/`). Finished incidents are resumed (drills) and reported; incidents
//! stopped mid-way are resumed by the headless autopilot and must end as the old version
//! ended them. The only thing filtered is the state folder's path, which is in the `report
//! written: PATH` line of a resumed run (`$STATE` in the expected files); nothing in a
//! report depends on the wall clock.
//!
//! Issue 15 changed the report on purpose (new sections, one definition of time to contain,
//! skipped steps never counted done, the timeline in time order, retries summed up). So the
//! old version's JSON report is the contract: every field it had is still there with the
//! same value — the new report only adds — except the few facts issue 15 corrected, each
//! checked for the one way it may differ ([`same_facts`]). The Markdown, which people read,
//! is pinned per fixture as an insta snapshot of this version's rendering (reviewed). The
//! journals themselves are never regenerated.
//!
//! Issue 13 added the journal's chain head to every report (the `| Journal |` row of the
//! Markdown header, the `journal` object of the JSON): it is checked against the journal
//! itself and left out of the snapshot (a resumed run's head depends on when it ran).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use breachbook::incident::event::Event;
use breachbook::incident::journal::{ChainHead, Journal};
use breachbook::incident::report::{self, Integrity};
use breachbook::incident::state::IncidentState;
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/journals");

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A fixture's state folder, copied where this test may write.
struct Fixture {
    name: &'static str,
    _tmp: tempfile::TempDir,
    state: PathBuf,
    id: String,
}

impl Fixture {
    fn open(name: &'static str) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        copy_dir(&Path::new(FIXTURES).join(name).join("state"), &state);
        let ids: Vec<String> = std::fs::read_dir(state.join("incidents"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(ids.len(), 1, "{name}: one incident per fixture");
        Fixture {
            name,
            _tmp: tmp,
            state,
            id: ids[0].clone(),
        }
    }

    /// The binary on this state folder, as the user who wrote the fixtures.
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
            .arg("--state-dir")
            .arg(&self.state)
            .args(args)
            .env("USER", "fixture")
            .env("LOGNAME", "fixture")
            .env("NO_COLOR", "1")
            .env_remove("BREACHBOOK_STATE_DIR")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}: breachbook {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn incident_dir(&self) -> PathBuf {
        self.state.join("incidents").join(&self.id)
    }

    /// `text` with this copy's state folder written as `$STATE`.
    fn placeholder(&self, text: &str) -> String {
        hand_over_placeholder(&text.replace(&self.state.display().to_string(), "$STATE"))
    }

    fn expected(&self, file: &str) -> String {
        std::fs::read_to_string(
            Path::new(FIXTURES)
                .join(self.name)
                .join("expected")
                .join(file),
        )
        .unwrap()
    }

    fn resume_with_the_autopilot(&self) {
        self.run(&["resume", &self.id, "--headless", "--autopilot"]);
    }

    /// The journal's chain head as it stands.
    fn head(&self) -> ChainHead {
        let (records, _) = Journal::read(&self.state, &self.id).unwrap();
        ChainHead::of(&records)
    }

    /// `breachbook report` says every fact the old version said (JSON), and its Markdown is
    /// this fixture's snapshot; both name the journal's actual chain head.
    fn reports_as_before(&self, resumed: bool) {
        let head = self.head();
        let md = self.placeholder(&self.run(&["report", &self.id]));
        let md = without_head(self.name, &md, &head);
        // The hand-over lines are new in this version (tests/crash_points.rs checks them);
        // the rest is as the old version wrote it.
        let md: String = md
            .lines()
            .filter(|l| {
                !l.contains("` resumed by ")
                    && !l.contains("` run stopped")
                    && !l.contains("` ! run stopped")
            })
            .map(|l| format!("{l}\n"))
            .collect();
        insta::assert_snapshot!(format!("compat_{}", self.name), md);
        let json = self.placeholder(&self.run(&["report", &self.id, "--format", "json"]));
        let json = without_json_head(self.name, &json, &head);
        same_facts(
            self.name,
            "report.json",
            &self.expected("report.json"),
            &json,
            resumed,
        );
    }

    /// The report the run wrote (report.md and report.json in the incident folder) is what
    /// this version renders from the journal as it stood then: every record before the
    /// `report_written` one.
    fn written_report_renders_again(&self) {
        let (records, recovery) = Journal::read(&self.state, &self.id).unwrap();
        assert!(
            recovery.is_clean(),
            "{}: {:?}",
            self.name,
            recovery.problems
        );
        let at = records
            .iter()
            .position(|r| matches!(r.event, Event::ReportWritten { .. }))
            .unwrap_or_else(|| panic!("{}: no report was written", self.name));
        let state = IncidentState::fold(
            records[..at]
                .iter()
                .map(|r| (&r.event, r.time, r.operator.user.as_str())),
        )
        .unwrap();
        let dir = self.incident_dir();
        let head = ChainHead::of(&records[..at]);
        let integrity = Integrity::intact(head.clone());
        let json = std::fs::read_to_string(dir.join("report.json")).unwrap();
        let now = serde_json::to_string_pretty(&report::json(&state, &integrity)).unwrap();
        let now = without_json_head(self.name, &now, &head);
        same_facts(self.name, "written report.json", &json, &now, false);
        // And this version renders the rest from the same journal, with its chain head.
        let md = report::markdown(&state, &integrity);
        assert!(md.starts_with("# Post-incident report: "));
        without_head(self.name, &md, &head);
        let html = report::html(&state, &integrity);
        assert!(html.starts_with("<!doctype html>") && html.contains(&head.hash));
    }

    /// The report a resumed run wrote holds every fact the old version's resume wrote; its
    /// Markdown and HTML are there too.
    fn resumed_run_wrote_as_before(&self) {
        let dir = self.incident_dir();
        // The chain head as it stood when the report was written: the record before
        // `report_written`.
        let (records, _) = Journal::read(&self.state, &self.id).unwrap();
        let at = records
            .iter()
            .rposition(|r| matches!(r.event, Event::ReportWritten { .. }))
            .unwrap_or_else(|| panic!("{}: no report was written", self.name));
        let head = ChainHead::of(&records[..at]);
        let got = self.placeholder(&std::fs::read_to_string(dir.join("report.json")).unwrap());
        let got = without_json_head(self.name, &got, &head);
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        without_head(self.name, &md, &head);
        let want = self.expected("written/report.json");
        same_facts(self.name, "written report.json", &want, &got, true);
        for file in ["report.md", "report.html"] {
            assert!(dir.join(file).is_file(), "{}: no {file}", self.name);
        }
    }
}

/// The Markdown report without its `| Journal |` row, which must name `head`.
fn without_head(fixture: &str, md: &str, head: &ChainHead) -> String {
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| Journal |"))
        .collect();
    assert_eq!(rows.len(), 1, "{fixture}: one journal row in\n{md}");
    assert!(
        rows[0].contains(&head.hash) && rows[0].contains(&format!(" {} record(s)", head.seq)),
        "{fixture}: the journal row does not name the chain head {head}: {}",
        rows[0]
    );
    let mut out: String = md
        .lines()
        .filter(|l| !l.starts_with("| Journal |"))
        .collect::<Vec<_>>()
        .join("\n");
    if md.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// The JSON report without its `journal` object, which must say intact at `head`.
fn without_json_head(fixture: &str, json: &str, head: &ChainHead) -> String {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    let j = v
        .as_object_mut()
        .unwrap()
        .remove("journal")
        .unwrap_or_else(|| panic!("{fixture}: no `journal` in the JSON report"));
    assert_eq!(j["intact"], true, "{fixture}: {j}");
    assert_eq!(j["head"]["seq"], head.seq, "{fixture}: {j}");
    assert_eq!(j["head"]["hash"], head.hash.as_str(), "{fixture}: {j}");
    let mut out = serde_json::to_string_pretty(&v).unwrap();
    if json.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Every fact of the old version's JSON report is in the new one with the same value (the
/// new one may add fields), except what issue 15 corrected, each only the one way it may
/// change:
/// - the timeline is the same entries, now in time order; a confirmation typed in a resumed
///   run is dated by its own time, which is later than the event before it that the old
///   version used (so are its `confirmations[].at`);
/// - refused calls of the minute a key was revoked in now count as after the revocation
///   (`old_key_after_revoke.denied` can only grow).
fn same_facts(fixture: &str, what: &str, old: &str, new: &str, resumed: bool) {
    let old: Value = serde_json::from_str(old).unwrap();
    let new: Value = serde_json::from_str(new).unwrap();
    let mut out = Vec::new();
    walk(&old, &new, "", &mut out);
    let mut unexplained = Vec::new();
    for (path, was, now) in out {
        let later = |a: &Value, b: &Value| a.as_str() <= b.as_str();
        let ok = if path.starts_with(".timeline") {
            continue;
        } else if path.starts_with(".confirmations[") && path.ends_with("].at") {
            resumed && now.as_ref().is_some_and(|n| later(&was, n))
        } else if path.ends_with(".old_key_after_revoke.denied") {
            now.as_ref().is_some_and(|n| n.as_u64() >= was.as_u64())
        } else {
            false
        };
        if !ok {
            unexplained.push(format!("{path}: {was} → {now:?}"));
        }
    }
    assert!(
        unexplained.is_empty(),
        "{fixture}: {what} differs from the old version's:\n  {}",
        unexplained.join("\n  ")
    );
    // The timeline: the same entries, in time order.
    let entries = |v: &Value| -> Vec<(String, String, String)> {
        v["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let confirmed = e["text"].as_str().unwrap_or("").contains(" confirmed ");
                // A resumed run's confirmations are dated by themselves now.
                let at = if resumed && confirmed {
                    String::new()
                } else {
                    e["at"].as_str().unwrap_or("").to_string()
                };
                (at, e["text"].to_string(), e["tone"].to_string())
            })
            .collect()
    };
    let (mut was, mut now) = (entries(&old), entries(&new));
    now.retain(|(_, text, _)| !is_hand_over(text));
    was.sort();
    now.sort();
    assert_eq!(
        was, now,
        "{fixture}: {what}: the timeline's entries changed"
    );
    let times: Vec<&str> = new["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_str().unwrap_or(""))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "{fixture}: {what}: the timeline is not in time order"
    );
}

/// Where `new` differs from `old`: (path, old value, new value or None when missing).
fn walk(old: &Value, new: &Value, path: &str, out: &mut Vec<(String, Value, Option<Value>)>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(w) => walk(v, w, &p, out),
                    None => out.push((p, v.clone(), None)),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                walk(v, w, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push((path.to_string(), a.clone(), Some(b.clone()))),
    }
}

/// Equal, or a panic naming the first line that differs.
#[allow(dead_code)]
fn assert_same(fixture: &str, what: &str, want: &str, got: &str) {
    if want == got {
        return;
    }
    let line = want
        .lines()
        .zip(got.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| want.lines().count().min(got.lines().count()));
    panic!(
        "{fixture}: {what} differs from the old version's, first at line {}:\n  old: {}\n  new: {}",
        line + 1,
        want.lines().nth(line).unwrap_or("<end>"),
        got.lines().nth(line).unwrap_or("<end>")
    );
}

#[test]
fn a_finished_autopilot_drill_resumes_and_reports_as_before() {
    let f = Fixture::open("drill-autopilot-seed7");
    f.written_report_renders_again();
    f.reports_as_before(false);
    // Nothing is left to do: resuming changes nothing.
    f.resume_with_the_autopilot();
    f.reports_as_before(false);
}

#[test]
fn a_drill_with_an_override_resumes_and_reports_as_before() {
    let f = Fixture::open("drill-override-seed7");
    f.written_report_renders_again();
    f.reports_as_before(false);
    f.resume_with_the_autopilot();
    f.reports_as_before(false);
}

#[test]
fn a_live_run_that_made_room_reports_as_before() {
    let f = Fixture::open("live-iam-make-room");
    f.written_report_renders_again();
    f.reports_as_before(false);
}

#[test]
fn a_drill_stopped_after_a_revoke_was_asked_for_ends_as_before() {
    let f = Fixture::open("drill-paused-at-revoke");
    f.resume_with_the_autopilot();
    f.resumed_run_wrote_as_before();
    f.reports_as_before(true);
}

#[test]
fn a_drill_stopped_after_a_delete_was_asked_for_ends_as_before() {
    let f = Fixture::open("drill-iam-paused-at-delete");
    f.resume_with_the_autopilot();
    f.resumed_run_wrote_as_before();
    f.reports_as_before(true);
}

/// A resume's record names this machine and process: `on HOST (process PID)` in the text.
fn hand_over_placeholder(text: &str) -> String {
    text.lines()
        .map(
            |line| match (line.find("resumed by "), line.rfind(" (process ")) {
                (Some(a), Some(b)) if b > a => match line[a..b].find(" on ") {
                    Some(on) => format!("{} on HOST (process PID){}", &line[..a + on], {
                        let rest = &line[b + " (process ".len()..];
                        rest.find(')').map_or("", |i| &rest[i + 1..])
                    }),
                    None => line.to_string(),
                },
                _ => line.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
        + if text.ends_with('\n') { "\n" } else { "" }
}

/// The hand-over records (`run_stopped`, `run_resumed`) are new in this version: an old
/// version's timeline has none of them.
fn is_hand_over(text: &str) -> bool {
    text.starts_with("\"resumed by ") || text.starts_with("\"run stopped")
}
