//! The shipped runbooks through the library: each one validates, the copy compiled into the
//! binary is the file in runbooks/, each follows the house conventions for step text, and the
//! loader never panics on damaged versions of them. Also `shipped::resolve`, the JSON Schema
//! and the rendering of diagnostics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use breachbook::runbook::diagnostic::LoadError;
use breachbook::runbook::load::{load_file, load_str};
use breachbook::runbook::schema::{Action, ActorKind, Fault, Runbook, SimLocation, Step};
use breachbook::runbook::{schema_json, shipped};
use proptest::prelude::*;

const VENDOR: &str = "ai-provider-keys-vendor-breach.yaml";
const IAM: &str = "aws-iam-access-key-leak.yaml";
const ONBOARDING: &str = "onboarding-walkthrough.yaml";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str) -> Runbook {
    let (_, src) = shipped::get(name).unwrap_or_else(|| panic!("{name} is not shipped"));
    load_str(name, src).unwrap_or_else(|e| panic!("{e}"))
}

/// Step ids reachable through `needs` from `id`.
fn before(rb: &Runbook, id: &str) -> BTreeSet<String> {
    let by_id: HashMap<&str, &Step> = rb.steps.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut seen = BTreeSet::new();
    let mut stack = vec![id.to_string()];
    while let Some(cur) = stack.pop() {
        for n in &by_id[cur.as_str()].needs {
            if seen.insert(n.clone()) {
                stack.push(n.clone());
            }
        }
    }
    seen
}

/// The one step with this action.
fn step(rb: &Runbook, action: Action) -> &Step {
    let found: Vec<&Step> = rb.steps.iter().filter(|s| s.action == action).collect();
    assert_eq!(found.len(), 1, "{}: one {action:?} step", rb.name);
    found[0]
}

#[test]
fn every_shipped_runbook_validates() {
    let names: Vec<&str> = shipped::all().iter().map(|(n, _)| *n).collect();
    assert_eq!(names, [VENDOR, IAM, ONBOARDING]);
    for (name, src) in shipped::all() {
        let rb = load_str(name, src).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(format!("{}.yaml", rb.name), *name, "name matches the file");
        assert!(
            rb.drill.is_some(),
            "{name}: every shipped runbook can be drilled"
        );
    }
}

#[test]
fn the_compiled_in_copies_are_the_files_in_runbooks() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(root().join("runbooks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    let shipped_names: BTreeSet<String> =
        shipped::all().iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, shipped_names, "every file in runbooks/ is shipped");
    for (name, src) in shipped::all() {
        let path = root().join("runbooks").join(name);
        let (rb, text) = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(text, *src, "{name}: rebuild, the binary holds an old copy");
        assert_eq!(rb, load(name));
    }
}

