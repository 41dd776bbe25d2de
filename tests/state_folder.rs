//! The state folder under hostile conditions, through the real binary: planted links are
//! refused and never followed (nothing is emptied, appended to or chmod-ed through them),
//! a folder others can write or another user owns is refused with the fix, every file is
//! 0600 and every folder 0700, FIFOs and devices are refused at once instead of hanging or
//! eating memory, a torn tail is cut only from a journal that verifies (its bytes kept
//! beside it), a damaged journal is reported as damaged (in the report, exit 3, one
//! warning however many bad lines), `incidents` lists what it cannot read, and `verify`
//! tells a rewritten history from the head a person kept.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use breachbook::incident::journal::{ChainHead, Journal, Record};

/// A command that takes longer than this is hanging (a FIFO read, `/dev/zero`).
const HANG: Duration = Duration::from_secs(30);

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Out {
    fn dump(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }
}

/// Runs the binary on `state`, killed (and failed) if it runs past [`HANG`].
fn run(state: &Path, args: &[&str]) -> Out {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("BREACHBOOK_STATE_DIR")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "breachbook {args:?} hung for {HANG:?} (killed)\n--- stderr\n{}",
                e.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Out {
        code,
        stdout: o.join().unwrap(),
        stderr: e.join().unwrap(),
        took: start.elapsed(),
    }
}

/// A finished headless drill in `state`; returns its id and the summary line.
fn drill(state: &Path) -> (String, serde_json::Value) {
    let out = run(
        state,
        &[
            "drill",
            "onboarding-walkthrough",
            "--headless",
            "--autopilot",
            "--seed",
            "3",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.dump());
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    (summary["incident"].as_str().unwrap().to_string(), summary)
}

fn incident_dir(state: &Path, id: &str) -> PathBuf {
    state.join("incidents").join(id)
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        out.push(p.clone());
        if e.file_type().unwrap().is_dir() {
            walk(&p, out);
        }
    }
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn every_file_is_0600_and_every_folder_0700() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (id, _) = drill(&state);
    // `report` and `verify` read; `incidents` lists: nothing they do widens anything.
    assert_eq!(run(&state, &["report", &id]).code, Some(0));
    assert_eq!(run(&state, &["verify", &id]).code, Some(0));
    let mut all = vec![state.clone()];
    walk(&state, &mut all);
    let files: Vec<&PathBuf> = all.iter().filter(|p| p.is_file()).collect();
    assert!(
        files
            .iter()
            .any(|p| p.to_string_lossy().contains("/logs/breachbook.")),
        "a log file was written: {all:?}"
    );
    assert!(files.iter().any(|p| p.ends_with("journal.jsonl")));
    assert!(files.iter().any(|p| p.ends_with("report.md")));
    for p in &all {
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(p), want, "{} is {:o}", p.display(), mode(p));
    }
}

#[test]
fn a_planted_lock_link_is_refused_and_what_it_points_to_is_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (id, _) = drill(&state);
    // The "root-owned file" of the attack: anything outside the folder the link points at.
    let precious = tmp.path().join("precious");
    std::fs::write(&precious, "do not empty me\n").unwrap();
    std::fs::set_permissions(&precious, std::fs::Permissions::from_mode(0o644)).unwrap();
    let lock = incident_dir(&state, &id).join("lock");
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&precious, &lock).unwrap();
    for args in [
        vec!["resume", id.as_str(), "--headless", "--autopilot"],
        vec!["resume", id.as_str()],
    ] {
        let out = run(&state, &args);
        assert_eq!(out.code, Some(2), "{}", out.dump());
        assert!(out.stderr.contains("is a symbolic link"), "{}", out.dump());
        assert!(out.stderr.contains("remove it"), "{}", out.dump());
    }
    assert_eq!(
        std::fs::read_to_string(&precious).unwrap(),
        "do not empty me\n"
    );
    assert_eq!(mode(&precious), 0o644, "its mode was changed");
    // Reading is still possible, and lists nobody as the holder.
    let out = run(&state, &["report", &id]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
}

