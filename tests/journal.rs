//! The journal on disk: round trip, sequence and chain, torn lines, edited / removed /
//! reordered records, the one-writer lock (in this process and across a killed process),
//! permissions, the incident list, and no secret on disk.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use breachbook::incident::event::{Event, Mode, Operator};
use breachbook::incident::journal::{
    GENESIS, Journal, JournalError, incident_dir, journal_path, list, render_list,
};
use breachbook::incident::model::{Credential, KeyGeneration, Location, LocationKind, UsageSample};
use breachbook::runbook::schema::{Issuer, Runbook};
use chrono::{DateTime, Utc};

const RB: &str = include_str!("../runbooks/onboarding-walkthrough.yaml");

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().into()
}

fn alice() -> Operator {
    Operator {
        user: "alice".into(),
        cloud: None,
    }
}

fn opened(id: &str) -> Event {
    let rb: Runbook = serde_saphyr::from_str(RB).unwrap();
    Event::IncidentOpened {
        id: id.into(),
        mode: Mode::Drill,
        runbook: Box::new(rb),
        runbook_digest: "d".into(),
        seed: Some(1),
        speed: Some(10.0),
        at: t("2026-05-13T00:00:00Z"),
        read_only: false,
    }
}

fn notes(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| Event::Note {
            text: format!("note {i}"),
        })
        .collect()
}

/// An incident with 6 records: the opening and five notes.
fn write_incident(state: &Path, id: &str) -> Vec<breachbook::incident::journal::Record> {
    let mut j = Journal::create(state, id, alice()).unwrap();
    let mut out = vec![j.append(&opened(id)).unwrap()];
    for e in notes(5) {
        out.push(j.append(&e).unwrap());
    }
    out
}

fn jpath(state: &Path) -> PathBuf {
    journal_path(state, "inc")
}

fn lines(state: &Path) -> Vec<String> {
    std::fs::read_to_string(jpath(state))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(state: &Path, lines: &[String]) {
    std::fs::write(jpath(state), lines.join("\n") + "\n").unwrap();
}

fn problems(state: &Path) -> Vec<String> {
    Journal::read(state, "inc").unwrap().1.problems
}

#[test]
fn create_append_reopen_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let written = write_incident(tmp.path(), "inc");
    let (mut j, records, recovery) = Journal::open(tmp.path(), "inc", alice()).unwrap();
    assert_eq!(records, written, "what open reads is what append returned");
    assert!(
        recovery.is_clean() && !recovery.dropped_torn_line,
        "{recovery:?}"
    );
    assert_eq!(j.last_seq(), 6);
    assert_eq!(j.id(), "inc");
    assert_eq!(j.dir(), incident_dir(tmp.path(), "inc"));
    let r = j
        .append(&Event::StepStarted {
            step: "declare".into(),
            at: t("2026-05-13T00:01:00Z"),
        })
        .unwrap();
    assert_eq!(r.seq, 7);
    assert_eq!(r.prev, written[5].hash);
    drop(j);
    let (records, recovery) = Journal::read(tmp.path(), "inc").unwrap();
    assert_eq!(records.len(), 7);
    assert_eq!(records[6], r);
    assert!(recovery.is_clean());
}

#[test]
fn create_appends_nothing_and_refuses_an_existing_incident() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::create(tmp.path(), "inc", alice()).unwrap();
    assert_eq!(std::fs::metadata(jpath(tmp.path())).unwrap().len(), 0);
    drop(j);
    let e = Journal::create(tmp.path(), "inc", alice()).unwrap_err();
    assert!(matches!(e, JournalError::Exists { .. }), "{e:?}");
    assert!(e.to_string().contains("breachbook resume inc"), "{e}");
}

#[test]
fn sequence_numbers_and_the_hash_chain() {
    let tmp = tempfile::tempdir().unwrap();
    write_incident(tmp.path(), "inc");
    let (records, _) = Journal::read(tmp.path(), "inc").unwrap();
    assert_eq!(records[0].prev, GENESIS);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1);
        assert_eq!(r.hash, r.compute_hash().unwrap());
        assert_eq!(r.hash.len(), 64);
        if i > 0 {
            assert_eq!(r.prev, records[i - 1].hash);
        }
        assert_eq!(r.operator.user, "alice");
    }
    // One JSON object per line.
    for l in lines(tmp.path()) {
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        for k in ["seq", "time", "operator", "prev", "hash", "event"] {
            assert!(v.get(k).is_some(), "{k} missing in {l}");
        }
    }
}

