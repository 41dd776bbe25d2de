//! Credentials, where their copies live, and usage observations; masking a value to a hint,
//! matching hints, the keyed fingerprint that correlates copies, and the confirmation word.
//!
//! Pure. Depends on the runbook schema (issuers) only.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::runbook::schema::Issuer;

/// A key at its issuer. Never holds the secret value: only ids, a masked hint and a
/// keyed fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    /// Stable id inside the incident, e.g. `openai/openai-prod` or `iam/AKIAEXAMPLE…`.
    pub id: String,
    pub issuer: Issuer,
    /// The issuer's own non-secret id of the key (IAM access key id, OpenAI key id…).
    pub key_id: String,
    /// Human name, e.g. `openai-prod`.
    pub name: String,
    /// Masked hint, e.g. `sk-…a1b2`.
    pub hint: String,
    pub created: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
    /// Every place a copy lives.
    pub locations: Vec<Location>,
    /// In breached scope and unchanged since the exposure window began.
    pub exposed: bool,
    /// Why it is (or is not) considered exposed, in words.
    pub exposure_reason: String,
    /// Keyed fingerprint (HMAC-SHA256, hex, shortened) to correlate copies, never the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Non-secret facts the issuer needs to act on the key later (project id, owner type,
    /// service-account id, IAM user name, region…). Keys are provider-defined.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}

impl Credential {
    /// The word the operator types to confirm revoking this key: the last 4 characters
    /// of its key id, lower-cased.
    pub fn confirmation_word(&self) -> String {
        confirmation_word(&self.key_id)
    }

    /// The location where a new key is staged first: the first copy in a store that keeps
    /// versions (Secrets Manager, Vault KV v2).
    pub fn primary_store(&self) -> Option<&Location> {
        self.locations.iter().find(|l| l.kind.stages())
    }

    /// Whether the issuer itself blocked this key as leaked (it found it in public): the
    /// issuer's own words, redacted. Such a key no longer works, but it still exists at the
    /// issuer and is still to be deleted: blocked is not revoked.
    pub fn blocked_as_leaked(&self) -> Option<&str> {
        self.meta
            .get(META_BLOCKED_AS_LEAKED)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Records that the issuer blocked this key as leaked, with its own words as evidence.
    pub fn set_blocked_as_leaked(&mut self, evidence: &str) {
        self.meta
            .insert(META_BLOCKED_AS_LEAKED.to_string(), evidence.to_string());
    }

    /// What else revoking this key destroys at its issuer, one line each (an OpenAI
    /// service-account key is revoked by deleting its service account, and with it every
    /// other key that account holds). Shown before the typed word.
    pub fn revoke_takes(&self) -> Vec<&str> {
        self.meta
            .get(META_REVOKE_TAKES)
            .map(|s| s.lines().filter(|l| !l.trim().is_empty()).collect())
            .unwrap_or_default()
    }

    /// Sets what else revoking this key destroys (see [`Credential::revoke_takes`]).
    pub fn set_revoke_takes(&mut self, lines: &[String]) {
        if lines.is_empty() {
            self.meta.remove(META_REVOKE_TAKES);
        } else {
            self.meta
                .insert(META_REVOKE_TAKES.to_string(), lines.join("\n"));
        }
    }
}

impl Credential {
    /// How long the issuer keeps a deleted key restorable (Google keeps a deleted API key 30
    /// days): a deletion is undone there until then, and the report says until when.
    pub fn restorable_for(&self) -> Option<chrono::Duration> {
        self.meta
            .get(META_RESTORABLE_DAYS)
            .and_then(|d| d.parse::<i64>().ok())
            .filter(|d| *d > 0)
            .map(chrono::Duration::days)
    }

