//! The fault-injecting proxy between the real SDK clients and moto: throttling in each
//! service's own error shape is retried by the SDK (and counted here), a response lost
//! after the request took effect leaves a key upstream that the client never saw, and a
//! response held past the client's timeout still changed the world.
//!
//! What this shows about the SDK (standard retry mode, aws-sdk-* 1.x): `ThrottlingException`
//! (JSON) and `Throttling` (query) are retried with the same invocation id and
//! `amz-sdk-request: attempt=N`; a connection reset after the upstream answered is an IO
//! error, retried too, even for `CreateAccessKey`, which has no idempotency token: with
//! retries on, one call can mint two keys. That is why breachbook journals the intent and
//! reconciles by listing (DESIGN.md, "intent → reconcile"). A bare 429 (no AWS error
//! code) is not retried at all; a 503 is.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/moto.rs"]
mod moto;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use fault_proxy::{Fault, FaultProxy, Protocol, Rule, When};
use moto::Moto;

fn credentials() -> Credentials {
    Credentials::new(
        moto::FAKE_ACCESS_KEY_ID,
        moto::FAKE_SECRET_ACCESS_KEY,
        None,
        None,
        "fault-proxy-test",
    )
}

/// Quick retries, so a test with three attempts takes milliseconds, not seconds.
fn quick_retries(max_attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(max_attempts)
        .with_initial_backoff(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(50))
}

fn sm_via(
    endpoint: &str,
    retry: RetryConfig,
    timeout: Option<Duration>,
) -> aws_sdk_secretsmanager::Client {
    let mut b = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .endpoint_url(endpoint)
        .retry_config(retry);
    if let Some(t) = timeout {
        b = b.timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(t)
                .build(),
        );
    }
    aws_sdk_secretsmanager::Client::from_conf(b.build())
}

fn iam_via(endpoint: &str, retry: RetryConfig) -> aws_sdk_iam::Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(credentials())
        .endpoint_url(endpoint)
        .retry_config(retry)
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

/// The access key ids moto holds for `user`.
async fn keys_of(iam: &aws_sdk_iam::Client, user: &str) -> BTreeSet<String> {
    iam.list_access_keys()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn secrets_manager_throttling_is_retried_by_the_sdk_until_it_passes() {
    let moto = Moto::start();
    moto.sm_client("us-east-1")
        .await
        .create_secret()
        .name("prod/ai/openai")
        .secret_string("sk-old")
        .send()
        .await
        .unwrap();
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.add(Rule::operation(
        "GetSecretValue",
        When::FirstN(2),
        Fault::Throttle,
    ));
    let sm = sm_via(&proxy.endpoint, quick_retries(3), None);

    let got = sm
        .get_secret_value()
        .secret_id("prod/ai/openai")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", proxy.describe()));
    assert_eq!(got.secret_string(), Some("sk-old"));

    let calls = proxy.requests_for("GetSecretValue");
    assert_eq!(
        calls.len(),
        3,
        "two throttled, one through:\n{}",
        proxy.describe()
    );
    assert!(calls.iter().all(|c| c.protocol == Protocol::Json));
    assert_eq!(
        calls.iter().map(|c| c.attempt).collect::<Vec<_>>(),
        vec![Some(1), Some(2), Some(3)],
        "the SDK numbers its attempts"
    );
    let invocations: BTreeSet<_> = calls.iter().map(|c| c.invocation.clone()).collect();
    assert_eq!(invocations.len(), 1, "one SDK call, three attempts");
    assert_eq!(
        calls.iter().map(|c| c.fault.is_some()).collect::<Vec<_>>(),
        vec![true, true, false]
    );
    assert_eq!(calls[2].upstream_status, Some(200));
    assert_eq!(proxy.faults().len(), 2);
}

#[tokio::test]
async fn secrets_manager_throttling_past_the_attempt_limit_surfaces_as_throttling_exception() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.add(Rule::operation(
        "ListSecrets",
        When::Always,
        Fault::Throttle,
    ));
    let sm = sm_via(&proxy.endpoint, quick_retries(3), None);

    let err = sm
        .list_secrets()
        .send()
        .await
        .expect_err("throttled every time");
    let meta = err.as_service_error().map(|e| e.meta().clone());
    assert_eq!(
        meta.as_ref().and_then(|m| m.code()),
        Some("ThrottlingException"),
        "{err:?}"
    );
    assert_eq!(
        meta.as_ref().and_then(|m| m.message()),
        Some("Rate exceeded")
    );
    assert_eq!(
        proxy.requests_for("ListSecrets").len(),
        3,
        "max_attempts 3: {}",
        proxy.describe()
    );
    assert!(
        proxy
            .requests_for("ListSecrets")
            .iter()
            .all(|c| c.upstream_status.is_none())
    );
}

