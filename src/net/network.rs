//! A [`Session`] over an [`Endpoint`], for a caller that runs the [`Node`]
//! itself: it takes the endpoint's [`ConnEvent`]s into the session and the
//! node, carries out the session's events on the sockets (frames written,
//! connections closed), counts what happens to connections
//! ([`NetCounters`]) and says what is worth telling an operator
//! ([`Notice`]). The [`Gossip`](super::Gossip) handle runs on one; so
//! does the `gossip relay` command, beside its stdin and stdout.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio_util::bytes::Bytes;

use super::local::{Locals, Unwritten};
use super::{ConnEvent, Dial, Ended, Endpoint, Frame, NetAddr, NetCounters};
use crate::bulletin::Bulletin;
use crate::codec::Format;
use crate::error::KeyError;
use crate::ids::BulletinKey;
use crate::keys::Address;
use crate::message::RawMessage;
use crate::node::{Event, Hooks, Node, NodeError, Outbound};
use crate::session::{
    Carries, CloseReason, ConnId, Limiter, LimitsConfig, Opening, PeerStats, Repaired, Report,
    Sent, Session, SessionConfig, SessionEvent,
};
use crate::time::Timestamp;

/// Notices kept for the caller; past it the oldest is forgotten.
const NOTICES: usize = 1024;

/// Why a connection ended, as an operator reads it: the session's reason
/// when it closed the connection, else the connection's own end.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disconnect {
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

impl Disconnect {
    /// From the session's reason, when it closed the connection, and the
    /// connection's own end.
    pub fn of(closed: Option<CloseReason>, ended: Ended) -> Self {
        match (closed, ended) {
            (Some(CloseReason::Unbound), _) => Self::Unbound,
            (Some(CloseReason::Evicted), _) => Self::Evicted,
            (Some(CloseReason::Invalid), _) => Self::Invalid,
            (Some(CloseReason::Idle), _) => Self::Idle,
            (_, Ended::Junk(e)) => Self::Junk(e),
            (_, Ended::Error(e) | Ended::ReaderGone(e)) => Self::Error(e),
            _ => Self::Eof,
        }
    }
}

/// Something an operator may want to hear of (the caller logs it, or not).
#[derive(Debug)]
#[non_exhaustive]
pub enum Notice {
    /// The connection from `remote` carries `peer`'s messages.
    Connected {
        /// The remote end.
        remote: String,
        /// The peer.
        peer: Address,
    },
    /// The connection from `remote` ended.
    Closed {
        /// The remote end.
        remote: String,
        /// Why.
        why: Disconnect,
    },
    /// The connection from `remote` is closed: the signer of its first
    /// message cannot be a neighbour.
    Unsealable {
        /// The remote end.
        remote: String,
        /// Why no box can be sealed to it.
        error: KeyError,
    },
    /// A listener closed a connection at once: too many are open.
    Refused {
        /// The remote end.
        remote: String,
    },
    /// accept() failed; the listener tries again shortly.
    AcceptFailed {
        /// The socket's error.
        why: String,
    },
    /// What one source had refused by the limits per source (or, in
    /// shadow mode, would have) since its last report: once an interval
    /// ([`LimitsConfig::report_every`]), never once a message.
    Limited(Report),
    /// A dial failed; it is tried again after a backoff.
    DialFailed {
        /// The peer dialed.
        peer: Address,
        /// Where.
        addr: NetAddr,
        /// Why.
        why: String,
    },
    /// A local output ([`Network::attach_output`]) that does not hold
    /// took no more: what it is given is dropped until it takes some.
    OutputDropping {
        /// Its name.
        name: String,
        /// What it is.
        role: &'static str,
    },
    /// A local output ended, with `unwritten` payloads never written.
    OutputEnded {
        /// Its name.
        name: String,
        /// What it is.
        role: &'static str,
        /// It never dropped (stdout).
        holds: bool,
        /// How it ended.
        ended: Ended,
        /// Payloads it never wrote whole.
        unwritten: u64,
    },
}

