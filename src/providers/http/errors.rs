//! Failed calls as errors that say what to do: the provider's own message (scrubbed of
//! anything key-shaped), its error code, how long it asked us to wait, and the error kind
//! the engine retries or shows.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};

use crate::incident::ports::ProviderError;

/// The error of a provider call made without its admin key: names the variable to set.
pub fn missing_admin_key(provider: &str, var: &str, where_to_get: &str) -> ProviderError {
    ProviderError::Auth {
        provider: provider.to_string(),
        message: format!("no admin key: set {var} ({where_to_get}) and start breachbook again"),
    }
}

/// Removes secrets from text meant for an error or a log: every exact value in `secrets`
/// and anything key-shaped (`sk-…`, `AKIA…`, `AIza…`, long tokens) becomes a masked hint.
pub fn scrub(text: &str, secrets: &[&SecretString]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        let v = s.expose_secret();
        if v.len() >= 4 && out.contains(v) {
            out = out.replace(v, &crate::incident::model::mask(v));
        }
    }
    crate::incident::redact::redact(&out)
}

/// The provider's own message from an error body: `error.message` (OpenAI, Anthropic,
/// Google), `error` as a string, `message`, `detail` or the first of `errors` (Vault), else the body's first line (plain
/// text bodies, e.g. Braintrust's). Not scrubbed: pass it through [`scrub`].
pub fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let pick = |x: &serde_json::Value| x.as_str().map(str::to_string);
            v.pointer("/error/message")
                .and_then(pick)
                .or_else(|| v.get("error").and_then(pick))
                .or_else(|| v.get("message").and_then(pick))
                .or_else(|| v.get("detail").and_then(pick))
                // Vault and OpenBao: `{"errors": ["…"]}`.
                .or_else(|| v.pointer("/errors/0").and_then(pick))
        });
    let msg = from_json.unwrap_or_else(|| {
        let t = body.trim();
        if t.starts_with('<') {
            String::new()
        } else {
            t.lines().next().unwrap_or("").to_string()
        }
    });
    let msg = msg.trim();
    if msg.chars().count() > 300 {
        let cut: String = msg.chars().take(300).collect();
        format!("{cut}…")
    } else {
        msg.to_string()
    }
}

/// Machine-readable error code of a body, if any: `error.code` / `error.type` (OpenAI,
/// Anthropic) or the `reason` of a Google `ErrorInfo` detail.
pub fn error_code(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    if let Some(reason) = google_reason(&v) {
        return Some(reason);
    }
    let err = v.get("error")?;
    err.get("code")
        .and_then(|c| c.as_str())
        .or_else(|| err.get("type").and_then(|t| t.as_str()))
        .map(str::to_string)
}

/// The `reason` of the first `google.rpc.ErrorInfo` in a Google error body.
pub fn google_reason(v: &serde_json::Value) -> Option<String> {
    v.pointer("/error/details")?
        .as_array()?
        .iter()
        .find(|d| {
            d.get("@type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.ends_with("google.rpc.ErrorInfo"))
        })
        .and_then(|d| d.get("reason"))
        .and_then(|r| r.as_str())
        .map(str::to_string)
}

/// How long to wait before retrying, from (in order): `Retry-After` (seconds or an HTTP
/// date), `retry-after-ms`, OpenAI's `x-ratelimit-reset-requests`/`-tokens` (durations such
/// as `6m0s`), Anthropic's `anthropic-ratelimit-*-reset` (RFC 3339 times) and a Google
/// `RetryInfo.retryDelay` in the body (`"38s"`). The longest provider-specific wait wins.
pub fn retry_after(headers: &HeaderMap, body: &str, now: DateTime<Utc>) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(v) = text("retry-after") {
        if let Ok(secs) = v.parse::<f64>()
            && secs.is_finite()
            && secs >= 0.0
        {
            return Some(Duration::from_secs_f64(secs.min(86_400.0)));
        }
        if let Ok(at) = DateTime::parse_from_rfc2822(v) {
            return Some(until(at.with_timezone(&Utc), now));
        }
    }
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_millis(ms.min(86_400_000)));
    }
    let mut waits: Vec<Duration> = Vec::new();
    for name in ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"] {
        if let Some(d) = text(name).and_then(parse_go_duration) {
            waits.push(d);
        }
    }
    for name in [
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-input-tokens-reset",
        "anthropic-ratelimit-output-tokens-reset",
    ] {
        if let Some(at) = text(name).and_then(|v| DateTime::parse_from_rfc3339(v).ok()) {
            waits.push(until(at.with_timezone(&Utc), now));
        }
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body)
        && let Some(details) = v.pointer("/error/details").and_then(|d| d.as_array())
    {
        for d in details {
            let is_retry_info = d
                .get("@type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"));
            if let Some(delay) = d
                .get("retryDelay")
                .and_then(|r| r.as_str())
                .filter(|_| is_retry_info)
                .and_then(parse_go_duration)
            {
                waits.push(delay);
            }
        }
    }
    waits.into_iter().max()
}

fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or_default()
}

/// Parses durations such as `1s`, `6m0s`, `12ms`, `1h2m3.5s`, `38s` (Go style, as OpenAI's
/// reset headers and Google's `retryDelay` write them).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let secs = match unit {
            "h" => n * 3600.0,
            "m" => n * 60.0,
            "s" => n,
            "ms" => n / 1000.0,
            "us" | "µs" => n / 1_000_000.0,
            "ns" => n / 1_000_000_000.0,
            _ => return None,
        };
        total += secs;
    }
    (total.is_finite() && total >= 0.0).then(|| Duration::from_secs_f64(total.min(86_400.0)))
}

/// Maps a failed response to an error: 401/403 → `Auth`, 404 → `NotFound { what }`,
/// 408 → `Timeout`, 429 → `Throttled` (with [`retry_after`]; OpenAI's `insufficient_quota`
/// → `LimitExceeded`), 5xx → `Server`, other 4xx (400, 409, 422…) → `Validation`. The
/// message is the provider's own, scrubbed of `secrets` and anything key-shaped.
pub fn error_from_response(
    provider: &str,
    what: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
    secrets: &[&SecretString],
) -> ProviderError {
    let provider = provider.to_string();
    let raw = error_message(body);
    let message = {
        let m = scrub(&raw, secrets);
        if m.is_empty() {
            format!(
                "HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim()
            .to_string()
        } else {
            m
        }
    };
    match status.as_u16() {
        401 | 403 => ProviderError::Auth { provider, message },
        404 => ProviderError::NotFound {
            provider,
            what: what.to_string(),
        },
        408 => ProviderError::Timeout { provider },
        429 => {
            if error_code(body).as_deref() == Some("insufficient_quota") {
                ProviderError::LimitExceeded { provider, message }
            } else {
                ProviderError::Throttled {
                    provider,
                    message,
                    retry_after: retry_after(headers, body, Utc::now()),
                }
            }
        }
        s if s >= 500 => ProviderError::Server {
            provider,
            status: s,
            message,
        },
        _ => ProviderError::Validation { provider, message },
    }
}

/// Maps a transport failure: timeouts → `Timeout`, anything else (refused, DNS, TLS, reset)
/// → `Network`, with the message scrubbed.
pub fn error_from_transport(
    provider: &str,
    err: &reqwest::Error,
    secrets: &[&SecretString],
) -> ProviderError {
    if err.is_timeout() {
        return ProviderError::Timeout {
            provider: provider.to_string(),
        };
    }
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    ProviderError::Network {
        provider: provider.to_string(),
        message: scrub(&message, secrets),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                *k,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_provider_headers() {
        let now = DateTime::parse_from_rfc3339("2026-05-12T10:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), "", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Tue, 12 May 2026 10:00:30 GMT")]),
                "",
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(
                &headers(&[
                    ("x-ratelimit-reset-requests", "1s"),
                    ("x-ratelimit-reset-tokens", "6m0s")
                ]),
                "",
                now
            ),
            Some(Duration::from_secs(360))
        );
        assert_eq!(
            retry_after(
                &headers(&[("anthropic-ratelimit-requests-reset", "2026-05-12T10:00:12Z")]),
                "",
                now
            ),
            Some(Duration::from_secs(12))
        );
        let google = r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"38s"}]}}"#;
        assert_eq!(
            retry_after(&HeaderMap::new(), google, now),
            Some(Duration::from_secs(38))
        );
        assert_eq!(retry_after(&HeaderMap::new(), "", now), None);
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("12ms"), Some(Duration::from_millis(12)));
        assert_eq!(parse_go_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("soon"), None);
    }

    #[test]
    fn statuses_map_to_errors_and_messages_are_scrubbed() {
        let key = SecretString::from("sk-test-0123456789abcdefWXYZ");
        let body = r#"{"error":{"message":"Incorrect API key provided: sk-test-0123456789abcdefWXYZ","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        let e = error_from_response(
            "OpenAI",
            "models",
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            body,
            &[&key],
        );
        assert!(matches!(e, ProviderError::Auth { .. }), "{e:?}");
        assert!(!e.to_string().contains("0123456789abcdef"), "{e}");
        let quota = r#"{"error":{"message":"You exceeded your current quota","code":"insufficient_quota"}}"#;
        let e = error_from_response(
            "OpenAI",
            "x",
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            quota,
            &[],
        );
        assert!(matches!(e, ProviderError::LimitExceeded { .. }), "{e:?}");
        let e = error_from_response(
            "Braintrust",
            "x",
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            "upstream down\nmore",
            &[],
        );
        assert!(e.is_retryable());
        assert!(e.to_string().contains("upstream down"), "{e}");
        let e = error_from_response(
            "Braintrust",
            "x",
            StatusCode::UNPROCESSABLE_ENTITY,
            &HeaderMap::new(),
            "",
            &[],
        );
        assert!(matches!(e, ProviderError::Validation { .. }), "{e:?}");
        assert!(!e.is_retryable());
    }
}
