//! `breachbook check` end to end: the real binary on every invalid fixture in
//! `tests/fixtures/invalid/` (each must be listed in `CASES`), on generated oversized input,
//! on the shipped runbooks, and with `--format json`.
//!
//! Expectations are what the tool prints today: file:line:col, the message and the hint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

const FIXTURES: &str = "tests/fixtures/invalid";

/// Hostile input must be rejected faster than this, process start included.
const HOSTILE_LIMIT: Duration = Duration::from_secs(1);

/// One expected diagnostic of one fixture. A fixture with several problems has several rows.
/// `message` is a substring of the `error:` line's message; `hint` is the start of its `help:`.
struct Case {
    file: &'static str,
    line: usize,
    col: usize,
    message: &'static str,
    hint: Option<&'static str>,
}

const fn case(
    file: &'static str,
    line: usize,
    col: usize,
    message: &'static str,
    hint: Option<&'static str>,
) -> Case {
    Case {
        file,
        line,
        col,
        message,
        hint,
    }
}

const HINT_TYPE: &str = "check the value's type against docs/runbook-format.md";
const HINT_SYNTAX: &str = "check the YAML syntax around this place";
const HINT_ALIAS: &str = "write the runbook out plainly: anchors and aliases";
const HINT_MAPPING: &str = "a runbook is a mapping at the top (version, name, title, …)";
const HINT_DEPTH: &str = "runbooks nest at most 64 levels; write it out plainly";
const HINT_DURATION: &str = "durations are whole numbers with a unit";
const HINT_LIST: &str = "write one `- item` per line";
const HINT_EMPTY: &str = "a runbook needs version, name, title, exposure_window, scope and steps";
const HINT_TYPED: &str = "remove `confirm:` or write `confirm: typed`";

