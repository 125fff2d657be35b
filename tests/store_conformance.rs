//! One conformance suite every `BulletinStore` passes: each case is a
//! generic function over a fresh store, grouped by the role it checks
//! (`Bulletins`, `SeenLog`, `DeliveryJournal`, `CodeBook`, and the
//! operations that span them), and `conformance!` runs every case against
//! `MemoryStore`, `SqliteStore` (in memory) and `Minimal`, a store that
//! implements only each role's required methods, so the roles' provided
//! methods pass the same cases as the backends' own.

use gossip::Address;
use gossip::Bulletin;
use gossip::Timestamp;
use gossip::store::{
    BulletinStore, Bulletins, CodeBook, DeliveryCode, DeliveryJournal, Match, MemoryStore, Query,
    SeenLog, SqliteStore, StoreError, Stored, seen_until,
};
use gossip::{BulletinKey, ContentId, TopicId};

/// The instant `secs` seconds after the epoch.
fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(secs)
}

/// Makes a fresh, empty store.
type NewStore = fn() -> Box<dyn BulletinStore>;

/// A bulletin under topic `[t; 32]` with this content and ts.
fn b(t: u8, content: &str, ts: u32) -> Bulletin {
    Bulletin::new(
        TopicId::from_bytes([t; 32]),
        content.as_bytes().to_vec(),
        ts,
    )
}

fn ids(list: &[Bulletin]) -> Vec<ContentId> {
    list.iter().map(|b| b.content_id).collect()
}

/// Bulletins sorted as stores list them: by ts, then content id, then topic.
fn sorted(mut list: Vec<Bulletin>) -> Vec<Bulletin> {
    list.sort_by_key(|b| (b.ts, b.content_id, b.topic));
    list
}

/// store, retrieve and contains, keyed by (topic id, content id): a
/// re-stamped copy is not new and does not replace the first.
fn store_retrieve_contains(new: NewStore) {
    let mut s = new();
    let a = b(1, "a", 1000);
    assert!(s.is_empty().unwrap());
    assert_eq!(s.retrieve(&a.key()).unwrap(), None);
    assert!(!s.contains(&a.key()).unwrap());
    assert!(s.store(&a).unwrap());
    assert!(!s.store(&a).unwrap(), "the same bulletin twice");
    let mut restamped = a.clone();
    restamped.ts += 5;
    restamped.nonce = 7;
    assert!(!s.store(&restamped).unwrap(), "a re-stamped copy");
    assert_eq!(s.retrieve(&a.key()).unwrap(), Some(a.clone()));
    assert!(s.contains(&a.key()).unwrap());
    assert!(
        !s.contains(&BulletinKey::new(
            TopicId::from_bytes([2; 32]),
            a.content_id
        ))
        .unwrap()
    );
    assert!(
        !s.contains(&BulletinKey::new(
            TopicId::from_bytes([1; 32]),
            ContentId::from_bytes([0; 32])
        ))
        .unwrap()
    );
    assert_eq!(s.len().unwrap(), 1);
    assert!(!s.is_empty().unwrap());
}

/// The same content under two topics is two bulletins: with_content_id
/// gives them newest first (ts, then topic id), at most `max`; expiring one
/// leaves the other.
fn same_content_two_topics(new: NewStore) {
    let mut s = new();
    let a = b(1, "same", 1000);
    let c = b(2, "same", 1001);
    let d = b(3, "same", 1001);
    for x in [&a, &c, &d] {
        assert!(s.store(x).unwrap());
    }
    assert_eq!(s.len().unwrap(), 3);
    assert_eq!(s.retrieve(&a.key()).unwrap(), Some(a.clone()));
    assert_eq!(s.retrieve(&c.key()).unwrap(), Some(c.clone()));
    let all = vec![d.clone(), c.clone(), a.clone()];
    assert_eq!(s.with_content_id(&a.content_id, 9).unwrap(), all);
    assert_eq!(s.with_content_id(&a.content_id, 2).unwrap(), all[..2]);
    assert!(s.with_content_id(&a.content_id, 0).unwrap().is_empty());
    assert!(
        s.with_content_id(&ContentId::from_bytes([0; 32]), 9)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.list_topic(&TopicId::from_bytes([1; 32])).unwrap(),
        vec![a.content_id]
    );
    assert_eq!(
        s.list_topic(&TopicId::from_bytes([2; 32])).unwrap(),
        vec![a.content_id]
    );
    assert_eq!(s.remove_expired(seen_until(&a)).unwrap(), 1);
    assert_eq!(s.with_content_id(&a.content_id, 9).unwrap(), all[..2]);
    assert!(
        s.list_topic(&TopicId::from_bytes([1; 32]))
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.remove_expired(seen_until(&c)).unwrap(), 2);
    assert!(s.with_content_id(&a.content_id, 9).unwrap().is_empty());
    assert!(s.is_empty().unwrap());
}

