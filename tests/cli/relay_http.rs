//! `gossip relay --http HOST:PORT`, through the binary over real sockets:
//! /metrics carries the --metrics file's families, /healthz counts peers,
//! the server's bounds (connections, head size, slow clients) hold, and a
//! bad or busy address is a startup error. The store probe's cases (a
//! read-only and a full store) are tests/hardening/http_health.sh.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gossip::Bulletin;
use gossip::codec::Object;

use crate::util::{Env, PATIENCE, assert_error_format, bin};

/// A `gossip relay --http 127.0.0.1:0` (and whatever else), killed when
/// dropped; its stdin is held open so it runs until then.
struct Relay {
    child: Child,
    /// Where its HTTP server listens.
    http: String,
    /// Where its `--listen` listens, when it does.
    listen: Option<String>,
}

impl Relay {
    fn start(env: &Env, key: &str, extra: &[&str]) -> Self {
        Self::start_with(env, key, extra, Stdio::null())
    }

    /// [`Relay::start`] with its stdout going to `stdout`.
    fn start_with(env: &Env, key: &str, extra: &[&str], stdout: Stdio) -> Self {
        let mut child = Command::new(bin())
            .current_dir(env.dir.path())
            .args(["relay", "-k", key, "--http", "127.0.0.1:0"])
            .args(["--bulletin-difficulty", "0"])
            .args(extra)
            .env_remove("GOSSIP_NOW")
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn relay");
        let listens = extra.contains(&"--listen");
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                assert!(!line.contains("panicked"), "{line}");
                if let Some(rest) = line.strip_prefix("gossip: relay: http on ") {
                    let addr = rest.split(' ').next().unwrap_or_default();
                    let _ = tx.send(("http", addr.to_owned()));
                } else if let Some(addr) = line.strip_prefix("gossip: relay: listening on ") {
                    let _ = tx.send(("listen", addr.to_owned()));
                }
            }
        });
        let (mut http, mut listen) = (None, None);
        while http.is_none() || (listens && listen.is_none()) {
            match rx
                .recv_timeout(PATIENCE)
                .expect("the relay says where it listens")
            {
                ("http", a) => http = Some(a),
                (_, a) => listen = Some(a),
            }
        }
        Self {
            child,
            http: http.unwrap_or_default(),
            listen,
        }
    }

    /// GET `path`: the status and the body.
    fn get(&self, path: &str) -> (u16, String) {
        request(
            &self.http,
            &format!("GET {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n"),
        )
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// GETs `path` until `want` holds of the answer; fails after PATIENCE.
    fn wait_get(&self, path: &str, want: impl Fn(u16, &str) -> bool) -> (u16, String) {
        let end = Instant::now() + PATIENCE;
        loop {
            let (status, body) = self.get(path);
            if want(status, &body) {
                return (status, body);
            }
            assert!(
                Instant::now() < end,
                "GET {path}: still {status} {body:?} after {PATIENCE:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `raw` on a new connection to `addr` and reads the answer to its
/// end: the status and the body.
fn request(addr: &str, raw: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(PATIENCE))
        .map_err(|e| e.to_string())?;
    s.write_all(raw.as_bytes()).map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    parse(&answer)
}

/// The status and the body of an HTTP/1.1 answer.
fn parse(answer: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line: {head:?}"))?;
    Ok((status, body.to_owned()))
}

/// The family of each sample and `# TYPE` line of Prometheus text.
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| match l.strip_prefix("# TYPE ") {
            Some(t) => t.split(' ').next(),
            None if l.starts_with('#') || l.is_empty() => None,
            None => l.split(['{', ' ']).next(),
        })
        .map(str::to_owned)
        .collect()
}

/// A new key and `ADDR@127.0.0.1:PORT` for it, on a port nothing listens
/// on (it was free a moment ago).
fn unreachable_peer(env: &Env, key: &str) -> (String, String) {
    let address = env.keygen(key);
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dial = format!("{address}@127.0.0.1:{port}");
    (address, dial)
}

#[test]
fn metrics_over_http_are_the_files_families() {
    let env = Env::new();
    env.keygen("relay.key");
    // A dialed peer (nothing listens there) brings the per-peer families.
    let (peer, dial) = unreachable_peer(&env, "peer.key");
    let relay = Relay::start(
        &env,
        "relay.key",
        &["--metrics", "m.prom", "--connect", &dial, "-q"],
    );
    let (_, metrics) = relay.wait_get("/metrics", |s, b| s == 200 && b.contains(&peer));
    let end = Instant::now() + PATIENCE;
    let file = loop {
        match std::fs::read_to_string(env.path("m.prom")) {
            Ok(text) if text.contains(&peer) => break text,
            _ => assert!(Instant::now() < end, "no --metrics file with the peer"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (over_http, in_file) = (families(&metrics), families(&file));
    assert!(
        over_http.contains("gossip_relay_received_total"),
        "{metrics}"
    );
    assert!(over_http.contains("gossip_peer_connected"), "{metrics}");
    assert!(over_http.contains("gossip_relay_deliveries_pending"));
    assert_eq!(over_http, in_file, "/metrics:\n{metrics}\nfile:\n{file}");
}

#[test]
fn healthz_wants_the_configured_peers() {
    let env = Env::new();
    let a = env.keygen("a.key");
    env.keygen("b.key");
    // A peer A dials and never reaches is known, not up.
    let (_, dial) = unreachable_peer(&env, "c.key");
    let relay = Relay::start(
        &env,
        "a.key",
        &[
            "--listen",
            "127.0.0.1:0",
            "--connect",
            &dial,
            "--healthy-peers",
            "1",
            "-q",
        ],
    );
    let (status, body) = relay.wait_get("/healthz", |_, b| !b.contains("not turning yet"));
    assert_eq!(
        (status, body.as_str()),
        (503, "peers: 0 up, fewer than --healthy-peers 1\n")
    );
    // B dials A (and syncs, so A learns it): one peer up.
    let listen = relay.listen.clone().expect("A listens");
    let b = Relay::start(
        &env,
        "b.key",
        &["--connect", &format!("{a}@{listen}"), "-q"],
    );
    relay.wait_get("/healthz", |s, b| s == 200 && b == "ok\n");
    // Without B, A is one short again.
    drop(b);
    let (status, body) = relay.wait_get("/healthz", |s, _| s != 200);
    assert_eq!(
        (status, body.as_str()),
        (503, "peers: 0 up, fewer than --healthy-peers 1\n")
    );
}

#[test]
fn healthz_says_when_the_loop_stalls() {
    let env = Env::new();
    env.keygen("relay.key");
    let peer = env.keygen("peer.key");
    // The peer's messages go to stdout, which nothing reads: once the pipe
    // is full, the relay's loop blocks writing to it.
    let args = [
        "--peer",
        &peer,
        "-d",
        "0",
        "--no-sync",
        "--healthy-loop",
        "1",
    ];
    let mut relay = Relay::start_with(&env, "relay.key", &args, Stdio::piped());
    relay.wait_get("/healthz", |s, _| s == 200);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as u32;
    let pad = "x".repeat(2000);
    let input: String = (0..100)
        .map(|i| {
            let content = format!("bulletin {i} {pad}").into_bytes();
            let b = Bulletin::new(gossip::topic_id(b"chat"), content, now - 30);
            format!("{}\n", Object::Bulletin(b).to_json())
        })
        .collect();
    let mut stdin = relay.child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write bulletins");
    // Stalled for 2 s at least: no turn of a loop that is only busy.
    let stalled_for = |b: &str| -> Option<u64> {
        b.strip_prefix("loop: stalled: last turned ")?
            .strip_suffix(" s ago (--healthy-loop 1)\n")?
            .parse()
            .ok()
    };
    relay.wait_get("/healthz", |s, b| {
        s == 503 && stalled_for(b).is_some_and(|n| n >= 2)
    });
    // Read stdout: the loop turns again.
    let mut out = relay.child.stdout.take().expect("stdout");
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    relay.wait_get("/healthz", |s, b| s == 200 && b == "ok\n");
    drop(stdin);
}

/// A relay with only `--http`, once /healthz says 200 (and its scratch
/// directory, to keep while it runs).
fn healthy_relay() -> (Env, Relay) {
    let env = Env::new();
    env.keygen("relay.key");
    let relay = Relay::start(&env, "relay.key", &[]);
    relay.wait_get("/healthz", |s, _| s == 200);
    (env, relay)
}

#[test]
fn other_paths_and_methods_are_refused() {
    let (_env, relay) = healthy_relay();
    assert_eq!(relay.get("/").0, 404);
    assert_eq!(relay.get("/metrics/x").0, 404);
    let post = "POST /metrics HTTP/1.1\r\nHost: r\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(request(&relay.http, post).map(|a| a.0), Ok(405));
    // A query string is not part of the path.
    assert_eq!(relay.get("/healthz?verbose=1").0, 200);
}

/// Opens a connection and sends the start of a request head, never ending
/// it.
fn slow_client(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n")
        .expect("write");
    s
}

/// How long the server may hold a client that never ends its request:
/// its 5 s for a head, with room for a loaded machine (hyper alone, with
/// no timeouts set, holds it for ever).
const SLOW_LIMIT: Duration = Duration::from_secs(60);

/// Reads a connection to its end (or to `by`): what came.
fn read_all(mut s: TcpStream, by: Instant) -> Vec<u8> {
    let left = by.saturating_duration_since(Instant::now());
    s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .expect("timeout");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}

#[test]
fn slow_clients_are_cut_off_and_bounded() {
    let (_env, relay) = healthy_relay();
    // A head past 8 KiB: 431.
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Pad: {}\r\n\r\n",
        "x".repeat(9000)
    );
    assert_eq!(request(&relay.http, &big).map(|a| a.0), Ok(431));

    // Slowloris: 16 heads that never end take every slot ...
    let started = Instant::now();
    let slow: Vec<TcpStream> = (0..16).map(|_| slow_client(&relay.http)).collect();
    // ... so one more connection is closed unanswered (each is accepted in
    // turn: once the 16 are, the next finds no slot). The 16 are held for
    // 5 s; a machine too loaded to get here within them says so.
    let mut extra = TcpStream::connect(&relay.http).expect("connect");
    extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
        .unwrap_or_default();
    let got = read_all(extra, started + SLOW_LIMIT);
    if started.elapsed() < Duration::from_secs(4) {
        assert!(
            got.is_empty(),
            "a 17th connection was answered: {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    // Each slow one is closed when its 5 s for a head run out (hyper
    // answers 408, or just closes).
    for s in slow {
        let got = read_all(s, started + SLOW_LIMIT);
        assert!(
            got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(4), "cut off after {took:?}");
    assert!(took < SLOW_LIMIT, "slow clients held for {took:?}");
    // And the server answers again, the loop still turning.
    relay.wait_get("/healthz", |s, _| s == 200);
}

#[test]
fn a_bad_or_busy_http_address_is_a_startup_error() {
    let env = Env::new();
    env.keygen("relay.key");
    for (bad, why) in [
        ("127.0.0.1", "not HOST:PORT"),
        (":9100", "no host"),
        ("host:99999", "'99999' is not a port"),
    ] {
        let out = env.fail(&["relay", "-k", "relay.key", "--http", bad], "", 2);
        let want = format!("gossip: relay: bad --http '{bad}': {why}");
        assert!(out.stderr.starts_with(&want), "{}", out.stderr);
    }
    // Without --http, --healthy-peers has nothing to answer: said, not refused
    // (a config file printed by --print-config names every setting).
    let out = env.ok(&["relay", "-k", "relay.key", "--healthy-peers", "1"], "");
    assert!(
        out.stderr
            .contains("gossip: relay: --healthy-peers 1 has no effect without --http\n"),
        "{}",
        out.stderr
    );

    let busy = TcpListener::bind("127.0.0.1:0").expect("bind");
    let at = busy.local_addr().expect("addr").to_string();
    let out = env.fail(&["relay", "-k", "relay.key", "--http", &at], "", 4);
    assert_error_format(&out.stderr);
    assert!(
        out.stderr
            .starts_with(&format!("gossip: relay: --http {at}: cannot listen: ")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("\nhint: "), "{}", out.stderr);
}
