//! Command-line definitions (clap derive): one subcommand per job.
//!
//! Depends on clap (and clap_complete's shell names) and the runbook's duration parser only:
//! `launch` turns these flags into the options of each layer (e.g. [`AwsArgs`] into
//! `providers::aws::AwsOptions`); completions and the man page are generated from these
//! definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A terminal runbook for the first hours after a credential leak.
///
/// Start with `breachbook drill`: a tabletop drill against a simulated cloud, no account
/// and no network needed.
#[derive(Debug, Parser)]
#[command(name = "breachbook", version, about, long_about)]
pub struct Cli {
    /// Folder for journals, reports and logs (default: the platform's local data folder).
    #[arg(long, global = true, env = "BREACHBOOK_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Job,
}

#[derive(Debug, Subcommand)]
pub enum Job {
    /// Rehearse a runbook against the built-in simulated cloud (no account, no network)
    Drill(DrillArgs),
    /// Run a runbook against your real cloud account and AI providers
    Run(RunArgs),
    /// List every key in a runbook's scope without changing anything (checks access too)
    Inventory(InventoryArgs),
    /// Print the least-privilege IAM policy a runbook needs, for the responder role
    IamPolicy(IamPolicyArgs),
    /// Print the Vault policy (HCL) a runbook's `vault` scope needs, for the responder's token
    VaultPolicy(VaultPolicyArgs),
    /// Reopen an incident where it stopped (after a crash, a closed laptop, a handover)
    Resume(ResumeArgs),
    /// List the incidents and drills in the state folder
    Incidents,
    /// Print the post-incident report of an incident
    Report(ReportArgs),
    /// Check an incident's journal: every hash and link, and (with --head) a chain head kept
    /// elsewhere
    Verify(VerifyArgs),
    /// Find copies of an incident's exposed keys in files and git history (by keyed
    /// fingerprint: no value is printed)
    Scan(ScanArgs),
    /// Validate runbook files and print every problem with its line and column
    Check(CheckArgs),
    /// Print the JSON Schema of the runbook format (for editors)
    Schema,
    /// List the runbooks built into breachbook, or print one to start a copy from
    Runbooks(RunbooksArgs),
    /// Print shell completions: `breachbook completions bash > /etc/bash_completion.d/breachbook`
    Completions(CompletionsArgs),
    /// Print the man page (roff): `breachbook man | man -l -`
    Man,
}

