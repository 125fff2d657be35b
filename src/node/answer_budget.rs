//! The answer budget: bytes of answers (respond_sync_headers,
//! respond_content) a node sends per time window to each peer that is not
//! a configured neighbour (strangers, and neighbours learned from a
//! connection), and to all of them together. A request costs its sender
//! one message of proof of work; the budget bounds what that buys, however
//! many keys the sender makes.

use std::collections::HashMap;
use std::time::Duration;

use crate::keys::Address;

/// Default bytes of answers one stranger gets per window.
pub const DEFAULT_STRANGER_ANSWER_BYTES: u64 = 1 << 20;

/// Default bytes of answers all budgeted peers together get per window.
pub const DEFAULT_ANSWER_TOTAL_BYTES: u64 = 16 << 20;

/// Default window of the answer budget, seconds.
pub const DEFAULT_ANSWER_WINDOW: Duration = Duration::from_secs(60);

/// Default number of strangers tracked at once; past it, a new stranger
/// gets no answer until a window ends.
pub const DEFAULT_MAX_ANSWERED_STRANGERS: usize = 4096;

/// Per-source byte counts for the current window.
#[derive(Clone, Debug)]
pub(crate) struct AnswerBudget {
    total: u64,
    /// (window, bytes) charged to all sources together.
    all: (u64, u64),
    bytes: u64,
    window: u64,
    max_sources: usize,
    used: HashMap<Address, (u64, u64)>,
}

impl AnswerBudget {
    /// `total` bytes for all sources and `bytes` per source per `window`
    /// seconds, at most `max_sources` sources tracked.
    pub(crate) fn new(total: u64, bytes: u64, window: u64, max_sources: usize) -> Self {
        Self {
            total,
            all: (0, 0),
            bytes,
            window: window.max(1),
            max_sources,
            used: HashMap::new(),
        }
    }

    /// Whether `peer` has any of its bytes left in the window of `now`, and
    /// all sources together some of theirs: work for a peer (building a
    /// sync answer or a reconciliation reply) is done only then.
    pub(crate) fn has_room(&self, peer: &Address, now: u64) -> bool {
        let window = now / self.window;
        let all = if self.all.0 == window { self.all.1 } else { 0 };
        let used = match self.used.get(peer) {
            Some((w, used)) if *w == window => *used,
            _ => 0,
        };
        all < self.total && used < self.bytes
    }

    /// Charges `peer` `len` bytes' worth of work done on its behalf; what
    /// does not fit uses up the rest of its window, so its next request
    /// finds no room ([`AnswerBudget::has_room`]).
    pub(crate) fn charge_work(&mut self, peer: Address, len: u64, now: u64) {
        if self.charge(peer, len, now) {
            return;
        }
        let window = now / self.window;
        if let Some((w, used)) = self.used.get_mut(&peer)
            && *w == window
        {
            self.all.1 = self
                .all
                .1
                .saturating_add(self.bytes - *used)
                .min(self.total);
            *used = self.bytes;
        }
    }

    /// Charges `len` bytes of answer to `peer` at `now`; false (nothing
    /// charged) when that would pass its budget, or all sources' budget,
    /// for this window.
    pub(crate) fn charge(&mut self, peer: Address, len: u64, now: u64) -> bool {
        let window = now / self.window;
        if self.all.0 != window {
            self.all = (window, 0);
        }
        if self.all.1.saturating_add(len) > self.total {
            return false;
        }
        if !self.used.contains_key(&peer) && self.used.len() >= self.max_sources {
            self.used.retain(|_, (w, _)| *w == window);
            if self.used.len() >= self.max_sources {
                return false;
            }
        }
        let (w, used) = self.used.entry(peer).or_insert((window, 0));
        if *w != window {
            (*w, *used) = (window, 0);
        }
        match used.checked_add(len) {
            Some(total) if total <= self.bytes => {
                *used = total;
                self.all.1 += len;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_gets_its_bytes_per_window_and_sources_are_bounded() {
        let mut b = AnswerBudget::new(1000, 100, 60, 2);
        let (p, q, r) = (Address([1; 32]), Address([2; 32]), Address([3; 32]));
        assert!(b.charge(p, 60, 0));
        assert!(!b.charge(p, 41, 59), "past the budget");
        assert!(b.charge(p, 40, 59));
        assert!(b.charge(p, 100, 60), "a new window");
        assert!(b.charge(q, 1, 60));
        assert!(!b.charge(r, 1, 60), "too many sources this window");
        assert!(b.charge(r, 1, 120), "old windows make room");
    }

    #[test]
    fn all_sources_together_get_the_total_per_window() {
        let mut b = AnswerBudget::new(250, 100, 60, 100);
        let peers: Vec<Address> = (0..5u8).map(|i| Address([i; 32])).collect();
        let taken = peers.iter().filter(|p| b.charge(**p, 100, 0)).count();
        assert_eq!(taken, 2, "five keys buy no more than the total");
        assert!(b.charge(peers[4], 50, 0), "what is left of the total");
        assert!(b.charge(peers[4], 100, 60), "a new window");
    }
}
