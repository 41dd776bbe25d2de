//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1, between breachbook (or a raw SDK client)
//! and an upstream (moto, LocalStack, a wiremock fake): it forwards every request, except
//! where a [`Rule`] says to answer with a fault instead, or to forward and then lose the
//! answer. It logs every request and every fault it injected, for the test to read.
//!
//! Point the client's endpoint at [`FaultProxy::endpoint`]; the SDK speaks plain HTTP/1.1
//! to an `http://` endpoint. Rules match an AWS operation (the `X-Amz-Target` header of the
//! JSON protocols, e.g. Secrets Manager and CloudTrail; the `Action=` form field of the
//! query protocols, IAM and STS) or a method and path prefix; they fire on a seeded rate,
//! on the Nth matching request, on the first N, or on every request for a while. Every rule
//! whose matcher matches counts (and draws its random number for) every request; the first
//! rule that fires decides the request's fate.
//!
//! ## Error shapes, and where they come from
//!
//! - awsJson 1.0/1.1 (Secrets Manager, CloudTrail): HTTP 400, body
//!   `{"__type":"ThrottlingException","message":"Rate exceeded"}` and header
//!   `x-amzn-ErrorType: ThrottlingException`. Smithy's awsJson1_1 protocol puts the error's
//!   shape name in `__type` (or `code`) of the body or in `X-Amzn-Errortype`, the header
//!   winning; clients drop a `namespace#` prefix and a `:url` suffix. The Rust SDK does
//!   exactly that (`aws-sdk-secretsmanager` `src/json_errors.rs`:
//!   `headers.get("x-amzn-errortype").or(code)`, then `sanitize_error_code`).
//!   `ThrottlingException`, HTTP 400, is in the Common Errors of the AWS API references
//!   ("The request was denied due to request throttling"); Secrets Manager seen answering
//!   it: "ThrottlingException: Rate exceeded, status code: 400"
//!   (external-secrets/external-secrets#4065).
//! - awsQuery (IAM, STS): HTTP 400 `text/xml`,
//!   `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>
//!   <Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>…</RequestId>
//!   </ErrorResponse>`: the query protocol's error document (the Rust SDK's
//!   `aws-sdk-iam` `src/rest_xml_wrapped_errors.rs` reads `ErrorResponse/Error/Code` and
//!   `Message`); this exact document, "400 Bad Request", is IAM's answer quoted in
//!   legion-platform/legion#807. The namespace follows the request's `Version`
//!   (2010-05-08 IAM, 2011-06-15 STS) and is left out for others.
//! - 500 and 503 use AWS's common error codes `InternalFailure` (500) and
//!   `ServiceUnavailable` (503) in the same two shapes (query: `Type` `Receiver`).
//! - A permission denial: `AccessDeniedException` (JSON, HTTP 400) and `AccessDenied` (query,
//!   HTTP 403), AWS's common error ("You do not have sufficient access to perform this
//!   action", Common Errors of the API references), with the message AWS writes for an IAM
//!   denial, `User: <arn> is not authorized to perform: <service>:<operation> because no
//!   identity-based policy allows the <service>:<operation> action` (real-AWS output quoted
//!   in Kralizek/AWSSecretsManagerConfigurationExtensions#78 and
//!   mongodb/awscdk-resources-mongodbatlas#207).
//! - Anything else (no AWS protocol recognized) gets a small JSON body, and throttling
//!   there is a 429, unless the proxy stands in front of an HTTP provider
//!   ([`FaultProxy::start_as`] with a [`Style`]): then each fault is that vendor's own
//!   documented answer (see [`Style`], sources beside each).
//!
//! Which of these the Rust SDK retries (aws-runtime `THROTTLING_ERRORS` holds
//! `Throttling` and `ThrottlingException`; aws-smithy-runtime retries status 500, 502,
//! 503, 504 and IO errors): a throttling code or a 5xx, yes; a bare 429 without a known
//! code, no.
//!
//! `scripts/test` needs nothing for this: it is plain Rust (hyper, already in the tree
//! through wiremock and the SDK, and reqwest for the upstream leg).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Which requests a rule looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Match {
    /// Every request.
    Any,
    /// An AWS operation by name: `GetSecretValue`, `CreateAccessKey`, `LookupEvents`.
    Operation(String),
    /// A method (any when `None`) and a path prefix: `POST /v1/organization/`.
    Request {
        method: Option<String>,
        path_prefix: String,
    },
    /// An AWS operation signed for one region: the region of the SigV4 credential scope in
    /// `Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, …`
    /// (AWS General Reference, "Elements of an AWS API request signature"), which is how
    /// one endpoint serving every region (an emulator) tells them apart.
    OperationInRegion { operation: String, region: String },
}

