//! Paths that are not regular files: a FIFO or a device node given as a key
//! file, a store, or a `keygen --force` target is refused by name (exit 4),
//! never read (which would hang) and never replaced.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::{Env, Out, run_cmd};

fn mkfifo(env: &Env, name: &str) {
    let ok = Command::new("mkfifo")
        .arg(env.path(name))
        .status()
        .expect("mkfifo runs");
    assert!(ok.success());
}

/// Runs gossip with a timeout, so a command that would hang on a FIFO fails
/// the test instead.
fn run_briefly(env: &Env, args: &[&str]) -> Out {
    let mut cmd = env.cmd(args);
    cmd.timeout(Duration::from_secs(20));
    run_cmd(cmd, "")
}

fn assert_refused(out: &Out, args: &[&str], kind: &str) {
    assert_eq!(out.code, 4, "gossip {args:?}: stderr:\n{}", out.stderr);
    assert!(
        out.stderr.starts_with("gossip: ") && out.stderr.contains(kind),
        "gossip {args:?}: stderr:\n{}",
        out.stderr
    );
}

fn is_fifo(p: &Path) -> bool {
    std::fs::metadata(p).unwrap().file_type().is_fifo()
}

#[test]
fn a_fifo_as_a_key_file_is_refused_not_read() {
    let env = Env::new();
    mkfifo(&env, "k.key");
    std::fs::set_permissions(
        env.path("k.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    for args in [&["address", "-k", "k.key"][..], &["sign", "-k", "k.key"]] {
        assert_refused(
            &run_briefly(&env, args),
            args,
            "is a FIFO, not a regular file",
        );
    }
}

#[test]
fn a_fifo_as_a_store_is_refused_not_opened() {
    let env = Env::new();
    env.keygen("r.key");
    mkfifo(&env, "s.db");
    for args in [
        &["store", "list", "--store", "s.db"][..],
        &["relay", "-k", "r.key", "--store", "s.db"],
    ] {
        assert_refused(
            &run_briefly(&env, args),
            args,
            "is a FIFO, not a regular file",
        );
    }
    assert!(is_fifo(&env.path("s.db")));
}

#[test]
fn keygen_force_replaces_only_a_regular_file() {
    let env = Env::new();
    mkfifo(&env, "fifo");
    let args = ["keygen", "-o", "fifo", "--force"];
    assert_refused(&run_briefly(&env, &args), &args, "is a FIFO");
    assert!(is_fifo(&env.path("fifo")), "the FIFO was replaced");
}

#[test]
fn keygen_force_never_replaces_a_device_node() {
    let env = Env::new();
    let probe = env.write("probe", "");
    if std::fs::metadata(&probe).unwrap().uid() != 0 {
        crate::skip::notice(
            "keygen_force_never_replaces_a_device_node",
            "mknod needs root",
        );
        return;
    }
    // A character device like /dev/null (1, 3), made in the scratch directory.
    let dev = env.path("null");
    let ok = Command::new("mknod")
        .args([dev.to_str().unwrap(), "c", "1", "3"])
        .status()
        .expect("mknod runs");
    assert!(ok.success());
    let args = ["keygen", "-o", "null", "--force"];
    assert_refused(&run_briefly(&env, &args), &args, "is a device");
    let meta = std::fs::metadata(&dev).unwrap();
    assert!(meta.file_type().is_char_device(), "the device was replaced");
    assert_eq!(meta.rdev(), std::fs::metadata("/dev/null").unwrap().rdev());
}
