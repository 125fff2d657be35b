//! Interoperability with libsodium: `tests/interop/pynacl_interop.py`
//! (PyNaCl: the default XSalsa20 sealed boxes and Ed25519 signatures, both
//! directions) and `tests/interop/libsodium_xchacha.py` (the system
//! libsodium through ctypes: the XChaCha20-Poly1305 suite) and
//! `tests/interop/original_mixed.py` (the original Python implementation's
//! own classes in /work/shared/original or GOSSIP_ORIGINAL, both ways). A missing
//! library fails the test unless its skip variable is set to 1, so CI cannot
//! skip it silently.

use std::path::Path;
use std::process::Command;

/// A script's exit code when its library is not importable.
const MISSING: i32 = 77;

/// Runs one interop script against the gossip binary and checks it passed.
fn run_script(script: &str, skip_var: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let out = Command::new("python3")
        .arg(&path)
        .arg(env!("CARGO_BIN_EXE_gossip"))
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(MISSING) {
        assert!(
            std::env::var(skip_var).is_ok_and(|v| v == "1"),
            "{script} needs its library ({stderr}); install it (.ci/run does) or set {skip_var}=1 to skip"
        );
        eprintln!("skipping {script}: {stderr}");
        return;
    }
    assert!(
        out.status.success(),
        "{script} failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let name = script.trim_end_matches(".py");
    assert!(
        stdout.contains(&format!("{name}: all checks passed")),
        "{stdout}"
    );
}

#[test]
fn pynacl_interop() {
    run_script("pynacl_interop.py", "GOSSIP_SKIP_PYNACL");
}

#[test]
fn libsodium_xchacha_interop() {
    run_script("libsodium_xchacha.py", "GOSSIP_SKIP_LIBSODIUM");
}

#[test]
fn original_classes_interop() {
    run_script("original_mixed.py", "GOSSIP_SKIP_ORIGINAL");
}
