//! `gossip sign`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use gossip::codec::{Kind, Object, ObjectReader};

use crate::util::{Env, Live, bulletin_line, fixed_address};

fn message(stream: &[u8]) -> gossip::RawMessage {
    match ObjectReader::new(stream, Kind::Message)
        .next()
        .unwrap()
        .unwrap()
    {
        Object::Message(m) => m,
        Object::Bulletin(_) => unreachable!(),
    }
}

const NOW: &str = "1764000060";

/// A bulletin mined to the default 7 bits at ts NOW.
fn mined_bulletin(env: &Env, text: &str) -> Vec<u8> {
    let line = bulletin_line(env, "chat", text, NOW.parse().unwrap());
    env.ok(&["hashcash"], line).stdout
}

#[test]
fn a_bulletin_becomes_an_encrypted_signed_mined_message() {
    let env = Env::new();
    let a = env.keygen("a.key");
    let b = env.keygen("b.key");
    let bulletin = mined_bulletin(&env, "hi");
    let out = env.ok(
        &["sign", "-k", "a.key", "--to", &b, "--now", NOW, "-d", "5"],
        &bulletin,
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let v = out.one();
    assert_eq!(v["src"], a.as_str());
    assert_eq!(v["dst"], b.as_str());
    assert_eq!(v["ts"], 1764000060);
    let m = message(&out.stdout);
    assert!(m.work().bits() >= 5);
    assert!(gossip::crypto::verify(&m.src, &m.signed_bytes(), &m.sig));
    // the body is sealed: not the plaintext payload
    let plain = [&[0u8][..], &env.ok(&["pack", "--raw"], &bulletin).stdout].concat();
    assert_eq!(
        B64.decode(v["body"].as_str().unwrap()).unwrap().len(),
        plain.len() + 48
    );
    let opened = env.ok(&["open", "-k", "b.key", "--now", NOW], &out.stdout);
    assert_eq!(opened.stdout, bulletin);
}

#[test]
fn a_bulletin_without_a_destination_is_a_usage_error() {
    let env = Env::new();
    let a = env.keygen("a.key");
    let out = env.fail(
        &["sign", "-k", "a.key", "--now", NOW],
        mined_bulletin(&env, "to whom?"),
        2,
    );
    assert_eq!(
        out.stderr,
        format!(
            "gossip: stdin object 1: no destination: a bulletin is wrapped in a message to --to ADDR, and none was given\n\
             hint: pass --to ADDR (the receiver's `gossip address`), or --to-self for {a}\n"
        )
    );
    assert!(out.stdout.is_empty());
    // --to and --to-self together are clap's usage error.
    let b = fixed_address(&env, 2);
    env.usage(&["sign", "-k", "a.key", "--to", &b, "--to-self"], "");
}

#[test]
fn to_self_addresses_the_key_itself() {
    let env = Env::new();
    let a = env.keygen("a.key");
    let out = env.ok(
        &["sign", "-k", "a.key", "--to-self", "--now", NOW],
        mined_bulletin(&env, "self"),
    );
    assert_eq!(out.one()["dst"], a.as_str());
    env.ok(&["verify", "-k", "a.key", "--now", NOW], &out.stdout);
}

#[test]
fn xchacha_messages_verify_and_open() {
    let env = Env::new();
    env.keygen("a.key");
    let b = env.keygen("b.key");
    let bulletin = mined_bulletin(&env, "xchacha");
    let msg = env
        .ok(
            &[
                "sign",
                "-k",
                "a.key",
                "--to",
                &b,
                "--cipher",
                "xchacha20poly1305",
                "--now",
                NOW,
            ],
            &bulletin,
        )
        .stdout;
    let v = env.ok(&["verify", "-k", "b.key", "--now", NOW], &msg);
    assert_eq!(v.text(), "1 message: valid\n");
    assert_eq!(
        env.ok(&["open", "-k", "b.key", "--now", NOW], &msg).stdout,
        bulletin
    );
    env.ok(&["decrypt", "-k", "b.key"], &msg);
}

#[test]
fn no_encrypt_messages_verify_with_plaintext() {
    let env = Env::new();
    env.keygen("a.key");
    let b = env.keygen("b.key");
    let bulletin = mined_bulletin(&env, "in the clear");
    let msg = env
        .ok(
            &[
                "sign",
                "-k",
                "a.key",
                "--to",
                &b,
                "--no-encrypt",
                "--now",
                NOW,
            ],
            &bulletin,
        )
        .stdout;
    let v = env
        .ok(&["verify", "--plaintext", "--now", NOW, "--json"], &msg)
        .one();
    assert_eq!(v["valid"], true);
    assert_eq!(v["op"], "store_and_forward");
    let out = env.run(&["verify", "-k", "b.key", "--now", NOW], &msg);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.ends_with(b"invalid: undecryptable\n"),
        "{}",
        out.text()
    );
    // the plaintext body is the store_and_forward payload
    let v: serde_json::Value = serde_json::from_slice(&msg).unwrap();
    let body = B64.decode(v["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        [&[0u8][..], &env.ok(&["pack", "--raw"], &bulletin).stdout].concat()
    );
}

#[test]
fn a_message_is_signed_as_it_is() {
    let env = Env::new();
    let a = env.keygen("a.key");
    let b = fixed_address(&env, 2);
    let bulletin = mined_bulletin(&env, "m");
    let unsigned = env
        .ok(
            &["message", "new", "--to", &b, "-k", "a.key", "--ts", NOW],
            &bulletin,
        )
        .text();
    let signed = env.ok(&["sign", "-k", "a.key"], &unsigned);
    let (u, s): (serde_json::Value, serde_json::Value) =
        (serde_json::from_str(&unsigned).unwrap(), signed.one());
    for f in ["dst", "src", "ts", "nonce", "body"] {
        assert_eq!(u[f], s[f], "{f}");
    }
    assert_ne!(s["sig"], "00".repeat(64));
    let m = message(&signed.stdout);
    assert!(gossip::crypto::verify(&m.src, &m.signed_bytes(), &m.sig));
    assert_eq!(s["src"], a.as_str());
}

#[test]
fn a_message_from_someone_else_is_exit_1() {
    let env = Env::new();
    env.keygen("a.key");
    let (x, b) = (fixed_address(&env, 1), fixed_address(&env, 2));
    let bulletin = mined_bulletin(&env, "m");
    let unsigned = env
        .ok(&["message", "new", "--to", &b, "--from", &x], &bulletin)
        .stdout;
    let out = env.fail(&["sign", "-k", "a.key"], &unsigned, 1);
    assert!(
        out.stderr
            .starts_with("gossip: stdin object 1: cannot sign: its src ")
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn an_unmined_bulletin_gets_a_warning() {
    let env = Env::new();
    env.keygen("a.key");
    // find a ts whose nonce-0 header is below 7 bits (almost all are)
    let line = (0..50)
        .map(|ts| bulletin_line(&env, "chat", "weak", ts))
        .find(|l| env.run(&["hashcash", "--check", "-d", "7"], l).code == 1)
        .expect("a weak bulletin");
    let out = env.ok(&["sign", "-k", "a.key", "--to-self", "--now", NOW], &line);
    assert!(
        out.stderr.starts_with("gossip: warning: stdin object 1: "),
        "{}",
        out.stderr
    );
}

#[test]
fn errors() {
    let env = Env::new();
    env.keygen("a.key");
    env.fail(&["sign", "-k", "nope.key"], "", 4);
    let out = env.fail(&["sign", "-k", "a.key", "--to", "abc"], "", 2);
    assert!(
        out.stderr
            .starts_with("gossip: sign: bad --to address 'abc': ")
    );
    assert!(
        out.stderr
            .contains("\nhint: print a key file's address with `gossip address -k FILE`\n"),
        "{}",
        out.stderr
    );
    env.fail(&["sign", "-k", "a.key", "--now", "99999999999"], "", 2);
    env.usage(&["sign"], "");
    env.usage(&["sign", "-k", "a.key", "--cipher", "des"], "");
    env.fail(&["sign", "-k", "a.key"], "garbage", 3);
    env.fail(&["sign", "-k", "a.key"], "{\"type\":\"message\"}\n", 3);
}

#[test]
fn plaintext_messages_still_check_the_destination_with_a_key() {
    let env = Env::new();
    env.keygen("a.key");
    let b = env.keygen("b.key");
    env.keygen("c.key");
    let bulletin = mined_bulletin(&env, "for b only");
    let msg = env
        .ok(
            &[
                "sign",
                "-k",
                "a.key",
                "--to",
                &b,
                "--no-encrypt",
                "--now",
                NOW,
            ],
            &bulletin,
        )
        .stdout;
    let args = |key: &'static str| ["verify", "--plaintext", "-k", key, "--now", NOW];
    assert_eq!(env.ok(&args("b.key"), &msg).text(), "1 message: valid\n");
    let out = env.run(&args("c.key"), &msg);
    assert_eq!(out.code, 1);
    assert_eq!(out.text(), "1 message: invalid: wrong_destination\n");
    let out = env.fail(
        &["open", "--plaintext", "-k", "c.key", "--now", NOW],
        &msg,
        1,
    );
    assert!(out.stderr.contains("wrong_destination"), "{}", out.stderr);
    assert_eq!(
        env.ok(&["open", "--plaintext", "-k", "b.key", "--now", NOW], &msg)
            .stdout,
        bulletin
    );
}

#[test]
fn sign_streams_each_message_as_mined_and_sigterm_writes_the_mined_prefix() {
    // sign mines as hashcash does: 40 bulletins waiting, stdin open, the
    // first message comes out alone; SIGTERM then writes what is mined,
    // each message whole and valid, and exits 143.
    let env = Env::new();
    env.keygen("a.key");
    let lines: String = (0..40)
        .map(|i| bulletin_line(&env, "chat", &format!("b{i}"), 1000 + i))
        .collect();
    let live = Live::start(
        &env,
        &["sign", "-k", "a.key", "--to-self", "--now", NOW, "-d", "8"],
        &lines,
    );
    let first = live.next_chunk();
    let at_once = first.iter().filter(|&&c| c == b'\n').count();
    assert!(at_once < 40, "the first output held all {at_once} messages");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &live.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (code, rest, err) = live.finish();
    assert_eq!(code, Some(143), "exit on SIGTERM: {err}");
    let out = [first, rest].concat();
    let n = out.iter().filter(|&&c| c == b'\n').count();
    assert!((1..40).contains(&n), "{n} of 40 written");
    env.ok(&["hashcash", "--check", "-d", "8"], &out);
    assert!(
        err.contains(&format!("gossip: sign: SIGTERM: {n} objects written")),
        "{err}"
    );
}
