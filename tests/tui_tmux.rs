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
        // The focused panel (the Checklist) has a thick frame.
        let framed = if title == "Checklist" { "┏" } else { "┌" };
        assert!(
            s.contains(&format!("{framed} {title}")),
            "panel {title} missing:\n{s}"
        );
    }
    assert!(s.contains("DRILL"));
    // Help is there when lost.
    t.keys(&["?"]);
    t.wait_for("closes this help", 5);
    t.keys(&["Escape"]);
    t.wait_gone("closes this help", 5);
    // 1. Declare: tick three items, mark done.
    t.tick_all(3);
    t.keys(&["Enter"]);
    t.wait_for("steps 1/10", 10);
    // 2. Inventory.
    t.keys(&["Enter"]);
    t.wait_for("steps 2/10", 20);
    t.wait_for("EXPOSED", 10);
    // The key the attacker minted for themselves is on the screen, marked as such.
    t.wait_for("SUSPECT", 10);
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
    // 8. Revoke: a wrong word is refused, the right one accepted, one key at a time. The
    // person reads the checks first: on a loaded machine a check can still show ✗ just after
    // the restart step, and with a ✗ the window asks for the override, not the word.
    t.keys(&["Enter"]);
    let s = t.wait_until("the revocation window with every check passed", 20, |s| {
        s.contains(MODAL_DRAWN) && !s.contains("│  ✗ ")
    });
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
    // The exposed keys are revoked, but the step is not done: the Step panel says it waits
    // on the key the attacker made, and how to decide.
    let waiting = "Waiting on 1 suspect key created in the exposure window: openai-backup";
    let s = t.wait_until("the Step panel waiting on the suspect", 10, |s| {
        panel_words(s, "Step").contains(waiting)
    });
    assert!(panel_words(&s, "Step").contains("Enter revokes it"), "{s}");
    assert!(
        !s.contains("steps 8/10"),
        "the revoke step finished undecided:\n{s}"
    );
    // Enter offers the suspect: the window says it is one, who made it and from where, and
    // that no replacement is minted; its word, as every revocation.
    t.keys(&["Enter"]);
    let s = t.wait_for(MODAL_DRAWN, 10);
    let words = panel_words(&s, "Revoke SUSPECT openai-backup");
    assert!(words.contains("a SUSPECT key"), "{s}");
    assert!(words.contains("created by"), "{s}");
    assert!(words.contains("203.0.113.45"), "{s}");
    assert!(words.contains("mints no replacement"), "{s}");
    let w = word_on(&s);
    t.type_text(&w);
    t.keys(&["Enter"]);
    t.wait_for("steps 8/10", 20);
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
    assert_eq!(journal.matches("\"confirmation_given\"").count(), 4);
    assert!(journal.contains("\"via\":\"tui\""));
    // This person found and revoked the attacker's own key: no score line for it, and the
    // report's section shows it revoked by them. (Missing it: tests/drill_headless.rs.)
    let report = report_of(tmp.path());
    assert!(
        report.contains("## Created during the exposure window"),
        "{report}"
    );
    assert!(
        !report.contains("a key the attacker created is still active"),
        "{report}"
    );
    let row = report
        .lines()
        .find(|l| l.starts_with("| openai-backup |"))
        .unwrap_or_else(|| panic!("no row for openai-backup:\n{report}"));
    assert!(row.contains("**SUSPECT**"), "{row}");
    assert!(row.contains("| revoked "), "{row}");
    // By the person whose typed word the journal holds for it.
    let operator = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| {
            r["event"]["type"] == "confirmation_given"
                && r["event"]["credential"] == "openai/openai-backup"
        })
        .and_then(|r| r["operator"]["user"].as_str().map(str::to_string))
        .expect("the suspect's confirmation is journaled");
    assert!(
        row.ends_with(&format!("| {operator} |")),
        "not revoked by the operator {operator}: {row}"
    );
}

