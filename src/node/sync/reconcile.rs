//! Set reconciliation between gossip nodes: negentropy protocol v1 over the
//! `reconcile` operation (0x0b), negotiated, with full lists as the
//! fallback. The wire format is in `docs/protocol.md` ("Set
//! reconciliation").
//!
//! - **Asking.** This node's request_sync_headers carries the extension
//!   advertisement (`super::super::extensions`). A peer that does not speak
//!   it answers with a full list, taken as [`FullList`] takes it. A peer
//!   that does answers `reconcile` with the answerer role and no message
//!   (an accept); this node then sends negentropy's initial message over
//!   the topic's unexpired (ts, content id) items, and each answer gives
//!   the ids the peer has and this node lacks (asked for with
//!   request_content, through [`FullList`]'s paging) and the ids this node
//!   has and the peer lacks (pushed when the node is configured to push).
//! - **Fallback.** When the peer sends nothing for `reconcile_timeout`
//!   seconds at any step, sends something malformed, or runs past
//!   `max_reconcile_rounds` rounds, this node asks again with a plain
//!   request_sync_headers: a full list.
//! - **Answering.** A request that advertises the extension is accepted
//!   (when this node speaks it and the topic holds at most
//!   `max_sync_request_ids` items; otherwise it gets the full list). Each
//!   negentropy message of the requester is answered from the store's
//!   index, within the answer budget for a peer that is not a neighbour,
//!   for at most `max_reconcile_rounds` rounds within the message TTL of
//!   the accept.
//!
//! Neither side keeps the items between rounds: each message is answered
//! from a list built from the store's (ts, content id) index and dropped
//! (40 bytes an item while it lives, at most `max_sync_request_ids` items).

use std::collections::HashMap;
use std::time::Duration;

use negentropy::{Id as NegId, Negentropy, NegentropyStorageBase, NegentropyStorageVector};

use super::full_list::FullList;
use super::{Held, SyncAlgorithm, SyncOut};
use crate::ids::{BulletinKey, ContentId, TopicId};
use crate::keys::Address;
use crate::message::MESSAGE_TTL;
use crate::node::extensions::{PLUMTREE_V1, RECONCILE_V1, advert};
use crate::node::{DropReason, NodeConfig};
use crate::operation::{Op, Payload};
use crate::store::StoreError;
use crate::time::Timestamp;

/// Default seconds this node waits for a peer's next reconcile message
/// before it falls back to a full list.
pub const DEFAULT_RECONCILE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default cap on the negentropy rounds of one session, on either side.
pub const DEFAULT_MAX_RECONCILE_ROUNDS: u32 = 64;

/// Largest negentropy message this node sends, in bytes (negentropy's
/// frame size limit): about 15,000 ids in one id list, so that the largest
/// set reconciled (131,072 items) moves its ids in under 10 rounds.
pub const RECONCILE_FRAME_BYTES: u64 = 500_000;

/// The role byte of a reconcile message from the requester (negentropy's
/// initiator).
pub const ROLE_REQUESTER: u8 = 0x00;

/// The role byte of a reconcile message from the answerer; with no
/// negentropy message after it, an accept.
pub const ROLE_ANSWERER: u8 = 0x01;

/// Most sessions remembered on each side; past it, the answerer gives new
/// requesters the full list.
const MAX_SESSIONS: usize = 4096;

/// What building the item list costs a requester that is not a configured
/// neighbour, in answer-budget bytes per item: a stranger's 1 MiB a window
/// buys 131,072 items of work (one round over the largest topic reconciled).
pub const WORK_BYTES_PER_ITEM: u64 = 8;

/// Where a sync this node asked for stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncState {
    /// Asked, with the advertisement; no answer yet.
    Offered,
    /// The peer accepted; negentropy rounds under way.
    Reconciling,
    /// Reconciled: every difference found (the content this node lacks
    /// may still be arriving).
    Reconciled,
    /// The peer answered with a full list (it does not speak the
    /// extension, or chose not to).
    FullList,
    /// Reconciliation failed or timed out; asked again for a full list.
    FellBack,
}