/// When a rule fires, among the requests its matcher matches.
#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// Every one.
    Always,
    /// Each with probability `rate` (0.0–1.0), drawn from a generator seeded with `seed`:
    /// the same requests in the same order get the same faults.
    Rate { rate: f64, seed: u64 },
    /// Each whose draw falls in `[from, to)`, drawn as for `Rate`: rules with the same
    /// matcher and seed draw the same number for each request, so rules with disjoint bands
    /// split one draw between several faults (a total rate made of kinds, at most one fault
    /// a request).
    Band { from: f64, to: f64, seed: u64 },
    /// Only the Nth (1 for the first).
    Nth(u64),
    /// The first N.
    FirstN(u64),
    /// Every one that arrives within this long after the rule was added.
    For(Duration),
}

/// What the proxy does instead of a plain forward.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The service's own throttling error (see the module doc), not forwarded.
    Throttle,
    /// HTTP 429, with `Retry-After: <seconds>` when given; not forwarded.
    TooManyRequests { retry_after: Option<u64> },
    /// HTTP 500 `InternalFailure`; not forwarded.
    InternalError,
    /// HTTP 503 `ServiceUnavailable`; not forwarded.
    Unavailable,
    /// The caller may not do this (see the module doc for the shapes); not forwarded.
    AccessDenied,
    /// The connection is reset (TCP RST) before anything is forwarded.
    ResetBeforeForward,
    /// Nothing for this long, then a reset; never forwarded (a timeout without effect).
    Hang(Duration),
    /// Waits this long, then forwards and answers (a slow path: the request still lands,
    /// even if the client gave up meanwhile).
    DelayThenForward(Duration),
    /// Forwards (so the request takes effect upstream), then resets the connection
    /// instead of answering: the client never sees the response.
    ForwardThenDrop,
    /// Forwards, then holds the response this long before sending it: set it past the
    /// client's timeout and "the response arrives after the client gave up".
    ForwardThenDelay(Duration),
    /// Forwards a `BatchGetSecretValue`, then answers as if the caller lacked
    /// `secretsmanager:GetSecretValue` on the secret of this name only: its entry leaves
    /// `SecretValues` and joins `Errors` as `{"SecretId", "ErrorCode":
    /// "AccessDeniedException", "Message"}`. Shape: the API reference of
    /// BatchGetSecretValue ("If Secrets Manager encounters errors such as
    /// AccessDeniedException while attempting to retrieve any of the secrets, you can see
    /// the errors in Errors in the response"; `Errors` is a list of `APIErrorType`, whose
    /// members are `ErrorCode`, `Message` and `SecretId`,
    /// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html>,
    /// and aws-sdk-secretsmanager 1.99.0 `types/_api_error_type.rs`); `SecretId` is the id
    /// the request named (the ARN, as breachbook sends), the message is AWS's IAM denial
    /// (see the module doc).
    DenySecretInBatch(String),
}

impl Fault {
    /// Whether the request reaches the upstream.
    pub fn forwards(&self) -> bool {
        matches!(
            self,
            Fault::DelayThenForward(_)
                | Fault::ForwardThenDrop
                | Fault::ForwardThenDelay(_)
                | Fault::DenySecretInBatch(_)
        )
    }
}

/// One rule: a matcher, a trigger and a fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub matcher: Match,
    pub when: When,
    pub fault: Fault,
}

impl Rule {
    /// A rule for one AWS operation.
    pub fn operation(name: &str, when: When, fault: Fault) -> Rule {
        Rule {
            matcher: Match::Operation(name.to_string()),
            when,
            fault,
        }
    }

