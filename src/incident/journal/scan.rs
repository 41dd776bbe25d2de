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
    hex::encode(Sha256::digest(canonical_bytes(value)))
}

/// A JSON value in canonical form (object keys sorted, no whitespace): the bytes hashed.
pub fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_canonical(value, &mut out);
    out
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
    if let Some(rec) = parse_sealed(line) {
        return Ok((rec, true));
    }
    parse_value(line)
}

/// What precedes the hash in a sealed line, and what must follow it: a sealed line is the
/// record's canonical JSON, whose keys in order are `event`, `hash`, `operator`, `prev`,
/// `seq`, `time`.
const SEALED_START: &[u8] = b"{\"event\":";
const HASH_MEMBER: &[u8] = b",\"hash\":\"";
const AFTER_HASH: &[u8] = b"\",\"operator\":";

/// The fast path, for lines breachbook wrote itself ([`Record::seal`]): the line is the
/// canonical form, so its hash is checked over its own bytes minus the `hash` member, with
/// no re-encoding, and the record is parsed straight into its type. `None` when the line
/// is not in that form or does not verify that way: the slow path then decides, so both
/// paths accept exactly the same lines (a non-canonical line verifies only the slow way).
fn parse_sealed(line: &[u8]) -> Option<Record> {
    if !line.starts_with(SEALED_START) {
        return None;
    }
    // The top-level member is the last one: after it come only the operator (strings, in
    // which a quote is escaped), the previous hash, the sequence number and the time.
    let start = memchr::memmem::rfind(line, HASH_MEMBER)?;
    let hex_at = start + HASH_MEMBER.len();
    let stored_hex = line.get(hex_at..hex_at + 64)?;
    let end = hex_at + 64;
    if !line.get(end..)?.starts_with(AFTER_HASH)
        || !stored_hex
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return None;
    }
    let mut stored = [0u8; 32];
    hex::decode_to_slice(stored_hex, &mut stored).ok()?;
    // `end + 1` keeps the closing quote out: the member is `,"hash":"<64 hex>"`.
    let digest = Sha256::new()
        .chain_update(&line[..start])
        .chain_update(&line[end + 1..])
        .finalize();
    if digest.as_slice() != stored {
        return None;
    }
    let rec: Record = serde_json::from_slice(line).ok()?;
    // The member hashed around must be the record's own hash, not one nested in it.
    (rec.hash.as_bytes() == stored_hex).then_some(rec)
}

/// The slow path: the line parsed as any JSON, its canonical form rebuilt and hashed.
fn parse_value(line: &[u8]) -> Result<(Record, bool), String> {
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
    let lines = split_lines(bytes);
    let parsed = parse_all(bytes, &lines);
    for (i, (line, parsed)) in lines.iter().zip(parsed).enumerate() {
        let Line {
            start,
            end,
            terminated,
        } = *line;
        let content = &bytes[start..if terminated { end - 1 } else { end }];
        let line_no = i + 1;
        let last = end == bytes.len();
        match parsed {
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
    }
    out
}

/// One line's place in the journal: `start..end` includes its newline, if it has one.
#[derive(Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
    terminated: bool,
}

fn split_lines(bytes: &[u8]) -> Vec<Line> {
    let mut lines = Vec::with_capacity(bytes.len() / 256 + 1);
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', bytes) {
        lines.push(Line {
            start,
            end: nl + 1,
            terminated: true,
        });
        start = nl + 1;
    }
    if start < bytes.len() {
        lines.push(Line {
            start,
            end: bytes.len(),
            terminated: false,
        });
    }
    lines
}

/// Journals at least this big are parsed on every core: a resume of a long live incident
/// reads hundreds of thousands of records, and each line parses and hashes on its own.
const PARALLEL_FROM_BYTES: usize = 4 * 1024 * 1024;

