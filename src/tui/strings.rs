//! Every user-facing sentence of the screen, in one place (as gitui keeps its `strings`), so
//! the voice of the UI can be read and reviewed at once and help never drifts from the keys.
//!
//! Depends on nothing but `std`; callers pass the values in.

mod created;
pub use self::created::*;

// ── Panels ───────────────────────────────────────────────────────────────────────────────

pub const PANEL_CHECKLIST: &str = "Checklist";
pub const PANEL_STEP: &str = "Step";
pub const PANEL_INVENTORY: &str = "Inventory";
pub const PANEL_ROTATION: &str = "Rotation";
pub const PANEL_USAGE: &str = "Usage";
pub const PANEL_TIMELINE: &str = "Timeline";

/// Onboarding: what each panel is for, shown the first time it gets focus.
pub const EXPLAIN_CHECKLIST: &str = "Checklist: the runbook's steps in order. ✓ done, ⠋ running, ✗ failed, ↷ skipped, ○ to do; ▶ marks the step to do now, and dimmed steps wait for another step first. j/k select, Enter runs.";
pub const EXPLAIN_STEP: &str = "Step: what to do now, why it matters, and the keys that act on it. Manual steps have items to tick with Space.";
pub const EXPLAIN_INVENTORY: &str = "Inventory: every key found in scope. EXPOSED keys could have been read by the attacker. 'shared ×N' means one key lives in N places: every copy must change. s sorts, / filters.";
pub const EXPLAIN_ROTATION: &str = "Rotation: each exposed key's way from exposed to confirmed dead, with the time of each stage. A failed row says why; r retries it, x leaves the key out.";
pub const EXPLAIN_USAGE: &str = "Usage: calls per minute on each credential's keys. svc: the old key, from known services; unk: the old key, from unknown sources (a spike there is the attacker); ✗: refused calls; new: the new key. A known service still on the old key after the promotion must be restarted before the revocation.";
pub const EXPLAIN_TIMELINE: &str = "Timeline: everything that happened, newest last, as written to the journal. Drill injects (news from outside) are marked ✉.";
pub const ANY_KEY: &str = "any key to continue (the drill clock waits while you read)";

// Onboarding: the words a new engineer meets, explained where they first appear.
pub const TERM_STAGING_TITLE: &str = "AWSPENDING and AWSCURRENT";
pub const TERM_STAGING: &str = "Secrets Manager keeps versions of a secret under labels. AWSCURRENT is the version every service reads; AWSPENDING is a new version stored but not used yet. breachbook stores each new key as AWSPENDING first, tests it, then moves AWSCURRENT to it (the old value stays as AWSPREVIOUS).";
pub const TERM_ASN_TITLE: &str = "ASN";
pub const TERM_ASN: &str = "An ASN (autonomous system number) names the network an address belongs to — a cloud, an ISP, a company. Calls from an unknown ASN come from outside the networks your services run in: in this incident, most likely the attacker.";
pub const TERM_QUIET_TITLE: &str = "Quiet period";
pub const TERM_QUIET: &str = "After a revocation breachbook watches the old key for the quiet period (the runbook's `quiet_period`) before it calls the key dead: long enough for caches to expire and for anything still using the key to show up as refused calls.";
pub const TERM_PREFLIGHT_TITLE: &str = "Pre-flight checks";
pub const TERM_PREFLIGHT: &str = "Before anything destructive, breachbook checks the evidence itself — the new key works, is current, is in every location, and no known service still uses the old key. A ✗ means going ahead breaks something: it then needs the override phrase as well as the word.";

// ── Header and footer ────────────────────────────────────────────────────────────────────

pub const READ_ONLY_BADGE: &str = "READ-ONLY";

pub fn working(in_flight: usize) -> String {
    format!("working… ({in_flight} in flight)")
}

pub fn operator(user: &str) -> String {
    format!("operator {user}")
}

pub fn identity(cloud: Option<&str>) -> String {
    format!("identity {}", cloud.unwrap_or("unknown"))
}

pub fn steps_done(done: usize, all: usize) -> String {
    format!("steps {done}/{all} done")
}
pub fn steps_skipped(n: usize) -> String {
    format!("{n} skipped")
}
pub fn gaps(n: usize) -> String {
    if n == 1 {
        "1 gap".to_string()
    } else {
        format!("{n} gaps")
    }
}
pub const CLOCK_PAUSED: &str = "⏸ drill clock paused";
pub fn too_small(min_w: u16, min_h: u16, w: u16, h: u16) -> String {
    format!(
        "breachbook needs a terminal of at least {min_w}×{min_h}; this one is {w}×{h}. Make it larger (q quits; the journal keeps everything)."
    )
}

