//! The relay on TCP: `--listen HOST:PORT` accepts connections, `--connect
//! ADDR@HOST:PORT` dials a peer and keeps the link up. Each connection
//! carries wire frames both ways and runs on threads of its own (a reader,
//! and a writer behind a queue bounded in bytes); what they read comes to
//! the relay's loop as [`Input::Net`], and the loop routes the engine's
//! messages for a peer to the connection it holds to that peer.
//!
//! Plain threads, not an async runtime: a relay holds tens of links, a
//! blocked thread per direction costs a little memory and no CPU, and the
//! loop stays the same one that drives the stdin/stdout relay
//! (`docs/performance.md` has the figures).

mod conn;
mod dial;
mod listen;
mod stats;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gossip::codec::{Object, ReadError, write_frame};
use gossip::ids::Key;
use gossip::message::Message;
use gossip::node::{DropReason, Event, Outbound};
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

/// Invalid messages a connection may send before it is closed.
pub const MAX_INVALID: u32 = 8;

/// Strangers remembered with the way back to them.
const MAX_REPLY_ROUTES: usize = 4096;

/// Bulletins owed to one peer whose link was full, and to all together
/// (64 bytes a key: 4 MiB at most); past either, what a link misses is
/// dropped and counted as unsent.
const OWED_PER_PEER: usize = 16_384;
const OWED_TOTAL: usize = 65_536;

/// Owed bulletins looked at, at once, for a link with credit.
const REPAIR_BATCH: usize = 64;

/// The largest frame a connection carries: a queue that is empty gets
/// this much credit whatever `--send-queue` says, so any message can go.
pub const MAX_FRAME: usize = conn::MAX_TCP_OBJECT + 4;

/// How often a repeated network fault is logged (with its count since).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// An open connection, as the loop knows it.
struct Conn {
    /// The peer: dialed, or learned from the first valid message.
    peer: Option<Address>,
    remote: SocketAddr,
    difficulty: u32,
    writer: ConnWriter,
    /// Accepted by a listener (a dialed connection names its peer).
    accepted: bool,
    opened: Instant,
    /// Invalid messages it sent.
    invalid: u32,
    /// Why this side closed it, counted when it ends.
    closing: Option<Why>,
}

/// Where an answer to a peer that is not a neighbour goes: back the way
/// its last fresh valid message came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Conn(ConnId),
    Stdin,
}

/// The way back to the strangers last heard, bounded (the oldest goes).
#[derive(Default)]
struct ReplyRoutes {
    routes: HashMap<Address, Route>,
    order: VecDeque<Address>,
}

impl ReplyRoutes {
    fn insert(&mut self, peer: Address, route: Route) {
        if self.routes.insert(peer, route).is_none() {
            self.order.push_back(peer);
            if self.order.len() > MAX_REPLY_ROUTES
                && let Some(old) = self.order.pop_front()
            {
                self.routes.remove(&old);
            }
        }
    }

    fn get(&self, peer: &Address) -> Option<Route> {
        self.routes.get(peer).copied()
    }
}

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

