//! CloudTrail event history: calls per minute made with one access key, ok or denied, and
//! where they came from.
//!
//! LookupEvents is regional (IAM and other global services log in us-east-1), so every
//! configured region is asked, concurrently, and the minutes are merged. CloudTrail allows
//! two LookupEvents requests per second per account and region: each region has its own
//! rate limiter, and throttled or failed requests are retried with exponential backoff
//! (the SDK's own retries are off for this client, so every request passes the limiter).
//! Every wait, the limiter's and the backoff's, goes through the incident's [`Clock`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudtrail::Client;
use aws_sdk_cloudtrail::config::retry::RetryConfig;
use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput;
use aws_sdk_cloudtrail::types::{Event, LookupAttribute, LookupAttributeKey};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{Aws, CLOUDTRAIL, from_chrono, is_auth_code, map_sdk_error, to_chrono, with_context};
use crate::incident::model::{KeyGeneration, UsageSample};
use crate::incident::ports::{Clock, ProviderError, ProviderResult, WallClock};

/// LookupEvents requests per second per region (CloudTrail's documented limit).
const DEFAULT_RATE: u32 = 2;
/// Events per LookupEvents page (the API's maximum).
const PAGE_SIZE: i32 = 50;
/// First wait after a throttled or failed request; doubles each time.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// Attempts per page before giving up.
const DEFAULT_ATTEMPTS: u32 = 5;

/// Spaces requests at least `interval` apart.
#[derive(Debug)]
struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    fn per_second(n: u32) -> Self {
        RateLimiter {
            interval: Duration::from_secs(1) / n.max(1),
            next: Mutex::new(None),
        }
    }

    /// Waits on `clock` for this request's turn. The turns are kept on tokio's monotonic
    /// clock; the wait until a turn goes through `clock`, as the time left until it.
    async fn wait(&self, clock: &dyn Clock) {
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let at = match *next {
                Some(n) if n > now => n,
                _ => now,
            };
            *next = Some(at + self.interval);
            at
        };
        clock
            .sleep(at.saturating_duration_since(Instant::now()))
            .await;
    }
}

#[derive(Debug, Clone)]
struct RegionTrail {
    region: String,
    client: Client,
    limiter: Arc<RateLimiter>,
}

