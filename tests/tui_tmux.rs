//! The real binary in a real terminal (tmux, 120×40): a person's drill, played with keys,
//! read from the screen. scripts/test installs tmux when it is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A real terminal: the binary running in a detached tmux session.
struct Tmux {
    session: String,
    socket: PathBuf,
}

impl Tmux {
    fn start(state: &Path, args: &[&str], cols: u16, rows: u16) -> Tmux {
        let session = format!("bb{}", std::process::id());
        let socket = state.join("tmux.sock");
        let mut cmd = format!(
            "env BREACHBOOK_STATE_DIR={} NO_COLOR=1 {}",
            state.display(),
            env!("CARGO_BIN_EXE_breachbook")
        );
        for a in args {
            cmd.push(' ');
            cmd.push_str(a);
        }
        // Keep the pane after exit so the last screen can be read.
        let ok = Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
            ])
            .arg(format!("{cmd}; echo '[exited '$?']'; sleep 600"))
            .status()
            .expect("tmux is installed (scripts/test installs it)");
        assert!(ok.success());
        Tmux { session, socket }
    }

    fn keys(&self, keys: &[&str]) {
        let st = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Types literal text.
    fn type_text(&self, text: &str) {
        let st = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text`; panics with the screen after `secs`.
    fn wait_for(&self, text: &str, secs: u64) -> String {
        self.wait_until(&format!("{text:?}"), secs, |s| s.contains(text))
    }

    /// Waits until the screen no longer shows `text`.
    fn wait_gone(&self, text: &str, secs: u64) -> String {
        self.wait_until(&format!("{text:?} to go"), secs, |s| !s.contains(text))
    }

    /// Waits until `done` holds for the screen. A shared 2-core CI machine can be slow, so
    /// the limits are generous: a wait ends as soon as the screen is right.
    fn wait_until(&self, what: &str, secs: u64, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs * 3);
        loop {
            let s = self.screen();
            if done(&s) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ticks every item of the current manual step, one key at a time, each seen on screen.
    fn tick_all(&self, items: usize) {
        for n in 1..=items {
            self.keys(&["Space"]);
            self.wait_until(&format!("{n} of {items} ticked"), 10, |s| {
                s.matches("[x]").count() == n
            });
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["kill-server"])
            .status();
    }
}

/// The revocation window's last line: once it is on screen, the whole window is (ratatui
/// draws top to bottom, and a capture can land mid-draw).
const MODAL_DRAWN: &str = "nothing happens until you type";

/// The confirmation word: the last 4 characters of the key id the modal shows.
fn word_on(screen: &str) -> String {
    let i = screen
        .find("key id (…")
        .expect("the modal shows the key id tail");
    let tail: String = screen[i + "key id (…".len()..]
        .chars()
        .take_while(|c| *c != ')')
        .collect();
    let chars: Vec<char> = tail.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

#[test]
fn a_person_finishes_the_vendor_breach_drill_from_the_screen() {
    let tmp = tempfile::tempdir().unwrap();
    let t = Tmux::start(tmp.path(), &["drill", "--speed", "60"], 120, 40);
    // The footer is drawn last: once it shows, the whole screen is there.
    let s = t.wait_for("? help", 20);
    for title in [
        "Checklist",
        "Step",
        "Inventory",
        "Rotation",
        "Usage",
        "Timeline",
    ] {
        assert!(
            s.contains(&format!("┌ {title}")),
            "panel {title} missing:\n{s}"
        );
    }
    assert!(s.contains("DRILL"));
    // Help is there when lost.
    t.keys(&["?"]);
    t.wait_for("Keys", 5);
    t.keys(&["Escape"]);
    t.wait_gone("Keys", 5);
    // 1. Declare: tick three items, mark done.
    t.tick_all(3);
    t.keys(&["Enter"]);
    t.wait_for("steps 1/10", 10);
    // 2. Inventory.
    t.keys(&["Enter"]);
    t.wait_for("steps 2/10", 20);
    t.wait_for("EXPOSED", 10);
    // 3. Review.
    t.tick_all(3);
    t.keys(&["Enter"]);
    t.wait_for("steps 3/10", 10);
    // 4–6. Rotate, verify, propagate.
    t.keys(&["Enter"]);
    t.wait_for("steps 4/10", 30);
    t.keys(&["Enter"]);
    t.wait_for("steps 5/10", 30);
    t.keys(&["Enter"]);
    t.wait_for("steps 6/10", 30);
    // 7. The command step asks before running (simulated in drills).
    t.keys(&["Enter"]);
    t.wait_for("Run it? y / n", 10);
    t.keys(&["y"]);
    t.wait_for("steps 7/10", 10);
    // 8. Revoke: a wrong word is refused, the right one accepted, one key at a time.
    t.keys(&["Enter"]);
    let s = t.wait_for(MODAL_DRAWN, 10);
    assert!(s.contains("✓ new key verified"), "{s}");
    t.type_text("zzzz");
    t.keys(&["Enter"]);
    let s = t.wait_for("is not the confirmation word", 10);
    assert!(
        s.contains("keys contained 0/3"),
        "a wrong word revoked something:\n{s}"
    );
    let w = word_on(&s);
    t.type_text(&w);
    t.keys(&["Enter"]);
    t.wait_for("keys contained 1/3", 20);
    for n in 2..=3 {
        t.keys(&["Enter"]);
        let s = t.wait_for(MODAL_DRAWN, 10);
        let w = word_on(&s);
        t.type_text(&w);
        t.keys(&["Enter"]);
        t.wait_for(&format!("keys contained {n}/3"), 20);
    }
    t.wait_for("steps 8/10", 10);
    // 9. Monitor: the old keys are seen dead after the quiet period (5 drill minutes).
    t.keys(&["Enter"]);
    t.wait_for("steps 9/10", 60);
    // 10. Report, then the score.
    t.keys(&["Enter"]);
    t.wait_for("Drill over — score", 20);
    let s = t.wait_for("q quits · Esc back", 10);
    assert!(s.contains("exposed keys revoked 3 of 3"), "{s}");
    assert!(s.contains("report: "), "{s}");
    t.keys(&["q"]);
    t.wait_for("[exited 0]", 10);
    // The journal holds the refused and the accepted confirmations.
    let inc = std::fs::read_dir(tmp.path().join("incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let journal = std::fs::read_to_string(inc.join("journal.jsonl")).unwrap();
    assert_eq!(journal.matches("\"confirmation_refused\"").count(), 1);
    assert_eq!(journal.matches("\"confirmation_given\"").count(), 3);
    assert!(journal.contains("\"via\":\"tui\""));
}

#[test]
fn small_terminal_and_quit_restore_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let t = Tmux::start(tmp.path(), &["drill", "--read-only"], 80, 24);
    let s = t.wait_for("Checklist │ Step", 20);
    assert!(s.contains("READ-ONLY"), "{s}");
    t.keys(&["q"]);
    let s = t.wait_for("[exited 0]", 10);
    // The alternate screen is gone: the shell's screen is back.
    assert!(!s.contains("Checklist │ Step"), "{s}");
}