/// list, list_topic and query are oldest first: by ts, then content id,
/// then topic id, whatever the order they were stored in.
fn listing_order(new: NewStore) {
    let mut s = new();
    let held = vec![
        b(1, "late", 1005),
        b(2, "x", 1000),
        b(1, "x", 1000),
        b(1, "y", 1000),
        b(1, "early", 999),
        b(2, "hello world", 1003),
    ];
    for x in &held {
        assert!(s.store(x).unwrap());
    }
    let all = sorted(held.clone());
    assert_eq!(s.list().unwrap(), all);
    assert_eq!(s.query(&Query::default()).unwrap(), all);
    let topic1: Vec<Bulletin> = all
        .iter()
        .filter(|x| x.topic == TopicId::from_bytes([1; 32]))
        .cloned()
        .collect();
    assert_eq!(
        s.list_topic(&TopicId::from_bytes([1; 32])).unwrap(),
        ids(&topic1)
    );
    assert!(
        s.list_topic(&TopicId::from_bytes([9; 32]))
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.len().unwrap(), held.len());
}

/// query: exact, prefix and suffix on each field; every condition must
/// hold; an empty pattern matches all.
fn queries(new: NewStore) {
    let mut s = new();
    let held = vec![
        b(1, "hello world", 1000),
        b(1, "goodbye world", 1001),
        b(2, "hello there", 1002),
        b(2, "", 1003),
    ];
    for x in &held {
        s.store(x).unwrap();
    }
    let q = |topic, content_id, content| Query {
        topic,
        content_id,
        content,
    };
    let cases = [
        (q(None, None, Some(Match::Exact(b"hello".to_vec()))), vec![]),
        (
            q(None, None, Some(Match::Prefix(b"hello".to_vec()))),
            vec![0, 2],
        ),
        (
            q(None, None, Some(Match::Suffix(b"world".to_vec()))),
            vec![0, 1],
        ),
        (
            q(None, None, Some(Match::Prefix(Vec::new()))),
            vec![0, 1, 2, 3],
        ),
        (q(None, None, Some(Match::Exact(Vec::new()))), vec![3]),
        (q(Some(Match::Exact(vec![2; 32])), None, None), vec![2, 3]),
        (q(Some(Match::Prefix(vec![2, 2])), None, None), vec![2, 3]),
        (
            q(
                None,
                Some(Match::Prefix(held[2].content_id.as_bytes()[..4].to_vec())),
                None,
            ),
            vec![2],
        ),
        (
            q(
                None,
                Some(Match::Suffix(held[1].content_id.as_bytes()[28..].to_vec())),
                None,
            ),
            vec![1],
        ),
        (
            q(
                Some(Match::Exact(vec![1; 32])),
                None,
                Some(Match::Prefix(b"hello".to_vec())),
            ),
            vec![0],
        ),
    ];
    for (query, expected) in cases {
        let expected: Vec<Bulletin> = expected.iter().map(|&i| held[i].clone()).collect();
        assert_eq!(s.query(&query).unwrap(), expected, "{query:?}");
    }
}

