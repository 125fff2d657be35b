//! Send credit and owed bulletins: before each run of the node every
//! neighbour with a connection gets the room in its send queue, shared out
//! of the room left under the bound on all queues; the node seals, signs
//! and mines only the forwards that fit, and the others are owed to the
//! peer (a key each, bounded) and forwarded again from the store once its
//! link has room.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::{Repaired, Session};
use crate::ids::BulletinKey;
use crate::keys::Address;
use crate::node::{Hooks, Node, NodeError};
use crate::time::Timestamp;

/// Bulletins owed to one peer whose link was full (64 bytes a key).
pub const OWED_PER_PEER: usize = 16_384;
/// Bulletins owed to all peers together (4 MiB of keys at most).
pub const OWED_TOTAL: usize = 65_536;

/// Owed bulletins looked at, at once, for a link with credit.
const REPAIR_BATCH: usize = 64;

/// What is owed, and the credit last granted.
#[derive(Debug, Default)]
pub(super) struct Credit {
    /// Bulletins a full link missed, by peer, and how many in all.
    owed: BTreeMap<Address, VecDeque<BulletinKey>>,
    owed_total: usize,
    /// Each neighbour's send credit at the last grant, and the credit a
    /// peer had when its next owed bulletin did not fit.
    granted: HashMap<Address, usize>,
    blocked: HashMap<Address, usize>,
    /// Whose turn it is to be given credit first.
    turn: usize,
}

impl Credit {
    /// Records that `peer` missed the bulletin `key`; false when past the
    /// bounds on what is owed.
    pub fn owe(&mut self, peer: Address, key: BulletinKey) -> bool {
        let keys = self.owed.entry(peer).or_default();
        if self.owed_total >= OWED_TOTAL || keys.len() >= OWED_PER_PEER {
            if keys.is_empty() {
                self.owed.remove(&peer);
            }
            return false;
        }
        keys.push_back(key);
        self.owed_total += 1;
        true
    }

    pub fn owes(&self) -> bool {
        !self.owed.is_empty()
    }

    pub fn owed_total(&self) -> usize {
        self.owed_total
    }

    /// Forgets everything owed; returns how many bulletins that was.
    pub fn abandon(&mut self) -> u64 {
        self.owed.clear();
        self.blocked.clear();
        std::mem::take(&mut self.owed_total) as u64
    }
}

impl Session {
    /// Before each run of the node: each neighbour's send credit is the
    /// room in its connection's queue (a largest frame's worth when the
    /// queue is empty), shared out of the room left under
    /// [`send_total`](super::SessionConfig::send_total) (peers take turns
    /// at being first), and none for an expected peer that is not
    /// connected. The node then seals, signs and mines no more forwards
    /// than the links can take; the rest come out as
    /// [`Event::Deferred`](crate::Event::Deferred), to give to
    /// [`Session::note`].
    pub fn grant<H: Hooks>(&mut self, node: &mut Node<H>) {
        let mut left = self.config.send_total.saturating_sub(self.queued_total);
        let mut peers: Vec<Address> = self.routes.keys().chain(&self.expected).copied().collect();
        peers.sort_unstable();
        peers.dedup();
        if !peers.is_empty() {
            self.credit.turn = self.credit.turn.wrapping_add(1);
            let first = self.credit.turn % peers.len();
            peers.rotate_left(first);
        }
        for peer in peers {
            let conn = self.routes.get(&peer).and_then(|id| self.conns.get(id));
            let limit = self.config.send_queue;
            let room = conn.map_or(0, |c| match c.queued {
                0 => limit.max(self.config.max_frame),
                queued => limit.saturating_sub(queued),
            });
            let credit = room.min(left);
            left -= credit;
            node.set_send_credit(peer, Some(credit as u64));
            self.credit.granted.insert(peer, credit);
        }
    }

    /// Forwards again, within each peer's send credit, the bulletins it is
    /// owed, oldest first; what is owed to a peer no longer connected is
    /// dropped. A peer whose next owed bulletin did not fit is tried again
    /// only once it has more credit than then. Call it after
    /// [`Session::grant`]; when it queued anything, run the node and send.
    pub fn repair<H: Hooks>(
        &mut self,
        node: &mut Node<H>,
        unix_now: Timestamp,
    ) -> Result<Repaired, NodeError> {
        let mut done = Repaired::default();
        let c = &mut self.credit;
        let peers: Vec<Address> = c.owed.keys().copied().collect();
        for peer in peers {
            if !self.routes.contains_key(&peer) {
                let gone = c.owed.remove(&peer).map_or(0, |k| k.len());
                c.owed_total -= gone;
                c.blocked.remove(&peer);
                done.lost += gone as u64;
                continue;
            }
            let credit = c.granted.get(&peer).copied().unwrap_or(0);
            if credit == 0 || c.blocked.get(&peer).is_some_and(|&b| credit <= b) {
                continue;
            }
            let Some(keys) = c.owed.get_mut(&peer) else {
                continue;
            };
            let batch: Vec<BulletinKey> = keys.iter().take(REPAIR_BATCH).copied().collect();
            let (used, sent) = node.forward_stored(peer, &batch, unix_now)?;
            keys.drain(..used);
            if keys.is_empty() {
                c.owed.remove(&peer);
            }
            c.owed_total -= used;
            if used < batch.len() {
                c.blocked.insert(peer, credit);
            } else {
                c.blocked.remove(&peer);
            }
            // Expired, or evicted from a memory store, meanwhile: unsent.
            done.lost += (used - sent) as u64;
            done.queued |= sent > 0;
        }
        Ok(done)
    }

    /// Whether any peer is owed bulletins its full link missed (look again
    /// soon: [`Session::grant`], then [`Session::repair`]).
    pub fn owes(&self) -> bool {
        self.credit.owes()
    }

    /// Bulletins owed now, to all peers.
    pub fn owed(&self) -> usize {
        self.credit.owed_total()
    }

    /// Forgets what full links are owed (the driver is ending); returns
    /// how many bulletins will never be sent.
    pub fn abandon_owed(&mut self) -> u64 {
        self.credit.abandon()
    }
}
