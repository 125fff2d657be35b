//! The relay's `--http HOST:PORT`: `/metrics` (the `--metrics` file's
//! Prometheus text) and `/healthz` (200, or 503 with one line per reason).
//!
//! The server runs on a thread of its own, on a tokio runtime of its own,
//! so nothing it does can hold the relay's loop: the loop notes the time
//! in a [`Board`] at every turn (its heartbeat) and publishes its metrics
//! text and its peers there about once a second (a lock held for a
//! swap). The store is probed from here too, off the loop.
//!
//! Bounds: at most [`MAX_CONNECTIONS`] connections at once (one more is
//! closed at once); a request head of at most [`HEAD_BYTES`] bytes (431
//! past it) that must come whole within [`HEAD_TIMEOUT`]; one request a
//! connection, and a connection lives at most [`CONNECTION_TIMEOUT`].

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use crate::cli::io::Failure;
use crate::cli::relay::args::HttpAddr;

/// HTTP connections served at once.
pub const MAX_CONNECTIONS: usize = 16;
/// Largest request head (request line and headers), bytes: hyper's least.
pub const HEAD_BYTES: usize = 8192;
/// Most header fields in a request.
const MAX_HEADERS: usize = 32;
/// How long a client may take to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may last, request and response together.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the relay's loop publishes its metrics (when it turns; it
/// beats at every turn).
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// How often the store is probed.
const PROBE_EVERY: Duration = Duration::from_secs(2);
/// A probe that has not answered for this long makes the store unhealthy.
const PROBE_STALE: Duration = Duration::from_secs(10);
/// Bytes a probe writes: one SQLite page.
const PROBE_BYTES: usize = 4096;

/// When `/healthz` says 200.
pub struct Health {
    /// The store to probe (none: nothing to write, always writable).
    pub store: Option<PathBuf>,
    /// Peers that must be connected.
    pub peers: u64,
    /// The loop must have turned within this long.
    pub stall: Duration,
}

/// What the loop last published.
#[derive(Default)]
struct Published {
    metrics: Bytes,
    peers_up: u64,
    /// When the loop last turned (its heartbeat); none before it does.
    at: Option<Instant>,
}

/// The last store probe: when it answered, and what.
struct Probe {
    at: Instant,
    result: Result<(), String>,
}

/// What the server reads: the loop's publication, the store probe.
struct State {
    health: Health,
    published: Mutex<Published>,
    probe: Mutex<Probe>,
}

/// The relay loop's side of the server: where it publishes.
pub struct Board(Arc<State>);

impl Board {
    /// The loop turned: its heartbeat, at every turn.
    pub fn beat(&self) {
        self.published().at = Some(Instant::now());
    }

    /// Publishes the metrics text and the number of peers up; a beat too
    /// when the loop `turned` (not when an output holds it back).
    pub fn publish(&self, metrics: String, peers_up: u64, turned: bool) {
        let mut published = self.published();
        let at = match turned {
            true => Some(Instant::now()),
            false => published.at,
        };
        *published = Published {
            metrics: Bytes::from(metrics),
            peers_up,
            at,
        };
    }

    fn published(&self) -> std::sync::MutexGuard<'_, Published> {
        self.0
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Binds `addr` and starts serving on a thread of its own; returns where
/// it publishes and the address bound.
pub fn start(addr: &HttpAddr, health: Health) -> Result<(Board, SocketAddr), Failure> {
    let what = format!("relay: --http {}", addr.0);
    let listener = std::net::TcpListener::bind(&addr.0)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| {
            Failure::io(format!("{what}: cannot listen"), e)
                .hint("is another process on that port? port 0 takes any free one")
        })?;
    let bound = listener.local_addr().map_err(|e| Failure::io(&what, e))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::io(format!("{what}: cannot start"), e))?;
    let listener = {
        let _inside = runtime.enter();
        tokio::net::TcpListener::from_std(listener).map_err(|e| Failure::io(&what, e))?
    };
    let result = health.store.as_deref().map_or(Ok(()), probe);
    let state = Arc::new(State {
        health,
        published: Mutex::default(),
        probe: Mutex::new(Probe {
            at: Instant::now(),
            result,
        }),
    });
    let served = Arc::clone(&state);
    std::thread::Builder::new()
        .name("gossip-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                if served.health.store.is_some() {
                    tokio::spawn(probe_every(Arc::clone(&served)));
                }
                serve(listener, served).await;
            });
        })
        .map_err(|e| Failure::io(format!("{what}: cannot start"), e))?;
    Ok((Board(state), bound))
}

/// Probes the store every [`PROBE_EVERY`], on a blocking thread.
async fn probe_every(state: Arc<State>) {
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(store) = state.health.store.clone() else {
            return;
        };
        let result = tokio::task::spawn_blocking(move || probe(&store))
            .await
            .unwrap_or_else(|e| Err(format!("the probe failed: {e}")));
        *state.probe.lock().unwrap_or_else(PoisonError::into_inner) = Probe {
            at: Instant::now(),
            result,
        };
    }
}

