//! Masking key-shaped text: command output, provider error messages. Pure.
//!
//! Used by the engine (command output goes into the journal) and by the HTTP providers
//! (error bodies go into events and logs). Depends on `model` (the hint shape) only.

/// Masks anything that looks like a key in command output.
pub fn redact(line: &str) -> String {
    line.split_inclusive(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '=')
        .map(|tok| {
            let core = tok
                .trim_end_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '=');
            let tail = &tok[core.len()..];
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
}
