//! Full-list sync, paged: the original's request_sync_headers /
//! respond_sync_headers / request_content / respond_content, made complete.
//!
//! - **Asking.** This node sends request_sync_headers (topic, no ids) and
//!   takes every respond_sync_headers for that (peer, topic) that comes
//!   within the message TTL (300 s) of the request, up to
//!   `max_sync_request_ids` ids in all (4 MiB by default); ids past it are
//!   counted as `over_cap`. An answer with no request of ours open is
//!   `unsolicited`.
//! - **Answering.** A request is answered with every unexpired id of the
//!   topic (at most `max_sync_request_ids`, the excess counted once as
//!   `over_cap`), newest first, in pages of at most `max_sync_ids` ids
//!   (32 KiB) each, one respond_sync_headers per page, at least one (an
//!   empty page when nothing is held). Newest first, so that a requester
//!   cut short (by its window, its cap or this node's answer budget) has
//!   what lives longest; the oldest are about to expire anyway.
//! - **Fetching.** Offered ids this node neither holds nor has seen are
//!   asked for with request_content, at most `max_content_requests`
//!   outstanding per peer; the rest wait (counted once as `sync_deferred`)
//!   and are asked for as the peer's respond_content answers come. A
//!   content request unanswered within the window frees its slot; a peer
//!   that answered none of its outstanding requests within the window is
//!   given up, its waiting ids with it (all counted as `sync_unanswered`).
//! - **Serving.** request_content names only a content id: the answer is
//!   the bulletin under the topic the peer last asked to sync, if held,
//!   else the newest held (by ts, then topic id); one answer per request.

use std::collections::{HashMap, HashSet, VecDeque};

use super::asked::SyncAsked;
use super::{Held, SyncAlgorithm, SyncOut};
use crate::ids::{BulletinKey, ContentId, TopicId};
use crate::keys::Address;
use crate::message::MESSAGE_TTL;
use crate::node::{DropReason, NodeConfig};
use crate::operation::{Op, PackedContent, Payload};
use crate::store::StoreError;
use crate::time::Timestamp;

/// Default cap on the content ids of one sync request, sent or taken (in
/// all its answers): 131,072 ids, 4 MiB.
pub const DEFAULT_MAX_SYNC_REQUEST_IDS: usize = 1 << 17;

/// Default cap on request_content messages outstanding to one peer.
pub const DEFAULT_MAX_CONTENT_REQUESTS: usize = 256;

/// A sync request this node made.
#[derive(Clone, Copy, Debug)]
struct Request {
    /// When it was made.
    at: u64,
    /// Ids taken from its answers so far.
    ids: usize,
}

/// The content this node wants from one peer.
#[derive(Clone, Debug, Default)]
struct Wants {
    /// Content requests outstanding: content id → when asked.
    asked: HashMap<ContentId, u64>,
    /// Ids waiting for a slot, oldest offered first.
    waiting: VecDeque<BulletinKey>,
    /// The same ids, to offer each once.
    queued: HashSet<BulletinKey>,
}

/// Full-list sync, paged (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct FullList {
    page_ids: usize,
    request_ids: usize,
    content_requests: usize,
    window: u64,
    asked: SyncAsked,
    topics: Vec<TopicId>,
    requests: HashMap<(Address, TopicId), Request>,
    wants: HashMap<Address, Wants>,
}

impl FullList {
    /// With the caps of `config`, and the message TTL as the window.
    pub fn new(config: &NodeConfig) -> Self {
        Self {
            page_ids: config.max_sync_ids.max(1),
            request_ids: config.max_sync_request_ids,
            content_requests: config.max_content_requests.max(1),
            window: u64::from(MESSAGE_TTL),
            asked: SyncAsked::default(),
            topics: Vec::new(),
            requests: HashMap::new(),
            wants: HashMap::new(),
        }
    }

    /// Records that `peer` asked to sync `topic` (its request_content
    /// answers prefer that topic), as answering it does.
    pub fn remember_asked(&mut self, peer: Address, topic: TopicId) {
        self.asked.remember(peer, topic);
    }

