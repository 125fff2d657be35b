//! A neighbour: a peer this node exchanges messages with directly.

use std::fmt;

use crate::crypto::PeerKey;
use crate::error::KeyError;
use crate::keys::Address;

/// A connection to a peer: the message difficulty both ways and the peer's
/// decoded keys, cached so forwarding does not decode them each time.
#[derive(Clone)]
pub struct Connection {
    peer: Address,
    difficulty: u32,
    key: PeerKey,
}

impl Connection {
    /// A connection to `peer` at `difficulty` leading zero bits; fails when
    /// the address is not a key boxes can be sealed to.
    pub fn new(peer: Address, difficulty: u32) -> Result<Self, KeyError> {
        Ok(Self {
            peer,
            difficulty,
            key: PeerKey::recipient(&peer)?,
        })
    }

    /// The peer's address.
    pub fn peer(&self) -> Address {
        self.peer
    }

    /// Message proof of work required on this connection, both ways.
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
            .finish_non_exhaustive()
    }
}
