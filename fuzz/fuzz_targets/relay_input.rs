//! The relay's input path; the harness is `fuzz/harness/relay_input.rs`,
//! shared with `tests/fuzz_regressions.rs`.
#![no_main]

#[path = "../harness/relay_input.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run_input(data));