#[tokio::test]
async fn a_bare_429_is_not_retried_by_the_sdk_but_a_503_is() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.add(Rule::operation(
        "ListSecrets",
        When::Always,
        Fault::TooManyRequests {
            retry_after: Some(1),
        },
    ));
    proxy.add(Rule::operation(
        "DescribeSecret",
        When::Nth(1),
        Fault::Unavailable,
    ));
    let sm = sm_via(&proxy.endpoint, quick_retries(3), None);

    // No AWS error code and a status outside 500/502/503/504: one attempt, then the error.
    let err = sm.list_secrets().send().await.expect_err("429 every time");
    assert_eq!(
        err.raw_response().map(|r| r.status().as_u16()),
        Some(429),
        "{err:?}"
    );
    assert_eq!(
        proxy.requests_for("ListSecrets").len(),
        1,
        "{}",
        proxy.describe()
    );

    // A 503 is transient: retried, and the second attempt reaches moto.
    let err = sm
        .describe_secret()
        .secret_id("absent")
        .send()
        .await
        .expect_err("moto: no such secret");
    let code = err.as_service_error().and_then(|e| e.meta().code());
    assert_eq!(code, Some("ResourceNotFoundException"), "{err:?}");
    assert_eq!(proxy.requests_for("DescribeSecret").len(), 2);
}

#[tokio::test]
async fn iam_throttling_in_the_query_shape_is_read_and_retried() {
    let moto = Moto::start();
    moto.iam_client()
        .await
        .create_user()
        .user_name("ci-deployer")
        .send()
        .await
        .unwrap();
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.add(Rule::operation(
        "ListAccessKeys",
        When::Nth(1),
        Fault::Throttle,
    ));
    proxy.add(Rule::operation("GetUser", When::Always, Fault::Throttle));
    let iam = iam_via(&proxy.endpoint, quick_retries(2));

    // One throttle, then through.
    let keys = iam
        .list_access_keys()
        .user_name("ci-deployer")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", proxy.describe()));
    assert!(keys.access_key_metadata().is_empty());
    let calls = proxy.requests_for("ListAccessKeys");
    assert_eq!(calls.len(), 2, "{}", proxy.describe());
    assert_eq!(calls[0].protocol, Protocol::Query);

    // Always throttled: the SDK parses IAM's XML error.
    let err = iam
        .get_user()
        .user_name("ci-deployer")
        .send()
        .await
        .expect_err("throttled every time");
    let meta = err.as_service_error().map(|e| e.meta().clone()).unwrap();
    assert_eq!(meta.code(), Some("Throttling"), "{err:?}");
    assert_eq!(meta.message(), Some("Rate exceeded"));
    assert_eq!(proxy.requests_for("GetUser").len(), 2);
}