#[rustfmt::skip]
const CASES: &[Case] = &[
    // YAML syntax, located where the parser stopped.
    case("syntax-bad-indentation.yaml", 13, 12, "mapping values are not allowed in this context", Some(HINT_SYNTAX)),
    case("syntax-unclosed-flow-sequence.yaml", 15, 17, "illegal placement of ':' indicator", Some(HINT_SYNTAX)),
    case("syntax-tab-indentation.yaml", 11, 9, "while scanning a plain scalar, found a tab", Some(HINT_SYNTAX)),
    // Wrong types.
    case("type-version-string.yaml", 2, 10, "expected a whole number here", Some("write a number without quotes, e.g. `version: 1`")),
    case("type-steps-map.yaml", 11, 3, "expected a list here", Some(HINT_LIST)),
    case("type-needs-map.yaml", 15, 7, "expected a list here", Some(HINT_LIST)),
    case("type-top-level-list.yaml", 2, 1, "expected a mapping here (`key: value` lines), not a list or a single value", Some(HINT_MAPPING)),
    case("type-scope-list.yaml", 7, 8, "expected a mapping here (`key: value` lines), not a list or a single value", Some(HINT_MAPPING)),
    case("type-title-list.yaml", 4, 8, "expected text here, not a list or a mapping", Some(HINT_TYPE)),
    case("type-is-critical-string.yaml", 15, 18, "expected `true` or `false` here", Some("write `true` or `false` without quotes")),
    case("exposure-start-not-a-time.yaml", 6, 10, "not an RFC 3339 time", Some("write a UTC time like `2026-05-12T00:00:00Z`")),
    // Unknown fields.
    case("unknown-field-top-level.yaml", 5, 1, "unknown field `owner`", Some("known fields here: version, name, title, description, severity, exposure_window, scope, settings, steps, drill")),
    case("unknown-field-step-need.yaml", 18, 5, "unknown field `need`", Some("did you mean `needs`?")),
    case("unknown-field-scope.yaml", 8, 3, "unknown field `opanai`", Some("did you mean `openai`?")),
    // Unknown enum values.
    case("enum-unknown-action.yaml", 13, 13, "unknown value `invntory`", Some("did you mean `inventory`? (one of manual, inventory, rotate, verify, propagate, revoke, monitor, delete, command, report)")),
    case("enum-unknown-severity.yaml", 5, 11, "unknown value `severe`", Some("use one of low, medium, high, critical")),
    case("enum-unknown-issuer.yaml", 12, 17, "unknown value `open-ai`", Some("did you mean `openai`? (one of aws_iam, openai, anthropic, gemini, braintrust, generic)")),
    // Duplicates.
    case("duplicate-key.yaml", 5, 1, "duplicate key `name`", Some("each key may appear once in a mapping")),
    case("duplicate-step-id.yaml", 15, 9, "duplicate step id `inventory`", Some("step 1 already uses this id; ids must be unique")),
    // The needs graph.
    case("needs-dangling.yaml", 18, 13, "step `rotate` needs `inventroy`, which is not a step", Some("did you mean `inventory`?")),
    case("needs-cycle-2.yaml", 11, 9, "steps need each other in a cycle: inventory → rotate → inventory", Some("remove one of these `needs`")),
    case("needs-cycle-3.yaml", 11, 9, "steps need each other in a cycle: inventory → verify → rotate → inventory", Some("remove one of these `needs`")),
    case("needs-self.yaml", 14, 13, "step `inventory` needs itself", Some("remove it from its own `needs`")),
    // Revoke and delete safety.
    case("revoke-without-verify.yaml", 25, 9, "revoke step `revoke` does not need a step that verifies the new keys", Some("add the id of a `verify` step to `needs:`")),
    case("revoke-without-propagate.yaml", 25, 9, "revoke step `revoke` does not need a step that propagates them", Some("add the id of a `propagate` step to `needs:`")),
    case("revoke-confirm-none.yaml", 34, 14, "a revoke step's typed confirmation cannot be switched off", Some(HINT_TYPED)),
    case("delete-confirm-ask.yaml", 39, 14, "a delete step's typed confirmation cannot be switched off", Some(HINT_TYPED)),
    case("delete-without-revoke.yaml", 15, 9, "delete step `delete` does not need a revoke step", Some("add the id of the `revoke` step (or of a step after it) to `needs:`")),
    // Durations (no hint: the message says how to write one).
    case("duration-timeout-no-unit.yaml", 15, 14, "timeout: `15` has no unit: write `15s` for seconds or `15m` for minutes", Some(HINT_DURATION)),
    case("duration-quiet-period-word.yaml", 11, 17, "settings.quiet_period: `fast` is not a duration", Some(HINT_DURATION)),
    case("duration-drill-fractional.yaml", 16, 13, "drill.duration: `1.5h` is not a duration: no fractions; write `1h30m` or `90m`", Some(HINT_DURATION)),
    // Drill.
    case("drill-inject-after-end.yaml", 28, 11, "inject at 3h lies after the drill ends (2h)", Some("move it earlier or make `drill.duration` longer")),
    case("drill-attacker-without-every.yaml", 27, 13, "attacker `attacker` has no `every`", Some("say how often it bursts, e.g. `every: 4m`")),
    case("drill-actor-unknown-credential.yaml", 26, 14, "actor `app` uses `app-kye`, which is not a drill credential", Some("did you mean `app-key`?")),
    case("drill-stale-consumer-not-consumer.yaml", 33, 19, "stale_consumer names `attacker`, which is not a consumer actor", Some("name an actor with `kind: consumer`: app")),
    case("drill-fault-rate-over-one.yaml", 30, 15, "fault rate 30 is not between 0 and 1", Some("0.3 means 30% of calls")),
    case("drill-fault-after-end.yaml", 26, 15, "fault from 90m lies after the drill ends (1h)", Some("move it earlier or make `drill.duration` longer")),
    case("drill-fault-until-before-from.yaml", 31, 16, "fault until (10m) is not after its from (30m)", Some("`until` must be later than `from`")),
    case("drill-two-credentials-one-place.yaml", 22, 13, "drill credentials `app-key` and `other-key` both live in secret `app/ai` field `OPENAI_API_KEY` in us-east-1", Some("give each credential its own secret or JSON field")),
    case("drill-duplicate-actor.yaml", 27, 13, "duplicate drill actor `app`", Some("actor names must be unique")),
    case("drill-speed-zero.yaml", 17, 10, "drill.speed must be a positive number", Some("10 means ten simulated seconds per real second")),
    case("drill-restart-unknown-consumer.yaml", 23, 29, "drill_effect restarts `ap`, which is not a consumer actor", Some("did you mean `app`?")),
    // Step shapes, required fields, version, scope.
    case("manual-without-checklist.yaml", 13, 13, "manual step `look-around` has no checklist", Some("add `checklist:`")),
    case("command-without-command.yaml", 13, 13, "command step `restart` has no `command`", Some("add `command: {run: \"…\"}`")),
    case("command-on-manual.yaml", 21, 7, "step `look` has a command but its action is not `command`", Some("write `action: command`, or remove the command")),
    case("checklist-on-inventory.yaml", 16, 7, "only manual steps have a checklist; step `inventory` has `action: inventory`", Some("remove the checklist or make the step `action: manual`")),
    case("exposure-end-before-start.yaml", 7, 8, "exposure_window.end lies before its start", Some("swap them, or remove `end` while the breach is still open")),
    case("missing-title.yaml", 9, 1, "missing field `title`", Some("add the field; docs/runbook-format.md lists every field")),
    case("settings-max-attempts-zero.yaml", 11, 17, "settings.max_attempts must be at least 1", Some("it counts the first try too")),
    case("version-2.yaml", 2, 10, "unsupported version 2", Some("this breachbook reads `version: 1`")),
    case("scope-empty.yaml", 7, 8, "the scope names no inventory source", Some("add at least one of secrets_manager, iam, openai, anthropic, gemini, braintrust")),
    // Hostile input.
    case("hostile-alias-bomb.yaml", 9, 65, "aliases expand to more than 10000 nodes here (a YAML alias bomb)", Some(HINT_ALIAS)),
    case("hostile-alias-fanout.yaml", 14, 627, "anchor `&lol` is used more than 100 times (a YAML alias bomb?)", Some(HINT_ALIAS)),
    case("hostile-alias-count.yaml", 1025, 9, "more than 1000 aliases (a YAML alias bomb?)", Some(HINT_ALIAS)),
    case("hostile-deep-nesting.yaml", 5, 78, "the YAML nests deeper than 64 levels here", Some(HINT_DEPTH)),
    case("hostile-two-documents.yaml", 15, 1, "several YAML documents in one file", Some("a runbook file holds exactly one document")),
    case("hostile-empty.yaml", 1, 1, "the file is empty", Some(HINT_EMPTY)),
    case("hostile-comments-only.yaml", 1, 1, "the file is empty", Some(HINT_EMPTY)),
    case("hostile-non-utf8.yaml", 4, 19, "the file is not UTF-8 text: invalid byte 0xff", Some("save the runbook as UTF-8")),
    // Several problems in one file: all reported, in order.
    case("multiple-problems.yaml", 2, 10, "unsupported version 2", Some("this breachbook reads `version: 1`")),
    case("multiple-problems.yaml", 15, 13, "step `inventory` needs itself", Some("remove it from its own `needs`")),
    case("multiple-problems.yaml", 16, 14, "timeout: `soon` is not a duration: a unit needs a number before it", Some(HINT_DURATION)),
    // One pass: an unknown field hides neither a typo in `needs` nor a word for a number,
    // and a wrong type has a hint of its own.
    case("one-pass-every-problem.yaml", 10, 3, "unknown field `colour`", Some("known fields here: secrets_manager, iam, openai")),
    case("one-pass-every-problem.yaml", 22, 13, "step `two` needs `lok`, which is not a step", Some("did you mean `look`?")),
    case("one-pass-every-problem.yaml", 24, 10, "expected a number here", Some("write a number such as 10, without quotes")),
    // Columns count characters, not bytes.
    case("unicode-columns.yaml", 14, 13, "step `inventory` needs `größe`, which is not a step", Some("known steps: inventory")),
    case("unicode-columns.yaml", 14, 20, "step `inventory` needs `inventroy`, which is not a step", Some("did you mean `inventory`?")),
];

