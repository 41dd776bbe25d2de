//! Stateful fakes of the AI providers, Google Cloud and Braintrust on wiremock, built from
//! the vendors' published contracts (the short names are tests/support/contract.rs's: `OAI`,
//! `ANT`, `GAK`, `GL`, `GOA`, `BT`). One `MockServer` per service, each answered by one
//! [`wiremock::Respond`] that routes by method and path over a shared [`State`]: keys minted,
//! deleted or deactivated here stay so, a key works exactly while it is live, and every
//! route, query parameter, body field and error answer says where it comes from. Where a
//! contract is silent and the fake must answer something, the comment says "assumed".
//!
//! The documented failure answers are here: OpenAI refuses to delete a service account's key
//! (`OAI delete-project-api-key`); Google answers a key it found leaked with a bare 403;
//! Braintrust's POST on an existing name returns the old object unmodified; 429 with and
//! without `Retry-After` ([`State::throttle`]); list pages follow their cursors
//! ([`State::page_cap`] makes every list page short, so they must be followed).
//!
//! Every request is recorded whole ([`State::recorded`]) for the contract check
//! (`contract::check`); a request the contract refuses is marked so. Tight on purpose: an admin
//! call without the right key, or a route the fake does not know, is answered with an error
//! and written down in [`State::problems`], which a test asserts is empty. Every value here is
//! an obviously fake test key.
//!
//! A test that uses it declares `mod contract;` (tests/support/contract.rs) at its root.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub use crate::contract::{Recorded, Vendor};

