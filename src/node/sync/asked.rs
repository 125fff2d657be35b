//! The topic each peer last asked this node to sync: request_content names
//! only a content id, so when the id is held under several topics the
//! answer is the bulletin under this topic (see `FullList::serve`).

use std::collections::{HashMap, VecDeque};

use crate::ids::TopicId;
use crate::keys::Address;

/// Default number of peers remembered; past it the peer remembered first
/// is forgotten (its answers fall back to the newest bulletin).
pub const DEFAULT_SYNC_ASKED_PEERS: usize = 4096;

/// Peer → the topic of its last request_sync_headers, bounded in peers.
#[derive(Clone, Debug)]
pub(crate) struct SyncAsked {
    topics: HashMap<Address, TopicId>,
    order: VecDeque<Address>,
    capacity: usize,
}

impl Default for SyncAsked {
    fn default() -> Self {
        Self::new(DEFAULT_SYNC_ASKED_PEERS)
    }
}

impl SyncAsked {
    /// Remembers at most `capacity` peers (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            topics: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records that `peer` asked to sync `topic`.
    pub fn remember(&mut self, peer: Address, topic: TopicId) {
        if self.topics.insert(peer, topic).is_none() {
            self.order.push_back(peer);
        }
        while self.topics.len() > self.capacity {
            match self.order.pop_front() {
                Some(gone) => {
                    self.topics.remove(&gone);
                }
                None => break,
            }
        }
    }

    /// The topic `peer` last asked to sync, if remembered.
    pub fn topic(&self, peer: &Address) -> Option<TopicId> {
        self.topics.get(peer).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_topic_wins_and_stays_bounded() {
        let mut s = SyncAsked::new(2);
        let (a, b, c) = (Address([1; 32]), Address([2; 32]), Address([3; 32]));
        s.remember(a, TopicId::from_bytes([1; 32]));
        s.remember(a, TopicId::from_bytes([2; 32]));
        assert_eq!(s.topic(&a), Some(TopicId::from_bytes([2; 32])));
        s.remember(b, TopicId::from_bytes([3; 32]));
        s.remember(c, TopicId::from_bytes([4; 32]));
        assert_eq!(s.topic(&a), None, "the first remembered went");
        assert_eq!(s.topic(&c), Some(TopicId::from_bytes([4; 32])));
    }
}
