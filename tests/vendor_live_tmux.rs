//! The vendor-breach runbook live in a real terminal (tmux, 120×40): a person works it from
//! the screen, from inventory to report, against moto_server and the contract-built fakes of
//! OpenAI, Anthropic, Google and Braintrust — the world of tests/vendor_live.rs
//! (tests/support/vendor_world.rs), played by hand instead of by the autopilot.
//!
//! The person ticks the checklists, presses Enter on each step, answers the restart
//! command's question; sees the Gemini key Google blocked as leaked marked so in the
//! Inventory; makes the Anthropic key and the Braintrust API key "in the console" (the fake)
//! when the Rotation panel asks (`⌨ p`), presses p and pastes the key — once as a terminal
//! pastes (bracketed), once typed — never seeing it on the screen; types each old key's word
//! in its revocation window (a wrong word first, once), reading in OpenAI's that the old
//! service account goes and takes its other key with it, and in Gemini's that Google keeps a
//! deleted key 30 days. Afterwards every exposed key is replaced at the providers and in
//! Secrets Manager, the old ones are dead, every request kept the vendors' contracts, and
//! neither the state folder nor any screen captured on the way holds a secret.
//!
//! scripts/test installs tmux and moto[server]. Set BREACHBOOK_SHOW_SCREENS=1 (with
//! `--nocapture`) to print the screen at every step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/contract.rs"]
mod contract;
#[path = "support/emulator.rs"]
mod emulator;
#[path = "support/fake_ai.rs"]
mod fake_ai;
#[path = "support/localstack.rs"]
mod localstack;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/tmux.rs"]
mod tmux;
#[path = "support/vendor_world.rs"]
mod vendor_world;

use std::time::Instant;

use tmux::{MODAL_DRAWN, Tmux, word_on};
use vendor_world::{EXPOSED, World};

/// Steps of the vendor-breach runbook.
const STEPS: usize = 10;

/// Prints a screen when BREACHBOOK_SHOW_SCREENS is set.
fn show(what: &str, s: &str) {
    if std::env::var_os("BREACHBOOK_SHOW_SCREENS").is_some() {
        println!("──── {what}\n{s}");
    }
}

/// The inside of the panel titled `title` (`┌ {title} ─…┐`), line by line, as drawn now.
fn panel(screen: &str, title: &str) -> Vec<String> {
    let lines: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let marker: Vec<char> = format!("┌ {title} ").chars().collect();
    let Some((top, left)) = lines.iter().enumerate().find_map(|(i, l)| {
        l.windows(marker.len())
            .position(|w| w == marker.as_slice())
            .map(|c| (i, c))
    }) else {
        return Vec::new();
    };
    let Some(right) = lines[top][left..].iter().position(|c| *c == '┐') else {
        return Vec::new();
    };
    let right = left + right;
    lines[top + 1..]
        .iter()
        .take_while(|l| l.get(left) != Some(&'└'))
        .map(|l| {
            l.get(left + 1..right.min(l.len()))
                .unwrap_or_default()
                .iter()
                .collect()
        })
        .collect()
}

/// The Rotation panel's row of the key named `name` (its first cell holds the name, cut to
/// the column's width).
fn rotation_row(screen: &str, name: &str) -> Option<String> {
    let head: String = name.chars().take(12).collect();
    panel(screen, "Rotation")
        .into_iter()
        .find(|l| l.starts_with(&head))
}

/// The key a revocation window is about, from its title.
fn window_name(screen: &str) -> String {
    let i = screen.find("┌ Revoke ").expect("a revocation window");
    screen[i + "┌ Revoke ".len()..]
        .split(" ─")
        .next()
        .unwrap()
        .to_string()
}

/// Fails when a step or a key failed, or a key would have to be overridden.
fn no_failure(s: &str) {
    assert!(!s.contains("✗ failed"), "a step failed:\n{s}");
    assert!(!s.contains("r retry · x skip"), "a key failed:\n{s}");
    assert!(
        !s.contains("Pre-flight failed"),
        "a pre-flight check failed:\n{s}"
    );
}

/// Fails when the screen shows a secret (whole, or the middle a hint never shows).
fn nothing_secret_on(s: &str, secrets: &[String], when: &str) {
    if let Some(part) = vendor_world::leaked(s, secrets) {
        panic!("part of a key value ({part}) is on the screen {when}:\n{s}");
    }
}