/// The Anthropic API version breachbook must name on every call (ANT api/versioning).
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The Google Cloud project of the fakes, and its number (Key names use the number:
/// GAK resources.proto "`projects/<PROJECT_NUMBER>/locations/global/keys/<KEY_ID>`").
pub const GOOGLE_PROJECT: &str = "example-prod";
pub const GOOGLE_PROJECT_NUMBER: &str = "123456789012";
/// The service account of the generated key file.
pub const GOOGLE_ACCOUNT: &str = "breachbook-test@example-prod.iam.gserviceaccount.com";
pub const GOOGLE_KEY_ID: &str = "fake-private-key-id-0001";
/// Google's words for a key it found leaked (continuedev/continue#10513 quotes the body).
pub const LEAKED_MESSAGE: &str = "Your API key was reported as leaked. Please use another API key.";
/// The org id the Braintrust fake answers with.
pub const BRAINTRUST_ORG_ID: &str = "11111111-1111-4111-8111-111111111111";

/// The admin credentials the fakes accept.
#[derive(Debug, Clone)]
pub struct AdminKeys {
    /// OpenAI Admin API key (`Authorization: Bearer`).
    pub openai: String,
    /// Anthropic Admin API key (`x-api-key`).
    pub anthropic: String,
    /// Braintrust API key (`Authorization: Bearer`): one of its API keys.
    pub braintrust: String,
    /// The Braintrust organization (`org_name`).
    pub braintrust_org: String,
}

/// An OpenAI project.
#[derive(Debug, Clone)]
pub struct OpenAiProject {
    pub id: String,
    pub name: String,
}

/// An OpenAI service account (`ProjectServiceAccount`).
#[derive(Debug, Clone)]
pub struct OpenAiServiceAccount {
    pub id: String,
    pub project: String,
    pub name: String,
    /// `owner`, `member` or `none`.
    pub role: String,
    pub created_at: i64,
    pub deleted: bool,
    /// Created through the fake (POST …/service_accounts).
    pub minted: bool,
}

/// An OpenAI project API key.
#[derive(Debug, Clone)]
pub struct OpenAiKey {
    pub id: String,
    pub project: String,
    pub name: String,
    pub value: String,
    /// `Some(service account id)` for a service-account key, `None` for a person's.
    pub service_account: Option<String>,
    pub created_at: i64,
    pub deleted: bool,
    /// Minted through the fake.
    pub minted: bool,
}

/// An Anthropic API key.
#[derive(Debug, Clone)]
pub struct AnthropicKey {
    pub id: String,
    pub name: String,
    pub value: String,
    /// `active`, `inactive` or `archived`.
    pub status: String,
    pub workspace_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A Google Cloud API key (GAK `Key`) that may call the Generative Language API.
#[derive(Debug, Clone)]
pub struct GoogleKey {
    /// `projects/<number>/locations/global/keys/<key id>`.
    pub name: String,
    pub uid: String,
    pub display_name: String,
    pub value: String,
    pub created: DateTime<Utc>,
    /// Set once deleted (by API or "in the console"): restorable for 30 days.
    pub deleted_at: Option<DateTime<Utc>>,
    pub restrictions: Value,
    /// Google found it leaked: it answers the bare 403.
    pub leaked: bool,
    /// Created through the API Keys fake.
    pub minted: bool,
}

impl GoogleKey {
    /// Whether it still works at the Generative Language API.
    pub fn alive(&self) -> bool {
        self.deleted_at.is_none() && !self.leaked
    }
}

/// A Braintrust org-level AI secret (BT `AISecret`).
#[derive(Debug, Clone)]
pub struct AiSecret {
    pub id: String,
    pub name: String,
    /// `openai`, `anthropic`, `google`…
    pub kind: String,
    pub value: String,
    pub created: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub secret_updated_at: DateTime<Utc>,
    pub metadata: Value,
    /// Writes that replaced this secret's value.
    pub writes: u32,
}

/// A Braintrust environment variable (BT `EnvVar`).
#[derive(Debug, Clone)]
pub struct EnvVar {
    pub id: String,
    /// `organization`, `project` or `function`.
    pub object_type: String,
    pub object_id: String,
    pub name: String,
    pub value: String,
    pub created: DateTime<Utc>,
    pub secret_updated_at: DateTime<Utc>,
    /// Writes that replaced its value.
    pub writes: u32,
}

/// A Braintrust API key (BT `ApiKey`); its value authenticates while it is not deleted.
#[derive(Debug, Clone)]
pub struct BraintrustKey {
    pub id: String,
    pub name: String,
    pub value: String,
    pub created: DateTime<Utc>,
    pub deleted: bool,
}

/// A 429 the next matching calls get.
#[derive(Debug, Clone)]
pub struct Throttle {
    pub vendor: Vendor,
    pub method: &'static str,
    pub path_prefix: String,
    pub times: u32,
    /// `Retry-After` to send (seconds), if any.
    pub retry_after: Option<u64>,
}

/// A long-running operation of the API Keys fake.
#[derive(Debug, Clone)]
struct Operation {
    /// The key it made or deleted.
    key: String,
    /// Polls left before it is done.
    polls_left: u32,
}

/// Everything the fakes know; shared by their responders.
#[derive(Debug)]
pub struct State {
    pub admin: AdminKeys,
    pub openai_projects: Vec<OpenAiProject>,
    pub openai_service_accounts: Vec<OpenAiServiceAccount>,
    pub openai_keys: Vec<OpenAiKey>,
    /// OpenAI usage: (report, key id, minute start) → calls counted in that report.
    pub openai_usage: BTreeMap<(String, String, i64), u64>,
    /// OpenAI costs: (key id, day start) → dollars.
    pub openai_costs: BTreeMap<(String, i64), f64>,
    /// OpenAI's organization audit log (OAI `AuditLog` entries), oldest first.
    pub openai_audit: Vec<Value>,
    /// Audit logging is off (or the admin key may not read it): the log answers this status.
    pub openai_audit_refused: Option<u16>,
    pub anthropic_keys: Vec<AnthropicKey>,
    /// Anthropic messages usage: (key id, minute start) → uncached input tokens.
    pub anthropic_usage: BTreeMap<(String, i64), u64>,
    pub google_keys: Vec<GoogleKey>,
    pub braintrust_secrets: Vec<AiSecret>,
    pub braintrust_env_vars: Vec<EnvVar>,
    pub braintrust_keys: Vec<BraintrustKey>,
    /// Every request, whole, for the contract check.
    pub recorded: Vec<Recorded>,
    /// Every call, as `Provider METHOD /path` (no query, no header, no body).
    pub calls: Vec<String>,
    /// Calls the fakes refused as malformed or unauthenticated, or did not know.
    pub problems: Vec<String>,
    /// Usage reports served with at least one bucket.
    pub usage_served: u32,
    /// At most this many items per list page (a service may answer fewer than `limit`).
    pub page_cap: usize,
    /// 429s to come.
    pub throttles: Vec<Throttle>,
    /// 429s sent, as `vendor METHOD /path (Retry-After …)`.
    pub throttled: Vec<String>,
    /// The next service account created is made at once but its answer held this long (an
    /// answer lost on the way: the caller does not know it was made).
    pub hold_service_account_create: Option<std::time::Duration>,
    /// The public key (PKCS#1 DER) of the service account's key file.
    google_public_key: Vec<u8>,
    /// Where the Google token endpoint is (the key file's `token_uri`).
    google_token_uri: String,
    google_tokens: Vec<String>,
    google_operations: BTreeMap<String, Operation>,
    minted: u32,
}

fn uuid(kind: u32, n: usize) -> String {
    format!("00000000-0000-4000-{:04x}-{n:012}", 0x8000 + kind)
}

impl State {
    fn new(admin: AdminKeys) -> State {
        let now = Utc::now();
        let braintrust_keys = vec![BraintrustKey {
            id: uuid(1, 1),
            name: "breachbook responder".into(),
            value: admin.braintrust.clone(),
            created: now - chrono::Duration::days(400),
            deleted: false,
        }];
        State {
            admin,
            openai_projects: Vec::new(),
            openai_service_accounts: Vec::new(),
            openai_keys: Vec::new(),
            openai_usage: BTreeMap::new(),
            openai_costs: BTreeMap::new(),
            openai_audit: Vec::new(),
            openai_audit_refused: None,
            anthropic_keys: Vec::new(),
            anthropic_usage: BTreeMap::new(),
            google_keys: Vec::new(),
            braintrust_secrets: Vec::new(),
            braintrust_env_vars: Vec::new(),
            braintrust_keys,
            recorded: Vec::new(),
            calls: Vec::new(),
            problems: Vec::new(),
            usage_served: 0,
            page_cap: usize::MAX,
            throttles: Vec::new(),
            throttled: Vec::new(),
            hold_service_account_create: None,
            google_public_key: Vec::new(),
            google_token_uri: String::new(),
            google_tokens: Vec::new(),
            google_operations: BTreeMap::new(),
            minted: 0,
        }
    }

    // ------------------------------------------------------------------ seeding

    /// Adds an OpenAI project.
    pub fn openai_project(&mut self, id: &str, name: &str) {
        self.openai_projects.push(OpenAiProject {
            id: id.into(),
            name: name.into(),
        });
    }

    /// Adds an OpenAI service account.
    pub fn openai_service_account(&mut self, project: &str, id: &str, name: &str, role: &str) {
        self.openai_service_accounts.push(OpenAiServiceAccount {
            id: id.into(),
            project: project.into(),
            name: name.into(),
            role: role.into(),
            created_at: Utc::now().timestamp() - 300 * 86_400,
            deleted: false,
            minted: false,
        });
    }

    /// Adds an OpenAI project key (`service_account`: its owner, which must exist; `None`
    /// for a person's key).
    pub fn openai_key(
        &mut self,
        project: &str,
        id: &str,
        name: &str,
        value: &str,
        service_account: Option<&str>,
    ) {
        if let Some(sa) = service_account {
            assert!(
                self.openai_service_accounts.iter().any(|s| s.id == sa),
                "seed the service account {sa} first"
            );
        }
        self.openai_keys.push(OpenAiKey {
            id: id.into(),
            project: project.into(),
            name: name.into(),
            value: value.into(),
            service_account: service_account.map(str::to_string),
            created_at: Utc::now().timestamp() - 200 * 86_400,
            deleted: false,
            minted: false,
        });
    }

    /// Sets when an OpenAI key was created (Unix seconds).
    pub fn openai_key_created(&mut self, id: &str, at: i64) {
        if let Some(k) = self.openai_keys.iter_mut().find(|k| k.id == id) {
            k.created_at = at;
        }
    }

    /// Writes an entry in OpenAI's audit log (OAI `AuditLog`, L29298): `event` is its
    /// `type`, `object` the event's own object (under the key named by the type), `actor` an
    /// `AuditLogActor` (see [`openai_session`], [`openai_admin_actor`]).
    pub fn openai_audit_event(
        &mut self,
        event: &str,
        at: i64,
        project: Option<&str>,
        actor: Value,
        object: Value,
    ) {
        let n = self.openai_audit.len() + 1;
        let mut entry = json!({"id": format!("audit_log-fake{n:04}_20261202"), "type": event,
            "effective_at": at, "actor": actor});
        if let Some(p) = project {
            let name = self
                .openai_projects
                .iter()
                .find(|x| x.id == p)
                .map(|x| x.name.clone())
                .unwrap_or_default();
            entry["project"] = json!({"id": p, "name": name});
        }
        entry[event] = object;
        self.openai_audit.push(entry);
    }

    /// Adds an Anthropic key.
    pub fn anthropic_key(&mut self, id: &str, name: &str, value: &str, status: &str) {
        self.anthropic_keys.push(AnthropicKey {
            id: id.into(),
            name: name.into(),
            value: value.into(),
            status: status.into(),
            workspace_id: Some("wrkspc_01EXAMPLE".into()),
            created_at: Utc::now() - chrono::Duration::days(120),
        });
    }

    /// Adds a live Google API key (made in the console), with Generative Language as its one
    /// API target. Returns its resource name.
    pub fn gemini_key(&mut self, value: &str) -> String {
        let n = self.google_keys.len() + 1;
        let name = format!(
            "projects/{GOOGLE_PROJECT_NUMBER}/locations/global/keys/{}",
            uuid(3, n)
        );
        self.google_keys.push(GoogleKey {
            name: name.clone(),
            uid: uuid(4, n),
            display_name: format!("gemini key {n}"),
            value: value.into(),
            created: Utc::now() - chrono::Duration::days(90),
            deleted_at: None,
            restrictions: json!({"apiTargets": [{"service": "generativelanguage.googleapis.com"}]}),
            leaked: false,
            minted: false,
        });
        name
    }

    /// Google found the key leaked: from now on it answers the bare 403.
    pub fn leak_gemini_key(&mut self, value: &str) {
        for k in self.google_keys.iter_mut().filter(|k| k.value == value) {
            k.leaked = true;
        }
    }

    /// "Deletes the key in the Google Cloud console". Returns whether the key was known.
    pub fn delete_gemini_key(&mut self, value: &str) -> bool {
        let mut found = false;
        for k in self.google_keys.iter_mut().filter(|k| k.value == value) {
            k.deleted_at.get_or_insert_with(Utc::now);
            found = true;
        }
        found
    }

    /// Adds a Braintrust AI secret last written at `changed`.
    pub fn braintrust_secret(
        &mut self,
        name: &str,
        kind: &str,
        value: &str,
        changed: DateTime<Utc>,
    ) {
        let n = self.braintrust_secrets.len() + 1;
        self.braintrust_secrets.push(AiSecret {
            id: uuid(2, n),
            name: name.into(),
            kind: kind.into(),
            value: value.into(),
            created: changed,
            updated_at: changed,
            secret_updated_at: changed,
            metadata: json!({"api_base": ""}),
            writes: 0,
        });
    }

    /// Adds a Braintrust environment variable of `object_type` `object_id`, last written at
    /// `changed`.
    pub fn braintrust_env_var(
        &mut self,
        object_type: &str,
        object_id: &str,
        name: &str,
        value: &str,
        changed: DateTime<Utc>,
    ) -> String {
        let n = self.braintrust_env_vars.len() + 1;
        let id = uuid(5, n);
        self.braintrust_env_vars.push(EnvVar {
            id: id.clone(),
            object_type: object_type.into(),
            object_id: object_id.into(),
            name: name.into(),
            value: value.into(),
            created: changed,
            secret_updated_at: changed,
            writes: 0,
        });
        id
    }

    /// Adds a Braintrust API key (made in its settings). Returns its id.
    pub fn braintrust_key(&mut self, name: &str, value: &str) -> String {
        let n = self.braintrust_keys.len() + 1;
        let id = uuid(1, n);
        self.braintrust_keys.push(BraintrustKey {
            id: id.clone(),
            name: name.into(),
            value: value.into(),
            created: Utc::now() - chrono::Duration::days(60 + n as i64),
            deleted: false,
        });
        id
    }

    /// Records `n` calls with OpenAI key `key_id` in usage report `report` (`completions`,
    /// `embeddings`…) in the minute `minutes_ago`.
    pub fn openai_usage_in(&mut self, report: &str, key_id: &str, minutes_ago: i64, n: u64) {
        let minute = minute_start(Utc::now()) - minutes_ago * 60;
        *self
            .openai_usage
            .entry((report.to_string(), key_id.to_string(), minute))
            .or_default() += n;
    }

    /// Records `n` OpenAI completions requests with key `key_id` in the minute `minutes_ago`.
    pub fn openai_usage(&mut self, key_id: &str, minutes_ago: i64, n: u64) {
        self.openai_usage_in("completions", key_id, minutes_ago, n);
    }

    /// Records `dollars` spent with OpenAI key `key_id` today.
    pub fn openai_cost(&mut self, key_id: &str, dollars: f64) {
        let day = Utc::now().timestamp().div_euclid(86_400) * 86_400;
        *self
            .openai_costs
            .entry((key_id.to_string(), day))
            .or_default() += dollars;
    }

    /// Records `tokens` Anthropic input tokens with key `key_id` in the minute `minutes_ago`.
    pub fn anthropic_usage(&mut self, key_id: &str, minutes_ago: i64, tokens: u64) {
        let minute = minute_start(Utc::now()) - minutes_ago * 60;
        *self
            .anthropic_usage
            .entry((key_id.to_string(), minute))
            .or_default() += tokens;
    }

    /// The next `times` calls of `method` on paths starting with `path_prefix` at `vendor`
    /// get a 429 (with `Retry-After: <secs>` when given). Only where the contract documents
    /// a 429 (panics otherwise: the test would be wrong).
    pub fn throttle(
        &mut self,
        vendor: Vendor,
        method: &'static str,
        path_prefix: &str,
        times: u32,
        retry_after: Option<u64>,
    ) {
        let documented = match vendor {
            // OAI #/components/responses/TooManyRequests is referenced by the usage reports,
            // costs and audit logs, not by projects, keys or service accounts.
            Vendor::OpenAi => {
                path_prefix.starts_with("/v1/organization/usage")
                    || path_prefix.starts_with("/v1/organization/costs")
                    || path_prefix.starts_with("/v1/organization/audit_logs")
            }
            // BT: every authenticated operation lists 429 (with a `Retry-After` header).
            Vendor::Braintrust => true,
            // ANT api/errors: 429 rate_limit_error.
            Vendor::Anthropic => true,
            // RPC code.proto: RESOURCE_EXHAUSTED → 429.
            Vendor::Gemini | Vendor::GoogleApiKeys => true,
            Vendor::GoogleOAuth => true,
        };
        assert!(
            documented,
            "{} does not document a 429 on {path_prefix}",
            vendor.name()
        );
        self.throttles.push(Throttle {
            vendor,
            method,
            path_prefix: path_prefix.into(),
            times,
            retry_after,
        });
    }

    // ------------------------------------------------------------------ queries

    /// The OpenAI key `id`.
    pub fn openai(&self, id: &str) -> Option<&OpenAiKey> {
        self.openai_keys.iter().find(|k| k.id == id)
    }

    /// The OpenAI service account `id`.
    pub fn openai_sa(&self, id: &str) -> Option<&OpenAiServiceAccount> {
        self.openai_service_accounts.iter().find(|s| s.id == id)
    }

    /// The Anthropic key `id`.
    pub fn anthropic(&self, id: &str) -> Option<&AnthropicKey> {
        self.anthropic_keys.iter().find(|k| k.id == id)
    }

    /// The Google key with this value.
    pub fn gemini(&self, value: &str) -> Option<&GoogleKey> {
        self.google_keys.iter().find(|k| k.value == value)
    }

    /// Google keys made through the API Keys fake.
    pub fn minted_google(&self) -> Vec<&GoogleKey> {
        self.google_keys.iter().filter(|k| k.minted).collect()
    }

    /// The Braintrust AI secret `name`.
    pub fn ai_secret(&self, name: &str) -> Option<&AiSecret> {
        self.braintrust_secrets.iter().find(|s| s.name == name)
    }

    /// The Braintrust environment variable `name`.
    pub fn env_var(&self, name: &str) -> Option<&EnvVar> {
        self.braintrust_env_vars.iter().find(|v| v.name == name)
    }

    /// The Braintrust API key with this value.
    pub fn braintrust_key_of(&self, value: &str) -> Option<&BraintrustKey> {
        self.braintrust_keys.iter().find(|k| k.value == value)
    }

    /// Keys minted through the fake, in order.
    pub fn minted_openai(&self) -> Vec<&OpenAiKey> {
        self.openai_keys.iter().filter(|k| k.minted).collect()
    }

    /// Service accounts created through the fake, in order.
    pub fn minted_service_accounts(&self) -> Vec<&OpenAiServiceAccount> {
        self.openai_service_accounts
            .iter()
            .filter(|s| s.minted)
            .collect()
    }

    /// How many calls match `prefix` (e.g. `"OpenAI DELETE /v1/organization"`).
    pub fn count_calls(&self, prefix: &str) -> usize {
        self.calls.iter().filter(|c| c.starts_with(prefix)).count()
    }

    fn problem(&mut self, p: String) {
        self.problems.push(p);
    }

    /// Marks the request being answered as one the contract refuses.
    fn refuse(&mut self, why: &str) {
        if let Some(r) = self.recorded.last_mut() {
            r.refused_by_contract = Some(why.to_string());
        }
    }
}

/// The fakes and their shared state.
pub struct FakeAi {
    pub openai: MockServer,
    pub anthropic: MockServer,
    pub gemini: MockServer,
    pub google_api_keys: MockServer,
    pub google_oauth: MockServer,
    pub braintrust: MockServer,
    state: Arc<Mutex<State>>,
    /// The service account's private key, PKCS#8 PEM (for the key file).
    google_private_pem: String,
}

impl FakeAi {
    /// Starts the servers, knowing nothing yet but the admin keys; makes the service
    /// account's RSA key.
    pub async fn start(admin: AdminKeys) -> FakeAi {
        let state = Arc::new(Mutex::new(State::new(admin)));
        let serve = |vendor: Vendor| {
            let state = state.clone();
            async move {
                let server = MockServer::start().await;
                Mock::given(wiremock::matchers::any())
                    .respond_with(Route { vendor, state })
                    .mount(&server)
                    .await;
                server
            }
        };
        let (private_pem, public_der) = rsa_key();
        let fake = FakeAi {
            openai: serve(Vendor::OpenAi).await,
            anthropic: serve(Vendor::Anthropic).await,
            gemini: serve(Vendor::Gemini).await,
            google_api_keys: serve(Vendor::GoogleApiKeys).await,
            google_oauth: serve(Vendor::GoogleOAuth).await,
            braintrust: serve(Vendor::Braintrust).await,
            state,
            google_private_pem: private_pem,
        };
        {
            let mut st = fake.state();
            st.google_public_key = public_der;
            st.google_token_uri = format!("{}/token", fake.google_oauth.uri());
        }
        fake
    }

    /// The shared state (also usable from other threads through [`FakeAi::handle`]).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A handle on the state for another thread.
    pub fn handle(&self) -> Arc<Mutex<State>> {
        self.state.clone()
    }

    /// Writes the service account's key file (GOA aip/auth/4112: `"type":
    /// "service_account"`, `client_email`, `private_key_id`, a PKCS#8 `private_key`,
    /// `token_uri` — here the OAuth fake's) into `dir`; returns its path.
    pub fn write_google_key_file(&self, dir: &Path) -> PathBuf {
        let token_uri = self.state().google_token_uri.clone();
        let doc = json!({
            "type": "service_account",
            "project_id": GOOGLE_PROJECT,
            "private_key_id": GOOGLE_KEY_ID,
            "private_key": self.google_private_pem,
            "client_email": GOOGLE_ACCOUNT,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com"
        });
        let path = dir.join("google-service-account.json");
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        path
    }

    /// Sends Google's sign-in through `base` (a proxy in front of [`FakeAi::google_oauth`]):
    /// the token URI becomes `<base>/token`, which the JWT's audience must then name, and the
    /// key file is written again in `dir` with it.
    pub fn sign_in_through(&self, base: &str, dir: &Path) -> PathBuf {
        self.state().google_token_uri = format!("{}/token", base.trim_end_matches('/'));
        self.write_google_key_file(dir)
    }

    /// The environment breachbook reads: base URLs and admin keys (not the Google key file:
    /// [`FakeAi::write_google_key_file`] and `GOOGLE_APPLICATION_CREDENTIALS`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let admin = self.state().admin.clone();
        vec![
            ("BREACHBOOK_OPENAI_BASE_URL", self.openai.uri()),
            ("BREACHBOOK_ANTHROPIC_BASE_URL", self.anthropic.uri()),
            ("BREACHBOOK_GEMINI_BASE_URL", self.gemini.uri()),
            ("BREACHBOOK_BRAINTRUST_BASE_URL", self.braintrust.uri()),
            (
                "BREACHBOOK_GOOGLE_API_KEYS_BASE_URL",
                self.google_api_keys.uri(),
            ),
            ("OPENAI_ADMIN_KEY", admin.openai),
            ("ANTHROPIC_ADMIN_KEY", admin.anthropic),
            ("BRAINTRUST_API_KEY", admin.braintrust),
        ]
    }
}

/// A fresh 2048-bit RSA key: (PKCS#8 PEM, PKCS#1 DER of the public key).
fn rsa_key() -> (String, Vec<u8>) {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair as _;
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der().unwrap();
    let b64 = base64(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    (pem, pair.public_key().as_ref().to_vec())
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

struct Route {
    vendor: Vendor,
    state: Arc<Mutex<State>>,
}

impl Respond for Route {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let call = Call::new(req);
        st.recorded.push(Recorded {
            vendor: self.vendor,
            method: call.method.clone(),
            path: call.path.clone(),
            query: call.query.clone(),
            headers: req
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        v.to_str().unwrap_or("").to_string(),
                    )
                })
                .collect(),
            body: req.body.clone(),
            refused_by_contract: None,
        });
        st.calls.push(format!(
            "{} {} {}",
            self.vendor.name(),
            call.method,
            call.path
        ));
        if !call
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("breachbook/"))
        {
            st.problem(format!(
                "{} {}: User-Agent is {:?}, not breachbook/<version>",
                self.vendor.name(),
                call.what(),
                call.header("user-agent")
            ));
        }
        if let Some(t) = throttled(&mut st, self.vendor, &call) {
            return t;
        }
        match self.vendor {
            Vendor::OpenAi => openai(&mut st, &call),
            Vendor::Anthropic => anthropic(&mut st, &call),
            Vendor::Gemini => gemini(&mut st, &call),
            Vendor::GoogleApiKeys => google_api_keys(&mut st, &call),
            Vendor::GoogleOAuth => google_oauth(&mut st, &call),
            Vendor::Braintrust => braintrust(&mut st, &call),
        }
    }
}