    /// A rule for a method (`None`: any) and path prefix.
    pub fn path(method: Option<&str>, prefix: &str, when: When, fault: Fault) -> Rule {
        Rule {
            matcher: Match::Request {
                method: method.map(str::to_string),
                path_prefix: prefix.to_string(),
            },
            when,
            fault,
        }
    }

    /// A rule for one AWS operation in one region.
    pub fn operation_in(name: &str, region: &str, when: When, fault: Fault) -> Rule {
        Rule {
            matcher: Match::OperationInRegion {
                operation: name.to_string(),
                region: region.to_string(),
            },
            when,
            fault,
        }
    }

    /// A rule for every request.
    pub fn any(when: When, fault: Fault) -> Rule {
        Rule {
            matcher: Match::Any,
            when,
            fault,
        }
    }
}

/// The AWS protocol a request speaks, as far as the proxy can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `X-Amz-Target` present (awsJson 1.0/1.1).
    Json,
    /// An `Action=` field in the form body or the query string (awsQuery).
    Query,
    /// Neither.
    Other,
}

/// Whose error answers the proxy gives to requests that speak no AWS protocol: the vendor
/// it stands in front of. The short source names are tests/support/contract.rs's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// No vendor: a small JSON body (`{"error":{"code","message"}}`), throttling as 429.
    Plain,
    /// OpenAI: `{"error":{"message","type","param","code"}}` (OAI
    /// `#/components/schemas/ErrorResponse`). 429 is OAI `TooManyRequests` (L86354) with
    /// `code: rate_limit_exceeded`, `Retry-After` in whole seconds when given; 500 and 503
    /// are the error-codes guide's "500 - The server had an error while processing your
    /// request" and "503 - The engine is currently overloaded, please try again later"
    /// (platform.openai.com/docs/guides/error-codes), `type: server_error`.
    OpenAi,
    /// Anthropic: `{"type":"error","error":{"type","message"},"request_id"}` (ANT
    /// api/errors, "Error shapes"): 429 `rate_limit_error`, 500 `api_error`, and for
    /// "unavailable" 529 `overloaded_error` ("The API is temporarily overloaded"): Anthropic
    /// documents no 503.
    Anthropic,
    /// Google (Gemini, API Keys, OAuth): `{"error":{"code","message","status"}}` (google.rpc
    /// `Status` as JSON, googleapis/googleapis@f8291d2 google/rpc/status.proto and
    /// code.proto's HTTP mapping): 429 `RESOURCE_EXHAUSTED`, 500 `INTERNAL`, 503
    /// `UNAVAILABLE`.
    Google,
    /// Braintrust: every authenticated operation documents only 429 ("Too many requests hit
    /// the API too quickly. We recommend an exponential backoff of your requests", a
    /// `Retry-After` header, text/plain) and 500 ("Something went wrong on Braintrust's end.
    /// (These are rare.)", text/plain) (BT, every operation's `responses`); "unavailable"
    /// is answered as that documented 500.
    Braintrust,
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Logged {
    /// 1 for the first request through this proxy.
    pub seq: u64,
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The AWS operation, when the request names one.
    pub operation: Option<String>,
    pub protocol: Protocol,
    /// `amz-sdk-invocation-id`: the same for every attempt of one SDK call.
    pub invocation: Option<String>,
    /// The attempt number of `amz-sdk-request: attempt=N; max=M`.
    pub attempt: Option<u32>,
    /// The fault injected, if any, and the index of the rule that injected it.
    pub fault: Option<(usize, Fault)>,
    /// The upstream's status, when the request was forwarded and answered.
    pub upstream_status: Option<u16>,
    /// When the request arrived, from the proxy's start.
    pub at: Duration,
}

struct RuleState {
    rule: Rule,
    added: Instant,
    matched: u64,
    rng: u64,
}

struct Shared {
    upstream: String,
    style: Style,
    started: Instant,
    rules: Mutex<Vec<RuleState>>,
    latency: Mutex<Duration>,
    log: Mutex<Vec<Logged>>,
    client: reqwest::Client,
}

