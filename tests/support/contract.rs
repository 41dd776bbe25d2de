//! The vendors' published contracts as data — every route breachbook may call, with its
//! query parameters, body fields and headers, each with its source — and a checker that holds
//! recorded requests against them: an undocumented route, parameter, field or header fails,
//! and so does a request the contract documents as refused or as doing nothing.
//!
//! These are facts written down from the published descriptions, not copies of them:
//!
//! - `OAI` = openai/openai-openapi@f85dbe223d40e1a31cba812ab2d755c7e98a92a3 openapi.yaml
//!   (the operationId and line are given per route);
//! - `BT` = braintrustdata/braintrust-openapi@b561b12dd30b9862a48e391e86b33e96043cdc0a
//!   openapi/spec.json (operationId per route);
//! - `ANT` = the Admin API reference at platform.claude.com/docs/en/api/admin, read at
//!   gpambrozio/ClaudeDocs@ff5b8ed93045750237817d6e8f73bd67110c6367 docs-md/api/admin/*;
//! - `GAK` = googleapis/googleapis@f8291d2b89f0017ab078a4c7378069bae5686f6f
//!   google/api/apikeys/v2/apikeys.proto (+ resources.proto, apikeys_v2.yaml), and its
//!   discovery document googleapis/google-api-nodejs-client@72ec83a0f26e282de90be0c9a4fc0b1447ce5f71
//!   discovery/apikeys-v2.json;
//! - `GL` = googleapis/googleapis@f8291d2 google/ai/generativelanguage/v1beta/model_service.proto
//!   and https://ai.google.dev/api/rest/v1beta/models/list;
//! - `GOA` = googleapis/google.aip.dev@463cfd0d394bfe7b05723d2b1a37d67cbd75df9b aip/auth/4112.md
//!   and googleapis/google-auth-library-python@2ea24b03436765fa3cf279ce148482ff6332136b
//!   google/oauth2/_client.py (the JWT-bearer grant).

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::Value;

/// Who a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Vendor {
    OpenAi,
    Anthropic,
    Gemini,
    GoogleApiKeys,
    GoogleOAuth,
    Braintrust,
}

impl Vendor {
    pub fn name(self) -> &'static str {
        match self {
            Vendor::OpenAi => "OpenAI",
            Vendor::Anthropic => "Anthropic",
            Vendor::Gemini => "Gemini",
            Vendor::GoogleApiKeys => "Google API Keys",
            Vendor::GoogleOAuth => "Google OAuth",
            Vendor::Braintrust => "Braintrust",
        }
    }
}

/// A request as a fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub vendor: Vendor,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Lower-case names; values as sent.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// The fake's answer was a failure the contract documents for this request (the
    /// request itself is wrong by the contract), with its source.
    pub refused_by_contract: Option<String>,
}

impl Recorded {
    pub fn what(&self) -> String {
        format!("{} {} {}", self.vendor.name(), self.method, self.path)
    }
}

/// What a value must be.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Str,
    /// A string that is not empty.
    NonEmpty,
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    Enum(&'static [&'static str]),
    Uuid,
    Rfc3339,
    Object,
    StrArray,
}

/// A query parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// May be given more than once (an array, form + explode).
    pub repeated: bool,
}

const fn q(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        required: false,
        repeated: false,
    }
}
const fn q_req(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        required: true,
        repeated: false,
    }
}
const fn q_many(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        required: false,
        repeated: true,
    }
}

/// A body field.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub nullable: bool,
}

const fn f(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
        nullable: true,
    }
}
const fn f_req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
        nullable: false,
    }
}

/// What a request carries.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    None,
    /// `application/json`, an object of these fields only.
    Json(&'static [Field]),
    /// `application/x-www-form-urlencoded`, these fields only.
    Form(&'static [Field]),
}

/// One documented operation.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub vendor: Vendor,
    pub method: &'static str,
    /// Literal segments and `{name}` (one segment, not empty). A segment may also be
    /// `{name:uuid}`.
    pub path: &'static str,
    pub query: &'static [Param],
    pub body: Body,
    pub source: &'static str,
}

const LIST_LIMIT: Kind = Kind::Int { min: 1, max: 100 };
/// `1m` buckets go to 1440 (the largest limit of any width).
const USAGE_LIMIT: Kind = Kind::Int { min: 1, max: 1440 };
const WIDTH: Kind = Kind::Enum(&["1m", "1h", "1d"]);

