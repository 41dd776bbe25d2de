//! Issue 14 item 3: a full disk. A drill whose state folder runs out of space mid-run stops
//! saying what happened and how to go on (exit 1, README "Exit codes"), and once there is
//! room again `resume --headless --autopilot` finishes it: the journal and the simulated
//! cloud's storage (`world.json`) never disagree, every exposed key is rotated exactly once
//! (one new key, the old one revoked once, no stray key left at the issuer), and the journal's
//! hash chain is intact (checked by `support/chain.rs`, not by breachbook's reader).
//!
//! The disk really fills: a tmpfs of a few MiB mounted for the test (as root, with
//! CAP_SYS_ADMIN) and filled with a ballast file, so that every file of the incident folder
//! (the journal, world.json, the reports) can be the one that meets ENOSPC. Where nothing can
//! be mounted (no privilege), the same runs meet a real write failure from the kernel
//! instead: RLIMIT_FSIZE (`ulimit -f`) with SIGXFSZ ignored makes a write past the limit fail
//! with EFBIG. The test says on stderr which of the two it used; it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/chain.rs"]
mod chain;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const RUNBOOK: &str = "ai-provider-keys-vendor-breach";

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

/// How the disk is made to fail.
enum Full {
    /// A tmpfs mounted at `dir` (unmounted on drop); `ballast` takes the room.
    Tmpfs { dir: tempfile::TempDir },
    /// No mount: each breachbook runs with RLIMIT_FSIZE at `limit` bytes, SIGXFSZ ignored.
    FileSizeLimit { dir: tempfile::TempDir, limit: u64 },
}

impl Drop for Full {
    fn drop(&mut self) {
        if let Full::Tmpfs { dir } = self {
            let _ = Command::new("umount").arg("-l").arg(dir.path()).status();
        }
    }
}

impl Full {
    fn root(&self) -> &Path {
        match self {
            Full::Tmpfs { dir } | Full::FileSizeLimit { dir, .. } => dir.path(),
        }
    }

    fn state(&self) -> PathBuf {
        self.root().join("state")
    }

    fn ballast(&self) -> PathBuf {
        self.root().join("ballast")
    }

    /// Leaves room for `percent` % of what a whole run writes: of the folder's bytes on the
    /// tmpfs (`need`), of the journal's, the biggest file, under the file-size limit.
    fn leave_room(&mut self, percent: u64, need: Sizes) {
        match self {
            Full::Tmpfs { .. } => {
                let room = need.folder * percent / 100;
                let _ = std::fs::remove_file(self.ballast());
                let free = free_bytes(self.root());
                let ballast = free.saturating_sub(room);
                std::fs::write(self.ballast(), vec![0u8; ballast as usize]).unwrap();
            }
            Full::FileSizeLimit { limit, .. } => *limit = need.journal * percent / 100,
        }
    }

    /// Room for everything again.
    fn free_all(&mut self) {
        match self {
            Full::Tmpfs { .. } => {
                let _ = std::fs::remove_file(self.ballast());
            }
            Full::FileSizeLimit { limit, .. } => *limit = u64::MAX,
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut cmd = match self {
            Full::Tmpfs { .. } => Command::new(bin()),
            Full::FileSizeLimit { limit, .. } => {
                // `ulimit -f` counts 512-byte blocks; SIGXFSZ ignored, so a write past the
                // limit fails with EFBIG instead of killing the process (inherited by exec).
                let blocks = if *limit == u64::MAX {
                    "unlimited".to_string()
                } else {
                    (limit / 512).max(1).to_string()
                };
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!(
                        "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\""
                    ))
                    .arg(bin());
                c
            }
        };
        let out = cmd
            .args(args)
            .env("BREACHBOOK_STATE_DIR", self.state())
            .env("NO_COLOR", "1")
            .output()
            .expect("run breachbook");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// What an uninterrupted run writes.
#[derive(Clone, Copy)]
struct Sizes {
    /// Every file of the incident folder.
    folder: u64,
    /// The journal.
    journal: u64,
}

/// Bytes free for us on the filesystem of `dir` (`df`, POSIX).
fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["-P", "-k"])
        .arg(dir)
        .output()
        .expect("df");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().nth(1).expect("df prints a line");
    let avail: u64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
    avail * 1024
}

