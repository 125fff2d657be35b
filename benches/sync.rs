//! Sync cost: set reconciliation (negentropy) against full lists, in the
//! same run, between two nodes over a real loopback TCP connection.
//!
//! `cargo bench --bench sync` (set `SYNC_BENCH_ITEMS` to change the set
//! size, default 100,000; `SYNC_BENCH_DIFFS` a comma list of differences,
//! default 0,1,100,10000).
//!
//! Node B holds the whole set of unexpired bulletins under one topic;
//! node A holds all but `d` of them: spread evenly over the set (one in
//! every n/d), or the newest `d` (a node that was away: the catch-up
//! case). A asks B to sync the topic, with reconciliation on (A and B both
//! speak it) and with it off (full lists), each in its own fresh pair.
//! Each node runs in its own thread with one end of a TCP connection on
//! 127.0.0.1 (4-byte big-endian frames, as the relay speaks). The run
//! ends when A holds the whole set and its sync is done.
//!
//! Reported per case: bytes each way (frames on the wire), round trips
//! (the times A sent after waiting for B), the process's CPU time (user +
//! system, both nodes) and the wall time. The stores are the engine's
//! `MemoryStore`; bulletins and messages are at difficulty 0, so the crypto
//! counted is sealing, signing, verifying and opening.

// Reads the clock tick and rusage through libc (Cargo.toml denies unsafe_code).
#![allow(unsafe_code)]

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gossip::Bulletin;
use gossip::RawMessage;
use gossip::Timestamp;
use gossip::codec::write_frame;
use gossip::crypto::Identity;
use gossip::node::{Event, Node, NodeConfig, SyncState};
use gossip::{Address, Seed};
use gossip::{TopicId, topic_id};

const NOW: u64 = 1_764_000_100;

fn config(reconcile: bool) -> NodeConfig {
    NodeConfig::builder()
        .bulletin_difficulty(0)
        .message_difficulty(0)
        .reconcile(reconcile)
        .build()
        .expect("a valid config")
}

/// The process's CPU time so far (user + system).
fn cpu() -> Duration {
    // SAFETY: getrusage writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| Duration::new(v.tv_sec as u64, v.tv_usec as u32 * 1000);
    t(u.ru_utime) + t(u.ru_stime)
}

/// Counts the bytes written through it.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Reads frames from `stream` onto a channel until it closes.
fn reader(stream: TcpStream) -> mpsc::Receiver<RawMessage> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stream);
        let mut len = [0u8; 4];
        while r.read_exact(&mut len).is_ok() {
            let mut buf = vec![0; u32::from_be_bytes(len) as usize];
            if r.read_exact(&mut buf).is_err() {
                break;
            }
            let Ok(m) = RawMessage::unpack(&buf) else {
                break;
            };
            if tx.send(m).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs `node` on `stream` until `done` says so (or, for the answerer, the
/// stream closes); returns (bytes sent, times it sent after waiting).
fn drive(
    mut node: Node,
    stream: TcpStream,
    done: impl Fn(&Node) -> bool,
    start: impl FnOnce(&mut Node),
) -> (u64, u64) {
    let rx = reader(stream.try_clone().expect("clone"));
    let mut w = Counted {
        inner: BufWriter::new(stream.try_clone().expect("clone")),
        bytes: 0,
    };
    let mut bursts = 0;
    start(&mut node);
    loop {
        node.run_until_idle_parallel(Timestamp::from_secs(NOW))
            .expect("runs");
        let mut sent = false;
        for e in node.drain_events() {
            if let Event::Send(out) = e {
                write_frame(&mut w, &out.message.pack()).expect("write");
                sent = true;
            }
        }
        w.flush().expect("flush");
        bursts += u64::from(sent);
        if done(&node) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return (w.bytes, bursts);
        }
        let first = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Disconnected) => return (w.bytes, bursts),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                eprintln!(
                    "stalled 60 s: holds {}, {}",
                    node.store().len().unwrap_or(0),
                    node.counters()
                );
                return (w.bytes, bursts);
            }
        };
        node.receive(first);
        while let Ok(m) = rx.try_recv() {
            node.receive(m);
        }
    }
}

