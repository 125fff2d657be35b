//! Message bodies: an operation byte, then its payload.
//!
//! Payload conventions for the sync operations and the delivery-code notice
//! are this project's (the original leaves them open); `docs/protocol.md`
//! defines them.

use std::fmt;

use crate::bulletin::Bulletin;
use crate::error::DecodeError;
use crate::ids::{ContentId, TopicId};

/// The protocol's operations, by byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Op {
    /// 0x00: store the bulletin and forward it to peers.
    StoreAndForward = 0x00,
    /// 0x01: deliver the bulletin, do not forward it.
    DeliverWithoutForward = 0x01,
    /// 0x02: ask for the content ids held under a topic.
    RequestSyncHeaders = 0x02,
    /// 0x03: answer with the content ids held under a topic.
    RespondSyncHeaders = 0x03,
    /// 0x04: ask for content by id.
    RequestContent = 0x04,
    /// 0x05: serve a bulletin asked for.
    RespondContent = 0x05,
    /// 0x06: routing overlay (reserved).
    ElectSpanningTreeRoot = 0x06,
    /// 0x07: routing overlay (reserved).
    RequestChildAddress = 0x07,
    /// 0x08: routing overlay (reserved).
    AssignChildAddress = 0x08,
    /// 0x09: routing overlay (reserved).
    RouteMessage = 0x09,
    /// 0x0a: routing overlay (reserved).
    RespondRouteError = 0x0a,
    /// 0x0b: set reconciliation (this project's extension, negotiated;
    /// never sent to a peer that has not advertised it, see
    /// `docs/protocol.md`).
    Reconcile = 0x0b,
    /// 0x0c: lazy announcement of content ids held (this project's
    /// dissemination extension, negotiated like 0x0b; see
    /// `docs/protocol.md`, "Dissemination").
    Announce = 0x0c,
    /// 0x0d: ask an announcer for content ids and make its link eager
    /// (dissemination extension).
    Graft = 0x0d,
    /// 0x0e: make the link lazy (dissemination extension).
    Prune = 0x0e,
}

impl Op {
    /// Every operation, in byte order.
    pub const ALL: [Op; 15] = [
        Op::StoreAndForward,
        Op::DeliverWithoutForward,
        Op::RequestSyncHeaders,
        Op::RespondSyncHeaders,
        Op::RequestContent,
        Op::RespondContent,
        Op::ElectSpanningTreeRoot,
        Op::RequestChildAddress,
        Op::AssignChildAddress,
        Op::RouteMessage,
        Op::RespondRouteError,
        Op::Reconcile,
        Op::Announce,
        Op::Graft,
        Op::Prune,
    ];

    /// The operation of a byte, if the protocol names one.
    pub fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.get(usize::from(b)).copied()
    }

    /// The original's snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Op::StoreAndForward => "store_and_forward",
            Op::DeliverWithoutForward => "deliver_without_forward",
            Op::RequestSyncHeaders => "request_sync_headers",
            Op::RespondSyncHeaders => "respond_sync_headers",
            Op::RequestContent => "request_content",
            Op::RespondContent => "respond_content",
            Op::ElectSpanningTreeRoot => "elect_spanning_tree_root",
            Op::RequestChildAddress => "request_child_address",
            Op::AssignChildAddress => "assign_child_address",
            Op::RouteMessage => "route_message",
            Op::RespondRouteError => "respond_route_error",
            Op::Reconcile => "reconcile",
            Op::Announce => "announce",
            Op::Graft => "graft",
            Op::Prune => "prune",
        }
    }

    /// The operation named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Whether this is one of the reserved routing-overlay operations.
    pub fn is_routing(self) -> bool {
        (0x06..=0x0a).contains(&(self as u8))
    }

    /// Whether this is an extension of this project's, which the original
    /// does not know (its classes raise on the byte): sent only to peers
    /// that advertised it.
    pub fn is_extension(self) -> bool {
        self as u8 >= 0x0b
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Packed content: content id (32) ‖ content bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedContent {
    /// The content id.
    pub id: ContentId,
    /// The content bytes (may be empty, e.g. a request by id only).
    pub content: Vec<u8>,
}

impl PackedContent {
    /// id ‖ content.
    pub fn pack(&self) -> Vec<u8> {
        [&self.id.as_bytes()[..], &self.content].concat()
    }

    /// Reads id ‖ content.
    pub fn unpack(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() < 32 {
            return Err(DecodeError::Truncated {
                what: "packed content",
                need: 32,
                got: bytes.len(),
            });
        }
        Ok(Self {
            id: bytes[..32].try_into().expect("32 bytes"),
            content: bytes[32..].to_vec(),
        })
    }
}

/// A decoded message body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// store_and_forward, deliver_without_forward, respond_content.
    Bulletin(Op, Bulletin),
    /// request_sync_headers / respond_sync_headers / reconcile: a topic and
    /// the bytes after it (for a request: optional packed content, which may
    /// carry an extension advertisement; for a response: the concatenated
    /// content ids held; for reconcile: a role byte and a negentropy
    /// message).
    Sync(Op, TopicId, Vec<u8>),
    /// request_content: packed content naming what is wanted.
    RequestContent(PackedContent),
    /// A routing-overlay operation: parsed, not supported.
    Routing(Op, Vec<u8>),
    /// announce / graft / prune (the dissemination extension): the bytes
    /// after the operation byte, read by the dissemination component.
    Tree(Op, Vec<u8>),
}