/// How a sync this node asked a peer for went: [`crate::node::Node::sync_status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncStatus {
    /// Where it stands.
    pub state: SyncState,
    /// Negentropy messages this node sent (round trips).
    pub rounds: u32,
    /// Ids the peer has and this node lacked, found so far.
    pub need: u64,
    /// Ids this node has and the peer lacked, found so far.
    pub have: u64,
    /// Bytes of reconcile payloads sent (after the operation byte).
    pub bytes_sent: u64,
    /// Bytes of reconcile payloads received.
    pub bytes_received: u64,
}

impl SyncStatus {
    fn new() -> Self {
        Self {
            state: SyncState::Offered,
            rounds: 0,
            need: 0,
            have: 0,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }

    /// Whether this node is still waiting on the peer for it.
    pub fn is_running(&self) -> bool {
        matches!(self.state, SyncState::Offered | SyncState::Reconciling)
    }
}

/// A sync this node asked for.
#[derive(Clone, Copy, Debug)]
struct Session {
    /// When the peer last moved it on (or it was asked).
    at: u64,
    status: SyncStatus,
}

/// A peer's reconciliation this node accepted.
#[derive(Clone, Copy, Debug)]
struct Accepted {
    /// When it was accepted.
    at: u64,
    /// Negentropy messages answered.
    rounds: u32,
}

/// Set reconciliation, with [`FullList`] for peers without it and for
/// fetching (see the module docs).
#[derive(Clone, Debug)]
pub(crate) struct Reconcile {
    full: FullList,
    enabled: bool,
    /// The extensions named in this node's requests (none: no
    /// advertisement).
    names: Vec<&'static str>,
    push: bool,
    timeout: u64,
    max_rounds: u32,
    max_items: usize,
    window: u64,
    sessions: HashMap<(Address, TopicId), Session>,
    /// Advertised requests waiting for their answer: (peer, topic) → when.
    advertised: HashMap<(Address, TopicId), u64>,
    accepted: HashMap<(Address, TopicId), Accepted>,
}

impl Reconcile {
    /// With the caps of `config`.
    pub fn new(config: &NodeConfig) -> Self {
        Self {
            full: FullList::new(config),
            enabled: config.reconcile,
            names: [
                (config.reconcile, RECONCILE_V1),
                (config.dissemination, PLUMTREE_V1),
            ]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect(),
            push: config.sync_push,
            timeout: config.reconcile_timeout.as_secs().max(1),
            max_rounds: config.max_reconcile_rounds.max(1),
            max_items: config.max_sync_request_ids,
            window: u64::from(MESSAGE_TTL),
            sessions: HashMap::new(),
            advertised: HashMap::new(),
            accepted: HashMap::new(),
        }
    }

    /// How the sync this node asked `peer` for about `topic` went, while
    /// remembered (the message TTL after its last step).
    pub fn status(&self, peer: &Address, topic: &TopicId) -> Option<SyncStatus> {
        self.sessions.get(&(*peer, *topic)).map(|s| s.status)
    }

    /// Forgets the reconciliations with `peer`, both ways: it is gone, so
    /// none of them falls back or is answered (its next connection syncs
    /// afresh).
    pub fn forget_peer(&mut self, peer: &Address) {
        self.sessions.retain(|(p, _), _| p != peer);
        self.advertised.retain(|(p, _), _| p != peer);
        self.accepted.retain(|(p, _), _| p != peer);
    }

    /// When the earliest running session times out, if any.
    pub fn next_timeout(&self) -> Option<u64> {
        self.sessions
            .values()
            .filter(|s| s.status.is_running())
            .map(|s| s.at + self.timeout)
            .min()
    }

