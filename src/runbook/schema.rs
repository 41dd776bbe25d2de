//! Schema v1 of the runbook format as typed structs.
//!
//! These types are what the loader produces and what the engine, the simulator and the TUI
//! read. They depend on nothing else in the crate. Field names follow the YAML keys
//! (snake_case); every struct rejects unknown fields.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A whole runbook file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    /// Format version; only `1` exists.
    pub version: u32,
    /// Short machine name, e.g. `ai-provider-keys-vendor-breach`.
    pub name: String,
    /// Human title shown in the header.
    pub title: String,
    /// What the incident is, in a few sentences.
    #[serde(default)]
    pub description: String,
    /// How bad it is.
    #[serde(default)]
    pub severity: Severity,
    /// When the attacker may first have read secrets.
    pub exposure_window: ExposureWindow,
    /// Where to look for exposed credentials.
    pub scope: Scope,
    /// Engine settings.
    #[serde(default)]
    pub settings: Settings,
    /// The checklist, in order.
    pub steps: Vec<Step>,
    /// The tabletop scenario for `breachbook drill`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<Drill>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    #[default]
    High,
    Critical,
}

/// The time range during which secrets may have been read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExposureWindow {
    /// RFC 3339 start, e.g. `2026-05-12T00:00:00Z`. Anything not changed since is suspect.
    pub start: DateTime<Utc>,
    /// End, if known (the breach is closed); open otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
}

/// Inventory sources and their filters. At least one source is required.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_manager: Option<SecretsManagerScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<IamScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openai: Option<OpenAiScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anthropic: Option<AnthropicScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemini: Option<GeminiScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub braintrust: Option<BraintrustScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssm: Option<SsmScope>,
    /// GitHub Actions secrets holding copies of keys found elsewhere in the scope: updated in
    /// `propagate`, never read (GitHub gives no secret's value back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_actions: Option<GithubActionsScope>,
    /// Files and git history to search for copies of the keys the other sources find, by
    /// keyed fingerprint: copies found join their keys as locations fixed by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskScope>,
    /// Identities trusted to create keys during the exposure window (automation roles,
    /// the rotation pipeline): role or user ARNs, or names, with `*` and `?` globs, e.g.
    /// `arn:aws:iam::111122223333:role/ci-*` or `terraform`. A key created in the window by
    /// anyone else (other than this incident's responder and breachbook) is a suspect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_creators: Vec<String>,
}

/// AWS Secrets Manager secrets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretsManagerScope {
    /// Regions to list, e.g. `[us-east-1, eu-west-1]`.
    pub regions: Vec<String>,
    /// Only secrets whose name starts with one of these.
    #[serde(default)]
    pub name_prefixes: Vec<String>,
    /// Only secrets carrying all of these tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Which JSON field of a secret holds which issuer's key.
    #[serde(default)]
    pub fields: Vec<FieldMapping>,
    /// Read AWSCURRENT and keep a keyed fingerprint to find one key stored in several secrets.
    #[serde(default)]
    pub fingerprint: bool,
}

/// `field` of a JSON secret holds a key issued by `issuer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    pub field: String,
    pub issuer: Issuer,
}

/// Who issued a key.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Issuer {
    AwsIam,
    Openai,
    Anthropic,
    Gemini,
    Braintrust,
    Generic,
}

impl Issuer {
    /// Name as shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Issuer::AwsIam => "AWS IAM",
            Issuer::Openai => "OpenAI",
            Issuer::Anthropic => "Anthropic",
            Issuer::Gemini => "Gemini",
            Issuer::Braintrust => "Braintrust",
            Issuer::Generic => "generic",
        }
    }
}

/// IAM users whose access keys are in scope.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IamScope {
    /// User names; empty means every user under `path_prefix`.
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Where each user's key pair is stored (Secrets Manager secret name), if anywhere.
    #[serde(default)]
    pub stored_in: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenAiScope {
    /// Organization id, e.g. `org-…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Project ids; empty means every project.
    #[serde(default)]
    pub projects: Vec<String>,
    /// How a key owned by a person is replaced: `by_hand` (the default: the person makes a
    /// new key in the dashboard and pastes it) or `service_account` (breachbook mints a new
    /// service account in the key's project; the person's key is then deleted).
    #[serde(default, skip_serializing_if = "is_default")]
    pub user_keys: UserKeys,
}