pub fn keys_contained(contained: usize, exposed: usize) -> String {
    format!("keys contained {contained}/{exposed}")
}

pub fn engine_stopped(why: &str) -> String {
    format!(
        "engine stopped: {why} — nothing more will happen here; q quits, `breachbook resume` goes on"
    )
}

pub fn no_terminal(e: &str) -> String {
    format!(
        "cannot open the terminal UI ({e}); run it in a terminal, or use --headless for scripts"
    )
}
pub const ENGINE_STOPPED: &str = "the engine stopped";
pub const ENGINE_GONE: &str = "the engine is gone";
pub const FILTER_PROMPT: &str = "filter: ";

// ── Key bindings: groups, help and footer hints ──────────────────────────────────────────

pub const GROUP_INCIDENT: &str = "Incident";
pub const GROUP_MOVE: &str = "Move";
pub const GROUP_VIEW: &str = "View";

pub const HELP_RUN: &str = "run the current step's action (or the selected step's)";
pub const HELP_TICK: &str = "tick or untick the selected item of a manual step";
pub const HELP_RETRY: &str = "retry the selected failed key";
pub const HELP_SKIP: &str = "skip the selected step (or key, in Rotation); asks why";
pub const HELP_UP: &str = "move up";
pub const HELP_DOWN: &str = "move down";
pub const HELP_NEXT_PANEL: &str = "next panel";
pub const HELP_PREV_PANEL: &str = "previous panel";
pub const HELP_FILTER: &str = "filter the inventory";
pub const HELP_SORT: &str = "sort the inventory by the next column";
pub const HELP_HELP: &str = "this help";
pub const HELP_BACK: &str = "close the overlay, clear the filter, go back";
pub const HELP_QUIT: &str = "quit (asks while work is in flight; the journal keeps all)";
pub const HELP_QUIT_NOW: &str = "quit too; twice when asked quits at once";
pub const HELP_REOPEN: &str = "reopen a skipped step (or what a blocked one waits for)";
pub const HELP_NOTE: &str = "write a note for the timeline and the report";
pub const HELP_PAGE_UP: &str = "a page up in the focused list";
pub const HELP_PAGE_DOWN: &str = "a page down in the focused list";
pub const HELP_FIRST: &str = "the first row of the focused list";
pub const HELP_LAST: &str = "the last row of the focused list";
pub const HELP_COMMAND: &str = "the prompt: :note TEXT, :report, :help, :q";

pub const HINT_RUN: &str = "run";
pub const HINT_TICK: &str = "tick";
pub const HINT_RETRY: &str = "retry";
pub const HINT_SKIP: &str = "skip";
pub const HINT_PANEL: &str = "panel";
pub const HINT_FILTER: &str = "filter";
pub const HINT_HELP: &str = "help";
pub const HINT_QUIT: &str = "quit";
pub const HINT_REOPEN: &str = "reopen";
pub const HINT_NOTE: &str = "note";
pub const HINT_SORT: &str = "sort";
pub const HINT_COMMAND: &str = "cmd";

// The windows' keys: their groups, and what each key does there (help lists a window's
// keys as `label what`, and so does its footer, after the prompt).
pub const GROUP_REVOKE: &str = "Revoke";
pub const GROUP_PASTE: &str = "Paste";
pub const GROUP_SKIP: &str = "Skip";
pub const GROUP_FILTER: &str = "Filter";
pub const GROUP_PROMPT: &str = "Prompt :";
pub const GROUP_NOTE: &str = "Note";
pub const GROUP_TYPING: &str = "Typing";
pub const GROUP_QUESTION: &str = "Question";
pub const GROUP_QUIT: &str = "Quit?";
pub const GROUP_SCORE: &str = "Score";
pub const GROUP_TIP: &str = "Tip";
pub const GROUP_HELP: &str = "Help";

pub const WINDOW_CONFIRM: &str = "confirm";
pub const WINDOW_SWITCH_FIELD: &str = "switch field";
pub const WINDOW_CANCEL: &str = "cancel";
pub const WINDOW_TEST_AND_STORE: &str = "test and store";
pub const WINDOW_SKIP: &str = "skip";
pub const WINDOW_KEEP_FILTER: &str = "keeps";
pub const WINDOW_CLEAR_FILTER: &str = "clears";
pub const WINDOW_TYPE: &str = "type";
pub const WINDOW_ERASE: &str = "erase";
pub const WINDOW_YES: &str = "yes";
pub const WINDOW_NO: &str = "no";
pub const WINDOW_QUIT: &str = "quit";
pub const WINDOW_STAY: &str = "stay";
pub const WINDOW_REPORT_PATH: &str = "report path";
pub const WINDOW_BACK: &str = "back";
pub const WINDOW_CONTINUE: &str = "continues";
pub const WINDOW_DO: &str = "do it";
pub const WINDOW_SAVE_NOTE: &str = "saves the note";
pub const WINDOW_SCROLL: &str = "scroll";
pub const LABEL_CHARACTERS: &str = "characters";
pub const LABEL_ANY_KEY: &str = "any key";
/// The help window's own keys: its last line, and its footer.
pub const LABEL_HELP_CLOSE: &str = "Esc or ?";
pub const WINDOW_CLOSE_HELP: &str = "closes this help.";

