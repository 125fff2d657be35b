//! `gossip address`, and the key-file errors every `-k` command shares.

use crate::util::{Env, cases, set_mode};

#[test]
fn vector_seeds_give_vector_addresses() {
    let env = Env::new();
    for (i, c) in cases("keys").iter().enumerate() {
        let seed = c["seed"].as_str().unwrap();
        let addr = c["address"].as_str().unwrap();
        // a bare hex seed
        let name = format!("bare{i}.key");
        env.seed_key(&name, seed);
        assert_eq!(
            env.ok(&["address", "-k", &name], "").text(),
            format!("{addr}\n")
        );
        // a key file as keygen writes it
        let name = format!("full{i}.key");
        let p = env.write(
            &name,
            format!("# gossip secret key\n# address: {addr}\n\n{seed}\n"),
        );
        set_mode(&p, 0o600);
        assert_eq!(
            env.ok(&["address", "--key", &name], "").text(),
            format!("{addr}\n")
        );
    }
}

#[test]
fn key_from_gossip_key_env() {
    let env = Env::new();
    let addr = env.keygen("a.key");
    let mut cmd = env.cmd(&["address"]);
    cmd.env("GOSSIP_KEY", env.path("a.key"));
    let out = crate::util::run_cmd(cmd, "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.text().trim(), addr);
}

#[test]
fn missing_key_file_is_exit_4_with_a_hint() {
    let env = Env::new();
    let out = env.fail(&["address", "-k", "nope.key"], "", 4);
    assert!(
        out.stderr.starts_with("gossip: key file nope.key: "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint: create one with `gossip keygen"));
}

#[test]
fn key_file_that_is_a_directory_is_exit_4() {
    let env = Env::new();
    std::fs::create_dir(env.path("d.key")).unwrap();
    let out = env.fail(&["address", "-k", "d.key"], "", 4);
    assert_eq!(out.stderr, "gossip: key file d.key: is a directory\n");
}

#[test]
fn key_file_readable_by_others_is_exit_4_with_chmod_hint() {
    let env = Env::new();
    env.keygen("a.key");
    for m in [0o644, 0o640, 0o604, 0o660] {
        set_mode(&env.path("a.key"), m);
        let out = env.fail(&["address", "-k", "a.key"], "", 4);
        assert!(
            out.stderr
                .starts_with("gossip: key file a.key: permissions "),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.lines().any(|l| l == "hint: chmod 600 a.key"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn key_file_with_wrong_content_is_exit_4() {
    let env = Env::new();
    let bad = [
        "hello\n".to_owned(),
        String::new(),
        "zz".repeat(32),
        "11".repeat(31),
        format!("{}\n{}\n", "11".repeat(32), "22".repeat(32)),
        // an address comment that does not fit the seed
        format!("# address: {}\n{}\n", "00".repeat(32), "11".repeat(32)),
    ];
    for (i, text) in bad.iter().enumerate() {
        let name = format!("bad{i}.key");
        set_mode(&env.write(&name, text), 0o600);
        let out = env.fail(&["address", "-k", &name], "", 4);
        assert!(
            out.stderr
                .starts_with(&format!("gossip: key file {name}: ")),
            "{}",
            out.stderr
        );
        assert!(
            !out.stderr.contains(&"11".repeat(32)),
            "seed echoed: {}",
            out.stderr
        );
    }
}

#[test]
fn binary_key_file_is_exit_4() {
    let env = Env::new();
    set_mode(&env.write("bin.key", [0xffu8, 0xfe, 0, 1, 2]), 0o600);
    env.fail(&["address", "-k", "bin.key"], "", 4);
}

#[test]
fn address_without_a_key_is_a_usage_error() {
    let env = Env::new();
    env.usage(&["address"], "");
    env.usage(&["address", "-k"], "");
}
