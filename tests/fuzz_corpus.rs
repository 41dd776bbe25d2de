//! The fuzz targets' checks (`fuzz/checks/mod.rs`) over their committed corpus, on the stable
//! toolchain in every test run: the seeds written for the cases of issue 13 (`fuzz/seeds/`:
//! escape sequences in titles, `speed: 1e308`, `duration: 999999999999d`, a torn tail on a
//! damaged journal, dates at the ends of time, sequence numbers at u64::MAX, usage counts at
//! u32::MAX…), the shipped runbooks, the invalid-runbook fixtures and the compatibility
//! journals. What a fuzzing run keeps (`fuzz/corpus/<target>/`, tens of MB) stays on the
//! machine that ran it; set `BREACHBOOK_FUZZ_CORPUS=1` to replay it here too. An input the
//! fuzzer finds failing goes into `fuzz/seeds/` with its fix, so it is replayed from then on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fuzz/checks/mod.rs"]
mod checks;

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every file under `dir` (recursively), or none when it does not exist.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn inputs(dirs: &[&str], keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let local = std::env::var_os("BREACHBOOK_FUZZ_CORPUS").is_some_and(|v| !v.is_empty());
    let mut out = Vec::new();
    for d in dirs {
        if d.starts_with("fuzz/corpus/") && !local {
            continue;
        }
        files(&Path::new(ROOT).join(d), &mut out);
    }
    out.retain(|p| keep(p));
    out.sort();
    out
}

/// Runs `check` on every input, naming the one that panics.
fn replay(what: &str, inputs: &[PathBuf], check: fn(&[u8])) {
    assert!(!inputs.is_empty(), "no {what} inputs found");
    for p in inputs {
        let bytes = std::fs::read(p).unwrap();
        let caught = std::panic::catch_unwind(|| check(&bytes));
        assert!(caught.is_ok(), "{what}: {} fails its check", p.display());
    }
}

fn journals() -> Vec<PathBuf> {
    inputs(
        &[
            "fuzz/seeds/journal",
            "fuzz/corpus/journal_read",
            "fuzz/corpus/report",
            "tests/fixtures/journals",
        ],
        |p| {
            !p.starts_with(Path::new(ROOT).join("tests/fixtures/journals"))
                || p.ends_with("journal.jsonl")
        },
    )
}

#[test]
fn the_runbook_loader_corpus_replays() {
    let all = inputs(
        &[
            "fuzz/seeds/runbook",
            "fuzz/corpus/load_runbook",
            "runbooks",
            "tests/fixtures/invalid",
        ],
        |_| true,
    );
    assert!(all.len() > 60, "{}", all.len());
    replay("load_runbook", &all, checks::runbook);
}

#[test]
fn the_journal_reader_corpus_replays() {
    let all = journals();
    assert!(all.len() >= 19, "{all:?}");
    replay("journal_read", &all, checks::journal);
}

#[test]
fn the_report_corpus_replays() {
    let all = journals();
    replay("report", &all, checks::report);
}

#[test]
fn a_million_bad_lines_are_read_and_reported_in_bounded_time_and_memory() {
    let seed =
        std::fs::read(Path::new(ROOT).join("fuzz/seeds/journal/onboarding-drill.jsonl")).unwrap();
    let mut bytes = seed.clone();
    bytes.reserve(8_000_000);
    for _ in 0..1_000_000 {
        bytes.extend_from_slice(b"garbage\n");
    }
    checks::journal(&bytes);
    let (records, recovery) = breachbook::incident::journal::read_bytes(&bytes);
    assert_eq!(records.len(), seed.iter().filter(|b| **b == b'\n').count());
    assert_eq!(recovery.problem_count(), 1_000_000);
    assert_eq!(
        recovery.problems.len(),
        breachbook::incident::journal::MAX_LISTED_PROBLEMS
    );
}