/// A running proxy; stops on drop (in-flight holds and delays are cut short).
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`: the endpoint to give the client.
    pub endpoint: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:<port>`) on a free port, on a thread
    /// and runtime of its own (so it serves sync and async tests alike).
    pub fn start(upstream: &str) -> FaultProxy {
        FaultProxy::start_as(upstream, Style::Plain)
    }

    /// Starts a proxy in front of an HTTP provider: its faults are answered in `style`.
    pub fn start_as(upstream: &str, style: Style) -> FaultProxy {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            style,
            started: Instant::now(),
            rules: Mutex::new(Vec::new()),
            latency: Mutex::new(Duration::ZERO),
            log: Mutex::new(Vec::new()),
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("the proxy's upstream client"),
        });
        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("binding the proxy to 127.0.0.1:0");
        std_listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = std_listener.local_addr().expect("proxy address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the proxy's runtime");
                rt.block_on(serve(std_listener, for_thread, stopped));
            })
            .expect("the proxy's thread");
        FaultProxy {
            endpoint: format!("http://{addr}"),
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Adds a rule after the existing ones; returns its index (as in [`Logged::fault`]).
    pub fn add(&self, rule: Rule) -> usize {
        let mut rules = self.shared.rules.lock().unwrap();
        let seed = match rule.when {
            When::Rate { seed, .. } | When::Band { seed, .. } => seed,
            _ => 0,
        };
        rules.push(RuleState {
            rule,
            added: Instant::now(),
            matched: 0,
            rng: seed,
        });
        rules.len() - 1
    }

    /// Removes every rule: from now on, plain forwarding.
    pub fn clear_rules(&self) {
        self.shared.rules.lock().unwrap().clear();
    }

    /// Latency mode: every request waits this long before it is handled (for benchmarks);
    /// `Duration::ZERO` turns it off.
    pub fn set_latency(&self, latency: Duration) {
        *self.shared.latency.lock().unwrap() = latency;
    }

    /// Every request seen so far, in arrival order.
    pub fn log(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The requests for one AWS operation.
    pub fn requests_for(&self, operation: &str) -> Vec<Logged> {
        self.log()
            .into_iter()
            .filter(|l| l.operation.as_deref() == Some(operation))
            .collect()
    }

    /// Every request that got a fault.
    pub fn faults(&self) -> Vec<Logged> {
        self.log()
            .into_iter()
            .filter(|l| l.fault.is_some())
            .collect()
    }

    /// The log as lines, for failure messages.
    pub fn describe(&self) -> String {
        self.log()
            .iter()
            .map(|l| {
                format!(
                    "#{} +{}ms {} {} op={} attempt={} fault={} upstream={}",
                    l.seq,
                    l.at.as_millis(),
                    l.method,
                    l.path,
                    l.operation.as_deref().unwrap_or("-"),
                    l.attempt.map(|a| a.to_string()).unwrap_or("-".into()),
                    l.fault
                        .as_ref()
                        .map(|(i, f)| format!("rule {i}: {f:?}"))
                        .unwrap_or("-".into()),
                    l.upstream_status
                        .map(|s| s.to_string())
                        .unwrap_or("-".into()),
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts connections until told to stop; dropping the runtime then cancels every
/// connection task, holds and delays included.
async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(listener).expect("tokio listener");
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                tokio::spawn(async move { connection(stream, shared).await });
            }
        }
    }
}

/// Serves one client connection (keep-alive: many requests).
async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let reset = Arc::new(AtomicBool::new(false));
    let io = hyper_util::rt::TokioIo::new(Resettable {
        inner: stream,
        reset: reset.clone(),
    });
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        let reset = reset.clone();
        async move { handle(req, shared, reset).await }
    });
    // An error here is the connection ending (a client that went away, or a reset we
    // asked for): nothing to report.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

/// The request was answered with a reset: hyper drops the connection on a service error.
#[derive(Debug)]
struct Abort;

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the fault proxy")
    }
}

impl std::error::Error for Abort {}

type Reply = Result<Response<Full<Bytes>>, Abort>;

