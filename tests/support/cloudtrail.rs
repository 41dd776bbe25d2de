//! A CloudTrail for tests: wiremock speaking LookupEvents' JSON 1.1 protocol (moto has no
//! LookupEvents) and the AWS clients pointed at it. Shared by the tests that read CloudTrail
//! (usage, creators).
//!
//! Source of the shapes: the Smithy model in
//! aws/api-models-aws@56c8953e87aeead95ae5e66a3ca6a355731db6ad
//! `cloudtrail/service/2013-11-01/cloudtrail-2013-11-01.json` (protocol `awsJson1_1`, target
//! `CloudTrail_20131101.LookupEvents`, `LookupEventsRequest`/`LookupEventsResponse`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use breachbook::providers::aws::{Aws, AwsOptions};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

/// The target the SDK sends (the service's short form; the API reference's examples spell
/// it `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`).
pub const TARGET: &str = "CloudTrail_20131101.LookupEvents";

/// The AWS clients pointed at `server` (us-east-1, obviously fake static keys).
pub async fn aws_at(server: &MockServer) -> Aws {
    let opts = AwsOptions {
        profile: None,
        region: Some("us-east-1".into()),
        endpoint_url: Some(server.uri()),
        static_credentials: Some((
            "AKIAEXAMPLEFAKE00001".into(),
            "fake-secret-for-wiremock".into(),
        )),
    };
    Aws::load(&opts, &["us-east-1".to_string()]).await.unwrap()
}

/// A 200 answer in the protocol's content type.
pub fn ok_json(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/x-amz-json-1.1")
        .set_body_string(body.to_string())
}

/// The account of the records.
pub const ACCOUNT: &str = "123456789012";

/// One IAM management event as LookupEvents returns it (`EventTime` in epoch seconds,
/// `CloudTrailEvent` a JSON string), made by `arn` (of `userIdentity.type` `kind`) from
/// 203.0.113.9 at `at`; `detail`'s fields (`requestParameters`, `responseElements`…) are
/// merged into the record. The record's fields are "CloudTrail record contents"'s
/// (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>).
pub fn record(name: &str, at: DateTime<Utc>, arn: &str, kind: &str, detail: Value) -> Value {
    let mut d = json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": kind, "arn": arn, "accountId": ACCOUNT,
                          "accessKeyId": "AKIAEXAMPLECALLER001"},
        "eventTime": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9",
        "userAgent": "aws-cli/2.15.0",
    });
    for (k, v) in detail.as_object().unwrap() {
        d[k] = v.clone();
    }
    json!({
        "EventId": format!("{name}-{}", arn.len()),
        "EventName": name,
        "ReadOnly": "false",
        "AccessKeyId": "AKIAEXAMPLECALLER001",
        "EventTime": at.timestamp() as f64,
        "EventSource": "iam.amazonaws.com",
        "Username": arn.rsplit('/').next().unwrap(),
        "Resources": [],
        "CloudTrailEvent": d.to_string(),
    })
}

/// `CreateAccessKey`'s record for `key` of `user`, made by `arn` (IAM's CloudTrail example:
/// `requestParameters.userName`, `responseElements.accessKey`).
pub fn create_access_key(key: &str, user: &str, arn: &str, kind: &str, at: DateTime<Utc>) -> Value {
    record(
        "CreateAccessKey",
        at,
        arn,
        kind,
        json!({
            "requestParameters": {"userName": user},
            "responseElements": {"accessKey": {
                "accessKeyId": key, "status": "Active", "userName": user,
                "createDate": "Dec 2, 2026, 3:00:00 AM"}},
        }),
    )
}