/// The network side of the relay, owned by its loop: the open connections,
/// which one carries each peer's messages, and the counters.
pub struct Network {
    conns: BTreeMap<ConnId, Conn>,
    routes: BTreeMap<Address, ConnId>,
    /// Peers that are neighbours only while connected (learned by a
    /// listener), as opposed to `--connect` and `--peer` neighbours.
    learned: BTreeSet<Address>,
    dialed: BTreeSet<Address>,
    replies: ReplyRoutes,
    /// Signatures of the messages taken in this batch: a copy later in the
    /// same batch is a replay, before the engine has seen either.
    batch_sigs: HashSet<[u8; 64]>,
    max_connections: usize,
    bind_timeout: Duration,
    trusted: BTreeSet<Address>,
    announce: bool,
    /// accept() failures not yet logged, and when one last was.
    accept_failures: (u64, Option<Instant>),
    /// Bulletins a full link missed, by peer, to forward again when it has
    /// room; and how many in all.
    owed: BTreeMap<Address, VecDeque<Key>>,
    owed_total: usize,
    /// The bound on all send queues together.
    send_total: Option<Arc<SendTotal>>,
    /// Each neighbour's send credit at the last grant, and the credit a
    /// peer had when its next owed bulletin did not fit.
    credit: HashMap<Address, usize>,
    blocked: HashMap<Address, usize>,
    /// Whose turn it is to be given credit first.
    turn: usize,
    pub peers: BTreeMap<Address, PeerStats>,
    pub counters: NetCounters,
    quiet: bool,
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
        let mut network = Self::none();
        network.dialed = settings.connect.iter().map(|t| t.peer).collect();
        network.peers = settings
            .connect
            .iter()
            .map(|t| (t.peer, PeerStats::default()))
            .collect();
        network.counters.active = true;
        network.max_connections = settings.max_connections;
        network.bind_timeout = settings.bind_timeout;
        network.trusted = settings.trusted;
        network.announce = settings.announce;
        network.quiet = settings.quiet;
        network.send_total = Some(Arc::clone(&shared.send_total));
        Ok(network)
    }

    /// A network with no listener and no dialer (the plain stdin relay).
    pub fn none() -> Self {
        Self {
            conns: BTreeMap::new(),
            routes: BTreeMap::new(),
            learned: BTreeSet::new(),
            dialed: BTreeSet::new(),
            replies: ReplyRoutes::default(),
            batch_sigs: HashSet::new(),
            max_connections: usize::MAX,
            bind_timeout: Duration::MAX,
            trusted: BTreeSet::new(),
            announce: false,
            accept_failures: (0, None),
            owed: BTreeMap::new(),
            owed_total: 0,
            send_total: None,
            credit: HashMap::new(),
            blocked: HashMap::new(),
            turn: 0,
            peers: BTreeMap::new(),
            counters: NetCounters::default(),
            quiet: true,
        }
    }

    /// Takes a network event into the node. Returns the bytes of a message
    /// now in the node (to free from the in-flight budget once handled).
    /// A newly connected peer is asked about the node's sync topics
    /// ([`Node::sync_with`]).
    pub fn handle(&mut self, event: NetEvent, node: &mut Node, now: u64) -> Result<usize, Failure> {
        match event {
            NetEvent::Opened {
                conn,
                peer,
                remote,
                difficulty,
                writer,
            } => {
                self.counters.opened += 1;
                self.conns.insert(
                    conn,
                    Conn {
                        peer: None,
                        remote,
                        difficulty,
                        writer,
                        accepted: peer.is_none(),
                        opened: Instant::now(),
                        invalid: 0,
                        closing: None,
                    },
                );
                match peer {
                    Some(peer) => self.bind(conn, peer, node, now)?,
                    None => self.make_room(),
                }
                Ok(0)
            }
            NetEvent::Message {
                conn,
                message,
                size,
            } => {
                self.take_message(conn, message, node, now)?;
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

    /// A message off `conn`. On a connection that names no peer yet, a
    /// valid message the node has not taken before binds the connection
    /// to its signer; a replay binds nothing (anyone who saw a message can
    /// send its bytes again, only its signer can make a new one). Invalid
    /// messages and replays on an unbound connection are counted against
    /// it; a stranger's fresh message on a bound one marks the way back to
    /// it.
    fn take_message(
        &mut self,
        conn: ConnId,
        message: Message,
        node: &mut Node,
        now: u64,
    ) -> Result<(), Failure> {
        // What a connection this side is closing still had in flight is
        // not looked at: closing it is the verdict on what it sends.
        let Some(c) = self.conns.get_mut(&conn).filter(|c| c.closing.is_none()) else {
            return Ok(());
        };
        let fresh = !node.is_replay(&message, now) && self.batch_sigs.insert(message.sig);
        let src = message.src;
        let peer = match c.peer {
            Some(peer) => peer,
            None if fresh && node.verify(&message, c.difficulty, now).is_valid() => {
                self.bind(conn, src, node, now)?;
                src
            }
            None => {
                // The engine counts why it is dropped, blaming no peer.
                node.receive_unattributed(message);
                self.count_invalid(conn);
                return Ok(());
            }
        };
        if fresh && src != peer && node.connection(&src).is_none() {
            self.replies.insert(src, Route::Conn(conn));
        }
        let stats = self.peers.entry(peer).or_default();
        stats.received += 1;
        stats.last_seen = Some(now);
        node.receive_from(peer, message);
        Ok(())
    }

    /// A message from `src` came on stdin: answers to it go to stdout.
    pub fn heard_on_stdin(&mut self, src: Address) {
        if self.is_active() {
            self.replies.insert(src, Route::Stdin);
        }
    }

    /// The engine's other events: a connection that carries too many
    /// invalid messages is closed; a bulletin deferred for a peer without
    /// send credit is owed to it. False when a deferred bulletin could not be
    /// kept (it is then unsent).
    pub fn note(&mut self, event: &Event) -> bool {
        match event {
            Event::Dropped {
                from: Some(peer),
                reason: DropReason::Invalid(_) | DropReason::Malformed,
            } => {
                if let Some(&conn) = self.routes.get(peer) {
                    self.count_invalid(conn);
                }
                true
            }
            Event::Deferred { peer, key } => self.owe(*peer, *key),
            _ => true,
        }
    }

    /// Records that `peer` missed the bulletin `key`; false when past the
    /// bounds on what is owed.
    fn owe(&mut self, peer: Address, key: Key) -> bool {
        let keys = self.owed.entry(peer).or_default();
        if self.owed_total >= OWED_TOTAL || keys.len() >= OWED_PER_PEER {
            return false;
        }
        keys.push_back(key);
        self.owed_total += 1;
        true
    }

    /// Before each run of the node: each TCP neighbour's send credit is
    /// the room in its queue (a largest frame's worth when the queue is
    /// empty), shared out of the room left under `--send-total` (peers
    /// take turns at being first), and none for a dialed peer that is not
    /// connected. The node then seals, signs and mines no more forwards
    /// than the links can take; the rest are owed.
    pub fn grant(&mut self, node: &mut Node) {
        let Some(total) = &self.send_total else {
            return;
        };
        let mut left = total.limit().saturating_sub(total.bytes());
        let mut peers: Vec<Address> = self.routes.keys().chain(&self.dialed).copied().collect();
        peers.sort_unstable();
        peers.dedup();
        if !peers.is_empty() {
            self.turn = self.turn.wrapping_add(1);
            let first = self.turn % peers.len();
            peers.rotate_left(first);
        }
        for peer in peers {
            let conn = self.routes.get(&peer).and_then(|id| self.conns.get(id));
            let room = conn.map_or(0, |c| match c.writer.queued_bytes() {
                0 => c.writer.limit().max(MAX_FRAME),
                queued => c.writer.limit().saturating_sub(queued),
            });
            let credit = room.min(left);
            left -= credit;
            node.set_send_credit(peer, Some(credit as u64));
            self.credit.insert(peer, credit);
        }
    }

    /// Forwards again, within each peer's send credit, the bulletins it is
    /// owed, oldest first; what is owed to a peer no longer connected is
    /// dropped. A peer whose next owed bulletin did not fit is tried again
    /// only once it has more credit than then. Returns (whether anything
    /// was queued in the node, how many owed bulletins were dropped).
    pub fn repair(&mut self, node: &mut Node, now: u64) -> Result<(bool, u64), Failure> {
        let (mut queued, mut lost) = (false, 0);
        let peers: Vec<Address> = self.owed.keys().copied().collect();
        for peer in peers {
            if !self.routes.contains_key(&peer) {
                let gone = self.owed.remove(&peer).map_or(0, |k| k.len());
                self.owed_total -= gone;
                self.blocked.remove(&peer);
                lost += gone as u64;
                continue;
            }
            let credit = self.credit.get(&peer).copied().unwrap_or(0);
            if credit == 0 || self.blocked.get(&peer).is_some_and(|&b| credit <= b) {
                continue;
            }
            let Some(keys) = self.owed.get_mut(&peer) else {
                continue;
            };
            let batch: Vec<Key> = keys.iter().take(REPAIR_BATCH).copied().collect();
            let (used, sent) = node
                .forward_stored(peer, &batch, now)
                .map_err(|e| Failure::io("relay: forwarding again", e))?;
            keys.drain(..used);
            if keys.is_empty() {
                self.owed.remove(&peer);
            }
            self.owed_total -= used;
            if used < batch.len() {
                self.blocked.insert(peer, credit);
            } else {
                self.blocked.remove(&peer);
            }
            // Expired, or evicted from a memory store, meanwhile: unsent.
            lost += (used - sent) as u64;
            queued |= sent > 0;
        }
        Ok((queued, lost))
    }

    /// Ends the batch: replays are told from the node's own set again.
    pub fn end_batch(&mut self) {
        self.batch_sigs.clear();
    }

    fn count_invalid(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.invalid += 1;
            if c.invalid >= MAX_INVALID {
                self.close(conn, Why::Invalid);
            }
        }
    }

    /// Closes `conn` from this side; its end is counted for `why`.
    fn close(&mut self, conn: ConnId, why: Why) {
        if let Some(c) = self.conns.get_mut(&conn)
            && c.closing.is_none()
        {
            c.closing = Some(why);
            c.writer.close();
        }
    }

    /// Past `--max-connections` accepted connections, the oldest that
    /// names no peer yet is closed (the newest, when every other one is
    /// bound): a crowd of silent connections cannot lock real peers out.
    fn make_room(&mut self) {
        let open = |n: &Self| {
            n.conns
                .values()
                .filter(|c| c.accepted && c.closing.is_none())
                .count()
        };
        while open(self) > self.max_connections {
            let Some(oldest) = self
                .conns
                .iter()
                .filter(|(_, c)| c.accepted && c.peer.is_none() && c.closing.is_none())
                .min_by_key(|(id, c)| (c.opened, **id))
                .map(|(id, _)| *id)
            else {
                return;
            };
            self.close(oldest, Why::Evicted);
        }
    }

    /// Closes the accepted connections that sent no valid message within
    /// the bind timeout.
    pub fn sweep(&mut self) {
        let late: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.accepted && c.peer.is_none() && c.opened.elapsed() >= self.bind_timeout
            })
            .map(|(id, _)| *id)
            .collect();
        for conn in late {
            self.close(conn, Why::Unbound);
        }
    }

    /// `conn` now carries `peer`'s messages: the peer is a neighbour
    /// (learned, unless it is configured or trusted) and is asked for the
    /// followed topics, so a peer that was away catches up, and told this
    /// relay's delivery code when it announces it.
    fn bind(
        &mut self,
        conn: ConnId,
        peer: Address,
        node: &mut Node,
        now: u64,
    ) -> Result<(), Failure> {
        let Some(c) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        if node.connection(&peer).is_none_or(|n| n.is_learned()) {
            let made = if self.trusted.contains(&peer) {
                node.add_neighbour(peer, c.difficulty)
            } else {
                node.add_learned_neighbour(peer, c.difficulty)
            };
            if let Err(e) = made {
                eprintln!("gossip: relay: {}: {e}; closing", c.remote);
                c.writer.close();
                return Ok(());
            }
            if !self.dialed.contains(&peer) {
                self.learned.insert(peer);
            }
        }
        c.peer = Some(peer);
        if !self.quiet {
            eprintln!("gossip: relay: {}: connected to {peer}", c.remote);
        }
        self.routes.insert(peer, conn);
        let stats = self.peers.entry(peer).or_default();
        stats.connected += 1;
        stats.last_seen = Some(now);
        node.sync_with(peer);
        if self.announce {
            node.announce_delivery_code_to(peer, now)
                .map_err(|e| Failure::io("relay: delivery-code notice", e))?;
        }
        Ok(())
    }

    fn closed(&mut self, conn: ConnId, why: Why, node: &mut Node) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        let why = c.closing.unwrap_or(why);
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
                Why::Invalid => format!("closed: {MAX_INVALID} invalid messages"),
                Why::Error(e) => format!("closed: {e}"),
            };
            eprintln!("gossip: relay: {}: {what}", c.remote);
        }
        c.writer.close();
        let Some(peer) = c.peer else { return };
        if let Some(stats) = self.peers.get_mut(&peer) {
            stats.connected = stats.connected.saturating_sub(1);
        }
        if self.routes.get(&peer) == Some(&conn) {
            let other = self
                .conns
                .iter()
                .find(|(_, c)| c.peer == Some(peer))
                .map(|(id, _)| *id);
            match other {
                Some(id) => {
                    self.routes.insert(peer, id);
                }
                None => {
                    self.routes.remove(&peer);
                    node.peer_disconnected(&peer);
                    if self.learned.remove(&peer) {
                        // A learned peer leaves no trace: connections
                        // from many keys cannot grow the relay's tables.
                        node.remove_neighbour(&peer);
                        self.peers.remove(&peer);
                    }
                }
            }
        }
    }

    /// Sends a message to `peer` if this network carries its messages.
    /// With a network, a peer it has no way to (a stranger not heard on
    /// stdin, nor a `--peer`) is never written to stdout: a remote party
    /// cannot make the relay block on, or end with, its stdout.
    pub fn send(&mut self, item: &Outbound, node: &Node) -> Sent {
        let (peer, message) = (&item.peer, &item.message);
        let route = self
            .routes
            .get(peer)
            .copied()
            .or_else(|| match self.replies.get(peer) {
                Some(Route::Conn(id)) => Some(id),
                _ => None,
            });
        let Some(conn) = route.and_then(|id| self.conns.get(&id)) else {
            if self.dialed.contains(peer) {
                self.peers.entry(*peer).or_default().dropped += 1;
                return Sent::Dropped;
            }
            let ours = self.is_active()
                && self.replies.get(peer) != Some(Route::Stdin)
                && node.connection(peer).is_none_or(|c| c.is_learned());
            return if ours { Sent::Dropped } else { Sent::NotOurs };
        };
        let mut frame = Vec::new();
        let queued = write_frame(&mut frame, &message.pack()).is_ok() && conn.writer.push(frame);
        let (bound, counted) = (conn.peer == Some(*peer), conn.peer.unwrap_or(*peer));
        if queued {
            self.peers.entry(counted).or_default().sent += 1;
            return Sent::Queued;
        }
        // A bulletin a neighbour's full link cannot take is owed to it.
        if bound
            && let Some(key) = item.bulletin
            && self.owe(*peer, key)
        {
            return Sent::Deferred;
        }
        self.peers.entry(counted).or_default().dropped += 1;
        Sent::Dropped
    }

    /// Whether any peer is owed bulletins its full link missed.
    pub fn owes(&self) -> bool {
        !self.owed.is_empty()
    }

    /// Whether any listener or dialer runs.
    pub fn is_active(&self) -> bool {
        self.counters.active
    }

    /// Gives every connection until `deadline` to write what it holds,
    /// then closes them all; returns the messages never written whole.
    pub fn finish(&mut self, deadline: Instant) -> u64 {
        // What full links were still owed is never sent.
        let mut lost = std::mem::take(&mut self.owed_total) as u64;
        self.owed.clear();
        for c in self.conns.values() {
            let left = c.writer.finish(deadline);
            if let Some(peer) = c.peer {
                let stats = self.peers.entry(peer).or_default();
                stats.dropped += left;
                stats.sent = stats.sent.saturating_sub(left);
            }
            lost += left;
        }
        lost
    }
}