async fn handle(req: Request<Incoming>, shared: Arc<Shared>, reset: Arc<AtomicBool>) -> Reply {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Abort),
    };
    let latency = *shared.latency.lock().unwrap();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let method = parts.method.as_str().to_string();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (protocol, operation) = operation_of(header("x-amz-target").as_deref(), &path, &body);
    let region = header("authorization").and_then(|a| signed_region(&a));
    let attempt = header("amz-sdk-request").and_then(|v| {
        v.split(';')
            .find_map(|kv| kv.trim().strip_prefix("attempt=").map(str::to_string))
            .and_then(|n| n.parse().ok())
    });

    // Decide, and log the request, in one step.
    let (index, fault) = {
        let mut rules = shared.rules.lock().unwrap();
        let mut chosen = None;
        for (i, state) in rules.iter_mut().enumerate() {
            if !matches(
                &state.rule.matcher,
                &method,
                &path,
                operation.as_deref(),
                region.as_deref(),
            ) {
                continue;
            }
            state.matched += 1;
            let fires = match &state.rule.when {
                When::Always => true,
                When::Rate { rate, .. } => unit(&mut state.rng) < *rate,
                When::Band { from, to, .. } => {
                    let u = unit(&mut state.rng);
                    *from <= u && u < *to
                }
                When::Nth(n) => state.matched == *n,
                When::FirstN(n) => state.matched <= *n,
                When::For(d) => state.added.elapsed() < *d,
            };
            if fires && chosen.is_none() {
                chosen = Some((i, state.rule.fault.clone()));
            }
        }
        let mut log = shared.log.lock().unwrap();
        let seq = log.len() as u64 + 1;
        log.push(Logged {
            seq,
            method: method.clone(),
            path: path.clone(),
            operation: operation.clone(),
            protocol,
            invocation: header("amz-sdk-invocation-id"),
            attempt,
            fault: chosen.clone(),
            upstream_status: None,
            at: shared.started.elapsed(),
        });
        (log.len() - 1, chosen.map(|(_, f)| f))
    };
    let request_id = format!("00000000-0000-4000-8000-{:012}", index + 1);
    let content_type = header("content-type");
    let query_version = form_field(&path, &body, "Version");

    let pass_on = || async {
        let resp = forward(&shared, &parts, body.clone()).await;
        if let Ok(r) = &resp {
            shared.log.lock().unwrap()[index].upstream_status = Some(r.status().as_u16());
        }
        resp
    };
    match fault {
        None => pass_on().await.or_else(|e| Ok(bad_gateway(&e))),
        Some(Fault::Throttle) => Ok(shaped_error(
            protocol,
            shared.style,
            content_type.as_deref(),
            query_version.as_deref(),
            &request_id,
            ErrorKind::Throttle,
        )),
        Some(Fault::InternalError) => Ok(shaped_error(
            protocol,
            shared.style,
            content_type.as_deref(),
            query_version.as_deref(),
            &request_id,
            ErrorKind::Internal,
        )),
        Some(Fault::Unavailable) => Ok(shaped_error(
            protocol,
            shared.style,
            content_type.as_deref(),
            query_version.as_deref(),
            &request_id,
            ErrorKind::Unavailable,
        )),
        Some(Fault::AccessDenied) => Ok(shaped_error(
            protocol,
            shared.style,
            content_type.as_deref(),
            query_version.as_deref(),
            &request_id,
            ErrorKind::Denied(denied_action(
                header("x-amz-target").as_deref(),
                operation.as_deref(),
            )),
        )),
        Some(Fault::TooManyRequests { retry_after }) if shared.style != Style::Plain => {
            let mut resp = vendor_error(shared.style, &ErrorKind::Throttle);
            if let Some(s) = retry_after {
                resp.headers_mut()
                    .insert("retry-after", s.to_string().parse().unwrap());
            }
            Ok(resp)
        }
        Some(Fault::TooManyRequests { retry_after }) => {
            let mut b = Response::builder()
                .status(StatusCode::TOO_MANY_REQUESTS)
                .header("content-type", "application/json");
            if let Some(s) = retry_after {
                b = b.header("retry-after", s.to_string());
            }
            Ok(b.body(Full::new(Bytes::from_static(
                br#"{"message":"Too Many Requests"}"#,
            )))
            .unwrap())
        }
        Some(Fault::ResetBeforeForward) => {
            reset.store(true, Ordering::SeqCst);
            Err(Abort)
        }
        Some(Fault::Hang(d)) => {
            tokio::time::sleep(d).await;
            reset.store(true, Ordering::SeqCst);
            Err(Abort)
        }
        Some(Fault::DelayThenForward(d)) => {
            tokio::time::sleep(d).await;
            pass_on().await.or_else(|e| Ok(bad_gateway(&e)))
        }
        Some(Fault::ForwardThenDrop) => {
            let _ = pass_on().await;
            reset.store(true, Ordering::SeqCst);
            Err(Abort)
        }
        Some(Fault::ForwardThenDelay(d)) => {
            let resp = pass_on().await;
            tokio::time::sleep(d).await;
            resp.or_else(|e| Ok(bad_gateway(&e)))
        }
        Some(Fault::DenySecretInBatch(name)) => match pass_on().await {
            Ok(resp) => Ok(deny_in_batch(resp, &name).await),
            Err(e) => Ok(bad_gateway(&e)),
        },
    }
}

