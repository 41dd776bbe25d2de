//! Stateful fakes of the AI providers and Braintrust on wiremock: one `MockServer` per
//! provider, each answered by one [`wiremock::Respond`] that routes by method and path over a
//! shared [`State`]. They speak the request and response shapes breachbook's provider
//! modules document (src/providers/{openai,anthropic,gemini,braintrust}.rs): keys minted,
//! deleted or deactivated here stay so, a key works (`/v1/models`) exactly while it is live,
//! and Braintrust's `secret_updated_at` moves on every write.
//!
//! Tight on purpose: an admin call without the right admin key, a missing required header or
//! query parameter, or a route the fake does not know is answered with an error and written
//! down in [`State::problems`], which a test asserts is empty. Every value here is an
//! obviously fake test key.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The Anthropic API version breachbook must name on every call.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The admin credentials the fakes accept.
#[derive(Debug, Clone)]
pub struct AdminKeys {
    /// OpenAI Admin API key (`Authorization: Bearer`).
    pub openai: String,
    /// Anthropic Admin API key (`x-api-key`).
    pub anthropic: String,
    /// Braintrust API key (`Authorization: Bearer`).
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

/// An OpenAI project API key.
#[derive(Debug, Clone)]
pub struct OpenAiKey {
    pub id: String,
    pub project: String,
    pub name: String,
    pub value: String,
    /// `Some(service account id)` for a service-account key, `None` for a user's.
    pub service_account: Option<String>,
    pub created_at: i64,
    pub deleted: bool,
    /// Minted through the fake (POST …/service_accounts/{sa}/api_keys).
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

/// A Gemini (Google Cloud) API key.
#[derive(Debug, Clone)]
pub struct GeminiKey {
    pub value: String,
    /// False once "deleted in the console": the API answers 400 API_KEY_INVALID.
    pub alive: bool,
}

/// A Braintrust org-level AI secret.
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
    /// PUTs that replaced this secret's value.
    pub writes: u32,
}

/// Everything the four fakes know; shared by their responders.
#[derive(Debug)]
pub struct State {
    pub admin: AdminKeys,
    pub openai_projects: Vec<OpenAiProject>,
    pub openai_keys: Vec<OpenAiKey>,
    /// OpenAI completions usage: (key id, minute start) → requests.
    pub openai_usage: BTreeMap<(String, i64), u64>,
    pub anthropic_keys: Vec<AnthropicKey>,
    /// Anthropic messages usage: (key id, minute start) → uncached input tokens.
    pub anthropic_usage: BTreeMap<(String, i64), u64>,
    pub gemini_keys: Vec<GeminiKey>,
    pub braintrust_secrets: Vec<AiSecret>,
    /// Every call, as `Provider METHOD /path` (no query, no header, no body).
    pub calls: Vec<String>,
    /// Calls the fakes refused as malformed or unauthenticated, or did not know.
    pub problems: Vec<String>,
    /// Usage reports served with at least one bucket.
    pub usage_served: u32,
    minted: u32,
}

impl State {
    fn new(admin: AdminKeys) -> State {
        State {
            admin,
            openai_projects: Vec::new(),
            openai_keys: Vec::new(),
            openai_usage: BTreeMap::new(),
            anthropic_keys: Vec::new(),
            anthropic_usage: BTreeMap::new(),
            gemini_keys: Vec::new(),
            braintrust_secrets: Vec::new(),
            calls: Vec::new(),
            problems: Vec::new(),
            usage_served: 0,
            minted: 0,
        }
    }

    /// Adds an OpenAI project.
    pub fn openai_project(&mut self, id: &str, name: &str) {
        self.openai_projects.push(OpenAiProject {
            id: id.into(),
            name: name.into(),
        });
    }