#[tokio::test]
async fn create_access_key_forwarded_then_dropped_leaves_a_key_the_client_never_saw() {
    let moto = Moto::start();
    let direct = moto.iam_client().await;
    direct
        .create_user()
        .user_name("ci-deployer")
        .send()
        .await
        .unwrap();
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.add(Rule::operation(
        "CreateAccessKey",
        When::Nth(1),
        Fault::ForwardThenDrop,
    ));
    let iam = iam_via(&proxy.endpoint, RetryConfig::disabled());

    let err = iam
        .create_access_key()
        .user_name("ci-deployer")
        .send()
        .await
        .expect_err("the response was dropped");
    assert!(
        err.as_service_error().is_none(),
        "a lost response is no service error: {err:?}"
    );
    // The request took effect: moto holds a key the client has no id (nor secret) for.
    let keys = keys_of(&direct, "ci-deployer").await;
    assert_eq!(keys.len(), 1, "{keys:?}\n{}", proxy.describe());
    let call = &proxy.requests_for("CreateAccessKey")[0];
    assert_eq!(call.fault, Some((0, Fault::ForwardThenDrop)));
    assert_eq!(
        call.upstream_status,
        Some(200),
        "moto answered; the client never saw it"
    );
}

#[tokio::test]
async fn the_sdk_retries_a_dropped_create_access_key_and_mints_a_second_key() {
    let moto = Moto::start();
    let direct = moto.iam_client().await;
    direct
        .create_user()
        .user_name("ci-deployer")
        .send()
        .await
        .unwrap();
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.add(Rule::operation(
        "CreateAccessKey",
        When::Nth(1),
        Fault::ForwardThenDrop,
    ));
    let iam = iam_via(&proxy.endpoint, quick_retries(3));

    let made = iam
        .create_access_key()
        .user_name("ci-deployer")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", proxy.describe()));
    let seen = made.access_key().unwrap().access_key_id().to_string();
    let keys = keys_of(&direct, "ci-deployer").await;
    assert_eq!(
        keys.len(),
        2,
        "one call, two keys: {keys:?}\n{}",
        proxy.describe()
    );
    assert!(keys.contains(&seen));
    let calls = proxy.requests_for("CreateAccessKey");
    assert_eq!(
        calls.iter().map(|c| c.attempt).collect::<Vec<_>>(),
        vec![Some(1), Some(2)]
    );
    assert!(calls.iter().all(|c| c.upstream_status == Some(200)));
}

#[tokio::test]
async fn a_response_held_past_the_client_timeout_still_took_effect() {
    let moto = Moto::start();
    let direct = moto.sm_client("us-east-1").await;
    let proxy = FaultProxy::start(&moto.endpoint);
    proxy.add(Rule::operation(
        "CreateSecret",
        When::Always,
        Fault::ForwardThenDelay(Duration::from_secs(3)),
    ));
    let sm = sm_via(
        &proxy.endpoint,
        RetryConfig::disabled(),
        Some(Duration::from_millis(500)),
    );

    let began = Instant::now();
    let err = sm
        .create_secret()
        .name("prod/ai/gemini")
        .secret_string("AIza-new")
        .send()
        .await
        .expect_err("the client gives up before the answer");
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "timed out at the attempt timeout, not at the proxy's delay: {:?}",
        began.elapsed()
    );
    assert!(err.as_service_error().is_none(), "{err:?}");
    let there = direct
        .describe_secret()
        .secret_id("prod/ai/gemini")
        .send()
        .await
        .unwrap();
    assert_eq!(there.name(), Some("prod/ai/gemini"));
    assert_eq!(
        proxy.requests_for("CreateSecret")[0].upstream_status,
        Some(200)
    );
}