/// A BatchGetSecretValue answer with the secret `name` moved from `SecretValues` to
/// `Errors` as an access denial (see [`Fault::DenySecretInBatch`]).
async fn deny_in_batch(resp: Response<Full<Bytes>>, name: &str) -> Response<Full<Bytes>> {
    let (parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, Full::new(bytes));
    };
    let mut denied = Vec::new();
    if let Some(values) = doc.get_mut("SecretValues").and_then(|v| v.as_array_mut()) {
        values.retain(|v| {
            let hit = v.get("Name").and_then(|n| n.as_str()) == Some(name);
            if hit {
                let arn = v.get("ARN").and_then(|a| a.as_str()).unwrap_or(name).to_string();
                denied.push(serde_json::json!({
                    "SecretId": arn,
                    "ErrorCode": "AccessDeniedException",
                    "Message": format!(
                        "User: arn:aws:iam::123456789012:user/responder is not authorized to perform: secretsmanager:GetSecretValue on resource: {arn} because no identity-based policy allows the secretsmanager:GetSecretValue action"
                    ),
                }));
            }
            !hit
        });
    }
    if !denied.is_empty() {
        let errors = doc
            .as_object_mut()
            .map(|o| o.entry("Errors").or_insert_with(|| serde_json::json!([])));
        if let Some(list) = errors.and_then(|e| e.as_array_mut()) {
            list.extend(denied);
        }
    }
    let out = Bytes::from(serde_json::to_vec(&doc).unwrap());
    Response::from_parts(parts, Full::new(out))
}

/// Headers that belong to one connection, not to the message.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
];

async fn forward(
    shared: &Shared,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, String> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let method =
        reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).map_err(|e| e.to_string())?;
    let mut req = shared
        .client
        .request(method, format!("{}{path}", shared.upstream));
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            req = req.header(name.as_str(), value.as_bytes());
        }
    }
    let resp = req.body(body).send().await.map_err(|e| e.to_string())?;
    let mut out = Response::builder().status(resp.status().as_u16());
    for (name, value) in resp.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    out.body(Full::new(bytes)).map_err(|e| e.to_string())
}

fn bad_gateway(why: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::BAD_GATEWAY)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from(format!(
            "fault proxy: upstream failed: {why}"
        ))))
        .unwrap()
}

#[derive(Clone)]
enum ErrorKind {
    Throttle,
    Internal,
    Unavailable,
    /// The IAM action denied, e.g. `secretsmanager:ListSecrets`.
    Denied(String),
}

/// The IAM action of a request: the service prefix of its target (`secretsmanager.` →
/// `secretsmanager`; query protocols: `iam`) and the operation.
fn denied_action(target: Option<&str>, operation: Option<&str>) -> String {
    let service = target
        .and_then(|t| t.split('.').next())
        .map(str::to_lowercase)
        .unwrap_or_else(|| "iam".to_string());
    format!("{service}:{}", operation.unwrap_or("Unknown"))
}

