//! Reading a journal's bytes back into records and checking them: canonical hashing, the
//! chain, sequence numbers, torn and unreadable lines. Pure: no IO.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{GENESIS, MAX_LISTED_PROBLEMS, Record, Recovery};
use crate::incident::event::Event;

/// SHA-256 (hex) of a JSON value in canonical form: object keys sorted, no whitespace.
///
/// Hashing the parsed line rather than the typed record means a field added by hand is
/// caught, and a later version of breachbook that adds a field still verifies old records.
pub fn canonical_hash(value: &Value) -> String {
    let mut out = Vec::with_capacity(512);
    write_canonical(value, &mut out);
    hex::encode(Sha256::digest(&out))
}

/// [`canonical_hash`] of an object given as its map (a record without its `hash`).
fn canonical_hash_of_map(map: &serde_json::Map<String, Value>) -> String {
    let mut out = Vec::with_capacity(512);
    write_canonical_map(map, &mut out);
    hex::encode(Sha256::digest(&out))
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => write_canonical_map(map, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_json(scalar, out),
    }
}

fn write_canonical_map(map: &serde_json::Map<String, Value>, out: &mut Vec<u8>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    // serde_json's map is already in key order (unless a crate turns on `preserve_order`):
    // then this sort finds nothing to do.
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json(k, out);
        out.push(b':');
        write_canonical(v, out);
    }
    out.push(b'}');
}

/// A string or scalar as serde_json writes it (its escaping, its number forms).
fn write_json<T: serde::Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    // Writing a string or a scalar into memory cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// What a journal's bytes hold.
#[derive(Debug, Default)]
pub struct Scan {
    pub records: Vec<Record>,
    pub recovery: Recovery,
    /// Bytes up to the end of the last line kept (everything but a torn tail).
    pub keep_len: u64,
    /// The last record is whole but its line has no terminating newline.
    pub missing_newline: bool,
    /// The first line that is not a record at all, and why.
    pub first_unreadable: Option<(usize, String)>,
}

/// One parsed line: the record and whether its hash matches its content.
fn parse(line: &[u8]) -> Result<(Record, bool), String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| strip_position(&e))?;
    let Value::Object(mut map) = value else {
        return Err("not a JSON object".into());
    };
    let Some(Value::String(stored)) = map.remove("hash") else {
        return Err("it has no `hash` field".into());
    };
    let computed = canonical_hash_of_map(&map);
    map.insert("hash".into(), Value::String(stored.clone()));
    let record: Record =
        serde_json::from_value(Value::Object(map)).map_err(|e| strip_position(&e))?;
    Ok((record, computed == stored))
}

/// serde_json's "at line 1 column 7" points inside the line, which only confuses.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Problems of one scan: the first [`MAX_LISTED_PROBLEMS`] listed, the rest counted, so a
/// journal of a million bad lines costs one summary, not a million strings.
struct Problems<'a>(&'a mut Recovery);

impl Problems<'_> {
    fn push(&mut self, problem: String) {
        if self.0.problems.len() < MAX_LISTED_PROBLEMS {
            self.0.problems.push(problem);
        } else {
            self.0.unlisted = self.0.unlisted.saturating_add(1);
        }
    }
}

const KEEP: &str = "keep this file as evidence, read it with `breachbook report ID`, and continue in a new incident";