#[test]
fn the_cloud_identity_goes_on_later_records() {
    let tmp = tempfile::tempdir().unwrap();
    let mut j = Journal::create(tmp.path(), "inc", alice()).unwrap();
    j.append(&opened("inc")).unwrap();
    j.set_cloud_identity(Some(
        "arn:aws:sts::000000000000:assumed-role/r/alice".into(),
    ));
    let r = j.append(&notes(1)[0]).unwrap();
    assert_eq!(
        r.operator.cloud.as_deref(),
        Some("arn:aws:sts::000000000000:assumed-role/r/alice")
    );
    drop(j);
    // Resumed by the same user: the identity carries over until the engine learns it anew.
    let (j, _, _) = Journal::open(tmp.path(), "inc", alice()).unwrap();
    assert!(j.operator().cloud.is_some());
    drop(j);
    // Resumed by someone else: not theirs.
    let bob = Operator {
        user: "bob".into(),
        cloud: None,
    };
    let (j, _, _) = Journal::open(tmp.path(), "inc", bob).unwrap();
    assert_eq!(j.operator().cloud, None);
}

#[test]
fn a_torn_last_line_is_dropped_on_open_and_the_file_is_clean_after() {
    let tmp = tempfile::tempdir().unwrap();
    write_incident(tmp.path(), "inc");
    let clean = std::fs::read(jpath(tmp.path())).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(jpath(tmp.path()))
        .unwrap();
    f.write_all(br#"{"seq":7,"time":"2026-05-13T00:0"#).unwrap();
    drop(f);

    // A reader sees the tear but changes nothing.
    let (records, recovery) = Journal::read(tmp.path(), "inc").unwrap();
    assert_eq!(records.len(), 6);
    assert!(
        recovery.dropped_torn_line && recovery.is_clean(),
        "{recovery:?}"
    );
    assert_ne!(std::fs::read(jpath(tmp.path())).unwrap(), clean);

    // The writer cuts it off.
    let (mut j, records, recovery) = Journal::open(tmp.path(), "inc", alice()).unwrap();
    assert!(
        recovery.dropped_torn_line && recovery.is_clean(),
        "{recovery:?}"
    );
    assert_eq!(records.len(), 6);
    assert_eq!(std::fs::read(jpath(tmp.path())).unwrap(), clean);
    let r = j
        .append(&Event::Note {
            text: "after".into(),
        })
        .unwrap();
    assert_eq!(r.seq, 7);
    drop(j);
    let (records, recovery) = Journal::read(tmp.path(), "inc").unwrap();
    assert_eq!(records.len(), 7);
    assert!(
        recovery.is_clean() && !recovery.dropped_torn_line,
        "{recovery:?}"
    );
}

#[test]
fn a_file_cut_mid_record_loses_only_that_record() {
    let tmp = tempfile::tempdir().unwrap();
    write_incident(tmp.path(), "inc");
    let len = std::fs::metadata(jpath(tmp.path())).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(jpath(tmp.path()))
        .unwrap();
    f.set_len(len - 40).unwrap();
    drop(f);
    let (_, records, recovery) = Journal::open(tmp.path(), "inc", alice()).unwrap();
    assert!(
        recovery.dropped_torn_line && recovery.is_clean(),
        "{recovery:?}"
    );
    assert_eq!(records.len(), 5);
}

#[test]
fn a_whole_record_missing_only_its_newline_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    write_incident(tmp.path(), "inc");
    let len = std::fs::metadata(jpath(tmp.path())).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(jpath(tmp.path()))
        .unwrap();
    f.set_len(len - 1).unwrap();
    drop(f);
    let (j, records, recovery) = Journal::open(tmp.path(), "inc", alice()).unwrap();
    assert_eq!(records.len(), 6);
    assert!(
        !recovery.dropped_torn_line && recovery.is_clean(),
        "{recovery:?}"
    );
    drop(j);
    assert_eq!(std::fs::metadata(jpath(tmp.path())).unwrap().len(), len);
}

