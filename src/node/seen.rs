//! The seen set: bulletins (topic id, content id) a node has handled, each kept until its
//! bulletin expires, bounded in size.

use std::collections::{BTreeSet, HashMap};

use crate::ids::BulletinKey;

/// Default number of bulletin keys a seen set holds.
pub const DEFAULT_SEEN_CAPACITY: usize = 1_000_000;

/// Bulletin keys (topic id, content id) with an expiry. An id is seen while `now < expires`; when
/// full, the id that expires soonest makes room.
#[derive(Clone, Debug)]
pub(crate) struct SeenSet {
    expiry: HashMap<BulletinKey, u64>,
    by_expiry: BTreeSet<(u64, BulletinKey)>,
    capacity: usize,
}

impl Default for SeenSet {
    fn default() -> Self {
        Self::new(DEFAULT_SEEN_CAPACITY)
    }
}

impl SeenSet {
    /// An empty set holding at most `capacity` ids (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            expiry: HashMap::new(),
            by_expiry: BTreeSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records `id` as seen until `expires` (the later expiry wins).
    pub fn insert(&mut self, id: BulletinKey, expires: u64) {
        if let Some(&old) = self.expiry.get(&id) {
            if old >= expires {
                return;
            }
            self.by_expiry.remove(&(old, id));
        }
        self.expiry.insert(id, expires);
        self.by_expiry.insert((expires, id));
        while self.expiry.len() > self.capacity {
            match self.by_expiry.pop_first() {
                Some((_, gone)) => {
                    self.expiry.remove(&gone);
                }
                None => break,
            }
        }
    }

    /// Whether `id` is seen at `now`.
    pub fn contains(&self, id: &BulletinKey, now: u64) -> bool {
        self.expiry.get(id).is_some_and(|&e| now < e)
    }

    /// Forgets every id expired at `now`; returns how many went.
    pub fn purge(&mut self, now: u64) -> usize {
        let mut n = 0;
        while let Some(&(e, id)) = self.by_expiry.first() {
            if e > now {
                break;
            }
            self.by_expiry.pop_first();
            self.expiry.remove(&id);
            n += 1;
        }
        n
    }

    /// How many ids are held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.expiry.len()
    }

    /// Whether no id is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.expiry.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ContentId, TopicId};

    #[test]
    fn expires_and_stays_bounded() {
        let mut s = SeenSet::new(2);
        s.insert(
            BulletinKey::new(TopicId::from_bytes([0; 32]), ContentId::from_bytes([1; 32])),
            100,
        );
        s.insert(
            BulletinKey::new(TopicId::from_bytes([0; 32]), ContentId::from_bytes([2; 32])),
            200,
        );
        assert!(s.contains(
            &BulletinKey::new(TopicId::from_bytes([0; 32]), ContentId::from_bytes([1; 32])),
            99
        ));
        assert!(!s.contains(
            &BulletinKey::new(TopicId::from_bytes([0; 32]), ContentId::from_bytes([1; 32])),
            100
        ));
        s.insert(
            BulletinKey::new(TopicId::from_bytes([0; 32]), ContentId::from_bytes([3; 32])),
            300,
        );
        assert_eq!(s.len(), 2);
        assert!(
            !s.contains(
                &BulletinKey::new(TopicId::from_bytes([0; 32]), ContentId::from_bytes([1; 32])),
                0
            ),
            "the soonest to expire made room"
        );
        s.insert(
            BulletinKey::new(TopicId::from_bytes([0; 32]), ContentId::from_bytes([2; 32])),
            250,
        );
        assert!(s.contains(
            &BulletinKey::new(TopicId::from_bytes([0; 32]), ContentId::from_bytes([2; 32])),
            240
        ));
        assert_eq!(s.purge(250), 1);
        assert_eq!(s.len(), 1);
        assert_eq!(s.purge(1000), 1);
        assert!(s.is_empty());
    }
}
