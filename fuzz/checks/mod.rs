//! What each fuzz target checks, shared by the targets (`fuzz/fuzz_targets/*.rs`, under
//! cargo-fuzz) and by `tests/fuzz_corpus.rs`, which replays the committed corpus
//! (`fuzz/seeds/`, the shipped runbooks and the test fixtures) through the same checks on
//! the stable toolchain in every test run. Each check must never panic, hang or use unbounded memory on any input.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use breachbook::incident::journal::{self, ChainHead, GENESIS, Record, Recovery};
use breachbook::incident::report::{self, Integrity};
use breachbook::incident::state::IncidentState;
use breachbook::runbook::load::{load_str, utf8};

const ORIGIN: &str = "fuzz.yaml";

/// A refusal has at least one diagnostic, each at a real place of the text it carries, and
/// renders without panicking (carets at odd offsets, wide characters, tabs) and without a
/// control character from the text.
fn check_refusal(e: &breachbook::runbook::diagnostic::LoadError) {
    assert!(!e.diagnostics().is_empty(), "a refusal without a reason");
    for d in e.diagnostics() {
        assert!(
            !d.message.is_empty(),
            "a diagnostic without a message: {d:?}"
        );
        assert!(
            d.line >= 1 && d.column >= 1,
            "lines and columns count from 1: {d:?}"
        );
        assert!(
            d.offset <= e.source.len() && e.source.is_char_boundary(d.offset),
            "caret outside the text or inside a character: {d:?} (text is {} bytes)",
            e.source.len()
        );
    }
    let shown = without_colours(&e.to_string());
    assert_printable(&shown, "a rendered refusal");
}

/// Text without the SGR colour codes breachbook itself adds on a terminal (`ESC [ … m`).
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("\u{1b}[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find(|c: char| !(c.is_ascii_digit() || c == ';')) {
            Some(j) if after[j..].starts_with('m') => rest = &after[j + 1..],
            _ => {
                out.push('\u{1b}');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// No control character a terminal acts on (line breaks and tabs are fine).
fn assert_printable(text: &str, what: &str) {
    if let Some(c) = text.chars().find(|c| {
        (c.is_control() && !matches!(c, '\n' | '\t'))
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    }) {
        panic!("{what} holds the control character {c:?}");
    }
}

/// `load_runbook`: any bytes through the runbook loader. A runbook it accepts has values the
/// engine can run with (speed, durations, concurrency).
pub fn runbook(data: &[u8]) {
    let text = match utf8(ORIGIN, data) {
        Ok(text) => text,
        Err(e) => {
            check_refusal(&e);
            String::from_utf8_lossy(data).into_owned()
        }
    };
    match load_str(ORIGIN, &text) {
        Err(e) => check_refusal(&e),
        Ok(rb) => {
            use breachbook::runbook::{duration, schema};
            if let Some(d) = &rb.drill {
                assert!(schema::speed_ok(d.speed), "accepted speed {}", d.speed);
                let len = duration::parse(&d.duration).expect("accepted drill.duration");
                assert!(len.as_secs() <= duration::MAX_SECS);
            }
            let q = duration::parse(&rb.settings.quiet_period).expect("accepted quiet_period");
            assert!(q.as_secs() <= duration::MAX_SECS);
            assert!((1..=schema::MAX_CONCURRENCY).contains(&rb.settings.concurrency));
            assert!((1..=schema::MAX_ATTEMPTS).contains(&rb.settings.max_attempts));
            let _ = breachbook::incident::engine::EngineConfig::from_runbook(&rb, false);
        }
    }
}

fn fold(records: &[Record]) -> Option<IncidentState> {
    IncidentState::fold(
        records
            .iter()
            .map(|r| (&r.event, r.time, r.operator.user.as_str())),
    )
}

/// `journal_read`: any bytes as a journal file. The reader never panics, lists at most its
/// limit of problems, and what it calls clean is a chain: sequence 1, 2, 3… each record
/// linked to the one before by its hash, each hash its content's.
pub fn journal(data: &[u8]) {
    let (records, recovery) = journal::read_bytes(data);
    assert!(recovery.problems.len() <= journal::MAX_LISTED_PROBLEMS);
    if recovery.is_clean() {
        // Each record's hash is its stored line's (over what is stored: an old record lacks
        // fields this version adds, so its typed form would hash differently).
        let lines: Vec<serde_json::Value> = data
            .split(|b| *b == b'\n')
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect();
        let mut prev = GENESIS.to_string();
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.seq, i as u64 + 1, "a clean journal out of sequence");
            assert_eq!(
                r.prev, prev,
                "a clean journal with a broken link at {}",
                r.seq
            );
            let stored = lines
                .iter()
                .find(|v| v["seq"] == r.seq && v["hash"] == r.hash.as_str())
                .cloned();
            let Some(serde_json::Value::Object(mut stored)) = stored else {
                panic!("a clean journal's record {} is not one of its lines", r.seq);
            };
            stored.remove("hash");
            assert_eq!(
                journal::canonical_hash(&serde_json::Value::Object(stored)),
                r.hash,
                "a clean journal with a record whose hash is not its content's"
            );
            prev = r.hash.clone();
        }
        assert_eq!(recovery.unlisted, 0);
        assert!(recovery.summary("x").is_none());
    } else {
        assert!(recovery.summary("x").is_some());
    }
    let verdict = journal::verify(&records, &recovery, None);
    assert_eq!(verdict.is_ok(), recovery.is_clean());
    let _ = fold(&records);
}

