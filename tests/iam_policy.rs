//! The responder-role IAM policy generated from runbooks: for each shipped runbook, the
//! exact actions its steps call on the resources its scope names; for generated scopes,
//! never a wildcard action, only well-formed ARNs, and `*` only where AWS allows nothing
//! narrower.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use breachbook::providers::aws::policy::{
    MANAGED_POLICY_MAX_CHARS, iam_policy, iam_policy_json, policy_chars,
};
use breachbook::runbook::load::load_str;
use breachbook::runbook::schema::{
    Action, FieldMapping, IamScope, Issuer, OnFailure, Runbook, SecretsManagerScope, Step,
};
use breachbook::runbook::shipped;
use proptest::prelude::*;
use serde_json::{Value, json};

const VENDOR: &str = "ai-provider-keys-vendor-breach.yaml";
const IAM: &str = "aws-iam-access-key-leak.yaml";
const ONBOARDING: &str = "onboarding-walkthrough.yaml";
const ACCOUNT: &str = "123456789012";

/// Every action the generator may ever emit: real names from the Service Authorization
/// Reference.
const KNOWN_ACTIONS: &[&str] = &[
    "sts:GetCallerIdentity",
    "secretsmanager:ListSecrets",
    "secretsmanager:BatchGetSecretValue",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:ListSecretVersionIds",
    "iam:ListUsers",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
    "iam:PutUserPolicy",
    "iam:GetUserPolicy",
    "cloudtrail:LookupEvents",
];

/// Actions with no resource-level permissions: the only ones allowed on `*`.
const RESOURCELESS: &[&str] = &[
    "sts:GetCallerIdentity",
    "secretsmanager:ListSecrets",
    "secretsmanager:BatchGetSecretValue",
    "iam:ListUsers",
    "cloudtrail:LookupEvents",
];

fn load(name: &str) -> Runbook {
    let (_, src) = shipped::get(name).unwrap_or_else(|| panic!("{name} is not shipped"));
    load_str(name, src).unwrap_or_else(|e| panic!("{e}"))
}

fn statements(policy: &Value) -> &Vec<Value> {
    policy["Statement"].as_array().expect("Statement is a list")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

fn all_actions(policy: &Value) -> BTreeSet<String> {
    statements(policy)
        .iter()
        .flat_map(|s| strings(&s["Action"]))
        .collect()
}

fn statement<'a>(policy: &'a Value, sid: &str) -> Option<&'a Value> {
    statements(policy).iter().find(|s| s["Sid"] == sid)
}

fn resources_of(policy: &Value, sid: &str) -> BTreeSet<String> {
    statement(policy, sid)
        .map(|s| strings(&s["Resource"]).into_iter().collect())
        .unwrap_or_default()
}

fn is_region(r: &str) -> bool {
    // e.g. us-east-1, eu-west-1, us-gov-west-1, cn-north-1, ap-southeast-2
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

fn is_account(a: &str) -> bool {
    a == "*" || (a.len() == 12 && a.chars().all(|c| c.is_ascii_digit()))
}

/// Characters of secret names (and IAM names) plus the two IAM wildcards.
fn name_chars_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-,*?".contains(c))
}

/// Checks one ARN; returns why it is malformed.
fn arn_problem(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return Some("not arn:partition:service:region:account:resource".into());
    }
    if !["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b"].contains(&parts[1]) {
        return Some(format!("unknown partition {}", parts[1]));
    }
    if !is_account(parts[4]) {
        return Some(format!("bad account {}", parts[4]));
    }
    match parts[2] {
        "secretsmanager" => {
            if !(parts[3] == "*" || is_region(parts[3])) {
                return Some(format!("bad region {}", parts[3]));
            }
            let Some(name) = parts[5].strip_prefix("secret:") else {
                return Some("secretsmanager resource is not secret:…".into());
            };
            if !name_chars_ok(name) {
                return Some(format!("bad secret pattern {name}"));
            }
            // Every pattern allows the random 6-character suffix AWS appends.
            if !(name.ends_with('*') || name.ends_with("-??????")) {
                return Some(format!("secret pattern {name} cannot match the ARN suffix"));
            }
        }
        "iam" => {
            if !parts[3].is_empty() {
                return Some("IAM ARNs have no region".into());
            }
            let Some(rest) = parts[5].strip_prefix("user/") else {
                return Some("iam resource is not user/…".into());
            };
            if !name_chars_ok(rest) || rest.contains("//") {
                return Some(format!("bad user path {rest}"));
            }
        }
        other => return Some(format!("unexpected service {other}")),
    }
    None
}