/// The proxy's own triggers and faults, through plain HTTP to a wiremock upstream.
mod triggers {
    use super::*;
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn upstream() -> MockServer {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&server)
            .await;
        server
    }

    fn http() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    }

    /// Which of `n` GETs to `path` got a fault, in order.
    async fn pattern(proxy: &FaultProxy, path: &str, n: usize) -> Vec<bool> {
        let c = http();
        for _ in 0..n {
            let _ = c.get(format!("{}{path}", proxy.endpoint)).send().await;
        }
        proxy
            .log()
            .iter()
            .filter(|l| l.path.starts_with(path))
            .map(|l| l.fault.is_some())
            .collect()
    }

    #[tokio::test]
    async fn a_seeded_rate_is_reproducible_and_near_its_rate() {
        let up = upstream().await;
        let rule = || {
            Rule::path(
                Some("GET"),
                "/v1/",
                When::Rate {
                    rate: 0.3,
                    seed: 42,
                },
                Fault::InternalError,
            )
        };
        let a = FaultProxy::start(&up.uri());
        a.add(rule());
        let b = FaultProxy::start(&up.uri());
        b.add(rule());
        let pa = pattern(&a, "/v1/keys", 100).await;
        let pb = pattern(&b, "/v1/keys", 100).await;
        assert_eq!(pa, pb, "same seed, same faults");
        let hits = pa.iter().filter(|f| **f).count();
        assert!((15..=45).contains(&hits), "rate 0.3 of 100 gave {hits}");
        // Another seed, another pattern.
        let c = FaultProxy::start(&up.uri());
        c.add(Rule::path(
            None,
            "/v1/",
            When::Rate { rate: 0.3, seed: 7 },
            Fault::InternalError,
        ));
        assert_ne!(pattern(&c, "/v1/keys", 100).await, pa);
        // A path the rule does not match is never touched.
        assert!(pattern(&a, "/v2/other", 20).await.iter().all(|f| !f));
    }

    #[tokio::test]
    async fn nth_first_n_and_a_time_window() {
        let up = upstream().await;
        let p = FaultProxy::start(&up.uri());
        p.add(Rule::path(None, "/nth", When::Nth(3), Fault::Unavailable));
        p.add(Rule::path(
            None,
            "/first",
            When::FirstN(2),
            Fault::Unavailable,
        ));
        assert_eq!(
            pattern(&p, "/nth", 5).await,
            vec![false, false, true, false, false]
        );
        assert_eq!(
            pattern(&p, "/first", 4).await,
            vec![true, true, false, false]
        );
        p.add(Rule::path(
            None,
            "/window",
            When::For(Duration::from_millis(400)),
            Fault::Unavailable,
        ));
        assert_eq!(pattern(&p, "/window", 2).await, vec![true, true]);
        tokio::time::sleep(Duration::from_millis(500)).await;
        // `pattern` lists every /window request so far: the two inside, then four after.
        let all = pattern(&p, "/window", 4).await;
        assert_eq!(
            all,
            vec![true, true, false, false, false, false],
            "the window closed"
        );
    }

    #[tokio::test]
    async fn statuses_retry_after_resets_and_latency() {
        let up = upstream().await;
        let p = FaultProxy::start(&up.uri());
        p.add(Rule::path(
            None,
            "/429-after",
            When::Always,
            Fault::TooManyRequests {
                retry_after: Some(7),
            },
        ));
        p.add(Rule::path(
            None,
            "/429",
            When::Always,
            Fault::TooManyRequests { retry_after: None },
        ));
        p.add(Rule::path(None, "/500", When::Always, Fault::InternalError));
        p.add(Rule::path(None, "/503", When::Always, Fault::Unavailable));
        p.add(Rule::path(
            None,
            "/reset",
            When::Always,
            Fault::ResetBeforeForward,
        ));
        p.add(Rule::path(
            None,
            "/hang",
            When::Always,
            Fault::Hang(Duration::from_secs(30)),
        ));
        let c = http();
        let get = |path: &str| c.get(format!("{}{path}", p.endpoint)).send();

        let r = get("/429-after").await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "7");
        let r = get("/429").await.unwrap();
        assert_eq!(r.status(), 429);
        assert!(r.headers().get("retry-after").is_none());
        assert_eq!(get("/500").await.unwrap().status(), 500);
        assert_eq!(get("/503").await.unwrap().status(), 503);
        assert_eq!(get("/passes").await.unwrap().text().await.unwrap(), "ok");

        let err = get("/reset").await.expect_err("reset before any answer");
        assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
        // A TCP reset (SO_LINGER 0), not a tidy close: the OS says "reset by peer".
        assert!(
            format!("{err:?}").contains("reset by peer"),
            "expected ECONNRESET: {err:?}"
        );
        let err = c
            .get(format!("{}/hang", p.endpoint))
            .timeout(Duration::from_millis(300))
            .send()
            .await
            .expect_err("held past the client's timeout");
        assert!(err.is_timeout(), "{err:?}");

        // Only what was forwarded reached the upstream.
        let reached: Vec<String> = up
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| r.url.path().to_string())
            .collect();
        assert_eq!(reached, vec!["/passes".to_string()]);

        // Latency mode: every request waits at least that long.
        p.set_latency(Duration::from_millis(150));
        let began = Instant::now();
        assert_eq!(get("/passes").await.unwrap().status(), 200);
        assert!(began.elapsed() >= Duration::from_millis(150));
        assert_eq!(p.log().len(), 8);
    }
}