/// Reads each line as a record, whatever its hash, and reseals the chain as a writer would:
/// what someone who can write the file can make every command accept.
fn resealed(data: &[u8]) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut prev = GENESIS.to_string();
    for line in data.split(|b| *b == b'\n') {
        let Ok(mut r) = serde_json::from_slice::<Record>(line) else {
            continue;
        };
        r.seq = out.len() as u64 + 1;
        r.prev = prev.clone();
        r.hash = String::new();
        let Ok(h) = r.compute_hash() else { continue };
        r.hash = h;
        prev = r.hash.clone();
        out.push(r);
    }
    out
}

/// No string in a JSON report holds a control character but line breaks and tabs.
fn assert_json_printable(v: &serde_json::Value) {
    match v {
        serde_json::Value::String(s) => assert_printable(s, "a JSON report string"),
        serde_json::Value::Array(a) => a.iter().for_each(assert_json_printable),
        serde_json::Value::Object(m) => m.iter().for_each(|(k, x)| {
            assert_printable(k, "a JSON report key");
            assert_json_printable(x)
        }),
        _ => {}
    }
}

/// `report`: any bytes as a journal, resealed, folded and reported in both formats, as an
/// intact journal and as the damaged one it was read as. A report never panics, always
/// names its chain head, and holds no control character from the journal.
pub fn report(data: &[u8]) {
    let records = resealed(data);
    let Some(state) = fold(&records) else {
        return;
    };
    let head = ChainHead::of(&records);
    let (_, as_read) = journal::read_bytes(data);
    for integrity in [Integrity::of(&records, &Recovery::default()), {
        let mut damaged = Integrity::of(&records, &as_read);
        if damaged.problems.is_empty() {
            damaged.problems.push("line 1: a problem".into());
        }
        damaged
    }] {
        let md = report::markdown(&state, &integrity);
        assert_printable(&md, "the Markdown report");
        assert!(
            md.contains(&head.hash),
            "the report does not name its chain head"
        );
        if !integrity.is_intact() {
            assert!(md.contains("The journal of this incident is damaged"));
        }
        let json = report::json(&state, &integrity);
        assert_json_printable(&json);
        assert_eq!(json["journal"]["head"]["seq"], head.seq);
        assert_eq!(json["journal"]["intact"], integrity.is_intact());
    }
}
