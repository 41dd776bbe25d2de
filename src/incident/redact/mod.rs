//! Keeping secrets and hostile text off disk and screen.
//!
//! - [`known`]: the key values this process holds, masked in every form wherever they
//!   appear (command output, every journal record, the log file); [`StreamMasker`] does it
//!   across lines and reads.
//! - [`redact`] and [`scrub`]: the second net, key-shaped tokens masked whether breachbook
//!   knows them or not (command output, provider error messages, a report's free text).
//! - [`printable`] and [`printable_text`] (from `crate::printable`): control characters and
//!   escape sequences removed from runbook- and provider-sourced text before headless
//!   output, reports and logs.
//!
//! Used by the engine, the journal, the report, the log file and the HTTP providers. Depends
//! on `model` (the hint shape) only.

mod known;

pub use crate::printable::{printable, printable_text};
pub use known::{Known, MIN_VALUE, Masker, PIECE, StreamMasker, known};

/// Masks anything that looks like a key in command output.
pub fn redact(line: &str) -> String {
    line.split_inclusive(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '=')
        .map(|tok| {
            let core = tok
                .trim_end_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '=');
            let tail = &tok[core.len()..];
            // A hint (`sk-…a1b2`, `[masked sk-…a1b2]`) is what masking leaves: no key has `…`.
            if core.contains('…') {
                return tok.to_string();
            }
            let looks_secret = core.starts_with("sk-")
                || core.starts_with("AKIA")
                || core.starts_with("ASIA")
                || core.starts_with("AIza")
                || (core.len() >= 32
                    && core
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+/_-".contains(c)));
            if looks_secret && core.len() >= 12 {
                format!("{}{tail}", super::model::mask(core))
            } else {
                tok.to_string()
            }
        })
        .collect()
}

/// Masks key-shaped tokens in free text (provider error messages, command lines) that
/// should never have held one. Hints (`sk-…a1b2`), ids and hex digests pass unchanged.
pub fn scrub(text: &str) -> String {
    let is_sep = |c: char| c.is_whitespace() || "\"'`=,;()[]{}<>".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        out.push_str(&scrub_token(token));
        token.clear();
    };
    for c in text.chars() {
        if is_sep(c) {
            flush(&mut token, &mut out);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

fn scrub_token(tok: &str) -> String {
    if tok.contains('…') {
        return tok.to_string();
    }
    // `AKIA…:secret` — an access key id with its secret glued on.
    if let Some((id, secret)) = tok.split_once(':')
        && (id.starts_with("AKIA") || id.starts_with("ASIA"))
        && secret.len() >= 16
    {
        return format!("{id}:{}", super::model::mask(secret));
    }
    let prefixed = ["sk-", "sk_", "AIza", "xai-", "ghp_"]
        .iter()
        .any(|p| tok.starts_with(p));
    let base64ish = tok.len() >= 32
        && tok
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/_-".contains(c))
        && tok.chars().any(|c| c.is_ascii_uppercase())
        && tok.chars().any(|c| c.is_ascii_lowercase())
        && tok.chars().any(|c| c.is_ascii_digit());
    if (prefixed && tok.len() >= 16) || base64ish {
        super::model::mask(tok)
    } else {
        tok.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_masks_key_shaped_tokens() {
        let line = "export KEY=sk-test-0123456789abcdefghij and AKIAEXAMPLE123456789 ok";
        let r = redact(line);
        assert!(!r.contains("0123456789abcdefghij"), "{r}");
        assert!(!r.contains("AKIAEXAMPLE123456789"), "{r}");
        assert!(r.contains("ok"));
    }

    #[test]
    fn scrub_masks_keys_and_keeps_hints_ids_and_digests() {
        let s = scrub(
            "401 Incorrect API key provided: sk-test-0123456789abcdef0123 (hint sk-…a1b2), id AKIAEXAMPLEABCDEFGHI, sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        );
        assert!(!s.contains("0123456789abcdef0123"), "{s}");
        assert!(
            s.contains("sk-…a1b2") && s.contains("AKIAEXAMPLEABCDEFGHI"),
            "{s}"
        );
        assert!(s.contains("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"));
        let s = scrub(
            "secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY and AKIAEXAMPLEABCD:0123456789abcdef0123",
        );
        assert!(!s.contains("wJalrXUtnFEMI"), "{s}");
        assert!(!s.contains("0123456789abcdef0123"), "{s}");
        assert!(s.contains("AKIAEXAMPLEABCD:"), "{s}");
    }
}