/// Splits, parses and checks every line.
pub fn scan(bytes: &[u8]) -> Scan {
    let mut out = Scan::default();
    let mut expected_prev = GENESIS.to_string();
    let mut expected_seq: u64 = 1;
    let mut pos = 0usize;
    let mut line_no = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let (content, terminated, end) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&rest[..i], true, pos + i + 1),
            None => (rest, false, bytes.len()),
        };
        line_no += 1;
        let last = end == bytes.len();
        match parse(content) {
            Err(why) => {
                // A crash mid-write leaves a last line without its newline, or (on some
                // filesystems) one padded with zero bytes.
                if last && (!terminated || content.contains(&0)) {
                    out.recovery.dropped_torn_line = true;
                    break;
                }
                if content.iter().all(u8::is_ascii_whitespace) {
                    Problems(&mut out.recovery).push(format!(
                        "line {line_no}: an empty line, which breachbook never writes: the file was edited by hand; {KEEP}"
                    ));
                } else {
                    Problems(&mut out.recovery).push(format!(
                        "line {line_no}: not a journal record ({why}): the file was edited or damaged; {KEEP}"
                    ));
                    out.first_unreadable.get_or_insert((line_no, why));
                }
            }
            Ok((rec, hash_ok)) => {
                if !terminated {
                    out.missing_newline = true;
                }
                if !hash_ok {
                    Problems(&mut out.recovery).push(format!(
                        "line {line_no}: record {} was changed after it was written (its content does not match its hash); {KEEP}",
                        rec.seq
                    ));
                }
                if rec.seq == expected_seq {
                    if rec.prev != expected_prev {
                        Problems(&mut out.recovery).push(format!(
                            "line {line_no}: the hash chain is broken: record {} does not follow the record before it, which was changed or replaced; {KEEP}",
                            rec.seq
                        ));
                    }
                } else if rec.seq > expected_seq {
                    let missing = if rec.seq - expected_seq == 1 {
                        format!("record {expected_seq} is")
                    } else {
                        format!("records {expected_seq} to {} are", rec.seq - 1)
                    };
                    Problems(&mut out.recovery).push(format!(
                        "line {line_no}: the hash chain is broken: {missing} missing before record {} (deleted from the file); {KEEP}",
                        rec.seq
                    ));
                } else {
                    Problems(&mut out.recovery).push(format!(
                        "line {line_no}: sequence number {} where {expected_seq} was expected: records were duplicated or reordered; {KEEP}",
                        rec.seq
                    ));
                }
                if rec.seq == 1 && !matches!(rec.event, Event::IncidentOpened { .. }) {
                    Problems(&mut out.recovery).push(format!(
                        "line {line_no}: the first record is not the incident-opened record; {KEEP}"
                    ));
                }
                expected_prev = rec.hash.clone();
                expected_seq = rec.seq.saturating_add(1);
                out.records.push(rec);
            }
        }
        out.keep_len = end as u64;
        pos = end;
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "é\n"}}"#).unwrap();
        let b = json!({"a": {"x": "é\n", "y": [1, 2]}, "b": 1});
        assert_eq!(canonical_hash(&a), canonical_hash(&b));
        let mut s = Vec::new();
        write_canonical(&a, &mut s);
        assert_eq!(
            String::from_utf8(s).unwrap(),
            r#"{"a":{"x":"é\n","y":[1,2]},"b":1}"#
        );
    }

    #[test]
    fn a_line_with_a_field_added_by_hand_fails_its_hash() {
        let rec = Record {
            seq: 1,
            time: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            operator: Default::default(),
            prev: GENESIS.into(),
            hash: String::new(),
            event: Event::Note { text: "hi".into() },
        };
        let mut rec = rec;
        rec.hash = rec.compute_hash().unwrap();
        let line = serde_json::to_string(&rec).unwrap();
        assert!(parse(line.as_bytes()).unwrap().1);
        let edited = line.replacen("{", r#"{"extra":true,"#, 1);
        assert!(!parse(edited.as_bytes()).unwrap().1);
    }

    #[test]
    fn an_unterminated_zero_padded_tail_is_torn() {
        let s = scan(b"\0\0\0\0");
        assert!(s.recovery.dropped_torn_line);
        assert_eq!(s.keep_len, 0);
        assert!(s.first_unreadable.is_none());
    }

    #[test]
    fn a_terminated_garbage_last_line_is_a_problem_not_a_torn_line() {
        let s = scan(b"garbage\n");
        assert!(!s.recovery.dropped_torn_line);
        assert_eq!(s.first_unreadable.as_ref().map(|(l, _)| *l), Some(1));
        assert!(s.recovery.problems[0].starts_with("line 1:"));
    }
}
