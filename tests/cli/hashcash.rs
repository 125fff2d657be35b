//! `gossip hashcash`.

use gossip::TopicId;
use gossip::codec::{Kind, Object, ObjectReader};

use crate::util::{Env, Live, bulletin_line, cases, fixed_address, frame, hx, num};

/// Leading zero bits of each object's proof of work, via the library.
fn work_bits(stream: &[u8]) -> Vec<u32> {
    ObjectReader::new(stream, Kind::Any)
        .map(|o| match o.expect("object") {
            Object::Bulletin(b) => b.work().bits(),
            Object::Message(m) => m.work().bits(),
        })
        .collect()
}

#[test]
fn mines_bulletins_to_the_difficulty_without_touching_other_fields() {
    let env = Env::new();
    let lines: String = (0..3)
        .map(|i| bulletin_line(&env, "t", &format!("b{i}"), 1000 + i))
        .collect();
    let out = env.ok(&["hashcash", "-d", "6"], &lines);
    let mined = out.json();
    assert_eq!(mined.len(), 3);
    let originals: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (m, o) in mined.iter().zip(&originals) {
        for field in ["type", "topic", "content_id", "ts", "content"] {
            assert_eq!(m[field], o[field], "{field}");
        }
    }
    assert!(work_bits(&out.stdout).iter().all(|&b| b >= 6));
    env.ok(&["hashcash", "--check", "-d", "6"], &out.stdout);
}

#[test]
fn default_difficulty_is_7_for_bulletins_and_1_for_messages() {
    let env = Env::new();
    let line = bulletin_line(&env, "t", "default", 5);
    let mined = env.ok(&["hashcash"], &line);
    assert!(work_bits(&mined.stdout)[0] >= 7);
    let (a, b) = (fixed_address(&env, 1), fixed_address(&env, 2));
    let msg = env
        .ok(
            &["message", "new", "--to", &b, "--from", &a, "--ts", "5"],
            &line,
        )
        .stdout;
    let mined = env.ok(&["hashcash"], &msg);
    assert!(work_bits(&mined.stdout)[0] >= 1);
    let mined = env.ok(&["hashcash", "-d", "5", "--format", "wire"], &msg);
    assert_eq!(
        &mined.stdout[..4],
        &((mined.stdout.len() - 4) as u32).to_be_bytes()
    );
    assert!(work_bits(&mined.stdout)[0] >= 5);
}

