//! The bulletin store: where a node keeps the bulletins it has accepted,
//! the content ids it has seen, which bulletins it has delivered and the
//! delivery codes it knows.
//!
//! One trait per role, so a backend implements what it keeps and nothing
//! else, and a caller names what it uses:
//!
//! - [`Bulletins`]: the bulletins held, lookups, listings, queries and sync
//!   pages (the original's `SupportsHandleRetrieveListQueryBulletin`);
//! - [`SeenLog`]: the keys seen, each until its expiry;
//! - [`DeliveryJournal`]: which bulletins were delivered and which
//!   deliveries are not confirmed yet;
//! - [`CodeBook`]: the own delivery code and the neighbours'.
//!
//! [`BulletinStore`] is what a [`Node`](crate::node::Node) takes: all four
//! roles plus the two operations that span them ([`BulletinStore::handle`],
//! [`BulletinStore::remove_expired`]), which a persistent store does in one
//! transaction each. It is a super-trait rather than generic bounds on the
//! node so the node keeps one `Box<dyn BulletinStore>` and its callers stay
//! free of type parameters. Every method of every role is required or has
//! a real default built on the required ones: a backend that lacks a role
//! does not compile as a `BulletinStore`, it never answers with a silent
//! no-op. Two implementations: [`MemoryStore`] for tests and short-lived
//! nodes, `SqliteStore` (feature `sqlite`) for a relay that must survive
//! restarts without losing or re-delivering.

mod codes;
mod memory;
mod query;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::fmt;

pub use codes::DeliveryCode;
pub use memory::{DEFAULT_MEMORY_STORE_BYTES, MemoryStore};
pub use query::{Match, Query};
#[cfg(feature = "sqlite")]
pub use sqlite::{Pruned, SqliteStore};

use std::time::Duration;

use crate::bulletin::{Bulletin, CONTENT_TTL};
use crate::ids::{BulletinKey, ContentId, TopicId};
use crate::time::Timestamp;

/// What [`BulletinStore::handle`] did with a bulletin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// The bulletin was not held before.
    pub new: bool,
    /// The caller should deliver it now: delivery was asked for and the
    /// bulletin had not been delivered before (the mark is now recorded).
    pub deliver: bool,
}

/// A store failure. Never a panic: bad rows and database errors come back
/// here.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed (open, schema, read or write).
    Database {
        /// The database's own error.
        error: Box<dyn std::error::Error + Send + Sync>,
        /// The database found the file is not a database, or a malformed
        /// one, while using it.
        damaged: bool,
    },
    /// A stored row does not hold a valid value (wrong blob length, a
    /// number out of range).
    Corrupt(String),
    /// The database file failed SQLite's check when opened (truncated,
    /// overwritten): what the check found first.
    Damaged(String),
    /// Another process holds the store open for writing (a relay).
    InUse,
    /// The store file could not be opened or locked.
    Io(std::io::Error),
}

impl StoreError {
    /// Whether the database file itself is damaged (not a database, a
    /// malformed image, a failed check), as opposed to busy or unreadable.
    pub fn is_damaged(&self) -> bool {
        matches!(
            self,
            Self::Damaged(_) | Self::Corrupt(_) | Self::Database { damaged: true, .. }
        )
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Database { error, .. } => write!(f, "bulletin store database error: {error}"),
            Self::Corrupt(why) => write!(f, "bulletin store holds a bad row: {why}"),
            Self::Damaged(why) => write!(f, "the database is damaged: {why}"),
            Self::InUse => write!(f, "the store is in use by another relay"),
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Database { error, .. } => Some(error.as_ref()),
            Self::Io(e) => Some(e),
            Self::Corrupt(_) | Self::Damaged(_) | Self::InUse => None,
        }
    }
}

/// Until when a bulletin's key stays in the seen set: its bulletin's expiry.
/// After that the bulletin fails verification anyway, so forgetting it is
/// safe.
pub fn seen_until(bulletin: &Bulletin) -> Timestamp {
    Timestamp::from_wire(bulletin.ts) + Duration::from_secs(u64::from(CONTENT_TTL))
}

/// The bulletins held: stores them once per key (topic id, content id),
/// answers lookups, listings, queries and sync pages.
pub trait Bulletins {
    /// Stores a bulletin if its key (topic id, content id) is not held
    /// yet; true when new. A re-stamped copy (same key, another ts or
    /// nonce) is not new.
    fn store(&mut self, bulletin: &Bulletin) -> Result<bool, StoreError>;

    /// The bulletin with this key (topic id, content id), if held.
    fn retrieve(&self, key: &BulletinKey) -> Result<Option<Bulletin>, StoreError>;

    /// Whether a bulletin with this key is held.
    fn contains(&self, key: &BulletinKey) -> Result<bool, StoreError> {
        Ok(self.retrieve(key)?.is_some())
    }

    /// The bulletins held with this content id (one per topic), newest
    /// first (by ts, then topic id), at most `max`.
    fn with_content_id(
        &self,
        content_id: &ContentId,
        max: usize,
    ) -> Result<Vec<Bulletin>, StoreError> {
        let q = Query {
            content_id: Some(Match::Exact(content_id.as_bytes().to_vec())),
            ..Query::default()
        };
        let mut held = self.query(&q)?;
        held.sort_by_key(|b| std::cmp::Reverse((b.ts, b.topic)));
        held.truncate(max);
        Ok(held)
    }

    /// Every bulletin held, oldest first (by ts, then content id, then
    /// topic id).
    fn list(&self) -> Result<Vec<Bulletin>, StoreError>;

