//! `gossip verify`.

use serde_json::Value;

use crate::util::{Env, Out, cases, frame, hx, num, vectors_now};

/// Key files for each vector message's dst and src seeds.
fn vector_keys(env: &Env) {
    for (i, c) in cases("messages").iter().enumerate() {
        env.seed_key(&format!("dst{i}.key"), c["dst_seed"].as_str().unwrap());
        env.seed_key(&format!("src{i}.key"), c["src_seed"].as_str().unwrap());
    }
}

fn now() -> String {
    vectors_now().to_string()
}

#[test]
fn vector_messages_are_accepted_as_wire_and_json() {
    let env = Env::new();
    vector_keys(&env);
    for (i, c) in cases("messages").iter().enumerate() {
        let wire = frame(&hx(&c["packed"]));
        let key = format!("dst{i}.key");
        let args = [
            "verify",
            "--now",
            &now(),
            "-d",
            &num(&c["difficulty"]),
            "-k",
            &key,
        ];
        assert_eq!(env.ok(&args, &wire).text(), "1 message: valid\n");
        let json = env
            .ok(
                &["unpack", "--type", "message", "--hex"],
                c["packed"].as_str().unwrap(),
            )
            .stdout;
        assert_eq!(env.ok(&args, &json).text(), "1 message: valid\n");
        // without a key: header checks only, and the verdict says so
        assert_eq!(
            env.ok(&args[..5], &wire).text(),
            "1 message: valid (skipped without a key: destination, decryption, payload)\n"
        );
    }
}

#[test]
fn vector_messages_fail_above_their_work_and_for_the_wrong_key() {
    let env = Env::new();
    vector_keys(&env);
    for (i, c) in cases("messages").iter().enumerate() {
        let wire = frame(&hx(&c["packed"]));
        let above = (c["leading_zero_bits"].as_u64().unwrap() + 1).to_string();
        let key = format!("dst{i}.key");
        let out = env.run(
            &["verify", "--now", &now(), "-d", &above, "-k", &key],
            &wire,
        );
        assert_eq!(out.code, 1);
        assert_eq!(out.text(), "1 message: invalid: weak_proof_of_work\n");
        if c["src"] != c["dst"] {
            let key = format!("src{i}.key");
            let out = env.run(&["verify", "--now", &now(), "-d", "0", "-k", &key], &wire);
            assert_eq!(out.code, 1);
            assert!(
                out.text()
                    .starts_with("1 message: invalid: wrong_destination"),
                "{}",
                out.text()
            );
        }
    }
}

#[test]
fn vector_bulletins_are_accepted() {
    let env = Env::new();
    for c in cases("bulletins") {
        let wire = frame(&hx(&c["packed"]));
        let out = env.ok(
            &["verify", "--now", &now(), "-d", &num(&c["difficulty"])],
            &wire,
        );
        assert_eq!(out.text(), "1 bulletin: valid\n");
        let out = env.run(
            &[
                "verify",
                "--now",
                &(vectors_now() + 3600).to_string(),
                "-d",
                "0",
            ],
            &wire,
        );
        assert_eq!(out.code, 1);
        assert!(out.text().contains("expired"), "{}", out.text());
    }
}

#[test]
fn invalid_vector_messages_are_rejected_for_their_reason() {
    let env = Env::new();
    vector_keys(&env);
    for c in cases("invalid_messages") {
        let why = c["why"].as_str().unwrap();
        let wire = frame(&hx(&c["packed"]));
        let args = [
            "verify",
            "--now",
            &now(),
            "-d",
            "0",
            "-k",
            "dst0.key",
            "--type",
            "message",
        ];
        if why.starts_with("truncated") {
            let out = env.fail(&args, &wire, 3);
            assert!(out.stdout.is_empty());
            continue;
        }
        let expected = if why.contains("unsigned") {
            "unsigned"
        } else {
            "bad_signature"
        };
        let out = env.run(&args, &wire);
        assert_eq!(out.code, 1, "{why}: {}", out.text());
        let line = out.text();
        assert!(line.starts_with("1 message: invalid: "), "{why}: {line}");
        assert!(line.contains(expected), "{why}: {line}");
    }
}