/// A local output of a [`Network`]: a link of the caller's own process
/// (stdout, a file, a fifo, attached to the network's endpoint with
/// [`Endpoint::attach_blocking`] or [`Endpoint::attach_file`]) that the
/// session routes messages to ([`Opening::Output`]).
#[derive(Clone, Debug)]
pub struct LocalOutput {
    /// Its name, for notices ("stdout", a path).
    pub name: String,
    /// What it is, for notices ("peer", "delivery output").
    pub role: &'static str,
    /// How messages are written on it: wire frames or JSON lines.
    pub format: Format,
    /// Which messages it carries.
    pub carries: Carries,
    /// It never drops: the caller holds its input back while the queue is
    /// past its own bound ([`Network::queued_bytes`]).
    pub holds: bool,
}

/// What [`Network::retarget`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Retargeted {
    /// Dialed now.
    pub added: Vec<Dial>,
    /// Let go.
    pub gone: Vec<Dial>,
    /// Not dialed: the peer's address is no public key.
    pub refused: Vec<(Dial, KeyError)>,
}

/// An [`Endpoint`] and the [`Session`] over it, for a caller that runs
/// the [`Node`] itself: it takes the endpoint's [`ConnEvent`]s into the
/// session and the node ([`Network::handle`]), carries out the session's
/// events on the sockets, counts what happens to connections
/// ([`Network::counters`]) and keeps what an operator may want to hear
/// ([`Network::poll_notice`]).
#[derive(Debug)]
pub struct Network {
    session: Session,
    endpoint: Endpoint,
    /// Each open connection's remote end, for notices.
    remotes: HashMap<ConnId, String>,
    /// Connections whose peers sent their last message: finished once
    /// what those messages called for is queued.
    read_ended: Vec<ConnId>,
    counters: NetCounters,
    notices: VecDeque<Notice>,
    limiter: Limiter,
    /// Accepted connections, which the limits apply to, with the IP
    /// address they came from (None for a Unix socket).
    accepted: HashMap<ConnId, Option<IpAddr>>,
    /// Accepted connections the limits refused: closed, and nothing they
    /// sent is looked at.
    shut: HashSet<ConnId>,
    /// The local outputs.
    locals: Locals,
    /// The local inputs open.
    inputs: HashSet<ConnId>,
}

impl Network {
    /// `session` over `endpoint`.
    pub fn new(endpoint: Endpoint, session: Session) -> Self {
        Self {
            session,
            endpoint,
            remotes: HashMap::new(),
            read_ended: Vec::new(),
            counters: NetCounters::default(),
            notices: VecDeque::new(),
            limiter: Limiter::new(LimitsConfig::default()),
            accepted: HashMap::new(),
            shut: HashSet::new(),
            locals: Locals::default(),
            inputs: HashSet::new(),
        }
    }

    /// Routes messages to `conn`, a local output attached to the endpoint
    /// ([`Endpoint::attach_blocking`], [`Endpoint::attach_file`]), as
    /// `output` says.
    pub fn attach_output<H: Hooks>(
        &mut self,
        conn: ConnId,
        output: LocalOutput,
        node: &mut Node<H>,
    ) -> Result<(), NodeError> {
        let LocalOutput {
            name,
            role,
            format,
            carries,
            holds,
        } = output;
        self.locals.add(conn, name, role, format, holds);
        let opening = Opening::Output { carries, holds };
        let unix = Timestamp::from_secs(0);
        self.session
            .opened(conn, opening, node, Instant::now(), unix)
    }

    /// `conn` is a local input, an object reader on the endpoint
    /// ([`Endpoint::attach_objects`]): take its messages with
    /// [`Network::receive`].
    pub fn attach_input<H: Hooks>(
        &mut self,
        conn: ConnId,
        node: &mut Node<H>,
    ) -> Result<(), NodeError> {
        self.inputs.insert(conn);
        let unix = Timestamp::from_secs(0);
        self.session
            .opened(conn, Opening::Input, node, Instant::now(), unix)
    }

    /// A message read off `conn` (a local input's, say, from its
    /// [`ConnEvent::Object`]) into the session and the node
    /// ([`Session::receive`]).
    pub fn receive<H: Hooks>(
        &mut self,
        conn: ConnId,
        message: RawMessage,
        node: &mut Node<H>,
        unix_now: Timestamp,
    ) -> Result<(), NodeError> {
        let taken = self
            .session
            .receive(conn, message, node, Instant::now(), unix_now);
        self.pump();
        taken
    }