    /// Frees `peer`'s content requests older than the window, counted as
    /// unanswered; when none of them was answered, the peer is given up,
    /// its waiting ids with it.
    fn expire(&mut self, peer: Address, now: u64, out: &mut Vec<SyncOut>) {
        let Some(w) = self.wants.get_mut(&peer) else {
            return;
        };
        let before = w.asked.len();
        w.asked.retain(|_, at| now <= *at + self.window);
        let expired = before - w.asked.len();
        if expired == 0 {
            return;
        }
        out.push(SyncOut::Unanswered(expired as u64));
        if w.asked.is_empty() {
            // Not one answer in a whole window: the peer is given up.
            if !w.waiting.is_empty() {
                out.push(SyncOut::Unanswered(w.waiting.len() as u64));
            }
            self.wants.remove(&peer);
        }
    }

    /// Asks `peer` for waiting ids while it has free slots.
    fn fill(
        &mut self,
        peer: Address,
        held: &Held<'_>,
        now: u64,
        out: &mut Vec<SyncOut>,
    ) -> Result<(), StoreError> {
        let Some(w) = self.wants.get_mut(&peer) else {
            return Ok(());
        };
        while w.asked.len() < self.content_requests {
            let Some(key) = w.waiting.pop_front() else {
                break;
            };
            w.queued.remove(&key);
            if held.has(&key, now)? || w.asked.contains_key(&key.content) {
                continue;
            }
            w.asked.insert(key.content, now);
            out.push(SyncOut::Send(
                peer,
                Payload::RequestContent(PackedContent {
                    id: key.content,
                    content: Vec::new(),
                }),
            ));
        }
        if w.asked.is_empty() && w.waiting.is_empty() {
            self.wants.remove(&peer);
        }
        Ok(())
    }
}

impl SyncAlgorithm for FullList {
    fn set_topics(&mut self, topics: Vec<TopicId>) {
        self.topics = topics;
    }

    fn topics(&self) -> &[TopicId] {
        &self.topics
    }

    fn request(&mut self, peer: Address, topic: TopicId, now: u64) -> Vec<SyncOut> {
        let window = self.window;
        self.requests.retain(|_, r| now <= r.at + window);
        self.requests
            .insert((peer, topic), Request { at: now, ids: 0 });
        vec![SyncOut::Send(
            peer,
            Payload::Sync(Op::RequestSyncHeaders, topic, Vec::new()),
        )]
    }