/// Found by tests/fault_rate.rs: the answer to UpdateSecretVersionStage (AWSCURRENT moved)
/// lost after it took effect, the SDK sends it again, and the retry is refused — the label
/// has left the version it names ("Version stage AWSCURRENT not found in version …",
/// InvalidParameterException). The promotion must see that it is done, not fail.
#[tokio::test]
async fn a_promotion_whose_answer_was_lost_and_retried_is_done_not_failed() {
    use breachbook::incident::model::{Location, LocationKind};
    use breachbook::incident::ports::SecretStore;
    use breachbook::providers::aws::Aws;
    use breachbook::providers::aws::secrets::SecretsManagerStore;
    use secrecy::SecretString;

    let moto = Moto::start();
    let direct = moto.sm_client("us-east-1").await;
    direct
        .create_secret()
        .name("fp/promote-lost")
        .secret_string(r#"{"AccessKeyId":"AKIAEXAMPLEOLD00001"}"#)
        .send()
        .await
        .unwrap();
    let proxy = FaultProxy::start(&moto.endpoint);
    let mut opts = moto.options("us-east-1");
    opts.endpoint_url = Some(proxy.endpoint.clone());
    let aws = Aws::load(&opts, &["us-east-1".to_string()]).await.unwrap();
    let store = SecretsManagerStore::new(&aws);
    let loc = Location {
        kind: LocationKind::SecretsManager,
        name: "fp/promote-lost".into(),
        field: None,
        region: Some("us-east-1".into()),
        account: None,
        changed: None,
    };
    let new = SecretString::from(r#"{"AccessKeyId":"AKIAEXAMPLENEW00001"}"#.to_string());
    let version = store
        .stage(&loc, &new, "fault-proxy-promote-lost-0000000000000001")
        .await
        .unwrap();
    // The first label move (AWSCURRENT) takes effect; its answer is lost.
    let rule = proxy.add(Rule::operation(
        "UpdateSecretVersionStage",
        When::Nth(1),
        Fault::ForwardThenDrop,
    ));
    store
        .promote(&loc, &version)
        .await
        .unwrap_or_else(|e| panic!("promotion failed: {e}\n{}", proxy.describe()));
    let moves = proxy.requests_for("UpdateSecretVersionStage");
    assert!(
        moves
            .iter()
            .any(|l| l.fault.as_ref().is_some_and(|(i, _)| *i == rule)),
        "the fault was injected:\n{}",
        proxy.describe()
    );
    assert!(
        moves.iter().any(|l| l.attempt == Some(2)),
        "the SDK sent the lost move again:\n{}",
        proxy.describe()
    );
    let d = direct
        .describe_secret()
        .secret_id("fp/promote-lost")
        .send()
        .await
        .unwrap();
    let stages = d.version_ids_to_stages().unwrap();
    assert!(
        stages[&version].iter().any(|s| s == "AWSCURRENT"),
        "{stages:?}"
    );
    assert!(
        !stages[&version].iter().any(|s| s == "AWSPENDING"),
        "{stages:?}"
    );
}