/// Fixtures that try to make the checker slow or crash.
const HOSTILE: &[&str] = &[
    "hostile-alias-bomb.yaml",
    "hostile-alias-fanout.yaml",
    "hostile-alias-count.yaml",
    "hostile-deep-nesting.yaml",
    "hostile-two-documents.yaml",
    "hostile-empty.yaml",
    "hostile-comments-only.yaml",
    "hostile-non-utf8.yaml",
];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn context(&self) -> String {
        format!(
            "exit code {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `breachbook check ARGS…` from the crate root with a private state folder.
fn check(args: &[&str]) -> Run {
    let state = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .arg("check")
        .args(args)
        .current_dir(root())
        .env("BREACHBOOK_STATE_DIR", state.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run breachbook");
    let elapsed = start.elapsed();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed,
    }
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// Whitespace collapsed to single spaces, so that hints wrapped by miette still match.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `error:` line for (path, line, col) must exist and carry the message.
fn assert_error_line(run: &Run, path: &str, line: usize, col: usize, message: &str) {
    let prefix = format!("{path}:{line}:{col}: error: ");
    let found = run
        .stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line starting with `{prefix}`\n{}", run.context()));
    assert!(
        found[prefix.len()..].contains(message),
        "`{found}` does not contain `{message}`\n{}",
        run.context()
    );
}

fn assert_hint(run: &Run, hint: &str) {
    assert!(
        squash(&run.stdout).contains(&format!("help: {}", squash(hint))),
        "no `help: {hint}`\n{}",
        run.context()
    );
}

fn cases_by_file() -> BTreeMap<&'static str, Vec<&'static Case>> {
    let mut by_file: BTreeMap<&str, Vec<&Case>> = BTreeMap::new();
    for c in CASES {
        by_file.entry(c.file).or_default().push(c);
    }
    by_file
}

#[test]
fn every_invalid_fixture_reports_its_problems_where_expected() {
    for (file, cases) in cases_by_file() {
        let path = fixture(file);
        let run = check(&[&path]);
        assert_eq!(run.code, 2, "{path}\n{}", run.context());
        let fail = format!("FAIL  {path} — {} problem(s)", cases.len());
        assert!(
            run.stdout.lines().any(|l| l == fail),
            "expected `{fail}`\n{}",
            run.context()
        );
        let errors = run
            .stdout
            .lines()
            .filter(|l| l.contains(": error: "))
            .count();
        assert_eq!(errors, cases.len(), "{path}\n{}", run.context());
        for c in cases {
            assert_error_line(&run, &path, c.line, c.col, c.message);
            if let Some(h) = c.hint {
                assert_hint(&run, h);
            }
        }
        assert!(
            !run.stdout.lines().any(|l| l.starts_with("ok ")),
            "{}",
            run.context()
        );
    }
}

#[test]
fn every_fixture_in_the_folder_is_in_the_table() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(root().join(FIXTURES))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = CASES.iter().map(|c| c.file.to_string()).collect();
    let untested: Vec<_> = on_disk.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&on_disk).collect();
    assert!(
        untested.is_empty(),
        "fixtures without a row in CASES: {untested:?}"
    );
    assert!(
        missing.is_empty(),
        "rows in CASES without a fixture: {missing:?}"
    );
    for h in HOSTILE {
        assert!(
            listed.contains(*h),
            "hostile fixture {h} has no row in CASES"
        );
    }
    assert!(on_disk.len() >= 32, "only {} fixtures", on_disk.len());
}

#[test]
fn fixtures_stay_small() {
    for entry in std::fs::read_dir(root().join(FIXTURES)).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes.len() < 64 * 1024,
            "{} is too big for a fixture",
            path.display()
        );
        let longest = bytes
            .split(|b| *b == b'\n')
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0);
        assert!(
            longest < 4096,
            "{} has a {longest}-byte line",
            path.display()
        );
    }
}