/// Every secret of the run known so far (the new OpenAI keys once minted).
fn secrets_now(world: &World) -> Vec<String> {
    let st = world.fake.state();
    let minted: Vec<String> = st
        .minted_openai()
        .iter()
        .map(|k| k.value.clone())
        .chain(st.minted_google().iter().map(|k| k.value.clone()))
        .collect();
    drop(st);
    let minted: Vec<&str> = minted.iter().map(String::as_str).collect();
    vendor_world::secrets(&minted)
}

/// A key made by hand: waits until the Rotation panel asks for one (`⌨ p`), presses p,
/// reads in the hidden input which issuer's console to use, makes the key at the fake (as
/// in that console), pastes (`bracketed`) or types it, checks it never shows, and sees the
/// row staged. Returns the issuer ("Anthropic" or "Braintrust") and the key's name.
fn key_made_by_hand(t: &Tmux, world: &World, bracketed: bool) -> (&'static str, String) {
    // The row's mark; its hint line ("… then paste it") shows when the panel has room for
    // it (five rows at 40 lines leave none).
    // Waits until no row is still being minted (a spinner): `p` opens the first key that
    // asks, and a key that starts asking between this screen and the key press would
    // otherwise be the one opened.
    let s = t.wait_until("⌨ p in Rotation, no key still minting", 30, |s| {
        let rows = panel(s, "Rotation").join("\n");
        rows.contains("⌨ p") && !rows.chars().any(|c| ('\u{2800}'..='\u{28FF}').contains(&c))
    });
    show("asks for a key made by hand", &s);
    let asked = s;
    t.keys(&["p"]);
    let s = t.wait_until("the hidden input", 10, |s| {
        s.contains(", made by hand ─") && s.contains("The key is never shown or written down.")
    });
    show("hidden input", &s);
    let name = s[s.find("┌ New key for ").unwrap() + "┌ New key for ".len()..]
        .split(", made by hand")
        .next()
        .unwrap()
        .to_string();
    let row = rotation_row(&asked, &name);
    assert!(
        row.as_deref().is_some_and(|r| r.contains("⌨ p")),
        "{name}'s row did not show ⌨ p: {row:?}\n{asked}"
    );
    // The instructions name the console and the old key the new one replaces (the key's
    // name, with its region, may push "by hand" onto the next line).
    let issuer = if s.contains("console.anthropic.com") && s.contains("(sk-…aaA1)") {
        "Anthropic"
    } else if s.contains("braintrust.dev") && s.contains("(sk-…aaB1)") {
        "Braintrust"
    } else {
        panic!("the hidden input names no console this test knows:\n{s}")
    };
    let key = {
        let mut st = world.fake.state();
        if issuer == "Anthropic" {
            vendor_world::make_anthropic_key(&mut st)
        } else {
            vendor_world::make_braintrust_key(&mut st)
        }
    };
    if bracketed {
        t.paste(key);
    } else {
        t.type_text(key);
    }
    let count = format!("({} characters)", key.chars().count());
    let s = t.wait_for(&count, 10);
    show("key in the hidden input", &s);
    nothing_secret_on(&s, &secrets_now(world), "in the hidden input");
    t.keys(&["Enter"]);
    let s = t.wait_until(&format!("{name} staged"), 20, |s| {
        !s.contains(", made by hand ─")
            && rotation_row(s, &name).is_some_and(|r| r.matches('✓').count() >= 2)
    });
    show(&format!("{name} staged"), &s);
    assert!(
        s.contains(&format!(
            "the new key for {name} answered and is stored as pending"
        )),
        "{s}"
    );
    nothing_secret_on(&s, &secrets_now(world), "after the key was stored");
    (issuer, name)
}