    /// Adds an OpenAI project key (`service_account`: its owner, `None` for a user's key).
    pub fn openai_key(
        &mut self,
        project: &str,
        id: &str,
        name: &str,
        value: &str,
        service_account: Option<&str>,
    ) {
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

    /// Adds a live Gemini key (made in the console).
    pub fn gemini_key(&mut self, value: &str) {
        self.gemini_keys.push(GeminiKey {
            value: value.into(),
            alive: true,
        });
    }

    /// "Deletes the key in the Google Cloud console": from now on it answers 400
    /// API_KEY_INVALID. Returns whether the key was known.
    pub fn delete_gemini_key(&mut self, value: &str) -> bool {
        let mut found = false;
        for k in self.gemini_keys.iter_mut().filter(|k| k.value == value) {
            k.alive = false;
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
            id: format!("00000000-0000-4000-8000-{n:012}"),
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

    /// Records `n` OpenAI completions requests with key `key_id` in the minute `minutes_ago`.
    pub fn openai_usage(&mut self, key_id: &str, minutes_ago: i64, n: u64) {
        let minute = minute_start(Utc::now()) - minutes_ago * 60;
        *self
            .openai_usage
            .entry((key_id.to_string(), minute))
            .or_default() += n;
    }

    /// Records `tokens` Anthropic input tokens with key `key_id` in the minute `minutes_ago`.
    pub fn anthropic_usage(&mut self, key_id: &str, minutes_ago: i64, tokens: u64) {
        let minute = minute_start(Utc::now()) - minutes_ago * 60;
        *self
            .anthropic_usage
            .entry((key_id.to_string(), minute))
            .or_default() += tokens;
    }

    /// The OpenAI key `id`.
    pub fn openai(&self, id: &str) -> Option<&OpenAiKey> {
        self.openai_keys.iter().find(|k| k.id == id)
    }

    /// The Anthropic key `id`.
    pub fn anthropic(&self, id: &str) -> Option<&AnthropicKey> {
        self.anthropic_keys.iter().find(|k| k.id == id)
    }

    /// The Gemini key with this value.
    pub fn gemini(&self, value: &str) -> Option<&GeminiKey> {
        self.gemini_keys.iter().find(|k| k.value == value)
    }

    /// The Braintrust AI secret `name`.
    pub fn ai_secret(&self, name: &str) -> Option<&AiSecret> {
        self.braintrust_secrets.iter().find(|s| s.name == name)
    }

    /// Keys minted through the fake, in order.
    pub fn minted_openai(&self) -> Vec<&OpenAiKey> {
        self.openai_keys.iter().filter(|k| k.minted).collect()
    }

    /// How many calls match `prefix` (e.g. `"OpenAI DELETE /v1/organization"`).
    pub fn count_calls(&self, prefix: &str) -> usize {
        self.calls.iter().filter(|c| c.starts_with(prefix)).count()
    }

    fn problem(&mut self, p: String) {
        self.problems.push(p);
    }
}

/// The four fakes and their shared state.
pub struct FakeAi {
    pub openai: MockServer,
    pub anthropic: MockServer,
    pub gemini: MockServer,
    pub braintrust: MockServer,
    state: Arc<Mutex<State>>,
}

impl FakeAi {
    /// Starts the four servers, knowing nothing yet but the admin keys.
    pub async fn start(admin: AdminKeys) -> FakeAi {
        let state = Arc::new(Mutex::new(State::new(admin)));
        let serve = |provider: Provider| {
            let state = state.clone();
            async move {
                let server = MockServer::start().await;
                Mock::given(wiremock::matchers::any())
                    .respond_with(Route { provider, state })
                    .mount(&server)
                    .await;
                server
            }
        };
        FakeAi {
            openai: serve(Provider::OpenAi).await,
            anthropic: serve(Provider::Anthropic).await,
            gemini: serve(Provider::Gemini).await,
            braintrust: serve(Provider::Braintrust).await,
            state,
        }
    }

    /// The shared state (also usable from other threads through [`FakeAi::handle`]).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A handle on the state for another thread.
    pub fn handle(&self) -> Arc<Mutex<State>> {
        self.state.clone()
    }

    /// The environment breachbook reads: base URLs and admin keys.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let admin = self.state().admin.clone();
        vec![
            ("BREACHBOOK_OPENAI_BASE_URL", self.openai.uri()),
            ("BREACHBOOK_ANTHROPIC_BASE_URL", self.anthropic.uri()),
            ("BREACHBOOK_GEMINI_BASE_URL", self.gemini.uri()),
            ("BREACHBOOK_BRAINTRUST_BASE_URL", self.braintrust.uri()),
            ("OPENAI_ADMIN_KEY", admin.openai),
            ("ANTHROPIC_ADMIN_KEY", admin.anthropic),
            ("BRAINTRUST_API_KEY", admin.braintrust),
        ]
    }
}

#[derive(Debug, Clone, Copy)]
enum Provider {
    OpenAi,
    Anthropic,
    Gemini,
    Braintrust,
}

impl Provider {
    fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "OpenAI",
            Provider::Anthropic => "Anthropic",
            Provider::Gemini => "Gemini",
            Provider::Braintrust => "Braintrust",
        }
    }
}

struct Route {
    provider: Provider,
    state: Arc<Mutex<State>>,
}

impl Respond for Route {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let call = Call::new(req);
        st.calls.push(format!(
            "{} {} {}",
            self.provider.name(),
            call.method,
            call.path
        ));
        if !call
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("breachbook/"))
        {
            st.problem(format!(
                "{} {}: User-Agent is {:?}, not breachbook/<version>",
                self.provider.name(),
                call.what(),
                call.header("user-agent")
            ));
        }
        match self.provider {
            Provider::OpenAi => openai(&mut st, &call),
            Provider::Anthropic => anthropic(&mut st, &call),
            Provider::Gemini => gemini(&mut st, &call),
            Provider::Braintrust => braintrust(&mut st, &call),
        }
    }
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
}

