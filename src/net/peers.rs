//! INTERIM, until the library's session layer (`gossip::session`) lands:
//! which connection is which peer, routes, learned neighbours, and the
//! per-connection bounds that are decisions rather than I/O (invalid
//! messages, unbound and surplus accepted connections). It follows the
//! relay's `Network` (`src/cli/relay/net/mod.rs`) and, like it, verifies a
//! first message twice (here, then in the engine); the session layer
//! verifies once. Pure logic: no sockets, no clock but the `Instant`s it
//! is given.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use super::conn::ConnId;
use crate::keys::Address;
use crate::message::Message;
use crate::node::{Hooks, Node};

/// Invalid messages a connection may send before it is closed.
pub(crate) const MAX_INVALID: u32 = 8;

/// An open connection, as the table knows it.
#[derive(Debug)]
struct Conn {
    /// The peer: dialed, or learned from its first valid, fresh message.
    peer: Option<Address>,
    accepted: bool,
    opened: Instant,
    invalid: u32,
    closing: bool,
}

/// The table of connections and peers.
#[derive(Debug)]
pub(crate) struct Peers {
    conns: BTreeMap<ConnId, Conn>,
    routes: BTreeMap<Address, ConnId>,
    /// Peers that are neighbours only while connected (learned).
    learned: BTreeSet<Address>,
    /// Signatures taken since the engine last ran: a copy later in the same
    /// batch is a replay before the engine has recorded either.
    batch_sigs: HashSet<[u8; 64]>,
    max_connections: usize,
    bind_timeout: Duration,
    /// Message difficulty asked of learned peers.
    difficulty: u32,
}

impl Peers {
    pub fn new(max_connections: usize, bind_timeout: Duration, difficulty: u32) -> Self {
        Self {
            conns: BTreeMap::new(),
            routes: BTreeMap::new(),
            learned: BTreeSet::new(),
            batch_sigs: HashSet::new(),
            max_connections,
            bind_timeout,
            difficulty,
        }
    }

    /// A connection came up: a dialed one carries its peer at once (a
    /// configured neighbour), an accepted one names nobody yet. Returns the
    /// connections to close to stay within the bound on accepted ones.
    pub fn opened<H: Hooks>(
        &mut self,
        conn: ConnId,
        dialed: Option<Address>,
        node: &mut Node<H>,
        now: Instant,
    ) -> Vec<ConnId> {
        self.conns.insert(
            conn,
            Conn {
                peer: None,
                accepted: dialed.is_none(),
                opened: now,
                invalid: 0,
                closing: false,
            },
        );
        match dialed {
            Some(peer) => {
                self.bind(conn, peer, node);
                Vec::new()
            }
            None => self.make_room(),
        }
    }

    /// A message on `conn`. An unbound connection is bound to the message's
    /// signer only when the message verifies and is fresh (not a replay);
    /// its claimed src alone makes nobody a neighbour. Returns a
    /// connection to close (too many invalid messages).
    pub fn received<H: Hooks>(
        &mut self,
        conn: ConnId,
        message: Message,
        node: &mut Node<H>,
        unix_now: u64,
    ) -> Option<ConnId> {
        let c = self.conns.get(&conn).filter(|c| !c.closing)?;
        // Only a valid message takes its signature out of play for this
        // batch: a corrupted copy sent first (a forged src under a real
        // signature) must not make the real message look like a replay.
        let fresh = |peers: &Self| {
            !node.is_replay(&message, unix_now) && !peers.batch_sigs.contains(&message.sig)
        };
        let peer = match c.peer {
            Some(peer) => peer,
            None if fresh(self) && node.verify(&message, self.difficulty, unix_now).is_valid() => {
                self.batch_sigs.insert(message.sig);
                let src = message.src;
                if !self.bind(conn, src, node) {
                    return self.close(conn);
                }
                src
            }
            None => {
                // Counted by the engine, blaming no peer.
                node.receive_unattributed(message);
                return self.count_invalid(conn);
            }
        };
        node.receive_from(peer, message);
        None
    }

    /// Bytes on `conn` that are not a message.
    pub fn malformed(&mut self, conn: ConnId) -> Option<ConnId> {
        self.count_invalid(conn)
    }

