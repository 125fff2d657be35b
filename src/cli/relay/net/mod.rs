//! The relay on the network: `--listen HOST:PORT|unix:PATH` accepts
//! connections, `--connect ADDR@HOST:PORT|ADDR@unix:PATH` dials a peer
//! and keeps the link up. The sockets are the library's
//! [`gossip::net::Endpoint`] (on tokio); which connection is which peer,
//! routes, and the bounds of each connection are its
//! [`gossip::session`]. This module carries events between the two and
//! the relay's loop, and counts and logs them.

mod stats;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use gossip::codec::{Object, ReadError};
use gossip::net::{ConnEvent, Ended, Endpoint, Frame, Limits, NetAddr};
use gossip::node::{Event, Outbound};
use gossip::session::{self, CloseReason, ConnId, Session, SessionEvent};
use gossip::{Address, Node};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_util::bytes::Bytes;

pub use gossip::net::{NetCounters, prometheus, status_line};
pub use gossip::session::PeerStats;
pub use stats::write_metrics;

use super::in_flight::IN_FLIGHT;
use crate::cli::io::Failure;

/// The largest message a connection takes, bytes: its JSON line (base64,
/// a third longer) still fits the input bound, so one connection can always
/// finish any message it may send. A frame that announces more is refused
/// from its length prefix.
pub const MAX_TCP_OBJECT: usize = (IN_FLIGHT - 4096) / 4 * 3;

/// What the relay's loop takes in: objects from stdin, and the network.
pub enum Input {
    /// An object read from stdin (or why it could not be).
    Stdin(Result<Object, ReadError>),
    /// Stdin ended.
    StdinEnd,
    /// Something happened on a connection.
    Net(ConnEvent),
}

/// Why a connection ended, as the relay counts and logs it.
#[derive(Debug)]
pub enum Why {
    /// The other side closed it (or this side, for a reason of its own).
    Eof,
    /// It sent something that is not a message: junk, or broken framing.
    Junk(String),
    /// No whole message came within the idle timeout of the last one.
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

impl Why {
    /// Why, from the session's reason when it closed the connection, else
    /// from the connection's own end.
    pub fn of(closed: Option<CloseReason>, ended: Ended) -> Self {
        match (closed, ended) {
            (Some(CloseReason::Unbound), _) => Self::Unbound,
            (Some(CloseReason::Evicted), _) => Self::Evicted,
            (Some(CloseReason::Invalid), _) => Self::Invalid,
            (Some(CloseReason::Idle), _) => Self::Idle,
            (_, Ended::Junk(e)) => Self::Junk(e),
            (_, Ended::Error(e)) => Self::Error(e),
            _ => Self::Eof,
        }
    }
}

/// How often a repeated network fault is logged (with its count since).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// How long a relay that is ending gives its connections to write what
/// they hold.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

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

/// A peer to dial.
#[derive(Clone, Debug)]
pub struct Target {
    pub peer: Address,
    pub addr: NetAddr,
    pub difficulty: u32,
}

/// How the network is set up.
pub struct Settings {
    pub listen: Vec<(NetAddr, u32)>,
    pub connect: Vec<Target>,
    pub max_connections: usize,
    /// An accepted connection must send a valid message within this long.
    pub bind_timeout: Duration,
    /// A connection must send a whole message within this long of its last.
    pub idle: Duration,
    /// Bytes a connection's send queue may hold, and all of them together.
    pub send_queue: usize,
    pub send_total: usize,
    /// Peers that are treated as configured when they connect: answered
    /// without the answer budget, sent at their connection's difficulty.
    pub trusted: BTreeSet<Address>,
    /// Send the delivery-code notice to each peer whenever a connection to
    /// it comes up.
    pub announce: bool,
    pub quiet: bool,
}

/// The network side of the relay, owned by its loop: the session (which
/// connection is which peer, routes, bounds), the endpoint it drives, and
/// the counters.
pub struct Network {
    session: Session,
    /// Where the endpoint's tasks run (and the loop waits for input).
    runtime: Runtime,
    endpoint: Option<Endpoint>,
    /// Each open connection's remote end, for logs.
    remotes: BTreeMap<ConnId, String>,
    /// Connections whose peers sent their last message: finished once
    /// what those messages called for is queued.
    read_ended: Vec<ConnId>,
    /// accept() failures not yet logged, and when one last was.
    accept_failures: (u64, Option<Instant>),
    pub counters: NetCounters,
    /// A listener or a dialer runs.
    active: bool,
    quiet: bool,
}

/// The endpoint's bounds, from the relay's flags.
pub fn limits(settings: &Settings) -> Limits {
    let mut limits = Limits::default();
    limits.max_frame = MAX_TCP_OBJECT;
    limits.in_flight = IN_FLIGHT;
    limits.max_connections = settings.max_connections.max(1);
    limits.bind_timeout = settings.bind_timeout;
    limits.idle_timeout = settings.idle;
    limits.send_queue = settings.send_queue.max(1);
    limits.send_total = settings.send_total.max(limits.send_queue);
    limits.shutdown_deadline = SHUTDOWN_DEADLINE;
    limits
}

/// A runtime for the endpoint's tasks: they run on two worker threads
/// while the relay's loop runs the node on its own.
pub fn runtime(what: &str) -> Result<Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("gossip-net")
        .enable_all()
        .build()
        .map_err(|e| Failure::io(format!("{what}: cannot start the network"), e))
}