/// The 429 a throttled call gets, in its vendor's documented shape.
fn throttled(st: &mut State, vendor: Vendor, call: &Call) -> Option<ResponseTemplate> {
    let i = st.throttles.iter().position(|t| {
        t.vendor == vendor
            && t.times > 0
            && t.method == call.method
            && call.path.starts_with(&t.path_prefix)
    })?;
    st.throttles[i].times -= 1;
    let retry = st.throttles[i].retry_after;
    st.throttled.push(format!(
        "{} {} (Retry-After {retry:?})",
        vendor.name(),
        call.what()
    ));
    let resp = match vendor {
        // OAI TooManyRequests (L86354): ErrorResponse; `Retry-After` "may be omitted".
        Vendor::OpenAi => openai_error(429, "Rate limit reached for requests", Some("rate_limit_exceeded"), "requests"),
        // BT: 429 "Too many requests hit the API too quickly…", text/plain.
        Vendor::Braintrust => ResponseTemplate::new(429).set_body_string(
            "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests",
        ),
        // ANT api/errors: 429 rate_limit_error.
        Vendor::Anthropic => anthropic_error(429, "rate_limit_error", "Number of requests has exceeded your rate limit"),
        // google-facts §4.3: 429 RESOURCE_EXHAUSTED, often a RetryInfo in the body and no
        // `Retry-After` header (dcdpr/jp#1061).
        Vendor::Gemini | Vendor::GoogleApiKeys | Vendor::GoogleOAuth => ResponseTemplate::new(429)
            .set_body_json(json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                "message": "Quota exceeded for quota metric 'Requests' of service.",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]}})),
    };
    Some(match retry {
        Some(secs) => resp.insert_header("retry-after", secs.to_string().as_str()),
        None => resp,
    })
}

/// What a route looks at in a request.
struct Call<'a> {
    method: String,
    path: String,
    segs: Vec<String>,
    query: Vec<(String, String)>,
    req: &'a Request,
}

impl<'a> Call<'a> {
    fn new(req: &'a Request) -> Call<'a> {
        let path = req.url.path().to_string();
        let segs = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string())
            .collect();
        Call {
            method: req.method.as_str().to_string(),
            path,
            segs,
            query: req
                .url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            req,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.req.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn q_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn route(&self) -> Vec<&str> {
        let mut r = vec![self.method.as_str()];
        r.extend(self.segs.iter().map(String::as_str));
        r
    }

    fn what(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.req.body).ok()
    }

    fn bearer(&self) -> Option<&str> {
        self.header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
    }
}

fn minute_start(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60) * 60
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `head` characters, `gap`, the last four: a redacted display of a key.
fn redacted(value: &str, head: usize, gap: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let h: String = chars[..head.min(chars.len())].iter().collect();
    let t: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("{h}{gap}{t}")
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// Checks a query parameter the fake needs; a problem when it is missing or wrong.
fn want_q(st: &mut State, call: &Call, name: &str, value: Option<&str>) -> bool {
    let got = call.q(name);
    let fine = match value {
        Some(v) => got == Some(v),
        None => got.is_some_and(|g| !g.is_empty()),
    };
    if !fine {
        st.problem(format!(
            "{}: query {name} is {got:?}, expected {}",
            call.what(),
            value.unwrap_or("a value")
        ));
    }
    fine
}

/// One page of `items` after the cursor `after` (an id), at most `limit` (and the page cap):
/// (page, has_more).
fn page_after<T: Clone>(
    items: &[T],
    id_of: impl Fn(&T) -> String,
    after: Option<&str>,
    limit: usize,
    cap: usize,
) -> (Vec<T>, bool) {
    let start = match after {
        Some(a) => items
            .iter()
            .position(|i| id_of(i) == a)
            .map(|p| p + 1)
            .unwrap_or(items.len()),
        None => 0,
    };
    let n = limit.min(cap).max(1);
    let page: Vec<T> = items.iter().skip(start).take(n).cloned().collect();
    let more = start + page.len() < items.len();
    (page, more)
}

// -------------------------------------------------------------------------------- OpenAI

/// OAI `AuditLogActor` (L30142) of a person signed in (`session`, L30180): user and IP.
pub fn openai_session(email: &str, ip: &str) -> Value {
    json!({"type": "session", "session": {"user": {"id": format!("user-{}", email.len()), "email": email},
        "ip_address": ip}})
}

/// OAI `AuditLogActor` of an API key (`AuditLogActorApiKey`, L30156) of a person: what the
/// Admin API key breachbook acts with logs as ("admin actions taken via Admin API keys").
pub fn openai_admin_actor() -> Value {
    json!({"type": "api_key", "api_key": {"id": "key_AdminTracking0001", "type": "user",
        "user": {"id": "user-responder", "email": "responder@example.com"}}})
}

/// OAI `AuditLogActor` of a service account's API key.
pub fn openai_service_account_actor(sa: &str) -> Value {
    json!({"type": "api_key", "api_key": {"id": format!("key_track_{sa}"), "type": "service_account",
        "service_account": {"id": sa}}})
}

/// OAI `#/components/schemas/ErrorResponse`: `{error: {code, message, param, type}}`, all
/// four required (`code` and `param` nullable).
fn openai_error(status: u16, message: &str, code: Option<&str>, kind: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {
        "message": message, "type": kind, "param": null, "code": code
    }}))
}

