//! Reading the values of listed secrets 20 at a time with `BatchGetSecretValue`, as many
//! calls in flight as the service takes: the window grows while calls succeed and halves
//! when Secrets Manager throttles (additive increase, multiplicative decrease), within the
//! documented quotas.
//!
//! Secrets are named by the ARN their ListSecrets entry carries, so a name that looks like
//! an ARN (or a partial one) cannot be mistaken for another secret. Each secret's own
//! failure comes back in the answer's `Errors` and is handled for that secret alone: gone
//! since listed (nothing), a transient failure (read again with `GetSecretValue`), anything
//! else (listed as unreadable, with AWS's words). A value not labelled AWSCURRENT in the
//! answer is read again with GetSecretValue for AWSCURRENT. A whole call that is refused (a role
//! without `secretsmanager:BatchGetSecretValue`) or fails for good falls back to
//! `GetSecretValue` per secret.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_secretsmanager::config::retry::RetryConfig;
use aws_sdk_secretsmanager::types::SecretListEntry;
use futures::stream::{self, FuturesUnordered, StreamExt};
use secrecy::SecretString;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::AWSCURRENT;
use super::inventory::ReadCtx;
use crate::incident::model::Credential;
use crate::incident::ports::{ProviderError, ProviderResult};
use crate::providers::aws::{SECRETS_MANAGER, classify, map_sdk_error, to_chrono};

/// Secrets per BatchGetSecretValue call: "Retrieves the contents of the encrypted fields
/// SecretString or SecretBinary for up to 20 secrets"
/// (<https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html>).
pub(crate) const BATCH_SIZE: usize = 20;

/// "Rate of BatchGetSecretValue API requests: each supported Region: 100 per second, not
/// adjustable" (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html>).
/// Calls are started at most this often per region, and never more than this many are in
/// flight at once.
pub(crate) const BATCH_TPS_QUOTA: u32 = 100;

// Not limits here, but written down beside the one that is: "Combined rate of
// DescribeSecret and GetSecretValue API requests: each supported Region: 10,000 per
// second" (same page; raised in March 2025,
// <https://aws.amazon.com/about-aws/whats-new/2025/03/aws-secrets-manager-increases-api-requests-seconds>);
// the fallback to one GetSecretValue per secret keeps far below it. "ListSecrets … 100
// requests per second"
// (<https://aws.amazon.com/about-aws/whats-new/2022/11/aws-secrets-manager-increases-api-requests-per-second-limits>):
// pages come one after another (each needs the last one's NextToken), so one region's
// listing never comes near it.

/// Calls in flight per region at the start.
const START_WINDOW: usize = 4;
/// Attempts of one batch that keeps failing transiently before its secrets are read one by
/// one (each with the SDK's own retries).
const BATCH_ATTEMPTS: u32 = 6;

/// The in-flight window of one region: grows by one per success until the first
/// throttling (doubling each round trip), then by one per full window; halves on
/// throttling. Never below 1, never above `max`.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    limit: usize,
    max: usize,
    throttled: bool,
    successes: usize,
}