impl Network {
    /// Opens the listeners and starts the dialers.
    pub fn start(settings: Settings) -> Result<Self, Failure> {
        let runtime = runtime("relay")?;
        let limits = limits(&settings);
        let mut session_config = limits.session_config();
        session_config.max_connections = settings.max_connections;
        session_config.announce = settings.announce;
        let mut endpoint =
            Endpoint::new(limits).map_err(|e| Failure::usage("relay: network limits", e))?;
        for (addr, difficulty) in &settings.listen {
            let bound = runtime
                .block_on(endpoint.listen(addr, *difficulty))
                .map_err(|e| Failure::io("relay", e))?;
            eprintln!("gossip: relay: listening on {bound}");
        }
        {
            let _inside = runtime.enter();
            for t in &settings.connect {
                endpoint.connect(t.peer, t.addr.clone(), t.difficulty);
            }
        }
        let mut session = Session::new(session_config);
        settings.connect.iter().for_each(|t| session.expect(t.peer));
        settings.trusted.iter().for_each(|p| session.trust(*p));
        let mut network = Self::none()?;
        network.session = session;
        network.runtime = runtime;
        network.endpoint = Some(endpoint);
        network.active = true;
        network.quiet = settings.quiet;
        Ok(network)
    }

    /// A network with no listener and no dialer (the plain stdin relay):
    /// a runtime on this thread, only to wait for stdin.
    pub fn none() -> Result<Self, Failure> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| Failure::io("relay: cannot start", e))?;
        Ok(Self {
            session: Session::new(session::SessionConfig::default()),
            runtime,
            endpoint: None,
            remotes: BTreeMap::new(),
            read_ended: Vec::new(),
            accept_failures: (0, None),
            counters: NetCounters::default(),
            active: false,
            quiet: true,
        })
    }

    /// Waits up to `wait` for input from stdin or the network; returns
    /// what came, at most `max` (empty when nothing did; None once stdin's
    /// channel is closed).
    pub fn wait(
        &mut self,
        stdin: &mut mpsc::Receiver<Input>,
        wait: Duration,
        max: usize,
    ) -> Option<Vec<Input>> {
        let mut batch = Vec::new();
        let endpoint = &mut self.endpoint;
        // The last batch is handled and its messages queued.
        if let Some(e) = endpoint.as_mut() {
            self.read_ended.drain(..).for_each(|conn| e.finish(conn));
        }
        let first = self.runtime.block_on(async {
            let net = async {
                match endpoint.as_mut() {
                    Some(e) => Input::Net(e.next().await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                input = net => Ok(Some(input)),
                input = stdin.recv() => match input {
                    Some(input) => Ok(Some(input)),
                    None => Err(()),
                },
                () = tokio::time::sleep(wait) => Ok(None),
            }
        });
        // The caller keeps a sender: the channel closes only when it is
        // done with it.
        batch.extend(first.ok()?);
        if let Some(endpoint) = endpoint {
            while batch.len() < max {
                let Some(event) = endpoint.try_next() else {
                    break;
                };
                batch.push(Input::Net(event));
            }
        }
        while batch.len() < max {
            let Ok(input) = stdin.try_recv() else { break };
            batch.push(input);
        }
        Some(batch)
    }

    /// Takes a network event into the session and the node. A message's
    /// frame is kept in `held` (its bytes stay charged to the input bound
    /// until the node has handled it).
    pub fn handle(
        &mut self,
        event: ConnEvent,
        node: &mut Node,
        now: u64,
        held: &mut Vec<Frame>,
    ) -> Result<(), Failure> {
        let notice = |e| Failure::io("relay: delivery-code notice", e);
        match event {
            ConnEvent::Opened {
                conn,
                opening,
                remote,
            } => {
                self.counters.opened += 1;
                self.remotes.insert(conn, remote);
                let opened = self
                    .session
                    .opened(conn, opening, node, Instant::now(), now);
                self.pump();
                opened.map_err(notice)?;
            }
            ConnEvent::Message { conn, frame } => {
                let taken = self
                    .session
                    .receive_bytes(conn, &frame, node, Instant::now(), now);
                held.push(frame);
                self.pump();
                taken.map_err(notice)?;
            }
            ConnEvent::Written { conn, bytes } => self.session.drained(conn, bytes),
            ConnEvent::ReadEnded { conn } => self.read_ended.push(conn),
            ConnEvent::Closed {
                conn,
                ended,
                unwritten,
            } => self.closed(conn, ended, unwritten, node),
            ConnEvent::Refused { remote } => {
                self.counters.refused += 1;
                if !self.quiet {
                    eprintln!("gossip: relay: {remote}: refused, too many connections");
                }
            }
            ConnEvent::AcceptFailed { why } => {
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
            }
            ConnEvent::DialFailed { peer, addr, why } => {
                self.counters.dial_failures += 1;
                if !self.quiet {
                    eprintln!("gossip: relay: cannot reach {peer} at {addr}: {why}; retrying");
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Carries out the session's events on the sockets; returns how many
    /// frames a connection did not take (it had ended).
    fn pump(&mut self) -> u64 {
        let mut failed = 0;
        while let Some(event) = self.session.poll_event() {
            match event {
                SessionEvent::Send { conn, frame } => {
                    let n = frame.len();
                    // The session framed it; the endpoint frames again.
                    let payload = Bytes::from(frame).slice(4..);
                    if !self
                        .endpoint
                        .as_ref()
                        .is_some_and(|e| e.send(conn, payload))
                    {
                        self.session.drained(conn, n);
                        self.session.unsent(conn, 1);
                        failed += 1;
                    }
                }
                SessionEvent::Close { conn, reason } => {
                    if let CloseReason::Unsealable(e) = &reason {
                        eprintln!("gossip: relay: {}: {e}; closing", self.remote(conn));
                    }
                    if let Some(e) = &self.endpoint {
                        e.close(conn);
                    }
                }
                SessionEvent::PeerIdentified { conn, peer } if !self.quiet => {
                    eprintln!("gossip: relay: {}: connected to {peer}", self.remote(conn));
                }
                _ => {}
            }
        }
        failed
    }

    fn remote(&self, conn: ConnId) -> &str {
        self.remotes.get(&conn).map_or("?", String::as_str)
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

    /// Before each run of the node: each neighbour's send credit, from the
    /// room in its queue and under `--send-total` ([`Session::grant`]).
    pub fn grant(&mut self, node: &mut Node) {
        if self.is_active() {
            self.session.grant(node);
        }
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

    /// The session's timers: closes the accepted connections that sent no
    /// valid message within the bind timeout, and those idle too long.
    pub fn sweep(&mut self) {
        self.session.handle_timeout(Instant::now());
        self.pump();
    }

    fn closed(&mut self, conn: ConnId, ended: Ended, unwritten: u64, node: &mut Node) {
        let remote = self.remotes.remove(&conn).unwrap_or_default();
        self.session.unsent(conn, unwritten);
        let why = Why::of(self.session.closed(conn, node), ended);
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
            eprintln!("gossip: relay: {remote}: {what}");
        }
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
        self.active
    }

    /// Counters for each peer dialed or connected.
    pub fn peers(&self) -> &BTreeMap<Address, PeerStats> {
        self.session.peers()
    }

    /// Gives every connection until the shutdown deadline to write what it
    /// holds, then closes them all; returns the messages never written
    /// whole.
    pub fn finish(&mut self) -> u64 {
        // What full links were still owed is never sent.
        let lost = self.session.abandon_owed();
        let Some(endpoint) = self.endpoint.take() else {
            return lost;
        };
        lost + self.runtime.block_on(endpoint.shutdown(SHUTDOWN_DEADLINE))
    }
}
