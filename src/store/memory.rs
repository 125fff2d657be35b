//! An in-memory bulletin store: nothing survives the process.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::{BulletinStore, DeliveryCode, StoreError, Stored, seen_until};
use crate::bulletin::Bulletin;
use crate::ids::{Id, Key};
use crate::keys::Address;

/// Default cap on the bytes a [`MemoryStore`] holds (64 MiB).
pub const DEFAULT_MEMORY_STORE_BYTES: usize = 64 << 20;

/// Bytes an entry is charged: its packed size plus map overhead.
fn charge(b: &Bulletin) -> usize {
    crate::bulletin::HEADER_LEN + b.content.len() + 96
}

/// Bytes a seen entry or a delivery mark is charged: a key, an expiry and
/// the overhead of two maps.
const MARK_CHARGE: usize = 160;

/// Bulletins, the seen set, delivery marks, pending deliveries and delivery
/// codes in memory, bounded in bytes: when full, the bulletins that expire
/// first make room (their dedup lives on in the node's seen set), and the
/// seen entries and delivery marks that expire first make room for newer
/// ones (each under a cap of its own of the same number of bytes, so the
/// store holds up to about three times `max_bytes` in all). It behaves as
/// a `SqliteStore` does (the conformance suite checks it), except that
/// nothing survives the process and no other process can leave it a
/// rotation request ([`BulletinStore::take_rotation_request`] is false).
#[derive(Clone, Debug)]
pub struct MemoryStore {
    bulletins: HashMap<Key, Bulletin>,
    by_expiry: BTreeSet<(u64, Key)>,
    /// Each topic's (ts, content id) pairs in order: the index
    /// [`BulletinStore::range_ids`] walks.
    by_topic: HashMap<Id, BTreeSet<(u32, Id)>>,
    /// The topics each content id is held under.
    topics_of: HashMap<Id, BTreeSet<Id>>,
    seen: Marks,
    delivered: Marks,
    /// Delivered bulletins whose delivery was not confirmed yet.
    pending: HashSet<Key>,
    /// Delivery codes by (not own, address): own codes first.
    codes: BTreeMap<(bool, Address), DeliveryCode>,
    bytes: usize,
    max_bytes: usize,
}

/// Keys with an expiry each, bounded in count: the ones expiring first
/// make room.
#[derive(Clone, Debug, Default)]
struct Marks {
    expires: HashMap<Key, u64>,
    by_expiry: BTreeSet<(u64, Key)>,
    max: usize,
}

impl Marks {
    fn new(max: usize) -> Self {
        Self {
            max,
            ..Self::default()
        }
    }

    /// Sets the key's expiry to `expires` or keeps a later one held; true
    /// when the key was not held.
    fn insert(&mut self, key: &Key, expires: u64) -> bool {
        let held = self.expires.get(key).copied();
        if held.is_some_and(|e| e >= expires) {
            return false;
        }
        if let Some(e) = held {
            self.by_expiry.remove(&(e, *key));
        }
        self.expires.insert(*key, expires);
        self.by_expiry.insert((expires, *key));
        while self.expires.len() > self.max {
            let Some((_, k)) = self.by_expiry.pop_first() else {
                break;
            };
            self.expires.remove(&k);
        }
        held.is_none()
    }

    /// Drops every mark expired at `now` (expiry ≤ now).
    fn remove_expired(&mut self, now: u64) {
        while let Some(&(e, k)) = self.by_expiry.first() {
            if e > now {
                break;
            }
            self.by_expiry.pop_first();
            self.expires.remove(&k);
        }
    }
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

