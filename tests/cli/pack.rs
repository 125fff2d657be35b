//! `gossip pack` and `gossip unpack`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::util::{Env, bulletin_line, cases, frame, hx, signed_bulletin};

/// Every vector object as (type, packed hex).
fn vector_objects() -> Vec<(&'static str, String)> {
    let mut all = Vec::new();
    for c in cases("bulletins") {
        all.push(("bulletin", c["packed"].as_str().unwrap().to_owned()));
    }
    for c in cases("messages") {
        all.push(("message", c["packed"].as_str().unwrap().to_owned()));
    }
    all
}

#[test]
fn unpack_hex_then_pack_hex_gives_the_same_bytes() {
    let env = Env::new();
    for (ty, packed) in vector_objects() {
        let json = env.ok(&["unpack", "--type", ty, "--hex"], format!("{packed}\n"));
        let v = json.one();
        assert_eq!(v["type"], ty);
        let back = env.ok(&["pack", "--hex"], &json.stdout).text();
        assert_eq!(back, format!("{packed}\n"), "{ty}");
    }
}

#[test]
fn unpack_fields_match_the_vectors() {
    let env = Env::new();
    for c in cases("bulletins") {
        let v = env
            .ok(
                &["unpack", "--type", "bulletin", "--hex"],
                c["packed"].as_str().unwrap(),
            )
            .one();
        assert_eq!(v["ts"], c["ts"]);
        assert_eq!(v["nonce"], c["nonce"]);
        assert_eq!(
            B64.decode(v["content"].as_str().unwrap()).unwrap(),
            hx(&c["content"])
        );
    }
    for c in cases("messages") {
        let v = env
            .ok(
                &["unpack", "--type", "message", "--hex"],
                c["packed"].as_str().unwrap(),
            )
            .one();
        for f in ["src", "dst", "ts", "nonce", "sig"] {
            assert_eq!(v[f], c[f], "{f}");
        }
    }
}

#[test]
fn base64_raw_and_wire_round_trips() {
    let env = Env::new();
    for (ty, packed_hex) in vector_objects() {
        let packed = hex::decode(&packed_hex).unwrap();
        let b64 = B64.encode(&packed);
        let json = env
            .ok(&["unpack", "--type", ty, "--base64"], format!("{b64}\n"))
            .stdout;
        assert_eq!(
            env.ok(&["pack", "--base64"], &json).text(),
            format!("{b64}\n")
        );
        assert_eq!(env.ok(&["pack", "--raw"], &json).stdout, packed);
        let raw_json = env.ok(&["unpack", "--type", ty, "--raw"], &packed).stdout;
        assert_eq!(raw_json, json);
        // default: wire frames both ways
        let wire = env.ok(&["pack"], &json).stdout;
        assert_eq!(wire, frame(&packed));
        assert_eq!(env.ok(&["unpack", "--type", ty], &wire).stdout, json);
        // pack of wire input re-frames the same bytes
        assert_eq!(env.ok(&["pack"], &wire).stdout, wire);
    }
}

#[test]
fn several_objects_one_per_line() {
    let env = Env::new();
    let all: Vec<String> = cases("bulletins")
        .iter()
        .map(|c| c["packed"].as_str().unwrap().to_owned())
        .collect();
    let input = format!("{}\n\n", all.join("\n"));
    let json = env.ok(&["unpack", "--type", "bulletin", "--hex"], &input);
    assert_eq!(json.json().len(), all.len());
    assert_eq!(env.ok(&["pack", "--hex"], &json.stdout).lines(), all);
}

#[test]
fn pack_raw_refuses_a_second_object() {
    let env = Env::new();
    let b = bulletin_line(&env, "t", "x", 1);
    let out = env.fail(&["pack", "--raw"], format!("{b}{b}"), 3);
    assert!(
        out.stderr
            .starts_with("gossip: pack --raw: more than one object")
    );
    assert!(out.stderr.contains("hint: "));
}