    /// Queues a delivered bulletin as a JSON line on the local output
    /// `conn`, in order with its messages; false when it does not fit (an
    /// output that does not hold is full) or has ended. Once written
    /// whole its key comes back from [`Network::take_delivered`];
    /// `counted`: if never written, it counts among
    /// [`Unwritten::deliveries`].
    pub fn deliver_on(&mut self, conn: ConnId, bulletin: Bulletin, counted: bool) -> bool {
        let (key, line) = Locals::encode_delivery(bulletin);
        let n = line.len();
        if !self.session.queue_local(conn, n) {
            if let Some(notice) = self.locals.dropped(conn) {
                self.notice(notice);
            }
            return false;
        }
        if !self.endpoint.send(conn, Bytes::from(line)) {
            self.session.drained(conn, n);
            return false;
        }
        self.locals.queued_delivery(conn, key, counted, n);
        true
    }

    /// The deliveries local outputs wrote whole since the last call.
    pub fn take_delivered(&mut self) -> Vec<BulletinKey> {
        self.locals.take_delivered()
    }

    /// What local outputs that ended never wrote, since the last call.
    pub fn take_unwritten(&mut self) -> Unwritten {
        self.locals.take_unwritten()
    }

    /// Bytes queued on `conn` and not yet written.
    pub fn queued_bytes(&self, conn: ConnId) -> usize {
        self.session.queued_bytes(conn)
    }

    /// Whether the local output `conn` is open and holds what it has not
    /// written yet.
    pub fn holds(&self, conn: ConnId) -> bool {
        self.locals.holds(conn) && self.endpoint.is_writable(conn)
    }

    /// Whether `conn` still takes what is sent on it.
    pub fn is_writable(&self, conn: ConnId) -> bool {
        self.endpoint.is_writable(conn)
    }

    /// Waits until a connection's writer wrote some of its queue, and
    /// takes that in: for a caller that holds its input back while an
    /// output is full.
    pub async fn written(&mut self) {
        let (conn, bytes) = self.endpoint.next_written().await;
        self.drained(conn, bytes);
    }

    /// `bytes` of `conn`'s queue were written: for a local output, its
    /// oldest payload, given back to the session as it was charged.
    fn drained(&mut self, conn: ConnId, bytes: usize) {
        let charged = self.locals.written(conn).unwrap_or(bytes);
        self.session.drained(conn, charged);
    }

    /// Takes in only what an event says of queues and local outputs
    /// (written, ended); the rest is dropped: for a caller that is
    /// ending, waiting for its outputs.
    pub fn settle<H: Hooks>(&mut self, event: ConnEvent, node: &mut Node<H>) {
        match event {
            ConnEvent::Written { conn, bytes } => self.drained(conn, bytes),
            ConnEvent::Closed {
                conn,
                ended,
                unwritten,
            } if self.locals.contains(conn) => self.closed(conn, ended, unwritten, node),
            _ => {}
        }
    }

    /// Finishes the local outputs: each writes what is queued on it, then
    /// ends; those still writing at `deadline` are closed. What they never
    /// wrote is counted ([`Network::take_unwritten`]).
    pub async fn finish_outputs<H: Hooks>(&mut self, deadline: Duration, node: &mut Node<H>) {
        let conns = self.locals.conns();
        for c in self.endpoint.finish_each(&conns, deadline).await {
            self.closed(c.conn, c.ended, c.unwritten, node);
        }
    }

    /// Enforces limits per source on the connections listeners accept
    /// (dialed and trusted ones are the caller's choice, and not limited):
    /// a connection from a denied IP address, or one past its connections,
    /// is closed as it opens; a message over its IP address's or its
    /// peer's rate, or whose signer is denied, is dropped before it is
    /// verified. Each is counted ([`NetCounters`]) and reported once an
    /// interval per source ([`Notice::Limited`]). Called again (a
    /// reload), the new limits apply from now on, and the connections
    /// already open still count against their IP addresses.
    pub fn limit(&mut self, config: LimitsConfig) {
        self.limiter.reconfigure(config);
    }

    /// The endpoint's next event ([`Endpoint::next`]).
    pub async fn next(&mut self) -> ConnEvent {
        self.endpoint.next().await
    }

