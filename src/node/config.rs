//! A node's settings and their defaults.

use super::answer_budget::{
    DEFAULT_ANSWER_TOTAL_BYTES, DEFAULT_ANSWER_WINDOW, DEFAULT_MAX_ANSWERED_STRANGERS,
    DEFAULT_STRANGER_ANSWER_BYTES,
};
use super::dissemination::{DEFAULT_ANNOUNCE_EVERY, DEFAULT_GRAFT_TIMEOUT};
use super::replay::DEFAULT_REPLAY_CAPACITY;
use super::seen::DEFAULT_SEEN_CAPACITY;
use super::sync::{
    DEFAULT_MAX_CONTENT_REQUESTS, DEFAULT_MAX_RECONCILE_ROUNDS, DEFAULT_MAX_SYNC_REQUEST_IDS,
    DEFAULT_RECONCILE_TIMEOUT,
};
use crate::crypto::Cipher;
use crate::ids::DELIVERY_CODE_LEN;
use crate::pow::{DEFAULT_BULLETIN_DIFFICULTY, DEFAULT_MESSAGE_DIFFICULTY};
use crate::verify::DEFAULT_SKEW;

/// Default cap on the content ids in one respond_sync_headers this node
/// sends (32 KiB): a page of a sync answer.
pub const DEFAULT_MAX_SYNC_IDS: usize = 1024;

/// Default cap on received messages waiting in the inbound queue.
pub const DEFAULT_MAX_INBOUND: usize = 65_536;

/// Default cap on the delivery codes recorded for peers that are not
/// neighbours (neighbours' codes are always recorded).
pub const DEFAULT_MAX_PEER_INBOXES: usize = 4096;

