//! Memory bounded in bytes, and one object cap on every path: each bound
//! is checked by the peak RSS of the real binary (GNU time's %M), and the
//! figures in docs/security.md ("Memory bounds") are these runs'.

use crate::util::{Env, Out, run_measured};

const NOW: &str = "1700000000";
const MIB: u64 = 1 << 20;
/// MAX_OBJECT.
const MAX_OBJECT: u64 = 64 << 20;
/// MAX_BULLETIN: a bulletin that still fits, sealed in a message, the cap.
const MAX_BULLETIN: u64 = MAX_OBJECT - 136 - 1 - 48;

fn strs(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// Runs `args` with `stdin` and returns the outcome and the peak RSS in
/// bytes (the test is skipped with a notice where GNU time is missing).
fn measured(env: &Env, args: &[&str], stdin: &[u8]) -> (Out, Option<u64>) {
    let (out, _, kib) = run_measured(env, &strs(args), stdin);
    if kib.is_none() {
        crate::skip::notice(
            &format!("peak RSS of {args:?}"),
            "/usr/bin/time (GNU time) is missing",
        );
    }
    (out, kib.map(|k| k * 1024))
}

fn assert_under(what: &str, rss: Option<u64>, max: u64) {
    if let Some(rss) = rss {
        eprintln!("{what}: peak RSS {} MiB", rss / MIB);
        assert!(rss < max, "{what}: peak RSS {rss} bytes, over {max}");
    }
}

/// A sparse file of `len` bytes of zeros (no disk, no memory to make).
fn sparse(env: &Env, name: &str, len: u64) -> String {
    let f = std::fs::File::create(env.path(name)).unwrap();
    f.set_len(len).unwrap();
    name.to_owned()
}

/// One JSON line of 32 MiB of small values in an unknown field: once a
/// tree of 16 M JSON values (over 500 MiB), now skipped as parsed.
fn line_of_small_values() -> Vec<u8> {
    let mut line = b"{\"type\":\"bulletin\",\"x\":[".to_vec();
    line.extend(std::iter::repeat_n(*b"0,", 16 << 20).flatten());
    line.extend_from_slice(b"0]}\n");
    line
}

#[test]
fn json_decoding_builds_no_tree() {
    let env = Env::new();
    env.keygen("relay.key");
    let line = line_of_small_values();
    let (out, rss) = measured(&env, &["unpack", "--type", "bulletin"], &line);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("bad field 'topic': missing"),
        "{}",
        out.stderr
    );
    assert_under("unpack, 32 MiB line of small values", rss, 64 * MIB);
    let relay = ["relay", "-k", "relay.key", "--now", NOW];
    let (out, rss) = measured(&env, &relay, &line);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("malformed=1"), "{}", out.stderr);
    assert_under("relay, 32 MiB line of small values", rss, 64 * MIB);
}

#[test]
fn whole_input_readers_stop_at_the_cap() {
    let env = Env::new();
    let big = sparse(&env, "big.bin", 512 * MIB);
    for args in [
        vec!["unpack", "--raw", "--type", "bulletin", "-i", &big],
        vec!["bulletin", "new", "--topic", "t", "--ts", NOW, "-f", &big],
    ] {
        let (out, rss) = measured(&env, &args, b"");
        assert_eq!(out.code, 3, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty());
        assert!(out.stderr.contains("the limit is"), "{}", out.stderr);
        assert_under(&format!("{args:?} on 512 MiB"), rss, 100 * MIB);
    }
    // A text line is read up to its encoding's cap (128 MiB of hex), then
    // dropped as read: one malformed object, and the next line still counts.
    let args = ["unpack", "--hex", "--type", "bulletin", "-i", &big];
    let (out, rss) = measured(&env, &args, b"");
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("exceeds the"), "{}", out.stderr);
    assert_under("unpack --hex on a 512 MiB line", rss, 160 * MIB);
}

#[test]
fn no_command_makes_an_object_that_no_reader_takes() {
    let env = Env::new();
    let addr = env.keygen("k.key");
    // message new --body-file: 70 MB is refused, not written.
    let body = sparse(&env, "body.bin", 70_000_000);
    let out = env.run(
        &[
            "message",
            "new",
            "--to",
            &addr,
            "-k",
            "k.key",
            "--ts",
            NOW,
            "--body-file",
            &body,
        ],
        b"",
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stdout.is_empty());

    // bulletin new: content past MAX_BULLETIN is refused...
    let over = sparse(&env, "over.bin", MAX_BULLETIN - 72 + 1);
    let new = |file: &str| {
        let args = ["bulletin", "new", "--topic", "t", "--ts", NOW, "-f", file];
        env.run(&[&args[..], &["--format", "wire"]].concat(), b"")
    };
    assert_eq!(new(&over).code, 3);
    // ...and a bulletin at the cap wraps into a message within the cap,
    // which reads back. (Wire and --no-encrypt keep the debug build fast;
    // sealing adds its 48 bytes, which MAX_BULLETIN leaves room for.)
    let max = sparse(&env, "max.bin", MAX_BULLETIN - 72);
    let b = new(&max);
    assert_eq!(b.code, 0, "{}", b.stderr);
    let sign = [
        "sign",
        "-k",
        "k.key",
        "--to-self",
        "-d",
        "0",
        "--now",
        NOW,
        "--no-encrypt",
    ];
    let m = env.run(&[&sign[..], &["--format", "wire"]].concat(), &b.stdout);
    assert_eq!(m.code, 0, "{}", m.stderr);
    assert_eq!(m.stdout.len() as u64, 4 + MAX_OBJECT - 48);
    assert_eq!(env.ok(&["pack"], &m.stdout).stdout, m.stdout);
    // A bulletin one byte over the cap, framed by hand, is refused on read.
    let mut frame = ((MAX_BULLETIN + 1) as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&b.stdout[4..]);
    frame.push(0);
    let out = env.run(&["unpack", "--type", "bulletin"], &frame);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("exceeds the"), "{}", out.stderr);
}
