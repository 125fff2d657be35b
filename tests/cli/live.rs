//! Live output: every command that reads a stream writes each result out
//! as soon as no more input is waiting, not at the end of its input.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::util::Env;

/// Spawns gossip with piped stdin and stdout.
fn spawn(env: &Env, args: &[&str]) -> (Child, ChildStdin, mpsc::Receiver<String>) {
    let mut child = std::process::Command::new(crate::util::bin())
        .current_dir(env.path("."))
        .env_remove("GOSSIP_KEY")
        .env_remove("GOSSIP_NOW")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gossip");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, stdin, rx)
}

/// Writes `input` and expects a line on stdout while stdin is still open.
fn line_while_open(env: &Env, args: &[&str], input: &[u8]) -> String {
    let (mut child, mut stdin, rx) = spawn(env, args);
    stdin.write_all(input).unwrap();
    stdin.flush().unwrap();
    let line = rx.recv_timeout(Duration::from_secs(30));
    drop(stdin);
    let _ = child.wait();
    line.unwrap_or_else(|_| panic!("gossip {args:?} wrote nothing while its input was open"))
}

#[test]
fn verify_prints_a_verdict_while_its_input_is_open() {
    let env = Env::new();
    let bulletin = env
        .ok(
            &["bulletin", "new", "--topic", "chat", "--ts", "1000", "hi"],
            "",
        )
        .stdout;
    let mined = env.ok(&["hashcash"], &bulletin).stdout;
    let line = line_while_open(&env, &["verify", "--now", "1000"], &mined);
    assert_eq!(line, "1 bulletin: valid");
}

#[test]
fn stream_commands_write_each_result_while_input_is_open() {
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
    let to = env
        .ok(&["address", "-k", "a.key"], "")
        .text()
        .trim()
        .to_owned();
    for args in [
        &["hashcash", "-d", "4"][..],
        &["hashcash", "--check"],
        &["inspect", "--now", "1000"],
        &["pack", "--hex"],
        &["sign", "-k", "a.key", "--to-self", "--now", "1000"],
        &[
            "message",
            "new",
            "-k",
            "a.key",
            "--to",
            to.as_str(),
            "--now",
            "1000",
        ],
    ] {
        line_while_open(&env, args, &mined);
    }
    line_while_open(&env, &["open", "-k", "a.key", "--now", "1000"], &message);
    line_while_open(&env, &["decrypt", "-k", "a.key"], &message);
    let hex = env.ok(&["pack", "--hex"], &mined).stdout;
    line_while_open(&env, &["unpack", "--type", "bulletin", "--hex"], &hex);
}
