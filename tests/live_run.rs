//! `breachbook run` end to end, the real binary against moto_server (AWS) and wiremock
//! servers (the AI providers and Braintrust): inventory, rotation, typed confirmations,
//! revocation and the report, headless with the autopilot (which only runs against servers
//! on this machine). scripts/test installs moto[server].

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};

#[path = "support/ports.rs"]
mod ports;

const KEY_ID: &str = "AKIAEXAMPLEBREACHBOOK";
const SECRET: &str = "fake-secret-access-key-for-tests-only";

/// moto_server on a free 127.0.0.1 port, killed on drop.
struct Moto {
    endpoint: String,
    child: Child,
}

impl Moto {
    fn start() -> Moto {
        // Below the ephemeral range, so no `:0` bind in this binary can take it meanwhile.
        let port = ports::free_server_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server runs (scripts/test installs moto[server] with pip)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { endpoint, child }
    }

    fn config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(
                Credentials::new(KEY_ID, SECRET, None, None, "test"),
            ))
            .build()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A shipped runbook made runnable here: every key counts as exposed (the window starts in
/// the future of moto's clock), the restart command is harmless, the quiet period short.
fn runbook_copy(dir: &Path, name: &str) -> std::path::PathBuf {
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

fn breachbook(state: &Path, moto: &Moto) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_breachbook"));
    c.env("BREACHBOOK_STATE_DIR", state)
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", state.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            state.join("no-aws-credentials"),
        )
        .env("BREACHBOOK_USAGE_POLL_SECS", "1")
        .env("NO_COLOR", "1")
        .arg("--state-dir")
        .arg(state);
    let _ = moto;
    c
}