    /// The engine dropped a message from `peer` as invalid or malformed:
    /// it counts against the connection that carries the peer.
    pub fn invalid_from(&mut self, peer: &Address) -> Option<ConnId> {
        let conn = *self.routes.get(peer)?;
        self.count_invalid(conn)
    }

    /// `conn` ended: a learned peer with no other connection is a
    /// neighbour no more.
    pub fn closed<H: Hooks>(&mut self, conn: ConnId, node: &mut Node<H>) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        let Some(peer) = c.peer else { return };
        if self.routes.get(&peer) != Some(&conn) {
            return;
        }
        let other = self
            .conns
            .iter()
            .find(|(_, c)| c.peer == Some(peer) && !c.closing)
            .map(|(id, _)| *id);
        match other {
            Some(id) => {
                self.routes.insert(peer, id);
            }
            None => {
                self.routes.remove(&peer);
                if self.learned.remove(&peer) {
                    node.remove_neighbour(&peer);
                }
            }
        }
    }

    /// The accepted connections that named no peer within the bind
    /// timeout, to close.
    pub fn sweep(&mut self, now: Instant) -> Vec<ConnId> {
        let late: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.accepted
                    && c.peer.is_none()
                    && !c.closing
                    && now.duration_since(c.opened) >= self.bind_timeout
            })
            .map(|(id, _)| *id)
            .collect();
        late.into_iter().filter_map(|id| self.close(id)).collect()
    }

    /// When [`Peers::sweep`] next has something to do.
    pub fn next_sweep(&self) -> Option<Instant> {
        self.conns
            .values()
            .filter(|c| c.accepted && c.peer.is_none() && !c.closing)
            .map(|c| c.opened + self.bind_timeout)
            .min()
    }

    /// The connection that carries `peer`'s messages.
    pub fn route(&self, peer: &Address) -> Option<ConnId> {
        self.routes.get(peer).copied()
    }

    /// The peers with a connection up.
    pub fn peers(&self) -> Vec<Address> {
        self.routes.keys().copied().collect()
    }

    /// The engine ran: replays are told from its own set again.
    pub fn end_batch(&mut self) {
        self.batch_sigs.clear();
    }

    /// `conn` now carries `peer`'s messages: a dialed peer is configured
    /// already, any other becomes a learned neighbour; either is asked
    /// about the followed topics. False when the peer cannot be a
    /// neighbour (a key boxes cannot be sealed to).
    fn bind<H: Hooks>(&mut self, conn: ConnId, peer: Address, node: &mut Node<H>) -> bool {
        if node.connection(&peer).is_none_or(|n| n.is_learned()) {
            if node.add_learned_neighbour(peer, self.difficulty).is_err() {
                return false;
            }
            self.learned.insert(peer);
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.peer = Some(peer);
        }
        self.routes.insert(peer, conn);
        node.sync_with(peer);
        true
    }

    fn count_invalid(&mut self, conn: ConnId) -> Option<ConnId> {
        let c = self.conns.get_mut(&conn)?;
        c.invalid += 1;
        if c.invalid >= MAX_INVALID {
            return self.close(conn);
        }
        None
    }

    /// Marks `conn` closing (what it still sends is ignored); returns it
    /// for the caller to close, unless it was closing already.
    fn close(&mut self, conn: ConnId) -> Option<ConnId> {
        let c = self.conns.get_mut(&conn).filter(|c| !c.closing)?;
        c.closing = true;
        Some(conn)
    }

    /// Past the bound on accepted connections, the oldest that names no
    /// peer is closed (the newest, when every other one is bound).
    fn make_room(&mut self) -> Vec<ConnId> {
        let mut closed = Vec::new();
        loop {
            let open = self
                .conns
                .values()
                .filter(|c| c.accepted && !c.closing)
                .count();
            if open <= self.max_connections {
                return closed;
            }
            let oldest = self
                .conns
                .iter()
                .filter(|(_, c)| c.accepted && c.peer.is_none() && !c.closing)
                .min_by_key(|(id, c)| (c.opened, **id))
                .map(|(id, _)| *id);
            match oldest.and_then(|id| self.close(id)) {
                Some(id) => closed.push(id),
                None => return closed,
            }
        }
    }
}
