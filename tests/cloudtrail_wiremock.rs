//! CloudTrail LookupEvents against a wiremock server speaking CloudTrail's JSON 1.1
//! protocol (moto has no LookupEvents): the exact request, per-minute buckets, denied vs ok,
//! sources, NextToken pagination, the request rate and the throttling back-off.
//!
//! Source of the routes, fields and errors of this fake: the Smithy model in
//! aws/api-models-aws@56c8953e87aeead95ae5e66a3ca6a355731db6ad
//! `cloudtrail/service/2013-11-01/cloudtrail-2013-11-01.json` (protocol `awsJson1_1`, target
//! `CloudTrail_20131101.LookupEvents`, `LookupEventsRequest`/`LookupEventsResponse`,
//! `EventTime` as epoch seconds, `CloudTrailEvent` a JSON string), and the SDK's
//! `sdk/cloudtrail/src/operation/lookup_events.rs` in awslabs/aws-sdk-rust@02aa74d for the
//! request the client sends. `ThrottlingException` is not modelled for LookupEvents; the
//! SDK's generic throttling error codes apply.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/cloudtrail.rs"]
mod cloudtrail;

use std::time::{Duration, Instant};

use breachbook::incident::model::KeyGeneration;
use breachbook::incident::ports::ProviderError;
use breachbook::providers::aws::cloudtrail::CloudTrailUsage;
use chrono::{DateTime, TimeZone, Utc};
use cloudtrail::{TARGET, aws_at, ok_json};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "AKIAEXAMPLEOLDKEY001";
fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 13, h, m, s).unwrap()
}

/// One event as LookupEvents returns it: EventTime in epoch seconds, CloudTrailEvent as a
/// JSON string.
fn event(id: &str, t: DateTime<Utc>, ip: &str, agent: &str, error: Option<&str>) -> Value {
    let mut detail = json!({
        "eventVersion": "1.09",
        "eventTime": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "sourceIPAddress": ip,
        "userAgent": agent,
        "userIdentity": {"type": "IAMUser", "accessKeyId": KEY, "userName": "svc-deployer"},
    });
    if let Some(code) = error {
        detail["errorCode"] = json!(code);
        detail["errorMessage"] = json!("denied");
    }
    json!({
        "EventId": id,
        "EventName": "ListBuckets",
        "ReadOnly": "true",
        "AccessKeyId": KEY,
        "EventTime": t.timestamp() as f64,
        "EventSource": "s3.amazonaws.com",
        "Username": "svc-deployer",
        "Resources": [],
        "CloudTrailEvent": detail.to_string(),
    })
}

fn throttled() -> ResponseTemplate {
    ResponseTemplate::new(400)
        .insert_header("content-type", "application/x-amz-json-1.1")
        .set_body_string(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#)
}

fn body_of(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test]
async fn the_request_is_exactly_a_lookup_by_access_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header("x-amz-target", TARGET))
        .and(header("content-type", "application/x-amz-json-1.1"))
        .respond_with(ok_json(json!({"Events": []})))
        .expect(1)
        .mount(&server)
        .await;
    let aws = aws_at(&server).await;
    let since = at(10, 0, 30);
    let samples = CloudTrailUsage::new(&aws)
        .calls_per_minute(KEY, since)
        .await
        .unwrap();
    assert!(samples.is_empty());

    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert!(
        r.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(
                |a| a.starts_with("AWS4-HMAC-SHA256") && a.contains("/cloudtrail/aws4_request")
            ),
        "signed for CloudTrail"
    );
    assert_eq!(
        body_of(r),
        json!({
            "LookupAttributes": [{"AttributeKey": "AccessKeyId", "AttributeValue": KEY}],
            "StartTime": since.timestamp(),
            "MaxResults": 50,
        })
    );
    server.verify().await;
}

