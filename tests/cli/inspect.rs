//! `gossip inspect`.

use crate::util::{Env, bulletin_line, cases, frame, hx, vectors_now};

#[test]
fn vector_bulletins_are_shown_with_their_checks() {
    let env = Env::new();
    let now = vectors_now().to_string();
    for c in cases("bulletins") {
        let out = env.ok(&["inspect", "--now", &now], frame(&hx(&c["packed"])));
        let text = out.text();
        let bits = c["leading_zero_bits"].as_u64().unwrap();
        assert!(text.starts_with("bulletin 1\n"), "{text}");
        assert!(text.contains("(matches content)"), "{text}");
        assert!(
            text.contains(&format!("work        {bits} leading zero bits")),
            "{text}"
        );
        assert!(
            text.contains(&format!("nonce       {}", c["nonce"])),
            "{text}"
        );
        let topic = hex::encode(sha2::Digest::finalize(
            <sha2::Sha256 as sha2::Digest>::new_with_prefix(hx(&c["topic_descriptor"])),
        ));
        assert!(text.contains(&topic), "{text}");
    }
}

#[test]
fn vector_messages_are_shown_sealed_with_a_valid_signature() {
    let env = Env::new();
    let now = vectors_now().to_string();
    for c in cases("messages") {
        let text = env
            .ok(&["inspect", "--now", &now], frame(&hx(&c["packed"])))
            .text();
        assert!(text.starts_with("message 1\n"), "{text}");
        assert!(text.contains(&format!("src         {}", c["src"].as_str().unwrap())));
        assert!(text.contains(&format!("dst         {}", c["dst"].as_str().unwrap())));
        assert!(text.contains("(valid)"), "{text}");
        assert!(text.contains("fresh"), "{text}");
        assert!(text.contains("sealed"), "{text}");
    }
}

#[test]
fn problems_are_flagged() {
    let env = Env::new();
    let now = vectors_now().to_string();
    // content id mismatch
    let mut packed = hx(&cases("bulletins")[0]["packed"]);
    packed[40] ^= 1;
    let text = env
        .ok(
            &["inspect", "--now", &now, "--type", "bulletin"],
            frame(&packed),
        )
        .text();
    assert!(text.contains("MISMATCH"), "{text}");
    // bad signature, stale
    let c = &cases("invalid_messages")
        .into_iter()
        .find(|c| c["why"].as_str().unwrap().contains("signature byte"))
        .unwrap();
    let later = (vectors_now() + 10_000).to_string();
    let text = env
        .ok(
            &["inspect", "--now", &later, "--type", "message"],
            frame(&hx(&c["packed"])),
        )
        .text();
    assert!(text.contains("(BAD)"), "{text}");
    assert!(text.contains("STALE"), "{text}");
}

#[test]
fn streams_of_both_kinds_are_numbered() {
    let env = Env::new();
    let b = bulletin_line(&env, "t", "hello", 1);
    let m = frame(&hx(&cases("messages")[0]["packed"]));
    let json_m = env.ok(&["unpack", "--type", "message"], &m).text();
    let text = env.ok(&["inspect"], format!("{b}{json_m}")).text();
    assert!(text.contains("bulletin 1\n"));
    assert!(text.contains("message 2\n"));
    assert!(text.contains("\"hello\""));
}

#[test]
fn malformed_input() {
    let env = Env::new();
    env.fail(&["inspect"], "garbage\n", 3);
    env.fail(&["inspect"], [0x04, 0xff, 0xff, 0xff], 3);
    env.fail(&["inspect"], [0, 0, 0, 80, 1], 3);
    let b = bulletin_line(&env, "t", "ok", 1);
    let out = env.fail(&["inspect"], format!("{b}{{\"type\":7}}\n{b}"), 3);
    assert_eq!(out.text().matches("bulletin ").count(), 2);
    env.usage(&["inspect", "--type", "key"], "");
}

/// A ts or nonce of 2^31 or more is read, and marked as one the original
/// (signed 32-bit ts and nonce) cannot read; one below is not marked.
#[test]
fn values_the_original_cannot_read_are_marked() {
    let env = Env::new();
    let make = |ts: &str, nonce: &str| {
        env.ok(
            &[
                "bulletin", "new", "--topic", "t", "--ts", ts, "--nonce", nonce, "x",
            ],
            "",
        )
        .stdout
    };
    let text = env.ok(&["inspect"], make("5", "2147483648")).text();
    assert!(
        text.contains("nonce       2147483648 (ORIGINAL CANNOT READ"),
        "{text}"
    );
    assert!(!text.contains("ts          5 (ORIGINAL"), "{text}");
    let text = env
        .ok(&["inspect"], make("4294967295", "2147483647"))
        .text();
    assert!(
        text.contains("ts          4294967295 (ORIGINAL CANNOT READ"),
        "{text}"
    );
    assert!(!text.contains("nonce       2147483647 (ORIGINAL"), "{text}");
}

#[test]
fn format_json_prints_one_inspection_per_object() {
    let env = Env::new();
    let line = bulletin_line(&env, "chat", "hi", 1_700_000_000);
    let out = env.ok(
        &["inspect", "--format", "json", "--now", "1700000010"],
        &line,
    );
    let v = out.one();
    assert_eq!(v["type"], "inspection");
    assert_eq!(v["index"], 1);
    assert_eq!(
        v["object"],
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    );
    let checks = &v["checks"];
    assert_eq!(checks["content_id_matches"], true);
    assert_eq!(checks["expired"], false);
    assert_eq!(checks["expires_at"], 1_700_003_600);
    assert_eq!(checks["original_can_read"], true);
    // --json is the same (an alias), and the two together are a usage error
    let alias = env.ok(&["inspect", "--json", "--now", "1700000010"], &line);
    assert_eq!(alias.stdout, out.stdout);
    let out = env.usage(&["inspect", "--json", "--format", "text"], &line);
    assert_eq!(
        out.stderr,
        "gossip: inspect: the argument '--json' cannot be used with '--format <FORMAT>'\n\
         hint: see 'gossip inspect --help'\n"
    );
}
