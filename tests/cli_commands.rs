//! The command line's own helpers: a built-in runbook printed to start a copy from, shell
//! completions and the man page, generated from the clap definitions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn breachbook(args: &[&str]) -> (i32, String, String) {
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .args(args)
        .env("BREACHBOOK_STATE_DIR", state.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn runbooks_show_prints_a_built_in_runbook_that_checks_as_a_copy() {
    let (code, yaml, err) = breachbook(&["runbooks", "show", "ai-provider-keys-vendor-breach"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        yaml,
        include_str!("../runbooks/ai-provider-keys-vendor-breach.yaml")
    );
    // The copy is a valid runbook of its own.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("mine.yaml");
    std::fs::write(&copy, &yaml).unwrap();
    let (code, out, err) = breachbook(&["check", copy.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok "), "{out}");
    // With `.yaml` too; an unknown name lists the known ones.
    assert_eq!(
        breachbook(&["runbooks", "show", "onboarding-walkthrough.yaml"]).0,
        0
    );
    let (code, _, err) = breachbook(&["runbooks", "show", "nope"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no built-in runbook `nope`")
            && err.contains("ai-provider-keys-vendor-breach, aws-iam-access-key-leak"),
        "{err}"
    );
    // Plain `runbooks` still lists them.
    let (code, list, _) = breachbook(&["runbooks"]);
    assert_eq!(code, 0);
    assert!(list.contains("aws-iam-access-key-leak"), "{list}");
}

#[test]
fn completions_for_every_shell_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, script, err) = breachbook(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        for sub in ["drill", "resume", "check", "runbooks", "completions", "man"] {
            assert!(script.contains(sub), "{shell} completions miss {sub}");
        }
    }
    let (code, _, err) = breachbook(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn the_man_page_is_roff_with_every_subcommand() {
    let (code, page, err) = breachbook(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(page.contains(".TH breachbook 1"), "{page}");
    assert!(page.contains(".SH NAME"), "{page}");
    for sub in [
        "drill",
        "run",
        "resume",
        "report",
        "check",
        "runbooks",
        "completions",
    ] {
        assert!(page.contains(sub), "the man page misses {sub}");
    }
    // `man -l -` reads it, where man is installed.
    if Command::new("man").arg("--version").output().is_ok() {
        let mut child = Command::new("man")
            .args(["-l", "-"])
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let shown = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(
            text.contains("terminal runbook for the first hours after a credential leak"),
            "{text}"
        );
    }
}