/// An error in the service's own shape (see the module doc).
fn shaped_error(
    protocol: Protocol,
    style: Style,
    content_type: Option<&str>,
    query_version: Option<&str>,
    request_id: &str,
    kind: ErrorKind,
) -> Response<Full<Bytes>> {
    let denied_message;
    let (status, json_type, query_code, fault_type, message) = match &kind {
        ErrorKind::Throttle => (
            400,
            "ThrottlingException",
            "Throttling",
            "Sender",
            "Rate exceeded",
        ),
        ErrorKind::Internal => (
            500,
            "InternalFailure",
            "InternalFailure",
            "Receiver",
            "We encountered an internal error. Please try again.",
        ),
        ErrorKind::Unavailable => (
            503,
            "ServiceUnavailable",
            "ServiceUnavailable",
            "Receiver",
            "Service is unavailable. Please try again later.",
        ),
        ErrorKind::Denied(action) => {
            denied_message = format!(
                "User: arn:aws:sts::123456789012:assumed-role/responder/ops is not authorized to perform: {action} because no identity-based policy allows the {action} action"
            );
            let status = if protocol == Protocol::Query {
                403
            } else {
                400
            };
            (
                status,
                "AccessDeniedException",
                "AccessDenied",
                "Sender",
                denied_message.as_str(),
            )
        }
    };
    let b = Response::builder()
        .status(status)
        .header("x-amzn-requestid", request_id);
    match protocol {
        Protocol::Json => {
            let ct = content_type
                .filter(|c| c.starts_with("application/x-amz-json"))
                .unwrap_or("application/x-amz-json-1.1");
            let body = serde_json::json!({ "__type": json_type, "message": message });
            b.header("content-type", ct)
                .header("x-amzn-ErrorType", json_type)
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap()
        }
        Protocol::Query => {
            let xmlns = match query_version {
                Some("2010-05-08") => " xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"",
                Some("2011-06-15") => " xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"",
                _ => "",
            };
            let body = format!(
                "<ErrorResponse{xmlns}><Error><Type>{fault_type}</Type><Code>{query_code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            );
            b.header("content-type", "text/xml")
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        }
        Protocol::Other if style != Style::Plain => vendor_error(style, &kind),
        Protocol::Other => {
            let status = match &kind {
                ErrorKind::Throttle => 429,
                _ => status,
            };
            let body = serde_json::json!({ "error": { "code": json_type, "message": message } });
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap()
        }
    }
}

/// A fault in an HTTP provider's own shape (see [`Style`]).
fn vendor_error(style: Style, kind: &ErrorKind) -> Response<Full<Bytes>> {
    use serde_json::json;
    let json_reply = |status: u16, body: serde_json::Value| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap()
    };
    let text_reply = |status: u16, body: &'static str| {
        Response::builder()
            .status(status)
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap()
    };
    match (style, kind) {
        (Style::OpenAi, ErrorKind::Throttle) => json_reply(
            429,
            json!({"error": {"message": "Rate limit reached for requests", "type": "requests",
                "param": null, "code": "rate_limit_exceeded"}}),
        ),
        (Style::OpenAi, ErrorKind::Internal) => json_reply(
            500,
            json!({"error": {"message": "The server had an error while processing your request. Sorry about that!",
                "type": "server_error", "param": null, "code": null}}),
        ),
        (Style::OpenAi, ErrorKind::Unavailable) => json_reply(
            503,
            json!({"error": {"message": "The engine is currently overloaded, please try again later",
                "type": "server_error", "param": null, "code": null}}),
        ),
        (Style::OpenAi, ErrorKind::Denied(_)) => json_reply(
            403,
            json!({"error": {"message": "You have insufficient permissions for this operation.",
                "type": "invalid_request_error", "param": null, "code": null}}),
        ),
        (Style::Anthropic, kind) => {
            let (status, kind, message) = match kind {
                ErrorKind::Throttle => (
                    429,
                    "rate_limit_error",
                    "Number of requests has exceeded your rate limit",
                ),
                ErrorKind::Internal => (
                    500,
                    "api_error",
                    "An unexpected error has occurred internal to Anthropic's systems.",
                ),
                ErrorKind::Unavailable => (529, "overloaded_error", "Overloaded"),
                ErrorKind::Denied(_) => (
                    403,
                    "permission_error",
                    "Your API key does not have permission to use the specified resource.",
                ),
            };
            json_reply(
                status,
                json!({"type": "error", "error": {"type": kind, "message": message},
                    "request_id": "req_011FaultProxy"}),
            )
        }
        (Style::Google, kind) => {
            let (code, status, message) = match kind {
                ErrorKind::Throttle => (
                    429,
                    "RESOURCE_EXHAUSTED",
                    "Quota exceeded for quota metric 'Requests' of service.",
                ),
                ErrorKind::Internal => (500, "INTERNAL", "Internal error encountered."),
                ErrorKind::Unavailable => {
                    (503, "UNAVAILABLE", "The service is currently unavailable.")
                }
                ErrorKind::Denied(_) => (
                    403,
                    "PERMISSION_DENIED",
                    "The caller does not have permission",
                ),
            };
            json_reply(
                code,
                json!({"error": {"code": code, "message": message, "status": status}}),
            )
        }
        (Style::Braintrust, ErrorKind::Throttle) => text_reply(
            429,
            "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests",
        ),
        (Style::Braintrust, ErrorKind::Internal | ErrorKind::Unavailable) => text_reply(
            500,
            "Something went wrong on Braintrust's end. (These are rare.)",
        ),
        (Style::Braintrust, ErrorKind::Denied(_)) => {
            // BT documents no 403 body: assumed text, as its 429 and 500 are.
            text_reply(403, "Forbidden")
        }
        (Style::Plain, _) => json_reply(
            500,
            json!({"error": {"code": "InternalFailure", "message": "fault proxy"}}),
        ),
    }
}