#[test]
fn step_text_is_written_for_three_in_the_morning() {
    for (name, _) in shipped::all() {
        let rb = load(name);
        for st in &rb.steps {
            let where_ = format!("{name}: step `{}`", st.id);
            assert!(!st.title.trim().is_empty(), "{where_}: no title");
            assert!(
                st.title.len() <= 60,
                "{where_}: title too long for the checklist"
            );
            assert!(
                st.instructions.contains("Done:"),
                "{where_}: say what done looks like"
            );
            assert!(!st.why.trim().is_empty(), "{where_}: no why");
            for sentence in st
                .instructions
                .split(['\n', '.'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                let words = sentence.split_whitespace().count();
                assert!(words <= 22, "{where_}: {words} words in `{sentence}`");
            }
        }
    }
}

#[test]
fn the_iam_runbook_rotates_in_the_safe_order() {
    let rb = load(IAM);
    assert!(rb.scope.iam.is_some());
    // create → store pending (rotate) → verify → deploy → deactivate → observe → delete.
    let order = [
        Action::Rotate,
        Action::Verify,
        Action::Propagate,
        Action::Revoke,
        Action::Monitor,
        Action::Delete,
    ];
    for pair in order.windows(2) {
        let (first, then) = (step(&rb, pair[0]), step(&rb, pair[1]));
        assert!(
            before(&rb, &then.id).contains(&first.id),
            "`{}` must come after `{}`",
            then.id,
            first.id
        );
    }
    let text = rb
        .steps
        .iter()
        .map(|s| s.instructions.as_str())
        .collect::<String>();
    assert!(
        text.contains("two-key limit"),
        "the two-key limit is explained"
    );

    let drill = rb.drill.as_ref().unwrap();
    for c in &drill.credentials {
        assert!(
            c.locations
                .iter()
                .any(|l| matches!(l, SimLocation::IamUser { .. })),
            "{}: lives at IAM",
            c.name
        );
        assert!(
            c.locations
                .iter()
                .any(|l| matches!(l, SimLocation::SecretsManager { .. })),
            "{}: stored in Secrets Manager",
            c.name
        );
    }
    assert!(drill.actors.iter().any(|a| a.kind == ActorKind::Consumer));
    assert!(
        drill
            .actors
            .iter()
            .any(|a| a.kind == ActorKind::Attacker && a.every.is_some())
    );
    assert!(!drill.injects.is_empty());
    assert!(!drill.faults.is_empty());
}

#[test]
fn the_onboarding_tour_is_calm_and_safe() {
    let rb = load(ONBOARDING);
    for st in &rb.steps {
        assert!(
            st.why.trim().len() > 20,
            "step `{}` needs a real why",
            st.id
        );
        assert!(
            st.action != Action::Command && st.action != Action::Delete,
            "step `{}`: the tour runs nothing outside the simulator and deletes nothing",
            st.id
        );
    }
    let drill = rb
        .drill
        .as_ref()
        .expect("the tour runs against the simulator");
    assert!(drill.faults.is_empty(), "no faults in a first tour");
    assert!(
        !drill.injects.is_empty(),
        "one inject shows what injects are"
    );
}

#[test]
fn the_vendor_runbook_plays_the_breach_of_the_design() {
    let rb = load(VENDOR);
    let s = &rb.scope;
    assert!(s.secrets_manager.is_some() && s.braintrust.is_some());
    assert!(s.openai.is_some() && s.anthropic.is_some() && s.gemini.is_some());
    let drill = rb.drill.as_ref().unwrap();
    let attacked: BTreeSet<&str> = drill
        .actors
        .iter()
        .filter(|a| a.kind == ActorKind::Attacker)
        .flat_map(|a| a.uses.iter().map(String::as_str))
        .collect();
    assert!(attacked.len() >= 2, "attacker bursts on two leaked keys");
    assert!(
        drill
            .faults
            .iter()
            .any(|f| matches!(f, Fault::StaleConsumer { .. }))
    );
    assert!(
        drill
            .faults
            .iter()
            .any(|f| matches!(f, Fault::Throttle { .. }))
    );
    assert!(
        drill
            .injects
            .iter()
            .any(|i| i.message.contains("usage spike"))
    );
}

#[test]
fn every_runbook_survives_a_trip_through_json() {
    // The journal stores the runbook as JSON: what comes back must be the same runbook.
    for (name, _) in shipped::all() {
        let rb = load(name);
        let json = serde_json::to_string(&rb).unwrap();
        let back: Runbook = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rb, "{name}");
    }
}

#[test]
fn resolve_finds_the_default_names_and_paths() {
    let (origin, src) = shipped::resolve(None).unwrap();
    assert_eq!(origin, format!("runbooks/{VENDOR} (built in)"));
    assert_eq!(src, shipped::get(VENDOR).unwrap().1);

    for arg in [
        "aws-iam-access-key-leak",
        "aws-iam-access-key-leak.yaml",
        "elsewhere/aws-iam-access-key-leak.yaml",
    ] {
        let (origin, src) = shipped::resolve(Some(arg)).unwrap();
        assert_eq!(origin, format!("runbooks/{IAM} (built in)"), "{arg}");
        assert_eq!(src, shipped::get(IAM).unwrap().1);
    }

    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("mine.yaml");
    std::fs::write(&own, shipped::get(ONBOARDING).unwrap().1).unwrap();
    let (origin, src) = shipped::resolve(own.to_str()).unwrap();
    assert_eq!(origin, own.to_str().unwrap());
    assert!(load_str(&origin, &src).is_ok());
}

#[test]
fn resolve_refuses_with_a_list_of_what_exists() {
    let e = shipped::resolve(Some("aws-iam-leak")).unwrap_err();
    let d = &e.diagnostics()[0];
    assert!(
        d.message.contains("no runbook file `aws-iam-leak`"),
        "{}",
        d.message
    );
    let hint = d.hint.as_deref().unwrap();
    for name in [
        "ai-provider-keys-vendor-breach",
        "aws-iam-access-key-leak",
        "onboarding-walkthrough",
    ] {
        assert!(hint.contains(name), "{hint}");
    }

    let dir = tempfile::tempdir().unwrap();
    let e = shipped::resolve(dir.path().to_str()).unwrap_err();
    assert!(e.diagnostics()[0].message.contains("it is a folder"), "{e}");

    let bad = dir.path().join("latin1.yaml");
    std::fs::write(&bad, b"version: 1\ntitle: Caf\xe9\n").unwrap();
    let e = shipped::resolve(bad.to_str()).unwrap_err();
    let d = &e.diagnostics()[0];
    assert_eq!((d.line, d.column), (2, 11));
}

