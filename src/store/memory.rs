//! An in-memory bulletin store: nothing survives the process.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{
    BulletinStore, Bulletins, CodeBook, DeliveryCode, DeliveryJournal, SeenLog, StoreError, Stored,
    seen_until,
};
use crate::bulletin::Bulletin;
use crate::ids::{BulletinKey, ContentId, TopicId};
use crate::keys::Address;
use crate::time::Timestamp;

/// Default cap on the bytes a [`MemoryStore`] holds (64 MiB).
pub const DEFAULT_MEMORY_STORE_BYTES: usize = 64 << 20;

/// Bytes an entry is charged: its packed size plus map overhead.
fn charge(b: &Bulletin) -> usize {
    crate::bulletin::HEADER_LEN + b.content.len() + 96
}

/// Bytes a mark kept apart from the bulletins is charged: a key and an
/// expiry, in a hash map and in an ordered set, with their slack.
const MARK_CHARGE: usize = 256;

/// The share of `max_bytes` each kind of mark kept apart (seen entries,
/// delivery marks) may take: a sixteenth.
const MARKS_SHARE: usize = 16;

/// Bulletins, the seen set, delivery marks, pending deliveries and delivery
/// codes in memory, bounded in bytes.
///
/// A held bulletin's seen entry and delivery mark (and whether its
/// delivery is pending) live on its own entry, a few bytes each: a node
/// over this store keeps its seen set once, in the node, not a second time
/// here. Marks of keys not held, and marks that expire before their
/// bulletin, are kept apart, at most `max_bytes / 16` bytes of each kind
/// (256 bytes a mark), the ones that expire first making room. When the
/// bulletins pass `max_bytes`, the ones that expire first make room and
/// take their marks with them (their dedup lives on in the node's seen
/// set); a bulletin removed as expired leaves behind the marks that expire
/// later. Otherwise it behaves as a `SqliteStore` does (the conformance
/// suite checks it), except that nothing survives the process.
#[derive(Clone, Debug)]
pub struct MemoryStore {
    bulletins: HashMap<BulletinKey, Entry>,
    by_expiry: BTreeSet<(Timestamp, BulletinKey)>,
    /// Each topic's (ts, content id) pairs in order: the index
    /// [`Bulletins::range_ids`] walks.
    by_topic: HashMap<TopicId, BTreeSet<(u32, ContentId)>>,
    /// (content id, topic id) of every bulletin held: the topics each
    /// content id is held under.
    by_content: BTreeSet<(ContentId, TopicId)>,
    /// Seen entries not on a held bulletin's entry.
    seen: Marks,
    /// Delivery marks not on a held bulletin's entry.
    delivered: Marks,
    /// Delivery codes by (not own, address): own codes first.
    codes: BTreeMap<(bool, Address), DeliveryCode>,
    bytes: usize,
    max_bytes: usize,
}

/// A bulletin held, with the marks of its key that expire no sooner than
/// it does (so they leave with it).
#[derive(Clone, Debug)]
struct Entry {
    bulletin: Bulletin,
    /// Seen until then, if marked seen.
    seen: Option<Timestamp>,
    /// Delivery mark kept until then, if marked delivered.
    delivered: Option<Timestamp>,
    /// Delivered by [`BulletinStore::handle`] and not confirmed yet.
    pending: bool,
}

/// Keys with an expiry each, bounded in bytes ([`MARK_CHARGE`] a key):
/// the ones expiring first make room.
#[derive(Clone, Debug, Default)]
struct Marks {
    expires: HashMap<BulletinKey, Timestamp>,
    by_expiry: BTreeSet<(Timestamp, BulletinKey)>,
    max_bytes: usize,
}

