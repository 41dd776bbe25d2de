//! Who made a key created during the exposure window, what else the makers left (users,
//! login profiles, policies, trust changes), and the verdict on such a key: **suspect**
//! unless its creator is this incident's responder, a known automation identity
//! (`scope.known_creators`) or breachbook itself.
//!
//! Pure. Depends on the incident model and the runbook schema only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The identity that made something, as the issuer's audit log recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creator {
    /// The caller: an ARN (`arn:aws:iam::123456789012:user/ci`, `…:assumed-role/Deploy/s`),
    /// or the issuer's user / key id where there are no ARNs.
    pub identity: String,
    /// The kind of identity as logged (`IAMUser`, `AssumedRole`, `Root`, `session`,
    /// `api_key`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Where the call came from (`sourceIPAddress`, the audit log's `ip_address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// When the call was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// The non-secret id of the credential the call was signed with (an access key id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_key: Option<String>,
    /// The logged event (`CreateAccessKey`, `api_key.created`…).
    pub event: String,
}

impl Creator {
    /// One line for people: `arn:aws:iam::1:user/x from 203.0.113.9 at 2026-…`.
    pub fn describe(&self) -> String {
        let mut s = self.identity.clone();
        if let Some(ip) = &self.source_ip {
            s.push_str(" from ");
            s.push_str(ip);
        }
        if let Some(at) = self.at {
            s.push_str(&format!(" at {}", at.format("%Y-%m-%d %H:%M:%SZ")));
        }
        s
    }
}

/// What the audit log says about who made one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "found")]
pub enum Provenance {
    /// The event that created the key was found.
    Creator { creator: Creator },
    /// The creator could not be determined, and why (no CloudTrail access, the event is not
    /// in the log, the issuer keeps no such record…).
    Unknown { why: String },
}

/// Something an identity made during the window that lets it back in: a user, a login
/// profile, a policy, a changed role trust. Listed for review; breachbook does not undo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistenceFinding {
    /// The issuer (`iam`, `openai`…), as its label.
    pub issuer: String,
    /// What was done, as logged (`CreateLoginProfile`, `service_account.created`…).
    pub action: String,
    /// What it was done to (user name, role name, project…).
    pub target: String,
    pub creator: Creator,
}

impl PersistenceFinding {
    /// Identity of the finding in the incident (two lookups find it once).
    pub fn key(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.issuer,
            self.action,
            self.target,
            self.creator.at.map(|t| t.to_rfc3339()).unwrap_or_default()
        )
    }
}

/// Whether a key or finding created during the window needs a person's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// Made by someone breachbook cannot vouch for: revoke it, or mark it known.
    Suspect { why: String },
    /// Made by the responder, a known automation identity or breachbook, or marked known
    /// by a person: why.
    Known { why: String },
}

impl Verdict {
    pub fn is_suspect(&self) -> bool {
        matches!(self, Verdict::Suspect { .. })
    }

    pub fn why(&self) -> &str {
        match self {
            Verdict::Suspect { why } | Verdict::Known { why } => why,
        }
    }
}

/// Who breachbook vouches for: the responder's cloud identity and `scope.known_creators`.
#[derive(Debug, Clone, Copy)]
pub struct Vouched<'a> {
    pub responder: Option<&'a str>,
    pub known_creators: &'a [String],
}

impl Vouched<'_> {
    /// Why `creator` is vouched for, or `None` when it is not.
    pub fn vouch(&self, creator: &Creator) -> Option<String> {
        let id = creator.identity.as_str();
        if let Some(me) = self.responder
            && same_identity(me, id)
        {
            return Some(format!("created by this incident's responder ({id})"));
        }
        let role = role_arn(id);
        let name = short_name(id);
        self.known_creators
            .iter()
            .find(|p| glob(p, id) || role.as_deref().is_some_and(|r| glob(p, r)) || glob(p, name))
            .map(|p| format!("created by {id}, a known creator (scope.known_creators: {p})"))
    }

    /// The verdict on a key created during the window whose maker is `provenance` (`None`:
    /// never looked up).
    pub fn judge(&self, provenance: Option<&Provenance>) -> Verdict {
        match provenance {
            None => Verdict::Suspect {
                why: "created during the exposure window; who created it was not looked up (no audit log of this issuer is read)".into(),
            },
            Some(Provenance::Unknown { why }) => Verdict::Suspect {
                why: format!("created during the exposure window by an unknown creator: {why}"),
            },
            Some(Provenance::Creator { creator }) => match self.vouch(creator) {
                Some(why) => Verdict::Known { why },
                None => Verdict::Suspect {
                    why: format!(
                        "created during the exposure window by {}, neither this incident's responder nor a known creator",
                        creator.describe()
                    ),
                },
            },
        }
    }
}