impl Payload {
    /// The operation.
    pub fn op(&self) -> Op {
        match self {
            Payload::Bulletin(op, _)
            | Payload::Sync(op, _, _)
            | Payload::Routing(op, _)
            | Payload::Tree(op, _) => *op,
            Payload::RequestContent(_) => Op::RequestContent,
        }
    }

    /// Operation byte ‖ payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.op() as u8];
        match self {
            Payload::Bulletin(_, b) => out.extend_from_slice(&b.pack()),
            Payload::Sync(_, topic, rest) => {
                out.extend_from_slice(topic.as_bytes());
                out.extend_from_slice(rest);
            }
            Payload::RequestContent(pc) => out.extend_from_slice(&pc.pack()),
            Payload::Routing(_, rest) | Payload::Tree(_, rest) => out.extend_from_slice(rest),
        }
        out
    }

    /// Reads an operation byte and its payload.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let (&first, rest) = body
            .split_first()
            .ok_or(DecodeError::Payload("empty body: no operation byte".into()))?;
        let op = Op::from_byte(first).ok_or(DecodeError::UnknownOperation(first))?;
        Ok(match op {
            Op::StoreAndForward | Op::DeliverWithoutForward | Op::RespondContent => {
                Payload::Bulletin(op, Bulletin::unpack(rest)?)
            }
            Op::RequestSyncHeaders | Op::RespondSyncHeaders | Op::Reconcile => {
                if rest.len() < 32 {
                    return Err(DecodeError::Truncated {
                        what: "sync payload",
                        need: 32,
                        got: rest.len(),
                    });
                }
                Payload::Sync(
                    op,
                    rest[..32].try_into().expect("32 bytes"),
                    rest[32..].to_vec(),
                )
            }
            Op::RequestContent => Payload::RequestContent(PackedContent::unpack(rest)?),
            Op::Announce | Op::Graft | Op::Prune => Payload::Tree(op, rest.to_vec()),
            _ => Payload::Routing(op, rest.to_vec()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_bytes_round_trip() {
        for op in Op::ALL {
            assert_eq!(Op::from_byte(op as u8), Some(op));
            assert_eq!(Op::from_name(op.name()), Some(op));
        }
        assert_eq!(Op::from_byte(0x0f), None);
    }

    #[test]
    fn payloads_round_trip() {
        let b = Bulletin::new(TopicId::from_bytes([3; 32]), b"x".to_vec(), 9);
        let cases = [
            Payload::Bulletin(Op::StoreAndForward, b.clone()),
            Payload::Bulletin(Op::RespondContent, b),
            Payload::Sync(Op::RequestSyncHeaders, TopicId::from_bytes([1; 32]), vec![]),
            Payload::Sync(
                Op::RespondSyncHeaders,
                TopicId::from_bytes([1; 32]),
                vec![2; 64],
            ),
            Payload::RequestContent(PackedContent {
                id: ContentId::from_bytes([4; 32]),
                content: vec![],
            }),
            Payload::Routing(Op::RouteMessage, vec![1, 2]),
            Payload::Sync(Op::Reconcile, TopicId::from_bytes([1; 32]), vec![1, 0x61]),
            Payload::Tree(Op::Announce, vec![7; 64]),
            Payload::Tree(Op::Graft, vec![]),
            Payload::Tree(Op::Prune, vec![]),
        ];
        for p in cases {
            assert_eq!(Payload::decode(&p.encode()).unwrap(), p);
        }
        assert_eq!(
            Payload::decode(&[0x0f]).unwrap_err(),
            DecodeError::UnknownOperation(0x0f)
        );
        assert!(Payload::decode(&[]).is_err());
        assert!(Payload::decode(&[0x02, 1]).is_err());
    }
}