#[test]
fn a_journal_linked_outside_the_folder_is_refused_not_appended_or_narrowed() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (id, _) = drill(&state);
    let dir = incident_dir(&state, &id);
    let outside = tmp.path().join("elsewhere.jsonl");
    std::fs::rename(dir.join("journal.jsonl"), &outside).unwrap();
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("journal.jsonl")).unwrap();
    let before = std::fs::read(&outside).unwrap();
    for args in [
        vec!["resume", id.as_str(), "--headless", "--autopilot"],
        vec!["report", id.as_str()],
        vec!["verify", id.as_str()],
    ] {
        let out = run(&state, &args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.dump());
        assert!(out.stderr.contains("is a symbolic link"), "{}", out.dump());
    }
    assert_eq!(
        std::fs::read(&outside).unwrap(),
        before,
        "appended through the link"
    );
    assert_eq!(
        mode(&outside),
        0o644,
        "its mode was changed through the link"
    );
    let out = run(&state, &["incidents"]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
    assert!(
        out.stdout.contains(&id) && out.stdout.contains("symbolic link"),
        "{}",
        out.dump()
    );
}

#[test]
fn a_planted_report_link_is_replaced_not_written_through() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (id, _) = drill(&state);
    let dir = incident_dir(&state, &id);
    // A drill stopped before its report: resumed, it writes report.md where a link waits.
    let precious = tmp.path().join("precious");
    std::fs::write(&precious, "keep\n").unwrap();
    std::fs::remove_file(dir.join("report.md")).unwrap();
    std::os::unix::fs::symlink(&precious, dir.join("report.md")).unwrap();
    breachbook::fsutil::write_private(&dir.join("report.md"), b"new report").unwrap();
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep\n");
    assert!(
        !std::fs::symlink_metadata(dir.join("report.md"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(mode(&dir.join("report.md")), 0o600);
}

#[test]
fn a_state_folder_others_can_write_or_another_user_owns_is_refused_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (id, _) = drill(&state);
    let incidents = state.join("incidents");
    std::fs::set_permissions(&incidents, std::fs::Permissions::from_mode(0o777)).unwrap();
    for args in [
        vec!["incidents"],
        vec!["report", id.as_str()],
        vec!["resume", id.as_str(), "--headless", "--autopilot"],
        vec!["drill", "--headless", "--autopilot"],
    ] {
        let out = run(&state, &args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.dump());
        assert!(
            out.stderr.contains("can be written by other users"),
            "{}",
            out.dump()
        );
        assert!(
            out.stderr
                .contains(&format!("chmod go-w {}", incidents.display())),
            "{}",
            out.dump()
        );
    }
    std::fs::set_permissions(&incidents, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(run(&state, &["report", &id]).code, Some(0));

    // Another user's folder: as root, hand the incident folder to another uid; otherwise
    // use a folder root owns (the filesystem root) as the state folder.
    let me = breachbook::fsutil::me();
    let (target, foreign) = if me == 0 {
        let dir = incident_dir(&state, &id);
        let ok = Command::new("chown")
            .arg("4242")
            .arg(&dir)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        (state.clone(), dir)
    } else {
        (PathBuf::from("/"), PathBuf::from("/"))
    };
    let out = run(&target, &["report", &id]);
    assert_eq!(out.code, Some(2), "{}", out.dump());
    assert!(
        out.stderr.contains("belongs to another user"),
        "{}",
        out.dump()
    );
    assert!(
        out.stderr.contains(&foreign.display().to_string()),
        "{}",
        out.dump()
    );
}

#[test]
fn fifos_and_devices_are_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (id, _) = drill(&state);
    let journal = incident_dir(&state, &id).join("journal.jsonl");
    std::fs::remove_file(&journal).unwrap();
    mkfifo(&journal);
    for args in [
        vec!["report", id.as_str()],
        vec!["verify", id.as_str()],
        vec!["resume", id.as_str(), "--headless", "--autopilot"],
    ] {
        let out = run(&state, &args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.dump());
        assert!(out.stderr.contains("a FIFO"), "{}", out.dump());
    }
    let out = run(&state, &["incidents"]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
    assert!(
        out.stdout.contains("unreadable") && out.stdout.contains("FIFO"),
        "{}",
        out.dump()
    );

    let fifo = tmp.path().join("runbook.yaml");
    mkfifo(&fifo);
    let fifo = fifo.to_str().unwrap();
    for args in [
        vec!["check", fifo],
        vec!["drill", fifo, "--headless", "--autopilot"],
    ] {
        let out = run(&state, &args);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.dump());
        let said = format!("{}{}", out.stdout, out.stderr);
        assert!(said.contains("a FIFO"), "{}", out.dump());
    }
    for dev in ["/dev/zero", "/dev/null"] {
        let out = run(&state, &["check", dev]);
        assert_eq!(out.code, Some(2), "{}", out.dump());
        assert!(out.stdout.contains("a character device"), "{}", out.dump());
        assert!(out.took < Duration::from_secs(10), "{}", out.dump());
    }
    let script = tmp.path().join("script.yaml");
    mkfifo(&script);
    let out = run(
        &state,
        &["drill", "--headless", "--script", script.to_str().unwrap()],
    );
    assert_eq!(out.code, Some(2), "{}", out.dump());
    assert!(out.stderr.contains("a FIFO"), "{}", out.dump());
}

/// The journal's lines.
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_torn_tail_is_cut_only_from_a_journal_that_verifies_and_kept_beside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (id, _) = drill(&state);
    let dir = incident_dir(&state, &id);
    let journal = dir.join("journal.jsonl");
    let torn = br#"{"seq":999,"time":"2026-"#;

    // Damaged (an edit in the middle) and torn: nothing is cut, nothing is written.
    let mut damaged = lines(&journal);
    damaged[2] = damaged[2].replacen("\"seq\":3", "\"seq\":3,\"x\":1", 1);
    let mut bytes = damaged.join("\n").into_bytes();
    bytes.push(b'\n');
    bytes.extend_from_slice(torn);
    std::fs::write(&journal, &bytes).unwrap();
    let out = run(&state, &["resume", &id, "--headless", "--autopilot"]);
    assert_eq!(out.code, Some(2), "{}", out.dump());
    assert!(
        out.stderr.contains("failed its integrity check"),
        "{}",
        out.dump()
    );
    assert_eq!(std::fs::read(&journal).unwrap(), bytes, "evidence was cut");
    assert!(
        !std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(".torn-")),
        "a torn tail was cut from a damaged journal"
    );

    // Intact but torn: cut, and its bytes kept beside the journal.
    let clean = lines(&journal);
    let mut clean = clean[..clean.len() - 1].to_vec();
    clean[2] = clean[2].replacen("\"seq\":3,\"x\":1", "\"seq\":3", 1);
    let mut bytes = clean.join("\n").into_bytes();
    bytes.push(b'\n');
    let whole = bytes.len();
    bytes.extend_from_slice(torn);
    std::fs::write(&journal, &bytes).unwrap();
    let out = run(&state, &["resume", &id, "--headless", "--autopilot"]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
    assert!(
        out.stderr
            .contains("it was cut from the journal and kept in"),
        "{}",
        out.dump()
    );
    let kept: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("journal.jsonl.torn-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), torn);
    assert_eq!(mode(&kept[0]), 0o600);
    let now = std::fs::read(&journal).unwrap();
    assert_eq!(
        &now[..whole],
        &bytes[..whole],
        "records before the tail changed"
    );
    assert_eq!(run(&state, &["verify", &id]).code, Some(0));
}

#[test]
fn a_damaged_journal_is_said_so_in_the_report_with_one_warning_and_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (id, _) = drill(&state);
    let journal = incident_dir(&state, &id).join("journal.jsonl");
    let mut text = std::fs::read_to_string(&journal).unwrap();
    // A million bad lines after the records.
    text.reserve(8_000_000);
    for _ in 0..1_000_000 {
        text.push_str("garbage\n");
    }
    std::fs::write(&journal, &text).unwrap();
    let out = run(&state, &["report", &id]);
    assert_eq!(
        out.code,
        Some(3),
        "{}",
        &out.dump()[..2000.min(out.dump().len())]
    );
    assert_eq!(out.stderr.lines().count(), 1, "one warning: {}", out.stderr);
    assert!(out.stderr.contains("1000000 problems"), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("The journal of this incident is damaged"),
        "{}",
        &out.stdout[..3000.min(out.stdout.len())]
    );
    assert!(
        out.stdout
            .contains("| Journal | **DAMAGED** (1000000 problem(s))")
    );
    assert!(out.stdout.contains("… and 999980 more"));
    let out = run(&state, &["report", &id, "--format", "json"]);
    assert_eq!(out.code, Some(3));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["journal"]["intact"], false);
    assert_eq!(v["journal"]["unlisted_problems"], 999_980);
    let out = run(&state, &["incidents"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("journal damaged (1000000 problem(s))"),
        "{}",
        out.stdout
    );
    let out = run(&state, &["verify", &id]);
    assert_eq!(out.code, Some(3));
    assert!(
        out.stdout.starts_with("DAMAGED"),
        "{}",
        &out.stdout[..500.min(out.stdout.len())]
    );
    assert!(
        out.stdout.lines().count() < 30,
        "the problems are not listed one by one"
    );
}