/// The parameters every OpenAI usage report shares (`OAI usage-*`), plus `extra`.
macro_rules! usage {
    ($path:literal, $id:literal, [$($g:literal),*], [$($extra:expr),*]) => {
        Route {
            vendor: Vendor::OpenAi,
            method: "GET",
            path: $path,
            query: &[
                q_req("start_time", Kind::Int { min: 0, max: i64::MAX }),
                q("end_time", Kind::Int { min: 0, max: i64::MAX }),
                q("bucket_width", WIDTH),
                q("limit", USAGE_LIMIT),
                q("page", Kind::Str),
                q_many("group_by", Kind::Enum(&[$($g),*])),
                q_many("project_ids", Kind::Str),
                $($extra,)*
            ],
            body: Body::None,
            source: concat!("OAI ", $id),
        }
    };
}

/// The project- and organization-level values of OAI `AuditLogEventType` (L30199; the
/// `tenant.*` ones need `tenant_only` and are left out).
const AUDIT_LOG_EVENT_TYPES: &[&str] = &[
    "api_key.created",
    "api_key.updated",
    "api_key.deleted",
    "certificate.created",
    "certificate.updated",
    "certificate.deleted",
    "certificates.activated",
    "certificates.deactivated",
    "checkpoint.permission.created",
    "checkpoint.permission.deleted",
    "external_key.registered",
    "external_key.removed",
    "group.created",
    "group.updated",
    "group.deleted",
    "invite.sent",
    "invite.accepted",
    "invite.deleted",
    "ip_allowlist.created",
    "ip_allowlist.updated",
    "ip_allowlist.deleted",
    "ip_allowlist.config.activated",
    "ip_allowlist.config.deactivated",
    "login.succeeded",
    "login.failed",
    "logout.succeeded",
    "logout.failed",
    "organization.updated",
    "project.created",
    "project.updated",
    "project.archived",
    "project.deleted",
    "rate_limit.updated",
    "rate_limit.deleted",
    "resource.deleted",
    "tunnel.created",
    "tunnel.updated",
    "tunnel.deleted",
    "workload_identity_provider.created",
    "workload_identity_provider.updated",
    "workload_identity_provider.deleted",
    "workload_identity_provider_mapping.created",
    "workload_identity_provider_mapping.updated",
    "workload_identity_provider_mapping.deleted",
    "role.created",
    "role.updated",
    "role.deleted",
    "role.assignment.created",
    "role.assignment.deleted",
    "role.bound_to_resource",
    "role.unbound_from_resource",
    "scim.enabled",
    "scim.disabled",
    "service_account.created",
    "service_account.updated",
    "service_account.deleted",
    "user.added",
    "user.updated",
    "user.deleted",
];

