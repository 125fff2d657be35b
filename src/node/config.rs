//! A node's settings, their defaults, and the checks a config passes
//! before a node runs on it.
//!
//! A [`NodeConfig`] is made by [`NodeConfig::builder`] (or
//! [`NodeConfig::default`]), and [`NodeConfigBuilder::build`] refuses
//! values a node cannot work with, each with its reason
//! ([`ConfigError`]), as libp2p-gossipsub's `ConfigBuilder::build` does.
//! Its fields are read through methods of the same names, so a config once
//! built stays valid.

use std::time::Duration;

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
use crate::pow::{
    DEFAULT_BULLETIN_DIFFICULTY, DEFAULT_MESSAGE_DIFFICULTY, MAX_MINEABLE_DIFFICULTY,
};
use crate::verify::DEFAULT_SKEW;

/// Default cap on the content ids in one respond_sync_headers this node
/// sends (32 KiB): a page of a sync answer.
pub const DEFAULT_MAX_SYNC_IDS: usize = 1024;

/// Default cap on received messages waiting in the inbound queue.
pub const DEFAULT_MAX_INBOUND: usize = 65_536;

/// Default cap on the delivery codes recorded for peers that are not
/// neighbours (neighbours' codes are always recorded).
pub const DEFAULT_MAX_PEER_INBOXES: usize = 4096;

