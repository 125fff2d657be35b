//! Interoperability with libsodium: runs `tests/interop/pynacl_interop.py`
//! (PyNaCl) against the gossip binary. PyNaCl missing is a failure unless
//! `GOSSIP_SKIP_PYNACL=1` says to skip, so CI cannot silently skip it.

use std::path::Path;
use std::process::Command;

/// The script's exit code when PyNaCl is not importable.
const NO_PYNACL: i32 = 77;

#[test]
fn pynacl_interop() {
    let skip = std::env::var("GOSSIP_SKIP_PYNACL").is_ok_and(|v| v == "1");
    let probe = Command::new("python3")
        .args(["-c", "import nacl.bindings, nacl.public, nacl.signing"])
        .output();
    let importable = matches!(&probe, Ok(o) if o.status.success());
    if !importable {
        if skip {
            eprintln!("skipping pynacl_interop: PyNaCl not importable and GOSSIP_SKIP_PYNACL=1");
            return;
        }
        panic!(
            "python3 with PyNaCl is required for the libsodium interop test \
             (pip install pynacl), or set GOSSIP_SKIP_PYNACL=1 to skip it: {probe:?}"
        );
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/pynacl_interop.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_gossip"))
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(NO_PYNACL) && skip {
        eprintln!("skipping pynacl_interop: {stderr}");
        return;
    }
    assert!(
        out.status.success(),
        "pynacl_interop.py failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("pynacl_interop: all checks passed"),
        "{stdout}"
    );
}

/// The optional XChaCha20-Poly1305 suite against the system libsodium
/// (`libsodium23`, installed by `.ci/run`): it opens our sealed boxes and we
/// open its. A missing libsodium fails unless `GOSSIP_SKIP_LIBSODIUM=1`.
#[test]
fn libsodium_xchacha_interop() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/libsodium_xchacha.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_gossip"))
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(77)
        && std::env::var("GOSSIP_SKIP_LIBSODIUM").is_ok_and(|v| v == "1")
    {
        eprintln!("skipping libsodium_xchacha_interop: {stderr}");
        return;
    }
    assert!(
        out.status.success(),
        "libsodium_xchacha.py failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("libsodium_xchacha: all checks passed"),
        "{stdout}"
    );
}