/// Every route breachbook may call, with its source.
pub const ROUTES: &[Route] = &[
    // ------------------------------------------------------------------ OpenAI
    Route {
        vendor: Vendor::OpenAi,
        method: "GET",
        path: "/v1/organization/projects",
        query: &[
            q("limit", LIST_LIMIT),
            q("after", Kind::Str),
            q("include_archived", Kind::Bool),
        ],
        body: Body::None,
        source: "OAI list-projects (L11202)",
    },
    Route {
        vendor: Vendor::OpenAi,
        method: "GET",
        path: "/v1/organization/projects/{project_id}/api_keys",
        query: &[
            q("limit", LIST_LIMIT),
            q("after", Kind::Str),
            q(
                "owner_project_access",
                Kind::Enum(&["active", "inactive", "any"]),
            ),
        ],
        body: Body::None,
        source: "OAI list-project-api-keys (L11403)",
    },
    Route {
        vendor: Vendor::OpenAi,
        method: "GET",
        path: "/v1/organization/projects/{project_id}/api_keys/{api_key_id}",
        query: &[],
        body: Body::None,
        source: "OAI retrieve-project-api-key (L11496)",
    },
    Route {
        vendor: Vendor::OpenAi,
        method: "DELETE",
        path: "/v1/organization/projects/{project_id}/api_keys/{api_key_id}",
        query: &[],
        body: Body::None,
        source: "OAI delete-project-api-key (L11559): \"an error if the key belonged to a service account\"",
    },
    Route {
        vendor: Vendor::OpenAi,
        method: "GET",
        path: "/v1/organization/projects/{project_id}/service_accounts",
        query: &[q("limit", LIST_LIMIT), q("after", Kind::Str)],
        body: Body::None,
        source: "OAI list-project-service-accounts (L12577)",
    },
    Route {
        vendor: Vendor::OpenAi,
        method: "POST",
        path: "/v1/organization/projects/{project_id}/service_accounts",
        query: &[],
        body: Body::Json(&[
            f_req("name", Kind::NonEmpty),
            f("create_service_account_only", Kind::Bool),
        ]),
        source: "OAI create-project-service-account (L12649), ProjectServiceAccountCreateRequest (L46168)",
    },
    Route {
        vendor: Vendor::OpenAi,
        method: "GET",
        path: "/v1/organization/projects/{project_id}/service_accounts/{service_account_id}",
        query: &[],
        body: Body::None,
        source: "OAI retrieve-project-service-account (L12711)",
    },
    Route {
        vendor: Vendor::OpenAi,
        method: "POST",
        path: "/v1/organization/projects/{project_id}/service_accounts/{service_account_id}",
        query: &[],
        body: Body::Json(&[
            Field {
                name: "name",
                kind: Kind::Str,
                required: false,
                nullable: false,
            },
            Field {
                name: "role",
                kind: Kind::Enum(&["member", "owner"]),
                required: false,
                nullable: false,
            },
        ]),
        source: "OAI update-project-service-account (L12755), UpdateProjectServiceAccountBody",
    },
    Route {
        vendor: Vendor::OpenAi,
        method: "DELETE",
        path: "/v1/organization/projects/{project_id}/service_accounts/{service_account_id}",
        query: &[],
        body: Body::None,
        source: "OAI delete-project-service-account (L12817)",
    },
    Route {
        vendor: Vendor::OpenAi,
        method: "POST",
        path: "/v1/organization/projects/{project_id}/service_accounts/{service_account_id}/api_keys",
        query: &[],
        body: Body::Json(&[f("name", Kind::Str), f("scopes", Kind::StrArray)]),
        source: "OAI CreateanAPIkeyforaserviceaccount (L23815), CreateProjectServiceAccountApiKeyBody (L71535)",
    },
    Route {
        vendor: Vendor::OpenAi,
        method: "GET",
        path: "/v1/organization/audit_logs",
        query: &[
            // `effective_at` is an object of gt/gte/lt/lte (Unix seconds), sent bracketed.
            q(
                "effective_at[gt]",
                Kind::Int {
                    min: 0,
                    max: i64::MAX,
                },
            ),
            q(
                "effective_at[gte]",
                Kind::Int {
                    min: 0,
                    max: i64::MAX,
                },
            ),
            q(
                "effective_at[lt]",
                Kind::Int {
                    min: 0,
                    max: i64::MAX,
                },
            ),
            q(
                "effective_at[lte]",
                Kind::Int {
                    min: 0,
                    max: i64::MAX,
                },
            ),
            q_many("project_ids[]", Kind::Str),
            q_many("event_types[]", Kind::Enum(AUDIT_LOG_EVENT_TYPES)),
            q_many("actor_ids[]", Kind::Str),
            q_many("actor_emails[]", Kind::Str),
            q_many("resource_ids[]", Kind::Str),
            q("tenant_only", Kind::Bool),
            q("limit", LIST_LIMIT),
            q("after", Kind::Str),
            q("before", Kind::Str),
        ],
        body: Body::None,
        source: "OAI list-audit-logs (L9455), AuditLogEventType (L30199)",
    },
    usage!(
        "/v1/organization/usage/completions",
        "usage-completions (L14383)",
        [
            "project_id",
            "user_id",
            "api_key_id",
            "model",
            "batch",
            "service_tier"
        ],
        [
            q_many("user_ids", Kind::Str),
            q_many("api_key_ids", Kind::Str),
            q_many("models", Kind::Str),
            q("batch", Kind::Bool)
        ]
    ),
    usage!(
        "/v1/organization/usage/embeddings",
        "usage-embeddings (L14546)",
        ["project_id", "user_id", "api_key_id", "model"],
        [
            q_many("user_ids", Kind::Str),
            q_many("api_key_ids", Kind::Str),
            q_many("models", Kind::Str)
        ]
    ),
    usage!(
        "/v1/organization/usage/moderations",
        "usage-moderations (L14993)",
        ["project_id", "user_id", "api_key_id", "model"],
        [
            q_many("user_ids", Kind::Str),
            q_many("api_key_ids", Kind::Str),
            q_many("models", Kind::Str)
        ]
    ),
    usage!(
        "/v1/organization/usage/images",
        "usage-images (L14821)",
        [
            "project_id",
            "user_id",
            "api_key_id",
            "model",
            "size",
            "source"
        ],
        [
            q_many("user_ids", Kind::Str),
            q_many("api_key_ids", Kind::Str),
            q_many("models", Kind::Str),
            q_many(
                "sources",
                Kind::Enum(&["image.generation", "image.edit", "image.variation"])
            ),
            q_many(
                "sizes",
                Kind::Enum(&["256x256", "512x512", "1024x1024", "1792x1792", "1024x1792"])
            )
        ]
    ),
    usage!(
        "/v1/organization/usage/audio_speeches",
        "usage-audio-speeches (L14001)",
        ["project_id", "user_id", "api_key_id", "model"],
        [
            q_many("user_ids", Kind::Str),
            q_many("api_key_ids", Kind::Str),
            q_many("models", Kind::Str)
        ]
    ),
    usage!(
        "/v1/organization/usage/audio_transcriptions",
        "usage-audio-transcriptions (L14139)",
        ["project_id", "user_id", "api_key_id", "model"],
        [
            q_many("user_ids", Kind::Str),
            q_many("api_key_ids", Kind::Str),
            q_many("models", Kind::Str)
        ]
    ),
    usage!(
        "/v1/organization/usage/file_search_calls",
        "usage-file-search-calls (L14684)",
        ["project_id", "user_id", "api_key_id", "vector_store_id"],
        [
            q_many("user_ids", Kind::Str),
            q_many("api_key_ids", Kind::Str),
            q_many("vector_store_ids", Kind::Str)
        ]
    ),
    usage!(
        "/v1/organization/usage/web_search_calls",
        "usage-web-search-calls (L15237)",
        [
            "project_id",
            "user_id",
            "api_key_id",
            "model",
            "context_level"
        ],
        [
            q_many("user_ids", Kind::Str),
            q_many("api_key_ids", Kind::Str),
            q_many("models", Kind::Str),
            q_many("context_levels", Kind::Enum(&["low", "medium", "high"]))
        ]
    ),
    usage!(
        "/v1/organization/usage/vector_stores",
        "usage-vector-stores (L15131): project only",
        ["project_id"],
        []
    ),
    usage!(
        "/v1/organization/usage/code_interpreter_sessions",
        "usage-code-interpreter-sessions (L14277): project only",
        ["project_id"],
        []
    ),
    Route {
        vendor: Vendor::OpenAi,
        method: "GET",
        path: "/v1/organization/costs",
        query: &[
            q_req(
                "start_time",
                Kind::Int {
                    min: 0,
                    max: i64::MAX,
                },
            ),
            q(
                "end_time",
                Kind::Int {
                    min: 0,
                    max: i64::MAX,
                },
            ),
            q("bucket_width", Kind::Enum(&["1d"])),
            q_many("project_ids", Kind::Str),
            q_many("api_key_ids", Kind::Str),
            q_many(
                "group_by",
                Kind::Enum(&["project_id", "line_item", "api_key_id"]),
            ),
            q("limit", Kind::Int { min: 1, max: 180 }),
            q("page", Kind::Str),
        ],
        body: Body::None,
        source: "OAI usage-costs (L10090)",
    },
    Route {
        vendor: Vendor::OpenAi,
        method: "GET",
        path: "/v1/models",
        query: &[],
        body: Body::None,
        source: "OAI listModels (L8733)",
    },
    // --------------------------------------------------------------- Anthropic
    Route {
        vendor: Vendor::Anthropic,
        method: "GET",
        path: "/v1/organizations/api_keys",
        query: &[
            q("limit", Kind::Int { min: 1, max: 1000 }),
            q("before_id", Kind::Str),
            q("after_id", Kind::Str),
            q(
                "status",
                Kind::Enum(&["active", "inactive", "archived", "expired"]),
            ),
            q("workspace_id", Kind::Str),
            q("created_by_user_id", Kind::Str),
        ],
        body: Body::None,
        source: "ANT api_keys/list",
    },
    Route {
        vendor: Vendor::Anthropic,
        method: "GET",
        path: "/v1/organizations/api_keys/{api_key_id}",
        query: &[],
        body: Body::None,
        source: "ANT api_keys/retrieve",
    },
    Route {
        vendor: Vendor::Anthropic,
        method: "POST",
        path: "/v1/organizations/api_keys/{api_key_id}",
        query: &[],
        body: Body::Json(&[
            f("name", Kind::NonEmpty),
            f("status", Kind::Enum(&["active", "inactive", "archived"])),
        ]),
        source: "ANT api_keys/update",
    },
    Route {
        vendor: Vendor::Anthropic,
        method: "GET",
        path: "/v1/organizations/usage_report/messages",
        query: &[
            q_req("starting_at", Kind::Rfc3339),
            q("ending_at", Kind::Rfc3339),
            q("bucket_width", WIDTH),
            q("limit", USAGE_LIMIT),
            q("page", Kind::Str),
            q_many(
                "group_by[]",
                Kind::Enum(&[
                    "api_key_id",
                    "workspace_id",
                    "model",
                    "service_tier",
                    "context_window",
                    "inference_geo",
                    "account_id",
                    "service_account_id",
                    "speed",
                ]),
            ),
            q_many("api_key_ids[]", Kind::Str),
            q_many("workspace_ids[]", Kind::Str),
            q_many("models[]", Kind::Str),
        ],
        body: Body::None,
        source: "ANT usage_report/retrieve_messages",
    },
    Route {
        vendor: Vendor::Anthropic,
        method: "GET",
        path: "/v1/models",
        query: &[
            q("limit", Kind::Int { min: 1, max: 1000 }),
            q("before_id", Kind::Str),
            q("after_id", Kind::Str),
        ],
        body: Body::None,
        source: "ANT models/list",
    },
    // ------------------------------------------------------------------ Gemini
    Route {
        vendor: Vendor::Gemini,
        method: "GET",
        path: "/v1beta/models",
        query: &[
            q("pageSize", Kind::Int { min: 1, max: 1000 }),
            q("pageToken", Kind::Str),
        ],
        body: Body::None,
        source: "GL ModelService.ListModels `get: \"/v1beta/models\"`",
    },
    // ---------------------------------------------------------- Google sign-in
    Route {
        vendor: Vendor::GoogleOAuth,
        method: "POST",
        path: "/token",
        query: &[],
        body: Body::Form(&[
            f_req(
                "grant_type",
                Kind::Enum(&["urn:ietf:params:oauth:grant-type:jwt-bearer"]),
            ),
            f_req("assertion", Kind::NonEmpty),
        ]),
        source: "GOA aip/auth/4112 steps 4-5; _client.jwt_grant (the key file's token_uri)",
    },
    // --------------------------------------------------------- Google API Keys
    Route {
        vendor: Vendor::GoogleApiKeys,
        method: "GET",
        path: "/v2/keys:lookupKey",
        query: &[q_req("keyString", Kind::NonEmpty)],
        body: Body::None,
        source: "GAK apikeys.keys.lookupKey (LookupKeyRequest.key_string)",
    },
    Route {
        vendor: Vendor::GoogleApiKeys,
        method: "POST",
        path: "/v2/projects/{project}/locations/global/keys",
        query: &[q("keyId", Kind::NonEmpty)],
        body: Body::Json(&[
            f("displayName", Kind::Str),
            f("restrictions", Kind::Object),
            f("annotations", Kind::Object),
        ]),
        source: "GAK apikeys.projects.locations.keys.create (`body: \"key\"`; only display_name, restrictions, annotations settable; location only `global`)",
    },
    Route {
        vendor: Vendor::GoogleApiKeys,
        method: "GET",
        path: "/v2/projects/{project}/locations/global/keys",
        query: &[
            q(
                "pageSize",
                Kind::Int {
                    min: 1,
                    max: i32::MAX as i64,
                },
            ),
            q("pageToken", Kind::Str),
            q("showDeleted", Kind::Bool),
        ],
        body: Body::None,
        source: "GAK apikeys.projects.locations.keys.list",
    },
    Route {
        vendor: Vendor::GoogleApiKeys,
        method: "GET",
        path: "/v2/projects/{project}/locations/global/keys/{key}",
        query: &[],
        body: Body::None,
        source: "GAK apikeys.projects.locations.keys.get",
    },
    Route {
        vendor: Vendor::GoogleApiKeys,
        method: "GET",
        path: "/v2/projects/{project}/locations/global/keys/{key}/keyString",
        query: &[],
        body: Body::None,
        source: "GAK apikeys.projects.locations.keys.getKeyString",
    },
    Route {
        vendor: Vendor::GoogleApiKeys,
        method: "DELETE",
        path: "/v2/projects/{project}/locations/global/keys/{key}",
        query: &[q("etag", Kind::Str)],
        body: Body::None,
        source: "GAK apikeys.projects.locations.keys.delete",
    },
    Route {
        vendor: Vendor::GoogleApiKeys,
        method: "GET",
        path: "/v2/operations/{operation}",
        query: &[],
        body: Body::None,
        source: "GAK apikeys.operations.get (`get: '/v2/{name=operations/*}'`)",
    },
    // -------------------------------------------------------------- Braintrust
    Route {
        vendor: Vendor::Braintrust,
        method: "GET",
        path: "/v1/ai_secret",
        query: &[
            q(
                "limit",
                Kind::Int {
                    min: 0,
                    max: i64::MAX,
                },
            ),
            q("starting_after", Kind::Uuid),
            q("ending_before", Kind::Uuid),
            q_many("ids", Kind::Uuid),
            q("ai_secret_name", Kind::Str),
            q("org_name", Kind::Str),
            q_many("ai_secret_type", Kind::Str),
        ],
        body: Body::None,
        source: "BT getAiSecret",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "POST",
        path: "/v1/ai_secret",
        query: &[],
        body: Body::Json(BT_CREATE_AI_SECRET),
        source: "BT postAiSecret: an existing name \"will return the existing ai_secret unmodified\"",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "PUT",
        path: "/v1/ai_secret",
        query: &[],
        body: Body::Json(BT_CREATE_AI_SECRET),
        source: "BT putAiSecret",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "GET",
        path: "/v1/ai_secret/{ai_secret_id:uuid}",
        query: &[],
        body: Body::None,
        source: "BT getAiSecretId",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "PATCH",
        path: "/v1/ai_secret/{ai_secret_id:uuid}",
        query: &[],
        body: Body::Json(&[
            f("name", Kind::Str),
            f("type", Kind::Str),
            f("metadata", Kind::Object),
            f("secret", Kind::Str),
        ]),
        source: "BT patchAiSecretId, PatchAISecret",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "DELETE",
        path: "/v1/ai_secret/{ai_secret_id:uuid}",
        query: &[],
        body: Body::None,
        source: "BT deleteAiSecretId",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "GET",
        path: "/v1/env_var",
        query: &[
            q(
                "limit",
                Kind::Int {
                    min: 0,
                    max: i64::MAX,
                },
            ),
            q_many("ids", Kind::Uuid),
            q("env_var_name", Kind::Str),
            q(
                "object_type",
                Kind::Enum(&["organization", "project", "function"]),
            ),
            q("object_id", Kind::Uuid),
        ],
        body: Body::None,
        source: "BT getEnvVar (no cursor, no org_name)",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "POST",
        path: "/v1/env_var",
        query: &[],
        body: Body::Json(BT_CREATE_ENV_VAR),
        source: "BT postEnvVar: an existing name \"will return the existing env_var unmodified\"",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "PUT",
        path: "/v1/env_var",
        query: &[],
        body: Body::Json(BT_CREATE_ENV_VAR),
        source: "BT putEnvVar",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "GET",
        path: "/v1/env_var/{env_var_id:uuid}",
        query: &[],
        body: Body::None,
        source: "BT getEnvVarId",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "PATCH",
        path: "/v1/env_var/{env_var_id:uuid}",
        query: &[],
        body: Body::Json(&[
            f_req("name", Kind::NonEmpty),
            f("value", Kind::Str),
            f("metadata", Kind::Object),
            f("secret_type", Kind::Str),
        ]),
        source: "BT patchEnvVarId (required: [\"name\"])",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "DELETE",
        path: "/v1/env_var/{env_var_id:uuid}",
        query: &[],
        body: Body::None,
        source: "BT deleteEnvVarId",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "GET",
        path: "/v1/api_key",
        query: &[
            q(
                "limit",
                Kind::Int {
                    min: 0,
                    max: i64::MAX,
                },
            ),
            q("starting_after", Kind::Uuid),
            q("ending_before", Kind::Uuid),
            q_many("ids", Kind::Uuid),
            q("api_key_name", Kind::Str),
            q("org_name", Kind::Str),
        ],
        body: Body::None,
        source: "BT getApiKey (\"To create new API keys, visit Settings > API keys\")",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "GET",
        path: "/v1/api_key/{api_key_id:uuid}",
        query: &[],
        body: Body::None,
        source: "BT getApiKeyId",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "DELETE",
        path: "/v1/api_key/{api_key_id:uuid}",
        query: &[],
        body: Body::None,
        source: "BT deleteApiKeyId",
    },
    Route {
        vendor: Vendor::Braintrust,
        method: "GET",
        path: "/v1/organization",
        query: &[
            q(
                "limit",
                Kind::Int {
                    min: 0,
                    max: i64::MAX,
                },
            ),
            q("starting_after", Kind::Uuid),
            q("ending_before", Kind::Uuid),
            q_many("ids", Kind::Uuid),
            q("org_name", Kind::Str),
        ],
        body: Body::None,
        source: "BT getOrganization",
    },
];

