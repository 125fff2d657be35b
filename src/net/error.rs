//! Why a networked handle could not do something.

use std::fmt;
use std::io;

use super::NetAddr;
use crate::error::KeyError;
use crate::node::NodeError;
use crate::store::StoreError;

/// Why a [`super::Gossip`] handle could not be built, or could not do
/// what it was asked.
#[derive(Debug)]
#[non_exhaustive]
pub enum NetError {
    /// An address is neither `HOST:PORT` nor `unix:PATH`.
    Address {
        /// The address as given.
        addr: String,
        /// What is wrong with it.
        why: String,
    },
    /// A listener could not be bound.
    Listen {
        /// Where.
        addr: NetAddr,
        /// The socket's error.
        source: io::Error,
    },
    /// A peer could not be dialed.
    Dial {
        /// Where.
        addr: NetAddr,
        /// Why it failed.
        why: String,
    },
    /// A setting is out of range (the message says which, and why).
    Config(String),
    /// A peer to dial has an address no box can be sealed to.
    Key(KeyError),
    /// The node engine failed (its store, or a hook); the handle stopped.
    Node(NodeError),
    /// The store failed while the handle was being built.
    Store(StoreError),
    /// The handle has shut down (or its engine stopped on an error, which
    /// [`super::Gossip::shutdown`] returns).
    Closed,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address { addr, why } => write!(f, "bad address {addr:?}: {why}"),
            Self::Listen { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Self::Dial { addr, why } => write!(f, "cannot connect to {addr}: {why}"),
            Self::Config(why) => write!(f, "bad network setting: {why}"),
            Self::Key(e) => write!(f, "bad peer address: {e}"),
            Self::Node(e) => write!(f, "node engine failed: {e}"),
            Self::Store(e) => write!(f, "store failed: {e}"),
            Self::Closed => f.write_str("the gossip handle has shut down"),
        }
    }
}

impl std::error::Error for NetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Listen { source, .. } => Some(source),
            Self::Key(e) => Some(e),
            Self::Node(e) => Some(e),
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<NodeError> for NetError {
    fn from(e: NodeError) -> Self {
        Self::Node(e)
    }
}

impl From<StoreError> for NetError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<KeyError> for NetError {
    fn from(e: KeyError) -> Self {
        Self::Key(e)
    }
}
