//! The journal's hash chain checked from outside: a headless autopilot drill is run with
//! the real binary, and its `journal.jsonl` is verified by an independent checker
//! (`support/chain.rs`: sha2 + serde_json, none of breachbook's reader), then tampered with.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/chain.rs"]
mod chain;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use chain::Problem;

/// The journal of one finished drill (run once per test binary; tests copy its bytes).
fn drill_journal() -> &'static [u8] {
    static JOURNAL: OnceLock<Vec<u8>> = OnceLock::new();
    JOURNAL.get_or_init(|| {
        let state = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
            .args(["drill", "--headless", "--autopilot", "--seed", "7"])
            .env("BREACHBOOK_STATE_DIR", state.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("run breachbook");
        assert!(
            out.status.success(),
            "drill failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(journal_in(state.path())).unwrap()
    })
}

fn journal_in(state: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(state.join("incidents"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "one incident: {dirs:?}");
    dirs[0].join("journal.jsonl")
}

/// Byte ranges of each line (without its newline).
fn line_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            spans.push((start, i));
            start = i + 1;
        }
    }
    spans
}

#[test]
fn a_finished_drill_journal_is_an_intact_chain() {
    let bytes = drill_journal();
    let report = chain::check(bytes);
    assert!(report.is_intact(), "{:?}", report.problems);
    let lines = line_spans(bytes).len();
    assert!(
        lines > 20,
        "a whole drill journals more than {lines} records"
    );
    assert_eq!(report.links.len(), lines);
    // 1, 2, 3, … and each prev the hash before it.
    for (i, link) in report.links.iter().enumerate() {
        assert_eq!(link.seq, i as u64 + 1);
        let expected = if i == 0 {
            chain::GENESIS
        } else {
            report.links[i - 1].hash.as_str()
        };
        assert_eq!(link.prev, expected, "record {}", link.seq);
    }
    assert_eq!(report.links[0].event_type, "incident_opened");
    // The drill revoked keys: the chain covers the whole run, not just its start.
    let types: Vec<&str> = report.links.iter().map(|l| l.event_type.as_str()).collect();
    assert!(types.contains(&"confirmation_given"), "{types:?}");
    assert_eq!(
        report.head(),
        Some(report.links.last().unwrap().hash.as_str())
    );
}

#[test]
fn one_edited_byte_in_a_middle_record_is_found_on_that_record() {
    let bytes = drill_journal();
    let spans = line_spans(bytes);
    let middle = spans.len() / 2;
    let (start, end) = spans[middle];
    let line_no = middle + 1;

    // An edit that keeps the line valid JSON: one digit of the record's timestamp.
    let line = std::str::from_utf8(&bytes[start..end]).unwrap();
    let time_at = start + line.find("\"time\":\"").unwrap() + "\"time\":\"".len();
    let mut edited = bytes.to_vec();
    edited[time_at] = if edited[time_at] == b'1' { b'2' } else { b'1' };
    let report = chain::check(&edited);
    assert_eq!(
        report.problems,
        vec![Problem::HashMismatch {
            line: line_no,
            seq: line_no as u64
        }],
        "only the edited record fails; the next one still links to its stored hash"
    );

    // Its stored hash edited to match a forgery: the next record's link breaks instead.
    let hash_at = start + line.find("\"hash\":\"").unwrap() + "\"hash\":\"".len();
    let mut forged = bytes.to_vec();
    forged[hash_at] = if forged[hash_at] == b'a' { b'b' } else { b'a' };
    let report = chain::check(&forged);
    assert_eq!(
        report.problems,
        vec![
            Problem::HashMismatch {
                line: line_no,
                seq: line_no as u64
            },
            Problem::BrokenLink {
                line: line_no + 1,
                seq: line_no as u64 + 1
            }
        ]
    );

    // Any single flipped bit, anywhere in that record, is found on that record.
    for at in start..end {
        let mut flipped = bytes.to_vec();
        flipped[at] ^= 0x01;
        let report = chain::check(&flipped);
        assert!(
            report.problems.iter().any(|p| p.line() == line_no),
            "a flip at byte {} of line {line_no} went unnoticed: {:?}",
            at - start,
            report.problems
        );
    }
}

#[test]
fn removed_reordered_and_truncated_records_are_found() {
    let bytes = drill_journal();
    let spans = line_spans(bytes);
    let lines: Vec<&[u8]> = spans.iter().map(|(s, e)| &bytes[*s..*e]).collect();
    let join = |ls: &[&[u8]]| -> Vec<u8> {
        let mut out = Vec::new();
        for l in ls {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        out
    };
    let m = lines.len() / 2;

    let mut removed = lines.clone();
    removed.remove(m);
    let report = chain::check(&join(&removed));
    assert!(
        report.problems.contains(&Problem::Sequence {
            line: m + 1,
            expected: m as u64 + 1,
            found: m as u64 + 2
        }),
        "{:?}",
        report.problems
    );
    assert!(report.problems.contains(&Problem::BrokenLink {
        line: m + 1,
        seq: m as u64 + 2
    }));

    let mut swapped = lines.clone();
    swapped.swap(m, m + 1);
    let report = chain::check(&join(&swapped));
    assert!(!report.is_intact());
    assert!(
        report
            .problems
            .iter()
            .all(|p| !matches!(p, Problem::HashMismatch { .. })),
        "each record is intact, only the order is wrong: {:?}",
        report.problems
    );

    // A cut tail: whole records dropped leave an intact, shorter chain (the head moves
    // back: what anchoring the head elsewhere is for); half a record is reported.
    let report = chain::check(&join(&lines[..m]));
    assert!(report.is_intact());
    assert_eq!(report.links.len(), m);
    let mut torn = join(&lines[..m]);
    torn.extend_from_slice(&lines[m][..lines[m].len() / 2]);
    let report = chain::check(&torn);
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    assert!(
        report
            .problems
            .contains(&Problem::Unterminated { line: m + 1 })
    );

    // Not a journal at all.
    assert!(!chain::check(b"{\"seq\":1}\n").is_intact());
    assert!(chain::check(b"").is_intact());
}