/// OAI `ProjectApiKey` (L45486): every required field.
fn openai_key_json(st: &State, k: &OpenAiKey) -> Value {
    let owner = match &k.service_account {
        Some(sa) => {
            let s = st.openai_sa(sa);
            json!({"type": "service_account", "service_account": {
                "id": sa,
                "name": s.map(|s| s.name.clone()).unwrap_or_default(),
                "created_at": s.map(|s| s.created_at).unwrap_or(0),
                "role": s.map(|s| s.role.clone()).unwrap_or_else(|| "member".into()),
            }})
        }
        None => json!({"type": "user", "user": {
            "id": "user_ExampleAda", "email": "ada@example.com", "name": "Ada Example",
            "created_at": 1_711_471_533, "role": "owner"
        }}),
    };
    json!({
        "object": "organization.project.api_key",
        "redacted_value": redacted(&k.value, 6, "*****"),
        "name": k.name,
        "created_at": k.created_at,
        "last_used_at": null,
        "id": k.id,
        "owner_project_access": "active",
        "owner": owner,
    })
}

/// OAI `ProjectServiceAccount` (L46098).
fn openai_sa_json(s: &OpenAiServiceAccount) -> Value {
    json!({"object": "organization.project.service_account", "id": s.id, "name": s.name,
           "role": s.role, "created_at": s.created_at})
}

/// An OAI list page (`ProjectListResponse` and its kin): `{object, data, first_id, last_id,
/// has_more}` with the cursor `after` = an id, `limit` 1..100 (default 20).
fn openai_list(st: &State, call: &Call, data: Vec<Value>) -> ResponseTemplate {
    let limit = call
        .q("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(20usize);
    let (page, more) = page_after(
        &data,
        |v| v["id"].as_str().unwrap_or_default().to_string(),
        call.q("after"),
        limit,
        st.page_cap,
    );
    let first = page.first().map(|v| v["id"].clone()).unwrap_or(Value::Null);
    let last = page.last().map(|v| v["id"].clone()).unwrap_or(Value::Null);
    ok(
        json!({"object": "list", "data": page, "first_id": first, "last_id": last, "has_more": more}),
    )
}

/// The usage reports (OAI `usage-*`): the result `object` and the calls field each fills.
fn usage_report(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "completions" => (
            "organization.usage.completions.result",
            "num_model_requests",
        ),
        "embeddings" => ("organization.usage.embeddings.result", "num_model_requests"),
        "moderations" => (
            "organization.usage.moderations.result",
            "num_model_requests",
        ),
        "images" => ("organization.usage.images.result", "num_model_requests"),
        "audio_speeches" => (
            "organization.usage.audio_speeches.result",
            "num_model_requests",
        ),
        "audio_transcriptions" => (
            "organization.usage.audio_transcriptions.result",
            "num_model_requests",
        ),
        // Not `file_search_calls`: the schema's own name (OAI L64671).
        "file_search_calls" => ("organization.usage.file_searches.result", "num_requests"),
        "web_search_calls" => ("organization.usage.web_searches.result", "num_requests"),
        "vector_stores" => ("organization.usage.vector_stores.result", "usage_bytes"),
        "code_interpreter_sessions" => (
            "organization.usage.code_interpreter_sessions.result",
            "num_sessions",
        ),
        _ => return None,
    })
}

