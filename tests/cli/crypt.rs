//! `gossip encrypt` and `gossip decrypt`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::util::{Env, bulletin_line, fixed_address};

fn body(v: &serde_json::Value) -> Vec<u8> {
    B64.decode(v["body"].as_str().unwrap()).unwrap()
}

/// An unsigned plaintext message from a fixed address to `b.key`'s.
fn plain_message(env: &Env) -> String {
    let a = fixed_address(env, 1);
    let b = env.keygen("b.key");
    let line = bulletin_line(env, "chat", "secret", 100);
    env.ok(
        &["message", "new", "--to", &b, "--from", &a, "--ts", "200"],
        line,
    )
    .text()
}

#[test]
fn encrypt_then_decrypt_gives_the_body_back() {
    let env = Env::new();
    let plain = plain_message(&env);
    for cipher in ["xsalsa20poly1305", "xchacha20poly1305"] {
        let sealed = env.ok(&["encrypt", "--cipher", cipher], &plain);
        let s = sealed.one();
        let p: serde_json::Value = serde_json::from_str(&plain).unwrap();
        assert_eq!(body(&s).len(), body(&p).len() + 48, "{cipher}");
        assert_ne!(body(&s), body(&p));
        for field in ["dst", "src", "ts", "nonce", "sig"] {
            assert_eq!(s[field], p[field]);
        }
        let opened = env.ok(&["decrypt", "-k", "b.key"], &sealed.stdout).one();
        assert_eq!(opened, p, "{cipher}");
    }
}

#[test]
fn two_seals_of_the_same_body_differ() {
    let env = Env::new();
    let plain = plain_message(&env);
    let a = env.ok(&["encrypt"], &plain).one();
    let b = env.ok(&["encrypt"], &plain).one();
    assert_ne!(a["body"], b["body"]);
}

#[test]
fn decrypt_with_the_wrong_key_is_exit_1() {
    let env = Env::new();
    let plain = plain_message(&env);
    env.keygen("c.key");
    let sealed = env.ok(&["encrypt"], &plain).stdout;
    let out = env.fail(&["decrypt", "-k", "c.key"], &sealed, 1);
    assert!(
        out.stderr
            .starts_with("gossip: stdin object 1: cannot decrypt: message is for ")
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn decrypt_of_a_body_that_is_not_sealed_is_exit_1() {
    let env = Env::new();
    let plain = plain_message(&env);
    let out = env.fail(&["decrypt", "-k", "b.key"], &plain, 1);
    assert!(
        out.stderr
            .starts_with("gossip: stdin object 1: cannot decrypt: ")
    );
}

#[test]
fn bulletins_are_the_wrong_type() {
    let env = Env::new();
    env.keygen("b.key");
    let line = bulletin_line(&env, "chat", "x", 1);
    let out = env.fail(&["encrypt"], &line, 3);
    assert!(
        out.stderr
            .contains("wrong object type: expected message, got bulletin")
    );
    env.fail(&["decrypt", "-k", "b.key"], &line, 3);
}

#[test]
fn encrypt_to_an_address_that_is_not_a_point_is_exit_1() {
    let env = Env::new();
    let a = fixed_address(&env, 1);
    // y = 2 is not on the curve
    let mut bad = [0u8; 32];
    bad[0] = 2;
    let bad = hex::encode(bad);
    let line = bulletin_line(&env, "chat", "x", 1);
    let msg = env
        .ok(&["message", "new", "--to", &bad, "--from", &a], line)
        .text();
    let out = env.fail(&["encrypt"], &msg, 1);
    assert!(
        out.stderr
            .starts_with("gossip: stdin object 1: cannot encrypt: ")
    );
}

#[test]
fn errors() {
    let env = Env::new();
    env.usage(&["encrypt", "--cipher", "rot13"], "");
    env.usage(&["decrypt"], "");
    env.fail(&["decrypt", "-k", "nope.key"], "", 4);
    env.fail(&["encrypt"], "garbage", 3);
    env.fail(&["encrypt"], [0x04, 0xff, 0xff, 0xff], 3);
}