/// How breachbook replaces an OpenAI key owned by a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserKeys {
    /// A person makes the new key in the dashboard and pastes it into breachbook.
    #[default]
    ByHand,
    /// A new service account, named after the rotation, replaces the person's key.
    ServiceAccount,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnthropicScope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Workspace ids; empty means every workspace.
    #[serde(default)]
    pub workspaces: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GeminiScope {
    /// Google Cloud project ids that own the keys.
    #[serde(default)]
    pub projects: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BraintrustScope {
    /// Organization name.
    pub organization: String,
    /// Only AI secrets with these names; empty means all.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Only environment variables (org-, project- and function-scoped secrets) with these
    /// names; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_vars: Vec<String>,
}

/// AWS Systems Manager Parameter Store parameters (`SecureString`, and `String` ones that
/// hold keys too).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SsmScope {
    /// Regions to list; empty means the AWS default region.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Parameter paths listed recursively, e.g. `[/prod/ai/]` (each starts with `/`).
    pub paths: Vec<String>,
    /// Which key a parameter holds: for a JSON value, the JSON field; for a plain value, a
    /// mapping whose `field` is the last part of the parameter's name
    /// (`/prod/ai/OPENAI_API_KEY` ← `field: OPENAI_API_KEY`).
    #[serde(default)]
    pub fields: Vec<FieldMapping>,
    /// Keep a keyed fingerprint of every value read, and list values no mapping names as
    /// generic keys.
    #[serde(default)]
    pub fingerprint: bool,
}

/// Copies on disk, looked for after the other sources are listed (as `breachbook scan`
/// does): working trees and, with `git_history`, every line a commit added.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskScope {
    /// Files or folders, relative to the folder breachbook runs in, e.g. `[., ../deploy]`.
    pub paths: Vec<String>,
    /// Also read the history of the git repositories the paths are in.
    #[serde(default)]
    pub git_history: bool,
    /// Also read what `.gitignore`, `.ignore` and git's excludes leave out.
    #[serde(default)]
    pub no_ignore: bool,
}

/// GitHub Actions secrets, reached at `https://api.github.com` (or
/// `BREACHBOOK_GITHUB_BASE_URL`) with `GITHUB_TOKEN` (or `GH_TOKEN`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubActionsScope {
    /// Each secret that holds a copy, and the copy it mirrors.
    pub copies: Vec<GithubSecretCopy>,
}

/// One GitHub Actions secret holding a copy of a key that breachbook finds elsewhere.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubSecretCopy {
    /// The repository, `owner/name`.
    pub repo: String,
    /// The deployment environment whose secret it is; absent: a repository secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The secret's name, e.g. `OPENAI_API_KEY`.
    pub secret: String,
    /// The location (as the Inventory labels it) whose key the secret holds, e.g.
    /// `sm:prod/ai/openai#OPENAI_API_KEY` or `vault:secret/prod/openai#api_key`. GitHub
    /// never shows a secret's value, so breachbook cannot match it by fingerprint.
    pub mirrors: String,
}

/// HashiCorp Vault (or OpenBao) KV version 2 secrets, reached at `VAULT_ADDR` with
/// `VAULT_TOKEN` (and `VAULT_NAMESPACE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VaultScope {
    /// Where the KV version 2 engine is mounted, e.g. `secret` (the default).
    #[serde(default = "default_vault_mount")]
    pub mount: String,
    /// Only secrets under these paths (listed recursively), e.g. `[prod/ai/]`; empty means
    /// the whole mount.
    #[serde(default)]
    pub path_prefixes: Vec<String>,
    /// Which field of a secret holds which issuer's key.
    #[serde(default)]
    pub fields: Vec<FieldMapping>,
    /// Read every string field of a secret and keep a keyed fingerprint, to find one key
    /// stored in several places (fields no mapping names are listed as generic keys).
    #[serde(default)]
    pub fingerprint: bool,
}

fn default_vault_mount() -> String {
    "secret".to_string()
}

impl Default for VaultScope {
    fn default() -> Self {
        VaultScope {
            mount: default_vault_mount(),
            path_prefixes: Vec::new(),
            fields: Vec::new(),
            fingerprint: false,
        }
    }
}

/// Engine settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Provider calls in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Attempts for a retryable failure before giving up.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// How long to watch after revocation before calling a key dead, e.g. `15m`.
    #[serde(default = "default_quiet_period")]
    pub quiet_period: String,
}

fn default_concurrency() -> usize {
    8
}
fn default_max_attempts() -> u32 {
    5
}
fn default_quiet_period() -> String {
    "15m".to_string()
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: default_concurrency(),
            max_attempts: default_max_attempts(),
            quiet_period: default_quiet_period(),
        }
    }
}