    /// The endpoint's next event if one is waiting.
    pub fn try_next(&mut self) -> Option<ConnEvent> {
        self.endpoint.try_next()
    }

    /// Takes an event of the endpoint into the session and the node. A
    /// message's frame is pushed on `held`: keep it until the node has run
    /// (its bytes stay charged to the input bound until then). A local
    /// input's event ([`Network::attach_input`]: an object it read, its
    /// end) is given back, for the caller to take in. An error only from
    /// the node (a delivery-code notice its store could not make).
    pub fn handle<H: Hooks>(
        &mut self,
        event: ConnEvent,
        node: &mut Node<H>,
        now: Instant,
        unix_now: Timestamp,
        held: &mut Vec<Frame>,
    ) -> Result<Option<ConnEvent>, NodeError> {
        match event {
            ConnEvent::Opened {
                conn,
                opening,
                remote,
            } => {
                if let Opening::Accepted { .. } = opening {
                    let ip = remote.parse::<SocketAddr>().ok().map(|a| a.ip());
                    if let Some(verdict) = ip.map(|ip| self.limiter.connection(ip, now)) {
                        self.counters.limited(self.limiter.totals());
                        if verdict.refuses() {
                            self.shut.insert(conn);
                            self.endpoint.close(conn);
                            return Ok(None);
                        }
                    }
                    self.accepted.insert(conn, ip);
                }
                self.counters.opened += 1;
                self.remotes.insert(conn, remote);
                let opened = self.session.opened(conn, opening, node, now, unix_now);
                self.pump();
                opened?;
            }
            ConnEvent::Message { conn, frame } => {
                let taken = match RawMessage::unpack(&frame) {
                    Ok(m) if self.admits(conn, &m, frame.len(), now) => {
                        self.session.receive(conn, m, node, now, unix_now)
                    }
                    Ok(_) => Ok(()),
                    Err(_) => self
                        .session
                        .receive_bytes(conn, &frame, node, now, unix_now),
                };
                held.push(frame);
                self.pump();
                taken?;
            }
            ConnEvent::Written { conn, bytes } => self.drained(conn, bytes),
            // An object reader's objects are the caller's to take in.
            ConnEvent::Object { .. } => return Ok(Some(event)),
            ConnEvent::Closed { conn, .. } if self.inputs.remove(&conn) => {
                self.session.closed(conn, node);
                return Ok(Some(event));
            }
            ConnEvent::ReadEnded { conn } => self.read_ended.push(conn),
            ConnEvent::Closed {
                conn,
                ended,
                unwritten,
            } => self.closed(conn, ended, unwritten, node),
            ConnEvent::Refused { remote } => {
                self.counters.refused += 1;
                self.notice(Notice::Refused { remote });
            }
            ConnEvent::AcceptFailed { why } => {
                self.counters.refused += 1;
                self.notice(Notice::AcceptFailed { why });
            }
            ConnEvent::DialFailed { peer, addr, why } => {
                self.counters.dial_failures += 1;
                self.notice(Notice::DialFailed { peer, addr, why });
            }
        }
        Ok(None)
    }

    /// Whether the limits let a message of `bytes` on `conn` through to
    /// be verified (refused, it is counted).
    fn admits(&mut self, conn: ConnId, m: &RawMessage, bytes: usize, now: Instant) -> bool {
        if self.shut.contains(&conn) {
            return false;
        }
        let Some(&ip) = self.accepted.get(&conn) else {
            return true;
        };
        if !self.limiter.is_active() {
            return true;
        }
        let peer = self.session.peer_on(conn);
        let verdict = self.limiter.message(ip, peer, m.src, bytes, now);
        self.counters.limited(self.limiter.totals());
        !verdict.refuses()
    }

