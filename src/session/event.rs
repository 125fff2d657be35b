//! What a session takes in and gives out: connection ids, how a
//! connection was opened, why the session closes one, and its events.

use std::fmt;

use crate::error::KeyError;
use crate::keys::Address;

/// A connection, as the driver names it: unique among the connections the
/// driver has open (a counter is enough).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How a connection came up, and the message difficulty (leading zero
/// bits of proof of work) asked of what comes on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Opening {
    /// This side dialed `peer`: the connection carries its messages from
    /// the start.
    Dialed {
        /// The peer dialed.
        peer: Address,
        /// Message difficulty on this connection.
        difficulty: u32,
    },
    /// Accepted by a listener: nobody is known to be on it until a valid,
    /// fresh message comes. Counted against
    /// [`SessionConfig::max_connections`](super::SessionConfig) and closed
    /// when it names no peer within the bind timeout.
    Accepted {
        /// Message difficulty on this connection.
        difficulty: u32,
    },
    /// A connection the driver vouches for (a local pipe, say): it carries
    /// `peer`'s messages from the start, and the peer is treated as a
    /// configured neighbour (answered without the answer budget).
    Trusted {
        /// The peer on it.
        peer: Address,
        /// Message difficulty on this connection.
        difficulty: u32,
    },
    /// A local output: a link of the driver's own that only takes
    /// messages (stdout, a file, a fifo), carrying what `carries` says.
    /// It names no peer and is never timed out, closed, counted against
    /// [`SessionConfig::max_connections`](super::SessionConfig) or against
    /// the bound on all queues by the session; its peers get no send
    /// credit (the node seals what they are sent at once). With `holds`
    /// its queue takes whatever it is given: the driver holds its input
    /// back while the queue is past the driver's own bound (stdout, which
    /// never drops). Without it, past
    /// [`SessionConfig::send_queue`](super::SessionConfig) a message is
    /// [`Sent::Dropped`] (counted by the driver, no peer's).
    Output {
        /// Which messages it carries.
        carries: Carries,
        /// It never drops.
        holds: bool,
    },
    /// A local input (stdin, a file): messages from any signer, each
    /// verified by the engine as a message from its signer (at the
    /// difficulty of that neighbour, or the node's own for a stranger);
    /// answers to a stranger among them go to the output that carries
    /// [`Carries::Elsewhere`]. It names no peer and is never timed out or
    /// closed by the session, whatever it sends.
    Input,
}

/// Which messages a local output carries ([`Opening::Output`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Carries {
    /// One peer's (a file the driver writes that peer's messages to).
    Peer(Address),
    /// Those no connection carries for a peer the node knows another way
    /// to: a configured neighbour with no connection up, a signer heard
    /// on a local input ([`Opening::Input`]). Stdout, say.
    Elsewhere,
    /// Every message no connection carries, those for strangers the
    /// session knows no way to among them: the only link of a node with
    /// no network.
    All,
    /// No message: the driver writes its own payloads on it (deliveries,
    /// say, with [`Session::queue_local`](super::Session::queue_local)).
    Nothing,
}

/// Why the session closes a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Accepted, and no valid, fresh message came within the bind timeout.
    Unbound,
    /// Accepted and unbound, closed to make room for a newer connection
    /// past [`SessionConfig::max_connections`](super::SessionConfig).
    Evicted,
    /// It sent [`SessionConfig::max_invalid`](super::SessionConfig) invalid
    /// messages (failed verification, malformed, or a replay while unbound).
    Invalid,
    /// No message came within the idle timeout of the last one.
    Idle,
    /// The peer that signed its first message cannot be a neighbour (no box
    /// can be sealed to its key).
    Unsealable(KeyError),
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unbound => f.write_str("no valid message within the bind timeout"),
            Self::Evicted => f.write_str("unbound, to make room for a newer connection"),
            Self::Invalid => f.write_str("too many invalid messages"),
            Self::Idle => f.write_str("no whole message within the idle timeout"),
            Self::Unsealable(e) => write!(f, "its peer cannot be a neighbour: {e}"),
        }
    }
}

/// One thing for the driver to do, or to know.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// Write this wire frame (4-byte big-endian length, then the packed
    /// message) on `conn`. Its bytes count against the connection's send
    /// queue until the driver reports them written
    /// ([`Session::drained`](super::Session::drained)).
    Send {
        /// The connection.
        conn: ConnId,
        /// The frame.
        frame: Vec<u8>,
    },
    /// Close `conn`. What it still sends is ignored; report its end with
    /// [`Session::closed`](super::Session::closed).
    Close {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// `conn` carries `peer`'s messages from now on: dialed, trusted, or
    /// learned from the first valid, fresh message on it.
    PeerIdentified {
        /// The connection.
        conn: ConnId,
        /// The peer.
        peer: Address,
    },
    /// The last connection to `peer` ended; a learned peer is no longer a
    /// neighbour.
    PeerGone {
        /// The peer.
        peer: Address,
    },
}

/// What became of a message for a peer ([`Session::send`](super::Session::send)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sent {
    /// Queued as a [`SessionEvent::Send`] on a connection.
    Queued,
    /// Dropped and counted against the peer: its queue or the bound on all
    /// queues is full, or a peer this side dials is not connected now (it
    /// catches up by sync).
    Dropped,
    /// The peer's link is full: the bulletin is owed to it and forwarded
    /// again once the link has room ([`Session::repair`](super::Session::repair)).
    Deferred,
    /// The session knows no way to the peer: a stranger never heard on a
    /// connection. Nothing is queued.
    Unreachable,
    /// Not the session's to carry, and no local output carries it: the
    /// peer is a configured neighbour it holds no connection to, or was
    /// last heard on a local input or outside the session
    /// ([`Session::heard_elsewhere`](super::Session::heard_elsewhere)).
    Elsewhere,
}

/// What [`Session::repair`](super::Session::repair) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Repaired {
    /// Whether anything was queued in the node (run it, then send).
    pub queued: bool,
    /// Owed bulletins dropped: their peer left, or they expired meanwhile.
    pub lost: u64,
}

/// Counters for one peer, over all its connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Connections open to it now.
    pub connected: u64,
    /// Messages queued to it.
    pub sent: u64,
    /// Messages received from it.
    pub received: u64,
    /// Messages for it that were dropped: its queue was full, it was not
    /// connected, or it did not take them before the connection ended.
    pub dropped: u64,
    /// When it last connected or sent a message.
    pub last_seen: Option<crate::Timestamp>,
}