#[test]
fn hostile_fixtures_are_rejected_quickly() {
    let mut slowest = (Duration::ZERO, "");
    for name in HOSTILE {
        let path = fixture(name);
        let run = check(&[&path]);
        assert_eq!(run.code, 2, "{path}\n{}", run.context());
        assert!(
            run.elapsed < HOSTILE_LIMIT,
            "{path} took {:?}\n{}",
            run.elapsed,
            run.context()
        );
        if run.elapsed > slowest.0 {
            slowest = (run.elapsed, name);
        }
    }
    println!("slowest hostile fixture: {} in {:?}", slowest.1, slowest.0);
}

/// A valid runbook: the smallest one the fixtures start from.
const VALID: &str = "version: 1
name: fixture
title: Fixture
exposure_window:
  start: 2026-10-01T00:00:00Z
scope:
  openai:
    organization: org-test
steps:
  - id: inventory
    title: Find the keys
    action: inventory
    instructions: Press Enter.
";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_base_of_the_fixtures_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "valid.yaml", VALID);
    let path = p.to_str().unwrap();
    let run = check(&[path]);
    assert_eq!(run.code, 0, "{}", run.context());
    assert!(
        run.stdout
            .starts_with(&format!("ok    {path} — 1 steps, 1 source, drill: no")),
        "{}",
        run.context()
    );
}