/// The structural rules every generated policy follows.
fn check_policy(policy: &Value) -> Result<(), String> {
    if policy["Version"] != "2012-10-17" {
        return Err("Version is not 2012-10-17".into());
    }
    let mut sids = BTreeSet::new();
    for st in statements(policy) {
        let sid = st["Sid"].as_str().ok_or("Sid missing")?;
        if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("Sid {sid} is not alphanumeric"));
        }
        if !sids.insert(sid.to_string()) {
            return Err(format!("Sid {sid} repeats"));
        }
        if st["Effect"] != "Allow" {
            return Err(format!("{sid}: Effect is not Allow"));
        }
        let actions = strings(&st["Action"]);
        let resources = strings(&st["Resource"]);
        if actions.is_empty() || resources.is_empty() {
            return Err(format!("{sid}: empty Action or Resource"));
        }
        for list in [&actions, &resources] {
            let sorted: BTreeSet<&String> = list.iter().collect();
            if sorted.len() != list.len() || !sorted.iter().copied().eq(list.iter()) {
                return Err(format!("{sid}: list not sorted and deduplicated: {list:?}"));
            }
        }
        for a in &actions {
            if a.contains('*') || a.contains('?') {
                return Err(format!("{sid}: wildcard action {a}"));
            }
            if !KNOWN_ACTIONS.contains(&a.as_str()) {
                return Err(format!("{sid}: unknown action {a}"));
            }
        }
        if resources.iter().any(|r| r == "*") {
            if resources.len() != 1 {
                return Err(format!("{sid}: `*` next to other resources"));
            }
            if !sid.ends_with("NoResourceLevelPermissions") {
                return Err(format!("{sid}: `*` without saying why in the Sid"));
            }
            if let Some(a) = actions.iter().find(|a| !RESOURCELESS.contains(&a.as_str())) {
                return Err(format!("{sid}: {a} supports resource ARNs but got `*`"));
            }
        } else {
            for r in &resources {
                if let Some(why) = arn_problem(r) {
                    return Err(format!("{sid}: {r}: {why}"));
                }
            }
            if let Some(a) = actions.iter().find(|a| RESOURCELESS.contains(&a.as_str())) {
                return Err(format!("{sid}: {a} needs `*` but got ARNs"));
            }
        }
    }
    Ok(())
}

#[test]
fn every_shipped_runbook_gets_a_well_formed_policy() {
    for (name, src) in shipped::all() {
        let rb = load_str(name, src).unwrap_or_else(|e| panic!("{e}"));
        for account in [None, Some(ACCOUNT)] {
            let policy = iam_policy(&rb, account);
            check_policy(&policy).unwrap_or_else(|e| panic!("{name}: {e}"));
            // The pretty text is the same document, and stable.
            let text = iam_policy_json(&rb, account);
            let parsed: Value = serde_json::from_str(&text).expect("valid JSON");
            assert_eq!(parsed, policy, "{name}");
            assert_eq!(
                text,
                iam_policy_json(&rb, account),
                "{name}: not deterministic"
            );
            assert!(
                text.find("\"Sid\"") < text.find("\"Effect\""),
                "{name}: key order"
            );
            assert!(
                policy_chars(&policy) <= MANAGED_POLICY_MAX_CHARS,
                "{name}: {} characters",
                policy_chars(&policy)
            );
            assert!(all_actions(&policy).contains("sts:GetCallerIdentity"));
        }
    }
}

