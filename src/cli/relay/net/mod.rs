//! The relay on TCP: `--listen HOST:PORT` accepts connections, `--connect
//! ADDR@HOST:PORT` dials a peer and keeps the link up. Each connection
//! carries wire frames both ways and runs on threads of its own (a reader,
//! and a writer behind a queue bounded in bytes); what they read comes to
//! the relay's loop as [`Input::Net`], and the loop routes the engine's
//! messages for a peer to the connection it holds to that peer.
//!
//! Which connection is which peer, routes, and the bounds of each
//! connection are the library's [`gossip::session`]: this module only
//! carries its events to and from the sockets.
//!
//! Plain threads, not an async runtime: a relay holds tens of links, a
//! blocked thread per direction costs a little memory and no CPU, and the
//! loop stays the same one that drives the stdin/stdout relay
//! (`docs/performance.md` has the figures).

mod conn;
mod dial;
mod listen;
mod stats;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gossip::codec::{Object, ReadError};
use gossip::message::Message;
use gossip::node::{Event, Outbound};
use gossip::session::{self, CloseReason, Opening, Session, SessionConfig, SessionEvent};
use gossip::{Address, Node};

pub use conn::{ConnWriter, SendTotal, Shared, run as run_connection};
pub use dial::{Target, connect};
pub use stats::{NetCounters, PeerStats, prometheus, status_line, write_metrics};

use crate::cli::io::Failure;

/// What the relay's loop takes in: objects from stdin, and the network.
pub enum Input {
    /// An object read from stdin (or why it could not be).
    Stdin(Result<Object, ReadError>),
    /// Stdin ended.
    StdinEnd,
    /// Something happened on a connection.
    Net(NetEvent),
}

/// A connection's id, unique for the relay's run.
pub type ConnId = u64;

/// Hands out connection ids.
#[derive(Default)]
pub struct ConnIds(AtomicU64);

