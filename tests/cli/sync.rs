//! `gossip sync`, through the binary over real sockets: against a `gossip
//! relay --listen --store` peer (equal sets, down, up), a peer that accepts
//! and never answers (exit 1 within --timeout) and nothing listening (exit
//! 4).

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gossip::Bulletin;
use gossip::codec::Object;

use crate::util::{Env, PATIENCE, bin};

/// `n` bulletins on `topic` with contents `PREFIX i`, fresh (ts a little
/// before now), as JSON lines.
fn bulletins(topic: &str, prefix: &str, n: usize) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    (0..n)
        .map(|i| {
            let content = format!("{prefix} {i}").into_bytes();
            let b = Bulletin::new(gossip::topic_id(topic.as_bytes()), content, now - 30);
            format!("{}\n", Object::Bulletin(b).to_json())
        })
        .collect()
}

/// Publishes `lines` into the store `db` (a relay on stdin that ends with it).
fn load(env: &Env, key: &str, db: &str, lines: &str) {
    env.ok(
        &[
            "relay",
            "-k",
            key,
            "--store",
            db,
            "--no-sync",
            "--bulletin-difficulty",
            "0",
            "-q",
        ],
        lines,
    );
}

/// The bulletins a store holds.
fn held(env: &Env, db: &str) -> usize {
    env.ok(&["store", "list", db], "").lines().len()
}

/// A `gossip relay --listen 127.0.0.1:0` peer, killed when dropped.
struct Peer {
    child: Child,
    /// `ADDR@127.0.0.1:PORT`.
    connect: String,
}

