//! The least-privilege IAM policy a responder role needs to run one runbook live.
//!
//! `breachbook run` calls AWS with whatever identity the operator has. A security team that
//! wants a dedicated responder role (created ahead of time, assumed only during an incident)
//! gets its permissions policy from [`iam_policy`]: exactly the actions this runbook's steps
//! call, on exactly the resources its scope names, and nothing for the steps it does not have.
//!
//! What the policy covers:
//! - **STS** `GetCallerIdentity`, to record who acted on every journal record. AWS documents it
//!   as needing no permission (an explicit deny cannot block it); it is listed so the policy
//!   says everything the tool calls.
//! - **Secrets Manager**, when the scope has `secrets_manager` or IAM key pairs are
//!   `stored_in` secrets: `ListSecrets` (it has no resource-level permissions, so `*`),
//!   `DescribeSecret` on the secrets in scope; `GetSecretValue` only when values are read
//!   (`fields`, `fingerprint`, an IAM scope, whose key pairs are read for the access key id
//!   they hold, or a rotate, verify or propagate step, which read the pending version back),
//!   and then `BatchGetSecretValue` on `*` when the inventory reads them (20 a call; it has
//!   no resource-level permissions and needs `GetSecretValue` on each secret as well);
//!   `PutSecretValue`, `ListSecretVersionIds` (whose is a pending version already there) and
//!   `UpdateSecretVersionStage` (a key skipped after staging takes breachbook's AWSPENDING
//!   off) for a rotate step; `UpdateSecretVersionStage` and `PutSecretValue` for a propagate
//!   step (promotion to AWSCURRENT, and copies in other secrets). Secret ARNs end with `-` and six random
//!   characters, so a name prefix becomes `secret:{prefix}*`, and an exact secret name
//!   becomes `secret:{name}-??????`. Scope tags become a `secretsmanager:ResourceTag/{key}`
//!   condition (the Service Authorization Reference lists it, like `aws:ResourceTag/{key}`,
//!   for every action on the `Secret` resource type; it cannot narrow `ListSecrets`).
//! - **IAM**, when the scope has `iam` (or a secret field holds an `aws_iam` key):
//!   `ListAccessKeys` and `GetAccessKeyLastUsed` on the users in scope, `CreateAccessKey` for
//!   a rotate step (with `UpdateAccessKey` and `DeleteAccessKey`: a key an interrupted mint
//!   left, whose secret nobody holds, is deleted before minting again), `UpdateAccessKey`
//!   (deactivation) for a revoke step, `PutUserPolicy` and `GetUserPolicy` for a revoke or
//!   monitor step (the inline policy that denies sessions issued before the revocation),
//!   `DeleteAccessKey` for a delete step; `ListUsers` (no resource-level permissions) when the
//!   scope names no users.
//!   User ARNs carry the user's path: listed users are expected at `path_prefix` (default `/`).
//! - **SSM Parameter Store**, when the scope has `ssm`: `GetParametersByPath` and
//!   `GetParameter` on each path and the parameters under it; `GetParameterHistory` and
//!   `UnlabelParameterVersion` for a rotate step (whose is the latest version; an abandoned
//!   stage undone); `PutParameter` and `LabelParameterVersion` for a rotate or propagate step.
//!   A `SecureString` under the default `aws/ssm` key needs nothing more; one under a
//!   customer managed key also needs `kms:Decrypt` (and `kms:Encrypt` to write) on that key.
//! - **CloudTrail** `LookupEvents` (no resource-level permissions) when IAM keys are watched by
//!   a monitor step.
//!
//! What it does not cover:
//! - The AI providers and Braintrust: their admin keys (OpenAI admin key, Anthropic admin key,
//!   the Google Cloud credentials that manage Gemini keys, the Braintrust API key) are
//!   separate secrets, granted by each provider, not by AWS.
//! - `command` steps (kubectl, CI tooling…): they run with the operator's own credentials.
//! - KMS: secrets encrypted with the default `aws/secretsmanager` key need nothing more; a
//!   secret encrypted with a customer managed key also needs `kms:Decrypt` (and
//!   `kms:GenerateDataKey` to write) on that key, which the runbook cannot name.
//! - Drills: the simulator needs no AWS account at all.
//!
//! The output is deterministic (fixed statement order, sorted and deduplicated actions and
//! resources) so teams can diff it between runbook versions. A managed policy may hold
//! [`MANAGED_POLICY_MAX_CHARS`] characters without whitespace; when listed users push it over,
//! their ARNs collapse to one path wildcard (`user{path}*`). [`policy_chars`] measures a policy.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::runbook::schema::{Action, Issuer, Runbook};