impl ConnIds {
    fn next(&self) -> ConnId {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// Why a connection ended.
#[derive(Debug)]
pub enum Why {
    /// The other side closed it.
    Eof,
    /// It sent something that is not a message: junk, or broken framing.
    Junk(String),
    /// No whole frame came within the idle timeout of the last one.
    Idle,
    /// Accepted, and no valid message came within the bind timeout.
    Unbound,
    /// Accepted and unbound, closed to make room for a newer connection.
    Evicted,
    /// Too many invalid messages came on it.
    Invalid,
    /// The socket failed.
    Error(String),
}

/// What a network thread tells the loop.
pub enum NetEvent {
    /// A connection is up: dialed to `peer`, or accepted (`peer` None).
    Opened {
        conn: ConnId,
        peer: Option<Address>,
        remote: SocketAddr,
        difficulty: u32,
        writer: ConnWriter,
    },
    /// A message arrived on `conn` (`size` bytes counted in flight).
    Message {
        conn: ConnId,
        message: Message,
        size: usize,
    },
    /// `conn` ended.
    Closed { conn: ConnId, why: Why },
    /// An accepted connection was closed at once: too many are open.
    Refused { remote: SocketAddr },
    /// accept() failed (out of descriptors, say); the listener waits a
    /// little before it tries again.
    AcceptFailed { why: String },
    /// A dial failed (it is tried again after a backoff).
    DialFailed {
        peer: Address,
        host: String,
        why: String,
    },
    /// A connection could not be set up.
    Failed { remote: SocketAddr, why: String },
}

fn send_event(shared: &Shared, event: NetEvent) -> bool {
    shared.tx.send(Input::Net(event)).is_ok()
}

/// The largest frame a connection carries: a queue that is empty gets
/// this much credit whatever `--send-queue` says, so any message can go.
pub const MAX_FRAME: usize = conn::MAX_TCP_OBJECT + 4;

/// How often a repeated network fault is logged (with its count since).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// What became of a message for a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Queued on the peer's connection.
    Queued,
    /// Dropped and counted: the peer's queue is full, a dialed peer is not
    /// connected now (it catches up by sync), or the network knows no way
    /// to the peer (a stranger's answer is never written to stdout).
    Dropped,
    /// The peer's link is full: the bulletin is owed to it and forwarded
    /// again when the link has room.
    Deferred,
    /// Not the network's: the relay's stdout or `--peer` outputs.
    NotOurs,
}

/// How the network is set up.
pub struct Settings {
    pub listen: Vec<(String, u32)>,
    pub connect: Vec<Target>,
    pub max_connections: usize,
    /// An accepted connection must send a valid message within this long.
    pub bind_timeout: Duration,
    /// Peers that are treated as configured when they connect: answered
    /// without the answer budget, sent at their connection's difficulty.
    pub trusted: BTreeSet<Address>,
    /// Send the delivery-code notice to each peer whenever a connection to
    /// it comes up.
    pub announce: bool,
    pub quiet: bool,
}

/// An open connection's socket side.
struct Link {
    remote: SocketAddr,
    writer: ConnWriter,
}

/// The network side of the relay, owned by its loop: the session (which
/// connection is which peer, routes, bounds), the sockets it drives, and
/// the counters.
pub struct Network {
    session: Session,
    links: BTreeMap<ConnId, Link>,
    /// accept() failures not yet logged, and when one last was.
    accept_failures: (u64, Option<Instant>),
    pub counters: NetCounters,
    quiet: bool,
}

fn sid(conn: ConnId) -> session::ConnId {
    session::ConnId(conn)
}

impl Network {
    /// Opens the listeners and starts the dialers.
    pub fn start(
        settings: Settings,
        shared: &Shared,
        stop: &Arc<AtomicBool>,
    ) -> Result<Self, Failure> {
        let ids = Arc::new(ConnIds::default());
        let open = Arc::new(AtomicUsize::new(0));
        for (host, difficulty) in &settings.listen {
            let listener = TcpListener::bind(host)
                .map_err(|e| Failure::io(format!("relay: cannot listen on {host}"), e))?;
            if let Ok(addr) = listener.local_addr() {
                eprintln!("gossip: relay: listening on {addr}");
            }
            listen::spawn(
                listener,
                *difficulty,
                settings.max_connections,
                Arc::clone(&open),
                shared.clone(),
                Arc::clone(&ids),
            );
        }
        for target in &settings.connect {
            dial::spawn(
                target.clone(),
                shared.clone(),
                Arc::clone(&ids),
                Arc::clone(stop),
            );
        }
        let mut config = SessionConfig::default();
        config.max_connections = settings.max_connections;
        config.bind_timeout = settings.bind_timeout;
        // The reader threads end a connection that makes no progress.
        config.idle_timeout = None;
        config.send_queue = shared.send_queue;
        config.send_total = shared.send_total.limit();
        config.max_frame = MAX_FRAME;
        config.announce = settings.announce;
        let mut session = Session::new(config);
        settings.connect.iter().for_each(|t| session.expect(t.peer));
        settings.trusted.iter().for_each(|p| session.trust(*p));
        let mut network = Self::none();
        network.session = session;
        network.counters.active = true;
        network.quiet = settings.quiet;
        Ok(network)
    }

    /// A network with no listener and no dialer (the plain stdin relay).
    pub fn none() -> Self {
        Self {
            session: Session::new(SessionConfig::default()),
            links: BTreeMap::new(),
            accept_failures: (0, None),
            counters: NetCounters::default(),
            quiet: true,
        }
    }

