//! `gossip relay`'s flags (its scenarios are in tests/relay/): a followed
//! topic is `--topic`/`--topic-id`, as everywhere else, with the old
//! `--subscribe`/`--subscribe-id` kept as aliases; the help names TCP.

use crate::util::{Env, signed_bulletin};

const TS: u32 = 1_700_000_000;

fn delivered(env: &Env, follow: &[&str], input: &str) -> Vec<serde_json::Value> {
    let now = (TS + 10).to_string();
    let args = [
        &[
            "relay",
            "-k",
            "relay.key",
            "--no-sync",
            "--deliver",
            "-",
            "--now",
            &now,
        ][..],
        follow,
    ]
    .concat();
    env.ok(&args, input).json()
}

#[test]
fn topic_and_topic_id_follow_a_topic_and_the_old_names_still_do() {
    let env = Env::new();
    let to = env.keygen("relay.key");
    env.keygen("user.key");
    let m = signed_bulletin(&env, "chat", TS, "user.key", &to);
    let id = env.ok(&["topic", "chat"], "").text().trim().to_owned();
    for follow in [
        &["--topic", "chat"][..],
        &["--topic-id", &id],
        &["--subscribe", "chat"],
        &["--subscribe-id", &id],
    ] {
        let got = delivered(&env, follow, &m);
        assert_eq!(got.len(), 1, "{follow:?}");
        assert_eq!(got[0]["topic"], id.as_str(), "{follow:?}");
    }
    assert!(delivered(&env, &["--topic", "other"], &m).is_empty());
    let out = env.fail(&["relay", "-k", "relay.key", "--topic-id", "zz"], "", 2);
    assert_eq!(
        out.stderr,
        "gossip: relay: bad --topic-id 'zz': expected 64 hex digits\n"
    );
}

#[test]
fn the_help_names_tcp_and_the_topic_flags() {
    let env = Env::new();
    let top = env.ok(&["--help"], "").text();
    assert!(
        top.contains("  relay        Run one node on stdin/stdout and TCP (--listen, --connect)"),
        "{top}"
    );
    let help = env.ok(&["relay", "--help"], "").text();
    assert!(
        help.starts_with(
            "Run one node on stdin/stdout and TCP (--listen, --connect): verify, store, deliver and forward\n"
        ),
        "{help}"
    );
    assert!(help.contains("--topic <DESC>"), "{help}");
    assert!(help.contains("--topic-id <HEX>"), "{help}");
    assert!(!help.contains("--subscribe <"), "{help}");
}
