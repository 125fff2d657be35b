//! `gossip message new`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::util::{Env, bulletin_line, fixed_address};

fn body(v: &serde_json::Value) -> Vec<u8> {
    B64.decode(v["body"].as_str().unwrap()).unwrap()
}

#[test]
fn wraps_each_bulletin_behind_the_operation_byte() {
    let env = Env::new();
    let (a, b) = (fixed_address(&env, 1), fixed_address(&env, 2));
    let b1 = bulletin_line(&env, "chat", "one", 100);
    let b2 = bulletin_line(&env, "chat", "two", 101);
    let packed = env.ok(&["pack", "--hex"], format!("{b1}{b2}")).lines();
    let msgs = env
        .ok(
            &["message", "new", "--to", &b, "--from", &a, "--ts", "500"],
            format!("{b1}{b2}"),
        )
        .json();
    assert_eq!(msgs.len(), 2);
    for (m, p) in msgs.iter().zip(&packed) {
        assert_eq!(m["type"], "message");
        assert_eq!(m["dst"], b.as_str());
        assert_eq!(m["src"], a.as_str());
        assert_eq!(m["ts"], 500);
        assert_eq!(m["sig"], "00".repeat(64));
        assert_eq!(body(m), [vec![0u8], hex::decode(p).unwrap()].concat());
    }
}

#[test]
fn operation_and_key_and_body_file() {
    let env = Env::new();
    let a = env.keygen("a.key");
    let b = fixed_address(&env, 2);
    let line = bulletin_line(&env, "chat", "x", 100);
    let m = env
        .ok(
            &[
                "message",
                "new",
                "--to",
                &b,
                "-k",
                "a.key",
                "--op",
                "deliver_without_forward",
            ],
            &line,
        )
        .one();
    assert_eq!(m["src"], a.as_str());
    assert_eq!(body(&m)[0], 1);

    env.write("payload.bin", [7u8; 32]);
    let m = env
        .ok(
            &[
                "message",
                "new",
                "--to",
                &b,
                "--from",
                &a,
                "--op",
                "request_sync_headers",
                "--body-file",
                "payload.bin",
            ],
            "",
        )
        .one();
    assert_eq!(body(&m), [&[2u8][..], &[7u8; 32]].concat());
}

#[test]
fn reads_wire_bulletins_too() {
    let env = Env::new();
    let (a, b) = (fixed_address(&env, 1), fixed_address(&env, 2));
    let line = bulletin_line(&env, "chat", "x", 100);
    let wire = env.ok(&["pack"], &line).stdout;
    let from_json = env
        .ok(
            &["message", "new", "--to", &b, "--from", &a, "--ts", "1"],
            &line,
        )
        .one();
    let from_wire = env
        .ok(
            &["message", "new", "--to", &b, "--from", &a, "--ts", "1"],
            &wire,
        )
        .one();
    assert_eq!(from_json, from_wire);
}

#[test]
fn a_message_where_a_bulletin_is_required_is_exit_3() {
    let env = Env::new();
    let (a, b) = (fixed_address(&env, 1), fixed_address(&env, 2));
    let line = bulletin_line(&env, "chat", "x", 100);
    let msg = env
        .ok(&["message", "new", "--to", &b, "--from", &a], &line)
        .text();
    let out = env.fail(&["message", "new", "--to", &b, "--from", &a], &msg, 3);
    assert_eq!(
        out.stderr,
        "gossip: stdin object 1: wrong object type: expected bulletin, got message\n"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn malformed_input_is_exit_3_and_good_objects_still_pass() {
    let env = Env::new();
    let (a, b) = (fixed_address(&env, 1), fixed_address(&env, 2));
    let line = bulletin_line(&env, "chat", "x", 100);
    let args = ["message", "new", "--to", b.as_str(), "--from", a.as_str()];
    let out = env.fail(&args, format!("{line}{{not json\n{line}"), 3);
    assert_eq!(out.json().len(), 2);
    assert!(
        out.stderr.starts_with("gossip: stdin object 2: bad JSON"),
        "{}",
        out.stderr
    );
    let out = env.fail(&args, "garbage\n", 3);
    assert!(out.stdout.is_empty());
    let out = env.fail(&args, "{\"type\":\"bulletin\",\"topic\":\"zz\"}\n", 3);
    assert!(out.stderr.contains("bad field 'topic'"), "{}", out.stderr);
}

#[test]
fn bad_arguments() {
    let env = Env::new();
    let (a, b) = (fixed_address(&env, 1), fixed_address(&env, 2));
    let out = env.fail(&["message", "new", "--to", "xyz", "--from", &a], "", 2);
    assert!(
        out.stderr
            .starts_with("gossip: message new: bad --to address 'xyz': ")
    );
    let out = env.fail(
        &[
            "message", "new", "--to", &b, "--from", &a, "--op", "teleport",
        ],
        "",
        2,
    );
    assert!(
        out.stderr
            .starts_with("gossip: message new: unknown operation 'teleport': ")
    );
    env.usage(&["message", "new", "--to", &b], "");
    env.usage(&["message", "new", "--from", &a], "");
    env.fail(&["message", "new", "--to", &b, "-k", "nope.key"], "", 4);
    env.fail(
        &[
            "message",
            "new",
            "--to",
            &b,
            "--from",
            &a,
            "--body-file",
            "nope",
        ],
        "",
        4,
    );
}
