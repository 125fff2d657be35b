//! The delivery-code notice: how a node tells its neighbours its new inbox.
//!
//! A notice is a deliver_without_forward message whose bulletin is on the
//! beacon topic with content `b"delivery_code:"` ‖ address (32) ‖ new code
//! (8), 54 bytes. It is a proper bulletin (mined, content id checked), sealed
//! to each neighbour separately. The receiver takes it only when the address
//! is the message's authenticated src; it records that peer's inbox topic,
//! and neither stores, delivers nor forwards the notice (so the code is not
//! served to others by sync).

use crate::bulletin::Bulletin;
use crate::ids::{DELIVERY_CODE_LEN, TopicId, beacon_topic, inbox_topic};
use crate::keys::Address;

/// The prefix that marks a beacon bulletin as a delivery-code notice.
pub const NOTICE_PREFIX: &[u8] = b"delivery_code:";

/// Length of a notice's content.
pub const NOTICE_LEN: usize = NOTICE_PREFIX.len() + 32 + DELIVERY_CODE_LEN;

/// A delivery-code notice: who changed code, and the new code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The node whose code changed.
    pub address: Address,
    /// Its new delivery code.
    pub code: [u8; DELIVERY_CODE_LEN],
}

impl Notice {
    /// The notice's content: prefix ‖ address ‖ code.
    pub fn content(&self) -> Vec<u8> {
        [NOTICE_PREFIX, self.address.as_bytes(), &self.code].concat()
    }

    /// An unmined beacon bulletin carrying this notice.
    pub fn bulletin(&self, ts: u32) -> Bulletin {
        Bulletin::new(beacon_topic(), self.content(), ts)
    }

    /// The notice in a bulletin, if it is one (beacon topic, exact length
    /// and prefix).
    pub fn parse(bulletin: &Bulletin) -> Option<Self> {
        let c = &bulletin.content;
        if bulletin.topic != beacon_topic()
            || c.len() != NOTICE_LEN
            || !c.starts_with(NOTICE_PREFIX)
        {
            return None;
        }
        let rest = &c[NOTICE_PREFIX.len()..];
        let address = Address(rest[..32].try_into().ok()?);
        let code = rest[32..].try_into().ok()?;
        Some(Self { address, code })
    }

    /// The inbox topic the notice announces.
    pub fn inbox(&self) -> TopicId {
        inbox_topic(&self.code, &self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_lookalikes() {
        let n = Notice {
            address: Address([5; 32]),
            code: [9; 8],
        };
        let b = n.bulletin(100);
        assert_eq!(b.content.len(), NOTICE_LEN);
        assert_eq!(Notice::parse(&b), Some(n));
        let mut other_topic = b.clone();
        other_topic.topic = TopicId::from_bytes([0; 32]);
        assert_eq!(Notice::parse(&other_topic), None);
        let short = Bulletin::new(beacon_topic(), b"delivery_code:short".to_vec(), 100);
        assert_eq!(Notice::parse(&short), None);
    }
}