#[test]
fn unpack_bad_text_is_exit_3_and_other_lines_still_convert() {
    let env = Env::new();
    let p = cases("bulletins")[0]["packed"].as_str().unwrap().to_owned();
    let out = env.fail(
        &["unpack", "--type", "bulletin", "--hex"],
        format!("{p}\nzz\n{p}\n"),
        3,
    );
    assert_eq!(out.json().len(), 2);
    assert!(
        out.stderr.starts_with("gossip: stdin object 2: bad hex"),
        "{}",
        out.stderr
    );
    let out = env.fail(&["unpack", "--type", "bulletin", "--base64"], "!!!!\n", 3);
    assert!(
        out.stderr.starts_with("gossip: stdin object 1: bad base64"),
        "{}",
        out.stderr
    );
    // too short for a bulletin header / a message header
    let out = env.fail(&["unpack", "--type", "bulletin", "--hex"], "00ff\n", 3);
    assert!(out.stdout.is_empty());
    env.fail(
        &["unpack", "--type", "message", "--hex"],
        format!("{}\n", "00".repeat(135)),
        3,
    );
    env.fail(&["unpack", "--type", "message", "--raw"], [0u8; 10], 3);
}

#[test]
fn unpack_of_bad_wire_frames_is_exit_3() {
    let env = Env::new();
    let p = hx(&cases("bulletins")[0]["packed"]);
    // good frame, then truncated frame
    let mut input = frame(&p);
    input.extend_from_slice(&frame(&p)[..40]);
    let out = env.fail(&["unpack", "--type", "bulletin"], &input, 3);
    assert_eq!(out.json().len(), 1);
    assert!(out.stderr.contains("truncated frame"), "{}", out.stderr);
    // oversized length prefix
    let out = env.fail(
        &["unpack", "--type", "bulletin"],
        [0x04, 0xff, 0xff, 0xff, 0, 0],
        3,
    );
    assert!(out.stdout.is_empty());
    env.fail(&["unpack", "--type", "bulletin"], "garbage", 3);
}

#[test]
fn pack_keeps_objects_before_a_bad_one() {
    let env = Env::new();
    let b = bulletin_line(&env, "t", "kept", 1);
    let out = env.fail(
        &["pack", "--hex"],
        format!("{b}{{\"type\":\"bulletin\"}}\n"),
        3,
    );
    assert_eq!(out.lines().len(), 1);
    assert_eq!(out.lines()[0], env.ok(&["pack", "--hex"], &b).text().trim());
    assert!(
        out.stderr.starts_with("gossip: stdin object 2: bad field"),
        "{}",
        out.stderr
    );
    let out = env.fail(
        &["pack", "--hex"],
        format!("{b}{{\"type\":\"message\",\"dst\":1}}\n{b}"),
        3,
    );
    assert_eq!(out.lines().len(), 2);
    env.fail(&["pack", "--hex"], "garbage", 3);
    env.fail(&["pack", "--hex"], "{\"type\":\"bulletin\",\"topic\":\"00\",\"content_id\":\"00\",\"ts\":1,\"nonce\":1,\"content\":\"\"}\n", 3);
    env.fail(&["pack", "--hex"], "{\"type\":\"bulletin\",\"ts\":-1}\n", 3);
}

#[test]
fn pack_ignores_unknown_fields() {
    let env = Env::new();
    let b = bulletin_line(&env, "t", "x", 1);
    let mut v: serde_json::Value = serde_json::from_str(&b).unwrap();
    v["comment"] = "extra".into();
    assert_eq!(
        env.ok(&["pack", "--hex"], format!("{v}\n")).text(),
        env.ok(&["pack", "--hex"], &b).text()
    );
}

#[test]
fn flag_errors() {
    let env = Env::new();
    env.usage(&["unpack", "--hex"], "");
    env.usage(&["unpack", "--type", "key"], "");
    env.usage(&["pack", "--hex", "--base64"], "");
    env.fail(&["pack", "-i", "nope.json"], "", 4);
}

/// A message to b.key (a bulletin's wire frame read back would have to say so).
fn a_message(env: &Env) -> String {
    env.keygen("a.key");
    let b = env.keygen("b.key");
    signed_bulletin(env, "chat", 1_700_000_000, "a.key", &b)
}

