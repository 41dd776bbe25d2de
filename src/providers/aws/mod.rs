//! AWS providers: the Secrets Manager inventory and store ([`secrets`]), IAM access keys
//! ([`iam`]) and CloudTrail usage ([`cloudtrail`]).
//!
//! [`Aws`] loads one SDK configuration per region with the standard credential chain (or
//! static credentials for emulators), bounded retries and timeouts. Every SDK error goes
//! through [`map_sdk_error`], which keeps the AWS error code and message (never a secret
//! value) and sorts it into a [`ProviderError`] the engine knows how to retry or show;
//! [`policy`] writes the least-privilege IAM policy a runbook needs.
//!
//! May depend on the incident ports and model and the runbook schema only; [`AwsOptions`]
//! is what the command line's flags become (launch builds it).

pub mod cloudtrail;
pub mod creators;
pub mod iam;
pub mod policy;
mod retry_watch;
pub mod secrets;
pub mod ssm;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::Credentials;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};

use crate::incident::ports::{ProviderError, ProviderResult};

/// Provider name of Secrets Manager in errors.
pub(crate) const SECRETS_MANAGER: &str = "AWS Secrets Manager";
/// Provider name of IAM in errors.
pub(crate) const IAM: &str = "AWS IAM";
/// Provider name of STS in errors.
pub(crate) const STS: &str = "AWS STS";
/// Provider name of CloudTrail in errors.
pub(crate) const CLOUDTRAIL: &str = "AWS CloudTrail";
/// Provider name of SSM Parameter Store in errors.
pub(crate) const SSM: &str = "AWS SSM Parameter Store";

/// Connect timeout of every AWS call.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-operation timeout (all attempts) of every AWS call.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Timeout of one attempt of an AWS call: an answer that has not come by then is given up
/// on and the call tried again (by the SDK's retry, within [`OPERATION_TIMEOUT`]).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Overrides the attempt timeout (10 s), in milliseconds (tests against emulators use it to make
/// "slower than the timeout" quick).
pub const ATTEMPT_TIMEOUT_VAR: &str = "BREACHBOOK_AWS_ATTEMPT_TIMEOUT_MS";

/// The attempt timeout: [`ATTEMPT_TIMEOUT_VAR`] when it holds a number of milliseconds
/// (at least 1), else 10 s.
fn attempt_timeout() -> Duration {
    std::env::var(ATTEMPT_TIMEOUT_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .unwrap_or(ATTEMPT_TIMEOUT)
}
/// Attempts per AWS call (the first one included), with the SDK's exponential backoff.
const MAX_ATTEMPTS: u32 = 3;

/// How to reach AWS: the operator's choices from the command line.
#[derive(Clone, Default)]
pub struct AwsOptions {
    /// Named profile of the shared config files (`--profile`); the chain's default otherwise.
    pub profile: Option<String>,
    /// Default region (`--region`); overrides the chain's region. Scope regions still decide
    /// where secrets are listed.
    pub region: Option<String>,
    /// One endpoint for every service (`--endpoint-url`), e.g. an emulator; it wins over
    /// everything else. Without it the SDK finds its own: `AWS_ENDPOINT_URL_<SERVICE>` (e.g.
    /// `AWS_ENDPOINT_URL_CLOUDTRAIL`), then `AWS_ENDPOINT_URL`, then the profile's.
    pub endpoint_url: Option<String>,
    /// Static access key id and secret access key, **for emulators and tests only**. When
    /// `None` (always, in the product) the standard credential chain is used.
    pub static_credentials: Option<(String, String)>,
}

impl std::fmt::Debug for AwsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsOptions")
            .field("profile", &self.profile)
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field(
                "static_credentials",
                &self.static_credentials.as_ref().map(|(id, _)| id),
            )
            .finish()
    }
}

/// Loaded AWS configuration: one [`SdkConfig`] per region, sharing credentials.
#[derive(Clone, Debug)]
pub struct Aws {
    default_region: String,
    configs: BTreeMap<String, SdkConfig>,
    /// The account the credentials belong to, once known (see [`Aws::with_account`]).
    account: Option<String>,
}

