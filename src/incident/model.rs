//! Credentials, where their copies live, and usage observations.

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
}

impl Credential {
    /// The word the operator types to confirm revoking this key: the last 4 characters
    /// of its key id, lower-cased.
    pub fn confirmation_word(&self) -> String {
        let chars: Vec<char> = self.key_id.chars().collect();
        let start = chars.len().saturating_sub(4);
        chars[start..].iter().collect::<String>().to_lowercase()
    }

    /// The location where a new key is staged first (the first secrets-manager copy).
    pub fn primary_store(&self) -> Option<&Location> {
        self.locations
            .iter()
            .find(|l| l.kind == LocationKind::SecretsManager)
    }
}

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    SecretsManager,
    Braintrust,
    IamUser,
    Kubernetes,
    EnvFile,
    Other,
}

impl LocationKind {
    pub fn short(self) -> &'static str {
        match self {
            LocationKind::SecretsManager => "sm",
            LocationKind::Braintrust => "braintrust",
            LocationKind::IamUser => "iam",
            LocationKind::Kubernetes => "k8s",
            LocationKind::EnvFile => "env",
            LocationKind::Other => "other",
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_only_a_hint() {
        assert_eq!(mask("sk-test-0123456789abcdef"), "sk-…cdef");
        assert_eq!(mask("short"), "…");
    }
}