/// A usage or costs page (OAI `UsageResponse` L64847: `{object: "page", data, has_more,
/// next_page}`, all required), `limit` buckets per page from the cursor `page`.
fn usage_page(
    st: &State,
    call: &Call,
    buckets: Vec<Value>,
    default_limit: usize,
) -> ResponseTemplate {
    let limit = call
        .q("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(default_limit);
    let from: usize = call
        .q("page")
        .and_then(|p| p.strip_prefix("page_"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let n = limit.min(st.page_cap).max(1);
    let page: Vec<Value> = buckets.iter().skip(from).take(n).cloned().collect();
    let more = from + page.len() < buckets.len();
    let next = if more {
        json!(format!("page_{}", from + page.len()))
    } else {
        Value::Null
    };
    ok(json!({"object": "page", "data": page, "has_more": more, "next_page": next}))
}

fn openai(st: &mut State, call: &Call) -> ResponseTemplate {
    let route = call.route();
    // OAI listModels (L8733): the key under test as bearer (ApiKeyAuth).
    if route == ["GET", "v1", "models"] {
        let key = call.bearer().unwrap_or("");
        let live = st.openai_keys.iter().any(|k| k.value == key && !k.deleted);
        return if live {
            // OAI ListModelsResponse: {object: "list", data: Model[]}.
            ok(json!({"object": "list", "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system"}
            ]}))
        } else {
            // Not in the spec (it documents no 401): OpenAI's error-code guide
            // (platform.openai.com/docs/guides/error-codes) — 401 "Incorrect API key provided".
            openai_error(
                401,
                "Incorrect API key provided",
                Some("invalid_api_key"),
                "invalid_request_error",
            )
        };
    }
    // OAI: every /organization/* route takes the Admin API key (AdminApiKeyAuth).
    if call.bearer() != Some(st.admin.openai.as_str()) {
        st.problem(format!("OpenAI {}: not the Admin API key", call.what()));
        // No 401 is documented on these routes; OpenAI's error-code guide says 401.
        return openai_error(
            401,
            "Incorrect API key provided",
            Some("invalid_api_key"),
            "invalid_request_error",
        );
    }
    match route.as_slice() {
        // OAI list-projects (L11202).
        ["GET", "v1", "organization", "projects"] => {
            let data: Vec<Value> = st
                .openai_projects
                .iter()
                .map(|p| json!({"id": p.id, "object": "organization.project", "name": p.name,
                               "created_at": 1_711_471_533, "archived_at": null, "status": "active"}))
                .collect();
            openai_list(st, call, data)
        }
        // OAI list-project-api-keys (L11403).
        ["GET", "v1", "organization", "projects", p, "api_keys"] => {
            if call.q("owner_project_access") != Some("any") {
                // "If omitted, … may exclude some enabled keys": an inventory must ask for any.
                st.problem(format!(
                    "OpenAI {}: owner_project_access is not `any`: some enabled keys would be hidden",
                    call.what()
                ));
            }
            let data: Vec<Value> = st
                .openai_keys
                .iter()
                .filter(|k| k.project == *p && !k.deleted)
                .map(|k| openai_key_json(st, k))
                .collect();
            openai_list(st, call, data)
        }
        // OAI retrieve-project-api-key (L11496): only 200 is documented; a key not there is
        // answered 404 (assumed).
        ["GET", "v1", "organization", "projects", p, "api_keys", id] => {
            match st
                .openai_keys
                .iter()
                .find(|k| k.id == *id && k.project == *p && !k.deleted)
            {
                Some(k) => ok(openai_key_json(st, k)),
                None => openai_error(
                    404,
                    &format!("No such API key: {id}"),
                    None,
                    "invalid_request_error",
                ),
            }
        }
        // OAI delete-project-api-key (L11559): "Returns confirmation of the key deletion, or
        // an error if the key belonged to a service account." The error is the documented 400
        // ErrorResponse; its code and text are not specified (these are assumed).
        [
            "DELETE",
            "v1",
            "organization",
            "projects",
            p,
            "api_keys",
            id,
        ] => {
            let Some(i) = st
                .openai_keys
                .iter()
                .position(|k| k.id == *id && k.project == *p && !k.deleted)
            else {
                return openai_error(
                    404,
                    &format!("No such API key: {id}"),
                    None,
                    "invalid_request_error",
                );
            };
            if st.openai_keys[i].service_account.is_some() {
                st.refuse("OAI delete-project-api-key: the key belongs to a service account");
                return openai_error(
                    400,
                    "API keys owned by a service account cannot be deleted; delete the service account instead",
                    None,
                    "invalid_request_error",
                );
            }
            st.openai_keys[i].deleted = true;
            // OAI ProjectApiKeyDeleteResponse (L45566).
            ok(json!({"object": "organization.project.api_key.deleted", "id": id, "deleted": true}))
        }
        // OAI list-project-service-accounts (L12577).
        [
            "GET",
            "v1",
            "organization",
            "projects",
            p,
            "service_accounts",
        ] => {
            let data: Vec<Value> = st
                .openai_service_accounts
                .iter()
                .filter(|s| s.project == *p && !s.deleted)
                .map(openai_sa_json)
                .collect();
            openai_list(st, call, data)
        }
        // OAI create-project-service-account (L12649): body ProjectServiceAccountCreateRequest
        // {name (required), create_service_account_only}; "By default, this also returns an
        // unredacted API key"; 200 ProjectServiceAccountCreateResponse (L46181).
        [
            "POST",
            "v1",
            "organization",
            "projects",
            p,
            "service_accounts",
        ] => {
            let body = call.json().unwrap_or(Value::Null);
            let Some(name) = body
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            else {
                st.problem(format!("OpenAI {}: no name", call.what()));
                return openai_error(400, "name is required", None, "invalid_request_error");
            };
            if !st.openai_projects.iter().any(|x| x.id == *p) {
                return openai_error(
                    404,
                    &format!("No such project: {p}"),
                    None,
                    "invalid_request_error",
                );
            }
            let only = body
                .get("create_service_account_only")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            st.minted += 1;
            let n = st.minted;
            let now = Utc::now().timestamp();
            let sa = OpenAiServiceAccount {
                id: format!("svc_acct_MintFake{n:04}"),
                project: p.to_string(),
                name: name.to_string(),
                role: if only { "none".into() } else { "member".into() },
                created_at: now,
                deleted: false,
                minted: true,
            };
            let mut answer = openai_sa_json(&sa);
            answer["api_key"] = Value::Null;
            if !only {
                let key = OpenAiKey {
                    id: format!("key_MintFake{n:04}"),
                    project: p.to_string(),
                    // The example's key is named "Secret Key", not after the account.
                    name: "Secret Key".into(),
                    value: format!("sk-test-svcacct-MINT-FAKE{n:04}00000000000000Mn{n:02}"),
                    service_account: Some(sa.id.clone()),
                    created_at: now,
                    deleted: false,
                    minted: true,
                };
                // OAI ProjectServiceAccountApiKey (L46143).
                answer["api_key"] = json!({"object": "organization.project.service_account.api_key",
                    "value": key.value, "name": key.name, "created_at": now, "id": key.id});
                // Services move to the new key at once: it has calls in this minute (in
                // embeddings, which only a reader of every usage report sees).
                let id = key.id.clone();
                st.openai_keys.push(key);
                st.openai_usage_in("embeddings", &id, 0, 12);
            }
            // What OpenAI logs of it (OAI `AuditLog`: `service_account.created {id, data:
            // {role}}`, `api_key.created {id, data: {scopes}}`), by the admin key.
            st.openai_audit_event(
                "service_account.created",
                now,
                Some(*p),
                openai_admin_actor(),
                json!({"id": sa.id, "data": {"role": sa.role}}),
            );
            if let Some(id) = answer["api_key"]["id"].as_str().map(str::to_string) {
                st.openai_audit_event(
                    "api_key.created",
                    now,
                    Some(*p),
                    openai_admin_actor(),
                    json!({"id": id, "data": {"scopes": ["api.all"]}}),
                );
            }
            st.openai_service_accounts.push(sa);
            match st.hold_service_account_create.take() {
                Some(hold) => ok(answer).set_delay(hold),
                None => ok(answer),
            }
        }
        // OAI retrieve-project-service-account (L12711).
        [
            "GET",
            "v1",
            "organization",
            "projects",
            p,
            "service_accounts",
            id,
        ] => {
            match st
                .openai_service_accounts
                .iter()
                .find(|s| s.id == *id && s.project == *p && !s.deleted)
            {
                Some(s) => ok(openai_sa_json(s)),
                // Only 200 is documented: 404 assumed.
                None => openai_error(
                    404,
                    &format!("No such service account: {id}"),
                    None,
                    "invalid_request_error",
                ),
            }
        }
        // OAI update-project-service-account (L12755): {name?, role?: member|owner}.
        [
            "POST",
            "v1",
            "organization",
            "projects",
            p,
            "service_accounts",
            id,
        ] => {
            let body = call.json().unwrap_or(Value::Null);
            let Some(s) = st
                .openai_service_accounts
                .iter_mut()
                .find(|s| s.id == *id && s.project == *p && !s.deleted)
            else {
                return openai_error(
                    404,
                    &format!("No such service account: {id}"),
                    None,
                    "invalid_request_error",
                );
            };
            if let Some(r) = body.get("role").and_then(Value::as_str) {
                s.role = r.to_string();
            }
            if let Some(n) = body.get("name").and_then(Value::as_str) {
                s.name = n.to_string();
            }
            let answer = openai_sa_json(s);
            ok(answer)
        }
        // OAI delete-project-service-account (L12817): 200 ProjectServiceAccountDeleteResponse
        // (L46216). The spec does not say the account's keys die with it; the issue (and the
        // only way to remove a service account's key) says they do.
        [
            "DELETE",
            "v1",
            "organization",
            "projects",
            p,
            "service_accounts",
            id,
        ] => {
            let Some(s) = st
                .openai_service_accounts
                .iter_mut()
                .find(|s| s.id == *id && s.project == *p && !s.deleted)
            else {
                return openai_error(
                    404,
                    &format!("No such service account: {id}"),
                    None,
                    "invalid_request_error",
                );
            };
            s.deleted = true;
            for k in st
                .openai_keys
                .iter_mut()
                .filter(|k| k.service_account.as_deref() == Some(*id))
            {
                k.deleted = true;
            }
            ok(
                json!({"object": "organization.project.service_account.deleted", "id": id, "deleted": true}),
            )
        }
        // OAI CreateanAPIkeyforaserviceaccount (L23815): {name?, scopes?} → ServiceAccountApiKeyBody.
        [
            "POST",
            "v1",
            "organization",
            "projects",
            p,
            "service_accounts",
            id,
            "api_keys",
        ] => {
            if !st
                .openai_service_accounts
                .iter()
                .any(|s| s.id == *id && s.project == *p && !s.deleted)
            {
                return openai_error(
                    404,
                    &format!("No such service account: {id}"),
                    None,
                    "invalid_request_error",
                );
            }
            let name = call
                .json()
                .and_then(|b| b.get("name").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| "Secret Key".into());
            st.minted += 1;
            let n = st.minted;
            let now = Utc::now().timestamp();
            let key = OpenAiKey {
                id: format!("key_MintFake{n:04}"),
                project: p.to_string(),
                name,
                value: format!("sk-test-svcacct-MINT-FAKE{n:04}00000000000000Mn{n:02}"),
                service_account: Some(id.to_string()),
                created_at: now,
                deleted: false,
                minted: true,
            };
            let answer = json!({"object": "organization.project.service_account.api_key",
                "value": key.value, "name": key.name, "created_at": now, "id": key.id});
            st.openai_audit_event(
                "api_key.created",
                now,
                Some(*p),
                openai_admin_actor(),
                json!({"id": key.id, "data": {"scopes": ["api.all"]}}),
            );
            st.openai_keys.push(key);
            ok(answer)
        }
        // OAI usage-* (L14001–L15237): start_time required; buckets of `bucket_width`
        // (`1m` here) with results grouped by api_key_id when asked.
        ["GET", "v1", "organization", "usage", report] => {
            let Some((object, field)) = usage_report(report) else {
                st.problem(format!("OpenAI {}: no such usage report", call.what()));
                return openai_error(404, "Unknown request URL", None, "invalid_request_error");
            };
            if !want_q(st, call, "start_time", None)
                || !want_q(st, call, "bucket_width", Some("1m"))
            {
                return openai_error(400, "Invalid query", None, "invalid_request_error");
            }
            let start: i64 = call
                .q("start_time")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let ids: Vec<&str> = call.q_all("api_key_ids");
            let by_key = call.q_all("group_by").contains(&"api_key_id");
            let mut buckets: BTreeMap<i64, BTreeMap<String, u64>> = BTreeMap::new();
            for ((r, id, minute), n) in &st.openai_usage {
                if r == report && *minute >= start && (ids.is_empty() || ids.contains(&id.as_str()))
                {
                    let group = if by_key { id.clone() } else { String::new() };
                    *buckets
                        .entry(*minute)
                        .or_default()
                        .entry(group)
                        .or_default() += n;
                }
            }
            if !buckets.is_empty() {
                st.usage_served += 1;
            }
            let data: Vec<Value> = buckets
                .into_iter()
                .map(|(t, groups)| {
                    let results: Vec<Value> = groups
                        .into_iter()
                        .map(|(id, n)| {
                            let mut r = json!({"object": object, "project_id": null, "user_id": null,
                                "api_key_id": if by_key { json!(id) } else { Value::Null }, "model": null});
                            r[field] = json!(n);
                            if field == "num_requests" && *report == "web_search_calls" {
                                r["num_model_requests"] = json!(n);
                            }
                            if object.ends_with("completions.result") {
                                r["input_tokens"] = json!(n * 40);
                                r["output_tokens"] = json!(n * 12);
                            }
                            if object.ends_with("embeddings.result") || object.ends_with("moderations.result") {
                                r["input_tokens"] = json!(n * 40);
                            }
                            if object.ends_with("images.result") {
                                r["images"] = json!(n);
                            }
                            if object.ends_with("audio_speeches.result") {
                                r["characters"] = json!(n * 100);
                            }
                            if object.ends_with("audio_transcriptions.result") {
                                r["seconds"] = json!(n * 10);
                            }
                            r
                        })
                        .collect();
                    json!({"object": "bucket", "start_time": t, "end_time": t + 60, "results": results})
                })
                .collect();
            // `1m`: default limit 60 (OAI usage-* `limit` description).
            usage_page(st, call, data, 60)
        }
        // OAI list-audit-logs (L9455): `effective_at[gte]` (Unix seconds; the object
        // parameter as OpenAI's clients send it), `event_types[]` (AuditLogEventType), `limit`
        // 1..100 (default 20), cursor `after` = the last id; ListAuditLogsResponse (L42770).
        // The route documents only 200 and 429. Logging that is off (the API reference:
        // "you must activate logging in the Organization Settings") or an admin key without
        // access is answered with `openai_audit_refused` — 403 and its text assumed, the
        // error-code guide's "You are not allowed to …" shape.
        ["GET", "v1", "organization", "audit_logs"] => {
            if let Some(status) = st.openai_audit_refused {
                return openai_error(
                    status,
                    "You are not allowed to read audit logs. Audit logging is not enabled for this organization.",
                    None,
                    "invalid_request_error",
                );
            }
            let gte: i64 = call
                .q("effective_at[gte]")
                .and_then(|t| t.parse().ok())
                .unwrap_or(i64::MIN);
            let types = call.q_all("event_types[]");
            let data: Vec<Value> = st
                .openai_audit
                .iter()
                .filter(|e| e["effective_at"].as_i64().unwrap_or(0) >= gte)
                .filter(|e| types.is_empty() || types.contains(&e["type"].as_str().unwrap_or("")))
                .cloned()
                .collect();
            openai_list(st, call, data)
        }
        // OAI usage-costs (L10090): bucket_width `1d` only, default limit 7; CostsResult
        // (L32769) `{object, amount: {value, currency}, line_item, project_id, api_key_id}`.
        ["GET", "v1", "organization", "costs"] => {
            if !want_q(st, call, "start_time", None) {
                return openai_error(400, "Invalid query", None, "invalid_request_error");
            }
            let start: i64 = call
                .q("start_time")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let ids: Vec<&str> = call.q_all("api_key_ids");
            let by_key = call.q_all("group_by").contains(&"api_key_id");
            let mut buckets: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
            for ((id, day), dollars) in &st.openai_costs {
                if *day >= start && (ids.is_empty() || ids.contains(&id.as_str())) {
                    buckets.entry(*day).or_default().push(json!({
                        "object": "organization.costs.result",
                        "amount": {"value": dollars, "currency": "usd"},
                        "line_item": null, "project_id": null,
                        "api_key_id": if by_key { json!(id) } else { Value::Null },
                        "quantity": null, "quantity_unit": null
                    }));
                }
            }
            let data: Vec<Value> = buckets
                .into_iter()
                .map(|(t, results)| json!({"object": "bucket", "start_time": t, "end_time": t + 86_400, "results": results}))
                .collect();
            usage_page(st, call, data, 7)
        }
        _ => {
            st.problem(format!("OpenAI {}: no such route in the fake", call.what()));
            openai_error(404, "Unknown request URL", None, "invalid_request_error")
        }
    }
}

// ----------------------------------------------------------------------------- Anthropic

/// ANT api/errors: `{"type": "error", "error": {type, message}, "request_id"}`.
fn anthropic_error(status: u16, kind: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"type": "error",
        "error": {"type": kind, "message": message}, "request_id": "req_011FakeRequest"}))
}