/// A region the AWS SDK does not know is most likely a typo: a warning, located, naming the
/// region meant; the runbook is still valid.
#[test]
fn a_region_the_sdk_does_not_know_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let text = VALID.replace(
        "scope:\n",
        "scope:\n  secrets_manager:\n    regions: [us-east-1, eu-wset-1]\n",
    );
    let p = write(dir.path(), "typo.yaml", &text);
    let path = p.to_str().unwrap();
    let run = check(&[path]);
    assert_eq!(run.code, 0, "{}", run.context());
    let line = text.lines().position(|l| l.contains("eu-wset-1")).unwrap() + 1;
    assert!(
        run.stdout.contains(&format!("warn  {path}:{line}:"))
            && run.stdout.contains(
                "`eu-wset-1` is not a region the AWS SDK knows (did you mean `eu-west-1`?"
            ),
        "{}",
        run.context()
    );
    assert!(
        !run.stdout.contains("`us-east-1` is not"),
        "{}",
        run.context()
    );
}

#[test]
fn a_file_over_one_mib_is_rejected_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = VALID.to_string();
    while text.len() <= 1024 * 1024 {
        text.push_str("# padding: a valid runbook made too big by comments only .........\n");
    }
    let p = write(dir.path(), "big.yaml", &text);
    let path = p.to_str().unwrap();
    let run = check(&[path]);
    assert_eq!(run.code, 2, "{}", run.context());
    assert!(run.elapsed < HOSTILE_LIMIT, "took {:?}", run.elapsed);
    assert_error_line(
        &run,
        path,
        1,
        1,
        &format!(
            "the file is {} bytes; runbooks are limited to 1 MiB",
            text.len()
        ),
    );
    assert_hint(&run, "split it, or move long text out of it");
    println!("over 1 MiB: {:?}", run.elapsed);
}

#[test]
fn a_file_of_exactly_one_mib_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = VALID.to_string();
    let line = "# padding .......................................................\n";
    while text.len() + line.len() <= 1024 * 1024 {
        text.push_str(line);
    }
    text.push_str(&"#".repeat(1024 * 1024 - text.len()));
    assert_eq!(text.len(), 1024 * 1024);
    let p = write(dir.path(), "exact.yaml", &text);
    let run = check(&[p.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.context());
}

#[test]
fn a_line_over_64_kib_is_rejected_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("description: {}\n", "A".repeat(70_000));
    let text = VALID.replace("title: Fixture\n", &format!("title: Fixture\n{long}"));
    let p = write(dir.path(), "long-line.yaml", &text);
    let path = p.to_str().unwrap();
    let run = check(&[path]);
    assert_eq!(run.code, 2, "{}", run.context());
    assert!(run.elapsed < HOSTILE_LIMIT, "took {:?}", run.elapsed);
    assert_error_line(
        &run,
        path,
        4,
        1,
        &format!(
            "line is {} bytes long; lines are limited to 64 KiB",
            long.len()
        ),
    );
    assert_hint(
        &run,
        "use a block scalar (`|`) and break long text over several lines",
    );
    println!("line over 64 KiB: {:?}", run.elapsed);
}

#[test]
fn very_deep_nesting_is_rejected_quickly() {
    // 30 000 levels on one line (under the 64 KiB line limit): no stack overflow.
    let dir = tempfile::tempdir().unwrap();
    let depth = 30_000;
    let deep = format!("description: {}x{}\n", "[".repeat(depth), "]".repeat(depth));
    let text = VALID.replace("title: Fixture\n", &format!("title: Fixture\n{deep}"));
    let p = write(dir.path(), "deep.yaml", &text);
    let path = p.to_str().unwrap();
    let run = check(&[path]);
    assert_eq!(run.code, 2, "{}", run.context());
    assert!(run.elapsed < HOSTILE_LIMIT, "took {:?}", run.elapsed);
    // The 65th bracket after `description: ` (13 characters).
    assert_error_line(
        &run,
        path,
        4,
        14 + 64,
        "the YAML nests deeper than 64 levels here",
    );
    assert_hint(&run, HINT_DEPTH);
    println!("30 000 levels: {:?}", run.elapsed);
}