impl Marks {
    fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            ..Self::default()
        }
    }

    fn contains(&self, key: &BulletinKey) -> bool {
        self.expires.contains_key(key)
    }

    /// Sets the key's expiry to `expires` or keeps a later one held; true
    /// when the key was not held.
    fn insert(&mut self, key: &BulletinKey, expires: Timestamp) -> bool {
        let held = self.expires.get(key).copied();
        if held.is_some_and(|e| e >= expires) {
            return false;
        }
        if let Some(e) = held {
            self.by_expiry.remove(&(e, *key));
        }
        self.expires.insert(*key, expires);
        self.by_expiry.insert((expires, *key));
        while self.expires.len() * MARK_CHARGE > self.max_bytes {
            let Some((_, k)) = self.by_expiry.pop_first() else {
                break;
            };
            self.expires.remove(&k);
        }
        held.is_none()
    }

    /// Removes the key's mark if it expires at `until` or later, and gives
    /// its expiry.
    fn take_from(&mut self, key: &BulletinKey, until: Timestamp) -> Option<Timestamp> {
        let e = self.expires.get(key).copied().filter(|&e| e >= until)?;
        self.expires.remove(key);
        self.by_expiry.remove(&(e, *key));
        Some(e)
    }

    /// Drops every mark expired at `now` (expiry ≤ now).
    fn remove_expired(&mut self, now: Timestamp) {
        while let Some(&(e, k)) = self.by_expiry.first() {
            if e > now {
                break;
            }
            self.by_expiry.pop_first();
            self.expires.remove(&k);
        }
    }
}