#[test]
fn small_terminal_and_quit_restore_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let t = Tmux::start(tmp.path(), &["drill", "--read-only"], 80, 24);
    let s = t.wait_for("Checklist │ Step", 20);
    assert!(s.contains("READ-ONLY"), "{s}");
    // The incident is open: q asks first.
    t.keys(&["q"]);
    t.wait_for("Quit anyway?", 10);
    t.keys(&["y"]);
    // Quit before the end: the drill is incomplete, exit 3 (README, "Exit codes").
    let s = t.wait_for("[exited 3]", 10);
    // The alternate screen is gone: the shell's screen is back.
    assert!(!s.contains("Checklist │ Step"), "{s}");
}

/// The screen's words, whatever wrapped them: box lines dropped, whitespace squashed.
fn said(screen: &str) -> String {
    screen
        .chars()
        .map(|c| {
            if "┃│┏┓┗┛┌┐└┘━─".contains(c) {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// After the exposed keys, the revoke step offers the key the attacker made (SUSPECT):
/// Enter opens its window, its word revokes it.
fn revoke_the_suspect(t: &Tmux) {
    t.keys(&["Enter"]);
    let s = t.wait_for(MODAL_DRAWN, 10);
    assert!(s.contains("Revoke SUSPECT openai-backup"), "{s}");
    let w = word_on(&s);
    t.type_text(&w);
    t.keys(&["Enter"]);
    t.wait_gone("Revoke SUSPECT openai-backup", 20);
}

/// The words of one panel (its frame found by its title), whatever wrapped them.
fn panel_words(screen: &str, title: &str) -> String {
    let rows: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let top = rows.iter().enumerate().find_map(|(y, r)| {
        let line: String = r.iter().collect();
        [format!("┌ {title} "), format!("┏ {title} ")]
            .iter()
            .find_map(|t| line.find(t.as_str()))
            .map(|byte| (y, line[..byte].chars().count()))
    });
    let Some((y0, x0)) = top else {
        return String::new();
    };
    let x1 = (x0 + 1..rows[y0].len())
        .find(|x| matches!(rows[y0][*x], '┐' | '┓'))
        .unwrap_or(rows[y0].len());
    let mut words = String::new();
    for r in &rows[y0 + 1..] {
        if matches!(r.get(x0), Some('└' | '┗')) {
            break;
        }
        let inner: String = r
            .get(x0 + 1..x1.min(r.len()))
            .unwrap_or(&[])
            .iter()
            .collect();
        words.push(' ');
        words.push_str(&inner);
    }
    words.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Waits until the screen's words (see [`said`]) hold `text`.
fn wait_said(t: &Tmux, text: &str, secs: u64) -> String {
    t.wait_until(&format!("{text:?} said"), secs, |s| said(s).contains(text))
}

/// At 80×24 only the focused panel shows: the Step panel, where Space ticks.
fn tick_three_and_run(t: &Tmux, done: usize) {
    t.tick_all(3);
    t.keys(&["Enter"]);
    t.wait_for(&format!("steps {done}/10"), 20);
}

/// The words of every page of the score window, scrolling down.
fn score_words(t: &Tmux) -> String {
    let mut all = said(&t.wait_for("Drill over — score", 30));
    for _ in 0..6 {
        t.keys(&["PageDown"]);
        std::thread::sleep(std::time::Duration::from_millis(400));
        all.push(' ');
        all.push_str(&said(&t.screen()));
    }
    all
}

fn report_of(state: &std::path::Path) -> String {
    let inc = std::fs::read_dir(state.join("incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::read_to_string(inc.join("report.md")).unwrap()
}

/// A new on-call engineer at 80×24 makes the classic mistakes one after another — skips a
/// key, skips the key test, never restarts the service that caches its key, revokes late —
/// and each shows its consequence on the screen, then has its own line in the score and in
/// the report. Keys act where the focus is: a line pasted on the screen ticks nothing.
#[test]
fn classic_mistakes_at_80x24_show_on_screen_in_the_score_and_in_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let t = Tmux::start(tmp.path(), &["drill", "--speed", "60"], 80, 24);
    t.wait_for("? help", 20);
    t.keys(&["Tab"]);
    t.wait_for("┏ Step", 10);
    // A stray paste (no bracketed paste): nothing ticks, nothing runs.
    t.type_text("Incident channel opened \n");
    t.wait_for("ignored", 10);
    assert_eq!(t.screen().matches("[x]").count(), 0);
    assert!(t.screen().contains("steps 0/10"));
    tick_three_and_run(&t, 1);
    t.keys(&["Enter"]);
    t.wait_for("steps 2/10", 30);
    tick_three_and_run(&t, 3);
    t.keys(&["Enter"]);
    t.wait_for("steps 4/10", 40);

    // Mistake 1: skip a key (in Rotation, where x skips the selected key).
    t.keys(&["Tab"]);
    t.wait_for("┏ Inventory", 10);
    // Enter acts on the steps only, and says so here.
    t.keys(&["Enter"]);
    wait_said(
        &t,
        "Enter does nothing in Inventory: it acts in Checklist and Step",
        10,
    );
    t.keys(&["Tab"]);
    t.wait_for("┏ Rotation", 10);
    t.keys(&["G"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    t.keys(&["x"]);
    t.wait_for("Why leave gemini-prod", 10);
    t.type_text("no console access to Gemini");
    t.keys(&["Enter"]);
    t.wait_for("↷ skipped: no console access to Gemini", 10);
    t.keys(&["BTab"]);
    t.wait_for("┏ Inventory", 10);
    t.keys(&["BTab"]);
    t.wait_for("┏ Step", 10);

    // Mistake 2: skip the key test. Rolling out then says why it cannot, not a spinner.
    t.keys(&["x"]);
    t.wait_for("Why skip “Test every new key”", 10);
    t.type_text("no time");
    t.keys(&["Enter"]);
    t.wait_for("1 gap", 10);
    t.wait_for("Roll the new keys out everywhere", 10);
    t.keys(&["Enter"]);
    let s = wait_said(&t, "Enter would do nothing yet", 10);
    assert!(
        said(&s).contains("openai-prod and anthropic-prod are not verified yet because “Test every new key” was skipped"),
        "{s}"
    );
    assert!(said(&s).contains("o reopens “Test every new key”"), "{s}");
    t.keys(&["o"]);
    t.wait_for("reopening “Test every new key”", 10);
    t.keys(&["Enter"]);
    t.wait_for("steps 5/10", 40);
    t.keys(&["Enter"]);
    wait_rolled_out(&t, 6, 40);

    // Mistake 3: never restart the service that caches its key.
    t.wait_for("Restart services that cache their key", 10);
    t.keys(&["x"]);
    t.wait_for("Why skip", 10);
    t.type_text("no access to the billing cluster");
    t.keys(&["Enter"]);
    t.wait_for("1 gap", 10);

    // Mistake 4: revoke late — the replacements are ready; wait some 17 drill minutes.
    std::thread::sleep(std::time::Duration::from_secs(17));
    t.keys(&["Enter"]);
    let s = t.wait_for(MODAL_DRAWN, 10);
    // The known service on the old key is an instruction, and it needs the override. (The
    // window's own words: the Step panel behind it shows through at its edges.)
    let words = panel_words(&s, "Revoke openai-prod");
    assert!(
        words.contains("billing-service (a known service) still calls with this old key"),
        "{s}"
    );
    assert!(
        words.contains("Esc, reopen “Restart services that cache their key” (o)"),
        "{s}"
    );
    let w = word_on(&s);
    t.type_text(&w);
    t.keys(&["Enter"]);
    t.wait_for("type the override phrase below", 10);
    t.type_text(&format!("override {w}"));
    t.keys(&["Enter"]);
    t.wait_for("keys contained 1/3", 20);
    t.keys(&["Enter"]);
    let s = t.wait_for(MODAL_DRAWN, 10);
    let w = word_on(&s);
    t.type_text(&w);
    t.keys(&["Enter"]);
    t.wait_for("keys contained 2/3", 20);
    revoke_the_suspect(&t);
    t.wait_for("steps 7/10", 20);

    // The consequence: watching does not pass while billing-service fails.
    t.keys(&["Enter"]);
    let s = wait_said(
        &t,
        "holds: billing-service still calls with openai-prod's old key and is refused (an outage)",
        60,
    );
    assert!(!s.contains("steps 8/10"), "{s}");
    t.keys(&["o"]);
    t.wait_for("reopening “Restart services that cache their key”", 10);
    t.keys(&["Enter"]);
    t.wait_for("Run it? y / n", 10);
    t.keys(&["y"]);
    t.wait_for("steps 8/10", 20);
    t.wait_for("steps 9/10", 60);
    t.keys(&["Enter"]);
    let score = score_words(&t);
    for line in [
        "gemini-prod was never revoked: the attacker can still use it",
        "step `verify` was skipped at first, then reopened and done",
        "step `restart-stale` was skipped at first, then reopened and done",
        "openai-prod was revoked with an override while known services still used its old key: billing-service failed",
        "openai-prod's replacement was ready (in every location)",
    ] {
        assert!(score.contains(line), "score misses {line:?}:\n{score}");
    }
    t.keys(&["q"]);
    t.wait_for("[exited 0]", 10);

    let report = report_of(tmp.path());
    for line in [
        "- exposed key gemini-prod was left out of the rotation (no console access to Gemini): it may still work for the attacker",
        "- step `verify` (Test every new key) was skipped at first, then reopened and done",
        "- step `restart-stale` (Restart services that cache their key) was skipped at first, then reopened and done",
        "passing over failed pre-flight checks: no known service still on the old key (billing-service used it after the promotion)",
        "- openai-prod's replacement was ready (in every location)",
        "- [ ] exposed key gemini-prod (AIz…52a7) is still alive",
        "- consumer outage: legitimate services failed",
    ] {
        assert!(report.contains(line), "report misses {line:?}:\n{report}");
    }
}

/// The other classic mistake at 80×24: revoking before the roll-out, by skipping it. The
/// outage shows on the screen; the fix (reopen the roll-out and the restart) goes on; the
/// score and the report each name the mistake.
#[test]
fn revoking_before_the_rollout_by_skipping_at_80x24_is_an_outage_the_score_and_report_name() {
    let tmp = tempfile::tempdir().unwrap();
    let t = Tmux::start(tmp.path(), &["drill", "--speed", "60"], 80, 24);
    t.wait_for("? help", 20);
    t.keys(&["Tab"]);
    t.wait_for("┏ Step", 10);
    tick_three_and_run(&t, 1);
    t.keys(&["Enter"]);
    t.wait_for("steps 2/10", 30);
    tick_three_and_run(&t, 3);
    for n in 4..=5 {
        t.keys(&["Enter"]);
        t.wait_for(&format!("steps {n}/10"), 40);
    }
    for (n, why) in [
        (1, "the change freeze blocks Braintrust"),
        (2, "no access to the billing cluster"),
    ] {
        t.keys(&["x"]);
        t.wait_for("Why skip", 10);
        t.type_text(why);
        t.keys(&["Enter"]);
        t.wait_for(&format!("{n} skipped"), 10);
    }
    t.wait_for("2 gaps", 10);
    t.keys(&["Enter"]);
    let s = t.wait_for(MODAL_DRAWN, 10);
    assert!(s.contains("✗ every location updated (0 of 3)"), "{s}");
    let w = word_on(&s);
    t.type_text(&w);
    t.keys(&["Enter"]);
    t.wait_for("type the override phrase below", 10);
    t.type_text(&format!("override {w}"));
    t.keys(&["Enter"]);
    t.wait_for("keys contained 1/3", 20);
    // The consequence, on the Timeline: chat-api is down.
    for _ in 0..4 {
        t.keys(&["Tab"]);
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    t.wait_for("┏ Timeline", 10);
    t.wait_for("OUTAGE: chat-api", 30);
    // The fix: reopen the roll-out and the restart from the Checklist.
    t.keys(&["Tab"]);
    t.wait_for("┏ Checklist", 10);
    for (up, title, done) in [(2, "Roll the new keys out", 6), (1, "Restart services", 7)] {
        for _ in 0..up {
            t.keys(&["k"]);
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        t.keys(&["o"]);
        t.wait_for(&format!("reopening “{title}"), 10);
        t.keys(&["Enter"]);
        if done == 7 {
            t.wait_for("Run it? y / n", 10);
            t.keys(&["y"]);
        }
        if done == 6 {
            wait_rolled_out(&t, 6, 40);
        } else {
            t.wait_for(&format!("steps {done}/10"), 40);
        }
    }
    for n in 2..=3 {
        t.keys(&["Enter"]);
        let s = t.wait_for(MODAL_DRAWN, 10);
        let w = word_on(&s);
        t.type_text(&w);
        t.keys(&["Enter"]);
        t.wait_for(&format!("keys contained {n}/3"), 20);
    }
    revoke_the_suspect(&t);
    t.wait_for("steps 8/10", 20);
    t.keys(&["Enter"]);
    t.wait_for("steps 9/10", 60);
    t.keys(&["Enter"]);
    let score = score_words(&t);
    assert!(
        score.contains(
            "openai-prod was revoked before its new key reached every location: chat-api failed"
        ),
        "{score}"
    );
    t.keys(&["q"]);
    t.wait_for("[exited 0]", 10);
    let report = report_of(tmp.path());
    for line in [
        "revoke before propagation: the old key of openai-prod was revoked at",
        "(revoked BEFORE propagation)",
        "- step `propagate` (Roll the new keys out everywhere) was skipped at first, then reopened and done",
        "- openai-prod was revoked before its new key reached every location: chat-api failed",
    ] {
        assert!(report.contains(line), "report misses {line:?}:\n{report}");
    }
}

/// q on an open incident asks, and the shell then shows the command that goes on.
#[test]
fn quitting_an_open_incident_asks_and_prints_how_to_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let t = Tmux::start(tmp.path(), &["drill"], 80, 24);
    t.wait_for("? help", 20);
    t.keys(&["q"]);
    let s = wait_said(
        &t,
        "The incident is not finished: 10 step(s) to go. Quit anyway?",
        10,
    );
    assert!(said(&s).contains("`breachbook resume "), "{s}");
    t.keys(&["y"]);
    // Quit before the end: the incident is incomplete, exit 3 (README, "Exit codes").
    let s = t.wait_for("[exited 3]", 10);
    // The command may wrap at 80 columns.
    let back = t.scrollback().replace('\n', "");
    assert!(
        back.contains("The incident is not finished. To go on where you left it:"),
        "{back}"
    );
    let id = std::fs::read_dir(tmp.path().join("incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    assert!(
        back.contains(&format!("resume {}", id.to_string_lossy())),
        "{back}\n{s}"
    );
}

/// Waits for `steps {n}/10` after rolling out. The drill throttles Secrets Manager: a
/// promotion that runs out of attempts fails the keys of its secret (promoted together, as
/// one pending version), and a person presses r to try again, as often as it takes.
fn wait_rolled_out(t: &Tmux, n: u32, secs: u64) {
    let want = format!("steps {n}/10");
    // The Step panel says "✗ failed"; the Checklist marks the step "✗ Roll".
    let failed = |s: &str| s.contains("✗ failed") || s.contains("✗ Roll");
    for _ in 0..4 {
        let s = t.wait_until(&format!("{want}, or a failed roll-out"), secs, |s| {
            s.contains(&want) || failed(s)
        });
        if s.contains(&want) {
            return;
        }
        t.keys(&["r"]);
        t.wait_until("the retry to start", 10, |s| {
            s.contains(&want) || !failed(s)
        });
    }
    t.wait_for(&want, secs);
}