#[test]
fn missing_files_and_folders_are_invalid_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let missing = missing.to_str().unwrap();
    let folder = dir.path().to_str().unwrap();
    let valid = "runbooks/onboarding-walkthrough.yaml";
    let run = check(&[missing, folder, valid]);
    assert_eq!(run.code, 2, "{}", run.context());
    assert_error_line(&run, missing, 1, 1, &format!("cannot read {missing}"));
    assert_error_line(&run, folder, 1, 1, "it is a folder, not a file");
    assert_hint(
        &run,
        "check the path; built-in runbooks are listed by `breachbook runbooks`",
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with(&format!("ok    {valid} — "))),
        "the valid file is still checked\n{}",
        run.context()
    );
}

#[test]
fn thousands_of_problems_are_capped_and_quick() {
    // 2 999 revoke steps in a chain, none with a verify or propagate step before it: 5 998
    // problems. The report keeps 100 and counts the rest, quickly (checking each revoke
    // step's ancestors one by one took 43 s for 8 000 such steps).
    let dir = tempfile::tempdir().unwrap();
    let mut text = VALID.to_string();
    for i in 1..3_000 {
        let need = if i == 1 {
            "inventory".to_string()
        } else {
            format!("s{}", i - 1)
        };
        text.push_str(&format!(
            "  - {{id: s{i}, title: t, action: revoke, instructions: x, needs: [{need}]}}\n"
        ));
    }
    let p = write(dir.path(), "many.yaml", &text);
    let path = p.to_str().unwrap();
    let run = check(&[path]);
    assert_eq!(run.code, 2);
    assert!(run.elapsed < HOSTILE_LIMIT, "took {:?}", run.elapsed);
    let errors = run
        .stdout
        .lines()
        .filter(|l| l.contains(": error: "))
        .count();
    assert_eq!(errors, 101, "100 problems and the count of the rest");
    assert!(
        run.stdout
            .contains("error: and 5898 more problems, not shown"),
        "{}",
        &run.stdout[run.stdout.len().saturating_sub(2000)..]
    );
    assert!(
        run.stdout.len() < 200_000,
        "{} bytes of report",
        run.stdout.len()
    );
    println!("6 000 problems: {:?}", run.elapsed);
}

fn shipped() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("runbooks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .map(|n| format!("runbooks/{n}"))
        .collect();
    files.sort();
    files
}

#[test]
fn shipped_runbooks_are_valid() {
    let files = shipped();
    for name in [
        "runbooks/ai-provider-keys-vendor-breach.yaml",
        "runbooks/aws-iam-access-key-leak.yaml",
        "runbooks/onboarding-walkthrough.yaml",
    ] {
        assert!(files.iter().any(|f| f == name), "{name} is missing");
    }
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let run = check(&args);
    assert_eq!(run.code, 0, "{}", run.context());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), files.len(), "{}", run.context());
    for (line, file) in lines.iter().zip(&files) {
        assert!(
            line.starts_with(&format!("ok    {file} — ")) && line.contains(" steps, "),
            "`{line}`\n{}",
            run.context()
        );
    }
}

