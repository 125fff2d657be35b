//! Forwarding: a bulletin new to this node is stored, delivered when its
//! topic is followed, and forwarded to the neighbours the dissemination
//! component pushes it to (every neighbour but the one it came from, unless
//! the dissemination extension prunes some links to announcements), within
//! each neighbour's send credit (the rest are deferred, and forwarded again
//! from the store when the link has room).

use super::engine::Node;
use super::queues::NewBulletin;
use super::{DropReason, Event, Hooks, NodeError};
use crate::bulletin::Bulletin;
use crate::ids::BulletinKey;
use crate::keys::Address;
use crate::operation::{Op, Payload};
use crate::store::seen_until;
use crate::time::Timestamp;

impl<H: Hooks> Node<H> {
    /// store_and_forward and deliver_without_forward: a bulletin not seen
    /// before goes to the new-bulletin queue (then the store, delivered if
    /// its topic is followed, forwarded to every neighbour but `from` when
    /// `forward`); one seen before counts as a duplicate.
    pub(super) fn accept(
        &mut self,
        bulletin: Bulletin,
        from: Option<Address>,
        forward: bool,
        now: u64,
    ) -> Result<(), NodeError> {
        if self.seen.contains(&bulletin.key(), now) {
            self.dropped(from, DropReason::Duplicate);
            return Ok(());
        }
        self.seen
            .insert(bulletin.key(), seen_until(&bulletin).as_secs());
        if forward && let Some(peer) = from {
            // It came first over this link: the tree's parent link now.
            let mut out = Vec::new();
            self.dissemination
                .brought(peer, bulletin.key(), now, &mut out);
            self.route_dissemination(None, out, now)?;
        }
        self.queues.new_bulletins.push_back(NewBulletin {
            bulletin,
            from,
            forward,
        });
        Ok(())
    }

    /// The bulletin step: the hooks first, then write (bulletin, seen mark
    /// and delivery mark in one store call), then deliver, then forward.
    pub(super) fn handle_new_bulletin(
        &mut self,
        nb: NewBulletin,
        now: u64,
    ) -> Result<(), NodeError> {
        let NewBulletin {
            bulletin,
            from,
            forward,
        } = nb;
        let verdict = self.hooks.accept_bulletin(&bulletin, from.as_ref(), now);
        if !self.accepted(verdict, from)? {
            return Ok(());
        }
        let follow = self.follows(&bulletin.topic);
        let stored = self.store.handle(&bulletin, follow)?;
        if !stored.new {
            self.dropped(from, DropReason::Duplicate);
            return Ok(());
        }
        if forward {
            let neighbours: Vec<Address> = self
                .connections
                .keys()
                .filter(|p| Some(**p) != from)
                .copied()
                .collect();
            let mut out = Vec::new();
            let peers = self
                .dissemination
                .spread(bulletin.key(), from, &neighbours, now, &mut out);
            self.route_dissemination(None, out, now)?;
            let payload = Payload::Bulletin(Op::StoreAndForward, bulletin.clone());
            let size = forward_size(&bulletin);
            for peer in peers {
                if !self.take_credit(&peer, size) {
                    self.events.push_back(Event::Deferred {
                        peer,
                        key: bulletin.key(),
                    });
                    continue;
                }
                self.send(peer, &payload, Timestamp::from_secs(now))?;
                self.counters.forwarded += 1;
            }
        }
        if stored.deliver {
            self.counters.delivered += 1;
            self.events.push_back(Event::Deliver(bulletin));
        }
        Ok(())
    }

    /// Bounds the bytes of forwards `peer`'s link can take now (None: no
    /// bound, the default). Each forward to it takes its message's size
    /// off the credit; one that does not fit is not forwarded but is an
    /// [`Event::Deferred`] instead, and nothing is sealed, signed or mined
    /// for it. A network driver sets it from the room in the peer's send
    /// queue before each run, so memory and work follow what the links
    /// take, not the number of neighbours.
    pub fn set_send_credit(&mut self, peer: Address, credit: Option<u64>) {
        match credit {
            Some(c) => {
                self.send_credit.insert(peer, c);
            }
            None => {
                self.send_credit.remove(&peer);
            }
        }
    }

    /// Takes `len` bytes off `peer`'s send credit; false when they do not
    /// fit (nothing taken).
    pub(super) fn take_credit(&mut self, peer: &Address, len: u64) -> bool {
        match self.send_credit.get_mut(peer) {
            None => true,
            Some(c) if *c >= len => {
                *c -= len;
                true
            }
            Some(_) => false,
        }
    }

    /// Forwards to `peer` the stored, unexpired bulletins with these keys,
    /// in order (store_and_forward, as when they first came), while its
    /// send credit lasts: how a caller repairs what a full link missed
    /// ([`Event::Deferred`], or an [`super::Outbound`] it could not send).
    /// Returns (keys used up from the front, bulletins forwarded): a key
    /// whose bulletin is gone or expired is used up without a forward;
    /// the keys past the first that did not fit are left to the caller.
    pub fn forward_stored(
        &mut self,
        peer: Address,
        keys: &[BulletinKey],
        now: Timestamp,
    ) -> Result<(usize, usize), NodeError> {
        let now = now.as_secs();
        let mut forwarded = 0;
        for (used, key) in keys.iter().enumerate() {
            let Some(b) = self.store.retrieve(key)? else {
                continue;
            };
            if b.is_expired(Timestamp::from_secs(now)) {
                continue;
            }
            if !self.take_credit(&peer, forward_size(&b)) {
                return Ok((used, forwarded));
            }
            self.send(
                peer,
                &Payload::Bulletin(Op::StoreAndForward, b),
                Timestamp::from_secs(now),
            )?;
            self.counters.forwarded += 1;
            forwarded += 1;
        }
        Ok((keys.len(), forwarded))
    }
}

/// The bytes a store_and_forward message carrying `b` takes on the wire:
/// its frame's length prefix, the message header, the sealed box and the
/// operation byte.
pub(super) fn forward_size(b: &Bulletin) -> u64 {
    (4 + crate::message::HEADER_LEN
        + crate::crypto::SEAL_OVERHEAD
        + 1
        + crate::bulletin::HEADER_LEN
        + b.content.len()) as u64
}