// The note window and the `:` prompt.
pub const NOTE_TITLE: &str = "Note";
pub const NOTE_QUESTION: &str =
    "A note for the timeline and the report (who was paged, what was decided, why):";
pub const NOTE_KEYS: &str = "Enter saves it in the journal · Esc cancels";
pub const NOTE_EMPTY: &str = "type the note first";
pub const PROMPT_NOTE: &str = "type the note";
pub const PROMPT_COMMANDS: &str = ":note TEXT · :known WHY · :report · :help · :q";
pub fn unknown_command(word: &str) -> String {
    format!("`:{word}` is not a command: {PROMPT_COMMANDS}")
}
pub fn note_saved() -> String {
    "note saved in the journal".to_string()
}

// What a window's footer says before its keys.
pub const PROMPT_WORD: &str = "type the word";
pub const PROMPT_PASTE: &str = "paste the key";
pub const PROMPT_REASON: &str = "type why";

pub const HELP_TITLE: &str = "Help";
pub fn help_title_scrolled(above: bool, below: bool) -> String {
    match (above, below) {
        (true, true) => "Help — more above, more below (j/k scroll)".into(),
        (true, false) => "Help — more above (k scrolls)".into(),
        _ => "Help — more below (j scrolls)".into(),
    }
}
pub const HELP_HEADING: &str = "Keys";
pub const HELP_WINDOWS: &str = "In a window";
pub const HELP_READ_ONLY: &str = "read-only: keys that change keys or systems are not available";

// ── Checklist and Step ───────────────────────────────────────────────────────────────────

pub fn needs(ids: &[String]) -> String {
    format!(" · needs {}", ids.join(", "))
}

pub fn done_of(done: usize, skipped: usize, all: usize) -> String {
    if skipped > 0 {
        format!("{done}/{all} done · {skipped} skipped")
    } else {
        format!("{done}/{all} done")
    }
}
pub const SKIPPED_GAP: &str = " · skipped: a gap";
pub const SKIPPED: &str = " · skipped";
pub const REOPENED: &str = " · reopened";
pub const BLOCKED: &str = " · blocked";

pub const STEP_DONE: &str = "✓ done";
pub const STEP_RUNNING: &str = "running";
pub fn step_failed(why: &str) -> String {
    format!("✗ failed: {why}")
}
pub fn step_skipped(why: &str, critical: bool) -> String {
    if critical {
        format!("↷ skipped: {why} — a gap: this critical step is not done")
    } else {
        format!("↷ skipped: {why}")
    }
}
pub fn step_reopened(why: &str) -> String {
    format!("↷ reopened after its skip ({why}): do it now")
}
pub const STEP_SKIPPED_KEYS: &str = "▶ o reopens it, then Enter runs it";
pub const BLOCKED_MARK: &str = "⏸ blocked: ";
pub const WOULD_BLOCK_MARK: &str = "⏸ Enter would do nothing yet: ";
pub const WHY: &str = "Why: ";
pub fn waits_for(titles: &[String]) -> String {
    format!("Waits for {} — do that first.", titles.join(" and "))
}
pub fn step_finished_next(next: Option<&str>) -> String {
    match next {
        Some(n) => format!("Nothing to do here. The next step is “{n}”: select it with j/k."),
        None => "Nothing to do here: every step is finished.".to_string(),
    }
}
pub const READ_ONLY_STEP: &str =
    "read-only: this step changes keys or systems, so it is disabled here.";
pub const FAILED_STEP_KEYS: &str =
    "r retries a failed key · x skips the step · Enter runs it again";