#[test]
fn an_edited_record_is_reported_naming_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    write_incident(tmp.path(), "inc");
    let mut l = lines(tmp.path());
    // Line 4 is record 4, "note 2".
    let mut v: serde_json::Value = serde_json::from_str(&l[3]).unwrap();
    v["event"]["text"] = "nothing happened here".into();
    l[3] = v.to_string();
    write_lines(tmp.path(), &l);
    let p = problems(tmp.path());
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("line 4:"), "{p:?}");
    assert!(p[0].contains("record 4 was changed"), "{p:?}");
    assert!(p[0].contains("breachbook report"), "says what to do: {p:?}");
    // Open reports it too, and still gives the lock and the records to the caller.
    let (_, records, recovery) = Journal::open(tmp.path(), "inc", alice()).unwrap();
    assert_eq!(records.len(), 6);
    assert_eq!(recovery.problems, p);
}

#[test]
fn a_field_added_by_hand_is_an_edit() {
    let tmp = tempfile::tempdir().unwrap();
    write_incident(tmp.path(), "inc");
    let mut l = lines(tmp.path());
    l[2] = l[2].replacen('{', r#"{"approved_by":"ciso","#, 1);
    write_lines(tmp.path(), &l);
    let p = problems(tmp.path());
    assert!(p.iter().any(|p| p.starts_with("line 3:")), "{p:?}");
}

#[test]
fn an_edit_with_a_recomputed_hash_breaks_the_chain_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    write_incident(tmp.path(), "inc");
    let mut l = lines(tmp.path());
    let mut rec: breachbook::incident::journal::Record = serde_json::from_str(&l[3]).unwrap();
    rec.event = Event::Note {
        text: "forged".into(),
    };
    rec.hash = rec.compute_hash().unwrap();
    l[3] = serde_json::to_string(&rec).unwrap();
    write_lines(tmp.path(), &l);
    let p = problems(tmp.path());
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with("line 5:") && p[0].contains("chain"),
        "{p:?}"
    );
}

#[test]
fn a_deleted_line_breaks_the_chain_and_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    write_incident(tmp.path(), "inc");
    let mut l = lines(tmp.path());
    l.remove(2);
    write_lines(tmp.path(), &l);
    let p = problems(tmp.path());
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("line 3:"), "{p:?}");
    assert!(p[0].contains("chain is broken"), "{p:?}");
    assert!(p[0].contains("record 3 is missing"), "{p:?}");
}

#[test]
fn reordered_lines_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    write_incident(tmp.path(), "inc");
    let mut l = lines(tmp.path());
    l.swap(3, 4);
    write_lines(tmp.path(), &l);
    let p = problems(tmp.path());
    assert!(p.iter().any(|p| p.starts_with("line 4:")), "{p:?}");
    assert!(p.iter().any(|p| p.starts_with("line 5:")), "{p:?}");
}

#[test]
fn an_unreadable_middle_line_is_reported_and_the_rest_still_read() {
    let tmp = tempfile::tempdir().unwrap();
    write_incident(tmp.path(), "inc");
    let mut l = lines(tmp.path());
    l[2] = "this line was typed in an editor".into();
    write_lines(tmp.path(), &l);
    let (records, recovery) = Journal::read(tmp.path(), "inc").unwrap();
    assert_eq!(records.len(), 5, "the records after it are still read");
    assert!(!recovery.dropped_torn_line);
    assert!(
        recovery.problems[0].starts_with("line 3: not a journal record"),
        "{:?}",
        recovery.problems
    );
}

#[test]
fn a_file_that_is_not_a_journal_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    drop(Journal::create(tmp.path(), "inc", alice()).unwrap());
    std::fs::write(jpath(tmp.path()), "hello\nworld\n").unwrap();
    let e = Journal::read(tmp.path(), "inc").unwrap_err();
    assert!(matches!(e, JournalError::Corrupt { line: 1, .. }), "{e:?}");
    assert!(e.to_string().contains("backup"), "{e}");
}