/// Rewrites the journal's history as someone who can write the file could: changes what a
/// record says and recomputes every hash after it.
fn rewrite_history(journal: &Path) {
    let mut records: Vec<Record> = lines(journal)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut prev = breachbook::incident::journal::GENESIS.to_string();
    for (i, r) in records.iter_mut().enumerate() {
        if i == 1 {
            r.operator.user = "mallory".into();
        }
        r.prev = prev.clone();
        r.hash = r.compute_hash().unwrap();
        prev = r.hash.clone();
    }
    let text: String = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(journal, text).unwrap();
}

#[test]
fn verify_tells_a_rewritten_history_from_the_head_kept_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (id, summary) = drill(&state);
    let kept = summary["journal_head"]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let seq = summary["journal_head"]["seq"].as_u64().unwrap();
    let (records, _) = Journal::read(&state, &id).unwrap();
    assert_eq!(
        ChainHead::of(&records),
        ChainHead {
            seq,
            hash: kept.clone()
        },
        "the summary's head is the journal's"
    );
    let report = std::fs::read_to_string(incident_dir(&state, &id).join("report.md")).unwrap();
    assert!(report.contains("| Journal | intact: "), "{report}");

    let out = run(&state, &["verify", &id, "--head", &kept]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
    assert!(out.stdout.contains("is its last record"), "{}", out.dump());
    let out = run(&state, &["verify", &id, "--head", &format!("{seq}:{kept}")]);
    assert_eq!(out.code, Some(0), "{}", out.dump());

    // Someone who can write the file rewrites history and recomputes the chain: on its
    // own the journal verifies, against the kept head it does not.
    rewrite_history(&incident_dir(&state, &id).join("journal.jsonl"));
    let out = run(&state, &["verify", &id]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
    assert!(out.stdout.contains("pass --head HASH"), "{}", out.dump());
    let out = run(&state, &["verify", &id, "--head", &kept]);
    assert_eq!(out.code, Some(3), "{}", out.dump());
    assert!(out.stdout.starts_with("MISMATCH"), "{}", out.dump());
    assert!(out.stdout.contains(&kept), "{}", out.dump());

    let out = run(&state, &["verify", &id, "--head", "abc"]);
    assert_eq!(out.code, Some(2), "{}", out.dump());
    assert!(out.stderr.contains("is not a chain head"), "{}", out.dump());
}

#[test]
fn a_head_kept_mid_incident_still_verifies_with_records_written_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let out = run(
        &state,
        &[
            "drill",
            "onboarding-walkthrough",
            "--headless",
            "--autopilot",
            "--seed",
            "3",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.dump());
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    let id = summary["incident"].as_str().unwrap();
    let journal = incident_dir(&state, id).join("journal.jsonl");
    let all = lines(&journal);
    let kept_at = 10;
    let head: Record = serde_json::from_str(&all[kept_at - 1]).unwrap();
    let out = run(&state, &["verify", id, "--head", &head.hash]);
    assert_eq!(out.code, Some(0), "{}", out.dump());
    assert!(
        out.stdout.contains(&format!(
            "{} record(s) were written after it",
            all.len() - kept_at
        )),
        "{}",
        out.dump()
    );
}

#[test]
fn the_owner_of_every_file_is_the_user_who_ran_it() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    drill(&state);
    let me = breachbook::fsutil::me();
    let mut all = vec![state.clone()];
    walk(&state, &mut all);
    for p in all {
        assert_eq!(std::fs::metadata(&p).unwrap().uid(), me, "{}", p.display());
    }
}
