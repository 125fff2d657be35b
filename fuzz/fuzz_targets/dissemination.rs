//! The dissemination extension's messages (announce, graft and prune, from
//! a neighbour that speaks it and from a stranger); the harness is
//! `fuzz/harness/dissemination.rs`, shared with `tests/fuzz_regressions.rs`.
#![no_main]

#[path = "../harness/dissemination.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run_input(data));
