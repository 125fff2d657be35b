//! Two `gossip` builds side by side over loopback TCP, in one run, run
//! alternately (base, new, base, new, ...) so a noisy machine weighs on
//! both alike; each figure is the median of the rounds.
//!
//! `GOSSIP_BASE=PATH GOSSIP_NEW=PATH cargo bench --bench relay_ab`
//! (`bench/relay-ab` builds the base from a git revision and runs this).
//! Either path defaults to this tree's own `gossip`. Three figures:
//!
//! 1. **Throughput**: one relay (`--listen`), a receiver peer and a sender
//!    peer connected to it. The sender pushes `RELAY_AB_MESSAGES` (10,000)
//!    messages, each carrying a new bulletin; the relay forwards each to
//!    the receiver. Timed from the first byte sent to the last forward
//!    read.
//! 2. **Idle peers**: `RELAY_AB_PEERS` (1,000 and 10,000) connections that
//!    each sent one valid message (a sync request), then stay silent. A
//!    peer is known to be bound once it reads the answer, or the forward
//!    of a probe bulletin that one more peer publishes every 2 s (15 at
//!    most) while some peer has had neither: a relay answers at most
//!    4,096 strangers a minute. The peers still without either are
//!    counted in the table. The relay's VmRSS before and after, VmHWM,
//!    threads, and CPU time (utime + stime) over
//!    `RELAY_AB_IDLE_SECS` (10) s of idleness. The descriptor limit of
//!    this process (and so of the relays it starts) is raised to its hard
//!    limit.
//! 3. **Latency across a chain of three relays** (A dials B, B dials C):
//!    a publisher peer on A, a subscriber peer on C; `RELAY_AB_CHAIN`
//!    (200) bulletins published one at a time, each timed from its send
//!    to its forward read on C; p50 and p99 over all rounds.
//!
//! Difficulties are low (`RELAY_AB_DIFFICULTY`, `RELAY_AB_BULLETIN_DIFFICULTY`,
//! both 0 by default: `-d 0 --bulletin-difficulty 0`), so mining is not
//! what is measured. `RELAY_AB_ROUNDS` (3) rounds (throughput: three
//! runs a round); each figure's runs are done together, alternating
//! between the builds; `RELAY_AB_ONLY` picks
//! figures (`throughput,idle,chain`). All messages are made before any
//! timing starts; the peers only write prepared bytes and count frames
//! (the forwards are opened and checked after the clock stops).

// Reads the clock tick and rusage through libc (Cargo.toml denies unsafe_code).
#![allow(unsafe_code)]

use std::collections::HashSet;
use std::fs;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gossip::Bulletin;
use gossip::TopicId;
use gossip::crypto::{Cipher, Identity, PeerKey};
use gossip::node::prepare_message;
use gossip::pow::{Mined, Progress, mine};
use gossip::{Address, Seed, key_file_text};
use gossip::{Op, Payload};
use rayon::prelude::*;

/// The relays' clock (`--now`) and every message's timestamp.
const NOW: u64 = 1_764_000_100;

/// How long any one wait may take before the run is failed.
const DEADLINE: Duration = Duration::from_secs(120);

/// Throughput runs of each build for every round of the other figures
/// (they are short, and the noisiest).
const THROUGHPUT_RUNS: u32 = 3;

/// The topic every bench bulletin is on.
const TOPIC: [u8; 32] = [0xab; 32];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The bench's settings, from the environment.
struct Settings {
    messages: u32,
    peers: Vec<u32>,
    idle: Duration,
    chain: u32,
    rounds: u32,
    difficulty: u32,
    bulletin_difficulty: u32,
    only: Vec<String>,
}