    /// Sets how many days the issuer keeps a deleted key restorable.
    pub fn set_restorable_days(&mut self, days: u32) {
        self.meta
            .insert(META_RESTORABLE_DAYS.to_string(), days.to_string());
    }
}

/// `meta` key of [`Credential::restorable_for`]: the domain's own, not a provider's.
pub const META_RESTORABLE_DAYS: &str = "restorable_days";
/// `meta` key of [`Credential::blocked_as_leaked`]: the domain's own, not a provider's.
pub const META_BLOCKED_AS_LEAKED: &str = "blocked_as_leaked";
/// `meta` key of [`Credential::revoke_takes`]: the domain's own, not a provider's.
pub const META_REVOKE_TAKES: &str = "revoke_takes";

/// Where one copy of a key lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    pub kind: LocationKind,
    /// Secret name, AI secret name, user name…
    pub name: String,
    /// JSON field inside the secret, if the secret is a JSON document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The AWS account (or other tenant) the place belongs to, when known. With the region it
    /// tells two places of the same name apart (journals written before it read as `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// When the stored value last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<DateTime<Utc>>,
}

impl Location {
    /// One-line label, e.g. `sm:prod/ai/openai#OPENAI_API_KEY`.
    pub fn label(&self) -> String {
        let mut s = format!("{}:{}", self.kind.short(), self.name);
        if let Some(f) = &self.field {
            s.push('#');
            s.push_str(f);
        }
        s
    }

    /// The place's identity: kind, account and region (when known), name and field. Two
    /// secrets named alike in two regions, or two accounts, are two places; without an
    /// account or a region it is [`Location::label`].
    pub fn key(&self) -> String {
        let mut s = self.secret_key();
        if let Some(f) = &self.field {
            s.push('#');
            s.push_str(f);
        }
        s
    }

    /// The identity of the whole secret (or other store entry) the place is part of: its
    /// [`Location::key`] without the field. Every field of one secret shares it: the unit
    /// of staging (Secrets Manager keeps one `AWSPENDING` version per secret).
    pub fn secret_key(&self) -> String {
        let mut s = format!("{}:", self.kind.short());
        for part in [&self.account, &self.region].into_iter().flatten() {
            s.push_str(part);
            s.push('/');
        }
        s.push_str(&self.name);
        s
    }

    /// The label with the region, for people: `sm:prod/ai/openai#OPENAI_API_KEY (eu-west-1)`.
    pub fn place(&self) -> String {
        match &self.region {
            Some(r) => format!("{} ({r})", self.label()),
            None => self.label(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    SecretsManager,
    /// A HashiCorp Vault (or OpenBao) KV version 2 secret: `name` is `mount/path`.
    Vault,
    /// An AWS SSM Parameter Store parameter: `name` is its full name (`/prod/ai/key`).
    Ssm,
    Braintrust,
    /// A GitHub Actions secret (write-only): `name` is `owner/repo`, or
    /// `owner/repo/environments/ENV` for an environment's secret; `field` is the secret's name.
    GithubActions,
    IamUser,
    Kubernetes,
    EnvFile,
    /// A copy `scope.disk` found in a working tree: `name` is `path:line`. Fixed by hand.
    File,
    /// A copy `scope.disk` found in git history: `name` is `repository@commit path:line`.
    /// Fixed by hand (it stays in every clone: the key's revocation is the fix).
    GitHistory,
    Other,
}

impl LocationKind {
    pub fn short(self) -> &'static str {
        match self {
            LocationKind::SecretsManager => "sm",
            LocationKind::Vault => "vault",
            LocationKind::Ssm => "ssm",
            LocationKind::Braintrust => "braintrust",
            LocationKind::GithubActions => "gha",
            LocationKind::IamUser => "iam",
            LocationKind::Kubernetes => "k8s",
            LocationKind::EnvFile => "env",
            LocationKind::File => "file",
            LocationKind::GitHistory => "git",
            LocationKind::Other => "other",
        }
    }

    /// Whether breachbook leaves this copy to the responder: found on disk, never rewritten
    /// (propagation says so instead; revocation does not wait for it).
    pub fn by_hand(self) -> bool {
        matches!(self, LocationKind::File | LocationKind::GitHistory)
    }

    /// Whether a new key can be staged here as a version of its own before it is used
    /// (Secrets Manager's `AWSPENDING`, a Vault KV v2 version written with check-and-set, an SSM
    /// parameter version with breachbook's label).
    pub fn stages(self) -> bool {
        matches!(
            self,
            LocationKind::SecretsManager | LocationKind::Vault | LocationKind::Ssm
        )
    }
}

/// Which generation of a credential a usage sample is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyGeneration {
    Old,
    New,
}

/// Calls made with one key during one minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageSample {
    pub credential: String,
    pub generation: KeyGeneration,
    /// Start of the minute.
    pub minute: DateTime<Utc>,
    pub ok: u32,
    pub denied: u32,
    /// Where calls came from (service names or addresses), most calls first.
    #[serde(default)]
    pub sources: Vec<String>,
}