/// unexpired_ids: the newest `max` unexpired ids of a topic, oldest first;
/// a bulletin of ts expires at ts + 3600 exactly.
fn unexpired_ids(new: NewStore) {
    let mut s = new();
    let held = vec![
        b(1, "a", 1000),
        b(1, "b", 1001),
        b(1, "c", 1001),
        b(1, "d", 1002),
        b(2, "other", 1002),
    ];
    for x in &held {
        s.store(x).unwrap();
    }
    let topic1 = sorted(held[..4].to_vec());
    assert_eq!(
        s.unexpired_ids(&TopicId::from_bytes([1; 32]), at(0), 9)
            .unwrap(),
        ids(&topic1)
    );
    assert_eq!(
        s.unexpired_ids(&TopicId::from_bytes([1; 32]), at(4599), 9)
            .unwrap(),
        ids(&topic1)
    );
    assert_eq!(
        s.unexpired_ids(&TopicId::from_bytes([1; 32]), at(4600), 9)
            .unwrap(),
        ids(&topic1[1..]),
        "ts 1000 is expired at 4600"
    );
    assert_eq!(
        s.unexpired_ids(&TopicId::from_bytes([1; 32]), at(4600), 2)
            .unwrap(),
        ids(&topic1[2..])
    );
    assert!(
        s.unexpired_ids(&TopicId::from_bytes([1; 32]), at(4600), 0)
            .unwrap()
            .is_empty()
    );
    assert!(
        s.unexpired_ids(&TopicId::from_bytes([1; 32]), at(4602), 9)
            .unwrap()
            .is_empty()
    );
    assert!(
        s.unexpired_ids(&TopicId::from_bytes([9; 32]), at(0), 9)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.unexpired_ids(&TopicId::from_bytes([1; 32]), at(u64::MAX), 9)
            .unwrap(),
        Vec::<ContentId>::new()
    );
}

/// remove_expired removes exactly the bulletins with now ≥ ts + 3600 and
/// counts them; listing still shows expired bulletins until then.
fn remove_expired_boundary(new: NewStore) {
    let mut s = new();
    let a = b(1, "a", 1000);
    let c = b(1, "c", 1001);
    s.store(&a).unwrap();
    s.store(&c).unwrap();
    assert_eq!(s.remove_expired(at(4599)).unwrap(), 0);
    assert_eq!(s.list().unwrap(), vec![a.clone(), c.clone()]);
    assert_eq!(s.remove_expired(at(4600)).unwrap(), 1);
    assert_eq!(s.list().unwrap(), vec![c.clone()]);
    assert_eq!(s.remove_expired(at(4600)).unwrap(), 0);
    assert_eq!(s.remove_expired(at(u64::MAX)).unwrap(), 1);
    assert!(s.is_empty().unwrap());
    assert_eq!(s.len().unwrap(), 0);
    assert!(
        s.store(&a).unwrap(),
        "an expired bulletin removed is new again"
    );
}

/// The seen set: entries with expiry after `now`, by key, a later expiry
/// kept over an earlier one, gone once expired.
fn seen_set(new: NewStore) {
    let mut s = new();
    let k1: BulletinKey =
        BulletinKey::new(TopicId::from_bytes([1; 32]), ContentId::from_bytes([5; 32]));
    let k2: BulletinKey =
        BulletinKey::new(TopicId::from_bytes([1; 32]), ContentId::from_bytes([4; 32]));
    let k3: BulletinKey =
        BulletinKey::new(TopicId::from_bytes([0; 32]), ContentId::from_bytes([9; 32]));
    assert!(s.seen(at(0)).unwrap().is_empty());
    s.mark_seen(&k1, at(2000)).unwrap();
    s.mark_seen(&k2, at(3000)).unwrap();
    s.mark_seen(&k3, at(1000)).unwrap();
    s.mark_seen(&k1, at(1500)).unwrap();
    assert_eq!(
        s.seen(at(0)).unwrap(),
        vec![(k3, at(1000)), (k2, at(3000)), (k1, at(2000))]
    );
    assert_eq!(
        s.seen(at(1000)).unwrap(),
        vec![(k2, at(3000)), (k1, at(2000))]
    );
    s.mark_seen(&k1, at(2500)).unwrap();
    assert_eq!(
        s.seen(at(2000)).unwrap(),
        vec![(k2, at(3000)), (k1, at(2500))]
    );
    assert!(s.is_empty().unwrap(), "a seen key is not a held bulletin");
    assert_eq!(s.remove_expired(at(2500)).unwrap(), 0);
    assert_eq!(s.seen(at(0)).unwrap(), vec![(k2, at(3000))]);
}