struct Figures {
    a_to_b: u64,
    b_to_a: u64,
    round_trips: u64,
    cpu: Duration,
    wall: Duration,
    state: SyncState,
}

fn case(
    all: &[Bulletin],
    topic: TopicId,
    lacking: usize,
    newest: bool,
    reconcile: bool,
) -> Figures {
    let ia = Identity::from_seed(&Seed::from_bytes([1; 32]));
    let ib = Identity::from_seed(&Seed::from_bytes([2; 32]));
    let (aa, ab): (Address, Address) = (ia.address(), ib.address());
    let mut a = Node::new(ia, config(reconcile));
    let mut b = Node::new(ib, config(reconcile));
    a.add_neighbour(ab, 0).expect("peer");
    b.add_neighbour(aa, 0).expect("peer");
    let step = all.len() / lacking.max(1);
    for (i, bulletin) in all.iter().enumerate() {
        b.store_mut().store(bulletin).expect("store");
        let lacks = if newest {
            i >= all.len() - lacking
        } else {
            lacking > 0 && i % step == 0 && i / step < lacking
        };
        if !lacks {
            a.store_mut().store(bulletin).expect("store");
        }
    }
    let expected = all.len();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let sa = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (sb, _) = listener.accept().expect("accept");
    for s in [&sa, &sb] {
        s.set_nodelay(true).expect("nodelay");
    }
    let pages = expected.div_ceil(gossip::node::DEFAULT_MAX_SYNC_IDS) as u64;
    let (cpu0, t0) = (cpu(), Instant::now());
    let answerer = std::thread::spawn(move || drive(b, sb, |_| false, |_| {}));
    let (a_to_b, round_trips) = drive(
        a,
        sa,
        move |n| {
            let held = n.store().len().unwrap_or(0) >= expected;
            let status = n.sync_status(&ab, &topic);
            let finished = match status.map(|s| s.state) {
                Some(SyncState::Reconciled | SyncState::FellBack) => true,
                // A full list is done when every page came.
                Some(SyncState::FullList) => n.counters().received >= pages + lacking as u64,
                _ => false,
            };
            held && finished
        },
        move |n| n.request_sync(ab, topic),
    );
    let (b_to_a, _) = answerer.join().expect("answerer");
    let (cpu, wall) = (cpu() - cpu0, t0.elapsed());
    Figures {
        a_to_b,
        b_to_a,
        round_trips,
        cpu,
        wall,
        state: if reconcile {
            SyncState::Reconciled
        } else {
            SyncState::FullList
        },
    }
}

fn main() {
    let items: usize = std::env::var("SYNC_BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let diffs: Vec<usize> = std::env::var("SYNC_BENCH_DIFFS")
        .unwrap_or_else(|_| "0,1,100,10000".into())
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    let topic = topic_id(b"bench");
    let all: Vec<Bulletin> = (0..items)
        .map(|i| {
            Bulletin::new(
                topic,
                format!("bulletin {i}").into_bytes(),
                (NOW - 3000 + (i as u64 * 3000 / items as u64)) as u32,
            )
        })
        .collect();
    println!("sync of {items} bulletins in one topic, A lacking d of B's; loopback TCP");
    println!(
        "{:>6} {:>7} {:>10} {:>12} {:>12} {:>11} {:>9} {:>9}",
        "d", "lacking", "sync", "A->B bytes", "B->A bytes", "round trips", "cpu ms", "wall ms"
    );
    for &d in &diffs {
        let layouts: &[bool] = if d > 1 { &[false, true] } else { &[false] };
        for (&newest, reconcile) in layouts.iter().flat_map(|l| [(l, true), (l, false)]) {
            let f = case(&all, topic, d, newest, reconcile);
            println!(
                "{:>6} {:>7} {:>10} {:>12} {:>12} {:>11} {:>9} {:>9}",
                d,
                if newest { "newest" } else { "spread" },
                if f.state == SyncState::Reconciled {
                    "reconcile"
                } else {
                    "full list"
                },
                f.a_to_b,
                f.b_to_a,
                f.round_trips,
                f.cpu.as_millis(),
                f.wall.as_millis()
            );
        }
    }
}
