//! The session layer's input; the harness is
//! `fuzz/harness/session_input.rs`, shared with `tests/fuzz_regressions.rs`.
#![no_main]

#[path = "../harness/session_input.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run_input(data));
