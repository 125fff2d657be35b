//! The bad-input matrix: every subcommand that reads input, keys, files or
//! flags, fed every kind of bad input that applies to it. Each case names
//! its expected exit code and checks that
//! - nothing panics (`util::run_cmd` checks stderr for every run);
//! - a `gossip` error is exactly one `gossip: …` line, plus `hint:` lines
//!   (usage errors exit 2 as one `gossip: …` line and a `--help` hint);
//! - in a stream, the objects before the bad one are kept: stdout holds
//!   what the valid prefix alone gives;
//! - oversized and truncated frames are refused at once, without
//!   allocating what the length prefix claims (peak RSS and wall time).
//!
//! The relay is the one reader that does not fail on a bad object: it
//! counts it (`malformed=1`), goes on and exits 0 (docs/cli.md, "The relay"),
//! unless a wire stream's framing breaks: that ends its input, exit 3.

use std::time::Duration;

use crate::util::{Env, Out, assert_usage_format, frame, run_cmd, run_measured, set_mode};

const NOW: &str = "1700000000";

/// What a case expects.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Exit 0.
    Ok,
    /// A `gossip: …` error (exactly one such line, plus hints) and this code.
    Fail(i32),
    /// A usage error: exit 2, `gossip: …` and a hint naming `--help`.
    Usage,
    /// The relay: exit 0, the counters show this many malformed objects.
    RelayMalformed(u64),
    /// The relay on a wire stream whose framing broke: exit 3, the counters,
    /// and one `gossip: relay: stdin: …` error.
    RelayBroken,
}

/// Checks one run against its expectation.
fn check(name: &str, out: &Out, expect: Expect) {
    match expect {
        Expect::Ok => assert_eq!(out.code, 0, "{name}: stderr:\n{}", out.stderr),
        Expect::Fail(code) => {
            assert_eq!(out.code, code, "{name}: stderr:\n{}", out.stderr);
            one_error(name, &out.stderr);
        }
        Expect::Usage => {
            assert_eq!(out.code, 2, "{name}: stderr:\n{}", out.stderr);
            assert_usage_format(&out.stderr);
            assert!(out.stdout.is_empty(), "{name}: stdout on a usage error");
        }
        Expect::RelayBroken => {
            assert_eq!(out.code, 3, "{name}: stderr:\n{}", out.stderr);
            let errors = out
                .stderr
                .lines()
                .filter(|l| l.starts_with("gossip: relay: stdin: "));
            assert_eq!(errors.count(), 1, "{name}: stderr:\n{}", out.stderr);
            relay_counted(name, &out.stderr, 1);
        }
        Expect::RelayMalformed(n) => {
            assert_eq!(out.code, 0, "{name}: stderr:\n{}", out.stderr);
            relay_counted(name, &out.stderr, n);
        }
    }
}

/// The relay's stderr: only `gossip: `/`hint: ` lines, and counters that
/// show `n` malformed objects.
fn relay_counted(name: &str, stderr: &str, n: u64) {
    for line in stderr.lines() {
        assert!(
            line.starts_with("gossip: ") || line.starts_with("hint: "),
            "{name}: stray stderr line {line:?}"
        );
    }
    let counters = stderr
        .lines()
        .rfind(|l| l.starts_with("gossip: relay: received="))
        .unwrap_or_else(|| panic!("{name}: no counters line:\n{stderr}"));
    assert!(
        counters.contains(&format!(" malformed={n} ")),
        "{name}: expected malformed={n}: {counters}"
    );
}

/// Exactly one `gossip: ` line, first, then only `hint: ` lines.
fn one_error(name: &str, stderr: &str) {
    // warnings about other objects (e.g. weak proof of work) are not errors
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("gossip: warning: "))
        .collect();
    assert!(
        !lines.is_empty() && lines[0].starts_with("gossip: "),
        "{name}: stderr does not start with `gossip: `:\n{stderr}"
    );
    for line in &lines[1..] {
        assert!(
            line.starts_with("hint: "),
            "{name}: more than one error line:\n{stderr}"
        );
    }
}

/// The fixtures: a key, a valid bulletin and message, key files gone wrong.
struct Fixture {
    env: Env,
    addr: String,
    /// An unmined bulletin on `chat` at NOW (JSON line).
    bulletin: String,
    /// That bulletin signed to the key's own address (JSON line).
    message: String,
    /// An unsigned, unencrypted message carrying the bulletin (JSON line).
    plain: String,
}

