//! Any bytes through the runbook loader: UTF-8 check, hostile-input guards, YAML parsing and
//! validation, and the miette rendering of every refusal. It must never panic or hang, and
//! every refusal must say why, at a place that exists in the text it carries.
//!
//! Non-UTF-8 input is checked by `utf8` (which must refuse it with a located diagnostic) and
//! then loaded as its lossy decoding, so byte-level mutations still reach the YAML parser.
#![no_main]

use breachbook::runbook::load::{load_str, utf8};
use libfuzzer_sys::fuzz_target;

const ORIGIN: &str = "fuzz.yaml";

/// A refusal has at least one diagnostic, each at a real place of the text it carries, and
/// renders without panicking (carets at odd offsets, wide characters, tabs).
fn check_refusal(e: &breachbook::runbook::diagnostic::LoadError) {
    assert!(!e.diagnostics().is_empty(), "a refusal without a reason");
    for d in e.diagnostics() {
        assert!(!d.message.is_empty(), "a diagnostic without a message: {d:?}");
        assert!(d.line >= 1 && d.column >= 1, "lines and columns count from 1: {d:?}");
        assert!(
            d.offset <= e.source.len() && e.source.is_char_boundary(d.offset),
            "caret outside the text or inside a character: {d:?} (text is {} bytes)",
            e.source.len()
        );
    }
    let _ = e.to_string();
}

fuzz_target!(|data: &[u8]| {
    let text = match utf8(ORIGIN, data) {
        Ok(text) => text,
        Err(e) => {
            check_refusal(&e);
            String::from_utf8_lossy(data).into_owned()
        }
    };
    if let Err(e) = load_str(ORIGIN, &text) {
        check_refusal(&e);
    }
});
