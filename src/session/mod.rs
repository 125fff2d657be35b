//! Sessions: which connection is which peer, without sockets.
//!
//! A [`Session`] is the pure logic between a transport and the node engine
//! ([`Node`]). The driver owns the sockets (threads, an async runtime, or
//! plain memory in tests) and names each connection with a [`ConnId`]; it
//! feeds the session what happens to them (opened, a message received,
//! bytes written, closed, time passing) and carries out the
//! [`SessionEvent`]s it gives back (write this frame on that connection,
//! close that one, this peer is on that connection, that peer is gone).
//! Nothing here reads a clock: timers are [`Session::poll_timeout`] and
//! [`Session::handle_timeout`], with the `now` the driver passes in.
//!
//! What it owns:
//! - **Identification.** An accepted connection names nobody. It is bound
//!   to a peer only by a message that passes verification at the
//!   connection's difficulty *and* is fresh: its signature is neither in
//!   the node's replay set nor earlier in the same batch. The message is
//!   verified once ([`Node::verify_received`]) and handed to the engine
//!   with its verdict ([`Node::receive_verified`]); messages on a bound
//!   connection are verified once by the engine, at the connection's
//!   difficulty ([`Node::receive_on`]).
//! - **Routes.** A peer's messages go on the connection bound to it; an
//!   answer to a stranger (a peer that is not a neighbour) goes back on
//!   the connection its last fresh message came on, within a bounded table
//!   ([`SessionConfig::max_reply_routes`]). Nothing goes to a peer the
//!   session has no way to ([`Sent::Unreachable`]).
//! - **Neighbours learned** from accepted connections, neighbours only
//!   while connected: connections from many keys cannot grow the node.
//! - **Bounds.** Each connection's send queue in bytes (as the driver
//!   reports them written, [`Session::drained`]) and all queues together;
//!   send credit for the node so forwards that cannot fit are not even
//!   sealed, and owed bulletins forwarded later ([`Session::grant`],
//!   [`Session::repair`]); the bind and idle timeouts; at most
//!   [`SessionConfig::max_connections`] accepted connections, the oldest
//!   unbound one evicted past it; and at most
//!   [`SessionConfig::max_invalid`] invalid messages on a connection.
//! - **Local links**: the driver's own inputs and outputs (stdin, stdout,
//!   files), beside its sockets. A local output ([`Opening::Output`])
//!   takes one peer's messages, those no connection carries, or none
//!   ([`Carries`]), and one that holds never drops; a local input
//!   ([`Opening::Input`]) takes any signer's messages and names nobody.
//!   Neither is timed out, closed or counted against the bounds above.
//!
//! # A listener and a dialer, in memory
//!
//! ```
//! use std::time::Instant;
//! use gossip::session::{ConnId, Opening, Session, SessionConfig, SessionEvent};
//! use gossip::{Event, Identity, Node, NodeConfig, Seed, Timestamp};
//!
//! let unix = Timestamp::from_secs(1_764_000_000);
//! let now = Instant::now();
//! let mut alice = Node::new(Identity::from_seed(&Seed::generate()), NodeConfig::default());
//! let mut bob = Node::new(Identity::from_seed(&Seed::generate()), NodeConfig::default());
//! // Alice dials Bob; Bob's listener accepts a connection that names nobody.
//! alice.add_neighbour(bob.address(), 1)?;
//! let (mut a, mut b) = (Session::new(SessionConfig::default()), Session::new(SessionConfig::default()));
//! a.opened(ConnId(1), Opening::Dialed { peer: bob.address(), difficulty: 1 }, &mut alice, now, unix)?;
//! b.opened(ConnId(7), Opening::Accepted { difficulty: 1 }, &mut bob, now, unix)?;
//!
//! // Alice publishes; her session frames the forward for connection 1.
//! alice.publish_new(gossip::topic_id(b"chat"), b"hi".to_vec(), unix)?;
//! alice.run_until_idle(unix)?;
//! for event in alice.drain_events().collect::<Vec<_>>() {
//!     if let Event::Send(out) = event {
//!         a.send(&out, &alice);
//!     }
//! }
//! let Some(SessionEvent::Send { frame, .. }) = a.drain_events().find(|e| matches!(e, SessionEvent::Send { .. })) else {
//!     panic!("a frame for Bob")
//! };
//!
//! // Bob's side: the frame arrives on connection 7, and Alice's first
//! // valid message tells Bob who is on it.
//! b.receive_bytes(ConnId(7), &frame[4..], &mut bob, now, unix)?;
//! assert!(b.drain_events().any(|e| e == SessionEvent::PeerIdentified { conn: ConnId(7), peer: alice.address() }));
//! assert_eq!(b.peer_on(ConnId(7)), Some(alice.address()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod credit;
mod event;
mod limits;
mod routes;

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::codec::write_frame;
use crate::keys::Address;
use crate::message::RawMessage;
use crate::node::{DropReason, Event, Hooks, Node, NodeError, Outbound};
use crate::time::Timestamp;