#[derive(Debug, Clone, Args)]
pub struct RunbooksArgs {
    #[command(subcommand)]
    pub action: Option<RunbooksAction>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum RunbooksAction {
    /// Print a built-in runbook to start a copy from: `breachbook runbooks show NAME > mine.yaml`
    Show {
        /// The runbook's name (see `breachbook runbooks`)
        name: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: clap_complete::aot::Shell,
}

#[derive(Debug, Clone, Args)]
pub struct DrillArgs {
    /// A runbook file or the name of a built-in one (default: ai-provider-keys-vendor-breach)
    #[arg(value_name = "RUNBOOK")]
    pub runbook: Option<String>,
    /// Seed of the scenario's randomness (default: the runbook's)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Drill clock speed: simulated seconds per real second (default: the runbook's)
    #[arg(long, value_name = "N")]
    pub speed: Option<f64>,
    /// No terminal UI: print the timeline as lines and a JSON summary as the last line
    #[arg(long)]
    pub headless: bool,
    /// With --headless: play the runbook as a careful operator would
    #[arg(long, requires = "headless", conflicts_with = "script")]
    pub autopilot: bool,
    /// With --headless: play this YAML list of operator actions instead
    #[arg(long, value_name = "FILE", requires = "headless")]
    pub script: Option<PathBuf>,
    #[command(flatten)]
    pub ui: UiArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Clone, Args)]
pub struct UiArgs {
    /// Show every step's "why" and explain each panel the first time it is focused
    #[arg(long)]
    pub onboarding: bool,
    /// Disable every action that changes keys or systems
    #[arg(long)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Provider calls in flight at once (default: the runbook's, else 8)
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// How long to watch revoked keys before calling them dead, e.g. `2m` (default: the
    /// runbook's `quiet_period`)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub quiet_period: Option<std::time::Duration>,
    /// Test hook: stop dead after this many journal records (for crash tests)
    #[arg(long, hide = true, value_name = "N")]
    pub pause_after_records: Option<u64>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The runbook file (or the name of a built-in one)
    #[arg(value_name = "RUNBOOK")]
    pub runbook: String,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// No terminal UI: play --script FILE (your typed confirmations in a file); keys made by
    /// hand are read from stdin, one per line, when it is a pipe
    #[arg(long)]
    pub headless: bool,
    /// With --headless: play this YAML list of operator actions
    #[arg(long, value_name = "FILE", requires = "headless")]
    pub script: Option<PathBuf>,
    /// With --headless, against emulators and test servers on this machine only: play the
    /// runbook as a careful operator would (never against a real account)
    #[arg(long, requires = "headless", conflicts_with = "script")]
    pub autopilot: bool,
    #[command(flatten)]
    pub ui: UiArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Where the AWS calls go and as whom.
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// AWS profile (else the standard chain: environment, SSO, credential_process…)
    #[arg(long, env = "AWS_PROFILE")]
    pub profile: Option<String>,
    /// AWS region for calls without one in the runbook's scope
    #[arg(long)]
    pub region: Option<String>,
    /// Endpoint URL for AWS emulators such as moto, for every service (else the SDK's own
    /// AWS_ENDPOINT_URL and `AWS_ENDPOINT_URL_<SERVICE>`, e.g. AWS_ENDPOINT_URL_CLOUDTRAIL)
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct InventoryArgs {
    /// The runbook file (or the name of a built-in one)
    #[arg(value_name = "RUNBOOK")]
    pub runbook: String,
    /// One JSON object per key per line, as found
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Clone, Args)]
pub struct IamPolicyArgs {
    /// The runbook file (or the name of a built-in one)
    #[arg(value_name = "RUNBOOK")]
    pub runbook: String,
    /// AWS account id to put in the resource ARNs (default: `*`)
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct VaultPolicyArgs {
    /// The runbook file (or the name of a built-in one)
    #[arg(value_name = "RUNBOOK")]
    pub runbook: String,
}

#[derive(Debug, Clone, Args)]
pub struct ResumeArgs {
    /// Incident id (see `breachbook incidents`)
    pub id: String,
    /// For live incidents: where the AWS calls go and as whom
    #[command(flatten)]
    pub aws: AwsArgs,
    /// No terminal UI (drills only): print the timeline and a JSON summary
    #[arg(long)]
    pub headless: bool,
    /// With --headless: finish the runbook as a careful operator would
    #[arg(long, requires = "headless")]
    pub autopilot: bool,
    #[command(flatten)]
    pub ui: UiArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Incident id (see `breachbook incidents`)
    pub id: String,
    /// Markdown for people, JSON for machines, HTML with charts for the post-mortem
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Incident id (see `breachbook incidents`)
    pub id: String,
    /// A chain head kept outside this laptop (the hash a report or the end of a run printed):
    /// the journal must still hold it
    #[arg(long, value_name = "HASH")]
    pub head: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// Files or folders to read (default: the current folder)
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The incident whose exposed keys to look for (default: the newest in the state folder)
    #[arg(long, value_name = "ID")]
    pub incident: Option<String>,
    /// Also read every line any commit added, on every branch and tag and in the reflog, of
    /// the git repositories the paths are in
    #[arg(long)]
    pub git_history: bool,
    /// Also read the files .gitignore, .ignore and git's excludes leave out
    #[arg(long)]
    pub no_ignore: bool,
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Md,
    Json,
    /// One self-contained page with a chart of calls per minute for each exposed key.
    Html,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Runbook files
    #[arg(required = true, value_name = "RUNBOOK")]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::runbook::duration::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