/// `CreateAISecret` (BT `#/components/schemas/CreateAISecret`).
const BT_CREATE_AI_SECRET: &[Field] = &[
    f_req("name", Kind::NonEmpty),
    f("type", Kind::Str),
    f("metadata", Kind::Object),
    f("secret", Kind::Str),
    f("org_name", Kind::Str),
];

/// The body of `postEnvVar` / `putEnvVar` (BT, inline).
const BT_CREATE_ENV_VAR: &[Field] = &[
    f_req(
        "object_type",
        Kind::Enum(&["organization", "project", "function"]),
    ),
    f_req("object_id", Kind::Uuid),
    f_req("name", Kind::NonEmpty),
    f("value", Kind::Str),
    f("metadata", Kind::Object),
    f("secret_type", Kind::Str),
];

/// The headers a vendor's requests must carry (its auth and version), with sources.
fn check_headers(r: &Recorded, route: &Route, out: &mut Vec<String>) {
    let h = |n: &str| r.headers.get(n).map(String::as_str);
    let bearer = |out: &mut Vec<String>, source: &str| {
        if !h("authorization").is_some_and(|v| v.starts_with("Bearer ") && v.len() > 7) {
            out.push(format!(
                "{}: no `Authorization: Bearer …` ({source})",
                r.what()
            ));
        }
    };
    match r.vendor {
        // OAI #/components/securitySchemes: ApiKeyAuth and AdminApiKeyAuth, both http bearer.
        Vendor::OpenAi => bearer(out, "OAI #/components/securitySchemes"),
        // BT #/components/securitySchemes/bearerAuth.
        Vendor::Braintrust => bearer(out, "BT #/components/securitySchemes/bearerAuth"),
        // GAK: OAuth 2.0, scope cloud-platform (apikeys_v2.yaml authentication rules).
        Vendor::GoogleApiKeys => bearer(out, "GAK apikeys_v2.yaml authentication"),
        Vendor::Anthropic => {
            // ANT api/overview: `x-api-key` and `anthropic-version: 2023-06-01` (required).
            if h("x-api-key").is_none_or(str::is_empty) {
                out.push(format!("{}: no x-api-key (ANT api/overview)", r.what()));
            }
            if h("anthropic-version") != Some("2023-06-01") {
                out.push(format!(
                    "{}: anthropic-version is {:?}, not 2023-06-01 (ANT api/versioning)",
                    r.what(),
                    h("anthropic-version")
                ));
            }
        }
        Vendor::Gemini => {
            // The key as the system parameter `X-Goog-Api-Key` (or `key`), per
            // https://docs.cloud.google.com/apis/docs/system-parameters.
            if h("x-goog-api-key").is_none_or(str::is_empty)
                && !r.query.iter().any(|(k, _)| k == "key")
            {
                out.push(format!(
                    "{}: no API key (x-goog-api-key; system parameters)",
                    r.what()
                ));
            }
        }
        Vendor::GoogleOAuth => {}
    }
    let content_type = h("content-type").unwrap_or("");
    match route.body {
        Body::Json(_) if !content_type.starts_with("application/json") => out.push(format!(
            "{}: a JSON body sent as {content_type:?} ({})",
            r.what(),
            route.source
        )),
        Body::Form(_) if !content_type.starts_with("application/x-www-form-urlencoded") => out
            .push(format!(
                "{}: a form sent as {content_type:?} ({})",
                r.what(),
                route.source
            )),
        _ => {}
    }
}

