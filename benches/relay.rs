//! Relay throughput: 10,000 valid messages through one `gossip relay` with
//! one peer, against the per-message crypto floor measured in the same run.
//!
//! `cargo bench --bench relay` (set `RELAY_BENCH_MESSAGES` to change the
//! count). With `RELAY_BENCH_SEEN=N` it measures instead the relay's peak
//! memory after seeing N (and N/10) distinct bulletins. The input is generated once per parameters and cached under
//! `target/`. Prints messages/s of the whole process and the floor: one
//! message tapehash check, one signature check, one open, one bulletin
//! tapehash check, then for the one peer a seal, a signature and the
//! expected two tapehash tries of a difficulty-1 message.

use std::fs;
use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gossip::Bulletin;
use gossip::Message;
use gossip::Timestamp;
use gossip::TopicId;
use gossip::codec::{Format, Object, write_object};
use gossip::crypto::{Cipher, Identity, PeerKey};
use gossip::node::prepare_message;
use gossip::pow::{Mined, Progress, mine};
use gossip::verify::{Policy, verify_message};
use gossip::{Op, Payload};
use gossip::{Seed, key_file_text};
use rayon::prelude::*;

const NOW: u64 = 1_764_000_100;

fn relay_seed() -> Seed {
    Seed::from_bytes([0x52; 32])
}

fn user_seed() -> Seed {
    Seed::from_bytes([0x55; 32])
}

/// One valid store_and_forward message from the user to the relay;
/// `mined`: bulletin at difficulty 7 and message at 1, else both at 0.
fn message(i: u32) -> Message {
    make_message(i, true)
}

fn make_message(i: u32, mined: bool) -> Message {
    let user = Identity::from_seed(&user_seed());
    let relay = Identity::from_seed(&relay_seed()).address();
    let key = PeerKey::new(&relay).expect("valid");
    let mut b = Bulletin::new(
        TopicId::from_bytes([9; 32]),
        format!("bulletin number {i}").into_bytes(),
        NOW as u32 - 5,
    );
    let (bulletin_bits, message_bits) = if mined { (7, 1) } else { (0, 0) };
    let Mined::Found(n) = mine(
        &b.work(),
        gossip::Difficulty::new(bulletin_bits),
        i.wrapping_mul(7919),
        &Progress::default(),
    ) else {
        panic!("mined")
    };
    b.nonce = n;
    let plain = Payload::Bulletin(Op::StoreAndForward, b).encode();
    prepare_message(
        &user,
        &key,
        relay,
        &plain,
        NOW as u32,
        gossip::Difficulty::new(message_bits),
        Cipher::default(),
    )
    .expect("prepared")
}

fn input(count: u32, mined: bool) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!(
        "relay-bench-{count}-{}.wire",
        if mined { "mined" } else { "unmined" }
    ));
    if !path.exists() {
        eprintln!("generating {count} messages (cached in {})", path.display());
        let mut out = Vec::new();
        for start in (0..count).step_by(100_000) {
            let end = (start + 100_000).min(count);
            let messages: Vec<Message> = (start..end)
                .into_par_iter()
                .map(|i| make_message(i, mined))
                .collect();
            for m in messages {
                write_object(&mut out, &Object::Message(m.into()), Format::Wire).expect("write");
            }
        }
        fs::write(&path, out).expect("cache input");
    }
    path
}