pub fn manual_keys(ticked: usize, all: usize) -> String {
    format!(
        "▶ Space ticks the selected item · Enter marks the step done ({ticked} of {all} ticked)"
    )
}
pub const DO_INVENTORY: &str = "▶ Enter: list every key in scope";
pub const DO_ROTATE: &str = "▶ Enter: mint new keys and store them as pending";
pub const DO_VERIFY: &str = "▶ Enter: test each new key with its provider";
pub const DO_PROPAGATE: &str = "▶ Enter: promote the new keys and update every copy";
pub const DO_REVOKE: &str = "▶ Enter: open the revocation window for the next key";
pub const DO_DELETE: &str = "▶ Enter: open the deletion window for the next key";
pub const DO_MONITOR: &str = "▶ Enter: watch the old keys for the quiet period";
pub const DO_COMMAND: &str = "▶ Enter: show the command, then confirm to run it";
pub const DO_REPORT: &str = "▶ Enter: write the post-incident report";
pub const VERB_REVOKE: &str = "revoke";
pub const VERB_DELETE: &str = "delete";
pub const VERB_DELETING: &str = "deleting";
pub fn keys_left(verb: &str, names: &[String]) -> String {
    format!("Keys left to {verb}: {}", names.join(", "))
}

// ── Inventory ────────────────────────────────────────────────────────────────────────────

pub const EMPTY_INVENTORY: &str = "No keys found yet. Run the inventory step (Enter) to list them.";
pub fn nothing_matches(filter: &str) -> String {
    format!("No key matches “{filter}”. Esc clears the filter.")
}
pub const COL_ISSUER: &str = "issuer";
pub const COL_NAME: &str = "name";
pub const COL_KEY: &str = "key";
pub const COL_LOCATIONS: &str = "locations";
pub const COL_AGE: &str = "age";
pub const COL_USED: &str = "last use";
pub const COL_EXPOSED: &str = "exposed";
pub const EXPOSED: &str = "EXPOSED";
/// An exposed key whose old value no longer works.
pub const EXPOSED_REVOKED: &str = "revoked";
pub const EXPOSED_DELETED: &str = "deleted";
pub const NOT_EXPOSED: &str = "no";
/// An exposed key its issuer blocked as leaked: it no longer works but is still to be deleted.
pub const EXPOSED_BLOCKED: &str = "LEAKED";
/// The details line of a key its issuer blocked as leaked.
pub fn blocked_as_leaked(evidence: &str) -> String {
    format!(
        "blocked by the issuer as leaked — {evidence}: it no longer works, but it still exists; rotate it and delete it"
    )
}
/// How long the issuer keeps a deleted key restorable.
pub fn restorable(days: i64) -> String {
    format!("the issuer keeps a deleted key {days} days: until then it can be restored")
}
pub fn shared(n: usize) -> String {
    format!("shared ×{n}")
}
pub const LISTING: &str = "listing…";
pub fn inventory_count(shown: usize, all: usize, sort: &str, filter: &str) -> String {
    if filter.is_empty() {
        format!("{all} keys · sort: {sort}")
    } else {
        format!("{shown} of {all} · filter “{filter}” · sort: {sort}")
    }
}
pub fn lives_in(n: usize) -> String {
    format!("lives in {n}: ")
}
pub fn created_used(created: &str, used: &str) -> String {
    format!("created {created} · last used {used}")
}
pub fn last_seen(at: &str) -> String {
    format!("{at} (seen in this incident's usage)")
}
pub fn last_reported(at: &str) -> String {
    format!("{at}* (the provider's figure at the inventory; no call seen since)")
}
pub const NEVER_SEEN: &str = "— (no call seen in this incident, none reported by the provider)";
pub fn ago(age: &str) -> String {
    format!("{age} ago")
}
pub const UNKNOWN: &str = "unknown";
pub fn fingerprint(fp: &str) -> String {
    format!(" · fingerprint {fp}")
}
pub fn exposure(why: &str) -> String {
    format!("exposure: {why}")
}
pub const SORT_FOUND: &str = "found";
pub const SORT_ISSUER: &str = "issuer";
pub const SORT_NAME: &str = "name";
pub const SORT_EXPOSED: &str = "exposed";
pub const SORT_LAST_USED: &str = "last used";

// ── Rotation ─────────────────────────────────────────────────────────────────────────────

pub const EMPTY_ROTATION: &str =
    "Nothing to rotate yet: the inventory marks which keys are exposed.";
pub const COL_KEY_NAME: &str = "key";
pub const STAGE_HEADERS: [&str; 7] = [
    "issued", "staged", "verif.", "promot.", "propag.", "revoked", "dead",
];
pub fn rotation_failed(why: &str, read_only: bool) -> String {
    if read_only {
        format!("✗ {why}")
    } else {
        format!("✗ {why} · r retry · x skip")
    }
}
/// A call for the key being tried again right now: `↻ retrying CreateAccessKey (throttled),
/// attempt 2`.
pub fn retrying(call: &str, why: &str, attempt: u32) -> String {
    format!("↻ retrying {call} ({why}), attempt {attempt}")
}
pub fn rotation_skipped(why: &str) -> String {
    format!("↷ skipped: {why}")
}
pub fn rotation_gauge(pct: f64, contained: usize, exposed: usize) -> String {
    format!("{pct:.0}% of stages · {contained}/{exposed} revoked")
}
pub fn working_on(n: usize) -> String {
    format!("{n} working")
}