    fn closed<H: Hooks>(&mut self, conn: ConnId, ended: Ended, unwritten: u64, node: &mut Node<H>) {
        if self.shut.remove(&conn) {
            return;
        }
        if let Some(notice) = self.locals.ended(conn, ended.clone(), unwritten) {
            self.session.closed(conn, node);
            self.notice(notice);
            return;
        }
        if let Some(Some(ip)) = self.accepted.remove(&conn) {
            self.limiter.disconnected(ip);
        }
        let remote = self.remotes.remove(&conn).unwrap_or_default();
        self.session.unsent(conn, unwritten);
        let why = Disconnect::of(self.session.closed(conn, node), ended);
        let c = &mut self.counters;
        match why {
            Disconnect::Junk(_) => c.junk += 1,
            Disconnect::Idle => c.idle += 1,
            Disconnect::Unbound => c.unbound += 1,
            Disconnect::Evicted => c.evicted += 1,
            Disconnect::Invalid => c.invalid += 1,
            Disconnect::Eof | Disconnect::Error(_) => {}
        }
        self.notice(Notice::Closed { remote, why });
        self.pump();
    }

    /// Carries out the session's events on the sockets; returns how many
    /// frames a connection did not take (it had ended).
    fn pump(&mut self) -> u64 {
        let mut failed = 0;
        while let Some(event) = self.session.poll_event() {
            match event {
                SessionEvent::Send { conn, frame } => {
                    let n = frame.len();
                    let payload = match self.locals.encode_frame(conn, frame) {
                        Ok(bytes) => Bytes::from(bytes),
                        // The session framed it; the endpoint frames again.
                        Err(frame) => Bytes::from(frame).slice(4..),
                    };
                    let local = self.locals.contains(conn);
                    if self.endpoint.send(conn, payload) {
                        if local {
                            self.locals.queued_message(conn, n);
                        }
                    } else {
                        self.session.drained(conn, n);
                        self.session.unsent(conn, 1);
                        failed += 1;
                    }
                }
                SessionEvent::Close { conn, reason } => {
                    if let CloseReason::Unsealable(error) = reason {
                        let remote = self.remote(conn);
                        self.notice(Notice::Unsealable { remote, error });
                    }
                    self.endpoint.close(conn);
                }
                SessionEvent::PeerIdentified { conn, peer } => {
                    let remote = self.remote(conn);
                    self.notice(Notice::Connected { remote, peer });
                }
                _ => {}
            }
        }
        failed
    }

    fn notice(&mut self, notice: Notice) {
        if self.notices.len() >= NOTICES {
            self.notices.pop_front();
        }
        self.notices.push_back(notice);
    }

    fn remote(&self, conn: ConnId) -> String {
        self.remotes.get(&conn).map_or("?", String::as_str).into()
    }

    /// Queues a message the node made for a peer on the peer's
    /// connection ([`Session::send`]). A frame the connection no longer
    /// takes (it has just ended) is [`Sent::Dropped`].
    pub fn send<H: Hooks>(&mut self, item: &Outbound, node: &Node<H>) -> Sent {
        match self.session.send(item, node) {
            Sent::Queued if self.pump() > 0 => Sent::Dropped,
            Sent::Dropped => {
                let output = self.session.output_for(&item.peer, node);
                if let Some(notice) = output.and_then(|c| self.locals.dropped(c)) {
                    self.notice(notice);
                }
                Sent::Dropped
            }
            sent => sent,
        }
    }

    /// The node's other events ([`Session::note`]): false when a deferred
    /// bulletin could not be kept (it is then unsent).
    pub fn note(&mut self, event: &Event) -> bool {
        let kept = self.session.note(event);
        self.pump();
        kept
    }

    /// Before each run of the node: each neighbour's send credit
    /// ([`Session::grant`]).
    pub fn grant<H: Hooks>(&mut self, node: &mut Node<H>) {
        self.session.grant(node);
    }

    /// Forwards again what full links were owed ([`Session::repair`]).
    pub fn repair<H: Hooks>(
        &mut self,
        node: &mut Node<H>,
        unix_now: Timestamp,
    ) -> Result<Repaired, NodeError> {
        self.session.repair(node, unix_now)
    }

    /// Ends a batch of received messages ([`Session::end_batch`]).
    pub fn end_batch(&mut self) {
        self.session.end_batch();
    }

    /// Finishes the connections whose peers sent their last message
    /// ([`Endpoint::finish`]): call it once what their messages called for
    /// is queued.
    pub fn finish_ended(&mut self) {
        for conn in self.read_ended.drain(..) {
            self.endpoint.finish(conn);
        }
    }