/// Marks a key until `expires`, a later expiry held winning: on its held
/// entry's `slot` (with the bulletin's own expiry, `until`) when it expires
/// no sooner than the bulletin, else `apart`. A key's mark is in one place
/// only. True when the key had no mark.
fn mark(
    slot: Option<(&mut Option<Timestamp>, Timestamp)>,
    apart: &mut Marks,
    key: &BulletinKey,
    expires: Timestamp,
) -> bool {
    match slot {
        Some((Some(held), _)) => {
            *held = (*held).max(expires);
            false
        }
        Some((slot, until)) if expires >= until => {
            *slot = Some(expires);
            apart.take_from(key, Timestamp::EPOCH).is_none()
        }
        _ => apart.insert(key, expires),
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
    /// a sixteenth of that each of the seen entries and of the delivery
    /// marks it keeps apart from them).
    pub fn with_capacity(max_bytes: usize) -> Self {
        Self {
            bulletins: HashMap::new(),
            by_expiry: BTreeSet::new(),
            by_topic: HashMap::new(),
            by_content: BTreeSet::new(),
            seen: Marks::new(max_bytes / MARKS_SHARE),
            delivered: Marks::new(max_bytes / MARKS_SHARE),
            codes: BTreeMap::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Bytes charged for the bulletins held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops a bulletin and its place in the indexes; gives its entry.
    fn remove(&mut self, expires: Timestamp, id: &BulletinKey) -> Option<Entry> {
        self.by_expiry.remove(&(expires, *id));
        self.by_content.remove(&(id.content, id.topic));
        let entry = self.bulletins.remove(id)?;
        self.bytes -= charge(&entry.bulletin);
        if let Some(ids) = self.by_topic.get_mut(&id.topic) {
            ids.remove(&(entry.bulletin.ts, id.content));
            if ids.is_empty() {
                self.by_topic.remove(&id.topic);
            }
        }
        Some(entry)
    }

    /// Marks `key` seen (`delivered` false) or delivered until `expires`;
    /// true when it had no such mark.
    fn mark(&mut self, key: &BulletinKey, expires: Timestamp, delivered: bool) -> bool {
        let entry = self.bulletins.get_mut(key);
        let (slot, apart) = match (entry, delivered) {
            (Some(e), false) => (Some((&mut e.seen, seen_until(&e.bulletin))), &mut self.seen),
            (Some(e), true) => (
                Some((&mut e.delivered, seen_until(&e.bulletin))),
                &mut self.delivered,
            ),
            (None, false) => (None, &mut self.seen),
            (None, true) => (None, &mut self.delivered),
        };
        mark(slot, apart, key, expires)
    }
}

/// The smallest ts unexpired at `now` (ts + CONTENT_TTL > now); None when
/// no u32 ts is.
fn first_unexpired_ts(now: Timestamp) -> Option<u32> {
    let ts = now
        .as_secs()
        .saturating_add(1)
        .saturating_sub(u64::from(crate::bulletin::CONTENT_TTL));
    u32::try_from(ts).ok()
}

fn oldest_first(list: &mut [Bulletin]) {
    list.sort_by_key(|b| (b.ts, b.content_id, b.topic));
}

impl Bulletins for MemoryStore {
    fn store(&mut self, bulletin: &Bulletin) -> Result<bool, StoreError> {
        let key = bulletin.key();
        if self.bulletins.contains_key(&key) {
            return Ok(false);
        }
        let until = seen_until(bulletin);
        self.bytes += charge(bulletin);
        self.by_expiry.insert((until, key));
        self.by_topic
            .entry(bulletin.topic)
            .or_default()
            .insert((bulletin.ts, bulletin.content_id));
        self.by_content
            .insert((bulletin.content_id, bulletin.topic));
        let entry = Entry {
            bulletin: bulletin.clone(),
            seen: self.seen.take_from(&key, until),
            delivered: self.delivered.take_from(&key, until),
            pending: false,
        };
        self.bulletins.insert(key, entry);
        while self.bytes > self.max_bytes {
            let Some(&(expires, id)) = self.by_expiry.first() else {
                break;
            };
            self.remove(expires, &id);
        }
        Ok(true)
    }

    fn retrieve(&self, key: &BulletinKey) -> Result<Option<Bulletin>, StoreError> {
        Ok(self.bulletins.get(key).map(|e| e.bulletin.clone()))
    }

    fn contains(&self, key: &BulletinKey) -> Result<bool, StoreError> {
        Ok(self.bulletins.contains_key(key))
    }

    fn with_content_id(
        &self,
        content_id: &ContentId,
        max: usize,
    ) -> Result<Vec<Bulletin>, StoreError> {
        let mut held: Vec<Bulletin> = self
            .by_content
            .range(
                (*content_id, TopicId::from_bytes([0; 32]))
                    ..=(*content_id, TopicId::from_bytes([0xff; 32])),
            )
            .filter_map(|(id, topic)| self.bulletins.get(&BulletinKey::new(*topic, *id)))
            .map(|e| e.bulletin.clone())
            .collect();
        held.sort_by_key(|b| std::cmp::Reverse((b.ts, b.topic)));
        held.truncate(max);
        Ok(held)
    }

    fn list(&self) -> Result<Vec<Bulletin>, StoreError> {
        let mut all: Vec<Bulletin> = self
            .bulletins
            .values()
            .map(|e| e.bulletin.clone())
            .collect();
        oldest_first(&mut all);
        Ok(all)
    }

    fn list_topic(&self, topic: &TopicId) -> Result<Vec<ContentId>, StoreError> {
        Ok(self
            .by_topic
            .get(topic)
            .into_iter()
            .flatten()
            .map(|(_, id)| *id)
            .collect())
    }

    fn unexpired_ids(
        &self,
        topic: &TopicId,
        now: Timestamp,
        max: usize,
    ) -> Result<Vec<ContentId>, StoreError> {
        let (Some(ids), Some(first)) = (self.by_topic.get(topic), first_unexpired_ts(now)) else {
            return Ok(Vec::new());
        };
        let mut newest: Vec<ContentId> = ids
            .range((first, ContentId::from_bytes([0; 32]))..)
            .rev()
            .take(max)
            .map(|(_, id)| *id)
            .collect();
        newest.reverse();
        Ok(newest)
    }

    fn range_ids(
        &self,
        topic: &TopicId,
        now: Timestamp,
        after: Option<(u32, ContentId)>,
        max: usize,
    ) -> Result<Vec<(u32, ContentId)>, StoreError> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let (Some(ids), Some(first)) = (self.by_topic.get(topic), first_unexpired_ts(now)) else {
            return Ok(Vec::new());
        };
        let first = (first, ContentId::from_bytes([0; 32]));
        let start = match after {
            Some(after) if after >= first => Excluded(after),
            _ => Included(first),
        };
        Ok(ids.range((start, Unbounded)).take(max).copied().collect())
    }

    fn len(&self) -> Result<usize, StoreError> {
        Ok(self.bulletins.len())
    }
}

impl SeenLog for MemoryStore {
    fn mark_seen(&mut self, key: &BulletinKey, expires: Timestamp) -> Result<(), StoreError> {
        self.mark(key, expires, false);
        Ok(())
    }

    fn seen(&self, now: Timestamp) -> Result<Vec<(BulletinKey, Timestamp)>, StoreError> {
        let on_entries = self
            .bulletins
            .iter()
            .filter_map(|(k, e)| Some((*k, e.seen?)));
        let apart = self.seen.expires.iter().map(|(k, e)| (*k, *e));
        let mut out: Vec<(BulletinKey, Timestamp)> =
            on_entries.chain(apart).filter(|(_, e)| *e > now).collect();
        out.sort_unstable();
        Ok(out)
    }
}

impl DeliveryJournal for MemoryStore {
    fn mark_delivered(
        &mut self,
        key: &BulletinKey,
        expires: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self.mark(key, expires, true))
    }

    fn is_delivered(&self, key: &BulletinKey) -> Result<bool, StoreError> {
        Ok(self
            .bulletins
            .get(key)
            .is_some_and(|e| e.delivered.is_some())
            || self.delivered.contains(key))
    }

    fn confirm_delivered(&mut self, keys: &[BulletinKey]) -> Result<(), StoreError> {
        for key in keys {
            if let Some(e) = self.bulletins.get_mut(key) {
                e.pending = false;
            }
        }
        Ok(())
    }

    fn pending_deliveries(&self) -> Result<Vec<Bulletin>, StoreError> {
        let mut out: Vec<Bulletin> = self
            .bulletins
            .values()
            .filter(|e| e.pending)
            .map(|e| e.bulletin.clone())
            .collect();
        oldest_first(&mut out);
        Ok(out)
    }
}

impl CodeBook for MemoryStore {
    fn delivery_codes(&self) -> Result<Vec<DeliveryCode>, StoreError> {
        // Own codes first, then peers', each by address.
        Ok(self.codes.values().copied().collect())
    }

    fn put_delivery_code(&mut self, code: &DeliveryCode) -> Result<(), StoreError> {
        self.codes.insert((!code.own, code.address), *code);
        Ok(())
    }
}

impl BulletinStore for MemoryStore {
    fn handle(&mut self, bulletin: &Bulletin, deliver: bool) -> Result<Stored, StoreError> {
        let (key, expires) = (bulletin.key(), seen_until(bulletin));
        let new = self.store(bulletin)?;
        self.mark(&key, expires, false);
        let deliver = deliver && self.mark(&key, expires, true);
        if deliver && let Some(e) = self.bulletins.get_mut(&key) {
            e.pending = true;
        }
        Ok(Stored { new, deliver })
    }

    fn remove_expired(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        let expired: Vec<(Timestamp, BulletinKey)> = self
            .by_expiry
            .iter()
            .take_while(|(e, _)| *e <= now)
            .copied()
            .collect();
        for (expires, id) in &expired {
            let Some(entry) = self.remove(*expires, id) else {
                continue;
            };
            // Marks that outlive their bulletin stay, apart.
            if let Some(e) = entry.seen.filter(|&e| e > now) {
                self.seen.insert(id, e);
            }
            if let Some(e) = entry.delivered.filter(|&e| e > now) {
                self.delivered.insert(id, e);
            }
        }
        self.seen.remove_expired(now);
        self.delivered.remove_expired(now);
        Ok(expired.len())
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
                TopicId::from_bytes([1; 32]),
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
        let b = Bulletin::new(TopicId::from_bytes([1; 32]), b"abc".to_vec(), 1000);
        let first = s.handle(&b, true).unwrap();
        assert!(first.new && first.deliver);
        let again = s.handle(&b, true).unwrap();
        assert!(!again.new && !again.deliver);
        assert_eq!(s.retrieve(&b.key()).unwrap(), Some(b.clone()));
        assert_eq!(
            s.list_topic(&TopicId::from_bytes([1; 32])).unwrap(),
            vec![b.content_id]
        );
        assert!(
            s.list_topic(&TopicId::from_bytes([2; 32]))
                .unwrap()
                .is_empty()
        );
        let q = Query {
            content: Some(Match::Prefix(b"ab".to_vec())),
            ..Query::default()
        };
        assert_eq!(s.query(&q).unwrap().len(), 1);
        assert_eq!(
            s.remove_expired(seen_until(&b) - std::time::Duration::from_secs(1))
                .unwrap(),
            0
        );
        assert_eq!(s.remove_expired(seen_until(&b)).unwrap(), 1);
        assert!(s.is_empty().unwrap());
        assert!(!s.is_delivered(&b.key()).unwrap());
    }

    #[test]
    fn a_handled_bulletins_marks_live_on_its_entry() {
        let mut s = MemoryStore::new();
        for i in 0..100u32 {
            let b = Bulletin::new(
                TopicId::from_bytes([1; 32]),
                i.to_be_bytes().to_vec(),
                1000 + i,
            );
            assert!(s.handle(&b, true).unwrap().deliver);
        }
        assert_eq!(s.seen(Timestamp::from_secs(0)).unwrap().len(), 100);
        assert_eq!(s.pending_deliveries().unwrap().len(), 100);
        assert!(s.seen.expires.is_empty(), "no second seen set");
        assert!(s.delivered.expires.is_empty());
    }

    #[test]
    fn marks_kept_apart_are_bounded_in_bytes() {
        let mut s = MemoryStore::with_capacity(MARKS_SHARE * 10 * MARK_CHARGE);
        for i in 0..25u8 {
            s.mark_seen(
                &BulletinKey::new(TopicId::from_bytes([i; 32]), ContentId::from_bytes([i; 32])),
                Timestamp::from_secs(1000 + u64::from(i)),
            )
            .unwrap();
            s.mark_delivered(
                &BulletinKey::new(TopicId::from_bytes([i; 32]), ContentId::from_bytes([i; 32])),
                Timestamp::from_secs(1000 + u64::from(i)),
            )
            .unwrap();
        }
        let seen = s.seen(Timestamp::from_secs(0)).unwrap();
        assert_eq!(seen.len(), 10);
        assert_eq!(
            seen[0],
            (
                BulletinKey::new(
                    TopicId::from_bytes([15; 32]),
                    ContentId::from_bytes([15; 32])
                ),
                Timestamp::from_secs(1015)
            ),
            "the latest stay"
        );
        assert!(
            s.is_delivered(&BulletinKey::new(
                TopicId::from_bytes([24; 32]),
                ContentId::from_bytes([24; 32])
            ))
            .unwrap()
        );
        assert!(
            !s.is_delivered(&BulletinKey::new(
                TopicId::from_bytes([14; 32]),
                ContentId::from_bytes([14; 32])
            ))
            .unwrap()
        );
    }

    #[test]
    fn a_mark_moves_onto_its_bulletin_and_off_it_when_it_outlives_it() {
        let mut s = MemoryStore::new();
        let b = Bulletin::new(TopicId::from_bytes([1; 32]), b"abc".to_vec(), 1000);
        let (key, until) = (b.key(), seen_until(&b));
        assert!(
            s.mark_delivered(&key, until + std::time::Duration::from_secs(10))
                .unwrap()
        );
        s.mark_seen(&key, until - std::time::Duration::from_secs(10))
            .unwrap();
        assert!(s.store(&b).unwrap());
        assert!(s.delivered.expires.is_empty(), "on the entry now");
        assert_eq!(
            s.seen.expires.get(&key),
            Some(&(until - std::time::Duration::from_secs(10))),
            "expires first"
        );
        assert!(!s.mark_delivered(&key, until).unwrap());
        s.mark_seen(&key, until).unwrap();
        assert!(s.seen.expires.is_empty());
        assert_eq!(s.seen(Timestamp::from_secs(0)).unwrap(), vec![(key, until)]);
        assert_eq!(s.remove_expired(until).unwrap(), 1);
        assert!(s.seen(Timestamp::from_secs(0)).unwrap().is_empty());
        assert!(s.is_delivered(&key).unwrap(), "until + 10");
        assert_eq!(
            s.remove_expired(until + std::time::Duration::from_secs(10))
                .unwrap(),
            0
        );
        assert!(!s.is_delivered(&key).unwrap());
    }

    #[test]
    fn one_content_id_under_two_topics_newest_first() {
        let mut s = MemoryStore::new();
        let a = Bulletin::new(TopicId::from_bytes([1; 32]), b"same".to_vec(), 1000);
        let b = Bulletin::new(TopicId::from_bytes([2; 32]), b"same".to_vec(), 1001);
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
        assert!(s.by_content.is_empty());
        assert!(s.by_topic.is_empty());
    }
}