// ── Usage ────────────────────────────────────────────────────────────────────────────────

pub const EMPTY_USAGE: &str = "No usage seen yet. Calls per minute appear here as they happen.";
pub fn usage_window(minutes: usize) -> String {
    format!("calls/min · last {minutes}m")
}
/// Old-key calls of known services, and of unknown sources.
pub const OLD_KNOWN: &str = "svc";
pub const OLD_UNKNOWN: &str = "unk";
pub const NEW: &str = "new";
pub const DENIED: &str = "✗";
pub const SPIKE: &str = "▲ SPIKE";
pub const REVOKED_BADGE: &str = "revoked";
pub fn per_min(n: u32) -> String {
    format!("{n:>5}/m")
}
pub fn denied_per_min(n: u32) -> String {
    format!("{n:>4}✗/m")
}
pub fn services_on_old_key(names: &[String], last: &str) -> String {
    format!(
        "⚠ {} still on the old key after the promotion (last {last}): restart it before revoking",
        names.join(", ")
    )
}
pub fn unknown_after_promotion(when: &str) -> String {
    format!(
        "⚠ the old key still works for unknown sources (last {when}): revoke it once the new key is everywhere"
    )
}
pub fn after_revoke(denied: u32, known_denied: u32, ok: u32) -> String {
    let mut s = format!("since revocation: {denied} refused");
    if known_denied > 0 {
        s.push_str(&format!(" ({known_denied} from known services: an outage)"));
    }
    if ok > 0 {
        s.push_str(&format!(", {ok} still got through"));
    }
    s
}
pub const NO_CALLS: &str = "no calls seen";
pub fn more_below(n: usize) -> String {
    format!("… {n} more (j/k)")
}

// ── Timeline ─────────────────────────────────────────────────────────────────────────────

pub fn events(n: usize) -> String {
    format!("{n} events")
}
pub fn scrolled(n: usize) -> String {
    format!("↑ {n} newer below")
}
pub const INJECT_MARK: &str = "✉ ";

// ── Running steps, toasts ────────────────────────────────────────────────────────────────

pub fn already_done(title: &str, next: Option<&str>) -> String {
    match next {
        Some(n) => format!("“{title}” is done. The next step is “{n}”: press Enter to run it."),
        None => ALL_DONE.to_string(),
    }
}
pub const ALL_DONE: &str = "Every step is done. Press q to quit.";
pub fn step_waits(title: &str, needs: &[String]) -> String {
    format!("“{title}” waits for {}: do that first", needs.join(" and "))
}
pub fn quoted(s: &str) -> String {
    format!("“{s}”")
}
pub fn stopped_cannot_run(why: &str) -> String {
    format!("the engine stopped ({why}); quit and `breachbook resume` to go on")
}
pub const NO_CHECKLIST: &str = "this step has no items to tick; Enter runs it";
pub const STEP_ALREADY_DONE: &str = "this step is already done";
pub const NO_FAILED_KEY: &str = "no failed key to retry";
pub const READ_ONLY_KEY: &str =
    "read-only: that action changes keys or systems, so it is disabled here";
