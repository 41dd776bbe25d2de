//! Any bytes through the runbook loader: UTF-8 check, hostile-input guards, YAML parsing and
//! validation, and the miette rendering of every refusal. It must never panic or hang, every
//! refusal must say why, at a place that exists in the text it carries, without a control
//! character from it, and a runbook it accepts has values the engine can run with.
//!
//! Non-UTF-8 input is checked by `utf8` (which must refuse it with a located diagnostic) and
//! then loaded as its lossy decoding, so byte-level mutations still reach the YAML parser.
//! The checks are in `fuzz/checks/mod.rs`, shared with `tests/fuzz_corpus.rs`.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| checks::runbook(data));