/// IAM's size limit of a customer managed policy, in characters without whitespace.
pub const MANAGED_POLICY_MAX_CHARS: usize = 6_144;

/// The IAM policy language version every generated policy uses.
const POLICY_VERSION: &str = "2012-10-17";

/// Suffix of a Sid whose statement has `Resource: *` because the API allows nothing narrower.
const NO_RESOURCE_LEVEL: &str = "NoResourceLevelPermissions";

/// The permissions policy (a JSON document) a responder role needs to run `rb` live.
///
/// `account` is the 12-digit AWS account id that holds the secrets and users; without it,
/// ARNs use `*` for the account. See the [module documentation](crate::providers::aws::policy) for what is covered.
pub fn iam_policy(rb: &Runbook, account: Option<&str>) -> Value {
    serde_json::to_value(document(rb, account)).unwrap_or(Value::Null)
}

/// [`iam_policy`], pretty-printed with each statement's keys in the usual order (`Sid`,
/// `Effect`, `Action`, `Resource`, `Condition`), ready for `aws iam create-policy`.
pub fn iam_policy_json(rb: &Runbook, account: Option<&str>) -> String {
    serde_json::to_string_pretty(&document(rb, account)).unwrap_or_default()
}

/// Characters of `policy` as IAM counts them against its size limits (whitespace excluded).
pub fn policy_chars(policy: &Value) -> usize {
    serde_json::to_string(policy)
        .map(|s| s.chars().filter(|c| !c.is_whitespace()).count())
        .unwrap_or(0)
}

#[derive(Debug, Serialize)]
struct Document {
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "Statement")]
    statement: Vec<Statement>,
}

#[derive(Debug, Serialize)]
struct Statement {
    #[serde(rename = "Sid")]
    sid: &'static str,
    #[serde(rename = "Effect")]
    effect: &'static str,
    #[serde(rename = "Action")]
    action: BTreeSet<&'static str>,
    #[serde(rename = "Resource")]
    resource: BTreeSet<String>,
    #[serde(rename = "Condition", skip_serializing_if = "Option::is_none")]
    condition: Option<BTreeMap<&'static str, BTreeMap<String, String>>>,
}

impl Statement {
    fn allow(
        sid: &'static str,
        action: BTreeSet<&'static str>,
        resource: BTreeSet<String>,
    ) -> Self {
        Statement {
            sid,
            effect: "Allow",
            action,
            resource,
            condition: None,
        }
    }

    /// A statement on `*`, for an action that has no resource-level permissions.
    fn anywhere(sid: &'static str, action: &'static str) -> Self {
        debug_assert!(sid.ends_with(NO_RESOURCE_LEVEL));
        Statement::allow(
            sid,
            BTreeSet::from([action]),
            BTreeSet::from(["*".to_string()]),
        )
    }
}

/// Which built-in actions the runbook's steps use.
#[derive(Debug, Clone, Copy, Default)]
struct Uses {
    rotate: bool,
    verify: bool,
    propagate: bool,
    revoke: bool,
    delete: bool,
    monitor: bool,
}

impl Uses {
    fn of(rb: &Runbook) -> Self {
        let mut u = Uses::default();
        for step in &rb.steps {
            match step.action {
                Action::Rotate => u.rotate = true,
                Action::Verify => u.verify = true,
                Action::Propagate => u.propagate = true,
                Action::Revoke => u.revoke = true,
                Action::Delete => u.delete = true,
                Action::Monitor => u.monitor = true,
                Action::Manual | Action::Inventory | Action::Command | Action::Report => {}
            }
        }
        u
    }
}