pub fn revoked_next(verb: &str, name: &str, more: bool) -> String {
    if more {
        format!("{name}: old key {verb}d. Press Enter for the next key.")
    } else {
        format!("{name}: old key {verb}d. No key is left to confirm in this step.")
    }
}
pub fn not_exposed(name: &str) -> String {
    format!("{name} is not exposed; it is not part of the rotation")
}
pub const NOTHING_TO_SKIP: &str = "nothing selected to skip";
pub fn paste_ignored(n: usize) -> String {
    format!(
        "ignored {n} keys that arrived at once (a paste?): on the screen keys act one at a time; paste into a window's field"
    )
}
/// The screen closed because the process was sent a signal.
pub fn stopping_on_signal(signal: &str) -> String {
    format!(
        "Stopped by {signal}: finishing and journaling the work in flight (a second signal stops at once)…"
    )
}
/// A signal while the work in flight was finishing, after the screen closed.
pub fn stopped_at_once(signal: &str, id: &str) -> String {
    format!(
        "Stopped at once by {signal}: work in flight was cut short; `breachbook resume {id}` reconciles it and goes on"
    )
}
pub fn resume_hint(id: &str, state_dir: Option<&str>) -> String {
    match state_dir {
        Some(d) => format!(
            "The incident is not finished. To go on where you left it:\n  breachbook --state-dir {d} resume {id}"
        ),
        None => format!(
            "The incident is not finished. To go on where you left it:\n  breachbook resume {id}"
        ),
    }
}
pub fn key_elsewhere(label: &str, here: &str, panels: &[&str]) -> String {
    format!(
        "{label} does nothing in {here}: it acts in {} (Tab moves there, Esc goes to the step to do)",
        panels.join(" and ")
    )
}
pub fn key_does_nothing(key: &str) -> String {
    format!("`{key}` does nothing here; ? lists every key")
}
pub fn skipped_step(title: &str, why: &str) -> String {
    format!("“{title}” was skipped ({why}): o reopens it, then Enter runs it")
}
pub fn not_skipped(title: &str) -> String {
    format!("“{title}” was not skipped: o reopens a skipped step")
}
pub fn reopening(title: &str) -> String {
    format!("reopening “{title}”: it is the step to do now")
}
/// What a blocked step waits for, in the incident's words, then the keys that help.
pub fn blocked_with_keys(why: &str, keys: &[&str]) -> String {
    if keys.is_empty() {
        why.to_string()
    } else {
        format!("{why} — {}", keys.join(" · "))
    }
}
pub fn key_reopen(title: &str) -> String {
    format!("o reopens “{title}”")
}
pub fn key_run(title: &str) -> String {
    format!("select “{title}” and press Enter")
}
pub const KEY_RETRY: &str = "r retries a failed key";
pub const KEY_SKIP_KEYS: &str = "x in Rotation leaves a key out";
pub const KEY_PASTE: &str = "p pastes a key made by hand";
pub const KEY_MAKE_ROOM: &str = "r on its row decides about room";

// ── Modals ───────────────────────────────────────────────────────────────────────────────

pub const ASK_COMMAND_INTRO: &str = "This runs on your machine:";
pub const ASK_COMMAND_DRILL: &str = "(drill: the command is shown and simulated, not run)";
pub const ASK_RUN: &str = "Run it? y / n";
pub const ASK_GO: &str = "Go ahead? y / n";

pub const SKIP_TITLE: &str = "Skip";
pub fn skip_step_question(title: &str) -> String {
    format!("Why skip “{title}”? It goes into the journal and the report.")
}
pub fn skip_key_question(name: &str) -> String {
    format!(
        "Why leave {name} out of the rotation? Its old key stays alive. It goes into the journal and the report."
    )
}
pub const SKIP_CRITICAL: &str =
    "This step is critical: skipping it counts as a skipped safety check.";
pub const SKIP_KEYS: &str = "Enter skips · Esc cancels";
pub const SKIP_NEEDS_REASON: &str = "say why you skip it (it goes in the report)";

pub const QUIT_TITLE: &str = "Quit?";

/// Quit while the incident is open (and maybe while work is in flight).
pub fn quit_question(busy: usize, steps_left: usize, id: &str) -> String {
    let mut s = String::new();
    if busy > 0 {
        s.push_str("Work is in flight (it stops where it is; a resume finishes it). ");
    }
    if steps_left > 0 {
        s.push_str(&format!(
            "The incident is not finished: {steps_left} step(s) to go. "
        ));
    }
    s.push_str(&format!(
        "Quit anyway? Everything done so far is in the journal; `breachbook resume {id}` goes on from here. (y/n)"
    ));
    s
}