#[test]
fn second_opener_gets_locked_naming_the_holder_and_readers_still_read() {
    let tmp = tempfile::tempdir().unwrap();
    let mut j = Journal::create(tmp.path(), "inc", alice()).unwrap();
    j.append(&opened("inc")).unwrap();
    match Journal::open(tmp.path(), "inc", Operator::local()) {
        Err(e @ JournalError::Locked { .. }) => {
            let JournalError::Locked { holder } = &e else {
                unreachable!()
            };
            assert!(holder.contains("user alice"), "{holder}");
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "{holder}"
            );
            assert!(holder.contains("host "), "{holder}");
            assert!(holder.contains("since 20"), "{holder}");
            assert!(e.to_string().contains("breachbook report"), "{e}");
        }
        other => panic!("expected Locked, got {:?}", other.map(|_| ())),
    }
    // Reading needs no lock.
    let (records, _) = Journal::read(tmp.path(), "inc").unwrap();
    assert_eq!(records.len(), 1);
    // The writer goes on while the refused opener and the reader are gone.
    j.append(&notes(1)[0]).unwrap();
    drop(j);
    let (_, records, _) = Journal::open(tmp.path(), "inc", Operator::local()).unwrap();
    assert_eq!(records.len(), 2);
}

#[test]
fn stale_holder_text_does_not_block() {
    let tmp = tempfile::tempdir().unwrap();
    write_incident(tmp.path(), "inc");
    let lock = incident_dir(tmp.path(), "inc").join("lock");
    std::fs::write(
        &lock,
        "pid 1, user mallory, host gone, since 2020-01-01T00:00:00Z",
    )
    .unwrap();
    let (j, _, _) = Journal::open(tmp.path(), "inc", alice()).unwrap();
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.contains("user alice"), "{text}");
    drop(j);
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        "",
        "cleared on close"
    );
}

/// A real second process holds the lock; `open` names it, `list` shows it; once it is
/// SIGKILLed the OS releases the lock and the incident opens.
#[test]
fn a_killed_holder_releases_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .args([
            "drill",
            "--headless",
            "--autopilot",
            "--seed",
            "7",
            "--pause-after-records",
            "12",
        ])
        .env("BREACHBOOK_STATE_DIR", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let paused = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.starts_with("paused after record"));
    let pid = child.id();
    let outcome = std::panic::catch_unwind(|| {
        assert!(paused, "the drill ended before pausing");
        let id = std::fs::read_dir(tmp.path().join("incidents"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .file_name()
            .into_string()
            .unwrap();
        match Journal::open(tmp.path(), &id, alice()) {
            Err(JournalError::Locked { holder }) => {
                assert!(holder.contains(&format!("pid {pid}")), "{holder}")
            }
            other => panic!("expected Locked, got {:?}", other.map(|_| ())),
        }
        let rows = list(tmp.path()).unwrap();
        assert!(
            rows[0]
                .locked_by
                .as_deref()
                .is_some_and(|h| h.contains(&format!("pid {pid}"))),
            "{rows:?}"
        );
        id
    });
    child.kill().unwrap();
    let _ = child.wait();
    let id = outcome.unwrap();
    let (_, records, recovery) = Journal::open(tmp.path(), &id, alice()).unwrap();
    assert!(records.len() >= 12);
    assert!(recovery.is_clean(), "{recovery:?}");
    assert_eq!(list(tmp.path()).unwrap()[0].locked_by, None);
}

#[test]
fn files_are_0600_and_folders_0700_parents_included() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("a/b/state");
    write_incident(&state, "inc");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = incident_dir(&state, "inc");
    for d in [
        tmp.path().join("a"),
        tmp.path().join("a/b"),
        state.clone(),
        state.join("incidents"),
        dir.clone(),
    ] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    assert_eq!(mode(&dir.join("journal.jsonl")), 0o600);
    assert_eq!(mode(&dir.join("lock")), 0o600);
}

