//! The input bound of `gossip::net` (`Builder::in_flight`), shown by the
//! peak memory of a process that holds nothing else: 200 connections each
//! announce a 1 MiB frame and send all of its body but the last byte, so
//! no frame ever reaches the engine and only the charge taken from each
//! length prefix, before the body is read, can hold the reading back.
//!
//! The test starts this test binary again to run `server` alone (a
//! `gossip::net` handle, listening), so the peak RSS it reads
//! (`/proc/PID/status` VmHWM, reset with `/proc/PID/clear_refs` once the
//! connections are open) is the server's only. It asserts that:
//! - the budget was really spent: the server read at least
//!   `in_flight / frame` bodies (what was sent less what waits in the
//!   kernel's socket queues, `/proc/net/tcp`) and its resident
//!   memory grew by most of them, so the figure sees the frames;
//! - the peak never grew past `in_flight` + a read buffer for each
//!   connection + a stated slack (checked at every poll, so a broken bound
//!   fails as soon as the server has read past it).
//!
//! Nothing is timed: the test waits, with a deadline, until the server
//! has read at least the budget, the client can write no more, and the
//! server's read count has stayed the same for a second (a server that
//! ignores the bound has by then read every body, 200 MiB, and failed).
//! Linux only: it reads /proc.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gossip::net::{Gossip, NetAddr};
use gossip::{Identity, Seed};

/// Set in the environment of the child that runs `server`.
const SERVER: &str = "GOSSIP_TEST_INPUT_BOUND_SERVER";
const CONNECTIONS: usize = 200;
/// The length each connection announces (and the server's max frame).
const FRAME: usize = 1 << 20;
/// The server's input budget: 8 frames.
const IN_FLIGHT: usize = 8 << 20;
/// What each connection may read ahead of the frame it charges
/// (`READ_BUFFER` in src/net/conn.rs).
const READ_BUFFER: usize = 8 << 10;
/// Allowed beyond the budget and the read buffers: the runtime's and the
/// allocator's own growth while 200 sockets are read (measured: the peak
/// grew by 8,224 KiB with 8,192 KiB of bodies read), with room to spare.
const SLACK: usize = 8 << 20;
/// The longest any one wait may take.
const DEADLINE: Duration = Duration::from_secs(120);

#[test]
#[ignore = "the server half of peak_memory_stays_within_the_input_bound, which starts it"]
fn server() {
    if std::env::var_os(SERVER).is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let hour = Duration::from_secs(3600);
        let g = Gossip::builder(Identity::from_seed(&Seed::from_bytes([7; 32])))
            .listen("127.0.0.1:0".parse().expect("address"))
            .max_frame(FRAME)
            .in_flight(IN_FLIGHT)
            .max_connections(CONNECTIONS + 50)
            .bind_timeout(hour)
            .idle_timeout(hour)
            .spawn()
            .await
            .expect("listens");
        let NetAddr::Tcp(addr) = &g.local_addrs()[0] else {
            panic!("a TCP listener")
        };
        println!("listening on {addr}");
        // Serves until the test closes stdin.
        tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
            .await
            .expect("stdin")
            .expect("stdin read");
        g.shutdown().await.expect("shutdown");
    });
}

/// A field of /proc/PID/status, KiB.
fn status_kib(pid: u32, field: &str) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("the server's status")
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a status field")
}

/// Bytes sent to `port` on 127.0.0.1 that its side has not read yet:
/// queued in the kernel on either side of each connection (the senders'
/// unacknowledged bytes and the receivers' unread ones, /proc/net/tcp).
fn unread(port: u16) -> usize {
    let port = format!(":{port:04X}");
    let hex = |s: &str| usize::from_str_radix(s, 16).unwrap_or(0);
    std::fs::read_to_string("/proc/net/tcp")
        .expect("/proc/net/tcp")
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (local, remote, queues) = (f.get(1)?, f.get(2)?, f.get(4)?);
            let (tx, rx) = queues.split_once(':')?;
            if remote.ends_with(&port) {
                Some(hex(tx))
            } else if local.ends_with(&port) {
                Some(hex(rx))
            } else {
                None
            }
        })
        .sum()
}

fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits until `check` holds, failing after the deadline.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The server child; killed if the test ends early.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> (Server, String) {
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args(["server", "--exact", "--ignored", "--nocapture"])
        .env(SERVER, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the server starts");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let addr = rx.recv_timeout(DEADLINE).expect("the server listens");
    (Server(child), addr)
}

#[test]
fn peak_memory_stays_within_the_input_bound() {
    let (mut server, addr) = start_server();
    let pid = server.0.id();
    let fds = descriptors(pid);
    let mut conns: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| TcpStream::connect(&addr).expect("connects"))
        .collect();
    wait_for("the server to accept every connection", || {
        descriptors(pid) >= fds + CONNECTIONS
    });
    // From here the peak is the connections' doing. (Where the peak
    // cannot be reset, it still holds the server's start, a few MiB
    // under the slack.)
    if let Err(e) = std::fs::write(format!("/proc/{pid}/clear_refs"), "5") {
        eprintln!("cannot reset the server's peak RSS ({e}): measured from its start");
    }
    let base_kib = status_kib(pid, "VmRSS:");
    let port: u16 = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");

    let mut frame = (FRAME as u32).to_be_bytes().to_vec();
    frame.resize(4 + FRAME - 1, 0x5a);
    let mut sent = vec![0usize; CONNECTIONS];
    for c in &conns {
        c.set_nonblocking(true).expect("nonblocking");
    }
    let limit_kib = (IN_FLIGHT + CONNECTIONS * READ_BUFFER + SLACK) / 1024;
    let spent = IN_FLIGHT / FRAME * (FRAME - 1);
    let (mut last_read, mut still_since) = (0, Instant::now());
    let end = Instant::now() + DEADLINE;
    let (peak_kib, read) = loop {
        let mut wrote = false;
        for (c, n) in conns.iter_mut().zip(&mut sent) {
            while *n < frame.len() {
                match c.write(&frame[*n..]) {
                    Ok(k) => {
                        *n += k;
                        wrote = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("the server closed a connection: {e}"),
                }
            }
        }
        let peak_kib = status_kib(pid, "VmHWM:");
        // What the server has read: what was sent, less what waits in
        // the kernel.
        let read = sent.iter().sum::<usize>().saturating_sub(unread(port));
        assert!(
            peak_kib.saturating_sub(base_kib) <= limit_kib,
            "peak RSS grew by {} KiB, past the bound of {limit_kib} KiB (in_flight {} KiB + {CONNECTIONS} read buffers of {} KiB + slack {} KiB), after the server read {} KiB",
            peak_kib - base_kib,
            IN_FLIGHT / 1024,
            READ_BUFFER / 1024,
            SLACK / 1024,
            read / 1024
        );
        if wrote || read != last_read {
            (last_read, still_since) = (read, Instant::now());
        } else if read >= spent && still_since.elapsed() >= Duration::from_secs(1) {
            break (peak_kib, read);
        }
        assert!(
            Instant::now() < end,
            "timed out: the server read {read} bytes, the budget's bodies are {spent}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let grew_kib = peak_kib - base_kib;
    eprintln!(
        "{CONNECTIONS} connections announced {} KiB frames; the server read {} KiB; its peak RSS grew by {grew_kib} KiB (bound {limit_kib} KiB)",
        FRAME / 1024,
        read / 1024
    );
    // The figure sees what was read: most of the budget's bodies are
    // resident.
    assert!(
        grew_kib >= spent / 1024 * 3 / 4,
        "peak RSS grew by {grew_kib} KiB, less than the {} KiB of bodies read",
        spent / 1024
    );
    drop(conns);
    drop(server.0.stdin.take());
    let end = Instant::now() + DEADLINE;
    while server.0.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < end, "the server did not shut down");
        std::thread::sleep(Duration::from_millis(20));
    }
}
