//! One AWS emulator for a test, moto or LocalStack, behind one face: its endpoint, the
//! credentials that reach it (a test's own moto_server; a fresh LocalStack account on the
//! binary's shared LocalStack), raw SDK clients for seeding and checking, and the environment
//! the real binary runs in against it.
//!
//! Tests that must hold on both are written once and run on each: moto is kinder than AWS
//! in places (tests/emulators.rs pins where), LocalStack behaves like AWS where breachbook
//! depends on it (one `AWSPENDING` per secret). A test that uses this declares `mod moto;`
//! and `mod localstack;` (tests/support/) at its root, next to `mod emulator;`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};

use crate::localstack::LocalStack;
use crate::moto::{self, Moto};

/// Which emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Moto,
    LocalStack,
}

/// A running emulator and the credentials of this test's account there.
pub struct Emulator {
    pub kind: Kind,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Kept alive for the test (moto is one process per test).
    _moto: Option<Moto>,
}

impl Emulator {
    /// A moto_server of this test's own.
    pub fn moto() -> Emulator {
        let m = Moto::start();
        Emulator {
            kind: Kind::Moto,
            endpoint: m.endpoint.clone(),
            access_key_id: moto::FAKE_ACCESS_KEY_ID.to_string(),
            secret_access_key: moto::FAKE_SECRET_ACCESS_KEY.to_string(),
            _moto: Some(m),
        }
    }

    /// A fresh, empty account on the test binary's shared LocalStack.
    pub fn localstack(test: &str) -> Emulator {
        let ls = LocalStack::shared();
        let account = ls.account(test);
        Emulator {
            kind: Kind::LocalStack,
            endpoint: ls.endpoint.clone(),
            access_key_id: account.id.clone(),
            secret_access_key: crate::localstack::FAKE_SECRET_ACCESS_KEY.to_string(),
            _moto: None,
        }
    }

    /// Both, one after the other (LocalStack's start is shared by the test binary).
    pub fn name(&self) -> &'static str {
        match self.kind {
            Kind::Moto => "moto",
            Kind::LocalStack => "LocalStack",
        }
    }

    fn credentials(&self) -> Credentials {
        Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            None,
            None,
            "emulator-test",
        )
    }

    /// A raw Secrets Manager client, to `endpoint` (the emulator's, or a proxy in front).
    pub fn sm_via(&self, endpoint: &str, region: &str) -> aws_sdk_secretsmanager::Client {
        let conf = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .credentials_provider(self.credentials())
            .endpoint_url(endpoint)
            .build();
        aws_sdk_secretsmanager::Client::from_conf(conf)
    }

    /// A raw Secrets Manager client in `region`.
    pub fn sm(&self, region: &str) -> aws_sdk_secretsmanager::Client {
        self.sm_via(&self.endpoint, region)
    }

    /// A raw IAM client.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(self.credentials())
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }

    /// breachbook's AWS options for this emulator (its API, not the binary).
    pub fn options(&self, region: &str) -> breachbook::providers::aws::AwsOptions {
        breachbook::providers::aws::AwsOptions {
            profile: None,
            region: Some(region.to_string()),
            endpoint_url: Some(self.endpoint.clone()),
            static_credentials: Some((self.access_key_id.clone(), self.secret_access_key.clone())),
        }
    }

    /// The environment the real binary runs in against this emulator: its credentials, no
    /// AWS config files, usage polled every second.
    pub fn env(&self, state: &Path) -> Vec<(String, String)> {
        let path = |name: &str| state.join(name).display().to_string();
        vec![
            ("AWS_ACCESS_KEY_ID".into(), self.access_key_id.clone()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                self.secret_access_key.clone(),
            ),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_CONFIG_FILE".into(), path("no-aws-config")),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                path("no-aws-credentials"),
            ),
            ("BREACHBOOK_USAGE_POLL_SECS".into(), "1".into()),
            ("NO_COLOR".into(), "1".into()),
        ]
    }
}

/// Variables of the test's own environment that could point breachbook somewhere real.
pub const UNSET: [&str; 9] = [
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_IAM",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_CLOUDTRAIL",
];