#[test]
fn a_person_runs_the_vendor_breach_runbook_live_from_the_screen() {
    let started = Instant::now();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let world = rt.block_on(World::start());
    let tmp = tempfile::tempdir().unwrap();
    let rb = vendor_world::runbook_copy(tmp.path());
    let state = tmp.path().display().to_string();
    let env = world.env(tmp.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let t = Tmux::start_with_env(
        tmp.path(),
        &vendor_world::UNSET,
        &env,
        &[
            "--state-dir",
            &state,
            "run",
            &rb.display().to_string(),
            "--endpoint-url",
            &world.aws.endpoint,
            "--quiet-period",
            "2s",
        ],
        120,
        40,
    );
    let steps = |n: usize| format!("steps {n}/{STEPS}");

    // LIVE, and who moto says we are. The footer is drawn last: once it shows, the whole
    // screen is there.
    let s = t.wait_until("the STS identity in the header", 30, |s| {
        s.contains("identity arn:aws:sts::") && s.contains("? help")
    });
    show("start", &s);
    let header: String = s.lines().take(2).collect::<Vec<_>>().join("\n");
    assert!(header.contains(" LIVE "), "{header}");
    assert!(header.contains(&steps(0)), "{header}");

    // 1. Declare.
    t.tick_all(3);
    t.keys(&["Enter"]);
    t.wait_for(&steps(1), 10);
    // 2. Inventory: the five exposed keys by their hints (the Gemini key marked as blocked by
    // Google as leaked), the ones stored nowhere not.
    t.keys(&["Enter"]);
    t.wait_for(&steps(2), 30);
    let s = t.wait_for(&format!("keys contained 0/{EXPOSED}"), 10);
    show("inventory", &s);
    let inventory = panel(&s, "Inventory");
    for (hint, mark) in [
        ("sk-…aaP1", "EXPOSED"),
        ("sk-…aaA1", "EXPOSED"),
        ("AIz…aaG1", "LEAKED"),
        ("sk-…aaE1", "EXPOSED"),
        ("sk-…aaB1", "EXPOSED"),
    ] {
        let row = inventory.iter().find(|l| l.contains(hint));
        assert!(
            row.is_some_and(|r| r.trim_end().ends_with(mark)),
            "{hint}: the exposed column should say {mark}:\n{s}"
        );
    }
    // The four keys stored nowhere are not exposed. Nine keys, eight rows at this size: the
    // one found last (the inventories run at once) sits below the fold.
    let unexposed = ["sk-…ZZ98", "sk-…ZZ99", "sk-…ZZ96", "sk-…0003"];
    let rows: Vec<&String> = inventory
        .iter()
        .filter(|l| unexposed.iter().any(|h| l.contains(h)))
        .collect();
    assert!(rows.len() >= 3, "the keys stored nowhere are missing:\n{s}");
    for r in rows {
        assert!(r.trim_end().ends_with(" no"), "not exposed, yet: {r}\n{s}");
    }
    // 3. Review.
    t.tick_all(3);
    t.keys(&["Enter"]);
    t.wait_for(&steps(3), 10);
    // 4. Rotate: OpenAI and Gemini mint by API; Anthropic and Braintrust ask for a key made
    // by hand.
    t.keys(&["Enter"]);
    // One pasted as a terminal pastes, the other typed.
    let mut by_hand = [
        key_made_by_hand(&t, &world, true),
        key_made_by_hand(&t, &world, false),
    ];
    by_hand.sort();
    let [("Anthropic", anthropic), ("Braintrust", _braintrust)] = by_hand else {
        panic!("one key made by hand for Anthropic, one for Braintrust: {by_hand:?}")
    };
    let s = t.wait_for(&steps(4), 30);
    show("rotated", &s);
    no_failure(&s);
    // 5–6. Verify, propagate.
    for n in 5..=6 {
        t.keys(&["Enter"]);
        let s = t.wait_for(&steps(n), 30);
        show(&format!("step {n}"), &s);
        no_failure(&s);
    }
    // 7. The restart command: shown, asked, run.
    t.keys(&["Enter"]);
    let s = t.wait_for("Run it? y / n", 10);
    show("command", &s);
    assert!(s.contains("$ echo restarted"), "{s}");
    t.keys(&["y"]);
    t.wait_for(&steps(7), 30);

    // 8. Revoke, one window per key, each key's word read from its window.
    let mut revoked = Vec::new();
    for n in 1..=EXPOSED {
        t.keys(&["Enter"]);
        let s = t.wait_for(MODAL_DRAWN, 10);
        show(&format!("revocation window {n}"), &s);
        no_failure(&s);
        let name = window_name(&s);
        assert!(s.contains("✓ new key verified"), "{s}");
        let w = word_on(&s);
        if n == 1 {
            // A wrong word is refused and changes nothing.
            t.type_text("zzzz");
            t.wait_for("word > zzzz", 10);
            t.keys(&["Enter"]);
            let s = t.wait_for("is not the confirmation word", 10);
            show("wrong word", &s);
            assert!(s.contains(MODAL_DRAWN), "the window closed:\n{s}");
            assert!(
                s.contains(&format!("keys contained 0/{EXPOSED}")),
                "a wrong word revoked:\n{s}"
            );
        }
        if s.contains("svc_acct_ProdEXAMPLE") {
            // OpenAI: the window says the old service account goes, and its other key with it.
            assert!(
                s.contains("revoking deletes service account")
                    && s.contains("chat-api-svc (svc_acct_ProdEXAMPLE)")
                    && s.contains("its other key batch-worker"),
                "the revocation window does not name the service account and its other key:\n{s}"
            );
        }
        if name.contains("gemini") {
            assert!(
                s.contains("blocked by the issuer as leaked") && s.contains("30 days"),
                "the Gemini window does not say it is blocked as leaked and kept 30 days:\n{s}"
            );
        }
        t.type_text(&w);
        t.wait_for(&format!("word > {w}"), 10);
        t.keys(&["Enter"]);
        let s = t.wait_for(&format!("{name}: old key revoked"), 20);
        show(&format!("revoked {name}"), &s);
        assert!(!s.contains(MODAL_DRAWN), "the window stayed open:\n{s}");
        t.wait_for(&format!("keys contained {n}/{EXPOSED}"), 20);
        revoked.push(name);
    }
    revoked.sort();
    revoked.dedup();
    assert_eq!(revoked.len(), EXPOSED, "each key once: {revoked:?}");
    assert!(revoked.contains(&anthropic), "{revoked:?}");
    let s = t.wait_for(&steps(8), 10);
    assert!(s.contains(&format!("{EXPOSED}/{EXPOSED} revoked")), "{s}");
    // 9. Monitor the quiet period (2 s): the old keys are seen dead.
    t.keys(&["Enter"]);
    let s = t.wait_for(&steps(9), 60);
    show("monitored", &s);
    no_failure(&s);
    // 10. The report.
    t.keys(&["Enter"]);
    t.wait_for(&steps(10), 30);
    let last = t.wait_for("report written", 10);
    show("report", &last);
    assert!(
        panel(&last, "Timeline")
            .join("\n")
            .contains("report written:"),
        "the Timeline does not say where the report is:\n{last}"
    );
    t.keys(&["q"]);
    let s = t.wait_for("[exited 0]", 20);
    show("exited", &s);
    let run_took = started.elapsed();

    // ---- at the providers, against the contracts, and in Secrets Manager (AWSCURRENT
    // asked for explicitly)
    vendor_world::check_contract(&world.fake.state());
    let problems = world.fake.state().problems.clone();
    assert!(
        problems.is_empty(),
        "requests the fakes refused: {problems:#?}"
    );
    let (new_prod, new_eval, new_gemini) =
        vendor_world::check_providers(&world.fake.state(), &world);
    rt.block_on(vendor_world::check_secrets_manager(
        &world.aws,
        (&new_prod, &new_eval, &new_gemini),
        &last,
    ));

    // ---- the journal: usage observed, every revoke typed at the screen, one refused word
    let records = vendor_world::journal_records(tmp.path());
    let events: Vec<serde_json::Value> = records.iter().map(|r| r["event"].clone()).collect();
    let usage = vendor_world::check_journal(&events);
    let given: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "confirmation_given")
        .collect();
    assert!(
        given.iter().all(|e| e["via"] == "tui"),
        "a confirmation not typed at the screen: {given:#?}"
    );
    let refused = events
        .iter()
        .filter(|e| e["type"] == "confirmation_refused")
        .count();
    assert_eq!(refused, 1, "one wrong word");

    // ---- the report, and nothing secret in the state folder or on any screen
    let inc = std::fs::read_dir(tmp.path().join("incidents"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let report = std::fs::read_to_string(inc.join("report.md")).expect("the report exists");
    vendor_world::check_report(&report);
    let secrets = vendor_world::secrets(&[&new_prod, &new_eval, &new_gemini]);
    if let Some(part) = vendor_world::leaked(&vendor_world::everything_in(tmp.path()), &secrets) {
        panic!("part of a key value ({part}) was written to the state folder");
    }
    let screens = t.captured();
    for s in &screens {
        nothing_secret_on(s, &secrets, "(captured during the run)");
    }
    nothing_secret_on(&t.scrollback(), &secrets, "(the pane's history)");
    eprintln!(
        "vendor_live_tmux: {} journal events, {usage} usage_observed, {} screens captured, {:.1} s",
        events.len(),
        screens.len(),
        run_took.as_secs_f64()
    );
}
