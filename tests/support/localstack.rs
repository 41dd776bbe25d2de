//! One LocalStack per test binary, started on first use on a free port of 127.0.0.1 and
//! ended with its whole process group when the binary exits; raw SDK clients for seeding
//! and checking, each test in an AWS account of its own.
//!
//! LocalStack is the second AWS emulator, for where moto is kinder than AWS (Secrets
//! Manager version labels). Its startup is slow next to moto's, so a test binary shares one
//! instance ([`LocalStack::shared`]); tests stay apart through [`LocalStack::account`]:
//! LocalStack takes a 12-digit access key id as the account id, so every test gets a fresh,
//! empty account (and a name prefix on top, for readable logs).
//!
//! `scripts/test` installs it: a Python 3.13 venv under
//! `${XDG_CACHE_HOME:-$HOME/.cache}/breachbook-test/localstack/venv` with
//! `localstack-core[runtime]==2026.3.0` (and pins that keep its runtime importable).
//! `BREACHBOOK_LOCALSTACK_PYTHON` overrides the interpreter. It runs as
//! `python -m localstack.runtime.main` (no Docker) with only the services the tests use,
//! no DNS server, no certificate download and no analytics, so it needs no network.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "ports.rs"]
#[allow(clippy::duplicate_mod)] // several support modules share it; each keeps its own copy
mod ports;

#[path = "process_group.rs"]
mod process_group;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use process_group::GroupChild;

/// The services started: what breachbook talks to, plus S3 for shared incidents.
pub const SERVICES: &str = "secretsmanager,iam,sts,s3";

/// How long a start may take before the test fails (a loaded 2-core CI machine is slow).
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// Fake secret key: LocalStack checks no signature.
pub const FAKE_SECRET_ACCESS_KEY: &str = "fake-secret-access-key-for-localstack-only";

/// A running LocalStack.
pub struct LocalStack {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// From spawn to the first healthy answer of `/_localstack/health`.
    pub startup: Duration,
    /// LocalStack's version, as its health endpoint says.
    pub version: String,
    process: GroupChild,
}

/// The shared instance of this test binary.
static SHARED: OnceLock<LocalStack> = OnceLock::new();

/// Accounts handed out by this test binary.
static ACCOUNTS: AtomicU64 = AtomicU64::new(0);

/// One test's own AWS account in LocalStack: fresh and empty, plus a name prefix.
pub struct Account {
    /// 12 digits; also the access key id.
    pub id: String,
    /// `bb-<test>-<n>-`: prefix every name with it.
    pub prefix: String,
    endpoint: String,
}