    /// Takes a network event into the session and the node. Returns the
    /// bytes of a message now in the node (to free from the in-flight
    /// budget once handled).
    pub fn handle(&mut self, event: NetEvent, node: &mut Node, now: u64) -> Result<usize, Failure> {
        let notice = |e| Failure::io("relay: delivery-code notice", e);
        match event {
            NetEvent::Opened {
                conn,
                peer,
                remote,
                difficulty,
                writer,
            } => {
                self.counters.opened += 1;
                self.links.insert(conn, Link { remote, writer });
                let how = match peer {
                    Some(peer) => Opening::Dialed { peer, difficulty },
                    None => Opening::Accepted { difficulty },
                };
                let opened = self
                    .session
                    .opened(sid(conn), how, node, Instant::now(), now);
                self.pump();
                opened.map_err(notice)?;
                Ok(0)
            }
            NetEvent::Message {
                conn,
                message,
                size,
            } => {
                let taken = self
                    .session
                    .receive(sid(conn), message, node, Instant::now(), now);
                self.pump();
                taken.map_err(notice)?;
                Ok(size)
            }
            NetEvent::Closed { conn, why } => {
                self.closed(conn, why, node);
                Ok(0)
            }
            NetEvent::Refused { remote } => {
                self.counters.refused += 1;
                if !self.quiet {
                    eprintln!("gossip: relay: {remote}: refused, too many connections");
                }
                Ok(0)
            }
            NetEvent::AcceptFailed { why } => {
                self.counters.refused += 1;
                self.accept_failures.0 += 1;
                if self
                    .accept_failures
                    .1
                    .is_none_or(|t| t.elapsed() >= LOG_EVERY)
                {
                    eprintln!(
                        "gossip: relay: cannot accept connections: {why} ({} refused since the last report)",
                        self.accept_failures.0
                    );
                    self.accept_failures = (0, Some(Instant::now()));
                }
                Ok(0)
            }
            NetEvent::DialFailed { peer, host, why } => {
                self.counters.dial_failures += 1;
                if !self.quiet {
                    eprintln!("gossip: relay: cannot reach {peer} at {host}: {why}; retrying");
                }
                Ok(0)
            }
            NetEvent::Failed { remote, why } => {
                self.counters.dial_failures += 1;
                eprintln!("gossip: relay: {remote}: {why}");
                Ok(0)
            }
        }
    }

    /// Carries out the session's events on the sockets; returns how many
    /// frames a connection did not take (its writer had ended).
    fn pump(&mut self) -> u64 {
        let mut failed = 0;
        while let Some(event) = self.session.poll_event() {
            match event {
                SessionEvent::Send { conn, frame } => {
                    let n = frame.len();
                    if !self
                        .links
                        .get(&conn.0)
                        .is_some_and(|l| l.writer.push(frame))
                    {
                        self.session.drained(conn, n);
                        self.session.unsent(conn, 1);
                        failed += 1;
                    }
                }
                SessionEvent::Close { conn, reason } => {
                    if let Some(link) = self.links.get(&conn.0) {
                        if let CloseReason::Unsealable(e) = &reason {
                            eprintln!("gossip: relay: {}: {e}; closing", link.remote);
                        }
                        link.writer.close();
                    }
                }
                SessionEvent::PeerIdentified { conn, peer } => {
                    if let Some(link) = self.links.get(&conn.0)
                        && !self.quiet
                    {
                        eprintln!("gossip: relay: {}: connected to {peer}", link.remote);
                    }
                }
                _ => {}
            }
        }
        failed
    }

    /// Tells the session what each connection has written since.
    fn sync_drains(&mut self) {
        for (id, link) in &self.links {
            let n = link.writer.take_written();
            if n > 0 {
                self.session.drained(sid(*id), n);
            }
        }
    }

    /// A message from `src` came on stdin: answers to it go to stdout.
    pub fn heard_on_stdin(&mut self, src: Address) {
        if self.is_active() {
            self.session.heard_elsewhere(src);
        }
    }

    /// The engine's other events: a connection that carries too many
    /// invalid messages is closed; a bulletin deferred for a peer without
    /// send credit is owed to it. False when a deferred bulletin could not be
    /// kept (it is then unsent).
    pub fn note(&mut self, event: &Event) -> bool {
        let kept = self.session.note(event);
        self.pump();
        kept
    }

    /// Before each run of the node: each TCP neighbour's send credit, from
    /// the room in its queue and under `--send-total`
    /// ([`Session::grant`]).
    pub fn grant(&mut self, node: &mut Node) {
        if !self.is_active() {
            return;
        }
        self.sync_drains();
        self.session.grant(node);
    }