/// The runbook's two IAM users, each with one access key stored in `prod/iam/<user>`.
/// Returns (user, key id) pairs.
async fn seed_iam_users(
    iam: &aws_sdk_iam::Client,
    sm: &aws_sdk_secretsmanager::Client,
) -> Vec<(&'static str, String)> {
    let mut old_keys = Vec::new();
    for user in ["ci-deployer", "reporting-bot"] {
        iam.create_user().user_name(user).send().await.unwrap();
        let k = iam
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .unwrap();
        let k = k.access_key().unwrap();
        old_keys.push((user, k.access_key_id().to_string()));
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
    old_keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_iam_runbook_runs_live_against_moto_to_the_report() {
    let moto = Moto::start();
    let cfg = moto.config();
    let iam = aws_sdk_iam::Client::new(&cfg);
    let sm = aws_sdk_secretsmanager::Client::new(&cfg);
    // Two users of the runbook's scope, each with one key stored in its secret.
    let old_keys = seed_iam_users(&iam, &sm).await;
    let tmp = tempfile::tempdir().unwrap();
    let rb = runbook_copy(tmp.path(), "aws-iam-access-key-leak");
    let out = tokio::task::spawn_blocking({
        let state = tmp.path().to_path_buf();
        let endpoint = moto.endpoint.clone();
        let mut cmd = breachbook(&state, &moto);
        move || {
            cmd.arg("run")
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
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "run failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["complete"], true, "{stdout}");
    assert_eq!(summary["exposed"], 2, "{stdout}");
    assert_eq!(summary["revoked"], 2, "{stdout}");

    // At moto: each user has exactly one key left, a new one, and its secret's AWSCURRENT
    // (asked for explicitly: moto's gap) holds that new key.
    for (user, old) in &old_keys {
        let keys = iam
            .list_access_keys()
            .user_name(*user)
            .send()
            .await
            .unwrap();
        let ids: Vec<String> = keys
            .access_key_metadata()
            .iter()
            .filter_map(|k| k.access_key_id().map(str::to_string))
            .collect();
        assert_eq!(ids.len(), 1, "{user}: {ids:?}");
        assert_ne!(&ids[0], old, "{user}: the old key is still there");
        let current = sm
            .get_secret_value()
            .secret_id(format!("prod/iam/{user}"))
            .version_stage("AWSCURRENT")
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(current.secret_string().unwrap()).unwrap();
        assert_eq!(v["AccessKeyId"], ids[0].as_str(), "{user}");
        // The report's promotion time is the store's own LastChangedDate.
        let described = sm
            .describe_secret()
            .secret_id(format!("prod/iam/{user}"))
            .send()
            .await
            .unwrap();
        let changed = described.last_changed_date().unwrap();
        let report_path = summary["report"].as_str().unwrap();
        let report = std::fs::read_to_string(report_path).unwrap();
        let stamp = chrono::DateTime::from_timestamp(changed.secs(), 0)
            .unwrap()
            .format("%H:%M:%S")
            .to_string();
        assert!(
            report.contains(&stamp),
            "the report lacks moto's LastChangedDate {stamp} for {user}:\n{report}"
        );
    }
    // Nothing secret anywhere in the state folder.
    let mut all = String::new();
    for entry in walk(tmp.path()) {
        all.push_str(&std::fs::read_to_string(entry).unwrap_or_default());
    }
    assert!(!all.contains(SECRET));
    assert!(
        !all.contains("SecretAccessKey\":\""),
        "a key pair was written down"
    );
    let journal_has_typed = all.matches("\"confirmation_given\"").count();
    assert!(
        journal_has_typed >= 4,
        "2 revokes + 2 deletes, each confirmed"
    );
}

/// At IAM's two-key limit the run stops and asks; the (emulator-only) autopilot types the
/// inactive key's word, breachbook deletes that key, never the exposed one, and goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_two_key_limit_the_inactive_key_is_deleted_after_its_word() {
    let moto = Moto::start();
    let cfg = moto.config();
    let iam = aws_sdk_iam::Client::new(&cfg);
    let sm = aws_sdk_secretsmanager::Client::new(&cfg);
    let old_keys = seed_iam_users(&iam, &sm).await;
    let mut spare = String::new();
    // ci-deployer already holds a second, inactive key: no room for a new one.
    let extra = iam
        .create_access_key()
        .user_name("ci-deployer")
        .send()
        .await
        .unwrap();
    spare.push_str(extra.access_key().unwrap().access_key_id());
    iam.update_access_key()
        .user_name("ci-deployer")
        .access_key_id(&spare)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let rb = runbook_copy(tmp.path(), "aws-iam-access-key-leak");
    let out = tokio::task::spawn_blocking({
        let state = tmp.path().to_path_buf();
        let endpoint = moto.endpoint.clone();
        let mut cmd = breachbook(&state, &moto);
        move || {
            cmd.arg("run")
                .arg(&rb)
                .args(["--headless", "--autopilot", "--quiet-period", "1s"])
                .args(["--endpoint-url", &endpoint])
                .stdin(Stdio::null())
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "run failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("deleted the inactive key {spare} to make room")),
        "{stdout}"
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["complete"], true, "{stdout}");
    assert_eq!(summary["revoked"], 2, "{stdout}");
    for (user, old) in &old_keys {
        let keys = iam
            .list_access_keys()
            .user_name(*user)
            .send()
            .await
            .unwrap();
        let ids: Vec<String> = keys
            .access_key_metadata()
            .iter()
            .filter_map(|k| k.access_key_id().map(str::to_string))
            .collect();
        assert_eq!(ids.len(), 1, "{user}: {ids:?}");
        assert!(
            !ids.contains(old) && !ids.contains(&spare),
            "{user}: {ids:?}"
        );
    }
    // The deletion was confirmed with the spare key's own word, and journaled.
    let mut all = String::new();
    for entry in walk(tmp.path()) {
        all.push_str(&std::fs::read_to_string(entry).unwrap_or_default());
    }
    assert!(
        all.contains("\"room_needed\""),
        "no room_needed in the journal"
    );
    assert!(
        all.contains("\"action\":\"delete inactive key\""),
        "the make-room confirmation is not journaled"
    );
    assert!(!all.contains(SECRET));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
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

#[test]
fn the_autopilot_refuses_a_real_account() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .env("BREACHBOOK_STATE_DIR", tmp.path())
        .env_remove("AWS_ENDPOINT_URL")
        .args([
            "run",
            "aws-iam-access-key-leak",
            "--headless",
            "--autopilot",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only runs against emulators"), "{err}");
    // Nothing was started: no incident folder.
    assert!(!tmp.path().join("incidents").exists());
}

#[test]
fn a_live_script_must_type_its_words() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("s.yaml");
    std::fs::write(&script, "- revoke:\n    credential: ci-deployer\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .env("BREACHBOOK_STATE_DIR", tmp.path())
        .args(["run", "aws-iam-access-key-leak", "--headless", "--script"])
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs the confirmation word typed out"),
        "{err}"
    );
}

#[test]
fn iam_policy_prints_valid_json_without_wildcard_actions() {
    let out = Command::new(env!("CARGO_BIN_EXE_breachbook"))
        .args([
            "iam-policy",
            "aws-iam-access-key-leak",
            "--account",
            "123456789012",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Version"], "2012-10-17");
    let text = v.to_string();
    assert!(text.contains("iam:UpdateAccessKey"), "{text}");
    assert!(text.contains("123456789012"), "{text}");
    for st in v["Statement"].as_array().unwrap() {
        for a in st["Action"].as_array().unwrap() {
            assert!(!a.as_str().unwrap().contains('*'), "{a}");
        }
    }
}