/// Whether `path` fits `template`; the path parameters' kinds are checked too.
/// A path's parameters: (name, value, kind).
type PathParams = Vec<(String, String, Kind)>;

fn path_fits(template: &str, path: &str) -> Option<PathParams> {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = Vec::new();
    for (ts, ps) in t.iter().zip(&p) {
        if let Some(inner) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if ps.is_empty() {
                return None;
            }
            let (name, kind) = match inner.split_once(':') {
                Some((n, "uuid")) => (n, Kind::Uuid),
                _ => (inner, Kind::NonEmpty),
            };
            params.push((name.to_string(), ps.to_string(), kind));
        } else if ts != ps {
            return None;
        }
    }
    Some(params)
}

/// The documented route a request is for, with its path parameters: the most literal
/// template that fits wins.
fn route_of(r: &Recorded) -> Option<(&'static Route, PathParams)> {
    ROUTES
        .iter()
        .filter(|rt| rt.vendor == r.vendor && rt.method == r.method)
        .filter_map(|rt| path_fits(rt.path, &r.path).map(|p| (rt, p)))
        .min_by_key(|(rt, _)| rt.path.matches('{').count())
}

fn fits(kind: Kind, v: &str) -> bool {
    match kind {
        Kind::Str => true,
        Kind::NonEmpty => !v.is_empty(),
        Kind::Int { min, max } => v.parse::<i64>().is_ok_and(|n| (min..=max).contains(&n)),
        Kind::Bool => v == "true" || v == "false",
        Kind::Enum(vals) => vals.contains(&v),
        Kind::Uuid => is_uuid(v),
        Kind::Rfc3339 => chrono::DateTime::parse_from_rfc3339(v).is_ok(),
        Kind::Object | Kind::StrArray => false,
    }
}