impl Aws {
    /// Loads the configuration for `regions` (the runbook scope's regions) plus the default
    /// region: `opts.region`, else the chain's region (`AWS_REGION`, profile), else the first
    /// of `regions`. Uses the standard credential chain (environment, profile, SSO, web
    /// identity, container and instance roles) unless `opts.static_credentials` is set,
    /// standard retries (3 attempts with exponential backoff) and timeouts (connect 5 s,
    /// each attempt 10 s, the operation 30 s). Nothing is called yet: credential problems
    /// surface on the first call, e.g. [`Aws::identity`].
    pub async fn load(opts: &AwsOptions, regions: &[String]) -> ProviderResult<Aws> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(attempt_timeout())
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            );
        if let Some(profile) = &opts.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &opts.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &opts.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some((id, secret)) = &opts.static_credentials {
            loader = loader.credentials_provider(Credentials::new(
                id.clone(),
                secret.clone(),
                None,
                None,
                "breachbook-static",
            ));
        }
        let base = loader.load().await;
        let default_region = match base.region() {
            Some(r) => r.to_string(),
            None => regions
                .first()
                .cloned()
                .ok_or_else(|| ProviderError::Validation {
                    provider: "AWS".into(),
                    message: "no AWS region: pass --region, set AWS_REGION, or list regions in the runbook scope".into(),
                })?,
        };
        let mut configs = BTreeMap::new();
        for region in regions.iter().chain(std::iter::once(&default_region)) {
            configs
                .entry(region.clone())
                .or_insert_with(|| config_for(&base, region));
        }
        Ok(Aws {
            default_region,
            configs,
            account: None,
        })
    }

    /// The same configuration, knowing the account its credentials belong to (from
    /// [`Aws::identity`], see [`account_of`]): the inventories put it in every location.
    pub fn with_account(mut self, account: Option<String>) -> Aws {
        self.account = account;
        self
    }

    /// The account the credentials belong to, when known.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// The default region (used for IAM, STS and locations without a region).
    pub fn default_region(&self) -> &str {
        &self.default_region
    }

    /// Every region this configuration was loaded for, default included, sorted.
    pub fn regions(&self) -> Vec<String> {
        self.configs.keys().cloned().collect()
    }

    /// The SDK configuration for `region` (the default region when `None`). A region not
    /// loaded up front gets the default's settings with its own region.
    pub fn config(&self, region: Option<&str>) -> SdkConfig {
        let region = region.unwrap_or(&self.default_region);
        match self.configs.get(region) {
            Some(c) => c.clone(),
            None => match self.configs.get(&self.default_region) {
                Some(base) => config_for(base, region),
                // `load` always inserts the default region.
                None => SdkConfig::builder()
                    .region(Region::new(region.to_string()))
                    .behavior_version(BehaviorVersion::latest())
                    .build(),
            },
        }
    }

    /// A Secrets Manager client for `region` (the default when `None`), its retries
    /// reported to the engine (see `retry_watch`).
    pub fn secrets_manager(&self, region: Option<&str>) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(self.secrets_manager_conf(region).build())
    }

    /// The configuration of [`Aws::secrets_manager`], to change before building.
    pub fn secrets_manager_conf(
        &self,
        region: Option<&str>,
    ) -> aws_sdk_secretsmanager::config::Builder {
        aws_sdk_secretsmanager::config::Builder::from(&self.config(region))
            .interceptor(retry_watch::RetryWatch)
    }

    /// An SSM client for `region` (the default when `None`), its retries reported.
    pub fn ssm(&self, region: Option<&str>) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&self.config(region))
                .interceptor(retry_watch::RetryWatch)
                .build(),
        )
    }

    /// An IAM client (IAM is global: the default region), its retries reported.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::from_conf(self.iam_conf().build())
    }

    /// The configuration of [`Aws::iam`], to change before building.
    pub fn iam_conf(&self) -> aws_sdk_iam::config::Builder {
        aws_sdk_iam::config::Builder::from(&self.config(None)).interceptor(retry_watch::RetryWatch)
    }

    /// The configuration of an STS client (default region), its retries reported.
    pub fn sts_conf(&self) -> aws_sdk_sts::config::Builder {
        aws_sdk_sts::config::Builder::from(&self.config(None)).interceptor(retry_watch::RetryWatch)
    }

    /// The configuration of a CloudTrail client for `region`, its retries reported.
    pub fn cloudtrail_conf(&self, region: Option<&str>) -> aws_sdk_cloudtrail::config::Builder {
        aws_sdk_cloudtrail::config::Builder::from(&self.config(region))
            .interceptor(retry_watch::RetryWatch)
    }

    /// The caller's identity: the ARN from STS GetCallerIdentity.
    pub async fn identity(&self) -> ProviderResult<String> {
        let client = aws_sdk_sts::Client::from_conf(self.sts_conf().build());
        let out = client
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| map_sdk_error(STS, "GetCallerIdentity", e))?;
        out.arn()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::Server {
                provider: STS.into(),
                status: 200,
                message: "GetCallerIdentity answered without an ARN".into(),
            })
    }
}