/// Delivery marks: true the first time only, kept until their own expiry
/// (the later one given), whether the bulletin is held or not.
fn delivery_marks(new: NewStore) {
    let mut s = new();
    let a = b(1, "a", 1000);
    s.store(&a).unwrap();
    assert!(!s.is_delivered(&a.key()).unwrap());
    assert!(s.mark_delivered(&a.key(), seen_until(&a)).unwrap());
    assert!(!s.mark_delivered(&a.key(), at(9000)).unwrap());
    assert!(s.is_delivered(&a.key()).unwrap());
    assert!(
        !s.is_delivered(&BulletinKey::new(
            TopicId::from_bytes([2; 32]),
            a.content_id
        ))
        .unwrap()
    );
    assert_eq!(s.remove_expired(seen_until(&a)).unwrap(), 1);
    assert!(
        s.is_delivered(&a.key()).unwrap(),
        "the mark outlives the bulletin until 9000"
    );
    assert_eq!(s.remove_expired(at(8999)).unwrap(), 0);
    assert!(s.is_delivered(&a.key()).unwrap());
    assert_eq!(s.remove_expired(at(9000)).unwrap(), 0);
    assert!(!s.is_delivered(&a.key()).unwrap());
    let never_held: BulletinKey =
        BulletinKey::new(TopicId::from_bytes([3; 32]), ContentId::from_bytes([3; 32]));
    assert!(s.mark_delivered(&never_held, at(100)).unwrap());
    assert!(s.is_delivered(&never_held).unwrap());
}

/// Marks set before a bulletin is stored are kept once it is, and marks
/// that outlive it stay after it expires, until their own expiry.
fn marks_across_store_and_expiry(new: NewStore) {
    let mut s = new();
    let a = b(1, "a", 1000);
    let (key, until) = (a.key(), seen_until(&a));
    assert!(
        s.mark_delivered(&key, until + std::time::Duration::from_secs(10))
            .unwrap()
    );
    s.mark_seen(&key, until - std::time::Duration::from_secs(10))
        .unwrap();
    assert!(s.store(&a).unwrap());
    assert!(s.is_delivered(&key).unwrap());
    assert!(!s.mark_delivered(&key, until).unwrap());
    assert_eq!(
        s.seen(at(0)).unwrap(),
        vec![(key, until - std::time::Duration::from_secs(10))]
    );
    s.mark_seen(&key, until).unwrap();
    assert_eq!(s.seen(at(0)).unwrap(), vec![(key, until)]);
    assert_eq!(s.remove_expired(until).unwrap(), 1);
    assert!(s.seen(at(0)).unwrap().is_empty());
    assert!(
        s.is_delivered(&key).unwrap(),
        "kept until {}",
        until + std::time::Duration::from_secs(10)
    );
    assert!(s.store(&a).unwrap(), "stored again after it expired");
    assert!(s.is_delivered(&key).unwrap());
    assert_eq!(
        s.remove_expired(until + std::time::Duration::from_secs(10))
            .unwrap(),
        1
    );
    assert!(!s.is_delivered(&key).unwrap());
}

/// handle stores, marks seen until ts + 3600 and, when asked, marks
/// delivered once.
fn handle(new: NewStore) {
    let mut s = new();
    let a = b(1, "a", 1000);
    let fresh = |new, deliver| Stored { new, deliver };
    assert_eq!(s.handle(&a, false).unwrap(), fresh(true, false));
    assert!(!s.is_delivered(&a.key()).unwrap());
    assert_eq!(s.seen(at(0)).unwrap(), vec![(a.key(), at(4600))]);
    assert_eq!(s.handle(&a, true).unwrap(), fresh(false, true));
    assert_eq!(s.handle(&a, true).unwrap(), fresh(false, false));
    assert!(s.is_delivered(&a.key()).unwrap());
    let c = b(2, "a", 1001);
    assert_eq!(s.handle(&c, true).unwrap(), fresh(true, true));
    assert_eq!(s.list().unwrap(), vec![a.clone(), c.clone()]);
    assert_eq!(s.seen(at(4600)).unwrap(), vec![(c.key(), at(4601))]);
    assert_eq!(s.remove_expired(at(4601)).unwrap(), 2);
    assert!(s.seen(at(0)).unwrap().is_empty());
    assert!(!s.is_delivered(&a.key()).unwrap());
    assert!(!s.is_delivered(&c.key()).unwrap());
}

