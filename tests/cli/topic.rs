//! `gossip topic`.

use serde_json::Value;

use crate::util::{Env, cases, hx, vectors};

const TEST_CHANNEL: &str = "a1b22f49b878ed38e3a9f0ab3dab5b5dda30bc7dfe1d9502b32393f53aac74a0";

#[test]
fn descriptor_gives_its_sha256() {
    let env = Env::new();
    assert_eq!(
        env.ok(&["topic", "test channel"], "").text(),
        format!("{TEST_CHANNEL}\n")
    );
}

#[test]
fn vector_topics_by_text_and_by_hex() {
    let env = Env::new();
    for c in cases("topics") {
        let expected = c["topic_id"].as_str().unwrap();
        let desc = c["descriptor"].as_str().unwrap();
        if !desc.is_empty() {
            let out = env.ok(&["topic", "--hex", desc], "");
            assert_eq!(out.text().trim(), expected);
        }
        if let Ok(text) = String::from_utf8(hx(&c["descriptor"])) {
            let out = env.ok(&["topic", &text], "");
            assert_eq!(out.text().trim(), expected, "{text:?}");
        }
    }
}

#[test]
fn beacon_topic() {
    let env = Env::new();
    let beacon = cases("topics")
        .into_iter()
        .find(|c| hx(&c["descriptor"]) == b"node beacon channel")
        .unwrap();
    assert_eq!(
        env.ok(&["topic", "--beacon"], "").text().trim(),
        beacon["topic_id"].as_str().unwrap()
    );
}

#[test]
fn inbox_topic_matches_vector() {
    let env = Env::new();
    let v = &vectors()["inbox_topic"];
    let out = env.ok(
        &[
            "topic",
            "--inbox",
            v["address"].as_str().unwrap(),
            "--delivery-code",
            v["delivery_code"].as_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.text().trim(), v["topic_id"].as_str().unwrap());
}

#[test]
fn json_output_names_topic_and_descriptor() {
    let env = Env::new();
    let v: Value = env.ok(&["topic", "--json", "test channel"], "").one();
    assert_eq!(v["type"], "topic");
    assert_eq!(v["topic"], TEST_CHANNEL);
    assert_eq!(v["descriptor"], hex::encode("test channel"));
}

#[test]
fn bad_hex_is_exit_2() {
    let env = Env::new();
    let out = env.fail(&["topic", "--hex", "zz"], "", 2);
    assert!(out.stderr.starts_with("gossip: topic: bad --hex 'zz': "));
    env.fail(&["topic", "--hex", "abc"], "", 2);
}

#[test]
fn bad_inbox_arguments_are_exit_2() {
    let env = Env::new();
    let addr = vectors()["inbox_topic"]["address"].as_str().unwrap();
    let out = env.fail(&["topic", "--inbox", addr, "--delivery-code", "00"], "", 2);
    assert!(
        out.stderr
            .starts_with("gossip: topic: bad --delivery-code '00': ")
    );
    env.fail(
        &[
            "topic",
            "--inbox",
            "xyz",
            "--delivery-code",
            &"00".repeat(8),
        ],
        "",
        2,
    );
    env.usage(&["topic", "--inbox", addr], "");
    env.usage(&["topic", "--delivery-code", &"00".repeat(8)], "");
}

#[test]
fn topic_needs_exactly_one_source() {
    let env = Env::new();
    env.usage(&["topic"], "");
    env.usage(&["topic", "x", "--beacon"], "");
    env.usage(&["topic", "--frobnicate"], "");
}

#[test]
fn format_json_and_the_json_alias_agree() {
    let env = Env::new();
    let json = env.ok(&["topic", "chat", "--format", "json"], "").stdout;
    assert_eq!(env.ok(&["topic", "chat", "--json"], "").stdout, json);
    let text = env.ok(&["topic", "chat", "--format", "text"], "").stdout;
    assert_eq!(env.ok(&["topic", "chat"], "").stdout, text);
    let v: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        format!("{}\n", v["topic"].as_str().unwrap()).as_bytes(),
        text
    );
}