    /// The topic's unexpired items, in (ts, content id) order, from the
    /// store's index; `None` past `max_items`.
    fn items(
        &self,
        held: &Held<'_>,
        topic: &TopicId,
        now: u64,
    ) -> Result<Option<NegentropyStorageVector>, StoreError> {
        const PAGE: usize = 16_384;
        let mut storage = NegentropyStorageVector::new();
        let mut after = None;
        let mut count = 0;
        loop {
            let page = held
                .store
                .range_ids(topic, Timestamp::from_secs(now), after, PAGE)?;
            count += page.len();
            if count > self.max_items {
                return Ok(None);
            }
            for &(ts, id) in &page {
                // Cannot fail: the storage is not sealed yet.
                let _ = storage.insert(u64::from(ts), NegId::from_byte_array(id.to_bytes()));
            }
            if page.len() < PAGE {
                break;
            }
            after = page.last().copied();
        }
        // Cannot fail: sealed once.
        let _ = storage.seal();
        Ok(Some(storage))
    }

    /// Gives up reconciling with `peer` on `topic`: asks again for a full
    /// list.
    fn fall_back(&mut self, peer: Address, topic: TopicId, now: u64, out: &mut Vec<SyncOut>) {
        if let Some(s) = self.sessions.get_mut(&(peer, topic)) {
            s.status.state = SyncState::FellBack;
            s.at = now;
        }
        out.push(SyncOut::FellBack);
        out.extend(self.full.request(peer, topic, now));
    }

    /// Sends `peer` a reconcile message of this node's as requester.
    fn send(
        &mut self,
        peer: Address,
        topic: TopicId,
        message: Vec<u8>,
        now: u64,
        out: &mut Vec<SyncOut>,
    ) {
        let body = [&[ROLE_REQUESTER][..], &message].concat();
        if let Some(s) = self.sessions.get_mut(&(peer, topic)) {
            s.at = now;
            s.status.rounds += 1;
            s.status.bytes_sent += 32 + body.len() as u64;
        }
        out.push(SyncOut::Send(
            peer,
            Payload::Sync(Op::Reconcile, topic, body),
        ));
    }

