//! The live provider set: the real systems behind the domain's ports, put together for one
//! runbook — [`connect`] builds it from the runbook's scope: an inventory that runs every
//! source of the scope at once and merges what it finds into one credential per key
//! ([`merge`]), the issuers and stores the scope needs, the wall clock, and a usage poller
//! that feeds the Usage panel ([`usage`]).
//!
//! May depend on the incident ports, model and events, the runbook schema and the other
//! providers; never on the terminal UI or the command line (the caller turns its flags into
//! [`AwsOptions`]). Prints nothing: errors are returned, as [`ConnectError`].

pub mod creators;
pub mod disk_copies;
pub mod merge;
pub mod usage;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::aws::{Aws, AwsOptions};
use super::google::GoogleCredentials;
use super::http::HttpConfig;
use crate::incident::event::Event;
use crate::incident::model::{Credential, LocationKind};
use crate::incident::ports::{
    Clock, Inventory, KeyIssuer, ProviderError, ProviderSet, SecretStore, WallClock, WorldFeed,
};
use crate::incident::retries;
use crate::runbook::schema::{Issuer, Runbook, Scope};

pub use merge::MergedInventory;
pub use usage::{NewKeys, UsagePoller};

/// Why the live providers could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The AWS configuration could not be loaded (no region, a broken profile…).
    #[error(
        "{0} — set up AWS access (AWS_PROFILE / --profile, SSO login, or environment keys) and try again"
    )]
    AwsSetup(ProviderError),
    /// STS would not say who we are: no usable credentials.
    #[error(
        "cannot tell who you are at AWS: {0}. Log in (e.g. `aws sso login`) or pass --profile, then try again"
    )]
    Identity(ProviderError),
    /// AWS (or the emulator at `--endpoint-url`) could not be reached at all.
    #[error(
        "could not reach AWS at {endpoint}: {error}. Check the address (--endpoint-url, AWS_ENDPOINT_URL), that the service there is running, and the network; your credentials were not tried"
    )]
    Unreachable {
        endpoint: String,
        error: ProviderError,
    },
    /// The HTTP client could not be built.
    #[error("{0}")]
    Http(ProviderError),
    /// The scope names Vault, but where or as whom to reach it is not set.
    #[error("{0}")]
    VaultSetup(ProviderError),
    /// The scope names GitHub Actions secrets, but no token is set.
    #[error("{0}")]
    GithubSetup(ProviderError),
}

/// The live provider set of one runbook, its usage feed, and who we are at AWS.
pub struct LiveSet {
    pub providers: ProviderSet,
    pub feed: WorldFeed,
    /// Credential id → the id of its new key, for usage polling. Filled as keys are minted;
    /// a resumed incident adds the ones its journal knows.
    pub new_keys: NewKeys,
}

/// What the scope needs, gathered source by source.
#[derive(Default)]
struct Parts {
    sources: Vec<(String, Arc<dyn Inventory>)>,
    issuers: HashMap<Issuer, Arc<dyn KeyIssuer>>,
    stores: HashMap<LocationKind, Arc<dyn SecretStore>>,
    identity: Option<String>,
    creators: creators::IssuerLogs,
}

