//! `--connect ADDR@HOST:PORT`: a thread that dials a peer and keeps the
//! connection up, redialing with exponential backoff and jitter.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gossip::Address;
use rand::Rng;

use super::conn::{self, Shared};
use super::{ConnIds, NetEvent, send_event};

/// The first wait before a redial, and the longest.
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A connection that stayed up this long resets the backoff.
const STABLE: Duration = Duration::from_secs(10);

/// How long one dial may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// A peer to dial.
#[derive(Clone, Debug)]
pub struct Target {
    pub peer: Address,
    pub host: String,
    pub difficulty: u32,
}

/// Starts the dialer thread for `target`.
pub fn spawn(target: Target, shared: Shared, ids: Arc<ConnIds>, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut backoff = BACKOFF_START;
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            match connect(&target.host, DIAL_TIMEOUT) {
                Ok((stream, remote)) => {
                    let conn = ids.next();
                    let alive = conn::run(
                        conn,
                        stream,
                        remote,
                        Some(target.peer),
                        target.difficulty,
                        &shared,
                    );
                    if !alive {
                        return;
                    }
                }
                Err(why) => {
                    let event = NetEvent::DialFailed {
                        peer: target.peer,
                        host: target.host.clone(),
                        why,
                    };
                    if !send_event(&shared, event) {
                        return;
                    }
                }
            }
            if started.elapsed() >= STABLE {
                backoff = BACKOFF_START;
            }
            // Full jitter over the upper half, so peers that lost each other
            // at once do not redial in step.
            let wait = backoff.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
            sleep_unless_stopped(wait, &stop);
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    });
}

/// Dials `host` (HOST:PORT), trying each of its addresses for at most
/// `timeout`; the error says why the last one failed.
pub fn connect(host: &str, timeout: Duration) -> Result<(TcpStream, std::net::SocketAddr), String> {
    let mut last = String::from("no address");
    for addr in host.to_socket_addrs().map_err(|e| e.to_string())? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok((s, addr)),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

fn sleep_unless_stopped(wait: Duration, stop: &AtomicBool) {
    let until = Instant::now() + wait;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}
