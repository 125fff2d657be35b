//! The set-reconciliation extension's messages (the advertisement and the
//! reconcile operation, in both roles); the harness is
//! `fuzz/harness/reconcile.rs`, shared with `tests/fuzz_regressions.rs`.
#![no_main]

#[path = "../harness/reconcile.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run_input(data));