/// Declares the settings once: the fields of [`NodeConfig`], their
/// defaults, a method reading each and a [`NodeConfigBuilder`] method
/// setting each, all with the field's documentation.
macro_rules! settings {
    ($($(#[$doc:meta])* $name:ident: $ty:ty = $default:expr;)*) => {
        /// A node's settings: made by [`NodeConfig::builder`] and checked by
        /// [`NodeConfigBuilder::build`], read by the methods named after
        /// each setting.
        #[derive(Clone, Debug)]
        #[non_exhaustive]
        pub struct NodeConfig {
            $($(#[$doc])* pub(crate) $name: $ty,)*
        }

        impl Default for NodeConfig {
            /// The defaults: every setting as documented, a valid config.
            fn default() -> Self {
                Self { $($name: $default,)* }
            }
        }

        impl NodeConfig {
            $($(#[$doc])* pub fn $name(&self) -> $ty {
                self.$name
            })*
        }

        impl NodeConfigBuilder {
            $($(#[$doc])* pub fn $name(mut self, $name: $ty) -> Self {
                self.config.$name = $name;
                self
            })*
        }
    };
}

settings! {
    /// Bulletin proof of work required of received bulletins and used to
    /// mine this node's notices (default 7).
    bulletin_difficulty: u32 = DEFAULT_BULLETIN_DIFFICULTY;
    /// Message difficulty for peers that are not neighbours (default 1).
    message_difficulty: u32 = DEFAULT_MESSAGE_DIFFICULTY;
    /// Allowed clock skew into the future (default 60 s).
    skew: Duration = DEFAULT_SKEW;
    /// Most bulletin keys (topic id, content id) the seen set holds.
    seen_capacity: usize = DEFAULT_SEEN_CAPACITY;
    /// Most content ids sent in one respond_sync_headers: a sync answer is
    /// as many pages of this many ids as it takes (default 1,024, 32 KiB).
    max_sync_ids: usize = DEFAULT_MAX_SYNC_IDS;
    /// Most content ids sent in answer to one request_sync_headers (the
    /// newest), and taken from all the answers to one request of this
    /// node's (the first; the rest count as `over_cap`). Default 131,072
    /// ids, 4 MiB.
    max_sync_request_ids: usize = DEFAULT_MAX_SYNC_REQUEST_IDS;
    /// Most request_content messages outstanding to one peer during a
    /// sync; the other ids wait (counted as `sync_deferred`) and are asked
    /// for as answers come (default 256).
    max_content_requests: usize = DEFAULT_MAX_CONTENT_REQUESTS;
    /// Whether this node speaks set reconciliation (negentropy v1, the
    /// `reconcile` extension): advertises it in its sync requests and
    /// accepts it from peers that advertise it (default true). Without
    /// it, every sync is a full list.
    reconcile: bool = true;
    /// How long this node waits for a peer's next reconcile message before
    /// it falls back to a full list (default 10).
    reconcile_timeout: Duration = DEFAULT_RECONCILE_TIMEOUT;
    /// Most negentropy rounds of one reconciliation, on either side
    /// (default 64); past it the requester falls back to a full list.
    max_reconcile_rounds: u32 = DEFAULT_MAX_RECONCILE_ROUNDS;
    /// Whether reconciliation pushes the bulletins a peer lacks to it, as
    /// respond_content (default false: each side fetches what it lacks,
    /// as relays that sync both ways do; `gossip sync --dir up` pushes).
    sync_push: bool = false;
    /// Whether this node speaks the dissemination extension (PlumTree,
    /// `plumtree-v1`): advertises it in its sync requests, pushes new
    /// bulletins eagerly along a tree to the peers that speak it and
    /// announces them lazily, in batches, to the rest of them (default
    /// false: every neighbour gets every bulletin, as the original does).
    /// Peers that have not advertised it are flooded either way.
    dissemination: bool = false;
    /// The time between two announcements to one lazy peer: ids learned in
    /// between go out together, in one message (default 2).
    announce_every: Duration = DEFAULT_ANNOUNCE_EVERY;
    /// How long this node waits for an announced bulletin before it grafts
    /// the announcer, and then for the graft's answer before it asks the
    /// next announcer (default 3).
    graft_timeout: Duration = DEFAULT_GRAFT_TIMEOUT;
    /// Links to peers that speak the dissemination extension kept eager
    /// whatever the duplicates, per 65,536 (default 0): picked by a hash
    /// of the two addresses, so both ends agree. Random eager links beside
    /// the tree shorten delivery paths a little for many more copies
    /// (`docs/performance.md`).
    eager_shortcuts: u16 = 0;
    /// Most received messages waiting in the inbound queue; more are
    /// dropped and counted as `over_cap`.
    max_inbound: usize = DEFAULT_MAX_INBOUND;
    /// Most delivery codes recorded for peers that are not neighbours; a
    /// stranger's notice past it is counted as `over_cap`, not recorded.
    max_peer_inboxes: usize = DEFAULT_MAX_PEER_INBOXES;
    /// Most accepted message signatures kept to catch exact replays
    /// within the message TTL.
    replay_capacity: usize = DEFAULT_REPLAY_CAPACITY;
    /// Bytes of answers (sync headers, content) one peer that is not a
    /// configured neighbour (a stranger, or a learned neighbour) gets per
    /// `answer_window`; the excess counts as `over_cap`.
    stranger_answer_bytes: u64 = DEFAULT_STRANGER_ANSWER_BYTES;
    /// Bytes of answers all such peers together get per `answer_window`,
    /// so many keys buy no more than this.
    answer_total_bytes: u64 = DEFAULT_ANSWER_TOTAL_BYTES;
    /// The window of `stranger_answer_bytes` (default 60 s).
    answer_window: Duration = DEFAULT_ANSWER_WINDOW;
    /// Most strangers whose answer bytes are tracked in one window.
    max_answered_strangers: usize = DEFAULT_MAX_ANSWERED_STRANGERS;
    /// The sealed-box cipher for outgoing messages.
    cipher: Cipher = Cipher::default();
    /// The delivery code to start with; random when None.
    delivery_code: Option<[u8; DELIVERY_CODE_LEN]> = None;
    /// The time between purges of expired content by
    /// [`super::Node::handle_timeout`] (default 30).
    purge_every: Duration = super::timers::DEFAULT_PURGE_EVERY;
    /// Rotate the delivery code this long after it was set, from
    /// [`super::Node::handle_timeout`] (default: never).
    rotate_every: Option<Duration> = None;
    /// Seeds the engine's own random draws (delivery codes), for tests
    /// that need them repeatable; None draws from the OS. Sealing keys
    /// and mining starts are never seeded.
    rng_seed: Option<u64> = None;
}

/// Builds a [`NodeConfig`]: starts from the defaults, takes each setting
/// by a method named after it, and checks them all in
/// [`NodeConfigBuilder::build`].
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until build is called"]
pub struct NodeConfigBuilder {
    config: NodeConfig,
}

impl NodeConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> NodeConfigBuilder {
        NodeConfigBuilder::default()
    }

    /// A builder starting from this config, to make a variant of it.
    pub fn to_builder(&self) -> NodeConfigBuilder {
        NodeConfigBuilder {
            config: self.clone(),
        }
    }
}

impl NodeConfigBuilder {
    /// The config, if every setting makes sense; else the first one that
    /// does not, and why.
    pub fn build(self) -> Result<NodeConfig, ConfigError> {
        let c = self.config;
        for (field, difficulty) in [
            ("bulletin_difficulty", c.bulletin_difficulty),
            ("message_difficulty", c.message_difficulty),
        ] {
            if difficulty > MAX_MINEABLE_DIFFICULTY {
                return Err(ConfigError::Unmineable { field, difficulty });
            }
        }
        let at_least_one = [
            ("seen_capacity", c.seen_capacity == 0),
            ("max_sync_ids", c.max_sync_ids == 0),
            ("max_sync_request_ids", c.max_sync_request_ids == 0),
            ("max_content_requests", c.max_content_requests == 0),
            ("max_reconcile_rounds", c.max_reconcile_rounds == 0),
            ("max_inbound", c.max_inbound == 0),
            ("replay_capacity", c.replay_capacity == 0),
        ];
        if let Some((field, _)) = at_least_one.into_iter().find(|(_, zero)| *zero) {
            return Err(ConfigError::Zero(field));
        }
        let second = Duration::from_secs(1);
        let spans = [
            ("reconcile_timeout", c.reconcile_timeout),
            ("announce_every", c.announce_every),
            ("graft_timeout", c.graft_timeout),
            ("answer_window", c.answer_window),
            ("purge_every", c.purge_every),
            ("rotate_every", c.rotate_every.unwrap_or(second)),
        ];
        if let Some((field, _)) = spans.into_iter().find(|(_, span)| *span < second) {
            return Err(ConfigError::UnderASecond(field));
        }
        if c.stranger_answer_bytes > c.answer_total_bytes {
            return Err(ConfigError::StrangerOverTotal {
                stranger: c.stranger_answer_bytes,
                total: c.answer_total_bytes,
            });
        }
        Ok(c)
    }
}

/// Why [`NodeConfigBuilder::build`] refused a config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A count or a capacity that must be at least 1 is 0 (a bound that
    /// holds nothing): the setting named.
    Zero(&'static str),
    /// A window, a timeout or an interval is under a second: the engine
    /// counts time in whole seconds, as the protocol does.
    UnderASecond(&'static str),
    /// A difficulty past [`MAX_MINEABLE_DIFFICULTY`]: this node's own
    /// messages or notices could not be counted on to be mined.
    Unmineable {
        /// The setting: `bulletin_difficulty` or `message_difficulty`.
        field: &'static str,
        /// The difficulty asked for, in leading zero bits.
        difficulty: u32,
    },
    /// `stranger_answer_bytes` is more than `answer_total_bytes`: one
    /// stranger would be promised more than all of them together get.
    StrangerOverTotal {
        /// `stranger_answer_bytes`.
        stranger: u64,
        /// `answer_total_bytes`.
        total: u64,
    },
}

impl ConfigError {
    /// The setting refused (its [`NodeConfigBuilder`] method's name).
    pub fn field(&self) -> &'static str {
        match self {
            Self::Zero(field) | Self::UnderASecond(field) | Self::Unmineable { field, .. } => field,
            Self::StrangerOverTotal { .. } => "stranger_answer_bytes",
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Zero(field) => write!(f, "{field} must be at least 1"),
            Self::UnderASecond(field) => write!(f, "{field} must be at least 1 second"),
            Self::Unmineable { field, difficulty } => write!(
                f,
                "{field} {difficulty} is past {MAX_MINEABLE_DIFFICULTY} bits, more than a search of the 2^31 nonces can be counted on to reach"
            ),
            Self::StrangerOverTotal { stranger, total } => write!(
                f,
                "stranger_answer_bytes {stranger} is more than answer_total_bytes {total}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        let built = NodeConfig::builder().build().unwrap();
        let default = NodeConfig::default();
        assert_eq!(format!("{built:?}"), format!("{default:?}"));
        assert!(default.to_builder().build().is_ok());
    }

    /// Each value that makes no sense is refused, naming its setting and
    /// why.
    #[test]
    fn each_nonsensical_value_is_refused_with_its_reason() {
        type Set = fn(NodeConfigBuilder) -> NodeConfigBuilder;
        let zeros: [(&str, Set); 7] = [
            ("seen_capacity", |b| b.seen_capacity(0)),
            ("max_sync_ids", |b| b.max_sync_ids(0)),
            ("max_sync_request_ids", |b| b.max_sync_request_ids(0)),
            ("max_content_requests", |b| b.max_content_requests(0)),
            ("max_reconcile_rounds", |b| b.max_reconcile_rounds(0)),
            ("max_inbound", |b| b.max_inbound(0)),
            ("replay_capacity", |b| b.replay_capacity(0)),
        ];
        for (field, set) in zeros {
            let e = set(NodeConfig::builder()).build().unwrap_err();
            assert_eq!(e, ConfigError::Zero(field));
            assert_eq!(e.field(), field);
            assert_eq!(e.to_string(), format!("{field} must be at least 1"));
        }
        let short = Duration::from_millis(999);
        let spans: [(&str, Set); 6] = [
            ("reconcile_timeout", |b| b.reconcile_timeout(Duration::ZERO)),
            ("announce_every", |b| b.announce_every(Duration::ZERO)),
            ("graft_timeout", |b| {
                b.graft_timeout(Duration::from_millis(999))
            }),
            ("answer_window", |b| b.answer_window(Duration::ZERO)),
            ("purge_every", |b| b.purge_every(Duration::from_millis(999))),
            ("rotate_every", |b| b.rotate_every(Some(Duration::ZERO))),
        ];
        for (field, set) in spans {
            let e = set(NodeConfig::builder()).build().unwrap_err();
            assert_eq!(e, ConfigError::UnderASecond(field));
            assert_eq!(e.field(), field);
            assert_eq!(e.to_string(), format!("{field} must be at least 1 second"));
        }
        assert!(
            NodeConfig::builder()
                .rotate_every(Some(short))
                .build()
                .is_err()
        );
        let past = MAX_MINEABLE_DIFFICULTY + 1;
        let e = NodeConfig::builder()
            .bulletin_difficulty(past)
            .build()
            .unwrap_err();
        assert_eq!(
            e,
            ConfigError::Unmineable {
                field: "bulletin_difficulty",
                difficulty: past
            }
        );
        assert!(
            e.to_string()
                .starts_with("bulletin_difficulty 33 is past 32 bits")
        );
        let e = NodeConfig::builder()
            .message_difficulty(u32::MAX)
            .build()
            .unwrap_err();
        assert_eq!(e.field(), "message_difficulty");
        let e = NodeConfig::builder()
            .stranger_answer_bytes(2)
            .answer_total_bytes(1)
            .build()
            .unwrap_err();
        assert_eq!(
            e,
            ConfigError::StrangerOverTotal {
                stranger: 2,
                total: 1
            }
        );
        assert_eq!(
            e.to_string(),
            "stranger_answer_bytes 2 is more than answer_total_bytes 1"
        );
    }

    /// The edges that do make sense are kept: the hardest mineable
    /// difficulty, no proof of work at all, strangers given nothing, the
    /// least of every bound.
    #[test]
    fn the_edges_that_make_sense_are_kept() {
        let c = NodeConfig::builder()
            .bulletin_difficulty(MAX_MINEABLE_DIFFICULTY)
            .message_difficulty(0)
            .stranger_answer_bytes(0)
            .answer_total_bytes(0)
            .max_answered_strangers(0)
            .max_peer_inboxes(0)
            .seen_capacity(1)
            .max_inbound(1)
            .rotate_every(Some(Duration::from_secs(1)))
            .skew(Duration::ZERO)
            .build()
            .unwrap();
        assert_eq!(c.bulletin_difficulty(), MAX_MINEABLE_DIFFICULTY);
        assert_eq!(c.message_difficulty(), 0);
        assert_eq!(c.rotate_every(), Some(Duration::from_secs(1)));
        let again = c.to_builder().max_inbound(2).build().unwrap();
        assert_eq!((again.max_inbound(), again.seen_capacity()), (2, 1));
    }
}