    /// The answerer's message in this node's session with `peer`.
    fn take_answerer(
        &mut self,
        peer: Address,
        topic: TopicId,
        message: &[u8],
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError> {
        let mut out = Vec::new();
        let Some(session) = self.sessions.get_mut(&(peer, topic)) else {
            return Ok(vec![SyncOut::Dropped(DropReason::Unsolicited)]);
        };
        let state = session.status.state;
        session.status.bytes_received += 33 + message.len() as u64;
        match (state, message.is_empty()) {
            (SyncState::Offered, true) => {
                session.status.state = SyncState::Reconciling;
                let Some(storage) = self.items(held, &topic, now)? else {
                    self.fall_back(peer, topic, now, &mut out);
                    return Ok(out);
                };
                let first = Negentropy::owned(storage, RECONCILE_FRAME_BYTES)
                    .and_then(|mut n| n.initiate());
                match first {
                    Ok(m) => self.send(peer, topic, m, now, &mut out),
                    Err(_) => self.fall_back(peer, topic, now, &mut out),
                }
            }
            (SyncState::Reconciling, false) => {
                let Some(storage) = self.items(held, &topic, now)? else {
                    self.fall_back(peer, topic, now, &mut out);
                    return Ok(out);
                };
                let (mut have, mut need) = (Vec::new(), Vec::new());
                let next = Negentropy::owned(storage, RECONCILE_FRAME_BYTES).and_then(|mut n| {
                    n.set_initiator();
                    n.reconcile_with_ids(message, &mut have, &mut need)
                });
                let Ok(next) = next else {
                    out.push(SyncOut::Dropped(DropReason::Malformed));
                    self.fall_back(peer, topic, now, &mut out);
                    return Ok(out);
                };
                let rounds = self.sessions.get_mut(&(peer, topic)).map_or(0, |s| {
                    s.status.need += need.len() as u64;
                    s.status.have += have.len() as u64;
                    s.at = now;
                    s.status.rounds
                });
                if !need.is_empty() {
                    let ids = need.iter().map(|id| ContentId::from(**id)).collect();
                    out.push(SyncOut::Offered { peer, topic, ids });
                }
                if self.push {
                    self.push_held(peer, topic, &have, held, now, &mut out)?;
                }
                match next {
                    None => {
                        if let Some(s) = self.sessions.get_mut(&(peer, topic)) {
                            s.status.state = SyncState::Reconciled;
                        }
                    }
                    Some(_) if rounds >= self.max_rounds => {
                        self.fall_back(peer, topic, now, &mut out)
                    }
                    Some(m) => self.send(peer, topic, m, now, &mut out),
                }
            }
            _ => out.push(SyncOut::Dropped(DropReason::Unsolicited)),
        }
        Ok(out)
    }

    /// The requester's message in a session this node accepted.
    fn take_requester(
        &mut self,
        peer: Address,
        topic: TopicId,
        message: &[u8],
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError> {
        let window = self.window;
        let Some(a) = self
            .accepted
            .get_mut(&(peer, topic))
            .filter(|a| now <= a.at + window)
        else {
            return Ok(vec![SyncOut::Dropped(DropReason::Unsolicited)]);
        };
        if a.rounds >= self.max_rounds {
            return Ok(vec![SyncOut::Dropped(DropReason::OverCap)]);
        }
        a.rounds += 1;
        let Some(storage) = self.items(held, &topic, now)? else {
            self.accepted.remove(&(peer, topic));
            return Ok(vec![SyncOut::Dropped(DropReason::OverCap)]);
        };
        let work = work(peer, &storage);
        let answer = Negentropy::owned(storage, RECONCILE_FRAME_BYTES)
            .and_then(|mut n| n.reconcile(message));
        Ok(match answer {
            Ok(m) => {
                let body = [&[ROLE_ANSWERER][..], &m].concat();
                vec![
                    work,
                    SyncOut::Answer(peer, Payload::Sync(Op::Reconcile, topic, body)),
                ]
            }
            Err(_) => {
                self.accepted.remove(&(peer, topic));
                vec![work, SyncOut::Dropped(DropReason::Malformed)]
            }
        })
    }

    /// Pushes `peer` the bulletins under `topic` it lacks, as
    /// respond_content answers (within the answer budget for a peer that is
    /// not a neighbour).
    fn push_held(
        &self,
        peer: Address,
        topic: TopicId,
        ids: &[NegId],
        held: &Held<'_>,
        now: u64,
        out: &mut Vec<SyncOut>,
    ) -> Result<(), StoreError> {
        for id in ids {
            if let Some(b) = held
                .store
                .retrieve(&BulletinKey::new(topic, ContentId::from(**id)))?
                && !b.is_expired(Timestamp::from_secs(now))
            {
                out.push(SyncOut::Answer(
                    peer,
                    Payload::Bulletin(Op::RespondContent, b),
                ));
            }
        }
        Ok(())
    }

    /// Forgets what is past its window.
    fn forget(&mut self, now: u64) {
        let window = self.window;
        self.sessions.retain(|_, s| now <= s.at + window);
        self.advertised.retain(|_, at| now <= *at + window);
        self.accepted.retain(|_, a| now <= a.at + window);
    }
}

/// The cost of building `storage` for `peer`'s request.
fn work(peer: Address, storage: &NegentropyStorageVector) -> SyncOut {
    let items = storage.size().unwrap_or(0) as u64;
    SyncOut::Work {
        peer,
        bytes: WORK_BYTES_PER_ITEM * items,
    }
}

impl SyncAlgorithm for Reconcile {
    fn set_topics(&mut self, topics: Vec<TopicId>) {
        self.full.set_topics(topics);
    }

    fn topics(&self) -> &[TopicId] {
        self.full.topics()
    }

    fn request(&mut self, peer: Address, topic: TopicId, now: u64) -> Vec<SyncOut> {
        self.forget(now);
        let mut out = self.full.request(peer, topic, now);
        let mut status = SyncStatus::new();
        if !self.names.is_empty() {
            for o in &mut out {
                if let SyncOut::Send(_, Payload::Sync(Op::RequestSyncHeaders, _, rest)) = o {
                    *rest = advert(&self.names);
                }
            }
        }
        if !self.enabled {
            // Not offered: a full list from the start.
            status.state = SyncState::FullList;
        }
        if self.sessions.len() < MAX_SESSIONS || self.sessions.contains_key(&(peer, topic)) {
            self.sessions
                .insert((peer, topic), Session { at: now, status });
        }
        out
    }

    fn advertised(&mut self, peer: Address, topic: TopicId, now: u64) {
        if self.enabled && self.advertised.len() < MAX_SESSIONS {
            self.advertised.insert((peer, topic), now);
        }
    }

    fn answer(
        &mut self,
        peer: Address,
        topic: TopicId,
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError> {
        let window = self.window;
        let advertised = self
            .advertised
            .remove(&(peer, topic))
            .is_some_and(|at| now <= at + window);
        if advertised && self.accepted.len() >= MAX_SESSIONS {
            self.forget(now);
        }
        let room = self.accepted.len() < MAX_SESSIONS;
        if advertised
            && room
            && let Some(storage) = self.items(held, &topic, now)?
        {
            self.full.remember_asked(peer, topic);
            self.accepted
                .insert((peer, topic), Accepted { at: now, rounds: 0 });
            return Ok(vec![
                work(peer, &storage),
                SyncOut::Answer(
                    peer,
                    Payload::Sync(Op::Reconcile, topic, vec![ROLE_ANSWERER]),
                ),
            ]);
        }
        self.full.answer(peer, topic, held, now)
    }

    fn take_answer(&mut self, peer: Address, topic: TopicId, ids: &[u8], now: u64) -> Vec<SyncOut> {
        if let Some(s) = self.sessions.get_mut(&(peer, topic))
            && s.status.state == SyncState::Offered
        {
            s.status.state = SyncState::FullList;
            s.at = now;
        }
        self.full.take_answer(peer, topic, ids, now)
    }

    fn take_reconcile(
        &mut self,
        peer: Address,
        topic: TopicId,
        body: &[u8],
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError> {
        match body.split_first() {
            Some((&ROLE_ANSWERER, message)) => self.take_answerer(peer, topic, message, held, now),
            Some((&ROLE_REQUESTER, message)) if !message.is_empty() => {
                self.take_requester(peer, topic, message, held, now)
            }
            _ => Ok(vec![SyncOut::Dropped(DropReason::Malformed)]),
        }
    }

    fn want(
        &mut self,
        peer: Address,
        topic: TopicId,
        ids: Vec<ContentId>,
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError> {
        self.full.want(peer, topic, ids, held, now)
    }

    fn content_came(
        &mut self,
        peer: Address,
        content_id: ContentId,
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError> {
        self.full.content_came(peer, content_id, held, now)
    }

    fn serve(
        &mut self,
        peer: Address,
        content_id: ContentId,
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError> {
        self.full.serve(peer, content_id, held, now)
    }

    fn tick(&mut self, held: &Held<'_>, now: u64) -> Result<Vec<SyncOut>, StoreError> {
        let mut out = self.full.tick(held, now)?;
        let timeout = self.timeout;
        let late: Vec<(Address, TopicId)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.status.is_running() && now >= s.at + timeout)
            .map(|(k, _)| *k)
            .collect();
        for (peer, topic) in late {
            self.fall_back(peer, topic, now, &mut out);
        }
        self.forget(now);
        Ok(out)
    }
}
