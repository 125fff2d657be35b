//! Gossip over the network: a [`Gossip`] handle on tokio, for applications.
//!
//! Behind the `net` feature (on by default). A handle owns a [`Node`]
//! and drives it: it listens and dials over TCP (`HOST:PORT`) or
//! Unix-domain sockets (`unix:PATH`), both behind one small
//! [`Transport`] trait, carries the engine's messages as wire frames (a
//! 4-byte big-endian length, then the packed message, as
//! `docs/protocol.md` and netcat users know them), runs the engine's
//! timers, and hands each topic's delivered bulletins to its
//! [`Subscription`]s.
//!
//! - **Who is a peer.** A dialed connection carries the peer it was dialed
//!   for. A connection accepted by a listener names nobody until a message
//!   on it verifies (signature, destination, freshness, proof of work) and
//!   is not a replay; its signer is then a peer. A message's claimed `src`
//!   alone never makes a neighbour. Each new peer is synced with (asked
//!   about every followed topic).
//! - **Bounds, in bytes.** A frame longer than [`Builder::max_frame`] is
//!   refused from its length prefix and ends its connection; every frame
//!   being read or waiting for the engine is charged to
//!   [`Builder::in_flight`], shared by all connections, from its length
//!   prefix on (past it no body is read); sends are queued within
//!   [`Builder::send_queue`] per connection and [`Builder::send_total`]
//!   in all; at most [`Builder::max_connections`] accepted connections.
//! - **Shutdown.** [`Gossip::shutdown`] stops reading, accepting and
//!   dialing, writes what is queued until [`Builder::shutdown_deadline`],
//!   then drops every connection.
//!
//! `docs/networking.md` says more: addresses, every bound, what is verified
//! when.
//!
//! # A two-process chat
//!
//! Run it as `chat listen 127.0.0.1:7000` in one terminal; it prints its
//! address. Then `chat connect ADDRESS 127.0.0.1:7000` in another. Each
//! line typed is published on "chat"; each line delivered is printed. It
//! needs `gossip` and `tokio` with the `rt-multi-thread`, `macros`,
//! `io-std` and `io-util` features.
//!
//! ```no_run
//! use gossip::net::{Gossip, NetAddr};
//! use gossip::{Address, Identity, Seed, topic_id};
//! use tokio::io::{AsyncBufReadExt, BufReader};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let args: Vec<String> = std::env::args().skip(1).collect();
//!     let builder = Gossip::builder(Identity::from_seed(&Seed::generate()));
//!     let builder = match args.as_slice() {
//!         [cmd, at] if cmd == "listen" => builder.listen(at.parse()?),
//!         [cmd, peer, at] if cmd == "connect" => {
//!             builder.connect(peer.parse::<Address>()?, at.parse::<NetAddr>()?)
//!         }
//!         _ => return Err("usage: chat listen HOST:PORT | chat connect ADDRESS HOST:PORT".into()),
//!     };
//!     let chat = builder.spawn().await?;
//!     eprintln!("my address: {}", chat.address());
//!
//!     let mut heard = chat.subscribe(topic_id(b"chat")).await?;
//!     let mut lines = BufReader::new(tokio::io::stdin()).lines();
//!     loop {
//!         tokio::select! {
//!             line = lines.next_line() => match line? {
//!                 Some(line) => { chat.publish(topic_id(b"chat"), line).await?; }
//!                 None => break,
//!             },
//!             Some(b) = heard.recv() => println!("{}", String::from_utf8_lossy(&b.content)),
//!         }
//!     }
//!     chat.shutdown().await?;
//!     Ok(())
//! }
//! ```
//!
//! [`Node`]: crate::Node

mod addr;
mod conn;
mod dial;
mod driver;
mod endpoint;
mod error;
mod handle;
mod listen;
mod local;
mod metrics;
mod network;
mod notice_log;
#[cfg(unix)]
mod output;
mod transport;

use std::time::Duration;

pub use addr::NetAddr;
pub use conn::{Charge, Ended, Frame};
pub use driver::{Driver, Flow, Host, Step};
pub use endpoint::{Closed, ConnEvent, Dial, Endpoint};
pub use error::NetError;
pub use handle::{
    Builder, DEFAULT_BIND_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_IN_FLIGHT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_FRAME, DEFAULT_SEND_QUEUE, DEFAULT_SEND_TOTAL,
    DEFAULT_SHUTDOWN_DEADLINE, DEFAULT_SUBSCRIPTION_CAPACITY, Gossip, Subscription,
};
pub use local::Unwritten;
pub use metrics::{NetCounters, prometheus, status_line};
pub use network::{Disconnect, LocalOutput, Network, Notice, Retargeted};
pub use notice_log::NoticeLog;
#[cfg(unix)]
pub use output::BLOCKING_WRITE;
#[cfg(unix)]
pub use transport::Unix;
pub use transport::{Tcp, Transport};

/// The bounds a handle or an [`Endpoint`] runs within. Start from
/// `Limits::default()` and change what you need; [`Endpoint::new`] and
/// [`Builder::spawn`] check them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Largest message taken from a peer, bytes (a wire frame's length, or
    /// what a JSON line may carry); a longer one closes the connection.
    pub max_frame: usize,
    /// Bytes queued to send on one connection.
    pub send_queue: usize,
    /// Bytes queued to send on all connections together.
    pub send_total: usize,
    /// Bytes of messages being read or not yet handled, all connections
    /// together.
    pub in_flight: usize,
    /// Accepted connections kept at once.
    pub max_connections: usize,
    /// How long an accepted connection may go without a verified message.
    pub bind_timeout: Duration,
    /// How long a connection may go without a whole message.
    pub idle_timeout: Duration,
    /// How long shutdown waits for queued frames to go out.
    pub shutdown_deadline: Duration,
}

impl Limits {
    /// Whether the bounds hold together; the error says which does not.
    pub fn check(&self) -> Result<(), NetError> {
        let bad = |why: &str| Err(NetError::Config(why.to_string()));
        if self.max_frame == 0 || self.max_frame > crate::codec::MAX_OBJECT {
            return bad("max_frame must be in 1..=64 MiB");
        }
        if self.in_flight < self.max_frame || u32::try_from(self.in_flight).is_err() {
            return bad("in_flight must hold one largest frame, and be under 4 GiB");
        }
        if self.send_queue == 0 || self.send_total < self.send_queue {
            return bad("send_queue must be at least 1 and send_total at least send_queue");
        }
        if self.max_connections == 0 {
            return bad("max_connections must be at least 1");
        }
        Ok(())
    }

    /// The session's bounds, from these.
    pub fn session_config(&self) -> crate::session::SessionConfig {
        crate::session::SessionConfig {
            max_connections: self.max_connections,
            bind_timeout: self.bind_timeout,
            idle_timeout: Some(self.idle_timeout),
            send_queue: self.send_queue,
            send_total: self.send_total,
            ..crate::session::SessionConfig::default()
        }
    }
}