impl Settings {
    fn from_env() -> Self {
        let peers = std::env::var("RELAY_AB_PEERS").unwrap_or_else(|_| "1000,10000".into());
        let only =
            std::env::var("RELAY_AB_ONLY").unwrap_or_else(|_| "throughput,idle,chain".into());
        Self {
            messages: env_or("RELAY_AB_MESSAGES", 10_000),
            peers: peers
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect(),
            idle: Duration::from_secs(env_or("RELAY_AB_IDLE_SECS", 10)),
            chain: env_or("RELAY_AB_CHAIN", 200),
            rounds: env_or("RELAY_AB_ROUNDS", 3).max(1),
            difficulty: env_or("RELAY_AB_DIFFICULTY", 0),
            bulletin_difficulty: env_or("RELAY_AB_BULLETIN_DIFFICULTY", 0),
            only: only.split(',').map(|s| s.trim().to_string()).collect(),
        }
    }

    fn runs(&self, figure: &str) -> bool {
        self.only.iter().any(|o| o == figure)
    }
}

/// One of the two builds.
struct Build {
    label: &'static str,
    path: PathBuf,
}

impl Build {
    fn describe(&self) -> String {
        let version = Command::new(&self.path)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|e| format!("cannot run: {e}"));
        let rev = self
            .path
            .parent()
            .map(|d| d.join("REV"))
            .and_then(|p| fs::read_to_string(p).ok())
            .map(|r| format!(", revision {}", r.trim()))
            .unwrap_or_default();
        format!("{}: {} ({version}{rev})", self.label, self.path.display())
    }
}

/// A relay's identity, by name.
fn relay_seed(name: u8) -> Seed {
    Seed::from_bytes([name; 32])
}

/// A peer's identity: distinct for every `i` (and `kind`).
fn peer_seed(kind: u8, i: u32) -> Seed {
    let mut bytes = [kind; 32];
    bytes[..4].copy_from_slice(&i.to_be_bytes());
    Seed::from_bytes(bytes)
}

