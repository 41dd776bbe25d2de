//! `breachbook run` in a real terminal (tmux, 120×40) against moto_server: a person works
//! the IAM runbook from the screen — the same panels as the drill, the header saying LIVE
//! and who moto says we are, typed words for every revoke and delete — and afterwards moto
//! holds one new key per user and the state folder holds nothing secret.
//!
//! scripts/test installs tmux and moto[server]. Set BREACHBOOK_SHOW_SCREENS=1 (with
//! `--nocapture`) to print the screen at every step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/moto.rs"]
mod moto;
#[path = "support/tmux.rs"]
mod tmux;

use std::path::{Path, PathBuf};

use aws_sdk_iam::types::StatusType;
use moto::{FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, Moto};
use tmux::{MODAL_DRAWN, Tmux, word_on};

const USERS: [&str; 2] = ["ci-deployer", "reporting-bot"];

/// The drill's panels, as their top borders draw them.
const PANELS: [&str; 6] = [
    "Checklist",
    "Step",
    "Inventory",
    "Rotation",
    "Usage",
    "Timeline",
];

/// Prints a screen when BREACHBOOK_SHOW_SCREENS is set.
fn show(what: &str, s: &str) {
    if std::env::var_os("BREACHBOOK_SHOW_SCREENS").is_some() {
        println!("──── {what}\n{s}");
    }
}

/// A shipped runbook made runnable here (as tests/live_run.rs does): every key counts as
/// exposed (the window starts in the future of moto's clock), the restart command is
/// harmless.
fn runbook_copy(dir: &Path, name: &str) -> PathBuf {
    let src = std::fs::read_to_string(format!("runbooks/{name}.yaml")).unwrap();
    let mut out = String::new();
    for line in src.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        if t.starts_with("start: 20") {
            out.push_str(&format!("{indent}start: 2099-01-01T00:00:00Z\n"));
        } else if t.starts_with("run: kubectl") {
            out.push_str(&format!("{indent}run: echo restarted\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, out).unwrap();
    path
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The last 4 characters of a key id: its confirmation word.
fn tail4(id: &str) -> &str {
    &id[id.len() - 4..]
}

/// Seeded at moto: per user, the old key id and its secret.
struct OldKey {
    user: &'static str,
    id: String,
    secret: String,
}

/// Two IAM users of the runbook's scope, each with one access key stored in its Secrets
/// Manager secret as {AccessKeyId, SecretAccessKey}.
async fn seed(iam: &aws_sdk_iam::Client, sm: &aws_sdk_secretsmanager::Client) -> Vec<OldKey> {
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
        old.push(OldKey {
            user,
            id: k.access_key_id().to_string(),
            secret: k.secret_access_key().to_string(),
        });
    }
    old
}

/// A user's access keys at moto: (id, status).
async fn keys_of(iam: &aws_sdk_iam::Client, user: &str) -> Vec<(String, Option<StatusType>)> {
    iam.list_access_keys()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key_metadata()
        .iter()
        .map(|k| {
            (
                k.access_key_id().unwrap_or_default().to_string(),
                k.status().cloned(),
            )
        })
        .collect()
}

/// The old key a confirmation window is about, from the word it asks for.
fn window_key<'a>(old: &'a [OldKey], screen: &str) -> &'a OldKey {
    let w = word_on(screen);
    old.iter()
        .find(|k| tail4(&k.id) == w)
        .unwrap_or_else(|| panic!("the window asks for {w:?}, no old key's word:\n{screen}"))
}

/// Enter on a revoke or delete step, the window for the next key, its word typed (seen in
/// the input before Enter, as a person would check), and the window closing with the toast.
fn confirm_next<'a>(t: &Tmux, old: &'a [OldKey], verb: &str) -> &'a OldKey {
    t.keys(&["Enter"]);
    let s = t.wait_for(MODAL_DRAWN, 10);
    show(&format!("{verb} window"), &s);
    let k = window_key(old, &s);
    let title = if verb == "revoke" { "Revoke" } else { "Delete" };
    assert!(s.contains(&format!("┌ {title} {}", k.user)), "{s}");
    assert!(s.contains(&format!("key id {}", k.id)), "{s}");
    assert!(
        !s.contains("Pre-flight failed"),
        "a pre-flight check failed:\n{s}"
    );
    let w = tail4(&k.id);
    t.type_text(w);
    t.wait_for(&format!("word > {w}"), 10);
    t.keys(&["Enter"]);
    let s = t.wait_for(&format!("{}: old key {verb}d", k.user), 20);
    show(&format!("{verb}d {}", k.user), &s);
    assert!(!s.contains(MODAL_DRAWN), "the window stayed open:\n{s}");
    k
}