/// Every line parsed and its hash checked, in order. Lines are independent until the chain
/// is checked (in [`scan`], in order), so a big journal is cut into one run of lines a core.
fn parse_all(bytes: &[u8], lines: &[Line]) -> Vec<Result<(Record, bool), String>> {
    let parse_run = |run: &[Line]| -> Vec<Result<(Record, bool), String>> {
        run.iter()
            .map(|l| parse(&bytes[l.start..if l.terminated { l.end - 1 } else { l.end }]))
            .collect()
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if bytes.len() < PARALLEL_FROM_BYTES || cores < 2 || lines.len() < 2 {
        return parse_run(lines);
    }
    let per_run = lines.len().div_ceil(cores);
    std::thread::scope(|s| {
        let handles: Vec<_> = lines
            .chunks(per_run)
            .map(|run| s.spawn(move || parse_run(run)))
            .collect();
        let mut out = Vec::with_capacity(lines.len());
        for h in handles {
            // A parse that panicked (it never should) panics here too: no line is lost.
            out.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        out
    })
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

    fn sealed_note(seq: u64, prev: &str, text: &str) -> (Record, Vec<u8>) {
        let mut rec = Record {
            seq,
            time: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            operator: crate::incident::event::Operator {
                user: "resp\"onder".into(),
                cloud: Some("arn:aws:iam::123456789012:user/hash".into()),
            },
            prev: prev.into(),
            hash: String::new(),
            event: Event::Note { text: text.into() },
        };
        let line = rec.seal().unwrap();
        (rec, line)
    }

    /// The problems of a scan, but for the one these notes always have (the first record is
    /// not an incident-opened one).
    fn problems(s: &Scan) -> Vec<&str> {
        s.recovery
            .problems
            .iter()
            .map(String::as_str)
            .filter(|p| !p.starts_with("line 1: the first record is not"))
            .collect()
    }

    #[test]
    fn a_sealed_line_is_canonical_and_both_paths_agree() {
        // A note that itself holds a `,"hash":"` member's bytes (escaped in the string).
        let (rec, line) = sealed_note(1, GENESIS, r#"x,"hash":"00","operator":{}"#);
        assert_eq!(*line.last().unwrap(), b'\n');
        let content = &line[..line.len() - 1];
        let value: Value = serde_json::from_slice(content).unwrap();
        assert_eq!(
            canonical_bytes(&value),
            content,
            "written in canonical form"
        );
        assert!(content.starts_with(SEALED_START));
        assert_eq!(rec.hash, rec.compute_hash().unwrap());
        let fast = parse_sealed(content).expect("the fast path takes breachbook's own lines");
        let (slow, slow_ok) = parse_value(content).unwrap();
        assert!(slow_ok);
        assert_eq!(fast, slow);
        assert_eq!(fast, rec);
    }

    #[test]
    fn an_edited_sealed_line_fails_on_both_paths() {
        let (_, line) = sealed_note(1, GENESIS, "rotated the key");
        let content = String::from_utf8(line[..line.len() - 1].to_vec()).unwrap();
        for edited in [
            content.replace("rotated", "revoked"),
            content.replace(r#""seq":1"#, r#""seq":2"#),
            // Same value, other bytes: verifies only the slow way, and does.
            content.replace(r#""seq":1"#, r#""seq": 1"#),
        ] {
            assert!(parse_sealed(edited.as_bytes()).is_none(), "{edited}");
        }
        let (_, ok) = parse(content.replace("rotated", "revoked").as_bytes()).unwrap();
        assert!(!ok, "a changed word fails its hash");
        let (_, ok) = parse(content.replace(r#""seq":1"#, r#""seq": 1"#).as_bytes()).unwrap();
        assert!(ok, "whitespace changes no value");
    }

    #[test]
    fn lines_written_before_sealing_still_verify() {
        // Journals written by earlier versions: `serde_json::to_vec` of the record, in its
        // field order (`seq` first), hash over the canonical form.
        let (mut rec, _) = sealed_note(1, GENESIS, "old");
        rec.hash = rec.compute_hash().unwrap();
        let mut text = serde_json::to_string(&rec).unwrap();
        assert!(text.starts_with(r#"{"seq":1"#));
        text.push('\n');
        let (_, line2) = sealed_note(2, &rec.hash, "new");
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(&line2);
        let s = scan(&bytes);
        assert_eq!(problems(&s), Vec::<&str>::new());
        assert_eq!(s.records.len(), 2);
    }

    #[test]
    fn a_big_journal_parsed_on_every_core_is_read_in_order() {
        let mut bytes = Vec::new();
        let mut prev = GENESIS.to_string();
        let mut seq = 0;
        while bytes.len() < PARALLEL_FROM_BYTES + 1 {
            seq += 1;
            let (rec, line) = sealed_note(seq, &prev, &"n".repeat(200));
            prev = rec.hash;
            bytes.extend_from_slice(&line);
        }
        // One damaged line in the middle is reported at its own line number.
        let mid = bytes.len() / 2;
        let at = mid + bytes[mid..].iter().position(|b| *b == b'\n').unwrap() + 1;
        let line_no = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
        bytes[at + 20] = b'!';
        let s = scan(&bytes);
        assert_eq!(s.records.len() as u64, seq);
        assert!(s.records.windows(2).all(|w| w[1].seq == w[0].seq + 1));
        let problems = problems(&s);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(&format!("line {line_no}: ")),
            "{problems:?}"
        );
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