/// Whether two caller identities are the same principal: equal ARNs, or two sessions of
/// one assumed role.
fn same_identity(a: &str, b: &str) -> bool {
    // The exact identity only: another session of the responder's role is not the
    // responder. The attacker inside the account may hold that very role; a runbook that
    // trusts the role names it in `scope.known_creators`.
    a == b
}

/// The role ARN of an assumed-role session ARN:
/// `arn:aws:sts::1:assumed-role/Deploy/s` → `arn:aws:iam::1:role/Deploy`.
pub fn role_arn(arn: &str) -> Option<String> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let partition = parts.next()?;
    let service = parts.next()?;
    let _region = parts.next()?;
    let account = parts.next()?;
    let resource = parts.next()?;
    let role = resource.strip_prefix("assumed-role/")?;
    let name = role.split('/').next().filter(|n| !n.is_empty())?;
    (service == "sts").then(|| format!("arn:{partition}:iam::{account}:role/{name}"))
}

/// The last name of an identity: the user or role name of an ARN, else the whole string.
/// For a session, the role's name.
fn short_name(id: &str) -> &str {
    let resource = id.rsplit(':').next().unwrap_or(id);
    if let Some(role) = resource.strip_prefix("assumed-role/") {
        return role.split('/').next().unwrap_or(role);
    }
    resource.rsplit('/').next().unwrap_or(resource)
}

/// A glob of `*` (any run of characters) and `?` (one character); everything else literal.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by(identity: &str) -> Provenance {
        Provenance::Creator {
            creator: Creator {
                identity: identity.into(),
                kind: None,
                source_ip: Some("203.0.113.9".into()),
                at: None,
                with_key: None,
                event: "CreateAccessKey".into(),
            },
        }
    }

    #[test]
    fn globs_match_whole_strings() {
        assert!(glob(
            "arn:aws:iam::*:role/ci-*",
            "arn:aws:iam::1:role/ci-deploy"
        ));
        assert!(glob("terraform", "terraform"));
        assert!(!glob("terraform", "terraform-x"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a*d", "abc"));
        assert!(glob("*", ""));
    }

    #[test]
    fn sessions_of_a_known_role_are_known() {
        let known = vec!["arn:aws:iam::111122223333:role/ci-*".to_string()];
        let v = Vouched {
            responder: None,
            known_creators: &known,
        };
        let verdict = v.judge(Some(&by(
            "arn:aws:sts::111122223333:assumed-role/ci-rotator/job-42",
        )));
        assert!(!verdict.is_suspect(), "{verdict:?}");
        let by_name = Vouched {
            responder: None,
            known_creators: &["ci-rotator".to_string()],
        };
        assert!(
            !by_name
                .judge(Some(&by(
                    "arn:aws:sts::111122223333:assumed-role/ci-rotator/job-42"
                )))
                .is_suspect()
        );
    }

    #[test]
    fn strangers_unknown_and_unlooked_are_suspect() {
        let known = vec!["ci-*".to_string()];
        let v = Vouched {
            responder: Some("arn:aws:sts::1:assumed-role/Responder/alice"),
            known_creators: &known,
        };
        let s = v.judge(Some(&by("arn:aws:iam::1:user/backup-svc")));
        assert!(s.is_suspect());
        assert!(s.why().contains("203.0.113.9"), "{}", s.why());
        let u = v.judge(Some(&Provenance::Unknown {
            why: "CloudTrail refused LookupEvents".into(),
        }));
        assert!(u.is_suspect() && u.why().contains("CloudTrail refused"));
        assert!(v.judge(None).is_suspect());
        // The responder's own session is vouched for; another session of the same role is
        // not (the attacker may hold that role too).
        assert!(
            !v.judge(Some(&by("arn:aws:sts::1:assumed-role/Responder/alice")))
                .is_suspect()
        );
        assert!(
            v.judge(Some(&by("arn:aws:sts::1:assumed-role/Responder/bob")))
                .is_suspect()
        );
    }

    #[test]
    fn role_arns_of_sessions() {
        assert_eq!(
            role_arn("arn:aws:sts::1:assumed-role/Deploy/s").as_deref(),
            Some("arn:aws:iam::1:role/Deploy")
        );
        assert_eq!(role_arn("arn:aws:iam::1:user/x"), None);
        assert_eq!(short_name("arn:aws:iam::1:user/path/x"), "x");
    }
}