fn minute_start(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60) * 60
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `head` characters, `*****`, the last four: OpenAI's `redacted_value`.
fn redacted(value: &str, head: usize, gap: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let h: String = chars[..head.min(chars.len())].iter().collect();
    let t: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("{h}{gap}{t}")
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// Checks a required query parameter; a problem when it is missing or wrong.
fn want_q(st: &mut State, call: &Call, name: &str, value: Option<&str>) -> bool {
    let got = call.q(name);
    let fine = match value {
        Some(v) => got == Some(v),
        None => got.is_some_and(|g| !g.is_empty()),
    };
    if !fine {
        st.problem(format!(
            "{}: query {name}={got:?}, expected {}",
            call.what(),
            value.unwrap_or("(any value)")
        ));
    }
    fine
}

// ------------------------------------------------------------------------------- OpenAI

fn openai_error(status: u16, message: &str, code: Option<&str>) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}
    }))
}

fn openai_key_json(k: &OpenAiKey) -> Value {
    let owner = match &k.service_account {
        Some(sa) => json!({"type": "service_account", "service_account": {
            "object": "organization.project.service_account", "id": sa, "name": format!("{sa}-bot"),
            "role": "member", "created_at": k.created_at
        }}),
        None => json!({"type": "user", "user": {
            "object": "organization.project.user", "id": "user_EXAMPLE01", "name": "Ada Example",
            "email": "ada@example.com", "role": "owner", "added_at": k.created_at
        }}),
    };
    json!({
        "object": "organization.project.api_key",
        "redacted_value": redacted(&k.value, 6, "*****"),
        "name": k.name,
        "created_at": k.created_at,
        "last_used_at": k.created_at + 86_400,
        "id": k.id,
        "owner": owner,
    })
}

fn list(data: Vec<Value>, id_of: impl Fn(&Value) -> Option<String>) -> Value {
    let first = data.first().and_then(&id_of);
    let last = data.last().and_then(&id_of);
    json!({"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": false})
}