// The revocation window.
pub fn revoke_title(delete: bool, name: &str) -> String {
    if delete {
        format!("Delete {name}")
    } else {
        format!("Revoke {name}")
    }
}
pub fn revoke_heading(verb_caps: &str, name: &str) -> String {
    if verb_caps.eq_ignore_ascii_case("delete") {
        format!("{verb_caps} {name}'s old key: there is no undo")
    } else {
        format!("{verb_caps} {name}'s old key: whatever still uses it stops working now")
    }
}
pub fn revoke_identity(issuer: &str, hint: &str, key_id: &str) -> String {
    if key_id == hint {
        // Keys known only by value (Gemini): the id is the short form of the key.
        format!("issuer {issuer} · key {hint}")
    } else {
        format!("issuer {issuer} · key {hint} · key id {key_id}")
    }
}
pub fn lives_in_heading(n: usize) -> String {
    format!("lives in {n} location(s):")
}
pub fn location_updated(at: &str) -> String {
    format!("new key since {at}")
}
pub const LOCATION_NOT_UPDATED: &str = "still the old key";
pub const LOCATION_IAM: &str = "the key itself";
pub const LOCATION_BY_HAND: &str = "found on disk: fix by hand";
pub const PREFLIGHT: &str = "pre-flight checks:";
pub fn last_use(when: &str, from: &str, known: bool) -> String {
    // Usage reports by key do not always say where calls came from.
    if from.trim().is_empty() {
        format!("last accepted call: {when} (source not reported)")
    } else if known {
        format!("last accepted call: {when} from {from} (a known service)")
    } else {
        format!("last accepted call: {when} from {from}")
    }
}
pub const LAST_USE_NONE: &str = "last accepted call of the old key: none seen";
pub fn recent_split(unknown: (u32, u32), known: (u32, u32)) -> String {
    format!(
        "old key, last 5 min: {} unknown-source calls, {} from services{}",
        unknown.0,
        known.0,
        if unknown.1 + known.1 > 0 {
            format!(" ({} refused)", unknown.1 + known.1)
        } else {
            String::new()
        }
    )
}
pub fn service_still_on_old(
    service: &str,
    last: &str,
    promoted: &str,
    restart: Option<(&str, bool)>,
) -> String {
    let first = match restart {
        Some((title, true)) => format!("Esc, reopen “{title}” (o) and run it"),
        Some((title, false)) => format!("Esc and run “{title}”"),
        None => "restart it".to_string(),
    };
    format!(
        "{service} (a known service) still calls with this old key (last {last}, promoted {promoted}): {first} first, or type the override to break it"
    )
}
pub fn revoke_too_small(w: u16, h: u16, cols: u16, rows: u16) -> String {
    format!(
        "This window cannot show all the evidence at {cols}×{rows}, so it takes no word: make the terminal at least {w}×{h}."
    )
}
pub const REVOKE_TOO_SMALL_TITLE: &str = "Revoke: window too small";
pub const REVOKE_TOO_SMALL_KEYS: &str =
    "Esc closes; nothing happens until the whole evidence shows";
pub fn type_word(tail: &str) -> String {
    format!("Type the last 4 characters of the key id (…{tail}) to confirm:")
}
pub const WORD_INPUT: &str = "  word > ";
pub fn override_prompt(verb: &str, phrase: &str) -> String {
    format!("Pre-flight failed: to {verb} anyway, also type `{phrase}` (Tab):")
}
pub const OVERRIDE_INPUT: &str = "  override > ";
pub const TYPE_WORD_FIRST: &str = "type the confirmation word first";
pub const TYPE_OVERRIDE: &str = "type the override phrase below to go ahead anyway, or Esc";
pub fn confirming(verb: &str) -> String {
    format!("{verb}… waiting for the provider")
}
pub const REVOKE_KEYS: &str =
    "Enter confirms · Esc cancels · no default: nothing happens until you type";

// Score.
pub const SCORE_TITLE: &str = "Drill over";
pub const SCORE_TITLE_MORE: &str = "Drill over — more below (j scrolls)";
pub const SCORE_KEYS_SCROLL: &str = "j/k scroll · q quits · Esc back · r report path";
pub fn score_heading(points: u32) -> String {
    format!("Drill over — score {points}/100")
}
pub const SCORE_TIME: &str = "time to contain";
pub const SCORE_NOT_CONTAINED: &str = "not contained";
pub const SCORE_REVOKED: &str = "exposed keys revoked";
pub fn of(a: u32, b: u32) -> String {
    format!("{a} of {b}")
}
pub const SCORE_ATTACKER: &str = "attacker calls after the first revocation";
pub const SCORE_CONSUMERS: &str = "consumer errors caused";
pub const SCORE_WHILE_KNOWN: &str = "attacker calls while a key was known exposed";
pub const SCORE_WAITED: &str = "ready replacements waited (all keys)";
pub const SCORE_SKIPPED: &str = "skipped checks";
pub const SCORE_NO_MISTAKES: &str = "No mistakes. Well done.";
pub const SCORE_MISTAKES: &str = "Mistakes:";
pub fn report_at(path: &str) -> String {
    format!("report: {path}")
}
pub const SCORE_NO_REPORT: &str = "No report yet: r writes it (the report step).";
pub const SCORE_KEYS: &str = "q quits · Esc back to the screen · r report path";
pub const WRITING_REPORT: &str = "writing the report…";
pub fn no_report_step(journal: &str) -> String {
    format!("this runbook has no report step; the journal is in {journal}")
}

// ── A key made by hand ───────────────────────────────────────────────────────────────────

pub const PASTE_KEYS: &str = "Paste the new key, then Enter: breachbook tests it and stores it as pending. Esc cancels. The key is never shown or written down.";
pub const PASTE_TESTING: &str = "testing the key and storing it as pending…";
pub const PASTE_NONE: &str =
    "no key is waiting for a paste: p is for keys the issuer cannot mint by API";