/// The endpoint the SDK sends `service`'s calls to (its service id in upper case, spaces as
/// `_`: `SECRETS_MANAGER`, `IAM`, `STS`, `CLOUDTRAIL`): `--endpoint-url` when given, else
/// `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL` (aws-runtime `env_config.rs`; a
/// programmatic endpoint wins over the environment, aws-types `origin.rs`). `None`: AWS's own.
pub fn endpoint_for(opts: &AwsOptions, service: &str) -> Option<String> {
    let env = |name: String| std::env::var(name).ok().filter(|v| !v.is_empty());
    opts.endpoint_url
        .clone()
        .or_else(|| env(format!("AWS_ENDPOINT_URL_{service}")))
        .or_else(|| env("AWS_ENDPOINT_URL".to_string()))
}

/// The account id in an ARN (`arn:aws:sts::123456789012:assumed-role/…` → `123456789012`).
pub fn account_of(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(4)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
}

/// `base` with another region.
fn config_for(base: &SdkConfig, region: &str) -> SdkConfig {
    base.to_builder()
        .region(Region::new(region.to_string()))
        .build()
}

/// The SDK's timestamp type (one type, re-exported by every service crate).
pub(crate) type AwsDateTime = aws_sdk_sts::primitives::DateTime;

/// Converts an SDK timestamp to chrono (`None` if out of chrono's range).
pub(crate) fn to_chrono(t: &AwsDateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())
}

/// Converts a chrono timestamp to the SDK's.
pub(crate) fn from_chrono(t: DateTime<Utc>) -> AwsDateTime {
    AwsDateTime::from_secs_and_nanos(t.timestamp(), t.timestamp_subsec_nanos())
}

/// Error codes meaning "slow down".
pub(crate) const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    // SSM: "There are concurrent updates for a resource that supports one update at a time."
    "TooManyUpdates",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "BandwidthLimitExceeded",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
];

/// Error codes meaning "these credentials may not do this".
const AUTH_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "AuthFailure",
    "UnauthorizedOperation",
    "InvalidAccessKeyId",
    "NotAuthorized",
];

/// Error codes meaning "these credentials work, but may not do this".
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "NotAuthorized",
];

/// The IAM action an AWS AccessDenied message names: `… is not authorized to perform:
/// secretsmanager:GetSecretValue on resource: … because …` (the `on resource:` part and the
/// reason are optional).
fn denied_action(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("not authorized to perform")?;
    let rest = rest.trim_start_matches(':').trim_start();
    let action: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-' || *c == '*')
        .collect();
    action.contains(':').then_some(action)
}

/// The IAM action prefix of a provider's operations.
fn action_prefix(provider: &str) -> &'static str {
    match provider {
        SECRETS_MANAGER => "secretsmanager",
        IAM => "iam",
        STS => "sts",
        CLOUDTRAIL => "cloudtrail",
        SSM => "ssm",
        _ => "aws",
    }
}

/// Error codes meaning "no such thing".
const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NoSuchEntityException",
    "NotFound",
    "NotFoundException",
    // SSM: no such parameter, or no such version or label of it.
    "ParameterNotFound",
    "ParameterVersionNotFound",
];

/// Error codes meaning "a quota is full".
const LIMIT_CODES: &[&str] = &[
    "LimitExceeded",
    "LimitExceededException",
    "ServiceQuotaExceededException",
    // SSM: 100 versions kept and the oldest has a label; 10 labels on a version.
    "ParameterMaxVersionLimitExceeded",
    "ParameterVersionLabelLimitExceeded",
];

/// Whether an AWS error code is an authentication or authorization failure.
pub(crate) fn is_auth_code(code: &str) -> bool {
    AUTH_CODES.contains(&code)
}

