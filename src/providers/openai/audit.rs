//! Who made the OpenAI keys created during the exposure window, and the service accounts
//! and project memberships made there, from the organization's audit log
//! ([`OpenAiAuditLog`], a [`CreatorLog`]).
//!
//! The contract (openai/openai-openapi@f85dbe223d40e1a31cba812ab2d755c7e98a92a3
//! openapi.yaml, `list-audit-logs`, L9455): `GET /v1/organization/audit_logs` with the Admin
//! API key; `effective_at` (Unix seconds; `gte` here, sent bracketed as
//! `effective_at[gte]` the way OpenAI's clients send the object), `event_types[]` (values of
//! `AuditLogEventType`, L30199), `limit` 1..100 and the cursor `after` (the last id of the
//! previous page); the answer is `ListAuditLogsResponse` (L42770: `data`, `has_more`,
//! `last_id`) of `AuditLog` (L29298: `id`, `type`, `effective_at`, `project {id, name}`,
//! `actor`, and the event's own object under the key named by its type, e.g.
//! `"api_key.created": {id, data: {scopes}}` whose `id` is the key's id). `AuditLogActor`
//! (L30142) is `type` `session` (`session.user {id, email}`, `session.ip_address`) or
//! `api_key` (`api_key.id`, its tracking id; `api_key.type` `user` with `user`, or
//! `service_account` with `service_account.id`). The route documents 200 and 429
//! (`TooManyRequests`, `Retry-After` optional) only.
//!
//! What the spec does not say and the API reference does ("Audit Logs", the endpoint's
//! introduction; the same words in OpenAI's SDK docs): logging must be activated in the
//! organization's settings (Data controls), cannot be deactivated afterwards, and records
//! nothing from before it was activated. So an event not found is a creator that cannot be
//! told, never a creator cleared; and a refused read (the reference documents no error
//! answer: any 4xx is taken as "cannot read", 401/403 as logging off or the key lacking
//! access) makes every OpenAI key of the window a suspect whose creator is unknown, with
//! why. 429 and 5xx are retried with backoff (honouring `Retry-After`), as the engine
//! retries the other OpenAI calls.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::{MAX_PAGES, PAGE, PROVIDER, VENDOR};
use crate::incident::model::Credential;
use crate::incident::ports::{
    Clock, CreatorFindings, CreatorLog, ProviderError, ProviderResult, WallClock,
};
use crate::incident::provenance::{Creator, PersistenceFinding, Provenance};
use crate::providers::http::{AdminApi, HttpConfig};
use crate::runbook::schema::{ExposureWindow, Issuer};

/// The event whose object's `id` is the id of the key made.
pub const KEY_CREATED: &str = "api_key.created";

/// The events that let an identity back in besides a key: a new service account, a user
/// added to a project, a role given to a user or group (`AuditLogEventType`).
pub const PERSISTENCE_EVENTS: [&str; 3] = [
    "service_account.created",
    "user.added",
    "role.assignment.created",
];

/// Attempts per page when OpenAI throttles or fails (as the engine's default).
const DEFAULT_ATTEMPTS: u32 = 5;
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// Where an operator turns the audit log on.
const TURN_ON: &str = "turn on audit logging at platform.openai.com → Settings → Organization → Data controls (it records only from then on), and use an Admin API key that may read audit logs";

/// `ListAuditLogsResponse`.
#[derive(Deserialize)]
struct Page {
    data: Vec<Value>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    last_id: Option<String>,
}

/// OpenAI's organization audit log as the record of who made keys and persistence.
#[derive(Clone)]
pub struct OpenAiAuditLog {
    admin: AdminApi,
    clock: Arc<dyn Clock>,
    initial_backoff: Duration,
    max_attempts: u32,
}