fn openai(st: &mut State, call: &Call) -> ResponseTemplate {
    let route = call.route();
    // The key under test: GET /v1/models with the key itself.
    if route == ["GET", "v1", "models"] {
        let key = call
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        let live = st.openai_keys.iter().any(|k| k.value == key && !k.deleted);
        return if live {
            ok(json!({"object": "list", "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system"}
            ]}))
        } else {
            openai_error(
                401,
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                Some("invalid_api_key"),
            )
        };
    }
    let admin = format!("Bearer {}", st.admin.openai);
    if call.header("authorization") != Some(admin.as_str()) {
        st.problem(format!(
            "OpenAI {}: not the Admin API key as a bearer token",
            call.what()
        ));
        return openai_error(401, "Invalid authorization header", Some("invalid_api_key"));
    }
    match route.as_slice() {
        ["GET", "v1", "organization", "projects"] => {
            want_q(st, call, "limit", Some("100"));
            let data = st
                .openai_projects
                .iter()
                .map(|p| {
                    json!({"id": p.id, "object": "organization.project", "name": p.name,
                           "created_at": 1_711_471_533, "archived_at": null, "status": "active"})
                })
                .collect();
            ok(list(data, |v| v["id"].as_str().map(str::to_string)))
        }
        ["GET", "v1", "organization", "projects", p, "api_keys"] => {
            want_q(st, call, "limit", Some("100"));
            want_q(st, call, "owner_project_access", Some("any"));
            if !st.openai_projects.iter().any(|x| x.id == *p) {
                return openai_error(404, &format!("No such project: {p}"), None);
            }
            let data = st
                .openai_keys
                .iter()
                .filter(|k| k.project == *p && !k.deleted)
                .map(openai_key_json)
                .collect();
            ok(list(data, |v| v["id"].as_str().map(str::to_string)))
        }
        ["GET", "v1", "organization", "projects", p, "api_keys", id] => {
            match st
                .openai_keys
                .iter()
                .find(|k| k.project == *p && k.id == *id && !k.deleted)
            {
                Some(k) => ok(openai_key_json(k)),
                None => openai_error(404, &format!("No such API key: {id}"), None),
            }
        }
        [
            "DELETE",
            "v1",
            "organization",
            "projects",
            p,
            "api_keys",
            id,
        ] => {
            match st
                .openai_keys
                .iter_mut()
                .find(|k| k.project == *p && k.id == *id && !k.deleted)
            {
                Some(k) => {
                    k.deleted = true;
                    ok(
                        json!({"object": "organization.project.api_key.deleted", "id": id, "deleted": true}),
                    )
                }
                None => openai_error(404, &format!("No such API key: {id}"), None),
            }
        }
        [
            "POST",
            "v1",
            "organization",
            "projects",
            p,
            "service_accounts",
            sa,
            "api_keys",
        ] => {
            let body = call.json();
            let name = body
                .as_ref()
                .and_then(|b| b.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let fields = body
                .as_ref()
                .and_then(Value::as_object)
                .map(|o| o.len())
                .unwrap_or(0);
            if name.is_none()
                || fields != 1
                || !call
                    .header("content-type")
                    .is_some_and(|c| c.starts_with("application/json"))
            {
                st.problem(format!(
                    "OpenAI {}: body is not {{\"name\": …}} JSON",
                    call.what()
                ));
                return openai_error(400, "Invalid body", None);
            }
            let known_sa = st
                .openai_keys
                .iter()
                .any(|k| k.project == *p && k.service_account.as_deref() == Some(*sa));
            if !known_sa {
                st.problem(format!("OpenAI {}: unknown service account", call.what()));
                return openai_error(404, &format!("No such service account: {sa}"), None);
            }
            st.minted += 1;
            let n = st.minted;
            let value = format!("sk-test-openai-minted-{n:04}-FAKEKEY0000000000Mn{n:02}");
            let key = OpenAiKey {
                id: format!("key_MintedFake{n:04}"),
                project: p.to_string(),
                name: name.unwrap_or_default(),
                value: value.clone(),
                service_account: Some(sa.to_string()),
                created_at: Utc::now().timestamp(),
                deleted: false,
                minted: true,
            };
            let answer = json!({
                "object": "organization.project.service_account.api_key",
                "value": value,
                "name": key.name,
                "created_at": key.created_at,
                "id": key.id,
            });
            // Services move to the new key at once: it has calls in this minute.
            let id = key.id.clone();
            st.openai_keys.push(key);
            st.openai_usage(&id, 0, 12);
            ok(answer)
        }
        ["GET", "v1", "organization", "usage", "completions"] => {
            let fine = want_q(st, call, "bucket_width", Some("1m"))
                & want_q(st, call, "group_by", Some("api_key_id"))
                & want_q(st, call, "start_time", None)
                & want_q(st, call, "api_key_ids", None);
            if !fine {
                return openai_error(400, "Invalid query", None);
            }
            let start: i64 = call
                .q("start_time")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let ids: Vec<&str> = call.q_all("api_key_ids");
            let mut buckets: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
            for ((id, minute), n) in &st.openai_usage {
                if *minute >= start && ids.contains(&id.as_str()) {
                    buckets.entry(*minute).or_default().push(json!({
                        "object": "organization.usage.completions.result",
                        "input_tokens": n * 40, "output_tokens": n * 12, "input_cached_tokens": 0,
                        "input_audio_tokens": 0, "output_audio_tokens": 0,
                        "num_model_requests": n, "project_id": null, "user_id": null,
                        "api_key_id": id, "model": null, "batch": null
                    }));
                }
            }
            if !buckets.is_empty() {
                st.usage_served += 1;
            }
            let data: Vec<Value> = buckets
                .into_iter()
                .map(|(t, results)| {
                    json!({"object": "bucket", "start_time": t, "end_time": t + 60, "results": results})
                })
                .collect();
            ok(json!({"object": "page", "data": data, "has_more": false, "next_page": null}))
        }
        _ => {
            st.problem(format!("OpenAI {}: no such route in the fake", call.what()));
            openai_error(404, "Unknown request URL", None)
        }
    }
}

