//! Journals written by an earlier breachbook still read, resume and report identically.
//!
//! The fixtures under `tests/fixtures/journals/` were written by the binary of commit
//! c2172cb (before the engine boundary work of issue 10); their README says how. Each holds
//! a state folder (`state/incidents/ID/…`, as that version left it) and what that version
//! reported (`expected/`). Finished incidents are resumed (drills) and reported; incidents
//! stopped mid-way are resumed by the headless autopilot and must end exactly as the old
//! version ended them. The only thing filtered is the state folder's path, which is in the
//! `report written: PATH` line of a resumed run (`$STATE` in the expected files); nothing in
//! a report depends on the wall clock.
//!
//! One thing was added to every report since: the journal's chain head (the `| Journal |`
//! row of the Markdown header, the `journal` object of the JSON). It is checked against the
//! journal itself and left out of the comparison; everything else must be identical.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use breachbook::incident::event::Event;
use breachbook::incident::journal::{ChainHead, Journal};
use breachbook::incident::report::{self, Integrity};
use breachbook::incident::state::IncidentState;

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
        text.replace(&self.state.display().to_string(), "$STATE")
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

    /// `breachbook report` in both formats says what the old version said, plus the
    /// journal's actual chain head.
    fn reports_as_before(&self) {
        let head = self.head();
        let md = self.placeholder(&self.run(&["report", &self.id]));
        let md = without_head(self.name, &md, &head);
        assert_same(self.name, "report.md", &self.expected("report.md"), &md);
        let json = self.placeholder(&self.run(&["report", &self.id, "--format", "json"]));
        let json = without_json_head(self.name, &json, &head);
        assert_same(
            self.name,
            "report.json",
            &self.expected("report.json"),
            &json,
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
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        let now = without_head(self.name, &report::markdown(&state, &integrity), &head);
        assert_same(self.name, "written report.md", &md, &now);
        let json = std::fs::read_to_string(dir.join("report.json")).unwrap();
        let now = serde_json::to_string_pretty(&report::json(&state, &integrity)).unwrap();
        let now = without_json_head(self.name, &now, &head);
        assert_same(self.name, "written report.json", &json, &now);
    }

    /// The report files a resumed run wrote are the ones the old version's resume wrote, plus
    /// the chain head as it stood when they were written (the record before `report_written`).
    fn resumed_run_wrote_as_before(&self) {
        let dir = self.incident_dir();
        let (records, _) = Journal::read(&self.state, &self.id).unwrap();
        let at = records
            .iter()
            .rposition(|r| matches!(r.event, Event::ReportWritten { .. }))
            .unwrap_or_else(|| panic!("{}: no report was written", self.name));
        let head = ChainHead::of(&records[..at]);
        for file in ["report.md", "report.json"] {
            let got = self.placeholder(&std::fs::read_to_string(dir.join(file)).unwrap());
            let got = if file.ends_with(".md") {
                without_head(self.name, &got, &head)
            } else {
                without_json_head(self.name, &got, &head)
            };
            let want = self.expected(&format!("written/{file}"));
            assert_same(self.name, &format!("written {file}"), &want, &got);
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

/// Equal, or a panic naming the first line that differs.
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
    f.reports_as_before();
    // Nothing is left to do: resuming changes nothing.
    f.resume_with_the_autopilot();
    f.reports_as_before();
}

#[test]
fn a_drill_with_an_override_resumes_and_reports_as_before() {
    let f = Fixture::open("drill-override-seed7");
    f.written_report_renders_again();
    f.reports_as_before();
    f.resume_with_the_autopilot();
    f.reports_as_before();
}

#[test]
fn a_live_run_that_made_room_reports_as_before() {
    let f = Fixture::open("live-iam-make-room");
    f.written_report_renders_again();
    f.reports_as_before();
}

#[test]
fn a_drill_stopped_after_a_revoke_was_asked_for_ends_as_before() {
    let f = Fixture::open("drill-paused-at-revoke");
    f.resume_with_the_autopilot();
    f.resumed_run_wrote_as_before();
    f.reports_as_before();
}

#[test]
fn a_drill_stopped_after_a_delete_was_asked_for_ends_as_before() {
    let f = Fixture::open("drill-iam-paused-at-delete");
    f.resume_with_the_autopilot();
    f.resumed_run_wrote_as_before();
    f.reports_as_before();
}
