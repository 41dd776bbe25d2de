//! The world the live store tests share: a key kept in an SSM `SecureString` parameter in
//! moto, its OpenAI record (a service account's key) in the OpenAI fake, and breachbook run
//! against both with nothing of the machine's own AWS set-up. Used by tests that also
//! include `support/fake_ai.rs` and `support/moto.rs` (as `fake_ai` and `moto`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_ssm::types::ParameterType;

use super::fake_ai::{AdminKeys, FakeAi};
use super::moto::{self, Moto};

pub const REGION: &str = "us-east-1";
pub const PROJECT: &str = "proj_ProdEXAMPLE01";
/// The parameter every test keeps its key in.
pub const PARAMETER: &str = "/prod/ai/OPENAI_API_KEY";

/// Puts `value` in a new `SecureString` parameter `name`.
pub async fn put_secure(c: &aws_sdk_ssm::Client, name: &str, value: &str) {
    c.put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
}

/// The value `name` holds now (decrypted).
pub async fn value_of(c: &aws_sdk_ssm::Client, name: &str) -> String {
    c.get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .unwrap()
        .parameter
        .unwrap()
        .value
        .unwrap()
}

/// The OpenAI fake (test admin keys) holding `value` as key `key_id` of service account
/// `sa` in [`PROJECT`].
pub async fn openai_with(sa: &str, key_id: &str, value: &str) -> FakeAi {
    let fake = FakeAi::start(AdminKeys {
        openai: "sk-admin-test-openai-FAKE000000000000000001".into(),
        anthropic: "sk-ant-admin-test-FAKE0000000000000000002".into(),
        braintrust: "sk-test-braintrust-admin-FAKE00000000003".into(),
        braintrust_org: "example".into(),
    })
    .await;
    {
        let mut f = fake.state();
        f.openai_project(PROJECT, "Production");
        f.openai_service_account(PROJECT, sa, "chat-api-svc", "member");
        f.openai_key(PROJECT, key_id, "chat-api", value, Some(sa));
    }
    fake
}

/// breachbook with state in `state`, the fake AWS keys moto takes and no profile, config
/// or credentials file of the machine's (`dir` holds the missing files' names), usage
/// polled every second, the OpenAI fake's variables, and no terminal. Arguments (moto's
/// `--endpoint-url` among them) and further variables are the caller's.
pub fn breachbook(dir: &Path, state: &Path, fake: &FakeAi) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_breachbook"));
    for name in [
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_SESSION_TOKEN",
        "GH_TOKEN",
    ] {
        cmd.env_remove(name);
    }
    cmd.env("BREACHBOOK_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", moto::FAKE_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", moto::FAKE_SECRET_ACCESS_KEY)
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env("BREACHBOOK_USAGE_POLL_SECS", "1")
        .envs(fake.env())
        .arg("--state-dir")
        .arg(state)
        .stdin(std::process::Stdio::null());
    cmd
}

/// `run RUNBOOK --headless --autopilot --quiet-period 2s` against moto.
pub fn run_headless(cmd: &mut Command, rb: &Path, moto: &Moto) -> std::process::Output {
    cmd.arg("run")
        .arg(rb)
        .args(["--headless", "--autopilot", "--quiet-period", "2s"])
        .args(["--endpoint-url", &moto.endpoint])
        .output()
        .unwrap()
}

/// Every file under `dir`, read as text and put together: for "no key value was written".
pub fn written(dir: &Path) -> String {
    let mut out = String::new();
    for f in files(dir) {
        out.push_str(&String::from_utf8_lossy(&std::fs::read(f).unwrap()));
    }
    out
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    out
}
