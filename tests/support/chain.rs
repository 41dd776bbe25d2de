//! An independent checker of breachbook's journal hash chain (`journal.jsonl`), written
//! from the on-disk format alone with sha2 and serde_json: it never calls breachbook's
//! reader, so a bug in that reader (or a refactor of it) cannot hide a broken chain.
//!
//! ## The format, as read from `src/incident/journal.rs`, `journal/scan.rs` and real files
//!
//! - JSON Lines: one record per line, each line a JSON object ending in `\n`; no empty
//!   lines, nothing else in the file. (breachbook itself drops an unterminated last line as
//!   torn by a crash; this checker reports it, since a finished run never leaves one.)
//! - Top-level fields: `seq`, `time`, `operator`, `prev`, `hash`, `event`.
//! - `seq` is 1 for the first record and grows by exactly 1 per line.
//! - `prev` of the first record is 64 zeros; of every other record, the `hash` of the
//!   record on the line before.
//! - `hash` is lowercase hex SHA-256 over the record's *canonical JSON without its `hash`
//!   field*, where canonical is: object keys sorted (by their bytes, which for UTF-8 is
//!   code point order; not RFC 8785's UTF-16 order), no whitespace anywhere, arrays in
//!   their order, strings and numbers as serde_json writes them.
//! - The first record's event is `{"type":"incident_opened",...}`.
//!
//! ## Where the format leaves room (my reading, checked against real journals)
//!
//! - The hash is over the *parsed* line, not its bytes: a line re-encoded with other
//!   whitespace or other string escapes (`\u00e9` for `é`) still verifies. Only the value
//!   is sealed, which is what matters for an audit trail, but it means "byte-identical
//!   line" is not what is proven.
//! - Strings: serde_json escapes `"`, `\` and control characters (`\n`, `\t`, `\r`, `\b`,
//!   `\f`, else `\u00XX` lowercase) and writes everything else, non-ASCII included, as raw
//!   UTF-8. Python's `json.dumps(sort_keys=True, separators=(",", ":"),
//!   ensure_ascii=False)` gives the same bytes for the journals seen here.
//! - Numbers are the only real ambiguity: serde_json (without `arbitrary_precision`, as
//!   in this crate's tree) parses to i64/u64/f64 and writes floats in shortest round-trip
//!   form with a `.0` kept (`60.0`, `0.3`, `1e16`), which other JSON libraries do not all
//!   do (Python writes `1e+16`). Events hold a few floats (drill speed, fault rates); a
//!   port of this checker to another language must format floats like serde_json.
//! - Duplicate keys in a line: serde_json keeps the last; breachbook never writes any.
//! - Only the top-level `hash` is left out of the hashed value; a nested field named
//!   `hash` is hashed like any other.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Something wrong with one line of the journal (lines count from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not JSON, not an object, or not UTF-8.
    Unreadable { line: usize, why: String },
    /// A required field is missing or of the wrong type.
    BadField { line: usize, field: &'static str },
    /// The stored hash is not the hash of the content.
    HashMismatch { line: usize, seq: u64 },
    /// `prev` is not the hash stored on the line before.
    BrokenLink { line: usize, seq: u64 },
    /// `seq` is not the one after the line before.
    Sequence {
        line: usize,
        expected: u64,
        found: u64,
    },
    /// The first record does not open the incident.
    FirstNotOpened { event_type: String },
    /// An empty line (breachbook never writes one).
    EmptyLine { line: usize },
    /// The file does not end with a newline.
    Unterminated { line: usize },
}

impl Problem {
    /// The line the problem is on (0 for the whole file).
    pub fn line(&self) -> usize {
        match self {
            Problem::Unreadable { line, .. }
            | Problem::BadField { line, .. }
            | Problem::HashMismatch { line, .. }
            | Problem::BrokenLink { line, .. }
            | Problem::Sequence { line, .. }
            | Problem::EmptyLine { line }
            | Problem::Unterminated { line } => *line,
            Problem::FirstNotOpened { .. } => 1,
        }
    }
}

/// One record as the checker saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub line: usize,
    pub seq: u64,
    pub prev: String,
    pub hash: String,
    pub event_type: String,
}

/// What checking a journal found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every record that could be read, in file order.
    pub links: Vec<Link>,
    pub problems: Vec<Problem>,
}

impl Report {
    /// Every line read, hashed right and chained in order.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// The hash of the last record (the chain's head), if any.
    pub fn head(&self) -> Option<&str> {
        self.links.last().map(|l| l.hash.as_str())
    }
}

/// Checks a journal file.
pub fn check_file(path: &Path) -> Report {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    check(&bytes)
}

/// Checks a journal's bytes.
pub fn check(bytes: &[u8]) -> Report {
    let mut report = Report::default();
    let mut expected_prev = GENESIS.to_string();
    let mut expected_seq = 1u64;
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // `split` leaves one empty piece after a final newline.
    let (lines, terminated) = match lines.split_last() {
        Some((&[], rest)) => (rest.to_vec(), true),
        _ => (lines, bytes.is_empty()),
    };
    if !terminated {
        report
            .problems
            .push(Problem::Unterminated { line: lines.len() });
    }
    for (i, raw) in lines.iter().enumerate() {
        let line = i + 1;
        if raw.is_empty() {
            report.problems.push(Problem::EmptyLine { line });
            continue;
        }
        let mut object = match serde_json::from_slice::<Value>(raw) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                report.problems.push(Problem::Unreadable {
                    line,
                    why: "not a JSON object".into(),
                });
                continue;
            }
            Err(e) => {
                report.problems.push(Problem::Unreadable {
                    line,
                    why: e.to_string(),
                });
                continue;
            }
        };
        let Some(Value::String(stored)) = object.remove("hash") else {
            report.problems.push(Problem::BadField {
                line,
                field: "hash",
            });
            continue;
        };
        let Some(seq) = object.get("seq").and_then(Value::as_u64) else {
            report
                .problems
                .push(Problem::BadField { line, field: "seq" });
            continue;
        };
        let Some(prev) = object
            .get("prev")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            report.problems.push(Problem::BadField {
                line,
                field: "prev",
            });
            continue;
        };
        let event_type = object
            .get("event")
            .and_then(|e| e.get("type"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let Some(event_type) = event_type else {
            report.problems.push(Problem::BadField {
                line,
                field: "event.type",
            });
            continue;
        };
        for field in ["time", "operator"] {
            if !object.contains_key(field) {
                report.problems.push(Problem::BadField { line, field });
            }
        }

        if sha256_hex(&canonical(&Value::Object(object))) != stored {
            report.problems.push(Problem::HashMismatch { line, seq });
        }
        if seq != expected_seq {
            report.problems.push(Problem::Sequence {
                line,
                expected: expected_seq,
                found: seq,
            });
        }
        if prev != expected_prev {
            report.problems.push(Problem::BrokenLink { line, seq });
        }
        if line == 1 && event_type != "incident_opened" {
            report.problems.push(Problem::FirstNotOpened {
                event_type: event_type.clone(),
            });
        }
        expected_prev = stored.clone();
        expected_seq = seq.saturating_add(1);
        report.links.push(Link {
            line,
            seq,
            prev,
            hash: stored,
            event_type,
        });
    }
    report
}

/// The canonical form: keys sorted, no whitespace, scalars as serde_json writes them.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).expect("a string always serializes"));
                out.push(':');
                write_value(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(v, out);
            }
            out.push(']');
        }
        Value::String(s) => {
            out.push_str(&serde_json::to_string(s).expect("a string always serializes"))
        }
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}
