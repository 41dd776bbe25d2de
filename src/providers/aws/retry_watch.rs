//! The AWS SDK's own retries, told to the engine: an interceptor on every AWS client that,
//! before each attempt after the first, reports the call, the attempt and why the attempt
//! before failed through [`crate::incident::retries::retried`] (journaled by the engine as
//! `call_retried`).
//!
//! How it knows (aws-smithy-runtime 1.10 `client/orchestrator.rs`, `try_op`): the
//! orchestrator stores the attempt number (`RequestAttempts`) in the config bag before each
//! attempt, runs `read_before_attempt` at its start and `read_after_attempt` at its end
//! (after the response, or the transport error, is in the context), then asks the retry
//! strategy. The operation's name is the bag's `Metadata`. An attempt cut off by the
//! attempt timeout never reaches `read_after_attempt` (the timeout drops the attempt's
//! future), so a retry with no record of the attempt before it follows a timeout.
//!
//! Why, in a few words: the error code of the response (the `x-amzn-ErrorType` header or
//! `__type` of the JSON protocols, `<Code>` of the query protocol's `ErrorResponse`:
//! the shapes aws-sdk-secretsmanager `json_errors.rs` and aws-sdk-iam
//! `rest_xml_wrapped_errors.rs` read), its HTTP status, or the transport's failure. Never a
//! header value other than the error type, never a body beyond the error code.

use aws_sdk_sts::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_sts::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

use crate::incident::retries;

/// The interceptor (one per client; it keeps no state of its own).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RetryWatch;

/// How the last attempt of this operation ended, when it ended by itself.
#[derive(Debug, Clone)]
struct LastAttempt {
    attempt: u32,
    why: String,
}

impl Storable for LastAttempt {
    type Storer = StoreReplace<Self>;
}

impl Intercept for RetryWatch {
    fn name(&self) -> &'static str {
        "breachbook-retry-watch"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let attempt = cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts());
        if attempt < 2 {
            return Ok(());
        }
        let why = cfg
            .load::<LastAttempt>()
            .filter(|l| l.attempt + 1 == attempt)
            .map(|l| l.why.clone())
            .unwrap_or_else(|| "timed out".to_string());
        let call = cfg.load::<Metadata>().map_or("AWS call", |m| m.name());
        retries::retried(call, attempt, &why);
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let attempt = cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts());
        let Some(Err(err)) = context.output_or_error() else {
            return Ok(());
        };
        let why = match context.response() {
            Some(resp) => {
                let status = resp.status().as_u16();
                let code = error_code(resp.headers().get("x-amzn-errortype"), resp.body().bytes());
                describe(status, code.as_deref())
            }
            None if err.is_timeout_error() => "timed out".to_string(),
            None => match err.as_connector_error() {
                Some(c) if c.is_timeout() => "timed out".to_string(),
                Some(c) if c.is_io() => "connection lost".to_string(),
                Some(_) => "could not connect".to_string(),
                None => "no answer".to_string(),
            },
        };
        cfg.interceptor_state()
            .store_put(LastAttempt { attempt, why });
        Ok(())
    }
}

/// The error code of an AWS error response: the `x-amzn-ErrorType` header, else `__type`
/// (or `code`) of a JSON body, else `<Code>` of an XML body; any `namespace#` prefix and
/// `:url` suffix dropped, as the SDK's `sanitize_error_code` does.
fn error_code(header: Option<&str>, body: Option<&[u8]>) -> Option<String> {
    let sanitize = |c: &str| {
        let c = c.split(':').next().unwrap_or(c);
        let c = c.rsplit('#').next().unwrap_or(c);
        c.trim().to_string()
    };
    if let Some(h) = header.filter(|h| !h.is_empty()) {
        return Some(sanitize(h));
    }
    let text = std::str::from_utf8(body?).ok()?;
    if text.trim_start().starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let c = v
            .get("__type")
            .or_else(|| v.get("code"))
            .and_then(|c| c.as_str())?;
        return Some(sanitize(c));
    }
    let (_, rest) = text.split_once("<Code>")?;
    let (code, _) = rest.split_once("</Code>")?;
    Some(sanitize(code))
}

/// `throttled (Throttling)`, `HTTP 503 ServiceUnavailable`, `HTTP 500`.
fn describe(status: u16, code: Option<&str>) -> String {
    match code {
        Some(c) if super::THROTTLING_CODES.contains(&c) => format!("throttled ({c})"),
        Some(c) => format!("HTTP {status} {c}"),
        None if status == 429 => "throttled (HTTP 429)".to_string(),
        None => format!("HTTP {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_from_each_protocols_shape() {
        let query = br#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>"#;
        assert_eq!(error_code(None, Some(query)).as_deref(), Some("Throttling"));
        let json = br#"{"__type":"com.amazonaws.secretsmanager#ThrottlingException","message":"Rate exceeded"}"#;
        assert_eq!(
            error_code(None, Some(json)).as_deref(),
            Some("ThrottlingException")
        );
        assert_eq!(
            error_code(
                Some("ThrottlingException:http://internal.amazon.com/coral/"),
                Some(b"{}")
            )
            .as_deref(),
            Some("ThrottlingException")
        );
        assert_eq!(error_code(None, Some(b"")), None);
        assert_eq!(describe(400, Some("Throttling")), "throttled (Throttling)");
        assert_eq!(
            describe(503, Some("ServiceUnavailable")),
            "HTTP 503 ServiceUnavailable"
        );
        assert_eq!(describe(500, None), "HTTP 500");
    }
}
