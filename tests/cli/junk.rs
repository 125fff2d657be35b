//! Junk on the input: a bad JSON line, wherever it comes (the first line
//! too), is one malformed object and the stream goes on, in the relay as in
//! every reader; a broken wire stream ends with one error and exit 3.

use crate::util::{Env, frame, signed_bulletin};

const NOW: &str = "1700000000";

/// A relay key, and one message to it carrying a bulletin on `chat`.
fn relay_and_message(env: &Env) -> String {
    let relay = env.keygen("relay.key");
    env.keygen("user.key");
    signed_bulletin(env, "chat", 1_700_000_000, "user.key", &relay)
}

fn relay_args() -> Vec<&'static str> {
    vec![
        "relay",
        "-k",
        "relay.key",
        "--subscribe",
        "chat",
        "--deliver",
        "-",
        "--now",
        NOW,
    ]
}

#[test]
fn a_stray_first_line_is_skipped_and_the_relay_goes_on() {
    let env = Env::new();
    let m = relay_and_message(&env);
    for junk in ["hello there\n", "\u{7f}ELF\n", "[1,2]\n", "x"] {
        let input = format!("{junk}\n{m}");
        let out = env.run(&relay_args(), &input);
        assert_eq!(out.code, 0, "{junk:?}: {}", out.stderr);
        let delivered = out.json();
        assert_eq!(delivered.len(), 1, "{junk:?}: {}", out.stderr);
        assert_eq!(delivered[0]["content"], "aGk=");
        assert!(out.stderr.contains("malformed=1"), "{}", out.stderr);
    }
}

#[test]
fn a_bad_line_anywhere_is_skipped_by_every_reader() {
    let env = Env::new();
    let m = relay_and_message(&env);
    let input = format!("hello there\n{m}not json\n{m}");
    let out = env.run(&["verify", "--now", NOW], &input);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.lines().len(), 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("gossip: stdin object 1: bad JSON")
            && out.stderr.contains("gossip: stdin object 3: bad JSON"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_broken_wire_stream_ends_the_relay_with_one_error_and_exit_3() {
    let env = Env::new();
    let m = relay_and_message(&env);
    let mut input = env.ok(&["pack"], &m).stdout;
    input.extend_from_slice(&[0, 0, 0, 200, 1, 2, 3]);
    let out = env.run(&relay_args(), &input);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.json().len(), 1, "what came before is delivered");
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("truncated frame"))
        .collect();
    assert_eq!(
        errors,
        ["gossip: relay: stdin: truncated frame: length prefix says 200 bytes, got 3"],
        "{}",
        out.stderr
    );
}

#[test]
fn unpack_text_counts_a_non_utf8_line_as_malformed_and_goes_on() {
    let env = Env::new();
    let m = relay_and_message(&env);
    for (flag, good) in [
        ("--hex", env.ok(&["pack", "--hex"], &m).stdout),
        ("--base64", env.ok(&["pack", "--base64"], &m).stdout),
    ] {
        let mut input = good.clone();
        input.extend_from_slice(b"\xff\xfe not text\n");
        input.extend_from_slice(&good);
        let out = env.run(&["unpack", flag, "--type", "message"], &input);
        assert_eq!(out.code, 3, "{flag}: {}", out.stderr);
        assert_eq!(out.lines().len(), 2, "{flag}: {}", out.stderr);
        assert!(
            out.stderr
                .starts_with("gossip: stdin object 2: not UTF-8 text"),
            "{flag}: {}",
            out.stderr
        );
    }
}

#[test]
fn wire_streams_still_detect_from_their_first_byte() {
    let env = Env::new();
    let m = relay_and_message(&env);
    let wire = env.ok(&["pack"], &m).stdout;
    let out = env.ok(&["unpack", "--type", "message"], &wire);
    assert_eq!(out.lines().len(), 1);
    // A first byte above 0x04 cannot start a frame within the cap, and with
    // its NULs the stream is not text either: refused once as neither.
    let mut bad = frame(b"x");
    bad[0] = 5;
    let out = env.run(&["unpack", "--type", "message"], &bad);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("gossip: stdin object 1: not an object stream: starts with byte 0x05"),
        "{}",
        out.stderr
    );
    // Without a NUL or bad UTF-8 it is read as (bad) JSON lines.
    let out = env.run(&["unpack", "--type", "message"], "\u{5}x\n");
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("bad JSON"), "{}", out.stderr);
}

/// The case, over real netcat: "hello there" typed into
/// `nc -l … | gossip relay`, then a message; the relay delivers it.
#[test]
fn hello_there_through_netcat_then_a_message_is_delivered() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    if Command::new("nc").arg("-h").output().is_err() {
        crate::skip::notice(
            "hello_there_through_netcat_then_a_message_is_delivered",
            "nc is not installed",
        );
        return;
    }
    let env = Env::new();
    let m = relay_and_message(&env);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let relay = relay_args()
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let script = format!(
        "nc -l 127.0.0.1 {port} | '{}' {relay}",
        crate::util::bin().display()
    );
    let server = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(env.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut conn = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("nc -l never listened: {e}"),
        }
    };
    conn.write_all(b"hello there\n").unwrap();
    conn.write_all(m.as_bytes()).unwrap();
    drop(conn);
    let out = server.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let delivered = String::from_utf8_lossy(&out.stdout);
    assert_eq!(delivered.lines().count(), 1, "{stderr}");
    assert!(delivered.contains("\"content\":\"aGk=\""), "{delivered}");
    assert!(stderr.contains("malformed=1"), "{stderr}");
}
