//! Events: what the engine gives its caller to do, drained with
//! [`super::Node::drain_events`]. The engine does no I/O: sending a message
//! and writing a delivery are the caller's.

use std::fmt;

use crate::bulletin::Bulletin;
use crate::ids::BulletinKey;
use crate::keys::Address;
use crate::message::Message;
use crate::operation::Op;
use crate::verify::Reason;

/// One thing for the caller to do, or to know.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Send this message to its peer.
    Send(Outbound),
    /// Deliver this bulletin (a followed topic, new here). With a store,
    /// confirm it with [`super::Node::confirm_delivered`] once written, so
    /// a crash before that delivers it again (see
    /// [`super::Node::pending_deliveries`]).
    Deliver(Bulletin),
    /// A bulletin was not forwarded to `peer`: it did not fit the peer's
    /// send credit ([`super::Node::set_send_credit`]), and nothing was
    /// sealed or mined for it. Give the key back to
    /// [`super::Node::forward_stored`] once the peer can take it.
    Deferred {
        /// The neighbour.
        peer: Address,
        /// The bulletin not forwarded.
        key: BulletinKey,
    },
    /// A received message was dropped (also counted in
    /// [`super::Counters`]).
    Dropped {
        /// The connection it came on, when known.
        from: Option<Address>,
        /// Why.
        reason: DropReason,
    },
    /// The delivery code was rotated on its schedule
    /// (`NodeConfig::rotate_every`) at `at`; the notice to neighbours is
    /// queued.
    DeliveryCodeRotated {
        /// When.
        at: crate::Timestamp,
    },
}

/// A message for a peer, sealed, signed and mined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    /// The peer (also `message.dst`).
    pub peer: Address,
    /// The operation inside the sealed body.
    pub op: Op,
    /// The key of the bulletin it carries, if it carries one: what a
    /// caller that could not send it can give back to
    /// [`super::Node::forward_stored`] later.
    pub bulletin: Option<BulletinKey>,
    /// The message, ready for the wire.
    pub message: Message,
}

/// Why a received message (or what it carried) was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// It failed verification.
    Invalid(Reason),
    /// Bytes that are not a message, or a payload that breaks its
    /// operation's convention (ragged sync ids, a forged notice).
    Malformed,
    /// Seen before: an exact replay of a message, or a bulletin (topic id,
    /// content id) or notice already taken.
    Duplicate,
    /// A respond_sync_headers that answers no request of this node's.
    Unsolicited,
    /// A routing-overlay operation (0x06..0x0a): parsed, not supported.
    Unsupported,
    /// A bound was reached: the inbound queue, a stranger's answer budget,
    /// the strangers' delivery codes recorded.
    OverCap,
    /// A [`super::Hooks`] method rejected it, for this reason
    /// ([`super::Acceptance::Reject`]).
    Refused(&'static str),
    /// A [`super::Hooks`] method ignored it ([`super::Acceptance::Ignore`]).
    Ignored,
}

impl DropReason {
    /// The reason's snake_case name, as the counters print it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Invalid(r) => r.name(),
            Self::Malformed => "malformed",
            Self::Duplicate => "duplicate",
            Self::Unsolicited => "unsolicited",
            Self::Unsupported => "unsupported",
            Self::OverCap => "over_cap",
            Self::Refused(_) => "refused",
            Self::Ignored => "ignored",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(r) => write!(f, "invalid: {r}"),
            Self::Refused(why) => write!(f, "refused: {why}"),
            other => f.write_str(other.name()),
        }
    }
}