impl Window {
    pub(crate) fn new(start: usize, max: usize) -> Window {
        let max = max.max(1);
        Window {
            limit: start.clamp(1, max),
            max,
            throttled: false,
            successes: 0,
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn succeeded(&mut self) {
        if !self.throttled {
            self.limit = (self.limit + 1).min(self.max);
            return;
        }
        self.successes += 1;
        if self.successes >= self.limit {
            self.successes = 0;
            self.limit = (self.limit + 1).min(self.max);
        }
    }

    pub(crate) fn throttled(&mut self) {
        self.throttled = true;
        self.successes = 0;
        self.limit = (self.limit / 2).max(1);
    }
}

/// Start times of calls, at most `per_second` a second.
struct Pacer {
    gap: Duration,
    next: Instant,
}

impl Pacer {
    fn new(per_second: u32) -> Pacer {
        Pacer {
            gap: Duration::from_secs(1) / per_second.max(1),
            next: Instant::now(),
        }
    }

    /// When the next call may start (and books that slot).
    fn slot(&mut self) -> Instant {
        let at = self.next.max(Instant::now());
        self.next = at + self.gap;
        at
    }
}

/// What became of one call.
enum Outcome {
    Read(Vec<Credential>),
    /// Transient failure (throttled when `throttled`): try the batch again.
    Again {
        batch: Vec<SecretListEntry>,
        attempt: u32,
        throttled: bool,
    },
}

impl ReadCtx<'_> {
    /// Reads the batches `batches` sends (each at most [`BATCH_SIZE`] secrets) and sends
    /// their credentials to `pages` as each call answers. Returns when `batches` is closed
    /// and every batch is read, or at the first error that loses a secret.
    pub(crate) async fn read_batches(
        &self,
        mut batches: mpsc::UnboundedReceiver<Vec<SecretListEntry>>,
        pages: &mpsc::UnboundedSender<Vec<Credential>>,
    ) -> ProviderResult<()> {
        let mut window = Window::new(START_WINDOW, BATCH_TPS_QUOTA as usize);
        let mut pacer = Pacer::new(BATCH_TPS_QUOTA);
        let denied = AtomicBool::new(false);
        let mut queue: VecDeque<(Vec<SecretListEntry>, u32, Option<Instant>)> = VecDeque::new();
        let mut in_flight = FuturesUnordered::new();
        let mut open = true;
        loop {
            while in_flight.len() < window.limit()
                && let Some((batch, attempt, not_before)) = queue.pop_front()
            {
                let slot = pacer.slot().max(not_before.unwrap_or_else(Instant::now));
                let denied = &denied;
                in_flight.push(async move {
                    tokio::time::sleep_until(slot).await;
                    self.read_batch(batch, attempt, denied).await
                });
            }
            if !open && in_flight.is_empty() && queue.is_empty() {
                return Ok(());
            }
            tokio::select! {
                got = batches.recv(), if open => match got {
                    Some(b) => queue.push_back((b, 1, None)),
                    None => open = false,
                },
                Some(done) = in_flight.next(), if !in_flight.is_empty() => match done? {
                    Outcome::Read(creds) => {
                        window.succeeded();
                        if !creds.is_empty() && pages.send(creds).is_err() {
                            // Nobody listens any more.
                            return Ok(());
                        }
                    }
                    Outcome::Again { batch, attempt, throttled } => {
                        if throttled {
                            window.throttled();
                            tracing::debug!(window = window.limit(), "BatchGetSecretValue throttled; window halved");
                        }
                        let wait = Duration::from_millis(50) * 2u32.pow(attempt.min(5));
                        queue.push_front((batch, attempt + 1, Some(Instant::now() + wait)));
                    }
                },
            }
        }
    }

    /// One BatchGetSecretValue call for `batch` (or, once a call was refused, one
    /// GetSecretValue per secret).
    async fn read_batch(
        &self,
        batch: Vec<SecretListEntry>,
        attempt: u32,
        denied: &AtomicBool,
    ) -> ProviderResult<Outcome> {
        if denied.load(Ordering::Relaxed) {
            return self.read_one_by_one(&batch).await.map(Outcome::Read);
        }
        let ids: Vec<String> = batch.iter().map(secret_id).collect();
        // No SDK retries: throttling must reach the window, which backs off for the region.
        let got = self
            .client
            .batch_get_secret_value()
            .set_secret_id_list(Some(ids))
            .customize()
            .config_override(
                aws_sdk_secretsmanager::config::Builder::default()
                    .retry_config(RetryConfig::standard().with_max_attempts(1)),
            )
            .send()
            .await;
        let mut out = match got {
            Ok(out) => out,
            Err(e) => {
                let e = map_sdk_error(SECRETS_MANAGER, "BatchGetSecretValue", e);
                if e.is_retryable() && attempt < BATCH_ATTEMPTS {
                    return Ok(Outcome::Again {
                        batch,
                        attempt,
                        throttled: matches!(e, ProviderError::Throttled { .. }),
                    });
                }
                if matches!(e, ProviderError::Auth { .. }) {
                    tracing::warn!(
                        "BatchGetSecretValue refused ({e}); reading secrets one by one with GetSecretValue — grant secretsmanager:BatchGetSecretValue (`breachbook iam-policy RUNBOOK`) for a faster inventory"
                    );
                    denied.store(true, Ordering::Relaxed);
                } else {
                    tracing::debug!("BatchGetSecretValue failed ({e}); reading one by one");
                }
                return self.read_one_by_one(&batch).await.map(Outcome::Read);
            }
        };
        let mut by_id: HashMap<String, &SecretListEntry> =
            batch.iter().map(|e| (secret_id(e), e)).collect();
        let mut creds = Vec::new();
        for mut v in out.secret_values.take().unwrap_or_default() {
            if !v.version_stages().iter().any(|s| s == AWSCURRENT) {
                // Not said to be the current version: left to GetSecretValue, which asks
                // for AWSCURRENT by name.
                continue;
            }
            let Some(entry) = v
                .arn()
                .and_then(|a| by_id.remove(a))
                .or_else(|| v.name().and_then(|n| by_id.remove(n)))
            else {
                continue;
            };
            let changed = v.created_date().and_then(to_chrono);
            let value = v.secret_string.take().map(SecretString::from);
            let binary = v.secret_binary.take().is_some();
            drop(v);
            creds.extend(
                self.credentials_in_value(entry, changed, value, binary)
                    .await,
            );
        }
        let mut again = Vec::new();
        for err in out.errors() {
            let Some(entry) = err.secret_id().and_then(|id| by_id.remove(id)) else {
                continue;
            };
            let code = err.error_code().unwrap_or("");
            let e = classify(
                SECRETS_MANAGER,
                "BatchGetSecretValue",
                Some(code),
                err.message(),
                400,
            );
            if e.is_retryable() || code == "InternalServiceError" {
                again.push(entry.clone());
            } else {
                creds.extend(self.unreadable_entry(entry, e)?);
            }
        }
        // Transient failures, and any secret the answer did not mention: one by one.
        again.extend(by_id.into_values().cloned());
        creds.extend(self.read_one_by_one(&again).await?);
        Ok(Outcome::Read(creds))
    }

    /// One GetSecretValue per secret (with the SDK's retries), a few at a time.
    async fn read_one_by_one(&self, batch: &[SecretListEntry]) -> ProviderResult<Vec<Credential>> {
        let found: Vec<ProviderResult<Vec<Credential>>> = stream::iter(batch.iter().cloned())
            .map(|e| async move { self.credentials_of(&e).await })
            .buffered(self.concurrency)
            .collect()
            .await;
        let mut creds = Vec::new();
        for r in found {
            creds.extend(r?);
        }
        Ok(creds)
    }
}

/// How a listed secret is named in a batch: its ARN (its name only when the listing gave
/// none).
fn secret_id(e: &SecretListEntry) -> String {
    e.arn().or(e.name()).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_grows_while_calls_succeed_and_halves_on_throttling() {
        let mut w = Window::new(4, 100);
        for _ in 0..10 {
            w.succeeded();
        }
        assert_eq!(w.limit(), 14, "one more per success before any throttling");
        w.throttled();
        assert_eq!(w.limit(), 7);
        for _ in 0..6 {
            w.succeeded();
        }
        assert_eq!(w.limit(), 7, "after throttling, one more per full window");
        w.succeeded();
        assert_eq!(w.limit(), 8);
        for _ in 0..10 {
            w.throttled();
        }
        assert_eq!(w.limit(), 1, "never below one");
        let mut w = Window::new(4, 6);
        for _ in 0..50 {
            w.succeeded();
        }
        assert_eq!(w.limit(), 6, "never above the quota");
    }

    #[test]
    fn the_pacer_spaces_calls_by_the_quota() {
        let mut p = Pacer::new(BATCH_TPS_QUOTA);
        let a = p.slot();
        let b = p.slot();
        assert_eq!(b - a, Duration::from_millis(10));
    }
}
