//! Topic and content ids: SHA-256 of a descriptor or of content.

use sha2::{Digest, Sha256};

use crate::keys::Address;

/// The descriptor of the topic every node follows.
pub const BEACON_DESCRIPTOR: &[u8] = b"node beacon channel";

/// Length of a delivery code, the secret half of an inbox topic.
pub const DELIVERY_CODE_LEN: usize = 8;

/// A 32-byte topic or content id.
pub type Id = [u8; 32];

/// A bulletin's identity: (topic id, content id). The same content under
/// two topics is two bulletins; a re-stamped copy (same topic and content,
/// another ts or nonce) is the same one.
pub type Key = (Id, Id);

/// Topic id of a descriptor: SHA-256(descriptor).
pub fn topic_id(descriptor: &[u8]) -> Id {
    Sha256::digest(descriptor).into()
}

/// Content id: SHA-256(content).
pub fn content_id(content: &[u8]) -> Id {
    Sha256::digest(content).into()
}

/// The beacon topic: SHA-256(b"node beacon channel").
pub fn beacon_topic() -> Id {
    topic_id(BEACON_DESCRIPTOR)
}

/// A node's inbox topic: SHA-256(delivery_code ‖ address).
pub fn inbox_topic(delivery_code: &[u8; DELIVERY_CODE_LEN], address: &Address) -> Id {
    let mut h = Sha256::new();
    h.update(delivery_code);
    h.update(address.as_bytes());
    h.finalize().into()
}

/// Streams content through SHA-256 (for `content-id` on large files).
#[derive(Default)]
pub struct ContentHasher(Sha256);

impl ContentHasher {
    /// Feeds more content.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The content id of everything fed.
    pub fn finish(self) -> Id {
        self.0.finalize().into()
    }
}
