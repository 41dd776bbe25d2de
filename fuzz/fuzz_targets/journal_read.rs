//! Any bytes as a journal file through the journal reader (`journal::read_bytes`, what
//! `Journal::read` and `Journal::open` do with the bytes they read): it must never panic,
//! must list at most its limit of problems however many lines are bad, must call a journal
//! clean only when it is an unbroken chain (sequence, links, every hash), and the fold of
//! what it read must not panic. The checks are in `fuzz/checks/mod.rs`.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| checks::journal(data));