/// Calls per minute made with an access key, from CloudTrail event history.
///
/// Clones share the clients and the rate limiters.
#[derive(Clone)]
pub struct CloudTrailUsage {
    regions: Vec<RegionTrail>,
    initial_backoff: Duration,
    max_attempts: u32,
    /// The limiter's and the backoff's waits go through it.
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for CloudTrailUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudTrailUsage")
            .field("regions", &self.regions)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl CloudTrailUsage {
    /// Event history of every region `aws` was loaded for.
    pub fn new(aws: &Aws) -> Self {
        Self::for_regions(aws, &aws.regions())
    }

    /// Event history of `regions` only (include us-east-1 to see IAM and STS calls).
    pub fn for_regions(aws: &Aws, regions: &[String]) -> Self {
        let regions = regions
            .iter()
            .map(|r| {
                let conf = aws
                    .cloudtrail_conf(Some(r))
                    .retry_config(RetryConfig::disabled())
                    .build();
                RegionTrail {
                    region: r.clone(),
                    client: Client::from_conf(conf),
                    limiter: Arc::new(RateLimiter::per_second(DEFAULT_RATE)),
                }
            })
            .collect();
        CloudTrailUsage {
            regions,
            initial_backoff: DEFAULT_BACKOFF,
            max_attempts: DEFAULT_ATTEMPTS,
            clock: Arc::new(WallClock),
        }
    }

    /// Waits on `clock` (the incident's; the wall clock by default).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the request rate per region (default 2 per second).
    pub fn with_rate(mut self, per_second: u32) -> Self {
        for r in &mut self.regions {
            r.limiter = Arc::new(RateLimiter::per_second(per_second));
        }
        self
    }

    /// Sets the first backoff after a throttled or failed request (it doubles, up to 20 s)
    /// and the attempts per page (default 1 s and 5).
    pub fn with_backoff(mut self, initial: Duration, max_attempts: u32) -> Self {
        self.initial_backoff = initial;
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// Calls made with `access_key_id` since `since`, per minute (oldest first): `ok` and
    /// `denied` (the event's `errorCode` is an authorization failure such as AccessDenied or
    /// UnauthorizedOperation; other errors still mean the key worked), and `sources` as
    /// `"<sourceIPAddress> <userAgent product>"`, most calls first. Samples carry the access
    /// key id as `credential` and [`KeyGeneration::Old`]; callers relabel them.
    pub async fn calls_per_minute(
        &self,
        access_key_id: &str,
        since: DateTime<Utc>,
    ) -> ProviderResult<Vec<UsageSample>> {
        let results = futures::future::join_all(
            self.regions
                .iter()
                .map(|rt| self.region_events(rt, access_key_id, since)),
        )
        .await;
        let mut minutes: BTreeMap<DateTime<Utc>, Bucket> = BTreeMap::new();
        for r in results {
            for (minute, b) in r? {
                minutes.entry(minute).or_default().merge(b);
            }
        }
        Ok(minutes
            .into_iter()
            .map(|(minute, b)| b.into_sample(access_key_id, minute))
            .collect())
    }

    async fn region_events(
        &self,
        rt: &RegionTrail,
        access_key_id: &str,
        since: DateTime<Utc>,
    ) -> ProviderResult<BTreeMap<DateTime<Utc>, Bucket>> {
        let mut minutes: BTreeMap<DateTime<Utc>, Bucket> = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let out = self.page(rt, access_key_id, since, token.clone()).await?;
            for ev in out.events() {
                if let Some((minute, source, denied)) = read_event(ev)
                    && minute >= floor_minute(since)
                {
                    minutes.entry(minute).or_default().add(source, denied);
                }
            }
            match out.next_token() {
                Some(t) if !t.is_empty() && token.as_deref() != Some(t) => {
                    token = Some(t.to_string())
                }
                _ => break,
            }
        }
        Ok(minutes)
    }

    /// One LookupEvents page of a key's calls.
    async fn page(
        &self,
        rt: &RegionTrail,
        access_key_id: &str,
        since: DateTime<Utc>,
        token: Option<String>,
    ) -> ProviderResult<LookupEventsOutput> {
        self.page_by(
            rt,
            LookupAttributeKey::AccessKeyId,
            access_key_id,
            since,
            token,
        )
        .await
    }

    /// Every event of `region`'s history (or of each region when `None`) whose `key` is
    /// `value`, since `since`, page by page: paced, retried, as [`Self::calls_per_minute`].
    pub(crate) async fn events_by(
        &self,
        region: Option<&str>,
        key: LookupAttributeKey,
        value: &str,
        since: DateTime<Utc>,
    ) -> ProviderResult<Vec<Event>> {
        let mut all = Vec::new();
        for rt in self
            .regions
            .iter()
            .filter(|rt| region.is_none_or(|r| rt.region == r))
        {
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .page_by(rt, key.clone(), value, since, token.clone())
                    .await?;
                all.extend(out.events().iter().cloned());
                match out.next_token() {
                    Some(t) if !t.is_empty() && token.as_deref() != Some(t) => {
                        token = Some(t.to_string())
                    }
                    _ => break,
                }
            }
        }
        Ok(all)
    }

    /// Whether `region` is one of the regions asked.
    pub(crate) fn has_region(&self, region: &str) -> bool {
        self.regions.iter().any(|r| r.region == region)
    }

    /// One LookupEvents page of events whose `key` is `value`, paced by the region's
    /// limiter, retried with backoff.
    async fn page_by(
        &self,
        rt: &RegionTrail,
        key: LookupAttributeKey,
        value: &str,
        since: DateTime<Utc>,
        token: Option<String>,
    ) -> ProviderResult<LookupEventsOutput> {
        let attribute = LookupAttribute::builder()
            .attribute_key(key)
            .attribute_value(value)
            .build()
            .map_err(|e| ProviderError::Validation {
                provider: CLOUDTRAIL.into(),
                message: format!("LookupEvents: {e}"),
            })?;
        let mut delay = self.initial_backoff;
        let mut attempt = 1;
        loop {
            rt.limiter.wait(self.clock.as_ref()).await;
            let sent = rt
                .client
                .lookup_events()
                .lookup_attributes(attribute.clone())
                .start_time(from_chrono(since))
                .max_results(PAGE_SIZE)
                .set_next_token(token.clone())
                .send()
                .await;
            match sent {
                Ok(out) => return Ok(out),
                Err(e) => {
                    let e = with_context(map_sdk_error(CLOUDTRAIL, "LookupEvents", e), &rt.region);
                    if !e.is_retryable() || attempt >= self.max_attempts {
                        return Err(e);
                    }
                    tracing::debug!(
                        region = %rt.region,
                        attempt,
                        wait_ms = delay.as_millis() as u64,
                        "LookupEvents failed ({e}); backing off"
                    );
                    self.clock.sleep(delay).await;
                    delay = (delay * 2).min(MAX_BACKOFF);
                    attempt += 1;
                }
            }
        }
    }
}