#[tokio::test]
async fn events_are_bucketed_per_minute_with_denied_calls_and_sources() {
    let server = MockServer::start().await;
    let events = json!({"Events": [
        // Newest first, as CloudTrail answers.
        event("e7", at(10, 2, 59), "198.51.100.9", "Boto3/1.34.0 md/Botocore", Some("NoSuchBucket")),
        event("e6", at(10, 2, 10), "203.0.113.50", "curl/8.5.0", Some("Client.UnauthorizedOperation")),
        event("e5", at(10, 2, 5), "203.0.113.50", "curl/8.5.0", Some("UnauthorizedOperation")),
        event("e4", at(10, 1, 40), "203.0.113.50", "curl/8.5.0", Some("AccessDenied")),
        event("e3", at(10, 1, 30), "10.0.0.7", "aws-cli/2.15.0 Python/3.11.6 Linux/6.1", None),
        event("e2", at(10, 1, 20), "10.0.0.7", "aws-cli/2.15.0 Python/3.11.6 Linux/6.1", None),
        event("e1", at(10, 1, 0), "10.0.0.7", "aws-cli/2.15.0 Python/3.11.6 Linux/6.1", None),
    ]});
    Mock::given(method("POST"))
        .and(header("x-amz-target", TARGET))
        .respond_with(ok_json(events))
        .mount(&server)
        .await;
    let aws = aws_at(&server).await;
    let samples = CloudTrailUsage::new(&aws)
        .calls_per_minute(KEY, at(10, 0, 0))
        .await
        .unwrap();
    assert_eq!(samples.len(), 2, "{samples:#?}");
    let (m1, m2) = (&samples[0], &samples[1]);
    assert_eq!(m1.minute, at(10, 1, 0));
    assert_eq!((m1.ok, m1.denied), (3, 1));
    assert_eq!(
        m1.sources,
        ["10.0.0.7 aws-cli/2.15.0", "203.0.113.50 curl/8.5.0"]
    );
    assert_eq!(m2.minute, at(10, 2, 0));
    // NoSuchBucket: the key worked, the bucket did not exist.
    assert_eq!((m2.ok, m2.denied), (1, 2));
    assert_eq!(
        m2.sources,
        ["203.0.113.50 curl/8.5.0", "198.51.100.9 Boto3/1.34.0"]
    );
    assert!(
        samples
            .iter()
            .all(|s| s.credential == KEY && s.generation == KeyGeneration::Old)
    );
}

#[tokio::test]
async fn pages_follow_next_token_at_two_requests_per_second() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", TARGET))
        .and(body_partial_json(json!({"NextToken": "page-2"})))
        .respond_with(ok_json(json!({"Events": [
            event("e1", at(10, 1, 5), "10.0.0.7", "aws-cli/2.15.0", None),
        ]})))
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", TARGET))
        .respond_with(ok_json(json!({
            "Events": [event("e2", at(10, 1, 50), "10.0.0.7", "aws-cli/2.15.0", None)],
            "NextToken": "page-2",
        })))
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    let aws = aws_at(&server).await;
    let t0 = Instant::now();
    let samples = CloudTrailUsage::new(&aws)
        .calls_per_minute(KEY, at(10, 0, 0))
        .await
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].ok, 2);
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 2);
    let second = body_of(&reqs[1]);
    assert_eq!(second["NextToken"], "page-2");
    assert_eq!(
        second["LookupAttributes"],
        body_of(&reqs[0])["LookupAttributes"]
    );
    assert!(
        took >= Duration::from_millis(490),
        "two requests 0.5 s apart: {took:?}"
    );
    server.verify().await;
}

#[tokio::test]
async fn throttling_backs_off_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(throttled())
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ok_json(json!({"Events": [
            event("e1", at(10, 1, 5), "10.0.0.7", "aws-cli/2.15.0", None),
        ]})))
        .with_priority(2)
        .mount(&server)
        .await;
    let aws = aws_at(&server).await;
    let ct = CloudTrailUsage::new(&aws)
        .with_rate(100)
        .with_backoff(Duration::from_millis(100), 5);
    let t0 = Instant::now();
    let samples = ct.calls_per_minute(KEY, at(10, 0, 0)).await.unwrap();
    let took = t0.elapsed();
    assert_eq!(samples.len(), 1);
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    // 100 ms, then 200 ms.
    assert!(took >= Duration::from_millis(300), "{took:?}");
}

#[tokio::test]
async fn throttling_that_never_ends_is_reported_as_throttled() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(throttled())
        .mount(&server)
        .await;
    let aws = aws_at(&server).await;
    let ct = CloudTrailUsage::new(&aws)
        .with_rate(100)
        .with_backoff(Duration::from_millis(10), 3);
    let err = ct.calls_per_minute(KEY, at(10, 0, 0)).await.unwrap_err();
    assert!(matches!(err, ProviderError::Throttled { .. }), "{err:?}");
    assert!(err.to_string().contains("ThrottlingException"), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn access_denied_to_cloudtrail_is_an_auth_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("content-type", "application/x-amz-json-1.1")
                .set_body_string(r#"{"__type":"AccessDeniedException","message":"User is not authorized to perform: cloudtrail:LookupEvents"}"#),
        )
        .mount(&server)
        .await;
    let aws = aws_at(&server).await;
    let err = CloudTrailUsage::new(&aws)
        .calls_per_minute(KEY, at(10, 0, 0))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("cloudtrail:LookupEvents"), "{err}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "not retried"
    );
}
