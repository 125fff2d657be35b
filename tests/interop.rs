//! Interoperability with libsodium: `tests/interop/pynacl_interop.py`
//! (PyNaCl: the default XSalsa20 sealed boxes and Ed25519 signatures, both
//! directions) and `tests/interop/libsodium_xchacha.py` (the system
//! libsodium through ctypes: the XChaCha20-Poly1305 suite) and
//! `tests/interop/original_mixed.py` (the original Python implementation's
//! own classes in /work/shared/original or GOSSIP_ORIGINAL, both ways). A missing
//! library fails the test unless its skip variable is set to 1, so CI cannot
//! skip it silently; a test whose variable is 1 is listed as `ignored`
//! (`build.rs` sets the cfg), never as `ok`.
//!
//! The scripts run under `$GOSSIP_PYTHON`, else the repository's
//! `.venv/bin/python3` when there is one (the README's way to get PyNaCl as
//! an ordinary user, which `.ci/run` makes), else `python3`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python that runs the scripts.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("GOSSIP_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python3");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("python3")
}

/// A script's exit code when its library is not importable.
const MISSING: i32 = 77;

/// Runs one interop script against the gossip binary and checks it passed.
fn run_script(script: &str, skip_var: &str) {
    run_script_with(script, skip_var, &[]);
}

/// Runs one interop script with arguments after the gossip binary.
fn run_script_with(script: &str, skip_var: &str, args: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let python = python();
    let out = Command::new(&python)
        .arg(&path)
        .arg(env!("CARGO_BIN_EXE_gossip"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(MISSING) {
        panic!(
            "{script} needs its library under {} ({}); install it as the README's \
             \"Set-up\" says (.ci/run does), or set {skip_var}=1 to skip it",
            python.display(),
            stderr.trim()
        );
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
#[cfg_attr(gossip_skip_pynacl, ignore = "GOSSIP_SKIP_PYNACL=1")]
fn pynacl_interop() {
    run_script("pynacl_interop.py", "GOSSIP_SKIP_PYNACL");
}

#[test]
#[cfg_attr(gossip_skip_libsodium, ignore = "GOSSIP_SKIP_LIBSODIUM=1")]
fn libsodium_xchacha_interop() {
    run_script("libsodium_xchacha.py", "GOSSIP_SKIP_LIBSODIUM");
}

#[test]
#[cfg_attr(gossip_skip_original, ignore = "GOSSIP_SKIP_ORIGINAL=1")]
fn original_classes_interop() {
    run_script("original_mixed.py", "GOSSIP_SKIP_ORIGINAL");
}

/// How many bulletins the original_catchup tests move: 5,000 by default
/// (five of the relay's 1,024-id pages, or one original-style answer of
/// 5,000 ids; a relay before paged sync stops at 1,024), or
/// `GOSSIP_ORIGINAL_CATCHUP`. The 20,000 runs with
/// `GOSSIP_ORIGINAL_CATCHUP=20000`: relay to python about 100 s on two quiet
/// cores, nearly all the original's pure-Python tapehash (four hashes a
/// bulletin at about 2,000 a second); python to relay about 455 s, as the
/// example's BulletinHandler scans every bulletin it holds for each
/// request_content it answers (quadratic).
fn catchup_count() -> String {
    std::env::var("GOSSIP_ORIGINAL_CATCHUP").unwrap_or_else(|_| "5000".to_string())
}

/// Issue 20 against the original's classes over TCP
/// (`tests/interop/original_catchup.py`): an original node with the
/// example-style sync handler catches up from a relay that holds the
/// bulletins, taking its pages one by one.
#[test]
#[cfg_attr(gossip_skip_original, ignore = "GOSSIP_SKIP_ORIGINAL=1")]
fn original_catchup_relay_to_python() {
    run_script_with(
        "original_catchup.py",
        "GOSSIP_SKIP_ORIGINAL",
        &[&catchup_count(), "to-python"],
    );
}

/// The other way: a relay that starts late catches up from an original
/// node, which answers with one respond_sync_headers holding every id.
#[test]
#[cfg_attr(gossip_skip_original, ignore = "GOSSIP_SKIP_ORIGINAL=1")]
fn original_catchup_python_to_relay() {
    run_script_with(
        "original_catchup.py",
        "GOSSIP_SKIP_ORIGINAL",
        &[&catchup_count(), "to-relay"],
    );
}
