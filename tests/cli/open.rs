//! `gossip open`.

use crate::util::{Env, bulletin_line, cases, frame, hx, num, vectors_now};

#[test]
fn vector_messages_open_to_their_bulletins() {
    let env = Env::new();
    let now = vectors_now().to_string();
    for (i, c) in cases("messages").iter().enumerate() {
        let key = format!("dst{i}.key");
        env.seed_key(&key, c["dst_seed"].as_str().unwrap());
        let wire = frame(&hx(&c["packed"]));
        let out = env.ok(
            &[
                "open",
                "-k",
                &key,
                "--now",
                &now,
                "-d",
                &num(&c["difficulty"]),
            ],
            &wire,
        );
        let hexed = env.ok(&["pack", "--hex"], &out.stdout).text();
        let plain = hx(&c["plaintext_body"]);
        assert_eq!(plain[0], 0, "store_and_forward");
        assert_eq!(hexed.trim(), hex::encode(&plain[1..]));
        let wire_out = env.ok(
            &[
                "open",
                "-k",
                &key,
                "--now",
                &now,
                "-d",
                &num(&c["difficulty"]),
                "--format",
                "wire",
            ],
            &wire,
        );
        assert_eq!(wire_out.stdout, frame(&plain[1..]));
    }
}

#[test]
fn open_rejects_with_the_reasons() {
    let env = Env::new();
    let c = &cases("messages")[0];
    env.seed_key("src.key", c["src_seed"].as_str().unwrap());
    let now = vectors_now().to_string();
    let out = env.fail(
        &["open", "-k", "src.key", "--now", &now],
        frame(&hx(&c["packed"])),
        1,
    );
    assert!(
        out.stderr
            .starts_with("gossip: stdin object 1: rejected: wrong_destination"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_payload_that_is_not_a_bulletin_is_exit_1() {
    let env = Env::new();
    let b = env.keygen("b.key");
    env.keygen("a.key");
    env.write("p.bin", [9u8; 32]);
    let msg = env
        .ok(
            &[
                "message",
                "new",
                "-k",
                "a.key",
                "--to",
                &b,
                "--op",
                "request_sync_headers",
                "--body-file",
                "p.bin",
            ],
            "",
        )
        .stdout;
    let msg = env.ok(&["encrypt"], msg).stdout;
    let msg = env.ok(&["sign", "-k", "a.key"], msg).stdout;
    let msg = env.ok(&["hashcash"], msg).stdout;
    env.ok(&["verify", "-k", "b.key"], &msg);
    let out = env.fail(&["open", "-k", "b.key"], &msg, 1);
    assert_eq!(
        out.stderr,
        "gossip: stdin object 1: carries request_sync_headers, not a bulletin\n"
    );
}

#[test]
fn open_reads_messages_only() {
    let env = Env::new();
    env.keygen("b.key");
    let line = bulletin_line(&env, "t", "x", 1);
    let out = env.fail(&["open", "-k", "b.key"], line, 3);
    assert!(out.stderr.contains("expected message, got bulletin"));
}

#[test]
fn errors() {
    let env = Env::new();
    env.usage(&["open"], "");
    env.fail(&["open", "-k", "nope.key"], "", 4);
    env.keygen("b.key");
    env.fail(&["open", "-k", "b.key"], "garbage", 3);
    env.fail(&["open", "-k", "b.key"], [0x04, 0xff, 0xff, 0xff], 3);
    env.fail(&["open", "-k", "b.key", "-i", "missing.json"], "", 4);
}

#[test]
fn a_stale_message_is_refused_with_a_hint_about_now() {
    let env = Env::new();
    env.keygen("a.key");
    let b = env.keygen("b.key");
    let m = crate::util::signed_bulletin(&env, "chat", 1_700_000_000, "a.key", &b);
    let out = env.fail(&["open", "-k", "b.key", "--now", "1700003601"], &m, 1);
    assert_eq!(
        out.stderr,
        "gossip: stdin object 1: rejected: too_old, expired\n\
         hint: a message is valid for 300 s after its ts and a bulletin for 3600 s, against the clock or --now TS: to check this one as of its making, pass --now 1700000000\n"
    );
}