fn write_key(dir: &Path, name: u8) -> PathBuf {
    let seed = relay_seed(name);
    let path = dir.join(format!("relay-{name:02x}.key"));
    fs::write(
        &path,
        key_file_text(&seed, &Identity::from_seed(&seed).address()).as_bytes(),
    )
    .expect("write key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    path
}

/// A wire frame: 4-byte big-endian length, then the packed message.
fn frame(from: &Identity, to: Address, plain: &[u8], difficulty: u32) -> Vec<u8> {
    let key = PeerKey::new(&to).expect("a relay address is a key");
    let m = prepare_message(
        from,
        &key,
        to,
        plain,
        NOW as u32,
        gossip::Difficulty::new(difficulty),
        Cipher::default(),
    )
    .expect("prepared");
    let packed = m.pack();
    let mut out = Vec::with_capacity(packed.len() + 4);
    out.extend_from_slice(&(packed.len() as u32).to_be_bytes());
    out.extend_from_slice(&packed);
    out
}

/// A store_and_forward message from `from` to `to`, its bulletin's content
/// `text`, mined to the bench's difficulties.
fn bulletin_frame(from: &Identity, to: Address, text: &str, s: &Settings, salt: u32) -> Vec<u8> {
    let mut b = Bulletin::new(
        TopicId::from_bytes(TOPIC),
        text.as_bytes().to_vec(),
        NOW as u32 - 5,
    );
    let Mined::Found(n) = mine(
        &b.work(),
        gossip::Difficulty::new(s.bulletin_difficulty),
        salt.wrapping_mul(7919),
        &Progress::default(),
    ) else {
        panic!("bulletin mined")
    };
    b.nonce = n;
    let plain = Payload::Bulletin(Op::StoreAndForward, b).encode();
    frame(from, to, &plain, s.difficulty)
}

/// A sync request from `from` to `to`: valid, so it binds the connection,
/// and answered, so the answer shows it did.
fn hello_frame(from: &Identity, to: Address, s: &Settings) -> Vec<u8> {
    let plain = Payload::Sync(
        Op::RequestSyncHeaders,
        TopicId::from_bytes([1; 32]),
        Vec::new(),
    )
    .encode();
    frame(from, to, &plain, s.difficulty)
}

fn read_frame(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// The bulletin content a forward to `me` carries, if it carries one.
fn forwarded_content(me: &Identity, body: &[u8]) -> Option<Vec<u8>> {
    let m = gossip::RawMessage::unpack(body).ok()?;
    let plain = me.open(&m.body).ok()?;
    match Payload::decode(&plain).ok()? {
        Payload::Bulletin(_, b) => Some(b.content),
        _ => None,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Whether something listens on 127.0.0.1:`port` (from /proc, so the
/// check opens no connection the relay would have to time out).
fn listening(port: u16) -> bool {
    let needle = format!(":{port:04X} 00000000:0000 0A ");
    fs::read_to_string("/proc/net/tcp").is_ok_and(|t| t.contains(&needle))
}

/// A running relay; killed when dropped.
struct Relay {
    child: Child,
    log: PathBuf,
}

impl Relay {
    fn start(
        build: &Build,
        dir: &Path,
        key: &Path,
        port: u16,
        extra: &[String],
        s: &Settings,
    ) -> Result<Self, String> {
        let log = dir.join(format!(
            "{}-{port}.log",
            build.label.split_whitespace().next().unwrap_or("relay")
        ));
        let child = Command::new(&build.path)
            .args(["relay", "-q", "--no-sync", "--now", &NOW.to_string()])
            .args(["-d", &s.difficulty.to_string()])
            .args(["--bulletin-difficulty", &s.bulletin_difficulty.to_string()])
            .arg("-k")
            .arg(key)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", build.path.display()))?;
        let mut relay = Self { child, log };
        let end = Instant::now() + DEADLINE;
        while !listening(port) {
            if let Ok(Some(status)) = relay.child.try_wait() {
                return Err(format!("relay exited {status}: {}", relay.log_tail()));
            }
            if Instant::now() > end {
                return Err("the relay never listened".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(relay)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the relay's log that say something (a backtrace's
    /// frames left out).
    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| {
                !l.is_empty()
                    && !l.starts_with("at ")
                    && !l.starts_with("note:")
                    && !l.starts_with("stack backtrace")
                    && l.split(':')
                        .next()
                        .is_none_or(|n| n.parse::<u32>().is_err())
            })
            .collect();
        lines[lines.len().saturating_sub(2)..].join(" | ")
    }

    fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            _ => Err(format!("the relay died: {}", self.log_tail())),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What /proc says of a process.
#[derive(Clone, Copy, Default)]
struct Proc {
    rss_kib: u64,
    hwm_kib: u64,
    threads: u64,
    /// utime + stime, clock ticks.
    ticks: u64,
}

fn proc_of(pid: u32) -> Proc {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|x| x.parse::<u64>().ok()).sum());
    Proc {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        threads: field("Threads:"),
        ticks,
    }
}

/// Clock ticks a second (`getconf CLK_TCK`).
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant of the system.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// Raises this process's descriptor limit to its hard limit (the relays
/// it starts inherit it); returns the limit now.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// The prepared inputs of the throughput figure.
struct ThroughputInput {
    relay: Address,
    receiver: Identity,
    receiver_hello: Vec<u8>,
    /// Every message the sender sends, as one buffer of wire frames.
    stream: Vec<u8>,
}

fn throughput_input(s: &Settings) -> ThroughputInput {
    let relay = Identity::from_seed(&relay_seed(0x52)).address();
    let receiver = Identity::from_seed(&peer_seed(0x72, 0));
    let sender = Identity::from_seed(&peer_seed(0x73, 0));
    let frames: Vec<Vec<u8>> = (0..s.messages)
        .into_par_iter()
        .map(|i| bulletin_frame(&sender, relay, &format!("ab {i:08}"), s, i))
        .collect();
    ThroughputInput {
        relay,
        receiver_hello: hello_frame(&receiver, relay, s),
        receiver,
        stream: frames.concat(),
    }
}

/// One throughput run: messages a second, and the CPU time (ticks) the
/// relay and this process (the two peers) spent on them.
struct Throughput {
    rate: f64,
    relay_ticks: u64,
    peer_ticks: u64,
}

/// Messages a second through one relay: sender → relay → receiver.
fn throughput(
    build: &Build,
    dir: &Path,
    key: &Path,
    input: &ThroughputInput,
    s: &Settings,
) -> Result<Throughput, String> {
    let port = free_port();
    let mut relay = Relay::start(build, dir, key, port, &[], s)?;
    let mut rx = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    rx.write_all(&input.receiver_hello)
        .map_err(|e| e.to_string())?;
    rx.set_read_timeout(Some(DEADLINE))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::with_capacity(1 << 20, rx);
    read_frame(&mut reader).map_err(|e| format!("no answer to the receiver's hello: {e}"))?;
    let want = s.messages as usize;
    let counting = std::thread::spawn(move || {
        let mut bodies = Vec::with_capacity(want);
        while bodies.len() < want {
            match read_frame(&mut reader) {
                Ok(body) => bodies.push(body),
                Err(e) => return Err(format!("after {} forwards: {e}", bodies.len())),
            }
        }
        Ok((Instant::now(), bodies))
    });
    let (relay_before, peers_before) = (proc_of(relay.pid()), proc_of(std::process::id()));
    let t = Instant::now();
    let mut tx = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tx.write_all(&input.stream).map_err(|e| e.to_string())?;
    let (end, bodies) = counting.join().expect("receiver thread")?;
    let elapsed = end - t;
    let (relay_after, peers_after) = (proc_of(relay.pid()), proc_of(std::process::id()));
    relay.alive()?;
    drop(relay);
    // Checked after the clock stopped: every forward is one of the sent
    // bulletins, and each came once.
    let contents: HashSet<Vec<u8>> = bodies
        .par_iter()
        .filter_map(|b| forwarded_content(&input.receiver, b))
        .filter(|c| c.starts_with(b"ab "))
        .collect();
    if contents.len() != want {
        return Err(format!(
            "{} distinct bulletins among {} forwards, expected {want}",
            contents.len(),
            bodies.len()
        ));
    }
    let _ = input.relay;
    Ok(Throughput {
        rate: f64::from(s.messages) / elapsed.as_secs_f64(),
        relay_ticks: relay_after.ticks - relay_before.ticks,
        peer_ticks: peers_after.ticks - peers_before.ticks,
    })
}

/// What one idle-peers run measured.
#[derive(Clone, Copy)]
struct Idle {
    /// Peers that had neither an answer nor a forward by the last probe.
    unconfirmed: usize,
    before: Proc,
    bound: Proc,
    after: Proc,
    connect_secs: f64,
}

/// What the idle peers send: each a sync request (valid, so it binds the
/// connection, and answered, which shows it did); then, if some peer has
/// no answer 2 s after the last was sent, probes: bulletins from one more
/// peer that the relay forwards to the peers it has bound. (A relay
/// answers at most 4,096 strangers a minute, so past that many peers the
/// forwards show the rest bound.)
struct IdleInput {
    hellos: Vec<Vec<u8>>,
    probes: Vec<Vec<u8>>,
}

fn idle_input(n: u32, s: &Settings) -> IdleInput {
    let relay = Identity::from_seed(&relay_seed(0x52)).address();
    let hellos = (0..n)
        .into_par_iter()
        .map(|i| hello_frame(&Identity::from_seed(&peer_seed(0x69, i)), relay, s))
        .collect();
    let prober = Identity::from_seed(&peer_seed(0x70, n));
    let probes = (0..15)
        .into_par_iter()
        .map(|i| bulletin_frame(&prober, relay, &format!("idle probe {i}"), s, i))
        .collect();
    IdleInput { hellos, probes }
}

/// `input.hellos.len()` idle connected peers: the relay's memory and CPU.
fn idle(
    build: &Build,
    dir: &Path,
    key: &Path,
    input: &IdleInput,
    s: &Settings,
) -> Result<Idle, String> {
    let n = input.hellos.len();
    let port = free_port();
    // The peers, and the one that sends the probes.
    let extra = ["--max-connections".to_string(), (n + 100).to_string()];
    let mut relay = Relay::start(build, dir, key, port, &extra, s)?;
    let before = proc_of(relay.pid());
    let t = Instant::now();
    let mut peers = Vec::with_capacity(n);
    for (i, hello) in input.hellos.iter().enumerate() {
        let mut c = TcpStream::connect(("127.0.0.1", port)).map_err(|e| match relay.alive() {
            Err(died) => format!("with {i} peers connected, {died}"),
            Ok(()) => format!("peer {i} cannot connect: {e}"),
        })?;
        c.write_all(hello)
            .map_err(|e| format!("peer {i} cannot send: {e}"))?;
        peers.push(c);
        if i % 1000 == 999 {
            relay.alive()?;
        }
    }
    // A peer is bound once anything reaches it: the answer, or a probe's
    // forward. A probe goes out every 2 s while some peer has had neither.
    for c in &peers {
        c.set_nonblocking(true).map_err(|e| e.to_string())?;
    }
    let mut prober: Option<TcpStream> = None;
    let mut waiting: Vec<usize> = (0..n).collect();
    let mut probes = input.probes.iter();
    let (mut probed, end) = (Instant::now(), Instant::now() + DEADLINE);
    let mut scratch = vec![0u8; 1 << 16];
    while !waiting.is_empty() {
        if probed.elapsed() >= Duration::from_secs(2) {
            // Past the last probe, the peers not shown bound are counted.
            let Some(probe) = probes.next() else { break };
            if prober.is_none() {
                prober = Some(TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?);
            }
            if let Some(p) = prober.as_mut() {
                p.write_all(probe).map_err(|e| e.to_string())?;
            }
            probed = Instant::now();
        }
        let mut failed = None;
        waiting.retain(|&i| match (&peers[i]).read(&mut scratch) {
            Ok(0) => {
                failed = Some(format!("the relay closed peer {i}"));
                false
            }
            Ok(_) => false,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => true,
            Err(e) => {
                failed = Some(format!("peer {i}: {e}"));
                false
            }
        });
        if let Some(e) = failed {
            return Err(format!("{e}; {}", relay.alive().err().unwrap_or_default()));
        }
        if Instant::now() > end {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    relay.alive()?;
    let connect_secs = t.elapsed().as_secs_f64();
    let bound = proc_of(relay.pid());
    std::thread::sleep(s.idle);
    let after = proc_of(relay.pid());
    relay.alive()?;
    drop(peers);
    Ok(Idle {
        unconfirmed: waiting.len(),
        before,
        bound,
        after,
        connect_secs,
    })
}

/// The prepared inputs of the chain figure.
struct ChainInput {
    subscriber: Identity,
    subscriber_hello: Vec<u8>,
    /// Readiness probes, then the timed bulletins, each a frame to A.
    probes: Vec<Vec<u8>>,
    timed: Vec<(Vec<u8>, Vec<u8>)>,
}

fn chain_input(s: &Settings) -> ChainInput {
    let a = Identity::from_seed(&relay_seed(0x41)).address();
    let c = Identity::from_seed(&relay_seed(0x43)).address();
    let publisher = Identity::from_seed(&peer_seed(0x70, 0));
    let subscriber = Identity::from_seed(&peer_seed(0x71, 0));
    let probes = (0..60)
        .into_par_iter()
        .map(|i| bulletin_frame(&publisher, a, &format!("probe {i}"), s, i))
        .collect();
    let timed = (0..s.chain)
        .into_par_iter()
        .map(|i| {
            let text = format!("ab chain {i:06}");
            let f = bulletin_frame(&publisher, a, &text, s, i + 1000);
            (f, text.into_bytes())
        })
        .collect();
    ChainInput {
        subscriber_hello: hello_frame(&subscriber, c, s),
        subscriber,
        probes,
        timed,
    }
}

/// Latencies of bulletins across A → B → C, one at a time.
fn chain(
    build: &Build,
    dir: &Path,
    keys: &[PathBuf; 3],
    input: &ChainInput,
    s: &Settings,
) -> Result<Vec<Duration>, String> {
    let addr = |n: u8| Identity::from_seed(&relay_seed(n)).address();
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let mut c = Relay::start(build, dir, &keys[2], pc, &[], s)?;
    let mut b = Relay::start(
        build,
        dir,
        &keys[1],
        pb,
        &["--connect".into(), format!("{}@127.0.0.1:{pc}", addr(0x43))],
        s,
    )?;
    let mut a = Relay::start(
        build,
        dir,
        &keys[0],
        pa,
        &["--connect".into(), format!("{}@127.0.0.1:{pb}", addr(0x42))],
        s,
    )?;
    let mut sub = TcpStream::connect(("127.0.0.1", pc)).map_err(|e| e.to_string())?;
    sub.write_all(&input.subscriber_hello)
        .map_err(|e| e.to_string())?;
    sub.set_read_timeout(Some(DEADLINE))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(sub);
    read_frame(&mut reader).map_err(|e| format!("no answer to the subscriber's hello: {e}"))?;
    let (tx, heard) = mpsc::channel();
    std::thread::spawn(move || {
        while let Ok(body) = read_frame(&mut reader) {
            if tx.send((Instant::now(), body)).is_err() {
                return;
            }
        }
    });
    let mut publisher = TcpStream::connect(("127.0.0.1", pa)).map_err(|e| e.to_string())?;
    publisher.set_nodelay(true).map_err(|e| e.to_string())?;
    // The links are up once a probe gets through (each waits up to 2 s).
    let mut ready = false;
    for probe in &input.probes {
        publisher.write_all(probe).map_err(|e| e.to_string())?;
        if heard.recv_timeout(Duration::from_secs(2)).is_ok() {
            ready = true;
            break;
        }
    }
    if !ready {
        let why = [&mut a, &mut b, &mut c]
            .into_iter()
            .filter_map(|r| r.alive().err())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(format!("no probe crossed the chain {why}"));
    }
    let mut latencies = Vec::with_capacity(input.timed.len());
    for (frame, text) in &input.timed {
        let t = Instant::now();
        publisher.write_all(frame).map_err(|e| e.to_string())?;
        loop {
            let (at, body) = heard
                .recv_timeout(DEADLINE)
                .map_err(|_| format!("bulletin {} never arrived", latencies.len()))?;
            // A late probe is skipped.
            if forwarded_content(&input.subscriber, &body).as_deref() == Some(text) {
                latencies.push(at - t);
                break;
            }
        }
    }
    for r in [&mut a, &mut b, &mut c] {
        r.alive()?;
    }
    Ok(latencies)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn percentile(v: &[Duration], p: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len().max(1)) - 1;
    v.get(i).copied().unwrap_or_default()
}

/// The figures of one build, one list per row, one value per round.
#[derive(Default)]
struct Figures {
    rows: Vec<(String, Vec<f64>)>,
    /// Runs that failed: the figure's name, and why.
    failed: Vec<(String, String)>,
}

impl Figures {
    fn add(&mut self, row: &str, value: f64) {
        match self.rows.iter_mut().find(|(r, _)| r == row) {
            Some((_, v)) => v.push(value),
            None => self.rows.push((row.to_string(), vec![value])),
        }
    }

    fn get(&self, row: &str) -> &[f64] {
        self.rows
            .iter()
            .find(|(r, _)| r == row)
            .map_or(&[], |(_, v)| v)
    }
}

fn cell(v: &[f64], decimals: usize) -> String {
    if v.is_empty() {
        return "failed".into();
    }
    let runs: Vec<String> = v.iter().map(|x| format!("{x:.decimals$}")).collect();
    format!("**{:.decimals$}** ({})", median(v), runs.join(", "))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let s = Settings::from_env();
    let own = PathBuf::from(env!("CARGO_BIN_EXE_gossip"));
    let path = |var: &str| std::env::var_os(var).map_or_else(|| own.clone(), PathBuf::from);
    let builds = [
        Build {
            label: "base",
            path: path("GOSSIP_BASE"),
        },
        Build {
            label: "new",
            path: path("GOSSIP_NEW"),
        },
    ];
    let nofile = raise_nofile();
    let hz = ticks_per_second();
    println!("relay A/B over loopback TCP, same run, alternating base, new, base, new, ...");
    for b in &builds {
        println!("  {}", b.describe());
    }
    println!(
        "  {} cores, load {}, descriptor limit {nofile}; -d {} --bulletin-difficulty {}; {} rounds",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        s.difficulty,
        s.bulletin_difficulty,
        s.rounds
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let relay_key = write_key(dir.path(), 0x52);
    let chain_keys = [0x41, 0x42, 0x43].map(|n| write_key(dir.path(), n));
    let t = Instant::now();
    let tp_input = s.runs("throughput").then(|| throughput_input(&s));
    let chain_in = s.runs("chain").then(|| chain_input(&s));
    let hellos: Vec<(u32, IdleInput)> = if s.runs("idle") {
        s.peers.iter().map(|&n| (n, idle_input(n, &s))).collect()
    } else {
        Vec::new()
    };
    eprintln!("inputs made in {:.1} s", t.elapsed().as_secs_f64());

    let mut figures = [Figures::default(), Figures::default()];
    let mut latencies: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let tp_row = format!("messages/s through one relay ({} bulletins)", s.messages);
    // One figure at a time, its runs alternating between the builds, so
    // both see the same stretch of the machine's load.
    let note = |f: &mut Figures, build: &Build, what: String, e: String| {
        eprintln!("{}: {what} failed: {e}", build.label);
        f.failed.push((what, e));
    };
    if let Some(input) = &tp_input {
        for round in 0..s.rounds * THROUGHPUT_RUNS {
            for (k, build) in builds.iter().enumerate() {
                match throughput(build, dir.path(), &relay_key, input, &s) {
                    Ok(m) => {
                        let ms = |ticks: u64| ticks as f64 / hz * 1000.0;
                        eprintln!(
                            "{} run {}: {:.0} messages/s; CPU: relay {:.0} ms, peers {:.0} ms",
                            build.label,
                            round + 1,
                            m.rate,
                            ms(m.relay_ticks),
                            ms(m.peer_ticks)
                        );
                        figures[k].add(&tp_row, m.rate);
                        figures[k].add("throughput: relay CPU ms a run", ms(m.relay_ticks));
                        figures[k].add(
                            "throughput: the peers' CPU ms a run (this process)",
                            ms(m.peer_ticks),
                        );
                    }
                    Err(e) => note(
                        &mut figures[k],
                        build,
                        format!("throughput run {}", round + 1),
                        e,
                    ),
                }
            }
        }
    }
    for (n, hellos) in &hellos {
        for round in 0..s.rounds {
            for (k, build) in builds.iter().enumerate() {
                let f = &mut figures[k];
                match idle(build, dir.path(), &relay_key, hellos, &s) {
                    Ok(m) => {
                        let mib = |k: u64| k as f64 / 1024.0;
                        let cpu = (m.after.ticks - m.bound.ticks) as f64 / hz * 1000.0;
                        eprintln!(
                            "{} round {}: {n} idle peers: RSS {:.1} -> {:.1} MiB, HWM {:.1} MiB, {} threads, {cpu:.0} ms CPU in {} s (connected in {:.1} s)",
                            build.label,
                            round + 1,
                            mib(m.before.rss_kib),
                            mib(m.after.rss_kib),
                            mib(m.after.hwm_kib),
                            m.after.threads,
                            s.idle.as_secs(),
                            m.connect_secs,
                        );
                        f.add(&format!("{n} idle peers: VmRSS, MiB"), mib(m.after.rss_kib));
                        f.add(
                            &format!("{n} idle peers: VmRSS growth a peer, KiB"),
                            m.after.rss_kib.saturating_sub(m.before.rss_kib) as f64 / f64::from(*n),
                        );
                        f.add(&format!("{n} idle peers: VmHWM, MiB"), mib(m.after.hwm_kib));
                        f.add(&format!("{n} idle peers: threads"), m.after.threads as f64);
                        f.add(
                            &format!("{n} idle peers: not shown bound (no answer nor forward)"),
                            m.unconfirmed as f64,
                        );
                        f.add(
                            &format!("{n} idle peers: s to connect and bind them all"),
                            m.connect_secs,
                        );
                        f.add(
                            &format!("{n} idle peers: CPU ms in {} s idle", s.idle.as_secs()),
                            cpu,
                        );
                    }
                    Err(e) => note(f, build, format!("{n} idle peers"), e),
                }
            }
        }
    }
    if let Some(input) = &chain_in {
        for round in 0..s.rounds {
            for (k, build) in builds.iter().enumerate() {
                let f = &mut figures[k];
                match chain(build, dir.path(), &chain_keys, input, &s) {
                    Ok(l) => {
                        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                        eprintln!(
                            "{} round {}: chain p50 {:.2} ms, p99 {:.2} ms",
                            build.label,
                            round + 1,
                            ms(percentile(&l, 0.5)),
                            ms(percentile(&l, 0.99))
                        );
                        f.add("chain of 3: p50 ms (each round)", ms(percentile(&l, 0.5)));
                        f.add("chain of 3: p99 ms (each round)", ms(percentile(&l, 0.99)));
                        latencies[k].extend(l);
                    }
                    Err(e) => note(f, build, "chain of 3".into(), e),
                }
            }
        }
    }
    println!();
    println!("| figure | base: median (each round) | new: median (each round) | new / base |");
    println!("|---|---|---|---|");
    let mut rows: Vec<String> = Vec::new();
    for f in &figures {
        for (r, _) in &f.rows {
            if !rows.contains(r) {
                rows.push(r.clone());
            }
        }
    }
    for row in &rows {
        let (b, n) = (figures[0].get(row), figures[1].get(row));
        let whole = ["threads", "messages/s", "CPU"];
        let decimals = if whole.iter().any(|w| row.contains(w)) {
            0
        } else {
            2
        };
        let ratio = if b.is_empty() || n.is_empty() || median(b) == 0.0 {
            String::new()
        } else {
            format!("{:.2}", median(n) / median(b))
        };
        println!(
            "| {row} | {} | {} | {ratio} |",
            cell(b, decimals),
            cell(n, decimals)
        );
    }
    // A figure with failed runs: how many of its runs failed.
    let mut failed_rows: Vec<&String> = Vec::new();
    for f in &figures {
        for (what, _) in &f.failed {
            if !failed_rows.contains(&what) {
                failed_rows.push(what);
            }
        }
    }
    for what in failed_rows {
        let count = |f: &Figures| f.failed.iter().filter(|(w, _)| w == what).count();
        println!(
            "| {what}: runs failed (below) | {} | {} | |",
            count(&figures[0]),
            count(&figures[1])
        );
    }
    if !latencies[0].is_empty() || !latencies[1].is_empty() {
        let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1000.0);
        for (p, name) in [(0.5, "p50"), (0.99, "p99")] {
            println!(
                "| chain of 3: {name} ms, all rounds pooled ({} and {} bulletins) | **{}** | **{}** | |",
                latencies[0].len(),
                latencies[1].len(),
                if latencies[0].is_empty() {
                    "failed".into()
                } else {
                    ms(percentile(&latencies[0], p))
                },
                if latencies[1].is_empty() {
                    "failed".into()
                } else {
                    ms(percentile(&latencies[1], p))
                },
            );
        }
    }
    for (f, b) in figures.iter().zip(&builds) {
        for (what, e) in &f.failed {
            println!("{} failed, {what}: {e}", b.label);
        }
    }
}
