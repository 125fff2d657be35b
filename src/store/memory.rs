//! An in-memory bulletin store: nothing survives the process.

use std::collections::HashMap;

use super::{BulletinStore, StoreError};
use crate::bulletin::Bulletin;
use crate::ids::Id;

/// Bulletins and delivery marks in hash maps. The seen set lives in the
/// node, so this store does not keep one.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    bulletins: HashMap<Id, Bulletin>,
    delivered: HashMap<Id, u64>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn oldest_first(list: &mut [Bulletin]) {
    list.sort_by_key(|b| (b.ts, b.content_id));
}

impl BulletinStore for MemoryStore {
    fn store(&mut self, bulletin: &Bulletin) -> Result<bool, StoreError> {
        if self.bulletins.contains_key(&bulletin.content_id) {
            return Ok(false);
        }
        self.bulletins.insert(bulletin.content_id, bulletin.clone());
        Ok(true)
    }

    fn retrieve(&self, content_id: &Id) -> Result<Option<Bulletin>, StoreError> {
        Ok(self.bulletins.get(content_id).cloned())
    }

    fn contains(&self, content_id: &Id) -> Result<bool, StoreError> {
        Ok(self.bulletins.contains_key(content_id))
    }

    fn list(&self) -> Result<Vec<Bulletin>, StoreError> {
        let mut all: Vec<Bulletin> = self.bulletins.values().cloned().collect();
        oldest_first(&mut all);
        Ok(all)
    }

    fn mark_delivered(&mut self, content_id: &Id, expires: u64) -> Result<bool, StoreError> {
        Ok(self.delivered.insert(*content_id, expires).is_none())
    }

    fn is_delivered(&self, content_id: &Id) -> Result<bool, StoreError> {
        Ok(self.delivered.contains_key(content_id))
    }

    fn remove_expired(&mut self, now: u64) -> Result<usize, StoreError> {
        let before = self.bulletins.len();
        self.bulletins.retain(|_, b| !b.is_expired(now));
        self.delivered.retain(|_, expires| *expires > now);
        Ok(before - self.bulletins.len())
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
    fn stores_once_delivers_once_and_expires() {
        let mut s = MemoryStore::new();
        let b = Bulletin::new([1; 32], b"abc".to_vec(), 1000);
        let first = s.handle(&b, true).unwrap();
        assert!(first.new && first.deliver);
        let again = s.handle(&b, true).unwrap();
        assert!(!again.new && !again.deliver);
        assert_eq!(s.retrieve(&b.content_id).unwrap(), Some(b.clone()));
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
        assert!(!s.is_delivered(&b.content_id).unwrap());
    }
}