impl std::fmt::Debug for OpenAiAuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiAuditLog")
            .field("admin", &self.admin)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl OpenAiAuditLog {
    /// The audit log at `base_url` (e.g. `https://api.openai.com`), read with `admin_key`.
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        admin_key: Option<secrecy::SecretString>,
    ) -> Self {
        Self::with_api(AdminApi::new(&VENDOR, client, base_url, admin_key))
    }

    /// From the shared configuration ([`HttpConfig::from_env`]).
    pub fn from_config(cfg: &HttpConfig) -> Self {
        Self::with_api(cfg.admin_api(&VENDOR))
    }

    fn with_api(admin: AdminApi) -> Self {
        OpenAiAuditLog {
            admin,
            clock: Arc::new(WallClock),
            initial_backoff: Duration::from_secs(1),
            max_attempts: DEFAULT_ATTEMPTS,
        }
    }

    /// The incident's clock, for waiting between attempts.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The first wait after a throttled or failed page, and the attempts per page (default
    /// 1 s and 5).
    pub fn with_backoff(mut self, initial: Duration, max_attempts: u32) -> Self {
        self.initial_backoff = initial;
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// Every event of `types` effective at or after `since`, oldest page first as OpenAI
    /// gives them.
    pub async fn events(&self, types: &[&str], since: DateTime<Utc>) -> ProviderResult<Vec<Value>> {
        self.admin.key()?;
        let gte = since.timestamp().max(0).to_string();
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query: Vec<(&str, &str)> =
                vec![("limit", PAGE), ("effective_at[gte]", gte.as_str())];
            query.extend(types.iter().map(|t| ("event_types[]", *t)));
            if let Some(a) = after.as_deref() {
                query.push(("after", a));
            }
            let page = self.page(&query).await?;
            let next = page.last_id.clone();
            out.extend(page.data);
            match next {
                Some(n) if page.has_more && after.as_deref() != Some(n.as_str()) => after = Some(n),
                _ => break,
            }
        }
        Ok(out)
    }

    /// One page, retried while OpenAI throttles or fails.
    async fn page(&self, query: &[(&str, &str)]) -> ProviderResult<Page> {
        let what = "the organization audit log";
        let mut delay = self.initial_backoff;
        let mut attempt = 1;
        loop {
            let sent = self
                .admin
                .call(
                    Method::GET,
                    "/v1/organization/audit_logs",
                    query,
                    None,
                    what,
                )
                .await;
            match sent {
                Ok(raw) => return self.admin.api.parse(&raw, what),
                Err(e) if e.is_retryable() && attempt < self.max_attempts => {
                    let wait = e.retry_after().unwrap_or(delay).min(MAX_BACKOFF);
                    tracing::debug!(
                        provider = PROVIDER,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "audit log page failed ({e}); backing off"
                    );
                    self.clock.sleep(wait).await;
                    delay = (delay * 2).min(MAX_BACKOFF);
                    attempt += 1;
                }
                Err(ProviderError::Auth { message, .. }) => {
                    return Err(ProviderError::Auth {
                        provider: PROVIDER.into(),
                        message: format!(
                            "the organization audit log could not be read ({message}); audit logging may be off or the admin key may lack access: {TURN_ON}"
                        ),
                    });
                }
                Err(ProviderError::NotFound { .. }) => {
                    return Err(ProviderError::Unsupported {
                        provider: PROVIDER.into(),
                        message: format!(
                            "the organization audit log is not there (404) at {}; check BREACHBOOK_OPENAI_BASE_URL, or {TURN_ON}",
                            self.admin.api.base
                        ),
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A string at `path` in `v`, when it is a non-empty string.
fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// The identity that made an `AuditLog` entry, as `AuditLogActor` names it.
fn creator(entry: &Value, event: &str) -> Creator {
    let actor = entry.get("actor").unwrap_or(&Value::Null);
    let at = entry
        .get("effective_at")
        .and_then(Value::as_i64)
        .and_then(|t| DateTime::from_timestamp(t, 0));
    let user = |u: &[&str]| {
        let mut email = u.to_vec();
        email.push("email");
        let mut id = u.to_vec();
        id.push("id");
        text(actor, &email).or_else(|| text(actor, &id))
    };
    let (identity, kind, source_ip, with_key) = match text(actor, &["type"]).as_deref() {
        Some("session") => (
            user(&["session", "user"][..]),
            "session".to_string(),
            text(actor, &["session", "ip_address"]),
            None,
        ),
        Some("api_key") => {
            let key = text(actor, &["api_key", "id"]);
            match text(actor, &["api_key", "type"]).as_deref() {
                Some("service_account") => (
                    text(actor, &["api_key", "service_account", "id"]),
                    "service account's API key".to_string(),
                    None,
                    key,
                ),
                _ => (
                    user(&["api_key", "user"][..]),
                    "user's API key".to_string(),
                    None,
                    key,
                ),
            }
        }
        _ => (None, "unknown".to_string(), None, None),
    };
    Creator {
        identity: identity
            .or_else(|| with_key.as_ref().map(|k| format!("API key {k}")))
            .unwrap_or_else(|| "an actor OpenAI's audit log did not name".to_string()),
        kind: Some(kind),
        source_ip,
        at,
        with_key,
        event: event.to_string(),
    }
}

/// What a persistence event was done to, in words.
fn target(entry: &Value, event: &str) -> String {
    let o = entry.get(event).unwrap_or(&Value::Null);
    let id = text(o, &["id"]).unwrap_or_else(|| "?".into());
    let project = text(entry, &["project", "name"])
        .or_else(|| text(entry, &["project", "id"]))
        .map(|p| format!(" of project {p}"))
        .unwrap_or_default();
    let role = text(o, &["data", "role"])
        .map(|r| format!(" as {r}"))
        .unwrap_or_default();
    match event {
        "service_account.created" => format!("service account {id}{project}{role}"),
        "user.added" => format!("user {id} added{project}{role}"),
        "role.assignment.created" => format!(
            "role assignment {id}: {} {} on {} {}",
            text(o, &["principal_type"]).unwrap_or_else(|| "principal".into()),
            text(o, &["principal_id"]).unwrap_or_else(|| "?".into()),
            text(o, &["resource_type"]).unwrap_or_else(|| "resource".into()),
            text(o, &["resource_id"]).unwrap_or_else(|| "?".into()),
        ),
        _ => format!("{id}{project}"),
    }
}

#[async_trait]
impl CreatorLog for OpenAiAuditLog {
    async fn look_up(
        &self,
        window: &ExposureWindow,
        created: &[Credential],
    ) -> ProviderResult<CreatorFindings> {
        let since = window.start;
        let mut types = vec![KEY_CREATED];
        types.extend(PERSISTENCE_EVENTS);
        let events = self.events(&types, since).await?;
        let mut keys: HashMap<String, Creator> = HashMap::new();
        let mut accounts: HashMap<String, Creator> = HashMap::new();
        let mut persistence = Vec::new();
        for entry in &events {
            let Some(event) = text(entry, &["type"]) else {
                continue;
            };
            let Some(id) = text(entry, &[event.as_str(), "id"]) else {
                continue;
            };
            let who = creator(entry, &event);
            if event == KEY_CREATED {
                keys.insert(id, who);
                continue;
            }
            if !PERSISTENCE_EVENTS.contains(&event.as_str()) {
                continue;
            }
            if event == "service_account.created" {
                accounts.insert(id, who.clone());
            }
            persistence.push(PersistenceFinding {
                issuer: Issuer::Openai.label().to_string(),
                action: event.clone(),
                target: target(entry, &event),
                creator: who,
            });
        }
        let mut creators = Vec::new();
        for c in created.iter().filter(|c| c.issuer == Issuer::Openai) {
            // A service account's first key comes with the account (one call makes both):
            // whoever made the account made the key.
            let by_account = c
                .meta
                .get("service_account_id")
                .and_then(|sa| accounts.get(sa));
            let p = match keys.get(&c.key_id).or(by_account) {
                Some(creator) => Provenance::Creator {
                    creator: creator.clone(),
                },
                None => Provenance::Unknown {
                    why: format!(
                        "OpenAI's audit log (since {}) has no api_key.created event for {} ({}); it records only what happened after audit logging was turned on",
                        since.format("%Y-%m-%d %H:%M"),
                        c.hint,
                        c.key_id
                    ),
                },
            };
            creators.push((c.id.clone(), p));
        }
        persistence.sort_by_key(|f| f.creator.at);
        Ok(CreatorFindings {
            creators,
            persistence,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn actors_become_creators() {
        let session = json!({"id": "audit_log-1", "type": "api_key.created", "effective_at": 1_764_640_000,
            "actor": {"type": "session", "session": {"user": {"id": "user-x", "email": "eve@example.net"},
                      "ip_address": "203.0.113.9"}},
            "api_key.created": {"id": "key_abc", "data": {"scopes": []}}});
        let c = creator(&session, "api_key.created");
        assert_eq!(c.identity, "eve@example.net");
        assert_eq!(c.source_ip.as_deref(), Some("203.0.113.9"));
        assert!(c.at.is_some());
        let sa = json!({"type": "service_account.created", "effective_at": 1,
            "actor": {"type": "api_key", "api_key": {"id": "key_track", "type": "service_account",
                      "service_account": {"id": "svc_acct_ci"}}},
            "project": {"id": "proj_1", "name": "Prod"},
            "service_account.created": {"id": "svc_acct_new", "data": {"role": "owner"}}});
        let c = creator(&sa, "service_account.created");
        assert_eq!(c.identity, "svc_acct_ci");
        assert_eq!(c.with_key.as_deref(), Some("key_track"));
        assert_eq!(
            target(&sa, "service_account.created"),
            "service account svc_acct_new of project Prod as owner"
        );
        let none = json!({"type": "user.added", "actor": null, "user.added": {"id": "user-y"}});
        assert_eq!(
            creator(&none, "user.added").identity,
            "an actor OpenAI's audit log did not name"
        );
    }
}
