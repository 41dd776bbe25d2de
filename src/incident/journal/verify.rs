//! `breachbook verify`: a journal checked on its own (every hash, the chain, the sequence)
//! and against a chain head a person kept elsewhere (the incident channel). Pure.
//!
//! Anyone who can write the file can rewrite the whole history and recompute the chain, so a
//! journal that verifies on its own proves only that nobody made a clumsy edit. A head kept
//! outside the laptop proves more: the record it names must still be in the journal, with
//! that hash, at that place in an intact chain, so nothing up to it was changed since the
//! head was written down.

use super::{ChainHead, Record, Recovery};

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every record verifies and is chained; the kept head, when given, is in the chain.
    Intact {
        head: ChainHead,
        /// The kept head matched, and how many records were written after it.
        kept: Option<(ChainHead, u64)>,
    },
    /// The journal fails its own check (an edit, a gap, a reorder, an unreadable line).
    Damaged { head: ChainHead, problems: u64 },
    /// The journal verifies on its own, but the kept head is not in it: the history was
    /// rewritten (and its chain recomputed), or the head belongs to another incident.
    HeadNotFound { head: ChainHead, kept: String },
}

impl Verdict {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Intact { .. })
    }
}

/// A kept head as a person may paste it: the 64 hex characters of the hash, optionally
/// after `record N, sha256 ` or `N:` (as reports and runs print it). `None` when it is not
/// one.
pub fn parse_head(text: &str) -> Option<(Option<u64>, String)> {
    let t = text.trim();
    let (seq, hash) = if let Some(rest) = t.strip_prefix("record ") {
        let (n, h) = rest.split_once(',')?;
        let h = h.trim();
        let h = h.strip_prefix("sha256").unwrap_or(h).trim();
        (Some(n.trim().parse().ok()?), h)
    } else if let Some((n, h)) = t.split_once(':') {
        (Some(n.trim().parse().ok()?), h.trim())
    } else {
        (None, t)
    };
    let ok = hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit());
    ok.then(|| (seq, hash.to_ascii_lowercase()))
}

/// Checks `records` (as read, with their `recovery`) against an optional kept head (already
/// parsed by [`parse_head`]).
pub fn verify(
    records: &[Record],
    recovery: &Recovery,
    kept: Option<(Option<u64>, &str)>,
) -> Verdict {
    let head = ChainHead::of(records);
    if !recovery.is_clean() {
        return Verdict::Damaged {
            head,
            problems: recovery.problem_count(),
        };
    }
    let Some((seq, hash)) = kept else {
        return Verdict::Intact { head, kept: None };
    };
    let found = records
        .iter()
        .find(|r| r.hash == hash && seq.is_none_or(|s| s == r.seq));
    match found {
        Some(r) => Verdict::Intact {
            kept: Some((
                ChainHead {
                    seq: r.seq,
                    hash: r.hash.clone(),
                },
                head.seq.saturating_sub(r.seq),
            )),
            head,
        },
        None => Verdict::HeadNotFound {
            head,
            kept: hash.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_as_printed() {
        let h = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(parse_head(h), Some((None, h.to_string())));
        assert_eq!(
            parse_head(&format!("record 12, sha256 {h}")),
            Some((Some(12), h.to_string()))
        );
        assert_eq!(
            parse_head(&format!("12:{}", h.to_uppercase())),
            Some((Some(12), h.to_string()))
        );
        assert_eq!(parse_head("9f86d081884c"), None, "a prefix is not a head");
        assert_eq!(parse_head("record x, sha256 00"), None);
    }
}