/// A node's settings.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Bulletin proof of work required of received bulletins and used to
    /// mine this node's notices (default 7).
    pub bulletin_difficulty: u32,
    /// Message difficulty for peers that are not neighbours (default 1).
    pub message_difficulty: u32,
    /// Allowed clock skew into the future, seconds (default 60).
    pub skew: u64,
    /// Most bulletin keys (topic id, content id) the seen set holds.
    pub seen_capacity: usize,
    /// Most content ids sent in one respond_sync_headers: a sync answer is
    /// as many pages of this many ids as it takes (default 1,024, 32 KiB).
    pub max_sync_ids: usize,
    /// Most content ids sent in answer to one request_sync_headers (the
    /// newest), and taken from all the answers to one request of this
    /// node's (the first; the rest count as `over_cap`). Default 131,072
    /// ids, 4 MiB.
    pub max_sync_request_ids: usize,
    /// Most request_content messages outstanding to one peer during a
    /// sync; the other ids wait (counted as `sync_deferred`) and are asked
    /// for as answers come (default 256).
    pub max_content_requests: usize,
    /// Whether this node speaks set reconciliation (negentropy v1, the
    /// `reconcile` extension): advertises it in its sync requests and
    /// accepts it from peers that advertise it (default true). Without
    /// it, every sync is a full list.
    pub reconcile: bool,
    /// Seconds this node waits for a peer's next reconcile message before
    /// it falls back to a full list (default 10).
    pub reconcile_timeout: u64,
    /// Most negentropy rounds of one reconciliation, on either side
    /// (default 64); past it the requester falls back to a full list.
    pub max_reconcile_rounds: u32,
    /// Whether reconciliation pushes the bulletins a peer lacks to it, as
    /// respond_content (default false: each side fetches what it lacks,
    /// as relays that sync both ways do; `gossip sync --dir up` pushes).
    pub sync_push: bool,
    /// Whether this node speaks the dissemination extension (PlumTree,
    /// `plumtree-v1`): advertises it in its sync requests, pushes new
    /// bulletins eagerly along a tree to the peers that speak it and
    /// announces them lazily, in batches, to the rest of them (default
    /// false: every neighbour gets every bulletin, as the original does).
    /// Peers that have not advertised it are flooded either way.
    pub dissemination: bool,
    /// Seconds between two announcements to one lazy peer: ids learned in
    /// between go out together, in one message (default 2).
    pub announce_every: u64,
    /// Seconds this node waits for an announced bulletin before it grafts
    /// the announcer, and then for the graft's answer before it asks the
    /// next announcer (default 3).
    pub graft_timeout: u64,
    /// Links to peers that speak the dissemination extension kept eager
    /// whatever the duplicates, per 65,536 (default 0): picked by a hash
    /// of the two addresses, so both ends agree. Random eager links beside
    /// the tree shorten delivery paths a little for many more copies
    /// (`docs/performance.md`).
    pub eager_shortcuts: u16,
    /// Most received messages waiting in the inbound queue; more are
    /// dropped and counted as `over_cap`.
    pub max_inbound: usize,
    /// Most delivery codes recorded for peers that are not neighbours; a
    /// stranger's notice past it is counted as `over_cap`, not recorded.
    pub max_peer_inboxes: usize,
    /// Most accepted message signatures kept to catch exact replays
    /// within the message TTL.
    pub replay_capacity: usize,
    /// Bytes of answers (sync headers, content) one peer that is not a
    /// configured neighbour (a stranger, or a learned neighbour) gets per
    /// `answer_window`; the excess counts as `over_cap`.
    pub stranger_answer_bytes: u64,
    /// Bytes of answers all such peers together get per `answer_window`,
    /// so many keys buy no more than this.
    pub answer_total_bytes: u64,
    /// The window of `stranger_answer_bytes`, seconds.
    pub answer_window: u64,
    /// Most strangers whose answer bytes are tracked in one window.
    pub max_answered_strangers: usize,
    /// The sealed-box cipher for outgoing messages.
    pub cipher: Cipher,
    /// The delivery code to start with; random when None.
    pub delivery_code: Option<[u8; DELIVERY_CODE_LEN]>,
    /// Seconds between purges of expired content by
    /// [`super::Node::handle_timeout`] (default 30).
    pub purge_every: u64,
    /// Rotate the delivery code this many seconds after it was set, from
    /// [`super::Node::handle_timeout`] (default: never).
    pub rotate_every: Option<u64>,
    /// Seeds the engine's own random draws (delivery codes), for tests
    /// that need them repeatable; None draws from the OS. Sealing keys
    /// and mining starts are never seeded.
    pub rng_seed: Option<u64>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            bulletin_difficulty: DEFAULT_BULLETIN_DIFFICULTY,
            message_difficulty: DEFAULT_MESSAGE_DIFFICULTY,
            skew: DEFAULT_SKEW,
            seen_capacity: DEFAULT_SEEN_CAPACITY,
            max_sync_ids: DEFAULT_MAX_SYNC_IDS,
            max_sync_request_ids: DEFAULT_MAX_SYNC_REQUEST_IDS,
            max_content_requests: DEFAULT_MAX_CONTENT_REQUESTS,
            reconcile: true,
            reconcile_timeout: DEFAULT_RECONCILE_TIMEOUT,
            max_reconcile_rounds: DEFAULT_MAX_RECONCILE_ROUNDS,
            sync_push: false,
            dissemination: false,
            announce_every: DEFAULT_ANNOUNCE_EVERY,
            graft_timeout: DEFAULT_GRAFT_TIMEOUT,
            eager_shortcuts: 0,
            max_inbound: DEFAULT_MAX_INBOUND,
            max_peer_inboxes: DEFAULT_MAX_PEER_INBOXES,
            replay_capacity: DEFAULT_REPLAY_CAPACITY,
            stranger_answer_bytes: DEFAULT_STRANGER_ANSWER_BYTES,
            answer_total_bytes: DEFAULT_ANSWER_TOTAL_BYTES,
            answer_window: DEFAULT_ANSWER_WINDOW,
            max_answered_strangers: DEFAULT_MAX_ANSWERED_STRANGERS,
            cipher: Cipher::default(),
            delivery_code: None,
            purge_every: super::timers::DEFAULT_PURGE_EVERY,
            rotate_every: None,
            rng_seed: None,
        }
    }
}
