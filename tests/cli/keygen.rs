//! `gossip keygen`.

use crate::util::{Env, mode, set_mode};

#[test]
fn keygen_to_stdout_is_a_key_file_whose_address_matches() {
    let env = Env::new();
    let out = env.ok(&["keygen"], "");
    let text = out.text();
    let seed: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(seed.len(), 1, "{text}");
    assert_eq!(seed[0].len(), 64);
    assert!(seed[0].chars().all(|c| c.is_ascii_hexdigit()));
    let claimed = text
        .lines()
        .find_map(|l| l.strip_prefix("# address: "))
        .expect("address comment");
    let key = env.write("k.key", &text);
    set_mode(&key, 0o600);
    assert_eq!(
        env.ok(&["address", "-k", "k.key"], "").text().trim(),
        claimed
    );
}

#[test]
fn keygen_to_file_is_0600_and_prints_the_address_to_stderr() {
    let env = Env::new();
    let addr = env.keygen("a.key");
    assert_eq!(mode(&env.path("a.key")), 0o600);
    let out = env.ok(&["address", "-k", "a.key"], "");
    assert_eq!(out.text().trim(), addr);
}

#[test]
fn two_keys_differ() {
    let env = Env::new();
    assert_ne!(env.keygen("a.key"), env.keygen("b.key"));
}

#[test]
fn keygen_refuses_to_overwrite_without_force() {
    let env = Env::new();
    env.keygen("a.key");
    let before = std::fs::read(env.path("a.key")).unwrap();
    let out = env.fail(&["keygen", "-o", "a.key"], "", 4);
    assert!(
        out.stderr
            .starts_with("gossip: cannot write key file a.key: ")
    );
    assert!(out.stderr.contains("hint: pass --force"), "{}", out.stderr);
    assert_eq!(std::fs::read(env.path("a.key")).unwrap(), before);
}

#[test]
fn keygen_force_overwrites_with_mode_0600() {
    let env = Env::new();
    let old = env.keygen("a.key");
    set_mode(&env.path("a.key"), 0o644);
    let out = env.ok(&["keygen", "-o", "a.key", "--force"], "");
    let new = out.stderr.trim().strip_prefix("address: ").unwrap();
    assert_ne!(new, old);
    assert_eq!(mode(&env.path("a.key")), 0o600);
    assert_eq!(env.ok(&["address", "-k", "a.key"], "").text().trim(), new);
}

#[test]
fn keygen_force_over_a_directory_fails() {
    let env = Env::new();
    std::fs::create_dir(env.path("d")).unwrap();
    let out = env.fail(&["keygen", "-o", "d", "--force"], "", 4);
    assert!(out.stderr.contains("is a directory"), "{}", out.stderr);
    assert!(env.path("d").is_dir());
}

#[test]
fn keygen_into_a_missing_directory_fails() {
    let env = Env::new();
    env.fail(&["keygen", "-o", "no/such/dir/a.key"], "", 4);
}

#[test]
fn keygen_rejects_unknown_flags() {
    let env = Env::new();
    env.usage(&["keygen", "--bogus"], "");
    env.usage(&["keygen", "-o"], "");
}