#[test]
fn open_narrows_a_journal_copied_with_wide_permissions() {
    let tmp = tempfile::tempdir().unwrap();
    write_incident(tmp.path(), "inc");
    let p = jpath(tmp.path());
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(Journal::open(tmp.path(), "inc", alice()).unwrap());
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn unknown_and_invalid_ids_say_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let e = Journal::read(tmp.path(), "nope").unwrap_err();
    assert!(matches!(e, JournalError::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("breachbook incidents"), "{e}");
    for bad in ["../../etc", "a/b", "", ".hidden", ".."] {
        let e = Journal::open(tmp.path(), bad, alice()).unwrap_err();
        assert!(matches!(e, JournalError::InvalidId { .. }), "{bad}: {e:?}");
        assert!(Journal::create(tmp.path(), bad, alice()).is_err(), "{bad}");
    }
    assert!(!tmp.path().join("etc").exists());
}

#[test]
fn list_rows_newest_first_with_progress_lock_and_problems() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(
        list(tmp.path()).unwrap().is_empty(),
        "no folder yet: no rows"
    );
    write_incident(tmp.path(), "older");
    std::thread::sleep(std::time::Duration::from_millis(20));
    // The newer one is being worked on, and has an exposed key contained.
    let mut j = Journal::create(tmp.path(), "newer", alice()).unwrap();
    j.append(&opened("newer")).unwrap();
    j.append(&Event::CredentialDiscovered {
        credential: credential(),
    })
    .unwrap();
    // A damaged one and one that never got its first record.
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_incident(tmp.path(), "damaged");
    let dp = journal_path(tmp.path(), "damaged");
    let text = std::fs::read_to_string(&dp)
        .unwrap()
        .replacen("note 1", "note X", 1);
    std::fs::write(&dp, text).unwrap();
    drop(Journal::create(tmp.path(), "empty", alice()).unwrap());
    std::fs::create_dir_all(tmp.path().join("incidents/not-an-incident")).unwrap();

    let rows = list(tmp.path()).unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["damaged", "newer", "older", "empty"], "{rows:#?}");

    let newer = &rows[1];
    assert_eq!(newer.runbook.as_deref(), Some("onboarding-walkthrough"));
    assert_eq!(newer.mode, Some(Mode::Drill));
    assert_eq!((newer.steps_done, newer.steps), (0, 8));
    assert_eq!((newer.contained, newer.exposed), (0, 1));
    assert!(newer.started.is_some() && newer.last_activity >= newer.started);
    assert!(
        newer
            .locked_by
            .as_deref()
            .is_some_and(|h| h.contains("user alice")),
        "{newer:?}"
    );
    assert!(newer.problems.is_empty());

    let older = &rows[2];
    assert_eq!(older.locked_by, None);
    assert!(
        older.status().contains("breachbook resume older"),
        "{}",
        older.status()
    );

    let damaged = &rows[0];
    assert_eq!(damaged.problems.len(), 1, "{damaged:?}");
    assert!(damaged.problems[0].starts_with("line 3:"));
    assert!(damaged.status().contains("journal damaged"));

    let empty = &rows[3];
    assert_eq!(empty.runbook, None);
    assert!(empty.status().contains("no records"), "{}", empty.status());

    let table = render_list(&rows);
    assert_eq!(table.lines().count(), 5, "{table}");
    assert!(table.starts_with("ID "), "{table}");
    for id in ids {
        assert!(table.contains(id), "{table}");
    }
    assert!(
        table.contains("onboarding-walkthrough") && table.contains("0/8"),
        "{table}"
    );
    drop(j);
    let rows = list(tmp.path()).unwrap();
    assert_eq!(rows[1].locked_by, None, "released when the writer closes");
}

fn credential() -> Credential {
    Credential {
        id: "openai/openai-prod".into(),
        issuer: Issuer::Openai,
        key_id: "key_0123456789abcdef".into(),
        name: "openai-prod".into(),
        hint: "sk-…a1b2".into(),
        created: Some(t("2026-01-01T00:00:00Z")),
        last_used: None,
        locations: vec![Location {
            kind: LocationKind::SecretsManager,
            name: "prod/ai/providers".into(),
            field: Some("OPENAI_API_KEY".into()),
            region: Some("us-east-1".into()),
            account: None,
            changed: None,
        }],
        exposed: true,
        exposure_reason: "stored in breached scope, unchanged since the window began".into(),
        fingerprint: Some("0a1b2c3d4e5f".into()),
        meta: Default::default(),
    }
}