#[test]
fn check_passes_vectors_at_their_bits_and_fails_above() {
    let env = Env::new();
    for c in cases("bulletins") {
        let wire = frame(&hx(&c["packed"]));
        let bits = c["leading_zero_bits"].as_u64().unwrap();
        let out = env.ok(
            &["hashcash", "--check", "-d", &num(&c["leading_zero_bits"])],
            &wire,
        );
        assert_eq!(out.one()["nonce"], c["nonce"]);
        let needs = (bits + 1).to_string();
        let out = env.fail(&["hashcash", "--check", "-d", &needs], &wire, 1);
        assert_eq!(
            out.stderr,
            format!(
                "gossip: stdin object 1: bulletin proof of work has {bits} leading zero bits, needs {needs}\n"
            )
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn objects_before_a_bad_one_are_still_processed() {
    let env = Env::new();
    let good = bulletin_line(&env, "t", "good", 7);
    // bad JSON in the middle: both good ones mined, exit 3
    let out = env.fail(&["hashcash", "-d", "3"], format!("{good}[1,2]\n{good}"), 3);
    assert_eq!(out.json().len(), 2);
    assert!(
        out.stderr.starts_with("gossip: stdin object 2: "),
        "{}",
        out.stderr
    );
    // truncated wire frame after a good one
    let mut wire = env.ok(&["pack"], &good).stdout;
    wire.extend_from_slice(&[0, 0, 0, 100, 1, 2, 3]);
    let out = env.fail(&["hashcash", "-d", "3"], &wire, 3);
    assert_eq!(out.json().len(), 1);
    assert!(out.stderr.contains("truncated frame"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("hint: the rest of the stream was not read")
    );
}

#[test]
fn malformed_streams_are_exit_3() {
    let env = Env::new();
    let out = env.fail(&["hashcash", "-d", "1"], "garbage\n", 3);
    assert!(
        out.stderr
            .starts_with("gossip: stdin object 1: bad JSON: expected value at line 1 column 1"),
        "{}",
        out.stderr
    );
    let out = env.fail(&["hashcash", "-d", "1"], [0x04, 0xff, 0xff, 0xff, 0, 0], 3);
    assert!(out.stderr.contains("exceeds"), "{}", out.stderr);
    env.fail(&["hashcash", "-d", "1"], [0, 0, 0], 3);
    env.fail(&["hashcash", "-d", "1"], "{\"type\":\"topic\"}\n", 3);
    env.fail(
        &["hashcash", "-d", "1"],
        "{\"type\":\"bulletin\",\"ts\":1}\n",
        3,
    );
    // a wire frame too short for any object
    env.fail(&["hashcash", "-d", "1"], frame(&[1, 2, 3]), 3);
}

#[test]
fn empty_input_is_fine() {
    let env = Env::new();
    let out = env.ok(&["hashcash"], "");
    assert!(out.stdout.is_empty());
}

#[test]
fn flag_errors_are_usage_errors() {
    let env = Env::new();
    env.usage(&["hashcash", "-d", "257"], "");
    env.usage(&["hashcash", "-d", "x"], "");
    env.usage(&["hashcash", "-j", "0"], "");
    env.usage(&["hashcash", "--type", "topic"], "");
    env.fail(&["hashcash", "-i", "nope.json"], "", 4);
}

/// Each object's (ts, nonce), via the library.
fn ts_nonces(stream: &[u8]) -> Vec<(u32, u32)> {
    ObjectReader::new(stream, Kind::Any)
        .map(|o| match o.expect("object") {
            Object::Bulletin(b) => (b.ts, b.nonce),
            Object::Message(m) => (m.ts, m.nonce),
        })
        .collect()
}

/// The original unpacks ts and nonce as signed 32-bit integers: every nonce
/// mined here starts where the original's searches do (below 2^16) and stays
/// below 2^31, for bulletins and messages, from `hashcash` and from `sign`.
#[test]
fn mined_nonces_start_low_and_stay_below_2_31() {
    let env = Env::new();
    env.keygen("a.key");
    let lines: String = (0..300)
        .map(|i| {
            let b = gossip::Bulletin::new(
                TopicId::from_bytes([0; 32]),
                format!("b{i}").into_bytes(),
                1000,
            );
            format!("{}\n", Object::Bulletin(b).to_json())
        })
        .collect();
    let bulletins = env.ok(&["hashcash", "-d", "3"], &lines).stdout;
    let messages = env
        .ok(
            &[
                "sign",
                "-k",
                "a.key",
                "--to-self",
                "-d",
                "3",
                "--now",
                "1000",
            ],
            &bulletins,
        )
        .stdout;
    for (what, stream) in [("bulletins", &bulletins), ("messages", &messages)] {
        let got = ts_nonces(stream);
        assert_eq!(got.len(), 300, "{what}");
        let high: Vec<_> = got.iter().filter(|(_, n)| *n >= 1 << 17).collect();
        assert!(
            high.is_empty(),
            "{what}: {} nonces ≥ 2^17: {high:?}",
            high.len()
        );
    }
}

/// Difficulty 0 keeps a nonce the original can read and replaces one it
/// cannot; input nonces and ts ≥ 2^31 are still accepted.
#[test]
fn difficulty_0_replaces_only_an_unreadable_nonce() {
    let env = Env::new();
    let line = |nonce: u32| {
        env.ok(
            &[
                "bulletin",
                "new",
                "--topic",
                "t",
                "--ts",
                "3000000000",
                "--nonce",
                &nonce.to_string(),
                "x",
            ],
            "",
        )
        .stdout
    };
    let kept = env.ok(&["hashcash", "-d", "0"], line(77)).stdout;
    assert_eq!(ts_nonces(&kept), vec![(3_000_000_000, 77)]);
    let moved = env.ok(&["hashcash", "-d", "0"], line(3_000_000_000)).stdout;
    let [(ts, nonce)] = ts_nonces(&moved)[..] else {
        panic!("one object")
    };
    assert_eq!(ts, 3_000_000_000);
    assert!(nonce < 1 << 16, "{nonce}");
}

#[test]
fn a_stream_mined_in_parallel_keeps_its_order() {
    let env = crate::util::Env::new();
    let mut input = Vec::new();
    for i in 0..40 {
        let text = format!("bulletin {i}");
        input.extend(
            env.ok(
                &["bulletin", "new", "--topic", "chat", "--ts", "1000", &text],
                "",
            )
            .stdout,
        );
    }
    let out = env.ok(&["hashcash", "-d", "6", "-j", "2"], &input);
    let contents: Vec<String> = out
        .json()
        .iter()
        .map(|v| v["content"].as_str().unwrap().to_owned())
        .collect();
    let want: Vec<String> = String::from_utf8(input.clone())
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(contents, want);
    env.ok(&["hashcash", "--check", "-d", "6"], &out.stdout);
}

#[test]
fn a_long_search_is_announced_and_max_time_gives_up_with_exit_1() {
    let env = Env::new();
    let lines: String = (0..3)
        .map(|i| bulletin_line(&env, "t", &format!("slow {i}"), 1000 + i))
        .collect();
    let started = std::time::Instant::now();
    let out = env.fail(&["hashcash", "-d", "60", "--max-time", "0.5"], &lines, 1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "--max-time 0.5 took {:?}",
        started.elapsed()
    );
    assert!(out.stdout.is_empty(), "nothing reached difficulty 60");
    let err = out.stderr.clone();
    assert!(
        err.contains("gossip: hashcash: difficulty 60 takes about"),
        "no estimate before mining: {err}"
    );
    assert_eq!(
        err.matches("gave up: --max-time 0.5 s ran out before a nonce reached difficulty 60")
            .count(),
        1,
        "one line for the stream, not one per object: {err}"
    );
    assert!(err.contains("hint: raise --max-time"), "{err}");
}

#[test]
fn what_was_mined_before_max_time_is_written() {
    let env = Env::new();
    let out = env.ok(
        &["hashcash", "-d", "4", "--max-time", "30"],
        bulletin_line(&env, "t", "quick", 7),
    );
    assert_eq!(out.json().len(), 1);
    assert!(
        out.stderr.is_empty(),
        "a quick search is not announced: {}",
        out.stderr
    );
}

#[test]
fn target_time_picks_and_prints_a_difficulty_that_the_output_meets() {
    let env = Env::new();
    let out = env.ok(
        &["hashcash", "--target-time", "0.2"],
        bulletin_line(&env, "t", "timed", 7),
    );
    let err = out.stderr.clone();
    let chosen: u32 = err
        .strip_prefix("gossip: hashcash: --target-time 0.2 s: difficulty ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no chosen difficulty in: {err}"));
    assert!((4..=24).contains(&chosen), "difficulty {chosen} for 0.2 s");
    assert!(work_bits(&out.stdout)[0] >= chosen);
    env.usage(&["hashcash", "--target-time", "1", "-d", "3"], "");
    env.usage(&["hashcash", "--max-time", "0"], "");
}

fn content_ids(stream: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stream)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("a JSON line")["content_id"]
                .to_string()
        })
        .collect()
}

