//! Any bytes as a journal, resealed (each line that parses as a record gets its sequence
//! number, link and hash recomputed, as someone who can write the file could do), folded,
//! and reported in Markdown and JSON, as intact and as damaged. A report must never panic,
//! must name its chain head, say when its journal is damaged, and hold no control character
//! or escape sequence from the journal. The checks are in `fuzz/checks/mod.rs`.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| checks::report(data));