#[test]
fn stale_message_is_too_old() {
    let env = Env::new();
    vector_keys(&env);
    let c = &cases("messages")[0];
    let wire = frame(&hx(&c["packed"]));
    let later = (vectors_now() + 100_000).to_string();
    let out = env.run(
        &["verify", "--now", &later, "-k", "dst0.key", "--json"],
        &wire,
    );
    assert_eq!(out.code, 1);
    let v = out.one();
    assert_eq!(v["valid"], false);
    assert!(
        v["failures"]
            .as_array()
            .unwrap()
            .contains(&Value::from("too_old"))
    );
    // GOSSIP_NOW works the same
    let mut cmd = env.cmd(&["verify", "-k", "dst0.key"]);
    cmd.env("GOSSIP_NOW", &later);
    let out = crate::util::run_cmd(cmd, &wire);
    assert_eq!(out.code, 1);
    assert!(out.text().contains("too_old"));
    // and a clock far behind: from the future
    let earlier = (vectors_now() - 100_000).to_string();
    let out = env.run(&["verify", "--now", &earlier, "-k", "dst0.key"], &wire);
    assert_eq!(out.code, 1);
    assert!(out.text().contains("from_future"), "{}", out.text());
}

#[test]
fn json_verdicts_name_every_check() {
    let env = Env::new();
    vector_keys(&env);
    let c = &cases("messages")[0];
    let wire = frame(&hx(&c["packed"]));
    let v = env
        .ok(
            &["verify", "--now", &now(), "-k", "dst0.key", "--json"],
            &wire,
        )
        .one();
    assert_eq!(v["type"], "verdict");
    assert_eq!(v["index"], 1);
    assert_eq!(v["object"], "message");
    assert_eq!(v["valid"], true);
    assert_eq!(v["failures"], Value::Array(vec![]));
    assert_eq!(v["op"], "store_and_forward");
    let names: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["status"], "passed", "{c}");
            c["check"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        names,
        [
            "wrong_destination",
            "too_old",
            "from_future",
            "weak_proof_of_work",
            "unsigned",
            "bad_signature",
            "undecryptable",
            "bad_payload",
            "expired",
            "bulletin_from_future",
            "content_id_mismatch",
            "weak_bulletin_proof_of_work"
        ]
    );
    // without a key, the key checks are skipped
    let v = env.ok(&["verify", "--now", &now(), "--json"], &wire).one();
    let skipped: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "skipped")
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        skipped,
        ["wrong_destination", "undecryptable", "bad_payload"]
    );
    // a bulletin's checks
    let b = &cases("bulletins")[0];
    let v = env
        .ok(
            &["verify", "--json", "--now", &now(), "-d", "1"],
            frame(&hx(&b["packed"])),
        )
        .one();
    let names: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "expired",
            "bulletin_from_future",
            "content_id_mismatch",
            "weak_bulletin_proof_of_work"
        ]
    );
}

fn two_good_around(env: &Env, bad: &[u8]) -> Out {
    let c = &cases("messages")[0];
    let good = env
        .ok(
            &["unpack", "--type", "message", "--hex"],
            c["packed"].as_str().unwrap(),
        )
        .stdout;
    let input = [&good[..], bad, &good[..]].concat();
    env.fail(&["verify", "--now", &now(), "-k", "dst0.key"], input, 3)
}