/// Connects to everything the runbook's scope names. `fingerprint_key`: the incident's
/// secret HMAC key for fingerprints (`incident::journal::FingerprintKey`). `known`:
/// credentials found before (a resumed incident), watched for usage from the start.
pub async fn connect(
    rb: &Runbook,
    aws: &AwsOptions,
    fingerprint_key: &[u8],
    known: Vec<Credential>,
) -> Result<LiveSet, ConnectError> {
    let scope = &rb.scope;
    let mut parts = Parts::default();
    let clock: Arc<dyn Clock> = Arc::new(WallClock);
    // The HTTP issuers first: the Secrets Manager inventory asks them what they can tell of
    // the keys it reads (Google's lookupKey).
    let http = HttpConfig::from_env().map_err(ConnectError::Http)?;
    let google = if scope.gemini.is_some() || mapped(scope, Issuer::Gemini) {
        GoogleCredentials::from_env().map_err(ConnectError::Http)?
    } else {
        None
    };
    add_http(&mut parts, scope, &http, google, &clock);
    if let Some(vs) = &scope.vault {
        add_vault(&mut parts, vs, &http, fingerprint_key)?;
    }
    let github = match &scope.github_actions {
        Some(gh) => {
            let config =
                super::github::GithubConfig::from_env().map_err(ConnectError::GithubSetup)?;
            let github = super::github::Github::new(http.client.clone(), &config);
            parts.stores.insert(
                LocationKind::GithubActions,
                Arc::new(super::github::GithubActionsStore::new(github.clone())),
            );
            Some((github, gh.copies.clone()))
        }
        None => None,
    };
    // Retries made while connecting (STS GetCallerIdentity) are journaled with the first
    // events of the feed: the journal does not exist yet.
    let connecting: Arc<Mutex<Vec<Event>>> = Arc::default();
    if scope.secrets_manager.is_some() || scope.iam.is_some() || scope.ssm.is_some() {
        let into = connecting.clone();
        let at = clock.clone();
        let watch = retries::Watch {
            credential: None,
            sink: Arc::new(move |credential, r: retries::Retry| {
                if let Ok(mut v) = into.lock() {
                    v.push(Event::CallRetried {
                        credential: credential.map(str::to_string),
                        step: None,
                        call: r.call,
                        attempt: r.attempt,
                        why: r.why,
                        at: at.now(),
                    });
                }
            }),
        };
        retries::watched(
            watch,
            add_aws(&mut parts, scope, aws, fingerprint_key, &clock),
        )
        .await?;
    }
    let earlier = connecting
        .lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default();

    let new_keys: NewKeys = Arc::default();
    let issuers: HashMap<Issuer, Arc<dyn KeyIssuer>> = parts
        .issuers
        .into_iter()
        .map(|(k, inner)| {
            let watched: Arc<dyn KeyIssuer> = Arc::new(usage::Watched {
                inner,
                new_keys: new_keys.clone(),
            });
            (k, watched)
        })
        .collect();
    let merged = MergedInventory::new(parts.sources);
    let seen = merged.seen();
    if let Ok(mut s) = seen.lock() {
        s.extend(known);
    }
    let feed = UsagePoller {
        issuers: issuers.clone(),
        credentials: seen,
        new_keys: new_keys.clone(),
        every: poll_every(),
        lookback: chrono::Duration::minutes(60),
        clock: clock.clone(),
        earlier,
    }
    .spawn();
    let inventory: Arc<dyn Inventory> = match github {
        Some((github, copies)) => Arc::new(super::github::WithGithubCopies::new(
            Arc::new(merged),
            github,
            copies,
        )),
        None => Arc::new(merged),
    };
    let inventory: Arc<dyn Inventory> = match &scope.disk {
        Some(d) => Arc::new(disk_copies::WithDiskCopies::new(
            inventory,
            d.clone(),
            fingerprint_key,
        )),
        None => inventory,
    };
    let providers = ProviderSet {
        inventory,
        issuers,
        stores: parts.stores,
        clock,
        identity: parts.identity,
        drill: None,
        creators: Some(Arc::new(parts.creators)),
    };
    Ok(LiveSet {
        providers,
        feed,
        new_keys,
    })
}

/// Runs `inner`'s listing and passes each page on to `pages` once `each` has seen (and may
/// have changed) it: what the inventories that add to others' keys (GitHub copies, copies on
/// disk) share. Returns the listing's own outcome.
pub async fn relay(
    inner: &dyn Inventory,
    scope: &Scope,
    exposure: &crate::runbook::schema::ExposureWindow,
    pages: &tokio::sync::mpsc::UnboundedSender<Vec<Credential>>,
    mut each: impl FnMut(&mut Vec<Credential>),
) -> crate::incident::ports::ProviderResult<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<Credential>>();
    let listing = inner.discover(scope, exposure, tx);
    let passing = async {
        while let Some(mut page) = rx.recv().await {
            each(&mut page);
            let _ = pages.send(page);
        }
    };
    let (listed, ()) = tokio::join!(listing, passing);
    listed
}