#[test]
fn unpack_refuses_bytes_that_are_not_the_asked_type() {
    let env = Env::new();
    let m = a_message(&env);
    let wire = env.ok(&["pack"], &m).stdout;
    let out = env.fail(&["unpack", "--type", "bulletin"], &wire, 3);
    assert_eq!(
        out.stderr,
        "gossip: stdin object 1: not a bulletin: its content id is not the SHA-256 of its content\n\
         hint: is it a message? try `gossip unpack --type message`\n"
    );
    assert!(out.stdout.is_empty());
    // the same through --hex and --raw
    let hex = env.ok(&["pack", "--hex"], &m).stdout;
    let out = env.fail(&["unpack", "--type", "bulletin", "--hex"], &hex, 3);
    assert!(
        out.stderr
            .starts_with("gossip: stdin object 1: not a bulletin: ")
    );
    let raw = env.ok(&["pack", "--raw"], &m).stdout;
    env.fail(&["unpack", "--type", "bulletin", "--raw"], &raw, 3);
    // and a bulletin long enough to be read as a message is not one
    let long = "x".repeat(100);
    let b = bulletin_line(&env, "chat", &long, 1_700_000_000);
    let wire = env.ok(&["pack"], &b).stdout;
    let out = env.fail(&["unpack", "--type", "message"], &wire, 3);
    assert_eq!(
        out.stderr,
        "gossip: stdin object 1: not a message: its bytes are a bulletin's (the content id is the SHA-256 of the content)\n\
         hint: try `gossip unpack --type bulletin`\n"
    );
    // the right type still reads
    assert_eq!(
        env.ok(&["unpack", "--type", "bulletin"], &wire).stdout,
        b.as_bytes()
    );
}

#[test]
fn bare_packed_bytes_are_not_a_stream() {
    // A message whose first byte (its dst's) cannot start a wire frame: one
    // in 50 starts with 0..=4 and reads as a broken frame (see below). Each
    // try makes its keys afresh, in a directory of its own.
    let (env, m, raw) = loop {
        let env = Env::new();
        let m = a_message(&env);
        let raw = env.ok(&["pack", "--raw"], &m).stdout;
        if raw[0] > 4 {
            break (env, m, raw);
        }
    };
    let expected = |first: u8| {
        format!(
            "gossip: stdin object 1: not an object stream: starts with byte 0x{first:02x}, expected JSON Lines ('{{') or wire frames (a length prefix)\n\
             hint: bare packed bytes (`gossip pack --raw`) have no framing and name no type: read them with `gossip unpack --raw --type bulletin|message`\n"
        )
    };
    for args in [&["verify", "-k", "b.key"][..], &["inspect"], &["hashcash"]] {
        let out = env.fail(args, &raw, 3);
        assert_eq!(out.stderr, expected(raw[0]), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // what the hint says works
    let json = env
        .ok(&["unpack", "--raw", "--type", "message"], &raw)
        .stdout;
    assert_eq!(json, m.as_bytes());
    // bare bytes that start like a length prefix: a broken first frame, and
    // the hint still points at unpack --raw
    let mut wire_like = raw.clone();
    wire_like[0] = 0;
    let out = env.fail(&["verify"], &wire_like, 3);
    assert!(
        out.stderr
            .starts_with("gossip: stdin object 1: truncated frame: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.ends_with(
            "\nhint: the stream was not read: its framing cannot be trusted; if it is bare packed bytes (`gossip pack --raw`), read them with `gossip unpack --raw --type bulletin|message`\n"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn pack_to_a_terminal_names_its_own_text_flags() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        crate::skip::notice(
            "pack_to_a_terminal_names_its_own_text_flags",
            "no `script` (util-linux) to make a terminal",
        );
        return;
    }
    let env = Env::new();
    let m = a_message(&env);
    env.write("m.json", &m);
    // `script` gives gossip a pseudo-terminal as stdout (and stderr).
    let line = format!(
        "{} pack < m.json; echo exit=$?",
        crate::util::bin().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert_eq!(
        text,
        "gossip: pack: refusing to write binary output to a terminal: stdout is a terminal\n\
         hint: redirect stdout to a file or pipe, or use --hex or --base64\n\
         exit=2\n"
    );
}