/// One step of the checklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique id, referenced by `needs`.
    pub id: String,
    pub title: String,
    /// What to do, for a stressed human: short imperative sentences.
    pub instructions: String,
    /// Why this step exists (shown in onboarding mode).
    #[serde(default)]
    pub why: String,
    pub action: Action,
    /// Items to tick for `manual` steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checklist: Vec<String>,
    /// The shell command of a `command` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandSpec>,
    /// Step ids that must be done first.
    #[serde(default)]
    pub needs: Vec<String>,
    /// Confirmation policy. Revoke and delete steps are always `typed`; writing anything
    /// else for them is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
    #[serde(default)]
    pub on_failure: OnFailure,
    /// A step that must not be skipped.
    #[serde(default = "default_true")]
    pub is_critical: bool,
    /// e.g. `90s`, `15m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

fn default_true() -> bool {
    true
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A checklist for the human; done when every item is ticked.
    Manual,
    /// List every credential in scope and mark the exposed ones.
    Inventory,
    /// Mint a replacement for every exposed credential and store it as pending.
    Rotate,
    /// Call the provider with each new key; it must answer 200.
    Verify,
    /// Promote the new key to current and write it to every location.
    Propagate,
    /// Revoke old keys, one at a time, each after a typed confirmation.
    Revoke,
    /// Watch usage for the quiet period; confirm old keys are dead.
    Monitor,
    /// Delete revoked keys for good (IAM: DeleteAccessKey), each after a typed confirmation.
    Delete,
    /// Run a shell command for a system without a native integration.
    Command,
    /// Write the post-incident report.
    Report,
}

impl Step {
    /// The effective confirmation policy: typed for revoke and delete, whatever is written.
    pub fn confirm_policy(&self) -> Confirm {
        match self.action {
            Action::Revoke | Action::Delete => Confirm::Typed,
            Action::Command => self.confirm.unwrap_or(Confirm::Ask),
            _ => self.confirm.unwrap_or(Confirm::None),
        }
    }
}

impl Action {
    /// True for actions that change something outside breachbook.
    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            Action::Rotate | Action::Propagate | Action::Revoke | Action::Delete | Action::Command
        )
    }
}

/// Confirmation policy of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Confirm {
    /// Runs on Enter.
    None,
    /// Asks y/n first.
    Ask,
    /// The operator types a confirmation word per key. Always on for revoke and delete.
    Typed,
}

/// What happens when a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Stop; the operator decides (retry or skip).
    #[default]
    Abort,
    /// Mark the failed items and go on.
    Continue,
}

/// The shell command of a `command` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// Run by `sh -c`. `{credential}`, `{issuer}`, `{location}` and `{locations}` are
    /// substituted with names (never values).
    pub run: String,
    /// How the new key reaches the command: never the command line.
    #[serde(default)]
    pub new_key_via: KeyPassing,
    /// Run once per rotated credential (true) or once (false).
    #[serde(default)]
    pub per_credential: bool,
    /// Environment variables the command keeps that breachbook otherwise removes: the cloud
    /// and admin credentials it runs with (`AWS_ACCESS_KEY_ID`, `AWS_PROFILE`,
    /// `OPENAI_ADMIN_KEY`, any `*_API_KEY`…). Name only what the command needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pass_env: Vec<String>,
    /// In drills: what running this command does to the simulated world.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_effect: Option<DrillEffect>,
}

/// How a command receives the new key.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyPassing {
    /// The command needs no key.
    #[default]
    None,
    /// On standard input.
    Stdin,
    /// In the environment variable `BREACHBOOK_NEW_KEY`.
    Env,
}

/// What a simulated command does in a drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum DrillEffect {
    /// Restart these consumers: they reload their key.
    RestartConsumers(Vec<String>),
    /// Nothing happens in the world.
    Nothing,
}

/// The slowest drill clock `check` accepts (and `--speed`): a tenth of real time.
pub const MIN_SPEED: f64 = 0.1;
/// The fastest drill clock: an hour of drill per real second. Faster would make the world
/// simulate more minutes per tick than it can hold.
pub const MAX_SPEED: f64 = 3600.0;
/// The most provider calls in flight at once.
pub const MAX_CONCURRENCY: usize = 256;
/// The most attempts per operation.
pub const MAX_ATTEMPTS: u32 = 100;

/// Whether a drill clock speed is one the engine runs with.
pub fn speed_ok(speed: f64) -> bool {
    speed.is_finite() && (MIN_SPEED..=MAX_SPEED).contains(&speed)
}