/// ANT api_keys/retrieve: the APIKey object, every field.
fn anthropic_key_json(k: &AnthropicKey) -> Value {
    json!({
        "id": k.id,
        "type": "api_key",
        "created_at": rfc3339(k.created_at),
        "created_by": {"id": "user_01EXAMPLE", "type": "user"},
        "name": k.name,
        "partial_key_hint": redacted(&k.value, 13, "..."),
        "status": k.status,
        "workspace_id": k.workspace_id,
        "expires_at": null,
        "principal": null,
    })
}

fn anthropic(st: &mut State, call: &Call) -> ResponseTemplate {
    // ANT api/overview: `anthropic-version` is required.
    if call.header("anthropic-version") != Some(ANTHROPIC_VERSION) {
        st.problem(format!(
            "Anthropic {}: anthropic-version is {:?}",
            call.what(),
            call.header("anthropic-version")
        ));
        return anthropic_error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    let route = call.route();
    // ANT models/list with the key under test (`x-api-key`); a bad key is 401
    // authentication_error (ANT api/errors).
    if route == ["GET", "v1", "models"] {
        let key = call.header("x-api-key").unwrap_or("");
        let live = st
            .anthropic_keys
            .iter()
            .any(|k| k.value == key && k.status == "active");
        return if live {
            ok(
                json!({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5",
                                "created_at": "2025-09-29T00:00:00Z"}],
                      "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"}),
            )
        } else {
            anthropic_error(401, "authentication_error", "invalid x-api-key")
        };
    }
    if call.header("x-api-key") != Some(st.admin.anthropic.as_str()) {
        st.problem(format!("Anthropic {}: not the Admin API key", call.what()));
        return anthropic_error(401, "authentication_error", "invalid x-api-key");
    }
    match route.as_slice() {
        // ANT api_keys/list: limit 1..1000, cursors before_id/after_id, {data, has_more,
        // first_id, last_id}.
        ["GET", "v1", "organizations", "api_keys"] => {
            let ws = call.q("workspace_id").map(str::to_string);
            let data: Vec<Value> = st
                .anthropic_keys
                .iter()
                .filter(|k| ws.is_none() || k.workspace_id == ws)
                .map(anthropic_key_json)
                .collect();
            let limit = call
                .q("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(20usize);
            let (page, more) = page_after(
                &data,
                |v| v["id"].as_str().unwrap_or_default().to_string(),
                call.q("after_id"),
                limit,
                st.page_cap,
            );
            let first = page.first().map(|v| v["id"].clone()).unwrap_or(Value::Null);
            let last = page.last().map(|v| v["id"].clone()).unwrap_or(Value::Null);
            ok(json!({"data": page, "first_id": first, "last_id": last, "has_more": more}))
        }
        // ANT api_keys/retrieve; a missing key is 404 not_found_error (ANT api/errors).
        ["GET", "v1", "organizations", "api_keys", id] => {
            match st.anthropic_keys.iter().find(|k| k.id == *id) {
                Some(k) => ok(anthropic_key_json(k)),
                None => anthropic_error(404, "not_found_error", &format!("API key {id} not found")),
            }
        }
        // ANT api_keys/update: {name?, status?: active|inactive|archived}. That an archived
        // key cannot come back is assumed (the docs do not say).
        ["POST", "v1", "organizations", "api_keys", id] => {
            let status = call
                .json()
                .and_then(|b| b.get("status").and_then(Value::as_str).map(str::to_string));
            let Some(status) =
                status.filter(|s| ["active", "inactive", "archived"].contains(&s.as_str()))
            else {
                st.problem(format!(
                    "Anthropic {}: body has no valid status",
                    call.what()
                ));
                return anthropic_error(400, "invalid_request_error", "status: invalid value");
            };
            match st.anthropic_keys.iter_mut().find(|k| k.id == *id) {
                Some(k) if k.status == "archived" && status != "archived" => anthropic_error(
                    400,
                    "invalid_request_error",
                    "Archived API keys cannot be modified",
                ),
                Some(k) => {
                    k.status = status;
                    let answer = anthropic_key_json(k);
                    ok(answer)
                }
                None => anthropic_error(404, "not_found_error", &format!("API key {id} not found")),
            }
        }
        // ANT usage_report/retrieve_messages: starting_at required; array parameters in
        // brackets; buckets with results grouped by api_key_id.
        ["GET", "v1", "organizations", "usage_report", "messages"] => {
            let fine = want_q(st, call, "bucket_width", Some("1m"))
                & want_q(st, call, "group_by[]", Some("api_key_id"))
                & want_q(st, call, "starting_at", None)
                & want_q(st, call, "api_key_ids[]", None);
            if !fine {
                return anthropic_error(400, "invalid_request_error", "invalid query");
            }
            let start = call
                .q("starting_at")
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.timestamp())
                .unwrap_or(0);
            let ids: Vec<&str> = call.q_all("api_key_ids[]");
            let mut buckets: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
            for ((id, minute), tokens) in &st.anthropic_usage {
                if *minute >= start && ids.contains(&id.as_str()) {
                    buckets.entry(*minute).or_default().push(json!({
                        "api_key_id": id, "workspace_id": null, "model": null, "service_tier": null,
                        "context_window": null, "uncached_input_tokens": tokens,
                        "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                        "cache_read_input_tokens": 0, "output_tokens": tokens / 4,
                        "server_tool_use": {"web_search_requests": 0}
                    }));
                }
            }
            if !buckets.is_empty() {
                st.usage_served += 1;
            }
            let at = |t: i64| rfc3339(Utc.timestamp_opt(t, 0).single().unwrap_or_default());
            let data: Vec<Value> = buckets
                .into_iter()
                .map(|(t, results)| {
                    json!({"starting_at": at(t), "ending_at": at(t + 60), "results": results})
                })
                .collect();
            ok(json!({"data": data, "has_more": false, "next_page": null}))
        }
        _ => {
            st.problem(format!(
                "Anthropic {}: no such route in the fake",
                call.what()
            ));
            anthropic_error(404, "not_found_error", "Not found")
        }
    }
}

// ------------------------------------------------------------------------ Google, Gemini

/// A Google error (`google.rpc.Status` as JSON: `{error: {code, message, status, details}}`)
/// with an ErrorInfo `reason`.
fn google_error(code: u16, status: &str, message: &str, reason: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({"error": {
        "code": code, "message": message, "status": status,
        "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
             "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message}
        ]
    }}))
}

/// A Google error with no details.
fn google_status(code: u16, status: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code)
        .set_body_json(json!({"error": {"code": code, "message": message, "status": status}}))
}

/// GL ListModels with the key in `x-goog-api-key`: a live key gets `ListModelsResponse`; a
/// key Google found leaked the bare 403 (continuedev/continue#10513: `{code, message,
/// status}`, no details); an unknown or deleted key 400 `API_KEY_INVALID`
/// (continuedev/continue#8516; that a deleted key answers so is assumed).
fn gemini(st: &mut State, call: &Call) -> ResponseTemplate {
    if call.route() != ["GET", "v1beta", "models"] {
        st.problem(format!("Gemini {}: no such route in the fake", call.what()));
        return google_status(404, "NOT_FOUND", "Not found");
    }
    if call.q("key").is_some() {
        st.problem(format!(
            "Gemini {}: the key went in the URL, not x-goog-api-key",
            call.what()
        ));
    }
    let Some(key) = call.header("x-goog-api-key") else {
        st.problem(format!("Gemini {}: no x-goog-api-key", call.what()));
        return google_error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            "SERVICE_DISABLED",
        );
    };
    match st.google_keys.iter().find(|k| k.value == key) {
        Some(k) if k.deleted_at.is_none() && k.leaked => {
            google_status(403, "PERMISSION_DENIED", LEAKED_MESSAGE)
        }
        Some(k) if k.alive() => ok(json!({"models": [{
            "name": "models/gemini-2.5-flash", "version": "001", "displayName": "Gemini 2.5 Flash",
            "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536,
            "supportedGenerationMethods": ["generateContent", "countTokens"]
        }]})),
        _ => google_error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            "API_KEY_INVALID",
        ),
    }
}

/// GOA: the JWT-bearer grant at the key file's `token_uri`. The assertion is checked as
/// Google checks it: RS256 by the service account's key (`kid` = its `private_key_id`),
/// `iss` = `client_email`, `aud` = the token URI (as gcp_auth and yup-oauth2 send it),
/// `scope` with cloud-platform, at most an hour long. Refused: 400 `invalid_grant`
/// (`{"error", "error_description"}`).
fn google_oauth(st: &mut State, call: &Call) -> ResponseTemplate {
    #[derive(serde::Deserialize)]
    struct Claims {
        iss: String,
        scope: String,
        iat: i64,
        exp: i64,
    }
    let refused = |why: &str| {
        ResponseTemplate::new(400)
            .set_body_json(json!({"error": "invalid_grant", "error_description": why}))
    };
    if call.route() != ["POST", "token"] {
        st.problem(format!(
            "Google OAuth {}: no such route in the fake",
            call.what()
        ));
        return ResponseTemplate::new(404);
    }
    if !call
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        st.problem(format!("Google OAuth {}: not a form", call.what()));
        return ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_request", "error_description": "Invalid Content-Type"}),
        );
    }
    let form: BTreeMap<String, String> = url_form(&call.req.body);
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        st.problem(format!(
            "Google OAuth {}: grant_type {:?}",
            call.what(),
            form.get("grant_type")
        ));
        return ResponseTemplate::new(400).set_body_json(
            json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}),
        );
    }
    let Some(assertion) = form.get("assertion") else {
        return refused("Missing assertion");
    };
    let header = jsonwebtoken::decode_header(assertion);
    if !header
        .as_ref()
        .is_ok_and(|h| h.kid.as_deref() == Some(GOOGLE_KEY_ID))
    {
        st.problem(format!(
            "Google OAuth {}: the assertion's kid is not the key's id",
            call.what()
        ));
        return refused("Invalid JWT Signature.");
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_der(&st.google_public_key);
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[st.google_token_uri.as_str()]);
    v.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let Ok(data) = jsonwebtoken::decode::<Claims>(assertion, &key, &v) else {
        st.problem(format!(
            "Google OAuth {}: the assertion does not verify",
            call.what()
        ));
        return refused("Invalid JWT Signature.");
    };
    let c = data.claims;
    if c.iss != GOOGLE_ACCOUNT
        || !c
            .scope
            .split(' ')
            .any(|s| s == "https://www.googleapis.com/auth/cloud-platform")
        || c.exp - c.iat > 3600
    {
        st.problem(format!(
            "Google OAuth {}: iss, scope or lifetime wrong",
            call.what()
        ));
        return refused(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        );
    }
    let token = format!(
        "ya29.FAKE-test-access-token-{:04}",
        st.google_tokens.len() + 1
    );
    st.google_tokens.push(token.clone());
    ok(json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}))
}