#[test]
fn a_bad_object_between_two_good_ones_is_reported_and_the_others_judged() {
    let env = Env::new();
    vector_keys(&env);
    for bad in [
        &b"{not json\n"[..],
        b"[1,2,3]\n",
        b"{\"type\":\"message\",\"dst\":\"zz\"}\n",
        b"\"text\"\n",
    ] {
        let out = two_good_around(&env, bad);
        assert_eq!(out.text(), "1 message: valid\n3 message: valid\n");
        assert!(
            out.stderr.starts_with("gossip: stdin object 2: "),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn malformed_beats_invalid_in_the_exit_code() {
    let env = Env::new();
    vector_keys(&env);
    let c = &cases("messages")[0];
    let good = env
        .ok(
            &["unpack", "--type", "message", "--hex"],
            c["packed"].as_str().unwrap(),
        )
        .text();
    let input = format!("{good}{{bad\n");
    let out = env.fail(&["verify", "--now", &now(), "-k", "src0.key"], input, 3);
    assert!(
        out.text()
            .starts_with("1 message: invalid: wrong_destination")
    );
}

#[test]
fn malformed_streams() {
    let env = Env::new();
    let out = env.fail(&["verify"], "garbage\n", 3);
    assert!(out.stdout.is_empty());
    env.fail(&["verify"], [0x04, 0xff, 0xff, 0xff, 0, 0, 0], 3);
    env.fail(&["verify"], [0, 0, 1, 0, 1, 2, 3], 3);
    env.fail(&["verify"], [0, 0], 3);
}

#[test]
fn key_and_flag_errors() {
    let env = Env::new();
    env.fail(&["verify", "-k", "nope.key"], "", 4);
    std::fs::create_dir(env.path("dir.key")).unwrap();
    env.fail(&["verify", "-k", "dir.key"], "", 4);
    env.usage(&["verify", "--now", "yesterday"], "");
    env.usage(&["verify", "-d", "300"], "");
    env.usage(&["verify", "--bogus"], "");
}

#[test]
fn empty_input_fails_unless_allowed() {
    let env = Env::new();
    let out = env.fail(&["verify"], "", 1);
    assert!(
        out.stderr
            .starts_with("gossip: verify: no objects to verify\nhint: "),
        "{}",
        out.stderr
    );
    assert_eq!(env.run(&["verify", "--allow-empty"], "").code, 0);
    // malformed-only input is still malformed
    env.fail(&["verify"], "{", 3);
}

#[test]
fn a_verdict_names_the_checks_skipped_without_a_key() {
    let env = Env::new();
    env.keygen("a.key");
    let bulletin = env
        .ok(
            &["bulletin", "new", "--topic", "chat", "--ts", "1000", "hi"],
            "",
        )
        .stdout;
    let mined = env.ok(&["hashcash"], &bulletin).stdout;
    let message = env
        .ok(
            &["sign", "-k", "a.key", "--to-self", "--now", "1000"],
            &mined,
        )
        .stdout;
    let out = env.ok(&["verify", "--now", "1000"], &message);
    assert_eq!(
        out.text(),
        "1 message: valid (skipped without a key: destination, decryption, payload)\n"
    );
    let out = env.run(&["verify", "--now", "1000", "--no-skip"], &message);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.text(),
        "1 message: invalid; skipped without a key: destination, decryption, payload\n"
    );
    let out = env.run(
        &["verify", "--now", "1000", "--no-skip", "--json"],
        &message,
    );
    assert_eq!(out.code, 1);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["skipped"][0], "destination");
    // with the key nothing is skipped, and --no-skip passes
    let out = env.ok(
        &["verify", "--now", "1000", "--no-skip", "-k", "a.key"],
        &message,
    );
    assert_eq!(out.text(), "1 message: valid\n");
    // a bulletin has nothing that needs a key
    env.ok(&["verify", "--now", "1000", "--no-skip"], &mined);
}

#[test]
fn relay_quiet_counts_malformed_input_without_logging_it() {
    let env = Env::new();
    env.keygen("a.key");
    let loud = env.ok(&["relay", "-k", "a.key", "--no-sync"], "{bad\n");
    assert!(
        loud.stderr
            .contains("gossip: relay: malformed input object: ")
    );
    let quiet = env.ok(&["relay", "-k", "a.key", "--no-sync", "-q"], "{bad\n");
    assert!(!quiet.stderr.contains("malformed input object"));
    assert!(quiet.stderr.contains(" malformed=1 "), "{}", quiet.stderr);
}

#[test]
fn a_stale_message_gets_one_hint_about_now() {
    let env = Env::new();
    env.keygen("a.key");
    let b = env.keygen("b.key");
    let m = crate::util::signed_bulletin(&env, "chat", 1_700_000_000, "a.key", &b);
    // 301 s later the message is too old; the verdict says so on stdout and
    // stderr says once how to check it as of its time.
    let twice = format!("{m}{m}");
    let out = env.fail(&["verify", "-k", "b.key", "--now", "1700000301"], &twice, 1);
    assert_eq!(
        out.text(),
        "1 message: invalid: too_old\n2 message: invalid: too_old\n"
    );
    assert_eq!(
        out.stderr,
        "gossip: stdin object 1: fails against the clock (1700000301): too_old\n\
         hint: a message is valid for 300 s after its ts and a bulletin for 3600 s, against the clock or --now TS: to check this one as of its making, pass --now 1700000000\n"
    );
    // what the hint says works
    env.ok(&["verify", "-k", "b.key", "--now", "1700000000"], &m);
}