    /// The content ids held under `topic`, oldest first (by ts, then
    /// content id), expired or not.
    fn list_topic(&self, topic: &TopicId) -> Result<Vec<ContentId>, StoreError> {
        let q = Query {
            topic: Some(Match::Exact(topic.as_bytes().to_vec())),
            ..Query::default()
        };
        Ok(self.query(&q)?.into_iter().map(|b| b.content_id).collect())
    }

    /// The content ids of the newest `max` bulletins under `topic` that are
    /// unexpired at `now`, oldest first: a sync answer, made from ids alone
    /// (stores that can should not load the content).
    fn unexpired_ids(
        &self,
        topic: &TopicId,
        now: Timestamp,
        max: usize,
    ) -> Result<Vec<ContentId>, StoreError> {
        let q = Query {
            topic: Some(Match::Exact(topic.as_bytes().to_vec())),
            ..Query::default()
        };
        let held: Vec<ContentId> = self
            .query(&q)?
            .into_iter()
            .filter(|b| !b.is_expired(now))
            .map(|b| b.content_id)
            .collect();
        let skip = held.len().saturating_sub(max);
        Ok(held[skip..].to_vec())
    }

    /// A page of a topic's ids for set reconciliation: the (ts, content
    /// id) pairs of the bulletins held under `topic` and unexpired at `now`
    /// (now < ts + 3600), in ascending (ts, content id) order, starting
    /// strictly after `after` (at the first when None), at most `max`.
    /// Page through a topic by passing the last pair of one answer as the
    /// next `after`; an answer shorter than `max` is the last. Served from
    /// an ordered index: no store loads a bulletin's content for it.
    fn range_ids(
        &self,
        topic: &TopicId,
        now: Timestamp,
        after: Option<(u32, ContentId)>,
        max: usize,
    ) -> Result<Vec<(u32, ContentId)>, StoreError>;

    /// The bulletins matching every condition of `query`, oldest first
    /// (as [`Bulletins::list`]).
    fn query(&self, query: &Query) -> Result<Vec<Bulletin>, StoreError> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|b| query.matches(b))
            .collect())
    }

    /// How many bulletins are held.
    fn len(&self) -> Result<usize, StoreError> {
        Ok(self.list()?.len())
    }

    /// Whether no bulletin is held.
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

/// The seen log: the keys (topic id, content id) a node has seen, each
/// until its expiry, so a restarted node still drops what it has handled.
pub trait SeenLog {
    /// Records a bulletin's key as seen until `expires` (seconds since the
    /// epoch), or later if a later expiry is held already.
    fn mark_seen(&mut self, key: &BulletinKey, expires: Timestamp) -> Result<(), StoreError>;

    /// The seen set: (key, expiry) with expiry after `now`, by key.
    fn seen(&self, now: Timestamp) -> Result<Vec<(BulletinKey, Timestamp)>, StoreError>;
}

/// The delivery journal: which bulletins were delivered (so none is
/// delivered twice) and which deliveries the caller has not confirmed yet
/// (so none is lost in a crash).
pub trait DeliveryJournal {
    /// Records that the bulletin with `key` was delivered (kept until
    /// `expires`, or later if a later expiry is held already, whether the
    /// bulletin is still held or not); true when it had not been marked
    /// before.
    fn mark_delivered(&mut self, key: &BulletinKey, expires: Timestamp)
    -> Result<bool, StoreError>;

    /// Whether the bulletin with `key` has been delivered.
    fn is_delivered(&self, key: &BulletinKey) -> Result<bool, StoreError>;

    /// Records that the caller has written out these deliveries, so they
    /// are no longer pending. Keys not pending are ignored.
    fn confirm_delivered(&mut self, keys: &[BulletinKey]) -> Result<(), StoreError>;

    /// Bulletins [`BulletinStore::handle`] delivered whose delivery was
    /// never confirmed, oldest first (by ts, then content id, then topic
    /// id): after a crash, what the caller may not have written out. A
    /// bulletin no longer held is no longer pending.
    fn pending_deliveries(&self) -> Result<Vec<Bulletin>, StoreError>;
}

/// The code book: the node's own delivery code (so its inbox survives
/// restarts) and its neighbours' codes learned from their notices.
pub trait CodeBook {
    /// The delivery codes held: own codes first, then peers', each by
    /// address.
    fn delivery_codes(&self) -> Result<Vec<DeliveryCode>, StoreError>;

    /// Keeps a delivery code, replacing the one held for the same address
    /// and kind (own or peer's). Durable when it returns.
    fn put_delivery_code(&mut self, code: &DeliveryCode) -> Result<(), StoreError>;
}

/// A node's whole store: every role, and the two operations that span
/// them, each of which a persistent store does in one transaction. Every
/// method that writes is durable when it returns (for stores that persist
/// at all), so a node writes before it forwards or delivers.
pub trait BulletinStore: Bulletins + SeenLog + DeliveryJournal + CodeBook + Send {
    /// The node's bulletin handler: stores the bulletin, marks it seen and,
    /// when `deliver` is asked, marks it delivered, all before the node
    /// forwards or delivers it. A bulletin it delivers is pending
    /// ([`DeliveryJournal::pending_deliveries`]) until confirmed.
    fn handle(&mut self, bulletin: &Bulletin, deliver: bool) -> Result<Stored, StoreError>;

    /// Removes the bulletins expired at `now` (now ≥ ts + 3600), and the
    /// seen entries and delivery marks whose expiry is ≤ `now`; returns how
    /// many bulletins went.
    fn remove_expired(&mut self, now: Timestamp) -> Result<usize, StoreError>;
}