impl Fixture {
    fn new() -> Self {
        let env = Env::new();
        let addr = env.keygen("k.key");
        let bulletin = env
            .ok(
                &["bulletin", "new", "--topic", "chat", "--ts", NOW, "hello"],
                "",
            )
            .text();
        let bulletin = env.ok(&["hashcash"], &bulletin).text();
        let message = env
            .ok(
                &["sign", "-k", "k.key", "--to-self", "-d", "0", "--now", NOW],
                &bulletin,
            )
            .text();
        let plain = env
            .ok(
                &["message", "new", "--to", &addr, "-k", "k.key", "--ts", NOW],
                &bulletin,
            )
            .text();
        let seed: String = std::fs::read_to_string(env.path("k.key"))
            .unwrap()
            .lines()
            .find(|l| !l.starts_with('#') && !l.trim().is_empty())
            .unwrap()
            .to_owned();
        let key = |name: &str, text: String, mode: u32| {
            let p = env.write(name, text);
            set_mode(&p, mode);
        };
        key("empty.key", String::new(), 0o600);
        key("short.key", format!("{}\n", &seed[..62]), 0o600);
        key("long.key", format!("{seed}00\n"), 0o600);
        key("nothex.key", format!("{}\n", "zz".repeat(32)), 0o600);
        key("open.key", format!("{seed}\n"), 0o644);
        key("two.key", format!("{seed}\n{seed}\n"), 0o600);
        key(
            "mismatch.key",
            format!("# address: {}\n{seed}\n", "00".repeat(32)),
            0o600,
        );
        key("binary.key", "\u{0}\u{1}\u{ff}".into(), 0o600);
        std::fs::create_dir(env.path("dir.key")).unwrap();
        std::fs::create_dir(env.path("dir.db")).unwrap();
        env.write("garbage.db", "this is not an SQLite database, not at all");
        Self {
            env,
            addr,
            bulletin,
            message,
            plain,
        }
    }

    fn run(&self, args: &[String], stdin: &[u8]) -> Out {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.env.run(&args, stdin)
    }

    /// The wire form of JSON lines.
    fn wire(&self, json: &str) -> Vec<u8> {
        self.env.ok(&["pack"], json).stdout
    }
}