fn document(rb: &Runbook, account: Option<&str>) -> Document {
    let full = build(rb, account, false);
    let oversized = serde_json::to_value(&full)
        .map(|v| policy_chars(&v) > MANAGED_POLICY_MAX_CHARS)
        .unwrap_or(false);
    let listed_users = rb.scope.iam.as_ref().is_some_and(|i| !i.users.is_empty());
    if oversized && listed_users {
        build(rb, account, true)
    } else {
        full
    }
}

fn build(rb: &Runbook, account: Option<&str>, collapse_users: bool) -> Document {
    let account = account
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .unwrap_or("*");
    let uses = Uses::of(rb);
    let sm = rb.scope.secrets_manager.as_ref();
    let iam = rb.scope.iam.as_ref();

    let mut statements = vec![Statement::anywhere(
        "StsGetCallerIdentityNoResourceLevelPermissions",
        "sts:GetCallerIdentity",
    )];

    // Secrets Manager: the scoped secrets, and the secrets holding IAM key pairs.
    let regions: BTreeSet<&str> = match sm {
        Some(sm) if !sm.regions.is_empty() => sm.regions.iter().map(|r| r.trim()).collect(),
        _ => BTreeSet::from(["*"]),
    };
    let stored: BTreeSet<&str> = iam
        .map(|i| i.stored_in.values().map(String::as_str).collect())
        .unwrap_or_default();
    if sm.is_some() || !stored.is_empty() {
        let mut actions = BTreeSet::from(["secretsmanager:DescribeSecret"]);
        // Values are read for mapped fields and fingerprints, and, with an IAM scope, to find
        // which access key a stored key pair holds.
        let reads_values =
            sm.is_some_and(|s| !s.fields.is_empty() || s.fingerprint) || iam.is_some();
        if reads_values || uses.rotate || uses.verify || uses.propagate {
            actions.insert("secretsmanager:GetSecretValue");
        }
        if uses.rotate || uses.propagate {
            actions.insert("secretsmanager:PutSecretValue");
        }
        if uses.rotate {
            // Before staging: whose is a pending version already there, and since when.
            actions.insert("secretsmanager:ListSecretVersionIds");
        }
        if uses.rotate || uses.propagate {
            // Promotion; and a key skipped after staging takes breachbook's AWSPENDING off.
            actions.insert("secretsmanager:UpdateSecretVersionStage");
        }

        let tags = sm.map(|s| &s.tags).filter(|t| !t.is_empty());
        let mut in_scope = BTreeSet::new();
        if let Some(sm) = sm {
            statements.push(Statement::anywhere(
                "SecretsManagerListSecretsNoResourceLevelPermissions",
                "secretsmanager:ListSecrets",
            ));
            if reads_values {
                // The inventory reads values 20 at a time. "Required permissions:
                // secretsmanager:BatchGetSecretValue, and you must have
                // secretsmanager:GetSecretValue for each secret" (API reference,
                // BatchGetSecretValue); the Service Authorization Reference gives
                // BatchGetSecretValue no resource type, so `*` — which reads nothing
                // without GetSecretValue on the secret, narrowed below.
                statements.push(Statement::anywhere(
                    "SecretsManagerBatchGetSecretValueNoResourceLevelPermissions",
                    "secretsmanager:BatchGetSecretValue",
                ));
            }
            let prefixes: BTreeSet<&str> = sm.name_prefixes.iter().map(String::as_str).collect();
            for region in &regions {
                if prefixes.is_empty() {
                    in_scope.insert(secret_arn(region, account, "*"));
                }
                for prefix in &prefixes {
                    in_scope.insert(secret_arn(region, account, &format!("{prefix}*")));
                }
            }
        }
        // A key-pair secret the scope's ARNs already match (and no tag condition could
        // exclude) needs nothing more; any other is named exactly.
        let covered = |name: &str| {
            sm.is_some_and(|s| {
                s.tags.is_empty()
                    && (s.name_prefixes.is_empty()
                        || s.name_prefixes.iter().any(|p| name.starts_with(p.as_str())))
            })
        };
        let key_pairs: BTreeSet<String> = stored
            .iter()
            .filter(|name| !covered(name))
            .flat_map(|name| {
                regions
                    .iter()
                    .map(move |region| secret_arn(region, account, &format!("{name}-??????")))
            })
            .collect();

        match tags {
            Some(tags) => {
                let mut st =
                    Statement::allow("SecretsManagerSecretsInScope", actions.clone(), in_scope);
                let equals = tags
                    .iter()
                    .map(|(k, v)| (format!("secretsmanager:ResourceTag/{k}"), v.clone()))
                    .collect();
                st.condition = Some(BTreeMap::from([("StringEquals", equals)]));
                statements.push(st);
                if !key_pairs.is_empty() {
                    statements.push(Statement::allow(
                        "SecretsManagerIamKeyPairSecrets",
                        actions,
                        key_pairs,
                    ));
                }
            }
            None => {
                in_scope.extend(key_pairs);
                statements.push(Statement::allow(
                    "SecretsManagerSecretsInScope",
                    actions,
                    in_scope,
                ));
            }
        }
    }

    // SSM Parameter Store: the parameters under the scope's paths.
    if let Some(ssm) = rb.scope.ssm.as_ref() {
        let mut actions = BTreeSet::from(["ssm:GetParameter", "ssm:GetParametersByPath"]);
        if uses.rotate {
            // Whose is the latest version (its labels), and an abandoned stage undone.
            actions.insert("ssm:GetParameterHistory");
            actions.insert("ssm:UnlabelParameterVersion");
        }
        if uses.rotate || uses.propagate {
            // The staged version and its label; copies; the promotion's label.
            actions.insert("ssm:PutParameter");
            actions.insert("ssm:LabelParameterVersion");
        }
        let regions: BTreeSet<&str> = if ssm.regions.is_empty() {
            BTreeSet::from(["*"])
        } else {
            ssm.regions.iter().map(|r| r.trim()).collect()
        };
        let mut resources = BTreeSet::new();
        for region in &regions {
            for path in &ssm.paths {
                let trimmed = path.trim().trim_end_matches('/');
                // GetParametersByPath is authorized on the path itself; the rest on each
                // parameter under it.
                resources.insert(parameter_arn(region, account, trimmed));
                resources.insert(parameter_arn(region, account, &format!("{trimmed}/*")));
            }
        }
        statements.push(Statement::allow("SsmParametersInScope", actions, resources));
    }

    // IAM access keys: the users in scope, or whoever owns an `aws_iam` key found in a secret.
    let iam_keys_in_fields =
        sm.is_some_and(|s| s.fields.iter().any(|f| f.issuer == Issuer::AwsIam));
    if iam.is_some() || iam_keys_in_fields {
        let partition = iam_partition(&regions);
        let path = iam
            .and_then(|i| i.path_prefix.as_deref())
            .map(normalize_path)
            .unwrap_or_else(|| "/".to_string());
        let users: BTreeSet<&str> = iam
            .map(|i| {
                i.users
                    .iter()
                    .map(|u| u.trim())
                    .filter(|u| !u.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let user_arn = |name: &str| format!("arn:{partition}:iam::{account}:user{path}{name}");
        let resources: BTreeSet<String> = if users.is_empty() || collapse_users {
            BTreeSet::from([user_arn("*")])
        } else {
            users.iter().map(|u| user_arn(u)).collect()
        };
        let mut actions = BTreeSet::from(["iam:GetAccessKeyLastUsed", "iam:ListAccessKeys"]);
        if uses.rotate {
            actions.insert("iam:CreateAccessKey");
            // A key an interrupted mint left (nobody holds its secret) is deactivated and
            // deleted before minting again.
            actions.insert("iam:UpdateAccessKey");
            actions.insert("iam:DeleteAccessKey");
        }
        if uses.revoke {
            actions.insert("iam:UpdateAccessKey");
        }
        if uses.revoke || uses.monitor {
            // The revocation also denies the sessions made before it (an inline user policy),
            // checked again before the key is called dead.
            actions.insert("iam:GetUserPolicy");
            actions.insert("iam:PutUserPolicy");
        }
        if uses.delete {
            actions.insert("iam:DeleteAccessKey");
        }
        if iam.is_some() && users.is_empty() {
            statements.push(Statement::anywhere(
                "IamListUsersNoResourceLevelPermissions",
                "iam:ListUsers",
            ));
        }
        statements.push(Statement::allow(
            "IamAccessKeysOfUsersInScope",
            actions,
            resources,
        ));
        if uses.monitor {
            statements.push(Statement::anywhere(
                "CloudTrailLookupEventsNoResourceLevelPermissions",
                "cloudtrail:LookupEvents",
            ));
        }
    }

    Document {
        version: POLICY_VERSION,
        statement: statements,
    }
}

/// `arn:{partition}:secretsmanager:{region}:{account}:secret:{pattern}`.
/// `arn:aws:ssm:REGION:ACCOUNT:parameter/NAME` for a name that starts with `/` (the ARN
/// keeps one slash: "parameter/" followed by the name without its first slash).
fn parameter_arn(region: &str, account: &str, name: &str) -> String {
    let partition = partition(region);
    let name = name.trim_start_matches('/');
    format!("arn:{partition}:ssm:{region}:{account}:parameter/{name}")
}

fn secret_arn(region: &str, account: &str, pattern: &str) -> String {
    let partition = partition(region);
    format!("arn:{partition}:secretsmanager:{region}:{account}:secret:{pattern}")
}

/// The AWS partition a region belongs to (`aws` for `*` and unknown prefixes).
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// IAM is global within a partition: the partition of the scope's regions when they agree.
fn iam_partition(regions: &BTreeSet<&str>) -> &'static str {
    let parts: BTreeSet<&str> = regions
        .iter()
        .filter(|r| **r != "*")
        .map(|r| partition(r))
        .collect();
    match (parts.len(), parts.first()) {
        (1, Some(p)) => p,
        _ => "aws",
    }
}

/// An IAM path always starts and ends with `/`.
fn normalize_path(path: &str) -> String {
    let inner = path.trim().trim_matches('/');
    if inner.is_empty() {
        "/".to_string()
    } else {
        format!("/{inner}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition("us-east-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("*"), "aws");
        assert_eq!(
            iam_partition(&BTreeSet::from(["cn-north-1", "cn-northwest-1"])),
            "aws-cn"
        );
        assert_eq!(iam_partition(&BTreeSet::from(["*"])), "aws");
    }

    #[test]
    fn paths_are_slash_delimited() {
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path("ci"), "/ci/");
        assert_eq!(normalize_path("/ci/deploy/"), "/ci/deploy/");
    }

    #[test]
    fn sids_are_alphanumeric() {
        for sid in [
            "StsGetCallerIdentityNoResourceLevelPermissions",
            "SecretsManagerListSecretsNoResourceLevelPermissions",
            "SecretsManagerBatchGetSecretValueNoResourceLevelPermissions",
            "SecretsManagerSecretsInScope",
            "SecretsManagerIamKeyPairSecrets",
            "IamListUsersNoResourceLevelPermissions",
            "IamAccessKeysOfUsersInScope",
            "CloudTrailLookupEventsNoResourceLevelPermissions",
        ] {
            assert!(sid.chars().all(|c| c.is_ascii_alphanumeric()), "{sid}");
        }
    }

    #[test]
    fn policy_chars_ignores_whitespace() {
        let v = serde_json::json!({"Version": "2012-10-17", "Statement": []});
        assert_eq!(
            policy_chars(&v),
            r#"{"Statement":[],"Version":"2012-10-17"}"#.len()
        );
    }
}
