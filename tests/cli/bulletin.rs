//! `gossip bulletin new`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use crate::util::{Env, cases, frame, hx};

#[test]
fn text_bulletin_has_every_field() {
    let env = Env::new();
    let v = env
        .ok(
            &[
                "bulletin",
                "new",
                "--topic",
                "test channel",
                "--ts",
                "1764000000",
                "hello world",
            ],
            "",
        )
        .one();
    assert_eq!(v["type"], "bulletin");
    assert_eq!(
        v["topic"],
        "a1b22f49b878ed38e3a9f0ab3dab5b5dda30bc7dfe1d9502b32393f53aac74a0"
    );
    assert_eq!(v["content_id"], hex::encode(Sha256::digest(b"hello world")));
    assert_eq!(v["ts"], 1764000000);
    assert_eq!(v["nonce"], 0);
    assert_eq!(v["content"], B64.encode("hello world"));
}

#[test]
fn content_from_file_and_stdin() {
    let env = Env::new();
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    env.write("c.bin", &data);
    let from_file = env
        .ok(
            &[
                "bulletin", "new", "--topic", "t", "--ts", "9", "-f", "c.bin",
            ],
            "",
        )
        .one();
    let from_stdin = env
        .ok(&["bulletin", "new", "--topic", "t", "--ts", "9"], &data)
        .one();
    assert_eq!(from_file, from_stdin);
    assert_eq!(
        B64.decode(from_file["content"].as_str().unwrap()).unwrap(),
        data
    );
    assert_eq!(from_file["content_id"], hex::encode(Sha256::digest(&data)));
}

#[test]
fn default_ts_is_now() {
    let env = Env::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let v = env.ok(&["bulletin", "new", "--topic", "t", "x"], "").one();
    let ts = v["ts"].as_u64().unwrap();
    assert!(ts.abs_diff(now) < 60, "ts {ts}, now {now}");
}

#[test]
fn vector_bulletins_are_rebuilt_byte_for_byte() {
    let env = Env::new();
    for (i, c) in cases("bulletins").iter().enumerate() {
        let name = format!("c{i}.bin");
        env.write(&name, hx(&c["content"]));
        let ts = c["ts"].as_u64().unwrap().to_string();
        let nonce = c["nonce"].as_u64().unwrap().to_string();
        let topic_id = hex::encode(Sha256::digest(hx(&c["topic_descriptor"])));
        let line = env
            .ok(
                &[
                    "bulletin",
                    "new",
                    "--topic-id",
                    &topic_id,
                    "--ts",
                    &ts,
                    "--nonce",
                    &nonce,
                    "-f",
                    &name,
                ],
                "",
            )
            .text();
        let packed = env.ok(&["pack", "--hex"], &line).text();
        assert_eq!(packed.trim(), c["packed"].as_str().unwrap());
        if let Ok(desc) = String::from_utf8(hx(&c["topic_descriptor"])) {
            let wire = env
                .ok(
                    &[
                        "bulletin", "new", "--topic", &desc, "--ts", &ts, "--nonce", &nonce, "-f",
                        &name, "--format", "wire",
                    ],
                    "",
                )
                .stdout;
            assert_eq!(wire, frame(&hx(&c["packed"])));
        }
    }
}

#[test]
fn bad_topic_id_is_exit_2() {
    let env = Env::new();
    let out = env.fail(&["bulletin", "new", "--topic-id", "abcd", "x"], "", 2);
    assert!(
        out.stderr
            .starts_with("gossip: bulletin new: bad --topic-id 'abcd': ")
    );
}

#[test]
fn flag_errors_are_usage_errors() {
    let env = Env::new();
    env.usage(&["bulletin", "new", "x"], "");
    env.usage(
        &[
            "bulletin",
            "new",
            "--topic",
            "a",
            "--topic-id",
            &"00".repeat(32),
            "x",
        ],
        "",
    );
    env.usage(
        &["bulletin", "new", "--topic", "a", "-f", "x.bin", "text"],
        "",
    );
    env.usage(&["bulletin", "new", "--topic", "a", "--ts", "-1", "x"], "");
    env.usage(
        &["bulletin", "new", "--topic", "a", "--ts", "4294967296", "x"],
        "",
    );
    env.usage(
        &["bulletin", "new", "--topic", "a", "--format", "xml", "x"],
        "",
    );
    env.help_exit(&["bulletin"], "");
    env.help_exit(&["message"], "");
}

#[test]
fn missing_content_file_is_exit_4() {
    let env = Env::new();
    let out = env.fail(
        &["bulletin", "new", "--topic", "a", "-f", "nope.bin"],
        "",
        4,
    );
    assert!(out.stderr.starts_with("gossip: cannot open nope.bin: "));
}

/// Runs `gossip ARGS` with a terminal (a pty from util-linux `script`) on its stdin.
fn on_terminal(args: &str) -> std::process::Output {
    let line = format!("{} {args}", crate::util::bin().display());
    std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) runs")
}

#[test]
fn no_content_on_a_terminal_is_refused_and_empty_needs_quotes() {
    let out = on_terminal("bulletin new --topic chat --ts 5");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("gossip: bulletin new: no content given: stdin is a terminal"),
        "{text}"
    );
    let out = on_terminal("bulletin new --topic chat --ts 5 ''");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"content\":\"\""));
}
