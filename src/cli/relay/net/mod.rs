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

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use gossip::codec::{Object, ReadError, write_frame};
use gossip::message::Message;
use gossip::{Address, Id, Node};

pub use conn::{ConnWriter, Shared};
pub use dial::Target;
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
    /// Nothing came for the idle timeout.
    Idle,
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

/// An open connection, as the loop knows it.
struct Conn {
    /// The peer: dialed, or learned from the first valid message.
    peer: Option<Address>,
    remote: SocketAddr,
    difficulty: u32,
    writer: ConnWriter,
}

/// The network side of the relay, owned by its loop: the open connections,
/// which one carries each peer's messages, and the counters.
pub struct Network {
    conns: BTreeMap<ConnId, Conn>,
    routes: BTreeMap<Address, ConnId>,
    /// Peers that are neighbours only while connected (learned by a
    /// listener), as opposed to `--connect` and `--peer` neighbours.
    learned: std::collections::BTreeSet<Address>,
    dialed: std::collections::BTreeSet<Address>,
    pub peers: BTreeMap<Address, PeerStats>,
    pub counters: NetCounters,
    quiet: bool,
}

impl Network {
    /// Opens the listeners and starts the dialers.
    pub fn start(
        listen: &[(String, u32)],
        connect: &[Target],
        max_connections: usize,
        shared: &Shared,
        stop: &Arc<AtomicBool>,
        quiet: bool,
    ) -> Result<Self, Failure> {
        let ids = Arc::new(ConnIds::default());
        let open = Arc::new(AtomicUsize::new(0));
        for (host, difficulty) in listen {
            let listener = TcpListener::bind(host)
                .map_err(|e| Failure::io(format!("relay: cannot listen on {host}"), e))?;
            if let Ok(addr) = listener.local_addr() {
                eprintln!("gossip: relay: listening on {addr}");
            }
            listen::spawn(
                listener,
                *difficulty,
                max_connections,
                Arc::clone(&open),
                shared.clone(),
                Arc::clone(&ids),
            );
        }
        for target in connect {
            dial::spawn(
                target.clone(),
                shared.clone(),
                Arc::clone(&ids),
                Arc::clone(stop),
            );
        }
        Ok(Self {
            conns: BTreeMap::new(),
            routes: BTreeMap::new(),
            learned: Default::default(),
            dialed: connect.iter().map(|t| t.peer).collect(),
            peers: connect
                .iter()
                .map(|t| (t.peer, PeerStats::default()))
                .collect(),
            counters: NetCounters {
                active: true,
                ..NetCounters::default()
            },
            quiet,
        })
    }

    /// A network with no listener and no dialer (the plain stdin relay).
    pub fn none() -> Self {
        Self {
            conns: BTreeMap::new(),
            routes: BTreeMap::new(),
            learned: Default::default(),
            dialed: Default::default(),
            peers: BTreeMap::new(),
            counters: NetCounters::default(),
            quiet: true,
        }
    }

    /// Takes a network event into the node. Returns the bytes of a message
    /// now in the node (to free from the in-flight budget once handled).
    /// `sync` are the topics a newly connected peer is asked about.
    pub fn handle(
        &mut self,
        event: NetEvent,
        node: &mut Node,
        now: u64,
        sync: &[Id],
    ) -> Result<usize, Failure> {
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
                    },
                );
                if let Some(peer) = peer {
                    self.bind(conn, peer, node, now, sync)?;
                }
                Ok(0)
            }
            NetEvent::Message {
                conn,
                message,
                size,
            } => {
                let Some(c) = self.conns.get(&conn) else {
                    return Ok(size);
                };
                let peer = match c.peer {
                    Some(p) => p,
                    None if node.verify(&message, c.difficulty, now).is_valid() => {
                        let peer = message.src;
                        self.bind(conn, peer, node, now, sync)?;
                        peer
                    }
                    None => {
                        // Not valid: the engine counts why; the connection
                        // stays unbound until a valid message names it.
                        node.receive(message);
                        return Ok(size);
                    }
                };
                let stats = self.peers.entry(peer).or_default();
                stats.received += 1;
                stats.last_seen = Some(now);
                node.receive_from(peer, message);
                Ok(size)
            }
            NetEvent::Closed { conn, why } => {
                self.closed(conn, &why, node);
                Ok(0)
            }
            NetEvent::Refused { remote } => {
                self.counters.refused += 1;
                if !self.quiet {
                    eprintln!("gossip: relay: {remote}: refused, too many connections");
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

    /// `conn` now carries `peer`'s messages: the peer is a neighbour (at
    /// the connection's difficulty, unless it is one already) and is asked
    /// for the followed topics, so a peer that was away catches up.
    fn bind(
        &mut self,
        conn: ConnId,
        peer: Address,
        node: &mut Node,
        now: u64,
        sync: &[Id],
    ) -> Result<(), Failure> {
        let Some(c) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        if node.connection(&peer).is_none() {
            if let Err(e) = node.connect(peer, c.difficulty) {
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
        for topic in sync {
            node.request_sync(peer, *topic);
        }
        Ok(())
    }

    fn closed(&mut self, conn: ConnId, why: &Why, node: &mut Node) {
        match why {
            Why::Junk(_) => self.counters.junk += 1,
            Why::Idle => self.counters.idle += 1,
            Why::Eof | Why::Error(_) => {}
        }
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if !self.quiet || matches!(why, Why::Junk(_)) {
            let what = match why {
                Why::Eof => "closed".to_string(),
                Why::Junk(e) => format!("closed: not a message stream ({e})"),
                Why::Idle => "closed: idle".to_string(),
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
                    if self.learned.remove(&peer) {
                        node.disconnect(&peer);
                    }
                }
            }
        }
    }

    /// Sends a message to `peer` if this network carries its messages:
    /// Some(true) when queued, Some(false) when dropped (its queue is
    /// full, or a dialed peer is not connected now: it catches up by sync),
    /// None when the peer is not the network's.
    pub fn send(&mut self, peer: &Address, message: &Message) -> Option<bool> {
        let route = self.routes.get(peer).and_then(|id| self.conns.get(id));
        if route.is_none() && !self.dialed.contains(peer) {
            return None;
        }
        let stats = self.peers.entry(*peer).or_default();
        let mut frame = Vec::new();
        let queued = route.is_some_and(|c| {
            write_frame(&mut frame, &message.pack()).is_ok() && c.writer.push(frame)
        });
        if queued {
            stats.sent += 1;
        } else {
            stats.dropped += 1;
        }
        Some(queued)
    }

    /// Whether any listener or dialer runs.
    pub fn is_active(&self) -> bool {
        self.counters.active
    }

    /// Gives every connection until `deadline` to write what it holds,
    /// then closes them all; returns the messages never written.
    pub fn finish(&mut self, deadline: Instant) -> u64 {
        let mut lost = 0;
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
