//! Sync: how a node recovers the bulletins it missed, as one component.
//!
//! The engine hands the component every sync input (a request to make, a
//! peer's request, a peer's answer, the content ids it offered, a
//! respond_content that came, time passing) and routes what comes back, a
//! list of [`SyncOut`]: send this, answer that within the answer budget,
//! drop the message, count this. The component owns its state (the
//! requests this node made and their windows, the topic each peer last
//! asked about, the content requests outstanding and waiting) and makes
//! every decision; it never touches the queues, the counters or the store
//! beyond reading it through [`Held`].
//!
//! The interface is [`SyncAlgorithm`]. Two algorithms implement it:
//! [`FullList`], the full list of unexpired ids, paged (what the original
//! speaks); and [`Reconcile`], set reconciliation with negentropy between
//! gossip nodes that advertise it, which falls back to a [`FullList`] it
//! wraps. Another algorithm is one more file implementing the same trait.

mod asked;
mod full_list;
mod reconcile;

pub use full_list::{DEFAULT_MAX_CONTENT_REQUESTS, DEFAULT_MAX_SYNC_REQUEST_IDS};
pub(crate) use reconcile::Reconcile;
pub use reconcile::{
    DEFAULT_MAX_RECONCILE_ROUNDS, DEFAULT_RECONCILE_TIMEOUT, RECONCILE_FRAME_BYTES, ROLE_ANSWERER,
    ROLE_REQUESTER, SyncState, SyncStatus,
};

use super::DropReason;
use super::seen::SeenSet;
use crate::ids::{BulletinKey, ContentId, TopicId};
use crate::keys::Address;
use crate::operation::Payload;
use crate::store::{Bulletins, StoreError};

/// What this node holds, as a sync algorithm may read it: the store, and
/// the seen set (bulletins taken, and those on their way to the store).
pub(crate) struct Held<'a> {
    /// The bulletin store.
    pub store: &'a dyn Bulletins,
    /// The seen set.
    pub seen: &'a SeenSet,
}

impl Held<'_> {
    /// Whether the bulletin with `key` is held or seen at `now`: one not
    /// worth asking a peer for.
    pub fn has(&self, key: &BulletinKey, now: u64) -> Result<bool, StoreError> {
        Ok(self.seen.contains(key, now) || self.store.contains(key)?)
    }
}

/// One thing a sync algorithm asks the engine to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SyncOut {
    /// Send `payload` to the peer: a request of this node's.
    Send(Address, Payload),
    /// Send `payload` to the peer as an answer to its request: within the
    /// answer budget when the peer is not a configured neighbour.
    Answer(Address, Payload),
    /// Drop the received message for this reason (it is counted).
    Dropped(DropReason),
    /// Content ids a peer offered under a topic: the engine queues them
    /// as an [`super::Action::RequestContent`], so the hooks see them, and
    /// gives them back to [`SyncAlgorithm::want`].
    Offered {
        /// The peer that offered them.
        peer: Address,
        /// The topic they were offered under.
        topic: TopicId,
        /// The content ids.
        ids: Vec<ContentId>,
    },
    /// This many items passed a cap and were not taken (`over_cap`).
    OverCap(u64),
    /// This many content ids were queued behind the cap on outstanding
    /// content requests, to be asked for as answers come
    /// (`sync_deferred`).
    Deferred(u64),
    /// This many content requests (or ids waiting for one) were given up:
    /// no answer within the window (`sync_unanswered`).
    Unanswered(u64),
    /// Work done for `peer`'s request, charged to the answer budget like
    /// answer bytes when the peer is not a configured neighbour: a list of
    /// this many bytes' worth built from the store (8 bytes an item).
    Work {
        /// The peer it was done for.
        peer: Address,
        /// Its cost, in answer-budget bytes.
        bytes: u64,
    },
    /// A reconciliation fell back to a full list (`sync_fallbacks`).
    FellBack,
}

/// A sync algorithm: every input the engine has for sync, each returning
/// what to do. Each method is called with the engine's `now`; none does
/// I/O.
pub(crate) trait SyncAlgorithm {
    /// Sets the topics a peer that comes up is asked about.
    fn set_topics(&mut self, topics: Vec<TopicId>);

    /// The topics a peer that comes up is asked about.
    fn topics(&self) -> &[TopicId];

    /// This node asks `peer` about `topic`.
    fn request(&mut self, peer: Address, topic: TopicId, now: u64) -> Vec<SyncOut>;

    /// `peer`'s request about `topic` advertised set reconciliation: the
    /// answer to come (from [`SyncAlgorithm::answer`]) may use it.
    fn advertised(&mut self, _peer: Address, _topic: TopicId, _now: u64) {}

    /// A reconcile message (the payload after the topic id) from `peer`
    /// about `topic`. An algorithm without reconciliation drops it.
    fn take_reconcile(
        &mut self,
        _peer: Address,
        _topic: TopicId,
        _body: &[u8],
        _held: &Held<'_>,
        _now: u64,
    ) -> Result<Vec<SyncOut>, StoreError> {
        Ok(vec![SyncOut::Dropped(DropReason::Unsupported)])
    }

    /// `peer` asked this node about `topic`: the answers.
    fn answer(
        &mut self,
        peer: Address,
        topic: TopicId,
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError>;

    /// `peer` answered about `topic` with `ids` (the payload after the
    /// topic id, as received).
    fn take_answer(&mut self, peer: Address, topic: TopicId, ids: &[u8], now: u64) -> Vec<SyncOut>;

    /// Content ids `peer` offered under `topic` (after the hooks): which
    /// to ask for, now or later.
    fn want(
        &mut self,
        peer: Address,
        topic: TopicId,
        ids: Vec<ContentId>,
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError>;

    /// A respond_content with `content_id` came from `peer`.
    fn content_came(
        &mut self,
        peer: Address,
        content_id: ContentId,
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError>;

    /// `peer` asked for the bulletin with `content_id`.
    fn serve(
        &mut self,
        peer: Address,
        content_id: ContentId,
        held: &Held<'_>,
        now: u64,
    ) -> Result<Vec<SyncOut>, StoreError>;

    /// Time passing: what waited past its window is given up, and what
    /// that frees is asked for.
    fn tick(&mut self, held: &Held<'_>, now: u64) -> Result<Vec<SyncOut>, StoreError>;
}