/// Maps an SDK error of operation `op` at `provider` (e.g. `"AWS IAM"`) to a
/// [`ProviderError`], keeping the AWS error code and message.
///
/// Throttling codes (and HTTP 429) → `Throttled`; other 5xx → `Server`; timeouts →
/// `Timeout`; connection failures → `Network`; AccessDenied, UnrecognizedClient,
/// InvalidClientTokenId, ExpiredToken and kin (and 401/403) → `Auth`; ResourceNotFound,
/// NoSuchEntity (and 404) → `NotFound`; LimitExceeded → `LimitExceeded`; other 4xx →
/// `Validation`. A failure to find credentials at all is `Auth`.
pub fn map_sdk_error<E, R>(provider: &str, op: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HasStatus,
{
    match &err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status_code();
            let e = ctx.err();
            classify(provider, op, e.code(), e.message(), status)
        }
        SdkError::TimeoutError(_) => ProviderError::Timeout {
            provider: provider.into(),
        },
        SdkError::DispatchFailure(d) if d.is_timeout() => ProviderError::Timeout {
            provider: provider.into(),
        },
        SdkError::DispatchFailure(d) if d.is_io() => ProviderError::Network {
            provider: provider.into(),
            message: format!("{op}: {}", concise(&DisplayErrorContext(&err).to_string())),
        },
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
            let text = concise(&DisplayErrorContext(&err).to_string());
            if text.to_ascii_lowercase().contains("credential") {
                ProviderError::Auth {
                    provider: provider.into(),
                    message: format!("{op}: no usable AWS credentials: {text}"),
                }
            } else if matches!(err, SdkError::ConstructionFailure(_)) {
                ProviderError::Validation {
                    provider: provider.into(),
                    message: format!("{op}: {text}"),
                }
            } else {
                ProviderError::Network {
                    provider: provider.into(),
                    message: format!("{op}: {text}"),
                }
            }
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status_code();
            ProviderError::Server {
                provider: provider.into(),
                status,
                message: format!(
                    "{op}: unreadable response: {}",
                    concise(&DisplayErrorContext(&err).to_string())
                ),
            }
        }
        _ => ProviderError::Network {
            provider: provider.into(),
            message: format!("{op}: {}", concise(&DisplayErrorContext(&err).to_string())),
        },
    }
}

/// The SDK's error chain without the Debug dump of its internals (raw responses, headers)
/// that follows it in parentheses, and at most 300 characters: a person reads this.
fn concise(text: &str) -> String {
    let cut = [
        " (DispatchFailure(",
        " (ConstructionFailure(",
        " (ResponseError(",
        " (ServiceError(",
        " (TimeoutError(",
    ]
    .iter()
    .filter_map(|m| text.find(m))
    .min()
    .unwrap_or(text.len());
    let head = text[..cut].trim();
    if head.chars().count() > 300 {
        let mut t: String = head.chars().take(299).collect();
        t.push('…');
        t
    } else {
        head.to_string()
    }
}