    /// Forwards again, within each peer's send credit, the bulletins it is
    /// owed ([`Session::repair`]). Returns (whether anything was queued in
    /// the node, how many owed bulletins were dropped).
    pub fn repair(&mut self, node: &mut Node, now: u64) -> Result<(bool, u64), Failure> {
        let done = self
            .session
            .repair(node, now)
            .map_err(|e| Failure::io("relay: forwarding again", e))?;
        Ok((done.queued, done.lost))
    }

    /// Ends the batch: replays are told from the node's own set again.
    pub fn end_batch(&mut self) {
        self.session.end_batch();
    }

    /// Closes the accepted connections that sent no valid message within
    /// the bind timeout.
    pub fn sweep(&mut self) {
        self.session.handle_timeout(Instant::now());
        self.pump();
    }

    fn closed(&mut self, conn: ConnId, why: Why, node: &mut Node) {
        let Some(link) = self.links.remove(&conn) else {
            return;
        };
        let why = match self.session.closed(sid(conn), node) {
            Some(CloseReason::Unbound) => Why::Unbound,
            Some(CloseReason::Evicted) => Why::Evicted,
            Some(CloseReason::Invalid) => Why::Invalid,
            Some(CloseReason::Idle) => Why::Idle,
            _ => why,
        };
        match why {
            Why::Junk(_) => self.counters.junk += 1,
            Why::Idle => self.counters.idle += 1,
            Why::Unbound => self.counters.unbound += 1,
            Why::Evicted => self.counters.evicted += 1,
            Why::Invalid => self.counters.invalid += 1,
            Why::Eof | Why::Error(_) => {}
        }
        if !self.quiet || matches!(why, Why::Junk(_) | Why::Invalid) {
            let what = match &why {
                Why::Eof => "closed".to_string(),
                Why::Junk(e) => format!("closed: not a message stream ({e})"),
                Why::Idle => "closed: no whole message within the idle timeout".to_string(),
                Why::Unbound => "closed: no valid message within the bind timeout".to_string(),
                Why::Evicted => "closed: unbound, to make room for a newer connection".to_string(),
                Why::Invalid => format!(
                    "closed: {} invalid messages",
                    self.session.config().max_invalid
                ),
                Why::Error(e) => format!("closed: {e}"),
            };
            eprintln!("gossip: relay: {}: {what}", link.remote);
        }
        link.writer.close();
        self.pump();
    }

    /// Sends a message to `peer` if this network carries its messages.
    /// With a network, a peer it has no way to (a stranger not heard on
    /// stdin, nor a `--peer`) is never written to stdout: a remote party
    /// cannot make the relay block on, or end with, its stdout.
    pub fn send(&mut self, item: &Outbound, node: &Node) -> Sent {
        if !self.is_active() {
            return Sent::NotOurs;
        }
        self.sync_drains();
        match self.session.send(item, node) {
            session::Sent::Queued if self.pump() > 0 => Sent::Dropped,
            session::Sent::Queued => Sent::Queued,
            session::Sent::Deferred => Sent::Deferred,
            session::Sent::Elsewhere => Sent::NotOurs,
            _ => Sent::Dropped,
        }
    }

    /// Whether any peer is owed bulletins its full link missed.
    pub fn owes(&self) -> bool {
        self.session.owes()
    }

    /// Whether any listener or dialer runs.
    pub fn is_active(&self) -> bool {
        self.counters.active
    }

    /// Counters for each peer dialed or connected.
    pub fn peers(&self) -> &BTreeMap<Address, PeerStats> {
        self.session.peers()
    }

    /// Gives every connection until `deadline` to write what it holds,
    /// then closes them all; returns the messages never written whole.
    pub fn finish(&mut self, deadline: Instant) -> u64 {
        // What full links were still owed is never sent.
        let mut lost = self.session.abandon_owed();
        for (id, link) in &self.links {
            let left = link.writer.finish(deadline);
            self.session.unsent(sid(*id), left);
            lost += left;
        }
        lost
    }
}