#[test]
fn a_batch_streams_each_object_as_it_and_those_before_it_are_mined() {
    // 40 objects waiting at once, stdin still open: the first comes out
    // alone, long before the last is mined (it was held for the batch).
    let env = Env::new();
    let lines: String = (0..40)
        .map(|i| bulletin_line(&env, "t", &format!("b{i}"), 1000 + i))
        .collect();
    let live = Live::start(&env, &["hashcash", "-d", "6"], &lines);
    let first = live.next_chunk();
    let at_once = first.iter().filter(|&&c| c == b'\n').count();
    assert!(
        at_once < 40,
        "the first output held all {at_once} objects: the batch was written only once all were mined"
    );
    let (code, rest, err) = live.finish();
    assert_eq!(code, Some(0), "{err}");
    let out = [first, rest].concat();
    assert_eq!(
        content_ids(&out),
        content_ids(lines.as_bytes()),
        "input order"
    );
    assert!(work_bits(&out).iter().all(|&b| b >= 6));
}

#[test]
fn sigterm_mid_stream_writes_what_is_mined_in_order_and_exits_143() {
    let env = Env::new();
    let lines: String = (0..200)
        .map(|i| bulletin_line(&env, "t", &format!("b{i}"), 1000 + i))
        .collect();
    let live = Live::start(&env, &["hashcash", "-d", "8"], &lines);
    let first = live.next_chunk();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &live.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (code, rest, err) = live.finish();
    assert_eq!(code, Some(143), "exit on SIGTERM: {err}");
    let out = [first, rest].concat();
    let ids = content_ids(&out);
    let all = content_ids(lines.as_bytes());
    assert!(
        !ids.is_empty() && ids.len() < all.len(),
        "{} of 200 written",
        ids.len()
    );
    assert_eq!(
        ids,
        all[..ids.len()],
        "the objects written are the first ones, in order"
    );
    assert!(work_bits(&out).iter().all(|&b| b >= 8));
    env.ok(&["hashcash", "--check", "-d", "8"], &out);
    assert!(
        err.contains(&format!(
            "gossip: hashcash: SIGTERM: {} objects written",
            ids.len()
        )),
        "{err}"
    );
}

#[test]
fn a_search_longer_than_the_objects_lifetime_is_refused_before_mining() {
    let env = Env::new();
    let lines: String = (0..3)
        .map(|i| bulletin_line(&env, "t", &format!("hopeless {i}"), 1000 + i))
        .collect();
    let started = std::time::Instant::now();
    let out = env.fail(&["hashcash", "-d", "40"], &lines, 1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "refused only after {:?}",
        started.elapsed()
    );
    assert!(out.stdout.is_empty());
    let err = out.stderr.clone();
    assert_eq!(
        err.matches("gossip: stdin object 1: refused: difficulty 40 takes about ")
            .count(),
        1,
        "one refusal, then no more objects read: {err}"
    );
    assert!(
        err.contains("longer than a bulletin's 3600 s lifetime"),
        "{err}"
    );
    assert!(
        err.contains("hint: lower -d (--target-time SECS picks one from the measured rate), or pass --force to mine anyway (--max-time SECS bounds it)"),
        "{err}"
    );
    // --force tries anyway (bounded here by --max-time, which also lets it
    // through on its own).
    let forced = env.fail(
        &["hashcash", "-d", "40", "--force", "--max-time", "0.3"],
        &lines,
        1,
    );
    assert!(
        forced.stderr.contains("gave up: --max-time 0.3 s"),
        "{}",
        forced.stderr
    );
    assert!(!forced.stderr.contains("refused"), "{}", forced.stderr);
}