pub const PASTE_EMPTY: &str = "nothing pasted yet: copy the new key from the console first";
pub const HELP_PASTE: &str = "Paste a key made by hand (issuers that cannot mint by API)";

pub fn paste_title(name: &str) -> String {
    format!("New key for {name}, made by hand")
}

pub fn pasted_count(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("  ({n} characters)")
    }
}

pub fn paste_stored(name: &str) -> String {
    format!("the new key for {name} answered and is stored as pending")
}

pub fn paste_waiting(n: usize) -> String {
    format!("{n} key(s) need a key made by hand: press p")
}

/// One line per key waiting for a key made by hand, so no row is pushed out of view: the
/// console steps are in the paste window (p) and on the Timeline.
pub fn manual_row(read_only: bool) -> String {
    if read_only {
        "needs a key made by hand (the Timeline says where)".to_string()
    } else {
        "needs a key made by hand — press p to see where, then paste it".to_string()
    }
}

pub fn manual_revoke_row(verb: &str, how: &str) -> String {
    format!("{verb} by hand, then confirm again (Enter on the step): {how}")
}

pub fn manual_revoke_heading(verb: &str) -> String {
    format!("The issuer cannot {verb} this key by API. Do it by hand:")
}

pub const MANUAL_REVOKE_THEN: &str = "Then type the word again and press Enter: breachbook tests the old key and records it when it no longer works.";

pub fn manual_revoke_error(tested: bool) -> String {
    if tested {
        "the old key still works: do it by hand as shown, then type the word again".to_string()
    } else {
        "breachbook cannot test this old key: do it by hand as shown; typing the word again records it as done on your word".to_string()
    }
}

pub fn manual_revoke_toast(name: &str) -> String {
    format!("{name} must be revoked by hand: see its row, then confirm again")
}

pub fn room_needed_toast(name: &str) -> String {
    format!("{name}: no room for a new key at its issuer — select it and press r to decide")
}

pub fn room_made(name: &str) -> String {
    format!("made room for {name}'s new key; minting it now")
}

pub fn room_row(plan: &str, read_only: bool) -> String {
    if read_only {
        format!("no room for a new key: {plan}")
    } else {
        format!("no room for a new key — press r to delete the inactive key and mint: {plan}")
    }
}

pub fn room_heading(name: &str) -> String {
    format!("MAKE ROOM for a new key of {name}")
}

pub fn room_key(key_id: &str) -> String {
    format!("Delete the inactive key {key_id}. The exposed key is not touched.")
}

pub const ROOM_STALE: &str = "This key no longer needs room. Esc to close.";

pub const MAKE_ROOM_TITLE: &str = "Make room";

pub fn pending_found_toast(name: &str) -> String {
    format!(
        "{name}: its secret already has a pending version breachbook did not put there — select it and press r to take it over, or x to skip"
    )
}

pub fn pending_row(location: &str, version: &str, whose: &str, read_only: bool) -> String {
    if read_only {
        format!("{location} already has a pending version {version}: {whose}")
    } else {
        format!(
            "{location} already has a pending version {version}: {whose} — press r to take it over (typed word), x to skip"
        )
    }
}

pub fn take_over_heading(name: &str) -> String {
    format!("TAKE OVER the pending version in the way of {name}'s new key")
}

pub fn take_over_found(location: &str, version: &str, whose: &str) -> String {
    format!(
        "{location} holds pending version {version}, which breachbook did not put there: {whose}."
    )
}

pub const TAKE_OVER_WHAT: &str = "Taking it over stages breachbook's new keys as the secret's pending version: the AWSPENDING label leaves that version, and whoever staged it (a rotation Lambda, a person) loses it. Skip the key instead (x) if that rotation should finish.";

pub fn type_version_word(tail: &str) -> String {
    format!("Type the last 4 characters of the pending version id (…{tail}) to take it over:")
}

pub fn taken_over(name: &str) -> String {
    format!("took over the pending version: {name}'s new key is staged")
}

pub const TAKE_OVER_STALE: &str = "No pending version stands in the way any more. Esc to close.";

pub const TAKE_OVER_TITLE: &str = "Take over a pending version";

pub const REVOKE_ALSO: &str = "revoking does:";

pub fn replacement(new_hint: &str, verified: Option<&str>) -> String {
    match verified {
        Some(at) => format!("replaced by {new_hint}, verified {at}"),
        None => format!("replaced by {new_hint}, not verified yet"),
    }
}

pub fn old_key_deleted(at: &str) -> String {
    format!("old key deleted {at}")
}

pub fn report_written(path: &str) -> String {
    format!("report written: {path}")
}

pub fn braintrust_updated(list: &str) -> String {
    format!("Braintrust secret_updated_at: {list}")
}