#[test]
fn json_format_reports_ok_and_located_diagnostics() {
    let valid = "runbooks/onboarding-walkthrough.yaml";
    let invalid = fixture("multiple-problems.yaml");
    let run = check(&["--format", "json", valid, &invalid]);
    assert_eq!(run.code, 2, "{}", run.context());
    let v: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e})\n{}", run.context());
    });
    let docs = v.as_array().expect("a JSON array");
    assert_eq!(docs.len(), 2, "{}", run.context());

    assert_eq!(docs[0]["file"], valid);
    assert_eq!(docs[0]["ok"], true);
    assert_eq!(docs[0]["name"], "onboarding-walkthrough");
    assert_eq!(docs[0]["diagnostics"].as_array().map(Vec::len), Some(0));

    assert_eq!(docs[1]["file"], invalid.as_str());
    assert_eq!(docs[1]["ok"], false);
    let diags = docs[1]["diagnostics"].as_array().expect("diagnostics");
    let got: Vec<(u64, u64, String)> = diags
        .iter()
        .map(|d| {
            (
                d["line"].as_u64().unwrap(),
                d["column"].as_u64().unwrap(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<&Case> = CASES
        .iter()
        .filter(|c| c.file == "multiple-problems.yaml")
        .collect();
    assert_eq!(got.len(), want.len(), "{got:?}");
    for ((line, col, msg), c) in got.iter().zip(want) {
        assert_eq!((*line, *col), (c.line as u64, c.col as u64), "{msg}");
        assert!(msg.contains(c.message), "`{msg}` lacks `{}`", c.message);
    }
    assert_eq!(diags[0]["hint"], "this breachbook reads `version: 1`");
    assert!(
        diags[2]["hint"]
            .as_str()
            .unwrap()
            .starts_with(HINT_DURATION)
    );
}

#[test]
fn several_files_report_every_files_problems() {
    let names = [
        "needs-dangling.yaml",
        "multiple-problems.yaml",
        "hostile-non-utf8.yaml",
        "syntax-tab-indentation.yaml",
    ];
    let valid = "runbooks/onboarding-walkthrough.yaml";
    let paths: Vec<String> = names.iter().map(|n| fixture(n)).collect();
    let mut args: Vec<&str> = paths.iter().map(String::as_str).collect();
    args.insert(2, valid);
    let run = check(&args);
    assert_eq!(run.code, 2, "{}", run.context());

    // Results come in argument order, each file's block under its own header.
    let headers: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAIL  ") || l.starts_with("ok    "))
        .collect();
    let expected: Vec<String> = args
        .iter()
        .map(|a| {
            if *a == valid {
                format!("ok    {valid} — ")
            } else {
                let name = a.rsplit('/').next().unwrap();
                let n = CASES.iter().filter(|c| c.file == name).count();
                format!("FAIL  {a} — {n} problem(s)")
            }
        })
        .collect();
    assert_eq!(headers.len(), expected.len(), "{}", run.context());
    for (h, e) in headers.iter().zip(&expected) {
        assert!(
            h.starts_with(e.as_str()),
            "`{h}` is not `{e}`\n{}",
            run.context()
        );
    }
    for (name, path) in names.iter().zip(&paths) {
        for c in CASES.iter().filter(|c| c.file == *name) {
            assert_error_line(&run, path, c.line, c.col, c.message);
        }
    }
    let errors = run
        .stdout
        .lines()
        .filter(|l| l.contains(": error: "))
        .count();
    let want: usize = names
        .iter()
        .map(|n| CASES.iter().filter(|c| c.file == *n).count())
        .sum();
    assert_eq!(errors, want, "{}", run.context());
}

/// Each problem is printed once: its `error:` line, then the source with a caret (not the
/// message again).
#[test]
fn each_problem_is_printed_once() {
    let path = fixture("one-pass-every-problem.yaml");
    let run = check(&[&path]);
    for message in [
        "unknown field `colour`",
        "step `two` needs `lok`, which is not a step",
        "expected a number here",
    ] {
        assert_eq!(
            run.stdout.matches(message).count(),
            1,
            "`{message}` printed more than once\n{}",
            run.context()
        );
    }
    assert!(!run.stdout.contains('×'), "{}", run.context());
}

/// `drill` and `run` print a runbook's problems as `check` does, and a name that is neither
/// a file nor a built-in runbook without a made-up place.
#[test]
fn drill_and_run_print_load_problems_as_check_does() {
    let state = tempfile::tempdir().unwrap();
    let path = fixture("one-pass-every-problem.yaml");
    for job in ["drill", "run"] {
        let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
            .args([job, &path])
            .current_dir(root())
            .env("BREACHBOOK_STATE_DIR", state.path())
            .env("NO_COLOR", "1")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{job}: {err}");
        let first = err.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            format!("{path}:10:3: error: unknown field `colour`"),
            "{job}: {err}"
        );
        assert!(!err.contains("error: tests/"), "{job}: {err}");
        assert_eq!(err.matches(": error: ").count(), 3, "{job}: {err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .args(["drill", "nosuch"])
        .env("BREACHBOOK_STATE_DIR", state.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(
            "error: no runbook file `nosuch` and no built-in runbook of that name\n  help: "
        ),
        "{err}"
    );
    assert!(!err.contains("nosuch:1:1"), "{err}");
}
