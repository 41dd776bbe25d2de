//! A fake of GitHub's REST API for Actions secrets (repository and environment), on
//! wiremock, that opens what it is sent: each repository (and environment) has a Curve25519
//! key pair, and a write is unsealed with its secret key, so a test sees the very value
//! breachbook wrote.
//!
//! Routes, fields and answers from github/rest-api-description,
//! `descriptions/api.github.com/api.github.com.2022-11-28.yaml` at
//! 0000036e42b5e7121c2b1ac244cb7bba1d2f3914:
//! - `GET /repos/{owner}/{repo}/actions/secrets/public-key` (actions/get-repo-public-key),
//!   `GET /repos/{owner}/{repo}/environments/{environment_name}/secrets/public-key`
//!   (actions/get-environment-public-key) → 200 `actions-public-key` {`key_id`, `key`};
//! - `GET …/secrets/{secret_name}` (actions/get-repo-secret, actions/get-environment-secret)
//!   → 200 `actions-secret` {`name`, `created_at`, `updated_at`};
//! - `PUT …/secrets/{secret_name}` (actions/create-or-update-repo-secret,
//!   actions/create-or-update-environment-secret), body {`encrypted_value` (base64, the
//!   pattern `^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$`),
//!   `key_id`}, both required → 201 `{}` when created, 204 when updated; a body the schema
//!   refuses → 422 (`validation_failed`).
//!
//! From GitHub's REST documentation (<https://docs.github.com/rest/using-the-rest-api>):
//! a bad token answers 401 `{"message": "Bad credentials"}`; a request without
//! `User-Agent` is refused (403); a repository the token cannot see answers 404
//! `{"message": "Not Found"}`; a spent rate limit answers 403 with
//! `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (epoch seconds).
//!
//! Not in the description, and our choice: a `key_id` other than the current key's answers
//! 422, and so does a value the key cannot open (GitHub could not decrypt it either); both
//! are also recorded as problems, which a test asserts empty.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const DOCS: &str = "https://docs.github.com/rest";

/// One secret as GitHub keeps it, with the value the fake opened.
#[derive(Debug, Clone)]
pub struct Secret {
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What was last written (unsealed), or what the test said it held at the start.
    pub value: Option<String>,
    pub writes: u32,
}

struct KeyPair {
    id: String,
    secret: crypto_box::SecretKey,
}

#[derive(Default)]
pub struct GithubState {
    token: String,
    /// `owner/repo` → environments (the repository's own secrets under `None`).
    keys: HashMap<(String, Option<String>), KeyPair>,
    secrets: HashMap<(String, Option<String>, String), Secret>,
    /// Requests still to be refused as rate-limited.
    rate_limited: u32,
    /// Everything a real GitHub would refuse or could not read.
    pub problems: Vec<String>,
    /// Every request, as `METHOD path`.
    pub requests: Vec<String>,
}

impl GithubState {
    /// A repository (its own secrets' key pair).
    pub fn repo(&mut self, repo: &str) {
        self.key_pair(repo, None);
    }

    /// An environment of `repo`, with a key pair of its own.
    pub fn environment(&mut self, repo: &str, env: &str) {
        self.key_pair(repo, Some(env));
    }

    fn key_pair(&mut self, repo: &str, env: Option<&str>) {
        let n = self.keys.len() as u64;
        self.keys
            .entry((repo.to_string(), env.map(str::to_string)))
            .or_insert_with(|| KeyPair {
                id: format!("{}", 3_380_204_578_043_523_366u64 + n),
                secret: crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng),
            });
    }

    /// A secret that exists, holding `value` (as the pipeline was given it).
    pub fn secret(&mut self, repo: &str, env: Option<&str>, name: &str, value: &str) {
        self.key_pair(repo, env);
        let at = Utc::now().trunc_subsecs(0) - chrono::Duration::days(30);
        self.secrets.insert(
            (repo.to_string(), env.map(str::to_string), name.to_string()),
            Secret {
                created_at: at,
                updated_at: at,
                value: Some(value.to_string()),
                writes: 0,
            },
        );
    }

    pub fn get(&self, repo: &str, env: Option<&str>, name: &str) -> Option<&Secret> {
        self.secrets
            .get(&(repo.to_string(), env.map(str::to_string), name.to_string()))
    }

    /// The next `n` requests are refused with a spent primary rate limit.
    pub fn rate_limit(&mut self, n: u32) {
        self.rate_limited = n;
    }
}

pub struct FakeGithub {
    pub server: MockServer,
    state: Arc<Mutex<GithubState>>,
}

impl FakeGithub {
    /// A fake that accepts `token` only.
    pub async fn start(token: &str) -> FakeGithub {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(GithubState {
            token: token.to_string(),
            ..GithubState::default()
        }));
        Mock::given(any())
            .respond_with(Routes {
                state: state.clone(),
            })
            .mount(&server)
            .await;
        FakeGithub { server, state }
    }

    pub fn state(&self) -> MutexGuard<'_, GithubState> {
        self.state.lock().unwrap()
    }

    /// The variables breachbook reads to reach this fake.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("BREACHBOOK_GITHUB_BASE_URL".into(), self.server.uri()),
            ("GITHUB_TOKEN".into(), self.state().token.clone()),
        ]
    }
}

