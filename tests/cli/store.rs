//! `gossip store`: the store is `--store DB` or the first argument, for
//! every subcommand.

use crate::util::{Env, signed_bulletin};

const TS: u32 = 1_700_000_000;

/// A store holding one bulletin on `chat`, written by a relay that follows
/// it with `--topic` (the relay's name for what it follows, as elsewhere).
fn a_store(env: &Env) -> String {
    let to = env.keygen("relay.key");
    env.keygen("user.key");
    let m = signed_bulletin(env, "chat", TS, "user.key", &to);
    let now = (TS + 10).to_string();
    let args = [
        "relay",
        "-k",
        "relay.key",
        "--topic",
        "chat",
        "--store",
        "bob.db",
        "--deliver",
        "-",
        "--now",
        &now,
    ];
    let delivered = env.ok(&args, &m).one();
    delivered["content_id"].as_str().unwrap().to_owned()
}

#[test]
fn the_store_is_a_flag_or_the_first_argument() {
    let env = Env::new();
    let id = a_store(&env);
    let now = (TS + 10).to_string();
    let cases: [(&[&str], &[&str]); 7] = [
        (&["list"], &[]),
        (&["get"], &[&id]),
        (&["query"], &["--topic", "chat"]),
        (&["code"], &[]),
        (&["peers"], &[]),
        (&["purge"], &["--now", &now]),
        (&["rotate"], &[]),
    ];
    for (sub, rest) in cases {
        let flag = [&["store"], sub, &["--store", "bob.db"], rest].concat();
        let positional = [&["store"], sub, &["bob.db"], rest].concat();
        let by_flag = env.ok(&flag, "");
        let by_position = env.ok(&positional, "");
        assert_eq!(by_flag.stdout, by_position.stdout, "{sub:?}");
    }
    assert_eq!(
        env.ok(&["store", "list", "bob.db"], "").one()["content_id"],
        id.as_str()
    );
}

#[test]
fn a_store_is_required_once() {
    let env = Env::new();
    let out = env.usage(&["store", "list"], "");
    assert_eq!(
        out.stderr,
        "gossip: store list: the following required arguments were not provided: <--store <DB>|DB>\n\
         hint: see 'gossip store list --help'\n"
    );
    let out = env.usage(&["store", "list", "a.db", "--store", "b.db"], "");
    assert_eq!(
        out.stderr,
        "gossip: store list: the argument '[DB]' cannot be used with '--store <DB>'\n\
         hint: see 'gossip store list --help'\n"
    );
    // get: the content id alone is the content id, not the store
    let z = "00".repeat(32);
    let out = env.usage(&["store", "get", &z], "");
    assert!(
        out.stderr
            .starts_with("gossip: store get: the following required arguments were not provided: <--store <DB>|DB>"),
        "{}",
        out.stderr
    );
}
