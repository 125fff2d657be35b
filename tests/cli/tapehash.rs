//! `gossip tapehash`.

use serde_json::Value;

use crate::util::{Env, cases, hx};

/// Leading zero bits of a hex digest.
fn bits(hex_digest: &str) -> u32 {
    let mut n = 0;
    for b in hex::decode(hex_digest).unwrap() {
        n += b.leading_zeros();
        if b != 0 {
            break;
        }
    }
    n
}

#[test]
fn vector_digests_at_every_code_size() {
    let env = Env::new();
    let cases = cases("tapehash1");
    let sizes: std::collections::BTreeSet<u64> = cases
        .iter()
        .map(|c| c["code_size"].as_u64().unwrap())
        .collect();
    assert!(sizes.is_superset(&[17, 64, 1024].into()), "{sizes:?}");
    for c in &cases {
        let size = c["code_size"].as_u64().unwrap().to_string();
        let digest = c["digest"].as_str().unwrap();
        let out = env.ok(&["tapehash", "--code-size", &size], hx(&c["input"]));
        assert_eq!(
            out.text(),
            format!("{digest} {}\n", bits(digest)),
            "code size {size}"
        );
    }
}

#[test]
fn default_code_size_is_64_and_files_work() {
    let env = Env::new();
    let c = cases("tapehash1")
        .into_iter()
        .find(|c| c["code_size"] == 64 && c["input"] == "68656c6c6f20776f726c64")
        .expect("hello world at 64");
    env.write("hw.txt", "hello world");
    let digest = c["digest"].as_str().unwrap();
    assert!(
        env.ok(&["tapehash", "hw.txt"], "")
            .text()
            .starts_with(digest)
    );
    assert!(
        env.ok(&["tapehash"], "hello world")
            .text()
            .starts_with(digest)
    );
}

#[test]
fn json_output() {
    let env = Env::new();
    let c = &cases("tapehash1")[0];
    let size = c["code_size"].as_u64().unwrap().to_string();
    let v: Value = env
        .ok(
            &["tapehash", "--json", "--code-size", &size],
            hx(&c["input"]),
        )
        .one();
    assert_eq!(v["type"], "tapehash");
    assert_eq!(v["digest"], c["digest"]);
    assert_eq!(v["code_size"], c["code_size"]);
    assert_eq!(v["leading_zero_bits"], bits(c["digest"].as_str().unwrap()));
}

#[test]
fn code_size_out_of_range_is_a_usage_error() {
    let env = Env::new();
    env.usage(&["tapehash", "--code-size", "0"], "");
    env.usage(&["tapehash", "--code-size", "65537"], "");
    env.usage(&["tapehash", "--code-size", "many"], "");
}

#[test]
fn missing_file_is_exit_4() {
    let env = Env::new();
    env.fail(&["tapehash", "nope"], "", 4);
}
