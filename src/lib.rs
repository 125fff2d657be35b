//! `gossip`: the library side of a gossip protocol toolkit.
//!
//! Nodes pass Ed25519-signed, sealed-box-encrypted [`Message`]s that carry
//! [`Bulletin`]s; a hashcash proof of work over [`tapehash::tapehash1`]
//! keeps spam out. Everything here is byte-compatible with the original
//! Python implementation (see `docs/protocol.md`). The library does no
//! terminal I/O: time is an explicit `now`, and the node engine takes
//! messages in and gives actions out.

#![forbid(unsafe_code)]

pub mod bulletin;
pub mod codec;
pub mod crypto;
pub mod error;
pub mod ids;
pub mod keys;
pub mod message;
pub mod node;
pub mod operation;
pub mod pow;
pub mod simulation;
pub mod store;
pub mod tapehash;
pub mod verify;

pub use bulletin::Bulletin;
pub use error::DecodeError;
pub use keys::{Address, Seed};
pub use message::Message;