impl Peer {
    fn start(env: &Env, key: &str, address: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(bin())
            .current_dir(env.dir.path())
            .args(["relay", "-k", key, "--listen", "127.0.0.1:0"])
            .args(["--bulletin-difficulty", "0"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn relay");
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("gossip: relay: listening on ") {
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let host = rx.recv_timeout(PATIENCE).expect("the relay listens");
        Self {
            child,
            connect: format!("{address}@{host}"),
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `gossip sync` with the local key and store against `connect`.
fn sync(env: &Env, connect: &str, extra: &[&str]) -> crate::util::Out {
    let args = [
        &[
            "sync",
            "-k",
            "local.key",
            "--store",
            "local.db",
            "--connect",
            connect,
            "--topic",
            "chat",
            "--bulletin-difficulty",
            "0",
        ][..],
        extra,
    ]
    .concat();
    env.run(&args, "")
}

#[test]
fn equal_sets_move_nothing_and_exit_0() {
    let env = Env::new();
    let peer = env.keygen("peer.key");
    env.keygen("local.key");
    let made = env
        .ok(&["bulletin", "new", "--topic", "chat", "one"], "")
        .text();
    let lines = env.ok(&["hashcash", "-d", "0"], made).text() + &bulletins("chat", "m", 49);
    load(&env, "peer.key", "peer.db", &lines);
    load(&env, "local.key", "local.db", &lines);
    let relay = Peer::start(&env, "peer.key", &peer, &["--store", "peer.db"]);
    let out = sync(&env, &relay.connect, &[]);
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    let text = out.text();
    assert!(
        text.starts_with("chat: 0 moved (0 down, 0 up); in sync; reconciled in 1 round"),
        "{text}"
    );
    assert_eq!(held(&env, "local.db"), 50);
}

#[test]
fn down_fetches_all_2000_and_a_second_run_moves_0() {
    let env = Env::new();
    let peer = env.keygen("peer.key");
    env.keygen("local.key");
    load(&env, "peer.key", "peer.db", &bulletins("chat", "m", 2000));
    let relay = Peer::start(&env, "peer.key", &peer, &["--store", "peer.db"]);
    let started = Instant::now();
    let out = sync(&env, &relay.connect, &["--format", "json"]);
    let took = started.elapsed();
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    let report = out.one();
    assert_eq!(report["type"], "sync");
    assert_eq!(report["down"], 2000, "{report}");
    assert_eq!(report["up"], 0, "{report}");
    assert_eq!(report["in_sync"], true, "{report}");
    assert_eq!(report["method"], "reconcile", "{report}");
    assert_eq!(held(&env, "local.db"), 2000);
    eprintln!("sync of 2,000 down: {took:?}");

    let again = sync(&env, &relay.connect, &[]);
    assert_eq!(again.code, 0, "stderr:\n{}", again.stderr);
    assert!(
        again
            .text()
            .starts_with("chat: 0 moved (0 down, 0 up); in sync"),
        "{}",
        again.text()
    );
}

#[test]
fn up_pushes_what_the_peer_lacks_and_only_up() {
    let env = Env::new();
    let peer = env.keygen("peer.key");
    env.keygen("local.key");
    load(&env, "local.key", "local.db", &bulletins("chat", "up", 100));
    load(
        &env,
        "peer.key",
        "peer.db",
        &bulletins("chat", "peer only", 7),
    );
    let relay = Peer::start(
        &env,
        "peer.key",
        &peer,
        &[
            "--store",
            "peer.db",
            "--topic",
            "chat",
            "--deliver",
            "d.out",
        ],
    );
    let out = sync(&env, &relay.connect, &["--dir", "up", "--print-missing"]);
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    let lines = out.lines();
    assert!(
        lines[0].starts_with(
            "chat: 100 moved (0 down, 100 up); in sync, 7 missing here not fetched (--dir up)"
        ),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 8, "the 7 ids left on the peer: {lines:?}");
    assert!(lines[1].starts_with("chat: missing here: "), "{lines:?}");
    assert_eq!(held(&env, "local.db"), 100, "up fetches nothing");
    // The relay delivers what it took; it stored all of it before it
    // answered the round that found nothing left to push.
    let deadline = Instant::now() + PATIENCE;
    let delivered = loop {
        let n = std::fs::read_to_string(env.path("d.out")).map_or(0, |s| s.lines().count());
        if n >= 100 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(delivered, 100);
    assert_eq!(held(&env, "peer.db"), 107);
}

#[test]
fn a_peer_that_never_answers_exits_1_within_the_timeout() {
    let env = Env::new();
    let peer = env.keygen("peer.key");
    env.keygen("local.key");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = listener.accept() {
            let mut c = s.try_clone().unwrap();
            std::thread::spawn(move || std::io::copy(&mut c, &mut std::io::sink()));
            let _ = s.read(&mut [0u8; 0]);
            held.push(s);
        }
    });
    let started = Instant::now();
    let out = sync(&env, &format!("{peer}@{host}"), &["--timeout", "2"]);
    let took = started.elapsed();
    assert_eq!(out.code, 1, "stderr:\n{}", out.stderr);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        out.stderr.contains(&format!(
            "gossip: sync: {host}: 1 of 1 topics not in sync: timed out after 2 s\n"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.text()
            .starts_with("chat: 0 moved (0 down, 0 up); not in sync (timed out after 2 s)"),
        "{}",
        out.text()
    );
}

#[test]
fn nothing_listening_exits_4() {
    let env = Env::new();
    let peer = env.keygen("peer.key");
    env.keygen("local.key");
    let host = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = sync(&env, &format!("{peer}@{host}"), &["--timeout", "5"]);
    assert_eq!(out.code, 4, "stderr:\n{}", out.stderr);
    assert!(
        out.stderr
            .starts_with(&format!("gossip: sync: cannot connect to {host}: ")),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_topic_is_required_and_down_is_the_default() {
    let env = Env::new();
    let peer = env.keygen("peer.key");
    env.keygen("local.key");
    let connect = format!("{peer}@127.0.0.1:9");
    env.usage(
        &["sync", "-k", "local.key", "local.db", "--connect", &connect],
        "",
    );
    let help = env.ok(&["sync", "--help"], "").text();
    assert!(help.contains("[default: down]"), "{help}");
    assert!(help.contains("--topic-id <HEX>"), "{help}");
}

#[test]
fn a_full_list_peer_is_synced_both_ways_by_its_list() {
    let env = Env::new();
    let peer = env.keygen("peer.key");
    env.keygen("local.key");
    load(
        &env,
        "peer.key",
        "peer.db",
        &bulletins("chat", "there", 300),
    );
    load(
        &env,
        "local.key",
        "local.db",
        &bulletins("chat", "here", 20),
    );
    let relay = Peer::start(
        &env,
        "peer.key",
        &peer,
        &["--store", "peer.db", "--no-reconcile"],
    );
    let out = sync(&env, &relay.connect, &["--dir", "both", "--format", "json"]);
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    let report = out.one();
    assert_eq!(report["method"], "full_list", "{report}");
    assert_eq!(report["down"], 300, "{report}");
    assert_eq!(report["up"], 20, "{report}");
    assert_eq!(report["in_sync"], true, "{report}");
    assert_eq!(held(&env, "local.db"), 320);
    let deadline = Instant::now() + PATIENCE;
    while held(&env, "peer.db") < 320 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(held(&env, "peer.db"), 320);
}
