//! Who made the IAM keys created during the exposure window, and the persistence made
//! there, from CloudTrail event history (LookupEvents by `EventName`, through the same
//! paced, retried, paged client as the usage feed).
//!
//! IAM is a global service: its events are logged in us-east-1, so that region alone is
//! asked when it is configured. The record's fields (`userIdentity.arn`/`type`/
//! `accessKeyId`, `sourceIPAddress`, `eventTime`, `errorCode`, `requestParameters`,
//! `responseElements`) are as "CloudTrail record contents" documents them
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>);
//! `CreateAccessKey`'s `responseElements.accessKey.accessKeyId` names the new key.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_cloudtrail::types::{Event, LookupAttributeKey};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::cloudtrail::CloudTrailUsage;
use super::to_chrono;
use crate::incident::model::Credential;
use crate::incident::ports::{CreatorFindings, CreatorLog, ProviderResult};
use crate::incident::provenance::{Creator, PersistenceFinding, Provenance};
use crate::runbook::schema::{ExposureWindow, Issuer};

/// The IAM events that let an identity back in (besides a new access key).
pub const PERSISTENCE_EVENTS: [&str; 5] = [
    "CreateUser",
    "CreateLoginProfile",
    "AttachUserPolicy",
    "PutUserPolicy",
    "UpdateAssumeRolePolicy",
];

/// CloudTrail as the record of who made IAM keys and persistence.
#[derive(Debug, Clone)]
pub struct IamCreators {
    trail: CloudTrailUsage,
}

impl IamCreators {
    pub fn new(trail: CloudTrailUsage) -> Self {
        IamCreators { trail }
    }

    async fn events(&self, name: &str, since: DateTime<Utc>) -> ProviderResult<Vec<Event>> {
        let region = self.trail.has_region("us-east-1").then_some("us-east-1");
        self.trail
            .events_by(region, LookupAttributeKey::EventName, name, since)
            .await
    }
}

#[async_trait]
impl CreatorLog for IamCreators {
    async fn look_up(
        &self,
        window: &ExposureWindow,
        created: &[Credential],
    ) -> ProviderResult<CreatorFindings> {
        let since = window.start;
        let mut made: HashMap<String, (Creator, String)> = HashMap::new();
        for ev in self.events("CreateAccessKey", since).await? {
            if let Some(r) = Record::read(&ev)
                && r.succeeded
                && r.creator.event == "CreateAccessKey"
                && let Some(key) = r.text(&["responseElements", "accessKey", "accessKeyId"])
            {
                let user = r
                    .text(&["responseElements", "accessKey", "userName"])
                    .or_else(|| r.text(&["requestParameters", "userName"]))
                    .unwrap_or_default();
                made.insert(key, (r.creator, user));
            }
        }
        let mut persistence = Vec::new();
        for name in PERSISTENCE_EVENTS {
            for ev in self.events(name, since).await? {
                if let Some(r) = Record::read(&ev)
                    && r.succeeded
                    && r.creator.event == name
                {
                    persistence.push(PersistenceFinding {
                        issuer: Issuer::AwsIam.label().to_string(),
                        action: name.to_string(),
                        target: r.target(name),
                        creator: r.creator,
                    });
                }
            }
        }
        let mut creators = Vec::new();
        for c in created.iter().filter(|c| c.issuer == Issuer::AwsIam) {
            let p = match made.remove(&c.key_id) {
                Some((creator, _)) => Provenance::Creator { creator },
                None => Provenance::Unknown {
                    why: format!(
                        "CloudTrail event history (us-east-1, since {}) has no CreateAccessKey event for {}; it keeps 90 days of management events",
                        since.format("%Y-%m-%d %H:%M"),
                        c.hint
                    ),
                },
            };
            creators.push((c.id.clone(), p));
        }
        // Keys made in the window that the inventory did not list (a user out of scope):
        // persistence too.
        for (key, (creator, user)) in made {
            persistence.push(PersistenceFinding {
                issuer: Issuer::AwsIam.label().to_string(),
                action: "CreateAccessKey".into(),
                target: format!("{} of user {user}", crate::incident::model::mask(&key)),
                creator,
            });
        }
        persistence.sort_by_key(|f| f.creator.at);
        Ok(CreatorFindings {
            creators,
            persistence,
        })
    }
}

/// The parts of one CloudTrail record breachbook reads.
struct Record {
    detail: Value,
    creator: Creator,
    succeeded: bool,
}

impl Record {
    fn read(ev: &Event) -> Option<Record> {
        let detail: Value = serde_json::from_str(ev.cloud_trail_event()?).ok()?;
        let s = |v: &Value, path: &[&str]| -> Option<String> {
            let mut cur = v;
            for p in path {
                cur = cur.get(p)?;
            }
            cur.as_str().filter(|s| !s.is_empty()).map(str::to_string)
        };
        let at = ev.event_time().and_then(to_chrono).or_else(|| {
            s(&detail, &["eventTime"])
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc))
        });
        let identity = s(&detail, &["userIdentity", "arn"])
            .or_else(|| ev.username().map(str::to_string))
            .unwrap_or_else(|| "an identity CloudTrail did not name".to_string());
        let creator = Creator {
            identity,
            kind: s(&detail, &["userIdentity", "type"]),
            source_ip: s(&detail, &["sourceIPAddress"]),
            at,
            with_key: s(&detail, &["userIdentity", "accessKeyId"])
                .or_else(|| ev.access_key_id().map(str::to_string)),
            event: ev
                .event_name()
                .map(str::to_string)
                .or_else(|| s(&detail, &["eventName"]))
                .unwrap_or_default(),
        };
        let succeeded = s(&detail, &["errorCode"]).is_none();
        Some(Record {
            detail,
            creator,
            succeeded,
        })
    }

    fn text(&self, path: &[&str]) -> Option<String> {
        let mut cur = &self.detail;
        for p in path {
            cur = cur.get(p)?;
        }
        cur.as_str().filter(|s| !s.is_empty()).map(str::to_string)
    }

    /// What the call was made to, in words.
    fn target(&self, name: &str) -> String {
        let user = self.text(&["requestParameters", "userName"]);
        match name {
            "UpdateAssumeRolePolicy" => format!(
                "trust policy of role {}",
                self.text(&["requestParameters", "roleName"])
                    .unwrap_or_else(|| "?".into())
            ),
            "AttachUserPolicy" => format!(
                "policy {} on user {}",
                self.text(&["requestParameters", "policyArn"])
                    .unwrap_or_else(|| "?".into()),
                user.unwrap_or_else(|| "?".into())
            ),
            "PutUserPolicy" => format!(
                "inline policy {} on user {}",
                self.text(&["requestParameters", "policyName"])
                    .unwrap_or_else(|| "?".into()),
                user.unwrap_or_else(|| "?".into())
            ),
            "CreateLoginProfile" => format!(
                "console password of user {}",
                user.unwrap_or_else(|| "?".into())
            ),
            _ => format!("user {}", user.unwrap_or_else(|| "?".into())),
        }
    }
}