fn strs(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// A stream reader under test: its args, the valid object it takes, and
/// how it treats a bad object.
struct Reader {
    args: Vec<String>,
    valid: String,
    bad: Expect,
}

fn readers(fx: &Fixture) -> Vec<Reader> {
    let b = fx.bulletin.clone();
    let m = fx.message.clone();
    let p = fx.plain.clone();
    let fail = Expect::Fail(3);
    let r = |args: &[&str], valid: &str, bad| Reader {
        args: strs(args),
        valid: valid.to_owned(),
        bad,
    };
    let to = fx.addr.as_str();
    vec![
        r(&["hashcash", "-d", "0"], &b, fail),
        r(&["hashcash", "--check", "-d", "0"], &b, fail),
        r(&["encrypt"], &p, fail),
        r(&["decrypt", "-k", "k.key"], &m, fail),
        r(
            &["sign", "-k", "k.key", "--to-self", "-d", "0", "--now", NOW],
            &b,
            fail,
        ),
        r(
            &[
                "verify",
                "--now",
                NOW,
                "--bulletin-difficulty",
                "0",
                "-d",
                "0",
            ],
            &b,
            fail,
        ),
        r(
            &[
                "open",
                "-k",
                "k.key",
                "--now",
                NOW,
                "--bulletin-difficulty",
                "0",
                "-d",
                "0",
            ],
            &m,
            fail,
        ),
        r(&["inspect", "--now", NOW], &b, fail),
        r(&["pack", "--hex"], &b, fail),
        r(&["pack", "--base64"], &b, fail),
        r(&["unpack", "--type", "bulletin"], &b, fail),
        r(
            &["message", "new", "--to", to, "-k", "k.key", "--ts", NOW],
            &b,
            fail,
        ),
        r(
            &[
                "relay",
                "-k",
                "k.key",
                "--no-sync",
                "--now",
                NOW,
                "-d",
                "0",
                "--bulletin-difficulty",
                "0",
                "--subscribe",
                "chat",
                "--deliver",
                "-",
            ],
            &m,
            Expect::RelayMalformed(1),
        ),
    ]
}

/// Bad JSON-stream objects: (name, line).
fn bad_json_lines() -> Vec<(&'static str, Vec<u8>)> {
    let z = "00".repeat(32);
    let sig = "00".repeat(64);
    vec![
        ("garbage bytes", b"\xff\xfe\x00garbage\n".to_vec()),
        ("bad JSON", b"{garbage\n".to_vec()),
        ("truncated JSON", b"{\"type\":\"bulletin\",\"topic\n".to_vec()),
        ("JSON array", b"[1,2]\n".to_vec()),
        ("JSON string", b"\"bulletin\"\n".to_vec()),
        ("JSON number", b"42\n".to_vec()),
        ("JSON null", b"null\n".to_vec()),
        (
            "wrong object type",
            format!("{{\"type\":\"topic\",\"topic\":\"{z}\",\"descriptor\":null}}\n").into_bytes(),
        ),
        ("no type", b"{\"topic\":1}\n".to_vec()),
        ("missing fields", b"{\"type\":\"bulletin\"}\n".to_vec()),
        (
            "bad hex field",
            format!("{{\"type\":\"bulletin\",\"topic\":\"zz{}\",\"content_id\":\"{z}\",\"ts\":1,\"nonce\":0,\"content\":\"\"}}\n", &z[2..]).into_bytes(),
        ),
        (
            "short hex field",
            format!("{{\"type\":\"bulletin\",\"topic\":\"abc\",\"content_id\":\"{z}\",\"ts\":1,\"nonce\":0,\"content\":\"\"}}\n").into_bytes(),
        ),
        (
            "bad base64 field",
            format!("{{\"type\":\"bulletin\",\"topic\":\"{z}\",\"content_id\":\"{z}\",\"ts\":1,\"nonce\":0,\"content\":\"!!not base64!!\"}}\n").into_bytes(),
        ),
        (
            "ts of the wrong type",
            format!("{{\"type\":\"bulletin\",\"topic\":\"{z}\",\"content_id\":\"{z}\",\"ts\":\"1\",\"nonce\":0,\"content\":\"\"}}\n").into_bytes(),
        ),
        (
            "ts over u32",
            format!("{{\"type\":\"bulletin\",\"topic\":\"{z}\",\"content_id\":\"{z}\",\"ts\":4294967296,\"nonce\":0,\"content\":\"\"}}\n").into_bytes(),
        ),
        (
            "negative nonce",
            format!("{{\"type\":\"bulletin\",\"topic\":\"{z}\",\"content_id\":\"{z}\",\"ts\":1,\"nonce\":-1,\"content\":\"\"}}\n").into_bytes(),
        ),
        (
            "odd-length sig",
            format!("{{\"type\":\"message\",\"dst\":\"{z}\",\"src\":\"{z}\",\"ts\":1,\"nonce\":0,\"sig\":\"{}\",\"body\":\"\"}}\n", &sig[1..]).into_bytes(),
        ),
    ]
}

/// Bad wire-stream frames: (name, bytes).
fn bad_frames() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("truncated length prefix", vec![0, 0]),
        ("truncated frame", {
            let mut f = 200u32.to_be_bytes().to_vec();
            f.extend_from_slice(&[7; 50]);
            f
        }),
        ("frame too short for any object", frame(&[1, 2, 3])),
        ("oversized frame 0x04000001", {
            let mut f = 0x0400_0001u32.to_be_bytes().to_vec();
            f.extend_from_slice(&[0; 64]);
            f
        }),
        ("oversized frame 0xffffffff", {
            let mut f = 0xffff_ffffu32.to_be_bytes().to_vec();
            f.extend_from_slice(&[0; 64]);
            f
        }),
    ]
}

