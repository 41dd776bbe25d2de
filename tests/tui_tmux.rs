//! The real binary in a real terminal (tmux, 120×40): a person's drill, played with keys,
//! read from the screen. scripts/test installs tmux when it is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/tmux.rs"]
mod tmux;

use tmux::{MODAL_DRAWN, Tmux, word_on};

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
    // The drill throttles Secrets Manager: a promotion that runs out of attempts fails the
    // keys of its secret (promoted together), and a person presses r to try again.
    let s = t.wait_until("steps 6/10, or a failed step", 30, |s| {
        s.contains("steps 6/10") || s.contains("✗ failed")
    });
    if !s.contains("steps 6/10") {
        t.keys(&["r"]);
        t.wait_for("steps 6/10", 30);
    }
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
    // Quit before the end: the drill is incomplete, exit 3 (README, "Exit codes").
    let s = t.wait_for("[exited 3]", 10);
    // The alternate screen is gone: the shell's screen is back.
    assert!(!s.contains("Checklist │ Step"), "{s}");
}