/// Calls in one minute.
#[derive(Debug, Default)]
struct Bucket {
    ok: u32,
    denied: u32,
    sources: HashMap<String, u32>,
}

impl Bucket {
    fn add(&mut self, source: String, denied: bool) {
        if denied {
            self.denied += 1;
        } else {
            self.ok += 1;
        }
        *self.sources.entry(source).or_default() += 1;
    }

    fn merge(&mut self, other: Bucket) {
        self.ok += other.ok;
        self.denied += other.denied;
        for (s, n) in other.sources {
            *self.sources.entry(s).or_default() += n;
        }
    }

    fn into_sample(self, access_key_id: &str, minute: DateTime<Utc>) -> UsageSample {
        let mut sources: Vec<(String, u32)> = self.sources.into_iter().collect();
        sources.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        UsageSample {
            credential: access_key_id.to_string(),
            generation: KeyGeneration::Old,
            minute,
            ok: self.ok,
            denied: self.denied,
            sources: sources.into_iter().map(|(s, _)| s).collect(),
        }
    }
}

/// The start of `t`'s minute.
pub(crate) fn floor_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t)
}

/// Whether a CloudTrail `errorCode` means the call was refused for lack of rights or a bad
/// signature (as opposed to failing after the key was accepted).
fn is_denied(code: &str) -> bool {
    code.contains("AccessDenied")
        || code.contains("Unauthorized")
        || code.contains("AuthFailure")
        || is_auth_code(code)
}

/// The first word of a user agent (`aws-cli/2.15.0 Python/3.11…` → `aws-cli/2.15.0`).
fn short_agent(ua: &str) -> &str {
    ua.split_whitespace().next().unwrap_or(ua)
}

/// An event's minute, source and whether it was denied.
fn read_event(ev: &Event) -> Option<(DateTime<Utc>, String, bool)> {
    let detail: Option<Value> = ev
        .cloud_trail_event()
        .and_then(|s| serde_json::from_str(s).ok());
    let text = |k: &str| {
        detail
            .as_ref()
            .and_then(|d| d.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let time = ev.event_time().and_then(to_chrono).or_else(|| {
        text("eventTime")
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    })?;
    let denied = text("errorCode").is_some_and(is_denied);
    let source = match (text("sourceIPAddress"), text("userAgent")) {
        (Some(ip), Some(ua)) => format!("{ip} {}", short_agent(ua)),
        (Some(ip), None) => ip.to_string(),
        (None, Some(ua)) => short_agent(ua).to_string(),
        (None, None) => ev.event_source().unwrap_or("unknown").to_string(),
    };
    Some((floor_minute(time), source, denied))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_failures_count_as_denied() {
        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "Client.UnauthorizedOperation",
            "UnauthorizedOperation",
            "InvalidClientTokenId",
        ] {
            assert!(is_denied(code), "{code}");
        }
        assert!(!is_denied("NoSuchBucket"));
        assert!(!is_denied("ThrottlingException"));
    }

    #[test]
    fn user_agents_are_shortened() {
        assert_eq!(
            short_agent("aws-cli/2.15.0 Python/3.11.6 Linux/6.1"),
            "aws-cli/2.15.0"
        );
        assert_eq!(short_agent("boto3"), "boto3");
    }

    #[tokio::test(start_paused = true)]
    async fn the_limiter_spaces_requests() {
        let l = RateLimiter::per_second(2);
        let t0 = Instant::now();
        for _ in 0..5 {
            l.wait(&WallClock).await;
        }
        assert_eq!(Instant::now() - t0, Duration::from_secs(2));
    }
}