/// The word that confirms destroying the key `key_id` (this credential's old key, or another
/// key of the same owner deleted to make room): its last 4 characters, lower-cased.
pub fn confirmation_word(key_id: &str) -> String {
    let chars: Vec<char> = key_id.chars().collect();
    let start = chars.len().saturating_sub(4);
    chars[start..].iter().collect::<String>().to_lowercase()
}

/// Masks a secret value to a hint: the first 3 characters, an ellipsis and the last 4.
/// Short values are masked entirely.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 12 {
        return "…".to_string();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// A hint from a provider's redacted display of a key (`sk-abc*****wxyz`, `sk-ant-api03-R2D...igAA`):
/// the first 3 characters, an ellipsis and the last (up to) 4 visible characters — the same
/// shape as [`mask`], so a stored copy and the issuer's record of one key can be matched.
pub fn hint_from_redacted(redacted: &str) -> String {
    let is_gap = |c: char| c == '*' || c == '.' || c == '…' || c == '•';
    let chars: Vec<char> = redacted.trim().chars().collect();
    let Some(first_gap) = chars.iter().position(|c| is_gap(*c)) else {
        return mask(redacted);
    };
    let last_gap = chars.iter().rposition(|c| is_gap(*c)).unwrap_or(first_gap);
    let head: String = chars[..first_gap.min(3)].iter().collect();
    let tail_all = &chars[last_gap + 1..];
    let tail: String = tail_all[tail_all.len().saturating_sub(4)..]
        .iter()
        .collect();
    format!("{head}…{tail}")
}

/// Whether two hints can be the same key: same head, and the shorter visible tail (at least
/// 3 characters) ends the longer one. Hints are not proof — callers merge only unambiguous
/// matches.
pub fn hints_match(a: &str, b: &str) -> bool {
    let split = |h: &str| -> Option<(String, String)> {
        let (head, tail) = h.split_once('…')?;
        Some((head.to_string(), tail.to_string()))
    };
    let (Some((ha, ta)), Some((hb, tb))) = (split(a), split(b)) else {
        return false;
    };
    let (short, long) = if ta.chars().count() <= tb.chars().count() {
        (&ta, &tb)
    } else {
        (&tb, &ta)
    };
    ha == hb && short.chars().count() >= 3 && long.ends_with(short.as_str())
}

/// Keyed fingerprint of a secret value (HMAC-SHA256, first 12 hex characters): correlates
/// copies of one key across stores without keeping the value. `key` is per incident.
pub fn fingerprint(key: &[u8], value: &str) -> String {
    use hmac::{Hmac, Mac};
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(value.as_bytes());
    hex::encode(mac.finalize().into_bytes())[..12].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_only_a_hint() {
        assert_eq!(mask("sk-test-0123456789abcdef"), "sk-…cdef");
        assert_eq!(mask("short"), "…");
    }

    #[test]
    fn redacted_displays_become_comparable_hints() {
        assert_eq!(hint_from_redacted("sk-abc*****wxyz"), "sk-…wxyz");
        assert_eq!(hint_from_redacted("sk-ant-api03-R2D...igAA"), "sk-…igAA");
        assert!(hints_match(&mask("sk-test-0123456789wxyz"), "sk-…wxyz"));
        assert!(hints_match("sk-…xyz", "sk-…wxyz"));
        assert!(!hints_match("sk-…wxyz", "sk-…wxya"));
        assert!(!hints_match("AKI…wxyz", "sk-…wxyz"));
        assert!(!hints_match("…", "…"));
    }
}
