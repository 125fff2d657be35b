//! `gossip relay`'s flags (its scenarios are in tests/relay/): a followed
//! topic is `--topic`/`--topic-id`, as everywhere else, with the old
//! `--subscribe`/`--subscribe-id` kept as aliases; the help names TCP.

use crate::util::{Env, signed_bulletin};

const TS: u32 = 1_700_000_000;

fn delivered(env: &Env, follow: &[&str], input: &str) -> Vec<serde_json::Value> {
    let now = (TS + 10).to_string();
    let args = [
        &[
            "relay",
            "-k",
            "relay.key",
            "--no-sync",
            "--deliver",
            "-",
            "--now",
            &now,
        ][..],
        follow,
    ]
    .concat();
    env.ok(&args, input).json()
}

#[test]
fn topic_and_topic_id_follow_a_topic_and_the_old_names_still_do() {
    let env = Env::new();
    let to = env.keygen("relay.key");
    env.keygen("user.key");
    let m = signed_bulletin(&env, "chat", TS, "user.key", &to);
    let id = env.ok(&["topic", "chat"], "").text().trim().to_owned();
    for follow in [
        &["--topic", "chat"][..],
        &["--topic-id", &id],
        &["--subscribe", "chat"],
        &["--subscribe-id", &id],
    ] {
        let got = delivered(&env, follow, &m);
        assert_eq!(got.len(), 1, "{follow:?}");
        assert_eq!(got[0]["topic"], id.as_str(), "{follow:?}");
    }
    assert!(delivered(&env, &["--topic", "other"], &m).is_empty());
    let out = env.fail(&["relay", "-k", "relay.key", "--topic-id", "zz"], "", 2);
    assert_eq!(
        out.stderr,
        "gossip: relay: bad --topic-id 'zz': expected 64 hex digits\n"
    );
}

#[test]
fn the_help_names_tcp_and_the_topic_flags() {
    let env = Env::new();
    let top = env.ok(&["--help"], "").text();
    assert!(
        top.contains("  relay        Run one node on stdin/stdout and TCP (--listen, --connect)"),
        "{top}"
    );
    let help = env.ok(&["relay", "--help"], "").text();
    assert!(
        help.starts_with(
            "Run one node on stdin/stdout and TCP (--listen, --connect): verify, store, deliver and forward\n"
        ),
        "{help}"
    );
    assert!(help.contains("--topic <DESC>"), "{help}");
    assert!(help.contains("--topic-id <HEX>"), "{help}");
    assert!(!help.contains("--subscribe <"), "{help}");
}

/// The relay's stderr, one JSON object a line (`--log-format json`).
fn json_log(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect()
}

#[test]
fn the_log_is_events_with_fields_in_json_at_the_level_asked() {
    let env = Env::new();
    let to = env.keygen("relay.key");
    env.keygen("user.key");
    let m = signed_bulletin(&env, "chat", TS, "user.key", &to);
    let input = format!("{{not json\n{m}");
    let now = (TS + 10).to_string();
    let relay = |extra: &[&str]| {
        let args = [
            &[
                "relay",
                "-k",
                "relay.key",
                "--no-sync",
                "--topic",
                "chat",
                "--now",
                &now,
            ][..],
            extra,
        ]
        .concat();
        env.ok(&args, &input).stderr
    };

    // Text, as it always read.
    let text = relay(&[]);
    assert!(
        text.starts_with(&format!("gossip: relay: address {to} delivery code ")),
        "{text}"
    );
    assert!(
        text.contains("gossip: relay: malformed input object: "),
        "{text}"
    );
    assert!(
        text.contains("gossip: relay: received=2 accepted=1 delivered=1 "),
        "{text}"
    );

    // JSON: every line an event, with its level and fields.
    let events = json_log(&relay(&["--log-format", "json"]));
    let address = events
        .iter()
        .find(|e| e["address"] == to.as_str())
        .expect("the address event");
    assert_eq!(address["level"], "INFO");
    assert_eq!(address["delivery_code"].as_str().map(str::len), Some(16));
    let malformed = events
        .iter()
        .find(|e| e["level"] == "WARN")
        .expect("the malformed line's warning");
    assert!(
        malformed["message"]
            .as_str()
            .unwrap()
            .starts_with("malformed input object")
    );
    assert!(malformed["reason"].is_string(), "{malformed}");
    assert!(events.iter().all(|e| e["timestamp"].is_string()));

    // --log-level warn, or RUST_LOG=warn: the warning alone.
    for out in [relay(&["--log-format", "json", "--log-level", "warn"]), {
        let mut cmd = env.cmd(&[
            "relay",
            "-k",
            "relay.key",
            "--no-sync",
            "--log-format",
            "json",
        ]);
        cmd.env("RUST_LOG", "warn").env("GOSSIP_NOW", &now);
        crate::util::run_cmd(cmd, &input).stderr
    }] {
        let events = json_log(&out);
        assert_eq!(events.len(), 1, "{out}");
        assert_eq!(events[0]["level"], "WARN");
    }

    // A RUST_LOG that does not parse is a usage error, before anything runs.
    let mut cmd = env.cmd(&["relay", "-k", "relay.key", "--no-sync"]);
    cmd.env("RUST_LOG", "gossip=loud");
    let out = crate::util::run_cmd(cmd, "");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("gossip: relay: RUST_LOG=gossip=loud: "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint: "), "{}", out.stderr);
}

#[test]
fn the_status_line_stays_a_json_line_of_its_own_in_either_format() {
    let env = Env::new();
    env.keygen("relay.key");
    for format in ["text", "json"] {
        // The relay runs until stdin ends: one status line at least.
        let mut cmd = std::process::Command::new(crate::util::bin());
        cmd.current_dir(env.dir.path())
            .env_remove("RUST_LOG")
            .args([
                "relay",
                "-k",
                "relay.key",
                "--no-sync",
                "--status-every",
                "1",
                "--log-format",
                format,
            ])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
        let status = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.contains("relay_status"))
            .expect("a status line");
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
        let v: serde_json::Value = serde_json::from_str(&status).expect(&status);
        assert_eq!(v["type"], "relay_status", "{format}: {status}");
    }
}

/// A setting the node refuses (a bulletin difficulty no search can be
/// counted on to reach) is a usage error naming the flag, with the bound
/// as a hint, before anything is opened: no store file is made.
#[test]
fn a_setting_the_node_refuses_is_a_usage_error_before_the_store_is_made() {
    let env = Env::new();
    env.keygen("relay.key");
    let peer = format!("{}@127.0.0.1:9", env.keygen("peer.key"));
    for (command, args) in [
        (
            "relay",
            &["relay", "-k", "relay.key", "--store", "r.db"][..],
        ),
        (
            "sync",
            &[
                "sync",
                "-k",
                "relay.key",
                "--store",
                "r.db",
                "--connect",
                &peer,
                "--topic",
                "chat",
            ],
        ),
    ] {
        let out = env.fail(&[args, &["--bulletin-difficulty", "33"]].concat(), "", 2);
        assert_eq!(
            out.stderr,
            format!(
                "gossip: {command}: --bulletin-difficulty: bulletin_difficulty 33 is past 32 bits, more than a search of the 2^31 nonces can be counted on to reach\nhint: give at most 32 bits\n"
            )
        );
        assert!(out.stdout.is_empty());
        assert!(!env.path("r.db").exists(), "{command} made the store");
    }
}