struct Routes {
    state: Arc<Mutex<GithubState>>,
}

fn message(status: u16, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "message": text,
        "documentation_url": DOCS,
        "status": status.to_string(),
    }))
}

fn decode(seg: &str) -> String {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&seg[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64_shaped(s: &str) -> bool {
    s.len().is_multiple_of(4)
        && !s.is_empty()
        && s.trim_end_matches('=').len() + 2 >= s.len()
        && s.trim_end_matches('=')
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

impl Respond for Routes {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = self.state.lock().unwrap();
        let method = req.method.as_str().to_string();
        st.requests.push(format!("{method} {}", req.url.path()));
        if req.headers.get("user-agent").is_none() {
            st.problems
                .push(format!("{method} {}: no User-Agent", req.url.path()));
            return message(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
            );
        }
        if req
            .headers
            .get("x-github-api-version")
            .and_then(|v| v.to_str().ok())
            != Some("2022-11-28")
        {
            st.problems.push(format!(
                "{method} {}: no X-GitHub-Api-Version: 2022-11-28",
                req.url.path()
            ));
        }
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let token = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("token "));
        if token != Some(st.token.as_str()) {
            return message(401, "Bad credentials");
        }
        if st.rate_limited > 0 {
            st.rate_limited -= 1;
            let reset = Utc::now().timestamp() + 1;
            return message(403, "API rate limit exceeded for user ID 1.")
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-used", "5000")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str());
        }
        let segs: Vec<String> = req
            .url
            .path()
            .trim_start_matches('/')
            .split('/')
            .map(decode)
            .collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let (repo, env, rest) = match segs.as_slice() {
            ["repos", o, r, "actions", "secrets", rest @ ..] => (format!("{o}/{r}"), None, rest),
            ["repos", o, r, "environments", e, "secrets", rest @ ..] => {
                (format!("{o}/{r}"), Some(e.to_string()), rest)
            }
            _ => return message(404, "Not Found"),
        };
        let scope = (repo.clone(), env.clone());
        if !st.keys.contains_key(&scope) {
            return message(404, "Not Found");
        }
        match (method.as_str(), rest) {
            ("GET", ["public-key"]) => {
                let kp = &st.keys[&scope];
                let key = base64::engine::general_purpose::STANDARD
                    .encode(kp.secret.public_key().as_bytes());
                ResponseTemplate::new(200).set_body_json(json!({"key_id": kp.id, "key": key}))
            }
            ("GET", [name]) => match st.secrets.get(&(repo, env, name.to_string())) {
                Some(s) => ResponseTemplate::new(200).set_body_json(json!({
                    "name": name,
                    "created_at": s.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    "updated_at": s.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                })),
                None => message(404, "Not Found"),
            },
            ("PUT", [name]) => {
                let body: Value = match serde_json::from_slice(&req.body) {
                    Ok(v) => v,
                    Err(_) => return message(400, "Problems parsing JSON"),
                };
                let (Some(sealed), Some(key_id)) = (
                    body.get("encrypted_value").and_then(Value::as_str),
                    body.get("key_id").and_then(Value::as_str),
                ) else {
                    st.problems.push(format!(
                        "PUT {name}: encrypted_value and key_id are required"
                    ));
                    return message(422, "Invalid request.");
                };
                if !base64_shaped(sealed) {
                    st.problems
                        .push(format!("PUT {name}: encrypted_value is not base64"));
                    return message(422, "Invalid request.");
                }
                let kp = &st.keys[&scope];
                if key_id != kp.id {
                    st.problems.push(format!(
                        "PUT {name}: key_id {key_id} is not the current key"
                    ));
                    return message(422, "Invalid request.");
                }
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(sealed)
                    .unwrap_or_default();
                let Ok(plain) = kp.secret.unseal(&bytes) else {
                    st.problems.push(format!(
                        "PUT {name}: the value is not a sealed box for this key"
                    ));
                    return message(422, "Invalid request.");
                };
                let value = String::from_utf8_lossy(&plain).into_owned();
                let now = Utc::now().trunc_subsecs(0);
                let entry = st.secrets.entry((repo, env, name.to_string()));
                let created = matches!(entry, std::collections::hash_map::Entry::Vacant(_));
                let s = entry.or_insert(Secret {
                    created_at: now,
                    updated_at: now,
                    value: None,
                    writes: 0,
                });
                s.value = Some(value);
                s.updated_at = now;
                s.writes += 1;
                if created {
                    ResponseTemplate::new(201).set_body_json(json!({}))
                } else {
                    ResponseTemplate::new(204)
                }
            }
            _ => message(404, "Not Found"),
        }
    }
}
