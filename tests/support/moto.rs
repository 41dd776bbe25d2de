//! A `moto_server` per test: started on a free port of 127.0.0.1, killed on drop, plus raw
//! SDK clients (fake static credentials) for seeding and checking what breachbook did.
//!
//! `scripts/test` installs `moto[server]` with pip; `moto_server` must be on PATH.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "ports.rs"]
#[allow(clippy::duplicate_mod)] // several support modules share it; each keeps its own copy
mod ports;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use breachbook::providers::aws::{Aws, AwsOptions};

/// Obviously fake credentials: moto accepts anything.
pub const FAKE_ACCESS_KEY_ID: &str = "AKIAEXAMPLEFAKE00001";
/// Obviously fake secret access key.
pub const FAKE_SECRET_ACCESS_KEY: &str = "fake-secret-access-key-for-moto-only";

/// Serializes "pick a port, start, wait until it answers" inside one test binary, so two
/// tests never race for one port.
static STARTING: Mutex<()> = Mutex::new(());

/// A running `moto_server`.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// Starts `moto_server` on a free port and waits (up to 30 s) until it answers HTTP.
    pub fn start() -> Moto {
        let _guard = STARTING.lock().unwrap_or_else(|p| p.into_inner());
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut child = match Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                    "moto_server is not on PATH: the AWS tests need it (scripts/test installs moto[server] with pip: python3 -m pip install 'moto[server]>=5,<6')"
                ),
                Err(e) => panic!("could not start moto_server: {e}"),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    // Most likely the port was taken in between: try another.
                    last = format!("moto_server exited ({status}) on port {port}");
                    break;
                }
                if answers(port) {
                    // Still ours (not another server that took the port)?
                    std::thread::sleep(Duration::from_millis(50));
                    if let Ok(None) = child.try_wait() {
                        return Moto {
                            endpoint: format!("http://127.0.0.1:{port}"),
                            child,
                        };
                    }
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("moto_server did not answer on port {port} within 30 s");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("could not start moto_server: {last}");
    }

    /// Options that point breachbook at this server with fake static credentials.
    pub fn options(&self, region: &str) -> AwsOptions {
        AwsOptions {
            profile: None,
            region: Some(region.to_string()),
            endpoint_url: Some(self.endpoint.clone()),
            static_credentials: Some((
                FAKE_ACCESS_KEY_ID.to_string(),
                FAKE_SECRET_ACCESS_KEY.to_string(),
            )),
        }
    }

    /// breachbook's AWS configuration for `regions` (default region: the first).
    pub async fn aws(&self, regions: &[&str]) -> Aws {
        let regions: Vec<String> = regions.iter().map(|r| r.to_string()).collect();
        Aws::load(&self.options(&regions[0]), &regions)
            .await
            .expect("loading the AWS config for moto")
    }

    /// A raw Secrets Manager client for seeding and checking.
    pub async fn sm_client(&self, region: &str) -> aws_sdk_secretsmanager::Client {
        let conf = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(fake_credentials())
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_secretsmanager::Client::from_conf(conf)
    }

    /// A raw SSM client for seeding and checking.
    pub fn ssm_client(&self, region: &str) -> aws_sdk_ssm::Client {
        let conf = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(fake_credentials())
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_ssm::Client::from_conf(conf)
    }

    /// A raw IAM client for seeding and checking.
    pub async fn iam_client(&self) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(fake_credentials())
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fake_credentials() -> Credentials {
    Credentials::new(
        FAKE_ACCESS_KEY_ID,
        FAKE_SECRET_ACCESS_KEY,
        None,
        None,
        "moto-test",
    )
}

/// A free port below the kernel's ephemeral range (see `ports.rs` for why).
fn free_port() -> u16 {
    ports::free_server_port()
}

/// Whether an HTTP server answers on the port.
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).is_ok() && &buf == b"HTTP/"
}