/// Time between usage polls: `BREACHBOOK_USAGE_POLL_SECS`, else a minute.
fn poll_every() -> Duration {
    std::env::var("BREACHBOOK_USAGE_POLL_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|n| *n > 0)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(60))
}

/// AWS: who we are first (shown in the header, on every journal record), then the Secrets
/// Manager inventory and store and the IAM inventory and issuer the scope names.
async fn add_aws(
    parts: &mut Parts,
    scope: &Scope,
    opts: &AwsOptions,
    fp_key: &[u8],
    clock: &Arc<dyn Clock>,
) -> Result<(), ConnectError> {
    let mut regions: Vec<String> = scope
        .secrets_manager
        .as_ref()
        .map(|s| s.regions.clone())
        .unwrap_or_default();
    for r in scope.ssm.iter().flat_map(|s| s.regions.iter()) {
        if !regions.contains(r) {
            regions.push(r.clone());
        }
    }
    let aws = Aws::load(opts, &regions)
        .await
        .map_err(ConnectError::AwsSetup)?;
    let identity = aws.identity().await.map_err(|e| match e {
        e @ (ProviderError::Network { .. } | ProviderError::Timeout { .. }) => {
            ConnectError::Unreachable {
                endpoint: super::aws::endpoint_for(opts, "STS").unwrap_or_else(|| {
                    format!("https://sts.{}.amazonaws.com", aws.default_region())
                }),
                error: e,
            }
        }
        e => ConnectError::Identity(e),
    })?;
    // Locations and credential ids carry the account: two accounts' secrets of one name
    // are two places.
    let aws = aws.with_account(super::aws::account_of(&identity));
    parts.identity = Some(identity);
    if scope.secrets_manager.is_some() {
        let identify = parts
            .issuers
            .iter()
            .filter(|(i, _)| **i == Issuer::Gemini)
            .map(|(i, k)| (*i, k.clone()))
            .collect();
        parts.sources.push((
            "Secrets Manager".into(),
            Arc::new(
                super::aws::secrets::SecretsManagerInventory::new(&aws, fp_key)
                    .with_identify(identify),
            ),
        ));
    }
    if scope.iam.is_some() {
        parts.sources.push((
            "IAM".into(),
            Arc::new(super::aws::iam::IamInventory::new(&aws)),
        ));
        // CloudTrail event history feeds the Usage panel: calls per minute, ok and denied,
        // with source address and user agent. IAM and global STS calls are logged in
        // us-east-1, the others where they were made.
        let mut trail_regions = aws.regions();
        if !trail_regions.iter().any(|r| r == "us-east-1") {
            trail_regions.push("us-east-1".into());
        }
        let trail = super::aws::cloudtrail::CloudTrailUsage::for_regions(&aws, &trail_regions)
            .with_clock(clock.clone());
        // The same event history tells who made keys and persistence in the window.
        parts.creators.insert(
            Issuer::AwsIam,
            Arc::new(super::aws::creators::IamCreators::new(trail.clone())),
        );
        parts.issuers.insert(
            Issuer::AwsIam,
            Arc::new(
                super::aws::iam::IamIssuer::new(&aws)
                    .with_clock(clock.clone())
                    .with_cloudtrail(trail),
            ),
        );
    }
    if scope.ssm.is_some() {
        let identify = parts
            .issuers
            .iter()
            .filter(|(i, _)| **i == Issuer::Gemini)
            .map(|(i, k)| (*i, k.clone()))
            .collect();
        parts.sources.push((
            "SSM Parameter Store".into(),
            Arc::new(super::aws::ssm::SsmInventory::new(&aws, fp_key).with_identify(identify)),
        ));
        parts.stores.insert(
            LocationKind::Ssm,
            Arc::new(super::aws::ssm::SsmStore::new(&aws)),
        );
    }
    parts.stores.insert(
        LocationKind::SecretsManager,
        Arc::new(super::aws::secrets::SecretsManagerStore::new(&aws)),
    );
    Ok(())
}

/// The HTTP providers: an inventory for each provider the scope lists, an issuer for each
/// whose keys it lists or maps, Braintrust's store. Gemini's go through the API Keys API
/// when a service account's key file (`google`) is given.
fn add_http(
    parts: &mut Parts,
    scope: &Scope,
    http: &HttpConfig,
    google: Option<GoogleCredentials>,
    clock: &Arc<dyn Clock>,
) {
    if scope.openai.is_some() || mapped(scope, Issuer::Openai) {
        if scope.openai.is_some() {
            parts.sources.push((
                "OpenAI".into(),
                Arc::new(super::openai::OpenAiInventory::from_config(http)),
            ));
        }
        let user_keys = scope
            .openai
            .as_ref()
            .map(|o| o.user_keys)
            .unwrap_or_default();
        parts.issuers.insert(
            Issuer::Openai,
            Arc::new(super::openai::OpenAiIssuer::from_config(http).with_user_keys(user_keys)),
        );
        // The organization's audit log tells who made the keys created in the window.
        parts.creators.insert(
            Issuer::Openai,
            Arc::new(
                super::openai::audit::OpenAiAuditLog::from_config(http).with_clock(clock.clone()),
            ),
        );
    }
    if scope.anthropic.is_some() || mapped(scope, Issuer::Anthropic) {
        if scope.anthropic.is_some() {
            parts.sources.push((
                "Anthropic".into(),
                Arc::new(super::anthropic::AnthropicInventory::from_config(http)),
            ));
        }
        parts.issuers.insert(
            Issuer::Anthropic,
            Arc::new(super::anthropic::AnthropicIssuer::from_config(http)),
        );
        // Each key names its creator (`created_by`), read by the inventory.
        parts.creators.insert(
            Issuer::Anthropic,
            Arc::new(super::anthropic::AnthropicCreators),
        );
    }
    if scope.gemini.is_some() || mapped(scope, Issuer::Gemini) {
        let projects = scope
            .gemini
            .as_ref()
            .map(|g| g.projects.clone())
            .unwrap_or_default();
        let mut gemini = super::gemini::GeminiIssuer::from_config(http)
            .with_projects(projects)
            .with_clock(clock.clone());
        if let Some(creds) = google {
            gemini =
                gemini.with_api_keys(http.client.clone(), &http.endpoints.google_api_keys, creds);
        }
        if let Some(inventory) = gemini.inventory().filter(|_| scope.gemini.is_some()) {
            parts
                .sources
                .push(("Google API Keys".into(), Arc::new(inventory)));
        }
        parts.issuers.insert(Issuer::Gemini, Arc::new(gemini));
    }
    if scope.braintrust.is_some() || mapped(scope, Issuer::Braintrust) {
        let org = scope
            .braintrust
            .as_ref()
            .map(|b| b.organization.clone())
            .unwrap_or_default();
        parts.issuers.insert(
            Issuer::Braintrust,
            Arc::new(super::braintrust::BraintrustIssuer::from_config(http, org)),
        );
    }
    if let Some(bt) = &scope.braintrust {
        parts.sources.push((
            "Braintrust".into(),
            Arc::new(super::braintrust::BraintrustInventory::from_config(http)),
        ));
        parts.stores.insert(
            LocationKind::Braintrust,
            Arc::new(super::braintrust::BraintrustStore::from_config(
                http,
                bt.organization.clone(),
            )),
        );
    }
}

/// Vault KV v2: the inventory and the store of the scope's mount, at `VAULT_ADDR` with
/// `VAULT_TOKEN`.
fn add_vault(
    parts: &mut Parts,
    vs: &crate::runbook::schema::VaultScope,
    http: &HttpConfig,
    fp_key: &[u8],
) -> Result<(), ConnectError> {
    let config = super::vault::VaultConfig::from_env().map_err(ConnectError::VaultSetup)?;
    let vault = super::vault::Vault::new(http.client.clone(), &config, &vs.mount);
    let identify = parts
        .issuers
        .iter()
        .filter(|(i, _)| **i == Issuer::Gemini)
        .map(|(i, k)| (*i, k.clone()))
        .collect();
    parts.sources.push((
        "Vault".into(),
        Arc::new(super::vault::VaultInventory::new(vault.clone(), fp_key).with_identify(identify)),
    ));
    parts.stores.insert(
        LocationKind::Vault,
        Arc::new(super::vault::VaultStore::new(vault)),
    );
    Ok(())
}

/// Whether a store's scope (Secrets Manager, Vault) maps a field to this issuer's keys.
fn mapped(scope: &Scope, issuer: Issuer) -> bool {
    let sm = scope
        .secrets_manager
        .as_ref()
        .is_some_and(|s| s.fields.iter().any(|f| f.issuer == issuer));
    let vault = scope
        .vault
        .as_ref()
        .is_some_and(|s| s.fields.iter().any(|f| f.issuer == issuer));
    let ssm = scope
        .ssm
        .as_ref()
        .is_some_and(|s| s.fields.iter().any(|f| f.issuer == issuer));
    sm || vault || ssm
}

/// Whether every endpoint this scope calls is on this machine (emulators, test servers).
/// `Err` names the first one that is not.
pub fn only_local_endpoints(scope: &Scope, aws: &AwsOptions) -> Result<(), String> {
    let uses_aws = scope.secrets_manager.is_some() || scope.iam.is_some() || scope.ssm.is_some();
    if uses_aws {
        for service in AWS_SERVICES {
            match super::aws::endpoint_for(aws, service) {
                Some(u) if is_local(&u) => {}
                Some(u) => return Err(format!("AWS ({service}) goes to {u}")),
                None => {
                    return Err(format!(
                        "AWS ({service}) goes to the real AWS (no --endpoint-url, AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_{service})"
                    ));
                }
            }
        }
    }
    let ep = super::http::Endpoints::from_env();
    let gemini = scope.gemini.is_some() || mapped(scope, Issuer::Gemini);
    let google = if gemini {
        GoogleCredentials::from_env().ok().flatten()
    } else {
        None
    };
    let token_uri = google
        .as_ref()
        .map(|g| g.token_uri.clone())
        .unwrap_or_default();
    let http = [
        (scope.openai.is_some(), "OpenAI", &ep.openai),
        (scope.anthropic.is_some(), "Anthropic", &ep.anthropic),
        (gemini, "Gemini", &ep.gemini),
        (scope.braintrust.is_some(), "Braintrust", &ep.braintrust),
        (google.is_some(), "Google API Keys", &ep.google_api_keys),
        (google.is_some(), "Google sign-in (token_uri)", &token_uri),
    ];
    for (used, name, url) in http {
        if used && !is_local(url) {
            return Err(format!("{name} goes to {url}"));
        }
    }
    if scope.github_actions.is_some() {
        let base = super::github::base_url(|k| std::env::var(k).ok());
        if !is_local(&base) {
            return Err(format!(
                "GitHub goes to {base} ({})",
                super::github::GITHUB_BASE_URL_VAR
            ));
        }
    }
    if scope.vault.is_some() {
        let addr = std::env::var(super::vault::VAULT_ADDR_VAR).unwrap_or_default();
        if !is_local(&addr) {
            return Err(format!(
                "Vault goes to {addr:?} ({})",
                super::vault::VAULT_ADDR_VAR
            ));
        }
    }
    Ok(())
}

/// The AWS services breachbook calls, as the SDK names them in endpoint variables.
const AWS_SERVICES: [&str; 5] = ["SECRETS_MANAGER", "IAM", "STS", "CLOUDTRAIL", "SSM"];

fn is_local(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]" || h == "::1")
}
