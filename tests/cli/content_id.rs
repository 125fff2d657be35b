//! `gossip content-id`.

use sha2::{Digest, Sha256};

use crate::util::{Env, cases, hx};

#[test]
fn content_id_of_a_file_is_its_sha256() {
    let env = Env::new();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    env.write("data.bin", &data);
    let expected = hex::encode(Sha256::digest(&data));
    assert_eq!(
        env.ok(&["content-id", "data.bin"], "").text(),
        format!("{expected}\n")
    );
    assert_eq!(env.ok(&["content-id"], &data).text().trim(), expected);
    assert_eq!(env.ok(&["content-id", "-"], &data).text().trim(), expected);
}

#[test]
fn vector_contents() {
    let env = Env::new();
    for c in cases("contents") {
        let out = env.ok(&["content-id"], hx(&c["content"]));
        assert_eq!(out.text().trim(), c["content_id"].as_str().unwrap());
    }
}

#[test]
fn missing_file_is_exit_4() {
    let env = Env::new();
    let out = env.fail(&["content-id", "nope.bin"], "", 4);
    assert!(
        out.stderr.starts_with("gossip: cannot open nope.bin: "),
        "{}",
        out.stderr
    );
}

#[test]
fn directory_is_exit_4() {
    let env = Env::new();
    std::fs::create_dir(env.path("d")).unwrap();
    env.fail(&["content-id", "d"], "", 4);
}

#[test]
fn extra_arguments_are_usage_errors() {
    let env = Env::new();
    env.usage(&["content-id", "a", "b"], "");
}