    fn answer(
        &mut self,
        peer: Address,
        topic: TopicId,
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError> {
        self.asked.remember(peer, topic);
        let mut ids = held.store.unexpired_ids(
            &topic,
            Timestamp::from_secs(now),
            self.request_ids.saturating_add(1),
        )?;
        let mut out = Vec::new();
        if ids.len() > self.request_ids {
            // Oldest first from the store: the oldest one goes.
            ids.remove(0);
            out.push(SyncOut::OverCap(1));
        }
        ids.reverse();
        if ids.is_empty() {
            out.push(SyncOut::Answer(
                peer,
                Payload::Sync(Op::RespondSyncHeaders, topic, Vec::new()),
            ));
        }
        for page in ids.chunks(self.page_ids) {
            out.push(SyncOut::Answer(
                peer,
                Payload::Sync(
                    Op::RespondSyncHeaders,
                    topic,
                    page.iter().flat_map(|id| *id.as_bytes()).collect(),
                ),
            ));
        }
        Ok(out)
    }

    fn take_answer(&mut self, peer: Address, topic: TopicId, ids: &[u8], now: u64) -> Vec<SyncOut> {
        if !ids.len().is_multiple_of(32) {
            return vec![SyncOut::Dropped(DropReason::Malformed)];
        }
        let window = self.window;
        let Some(r) = self
            .requests
            .get_mut(&(peer, topic))
            .filter(|r| now <= r.at + window)
        else {
            self.requests.remove(&(peer, topic));
            return vec![SyncOut::Dropped(DropReason::Unsolicited)];
        };
        let count = ids.len() / 32;
        let taken = count.min(self.request_ids.saturating_sub(r.ids));
        r.ids += taken;
        let mut out = Vec::new();
        if taken < count {
            out.push(SyncOut::OverCap((count - taken) as u64));
        }
        let ids = ids
            .chunks_exact(32)
            .take(taken)
            .filter_map(|c| <[u8; 32]>::try_from(c).ok().map(ContentId::from))
            .collect();
        out.push(SyncOut::Offered { peer, topic, ids });
        out
    }

    fn want(
        &mut self,
        peer: Address,
        topic: TopicId,
        ids: Vec<ContentId>,
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError> {
        let mut out = Vec::new();
        self.expire(peer, now, &mut out);
        let w = self.wants.entry(peer).or_default();
        let mut added = 0;
        for id in ids {
            let key = BulletinKey::new(topic, id);
            if w.asked.contains_key(&id) || w.queued.contains(&key) || held.has(&key, now)? {
                continue;
            }
            w.queued.insert(key);
            w.waiting.push_back(key);
            added += 1;
        }
        self.fill(peer, held, now, &mut out)?;
        let left = self.wants.get(&peer).map_or(0, |w| w.waiting.len());
        let deferred = added.min(left);
        if deferred > 0 {
            out.push(SyncOut::Deferred(deferred as u64));
        }
        Ok(out)
    }

    fn content_came(
        &mut self,
        peer: Address,
        content_id: ContentId,
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError> {
        let mut out = Vec::new();
        let answered = self
            .wants
            .get_mut(&peer)
            .is_some_and(|w| w.asked.remove(&content_id).is_some());
        if answered {
            self.expire(peer, now, &mut out);
            self.fill(peer, held, now, &mut out)?;
        }
        Ok(out)
    }

    fn serve(
        &mut self,
        peer: Address,
        content_id: ContentId,
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError> {
        let asked = match self.asked.topic(&peer) {
            Some(topic) => held.store.retrieve(&BulletinKey::new(topic, content_id))?,
            None => None,
        };
        let found = match asked.filter(|b| !b.is_expired(Timestamp::from_secs(now))) {
            Some(b) => Some(b),
            None => held.store.with_content_id(&content_id, 1)?.pop(),
        };
        Ok(match found {
            Some(b) if !b.is_expired(Timestamp::from_secs(now)) => {
                vec![SyncOut::Answer(
                    peer,
                    Payload::Bulletin(Op::RespondContent, b),
                )]
            }
            _ => Vec::new(),
        })
    }

    fn tick(&mut self, held: &Held<'_>, now: u64) -> Result<Vec<SyncOut>, StoreError> {
        let window = self.window;
        self.requests.retain(|_, r| now <= r.at + window);
        let mut out = Vec::new();
        let peers: Vec<Address> = self.wants.keys().copied().collect();
        for peer in peers {
            self.expire(peer, now, &mut out);
            self.fill(peer, held, now, &mut out)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::seen::SeenSet;
    use crate::store::MemoryStore;

    fn requested(out: &[SyncOut]) -> usize {
        out.iter()
            .filter(|o| matches!(o, SyncOut::Send(_, Payload::RequestContent(_))))
            .count()
    }

    #[test]
    fn a_new_offer_after_a_peer_went_silent_is_asked_for() {
        let config = NodeConfig::builder()
            .max_content_requests(2)
            .build()
            .unwrap();
        let mut s = FullList::new(&config);
        let (store, seen) = (MemoryStore::new(), SeenSet::new(16));
        let held = Held {
            store: &store,
            seen: &seen,
        };
        let (peer, topic) = (Address([1; 32]), [2; 32]);
        let out = s
            .want(
                peer,
                TopicId::from_bytes(topic),
                vec![
                    ContentId::from_bytes([3; 32]),
                    ContentId::from_bytes([4; 32]),
                    ContentId::from_bytes([5; 32]),
                ],
                &held,
                0,
            )
            .unwrap();
        assert_eq!(requested(&out), 2);
        assert!(out.contains(&SyncOut::Deferred(1)));
        // 400 s later, nothing answered; a fresh offer is still asked for.
        let out = s
            .want(
                peer,
                TopicId::from_bytes(topic),
                vec![ContentId::from_bytes([6; 32])],
                &held,
                400,
            )
            .unwrap();
        assert!(out.contains(&SyncOut::Unanswered(2)), "{out:?}");
        assert!(out.contains(&SyncOut::Unanswered(1)), "the waiting one");
        assert_eq!(requested(&out), 1);
    }
}