impl LocalStack {
    /// The binary's shared LocalStack, started on first use; ended when the binary exits.
    pub fn shared() -> &'static LocalStack {
        SHARED.get_or_init(|| LocalStack::start_with(true))
    }

    /// A LocalStack of its own (ended on drop). Prefer [`LocalStack::shared`].
    pub fn start() -> LocalStack {
        LocalStack::start_with(false)
    }

    fn start_with(shared: bool) -> LocalStack {
        let python = python();
        if !python.exists() {
            panic!(
                "LocalStack is not installed at {}: the emulator tests need it. Run scripts/test \
                 (it makes a Python 3.13 venv there with pip install 'localstack-core[runtime]==2026.3.0' \
                 'cbor2<5.7' 'pyopenssl<24.3' 'cryptography>=43,<44' 'service_identity<24.2'), \
                 or point BREACHBOOK_LOCALSTACK_PYTHON at a Python that has it",
                python.display()
            );
        }
        let mut last = String::new();
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("breachbook-localstack-")
                .tempdir()
                .expect("a temporary folder for LocalStack");
            // A static is never dropped: the supervisor removes the folder instead.
            let dir = dir.keep();
            for sub in ["volume", "tmp"] {
                std::fs::create_dir_all(dir.join(sub)).expect("LocalStack folders");
            }
            let port = free_port();
            let envs = [
                ("GATEWAY_LISTEN", format!("127.0.0.1:{port}")),
                ("SERVICES", SERVICES.to_string()),
                ("DISABLE_EVENTS", "1".to_string()),
                ("SKIP_SSL_CERT_DOWNLOAD", "1".to_string()),
                ("DNS_ADDRESS", "0".to_string()),
                (
                    "LOCALSTACK_VOLUME_DIR",
                    dir.join("volume").display().to_string(),
                ),
                ("TMPDIR", dir.join("tmp").display().to_string()),
            ];
            let began = Instant::now();
            let mut process = GroupChild::spawn(
                &python,
                &["-m", "localstack.runtime.main"],
                &envs,
                &dir.join("localstack.log"),
                Some(&dir),
            )
            .unwrap_or_else(|e| panic!("could not start {}: {e}", python.display()));
            let deadline = began + START_TIMEOUT;
            loop {
                if let Some(version) = healthy(port) {
                    let startup = began.elapsed();
                    eprintln!(
                        "LocalStack {version} on port {port} answered after {:.1} s{}",
                        startup.as_secs_f64(),
                        if shared {
                            " (shared by this test binary)"
                        } else {
                            ""
                        }
                    );
                    return LocalStack {
                        endpoint: format!("http://127.0.0.1:{port}"),
                        startup,
                        version,
                        process,
                    };
                }
                if !process.is_running() {
                    // Most likely the port was taken in between: try another.
                    last = format!(
                        "LocalStack exited on port {port}:\n{}",
                        process.log_tail(30)
                    );
                    let _ = std::fs::remove_dir_all(&dir);
                    break;
                }
                let tail = process.log_tail(30);
                if tail.contains("Address already in use") {
                    // The port was taken in between (by a server of another test binary) and
                    // LocalStack goes on without its gateway: try another.
                    last = format!("LocalStack could not listen on port {port}:\n{tail}");
                    process.stop();
                    let _ = std::fs::remove_dir_all(&dir);
                    break;
                }
                if Instant::now() > deadline {
                    process.stop();
                    let _ = std::fs::remove_dir_all(&dir);
                    panic!(
                        "LocalStack did not answer on port {port} within {} s:\n{tail}",
                        START_TIMEOUT.as_secs()
                    );
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        panic!("could not start LocalStack: {last}");
    }

    /// A fresh, empty AWS account for one test (`test` names it in the prefix).
    pub fn account(&self, test: &str) -> Account {
        let n = ACCOUNTS.fetch_add(1, Ordering::Relaxed) + 1;
        // The process id keeps two test binaries that share nothing from mixing up names
        // in logs; the account number itself is what isolates.
        let id = format!("{:06}{:06}", std::process::id() % 1_000_000, n);
        Account {
            prefix: format!("bb-{test}-{n}-"),
            id,
            endpoint: self.endpoint.clone(),
        }
    }
}

impl Account {
    fn credentials(&self) -> Credentials {
        Credentials::new(
            &self.id,
            FAKE_SECRET_ACCESS_KEY,
            None,
            None,
            "localstack-test",
        )
    }

    /// A raw Secrets Manager client in this account.
    pub fn sm_client(&self, region: &str) -> aws_sdk_secretsmanager::Client {
        let conf = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(self.credentials())
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_secretsmanager::Client::from_conf(conf)
    }

    /// A raw IAM client in this account.
    pub fn iam_client(&self) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(self.credentials())
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }

    /// A raw STS client in this account.
    pub fn sts_client(&self) -> aws_sdk_sts::Client {
        let conf = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(self.credentials())
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_sts::Client::from_conf(conf)
    }
}

/// The interpreter that has LocalStack: `BREACHBOOK_LOCALSTACK_PYTHON`, else the venv
/// `scripts/test` makes.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("BREACHBOOK_LOCALSTACK_PYTHON") {
        return PathBuf::from(p);
    }
    cache_dir().join("localstack/venv/bin/python")
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/breachbook-test`, where `scripts/test` keeps installs.
fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("breachbook-test")
}

/// A free port below the kernel's ephemeral range (see `ports.rs` for why).
fn free_port() -> u16 {
    ports::free_server_port()
}

/// LocalStack's version when `/_localstack/health` answers 200 with every service of
/// [`SERVICES`] available or running.
fn healthy(port: u16) -> Option<String> {
    let mut s = TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(500),
    )
    .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /_localstack/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    let health: serde_json::Value = serde_json::from_str(body).ok()?;
    let ready = SERVICES.split(',').all(|svc| {
        matches!(
            health["services"][svc].as_str(),
            Some("available") | Some("running")
        )
    });
    ready.then(|| health["version"].as_str().unwrap_or("?").to_string())
}
