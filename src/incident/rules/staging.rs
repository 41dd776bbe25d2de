//! The unit of staging is the store's version, not the credential: Secrets Manager keeps one
//! `AWSPENDING` version per secret (a second `PutSecretValue` with that label takes it off
//! the first, which then drops out of the secret's versions), so every new key whose primary
//! store is the same secret goes into ONE pending version, verified and promoted once.
//!
//! Here, as pure functions of the state: which keys are staged together ([`group_of`],
//! [`groups`]), the pending version a re-stage builds on ([`pending_base`]), whether a group
//! may be promoted ([`may_promote`]), and the `ClientRequestToken` of a staged version
//! ([`stage_token`]), by which breachbook also recognises its own pending versions
//! ([`is_ours`]). Depends on the state, the model and the rotation stages.

use crate::incident::model::Location;
use crate::incident::rotation::{RotationState, Stage};
use crate::incident::state::{CredentialState, IncidentState};

/// The secret a credential's new key is staged in: its primary store, without the field.
pub fn staging_secret(c: &CredentialState) -> Option<Location> {
    c.credential.primary_store().map(|l| Location {
        field: None,
        changed: None,
        ..l.clone()
    })
}

/// The identity of the secret a credential's new key is staged in.
fn secret_of(c: &CredentialState) -> Option<String> {
    c.credential.primary_store().map(Location::secret_key)
}

/// Every credential staged in the same secret as `id` (itself included), in inventory
/// order; empty when `id` is unknown, just itself when it has no staging store.
pub fn group_of<'a>(state: &'a IncidentState, id: &str) -> Vec<&'a CredentialState> {
    let Some(me) = state.credential(id) else {
        return Vec::new();
    };
    let Some(secret) = secret_of(me) else {
        return vec![me];
    };
    state
        .credentials
        .iter()
        .filter(|c| secret_of(c).as_deref() == Some(secret.as_str()))
        .collect()
}

/// `creds` split by the secret their new keys are staged in, in the order each secret first
/// appears; a credential without a staging store is a group of its own.
pub fn groups(creds: Vec<&CredentialState>) -> Vec<Vec<&CredentialState>> {
    let mut out: Vec<(Option<String>, Vec<&CredentialState>)> = Vec::new();
    for c in creds {
        let key = secret_of(c);
        match out.iter_mut().find(|(k, _)| key.is_some() && *k == key) {
            Some((_, members)) => members.push(c),
            None => out.push((key, vec![c])),
        }
    }
    out.into_iter().map(|(_, m)| m).collect()
}

/// Whether `c`'s new key sits in a pending version that is not promoted yet.
fn holds_pending(c: &CredentialState) -> bool {
    c.staged_version.is_some()
        && c.rotation.reached() >= Stage::Staged
        && !c.stamps.contains_key(&Stage::Promoted)
        && !matches!(c.rotation, RotationState::Skipped { .. })
}

/// The pending version breachbook staged for the secret of `id` and has not promoted yet (a
/// re-stage builds on it, so the keys already in it stay), and the keys whose new values
/// it holds.
pub fn pending_base(state: &IncidentState, id: &str) -> Option<(String, Vec<String>)> {
    let members = group_of(state, id);
    let version = members
        .iter()
        .filter(|c| holds_pending(c))
        .filter_map(|c| c.staged_version.clone())
        .next_back()?;
    let holders = members
        .iter()
        .filter(|c| holds_pending(c) && c.staged_version.as_deref() == Some(version.as_str()))
        .map(|c| c.credential.id.clone())
        .collect();
    Some((version, holders))
}

/// Whether the secret of `id` may be promoted now: every key of it still in the rotation and
/// not promoted yet is verified (the pending version is promoted once, for all of them).
/// Err names the keys it waits for.
pub fn may_promote(state: &IncidentState, id: &str) -> Result<(), Vec<String>> {
    let waiting: Vec<String> = group_of(state, id)
        .into_iter()
        .filter(|c| c.in_rotation())
        .filter(|c| !c.stamps.contains_key(&Stage::Promoted))
        .filter(|c| !c.stamps.contains_key(&Stage::Verified))
        .map(|c| c.credential.name.clone())
        .collect();
    if waiting.is_empty() {
        Ok(())
    } else {
        Err(waiting)
    }
}

/// The short tag of an incident in breachbook's version ids.
fn incident_tag(incident: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(incident.as_bytes()))[..10].to_string()
}

/// Prefix of every version id breachbook stages in this incident.
fn our_prefix(incident: &str) -> String {
    format!("breachbook-{}-", incident_tag(incident))
}

/// The `ClientRequestToken` (32–64 characters, it becomes the version id) of the pending
/// version of `secret` that holds `keys` (credential id, new key id) on top of `base`: the
/// same keys give the same token, so a retry after a crash finds the version it wrote; new
/// keys give a new one. It starts with this incident's tag ([`is_ours`]).
pub fn stage_token(
    incident: &str,
    secret: &str,
    base: Option<&str>,
    keys: &[(String, String)],
) -> String {
    use sha2::{Digest, Sha256};
    let mut keys = keys.to_vec();
    keys.sort();
    let mut h = Sha256::new();
    for part in [incident, secret, base.unwrap_or("")] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for (c, k) in &keys {
        h.update(c.as_bytes());
        h.update([1]);
        h.update(k.as_bytes());
        h.update([0]);
    }
    format!(
        "{}{}",
        our_prefix(incident),
        &hex::encode(h.finalize())[..24]
    )
}

/// Whether a version id is one breachbook staged in this incident (journaled or not: a crash
/// may come between the write and its record).
pub fn is_ours(incident: &str, version: &str) -> bool {
    version.starts_with(&our_prefix(incident))
}

/// Whether a version id looks like one an earlier breachbook incident staged.
pub fn is_breachbook(version: &str) -> bool {
    version.starts_with("breachbook-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_fit_secrets_manager_and_say_whose_they_are() {
        let keys = vec![
            ("openai/a".to_string(), "key_1".to_string()),
            ("anthropic/a".to_string(), "key_2".to_string()),
        ];
        let t = stage_token("inc-1", "sm:1/us-east-1/prod/ai/x", None, &keys);
        assert!((32..=64).contains(&t.len()), "{t}");
        let mut reversed = keys.clone();
        reversed.reverse();
        assert_eq!(
            t,
            stage_token("inc-1", "sm:1/us-east-1/prod/ai/x", None, &reversed)
        );
        assert_ne!(
            t,
            stage_token("inc-1", "sm:1/eu-west-1/prod/ai/x", None, &keys)
        );
        assert_ne!(
            t,
            stage_token("inc-1", "sm:1/us-east-1/prod/ai/x", Some(&t), &keys)
        );
        assert!(is_ours("inc-1", &t));
        assert!(!is_ours("inc-2", &t));
        assert!(is_breachbook(&t));
        assert!(!is_breachbook("a1b2c3d4-0000-4000-8000-000000000000"));
    }
}
