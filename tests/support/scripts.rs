//! Runs a bash scenario script against the built `gossip` binary, shared by
//! the relay and hardening suites.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Runs `DIR/NAME.sh GOSSIP` with extra environment and fails the test,
/// showing the script's output, unless it exits 0.
pub fn run_script_in(dir: &str, name: &str, env: &[(&str, &str)]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(dir)
        .join(format!("{name}.sh"));
    let start = Instant::now();
    let out = Command::new("bash")
        .envs(env.iter().copied())
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_gossip"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name}.sh failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    println!("{stdout}{name}.sh took {:?}", start.elapsed());
    // A case the script skipped (not root, no namespaces, a GOSSIP_SKIP_*
    // variable) is said past libtest's capture: the test shows as `ok`.
    // Said once, though a script may print it on stdout and stderr both.
    let mut said = std::collections::BTreeSet::new();
    for line in stdout.lines().chain(stderr.lines()) {
        if line.contains("skipped") && said.insert(line.trim()) {
            crate::skip::notice(&format!("{name}.sh"), line.trim());
        }
    }
}
