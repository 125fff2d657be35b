//! The seed never leaves its key file: failing commands that load a key
//! say what went wrong without echoing the secret, on stderr or stdout.

use crate::util::{Env, set_mode};

/// A fixed seed, recognisable in any output.
const SEED: &str = "5eed5eed00112233445566778899aabbccddeeff5eed5eed0123456789abcdef";

fn assert_hidden(out: &crate::util::Out, what: &str) {
    for text in [out.stderr.as_str(), &String::from_utf8_lossy(&out.stdout)] {
        assert!(
            !text.to_lowercase().contains(SEED),
            "{what}: the seed appears in the output:\n{text}"
        );
    }
}

#[test]
fn failing_commands_with_a_key_never_print_the_seed() {
    let env = Env::new();
    env.seed_key("k.key", SEED);
    // Malformed input to every command that loads a key.
    for args in [
        &["open", "-k", "k.key"][..],
        &["verify", "-k", "k.key"],
        &["decrypt", "-k", "k.key"],
        &["sign", "-k", "k.key"],
        &["message", "new", "-k", "k.key", "--to", "00"],
        &["relay", "-k", "k.key", "--peer", "zz"],
    ] {
        let out = env.run(args, "{not json\n");
        assert_ne!(out.code, 0, "gossip {args:?} should fail");
        assert_hidden(&out, &format!("gossip {args:?}"));
    }
}

#[test]
fn refused_key_files_never_print_the_seed() {
    let env = Env::new();
    // Readable by others: refused before it is read.
    let open = env.write("open.key", format!("{SEED}\n"));
    set_mode(&open, 0o644);
    let out = env.fail(&["address", "-k", "open.key"], "", 4);
    assert_hidden(&out, "a group-readable key file");
    // An address comment that does not fit the seed.
    let mismatch = env.write(
        "mismatch.key",
        format!("# address: {}\n{SEED}\n", "00".repeat(32)),
    );
    set_mode(&mismatch, 0o600);
    let out = env.fail(&["address", "-k", "mismatch.key"], "", 4);
    assert_hidden(&out, "a key file whose address does not match");
    // A seed line with one digit too many.
    let long = env.write("long.key", format!("{SEED}0\n"));
    set_mode(&long, 0o600);
    let out = env.fail(&["address", "-k", "long.key"], "", 4);
    assert_hidden(&out, "a malformed seed line");
}

#[test]
fn a_seed_given_as_the_key_path_is_never_printed_back() {
    let env = Env::new();
    for upper in [false, true] {
        let seed = if upper {
            SEED.to_uppercase()
        } else {
            SEED.to_owned()
        };
        let by_flag = env.run(&["address", "-k", &seed], "");
        let mut cmd = env.cmd(&["address"]);
        cmd.env("GOSSIP_KEY", &seed);
        let by_env = crate::util::run_cmd(cmd, "");
        let nested = env.run(&["address", "-k", &format!("keys/{seed}.key")], "");
        for (out, what) in [(by_flag, "-k"), (by_env, "GOSSIP_KEY"), (nested, "a path")] {
            assert_eq!(out.code, 4, "{what}: {}", out.stderr);
            assert_hidden(&out, what);
            assert!(out.stderr.contains("not shown"), "{what}: {}", out.stderr);
        }
    }
}