fn url_form(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                crate::contract::percent_decode(k),
                crate::contract::percent_decode(v),
            )
        })
        .collect()
}

/// GAK `Key` as JSON (lowerCamelCase; never the key string but from getKeyString).
fn google_key_json(k: &GoogleKey) -> Value {
    let mut v = json!({
        "name": k.name, "uid": k.uid, "displayName": k.display_name,
        "createTime": rfc3339(k.created), "updateTime": rfc3339(k.created),
        "restrictions": k.restrictions, "etag": format!("W/\"{}\"", k.uid),
    });
    if let Some(d) = k.deleted_at {
        // GAK `delete_time`: "A timestamp when this key was deleted."
        v["deleteTime"] = json!(rfc3339(d));
    }
    v
}

/// A GAK long-running operation, not done until polled (GAK `operation_info`; whether a
/// first answer can be done is not documented, so it never is here).
fn google_operation(st: &mut State, key: &str) -> ResponseTemplate {
    let name = format!(
        "operations/akmf.p7-FAKE-{:04}",
        st.google_operations.len() + 1
    );
    st.google_operations.insert(
        name.clone(),
        Operation {
            key: key.to_string(),
            polls_left: 1,
        },
    );
    ok(json!({"name": name, "done": false}))
}

fn google_project_number(p: &str) -> Option<&'static str> {
    (p == GOOGLE_PROJECT || p == GOOGLE_PROJECT_NUMBER).then_some(GOOGLE_PROJECT_NUMBER)
}

/// The API Keys API v2 (GAK), with the OAuth token from [`google_oauth`].
fn google_api_keys(st: &mut State, call: &Call) -> ResponseTemplate {
    let token_ok = call
        .bearer()
        .is_some_and(|t| st.google_tokens.iter().any(|x| x == t));
    if !token_ok {
        st.problem(format!(
            "Google API Keys {}: no valid access token",
            call.what()
        ));
        // RPC code.proto: UNAUTHENTICATED → 401.
        return google_status(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
        );
    }
    let segs: Vec<&str> = call.segs.iter().map(String::as_str).collect();
    match (call.method.as_str(), segs.as_slice()) {
        // GAK apikeys.keys.lookupKey: `keyString` → {parent, name}.
        ("GET", ["v2", "keys:lookupKey"]) => {
            let Some(value) = call.q("keyString") else {
                st.problem(format!("Google API Keys {}: no keyString", call.what()));
                return google_status(400, "INVALID_ARGUMENT", "key_string is required");
            };
            match st.google_keys.iter().find(|k| k.value == value) {
                Some(k) => ok(
                    json!({"parent": format!("projects/{GOOGLE_PROJECT_NUMBER}"), "name": k.name}),
                ),
                // Not documented for an unknown key: NOT_FOUND assumed.
                None => google_status(404, "NOT_FOUND", "The API key was not found."),
            }
        }
        // GAK apikeys.projects.locations.keys.create: `keyId` must match
        // `[a-z]([a-z0-9-]{0,61}[a-z0-9])?`, unique in the project (ALREADY_EXISTS → 409);
        // only displayName, restrictions and annotations can be set.
        ("POST", ["v2", "projects", p, "locations", "global", "keys"]) => {
            let Some(number) = google_project_number(p) else {
                return google_status(
                    403,
                    "PERMISSION_DENIED",
                    "Permission denied on resource project.",
                );
            };
            let body = call.json().unwrap_or(Value::Null);
            let key_id = call.q("keyId").unwrap_or_default().to_string();
            let valid = !key_id.is_empty()
                && key_id.len() <= 63
                && key_id.starts_with(|c: char| c.is_ascii_lowercase())
                && key_id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !key_id.ends_with('-');
            if !valid {
                st.problem(format!(
                    "Google API Keys {}: keyId {key_id:?} is not valid",
                    call.what()
                ));
                return google_status(400, "INVALID_ARGUMENT", "Invalid key_id.");
            }
            let name = format!("projects/{number}/locations/global/keys/{key_id}");
            if st.google_keys.iter().any(|k| k.name == name) {
                return google_status(
                    409,
                    "ALREADY_EXISTS",
                    "A key with this key_id already exists.",
                );
            }
            st.minted += 1;
            let n = st.minted;
            let uid = uuid(6, n as usize);
            st.google_keys.push(GoogleKey {
                name: name.clone(),
                uid,
                display_name: body
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                value: format!("AIzaSy-test-gemini-MINT-FAKE{n:04}0000000Mg{n:02}"),
                created: Utc::now(),
                deleted_at: None,
                restrictions: body
                    .get("restrictions")
                    .cloned()
                    .unwrap_or_else(|| json!({})),
                leaked: false,
                minted: true,
            });
            google_operation(st, &name)
        }
        // GAK keys.list: pageSize, pageToken, showDeleted ("keys deleted in the past 30 days
        // should also be returned"); `{keys, nextPageToken}`; never the key string.
        ("GET", ["v2", "projects", p, "locations", "global", "keys"]) => {
            let Some(number) = google_project_number(p) else {
                return google_status(
                    403,
                    "PERMISSION_DENIED",
                    "Permission denied on resource project.",
                );
            };
            let show_deleted = call.q("showDeleted") == Some("true");
            let keys: Vec<Value> = st
                .google_keys
                .iter()
                .filter(|k| k.name.starts_with(&format!("projects/{number}/")))
                .filter(|k| show_deleted || k.deleted_at.is_none())
                .map(google_key_json)
                .collect();
            let size = call
                .q("pageSize")
                .and_then(|s| s.parse().ok())
                .unwrap_or(300usize);
            let from: usize = call
                .q("pageToken")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let n = size.min(st.page_cap).max(1);
            let page: Vec<Value> = keys.iter().skip(from).take(n).cloned().collect();
            let mut answer = json!({"keys": page});
            if from + n < keys.len() {
                answer["nextPageToken"] = json!((from + n).to_string());
            }
            ok(answer)
        }
        // GAK keys.get / keys.delete / keys.getKeyString.
        (
            m,
            [
                "v2",
                "projects",
                p,
                "locations",
                "global",
                "keys",
                id,
                rest @ ..,
            ],
        ) => {
            let Some(number) = google_project_number(p) else {
                return google_status(
                    403,
                    "PERMISSION_DENIED",
                    "Permission denied on resource project.",
                );
            };
            let name = format!("projects/{number}/locations/global/keys/{id}");
            let Some(i) = st.google_keys.iter().position(|k| k.name == name) else {
                return google_status(404, "NOT_FOUND", "Key not found.");
            };
            match (m, rest) {
                ("GET", []) => ok(google_key_json(&st.google_keys[i])),
                ("GET", ["keyString"]) => ok(json!({"keyString": st.google_keys[i].value})),
                // GAK DeleteKey: "Deleted key can be retrieved within 30 days of deletion."
                ("DELETE", []) => {
                    if st.google_keys[i].deleted_at.is_some() {
                        // Not documented for a key deleted already: FAILED_PRECONDITION assumed.
                        return google_status(
                            400,
                            "FAILED_PRECONDITION",
                            "The key is already deleted.",
                        );
                    }
                    st.google_keys[i].deleted_at = Some(Utc::now());
                    google_operation(st, &name)
                }
                _ => {
                    st.problem(format!(
                        "Google API Keys {}: no such route in the fake",
                        call.what()
                    ));
                    google_status(404, "NOT_FOUND", "Not found")
                }
            }
        }
        // GAK apikeys.operations.get: done → `response` is the Key (`@type
        // type.googleapis.com/google.api.apikeys.v2.Key`; delete's too).
        ("GET", ["v2", "operations", id]) => {
            let name = format!("operations/{id}");
            let Some(op) = st.google_operations.get_mut(&name) else {
                return google_status(404, "NOT_FOUND", "Operation not found.");
            };
            if op.polls_left > 0 {
                op.polls_left -= 1;
                return ok(json!({"name": name, "done": false}));
            }
            let key = op.key.clone();
            let mut response = st
                .google_keys
                .iter()
                .find(|k| k.name == key)
                .map(google_key_json)
                .unwrap_or_default();
            response["@type"] = json!("type.googleapis.com/google.api.apikeys.v2.Key");
            ok(json!({"name": name, "done": true, "response": response}))
        }
        _ => {
            st.problem(format!(
                "Google API Keys {}: no such route in the fake",
                call.what()
            ));
            google_status(404, "NOT_FOUND", "Not found")
        }
    }
}

// ---------------------------------------------------------------------------- Braintrust

/// BT error answers: `text/plain` (or any JSON); 401 "No valid API key provided".
fn bt_error(status: u16, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_string(text)
}

/// BT `AISecret`: never the raw secret.
fn ai_secret_json(s: &AiSecret) -> Value {
    json!({
        "id": s.id,
        "created": rfc3339(s.created),
        "updated_at": rfc3339(s.updated_at),
        "secret_updated_at": rfc3339(s.secret_updated_at),
        "org_id": BRAINTRUST_ORG_ID,
        "name": s.name,
        "type": s.kind,
        "metadata": s.metadata,
        "secret_updated_by_user_id": "22222222-2222-4222-8222-222222222222",
        "preview_secret": redacted(&s.value, 3, "..."),
    })
}

/// BT `EnvVar`: no value, no `updated_at`, no `org_id`.
fn env_var_json(v: &EnvVar) -> Value {
    json!({
        "id": v.id, "object_type": v.object_type, "object_id": v.object_id, "name": v.name,
        "created": rfc3339(v.created), "secret_updated_at": rfc3339(v.secret_updated_at),
        "secret_updated_by_user_id": null, "used": null, "metadata": null,
        "preview_secret": redacted(&v.value, 3, "..."), "secret_type": null,
        "secret_category": "env_var",
    })
}

/// BT `ApiKey`.
fn bt_key_json(k: &BraintrustKey) -> Value {
    json!({"id": k.id, "created": rfc3339(k.created), "name": k.name,
           "preview_name": redacted(&k.value, 3, "..."), "user_id": "22222222-2222-4222-8222-222222222222",
           "user_email": "ops@example.com", "user_given_name": null, "user_family_name": null,
           "org_id": BRAINTRUST_ORG_ID})
}

