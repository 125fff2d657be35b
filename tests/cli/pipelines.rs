//! The pipelines from the issues, end to end through the binary: each once
//! as a shell script and once as chained commands with every step checked.

use std::process::Command as Std;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::util::{Env, Out, assert_no_panic, bin};

/// Runs a shell script in the scratch directory with `gossip` as a function
/// calling the binary under test; `set -e` so a failing step fails it.
fn sh(env: &Env, script: &str) -> Out {
    let full = format!("set -e\ngossip() {{ \"$GOSSIP_BIN\" \"$@\"; }}\n{script}");
    let out = Std::new("sh")
        .arg("-c")
        .arg(full)
        .env("GOSSIP_BIN", bin())
        .env_remove("GOSSIP_KEY")
        .env_remove("GOSSIP_NOW")
        .current_dir(env.dir.path())
        .output()
        .expect("sh runs");
    let out = Out {
        code: out.status.code().expect("exited"),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_no_panic(&out.stderr);
    out
}

#[test]
fn bulletin_hashcash_inspect_as_a_script() {
    let env = Env::new();
    let out = sh(
        &env,
        r#"gossip keygen -o a.key
gossip bulletin new --topic "test channel" "hello world" | gossip hashcash -d 12 | gossip inspect"#,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = out.text();
    assert!(text.contains("a1b22f49b878ed38e3a9f0ab3dab5b5dda30bc7dfe1d9502b32393f53aac74a0"));
    assert!(text.contains("\"hello world\""));
    assert!(text.contains("(matches content)"));
    let bits: u32 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("work"))
        .and_then(|w| w.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("work line");
    assert!(bits >= 12, "{text}");
    assert!(env.path("a.key").exists());
}

#[test]
fn big_file_bulletin_pack_unpack_check() {
    let env = Env::new();
    let big: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    env.write("big.bin", &big);
    let out = sh(
        &env,
        r#"gossip bulletin new --topic chat -f big.bin | gossip hashcash -d 10 | gossip pack > b.bin
gossip unpack --type bulletin < b.bin | gossip hashcash --check -d 10"#,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.one();
    assert_eq!(B64.decode(v["content"].as_str().unwrap()).unwrap(), big);
    let wire = std::fs::read(env.path("b.bin")).unwrap();
    assert_eq!(
        u32::from_be_bytes(wire[..4].try_into().unwrap()) as usize,
        wire.len() - 4
    );
    assert_eq!(wire.len(), 4 + 72 + big.len());

    // the same steps chained, each checked
    let b = env
        .ok(&["bulletin", "new", "--topic", "chat", "-f", "big.bin"], "")
        .stdout;
    let mined = env.ok(&["hashcash", "-d", "10"], b).stdout;
    let packed = env.ok(&["pack"], &mined).stdout;
    let json = env.ok(&["unpack", "--type", "bulletin"], &packed).stdout;
    assert_eq!(json, mined);
    let checked = env.ok(&["hashcash", "--check", "-d", "10"], &json).stdout;
    assert_eq!(checked, json);
    let out = env.fail(&["hashcash", "--check", "-d", "40"], &json, 1);
    assert!(out.stdout.is_empty());
}

#[test]
fn sign_verify_open_as_a_script() {
    let env = Env::new();
    let out = sh(
        &env,
        r#"gossip keygen -o a.key 2>/dev/null; gossip keygen -o b.key 2>/dev/null; B=$(gossip address -k b.key)
gossip bulletin new --topic chat "hi" | gossip hashcash | gossip sign -k a.key --to "$B" > m.json
gossip verify -k b.key < m.json
gossip open -k b.key < m.json | gossip inspect
if gossip verify -k a.key < m.json > wrong.txt; then echo "wrong key accepted"; exit 9; else echo "wrong key exit $?"; fi
gossip pack < m.json | gossip verify -k b.key"#,
    );
    assert_eq!(out.code, 0, "{}\n{}", out.text(), out.stderr);
    let text = out.text();
    assert!(text.starts_with("1 message: valid\nbulletin 1\n"), "{text}");
    assert!(
        text.contains("31e06f7d89feb99a0e6c0affe198748c3bb5bef5e3cc92d95cb9e996197d3fc3"),
        "topic chat: {text}"
    );
    assert!(text.contains("2 bytes: \"hi\""), "{text}");
    assert!(text.contains("wrong key exit 1\n"), "{text}");
    assert!(text.ends_with("1 message: valid\n"), "{text}");
    let wrong = std::fs::read_to_string(env.path("wrong.txt")).unwrap();
    assert_eq!(wrong, "1 message: invalid: wrong_destination\n");
}

#[test]
fn sign_verify_open_chained() {
    let env = Env::new();
    let a = env.keygen("a.key");
    let b = env.keygen("b.key");
    assert_eq!(env.ok(&["address", "-k", "b.key"], "").text().trim(), b);
    let bulletin = env
        .ok(&["bulletin", "new", "--topic", "chat", "hi"], "")
        .stdout;
    let mined = env.ok(&["hashcash"], bulletin).stdout;
    let m = env.ok(&["sign", "-k", "a.key", "--to", &b], &mined).stdout;
    let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
    assert_eq!(
        (v["src"].as_str().unwrap(), v["dst"].as_str().unwrap()),
        (a.as_str(), b.as_str())
    );

    assert_eq!(
        env.ok(&["verify", "-k", "b.key"], &m).text(),
        "1 message: valid\n"
    );
    let opened = env.ok(&["open", "-k", "b.key"], &m).stdout;
    assert_eq!(
        opened, mined,
        "open gives back the bulletin that was signed"
    );
    let shown = env.ok(&["inspect"], &opened).text();
    assert!(shown.contains("2 bytes: \"hi\""));

    let out = env.run(&["verify", "-k", "a.key"], &m);
    assert_eq!(out.code, 1);
    assert_eq!(out.text(), "1 message: invalid: wrong_destination\n");

    let wire = env.ok(&["pack"], &m).stdout;
    assert_eq!(
        env.ok(&["verify", "-k", "b.key"], &wire).text(),
        "1 message: valid\n"
    );
    assert_eq!(env.ok(&["open", "-k", "b.key"], &wire).stdout, mined);
    // wire all the way
    let wire_msg = env
        .ok(
            &["sign", "-k", "a.key", "--to", &b, "--format", "wire"],
            &mined,
        )
        .stdout;
    let wire_open = env
        .ok(&["open", "-k", "b.key", "--format", "wire"], &wire_msg)
        .stdout;
    assert_eq!(
        env.ok(&["unpack", "--type", "bulletin"], wire_open).stdout,
        mined
    );
}

#[test]
fn message_new_encrypt_sign_hashcash_is_what_sign_does() {
    let env = Env::new();
    env.keygen("a.key");
    let b = env.keygen("b.key");
    let mined = env
        .ok(
            &["hashcash"],
            env.ok(&["bulletin", "new", "--topic", "chat", "steps"], "")
                .stdout,
        )
        .stdout;
    let m = env
        .ok(&["message", "new", "-k", "a.key", "--to", &b], &mined)
        .stdout;
    let m = env.ok(&["encrypt"], m).stdout;
    let m = env.ok(&["sign", "-k", "a.key"], m).stdout;
    let m = env.ok(&["hashcash", "-d", "3"], m).stdout;
    env.ok(&["verify", "-k", "b.key", "-d", "3"], &m);
    assert_eq!(env.ok(&["open", "-k", "b.key"], &m).stdout, mined);
}

#[test]
fn stale_messages_are_rejected_end_to_end() {
    let env = Env::new();
    env.keygen("a.key");
    let b = env.keygen("b.key");
    let mined = env
        .ok(
            &["hashcash"],
            env.ok(&["bulletin", "new", "--topic", "chat", "old"], "")
                .stdout,
        )
        .stdout;
    let m = env.ok(&["sign", "-k", "a.key", "--to", &b], &mined).stdout;
    let far = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 100_000)
        .to_string();
    let out = env.run(&["verify", "-k", "b.key", "--now", &far], &m);
    assert_eq!(out.code, 1);
    assert!(out.text().contains("too_old"), "{}", out.text());
    let out = env.fail(&["open", "-k", "b.key", "--now", &far], &m, 1);
    assert!(out.stderr.contains("too_old"));
}