/// Peak resident memory of a relay fed `count` distinct bulletins (no
/// peers, proof of work off so the figure is about memory, not time).
fn peak_memory(count: u32, key: &PathBuf) {
    let input = input(count, false);
    let t = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gossip"))
        .args([
            "relay",
            "-q",
            "--no-sync",
            "--bulletin-difficulty",
            "0",
            "-d",
            "0",
            "--now",
            &NOW.to_string(),
            "-k",
        ])
        .arg(key)
        .stdin(fs::File::open(&input).expect("input"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("relay runs");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    loop {
        if let Ok(status) = fs::read_to_string(&status_path) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak_kib = peak_kib.max(hwm.unwrap_or(0));
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("relay output");
    let counters = String::from_utf8_lossy(&out.stderr);
    assert!(
        counters.contains(&format!("accepted={count}")),
        "relay did not accept all: {counters}"
    );
    println!(
        "relay memory, {count} distinct bulletins seen: peak RSS {:.1} MiB ({:.0} B a bulletin), {:.1} s",
        peak_kib as f64 / 1024.0,
        peak_kib as f64 * 1024.0 / f64::from(count),
        t.elapsed().as_secs_f64()
    );
}

/// Median time of `f` over `rounds` runs of `inner` calls, per call.
fn per_call(rounds: usize, inner: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..inner {
                f();
            }
            t.elapsed() / inner as u32
        })
        .collect();
    times.sort();
    times[rounds / 2]
}

/// The per-message crypto floor, each primitive timed on its own.
fn floor(sample: &Message) -> (Duration, Vec<(&'static str, Duration)>) {
    let relay = Identity::from_seed(&relay_seed());
    let user_key = PeerKey::new(&sample.src()).expect("valid");
    let peer =
        PeerKey::new(&Identity::from_seed(&Seed::from_bytes([0x50; 32])).address()).expect("valid");
    let plain = relay.open(sample.body()).expect("opens");
    let Ok(Payload::Bulletin(_, b)) = Payload::decode(&plain) else {
        panic!("payload")
    };
    let work = sample.work();
    let bwork = b.work();
    let signed = sample.as_raw().signed_bytes();
    let parts = vec![
        (
            "message tapehash check",
            per_call(15, 200, || {
                black_box(work.digest());
            }),
        ),
        (
            "signature check",
            per_call(15, 200, || {
                black_box(user_key.verify(&signed, sample.sig()));
            }),
        ),
        (
            "open (sealed box)",
            per_call(15, 200, || {
                black_box(relay.open(sample.body()).ok());
            }),
        ),
        (
            "bulletin tapehash check",
            per_call(15, 200, || {
                black_box(bwork.digest());
            }),
        ),
        (
            "seal to the peer",
            per_call(15, 200, || {
                black_box(peer.seal(&plain, Cipher::default()).unwrap());
            }),
        ),
        (
            "sign",
            per_call(15, 200, || {
                black_box(relay.sign(&signed));
            }),
        ),
        (
            "mine at difficulty 1 (2 tapehash tries expected)",
            per_call(15, 200, || {
                black_box(work.digest());
            }) * 2,
        ),
    ];
    (parts.iter().map(|(_, d)| *d).sum(), parts)
}

fn run_relay(input: &PathBuf, key: &PathBuf, peer: &str, threads: usize) -> (Duration, String) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_gossip"))
        .env("RAYON_NUM_THREADS", threads.to_string())
        .args(["relay", "-k"])
        .arg(key)
        .args([
            "--peer",
            &format!("{peer}=/dev/null"),
            "--no-sync",
            "--format",
            "wire",
            "--now",
            &NOW.to_string(),
        ])
        .stdin(fs::File::open(input).expect("input"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("relay runs");
    let elapsed = t.elapsed();
    assert!(
        out.status.success(),
        "relay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        elapsed,
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let count: u32 = std::env::var("RELAY_BENCH_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let seen: Option<u32> = std::env::var("RELAY_BENCH_SEEN")
        .ok()
        .and_then(|s| s.parse().ok());
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("relay.key");
    {
        let seed = relay_seed();
        let mut f = fs::File::create(&key).expect("key file");
        f.write_all(key_file_text(&seed, &Identity::from_seed(&seed).address()).as_bytes())
            .expect("write key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).expect("chmod");
        }
    }
    if let Some(seen) = seen {
        for n in [seen / 10, seen] {
            peak_memory(n, &key);
        }
        return;
    }
    let input = input(count, true);
    let peer = Identity::from_seed(&Seed::from_bytes([0x50; 32]))
        .address()
        .to_hex();
    let sample = message(0);
    assert!(
        verify_message(
            sample.as_raw(),
            Some(&Identity::from_seed(&relay_seed())),
            None,
            &Policy::new(Timestamp::from_secs(NOW))
        )
        .is_valid()
    );

    let (floor_before, parts) = floor(&sample);
    let (one, counters) = run_relay(&input, &key, &peer, 1);
    let (two, counters2) = run_relay(&input, &key, &peer, 2);
    let (floor_after, _) = floor(&sample);
    let floor = (floor_before + floor_after) / 2;
    for c in [&counters, &counters2] {
        assert!(
            c.contains(&format!("forwarded={count}")) && c.contains(" unsent=0"),
            "not every message was forwarded and written: {c}"
        );
    }

    println!("per-message crypto floor (one core), measured around the runs:");
    for (name, d) in &parts {
        println!("  {name:<48} {:>7.1} µs", d.as_secs_f64() * 1e6);
    }
    let floor_rate = 1.0 / floor.as_secs_f64();
    println!(
        "  {:<48} {:>7.1} µs  = {floor_rate:.0} messages/s",
        "sum",
        floor.as_secs_f64() * 1e6
    );
    for (threads, elapsed) in [(1, one), (2, two)] {
        let rate = f64::from(count) / elapsed.as_secs_f64();
        println!(
            "gossip relay, {count} messages, one peer, {threads} thread(s): {:.2} s, {rate:.0} messages/s = {:.0}% of the one-core floor",
            elapsed.as_secs_f64(),
            100.0 * rate / floor_rate
        );
    }
    println!("relay counters: {counters2}");

    // The same input over loopback TCP: one peer in (the user, learned
    // from its first message), one peer out (a sink the relay dials),
    // against the stdin/stdout relay on all cores, in the same run.
    let (stdin_again, _) = run_relay(&input, &key, &peer, 0);
    let (tcp, counters_tcp) = run_relay_tcp(&input, &key, &peer, count);
    let (stdin_rate, tcp_rate) = (
        f64::from(count) / (two.min(stdin_again)).as_secs_f64(),
        f64::from(count) / tcp.as_secs_f64(),
    );
    println!(
        "gossip relay over loopback TCP, {count} messages, one peer in and one out: {:.2} s, {tcp_rate:.0} messages/s = {:.0}% of the stdin/stdout relay ({stdin_rate:.0} messages/s, best of two runs)",
        tcp.as_secs_f64(),
        100.0 * tcp_rate / stdin_rate
    );
    println!("relay counters (TCP): {counters_tcp}");
    idle_peers(&key, 100);
}

/// A TCP listener that counts the wire frames it is sent.
fn sink() -> (u16, std::sync::mpsc::Receiver<u64>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("sink listens");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut r = std::io::BufReader::new(stream);
        let mut frames = 0u64;
        let mut len = [0u8; 4];
        let _ = tx.send(0);
        while r.read_exact(&mut len).is_ok() {
            let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
            if r.read_exact(&mut body).is_err() {
                break;
            }
            frames += 1;
            let _ = tx.send(frames);
        }
    });
    (port, rx)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn spawn_listening_relay(key: &PathBuf, port: u16, extra: &[String]) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_gossip"))
        .args(["relay", "-q", "--no-sync", "--now", &NOW.to_string(), "-k"])
        .arg(key)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("relay runs");
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "the relay never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn stop(child: std::process::Child) -> String {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("relay output");
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// Sends the input to a listening relay over TCP; the relay forwards each
/// bulletin to the sink it dialed. Timed from the first byte sent to the
/// last frame the sink read.
fn run_relay_tcp(input: &PathBuf, key: &PathBuf, peer: &str, count: u32) -> (Duration, String) {
    let (sink_port, frames) = sink();
    let port = free_port();
    let child = spawn_listening_relay(
        key,
        port,
        &["--connect".into(), format!("{peer}@127.0.0.1:{sink_port}")],
    );
    frames
        .recv_timeout(Duration::from_secs(10))
        .expect("the relay dials the sink");
    let bytes = fs::read(input).expect("input");
    let t = Instant::now();
    let mut out = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    out.write_all(&bytes).expect("sends");
    while frames
        .recv_timeout(Duration::from_secs(60))
        .expect("forwards arrive")
        < u64::from(count)
    {}
    let elapsed = t.elapsed();
    drop(out);
    (elapsed, stop(child))
}

/// Resident memory (KiB) and CPU ticks (user + system) of a process.
fn rss_and_cpu(pid: u32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
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
    (rss, ticks)
}

/// The cost of `n` idle peers: each connects and sends one valid message
/// (so the relay learns it), then stays connected and silent.
fn idle_peers(key: &PathBuf, n: u32) {
    let port = free_port();
    let child = spawn_listening_relay(
        key,
        port,
        &["--max-connections".into(), (n + 10).to_string()],
    );
    std::thread::sleep(Duration::from_millis(300));
    let (rss_before, _) = rss_and_cpu(child.id());
    let relay = Identity::from_seed(&relay_seed()).address();
    let relay_key = PeerKey::new(&relay).expect("valid");
    let hello = Payload::Sync(
        Op::RequestSyncHeaders,
        TopicId::from_bytes([1; 32]),
        Vec::new(),
    )
    .encode();
    let peers: Vec<std::net::TcpStream> = (0..n)
        .map(|i| {
            let me = Identity::from_seed(&Seed::from_bytes([(i % 250) as u8 + 1; 32]));
            let m = prepare_message(
                &me,
                &relay_key,
                relay,
                &hello,
                NOW as u32,
                gossip::Difficulty::new(1),
                Cipher::default(),
            )
            .expect("prepared");
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
            write_object(&mut s, &Object::Message(m.into()), Format::Wire).expect("sends");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let (rss_connected, ticks_start) = rss_and_cpu(child.id());
    let idle = Duration::from_secs(10);
    std::thread::sleep(idle);
    let (rss_after, ticks_end) = rss_and_cpu(child.id());
    let hz = 100.0;
    println!(
        "relay with {n} idle connected peers: RSS {:.1} MiB -> {:.1} MiB ({:.0} KiB a peer), CPU over {} s idle: {:.2} s ({:.2}% of a core); {:.1} MiB after",
        rss_before as f64 / 1024.0,
        rss_connected as f64 / 1024.0,
        (rss_connected.saturating_sub(rss_before)) as f64 / f64::from(n),
        idle.as_secs(),
        (ticks_end - ticks_start) as f64 / hz,
        100.0 * (ticks_end - ticks_start) as f64 / hz / idle.as_secs_f64(),
        rss_after as f64 / 1024.0,
    );
    drop(peers);
    let counters = stop(child);
    assert!(
        counters.contains(&format!("accepted={n}")),
        "not every peer was taken: {counters}"
    );
}