#[test]
fn the_json_schema_describes_the_format() {
    let schema: serde_json::Value = serde_json::from_str(&schema_json()).unwrap();
    assert_eq!(schema["title"], "Runbook");
    let top: BTreeSet<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "version",
        "name",
        "title",
        "exposure_window",
        "scope",
        "steps",
        "drill",
    ] {
        assert!(top.contains(key), "{key} missing from {top:?}");
    }
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown fields refused"
    );
    let text = schema_json();
    for action in [
        "manual",
        "inventory",
        "rotate",
        "verify",
        "propagate",
        "revoke",
        "monitor",
        "delete",
        "command",
        "report",
    ] {
        assert!(text.contains(&format!("\"{action}\"")), "{action}");
    }
}

#[test]
fn diagnostics_render_with_file_line_column_caret_and_hint() {
    let src = shipped::get(ONBOARDING).unwrap().1.replacen(
        "    needs: [look-around]",
        "    need: [look-around]",
        1,
    );
    let e: LoadError = load_str("tour.yaml", &src).unwrap_err();
    let d = &e.diagnostics()[0];
    assert_eq!(d.message, "unknown field `need`");
    assert_eq!(d.hint.as_deref(), Some("did you mean `needs`?"));
    let shown = e.to_string();
    let line = src
        .lines()
        .position(|l| l.starts_with("    need: "))
        .unwrap()
        + 1;
    assert!(
        shown.contains(&format!("tour.yaml:{line}:5: error: unknown field `need`")),
        "{shown}"
    );
    assert!(
        shown.contains("need: [look-around]"),
        "the source line: {shown}"
    );
    assert!(shown.contains("here"), "the caret label: {shown}");
    assert!(shown.contains("did you mean `needs`?"), "{shown}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let src = shipped::get(VENDOR)
        .unwrap()
        .1
        .replacen("version: 1", "version: 3", 1)
        .replacen("needs: [rotate]", "needs: [rotat]", 1)
        .replacen("quiet_period: 5m", "quiet_period: 5", 1)
        .replacen("    - at: 20m", "    - at: 9h", 1);
    let e = load_str("vendor.yaml", &src).unwrap_err();
    let messages: Vec<&str> = e.diagnostics().iter().map(|d| d.message.as_str()).collect();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    assert!(messages[0].contains("unsupported version 3"));
    assert!(messages[1].contains("quiet_period"));
    assert!(messages[2].contains("needs `rotat`"));
    assert!(messages[3].contains("inject at 9h lies after the drill ends"));
    let lines: Vec<usize> = e.diagnostics().iter().map(|d| d.line).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "in file order");
}

/// Damages a runbook in one of a few ways a hurried edit does.
fn damage(src: &str, kind: u8, at: usize, with: &str) -> String {
    let lines: Vec<&str> = src.lines().collect();
    let i = at % lines.len();
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    match kind % 5 {
        0 => {
            out.remove(i);
        }
        1 => out.insert(i, lines[i].to_string()),
        2 => out[i] = format!("{}{with}", lines[i]),
        3 => out[i] = lines[i].trim_start().to_string(),
        _ => out[i] = format!("  {}", lines[i]),
    }
    out.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A damaged runbook loads or is refused with located diagnostics; it never panics.
    #[test]
    fn damaged_runbooks_never_panic(
        which in 0usize..3,
        kind in 0u8..5,
        at in 0usize..400,
        with in "[ :\\-\\[\\]{}&*#a-z0-9]{0,6}",
    ) {
        let (name, src) = shipped::all()[which];
        let text = damage(src, kind, at, &with);
        if let Err(e) = load_str(name, &text) {
            prop_assert!(!e.diagnostics().is_empty());
            let lines = text.lines().count().max(1);
            for d in e.diagnostics() {
                prop_assert!(d.line >= 1 && d.line <= lines + 1, "line {} of {lines}", d.line);
                prop_assert!(d.column >= 1);
                prop_assert!(!d.message.is_empty());
                prop_assert!(d.hint.is_some(), "every problem says how to fix it: {}", d.message);
            }
            let _ = e.to_string();
        }
    }
}
