//! `gossip`: the library side of a gossip protocol toolkit.
//!
//! Nodes pass Ed25519-signed, sealed-box-encrypted [`Message`]s that carry
//! [`Bulletin`]s; a hashcash proof of work over [`tapehash::tapehash1`]
//! keeps spam out. Everything here is byte-compatible with the original
//! Python implementation (see `docs/protocol.md`). The library does no
//! I/O: time is an explicit `now` (seconds since the epoch), and the node
//! engine ([`Node`]) takes inputs in and gives [`Event`]s out, for the
//! caller to send and deliver.
//!
//! Ids are typed: a [`TopicId`] (SHA-256 of a topic descriptor,
//! [`topic_id`]) and a [`ContentId`] (SHA-256 of content, [`content_id`])
//! are distinct types, so one cannot stand in for the other, and a
//! bulletin is known by its [`BulletinKey`] (both). Each id is 32 bytes on
//! the wire and 64 lowercase hex digits in text.
//!
//! A message is made in the original's order, one type per state, and
//! only a signed, mined [`Message`] is ever sent:
//! `Message::to(dst).at(ts).body(b).encrypt(cipher)?.sign(&identity).hashcash(difficulty)?`
//! ([`UnsignedMessage`] → [`SignedMessage`] → [`Message`]). A
//! [`RawMessage`] is one as the wire carries it, in any state: what is
//! received, verified and inspected.
//!
//! The protocol's data types are here at the root; the public modules are
//! namespaces for the rest (wire codecs in [`codec`], verification in
//! [`verify`], stores in [`store`], mining in [`pow`], an append-only file
//! of delivered bulletins in [`delivery_log`]).
//! The `sqlite` feature (on by default) adds `store::SqliteStore`; the
//! `net` feature (on by default) adds `gossip::net`, a handle that runs a node
//! over TCP or Unix sockets on tokio (a two-process chat is in its docs);
//! the `simulation` feature adds `gossip::simulation`, a network of nodes
//! in one process; the `cli` feature (all of them) builds the `gossip`
//! command.
//!
//! # Two nodes in memory
//!
//! ```
//! use gossip::{Bulletin, Event, Identity, Node, NodeConfig, Seed, Timestamp, topic_id};
//!
//! let now = Timestamp::from_secs(1_764_000_000); // a real program passes Timestamp::now()
//! let chat = topic_id(b"chat");
//! let mut alice = Node::new(Identity::from_seed(&Seed::generate()), NodeConfig::default());
//! let mut bob = Node::new(Identity::from_seed(&Seed::generate()), NodeConfig::default());
//! alice.add_neighbour(bob.address(), 1)?;
//! bob.add_neighbour(alice.address(), 1)?;
//! bob.subscribe(chat);
//!
//! // Publish: made, mined to the node's bulletin difficulty (the
//! // original's `hashcash()`) and handed in, in one call.
//! alice.publish_new(chat, b"hello, bob".to_vec(), now)?;
//! alice.run_until_idle_parallel(now)?;
//!
//! // Alice's events say what to send; the caller carries it to Bob.
//! for event in alice.drain_events() {
//!     if let Event::Send(out) = event {
//!         bob.receive(out.message);
//!     }
//! }
//! bob.run_until_idle_parallel(now)?;
//! let delivered: Vec<Bulletin> = bob
//!     .drain_events()
//!     .filter_map(|e| match e {
//!         Event::Deliver(b) => Some(b),
//!         _ => None,
//!     })
//!     .collect();
//! assert_eq!(delivered[0].content, b"hello, bob");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// The library never prints and never exits: it returns values and events
// to its caller.
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

// The protocol's data types live in private modules and are re-exported
// below (libp2p-gossipsub's shape): a user names `gossip::Bulletin`, not
// the file it is in. The public modules are namespaces a user reaches
// into for more than one or two items.
mod bulletin;
pub mod codec;
pub mod crypto;
pub mod delivery_log;
mod error;
mod ids;
mod keys;
mod message;
#[cfg(feature = "net")]
pub mod net;
pub mod node;
mod operation;
pub mod pow;
pub mod session;
#[cfg(feature = "simulation")]
pub mod simulation;
pub mod store;
pub mod tapehash;
mod time;
pub mod verify;

pub use bulletin::{Bulletin, CONTENT_TTL, HEADER_LEN as BULLETIN_HEADER_LEN};
pub use crypto::{Cipher, Identity, PeerKey};
pub use error::{CryptoError, DecodeError, KeyError};
pub use ids::{
    BEACON_DESCRIPTOR, BulletinKey, ContentHasher, ContentId, DELIVERY_CODE_LEN, ID_LEN,
    ParseIdError, TopicId, beacon_topic, content_id, inbox_topic, topic_id,
};
pub use keys::{Address, Seed, key_file_text, parse_key_file};
pub use message::{
    HEADER_LEN as MESSAGE_HEADER_LEN, MESSAGE_TTL, Message, RawMessage, SignedMessage,
    UnsignedMessage,
};
pub use node::{
    Acceptance, Counters, DefaultHooks, DropReason, Event, HookError, Hooks, Node, NodeConfig,
    NodeError, Outbound, Verified, prepare_message,
};
pub use operation::{Op, PackedContent, Payload};
pub use pow::{Difficulty, Unmineable};
pub use store::{
    BulletinStore, Bulletins, CodeBook, DeliveryJournal, MemoryStore, SeenLog, StoreError,
};
pub use time::Timestamp;
pub use verify::{Reason, Verdict};
