//! Edges: extreme flag values, a full disk under keygen, and the one text
//! form of an object (no duplicate keys, lowercase hex).

use crate::util::{Env, signed_bulletin};

/// A signed message to the key's own address (JSON line).
fn message(env: &Env) -> String {
    let addr = env.keygen("k.key");
    signed_bulletin(env, "t", 1_700_000_000, "k.key", &addr)
}

#[test]
fn the_largest_skew_saturates_instead_of_overflowing() {
    let env = Env::new();
    let m = message(&env);
    let skew = u64::MAX.to_string();
    let now = (1_700_000_000u64 + 100).to_string();
    let out = env.run(
        &["verify", "-k", "k.key", "--now", &now, "--skew", &skew],
        &m,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.text().contains("from_future"), "{}", out.text());
    let out = env.run(
        &["relay", "-k", "k.key", "--now", &now, "--skew", &skew],
        &m,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("from_future"), "{}", out.stderr);
}

#[test]
fn jobs_are_capped() {
    let env = Env::new();
    message(&env);
    let out = env.usage(&["sign", "-k", "k.key", "-j", "4294967295"], "");
    assert!(out.stderr.contains("4294967295"), "{}", out.stderr);
    env.usage(&["hashcash", "-j", "1025"], "");
}

#[test]
fn a_key_given_twice_in_an_object_is_refused() {
    let env = Env::new();
    let m = message(&env);
    let m = m.trim_end();
    let twice = format!("{},\"ts\":1}}\n", &m[..m.len() - 1]);
    let out = env.fail(&["verify"], &twice, 3);
    assert!(
        out.stderr.contains("duplicate field 'ts'"),
        "{}",
        out.stderr
    );
}

#[test]
fn uppercase_hex_in_an_object_is_refused() {
    let env = Env::new();
    let m = message(&env);
    let v: serde_json::Value = serde_json::from_str(&m).unwrap();
    let src = v["src"].as_str().unwrap();
    let upper = m.replace(src, &src.to_uppercase());
    assert_ne!(upper, m);
    let out = env.fail(&["verify"], &upper, 3);
    assert!(
        out.stderr.contains("expected 64 lowercase hex digits"),
        "{}",
        out.stderr
    );
}

/// A keygen that fails on a full disk leaves no key file, so a retry works.
/// Needs root to mount a real tmpfs.
#[test]
fn keygen_on_a_full_disk_leaves_no_empty_key_file() {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    if !root {
        crate::skip::notice(
            "keygen_on_a_full_disk_leaves_no_empty_key_file",
            "needs root (tmpfs)",
        );
        return;
    }
    let env = Env::new();
    let mnt = env.path("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount tmpfs");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    // Fill the disk to its last byte.
    let fill = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=4096"])
        .arg(format!("of={}", mnt.join("fill").display()))
        .output()
        .unwrap();
    assert!(!fill.status.success(), "dd should hit ENOSPC");
    let key = mnt.join("k.key");
    let key = key.to_str().unwrap();
    let out = env.fail(&["keygen", "-o", key], "", 4);
    assert!(out.stderr.contains("No space left"), "{}", out.stderr);
    assert!(!mnt.join("k.key").exists(), "an empty key file was left");
    std::fs::remove_file(mnt.join("fill")).unwrap();
    env.ok(&["keygen", "-o", key], "");
}