/// The HTTP status of a raw response (implemented for the SDK's `HttpResponse`).
pub trait HasStatus {
    /// The status code, e.g. 400.
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_sts::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Sorts a service error by code (first) and HTTP status.
pub(crate) fn classify(
    provider: &str,
    op: &str,
    code: Option<&str>,
    message: Option<&str>,
    status: u16,
) -> ProviderError {
    let code_s = code.unwrap_or("");
    let text = match (code, message) {
        (Some(c), Some(m)) if !m.is_empty() => format!("{op}: {c}: {m}"),
        (Some(c), _) => format!("{op}: {c}"),
        (None, Some(m)) if !m.is_empty() => format!("{op}: HTTP {status}: {m}"),
        (None, _) => format!("{op}: HTTP {status}"),
    };
    let provider = provider.to_string();
    if THROTTLING_CODES.contains(&code_s) || status == 429 {
        ProviderError::Throttled {
            provider,
            message: text,
            retry_after: None,
        }
    } else if DENIED_CODES.contains(&code_s) {
        // The credentials work; the role may not do this. Name the action and the fix.
        let action = denied_action(message.unwrap_or(""))
            .unwrap_or_else(|| format!("{}:{op}", action_prefix(&provider)));
        ProviderError::Auth {
            provider,
            message: format!(
                "{text} — the role needs {action}: `breachbook iam-policy RUNBOOK` prints the policy this runbook needs"
            ),
        }
    } else if AUTH_CODES.contains(&code_s) {
        ProviderError::Auth {
            provider,
            message: text,
        }
    } else if NOT_FOUND_CODES.contains(&code_s) {
        ProviderError::NotFound {
            provider,
            what: text,
        }
    } else if LIMIT_CODES.contains(&code_s) {
        ProviderError::LimitExceeded {
            provider,
            message: text,
        }
    } else if status >= 500 {
        ProviderError::Server {
            provider,
            status,
            message: text,
        }
    } else if status == 401 || status == 403 {
        ProviderError::Auth {
            provider,
            message: text,
        }
    } else if status == 404 {
        ProviderError::NotFound {
            provider,
            what: text,
        }
    } else {
        ProviderError::Validation {
            provider,
            message: text,
        }
    }
}

/// Prefixes an error's message with where it happened (e.g. the region).
pub(crate) fn with_context(err: ProviderError, context: &str) -> ProviderError {
    let pre = |m: String| format!("{context}: {m}");
    match err {
        ProviderError::Throttled {
            provider,
            message,
            retry_after,
        } => ProviderError::Throttled {
            provider,
            message: pre(message),
            retry_after,
        },
        ProviderError::Server {
            provider,
            status,
            message,
        } => ProviderError::Server {
            provider,
            status,
            message: pre(message),
        },
        ProviderError::Network { provider, message } => ProviderError::Network {
            provider,
            message: pre(message),
        },
        ProviderError::Auth { provider, message } => ProviderError::Auth {
            provider,
            message: pre(message),
        },
        ProviderError::NotFound { provider, what } => ProviderError::NotFound {
            provider,
            what: pre(what),
        },
        ProviderError::LimitExceeded { provider, message } => ProviderError::LimitExceeded {
            provider,
            message: pre(message),
        },
        ProviderError::Validation { provider, message } => ProviderError::Validation {
            provider,
            message: pre(message),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(code: Option<&str>, status: u16) -> ProviderError {
        classify("AWS X", "Op", code, Some("it said so"), status)
    }

    #[test]
    fn service_errors_are_sorted_by_code_then_status() {
        assert!(matches!(
            kind(Some("ThrottlingException"), 400),
            ProviderError::Throttled { .. }
        ));
        assert!(matches!(kind(None, 429), ProviderError::Throttled { .. }));
        assert!(matches!(
            kind(Some("InternalServiceError"), 500),
            ProviderError::Server { status: 500, .. }
        ));
        for code in [
            "AccessDeniedException",
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "ExpiredToken",
        ] {
            assert!(matches!(kind(Some(code), 400), ProviderError::Auth { .. }));
        }
        assert!(matches!(
            kind(Some("ResourceNotFoundException"), 400),
            ProviderError::NotFound { .. }
        ));
        assert!(matches!(
            kind(Some("NoSuchEntity"), 404),
            ProviderError::NotFound { .. }
        ));
        assert!(matches!(
            kind(Some("LimitExceeded"), 409),
            ProviderError::LimitExceeded { .. }
        ));
        assert!(matches!(
            kind(Some("InvalidParameterException"), 400),
            ProviderError::Validation { .. }
        ));
        assert!(matches!(kind(None, 403), ProviderError::Auth { .. }));
    }

    #[test]
    fn a_denied_call_names_its_action_and_the_fix() {
        let e = classify(
            SECRETS_MANAGER,
            "ListSecrets",
            Some("AccessDeniedException"),
            Some(
                "User: arn:aws:sts::123456789012:assumed-role/responder/ops is not authorized to perform: secretsmanager:ListSecrets because no identity-based policy allows the secretsmanager:ListSecrets action",
            ),
            400,
        );
        let text = e.to_string();
        assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
        assert!(
            text.contains(
                "the role needs secretsmanager:ListSecrets: `breachbook iam-policy RUNBOOK`"
            ),
            "{text}"
        );
        // No message to read the action from: the operation names it.
        let e = classify(IAM, "PutUserPolicy", Some("AccessDenied"), None, 403);
        assert!(
            e.to_string().contains("the role needs iam:PutUserPolicy"),
            "{e}"
        );
        // Bad credentials are not a missing permission.
        let e = classify(
            STS,
            "GetCallerIdentity",
            Some("InvalidClientTokenId"),
            None,
            403,
        );
        assert!(!e.to_string().contains("iam-policy"), "{e}");
    }

    #[test]
    fn messages_keep_the_code_and_the_aws_message() {
        let e = kind(Some("AccessDeniedException"), 400);
        let text = e.to_string();
        assert!(
            text.contains("Op: AccessDeniedException: it said so"),
            "{text}"
        );
        let e = with_context(e, "us-east-1");
        assert!(e.to_string().contains("us-east-1: Op:"), "{e}");
    }

    #[test]
    fn timestamps_convert_both_ways() {
        let t = DateTime::<Utc>::from_timestamp(1_778_544_000, 123_000_000).unwrap_or_default();
        assert_eq!(to_chrono(&from_chrono(t)), Some(t));
    }

    #[test]
    fn debug_never_shows_the_static_secret() {
        let o = AwsOptions {
            static_credentials: Some(("AKIDEXAMPLE".into(), "not-for-eyes".into())),
            ..Default::default()
        };
        let text = format!("{o:?}");
        assert!(text.contains("AKIDEXAMPLE") && !text.contains("not-for-eyes"));
    }
}