// ---------------------------------------------------------------------------- Anthropic

fn anthropic_error(status: u16, kind: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"type": "error", "error": {"type": kind, "message": message}}))
}

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
    })
}

fn anthropic(st: &mut State, call: &Call) -> ResponseTemplate {
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
        ["GET", "v1", "organizations", "api_keys"] => {
            want_q(st, call, "limit", Some("1000"));
            let ws = call.q("workspace_id").map(str::to_string);
            let data: Vec<Value> = st
                .anthropic_keys
                .iter()
                .filter(|k| ws.is_none() || k.workspace_id == ws)
                .map(anthropic_key_json)
                .collect();
            let body = list(data, |v| v["id"].as_str().map(str::to_string));
            ok(
                json!({"data": body["data"], "first_id": body["first_id"], "last_id": body["last_id"], "has_more": false}),
            )
        }
        ["GET", "v1", "organizations", "api_keys", id] => {
            match st.anthropic_keys.iter().find(|k| k.id == *id) {
                Some(k) => ok(anthropic_key_json(k)),
                None => anthropic_error(404, "not_found_error", &format!("API key {id} not found")),
            }
        }
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

// ------------------------------------------------------------------------------- Gemini

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

fn gemini(st: &mut State, call: &Call) -> ResponseTemplate {
    if call.route() != ["GET", "v1beta", "models"] {
        st.problem(format!("Gemini {}: no such route in the fake", call.what()));
        return google_error(404, "NOT_FOUND", "Not found", "NOT_FOUND");
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
    if st.gemini_keys.iter().any(|k| k.value == key && k.alive) {
        ok(json!({"models": [{
            "name": "models/gemini-2.5-flash", "version": "001", "displayName": "Gemini 2.5 Flash",
            "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536,
            "supportedGenerationMethods": ["generateContent", "countTokens"]
        }]}))
    } else {
        google_error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            "API_KEY_INVALID",
        )
    }
}

// --------------------------------------------------------------------------- Braintrust

fn ai_secret_json(s: &AiSecret) -> Value {
    json!({
        "id": s.id,
        "created": rfc3339(s.created),
        "updated_at": rfc3339(s.updated_at),
        "secret_updated_at": rfc3339(s.secret_updated_at),
        "org_id": "11111111-1111-4111-8111-111111111111",
        "name": s.name,
        "type": s.kind,
        "metadata": s.metadata,
        "preview_secret": redacted(&s.value, 3, "..."),
    })
}

fn braintrust(st: &mut State, call: &Call) -> ResponseTemplate {
    let bearer = format!("Bearer {}", st.admin.braintrust);
    if call.header("authorization") != Some(bearer.as_str()) {
        st.problem(format!(
            "Braintrust {}: not the API key as a bearer token",
            call.what()
        ));
        return ResponseTemplate::new(401).set_body_string("Unauthorized");
    }
    match call.route().as_slice() {
        ["GET", "v1", "ai_secret"] => {
            let org = st.admin.braintrust_org.clone();
            want_q(st, call, "org_name", Some(org.as_str()));
            want_q(st, call, "limit", Some("100"));
            let name = call.q("ai_secret_name");
            let objects: Vec<Value> = st
                .braintrust_secrets
                .iter()
                .filter(|s| name.is_none_or(|n| n == s.name))
                .map(ai_secret_json)
                .collect();
            ok(json!({"objects": objects}))
        }
        ["GET", "v1", "ai_secret", id] => {
            match st.braintrust_secrets.iter().find(|s| s.id == *id) {
                Some(s) => ok(ai_secret_json(s)),
                None => {
                    ResponseTemplate::new(404).set_body_string(format!("AI secret {id} not found"))
                }
            }
        }
        ["PUT", "v1", "ai_secret"] => {
            let body = call.json().unwrap_or(Value::Null);
            let json_type = call
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json"));
            let str_of = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
            let (Some(name), Some(org), Some(secret), true) = (
                str_of("name"),
                str_of("org_name"),
                str_of("secret"),
                json_type,
            ) else {
                st.problem(format!(
                    "Braintrust {}: body lacks name, org_name or secret, or is not JSON",
                    call.what()
                ));
                return ResponseTemplate::new(400).set_body_string("Invalid request body");
            };
            if org != st.admin.braintrust_org {
                st.problem(format!("Braintrust {}: org_name {org}", call.what()));
                return ResponseTemplate::new(403).set_body_string("Forbidden");
            }
            let Some(s) = st.braintrust_secrets.iter_mut().find(|s| s.name == name) else {
                st.problem(format!(
                    "Braintrust {}: creates {name} instead of replacing it",
                    call.what()
                ));
                return ResponseTemplate::new(400).set_body_string("unexpected create");
            };
            let problem = match (str_of("type"), body.get("metadata")) {
                (Some(t), Some(m)) if t == s.kind && *m == s.metadata => None,
                _ => Some(format!(
                    "Braintrust {}: the PUT drops or changes type/metadata of {name}",
                    call.what()
                )),
            };
            // A replace moves both change times forward, however fast it follows the last.
            let now = Utc::now().max(s.secret_updated_at + chrono::Duration::milliseconds(1));
            s.value = secret;
            s.updated_at = now;
            s.secret_updated_at = now;
            s.writes += 1;
            let answer = ai_secret_json(s);
            if let Some(p) = problem {
                st.problem(p);
            }
            ok(answer)
        }
        ["DELETE", "v1", "ai_secret", id] => {
            let before = st.braintrust_secrets.len();
            st.braintrust_secrets.retain(|s| s.id != *id);
            if st.braintrust_secrets.len() < before {
                ok(json!({"id": id}))
            } else {
                ResponseTemplate::new(404).set_body_string(format!("AI secret {id} not found"))
            }
        }
        _ => {
            st.problem(format!(
                "Braintrust {}: no such route in the fake",
                call.what()
            ));
            ResponseTemplate::new(404).set_body_string("Not found")
        }
    }
}