/// Pending deliveries: what handle delivered until confirmed, oldest
/// first; mark_delivered alone is not pending; an expired bulletin is no
/// longer pending.
fn pending_deliveries(new: NewStore) {
    let mut s = new();
    let a = b(1, "a", 1002);
    let c = b(1, "c", 1000);
    let d = b(2, "d", 1001);
    let e = b(1, "e", 1003);
    assert!(s.pending_deliveries().unwrap().is_empty());
    assert!(s.handle(&a, true).unwrap().deliver);
    assert!(s.handle(&c, true).unwrap().deliver);
    assert!(s.handle(&d, true).unwrap().deliver);
    assert!(!s.handle(&e, false).unwrap().deliver);
    s.store(&b(3, "f", 1000)).unwrap();
    s.mark_delivered(&b(3, "f", 1000).key(), at(5000)).unwrap();
    assert_eq!(
        s.pending_deliveries().unwrap(),
        vec![c.clone(), d.clone(), a.clone()]
    );
    s.confirm_delivered(&[
        d.key(),
        BulletinKey::new(TopicId::from_bytes([9; 32]), ContentId::from_bytes([9; 32])),
    ])
    .unwrap();
    s.confirm_delivered(&[]).unwrap();
    assert_eq!(s.pending_deliveries().unwrap(), vec![c.clone(), a.clone()]);
    assert!(
        !s.handle(&d, true).unwrap().deliver,
        "confirmed stays delivered"
    );
    assert_eq!(s.pending_deliveries().unwrap(), vec![c.clone(), a.clone()]);
    assert_eq!(s.remove_expired(seen_until(&c)).unwrap(), 2);
    assert_eq!(s.pending_deliveries().unwrap(), vec![a.clone()]);
    s.confirm_delivered(&[a.key()]).unwrap();
    assert!(s.pending_deliveries().unwrap().is_empty());
}

/// Delivery codes: own first, then peers', each by address; one per
/// address and kind, the last put replacing the one before.
fn delivery_codes(new: NewStore) {
    let mut s = new();
    let code = |a: u8, c: u8, own, since| DeliveryCode {
        address: Address([a; 32]),
        code: [c; 8],
        own,
        since,
    };
    assert!(s.delivery_codes().unwrap().is_empty());
    s.put_delivery_code(&code(5, 1, false, at(10))).unwrap();
    s.put_delivery_code(&code(2, 2, false, at(11))).unwrap();
    s.put_delivery_code(&code(9, 3, true, at(12))).unwrap();
    s.put_delivery_code(&code(5, 4, true, at(13))).unwrap();
    assert_eq!(
        s.delivery_codes().unwrap(),
        vec![
            code(5, 4, true, at(13)),
            code(9, 3, true, at(12)),
            code(2, 2, false, at(11)),
            code(5, 1, false, at(10)),
        ]
    );
    s.put_delivery_code(&code(5, 6, false, at(20))).unwrap();
    s.put_delivery_code(&code(9, 7, true, at(21))).unwrap();
    assert_eq!(
        s.delivery_codes().unwrap(),
        vec![
            code(5, 4, true, at(13)),
            code(9, 7, true, at(21)),
            code(2, 2, false, at(11)),
            code(5, 6, false, at(20)),
        ]
    );
    assert!(s.is_empty().unwrap(), "codes are not bulletins");
    assert_eq!(s.remove_expired(at(u64::MAX)).unwrap(), 0);
    assert_eq!(s.delivery_codes().unwrap().len(), 4, "codes do not expire");
}

/// (ts, content id) pairs of bulletins, in the order given.
fn pairs(list: &[Bulletin]) -> Vec<(u32, ContentId)> {
    list.iter().map(|b| (b.ts, b.content_id)).collect()
}

/// A topic of 40 bulletins, four to each ts (content ids in hash order),
/// and a few under another topic at the same ts.
fn range_sample(s: &mut dyn BulletinStore) -> Vec<Bulletin> {
    let mut held = Vec::new();
    for i in 0..40u32 {
        let x = b(1, &format!("bulletin {i}"), 1000 + i / 4);
        held.push(x.clone());
        if i % 10 == 0 {
            s.store(&b(2, &format!("bulletin {i}"), 1000 + i / 4))
                .unwrap();
        }
    }
    for x in held.iter().rev() {
        assert!(s.store(x).unwrap());
    }
    sorted(held)
}