#[test]
fn vendor_breach_policy_is_exactly_what_its_steps_need() {
    let policy = iam_policy(&load(VENDOR), Some(ACCOUNT));
    let expected = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StsGetCallerIdentityNoResourceLevelPermissions",
                "Effect": "Allow",
                "Action": ["sts:GetCallerIdentity"],
                "Resource": ["*"]
            },
            {
                "Sid": "SecretsManagerListSecretsNoResourceLevelPermissions",
                "Effect": "Allow",
                "Action": ["secretsmanager:ListSecrets"],
                "Resource": ["*"]
            },
            {
                "Sid": "SecretsManagerBatchGetSecretValueNoResourceLevelPermissions",
                "Effect": "Allow",
                "Action": ["secretsmanager:BatchGetSecretValue"],
                "Resource": ["*"]
            },
            {
                "Sid": "SecretsManagerSecretsInScope",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:ListSecretVersionIds",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:UpdateSecretVersionStage"
                ],
                "Resource": [
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:legacy/*",
                    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/ai/*",
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:legacy/*",
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/ai/*"
                ]
            }
        ]
    });
    assert_eq!(
        policy,
        expected,
        "{}",
        iam_policy_json(&load(VENDOR), Some(ACCOUNT))
    );
}

#[test]
fn ai_providers_and_braintrust_add_no_aws_permissions() {
    let rb = load(VENDOR);
    let mut bare = rb.clone();
    bare.scope.openai = None;
    bare.scope.anthropic = None;
    bare.scope.gemini = None;
    bare.scope.braintrust = None;
    assert_eq!(
        iam_policy(&rb, Some(ACCOUNT)),
        iam_policy(&bare, Some(ACCOUNT))
    );
    let actions = all_actions(&iam_policy(&rb, None));
    assert!(
        actions
            .iter()
            .all(|a| !a.starts_with("iam:") && !a.starts_with("cloudtrail:"))
    );
}

#[test]
fn iam_runbook_can_create_deactivate_and_delete_only_its_users_keys() {
    let rb = load(IAM);
    let policy = iam_policy(&rb, Some(ACCOUNT));
    check_policy(&policy).unwrap();
    let iam = statement(&policy, "IamAccessKeysOfUsersInScope").expect("IAM statement");
    assert_eq!(
        strings(&iam["Action"]),
        [
            "iam:CreateAccessKey",
            "iam:DeleteAccessKey",
            "iam:GetAccessKeyLastUsed",
            "iam:GetUserPolicy",
            "iam:ListAccessKeys",
            "iam:PutUserPolicy",
            "iam:UpdateAccessKey"
        ]
    );
    assert_eq!(
        resources_of(&policy, "IamAccessKeysOfUsersInScope"),
        BTreeSet::from([
            "arn:aws:iam::123456789012:user/ci-deployer".to_string(),
            "arn:aws:iam::123456789012:user/reporting-bot".to_string(),
        ])
    );
    // Users are named, so no ListUsers; the monitor step watches CloudTrail.
    let actions = all_actions(&policy);
    assert!(!actions.contains("iam:ListUsers"));
    assert!(actions.contains("cloudtrail:LookupEvents"));
    // The key pairs live under prod/iam/, which the prefix ARN already covers.
    assert_eq!(
        resources_of(&policy, "SecretsManagerSecretsInScope"),
        BTreeSet::from([
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/iam/*".to_string()
        ])
    );
    assert!(statement(&policy, "SecretsManagerIamKeyPairSecrets").is_none());
}

#[test]
fn actions_follow_the_steps() {
    let rb = load(IAM);
    let without = |actions: &[Action]| {
        let mut r = rb.clone();
        r.steps.retain(|s| !actions.contains(&s.action));
        all_actions(&iam_policy(&r, Some(ACCOUNT)))
    };
    let no_rotate = without(&[Action::Rotate]);
    assert!(!no_rotate.contains("iam:CreateAccessKey"));
    assert!(
        no_rotate.contains("secretsmanager:PutSecretValue"),
        "propagate still writes"
    );

    let no_writes = without(&[Action::Rotate, Action::Propagate]);
    assert!(!no_writes.contains("secretsmanager:PutSecretValue"));
    assert!(!no_writes.contains("secretsmanager:UpdateSecretVersionStage"));

    // A rotate step deletes keys an interrupted mint left: delete and deactivate.
    let no_delete = without(&[Action::Delete, Action::Rotate]);
    assert!(!no_delete.contains("iam:DeleteAccessKey"));
    assert!(no_delete.contains("iam:UpdateAccessKey"));

    let no_revoke = without(&[Action::Revoke, Action::Delete, Action::Rotate]);
    assert!(!no_revoke.contains("iam:UpdateAccessKey"));
    // The revocation denies older sessions; the monitor step checks it is still there.
    let no_sessions = without(&[Action::Revoke, Action::Monitor]);
    assert!(!no_sessions.contains("iam:PutUserPolicy"));
    assert!(without(&[Action::Monitor]).contains("iam:PutUserPolicy"));

    let no_monitor = without(&[Action::Monitor]);
    assert!(!no_monitor.contains("cloudtrail:LookupEvents"));

    // Inventory only: read-only; values are read only to find which access key each stored
    // key pair holds.
    let read_only = without(&[
        Action::Rotate,
        Action::Verify,
        Action::Propagate,
        Action::Revoke,
        Action::Delete,
        Action::Monitor,
    ]);
    assert_eq!(
        read_only,
        BTreeSet::from(
            [
                "iam:GetAccessKeyLastUsed",
                "iam:ListAccessKeys",
                "secretsmanager:BatchGetSecretValue",
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:ListSecrets",
                "sts:GetCallerIdentity",
            ]
            .map(String::from)
        )
    );
}

#[test]
fn reading_values_needs_fields_fingerprint_or_a_rotation_step() {
    let mut rb = load(ONBOARDING);
    rb.steps.retain(|s| {
        matches!(
            s.action,
            Action::Manual | Action::Inventory | Action::Report
        )
    });
    assert!(all_actions(&iam_policy(&rb, None)).contains("secretsmanager:GetSecretValue"));
    let sm = rb.scope.secrets_manager.as_mut().unwrap();
    sm.fields.clear();
    sm.fingerprint = false;
    assert!(!all_actions(&iam_policy(&rb, None)).contains("secretsmanager:GetSecretValue"));
    rb.scope.secrets_manager.as_mut().unwrap().fingerprint = true;
    assert!(all_actions(&iam_policy(&rb, None)).contains("secretsmanager:GetSecretValue"));
}

#[test]
fn the_account_is_substituted_when_given() {
    for name in [VENDOR, IAM, ONBOARDING] {
        let rb = load(name);
        let with = iam_policy(&rb, Some(ACCOUNT));
        let without = iam_policy(&rb, None);
        let arns = |p: &Value| -> Vec<String> {
            statements(p)
                .iter()
                .flat_map(|s| strings(&s["Resource"]))
                .filter(|r| r != "*")
                .collect()
        };
        assert!(!arns(&with).is_empty());
        for arn in arns(&with) {
            assert_eq!(arn.split(':').nth(4), Some(ACCOUNT), "{arn}");
        }
        for arn in arns(&without) {
            assert_eq!(arn.split(':').nth(4), Some("*"), "{arn}");
        }
    }
}

#[test]
fn tags_become_a_resource_tag_condition_and_key_pair_secrets_stay_reachable() {
    let mut rb = load(IAM);
    let sm = rb.scope.secrets_manager.as_mut().unwrap();
    sm.tags = BTreeMap::from([
        ("team".to_string(), "platform".to_string()),
        ("env".to_string(), "prod".to_string()),
    ]);
    let policy = iam_policy(&rb, Some(ACCOUNT));
    check_policy(&policy).unwrap();
    let scoped = statement(&policy, "SecretsManagerSecretsInScope").unwrap();
    assert_eq!(
        scoped["Condition"],
        json!({"StringEquals": {
            "secretsmanager:ResourceTag/env": "prod",
            "secretsmanager:ResourceTag/team": "platform"
        }})
    );
    // ListSecrets cannot be narrowed by tags: no condition on it.
    let list = statement(
        &policy,
        "SecretsManagerListSecretsNoResourceLevelPermissions",
    )
    .unwrap();
    assert!(list.get("Condition").is_none());
    // The key-pair secrets need not carry the tags: they get their own exact ARNs.
    let pairs = statement(&policy, "SecretsManagerIamKeyPairSecrets").unwrap();
    assert!(pairs.get("Condition").is_none());
    assert_eq!(
        resources_of(&policy, "SecretsManagerIamKeyPairSecrets"),
        BTreeSet::from([
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/iam/ci-deployer-??????"
                .to_string(),
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/iam/reporting-bot-??????"
                .to_string(),
        ])
    );
    assert_eq!(strings(&pairs["Action"]), strings(&scoped["Action"]));
}

#[test]
fn key_pairs_outside_the_prefixes_are_named_exactly_in_every_region() {
    let mut rb = load(IAM);
    rb.scope.secrets_manager.as_mut().unwrap().regions =
        vec!["us-east-1".to_string(), "eu-west-1".to_string()];
    rb.scope
        .iam
        .as_mut()
        .unwrap()
        .stored_in
        .insert("reporting-bot".to_string(), "legacy/reporting".to_string());
    let policy = iam_policy(&rb, Some(ACCOUNT));
    check_policy(&policy).unwrap();
    let res = resources_of(&policy, "SecretsManagerSecretsInScope");
    for region in ["us-east-1", "eu-west-1"] {
        assert!(res.contains(&format!(
            "arn:aws:secretsmanager:{region}:123456789012:secret:legacy/reporting-??????"
        )));
        assert!(res.contains(&format!(
            "arn:aws:secretsmanager:{region}:123456789012:secret:prod/iam/*"
        )));
    }
    assert_eq!(res.len(), 4, "{res:?}");
}

#[test]
fn iam_without_listed_users_lists_users_under_the_path() {
    let mut rb = load(IAM);
    let iam = rb.scope.iam.as_mut().unwrap();
    iam.users.clear();
    iam.path_prefix = Some("/deploy/".to_string());
    let policy = iam_policy(&rb, Some(ACCOUNT));
    check_policy(&policy).unwrap();
    assert!(statement(&policy, "IamListUsersNoResourceLevelPermissions").is_some());
    assert_eq!(
        resources_of(&policy, "IamAccessKeysOfUsersInScope"),
        BTreeSet::from(["arn:aws:iam::123456789012:user/deploy/*".to_string()])
    );
}

#[test]
fn stored_in_without_a_secrets_manager_scope_uses_every_region() {
    let mut rb = load(IAM);
    rb.scope.secrets_manager = None;
    let policy = iam_policy(&rb, None);
    check_policy(&policy).unwrap();
    assert!(
        statement(
            &policy,
            "SecretsManagerListSecretsNoResourceLevelPermissions"
        )
        .is_none()
    );
    assert_eq!(
        resources_of(&policy, "SecretsManagerSecretsInScope"),
        BTreeSet::from([
            "arn:aws:secretsmanager:*:*:secret:prod/iam/ci-deployer-??????".to_string(),
            "arn:aws:secretsmanager:*:*:secret:prod/iam/reporting-bot-??????".to_string(),
        ])
    );
}

#[test]
fn iam_keys_found_in_secret_fields_need_iam_permissions() {
    let mut rb = load(ONBOARDING);
    rb.scope
        .secrets_manager
        .as_mut()
        .unwrap()
        .fields
        .push(FieldMapping {
            field: "AWS_ACCESS_KEY_ID".to_string(),
            issuer: Issuer::AwsIam,
        });
    let policy = iam_policy(&rb, Some(ACCOUNT));
    check_policy(&policy).unwrap();
    // The owner is unknown until the key is looked up: any user of the account.
    assert_eq!(
        resources_of(&policy, "IamAccessKeysOfUsersInScope"),
        BTreeSet::from(["arn:aws:iam::123456789012:user/*".to_string()])
    );
    assert!(all_actions(&policy).contains("iam:CreateAccessKey"));
}

#[test]
fn other_partitions_get_their_own_arns() {
    let mut rb = load(IAM);
    rb.scope.secrets_manager.as_mut().unwrap().regions = vec!["cn-north-1".to_string()];
    let policy = iam_policy(&rb, Some(ACCOUNT));
    check_policy(&policy).unwrap();
    assert!(
        resources_of(&policy, "SecretsManagerSecretsInScope")
            .iter()
            .all(|r| r.starts_with("arn:aws-cn:secretsmanager:cn-north-1:"))
    );
    assert!(
        resources_of(&policy, "IamAccessKeysOfUsersInScope")
            .iter()
            .all(|r| r.starts_with("arn:aws-cn:iam::"))
    );
}

#[test]
fn many_users_collapse_to_a_path_wildcard_to_fit_a_managed_policy() {
    let mut rb = load(IAM);
    let iam = rb.scope.iam.as_mut().unwrap();
    iam.path_prefix = Some("/svc/".to_string());
    iam.users = (0..200)
        .map(|i| format!("service-account-{i:03}"))
        .collect();
    let policy = iam_policy(&rb, Some(ACCOUNT));
    check_policy(&policy).unwrap();
    assert!(policy_chars(&policy) <= MANAGED_POLICY_MAX_CHARS);
    assert_eq!(
        resources_of(&policy, "IamAccessKeysOfUsersInScope"),
        BTreeSet::from(["arn:aws:iam::123456789012:user/svc/*".to_string()])
    );
    // A handful of users stay named.
    rb.scope.iam.as_mut().unwrap().users.truncate(5);
    assert_eq!(
        resources_of(
            &iam_policy(&rb, Some(ACCOUNT)),
            "IamAccessKeysOfUsersInScope"
        )
        .len(),
        5
    );
}

// ---------------------------------------------------------------------------------------
// Generated scopes.

const REGIONS: &[&str] = &[
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "us-gov-west-1",
    "cn-north-1",
];

const ACTIONS: &[Action] = &[
    Action::Manual,
    Action::Inventory,
    Action::Rotate,
    Action::Verify,
    Action::Propagate,
    Action::Revoke,
    Action::Monitor,
    Action::Delete,
    Action::Command,
    Action::Report,
];

fn step(i: usize, action: Action) -> Step {
    Step {
        id: format!("s{i}"),
        title: format!("Step {i}"),
        instructions: "Do it.".to_string(),
        why: String::new(),
        action,
        checklist: Vec::new(),
        command: None,
        needs: Vec::new(),
        confirm: None,
        on_failure: OnFailure::Abort,
        is_critical: true,
        timeout: None,
    }
}

fn secret_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,5}(/[a-zA-Z0-9_+=.@-]{1,8}){0,2}/?"
}

fn sm_scope() -> impl Strategy<Value = SecretsManagerScope> {
    (
        proptest::sample::subsequence(REGIONS, 1..=3),
        proptest::collection::vec(secret_name(), 0..4),
        proptest::collection::btree_map("[a-zA-Z][a-zA-Z0-9_.:/=+@-]{0,10}", "[a-z0-9]{1,8}", 0..3),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(regions, name_prefixes, tags, fields, iam_field, fingerprint)| {
                let mut mappings = Vec::new();
                if fields {
                    mappings.push(FieldMapping {
                        field: "OPENAI_API_KEY".to_string(),
                        issuer: Issuer::Openai,
                    });
                }
                if iam_field {
                    mappings.push(FieldMapping {
                        field: "AWS_ACCESS_KEY_ID".to_string(),
                        issuer: Issuer::AwsIam,
                    });
                }
                SecretsManagerScope {
                    regions: regions.iter().map(|r| r.to_string()).collect(),
                    name_prefixes,
                    tags,
                    fields: mappings,
                    fingerprint,
                }
            },
        )
}

fn iam_scope() -> impl Strategy<Value = IamScope> {
    (
        proptest::collection::vec("[a-zA-Z][a-zA-Z0-9_+=,.@-]{0,20}", 0..6),
        proptest::option::of("(/[a-z][a-z0-9_-]{0,6}){0,2}/?"),
        proptest::collection::btree_map("[a-z][a-z0-9-]{0,8}", secret_name(), 0..4),
    )
        .prop_map(|(users, path_prefix, stored_in)| IamScope {
            users,
            path_prefix,
            stored_in,
        })
}

fn runbook() -> impl Strategy<Value = Runbook> {
    (
        proptest::option::of(sm_scope()),
        proptest::option::of(iam_scope()),
        proptest::sample::subsequence(ACTIONS, 0..=ACTIONS.len()),
    )
        .prop_map(|(sm, iam, actions)| {
            let mut rb = load(ONBOARDING);
            rb.scope.secrets_manager = sm;
            rb.scope.iam = iam;
            rb.steps = actions
                .iter()
                .enumerate()
                .map(|(i, a)| step(i, *a))
                .collect();
            rb
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn generated_scopes_get_well_formed_least_privilege_policies(
        rb in runbook(),
        account in proptest::option::of("[0-9]{12}"),
    ) {
        let policy = iam_policy(&rb, account.as_deref());
        if let Err(e) = check_policy(&policy) {
            return Err(TestCaseError::fail(format!("{e}\n{}", iam_policy_json(&rb, account.as_deref()))));
        }
        prop_assert_eq!(&policy, &iam_policy(&rb, account.as_deref()));

        let has = |a: Action| rb.steps.iter().any(|s| s.action == a);
        let actions = all_actions(&policy);
        let iam_in_play = rb.scope.iam.is_some()
            || rb.scope.secrets_manager.as_ref().is_some_and(|s| s.fields.iter().any(|f| f.issuer == Issuer::AwsIam));
        prop_assert_eq!(actions.contains("iam:CreateAccessKey"), iam_in_play && has(Action::Rotate));
        // A rotate step deletes (deactivating first) the keys an interrupted mint left.
        prop_assert_eq!(
            actions.contains("iam:UpdateAccessKey"),
            iam_in_play && (has(Action::Revoke) || has(Action::Rotate))
        );
        prop_assert_eq!(
            actions.contains("iam:DeleteAccessKey"),
            iam_in_play && (has(Action::Delete) || has(Action::Rotate))
        );
        prop_assert_eq!(
            actions.contains("iam:PutUserPolicy"),
            iam_in_play && (has(Action::Revoke) || has(Action::Monitor))
        );
        prop_assert_eq!(actions.contains("cloudtrail:LookupEvents"), iam_in_play && has(Action::Monitor));
        let sm_in_play = rb.scope.secrets_manager.is_some()
            || rb.scope.iam.as_ref().is_some_and(|i| !i.stored_in.is_empty());
        prop_assert_eq!(
            actions.contains("secretsmanager:PutSecretValue"),
            sm_in_play && (has(Action::Rotate) || has(Action::Propagate))
        );
        prop_assert_eq!(
            actions.contains("secretsmanager:UpdateSecretVersionStage"),
            sm_in_play && (has(Action::Propagate) || has(Action::Rotate))
        );
        prop_assert_eq!(
            actions.contains("secretsmanager:ListSecrets"),
            rb.scope.secrets_manager.is_some()
        );

        // Every scoped secret prefix is reachable in every scoped region, and nothing broader.
        if let Some(sm) = &rb.scope.secrets_manager {
            let res = resources_of(&policy, "SecretsManagerSecretsInScope");
            let acct = account.as_deref().unwrap_or("*");
            for region in &sm.regions {
                let partition = if region.starts_with("cn-") { "aws-cn" }
                    else if region.starts_with("us-gov-") { "aws-us-gov" } else { "aws" };
                for prefix in &sm.name_prefixes {
                    let arn = format!("arn:{partition}:secretsmanager:{region}:{acct}:secret:{prefix}*");
                    prop_assert!(res.contains(&arn), "{} missing", arn);
                }
            }
            if !sm.name_prefixes.is_empty() {
                prop_assert!(res.iter().all(|r| !r.ends_with(":secret:*")));
            }
            prop_assert_eq!(
                statement(&policy, "SecretsManagerSecretsInScope").and_then(|s| s.get("Condition")).is_some(),
                !sm.tags.is_empty()
            );
        }
        if let Some(iam) = &rb.scope.iam {
            let res = resources_of(&policy, "IamAccessKeysOfUsersInScope");
            // A few short names never reach the size limit: each one is named.
            for user in &iam.users {
                prop_assert!(res.iter().any(|r| r.ends_with(&format!("/{user}"))), "{} missing", user);
            }
            prop_assert_eq!(
                actions.contains("iam:ListUsers"),
                iam.users.iter().all(|u| u.trim().is_empty())
            );
        }
    }
}
