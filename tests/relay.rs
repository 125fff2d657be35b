//! End-to-end tests of `gossip relay`: each runs one bash script under
//! `tests/relay/` against the built binary. The scripts start real relays
//! joined by fifos and netcat, so they need bash, coreutils, python3 and
//! netcat-openbsd (`.ci/run` installs the last). Each script works in its
//! own temporary directory, ends its processes on exit and gives up on any
//! wait after 20 s.

use std::path::Path;
use std::process::Command;

fn run_script(name: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/relay")
        .join(format!("{name}.sh"));
    let out = Command::new("bash")
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
    print!("{stdout}");
}

#[test]
fn chain_nc() {
    run_script("chain_nc");
}

#[test]
fn ring() {
    run_script("ring");
}

#[test]
fn fanout() {
    run_script("fanout");
}

#[test]
fn sync() {
    run_script("sync");
}

#[test]
fn persistence() {
    run_script("persistence");
}

#[test]
fn drops() {
    run_script("drops");
}