/// The tabletop scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Drill {
    /// Seed of the scenario's randomness; `--seed` overrides.
    #[serde(default)]
    pub seed: u64,
    /// Drill clock speed: simulated seconds per real second; `--speed` overrides.
    #[serde(default = "default_speed")]
    pub speed: f64,
    /// Length of the scenario, e.g. `2h`. Injects must lie within it.
    pub duration: String,
    /// Where the drill clock starts, after the exposure window's start, e.g. `36h`.
    #[serde(default = "default_drill_start")]
    pub starts_after_exposure: String,
    /// The simulated credentials and where their copies live.
    pub credentials: Vec<SimCredential>,
    /// Consumers and attackers.
    #[serde(default)]
    pub actors: Vec<Actor>,
    /// Messages that arrive at given drill times.
    #[serde(default)]
    pub injects: Vec<Inject>,
    /// Things that go wrong.
    #[serde(default)]
    pub faults: Vec<Fault>,
}

fn default_drill_start() -> String {
    "36h".to_string()
}

fn default_speed() -> f64 {
    10.0
}

/// A credential of the simulated world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimCredential {
    /// Name used by actors and faults, e.g. `openai-prod`.
    pub name: String,
    pub issuer: Issuer,
    /// Age of the key at drill start, e.g. `200d`.
    #[serde(default = "default_age")]
    pub age: String,
    /// Where copies live (none: the key lives at its issuer only).
    #[serde(default)]
    pub locations: Vec<SimLocation>,
    /// Who the simulated audit log says created the key (for a key created during the
    /// window), e.g. `svc-eval-pipeline`. None: the log has no record of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

fn default_age() -> String {
    "180d".to_string()
}

/// Where a simulated copy lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SimLocation {
    /// A Secrets Manager secret (and the JSON field, if any).
    SecretsManager {
        secret: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        #[serde(default = "default_region")]
        region: String,
    },
    /// A Braintrust org AI secret.
    Braintrust { secret: String },
    /// An IAM user's access key (the credential itself lives at IAM).
    IamUser { user: String },
}

fn default_region() -> String {
    "us-east-1".to_string()
}

/// Someone calling with a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub name: String,
    pub kind: ActorKind,
    /// Credential names this actor calls with.
    pub uses: Vec<String>,
    /// Calls per minute (consumers) or per burst (attackers).
    #[serde(default = "default_rate")]
    pub rate: u32,
    /// Attackers: time between bursts, e.g. `4m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// Where the calls come from, shown in the usage panel.
    #[serde(default)]
    pub source: String,
    /// Consumers: the location (secret name) the consumer reads its key from; default: the
    /// credential's first location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads: Option<String>,
    /// Attackers: keys they minted for themselves during the window (before the drill
    /// starts), recorded in the simulated audit log with `identity` and `source`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mints: Vec<SimCredential>,
    /// Attackers: persistence they left during the window (a login profile, a policy…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub persists: Vec<SimPersistence>,
    /// Attackers: the identity the audit log names for what they made, e.g.
    /// `arn:aws:iam::000000000000:user/backup-svc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

/// Persistence an attacker made during the window, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimPersistence {
    /// The logged action, e.g. `CreateLoginProfile`.
    pub action: String,
    /// What it was done to, e.g. `console password of user ci-deployer`.
    pub target: String,
    /// How long before the drill starts, e.g. `3d`.
    #[serde(default = "default_persist_age")]
    pub age: String,
}

fn default_persist_age() -> String {
    "1d".to_string()
}

fn default_rate() -> u32 {
    20
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A legitimate service: uses what is current at its location.
    Consumer,
    /// Uses the leaked (old) keys in bursts.
    Attacker,
}

/// A message that arrives at a drill time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Inject {
    /// Drill time, e.g. `3m`.
    pub at: String,
    pub message: String,
}

/// Something that goes wrong in the drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Fault {
    /// The provider answers 429 to this fraction of calls between `from` and `until`.
    Throttle {
        provider: FaultTarget,
        #[serde(default = "default_fault_rate")]
        rate: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<String>,
    },
    /// The provider answers 5xx to this fraction of calls.
    ServerError {
        provider: FaultTarget,
        #[serde(default = "default_fault_rate")]
        rate: f64,
    },
    /// This consumer never reloads its key by itself: it needs a restart.
    StaleConsumer { consumer: String },
}

fn default_fault_rate() -> f64 {
    0.3
}

/// A simulated system a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    SecretsManager,
    Iam,
    Openai,
    Anthropic,
    Gemini,
    Braintrust,
}