    /// An empty store holding at most about `max_bytes` of bulletins (and
    /// as many bytes again each of seen entries and of delivery marks).
    pub fn with_capacity(max_bytes: usize) -> Self {
        Self {
            bulletins: HashMap::new(),
            by_expiry: BTreeSet::new(),
            by_topic: HashMap::new(),
            topics_of: HashMap::new(),
            seen: Marks::new(max_bytes / MARK_CHARGE),
            delivered: Marks::new(max_bytes / MARK_CHARGE),
            pending: HashSet::new(),
            codes: BTreeMap::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Bytes charged for the bulletins held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops a bulletin and what only it needs (its place in the indexes,
    /// a pending delivery); its seen entry and delivery mark stay until
    /// they expire, so it is neither taken nor delivered again.
    fn remove(&mut self, expires: u64, id: &Key) {
        self.by_expiry.remove(&(expires, *id));
        if let Some(b) = self.bulletins.remove(id) {
            self.bytes -= charge(&b);
            if let Some(ids) = self.by_topic.get_mut(&id.0) {
                ids.remove(&(b.ts, id.1));
                if ids.is_empty() {
                    self.by_topic.remove(&id.0);
                }
            }
        }
        if let Some(topics) = self.topics_of.get_mut(&id.1) {
            topics.remove(&id.0);
            if topics.is_empty() {
                self.topics_of.remove(&id.1);
            }
        }
        self.pending.remove(id);
    }
}

/// The smallest ts unexpired at `now` (ts + CONTENT_TTL > now); None when
/// no u32 ts is.
fn first_unexpired_ts(now: u64) -> Option<u32> {
    let ts = now
        .saturating_add(1)
        .saturating_sub(u64::from(crate::bulletin::CONTENT_TTL));
    u32::try_from(ts).ok()
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
            .insert((seen_until(bulletin), bulletin.key()));
        self.bulletins.insert(bulletin.key(), bulletin.clone());
        self.by_topic
            .entry(bulletin.topic)
            .or_default()
            .insert((bulletin.ts, bulletin.content_id));
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

    fn list_topic(&self, topic: &Id) -> Result<Vec<Id>, StoreError> {
        Ok(self
            .by_topic
            .get(topic)
            .into_iter()
            .flatten()
            .map(|(_, id)| *id)
            .collect())
    }

    fn unexpired_ids(&self, topic: &Id, now: u64, max: usize) -> Result<Vec<Id>, StoreError> {
        let (Some(ids), Some(first)) = (self.by_topic.get(topic), first_unexpired_ts(now)) else {
            return Ok(Vec::new());
        };
        let mut newest: Vec<Id> = ids
            .range((first, [0; 32])..)
            .rev()
            .take(max)
            .map(|(_, id)| *id)
            .collect();
        newest.reverse();
        Ok(newest)
    }

    fn range_ids(
        &self,
        topic: &Id,
        now: u64,
        after: Option<(u32, Id)>,
        max: usize,
    ) -> Result<Vec<(u32, Id)>, StoreError> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let (Some(ids), Some(first)) = (self.by_topic.get(topic), first_unexpired_ts(now)) else {
            return Ok(Vec::new());
        };
        let first = (first, [0; 32]);
        let start = match after {
            Some(after) if after >= first => Excluded(after),
            _ => Included(first),
        };
        Ok(ids.range((start, Unbounded)).take(max).copied().collect())
    }

    fn mark_seen(&mut self, key: &Key, expires: u64) -> Result<(), StoreError> {
        self.seen.insert(key, expires);
        Ok(())
    }

    fn seen(&self, now: u64) -> Result<Vec<(Key, u64)>, StoreError> {
        let mut out: Vec<(Key, u64)> = self
            .seen
            .expires
            .iter()
            .filter(|(_, e)| **e > now)
            .map(|(k, e)| (*k, *e))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    fn mark_delivered(&mut self, key: &Key, expires: u64) -> Result<bool, StoreError> {
        Ok(self.delivered.insert(key, expires))
    }

    fn is_delivered(&self, key: &Key) -> Result<bool, StoreError> {
        Ok(self.delivered.expires.contains_key(key))
    }

    fn handle(&mut self, bulletin: &Bulletin, deliver: bool) -> Result<Stored, StoreError> {
        let (key, expires) = (bulletin.key(), seen_until(bulletin));
        let new = self.store(bulletin)?;
        self.seen.insert(&key, expires);
        let deliver = deliver && self.delivered.insert(&key, expires);
        if deliver && self.bulletins.contains_key(&key) {
            self.pending.insert(key);
        }
        Ok(Stored { new, deliver })
    }

    fn confirm_delivered(&mut self, keys: &[Key]) -> Result<(), StoreError> {
        for key in keys {
            self.pending.remove(key);
        }
        Ok(())
    }

    fn pending_deliveries(&self) -> Result<Vec<Bulletin>, StoreError> {
        let mut out: Vec<Bulletin> = self
            .pending
            .iter()
            .filter_map(|k| self.bulletins.get(k).cloned())
            .collect();
        oldest_first(&mut out);
        Ok(out)
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
        self.seen.remove_expired(now);
        self.delivered.remove_expired(now);
        Ok(expired.len())
    }

    fn len(&self) -> Result<usize, StoreError> {
        Ok(self.bulletins.len())
    }

    fn delivery_codes(&self) -> Result<Vec<DeliveryCode>, StoreError> {
        // Own codes first, then peers', each by address.
        Ok(self.codes.values().copied().collect())
    }

    fn put_delivery_code(&mut self, code: &DeliveryCode) -> Result<(), StoreError> {
        self.codes.insert((!code.own, code.address), *code);
        Ok(())
    }

    fn take_rotation_request(&mut self) -> Result<bool, StoreError> {
        // Only another process leaves requests (in a store file); none can
        // reach this one.
        Ok(false)
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
        assert!(s.by_topic.is_empty());
    }
}