fn is_uuid(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn json_fits(kind: Kind, v: &Value) -> bool {
    match (kind, v) {
        (Kind::Object, Value::Object(_)) => true,
        (Kind::StrArray, Value::Array(a)) => a.iter().all(Value::is_string),
        (Kind::Bool, Value::Bool(_)) => true,
        (Kind::Int { min, max }, Value::Number(n)) => {
            n.as_i64().is_some_and(|n| (min..=max).contains(&n))
        }
        (k, Value::String(s)) => fits(k, s),
        _ => false,
    }
}

fn check_fields(
    r: &Recorded,
    route: &Route,
    fields: &[Field],
    got: &[(String, Value)],
    out: &mut Vec<String>,
) {
    for (name, value) in got {
        match fields.iter().find(|f| f.name == name) {
            None => out.push(format!(
                "{}: body field `{name}` is not documented ({})",
                r.what(),
                route.source
            )),
            Some(f) if value.is_null() && !f.nullable => out.push(format!(
                "{}: body field `{name}` may not be null ({})",
                r.what(),
                route.source
            )),
            Some(f) if !value.is_null() && !json_fits(f.kind, value) => out.push(format!(
                "{}: body field `{name}` is not a {:?} ({})",
                r.what(),
                f.kind,
                route.source
            )),
            Some(_) => {}
        }
    }
    for f in fields.iter().filter(|f| f.required) {
        if !got.iter().any(|(n, v)| n == f.name && !v.is_null()) {
            out.push(format!(
                "{}: required body field `{}` is missing ({})",
                r.what(),
                f.name,
                route.source
            ));
        }
    }
}

/// Every way `r` departs from the contract, in words (empty: it keeps it).
pub fn check_one(r: &Recorded) -> Vec<String> {
    let mut out = Vec::new();
    let Some((route, params)) = route_of(r) else {
        out.push(format!("{}: no such route is documented", r.what()));
        return out;
    };
    for (name, value, kind) in params {
        if !fits(kind, &value) {
            out.push(format!(
                "{}: path parameter `{name}` = {value:?} is not a {kind:?} ({})",
                r.what(),
                route.source
            ));
        }
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (k, v) in &r.query {
        *counts.entry(k.as_str()).or_default() += 1;
        match route.query.iter().find(|p| p.name == k) {
            None => out.push(format!(
                "{}: query parameter `{k}` is not documented ({})",
                r.what(),
                route.source
            )),
            Some(p) if !fits(p.kind, v) => out.push(format!(
                "{}: query parameter `{k}` = {v:?} is not a {:?} ({})",
                r.what(),
                p.kind,
                route.source
            )),
            Some(_) => {}
        }
    }
    for p in route.query {
        let n = counts.get(p.name).copied().unwrap_or(0);
        if p.required && n == 0 {
            out.push(format!(
                "{}: required query parameter `{}` is missing ({})",
                r.what(),
                p.name,
                route.source
            ));
        }
        if !p.repeated && n > 1 {
            out.push(format!(
                "{}: query parameter `{}` given {n} times; it is not an array ({})",
                r.what(),
                p.name,
                route.source
            ));
        }
    }
    match route.body {
        Body::None => {
            if !r.body.is_empty() {
                out.push(format!(
                    "{}: a body is sent where none is documented ({})",
                    r.what(),
                    route.source
                ));
            }
        }
        Body::Json(fields) => match serde_json::from_slice::<Value>(&r.body) {
            Ok(Value::Object(m)) => {
                let got: Vec<(String, Value)> = m.into_iter().collect();
                check_fields(r, route, fields, &got, &mut out);
            }
            _ => out.push(format!(
                "{}: the body is not a JSON object ({})",
                r.what(),
                route.source
            )),
        },
        Body::Form(fields) => {
            let text = String::from_utf8_lossy(&r.body);
            let got: Vec<(String, Value)> = text
                .split('&')
                .filter(|s| !s.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (percent_decode(k), Value::String(percent_decode(v)))
                })
                .collect();
            check_fields(r, route, fields, &got, &mut out);
        }
    }
    check_headers(r, route, &mut out);
    if let Some(why) = &r.refused_by_contract {
        out.push(format!(
            "{}: the contract refuses this request: {why}",
            r.what()
        ));
    }
    out
}

/// Decodes one `application/x-www-form-urlencoded` value.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The contract check of a run: every departure, and how many requests of each documented
/// route were seen.
pub struct Report {
    pub violations: Vec<String>,
    pub checked: usize,
    pub by_route: BTreeMap<String, usize>,
}

impl Report {
    /// One line per route seen, for the test's output.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "contract: {} requests checked, {} departures\n",
            self.checked,
            self.violations.len()
        );
        for (route, n) in &self.by_route {
            s.push_str(&format!("  {n:>4}  {route}\n"));
        }
        s
    }
}

/// Checks every request: departures in order, deduplicated.
pub fn check(recorded: &[Recorded]) -> Report {
    let mut violations: Vec<String> = Vec::new();
    let mut by_route = BTreeMap::new();
    for r in recorded {
        for v in check_one(r) {
            if !violations.contains(&v) {
                violations.push(v);
            }
        }
        let route = route_of(r)
            .map(|(rt, _)| format!("{} {} {}", r.vendor.name(), rt.method, rt.path))
            .unwrap_or_else(|| format!("(undocumented) {}", r.what()));
        *by_route.entry(route).or_default() += 1;
    }
    Report {
        violations,
        checked: recorded.len(),
        by_route,
    }
}