/// Fails on a failed step or a failed key anywhere on the screen.
fn no_failure(s: &str) {
    assert!(!s.contains("✗ failed"), "a step failed:\n{s}");
    assert!(!s.contains("r retry · x skip"), "a key failed:\n{s}");
}

#[test]
fn a_person_runs_the_iam_runbook_live_against_moto_from_the_screen() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let moto = Moto::start();
    let (iam, sm) =
        rt.block_on(async { (moto.iam_client().await, moto.sm_client("us-east-1").await) });
    let old = rt.block_on(seed(&iam, &sm));

    let tmp = tempfile::tempdir().unwrap();
    let rb = runbook_copy(tmp.path(), "aws-iam-access-key-leak");
    let state = tmp.path().display().to_string();
    let no_config = tmp.path().join("no-aws-config").display().to_string();
    let no_creds = tmp.path().join("no-aws-credentials").display().to_string();
    let t = Tmux::start_with_env(
        tmp.path(),
        &[
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_REGION",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_ACCESS_KEY),
            ("AWS_REGION", "us-east-1"),
            ("AWS_CONFIG_FILE", &no_config),
            ("AWS_SHARED_CREDENTIALS_FILE", &no_creds),
            ("BREACHBOOK_USAGE_POLL_SECS", "1"),
        ],
        &[
            "--state-dir",
            &state,
            "run",
            &rb.display().to_string(),
            "--endpoint-url",
            &moto.endpoint,
            "--quiet-period",
            "2s",
        ],
        120,
        40,
    );

    // The drill's screen, saying LIVE and who moto says we are (STS GetCallerIdentity).
    // The footer is drawn last: once it shows, the whole screen is there.
    t.wait_for("? help", 30);
    let s = t.wait_until("the STS identity in the header", 20, |s| {
        s.contains("identity arn:aws:sts::") && s.contains("? help")
    });
    show("start", &s);
    for title in PANELS {
        // The focused panel (the Checklist) has a thick frame.
        let framed = if title == "Checklist" { "┏" } else { "┌" };
        assert!(
            s.contains(&format!("{framed} {title}")),
            "panel {title} missing:\n{s}"
        );
    }
    let header: String = s.lines().take(2).collect::<Vec<_>>().join("\n");
    assert!(header.contains(" LIVE "), "{header}");
    assert!(!s.contains("DRILL"), "{s}");
    assert!(header.contains(":user/moto"), "moto's caller: {header}");
    assert!(header.contains("steps 0/11"), "{header}");

    // 1. Declare: tick both items, mark done.
    t.tick_all(2);
    t.keys(&["Enter"]);
    t.wait_for("steps 1/11", 10);
    // 2. Inventory: both old keys, exposed, by their hint.
    t.keys(&["Enter"]);
    t.wait_for("steps 2/11", 30);
    let s = t.wait_until("both old keys in the inventory", 10, |s| {
        old.iter()
            .all(|k| s.contains(&format!("AKI…{}", tail4(&k.id))))
    });
    show("inventory", &s);
    assert!(s.contains("2 keys"), "{s}");
    for k in &old {
        let hint = format!("AKI…{}", tail4(&k.id));
        assert!(
            s.lines()
                .any(|l| l.contains(k.user) && l.contains(&hint) && l.contains("EXPOSED")),
            "no inventory row says {}'s key is exposed:\n{s}",
            k.user
        );
    }
    assert!(s.contains("keys contained 0/2"), "{s}");
    // 3. Make room: each user has one key, nothing to do but tick.
    t.tick_all(2);
    t.keys(&["Enter"]);
    t.wait_for("steps 3/11", 10);
    // 4–6. Create, verify, deploy.
    for n in 4..=6 {
        t.keys(&["Enter"]);
        let s = t.wait_for(&format!("steps {n}/11"), 30);
        show(&format!("step {n}"), &s);
        no_failure(&s);
    }
    // 7. The command step shows the command and asks; live, it really runs.
    t.keys(&["Enter"]);
    let s = t.wait_for("Run it? y / n", 10);
    show("command", &s);
    assert!(s.contains("$ echo restarted"), "{s}");
    assert!(!s.contains("simulated, not run"), "{s}");
    t.keys(&["y"]);
    t.wait_for("steps 7/11", 30);
    // 8. Deactivate: a wrong word is refused and changes nothing; then each key's word.
    t.keys(&["Enter"]);
    let s = t.wait_for(MODAL_DRAWN, 10);
    assert!(s.contains("✓ new key verified"), "{s}");
    t.type_text("zzzz");
    t.wait_for("word > zzzz", 10);
    t.keys(&["Enter"]);
    let s = t.wait_for("is not the confirmation word", 10);
    assert!(
        s.contains("keys contained 0/2"),
        "a wrong word revoked:\n{s}"
    );
    t.keys(&["Escape"]);
    t.wait_gone(MODAL_DRAWN, 10);
    let mut revoked = Vec::new();
    for n in 1..=2 {
        let k = confirm_next(&t, &old, "revoke");
        t.wait_for(&format!("keys contained {n}/2"), 20);
        revoked.push(k.user);
    }
    revoked.sort_unstable();
    assert_eq!(revoked, USERS, "each key once");
    let s = t.wait_for("steps 8/11", 10);
    assert!(s.contains("2/2 revoked"), "{s}");
    // Deactivated at moto, not deleted: the old key is Inactive, the new one Active.
    rt.block_on(async {
        for k in &old {
            let keys = keys_of(&iam, k.user).await;
            assert_eq!(keys.len(), 2, "{}: {keys:?}", k.user);
            for (id, status) in &keys {
                let want = if *id == k.id {
                    StatusType::Inactive
                } else {
                    StatusType::Active
                };
                assert_eq!(status.as_ref(), Some(&want), "{}: {keys:?}", k.user);
            }
        }
    });
    // 9. Watch the quiet period (2 s).
    t.keys(&["Enter"]);
    let s = t.wait_for("steps 9/11", 60);
    show("observed", &s);
    // 10. Delete, each key's word typed again.
    let mut deleted = Vec::new();
    for _ in 1..=2 {
        deleted.push(confirm_next(&t, &old, "delete").user);
    }
    deleted.sort_unstable();
    assert_eq!(deleted, USERS, "each key once");
    t.wait_for("steps 10/11", 10);
    // 11. The report.
    t.keys(&["Enter"]);
    t.wait_for("steps 11/11", 30);
    let s = t.wait_for("report written", 10);
    show("report", &s);
    assert!(s.contains("keys contained 2/2"), "{s}");
    no_failure(&s);
    t.keys(&["q"]);
    t.wait_for("[exited 0]", 10);

    // At moto: each user has exactly one key, a new one, and its secret's AWSCURRENT
    // (asked for explicitly: moto's gap) holds it.
    let mut new_secrets = Vec::new();
    rt.block_on(async {
        for k in &old {
            let keys = keys_of(&iam, k.user).await;
            assert_eq!(keys.len(), 1, "{}: {keys:?}", k.user);
            assert_ne!(keys[0].0, k.id, "{}: the old key is still there", k.user);
            assert_eq!(keys[0].1, Some(StatusType::Active), "{}", k.user);
            let current = sm
                .get_secret_value()
                .secret_id(format!("prod/iam/{}", k.user))
                .version_stage("AWSCURRENT")
                .send()
                .await
                .unwrap();
            let v: serde_json::Value =
                serde_json::from_str(current.secret_string().unwrap()).unwrap();
            assert_eq!(v["AccessKeyId"], keys[0].0.as_str(), "{}", k.user);
            new_secrets.push(v["SecretAccessKey"].as_str().unwrap().to_string());
        }
    });

    // Nothing secret anywhere in the state folder (the tmux socket is skipped as unreadable).
    let mut all = String::new();
    for f in walk(tmp.path()) {
        if let Ok(bytes) = std::fs::read(&f) {
            all.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    assert!(
        !all.contains(FAKE_SECRET_ACCESS_KEY),
        "the responder's secret"
    );
    for k in &old {
        assert!(
            !all.contains(&k.secret),
            "{}'s old secret was written",
            k.user
        );
    }
    for s in &new_secrets {
        assert!(!all.contains(s.as_str()), "a new secret was written");
    }
    assert!(
        !all.contains("SecretAccessKey\":\""),
        "a key pair was written down"
    );
    // The journal: one refused word, four typed ones, from the screen.
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
    assert!(inc.join("report.md").exists());
}