/// Where a key-shaped value (a fake test secret) appears in `text`, if anywhere. Hints
/// (`sk-…a1b2`) are fine; eight or more key characters after a secret prefix are not.
fn find_secret(text: &str) -> Option<String> {
    for prefix in [
        "sk-test-",
        "sk-ant-test-",
        "sk-bt-test-",
        "sk-proj-",
        "AIzaTEST",
    ] {
        for (i, _) in text.match_indices(prefix) {
            let tail: String = text[i + prefix.len()..].chars().take(8).collect();
            if tail.len() == 8 && tail.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Some(format!("{prefix}{tail}"));
            }
        }
    }
    // An IAM secret access key as the drill world forms it: `AKIA…:<40 hex>`.
    for (i, _) in text.match_indices("AKIA") {
        let rest = &text[i..];
        let id_len = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        if rest[id_len..].starts_with(':')
            && rest[id_len + 1..]
                .chars()
                .take(16)
                .filter(char::is_ascii_hexdigit)
                .count()
                == 16
        {
            return Some(rest[..id_len + 17].to_string());
        }
    }
    None
}

#[test]
fn the_secret_scanner_finds_what_it_looks_for() {
    assert!(find_secret("x sk-test-0123456789abcdef y").is_some());
    assert!(find_secret("AKIAEXAMPLEABCDEFGHI:0123456789abcdef0123").is_some());
    assert!(find_secret("hint sk-…a1b2, id AKIAEXAMPLEABCDEFGHI").is_none());
}

#[test]
fn no_secret_value_enters_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let mut j = Journal::create(tmp.path(), "inc", alice()).unwrap();
    let c = "openai/openai-prod".to_string();
    let at = t("2026-05-13T00:05:00Z");
    for e in [
        opened("inc"),
        Event::CredentialDiscovered {
            credential: credential(),
        },
        Event::IssueRequested {
            credential: c.clone(),
            token: "tok-0123456789abcdef0123456789abcdef".into(),
            at: None,
        },
        Event::Issued {
            credential: c.clone(),
            new_key_id: "key_fedcba9876543210".into(),
            new_hint: "sk-…9z8y".into(),
            at,
        },
        Event::Staged {
            credential: c.clone(),
            location: "sm:prod/ai/providers#OPENAI_API_KEY".into(),
            version: "v-2".into(),
            at,
        },
        Event::UsageObserved {
            sample: UsageSample {
                credential: c.clone(),
                generation: KeyGeneration::Old,
                minute: at,
                ok: 3,
                denied: 0,
                sources: vec!["203.0.113.45".into()],
            },
        },
    ] {
        j.append(&e).unwrap();
    }
    drop(j);
    let text = std::fs::read_to_string(jpath(tmp.path())).unwrap();
    assert!(text.contains("sk-…a1b2") && text.contains("sk-…9z8y"));
    assert_eq!(find_secret(&text), None);
}

/// The whole drill, end to end, through the real binary: every file in the incident folder
/// is free of key values, and the journal verifies.
#[test]
fn no_secret_value_on_disk_after_a_real_drill() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .args(["drill", "--headless", "--autopilot", "--seed", "7"])
        .env("BREACHBOOK_STATE_DIR", tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = list(tmp.path()).unwrap();
    assert_eq!(rows.len(), 1);
    let (records, recovery) = Journal::read(tmp.path(), &rows[0].id).unwrap();
    assert!(
        recovery.is_clean() && !recovery.dropped_torn_line,
        "{recovery:?}"
    );
    assert!(records.len() > 40);
    assert!(rows[0].complete, "{:?}", rows[0]);
    let dir = incident_dir(tmp.path(), &rows[0].id);
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        assert_eq!(find_secret(&text), None, "in {}", p.display());
    }
}
