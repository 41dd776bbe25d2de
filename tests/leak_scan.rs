//! The leak scan: a live incident (the IAM runbook, the real binary, headless with the
//! autopilot, against moto_server) whose command step prints the new key in seventeen
//! shapes, the new key pair whole, the old keys, and its whole environment. Afterwards no
//! copy of any of those keys — whole, base64, hex, URL-encoded, or any piece of 12
//! characters — is in any file breachbook wrote or on any screen: the headless run's
//! output, and the terminal (tmux) showing the finished incident step by step.
//!
//! The same run checks the command's environment: the cloud and admin credentials
//! breachbook ran with are gone, the one the step's `pass_env` names is there; and the
//! incident's fingerprint key is a random one, 0600, beside the journal.
//!
//! scripts/test installs moto[server] and tmux.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/moto.rs"]
mod moto;
#[path = "support/tmux.rs"]
mod tmux;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use moto::{FAKE_ACCESS_KEY_ID, Moto};
use tmux::Tmux;

const USERS: [&str; 2] = ["ci-deployer", "reporting-bot"];

/// The operator's AWS secret key (moto takes any): obviously fake, and shaped like a real
/// one, so no piece of it is ordinary text.
const OPERATOR_SECRET: &str = "fakeOPERATORsecret0EXAMPLE/K7MDENG+bPxRfiCY";
/// Admin keys in the operator's environment (obviously fake), which commands must not see.
const OPENAI_ADMIN: &str = "sk-test-admin-key-the-command-must-not-see-0001";
const GEMINI_API: &str = "AIzaTESTgemini-key-the-command-must-not-see-02";
/// What the step's `pass_env` lets through.
const PASSED: &str = "deploy-token-allowed";

/// The command step: its environment and the old keys (from a file outside breachbook's
/// folder), then the new key (the pair's SecretAccessKey, and the pair itself) printed in
/// every shape a careless script might (last, so the step panel's last lines show some).
fn command(old_keys: &Path) -> String {
    format!(
        r#"S=$(printf %s "$BREACHBOOK_NEW_KEY" | sed -n 's/.*"SecretAccessKey":"\([^"]*\)".*/\1/p')
test -n "$S" || exit 3
env | sort
cat {old}
echo "$S"
echo "secret:$S"
echo "($S)"
echo "https://hooks.example.test/rotate?secret=$S&user={{credential}}"
echo "VAR:$S"
echo "export AWS_SECRET_ACCESS_KEY='$S'"
printf %s "$S" | base64 -w0; echo
printf 'aws_secret_access_key=%s\n' "$S" | base64 -w0; echo
printf %s "$S" | base64 -w0 | tr '+/' '-_' | tr -d '='; echo
printf %s "$S" | od -An -tx1 | tr -d ' \n'; echo
printf %s "$S" | od -An -tx1 | tr -d ' \n' | tr a-f A-F; echo
printf %s "$S" | od -An -tx1 | tr -d '\n' | sed 's/ /%/g'; echo
printf %s "$S" | od -An -tx1
printf '%s\n' "$S" | fold -w 9
printf 'split:%s' "$(printf %s "$S" | cut -c1-20)"; sleep 0.3; printf '%s\n' "$(printf %s "$S" | cut -c21-)"
printf '{{"k":"%s"}}\n' "$(printf %s "$S" | sed 's|/|\\/|g')"
printf '%s\n' "$BREACHBOOK_NEW_KEY"
printf %s "$BREACHBOOK_NEW_KEY" | base64 -w0; echo
echo "$S"
echo done"#,
        old = old_keys.display()
    )
}

