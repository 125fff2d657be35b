//! `gossip relay --config FILE` and `--print-config` (issue 24): the file's
//! keys are the long flags, flags override it, bad files are refused with
//! their line, and the printed settings read back as the same settings.

use crate::util::{Env, assert_usage_format};

/// A scratch directory with a relay's key, r.key.
fn env_with_key() -> Env {
    let env = Env::new();
    env.ok(&["keygen", "-o", "r.key"], "");
    env
}

const PEER: &str = "b5d0ab0f5b44e41d66b7ac6e4e9ac0a3c2d9d03fb5ef3bfd7e7b7f8a2fc8cc2e";

#[test]
fn the_printed_config_reads_back_as_the_same_config() {
    let env = env_with_key();
    let first = env
        .ok(
            &[
                "relay",
                "-k",
                "r.key",
                "--connect",
                &format!("{PEER}@127.0.0.1:7001/3"),
                "--listen",
                "127.0.0.1:7000",
                "--topic",
                "chat \"quoted\" \\ and more",
                "--max-connections",
                "9",
                "--no-sync",
                "--rotate-delivery-code",
                "1h",
                "--print-config",
            ],
            "",
        )
        .text();
    assert!(first.contains("max-connections = 9\n"), "{first}");
    assert!(first.contains("no-sync = true\n"), "{first}");
    assert!(first.contains("key = \"r.key\"\n"), "{first}");
    assert!(
        first.contains(&format!("connect = [\"{PEER}@127.0.0.1:7001/3\"]\n")),
        "{first}"
    );
    assert!(first.contains("# store: not set\n"), "{first}");
    env.write("relay.toml", &first);
    let again = env
        .ok(&["relay", "--config", "relay.toml", "--print-config"], "")
        .text();
    assert_eq!(again, first);
}

#[test]
fn flags_and_the_environment_override_the_file_and_a_list_flag_replaces_its_list() {
    let env = env_with_key();
    env.ok(&["keygen", "-o", "other.key"], "");
    env.write(
        "relay.toml",
        "key = \"r.key\"\nmax-connections = 9\ntopic = [\"a\", \"b\"]\nno-sync = true\nsend-queue = 0x100\n",
    );
    let out = env
        .ok(
            &[
                "relay",
                "--config",
                "relay.toml",
                "--max-connections",
                "5",
                "--topic",
                "c",
                "--print-config",
            ],
            "",
        )
        .text();
    assert!(out.contains("max-connections = 5\n"), "{out}");
    assert!(out.contains("topic = [\"c\"]\n"), "{out}");
    assert!(out.contains("no-sync = true\n"), "{out}");
    assert!(out.contains("send-queue = 256\n"), "{out}");
    let out = env
        .cmd(&["relay", "--config", "relay.toml", "--print-config"])
        .env("GOSSIP_KEY", "other.key")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("key = \"other.key\"\n"));
}

#[test]
fn each_kind_of_bad_config_is_refused_with_its_line_and_a_hint() {
    let env = env_with_key();
    let cases: &[(&str, &str, &str)] = &[
        (
            "key = \"r.key\"\nmax-conections = 3\n",
            "gossip: relay: bad.toml:2: unknown key 'max-conections'",
            "hint: a similar key exists: 'max-connections'; see 'gossip relay --help'",
        ),
        (
            "key = \"r.key\"\n\nmax-connections = \"many\"\n",
            "gossip: relay: bad.toml:3: invalid value 'many' for '--max-connections <N>': invalid digit found in string",
            "hint: see --max-connections in 'gossip relay --help'",
        ),
        (
            "connect = \"x\"\n",
            "gossip: relay: bad.toml:1: connect takes a list",
            "hint: write connect = [\"...\"], even for one; see 'gossip relay --help'",
        ),
        (
            "no-sync = \"yes\"\n",
            "gossip: relay: bad.toml:1: no-sync is a switch",
            "hint: write no-sync = true or no-sync = false; see 'gossip relay --help'",
        ),
        (
            "skew = 1.5\n",
            "gossip: relay: bad.toml:1: skew takes one value, a string or a whole number",
            "hint: see --skew in 'gossip relay --help'",
        ),
        (
            "\n\nconnect = [\"nothex@127.0.0.1:1\"]\n",
            "gossip: relay: bad.toml:3: connect: bad address 'nothex': an address is 64 hex digits",
            "hint: see --connect in 'gossip relay --help'",
        ),
        (
            "key = \"r.key\n",
            "gossip: relay: bad.toml:1: invalid basic string, expected `\"`",
            "hint: the file is TOML: key = value lines, each key a long flag of 'gossip relay'; see 'gossip relay --help'",
        ),
        (
            "config = \"other.toml\"\n",
            "gossip: relay: bad.toml:1: unknown key 'config'",
            "hint: config is not a setting; give it on the command line; see 'gossip relay --help'",
        ),
    ];
    for (text, what, hint) in cases {
        env.write("bad.toml", text);
        let out = env.usage(&["relay", "-k", "r.key", "--config", "bad.toml"], "");
        assert_usage_format(&out.stderr);
        assert_eq!(out.stderr, format!("{what}\n{hint}\n"), "for {text:?}");
    }
}

#[test]
fn a_missing_config_file_is_an_io_error() {
    let env = env_with_key();
    let out = env.fail(&["relay", "-k", "r.key", "--config", "none.toml"], "", 4);
    assert!(
        out.stderr
            .starts_with("gossip: relay: cannot read config file none.toml: "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("\nhint: "), "{}", out.stderr);
}

#[test]
fn a_relay_runs_from_its_config_file() {
    // The settings reach the relay itself: here it delivers to the file
    // the config names, and takes its key from it.
    let env = env_with_key();
    env.write(
        "relay.toml",
        "key = \"r.key\"\ntopic = [\"chat\"]\ndeliver = \"got.jsonl\"\nno-sync = true\n",
    );
    let me = env.ok(&["address", "-k", "r.key"], "").text();
    let bulletin = env
        .ok(&["bulletin", "new", "--topic", "chat", "hi"], "")
        .stdout;
    let mined = env.ok(&["hashcash"], bulletin).stdout;
    let signed = env
        .ok(&["sign", "-k", "r.key", "--to", me.trim()], mined)
        .stdout;
    env.ok(&["relay", "--config", "relay.toml"], signed);
    let got = std::fs::read_to_string(env.path("got.jsonl")).unwrap();
    assert_eq!(got.lines().count(), 1, "{got}");
}

#[test]
fn the_example_config_and_the_service_agree_with_the_relay() {
    // docs/gossip-relay.toml reads as a config, and the unit runs it.
    let env = env_with_key();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/gossip-relay.toml");
    let out = env
        .ok(
            &[
                "relay",
                "-k",
                "r.key",
                "--config",
                example,
                "--print-config",
            ],
            "",
        )
        .text();
    assert!(out.contains("topic = [\"chat\", \"news\"]\n"), "{out}");
    assert!(out.contains("status-every = 60\n"), "{out}");
    let unit = include_str!("../../docs/gossip-relay.service");
    assert!(unit.contains("gossip relay --config /etc/gossip/relay.toml "));
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"));
}