/// A BT list page: `{objects}`, newest first, `limit` and the cursor `starting_after` (an id;
/// "you may only pass one of starting_after and ending_before"), no `has_more`.
fn bt_page(st: &State, call: &Call, mut items: Vec<Value>) -> ResponseTemplate {
    items.reverse();
    let limit = call
        .q("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX);
    let (page, _) = page_after(
        &items,
        |v| v["id"].as_str().unwrap_or_default().to_string(),
        call.q("starting_after"),
        limit,
        st.page_cap,
    );
    ok(json!({"objects": page}))
}

/// A write moves a change time forward, however fast it follows the last.
fn later(before: DateTime<Utc>) -> DateTime<Utc> {
    Utc::now().max(before + chrono::Duration::milliseconds(1))
}

fn braintrust(st: &mut State, call: &Call) -> ResponseTemplate {
    let bearer = call.bearer().unwrap_or("").to_string();
    let live_key = st
        .braintrust_keys
        .iter()
        .any(|k| k.value == bearer && !k.deleted);
    // BT getOrganization with the key under test: a live key lists its organization.
    if call.route() == ["GET", "v1", "organization"] {
        return if live_key {
            ok(
                json!({"objects": [{"id": BRAINTRUST_ORG_ID, "name": st.admin.braintrust_org,
                "api_url": null, "proxy_url": null, "realtime_url": null, "created": "2024-01-01T00:00:00.000Z"}]}),
            )
        } else {
            bt_error(401, "No valid API key provided")
        };
    }
    if bearer != st.admin.braintrust || !live_key {
        st.problem(format!(
            "Braintrust {}: not the API key as a bearer token",
            call.what()
        ));
        return bt_error(401, "No valid API key provided");
    }
    let org = st.admin.braintrust_org.clone();
    match call.route().as_slice() {
        // BT getAiSecret: org_name, ai_secret_name, limit, starting_after.
        ["GET", "v1", "ai_secret"] => {
            if call.q("org_name").is_some_and(|o| o != org) {
                return ok(json!({"objects": []}));
            }
            let name = call.q("ai_secret_name");
            let items: Vec<Value> = st
                .braintrust_secrets
                .iter()
                .filter(|s| name.is_none_or(|n| n == s.name))
                .map(ai_secret_json)
                .collect();
            bt_page(st, call, items)
        }
        // BT getAiSecretId. No 404 is documented anywhere in the spec: 404 assumed.
        ["GET", "v1", "ai_secret", id] => {
            match st.braintrust_secrets.iter().find(|s| s.id == *id) {
                Some(s) => ok(ai_secret_json(s)),
                None => bt_error(404, &format!("AI secret {id} not found")),
            }
        }
        // BT postAiSecret: "If there is an existing ai_secret with the same name …, will
        // return the existing ai_secret unmodified".
        ["POST", "v1", "ai_secret"] => {
            let body = call.json().unwrap_or(Value::Null);
            let name = body
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if let Some(s) = st.braintrust_secrets.iter().find(|s| s.name == name) {
                let answer = ai_secret_json(s);
                st.refuse(
                    "BT postAiSecret: an existing name is returned unmodified (nothing is written)",
                );
                return ok(answer);
            }
            st.problem(format!(
                "Braintrust {}: creates AI secret {name}",
                call.what()
            ));
            bt_error(400, "unexpected create")
        }
        // BT putAiSecret: "Create or replace ai_secret. If there is an existing ai_secret with
        // the same name …, will replace the existing ai_secret with the provided fields";
        // CreateAISecret.secret: "If omitted in a PUT request, the existing secret value will
        // be left intact".
        ["PUT", "v1", "ai_secret"] => {
            let body = call.json().unwrap_or(Value::Null);
            let str_of = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
            let Some(name) = str_of("name") else {
                st.problem(format!("Braintrust {}: no name", call.what()));
                return bt_error(400, "name: Required");
            };
            let Some(s) = st.braintrust_secrets.iter_mut().find(|s| s.name == name) else {
                st.problem(format!(
                    "Braintrust {}: creates AI secret {name}",
                    call.what()
                ));
                return bt_error(400, "unexpected create");
            };
            let now = later(s.updated_at.max(s.secret_updated_at));
            if let Some(secret) = str_of("secret") {
                s.value = secret;
                s.secret_updated_at = now;
                s.writes += 1;
            }
            s.updated_at = now;
            if let Some(t) = str_of("type") {
                s.kind = t;
            }
            s.metadata = body.get("metadata").cloned().unwrap_or(Value::Null);
            let answer = ai_secret_json(s);
            ok(answer)
        }
        // BT patchAiSecretId: PatchAISecret {name?, type?, metadata?, secret?}; object fields
        // deep-merged.
        ["PATCH", "v1", "ai_secret", id] => {
            let body = call.json().unwrap_or(Value::Null);
            if !call
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json"))
            {
                st.problem(format!("Braintrust {}: not JSON", call.what()));
                return bt_error(400, "Invalid request body");
            }
            let Some(s) = st.braintrust_secrets.iter_mut().find(|s| s.id == *id) else {
                return bt_error(404, &format!("AI secret {id} not found"));
            };
            if let Some(secret) = body.get("secret").and_then(Value::as_str) {
                let now = later(s.secret_updated_at);
                s.value = secret.to_string();
                s.secret_updated_at = now;
                s.updated_at = now;
                s.writes += 1;
            }
            if let Some(t) = body.get("type").and_then(Value::as_str) {
                s.kind = t.to_string();
            }
            let answer = ai_secret_json(s);
            ok(answer)
        }
        // BT deleteAiSecretId: the deleted object.
        ["DELETE", "v1", "ai_secret", id] => {
            match st.braintrust_secrets.iter().position(|s| s.id == *id) {
                Some(i) => {
                    let s = st.braintrust_secrets.remove(i);
                    ok(ai_secret_json(&s))
                }
                None => bt_error(404, &format!("AI secret {id} not found")),
            }
        }
        // BT getEnvVar: env_var_name, object_type, object_id, limit; no cursor.
        ["GET", "v1", "env_var"] => {
            let name = call.q("env_var_name");
            let ot = call.q("object_type");
            let oid = call.q("object_id");
            let objects: Vec<Value> = st
                .braintrust_env_vars
                .iter()
                .rev()
                .filter(|v| name.is_none_or(|n| n == v.name))
                .filter(|v| ot.is_none_or(|t| t == v.object_type))
                .filter(|v| oid.is_none_or(|o| o == v.object_id))
                .map(env_var_json)
                .collect();
            ok(json!({"objects": objects}))
        }
        // BT postEnvVar: an existing name is returned unmodified.
        ["POST", "v1", "env_var"] => {
            let body = call.json().unwrap_or(Value::Null);
            let name = body
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if let Some(v) = st.braintrust_env_vars.iter().find(|v| v.name == name) {
                let answer = env_var_json(v);
                st.refuse(
                    "BT postEnvVar: an existing name is returned unmodified (nothing is written)",
                );
                return ok(answer);
            }
            st.problem(format!(
                "Braintrust {}: creates env var {name}",
                call.what()
            ));
            bt_error(400, "unexpected create")
        }
        // BT putEnvVar: "Create or replace env_var" (whether an omitted value is kept is
        // not said: kept, assumed).
        ["PUT", "v1", "env_var"] => {
            let body = call.json().unwrap_or(Value::Null);
            let str_of = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
            let (Some(name), Some(ot), Some(oid)) =
                (str_of("name"), str_of("object_type"), str_of("object_id"))
            else {
                st.problem(format!(
                    "Braintrust {}: name, object_type or object_id missing",
                    call.what()
                ));
                return bt_error(400, "Invalid request body");
            };
            let Some(v) = st
                .braintrust_env_vars
                .iter_mut()
                .find(|v| v.name == name && v.object_type == ot && v.object_id == oid)
            else {
                st.problem(format!(
                    "Braintrust {}: creates env var {name}",
                    call.what()
                ));
                return bt_error(400, "unexpected create");
            };
            if let Some(value) = str_of("value") {
                v.secret_updated_at = later(v.secret_updated_at);
                v.value = value;
                v.writes += 1;
            }
            let answer = env_var_json(v);
            ok(answer)
        }
        ["GET", "v1", "env_var", id] => match st.braintrust_env_vars.iter().find(|v| v.id == *id) {
            Some(v) => ok(env_var_json(v)),
            None => bt_error(404, &format!("env var {id} not found")),
        },
        // BT patchEnvVarId: `name` required (not nullable), value, metadata, secret_type.
        ["PATCH", "v1", "env_var", id] => {
            let body = call.json().unwrap_or(Value::Null);
            let Some(name) = body.get("name").and_then(Value::as_str).map(str::to_string) else {
                st.problem(format!("Braintrust {}: PATCH without name", call.what()));
                return bt_error(400, "name: Required");
            };
            let Some(v) = st.braintrust_env_vars.iter_mut().find(|v| v.id == *id) else {
                return bt_error(404, &format!("env var {id} not found"));
            };
            v.name = name;
            if let Some(value) = body.get("value").and_then(Value::as_str) {
                v.secret_updated_at = later(v.secret_updated_at);
                v.value = value.to_string();
                v.writes += 1;
            }
            let answer = env_var_json(v);
            ok(answer)
        }
        // BT getApiKey: org_name, ids, limit, starting_after.
        ["GET", "v1", "api_key"] => {
            if call.q("org_name").is_some_and(|o| o != org) {
                return ok(json!({"objects": []}));
            }
            let ids: Vec<&str> = call.q_all("ids");
            let items: Vec<Value> = st
                .braintrust_keys
                .iter()
                .filter(|k| !k.deleted && (ids.is_empty() || ids.contains(&k.id.as_str())))
                .map(bt_key_json)
                .collect();
            bt_page(st, call, items)
        }
        ["GET", "v1", "api_key", id] => {
            match st
                .braintrust_keys
                .iter()
                .find(|k| k.id == *id && !k.deleted)
            {
                Some(k) => ok(bt_key_json(k)),
                None => bt_error(404, &format!("API key {id} not found")),
            }
        }
        // BT deleteApiKeyId: "Returns the deleted api_key object".
        ["DELETE", "v1", "api_key", id] => {
            match st
                .braintrust_keys
                .iter_mut()
                .find(|k| k.id == *id && !k.deleted)
            {
                Some(k) => {
                    k.deleted = true;
                    let answer = bt_key_json(k);
                    ok(answer)
                }
                None => bt_error(404, &format!("API key {id} not found")),
            }
        }
        _ => {
            st.problem(format!(
                "Braintrust {}: no such route in the fake",
                call.what()
            ));
            bt_error(404, "Not found")
        }
    }
}