/// range_ids: a topic's unexpired (ts, content id) pairs in ascending
/// order, equal ts ordered by content id, at most `max`, from the first.
fn range_ids_order_and_max(new: NewStore) {
    let mut s = new();
    let held = range_sample(s.as_mut());
    let all = pairs(&held);
    assert_eq!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(1000), None, 1000)
            .unwrap(),
        all
    );
    assert_eq!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(0), None, usize::MAX)
            .unwrap(),
        all
    );
    assert_eq!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(1000), None, 7)
            .unwrap(),
        all[..7]
    );
    assert_eq!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(1000), None, 1)
            .unwrap(),
        all[..1]
    );
    assert!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(1000), None, 0)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.range_ids(&TopicId::from_bytes([2; 32]), at(1000), None, 9)
            .unwrap()
            .len(),
        4
    );
    assert!(
        s.range_ids(&TopicId::from_bytes([9; 32]), at(1000), None, 9)
            .unwrap()
            .is_empty()
    );
    for w in all.windows(2) {
        assert!(w[0] < w[1]);
    }
}

/// range_ids pages: each answer starts strictly after `after`, so passing
/// the last pair back walks the whole topic once; `after` need not be held.
fn range_ids_paging(new: NewStore) {
    let mut s = new();
    let all = pairs(&range_sample(s.as_mut()));
    for max in [1, 3, 4, 5, 40, 41] {
        let mut walked = Vec::new();
        let mut after = None;
        loop {
            let page = s
                .range_ids(&TopicId::from_bytes([1; 32]), at(1000), after, max)
                .unwrap();
            assert!(page.len() <= max);
            walked.extend_from_slice(&page);
            if page.len() < max {
                break;
            }
            after = page.last().copied();
        }
        assert_eq!(walked, all, "pages of {max}");
    }
    // Strictly after: a held pair is not repeated; one inside a ts.
    assert_eq!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(1000), Some(all[5]), 3)
            .unwrap(),
        all[6..9]
    );
    // A pair not held: the next held one after it.
    let (ts, _) = all[8];
    assert_eq!(
        s.range_ids(
            &TopicId::from_bytes([1; 32]),
            at(1000),
            Some((ts, ContentId::from_bytes([0; 32]))),
            100
        )
        .unwrap(),
        all[8..]
    );
    assert_eq!(
        s.range_ids(
            &TopicId::from_bytes([1; 32]),
            at(1000),
            Some((ts, ContentId::from_bytes([0xff; 32]))),
            100
        )
        .unwrap(),
        all[12..]
    );
    assert!(
        s.range_ids(
            &TopicId::from_bytes([1; 32]),
            at(1000),
            all.last().copied(),
            100
        )
        .unwrap()
        .is_empty()
    );
    assert!(
        s.range_ids(
            &TopicId::from_bytes([1; 32]),
            at(1000),
            Some((u32::MAX, ContentId::from_bytes([0xff; 32]))),
            100
        )
        .unwrap()
        .is_empty()
    );
}

/// range_ids leaves out what is expired at `now` (now ≥ ts + 3600), from
/// the start and after a pair before the unexpired ones; the index follows
/// stores and removals.
fn range_ids_expiry(new: NewStore) {
    let mut s = new();
    let all = pairs(&range_sample(s.as_mut()));
    // ts 1000..=1009, four each: at 4602, ts 1000, 1001 and 1002 are expired.
    assert_eq!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(4599), None, 100)
            .unwrap(),
        all
    );
    assert_eq!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(4600), None, 100)
            .unwrap(),
        all[4..]
    );
    assert_eq!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(4602), None, 100)
            .unwrap(),
        all[12..]
    );
    assert_eq!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(4602), Some(all[1]), 3)
            .unwrap(),
        all[12..15],
        "after an expired pair: from the first unexpired"
    );
    assert_eq!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(4602), Some(all[13]), 100)
            .unwrap(),
        all[14..]
    );
    assert!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(4610), None, 100)
            .unwrap()
            .is_empty()
    );
    assert!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(u64::MAX), None, 100)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.remove_expired(at(4602)).unwrap(),
        12 + 2,
        "and two of topic 2"
    );
    assert_eq!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(0), None, 100)
            .unwrap(),
        all[12..]
    );
    let late = b(1, "late", 1003);
    assert!(s.store(&late).unwrap());
    let mut expected = all[12..].to_vec();
    expected.push((late.ts, late.content_id));
    expected.sort();
    assert_eq!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(0), None, 100)
            .unwrap(),
        expected
    );
    assert_eq!(s.remove_expired(at(u64::MAX)).unwrap(), 29 + 2);
    assert!(
        s.range_ids(&TopicId::from_bytes([1; 32]), at(0), None, 100)
            .unwrap()
            .is_empty()
    );
}

