//! The engine's timers, as one component: a driver asks when the node next
//! needs time ([`Node::poll_timeout`]) and gives it time then
//! ([`Node::handle_timeout`]), and hard-codes no protocol timer of its own
//! (quinn-proto's `poll_timeout` / `handle_timeout` shape).
//!
//! What comes due:
//! - **purge**, every `purge_every` seconds (30 by default): expired seen
//!   keys are forgotten and expired bulletins leave the store (the
//!   original's `delete_old_content`); the first purge is due at once;
//! - **scheduled rotation** of the delivery code, `rotate_every` seconds
//!   after the current code was set (or after the node's first
//!   `handle_timeout`, for a node without a stored code): an
//!   [`Event::DeliveryCodeRotated`] says it happened;
//! - **sync**: reconciliations past their timeout fall back to full lists,
//!   content requests past their window are given up;
//! - **dissemination**: queued announcements go out every
//!   `announce_every` seconds, announced ids not come within
//!   `graft_timeout` are grafted (see `dissemination.rs`).

use std::time::Duration;

use super::sync::{Held, SyncAlgorithm};
use super::{Event, Hooks, Node};
use crate::store::StoreError;
use crate::time::Timestamp;

/// Default seconds between purges of expired content.
pub const DEFAULT_PURGE_EVERY: Duration = Duration::from_secs(30);

/// When the engine's own timers come due.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Timers {
    /// The next purge; `None` before the first (due at once).
    next_purge: Option<u64>,
    /// The node's first `handle_timeout`: the start of a rotation schedule
    /// when no code was ever set.
    started: Option<u64>,
}

impl<H: Hooks> Node<H> {
    /// When this node next needs [`Node::handle_timeout`], in the clock of
    /// the `now`s it is given: the earliest of the next purge, the next
    /// scheduled delivery-code rotation, the deadline of a
    /// reconciliation waiting on a peer, and the next announcement or
    /// graft. A node that was never given time
    /// is due at once (the epoch).
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let purge = self.timers.next_purge.unwrap_or(0);
        let rotation = self.rotation_due();
        [
            Some(purge),
            rotation,
            self.sync.next_timeout(),
            self.dissemination.next_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(Timestamp::from_secs)
    }

    /// Time passing: does whatever is due at `at` (see [`Node::poll_timeout`]
    /// and the module docs). Calling it early does only what is due; a
    /// driver may call it on every wake-up.
    pub fn handle_timeout(&mut self, at: Timestamp) -> Result<(), StoreError> {
        let now = at.as_secs();
        self.timers.started.get_or_insert(now);
        let held = Held {
            store: self.store.as_ref(),
            seen: &self.seen,
        };
        let out = self.sync.tick(&held, now)?;
        self.route_sync(None, out, now);
        let neighbours: Vec<_> = self.connections.keys().copied().collect();
        let mut out = Vec::new();
        self.dissemination.tick(&neighbours, now, &mut out);
        self.route_dissemination(None, out, now)?;
        if self.timers.next_purge.is_none_or(|t| now >= t) {
            self.timers.next_purge = Some(now + self.config.purge_every.as_secs().max(1));
            self.seen.purge(now);
            self.store.remove_expired(at)?;
        }
        if self.rotation_due().is_some_and(|t| now >= t) {
            self.rotate_delivery_code(at)?;
            self.events.push_back(Event::DeliveryCodeRotated { at });
        }
        Ok(())
    }

    /// When the scheduled rotation comes due, if one is configured.
    fn rotation_due(&self) -> Option<u64> {
        let every = self.config.rotate_every?;
        let since = self
            .delivery_code_since
            .map(Timestamp::as_secs)
            .or(self.timers.started)
            .unwrap_or(0);
        Some(since.saturating_add(every.as_secs().max(1)))
    }
}
