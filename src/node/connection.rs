//! A neighbour: a peer this node exchanges messages with directly.

use std::fmt;

use crate::crypto::PeerKey;
use crate::error::KeyError;
use crate::keys::Address;

/// A connection to a peer: the message difficulty asked of it and used
/// towards it, the peer's decoded keys (cached so forwarding does not
/// decode them each time), and whether it was configured or learned.
#[derive(Clone)]
pub struct Connection {
    peer: Address,
    difficulty: u32,
    send_difficulty: u32,
    learned: bool,
    key: PeerKey,
}

impl Connection {
    /// A configured connection to `peer` at `difficulty` leading zero bits
    /// both ways; fails when the address is not a key boxes can be sealed
    /// to.
    pub(crate) fn new(peer: Address, difficulty: u32) -> Result<Self, KeyError> {
        Ok(Self {
            peer,
            difficulty,
            send_difficulty: difficulty,
            learned: false,
            key: PeerKey::recipient(&peer)?,
        })
    }

    /// A connection learned from a peer that connected: `difficulty` is
    /// asked of it, `send_difficulty` used towards it, and its requests are
    /// answered within the answer budget, as a stranger's.
    pub(crate) fn learned(
        peer: Address,
        difficulty: u32,
        send_difficulty: u32,
    ) -> Result<Self, KeyError> {
        Ok(Self {
            send_difficulty,
            learned: true,
            ..Self::new(peer, difficulty)?
        })
    }

    /// Whether the connection was learned (answered within the budget)
    /// rather than configured.
    pub fn is_learned(&self) -> bool {
        self.learned
    }

    /// Message proof of work used on messages to the peer.
    pub fn send_difficulty(&self) -> u32 {
        self.send_difficulty
    }

    /// The peer's address.
    pub fn peer(&self) -> Address {
        self.peer
    }

    /// Message proof of work required of the peer's messages (and used
    /// towards it, unless learned).
    pub fn difficulty(&self) -> u32 {
        self.difficulty
    }

    /// The peer's decoded keys.
    pub fn key(&self) -> &PeerKey {
        &self.key
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .field("difficulty", &self.difficulty)
            .field("send_difficulty", &self.send_difficulty)
            .field("learned", &self.learned)
            .finish_non_exhaustive()
    }
}
