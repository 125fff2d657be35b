//! Issue 10: a bulletin's identity is (topic id, content id), through the
//! real `gossip relay`: the same content under two followed topics is
//! delivered under each, a re-stamped copy (same topic and content, another
//! ts and nonce) is a duplicate, across a restart on the same store too.

use crate::util::{Env, signed_bulletin};

const TS: u32 = 1_700_000_000;

fn relay(env: &Env, input: &str) -> Vec<serde_json::Value> {
    let now = (TS + 10).to_string();
    let args = [
        "relay",
        "-k",
        "relay.key",
        "--subscribe",
        "junk",
        "--subscribe",
        "news",
        "--store",
        "relay.db",
        "--deliver",
        "-",
        "--now",
        &now,
    ];
    let out = env.run(&args, input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.json()
}

#[test]
fn same_content_under_two_topics_is_delivered_twice_a_restamped_copy_once() {
    let env = Env::new();
    let to = env.keygen("relay.key");
    env.keygen("user.key");
    let m = |topic: &str, ts: u32| signed_bulletin(&env, topic, ts, "user.key", &to);
    let input = [m("junk", TS), m("news", TS), m("news", TS + 1)].concat();
    let delivered = relay(&env, &input);
    let topics: Vec<&str> = delivered
        .iter()
        .map(|b| b["topic"].as_str().unwrap())
        .collect();
    assert_eq!(delivered.len(), 2, "{delivered:?}");
    assert_ne!(topics[0], topics[1]);
    assert_eq!(delivered[0]["content_id"], delivered[1]["content_id"]);
    assert_eq!(delivered[1]["ts"], TS, "the first copy, not the re-stamp");

    // Restarted on the same store: re-stamped copies under either topic
    // stay duplicates; `store get` shows the content under both topics.
    let again = [m("junk", TS + 2), m("news", TS + 3)].concat();
    assert!(relay(&env, &again).is_empty());
    let id = delivered[0]["content_id"].as_str().unwrap();
    let held = env
        .ok(&["store", "get", "--store", "relay.db", id], "")
        .json();
    assert_eq!(held.len(), 2, "{held:?}");
}