/// The IAM runbook made runnable here (as tests/live_run.rs does), its command step
/// replaced by [`command`].
fn runbook(dir: &Path, old_keys: &Path) -> PathBuf {
    let src = std::fs::read_to_string("runbooks/aws-iam-access-key-leak.yaml").unwrap();
    let mut out = String::new();
    for line in src.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if t.starts_with("start: 20") {
            out.push_str(&format!("{indent}start: 2099-01-01T00:00:00Z\n"));
        } else if t.starts_with("run: kubectl") {
            out.push_str(&format!("{indent}run: |\n"));
            for l in command(old_keys).lines() {
                out.push_str(&format!("{indent}  {l}\n"));
            }
            out.push_str(&format!("{indent}per_credential: true\n"));
            out.push_str(&format!("{indent}new_key_via: env\n"));
            out.push_str(&format!("{indent}pass_env: [DEPLOY_API_KEY]\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = dir.join("iam-leak-scan.yaml");
    std::fs::write(&path, out).unwrap();
    path
}

/// Every breachbook invocation's environment: moto's fake credentials, and admin keys a
/// command must not inherit.
fn environment(state: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY_ID.into()),
        ("AWS_SECRET_ACCESS_KEY", OPERATOR_SECRET.into()),
        (
            "AWS_SESSION_TOKEN",
            "fake-session-token-for-moto-only".into(),
        ),
        ("AWS_REGION", "us-east-1".into()),
        (
            "AWS_CONFIG_FILE",
            state.join("no-aws-config").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            state.join("no-aws-credentials").display().to_string(),
        ),
        ("OPENAI_ADMIN_KEY", OPENAI_ADMIN.into()),
        ("GEMINI_API_KEY", GEMINI_API.into()),
        ("DEPLOY_API_KEY", PASSED.into()),
        ("BREACHBOOK_USAGE_POLL_SECS", "1".into()),
        ("NO_COLOR", "1".into()),
    ]
}

/// Each user with one access key, stored in `prod/iam/<user>`; returns the old secret keys.
async fn seed(moto: &Moto) -> Vec<String> {
    let iam = moto.iam_client().await;
    let sm = moto.sm_client("us-east-1").await;
    let mut old = Vec::new();
    for user in USERS {
        iam.create_user().user_name(user).send().await.unwrap();
        let k = iam
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .unwrap();
        let k = k.access_key().unwrap();
        old.push(k.secret_access_key().to_string());
        let value = serde_json::json!({
            "AccessKeyId": k.access_key_id(),
            "SecretAccessKey": k.secret_access_key(),
        })
        .to_string();
        sm.create_secret()
            .name(format!("prod/iam/{user}"))
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
    old
}

/// The new key pair of each user, as AWSCURRENT holds it now (asked for explicitly: moto's
/// gap).
async fn new_pairs(moto: &Moto) -> Vec<String> {
    let sm = moto.sm_client("us-east-1").await;
    let mut out = Vec::new();
    for user in USERS {
        let v = sm
            .get_secret_value()
            .secret_id(format!("prod/iam/{user}"))
            .version_stage("AWSCURRENT")
            .send()
            .await
            .unwrap();
        out.push(v.secret_string().unwrap().to_string());
    }
    out
}

fn b64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        if pad {
            for _ in c.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

/// What the scan looks for, per secret: (what, text).
fn shapes(secret: &str) -> Vec<(String, String)> {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b = secret.as_bytes();
    let mut out = vec![
        ("whole".to_string(), secret.to_string()),
        ("base64".into(), b64(b, STD, true)),
        ("base64 unpadded".into(), b64(b, STD, false)),
        ("base64url".into(), b64(b, URL, false)),
        ("hex".into(), hex::encode(b)),
        ("HEX".into(), hex::encode_upper(b)),
        (
            "URL-encoded".into(),
            b.iter()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || b"-._~".contains(c) {
                        (*c as char).to_string()
                    } else {
                        format!("%{c:02X}")
                    }
                })
                .collect(),
        ),
        (
            "URL-encoded, every byte".into(),
            b.iter().map(|c| format!("%{c:02x}")).collect(),
        ),
    ];
    for (i, w) in b.windows(12).enumerate() {
        out.push((
            format!("piece {i}..{}", i + 12),
            String::from_utf8_lossy(w).into_owned(),
        ));
    }
    out
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_copy_of_a_key_in_any_shape_in_any_file_or_on_any_screen() {
    let moto = Moto::start();
    let old = seed(&moto).await;
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let aside = tempfile::tempdir().unwrap();
    let old_keys = aside.path().join("old-keys");
    std::fs::write(&old_keys, old.join("\n") + "\n").unwrap();
    let rb = runbook(aside.path(), &old_keys);

    // The run, headless: its output is the first screen.
    let out = tokio::task::spawn_blocking({
        let state = state.clone();
        let endpoint = moto.endpoint.clone();
        let rb = rb.clone();
        move || {
            let mut c = Command::new(env!("CARGO_BIN_EXE_breachbook"));
            c.arg("--state-dir").arg(&state);
            c.env_remove("AWS_PROFILE")
                .env_remove("BREACHBOOK_STATE_DIR");
            for (k, v) in environment(&state) {
                c.env(k, v);
            }
            c.arg("run")
                .arg(&rb)
                .args(["--headless", "--autopilot", "--quiet-period", "2s"])
                .args(["--endpoint-url", &endpoint])
                .stdin(Stdio::null())
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["complete"], true, "{stdout}");
    assert_eq!(summary["revoked"], 2, "{stdout}");
    let id = summary["incident"].as_str().unwrap().to_string();
    let incident = state.join("incidents").join(&id);

    // The new keys, as moto holds them now.
    let pairs = new_pairs(&moto).await;
    let mut secrets: Vec<(String, String)> = Vec::new();
    for (user, pair) in USERS.iter().zip(&pairs) {
        let v: serde_json::Value = serde_json::from_str(pair).unwrap();
        let s = v["SecretAccessKey"].as_str().unwrap().to_string();
        assert!(!old.contains(&s), "{user}: not rotated");
        secrets.push((format!("{user}'s new key"), s));
    }
    for (user, s) in USERS.iter().zip(&old) {
        secrets.push((format!("{user}'s old key"), s.clone()));
    }
    secrets.push((
        "the operator's AWS secret key".into(),
        OPERATOR_SECRET.into(),
    ));
    secrets.push(("OPENAI_ADMIN_KEY".into(), OPENAI_ADMIN.into()));
    secrets.push(("GEMINI_API_KEY".into(), GEMINI_API.into()));

    // The command ran for each key and printed everything (masked) to the journal.
    let (records, recovery) = breachbook::incident::journal::Journal::read(&state, &id).unwrap();
    assert!(recovery.is_clean(), "{recovery:?}");
    let output: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.event {
            breachbook::incident::event::Event::CommandOutput { line, .. } => Some(line.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        output.iter().filter(|l| *l == "done").count(),
        2,
        "{output:#?}"
    );
    let masked = output.iter().filter(|l| l.contains("[masked ")).count();
    assert!(masked >= 2 * 20, "{masked} masked lines: {output:#?}");

    // The environment: breachbook's credentials gone, the allowed one there.
    let env_names: Vec<&str> = output
        .iter()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    for gone in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "OPENAI_ADMIN_KEY",
        "GEMINI_API_KEY",
    ] {
        assert!(
            !env_names.contains(&gone),
            "{gone} reached the command: {output:#?}"
        );
    }
    assert!(
        output.contains(&format!("DEPLOY_API_KEY={PASSED}")),
        "pass_env: {output:#?}"
    );
    assert!(
        env_names.contains(&"AWS_REGION"),
        "the rest of the environment stays"
    );

    // The fingerprint key: random, private, beside the journal.
    let key_file = incident.join("fingerprint.key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.trim().len(), 64, "{key}");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let legacy = breachbook::incident::journal::FingerprintKey::legacy(&id);
    assert_ne!(
        key.trim(),
        hex::encode(legacy.bytes()),
        "the key is the id's"
    );

    // The finished incident on a terminal, step by step (each step panel shows the last
    // lines of its command's output).
    let screens = tokio::task::spawn_blocking({
        let state = state.clone();
        let endpoint = moto.endpoint.clone();
        let id = id.clone();
        move || {
            let env = environment(&state);
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let t = Tmux::start_with_env(
                &state,
                &["AWS_PROFILE", "AWS_ENDPOINT_URL"],
                &env,
                &["resume", &id, "--endpoint-url", &endpoint],
                // Tall enough for the step panel to show the command and its last lines.
                200,
                160,
            );
            t.wait_for("Timeline", 20);
            for key in ["Up", "Down"] {
                for _ in 0..12 {
                    t.keys(&[key]);
                    std::thread::sleep(std::time::Duration::from_millis(150));
                    t.screen();
                }
            }
            // On a loaded machine the screen may lag the keys: walk the steps again, slower,
            // until a step panel with the command's (masked) output has been seen.
            for _ in 0..24 {
                if t.captured().iter().any(|s| s.contains("[masked ")) {
                    break;
                }
                t.keys(&["Up"]);
                std::thread::sleep(std::time::Duration::from_millis(400));
                t.screen();
            }
            let shown = t.captured();
            t.keys(&["q"]);
            // Leaving the screen prints the journal's chain head, to keep.
            t.wait_until("the exit", 20, |_| t.scrollback().contains("[exited "));
            let after = t.scrollback();
            assert!(
                after.contains("journal head: record ") && after.contains("breachbook verify"),
                "{after}"
            );
            let mut all = shown;
            all.push(after);
            all
        }
    })
    .await
    .unwrap();
    assert!(
        screens.iter().any(|s| s.contains("[masked ")),
        "no screen showed the command's output: {}",
        screens.join("\n=====\n")
    );

    // The scan.
    let mut written = Vec::new();
    files(&state, &mut written);
    written.retain(|p| !p.ends_with("tmux.sock"));
    assert!(written.iter().any(|p| p.ends_with("journal.jsonl")));
    assert!(written.iter().any(|p| p.ends_with("report.md")));
    assert!(
        written
            .iter()
            .any(|p| p.to_string_lossy().contains("/logs/"))
    );
    let mut places: Vec<(String, Vec<u8>)> = written
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read(p).unwrap()))
        .collect();
    places.push(("the run's stdout".into(), out.stdout.clone()));
    places.push(("the run's stderr".into(), out.stderr.clone()));
    for (i, s) in screens.iter().enumerate() {
        places.push((format!("screen {i}"), s.clone().into_bytes()));
    }
    let mut found = Vec::new();
    let mut needles = 0;
    for (whose, secret) in &secrets {
        for (shape, needle) in shapes(secret) {
            needles += 1;
            for (place, bytes) in &places {
                if memfind(bytes, needle.as_bytes()) {
                    found.push(format!("{whose}, {shape} ({needle}), in {place}"));
                }
            }
        }
    }
    // What was scanned, for the record (`--nocapture`).
    eprintln!(
        "leak scan: {} keys, {needles} needles (shapes and 12-character pieces), {} files ({} bytes), 2 output streams, {} screens: {} copies",
        secrets.len(),
        written.len(),
        places[..written.len()]
            .iter()
            .map(|(_, b)| b.len())
            .sum::<usize>(),
        screens.len(),
        found.len()
    );
    assert!(
        found.is_empty(),
        "{} copies:\n{}",
        found.len(),
        found.join("\n")
    );
}

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
