//! The relay's own counts: what its outputs did not take and input it
//! could not decode. The node counts what it did; the relay adds these
//! when it prints, so `delivered` means written and `unsent` covers every
//! message a peer did not get.

use gossip::node::Counters;

/// Counts kept by the relay, beside the node's.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    /// Messages for a peer its output did not take (queue full, output
    /// closed, still queued when the relay ended).
    pub unsent: u64,
    /// Bulletins the node delivered that the delivery output did not
    /// take (they stay pending with `--store`).
    pub undelivered: u64,
    /// Input objects that could not be decoded.
    pub malformed: u64,
    /// Bulletins the node delivered that a delivery file could not take
    /// yet (a full disk): held and retried, not counted as delivered until
    /// written. Printed as `deliveries_pending`.
    pub deferred: u64,
}

impl Tally {
    /// The node's counters with these added.
    pub fn applied(&self, node: &Counters) -> Counters {
        let mut c = node.clone();
        c.unsent += self.unsent;
        c.delivered = c
            .delivered
            .saturating_sub(self.undelivered)
            .saturating_sub(self.deferred);
        c.received += self.malformed;
        c.malformed += self.malformed;
        c
    }
}
