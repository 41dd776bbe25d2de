//! Retries made below the engine: a provider's client trying a call again by itself (the
//! AWS SDK's standard retry, a provider's own loop). The engine runs each operation inside
//! [`watched`], naming the step and the credential it works for; a provider that retries a
//! call says so with [`retried`], and the engine journals it as
//! [`Event::CallRetried`](crate::incident::event::Event::CallRetried), so every attempt
//! that reached a provider is on record and the Rotation panel can show it as it happens.
//!
//! Outside a watched operation (a provider used on its own, a test) [`retried`] does
//! nothing. A task spawned inside a provider does not inherit the watch (tokio task-locals
//! stay with their task). Depends on tokio only.

use std::future::Future;
use std::sync::Arc;

/// One retry of one call, as a provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// The call retried, as the provider names it: `CreateAccessKey`, `PutSecretValue`.
    pub call: String,
    /// The attempt about to be made (2 for the first retry).
    pub attempt: u32,
    /// Why the attempt before failed, in a few words (`throttled (Throttling)`, `HTTP 503`,
    /// `timed out`, `connection reset`); never a value.
    pub why: String,
}

/// Receives each retry with the credential of the operation it happened in.
pub type RetrySink = Arc<dyn Fn(Option<&str>, Retry) + Send + Sync>;

/// Where the retries of a watched operation go, and whom they are for.
#[derive(Clone)]
pub struct Watch {
    /// The credential the operation works for, when it works for one.
    pub credential: Option<String>,
    /// Receives each retry with `credential`.
    pub sink: RetrySink,
}

tokio::task_local! {
    static WATCH: Watch;
}

/// Runs `fut` with its providers' retries going to `watch`.
pub async fn watched<F: Future>(watch: Watch, fut: F) -> F::Output {
    WATCH.scope(watch, fut).await
}

/// The watch of the operation running now, if any (to watch a sub-operation for another
/// credential with the same sink).
pub fn current() -> Option<Watch> {
    WATCH.try_with(Watch::clone).ok()
}

/// Tells the watching engine that `call` is being tried again (attempt `attempt`) because
/// of `why`. Does nothing outside a watched operation.
pub fn retried(call: &str, attempt: u32, why: &str) {
    let _ = WATCH.try_with(|w| {
        (w.sink)(
            w.credential.as_deref(),
            Retry {
                call: call.to_string(),
                attempt,
                why: why.to_string(),
            },
        );
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn a_retry_reaches_the_watch_of_its_operation_and_nothing_outside_one() {
        type Seen = Vec<(Option<String>, Retry)>;
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let to = seen.clone();
        let watch = Watch {
            credential: Some("iam/u1".into()),
            sink: Arc::new(move |c, r| to.lock().unwrap().push((c.map(str::to_string), r))),
        };
        retried("ListSecrets", 2, "throttled");
        watched(watch, async {
            tokio::task::yield_now().await;
            retried("CreateAccessKey", 2, "HTTP 503");
        })
        .await;
        retried("ListSecrets", 3, "throttled");
        let seen = seen.lock().unwrap();
        assert_eq!(
            *seen,
            vec![(
                Some("iam/u1".to_string()),
                Retry {
                    call: "CreateAccessKey".into(),
                    attempt: 2,
                    why: "HTTP 503".into()
                }
            )]
        );
    }
}