/// Whether the store's directory takes a write, as SQLite's journal and
/// WAL files need: a new file beside the store (never through a link),
/// one page written and synced, then removed. The store file itself is
/// not opened here: closing a second descriptor of it would drop SQLite's
/// POSIX locks.
fn probe(store: &Path) -> Result<(), String> {
    let dir = match store.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = store
        .file_name()
        .map_or_else(|| "store".into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(
        ".{name}.healthz.{}.{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .and_then(|mut f| {
            let written = f.write_all(&[0; PROBE_BYTES]).and_then(|()| f.sync_data());
            let _ = std::fs::remove_file(&tmp);
            written
        });
    written.map_err(|e| format!("cannot write in {}: {e}", dir.display()))
}

/// Accepts connections within [`MAX_CONNECTIONS`]; each is served on a
/// task of its own, within the bounds.
async fn serve(listener: tokio::net::TcpListener, state: Arc<State>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors, say: try again in a while, not in a
                // spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let answer = answer(&state, &req);
                async move { Ok::<_, Infallible>(answer) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(HEAD_BYTES)
                .max_headers(MAX_HEADERS)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
            drop(slot);
        });
    }
}

/// The answer to one request.
fn answer(state: &State, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path != "/metrics" && path != "/healthz" {
        return text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics or /healthz\n",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if path == "/metrics" {
        let metrics = state
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .metrics
            .clone();
        let mut r = Response::new(Full::new(metrics));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        return r;
    }
    let reasons = unhealthy(state, Instant::now());
    if reasons.is_empty() {
        text(StatusCode::OK, "ok\n")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, reasons.join(""))
    }
}

/// Why the relay is not healthy, one line each; empty when it is.
fn unhealthy(state: &State, now: Instant) -> Vec<String> {
    let health = &state.health;
    let mut reasons = Vec::new();
    if let Some(store) = &health.store {
        let probe = state.probe.lock().unwrap_or_else(PoisonError::into_inner);
        let age = now.saturating_duration_since(probe.at);
        if let Err(e) = &probe.result {
            reasons.push(format!("store: {} is not writable: {e}\n", store.display()));
        } else if age > PROBE_STALE {
            reasons.push(format!(
                "store: the write probe of {} has not answered for {} s\n",
                store.display(),
                age.as_secs()
            ));
        }
    }
    let published = state
        .published
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    match published.at {
        None => reasons.push("loop: not turning yet (starting)\n".into()),
        Some(at) if now.saturating_duration_since(at) > health.stall => {
            reasons.push(format!(
                "loop: stalled: last turned {} s ago (--healthy-loop {})\n",
                now.saturating_duration_since(at).as_secs(),
                health.stall.as_secs()
            ));
        }
        Some(_) => {}
    }
    if published.peers_up < health.peers {
        reasons.push(format!(
            "peers: {} up, fewer than --healthy-peers {}\n",
            published.peers_up, health.peers
        ));
    }
    reasons
}

/// A plain-text answer.
fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(store: Option<PathBuf>, peers: u64) -> State {
        State {
            health: Health {
                store,
                peers,
                stall: Duration::from_secs(10),
            },
            published: Mutex::default(),
            probe: Mutex::new(Probe {
                at: Instant::now(),
                result: Ok(()),
            }),
        }
    }

    #[test]
    fn addresses_need_a_host_and_a_port() {
        assert!("127.0.0.1:0".parse::<HttpAddr>().is_ok());
        assert!("[::1]:9100".parse::<HttpAddr>().is_ok());
        assert!("localhost:9100".parse::<HttpAddr>().is_ok());
        for bad in ["9100", ":9100", "host:", "host:65536", "host:x"] {
            assert!(bad.parse::<HttpAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn healthy_only_when_every_condition_holds() {
        let s = state(None, 1);
        let t0 = Instant::now();
        assert_eq!(
            unhealthy(&s, t0),
            [
                "loop: not turning yet (starting)\n",
                "peers: 0 up, fewer than --healthy-peers 1\n"
            ]
        );
        {
            let mut p = s.published.lock().unwrap();
            p.at = Some(t0);
            p.peers_up = 1;
        }
        assert!(unhealthy(&s, t0 + Duration::from_secs(10)).is_empty());
        assert_eq!(
            unhealthy(&s, t0 + Duration::from_secs(11)),
            ["loop: stalled: last turned 11 s ago (--healthy-loop 10)\n"]
        );
    }

    #[test]
    fn a_failed_or_stale_probe_is_unhealthy() {
        let s = state(Some(PathBuf::from("/x/s.db")), 0);
        let t0 = Instant::now();
        s.published.lock().unwrap().at = Some(t0);
        *s.probe.lock().unwrap() = Probe {
            at: t0,
            result: Err("cannot write in /x: full".into()),
        };
        assert_eq!(
            unhealthy(&s, t0),
            ["store: /x/s.db is not writable: cannot write in /x: full\n"]
        );
        s.probe.lock().unwrap().result = Ok(());
        assert!(unhealthy(&s, t0).is_empty());
        assert_eq!(
            unhealthy(&s, t0 + Duration::from_secs(11)),
            [
                "store: the write probe of /x/s.db has not answered for 11 s\n",
                "loop: stalled: last turned 11 s ago (--healthy-loop 10)\n"
            ]
        );
    }

    #[test]
    fn the_probe_writes_beside_the_store_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.db");
        assert_eq!(probe(&store), Ok(()));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let gone = dir.path().join("no/such/dir/s.db");
        assert!(probe(&gone).unwrap_err().contains("cannot write in"));
    }
}