/// Output lines, ignoring what differs between runs (random seals and
/// nonces): only their number is compared.
fn line_count(out: &Out) -> usize {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

#[test]
fn stream_readers_keep_the_prefix_and_refuse_each_bad_object() {
    let fx = Fixture::new();
    let mut ran = 0;
    for reader in readers(&fx) {
        let name = reader.args.join(" ");
        // Empty input: an empty stream, exit 0, no output (verify: exit 1,
        // nothing verified, unless --allow-empty).
        let out = fx.run(&reader.args, b"");
        let empty = if name.starts_with("verify") {
            Expect::Fail(1)
        } else {
            Expect::Ok
        };
        check(&format!("{name} <empty>"), &out, empty);
        if !name.starts_with("relay") {
            assert!(out.stdout.is_empty(), "{name}: output on empty input");
        }

        // The valid object alone: what the prefix must give.
        let good = fx.run(&reader.args, reader.valid.as_bytes());
        check(&format!("{name} <valid>"), &good, Expect::Ok);
        let want = line_count(&good);
        assert!(want > 0, "{name}: no output for a valid object");

        let wire_valid = fx.wire(&reader.valid);
        for (bad_name, bad) in bad_json_lines() {
            let case = format!("{name} <{bad_name} alone>");
            let out = fx.run(&reader.args, &bad);
            check(&case, &out, reader.bad);
            if !matches!(reader.bad, Expect::RelayMalformed(_)) {
                assert!(out.stdout.is_empty(), "{case}: stdout {:?}", out.text());
            }
            // After a valid object (and before another one): the valid
            // ones are still processed.
            let case = format!("{name} <valid, {bad_name}, valid>");
            let mut input = reader.valid.clone().into_bytes();
            input.extend_from_slice(&bad);
            let second = if name.starts_with("relay") {
                // a second copy is a duplicate for the relay: check only the first
                Vec::new()
            } else {
                reader.valid.clone().into_bytes()
            };
            input.extend_from_slice(&second);
            let out = fx.run(&reader.args, &input);
            check(&case, &out, reader.bad);
            let copies = if second.is_empty() { 1 } else { 2 };
            assert_eq!(
                line_count(&out),
                want * copies,
                "{case}: stdout:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
            ran += 2;
        }
        for (bad_name, bad) in bad_frames() {
            // Alone and after a valid frame: refused fast, small, the prefix kept.
            for prefix in [Vec::new(), wire_valid.clone()] {
                let case = format!(
                    "{name} <{}{bad_name}>",
                    if prefix.is_empty() {
                        ""
                    } else {
                        "valid frame, "
                    }
                );
                let mut input = prefix.clone();
                input.extend_from_slice(&bad);
                let (out, took, rss) = run_measured(&fx.env, &reader.args, &input);
                // A broken frame (not merely a bad object) ends the relay's input: exit 3.
                // (A first byte over 0x04 starts no frame: alone, it is a bad JSON line.)
                let broken = bad_name != "frame too short for any object"
                    && (!prefix.is_empty() || bad[0] <= 4);
                let expect = match reader.bad {
                    Expect::RelayMalformed(_) if broken => Expect::RelayBroken,
                    other => other,
                };
                check(&case, &out, expect);
                assert!(
                    took < Duration::from_secs(1),
                    "{case}: took {took:?} to refuse a frame"
                );
                if let Some(kib) = rss {
                    assert!(kib < 40_000, "{case}: peak RSS {kib} KiB");
                }
                let expected = if prefix.is_empty() { 0 } else { want };
                assert_eq!(line_count(&out), expected, "{case}");
                ran += 1;
            }
        }
    }
    assert!(ran > 400, "only {ran} cases ran");
}

#[test]
fn commands_refuse_the_wrong_object_type() {
    let fx = Fixture::new();
    let to = fx.addr.clone();
    let b = fx.bulletin.as_bytes();
    let m = fx.message.as_bytes();
    let cases: Vec<(Vec<String>, &[u8])> = vec![
        (strs(&["encrypt"]), b),
        (strs(&["decrypt", "-k", "k.key"]), b),
        (strs(&["open", "-k", "k.key", "--now", NOW]), b),
        (
            strs(&["message", "new", "--to", &to, "-k", "k.key", "--ts", NOW]),
            m,
        ),
        (strs(&["unpack", "--type", "message"]), b),
        (strs(&["unpack", "--type", "bulletin"]), m),
        (strs(&["hashcash", "--type", "message", "-d", "0"]), b),
        (strs(&["inspect", "--type", "bulletin"]), m),
    ];
    for (args, input) in cases {
        let out = fx.run(&args, input);
        check(&args.join(" "), &out, Expect::Fail(3));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn unpack_text_encodings_keep_the_prefix() {
    let fx = Fixture::new();
    let hex_line = fx.env.ok(&["pack", "--hex"], &fx.bulletin).text();
    let b64_line = fx.env.ok(&["pack", "--base64"], &fx.bulletin).text();
    let cases: Vec<(&str, &str, &str)> = vec![
        ("--hex", &hex_line, "zz not hex\n"),
        ("--hex", &hex_line, "abc\n"),
        ("--hex", &hex_line, "abcd\n"),
        ("--base64", &b64_line, "!!!\n"),
        ("--base64", &b64_line, "QUJD\n"),
    ];
    for (flag, good, bad) in cases {
        let args = strs(&["unpack", "--type", "bulletin", flag]);
        let out = fx.run(&args, bad.as_bytes());
        check(&format!("unpack {flag} {bad:?}"), &out, Expect::Fail(3));
        assert!(out.stdout.is_empty());
        let input = format!("{good}{bad}{good}");
        let out = fx.run(&args, input.as_bytes());
        check(
            &format!("unpack {flag} valid,{bad:?},valid"),
            &out,
            Expect::Fail(3),
        );
        assert_eq!(line_count(&out), 2, "unpack {flag}: both valid lines kept");
    }
    for input in [&b""[..], b"\xff", b"short"] {
        let out = fx.run(&strs(&["unpack", "--type", "message", "--raw"]), input);
        check(&format!("unpack --raw {input:?}"), &out, Expect::Fail(3));
    }
}

#[test]
fn key_files_gone_wrong_are_exit_4() {
    let fx = Fixture::new();
    let to = fx.addr.clone();
    let keyed: Vec<(Vec<&str>, &str)> = vec![
        (vec!["address", "-k"], ""),
        (vec!["decrypt", "-k"], &fx.message),
        (vec!["sign", "--to-self", "-k"], &fx.bulletin),
        (vec!["verify", "--now", NOW, "-k"], &fx.message),
        (vec!["open", "--now", NOW, "-k"], &fx.message),
        (vec!["message", "new", "--to", &to, "-k"], &fx.bulletin),
        (vec!["relay", "--no-sync", "-k"], ""),
    ];
    let keys = [
        "missing.key",
        "empty.key",
        "short.key",
        "long.key",
        "nothex.key",
        "binary.key",
        "open.key",
        "dir.key",
        "two.key",
        "mismatch.key",
    ];
    for (args, input) in &keyed {
        for key in keys {
            let mut a = strs(args);
            a.push(key.into());
            let out = fx.run(&a, input.as_bytes());
            let name = a.join(" ");
            check(&name, &out, Expect::Fail(4));
            assert!(out.stdout.is_empty(), "{name}: stdout");
            assert!(out.stderr.contains(key), "{name}: names the file");
            if key == "open.key" {
                assert!(out.stderr.contains("hint: chmod 600"), "{name}");
            }
            // the same through GOSSIP_KEY (`message new -k` does not read it:
            // its key is one side of a `-k | --from` choice)
            if args[0] == "message" {
                continue;
            }
            let mut cmd = fx.env.cmd(
                &a[..a.len() - 2]
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            );
            cmd.env("GOSSIP_KEY", key);
            let out = run_cmd(cmd, input.as_bytes());
            check(&format!("GOSSIP_KEY={key} {name}"), &out, Expect::Fail(4));
        }
    }
    // keygen: a directory, an existing file, a missing directory.
    for (args, code) in [
        (vec!["keygen", "-o", "dir.key", "--force"], 4),
        (vec!["keygen", "-o", "k.key"], 4),
        (vec!["keygen", "-o", "no/such/dir.key"], 4),
    ] {
        let out = fx.env.run(&args, "");
        check(&args.join(" "), &out, Expect::Fail(code));
    }
}

#[test]
fn files_flags_and_stores_gone_wrong() {
    let fx = Fixture::new();
    let to = fx.addr.clone();
    let z = "00".repeat(32);
    let peer_bad = format!("{to}=no/such/dir/p");
    use Expect::{Fail, Ok as Fine, Usage};
    let cases: Vec<(Vec<&str>, Expect)> = vec![
        // invalid flags: clap, exit 2, for every subcommand
        (vec!["keygen", "--bogus"], Usage),
        (vec!["address", "--bogus"], Usage),
        (vec!["topic", "--bogus"], Usage),
        (vec!["content-id", "--bogus"], Usage),
        (vec!["tapehash", "--bogus"], Usage),
        (vec!["bulletin", "new", "--bogus"], Usage),
        (vec!["message", "new", "--bogus"], Usage),
        (vec!["hashcash", "--bogus"], Usage),
        (vec!["encrypt", "--bogus"], Usage),
        (vec!["decrypt", "--bogus"], Usage),
        (vec!["sign", "--bogus"], Usage),
        (vec!["verify", "--bogus"], Usage),
        (vec!["open", "--bogus"], Usage),
        (vec!["inspect", "--bogus"], Usage),
        (vec!["pack", "--bogus"], Usage),
        (vec!["unpack", "--bogus"], Usage),
        (vec!["relay", "--bogus"], Usage),
        (vec!["store", "list", "--bogus"], Usage),
        (vec!["store", "get", "--bogus"], Usage),
        (vec!["store", "query", "--bogus"], Usage),
        (vec!["store", "purge", "--bogus"], Usage),
        (vec!["store", "export", "--bogus"], Usage),
        (vec!["store", "import", "--bogus"], Usage),
        (vec!["store", "backup", "--bogus"], Usage),
        (vec!["store", "prune", "--bogus"], Usage),
        (vec!["store", "backup", "--store", "real.db"], Usage),
        (vec!["simulate", "--bogus"], Usage),
        (vec!["completions", "--bogus"], Usage),
        // bad flag values
        (vec!["topic"], Usage),
        (vec!["topic", "a", "--beacon"], Usage),
        (vec!["topic", "--hex", "zz"], Fail(2)),
        (
            vec!["topic", "--inbox", "zz", "--delivery-code", "00"],
            Fail(2),
        ),
        (
            vec!["topic", "--inbox", &to, "--delivery-code", "zz"],
            Fail(2),
        ),
        (vec!["tapehash", "--code-size", "0"], Usage),
        (vec!["tapehash", "--code-size", "65537"], Usage),
        (vec!["bulletin", "new", "hi"], Usage),
        (vec!["bulletin", "new", "--topic-id", "zz", "hi"], Fail(2)),
        (
            vec!["bulletin", "new", "--topic", "c", "--ts", "x", "hi"],
            Usage,
        ),
        (
            vec![
                "bulletin",
                "new",
                "--topic",
                "c",
                "--ts",
                "4294967296",
                "hi",
            ],
            Usage,
        ),
        (vec!["message", "new", "--to", "zz", "-k", "k.key"], Fail(2)),
        (vec!["message", "new", "--to", &to, "--from", "zz"], Fail(2)),
        (
            vec!["message", "new", "--to", &to, "-k", "k.key", "--op", "nope"],
            Fail(2),
        ),
        (vec!["hashcash", "-j", "0"], Usage),
        (vec!["hashcash", "-d", "x"], Usage),
        (vec!["sign", "-k", "k.key", "--to", "zz"], Fail(2)),
        (vec!["sign", "-k", "k.key", "--cipher", "rot13"], Usage),
        (vec!["verify", "--now", "yesterday"], Usage),
        (vec!["unpack"], Usage),
        (vec!["unpack", "--type", "topic"], Usage),
        (vec!["relay", "-k", "k.key", "--peer", "zz"], Fail(2)),
        (
            vec!["relay", "-k", "k.key", "--subscribe-id", "zz"],
            Fail(2),
        ),
        (
            vec!["relay", "-k", "k.key", "--deliver", "-", "--peer", &to],
            Fail(2),
        ),
        (vec!["simulate", "--nodes", "1"], Usage),
        (vec!["simulate", "--nodes", "0"], Usage),
        (vec!["simulate", "--degree", "0"], Usage),
        (vec!["simulate", "--scenario", "nope"], Usage),
        (vec!["completions"], Usage),
        (vec!["completions", "nosh"], Usage),
        // missing and unreadable files
        (vec!["content-id", "missing"], Fail(4)),
        (vec!["content-id", "dir.key"], Fail(4)),
        (vec!["tapehash", "missing"], Fail(4)),
        (vec!["tapehash", "dir.key"], Fail(4)),
        (
            vec!["bulletin", "new", "--topic", "c", "-f", "missing"],
            Fail(4),
        ),
        (
            vec!["bulletin", "new", "--topic", "c", "-f", "dir.key"],
            Fail(4),
        ),
        (
            vec![
                "message",
                "new",
                "--to",
                &to,
                "-k",
                "k.key",
                "--body-file",
                "missing",
            ],
            Fail(4),
        ),
        (vec!["hashcash", "-i", "missing"], Fail(4)),
        (vec!["verify", "-i", "dir.key"], Fail(4)),
        (vec!["pack", "-i", "missing"], Fail(4)),
        (
            vec!["unpack", "--type", "bulletin", "--hex", "-i", "missing"],
            Fail(4),
        ),
        (
            vec![
                "relay",
                "-k",
                "k.key",
                "--no-sync",
                "--deliver",
                "no/such/dir/d.jsonl",
            ],
            Fail(4),
        ),
        (
            vec![
                "relay",
                "-k",
                "k.key",
                "--no-sync",
                "--store",
                "no/such/dir/s.db",
            ],
            Fail(4),
        ),
        (
            vec!["relay", "-k", "k.key", "--no-sync", "--store", "dir.db"],
            Fail(4),
        ),
        (
            vec!["relay", "-k", "k.key", "--no-sync", "--store", "garbage.db"],
            Fail(4),
        ),
        (
            vec!["relay", "-k", "k.key", "--no-sync", "--peer", &peer_bad],
            Fail(4),
        ),
        // stores: missing, a directory, not a database; bad ids
        (vec!["store", "list", "--store", "missing.db"], Fail(4)),
        (vec!["store", "list", "--store", "dir.db"], Fail(4)),
        (vec!["store", "list", "--store", "garbage.db"], Fail(4)),
        (vec!["store", "get", "--store", "garbage.db", &z], Fail(4)),
        (vec!["store", "get", "--store", "missing.db", "zz"], Fail(2)),
        (vec!["store", "query", "--store", "garbage.db"], Fail(4)),
        (
            vec![
                "store",
                "query",
                "--store",
                "missing.db",
                "--topic-id",
                "zz",
            ],
            Fail(2),
        ),
        (
            vec![
                "store",
                "query",
                "--store",
                "missing.db",
                "--content-id",
                "zz",
            ],
            Fail(2),
        ),
        (vec!["store", "purge", "--store", "garbage.db"], Fail(4)),
        (vec!["store", "purge", "--store", "dir.db"], Fail(4)),
        (vec!["store", "export", "--store", "garbage.db"], Fail(4)),
        (vec!["store", "export", "--store", "missing.db"], Fail(4)),
        (vec!["store", "import", "--store", "garbage.db"], Fail(4)),
        (vec!["store", "import", "--store", "dir.db"], Fail(4)),
        (
            vec!["store", "backup", "garbage.db", "--to", "b.db"],
            Fail(4),
        ),
        (
            vec!["store", "backup", "missing.db", "--to", "b.db"],
            Fail(4),
        ),
        (vec!["store", "prune", "--store", "garbage.db"], Fail(4)),
        (vec!["store", "prune", "--store", "missing.db"], Fail(4)),
        (
            vec!["store", "export", "missing.db", "--since", "x"],
            Fail(2),
        ),
        // sanity: the matrix's fixtures work where they should
        (vec!["content-id"], Fine),
        (vec!["tapehash"], Fine),
        (vec!["completions", "bash"], Fine),
    ];
    for (args, expect) in cases {
        let out = fx.env.run(&args, "");
        check(&args.join(" "), &out, expect);
        if !matches!(expect, Fine) {
            assert!(out.stdout.is_empty(), "{args:?}: stdout on failure");
        }
    }
    // store get on a real, empty store: nothing found is exit 1.
    let out = fx.env.run(
        &["relay", "-k", "k.key", "--no-sync", "--store", "real.db"],
        "",
    );
    check("relay creating real.db", &out, Expect::Ok);
    let out = fx.env.run(&["store", "get", "--store", "real.db", &z], "");
    check("store get (none)", &out, Fail(1));
}