    /// When [`Network::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.session.poll_timeout(), self.limiter.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The session's timers: closes the connections past the bind or the
    /// idle timeout; and what the limits refused is reported when due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
        self.pump();
        for report in self.limiter.handle_timeout(now) {
            self.notice(Notice::Limited(report));
        }
    }

    /// Reports now what the limits refused since their last reports (when
    /// the caller is about to stop).
    pub fn flush_limits(&mut self) {
        for report in self.limiter.flush() {
            self.notice(Notice::Limited(report));
        }
    }

    /// A message from `src` came outside the network
    /// ([`Session::heard_elsewhere`]).
    pub fn heard_elsewhere(&mut self, src: Address) {
        self.session.heard_elsewhere(src);
    }

    /// The next notice for the operator (the last 1,024 are kept).
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// Whether any peer is owed bulletins its full link missed.
    pub fn owes(&self) -> bool {
        self.session.owes()
    }

    /// What happened to connections so far.
    pub fn counters(&self) -> &NetCounters {
        &self.counters
    }

    /// Counters for each peer dialed or connected.
    pub fn peers(&self) -> &std::collections::BTreeMap<Address, PeerStats> {
        self.session.peers()
    }

    /// The peers with a connection up.
    pub fn connected(&self) -> Vec<Address> {
        let peers = self.session.peers().iter();
        peers
            .filter(|(_, s)| s.connected > 0)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Dials `peer` at `addr` and keeps the link up
    /// ([`Endpoint::connect`]): the node takes it as a neighbour and the
    /// session expects it.
    pub fn connect<H: Hooks>(
        &mut self,
        peer: Address,
        addr: NetAddr,
        difficulty: u32,
        node: &mut Node<H>,
    ) -> Result<(), KeyError> {
        node.add_neighbour(peer, difficulty)?;
        self.session.expect(peer);
        self.endpoint.connect(peer, addr, difficulty);
        Ok(())
    }

    /// Dials `dials` from now on: a peer no longer among them is let go
    /// ([`Network::disconnect`]), a new one dialed ([`Network::connect`]);
    /// a peer whose address or difficulty changed is both. Connections to
    /// the others stay as they are. A peer whose address is no public key
    /// is not dialed: it is in [`Retargeted::refused`], with why. Call it
    /// inside the runtime.
    pub fn retarget<H: Hooks>(&mut self, dials: &[Dial], node: &mut Node<H>) -> Retargeted {
        let mut done = Retargeted::default();
        let now: Vec<Dial> = self.endpoint.dials().cloned().collect();
        let (kept, gone): (Vec<Dial>, Vec<Dial>) = now.into_iter().partition(|d| dials.contains(d));
        for d in &gone {
            self.disconnect(&d.peer, node);
        }
        for d in dials.iter().filter(|d| !kept.contains(d)) {
            match self.connect(d.peer, d.addr.clone(), d.difficulty, node) {
                Ok(()) => done.added.push(d.clone()),
                Err(e) => done.refused.push((d.clone(), e)),
            }
        }
        done.gone = gone;
        done
    }

    /// Lets a dialed peer go: no more dials, its dialed connections closed
    /// now ([`Endpoint::disconnect`]), and the session and the node forget
    /// it ([`Session::forget`]). False when `peer` was not dialed.
    pub fn disconnect<H: Hooks>(&mut self, peer: &Address, node: &mut Node<H>) -> bool {
        let dialed = self.endpoint.disconnect(peer);
        self.session.forget(peer, node);
        dialed
    }

    /// New bounds from now on ([`Session::reconfigure`]); the listeners
    /// take `config.max_connections` too.
    pub fn reconfigure(&mut self, config: SessionConfig) {
        self.endpoint.set_max_connections(config.max_connections);
        self.session.reconfigure(config);
    }

    /// The session's bounds.
    pub fn config(&self) -> &SessionConfig {
        self.session.config()
    }

    /// The endpoint, to listen or dial on.
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// Shuts down: what full links were still owed is given up, and the
    /// endpoint writes what is queued until `deadline`
    /// ([`Endpoint::shutdown`]). Returns the messages never sent.
    pub async fn shutdown(mut self, deadline: Duration) -> u64 {
        let lost = self.session.abandon_owed();
        lost + self.endpoint.shutdown(deadline).await
    }
}