/// The protocol and AWS operation of a request: `X-Amz-Target: secretsmanager.GetSecretValue`
/// (JSON), or `Action=CreateAccessKey` in the form body or query string (query).
pub fn operation_of(target: Option<&str>, path: &str, body: &[u8]) -> (Protocol, Option<String>) {
    if let Some(t) = target {
        let op = t.rsplit('.').next().unwrap_or(t);
        return (Protocol::Json, Some(op.to_string()));
    }
    match form_field(path, body, "Action") {
        Some(op) => (Protocol::Query, Some(op)),
        None => (Protocol::Other, None),
    }
}

/// A field of a query-protocol request: from the form body, else the query string.
fn form_field(path: &str, body: &[u8], name: &str) -> Option<String> {
    let find = |s: &str| {
        s.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name && !v.is_empty()).then(|| v.to_string())
        })
    };
    let in_body = std::str::from_utf8(body).ok().and_then(find);
    in_body.or_else(|| path.split_once('?').and_then(|(_, q)| find(q)))
}

/// The region of a SigV4 `Authorization` header's credential scope.
fn signed_region(authorization: &str) -> Option<String> {
    let (_, rest) = authorization.split_once("Credential=")?;
    let scope = rest.split([',', ' ']).next()?;
    scope.split('/').nth(2).map(str::to_string)
}

fn matches(
    m: &Match,
    method: &str,
    path: &str,
    operation: Option<&str>,
    region: Option<&str>,
) -> bool {
    match m {
        Match::Any => true,
        Match::Operation(name) => operation == Some(name.as_str()),
        Match::OperationInRegion {
            operation: name,
            region: want,
        } => operation == Some(name.as_str()) && region == Some(want.as_str()),
        Match::Request {
            method: want,
            path_prefix,
        } => {
            want.as_deref()
                .is_none_or(|w| w.eq_ignore_ascii_case(method))
                && path.starts_with(path_prefix.as_str())
        }
    }
}

/// splitmix64: a tiny, well-known generator; plenty for "fail 30% of these, reproducibly".
fn next_u64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform draw in [0, 1).
fn unit(state: &mut u64) -> f64 {
    (next_u64(state) >> 11) as f64 / (1u64 << 53) as f64
}

/// A TCP stream whose drop resets the connection (SO_LINGER 0) once `reset` is set.
struct Resettable {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for Resettable {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for Resettable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Resettable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
