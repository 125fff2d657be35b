//! The bulletin: topic id, content id, ts, nonce (a 72-byte header) and
//! content. Its proof of work is tapehash1 of the header.

use crate::error::DecodeError;
use crate::ids::{BulletinKey, ContentId, TopicId, content_id};
use crate::pow::Work;
use crate::time::Timestamp;

/// Length of the packed bulletin header.
pub const HEADER_LEN: usize = 72;

/// The largest packed bulletin: one that still fits, wrapped in a
/// store_and_forward payload and sealed, in the largest message, so every
/// bulletin a node takes can be sent on.
pub const MAX_BULLETIN: usize =
    crate::message::MAX_MESSAGE - crate::message::HEADER_LEN - 1 - crate::crypto::SEAL_OVERHEAD;

/// Seconds after its ts that a bulletin's content expires (content TTL).
pub const CONTENT_TTL: u32 = 3600;

/// A bulletin: content published under a topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bulletin {
    /// Topic id, SHA-256 of the topic descriptor.
    pub topic: TopicId,
    /// Content id; valid when it equals SHA-256(content).
    pub content_id: ContentId,
    /// Seconds since the epoch.
    pub ts: u32,
    /// Proof-of-work nonce.
    pub nonce: u32,
    /// The content.
    pub content: Vec<u8>,
}

impl Bulletin {
    /// A new, unmined bulletin (nonce 0) with the right content id.
    pub fn new(topic: TopicId, content: Vec<u8>, ts: u32) -> Self {
        Self {
            topic,
            content_id: content_id(&content),
            ts,
            nonce: 0,
            content,
        }
    }

    /// The 72-byte header: topic ‖ content id ‖ ts ‖ nonce.
    pub fn header(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..32].copy_from_slice(self.topic.as_bytes());
        h[32..64].copy_from_slice(self.content_id.as_bytes());
        h[64..68].copy_from_slice(&self.ts.to_be_bytes());
        h[68..72].copy_from_slice(&self.nonce.to_be_bytes());
        h
    }

    /// Header then content, as the original's `pack()`.
    pub fn pack(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.content.len());
        out.extend_from_slice(&self.header());
        out.extend_from_slice(&self.content);
        out
    }

    /// Reads packed bytes; everything after the header is content. More
    /// than [`MAX_BULLETIN`] bytes are refused.
    pub fn unpack(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_BULLETIN {
            return Err(DecodeError::Oversized {
                len: bytes.len() as u64,
                max: MAX_BULLETIN as u64,
            });
        }
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::Truncated {
                what: "bulletin",
                need: HEADER_LEN,
                got: bytes.len(),
            });
        }
        Ok(Self {
            topic: bytes[..32].try_into().expect("32 bytes"),
            content_id: bytes[32..64].try_into().expect("32 bytes"),
            ts: u32::from_be_bytes(bytes[64..68].try_into().expect("4 bytes")),
            nonce: u32::from_be_bytes(bytes[68..72].try_into().expect("4 bytes")),
            content: bytes[HEADER_LEN..].to_vec(),
        })
    }

    /// A bulletin stamped at `now`, its ts saturated below 2^31 so the
    /// original can read it ([`Timestamp::to_wire`]).
    pub fn at(topic: TopicId, content: Vec<u8>, now: Timestamp) -> Self {
        Self::new(topic, content, now.to_wire())
    }

    /// Mines this bulletin: sets its nonce so its proof of work reaches
    /// `difficulty` (the original's `hashcash()`), searching on all cores
    /// from a random start below 2^16 as the original does.
    pub fn hashcash(
        &mut self,
        difficulty: crate::pow::Difficulty,
    ) -> Result<(), crate::pow::Unmineable> {
        self.nonce = crate::pow::find_nonce(&self.work(), difficulty)?;
        Ok(())
    }

    /// The proof-of-work preimage: the header.
    pub fn work(&self) -> Work {
        Work::new(self.header().to_vec())
    }

    /// Whether the content id is SHA-256 of the content (the original never
    /// checks this).
    pub fn content_id_matches(&self) -> bool {
        content_id(&self.content) == self.content_id
    }

    /// The bulletin's identity: (topic id, content id).
    pub fn key(&self) -> BulletinKey {
        BulletinKey::new(self.topic, self.content_id)
    }

    /// Expired when `now >= ts + 3600`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now.as_secs() >= u64::from(self.ts) + u64::from(CONTENT_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_is_truncated_not_a_panic() {
        let err = Bulletin::unpack(&[0u8; 71]).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Truncated {
                what: "bulletin",
                need: 72,
                got: 71
            }
        );
    }

    #[test]
    fn expiry_boundary() {
        let b = Bulletin::new(TopicId::from_bytes([0; 32]), vec![], 1000);
        assert!(!b.is_expired(Timestamp::from_secs(1000 + 3599)));
        assert!(b.is_expired(Timestamp::from_secs(1000 + 3600)));
    }
}