pub use credit::{OWED_PER_PEER, OWED_TOTAL};
pub use event::{Carries, CloseReason, ConnId, Opening, PeerStats, Repaired, Sent, SessionEvent};
pub use limits::{
    AccessList, BadEntry, DEFAULT_LIMITS_MEMORY, DEFAULT_REPORT_EVERY, Limiter, LimitsConfig, Rate,
    Refusal, Refused, Report, Source, Verdict,
};
use routes::{ReplyRoutes, Route};

/// Invalid messages a connection may send before it is closed.
pub const DEFAULT_MAX_INVALID: u32 = 8;
/// Strangers remembered with the way back to them.
pub const DEFAULT_MAX_REPLY_ROUTES: usize = 4096;
/// Accepted connections kept.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// How long an accepted connection has to send a valid, fresh message.
pub const DEFAULT_BIND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may go without a whole message.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// Bytes one connection's send queue holds.
pub const DEFAULT_SEND_QUEUE: usize = 8 << 20;
/// Bytes all send queues together hold.
pub const DEFAULT_SEND_TOTAL: usize = 64 << 20;
/// The largest frame a connection carries: a message whose JSON line
/// (base64, a third longer) still fits the relay's 32 MiB input bound,
/// plus its 4-byte length prefix.
pub const DEFAULT_MAX_FRAME: usize = ((32 << 20) - 4096) / 4 * 3 + 4;

/// How a session bounds its connections. Start from
/// [`SessionConfig::default`] and change what differs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Accepted connections kept; past it the oldest that names no peer
    /// is closed ([`CloseReason::Evicted`]), or the new one when every
    /// other is bound. Dialed and trusted connections and local links do
    /// not count.
    pub max_connections: usize,
    /// An accepted connection that sent no valid, fresh message within
    /// this long is closed ([`CloseReason::Unbound`]).
    pub bind_timeout: Duration,
    /// A connection with no message within this long of its last one (or
    /// of its opening) is closed ([`CloseReason::Idle`]); None leaves it
    /// to the driver.
    pub idle_timeout: Option<Duration>,
    /// Bytes one connection's send queue holds, the frame being written
    /// counted until the driver reports it written. A larger frame goes
    /// only into an empty queue.
    pub send_queue: usize,
    /// Bytes all send queues hold together; a frame goes past it only when
    /// nothing is queued anywhere.
    pub send_total: usize,
    /// The largest frame: the credit a connection with an empty queue gets,
    /// whatever `send_queue` is, so any message can go.
    pub max_frame: usize,
    /// Invalid messages a connection may send before it is closed
    /// ([`CloseReason::Invalid`]).
    pub max_invalid: u32,
    /// Strangers remembered with the way back to them.
    pub max_reply_routes: usize,
    /// Send the node's delivery-code notice to each peer whenever a
    /// connection to it comes up.
    pub announce: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            bind_timeout: DEFAULT_BIND_TIMEOUT,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            send_queue: DEFAULT_SEND_QUEUE,
            send_total: DEFAULT_SEND_TOTAL,
            max_frame: DEFAULT_MAX_FRAME,
            max_invalid: DEFAULT_MAX_INVALID,
            max_reply_routes: DEFAULT_MAX_REPLY_ROUTES,
            announce: false,
        }
    }
}

