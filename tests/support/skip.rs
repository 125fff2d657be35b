//! Cases a test skips (a missing tool, not root, a GOSSIP_SKIP_* variable)
//! are said where `cargo test` shows them, since the test itself shows as
//! `ok`: one `SKIPPED case: why` line written straight to stderr, past
//! libtest's capture, and appended to `skipped.txt` in the target's test
//! directory, which `.ci/run` counts and prints after the run.

use std::io::Write;

/// Says that `case` was skipped, and why.
pub fn notice(case: &str, why: &str) {
    let line = format!("SKIPPED {case}: {why}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = f.write_all(line.as_bytes());
    }
}