/// A small tmpfs, or (no privilege to mount) the file-size limit.
fn small_disk(size: u64) -> Full {
    let dir = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o"])
        .arg(format!("size={size},mode=0700"))
        .arg("tmpfs")
        .arg(dir.path())
        .output()
        .is_ok_and(|o| o.status.success());
    if mounted {
        eprintln!(
            "disk_full: a {size}-byte tmpfs at {} really fills",
            dir.path().display()
        );
        Full::Tmpfs { dir }
    } else {
        eprintln!(
            "disk_full: cannot mount a tmpfs here (not privileged): writes fail through RLIMIT_FSIZE with SIGXFSZ ignored (EFBIG) instead"
        );
        Full::FileSizeLimit {
            dir,
            limit: u64::MAX,
        }
    }
}

fn incident_dir(state: &Path) -> PathBuf {
    let mut v: Vec<PathBuf> = std::fs::read_dir(state.join("incidents"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    assert_eq!(v.len(), 1, "{v:?}");
    v.remove(0)
}

fn journal_events(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("journal.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].clone())
        .collect()
}

/// Bytes of every file of a finished incident folder.
fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// The end state a finished run must reach, checked from the journal and world.json.
fn assert_rotated_once(dir: &Path, label: &str) {
    let report = chain::check_file(&dir.join("journal.jsonl"));
    assert!(
        report.is_intact(),
        "{label}: the chain is broken: {:?}",
        report.problems
    );
    let events = journal_events(dir);
    let exposed: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "credential_discovered" && e["credential"]["exposed"] == true)
        .map(|e| e["credential"]["id"].as_str().unwrap().to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(!exposed.is_empty(), "{label}: nothing exposed");
    let world: Value =
        serde_json::from_slice(&std::fs::read(dir.join("world.json")).unwrap()).unwrap();
    for cred in &exposed {
        let new_keys: BTreeSet<&str> = events
            .iter()
            .filter(|e| e["type"] == "issued" && e["credential"] == cred.as_str())
            .map(|e| e["new_key_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            new_keys.len(),
            1,
            "{label}: {cred} got {new_keys:?} as its new key"
        );
        let revoked = events
            .iter()
            .filter(|e| e["type"] == "revoked" && e["credential"] == cred.as_str())
            .count();
        assert_eq!(revoked, 1, "{label}: {cred} revoked {revoked} times");
        // The simulated issuer: the new key is the only live key of the credential, the old
        // one is dead, and no other key was left behind (none lost, none orphaned).
        let name = cred.split('/').nth(1).unwrap();
        let new_key = *new_keys.iter().next().unwrap();
        let keys = world["keys"].as_object().unwrap();
        let live: Vec<&String> = keys
            .iter()
            .filter(|(_, k)| k["cred"] == name && k["active"] == true)
            .map(|(id, _)| id)
            .collect();
        assert_eq!(
            live,
            vec![new_key],
            "{label}: {cred}: live keys at the issuer"
        );
        let made: Vec<&String> = keys
            .iter()
            .filter(|(_, k)| k["cred"] == name && !k["token"].is_null())
            .map(|(id, _)| id)
            .collect();
        assert_eq!(made, vec![new_key], "{label}: {cred}: keys breachbook made");
    }
}

#[test]
fn a_drill_that_fills_the_disk_stops_clearly_and_resumes_to_the_end() {
    fills_and_resumes(small_disk);
}

/// The same through the file-size limit alone, wherever it runs: the journal, the file that
/// grows, is the one whose write fails (EFBIG), where on the tmpfs world.json's or the
/// report's does first.
#[test]
fn a_drill_whose_journal_cannot_grow_stops_clearly_and_resumes_to_the_end() {
    fills_and_resumes(|_| {
        eprintln!("disk_full: writes fail through RLIMIT_FSIZE with SIGXFSZ ignored (EFBIG)");
        Full::FileSizeLimit {
            dir: tempfile::tempdir().unwrap(),
            limit: u64::MAX,
        }
    });
}

fn fills_and_resumes(small_disk: impl Fn(u64) -> Full) {
    // What an uninterrupted drill writes, to size the disk after.
    let base = tempfile::tempdir().unwrap();
    let baseline = Command::new(bin())
        .args(["drill", RUNBOOK, "--headless", "--autopilot", "--seed", "7"])
        .env("BREACHBOOK_STATE_DIR", base.path())
        .output()
        .unwrap();
    assert_eq!(baseline.status.code(), Some(0));
    let finished = incident_dir(base.path());
    let need = Sizes {
        folder: folder_bytes(&finished),
        journal: std::fs::metadata(finished.join("journal.jsonl"))
            .unwrap()
            .len(),
    };
    let journal_records = journal_events(&finished).len();
    eprintln!(
        "disk_full: an uninterrupted drill writes {} bytes, {} of them its journal of {journal_records} records",
        need.folder, need.journal
    );

    let mut figures = Vec::new();
    // The disk fills early, midway and late in the run.
    for percent in [15u64, 40, 65, 90] {
        // Room for two runs' worth, in whole pages; the ballast takes all but a part of it.
        let mut disk = small_disk((need.folder * 2).max(4 << 20).next_multiple_of(4096));
        let label = format!("full at {percent}%");
        disk.leave_room(percent, need);
        let first = disk.run(&["drill", RUNBOOK, "--headless", "--autopilot", "--seed", "7"]);
        assert_eq!(
            first.code, 1,
            "{label}: README: 1 when the journal or state files cannot be written\n{}\n{}",
            first.stdout, first.stderr
        );
        let dir = incident_dir(&disk.state());
        let id = dir.file_name().unwrap().to_str().unwrap().to_string();
        // The stop says what happened and how to go on.
        let said = format!("{}\n{}", first.stdout, first.stderr);
        assert!(
            said.contains("No space left on device") || said.contains("File too large"),
            "{label}: the stop does not say the disk is full:\n{said}"
        );
        assert!(
            said.contains(&format!("resume {id}")),
            "{label}: the stop does not say how to resume:\n{said}"
        );
        assert_eq!(first.summary()["complete"], false, "{label}");
        let records_at_stop = journal_events(&dir).len();
        let chain_at_stop = chain::check_file(&dir.join("journal.jsonl"));
        assert!(
            chain_at_stop.is_intact(),
            "{label}: the journal left by the full disk is broken: {:?}",
            chain_at_stop.problems
        );

        // Room comes back a little first (the resume may meet the full disk again), then all.
        disk.leave_room(percent + 10, need);
        let mut resumes = 0;
        let done = loop {
            resumes += 1;
            assert!(resumes <= 6, "{label}: {resumes} resumes and not finished");
            let r = disk.run(&["resume", &id, "--headless", "--autopilot"]);
            disk.free_all();
            if r.code == 0 {
                break r;
            }
            assert_eq!(
                r.code, 1,
                "{label}: resume {resumes} failed otherwise than on the disk:\n{}\n{}",
                r.stdout, r.stderr
            );
            assert!(
                !r.stderr.contains("not found"),
                "{label}: the journal and the world disagree:\n{}",
                r.stderr
            );
        };
        let s = done.summary();
        assert_eq!(s["complete"], true, "{label}: {s}");
        assert_eq!(s["revoked"], s["exposed"], "{label}: {s}");
        assert!(s["report"].is_string(), "{label}: no report: {s}");
        assert_rotated_once(&dir, &label);
        let why = first
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_default()
            .chars()
            .take(160)
            .collect::<String>();
        figures.push(format!(
            "{label}: stopped after {records_at_stop} of ~{journal_records} records ({why}…), finished after {resumes} resume(s)"
        ));
    }
    for f in figures {
        eprintln!("disk_full: {f}");
    }
}