/// An open connection, as the session knows it.
#[derive(Debug)]
struct Conn {
    /// The peer: dialed, trusted, or learned from the first valid message.
    peer: Option<Address>,
    difficulty: u32,
    /// Accepted by a listener (the others name their peer).
    accepted: bool,
    opened: Instant,
    /// When its last message came (or it opened).
    last_message: Instant,
    /// Invalid messages it sent.
    invalid: u32,
    /// Why this side closes it, once it does.
    closing: Option<CloseReason>,
    /// Bytes queued on it and not yet reported written.
    queued: usize,
    /// A local link's: an output (and whether it holds, never dropping) or
    /// an input.
    local: Option<Local>,
}

/// What a local link is ([`Opening::Output`], [`Opening::Input`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Local {
    Output { holds: bool },
    Input,
}

/// Connections and peers, routes and bounds, for one node. See the
/// [module docs](self).
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    conns: BTreeMap<ConnId, Conn>,
    routes: BTreeMap<Address, ConnId>,
    /// Peers that are neighbours only while connected (learned from an
    /// accepted connection), as opposed to configured ones.
    learned: BTreeSet<Address>,
    /// Peers this side dials: never learned, and given no credit (their
    /// messages dropped) while not connected.
    expected: BTreeSet<Address>,
    /// Peers treated as configured neighbours when they connect.
    trusted: BTreeSet<Address>,
    replies: ReplyRoutes,
    /// Local outputs that carry one peer's messages.
    outputs: BTreeMap<Address, ConnId>,
    /// The local output for messages no connection carries, and whether
    /// it takes those for strangers the session knows no way to too.
    fallback: Option<(ConnId, bool)>,
    /// Signatures of the messages taken in this batch: a copy later in the
    /// same batch is a replay, before the engine has seen either.
    batch_sigs: HashSet<[u8; 64]>,
    credit: credit::Credit,
    /// Bytes queued on all connections.
    queued_total: usize,
    peers: BTreeMap<Address, PeerStats>,
    events: VecDeque<SessionEvent>,
}