fn memory() -> Box<dyn BulletinStore> {
    Box::new(MemoryStore::new())
}

fn sqlite() -> Box<dyn BulletinStore> {
    Box::new(SqliteStore::open_in_memory().unwrap())
}

fn minimal() -> Box<dyn BulletinStore> {
    Box::new(Minimal(MemoryStore::new()))
}

/// A store that implements only what each role requires (over a
/// `MemoryStore`), leaving every provided method to the role's default.
struct Minimal(MemoryStore);

impl Bulletins for Minimal {
    fn store(&mut self, bulletin: &Bulletin) -> Result<bool, StoreError> {
        self.0.store(bulletin)
    }
    fn retrieve(&self, key: &BulletinKey) -> Result<Option<Bulletin>, StoreError> {
        self.0.retrieve(key)
    }
    fn list(&self) -> Result<Vec<Bulletin>, StoreError> {
        self.0.list()
    }
    fn range_ids(
        &self,
        topic: &TopicId,
        now: Timestamp,
        after: Option<(u32, ContentId)>,
        max: usize,
    ) -> Result<Vec<(u32, ContentId)>, StoreError> {
        self.0.range_ids(topic, now, after, max)
    }
}

impl SeenLog for Minimal {
    fn mark_seen(&mut self, key: &BulletinKey, expires: Timestamp) -> Result<(), StoreError> {
        self.0.mark_seen(key, expires)
    }
    fn seen(&self, now: Timestamp) -> Result<Vec<(BulletinKey, Timestamp)>, StoreError> {
        self.0.seen(now)
    }
}

impl DeliveryJournal for Minimal {
    fn mark_delivered(
        &mut self,
        key: &BulletinKey,
        expires: Timestamp,
    ) -> Result<bool, StoreError> {
        self.0.mark_delivered(key, expires)
    }
    fn is_delivered(&self, key: &BulletinKey) -> Result<bool, StoreError> {
        self.0.is_delivered(key)
    }
    fn confirm_delivered(&mut self, keys: &[BulletinKey]) -> Result<(), StoreError> {
        self.0.confirm_delivered(keys)
    }
    fn pending_deliveries(&self) -> Result<Vec<Bulletin>, StoreError> {
        self.0.pending_deliveries()
    }
}

impl CodeBook for Minimal {
    fn delivery_codes(&self) -> Result<Vec<DeliveryCode>, StoreError> {
        self.0.delivery_codes()
    }
    fn put_delivery_code(&mut self, code: &DeliveryCode) -> Result<(), StoreError> {
        self.0.put_delivery_code(code)
    }
}

impl BulletinStore for Minimal {
    fn handle(&mut self, bulletin: &Bulletin, deliver: bool) -> Result<Stored, StoreError> {
        self.0.handle(bulletin, deliver)
    }
    fn remove_expired(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        self.0.remove_expired(now)
    }
}

/// Runs each case against each store: a test `<store>::<role>::<case>`.
macro_rules! conformance {
    ($($role:ident: [$($case:ident),* $(,)?]),* $(,)?) => {
        conformance!(@store memory_store, memory, $($role: [$($case),*]),*);
        conformance!(@store sqlite_store, sqlite, $($role: [$($case),*]),*);
        conformance!(@store minimal_store, minimal, $($role: [$($case),*]),*);
    };
    (@store $store:ident, $new:ident, $($role:ident: [$($case:ident),*]),*) => {
        mod $store {
            $(mod $role {
                $(#[test] fn $case() { super::super::$case(super::super::$new) })*
            })*
        }
    };
}

conformance!(
    bulletins: [
        store_retrieve_contains,
        same_content_two_topics,
        listing_order,
        queries,
        unexpired_ids,
        range_ids_order_and_max,
        range_ids_paging,
        range_ids_expiry,
    ],
    seen_log: [seen_set],
    delivery_journal: [delivery_marks, pending_deliveries],
    code_book: [delivery_codes],
    spanning: [remove_expired_boundary, marks_across_store_and_expiry, handle],
);
