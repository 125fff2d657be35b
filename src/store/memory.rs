//! An in-memory bulletin store: nothing survives the process.

use std::collections::{BTreeSet, HashMap};

use super::{BulletinStore, StoreError};
use crate::bulletin::Bulletin;
use crate::ids::{Id, Key};

/// Bulletins and delivery marks in hash maps. The seen set lives in the
/// node, so this store does not keep one.
/// Default cap on the bytes a [`MemoryStore`] holds (64 MiB).
pub const DEFAULT_MEMORY_STORE_BYTES: usize = 64 << 20;

/// Bytes an entry is charged: its packed size plus map overhead.
fn charge(b: &Bulletin) -> usize {
    crate::bulletin::HEADER_LEN + b.content.len() + 96
}

/// Bulletins in memory, bounded in bytes: when full, the bulletins that
/// expire first make room (their dedup lives on in the node's seen set).
#[derive(Clone, Debug)]
pub struct MemoryStore {
    bulletins: HashMap<Key, Bulletin>,
    by_expiry: BTreeSet<(u64, Key)>,
    delivered: HashMap<Key, u64>,
    /// The topics each content id is held under.
    topics_of: HashMap<Id, BTreeSet<Id>>,
    bytes: usize,
    max_bytes: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_MEMORY_STORE_BYTES)
    }
}

impl MemoryStore {
    /// An empty store with the default cap.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store holding at most about `max_bytes` of bulletins.
    pub fn with_capacity(max_bytes: usize) -> Self {
        Self {
            bulletins: HashMap::new(),
            by_expiry: BTreeSet::new(),
            delivered: HashMap::new(),
            topics_of: HashMap::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Bytes charged for the bulletins held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn remove(&mut self, expires: u64, id: &Key) {
        self.by_expiry.remove(&(expires, *id));
        if let Some(b) = self.bulletins.remove(id) {
            self.bytes -= charge(&b);
        }
        if let Some(topics) = self.topics_of.get_mut(&id.1) {
            topics.remove(&id.0);
            if topics.is_empty() {
                self.topics_of.remove(&id.1);
            }
        }
        self.delivered.remove(id);
    }
}

fn oldest_first(list: &mut [Bulletin]) {
    list.sort_by_key(|b| (b.ts, b.content_id, b.topic));
}

impl BulletinStore for MemoryStore {
    fn store(&mut self, bulletin: &Bulletin) -> Result<bool, StoreError> {
        if self.bulletins.contains_key(&bulletin.key()) {
            return Ok(false);
        }
        self.bytes += charge(bulletin);
        self.by_expiry
            .insert((super::seen_until(bulletin), bulletin.key()));
        self.bulletins.insert(bulletin.key(), bulletin.clone());
        self.topics_of
            .entry(bulletin.content_id)
            .or_default()
            .insert(bulletin.topic);
        while self.bytes > self.max_bytes {
            let Some(&(expires, id)) = self.by_expiry.first() else {
                break;
            };
            self.remove(expires, &id);
        }
        Ok(true)
    }

    fn retrieve(&self, key: &Key) -> Result<Option<Bulletin>, StoreError> {
        Ok(self.bulletins.get(key).cloned())
    }

    fn contains(&self, key: &Key) -> Result<bool, StoreError> {
        Ok(self.bulletins.contains_key(key))
    }

    fn with_content_id(&self, content_id: &Id, max: usize) -> Result<Vec<Bulletin>, StoreError> {
        let mut held: Vec<Bulletin> = self
            .topics_of
            .get(content_id)
            .into_iter()
            .flatten()
            .filter_map(|t| self.bulletins.get(&(*t, *content_id)).cloned())
            .collect();
        held.sort_by_key(|b| std::cmp::Reverse((b.ts, b.topic)));
        held.truncate(max);
        Ok(held)
    }

    fn list(&self) -> Result<Vec<Bulletin>, StoreError> {
        let mut all: Vec<Bulletin> = self.bulletins.values().cloned().collect();
        oldest_first(&mut all);
        Ok(all)
    }

    fn mark_delivered(&mut self, key: &Key, expires: u64) -> Result<bool, StoreError> {
        Ok(self.delivered.insert(*key, expires).is_none())
    }

    fn is_delivered(&self, key: &Key) -> Result<bool, StoreError> {
        Ok(self.delivered.contains_key(key))
    }

    fn remove_expired(&mut self, now: u64) -> Result<usize, StoreError> {
        let expired: Vec<(u64, Key)> = self
            .by_expiry
            .iter()
            .take_while(|(e, _)| *e <= now)
            .copied()
            .collect();
        for (expires, id) in &expired {
            self.remove(*expires, id);
        }
        self.delivered.retain(|_, expires| *expires > now);
        Ok(expired.len())
    }

    fn len(&self) -> Result<usize, StoreError> {
        Ok(self.bulletins.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Match, Query, seen_until};

    #[test]
    fn a_full_store_drops_what_expires_first() {
        let b = |i: u32| {
            Bulletin::new(
                [1; 32],
                [i.to_be_bytes().as_slice(), &[0; 96]].concat(),
                1000 + i,
            )
        };
        let mut s = MemoryStore::with_capacity(3 * charge(&b(0)));
        for i in 0..5 {
            assert!(s.store(&b(i)).unwrap());
        }
        assert_eq!(s.len().unwrap(), 3);
        assert!(s.bytes() <= 3 * charge(&b(0)));
        assert!(s.retrieve(&b(0).key()).unwrap().is_none());
        assert!(s.retrieve(&b(4).key()).unwrap().is_some());
    }

    #[test]
    fn stores_once_delivers_once_and_expires() {
        let mut s = MemoryStore::new();
        let b = Bulletin::new([1; 32], b"abc".to_vec(), 1000);
        let first = s.handle(&b, true).unwrap();
        assert!(first.new && first.deliver);
        let again = s.handle(&b, true).unwrap();
        assert!(!again.new && !again.deliver);
        assert_eq!(s.retrieve(&b.key()).unwrap(), Some(b.clone()));
        assert_eq!(s.list_topic(&[1; 32]).unwrap(), vec![b.content_id]);
        assert!(s.list_topic(&[2; 32]).unwrap().is_empty());
        let q = Query {
            content: Some(Match::Prefix(b"ab".to_vec())),
            ..Query::default()
        };
        assert_eq!(s.query(&q).unwrap().len(), 1);
        assert_eq!(s.remove_expired(seen_until(&b) - 1).unwrap(), 0);
        assert_eq!(s.remove_expired(seen_until(&b)).unwrap(), 1);
        assert!(s.is_empty().unwrap());
        assert!(!s.is_delivered(&b.key()).unwrap());
    }

    #[test]
    fn one_content_id_under_two_topics_newest_first() {
        let mut s = MemoryStore::new();
        let a = Bulletin::new([1; 32], b"same".to_vec(), 1000);
        let b = Bulletin::new([2; 32], b"same".to_vec(), 1001);
        assert!(s.store(&a).unwrap() && s.store(&b).unwrap());
        assert_eq!(
            s.with_content_id(&a.content_id, 9).unwrap(),
            vec![b.clone(), a.clone()]
        );
        assert_eq!(s.remove_expired(seen_until(&a)).unwrap(), 1);
        assert_eq!(
            s.with_content_id(&a.content_id, 9).unwrap(),
            vec![b.clone()]
        );
        assert_eq!(s.remove_expired(seen_until(&b)).unwrap(), 1);
        assert!(s.with_content_id(&a.content_id, 9).unwrap().is_empty());
        assert!(s.topics_of.is_empty());
    }
}