impl Session {
    /// A session with no connection.
    pub fn new(config: SessionConfig) -> Self {
        Self {
            replies: ReplyRoutes::new(config.max_reply_routes),
            outputs: BTreeMap::new(),
            fallback: None,
            config,
            conns: BTreeMap::new(),
            routes: BTreeMap::new(),
            learned: BTreeSet::new(),
            expected: BTreeSet::new(),
            trusted: BTreeSet::new(),
            batch_sigs: HashSet::new(),
            credit: credit::Credit::default(),
            queued_total: 0,
            peers: BTreeMap::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// A peer this side dials (and keeps redialing): it is never learned,
    /// and while it is not connected its messages are dropped and counted
    /// (it catches up by sync) and it gets no send credit.
    pub fn expect(&mut self, peer: Address) {
        self.expected.insert(peer);
        self.peers.entry(peer).or_default();
    }

    /// `peer` is dialed no more (its dialed connections are closing): it is
    /// no longer expected, and the node lets it go as a neighbour. A
    /// connection it opened to a listener stays, and carries it as a
    /// learned peer from now on.
    pub fn forget<H: Hooks>(&mut self, peer: &Address, node: &mut Node<H>) {
        if !self.expected.remove(peer) {
            return;
        }
        node.remove_neighbour(peer);
        let accepted = self
            .conns
            .values()
            .find(|c| c.accepted && c.peer == Some(*peer) && c.closing.is_none())
            .map(|c| c.difficulty);
        match accepted {
            Some(difficulty) if node.add_learned_neighbour(*peer, difficulty).is_ok() => {
                self.learned.insert(*peer);
            }
            _ => {
                if !self.conns.values().any(|c| c.peer == Some(*peer)) {
                    self.peers.remove(peer);
                }
            }
        }
    }

    /// New bounds, from now on: more or fewer accepted connections (past a
    /// lower bound the oldest unbound ones are closed), other timeouts,
    /// other send-queue bounds. The reply-route bound stays as it was.
    pub fn reconfigure(&mut self, config: SessionConfig) {
        let routes = self.config.max_reply_routes;
        self.config = SessionConfig {
            max_reply_routes: routes,
            ..config
        };
        self.make_room();
    }

    /// A peer treated as a configured neighbour when it connects: answered
    /// without the answer budget, sent at its connection's difficulty.
    pub fn trust(&mut self, peer: Address) {
        self.trusted.insert(peer);
    }

    // ---- Inputs ----

    /// A connection is up. A dialed or trusted one carries its peer's
    /// messages at once ([`SessionEvent::PeerIdentified`]; the peer is
    /// asked about the node's sync topics); an accepted one waits for a
    /// valid, fresh message, and past
    /// [`SessionConfig::max_connections`] the oldest unbound accepted
    /// connection is closed.
    pub fn opened<H: Hooks>(
        &mut self,
        conn: ConnId,
        how: Opening,
        node: &mut Node<H>,
        now: Instant,
        unix_now: Timestamp,
    ) -> Result<(), NodeError> {
        let (peer, difficulty) = match how {
            Opening::Dialed { peer, difficulty } => (Some(peer), difficulty),
            Opening::Accepted { difficulty } => (None, difficulty),
            Opening::Trusted { peer, difficulty } => {
                self.trusted.insert(peer);
                (Some(peer), difficulty)
            }
            Opening::Output { carries, holds } => {
                self.open_local(conn, Local::Output { holds }, now);
                match carries {
                    Carries::Peer(peer) => {
                        self.outputs.insert(peer, conn);
                    }
                    Carries::Elsewhere => self.fallback = Some((conn, false)),
                    Carries::All => self.fallback = Some((conn, true)),
                    Carries::Nothing => {}
                }
                return Ok(());
            }
            Opening::Input => {
                self.open_local(conn, Local::Input, now);
                return Ok(());
            }
        };
        self.conns.insert(
            conn,
            Conn {
                peer: None,
                difficulty,
                accepted: peer.is_none(),
                opened: now,
                last_message: now,
                invalid: 0,
                closing: None,
                queued: 0,
                local: None,
            },
        );
        match peer {
            Some(peer) => self.bind(conn, peer, node, unix_now),
            None => {
                self.make_room();
                Ok(())
            }
        }
    }

    /// A message off `conn`. On a connection that names no peer yet, a
    /// valid message the node has not taken before binds the connection to
    /// its signer; a replay binds nothing (anyone who saw a message can
    /// send its bytes again, only its signer can make a new one). Invalid
    /// messages and replays on an unbound connection count against it; a
    /// stranger's fresh message on a bound one marks the way back to it.
    /// The message goes into the node either way, verified exactly once.
    pub fn receive<H: Hooks>(
        &mut self,
        conn: ConnId,
        message: RawMessage,
        node: &mut Node<H>,
        now: Instant,
        unix_now: Timestamp,
    ) -> Result<(), NodeError> {
        // What a connection this side is closing still had in flight is
        // not looked at: closing it is the verdict on what it sends.
        let Some(c) = self.conns.get_mut(&conn).filter(|c| c.closing.is_none()) else {
            return Ok(());
        };
        if let Some(Local::Output { .. }) = c.local {
            // An output takes no messages.
            return Ok(());
        }
        if c.local == Some(Local::Input) {
            // Any signer's, verified by the engine as from its signer;
            // answers take the local way back (unless a connection is
            // bound to the signer).
            self.replies.insert(message.src, Route::Elsewhere);
            node.receive(message);
            return Ok(());
        }
        c.last_message = now;
        // A signature is taken for this batch only by a message that
        // verified, or that came from the peer bound to its connection: a
        // corrupted copy (a forged src under a real signature) sent first
        // must not make the real message look like a replay.
        let (src, sig) = (message.src, message.sig);
        let fresh = !node.is_replay(&message, unix_now) && !self.batch_sigs.contains(&sig);
        let Some(peer) = c.peer else {
            let verified = node.verify_received(message, c.difficulty, unix_now);
            match verified.valid_src() {
                Some(src) if fresh => {
                    self.batch_sigs.insert(sig);
                    self.bind(conn, src, node, unix_now)?;
                    self.heard(src, unix_now);
                    node.receive_verified(Some(src), verified);
                }
                _ => {
                    // The engine counts why it is dropped, blaming no peer.
                    node.receive_verified(None, verified);
                    self.count_invalid(conn);
                }
            }
            return Ok(());
        };
        let difficulty = c.difficulty;
        if fresh && src == peer {
            self.batch_sigs.insert(sig);
        }
        if fresh && src != peer && node.connection(&src).is_none() {
            self.replies.insert(src, Route::Conn(conn));
        }
        self.heard(peer, unix_now);
        node.receive_on(peer, difficulty, message);
        Ok(())
    }

    /// Packed message bytes off `conn` (a frame without its length
    /// prefix). Bytes that are not a message count as invalid against the
    /// connection (and as malformed in the node's counters).
    pub fn receive_bytes<H: Hooks>(
        &mut self,
        conn: ConnId,
        bytes: &[u8],
        node: &mut Node<H>,
        now: Instant,
        unix_now: Timestamp,
    ) -> Result<(), NodeError> {
        match RawMessage::unpack(bytes) {
            Ok(m) => self.receive(conn, m, node, now, unix_now),
            Err(_) => {
                if self.conns.get(&conn).is_some_and(|c| c.closing.is_none()) {
                    node.receive_bytes(bytes);
                    self.count_invalid(conn);
                }
                Ok(())
            }
        }
    }

    /// A message from `src` came outside the session (the relay's stdin):
    /// answers to it are not the session's to carry ([`Sent::Elsewhere`]).
    pub fn heard_elsewhere(&mut self, src: Address) {
        self.replies.insert(src, Route::Elsewhere);
    }

    /// The driver wrote `bytes` of what was queued on `conn`.
    pub fn drained(&mut self, conn: ConnId, bytes: usize) {
        if let Some(c) = self.conns.get_mut(&conn) {
            let n = bytes.min(c.queued);
            c.queued -= n;
            if c.local.is_none() {
                self.queued_total -= n;
            }
        }
    }

    /// `frames` messages queued on `conn` were never written whole (the
    /// connection ended first): counted as dropped for its peer.
    pub fn unsent(&mut self, conn: ConnId, frames: u64) {
        if let Some(peer) = self.conns.get(&conn).and_then(|c| c.peer) {
            let stats = self.peers.entry(peer).or_default();
            stats.dropped += frames;
            stats.sent = stats.sent.saturating_sub(frames);
        }
    }

    /// `conn` ended (whichever side closed it); what was queued on it is
    /// given back to the bound on all queues. When it was the last
    /// connection to its peer the peer is gone ([`SessionEvent::PeerGone`]),
    /// and a learned peer leaves no trace. Returns why the session closed
    /// it, if it did.
    pub fn closed<H: Hooks>(&mut self, conn: ConnId, node: &mut Node<H>) -> Option<CloseReason> {
        let c = self.conns.remove(&conn)?;
        if c.local.is_some() {
            self.outputs.retain(|_, id| *id != conn);
            self.fallback = self.fallback.filter(|(id, _)| *id != conn);
            return None;
        }
        self.queued_total -= c.queued;
        if let Some(peer) = c.peer {
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
                        // Its reconciliations end: no fallback is sent
                        // to a peer that is gone.
                        node.peer_disconnected(&peer);
                        if self.learned.remove(&peer) {
                            // A learned peer leaves no trace: connections
                            // from many keys cannot grow the tables.
                            node.remove_neighbour(&peer);
                            self.peers.remove(&peer);
                        } else if node.connection(&peer).is_none() {
                            // A dialed peer let go ([`Session::forget`]).
                            self.peers.remove(&peer);
                        }
                        self.events.push_back(SessionEvent::PeerGone { peer });
                    }
                }
            }
        }
        c.closing
    }

    /// The node's other events: a connection whose peer's messages keep
    /// failing verification (or being rejected by a hook) is closed past
    /// [`SessionConfig::max_invalid`]; a bulletin deferred for a peer
    /// without send credit is owed to it. False when a deferred bulletin
    /// could not be kept (past the bounds on what is owed: it is unsent).
    pub fn note(&mut self, event: &Event) -> bool {
        match event {
            Event::Dropped {
                from: Some(peer),
                reason: DropReason::Invalid(_) | DropReason::Malformed | DropReason::Refused(_),
            } => {
                if let Some(&conn) = self.routes.get(peer) {
                    self.count_invalid(conn);
                }
                true
            }
            Event::Deferred { peer, key } => self.credit.owe(*peer, *key),
            _ => true,
        }
    }

    /// Routes a message the node made ([`Event::Send`]) to the connection
    /// bound to its peer, or, for a stranger, back on the connection its
    /// last fresh message came on. A queued message comes out as a
    /// [`SessionEvent::Send`].
    pub fn send<H: Hooks>(&mut self, item: &Outbound, node: &Node<H>) -> Sent {
        let peer = item.peer;
        let route = self
            .routes
            .get(&peer)
            .copied()
            .or_else(|| match self.replies.get(&peer) {
                Some(Route::Conn(id)) => Some(id),
                _ => None,
            });
        let Some((id, c)) = route.and_then(|id| Some(id).zip(self.conns.get_mut(&id))) else {
            if let Some(&output) = self.outputs.get(&peer) {
                return self.send_local(output, item);
            }
            if self.expected.contains(&peer) {
                self.peers.entry(peer).or_default().dropped += 1;
                return Sent::Dropped;
            }
            let elsewhere = self.replies.get(&peer) == Some(Route::Elsewhere)
                || node.connection(&peer).is_some_and(|c| !c.is_learned());
            return match self.fallback {
                Some((output, all)) if elsewhere || all => self.send_local(output, item),
                _ if elsewhere => Sent::Elsewhere,
                _ => Sent::Unreachable,
            };
        };
        let mut frame = Vec::new();
        let framed = write_frame(&mut frame, &item.message.pack()).is_ok();
        let n = frame.len();
        let fits = framed
            && c.closing.is_none()
            && (c.queued == 0 || c.queued + n <= self.config.send_queue)
            && (self.queued_total == 0 || self.queued_total + n <= self.config.send_total);
        let (bound, counted) = (c.peer == Some(peer), c.peer.unwrap_or(peer));
        if fits {
            c.queued += n;
            self.queued_total += n;
            self.events
                .push_back(SessionEvent::Send { conn: id, frame });
            self.peers.entry(counted).or_default().sent += 1;
            return Sent::Queued;
        }
        // A bulletin a neighbour's full link cannot take is owed to it.
        if bound
            && let Some(key) = item.bulletin
            && self.credit.owe(peer, key)
        {
            return Sent::Deferred;
        }
        self.peers.entry(counted).or_default().dropped += 1;
        Sent::Dropped
    }

    /// Queues `item` on the local output `conn`: always when it holds,
    /// else within [`SessionConfig::send_queue`].
    fn send_local(&mut self, conn: ConnId, item: &Outbound) -> Sent {
        let mut frame = Vec::new();
        if write_frame(&mut frame, &item.message.pack()).is_err() {
            return Sent::Dropped;
        }
        if !self.queue_local(conn, frame.len()) {
            return Sent::Dropped;
        }
        self.events.push_back(SessionEvent::Send { conn, frame });
        Sent::Queued
    }

    /// The local output a message for `peer` goes to, when no connection
    /// carries it.
    pub fn output_for<H: Hooks>(&self, peer: &Address, node: &Node<H>) -> Option<ConnId> {
        if let Some(&conn) = self.outputs.get(peer) {
            return Some(conn);
        }
        let (conn, all) = self.fallback?;
        let elsewhere = self.replies.get(peer) == Some(Route::Elsewhere)
            || node.connection(peer).is_some_and(|c| !c.is_learned());
        (all || elsewhere).then_some(conn)
    }

    /// Charges `bytes` of the driver's own (a delivery, say) to the queue
    /// of the local output `conn`: true when they fit (always, on an
    /// output that holds; else within [`SessionConfig::send_queue`], one
    /// payload of any length going into an empty queue). Report them
    /// written with [`Session::drained`] as any frame.
    pub fn queue_local(&mut self, conn: ConnId, bytes: usize) -> bool {
        let limit = self.config.send_queue;
        let Some(c) = self.conns.get_mut(&conn) else {
            return false;
        };
        let Some(Local::Output { holds }) = c.local else {
            return false;
        };
        let fits = holds || c.queued == 0 || c.queued + bytes <= limit;
        if fits && c.closing.is_none() {
            c.queued += bytes;
            return true;
        }
        false
    }

    /// Ends a batch of received messages (once the node has taken them):
    /// replays are told from the node's own set again.
    pub fn end_batch(&mut self) {
        self.batch_sigs.clear();
    }

    // ---- Timers ----

    /// When [`Session::handle_timeout`] next has something to do: the
    /// earliest bind timeout of an unbound accepted connection, or idle
    /// timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conns
            .values()
            .filter(|c| c.closing.is_none() && c.local.is_none())
            .filter_map(|c| {
                let bind = (c.accepted && c.peer.is_none())
                    .then(|| c.opened.checked_add(self.config.bind_timeout))
                    .flatten();
                let idle = self
                    .config
                    .idle_timeout
                    .and_then(|d| c.last_message.checked_add(d));
                match (bind, idle) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .min()
    }

    /// Closes the accepted connections that sent no valid, fresh message
    /// within the bind timeout, and those idle past the idle timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        let bind = self.config.bind_timeout;
        let idle = self.config.idle_timeout;
        let late: Vec<(ConnId, CloseReason)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.local.is_none())
            .filter_map(|(id, c)| {
                if c.accepted && c.peer.is_none() && now.saturating_duration_since(c.opened) >= bind
                {
                    Some((*id, CloseReason::Unbound))
                } else if idle.is_some_and(|d| now.saturating_duration_since(c.last_message) >= d) {
                    Some((*id, CloseReason::Idle))
                } else {
                    None
                }
            })
            .collect();
        for (conn, why) in late {
            self.close(conn, why);
        }
    }

    // ---- Outputs and state ----

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Every event waiting, in order.
    pub fn drain_events(&mut self) -> std::collections::vec_deque::Drain<'_, SessionEvent> {
        self.events.drain(..)
    }

    /// The peer on `conn`, once known.
    pub fn peer_on(&self, conn: ConnId) -> Option<Address> {
        self.conns.get(&conn).and_then(|c| c.peer)
    }

    /// The connection that carries `peer`'s messages.
    pub fn route_to(&self, peer: &Address) -> Option<ConnId> {
        self.routes.get(peer).copied()
    }

    /// Whether `peer` is a neighbour learned from an accepted connection.
    pub fn is_learned(&self, peer: &Address) -> bool {
        self.learned.contains(peer)
    }

    /// Open connections (those being closed included, until
    /// [`Session::closed`]).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Bytes queued on `conn` and not yet reported written.
    pub fn queued_bytes(&self, conn: ConnId) -> usize {
        self.conns.get(&conn).map_or(0, |c| c.queued)
    }

    /// Bytes queued on all connections.
    pub fn queued_total(&self) -> usize {
        self.queued_total
    }

    /// Strangers remembered with the way back to them.
    pub fn reply_routes(&self) -> usize {
        self.replies.len()
    }

    /// Counters for each peer dialed or connected (a learned peer's go
    /// with it).
    pub fn peers(&self) -> &BTreeMap<Address, PeerStats> {
        &self.peers
    }

    // ---- Internals ----

    /// A message came from `peer`.
    fn heard(&mut self, peer: Address, unix_now: Timestamp) {
        let stats = self.peers.entry(peer).or_default();
        stats.received += 1;
        stats.last_seen = Some(unix_now);
    }

    fn count_invalid(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn).filter(|c| c.local.is_none()) {
            c.invalid += 1;
            if c.invalid >= self.config.max_invalid {
                self.close(conn, CloseReason::Invalid);
            }
        }
    }

    /// A local link is up.
    fn open_local(&mut self, conn: ConnId, local: Local, now: Instant) {
        self.conns.insert(
            conn,
            Conn {
                peer: None,
                difficulty: 0,
                accepted: false,
                opened: now,
                last_message: now,
                invalid: 0,
                closing: None,
                queued: 0,
                local: Some(local),
            },
        );
    }

    /// Closes `conn` from this side, once.
    fn close(&mut self, conn: ConnId, reason: CloseReason) {
        if let Some(c) = self.conns.get_mut(&conn)
            && c.closing.is_none()
        {
            c.closing = Some(reason.clone());
            self.events.push_back(SessionEvent::Close { conn, reason });
        }
    }

    /// Past `max_connections` accepted connections, the oldest that names
    /// no peer yet is closed (the newest, when every other one is bound):
    /// a crowd of silent connections cannot lock real peers out.
    fn make_room(&mut self) {
        let open = |s: &Self| {
            s.conns
                .values()
                .filter(|c| c.accepted && c.closing.is_none())
                .count()
        };
        while open(self) > self.config.max_connections {
            let Some(oldest) = self
                .conns
                .iter()
                .filter(|(_, c)| c.accepted && c.peer.is_none() && c.closing.is_none())
                .min_by_key(|(id, c)| (c.opened, **id))
                .map(|(id, _)| *id)
            else {
                return;
            };
            self.close(oldest, CloseReason::Evicted);
        }
    }

    /// `conn` now carries `peer`'s messages: the peer is a neighbour
    /// (learned, unless it is expected, configured or trusted) and is asked
    /// about the followed topics, so a peer that was away catches up, and
    /// told the node's delivery code when the session announces it.
    fn bind<H: Hooks>(
        &mut self,
        conn: ConnId,
        peer: Address,
        node: &mut Node<H>,
        unix_now: Timestamp,
    ) -> Result<(), NodeError> {
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
                self.close(conn, CloseReason::Unsealable(e));
                return Ok(());
            }
            if !self.expected.contains(&peer) {
                self.learned.insert(peer);
            }
        }
        c.peer = Some(peer);
        self.routes.insert(peer, conn);
        let stats = self.peers.entry(peer).or_default();
        stats.connected += 1;
        stats.last_seen = Some(unix_now);
        self.events
            .push_back(SessionEvent::PeerIdentified { conn, peer });
        node.sync_with(peer);
        if self.config.announce {
            node.announce_delivery_code_to(peer, unix_now)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
